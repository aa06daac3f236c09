/*
 * hosts.c - host records, agent leases and the agent's beating thread
 * (see hosts.h; keys in docs/registry.md). Each write is one Lua script:
 * the lease check and the write cannot be separated.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include <cubeserve/plugin.h>

#include "core/clock.h"
#include "core/log.h"
#include "registry/hosts.h"
#include "registry/registry.h"

#define HEAD                                                              \
	"local p = ARGV[1]\n"                                             \
	"local s = redis.call('GET', p .. 'schema')\n"                    \
	"if s ~= ARGV[2] then return redis.error_reply('CSSCHEMA ' .. (s or 'none (an empty registry)')) end\n"

static const char beat_lua[] = HEAD
	"local name, agent, ttl, now = ARGV[3], ARGV[4], ARGV[5], ARGV[6]\n"
	"local live = p .. 'hostlive:' .. name\n"
	"local holder = redis.call('GET', live)\n"
	"if holder and holder ~= agent then\n"
	"  return redis.error_reply('TAKEN host ' .. name .. ' is held by the live agent ' .. holder ..\n"
	"    ' (its lease ends in ' .. redis.call('PTTL', live) .. ' ms)')\n"
	"end\n"
	"redis.call('SET', live, agent, 'PX', ttl)\n"
	"local h = p .. 'host:' .. name\n"
	"if redis.call('HGET', h, 'agent') ~= agent then redis.call('HSET', h, 'started', now) end\n"
	"redis.call('HSET', h, 'name', name, 'agent', agent, 'address', ARGV[7], 'cores', ARGV[8],\n"
	"  'memory_bytes', ARGV[9], 'version', ARGV[10], 'state', 'up', 'heartbeat', now)\n"
	"redis.call('SADD', p .. 'hosts', name)\n"
	"return 1\n";

static const char release_lua[] = HEAD
	"local name, agent = ARGV[3], ARGV[4]\n"
	"local live = p .. 'hostlive:' .. name\n"
	"if redis.call('GET', live) == agent then redis.call('DEL', live) end\n"
	"local h = p .. 'host:' .. name\n"
	"if redis.call('HGET', h, 'agent') == agent then redis.call('HSET', h, 'state', 'stopped') end\n"
	"return 1\n";

static const char forget_lua[] = HEAD
	"local name = ARGV[3]\n"
	"local live = p .. 'hostlive:' .. name\n"
	"if redis.call('EXISTS', live) == 1 then\n"
	"  return redis.error_reply('TAKEN host ' .. name .. ' has a live agent (' .. redis.call('GET', live) ..\n"
	"    '); stop it first')\n"
	"end\n"
	"if redis.call('EXISTS', p .. 'host:' .. name) == 0 then\n"
	"  return redis.error_reply('NOTFOUND no host named ' .. name .. ' in the registry')\n"
	"end\n"
	"redis.call('DEL', p .. 'host:' .. name)\n"
	"redis.call('SREM', p .. 'hosts', name)\n"
	"return 1\n";

int cs_host_name_valid(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0 || n > 63 || name[0] == '-' || name[n - 1] == '-')
		return 0;
	for (const char *p = name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-'))
			return 0;
	return 1;
}

void cs_host_measure(int *cores, long long *memory_bytes)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);

	*cores = n > 0 ? (int)n : 1;
	*memory_bytes = pages > 0 && size > 0 ? (long long)pages * size : 0;
}

/* EVAL script with ARGV = prefix, schema, then args (NULL-terminated). */
static int run(cs_registry *r, const char *script, const char *const *args)
{
	const char *argv[24];
	char schema[16];
	redisReply *rep;
	int argc = 0;

	snprintf(schema, sizeof schema, "%d", CS_REGISTRY_SCHEMA);
	argv[argc++] = "EVAL";
	argv[argc++] = script;
	argv[argc++] = "0";
	argv[argc++] = r->prefix;
	argv[argc++] = schema;
	while (*args && argc < 24)
		argv[argc++] = *args++;
	rep = cs_registry_argv(r, argc, argv);
	if (!rep)
		return r->err;
	cs_registry_free_reply(rep);
	return CS_OK;
}

static void bad_name(cs_registry *r, const char *name)
{
	r->err = CS_EINVAL;
	snprintf(r->errstr, sizeof r->errstr,
		 "'%s' is not a host name (lower-case letters, digits and '-', at most 63)",
		 name ? name : "");
}

