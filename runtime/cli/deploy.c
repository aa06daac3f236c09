/*
 * deploy.c - deployments: worker pools under spawn-fcgi, one unix socket
 * per process, their nginx routes, and their state in the registry.
 * deploy, undeploy, pause, resume, restart, scale, logs, status, routes.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "cli.h"
#include "core/names.h"
#include "registry/url.h"

#define MAX_PROCESSES 64
#define DEFAULT_TIMEOUT_MS 60000 /* a record published before the field existed */

static long long wall_ms(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static void set_str(json_t *o, const char *k, const char *v)
{
	json_object_set_new(o, k, json_string(v ? v : ""));
}

static void set_int(json_t *o, const char *k, long long v)
{
	char buf[32];

	snprintf(buf, sizeof buf, "%lld", v);
	set_str(o, k, buf);
}

static void set_json(json_t *o, const char *k, json_t *v)
{
	char *s = json_dumps(v, JSON_COMPACT);

	set_str(o, k, s ? s : "[]");
	free(s);
}

/* What every worker of this model has in its command line. */
static void needle(const char *name, char *out, size_t len)
{
	snprintf(out, len, "cubeserve-worker --model %s@", name);
}

/* The log of a model's workers. */
static void log_path(const cs_cli *cli, const char *name, char *out, size_t len)
{
	snprintf(out, len, "%s/logs/%s.log", cli->run_dir, name);
}

static void print_log_tail(const cs_cli *cli, const char *name, int lines)
{
	char p[PATH_MAX + 32], cmdline[PATH_MAX + 64];
	char *argv[] = {"/usr/bin/tail", "-n", NULL, p, NULL};
	char out[8192], n[16];

	(void)cmdline;
	log_path(cli, name, p, sizeof p);
	snprintf(n, sizeof n, "%d", lines);
	argv[2] = n;
	if (cli_run(argv, out, sizeof out, 5000) == 0)
		fprintf(stderr, "--- the last lines of %s:\n%s", p, out);
}

/*
 * Stops the processes in pids (a JSON array of numbers) that still run
 * this model's worker, and removes their sockets.
 */
static void stop_procs(const cs_cli *cli, const char *name, json_t *pids,
		       json_t *socks)
{
	char nd[128];
	size_t i;
	json_t *v;

	needle(name, nd, sizeof nd);
	json_array_foreach(pids, i, v) {
		pid_t pid = (pid_t)json_integer_value(v);

		if (pid > 0 && cli_stop_pid(pid, nd, 5000) != 0)
			cli_err(cli, "warning: process %ld of %s did not stop", (long)pid, name);
	}
	json_array_foreach(socks, i, v)
		unlink(json_string_value(v));
	(void)cli;
}

/*
 * Starts n workers of name@version on new sockets (generations from
 * *gen on) and waits until each answers GET /models/NAME over its socket.
 * On CLI_OK, socks and pids get the new sockets and pids appended.
 * On failure everything started is stopped again.
 */
static int start_procs(cs_cli *cli, const char *name, const char *version,
		       int n, long long *gen, json_t *socks, json_t *pids,
		       int timeout_s)
{
	static const char *const sf_cand[] = {"/usr/bin/spawn-fcgi", NULL};
	char model[200], logf[PATH_MAX + 32], err[CS_ERROR_SIZE], path[128];
	json_t *new_socks = json_array(), *new_pids = json_array();
	long long deadline;
	int rc = CLI_FAIL, ready = 0;
	size_t i;
	json_t *v;

	if (!cli->spawn_fcgi)
		cli->spawn_fcgi = cli_find_tool("CS_SPAWN_FCGI", "spawn-fcgi", sf_cand);
	if (!cli->spawn_fcgi) {
		cli_err(cli, "spawn-fcgi is not installed (apt-get install spawn-fcgi, or set CS_SPAWN_FCGI)");
		goto out;
	}
	if (access(cli->worker, X_OK) != 0) {
		cli_err(cli, "no worker at %s (build it, or set CUBESERVE_WORKER)", cli->worker);
		goto out;
	}
	snprintf(model, sizeof model, "%s@%s", name, version);
	log_path(cli, name, logf, sizeof logf);
	for (int k = 0; k < n; k++) {
		char sock[PATH_MAX];
		pid_t pid;

		snprintf(sock, sizeof sock, "%s/sockets/%s.%lld.sock", cli->run_dir, name, (*gen)++);
		if (strlen(sock) > 107) {
			cli_err(cli, "socket path too long for a unix socket (%zu > 107 bytes): %s; use a shorter --run-dir",
				strlen(sock), sock);
			goto out_stop;
		}
		unlink(sock);
		{
			char *argv[] = {cli->spawn_fcgi, "-n", "-s", sock, "-M", "0600", "--",
					cli->worker, "--model", model, "--registry",
					cli->registry_url, "--plugin-dir", cli->plugin_dir,
					"--lua-dir", cli->lua_dir, NULL};

			/*
			 * an address with a password goes to the worker in its
			 * environment, not on its command line (ps shows that)
			 */
			if (cs_registry_url_has_secret(cli->registry_url)) {
				setenv("CUBESERVE_REGISTRY", cli->registry_url, 1);
				memmove(&argv[10], &argv[12], 5 * sizeof argv[0]);
			}
			pid = cli_spawn(argv, logf, err, sizeof err);
		}
		if (pid < 0) {
			cli_err(cli, "%s", err);
			goto out_stop;
		}
		json_array_append_new(new_socks, json_string(sock));
		json_array_append_new(new_pids, json_integer(pid));
	}
	/* ready: each socket answers the model's metadata with 200 */
	snprintf(path, sizeof path, "/models/%s", name);
	deadline = cli_now_ms() + (long long)timeout_s * 1000;
	while (ready < n) {
		ready = 0;
		json_array_foreach(new_socks, i, v) {
			pid_t pid = (pid_t)json_integer_value(json_array_get(new_pids, i));

			if (cli_fcgi_get(json_string_value(v), path, 1000, NULL, 0) == 200) {
				ready++;
				continue;
			}
			if (!cli_pid_alive(pid)) {
				cli_err(cli, "worker %zu of %s (pid %ld) exited before it was ready", i + 1,
					model, (long)pid);
				print_log_tail(cli, name, 15);
				goto out_stop;
			}
		}
		if (ready == n)
			break;
		if (cli_now_ms() >= deadline) {
			cli_err(cli, "%d of %d worker(s) of %s did not answer GET %s within %d s",
				n - ready, n, model, path, timeout_s);
			print_log_tail(cli, name, 15);
			goto out_stop;
		}
		cli_sleep_ms(50);
	}
	json_array_extend(socks, new_socks);
	json_array_extend(pids, new_pids);
	rc = CLI_OK;
	goto out;
out_stop:
	stop_procs(cli, name, new_pids, new_socks);
out:
	json_decref(new_socks);
	json_decref(new_pids);
	return rc;
}

/* Waits until nginx answers the model's route with 200 (after a reload). */
static int wait_route(cs_cli *cli, const char *name, int expect)
{
	char path[128];
	int port = cli_nginx_port(cli), st = -1;
	long long deadline = cli_now_ms() + 10000;

	if (port <= 0)
		return 0;
	snprintf(path, sizeof path, "/models/%s", name);
	while (cli_now_ms() < deadline) {
		st = cli_http_get(port, path, 2000, NULL, 0);
		if (st == expect)
			return 0;
		cli_sleep_ms(50);
	}
	cli_err(cli, "nginx on 127.0.0.1:%d answers %s with %d, expected %d", port, path, st, expect);
	return -1;
}

/* Whether any process of a deployment record still runs. */
static int any_alive(const json_t *dep, const char *name)
{
	json_t *pids = json_loads(jstr(dep, "pids", "[]"), 0, NULL), *v;
	char nd[128];
	size_t i;
	int alive = 0;

	needle(name, nd, sizeof nd);
	json_array_foreach(pids, i, v)
		if (cli_pid_alive((pid_t)json_integer_value(v)) &&
		    cli_pid_matches((pid_t)json_integer_value(v), nd))
			alive = 1;
	json_decref(pids);
	return alive;
}

/* A new deployment record. */
static json_t *record(cs_cli *cli, const char *name, const char *version,
		      const char *state, int processes, json_t *socks,
		      json_t *pids, long long gen, long long max_body,
		      long long timeout_ms)
{
	char route[128], logf[PATH_MAX + 32], host[256];
	json_t *d = json_object();

	snprintf(route, sizeof route, "/models/%s", name);
	log_path(cli, name, logf, sizeof logf);
	if (gethostname(host, sizeof host - 1) != 0)
		snprintf(host, sizeof host, "localhost");
	set_str(d, "version", version);
	set_str(d, "state", state);
	set_int(d, "processes", processes);
	set_int(d, "min", 1);
	set_int(d, "max", MAX_PROCESSES);
	set_json(d, "sockets", socks);
	set_json(d, "pids", pids);
	set_str(d, "route", route);
	set_str(d, "host", host);
	set_str(d, "run_dir", cli->run_dir);
	set_str(d, "log", logf);
	set_str(d, "registry", cli_registry_shown(cli));
	set_str(d, "worker", cli->worker);
	set_str(d, "plugin_dir", cli->plugin_dir);
	set_str(d, "lua_dir", cli->lua_dir);
	set_int(d, "next_socket", gen);
	set_int(d, "max_body_bytes", max_body);
	set_int(d, "request_timeout_ms", timeout_ms);
	set_int(d, "updated", wall_ms());
	return d;
}

/* Writes a record and the routes; prints what failed. */
static int put_and_route(cs_cli *cli, const char *name, json_t *d, int *reloaded)
{
	if (cs_registry_deployment_put(cli->reg, name, d) != CS_OK)
		return cli_reg_fail(cli);
	return cli_routes_apply(cli, reloaded);
}

int cli_deploy(cs_cli *cli, const char *name, const char *version, int n,
	       int timeout_s)
{
	char ref[200], err[CS_ERROR_SIZE * 2], *mpath = NULL;
	json_t *m = NULL, *dep = NULL, *socks = json_array(), *pids = json_array(), *d = NULL;
	const char *ver;
	long long gen = 0, max_body, timeout_ms;
	int rc, reloaded = 0, port;

	if ((rc = cli_registry(cli, 0)) != CLI_OK) {
		if (rc == CLI_NOTFOUND)
			cli_err(cli, "no model named '%s': the registry is empty", name);
		goto out;
	}
	if (cs_registry_model(cli->reg, name, version, 0, &m) != CS_OK) {
		rc = cli_reg_fail(cli);
		goto out;
	}
	ver = jstr(json_object_get(m, "record"), "version", "");
	max_body = jnum(json_object_get(m, "record"), "max_body_bytes", 1 << 20);
	timeout_ms = jnum(json_object_get(m, "record"), "request_timeout_ms", DEFAULT_TIMEOUT_MS);
	if (cs_registry_deployment(cli->reg, name, &dep) == CS_OK) {
		const char *state = jstr(dep, "state", "");

		if (strcmp(state, "stopped") != 0 && any_alive(dep, name)) {
			cli_err(cli, "refused: %s is already deployed (version %s, %s); use restart, scale or undeploy",
				name, jstr(dep, "version", ""), state);
			rc = CLI_REFUSED;
			goto out;
		}
		if (strcmp(state, "paused") == 0) {
			cli_err(cli, "refused: %s is deployed and paused; `cubeserve resume %s`", name, name);
			rc = CLI_REFUSED;
			goto out;
		}
		gen = jnum(dep, "next_socket", 0);
	}
	snprintf(ref, sizeof ref, "%s@%s", name, ver);
	cli_step(cli, "deploy %s with %d process(es)", ref, n);
	cli_step(cli, "  verify the stored files (sha256)");
	if (!cli_store(cli)) {
		rc = CLI_FAIL;
		goto out;
	}
	if ((rc = cs_registry_resolve_manifest(cli->registry_url, ref, cli->store, &mpath,
					       NULL, err, sizeof err)) != CS_OK) {
		cli_err(cli, "%s", err);
		rc = cli_exit_for(rc);
		goto out;
	}
	cli_step(cli, "  start the workers under spawn-fcgi (sockets in %s/sockets, log %s/logs/%s.log)",
		 cli->run_dir, cli->run_dir, name);
	if ((rc = start_procs(cli, name, ver, n, &gen, socks, pids, timeout_s)) != CLI_OK)
		goto out;
	cli_step(cli, "  ready: every socket answers GET /models/%s", name);
	d = record(cli, name, ver, "running", n, socks, pids, gen, max_body, timeout_ms);
	cli_step(cli, "  record the deployment, write the route, nginx -t, reload");
	rc = put_and_route(cli, name, d, &reloaded);
	if (rc != CLI_OK) {
		cli_err(cli, "undoing the deployment of %s", ref);
		cs_registry_deployment_delete(cli->reg, name);
		stop_procs(cli, name, pids, socks);
		cli_routes_apply(cli, &reloaded);
		goto out;
	}
	port = cli_nginx_port(cli);
	if (reloaded && wait_route(cli, name, 200) != 0) {
		rc = CLI_FAIL;
		goto out;
	}
	if (reloaded)
		cli_step(cli, "deployed %s: http://127.0.0.1:%d/models/%s", ref, port, name);
	else
		cli_step(cli, "deployed %s; no cubeserve nginx runs in %s/nginx: include the routes (`cubeserve routes`) in your nginx",
			 ref, cli->run_dir);
	if (cli->json) {
		json_object_set_new(d, "name", json_string(name));
		cli_print_json(d);
	}
out:
	free(mpath);
	json_decref(m);
	json_decref(dep);
	json_decref(d);
	json_decref(socks);
	json_decref(pids);
	return rc;
}

/* Reads the common "NAME [--timeout S]" form; returns -1 when done. */
static int name_args(cs_cli *cli, int argc, char **argv, int want_args,
		     int *timeout_s, int *processes)
{
	static const struct option opts[] = {
		{"timeout", required_argument, NULL, 't'},
		{"processes", required_argument, NULL, 'p'},
		{"worker", required_argument, NULL, 'w'},
		{"plugin-dir", required_argument, NULL, 'P'},
		{"lua-dir", required_argument, NULL, 'L'},
		{NULL, 0, NULL, 0},
	};
	int c;

	while ((c = cli_getopt(cli, argc, argv, "t:p:", opts)) != -1) {
		switch (c) {
		case 't':
			*timeout_s = atoi(optarg);
			if (*timeout_s < 1) {
				cli_err(cli, "--timeout must be a number of seconds, got '%s'", optarg);
				return CLI_USAGE;
			}
			break;
		case 'p':
			if (!processes) {
				cli_err(cli, "--processes is for deploy (scale takes N)");
				return CLI_USAGE;
			}
			*processes = atoi(optarg);
			if (*processes < 1 || *processes > MAX_PROCESSES) {
				cli_err(cli, "--processes must be 1..%d, got '%s'", MAX_PROCESSES, optarg);
				return CLI_USAGE;
			}
			break;
		case 'w': free(cli->worker); cli->worker = strdup(optarg); break;
		case 'P': free(cli->plugin_dir); cli->plugin_dir = strdup(optarg); break;
		case 'L': free(cli->lua_dir); cli->lua_dir = strdup(optarg); break;
		case CLI_OPT_HELP: return CLI_OK;
		default: return CLI_USAGE;
		}
	}
	if (argc - optind != want_args) {
		cli_err(cli, "expected %s (see --help)", want_args == 2 ? "NAME N" : "NAME");
		return CLI_USAGE;
	}
	return -1;
}

int cli_cmd_deploy(cs_cli *cli, int argc, char **argv)
{
	char name[80], ver[80], err[CS_ERROR_SIZE];
	int timeout_s = 60, n = 1, rc;

	if ((rc = name_args(cli, argc, argv, 1, &timeout_s, &n)) != -1)
		return rc;
	if (cs_model_ref_parse(argv[optind], name, sizeof name, ver, sizeof ver, err,
			       sizeof err) != CS_OK) {
		cli_err(cli, "%s", err);
		return CLI_USAGE;
	}
	if (cli_run_dir_init(cli) != CLI_OK)
		return CLI_FAIL;
	return cli_deploy(cli, name, ver[0] ? ver : NULL, n, timeout_s);
}

/* Connects and reads a deployment; prints why not. */
static int get_dep(cs_cli *cli, const char *name, json_t **dep)
{
	int rc = cli_registry(cli, 0);

	*dep = NULL;
	if (rc == CLI_NOTFOUND) {
		cli_err(cli, "model '%s' is not deployed (the registry is empty)", name);
		return CLI_NOTFOUND;
	}
	if (rc != CLI_OK)
		return rc;
	if (cs_registry_deployment(cli->reg, name, dep) != CS_OK)
		return cli_reg_fail(cli);
	return CLI_OK;
}

int cli_undeploy(cs_cli *cli, const char *name)
{
	json_t *dep, *pids, *socks;
	int rc, reloaded;

	if ((rc = get_dep(cli, name, &dep)) != CLI_OK)
		return rc;
	pids = json_loads(jstr(dep, "pids", "[]"), 0, NULL);
	socks = json_loads(jstr(dep, "sockets", "[]"), 0, NULL);
	if (cs_registry_deployment_delete(cli->reg, name) != CS_OK) {
		rc = cli_reg_fail(cli);
		goto out;
	}
	cli_step(cli, "undeploy %s: remove the route (nginx reload)", name);
	rc = cli_routes_apply(cli, &reloaded);
	cli_step(cli, "  stop %zu process(es)", json_array_size(pids));
	stop_procs(cli, name, pids, socks);
	cli_step(cli, "undeployed %s", name);
out:
	json_decref(pids);
	json_decref(socks);
	json_decref(dep);
	return rc;
}

int cli_cmd_undeploy(cs_cli *cli, int argc, char **argv)
{
	int timeout_s = 60, rc;

	if ((rc = name_args(cli, argc, argv, 1, &timeout_s, NULL)) != -1)
		return rc;
	return cli_undeploy(cli, argv[optind]);
}

int cli_cmd_pause(cs_cli *cli, int argc, char **argv)
{
	json_t *dep, *pids, *socks, *d, *empty;
	int timeout_s = 60, rc, reloaded;
	const char *name;

	if ((rc = name_args(cli, argc, argv, 1, &timeout_s, NULL)) != -1)
		return rc;
	name = argv[optind];
	empty = json_array();
	if ((rc = get_dep(cli, name, &dep)) != CLI_OK) {
		json_decref(empty);
		return rc;
	}
	if (strcmp(jstr(dep, "state", ""), "paused") == 0) {
		cli_step(cli, "%s is already paused", name);
		json_decref(dep);
		json_decref(empty);
		return CLI_OK;
	}
	pids = json_loads(jstr(dep, "pids", "[]"), 0, NULL);
	socks = json_loads(jstr(dep, "sockets", "[]"), 0, NULL);
	d = record(cli, name, jstr(dep, "version", ""), "paused", (int)jnum(dep, "processes", 1),
		   empty, empty, jnum(dep, "next_socket", 0), jnum(dep, "max_body_bytes", 1 << 20),
		   jnum(dep, "request_timeout_ms", DEFAULT_TIMEOUT_MS));
	cli_step(cli, "pause %s: route answers 503 (nginx reload), then stop %zu process(es)",
		 name, json_array_size(pids));
	rc = put_and_route(cli, name, d, &reloaded);
	if (rc == CLI_OK) {
		stop_procs(cli, name, pids, socks);
		if (reloaded)
			wait_route(cli, name, 503);
		cli_step(cli, "paused %s (`cubeserve resume %s` starts it again)", name, name);
	}
	json_decref(d);
	json_decref(pids);
	json_decref(socks);
	json_decref(dep);
	json_decref(empty);
	return rc;
}

/*
 * Replaces the processes of a deployment by n new ones (resume, restart):
 * start and wait for the new, switch the route, stop the old.
 */
static int replace(cs_cli *cli, const char *name, json_t *dep, int n,
		   int timeout_s, const char *what)
{
	json_t *old_pids = json_loads(jstr(dep, "pids", "[]"), 0, NULL);
	json_t *old_socks = json_loads(jstr(dep, "sockets", "[]"), 0, NULL);
	json_t *socks = json_array(), *pids = json_array(), *d = NULL;
	long long gen = jnum(dep, "next_socket", 0);
	const char *ver = jstr(dep, "version", "");
	int rc, reloaded = 0;

	cli_step(cli, "%s %s@%s: start %d process(es)", what, name, ver, n);
	rc = start_procs(cli, name, ver, n, &gen, socks, pids, timeout_s);
	if (rc != CLI_OK)
		goto out;
	d = record(cli, name, ver, "running", n, socks, pids, gen,
		   jnum(dep, "max_body_bytes", 1 << 20),
		   jnum(dep, "request_timeout_ms", DEFAULT_TIMEOUT_MS));
	cli_step(cli, "  switch the route to the new process(es) (nginx reload)");
	rc = put_and_route(cli, name, d, &reloaded);
	if (rc != CLI_OK) {
		stop_procs(cli, name, pids, socks);
		goto out;
	}
	if (json_array_size(old_pids))
		cli_step(cli, "  stop the %zu old process(es)", json_array_size(old_pids));
	stop_procs(cli, name, old_pids, old_socks);
	if (reloaded && wait_route(cli, name, 200) != 0)
		rc = CLI_FAIL;
	else
		cli_step(cli, "%s %s: %d process(es) running", what, name, n);
out:
	json_decref(d);
	json_decref(socks);
	json_decref(pids);
	json_decref(old_pids);
	json_decref(old_socks);
	return rc;
}

int cli_cmd_resume(cs_cli *cli, int argc, char **argv)
{
	json_t *dep;
	int timeout_s = 60, rc;

	if ((rc = name_args(cli, argc, argv, 1, &timeout_s, NULL)) != -1)
		return rc;
	if ((rc = get_dep(cli, argv[optind], &dep)) != CLI_OK)
		return rc;
	if (strcmp(jstr(dep, "state", ""), "running") == 0 && any_alive(dep, argv[optind])) {
		cli_step(cli, "%s is running", argv[optind]);
		json_decref(dep);
		return CLI_OK;
	}
	if (cli_run_dir_init(cli) == CLI_OK)
		rc = replace(cli, argv[optind], dep, (int)jnum(dep, "processes", 1), timeout_s, "resume");
	else
		rc = CLI_FAIL;
	json_decref(dep);
	return rc;
}

int cli_cmd_restart(cs_cli *cli, int argc, char **argv)
{
	json_t *dep;
	int timeout_s = 60, rc;

	if ((rc = name_args(cli, argc, argv, 1, &timeout_s, NULL)) != -1)
		return rc;
	if ((rc = get_dep(cli, argv[optind], &dep)) != CLI_OK)
		return rc;
	if (strcmp(jstr(dep, "state", ""), "paused") == 0) {
		cli_err(cli, "%s is paused; `cubeserve resume %s` starts it", argv[optind], argv[optind]);
		json_decref(dep);
		return CLI_REFUSED;
	}
	rc = replace(cli, argv[optind], dep, (int)jnum(dep, "processes", 1), timeout_s, "restart");
	json_decref(dep);
	return rc;
}

int cli_cmd_scale(cs_cli *cli, int argc, char **argv)
{
	json_t *dep, *pids = NULL, *socks = NULL, *d = NULL, *gone_p, *gone_s;
	int timeout_s = 60, rc, n, cur, reloaded;
	char reason[128], *end;
	const char *name;
	long long gen;

	if ((rc = name_args(cli, argc, argv, 2, &timeout_s, NULL)) != -1)
		return rc;
	name = argv[optind];
	n = (int)strtol(argv[optind + 1], &end, 10);
	if (*end || n < 1 || n > MAX_PROCESSES) {
		cli_err(cli, "N must be 1..%d, got '%s'", MAX_PROCESSES, argv[optind + 1]);
		return CLI_USAGE;
	}
	if ((rc = get_dep(cli, name, &dep)) != CLI_OK)
		return rc;
	snprintf(reason, sizeof reason, "manual: cubeserve scale %s %d by %s", name, n, cli_user(NULL));
	if (cs_registry_hint(cli->reg, name, n, reason) != CS_OK) {
		rc = cli_reg_fail(cli);
		goto out;
	}
	pids = json_loads(jstr(dep, "pids", "[]"), 0, NULL);
	socks = json_loads(jstr(dep, "sockets", "[]"), 0, NULL);
	gen = jnum(dep, "next_socket", 0);
	cur = (int)json_array_size(pids);
	if (strcmp(jstr(dep, "state", ""), "running") != 0) {
		/* paused or stopped: only the number to start with changes */
		d = record(cli, name, jstr(dep, "version", ""), jstr(dep, "state", ""), n,
			   socks, pids, gen, jnum(dep, "max_body_bytes", 1 << 20),
		   jnum(dep, "request_timeout_ms", DEFAULT_TIMEOUT_MS));
		if (cs_registry_deployment_put(cli->reg, name, d) != CS_OK)
			rc = cli_reg_fail(cli);
		else
			cli_step(cli, "%s is %s: it will start with %d process(es)", name,
				 jstr(dep, "state", ""), n);
		goto out;
	}
	if (n > cur) {
		cli_step(cli, "scale %s from %d to %d: start %d process(es)", name, cur, n, n - cur);
		rc = start_procs(cli, name, jstr(dep, "version", ""), n - cur, &gen, socks, pids,
				 timeout_s);
		if (rc != CLI_OK)
			goto out;
		d = record(cli, name, jstr(dep, "version", ""), "running", n, socks, pids, gen,
			   jnum(dep, "max_body_bytes", 1 << 20),
		   jnum(dep, "request_timeout_ms", DEFAULT_TIMEOUT_MS));
		rc = put_and_route(cli, name, d, &reloaded);
		if (rc != CLI_OK) {
			/* put the old record back and stop the new processes */
			json_t *np = json_array(), *ns = json_array();

			for (size_t i = (size_t)cur; i < json_array_size(pids); i++) {
				json_array_append(np, json_array_get(pids, i));
				json_array_append(ns, json_array_get(socks, i));
			}
			stop_procs(cli, name, np, ns);
			json_decref(np);
			json_decref(ns);
			json_object_del(dep, "name");
			cs_registry_deployment_put(cli->reg, name, dep);
			cli_routes_apply(cli, &reloaded);
			goto out;
		}
	} else if (n < cur) {
		cli_step(cli, "scale %s from %d to %d: take %d process(es) out of the route, then stop them",
			 name, cur, n, cur - n);
		gone_p = json_array();
		gone_s = json_array();
		while ((int)json_array_size(pids) > n) {
			size_t last = json_array_size(pids) - 1;

			json_array_append(gone_p, json_array_get(pids, last));
			json_array_append(gone_s, json_array_get(socks, last));
			json_array_remove(pids, last);
			json_array_remove(socks, last);
		}
		d = record(cli, name, jstr(dep, "version", ""), "running", n, socks, pids, gen,
			   jnum(dep, "max_body_bytes", 1 << 20),
		   jnum(dep, "request_timeout_ms", DEFAULT_TIMEOUT_MS));
		rc = put_and_route(cli, name, d, &reloaded);
		if (rc == CLI_OK)
			stop_procs(cli, name, gone_p, gone_s);
		json_decref(gone_p);
		json_decref(gone_s);
		if (rc != CLI_OK)
			goto out;
	} else {
		cli_step(cli, "%s already runs %d process(es)", name, n);
	}
	cli_step(cli, "%s: %d process(es)", name, n);
	rc = CLI_OK;
out:
	json_decref(d);
	json_decref(pids);
	json_decref(socks);
	json_decref(dep);
	return rc;
}

int cli_cmd_logs(cs_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"lines", required_argument, NULL, 'n'},
		{"follow", no_argument, NULL, 'f'},
		{NULL, 0, NULL, 0},
	};
	char p[PATH_MAX + 32], n[16] = "50", err[CS_ERROR_SIZE], name[80], ver[80];
	int c, follow = 0;

	while ((c = cli_getopt(cli, argc, argv, "n:f", opts)) != -1) {
		switch (c) {
		case 'n':
			if (atoi(optarg) < 1) {
				cli_err(cli, "-n must be a positive number of lines");
				return CLI_USAGE;
			}
			snprintf(n, sizeof n, "%d", atoi(optarg));
			break;
		case 'f': follow = 1; break;
		case CLI_OPT_HELP: return CLI_OK;
		default: return CLI_USAGE;
		}
	}
	if (argc - optind != 1) {
		cli_err(cli, "expected NAME (see --help)");
		return CLI_USAGE;
	}
	if (cs_model_ref_parse(argv[optind], name, sizeof name, ver, sizeof ver, err,
			       sizeof err) != CS_OK) {
		cli_err(cli, "%s", err);
		return CLI_USAGE;
	}
	log_path(cli, name, p, sizeof p);
	if (access(p, R_OK) != 0) {
		cli_err(cli, "no log for '%s' at %s (was it deployed from this run directory?)", name, p);
		return CLI_NOTFOUND;
	}
	fflush(stdout);
	{
		char *argv2[] = {"/usr/bin/tail", "-n", n, follow ? "-f" : p, follow ? p : NULL, NULL};

		execv(argv2[0], argv2);
	}
	cli_err(cli, "cannot run tail: %s", strerror(errno));
	return CLI_FAIL;
}

