/*
 * test_lua_image.c - the glue's `image`: decoding against Pillow, the
 * resampler against Pillow's, the torchvision pipeline, conversions, bad
 * images (empty, truncated, corrupt, a PNG bomb, GIF, over the limits),
 * EXIF orientation against Pillow's exif_transpose (all 8, a huge and
 * malformed EXIF blocks), PNG output and the memory the pixels and the
 * decoders take from the state's allocator.
 *
 * The fixtures and references are written at test time by
 * tests/data/images/make_fixtures.py (python3-pil, python3-numpy,
 * python3-torchvision) into a temp dir; without python3-pil and numpy the
 * whole program is skipped.
 *
 * Errors are read as "status=<http>: <message>" (error_text()), as in
 * test_lua_tensor.c.
 *
 * Tolerances: decoding and both resamplers must equal Pillow byte for byte
 * (the same libjpeg-turbo decodes; the resampler is Pillow's fixed-point
 * one); CMYK and grey conversions are Pillow's integer formulas (equal);
 * the FP32 tensor equals torchvision's within 1e-6.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lualib.h>

#include "glue/lua_util.h"
#include "glue/lua_image.h"
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

static char fixtures[256];

/* An allocator that counts: the bytes in use and the peak; a cap if set. */
static size_t mem_used, mem_peak, mem_cap;

static void *count_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
	size_t old = ptr ? osize : 0;
	void *p;

	(void)ud;
	if (nsize == 0) {
		free(ptr);
		mem_used -= old;
		return NULL;
	}
	if (mem_cap && nsize > old && mem_used + (nsize - old) > mem_cap)
		return NULL;
	p = realloc(ptr, nsize);
	if (!p)
		return NULL;
	mem_used = mem_used - old + nsize;
	if (mem_used > mem_peak)
		mem_peak = mem_used;
	return p;
}

/* maxdiff(a, b): the largest difference of two byte strings (-1: lengths differ). */
static int l_maxdiff(lua_State *L)
{
	size_t na, nb;
	const unsigned char *a = (const unsigned char *)luaL_checklstring(L, 1, &na);
	const unsigned char *b = (const unsigned char *)luaL_checklstring(L, 2, &nb);
	int m = 0;

	if (na != nb) {
		lua_pushinteger(L, -1);
		return 1;
	}
	for (size_t i = 0; i < na; i++) {
		int d = a[i] > b[i] ? a[i] - b[i] : b[i] - a[i];

		if (d > m)
			m = d;
	}
	lua_pushinteger(L, m);
	return 1;
}

/* fmaxdiff(a, b): the largest difference of two little-endian float32 strings. */
static int l_fmaxdiff(lua_State *L)
{
	size_t na, nb;
	const char *a = luaL_checklstring(L, 1, &na);
	const char *b = luaL_checklstring(L, 2, &nb);
	double m = 0;

	if (na != nb || na % 4) {
		lua_pushnumber(L, -1);
		return 1;
	}
	for (size_t i = 0; i < na; i += 4) {
		float x, y;

		memcpy(&x, a + i, 4);
		memcpy(&y, b + i, 4);
		if ((double)(x > y ? x - y : y - x) > m)
			m = x > y ? x - y : y - x;
	}
	lua_pushnumber(L, m);
	return 1;
}

static const char prelude[] =
	"function read(name)\n"
	"  local f = assert(io.open(FIXTURES .. '/' .. name, 'rb'))\n"
	"  local s = f:read('a'); f:close(); return s\n"
	"end\n";

static lua_State *new_state(uint64_t max_pixels, size_t max_bytes)
{
	lua_State *L = lua_newstate(count_alloc, NULL);

	luaL_openlibs(L);
	cs_lua_util_open(L);
	cs_lua_tensor_open(L);
	cs_lua_image_open(L, max_pixels, max_bytes);
	lua_register(L, "maxdiff", l_maxdiff);
	lua_register(L, "fmaxdiff", l_fmaxdiff);
	lua_pushstring(L, fixtures);
	lua_setglobal(L, "FIXTURES");
	if (luaL_dostring(L, prelude) != LUA_OK) {
		printf("# prelude: %s\n", lua_tostring(L, -1));
		exit(1);
	}
	return L;
}

static lua_State *default_state(void)
{
	return new_state(16777216, 16 << 20);
}

