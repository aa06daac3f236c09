/*
 * evloop.c - batching without a thread per connection: one event loop per
 * worker process (see server.h, cs_evloop_run()).
 *
 * The loop reads every ready FastCGI record from all its connections
 * (non-blocking, with its own record reader: protocol/fcgi.c), and runs
 * each complete request on a coroutine of its own (serve/fiber.c), with
 * the usual dispatch, handlers and glue. Each coroutine slot has its own
 * Lua state, so the glue's budgets, memory cap and deadline hold per
 * request as they do per thread. When a request reaches cs_infer(), its
 * coroutine parks with its inputs; when nothing more is ready to read (or
 * the rows reach max_batch_size, or max_queue_delay_us has passed since
 * the first parked one), the loop runs one inference for the parked
 * requests in the order they parked, resumes each with its rows, and
 * writes the responses. One thread: no locks, no hand-offs.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <fcgiapp.h>

#include "core/arena.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/request.h"
#include "core/status.h"
#include "model/batcher.h"
#include "protocol/fcgi.h"
#include "serve/dispatch.h"
#include "serve/fiber.h"
#include "serve/gateway.h"
#include "serve/metrics.h"
#include "serve/server.h"

#define EV_MAX_CONNS 1024
#define EV_MAX_SLOTS CS_METRICS_THREADS /* a busy clock each */
#define EV_MAX_REQS_PER_CONN 8          /* multiplexed requests on one connection */
#define EV_MAX_PARAMS ((size_t)2 << 20) /* a params stream past this closes */
#define EV_DRAIN_LIMIT ((size_t)1 << 30) /* a body past this closes */
#define EV_READ_BUDGET (256u << 10)      /* bytes read from a connection per turn */
#define EV_STACK_BYTES ((size_t)4 << 20) /* reserved, touched as needed */
#define EV_IO_TIMEOUT_MIN_MS 1000
#define EV_DRAIN_IDLE_MS 100
#define EV_DRAIN_MAX_MS 2000

typedef struct ev_conn ev_conn;
typedef struct ev_req ev_req;
typedef struct ev_slot ev_slot;
typedef struct ev_loop ev_loop;

enum { REQ_PARAMS, REQ_STDIN, REQ_READY, REQ_RUNNING };

struct ev_req {
	ev_req *next;            /* the connection's requests / the free list */
	ev_req *qnext;           /* the ready queue */
	ev_conn *conn;
	int id;
	int keep;                /* FCGI_KEEP_CONN */
	int state;
	unsigned char *params;   /* the raw params stream */
	size_t params_len, params_cap;
	char **envp;             /* in the arena, once the params ended */
	char *body;              /* up to max_body_bytes + 1 bytes, NUL after */
	size_t body_len, body_cap, body_seen;
	char nul[1];             /* the body of a request without one */
	cs_arena arena;
};

struct ev_conn {
	int fd;                  /* -1 once closed (requests still running) */
	unsigned char *in;       /* bytes not yet a whole record */
	size_t in_len, in_cap;
	cs_fcgi_buf out;
	ev_req *reqs;
	int n_reqs;
	int n_running;           /* requests a slot serves (hold the struct) */
	int close_after;         /* close once no request is left and out is sent */
	int eof;                 /* the peer sent all it will */
	double last_in, last_out;
};

struct ev_slot {
	ev_loop *loop;
	int index;
	cs_fiber *fiber;
	cs_server srv;           /* a copy with this slot's glue and infer */
	ev_req *req;             /* NULL: free */
	int done;
	cs_gateway_pending gw;
	unsigned long reload_gen;
	/* a parked inference */
	cs_batch_job job;
	double deadline, parked_at;
	ev_slot *qnext;
};

struct ev_loop {
	cs_server *s;
	ev_conn *conns[EV_MAX_CONNS];
	int n_conns;
	int counted; /* of them, in the scoreboard's count of the process */
	ev_slot *slots;
	int n_slots;
	int busy;                        /* slots with a request */
	ev_req *ready_head, *ready_tail; /* whole requests waiting for a slot */
	ev_slot *q_head, *q_tail;        /* parked inferences, in order */
	int64_t q_rows;
	cs_arena batch_arena;
	cs_batch_stats stats;
	ev_req *free_reqs;
	int max_batch;
	double delay;                    /* max_queue_delay_us, in seconds */
	double io_timeout;
	size_t max_body;
	unsigned long reload_gen;
	int draining;
	double drain_t0, last_req_t;
	struct pollfd pfd[EV_MAX_CONNS + 1];
};

