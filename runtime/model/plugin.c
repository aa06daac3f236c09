/*
 * plugin.c - dlopen a backend and check its ABI (see plugin.h).
 */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/plugin.h"

#ifndef CS_PLUGIN_DIR
#define CS_PLUGIN_DIR "/usr/local/lib/cubeserve/plugins"
#endif

const char *cs_plugin_dir(const char *dir)
{
	const char *env;

	if (dir && *dir)
		return dir;
	env = getenv("CUBESERVE_PLUGIN_DIR");
	if (env && *env)
		return env;
	return CS_PLUGIN_DIR;
}

/* Opens one file and checks it. */
static int open_file(const char *path, cs_plugin_handle **out, char *err,
		     size_t errlen)
{
	cs_plugin_entry_fn entry;
	const cs_plugin *api;
	cs_plugin_handle *h;
	void *dl;
	int rc;

	dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!dl) {
		snprintf(err, errlen, "cannot load plugin '%s': %s", path,
			 dlerror());
		return CS_EIO;
	}
	*(void **)&entry = dlsym(dl, CS_PLUGIN_ENTRY_NAME);
	if (!entry) {
		snprintf(err, errlen,
			 "'%s' is not a cubeserve plugin: it has no '%s' symbol",
			 path, CS_PLUGIN_ENTRY_NAME);
		rc = CS_EFORMAT;
		goto out_close_dl;
	}
	api = entry();
	if (!api) {
		snprintf(err, errlen, "plugin '%s': %s() returned NULL", path,
			 CS_PLUGIN_ENTRY_NAME);
		rc = CS_EFORMAT;
		goto out_close_dl;
	}
	if (CS_PLUGIN_ABI_VERSION_MAJOR(api->abi_version) !=
	    CS_PLUGIN_ABI_MAJOR) {
		snprintf(err, errlen,
			 "plugin '%s' is not binary compatible: built for plugin ABI %u.%u, this runtime has ABI %u.%u",
			 path, CS_PLUGIN_ABI_VERSION_MAJOR(api->abi_version),
			 CS_PLUGIN_ABI_VERSION_MINOR(api->abi_version),
			 (unsigned)CS_PLUGIN_ABI_MAJOR,
			 (unsigned)CS_PLUGIN_ABI_MINOR);
		rc = CS_EABI;
		goto out_close_dl;
	}
	/* ABI 1.0 ends after unload */
	if (api->struct_size <
	    offsetof(cs_plugin, unload) + sizeof(api->unload)) {
		snprintf(err, errlen,
			 "plugin '%s' is not binary compatible: its table is %u bytes, ABI %u.0 needs at least %zu",
			 path, api->struct_size, (unsigned)CS_PLUGIN_ABI_MAJOR,
			 offsetof(cs_plugin, unload) + sizeof(api->unload));
		rc = CS_EABI;
		goto out_close_dl;
	}
	if (!api->load || !api->describe || !api->infer || !api->unload) {
		snprintf(err, errlen,
			 "plugin '%s' is incomplete: load, describe, infer and unload are required",
			 path);
		rc = CS_EFORMAT;
		goto out_close_dl;
	}
	h = calloc(1, sizeof(*h));
	if (!h || !(h->path = strdup(path))) {
		free(h);
		snprintf(err, errlen, "plugin '%s': out of memory", path);
		rc = CS_ENOMEM;
		goto out_close_dl;
	}
	h->dl = dl;
	h->api = api;
	*out = h;
	return CS_OK;

out_close_dl:
	dlclose(dl);
	return rc;
}

int cs_plugin_open(const char *name_or_path, const char *plugin_dir,
		   const char *base_dir, cs_plugin_handle **out, char *err,
		   size_t errlen)
{
	char path[PATH_MAX], alt[PATH_MAX];
	const char *dir = cs_plugin_dir(plugin_dir);

	if (strchr(name_or_path, '/')) {
		if (name_or_path[0] == '/' || !base_dir)
			snprintf(path, sizeof path, "%s", name_or_path);
		else
			snprintf(path, sizeof path, "%s/%s", base_dir,
				 name_or_path);
		if (access(path, R_OK) != 0) {
			snprintf(err, errlen, "cannot read plugin '%s': %s",
				 path, strerror(errno));
			return CS_EIO;
		}
		return open_file(path, out, err, errlen);
	}
	snprintf(path, sizeof path, "%s/%s.so", dir, name_or_path);
	if (access(path, R_OK) == 0)
		return open_file(path, out, err, errlen);
	snprintf(alt, sizeof alt, "%s/%s/.libs/%s.so", dir, name_or_path,
		 name_or_path);
	if (access(alt, R_OK) == 0)
		return open_file(alt, out, err, errlen);
	snprintf(err, errlen,
		 "plugin '%s' not found: no %s (set --plugin-dir or CUBESERVE_PLUGIN_DIR)",
		 name_or_path, path);
	return CS_ENOTFOUND;
}

void cs_plugin_close(cs_plugin_handle *h)
{
	if (!h)
		return;
	if (h->dl)
		dlclose(h->dl);
	free(h->path);
	free(h);
}

const char *cs_plugin_info(const cs_plugin *api, void *model)
{
	if (api->struct_size < offsetof(cs_plugin, info) + sizeof(api->info) ||
	    !api->info || !model)
		return NULL;
	return api->info(model);
}
