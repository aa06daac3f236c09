/*
 * registry.c - the model registry in Redis (see registry.h and
 * docs/registry.md). Multi-key writes are Lua scripts run with EVAL: Redis
 * runs a script atomically, so its checks and its writes are one step.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "registry/registry.h"
#include "registry/tls.h"
#include "registry/url.h"

#define CTX(r) ((redisContext *)(r)->ctx)

static void set_err(cs_registry *r, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_err(cs_registry *r, int code, const char *fmt, ...)
{
	va_list ap;

	r->err = code;
	va_start(ap, fmt);
	vsnprintf(r->errstr, sizeof r->errstr, fmt, ap);
	va_end(ap);
}

static long long now_ms(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

int cs_registry_parse_url(const char *url, char *host, size_t hostlen,
			  int *port, char *path, size_t pathlen, char *err,
			  size_t errlen)
{
	cs_registry_addr a;
	int rc;

	host[0] = path[0] = '\0';
	*port = 0;
	rc = cs_registry_addr_parse(url, &a, err, errlen);
	if (rc != CS_OK)
		return rc;
	if (strlen(a.host) >= hostlen || strlen(a.path) >= pathlen) {
		char masked[600];

		snprintf(err, errlen, "registry '%s': the host or path is too long",
			 cs_registry_url_mask(url, masked, sizeof masked));
		rc = CS_EINVAL;
	} else {
		snprintf(host, hostlen, "%s", a.host);
		snprintf(path, pathlen, "%s", a.path);
		*port = a.port;
	}
	cs_registry_addr_wipe(&a);
	return rc;
}

/*
 * Logs in (AUTH [user] password) and selects the database, when the
 * address asks for it. Returns CS_OK or CS_EUNAVAILABLE with err.
 */
static int login(redisContext *c, const cs_registry_addr *a, const char *shown,
		 const char *how, char *err, size_t errlen)
{
	const char *argv[3];
	size_t lens[3];
	char db[16];
	redisReply *rep;
	int argc = 0;

	if (a->password[0]) {
		argv[argc++] = "AUTH";
		if (a->user[0])
			argv[argc++] = a->user;
		argv[argc++] = a->password;
		for (int i = 0; i < argc; i++)
			lens[i] = strlen(argv[i]);
		rep = redisCommandArgv(c, argc, argv, lens);
		if (!rep || rep->type == REDIS_REPLY_ERROR) {
			/* the server's answer names no secret (WRONGPASS ..., NOAUTH ...) */
			snprintf(err, errlen, "Redis at %s refused the login as %s (%s): %s", shown,
				 a->user[0] ? a->user : "the default user", how,
				 rep ? rep->str : c->errstr);
			if (rep)
				freeReplyObject(rep);
			return CS_EUNAVAILABLE;
		}
		freeReplyObject(rep);
	}
	if (a->db > 0) {
		snprintf(db, sizeof db, "%d", a->db);
		rep = redisCommand(c, "SELECT %s", db);
		if (!rep || rep->type == REDIS_REPLY_ERROR) {
			snprintf(err, errlen, "Redis at %s: SELECT %s failed (%s): %s", shown, db, how,
				 rep ? rep->str : c->errstr);
			if (rep)
				freeReplyObject(rep);
			return CS_EUNAVAILABLE;
		}
		freeReplyObject(rep);
	}
	return CS_OK;
}

