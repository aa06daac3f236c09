/*
 * deployments.c - /api/deployments: every deployment the registry holds
 * (made with the CLI or the console), its live instances and figures from
 * the heartbeats, the memory of its processes, its log tail, and the
 * operations (deploy, scale, pause, resume, restart, switch, promote,
 * rollback, undeploy), which run the `cubeserve` command's own code as a
 * job (jobs.c).
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/api.h"

static const char *sfield(const json_t *o, const char *k, const char *def)
{
	const char *v = json_string_value(json_object_get(o, k));

	return v ? v : def;
}

/* VmRSS of pid in kB, 0 when unknown; adds its children's too. */
static long long rss_kb(long pid, int depth)
{
	char p[64], line[256], kids[2048];
	long long kb = 0;
	FILE *f;

	snprintf(p, sizeof p, "/proc/%ld/status", pid);
	f = fopen(p, "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof line, f))
		if (strncmp(line, "VmRSS:", 6) == 0)
			kb = atoll(line + 6);
	fclose(f);
	if (depth > 2)
		return kb;
	snprintf(p, sizeof p, "/proc/%ld/task/%ld/children", pid, pid);
	f = fopen(p, "r");
	if (f) {
		if (fgets(kids, sizeof kids, f)) {
			char *save = NULL, *t;

			for (t = strtok_r(kids, " \n", &save); t; t = strtok_r(NULL, " \n", &save))
				kb += rss_kb(atol(t), depth + 1);
		}
		fclose(f);
	}
	return kb;
}

/* A deployment hash d (borrowed) with its live figures, as a new object. */
static json_t *with_figures(cs_registry *r, json_t *d, int *failed)
{
	const char *name = sfield(d, "name", "");
	json_t *out = json_deep_copy(d), *insts = NULL, *in, *pids;
	double rps = 0, p50 = -1, p99 = -1, busy = 0;
	long long reqs = 0, mem = 0, procs = 0;
	const char *last = "";
	size_t j;

	*failed = 0;
	if (cs_registry_instances(r, name, &insts) != CS_OK) {
		*failed = 1;
		json_decref(out);
		return NULL;
	}
	json_array_foreach(insts, j, in) {
		const char *s;

		rps += atof(sfield(in, "rps", "0"));
		reqs += atoll(sfield(in, "requests", "0"));
		procs += atoll(sfield(in, "processes", "0"));
		if ((s = sfield(in, "busy", "")) && *s && atof(s) > 0)
			busy += atof(s);
		if ((s = sfield(in, "p50_ms", "")) && *s && atof(s) > p50)
			p50 = atof(s);
		if ((s = sfield(in, "p99_ms", "")) && *s && atof(s) > p99)
			p99 = atof(s);
		if (sfield(in, "last_error", "")[0])
			last = sfield(in, "last_error", "");
	}
	pids = json_loads(sfield(d, "pids", "[]"), 0, NULL);
	json_array_foreach(pids, j, in)
		if (json_is_integer(in))
			mem += rss_kb((long)json_integer_value(in), 0);
	json_object_set_new(out, "pids", pids ? pids : json_array());
	json_object_set_new(out, "sockets", json_loads(sfield(d, "sockets", "[]"), 0, NULL));
	json_object_set_new(out, "processes", json_integer(atoll(sfield(d, "processes", "0"))));
	json_object_set_new(out, "instances", insts);
	json_object_set_new(out, "live", json_integer((json_int_t)json_array_size(insts)));
	json_object_set_new(out, "serving_processes", json_integer(procs));
	json_object_set_new(out, "rps", json_real(rps));
	json_object_set_new(out, "busy", json_real(busy));
	json_object_set_new(out, "requests", json_integer(reqs));
	json_object_set_new(out, "p50_ms", p50 >= 0 ? json_real(p50) : json_null());
	json_object_set_new(out, "p99_ms", p99 >= 0 ? json_real(p99) : json_null());
	json_object_set_new(out, "last_error", json_string(last));
	json_object_set_new(out, "memory_kb", json_integer(mem));
	return out;
}

void api_deployments_list(api_req *q)
{
	cs_registry *r = api_reg(q);
	json_t *deps = NULL, *out, *d;
	size_t i;
	int failed;

	if (!r)
		return;
	if (cs_registry_deployments(r, &deps) != CS_OK) {
		if (r->err == CS_ENOTFOUND) {
			api_send(q, 200, json_array());
			return;
		}
		api_reg_error(q);
		return;
	}
	out = json_array();
	json_array_foreach(deps, i, d) {
		json_t *f = with_figures(r, d, &failed);

		if (failed) {
			json_decref(out);
			json_decref(deps);
			api_reg_error(q);
			return;
		}
		json_array_append_new(out, f);
	}
	json_decref(deps);
	api_send(q, 200, out);
}

/* The deployment hash (new), or NULL with 404/503 sent. */
static json_t *get_dep(api_req *q, cs_registry *r, const char *name)
{
	json_t *d = NULL;

	if (cs_registry_deployment(r, name, &d) != CS_OK) {
		if (r->err == CS_ENOTFOUND)
			api_error(q, 404, "model %s is not deployed", name);
		else
			api_reg_error(q);
		return NULL;
	}
	json_object_set_new(d, "name", json_string(name));
	return d;
}

void api_deployment_get(api_req *q, const char *name)
{
	cs_registry *r = api_reg(q);
	json_t *d, *f;
	int failed;

	if (!r || !(d = get_dep(q, r, name)))
		return;
	f = with_figures(r, d, &failed);
	json_decref(d);
	if (failed) {
		api_reg_error(q);
		return;
	}
	api_send(q, 200, f);
}

void api_deployment_logs(api_req *q, const char *name)
{
	char buf[32], *text = NULL, *start;
	cs_registry *r = api_reg(q);
	const char *path;
	json_t *d;
	long lines = 100;
	FILE *f;
	long size, from;
	size_t n;

	if (!r || !(d = get_dep(q, r, name)))
		return;
	if (api_query(q, "lines", 0, buf, sizeof buf)) {
		char *end;

		lines = strtol(buf, &end, 10);
		if (!buf[0] || *end || lines < 1 || lines > 5000) {
			json_decref(d);
			api_error(q, 400, "query parameter lines must be 1..5000, got '%s'", buf);
			return;
		}
	}
	path = sfield(d, "log", "");
	f = *path ? fopen(path, "r") : NULL;
	if (!f) {
		api_send(q, 200, json_pack("{s:s,s:s,s:s}", "name", name, "log", path, "text", ""));
		json_decref(d);
		return;
	}
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	from = size > 256 * 1024 ? size - 256 * 1024 : 0;
	fseek(f, from, SEEK_SET);
	text = malloc((size_t)(size - from) + 1);
	n = text ? fread(text, 1, (size_t)(size - from), f) : 0;
	fclose(f);
	if (!text) {
		json_decref(d);
		api_error(q, 500, "out of memory reading the log");
		return;
	}
	text[n] = '\0';
	start = text + n;
	if (start > text && start[-1] == '\n')
		start--;
	while (start > text && lines > 0) {
		start--;
		if (*start == '\n' && --lines == 0) {
			start++;
			break;
		}
	}
	{
		json_t *t = json_stringn_nocheck(start, strlen(start));

		if (!json_string_value(t) || !json_is_string(t)) {
			json_decref(t);
			t = json_string("(the log is not UTF-8 text)");
		}
		api_send(q, 200, json_pack("{s:s,s:s,s:o}", "name", name, "log", path, "text", t));
	}
	free(text);
	json_decref(d);
}

static void started(api_req *q, const char *kind, const char *target, const char *const *argv)
{
	char id[17], err[512], url[64];

	if (api_job_start(q->ctx, kind, target, argv, NULL, q->have_who ? q->token : NULL, id, err,
			  sizeof err) != 0) {
		api_error(q, 500, "cannot start %s: %s", kind, err);
		return;
	}
	snprintf(url, sizeof url, "/api/jobs/%s", id);
	api_send(q, 202, json_pack("{s:s,s:s,s:s,s:s}", "job", id, "kind", kind, "target", target,
				   "url", url));
}

/* processes from the body: 1..64, or def when absent; -1 when bad (sent). */
static int processes_of(api_req *q, json_t *b, int def)
{
	json_t *p = json_object_get(b, "processes");

	if (!p)
		return def;
	if (!json_is_integer(p) || json_integer_value(p) < 1 || json_integer_value(p) > 64) {
		api_error(q, 400, "field 'processes' must be a whole number 1..64");
		return -1;
	}
	return (int)json_integer_value(p);
}

void api_deploy(api_req *q)
{
	cs_registry *r;
	json_t *b, *m = NULL;
	const char *name, *ver;
	char nbuf[16], ref[160];
	int n;

	if (!(b = api_json_body(q)))
		return;
	name = json_string_value(json_object_get(b, "name"));
	ver = json_string_value(json_object_get(b, "version"));
	if (!api_name_ok(name)) {
		api_error(q, 400, "field 'name' must be a model name");
		return;
	}
	if (!api_write_allowed(q, "deploy", name))
		return;
	if (json_object_get(b, "version") && !api_version_ok(ver)) {
		api_error(q, 400, "field 'version' must be a version string");
		return;
	}
	if ((n = processes_of(q, b, 1)) < 0 || !(r = api_reg(q)))
		return;
	/* unknown model or version: 404 now, nothing started */
	if (cs_registry_model(r, name, ver, 0, &m) != CS_OK) {
		api_reg_error(q);
		return;
	}
	json_decref(m);
	snprintf(nbuf, sizeof nbuf, "%d", n);
	snprintf(ref, sizeof ref, "%s%s%s", name, ver ? "@" : "", ver ? ver : "");
	{
		const char *argv[] = {"deploy", ref, "--processes", nbuf, NULL};

		started(q, "deploy", name, argv);
	}
}

void api_deployment_action(api_req *q, const char *name, const char *action)
{
	cs_registry *r;
	json_t *d, *b = NULL;
	char nbuf[16];
	int n = 0;

	if (!api_write_allowed(q, "deploy", name))
		return;
	if (strcmp(action, "scale") == 0) {
		if (!(b = api_json_body(q)))
			return;
		if (!json_object_get(b, "processes")) {
			api_error(q, 400, "scale needs field 'processes' (1..64)");
			return;
		}
		if ((n = processes_of(q, b, 1)) < 0)
			return;
	}
	if (!(r = api_reg(q)) || !(d = get_dep(q, r, name)))
		return;
	if (strcmp(action, "pause") == 0 && strcmp(sfield(d, "state", ""), "paused") == 0) {
		api_error(q, 409, "%s is already paused", name);
		json_decref(d);
		return;
	}
	if (strcmp(action, "resume") == 0 && strcmp(sfield(d, "state", ""), "paused") != 0 &&
	    strcmp(sfield(d, "state", ""), "stopped") != 0) {
		api_error(q, 409, "%s is %s, not paused", name, sfield(d, "state", ""));
		json_decref(d);
		return;
	}
	json_decref(d);
	snprintf(nbuf, sizeof nbuf, "%d", n);
	{
		const char *argv[] = {action, name, n ? nbuf : NULL, NULL};

		started(q, action, name, argv);
	}
}

/*
 * Switch a deployment to another version, or try it as a canary taking
 * PCT % of the requests: `cubeserve deploy NAME@VERSION [--canary PCT]`,
 * the command's own version switch (promote and rollback are actions).
 */
void api_deployment_switch(api_req *q, const char *name)
{
	cs_registry *r;
	json_t *b, *d, *m = NULL, *c;
	const char *ver;
	char ref[160], pct[16];

	if (!api_write_allowed(q, "deploy", name) || !(b = api_json_body(q)))
		return;
	ver = json_string_value(json_object_get(b, "version"));
	if (!api_version_ok(ver)) {
		api_error(q, 400, "switch needs field 'version' (a version string)");
		return;
	}
	c = json_object_get(b, "canary");
	if (c && (!json_is_integer(c) || json_integer_value(c) < 1 || json_integer_value(c) > 99)) {
		api_error(q, 400, "field 'canary' must be a percentage 1..99");
		return;
	}
	if (!(r = api_reg(q)) || !(d = get_dep(q, r, name)))
		return;
	json_decref(d);
	if (cs_registry_model(r, name, ver, 0, &m) != CS_OK) {
		api_reg_error(q);
		return;
	}
	json_decref(m);
	snprintf(ref, sizeof ref, "%s@%s", name, ver);
	snprintf(pct, sizeof pct, "%lld", c ? (long long)json_integer_value(c) : 0LL);
	{
		const char *argv[] = {"deploy", ref, c ? "--canary" : NULL, pct, NULL};

		started(q, c ? "canary" : "switch", name, argv);
	}
}
