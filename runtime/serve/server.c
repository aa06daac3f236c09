/*
 * server.c - the transport: accept, multiplex kept-alive connections,
 * serving threads, hand each request to cs_dispatch(), write the
 * response, drain on stop (see server.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <fcgiapp.h>
#include <jansson.h>

#include "core/arena.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/request.h"
#include "core/status.h"
#include "model/batcher.h"
#include "serve/dispatch.h"
#include "serve/gateway.h"
#include "serve/listen.h"
#include "serve/metrics.h"
#include "serve/server.h"

#define MAX_CONNS 1024
#define IO_TIMEOUT_MIN_MS 1000        /* a stalled peer cannot hang us longer */
#define DRAIN_LIMIT ((size_t)1 << 30) /* past this, close instead of reading on */

volatile sig_atomic_t cs_stop_requested;
volatile sig_atomic_t cs_reload_requested;

/* ------------------------------------------------------------ responses */

int cs_server_response_head(const cs_response *r, char *hdr, size_t size)
{
	int n;

	/* libfcgi's own printf knows no %zu: format the head here */
	n = snprintf(hdr, size,
		     "Status: %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s%s%s%s\r\n",
		     r->status, cs_http_reason(r->status),
		     r->content_type[0] ? r->content_type : "application/json",
		     r->len, r->allow[0] ? "Allow: " : "", r->allow,
		     r->allow[0] ? "\r\n" : "", r->headers);
	if (n < 0 || (size_t)n >= size)
		n = snprintf(hdr, size, "Status: 500 Internal Server Error\r\n\r\n");
	return n;
}

static void write_response(FCGX_Request *fr, const cs_response *r, int head)
{
	char hdr[1024];
	int n = cs_server_response_head(r, hdr, sizeof hdr);

	FCGX_PutStr(hdr, n, fr->out);
	if (!head && r->len)
		FCGX_PutStr(r->body, (int)r->len, fr->out);
}

void cs_server_answer(cs_server *s, cs_response *resp)
{
	if (!resp->status) /* never answer nothing */
		cs_response_fail(resp, CS_EBACKEND, "no response");
	/* every answer names the version that gave it (switches, canaries) */
	cs_response_header(resp, "X-Model-Version: %s", s->model->mf->version);
	if (resp->status >= 400) /* the heartbeat reports the latest failure */
		cs_metrics_error(s->metrics, resp->status, resp->body, resp->len);
}

void cs_server_answered(cs_server *s, char **envp, const cs_response *resp,
			cs_metrics_endpoint ep, double t0, double queued)
{
	const char *method = FCGX_GetParam("REQUEST_METHOD", envp);

	cs_gateway_done(s->gateway, resp->status);
	cs_metrics_end(s->metrics, ep, resp->status, cs_clock_mono() - t0, queued);
	if (s->model->mf->limits.slow_request_ms &&
	    (cs_clock_mono() - t0) * 1000 > (double)s->model->mf->limits.slow_request_ms) {
		const char *id = FCGX_GetParam("HTTP_X_REQUEST_ID", envp);

		cs_metrics_slow(s->metrics);
		cs_log_warn("slow request: %s %s%s%s took %.0f ms (limits.slow_request_ms %llu)",
			    method ? method : "-",
			    FCGX_GetParam("REQUEST_URI", envp) ?
			    FCGX_GetParam("REQUEST_URI", envp) : "-",
			    id ? " id=" : "", id ? id : "", (cs_clock_mono() - t0) * 1000,
			    (unsigned long long)s->model->mf->limits.slow_request_ms);
	}
	cs_log_debug("%s %s -> %d", method ? method : "-",
		     FCGX_GetParam("DOCUMENT_URI", envp) ?
		     FCGX_GetParam("DOCUMENT_URI", envp) : "-", resp->status);
}

/* Reads and discards what is left of the body, so the connection stays in sync. */
static int drain_body(FCGX_Request *fr)
{
	char buf[16384];
	size_t total = 0;
	int n;

	while ((n = FCGX_GetStr(buf, sizeof buf, fr->in)) > 0) {
		total += (size_t)n;
		if (total > DRAIN_LIMIT)
			return -1;
	}
	return FCGX_GetError(fr->in) ? -1 : 0;
}


/* ------------------------------------------------------------ connections */

typedef struct conn_set {
	int fds[MAX_CONNS];
	int n;
} conn_set;

