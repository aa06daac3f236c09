/*
 * handler.c - the table from route kind to handler, and what several
 * handlers share (see handler.h).
 */
#include <string.h>
#include <strings.h>

#include "core/clock.h"
#include "serve/handler.h"

#define ROW(kind, fn, ep, flags) [kind] = {fn, ep, flags}

static const cs_handler table[] = {
	ROW(CS_ROUTE_NOT_FOUND, cs_handle_not_found, CS_EP_OTHER, 0),
	ROW(CS_ROUTE_BAD_METHOD, cs_handle_bad_method, CS_EP_OTHER, 0),
	ROW(CS_ROUTE_CALL, cs_handle_call, CS_EP_CALL, CS_HANDLER_BODY),
	ROW(CS_ROUTE_METADATA, cs_handle_metadata, CS_EP_METADATA, 0),
	ROW(CS_ROUTE_HEALTH, cs_handle_health, CS_EP_HEALTH, 0),
	ROW(CS_ROUTE_V2_SERVER, cs_handle_v2_server, CS_EP_METADATA, 0),
	ROW(CS_ROUTE_V2_LIVE, cs_handle_v2_live, CS_EP_HEALTH, 0),
	ROW(CS_ROUTE_V2_READY, cs_handle_v2_ready, CS_EP_HEALTH, 0),
	ROW(CS_ROUTE_V2_MODEL, cs_handle_v2_model, CS_EP_METADATA, 0),
	ROW(CS_ROUTE_V2_MODEL_READY, cs_handle_v2_model_ready, CS_EP_METADATA, 0),
	ROW(CS_ROUTE_V2_INFER, cs_handle_v2_infer, CS_EP_V2_INFER, CS_HANDLER_BODY),
	ROW(CS_ROUTE_METRICS, cs_handle_metrics, CS_EP_METRICS, 0),
	ROW(CS_ROUTE_STATUS, cs_handle_status, CS_EP_METRICS, 0),
	ROW(CS_ROUTE_API_MODEL, cs_handle_api, CS_EP_API,
	    CS_HANDLER_BODY | CS_HANDLER_ENVELOPE),
	ROW(CS_ROUTE_API_STREAM, cs_handle_api, CS_EP_API,
	    CS_HANDLER_BODY | CS_HANDLER_ENVELOPE),
	ROW(CS_ROUTE_API_FILE, cs_handle_api, CS_EP_API,
	    CS_HANDLER_BODY | CS_HANDLER_ENVELOPE),
	ROW(CS_ROUTE_API_DATA, cs_handle_api, CS_EP_API,
	    CS_HANDLER_BODY | CS_HANDLER_ENVELOPE),
};

const cs_handler *cs_handler_for(cs_route_kind kind)
{
	if ((size_t)kind >= sizeof table / sizeof table[0] || !table[kind].fn)
		return &table[CS_ROUTE_NOT_FOUND];
	return &table[kind];
}

/* The media type's length without parameters and trailing blanks. */
static size_t type_len(const char *ct)
{
	size_t n = strcspn(ct, ";");

	while (n && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
		n--;
	return n;
}

int cs_is_json_type(const char *ct)
{
	size_t n = type_len(ct);

	if (n == 16 && strncasecmp(ct, "application/json", 16) == 0)
		return 1;
	return n > 5 && strncasecmp(ct + n - 5, "+json", 5) == 0;
}

int cs_is_type(const char *ct, const char *type)
{
	size_t n = type_len(ct), t = strlen(type);

	return n == t && strncasecmp(ct, type, t) == 0;
}

void cs_call_json_limits(const cs_call *c, cs_json_limits *jl)
{
	const cs_limits *l = &c->srv->model->mf->limits;

	jl->max_depth = l->max_json_depth;
	jl->max_string_bytes = l->max_string_bytes;
	jl->max_elements = l->max_tensor_elements;
	jl->max_bytes = l->max_tensor_bytes;
}

cs_status cs_call_precheck_json(const cs_call *c, cs_response *resp)
{
	const cs_request *req = c->req;
	cs_json_limits jl;
	cs_jcur cur;

	cs_call_json_limits(c, &jl);
	cs_jcur_init(&cur, req->body, req->body + req->body_len, &jl);
	if (cs_jcur_skip(&cur, NULL, NULL) == 0 && cs_jcur_peek(&cur) != 0)
		cs_jcur_fail(&cur, CS_EINVAL, "invalid JSON: trailing characters after the value");
	if (!cur.status)
		return CS_OK;
	cs_response_fail(resp, cur.status, "the request body is not acceptable JSON: %s", cur.err);
	return cur.status;
}

int cs_call_timed_out(const cs_call *c, const char *when, cs_response *resp)
{
	uint64_t ms = c->srv->model->mf->limits.request_timeout_ms;
	double spent = cs_clock_mono() - c->t0 + (c->queued > 0 ? c->queued : 0);

	if (spent <= (double)ms / 1000.0)
		return 0;
	cs_response_fail(resp, CS_ETIMEOUT,
			 "the request took %.0f ms %s, over the limit of %llu ms (limits.request_timeout_ms)",
			 spent * 1000, when, (unsigned long long)ms);
	return 1;
}

int cs_query_has(const char *q, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = q; p && *p;) {
		if (strncmp(p, name, n) == 0 && (p[n] == '\0' || p[n] == '&' || p[n] == '='))
			return 1;
		p = strchr(p, '&');
		if (p)
			p++;
	}
	return 0;
}