int cs_registry_open(const char *url, const char *prefix, int timeout_ms,
		     cs_registry **out, char *err, size_t errlen)
{
	char how[400], shown[600];
	cs_registry_addr a;
	struct timeval tv;
	redisContext *c;
	redisReply *rep;
	cs_registry *r;
	int rc;

	*out = NULL;
	rc = cs_registry_addr_parse(url, &a, err, errlen);
	if (rc != CS_OK)
		return rc;
	/* every message, and r->url, shows the address without its password */
	cs_registry_url_mask(url, shown, sizeof shown);
	if (!prefix)
		prefix = CS_REGISTRY_PREFIX;
	if (strlen(prefix) >= sizeof r->prefix || strchr(prefix, ' ')) {
		snprintf(err, errlen, "registry key prefix '%s' is too long or has a space", prefix);
		rc = CS_EINVAL;
		goto out_wipe;
	}
	if (a.tls && !cs_registry_tls_available()) {
		snprintf(err, errlen, "registry '%s': rediss:// (TLS) needs hiredis with TLS (hiredis_ssl, "
			 "hiredis >= 1.0); this cubeserve was built without it. Use redis:// over a "
			 "private network or a TLS tunnel (docs/operations.md)", shown);
		rc = CS_EUNSUPPORTED;
		goto out_wipe;
	}
	if (timeout_ms <= 0)
		timeout_ms = 2000;
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	if (a.path[0]) {
		snprintf(how, sizeof how, "connect to the unix socket %s", a.path);
		c = redisConnectUnixWithTimeout(a.path, tv);
	} else {
		snprintf(how, sizeof how, "%s connect to %s port %d", a.tls ? "TLS" : "TCP", a.host, a.port);
		c = redisConnectWithTimeout(a.host, a.port, tv);
	}
	if (!c) {
		snprintf(err, errlen, "cannot reach Redis at %s (%s: out of memory)", shown, how);
		rc = CS_ENOMEM;
		goto out_wipe;
	}
	if (c->err) {
		snprintf(err, errlen, "cannot reach Redis at %s (%s, timeout %d ms: %s)",
			 shown, how, timeout_ms, c->errstr);
		rc = CS_EUNAVAILABLE;
		goto out_free;
	}
	redisSetTimeout(c, tv);
	if (a.tls && (rc = cs_registry_tls_start(c, a.host, shown, err, errlen)) != CS_OK)
		goto out_free;
	if ((rc = login(c, &a, shown, how, err, errlen)) != CS_OK)
		goto out_free;
	rep = redisCommand(c, "PING");
	if (!rep || rep->type == REDIS_REPLY_ERROR) {
		snprintf(err, errlen, "Redis at %s does not answer PING (%s): %s", shown,
			 how, rep ? rep->str : c->errstr);
		if (rep)
			freeReplyObject(rep);
		rc = CS_EUNAVAILABLE;
		goto out_free;
	}
	freeReplyObject(rep);
	r = calloc(1, sizeof *r);
	if (!r || !(r->url = strdup(shown))) {
		free(r);
		rc = CS_ENOMEM;
		goto out_free;
	}
	r->ctx = c;
	snprintf(r->prefix, sizeof r->prefix, "%s", prefix);
	*out = r;
	cs_registry_addr_wipe(&a);
	return CS_OK;
out_free:
	redisFree(c);
out_wipe:
	cs_registry_addr_wipe(&a);
	return rc;
}

void cs_registry_close(cs_registry *r)
{
	if (!r)
		return;
	if (r->ctx)
		redisFree(CTX(r));
	free(r->url);
	free(r);
}

void cs_registry_free_reply(void *reply)
{
	if (reply)
		freeReplyObject(reply);
}

void cs_registry_key(const cs_registry *r, char *buf, size_t len,
		     const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(buf, len, "%s", r->prefix);

	va_start(ap, fmt);
	if (n >= 0 && (size_t)n < len)
		vsnprintf(buf + n, len - (size_t)n, fmt, ap);
	va_end(ap);
}

/* Maps an error reply of our scripts ("CODE message") to a status. */
static int script_error(cs_registry *r, const char *msg)
{
	static const struct {
		const char *word;
		int code;
	} map[] = {
		{"EXISTS ", CS_REG_EXISTS},
		{"DEPLOYED ", CS_REG_DEPLOYED},
		{"NOTFOUND ", CS_ENOTFOUND},
		{"CSSCHEMA ", CS_REG_SCHEMA},
		{"INVALID ", CS_EINVAL},
		{"TAKEN ", CS_REG_TAKEN},
	};
	const char *m = msg;

	/* Redis may put "ERR " or the script's location in front */
	for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
		const char *hit = strstr(m, map[i].word);

		if (hit) {
			const char *text = hit + strlen(map[i].word);
			const char *tail = strstr(text, " script:");

			if (map[i].code == CS_REG_SCHEMA)
				set_err(r, CS_REG_SCHEMA,
					"the registry at %s has schema version %.*s; this cubeserve knows version %d",
					r->url, tail ? (int)(tail - text) : (int)strlen(text),
					text, CS_REGISTRY_SCHEMA);
			else
				set_err(r, map[i].code, "%.*s",
					tail ? (int)(tail - text) : (int)strlen(text), text);
			return r->err;
		}
	}
	set_err(r, CS_EBACKEND, "Redis at %s: %s", r->url, msg);
	return r->err;
}

void *cs_registry_argv(cs_registry *r, int argc, const char **argv)
{
	size_t lens[64];
	redisReply *rep;

	if (argc > 64 || argc < 1) {
		set_err(r, CS_EINVAL, "internal: %d command arguments", argc);
		return NULL;
	}
	for (int i = 0; i < argc; i++)
		lens[i] = strlen(argv[i]);
	rep = redisCommandArgv(CTX(r), argc, argv, lens);
	if (!rep) {
		set_err(r, CS_EUNAVAILABLE, "lost the connection to Redis at %s: %s",
			r->url, CTX(r)->errstr[0] ? CTX(r)->errstr : "no reply");
		return NULL;
	}
	if (rep->type == REDIS_REPLY_ERROR) {
		script_error(r, rep->str);
		freeReplyObject(rep);
		return NULL;
	}
	r->err = CS_OK;
	r->errstr[0] = '\0';
	return rep;
}

/* A command from fixed string arguments (NULL-terminated). */
static redisReply *cmd(cs_registry *r, ...)
{
	const char *argv[64];
	int argc = 0;
	va_list ap;

	va_start(ap, r);
	while (argc < 64 && (argv[argc] = va_arg(ap, const char *)) != NULL)
		argc++;
	va_end(ap);
	return cs_registry_argv(r, argc, argv);
}

