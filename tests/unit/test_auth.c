/*
 * test_auth.c - accounts, keys, roles and the key gateway against a real
 * redis-server started privately on a unix socket in a temp dir (skipped
 * when redis-server is not installed). Each test uses its own key prefix.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "core/status.h"
#include "registry/auth.h"
#include "registry/registry.h"
#include "serve/gateway.h"
#include "redis_fixture.h"
#include "tap.h"

static cs_registry *open_prefix(const char *prefix)
{
	cs_registry *r = NULL;
	char err[256];

	if (cs_registry_open(url, prefix, 2000, &r, err, sizeof err) != CS_OK) {
		printf("# %s\n", err);
		exit(1);
	}
	return r;
}

/* A raw command's string reply (static buffer), "" for nil. */
static const char *raw(cs_registry *r, int argc, const char **argv)
{
	static char buf[512];
	redisReply *rep = cs_registry_argv(r, argc, argv);

	buf[0] = '\0';
	if (rep && rep->type == REDIS_REPLY_STRING)
		snprintf(buf, sizeof buf, "%s", rep->str);
	cs_registry_free_reply(rep);
	return buf;
}

TEST(roles_parse)
{
	cs_role r;

	CHECK(cs_role_parse("owner", &r) == CS_OK && r == CS_ROLE_OWNER);
	CHECK(cs_role_parse("root", &r) == CS_EINVAL);
	CHECK(cs_role_parse(NULL, &r) == CS_EINVAL);
	CHECK(cs_auth_user_name_ok("ann.b-1_x"));
	CHECK(!cs_auth_user_name_ok("Ann"));
	CHECK(!cs_auth_user_name_ok(""));
	CHECK(!cs_auth_user_name_ok("a b"));
}

TEST(password_hashed_and_checked)
{
	cs_registry *r = open_prefix("t1:");
	cs_principal who;
	char k[64];
	const char *hget[3] = {"HGET", k, "pwhash"};
	json_t *users;

	CHECK(cs_auth_user_add(r, "ann", CS_ROLE_OWNER, "s3cret", 6) == CS_OK);
	CHECK(cs_auth_user_add(r, "ann", CS_ROLE_OWNER, "x", 1) == CS_REG_EXISTS);
	CHECK(cs_auth_user_add(r, "bob", CS_ROLE_OWNER, "", 0) == CS_EINVAL);
	CHECK(cs_auth_user_add(r, "Bad Name", CS_ROLE_OWNER, "x", 1) == CS_EINVAL);
	snprintf(k, sizeof k, "t1:user:ann");
	CHECK_HAS(raw(r, 3, hget), "$argon2id$");
	CHECK(strstr(raw(r, 3, hget), "s3cret") == NULL);
	CHECK(cs_auth_password_check(r, "ann", "s3cret", 6, &who) == CS_OK);
	CHECK_STR(who.user, "ann");
	CHECK(who.role == CS_ROLE_OWNER);
	CHECK(cs_auth_password_check(r, "ann", "s3creT", 6, &who) == CS_AUTH_DENIED);
	CHECK_STR(r->errstr, "wrong user name or password");
	/* an unknown user gets the same answer */
	CHECK(cs_auth_password_check(r, "nobody", "s3cret", 6, &who) == CS_AUTH_DENIED);
	CHECK_STR(r->errstr, "wrong user name or password");
	/* the user list never shows a hash */
	CHECK(cs_auth_users(r, &users) == CS_OK);
	{
		char *s = json_dumps(users, 0);

		CHECK(s && strstr(s, "argon2") == NULL && strstr(s, "\"ann\""));
		free(s);
	}
	json_decref(users);
	cs_registry_close(r);
}

