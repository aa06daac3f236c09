/* test_heartbeat_rate.c - the request rate a heartbeat reports: no rate
 * from an interval too short to mean anything (a worker's first beat comes
 * moments after it started), none from a counter that went back. */
#include "tap.h"

#include "registry/heartbeat.h"

TEST(a_second_gives_the_rate)
{
	CHECK(cs_heartbeat_rate(100, 150, 1.0, 0.5) == 50.0);
	CHECK(cs_heartbeat_rate(0, 0, 1.0, 0.5) == 0.0);
}

TEST(a_near_zero_interval_gives_no_rate)
{
	/* one request 58 us after the start read 17133 req/s before */
	CHECK(cs_heartbeat_rate(0, 1, 0.0000584, 0.5) < 0);
	CHECK(cs_heartbeat_rate(0, 1, 0.0, 0.5) < 0);
	CHECK(cs_heartbeat_rate(0, 1, -1.0, 0.0) < 0);
}

TEST(a_counter_that_went_back_gives_no_rate)
{
	CHECK(cs_heartbeat_rate(500, 3, 1.0, 0.5) < 0);
}

TEST(the_bound_is_inclusive)
{
	CHECK(cs_heartbeat_rate(0, 5, 0.5, 0.5) == 10.0);
}

int main(void)
{
	RUN(a_second_gives_the_rate);
	RUN(a_near_zero_interval_gives_no_rate);
	RUN(a_counter_that_went_back_gives_no_rate);
	RUN(the_bound_is_inclusive);
	return tap_done();
}
