/*
 * proc.c - starting, watching and stopping the processes the command
 * runs: workers under spawn-fcgi, nginx, redis-server, test loads.
 * Processes are only ever signalled by pid, after checking that the pid
 * still runs what we started.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "cli.h"

void cli_sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

long long cli_now_ms(void)
{
	return (long long)(cs_clock_mono() * 1000);
}

char *cli_find_tool(const char *env, const char *name,
		    const char *const *candidates)
{
	char p[PATH_MAX], *path, *save = NULL, *dir;
	const char *e = env ? getenv(env) : NULL;

	if (e && *e)
		return strdup(e);
	for (; candidates && *candidates; candidates++)
		if (access(*candidates, X_OK) == 0)
			return strdup(*candidates);
	e = getenv("PATH");
	path = strdup(e && *e ? e : "/usr/bin:/bin");
	if (!path)
		return NULL;
	for (dir = strtok_r(path, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
		snprintf(p, sizeof p, "%s/%s", dir, name);
		if (access(p, X_OK) == 0) {
			free(path);
			return strdup(p);
		}
	}
	free(path);
	for (const char *const *d = (const char *const[]){"/usr/sbin", "/sbin", "/usr/local/sbin", NULL}; *d; d++) {
		snprintf(p, sizeof p, "%s/%s", *d, name);
		if (access(p, X_OK) == 0)
			return strdup(p);
	}
	return NULL;
}

/* In the child: default signal dispositions and an empty mask. */
static void child_signals(void)
{
	sigset_t none;

	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGPIPE, SIG_DFL);
	signal(SIGCHLD, SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

pid_t cli_spawn(char *const argv[], const char *log, char *err, size_t errlen)
{
	int pfd[2], e = 0;
	pid_t pid;
	ssize_t n;

	if (pipe2(pfd, O_CLOEXEC) != 0) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		return -1;
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		snprintf(err, errlen, "fork: %s", strerror(errno));
		close(pfd[0]);
		close(pfd[1]);
		return -1;
	}
	if (pid == 0) {
		int in = open("/dev/null", O_RDONLY);
		int out = open(log ? log : "/dev/null",
			       O_WRONLY | O_CREAT | O_APPEND, 0600);

		child_signals();
		setsid(); /* Ctrl-C at the terminal reaches only `cubeserve` */
		if (in < 0 || out < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 ||
		    dup2(out, 2) < 0)
			goto fail;
		close(in);
		close(out);
		execv(argv[0], argv);
fail:
		e = errno;
		n = write(pfd[1], &e, sizeof e);
		(void)n;
		_exit(127);
	}
	close(pfd[1]);
	n = read(pfd[0], &e, sizeof e);
	close(pfd[0]);
	if (n == (ssize_t)sizeof e) {
		snprintf(err, errlen, "cannot run %s: %s", argv[0], strerror(e));
		waitpid(pid, NULL, 0);
		return -1;
	}
	return pid;
}

