/*
 * worker.c - cubeserve-worker: main, options, start-up and shut-down.
 *
 * Start-up order: manifest -> plugin -> model (once) -> Lua glue and its
 * init(model) -> listening socket -> serve. Nothing is accepted before the
 * model and the glue are ready.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/names.h"
#include "core/paths.h"
#include "core/request.h"
#include "glue/glue.h"
#include "model/manifest.h"
#include "model/model.h"
#include "registry/heartbeat.h"
#include "registry/registry.h"
#include "registry/url.h"
#include "serve/gateway.h"
#include "serve/listen.h"
#include "serve/master.h"
#include "serve/metrics.h"
#include "serve/server.h"

static void usage(FILE *f)
{
	fputs(
"Usage: cubeserve-worker --manifest FILE [OPTIONS]\n"
"\n"
"Loads one model once and serves it over FastCGI, for nginx to route to.\n"
"Without --listen it serves the listening socket on fd 0, as spawn-fcgi\n"
"leaves it:\n"
"  spawn-fcgi -s /run/cubeserve/linear.sock -- cubeserve-worker --manifest examples/linear/model.json\n"
"\n"
"Options:\n"
"  -m, --manifest FILE     the model's manifest (model.json)\n"
"      --model NAME[@VERSION]  instead of --manifest: a published model (default\n"
"                          version without @), read from --registry, its files\n"
"                          verified against their sha256 in the model store\n"
"      --registry URL      redis://[[USER]:PASSWORD@]HOST[:PORT][/DB], rediss://...\n"
"                          or unix:PATH (default with --model:\n"
"                          $CUBESERVE_REGISTRY); the worker reports a heartbeat\n"
"                          there about once a second, off the request path\n"
"      --gateway on|off    with --registry: check API keys on model calls\n"
"                          against a snapshot of the registry's keys (default\n"
"                          on; the stack's auth mode decides; docs/security.md)\n"
"  -l, --listen ADDR       bind unix:PATH or HOST:PORT instead of using fd 0\n"
"      --backlog N         listen backlog with --listen (default 1024)\n"
"  -n, --processes N       load once, then fork N serving children that share\n"
"                          the model; a master supervises them (respawn,\n"
"                          recycle, reload, drain). Default: serve in this\n"
"                          process, no master\n"
"      --max-processes N   upper bound for TTIN (default: 4 x --processes)\n"
"      --max-requests N    replace a child after N requests (default 0: never)\n"
"      --accept-threads N  serving threads per process, each with its own Lua\n"
"                          state (default: the manifest's batching.threads, else\n"
"                          1; a manifest with batching and no threads is served\n"
"                          by one event loop a process instead); with batching\n"
"                          they feed one batcher per process\n"
"  -p, --plugin-dir DIR    where plugins are found by name\n"
"                          (default: $CUBESERVE_PLUGIN_DIR, else " CS_PLUGIN_DIR ")\n"
"      --lua-dir DIR       the glue library `require` may load from\n"
"                          (default: $CUBESERVE_LUA_DIR, else " CS_LUA_DIR ")\n"
"      --log-level LEVEL   error, warn, info (default) or debug\n"
"      --scoreboard PATH   the pool's shared-memory metrics file (default\n"
"                          /dev/shm/cubeserve-<model>-<socket hash>; \"anon\":\n"
"                          anonymous memory shared with --processes children)\n"
"      --pool ID           label the samples of /metrics pool=\"ID\" (one pool of\n"
"                          several serving one deployment)\n"
"      --check             load everything, run the manifest's example through\n"
"                          predict, print the response to stdout and exit\n"
"  -h, --help              this text\n"
"  -V, --version           the version\n"
"\n"
"Signals: TERM/INT/QUIT finish the requests in flight and exit; HUP reloads\n"
"the glue (the model stays loaded; a glue that fails to load is not swapped\n"
"in). With --processes, TTIN/TTOU to the master add/remove a child.\n"
"Logs go to stderr, one line per event. Exit status: 0 after a clean stop,\n"
"1 on a start-up failure, 2 on bad usage.\n", f);
}

/* What the heartbeat thread reads: the figures of this worker. */
typedef struct heartbeat_arg {
	cs_server *srv;
	const cs_master_opts *mopts;
} heartbeat_arg;

/*
 * Called from the heartbeat thread about once a second: the pool's figures
 * from the shared scoreboard (every process of the pool, not only this one).
 */
