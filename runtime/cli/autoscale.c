/*
 * autoscale.c - `cubeserve autoscale`: once a second, read every running
 * deployment's heartbeats from Redis, run the scaling policy
 * (runtime/registry/scaling.c, docs/scaling.md), write the model's hint (desired,
 * reason, time) and apply it to the local pool with `cubeserve scale`.
 * With --hint-only (a cluster, where KEDA scales the pods) every model
 * with live instances is evaluated from its instances alone and only the
 * hint is written.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "registry/scaling.h"

#define MAX_TRACKED 64

typedef struct tracked {
	char name[72];
	cs_scaler scaler;
	int used;
} tracked;

static volatile sig_atomic_t stop_autoscale;

static void on_signal(int sig)
{
	(void)sig;
	stop_autoscale = 1;
}

static double jdbl(const json_t *o, const char *key, double def)
{
	const char *s = jstr(o, key, NULL);
	char *end;
	double v;

	if (!s || !*s)
		return def;
	v = strtod(s, &end);
	return *end ? def : v;
}

/* Whether NAME was asked for (no names: every deployment). */
static int wanted(char **names, int n, const char *name)
{
	if (n == 0)
		return 1;
	for (int i = 0; i < n; i++)
		if (strcmp(names[i], name) == 0)
			return 1;
	return 0;
}

static tracked *track(tracked *t, const char *name, const cs_scaling_policy *p,
		      int current)
{
	for (int i = 0; i < MAX_TRACKED; i++)
		if (t[i].used && strcmp(t[i].name, name) == 0)
			return &t[i];
	for (int i = 0; i < MAX_TRACKED; i++)
		if (!t[i].used) {
			t[i].used = 1;
			snprintf(t[i].name, sizeof t[i].name, "%s", name);
			cs_scaler_init(&t[i].scaler, p, current);
			return &t[i];
		}
	return NULL;
}

/* Applies a new process count with `cubeserve scale`, then records the hint. */
static int apply(cs_cli *cli, const char *name, int n, const char *reason)
{
	char nbuf[16], *av[4];
	const char *cmd = cli->cmd;
	int rc;

	snprintf(nbuf, sizeof nbuf, "%d", n);
	av[0] = "scale";
	av[1] = (char *)name;
	av[2] = nbuf;
	av[3] = NULL;
	optind = 0; /* a fresh getopt for the scale command's arguments */
	cli->cmd = "scale";
	rc = cli_cmd_scale(cli, 3, av);
	cli->cmd = cmd;
	if (cs_registry_hint(cli->reg, name, n, reason) != CS_OK)
		return cli_reg_fail(cli);
	return rc;
}

/*
 * One model's pass: its instances' load through the policy, the hint
 * written; procs < 0 (hint only) counts the processes of its live
 * instances; else the change is applied to the local pool.
 */
static void evaluate(cs_cli *cli, tracked *t, const cs_scaling_policy *base,
		     const char *name, int procs, int hint_only)
{
	json_t *inst = NULL, *x;
	cs_scaling_sample s = {0, 0, 0};
	char reason[256];
	tracked *tr;
	size_t k;
	int want;

	if (cs_registry_instances(cli->reg, name, &inst) != CS_OK)
		return;
	if (procs < 0) {
		procs = 0;
		json_array_foreach(inst, k, x)
			procs += (int)jdbl(x, "processes", 1);
		if (procs == 0) { /* nothing runs it: nothing to say */
			json_decref(inst);
			return;
		}
	}
	tr = track(t, name, base, procs);
	if (!tr) {
		json_decref(inst);
		return;
	}
	s.processes = procs;
	json_array_foreach(inst, k, x) {
		double busy = jdbl(x, "busy", 0), waiting = jdbl(x, "waiting", 0);
		double threads = jdbl(x, "threads", 1);

		/* a process with several serving threads counts as one
		   process whose utilization is busy / threads */
		s.busy += threads > 0 ? busy / threads : busy;
		s.waiting += waiting > 0 ? waiting : 0;
	}
	json_decref(inst);
	want = cs_scaler_step(&tr->scaler, &s, reason, sizeof reason);
	if (cli->json) {
		json_t *o = json_pack("{s:s,s:i,s:f,s:f,s:i,s:s}", "model", name,
				      "processes", procs, "busy", s.busy,
				      "waiting", s.waiting, "desired", want,
				      "reason", reason);

		if (o) {
			char *line = json_dumps(o, JSON_COMPACT);

			if (line)
				puts(line);
			free(line);
			json_decref(o);
		}
	}
	if (want != procs && !hint_only) {
		if (!cli->json)
			printf("autoscale: %s: %s\n", name, reason);
		fflush(stdout);
		if (apply(cli, name, want, reason) != CLI_OK)
			/* try again from the pool as it is */
			cs_scaler_init(&tr->scaler, &tr->scaler.p, procs);
	} else {
		if (want != procs && !cli->json)
			printf("autoscale: %s: hint %d: %s\n", name, want, reason);
		if (cs_registry_hint(cli->reg, name, want, reason) != CS_OK)
			cli_reg_fail(cli);
	}
	fflush(stdout);
}

