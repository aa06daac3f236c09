/*
 * test_hosts.c - host records and agent leases (runtime/registry/hosts.c)
 * against a real redis-server started privately on a unix socket (skipped
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

#include "registry/hosts.h"
#include "registry/registry.h"
#include "redis_fixture.h"
#include "tap.h"

/* A connection under its own prefix, with the schema set. */
static cs_registry *open_prefix(const char *prefix)
{
	cs_registry *r = NULL;
	char err[256];

	if (cs_registry_open(url, prefix, 2000, &r, err, sizeof err) != CS_OK ||
	    cs_registry_check_schema(r, 1) != CS_OK) {
		printf("# %s\n", r ? r->errstr : err);
		exit(1);
	}
	return r;
}

static json_t *host(cs_registry *r, const char *name)
{
	json_t *list = NULL, *h;
	size_t i;

	if (cs_hosts_list(r, &list) != CS_OK)
		return NULL;
	json_array_foreach(list, i, h)
		if (strcmp(json_string_value(json_object_get(h, "name")), name) == 0) {
			json_incref(h);
			json_decref(list);
			return h;
		}
	json_decref(list);
	return NULL;
}

static const char *s(json_t *o, const char *k)
{
	const char *v = json_string_value(json_object_get(o, k));

	return v ? v : "";
}

TEST(beat_registers_and_lists)
{
	cs_registry *r = open_prefix("t1:");
	cs_host_info a = {"node-a", "198.18.0.10", 8, 16LL << 30};
	cs_host_info b = {"node-b", NULL, 2, 1LL << 30};
	json_t *list = NULL, *h;

	REQUIRE(cs_host_beat(r, &a, "agent-1") == CS_OK);
	REQUIRE(cs_host_beat(r, &b, "agent-2") == CS_OK);
	REQUIRE(cs_hosts_list(r, &list) == CS_OK);
	CHECK(json_array_size(list) == 2);
	h = json_array_get(list, 0); /* sorted by name */
	CHECK_STR(s(h, "name"), "node-a");
	CHECK_STR(s(h, "address"), "198.18.0.10");
	CHECK_STR(s(h, "cores"), "8");
	CHECK_STR(s(h, "memory_bytes"), "17179869184");
	CHECK_STR(s(h, "agent"), "agent-1");
	CHECK_STR(s(h, "state"), "up");
	CHECK(json_is_true(json_object_get(h, "alive")));
	CHECK(json_integer_value(json_object_get(h, "lease_ms")) > 4000);
	CHECK(s(h, "started")[0] && s(h, "heartbeat")[0]);
	CHECK_STR(s(json_array_get(list, 1), "address"), "node-b"); /* the name by default */
	json_decref(list);
	cs_registry_close(r);
}

TEST(a_live_lease_refuses_another_agent)
{
	cs_registry *r = open_prefix("t2:");
	cs_host_info a = {"node-a", "10.0.0.1", 4, 1 << 30};
	json_t *h;
	char started[32];

	REQUIRE(cs_host_beat(r, &a, "agent-1") == CS_OK);
	h = host(r, "node-a");
	REQUIRE(h != NULL);
	snprintf(started, sizeof started, "%s", s(h, "started"));
	json_decref(h);
	CHECK(cs_host_beat(r, &a, "agent-2") == CS_REG_TAKEN);
	CHECK_HAS(r->errstr, "host node-a is held by the live agent agent-1");
	CHECK_HAS(r->errstr, "lease ends in");
	/* the holder renews; started stays */
	sleep_ms(5);
	CHECK(cs_host_beat(r, &a, "agent-1") == CS_OK);
	h = host(r, "node-a");
	REQUIRE(h != NULL);
	CHECK_STR(s(h, "started"), started);
	CHECK_STR(s(h, "agent"), "agent-1");
	json_decref(h);
	cs_registry_close(r);
}

TEST(a_lapsed_lease_is_down_and_can_be_taken)
{
	cs_registry *r = open_prefix("t3:");
	cs_host_info a = {"node-a", "10.0.0.1", 4, 1 << 30};
	const char *pexpire[] = {"PEXPIRE", "t3:hostlive:node-a", "1"};
	json_t *h;

	REQUIRE(cs_host_beat(r, &a, "agent-1") == CS_OK);
	/* the agent died: its lease runs out (shortened here instead of waiting 5 s) */
	cs_registry_free_reply(cs_registry_argv(r, 3, pexpire));
	sleep_ms(20);
	h = host(r, "node-a");
	REQUIRE(h != NULL);
	CHECK(json_is_false(json_object_get(h, "alive")));
	CHECK(json_integer_value(json_object_get(h, "lease_ms")) == 0);
	CHECK_STR(s(h, "agent"), "agent-1"); /* still listed, with its last beat */
	json_decref(h);
	CHECK(cs_host_beat(r, &a, "agent-2") == CS_OK);
	h = host(r, "node-a");
	REQUIRE(h != NULL);
	CHECK_STR(s(h, "agent"), "agent-2");
	CHECK(json_is_true(json_object_get(h, "alive")));
	json_decref(h);
	cs_registry_close(r);
}

