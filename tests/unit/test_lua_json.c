/*
 * test_lua_json.c - jansson <-> Lua: round trips, arrays vs objects,
 * integers vs reals, tensors, and the paths named by encoding errors.
 *
 * cs_lua_raise() is stubbed: nothing here should reach it, but
 * lua_tensor.c links against it.
 */
#include <stdarg.h>
#include <stdint.h>
#include <string.h>

#include <lauxlib.h>
#include <lualib.h>

#include "glue/lua_json.h"
#include "glue/lua_tensor.h"
#include "tap.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#define LEAK_CHECK() CHECK(__lsan_do_recoverable_leak_check() == 0)
#else
#define LEAK_CHECK() ((void)0)
#endif


static lua_State *new_state(void)
{
	lua_State *L = luaL_newstate();

	luaL_openlibs(L);
	cs_lua_util_open(L);
	cs_lua_tensor_open(L);
	lua_pushlightuserdata(L, cs_lua_null);
	lua_setglobal(L, "null");
	return L;
}

static void close_state(lua_State *L)
{
	lua_close(L);
	LEAK_CHECK();
}

static char out[8192];
static char err[CS_ERROR_SIZE];

/*
 * Evaluates a Lua expression and encodes it. Returns its compact JSON text
 * (keys sorted), or NULL with the encoder's message in err.
 */
static const char *encode(lua_State *L, const char *expr)
{
	char code[4096];
	json_t *j;
	char *text;
	int top = lua_gettop(L);

	snprintf(code, sizeof code, "return %s", expr);
	err[0] = '\0';
	if (luaL_dostring(L, code) != LUA_OK) {
		snprintf(err, sizeof err, "lua: %s", lua_tostring(L, -1));
		lua_settop(L, top);
		return NULL;
	}
	j = cs_lua_to_json(L, -1, err, sizeof err);
	CHECK(lua_gettop(L) == top + 1); /* the encoder keeps the stack */
	lua_settop(L, top);
	if (!j)
		return NULL;
	text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY |
				     JSON_REAL_PRECISION(17));
	json_decref(j);
	if (!text)
		return "(json_dumps failed)";
	snprintf(out, sizeof out, "%s", text);
	free(text);
	return out;
}

#define ENCODES(L, expr, want) CHECK_STR(encode((L), (expr)), (want))

#define FAILS(L, expr, msg)                                                \
	do {                                                               \
		const char *tap__r = encode((L), (expr));                  \
		CHECK(tap__r == NULL);                                     \
		CHECK_STR(err, (msg));                                     \
	} while (0)

/* Parses text, pushes it to Lua and encodes it back. */
static const char *round_trip(lua_State *L, const char *text)
{
	json_error_t jerr;
	json_t *in = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr), *back;
	char *s;

	CHECK(in != NULL);
	if (!in)
		return NULL;
	cs_lua_push_json(L, in);
	json_decref(in);
	back = cs_lua_to_json(L, -1, err, sizeof err);
	lua_pop(L, 1);
	if (!back)
		return NULL;
	s = json_dumps(back, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
	json_decref(back);
	snprintf(out, sizeof out, "%s", s ? s : "(null)");
	free(s);
	return out;
}

#define ROUND_TRIPS(L, text) CHECK_STR(round_trip((L), (text)), (text))

/* Runs Lua code that checks itself with assert(). */
#define RUN_OK(L, code)                                                    \
	do {                                                               \
		int tap__r = luaL_dostring((L), (code));                   \
		if (tap__r != LUA_OK)                                      \
			printf("#   lua: %s\n", lua_tostring((L), -1));    \
		CHECK(tap__r == LUA_OK);                                   \
		lua_settop((L), 0);                                        \
	} while (0)

/* ------------------------------------------------------------------ */

