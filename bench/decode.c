/*
 * decode.c - V2 request decode speed: cubeserve's tree-free decoder
 * (runtime/protocol/v2.c + json_tensor.c) against decoding the same body through a
 * jansson tree (json_loadb, then walk inputs[0].data into a float buffer),
 * in one run, on one 1 M-element FP32 request. Prints MB/s of request body
 * and the ratio. Usage: decode [ELEMENTS [ROUNDS]]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "protocol/v2.h"

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The jansson way: a tree of one allocation per number. */
static int decode_jansson(const char *body, size_t len, float *out, size_t n)
{
	json_error_t jerr;
	json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	json_t *data, *v;
	size_t i;

	if (!root)
		return -1;
	data = json_object_get(json_array_get(json_object_get(root, "inputs"), 0), "data");
	if (json_array_size(data) != n) {
		json_decref(root);
		return -1;
	}
	json_array_foreach(data, i, v) {
		if (json_is_real(v))
			out[i] = (float)json_real_value(v);
		else if (json_is_integer(v))
			out[i] = (float)json_integer_value(v);
		else
			break;
	}
	json_decref(root);
	return i == n ? 0 : -1;
}

int main(int argc, char **argv)
{
	size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000000;
	int rounds = argc > 2 ? atoi(argv[2]) : 5;
	cs_json_limits lim = {64, 1 << 20, (uint64_t)1 << 32, (size_t)1 << 34};
	double best_fast = 1e9, best_tree = 1e9;
	size_t cap = n * 24 + 256, len = 0;
	char *body = malloc(cap);
	float *ref = malloc(n * sizeof(float)), *tree = malloc(n * sizeof(float));
	char err[512];

	if (!body || !ref || !tree)
		return 1;
	srand(42);
	len += (size_t)snprintf(body, cap, "{\"id\":\"bench\",\"inputs\":[{\"name\":\"x\",\"shape\":[%zu],"
				"\"datatype\":\"FP32\",\"data\":[", n);
	for (size_t i = 0; i < n; i++) {
		/* what a client's float32 serializer writes: up to 9 digits */
		float f = (float)((rand() / (double)RAND_MAX - 0.5) * 200.0);

		len += (size_t)snprintf(body + len, cap - len, "%s%.9g", i ? "," : "", (double)f);
	}
	len += (size_t)snprintf(body + len, cap - len, "]}]}");

	for (int r = 0; r < rounds; r++) {
		cs_arena arena;
		cs_v2_request rq;
		double t0, t1;

		cs_arena_init(&arena, 0);
		t0 = now();
		if (cs_v2_parse_request(body, len, (size_t)-1, &lim, &arena, &rq, err, sizeof err)) {
			fprintf(stderr, "decode failed: %s\n", err);
			return 1;
		}
		t1 = now();
		if (t1 - t0 < best_fast)
			best_fast = t1 - t0;
		memcpy(ref, rq.inputs[0].data, n * sizeof(float));
		cs_v2_request_free(&rq);
		cs_arena_destroy(&arena);

		t0 = now();
		if (decode_jansson(body, len, tree, n)) {
			fprintf(stderr, "jansson decode failed\n");
			return 1;
		}
		t1 = now();
		if (t1 - t0 < best_tree)
			best_tree = t1 - t0;
		if (memcmp(ref, tree, n * sizeof(float)) != 0) {
			fprintf(stderr, "the two decoders disagree\n");
			return 1;
		}
	}
	printf("elements %zu\nbody_bytes %zu\nrounds %d\n", n, len, rounds);
	printf("fast_seconds %.6f\nfast_mb_s %.1f\n", best_fast, (double)len / best_fast / 1e6);
	printf("jansson_seconds %.6f\njansson_mb_s %.1f\n", best_tree, (double)len / best_tree / 1e6);
	printf("ratio %.2f\n", best_tree / best_fast);
	free(body);
	free(ref);
	free(tree);
	return 0;
}
