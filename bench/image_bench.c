/*
 * image_bench.c - decode + resize + normalise of one JPEG into a 224x224
 * FP32 NCHW tensor, per image, through the glue's `image` library (the
 * code a glue runs: image.decode(b):resize(224, 224):to_tensor{...}).
 * Built and run by bench/image.sh.
 *
 *   image_bench FILE.jpg SECONDS OUT.f32 [draft]
 *
 * With "draft" the JPEG is decoded at a DCT scale that keeps it at least
 * 224x224 (image.decode's draft option, Pillow's draft()).
 * Runs the pipeline for about SECONDS, prints "images N", "seconds S",
 * "ms_per_image M", and writes the last tensor to OUT.f32 (raw float32)
 * so the bench can check it equals Pillow + numpy's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <lauxlib.h>
#include <lualib.h>

#include "glue/lua_image.h"
#include "glue/lua_tensor.h"
#include "glue/lua_util.h"

static const char pipeline[] =
	"local bytes, draft = ...\n"
	"return image.decode(bytes, {draft = draft and {224, 224} or nil}):resize(224, 224)\n"
	"  :to_tensor{mean = {0.485, 0.456, 0.406}, std = {0.229, 0.224, 0.225}}\n";

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	lua_State *L;
	FILE *f;
	char *buf;
	long len;
	double secs, t0, t;
	long n = 0;
	int ref;

	if (argc != 4 && argc != 5) {
		fprintf(stderr, "usage: image_bench FILE.jpg SECONDS OUT.f32 [draft]\n");
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
	if (luaL_loadstring(L, pipeline) != LUA_OK) {
		fprintf(stderr, "%s\n", lua_tostring(L, -1));
		return 1;
	}
	ref = luaL_ref(L, LUA_REGISTRYINDEX);
	t0 = now();
	do {
		lua_settop(L, 0);
		lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
		lua_pushlstring(L, buf, (size_t)len);
		lua_pushboolean(L, argc == 5);
		if (lua_pcall(L, 2, 1, 0) != LUA_OK) {
			fprintf(stderr, "pipeline: %s\n", luaL_tolstring(L, -1, NULL));
			return 1;
		}
		n++;
		t = now() - t0;
	} while (t < secs);
	{
		cs_tensor *out = cs_lua_tensor_check(L, -1);

		f = fopen(argv[3], "wb");
		if (!f || fwrite(out->data, 1, out->nbytes, f) != out->nbytes || fclose(f)) {
			perror(argv[3]);
			return 1;
		}
	}
	printf("images %ld\nseconds %.3f\nms_per_image %.3f\n", n, t, t * 1e3 / (double)n);
	lua_close(L);
	free(buf);
	return 0;
}