/* ------------------------------------------------------------ requests */

static ev_req *req_new(ev_loop *L, ev_conn *c, int id, int keep)
{
	ev_req *r = L->free_reqs;

	if (r) {
		L->free_reqs = r->next;
	} else {
		r = calloc(1, sizeof(*r));
		if (!r)
			return NULL;
		cs_arena_init(&r->arena, 0);
	}
	r->conn = c;
	r->id = id;
	r->keep = keep;
	r->state = REQ_PARAMS;
	r->params_len = 0;
	r->envp = NULL;
	r->body_len = r->body_seen = 0;
	r->qnext = NULL;
	r->next = c->reqs;
	c->reqs = r;
	c->n_reqs++;
	return r;
}

/* Takes r off its connection and keeps it for reuse. */
static void req_free(ev_loop *L, ev_req *r)
{
	ev_conn *c = r->conn;

	for (ev_req **pp = &c->reqs; *pp; pp = &(*pp)->next)
		if (*pp == r) {
			*pp = r->next;
			break;
		}
	c->n_reqs--;
	cs_arena_reset(&r->arena);
	if (r->params_cap > (1u << 16)) {
		free(r->params);
		r->params = NULL;
		r->params_cap = 0;
	}
	if (r->body_cap > (1u << 16)) {
		free(r->body);
		r->body = NULL;
		r->body_cap = 0;
	}
	r->next = L->free_reqs;
	L->free_reqs = r;
}

static ev_req *req_find(ev_conn *c, int id)
{
	for (ev_req *r = c->reqs; r; r = r->next)
		if (r->id == id)
			return r;
	return NULL;
}

static int grow(void *pp, size_t *cap, size_t need)
{
	unsigned char **p = pp;
	size_t n = *cap ? *cap : 1024;
	unsigned char *q;

	if (need <= *cap)
		return 0;
	while (n < need)
		n *= 2;
	q = realloc(*p, n);
	if (!q)
		return -1;
	*p = q;
	*cap = n;
	return 0;
}

/* ------------------------------------------------------------ connections */

