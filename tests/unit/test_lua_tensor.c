/*
 * test_lua_tensor.c - the glue's `tensor` type: construction, methods and
 * the messages of data errors.
 *
 * Errors are read as "status=<http>: <message>" (error_text()), so the
 * tests see both the status and the text without a whole glue.
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

/*
 * The text of the error at the top: "status=<http>: <message>" for the
 * runtime's error objects (cs_lua_raise), else the string.
 */
static const char *error_text(lua_State *L, char *buf, size_t n)
{
	if (cs_lua_is_error(L, -1)) {
		lua_getfield(L, -1, "status");
		lua_getfield(L, -2, "message");
		snprintf(buf, n, "status=%d: %s", (int)lua_tointeger(L, -2),
			 lua_tostring(L, -1) ? lua_tostring(L, -1) : "");
		lua_pop(L, 2);
	} else {
		snprintf(buf, n, "%s", lua_tostring(L, -1) ? lua_tostring(L, -1) :
			 "(non-string error)");
	}
	return buf;
}

/* Helpers the Lua snippets use. */
static const char prelude[] =
	"function near(a, b, eps) return math.abs(a - b) <= (eps or 1e-6) end\n"
	"function same(a, b)\n"
	"  if type(a) ~= 'table' or type(b) ~= 'table' then\n"
	"    return a == b and math.type(a) == math.type(b)\n"
	"  end\n"
	"  if #a ~= #b then return false end\n"
	"  for i = 1, #a do if not same(a[i], b[i]) then return false end end\n"
	"  return true\n"
	"end\n";

static lua_State *new_state(void)
{
	lua_State *L = luaL_newstate();

	luaL_openlibs(L);
	cs_lua_util_open(L);
	cs_lua_tensor_open(L);
	if (luaL_dostring(L, prelude) != LUA_OK) {
		printf("# prelude: %s\n", lua_tostring(L, -1));
		exit(1);
	}
	return L;
}

static void close_state(lua_State *L)
{
	lua_close(L);
	LEAK_CHECK();
}

static char last_error[1024];

/* Runs code; NULL when it succeeded, else its error message. */
static const char *run(lua_State *L, const char *code)
{
	int top = lua_gettop(L);

	if (luaL_dostring(L, code) == LUA_OK) {
		lua_settop(L, top);
		return NULL;
	}
	error_text(L, last_error, sizeof last_error);
	lua_settop(L, top);
	return last_error;
}

/* Code must run without error (it checks itself with assert()). */
#define RUN_OK(L, code)                                                    \
	do {                                                               \
		const char *tap__e = run((L), (code));                     \
		if (tap__e)                                                \
			printf("#   %s:%d: lua: %s\n", __FILE__, __LINE__, \
			       tap__e);                                    \
		CHECK(tap__e == NULL);                                     \
	} while (0)

/* Code must fail with a message holding frag. */
#define RUN_ERR(L, code, frag)                                             \
	do {                                                               \
		const char *tap__e = run((L), (code));                     \
		CHECK(tap__e != NULL);                                     \
		CHECK_HAS(tap__e, (frag));                                 \
	} while (0)

/* ------------------------------------------------------------------ */

TEST(new_flat)
{
	lua_State *L = new_state();

	RUN_OK(L, "local t = tensor.new('FP32', {2, 3}, {1, 2, 3, 4, 5, 6})\n"
		  "assert(t:dtype() == 'FP32')\n"
		  "assert(same(t:shape(), {2, 3}))\n"
		  "assert(t:numel() == 6 and #t == 6)\n"
		  "assert(tostring(t) == 'tensor<FP32>[2,3]')\n"
		  "assert(t:get(1, 1) == 1.0 and math.type(t:get(1, 1)) == 'float')\n"
		  "assert(t:get(2, 3) == 6.0 and t:get(1, 3) == 3.0)\n"
		  "assert(t:get(4) == 4.0)\n");
	RUN_OK(L, "local t = tensor.new('INT64', {3}, {10, 20, 30})\n"
		  "assert(t:get(2) == 20 and math.type(t:get(2)) == 'integer')\n"
		  "assert(tostring(t) == 'tensor<INT64>[3]')\n");
	/* A scalar: shape {}, one value. */
	RUN_OK(L, "local t = tensor.new('FP64', {}, {2.5})\n"
		  "assert(t:numel() == 1 and #t:shape() == 0)\n"
		  "assert(t:get() == 2.5 and t:get(1) == 2.5)\n"
		  "assert(t:totable() == 2.5)\n"
		  "assert(tostring(t) == 'tensor<FP64>[]')\n");
	/* Empty tensors. */
	RUN_OK(L, "local t = tensor.new('FP32', {0}, {})\n"
		  "assert(t:numel() == 0 and t:bytes() == '')\n"
		  "local u = tensor.new('FP32', {2, 0}, {{}, {}})\n"
		  "assert(u:numel() == 0 and same(u:totable(), {{}, {}}))\n");
	/* Integral floats are fine for integer dtypes. */
	RUN_OK(L, "local t = tensor.new('INT32', {2}, {3.0, -4.0})\n"
		  "assert(t:get(1) == 3 and t:get(2) == -4)\n");
	close_state(L);
}