static void conn_add(conn_set *cs, int fd)
{
	if (cs->n == MAX_CONNS) { /* cannot happen: we stop accepting first */
		close(fd);
		return;
	}
	cs->fds[cs->n++] = fd;
}

static void conn_remove_at(conn_set *cs, int i)
{
	cs->fds[i] = cs->fds[--cs->n];
}

/*
 * Serves one request from a connection whose data is ready. Returns the fd
 * when the connection is kept alive, else -1 (it was closed).
 */
static int serve_one(cs_server *s, FCGX_Request *fr, int fd, cs_arena *arena,
		     int last)
{
	cs_response resp;
	cs_dispatch_src src;
	const char *method;
	cs_metrics_endpoint ep;
	double t0, queued;
	int rc;

	fr->ipcFd = fd;
	fr->keepConnection = 1; /* so FCGX_Accept_r does not close our fd first */
	rc = FCGX_Accept_r(fr);
	if (rc < 0) {
		/* the peer closed it or sent garbage; libfcgi closed the fd */
		if (fr->ipcFd >= 0) {
			close(fr->ipcFd);
			fr->ipcFd = -1;
		}
		return -1;
	}
	t0 = cs_clock_mono();
	queued = cs_dispatch_queue_seconds(fr->envp);
	cs_metrics_begin(s->metrics);
	memset(&resp, 0, sizeof resp);
	__atomic_fetch_add(&s->root->inflight, 1, __ATOMIC_RELAXED);
	src = (cs_dispatch_src){fr->envp, fr->in, NULL, 0};
	ep = cs_dispatch(s, &src, arena, t0, queued, &resp);
	__atomic_fetch_sub(&s->root->inflight, 1, __ATOMIC_RELAXED);
	cs_server_answer(s, &resp);
	if (drain_body(fr) != 0 || last)
		fr->keepConnection = 0;
	method = FCGX_GetParam("REQUEST_METHOD", fr->envp);
	write_response(fr, &resp, method && strcmp(method, "HEAD") == 0);
	cs_server_answered(s, fr->envp, &resp, ep, t0, queued);
	cs_response_reset(&resp);
	FCGX_Finish_r(fr);
	cs_arena_reset(arena);
	__atomic_fetch_add(&s->root->requests, 1, __ATOMIC_RELAXED);
	fd = fr->ipcFd; /* -1 when libfcgi closed it (no keep-conn, or an error) */
	fr->ipcFd = -1;
	return fd;
}

/*
 * Before exiting: accept nothing more, but answer the requests already sent
 * on our connections (accepted ones not read yet, kept-alive ones nginx
 * just reused), closing each after its response. Stops when no connection
 * has had a request for DRAIN_IDLE_MS, or after DRAIN_MAX_MS.
 */
#define DRAIN_IDLE_MS 100
#define DRAIN_MAX_MS 2000

static void drain_conns(cs_server *s, conn_set *conns, struct pollfd *pfd,
			FCGX_Request *fr, cs_arena *arena)
{
	double t0 = cs_clock_mono();

	while (conns->n > 0) {
		int n = conns->n, r;

		if ((cs_clock_mono() - t0) * 1000 > DRAIN_MAX_MS)
			break;
		for (int i = 0; i < n; i++)
			pfd[i] = (struct pollfd){conns->fds[i], POLLIN, 0};
		r = poll(pfd, (nfds_t)n, DRAIN_IDLE_MS);
		if (r <= 0)
			break;
		for (int k = 0; k < n; k++) {
			if (!pfd[k].revents)
				continue;
			for (int i = 0; i < conns->n; i++)
				if (conns->fds[i] == pfd[k].fd) {
					conn_remove_at(conns, i);
					break;
				}
			serve_one(s, fr, pfd[k].fd, arena, 1);
		}
	}
}

/*
 * A peer that stops reading or sending holds the worker at most the
 * request time limit (at least IO_TIMEOUT_MIN_MS).
 */
