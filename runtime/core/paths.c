/*
 * paths.c - the binary's directory and the build tree (see paths.h).
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/paths.h"

#ifndef CS_BUILD_SRCDIR
#define CS_BUILD_SRCDIR ""
#endif

void cs_exe_dir(char *out, size_t len)
{
	ssize_t n = readlink("/proc/self/exe", out, len - 1);
	char *slash;

	if (n <= 0) {
		snprintf(out, len, ".");
		return;
	}
	out[n] = '\0';
	slash = strrchr(out, '/');
	if (slash)
		*slash = '\0';
}

int cs_in_build_tree(const char **srcdir)
{
	char exe[4096], p[4200];
	struct stat st;

	if (!CS_BUILD_SRCDIR[0])
		return 0;
	cs_exe_dir(exe, sizeof exe);
	snprintf(p, sizeof p, "%s/plugins", exe);
	if (stat(p, &st) != 0 || !S_ISDIR(st.st_mode))
		return 0;
	if (srcdir)
		*srcdir = CS_BUILD_SRCDIR;
	return 1;
}
