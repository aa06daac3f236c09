/*
 * publish.c - `cubeserve publish DIR`: validate, test-load, store,
 * register. Every step either completes or is undone: blobs this publish
 * added are deleted again when the version is not registered (unless a
 * registered version references them meanwhile).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "cli.h"
#include "model/manifest.h"
#include "registry/store.h"
#include "registry/webstore.h"

#define MAX_FILES 4

typedef struct stored {
	char name[256];       /* its name in the model directory */
	char sha[CS_SHA256_HEX];
	char role[16];        /* artifact, glue, plugin_file, manifest */
	int created;          /* this publish added the blob */
	size_t size;
} stored;

static const char *base_name(const char *p)
{
	const char *s = strrchr(p, '/');

	return s ? s + 1 : p;
}

/* A name for the file in the model directory, unique among those taken. */
static void unique_name(const char *want, const char *role, stored *files,
			size_t n, char *out, size_t len)
{
	int clash = strcmp(want, "model.json") == 0;

	for (size_t i = 0; i < n; i++)
		if (strcmp(files[i].name, want) == 0)
			clash = 1;
	if (clash)
		snprintf(out, len, "%s-%s", role, want);
	else
		snprintf(out, len, "%s", want);
}

/* Deletes blob sha (added by this publish) unless a registered version uses it. */
static void rollback_blob(cs_cli *cli, const char *sha)
{
	char key[256], err[CS_ERROR_SIZE];
	redisReply *rep = NULL;
	const char *argv[2] = {"SCARD", key};

	if (cli->reg) {
		cs_registry_key(cli->reg, key, sizeof key, "blob:%s", sha);
		rep = cs_registry_argv(cli->reg, 2, argv);
		if (!rep || rep->integer != 0) {
			cs_registry_free_reply(rep);
			return;
		}
		cs_registry_free_reply(rep);
	}
	cs_store_remove(cli->store, sha, err, sizeof err);
}

/* Deletes the blobs this publish added that no registered version uses. */
static void rollback(cs_cli *cli, stored *files, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (files[i].created)
			rollback_blob(cli, files[i].sha);
}