static void set_io_timeouts(cs_server *s, int fd)
{
	uint64_t ms = s->model->mf->limits.request_timeout_ms;
	struct timeval tv;

	if (ms < IO_TIMEOUT_MIN_MS)
		ms = IO_TIMEOUT_MIN_MS;
	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

int cs_server_reload(cs_server *s)
{
	char err[CS_ERROR_SIZE * 2];
	cs_glue *g;
	int rc;

	rc = cs_glue_new(s->model, s->lua_dir, &g, err, sizeof err);
	if (rc) {
		cs_log_error("glue reload failed, keeping the running glue: %s", err);
		return rc;
	}
	cs_glue_set_infer(g, &s->infer);
	cs_glue_free(s->glue);
	s->glue = g;
	cs_log_info("glue reloaded");
	return CS_OK;
}

/*
 * Names the listening socket ("unix:/run/x.sock", "tcp:127.0.0.1:9000"):
 * the processes of one pool share it, so it keys the default scoreboard.
 */
static const char *socket_name(int fd, char *buf, size_t n)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	char host[INET6_ADDRSTRLEN] = "?";

	memset(&ss, 0, sizeof ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
		return "fd";
	if (ss.ss_family == AF_UNIX) {
		const struct sockaddr_un *un = (const struct sockaddr_un *)&ss;

		snprintf(buf, n, "unix:%.*s", (int)sizeof un->sun_path, un->sun_path);
	} else if (ss.ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;

		inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
		snprintf(buf, n, "tcp:%s:%u", host, (unsigned)ntohs(in->sin_port));
	} else if (ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&ss;

		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
		snprintf(buf, n, "tcp:[%s]:%u", host, (unsigned)ntohs(in6->sin6_port));
	} else {
		return "fd";
	}
	return buf;
}

int cs_server_open_metrics(cs_server *s, const char *path, char *err,
			   size_t errlen)
{
	char name[160];

	return cs_metrics_open(path, s->listen_addr ? s->listen_addr :
			       socket_name(s->listen_fd, name, sizeof name),
			       s->model->mf->name, s->model->load_seconds,
			       &s->metrics, err, errlen);
}

/* Set once when the process stops; wakes every thread through wake_fd. */
static int stop_pipe[2] = {-1, -1};
static unsigned long reload_gen; /* bumped by the main thread on HUP */

static int stop_all; /* set when any thread leaves its loop */

static int stopping(const cs_server *s)
{
	unsigned long max = s->root->max_requests;

	/* the handler stores it atomically too: other threads read it here */
	if (__atomic_load_n(&cs_stop_requested, __ATOMIC_RELAXED) ||
	    __atomic_load_n(&stop_all, __ATOMIC_ACQUIRE))
		return 1;
	return max && __atomic_load_n(&s->root->requests, __ATOMIC_RELAXED) >= max;
}

/*
 * One serving thread: polls the listening socket, its own kept-alive
 * connections and (other threads) the stop pipe. The main thread waits
 * with the signals unblocked; the others have every signal blocked.
 */
static int serve_loop(cs_server *s, int main_thread)
{
	conn_set *conns;
	struct pollfd *pfd;
	unsigned long seen_gen = __atomic_load_n(&reload_gen, __ATOMIC_ACQUIRE);
	FCGX_Request fr;
	cs_arena arena;
	int ret = 0, counted = 0; /* connections added to the scoreboard's count */

	conns = calloc(1, sizeof(*conns));
	pfd = calloc(MAX_CONNS + 2, sizeof(*pfd));
	if (!conns || !pfd) {
		cs_log_error("out of memory starting a serving thread");
		free(conns);
		free(pfd);
		return -1;
	}
	/* listen_sock -1: libfcgi never accepts by itself; this loop does */
	FCGX_InitRequest(&fr, -1, 0);
	cs_arena_init(&arena, 0);
	cs_metrics_set_thread(s->metrics, s->thread_index, s->root->threads);
	cs_metrics_conns_add(s->metrics, 0); /* this process serves */

	while (!stopping(s)) {
		int n = 0, r, first_conn, accepting = conns->n < MAX_CONNS;
		unsigned long gen;

		if (main_thread && cs_reload_requested) {
			cs_reload_requested = 0;
			__atomic_fetch_add(&reload_gen, 1, __ATOMIC_RELEASE);
		}
		gen = __atomic_load_n(&reload_gen, __ATOMIC_ACQUIRE);
		if (gen != seen_gen) {
			seen_gen = gen;
			cs_server_reload(s);
		}
		if (stop_pipe[0] >= 0)
			pfd[n++] = (struct pollfd){stop_pipe[0], POLLIN, 0};
		first_conn = n + (accepting ? 1 : 0);
		if (accepting)
			pfd[n++] = (struct pollfd){s->listen_fd, POLLIN, 0};
		for (int i = 0; i < conns->n; i++)
			pfd[n++] = (struct pollfd){conns->fds[i], POLLIN, 0};
		if (main_thread) {
			r = ppoll(pfd, (nfds_t)n, NULL, &s->wait_mask);
		} else {
			/* a reload is noticed within a second by an idle thread */
			r = poll(pfd, (nfds_t)n, 1000);
		}
		if (r < 0) {
			if (errno == EINTR)
				continue;
			cs_log_error("poll: %s", strerror(errno));
			ret = -1;
			break;
		}
		/* serve every ready kept-alive connection once, in order */
		for (int k = first_conn; k < n && !stopping(s); k++) {
			int fd = pfd[k].fd;

			if (!pfd[k].revents)
				continue;
			for (int i = 0; i < conns->n; i++)
				if (conns->fds[i] == fd) {
					conn_remove_at(conns, i);
					break;
				}
			fd = serve_one(s, &fr, fd, &arena, 0);
			if (fd >= 0)
				conn_add(conns, fd);
		}
		if (accepting && (pfd[first_conn - 1].revents & POLLIN)) {
			/*
			 * Every pending connection at once (the listening socket
			 * is nonblocking) while no other process of the pool
			 * holds fewer (cs_metrics_accept_more). A connection
			 * nginx opens beyond its upstream keepalive then waits
			 * one round, not one round per connection queued before
			 * it, and the kept-alive ones still spread over the
			 * pool's children.
			 */
			for (int k = 0; conns->n < MAX_CONNS &&
					cs_metrics_accept_more(s->metrics, k); k++) {
				int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);

				if (fd < 0) {
					if (errno != EAGAIN && errno != EWOULDBLOCK &&
					    errno != EINTR && errno != ECONNABORTED)
						cs_log_warn("accept: %s", strerror(errno));
					break;
				}
				set_io_timeouts(s, fd);
				conn_add(conns, fd);
				cs_metrics_conns_add(s->metrics, 1);
				counted++;
			}
		}
		if (conns->n != counted) { /* closed this round */
			cs_metrics_conns_add(s->metrics, conns->n - counted);
			counted = conns->n;
		}
	}
	/* whoever stops first wakes the others (the pipe is never drained) */
	__atomic_store_n(&stop_all, 1, __ATOMIC_RELEASE);
	if (stop_pipe[1] >= 0)
		(void)!write(stop_pipe[1], "x", 1);
	if (ret == 0)
		drain_conns(s, conns, pfd, &fr, &arena);
	for (int i = 0; i < conns->n; i++)
		close(conns->fds[i]);
	cs_metrics_conns_add(s->metrics, -counted);
	cs_arena_destroy(&arena);
	free(conns);
	free(pfd);
	return ret;
}

