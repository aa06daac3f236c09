/*
 * deploy.c - the deployment commands over ops.h: deploy (also the version
 * switch and the canary), undeploy, pause, resume, restart, scale; and
 * logs, status, routes.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "core/names.h"
#include "ops.h"
#include "pool.h"
#include "registry/heartbeat.h"

/* Prints err and returns the exit code of rc. */
static int done(cs_cli *cli, int rc, const char *err)
{
	if (rc != CS_OK && err && *err)
		cli_err(cli, "%s", err);
	return cli_exit_for(rc);
}

/* Connects for an operation; prints why not. */
static int connect_for(cs_cli *cli, const char *name)
{
	int rc = cli_registry(cli, 0);

	if (rc == CLI_NOTFOUND)
		cli_err(cli, "model '%s' is not deployed (the registry is empty)", name);
	if (rc == CLI_OK && cli_run_dir_init(cli) != CLI_OK)
		rc = CLI_FAIL;
	return rc;
}

int cli_deploy(cs_cli *cli, const char *name, const char *version, int n,
	       int timeout_s)
{
	char err[CS_ERROR_SIZE * 4] = "";
	cs_deploy_opts o;
	int rc, port;

	if ((rc = cli_registry(cli, 0)) != CLI_OK) {
		if (rc == CLI_NOTFOUND)
			cli_err(cli, "no model named '%s': the registry is empty", name);
		return rc;
	}
	memset(&o, 0, sizeof o);
	o.name = name;
	o.version = version;
	o.processes = n;
	o.keep_warm_s = -1;
	o.timeout_s = timeout_s;
	rc = cs_op_deploy(cli, &o, err, sizeof err);
	if (rc != CS_OK)
		return done(cli, rc, err);
	port = cli_nginx_port(cli);
	if (cli_nginx_pid(cli) > 0)
		cli_step(cli, "deployed %s: http://127.0.0.1:%d/models/%s", name, port, name);
	else
		cli_step(cli, "deployed %s; no cubeserve nginx runs in %s/nginx: include the routes (`cubeserve routes`) in your nginx",
			 name, cli->run_dir);
	if (cli->json) {
		json_t *d = NULL;

		if (cs_registry_deployment(cli->reg, name, &d) == CS_OK) {
			cli_json_typed(d);
			cli_print_json(d);
		}
		json_decref(d);
	}
	return CLI_OK;
}

int cli_undeploy(cs_cli *cli, const char *name)
{
	char err[CS_ERROR_SIZE * 4] = "";
	int rc;

	if ((rc = connect_for(cli, name)) != CLI_OK)
		return rc;
	return done(cli, cs_op_undeploy(cli, name, err, sizeof err), err);
}

void cli_stop_all(cs_cli *cli)
{
	cs_ops_stop_all(cli);
}

/* Reads "NAME [N]" and the options of the deployment commands; -1 when done. */
typedef struct dep_args {
	int timeout_s, processes, instances, canary, keep_warm;
} dep_args;

