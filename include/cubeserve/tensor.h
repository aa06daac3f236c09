/*
 * cubeserve/tensor.h - the tensor seen by plugins, the runtime and the glue.
 *
 * A cs_tensor is a VIEW: it names a buffer it does not own. Who owns the
 * buffer is said by whoever hands the view out (see plugin.h for inputs and
 * outputs of a plugin's infer()). Data is dense, row-major (C order),
 * little-endian, without padding.
 *
 * Dtypes are the Open Inference Protocol (KServe V2) datatypes. BYTES
 * tensors hold variable-length elements; their buffer is the concatenation,
 * in element order, of a 4-byte little-endian length followed by that many
 * bytes (the layout of the V2 binary data extension), and nbytes is the
 * total length of that buffer.
 *
 * Everything in this header is plain data plus pure functions: all of it is
 * safe to use from any thread.
 */
#ifndef CUBESERVE_TENSOR_H
#define CUBESERVE_TENSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Most dimensions a tensor may have. */
#define CS_MAX_DIMS 8

/* The V2 datatypes. Numbered once; new ones are only ever appended. */
typedef enum cs_dtype {
	CS_DTYPE_INVALID = 0,
	CS_BOOL = 1,   /* one byte, 0 or 1 */
	CS_UINT8 = 2,
	CS_UINT16 = 3,
	CS_UINT32 = 4,
	CS_UINT64 = 5,
	CS_INT8 = 6,
	CS_INT16 = 7,
	CS_INT32 = 8,
	CS_INT64 = 9,
	CS_FP16 = 10,  /* IEEE 754 binary16, stored as uint16_t */
	CS_FP32 = 11,
	CS_FP64 = 12,
	CS_BYTES = 13, /* variable length, see the header comment */
} cs_dtype;

/*
 * A tensor view. ndim may be 0 (a scalar, one element). A declared shape
 * (in a manifest or a plugin's describe()) may hold -1 for a dimension of
 * any size; the shape of a tensor that carries data never does.
 */
typedef struct cs_tensor {
	const char *name;              /* borrowed; may be NULL */
	cs_dtype dtype;
	int32_t ndim;
	int64_t shape[CS_MAX_DIMS];
	void *data;                    /* borrowed; NULL only when nbytes == 0 */
	size_t nbytes;
} cs_tensor;

/* The V2 name of a dtype ("FP32"), or "INVALID". Never NULL, static. */
const char *cs_dtype_name(cs_dtype dtype);

/* The dtype named by a V2 name (exact, upper case), or CS_DTYPE_INVALID. */
cs_dtype cs_dtype_from_name(const char *name);

/* Bytes per element of a fixed-size dtype; 0 for BYTES and INVALID. */
size_t cs_dtype_size(cs_dtype dtype);

/*
 * Elements in a shape: the product of the dimensions (1 for ndim == 0).
 * Returns -1 when a dimension is negative or the product overflows int64.
 */
int64_t cs_shape_numel(int32_t ndim, const int64_t *shape);

/*
 * Whether a concrete shape fits a declared shape: same rank, and every
 * declared dimension is -1 or equal.
 */
bool cs_shape_matches(int32_t decl_ndim, const int64_t *decl_shape,
		      int32_t ndim, const int64_t *shape);

/*
 * Writes a shape as "[1,-1,8]" into buf (always NUL-terminated when
 * buflen > 0). Returns buf.
 */
char *cs_shape_format(int32_t ndim, const int64_t *shape, char *buf,
		      size_t buflen);

/* IEEE binary16 <-> binary32 conversion (round to nearest even). */
float cs_fp16_to_fp32(uint16_t h);
uint16_t cs_fp32_to_fp16(float f);

#ifdef __cplusplus
}
#endif

#endif /* CUBESERVE_TENSOR_H */