TEST(new_nested)
{
	lua_State *L = new_state();

	RUN_OK(L, "local t = tensor.new('FP32', {2, 3}, {{1, 2, 3}, {4, 5, 6}})\n"
		  "assert(t:get(2, 1) == 4.0 and t:get(1, 3) == 3.0)\n"
		  "assert(same(t:totable(), {{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}}))\n");
	RUN_OK(L, "local t = tensor.new('INT32', {2, 2, 2},\n"
		  "  {{{1, 2}, {3, 4}}, {{5, 6}, {7, 8}}})\n"
		  "assert(t:get(2, 1, 2) == 6 and t:get(1, 2, 1) == 3)\n"
		  "assert(same(t:totable(), {{{1, 2}, {3, 4}}, {{5, 6}, {7, 8}}}))\n"
		  "assert(t:bytes() == string.pack('<i4i4i4i4i4i4i4i4', 1,2,3,4,5,6,7,8))\n");
	close_state(L);
}

TEST(new_raw_string)
{
	lua_State *L = new_state();

	RUN_OK(L, "local raw = string.pack('<ffff', 1.5, -2, 0.25, 8)\n"
		  "local t = tensor.new('FP32', {2, 2}, raw)\n"
		  "assert(t:get(1, 1) == 1.5 and t:get(1, 2) == -2 and t:get(2, 2) == 8)\n"
		  "assert(t:bytes() == raw)\n");
	RUN_OK(L, "local t = tensor.new('INT16', {3}, string.pack('<i2i2i2', -1, 300, 7))\n"
		  "assert(same(t:totable(), {-1, 300, 7}))\n");
	RUN_ERR(L, "tensor.new('FP32', {2, 2}, string.rep('x', 12))",
		"status=400: tensor.new: raw data for FP32 [2,2] must be 16 bytes, got 12");
	RUN_ERR(L, "tensor.new('BYTES', {1}, 'abcd')",
		"status=400: tensor.new: BYTES values must be a table of strings, not a raw string");
	close_state(L);
}

TEST(every_dtype)
{
	lua_State *L = new_state();

	RUN_OK(L, "local cases = {\n"
		  "  {'UINT8', {0, 255, 7}, 1}, {'UINT16', {0, 65535, 7}, 2},\n"
		  "  {'UINT32', {0, 4294967295, 7}, 4}, {'UINT64', {0, math.maxinteger, 7}, 8},\n"
		  "  {'INT8', {-128, 127, 7}, 1}, {'INT16', {-32768, 32767, 7}, 2},\n"
		  "  {'INT32', {-2147483648, 2147483647, 7}, 4},\n"
		  "  {'INT64', {math.mininteger, math.maxinteger, 7}, 8},\n"
		  "  {'FP16', {-2.0, 65504.0, 0.5}, 2}, {'FP32', {-2.0, 1e30, 0.5}, 4},\n"
		  "  {'FP64', {-2.0, 1e300, 0.1}, 8},\n"
		  "}\n"
		  "for _, c in ipairs(cases) do\n"
		  "  local t = tensor.new(c[1], {3}, c[2])\n"
		  "  assert(t:dtype() == c[1], c[1])\n"
		  "  assert(#t:bytes() == 3 * c[3], c[1])\n"
		  "  for i = 1, 3 do\n"
		  "    local want = c[2][i]\n"
		  "    if c[1] == 'FP32' and i == 2 then assert(near(t:get(i), want, 1e24), c[1])\n"
		  "    else assert(t:get(i) == want, c[1] .. ' ' .. i .. ' ' .. tostring(t:get(i))) end\n"
		  "  end\n"
		  "  local z = tensor.zeros(c[1], {2})\n"
		  "  assert(z:get(1) == 0 and z:get(2) == 0 and #z:bytes() == 2 * c[3])\n"
		  "end\n");
	/* UINT64 above the integer range comes back as a float. */
	RUN_OK(L, "local t = tensor.new('UINT64', {1}, string.rep('\\255', 8))\n"
		  "assert(math.type(t:get(1)) == 'float' and t:get(1) == 2.0^64)\n"
		  "local u = tensor.new('UINT64', {1}, {2.0^63})\n"
		  "assert(u:bytes() == '\\0\\0\\0\\0\\0\\0\\0\\128')\n");
	/* FP16: exact halves, rounding to nearest, the raw layout. */
	RUN_OK(L, "local h = tensor.new('FP16', {3}, {1.0, 0.1, -65504})\n"
		  "assert(h:bytes():sub(1, 2) == '\\0\\60')\n"
		  "assert(h:get(1) == 1.0)\n"
		  "assert(h:get(2) == 0.0999755859375, h:get(2))\n"
		  "assert(h:get(3) == -65504)\n"
		  "local r = tensor.new('FP16', {1}, '\\0\\192')\n"
		  "assert(r:get(1) == -2.0)\n");
	/* Non-finite floats are data too. */
	RUN_OK(L, "local t = tensor.new('FP32', {2}, {math.huge, 0/0})\n"
		  "assert(t:get(1) == math.huge and t:get(2) ~= t:get(2))\n");
	close_state(L);
}

