/*
 * test_registry_url.c - the registry address (runtime/registry/url.c):
 * every accepted form, the refusals, percent-decoding, and that no message
 * and no masked URL ever holds the password.
 */
#include <stdio.h>
#include <string.h>

#include <cubeserve/plugin.h>

#include "registry/registry.h"
#include "registry/tls.h"
#include "registry/url.h"
#include "tap.h"

static cs_registry_addr a;
static char err[512];

static int parse(const char *url)
{
	err[0] = '\0';
	return cs_registry_addr_parse(url, &a, err, sizeof err);
}

TEST(plain_forms)
{
	CHECK(parse("redis://127.0.0.1:6380") == CS_OK);
	CHECK_STR(a.host, "127.0.0.1");
	CHECK(a.port == 6380 && a.db == 0 && !a.tls && !a.user[0] && !a.password[0] && !a.path[0]);
	CHECK(parse("redis://localhost") == CS_OK);
	CHECK(a.port == 6379);
	CHECK(parse("redis://redis.example-1.svc/3") == CS_OK);
	CHECK_STR(a.host, "redis.example-1.svc");
	CHECK(a.port == 6379 && a.db == 3);
	CHECK(parse("redis://h:7000/") == CS_OK);
	CHECK(a.port == 7000 && a.db == 0);
	CHECK(parse("redis://[::1]:6390/1") == CS_OK);
	CHECK_STR(a.host, "::1");
	CHECK(a.port == 6390 && a.db == 1);
	CHECK(parse("unix:/run/r.sock") == CS_OK);
	CHECK_STR(a.path, "/run/r.sock");
	CHECK(parse("unix:///run/r.sock") == CS_OK);
	CHECK_STR(a.path, "/run/r.sock");
	CHECK(!a.host[0] && a.port == 0);
}

TEST(credentials)
{
	CHECK(parse("redis://alice:s3cret@10.0.0.5:6379/2") == CS_OK);
	CHECK_STR(a.user, "alice");
	CHECK_STR(a.password, "s3cret");
	CHECK_STR(a.host, "10.0.0.5");
	CHECK(a.db == 2);
	/* requirepass: no user */
	CHECK(parse("redis://:pw@h") == CS_OK);
	CHECK(!a.user[0]);
	CHECK_STR(a.password, "pw");
	/* percent-encoded '@', ':' and '/' in the password; the last '@' ends it */
	CHECK(parse("redis://bob:p%40ss%3Aw%2Fd@h:1") == CS_OK);
	CHECK_STR(a.user, "bob");
	CHECK_STR(a.password, "p@ss:w/d");
	CHECK(parse("redis://bob:a@b@h") == CS_OK);
	CHECK_STR(a.password, "a@b");
	CHECK_STR(a.host, "h");
	CHECK(parse("rediss://u:p@secure.example:6380/0") == CS_OK);
	CHECK(a.tls == 1 && a.port == 6380);
	CHECK_STR(a.host, "secure.example");
	/* unix sockets with a login and a database */
	CHECK(parse("unix://:pw@/run/r.sock") == CS_OK);
	CHECK_STR(a.path, "/run/r.sock");
	CHECK_STR(a.password, "pw");
	CHECK(parse("unix://carol:x%20y@/tmp/a@b/r.sock?db=4") == CS_OK);
	CHECK_STR(a.user, "carol");
	CHECK_STR(a.password, "x y");
	CHECK_STR(a.path, "/tmp/a@b/r.sock");
	CHECK(a.db == 4);
	CHECK(parse("unix://pw@/r.sock") == CS_OK); /* a bare password */
	CHECK_STR(a.password, "pw");
	cs_registry_addr_wipe(&a);
	CHECK(a.password[0] == '\0');
}