static const char *dash(const char *s)
{
	return s && *s ? s : "-";
}

int cli_cmd_status(cs_cli *cli, int argc, char **argv)
{
	json_t *deps = NULL, *out, *d, *insts, *in;
	int c, rc, port;
	size_t i, j;

	while ((c = cli_getopt(cli, argc, argv, "", NULL)) != -1)
		return c == CLI_OPT_HELP ? CLI_OK : CLI_USAGE;
	if (argc - optind > 1) {
		cli_err(cli, "expected at most one NAME (see --help)");
		return CLI_USAGE;
	}
	out = json_array();
	rc = cli_registry(cli, 0);
	if (rc == CLI_NOTFOUND) {
		rc = CLI_OK;
		deps = json_array();
	} else if (rc != CLI_OK) {
		json_decref(out);
		return rc;
	} else if (cs_registry_deployments(cli->reg, &deps) != CS_OK) {
		json_decref(out);
		return cli_reg_fail(cli);
	}
	port = cli->reg ? cli_nginx_port(cli) : 0;
	json_array_foreach(deps, i, d) {
		const char *name = jstr(d, "name", "");
		double rps = 0, p50 = -1, p99 = -1;
		long long reqs = 0;
		const char *last = "";

		if (argc - optind == 1 && strcmp(argv[optind], name) != 0)
			continue;
		if (cs_registry_instances(cli->reg, name, &insts) != CS_OK) {
			rc = cli_reg_fail(cli);
			goto out;
		}
		json_array_foreach(insts, j, in) {
			rps += atof(jstr(in, "rps", "0"));
			reqs += jnum(in, "requests", 0);
			if (jstr(in, "p50_ms", "")[0] && atof(jstr(in, "p50_ms", "")) > p50)
				p50 = atof(jstr(in, "p50_ms", ""));
			if (jstr(in, "p99_ms", "")[0] && atof(jstr(in, "p99_ms", "")) > p99)
				p99 = atof(jstr(in, "p99_ms", ""));
			if (jstr(in, "last_error", "")[0])
				last = jstr(in, "last_error", "");
		}
		json_object_set(d, "instances", insts);
		json_object_set_new(d, "live", json_integer((json_int_t)json_array_size(insts)));
		json_object_set_new(d, "rps", json_real(rps));
		json_object_set_new(d, "requests", json_integer(reqs));
		json_object_set_new(d, "p50_ms", p50 >= 0 ? json_real(p50) : json_null());
		json_object_set_new(d, "p99_ms", p99 >= 0 ? json_real(p99) : json_null());
		json_object_set_new(d, "last_error", json_string(last));
		if (port > 0) {
			char url[160];

			snprintf(url, sizeof url, "http://127.0.0.1:%d/models/%s", port, name);
			json_object_set_new(d, "url", json_string(url));
		}
		json_array_append(out, d);
		json_decref(insts);
	}
	if (argc - optind == 1 && json_array_size(out) == 0) {
		cli_err(cli, "model '%s' is not deployed", argv[optind]);
		rc = CLI_NOTFOUND;
		goto out;
	}
	if (cli->json) {
		cli_print_json(out);
		goto out;
	}
	if (json_array_size(out) == 0) {
		printf("no deployments\n");
		goto out;
	}
	printf("%-16s %-10s %-8s %-6s %-8s %-9s %-8s %-8s %s\n", "MODEL", "VERSION", "STATE",
	       "PROCS", "REQ/S", "REQUESTS", "P50(ms)", "P99(ms)", "LAST ERROR");
	json_array_foreach(out, i, d) {
		char procs[32], p50s[16], p99s[16];
		json_t *v;

		snprintf(procs, sizeof procs, "%lld/%lld",
			 (long long)json_integer_value(json_object_get(d, "live")),
			 jnum(d, "processes", 0));
		v = json_object_get(d, "p50_ms");
		snprintf(p50s, sizeof p50s, json_is_real(v) ? "%.2f" : "-", json_real_value(v));
		v = json_object_get(d, "p99_ms");
		snprintf(p99s, sizeof p99s, json_is_real(v) ? "%.2f" : "-", json_real_value(v));
		printf("%-16s %-10s %-8s %-6s %-8.1f %-9lld %-8s %-8s %s\n", jstr(d, "name", ""),
		       jstr(d, "version", ""), jstr(d, "state", ""), procs,
		       json_real_value(json_object_get(d, "rps")),
		       (long long)json_integer_value(json_object_get(d, "requests")), p50s, p99s,
		       dash(jstr(d, "last_error", "")));
		if (json_object_get(d, "url"))
			printf("  route %s\n", jstr(d, "url", ""));
		json_array_foreach(json_object_get(d, "instances"), j, in)
			printf("  instance %-24s %-8s %-40s requests %s, %s req/s\n",
			       jstr(in, "id", ""), jstr(in, "state", ""), jstr(in, "listen", ""),
			       jstr(in, "requests", "0"), dash(jstr(in, "rps", "")));
	}
out:
	json_decref(out);
	json_decref(deps);
	return rc;
}

