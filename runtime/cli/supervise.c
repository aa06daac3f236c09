/*
 * supervise.c - `cubeserve supervise`: the reconcile loop alone, for
 * operators who run Redis and nginx themselves (`cubeserve up` runs the
 * same pass in its own loop); and the `promote` and `rollback` commands.
 *
 * Every 200 ms each deployment gets one non-blocking reconcile pass
 * (ops.h). A deployment whose pass failed (a pool that cannot start) is
 * retried with back-off: 0.5 s, doubling up to 30 s, reset by a pass that
 * succeeds.
 *
 * Several hosts (docs/scaling.md): `--host NAME` makes this supervisor the
 * agent of host NAME, which runs only the instances placed on NAME, its
 * workers on TCP at --address. A supervisor without --host runs the
 * single-machine deployments and keeps the routes of placed ones (the
 * front nginx); `--port N` starts that front nginx itself. Every
 * supervisor re-places the instances of a host whose agent stopped
 * beating (cs_op_replace), so one live supervisor is enough for it.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ops.h"
#include "registry/hosts.h"

#define PASS_MS 200
#define BACKOFF_MIN_MS 500
#define BACKOFF_MAX_MS 30000
#define MAX_TRACKED 256

typedef struct backoff {
	char name[80];
	long long next_ms;  /* monotonic: no pass before this */
	int delay_ms;
} backoff;

static backoff tracked[MAX_TRACKED];
static volatile sig_atomic_t stop_flag;

