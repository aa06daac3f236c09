/*
 * handler.h - the endpoints of a worker, one handler per route kind.
 *
 * The transport (server.c) reads a FastCGI request and hands it to
 * cs_dispatch() (dispatch.c), which matches the route, applies the checks
 * every request gets (header count, the model's version, the body limit,
 * the time limit) and calls the handler the table below names for the
 * route kind. A handler only builds the response: it never touches the
 * connection. Adding an endpoint is adding a route kind and a row.
 *
 * Handlers run on a serving thread with that thread's cs_server (its own
 * glue and inference context); they are not called concurrently on one
 * cs_server.
 */
#ifndef CS_HANDLER_H
#define CS_HANDLER_H

#include "core/arena.h"
#include "core/request.h"
#include "protocol/json_tensor.h"
#include "protocol/route.h"
#include "serve/metrics.h"
#include "serve/server.h"

/* One request on its way through a handler. */
typedef struct cs_call {
	cs_server *srv;          /* the serving thread's server */
	cs_request *req;         /* params and (when read) the body */
	const cs_route *route;   /* what the path matched */
	cs_arena *arena;         /* the request's memory */
	double t0;               /* CLOCK_MONOTONIC when the worker took it */
	double queued;           /* seconds it waited in nginx, < 0 unknown */
} cs_call;

typedef void (*cs_handler_fn)(cs_call *c, cs_response *resp);

/* Handler flags. */
enum {
	CS_HANDLER_BODY = 1u << 0,     /* read the body before the handler */
	CS_HANDLER_ENVELOPE = 1u << 1, /* errors are wrapped in CubeAI's envelope */
};

typedef struct cs_handler {
	cs_handler_fn fn;
	cs_metrics_endpoint endpoint; /* what the scoreboard counts it as */
	unsigned flags;
} cs_handler;

/* The handler of a route kind (every kind has one). */
const cs_handler *cs_handler_for(cs_route_kind kind);

/* The handlers, one file each (handle_*.c). */
void cs_handle_not_found(cs_call *c, cs_response *resp);
void cs_handle_bad_method(cs_call *c, cs_response *resp);
void cs_handle_health(cs_call *c, cs_response *resp);       /* /health */
void cs_handle_v2_live(cs_call *c, cs_response *resp);
void cs_handle_v2_ready(cs_call *c, cs_response *resp);
void cs_handle_metadata(cs_call *c, cs_response *resp);     /* GET /models/m */
void cs_handle_v2_server(cs_call *c, cs_response *resp);
void cs_handle_v2_model(cs_call *c, cs_response *resp);
void cs_handle_v2_model_ready(cs_call *c, cs_response *resp);
void cs_handle_metrics(cs_call *c, cs_response *resp);
void cs_handle_status(cs_call *c, cs_response *resp);
void cs_handle_call(cs_call *c, cs_response *resp);         /* a glue method */
void cs_handle_v2_infer(cs_call *c, cs_response *resp);
void cs_handle_api(cs_call *c, cs_response *resp);          /* the envelope */

/* ------------------------------------------------------------ shared */

/* Whether a Content-Type is JSON (application/json or +json). */
int cs_is_json_type(const char *ct);

/* Whether a Content-Type is `type`, parameters ignored. */
int cs_is_type(const char *ct, const char *type);

/* The model's JSON limits for the tree-free scanner and decoder. */
void cs_call_json_limits(const cs_call *c, cs_json_limits *jl);

/*
 * Checks a JSON body without building it (syntax, UTF-8, depth, string
 * lengths). Returns CS_OK, or the status with the response set.
 */
cs_status cs_call_precheck_json(const cs_call *c, cs_response *resp);

/*
 * Whether the request's time limit has passed (counting its wait in
 * nginx); when it has, sets the 504 naming `when`.
 */
int cs_call_timed_out(const cs_call *c, const char *when, cs_response *resp);

/* Whether a query string has a bare or valued parameter `name`. */
int cs_query_has(const char *query, const char *name);

#endif
