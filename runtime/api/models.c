/*
 * models.c - /api/models: the market's list, one model, its ratings,
 * favourites and comments, set-default, remove and publish by upload.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <hiredis/hiredis.h>

#include "api/api.h"
#include "registry/comments.h"
#include "registry/store.h"
#include "registry/webstore.h"

/* A string field of an object, or def. */
static const char *sfield(const json_t *o, const char *k, const char *def)
{
	const char *v = json_string_value(json_object_get(o, k));

	return v ? v : def;
}

static long long nfield(const json_t *o, const char *k)
{
	const char *v = sfield(o, k, NULL);

	return v ? strtoll(v, NULL, 10) : 0;
}

/* A JSON-valued string field parsed (new), or a new empty array. */
static json_t *jfield(const json_t *o, const char *k)
{
	const char *v = sfield(o, k, NULL);
	json_t *j = v && *v ? json_loads(v, JSON_DECODE_ANY, NULL) : NULL;

	return j ? j : json_array();
}

/* The first sentence or line of a description, at most 160 bytes. */
static json_t *summary(const char *d)
{
	char buf[164];
	size_t n = strcspn(d, "\n");

	if (n > 160)
		n = 160;
	memcpy(buf, d, n);
	buf[n] = '\0';
	return json_string(buf);
}

/* The store directory (registry config or $CUBESERVE_STORE), or NULL. */
static char *store_dir(cs_registry *r)
{
	const char *e = getenv("CUBESERVE_STORE");

	if (e && *e)
		return strdup(e);
	return cs_registry_config_get(r, "store");
}

/* HGET of one field (a new string) or NULL. */
static char *hget(cs_registry *r, const char *key, const char *field)
{
	const char *argv[] = {"HGET", key, field};
	redisReply *rep = cs_registry_argv(r, 3, argv);
	char *v = NULL;

	if (rep && rep->type == REDIS_REPLY_STRING)
		v = strdup(rep->str);
	cs_registry_free_reply(rep);
	return v;
}

/* The market card of one model hash m (borrowed), deployments by name. */
static json_t *card(cs_registry *r, json_t *m, json_t *deps)
{
	const char *name = sfield(m, "name", "");
	long long sum = nfield(m, "rating_sum"), cnt = nfield(m, "rating_count");
	json_t *dep = json_object_get(deps, name), *c;
	char key[256], *web;

	cs_registry_key(r, key, sizeof key, "version:%s:%s", name, sfield(m, "default", ""));
	web = hget(r, key, "web_files");
	c = json_pack("{s:s,s:o,s:s,s:o,s:s,s:f,s:I,s:I,s:I,s:I,s:I,s:I,s:s,s:s,s:b,s:s,s:b}",
		      "name", name,
		      "summary", summary(sfield(m, "description", "")),
		      "description", sfield(m, "description", ""),
		      "tags", jfield(m, "tags"),
		      "owner", sfield(m, "owner", ""),
		      "rating", cnt ? (double)sum / (double)cnt : 0.0,
		      "rating_count", (json_int_t)cnt,
		      "favorites", (json_int_t)nfield(m, "favorites"),
		      "calls", (json_int_t)nfield(m, "calls"),
		      "views", (json_int_t)nfield(m, "views"),
		      "created", (json_int_t)nfield(m, "created"),
		      "updated", (json_int_t)nfield(m, "updated"),
		      "default", sfield(m, "default", ""),
		      "latest", sfield(m, "latest", ""),
		      "deployed", dep != NULL,
		      "state", dep ? sfield(dep, "state", "") : "",
		      "web", web && strcmp(web, "{}") != 0);
	free(web);
	return c;
}

/* Whether model name is public (always, with auth off). */
static int is_public(api_req *q, const char *name)
{
	int pub = 1;

	if (q->auth_on && q->ctx->reg &&
	    cs_auth_access(q->ctx->reg, name, &pub, NULL, 0) != CS_OK)
		pub = 0;
	return pub;
}

/* 404 for a model the asker may not see (as for one that does not exist). */
static int hidden(api_req *q, const char *name)
{
	if (api_can_read(q, name))
		return 0;
	api_error(q, 404, "no model named %s", name);
	return 1;
}