static int name_args(cs_cli *cli, int argc, char **argv, int want_args,
		     dep_args *a, int is_deploy)
{
	static const struct option opts[] = {
		{"timeout", required_argument, NULL, 't'},
		{"processes", required_argument, NULL, 'p'},
		{"instances", required_argument, NULL, 'i'},
		{"canary", required_argument, NULL, 'c'},
		{"keep-warm", required_argument, NULL, 'k'},
		{"worker", required_argument, NULL, 'w'},
		{"plugin-dir", required_argument, NULL, 'P'},
		{"lua-dir", required_argument, NULL, 'L'},
		{NULL, 0, NULL, 0},
	};
	int c;

	a->timeout_s = 60;
	a->processes = a->instances = a->canary = 0;
	a->keep_warm = -1;
	while ((c = cli_getopt(cli, argc, argv, "t:p:", opts)) != -1) {
		char *end = NULL;
		long v = 0;

		if (c == 't' || c == 'p' || c == 'i' || c == 'c' || c == 'k') {
			v = strtol(optarg, &end, 10);
			if (!*optarg || *end) {
				cli_err(cli, "option needs a number, got '%s'", optarg);
				return CLI_USAGE;
			}
		}
		if ((c == 'p' || c == 'c' || c == 'k') && !is_deploy) {
			cli_err(cli, "--processes, --canary and --keep-warm are for deploy (scale takes N)");
			return CLI_USAGE;
		}
		switch (c) {
		case 't':
			if (v < 1) {
				cli_err(cli, "--timeout must be a number of seconds, got '%s'", optarg);
				return CLI_USAGE;
			}
			a->timeout_s = (int)v;
			break;
		case 'p':
			if (v < 1 || v > CS_OP_MAX_PROCESSES) {
				cli_err(cli, "--processes must be 1..%d, got '%s'", CS_OP_MAX_PROCESSES, optarg);
				return CLI_USAGE;
			}
			a->processes = (int)v;
			break;
		case 'i':
			if (v < 1 || v > CS_OP_MAX_INSTANCES) {
				cli_err(cli, "--instances must be 1..%d, got '%s'", CS_OP_MAX_INSTANCES, optarg);
				return CLI_USAGE;
			}
			a->instances = (int)v;
			break;
		case 'c':
			if (v < 1 || v > 99) {
				cli_err(cli, "--canary must be a share of 1..99 percent, got '%s'", optarg);
				return CLI_USAGE;
			}
			a->canary = (int)v;
			break;
		case 'k':
			if (v < 0) {
				cli_err(cli, "--keep-warm must be a number of seconds, got '%s'", optarg);
				return CLI_USAGE;
			}
			a->keep_warm = (int)v;
			break;
		case 'w': free(cli->worker); cli->worker = strdup(optarg); break;
		case 'P': free(cli->plugin_dir); cli->plugin_dir = strdup(optarg); break;
		case 'L': free(cli->lua_dir); cli->lua_dir = strdup(optarg); break;
		case CLI_OPT_HELP: return CLI_OK;
		default: return CLI_USAGE;
		}
	}
	if (argc - optind != want_args && !(want_args == 2 && argc - optind == 1 && a->instances)) {
		cli_err(cli, "expected %s (see --help)", want_args == 2 ? "NAME N" : "NAME");
		return CLI_USAGE;
	}
	return -1;
}

int cli_cmd_deploy(cs_cli *cli, int argc, char **argv)
{
	char name[80], ver[80], err[CS_ERROR_SIZE * 4] = "";
	cs_deploy_opts o;
	dep_args a;
	int rc;

	if ((rc = name_args(cli, argc, argv, 1, &a, 1)) != -1)
		return rc;
	if (cs_model_ref_parse(argv[optind], name, sizeof name, ver, sizeof ver, err,
			       sizeof err) != CS_OK) {
		cli_err(cli, "%s", err);
		return CLI_USAGE;
	}
	if (cli_run_dir_init(cli) != CLI_OK)
		return CLI_FAIL;
	if (!a.canary && !a.instances && a.keep_warm < 0)
		return cli_deploy(cli, name, ver[0] ? ver : NULL, a.processes, a.timeout_s);
	if ((rc = cli_registry(cli, 0)) != CLI_OK) {
		if (rc == CLI_NOTFOUND)
			cli_err(cli, "no model named '%s': the registry is empty", name);
		return rc;
	}
	memset(&o, 0, sizeof o);
	o.name = name;
	o.version = ver[0] ? ver : NULL;
	o.processes = a.processes;
	o.instances = a.instances;
	o.canary_percent = a.canary;
	o.keep_warm_s = a.keep_warm;
	o.timeout_s = a.timeout_s;
	return done(cli, cs_op_deploy(cli, &o, err, sizeof err), err);
}

int cli_cmd_undeploy(cs_cli *cli, int argc, char **argv)
{
	dep_args a;
	int rc;

	if ((rc = name_args(cli, argc, argv, 1, &a, 0)) != -1)
		return rc;
	return cli_undeploy(cli, argv[optind]);
}

int cli_cmd_pause(cs_cli *cli, int argc, char **argv)
{
	char err[CS_ERROR_SIZE * 4] = "";
	dep_args a;
	int rc;

	if ((rc = name_args(cli, argc, argv, 1, &a, 0)) != -1)
		return rc;
	if ((rc = connect_for(cli, argv[optind])) != CLI_OK)
		return rc;
	rc = cs_op_pause(cli, argv[optind], err, sizeof err);
	if (rc == CS_OK)
		cli_step(cli, "paused %s (`cubeserve resume %s` starts it again)", argv[optind], argv[optind]);
	return done(cli, rc, err);
}