/* Twenty wrong passwords in a row: the account locks; passwd unlocks it. */
TEST(wrong_password_twenty_times_locks)
{
	cs_registry *r = open_prefix("t2:");
	cs_principal who;
	int denied = 0, locked = 0;

	CHECK(cs_auth_user_add(r, "carl", CS_ROLE_CONSUMER, "right", 5) == CS_OK);
	for (int i = 0; i < 20; i++) {
		int rc = cs_auth_password_check(r, "carl", "wrong", 5, &who);

		denied += rc == CS_AUTH_DENIED;
		locked += rc == CS_AUTH_LOCKED;
	}
	/* the first CS_AUTH_FREE_FAILURES are checked, then it is locked */
	CHECK(denied == CS_AUTH_FREE_FAILURES);
	CHECK(locked == 20 - CS_AUTH_FREE_FAILURES);
	CHECK(cs_auth_password_check(r, "carl", "right", 5, &who) == CS_AUTH_LOCKED);
	CHECK_HAS(r->errstr, "locked");
	{
		/* the first lock: CS_AUTH_FIRST_LOCK_SECONDS from the 5th failure */
		char k[64];
		const char *hget[3] = {"HGET", k, "locked_until"};
		struct timespec ts;
		long long until, now;

		snprintf(k, sizeof k, "t2:user:carl");
		until = atoll(raw(r, 3, hget));
		clock_gettime(CLOCK_REALTIME, &ts);
		now = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
		CHECK(until > now + (CS_AUTH_FIRST_LOCK_SECONDS - 3) * 1000LL);
		CHECK(until <= now + CS_AUTH_FIRST_LOCK_SECONDS * 1000LL + 100);
	}
	CHECK(strstr(r->errstr, "right") == NULL);
	CHECK(cs_auth_user_passwd(r, "carl", "new-one", 7) == CS_OK);
	CHECK(cs_auth_password_check(r, "carl", "new-one", 7, &who) == CS_OK);
	cs_registry_close(r);
}

TEST(keys_stored_as_keyed_hash_only)
{
	cs_registry *r = open_prefix("t3:");
	cs_key_spec spec = {"dora", "linear,iris", 2, 100, 0, NULL, NULL};
	char key[CS_AUTH_KEY_SIZE], id[CS_AUTH_ID_SIZE], k[128], hex[65];
	unsigned char pepper[32];
	cs_principal who;
	const char *hgetall[2] = {"HGETALL", k};
	redisReply *rep;

	CHECK(cs_auth_user_add(r, "dora", CS_ROLE_CONSUMER, "pw", 2) == CS_OK);
	CHECK(cs_auth_key_create(r, &spec, key, sizeof key, id, sizeof id) == CS_OK);
	CHECK(strncmp(key, "csk_", 4) == 0 && strlen(key) == 4 + 12 + 1 + 43);
	CHECK(strncmp(key + 4, id, 12) == 0);
	/* nothing in Redis holds the key or its secret part */
	snprintf(k, sizeof k, "t3:key:%s", id);
	rep = cs_registry_argv(r, 2, hgetall);
	CHECK(rep != NULL);
	for (size_t i = 0; rep && i < rep->elements; i++)
		CHECK(strstr(rep->element[i]->str, key + 17) == NULL);
	cs_registry_free_reply(rep);
	CHECK(cs_auth_pepper(r, pepper) == CS_OK);
	cs_auth_key_hash(pepper, key, strlen(key), hex);
	{
		const char *hget[3] = {"HGET", k, "hash"};

		CHECK_STR(raw(r, 3, hget), hex);
	}
	CHECK(cs_auth_key_verify(r, key, &who) == CS_OK);
	CHECK_STR(who.user, "dora");
	CHECK_STR(who.key_id, id);
	cs_registry_close(r);
}

/*
 * The lookup goes by the keyed hash of the whole key, never by the id or
 * prefix written in it: re-pointing the hash's entry at another key record
 * changes whose key it is, and a key with the right id but another secret
 * is unknown.
 */