/* Case-insensitive substring. */
static int has_text(const char *hay, const char *needle)
{
	size_t n = strlen(needle);

	if (n == 0)
		return 1;
	for (; *hay; hay++)
		if (strncasecmp(hay, needle, n) == 0)
			return 1;
	return 0;
}

static int matches(json_t *c, const char *text)
{
	size_t i;
	json_t *t;

	if (has_text(json_string_value(json_object_get(c, "name")), text) ||
	    has_text(json_string_value(json_object_get(c, "description")), text) ||
	    has_text(json_string_value(json_object_get(c, "owner")), text))
		return 1;
	json_array_foreach(json_object_get(c, "tags"), i, t)
		if (json_is_string(t) && has_text(json_string_value(t), text))
			return 1;
	return 0;
}

static int has_tag(json_t *c, const char *tag)
{
	size_t i;
	json_t *t;

	json_array_foreach(json_object_get(c, "tags"), i, t)
		if (json_is_string(t) && strcmp(json_string_value(t), tag) == 0)
			return 1;
	return 0;
}

static const char *sort_key;

static double num(json_t *c, const char *k)
{
	return json_number_value(json_object_get(c, k));
}

static int cmp_cards(const void *a, const void *b)
{
	json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
	double dx, dy;

	if (strcmp(sort_key, "name") == 0)
		return strcmp(json_string_value(json_object_get(x, "name")),
			      json_string_value(json_object_get(y, "name")));
	if (strcmp(sort_key, "newest") == 0) {
		dx = num(x, "created");
		dy = num(y, "created");
	} else if (strcmp(sort_key, "rating") == 0) {
		dx = num(x, "rating") * 1e6 + num(x, "rating_count");
		dy = num(y, "rating") * 1e6 + num(y, "rating_count");
	} else {
		dx = num(x, sort_key);
		dy = num(y, sort_key);
	}
	if (dx != dy)
		return dx < dy ? 1 : -1;
	return strcmp(json_string_value(json_object_get(x, "name")),
		      json_string_value(json_object_get(y, "name")));
}

/* A true/false query parameter: 1, 0, or -1 when absent; -2 when bad. */
static int bool_param(const api_req *q, const char *k)
{
	char buf[16];

	if (!api_query(q, k, 0, buf, sizeof buf))
		return -1;
	if (strcmp(buf, "true") == 0 || strcmp(buf, "1") == 0)
		return 1;
	if (strcmp(buf, "false") == 0 || strcmp(buf, "0") == 0)
		return 0;
	return -2;
}

static int int_param(const api_req *q, const char *k, long def, long lo, long hi,
		     long *out)
{
	char buf[32], *end;
	long v;

	if (!api_query(q, k, 0, buf, sizeof buf)) {
		*out = def;
		return 0;
	}
	v = strtol(buf, &end, 10);
	if (!buf[0] || *end || v < lo || v > hi) {
		api_error((api_req *)q, 400, "query parameter %s must be a whole number %ld..%ld, got '%s'",
			  k, lo, hi, buf);
		return -1;
	}
	*out = v;
	return 0;
}

/* Deployments as an object name -> hash (new), or NULL (error sent). */
static json_t *deployments_by_name(api_req *q, cs_registry *r)
{
	json_t *deps, *by, *d;
	size_t i;

	if (cs_registry_deployments(r, &deps) != CS_OK) {
		api_reg_error(q);
		return NULL;
	}
	by = json_object();
	json_array_foreach(deps, i, d)
		json_object_set(by, sfield(d, "name", ""), d);
	json_decref(deps);
	return by;
}

