/*
 * redis_fixture.h - a private redis-server for a unit test: in a temp dir,
 * on a unix socket, no persistence, killed with the test (PDEATHSIG).
 * start_redis(TAG) sets `url` ("unix:DIR/redis.sock") and waits until it
 * answers; stop_redis() stops it and removes the dir.
 */
#ifndef CS_TEST_REDIS_FIXTURE_H
#define CS_TEST_REDIS_FIXTURE_H

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "registry/registry.h"

static char dir[64], url[160];
static pid_t redis_pid;

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/* 0 when the server answers, -1 when it did not start (tag names the dir). */
static int start_redis(const char *tag)
{
	char sock[128], logf[128];
	cs_registry *r = NULL;
	char err[256];

	snprintf(dir, sizeof dir, "/tmp/%s.XXXXXX", tag);
	if (!mkdtemp(dir))
		return -1;
	snprintf(sock, sizeof sock, "%s/redis.sock", dir);
	snprintf(url, sizeof url, "unix:%s", sock);
	snprintf(logf, sizeof logf, "%s/redis.log", dir);
	fflush(stdout);
	redis_pid = fork();
	if (redis_pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGTERM); /* never outlive the test */
		execlp("redis-server", "redis-server", "--port", "0", "--unixsocket", sock,
		       "--dir", dir, "--save", "", "--appendonly", "no",
		       "--logfile", logf, "--loglevel", "warning", (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 200; i++) {
		if (cs_registry_open(url, NULL, 200, &r, err, sizeof err) == CS_OK) {
			cs_registry_close(r);
			return 0;
		}
		sleep_ms(25);
	}
	return -1;
}

static void stop_redis(void)
{
	char cmd[128];

	if (redis_pid > 0) {
		kill(redis_pid, SIGTERM);
		waitpid(redis_pid, NULL, 0);
	}
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", dir);
}

#endif
