/*
 * names.c - name validation (see names.h).
 */
#include <stddef.h>

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