TEST(refusals_never_show_the_password)
{
	static const char *const bad[] = {
		"redis://u:TOPSECRET@h:99999", "redis://u:TOPSECRET@h:0", "redis://u:TOPSECRET@h:x",
		"redis://u:TOPSECRET@/1", "redis://u:TOPSECRET@h/x", "redis://u:TOPSECRET@h/-1",
		"redis://u:TOPSECRET@h?x=1", "redis://u:TOPSECRET@[::1", "redis://u:TOPSECRET@h o",
		"redis://u:TOPSECRET%zz@h", "redis://u:TOPSECRET%00@h", "unix://u:TOPSECRET@/r?x=1",
		"unix://u:TOPSECRET@/r?db=x", "http://u:TOPSECRET@h", "redis://u:@h",
		"redis://TOPSECRET@h", "",
	};

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int rc = parse(bad[i]);

		if (rc != CS_EINVAL || strstr(err, "TOPSECRET") || !strstr(err, "expected")) {
			printf("#   '%s': rc %d, err '%s'\n", bad[i], rc, err);
			CHECK(0);
		}
		CHECK(a.password[0] == '\0');
	}
	CHECK(parse("redis://u:TOPSECRET@h:99999") == CS_EINVAL);
	CHECK_HAS(err, "redis://u:***@h:99999");
	CHECK_HAS(err, "port");
	CHECK(parse("ftp://x") == CS_EINVAL);
	CHECK_HAS(err, "unknown scheme");
}

TEST(mask)
{
	char out[256];

	CHECK_STR(cs_registry_url_mask("redis://alice:s3cret@h:1/2", out, sizeof out),
		  "redis://alice:***@h:1/2");
	CHECK_STR(cs_registry_url_mask("redis://:pw@h", out, sizeof out), "redis://:***@h");
	CHECK_STR(cs_registry_url_mask("rediss://u:a@b@h", out, sizeof out), "rediss://u:***@h");
	CHECK_STR(cs_registry_url_mask("unix://:pw@/r.sock", out, sizeof out), "unix://:***@/r.sock");
	CHECK_STR(cs_registry_url_mask("unix://pw@/r.sock", out, sizeof out), "unix://***@/r.sock");
	CHECK_STR(cs_registry_url_mask("redis://h:1", out, sizeof out), "redis://h:1");
	CHECK_STR(cs_registry_url_mask("unix:/run/r.sock", out, sizeof out), "unix:/run/r.sock");
	CHECK_STR(cs_registry_url_mask("unix:///a@b/r.sock", out, sizeof out), "unix:///a@b/r.sock");
	CHECK(cs_registry_url_has_secret("redis://u:p@h"));
	CHECK(cs_registry_url_has_secret("unix://:p@/r"));
	CHECK(!cs_registry_url_has_secret("redis://h"));
	CHECK(!cs_registry_url_has_secret("unix:/r"));
	/* truncation keeps the string terminated */
	CHECK(strlen(cs_registry_url_mask("redis://alice:s3cret@host", out, 10)) == 9);
}

TEST(open_masks_and_refuses_tls_without_it)
{
	cs_registry *r = NULL;
	char e[512];
	int rc;

	/* nothing listens on port 1 of loopback */
	rc = cs_registry_open("redis://alice:TOPSECRET@127.0.0.1:1/0", NULL, 200, &r, e, sizeof e);
	CHECK(rc == CS_EUNAVAILABLE && r == NULL);
	CHECK(strstr(e, "TOPSECRET") == NULL);
	CHECK_HAS(e, "redis://alice:***@127.0.0.1:1/0");
	rc = cs_registry_open("rediss://alice:TOPSECRET@127.0.0.1:1", NULL, 200, &r, e, sizeof e);
	CHECK(strstr(e, "TOPSECRET") == NULL);
	if (cs_registry_tls_available()) {
		CHECK(rc == CS_EUNAVAILABLE);
	} else {
		CHECK(rc == CS_EUNSUPPORTED);
		CHECK_HAS(e, "hiredis_ssl");
	}
}

int main(void)
{
	RUN(plain_forms);
	RUN(credentials);
	RUN(refusals_never_show_the_password);
	RUN(mask);
	RUN(open_masks_and_refuses_tls_without_it);
	return tap_done();
}