static void conn_close_fd(ev_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

/* Frees a connection nothing refers to any more. */
static void conn_free(ev_loop *L, ev_conn *c)
{
	while (c->reqs)
		req_free(L, c->reqs);
	conn_close_fd(c);
	free(c->in);
	cs_fcgi_buf_free(&c->out);
	free(c);
}

/* Takes a ready request of c off the ready queue and frees it. */
static void ready_drop(ev_loop *L, ev_req *r)
{
	ev_req *prev = NULL;

	for (ev_req *q = L->ready_head; q; prev = q, q = q->qnext)
		if (q == r) {
			if (prev)
				prev->qnext = r->qnext;
			else
				L->ready_head = r->qnext;
			if (L->ready_tail == r)
				L->ready_tail = prev;
			break;
		}
	req_free(L, r);
}

/*
 * The peer went away or broke the protocol: close it now and drop the
 * requests not started; requests already running finish, unanswered.
 */
static void conn_fail(ev_loop *L, ev_conn *c)
{
	ev_req *r = c->reqs;

	conn_close_fd(c);
	while (r) {
		ev_req *next = r->next;

		if (r->state == REQ_READY)
			ready_drop(L, r);
		else if (r->state != REQ_RUNNING)
			req_free(L, r);
		r = next;
	}
	c->in_len = 0;
	c->close_after = 1;
}

/*
 * The peer closed its side: what it sent in whole is still answered
 * (a half-closed socket can take the response); the rest is dropped.
 */
static void conn_eof(ev_loop *L, ev_conn *c)
{
	ev_req *r = c->reqs;

	while (r) {
		ev_req *next = r->next;

		if (r->state == REQ_PARAMS || r->state == REQ_STDIN)
			req_free(L, r);
		r = next;
	}
	c->in_len = 0;
	c->eof = 1;
	c->close_after = 1;
}

/* Sends what the connection's output holds, as far as the socket takes it. */
static void conn_flush(ev_loop *L, ev_conn *c)
{
	(void)L;
	while (c->fd >= 0 && c->out.len > c->out.off) {
		ssize_t n = send(c->fd, c->out.p + c->out.off, c->out.len - c->out.off,
				 MSG_NOSIGNAL);

		if (n > 0) {
			cs_fcgi_buf_consumed(&c->out, (size_t)n);
			c->last_out = cs_clock_mono();
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		conn_fail(L, c);
		return;
	}
	if (c->out.len == c->out.off && c->out.len)
		cs_fcgi_buf_consumed(&c->out, 0);
}

/* ------------------------------------------------------------ records */

typedef struct envp_build {
	cs_arena *arena;
	char **envp;
	size_t n;
} envp_build;

static int count_pair(void *arg, const unsigned char *n, size_t nl,
		      const unsigned char *v, size_t vl)
{
	(void)n;
	(void)nl;
	(void)v;
	(void)vl;
	((envp_build *)arg)->n++;
	return 0;
}

static int add_pair(void *arg, const unsigned char *n, size_t nl,
		    const unsigned char *v, size_t vl)
{
	envp_build *b = arg;
	char *e = cs_arena_alloc(b->arena, nl + vl + 2);

	if (!e)
		return -1;
	memcpy(e, n, nl);
	e[nl] = '=';
	memcpy(e + nl + 1, v, vl);
	e[nl + 1 + vl] = '\0';
	b->envp[b->n++] = e;
	return 0;
}

/* The params stream ended: NAME=VALUE strings in the request's arena. */
static int build_envp(ev_req *r)
{
	envp_build b = {&r->arena, NULL, 0};

	if (cs_fcgi_params(r->params, r->params_len, count_pair, &b) != 0)
		return -1;
	b.envp = cs_arena_alloc(&r->arena, (b.n + 1) * sizeof(char *));
	if (!b.envp)
		return -1;
	b.n = 0;
	if (cs_fcgi_params(r->params, r->params_len, add_pair, &b) != 0)
		return -1;
	b.envp[b.n] = NULL;
	r->envp = b.envp;
	return 0;
}

static void ready_push(ev_loop *L, ev_req *r)
{
	r->state = REQ_READY;
	r->qnext = NULL;
	if (L->ready_tail)
		L->ready_tail->qnext = r;
	else
		L->ready_head = r;
	L->ready_tail = r;
	L->last_req_t = cs_clock_mono();
}

/* An answer that needs no request: END_REQUEST with a protocol status. */
static void refuse(ev_conn *c, int id, int protocol_status)
{
	cs_fcgi_put_end(&c->out, id, 0, protocol_status);
}

static void management(ev_conn *c, const cs_fcgi_record *rec)
{
	if (rec->type == CS_FCGI_GET_VALUES) {
		static const unsigned char vals[] =
			"\x0e\x01" "FCGI_MAX_CONNS" "8"
			"\x0d\x01" "FCGI_MAX_REQS" "8"
			"\x0f\x01" "FCGI_MPXS_CONNS" "1";

		cs_fcgi_put(&c->out, CS_FCGI_GET_VALUES_RESULT, 0, vals, sizeof vals - 1);
	} else {
		unsigned char body[8] = {(unsigned char)rec->type};

		cs_fcgi_put(&c->out, CS_FCGI_UNKNOWN_TYPE, 0, body, sizeof body);
	}
}

/* One record of a connection. Returns 0, or -1 to close it. */
static int on_record(ev_loop *L, ev_conn *c, const cs_fcgi_record *rec)
{
	ev_req *r;

	if (rec->id == 0) {
		management(c, rec);
		return 0;
	}
	r = req_find(c, rec->id);
	switch (rec->type) {
	case CS_FCGI_BEGIN_REQUEST: {
		int role, flags;

		if (rec->len < 8)
			return -1;
		if (r) /* already begun: ignored, as the spec says */
			return 0;
		role = rec->content[0] << 8 | rec->content[1];
		flags = rec->content[2];
		if (role != CS_FCGI_RESPONDER) {
			refuse(c, rec->id, CS_FCGI_UNKNOWN_ROLE);
			if (!(flags & CS_FCGI_KEEP_CONN))
				c->close_after = 1;
			return 0;
		}
		if (c->n_reqs >= EV_MAX_REQS_PER_CONN) {
			refuse(c, rec->id, CS_FCGI_CANT_MPX_CONN);
			return 0;
		}
		if (!req_new(L, c, rec->id, flags & CS_FCGI_KEEP_CONN))
			return -1;
		return 0;
	}
	case CS_FCGI_ABORT_REQUEST:
		if (r && (r->state == REQ_PARAMS || r->state == REQ_STDIN)) {
			int keep = r->keep;

			req_free(L, r);
			cs_fcgi_put_end(&c->out, rec->id, 0, CS_FCGI_REQUEST_COMPLETE);
			if (!keep)
				c->close_after = 1;
		}
		return 0; /* a running one is answered when it is done */
	case CS_FCGI_PARAMS:
		if (!r || r->state != REQ_PARAMS)
			return 0;
		if (rec->len == 0) {
			if (build_envp(r) != 0)
				return -1;
			r->state = REQ_STDIN;
			return 0;
		}
		if (r->params_len + rec->len > EV_MAX_PARAMS ||
		    grow(&r->params, &r->params_cap, r->params_len + rec->len))
			return -1;
		memcpy(r->params + r->params_len, rec->content, rec->len);
		r->params_len += rec->len;
		return 0;
	case CS_FCGI_STDIN:
		if (!r || r->state != REQ_STDIN)
			return 0;
		if (rec->len == 0) {
			ready_push(L, r);
			return 0;
		}
		r->body_seen += rec->len;
		if (r->body_seen > EV_DRAIN_LIMIT)
			return -1;
		if (r->body_len < L->max_body + 1) {
			size_t keep = L->max_body + 1 - r->body_len;

			if (keep > rec->len)
				keep = rec->len;
			if (grow(&r->body, &r->body_cap, r->body_len + keep + 1))
				return -1;
			memcpy(r->body + r->body_len, rec->content, keep);
			r->body_len += keep;
		}
		return 0;
	default: /* DATA and the rest: not for a responder */
		return 0;
	}
}

/* Reads what the connection has and takes every whole record from it. */
static void conn_read(ev_loop *L, ev_conn *c)
{
	size_t budget = EV_READ_BUDGET, off = 0;

	while (c->fd >= 0 && !c->eof && budget) {
		size_t want;
		ssize_t n;

		if (grow(&c->in, &c->in_cap, c->in_len + 16384)) {
			conn_fail(L, c);
			return;
		}
		want = c->in_cap - c->in_len;
		n = read(c->fd, c->in + c->in_len, want);
		if (n > 0) {
			c->in_len += (size_t)n;
			c->last_in = cs_clock_mono();
			budget = (size_t)n >= budget ? 0 : budget - (size_t)n;
			/* a short read emptied the socket: no read just for EAGAIN */
			if ((size_t)n < want)
				budget = 0;
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			break;
		} else if (n == 0) {
			conn_eof(L, c);
			return;
		} else { /* reset */
			conn_fail(L, c);
			return;
		}
		for (;;) {
			cs_fcgi_record rec;
			long k = cs_fcgi_next(c->in + off, c->in_len - off, &rec);

			if (k == 0)
				break;
			if (k < 0 || on_record(L, c, &rec) != 0) {
				conn_fail(L, c);
				return;
			}
			off += (size_t)k;
		}
		if (off) {
			memmove(c->in, c->in + off, c->in_len - off);
			c->in_len -= off;
			off = 0;
		}
	}
}

/* Whether a connection is in the middle of something the peer owes us. */
static int conn_partial(const ev_conn *c)
{
	if (c->in_len)
		return 1;
	for (const ev_req *r = c->reqs; r; r = r->next)
		if (r->state == REQ_PARAMS || r->state == REQ_STDIN)
			return 1;
	return 0;
}

/* ------------------------------------------------------------ coroutines */

static void resume(ev_loop *L, ev_slot *sl);

/* cs_infer() inside a coroutine: park with the inputs until the batch ran. */
static cs_status sched_infer(void *arg, const cs_tensor *inputs,
			     size_t n_inputs, cs_tensor *outputs,
			     cs_arena *arena, double deadline, char *err,
			     size_t errlen)
{
	ev_slot *sl = arg;
	ev_loop *L = sl->loop;
	cs_model *m = sl->srv.model;
	int rc;

	if (cs_fiber_current() != sl->fiber) /* the glue's init, at start */
		return cs_model_infer(m, inputs, n_inputs, outputs, arena, err, errlen);
	rc = cs_batch_prepare(m, inputs, n_inputs, &sl->job, err, errlen);
	if (rc)
		return rc;
	if (sl->job.rows == 0 || sl->job.rows > L->max_batch)
		/* nothing to share a batch with: run it as it is */
		return cs_model_run(m, sl->job.ordered, outputs, arena, err, errlen);
	sl->job.outputs = outputs;
	sl->job.arena = arena;
	sl->deadline = deadline;
	sl->parked_at = cs_clock_mono();
	sl->qnext = NULL;
	if (L->q_tail)
		L->q_tail->qnext = sl;
	else
		L->q_head = sl;
	L->q_tail = sl;
	L->q_rows += sl->job.rows;
	cs_fiber_yield();
	if (sl->job.status)
		snprintf(err, errlen, "%s", sl->job.err);
	return sl->job.status;
}

/* One request, on its slot's coroutine: the threaded serve_one()'s work. */
static void serve_req(ev_slot *sl, ev_req *r)
{
	cs_server *s = &sl->srv;
	cs_response resp;
	cs_dispatch_src src;
	cs_metrics_endpoint ep;
	const char *method;
	double t0 = cs_clock_mono();
	double queued = cs_dispatch_queue_seconds(r->envp);
	ev_conn *c = r->conn;

	cs_metrics_begin(s->metrics);
	memset(&resp, 0, sizeof resp);
	__atomic_fetch_add(&s->root->inflight, 1, __ATOMIC_RELAXED);
	src = (cs_dispatch_src){r->envp, NULL, r->body ? r->body : r->nul,
				r->body ? r->body_len : 0};
	ep = cs_dispatch(s, &src, &r->arena, t0, queued, &resp);
	__atomic_fetch_sub(&s->root->inflight, 1, __ATOMIC_RELAXED);
	cs_server_answer(s, &resp);
	method = FCGX_GetParam("REQUEST_METHOD", r->envp);
	if (c->fd >= 0) {
		char hdr[1024];
		int n = cs_server_response_head(&resp, hdr, sizeof hdr);
		int head = method && strcmp(method, "HEAD") == 0;

		if (cs_fcgi_put(&c->out, CS_FCGI_STDOUT, r->id, hdr, (size_t)n) ||
		    (!head && resp.len &&
		     cs_fcgi_put(&c->out, CS_FCGI_STDOUT, r->id, resp.body, resp.len)) ||
		    cs_fcgi_put(&c->out, CS_FCGI_STDOUT, r->id, NULL, 0) ||
		    cs_fcgi_put_end(&c->out, r->id, 0, CS_FCGI_REQUEST_COMPLETE)) {
			cs_log_error("out of memory writing a response");
			conn_fail(sl->loop, c);
		}
	}
	cs_server_answered(s, r->envp, &resp, ep, t0, queued);
	cs_response_reset(&resp);
	__atomic_fetch_add(&s->root->requests, 1, __ATOMIC_RELAXED);
}

static void slot_main(void *arg)
{
	ev_slot *sl = arg;

	for (;;) {
		serve_req(sl, sl->req);
		sl->done = 1;
		cs_fiber_yield();
	}
}

/* A slot's request is done: answer, release, and take the next one. */
static void slot_finished(ev_loop *L, ev_slot *sl)
{
	ev_req *r = sl->req;
	ev_conn *c = r->conn;

	sl->req = NULL;
	sl->done = 0;
	L->busy--;
	c->n_running--;
	if (!r->keep || L->draining)
		c->close_after = 1;
	req_free(L, r);
	conn_flush(L, c);
	if (sl->reload_gen != L->reload_gen) {
		sl->reload_gen = L->reload_gen;
		cs_server_reload(&sl->srv);
	}
}

static void resume(ev_loop *L, ev_slot *sl)
{
	/* this coroutine's busy clock and gateway meter are the thread's now */
	cs_metrics_set_thread(L->s->metrics, sl->index, 0);
	cs_gateway_pending_swap(&sl->gw);
	cs_fiber_resume(sl->fiber);
	cs_gateway_pending_swap(&sl->gw);
	if (sl->done)
		slot_finished(L, sl);
}

/* Starts ready requests on free slots, in order. */
static void start_ready(ev_loop *L)
{
	for (int i = 0; i < L->n_slots && L->ready_head; i++) {
		ev_slot *sl = &L->slots[i];
		ev_req *r;

		if (sl->req)
			continue;
		r = L->ready_head;
		L->ready_head = r->qnext;
		if (!L->ready_head)
			L->ready_tail = NULL;
		if (r->conn->fd < 0) { /* its peer left before it started */
			req_free(L, r);
			continue;
		}
		r->state = REQ_RUNNING;
		r->conn->n_running++;
		sl->req = r;
		sl->done = 0;
		L->busy++;
		resume(L, sl);
	}
}

/*
 * Runs the parked inferences as batches while one is due: full, or
 * waited max_queue_delay_us, or `now` (nothing more is ready to read).
 */
static void run_batches(ev_loop *L, int now)
{
	while (L->q_head) {
		cs_batch_job *jobs[EV_MAX_SLOTS];
		ev_slot *taken[EV_MAX_SLOTS], *late[EV_MAX_SLOTS];
		size_t n = 0, n_late = 0;
		int64_t rows = 0;
		double t = cs_clock_mono();

		if (!now && L->q_rows < L->max_batch && t < L->q_head->parked_at + L->delay)
			return;
		/* take them in order while they fit; drop those past their deadline */
		while (L->q_head && n < EV_MAX_SLOTS &&
		       (n == 0 || rows + L->q_head->job.rows <= L->max_batch)) {
			ev_slot *sl = L->q_head;

			L->q_head = sl->qnext;
			if (!L->q_head)
				L->q_tail = NULL;
			L->q_rows -= sl->job.rows;
			if (sl->deadline > 0 && t > sl->deadline) {
				sl->job.status = CS_ETIMEOUT;
				snprintf(sl->job.err, sizeof sl->job.err,
					 "model '%s': request timed out after %.0f ms waiting for a batch",
					 L->s->model->mf->name, (t - sl->parked_at) * 1000);
				L->stats.timeouts++;
				late[n_late++] = sl;
				continue;
			}
			jobs[n] = &sl->job;
			taken[n++] = sl;
			rows += sl->job.rows;
		}
		if (n) {
			cs_batch_run(L->s->model, &L->batch_arena, jobs, n);
			L->stats.batches++;
			L->stats.requests += n;
			L->stats.rows += (uint64_t)rows;
			cs_metrics_batch(L->s->metrics, n, (uint64_t)rows);
		}
		for (size_t i = 0; i < n_late; i++)
			resume(L, late[i]);
		for (size_t i = 0; i < n; i++)
			resume(L, taken[i]);
		start_ready(L);
	}
}

/* ------------------------------------------------------------ the loop */

static int stopping(const ev_loop *L)
{
	const cs_server *s = L->s;

	return cs_stop_requested ||
	       (s->max_requests && s->requests >= s->max_requests);
}

/* Accepts one pending connection; 0 when there was none (or no room). */
static int accept_one(ev_loop *L)
{
	ev_conn *c;
	int fd;

	if (L->n_conns >= EV_MAX_CONNS)
		return 0;
	fd = accept4(L->s->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
		    errno != ECONNABORTED)
			cs_log_warn("accept: %s", strerror(errno));
		return 0;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return 0;
	}
	c->fd = fd;
	c->last_in = c->last_out = cs_clock_mono();
	L->conns[L->n_conns++] = c;
	return 1;
}

/*
 * Every pending connection while no other process of the pool holds fewer
 * (cs_metrics_accept_more): one that nginx opens beyond its upstream
 * keepalive waits one turn, not a turn per connection queued before it,
 * and the kept-alive ones still spread over the pool's children.
 */
static void accept_pending(ev_loop *L)
{
	for (int k = 0; cs_metrics_accept_more(L->s->metrics, k); k++) {
		if (!accept_one(L))
			break;
		cs_metrics_conns_add(L->s->metrics, 1);
		L->counted++;
	}
}

/* Tells the scoreboard of the connections closed since it was last told. */
static void count_conns(ev_loop *L)
{
	if (L->n_conns != L->counted) {
		cs_metrics_conns_add(L->s->metrics, L->n_conns - L->counted);
		L->counted = L->n_conns;
	}
}

/*
 * Closes connections that are done (no keep-conn, draining, failed) and
 * those whose peer stalled mid-request or stopped reading for longer than
 * the IO timeout.
 */
static void sweep(ev_loop *L, double now)
{
	for (int i = 0; i < L->n_conns; i++) {
		ev_conn *c = L->conns[i];
		int pending = c->out.len > c->out.off;

		if (c->fd >= 0 &&
		    ((pending && now - c->last_out > L->io_timeout) ||
		     (conn_partial(c) && now - c->last_in > L->io_timeout)))
			conn_fail(L, c);
		if (c->close_after && c->n_running == 0 &&
		    (c->fd < 0 || (!pending && !c->reqs))) {
			/* nothing of it is queued or running: free to go */
			conn_free(L, c);
			L->conns[i--] = L->conns[--L->n_conns];
		}
	}
}

/* Milliseconds poll may sleep: until a batch or a connection's timeout. */
static int wait_ms(ev_loop *L, double now)
{
	double until = now + 1.0; /* a reload or stop is noticed within a second */

	if (L->q_head && L->q_head->parked_at + L->delay < until)
		until = L->q_head->parked_at + L->delay;
	for (int i = 0; i < L->n_conns; i++) {
		ev_conn *c = L->conns[i];

		if (c->fd < 0)
			continue;
		if (c->out.len > c->out.off && c->last_out + L->io_timeout < until)
			until = c->last_out + L->io_timeout;
		if (conn_partial(c) && c->last_in + L->io_timeout < until)
			until = c->last_in + L->io_timeout;
	}
	if (L->draining && L->last_req_t + EV_DRAIN_IDLE_MS / 1000.0 < until)
		until = L->last_req_t + EV_DRAIN_IDLE_MS / 1000.0;
	if (until <= now)
		return 0;
	return (int)((until - now) * 1000) + 1;
}

static int slots_start(ev_loop *L)
{
	cs_server *s = L->s;
	int n = s->threads;

	if (n > EV_MAX_SLOTS)
		n = EV_MAX_SLOTS;
	if (n < 1)
		n = 1;
	L->slots = calloc((size_t)n, sizeof(*L->slots));
	if (!L->slots)
		return -1;
	for (int i = 0; i < n; i++) {
		ev_slot *sl = &L->slots[i];
		char err[CS_ERROR_SIZE * 2];

		sl->loop = L;
		sl->index = i;
		sl->gw = (cs_gateway_pending)CS_GATEWAY_PENDING_NONE;
		sl->srv = *s;
		sl->srv.thread_index = i;
		sl->srv.infer.batcher = NULL;
		sl->srv.infer.sched = sched_infer;
		sl->srv.infer.sched_arg = sl;
		if (i > 0) {
			sl->srv.glue = NULL;
			if (cs_glue_new(s->model, s->lua_dir, &sl->srv.glue, err,
					sizeof err) != CS_OK) {
				cs_log_error("coroutine slot %d: %s", i, err);
				break;
			}
		}
		cs_glue_set_infer(sl->srv.glue, &sl->srv.infer);
		sl->fiber = cs_fiber_new(EV_STACK_BYTES, slot_main, sl);
		if (!sl->fiber) {
			cs_log_error("coroutine slot %d: out of memory for its stack", i);
			if (i > 0)
				cs_glue_free(sl->srv.glue);
			break;
		}
		L->n_slots++;
	}
	return L->n_slots ? 0 : -1;
}

static void slots_stop(ev_loop *L)
{
	cs_server *s = L->s;

	for (int i = 0; i < L->n_slots; i++) {
		ev_slot *sl = &L->slots[i];

		cs_fiber_free(sl->fiber);
		if (i == 0) {
			/* slot 0 served with the worker's own glue (maybe reloaded) */
			s->glue = sl->srv.glue;
			cs_glue_set_infer(s->glue, &s->infer);
		} else {
			cs_glue_free(sl->srv.glue);
		}
	}
	free(L->slots);
}

int cs_evloop_run(cs_server *s)
{
	const cs_batching *b = &s->model->mf->batching;
	uint64_t ms = s->model->mf->limits.request_timeout_ms;
	ev_loop *L;
	int ret = 0;

	L = calloc(1, sizeof(*L));
	if (!L) {
		cs_log_error("out of memory starting the event loop");
		return -1;
	}
	L->s = s;
	L->max_batch = b->max_batch_size;
	L->delay = (double)b->max_queue_delay_us / 1e6;
	L->io_timeout = (double)(ms < EV_IO_TIMEOUT_MIN_MS ? EV_IO_TIMEOUT_MIN_MS : ms) / 1000.0;
	L->max_body = s->model->mf->limits.max_body_bytes;
	cs_arena_init(&L->batch_arena, 0);
	cs_metrics_conns_add(s->metrics, 0); /* this process serves */
	/* the board's figures and every inference's time, as threads have */
	s->infer = (cs_infer_ctx){s->model, NULL, 0, cs_metrics_observe_infer,
				  s->metrics, NULL, NULL};
	if (slots_start(L) != 0) {
		cs_log_error("cannot start the event loop's coroutines");
		free(L);
		return -1;
	}
	cs_metrics_set_thread(s->metrics, 0, L->n_slots);
	cs_log_info("batching: up to %d rows, %llu us queue delay, one event loop with %d coroutines",
		    b->max_batch_size, (unsigned long long)b->max_queue_delay_us,
		    L->n_slots);

	for (;;) {
		double now = cs_clock_mono();
		struct timespec ts;
		int n = 0, r, accepting, first_conn, timeout, before;

		if (cs_reload_requested) {
			cs_reload_requested = 0;
			L->reload_gen++;
			for (int i = 0; i < L->n_slots; i++)
				if (!L->slots[i].req) {
					L->slots[i].reload_gen = L->reload_gen;
					cs_server_reload(&L->slots[i].srv);
				}
		}
		if (!L->draining && stopping(L)) {
			/* accept no more; each connection closes after its answer */
			L->draining = 1;
			L->drain_t0 = L->last_req_t = now;
		}
		if (L->draining) {
			int idle = !L->busy && !L->ready_head && !L->q_head;

			for (int i = 0; idle && i < L->n_conns; i++)
				if (L->conns[i]->out.len > L->conns[i]->out.off ||
				    conn_partial(L->conns[i]))
					idle = 0;
			if ((idle && (!L->n_conns ||
				      (now - L->last_req_t) * 1000 > EV_DRAIN_IDLE_MS)) ||
			    (now - L->drain_t0) * 1000 > EV_DRAIN_MAX_MS)
				break;
		}
		accepting = !L->draining && L->n_conns < EV_MAX_CONNS;
		if (accepting)
			L->pfd[n++] = (struct pollfd){s->listen_fd, POLLIN, 0};
		first_conn = n;
		for (int i = 0; i < L->n_conns; i++) {
			ev_conn *c = L->conns[i];
			short ev = c->eof ? 0 : POLLIN;

			if (c->out.len > c->out.off)
				ev |= POLLOUT;
			L->pfd[n++] = (struct pollfd){c->fd, c->fd >= 0 ? ev : 0, 0};
		}
		/* parked requests wait only while more is ready to read */
		timeout = L->q_head || L->ready_head ? 0 : wait_ms(L, now);
		ts.tv_sec = timeout / 1000;
		ts.tv_nsec = (long)(timeout % 1000) * 1000000L;
		r = ppoll(L->pfd, (nfds_t)n, &ts, &s->wait_mask);
		if (r < 0 && errno != EINTR) {
			cs_log_error("poll: %s", strerror(errno));
			ret = -1;
			break;
		}
		before = L->ready_head != NULL;
		{
			ev_req *tail = L->ready_tail;

			for (int k = first_conn; r > 0 && k < n; k++) {
				ev_conn *c = L->conns[k - first_conn];

				if (c->fd < 0 || !L->pfd[k].revents)
					continue;
				if (L->pfd[k].revents & POLLOUT)
					conn_flush(L, c);
				if (c->fd >= 0 && !c->eof &&
				    (L->pfd[k].revents & (POLLIN | POLLHUP | POLLERR)))
					conn_read(L, c);
				else if (c->fd >= 0 && (L->pfd[k].revents & POLLERR))
					conn_fail(L, c);
			}
			if (accepting && r > 0 && (L->pfd[0].revents & POLLIN))
				accept_pending(L);
			/* new requests this turn: more may be coming, batches can wait */
			before = tail != L->ready_tail;
		}
		start_ready(L);
		run_batches(L, !before || L->busy == L->n_slots);
		for (int i = 0; i < L->n_conns; i++)
			if (L->conns[i]->out.len > L->conns[i]->out.off)
				conn_flush(L, L->conns[i]);
		sweep(L, cs_clock_mono());
		count_conns(L);
	}

	/* stop: whatever is still parked is answered before the loop goes */
	run_batches(L, 1);
	for (int i = 0; i < L->n_conns; i++)
		conn_flush(L, L->conns[i]);
	for (int i = 0; i < L->n_conns; i++)
		conn_free(L, L->conns[i]);
	L->n_conns = 0;
	count_conns(L);
	while (L->free_reqs) {
		ev_req *r = L->free_reqs;

		L->free_reqs = r->next;
		cs_arena_destroy(&r->arena);
		free(r->params);
		free(r->body);
		free(r);
	}
	cs_log_info("batcher: %llu requests (%llu rows) in %llu inferences, %llu timed out in the queue",
		    (unsigned long long)L->stats.requests, (unsigned long long)L->stats.rows,
		    (unsigned long long)L->stats.batches, (unsigned long long)L->stats.timeouts);
	slots_stop(L);
	cs_arena_destroy(&L->batch_arena);
	free(L);
	return ret;
}
