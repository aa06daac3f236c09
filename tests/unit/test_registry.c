/*
 * test_registry.c - the registry against a real redis-server started
 * privately on a unix socket in a temp dir (skipped when redis-server is
 * not installed). Each test uses its own key prefix.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "core/names.h"
#include "registry/heartbeat.h"
#include "registry/registry.h"
#include "registry/store.h"
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

/* Publishes name@ver with one fake blob. */
static int publish(cs_registry *r, const char *name, const char *ver, const char *blob)
{
	json_t *v = json_pack("{s:s,s:s}", "plugin", "native", "blobs", "[]");
	json_t *tags = json_pack("[s,s]", "iris", "demo");
	char blobs[128];
	const char *list[1] = {blob};
	int rc;

	snprintf(blobs, sizeof blobs, "[\"%s\"]", blob);
	json_object_set_new(v, "blobs", json_string(blobs));
	rc = cs_registry_publish(r, name, ver, v, "desc", "ann", tags, list, 1);
	json_decref(v);
	json_decref(tags);
	return rc;
}

static const char *B1 = "1111111111111111111111111111111111111111111111111111111111111111";
static const char *B2 = "2222222222222222222222222222222222222222222222222222222222222222";

TEST(parse_url)
{
	char host[64], path[128], err[256];
	int port;

	CHECK(cs_registry_parse_url("redis://127.0.0.1:6380", host, sizeof host, &port, path,
				    sizeof path, err, sizeof err) == CS_OK);
	CHECK_STR(host, "127.0.0.1");
	CHECK(port == 6380 && path[0] == '\0');
	CHECK(cs_registry_parse_url("redis://localhost", host, sizeof host, &port, path,
				    sizeof path, err, sizeof err) == CS_OK);
	CHECK(port == 6379);
	CHECK(cs_registry_parse_url("unix:/run/r.sock", host, sizeof host, &port, path,
				    sizeof path, err, sizeof err) == CS_OK);
	CHECK_STR(path, "/run/r.sock");
	CHECK(cs_registry_parse_url("http://x", host, sizeof host, &port, path, sizeof path,
				    err, sizeof err) == CS_EINVAL);
	CHECK_HAS(err, "redis[s]://");
	CHECK(cs_registry_parse_url("redis://h:99999", host, sizeof host, &port, path,
				    sizeof path, err, sizeof err) == CS_EINVAL);
}

TEST(unreachable_names_the_address)
{
	cs_registry *r = NULL;
	char err[512];

	CHECK(cs_registry_open("unix:/nonexistent/redis.sock", NULL, 200, &r, err,
			       sizeof err) == CS_EUNAVAILABLE);
	CHECK(r == NULL);
	CHECK_HAS(err, "cannot reach Redis at unix:/nonexistent/redis.sock");
	CHECK_HAS(err, "unix socket");
}

TEST(schema_version)
{
	cs_registry *r = open_prefix("schema:");
	redisReply *rep;
	const char *set7[] = {"SET", "schema:schema", "7"};

	CHECK(cs_registry_check_schema(r, 0) == CS_ENOTFOUND);
	CHECK(cs_registry_check_schema(r, 1) == CS_OK);
	CHECK(cs_registry_check_schema(r, 0) == CS_OK);
	rep = cs_registry_argv(r, 3, set7);
	cs_registry_free_reply(rep);
	CHECK(cs_registry_check_schema(r, 1) == CS_REG_SCHEMA);
	CHECK_HAS(r->errstr, "schema version 7");
	/* writers refuse it too, and write nothing */
	CHECK(publish(r, "m", "1", B1) == CS_REG_SCHEMA);
	CHECK_HAS(r->errstr, "schema version 7");
	{
		const char *ex[] = {"EXISTS", "schema:model:m"};

		rep = cs_registry_argv(r, 2, ex);
		CHECK(rep && ((redisReply *)rep)->integer == 0);
		cs_registry_free_reply(rep);
	}
	cs_registry_close(r);
}

