/*
 * dispatch.h - from a FastCGI request to its handler's response.
 *
 * cs_dispatch() builds the cs_request from the FastCGI params, applies the
 * checks every request gets (header count, the version a path names, the
 * body limit, the time limit), sets the request's deadline for the glue
 * and the batcher, reads the body when the handler needs it, and runs the
 * handler of the route kind (handler.h). Called by the transport: one
 * request at a time per serving thread, or per coroutine of the event
 * loop (each with its own cs_server and glue).
 */
#ifndef CS_DISPATCH_H
#define CS_DISPATCH_H

#include <fcgiapp.h>

#include "core/arena.h"
#include "core/request.h"
#include "serve/metrics.h"
#include "serve/server.h"

/*
 * Where a request's params and body come from: libfcgi's request (the
 * threaded transport reads the body from its stream), or params and a
 * body the event loop has already read (the body bounded by the limit:
 * at most limits.max_body_bytes + 1 bytes kept, body_seen counted).
 */
typedef struct cs_dispatch_src {
	char **envp;             /* NAME=VALUE, NULL-terminated */
	FCGX_Stream *in;         /* libfcgi's stdin, or NULL: body below */
	char *body;              /* NUL-terminated; owned by the caller */
	size_t body_len;         /* bytes kept in body */
} cs_dispatch_src;

/*
 * Serves one accepted request into resp (always set when it returns).
 * t0 is when the worker took it (CLOCK_MONOTONIC), queued the seconds it
 * waited in nginx (< 0 unknown). Returns what the scoreboard counts it as.
 */
cs_metrics_endpoint cs_dispatch(cs_server *s, const cs_dispatch_src *src,
				cs_arena *arena, double t0, double queued,
				cs_response *resp);

/*
 * Seconds the request waited between nginx and this worker: nginx passes
 * its clock as CS_REQUEST_START ($msec); -1 when unknown.
 */
double cs_dispatch_queue_seconds(char **envp);

#endif
