/*
 * ops.c - the deployment operations and the reconcile pass (see ops.h).
 *
 * Every operation: check the input (nothing written on a refusal), take
 * the model's lock, write the desired state, run the reconcile pass, and
 * on a failed start put the desired state back so what served goes on
 * serving. The pass observes the pools, compares them with the desired
 * state and acts, in an order that keeps a live route at every step:
 * start and check new pools, record them, switch the route (one reload),
 * then drain and stop what left the route. A pass interrupted anywhere
 * leaves the registry and the route at the old or the new state, and the
 * next pass (the supervisor's, or the next operation's) finishes it.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "ops.h"
#include "pool.h"
#include "registry/heartbeat.h"

#define LOCK_TTL_MS 600000 /* a lock outlives no crash: stale holders are broken */
#define DEFAULT_TIMEOUT_MS 60000
#define STOP_GRACE_MS 10000

/* ------------------------------------------------------------ test hook */

/*
 * CS_TEST_STOP_AT=K makes an operation exit at once (as if killed) when
 * it reaches step K; the integration tests use it to check that an
 * interrupted operation leaves the old or the new state. Only tests set
 * these variables.
 */
static int step_no;

static void step(cs_cli *cli, const char *what)
{
	const char *e = getenv("CS_TEST_STOP_AT"), *pause = getenv("CS_TEST_PAUSE_AT");

	step_no++;
	if (what)
		cli_step(cli, "  [%d] %s", step_no, what);
	/* CS_TEST_PAUSE_AT=K:MS waits MS ms at step K (a slow operation) */
	if (pause && *pause && atoi(pause) == step_no && strchr(pause, ':'))
		cli_sleep_ms(atoi(strchr(pause, ':') + 1));
	if (e && *e && atoi(e) == step_no) {
		fprintf(stderr, "cubeserve: CS_TEST_STOP_AT=%d: stopping here\n", step_no);
		fflush(NULL);
		_exit(99);
	}
}

/* ------------------------------------------------------------ the lock */

static void lock_key(cs_cli *cli, const char *name, char *key, size_t len)
{
	cs_registry_key(cli->reg, key, len, "lock:deployment:%s", name);
}

static void my_host(char *host, size_t len)
{
	if (gethostname(host, len - 1) != 0)
		snprintf(host, len, "localhost");
	host[len - 1] = '\0';
}

/* The lock's value: "HOST PID TIME WHAT" (who holds it, for the refusal). */
static int lock_take(cs_cli *cli, const char *name, const char *what,
		     char *token, size_t toklen, char *err, size_t errlen)
{
	char key[256], host[256], ttl[32];
	void *rep;

	lock_key(cli, name, key, sizeof key);
	my_host(host, sizeof host);
	snprintf(token, toklen, "%s %ld %lld %s", host, (long)getpid(), pool_wall_ms(), what);
	snprintf(ttl, sizeof ttl, "%d", LOCK_TTL_MS);
	for (int attempt = 0; attempt < 1000; attempt++) {
		const char *set[] = {"SET", key, token, "NX", "PX", ttl};
		const char *get[] = {"GET", key};
		char holder[512] = "", hhost[256] = "";
		long hpid = 0;
		long long hsince = 0;
		int got;

		rep = cs_registry_argv(cli->reg, 6, set);
		if (!rep) {
			snprintf(err, errlen, "%s", cli->reg->errstr);
			return cli->reg->err;
		}
		got = ((redisReply *)rep)->type == REDIS_REPLY_STATUS;
		cs_registry_free_reply(rep);
		if (got)
			return CS_OK;
		rep = cs_registry_argv(cli->reg, 2, get);
		if (rep) {
			if (((redisReply *)rep)->type == REDIS_REPLY_STRING)
				snprintf(holder, sizeof holder, "%s", ((redisReply *)rep)->str);
			cs_registry_free_reply(rep);
		}
		/* released between the SET and the GET (a supervisor's pass): again */
		if (!holder[0])
			continue;
		if (sscanf(holder, "%255s %ld %lld", hhost, &hpid, &hsince) == 3 &&
		    strcmp(hhost, host) == 0 && hpid > 0 && !cli_pid_alive((pid_t)hpid)) {
			/* its holder died (a killed command): break it, once */
			const char *script = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";
			const char *del[] = {"EVAL", script, "1", key, holder};

			cs_registry_free_reply(cs_registry_argv(cli->reg, 5, del));
			continue;
		}
		/* a supervisor's pass is short: an operation waits for it */
		if (strcmp(what, "reconcile") != 0 && strstr(holder, " reconcile") &&
		    attempt < 600) {
			cli_sleep_ms(50);
			continue;
		}
		{
			const char *w = holder;

			for (int k = 0; k < 3 && w; k++) {
				w = strchr(w, ' ');
				if (w)
					w++;
			}
			snprintf(err, errlen, "refused: another operation on '%s' is running (%s, pid %ld on %s, for %lld s); try again when it has finished",
				 name, w && *w ? w : "?", hpid, hhost[0] ? hhost : "?",
				 hsince ? (pool_wall_ms() - hsince) / 1000 : 0);
		}
		return CS_OP_BUSY;
	}
	snprintf(err, errlen, "refused: the lock of '%s' is held", name);
	return CS_OP_BUSY;
}

