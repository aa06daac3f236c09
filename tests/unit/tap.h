/*
 * tap.h - a tiny test harness: each test runs in its own process and the
 * runner prints TAP (one "ok N - name" line per test).
 *
 *   TEST(tensor_numel) { CHECK(cs_shape_numel(1, (int64_t[]){3}) == 3); }
 *   int main(void) { RUN(tensor_numel); return tap_done(); }
 *
 * CHECK() reports a failed condition as a TAP comment with file and line and
 * marks the test failed; the test goes on. A crash or a non-zero exit of the
 * test's process fails the test too.
 */
#ifndef CS_TAP_H
#define CS_TAP_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int tap__count;
static int tap__failed_tests;
static int tap__check_failures; /* in the test's process */

#define TEST(name) static void name(void)

/* A test that exits with this status (a tool is missing) is skipped. */
#define TAP_SKIP 77

#define CHECK(cond)                                                        \
	do {                                                               \
		if (!(cond)) {                                             \
			printf("#   %s:%d: CHECK(%s) failed\n", __FILE__,  \
			       __LINE__, #cond);                           \
			tap__check_failures++;                             \
		}                                                          \
	} while (0)

#define CHECK_STR(a, b)                                                    \
	do {                                                               \
		const char *tap__a = (a), *tap__b = (b);                   \
		if (!tap__a || !tap__b || strcmp(tap__a, tap__b) != 0) {   \
			printf("#   %s:%d: \"%s\" != \"%s\"\n", __FILE__,  \
			       __LINE__, tap__a ? tap__a : "(null)",       \
			       tap__b ? tap__b : "(null)");                \
			tap__check_failures++;                             \
		}                                                          \
	} while (0)

/*
 * A check the rest of the test cannot go on without (a fixture that must
 * load): a failure, and the test ends here.
 */
#define REQUIRE(cond)                                                      \
	do {                                                               \
		if (!(cond)) {                                             \
			printf("#   %s:%d: required: %s\n", __FILE__,      \
			       __LINE__, #cond);                           \
			tap__check_failures++;                             \
			return;                                            \
		}                                                          \
	} while (0)

/* Checks that a string contains a fragment. */
#define CHECK_HAS(s, frag)                                                 \
	do {                                                               \
		const char *tap__s = (s), *tap__f = (frag);                \
		if (!tap__s || !strstr(tap__s, tap__f)) {                  \
			printf("#   %s:%d: \"%s\" lacks \"%s\"\n", __FILE__, \
			       __LINE__, tap__s ? tap__s : "(null)", tap__f); \
			tap__check_failures++;                             \
		}                                                          \
	} while (0)

static inline void tap__run(void (*fn)(void), const char *name)
{
	int status = 0;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		fn();
		fflush(stdout);
		_exit(tap__check_failures ? 1 : 0);
	}
	tap__count++;
	if (pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
	    WEXITSTATUS(status) == TAP_SKIP) {
		printf("ok %d - %s # SKIP\n", tap__count, name);
	} else if (pid < 0 || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0) {
		if (pid > 0 && WIFSIGNALED(status))
			printf("#   killed by signal %d\n", WTERMSIG(status));
		printf("not ok %d - %s\n", tap__count, name);
		tap__failed_tests++;
	} else {
		printf("ok %d - %s\n", tap__count, name);
	}
	fflush(stdout);
}

#define RUN(name) tap__run(name, #name)

/*
 * Prints the plan. Returns the exit status for main(): 1 when a test
 * failed, so a test binary run by hand or under `git bisect run` tells the
 * truth, not only the TAP driver.
 */
static inline int tap_done(void)
{
	printf("1..%d\n", tap__count);
	return tap__failed_tests ? 1 : 0;
}

#endif
