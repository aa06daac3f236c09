/*
 * tensor.c - dtype names and sizes, shape arithmetic, FP16 conversion.
 * Pure functions over the public cs_tensor view (include/cubeserve/tensor.h).
 */
#include <stdio.h>
#include <string.h>

#include <cubeserve/tensor.h>

static const struct {
	const char *name;
	size_t size;
} dtypes[] = {
	[CS_DTYPE_INVALID] = {"INVALID", 0},
	[CS_BOOL] = {"BOOL", 1},
	[CS_UINT8] = {"UINT8", 1},
	[CS_UINT16] = {"UINT16", 2},
	[CS_UINT32] = {"UINT32", 4},
	[CS_UINT64] = {"UINT64", 8},
	[CS_INT8] = {"INT8", 1},
	[CS_INT16] = {"INT16", 2},
	[CS_INT32] = {"INT32", 4},
	[CS_INT64] = {"INT64", 8},
	[CS_FP16] = {"FP16", 2},
	[CS_FP32] = {"FP32", 4},
	[CS_FP64] = {"FP64", 8},
	[CS_BYTES] = {"BYTES", 0},
};

#define N_DTYPES (sizeof(dtypes) / sizeof(dtypes[0]))

const char *cs_dtype_name(cs_dtype dtype)
{
	if ((unsigned)dtype >= N_DTYPES)
		return "INVALID";
	return dtypes[dtype].name;
}

cs_dtype cs_dtype_from_name(const char *name)
{
	if (!name)
		return CS_DTYPE_INVALID;
	for (size_t i = 1; i < N_DTYPES; i++)
		if (strcmp(dtypes[i].name, name) == 0)
			return (cs_dtype)i;
	return CS_DTYPE_INVALID;
}

size_t cs_dtype_size(cs_dtype dtype)
{
	if ((unsigned)dtype >= N_DTYPES)
		return 0;
	return dtypes[dtype].size;
}

int64_t cs_shape_numel(int32_t ndim, const int64_t *shape)
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

bool cs_shape_matches(int32_t decl_ndim, const int64_t *decl_shape,
		      int32_t ndim, const int64_t *shape)
{
	if (decl_ndim != ndim)
		return false;
	for (int32_t i = 0; i < ndim; i++)
		if (decl_shape[i] != -1 && decl_shape[i] != shape[i])
			return false;
	return true;
}

char *cs_shape_format(int32_t ndim, const int64_t *shape, char *buf,
		      size_t buflen)
{
	size_t off = 0;

	if (buflen == 0)
		return buf;
	buf[0] = '\0';
	if (ndim < 0 || ndim > CS_MAX_DIMS) {
		snprintf(buf, buflen, "[?]");
		return buf;
	}
	off += (size_t)snprintf(buf, buflen, "[");
	for (int32_t i = 0; i < ndim && off < buflen; i++)
		off += (size_t)snprintf(buf + off, buflen - off, "%s%lld",
					i ? "," : "", (long long)shape[i]);
	if (off < buflen)
		snprintf(buf + off, buflen - off, "]");
	return buf;
}

float cs_fp16_to_fp32(uint16_t h)
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

uint16_t cs_fp32_to_fp16(float f)
{
	uint32_t x;
	uint32_t sign, mant;
	int32_t exp;

	memcpy(&x, &f, sizeof x);
	sign = (x >> 16) & 0x8000u;
	exp = (int32_t)((x >> 23) & 0xffu);
	mant = x & 0x7fffffu;

	if (exp == 0xff) /* Inf or NaN (keep NaN quiet) */
		return (uint16_t)(sign | 0x7c00u | (mant ? 0x200u : 0));
	exp = exp - 127 + 15;
	if (exp >= 0x1f) /* overflow */
		return (uint16_t)(sign | 0x7c00u);
	if (exp <= 0) { /* subnormal or zero */
		uint32_t shift;
		uint32_t m, half, rest;

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
