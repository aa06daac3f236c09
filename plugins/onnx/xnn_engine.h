/*
 * xnn_engine.h - the XNNPACK engine of the onnx plugin: an ONNX graph
 * lowered at load onto XNNPACK operators (xnn_engine.c).
 *
 * Load does all the work once: shape inference with the batch as the only
 * free dimension, constant folding of the shape arithmetic exporters emit,
 * BatchNormalization folded into the preceding Conv, activations fused into
 * the operator before them, NCHW weights reordered for XNNPACK's NHWC, and
 * every XNNPACK operator created, which packs its weights. A forked child
 * shares the packed weights copy-on-write. A call only sets the operators
 * up when its batch size differs from the last call's, then runs them over
 * one workspace planned by value lifetimes.
 *
 * Internal to the onnx plugin: hidden symbols, cs__ prefix. Not thread-safe
 * on one model (the operators and the workspace hold the call's state).
 */
#ifndef CS_XNN_ENGINE_H
#define CS_XNN_ENGINE_H

#include <stdbool.h>
#include <stddef.h>

#include <cubeserve/plugin.h>

#include "onnx_graph.h"
#include "onnx_shim.h"

typedef struct cs__xnn_model cs__xnn_model;

/*
 * Lowers g (borrowed for the call; the model keeps nothing of it) for calls
 * on `threads` threads: 1 (or less) runs every call on the caller's thread
 * alone; more makes a pthreadpool of threads - 1 workers plus the caller,
 * started by the first call in each process (load starts none that outlive
 * it, so a prefork child makes its own). On CS_OK
 * *out is released by cs__xnn_free(). A graph the engine cannot run gives
 * CS_EUNSUPPORTED and a message naming the op and the node ("op 'TopK'
 * (node 'topk_1') is not supported by the xnnpack engine") or the value
 * ("input 'x' has the dynamic dimension 2: ..."); a graph that is wrong
 * (a missing value, mismatched shapes, a bad initializer) CS_EFORMAT; an
 * XNNPACK failure CS_EBACKEND.
 */
int cs__xnn_build(const cs__onnx_graph *g, int threads, cs__xnn_model **out,
		  char *err, size_t errlen);

/*
 * Runs the model on in[n_in] (FP32, borrowed, in graph input order) and
 * fills out[n_out] (names set by the caller, in graph output order): shape
 * and data, data allocated through alloc. CS_EINVAL for an input whose
 * shape differs from the planned one (or a batch size other than the
 * graph's fixed one), CS_ENOMEM (also: the threads cannot start),
 * CS_EBACKEND.
 */
int cs__xnn_run(cs__xnn_model *m, const cs__onnx_blob *in, size_t n_in,
		cs__onnx_blob *out, size_t n_out, const cs_allocator *alloc,
		char *err, size_t errlen);

/* Whether any batch size runs (else only the graph's fixed one). */
bool cs__xnn_batching(const cs__xnn_model *m);

/* Number of operators (XNNPACK and the engine's own) a call runs. */
size_t cs__xnn_steps(const cs__xnn_model *m);

void cs__xnn_free(cs__xnn_model *m);

#endif
