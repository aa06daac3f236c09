/* test_tensor.c - dtype names and sizes, shapes, FP16, the arena. */
#include <math.h>

#include "tap.h"

#include <cubeserve/tensor.h>

#include "core/arena.h"

TEST(dtype_names_round_trip)
{
	for (int d = CS_BOOL; d <= CS_BYTES; d++)
		CHECK(cs_dtype_from_name(cs_dtype_name((cs_dtype)d)) == (cs_dtype)d);
	CHECK(cs_dtype_from_name("fp32") == CS_DTYPE_INVALID);
	CHECK(cs_dtype_from_name("FP33") == CS_DTYPE_INVALID);
	CHECK(cs_dtype_from_name(NULL) == CS_DTYPE_INVALID);
	CHECK_STR(cs_dtype_name((cs_dtype)99), "INVALID");
}

TEST(dtype_sizes)
{
	CHECK(cs_dtype_size(CS_BOOL) == 1);
	CHECK(cs_dtype_size(CS_UINT16) == 2);
	CHECK(cs_dtype_size(CS_INT32) == 4);
	CHECK(cs_dtype_size(CS_FP16) == 2);
	CHECK(cs_dtype_size(CS_FP64) == 8);
	CHECK(cs_dtype_size(CS_BYTES) == 0);
}

TEST(shape_numel)
{
	int64_t s[] = {2, 3, 4};
	int64_t neg[] = {2, -1};
	int64_t big[] = {INT64_MAX, 2};
	int64_t zero[] = {5, 0, 7};

	CHECK(cs_shape_numel(3, s) == 24);
	CHECK(cs_shape_numel(0, s) == 1);
	CHECK(cs_shape_numel(2, neg) == -1);
	CHECK(cs_shape_numel(2, big) == -1);
	CHECK(cs_shape_numel(3, zero) == 0);
	CHECK(cs_shape_numel(CS_MAX_DIMS + 1, s) == -1);
}

TEST(shape_matches_and_format)
{
	int64_t decl[] = {-1, 4};
	int64_t ok[] = {7, 4};
	int64_t bad[] = {1, 5};
	char buf[64];

	CHECK(cs_shape_matches(2, decl, 2, ok));
	CHECK(!cs_shape_matches(2, decl, 2, bad));
	CHECK(!cs_shape_matches(2, decl, 1, ok));
	CHECK_STR(cs_shape_format(2, decl, buf, sizeof buf), "[-1,4]");
	CHECK_STR(cs_shape_format(0, decl, buf, sizeof buf), "[]");
	cs_shape_format(2, decl, buf, 4);
	CHECK(strlen(buf) == 3);
}

TEST(fp16_conversion)
{
	/* known encodings */
	CHECK(cs_fp32_to_fp16(1.0f) == 0x3c00);
	CHECK(cs_fp32_to_fp16(-2.0f) == 0xc000);
	CHECK(cs_fp32_to_fp16(65504.0f) == 0x7bff);
	CHECK(cs_fp32_to_fp16(1e6f) == 0x7c00);          /* overflow -> inf */
	CHECK(cs_fp32_to_fp16(5.9604645e-8f) == 0x0001); /* smallest subnormal */
	CHECK(cs_fp16_to_fp32(0x3555) > 0.3332f && cs_fp16_to_fp32(0x3555) < 0.3334f);
	CHECK(cs_fp16_to_fp32(0x0001) == 5.9604645e-8f);
	CHECK(isnan(cs_fp16_to_fp32(cs_fp32_to_fp16(NAN))));
	CHECK(isinf(cs_fp16_to_fp32(0xfc00)) && cs_fp16_to_fp32(0xfc00) < 0);
	/* every finite half survives a round trip */
	for (unsigned h = 0; h < 0x10000; h++) {
		if ((h & 0x7c00) == 0x7c00)
			continue;
		if (cs_fp32_to_fp16(cs_fp16_to_fp32((uint16_t)h)) != h) {
			printf("#   half 0x%04x does not round-trip\n", h);
			CHECK(0);
			break;
		}
	}
	/* ties round to even: 1 + 2^-11 lies halfway between 1 and 1 + 2^-10 */
	CHECK(cs_fp32_to_fp16(1.0f + 1.0f / 2048) == 0x3c00);
	CHECK(cs_fp32_to_fp16(1.0f + 3.0f / 2048) == 0x3c02);
}

TEST(arena_alloc_align_reset)
{
	cs_arena a;
	char *p, *q;

	cs_arena_init(&a, 256);
	p = cs_arena_alloc(&a, 3);
	q = cs_arena_alloc(&a, 5);
	CHECK(p && q && ((uintptr_t)p % 16) == 0 && ((uintptr_t)q % 16) == 0);
	CHECK(q != p);
	p = cs_arena_alloc(&a, 10000); /* larger than a chunk */
	CHECK(p != NULL);
	memset(p, 1, 10000);
	CHECK_STR(cs_arena_strdup(&a, "hello"), "hello");
	cs_arena_reset(&a);
	CHECK(a.used == 0);
	CHECK(cs_arena_alloc(&a, SIZE_MAX - 4) == NULL);
	cs_arena_destroy(&a);
}

int main(void)
{
	RUN(dtype_names_round_trip);
	RUN(dtype_sizes);
	RUN(shape_numel);
	RUN(shape_matches_and_format);
	RUN(fp16_conversion);
	RUN(arena_alloc_align_reset);
	return tap_done();
}
