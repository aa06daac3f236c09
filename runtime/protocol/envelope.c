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

/* The shape of a call envelope: api/model or api/data. */
static const char *args_key(const char *name_key)
{
	return strcmp(name_key, "action") == 0 ? "args" : "kwargs";
}

cs_status cs_envelope_parse_as(const char *name_key, const char *body, size_t len,
			       cs_arena *arena, char **method, json_t **args,
			       char *err, size_t errlen)
{
	const char *akey = args_key(name_key);
	json_error_t jerr;
	json_t *root, *m, *k;
	const char *key;
	json_t *v;

	if (len == 0)
		return fail(err, errlen, CS_EINVAL, "the request has no body; expected {\"%s\": \"...\", \"%s\": {...}}",
			    name_key, akey);
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return fail(err, errlen, CS_EINVAL, "the request body is not valid JSON: line %d column %d: %s",
			    jerr.line, jerr.column, jerr.text);
	if (!json_is_object(root)) {
		json_decref(root);
		return fail(err, errlen, CS_EINVAL, "expected a JSON object {\"%s\": \"...\", \"%s\": {...}}",
			    name_key, akey);
	}
	json_object_foreach(root, key, v) {
		if (strcmp(key, name_key) && strcmp(key, akey)) {
			fail(err, errlen, CS_EINVAL, "unknown member '%.64s' (expected %s, %s)", key,
			     name_key, akey);
			json_decref(root);
			return CS_EINVAL;
		}
	}
	m = json_object_get(root, name_key);
	k = json_object_get(root, akey);
	if (!json_is_string(m) || json_string_length(m) == 0) {
		json_decref(root);
		return fail(err, errlen, CS_EINVAL, "'%s' must be the name of a method (a non-empty string)",
			    name_key);
	}
	if (k && !json_is_object(k)) {
		json_decref(root);
		return fail(err, errlen, CS_EINVAL, "'%s' must be an object of named arguments", akey);
	}
	*method = cs_arena_strdup(arena, json_string_value(m));
	*args = k ? json_incref(k) : json_object();
	json_decref(root);
	if (!*method || !*args) {
		json_decref(*args);
		return fail(err, errlen, CS_ENOMEM, "out of memory");
	}
	return 0;
}

cs_status cs_envelope_parse(const char *body, size_t len, cs_arena *arena,
		      char **method, json_t **kwargs, char *err,
		      size_t errlen)
{
	return cs_envelope_parse_as("method", body, len, arena, method, kwargs,
				    err, errlen);
}

/* Whether a Content-Type is JSON (application/json or +json). */
static int is_json(const char *ct)
{
	size_t n = strcspn(ct, ";");

	while (n && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
		n--;
	return (n == 16 && strncasecmp(ct, "application/json", 16) == 0) ||
	       (n > 5 && strncasecmp(ct + n - 5, "+json", 5) == 0);
}

/* The form variant: the name and args fields of a multipart body. */
struct form_ctx {
	const char *name_key, *akey;
	cs_arena *arena;
	char *method;
	json_t *args;
	char *err;
	size_t errlen;
};

static cs_status form_field(void *ud, const cs_form_field *f)
{
	struct form_ctx *c = ud;
	json_error_t jerr;

	if (f->is_file)
		return CS_OK;
	if (strcmp(f->name, c->name_key) == 0 && !c->method) {
		c->method = cs_arena_alloc(c->arena, f->len + 1);
		if (!c->method)
			return fail(c->err, c->errlen, CS_ENOMEM, "out of memory");
		memcpy(c->method, f->data, f->len);
		c->method[f->len] = '\0';
	} else if (strcmp(f->name, c->akey) == 0 && !c->args) {
		c->args = json_loadb(f->data, f->len, JSON_REJECT_DUPLICATES, &jerr);
		if (!c->args || !json_is_object(c->args))
			return fail(c->err, c->errlen, CS_EINVAL,
				    "the multipart field '%s' must be a JSON object of named arguments%s%s",
				    c->akey, c->args ? "" : ": ", c->args ? "" : jerr.text);
	}
	return CS_OK;
}

/* Copies the value of ?key=... (a plain name, no escapes) into the arena. */
static char *query_value(const char *q, const char *key, cs_arena *arena)
{
	size_t kl = strlen(key);

	while (q && *q) {
		size_t n = strcspn(q, "&");

		if (n > kl && strncmp(q, key, kl) == 0 && q[kl] == '=') {
			char *v = cs_arena_alloc(arena, n - kl);

			if (v) {
				memcpy(v, q + kl + 1, n - kl - 1);
				v[n - kl - 1] = '\0';
			}
			return v;
		}
		q += n + (q[n] == '&');
	}
	return NULL;
}

cs_status cs_envelope_read(const char *name_key, const char *content_type,
			   const char *query, const char *body, size_t len,
			   cs_arena *arena, char **method, json_t **args,
			   int *form, char *err, size_t errlen)
{
	struct form_ctx c = {name_key, args_key(name_key), arena, NULL, NULL, err, errlen};
	cs_status rc;

	*form = 0;
	*args = NULL;
	if (!content_type || !*content_type || is_json(content_type))
		return cs_envelope_parse_as(name_key, body, len, arena, method, args,
					    err, errlen);
	if (strncasecmp(content_type, "multipart/form-data", 19) == 0) {
		rc = cs_form_each(content_type, body, len, form_field, &c, err, errlen);
		if (rc) {
			json_decref(c.args);
			return rc;
		}
		if (!c.method || !c.method[0]) {
			json_decref(c.args);
			return fail(err, errlen, CS_EINVAL, "the multipart body has no field '%s' naming the method",
				    name_key);
		}
		*method = c.method;
		*args = c.args ? c.args : json_object();
		*form = 1;
		return *args ? CS_OK : fail(err, errlen, CS_ENOMEM, "out of memory");
	}
	/* the stream variant: any other body, the method in the query */
	*method = query_value(query, name_key, arena);
	if (!*method || !**method)
		return fail(err, errlen, CS_EINVAL,
			    "a %.64s body needs the method in the query (?%s=NAME); or send JSON {\"%s\": ..., \"%s\": {...}} or multipart/form-data",
			    content_type, name_key, name_key, args_key(name_key));
	*args = json_object();
	return *args ? CS_OK : fail(err, errlen, CS_ENOMEM, "out of memory");
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