int cli_cmd_routes(cs_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"upstreams", no_argument, NULL, 'u'},
		{"locations", no_argument, NULL, 'l'},
		{NULL, 0, NULL, 0},
	};
	json_t *deps = NULL;
	int c, rc, which = 0;
	char *ubuf = NULL, *lbuf = NULL;
	size_t ulen = 0, llen = 0;
	FILE *fu, *fl;

	while ((c = cli_getopt(cli, argc, argv, "", opts)) != -1) {
		switch (c) {
		case 'u': which = 1; break;
		case 'l': which = 2; break;
		case CLI_OPT_HELP: return CLI_OK;
		default: return CLI_USAGE;
		}
	}
	if (argc - optind != 0) {
		cli_err(cli, "takes no arguments (see --help)");
		return CLI_USAGE;
	}
	rc = cli_registry(cli, 0);
	if (rc == CLI_NOTFOUND) {
		deps = json_array();
	} else if (rc != CLI_OK) {
		return rc;
	} else if (cs_registry_deployments(cli->reg, &deps) != CS_OK) {
		return cli_reg_fail(cli);
	}
	fu = open_memstream(&ubuf, &ulen);
	fl = open_memstream(&lbuf, &llen);
	if (!fu || !fl) {
		json_decref(deps);
		return CLI_FAIL;
	}
	rc = cli_routes_render(cli, deps, fu, fl);
	fclose(fu);
	fclose(fl);
	if (rc == CLI_OK) {
		if (which != 2)
			printf("# --- upstreams: include inside http {} ---\n%s", ubuf);
		if (which != 1)
			printf("# --- locations: include inside server {} ---\n%s", lbuf);
	}
	free(ubuf);
	free(lbuf);
	json_decref(deps);
	return rc;
}

void cli_stop_all(cs_cli *cli)
{
	json_t *deps = NULL, *d;
	size_t i;

	if (!cli->reg || cs_registry_deployments(cli->reg, &deps) != CS_OK)
		return;
	json_array_foreach(deps, i, d) {
		const char *name = jstr(d, "name", "");
		json_t *pids = json_loads(jstr(d, "pids", "[]"), 0, NULL);
		json_t *socks = json_loads(jstr(d, "sockets", "[]"), 0, NULL);
		json_t *empty = json_array(), *r;

		stop_procs(cli, name, pids, socks);
		if (strcmp(jstr(d, "state", ""), "paused") != 0) {
			r = record(cli, name, jstr(d, "version", ""), "stopped",
				   (int)jnum(d, "processes", 1), empty, empty,
				   jnum(d, "next_socket", 0), jnum(d, "max_body_bytes", 1 << 20),
				   jnum(d, "request_timeout_ms", DEFAULT_TIMEOUT_MS));
			cs_registry_deployment_put(cli->reg, name, r);
			json_decref(r);
		}
		json_decref(empty);
		json_decref(pids);
		json_decref(socks);
	}
	json_decref(deps);
}