void api_models_list(api_req *q)
{
	static const char *const sorts[] = {"newest", "rating", "favorites", "calls", "name", NULL};
	char text[256], sort[32], owner[128], tags[8][80], hdr[256];
	cs_registry *r = api_reg(q);
	json_t *models = NULL, *deps = NULL, *cards, *m, *page;
	json_t **v = NULL;
	long pg, per;
	size_t i, nt = 0, nv = 0;
	int deployed, web, ok = 0;

	if (!r)
		return;
	if (!api_query(q, "q", 0, text, sizeof text))
		text[0] = '\0';
	if (!api_query(q, "sort", 0, sort, sizeof sort))
		snprintf(sort, sizeof sort, "name");
	for (const char *const *s = sorts; *s; s++)
		ok |= strcmp(*s, sort) == 0;
	if (!ok) {
		api_error(q, 400, "sort must be one of newest, rating, favorites, calls, name; got '%s'", sort);
		return;
	}
	if (!api_query(q, "owner", 0, owner, sizeof owner))
		owner[0] = '\0';
	while (nt < 8 && api_query(q, "tag", (int)nt, tags[nt], sizeof tags[nt]))
		nt++;
	deployed = bool_param(q, "deployed");
	web = bool_param(q, "web");
	if (deployed == -2 || web == -2) {
		api_error(q, 400, "deployed and web take true or false");
		return;
	}
	if (int_param(q, "page", 1, 1, 1000000, &pg) || int_param(q, "per_page", 12, 1, 100, &per))
		return;
	if (cs_registry_models(r, &models) != CS_OK) {
		if (r->err == CS_ENOTFOUND) {
			api_send_h(q, 200, "X-Total-Count: 0\r\n", json_array());
			return;
		}
		api_reg_error(q);
		return;
	}
	if (!(deps = deployments_by_name(q, r)))
		goto out;
	cards = json_array();
	json_array_foreach(models, i, m) {
		json_t *c;
		size_t k;

		if (!api_can_read(q, sfield(m, "name", "")))
			continue;
		c = card(r, m, deps);
		json_object_set_new(c, "public", json_boolean(is_public(q, sfield(m, "name", ""))));

		for (k = 0; k < nt; k++)
			if (!has_tag(c, tags[k]))
				break;
		if (k < nt || !matches(c, text) ||
		    (owner[0] && strcmp(owner, sfield(c, "owner", "")) != 0) ||
		    (deployed >= 0 && json_is_true(json_object_get(c, "deployed")) != deployed) ||
		    (web >= 0 && json_is_true(json_object_get(c, "web")) != web)) {
			json_decref(c);
			continue;
		}
		json_array_append_new(cards, c);
	}
	nv = json_array_size(cards);
	v = calloc(nv ? nv : 1, sizeof *v);
	for (i = 0; i < nv; i++)
		v[i] = json_array_get(cards, i);
	sort_key = sort;
	qsort(v, nv, sizeof *v, cmp_cards);
	page = json_array();
	for (i = (size_t)((pg - 1) * per); i < nv && i < (size_t)(pg * per); i++)
		json_array_append(page, v[i]);
	snprintf(hdr, sizeof hdr, "X-Total-Count: %zu\r\nX-Page: %ld\r\nX-Per-Page: %ld\r\n", nv, pg, per);
	api_send_h(q, 200, hdr, page);
	free(v);
	json_decref(cards);
out:
	json_decref(deps);
	json_decref(models);
}

/* The files of a version record: [{name, sha256, size}]. */
static json_t *files_of(const char *store, json_t *rec, const char *field)
{
	json_t *files = jfield(rec, field), *out = json_array(), *sha;
	const char *fname;

	if (json_is_object(files)) {
		json_object_foreach(files, fname, sha) {
			char p[PATH_MAX];
			struct stat sb;
			json_int_t size = -1;

			if (store && json_is_string(sha)) {
				cs_store_blob_path(store, json_string_value(sha), p, sizeof p);
				if (stat(p, &sb) == 0)
					size = (json_int_t)sb.st_size;
			}
			json_array_append_new(out, json_pack("{s:s,s:O,s:I}", "name", fname, "sha256",
							     sha, "size", size));
		}
	}
	json_decref(files);
	return out;
}