TEST(publish_once_and_read_back)
{
	cs_registry *r = open_prefix("pub:");
	json_t *m = NULL, *models = NULL, *tagged = NULL;
	const char *tags[] = {"iris"};

	CHECK(cs_registry_check_schema(r, 1) == CS_OK);
	CHECK(publish(r, "iris", "1.0", B1) == CS_OK);
	CHECK(publish(r, "iris", "1.0", B2) == CS_REG_EXISTS);
	CHECK_HAS(r->errstr, "already published");
	CHECK(publish(r, "iris", "2.0", B1) == CS_OK);
	CHECK(cs_registry_model(r, "iris", NULL, 1, &m) == CS_OK);
	CHECK_STR(json_string_value(json_object_get(m, "default")), "1.0");
	CHECK_STR(json_string_value(json_object_get(m, "latest")), "2.0");
	CHECK(json_array_size(json_object_get(m, "versions")) == 2);
	CHECK_STR(json_string_value(json_object_get(json_object_get(m, "record"), "plugin")), "native");
	CHECK_STR(json_string_value(json_object_get(m, "views")), "1");
	json_decref(m);
	CHECK(cs_registry_model(r, "iris", "9", 0, &m) == CS_ENOTFOUND);
	CHECK_HAS(r->errstr, "no version '9'");
	CHECK(cs_registry_model(r, "nosuch", NULL, 1, &m) == CS_ENOTFOUND);
	CHECK(cs_registry_models(r, &models) == CS_OK);
	CHECK(json_array_size(models) == 1);
	CHECK(cs_registry_tagged(r, tags, 1, &tagged) == CS_OK);
	CHECK(json_array_size(tagged) == 1);
	CHECK(cs_registry_set_default(r, "iris", "2.0") == CS_OK);
	CHECK(cs_registry_set_default(r, "iris", "3.0") == CS_ENOTFOUND);
	json_decref(models);
	json_decref(tagged);
	cs_registry_close(r);
}

TEST(remove_refuses_deployed_and_returns_orphans)
{
	cs_registry *r = open_prefix("rm:");
	json_t *orphans = NULL, *d, *m = NULL;

	CHECK(cs_registry_check_schema(r, 1) == CS_OK);
	CHECK(publish(r, "a", "1", B1) == CS_OK);
	CHECK(publish(r, "a", "2", B2) == CS_OK);
	CHECK(publish(r, "b", "1", B1) == CS_OK);
	d = json_pack("{s:s,s:s}", "version", "1", "state", "running");
	CHECK(cs_registry_deployment_put(r, "a", d) == CS_OK);
	json_object_set_new(d, "version", json_string("7"));
	CHECK(cs_registry_deployment_put(r, "a", d) == CS_ENOTFOUND); /* not published */
	json_decref(d);
	CHECK(cs_registry_remove(r, "a", NULL, 0, &orphans, NULL) == CS_REG_DEPLOYED);
	CHECK(cs_registry_remove(r, "a", "1", 0, &orphans, NULL) == CS_REG_DEPLOYED);
	/* version 2 is not the deployed one */
	CHECK(cs_registry_remove(r, "a", "2", 0, &orphans, NULL) == CS_OK);
	CHECK(json_array_size(orphans) == 1);
	CHECK_STR(json_string_value(json_array_get(orphans, 0)), B2);
	json_decref(orphans);
	/* B1 is still used by b@1: no orphan */
	CHECK(cs_registry_deployment_delete(r, "a") == CS_OK);
	CHECK(cs_registry_remove(r, "a", NULL, 0, &orphans, NULL) == CS_OK);
	CHECK(json_array_size(orphans) == 0);
	json_decref(orphans);
	CHECK(cs_registry_model(r, "a", NULL, 0, &m) == CS_ENOTFOUND);
	CHECK(cs_registry_remove(r, "b", "1", 0, &orphans, NULL) == CS_OK);
	CHECK(json_array_size(orphans) == 1);
	json_decref(orphans);
	CHECK(cs_registry_remove(r, "b", NULL, 0, &orphans, NULL) == CS_ENOTFOUND);
	cs_registry_close(r);
}

/* a version with a web folder of listing digest web */
static int publish_web(cs_registry *r, const char *name, const char *ver, const char *web)
{
	json_t *v = json_pack("{s:s,s:s,s:s}", "plugin", "native", "blobs", "[]", "web_sha256", web);
	int rc = cs_registry_publish(r, name, ver, v, "desc", "ann", NULL, NULL, 0);

	json_decref(v);
	return rc;
}

