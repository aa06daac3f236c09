/*
 * plugin.h (runtime) - finding, opening and checking a plugin (.so).
 */
#ifndef CS_RT_PLUGIN_H
#define CS_RT_PLUGIN_H

#include <stddef.h>

#include <cubeserve/plugin.h>

typedef struct cs_plugin_handle {
	void *dl;
	const cs_plugin *api;
	char *path; /* the file that was opened */
} cs_plugin_handle;

/*
 * The plugin directory to search: dir if not NULL, else the environment
 * variable CUBESERVE_PLUGIN_DIR, else the installed CS_PLUGIN_DIR.
 * Returns a borrowed, static or caller-owned string.
 */
const char *cs_plugin_dir(const char *dir);

/*
 * Finds and opens a plugin. name_or_path containing a '/' is a file path
 * (relative to base_dir when not absolute); otherwise a name looked up as
 * DIR/NAME.so and, in a build tree, DIR/NAME/.libs/NAME.so. Checks the
 * entry symbol, the ABI major version and the table size. On CS_OK *out
 * is a new handle (close with cs_plugin_close()); otherwise err names the
 * file (or the places searched) and the reason.
 */
int cs_plugin_open(const char *name_or_path, const char *plugin_dir,
		   const char *base_dir, cs_plugin_handle **out, char *err,
		   size_t errlen);

/*
 * The plugin's info() JSON for a loaded model, or NULL when the plugin has
 * none (an ABI 1.0 table, or a NULL member). Borrowed from the model.
 */
const char *cs_plugin_info(const cs_plugin *api, void *model);

/* Closes a plugin handle (dlclose). NULL is allowed. */
void cs_plugin_close(cs_plugin_handle *h);

#endif
