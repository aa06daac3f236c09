/*
 * resolve.c - a worker started with --model NAME[@VERSION] finds its
 * manifest in the registry and its files in the store (see registry.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/names.h"
#include "registry/registry.h"
#include "registry/store.h"

int cs_registry_resolve_manifest(const char *url,
				 const char *model_at_version,
				 const char *store_dir, char **manifest_path,
				 char **version, char *err, size_t errlen)
{
	char name[80], ver[80];
	cs_registry *r = NULL;
	json_t *m = NULL, *rec, *files = NULL, *v;
	cs_store_file *list = NULL;
	const char *k, *mfile;
	char *store = NULL, *dir = NULL;
	size_t n = 0, len;
	int rc;

	*manifest_path = NULL;
	if (version)
		*version = NULL;
	rc = cs_model_ref_parse(model_at_version, name, sizeof name, ver,
				sizeof ver, err, errlen);
	if (rc != CS_OK)
		return rc;
	rc = cs_registry_open(url, NULL, 2000, &r, err, errlen);
	if (rc != CS_OK)
		return rc;
	rc = cs_registry_check_schema(r, 0);
	if (rc == CS_OK)
		rc = cs_registry_model(r, name, ver[0] ? ver : NULL, 0, &m);
	if (rc != CS_OK) {
		snprintf(err, errlen, "%s", r->errstr);
		goto out_close;
	}
	rec = json_object_get(m, "record");
	if (!rec) {
		snprintf(err, errlen, "model '%s' has no default version", name);
		rc = CS_ENOTFOUND;
		goto out_close;
	}
	files = json_loads(json_string_value(json_object_get(rec, "files")) ?
			   json_string_value(json_object_get(rec, "files")) : "",
			   0, NULL);
	mfile = json_string_value(json_object_get(rec, "manifest_file"));
	if (!json_is_object(files) || !mfile || !json_object_get(files, mfile)) {
		snprintf(err, errlen, "registry record of %s@%s has no valid 'files' and 'manifest_file' fields",
			 name, json_string_value(json_object_get(rec, "version")));
		rc = CS_EFORMAT;
		goto out_close;
	}
	list = calloc(json_object_size(files) + 1, sizeof *list);
	if (!list) {
		rc = CS_ENOMEM;
		goto out_close;
	}
	json_object_foreach(files, k, v) {
		list[n].name = k;
		list[n].sha256 = json_string_value(v);
		n++;
	}
	if (store_dir && *store_dir)
		store = strdup(store_dir);
	else if (getenv("CUBESERVE_STORE") && *getenv("CUBESERVE_STORE"))
		store = strdup(getenv("CUBESERVE_STORE"));
	else
		store = cs_registry_config_get(r, "store");
	if (!store) {
		snprintf(err, errlen, "no model store: the registry at %s names none (config field 'store') and CUBESERVE_STORE is not set",
			 r->url);
		rc = CS_ENOTFOUND;
		goto out_close;
	}
	rc = cs_store_tree(store, list, n, &dir, err, errlen);
	if (rc != CS_OK) {
		char inner[CS_ERROR_SIZE * 2];

		snprintf(inner, sizeof inner, "%s", err);
		snprintf(err, errlen, "%s@%s: %s", name,
			 json_string_value(json_object_get(rec, "version")), inner);
		goto out_close;
	}
	len = strlen(dir) + strlen(mfile) + 2;
	*manifest_path = malloc(len);
	if (!*manifest_path) {
		rc = CS_ENOMEM;
		goto out_close;
	}
	snprintf(*manifest_path, len, "%s/%s", dir, mfile);
	if (version)
		*version = strdup(json_string_value(json_object_get(rec, "version")));
out_close:
	free(dir);
	free(store);
	free(list);
	json_decref(files);
	json_decref(m);
	cs_registry_close(r);
	return rc;
}

