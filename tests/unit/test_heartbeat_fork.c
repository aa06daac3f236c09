/* test_heartbeat_fork.c - the prefork master forks right after it started
 * its heartbeat thread: the child must not inherit a lock the new thread
 * held then (under a sanitizer, the allocator's), or it hangs on its next
 * allocation or on exit. Each round starts a heartbeat, forks at once, and
 * the child allocates in many size classes and exits normally (a
 * sanitizer's leak check at exit takes every allocator lock); a child that
 * is not gone within 10 s has hung. */
#include "tap.h"

#include <fcntl.h>
#include <signal.h>
#include <time.h>

#include "core/clock.h"
#include "core/log.h"
#include "registry/heartbeat.h"

/* Waits up to secs for pid; 1 when it exited with status 0. */
static int exited_ok(pid_t pid, double secs)
{
	double end = cs_clock_mono() + secs;
	struct timespec pause = {0, 1000 * 1000};
	int status;

	while (cs_clock_mono() < end) {
		pid_t w = waitpid(pid, &status, WNOHANG);

		if (w == pid)
			return WIFEXITED(status) && WEXITSTATUS(status) == 0;
		nanosleep(&pause, NULL);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return 0;
}

TEST(a_fork_right_after_the_start_leaves_the_child_working)
{
	cs_heartbeat_config cfg;
	char err[256];
	int hung = 0;

	memset(&cfg, 0, sizeof cfg);
	/* nothing listens there: each beat fails at once, the thread goes on */
	cfg.url = "unix:/nonexistent/cs-test-heartbeat-fork.sock";
	cfg.model = "m";
	cfg.version = "1";
	cfg.listen = "fd 0";
	cs_log_setup("test", CS_LOG_ERROR);
	for (int round = 0; round < 200 && !hung; round++) {
		cs_heartbeat *hb = NULL;
		pid_t pid;

		REQUIRE(cs_heartbeat_start(&cfg, &hb, err, sizeof err) == 0);
		pid = fork();
		REQUIRE(pid >= 0);
		if (pid == 0) {
			int null = open("/dev/null", O_WRONLY);

			/* the exit status tells; the sanitizer's notes on the
			 * parent's threads are noise here */
			if (null >= 0)
				dup2(null, 2);
			for (size_t n = 1; n <= 1 << 17; n += n / 8 + 1)
				free(malloc(n));
			exit(0);
		}
		if (!exited_ok(pid, 10)) {
			printf("#   round %d: the child forked after the start hung (killed)\n", round);
			hung = 1;
		}
		cs_heartbeat_stop(hb);
	}
	CHECK(!hung);
}

int main(void)
{
	RUN(a_fork_right_after_the_start_leaves_the_child_working);
	return tap_done();
}
