/*
 * envelope.c - CubeAI call envelope: body parsing, multipart, wrapping
 * (see envelope.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/multipart.h"
#include "protocol/envelope.h"


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

/* cs_form_find's callback: keeps the first part named like the field. */
struct find_ctx {
	const char *field;
	cs_arena *arena;
	cs_form_part *out;
	char *err;
	size_t errlen;
};

static cs_status find_one(void *ud, const cs_form_field *f)
{
	struct find_ctx *c = ud;

	if (c->out->name || strcmp(f->name, c->field) != 0)
		return CS_OK;
	c->out->name = cs_arena_strdup(c->arena, f->name);
	c->out->filename = cs_arena_strdup(c->arena, f->filename);
	c->out->content_type = cs_arena_strdup(c->arena, f->content_type[0] ?
					       f->content_type : "application/octet-stream");
	c->out->data = f->data;
	c->out->len = f->len;
	if (!c->out->name || !c->out->filename || !c->out->content_type)
		return fail(c->err, c->errlen, CS_ENOMEM, "out of memory");
	return CS_OK;
}

cs_status cs_form_find(const char *content_type, const char *body, size_t len,
		 const char *field, cs_arena *arena, cs_form_part *out,
		 char *err, size_t errlen)
{
	struct find_ctx c = {field, arena, out, err, errlen};
	cs_status rc;

	memset(out, 0, sizeof(*out));
	if (!content_type || strncasecmp(content_type, "multipart/form-data", 19) != 0)
		return fail(err, errlen, CS_EMEDIA,
			    "expected Content-Type multipart/form-data with the file in the field '%s', got '%.64s'",
			    field, content_type && *content_type ? content_type : "(none)");
	rc = cs_form_each(content_type, body, len, find_one, &c, err, errlen);
	if (rc)
		return rc;
	if (!out->name)
		return fail(err, errlen, CS_EINVAL, "the multipart body has no field named '%s' (the file goes in the field named after the method)",
			    field);
	return CS_OK;
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
		s = o ? json_dumps(o, JSON_COMPACT) : NULL;
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
