/*
 * xnn_internal.h - what the two halves of the XNNPACK engine share: the
 * lowering of ONNX nodes to steps (xnn_lower.c) and the model that creates,
 * plans and runs them (xnn_engine.c). Not for the rest of the plugin.
 *
 * A value (xval) is an ONNX tensor the engine knows at load: a constant
 * (an initializer or a folded result, never computed per call) or a runtime
 * value with a shape fixed except for the batch, dimension 0. Runtime
 * values have a physical layout: L_PLAIN (row-major in the ONNX order),
 * L_NHWC (a 4-D NCHW value stored NHWC, as XNNPACK computes it) or L_FLAT
 * (a 2-D [N, C*H*W] value stored per sample in H, W, C order: a Flatten of
 * an NHWC value, which a following Gemm reads by reordering its weights).
 * Several values may share one buffer (their root): a Reshape or a Flatten
 * of a plain value is a new name for the same bytes.
 *
 * A step is one operation per call: an XNNPACK operator or one of the
 * engine's own loops (layout changes, Concat, Tanh).
 */
#ifndef CS_XNN_INTERNAL_H
#define CS_XNN_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/types.h>

#include <pthreadpool.h>
#include <xnnpack.h>

#include "onnx_graph.h"
#include "xnn_engine.h"

#define XMAXD CS_MAX_DIMS

/* The batch size in a folded shape tensor: known only per call. */
#define BATCH_SYM INT64_MIN

enum { L_PLAIN, L_NHWC, L_FLAT };

typedef struct xval {
	bool is_const;
	const cs__onnx_tensor *c; /* a constant's data (graph or build-owned) */
	int32_t ndim;
	int64_t shape[XMAXD];     /* logical (ONNX order); dim 0 at batch 1
				     when batched */
	bool batched;             /* dimension 0 is the call's batch size */
	int layout;
	int64_t fc, fh, fw;       /* L_FLAT: the flattened C, H, W */
	int root;                 /* the value whose buffer this one is */
	int first, last;          /* a root's lifetime in steps; -1: input */
	int uses;                 /* the graph's consumers of the name */
	bool output;              /* a graph output */
	int as_nhwc, as_plain;    /* the value in the other layout, or -1 */
	size_t offset;            /* a root's place in the workspace */
} xval;

enum step_kind {
	S_CONV, S_FC, S_MAXPOOL, S_AVGPOOL, S_GAP, S_BINARY, S_CLAMP,
	S_LEAKY, S_SIGMOID, S_SOFTMAX, S_PAD, S_TANH, S_TO_NHWC, S_TO_PLAIN,
	S_CONCAT, S_UNARY, S_PRELU, S_TRANSPOSE, S_DECONV, S_RESIZE,
	S_RESIZE_NN,
};

/* S_BINARY: the op (B_MAX and B_MIN take no fused clamp) */
enum { B_ADD, B_SUB, B_MUL, B_DIV, B_MAX, B_MIN };

/* S_UNARY: the op */
enum { U_ELU, U_HARDSWISH, U_ABS, U_NEG, U_FLOOR, U_CEIL, U_SQRT };

typedef struct xstep {
	int kind;
	xnn_operator_t op;
	int in[2];                /* value ids; -1 for the constant operand */
	int *ins;                 /* S_CONCAT: n_ins value ids */
	size_t n_ins;
	int out;
	/* S_CONV, pools */
	uint32_t pt, pl, pb, pr, kh, kw, sh, sw, dh, dw, groups;
	uint32_t adjh, adjw;      /* S_DECONV: output_padding */
	uint32_t rflags;          /* S_RESIZE: XNN_FLAG_* */
	size_t *ridx;             /* S_RESIZE_NN: the source row of each
				     output row, then the source column of
				     each output column */
	size_t gic, goc;
	float *w, *b;             /* S_CONV, S_FC, S_DECONV: weights until
				     created */
	size_t k_in, n_out;       /* S_FC */
	/*
	 * S_CONV (groups 1), S_FC with weights larger than a core's cache:
	 * op computes the first `part` output channels, parts[k] the next
	 * ones (n_parts in all, op included), each into its columns of the
	 * one output
	 */
	xnn_operator_t *parts;
	size_t n_parts, part;
	float omin, omax;         /* fused clamp */
	/* S_BINARY */
	int bop;
	float *cdata;             /* the constant operand, owned (S_PRELU:
				     the slopes until created) */
	int32_t cndim;
	size_t cshape[XMAXD];     /* its physical shape */
	float alpha;              /* S_LEAKY, S_UNARY (Elu) */
	int uop;                  /* S_UNARY */
	int perm[XMAXD];          /* S_TRANSPOSE: output dim k is input perm[k] */
	size_t channels;          /* S_SOFTMAX, S_PRELU */
	size_t pre[XMAXD], post[XMAXD]; /* S_PAD, physical */
	float padv;
	int axis;                 /* S_CONCAT, physical */
} xstep;

struct cs__xnn_model {
	xval *vals;
	size_t n_vals;
	xstep *steps;
	size_t n_steps;
	int *inputs;              /* graph inputs' value ids, in graph order */
	size_t n_inputs;
	int *outputs;
	size_t n_outputs;
	bool batchable;
	int64_t planned;          /* batch the operators are set up for; 0 */
	uint8_t *ws;              /* the workspace of the planned batch */
	size_t ws_size;
	size_t threads;           /* threads per call (1: the caller only) */
	pthreadpool_t pool;       /* threads > 1: made by the first call in
				     the process that runs it (pool_pid) */
	pid_t pool_pid;
};

/*
 * Lowers every node of g into m's values and steps (operators not yet
 * created). Errors as cs__xnn_build().
 */
int cs__xnn_lower(cs__xnn_model *m, const cs__onnx_graph *g, char *err,
		  size_t errlen);

/* A value's physical shape at batch n; returns its rank. */
int cs__xnn_phys(const xval *v, int64_t n, size_t out[XMAXD]);

#endif