int cli_run(char *const argv[], char *out, size_t outlen, int timeout_ms)
{
	int pfd[2], status = 0, rc = -1;
	size_t used = 0;
	long long deadline = cli_now_ms() + timeout_ms;
	pid_t pid;

	if (outlen)
		out[0] = '\0';
	if (pipe2(pfd, O_CLOEXEC) != 0)
		return -1;
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		close(pfd[0]);
		close(pfd[1]);
		return -1;
	}
	if (pid == 0) {
		int in = open("/dev/null", O_RDONLY);

		child_signals();
		setpgid(0, 0);
		if (in >= 0)
			dup2(in, 0);
		dup2(pfd[1], 1);
		dup2(pfd[1], 2);
		execv(argv[0], argv);
		fprintf(stderr, "cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(pfd[1]);
	for (;;) {
		struct pollfd p = {pfd[0], POLLIN, 0};
		long long left = deadline - cli_now_ms();
		char buf[4096];
		ssize_t n;

		if (left <= 0) {
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			break;
		}
		if (poll(&p, 1, (int)left) <= 0)
			continue;
		n = read(pfd[0], buf, sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (outlen && used + 1 < outlen) {
			size_t k = (size_t)n < outlen - 1 - used ? (size_t)n : outlen - 1 - used;

			memcpy(out + used, buf, k);
			used += k;
			out[used] = '\0';
		}
	}
	close(pfd[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (cli_now_ms() >= deadline)
		return -1;
	if (WIFEXITED(status))
		rc = WEXITSTATUS(status);
	else if (WIFSIGNALED(status))
		rc = 128 + WTERMSIG(status);
	return rc;
}

/* The number of threads of pid from /proc/PID/status, or -1. */
static int proc_threads(pid_t pid)
{
	char p[64], buf[2048], *t;
	ssize_t n;
	int fd;

	snprintf(p, sizeof p, "/proc/%ld/status", (long)pid);
	fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	t = strstr(buf, "\nThreads:");
	return t ? atoi(t + 9) : -1;
}

int cli_pid_alive(pid_t pid)
{
	char p[64], buf[512], *rp;
	pid_t w;
	int fd;
	ssize_t n;

	if (pid <= 0)
		return 0;
	w = waitpid(pid, NULL, WNOHANG);
	if (w == pid)
		return 0; /* our child, now reaped */
	if (w == 0) {
		/*
		 * Our child, not reapable yet: it runs, or it is exiting. A
		 * multi-threaded process (redis-server, the worker) whose
		 * main thread has exited shows as a zombie in /proc while
		 * its other threads are still being torn down, and cannot be
		 * reaped until they are: it is not gone until waitpid says
		 * so. Treating it as gone here let `up` exit with its Redis
		 * still there (then a zombie of init).
		 */
		return 1;
	}
	/* not our child (or ECHILD for another reason): ask the kernel */
	if (kill(pid, 0) != 0 && errno == ESRCH)
		return 0;
	/* a zombie whose parent does not reap it is gone for us, once its
	 * last thread has gone too */
	snprintf(p, sizeof p, "/proc/%ld/stat", (long)pid);
	fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return kill(pid, 0) == 0 || errno == EPERM;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	rp = strrchr(buf, ')');
	if (rp && rp[1] == ' ' && (rp[2] == 'Z' || rp[2] == 'X'))
		return proc_threads(pid) > 1;
	return 1;
}

int cli_pid_matches(pid_t pid, const char *needle)
{
	char p[64], buf[8192];
	ssize_t n;
	int fd;

	if (!needle)
		return 1;
	snprintf(p, sizeof p, "/proc/%ld/cmdline", (long)pid);
	fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return 0;
	for (ssize_t i = 0; i < n; i++)
		if (buf[i] == '\0')
			buf[i] = ' ';
	buf[n] = '\0';
	return strstr(buf, needle) != NULL;
}

/* Whether pid is an unreaped child of this process (left unreaped). */
static int is_child(pid_t pid)
{
	siginfo_t si;

	memset(&si, 0, sizeof si);
	return waitid(P_PID, (id_t)pid, &si, WEXITED | WSTOPPED | WCONTINUED |
		      WNOHANG | WNOWAIT) == 0;
}

int cli_stop_pid(pid_t pid, const char *needle, int grace_ms)
{
	long long deadline;

	if (!cli_pid_alive(pid))
		return 0;
	/* an unreaped child of ours cannot have been reused (and an exiting
	 * one has an empty command line): only another's pid is checked */
	if (!is_child(pid) && !cli_pid_matches(pid, needle))
		return 0; /* not ours any more: leave it alone */
	kill(pid, SIGTERM);
	deadline = cli_now_ms() + grace_ms;
	while (cli_pid_alive(pid)) {
		if (cli_now_ms() >= deadline) {
			kill(pid, SIGKILL);
			for (int i = 0; i < 100 && cli_pid_alive(pid); i++)
				cli_sleep_ms(20);
			break;
		}
		cli_sleep_ms(20);
	}
	return cli_pid_alive(pid) ? -1 : 0;
}

/* Closes every descriptor above 2 but keep (a watcher holds nothing of ours). */
static void close_others(int keep)
{
	long max = sysconf(_SC_OPEN_MAX);

	if (max < 0 || max > 65536)
		max = 65536;
	for (int fd = 3; fd < max; fd++)
		if (fd != keep)
			close(fd);
}

pid_t cli_spawn_watched(char *const argv[], const char *log,
			const char *exit_file, char *err, size_t errlen)
{
	int pfd[2], e = 0;
	pid_t pid, watcher;
	ssize_t n;

	if (pipe2(pfd, O_CLOEXEC) != 0) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		return -1;
	}
	fflush(NULL);
	watcher = fork();
	if (watcher < 0) {
		snprintf(err, errlen, "fork: %s", strerror(errno));
		close(pfd[0]);
		close(pfd[1]);
		return -1;
	}
	if (watcher == 0) {
		int in = open("/dev/null", O_RDWR), status = 0;
		pid_t gc;

		child_signals();
		setsid();
		if (in >= 0) {
			dup2(in, 0);
			dup2(in, 1);
			dup2(in, 2);
			if (in > 2)
				close(in);
		}
		close_others(pfd[1]);
		gc = fork();
		if (gc < 0)
			_exit(127);
		if (gc == 0) {
			int out = open(log ? log : "/dev/null",
				       O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

			if (out < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0)
				goto fail;
			execv(argv[0], argv);
fail:
			e = errno;
			n = write(pfd[1], &e, sizeof e);
			(void)n;
			_exit(127);
		}
		n = write(pfd[1], &gc, sizeof gc);
		close(pfd[1]);
		while (waitpid(gc, &status, 0) < 0 && errno == EINTR)
			;
		if (exit_file) {
			FILE *f = fopen(exit_file, "w");

			if (f) {
				struct timespec ts;

				clock_gettime(CLOCK_REALTIME, &ts);
				if (WIFSIGNALED(status))
					fprintf(f, "signal %d %lld\n", WTERMSIG(status),
						(long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
				else
					fprintf(f, "exit %d %lld\n", WEXITSTATUS(status),
						(long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
				fclose(f);
			}
		}
		_exit(0);
	}
	close(pfd[1]);
	n = read(pfd[0], &pid, sizeof pid);
	if (n != (ssize_t)sizeof pid) {
		snprintf(err, errlen, "cannot start %s: the watcher failed", argv[0]);
		close(pfd[0]);
		return -1;
	}
	n = read(pfd[0], &e, sizeof e);
	close(pfd[0]);
	if (n == (ssize_t)sizeof e) {
		snprintf(err, errlen, "cannot run %s: %s", argv[0], strerror(e));
		return -1;
	}
	return pid;
}