static void lock_release(cs_cli *cli, const char *name, const char *token)
{
	const char *script = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";
	char key[256];
	const char *del[] = {"EVAL", script, "1", key, token};

	lock_key(cli, name, key, sizeof key);
	cs_registry_free_reply(cs_registry_argv(cli->reg, 5, del));
}

/* ------------------------------------------------------------ records */

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

/* The pools of a record (a new array; legacy sockets become pools). */
static json_t *pools_of(const json_t *d)
{
	json_t *pools = json_loads(jstr(d, "pools", ""), 0, NULL);

	if (json_is_array(pools))
		return pools;
	json_decref(pools);
	pools = json_array();
	{
		json_t *socks = json_loads(jstr(d, "sockets", "[]"), 0, NULL);
		json_t *pids = json_loads(jstr(d, "pids", "[]"), 0, NULL);
		json_t *s;
		size_t i;

		json_array_foreach(socks, i, s) {
			json_t *p = json_object();

			json_object_set_new(p, "id", json_integer(-1 - (json_int_t)i));
			json_object_set_new(p, "version", json_string(jstr(d, "version", "")));
			json_object_set_new(p, "role", json_string("stable"));
			json_object_set(p, "socket", s);
			json_object_set_new(p, "pid", json_integer(json_integer_value(json_array_get(pids, i))));
			json_array_append_new(pools, p);
		}
		json_decref(socks);
		json_decref(pids);
	}
	return pools;
}

/* Stores pools into the record with the derived sockets/pids (routed). */
static void set_pools(json_t *d, json_t *pools)
{
	json_t *socks = json_array(), *pids = json_array(), *p;
	char *s;
	size_t i;

	json_array_foreach(pools, i, p) {
		const char *role = jstr(p, "role", "");

		if (strcmp(role, "stable") && strcmp(role, "canary"))
			continue;
		json_array_append(socks, json_object_get(p, "socket"));
		json_array_append(pids, json_object_get(p, "pid"));
	}
	s = json_dumps(pools, JSON_COMPACT);
	set_str(d, "pools", s ? s : "[]");
	free(s);
	s = json_dumps(socks, JSON_COMPACT);
	set_str(d, "sockets", s ? s : "[]");
	free(s);
	s = json_dumps(pids, JSON_COMPACT);
	set_str(d, "pids", s ? s : "[]");
	free(s);
	json_decref(socks);
	json_decref(pids);
}

static int put_record(cs_cli *cli, const char *name, json_t *d, char *err, size_t errlen)
{
	int rc;

	json_object_del(d, "name");
	set_int(d, "updated", pool_wall_ms());
	rc = cs_registry_deployment_put(cli->reg, name, d);
	if (rc != CS_OK)
		snprintf(err, errlen, "%s", cli->reg->errstr);
	return rc;
}

/* Appends an event to the model's deployment history (cs:history:NAME). */
static void history(cs_cli *cli, const char *name, const char *what)
{
	char key[256], ev[768], host[256];
	const char *push[] = {"LPUSH", key, ev};
	const char *trim[] = {"LTRIM", key, "0", "99"};
	json_t *o = json_object();
	char *s;

	my_host(host, sizeof host);
	cs_registry_key(cli->reg, key, sizeof key, "history:%s", name);
	json_object_set_new(o, "time", json_integer(pool_wall_ms()));
	json_object_set_new(o, "event", json_string(what));
	json_object_set_new(o, "by", json_string(cli_user(NULL)));
	json_object_set_new(o, "host", json_string(host));
	s = json_dumps(o, JSON_COMPACT);
	snprintf(ev, sizeof ev, "%s", s ? s : "{}");
	free(s);
	json_decref(o);
	cs_registry_free_reply(cs_registry_argv(cli->reg, 3, push));
	cs_registry_free_reply(cs_registry_argv(cli->reg, 4, trim));
}

/* The example request of name@version (a new string, "" when none). */
static char *example_of(cs_cli *cli, const char *name, const char *version)
{
	json_t *m = NULL;
	char *ex;

	if (cs_registry_model(cli->reg, name, version, 0, &m) != CS_OK)
		return strdup("");
	ex = strdup(jstr(json_object_get(m, "record"), "example", ""));
	json_decref(m);
	return ex;
}

/* ------------------------------------------------------------ reconcile */

static const char *role_of(const json_t *p)
{
	return jstr(p, "role", "");
}

static void set_role(json_t *p, const char *role)
{
	json_object_set_new(p, "role", json_string(role));
}

static int is_routed(const json_t *p)
{
	return !strcmp(role_of(p), "stable") || !strcmp(role_of(p), "canary");
}

/* Whether the pool runs on this machine (a record without a host: yes). */
static int local_pool(const json_t *p)
{
	const char *h = jstr(p, "host", "");
	char host[256];

	my_host(host, sizeof host);
	return !*h || !strcmp(h, host);
}

/* A routed pool to be replaced: its master died, or a restart retires it. */
static int replaced(const json_t *p)
{
	return json_is_true(json_object_get(p, "dead")) ||
	       json_is_true(json_object_get(p, "retire"));
}

