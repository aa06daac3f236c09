/*
 * master.c - prefork supervision (see master.h), in the manner of PHP-FPM's
 * process manager: fork after load, respawn, recycle, reload, drain.
 */
#include <errno.h>
#include <stdio.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "serve/master.h"
#include "serve/metrics.h"

#define MAX_CHILDREN 256
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 10000
#define QUICK_DEATH_MS 1000 /* a child dying sooner than this backs off */

typedef struct child {
	pid_t pid;            /* 0: free slot */
	double started;       /* monotonic seconds */
	int stopping;         /* we asked it to stop */
} child;

static volatile sig_atomic_t got_chld, got_ttin, got_ttou;

static void on_chld(int sig) { (void)sig; got_chld = 1; }
static void on_ttin(int sig) { (void)sig; got_ttin = 1; }
static void on_ttou(int sig) { (void)sig; got_ttou = 1; }


/* Installs the master-only handlers; blocks them outside the wait. */
static void master_signals(sigset_t *wait_mask, int install)
{
	struct sigaction sa;
	sigset_t block;

	memset(&sa, 0, sizeof sa);
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_NOCLDSTOP;
	sa.sa_handler = install ? on_chld : SIG_DFL;
	sigaction(SIGCHLD, &sa, NULL);
	sa.sa_flags = 0;
	/* a child ignores TTIN/TTOU: their default would stop it */
	sa.sa_handler = install ? on_ttin : SIG_IGN;
	sigaction(SIGTTIN, &sa, NULL);
	sa.sa_handler = install ? on_ttou : SIG_IGN;
	sigaction(SIGTTOU, &sa, NULL);
	if (!install)
		return;
	sigemptyset(&block);
	sigaddset(&block, SIGCHLD);
	sigaddset(&block, SIGTTIN);
	sigaddset(&block, SIGTTOU);
	sigprocmask(SIG_BLOCK, &block, NULL);
	sigdelset(wait_mask, SIGCHLD);
	sigdelset(wait_mask, SIGTTIN);
	sigdelset(wait_mask, SIGTTOU);
}

/* Returns 1 in the child (which then serves), 0 in the master, -1 on error. */
static int spawn(cs_server *srv, child *c, const cs_master_opts *o)
{
	pid_t pid = fork();

	if (pid < 0) {
		cs_log_error("fork: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		master_signals(NULL, 0);
		srv->max_requests = o->max_requests;
		srv->requests = 0;
		return 1;
	}
	c->pid = pid;
	c->started = cs_clock_mono();
	c->stopping = 0;
	cs_log_info("started child %d", (int)pid);
	return 0;
}

static int count_live(const child *ch, int n, int include_stopping)
{
	int live = 0;

	for (int i = 0; i < n; i++)
		if (ch[i].pid && (include_stopping || !ch[i].stopping))
			live++;
	return live;
}

static void signal_all(child *ch, int n, int sig)
{
	for (int i = 0; i < n; i++)
		if (ch[i].pid)
			kill(ch[i].pid, sig);
}

/* Reaps exited children; returns how many died unexpectedly and quickly. */
static void reap(child *ch, int n, int stopping, int *backoff_ms,
		 double *next_spawn)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		double lived = 0;
		int expected = stopping;

		for (int i = 0; i < n; i++) {
			if (ch[i].pid != pid)
				continue;
			lived = cs_clock_mono() - ch[i].started;
			expected |= ch[i].stopping;
			ch[i].pid = 0;
			break;
		}
		if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
			if (!expected)
				cs_log_info("child %d exited (max_requests reached); replacing it",
					    (int)pid);
			continue;
		}
		if (WIFSIGNALED(status))
			cs_log_error("child %d killed by signal %d (%s) after %.1f s%s",
				     (int)pid, WTERMSIG(status),
				     strsignal(WTERMSIG(status)), lived,
				     expected ? "" : "; respawning");
		else
			cs_log_error("child %d exited with status %d after %.1f s%s",
				     (int)pid, WEXITSTATUS(status), lived,
				     expected ? "" : "; respawning");
		if (expected)
			continue;
		if (lived * 1000 < QUICK_DEATH_MS) {
			*backoff_ms = *backoff_ms ? *backoff_ms * 2 : BACKOFF_MIN_MS;
			if (*backoff_ms > BACKOFF_MAX_MS)
				*backoff_ms = BACKOFF_MAX_MS;
			*next_spawn = cs_clock_mono() + *backoff_ms / 1000.0;
			cs_log_warn("child died within %d ms of starting: next start in %d ms",
				    QUICK_DEATH_MS, *backoff_ms);
		} else {
			*backoff_ms = 0;
		}
	}
}

/*
 * A child stuck in one request past limits.request_timeout_ms (a backend
 * that never returns) cannot answer any more: nginx has given the client
 * its 504 (fastcgi_read_timeout); kill the child so a fresh one serves.
 */
