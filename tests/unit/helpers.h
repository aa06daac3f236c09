/*
 * helpers.h - shared by the unit tests that need files and the built tree.
 */
#ifndef CS_TEST_HELPERS_H
#define CS_TEST_HELPERS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* $CS_TOP_BUILDDIR / $CS_TOP_SRCDIR as set by the test environment, or ".". */
static inline const char *top_builddir(void)
{
	const char *d = getenv("CS_TOP_BUILDDIR");

	return d && *d ? d : ".";
}

static inline const char *top_srcdir(void)
{
	const char *d = getenv("CS_TOP_SRCDIR");

	return d && *d ? d : ".";
}

/* Writes text to dir/name and returns the path (a static buffer). */
static inline const char *write_file(const char *dir, const char *name,
				     const char *text)
{
	static char path[1024];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	f = fopen(path, "w");
	if (!f)
		abort();
	fputs(text, f);
	fclose(f);
	return path;
}

#endif
