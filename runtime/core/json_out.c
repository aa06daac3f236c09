/*
 * json_out.c - shortest numbers and sorted keys (see json_out.h).
 */
#include <float.h>
#include <math.h>
#include <stdint.h>
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

/*
 * The shortest float, exactly as the snprintf/strtof search below would
 * print it, in integer arithmetic: for each precision P from 6 up, the
 * float's exact value m * 2^e rounded (half to even) to P significant
 * digits N * 10^-q, then an exact test that N * 10^-q lies inside the
 * interval of decimals strtof() rounds to the float (half a gap either
 * side, the gap below halved at a power of two, ties kept when m is
 * even), then %g's layout. Every quantity fits 128 bits for
 * 2^-70 <= |f| < 2^96; outside that (and for zero) it returns 0 and the
 * caller searches the slow way. About 20x fewer instructions than the
 * search; the unit test compares the two on millions of floats.
 */
typedef unsigned __int128 u128;

/* 10^0 .. 10^38 */
static const u128 pow10_tab[39] = {
	(u128)1ull,
	(u128)10ull,
	(u128)100ull,
	(u128)1000ull,
	(u128)10000ull,
	(u128)100000ull,
	(u128)1000000ull,
	(u128)10000000ull,
	(u128)100000000ull,
	(u128)1000000000ull,
	(u128)10000000000ull,
	(u128)100000000000ull,
	(u128)1000000000000ull,
	(u128)10000000000000ull,
	(u128)100000000000000ull,
	(u128)1000000000000000ull,
	(u128)10000000000000000ull,
	(u128)100000000000000000ull,
	(u128)1000000000000000000ull,
	(u128)10000000000000000000ull,
	(u128)10000000000000000000ull * 10ull,
	(u128)10000000000000000000ull * 100ull,
	(u128)10000000000000000000ull * 1000ull,
	(u128)10000000000000000000ull * 10000ull,
	(u128)10000000000000000000ull * 100000ull,
	(u128)10000000000000000000ull * 1000000ull,
	(u128)10000000000000000000ull * 10000000ull,
	(u128)10000000000000000000ull * 100000000ull,
	(u128)10000000000000000000ull * 1000000000ull,
	(u128)10000000000000000000ull * 10000000000ull,
	(u128)10000000000000000000ull * 100000000000ull,
	(u128)10000000000000000000ull * 1000000000000ull,
	(u128)10000000000000000000ull * 10000000000000ull,
	(u128)10000000000000000000ull * 100000000000000ull,
	(u128)10000000000000000000ull * 1000000000000000ull,
	(u128)10000000000000000000ull * 10000000000000000ull,
	(u128)10000000000000000000ull * 100000000000000000ull,
	(u128)10000000000000000000ull * 1000000000000000000ull,
	(u128)10000000000000000000ull * 10000000000000000000ull,
};

static u128 pow10_u128(int k)
{
	return pow10_tab[k];
}

/* %g's text for the P-digit N (10^(P-1) <= N < 10^P) times 10^x. */
static size_t layout_g(char *buf, int neg, uint64_t n, int p, int x)
{
	char d[24];
	int nd = 0, len = 0;

	for (int i = p - 1; i >= 0; i--, n /= 10)
		d[i] = (char)('0' + n % 10);
	nd = p;
	while (nd > 1 && d[nd - 1] == '0') /* %g drops trailing zeros */
		nd--;
	if (neg)
		buf[len++] = '-';
	if (x >= -4 && x < p) {
		if (x >= 0) {
			for (int i = 0; i <= x; i++)
				buf[len++] = i < nd ? d[i] : '0';
			if (nd > x + 1) {
				buf[len++] = '.';
				for (int i = x + 1; i < nd; i++)
					buf[len++] = d[i];
			}
		} else {
			buf[len++] = '0';
			buf[len++] = '.';
			for (int i = 0; i < -x - 1; i++)
				buf[len++] = '0';
			for (int i = 0; i < nd; i++)
				buf[len++] = d[i];
		}
	} else {
		int ax = x < 0 ? -x : x;

		buf[len++] = d[0];
		if (nd > 1) {
			buf[len++] = '.';
			for (int i = 1; i < nd; i++)
				buf[len++] = d[i];
		}
		buf[len++] = 'e';
		buf[len++] = x < 0 ? '-' : '+';
		if (ax >= 10) {
			buf[len++] = (char)('0' + ax / 10);
			ax %= 10;
		} else {
			buf[len++] = '0';
		}
		buf[len++] = (char)('0' + ax);
	}
	buf[len] = '\0';
	return (size_t)len;
}

static size_t fmt_float_exact(char *buf, float f)
{
	uint32_t bits;
	int neg, be, e, x0;
	uint64_t m;

	memcpy(&bits, &f, sizeof bits);
	neg = (int)(bits >> 31);
	be = (int)((bits >> 23) & 0xff);
	if (be < 127 - 66 || be >= 127 + 96)
		return 0; /* zero, subnormal, tiny, huge, inf, nan */
	m = (bits & 0x7fffff) | 0x800000;
	e = be - 150; /* |f| = m * 2^e */
	x0 = (int)floor(log10(fabs((double)f)));
	for (int p = 6; p <= 9; p++) {
		int x = x0;

		for (int tries = 0;; tries++) {
			int q = p - 1 - x;
			/* n = m * 2^e * 10^q rounded; num / den with den =
			 * 2^max(-e,0) * 10^max(-q,0) */
			int sh = e < 0 ? -e : 0;
			u128 num = (u128)m << (e > 0 ? e : 0), den = (u128)1 << sh;
			u128 n, r, x1, x2, gap, diff;
			int lower_half;

			if (q >= 0) { /* den is a power of two: a shift */
				num *= pow10_u128(q);
				n = num >> sh;
				r = num & (den - 1);
			} else {
				den *= pow10_u128(-q);
				n = num / den;
				r = num % den;
			}
			if (2 * r > den || (2 * r == den && (n & 1)))
				n++;
			if (n < pow10_u128(p - 1) || n > pow10_u128(p)) {
				x += n < pow10_u128(p - 1) ? -1 : 1; /* log10 was off */
				if (tries == 2)
					return 0; /* cannot happen: log10 is off by one at most */
				continue;
			}
			/* does n * 10^-q read back as f? |n * 10^-q - f|
			 * against half the gap, all three scaled by
			 * 4 * 10^(q - min(q,0)) * 2^(max(e,0) - e) */
			x1 = 4 * n;
			x2 = 4 * (u128)m;
			gap = 2;
			if (e < 0)
				x1 <<= -e;
			else {
				x2 <<= e;
				gap <<= e;
			}
			if (q < 0)
				x1 *= pow10_u128(-q);
			else {
				x2 *= pow10_u128(q);
				gap *= pow10_u128(q);
			}
			lower_half = x1 < x2 && m == 0x800000 && be > 1;
			diff = x1 >= x2 ? x1 - x2 : x2 - x1;
			if (lower_half)
				gap /= 2;
			if (diff < gap || (diff == gap && !(m & 1))) {
				if (n == pow10_u128(p)) { /* rounded up to 10^p */
					n /= 10;
					x++;
				}
				return layout_g(buf, neg, (uint64_t)n, p, x);
			}
			break; /* not at this precision: one more digit */
		}
	}
	return 0;
}

size_t cs_fmt_float(char *buf, float f)
{
	int n = 0;
	size_t fast = fmt_float_exact(buf, f);

	if (fast)
		return fast;
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