TEST(json_to_lua)
{
	lua_State *L = new_state();
	json_error_t jerr;
	json_t *doc = json_loads(
		"{\"n\": 3, \"x\": 2.5, \"s\": \"h\\u00e9\", \"t\": true, \"f\": false,"
		" \"z\": null, \"a\": [1, [2, 3], []], \"o\": {\"k\": \"v\"},"
		" \"nul\": \"a\\u0000b\", \"big\": 9223372036854775807}",
		JSON_ALLOW_NUL, &jerr);

	CHECK(doc != NULL);
	cs_lua_push_json(L, doc);
	json_decref(doc);
	lua_setglobal(L, "doc");
	RUN_OK(L, "assert(doc.n == 3 and math.type(doc.n) == 'integer')\n"
		  "assert(doc.x == 2.5 and math.type(doc.x) == 'float')\n"
		  "assert(doc.s == 'h\\195\\169' and doc.t == true and doc.f == false)\n"
		  "assert(doc.z == null and type(doc.z) == 'userdata')\n"
		  "assert(#doc.a == 3 and doc.a[1] == 1 and doc.a[2][2] == 3)\n"
		  "assert(#doc.a[3] == 0)\n"
		  "local mt = getmetatable(doc.a)\n"
		  "assert(mt ~= nil and getmetatable(doc.a[2]) == mt)\n"
		  "assert(getmetatable(doc.a[3]) == mt)\n"
		  "assert(getmetatable(doc) == nil and getmetatable(doc.o) == nil)\n"
		  "assert(doc.o.k == 'v')\n"
		  "assert(doc.nul == 'a\\0b')\n"
		  "assert(doc.big == math.maxinteger)\n"
		  "assert(mt == getmetatable(tensor.zeros('FP32', {1}):shape()))\n");
	/* Scalars at the top level, and arrays holding null. */
	doc = json_loads("[null, 1]", 0, &jerr);
	cs_lua_push_json(L, doc);
	json_decref(doc);
	lua_setglobal(L, "arr");
	RUN_OK(L, "assert(#arr == 2 and arr[1] == null and arr[2] == 1)");
	doc = json_real(0.5);
	cs_lua_push_json(L, doc);
	json_decref(doc);
	CHECK(lua_type(L, -1) == LUA_TNUMBER && lua_tonumber(L, -1) == 0.5);
	lua_pop(L, 1);
	close_state(L);
}

TEST(round_trips)
{
	lua_State *L = new_state();

	ROUND_TRIPS(L, "{\"a\":[1,2.5,\"x\",null,true,false],\"b\":{},\"c\":[],\"d\":[[]]}");
	ROUND_TRIPS(L, "[]");
	ROUND_TRIPS(L, "{}");
	ROUND_TRIPS(L, "[{}]");
	ROUND_TRIPS(L, "[[1,[2,[3,[]]]],{\"k\":{\"k\":{\"k\":null}}}]");
	ROUND_TRIPS(L, "{\"1\":\"one\",\"2\":\"two\"}");
	ROUND_TRIPS(L, "[1.0,-0.0,1024.5,-9223372036854775808]");
	CHECK_STR(round_trip(L, "\"h\\u00e9llo \\u20ac \\ud834\\udd1e \\u0000\""),
		  "\"h\xc3\xa9llo \xe2\x82\xac \xf0\x9d\x84\x9e \\u0000\"");
	ROUND_TRIPS(L, "null");
	ROUND_TRIPS(L, "42");
	close_state(L);
}

