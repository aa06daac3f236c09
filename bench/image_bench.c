/*
 * image_bench.c - decode + resize + normalise of one JPEG into a 224x224
 * FP32 NCHW tensor, per image, through the glue's `image` library (the
 * code a glue runs: image.decode(b):resize(224, 224):to_tensor{...}).
 * Built and run by bench/image.sh.
 *
 *   image_bench FILE.jpg SECONDS OUT.f32 [draft|example]
 *
 * With "draft" the JPEG is decoded at a DCT scale that keeps it at least
 * 224x224 (image.decode's draft option, Pillow's draft()). With "example"
 * the pipeline is examples/mobilenet_image's (torchvision's ImageNet one):
 * resize(256):center_crop(224) instead of resize(224, 224).
 * Runs the pipeline for about SECONDS, prints "images N", "seconds S",
 * "ms_per_image M", and writes the last tensor to OUT.f32 (raw float32)
 * so the bench can check it equals Pillow + numpy's; then the decode alone
 * for SECONDS / 2: "decode_ms M" (the rest is resize + to_tensor); then
 * the decode at 1/8 scale (a DCT of one coefficient a block, no
 * upsampling to speak of: mostly the entropy decoding, which no scale
 * avoids): "decode_eighth_ms M".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>
#include <lualib.h>

#include "glue/lua_image.h"
#include "glue/lua_tensor.h"
#include "glue/lua_util.h"

static const char decode_only[] =
	"local bytes, draft = ...\n"
	"return image.decode(bytes, {draft = draft and {224, 224} or nil})\n";

static const char decode_eighth[] =
	"local bytes = ...\n"
	"return image.decode(bytes, {draft = {1, 1}})\n";

static const char pipeline[] =
	"local bytes, draft = ...\n"
	"return image.decode(bytes, {draft = draft and {224, 224} or nil}):resize(224, 224)\n"
	"  :to_tensor{mean = {0.485, 0.456, 0.406}, std = {0.229, 0.224, 0.225}}\n";

static const char example[] =
	"local bytes = ...\n"
	"return image.decode(bytes):resize(256):center_crop(224)\n"
	"  :to_tensor{mean = {0.485, 0.456, 0.406}, std = {0.229, 0.224, 0.225}}\n";

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Runs the chunk at ref for about secs; the ms per run. Leaves the last result. */
static double loop(lua_State *L, int ref, const char *buf, size_t len, int draft,
		   double secs, long *runs)
{
	double t0 = now(), t;
	long n = 0;

	do {
		lua_settop(L, 0);
		lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
		lua_pushlstring(L, buf, len);
		lua_pushboolean(L, draft);
		if (lua_pcall(L, 2, 1, 0) != LUA_OK) {
			fprintf(stderr, "pipeline: %s\n", luaL_tolstring(L, -1, NULL));
			exit(1);
		}
		n++;
		t = now() - t0;
	} while (t < secs);
	*runs = n;
	return t * 1e3 / (double)n;
}

int main(int argc, char **argv)
{
	lua_State *L;
	FILE *f;
	char *buf;
	long len;
	double secs, ms, dec_ms, eighth_ms;
	long n, nd;
	int ref, dref, eref;
	const char *mode;

	if (argc != 4 && argc != 5) {
		fprintf(stderr, "usage: image_bench FILE.jpg SECONDS OUT.f32 [draft|example]\n");
		return 2;
	}
	secs = atof(argv[2]);
	f = fopen(argv[1], "rb");
	if (!f || fseek(f, 0, SEEK_END) || (len = ftell(f)) <= 0 || fseek(f, 0, SEEK_SET)) {
		perror(argv[1]);
		return 1;
	}
	buf = malloc((size_t)len);
	if (!buf || fread(buf, 1, (size_t)len, f) != (size_t)len) {
		perror(argv[1]);
		return 1;
	}
	fclose(f);
	L = luaL_newstate();
	luaL_openlibs(L);
	cs_lua_util_open(L);
	cs_lua_tensor_open(L);
	cs_lua_image_open(L, (uint64_t)1 << 26, (size_t)1 << 26);
	mode = argc == 5 ? argv[4] : "";
	if (luaL_loadstring(L, strcmp(mode, "example") == 0 ? example : pipeline) != LUA_OK) {
		fprintf(stderr, "%s\n", lua_tostring(L, -1));
		return 1;
	}
	ref = luaL_ref(L, LUA_REGISTRYINDEX);
	if (luaL_loadstring(L, decode_only) != LUA_OK) {
		fprintf(stderr, "%s\n", lua_tostring(L, -1));
		return 1;
	}
	dref = luaL_ref(L, LUA_REGISTRYINDEX);
	if (luaL_loadstring(L, decode_eighth) != LUA_OK) {
		fprintf(stderr, "%s\n", lua_tostring(L, -1));
		return 1;
	}
	eref = luaL_ref(L, LUA_REGISTRYINDEX);
	ms = loop(L, ref, buf, (size_t)len, strcmp(mode, "draft") == 0, secs, &n);
	{
		cs_tensor *out = cs_lua_tensor_check(L, -1);

		f = fopen(argv[3], "wb");
		if (!f || fwrite(out->data, 1, out->nbytes, f) != out->nbytes || fclose(f)) {
			perror(argv[3]);
			return 1;
		}
	}
	/* SECONDS 0 (one run, for callgrind): the pipeline only */
	dec_ms = secs > 0 ? loop(L, dref, buf, (size_t)len, strcmp(mode, "draft") == 0, secs / 2, &nd) : 0;
	eighth_ms = secs > 0 ? loop(L, eref, buf, (size_t)len, 0, secs / 2, &nd) : 0;
	printf("images %ld\nseconds %.3f\nms_per_image %.3f\ndecode_ms %.3f\ndecode_eighth_ms %.3f\n",
	       n, ms * (double)n / 1e3, ms, dec_ms, eighth_ms);
	lua_close(L);
	free(buf);
	return 0;
}