static void heartbeat_figures(void *arg, cs_heartbeat_figures *f)
{
	static double prev_busy_s = -1, prev_t;
	const heartbeat_arg *a = arg;
	cs_pool_status *st;
	double t;

	f->requests = __atomic_load_n(&a->srv->requests, __ATOMIC_RELAXED);
	f->processes = a->mopts->processes > 0 ? a->mopts->processes : 1;
	if (!a->srv->metrics || !(st = calloc(1, sizeof(*st))))
		return;
	cs_metrics_status(a->srv->metrics, st);
	t = cs_clock_mono();
	f->requests = st->accepted;
	f->processes = st->processes;
	f->threads = st->active + st->idle;
	f->waiting = cs_listen_queue(a->srv->listen_fd);
	f->p50_ms = st->p50_s * 1000;
	f->p99_ms = st->p99_s * 1000;
	/* busy threads averaged over the last interval, from time spent serving */
	if (prev_busy_s >= 0 && t > prev_t)
		f->busy = (st->busy_seconds - prev_busy_s) / (t - prev_t);
	else
		f->busy = st->active;
	prev_busy_s = st->busy_seconds;
	prev_t = t;
	f->errors = (long long)st->errors_5xx;
	if (st->last_error_status) {
		/* the JSON error's message when it has one, else the body */
		json_t *j = json_loads(st->last_error, 0, NULL);
		const char *msg = json_string_value(json_object_get(j, "error"));

		snprintf(f->last_error, sizeof f->last_error, "HTTP %d: %s",
			 st->last_error_status, msg ? msg : st->last_error);
		f->last_error_ms = st->last_error_ms;
		json_decref(j);
	}
	free(st);
}

static void on_stop(int sig)
{
	(void)sig;
	/* atomic: the serving threads read it (lock-free, so signal-safe) */
	__atomic_store_n(&cs_stop_requested, 1, __ATOMIC_RELAXED);
}

static void on_reload(int sig)
{
	(void)sig;
	cs_reload_requested = 1;
}

/*
 * Installs the handlers and blocks the signals; the serving loop unblocks
 * them only while it waits (wait_mask), so a request is never interrupted.
 */
static void setup_signals(sigset_t *wait_mask)
{
	struct sigaction sa;
	sigset_t block;

	memset(&sa, 0, sizeof sa);
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_stop;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGQUIT, &sa, NULL);
	sa.sa_handler = on_reload;
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL); /* libfcgi's shutdown signal: unused */

	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGQUIT);
	sigaddset(&block, SIGHUP);
	sigprocmask(SIG_BLOCK, &block, wait_mask);
	sigdelset(wait_mask, SIGTERM);
	sigdelset(wait_mask, SIGINT);
	sigdelset(wait_mask, SIGQUIT);
	sigdelset(wait_mask, SIGHUP);
}

/* Runs the manifest's example through predict, as a POST would. */
static int call_example(cs_model *model, cs_glue *glue, const char *id,
			cs_glue_result *res)
{
	const cs_manifest *mf = model->mf;
	char *envp[] = {NULL};
	char path[128];
	cs_request req;
	cs_arena arena;
	int rc;

	snprintf(path, sizeof path, "/models/%s", mf->name);
	memset(&req, 0, sizeof req);
	req.method = "POST";
	req.path = path;
	req.query = "";
	req.content_type = "application/json";
	req.request_id = id;
	req.body = mf->example_json;
	req.body_len = strlen(mf->example_json);
	req.envp = envp;
	cs_arena_init(&arena, 0);
	rc = cs_glue_call(glue, "predict", &req, &arena, res);
	cs_arena_destroy(&arena);
	return rc;
}

/*
 * Run from a build tree (and not told otherwise by an option or the
 * environment), the worker uses the build's plugins and the source tree's
 * Lua library, as `cubeserve` does, so the documented --check line works
 * before `make install`.
 */
static void build_tree_defaults(const char **plugin_dir, const char **lua_dir)
{
	static char plugins[4200], lua[4200];
	const char *src;
	char exe[4096];

	if (!cs_in_build_tree(&src))
		return;
	cs_exe_dir(exe, sizeof exe);
	if (!*plugin_dir && !(getenv("CUBESERVE_PLUGIN_DIR") && *getenv("CUBESERVE_PLUGIN_DIR"))) {
		snprintf(plugins, sizeof plugins, "%s/plugins", exe);
		*plugin_dir = plugins;
	}
	if (!*lua_dir && !(getenv("CUBESERVE_LUA_DIR") && *getenv("CUBESERVE_LUA_DIR"))) {
		snprintf(lua, sizeof lua, "%s/lua", src);
		*lua_dir = lua;
	}
}

