/*
 * lua_util.h - the base of the glue's Lua libraries: error objects that
 * carry a status, the array metatable, the JSON null value.
 *
 * The glue's files depend on each other in one direction, the way Lua's
 * own libraries all sit on lauxlib: lua_util <- lua_tensor <- lua_json <-
 * glue. Functions here run on the Lua state's thread only.
 */
#ifndef CS_LUA_UTIL_H
#define CS_LUA_UTIL_H

#include <stdarg.h>

#include <lua.h>

#include <cubeserve/plugin.h>

/* The registry name of the metatable of error objects (cs.error, cs_lua_raise). */
#define CS_LUA_ERROR_MT "cubeserve.error"

/* The registry name of the metatable that marks a table as a JSON array. */
#define CS_LUA_ARRAY_MT "cubeserve.array"

/* The light userdata value that stands for JSON null (`cs.null`). */
extern char cs_lua_null_marker;
#define cs_lua_null ((void *)&cs_lua_null_marker)

/* Creates the error and array metatables. Once per state. [-0, +0, m] */
void cs_lua_util_open(lua_State *L);

/*
 * Raises an error object {status, message} whose status is the HTTP status
 * st maps to (CS_EINVAL -> 400), so the client gets that status. The
 * message is formatted like lua_pushfstring(): only %s %d %I %f %p %c %U
 * %% are allowed. Never returns. [-0, +0, v]
 */
int cs_lua_raise(lua_State *L, cs_status st, const char *fmt, ...);

/* Like cs_lua_raise() with a va_list. [-0, +0, v] */
int cs_lua_vraise(lua_State *L, cs_status st, const char *fmt, va_list ap);

/*
 * Raises an error object with an HTTP status chosen by the glue itself
 * (cs.error(status, message)). [-0, +0, v]
 */
int cs_lua_raise_http(lua_State *L, int http_status, const char *msg);

/* Whether the value at idx is an error object. [-0, +0, -] */
int cs_lua_is_error(lua_State *L, int idx);

#endif