void api_model_get(api_req *q, const char *name)
{
	char ver[80], key[256];
	cs_registry *r = api_reg(q);
	json_t *m = NULL, *rec, *out, *vers, *v, *deps, *dep, *manifest;
	const char *u = q->user;
	char *store, *mine;
	size_t i;
	int fav = 0;

	if (!r || hidden(q, name))
		return;
	if (api_query(q, "version", 0, ver, sizeof ver) && !api_version_ok(ver)) {
		api_error(q, 400, "'%s' is not a version", ver);
		return;
	}
	if (cs_registry_model(r, name, api_query(q, "version", 0, ver, sizeof ver) ? ver : NULL, 1,
			      &m) != CS_OK) {
		api_reg_error(q);
		return;
	}
	if (!(deps = deployments_by_name(q, r))) {
		json_decref(m);
		return;
	}
	out = card(r, m, deps);
	json_object_set_new(out, "public", json_boolean(is_public(q, name)));
	json_object_set_new(out, "accounts", json_boolean(q->auth_on));
	dep = json_object_get(deps, name);
	json_object_set(out, "deployment", dep ? dep : json_null());
	vers = json_array();
	json_array_foreach(json_object_get(m, "versions"), i, v) {
		json_t *o = json_deep_copy(v);

		json_object_set_new(o, "default", json_boolean(strcmp(sfield(v, "version", ""),
								      sfield(m, "default", "")) == 0));
		json_array_append_new(vers, o);
	}
	json_object_set_new(out, "versions", vers);
	cs_registry_key(r, key, sizeof key, "ratings:%s", name);
	mine = hget(r, key, u);
	json_object_set_new(out, "my_rating", json_integer(mine ? atoi(mine) : 0));
	free(mine);
	cs_registry_key(r, key, sizeof key, "favorites:%s", name);
	{
		const char *argv[] = {"SISMEMBER", key, u};
		redisReply *rep = cs_registry_argv(r, 3, argv);

		fav = rep && rep->integer == 1;
		cs_registry_free_reply(rep);
	}
	json_object_set_new(out, "my_favorite", json_boolean(fav));
	json_object_set_new(out, "user", json_string(u));

	rec = json_object_get(m, "record");
	store = store_dir(r);
	manifest = jfield(rec, "manifest");
	v = json_pack("{s:s,s:s,s:o,s:o,s:o,s:I,s:s,s:I,s:s,s:o,s:o}",
		      "version", sfield(rec, "version", ""),
		      "plugin", sfield(rec, "plugin", ""),
		      "inputs", jfield(rec, "inputs"),
		      "outputs", jfield(rec, "outputs"),
		      "files", files_of(store, rec, "files"),
		      "size", (json_int_t)nfield(rec, "size"),
		      "publisher", sfield(rec, "publisher", ""),
		      "published", (json_int_t)nfield(rec, "published"),
		      "description", sfield(rec, "description", ""),
		      "web_files", files_of(store, rec, "web_files"),
		      "public", json_is_object(manifest) && json_object_get(manifest, "public") ?
		      json_deep_copy(json_object_get(manifest, "public")) : json_array());
	{
		const char *ex = sfield(rec, "example", "");
		json_t *exj = *ex ? json_loads(ex, JSON_DECODE_ANY, NULL) : NULL;

		json_object_set_new(v, "example", exj ? exj : json_null());
	}
	json_object_set_new(v, "manifest", manifest);
	json_object_set_new(out, "version", v);
	json_object_set_new(out, "web_url", json_array_size(json_object_get(v, "web_files")) ?
			    json_sprintf("/models/%s/web/", name) : json_null());
	free(store);
	json_decref(deps);
	json_decref(m);
	api_send(q, 200, out);
}

void api_model_remove(api_req *q, const char *name, const char *version)
{
	cs_registry *r;
	json_t *orphans = NULL, *webs = NULL, *o;
	char *store, err[CS_ERROR_SIZE];
	size_t i, gone = 0, webs_gone = 0;

	if (!api_write_allowed(q, "model.manage", name) || !(r = api_reg(q)))
		return;
	if (cs_registry_remove(r, name, version, 0, &orphans, &webs) != CS_OK) {
		api_reg_error(q);
		return;
	}
	store = store_dir(r);
	if (store) {
		json_array_foreach(orphans, i, o)
			if (cs_store_remove(store, json_string_value(o), err, sizeof err) == CS_OK)
				gone++;
		json_array_foreach(webs, i, o)
			if (cs_web_remove(store, json_string_value(o), err, sizeof err) == CS_OK)
				webs_gone++;
	}
	free(store);
	api_send(q, 200, json_pack("{s:s,s:s?,s:I,s:I}", "removed", name, "version", version,
				   "blobs_deleted", (json_int_t)gone, "web_folders_deleted",
				   (json_int_t)webs_gone));
	json_decref(orphans);
	json_decref(webs);
}

