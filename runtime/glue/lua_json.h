/*
 * lua_json.h - converting between jansson values and Lua values.
 *
 * JSON -> Lua: objects become tables, arrays become tables with the
 * metatable CS_LUA_ARRAY_MT (so they encode back as arrays, even when
 * empty), integers become Lua integers, reals become floats, true/false
 * booleans, null the light userdata cs_lua_null (exposed to glue as
 * `cs.null`).
 *
 * Lua -> JSON: a table with the array metatable, or whose keys are exactly
 * 1..n (n >= 1), becomes an array; any other table an object (keys must be
 * strings or numbers; numbers are written as strings); an empty table
 * without the array metatable becomes {}; a tensor becomes its nested
 * array (tensor:totable()); non-finite floats become null; functions,
 * threads and other userdata are an error. Cycles and nesting deeper than
 * CS_LUA_JSON_MAX_DEPTH are an error.
 *
 * Functions here run on the Lua state's thread only.
 */
#ifndef CS_LUA_JSON_H
#define CS_LUA_JSON_H

#include <stddef.h>

#include <jansson.h>
#include <lua.h>

#include "glue/lua_util.h"

#define CS_LUA_JSON_MAX_DEPTH 64



/* Pushes the Lua value of a JSON value (borrowed). [-0, +1, m] */
void cs_lua_push_json(lua_State *L, const json_t *v);

/*
 * Converts the Lua value at idx to a new JSON value (the caller owns the
 * reference: json_decref()). Returns NULL and writes why into err, naming
 * the path of the bad value ("value.items[3]: cannot encode a function").
 * [-0, +0, m]
 */
json_t *cs_lua_to_json(lua_State *L, int idx, char *err, size_t errlen);

#endif