TEST(remove_web_folders)
{
	cs_registry *r = open_prefix("rmweb:");
	json_t *orphans = NULL, *webs = NULL;

	CHECK(cs_registry_check_schema(r, 1) == CS_OK);
	CHECK(publish_web(r, "a", "1", B1) == CS_OK);
	CHECK(publish_web(r, "a", "2", B1) == CS_OK);
	CHECK(publish_web(r, "b", "1", B2) == CS_OK);
	CHECK(publish_web(r, "c", "1", B2) == CS_OK);
	/* a@2 still shows B1's folder */
	CHECK(cs_registry_remove(r, "a", "1", 0, &orphans, &webs) == CS_OK);
	CHECK(json_array_size(webs) == 0);
	json_decref(orphans);
	json_decref(webs);
	CHECK(cs_registry_remove(r, "a", NULL, 0, &orphans, &webs) == CS_OK);
	CHECK(json_array_size(webs) == 1);
	CHECK_STR(json_string_value(json_array_get(webs, 0)), B1);
	json_decref(orphans);
	json_decref(webs);
	/* another model (c) shows the same folder as b */
	CHECK(cs_registry_remove(r, "b", NULL, 0, &orphans, &webs) == CS_OK);
	CHECK(json_array_size(webs) == 0);
	json_decref(orphans);
	json_decref(webs);
	CHECK(cs_registry_remove(r, "c", NULL, 0, NULL, &webs) == CS_OK);
	CHECK(json_array_size(webs) == 1);
	json_decref(webs);
	cs_registry_close(r);
}

TEST(rate_and_favorite)
{
	cs_registry *r = open_prefix("rate:");
	long long sum = 0, count = 0;

	CHECK(cs_registry_check_schema(r, 1) == CS_OK);
	CHECK(publish(r, "m", "1", B1) == CS_OK);
	CHECK(cs_registry_rate(r, "m", "ann", 4, &sum, &count) == CS_OK);
	CHECK(cs_registry_rate(r, "m", "bob", 2, &sum, &count) == CS_OK);
	CHECK(cs_registry_rate(r, "m", "ann", 5, &sum, &count) == CS_OK);
	CHECK(sum == 7 && count == 2);
	CHECK(cs_registry_rate(r, "m", "ann", 6, &sum, &count) == CS_EINVAL);
	CHECK(cs_registry_rate(r, "x", "ann", 3, &sum, &count) == CS_ENOTFOUND);
	CHECK(cs_registry_favorite(r, "m", "ann", 1, &count) == CS_OK && count == 1);
	CHECK(cs_registry_favorite(r, "m", "ann", 1, &count) == CS_OK && count == 1);
	CHECK(cs_registry_favorite(r, "m", "bob", 1, &count) == CS_OK && count == 2);
	CHECK(cs_registry_favorite(r, "m", "ann", 0, &count) == CS_OK && count == 1);
	cs_registry_close(r);
}

TEST(heartbeat_instances_expire)
{
	cs_registry *r = open_prefix("hb:");
	json_t *f = json_pack("{s:s,s:s}", "state", "ready", "pid", "42"), *insts = NULL, *m = NULL;
	const char *ttl[] = {"TTL", "hb:instance:m:h:42"};
	redisReply *rep;

	CHECK(cs_registry_check_schema(r, 1) == CS_OK);
	CHECK(publish(r, "m", "1", B1) == CS_OK);
	CHECK(cs_registry_heartbeat(r, "m", "h:42", f, 5) == CS_OK);
	CHECK(cs_registry_heartbeat(r, "gone", "h:43", f, 5) == CS_OK); /* no model: no count */
	rep = cs_registry_argv(r, 2, ttl);
	CHECK(rep && rep->integer > 0 && rep->integer <= CS_INSTANCE_TTL_SECONDS);
	cs_registry_free_reply(rep);
	CHECK(cs_registry_instances(r, "m", &insts) == CS_OK);
	CHECK(json_array_size(insts) == 1);
	json_decref(insts);
	CHECK(cs_registry_model(r, "m", NULL, 0, &m) == CS_OK);
	CHECK_STR(json_string_value(json_object_get(m, "calls")), "5");
	json_decref(m);
	CHECK(cs_registry_model(r, "gone", NULL, 0, &m) == CS_ENOTFOUND);
	CHECK(cs_registry_instance_delete(r, "m", "h:42") == CS_OK);
	CHECK(cs_registry_instances(r, "m", &insts) == CS_OK);
	CHECK(json_array_size(insts) == 0);
	json_decref(insts);
	json_decref(f);
	cs_registry_close(r);
}

static void figures(void *arg, cs_heartbeat_figures *f)
{
	(void)arg;
	f->requests = 12;
	f->p99_ms = 1.5;
}