TEST(bool_dtype)
{
	lua_State *L = new_state();

	RUN_OK(L, "local t = tensor.new('BOOL', {4}, {true, false, 1, 0})\n"
		  "assert(t:get(1) == true and t:get(2) == false)\n"
		  "assert(t:get(3) == true and t:get(4) == false)\n"
		  "assert(t:bytes() == '\\1\\0\\1\\0')\n"
		  "assert(same(t:totable(), {true, false, true, false}))\n"
		  "t:set(2, true)\n"
		  "assert(t:get(2) == true)\n"
		  "assert(tensor.zeros('BOOL', {1}):get(1) == false)\n");
	RUN_ERR(L, "tensor.new('BOOL', {2}, {true, 2})",
		"status=400: tensor.new: values[2]: 2 is not a boolean, 0 or 1 (BOOL)");
	RUN_ERR(L, "tensor.new('BOOL', {1}, {'yes'})",
		"status=400: tensor.new: values[1]: expected a boolean for BOOL, got string");
	RUN_ERR(L, "tensor.new('BOOL', {1}, {true}):argmax()",
		"tensor:argmax: not defined for BOOL tensors");
	close_state(L);
}

TEST(bytes_dtype)
{
	lua_State *L = new_state();

	RUN_OK(L, "local t = tensor.new('BYTES', {3}, {'a', '', 'h\\195\\169llo'})\n"
		  "assert(t:numel() == 3)\n"
		  "assert(t:bytes() == '\\1\\0\\0\\0a\\0\\0\\0\\0\\6\\0\\0\\0h\\195\\169llo')\n"
		  "assert(t:get(1) == 'a' and t:get(2) == '' and t:get(3) == 'h\\195\\169llo')\n"
		  "assert(same(t:totable(), {'a', '', 'h\\195\\169llo'}))\n");
	RUN_OK(L, "local t = tensor.new('BYTES', {2, 2}, {{'a', 'bb'}, {'ccc', 'd\\0d'}})\n"
		  "assert(t:get(2, 2) == 'd\\0d' and t:get(3) == 'ccc')\n"
		  "local r = t:row(2)\n"
		  "assert(same(r:shape(), {2}) and same(r:totable(), {'ccc', 'd\\0d'}))\n"
		  "local s = t:reshape({4})\n"
		  "assert(same(s:totable(), {'a', 'bb', 'ccc', 'd\\0d'}))\n"
		  "local c = t:astype('BYTES')\n"
		  "assert(c:bytes() == t:bytes())\n");
	RUN_OK(L, "local z = tensor.zeros('BYTES', {2})\n"
		  "assert(z:get(1) == '' and z:get(2) == '' and #z:bytes() == 8)\n");
	RUN_ERR(L, "tensor.new('BYTES', {2})",
		"status=400: tensor.new: BYTES values must be a table of strings, got nil");
	RUN_ERR(L, "tensor.new('FP32', {2}, nil)",
		"status=400: tensor.new: values are nil (is a field missing from the request?)");
	RUN_ERR(L, "tensor.new('BYTES', {2}, {'a', 5})",
		"status=400: tensor.new: values[2]: expected a string for BYTES, got number");
	RUN_ERR(L, "tensor.new('BYTES', {1}, {'a'}):set(1, 'b')",
		"tensor:set: BYTES tensors cannot be changed in place");
	RUN_ERR(L, "tensor.new('BYTES', {1}, {'a'}):astype('INT32')",
		"tensor:astype: cannot convert BYTES to INT32");
	RUN_ERR(L, "tensor.new('BYTES', {1}, {'a'}):sum()",
		"tensor:sum: not defined for BYTES tensors");
	close_state(L);
}

TEST(zeros_and_is)
{
	lua_State *L = new_state();

	RUN_OK(L, "local z = tensor.zeros('FP32', {2, 2})\n"
		  "assert(same(z:totable(), {{0.0, 0.0}, {0.0, 0.0}}))\n"
		  "assert(z:bytes() == string.rep('\\0', 16))\n"
		  "local n = tensor.new('INT64', {3})\n"
		  "assert(same(n:totable(), {0, 0, 0}))\n"
		  "assert(tensor.is(z) == true)\n"
		  "assert(tensor.is({}) == false and tensor.is(nil) == false)\n"
		  "assert(tensor.is(io.stdout) == false and tensor.is(1) == false)\n"
		  "assert(type(getmetatable(z)) == 'string')\n");
	close_state(L);
}