TEST(release_and_forget)
{
	cs_registry *r = open_prefix("t4:");
	cs_host_info a = {"node-a", "10.0.0.1", 4, 1 << 30};
	json_t *h, *list = NULL;

	REQUIRE(cs_host_beat(r, &a, "agent-1") == CS_OK);
	CHECK(cs_host_forget(r, "node-a") == CS_REG_TAKEN);
	CHECK_HAS(r->errstr, "has a live agent");
	/* another agent's release leaves the lease alone */
	CHECK(cs_host_release(r, "node-a", "agent-2") == CS_OK);
	h = host(r, "node-a");
	REQUIRE(h != NULL);
	CHECK(json_is_true(json_object_get(h, "alive")));
	json_decref(h);
	CHECK(cs_host_release(r, "node-a", "agent-1") == CS_OK);
	h = host(r, "node-a");
	REQUIRE(h != NULL);
	CHECK(json_is_false(json_object_get(h, "alive")));
	CHECK_STR(s(h, "state"), "stopped");
	json_decref(h);
	CHECK(cs_host_forget(r, "node-a") == CS_OK);
	CHECK(cs_host_forget(r, "node-a") == CS_ENOTFOUND);
	CHECK_HAS(r->errstr, "no host named node-a");
	REQUIRE(cs_hosts_list(r, &list) == CS_OK);
	CHECK(json_array_size(list) == 0);
	json_decref(list);
	cs_registry_close(r);
}

TEST(bad_names_and_an_empty_registry)
{
	cs_registry *r = open_prefix("t5:");
	cs_registry *empty = NULL;
	char err[256];
	static const char *const bad[] = {"", "Node", "node_a", "-a", "a-", "a.b",
		"a234567890123456789012345678901234567890123456789012345678901234"};

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		cs_host_info h = {bad[i], "x", 1, 1};

		CHECK(!cs_host_name_valid(bad[i]));
		CHECK(cs_host_beat(r, &h, "agent") == CS_EINVAL);
	}
	CHECK(cs_host_name_valid("a") && cs_host_name_valid("node-1") && cs_host_name_valid("9z"));
	cs_registry_close(r);
	/* no schema: the registry is refused, nothing written */
	REQUIRE(cs_registry_open(url, "t5empty:", 2000, &empty, err, sizeof err) == CS_OK);
	{
		cs_host_info h = {"node-a", "x", 1, 1};

		CHECK(cs_host_beat(empty, &h, "agent") == CS_REG_SCHEMA);
	}
	cs_registry_close(empty);
}

TEST(agent_thread_beats_refuses_a_second_and_releases)
{
	cs_registry *r = open_prefix("t6:");
	cs_host_info a = {"node-a", "198.18.0.10", 2, 1 << 30};
	cs_host_agent *ag = NULL, *second = NULL;
	char err[512], beat1[32];
	json_t *h;
	int rc, cores;
	long long mem;

	cs_host_measure(&cores, &mem);
	CHECK(cores >= 1 && mem > 0);
	REQUIRE(cs_host_agent_start(url, "t6:", &a, &ag, err, sizeof err) == CS_OK);
	h = host(r, "node-a");
	REQUIRE(h != NULL);
	CHECK_STR(s(h, "agent"), cs_host_agent_id(ag));
	snprintf(beat1, sizeof beat1, "%s", s(h, "heartbeat"));
	json_decref(h);
	rc = cs_host_agent_start(url, "t6:", &a, &second, err, sizeof err);
	CHECK(rc == CS_REG_TAKEN && second == NULL);
	CHECK_HAS(err, "held by the live agent");
	sleep_ms(1600); /* at least one more beat */
	h = host(r, "node-a");
	REQUIRE(h != NULL);
	CHECK(strtoll(s(h, "heartbeat"), NULL, 10) > strtoll(beat1, NULL, 10));
	CHECK(json_is_true(json_object_get(h, "alive")));
	json_decref(h);
	CHECK(cs_host_agent_holds(ag));
	cs_host_agent_stop(ag);
	h = host(r, "node-a");
	REQUIRE(h != NULL);
	CHECK(json_is_false(json_object_get(h, "alive")));
	CHECK_STR(s(h, "state"), "stopped");
	json_decref(h);
	cs_registry_close(r);
}

int main(void)
{
	if (system("command -v redis-server >/dev/null 2>&1") != 0) {
		printf("1..0 # SKIP redis-server is not installed\n");
		return 0;
	}
	if (start_redis("cs-hosts") != 0) {
		printf("1..1\nnot ok 1 - a private redis-server starts on a unix socket\n");
		stop_redis();
		return 1;
	}
	RUN(beat_registers_and_lists);
	RUN(a_live_lease_refuses_another_agent);
	RUN(a_lapsed_lease_is_down_and_can_be_taken);
	RUN(release_and_forget);
	RUN(bad_names_and_an_empty_registry);
	RUN(agent_thread_beats_refuses_a_second_and_releases);
	stop_redis();
	return tap_done();
}
