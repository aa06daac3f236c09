/*
 * heartbeat.c - the worker's figures reach Redis from a background
 * thread (see heartbeat.h).
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include <cubeserve/plugin.h>

#include "core/clock.h"
#include "core/forksafe.h"
#include "core/log.h"
#include "core/names.h"
#include "model/manifest.h"
#include "registry/heartbeat.h"
#include "registry/registry.h"
#include "registry/store.h"
#include "registry/url.h"

double cs_heartbeat_rate(unsigned long long prev, unsigned long long now,
			 double dt_s, double min_dt_s)
{
	if (!(dt_s >= min_dt_s) || dt_s <= 0 || now < prev)
		return -1;
	return (double)(now - prev) / dt_s;
}

/* ------------------------------------------------------------ the thread */

struct cs_heartbeat {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	int stop;                 /* under lock */
	int parked;               /* the thread is in its loop (cs_forksafe_parked) */
	char state[32];           /* under lock */
	char *url, *prefix, *model, *version, *listen;
	cs_heartbeat_figures_fn figures;
	void *arg;
	int interval_ms;
	char host[256];
	char id[300];
	long long started;
	/*
	 * The thread's connection, kept here rather than on the thread's
	 * stack: a process that forks while the thread runs (the prefork
	 * master) hands its children this memory without the thread, and
	 * reachable from hb it is not a leak there.
	 */
	cs_registry *r;
};

/*
 * The prefork master forks while its heartbeat thread runs. A fork in the
 * middle of a beat would copy whatever lock the thread holds then (the
 * allocator's, under a sanitizer) into the child, which could hang on it.
 * The thread holds hb->lock for the whole beat and releases it only while
 * it waits, and fork() takes that lock first; cs_heartbeat_start() returns
 * only once the thread holds it (its start-up runs without it).
 */
static cs_heartbeat *fork_hb;
static pthread_once_t fork_once = PTHREAD_ONCE_INIT;

static void fork_prepare(void)
{
	if (fork_hb)
		pthread_mutex_lock(&fork_hb->lock);
}

static void fork_done(void)
{
	if (fork_hb)
		pthread_mutex_unlock(&fork_hb->lock);
}

static void fork_register(void)
{
	pthread_atfork(fork_prepare, fork_done, fork_done);
}


static void set_num(json_t *o, const char *k, double v, int decimals)
{
	char buf[64];

	if (v < 0)
		snprintf(buf, sizeof buf, "%s", "");
	else
		snprintf(buf, sizeof buf, "%.*f", decimals, v);
	json_object_set_new(o, k, json_string(buf));
}

static void set_ll(json_t *o, const char *k, long long v)
{
	char buf[32];

	snprintf(buf, sizeof buf, "%lld", v);
	json_object_set_new(o, k, json_string(buf));
}

/* The name of the socket on fd 0 (spawn-fcgi's), or "fd 0". */
static void fd0_name(char *out, size_t len)
{
	struct sockaddr_un sa;
	socklen_t sl = sizeof sa;

	memset(&sa, 0, sizeof sa);
	if (getsockname(0, (struct sockaddr *)&sa, &sl) == 0 &&
	    sa.sun_family == AF_UNIX && sa.sun_path[0])
		snprintf(out, len, "unix:%.*s", (int)sizeof sa.sun_path, sa.sun_path);
	else
		snprintf(out, len, "fd 0");
}

