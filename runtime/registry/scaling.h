/*
 * scaling.h - the autoscaling policy: from a pool's figures to the number
 * of processes it should have, with hysteresis so it does not flap.
 * docs/scaling.md explains the policy. Pure computation, no I/O:
 * `cubeserve autoscale` feeds it the heartbeats from Redis once a second.
 *
 * Not thread-safe: one cs_scaler per deployment, used by one thread.
 */
#ifndef CS_SCALING_H
#define CS_SCALING_H

typedef struct cs_scaling_policy {
	int min_processes;        /* never fewer (>= 1) */
	int max_processes;        /* never more (>= min) */
	double target_utilization; /* busy / processes to aim for, 0 < t <= 1 (0.7) */
	double band;              /* scale down only below target - band (0.15) */
	int up_after_s;           /* evaluations above target before growing (3) */
	int down_after_s;         /* evaluations below target - band before shrinking (30) */
	int window_s;             /* moving average over this many evaluations (10) */
} cs_scaling_policy;

/* One evaluation's figures of a pool (one per second). */
typedef struct cs_scaling_sample {
	int processes;  /* live processes now */
	double busy;    /* processes busy (averaged over the last second) */
	double waiting; /* requests waiting for a process (listen queue) */
} cs_scaling_sample;

#define CS_SCALER_WINDOW_MAX 120

typedef struct cs_scaler {
	cs_scaling_policy p;
	double util[CS_SCALER_WINDOW_MAX]; /* ring of utilization samples */
	double wait[CS_SCALER_WINDOW_MAX];
	int n, head;
	int above, below;          /* consecutive evaluations above / below */
	int desired;
} cs_scaler;

/* Fills a policy with the defaults above for [min, max]. */
void cs_scaling_policy_default(cs_scaling_policy *p, int min, int max);

/* Starts a scaler at `current` processes (clamped to [min, max]). */
void cs_scaler_init(cs_scaler *s, const cs_scaling_policy *p, int current);

/*
 * Feeds one evaluation; returns the desired number of processes and writes
 * a one-line reason ("utilization 0.93 > 0.70 for 3 s: 2 -> 3").
 */
int cs_scaler_step(cs_scaler *s, const cs_scaling_sample *x, char *reason,
		   int reasonlen);

#endif