int cs_host_beat(cs_registry *r, const cs_host_info *h, const char *agent)
{
	char ttl[16], now[24], cores[16], mem[24];

	if (!cs_host_name_valid(h->name)) {
		bad_name(r, h->name);
		return CS_EINVAL;
	}
	snprintf(ttl, sizeof ttl, "%d", CS_HOST_TTL_MS);
	snprintf(now, sizeof now, "%lld", (long long)(cs_clock_wall() * 1000));
	snprintf(cores, sizeof cores, "%d", h->cores);
	snprintf(mem, sizeof mem, "%lld", h->memory_bytes);
	{
		const char *args[] = {h->name, agent, ttl, now, h->address ? h->address : h->name,
			cores, mem, CS_VERSION, NULL};

		return run(r, beat_lua, args);
	}
}

int cs_host_release(cs_registry *r, const char *name, const char *agent)
{
	const char *args[] = {name, agent, NULL};

	return run(r, release_lua, args);
}

int cs_host_forget(cs_registry *r, const char *name)
{
	const char *args[] = {name, NULL};

	if (!cs_host_name_valid(name)) {
		bad_name(r, name);
		return CS_EINVAL;
	}
	return run(r, forget_lua, args);
}

static int by_name(const void *a, const void *b)
{
	return strcmp(json_string_value(json_object_get(*(json_t *const *)a, "name")),
		      json_string_value(json_object_get(*(json_t *const *)b, "name")));
}

int cs_hosts_list(cs_registry *r, json_t **out)
{
	char key[256];
	redisReply *names, *ttl;
	const char *argv[2];
	json_t **v = NULL, *arr;
	size_t n = 0;
	int rc = CS_OK;

	*out = NULL;
	cs_registry_key(r, key, sizeof key, "hosts");
	argv[0] = "SMEMBERS";
	argv[1] = key;
	names = cs_registry_argv(r, 2, argv);
	if (!names)
		return r->err;
	v = calloc(names->elements + 1, sizeof *v);
	if (!v) {
		cs_registry_free_reply(names);
		return CS_ENOMEM;
	}
	for (size_t i = 0; i < names->elements; i++) {
		const char *name = names->element[i]->str;
		json_t *h = NULL;
		long long left;

		cs_registry_key(r, key, sizeof key, "host:%s", name);
		rc = cs_registry_hash(r, key, &h);
		if (rc == CS_ENOTFOUND) { /* forgotten meanwhile */
			rc = CS_OK;
			continue;
		}
		if (rc != CS_OK)
			break;
		cs_registry_key(r, key, sizeof key, "hostlive:%s", name);
		argv[0] = "PTTL";
		argv[1] = key;
		ttl = cs_registry_argv(r, 2, argv);
		if (!ttl) {
			json_decref(h);
			rc = r->err;
			break;
		}
		left = ttl->type == REDIS_REPLY_INTEGER && ttl->integer > 0 ? ttl->integer : 0;
		cs_registry_free_reply(ttl);
		json_object_set_new(h, "name", json_string(name));
		json_object_set_new(h, "alive", json_boolean(left > 0));
		json_object_set_new(h, "lease_ms", json_integer(left));
		v[n++] = h;
	}
	cs_registry_free_reply(names);
	if (rc != CS_OK) {
		while (n > 0)
			json_decref(v[--n]);
		free(v);
		return rc;
	}
	qsort(v, n, sizeof *v, by_name);
	arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, v[i]);
	free(v);
	*out = arr;
	return arr ? CS_OK : CS_ENOMEM;
}

/* ------------------------------------------------------------ the agent */

struct cs_host_agent {
	char *url, *prefix, *name, *address;
	int cores;
	long long memory_bytes;
	char id[160];
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	int stop;
	int holds;
	cs_registry *r; /* the thread's connection */
};

static cs_host_info info_of(const cs_host_agent *a)
{
	cs_host_info h = {a->name, a->address, a->cores, a->memory_bytes};

	return h;
}

