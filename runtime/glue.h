/*
 * glue.h - the Lua glue of one model: state, sandbox, budgets, calls.
 *
 * One cs_glue per thread that serves requests. Not thread-safe.
 */
#ifndef CS_GLUE_H
#define CS_GLUE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <lua.h>

#include <cubeserve/plugin.h>

struct cs_model;
struct cs_request;
struct cs_response;

typedef struct cs_glue cs_glue;

/*
 * Raises a glue error that carries a status (mapped to the HTTP status of
 * the response, e.g. CS_EINVAL -> 400). The message is formatted like
 * lua_pushfstring(), so only %s %d %I %f %p %c %U %% are allowed.
 * Never returns. [-0, +0, v]
 */
int cs_glue_raise(lua_State *L, cs_status status, const char *fmt, ...);

/* Like cs_glue_raise() with a va_list. */
int cs_glue_vraise(lua_State *L, cs_status status, const char *fmt, va_list ap);

#endif
