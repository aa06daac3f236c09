/*
 * hosts.c - `cubeserve hosts`: the hosts in the registry with their
 * liveness; --agent NAME runs a host agent in the foreground (registers
 * the host, beats until Ctrl-C); --forget NAME removes a host that is down.
 * The records and leases are runtime/registry/hosts.c.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "core/clock.h"
#include "registry/hosts.h"

static volatile sig_atomic_t stop_agent;

static void on_stop(int sig)
{
	(void)sig;
	stop_agent = 1;
}

static void human_bytes(long long b, char *out, size_t len)
{
	static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	double v = (double)b;
	int u = 0;

	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	snprintf(out, len, u ? "%.1f %s" : "%.0f %s", v, unit[u]);
}

static int list_hosts(cs_cli *cli)
{
	json_t *hosts = NULL, *h;
	long long now = (long long)(cs_clock_wall() * 1000);
	size_t i;
	int rc;

	if (cs_hosts_list(cli->reg, &hosts) != CS_OK)
		return cli_reg_fail(cli);
	json_array_foreach(hosts, i, h) {
		long long beat = jnum(h, "heartbeat", 0);
		int alive = json_is_true(json_object_get(h, "alive"));

		json_object_set_new(h, "state", json_string(alive ? "up" :
			strcmp(jstr(h, "state", ""), "stopped") == 0 ? "stopped" : "down"));
		json_object_set_new(h, "beat_age_ms", json_integer(beat ? now - beat : -1));
	}
	if (cli->json) {
		cli_print_json(hosts);
		json_decref(hosts);
		return CLI_OK;
	}
	if (json_array_size(hosts) == 0) {
		printf("no hosts in the registry (an agent registers one: cubeserve hosts --agent NAME)\n");
		json_decref(hosts);
		return CLI_OK;
	}
	printf("%-20s %-8s %-24s %5s %10s  %-12s %s\n", "HOST", "STATE", "ADDRESS", "CORES", "MEMORY",
	       "LAST BEAT", "AGENT");
	json_array_foreach(hosts, i, h) {
		char mem[32], age[32];
		long long a = jnum(h, "beat_age_ms", -1);

		human_bytes(jnum(h, "memory_bytes", 0), mem, sizeof mem);
		if (a < 0)
			snprintf(age, sizeof age, "-");
		else if (a < 10000)
			snprintf(age, sizeof age, "%.1f s ago", (double)a / 1000);
		else
			snprintf(age, sizeof age, "%lld s ago", a / 1000);
		printf("%-20s %-8s %-24s %5lld %10s  %-12s %s\n", jstr(h, "name", ""), jstr(h, "state", ""),
		       jstr(h, "address", ""), jnum(h, "cores", 0), mem, age, jstr(h, "agent", ""));
	}
	rc = CLI_OK;
	json_decref(hosts);
	return rc;
}

static int run_agent(cs_cli *cli, const char *name, const char *address, double duration)
{
	char err[CS_ERROR_SIZE * 2];
	cs_host_agent *a = NULL;
	cs_host_info h = {name, address ? address : name, 1, 0};
	long long start = cli_now_ms();
	struct sigaction sa;
	int rc;

	cs_host_measure(&h.cores, &h.memory_bytes);
	rc = cs_host_agent_start(cli->registry_url, cli->prefix, &h, &a, err, sizeof err);
	if (rc != CS_OK) {
		cli_err(cli, "%s", err);
		return cli_exit_for(rc);
	}
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_stop;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (!cli->json)
		printf("host %s registered (address %s, %d cores) as agent %s; beating every %d ms until Ctrl-C\n",
		       name, h.address, h.cores, cs_host_agent_id(a), CS_HOST_BEAT_MS);
	fflush(stdout);
	while (!stop_agent && cs_host_agent_holds(a) &&
	       (duration <= 0 || (double)(cli_now_ms() - start) / 1000.0 < duration))
		cli_sleep_ms(100);
	rc = cs_host_agent_holds(a) ? CLI_OK : CLI_REFUSED;
	cs_host_agent_stop(a);
	if (rc != CLI_OK)
		cli_err(cli, "another agent took host %s (see the log above)", name);
	else if (!cli->json)
		printf("host %s released\n", name);
	return rc;
}

int cli_cmd_hosts(cs_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"agent", required_argument, NULL, 'a'},
		{"address", required_argument, NULL, 'A'},
		{"duration", required_argument, NULL, 'D'},
		{"forget", required_argument, NULL, 'F'},
		{NULL, 0, NULL, 0},
	};
	const char *agent = NULL, *address = NULL, *forget = NULL;
	double duration = 0;
	char *end;
	int c, rc;

	while ((c = cli_getopt(cli, argc, argv, "", opts)) != -1) {
		switch (c) {
		case 'a': agent = optarg; break;
		case 'A': address = optarg; break;
		case 'F': forget = optarg; break;
		case 'D':
			duration = strtod(optarg, &end);
			if (*end || end == optarg || duration <= 0) {
				cli_err(cli, "--duration '%s' is not a positive number of seconds", optarg);
				return CLI_USAGE;
			}
			break;
		case CLI_OPT_HELP: return CLI_OK;
		default: return CLI_USAGE;
		}
	}
	if (optind != argc) {
		cli_err(cli, "unexpected argument '%s' (see --help)", argv[optind]);
		return CLI_USAGE;
	}
	if (agent && forget) {
		cli_err(cli, "--agent and --forget do not go together");
		return CLI_USAGE;
	}
	if ((agent || forget) && !cs_host_name_valid(agent ? agent : forget)) {
		cli_err(cli, "'%s' is not a host name (lower-case letters, digits and '-', at most 63)",
			agent ? agent : forget);
		return CLI_USAGE;
	}
	if ((address || duration > 0) && !agent) {
		cli_err(cli, "--address and --duration go with --agent NAME");
		return CLI_USAGE;
	}
	/* an agent may be the first writer of a registry; the others only read */
	if ((rc = cli_registry(cli, agent != NULL)) != CLI_OK) {
		if (rc == CLI_NOTFOUND && !agent && !forget) {
			if (cli->json)
				printf("[]\n");
			else
				printf("no hosts in the registry (it is empty)\n");
			return CLI_OK;
		}
		return rc;
	}
	if (agent)
		return run_agent(cli, agent, address, duration);
	if (forget) {
		if (cs_host_forget(cli->reg, forget) != CS_OK)
			return cli_reg_fail(cli);
		if (!cli->json)
			printf("host %s forgotten\n", forget);
		return CLI_OK;
	}
	return list_hosts(cli);
}
