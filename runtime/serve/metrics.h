/*
 * metrics.h - the pool's scoreboard in shared memory and its Prometheus
 * text (GET /metrics).
 *
 * One scoreboard per pool of processes serving one model: a header and a
 * slot per process. A process claims a free slot (or the slot of a dead
 * process, whose counters it keeps adding to, so counters never go back)
 * and is the only writer of its slot; any process reads all slots and sums
 * them, so every process of the pool answers with the pool's figures.
 *
 * The memory is a file mapped MAP_SHARED: given by --scoreboard PATH, or
 * by default /dev/shm/cubeserve-<model>-<hash of the listening address>,
 * so the processes spawn-fcgi -F N execs on one socket find the same
 * board, and children forked after cs_metrics_open() share it as well.
 * When no file can be made, an anonymous MAP_SHARED mapping is used (pool
 * wide only for children forked after the open). docs/operations.md
 * "Metrics" says how to run it.
 *
 * A process that forks does nothing special: the first request a child
 * records claims the child's own slot (the pid is checked per request).
 * Recording is lock-free (relaxed atomics on the own slot); opening and
 * closing take an flock on the file.
 */
#ifndef CS_METRICS_H
#define CS_METRICS_H

#include <stddef.h>
#include <stdint.h>

#define CS_METRICS_SLOTS 256
#define CS_METRICS_BUCKETS 15 /* finite latency buckets, see metrics.c */
#define CS_METRICS_THREADS 64 /* serving threads per process with a busy clock */
#define CS_METRICS_ERROR_LEN 200 /* bytes of the latest failure kept */

/* What a request was for, as counted (the `endpoint` label). */
typedef enum cs_metrics_endpoint {
	CS_EP_CALL = 0,    /* a glue method: POST /models/<m>[/<method>] */
	CS_EP_API,         /* the CubeAI envelope: /models/<m>/api/... */
	CS_EP_V2_INFER,    /* POST /v2/models/<m>/infer */
	CS_EP_METADATA,    /* metadata and readiness (/models/<m>, /v2/...) */
	CS_EP_HEALTH,      /* /health, /v2/health/... */
	CS_EP_METRICS,     /* /metrics */
	CS_EP_OTHER,       /* 404, 405, anything else */
	CS_EP_COUNT
} cs_metrics_endpoint;

typedef struct cs_metrics cs_metrics;

/*
 * Opens (creating when needed) the scoreboard of model `model` at path, or
 * at the default path for listen_addr ("unix:/run/x.sock", "fd0" ...) when
 * path is NULL; "anon" maps anonymous shared memory instead.
 * load_seconds is published as the model load time. On 0 *out is the
 * board (cs_metrics_close()); else -1 and err says why (a file that is
 * another model's or another layout's board is refused).
 */
int cs_metrics_open(const char *path, const char *listen_addr,
		    const char *model, double load_seconds, cs_metrics **out,
		    char *err, size_t errlen);

/*
 * Releases this process's slot and the mapping. The last process of the
 * pool to close a file-backed board removes the file. NULL is allowed.
 */
void cs_metrics_close(cs_metrics *m);

/* The file backing the board, or "" for an anonymous one. */
const char *cs_metrics_path(const cs_metrics *m);

/*
 * Claims this process's slot now (a serving process calls it when it
 * starts, so it counts as live before its first request; a supervisor
 * that serves nothing does not). Recording claims it too.
 */
void cs_metrics_attach(cs_metrics *m);

/* A request starts: in-flight + 1. NULL m is a no-op (so are the rest). */
void cs_metrics_begin(cs_metrics *m);

/*
 * A request ended with an HTTP status after `seconds` in the worker;
 * queue_seconds is the time it waited before the worker took it (< 0:
 * unknown). In-flight - 1.
 */
void cs_metrics_end(cs_metrics *m, cs_metrics_endpoint ep, int status,
		    double seconds, double queue_seconds);

/* One batched inference ran `rows` rows for `requests` requests. */
void cs_metrics_batch(cs_metrics *m, uint64_t requests, uint64_t rows);

/* cs_metrics_batch() as a batch observer (cs_batch_opts.observe). */
void cs_metrics_observe_batch(void *m, size_t requests, int64_t rows);

/* One inference (the plugin's infer) took `seconds`. */
void cs_metrics_infer(cs_metrics *m, double seconds);

/*
 * cs_metrics_infer() as a cs_infer_observer (model/infer.h): m is the
 * cs_metrics, or NULL to record nothing.
 */