TEST(key_lookup_is_by_hash_not_prefix)
{
	cs_registry *r = open_prefix("t4:");
	cs_key_spec a = {"eve", "*", 0, 0, 0, NULL, NULL};
	cs_key_spec b = {"fay", "*", 0, 0, 0, NULL, NULL};
	char ka[CS_AUTH_KEY_SIZE], kb[CS_AUTH_KEY_SIZE], ida[32], idb[32], hk[128], hex[65];
	char forged[CS_AUTH_KEY_SIZE];
	unsigned char pepper[32];
	cs_principal who;

	CHECK(cs_auth_user_add(r, "eve", CS_ROLE_CONSUMER, "pw", 2) == CS_OK);
	CHECK(cs_auth_user_add(r, "fay", CS_ROLE_OWNER, "pw", 2) == CS_OK);
	CHECK(cs_auth_key_create(r, &a, ka, sizeof ka, ida, sizeof ida) == CS_OK);
	CHECK(cs_auth_key_create(r, &b, kb, sizeof kb, idb, sizeof idb) == CS_OK);
	/* right id and prefix, another secret (one character changed) */
	snprintf(forged, sizeof forged, "%s", ka);
	forged[strlen(forged) - 1] = forged[strlen(forged) - 1] == 'A' ? 'B' : 'A';
	CHECK(cs_auth_key_verify(r, forged, &who) == CS_AUTH_DENIED);
	CHECK(strstr(r->errstr, forged) == NULL);
	/* eve's key's hash entry now names fay's record: the key is fay's */
	CHECK(cs_auth_pepper(r, pepper) == CS_OK);
	cs_auth_key_hash(pepper, ka, strlen(ka), hex);
	snprintf(hk, sizeof hk, "t4:keyhash:%s", hex);
	{
		const char *set[3] = {"SET", hk, idb};

		raw(r, 3, set);
	}
	/* fay's record holds fay's hash, so the constant-time compare refuses */
	CHECK(cs_auth_key_verify(r, ka, &who) == CS_AUTH_DENIED);
	{
		char fk[128];
		const char *hset[4] = {"HSET", fk, "hash", hex};

		snprintf(fk, sizeof fk, "t4:key:%s", idb);
		raw(r, 4, hset);
	}
	CHECK(cs_auth_key_verify(r, ka, &who) == CS_OK);
	CHECK_STR(who.user, "fay");
	cs_registry_close(r);
}