static void close_state(lua_State *L)
{
	lua_close(L);
	LEAK_CHECK();
}

static char last_error[1024];

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

#define RUN_OK(L, code)                                                    \
	do {                                                               \
		const char *tap__e = run((L), (code));                     \
		if (tap__e)                                                \
			printf("#   %s:%d: lua: %s\n", __FILE__, __LINE__, \
			       tap__e);                                    \
		CHECK(tap__e == NULL);                                     \
	} while (0)

#define RUN_ERR(L, code, frag)                                             \
	do {                                                               \
		const char *tap__e = run((L), (code));                     \
		CHECK(tap__e != NULL);                                     \
		CHECK_HAS(tap__e, (frag));                                 \
	} while (0)

/* ------------------------------------------------------------------ */

TEST(decode_jpeg_png_as_pillow)
{
	lua_State *L = default_state();

	RUN_OK(L, "local im = image.decode(read('photo.jpg'))\n"
		  "assert(im.width == 640 and im.height == 480 and im.channels == 3)\n"
		  "assert(tostring(im) == 'image<640x480x3>')\n"
		  "assert(image.is(im) and not image.is({}))\n"
		  "local d = maxdiff(im:bytes(), read('photo.rgb'))\n"
		  "assert(d == 0, 'jpeg vs Pillow: ' .. d)\n");
	RUN_OK(L, "local im = image.decode(read('photo.png'))\n"
		  "assert(maxdiff(im:bytes(), read('photo_png.rgb')) == 0)\n");
	/* draft: decoded at 1/2 in the DCT, as Pillow's draft() */
	RUN_OK(L, "local im = image.decode(read('photo.jpg'), {draft = {224, 224}})\n"
		  "assert(im.width == 320 and im.height == 240)\n"
		  "assert(maxdiff(im:bytes(), read('draft_224.rgb')) == 0)\n"
		  "assert(image.decode(read('photo.jpg'), {draft = {400, 300}}).width == 640)\n"
		  "assert(image.decode(read('photo.png'), {draft = {10, 10}}).width == 640)\n");
	RUN_ERR(L, "image.decode(read('photo.jpg'), {draft = 5})", "draft must be {width, height}");
	/* a JPEG behind 16 EXIF segments (~1 MB) decodes the same */
	RUN_OK(L, "local im = image.decode(read('exif.jpg'))\n"
		  "assert(maxdiff(im:bytes(), read('photo.rgb')) == 0)\n");
	close_state(L);
}

TEST(conversions)
{
	lua_State *L = default_state();

	RUN_OK(L, "assert(maxdiff(image.decode(read('gray.jpg')):bytes(), read('gray.rgb')) == 0)\n");
	RUN_OK(L, "local im = image.decode(read('gray.png'), {channels = 1})\n"
		  "assert(im.channels == 1)\n"
		  "assert(maxdiff(im:bytes(), read('gray_png.l')) == 0)\n");
	RUN_OK(L, "local d = maxdiff(image.decode(read('photo.jpg'), {channels = 1}):bytes(), read('photo_l.l'))\n"
		  "assert(d == 0, 'grey: ' .. d)\n");
	RUN_OK(L, "local im = image.decode(read('rgba.png'), {channels = 4})\n"
		  "assert(maxdiff(im:bytes(), read('rgba.rgba')) == 0)\n");
	RUN_OK(L, "assert(maxdiff(image.decode(read('palette.png')):bytes(), read('palette.rgb')) == 0)\n");
	/* 16-bit PNG: converted to 8 bits (the high byte) */
	RUN_OK(L, "local d = maxdiff(image.decode(read('rgb16.png')):bytes(), read('rgb16.rgb'))\n"
		  "assert(d == 0, '16-bit: ' .. d)\n");
	/* CMYK JPEG: converted to RGB as Pillow does */
	RUN_OK(L, "local d = maxdiff(image.decode(read('cmyk.jpg')):bytes(), read('cmyk.rgb'))\n"
		  "assert(d == 0, 'cmyk: ' .. d)\n");
	RUN_ERR(L, "image.decode(read('photo.jpg'), {channels = 2})", "channels must be 1, 3 or 4");
	close_state(L);
}