/*
 * Runs a script with ARGV = prefix, schema, then the given strings.
 * args is a JSON array of strings (stolen).
 */
static redisReply *eval(cs_registry *r, const char *script, json_t *args)
{
	size_t n = json_array_size(args), i;
	const char **argv;
	size_t *lens;
	char schema[16];
	redisReply *rep = NULL;

	snprintf(schema, sizeof schema, "%d", CS_REGISTRY_SCHEMA);
	argv = calloc(n + 5, sizeof *argv);
	lens = calloc(n + 5, sizeof *lens);
	if (!argv || !lens) {
		set_err(r, CS_ENOMEM, "out of memory");
		goto out_free;
	}
	argv[0] = "EVAL";
	argv[1] = script;
	argv[2] = "0";
	argv[3] = r->prefix;
	argv[4] = schema;
	for (i = 0; i < n; i++)
		argv[5 + i] = json_string_value(json_array_get(args, i));
	for (i = 0; i < n + 5; i++)
		lens[i] = argv[i] ? strlen(argv[i]) : 0;
	rep = redisCommandArgv(CTX(r), (int)(n + 5), argv, lens);
	if (!rep) {
		set_err(r, CS_EUNAVAILABLE, "lost the connection to Redis at %s: %s",
			r->url, CTX(r)->errstr[0] ? CTX(r)->errstr : "no reply");
	} else if (rep->type == REDIS_REPLY_ERROR) {
		script_error(r, rep->str);
		freeReplyObject(rep);
		rep = NULL;
	} else {
		r->err = CS_OK;
		r->errstr[0] = '\0';
	}
out_free:
	free(argv);
	free(lens);
	json_decref(args);
	return rep;
}

/* Appends a string (copied) to a JSON array of arguments. */
static void arg(json_t *a, const char *s)
{
	json_array_append_new(a, json_string(s ? s : ""));
}

static void argll(json_t *a, long long v)
{
	char buf[32];

	snprintf(buf, sizeof buf, "%lld", v);
	arg(a, buf);
}

/* Every script starts by checking the schema key. */
#define LUA_HEAD                                                          \
	"local p = ARGV[1]\n"                                             \
	"local s = redis.call('GET', p .. 'schema')\n"                    \
	"if s ~= ARGV[2] then return redis.error_reply('CSSCHEMA ' .. (s or 'none (an empty registry)')) end\n"

int cs_registry_check_schema(cs_registry *r, int create)
{
	char key[128], want[16];
	redisReply *rep;
	int rc;

	cs_registry_key(r, key, sizeof key, "schema");
	snprintf(want, sizeof want, "%d", CS_REGISTRY_SCHEMA);
	if (create) {
		rep = cmd(r, "SET", key, want, "NX", NULL);
		if (!rep)
			return r->err;
		freeReplyObject(rep);
	}
	rep = cmd(r, "GET", key, NULL);
	if (!rep)
		return r->err;
	if (rep->type == REDIS_REPLY_NIL) {
		set_err(r, CS_ENOTFOUND, "the registry at %s is empty (no %s key): nothing was published there yet",
			r->url, key);
		rc = CS_ENOTFOUND;
	} else if (rep->type != REDIS_REPLY_STRING || strcmp(rep->str, want) != 0) {
		set_err(r, CS_REG_SCHEMA,
			"the registry at %s has schema version %s (key %s); this cubeserve knows version %s: refusing to touch it",
			r->url, rep->type == REDIS_REPLY_STRING ? rep->str : "(not a string)",
			key, want);
		rc = CS_REG_SCHEMA;
	} else {
		rc = CS_OK;
	}
	freeReplyObject(rep);
	return rc;
}

/* A HGETALL reply as a JSON object of strings. */
static json_t *pairs_to_json(const redisReply *rep)
{
	json_t *o = json_object();

	for (size_t i = 0; i + 1 < rep->elements; i += 2)
		json_object_set_new(o, rep->element[i]->str,
				    json_stringn(rep->element[i + 1]->str,
						 rep->element[i + 1]->len));
	return o;
}

int cs_registry_hash(cs_registry *r, const char *key, json_t **out)
{
	redisReply *rep = cmd(r, "HGETALL", key, NULL);

	*out = NULL;
	if (!rep)
		return r->err;
	if (rep->type != REDIS_REPLY_ARRAY || rep->elements == 0) {
		freeReplyObject(rep);
		set_err(r, CS_ENOTFOUND, "no key %s", key);
		return CS_ENOTFOUND;
	}
	*out = pairs_to_json(rep);
	freeReplyObject(rep);
	return CS_OK;
}

/* ---------------------------------------------------------------- catalog */

