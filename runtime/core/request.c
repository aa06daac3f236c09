/*
 * request.c - request params and response building (see request.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json_out.h"
#include "core/request.h"
#include "core/status.h"

const char *cs_request_param(const cs_request *req, const char *name)
{
	size_t n = strlen(name);

	if (!req->envp)
		return NULL;
	for (char **e = req->envp; *e; e++)
		if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
			return *e + n + 1;
	return NULL;
}

void cs_response_reset(cs_response *r)
{
	free(r->body);
	memset(r, 0, sizeof(*r));
}

void cs_response_take(cs_response *r, int status, const char *content_type,
		      char *body, size_t len)
{
	free(r->body);
	r->status = status;
	snprintf(r->content_type, sizeof r->content_type, "%s", content_type);
	r->body = body;
	r->len = len;
}

void cs_response_json(cs_response *r, int status, const json_t *v)
{
	char *s = cs_json_dumps(v, NULL);

	if (!s) {
		cs_response_fail(r, CS_EBACKEND, "cannot encode the response as JSON");
		return;
	}
	cs_response_take(r, status, "application/json", s, strlen(s));
}

void cs_response_header(cs_response *r, const char *fmt, ...)
{
	size_t off = strlen(r->headers);
	va_list ap;
	int n;

	if (sizeof r->headers - off < 4)
		return;
	va_start(ap, fmt);
	n = vsnprintf(r->headers + off, sizeof r->headers - off - 2, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof r->headers - off - 2 ||
	    strpbrk(r->headers + off, "\r\n")) {
		r->headers[off] = '\0'; /* too long or a header injection */
		return;
	}
	memcpy(r->headers + off + n, "\r\n", 3);
}

void cs_response_fail(cs_response *r, cs_status st, const char *fmt, ...)
{
	int status = cs_status_http(st);
	char msg[1024];
	json_t *o;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	r->headers[0] = '\0'; /* an error carries no success headers */
	/* jansson refuses invalid UTF-8; a message quoting client bytes may hold some */
	o = json_pack("{s:s%}", "error", msg, strlen(msg));
	if (!o)
		o = json_pack("{s:s}", "error", "request failed (the error message was not valid UTF-8)");
	if (o) {
		char *s = json_dumps(o, JSON_COMPACT);

		json_decref(o);
		if (s) {
			cs_response_take(r, status, "application/json", s,
					 strlen(s));
			return;
		}
	}
	{
		static const char oom[] = "{\"error\":\"out of memory\"}";
		char *s = strdup(oom);

		cs_response_take(r, s ? status : 500, "application/json", s,
				 s ? sizeof oom - 1 : 0);
	}
}