typedef struct serve_thread {
	cs_server srv; /* a copy with its own glue */
	pthread_t tid;
	int started;
	int rc;
} serve_thread;

static void *serve_thread_main(void *arg)
{
	serve_thread *t = arg;

	t->rc = serve_loop(&t->srv, 0);
	return NULL;
}

/* Starts the batcher the manifest asks for, when the model allows it. */
static void start_batcher(cs_server *s)
{
	const cs_batching *b = &s->model->mf->batching;
	cs_batch_opts o;
	char err[CS_ERROR_SIZE];

	if (!b->max_batch_size || s->batcher)
		return;
	memset(&o, 0, sizeof o);
	o.max_batch_size = b->max_batch_size;
	o.max_queue_delay_us = b->max_queue_delay_us;
	o.preferred = b->preferred;
	o.n_preferred = b->n_preferred;
	o.inflight = &s->inflight;
	o.observe = cs_metrics_observe_batch;
	o.observe_arg = s->metrics;
	if (cs_batcher_new(s->model, &o, &s->batcher, err, sizeof err) != CS_OK) {
		cs_log_warn("batching is off: %s", err);
		s->batcher = NULL;
		return;
	}
	cs_log_info("batching: up to %d rows, %llu us queue delay, %d threads",
		    b->max_batch_size, (unsigned long long)b->max_queue_delay_us,
		    s->threads);
}