static int stat_file(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* Adds one file of the model to the store. */
static int store_file(cs_cli *cli, const char *src, const char *role,
		      stored *files, size_t *n)
{
	char err[CS_ERROR_SIZE * 2];
	stored *f = &files[*n];

	unique_name(base_name(src), role, files, *n, f->name, sizeof f->name);
	snprintf(f->role, sizeof f->role, "%s", role);
	if (cs_store_put_file(cli->store, src, f->sha, &f->created, err, sizeof err) != CS_OK) {
		cli_err(cli, "step 4 (store): %s", err);
		return CLI_FAIL;
	}
	{
		struct stat sb;

		f->size = stat(src, &sb) == 0 ? (size_t)sb.st_size : 0;
	}
	cli_step(cli, "      %-14s %s  %s%s", role, f->sha, f->name,
		 f->created ? "" : "  (already stored)");
	(*n)++;
	return CLI_OK;
}

int cli_publish(cs_cli *cli, const char *dir, int allow_existing,
		int *skipped, char *name_out, size_t namelen)
{
	char mpath[PATH_MAX], out[8192], err[CS_ERROR_SIZE * 4], key[512];
	char pfile[256], userhost[300], host[256], sizebuf[32];
	stored files[MAX_FILES];
	size_t nfiles = 0;
	cs_manifest *mf = NULL;
	json_t *orig = NULL, *vfields = NULL, *tags = NULL, *fobj = NULL, *blobs = NULL;
	json_t *web_files = NULL, *web_created = NULL;
	char web_sha[CS_SHA256_HEX] = "";
	const char **blob_list = NULL;
	char *mtext = NULL, *s;
	size_t total = 0;
	int rc = CLI_FAIL, st;
	struct stat sb;

	*skipped = 0;
	memset(files, 0, sizeof files);
	cli_registry_default(cli);
	if (stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode))
		snprintf(mpath, sizeof mpath, "%s/model.json", dir);
	else
		snprintf(mpath, sizeof mpath, "%s", dir);

	/* 1. the manifest */
	cli_step(cli, "[1/5] validate the manifest %s", mpath);
	if (cs_manifest_load(mpath, &mf, err, sizeof err) != CS_OK) {
		cli_err(cli, "step 1 (validate the manifest) failed: %s", err);
		return CLI_FAIL;
	}
	if (name_out)
		snprintf(name_out, namelen, "%s", mf->name);
	cli_step(cli, "      ok: %s version %s, plugin %s", mf->name, mf->version, mf->plugin);

	/* 2. the registry: reachable, known schema, version still free */
	cli_step(cli, "[2/5] check the registry at %s", cli_registry_shown(cli));
	rc = cli_registry(cli, 1);
	if (rc == CLI_OK)
		rc = cli_auth_publish(cli, mf->name, 0);
	if (rc != CLI_OK)
		goto out_free;
	cs_registry_key(cli->reg, key, sizeof key, "version:%s:%s", mf->name, mf->version);
	{
		const char *argv[2] = {"EXISTS", key};
		redisReply *rep = cs_registry_argv(cli->reg, 2, argv);

		if (!rep) {
			rc = cli_reg_fail(cli);
			goto out_free;
		}
		if (rep->integer == 1) {
			cs_registry_free_reply(rep);
			if (allow_existing) {
				*skipped = 1;
				cli_step(cli, "      %s@%s is already published: nothing to do", mf->name, mf->version);
				rc = CLI_OK;
				goto out_free;
			}
			cli_err(cli, "step 2 (check the registry): version %s of model %s is already published (publish a new version, or `cubeserve remove %s@%s` first)",
				mf->version, mf->name, mf->name, mf->version);
			rc = CLI_REFUSED;
			goto out_free;
		}
		cs_registry_free_reply(rep);
	}
	if (!cli_store(cli)) {
		rc = CLI_FAIL;
		goto out_free;
	}
	cli_step(cli, "      ok: schema %d, store %s", CS_REGISTRY_SCHEMA, cli->store);

	/* 3. test-load in a child process, and the example */
	cli_step(cli, "[3/5] test-load the model in a child process and run its example (%s --check)",
		 cli->worker);
	{
		char *argv[] = {cli->worker, "--manifest", mpath, "--check",
				"--plugin-dir", cli->plugin_dir, "--lua-dir",
				cli->lua_dir, "--log-level", "warn", NULL};

		st = cli_run(argv, out, sizeof out, 120000);
		if (st != 0) {
			s = out + strlen(out);
			while (s > out && s[-1] == '\n')
				*--s = '\0';
			cli_err(cli, "step 3 (test-load and run the example) failed (%s):\n%s",
				st < 0 ? "could not run the worker, or it took over 120 s" :
				st == 1 ? "exit 1" : "the worker crashed", out);
			rc = CLI_FAIL;
			goto out_free;
		}
		s = out + strlen(out);
		while (s > out && (s[-1] == '\n'))
			*--s = '\0';
		cli_step(cli, "      ok: %s", mf->example_json ? out : "loaded (no example in the manifest)");
	}

	/* 4. the store */
	cli_step(cli, "[4/5] store the files (sha256) in %s", cli->store);
	orig = json_load_file(mpath, JSON_REJECT_DUPLICATES, NULL);
	if (!orig) {
		cli_err(cli, "step 4 (store): cannot re-read %s", mpath);
		goto out_free;
	}
	if (mf->model_path) {
		if ((rc = store_file(cli, mf->model_path, "artifact", files, &nfiles)) != CLI_OK)
			goto out_rollback;
		json_object_set_new(orig, "model", json_string(files[nfiles - 1].name));
	}
	if (mf->glue_path) {
		if ((rc = store_file(cli, mf->glue_path, "glue", files, &nfiles)) != CLI_OK)
			goto out_rollback;
		json_object_set_new(orig, "glue", json_string(files[nfiles - 1].name));
	}
	if (strchr(mf->plugin, '/')) {
		char ppath[PATH_MAX * 2];

		if (mf->plugin[0] == '/')
			snprintf(ppath, sizeof ppath, "%s", mf->plugin);
		else
			snprintf(ppath, sizeof ppath, "%s/%s", mf->dir, mf->plugin);
		if (!stat_file(ppath)) {
			cli_err(cli, "step 4 (store): plugin file '%s' is not a file", ppath);
			rc = CLI_FAIL;
			goto out_rollback;
		}
		if ((rc = store_file(cli, ppath, "plugin_file", files, &nfiles)) != CLI_OK)
			goto out_rollback;
		snprintf(pfile, sizeof pfile, "./%s", files[nfiles - 1].name);
		json_object_set_new(orig, "plugin", json_string(pfile));
	}
	/* the stored manifest names the files as the model directory holds them */
	mtext = json_dumps(orig, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	if (!mtext)
		goto out_rollback;
	{
		stored *f = &files[nfiles];
		char e2[CS_ERROR_SIZE];

		snprintf(f->name, sizeof f->name, "model.json");
		if (cs_store_put_data(cli->store, mtext, strlen(mtext), f->sha, &f->created,
				      e2, sizeof e2) != CS_OK) {
			cli_err(cli, "step 4 (store): %s", e2);
			rc = CLI_FAIL;
			goto out_rollback;
		}
		f->size = strlen(mtext);
		cli_step(cli, "      %-14s %s  model.json%s", "manifest", f->sha,
			 f->created ? "" : "  (already stored)");
		nfiles++;
	}

	/* the demo page: a web/ folder beside the manifest, stored file by file */
	{
		char wdir[PATH_MAX * 2];

		snprintf(wdir, sizeof wdir, "%s/web", mf->dir);
		if (stat(wdir, &sb) == 0 && S_ISDIR(sb.st_mode)) {
			char e2[CS_ERROR_SIZE * 2];

			if (cs_web_store(cli->store, wdir, &web_files, &web_created, web_sha, e2,
					 sizeof e2) != CS_OK) {
				cli_err(cli, "step 4 (store): %s", e2);
				rc = CLI_FAIL;
				goto out_rollback;
			}
			cli_step(cli, "      %-14s %s  web/ (%zu files)", "web", web_sha,
				 json_object_size(web_files));
		}
	}

	/* 5. register, atomically */
	cli_step(cli, "[5/5] register %s@%s", mf->name, mf->version);
	fobj = json_object();
	blobs = json_array();
	blob_list = calloc(nfiles + json_object_size(web_files) + 1, sizeof *blob_list);
	if (!blob_list)
		goto out_rollback;
	for (size_t i = 0; i < nfiles; i++) {
		size_t j;

		json_object_set_new(fobj, files[i].name, json_string(files[i].sha));
		for (j = 0; j < i; j++)
			if (strcmp(files[j].sha, files[i].sha) == 0)
				break;
		if (j == i) {
			blob_list[json_array_size(blobs)] = files[i].sha;
			json_array_append_new(blobs, json_string(files[i].sha));
		}
		total += files[i].size;
	}
	if (web_files) {
		const char *wk;
		json_t *wv, *seen = json_object();
		size_t i;

		json_array_foreach(blobs, i, wv)
			json_object_set(seen, json_string_value(wv), json_true());
		json_object_foreach(web_files, wk, wv) {
			const char *h = json_string_value(wv);

			if (json_object_get(seen, h))
				continue;
			json_object_set(seen, h, json_true());
			json_array_append_new(blobs, json_string(h));
		}
		json_decref(seen);
		for (i = 0; i < json_array_size(blobs); i++)
			blob_list[i] = json_string_value(json_array_get(blobs, i));
	}
	vfields = json_object();
	json_object_set_new(vfields, "plugin", json_string(mf->plugin));
	json_object_set_new(vfields, "manifest_file", json_string("model.json"));
	json_object_set_new(vfields, "manifest_sha256", json_string(files[nfiles - 1].sha));
	json_object_set_new(vfields, "manifest", json_string(mtext));
	for (size_t i = 0; i + 1 < nfiles; i++) {
		char k[64];

		json_object_set_new(vfields, files[i].role, json_string(files[i].name));
		snprintf(k, sizeof k, "%s_sha256", files[i].role);
		json_object_set_new(vfields, k, json_string(files[i].sha));
	}
	s = json_dumps(fobj, JSON_COMPACT | JSON_SORT_KEYS);
	json_object_set_new(vfields, "files", json_string(s ? s : "{}"));
	free(s);
	s = json_dumps(blobs, JSON_COMPACT);
	json_object_set_new(vfields, "blobs", json_string(s ? s : "[]"));
	free(s);
	for (int k = 0; k < 2; k++) {
		json_t *io = json_object_get(orig, k ? "outputs" : "inputs");

		s = io ? json_dumps(io, JSON_COMPACT) : NULL;
		json_object_set_new(vfields, k ? "outputs" : "inputs", json_string(s ? s : "[]"));
		free(s);
	}
	{
		json_t *ex = json_object_get(orig, "example");
		char *exs = ex ? json_dumps(ex, JSON_COMPACT | JSON_ENCODE_ANY |
					   JSON_REAL_PRECISION(15)) : NULL;

		json_object_set_new(vfields, "example", json_string(exs ? exs : ""));
		free(exs);
	}
	snprintf(sizebuf, sizeof sizebuf, "%zu", mf->limits.max_body_bytes);
	json_object_set_new(vfields, "max_body_bytes", json_string(sizebuf));
	snprintf(sizebuf, sizeof sizebuf, "%llu", (unsigned long long)mf->limits.request_timeout_ms);
	json_object_set_new(vfields, "request_timeout_ms", json_string(sizebuf));
	snprintf(sizebuf, sizeof sizebuf, "%zu", total);
	json_object_set_new(vfields, "size", json_string(sizebuf));
	if (gethostname(host, sizeof host - 1) != 0)
		snprintf(host, sizeof host, "localhost");
	snprintf(userhost, sizeof userhost, "%s@%s", cli_user(NULL), host);
	json_object_set_new(vfields, "publisher", json_string(userhost));
	{
		struct timeval tv;

		gettimeofday(&tv, NULL);
		snprintf(sizebuf, sizeof sizebuf, "%lld",
			 (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000);
		json_object_set_new(vfields, "published", json_string(sizebuf));
	}
	json_object_set_new(vfields, "source", json_string(mf->dir));
	if (web_files) {
		s = json_dumps(web_files, JSON_COMPACT | JSON_SORT_KEYS);
		json_object_set_new(vfields, "web_files", json_string(s ? s : "{}"));
		free(s);
		json_object_set_new(vfields, "web_sha256", json_string(web_sha));
	}
	json_object_set_new(vfields, "description", json_string(mf->description));
	tags = json_array();
	for (size_t i = 0; i < mf->n_tags; i++)
		json_array_append_new(tags, json_string(mf->tags[i]));

	st = cs_registry_publish(cli->reg, mf->name, mf->version, vfields,
				 mf->description, mf->owner, tags, blob_list,
				 json_array_size(blobs));
	if (st != CS_OK) {
		if (st == CS_REG_EXISTS)
			cli_err(cli, "step 5 (register) refused: %s (another publish got there first); nothing was left behind",
				cli->reg->errstr);
		else
			cli_err(cli, "step 5 (register) failed: %s; nothing was left behind", cli->reg->errstr);
		rc = cli_exit_for(st);
		goto out_rollback;
	}
	cli_auth_publish(cli, mf->name, 1);
	cli_step(cli, "      ok: published %s@%s (%zu files, %zu bytes)", mf->name, mf->version,
		 nfiles, total);
	if (cli->json) {
		json_t *o = json_pack("{s:s,s:s,s:O,s:s}", "name", mf->name, "version",
				      mf->version, "files", fobj, "store", cli->store);

		cli_print_json(o);
		json_decref(o);
	}
	rc = CLI_OK;
	goto out_free;

out_rollback:
	rollback(cli, files, nfiles);
	{
		json_t *h;
		size_t i;

		json_array_foreach(web_created, i, h)
			rollback_blob(cli, json_string_value(h));
	}
out_free:
	free(blob_list);
	json_decref(web_files);
	json_decref(web_created);
	free(mtext);
	json_decref(orig);
	json_decref(vfields);
	json_decref(tags);
	json_decref(fobj);
	json_decref(blobs);
	cs_manifest_free(mf);
	return rc;
}

int cli_cmd_publish(cs_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"worker", required_argument, NULL, 'w'},
		{"plugin-dir", required_argument, NULL, 'P'},
		{"lua-dir", required_argument, NULL, 'L'},
		{NULL, 0, NULL, 0},
	};
	int c, skipped;

	while ((c = cli_getopt(cli, argc, argv, "", opts)) != -1) {
		switch (c) {
		case 'w': free(cli->worker); cli->worker = strdup(optarg); break;
		case 'P': free(cli->plugin_dir); cli->plugin_dir = strdup(optarg); break;
		case 'L': free(cli->lua_dir); cli->lua_dir = strdup(optarg); break;
		case CLI_OPT_HELP: return CLI_OK;
		default: return CLI_USAGE;
		}
	}
	if (argc - optind != 1) {
		cli_err(cli, "expected one model directory (see --help)");
		return CLI_USAGE;
	}
	return cli_publish(cli, argv[optind], 0, &skipped, NULL, 0);
}