TEST(shape_is_an_array)
{
	lua_State *L = new_state();
	char err[CS_ERROR_SIZE];
	json_t *j;
	char *text;

	RUN_OK(L, "s = tensor.new('FP32', {}, {1}):shape()");
	lua_getglobal(L, "s");
	CHECK(lua_getmetatable(L, -1));
	luaL_getmetatable(L, CS_LUA_ARRAY_MT);
	CHECK(lua_rawequal(L, -1, -2));
	lua_pop(L, 2);
	j = cs_lua_to_json(L, -1, err, sizeof err);
	CHECK(j != NULL);
	text = j ? json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
	CHECK_STR(text, "[]");
	free(text);
	json_decref(j);
	lua_pop(L, 1);
	close_state(L);
}

TEST(reshape)
{
	lua_State *L = new_state();

	RUN_OK(L, "local t = tensor.new('INT32', {2, 3}, {1, 2, 3, 4, 5, 6})\n"
		  "local r = t:reshape({3, 2})\n"
		  "assert(same(r:totable(), {{1, 2}, {3, 4}, {5, 6}}))\n"
		  "assert(same(t:reshape({-1}):shape(), {6}))\n"
		  "assert(same(t:reshape({3, -1}):shape(), {3, 2}))\n"
		  "assert(same(t:reshape({1, -1, 1}):shape(), {1, 6, 1}))\n"
		  "r:set(1, 1, 100)\n"
		  "assert(t:get(1, 1) == 1)\n");
	RUN_ERR(L, "tensor.zeros('FP32', {2, 3}):reshape({4, 2})",
		"status=400: tensor:reshape: cannot reshape [2,3] (6 elements) to [4,2] (8 elements)");
	RUN_ERR(L, "tensor.zeros('FP32', {2, 3}):reshape({4, -1})",
		"status=400: tensor:reshape: cannot reshape [2,3] (6 elements) to [4,-1]");
	RUN_ERR(L, "tensor.zeros('FP32', {2, 3}):reshape({-1, -1})",
		"status=400: tensor:reshape: shape[2] is -1, only one -1 is allowed");
	close_state(L);
}

TEST(get_set)
{
	lua_State *L = new_state();

	RUN_OK(L, "local t = tensor.zeros('FP32', {2, 3})\n"
		  "t:set(2, 1, 1.5)\n"
		  "t:set(6, -3)\n"
		  "assert(t:get(2, 1) == 1.5 and t:get(4) == 1.5)\n"
		  "assert(t:get(2, 3) == -3 and t:get(6) == -3)\n"
		  "local i = tensor.zeros('INT8', {2})\n"
		  "i:set(1, -128) i:set(2, 127.0)\n"
		  "assert(i:get(1) == -128 and i:get(2) == 127)\n");
	RUN_ERR(L, "tensor.zeros('FP32', {2, 3}):get(3, 1)",
		"status=400: tensor:get: index [3,1] is out of range for shape [2,3]");
	RUN_ERR(L, "tensor.zeros('FP32', {2, 3}):get(1, 0)",
		"status=400: tensor:get: index [1,0] is out of range for shape [2,3]");
	RUN_ERR(L, "tensor.zeros('FP32', {2, 3}):get(7)",
		"status=400: tensor:get: flat index 7 is out of range for shape [2,3] (6 elements)");
	RUN_ERR(L, "tensor.zeros('FP32', {4}):get(5)",
		"status=400: tensor:get: index [5] is out of range for shape [4]");
	RUN_ERR(L, "tensor.zeros('FP32', {2, 3}):get(1.5, 1)",
		"status=400: tensor:get: index must be an integer, got 1.5");
	RUN_ERR(L, "tensor.zeros('FP32', {2, 3, 4}):get(1, 1)",
		"tensor:get: shape [2,3,4] needs 3 indices or one flat index, got 2");
	RUN_ERR(L, "tensor.zeros('INT8', {2}):set(1, 300)",
		"status=400: tensor:set: value: 300 is out of range for INT8");
	RUN_ERR(L, "tensor.zeros('INT32', {2}):set(1, 1.5)",
		"status=400: tensor:set: value: 1.5 is not an integer (INT32)");
	RUN_ERR(L, "tensor.zeros('FP32', {2}):set(3, 1)",
		"status=400: tensor:set: index [3] is out of range for shape [2]");
	RUN_ERR(L, "tensor.zeros('FP32', {2}):set(1, 'x')",
		"status=400: tensor:set: value: expected a number for FP32, got string");
	close_state(L);
}

TEST(totable)
{
	lua_State *L = new_state();

	RUN_OK(L, "local t = tensor.new('INT32', {2, 2}, {1, 2, 3, 4})\n"
		  "local tt = t:totable()\n"
		  "assert(same(tt, {{1, 2}, {3, 4}}))\n"
		  "assert(getmetatable(tt) ~= nil and getmetatable(tt) == getmetatable(tt[1]))\n"
		  "assert(getmetatable(tt) == getmetatable(t:shape()))\n"
		  "assert(tensor.new('BOOL', {}, {true}):totable() == true)\n"
		  "assert(same(tensor.new('FP16', {2}, {0.5, 2}):totable(), {0.5, 2.0}))\n");
	close_state(L);
}

