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
 * safe to use from any thread, and nothing needs linking.
 */
#ifndef CUBESERVE_TENSOR_H
#define CUBESERVE_TENSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

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

/*
 * Frozen for ABI 1: the numbering of cs_dtype, the layout of cs_tensor and
 * CS_MAX_DIMS (and cs_io_desc in plugin.h). A plugin built against any ABI
 * 1.x header exchanges them with any 1.x runtime.
 *
 * The helpers below are static inline, so a plugin uses them without
 * linking anything from the runtime (the worker exports no symbols).
 */

/*
 * The element type of every fixed-size dtype, for code that handles each
 * dtype alike: X(dtype, C type) for each. FP16 is stored as uint16_t (see
 * cs_fp16_to_fp32); BYTES has no fixed-size element and is not listed.
 */
#define CS_DTYPE_FOREACH_FIXED(X)                                         \
	X(CS_BOOL, uint8_t) X(CS_UINT8, uint8_t) X(CS_UINT16, uint16_t)   \
	X(CS_UINT32, uint32_t) X(CS_UINT64, uint64_t) X(CS_INT8, int8_t)  \
	X(CS_INT16, int16_t) X(CS_INT32, int32_t) X(CS_INT64, int64_t)    \
	X(CS_FP16, uint16_t) X(CS_FP32, float) X(CS_FP64, double)

/* The V2 name of a dtype ("FP32"), or "INVALID". Never NULL, static. */
static inline const char *cs_dtype_name(cs_dtype dtype)
{
	static const char *const names[] = {
		"INVALID", "BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8",
		"INT16", "INT32", "INT64", "FP16", "FP32", "FP64", "BYTES",
	};

	return (unsigned)dtype < sizeof names / sizeof names[0] ? names[dtype]
								: "INVALID";
}

/* The dtype named by a V2 name (exact, upper case), or CS_DTYPE_INVALID. */
static inline cs_dtype cs_dtype_from_name(const char *name)
{
	for (int i = CS_BOOL; name && i <= CS_BYTES; i++)
		if (strcmp(cs_dtype_name((cs_dtype)i), name) == 0)
			return (cs_dtype)i;
	return CS_DTYPE_INVALID;
}

/* Bytes per element of a fixed-size dtype; 0 for BYTES and INVALID. */
static inline size_t cs_dtype_size(cs_dtype dtype)
{
	switch (dtype) {
#define CS__SIZE(dt, T) case dt: return sizeof(T);
	CS_DTYPE_FOREACH_FIXED(CS__SIZE)
#undef CS__SIZE
	default: return 0;
	}
}

/*
 * Elements in a shape: the product of the dimensions (1 for ndim == 0).
 * Returns -1 when a dimension is negative or the product overflows int64.
 */
static inline int64_t cs_shape_numel(int32_t ndim, const int64_t *shape)
{
	int64_t n = 1;

	if (ndim < 0 || ndim > CS_MAX_DIMS)
		return -1;
	for (int32_t i = 0; i < ndim; i++) {
		if (shape[i] < 0)
			return -1;
		if (shape[i] != 0 && n > INT64_MAX / shape[i])
			return -1;
		n *= shape[i];
	}
	return n;
}

/*
 * Whether a concrete shape fits a declared shape: same rank, and every
 * declared dimension is -1 or equal.
 */
static inline bool cs_shape_matches(int32_t decl_ndim, const int64_t *decl_shape,
				    int32_t ndim, const int64_t *shape)
{
	if (decl_ndim != ndim)
		return false;
	for (int32_t i = 0; i < ndim; i++)
		if (decl_shape[i] != -1 && decl_shape[i] != shape[i])
			return false;
	return true;
}

/*
 * Writes a shape as "[1,-1,8]" into buf (always NUL-terminated when
 * buflen > 0). Returns buf.
 */
static inline char *cs_shape_format(int32_t ndim, const int64_t *shape,
				    char *buf, size_t buflen)
{
	char tmp[CS_MAX_DIMS * 21 + 3];
	size_t off = 0;

	if (buflen == 0)
		return buf;
	if (ndim < 0 || ndim > CS_MAX_DIMS) {
		memcpy(tmp, "[?]", 4);
	} else {
		tmp[off++] = '[';
		for (int32_t i = 0; i < ndim; i++) {
			char digits[21];
			uint64_t v = shape[i] < 0 ? 0 - (uint64_t)shape[i]
						  : (uint64_t)shape[i];
			int k = 0;

			if (i)
				tmp[off++] = ',';
			if (shape[i] < 0)
				tmp[off++] = '-';
			do {
				digits[k++] = (char)('0' + v % 10);
				v /= 10;
			} while (v);
			while (k)
				tmp[off++] = digits[--k];
		}
		tmp[off++] = ']';
		tmp[off] = '\0';
	}
	off = strlen(tmp);
	if (off >= buflen)
		off = buflen - 1;
	memcpy(buf, tmp, off);
	buf[off] = '\0';
	return buf;
}

/* IEEE binary16 -> binary32 (exact). */
static inline float cs_fp16_to_fp32(uint16_t h)
{
	uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
	uint32_t exp = (h >> 10) & 0x1fu;
	uint32_t mant = h & 0x3ffu;
	uint32_t bits;
	float f;

	if (exp == 0) {
		if (mant == 0) {
			bits = sign;
		} else { /* subnormal: normalise */
			exp = 127 - 15 + 1;
			while (!(mant & 0x400u)) {
				mant <<= 1;
				exp--;
			}
			mant &= 0x3ffu;
			bits = sign | (exp << 23) | (mant << 13);
		}
	} else if (exp == 0x1f) {
		bits = sign | 0x7f800000u | (mant << 13);
	} else {
		bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
	}
	memcpy(&f, &bits, sizeof f);
	return f;
}

/* IEEE binary32 -> binary16 (round to nearest even; NaN stays quiet). */
static inline uint16_t cs_fp32_to_fp16(float f)
{
	uint32_t x, sign, mant;
	int32_t exp;

	memcpy(&x, &f, sizeof x);
	sign = (x >> 16) & 0x8000u;
	exp = (int32_t)((x >> 23) & 0xffu);
	mant = x & 0x7fffffu;

	if (exp == 0xff) /* Inf or NaN */
		return (uint16_t)(sign | 0x7c00u | (mant ? 0x200u : 0));
	exp = exp - 127 + 15;
	if (exp >= 0x1f) /* overflow */
		return (uint16_t)(sign | 0x7c00u);
	if (exp <= 0) { /* subnormal or zero */
		uint32_t shift, m, half, rest;

		if (exp < -10)
			return (uint16_t)sign;
		m = mant | 0x800000u;
		shift = (uint32_t)(14 - exp);
		half = 1u << (shift - 1);
		rest = m & ((1u << shift) - 1);
		m >>= shift;
		if (rest > half || (rest == half && (m & 1u)))
			m++;
		return (uint16_t)(sign | m);
	}
	{
		uint32_t rest = mant & 0x1fffu;
		uint32_t h = sign | ((uint32_t)exp << 10) | (mant >> 13);

		if (rest > 0x1000u || (rest == 0x1000u && (h & 1u)))
			h++; /* may carry into the exponent: still correct */
		return (uint16_t)h;
	}
}

#ifdef __cplusplus
}
#endif

#endif /* CUBESERVE_TENSOR_H */