static void on_stop(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static backoff *backoff_of(const char *name)
{
	backoff *free_slot = NULL;

	for (int i = 0; i < MAX_TRACKED; i++) {
		if (!strcmp(tracked[i].name, name))
			return &tracked[i];
		if (!tracked[i].name[0] && !free_slot)
			free_slot = &tracked[i];
	}
	if (free_slot)
		snprintf(free_slot->name, sizeof free_slot->name, "%s", name);
	return free_slot;
}

static void stamp(char *buf, size_t len)
{
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void cli_supervise_pass(cs_cli *cli)
{
	json_t *deps = NULL, *d;
	int saved_json = cli->json;
	size_t i;

	if (!cli->reg || cs_registry_deployments(cli->reg, &deps) != CS_OK)
		return;
	cli->json = 1; /* a pass's step lines are for operations, not the log */
	json_array_foreach(deps, i, d) {
		const char *name = jstr(d, "name", "");
		cs_reconcile_report rep;
		char err[CS_ERROR_SIZE * 2], ts[32];
		backoff *b = backoff_of(name);
		long long t0 = cli_now_ms();
		int rc;

		if (b && b->next_ms > t0)
			continue;
		err[0] = '\0';
		if (cs_op_replace(cli, name, &rep, err, sizeof err) == CS_OK && rep.last[0]) {
			stamp(ts, sizeof ts);
			printf("%s supervise: %s\n", ts, rep.last);
		}
		err[0] = '\0';
		rc = cs_reconcile(cli, name, 60, 0, &rep, err, sizeof err);
		stamp(ts, sizeof ts);
		if (rep.last[0])
			printf("%s supervise: %s\n", ts, rep.last);
		if (rc == CS_OK) {
			if (rep.restarted || rep.started || rep.stopped)
				printf("%s supervise: %s: started %d, stopped %d pool(s)%s in %.2f s\n",
				       ts, name, rep.started, rep.stopped,
				       rep.routes_changed ? ", route switched" : "",
				       (cli_now_ms() - t0) / 1000.0);
			if (b)
				b->delay_ms = 0;
		} else if (rc != CS_OP_BUSY && rc != CS_ENOTFOUND && b) {
			b->delay_ms = b->delay_ms ? b->delay_ms * 2 : BACKOFF_MIN_MS;
			if (b->delay_ms > BACKOFF_MAX_MS)
				b->delay_ms = BACKOFF_MAX_MS;
			b->next_ms = cli_now_ms() + b->delay_ms;
			printf("%s supervise: %s: %s; next try in %.1f s\n", ts, name, err,
			       b->delay_ms / 1000.0);
		}
		fflush(stdout);
	}
	cli->json = saved_json;
	json_decref(deps);
}

int cli_cmd_supervise(cs_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"once", no_argument, NULL, 'o'},
		{"host", required_argument, NULL, 'H'},
		{"address", required_argument, NULL, 'A'},
		{"port", required_argument, NULL, 'p'},
		{NULL, 0, NULL, 0},
	};
	const char *host = NULL, *address = NULL;
	cs_host_agent *agent = NULL;
	struct sigaction sa;
	int c, rc, once = 0, port = 0, reloaded;
	pid_t nginx = 0;
	char *end;

	while ((c = cli_getopt(cli, argc, argv, "", opts)) != -1) {
		switch (c) {
		case 'o': once = 1; break;
		case 'H': host = optarg; break;
		case 'A': address = optarg; break;
		case 'p':
			port = (int)strtol(optarg, &end, 10);
			if (*end || port < 1 || port > 65535) {
				cli_err(cli, "--port must be a TCP port (1..65535), got '%s'", optarg);
				return CLI_USAGE;
			}
			break;
		case CLI_OPT_HELP: return CLI_OK;
		default: return CLI_USAGE;
		}
	}
	if (argc - optind != 0) {
		cli_err(cli, "takes no arguments (see --help)");
		return CLI_USAGE;
	}
	if (address && !host) {
		cli_err(cli, "--address goes with --host NAME");
		return CLI_USAGE;
	}
	if (port && host) {
		cli_err(cli, "--port (the front nginx) is for the supervisor without --host; a host agent's workers listen at its --address");
		return CLI_USAGE;
	}
	if (host && !cs_host_name_valid(host)) {
		cli_err(cli, "'%s' is not a host name (lower-case letters, digits and '-', at most 63)", host);
		return CLI_USAGE;
	}
	if ((rc = cli_registry(cli, host != NULL || port)) != CLI_OK && rc != CLI_NOTFOUND)
		return rc;
	if (cli_run_dir_init(cli) != CLI_OK)
		return CLI_FAIL;
	if (host) {
		/* the host agent: this supervisor is host NAME while it runs */
		char err[CS_ERROR_SIZE * 2];
		cs_host_info h = {host, address ? address : host, 1, 0};

		cs_host_measure(&h.cores, &h.memory_bytes);
		rc = cs_host_agent_start(cli->registry_url, cli->prefix, &h, &agent, err, sizeof err);
		if (rc != CS_OK) {
			cli_err(cli, "%s", err);
			return cli_exit_for(rc);
		}
		cli->host = host;
		cli->host_address = h.address;
		printf("supervise: host %s (address %s, %d cores) registered as agent %s\n", host,
		       h.address, h.cores, cs_host_agent_id(agent));
	}
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (port) {
		if (!cli->reg) {
			cli_err(cli, "--port: the front nginx needs the registry for its routes");
			return CLI_UNREACHABLE;
		}
		if (cli_port_busy(port)) {
			cli_err(cli, "refused: something already listens on 127.0.0.1:%d; use --port N", port);
			return CLI_REFUSED;
		}
		if (cli_nginx_conf(cli, port, 1, 1) != CLI_OK ||
		    cli_routes_apply(cli, &reloaded) != CLI_OK)
			return CLI_FAIL;
		nginx = cli_nginx_start(cli, port, &stop_flag);
		if (nginx <= 0)
			return CLI_FAIL;
		printf("supervise: front nginx on 127.0.0.1:%d (pid %ld, prefix %s/nginx)\n", port,
		       (long)nginx, cli->run_dir);
	}
	printf("supervise: reconciling the deployments of %s every %d ms (run dir %s)\n",
	       cli_registry_shown(cli), PASS_MS, cli->run_dir);
	fflush(stdout);
	while (!stop_flag) {
		if (!cli->reg) {
			cs_registry *r;
			char err[CS_ERROR_SIZE * 2];

			if (cs_registry_open(cli->registry_url, cli->prefix, 500, &r, err,
					     sizeof err) == CS_OK)
				cli->reg = r;
		}
		/* reap the watchers of pools this process started */
		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
		cli_supervise_pass(cli);
		if (cli->reg && cli->reg->err == CS_EUNAVAILABLE) {
			cs_registry_close(cli->reg);
			cli->reg = NULL;
		}
		if (once)
			break;
		if (agent && !cs_host_agent_holds(agent)) {
			cli_err(cli, "another agent took host %s; stopping", host);
			rc = CLI_REFUSED;
			break;
		}
		if (nginx > 0 && !cli_pid_alive(nginx)) {
			cli_err(cli, "the front nginx (pid %ld) exited; stopping (error log: %s/nginx/logs/error.log)",
				(long)nginx, cli->run_dir);
			nginx = 0;
			rc = CLI_FAIL;
			break;
		}
		cli_sleep_ms(PASS_MS);
	}
	if (nginx > 0) {
		char conf[PATH_MAX + 32];

		snprintf(conf, sizeof conf, "%s/nginx/nginx.conf", cli->run_dir);
		if (cli_stop_pid(nginx, conf, 5000) != 0)
			cli_err(cli, "warning: nginx (pid %ld) did not stop", (long)nginx);
	}
	cs_host_agent_stop(agent);
	printf("supervise: stopped (the pools go on serving)\n");
	return rc == CLI_REFUSED || rc == CLI_FAIL ? rc : CLI_OK;
}