void api_model_set_default(api_req *q, const char *name)
{
	cs_registry *r;
	json_t *b;
	const char *ver;

	if (!api_write_allowed(q, "model.manage", name) || !(b = api_json_body(q)))
		return;
	ver = json_string_value(json_object_get(b, "version"));
	if (!api_version_ok(ver)) {
		api_error(q, 400, "field 'version' must be a version string");
		return;
	}
	if (!(r = api_reg(q)))
		return;
	if (cs_registry_set_default(r, name, ver) != CS_OK) {
		api_reg_error(q);
		return;
	}
	api_send(q, 200, json_pack("{s:s,s:s}", "name", name, "default", ver));
}

void api_model_rate(api_req *q, const char *name)
{
	cs_registry *r;
	json_t *b, *st;
	long long sum = 0, count = 0;

	if (!api_write_allowed(q, "vote", name) || !(b = api_json_body(q)))
		return;
	st = json_object_get(b, "stars");
	if (!json_is_integer(st) || json_integer_value(st) < 1 || json_integer_value(st) > 5) {
		api_error(q, 400, "field 'stars' must be a whole number 1..5");
		return;
	}
	if (!(r = api_reg(q)))
		return;
	if (cs_registry_rate(r, name, q->user, (int)json_integer_value(st), &sum, &count) != CS_OK) {
		api_reg_error(q);
		return;
	}
	api_send(q, 200, json_pack("{s:s,s:s,s:I,s:f,s:I}", "name", name, "user", q->user,
				   "stars", json_integer_value(st), "rating",
				   count ? (double)sum / (double)count : 0.0, "rating_count",
				   (json_int_t)count));
}

void api_model_favorite(api_req *q, const char *name, int on)
{
	cs_registry *r;
	long long count = 0;

	if (!api_write_allowed(q, "vote", name) || !(r = api_reg(q)))
		return;
	if (cs_registry_favorite(r, name, q->user, on, &count) != CS_OK) {
		api_reg_error(q);
		return;
	}
	api_send(q, 200, json_pack("{s:s,s:s,s:b,s:I}", "name", name, "user", q->user,
				   "favorite", on, "favorites", (json_int_t)count));
}

void api_model_comments(api_req *q, const char *name)
{
	cs_registry *r = api_reg(q);
	json_t *c;

	if (!r || hidden(q, name))
		return;
	if (cs_registry_comments(r, name, &c) != CS_OK) {
		api_reg_error(q);
		return;
	}
	api_send(q, 200, c);
}

void api_model_comment_add(api_req *q, const char *name)
{
	cs_registry *r;
	json_t *b, *p;
	long long id = 0, parent = 0;
	const char *text;

	if (!api_write_allowed(q, "vote", name) || !(b = api_json_body(q)))
		return;
	text = json_string_value(json_object_get(b, "text"));
	p = json_object_get(b, "parent");
	if (!text) {
		api_error(q, 400, "field 'text' must be a string");
		return;
	}
	if (p && !json_is_null(p)) {
		if (!json_is_integer(p) || json_integer_value(p) < 0) {
			api_error(q, 400, "field 'parent' must be a comment id (a whole number) or absent");
			return;
		}
		parent = json_integer_value(p);
	}
	if (!(r = api_reg(q)))
		return;
	if (cs_registry_comment_add(r, name, q->user, text, parent, &id) != CS_OK) {
		api_reg_error(q);
		return;
	}
	api_send(q, 201, json_pack("{s:I,s:I,s:s,s:s}", "id", (json_int_t)id, "parent",
				   (json_int_t)parent, "user", q->user, "text", text));
}

