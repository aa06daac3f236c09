/*
 * server.h - the FastCGI serving loop of one worker process.
 *
 * Each serving thread polls the listening socket and its own kept-alive
 * FastCGI connections, and serves one request at a time from whichever is
 * ready, so an idle kept-alive connection never pins a responder (libfcgi's
 * own accept loop blocks on it). With threads > 1 every thread has its own
 * Lua state; model:infer goes through one batcher per process when the
 * manifest asks for batching. Signals are handled between requests by the
 * calling thread: the caller blocks them and the loop unblocks them only
 * while it waits.
 */
#ifndef CS_SERVER_H
#define CS_SERVER_H

#include <signal.h>

#include "core/request.h"
#include "glue/glue.h"
#include "model/batcher.h"
#include "model/infer.h"
#include "model/model.h"
#include "serve/metrics.h"

/*
 * Set by the worker's signal handlers (which run in the main thread: the
 * serving threads block every signal); read between requests.
 * cs_stop_requested is also read by the serving threads, so it is stored
 * and loaded with __atomic builtins.
 */
extern volatile sig_atomic_t cs_stop_requested;
extern volatile sig_atomic_t cs_reload_requested;

typedef struct cs_server {
	int listen_fd;           /* non-blocking listening socket */
	cs_model *model;         /* borrowed */
	cs_glue *glue;           /* owned; replaced by a reload */
	const char *lua_dir;     /* for reloads */
	sigset_t wait_mask;      /* the signal mask while waiting */
	unsigned long requests;  /* served so far */
	unsigned long max_requests; /* stop after this many (0: no limit); the
				       prefork master starts a fresh child */
	cs_metrics *metrics;     /* the pool's scoreboard (borrowed), or NULL:
				  * cs_server_run() then opens one itself */
	const char *listen_addr; /* names the default scoreboard; may be NULL */
	int threads;             /* serving threads in this process (>= 1), each
				    with its own Lua state */
	struct cs_batcher *batcher; /* started by cs_server_run() when the
				       manifest asks for batching */
	struct cs_server *root;  /* internal: the process's server, whose
				    counters the threads share */
	int thread_index;        /* internal: 0 for the calling thread */
	long inflight;           /* internal: requests in flight in the process */
	cs_infer_ctx infer;      /* internal: this thread's way to infer (the
				    process's batcher, the request's deadline,
				    the board's inference timing) */
	struct cs_gateway *gateway; /* the key check on model calls (borrowed),
				       or NULL: every call goes through */
	int event_loop;          /* serve with one event loop and a coroutine
				    per request (serve/evloop.c) instead of
				    threads; with batching only */
} cs_server;

/*
 * Serves until cs_stop_requested: the request in flight is finished, then
 * idle connections are closed. Returns 0, or -1 on a fatal error (logged).
 */
int cs_server_run(cs_server *s);

/*
 * Opens the pool's metrics scoreboard into s->metrics (docs/protocol.md,
 * "Metrics"): the file at path, or NULL for the default file named after
 * the listening socket (set listen_fd first), or "anon". Call it before
 * forking the pool's processes; the caller closes it with
 * cs_metrics_close() when the pool stops. Without it, cs_server_run()
 * opens the default board for its own process. Returns 0, or -1 with err.
 */
int cs_server_open_metrics(cs_server *s, const char *path, char *err,
			   size_t errlen);

/* ------------------------------------------------ shared by the transports */

/*
 * Before a response is written: a missing one becomes a 500, the version
 * header is added, a failure is recorded for the heartbeat.
 */
void cs_server_answer(cs_server *s, cs_response *resp);

/* Formats the CGI head of a response into hdr; returns its length. */
int cs_server_response_head(const cs_response *r, char *hdr, size_t size);

/*
 * After it was written: the gateway's meter, the scoreboard, the slow
 * request log.
 */
void cs_server_answered(cs_server *s, char **envp, const cs_response *resp,
			cs_metrics_endpoint ep, double t0, double queued);

/*
 * The event loop (evloop.c): serves s with one thread, a coroutine per
 * request and the batch formed by the inferences they yield. Called by
 * cs_server_run() when s->event_loop is set and the model can be batched.
 */
int cs_evloop_run(cs_server *s);

/*
 * Reloads the glue from its file: the new state replaces the old one only
 * when it loads cleanly; otherwise the old one stays and the reason is
 * logged. Returns CS_OK or the load's status.
 */
int cs_server_reload(cs_server *s);

#endif
