/*
 * envelope.c - CubeAI call envelope: body parsing, multipart, wrapping
 * (see envelope.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/json_out.h"
#include "protocol/envelope.h"

#define MAX_PARTS 64
#define MAX_BOUNDARY 70 /* RFC 2046 */

static int fail(char *err, size_t errlen, cs_status status, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail(char *err, size_t errlen, cs_status status, const char *fmt, ...)
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

cs_status cs_form_find(const char *content_type, const char *body, size_t len,
		 const char *field, cs_arena *arena, cs_form_part *out,
		 char *err, size_t errlen)
{
	char boundary[MAX_BOUNDARY + 1], delim[MAX_BOUNDARY + 8];
	const char *ct_end, *p, *end = body + len;
	size_t dlen;
	int parts = 0;

	memset(out, 0, sizeof(*out));
	if (!content_type || strncasecmp(content_type, "multipart/form-data", 19) != 0)
		return fail(err, errlen, CS_EMEDIA,
			    "expected Content-Type multipart/form-data with the file in the field '%s', got '%.64s'",
			    field, content_type && *content_type ? content_type : "(none)");
	ct_end = content_type + strlen(content_type);
	if (header_param(content_type, ct_end, "boundary", boundary, sizeof boundary) ||
	    !boundary[0])
		return fail(err, errlen, CS_EINVAL, "multipart/form-data without a usable boundary (1..70 characters)");
	dlen = (size_t)snprintf(delim, sizeof delim, "--%s", boundary);

	/* the first delimiter: at the start, or after a preamble and CRLF */
	if (len >= dlen && memcmp(body, delim, dlen) == 0) {
		p = body + dlen;
	} else {
		char crlf_delim[MAX_BOUNDARY + 10];
		size_t n = (size_t)snprintf(crlf_delim, sizeof crlf_delim, "\r\n%s", delim);
		const char *q = memmem_s(body, len, crlf_delim, n);

		if (!q)
			return fail(err, errlen, CS_EINVAL, "multipart body without the boundary '%s'", boundary);
		p = q + n;
	}
	for (;;) {
		char name[256] = "", filename[256] = "", ctype[128] = "";
		const char *hdr_end, *next, *h;
		int have_disp = 0;

		/* after a delimiter: "--" ends the body, CRLF starts a part */
		if (end - p >= 2 && p[0] == '-' && p[1] == '-')
			break;
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
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
				if (header_param(v, eol, "name", name, sizeof name))
					return fail(err, errlen, CS_EINVAL, "multipart part without a usable name");
				header_param(v, eol, "filename", filename, sizeof filename);
				have_disp = 1;
			} else if ((size_t)(colon - h) == 12 && strncasecmp(h, "Content-Type", 12) == 0) {
				const char *v = colon + 1;
				size_t n;

				while (v < eol && *v == ' ')
					v++;
				n = (size_t)(eol - v);
				if (n >= sizeof ctype || memchr(v, '\0', n))
					return fail(err, errlen, CS_EINVAL, "multipart part Content-Type too long");
				memcpy(ctype, v, n);
				ctype[n] = '\0';
			}
			h = eol + 2;
		}
		if (!have_disp)
			return fail(err, errlen, CS_EINVAL, "multipart part without Content-Disposition");
		p = hdr_end + 4;
		{
			char crlf_delim[MAX_BOUNDARY + 10];
			size_t n = (size_t)snprintf(crlf_delim, sizeof crlf_delim, "\r\n%s", delim);

			next = memmem_s(p, (size_t)(end - p), crlf_delim, n);
			if (!next)
				return fail(err, errlen, CS_EINVAL, "malformed multipart body: a part does not end with the boundary");
			if (!out->name && strcmp(name, field) == 0) {
				out->name = cs_arena_strdup(arena, name);
				out->filename = cs_arena_strdup(arena, filename);
				out->content_type = cs_arena_strdup(arena, ctype[0] ? ctype : "application/octet-stream");
				out->data = p;
				out->len = (size_t)(next - p);
				if (!out->name || !out->filename || !out->content_type)
					return fail(err, errlen, CS_ENOMEM, "out of memory");
			}
			p = next + n;
		}
	}
	if (!out->name)
		return fail(err, errlen, CS_EINVAL, "the multipart body has no field named '%s' (the file goes in the field named after the method)",
			    field);
	return 0;
}

cs_status cs_envelope_parse(const char *body, size_t len, cs_arena *arena,
		      char **method, json_t **kwargs, char *err,
		      size_t errlen)
{
	json_error_t jerr;
	json_t *root, *m, *k;
	const char *key;
	json_t *v;

	if (len == 0)
		return fail(err, errlen, CS_EINVAL, "the request has no body; expected {\"method\": \"...\", \"kwargs\": {...}}");
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return fail(err, errlen, CS_EINVAL, "the request body is not valid JSON: line %d column %d: %s",
			    jerr.line, jerr.column, jerr.text);
	if (!json_is_object(root)) {
		json_decref(root);
		return fail(err, errlen, CS_EINVAL, "expected a JSON object {\"method\": \"...\", \"kwargs\": {...}}");
	}
	json_object_foreach(root, key, v) {
		if (strcmp(key, "method") && strcmp(key, "kwargs")) {
			fail(err, errlen, CS_EINVAL, "unknown member '%.64s' (expected method, kwargs)", key);
			json_decref(root);
			return CS_EINVAL;
		}
	}
	m = json_object_get(root, "method");
	k = json_object_get(root, "kwargs");
	if (!json_is_string(m) || json_string_length(m) == 0) {
		json_decref(root);
		return fail(err, errlen, CS_EINVAL, "'method' must be the name of a method (a non-empty string)");
	}
	if (k && !json_is_object(k)) {
		json_decref(root);
		return fail(err, errlen, CS_EINVAL, "'kwargs' must be an object of named arguments");
	}
	*method = cs_arena_strdup(arena, json_string_value(m));
	*kwargs = k ? json_incref(k) : json_object();
	json_decref(root);
	if (!*method || !*kwargs) {
		json_decref(*kwargs);
		return fail(err, errlen, CS_ENOMEM, "out of memory");
	}
	return 0;
}

void cs_envelope_wrap(cs_response *resp, int raw)
{
	char *body;
	size_t n;

	if (raw)
		return;
	if (resp->status >= 400) {
		json_t *e = json_loadb(resp->body ? resp->body : "", resp->len, 0, NULL);
		json_t *msg = e ? json_object_get(e, "error") : NULL;
		json_t *fallback = json_string("request failed");
		json_t *o;
		char *s;

		if (!json_is_string(msg))
			msg = fallback;
		o = json_pack("{s:s,s:O,s:O}", "status", "err", "value", msg,
			      "error", msg);
		json_decref(fallback);
		json_decref(e);
		s = o ? cs_json_dumps(o, NULL) : NULL;
		json_decref(o);
		if (s)
			cs_response_take(resp, resp->status, "application/json", s, strlen(s));
		return;
	}
	/* {"status":"ok","value":<the JSON as it is>} */
	n = resp->len + 28;
	body = malloc(n + 1);
	if (!body) {
		cs_response_fail(resp, CS_ENOMEM, "out of memory");
		return;
	}
	memcpy(body, "{\"status\":\"ok\",\"value\":", 23);
	memcpy(body + 23, resp->body, resp->len);
	memcpy(body + 23 + resp->len, "}", 2);
	cs_response_take(resp, resp->status, "application/json", body, resp->len + 24);
}