void api_model_publish(api_req *q)
{
	char dir[PATH_MAX], id[17], err[CS_ERROR_SIZE * 2];
	char *model_dir = NULL;
	int st;

	if (!api_write_allowed(q, "model.publish", NULL))
		return;
	if (strncmp(q->ctype, "application/gzip", 16) != 0 &&
	    strncmp(q->ctype, "application/x-gzip", 18) != 0 &&
	    strncmp(q->ctype, "application/octet-stream", 24) != 0) {
		api_error(q, 415, "publish takes a .tar.gz of a model directory as the body (Content-Type: application/gzip), got '%s'",
			  q->ctype[0] ? q->ctype : "no Content-Type");
		return;
	}
	if (!q->body || q->body_len == 0) {
		api_error(q, 400, "the body is empty: send a .tar.gz of a model directory");
		return;
	}
	api_random_id(id);
	snprintf(dir, sizeof dir, "%s/api", q->ctx->run_dir);
	mkdir(dir, 0700);
	snprintf(dir, sizeof dir, "%s/api/uploads", q->ctx->run_dir);
	mkdir(dir, 0700);
	snprintf(dir, sizeof dir, "%s/api/uploads/%s", q->ctx->run_dir, id);
	if (mkdir(dir, 0700) != 0) {
		api_error(q, 500, "cannot create the upload folder '%s': %s", dir, strerror(errno));
		return;
	}
	st = api_untar(q->body, q->body_len, dir, q->ctx->max_upload * 4, &model_dir, err,
		       sizeof err);
	if (st != CS_OK) {
		api_rm_tree(dir);
		api_error(q, st == CS_ETOOLARGE ? 413 : 400, "the upload was refused, nothing was stored: %s", err);
		return;
	}
	/*
	 * A plugin given as a file would be a shared object from the upload,
	 * loaded by the test-load: over the network only installed plugins
	 * (named, no '/') are accepted. The rest of the manifest is checked
	 * by the publish's own step 1.
	 */
	{
		char mpath[PATH_MAX + 16];
		json_t *mf;
		const char *plugin;

		snprintf(mpath, sizeof mpath, "%s/model.json", model_dir);
		mf = json_load_file(mpath, 0, NULL);
		plugin = json_string_value(json_object_get(mf, "plugin"));
		if (plugin && strchr(plugin, '/')) {
			api_error(q, 400, "the upload was refused, nothing was stored: its plugin '%.200s' is a file; an uploaded model names an installed plugin (native, onnx, torch, ...)",
				  plugin);
			json_decref(mf);
			api_rm_tree(dir);
			free(model_dir);
			return;
		}
		json_decref(mf);
	}
	{
		const char *argv[] = {"publish", model_dir, NULL};
		char jid[17];

		if (api_job_start(q->ctx, "publish", "", argv, dir, q->have_who ? q->token : NULL, jid,
				  err, sizeof err) != 0) {
			api_rm_tree(dir);
			free(model_dir);
			api_error(q, 500, "cannot start the publish: %s", err);
			return;
		}
		char url[64];

		snprintf(url, sizeof url, "/api/jobs/%s", jid);
		api_send(q, 202, json_pack("{s:s,s:s,s:s}", "job", jid, "kind", "publish", "url", url));
	}
	free(model_dir);
}

void api_openapi(api_req *q, const char *name)
{
	char ver[80];
	cs_registry *r = api_reg(q);
	json_t *m = NULL, *doc;
	const char *v = api_query(q, "version", 0, ver, sizeof ver);

	if (!r || hidden(q, name))
		return;
	if (v && !api_version_ok(v)) {
		api_error(q, 400, "'%s' is not a version", v);
		return;
	}
	if (cs_registry_model(r, name, v, 0, &m) != CS_OK) {
		api_reg_error(q);
		return;
	}
	doc = api_openapi_doc(name, m, json_object_get(m, "record"));
	json_decref(m);
	api_send(q, 200, doc);
}

void api_model_unrouted(api_req *q, const char *name)
{
	char err[CS_ERROR_SIZE * 2];
	json_t *m = NULL;
	int rc;

	/*
	 * Never a 5xx for a path nobody serves: without the registry, say
	 * what nginx alone would (the model is not deployed here).
	 */
	if (!q->ctx->reg &&
	    cs_registry_open(q->ctx->registry_url, q->ctx->prefix, 1000, &q->ctx->reg, err,
			     sizeof err) != CS_OK)
		q->ctx->reg = NULL;
	if (!q->ctx->reg) {
		api_error(q, 404, "unknown model '%s': no model of that name is deployed on this server",
			  name);
		return;
	}
	rc = api_can_read(q, name) ? cs_registry_model(q->ctx->reg, name, NULL, 0, &m) : CS_ENOTFOUND;
	if (rc == CS_OK) {
		json_decref(m);
		api_error(q, 404, "model '%s' is published but not deployed on this server (cubeserve deploy %s)",
			  name, name);
		return;
	}
	if (rc != CS_ENOTFOUND) { /* a lost connection: the next call opens another */
		cs_registry_close(q->ctx->reg);
		q->ctx->reg = NULL;
		api_error(q, 404, "unknown model '%s': no model of that name is deployed on this server",
			  name);
		return;
	}
	api_error(q, 404, "unknown model '%s': no model of that name is published", name);
}
