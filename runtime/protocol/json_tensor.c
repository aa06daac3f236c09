/*
 * json_tensor.c - a strict JSON scanner and a tree-free `data` decoder
 * (see json_tensor.h).
 *
 * Numbers take a fast path that is exact: up to 19 significant digits and
 * a decimal exponent of at most 22 in size give a correctly rounded double
 * by one multiplication or division (Clinger). Anything else falls back to
 * strtod() on a copy of the number, so results equal strtod()'s always.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/utf8.h"
#include "protocol/json_tensor.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "cubeserve tensors are little-endian; this host is not"
#endif

#define MAX_NUMBER_CHARS 512

void cs_jcur_init(cs_jcur *c, const char *p, const char *end,
		  const cs_json_limits *lim)
{
	c->p = p;
	c->end = end;
	c->base = p;
	c->lim = lim;
	c->status = 0;
	c->err[0] = '\0';
}

int cs_jcur_fail(cs_jcur *c, cs_status status, const char *fmt, ...)
{
	char msg[200];
	va_list ap;

	if (c->status)
		return -1;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	c->status = status;
	snprintf(c->err, sizeof c->err, "%s (at byte %td)", msg, c->p - c->base);
	return -1;
}

static int is_ws(int ch)
{
	return ch == ' ' || ch == '\n' || ch == '\r' || ch == '\t';
}

int cs_jcur_peek(cs_jcur *c)
{
	while (c->p < c->end && is_ws((unsigned char)*c->p))
		c->p++;
	return c->p < c->end ? (unsigned char)*c->p : 0;
}

static const char *describe(int ch)
{
	switch (ch) {
	case 0: return "the end of the JSON";
	case '{': return "an object";
	case '[': return "an array";
	case '"': return "a string";
	case 't': case 'f': return "a boolean";
	case 'n': return "null";
	default: return (ch == '-' || (ch >= '0' && ch <= '9')) ? "a number" : "an invalid character";
	}
}

int cs_jcur_expect(cs_jcur *c, char ch, const char *what)
{
	int got = cs_jcur_peek(c);

	if (got != (unsigned char)ch)
		return cs_jcur_fail(c, CS_EINVAL, "invalid JSON: expected %s, got %s",
				    what, describe(got));
	c->p++;
	return 0;
}


/* ------------------------------------------------------------ strings */