/* ------------------------------------------------------------ promote, rollback */

static int name_cmd(cs_cli *cli, int argc, char **argv, int *timeout_s,
		    int *keep_warm)
{
	static const struct option opts[] = {
		{"timeout", required_argument, NULL, 't'},
		{"keep-warm", required_argument, NULL, 'k'},
		{NULL, 0, NULL, 0},
	};
	int c;

	while ((c = cli_getopt(cli, argc, argv, "t:", opts)) != -1) {
		switch (c) {
		case 't':
			*timeout_s = atoi(optarg);
			if (*timeout_s < 1) {
				cli_err(cli, "--timeout must be a number of seconds, got '%s'", optarg);
				return CLI_USAGE;
			}
			break;
		case 'k':
			if (!keep_warm) {
				cli_err(cli, "--keep-warm is for promote");
				return CLI_USAGE;
			}
			*keep_warm = atoi(optarg);
			if (*keep_warm < 0 || strspn(optarg, "0123456789") != strlen(optarg)) {
				cli_err(cli, "--keep-warm must be a number of seconds, got '%s'", optarg);
				return CLI_USAGE;
			}
			break;
		case CLI_OPT_HELP: return CLI_OK;
		default: return CLI_USAGE;
		}
	}
	if (argc - optind != 1) {
		cli_err(cli, "expected NAME (see --help)");
		return CLI_USAGE;
	}
	if ((c = cli_registry(cli, 0)) != CLI_OK) {
		if (c == CLI_NOTFOUND)
			cli_err(cli, "model '%s' is not deployed (the registry is empty)", argv[optind]);
		return c;
	}
	if (cli_run_dir_init(cli) != CLI_OK)
		return CLI_FAIL;
	return -1;
}

int cli_cmd_promote(cs_cli *cli, int argc, char **argv)
{
	char err[CS_ERROR_SIZE * 2];
	int timeout_s = 60, keep = -1, rc;

	if ((rc = name_cmd(cli, argc, argv, &timeout_s, &keep)) != -1)
		return rc;
	rc = cs_op_promote(cli, argv[optind], keep, timeout_s, err, sizeof err);
	if (rc != CS_OK)
		cli_err(cli, "%s", err);
	return cli_exit_for(rc);
}

int cli_cmd_rollback(cs_cli *cli, int argc, char **argv)
{
	char err[CS_ERROR_SIZE * 2];
	int timeout_s = 60, rc;

	if ((rc = name_cmd(cli, argc, argv, &timeout_s, NULL)) != -1)
		return rc;
	rc = cs_op_rollback(cli, argv[optind], timeout_s, err, sizeof err);
	if (rc != CS_OK)
		cli_err(cli, "%s", err);
	return cli_exit_for(rc);
}