static const char publish_lua[] = LUA_HEAD
	"local name, ver, now = ARGV[3], ARGV[4], ARGV[5]\n"
	"local vkey = p .. 'version:' .. name .. ':' .. ver\n"
	"if redis.call('EXISTS', vkey) == 1 then\n"
	"  return redis.error_reply('EXISTS version ' .. ver .. ' of model ' .. name .. ' is already published')\n"
	"end\n"
	"local i = 6\n"
	"local nv = tonumber(ARGV[i]); i = i + 1\n"
	"for j = 1, nv do redis.call('HSET', vkey, ARGV[i], ARGV[i + 1]); i = i + 2 end\n"
	"local desc, owner, tagsjson = ARGV[i], ARGV[i + 1], ARGV[i + 2]; i = i + 3\n"
	"local nt = tonumber(ARGV[i]); i = i + 1\n"
	"local tags = {}\n"
	"for j = 1, nt do tags[j] = ARGV[i]; i = i + 1 end\n"
	"local nb = tonumber(ARGV[i]); i = i + 1\n"
	"for j = 1, nb do redis.call('SADD', p .. 'blob:' .. ARGV[i], name .. '@' .. ver); i = i + 1 end\n"
	"local mkey = p .. 'model:' .. name\n"
	"if redis.call('EXISTS', mkey) == 0 then\n"
	"  redis.call('HSET', mkey, 'created', now, 'default', ver, 'rating_sum', 0,\n"
	"    'rating_count', 0, 'favorites', 0, 'views', 0, 'calls', 0)\n"
	"  redis.call('SADD', p .. 'models', name)\n"
	"end\n"
	"local old = redis.call('HGET', mkey, 'tags')\n"
	"if old then\n"
	"  for _, t in ipairs(cjson.decode(old)) do\n"
	"    redis.call('SREM', p .. 'tag:' .. t, name)\n"
	"    if redis.call('SCARD', p .. 'tag:' .. t) == 0 then redis.call('SREM', p .. 'tags', t) end\n"
	"  end\n"
	"end\n"
	"for _, t in ipairs(tags) do\n"
	"  redis.call('SADD', p .. 'tag:' .. t, name)\n"
	"  redis.call('SADD', p .. 'tags', t)\n"
	"end\n"
	"redis.call('HSET', mkey, 'description', desc, 'owner', owner, 'tags', tagsjson,\n"
	"  'updated', now, 'latest', ver)\n"
	"redis.call('ZADD', p .. 'versions:' .. name, now, ver)\n"
	"return 1\n";

int cs_registry_publish(cs_registry *r, const char *name,
			const char *version, json_t *vfields,
			const char *description, const char *owner,
			json_t *tags, const char *const *blobs,
			size_t n_blobs)
{
	json_t *a = json_array(), *v;
	const char *k;
	char *tagsjson;
	redisReply *rep;
	size_t i;

	arg(a, name);
	arg(a, version);
	argll(a, now_ms());
	argll(a, (long long)json_object_size(vfields));
	json_object_foreach(vfields, k, v) {
		arg(a, k);
		arg(a, json_string_value(v));
	}
	arg(a, description);
	arg(a, owner);
	tagsjson = json_dumps(tags, JSON_COMPACT);
	arg(a, tagsjson ? tagsjson : "[]");
	free(tagsjson);
	argll(a, (long long)json_array_size(tags));
	json_array_foreach(tags, i, v)
		arg(a, json_string_value(v));
	argll(a, (long long)n_blobs);
	for (i = 0; i < n_blobs; i++)
		arg(a, blobs[i]);
	rep = eval(r, publish_lua, a);
	if (!rep)
		return r->err;
	freeReplyObject(rep);
	return CS_OK;
}

