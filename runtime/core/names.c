/*
 * names.c - name validation (see names.h).
 */
#include <stdio.h>
#include <string.h>

#include <cubeserve/plugin.h>

#include "core/names.h"

int cs_name_valid(const char *name)
{
	size_t n = 0;

	if (!name)
		return 0;
	for (const char *p = name; *p; p++, n++) {
		char c = *p;

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '-'))
			return 0;
	}
	return n >= 1 && n <= 64;
}

int cs_model_ref_parse(const char *ref, char *name, size_t namelen,
		       char *version, size_t versionlen, char *err,
		       size_t errlen)
{
	const char *at = ref ? strchr(ref, '@') : NULL;
	size_t n = at ? (size_t)(at - ref) : (ref ? strlen(ref) : 0);

	if (!ref || n == 0 || n >= namelen) {
		snprintf(err, errlen, "'%s': expected a model NAME or NAME@VERSION",
			 ref ? ref : "");
		return CS_EINVAL;
	}
	memcpy(name, ref, n);
	name[n] = '\0';
	if (!cs_name_valid(name)) {
		snprintf(err, errlen, "'%s': a model name is 1 to 64 letters, digits, '_' and '-'", name);
		return CS_EINVAL;
	}
	version[0] = '\0';
	if (at) {
		if (!at[1] || strlen(at + 1) >= versionlen || strlen(at + 1) > 64 ||
		    at[1 + strspn(at + 1, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._+-")]) {
			snprintf(err, errlen, "'%s': a version is 1 to 64 letters, digits and '. _ + -'", ref);
			return CS_EINVAL;
		}
		snprintf(version, versionlen, "%s", at + 1);
	}
	return CS_OK;
}