static void note(cs_reconcile_report *rep, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void note(cs_reconcile_report *rep, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(rep->last, sizeof rep->last, fmt, ap);
	va_end(ap);
}

/*
 * Starts the pools target (version ver, role) lacks and checks them. New
 * pools are recorded as "staging" first, so a crash leaves a trace the next
 * pass stops. Returns CS_OK, or the failure (what was started is stopped).
 */
static int fill_target(cs_cli *cli, const char *name, json_t *d, json_t *pools,
		       const char *ver, const char *role, int want, int timeout_s,
		       cs_reconcile_report *rep, char *err, size_t errlen)
{
	int procs = (int)jnum(d, "processes", 1), have = 0, rc = CS_OK;
	json_t *p, *fresh = json_array();
	char *example = NULL;
	size_t i;

	json_array_foreach(pools, i, p)
		if (!strcmp(role_of(p), role) && !strcmp(jstr(p, "version", ""), ver) &&
		    !replaced(p))
			have++;
	/* adopt a live pool of that version from another role (promote, rollback) */
	json_array_foreach(pools, i, p) {
		if (have >= want)
			break;
		if (strcmp(jstr(p, "version", ""), ver) || !strcmp(role_of(p), role) ||
		    replaced(p) ||
		    (strcmp(role_of(p), "canary") && strcmp(role_of(p), "previous") &&
		     strcmp(role_of(p), "stable")) || !pool_alive(name, p))
			continue;
		if (!strcmp(role_of(p), "stable") && !strcmp(role, "canary"))
			continue; /* the deployed version is never the canary */
		set_role(p, role);
		json_object_del(p, "until");
		have++;
	}
	if (have >= want) {
		json_decref(fresh);
		return CS_OK;
	}
	example = example_of(cli, name, ver);
	for (int k = have; k < want; k++) {
		long long id = jnum(d, "next_socket", 0);

		set_int(d, "next_socket", id + 1);
		rc = pool_start(cli, name, ver, id, procs, &p, err, errlen);
		if (rc != CS_OK)
			break;
		json_array_append_new(pools, p);
		json_array_append(fresh, p);
		rep->started++;
	}
	if (json_array_size(fresh)) {
		char what[256];

		set_pools(d, pools);
		if ((rc == CS_OK) && put_record(cli, name, d, err, errlen) != CS_OK)
			rc = CS_EUNAVAILABLE;
		snprintf(what, sizeof what, "started %zu pool(s) of %s@%s with %d process(es) each; wait until each answers and runs the example",
			 json_array_size(fresh), name, ver, procs);
		step(cli, what);
	}
	json_array_foreach(fresh, i, p) {
		if (rc == CS_OK)
			rc = pool_wait_ready(cli, name, p, example, timeout_s, err, errlen);
	}
	json_array_foreach(fresh, i, p) {
		if (rc == CS_OK) {
			set_role(p, role);
			continue;
		}
		pool_stop(cli, name, p, STOP_GRACE_MS);
		set_role(p, "gone");
	}
	free(example);
	json_decref(fresh);
	return rc;
}

/* Removes the pools in role "gone" from the array. */
static void drop_gone(json_t *pools)
{
	for (size_t i = json_array_size(pools); i-- > 0;)
		if (!strcmp(role_of(json_array_get(pools, i)), "gone"))
			json_array_remove(pools, i);
}

static int reconcile_locked(cs_cli *cli, const char *name, json_t *d, int timeout_s,
			    int blocking, cs_reconcile_report *rep, char *err,
			    size_t errlen)
{
	json_t *pools = pools_of(d), *p;
	const char *state = jstr(d, "state", "running");
	const char *ver = jstr(d, "version", "");
	const char *cver = jstr(d, "canary_version", "");
	const char *prev = jstr(d, "previous_version", "");
	int pct = (int)jnum(d, "canary_percent", 0);
	int want = (int)jnum(d, "instances", 1), procs = (int)jnum(d, "processes", 1);
	long long keep_ms = jnum(d, "keep_warm_s", CS_OP_KEEP_WARM_S) * 1000;
	long long now = pool_wall_ms();
	int running = !strcmp(state, "running"), rc = CS_OK, frc = CS_OK, reloaded = 0;
	int to_stop = 0, dirty = 0;
	char *before = json_dumps(pools, JSON_COMPACT | JSON_SORT_KEYS), *after;
	size_t i;

	if (want < 1)
		want = 1;
	if (pct <= 0 || pct >= 100 || !*cver || !strcmp(cver, ver))
		cver = "";
	/* 1. observe (the pools of this host: a pid means nothing elsewhere) */
	json_array_foreach(pools, i, p) {
		const char *role = role_of(p);
		int alive;

		if (!local_pool(p))
			continue;
		alive = pool_alive(name, p);

		if (!strcmp(role, "staging")) {
			/* started by an operation that did not finish */
			set_role(p, "draining");
		} else if (is_routed(p) && !alive && !json_is_true(json_object_get(p, "dead"))) {
			char why[160];

			/* the watcher writes how the master ended just after it does */
			pool_exit_reason(cli, name, p, why, sizeof why);
			for (int w = 0; !why[0] && w < 25; w++) {
				cli_sleep_ms(20);
				pool_exit_reason(cli, name, p, why, sizeof why);
			}
			note(rep, "%s@%s pool %lld (master pid %lld) %s; starting a new one",
			     name, jstr(p, "version", ""), jnum(p, "id", 0),
			     jnum(p, "pid", 0), why[0] ? why : "is gone");
			rep->restarted++;
			json_object_set_new(p, "dead", json_true());
		} else if (!strcmp(role, "previous") &&
			   (!alive || now > jnum(p, "until", 0) || !running ||
			    jnum(p, "until", 0) - now > keep_ms)) {
			/* expired, or a shorter keep-warm was asked since */
			set_role(p, "draining");
		}
		if (json_is_true(json_object_get(p, "dead")) && !pool_serving(p))
			set_role(p, "gone"); /* nothing answers there: out of the route */
	}
	drop_gone(pools);
	/* 2. compare and act: start first, demote after */
	if (running) {
		frc = fill_target(cli, name, d, pools, ver, "stable", want, timeout_s, rep, err, errlen);
		if (frc == CS_OK && *cver) {
			frc = fill_target(cli, name, d, pools, cver, "canary", want, timeout_s, rep,
					  err, errlen);
			if (frc != CS_OK)
				cver = ""; /* the canary failed: its pools go */
		}
		drop_gone(pools);
	}
	json_array_foreach(pools, i, p) {
		const char *pv = jstr(p, "version", "");
		int dead = replaced(p);

		if (!is_routed(p))
			continue;
		if (!running) {
			set_role(p, "draining");
			continue;
		}
		if (frc != CS_OK && !strcmp(role_of(p), "stable") && strcmp(pv, ver) == 0)
			continue;
		if (dead) {
			/* its children may still serve: out once a replacement is in */
			if (frc == CS_OK)
				set_role(p, "draining");
			continue;
		}
		if (!strcmp(role_of(p), "stable") && !strcmp(pv, ver))
			continue;
		if (!strcmp(role_of(p), "canary") && *cver && !strcmp(pv, cver))
			continue;
		if (frc != CS_OK && !strcmp(role_of(p), "stable"))
			continue; /* the new version failed: the old one keeps serving */
		if (!strcmp(pv, prev) && keep_ms > 0 && !strcmp(role_of(p), "stable")) {
			set_role(p, "previous");
			json_object_set_new(p, "until", json_integer(now + keep_ms));
		} else {
			set_role(p, "draining");
		}
	}
	/* too many of a kind: the newest go */
	if (running) {
		for (int kind = 0; kind < 2; kind++) {
			const char *role = kind ? "canary" : "stable";
			int n = 0;

			for (size_t k = json_array_size(pools); k-- > 0;) {
				p = json_array_get(pools, k);
				if (!strcmp(role_of(p), role) && ++n > want)
					set_role(p, "draining");
			}
		}
	}
	json_array_foreach(pools, i, p)
		if (!strcmp(role_of(p), "draining"))
			to_stop++;
	/* 3. record, 4. route (one reload when it changed) */
	set_pools(d, pools);
	after = json_dumps(pools, JSON_COMPACT | JSON_SORT_KEYS);
	dirty = !before || !after || strcmp(before, after) != 0;
	free(before);
	free(after);
	if (dirty) {
		step(cli, "record the pools");
		if ((rc = put_record(cli, name, d, err, errlen)) != CS_OK)
			goto out;
	}
	if (cli_routes_sync(cli, &reloaded) != CLI_OK) {
		snprintf(err, errlen, "%s: the routes could not be written (see above); the old ones stay", name);
		rc = CS_EIO;
		goto out;
	}
	if (reloaded) {
		rep->routes_changed++;
		step(cli, "the route changed: nginx reloaded");
	}
	/* 5. drain and stop what left the route */
	if (to_stop) {
		step(cli, "drain and stop the pools out of the route");
		json_array_foreach(pools, i, p) {
			if (strcmp(role_of(p), "draining"))
				continue;
			pool_stop(cli, name, p, STOP_GRACE_MS);
			set_role(p, "gone");
			rep->stopped++;
		}
		drop_gone(pools);
		set_pools(d, pools);
		if ((rc = put_record(cli, name, d, err, errlen)) != CS_OK)
			goto out;
	}
	/* 6. children per master */
	json_array_foreach(pools, i, p) {
		if (!is_routed(p) && strcmp(role_of(p), "previous"))
			continue;
		if (pool_children(p) >= 0 && pool_children(p) != procs &&
		    pool_scale(p, procs, blocking) != 0 && blocking) {
			snprintf(err, errlen, "%s: pool %lld did not reach %d process(es) within 10 s (log: %s/logs/%s.log)",
				 name, jnum(p, "id", 0), procs, cli->run_dir, name);
			rc = CS_ETIMEOUT;
		}
	}
	if (rc == CS_OK)
		rc = frc;
out:
	json_decref(pools);
	return rc;
}

int cs_reconcile(cs_cli *cli, const char *name, int timeout_s, int blocking,
		 cs_reconcile_report *rep, char *err, size_t errlen)
{
	char token[512];
	json_t *d = NULL;
	int rc;

	memset(rep, 0, sizeof *rep);
	rc = lock_take(cli, name, "reconcile", token, sizeof token, err, errlen);
	if (rc != CS_OK)
		return rc;
	rc = cs_registry_deployment(cli->reg, name, &d);
	if (rc == CS_OK)
		rc = reconcile_locked(cli, name, d, timeout_s, blocking, rep, err, errlen);
	else
		snprintf(err, errlen, "%s", cli->reg->errstr);
	json_decref(d);
	lock_release(cli, name, token);
	return rc;
}

/* ------------------------------------------------------------ operations */

/* Fills the fields a record needs from the command's context. */
static json_t *new_record(cs_cli *cli, const char *name, const char *version,
			  json_t *m)
{
	char route[128], logf[PATH_MAX + 32], host[256];
	json_t *d = json_object(), *rec = json_object_get(m, "record");

	snprintf(route, sizeof route, "/models/%s", name);
	snprintf(logf, sizeof logf, "%s/logs/%s.log", cli->run_dir, name);
	my_host(host, sizeof host);
	set_str(d, "version", version);
	set_str(d, "state", "running");
	set_int(d, "processes", 1);
	set_int(d, "instances", 1);
	set_int(d, "min", 1);
	set_int(d, "max", CS_OP_MAX_PROCESSES);
	set_str(d, "pools", "[]");
	set_str(d, "sockets", "[]");
	set_str(d, "pids", "[]");
	set_str(d, "route", route);
	set_str(d, "host", host);
	set_str(d, "run_dir", cli->run_dir);
	set_str(d, "log", logf);
	set_str(d, "registry", cli_registry_shown(cli));
	set_str(d, "worker", cli->worker);
	set_str(d, "plugin_dir", cli->plugin_dir);
	set_str(d, "lua_dir", cli->lua_dir);
	set_int(d, "next_socket", 0);
	set_int(d, "keep_warm_s", CS_OP_KEEP_WARM_S);
	set_str(d, "canary_version", "");
	set_int(d, "canary_percent", 0);
	set_str(d, "previous_version", "");
	set_int(d, "max_body_bytes", jnum(rec, "max_body_bytes", 1 << 20));
	set_int(d, "request_timeout_ms", jnum(rec, "request_timeout_ms", DEFAULT_TIMEOUT_MS));
	return d;
}

/* Runs a pass of the locked record; fills err. */
static int pass(cs_cli *cli, const char *name, json_t *d, int timeout_s, char *err,
		size_t errlen)
{
	cs_reconcile_report rep;

	memset(&rep, 0, sizeof rep);
	return reconcile_locked(cli, name, d, timeout_s > 0 ? timeout_s : 60, 1, &rep, err, errlen);
}

/* Reads the deployment (locked); CS_ENOTFOUND with err when not deployed. */
static int load(cs_cli *cli, const char *name, json_t **d, char *err, size_t errlen)
{
	int rc = cs_registry_deployment(cli->reg, name, d);

	if (rc != CS_OK)
		snprintf(err, errlen, "%s", rc == CS_ENOTFOUND ?
			 "" : cli->reg->errstr);
	if (rc == CS_ENOTFOUND)
		snprintf(err, errlen, "model '%s' is not deployed", name);
	return rc;
}

int cs_op_deploy(cs_cli *cli, const cs_deploy_opts *o, char *err, size_t errlen)
{
	char ref[200], token[512], what[300], *mpath = NULL;
	json_t *m = NULL, *d = NULL, *saved = NULL;
	const char *ver;
	int rc, exists;

	if (o->canary_percent && (o->canary_percent < 1 || o->canary_percent > 99)) {
		snprintf(err, errlen, "--canary must be a share of 1..99 percent, got %d", o->canary_percent);
		return CS_EINVAL;
	}
	if (cs_registry_model(cli->reg, o->name, o->version, 0, &m) != CS_OK ||
	    !json_object_get(m, "record")) {
		snprintf(err, errlen, "%s", m ? "no such version" : cli->reg->errstr);
		json_decref(m);
		return CS_ENOTFOUND;
	}
	ver = jstr(json_object_get(m, "record"), "version", "");
	snprintf(ref, sizeof ref, "%s@%s", o->name, ver);
	step_no = 0;
	cli_step(cli, "deploy %s", ref);
	step(cli, "verify the stored files (sha256)");
	if (!cli_store(cli)) {
		snprintf(err, errlen, "%s: no model store", ref);
		rc = CS_ENOTFOUND;
		goto out;
	}
	if ((rc = cs_registry_resolve_manifest(cli->registry_url, ref, cli->store, &mpath,
					       NULL, err, errlen)) != CS_OK)
		goto out;
	rc = lock_take(cli, o->name, o->canary_percent ? "canary" : "deploy", token,
		       sizeof token, err, errlen);
	if (rc != CS_OK)
		goto out;
	rc = cs_registry_deployment(cli->reg, o->name, &d);
	exists = rc == CS_OK;
	if (rc != CS_OK && rc != CS_ENOTFOUND) {
		snprintf(err, errlen, "%s", cli->reg->errstr);
		goto out_unlock;
	}
	if (exists && !strcmp(jstr(d, "state", ""), "paused")) {
		snprintf(err, errlen, "refused: %s is deployed and paused; `cubeserve resume %s` first",
			 o->name, o->name);
		rc = CS_REG_DEPLOYED;
		goto out_unlock;
	}
	if (exists && !strcmp(jstr(d, "state", ""), "stopped")) {
		/* recorded, not running (a stack that stopped): start it as asked */
		set_str(d, "state", "running");
		set_str(d, "version", ver);
		set_str(d, "canary_version", "");
		set_int(d, "canary_percent", 0);
	} else if (exists) {
		char cur[80];

		snprintf(cur, sizeof cur, "%s", jstr(d, "version", ""));

		if (!o->version && !o->canary_percent) {
			snprintf(err, errlen, "refused: %s is already deployed (version %s); `cubeserve deploy %s@VERSION` switches it, or use restart, scale or undeploy",
				 o->name, cur, o->name);
			rc = CS_REG_DEPLOYED;
			goto out_unlock;
		}
		if (!strcmp(cur, ver) && !o->canary_percent) {
			snprintf(err, errlen, "refused: %s is already deployed at version %s; use restart, scale or undeploy",
				 o->name, cur);
			rc = CS_REG_DEPLOYED;
			goto out_unlock;
		}
		if (!strcmp(cur, ver)) {
			snprintf(err, errlen, "refused: %s is deployed at %s already; a canary is another version",
				 o->name, ver);
			rc = CS_EINVAL;
			goto out_unlock;
		}
		saved = json_deep_copy(d);
		if (o->keep_warm_s >= 0)
			set_int(d, "keep_warm_s", o->keep_warm_s);
		if (o->canary_percent) {
			set_str(d, "canary_version", ver);
			set_int(d, "canary_percent", o->canary_percent);
			snprintf(what, sizeof what, "canary %s: %d%% of the requests to %s, the rest to %s",
				 o->name, o->canary_percent, ver, cur);
		} else {
			set_str(d, "previous_version", cur);
			set_str(d, "version", ver);
			set_str(d, "canary_version", "");
			set_int(d, "canary_percent", 0);
			set_int(d, "max_body_bytes", jnum(json_object_get(m, "record"), "max_body_bytes", 1 << 20));
			set_int(d, "request_timeout_ms", jnum(json_object_get(m, "record"),
							      "request_timeout_ms", DEFAULT_TIMEOUT_MS));
			snprintf(what, sizeof what, "switch %s from %s to %s", o->name, cur, ver);
		}
		cli_step(cli, "  %s", what);
	} else {
		d = new_record(cli, o->name, ver, m);
		if (o->canary_percent) {
			snprintf(err, errlen, "refused: %s is not deployed; --canary needs a deployed version to share with",
				 o->name);
			rc = CS_OP_REFUSED;
			goto out_unlock;
		}
		snprintf(what, sizeof what, "deploy %s", ref);
	}
	if (o->processes > 0)
		set_int(d, "processes", o->processes);
	if (o->instances > 0)
		set_int(d, "instances", o->instances);
	if (o->keep_warm_s >= 0 && !saved)
		set_int(d, "keep_warm_s", o->keep_warm_s);
	step(cli, "record the desired state");
	if ((rc = put_record(cli, o->name, d, err, errlen)) != CS_OK)
		goto out_unlock;
	rc = pass(cli, o->name, d, o->timeout_s, err, errlen);
	if (rc != CS_OK) {
		char first[CS_ERROR_SIZE * 2];

		snprintf(first, sizeof first, "%s", err);
		if (saved) {
			char e2[CS_ERROR_SIZE];

			/* back to what served: the deployed version goes on */
			put_record(cli, o->name, saved, e2, sizeof e2);
			pass(cli, o->name, saved, o->timeout_s, e2, sizeof e2);
			snprintf(err, errlen, "%s; %s@%s keeps serving", first, o->name,
				 jstr(saved, "version", ""));
		} else {
			char e2[CS_ERROR_SIZE];

			json_t *gone = json_deep_copy(d);

			set_str(gone, "state", "stopped");
			pass(cli, o->name, gone, o->timeout_s, e2, sizeof e2);
			cs_registry_deployment_delete(cli->reg, o->name);
			cli_routes_sync(cli, &exists);
			json_decref(gone);
		}
		goto out_unlock;
	}
	history(cli, o->name, what);
	cli_step(cli, "%s: done", what);
out_unlock:
	lock_release(cli, o->name, token);
out:
	free(mpath);
	json_decref(saved);
	json_decref(d);
	json_decref(m);
	return rc;
}

/* A locked change of the desired state, then a pass. */
typedef int (*change_fn)(cs_cli *cli, const char *name, json_t *d, void *arg,
			 char *what, size_t wlen, char *err, size_t errlen);

static int change(cs_cli *cli, const char *name, const char *op, change_fn fn,
		  void *arg, int timeout_s, int revert_on_fail, char *err, size_t errlen)
{
	char token[512], what[300] = "";
	json_t *d = NULL, *saved;
	int rc;

	step_no = 0;
	rc = lock_take(cli, name, op, token, sizeof token, err, errlen);
	if (rc != CS_OK)
		return rc;
	if ((rc = load(cli, name, &d, err, errlen)) != CS_OK)
		goto out;
	saved = json_deep_copy(d);
	rc = fn(cli, name, d, arg, what, sizeof what, err, errlen);
	if (rc == CS_OK && what[0]) {
		cli_step(cli, "%s", what);
		step(cli, "record the desired state");
		rc = put_record(cli, name, d, err, errlen);
		if (rc == CS_OK)
			rc = pass(cli, name, d, timeout_s, err, errlen);
		if (rc != CS_OK && revert_on_fail) {
			char first[CS_ERROR_SIZE * 2], e2[CS_ERROR_SIZE];

			snprintf(first, sizeof first, "%s", err);
			put_record(cli, name, saved, e2, sizeof e2);
			pass(cli, name, saved, timeout_s, e2, sizeof e2);
			snprintf(err, errlen, "%s; %s@%s keeps serving", first, name,
				 jstr(saved, "version", ""));
		}
		if (rc == CS_OK) {
			history(cli, name, what);
			cli_step(cli, "%s: done", what);
		}
	}
	json_decref(saved);
out:
	json_decref(d);
	lock_release(cli, name, token);
	return rc;
}

static int do_promote(cs_cli *cli, const char *name, json_t *d, void *arg,
		      char *what, size_t wlen, char *err, size_t errlen)
{
	const char *cv = jstr(d, "canary_version", "");
	int keep = *(int *)arg;
	char cur[80];

	(void)cli;
	if (!*cv || jnum(d, "canary_percent", 0) <= 0) {
		snprintf(err, errlen, "refused: %s has no canary to promote (`cubeserve deploy %s@VERSION --canary PCT` starts one)",
			 name, name);
		return CS_OP_REFUSED;
	}
	snprintf(cur, sizeof cur, "%s", jstr(d, "version", ""));
	snprintf(what, wlen, "promote %s: %s becomes the deployment (was %s)", name, cv, cur);
	set_str(d, "version", cv);
	set_str(d, "previous_version", cur);
	set_str(d, "canary_version", "");
	set_int(d, "canary_percent", 0);
	if (keep >= 0)
		set_int(d, "keep_warm_s", keep);
	return CS_OK;
}

int cs_op_promote(cs_cli *cli, const char *name, int keep_warm_s,
		  int timeout_s, char *err, size_t errlen)
{
	return change(cli, name, "promote", do_promote, &keep_warm_s, timeout_s, 1, err, errlen);
}

static int do_rollback(cs_cli *cli, const char *name, json_t *d, void *arg,
		       char *what, size_t wlen, char *err, size_t errlen)
{
	const char *cv = jstr(d, "canary_version", "");
	const char *prev = jstr(d, "previous_version", "");
	char cur[80], pv[80];
	json_t *m = NULL;

	(void)arg;
	if (*cv && jnum(d, "canary_percent", 0) > 0) {
		snprintf(what, wlen, "rollback %s: drop the canary %s, all requests to %s", name, cv,
			 jstr(d, "version", ""));
		set_str(d, "canary_version", "");
		set_int(d, "canary_percent", 0);
		return CS_OK;
	}
	if (!*prev || !strcmp(prev, jstr(d, "version", ""))) {
		snprintf(err, errlen, "refused: %s has nothing to roll back to (no canary, no previous version)",
			 name);
		return CS_OP_REFUSED;
	}
	if (cs_registry_model(cli->reg, name, prev, 0, &m) != CS_OK) {
		snprintf(err, errlen, "refused: the previous version %s@%s is no longer published", name, prev);
		return CS_ENOTFOUND;
	}
	json_decref(m);
	snprintf(cur, sizeof cur, "%s", jstr(d, "version", ""));
	snprintf(pv, sizeof pv, "%s", prev);
	snprintf(what, wlen, "rollback %s from %s to %s", name, cur, pv);
	set_str(d, "version", pv);
	set_str(d, "previous_version", cur);
	return CS_OK;
}

int cs_op_rollback(cs_cli *cli, const char *name, int timeout_s, char *err,
		   size_t errlen)
{
	return change(cli, name, "rollback", do_rollback, NULL, timeout_s, 1, err, errlen);
}

static int do_scale(cs_cli *cli, const char *name, json_t *d, void *arg,
		    char *what, size_t wlen, char *err, size_t errlen)
{
	int n = *(int *)arg;
	char reason[160];

	snprintf(reason, sizeof reason, "manual: cubeserve scale %s %d by %s", name, n, cli_user(NULL));
	if (cs_registry_hint(cli->reg, name, n, reason) != CS_OK) {
		snprintf(err, errlen, "%s", cli->reg->errstr);
		return cli->reg->err;
	}
	snprintf(what, wlen, "scale %s from %lld to %d process(es) per pool", name,
		 jnum(d, "processes", 1), n);
	set_int(d, "processes", n);
	return CS_OK;
}

int cs_op_scale(cs_cli *cli, const char *name, int processes, char *err,
		size_t errlen)
{
	if (processes < 1 || processes > CS_OP_MAX_PROCESSES) {
		snprintf(err, errlen, "N must be 1..%d, got %d", CS_OP_MAX_PROCESSES, processes);
		return CS_EINVAL;
	}
	return change(cli, name, "scale", do_scale, &processes, 60, 0, err, errlen);
}

static int do_instances(cs_cli *cli, const char *name, json_t *d, void *arg,
			char *what, size_t wlen, char *err, size_t errlen)
{
	int n = *(int *)arg;

	(void)cli;
	(void)err;
	(void)errlen;
	snprintf(what, wlen, "%s: %d instance(s) per version", name, n);
	set_int(d, "instances", n);
	return CS_OK;
}

int cs_op_instances(cs_cli *cli, const char *name, int instances,
		    int timeout_s, char *err, size_t errlen)
{
	if (instances < 1 || instances > CS_OP_MAX_INSTANCES) {
		snprintf(err, errlen, "--instances must be 1..%d, got %d", CS_OP_MAX_INSTANCES, instances);
		return CS_EINVAL;
	}
	return change(cli, name, "instances", do_instances, &instances, timeout_s, 1, err, errlen);
}

static int do_state(cs_cli *cli, const char *name, json_t *d, void *arg,
		    char *what, size_t wlen, char *err, size_t errlen)
{
	const char *to = arg;

	(void)cli;
	(void)err;
	(void)errlen;
	if (!strcmp(jstr(d, "state", ""), to) && strcmp(to, "running")) {
		cli_step(cli, "%s is already %s", name, to);
		return CS_OK; /* what stays "": nothing to do */
	}
	snprintf(what, wlen, "%s %s", !strcmp(to, "paused") ? "pause" : "resume", name);
	set_str(d, "state", to);
	return CS_OK;
}

int cs_op_pause(cs_cli *cli, const char *name, char *err, size_t errlen)
{
	return change(cli, name, "pause", do_state, "paused", 60, 0, err, errlen);
}

int cs_op_resume(cs_cli *cli, const char *name, int timeout_s, char *err,
		 size_t errlen)
{
	return change(cli, name, "resume", do_state, "running", timeout_s, 0, err, errlen);
}

static int do_restart(cs_cli *cli, const char *name, json_t *d, void *arg,
		      char *what, size_t wlen, char *err, size_t errlen)
{
	json_t *pools = pools_of(d), *p;
	size_t i;

	(void)cli;
	(void)arg;
	if (strcmp(jstr(d, "state", ""), "running")) {
		snprintf(err, errlen, "refused: %s is %s; `cubeserve resume %s` starts it", name,
			 jstr(d, "state", ""), name);
		json_decref(pools);
		return CS_OP_REFUSED;
	}
	/* the running pools drain once new ones are in the route */
	json_array_foreach(pools, i, p)
		if (is_routed(p))
			json_object_set_new(p, "retire", json_true());
	set_pools(d, pools);
	json_decref(pools);
	snprintf(what, wlen, "restart %s@%s: new pools beside the old, then the old drain", name,
		 jstr(d, "version", ""));
	return CS_OK;
}

int cs_op_restart(cs_cli *cli, const char *name, int timeout_s, char *err,
		  size_t errlen)
{
	return change(cli, name, "restart", do_restart, NULL, timeout_s, 0, err, errlen);
}

int cs_op_undeploy(cs_cli *cli, const char *name, char *err, size_t errlen)
{
	char token[512];
	json_t *d = NULL, *pools, *p;
	int rc, reloaded;
	size_t i;

	step_no = 0;
	rc = lock_take(cli, name, "undeploy", token, sizeof token, err, errlen);
	if (rc != CS_OK)
		return rc;
	if ((rc = load(cli, name, &d, err, errlen)) != CS_OK)
		goto out;
	pools = pools_of(d);
	cli_step(cli, "undeploy %s", name);
	step(cli, "remove the record and the route (nginx reload)");
	if ((rc = cs_registry_deployment_delete(cli->reg, name)) != CS_OK) {
		snprintf(err, errlen, "%s", cli->reg->errstr);
		json_decref(pools);
		goto out;
	}
	if (cli_routes_sync(cli, &reloaded) != CLI_OK)
		rc = CS_EIO;
	step(cli, "drain and stop the pools");
	json_array_foreach(pools, i, p)
		pool_stop(cli, name, p, STOP_GRACE_MS);
	json_decref(pools);
	history(cli, name, "undeploy");
	cli_step(cli, "undeployed %s", name);
out:
	json_decref(d);
	lock_release(cli, name, token);
	return rc;
}

void cs_ops_stop_all(cs_cli *cli)
{
	json_t *deps = NULL, *d, *pools, *p;
	char token[512], err[CS_ERROR_SIZE];
	size_t i, j;

	if (!cli->reg || cs_registry_deployments(cli->reg, &deps) != CS_OK)
		return;
	/* every pool drains at once; then each is waited for (and killed after
	 * the grace period) in turn */
	json_array_foreach(deps, i, d) {
		pools = pools_of(d);
		json_array_foreach(pools, j, p) {
			pid_t pid = (pid_t)json_integer_value(json_object_get(p, "pid"));

			if (pid > 0 && pool_alive(jstr(d, "name", ""), p) == 1)
				kill(pid, SIGTERM);
		}
		json_decref(pools);
	}
	json_array_foreach(deps, i, d) {
		char name[256]; /* a copy: put_record() deletes d's "name" */
		int locked;

		snprintf(name, sizeof name, "%s", jstr(d, "name", ""));
		locked = lock_take(cli, name, "stop", token, sizeof token, err, sizeof err) == CS_OK;

		pools = pools_of(d);
		json_array_foreach(pools, j, p)
			pool_stop(cli, name, p, STOP_GRACE_MS);
		json_decref(pools);
		if (!strcmp(jstr(d, "state", ""), "running"))
			set_str(d, "state", "stopped");
		pools = json_array();
		set_pools(d, pools);
		json_decref(pools);
		put_record(cli, name, d, err, sizeof err);
		if (locked)
			lock_release(cli, name, token);
	}
	json_decref(deps);
}