static const char remove_lua[] = LUA_HEAD
	"local name, ver, force = ARGV[3], ARGV[4], ARGV[5]\n"
	"local mkey = p .. 'model:' .. name\n"
	"local zkey = p .. 'versions:' .. name\n"
	"if redis.call('EXISTS', mkey) == 0 then return redis.error_reply('NOTFOUND no model named ' .. name) end\n"
	"local vers\n"
	"if ver == '' then vers = redis.call('ZRANGE', zkey, 0, -1)\n"
	"else\n"
	"  if redis.call('EXISTS', p .. 'version:' .. name .. ':' .. ver) == 0 then\n"
	"    return redis.error_reply('NOTFOUND model ' .. name .. ' has no version ' .. ver)\n"
	"  end\n"
	"  vers = {ver}\n"
	"end\n"
	"local dv = redis.call('HGET', p .. 'deployment:' .. name, 'version')\n"
	"if dv and force ~= '1' and (ver == '' or dv == ver) then\n"
	"  return redis.error_reply('DEPLOYED model ' .. name .. ' is deployed (version ' .. dv .. ')')\n"
	"end\n"
	"local orphans, webs = {}, {}\n"
	"for _, v in ipairs(vers) do\n"
	"  local vkey = p .. 'version:' .. name .. ':' .. v\n"
	"  local web = redis.call('HGET', vkey, 'web_sha256')\n"
	"  if web and web ~= '' then webs[web] = true end\n"
	"  local blobs = redis.call('HGET', vkey, 'blobs')\n"
	"  if blobs then\n"
	"    for _, b in ipairs(cjson.decode(blobs)) do\n"
	"      local bk = p .. 'blob:' .. b\n"
	"      redis.call('SREM', bk, name .. '@' .. v)\n"
	"      if redis.call('SCARD', bk) == 0 then table.insert(orphans, b) end\n"
	"    end\n"
	"  end\n"
	"  redis.call('DEL', vkey)\n"
	"  redis.call('ZREM', zkey, v)\n"
	"end\n"
	"if redis.call('ZCARD', zkey) == 0 then\n"
	"  local tags = redis.call('HGET', mkey, 'tags')\n"
	"  if tags then\n"
	"    for _, t in ipairs(cjson.decode(tags)) do\n"
	"      redis.call('SREM', p .. 'tag:' .. t, name)\n"
	"      if redis.call('SCARD', p .. 'tag:' .. t) == 0 then redis.call('SREM', p .. 'tags', t) end\n"
	"    end\n"
	"  end\n"
	"  redis.call('DEL', mkey, p .. 'ratings:' .. name, p .. 'favorites:' .. name, zkey, p .. 'hint:' .. name,\n"
	"    p .. 'comments:' .. name, p .. 'comment_seq:' .. name)\n"
	"  redis.call('SREM', p .. 'models', name)\n"
	"else\n"
	"  local def = redis.call('HGET', mkey, 'default')\n"
	"  if not def or not redis.call('ZSCORE', zkey, def) then\n"
	"    redis.call('HSET', mkey, 'default', redis.call('ZRANGE', zkey, -1, -1)[1])\n"
	"  end\n"
	"  redis.call('HSET', mkey, 'latest', redis.call('ZRANGE', zkey, -1, -1)[1])\n"
	"end\n"
	/* a web tree no remaining version of any model shows goes too */
	"local dead = {}\n"
	"if next(webs) then\n"
	"  for _, m in ipairs(redis.call('SMEMBERS', p .. 'models')) do\n"
	"    for _, v in ipairs(redis.call('ZRANGE', p .. 'versions:' .. m, 0, -1)) do\n"
	"      local w = redis.call('HGET', p .. 'version:' .. m .. ':' .. v, 'web_sha256')\n"
	"      if w then webs[w] = nil end\n"
	"    end\n"
	"  end\n"
	"  for w in pairs(webs) do table.insert(dead, w) end\n"
	"end\n"
	"return {orphans, dead}\n";

static json_t *string_array(const redisReply *rep)
{
	json_t *a = json_array();

	if (rep && rep->type == REDIS_REPLY_ARRAY)
		for (size_t i = 0; i < rep->elements; i++)
			if (rep->element[i]->type == REDIS_REPLY_STRING)
				json_array_append_new(a, json_string(rep->element[i]->str));
	return a;
}

int cs_registry_remove(cs_registry *r, const char *name, const char *version,
		       int force, json_t **orphans, json_t **webs)
{
	json_t *a = json_array(), *o, *w;
	redisReply *rep;
	int two;

	if (orphans)
		*orphans = NULL;
	if (webs)
		*webs = NULL;
	arg(a, name);
	arg(a, version ? version : "");
	arg(a, force ? "1" : "0");
	rep = eval(r, remove_lua, a);
	if (!rep)
		return r->err;
	two = rep->type == REDIS_REPLY_ARRAY && rep->elements == 2;
	o = string_array(two ? rep->element[0] : NULL);
	w = string_array(two ? rep->element[1] : NULL);
	freeReplyObject(rep);
	if (orphans)
		*orphans = o;
	else
		json_decref(o);
	if (webs)
		*webs = w;
	else
		json_decref(w);
	return CS_OK;
}

static const char set_default_lua[] = LUA_HEAD
	"local name, ver = ARGV[3], ARGV[4]\n"
	"if redis.call('EXISTS', p .. 'model:' .. name) == 0 then return redis.error_reply('NOTFOUND no model named ' .. name) end\n"
	"if redis.call('EXISTS', p .. 'version:' .. name .. ':' .. ver) == 0 then\n"
	"  return redis.error_reply('NOTFOUND model ' .. name .. ' has no version ' .. ver)\n"
	"end\n"
	"redis.call('HSET', p .. 'model:' .. name, 'default', ver)\n"
	"return 1\n";

int cs_registry_set_default(cs_registry *r, const char *name,
			    const char *version)
{
	json_t *a = json_array();
	redisReply *rep;

	arg(a, name);
	arg(a, version);
	rep = eval(r, set_default_lua, a);
	if (!rep)
		return r->err;
	freeReplyObject(rep);
	return CS_OK;
}

