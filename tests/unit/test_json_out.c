/*
 * test_json_out.c - shortest numbers that read back exactly, sorted keys,
 * escapes.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json_out.h"
#include "tap.h"

static const char *dbl(double d)
{
	static char buf[CS_FMT_NUMBER_SIZE];

	cs_fmt_double(buf, d);
	return buf;
}

static const char *flt(float f)
{
	static char buf[CS_FMT_NUMBER_SIZE];

	cs_fmt_float(buf, f);
	return buf;
}

static const char *dump(json_t *v)
{
	static char text[4096];
	char *s = cs_json_dumps(v, NULL);

	snprintf(text, sizeof text, "%s", s ? s : "(null)");
	free(s);
	json_decref(v);
	return text;
}

TEST(shortest_doubles)
{
	CHECK_STR(dbl(0.1), "0.1");
	CHECK_STR(dbl(1.0 / 3), "0.3333333333333333");
	CHECK_STR(dbl(1e300), "1e+300");
	CHECK_STR(dbl(-2.5), "-2.5");
	CHECK_STR(dbl(5e-324), "5e-324");
}

TEST(shortest_floats)
{
	CHECK_STR(flt(0.1f), "0.1");
	CHECK_STR(flt(0.98158574f), "0.98158574");
	CHECK_STR(flt(1.4490906e-08f), "1.4490906e-08");
	CHECK_STR(flt(16777216.0f), "16777216");
	CHECK_STR(flt(1e-45f), "1e-45"); /* the smallest subnormal */
	CHECK_STR(flt(0.5f), "0.5");
}

/* The search the fast float path must agree with, character for character. */
static void search_float(char *buf, float f)
{
	for (int prec = fabsf(f) >= 1.17549435e-38f ? 6 : 1; prec <= 9; prec++) {
		snprintf(buf, CS_FMT_NUMBER_SIZE, "%.*g", prec, (double)f);
		if (strtof(buf, NULL) == f)
			break;
	}
}

static int same_as_search(float f)
{
	char a[CS_FMT_NUMBER_SIZE], b[CS_FMT_NUMBER_SIZE];
	size_t n = cs_fmt_float(a, f);

	search_float(b, f);
	if (strcmp(a, b) != 0 || n != strlen(b)) {
		printf("#   float %a: %s (%zu), the search prints %s\n", (double)f, a, n, b);
		return 0;
	}
	return 1;
}

/* Integer arithmetic prints what snprintf + strtof found: random floats,
 * the neighbours of every power of ten and two, %g's layout switches. */
TEST(fast_floats_match_search)
{
	uint64_t x = 0x9e3779b97f4a7c15ull;
	int bad = 0;

	for (int i = 0; i < 1000000 && bad < 5; i++) {
		uint32_t u;
		float f;

		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		u = (uint32_t)(x >> 32);
		memcpy(&f, &u, sizeof f);
		if (isfinite(f))
			bad += !same_as_search(f);
	}
	for (int k = -45; k <= 38 && bad < 5; k++) {
		float p = (float)pow(10.0, k);

		for (int s = 0; s < 2; s++) {
			float f = s ? -p : p;

			for (int j = 0; j < 64 && bad < 5; j++) {
				bad += !same_as_search(f);
				f = nextafterf(f, 0.0f);
			}
			f = s ? -p : p;
			for (int j = 0; j < 64 && bad < 5; j++) {
				f = nextafterf(f, s ? -INFINITY : INFINITY);
				if (isfinite(f))
					bad += !same_as_search(f);
			}
		}
	}
	for (int k = -149; k <= 127 && bad < 5; k++) {
		float p = ldexpf(1.0f, k), f = p;

		for (int j = 0; j < 4; j++, f = nextafterf(f, 0.0f))
			bad += !same_as_search(f);
		f = p;
		for (int j = 0; j < 4 && isfinite(f); j++, f = nextafterf(f, INFINITY))
			bad += !same_as_search(f);
	}
	/* values around the fixed/scientific switch and the rounding carries */
	{
		const float edge[] = {0.0001f, 0.00009999999f, 0.000099999995f,
				      999999.5f, 999999.4f, 9999999.0f, 99999.995f,
				      123456.7f, 1234567.0f, 0.1f, 0.3f, 1.0f / 3,
				      2.5f, 16777216.0f, 16777215.0f, 3.4028235e38f,
				      1.17549435e-38f, 0.0f, -0.0f};

		for (size_t i = 0; i < sizeof edge / sizeof edge[0]; i++)
			bad += !same_as_search(edge[i]);
	}
	CHECK(bad == 0);
}

