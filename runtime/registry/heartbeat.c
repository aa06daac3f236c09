/*
 * heartbeat.c - the worker's registry side: resolve the model at start,
 * report figures from a background thread (see heartbeat.h).
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

#include "registry/heartbeat.h"
#include "registry/url.h"
#include "core/log.h"
#include "model/manifest.h"
#include "registry/registry.h"
#include "registry/store.h"

int cs_model_ref_parse(const char *ref, char *name, size_t namelen,
		       char *version, size_t versionlen, char *err,
		       size_t errlen)
{
	const char *at = ref ? strchr(ref, '@') : NULL;
	size_t n = at ? (size_t)(at - ref) : (ref ? strlen(ref) : 0);

	if (!ref || n == 0 || n >= namelen) {
		snprintf(err, errlen, "'%s': expected a model NAME or NAME@VERSION",
			 ref ? ref : "");
		return CS_EINVAL;
	}
	memcpy(name, ref, n);
	name[n] = '\0';
	if (!cs_name_valid(name)) {
		snprintf(err, errlen, "'%s': a model name is 1 to 64 letters, digits, '_' and '-'", name);
		return CS_EINVAL;
	}
	version[0] = '\0';
	if (at) {
		if (!at[1] || strlen(at + 1) >= versionlen || strlen(at + 1) > 64 ||
		    at[1 + strspn(at + 1, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._+-")]) {
			snprintf(err, errlen, "'%s': a version is 1 to 64 letters, digits and '. _ + -'", ref);
			return CS_EINVAL;
		}
		snprintf(version, versionlen, "%s", at + 1);
	}
	return CS_OK;
}

int cs_registry_resolve_manifest(const char *url,
				 const char *model_at_version,
				 const char *store_dir, char **manifest_path,
				 char **version, char *err, size_t errlen)
{
	char name[80], ver[80];
	cs_registry *r = NULL;
	json_t *m = NULL, *rec, *files = NULL, *v;
	cs_store_file *list = NULL;
	const char *k, *mfile;
	char *store = NULL, *dir = NULL;
	size_t n = 0, len;
	int rc;

	*manifest_path = NULL;
	if (version)
		*version = NULL;
	rc = cs_model_ref_parse(model_at_version, name, sizeof name, ver,
				sizeof ver, err, errlen);
	if (rc != CS_OK)
		return rc;
	rc = cs_registry_open(url, NULL, 2000, &r, err, errlen);
	if (rc != CS_OK)
		return rc;
	rc = cs_registry_check_schema(r, 0);
	if (rc == CS_OK)
		rc = cs_registry_model(r, name, ver[0] ? ver : NULL, 0, &m);
	if (rc != CS_OK) {
		snprintf(err, errlen, "%s", r->errstr);
		goto out_close;
	}
	rec = json_object_get(m, "record");
	if (!rec) {
		snprintf(err, errlen, "model '%s' has no default version", name);
		rc = CS_ENOTFOUND;
		goto out_close;
	}
	files = json_loads(json_string_value(json_object_get(rec, "files")) ?
			   json_string_value(json_object_get(rec, "files")) : "",
			   0, NULL);
	mfile = json_string_value(json_object_get(rec, "manifest_file"));
	if (!json_is_object(files) || !mfile || !json_object_get(files, mfile)) {
		snprintf(err, errlen, "registry record of %s@%s has no valid 'files' and 'manifest_file' fields",
			 name, json_string_value(json_object_get(rec, "version")));
		rc = CS_EFORMAT;
		goto out_close;
	}
	list = calloc(json_object_size(files) + 1, sizeof *list);
	if (!list) {
		rc = CS_ENOMEM;
		goto out_close;
	}
	json_object_foreach(files, k, v) {
		list[n].name = k;
		list[n].sha256 = json_string_value(v);
		n++;
	}
	if (store_dir && *store_dir)
		store = strdup(store_dir);
	else if (getenv("CUBESERVE_STORE") && *getenv("CUBESERVE_STORE"))
		store = strdup(getenv("CUBESERVE_STORE"));
	else
		store = cs_registry_config_get(r, "store");
	if (!store) {
		snprintf(err, errlen, "no model store: the registry at %s names none (config field 'store') and CUBESERVE_STORE is not set",
			 r->url);
		rc = CS_ENOTFOUND;
		goto out_close;
	}
	rc = cs_store_tree(store, list, n, &dir, err, errlen);
	if (rc != CS_OK) {
		char inner[CS_ERROR_SIZE * 2];

		snprintf(inner, sizeof inner, "%s", err);
		snprintf(err, errlen, "%s@%s: %s", name,
			 json_string_value(json_object_get(rec, "version")), inner);
		goto out_close;
	}
	len = strlen(dir) + strlen(mfile) + 2;
	*manifest_path = malloc(len);
	if (!*manifest_path) {
		rc = CS_ENOMEM;
		goto out_close;
	}
	snprintf(*manifest_path, len, "%s/%s", dir, mfile);
	if (version)
		*version = strdup(json_string_value(json_object_get(rec, "version")));
out_close:
	free(dir);
	free(store);
	free(list);
	json_decref(files);
	json_decref(m);
	cs_registry_close(r);
	return rc;
}

/* ------------------------------------------------------------ the thread */

