/*
 * fuzz_image.c - libFuzzer target: image.decode (TurboJPEG, libspng) on
 * any bytes, then what a glue does with a decoded image (resize both ways,
 * crop, to_tensor, to_png), in a Lua state with the glue's tensor and
 * image libraries. Errors raised to Lua are expected; crashes, leaks and
 * undefined behaviour are not. Images are capped at 2^20 pixels.
 */
#include <stdint.h>
#include <stdlib.h>

#include <lauxlib.h>
#include <lualib.h>

#include "glue/lua_image.h"
#include "glue/lua_tensor.h"
#include "glue/lua_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char script[] =
	"local bytes, channels = ...\n"
	"local im = image.decode(bytes, {channels = channels})\n"
	"local r = im:resize(7, 5)\n"
	"r = im:resize(3, 2, 'nearest')\n"
	"local c = im:center_crop(math.min(im.width, 3), math.min(im.height, 2))\n"
	"local t = c:to_tensor{mean = 0.5, std = 0.25}\n"
	"local png = t:to_png()\n"
	"return image.decode(png).width\n";

static lua_State *L;
static int fn_ref;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!L) {
		L = luaL_newstate();
		luaL_openlibs(L);
		cs_lua_util_open(L);
		cs_lua_tensor_open(L);
		cs_lua_image_open(L, (uint64_t)1 << 20, (size_t)1 << 20);
		if (luaL_loadstring(L, script) != LUA_OK)
			abort();
		fn_ref = luaL_ref(L, LUA_REGISTRYINDEX);
	}
	lua_rawgeti(L, LUA_REGISTRYINDEX, fn_ref);
	lua_pushlstring(L, (const char *)data, size);
	lua_pushinteger(L, size ? (data[size - 1] % 3 == 0 ? 1 : data[size - 1] % 3 == 1 ? 3 : 4) : 3);
	lua_pcall(L, 2, 1, 0);
	lua_settop(L, 0);
	lua_gc(L, LUA_GCCOLLECT, 0);
	return 0;
}