/* Every printed number reads back to the same bits (a fixed seed). */
TEST(round_trip)
{
	uint64_t x = 88172645463325252ull;

	for (int i = 0; i < 200000; i++) {
		double d;
		float f;
		uint32_t u;
		char buf[CS_FMT_NUMBER_SIZE];

		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		memcpy(&d, &x, sizeof d);
		u = (uint32_t)(x >> 11);
		memcpy(&f, &u, sizeof f);
		if (isfinite(d)) {
			cs_fmt_double(buf, d);
			if (strtod(buf, NULL) != d) {
				printf("#   double %a printed as %s\n", d, buf);
				CHECK(0);
				return;
			}
		}
		if (isfinite(f)) {
			cs_fmt_float(buf, f);
			if (strtof(buf, NULL) != f) {
				printf("#   float %a printed as %s\n", (double)f, buf);
				CHECK(0);
				return;
			}
		}
	}
}

/* The shortest: no fewer digits read back (a brute-force search, fixed seed). */
TEST(really_shortest)
{
	uint64_t x = 1181783497276652981ull;

	for (int i = 0; i < 20000; i++) {
		char buf[CS_FMT_NUMBER_SIZE], brute[CS_FMT_NUMBER_SIZE];
		uint32_t u;
		double d;
		float f;

		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		u = (uint32_t)(x >> 7);
		memcpy(&f, &u, sizeof f);
		memcpy(&d, &x, sizeof d);
		if (isfinite(f)) {
			cs_fmt_float(buf, f);
			for (int p = 1; p <= 9; p++) {
				snprintf(brute, sizeof brute, "%.*g", p, (double)f);
				if (strtof(brute, NULL) == f)
					break;
			}
			if (strcmp(buf, brute) != 0) {
				printf("#   float %a: %s, shortest %s\n", (double)f, buf, brute);
				CHECK(0);
				return;
			}
		}
		if (isfinite(d)) {
			cs_fmt_double(buf, d);
			for (int p = 1; p <= 17; p++) {
				snprintf(brute, sizeof brute, "%.*g", p, d);
				if (strtod(brute, NULL) == d)
					break;
			}
			if (strcmp(buf, brute) != 0) {
				printf("#   double %a: %s, shortest %s\n", d, buf, brute);
				CHECK(0);
				return;
			}
		}
	}
}

TEST(reals_in_json)
{
	CHECK_STR(dump(json_pack("[f,f,f,f]", 0.1, (double)0.1f, 2.0, 1e21)),
		  "[0.1,0.1,2.0,1e+21]");
	CHECK_STR(dump(json_pack("[I,I]", (json_int_t)-9223372036854775807LL - 1,
				 (json_int_t)42)), "[-9223372036854775808,42]");
}

TEST(keys_are_sorted)
{
	json_t *o = json_object();

	json_object_set_new(o, "zeta", json_integer(1));
	json_object_set_new(o, "alpha", json_pack("{s:i,s:i}", "b", 2, "a", 1));
	json_object_set_new(o, "Mid", json_true());
	CHECK_STR(dump(o), "{\"Mid\":true,\"alpha\":{\"a\":1,\"b\":2},\"zeta\":1}");
}

TEST(strings_are_escaped)
{
	CHECK_STR(dump(json_string("a\"b\\c\n\t\x01\xc3\xa9")),
		  "\"a\\\"b\\\\c\\n\\t\\u0001\xc3\xa9\"");
	CHECK_STR(dump(json_stringn("a\0b", 3)), "\"a\\u0000b\"");
	CHECK_STR(dump(json_pack("[n,b,b]", 1, 0)), "[null,true,false]");
}

int main(void)
{
	RUN(shortest_doubles);
	RUN(shortest_floats);
	RUN(fast_floats_match_search);
	RUN(round_trip);
	RUN(really_shortest);
	RUN(reals_in_json);
	RUN(keys_are_sorted);
	RUN(strings_are_escaped);
	return tap_done();
}