int cli_cmd_resume(cs_cli *cli, int argc, char **argv)
{
	char err[CS_ERROR_SIZE * 4] = "";
	dep_args a;
	int rc;

	if ((rc = name_args(cli, argc, argv, 1, &a, 0)) != -1)
		return rc;
	if ((rc = connect_for(cli, argv[optind])) != CLI_OK)
		return rc;
	return done(cli, cs_op_resume(cli, argv[optind], a.timeout_s, err, sizeof err), err);
}

int cli_cmd_restart(cs_cli *cli, int argc, char **argv)
{
	char err[CS_ERROR_SIZE * 4] = "";
	dep_args a;
	int rc;

	if ((rc = name_args(cli, argc, argv, 1, &a, 0)) != -1)
		return rc;
	if ((rc = connect_for(cli, argv[optind])) != CLI_OK)
		return rc;
	return done(cli, cs_op_restart(cli, argv[optind], a.timeout_s, err, sizeof err), err);
}

int cli_cmd_scale(cs_cli *cli, int argc, char **argv)
{
	char err[CS_ERROR_SIZE * 4] = "", *end;
	dep_args a;
	long n = 0;
	int rc;

	if ((rc = name_args(cli, argc, argv, 2, &a, 0)) != -1)
		return rc;
	if (argc - optind == 2) {
		n = strtol(argv[optind + 1], &end, 10);
		if (*end || n < 1 || n > CS_OP_MAX_PROCESSES) {
			cli_err(cli, "N must be 1..%d, got '%s'", CS_OP_MAX_PROCESSES, argv[optind + 1]);
			return CLI_USAGE;
		}
	}
	if ((rc = connect_for(cli, argv[optind])) != CLI_OK)
		return rc;
	if (a.instances) {
		rc = cs_op_instances(cli, argv[optind], a.instances, a.timeout_s, err, sizeof err);
		if (rc != CS_OK || !n)
			return done(cli, rc, err);
	}
	rc = cs_op_scale(cli, argv[optind], (int)n, err, sizeof err);
	if (rc == CS_OK)
		cli_step(cli, "%s: %ld process(es) per pool", argv[optind], n);
	return done(cli, rc, err);
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
	snprintf(p, sizeof p, "%s/logs/%s.log", cli->run_dir, name);
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

static double num(const json_t *o, const char *k, double def)
{
	const json_t *v = json_object_get(o, k);

	if (json_is_number(v))
		return json_number_value(v);
	return def;
}

/* The heartbeat (typed) of the pool whose master is pid, or NULL. */
static json_t *beat_of(json_t *beats, long long pid)
{
	json_t *b;
	size_t i;

	json_array_foreach(beats, i, b)
		if ((long long)num(b, "pid", -1) == pid)
			return b;
	return NULL;
}

/* Adds a heartbeat's figures into a per-version or per-deployment sum. */
static void add_figures(json_t *sum, const json_t *b)
{
	double v;

	json_object_set_new(sum, "rps", json_real(num(sum, "rps", 0) + num(b, "rps", 0)));
	json_object_set_new(sum, "requests",
			    json_integer((json_int_t)(num(sum, "requests", 0) + num(b, "requests", 0))));
	json_object_set_new(sum, "errors",
			    json_integer((json_int_t)(num(sum, "errors", 0) + num(b, "errors", 0))));
	for (int k = 0; k < 2; k++) {
		const char *f = k ? "p99_ms" : "p50_ms";

		v = num(b, f, -1);
		if (v >= 0 && v > num(sum, f, -1))
			json_object_set_new(sum, f, json_real(v));
	}
	if (jstr(b, "last_error", "")[0] &&
	    num(b, "last_error_time", 0) >= num(sum, "last_error_time", 0)) {
		json_object_set_new(sum, "last_error", json_string(jstr(b, "last_error", "")));
		json_object_set_new(sum, "last_error_time", json_integer((json_int_t)num(b, "last_error_time", 0)));
	}
}

static json_t *new_figures(void)
{
	return json_pack("{s:f,s:I,s:I,s:n,s:n,s:s,s:n}", "rps", 0.0, "requests", (json_int_t)0,
			 "errors", (json_int_t)0, "p50_ms", "p99_ms", "last_error", "",
			 "last_error_time");
}

/*
 * The status of one deployment: its record (typed), each pool with its
 * liveness from the pid and the socket and its heartbeat's figures, the
 * figures per version and for the whole deployment.
 */
static int one_status(cs_cli *cli, json_t *d, int port, json_t **out)
{
	const char *name = jstr(d, "name", "");
	json_t *beats = NULL, *pools, *p, *b, *versions = json_object(), *all = new_figures();
	const char *k;
	size_t i;
	int live = 0;

	if (cs_registry_instances(cli->reg, name, &beats) != CS_OK) {
		json_decref(versions);
		json_decref(all);
		return cli_reg_fail(cli);
	}
	json_array_foreach(beats, i, b)
		cli_json_typed(b);
	pools = json_loads(jstr(d, "pools", "[]"), 0, NULL);
	if (!json_is_array(pools)) {
		json_decref(pools);
		pools = json_array();
	}
	json_array_foreach(pools, i, p) {
		const char *role = jstr(p, "role", "");
		int alive = pool_alive(name, p), serving = pool_serving(p);
		int routed = !strcmp(role, "stable") || !strcmp(role, "canary");
		const char *st;
		json_t *vs;

		if (alive && serving)
			st = routed ? "ready" : !strcmp(role, "previous") ? "warm" : role;
		else if (!alive && serving)
			st = "orphaned"; /* its master died; its children still answer */
		else if (alive)
			st = "starting";
		else
			st = "dead";
		json_object_set_new(p, "alive", json_boolean(alive));
		json_object_set_new(p, "serving", json_boolean(serving));
		json_object_set_new(p, "state", json_string(st));
		json_object_set_new(p, "children", json_integer(pool_children(p)));
		if (routed && alive && serving)
			live++;
		b = alive ? beat_of(beats, json_integer_value(json_object_get(p, "pid"))) : NULL;
		vs = json_object_get(versions, jstr(p, "version", ""));
		if (!vs) {
			vs = new_figures();
			json_object_set_new(vs, "role", json_string(role));
			json_object_set_new(vs, "pools", json_integer(0));
			json_object_set_new(versions, jstr(p, "version", ""), vs);
		}
		if (routed)
			json_object_set_new(vs, "role", json_string(role));
		json_object_set_new(vs, "pools", json_integer(json_integer_value(json_object_get(vs, "pools")) + 1));
		if (b) {
			static const char *const f[] = {"requests", "rps", "p50_ms", "p99_ms", "errors",
				"last_error", "last_error_time", "processes", "busy", "updated", NULL};

			for (const char *const *q = f; *q; q++)
				if (json_object_get(b, *q))
					json_object_set(p, *q, json_object_get(b, *q));
			add_figures(vs, b);
			if (routed)
				add_figures(all, b);
		}
	}
	cli_json_typed(d);
	json_object_set(d, "pools", pools);
	json_object_del(d, "sockets");
	json_object_del(d, "pids");
	json_object_set_new(d, "live", json_integer(live));
	json_object_set_new(d, "desired_pools", json_integer(
		!strcmp(jstr(d, "state", ""), "running") ?
		(json_int_t)num(d, "instances", 1) * (jstr(d, "canary_version", "")[0] ? 2 : 1) : 0));
	json_object_set_new(d, "ready", json_boolean(live > 0 && !strcmp(jstr(d, "state", ""), "running")));
	json_object_foreach(all, k, b)
		json_object_set(d, k, b);
	{
		json_t *arr = json_array(), *vs;

		json_object_foreach(versions, k, vs) {
			json_object_set_new(vs, "version", json_string(k));
			if (!strcmp(jstr(vs, "role", ""), "canary"))
				json_object_set_new(vs, "share", json_integer((json_int_t)num(d, "canary_percent", 0)));
			else if (!strcmp(jstr(vs, "role", ""), "stable"))
				json_object_set_new(vs, "share", json_integer(
					jstr(d, "canary_version", "")[0] ? 100 - (json_int_t)num(d, "canary_percent", 0) : 100));
			json_array_append(arr, vs);
		}
		json_object_set_new(d, "versions", arr);
	}
	json_object_set_new(d, "heartbeats", beats);
	if (port > 0) {
		char url[160];

		snprintf(url, sizeof url, "http://127.0.0.1:%d/models/%s", port, name);
		json_object_set_new(d, "url", json_string(url));
	}
	json_decref(pools);
	json_decref(versions);
	json_decref(all);
	*out = d;
	return CLI_OK;
}

static void fig_cols(const json_t *o, char *p50, char *p99, size_t len)
{
	const json_t *v = json_object_get(o, "p50_ms");

	snprintf(p50, len, json_is_number(v) ? "%.2f" : "-", json_number_value(v));
	v = json_object_get(o, "p99_ms");
	snprintf(p99, len, json_is_number(v) ? "%.2f" : "-", json_number_value(v));
}

int cli_cmd_status(cs_cli *cli, int argc, char **argv)
{
	json_t *deps = NULL, *out, *d, *p, *v;
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
		json_t *s = NULL;

		if (argc - optind == 1 && strcmp(argv[optind], jstr(d, "name", "")) != 0)
			continue;
		if ((rc = one_status(cli, d, port, &s)) != CLI_OK)
			goto out;
		cli_auth_status(cli, jstr(s, "name", ""), s);
		json_array_append(out, s);
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
	printf("%-16s %-10s %-8s %-6s %-5s %-8s %-9s %-8s %-8s %-6s %s\n", "MODEL", "VERSION", "STATE",
	       "POOLS", "PROCS", "REQ/S", "REQUESTS", "P50(ms)", "P99(ms)", "ERRORS", "LAST ERROR");
	json_array_foreach(out, i, d) {
		char procs[32], p50s[16], p99s[16], le[400];

		snprintf(procs, sizeof procs, "%lld/%lld", (long long)num(d, "live", 0),
			 (long long)num(d, "desired_pools", 1));
		fig_cols(d, p50s, p99s, sizeof p50s);
		if (jstr(d, "last_error", "")[0]) {
			char t[32];
			time_t tt = (time_t)(num(d, "last_error_time", 0) / 1000);
			struct tm tm;

			if (tt > 0 && localtime_r(&tt, &tm))
				strftime(t, sizeof t, "%H:%M:%S", &tm);
			else
				snprintf(t, sizeof t, "-");
			snprintf(le, sizeof le, "%s %s", t, jstr(d, "last_error", ""));
		} else {
			snprintf(le, sizeof le, "-");
		}
		printf("%-16s %-10s %-8s %-6s %-5lld %-8.1f %-9lld %-8s %-8s %-6lld %s\n", jstr(d, "name", ""),
		       jstr(d, "version", ""), jstr(d, "state", ""), procs,
		       (long long)num(d, "processes", 1), num(d, "rps", 0),
		       (long long)num(d, "requests", 0), p50s, p99s, (long long)num(d, "errors", 0), le);
		if (json_object_get(d, "url"))
			printf("  route %s\n", jstr(d, "url", ""));
		if (json_array_size(json_object_get(d, "versions")) > 1 || jstr(d, "canary_version", "")[0])
			json_array_foreach(json_object_get(d, "versions"), j, v) {
				fig_cols(v, p50s, p99s, sizeof p50s);
				printf("  version %-10s %-8s share %3lld%%  %8.1f req/s  %9lld requests  p50 %s  p99 %s ms  %lld errors\n",
				       jstr(v, "version", ""), jstr(v, "role", ""), (long long)num(v, "share", 0),
				       num(v, "rps", 0), (long long)num(v, "requests", 0), p50s, p99s,
				       (long long)num(v, "errors", 0));
			}
		json_array_foreach(json_object_get(d, "pools"), j, p)
			printf("  pool %-4lld %-10s %-8s %-8s pid %-7lld %lld process(es)  requests %lld, %.1f req/s  %s\n",
			       (long long)num(p, "id", 0), jstr(p, "version", ""), jstr(p, "role", ""),
			       jstr(p, "state", ""), (long long)num(p, "pid", 0),
			       (long long)num(p, "children", 0), (long long)num(p, "requests", 0),
			       num(p, "rps", 0), jstr(p, "socket", ""));
		cli_auth_status(cli, jstr(d, "name", ""), NULL);
	}
out:
	json_decref(out);
	json_decref(deps);
	return rc;
}

