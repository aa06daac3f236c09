/*
 * names.h - what a model, method or tag name may be. Pure; thread-safe.
 */
#ifndef CS_NAMES_H
#define CS_NAMES_H

/* Whether a name is a valid model or method name: [A-Za-z0-9_-], 1..64. */
int cs_name_valid(const char *name);

#endif
