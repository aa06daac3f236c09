/*
 * json_tensor.h - reading JSON without building a tree: a strict scanner
 * (RFC 8259: UTF-8, number grammar, escapes, no duplicate handling - that
 * is the caller's) and a decoder that writes a JSON `data` array straight
 * into a tensor buffer, one element at a time, with no allocation per
 * number.
 *
 * Everything works on a byte range [p, end) that need not be
 * NUL-terminated. Errors carry a cs_status (CS_EINVAL malformed or wrong
 * data, CS_ETOOLARGE over a limit, CS_ENOMEM) and a message naming the byte
 * offset from `base`.
 * Pure functions over caller memory; thread-safe.
 */
#ifndef CS_JSON_TENSOR_H
#define CS_JSON_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include <cubeserve/plugin.h>
#include <cubeserve/tensor.h>

#include "core/arena.h"

/* Limits the scanner and the decoder enforce. */
typedef struct cs_json_limits {
	size_t max_depth;          /* nesting of arrays and objects */
	size_t max_string_bytes;   /* one decoded string */
	uint64_t max_elements;     /* elements of one tensor */
	size_t max_bytes;          /* bytes of one tensor's buffer */
} cs_json_limits;

/* A cursor over JSON text. */
typedef struct cs_jcur {
	const char *p;       /* the next byte */
	const char *end;     /* one past the last byte */
	const char *base;    /* for offsets in messages */
	const cs_json_limits *lim;
	int status;          /* CS_OK, or the cs_status of the first error */
	char err[256];       /* the first error's message */
} cs_jcur;

/* Sets up a cursor over [p, end). */
void cs_jcur_init(cs_jcur *c, const char *p, const char *end,
		  const cs_json_limits *lim);

/* Records an error (the first one wins). Returns -1. */
int cs_jcur_fail(cs_jcur *c, cs_status status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Skips whitespace; returns the next byte, or 0 at the end. */
int cs_jcur_peek(cs_jcur *c);

/* Consumes byte ch (after whitespace) or fails naming what was expected. */
int cs_jcur_expect(cs_jcur *c, char ch, const char *what);

/*
 * Validates and skips one value (of any type); *start and *stop (may be
 * NULL) get its span. Returns 0 or -1 (error in the cursor).
 */
int cs_jcur_skip(cs_jcur *c, const char **start, const char **stop);

/*
 * Reads a string value into the arena, NUL-terminated; *len gets its
 * length (it may hold NUL bytes). Returns 0 or -1.
 */
int cs_jcur_string(cs_jcur *c, cs_arena *a, char **out, size_t *len);

/*
 * Reads an integer value (no fraction, no exponent) in [min, max].
 * Returns 0 or -1.
 */
int cs_jcur_int(cs_jcur *c, int64_t min, int64_t max, int64_t *out);

/*
 * Decodes the JSON array at the cursor into a new buffer in the arena for
 * a tensor of dtype and shape (no -1). The array is either flat (numel
 * elements) or nested exactly like the shape. Numbers must fit the dtype
 * (integers integral and in range, floats finite in range); BOOL takes
 * true/false; BYTES takes strings, stored as 4-byte little-endian length +
 * bytes. On 0, *data / *nbytes describe the buffer (arena memory).
 */
int cs_json_tensor_decode(cs_jcur *c, cs_dtype dtype, int32_t ndim,
			  const int64_t *shape, cs_arena *a, void **data,
			  size_t *nbytes);

/*
 * Checks a shape against the limits: numel fits max_elements and, for
 * fixed-size dtypes, numel * size fits max_bytes. Returns CS_OK, or
 * CS_ETOOLARGE with a message in err.
 */
int cs_json_tensor_check_size(cs_dtype dtype, int32_t ndim,
			      const int64_t *shape, const cs_json_limits *lim,
			      const char *name, char *err, size_t errlen);

#endif
