/*
 * forksafe.h - a thread of a process that forks, parked before the fork.
 *
 * The prefork master forks while its heartbeat and gateway threads run.
 * Each holds a lock of its own while it works and fork() takes that lock
 * first (pthread_atfork), so no fork copies a lock the thread holds inside
 * the allocator. A thread that was just created is not covered yet: until
 * it has reached its loop it runs start-up code (the C library's and, in
 * a sanitizer build, the sanitizer's) outside that lock, and a fork then
 * can hand the child an allocator lock that no thread of the child will
 * release: the child hangs on its next allocation, or on exit (seen with
 * GCC 12's AddressSanitizer, whose fork() does not take its allocator's
 * locks; tests/unit/test_heartbeat_fork shows it).
 * So the thread marks itself parked once it is in its loop, and whoever
 * started it waits for that before going on. Header-only; thread-safe.
 */
#ifndef CS_FORKSAFE_H
#define CS_FORKSAFE_H

#include <time.h>

/* Called by the new thread once it is in its loop (holding its lock or
 * waiting): from then on a fork finds it at a known point. */
static inline void cs_forksafe_parked(int *flag)
{
	__atomic_store_n(flag, 1, __ATOMIC_RELEASE);
}

/*
 * Called by the thread that created it, right after pthread_create: waits
 * until the new thread is parked, polling every 0.2 ms, for at most 5 s (a
 * thread that never gets there is a bug elsewhere; the caller goes on).
 * Returns 1 when the thread is parked, 0 when the wait gave up.
 */
static inline int cs_forksafe_wait_parked(const int *flag)
{
	struct timespec pause = {0, 200 * 1000};

	for (int i = 0; i < 25000; i++) {
		if (__atomic_load_n(flag, __ATOMIC_ACQUIRE))
			return 1;
		nanosleep(&pause, NULL);
	}
	return __atomic_load_n(flag, __ATOMIC_ACQUIRE);
}

#endif
