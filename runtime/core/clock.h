/*
 * clock.h - the runtime's clocks, in seconds as doubles.
 *
 * cs_clock_mono() is CLOCK_MONOTONIC: for durations, deadlines and
 * timeouts (never goes back). cs_clock_wall() is CLOCK_REALTIME: for
 * timestamps other processes read (heartbeats, nginx's $msec). Do not mix
 * them. Header-only; thread-safe.
 */
#ifndef CS_CLOCK_H
#define CS_CLOCK_H

#include <time.h>

static inline double cs_clock__of(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Monotonic seconds (an arbitrary origin). */
static inline double cs_clock_mono(void)
{
	return cs_clock__of(CLOCK_MONOTONIC);
}

/* Wall-clock seconds since the Unix epoch. */
static inline double cs_clock_wall(void)
{
	return cs_clock__of(CLOCK_REALTIME);
}

/* Monotonic nanoseconds, for counters kept as integers. */
static inline unsigned long long cs_clock_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000000000ull +
	       (unsigned long long)ts.tv_nsec;
}

/* A time in seconds (either clock) as a struct timespec. */
static inline struct timespec cs_clock_timespec(double t)
{
	struct timespec ts;

	ts.tv_sec = (time_t)t;
	ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	} else if (ts.tv_nsec < 0) {
		ts.tv_nsec = 0;
	}
	return ts;
}

#endif