TEST(heartbeat_thread_reports_and_cleans_up)
{
	cs_registry *r = open_prefix(CS_REGISTRY_PREFIX);
	cs_heartbeat_config c;
	cs_heartbeat *hb = NULL;
	json_t *insts = NULL;
	char err[256];

	CHECK(cs_registry_check_schema(r, 1) == CS_OK);
	memset(&c, 0, sizeof c);
	c.url = url;
	c.model = "t";
	c.version = "1";
	c.listen = "unix:/x.sock";
	c.figures = figures;
	c.interval_ms = 100;
	CHECK(cs_heartbeat_start(&c, &hb, err, sizeof err) == CS_OK);
	sleep_ms(400);
	CHECK(cs_registry_instances(r, "t", &insts) == CS_OK);
	CHECK(json_array_size(insts) == 1);
	CHECK_STR(json_string_value(json_object_get(json_array_get(insts, 0), "requests")), "12");
	CHECK_STR(json_string_value(json_object_get(json_array_get(insts, 0), "p99_ms")), "1.500");
	CHECK_STR(json_string_value(json_object_get(json_array_get(insts, 0), "listen")), "unix:/x.sock");
	json_decref(insts);
	cs_heartbeat_stop(hb);
	CHECK(cs_registry_instances(r, "t", &insts) == CS_OK);
	CHECK(json_array_size(insts) == 0);
	json_decref(insts);
	/* a registry that is down: start works, stop is prompt */
	c.url = "unix:/nonexistent/r.sock";
	CHECK(cs_heartbeat_start(&c, &hb, err, sizeof err) == CS_OK);
	sleep_ms(250);
	cs_heartbeat_stop(hb);
	cs_registry_close(r);
}

TEST(resolve_manifest_verifies_blobs)
{
	cs_registry *r = open_prefix(CS_REGISTRY_PREFIX);
	char store[128], mhex[CS_SHA256_HEX], whex[CS_SHA256_HEX], err[512], files[300], path[256];
	char *manifest = NULL, *ver = NULL;
	const char *blobs[2] = {mhex, whex};
	json_t *v, *tags = json_array();
	FILE *f;

	CHECK(cs_registry_check_schema(r, 1) == CS_OK);
	snprintf(store, sizeof store, "%s/store", dir);
	CHECK(cs_store_put_data(store, "{}", 2, mhex, NULL, err, sizeof err) == CS_OK);
	CHECK(cs_store_put_data(store, "W", 1, whex, NULL, err, sizeof err) == CS_OK);
	snprintf(files, sizeof files, "{\"model.json\": \"%s\", \"w.json\": \"%s\"}", mhex, whex);
	v = json_pack("{s:s,s:s}", "files", files, "manifest_file", "model.json");
	CHECK(cs_registry_publish(r, "res", "1", v, "", "", tags, blobs, 2) == CS_OK);
	CHECK(cs_registry_resolve_manifest(url, "res", store, &manifest, &ver, err, sizeof err) == CS_OK);
	CHECK_HAS(manifest, "/model.json");
	CHECK_STR(ver, "1");
	free(manifest);
	free(ver);
	CHECK(cs_registry_resolve_manifest(url, "res@2", store, &manifest, NULL, err, sizeof err) == CS_ENOTFOUND);
	CHECK_HAS(err, "no version '2'");
	CHECK(cs_registry_resolve_manifest(url, "bad name!", store, &manifest, NULL, err, sizeof err) == CS_EINVAL);
	/* a corrupt blob is refused, naming it */
	cs_store_blob_path(store, whex, path, sizeof path);
	chmod(path, 0644);
	f = fopen(path, "w");
	fputs("X", f);
	fclose(f);
	CHECK(cs_registry_resolve_manifest(url, "res@1", store, &manifest, NULL, err, sizeof err) == CS_EFORMAT);
	CHECK_HAS(err, "corrupt");
	CHECK(manifest == NULL);
	json_decref(v);
	json_decref(tags);
	cs_registry_close(r);
}

int main(void)
{
	if (system("command -v redis-server >/dev/null 2>&1") != 0) {
		printf("1..0 # SKIP redis-server is not installed\n");
		return 0;
	}
	if (start_redis("cs-reg") != 0) {
		printf("1..1\nnot ok 1 - a private redis-server starts on a unix socket\n");
		stop_redis();
		return 1;
	}
	RUN(parse_url);
	RUN(unreachable_names_the_address);
	RUN(schema_version);
	RUN(publish_once_and_read_back);
	RUN(remove_refuses_deployed_and_returns_orphans);
	RUN(remove_web_folders);
	RUN(rate_and_favorite);
	RUN(heartbeat_instances_expire);
	RUN(heartbeat_thread_reports_and_cleans_up);
	RUN(resolve_manifest_verifies_blobs);
	stop_redis();
	return tap_done();
}
