/*
 * auth.c - accounts, keys, access, audit and meters in Redis (see auth.h
 * and docs/security.md). Writes that belong together are Lua scripts run
 * with EVAL, like the rest of the registry.
 */
#include <ctype.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <hiredis/hiredis.h>
#include <sodium.h>

#include "registry/auth.h"

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

static int sodium_ready(cs_registry *r)
{
	if (sodium_init() < 0) {
		set_err(r, CS_EBACKEND, "libsodium could not be initialised");
		return CS_EBACKEND;
	}
	return CS_OK;
}

/* A command from string arguments (NULL-terminated). */
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

/* EVAL script with ARGV = prefix, then the given strings (NULL-terminated). */
static redisReply *eval(cs_registry *r, const char *script, ...)
{
	const char *argv[64];
	int argc = 4;
	va_list ap;

	argv[0] = "EVAL";
	argv[1] = script;
	argv[2] = "0";
	argv[3] = r->prefix;
	va_start(ap, script);
	while (argc < 64 && (argv[argc] = va_arg(ap, const char *)) != NULL)
		argc++;
	va_end(ap);
	return cs_registry_argv(r, argc, argv);
}

static const char *ll(char *buf, long long v)
{
	snprintf(buf, 32, "%lld", v);
	return buf;
}

const char *cs_role_name(cs_role role)
{
	switch (role) {
	case CS_ROLE_CONSUMER: return "consumer";
	case CS_ROLE_OPERATOR: return "operator";
	case CS_ROLE_OWNER: return "owner";
	case CS_ROLE_ADMIN: return "admin";
	default: return "none";
	}
}

int cs_role_parse(const char *s, cs_role *out)
{
	static const cs_role all[] = {CS_ROLE_CONSUMER, CS_ROLE_OPERATOR,
				      CS_ROLE_OWNER, CS_ROLE_ADMIN};

	for (size_t i = 0; s && i < sizeof all / sizeof all[0]; i++)
		if (strcmp(s, cs_role_name(all[i])) == 0) {
			*out = all[i];
			return CS_OK;
		}
	return CS_EINVAL;
}

int cs_auth_user_name_ok(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (n < 1 || n > 64)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];

		if (!(islower(c) || isdigit(c) || c == '_' || c == '.' || c == '-'))
			return 0;
	}
	return 1;
}