TEST(resize_as_pillow)
{
	static const char *const cases[] = {
		"bilinear", "224", "224", "bilinear", "37", "91",
		"bilinear", "800", "600", "bilinear", "640", "100",
		"bilinear", "100", "480", "nearest", "224", "224",
		"nearest", "1000", "750", "nearest", "33", "17",
	};
	lua_State *L = default_state();
	char code[512];

	RUN_OK(L, "IM = image.decode(read('photo.jpg'))");
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i += 3) {
		snprintf(code, sizeof code,
			 "local r = IM:resize(%s, %s, '%s')\n"
			 "assert(r.width == %s and r.height == %s)\n"
			 "local d = maxdiff(r:bytes(), read('resize_%s_%sx%s.rgb'))\n"
			 "assert(d == 0, '%s %sx%s differs from Pillow by ' .. d)\n",
			 cases[i + 1], cases[i + 2], cases[i], cases[i + 1], cases[i + 2],
			 cases[i], cases[i + 1], cases[i + 2], cases[i], cases[i + 1], cases[i + 2]);
		RUN_OK(L, code);
	}
	/* bilinear is the default; one size keeps the aspect (shorter side) */
	RUN_OK(L, "assert(maxdiff(IM:resize(224, 224):bytes(), read('resize_bilinear_224x224.rgb')) == 0)\n"
		  "local r = IM:resize(256)\n"
		  "assert(r.width == 341 and r.height == 256)\n"
		  "assert(IM:resize(640, 480):bytes() == IM:bytes())\n");
	RUN_ERR(L, "IM:resize(0, 10)", "width must be 1..");
	RUN_ERR(L, "IM:resize(10, 10, 'cubic')", "invalid option 'cubic'");
	close_state(L);
}

TEST(torchvision_pipeline)
{
	lua_State *L = default_state();
	FILE *f;

	snprintf(last_error, sizeof last_error, "%s/tv_224.f32", fixtures);
	f = fopen(last_error, "rb");
	if (!f) {
		printf("# SKIP no torchvision reference (python3-torchvision missing)\n");
		close_state(L);
		return;
	}
	fclose(f);
	RUN_OK(L, "local t = image.decode(read('photo.jpg')):resize(256):center_crop(224)\n"
		  "  :to_tensor{mean = {0.485, 0.456, 0.406}, std = {0.229, 0.224, 0.225}}\n"
		  "assert(t:dtype() == 'FP32')\n"
		  "local s = t:shape(); assert(s[1] == 1 and s[2] == 3 and s[3] == 224 and s[4] == 224)\n"
		  "local d = fmaxdiff(t:bytes(), read('tv_224.f32'))\n"
		  "assert(d >= 0 and d <= 1e-6, 'vs torchvision: ' .. d)\n");
	close_state(L);
}

TEST(crops_and_layouts)
{
	lua_State *L = default_state();

	RUN_OK(L, "local im = image.decode(read('photo.png'))\n"
		  "local px = read('photo_png.rgb')\n"
		  "local c = im:crop(10, 20, 3, 2)\n"
		  "assert(c.width == 3 and c.height == 2)\n"
		  "local o1 = (20 * 640 + 10) * 3\n"
		  "local o2 = (21 * 640 + 10) * 3\n"
		  "assert(c:bytes() == px:sub(o1 + 1, o1 + 9) .. px:sub(o2 + 1, o2 + 9))\n"
		  /* torchvision's offsets: round((640-5)/2) = 318 (half to even), round(479/2) = 240 */
		  "local cc = im:center_crop(5, 1)\n"
		  "assert(cc:bytes() == im:crop(318, 240, 5, 1):bytes())\n"
		  "assert(im:center_crop(4):bytes() == im:crop(318, 238, 4, 4):bytes())\n"
		  "local u = im:crop(0, 0, 2, 2):to_tensor{dtype = 'UINT8', layout = 'HWC'}\n"
		  "assert(u:dtype() == 'UINT8' and u:bytes() == im:crop(0, 0, 2, 2):bytes())\n"
		  "local a = im:crop(0, 0, 4, 3):to_tensor{layout = 'NHWC', mean = 0.5, std = 0.25}\n"
		  "local b = im:crop(0, 0, 4, 3):to_tensor{layout = 'NCHW', mean = 0.5, std = 0.25}\n"
		  "assert(a:get(1, 2, 3, 1) == b:get(1, 1, 2, 3))\n"
		  "local r = string.byte(px, (1 * 640 + 2) * 3 + 1)\n"
		  "assert(math.abs(b:get(1, 1, 2, 3) - (r / 255 - 0.5) / 0.25) < 1e-5)\n"
		  "local s = im:crop(0, 0, 4, 3):to_tensor{layout = 'CHW', scale = 1}\n"
		  "assert(s:get(1, 2, 3) == r and #s:shape() == 3)\n");
	RUN_ERR(L, "image.decode(read('photo.png')):crop(630, 0, 20, 20)",
		"status=400: image:crop: the box 20x20 at (630,0) is outside the 640x480 image");
	RUN_ERR(L, "image.decode(read('photo.png')):center_crop(700, 10)", "larger than the 640x480 image");
	RUN_ERR(L, "image.decode(read('photo.png')):to_tensor{mean = {1, 2}}", "'mean' must have 3 values");
	RUN_ERR(L, "image.decode(read('photo.png')):to_tensor{layout = 'XY'}", "invalid option 'XY'");
	close_state(L);
}