TEST(lua_to_json)
{
	lua_State *L = new_state();

	ENCODES(L, "{1, 2, 3}", "[1,2,3]");
	ENCODES(L, "{}", "{}");
	ENCODES(L, "{a = 1, b = 'x'}", "{\"a\":1,\"b\":\"x\"}");
	ENCODES(L, "{[1] = 1, [3] = 3}", "{\"1\":1,\"3\":3}");
	ENCODES(L, "{10, x = 2}", "{\"1\":10,\"x\":2}");
	ENCODES(L, "{[2] = 'b', [1] = 'a'}", "[\"a\",\"b\"]");
	ENCODES(L, "{[0] = 'z'}", "{\"0\":\"z\"}");
	ENCODES(L, "{[1.5] = 1, [-2] = 2}", "{\"-2\":2,\"1.5\":1}");
	ENCODES(L, "{3, 3.0, 0.5, -7}", "[3,3.0,0.5,-7]");
	ENCODES(L, "{math.huge, -math.huge, 0/0}", "[null,null,null]");
	ENCODES(L, "{true, false, null}", "[true,false,null]");
	ENCODES(L, "{math.maxinteger, math.mininteger}",
		"[9223372036854775807,-9223372036854775808]");
	ENCODES(L, "'caf\\195\\169'", "\"caf\xc3\xa9\"");
	ENCODES(L, "'a\\0b'", "\"a\\u0000b\"");
	ENCODES(L, "nil", "null");
	ENCODES(L, "{a = {b = {c = {}}}}", "{\"a\":{\"b\":{\"c\":{}}}}");
	/* The array metatable keeps empty arrays arrays. */
	ENCODES(L, "tensor.zeros('FP32', {}):shape()", "[]");
	ENCODES(L, "{list = tensor.zeros('FP32', {0}):totable()}", "{\"list\":[]}");
	/* A shared (not cyclic) table is fine. */
	ENCODES(L, "(function() local s = {1} return {s, s} end)()", "[[1],[1]]");
	/* Nesting up to the limit works. */
	{
		char expr[1024] = "";
		char want[1024] = "";

		for (int i = 0; i < CS_LUA_JSON_MAX_DEPTH; i++) {
			strcat(expr, "{");
			strcat(want, "[");
		}
		strcat(expr, "1");
		strcat(want, "1");
		for (int i = 0; i < CS_LUA_JSON_MAX_DEPTH; i++) {
			strcat(expr, "}");
			strcat(want, "]");
		}
		ENCODES(L, expr, want);
	}
	close_state(L);
}

TEST(tensors)
{
	lua_State *L = new_state();

	ENCODES(L, "tensor.new('INT32', {2, 2}, {1, 2, 3, 4})", "[[1,2],[3,4]]");
	ENCODES(L, "{y = tensor.new('FP32', {3}, {0.5, 0/0, math.huge})}",
		"{\"y\":[0.5,null,null]}");
	ENCODES(L, "tensor.new('FP32', {}, {1.5})", "1.5");
	ENCODES(L, "tensor.new('FP16', {2}, {0.25, -2})", "[0.25,-2.0]");
	ENCODES(L, "tensor.new('FP64', {1, 1, 2}, {0.125, 1e300})",
		"[[[0.125,1.0000000000000001e300]]]");
	ENCODES(L, "tensor.new('BOOL', {2}, {true, false})", "[true,false]");
	ENCODES(L, "tensor.new('BYTES', {2}, {'ab', ''})", "[\"ab\",\"\"]");
	ENCODES(L, "tensor.new('UINT64', {2}, string.rep('\\255', 8) .. string.rep('\\0', 8))",
		"[1.8446744073709552e19,0]");
	ENCODES(L, "tensor.new('INT8', {3}, {-128, 0, 127})", "[-128,0,127]");
	ENCODES(L, "tensor.new('UINT32', {1}, {4294967295})", "[4294967295]");
	ENCODES(L, "tensor.zeros('FP32', {0})", "[]");
	ENCODES(L, "tensor.zeros('INT64', {2, 0})", "[[],[]]");
	/* The same as totable(). */
	ENCODES(L, "tensor.new('INT16', {2, 1}, {5, 6}):totable()", "[[5],[6]]");
	close_state(L);
}

