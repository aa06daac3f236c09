/*
 * dispatch.c - one request: params to cs_request, the checks every request
 * gets, the body, the handler (see dispatch.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "protocol/envelope.h"
#include "serve/dispatch.h"
#include "serve/gateway.h"
#include "serve/handler.h"

/*
 * Reads the body into the arena. Returns CS_OK, or a cs_status with the
 * response already set.
 */
static cs_status read_body(cs_server *s, const cs_dispatch_src *src,
			   cs_request *req, cs_arena *arena, cs_response *resp)
{
	size_t max = s->model->mf->limits.max_body_bytes;
	const char *cl = FCGX_GetParam("CONTENT_LENGTH", src->envp);
	size_t want, got = 0;
	char *end;

	req->body = "";
	req->body_len = 0;
	if (cl && *cl) {
		unsigned long long v;

		errno = 0;
		v = strtoull(cl, &end, 10);
		if (errno || *end || cl[0] == '-') {
			cs_response_fail(resp, CS_EINVAL, "bad Content-Length '%.32s'", cl);
			return CS_EINVAL;
		}
		if (v > max) {
			cs_response_fail(resp, CS_ETOOLARGE,
					  "request body of %llu bytes is over this model's limit of %zu bytes (limits.max_body_bytes)",
					  v, max);
			return CS_ETOOLARGE;
		}
		want = (size_t)v;
	} else {
		want = max + 1; /* no length given: read to the end, up to the limit */
	}
	if (want == 0)
		return CS_OK;
	if (!src->in) { /* already read by the transport */
		got = src->body_len < want ? src->body_len : want; /* the rest: drained */
		req->body = src->body;
		req->body[got] = '\0';
		goto out_check;
	}
	req->body = cs_arena_alloc(arena, want + 1);
	if (!req->body) {
		cs_response_fail(resp, CS_ENOMEM, "out of memory reading a body of %zu bytes", want);
		return CS_ENOMEM;
	}
	while (got < want) {
		size_t chunk = want - got > (1u << 30) ? (1u << 30) : want - got;
		int n = FCGX_GetStr(req->body + got, (int)chunk, src->in);

		if (n <= 0)
			break;
		got += (size_t)n;
	}
	req->body[got] = '\0';
out_check:
	req->body_len = got;
	if (cl && *cl && got != want) {
		cs_response_fail(resp, CS_EINVAL,
				  "request body ended after %zu of %zu bytes", got, want);
		return CS_EINVAL;
	}
	if (got > max) {
		cs_response_fail(resp, CS_ETOOLARGE,
				  "request body is over this model's limit of %zu bytes (limits.max_body_bytes)",
				  max);
		return CS_ETOOLARGE;
	}
	return CS_OK;
}

double cs_dispatch_queue_seconds(char **envp)
{
	const char *v = FCGX_GetParam("CS_REQUEST_START", envp);
	double start, now;
	char *end;

	if (!v || !*v)
		return -1;
	start = strtod(v, &end);
	if (*end || !(start > 0))
		return -1;
	now = cs_clock_wall();
	return now >= start ? now - start : 0;
}

/* Fills req from the FastCGI params; strings point into them or the arena. */
static void read_params(char **envp, cs_arena *arena, cs_request *req)
{
	const char *p;

	memset(req, 0, sizeof *req);
	req->envp = envp;
	req->method = (p = FCGX_GetParam("REQUEST_METHOD", envp)) ? p : "GET";
	req->query = (p = FCGX_GetParam("QUERY_STRING", envp)) ? p : "";
	req->content_type = (p = FCGX_GetParam("CONTENT_TYPE", envp)) ? p : "";
	req->request_id = (p = FCGX_GetParam("HTTP_X_REQUEST_ID", envp)) ? p : "";
	p = FCGX_GetParam("DOCUMENT_URI", envp);
	if (!p || !*p) {
		const char *uri = FCGX_GetParam("REQUEST_URI", envp);
		char *path = cs_arena_strdup(arena, uri ? uri : "/");

		if (path && strchr(path, '?'))
			*strchr(path, '?') = '\0';
		p = path ? path : "/";
	}
	req->path = p;
}

cs_metrics_endpoint cs_dispatch(cs_server *s, const cs_dispatch_src *src,
				cs_arena *arena, double t0, double queued,
				cs_response *resp)
{
	const cs_manifest *mf = s->model->mf;
	const cs_handler *h;
	cs_request req;
	cs_route route;
	cs_call call;
	size_t headers = 0;

	/* the glue and a batch wait stop at the request's time limit */
	s->infer.deadline = t0 - (queued > 0 ? queued : 0) +
			    (double)mf->limits.request_timeout_ms / 1000.0;
	cs_glue_set_deadline(s->glue, s->infer.deadline);
	read_params(src->envp, arena, &req);

	for (char **e = src->envp; e && *e; e++)
		headers += strncmp(*e, "HTTP_", 5) == 0;
	if (headers > mf->limits.max_headers) {
		cs_response_fail(resp, CS_EHEADERS, "the request has %zu headers, over the limit of %zu (limits.max_headers)",
				 headers, mf->limits.max_headers);
		return CS_EP_OTHER;
	}

	cs_route_match(req.method, req.path, mf->name, &route);
	if (route.version[0] && strcmp(route.version, mf->version) != 0) {
		cs_response_fail(resp, CS_ENOTFOUND, "model '%s' has no version '%s' (this worker serves version %s)",
				 mf->name, route.version, mf->version);
		return CS_EP_OTHER;
	}
	h = cs_handler_for(route.kind);
	call = (cs_call){s, &req, &route, arena, t0, queued};
	/* the key gateway: before the body is read or the model runs */
	if (s->gateway && cs_gateway_guards(route.kind) &&
	    cs_gateway_hook(s->gateway, &req, resp) != CS_GATEWAY_PASS)
		return h->endpoint;
	if (h->flags & CS_HANDLER_BODY) {
		/* a call of a method the glue lacks is refused before its body */
		if (route.kind == CS_ROUTE_CALL &&
		    !cs_glue_has_method(s->glue, route.method)) {
			h->fn(&call, resp);
			return h->endpoint;
		}
		if (read_body(s, src, &req, arena, resp) != CS_OK) {
			if (h->flags & CS_HANDLER_ENVELOPE)
				cs_envelope_wrap(resp, 0);
			return h->endpoint;
		}
		if (cs_call_timed_out(&call, "before it could start", resp))
			return h->endpoint;
	}
	h->fn(&call, resp);
	return h->endpoint;
}