/*
 * Before forking: run the manifest's example once, so what a backend
 * prepares lazily on its first inference (packed weights, kernels) is made
 * in the master and shared copy-on-write. Skipped with intra-op threads > 1:
 * libtorch's OpenMP pool started before fork() hangs the children.
 */
static void warm_up(cs_model *model, cs_glue *glue)
{
	const cs_manifest *mf = model->mf;
	cs_glue_result res;
	int rc;

	if (!mf->example_json || !cs_glue_has_method(glue, "predict"))
		return;
	if (mf->threads > 1) {
		cs_log_info("no warm-up before forking: threads %d (a backend's thread pool does not survive fork)",
			    mf->threads);
		return;
	}
	/* the glue has no observer yet: the master records nothing */
	rc = call_example(model, glue, "warm-up", &res);
	if (rc == CS_OK)
		cs_log_info("warmed up with the manifest's example before forking");
	else
		cs_log_warn("warm-up with the manifest's example failed (HTTP %d); serving anyway",
			    res.http_status);
	free(res.body);
}

/* --check: run the example request through predict and print the answer. */
static int run_check(cs_model *model, cs_glue *glue)
{
	const cs_manifest *mf = model->mf;
	cs_glue_result res;
	int rc;

	if (!mf->example_json) {
		fprintf(stderr, "%s: loaded; no \"example\" in the manifest to run\n",
			mf->path);
		return 0;
	}
	if (!cs_glue_has_method(glue, "predict")) {
		fprintf(stderr, "%s: the glue has no public method 'predict' to run the example with\n",
			mf->path);
		return 1;
	}
	rc = call_example(model, glue, "check", &res);
	if (rc) {
		/* one line, on stderr only: the response is the reason */
		fprintf(stderr, "%s: the example request failed with HTTP %d: %.*s\n",
			mf->path, res.http_status, (int)res.body_len,
			res.body ? res.body : "");
	} else {
		fwrite(res.body, 1, res.body_len, stdout);
		fputc('\n', stdout);
	}
	free(res.body);
	return rc ? 1 : 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"manifest", required_argument, NULL, 'm'},
		{"listen", required_argument, NULL, 'l'},
		{"backlog", required_argument, NULL, 'b'},
		{"plugin-dir", required_argument, NULL, 'p'},
		{"lua-dir", required_argument, NULL, 'L'},
		{"log-level", required_argument, NULL, 'g'},
		{"check", no_argument, NULL, 'c'},
		{"model", required_argument, NULL, 'M'},
		{"scoreboard", required_argument, NULL, 'S'},
		{"accept-threads", required_argument, NULL, 'T'},
		{"registry", required_argument, NULL, 'r'},
		{"gateway", required_argument, NULL, 'G'},
		{"processes", required_argument, NULL, 'n'},
		{"max-processes", required_argument, NULL, 'N'},
		{"max-requests", required_argument, NULL, 'R'},
		{"pool", required_argument, NULL, 'O'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	const char *manifest_path = NULL, *listen_addr = NULL;
	const char *plugin_dir = NULL, *lua_dir = NULL;
	const char *model_ref = NULL, *registry_url = NULL;
	const char *scoreboard = NULL;
	int accept_threads = 0;
	char *stored_manifest = NULL;
	cs_heartbeat *hb = NULL;
	cs_gateway *gw = NULL;
	int gateway_on = 1;
	heartbeat_arg hb_arg;
	int is_child = 0;
	char err[CS_ERROR_SIZE * 8];
	char *unix_path = NULL;
	int unix_path_owner = 1;
	int backlog = 1024, level = CS_LOG_INFO, check = 0, c, rc = 1;
	cs_master_opts mopts = {0, 0, 0, 30};
	cs_manifest *mf = NULL;
	cs_model *model = NULL;
	cs_server srv;

	memset(&srv, 0, sizeof srv);
	srv.listen_fd = -1;
	while ((c = getopt_long(argc, argv, "m:l:p:n:hV", opts, NULL)) != -1) {
		switch (c) {
		case 'm': manifest_path = optarg; break;
		case 'l': listen_addr = optarg; break;
		case 'p': plugin_dir = optarg; break;
		case 'L': lua_dir = optarg; break;
		case 'b':
			backlog = atoi(optarg);
			if (backlog < 1) {
				fprintf(stderr, "cubeserve-worker: --backlog must be a positive number, got '%s'\n", optarg);
				return 2;
			}
			break;
		case 'g':
			level = cs_log_level_parse(optarg);
			if (level < 0) {
				fprintf(stderr, "cubeserve-worker: --log-level must be error, warn, info or debug, got '%s'\n", optarg);
				return 2;
			}
			break;
		case 'c': check = 1; break;
		case 'M': model_ref = optarg; break;
		case 'S': scoreboard = optarg; break;
		case 'O': cs_metrics_set_pool(optarg); break;
		case 'r': registry_url = optarg; break;
		case 'G':
			if (strcmp(optarg, "on") && strcmp(optarg, "off")) {
				fprintf(stderr, "cubeserve-worker: --gateway must be on or off, got '%s'\n", optarg);
				return 2;
			}
			gateway_on = strcmp(optarg, "on") == 0;
			break;
		case 'T':
		case 'n':
		case 'N':
		case 'R': {
			char *end;
			long v = strtol(optarg, &end, 10);

			if (*end || v < (c == 'R' ? 0 : 1) || v > (c == 'R' ? 1000000000L : 256)) {
				fprintf(stderr, "cubeserve-worker: --%s: '%s' is not a number in range\n",
					c == 'T' ? "accept-threads" : c == 'n' ? "processes" :
					c == 'N' ? "max-processes" : "max-requests",
					optarg);
				return 2;
			}
			if (c == 'T')
				accept_threads = (int)v;
			else if (c == 'n')
				mopts.processes = (int)v;
			else if (c == 'N')
				mopts.max_processes = (int)v;
			else
				mopts.max_requests = (unsigned long)v;
			break;
		}
		case 'h': usage(stdout); return 0;
		case 'V': printf("cubeserve-worker %s (plugin ABI %d.%d)\n", CS_VERSION,
				 CS_PLUGIN_ABI_MAJOR, CS_PLUGIN_ABI_MINOR);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "cubeserve-worker: unexpected argument '%s' (see --help)\n", argv[optind]);
		return 2;
	}
	if (model_ref && !registry_url)
		registry_url = getenv("CUBESERVE_REGISTRY");
	if (!manifest_path == !model_ref) {
		fprintf(stderr, "cubeserve-worker: give --manifest FILE or --model NAME[@VERSION] (see --help)\n");
		return 2;
	}
	if (model_ref && (!registry_url || !*registry_url)) {
		fprintf(stderr, "cubeserve-worker: --model needs --registry URL (or $CUBESERVE_REGISTRY)\n");
		return 2;
	}
	cs_log_setup(NULL, level);
	if (model_ref) {
		if (cs_registry_resolve_manifest(registry_url, model_ref, NULL,
						 &stored_manifest, NULL, err,
						 sizeof err) != CS_OK) {
			cs_log_error("%s", err);
			return 1;
		}
		manifest_path = stored_manifest;
		{
			char shown[600];

			cs_log_info("model %s from the registry at %s: %s (files verified)", model_ref,
				    cs_registry_url_mask(registry_url, shown, sizeof shown),
				    manifest_path);
		}
	}

	if (cs_manifest_load(manifest_path, &mf, err, sizeof err) != CS_OK) {
		cs_log_error("%s", err);
		free(stored_manifest);
		return 1;
	}
	cs_log_setup(mf->name, level);
	build_tree_defaults(&plugin_dir, &lua_dir);
	if (!lua_dir)
		lua_dir = getenv("CUBESERVE_LUA_DIR");
	if (!lua_dir || !*lua_dir)
		lua_dir = CS_LUA_DIR;
	srv.lua_dir = lua_dir;

	/*
	 * Bind first: a socket a live worker serves is refused before the
	 * (possibly slow) model load; nothing is accepted until serving starts.
	 */
	if (listen_addr && !check) {
		srv.listen_fd = cs_listen_open(listen_addr, backlog, &unix_path,
					       err, sizeof err);
		if (srv.listen_fd < 0) {
			cs_log_error("%s", err);
			goto out_free_manifest;
		}
	}
	if (cs_model_load(mf, plugin_dir, &model, err, sizeof err) != CS_OK) {
		cs_log_error("%s", err);
		goto out_free_manifest;
	}
	cs_log_info("loaded %s with plugin %s (%s) in %.3f s", mf->model_path ?
		    mf->model_path : "(no model file)", model->plugin->api->name,
		    model->plugin->path, model->load_seconds);
	srv.model = model;
	if (cs_glue_new(model, lua_dir, &srv.glue, err, sizeof err) != CS_OK) {
		cs_log_error("%s", err);
		goto out_free_model;
	}
	if (check) {
		rc = run_check(model, srv.glue);
		goto out_free_glue;
	}

	if (!listen_addr) {
		if (cs_listen_inherited(err, sizeof err) != 0) {
			cs_log_error("%s", err);
			goto out_free_glue;
		}
		srv.listen_fd = 0;
	}
	srv.listen_addr = listen_addr;
	srv.threads = accept_threads ? accept_threads :
		      mf->batching.max_batch_size ? mf->batching.threads : 1;
	/* batching alone (no thread count named): one event loop a process */
	srv.event_loop = mf->batching.max_batch_size && !accept_threads &&
			 !mf->batching.threads_given;
	/* one board for the whole pool: opened before any fork */
	if (cs_server_open_metrics(&srv, scoreboard, err, sizeof err)) {
		cs_log_error("%s", err);
		goto out_free_glue;
	}
	setup_signals(&srv.wait_mask);
	cs_log_info("serving model '%s' version %s on %s", mf->name, mf->version,
		    listen_addr ? listen_addr : "fd 0 (spawn-fcgi)");
	/*
	 * The gateway first: its open reads Redis once, so the heartbeat thread
	 * starts right before the fork, as without it (a fork while that thread
	 * is inside a command leaves the command's memory to the child).
	 */
	if (registry_url && gateway_on) {
		cs_gateway_config gc;

		memset(&gc, 0, sizeof gc);
		gc.url = registry_url;
		gc.model = mf->name;
		gc.listen_fd = srv.listen_fd;
		if (cs_gateway_open(&gc, &gw, err, sizeof err) != CS_OK ||
		    cs_gateway_start(gw, err, sizeof err) != CS_OK) {
			cs_log_error("%s", err);
			goto out_free_glue;
		}
		srv.gateway = gw;
	}
	if (registry_url) {
		cs_heartbeat_config hc;

		memset(&hc, 0, sizeof hc);
		hb_arg.srv = &srv;
		hb_arg.mopts = &mopts;
		hc.url = registry_url;
		hc.model = mf->name;
		hc.version = mf->version;
		hc.listen = listen_addr;
		hc.figures = heartbeat_figures;
		hc.arg = &hb_arg;
		if (cs_heartbeat_start(&hc, &hb, err, sizeof err) != CS_OK)
			cs_log_warn("%s; serving without heartbeats", err);
	}
	if (mopts.processes > 0) {
		warm_up(model, srv.glue);
		if (!mopts.max_processes)
			mopts.max_processes = mopts.processes * 4;
		switch (cs_master_run(&srv, &mopts)) {
		case CS_MASTER_CHILD_DONE:
			rc = 0;
			unix_path_owner = 0; /* the master removes the socket */
			is_child = 1;
			break;
		case CS_MASTER_CHILD_FAILED:
			rc = 1;
			unix_path_owner = 0;
			is_child = 1;
			break;
		case CS_MASTER_DONE:
			rc = 0;
			break;
		default:
			rc = 1;
		}
	} else {
		if (mopts.max_requests)
			srv.max_requests = mopts.max_requests;
		rc = cs_server_run(&srv) == 0 ? 0 : 1;
		cs_log_info("stopped after %lu requests", srv.requests);
	}

	/* a forked child has no heartbeat thread: only the master stops it */
	if (!is_child)
		cs_heartbeat_stop(hb);
	if (!is_child)
		cs_gateway_stop(gw);
out_free_glue:
	cs_gateway_close(gw);
	cs_metrics_close(srv.metrics);
	cs_glue_free(srv.glue);
out_free_model:
	cs_model_free(model);
out_free_manifest:
	if (srv.listen_fd > 0)
		close(srv.listen_fd);
	if (unix_path && unix_path_owner)
		unlink(unix_path);
	free(unix_path);
	cs_manifest_free(mf);
	free(stored_manifest);
	return rc;
}
