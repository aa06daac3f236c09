/*
 * gateway.h - the key check on every model call, inside the worker.
 *
 * The keys a model's gateway needs (their keyed hashes, grants, limits),
 * the model's access and the stack's auth mode are copied from Redis into
 * a shared-memory table by a refresh thread about once a second; the
 * request path only reads that table (a sequence lock) and never talks to
 * Redis. Every process of a deployment on a host maps the same table (a
 * file beside the worker's unix socket, else a POSIX shm object), so rate
 * limits hold across them: a GCRA bucket per key, updated with atomic
 * compare-and-swap. The daily quota and the meters are flushed to Redis by
 * the refresh thread, which also reads back the day's total over all
 * hosts. When Redis cannot be reached the last table keeps deciding for
 * stale_s seconds (default CS_GATEWAY_STALE_S); after that a private model
 * answers 503 until a refresh succeeds (public models go on).
 * docs/security.md has the model.
 *
 * Thread-safety: cs_gateway_check() and cs_gateway_done() may be called
 * from any serving thread of any process mapping the table; the rest from
 * the thread that opened the gateway.
 */
#ifndef CS_GATEWAY_H
#define CS_GATEWAY_H

#include <stddef.h>

#include "core/request.h"
#include "protocol/route.h"

/* How long the last snapshot decides while Redis is away. */
#define CS_GATEWAY_STALE_S 600

typedef struct cs_gateway cs_gateway;

typedef struct cs_gateway_config {
	const char *url;    /* the registry */
	const char *prefix; /* key prefix; NULL: "cs:" */
	const char *model;  /* the model served */
	const char *path;   /* the shared table's file; NULL: from listen_fd */
	int listen_fd;      /* a unix socket names the file's folder; -1 none */
	int refresh_ms;     /* 0: 1000 */
	int stale_s;        /* 0: CS_GATEWAY_STALE_S */
} cs_gateway_config;

/*
 * Maps (creating when needed) the model's shared table and refreshes it
 * once from Redis (bounded by about 2 s; a Redis that is down leaves the
 * table as it was). On CS_OK *out is the new gateway. Call before forking
 * the pool; the children inherit the mapping.
 */
int cs_gateway_open(const cs_gateway_config *cfg, cs_gateway **out,
		    char *err, size_t errlen);

/*
 * Starts the refresh thread (all signals blocked in it) and returns once
 * the thread is in its loop, so a fork after the call never copies the
 * thread's start-up (core/forksafe.h).
 */
int cs_gateway_start(cs_gateway *g, char *err, size_t errlen);

/*
 * Stops the refresh thread (flushing the meters once more). NULL is
 * allowed; in a child forked after cs_gateway_start() (which has no
 * thread) it does nothing.
 */
void cs_gateway_stop(cs_gateway *g);

/* Stops the thread (as above), unmaps the table and frees g. NULL is allowed. */
void cs_gateway_close(cs_gateway *g);

/* Whether a route kind is a model call the gateway checks. Pure. */
int cs_gateway_guards(cs_route_kind kind);

/*
 * Checks a model call: the key from "Authorization: Bearer KEY" or
 * "X-API-Key: KEY" (req's FastCGI params), the model's access, the key's
 * grant, expiry, rate and daily quota. Returns CS_OK when the call may go on
 * (a key, when one was used, is remembered for cs_gateway_done() in this
 * thread), else the cs_status of the JSON error written into
 * resp: CS_EAUTH 401 (no/malformed/unknown/revoked/expired key;
 * WWW-Authenticate), CS_EFORBIDDEN 403 (not granted), CS_ERATE 429 (rate:
 * Retry-After; quota: Retry-After and the reset time), CS_EUNAVAILABLE
 * 503 (the snapshot is too old). Messages never hold the key.
 */
int cs_gateway_check(cs_gateway *g, const cs_request *req, cs_response *resp);

/*
 * The request path's hook: cs_gateway_check() unless nginx set the
 * FastCGI param CS_GATEWAY (a param only nginx's configuration sets; a
 * client's headers arrive as HTTP_*): "off" skips the check (nginx checked
 * with auth_request), "check" answers the check alone (204 when the call
 * may go on, else the error) without running the model: the auth_request
 * endpoint. Returns CS_GATEWAY_PASS when the handler should run, else
 * CS_GATEWAY_ANSWERED (resp is set).
 */
enum { CS_GATEWAY_PASS = 0, CS_GATEWAY_ANSWERED = 1 };
int cs_gateway_hook(cs_gateway *g, const cs_request *req, cs_response *resp);

/*
 * Meters the call cs_gateway_check() let through in this thread, by its
 * HTTP status (>= 400 counts as an error). A no-op when none is pending;
 * NULL g is allowed.
 */
void cs_gateway_done(cs_gateway *g, int http_status);

/*
 * The check cs_gateway_done() will meter is remembered per thread; the
 * event loop runs many requests on one thread, so it keeps one of these per
 * coroutine and swaps it with the thread's on every switch.
 */
typedef struct cs_gateway_pending {
	int slot;     /* -1: none */
	void *table;
} cs_gateway_pending;

#define CS_GATEWAY_PENDING_NONE {-1, NULL}

/* Exchanges this thread's pending check with *p. */
void cs_gateway_pending_swap(cs_gateway_pending *p);

/*
 * The gateway's Prometheus counters (per model and outcome, never per
 * key) appended to text (a malloc'd string of *len bytes, which may be
 * reallocated). Returns the new text, or text unchanged when out of memory.
 */
char *cs_gateway_metrics(cs_gateway *g, char *text, size_t *len);

#endif