TEST(errors)
{
	lua_State *L = new_state();

	FAILS(L, "{items = {1, 2, function() end}}",
	      "value.items[3]: cannot encode a function");
	FAILS(L, "print", "value: cannot encode a function");
	FAILS(L, "{co = coroutine.create(print)}", "value.co: cannot encode a thread");
	FAILS(L, "{f = io.stdout}", "value.f: cannot encode a userdata");
	FAILS(L, "{p = tensor.new}", "value.p: cannot encode a function");
	FAILS(L, "(function() local t = {a = {}} t.a.b = t return t end)()",
	      "value.a.b: cycle: the table contains itself");
	FAILS(L, "(function() local t = {1} t[2] = t return t end)()",
	      "value[2]: cycle: the table contains itself");
	FAILS(L, "{name = 'ab\\255'}", "value.name: string is not valid UTF-8");
	FAILS(L, "{['my key'] = {'\\192\\128'}}",
	      "value[\"my key\"][1]: string is not valid UTF-8");
	FAILS(L, "{['k\\255'] = 1}", "value[\"k\\xff\"]: key is not valid UTF-8");
	FAILS(L, "{[true] = 1}", "value: cannot encode a table with a boolean key");
	FAILS(L, "{a = {[{}] = 1}}", "value.a: cannot encode a table with a table key");
	FAILS(L, "{t = tensor.new('BYTES', {2, 2}, {{'a', 'b'}, {'c', '\\255'}})}",
	      "value.t[2][2]: string is not valid UTF-8");
	{
		char expr[1024] = "{x = ";

		for (int i = 0; i < CS_LUA_JSON_MAX_DEPTH; i++)
			strcat(expr, "{");
		for (int i = 0; i < CS_LUA_JSON_MAX_DEPTH; i++)
			strcat(expr, "}");
		strcat(expr, "}");
		CHECK(encode(L, expr) == NULL);
		CHECK_HAS(err, ": nested deeper than 64 levels");
		CHECK_HAS(err, "value.x[1][1]");
	}
	/* err may be NULL; a failure still returns NULL. */
	CHECK(luaL_dostring(L, "return {f = print}") == LUA_OK);
	CHECK(cs_lua_to_json(L, -1, NULL, 0) == NULL);
	CHECK(cs_lua_to_json(L, -1, err, 8) == NULL);
	CHECK_STR(err, "value.f");
	lua_pop(L, 1);
	close_state(L);
}

TEST(utf8)
{
	lua_State *L = new_state();
	static const char *const good[] = {
		"'plain ascii, long enough for the fast path'",
		"'h\\195\\169llo'",                  /* é */
		"'\\226\\130\\172'",                 /* € */
		"'\\240\\157\\132\\158'",            /* U+1D11E */
		"'\\244\\143\\191\\191'",            /* U+10FFFF */
		"'\\239\\191\\191 x'",               /* U+FFFF */
		"''",
	};
	static const char *const bad[] = {
		"'\\192\\128'",                      /* overlong NUL */
		"'\\224\\128\\128'",                 /* overlong */
		"'\\237\\160\\128'",                 /* surrogate D800 */
		"'\\244\\144\\128\\128'",            /* above U+10FFFF */
		"'\\226\\130'",                      /* truncated */
		"'\\128'",                           /* lone continuation */
		"'\\255'",
		"'0123456789abcdef0\\200 after the fast path'",
		"'\\195('",                          /* bad continuation */
	};

	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		const char *r = encode(L, good[i]);

		if (!r)
			printf("#   good[%zu]: %s\n", i, err);
		CHECK(r != NULL);
	}
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (encode(L, bad[i]))
			printf("#   bad[%zu] was accepted\n", i);
		else
			CHECK_STR(err, "value: string is not valid UTF-8");
	}
	close_state(L);
}

TEST(large)
{
	lua_State *L = new_state();
	json_t *j;

	/* A big tensor and a big table encode, element for element. */
	RUN_OK(L, "big = tensor.zeros('FP32', {1000, 100})\n"
		  "big:set(100000, 2.5)\n"
		  "list = {}\n"
		  "for i = 1, 100000 do list[i] = i end\n");
	lua_getglobal(L, "big");
	j = cs_lua_to_json(L, -1, err, sizeof err);
	CHECK(j && json_array_size(j) == 1000);
	CHECK(j && json_real_value(json_array_get(json_array_get(j, 999), 99)) == 2.5);
	json_decref(j);
	lua_getglobal(L, "list");
	j = cs_lua_to_json(L, -1, err, sizeof err);
	CHECK(j && json_array_size(j) == 100000);
	CHECK(j && json_integer_value(json_array_get(j, 99999)) == 100000);
	json_decref(j);
	lua_pop(L, 2);
	close_state(L);
}

int main(void)
{
	RUN(json_to_lua);
	RUN(round_trips);
	RUN(lua_to_json);
	RUN(tensors);
	RUN(errors);
	RUN(utf8);
	RUN(large);
	return tap_done();
}