static void *run(void *p)
{
	cs_heartbeat *hb = p;
	unsigned long long reported = 0, prev_req = 0;
	int first = 1;
	double prev_t = cs_clock_mono();
	char err[CS_ERROR_SIZE * 2], state[32];
	int down_logged = 0, ever_up = 0, stop;
	struct timespec until;
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	pthread_mutex_lock(&hb->lock);
	cs_forksafe_parked(&hb->parked);
	for (;;) {
		cs_heartbeat_figures f;
		json_t *fields;
		double t, rps;
		int rc;

		/* the lock is held but while waiting: a fork never copies a
		 * beat half-way (see fork_prepare) */
		stop = hb->stop;
		snprintf(state, sizeof state, "%s", hb->state);
		if (stop)
			break;

		memset(&f, 0, sizeof f);
		f.processes = 1;
		f.busy = -1;
		f.threads = f.waiting = -1;
		f.rps = f.p50_ms = f.p99_ms = -1;
		f.errors = -1;
		if (hb->figures)
			hb->figures(hb->arg, &f);
		t = cs_clock_mono();
		rps = f.rps;
		if (rps < 0) {
			/* a rate over a short interval (the first beat comes at
			 * once) is noise: 1 request in 60 us read 17000 req/s */
			rps = cs_heartbeat_rate(prev_req, f.requests, t - prev_t,
						hb->interval_ms / 2000.0);
			if (rps >= 0 || f.requests < prev_req || first) {
				prev_req = f.requests;
				prev_t = t;
			}
			first = 0;
		} else {
			prev_req = f.requests;
			prev_t = t;
		}

		if (!hb->r) {
			rc = cs_registry_open(hb->url, hb->prefix, 500, &hb->r, err, sizeof err);
			if (rc == CS_OK && (rc = cs_registry_check_schema(hb->r, 0)) != CS_OK) {
				snprintf(err, sizeof err, "%s", hb->r->errstr);
				cs_registry_close(hb->r);
				hb->r = NULL;
			}
		} else {
			rc = CS_OK;
		}
		if (hb->r) {
			fields = json_object();
			json_object_set_new(fields, "host", json_string(hb->host));
			set_ll(fields, "pid", (long long)getpid());
			json_object_set_new(fields, "model", json_string(hb->model));
			json_object_set_new(fields, "version", json_string(hb->version));
			json_object_set_new(fields, "state", json_string(state));
			json_object_set_new(fields, "listen", json_string(hb->listen));
			set_ll(fields, "processes", f.processes);
			set_num(fields, "busy", f.busy, 3);
			set_ll(fields, "threads", f.threads);
			set_ll(fields, "waiting", f.waiting);
			set_ll(fields, "requests", (long long)f.requests);
			set_num(fields, "rps", rps, 2);
			set_num(fields, "p50_ms", f.p50_ms, 3);
			set_num(fields, "p99_ms", f.p99_ms, 3);
			json_object_set_new(fields, "last_error", json_string(f.last_error));
			if (f.last_error_ms > 0)
				set_ll(fields, "last_error_time", f.last_error_ms);
			if (f.errors >= 0)
				set_ll(fields, "errors", f.errors);
			set_ll(fields, "started", hb->started);
			set_ll(fields, "updated", (long long)(cs_clock_wall() * 1000));
			rc = cs_registry_heartbeat(hb->r, hb->model, hb->id, fields,
						   (long long)(f.requests - reported));
			json_decref(fields);
			if (rc == CS_OK) {
				reported = f.requests;
			} else {
				snprintf(err, sizeof err, "%s", hb->r->errstr);
				cs_registry_close(hb->r);
				hb->r = NULL;
			}
		}
		if (rc != CS_OK && !down_logged) {
			cs_log_warn("heartbeat: %s; serving goes on, retrying every %d ms",
				    err, hb->interval_ms);
			down_logged = 1;
		} else if (rc == CS_OK && (down_logged || !ever_up)) {
			char shown[600];

			cs_log_info("heartbeat: %s to the registry at %s as instance %s",
				    ever_up ? "resumed reporting" : "reporting",
				    cs_registry_url_mask(hb->url, shown, sizeof shown), hb->id);
			down_logged = 0;
			ever_up = 1;
		}

		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_sec += hb->interval_ms / 1000;
		until.tv_nsec += (long)(hb->interval_ms % 1000) * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		while (!hb->stop &&
		       pthread_cond_timedwait(&hb->wake, &hb->lock, &until) != ETIMEDOUT)
			;
	}
	pthread_mutex_unlock(&hb->lock);
	/* a clean stop: the instance goes at once instead of expiring */
	if (!hb->r && cs_registry_open(hb->url, hb->prefix, 500, &hb->r, err, sizeof err) != CS_OK)
		hb->r = NULL;
	if (hb->r) {
		cs_registry_instance_delete(hb->r, hb->model, hb->id);
		cs_registry_close(hb->r);
		hb->r = NULL;
	}
	return NULL;
}