struct cs_heartbeat {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	int stop;                 /* under lock */
	char state[32];           /* under lock */
	char *url, *prefix, *model, *version, *listen;
	cs_heartbeat_figures_fn figures;
	void *arg;
	int interval_ms;
	char host[256];
	char id[300];
	long long started;
};

static long long wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
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
	cs_registry *r = NULL;
	unsigned long long reported = 0, prev_req = 0;
	double prev_t = mono_s();
	char err[CS_ERROR_SIZE * 2], state[32];
	int down_logged = 0, ever_up = 0, stop;
	struct timespec until;
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	for (;;) {
		cs_heartbeat_figures f;
		json_t *fields;
		double t, rps;
		int rc;

		pthread_mutex_lock(&hb->lock);
		stop = hb->stop;
		snprintf(state, sizeof state, "%s", hb->state);
		pthread_mutex_unlock(&hb->lock);
		if (stop)
			break;

		memset(&f, 0, sizeof f);
		f.processes = 1;
		f.busy = -1;
		f.threads = f.waiting = -1;
		f.rps = f.p50_ms = f.p99_ms = -1;
		if (hb->figures)
			hb->figures(hb->arg, &f);
		t = mono_s();
		rps = f.rps;
		if (rps < 0)
			rps = t > prev_t ? (double)(f.requests - prev_req) / (t - prev_t) : 0;
		prev_req = f.requests;
		prev_t = t;

		if (!r) {
			rc = cs_registry_open(hb->url, hb->prefix, 500, &r, err, sizeof err);
			if (rc == CS_OK && (rc = cs_registry_check_schema(r, 0)) != CS_OK) {
				snprintf(err, sizeof err, "%s", r->errstr);
				cs_registry_close(r);
				r = NULL;
			}
		} else {
			rc = CS_OK;
		}
		if (r) {
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
			set_ll(fields, "started", hb->started);
			set_ll(fields, "updated", wall_ms());
			rc = cs_registry_heartbeat(r, hb->model, hb->id, fields,
						   (long long)(f.requests - reported));
			json_decref(fields);
			if (rc == CS_OK) {
				reported = f.requests;
			} else {
				snprintf(err, sizeof err, "%s", r->errstr);
				cs_registry_close(r);
				r = NULL;
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
		pthread_mutex_lock(&hb->lock);
		while (!hb->stop &&
		       pthread_cond_timedwait(&hb->wake, &hb->lock, &until) != ETIMEDOUT)
			;
		pthread_mutex_unlock(&hb->lock);
	}
	/* a clean stop: the instance goes at once instead of expiring */
	if (!r && cs_registry_open(hb->url, hb->prefix, 500, &r, err, sizeof err) != CS_OK)
		r = NULL;
	if (r) {
		cs_registry_instance_delete(r, hb->model, hb->id);
		cs_registry_close(r);
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
	hb->started = wall_ms();
	pthread_mutex_init(&hb->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&hb->wake, &ca);
	pthread_condattr_destroy(&ca);
	rc = pthread_create(&hb->thread, NULL, run, hb);
	if (rc != 0) {
		snprintf(err, errlen, "heartbeat: cannot start its thread: %s", strerror(rc));
		pthread_cond_destroy(&hb->wake);
		pthread_mutex_destroy(&hb->lock);
		hb_free(hb);
		return CS_EIO;
	}
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
	pthread_cond_destroy(&hb->wake);
	pthread_mutex_destroy(&hb->lock);
	hb_free(hb);
}