static int model_name_ok(const char *s, size_t n)
{
	if (n < 1 || n > 64)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!(islower(c) || isdigit(c) || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

static int check_name(cs_registry *r, const char *name)
{
	if (cs_auth_user_name_ok(name))
		return CS_OK;
	set_err(r, CS_EINVAL, "user name '%.64s%s' is not 1..64 characters of a-z 0-9 _ . -",
		name ? name : "", name && strlen(name) > 64 ? "..." : "");
	return CS_EINVAL;
}

static int check_password(cs_registry *r, const char *pw, size_t len)
{
	if (!pw || len == 0) {
		set_err(r, CS_EINVAL, "the password is empty");
		return CS_EINVAL;
	}
	if (len > CS_AUTH_PASSWORD_MAX) {
		set_err(r, CS_EINVAL, "the password is longer than %d bytes", CS_AUTH_PASSWORD_MAX);
		return CS_EINVAL;
	}
	return CS_OK;
}

/* ------------------------------------------------------------ mode */

int cs_auth_mode(cs_registry *r, int *on)
{
	char k[128];
	redisReply *rep;

	*on = 0;
	cs_registry_key(r, k, sizeof k, "config");
	if (!(rep = cmd(r, "HGET", k, "auth", NULL)))
		return r->err;
	*on = rep->type == REDIS_REPLY_STRING && strcmp(rep->str, "on") == 0;
	freeReplyObject(rep);
	return CS_OK;
}

int cs_auth_set_mode(cs_registry *r, int on)
{
	char k[128];
	redisReply *rep;

	cs_registry_key(r, k, sizeof k, "config");
	if (!(rep = cmd(r, "HSET", k, "auth", on ? "on" : "off", NULL)))
		return r->err;
	freeReplyObject(rep);
	return CS_OK;
}

/* ------------------------------------------------------------ users */

static int hash_password(cs_registry *r, const char *pw, size_t len,
			 char out[crypto_pwhash_STRBYTES])
{
	if (sodium_ready(r) != CS_OK)
		return r->err;
	if (crypto_pwhash_str(out, pw, len, crypto_pwhash_OPSLIMIT_INTERACTIVE,
			      crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0) {
		set_err(r, CS_ENOMEM, "password hashing ran out of memory");
		return CS_ENOMEM;
	}
	return CS_OK;
}

static const char user_add_lua[] =
	"local p, name = ARGV[1], ARGV[2]\n"
	"local k = p .. 'user:' .. name\n"
	"if redis.call('EXISTS', k) == 1 then return redis.error_reply('EXISTS user ' .. name .. ' exists already') end\n"
	"redis.call('HSET', k, 'role', ARGV[3], 'pwhash', ARGV[4], 'created', ARGV[5], 'failures', 0, 'locked_until', 0)\n"
	"redis.call('SADD', p .. 'users', name)\n"
	"return 1\n";

int cs_auth_user_add(cs_registry *r, const char *name, cs_role role,
		     const char *password, size_t pwlen)
{
	char h[crypto_pwhash_STRBYTES], t[32];
	redisReply *rep;
	int rc;

	if (check_name(r, name) || check_password(r, password, pwlen))
		return r->err;
	if (role == CS_ROLE_NONE) {
		set_err(r, CS_EINVAL, "user '%s' needs a role: admin, owner, operator or consumer", name);
		return CS_EINVAL;
	}
	if ((rc = hash_password(r, password, pwlen, h)) != CS_OK)
		return rc;
	rep = eval(r, user_add_lua, name, cs_role_name(role), h, ll(t, now_ms()), NULL);
	sodium_memzero(h, sizeof h);
	if (!rep)
		return r->err;
	freeReplyObject(rep);
	return CS_OK;
}

/* Revokes every key of the user, then deletes the user. */
static const char user_remove_lua[] =
	"local p, name = ARGV[1], ARGV[2]\n"
	"local k = p .. 'user:' .. name\n"
	"if redis.call('EXISTS', k) == 0 then return redis.error_reply('NOTFOUND no user named ' .. name) end\n"
	"for _, id in ipairs(redis.call('SMEMBERS', p .. 'user_keys:' .. name)) do\n"
	"  local kk = p .. 'key:' .. id\n"
	"  if redis.call('EXISTS', kk) == 1 then\n"
	"    redis.call('HSET', kk, 'revoked', ARGV[3])\n"
	"    local h = redis.call('HGET', kk, 'hash')\n"
	"    if h then redis.call('DEL', p .. 'keyhash:' .. h) end\n"
	"  end\n"
	"end\n"
	"redis.call('DEL', k)\n"
	"redis.call('SREM', p .. 'users', name)\n"
	"return 1\n";

int cs_auth_user_remove(cs_registry *r, const char *name)
{
	redisReply *rep;
	char t[32];

	if (check_name(r, name))
		return r->err;
	if (!(rep = eval(r, user_remove_lua, name, ll(t, now_ms()), NULL)))
		return r->err;
	freeReplyObject(rep);
	return CS_OK;
}

static const char user_set_lua[] =
	"local p, name = ARGV[1], ARGV[2]\n"
	"local k = p .. 'user:' .. name\n"
	"if redis.call('EXISTS', k) == 0 then return redis.error_reply('NOTFOUND no user named ' .. name) end\n"
	"if ARGV[3] == 'pwhash' then redis.call('HSET', k, 'failures', 0, 'locked_until', 0) end\n"
	"redis.call('HSET', k, ARGV[3], ARGV[4])\n"
	"return 1\n";

int cs_auth_user_passwd(cs_registry *r, const char *name,
			const char *password, size_t pwlen)
{
	char h[crypto_pwhash_STRBYTES];
	redisReply *rep;
	int rc;

	if (check_name(r, name) || check_password(r, password, pwlen))
		return r->err;
	if ((rc = hash_password(r, password, pwlen, h)) != CS_OK)
		return rc;
	rep = eval(r, user_set_lua, name, "pwhash", h, NULL);
	sodium_memzero(h, sizeof h);
	if (!rep)
		return r->err;
	freeReplyObject(rep);
	return CS_OK;
}

int cs_auth_user_role(cs_registry *r, const char *name, cs_role role)
{
	redisReply *rep;

	if (check_name(r, name))
		return r->err;
	if (role == CS_ROLE_NONE) {
		set_err(r, CS_EINVAL, "role must be admin, owner, operator or consumer");
		return CS_EINVAL;
	}
	if (!(rep = eval(r, user_set_lua, name, "role", cs_role_name(role), NULL)))
		return r->err;
	freeReplyObject(rep);
	return CS_OK;
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The members of a set, sorted, as a new array of strings. */
static int members(cs_registry *r, const char *k, json_t **out)
{
	redisReply *rep = cmd(r, "SMEMBERS", k, NULL);
	const char **v;

	*out = NULL;
	if (!rep)
		return r->err;
	v = calloc(rep->elements + 1, sizeof *v);
	if (!v) {
		freeReplyObject(rep);
		set_err(r, CS_ENOMEM, "out of memory");
		return CS_ENOMEM;
	}
	for (size_t i = 0; i < rep->elements; i++)
		v[i] = rep->element[i]->str;
	qsort(v, rep->elements, sizeof *v, str_cmp);
	*out = json_array();
	for (size_t i = 0; i < rep->elements; i++)
		json_array_append_new(*out, json_string(v[i]));
	free(v);
	freeReplyObject(rep);
	return CS_OK;
}

static long long num(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s ? strtoll(s, NULL, 10) : 0;
}

static const char *str(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s ? s : "";
}

int cs_auth_users(cs_registry *r, json_t **out)
{
	char k[256];
	json_t *names, *n, *u;
	size_t i;
	int rc;

	*out = NULL;
	cs_registry_key(r, k, sizeof k, "users");
	if ((rc = members(r, k, &names)) != CS_OK)
		return rc;
	*out = json_array();
	json_array_foreach(names, i, n) {
		redisReply *rep;
		long long nk = 0;

		cs_registry_key(r, k, sizeof k, "user:%s", json_string_value(n));
		if (cs_registry_hash(r, k, &u) != CS_OK)
			continue;
		cs_registry_key(r, k, sizeof k, "user_keys:%s", json_string_value(n));
		if ((rep = cmd(r, "SCARD", k, NULL))) {
			nk = rep->integer;
			freeReplyObject(rep);
		}
		json_array_append_new(*out, json_pack("{s:s,s:s,s:I,s:I,s:I,s:I}",
			"name", json_string_value(n), "role", str(u, "role"),
			"created", (json_int_t)num(u, "created"), "keys", (json_int_t)nk,
			"failures", (json_int_t)num(u, "failures"),
			"locked_until", (json_int_t)num(u, "locked_until")));
		json_decref(u);
	}
	json_decref(names);
	return CS_OK;
}

int cs_auth_user_count(cs_registry *r, long long *n)
{
	char k[128];
	redisReply *rep;

	*n = 0;
	cs_registry_key(r, k, sizeof k, "users");
	if (!(rep = cmd(r, "SCARD", k, NULL)))
		return r->err;
	*n = rep->integer;
	freeReplyObject(rep);
	return CS_OK;
}

/*
 * Counts a wrong password and sets the lock: from FREE failures on the
 * account is locked for FIRST * 2^(failures - FREE) seconds, at most MAX.
 */
static const char fail_lua[] =
	"local p, name, now = ARGV[1], ARGV[2], tonumber(ARGV[3])\n"
	"local k = p .. 'user:' .. name\n"
	"if redis.call('EXISTS', k) == 0 then return 0 end\n"
	"local f = redis.call('HINCRBY', k, 'failures', 1)\n"
	"local free, max, first = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])\n"
	"if f >= free then\n"
	"  local s = math.min(max, first * 2 ^ math.min(30, f - free))\n"
	"  redis.call('HSET', k, 'locked_until', now + s * 1000)\n"
	"end\n"
	"return f\n";

/* A hash to verify against for an unknown user: the same work either way. */
static pthread_once_t dummy_once = PTHREAD_ONCE_INIT;
static char dummy_hash[crypto_pwhash_STRBYTES];

static void make_dummy(void)
{
	unsigned char pw[16];

	randombytes_buf(pw, sizeof pw);
	if (crypto_pwhash_str(dummy_hash, (const char *)pw, sizeof pw,
			      crypto_pwhash_OPSLIMIT_INTERACTIVE,
			      crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
		dummy_hash[0] = '\0';
}

int cs_auth_password_check(cs_registry *r, const char *name,
			   const char *password, size_t pwlen,
			   cs_principal *who)
{
	char k[256], t[32], fr[16], mx[16], first[16];
	json_t *u = NULL;
	redisReply *rep;
	long long until, now = now_ms();
	cs_role role;
	int ok;

	if (who)
		memset(who, 0, sizeof *who);
	if (sodium_ready(r) != CS_OK)
		return r->err;
	if (!cs_auth_user_name_ok(name) || !password || pwlen == 0 ||
	    pwlen > CS_AUTH_PASSWORD_MAX)
		goto denied;
	cs_registry_key(r, k, sizeof k, "user:%s", name);
	if (cs_registry_hash(r, k, &u) != CS_OK) {
		if (r->err != CS_ENOTFOUND)
			return r->err;
		/* the same work and message as for a wrong password */
		pthread_once(&dummy_once, make_dummy);
		if (dummy_hash[0]) {
			volatile int sink = crypto_pwhash_str_verify(dummy_hash, password, pwlen);

			(void)sink;
		}
		goto denied;
	}
	until = num(u, "locked_until");
	if (until > now) {
		time_t s = (time_t)(until / 1000);
		struct tm tm;
		char when[32] = "";

		if (gmtime_r(&s, &tm))
			strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
		json_decref(u);
		set_err(r, CS_AUTH_LOCKED,
			"user '%s' is locked after %d or more wrong passwords in a row, until %s (%lld s); an admin can reset it with `cubeserve user passwd`",
			name, CS_AUTH_FREE_FAILURES, when, (until - now + 999) / 1000);
		return CS_AUTH_LOCKED;
	}
	ok = crypto_pwhash_str_verify(str(u, "pwhash"), password, pwlen) == 0;
	if (cs_role_parse(str(u, "role"), &role) != CS_OK)
		role = CS_ROLE_NONE;
	json_decref(u);
	if (!ok) {
		snprintf(fr, sizeof fr, "%d", CS_AUTH_FREE_FAILURES);
		snprintf(mx, sizeof mx, "%d", CS_AUTH_MAX_LOCK_SECONDS);
		snprintf(first, sizeof first, "%d", CS_AUTH_FIRST_LOCK_SECONDS);
		rep = eval(r, fail_lua, name, ll(t, now), fr, mx, first, NULL);
		if (!rep)
			return r->err;
		freeReplyObject(rep);
		goto denied;
	}
	rep = cmd(r, "HSET", k, "failures", "0", "locked_until", "0", NULL);
	if (!rep)
		return r->err;
	freeReplyObject(rep);
	if (who) {
		snprintf(who->user, sizeof who->user, "%s", name);
		who->role = role;
	}
	return CS_OK;
denied:
	set_err(r, CS_AUTH_DENIED, "wrong user name or password");
	return CS_AUTH_DENIED;
}

int cs_auth_login(cs_registry *r, const char *name, const char *password,
		  size_t pwlen, long long ttl_s, char *token, size_t toklen,
		  cs_principal *who)
{
	cs_principal p;
	cs_key_spec spec;
	int rc;

	if ((rc = cs_auth_password_check(r, name, password, pwlen, &p)) != CS_OK)
		return rc;
	memset(&spec, 0, sizeof spec);
	spec.user = name;
	spec.kind = "session";
	spec.expires = time(NULL) + (ttl_s > 0 ? ttl_s : 30LL * 86400);
	if ((rc = cs_auth_key_create(r, &spec, token, toklen, p.key_id,
				     sizeof p.key_id)) != CS_OK)
		return rc;
	if (who)
		*who = p;
	return CS_OK;
}

/* ------------------------------------------------------------ keys */

int cs_auth_pepper(cs_registry *r, unsigned char pepper[32])
{
	char k[128], hex[65];
	unsigned char fresh[32];
	redisReply *rep;
	size_t n = 0;

	if (sodium_ready(r) != CS_OK)
		return r->err;
	cs_registry_key(r, k, sizeof k, "auth:pepper");
	randombytes_buf(fresh, sizeof fresh);
	sodium_bin2hex(hex, sizeof hex, fresh, sizeof fresh);
	sodium_memzero(fresh, sizeof fresh);
	rep = cmd(r, "SET", k, hex, "NX", NULL);
	sodium_memzero(hex, sizeof hex);
	if (!rep)
		return r->err;
	freeReplyObject(rep);
	if (!(rep = cmd(r, "GET", k, NULL)))
		return r->err;
	if (rep->type != REDIS_REPLY_STRING ||
	    sodium_hex2bin(pepper, 32, rep->str, rep->len, NULL, &n, NULL) != 0 || n != 32) {
		freeReplyObject(rep);
		set_err(r, CS_EFORMAT, "the registry's key pepper (%s) is not 64 hex digits", k);
		return CS_EFORMAT;
	}
	freeReplyObject(rep);
	return CS_OK;
}

void cs_auth_key_hash(const unsigned char pepper[32], const char *k,
		      size_t len, char *hex)
{
	unsigned char h[32];

	crypto_generichash(h, sizeof h, (const unsigned char *)k, len, pepper, 32);
	sodium_bin2hex(hex, 65, h, sizeof h);
}

/* Normalises "a, b" into "a,b" and checks the names; "*" stays. */
static int grants(cs_registry *r, const char *models, char *out, size_t len)
{
	const char *s = models ? models : "";
	size_t o = 0;

	out[0] = '\0';
	if (strcmp(s, "*") == 0) {
		snprintf(out, len, "*");
		return CS_OK;
	}
	while (*s) {
		const char *e;
		size_t n;

		while (*s == ' ' || *s == ',')
			s++;
		if (!*s)
			break;
		e = s;
		while (*e && *e != ',' && *e != ' ')
			e++;
		n = (size_t)(e - s);
		if (!model_name_ok(s, n)) {
			set_err(r, CS_EINVAL, "'%.*s' in the model list is not a model name ([a-z0-9_-], 1..64)",
				(int)(n > 64 ? 64 : n), s);
			return CS_EINVAL;
		}
		if (o + n + 2 >= len) {
			set_err(r, CS_EINVAL, "the model list is longer than %zu characters", len - 2);
			return CS_EINVAL;
		}
		if (o)
			out[o++] = ',';
		memcpy(out + o, s, n);
		o += n;
		out[o] = '\0';
		s = e;
	}
	return CS_OK;
}

static const char key_create_lua[] =
	"local p, id, h, user = ARGV[1], ARGV[2], ARGV[3], ARGV[4]\n"
	"if redis.call('EXISTS', p .. 'user:' .. user) == 0 then return redis.error_reply('NOTFOUND no user named ' .. user) end\n"
	"if redis.call('EXISTS', p .. 'key:' .. id) == 1 then return redis.error_reply('EXISTS key id taken') end\n"
	"redis.call('HSET', p .. 'key:' .. id, 'user', user, 'hash', h, 'prefix', 'csk_' .. id,\n"
	"  'kind', ARGV[5], 'models', ARGV[6], 'rate', ARGV[7], 'quota', ARGV[8],\n"
	"  'expires', ARGV[9], 'created', ARGV[10], 'revoked', 0, 'creator', ARGV[11])\n"
	"redis.call('SET', p .. 'keyhash:' .. h, id)\n"
	"redis.call('ZADD', p .. 'keys', ARGV[10], id)\n"
	"redis.call('SADD', p .. 'user_keys:' .. user, id)\n"
	"if ARGV[11] ~= user then redis.call('SADD', p .. 'user_keys:' .. ARGV[11], id) end\n"
	"return 1\n";

int cs_auth_key_create(cs_registry *r, const cs_key_spec *spec, char *out,
		       size_t outlen, char *id_out, size_t idlen)
{
	unsigned char pepper[32], idb[6], secret[32];
	char id[13], sec[64], k[CS_AUTH_KEY_SIZE], hex[65], models[1024];
	char rate[32], quota[32], exp[32], t[32];
	const char *kind = spec->kind ? spec->kind : "api";
	redisReply *rep;
	int rc;

	if (outlen < CS_AUTH_KEY_SIZE) {
		set_err(r, CS_EINVAL, "internal: key buffer too small");
		return CS_EINVAL;
	}
	if (check_name(r, spec->user))
		return r->err;
	if (spec->creator && check_name(r, spec->creator))
		return r->err;
	if (strcmp(kind, "api") != 0 && strcmp(kind, "session") != 0) {
		set_err(r, CS_EINVAL, "key kind must be api or session");
		return CS_EINVAL;
	}
	if (!(spec->rate >= 0 && spec->rate <= 1e6) || spec->quota < 0) {
		set_err(r, CS_EINVAL, "rate must be 0..1000000 per second and quota >= 0");
		return CS_EINVAL;
	}
	if (grants(r, spec->models, models, sizeof models) != CS_OK)
		return r->err;
	if ((rc = cs_auth_pepper(r, pepper)) != CS_OK)
		return rc;
	randombytes_buf(idb, sizeof idb);
	randombytes_buf(secret, sizeof secret);
	sodium_bin2hex(id, sizeof id, idb, sizeof idb);
	sodium_bin2base64(sec, sizeof sec, secret, sizeof secret,
			  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	snprintf(k, sizeof k, "csk_%s_%s", id, sec);
	cs_auth_key_hash(pepper, k, strlen(k), hex);
	sodium_memzero(secret, sizeof secret);
	sodium_memzero(sec, sizeof sec);
	sodium_memzero(pepper, sizeof pepper);
	snprintf(rate, sizeof rate, "%.6g", spec->rate);
	rep = eval(r, key_create_lua, id, hex, spec->user, kind, models, rate,
		   ll(quota, spec->quota), ll(exp, spec->expires), ll(t, now_ms()),
		   spec->creator ? spec->creator : spec->user, NULL);
	if (!rep) {
		sodium_memzero(k, sizeof k);
		return r->err;
	}
	freeReplyObject(rep);
	snprintf(out, outlen, "%s", k);
	sodium_memzero(k, sizeof k);
	if (id_out)
		snprintf(id_out, idlen, "%s", id);
	return CS_OK;
}

static int id_ok(const char *id)
{
	size_t n = id ? strlen(id) : 0;

	if (n != 12)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isxdigit((unsigned char)id[i]) || isupper((unsigned char)id[i]))
			return 0;
	return 1;
}

/* Accepts "csk_<id>" (the listed prefix) as an id too. */
static const char *bare_id(const char *id)
{
	return id && strncmp(id, "csk_", 4) == 0 ? id + 4 : id;
}

static const char key_revoke_lua[] =
	"local p, id = ARGV[1], ARGV[2]\n"
	"local k = p .. 'key:' .. id\n"
	"if redis.call('EXISTS', k) == 0 then return redis.error_reply('NOTFOUND no key with id ' .. id) end\n"
	"if redis.call('HGET', k, 'revoked') == '0' then redis.call('HSET', k, 'revoked', ARGV[3]) end\n"
	"local h = redis.call('HGET', k, 'hash')\n"
	"if h then redis.call('DEL', p .. 'keyhash:' .. h) end\n"
	"return 1\n";

int cs_auth_key_revoke(cs_registry *r, const char *id)
{
	redisReply *rep;
	char t[32];

	id = bare_id(id);
	if (!id_ok(id)) {
		set_err(r, CS_EINVAL, "a key id is 12 hex digits (as `cubeserve key list` shows it)");
		return CS_EINVAL;
	}
	if (!(rep = eval(r, key_revoke_lua, id, ll(t, now_ms()), NULL)))
		return r->err;
	freeReplyObject(rep);
	return CS_OK;
}

/* A key hash as the JSON the lists show (no hash). */
static json_t *key_json(const char *id, const json_t *h)
{
	return json_pack("{s:s,s:s,s:s,s:s,s:s,s:f,s:I,s:I,s:I,s:I,s:s}",
		"id", id, "prefix", str(h, "prefix"), "user", str(h, "user"),
		"kind", str(h, "kind"), "models", str(h, "models"),
		"rate", strtod(str(h, "rate"), NULL),
		"quota", (json_int_t)num(h, "quota"), "expires", (json_int_t)num(h, "expires"),
		"created", (json_int_t)num(h, "created"), "revoked", (json_int_t)num(h, "revoked"),
		"creator", str(h, "creator"));
}

int cs_auth_keys(cs_registry *r, const char *user, int sessions, json_t **out)
{
	char k[256];
	redisReply *rep;

	*out = NULL;
	if (user) {
		if (check_name(r, user))
			return r->err;
		cs_registry_key(r, k, sizeof k, "user_keys:%s", user);
		rep = cmd(r, "SMEMBERS", k, NULL);
	} else {
		cs_registry_key(r, k, sizeof k, "keys");
		rep = cmd(r, "ZREVRANGE", k, "0", "-1", NULL);
	}
	if (!rep)
		return r->err;
	*out = json_array();
	for (size_t i = 0; i < rep->elements; i++) {
		const char *id = rep->element[i]->str;
		json_t *h;

		cs_registry_key(r, k, sizeof k, "key:%s", id);
		if (cs_registry_hash(r, k, &h) != CS_OK)
			continue;
		if (sessions || strcmp(str(h, "kind"), "session") != 0)
			json_array_append_new(*out, key_json(id, h));
		json_decref(h);
	}
	freeReplyObject(rep);
	return CS_OK;
}

static void day_text(int day, char *buf, size_t len)
{
	snprintf(buf, len, "%04d-%02d-%02d", day / 10000, day / 100 % 100, day % 100);
}

int cs_auth_today(void)
{
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	return (tm.tm_year + 1900) * 10000 + (tm.tm_mon + 1) * 100 + tm.tm_mday;
}

int cs_auth_key_show(cs_registry *r, const char *id, int days, json_t **out)
{
	char k[256], d[16];
	json_t *h, *calls;
	time_t t = time(NULL);

	*out = NULL;
	id = bare_id(id);
	if (!id_ok(id)) {
		set_err(r, CS_EINVAL, "a key id is 12 hex digits (as `cubeserve key list` shows it)");
		return CS_EINVAL;
	}
	cs_registry_key(r, k, sizeof k, "key:%s", id);
	if (cs_registry_hash(r, k, &h) != CS_OK) {
		if (r->err == CS_ENOTFOUND)
			set_err(r, CS_ENOTFOUND, "no key with id %s", id);
		return r->err;
	}
	*out = key_json(id, h);
	json_decref(h);
	calls = json_array();
	for (int i = 0; i < (days > 0 ? days : 7); i++, t -= 86400) {
		struct tm tm;
		json_t *m;
		const char *f;
		json_t *v;
		int day;

		gmtime_r(&t, &tm);
		day = (tm.tm_year + 1900) * 10000 + (tm.tm_mon + 1) * 100 + tm.tm_mday;
		snprintf(d, sizeof d, "%d", day);
		cs_registry_key(r, k, sizeof k, "meter:%s:%s", id, d);
		if (cs_registry_hash(r, k, &m) != CS_OK)
			continue;
		day_text(day, d, sizeof d);
		/* fields "<model>:ok" and "<model>:err" */
		json_object_foreach(m, f, v) {
			const char *colon = strrchr(f, ':');
			char model[80];
			json_t *row;

			if (!colon || strcmp(colon, ":ok") != 0 || (size_t)(colon - f) >= sizeof model)
				continue;
			char errf[96];

			snprintf(model, sizeof model, "%.*s", (int)(colon - f), f);
			snprintf(errf, sizeof errf, "%s:err", model);
			row = json_pack("{s:s,s:s,s:I,s:I}", "day", d, "model", model,
				"ok", (json_int_t)strtoll(json_string_value(v), NULL, 10),
				"error", (json_int_t)num(m, errf));
			json_array_append_new(calls, row);
		}
		/* models that only had errors */
		json_object_foreach(m, f, v) {
			const char *colon = strrchr(f, ':');
			char okf[96];

			if (!colon || strcmp(colon, ":err") != 0)
				continue;
			snprintf(okf, sizeof okf, "%.*s:ok", (int)(colon - f), f);
			if (json_object_get(m, okf))
				continue;
			json_array_append_new(calls, json_pack("{s:s,s:s#,s:I,s:I}", "day", d,
				"model", f, (int)(colon - f), "ok", (json_int_t)0,
				"error", (json_int_t)strtoll(json_string_value(v), NULL, 10)));
		}
		json_decref(m);
	}
	json_object_set_new(*out, "calls", calls);
	return CS_OK;
}

int cs_auth_key_verify(cs_registry *r, const char *k, cs_principal *who)
{
	unsigned char pepper[32];
	char hk[256], hex[65], id[CS_AUTH_ID_SIZE];
	json_t *h = NULL, *u = NULL;
	redisReply *rep;
	size_t n = k ? strlen(k) : 0;
	long long exp;
	int rc;

	memset(who, 0, sizeof *who);
	if (n == 0) {
		set_err(r, CS_AUTH_DENIED, "no key given");
		return CS_AUTH_DENIED;
	}
	if (n > CS_AUTH_KEY_MAX) {
		set_err(r, CS_AUTH_DENIED, "the key is longer than %d characters", CS_AUTH_KEY_MAX);
		return CS_AUTH_DENIED;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)k[i];

		if (!(isalnum(c) || c == '_' || c == '-')) {
			set_err(r, CS_AUTH_DENIED, "the key has characters outside A-Z a-z 0-9 _ -");
			return CS_AUTH_DENIED;
		}
	}
	if ((rc = cs_auth_pepper(r, pepper)) != CS_OK)
		return rc;
	cs_auth_key_hash(pepper, k, n, hex);
	sodium_memzero(pepper, sizeof pepper);
	cs_registry_key(r, hk, sizeof hk, "keyhash:%s", hex);
	if (!(rep = cmd(r, "GET", hk, NULL)))
		return r->err;
	if (rep->type != REDIS_REPLY_STRING || rep->len >= sizeof id) {
		freeReplyObject(rep);
		set_err(r, CS_AUTH_DENIED, "unknown or revoked key");
		return CS_AUTH_DENIED;
	}
	snprintf(id, sizeof id, "%s", rep->str);
	freeReplyObject(rep);
	cs_registry_key(r, hk, sizeof hk, "key:%s", id);
	if (cs_registry_hash(r, hk, &h) != CS_OK) {
		set_err(r, CS_AUTH_DENIED, "unknown or revoked key");
		return CS_AUTH_DENIED;
	}
	/* the stored hash must be the one computed (constant time) */
	if (strlen(str(h, "hash")) != 64 || sodium_memcmp(str(h, "hash"), hex, 64) != 0 ||
	    num(h, "revoked")) {
		json_decref(h);
		set_err(r, CS_AUTH_DENIED, "unknown or revoked key");
		return CS_AUTH_DENIED;
	}
	exp = num(h, "expires");
	if (exp && exp <= (long long)time(NULL)) {
		json_decref(h);
		set_err(r, CS_AUTH_DENIED, "the key (id %s) has expired; log in again or create a new key", id);
		return CS_AUTH_DENIED;
	}
	cs_registry_key(r, hk, sizeof hk, "user:%s", str(h, "user"));
	if (cs_registry_hash(r, hk, &u) != CS_OK) {
		json_decref(h);
		set_err(r, CS_AUTH_DENIED, "the key's user no longer exists");
		return CS_AUTH_DENIED;
	}
	snprintf(who->user, sizeof who->user, "%s", str(h, "user"));
	if (cs_role_parse(str(u, "role"), &who->role) != CS_OK)
		who->role = CS_ROLE_NONE;
	snprintf(who->key_id, sizeof who->key_id, "%s", id);
	json_decref(h);
	json_decref(u);
	return CS_OK;
}

/* ------------------------------------------------------------ models */

int cs_auth_access(cs_registry *r, const char *model, int *is_public,
		   char *owner, size_t ownerlen)
{
	char k[256];
	json_t *h = NULL;
	int on, rc;

	if (owner && ownerlen)
		owner[0] = '\0';
	cs_registry_key(r, k, sizeof k, "acl:%s", model);
	rc = cs_registry_hash(r, k, &h);
	if (rc == CS_ENOTFOUND) {
		if ((rc = cs_auth_mode(r, &on)) != CS_OK)
			return rc;
		*is_public = !on;
		return CS_OK;
	}
	if (rc != CS_OK)
		return rc;
	*is_public = strcmp(str(h, "access"), "private") != 0 &&
		     (str(h, "access")[0] || !(cs_auth_mode(r, &on) == CS_OK && on));
	if (owner && ownerlen)
		snprintf(owner, ownerlen, "%s", str(h, "owner"));
	json_decref(h);
	return CS_OK;
}

int cs_auth_access_set(cs_registry *r, const char *model, int is_public)
{
	char k[256];
	redisReply *rep;

	if (!model_name_ok(model, strlen(model))) {
		set_err(r, CS_EINVAL, "'%.64s' is not a model name", model);
		return CS_EINVAL;
	}
	cs_registry_key(r, k, sizeof k, "acl:%s", model);
	if (!(rep = cmd(r, "HSET", k, "access", is_public ? "public" : "private", NULL)))
		return r->err;
	freeReplyObject(rep);
	return CS_OK;
}

int cs_auth_owner_claim(cs_registry *r, const char *model, const char *user)
{
	char k[256];
	redisReply *rep;

	cs_registry_key(r, k, sizeof k, "acl:%s", model);
	if (!(rep = cmd(r, "HSETNX", k, "owner", user, NULL)))
		return r->err;
	freeReplyObject(rep);
	return CS_OK;
}

/* ------------------------------------------------------------ roles */

static int forbid(cs_registry *r, const cs_principal *who, const char *what)
{
	set_err(r, CS_AUTH_FORBIDDEN, "user '%s' (role %s) may not %s", who->user,
		cs_role_name(who->role), what);
	return CS_AUTH_FORBIDDEN;
}

/* Whether who owns model (the acl's owner). */
static int owns(cs_registry *r, const cs_principal *who, const char *model,
		int *none)
{
	char owner[80];
	int pub;

	*none = 0;
	if (cs_auth_access(r, model, &pub, owner, sizeof owner) != CS_OK)
		return 0;
	*none = owner[0] == '\0';
	return strcmp(owner, who->user) == 0;
}

int cs_auth_allow(cs_registry *r, const cs_principal *who,
		  const char *action, const char *model)
{
	static const char *const known[] = {"model.publish", "model.manage", "deploy",
		"key.create", "key.manage", "user.manage", "audit.read", "vote"};
	char what[200];
	size_t i;
	int none;

	for (i = 0; i < sizeof known / sizeof known[0]; i++)
		if (action && strcmp(action, known[i]) == 0)
			break;
	if (i == sizeof known / sizeof known[0]) {
		set_err(r, CS_EINVAL, "internal: unknown action '%s'", action ? action : "");
		return CS_EINVAL;
	}
	if (!who || !who->user[0] || who->role == CS_ROLE_NONE) {
		set_err(r, CS_AUTH_DENIED, "log in first (`cubeserve login`) or set CUBESERVE_KEY");
		return CS_AUTH_DENIED;
	}
	if (!model)
		model = "";
	if (strcmp(action, "vote") == 0)
		return CS_OK;
	if (who->role == CS_ROLE_ADMIN)
		return CS_OK;
	if (strcmp(action, "model.publish") == 0) {
		snprintf(what, sizeof what, "publish model '%s' (needs role owner and, for an existing model, to own it)", model);
		if (who->role == CS_ROLE_OWNER && (owns(r, who, model, &none) || none))
			return CS_OK;
		return forbid(r, who, what);
	}
	if (strcmp(action, "model.manage") == 0) {
		snprintf(what, sizeof what, "manage model '%s' (needs role admin, or owner of that model)", model);
		if (who->role == CS_ROLE_OWNER && owns(r, who, model, &none))
			return CS_OK;
		return forbid(r, who, what);
	}
	if (strcmp(action, "deploy") == 0) {
		snprintf(what, sizeof what, "change deployment '%s' (needs role operator or admin, or owner of that model)", model);
		if (who->role == CS_ROLE_OPERATOR ||
		    (who->role == CS_ROLE_OWNER && owns(r, who, model, &none)))
			return CS_OK;
		return forbid(r, who, what);
	}
	if (strcmp(action, "key.create") == 0) {
		char list[1024];
		const char *s;

		snprintf(what, sizeof what, "create a key granting '%s' (needs role admin, or owner of every model granted)", model);
		if (who->role != CS_ROLE_OWNER || strcmp(model, "*") == 0 ||
		    grants(r, model, list, sizeof list) != CS_OK)
			return forbid(r, who, what);
		for (s = list; *s;) {
			const char *e = strchr(s, ',');
			char m[80];

			snprintf(m, sizeof m, "%.*s", e ? (int)(e - s) : (int)strlen(s), s);
			if (!owns(r, who, m, &none))
				return forbid(r, who, what);
			s = e ? e + 1 : s + strlen(s);
		}
		return CS_OK;
	}
	if (strcmp(action, "key.manage") == 0) {
		/* model is the key's creator or user: owners handle the keys they made */
		if (who->role == CS_ROLE_OWNER && strcmp(model, who->user) == 0)
			return CS_OK;
		return forbid(r, who, "manage that key (needs role admin, or owner who created it)");
	}
	if (strcmp(action, "user.manage") == 0)
		return forbid(r, who, "manage users (needs role admin)");
	if (strcmp(action, "audit.read") == 0) {
		if (who->role == CS_ROLE_OPERATOR)
			return CS_OK;
		return forbid(r, who, "read the audit log (needs role admin or operator)");
	}
	set_err(r, CS_EINVAL, "internal: unknown action '%s'", action);
	return CS_EINVAL;
}

/* ------------------------------------------------------------ audit */

int cs_auth_audit(cs_registry *r, const char *who, const char *what,
		  const char *target, const char *result)
{
	char k[128];
	json_t *e = json_pack("{s:I,s:s,s:s,s:s,s:s}", "time", (json_int_t)now_ms(),
			      "who", who ? who : "", "what", what ? what : "",
			      "target", target ? target : "", "result", result ? result : "");
	char *text = e ? json_dumps(e, JSON_COMPACT) : NULL;
	redisReply *rep;

	json_decref(e);
	if (!text) {
		set_err(r, CS_ENOMEM, "out of memory");
		return CS_ENOMEM;
	}
	cs_registry_key(r, k, sizeof k, "audit");
	rep = cmd(r, "LPUSH", k, text, NULL);
	free(text);
	if (!rep)
		return r->err;
	freeReplyObject(rep);
	if ((rep = cmd(r, "LTRIM", k, "0", "9999", NULL)))
		freeReplyObject(rep);
	return CS_OK;
}

int cs_auth_audit_list(cs_registry *r, long n, json_t **out)
{
	char k[128], end[32];
	redisReply *rep;

	*out = NULL;
	cs_registry_key(r, k, sizeof k, "audit");
	if (!(rep = cmd(r, "LRANGE", k, "0", ll(end, n > 0 ? n - 1 : 49), NULL)))
		return r->err;
	*out = json_array();
	for (size_t i = 0; i < rep->elements; i++) {
		json_t *e = json_loads(rep->element[i]->str, 0, NULL);

		if (e)
			json_array_append_new(*out, e);
	}
	freeReplyObject(rep);
	return CS_OK;
}

/* ------------------------------------------------------------ meters */

static const char meter_lua[] =
	"local p, id, model, day = ARGV[1], ARGV[2], ARGV[3], ARGV[4]\n"
	"local ok, err = tonumber(ARGV[5]), tonumber(ARGV[6])\n"
	"local k = p .. 'meter:' .. id .. ':' .. day\n"
	"local m = p .. 'meter_model:' .. model .. ':' .. day\n"
	"if ok > 0 then redis.call('HINCRBY', k, model .. ':ok', ok); redis.call('HINCRBY', m, id .. ':ok', ok) end\n"
	"if err > 0 then redis.call('HINCRBY', k, model .. ':err', err); redis.call('HINCRBY', m, id .. ':err', err) end\n"
	"redis.call('EXPIRE', k, 8000000)\n"
	"redis.call('EXPIRE', m, 8000000)\n"
	"return 1\n";

int cs_auth_meter_add(cs_registry *r, const char *key_id, const char *model,
		      int day, long long ok, long long err)
{
	char d[16], a[32], b[32];
	redisReply *rep;

	snprintf(d, sizeof d, "%d", day);
	if (!(rep = eval(r, meter_lua, key_id, model, d, ll(a, ok), ll(b, err), NULL)))
		return r->err;
	freeReplyObject(rep);
	return CS_OK;
}

int cs_auth_quota_add(cs_registry *r, const char *key_id, int day,
		      long long n, long long *total)
{
	char k[256], d[16], a[32];
	redisReply *rep;

	snprintf(d, sizeof d, "%d", day);
	cs_registry_key(r, k, sizeof k, "quota:%s:%s", key_id, d);
	if (!(rep = cmd(r, "INCRBY", k, ll(a, n), NULL)))
		return r->err;
	*total = rep->integer;
	freeReplyObject(rep);
	if ((rep = cmd(r, "EXPIRE", k, "172800", NULL)))
		freeReplyObject(rep);
	return CS_OK;
}

int cs_auth_meter_model(cs_registry *r, const char *model, int day,
			json_t **out)
{
	char k[256], d[16];
	json_t *h, *v;
	const char *f;
	int rc;

	*out = json_object();
	snprintf(d, sizeof d, "%d", day);
	cs_registry_key(r, k, sizeof k, "meter_model:%s:%s", model, d);
	rc = cs_registry_hash(r, k, &h);
	if (rc == CS_ENOTFOUND)
		return CS_OK;
	if (rc != CS_OK)
		return rc;
	json_object_foreach(h, f, v) {
		const char *colon = strrchr(f, ':');
		char id[40];
		json_t *row;

		if (!colon || (size_t)(colon - f) >= sizeof id)
			continue;
		snprintf(id, sizeof id, "%.*s", (int)(colon - f), f);
		row = json_object_get(*out, id);
		if (!row) {
			row = json_pack("{s:I,s:I}", "ok", (json_int_t)0, "error", (json_int_t)0);
			json_object_set_new(*out, id, row);
		}
		json_object_set_new(row, strcmp(colon, ":ok") == 0 ? "ok" : "error",
				    json_integer(strtoll(json_string_value(v), NULL, 10)));
	}
	json_decref(h);
	return CS_OK;
}

/* ------------------------------------------------------------ snapshot */

static int granted(const char *list, const char *model)
{
	size_t n = strlen(model);
	const char *s = list;

	if (strcmp(list, "*") == 0)
		return 1;
	while (*s) {
		const char *e = strchr(s, ',');
		size_t len = e ? (size_t)(e - s) : strlen(s);

		if (len == n && memcmp(s, model, n) == 0)
			return 1;
		s += len + (e ? 1 : 0);
	}
	return 0;
}

int cs_auth_snapshot(cs_registry *r, const char *model, json_t **out)
{
	unsigned char pepper[32];
	char hex[65], k[256], d[16];
	json_t *ids = NULL, *keys, *id;
	int on, pub, rc, day = cs_auth_today();
	size_t i;

	*out = NULL;
	if ((rc = cs_auth_mode(r, &on)) != CS_OK)
		return rc;
	if (!on) {
		/* auth off: nothing is checked, so nothing more is read */
		*out = json_pack("{s:b,s:b,s:s,s:i,s:[]}", "auth", 0, "public", 1, "pepper",
				 "0000000000000000000000000000000000000000000000000000000000000000",
				 "day", day, "keys");
		return *out ? CS_OK : CS_ENOMEM;
	}
	if ((rc = cs_auth_access(r, model, &pub, NULL, 0)) != CS_OK ||
	    (rc = cs_auth_pepper(r, pepper)) != CS_OK)
		return rc;
	sodium_bin2hex(hex, sizeof hex, pepper, sizeof pepper);
	sodium_memzero(pepper, sizeof pepper);
	cs_registry_key(r, k, sizeof k, "keys");
	{
		redisReply *rep = cmd(r, "ZRANGE", k, "0", "-1", NULL);

		if (!rep)
			return r->err;
		ids = json_array();
		for (i = 0; i < rep->elements; i++)
			json_array_append_new(ids, json_string(rep->element[i]->str));
		freeReplyObject(rep);
	}
	keys = json_array();
	snprintf(d, sizeof d, "%d", day);
	json_array_foreach(ids, i, id) {
		json_t *h;
		redisReply *rep;
		long long used = 0;

		cs_registry_key(r, k, sizeof k, "key:%s", json_string_value(id));
		if (cs_registry_hash(r, k, &h) != CS_OK)
			continue;
		if (strcmp(str(h, "kind"), "api") != 0 || num(h, "revoked")) {
			json_decref(h);
			continue;
		}
		cs_registry_key(r, k, sizeof k, "quota:%s:%s", json_string_value(id), d);
		if ((rep = cmd(r, "GET", k, NULL))) {
			if (rep->type == REDIS_REPLY_STRING)
				used = strtoll(rep->str, NULL, 10);
			freeReplyObject(rep);
		}
		json_array_append_new(keys, json_pack("{s:s,s:s,s:s,s:b,s:f,s:I,s:I,s:I}",
			"id", json_string_value(id), "hash", str(h, "hash"), "user", str(h, "user"),
			"granted", granted(str(h, "models"), model),
			"rate", strtod(str(h, "rate"), NULL), "quota", (json_int_t)num(h, "quota"),
			"expires", (json_int_t)num(h, "expires"), "used_today", (json_int_t)used));
		json_decref(h);
	}
	json_decref(ids);
	*out = json_pack("{s:b,s:b,s:s,s:i,s:o}", "auth", on, "public", pub, "pepper", hex,
			 "day", day, "keys", keys);
	sodium_memzero(hex, sizeof hex);
	return *out ? CS_OK : CS_ENOMEM;
}