static const char rate_lua[] = LUA_HEAD
	"local name, user, stars = ARGV[3], ARGV[4], tonumber(ARGV[5])\n"
	"local mkey = p .. 'model:' .. name\n"
	"if redis.call('EXISTS', mkey) == 0 then return redis.error_reply('NOTFOUND no model named ' .. name) end\n"
	"local old = redis.call('HGET', p .. 'ratings:' .. name, user)\n"
	"redis.call('HSET', p .. 'ratings:' .. name, user, stars)\n"
	"local sum = redis.call('HINCRBY', mkey, 'rating_sum', stars - (tonumber(old) or 0))\n"
	"local count\n"
	"if old then count = tonumber(redis.call('HGET', mkey, 'rating_count'))\n"
	"else count = redis.call('HINCRBY', mkey, 'rating_count', 1) end\n"
	"return {sum, count}\n";

int cs_registry_rate(cs_registry *r, const char *name, const char *user,
		     int stars, long long *sum, long long *count)
{
	json_t *a = json_array();
	redisReply *rep;

	if (stars < 1 || stars > 5) {
		set_err(r, CS_EINVAL, "a rating is 1 to 5 stars, got %d", stars);
		json_decref(a);
		return CS_EINVAL;
	}
	arg(a, name);
	arg(a, user);
	argll(a, stars);
	rep = eval(r, rate_lua, a);
	if (!rep)
		return r->err;
	if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 2) {
		*sum = rep->element[0]->integer;
		*count = rep->element[1]->integer;
	}
	freeReplyObject(rep);
	return CS_OK;
}

static const char favorite_lua[] = LUA_HEAD
	"local name, user, on = ARGV[3], ARGV[4], ARGV[5]\n"
	"local mkey = p .. 'model:' .. name\n"
	"if redis.call('EXISTS', mkey) == 0 then return redis.error_reply('NOTFOUND no model named ' .. name) end\n"
	"if on == '1' then redis.call('SADD', p .. 'favorites:' .. name, user)\n"
	"else redis.call('SREM', p .. 'favorites:' .. name, user) end\n"
	"local n = redis.call('SCARD', p .. 'favorites:' .. name)\n"
	"redis.call('HSET', mkey, 'favorites', n)\n"
	"return n\n";

int cs_registry_favorite(cs_registry *r, const char *name, const char *user,
			 int on, long long *count)
{
	json_t *a = json_array();
	redisReply *rep;

	arg(a, name);
	arg(a, user);
	arg(a, on ? "1" : "0");
	rep = eval(r, favorite_lua, a);
	if (!rep)
		return r->err;
	*count = rep->integer;
	freeReplyObject(rep);
	return CS_OK;
}

int cs_registry_model(cs_registry *r, const char *name, const char *version,
		      int views_inc, json_t **out)
{
	char key[512];
	json_t *m = NULL, *vers, *rec, *dep;
	redisReply *rep;
	const char *ver;
	int rc;

	*out = NULL;
	cs_registry_key(r, key, sizeof key, "model:%s", name);
	if (views_inc) {
		/* only an existing model is counted (HINCRBY would create it) */
		rep = cmd(r, "EXISTS", key, NULL);
		if (!rep)
			return r->err;
		if (rep->integer == 1) {
			freeReplyObject(rep);
			rep = cmd(r, "HINCRBY", key, "views", "1", NULL);
		}
		cs_registry_free_reply(rep);
	}
	rc = cs_registry_hash(r, key, &m);
	if (rc == CS_ENOTFOUND)
		set_err(r, CS_ENOTFOUND, "no model named '%s' in the registry", name);
	if (rc != CS_OK)
		return rc;
	json_object_set_new(m, "name", json_string(name));
	cs_registry_key(r, key, sizeof key, "versions:%s", name);
	rep = cmd(r, "ZRANGE", key, "0", "-1", "WITHSCORES", NULL);
	if (!rep)
		goto out_fail;
	vers = json_array();
	for (size_t i = 0; i + 1 < rep->elements; i += 2)
		json_array_append_new(vers, json_pack("{s:s,s:I}", "version",
			rep->element[i]->str, "published",
			(json_int_t)strtoll(rep->element[i + 1]->str, NULL, 10)));
	freeReplyObject(rep);
	json_object_set_new(m, "versions", vers);
	cs_registry_key(r, key, sizeof key, "deployment:%s", name);
	rc = cs_registry_hash(r, key, &dep);
	if (rc == CS_OK)
		json_object_set_new(m, "deployment", dep);
	else if (rc != CS_ENOTFOUND)
		goto out_fail;

	ver = version ? version : json_string_value(json_object_get(m, "default"));
	if (ver) {
		cs_registry_key(r, key, sizeof key, "version:%s:%s", name, ver);
		rc = cs_registry_hash(r, key, &rec);
		if (rc == CS_ENOTFOUND) {
			set_err(r, CS_ENOTFOUND, "model '%s' has no version '%s'", name, ver);
			json_decref(m);
			return CS_ENOTFOUND;
		}
		if (rc != CS_OK)
			goto out_fail;
		json_object_set_new(rec, "version", json_string(ver));
		json_object_set_new(m, "record", rec);
	}
	*out = m;
	return CS_OK;
out_fail:
	json_decref(m);
	return r->err;
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(json_string_value(json_object_get(*(json_t *const *)a, "name")),
		      json_string_value(json_object_get(*(json_t *const *)b, "name")));
}

