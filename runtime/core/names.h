/*
 * names.h - what a model, method or tag name may be, and NAME@VERSION
 * references. Pure; thread-safe.
 */
#ifndef CS_NAMES_H
#define CS_NAMES_H

#include <stddef.h>

/* Whether a name is a valid model or method name: [A-Za-z0-9_-], 1..64. */
int cs_name_valid(const char *name);

/*
 * Splits "NAME[@VERSION]" into its parts (copied into name and version;
 * version "" when absent). Returns CS_OK or CS_EINVAL with err.
 */
int cs_model_ref_parse(const char *ref, char *name, size_t namelen,
		       char *version, size_t versionlen, char *err,
		       size_t errlen);

#endif
