/*
 * envelope.h - the CubeAI call envelope (docs/protocol.md):
 *
 *   POST /models/<m>/api/model          {"method": "...", "kwargs": {...}}
 *   POST /models/<m>/api/stream/<method>  the raw body, to the method
 *   POST /models/<m>/api/file/<method>    multipart/form-data, the file in
 *                                         the field named after the method
 *
 * answered {"status": "ok", "value": <what the method returned>}, or a
 * method's string as raw bytes with its content type, or on failure
 * {"status": "err", "value": "message", "error": "message"} with the
 * HTTP status of the failure. Pure functions; thread-safe.
 */
#ifndef CS_ENVELOPE_H
#define CS_ENVELOPE_H

#include <stddef.h>

#include <jansson.h>

#include "core/arena.h"
#include "core/request.h"

/* One part of a multipart/form-data body (pointers into the body/arena). */
typedef struct cs_form_part {
	const char *name;          /* the form field */
	const char *filename;      /* "" when the part is no file */
	const char *content_type;  /* "application/octet-stream" by default */
	const char *data;
	size_t len;
} cs_form_part;

/*
 * Finds the part named `field` in a multipart/form-data body whose
 * Content-Type header is content_type. Returns CS_OK, CS_EMEDIA when the
 * content type is not multipart/form-data with a boundary, CS_EINVAL when
 * the body is malformed or has no such field (message in err).
 */
cs_status cs_form_find(const char *content_type, const char *body, size_t len,
		 const char *field, cs_arena *arena, cs_form_part *out,
		 char *err, size_t errlen);

/*
 * Parses an api/model body: a JSON object with a string "method" and an
 * optional object "kwargs" (default {}). On 0 *method is in the arena and
 * *kwargs a new reference (json_decref()); else CS_EINVAL (CS_ENOMEM)
 * with err.
 */
cs_status cs_envelope_parse(const char *body, size_t len, cs_arena *arena,
		      char **method, json_t **kwargs, char *err,
		      size_t errlen);

/*
 * cs_envelope_parse() for either shape: name_key "method" (api/model,
 * with "kwargs") or "action" (ServiceBoot's api/data, with "args").
 */
cs_status cs_envelope_parse_as(const char *name_key, const char *body, size_t len,
			       cs_arena *arena, char **method, json_t **args,
			       char *err, size_t errlen);

/*
 * Reads an envelope call in any of its three forms, chosen by the
 * Content-Type: JSON (or none) {name_key: "...", args: {...}}; a
 * multipart/form-data body with a field name_key naming the method, an
 * optional field with the args as JSON text, and files (*form = 1: the
 * body stays for req.files); or any other body as a stream, the method in
 * the query (?action=NAME). On CS_OK *method is in the arena and *args a
 * new reference ({} by default); else CS_EINVAL (CS_ENOMEM) with err.
 */
cs_status cs_envelope_read(const char *name_key, const char *content_type,
			   const char *query, const char *body, size_t len,
			   cs_arena *arena, char **method, json_t **args,
			   int *form, char *err, size_t errlen);

/*
 * Wraps a method's outcome into the envelope, in place: a JSON value
 * becomes {"status":"ok","value":...}; an error body {"error": m} becomes
 * {"status":"err","value":m,"error":m} (the status stays); raw bytes (the
 * method returned a string) are left as they are.
 */
void cs_envelope_wrap(cs_response *resp, int raw);

#endif