TEST(bad_images)
{
	lua_State *L = default_state();

	RUN_ERR(L, "image.decode('')", "status=400: image.decode: the image is empty (0 bytes)");
	RUN_ERR(L, "image.decode(nil)", "status=400: image.decode: no image");
	RUN_ERR(L, "image.decode('hello, world')", "status=400: image.decode: not a JPEG or PNG image");
	RUN_ERR(L, "image.decode(read('truncated.jpg'))", "status=400: image.decode: truncated or corrupt JPEG");
	RUN_ERR(L, "image.decode(read('corrupt.jpg'))", "status=400: image.decode:");
	RUN_ERR(L, "image.decode(read('truncated.png'))", "status=400: image.decode: truncated or corrupt PNG");
	RUN_ERR(L, "image.decode(read('corrupt.png'))", "status=400: image.decode: truncated or corrupt PNG");
	RUN_ERR(L, "image.decode(read('anim.gif'))", "status=400: image.decode: GIF images are not accepted (JPEG or PNG only)");
	RUN_ERR(L, "image.decode(read('photo.jpg'):sub(1, 200))", "status=400: image.decode:");
	/* the state goes on decoding */
	RUN_OK(L, "assert(image.decode(read('photo.jpg')).width == 640)");
	close_state(L);
}

TEST(bomb_refused_before_allocating)
{
	lua_State *L = default_state();
	size_t before;

	RUN_OK(L, "BOMB = read('bomb.png'); assert(#BOMB < 12000)");
	lua_gc(L, LUA_GCCOLLECT, 0);
	before = mem_used;
	mem_peak = mem_used;
	RUN_ERR(L, "image.decode(BOMB)",
		"status=413: image.decode: the PNG header claims 100000x100000 = 10000000000 pixels, over the limit of 16777216 (limits.max_image_pixels)");
	printf("# peak growth while refusing the bomb: %zu bytes\n", mem_peak - before);
	CHECK(mem_peak - before < 64 * 1024);
	close_state(L);
}

TEST(limits)
{
	lua_State *L = new_state(640 * 480 - 1, 100000);

	RUN_ERR(L, "image.decode(read('photo.jpg'))",
		"status=413: image.decode: the image has 113395 bytes, over the limit of 100000 (limits.max_image_bytes)");
	close_state(L);
	L = new_state(640 * 480 - 1, 0);
	RUN_ERR(L, "image.decode(read('photo.jpg'))",
		"status=413: image.decode: the JPEG header claims 640x480 = 307200 pixels, over the limit of 307199");
	RUN_ERR(L, "image.decode(read('photo.png'))", "the PNG header claims 640x480");
	close_state(L);
}