int cs_server_run(cs_server *s)
{
	cs_metrics *own_metrics = NULL;
	serve_thread *extra = NULL;
	int ret = 0, n_extra;

	if (FCGX_Init() != 0) {
		cs_log_error("FCGX_Init failed");
		return -1;
	}
	if (!s->metrics) {
		char err[512], name[160];

		if (cs_metrics_open(NULL, s->listen_addr ? s->listen_addr :
				    socket_name(s->listen_fd, name, sizeof name),
				    s->model->mf->name,
				    s->model->load_seconds, &own_metrics, err,
				    sizeof err) == 0) {
			s->metrics = own_metrics;
			cs_log_info("metrics scoreboard: %s",
				    cs_metrics_path(own_metrics)[0] ?
				    cs_metrics_path(own_metrics) : "anonymous shared memory");
		} else {
			cs_log_warn("no metrics scoreboard: %s", err);
		}
	}
	cs_metrics_attach(s->metrics);
	s->root = s;
	stop_all = 0;
	if (s->threads < 1)
		s->threads = 1;
	if (s->event_loop) {
		char why[CS_ERROR_SIZE];

		if (cs_batcher_supported(s->model, why, sizeof why)) {
			ret = cs_evloop_run(s);
			goto out_close_metrics;
		}
		cs_log_warn("batching is off: %s", why);
		s->threads = 1;
	}
	start_batcher(s);
	/* every inference of this process: batched or not, timed into the board */
	s->infer = (cs_infer_ctx){s->model, s->batcher, 0,
				  cs_metrics_observe_infer, s->metrics, NULL, NULL};
	cs_glue_set_infer(s->glue, &s->infer);

	/* more serving threads, each with its own Lua state */
	n_extra = s->threads - 1;
	if (n_extra > 0) {
		sigset_t all, old;

		extra = calloc((size_t)n_extra, sizeof(*extra));
		if (!extra || pipe2(stop_pipe, O_CLOEXEC) != 0) {
			cs_log_error("cannot start %d serving threads: %s", n_extra,
				     strerror(errno));
			n_extra = 0;
		}
		/*
		 * Every copy of *s is made before the first thread starts: a
		 * running thread updates s's counters (inflight, requests).
		 */
		for (int i = 0; i < n_extra; i++) {
			char err[CS_ERROR_SIZE * 2];
			serve_thread *t = &extra[i];

			t->srv = *s;
			t->srv.glue = NULL;
			t->srv.thread_index = i + 1;
			if (cs_glue_new(s->model, s->lua_dir, &t->srv.glue, err,
					sizeof err) != CS_OK) {
				cs_log_error("serving thread %d: %s", i + 1, err);
				continue;
			}
			cs_glue_set_infer(t->srv.glue, &t->srv.infer);
		}
		sigfillset(&all);
		pthread_sigmask(SIG_BLOCK, &all, &old); /* inherited by the threads */
		for (int i = 0; i < n_extra; i++) {
			serve_thread *t = &extra[i];

			if (!t->srv.glue)
				continue;
			if (pthread_create(&t->tid, NULL, serve_thread_main, t) != 0) {
				cs_log_error("cannot start serving thread %d", i + 1);
				cs_glue_free(t->srv.glue);
				t->srv.glue = NULL;
				continue;
			}
			t->started = 1;
		}
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	}

	ret = serve_loop(s, 1);

	if (n_extra > 0) {
		/* wake and wait for the others: they finish their requests too */
		if (stop_pipe[1] >= 0)
			(void)!write(stop_pipe[1], "x", 1);
		for (int i = 0; i < n_extra; i++) {
			if (!extra[i].started)
				continue;
			pthread_join(extra[i].tid, NULL);
			cs_glue_free(extra[i].srv.glue);
		}
		close(stop_pipe[0]);
		close(stop_pipe[1]);
		stop_pipe[0] = stop_pipe[1] = -1;
	}
	free(extra);
	if (s->batcher) {
		cs_batch_stats st;

		cs_batcher_stats(s->batcher, &st);
		cs_log_info("batcher: %llu requests (%llu rows) in %llu inferences, %llu timed out in the queue",
			    (unsigned long long)st.requests, (unsigned long long)st.rows,
			    (unsigned long long)st.batches, (unsigned long long)st.timeouts);
		s->infer.batcher = NULL;
		cs_glue_set_infer(s->glue, &s->infer);
		cs_batcher_free(s->batcher);
		s->batcher = NULL;
	}
out_close_metrics:
	if (own_metrics) {
		cs_metrics_close(own_metrics);
		s->metrics = NULL;
	}
	return ret;
}
