/*
 * lua_util.c - error objects, the array metatable, JSON null (see
 * lua_util.h).
 */
#include <lauxlib.h>

#include "core/status.h"
#include "glue/lua_util.h"

char cs_lua_null_marker;

static int error_tostring(lua_State *L)
{
	lua_getfield(L, 1, "message");
	if (!lua_isstring(L, -1)) {
		lua_pop(L, 1);
		lua_pushliteral(L, "error");
	}
	return 1;
}

void cs_lua_util_open(lua_State *L)
{
	luaL_newmetatable(L, CS_LUA_ERROR_MT);
	lua_pushcfunction(L, error_tostring);
	lua_setfield(L, -2, "__tostring");
	lua_pop(L, 1);
	luaL_newmetatable(L, CS_LUA_ARRAY_MT);
	lua_pop(L, 1);
}

/* Pushes {status = http_status, message = <top>} in place of the message. */
static int raise_top(lua_State *L, int http_status)
{
	lua_createtable(L, 0, 2);
	lua_pushinteger(L, http_status);
	lua_setfield(L, -2, "status");
	lua_rotate(L, -2, 1);
	lua_setfield(L, -2, "message");
	luaL_setmetatable(L, CS_LUA_ERROR_MT);
	return lua_error(L);
}

int cs_lua_vraise(lua_State *L, cs_status st, const char *fmt, va_list ap)
{
	lua_pushvfstring(L, fmt, ap);
	return raise_top(L, cs_status_http(st));
}

int cs_lua_raise(lua_State *L, cs_status st, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cs_lua_vraise(L, st, fmt, ap);
	va_end(ap);
	return 0; /* not reached */
}

int cs_lua_raise_http(lua_State *L, int http_status, const char *msg)
{
	lua_pushstring(L, msg);
	return raise_top(L, http_status);
}

int cs_lua_is_error(lua_State *L, int idx)
{
	int yes;

	if (!lua_istable(L, idx) || !lua_getmetatable(L, idx))
		return 0;
	luaL_getmetatable(L, CS_LUA_ERROR_MT);
	yes = lua_rawequal(L, -1, -2);
	lua_pop(L, 2);
	return yes;
}
