/*
 * multipart.c - a multipart/form-data reader (see multipart.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/multipart.h"

#define MAX_PARTS 64
#define MAX_BOUNDARY 70 /* RFC 2046 */

static cs_status fail(char *err, size_t errlen, cs_status status, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static cs_status fail(char *err, size_t errlen, cs_status status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return status;
}

static const char *memmem_s(const char *h, size_t hn, const char *n, size_t nn)
{
	return memmem(h, hn, n, nn);
}

/*
 * Reads parameter `key` (e.g. boundary, name, filename) from a header
 * value "type; k=v; k2="v2"". Writes it NUL-terminated into dst. Returns 0
 * when found.
 */
static int header_param(const char *v, const char *vend, const char *key,
			char *dst, size_t dstlen)
{
	size_t klen = strlen(key);
	const char *p = v;

	while (p < vend) {
		const char *semi = memchr(p, ';', (size_t)(vend - p));
		const char *q;
		size_t n = 0;

		if (!semi)
			return -1;
		p = semi + 1;
		while (p < vend && (*p == ' ' || *p == '\t'))
			p++;
		if ((size_t)(vend - p) <= klen || strncasecmp(p, key, klen) != 0 ||
		    p[klen] != '=')
			continue;
		q = p + klen + 1;
		if (q < vend && *q == '"') {
			q++;
			while (q < vend && *q != '"') {
				if (*q == '\\' && q + 1 < vend)
					q++;
				if (n + 1 >= dstlen)
					return -1;
				dst[n++] = *q++;
			}
			if (q >= vend)
				return -1;
		} else {
			while (q < vend && *q != ';' && *q != ' ' && *q != '\t') {
				if (n + 1 >= dstlen)
					return -1;
				dst[n++] = *q++;
			}
		}
		dst[n] = '\0';
		return 0;
	}
	return -1;
}

cs_status cs_form_each(const char *content_type, const char *body, size_t len,
		 cs_status (*fn)(void *ud, const cs_form_field *f), void *ud,
		 char *err, size_t errlen)
{
	char boundary[MAX_BOUNDARY + 1], delim[MAX_BOUNDARY + 8];
	char crlf_delim[MAX_BOUNDARY + 10];
	const char *ct_end, *p, *end = body + len;
	size_t dlen, cdlen;
	int parts = 0;

	if (!content_type || strncasecmp(content_type, "multipart/form-data", 19) != 0)
		return fail(err, errlen, CS_EMEDIA, "expected Content-Type multipart/form-data, got '%.64s'",
			    content_type && *content_type ? content_type : "(none)");
	ct_end = content_type + strlen(content_type);
	if (header_param(content_type, ct_end, "boundary", boundary, sizeof boundary) ||
	    !boundary[0])
		return fail(err, errlen, CS_EINVAL, "multipart/form-data without a usable boundary (1..70 characters)");
	dlen = (size_t)snprintf(delim, sizeof delim, "--%s", boundary);
	cdlen = (size_t)snprintf(crlf_delim, sizeof crlf_delim, "\r\n%s", delim);

	/* the first delimiter: at the start, or after a preamble and CRLF */
	if (len >= dlen && memcmp(body, delim, dlen) == 0) {
		p = body + dlen;
	} else {
		const char *q = memmem_s(body, len, crlf_delim, cdlen);

		if (!q)
			return fail(err, errlen, CS_EINVAL, "multipart body without the boundary '%s' (a wrong boundary in the Content-Type?)",
				    boundary);
		p = q + cdlen;
	}
	for (;;) {
		cs_form_field f;
		const char *hdr_end, *next, *h;
		int have_disp = 0;
		cs_status rc;

		memset(&f, 0, sizeof f);
		/* after a delimiter: "--" ends the body, CRLF starts a part */
		if (end - p >= 2 && p[0] == '-' && p[1] == '-')
			break;
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		if (p == end)
			return fail(err, errlen, CS_EINVAL, "the multipart body has no closing boundary '%s--'", delim);
		if (end - p < 2 || p[0] != '\r' || p[1] != '\n')
			return fail(err, errlen, CS_EINVAL, "malformed multipart body: no CRLF after a boundary");
		p += 2;
		if (++parts > MAX_PARTS)
			return fail(err, errlen, CS_EINVAL, "multipart body with more than %d parts", MAX_PARTS);
		hdr_end = memmem_s(p, (size_t)(end - p), "\r\n\r\n", 4);
		if (!hdr_end) {
			if (end - p >= 2 && p[0] == '\r' && p[1] == '\n')
				hdr_end = p - 2; /* a part without headers */
			else
				return fail(err, errlen, CS_EINVAL, "malformed multipart body: unterminated part headers");
		}
		for (h = p; h < hdr_end;) {
			const char *eol = memmem_s(h, (size_t)(hdr_end - h), "\r\n", 2);
			const char *colon;

			if (!eol)
				eol = hdr_end;
			colon = memchr(h, ':', (size_t)(eol - h));
			if (!colon)
				return fail(err, errlen, CS_EINVAL, "malformed multipart part header");
			if ((size_t)(colon - h) == 19 && strncasecmp(h, "Content-Disposition", 19) == 0) {
				const char *v = colon + 1;

				while (v < eol && *v == ' ')
					v++;
				if ((size_t)(eol - v) < 9 || strncasecmp(v, "form-data", 9) != 0)
					return fail(err, errlen, CS_EINVAL, "multipart part is not form-data");
				if (header_param(v, eol, "name", f.name, sizeof f.name))
					return fail(err, errlen, CS_EINVAL, "multipart part without a usable name");
				if (header_param(v, eol, "filename", f.filename, sizeof f.filename) == 0)
					f.is_file = 1;
				have_disp = 1;
			} else if ((size_t)(colon - h) == 12 && strncasecmp(h, "Content-Type", 12) == 0) {
				const char *v = colon + 1;
				size_t n;

				while (v < eol && *v == ' ')
					v++;
				n = (size_t)(eol - v);
				if (n >= sizeof f.content_type || memchr(v, '\0', n))
					return fail(err, errlen, CS_EINVAL, "multipart part Content-Type too long");
				memcpy(f.content_type, v, n);
				f.content_type[n] = '\0';
			}
			h = eol + 2;
		}
		if (!have_disp)
			return fail(err, errlen, CS_EINVAL, "multipart part without Content-Disposition");
		p = hdr_end + 4;
		next = memmem_s(p, (size_t)(end - p), crlf_delim, cdlen);
		if (!next)
			return fail(err, errlen, CS_EINVAL, "multipart part '%s' does not end with the boundary (a truncated body, or no closing boundary '%s--')",
				    f.name, delim);
		f.data = p;
		f.len = (size_t)(next - p);
		if ((rc = fn(ud, &f)))
			return rc;
		p = next + cdlen;
	}
	return 0;
}