TEST(exif_orientation)
{
	lua_State *L = default_state();

	/* all 8: upright as Pillow's ImageOps.exif_transpose, byte for byte */
	RUN_OK(L, "for k = 1, 8 do\n"
		  "  local im = image.decode(read('orient_' .. k .. '.jpg'))\n"
		  "  local w, h = 48, 32\n"
		  "  if k >= 5 then w, h = 32, 48 end\n"
		  "  assert(im.width == w and im.height == h, k .. ': ' .. tostring(im))\n"
		  "  local d = maxdiff(im:bytes(), read('orient_' .. k .. '.rgb'))\n"
		  "  assert(d == 0, 'orientation ' .. k .. ' vs Pillow: ' .. d)\n"
		  /* orient = false: the stored pixels, as Image.open */
		  "  local raw = image.decode(read('orient_' .. k .. '.jpg'), {orient = false})\n"
		  "  assert(raw.width == 48 and maxdiff(raw:bytes(), read('orient_1.rgb')) == 0)\n"
		  /* with other channel counts too */
		  "  local g = image.decode(read('orient_' .. k .. '.jpg'), {channels = 4})\n"
		  "  assert(g.width == w and g.channels == 4)\n"
		  "end\n");
	RUN_OK(L, "local im = image.decode(read('orient_6.png'))\n"
		  "assert(im.width == 32 and im.height == 48)\n");
	/* a 64 kB EXIF block, the tag last of 5401 entries; two values */
	RUN_OK(L, "for _, f in ipairs{'orient_huge_6.jpg', 'exif_count2_6.jpg'} do\n"
		  "  local d = maxdiff(image.decode(read(f)):bytes(), read('orient_6.rgb'))\n"
		  "  assert(d == 0, f .. ': ' .. d)\n"
		  "end\n");
	/* malformed blocks are ignored: the image as stored */
	RUN_OK(L, "for _, n in ipairs{'ifd', 'count', 'magic', 'value', 'cut', 'short'} do\n"
		  "  local im = image.decode(read('exif_bad_' .. n .. '.jpg'))\n"
		  "  assert(im.width == 48, n)\n"
		  "  assert(maxdiff(im:bytes(), read('orient_1.rgb')) == 0, n)\n"
		  "end\n");
	RUN_ERR(L, "image.decode(read('orient_6.jpg'), {orient = 1})", "orient must be true or false");
	close_state(L);
}

TEST(pixels_count_against_the_allocator)
{
	lua_State *L = default_state();
	size_t before;

	lua_gc(L, LUA_GCCOLLECT, 0);
	RUN_OK(L, "DATA = read('rgba.png')");
	lua_gc(L, LUA_GCCOLLECT, 0);
	before = mem_used;
	RUN_OK(L, "IM = image.decode(DATA, {channels = 4})");
	lua_gc(L, LUA_GCCOLLECT, 0);
	printf("# one 640x480x4 image: %zu bytes of the state\n", mem_used - before);
	CHECK(mem_used + 1024 - before >= 640 * 480 * 4);
	RUN_OK(L, "IM = nil");
	lua_gc(L, LUA_GCCOLLECT, 0);
	CHECK(mem_used < before + 4096);
	close_state(L);
}

/*
 * The decoders' working memory comes from the state too: libspng's from
 * its allocator, libjpeg-turbo's as a reservation while it decodes (all
 * the coefficients of a progressive JPEG), so a cap refuses what it would
 * take.
 */
TEST(decoder_memory_counts)
{
	lua_State *L = default_state();
	size_t before, img = 640 * 480 * 3;

	RUN_OK(L, "PNG, JPG, PROG = read('photo.png'), read('photo.jpg'), read('photo_prog.jpg')");
	lua_gc(L, LUA_GCCOLLECT, 0);
	before = mem_peak = mem_used;
	RUN_OK(L, "IM = image.decode(PNG)");
	printf("# PNG decode: peak %zu bytes over the image\n", mem_peak - before - img);
	/* zlib's 32 kB window and libspng's rows */
	CHECK(mem_peak - before >= img + 32 * 1024);
	RUN_OK(L, "IM = nil");
	lua_gc(L, LUA_GCCOLLECT, 0);
	before = mem_peak = mem_used;
	RUN_OK(L, "IM = image.decode(PROG)");
	printf("# progressive JPEG decode: peak %zu bytes over the image\n", mem_peak - before - img);
	/* 2 bytes a coefficient, chroma at 4:2:0 */
	CHECK(mem_peak - before >= img + 640 * 480 * 3);
	RUN_OK(L, "assert(maxdiff(IM:bytes(), image.decode(JPG):bytes()) < 64)\n"
		  "IM = nil");
	lua_gc(L, LUA_GCCOLLECT, 0);
	/* a cap the baseline JPEG fits in, the progressive one does not */
	mem_cap = mem_used + img + 512 * 1024;
	RUN_OK(L, "IM = image.decode(JPG); IM = nil");
	lua_gc(L, LUA_GCCOLLECT, 0);
	RUN_ERR(L, "image.decode(PROG)", "not enough memory");
	lua_gc(L, LUA_GCCOLLECT, 0);
	/* room for the PNG's pixels, not for zlib's window beside them */
	mem_cap = mem_used + img + 16 * 1024;
	RUN_ERR(L, "image.decode(PNG)", "PNG");
	mem_cap = 0;
	RUN_OK(L, "IM = image.decode(PNG); IM = nil");
	close_state(L);
}

