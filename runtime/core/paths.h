/*
 * paths.h - where a program's companions are: the directory of the running
 * binary, and whether it runs from a build tree (then its plugins and the
 * source tree's Lua library and nginx templates are used, so a build works
 * before `make install`).
 */
#ifndef CS_PATHS_H
#define CS_PATHS_H

#include <stddef.h>

/* The directory of the running binary into out ("." when unknown). */
void cs_exe_dir(char *out, size_t len);

/*
 * Whether the running binary is in a build tree: a plugins/ directory
 * beside it and the source tree known at build time. When it is, *srcdir
 * (when not NULL) is the source tree (static).
 */
int cs_in_build_tree(const char **srcdir);

#endif
