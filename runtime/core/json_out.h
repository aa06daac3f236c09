/*
 * json_out.h - JSON text as people and golden files expect it: numbers in
 * their shortest form that reads back to the same value, object keys in
 * sorted (byte) order, compact.
 *
 * A real that is exactly an FP32 value (as every value from an FP32 tensor
 * is) prints as the shortest decimal that reads back as that float
 * ("0.1", not "0.10000000149011612"); any other real as the shortest that
 * reads back as the same double ("0.1", not "0.10000000000000001").
 * Non-finite reals, which JSON cannot hold, print as null. Pure;
 * thread-safe.
 */
#ifndef CS_JSON_OUT_H
#define CS_JSON_OUT_H

#include <stddef.h>

#include <jansson.h>

/* Longest text cs_fmt_double() and cs_fmt_float() write, with the NUL. */
#define CS_FMT_NUMBER_SIZE 32

/*
 * Writes the shortest decimal (printf %g style, up to 17 digits) that
 * strtod() reads back as d into buf[CS_FMT_NUMBER_SIZE]. Returns its length.
 */
size_t cs_fmt_double(char *buf, double d);

/* The same for a float: up to 9 digits, read back with strtof(). */
size_t cs_fmt_float(char *buf, float f);

/*
 * A real as json_out prints it: cs_fmt_float() when d is exactly a float,
 * else cs_fmt_double(); "null" when not finite.
 */
size_t cs_fmt_real(char *buf, double d);

/*
 * Encodes any JSON value (compact, sorted keys) into a new malloc'd,
 * NUL-terminated string (the caller frees it); *len (may be NULL) gets its
 * length. Returns NULL when out of memory or when v is NULL.
 */
char *cs_json_dumps(const json_t *v, size_t *len);

#endif