int cli_cmd_autoscale(cs_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"interval", required_argument, NULL, 'i'},
		{"target", required_argument, NULL, 't'},
		{"band", required_argument, NULL, 'b'},
		{"min", required_argument, NULL, 'm'},
		{"max", required_argument, NULL, 'M'},
		{"up-after", required_argument, NULL, 'u'},
		{"down-after", required_argument, NULL, 'd'},
		{"window", required_argument, NULL, 'w'},
		{"duration", required_argument, NULL, 'D'},
		{"once", no_argument, NULL, 'o'},
		{"hint-only", no_argument, NULL, 'H'},
		{NULL, 0, NULL, 0},
	};
	static tracked t[MAX_TRACKED];
	cs_scaling_policy base;
	double interval = 1, duration = 0;
	long long started;
	int once = 0, hint_only = 0, c, rc, min = 1, max = 8;
	char **names;
	int n_names;

	cs_scaling_policy_default(&base, 1, 8);
	while ((c = cli_getopt(cli, argc, argv, "", opts)) != -1) {
		char *end = NULL;
		double v = optarg ? strtod(optarg, &end) : 0;

		if (c == 'h')
			return CLI_OK;
		if (c == '?' || (optarg && (*end || v < 0))) {
			if (c != '?')
				cli_err(cli, "'%s' is not a non-negative number (see --help)", optarg);
			return CLI_USAGE;
		}
		switch (c) {
		case 'i': interval = v > 0.05 ? v : 0.05; break;
		case 't': base.target_utilization = v; break;
		case 'b': base.band = v; break;
		case 'm': min = (int)v; break;
		case 'M': max = (int)v; break;
		case 'u': base.up_after_s = (int)v; break;
		case 'd': base.down_after_s = (int)v; break;
		case 'w': base.window_s = (int)v; break;
		case 'D': duration = v; break;
		case 'o': once = 1; break;
		case 'H': hint_only = 1; break;
		default: return c; /* cli_getopt's own exit codes */
		}
	}
	if (base.target_utilization <= 0 || base.target_utilization > 1 ||
	    base.band < 0 || base.band >= base.target_utilization) {
		cli_err(cli, "--target must be in (0, 1] and --band in [0, target)");
		return CLI_USAGE;
	}
	if (min < 1 || max < min || max > 64) {
		cli_err(cli, "--min and --max must satisfy 1 <= min <= max <= 64");
		return CLI_USAGE;
	}
	base.min_processes = min;
	base.max_processes = max;
	names = argv + optind;
	n_names = argc - optind;
	if ((rc = cli_registry(cli, 0)) != CLI_OK)
		return rc;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	if (!cli->json)
		printf("autoscale: every %.1f s, target utilization %.2f (band %.2f), %d..%d processes, grow after %d s, shrink after %d s\n",
		       interval, base.target_utilization, base.band, min, max,
		       base.up_after_s, base.down_after_s);
	fflush(stdout);
	started = cli_now_ms();
	while (!stop_autoscale) {
		json_t *deps = NULL, *d;
		size_t i;

		if ((hint_only ? cs_registry_models(cli->reg, &deps) :
				 cs_registry_deployments(cli->reg, &deps)) != CS_OK) {
			rc = cli_reg_fail(cli);
			if (once)
				return rc;
			cli_sleep_ms((int)(interval * 1000));
			continue;
		}
		json_array_foreach(deps, i, d) {
			const char *name = jstr(d, "name", "");

			if (!wanted(names, n_names, name))
				continue;
			if (hint_only)
				evaluate(cli, t, &base, name, -1, 1);
			else if (strcmp(jstr(d, "state", ""), "running") == 0)
				evaluate(cli, t, &base, name, (int)jnum(d, "processes", 1), 0);
		}
		json_decref(deps);
		if (once)
			break;
		if (duration > 0 && (double)(cli_now_ms() - started) / 1000.0 >= duration)
			break;
		cli_sleep_ms((int)(interval * 1000));
	}
	return CLI_OK;
}