void cs_metrics_observe_infer(void *m, double seconds);

/*
 * Renders the Prometheus text exposition (format 0.0.4) of the whole pool:
 * a malloc'd string (the caller frees it) and its length, or NULL when out
 * of memory. version and plugin label cubeserve_model_info.
 */
char *cs_metrics_render(cs_metrics *m, const char *version,
			const char *plugin, size_t *len);

/*
 * This thread's index among the process's serving threads (0..63), and how
 * many there are: the status page's busy clocks are per thread.
 */
void cs_metrics_set_thread(cs_metrics *m, int idx, int threads);

/*
 * Adds delta to this process's count of open FastCGI connections (all its
 * serving threads together); the first call (delta 0 is fine) marks the
 * process as one that serves, so that cs_metrics_accept_more() of the
 * others counts it. Lock-free; m may be NULL (no-op).
 */
void cs_metrics_conns_add(cs_metrics *m, int delta);

/*
 * The accept policy of a pool: whether this process, having accepted
 * `taken` connections since poll woke it, should take one more pending
 * connection. Not past 64 a wake-up; before the first, only when no other
 * live process of the pool holds 3 or more fewer connections (so that,
 * woken with all the others, the one that holds the most leaves the
 * connection to those that hold fewer); before each further one, only
 * when none holds fewer at all. Up to the 64 always for a process alone
 * (or m NULL): it takes every pending connection at once. So the connections spread evenly, and a new one does not wait in
 * the listen queue for a wake-up per connection queued before it. A
 * process that does not serve, or has gone, is not counted
 * (cs_metrics_close() says so; a killed one is found with kill(pid, 0)).
 * Lock-free; the counts may be a moment old.
 */
int cs_metrics_accept_more(cs_metrics *m, int taken);

/* A request took longer than limits.slow_request_ms. */
void cs_metrics_slow(cs_metrics *m);

/*
 * An answer with HTTP status >= 400: keeps its status, time and the start
 * of its body (len bytes of text) as the pool's latest failure, for the
 * heartbeat. Lock-free; a failure recorded while another is being
 * recorded is dropped.
 */
void cs_metrics_error(cs_metrics *m, int status, const char *text, size_t len);

/*
 * Labels every sample this process renders with pool="id" (NULL or "":
 * none), so the pools of one deployment are told apart and a Prometheus
 * sum over them is right. Call before serving; not thread-safe.
 */
void cs_metrics_set_pool(const char *id);

/* The pool wanted more processes than its maximum (once per refusal). */
void cs_metrics_max_children_reached(cs_metrics *m);

/* One live process of the pool, for the status page. */
typedef struct cs_metrics_proc {
	int pid;
	int threads;         /* serving threads */
	int busy;            /* of them in a request now */
	int connections;     /* FastCGI connections it holds open */
	double busy_for_s;   /* age of its oldest request in flight, 0 when idle */
	uint64_t requests;   /* answered */
	uint64_t rss_bytes;
} cs_metrics_proc;

/* The pool at a glance, in the manner of PHP-FPM's status page. */
typedef struct cs_pool_status {
	char model[72];
	int64_t start_unix;          /* when the pool's board was made */
	uint64_t accepted;           /* requests answered, all processes ever */
	int processes;               /* live */
	int active;                  /* serving threads in a request */
	int idle;                    /* serving threads waiting */
	int64_t max_active;          /* most in flight at once */
	uint64_t max_children_reached;
	uint64_t slow;               /* over limits.slow_request_ms */
	double p50_s, p99_s;         /* request latency, from the histogram */
	double busy_seconds;         /* time spent in requests, all threads ever:
					its change over a second is the average
					number of busy threads in that second */
	uint64_t errors_5xx;         /* answers 500..599, all processes ever */
	uint64_t errors_4xx;         /* answers 400..499 */
	int last_error_status;       /* the latest answer >= 400, 0: none yet */
	int64_t last_error_ms;       /* its wall-clock time */
	char last_error[CS_METRICS_ERROR_LEN]; /* the start of its body */
	int n_procs;
	cs_metrics_proc procs[CS_METRICS_SLOTS];
} cs_pool_status;

/* Fills a status snapshot of the pool (a large struct: not on a small stack). */
void cs_metrics_status(cs_metrics *m, cs_pool_status *out);

/* Test hook: the number of live processes with a slot. */
int cs_metrics_processes(cs_metrics *m);

#endif