TEST(revoked_expired_malformed_keys)
{
	cs_registry *r = open_prefix("t5:");
	cs_key_spec s = {"gus", "linear", 0, 0, 0, NULL, NULL};
	char k1[CS_AUTH_KEY_SIZE], k2[CS_AUTH_KEY_SIZE], id1[32], id2[32], big[300];
	cs_principal who;
	json_t *keys;

	CHECK(cs_auth_user_add(r, "gus", CS_ROLE_CONSUMER, "pw", 2) == CS_OK);
	CHECK(cs_auth_key_create(r, &s, k1, sizeof k1, id1, sizeof id1) == CS_OK);
	s.expires = (long long)time(NULL) + 1;
	CHECK(cs_auth_key_create(r, &s, k2, sizeof k2, id2, sizeof id2) == CS_OK);
	CHECK(cs_auth_key_revoke(r, id1) == CS_OK);
	CHECK(cs_auth_key_verify(r, k1, &who) == CS_AUTH_DENIED);
	CHECK_HAS(r->errstr, "revoked");
	sleep_ms(2100);
	CHECK(cs_auth_key_verify(r, k2, &who) == CS_AUTH_DENIED);
	CHECK_HAS(r->errstr, "expired");
	memset(big, 'a', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	CHECK(cs_auth_key_verify(r, big, &who) == CS_AUTH_DENIED);
	CHECK_HAS(r->errstr, "longer than");
	CHECK(cs_auth_key_verify(r, "csk_\x01\xff\xfe", &who) == CS_AUTH_DENIED);
	CHECK_HAS(r->errstr, "characters outside");
	CHECK(cs_auth_key_verify(r, "", &who) == CS_AUTH_DENIED);
	CHECK(cs_auth_key_revoke(r, "nothex") == CS_EINVAL);
	CHECK(cs_auth_key_revoke(r, "0123456789ab") == CS_ENOTFOUND);
	/* listed by id and prefix, revoked ones marked, no hash */
	CHECK(cs_auth_keys(r, "gus", 0, &keys) == CS_OK);
	CHECK(json_array_size(keys) == 2);
	{
		char *t = json_dumps(keys, 0);

		CHECK(t && strstr(t, "\"hash\"") == NULL && strstr(t, id1));
		free(t);
	}
	json_decref(keys);
	/* a key for a user that does not exist */
	s.user = "nobody";
	CHECK(cs_auth_key_create(r, &s, k1, sizeof k1, NULL, 0) == CS_ENOTFOUND);
	s.user = "gus";
	s.models = "Bad Model";
	CHECK(cs_auth_key_create(r, &s, k1, sizeof k1, NULL, 0) == CS_EINVAL);
	cs_registry_close(r);
}

TEST(roles_allow)
{
	cs_registry *r = open_prefix("t6:");
	cs_principal admin = {"root", CS_ROLE_ADMIN, ""}, own = {"olga", CS_ROLE_OWNER, ""};
	cs_principal op = {"otto", CS_ROLE_OPERATOR, ""}, con = {"carl", CS_ROLE_CONSUMER, ""};
	cs_principal none = {"", CS_ROLE_NONE, ""};

	CHECK(cs_auth_set_mode(r, 1) == CS_OK);
	CHECK(cs_auth_owner_claim(r, "iris", "olga") == CS_OK);
	CHECK(cs_auth_owner_claim(r, "iris", "mallory") == CS_OK); /* stays olga's */
	CHECK(cs_auth_allow(r, &admin, "user.manage", NULL) == CS_OK);
	CHECK(cs_auth_allow(r, &own, "model.manage", "iris") == CS_OK);
	CHECK(cs_auth_allow(r, &own, "model.manage", "linear") == CS_AUTH_FORBIDDEN);
	CHECK_HAS(r->errstr, "role owner");
	CHECK(cs_auth_allow(r, &own, "model.publish", "brand-new") == CS_OK);
	CHECK(cs_auth_allow(r, &own, "key.create", "iris") == CS_OK);
	CHECK(cs_auth_allow(r, &own, "key.create", "iris,linear") == CS_AUTH_FORBIDDEN);
	CHECK(cs_auth_allow(r, &own, "key.create", "*") == CS_AUTH_FORBIDDEN);
	CHECK(cs_auth_allow(r, &op, "deploy", "linear") == CS_OK);
	CHECK(cs_auth_allow(r, &op, "model.manage", "linear") == CS_AUTH_FORBIDDEN);
	CHECK(cs_auth_allow(r, &op, "audit.read", NULL) == CS_OK);
	CHECK(cs_auth_allow(r, &con, "deploy", "iris") == CS_AUTH_FORBIDDEN);
	CHECK_HAS(r->errstr, "user 'carl' (role consumer) may not");
	CHECK(cs_auth_allow(r, &con, "user.manage", NULL) == CS_AUTH_FORBIDDEN);
	CHECK(cs_auth_allow(r, &con, "key.create", "iris") == CS_AUTH_FORBIDDEN);
	CHECK(cs_auth_allow(r, &con, "vote", "iris") == CS_OK);
	CHECK(cs_auth_allow(r, &none, "vote", "iris") == CS_AUTH_DENIED);
	CHECK(cs_auth_allow(r, &admin, "no.such", NULL) == CS_EINVAL);
	cs_registry_close(r);
}

TEST(access_and_audit)
{
	cs_registry *r = open_prefix("t7:");
	json_t *log;
	int pub;

	/* without a record: public with auth off, private with auth on */
	CHECK(cs_auth_access(r, "m", &pub, NULL, 0) == CS_OK && pub == 1);
	CHECK(cs_auth_set_mode(r, 1) == CS_OK);
	CHECK(cs_auth_access(r, "m", &pub, NULL, 0) == CS_OK && pub == 0);
	CHECK(cs_auth_access_set(r, "m", 1) == CS_OK);
	CHECK(cs_auth_access(r, "m", &pub, NULL, 0) == CS_OK && pub == 1);
	CHECK(cs_auth_access_set(r, "m", 0) == CS_OK);
	CHECK(cs_auth_access(r, "m", &pub, NULL, 0) == CS_OK && pub == 0);
	CHECK(cs_auth_audit(r, "olga", "access", "m private", "ok") == CS_OK);
	CHECK(cs_auth_audit(r, "carl", "deploy", "m", "denied") == CS_OK);
	CHECK(cs_auth_audit_list(r, 10, &log) == CS_OK);
	CHECK(json_array_size(log) == 2);
	CHECK_STR(json_string_value(json_object_get(json_array_get(log, 0), "who")), "carl");
	CHECK_STR(json_string_value(json_object_get(json_array_get(log, 0), "result")), "denied");
	CHECK(json_integer_value(json_object_get(json_array_get(log, 1), "time")) > 0);
	json_decref(log);
	cs_registry_close(r);
}

/* ------------------------------------------------------------ the gateway */

/* A request with one header param ("HTTP_AUTHORIZATION=..."), or none. */
static int check(cs_gateway *g, const char *param, cs_response *resp)
{
	char *envp[3] = {NULL, NULL, NULL};
	cs_request req;
	int st;

	memset(&req, 0, sizeof req);
	memset(resp, 0, sizeof *resp);
	envp[0] = param ? strdup(param) : NULL;
	req.envp = envp;
	st = cs_gateway_check(g, &req, resp);
	free(envp[0]);
	/* the status and the HTTP code it became must agree */
	if (st != CS_OK && resp->status != cs_status_http(st))
		return -1;
	return st == CS_OK ? 0 : resp->status;
}

static cs_gateway *gateway(const char *prefix, const char *model)
{
	cs_gateway_config gc;
	cs_gateway *g = NULL;
	char path[128], err[256];

	memset(&gc, 0, sizeof gc);
	snprintf(path, sizeof path, "%s/%s%s.gw", dir, prefix, model);
	gc.url = url;
	gc.prefix = prefix;
	gc.model = model;
	gc.path = path;
	gc.listen_fd = -1;
	if (cs_gateway_open(&gc, &g, err, sizeof err) != CS_OK) {
		printf("# %s\n", err);
		return NULL;
	}
	return g;
}

TEST(gateway_decides_from_the_snapshot)
{
	cs_registry *r = open_prefix("g1:");
	cs_key_spec s = {"hal", "iris", 0, 0, 0, NULL, NULL};
	char key[CS_AUTH_KEY_SIZE], other[CS_AUTH_KEY_SIZE], hdr[256], big[400];
	cs_response resp;
	cs_gateway *g;

	CHECK(cs_auth_set_mode(r, 1) == CS_OK);
	CHECK(cs_auth_user_add(r, "hal", CS_ROLE_CONSUMER, "pw", 2) == CS_OK);
	CHECK(cs_auth_key_create(r, &s, key, sizeof key, NULL, 0) == CS_OK);
	s.models = "linear";
	CHECK(cs_auth_key_create(r, &s, other, sizeof other, NULL, 0) == CS_OK);
	g = gateway("g1:", "iris");
	CHECK(g != NULL);
	if (!g)
		return;
	/* private (no record, auth on): no key */
	CHECK(check(g, NULL, &resp) == 401);
	CHECK_HAS(resp.body, "an API key is required");
	CHECK_HAS(resp.headers, "WWW-Authenticate: Bearer");
	snprintf(hdr, sizeof hdr, "HTTP_AUTHORIZATION=Bearer %s", key);
	CHECK(check(g, hdr, &resp) == 0);
	cs_gateway_done(g, 200);
	snprintf(hdr, sizeof hdr, "HTTP_X_API_KEY=%s", key);
	CHECK(check(g, hdr, &resp) == 0);
	cs_gateway_done(g, 500);
	snprintf(hdr, sizeof hdr, "HTTP_AUTHORIZATION=bearer %s", key);
	CHECK(check(g, hdr, &resp) == 0);
	/* a key for another model */
	snprintf(hdr, sizeof hdr, "HTTP_AUTHORIZATION=Bearer %s", other);
	CHECK(check(g, hdr, &resp) == 403);
	CHECK_HAS(resp.body, "does not grant model 'iris'");
	CHECK(strstr(resp.body, other) == NULL);
	cs_response_reset(&resp);
	/* malformed, unknown, over-long, binary */
	CHECK(check(g, "HTTP_AUTHORIZATION=Basic dXNlcjpwdw==", &resp) == 401);
	CHECK_HAS(resp.body, "malformed");
	CHECK(check(g, "HTTP_AUTHORIZATION=Bearer ", &resp) == 401);
	CHECK(check(g, "HTTP_AUTHORIZATION=Bearer csk_000000000000_nope", &resp) == 401);
	CHECK_HAS(resp.body, "unknown or revoked");
	CHECK(strstr(resp.body, "csk_000000000000_nope") == NULL);
	memset(big, 'k', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	memcpy(big, "HTTP_X_API_KEY=", 15);
	CHECK(check(g, big, &resp) == 401);
	CHECK_HAS(resp.body, "longer than 128");
	CHECK(check(g, "HTTP_X_API_KEY=csk_\x01\x02\xff", &resp) == 401);
	CHECK_HAS(resp.body, "characters outside");
	cs_response_reset(&resp);
	cs_gateway_close(g);
	cs_registry_close(r);
}

/* CS_GATEWAY from nginx: "check" answers the check alone, "off" skips it. */
TEST(gateway_hook_for_auth_request)
{
	cs_registry *r = open_prefix("g4:");
	cs_key_spec s = {"kim", "iris", 0, 0, 0, NULL, NULL};
	char key[CS_AUTH_KEY_SIZE], hdr[256];
	char *envp[3];
	cs_response resp;
	cs_request req;
	cs_gateway *g;

	CHECK(cs_auth_set_mode(r, 1) == CS_OK);
	CHECK(cs_auth_user_add(r, "kim", CS_ROLE_CONSUMER, "pw", 2) == CS_OK);
	CHECK(cs_auth_key_create(r, &s, key, sizeof key, NULL, 0) == CS_OK);
	g = gateway("g4:", "iris");
	CHECK(g != NULL);
	if (!g)
		return;
	snprintf(hdr, sizeof hdr, "HTTP_AUTHORIZATION=Bearer %s", key);
	memset(&req, 0, sizeof req);
	req.envp = envp;
	envp[0] = "CS_GATEWAY=check";
	envp[1] = hdr;
	envp[2] = NULL;
	memset(&resp, 0, sizeof resp);
	CHECK(cs_gateway_hook(g, &req, &resp) == CS_GATEWAY_ANSWERED);
	CHECK(resp.status == 204);
	envp[1] = NULL;
	memset(&resp, 0, sizeof resp);
	CHECK(cs_gateway_hook(g, &req, &resp) == CS_GATEWAY_ANSWERED);
	CHECK(resp.status == 401);
	cs_response_reset(&resp);
	envp[0] = "CS_GATEWAY=off";
	CHECK(cs_gateway_hook(g, &req, &resp) == CS_GATEWAY_PASS);
	envp[0] = "HTTP_X_FORWARDED_FOR=1.2.3.4";
	CHECK(cs_gateway_hook(g, &req, &resp) == CS_GATEWAY_ANSWERED);
	CHECK(resp.status == 401);
	cs_response_reset(&resp);
	cs_gateway_close(g);
	cs_registry_close(r);
}

/* Two processes share one table: the rate limit is the key's, not theirs. */
TEST(gateway_rate_limit_across_processes)
{
	cs_registry *r = open_prefix("g2:");
	cs_key_spec s = {"ida", "*", 5, 0, 0, NULL, NULL};
	char key[CS_AUTH_KEY_SIZE], hdr[256];
	cs_response resp;
	cs_gateway *g;
	int fds[2], ok = 0, limited = 0, child_ok = 0, status;
	pid_t pid;

	CHECK(cs_auth_set_mode(r, 1) == CS_OK);
	CHECK(cs_auth_user_add(r, "ida", CS_ROLE_CONSUMER, "pw", 2) == CS_OK);
	CHECK(cs_auth_key_create(r, &s, key, sizeof key, NULL, 0) == CS_OK);
	g = gateway("g2:", "iris");
	CHECK(g != NULL);
	if (!g)
		return;
	snprintf(hdr, sizeof hdr, "HTTP_AUTHORIZATION=Bearer %s", key);
	CHECK(pipe(fds) == 0);
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		int n = 0;

		for (int i = 0; i < 5; i++)
			n += check(g, hdr, &resp) == 0;
		if (write(fds[1], &n, sizeof n) != sizeof n)
			_exit(1);
		_exit(0);
	}
	waitpid(pid, &status, 0);
	CHECK(read(fds[0], &child_ok, sizeof child_ok) == sizeof child_ok);
	for (int i = 0; i < 5; i++) {
		int st = check(g, hdr, &resp);

		ok += st == 0;
		if (st == 429) {
			limited++;
			CHECK_HAS(resp.headers, "Retry-After: 1");
			CHECK_HAS(resp.body, "rate limit of 5 calls per second");
		}
		cs_response_reset(&resp);
	}
	/* a burst of 5 per second in all: the child took them */
	CHECK(child_ok == 5);
	CHECK(ok == 0 && limited == 5);
	sleep_ms(1100);
	CHECK(check(g, hdr, &resp) == 0);
	close(fds[0]);
	close(fds[1]);
	cs_gateway_close(g);
	cs_registry_close(r);
}

TEST(gateway_quota_meters_and_redis_down)
{
	cs_registry *r = open_prefix("g3:");
	cs_key_spec s = {"jo", "iris", 0, 3, 0, NULL, NULL};
	char key[CS_AUTH_KEY_SIZE], id[32], hdr[256];
	cs_response resp;
	cs_gateway *g;
	json_t *shown, *calls;
	int ok = 0;

	CHECK(cs_auth_set_mode(r, 1) == CS_OK);
	CHECK(cs_auth_user_add(r, "jo", CS_ROLE_CONSUMER, "pw", 2) == CS_OK);
	CHECK(cs_auth_key_create(r, &s, key, sizeof key, id, sizeof id) == CS_OK);
	g = gateway("g3:", "iris");
	CHECK(g != NULL);
	if (!g)
		return;
	CHECK(cs_gateway_start(g, NULL, 0) == CS_OK);
	snprintf(hdr, sizeof hdr, "HTTP_AUTHORIZATION=Bearer %s", key);
	for (int i = 0; i < 5; i++) {
		int st = check(g, hdr, &resp);

		if (st == 0) {
			ok++;
			cs_gateway_done(g, i == 0 ? 400 : 200);
		} else {
			CHECK(st == 429);
			CHECK_HAS(resp.body, "daily quota");
			CHECK_HAS(resp.body, "\"reset\"");
			CHECK_HAS(resp.headers, "Retry-After: ");
		}
		cs_response_reset(&resp);
	}
	CHECK(ok == 3);
	/* the refresh thread flushes the meters within about a second */
	sleep_ms(2500);
	CHECK(cs_auth_key_show(r, id, 1, &shown) == CS_OK);
	calls = json_array_get(json_object_get(shown, "calls"), 0);
	CHECK(json_integer_value(json_object_get(calls, "ok")) == 2);
	CHECK(json_integer_value(json_object_get(calls, "error")) == 1);
	json_decref(shown);
	/* Redis stopped: the last snapshot keeps deciding */
	kill(redis_pid, SIGSTOP);
	sleep_ms(1500);
	CHECK(check(g, hdr, &resp) == 429); /* still over its quota */
	cs_response_reset(&resp);
	CHECK(check(g, "HTTP_X_API_KEY=csk_000000000000_unknown", &resp) == 401);
	cs_response_reset(&resp);
	kill(redis_pid, SIGCONT);
	cs_gateway_close(g);
	cs_registry_close(r);
}

int main(void)
{
	if (system("command -v redis-server >/dev/null 2>&1") != 0) {
		printf("1..0 # SKIP redis-server is not installed\n");
		return 0;
	}
	if (start_redis("cs-auth") != 0) {
		printf("1..1\nnot ok 1 - a private redis-server starts on a unix socket\n");
		stop_redis();
		return 1;
	}
	RUN(roles_parse);
	RUN(password_hashed_and_checked);
	RUN(wrong_password_twenty_times_locks);
	RUN(keys_stored_as_keyed_hash_only);
	RUN(key_lookup_is_by_hash_not_prefix);
	RUN(revoked_expired_malformed_keys);
	RUN(roles_allow);
	RUN(access_and_audit);
	RUN(gateway_decides_from_the_snapshot);
	RUN(gateway_hook_for_auth_request);
	RUN(gateway_rate_limit_across_processes);
	RUN(gateway_quota_meters_and_redis_down);
	stop_redis();
	return tap_done();
}
