/*
 * scaling.c - the autoscaling policy (see scaling.h and docs/scaling.md).
 *
 * Grow fast, shrink slowly: a pool grows as soon as its averaged
 * utilization has been over the target (or requests have waited) for
 * up_after_s evaluations, straight to the size that brings utilization back
 * to the target; it shrinks one process at a time, only after
 * down_after_s evaluations below target - band, and only when the smaller
 * pool would still be under the target. The band between the two
 * thresholds is the hysteresis that keeps it from flapping.
 */
#include <math.h>
#include <stdio.h>

#include "registry/scaling.h"

void cs_scaling_policy_default(cs_scaling_policy *p, int min, int max)
{
	p->min_processes = min < 1 ? 1 : min;
	p->max_processes = max < p->min_processes ? p->min_processes : max;
	p->target_utilization = 0.7;
	p->band = 0.15;
	p->up_after_s = 3;
	p->down_after_s = 30;
	p->window_s = 10;
}

static int clamp(const cs_scaling_policy *p, int n)
{
	if (n < p->min_processes)
		return p->min_processes;
	if (n > p->max_processes)
		return p->max_processes;
	return n;
}

void cs_scaler_init(cs_scaler *s, const cs_scaling_policy *p, int current)
{
	s->p = *p;
	if (s->p.window_s < 1)
		s->p.window_s = 1;
	if (s->p.window_s > CS_SCALER_WINDOW_MAX)
		s->p.window_s = CS_SCALER_WINDOW_MAX;
	if (s->p.target_utilization <= 0 || s->p.target_utilization > 1)
		s->p.target_utilization = 0.7;
	s->n = s->head = 0;
	s->above = s->below = 0;
	s->desired = clamp(&s->p, current);
}

int cs_scaler_step(cs_scaler *s, const cs_scaling_sample *x, char *reason,
		   int reasonlen)
{
	const cs_scaling_policy *p = &s->p;
	int procs = x->processes > 0 ? x->processes : s->desired;
	double u = procs > 0 ? x->busy / procs : 0, avg_u = 0, avg_w = 0;
	int n;

	if (u > 1)
		u = 1;
	s->util[s->head] = u;
	s->wait[s->head] = x->waiting > 0 ? x->waiting : 0;
	s->head = (s->head + 1) % p->window_s;
	if (s->n < p->window_s)
		s->n++;
	for (int i = 0; i < s->n; i++) {
		avg_u += s->util[i];
		avg_w += s->wait[i];
	}
	avg_u /= s->n;
	avg_w /= s->n;

	if (avg_u > p->target_utilization || avg_w >= 0.5) {
		s->above++;
		s->below = 0;
	} else if (avg_u < p->target_utilization - p->band && avg_w < 0.5) {
		s->below++;
		s->above = 0;
	} else {
		s->above = s->below = 0;
	}

	if (s->above >= p->up_after_s && s->desired < p->max_processes) {
		/* enough processes to bring utilization to the target, plus the waiting */
		double busy = avg_u * procs + avg_w;

		n = (int)ceil(busy / p->target_utilization);
		if (n <= s->desired)
			n = s->desired + 1;
		n = clamp(p, n);
		snprintf(reason, (size_t)reasonlen,
			 "utilization %.2f > target %.2f for %d s (%.1f waiting): %d -> %d",
			 avg_u, p->target_utilization, s->above, avg_w,
			 s->desired, n);
		s->desired = n;
		s->above = 0;
		return n;
	}
	if (s->below >= p->down_after_s && s->desired > p->min_processes) {
		/* one fewer, only if the smaller pool stays under the target */
		double busy = avg_u * procs;

		if (busy / (s->desired - 1) <= p->target_utilization) {
			n = s->desired - 1;
			snprintf(reason, (size_t)reasonlen,
				 "utilization %.2f < %.2f for %d s: %d -> %d",
				 avg_u, p->target_utilization - p->band, s->below,
				 s->desired, n);
			s->desired = n;
			s->below = 0;
			return n;
		}
	}
	snprintf(reason, (size_t)reasonlen,
		 "utilization %.2f (target %.2f, band %.2f), %.1f waiting: keep %d",
		 avg_u, p->target_utilization, p->band, avg_w, s->desired);
	return s->desired;
}