TEST(png_out)
{
	lua_State *L = default_state();

	RUN_OK(L, "local im = image.decode(read('photo.jpg'))\n"
		  "local png = im:to_png()\n"
		  "assert(png:sub(2, 4) == 'PNG')\n"
		  "assert(image.decode(png):bytes() == im:bytes())\n"
		  "local g = image.decode(read('gray.png'), {channels = 1})\n"
		  "assert(image.decode(g:to_png(), {channels = 1}):bytes() == g:bytes())\n"
		  /* a UINT8 HWC tensor and an FP32 NCHW one in 0..1 give the same PNG pixels */
		  "local small = im:crop(5, 5, 16, 8)\n"
		  "local u = small:to_tensor{dtype = 'UINT8', layout = 'HWC'}\n"
		  "assert(image.decode(u:to_png()):bytes() == small:bytes())\n"
		  "local f = small:to_tensor{}\n"
		  "assert(image.decode(f:to_png()):bytes() == small:bytes())\n"
		  "local hw = tensor.new('FP32', {2, 2}, {0, 0.5, 1, 2})\n"
		  "local p = image.decode(hw:to_png(), {channels = 1}):bytes()\n"
		  "assert(p == string.char(0, 128, 255, 255))\n");
	RUN_ERR(L, "tensor.new('FP32', {2, 2, 2}, {1,2,3,4,5,6,7,8}):to_png()", "is no PNG");
	RUN_ERR(L, "tensor.new('BOOL', {2, 2}, {true, false, true, true}):to_png()", "cannot be an image");
	close_state(L);
}

TEST(bytes_tensor_input)
{
	lua_State *L = default_state();

	RUN_OK(L, "local t = tensor.new('BYTES', {1}, {read('photo.png')})\n"
		  "assert(maxdiff(image.decode(t):bytes(), read('photo_png.rgb')) == 0)\n");
	RUN_ERR(L, "image.decode(tensor.new('BYTES', {2}, {'a', 'b'}))", "must hold one encoded image");
	RUN_ERR(L, "image.decode(tensor.new('FP32', {1}, {1}))", "expected a string of bytes or a BYTES tensor");
	close_state(L);
}

int main(void)
{
	const char *src = getenv("CS_TOP_SRCDIR");
	char cmd[1024];

	if (system("/usr/bin/python3 -c 'import PIL, numpy' >/dev/null 2>&1") != 0) {
		printf("1..0 # SKIP python3-pil or python3-numpy is not installed (the fixtures need them)\n");
		return 0;
	}
	snprintf(fixtures, sizeof fixtures, "%s/cs-image-XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(fixtures)) {
		printf("1..1\nnot ok 1 - a temp dir for the fixtures\n");
		return 1;
	}
	snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/tests/data/images/make_fixtures.py %s",
		 src ? src : ".", fixtures);
	if (system(cmd) != 0) {
		printf("1..1\nnot ok 1 - make_fixtures.py writes the fixtures (%s)\n", cmd);
		return 1;
	}
	RUN(decode_jpeg_png_as_pillow);
	RUN(conversions);
	RUN(resize_as_pillow);
	RUN(torchvision_pipeline);
	RUN(crops_and_layouts);
	RUN(bad_images);
	RUN(bomb_refused_before_allocating);
	RUN(limits);
	RUN(exif_orientation);
	RUN(pixels_count_against_the_allocator);
	RUN(decoder_memory_counts);
	RUN(png_out);
	RUN(bytes_tensor_input);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", fixtures);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", fixtures);
	return tap_done();
}