/* Sorts an array of objects by their "name". */
static void sort_by_name(json_t *arr)
{
	size_t n = json_array_size(arr);
	json_t **v = calloc(n ? n : 1, sizeof *v);

	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		v[i] = json_incref(json_array_get(arr, i));
	qsort(v, n, sizeof *v, cmp_name);
	json_array_clear(arr);
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, v[i]);
	free(v);
}

/* Hashes "<what>:<name>" for every member of set "<setname>". */
static int hashes_of_set(cs_registry *r, const char *setname,
			 const char *what, json_t **out)
{
	char key[512];
	json_t *arr, *h;
	redisReply *rep;
	int rc;

	*out = NULL;
	cs_registry_key(r, key, sizeof key, "%s", setname);
	rep = cmd(r, "SMEMBERS", key, NULL);
	if (!rep)
		return r->err;
	arr = json_array();
	for (size_t i = 0; i < rep->elements; i++) {
		const char *name = rep->element[i]->str;

		cs_registry_key(r, key, sizeof key, "%s:%s", what, name);
		rc = cs_registry_hash(r, key, &h);
		if (rc == CS_ENOTFOUND)
			continue; /* removed meanwhile */
		if (rc != CS_OK) {
			freeReplyObject(rep);
			json_decref(arr);
			return rc;
		}
		json_object_set_new(h, "name", json_string(name));
		json_array_append_new(arr, h);
	}
	freeReplyObject(rep);
	sort_by_name(arr);
	*out = arr;
	return CS_OK;
}

int cs_registry_models(cs_registry *r, json_t **out)
{
	return hashes_of_set(r, "models", "model", out);
}

int cs_registry_tagged(cs_registry *r, const char *const *tags, size_t n,
		       json_t **out)
{
	const char *argv[33];
	char keys[32][256];
	redisReply *rep;
	json_t *arr;

	*out = NULL;
	if (n == 0 || n > 32) {
		set_err(r, CS_EINVAL, "give 1 to 32 tags");
		return CS_EINVAL;
	}
	argv[0] = "SINTER";
	for (size_t i = 0; i < n; i++) {
		cs_registry_key(r, keys[i], sizeof keys[i], "tag:%s", tags[i]);
		argv[i + 1] = keys[i];
	}
	rep = cs_registry_argv(r, (int)n + 1, argv);
	if (!rep)
		return r->err;
	arr = json_array();
	for (size_t i = 0; i < rep->elements; i++)
		json_array_append_new(arr, json_string(rep->element[i]->str));
	freeReplyObject(rep);
	*out = arr;
	return CS_OK;
}

char *cs_registry_config_get(cs_registry *r, const char *field)
{
	char key[128], *v = NULL;
	redisReply *rep;

	cs_registry_key(r, key, sizeof key, "config");
	rep = cmd(r, "HGET", key, field, NULL);
	if (rep && rep->type == REDIS_REPLY_STRING)
		v = strdup(rep->str);
	cs_registry_free_reply(rep);
	return v;
}

int cs_registry_config_setnx(cs_registry *r, const char *field,
			     const char *value)
{
	char key[128];
	redisReply *rep;

	cs_registry_key(r, key, sizeof key, "config");
	rep = cmd(r, "HSETNX", key, field, value, NULL);
	if (!rep)
		return r->err;
	freeReplyObject(rep);
	return CS_OK;
}

/* ------------------------------------------------------------ deployments */

static const char deploy_lua[] = LUA_HEAD
	"local name, ver = ARGV[3], ARGV[4]\n"
	"if redis.call('EXISTS', p .. 'version:' .. name .. ':' .. ver) == 0 then\n"
	"  return redis.error_reply('NOTFOUND model ' .. name .. ' has no version ' .. ver .. ' in the registry')\n"
	"end\n"
	"local dkey = p .. 'deployment:' .. name\n"
	"redis.call('DEL', dkey)\n"
	"for i = 5, #ARGV, 2 do redis.call('HSET', dkey, ARGV[i], ARGV[i + 1]) end\n"
	"redis.call('SADD', p .. 'deployments', name)\n"
	"return 1\n";

int cs_registry_deployment_put(cs_registry *r, const char *name,
			       json_t *fields)
{
	json_t *a = json_array(), *v;
	const char *k, *ver;
	redisReply *rep;

	ver = json_string_value(json_object_get(fields, "version"));
	arg(a, name);
	arg(a, ver);
	json_object_foreach(fields, k, v) {
		arg(a, k);
		arg(a, json_string_value(v));
	}
	rep = eval(r, deploy_lua, a);
	if (!rep)
		return r->err;
	freeReplyObject(rep);
	return CS_OK;
}