TEST(reductions)
{
	lua_State *L = new_state();

	RUN_OK(L, "local t = tensor.new('INT32', {4}, {3, 7, 7, -2})\n"
		  "assert(t:argmax() == 2)\n"
		  "assert(t:max() == 7 and math.type(t:max()) == 'integer')\n"
		  "assert(t:min() == -2)\n"
		  "assert(t:sum() == 15 and math.type(t:sum()) == 'integer')\n"
		  "assert(t:mean() == 3.75)\n");
	RUN_OK(L, "local t = tensor.new('FP32', {2, 2}, {0.5, -1.5, 4.25, 4.25})\n"
		  "assert(t:argmax() == 3 and t:max() == 4.25 and t:min() == -1.5)\n"
		  "assert(t:sum() == 7.5 and math.type(t:sum()) == 'float')\n"
		  "assert(t:mean() == 1.875)\n");
	RUN_OK(L, "local t = tensor.new('FP64', {3}, {1, 0/0, 5})\n"
		  "assert(t:argmax() == 2)\n"
		  "assert(t:max() ~= t:max() and t:min() ~= t:min())\n");
	/* Integer sums that overflow int64 come back as floats. */
	RUN_OK(L, "local t = tensor.new('INT64', {2}, {math.maxinteger, math.maxinteger})\n"
		  "assert(math.type(t:sum()) == 'float' and near(t:sum(), 2.0^64, 1e4))\n"
		  "local u = tensor.new('UINT8', {3}, {255, 255, 255})\n"
		  "assert(u:sum() == 765 and u:mean() == 255)\n"
		  "assert(tensor.zeros('FP32', {0}):sum() == 0)\n");
	RUN_ERR(L, "tensor.zeros('FP32', {0}):max()",
		"status=400: tensor:max: the tensor [0] is empty");
	RUN_ERR(L, "tensor.zeros('FP32', {2, 0}):argmax()",
		"status=400: tensor:argmax: the tensor [2,0] is empty");
	RUN_ERR(L, "tensor.zeros('FP32', {0}):mean()",
		"status=400: tensor:mean: the tensor [0] is empty");
	close_state(L);
}

TEST(softmax)
{
	lua_State *L = new_state();

	RUN_OK(L, "local p = tensor.new('FP32', {3}, {1, 2, 3}):softmax()\n"
		  "assert(p:dtype() == 'FP32')\n"
		  "assert(near(p:get(1), 0.09003057) and near(p:get(2), 0.24472847))\n"
		  "assert(near(p:get(3), 0.66524096) and near(p:sum(), 1))\n"
		  "assert(p:argmax() == 3)\n");
	/* Along the last dimension, stable for large logits. */
	RUN_OK(L, "local p = tensor.new('FP64', {2, 2}, {0, 0, 1000, 1000}):softmax()\n"
		  "assert(p:dtype() == 'FP64')\n"
		  "assert(same(p:totable(), {{0.5, 0.5}, {0.5, 0.5}}))\n"
		  "local q = tensor.new('INT32', {2, 3}, {1, 2, 3, 0, 0, 0}):softmax()\n"
		  "assert(q:dtype() == 'FP32' and same(q:shape(), {2, 3}))\n"
		  "assert(near(q:get(1, 3), 0.66524096) and near(q:get(2, 1), 1/3))\n"
		  "assert(tensor.new('FP32', {}, {7}):softmax():get() == 1)\n"
		  "assert(tensor.zeros('FP32', {2, 0}):softmax():numel() == 0)\n");
	close_state(L);
}