#define STUCK_GRACE_S 1.0

static void kill_stuck(cs_server *srv, child *ch, int n)
{
	double limit = (double)srv->model->mf->limits.request_timeout_ms / 1000.0 +
		       STUCK_GRACE_S;
	cs_pool_status *st;

	if (!srv->metrics || !(st = calloc(1, sizeof(*st))))
		return;
	cs_metrics_status(srv->metrics, st);
	for (int i = 0; i < st->n_procs; i++) {
		const cs_metrics_proc *p = &st->procs[i];

		if (p->busy_for_s <= limit)
			continue;
		for (int k = 0; k < n; k++)
			if (ch[k].pid == p->pid && !ch[k].stopping) {
				cs_log_error("child %d stuck in a request for %.1f s (limits.request_timeout_ms %llu): killing it; a new child replaces it",
					     p->pid, p->busy_for_s,
					     (unsigned long long)srv->model->mf->limits.request_timeout_ms);
				kill(p->pid, SIGKILL);
				break;
			}
	}
	free(st);
}

int cs_master_run(cs_server *srv, const cs_master_opts *o)
{
	double next_watch = 0;
	static child ch[MAX_CHILDREN];
	int target = o->processes, max = o->max_processes;
	int backoff_ms = 0, started_any = 0;
	double next_spawn = 0, stop_deadline = 0;
	int stopping = 0;

	if (max < target)
		max = target;
	if (max > MAX_CHILDREN)
		max = MAX_CHILDREN;
	if (target > max)
		target = max;
	memset(ch, 0, sizeof ch);
	master_signals(&srv->wait_mask, 1);
	cs_log_info("master %d: keeping %d child process%s (max %d)", (int)getpid(),
		    target, target == 1 ? "" : "es", max);

	for (;;) {
		struct timespec ts = {0, 200 * 1000 * 1000};

		if (cs_stop_requested && !stopping) {
			stopping = 1;
			stop_deadline = cs_clock_mono() + o->stop_timeout_s;
			cs_log_info("stopping: children finish their requests in flight");
			signal_all(ch, max, SIGTERM);
		}
		if (cs_reload_requested) {
			cs_reload_requested = 0;
			cs_log_info("reloading the glue in every child");
			signal_all(ch, max, SIGHUP);
		}
		if (got_ttin) {
			got_ttin = 0;
			if (target < max)
				target++;
			else
				cs_metrics_max_children_reached(srv->metrics);
			cs_log_info("TTIN: %d child processes wanted", target);
		}
		if (got_ttou) {
			got_ttou = 0;
			if (target > 1)
				target--;
			cs_log_info("TTOU: %d child processes wanted", target);
		}
		got_chld = 0;
		reap(ch, max, stopping, &backoff_ms, &next_spawn);

		if (stopping) {
			if (count_live(ch, max, 1) == 0)
				break;
			if (cs_clock_mono() > stop_deadline) {
				cs_log_warn("children still running after %d s: killing them",
					    o->stop_timeout_s);
				signal_all(ch, max, SIGKILL);
				stop_deadline = cs_clock_mono() + 3600;
			}
		} else {
			if (cs_clock_mono() >= next_watch) {
				next_watch = cs_clock_mono() + 0.5;
				kill_stuck(srv, ch, max);
			}
			/* too many: stop the newest */
			while (count_live(ch, max, 0) > target) {
				int newest = -1;

				for (int i = 0; i < max; i++)
					if (ch[i].pid && !ch[i].stopping &&
					    (newest < 0 || ch[i].started > ch[newest].started))
						newest = i;
				ch[newest].stopping = 1;
				kill(ch[newest].pid, SIGTERM);
			}
			/* too few: start more, unless backing off */
			while (count_live(ch, max, 0) < target && cs_clock_mono() >= next_spawn) {
				int slot = -1, r;

				for (int i = 0; i < max; i++)
					if (!ch[i].pid) {
						slot = i;
						break;
					}
				if (slot < 0)
					break;
				r = spawn(srv, &ch[slot], o);
				if (r == 1) {
					int rc = cs_server_run(srv);

					cs_log_info("child stopping after %lu requests",
						    srv->requests);
					return rc == 0 ? CS_MASTER_CHILD_DONE :
							 CS_MASTER_CHILD_FAILED;
				}
				if (r < 0) {
					if (!started_any)
						return CS_MASTER_FAILED;
					break;
				}
				started_any = 1;
			}
		}
		if (!got_chld && !cs_stop_requested && !cs_reload_requested &&
		    !got_ttin && !got_ttou)
			ppoll(NULL, 0, &ts, &srv->wait_mask);
	}
	cs_log_info("master: all children stopped");
	return CS_MASTER_DONE;
}
