/* test_scaling.c - the autoscaling policy: grows under load, shrinks after
 * it, never flaps inside the band, respects min and max. */
#include "tap.h"

#include "registry/scaling.h"

/* Runs `secs` evaluations at the given busy fraction of the current pool
 * (as the pool would really be: processes = what the scaler wants). */
static int run(cs_scaler *s, int secs, double busy_abs, double waiting,
	       int *changes)
{
	char why[256];
	int d = s->desired;

	for (int i = 0; i < secs; i++) {
		cs_scaling_sample x = {d, busy_abs < d ? busy_abs : d, waiting};
		int nd = cs_scaler_step(s, &x, why, sizeof why);

		if (nd != d && changes)
			(*changes)++;
		d = nd;
	}
	return d;
}

TEST(steady_load_keeps_the_pool)
{
	cs_scaling_policy p;
	cs_scaler s;
	int changes = 0;

	cs_scaling_policy_default(&p, 1, 8);
	cs_scaler_init(&s, &p, 2);
	CHECK(run(&s, 120, 1.2, 0, &changes) == 2); /* utilization 0.6 */
	CHECK(changes == 0);
}

TEST(saturation_grows_to_the_target)
{
	cs_scaling_policy p;
	cs_scaler s;
	char why[256];
	cs_scaling_sample x = {2, 2.0, 0};

	cs_scaling_policy_default(&p, 1, 8);
	cs_scaler_init(&s, &p, 2);
	CHECK(cs_scaler_step(&s, &x, why, sizeof why) == 2);
	CHECK(cs_scaler_step(&s, &x, why, sizeof why) == 2);
	/* the third second over the target: grow to ceil(2 / 0.7) = 3 */
	CHECK(cs_scaler_step(&s, &x, why, sizeof why) == 3);
	CHECK_HAS(why, "2 -> 3");
	/* still saturated with 4 busy: grows on to the max */
	CHECK(run(&s, 60, 100, 0, NULL) == 8);
}

TEST(waiting_requests_grow_the_pool)
{
	cs_scaling_policy p;
	cs_scaler s;

	cs_scaling_policy_default(&p, 1, 8);
	cs_scaler_init(&s, &p, 2);
	/* utilization just under target but requests queue */
	CHECK(run(&s, 5, 1.3, 3, NULL) > 2);
}

TEST(idle_shrinks_slowly_to_the_min)
{
	cs_scaling_policy p;
	cs_scaler s;

	cs_scaling_policy_default(&p, 2, 8);
	cs_scaler_init(&s, &p, 6);
	CHECK(run(&s, 29, 0, 0, NULL) == 6);  /* not before 30 s */
	CHECK(run(&s, 1, 0, 0, NULL) == 5);   /* one at a time */
	CHECK(run(&s, 29, 0, 0, NULL) == 5);
	CHECK(run(&s, 200, 0, 0, NULL) == 2); /* never below min */
}

TEST(no_flapping_inside_the_band)
{
	cs_scaling_policy p;
	cs_scaler s;
	int changes = 0;

	cs_scaling_policy_default(&p, 1, 8);
	cs_scaler_init(&s, &p, 4);
	/* utilization alternating 0.58 / 0.68: between target - band and target */
	for (int i = 0; i < 300; i++)
		run(&s, 1, i % 2 ? 2.32 : 2.72, 0, &changes);
	CHECK(changes == 0);
	CHECK(s.desired == 4);
}

TEST(does_not_shrink_into_overload)
{
	cs_scaling_policy p;
	cs_scaler s;

	cs_scaling_policy_default(&p, 1, 8);
	cs_scaler_init(&s, &p, 2);
	/* utilization 0.5 < 0.55, but one process would be at 1.0 > 0.7 */
	CHECK(run(&s, 120, 1.0, 0, NULL) == 2);
}

TEST(clamps)
{
	cs_scaling_policy p;
	cs_scaler s;

	cs_scaling_policy_default(&p, 3, 2); /* max < min: max becomes min */
	CHECK(p.max_processes == 3);
	cs_scaler_init(&s, &p, 10);
	CHECK(s.desired == 3);
}

int main(void)
{
	RUN(steady_load_keeps_the_pool);
	RUN(saturation_grows_to_the_target);
	RUN(waiting_requests_grow_the_pool);
	RUN(idle_shrinks_slowly_to_the_min);
	RUN(no_flapping_inside_the_band);
	RUN(does_not_shrink_into_overload);
	RUN(clamps);
	return tap_done();
}