static void *agent_main(void *arg)
{
	cs_host_agent *a = arg;
	char err[CS_ERROR_SIZE * 2];
	int down_logged = 0;

	pthread_mutex_lock(&a->lock);
	while (!a->stop) {
		struct timespec until;
		int rc;

		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += (long)CS_HOST_BEAT_MS * 1000000L;
		until.tv_sec += until.tv_nsec / 1000000000L;
		until.tv_nsec %= 1000000000L;
		while (!a->stop && pthread_cond_timedwait(&a->wake, &a->lock, &until) != ETIMEDOUT)
			;
		if (a->stop || !a->holds)
			continue;
		pthread_mutex_unlock(&a->lock);
		rc = a->r ? CS_OK : cs_registry_open(a->url, a->prefix, 500, &a->r, err, sizeof err);
		if (rc == CS_OK) {
			cs_host_info h = info_of(a);

			rc = cs_host_beat(a->r, &h, a->id);
			if (rc != CS_OK)
				snprintf(err, sizeof err, "%s", a->r->errstr);
		}
		pthread_mutex_lock(&a->lock);
		if (rc == CS_REG_TAKEN) {
			a->holds = 0;
			cs_log_error("host agent: %s; this agent (%s) no longer claims host %s", err, a->id,
				     a->name);
		} else if (rc != CS_OK) {
			if (!down_logged)
				cs_log_warn("host agent: %s; retrying every %d ms", err, CS_HOST_BEAT_MS);
			down_logged = 1;
			if (rc == CS_EUNAVAILABLE && a->r) {
				cs_registry_close(a->r);
				a->r = NULL;
			}
		} else if (down_logged) {
			cs_log_info("host agent: beating again for host %s", a->name);
			down_logged = 0;
		}
	}
	pthread_mutex_unlock(&a->lock);
	return NULL;
}

static void agent_free(cs_host_agent *a)
{
	cs_registry_close(a->r);
	free(a->url);
	free(a->prefix);
	free(a->name);
	free(a->address);
	pthread_mutex_destroy(&a->lock);
	pthread_cond_destroy(&a->wake);
	free(a);
}

int cs_host_agent_start(const char *url, const char *prefix, const cs_host_info *h,
			cs_host_agent **out, char *err, size_t errlen)
{
	cs_host_agent *a = calloc(1, sizeof *a);
	char me[128] = "host";
	int rc;

	*out = NULL;
	if (!a)
		return CS_ENOMEM;
	pthread_mutex_init(&a->lock, NULL);
	pthread_cond_init(&a->wake, NULL);
	a->url = strdup(url);
	a->prefix = strdup(prefix ? prefix : CS_REGISTRY_PREFIX);
	a->name = strdup(h->name ? h->name : "");
	a->address = strdup(h->address ? h->address : (h->name ? h->name : ""));
	a->cores = h->cores;
	a->memory_bytes = h->memory_bytes;
	a->holds = 1;
	gethostname(me, sizeof me - 1);
	me[sizeof me - 1] = '\0';
	{
		/* two agents of one process are two agents too */
		static int seq;

		snprintf(a->id, sizeof a->id, "%s:%ld:%lld:%d", me, (long)getpid(),
			 (long long)(cs_clock_wall() * 1000), __atomic_add_fetch(&seq, 1, __ATOMIC_RELAXED));
	}
	if (!a->url || !a->prefix || !a->name || !a->address) {
		agent_free(a);
		return CS_ENOMEM;
	}
	rc = cs_registry_open(a->url, a->prefix, 2000, &a->r, err, errlen);
	if (rc == CS_OK) {
		cs_host_info hi = info_of(a);

		rc = cs_host_beat(a->r, &hi, a->id);
		if (rc != CS_OK)
			snprintf(err, errlen, "%s", a->r->errstr);
	}
	if (rc != CS_OK) {
		agent_free(a);
		return rc;
	}
	if (pthread_create(&a->thread, NULL, agent_main, a) != 0) {
		snprintf(err, errlen, "host agent: cannot start its thread");
		cs_host_release(a->r, a->name, a->id);
		agent_free(a);
		return CS_ENOMEM;
	}
	*out = a;
	return CS_OK;
}

const char *cs_host_agent_id(const cs_host_agent *a)
{
	return a->id;
}

int cs_host_agent_holds(cs_host_agent *a)
{
	int h;

	pthread_mutex_lock(&a->lock);
	h = a->holds;
	pthread_mutex_unlock(&a->lock);
	return h;
}

void cs_host_agent_stop(cs_host_agent *a)
{
	char err[CS_ERROR_SIZE * 2];

	if (!a)
		return;
	pthread_mutex_lock(&a->lock);
	a->stop = 1;
	pthread_cond_signal(&a->wake);
	pthread_mutex_unlock(&a->lock);
	pthread_join(a->thread, NULL);
	if (!a->r)
		cs_registry_open(a->url, a->prefix, 500, &a->r, err, sizeof err);
	if (a->r)
		cs_host_release(a->r, a->name, a->id);
	agent_free(a);
}