int cs_registry_deployment(cs_registry *r, const char *name, json_t **out)
{
	char key[512];
	int rc;

	cs_registry_key(r, key, sizeof key, "deployment:%s", name);
	rc = cs_registry_hash(r, key, out);
	if (rc == CS_ENOTFOUND)
		set_err(r, CS_ENOTFOUND, "model '%s' is not deployed", name);
	else if (rc == CS_OK)
		json_object_set_new(*out, "name", json_string(name));
	return rc;
}

int cs_registry_deployments(cs_registry *r, json_t **out)
{
	return hashes_of_set(r, "deployments", "deployment", out);
}

int cs_registry_deployment_delete(cs_registry *r, const char *name)
{
	char dkey[512], ikey[512], set[128];
	redisReply *rep;

	cs_registry_key(r, dkey, sizeof dkey, "deployment:%s", name);
	cs_registry_key(r, ikey, sizeof ikey, "instances:%s", name);
	cs_registry_key(r, set, sizeof set, "deployments");
	rep = cmd(r, "DEL", dkey, ikey, NULL);
	if (!rep)
		return r->err;
	freeReplyObject(rep);
	rep = cmd(r, "SREM", set, name, NULL);
	if (!rep)
		return r->err;
	freeReplyObject(rep);
	return CS_OK;
}

int cs_registry_instances(cs_registry *r, const char *name, json_t **out)
{
	char key[512], ikey[512];
	redisReply *rep, *gone;
	json_t *arr, *h;
	int rc;

	*out = NULL;
	cs_registry_key(r, key, sizeof key, "instances:%s", name);
	rep = cmd(r, "SMEMBERS", key, NULL);
	if (!rep)
		return r->err;
	arr = json_array();
	for (size_t i = 0; i < rep->elements; i++) {
		const char *id = rep->element[i]->str;

		cs_registry_key(r, ikey, sizeof ikey, "instance:%s:%s", name, id);
		rc = cs_registry_hash(r, ikey, &h);
		if (rc == CS_ENOTFOUND) {
			/* its heartbeat expired: drop the id */
			gone = cmd(r, "SREM", key, id, NULL);
			cs_registry_free_reply(gone);
			continue;
		}
		if (rc != CS_OK) {
			freeReplyObject(rep);
			json_decref(arr);
			return rc;
		}
		json_object_set_new(h, "id", json_string(id));
		json_array_append_new(arr, h);
	}
	freeReplyObject(rep);
	*out = arr;
	return CS_OK;
}

int cs_registry_hint(cs_registry *r, const char *name, int desired,
		     const char *reason)
{
	char key[512], d[16], t[32];
	redisReply *rep;

	cs_registry_key(r, key, sizeof key, "hint:%s", name);
	snprintf(d, sizeof d, "%d", desired);
	snprintf(t, sizeof t, "%lld", now_ms());
	rep = cmd(r, "HSET", key, "desired", d, "reason", reason, "time", t, NULL);
	if (!rep)
		return r->err;
	freeReplyObject(rep);
	return CS_OK;
}

/* ------------------------------------------------------------ heartbeats */

static const char heartbeat_lua[] = LUA_HEAD
	"local name, id, ttl, calls = ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6])\n"
	"local ikey = p .. 'instance:' .. name .. ':' .. id\n"
	"redis.call('DEL', ikey)\n"
	"for i = 7, #ARGV, 2 do redis.call('HSET', ikey, ARGV[i], ARGV[i + 1]) end\n"
	"redis.call('EXPIRE', ikey, ttl)\n"
	"redis.call('SADD', p .. 'instances:' .. name, id)\n"
	"local mkey = p .. 'model:' .. name\n"
	"if calls > 0 and redis.call('EXISTS', mkey) == 1 then redis.call('HINCRBY', mkey, 'calls', calls) end\n"
	"return 1\n";

int cs_registry_heartbeat(cs_registry *r, const char *name, const char *id,
			  json_t *fields, long long calls)
{
	json_t *a = json_array(), *v;
	const char *k;
	redisReply *rep;

	arg(a, name);
	arg(a, id);
	argll(a, CS_INSTANCE_TTL_SECONDS);
	argll(a, calls);
	json_object_foreach(fields, k, v) {
		arg(a, k);
		arg(a, json_string_value(v));
	}
	rep = eval(r, heartbeat_lua, a);
	if (!rep)
		return r->err;
	freeReplyObject(rep);
	return CS_OK;
}

int cs_registry_instance_delete(cs_registry *r, const char *name,
				const char *id)
{
	char key[512], set[512];
	redisReply *rep;

	cs_registry_key(r, key, sizeof key, "instance:%s:%s", name, id);
	cs_registry_key(r, set, sizeof set, "instances:%s", name);
	rep = cmd(r, "DEL", key, NULL);
	if (!rep)
		return r->err;
	freeReplyObject(rep);
	rep = cmd(r, "SREM", set, id, NULL);
	if (!rep)
		return r->err;
	freeReplyObject(rep);
	return CS_OK;
}
