/*
 * json_out.c - shortest numbers and sorted keys (see json_out.h).
 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json_out.h"

/*
 * %g drops trailing zeros, and a value that some decimal of k <= 15 (6 for
 * a float) digits reads back to is within far less than half a unit of the
 * k-th digit of that decimal, so %.15g (%.6g) already prints it: the
 * search starts there instead of at one digit. Not so for subnormals,
 * which have fewer digits of their own: they search from one.
 */
size_t cs_fmt_double(char *buf, double d)
{
	int n = 0;

	for (int prec = fabs(d) >= DBL_MIN ? 15 : 1; prec <= 17; prec++) {
		n = snprintf(buf, CS_FMT_NUMBER_SIZE, "%.*g", prec, d);
		if (strtod(buf, NULL) == d)
			break;
	}
	return n > 0 ? (size_t)n : 0;
}

size_t cs_fmt_float(char *buf, float f)
{
	int n = 0;

	for (int prec = fabsf(f) >= FLT_MIN ? 6 : 1; prec <= 9; prec++) {
		n = snprintf(buf, CS_FMT_NUMBER_SIZE, "%.*g", prec, (double)f);
		if (strtof(buf, NULL) == f)
			break;
	}
	return n > 0 ? (size_t)n : 0;
}

size_t cs_fmt_real(char *buf, double d)
{
	size_t n;

	if (!isfinite(d)) {
		memcpy(buf, "null", 5);
		return 4;
	}
	n = (double)(float)d == d ? cs_fmt_float(buf, (float)d) : cs_fmt_double(buf, d);
	/* "1e+20" and "5" are valid JSON; a real stays visibly a number */
	return n;
}

typedef struct out {
	char *buf;
	size_t len, cap;
	int oom;
} out;

static void put(out *o, const char *s, size_t n)
{
	if (o->oom)
		return;
	if (o->len + n + 1 > o->cap) {
		size_t cap = o->cap ? o->cap : 256;
		char *b;

		while (cap < o->len + n + 1)
			cap *= 2;
		b = realloc(o->buf, cap);
		if (!b) {
			o->oom = 1;
			return;
		}
		o->buf = b;
		o->cap = cap;
	}
	memcpy(o->buf + o->len, s, n);
	o->len += n;
	o->buf[o->len] = '\0';
}

static void put_string(out *o, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t run = 0;

	put(o, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[7];
		const char *e = NULL;

		switch (c) {
		case '"': e = "\\\""; break;
		case '\\': e = "\\\\"; break;
		case '\n': e = "\\n"; break;
		case '\r': e = "\\r"; break;
		case '\t': e = "\\t"; break;
		case '\b': e = "\\b"; break;
		case '\f': e = "\\f"; break;
		default:
			if (c < 0x20) {
				memcpy(esc, "\\u00", 4);
				esc[4] = hex[c >> 4];
				esc[5] = hex[c & 15];
				esc[6] = '\0';
				e = esc;
			}
		}
		if (!e) {
			run++;
			continue;
		}
		put(o, s + i - run, run);
		run = 0;
		put(o, e, strlen(e));
	}
	put(o, s + n - run, run);
	put(o, "\"", 1);
}

static int key_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void put_value(out *o, const json_t *v)
{
	char num[CS_FMT_NUMBER_SIZE];
	size_t n;

	switch (json_typeof(v)) {
	case JSON_OBJECT: {
		size_t count = json_object_size(v), i = 0;
		const char **keys = malloc((count ? count : 1) * sizeof *keys);
		const char *k;
		json_t *val;

		if (!keys) {
			o->oom = 1;
			return;
		}
		json_object_foreach((json_t *)v, k, val)
			keys[i++] = k;
		qsort(keys, count, sizeof *keys, key_cmp);
		put(o, "{", 1);
		for (i = 0; i < count; i++) {
			if (i)
				put(o, ",", 1);
			put_string(o, keys[i], strlen(keys[i]));
			put(o, ":", 1);
			put_value(o, json_object_get(v, keys[i]));
		}
		put(o, "}", 1);
		free(keys);
		break;
	}
	case JSON_ARRAY:
		put(o, "[", 1);
		for (size_t i = 0; i < json_array_size(v); i++) {
			if (i)
				put(o, ",", 1);
			put_value(o, json_array_get(v, i));
		}
		put(o, "]", 1);
		break;
	case JSON_STRING:
		put_string(o, json_string_value(v), json_string_length(v));
		break;
	case JSON_INTEGER:
		n = (size_t)snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT,
				     json_integer_value(v));
		put(o, num, n);
		break;
	case JSON_REAL:
		n = cs_fmt_real(num, json_real_value(v));
		put(o, num, n);
		/* keep a real a real when it prints as an integer: 2 -> 2.0 */
		if (strspn(num, "-0123456789") == n)
			put(o, ".0", 2);
		break;
	case JSON_TRUE:
		put(o, "true", 4);
		break;
	case JSON_FALSE:
		put(o, "false", 5);
		break;
	case JSON_NULL:
	default:
		put(o, "null", 4);
		break;
	}
}

char *cs_json_dumps(const json_t *v, size_t *len)
{
	out o = {0};

	if (!v)
		return NULL;
	put_value(&o, v);
	if (o.oom || !o.buf) {
		free(o.buf);
		return NULL;
	}
	if (len)
		*len = o.len;
	return o.buf;
}
