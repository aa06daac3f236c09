/*
 * test_json_out.c - shortest numbers that read back exactly, sorted keys,
 * escapes.
 */
#include <math.h>
#include <stdint.h>
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
	RUN(round_trip);
	RUN(really_shortest);
	RUN(reals_in_json);
	RUN(keys_are_sorted);
	RUN(strings_are_escaped);
	return tap_done();
}