static void hb_free(cs_heartbeat *hb)
{
	free(hb->url);
	free(hb->prefix);
	free(hb->model);
	free(hb->version);
	free(hb->listen);
	free(hb);
}

int cs_heartbeat_start(const cs_heartbeat_config *cfg, cs_heartbeat **out,
		       char *err, size_t errlen)
{
	char host[256], path[256], listen_buf[300];
	pthread_condattr_t ca;
	cs_heartbeat *hb;
	int port, rc;

	*out = NULL;
	if (!cfg->model || !cfg->version) {
		snprintf(err, errlen, "heartbeat: the model's name and version are required");
		return CS_EINVAL;
	}
	rc = cs_registry_parse_url(cfg->url, host, sizeof host, &port, path,
				   sizeof path, err, errlen);
	if (rc != CS_OK)
		return rc;
	hb = calloc(1, sizeof *hb);
	if (!hb)
		return CS_ENOMEM;
	if (cfg->listen)
		snprintf(listen_buf, sizeof listen_buf, "%s", cfg->listen);
	else
		fd0_name(listen_buf, sizeof listen_buf);
	hb->url = strdup(cfg->url);
	hb->prefix = strdup(cfg->prefix ? cfg->prefix : CS_REGISTRY_PREFIX);
	hb->model = strdup(cfg->model);
	hb->version = strdup(cfg->version);
	hb->listen = strdup(listen_buf);
	if (!hb->url || !hb->prefix || !hb->model || !hb->version || !hb->listen) {
		hb_free(hb);
		return CS_ENOMEM;
	}
	hb->figures = cfg->figures;
	hb->arg = cfg->arg;
	hb->interval_ms = cfg->interval_ms > 0 ? cfg->interval_ms : 1000;
	if (gethostname(hb->host, sizeof hb->host - 1) != 0)
		snprintf(hb->host, sizeof hb->host, "localhost");
	snprintf(hb->id, sizeof hb->id, "%s:%ld", hb->host, (long)getpid());
	snprintf(hb->state, sizeof hb->state, "ready");
	hb->started = (long long)(cs_clock_wall() * 1000);
	pthread_mutex_init(&hb->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&hb->wake, &ca);
	pthread_condattr_destroy(&ca);
	pthread_once(&fork_once, fork_register);
	rc = pthread_create(&hb->thread, NULL, run, hb);
	if (rc != 0) {
		snprintf(err, errlen, "heartbeat: cannot start its thread: %s", strerror(rc));
		pthread_cond_destroy(&hb->wake);
		pthread_mutex_destroy(&hb->lock);
		hb_free(hb);
		return CS_EIO;
	}
	fork_hb = hb; /* the process's heartbeat: one (the worker's) */
	/* the master forks right after this: not while the thread starts */
	cs_forksafe_wait_parked(&hb->parked);
	*out = hb;
	return CS_OK;
}

void cs_heartbeat_set_state(cs_heartbeat *hb, const char *state)
{
	if (!hb)
		return;
	pthread_mutex_lock(&hb->lock);
	snprintf(hb->state, sizeof hb->state, "%s", state);
	pthread_mutex_unlock(&hb->lock);
}

void cs_heartbeat_stop(cs_heartbeat *hb)
{
	if (!hb)
		return;
	pthread_mutex_lock(&hb->lock);
	hb->stop = 1;
	pthread_cond_signal(&hb->wake);
	pthread_mutex_unlock(&hb->lock);
	pthread_join(hb->thread, NULL);
	if (fork_hb == hb)
		fork_hb = NULL;
	pthread_cond_destroy(&hb->wake);
	pthread_mutex_destroy(&hb->lock);
	hb_free(hb);
}
