/*
 * fcgi.c - FastCGI 1.0 records in and out (see fcgi.h).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/fcgi.h"

long cs_fcgi_next(const unsigned char *buf, size_t len, cs_fcgi_record *rec)
{
	size_t clen, plen;

	if (len < CS_FCGI_HEADER_LEN)
		return 0;
	if (buf[0] != 1)
		return -1;
	clen = (size_t)buf[4] << 8 | buf[5];
	plen = buf[6];
	if (len < CS_FCGI_HEADER_LEN + clen + plen)
		return 0;
	rec->type = buf[1];
	rec->id = (int)((unsigned)buf[2] << 8 | buf[3]);
	rec->content = buf + CS_FCGI_HEADER_LEN;
	rec->len = clen;
	return (long)(CS_FCGI_HEADER_LEN + clen + plen);
}

/* One length of a pair: 1 byte, or 4 with the high bit set. */
static int pair_len(const unsigned char *p, size_t len, size_t *at, size_t *out)
{
	if (*at >= len)
		return -1;
	if (!(p[*at] & 0x80)) {
		*out = p[(*at)++];
		return 0;
	}
	if (len - *at < 4)
		return -1;
	*out = ((size_t)(p[*at] & 0x7f) << 24) | ((size_t)p[*at + 1] << 16) |
	       ((size_t)p[*at + 2] << 8) | p[*at + 3];
	*at += 4;
	return 0;
}

int cs_fcgi_params(const unsigned char *p, size_t len, cs_fcgi_pair_fn fn,
		   void *arg)
{
	size_t at = 0;

	while (at < len) {
		size_t nl, vl;
		int rc;

		if (pair_len(p, len, &at, &nl) || pair_len(p, len, &at, &vl))
			return -1;
		if (nl > len - at || vl > len - at - nl)
			return -1;
		rc = fn(arg, p + at, nl, p + at + nl, vl);
		if (rc)
			return rc;
		at += nl + vl;
	}
	return 0;
}

static int reserve(cs_fcgi_buf *b, size_t more)
{
	size_t cap;
	unsigned char *p;

	if (b->cap - b->len >= more)
		return 0;
	if (b->off) { /* slide what is left to the front first */
		memmove(b->p, b->p + b->off, b->len - b->off);
		b->len -= b->off;
		b->off = 0;
		if (b->cap - b->len >= more)
			return 0;
	}
	cap = b->cap ? b->cap : 4096;
	while (cap - b->len < more) {
		if (cap > SIZE_MAX / 2)
			return -1;
		cap *= 2;
	}
	p = realloc(b->p, cap);
	if (!p)
		return -1;
	b->p = p;
	b->cap = cap;
	return 0;
}

static void header(unsigned char *h, int type, int id, size_t clen, size_t pad)
{
	h[0] = 1;
	h[1] = (unsigned char)type;
	h[2] = (unsigned char)(id >> 8);
	h[3] = (unsigned char)id;
	h[4] = (unsigned char)(clen >> 8);
	h[5] = (unsigned char)clen;
	h[6] = (unsigned char)pad;
	h[7] = 0;
}

int cs_fcgi_put(cs_fcgi_buf *b, int type, int id, const void *data, size_t len)
{
	const unsigned char *d = data;

	do {
		size_t n = len > CS_FCGI_MAX_CONTENT ? CS_FCGI_MAX_CONTENT : len;
		size_t pad = (8 - n % 8) % 8;

		if (reserve(b, CS_FCGI_HEADER_LEN + n + pad))
			return -1;
		header(b->p + b->len, type, id, n, pad);
		if (n)
			memcpy(b->p + b->len + CS_FCGI_HEADER_LEN, d, n);
		memset(b->p + b->len + CS_FCGI_HEADER_LEN + n, 0, pad);
		b->len += CS_FCGI_HEADER_LEN + n + pad;
		d += n;
		len -= n;
	} while (len);
	return 0;
}

int cs_fcgi_put_end(cs_fcgi_buf *b, int id, unsigned app_status,
		    int protocol_status)
{
	unsigned char *c;

	if (reserve(b, CS_FCGI_HEADER_LEN + 8))
		return -1;
	header(b->p + b->len, CS_FCGI_END_REQUEST, id, 8, 0);
	c = b->p + b->len + CS_FCGI_HEADER_LEN;
	c[0] = (unsigned char)(app_status >> 24);
	c[1] = (unsigned char)(app_status >> 16);
	c[2] = (unsigned char)(app_status >> 8);
	c[3] = (unsigned char)app_status;
	c[4] = (unsigned char)protocol_status;
	memset(c + 5, 0, 3);
	b->len += CS_FCGI_HEADER_LEN + 8;
	return 0;
}

void cs_fcgi_buf_consumed(cs_fcgi_buf *b, size_t n)
{
	b->off += n;
	if (b->off >= b->len) {
		b->off = b->len = 0;
		if (b->cap > (1u << 16)) { /* do not keep a large response's buffer */
			free(b->p);
			b->p = NULL;
			b->cap = 0;
		}
	}
}

void cs_fcgi_buf_free(cs_fcgi_buf *b)
{
	free(b->p);
	memset(b, 0, sizeof *b);
}
