/*
 * heartbeat.h - how a worker's figures reach Redis.
 *
 * The heartbeat is a background thread that writes the worker's
 * instance hash about once a second (docs/registry.md, "instance"); it
 * never runs on the request path and never blocks it. When Redis cannot be
 * reached the worker goes on serving; the thread logs it once, retries
 * every interval, and logs again when the heartbeats resume.
 */
#ifndef CS_HEARTBEAT_H
#define CS_HEARTBEAT_H

#include <stddef.h>

/*
 * A worker's figures, filled by the worker's callback at every heartbeat
 * (from the heartbeat thread: the callback must read shared counters
 * atomically, e.g. from the scoreboard). Fields it does not know stay as
 * cs_heartbeat_start() preset them: requests 0, processes 1, busy -1,
 * rps/p50_ms/p99_ms -1 (then rps is computed from requests), last_error "".
 */
typedef struct cs_heartbeat_figures {
	unsigned long long requests; /* served since the worker started */
	int processes;               /* serving processes of this pool */
	double busy;                 /* threads inside a request, averaged over
					the last second; -1 unknown */
	double rps;                  /* requests per second; -1: computed */
	double p50_ms, p99_ms;       /* latency; -1 unknown */
	int threads;                 /* serving threads in all; -1 unknown */
	int waiting;                 /* connections in the listen queue; -1 unknown */
	char last_error[256];        /* the latest failure, "" for none */
	long long last_error_ms;     /* its wall-clock time; 0 unknown */
	long long errors;            /* answers >= 500 since start; -1 unknown */
} cs_heartbeat_figures;

/*
 * Requests per second between two readings of a request counter taken
 * dt_s seconds apart, or -1 (unknown) when the interval is too short to
 * mean anything (under min_dt_s: e.g. the first beat of a new worker,
 * moments after it started) or the counter went back (a new pool's
 * board). A pure function.
 */
double cs_heartbeat_rate(unsigned long long prev, unsigned long long now,
			 double dt_s, double min_dt_s);

typedef void (*cs_heartbeat_figures_fn)(void *arg, cs_heartbeat_figures *out);

typedef struct cs_heartbeat_config {
	const char *url;        /* redis://HOST:PORT or unix:PATH */
	const char *prefix;     /* key prefix; NULL: "cs:" */
	const char *model;      /* the model's name */
	const char *version;
	const char *listen;     /* the serving address; NULL: fd 0's name */
	cs_heartbeat_figures_fn figures; /* NULL: only state and pid */
	void *arg;              /* passed to figures */
	int interval_ms;        /* 0: 1000 */
} cs_heartbeat_config;

typedef struct cs_heartbeat cs_heartbeat;

/*
 * Starts the heartbeat thread (all signals blocked in it). The strings of
 * cfg are copied. It does not wait for Redis: a registry that is down at
 * start is retried like one lost later. It returns once the thread is in
 * its loop, so a fork after the call never copies the thread's start-up
 * (core/forksafe.h). On CS_OK *out is the new heartbeat (stop it with
 * cs_heartbeat_stop()).
 */
int cs_heartbeat_start(const cs_heartbeat_config *cfg, cs_heartbeat **out,
		       char *err, size_t errlen);

/* Sets the state reported from the next heartbeat on ("ready", "draining"). */
void cs_heartbeat_set_state(cs_heartbeat *hb, const char *state);

/*
 * Stops the thread (waking it at once), deletes the instance hash when
 * Redis answers (within about a second), and frees hb. NULL is allowed.
 */
void cs_heartbeat_stop(cs_heartbeat *hb);

#endif