static int hex4(const char *p, uint32_t *out)
{
	uint32_t v = 0;

	for (int i = 0; i < 4; i++) {
		char ch = p[i];

		v <<= 4;
		if (ch >= '0' && ch <= '9')
			v |= (uint32_t)(ch - '0');
		else if (ch >= 'a' && ch <= 'f')
			v |= (uint32_t)(ch - 'a' + 10);
		else if (ch >= 'A' && ch <= 'F')
			v |= (uint32_t)(ch - 'A' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

/*
 * Scans the string at the cursor (which is at '"'). When dst is not NULL,
 * writes the decoded bytes there (room for the raw length is enough).
 * *len gets the decoded length. Checks max_string_bytes.
 */
static int scan_string(cs_jcur *c, char *dst, size_t *len)
{
	const char *p = c->p + 1, *end = c->end;
	size_t n = 0, max = c->lim ? c->lim->max_string_bytes : SIZE_MAX;

	for (;;) {
		const char *run = p;
		unsigned char ch;

		/* a run of plain ASCII bytes */
		while (p < end && (ch = (unsigned char)*p) >= 0x20 && ch < 0x80 &&
		       ch != '"' && ch != '\\')
			p++;
		if (dst && p > run)
			memcpy(dst + n, run, (size_t)(p - run));
		n += (size_t)(p - run);
		if (n > max) {
			c->p = run;
			return cs_jcur_fail(c, CS_ETOOLARGE,
					    "a JSON string is longer than %zu bytes (limits.max_string_bytes)",
					    max);
		}
		if (p >= end) {
			c->p = p;
			return cs_jcur_fail(c, CS_EINVAL, "invalid JSON: unterminated string");
		}
		ch = (unsigned char)*p;
		if (ch == '"') {
			c->p = p + 1;
			*len = n;
			return 0;
		}
		if (ch < 0x20) {
			c->p = p;
			return cs_jcur_fail(c, CS_EINVAL,
					    "invalid JSON: control character 0x%02x in a string (escape it)",
					    ch);
		}
		if (ch >= 0x80) {
			size_t k = cs_utf8_seq((const unsigned char *)p,
					    (const unsigned char *)end);

			if (!k) {
				c->p = p;
				return cs_jcur_fail(c, CS_EINVAL, "invalid UTF-8 in a JSON string");
			}
			if (dst)
				memcpy(dst + n, p, k);
			n += k;
			p += k;
			continue;
		}
		/* an escape */
		if (end - p < 2) {
			c->p = p;
			return cs_jcur_fail(c, CS_EINVAL, "invalid JSON: unterminated escape");
		}
		switch (p[1]) {
		case '"': case '\\': case '/':
			if (dst)
				dst[n] = p[1];
			n++;
			p += 2;
			break;
		case 'b': if (dst) dst[n] = '\b'; n++; p += 2; break;
		case 'f': if (dst) dst[n] = '\f'; n++; p += 2; break;
		case 'n': if (dst) dst[n] = '\n'; n++; p += 2; break;
		case 'r': if (dst) dst[n] = '\r'; n++; p += 2; break;
		case 't': if (dst) dst[n] = '\t'; n++; p += 2; break;
		case 'u': {
			uint32_t cp, lo;
			char u8[4];
			size_t k;

			if (end - p < 6 || hex4(p + 2, &cp)) {
				c->p = p;
				return cs_jcur_fail(c, CS_EINVAL, "invalid JSON: bad \\u escape");
			}
			p += 6;
			if (cp >= 0xdc00 && cp <= 0xdfff) {
				c->p = p - 6;
				return cs_jcur_fail(c, CS_EINVAL, "invalid JSON: lone low surrogate \\u%04x", cp);
			}
			if (cp >= 0xd800 && cp <= 0xdbff) {
				if (end - p < 6 || p[0] != '\\' || p[1] != 'u' ||
				    hex4(p + 2, &lo) || lo < 0xdc00 || lo > 0xdfff) {
					c->p = p - 6;
					return cs_jcur_fail(c, CS_EINVAL, "invalid JSON: lone high surrogate \\u%04x", cp);
				}
				p += 6;
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			}
			if (cp < 0x80) {
				u8[0] = (char)cp;
				k = 1;
			} else if (cp < 0x800) {
				u8[0] = (char)(0xc0 | cp >> 6);
				u8[1] = (char)(0x80 | (cp & 0x3f));
				k = 2;
			} else if (cp < 0x10000) {
				u8[0] = (char)(0xe0 | cp >> 12);
				u8[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
				u8[2] = (char)(0x80 | (cp & 0x3f));
				k = 3;
			} else {
				u8[0] = (char)(0xf0 | cp >> 18);
				u8[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
				u8[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
				u8[3] = (char)(0x80 | (cp & 0x3f));
				k = 4;
			}
			if (dst)
				memcpy(dst + n, u8, k);
			n += k;
			break;
		}
		default:
			c->p = p;
			return cs_jcur_fail(c, CS_EINVAL, "invalid JSON: bad escape '\\%c'",
					    p[1] >= 0x20 && p[1] < 0x7f ? p[1] : '?');
		}
	}
}

int cs_jcur_string(cs_jcur *c, cs_arena *a, char **out, size_t *len)
{
	const char *start;
	char *dst;

	if (cs_jcur_peek(c) != '"')
		return cs_jcur_fail(c, CS_EINVAL, "expected a string, got %s",
				    describe(cs_jcur_peek(c)));
	start = c->p;
	/* first pass: validate and measure; second: decode */
	if (scan_string(c, NULL, len))
		return -1;
	dst = cs_arena_alloc(a, *len + 1);
	if (!dst)
		return cs_jcur_fail(c, CS_ENOMEM, "out of memory");
	c->p = start;
	if (scan_string(c, dst, len))
		return -1;
	dst[*len] = '\0';
	*out = dst;
	return 0;
}

/* ------------------------------------------------------------ numbers */

typedef struct num {
	int neg;
	int is_int;        /* no fraction, no exponent */
	uint64_t mant;     /* significant digits (up to 19) */
	int digits;        /* significant digits counted (may exceed 19) */
	int64_t exp10;     /* value = mant * 10^exp10 when digits <= 19 */
	const char *start, *stop;
} num;

/* Scans a JSON number at the cursor per the grammar. */
static int scan_number(cs_jcur *c, num *n)
{
	const char *p = c->p, *end = c->end;
	int64_t e = 0, dropped = 0;
	int esign = 1;

	memset(n, 0, sizeof(*n));
	n->start = p;
	n->is_int = 1;
	if (p < end && *p == '-') {
		n->neg = 1;
		p++;
	}
	if (p >= end || *p < '0' || *p > '9')
		return cs_jcur_fail(c, CS_EINVAL, "invalid JSON: bad number");
	if (*p == '0') {
		p++;
	} else {
		while (p < end && *p >= '0' && *p <= '9') {
			if (n->digits < 19) {
				n->mant = n->mant * 10 + (uint64_t)(*p - '0');
				n->digits++;
			} else {
				n->digits++;
				dropped++;
			}
			p++;
		}
	}
	if (p < end && *p == '.') {
		p++;
		n->is_int = 0;
		if (p >= end || *p < '0' || *p > '9') {
			c->p = p;
			return cs_jcur_fail(c, CS_EINVAL, "invalid JSON: bad number (no digit after '.')");
		}
		while (p < end && *p >= '0' && *p <= '9') {
			if (n->digits < 19) {
				if (n->mant || *p != '0')
					n->digits++;
				n->mant = n->mant * 10 + (uint64_t)(*p - '0');
				dropped--;
			} else {
				n->digits++;
			}
			p++;
		}
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		p++;
		n->is_int = 0;
		if (p < end && (*p == '+' || *p == '-')) {
			esign = *p == '-' ? -1 : 1;
			p++;
		}
		if (p >= end || *p < '0' || *p > '9') {
			c->p = p;
			return cs_jcur_fail(c, CS_EINVAL, "invalid JSON: bad number (no digit in the exponent)");
		}
		while (p < end && *p >= '0' && *p <= '9') {
			if (e < 100000)
				e = e * 10 + (*p - '0');
			p++;
		}
	}
	if (p - n->start > MAX_NUMBER_CHARS) {
		return cs_jcur_fail(c, CS_EINVAL, "a number of more than %d characters",
				    MAX_NUMBER_CHARS);
	}
	n->exp10 = dropped + esign * e;
	n->stop = p;
	c->p = p;
	return 0;
}

static const double pow10_tab[23] = {
	1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

/* The number as a correctly rounded double. */
static double num_double(const num *n)
{
	char buf[MAX_NUMBER_CHARS + 1];
	size_t len;

	if (n->digits <= 19 && n->mant <= ((uint64_t)1 << 53) &&
	    n->exp10 >= -22 && n->exp10 <= 22) {
		double d = (double)n->mant;

		d = n->exp10 < 0 ? d / pow10_tab[-n->exp10] : d * pow10_tab[n->exp10];
		return n->neg ? -d : d;
	}
	if (n->mant == 0 && n->digits <= 19)
		return n->neg ? -0.0 : 0.0;
	len = (size_t)(n->stop - n->start);
	memcpy(buf, n->start, len);
	buf[len] = '\0';
	return strtod(buf, NULL);
}

/* An integer number as int64 (neg) or uint64; -1 when out of 64 bits. */
static int num_integer(const num *n, int *neg, uint64_t *mag)
{
	const char *p = n->start;
	uint64_t v = 0;

	if (n->is_int) {
		if (*p == '-')
			p++;
		for (; p < n->stop; p++) {
			unsigned d = (unsigned)(*p - '0');

			if (v > (UINT64_MAX - d) / 10)
				return -1;
			v = v * 10 + d;
		}
	} else {
		double d = num_double(n);

		if (!isfinite(d) || d != floor(d) || fabs(d) >= 18446744073709551616.0)
			return -2;
		v = (uint64_t)fabs(d);
	}
	*neg = n->neg && v != 0;
	*mag = v;
	return 0;
}

int cs_jcur_int(cs_jcur *c, int64_t min, int64_t max, int64_t *out)
{
	num n;
	int neg;
	uint64_t mag;

	if (cs_jcur_peek(c) != '-' && (cs_jcur_peek(c) < '0' || cs_jcur_peek(c) > '9'))
		return cs_jcur_fail(c, CS_EINVAL, "expected an integer, got %s",
				    describe(cs_jcur_peek(c)));
	if (scan_number(c, &n))
		return -1;
	if (!n.is_int || num_integer(&n, &neg, &mag) ||
	    (neg && mag > (uint64_t)INT64_MAX + 1) || (!neg && mag > (uint64_t)INT64_MAX))
		return cs_jcur_fail(c, CS_EINVAL, "expected an integer from %lld to %lld, got %.*s",
				    (long long)min, (long long)max,
				    (int)(n.stop - n.start > 40 ? 40 : n.stop - n.start), n.start);
	*out = neg ? (int64_t)(0 - mag) : (int64_t)mag;
	if (*out < min || *out > max)
		return cs_jcur_fail(c, CS_EINVAL, "expected an integer from %lld to %lld, got %lld",
				    (long long)min, (long long)max, (long long)*out);
	return 0;
}

/* ------------------------------------------------------------ skip */

static int skip_literal(cs_jcur *c, const char *lit)
{
	size_t n = strlen(lit);

	if ((size_t)(c->end - c->p) < n || memcmp(c->p, lit, n) != 0)
		return cs_jcur_fail(c, CS_EINVAL, "invalid JSON: unexpected character");
	c->p += n;
	return 0;
}

static int skip_value(cs_jcur *c, size_t depth)
{
	int ch = cs_jcur_peek(c);
	size_t len;
	num n;

	switch (ch) {
	case '{':
	case '[': {
		char close = ch == '{' ? '}' : ']';
		size_t max = c->lim ? c->lim->max_depth : 64;

		if (depth + 1 > max)
			return cs_jcur_fail(c, CS_EINVAL,
					    "JSON nested deeper than %zu levels (limits.max_json_depth)",
					    max);
		c->p++;
		if (cs_jcur_peek(c) == close) {
			c->p++;
			return 0;
		}
		for (;;) {
			if (ch == '{') {
				if (cs_jcur_peek(c) != '"')
					return cs_jcur_fail(c, CS_EINVAL, "invalid JSON: expected a member name, got %s",
							    describe(cs_jcur_peek(c)));
				if (scan_string(c, NULL, &len) ||
				    cs_jcur_expect(c, ':', "':'"))
					return -1;
			}
			if (skip_value(c, depth + 1))
				return -1;
			ch = cs_jcur_peek(c);
			if (ch == ',') {
				c->p++;
				ch = close == '}' ? '{' : '[';
				continue;
			}
			if (ch == close) {
				c->p++;
				return 0;
			}
			return cs_jcur_fail(c, CS_EINVAL, "invalid JSON: expected ',' or '%c', got %s",
					    close, describe(ch));
		}
	}
	case '"':
		return scan_string(c, NULL, &len);
	case 't':
		return skip_literal(c, "true");
	case 'f':
		return skip_literal(c, "false");
	case 'n':
		return skip_literal(c, "null");
	case 0:
		return cs_jcur_fail(c, CS_EINVAL, "invalid JSON: unexpected end");
	default:
		if (ch == '-' || (ch >= '0' && ch <= '9'))
			return scan_number(c, &n);
		return cs_jcur_fail(c, CS_EINVAL, "invalid JSON: unexpected character '%c'",
				    ch >= 0x20 && ch < 0x7f ? ch : '?');
	}
}

int cs_jcur_skip(cs_jcur *c, const char **start, const char **stop)
{
	cs_jcur_peek(c);
	if (start)
		*start = c->p;
	if (skip_value(c, 0))
		return -1;
	if (stop)
		*stop = c->p;
	return 0;
}

/* ------------------------------------------------------------ tensors */

int cs_json_tensor_check_size(cs_dtype dtype, int32_t ndim,
			      const int64_t *shape, const cs_json_limits *lim,
			      const char *name, char *err, size_t errlen)
{
	int64_t numel = cs_shape_numel(ndim, shape);
	size_t esize = cs_dtype_size(dtype);

	if (numel < 0 || (uint64_t)numel > lim->max_elements) {
		snprintf(err, errlen,
			 "tensor '%s' has more than %llu elements (limits.max_tensor_elements)",
			 name, (unsigned long long)lim->max_elements);
		return CS_ETOOLARGE;
	}
	if (esize && (uint64_t)numel > lim->max_bytes / esize) {
		snprintf(err, errlen,
			 "tensor '%s' needs %llu bytes, over the limit of %zu (limits.max_tensor_bytes)",
			 name, (unsigned long long)numel * esize, lim->max_bytes);
		return CS_ETOOLARGE;
	}
	return 0;
}

typedef struct decoder {
	cs_jcur *c;
	cs_dtype dtype;
	int32_t ndim;
	const int64_t *shape;
	uint64_t numel;
	uint64_t idx;      /* elements written */
	int mode;          /* 0 unknown, 1 flat, 2 nested */
	unsigned char *buf;
	size_t off;        /* BYTES: bytes written */
	size_t cap;        /* BYTES: room in buf */
	size_t esize;      /* bytes per element (0 for BYTES) */
} decoder;

static int range_fail(decoder *d, const num *n)
{
	return cs_jcur_fail(d->c, CS_EINVAL, "data[%llu]: %.*s is out of range for %s",
			    (unsigned long long)d->idx,
			    (int)(n->stop - n->start > 40 ? 40 : n->stop - n->start),
			    n->start, cs_dtype_name(d->dtype));
}

/* Decodes one leaf value into element d->idx. */
static int dec_leaf(decoder *d)
{
	cs_jcur *c = d->c;
	int ch = cs_jcur_peek(c);
	unsigned char *dst;
	num n;

	if (d->idx >= d->numel)
		return cs_jcur_fail(c, CS_EINVAL, "data holds more than the %llu elements of the shape",
				    (unsigned long long)d->numel);
	if (d->dtype == CS_BYTES) {
		size_t len;
		uint32_t l32;

		if (ch != '"')
			return cs_jcur_fail(c, CS_EINVAL, "data[%llu]: BYTES elements must be strings, got %s",
					    (unsigned long long)d->idx, describe(ch));
		if (d->cap - d->off < 4)
			return cs_jcur_fail(c, CS_EBACKEND, "BYTES buffer overflow");
		dst = d->buf + d->off + 4;
		if (scan_string(c, (char *)dst, &len))
			return -1;
		l32 = (uint32_t)len;
		memcpy(d->buf + d->off, &l32, 4);
		d->off += 4 + len;
		d->idx++;
		return 0;
	}
	dst = d->buf + d->idx * d->esize;
	if (d->dtype == CS_BOOL) {
		if (ch == 't' && !skip_literal(c, "true"))
			*dst = 1;
		else if (ch == 'f' && !skip_literal(c, "false"))
			*dst = 0;
		else
			return cs_jcur_fail(c, CS_EINVAL, "data[%llu]: BOOL elements must be true or false, got %s",
					    (unsigned long long)d->idx, describe(ch));
		d->idx++;
		return 0;
	}
	if (ch != '-' && (ch < '0' || ch > '9'))
		return cs_jcur_fail(c, CS_EINVAL, "data[%llu]: %s elements must be numbers, got %s",
				    (unsigned long long)d->idx,
				    cs_dtype_name(d->dtype), describe(ch));
	if (scan_number(c, &n))
		return -1;
	switch (d->dtype) {
	case CS_FP32: {
		double v = num_double(&n);
		float f = (float)v;

		if (!isfinite(f))
			return range_fail(d, &n);
		memcpy(dst, &f, 4);
		break;
	}
	case CS_FP64: {
		double v = num_double(&n);

		if (!isfinite(v))
			return range_fail(d, &n);
		memcpy(dst, &v, 8);
		break;
	}
	case CS_FP16: {
		double v = num_double(&n);
		uint16_t h;

		if (!isfinite(v) || fabs(v) > 65504.0)
			return range_fail(d, &n);
		h = cs_fp32_to_fp16((float)v);
		memcpy(dst, &h, 2);
		break;
	}
	default: {
		static const struct { int64_t min; uint64_t max; } r[] = {
			[CS_UINT8] = {0, UINT8_MAX}, [CS_UINT16] = {0, UINT16_MAX},
			[CS_UINT32] = {0, UINT32_MAX}, [CS_UINT64] = {0, UINT64_MAX},
			[CS_INT8] = {INT8_MIN, INT8_MAX}, [CS_INT16] = {INT16_MIN, INT16_MAX},
			[CS_INT32] = {INT32_MIN, INT32_MAX}, [CS_INT64] = {INT64_MIN, INT64_MAX},
		};
		uint64_t mag, u;
		int neg, rc = num_integer(&n, &neg, &mag);

		if (rc == -2)
			return cs_jcur_fail(c, CS_EINVAL, "data[%llu]: %.*s is not an integer (%s)",
					    (unsigned long long)d->idx,
					    (int)(n.stop - n.start > 40 ? 40 : n.stop - n.start),
					    n.start, cs_dtype_name(d->dtype));
		if (rc || (neg && (r[d->dtype].min == 0 ||
				   mag > (uint64_t)0 - (uint64_t)r[d->dtype].min)) ||
		    (!neg && mag > r[d->dtype].max))
			return range_fail(d, &n);
		u = neg ? (uint64_t)0 - mag : mag; /* two's complement */
		switch (cs_dtype_size(d->dtype)) {
		case 1: { uint8_t v = (uint8_t)u; memcpy(dst, &v, 1); break; }
		case 2: { uint16_t v = (uint16_t)u; memcpy(dst, &v, 2); break; }
		case 4: { uint32_t v = (uint32_t)u; memcpy(dst, &v, 4); break; }
		default: memcpy(dst, &u, 8); break;
		}
		break;
	}
	}
	d->idx++;
	return 0;
}

/* Decodes the array at the cursor, at nesting depth (1 = the outer one). */
static int dec_array(decoder *d, int32_t depth)
{
	cs_jcur *c = d->c;
	uint64_t count = 0;
	int ch;

	c->p++; /* '[' */
	ch = cs_jcur_peek(c);
	if (ch != ']') {
		for (;;) {
			if (ch == '[') {
				if (d->mode == 1 || depth >= d->ndim)
					return cs_jcur_fail(c, CS_EINVAL,
							    "data is nested deeper than the shape's %d dimensions",
							    (int)d->ndim);
				d->mode = 2;
				if (dec_array(d, depth + 1))
					return -1;
			} else {
				if (d->mode == 0)
					d->mode = (depth == d->ndim) ? 2 : 1;
				if (d->mode == 2 && depth != d->ndim)
					return cs_jcur_fail(c, CS_EINVAL,
							    "data nesting does not match the shape: a value at depth %d of %d",
							    (int)depth, (int)d->ndim);
				if (dec_leaf(d))
					return -1;
			}
			count++;
			ch = cs_jcur_peek(c);
			if (ch == ',') {
				c->p++;
				ch = cs_jcur_peek(c);
				continue;
			}
			if (ch == ']')
				break;
			return cs_jcur_fail(c, CS_EINVAL, "invalid JSON: expected ',' or ']' in data, got %s",
					    describe(ch));
		}
	}
	c->p++; /* ']' */
	if (d->mode == 2 && (uint64_t)d->shape[depth - 1] != count)
		return cs_jcur_fail(c, CS_EINVAL,
				    "data nesting does not match the shape: dimension %d has %llu elements, the shape says %lld",
				    (int)depth - 1, (unsigned long long)count,
				    (long long)d->shape[depth - 1]);
	return 0;
}

int cs_json_tensor_decode(cs_jcur *c, cs_dtype dtype, int32_t ndim,
			  const int64_t *shape, cs_arena *a, void **data,
			  size_t *nbytes)
{
	decoder d;
	int64_t numel = cs_shape_numel(ndim, shape);
	size_t esize = cs_dtype_size(dtype);

	memset(&d, 0, sizeof d);
	if (numel < 0 || dtype == CS_DTYPE_INVALID)
		return cs_jcur_fail(c, CS_EINVAL, "invalid shape or datatype");
	if (cs_jcur_peek(c) != '[')
		return cs_jcur_fail(c, CS_EINVAL, "'data' must be an array, got %s",
				    describe(cs_jcur_peek(c)));
	d.c = c;
	d.dtype = dtype;
	d.ndim = ndim;
	d.shape = shape;
	d.numel = (uint64_t)numel;
	d.esize = esize;
	if (dtype == CS_BYTES) {
		/* decoded strings are never longer than the text they come from */
		size_t text = (size_t)(c->end - c->p);

		if ((uint64_t)numel > (SIZE_MAX - text) / 4)
			return cs_jcur_fail(c, CS_ETOOLARGE, "BYTES tensor too large");
		d.cap = text + 4 * (size_t)numel;
	} else {
		d.cap = (size_t)numel * esize;
	}
	d.buf = cs_arena_alloc(a, d.cap ? d.cap : 1);
	if (!d.buf)
		return cs_jcur_fail(c, CS_ETOOLARGE, "out of memory for a tensor of %zu bytes", d.cap);
	if (dec_array(&d, 1))
		return -1;
	if (d.idx != d.numel)
		return cs_jcur_fail(c, CS_EINVAL, "data holds %llu elements, the shape %s needs %llu",
				    (unsigned long long)d.idx,
				    cs_shape_format(ndim, shape, (char[96]){0}, 96),
				    (unsigned long long)d.numel);
	if (dtype == CS_BYTES && c->lim && d.off > c->lim->max_bytes)
		return cs_jcur_fail(c, CS_ETOOLARGE, "BYTES tensor of %zu bytes is over the limit of %zu (limits.max_tensor_bytes)",
				    d.off, c->lim->max_bytes);
	*data = d.buf;
	*nbytes = dtype == CS_BYTES ? d.off : d.cap;
	return 0;
}