TEST(topk)
{
	lua_State *L = new_state();

	RUN_OK(L, "local t = tensor.new('FP32', {5}, {0.125, 0.5, 0.25, 0.5, 0.875})\n"
		  "local v, i = t:topk(3)\n"
		  "assert(same(v, {0.875, 0.5, 0.5}), table.concat(v, ','))\n"
		  "assert(same(i, {5, 2, 4}), table.concat(i, ','))\n"
		  "assert(getmetatable(v) == getmetatable(t:shape()))\n"
		  "v, i = t:topk(10)\n"
		  "assert(same(i, {5, 2, 4, 3, 1}))\n"
		  "v, i = t:topk(0)\n"
		  "assert(#v == 0 and #i == 0 and getmetatable(i) ~= nil)\n"
		  "v, i = tensor.new('INT64', {2, 2}, {4, 9, 9, 1}):topk(2)\n"
		  "assert(same(v, {9, 9}) and same(i, {2, 3}))\n");
	/* Against a full sort. */
	RUN_OK(L, "local vals = {}\n"
		  "for j = 1, 1000 do vals[j] = (j * 7919) % 1009 end\n"
		  "local t = tensor.new('INT32', {1000}, vals)\n"
		  "local order = {}\n"
		  "for j = 1, 1000 do order[j] = j end\n"
		  "table.sort(order, function(a, b)\n"
		  "  if vals[a] ~= vals[b] then return vals[a] > vals[b] end\n"
		  "  return a < b end)\n"
		  "for _, k in ipairs({1, 5, 50, 1000}) do\n"
		  "  local v, i = t:topk(k)\n"
		  "  for j = 1, k do\n"
		  "    assert(i[j] == order[j] and v[j] == vals[order[j]], k .. ':' .. j)\n"
		  "  end\n"
		  "end\n");
	RUN_ERR(L, "tensor.zeros('FP32', {3}):topk(-1)",
		"status=400: tensor:topk: k must not be negative, got -1");
	RUN_ERR(L, "tensor.zeros('FP32', {3}):topk('many')",
		"status=400: tensor:topk: k must be an integer, got string");
	close_state(L);
}

TEST(astype)
{
	lua_State *L = new_state();

	RUN_OK(L, "local t = tensor.new('FP32', {4}, {1.75, -1.75, 2, 0})\n"
		  "local i = t:astype('INT32')\n"
		  "assert(i:dtype() == 'INT32' and same(i:totable(), {1, -1, 2, 0}))\n"
		  "assert(same(t:astype('BOOL'):totable(), {true, true, true, false}))\n"
		  "assert(same(t:astype('FP64'):totable(), {1.75, -1.75, 2.0, 0.0}))\n"
		  "assert(same(t:astype('FP16'):totable(), {1.75, -1.75, 2.0, 0.0}))\n"
		  "local b = tensor.new('BOOL', {2}, {true, false}):astype('UINT8')\n"
		  "assert(same(b:totable(), {1, 0}))\n"
		  "local c = i:astype('INT32')\n"
		  "c:set(1, 9)\n"
		  "assert(i:get(1) == 1)\n");
	RUN_ERR(L, "tensor.new('FP32', {2}, {1, 300}):astype('INT8')",
		"status=400: tensor:astype: element 2: 300.0 is out of range for INT8");
	RUN_ERR(L, "tensor.new('INT32', {1}, {-1}):astype('UINT32')",
		"status=400: tensor:astype: element 1: -1 is out of range for UINT32");
	RUN_ERR(L, "tensor.new('FP64', {1}, {1e6}):astype('FP16')",
		"status=400: tensor:astype: element 1: 1000000.0 is out of range for FP16");
	RUN_ERR(L, "tensor.new('FP32', {1}, {0/0}):astype('INT64')",
		"status=400: tensor:astype: element 1:");
	RUN_ERR(L, "tensor.zeros('FP32', {1}):astype('fp32')",
		"status=400: tensor:astype: unknown dtype 'fp32'");
	RUN_ERR(L, "tensor.zeros('FP32', {1}):astype('BYTES')",
		"tensor:astype: cannot convert FP32 to BYTES");
	close_state(L);
}

TEST(row)
{
	lua_State *L = new_state();

	RUN_OK(L, "local t = tensor.new('INT32', {3, 2}, {1, 2, 3, 4, 5, 6})\n"
		  "local r = t:row(2)\n"
		  "assert(same(r:shape(), {2}) and same(r:totable(), {3, 4}))\n"
		  "r:set(1, 30)\n"
		  "assert(t:get(2, 1) == 3)\n"
		  "local c = tensor.new('FP32', {2, 2, 2}, {1, 2, 3, 4, 5, 6, 7, 8}):row(2)\n"
		  "assert(same(c:shape(), {2, 2}) and same(c:totable(), {{5.0, 6.0}, {7.0, 8.0}}))\n"
		  "local s = tensor.new('FP32', {3}, {1, 2, 3}):row(3)\n"
		  "assert(#s:shape() == 0 and s:get() == 3)\n");
	RUN_ERR(L, "tensor.zeros('INT32', {3, 2}):row(4)",
		"status=400: tensor:row: row 4 is out of range for shape [3,2]");
	RUN_ERR(L, "tensor.zeros('INT32', {3, 2}):row(0)",
		"status=400: tensor:row: row 0 is out of range for shape [3,2]");
	RUN_ERR(L, "tensor.zeros('INT32', {}):row(1)",
		"tensor:row: a scalar has no rows");
	close_state(L);
}

TEST(data_errors)
{
	lua_State *L = new_state();

	RUN_ERR(L, "tensor.new('FP32', {1, 4}, {1, 2, 3})",
		"status=400: tensor.new: shape [1,4] needs 4 values, got 3");
	RUN_ERR(L, "tensor.new('FP32', {2}, {1, 2, 3})",
		"status=400: tensor.new: shape [2] needs 2 values, got 3");
	RUN_ERR(L, "tensor.new('FLOAT', {1}, {1})",
		"status=400: tensor.new: unknown dtype 'FLOAT'");
	RUN_ERR(L, "tensor.new('FP32', {2, -1}, {1, 2})",
		"status=400: tensor.new: shape[2] is -1, dimensions must not be negative");
	RUN_ERR(L, "tensor.new('FP32', {1, 1, 1, 1, 1, 1, 1, 1, 1}, {1})",
		"status=400: tensor.new: shape has 9 dimensions, at most 8 allowed");
	RUN_ERR(L, "tensor.new('FP32', {2.5}, {1, 2})",
		"status=400: tensor.new: shape[1] must be an integer, got 2.5");
	RUN_ERR(L, "tensor.new('FP32', {'2'}, {1, 2})",
		"status=400: tensor.new: shape[1] must be an integer, got string");
	RUN_ERR(L, "tensor.new('INT8', {3}, {1, 128, 3})",
		"status=400: tensor.new: values[2]: 128 is out of range for INT8");
	RUN_ERR(L, "tensor.new('INT8', {2, 2}, {{1, 2}, {-129, 3}})",
		"status=400: tensor.new: values[2][1]: -129 is out of range for INT8");
	RUN_ERR(L, "tensor.new('UINT8', {1}, {-1})",
		"status=400: tensor.new: values[1]: -1 is out of range for UINT8");
	RUN_ERR(L, "tensor.new('INT64', {1}, {2.0^63})",
		"status=400: tensor.new: values[1]: 9.2233720368548e+18 is out of range for INT64");
	RUN_ERR(L, "tensor.new('INT32', {2}, {1, 0.5})",
		"status=400: tensor.new: values[2]: 0.5 is not an integer (INT32)");
	RUN_ERR(L, "tensor.new('FP32', {1}, {1e300})",
		"status=400: tensor.new: values[1]: 1e+300 is out of range for FP32");
	RUN_ERR(L, "tensor.new('FP16', {1}, {70000})",
		"status=400: tensor.new: values[1]: 70000 is out of range for FP16");
	RUN_ERR(L, "tensor.new('FP32', {2, 2}, {{1, 2}, {3, true}})",
		"status=400: tensor.new: values[2][2]: expected a number for FP32, got boolean");
	RUN_ERR(L, "tensor.new('FP32', {3}, {1, nil, 3})",
		"status=400: tensor.new:");
	RUN_ERR(L, "tensor.new('FP32', {2, 2}, {{1, 2}, {3}})",
		"status=400: tensor.new: values[2] has 1 values, shape [2,2] needs 2 along dimension 2");
	RUN_ERR(L, "tensor.new('FP32', {2, 2}, {{1, 2}, 3})",
		"status=400: tensor.new: values[2]: expected a table (shape [2,2]), got number");
	RUN_ERR(L, "tensor.new('FP32', {2, 2}, {{1, 2}})",
		"status=400: tensor.new: values has 1 values, shape [2,2] needs 2 along dimension 1");
	RUN_ERR(L, "tensor.new('FP32', {2}, 5)",
		"status=400: tensor.new: values must be a table, a string or nil, got number");
	RUN_ERR(L, "tensor.new('FP32', {2}, {'1', '2'})",
		"status=400: tensor.new: values[1]: expected a number for FP32, got string");
	/* Errors in the API's own arguments are plain Lua errors. */
	RUN_ERR(L, "tensor.new('FP32', 4, {1})", "bad argument #2");
	RUN_ERR(L, "tensor.zeros(nil, {1})", "bad argument #1");
	RUN_ERR(L, "tensor.zeros('FP32', {1}).get({}, 1)", "bad argument #1");
	close_state(L);
}

/* A Lua allocator with a cap, like the glue's. */
static size_t used, cap = 64u << 20;

static void *capped_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
	size_t old = ptr ? osize : 0;

	if (nsize == 0) {
		used -= old;
		free(ptr);
		return NULL;
	}
	if (nsize > old && nsize - old > cap - used)
		return NULL;
	ptr = realloc(ptr, nsize);
	if (ptr)
		used = used - old + nsize;
	return ptr;
}

TEST(huge_shapes)
{
	lua_State *L = lua_newstate(capped_alloc, NULL);

	luaL_openlibs(L);
	cs_lua_util_open(L);
	cs_lua_tensor_open(L);
	/* Over the allocator's cap: a memory error, and the state lives on. */
	RUN_ERR(L, "tensor.zeros('FP32', {1000000000})", "not enough memory");
	RUN_ERR(L, "tensor.new('FP64', {100000, 100000})", "not enough memory");
	RUN_OK(L, "assert(tensor.zeros('FP32', {4}):sum() == 0)");
	/* Overflow of numel and of numel * size. */
	RUN_ERR(L, "tensor.zeros('FP32', {2^31, 2^31, 2^31})",
		"status=400: tensor.zeros: shape [2147483648,2147483648,2147483648] is too large");
	RUN_ERR(L, "tensor.zeros('FP64', {2^31, 2^31})",
		"status=400: tensor.zeros: FP64 [2147483648,2147483648] is too large");
	RUN_ERR(L, "tensor.zeros('BYTES', {2^62})",
		"status=400: tensor.zeros: BYTES [4611686018427387904] is too large");
	/* Counts are checked before anything is allocated. */
	RUN_ERR(L, "tensor.new('FP32', {1000000000000}, {1, 2, 3})",
		"status=400: tensor.new: shape [1000000000000] needs 1000000000000 values, got 3");
	RUN_ERR(L, "tensor.new('FP32', {2, 1000000000000}, {{1}, {2}})",
		"status=400: tensor.new: values[1] has 1 values, shape [2,1000000000000] needs 1000000000000 along dimension 2");
	lua_close(L);
	CHECK(used == 0);
}

static int bad_size(lua_State *L)
{
	int64_t shape[1] = {2};

	cs_lua_tensor_new(L, CS_FP32, 1, shape, 7);
	return 1;
}

TEST(c_api)
{
	lua_State *L = new_state();
	int64_t shape[2] = {2, 3};
	cs_tensor *t, *c;
	uint64_t big = UINT64_MAX;

	t = cs_lua_tensor_new(L, CS_FP32, 2, shape, 24);
	CHECK(t && t->name == NULL && t->dtype == CS_FP32 && t->ndim == 2);
	CHECK(t->shape[0] == 2 && t->shape[1] == 3 && t->nbytes == 24);
	CHECK(((uintptr_t)t->data & 15) == 0);
	CHECK(((float *)t->data)[5] == 0.0f);
	((float *)t->data)[5] = 2.5f;
	CHECK(cs_lua_tensor_test(L, -1) == t);
	CHECK(cs_lua_tensor_check(L, -1) == t);
	c = cs_lua_tensor_push_copy(L, t);
	CHECK(c != t && c->data != t->data && ((float *)c->data)[5] == 2.5f);
	CHECK(((uintptr_t)c->data & 15) == 0);
	lua_setglobal(L, "c");
	lua_setglobal(L, "t");
	RUN_OK(L, "assert(t:get(2, 3) == 2.5 and c:get(6) == 2.5)");
	lua_pushinteger(L, 1);
	CHECK(cs_lua_tensor_test(L, -1) == NULL);
	lua_pop(L, 1);

	/* Alignment holds for every header/data size combination. */
	for (int n = 0; n < 40; n++) {
		int64_t s = n;

		t = cs_lua_tensor_new(L, CS_UINT8, 1, &s, (size_t)n);
		CHECK(((uintptr_t)t->data & 15) == 0);
		lua_pop(L, 1);
	}

	t = cs_lua_tensor_new(L, CS_UINT64, 0, NULL, 8);
	memcpy(t->data, &big, 8);
	cs_lua_tensor_push_table(L, t);
	CHECK(lua_type(L, -1) == LUA_TNUMBER && !lua_isinteger(L, -1));
	CHECK(lua_tonumber(L, -1) == 18446744073709551616.0);
	lua_pop(L, 2);

	/* A BYTES buffer filled from C, then read from Lua. */
	shape[0] = 2;
	t = cs_lua_tensor_new(L, CS_BYTES, 1, shape, 11);
	memcpy(t->data, "\2\0\0\0hi\1\0\0\0!", 11);
	lua_setglobal(L, "b");
	RUN_OK(L, "assert(b:get(1) == 'hi' and b:get(2) == '!')");
	/* A malformed one is refused, not overrun. */
	t = cs_lua_tensor_new(L, CS_BYTES, 1, shape, 6);
	memcpy(t->data, "\2\0\0\0hi", 6);
	lua_setglobal(L, "m");
	RUN_ERR(L, "m:get(2)", "status=400: tensor:get: BYTES data is malformed at element 2");
	RUN_ERR(L, "m:totable()", "BYTES data is malformed at element 2");

	/* A size that does not fit the shape is a plain error. */
	lua_pushcfunction(L, bad_size);
	CHECK(lua_pcall(L, 0, 0, 0) == LUA_ERRRUN);
	CHECK_HAS(lua_tostring(L, -1), "tensor: FP32 data of 7 bytes does not fit its shape");
	lua_pop(L, 1);
	close_state(L);
}

int main(void)
{
	RUN(new_flat);
	RUN(new_nested);
	RUN(new_raw_string);
	RUN(every_dtype);
	RUN(bool_dtype);
	RUN(bytes_dtype);
	RUN(zeros_and_is);
	RUN(shape_is_an_array);
	RUN(reshape);
	RUN(get_set);
	RUN(totable);
	RUN(reductions);
	RUN(softmax);
	RUN(topk);
	RUN(astype);
	RUN(row);
	RUN(data_errors);
	RUN(huge_shapes);
	RUN(c_api);
	return tap_done();
}
