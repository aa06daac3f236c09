/*
 * server.c - accept, multiplex kept-alive connections, read the request,
 * dispatch, write the response (see server.h).
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <fcgiapp.h>
#include <jansson.h>

#include "arena.h"
#include "log.h"
#include "request.h"
#include "route.h"
#include "server.h"
#include "status.h"

#define MAX_CONNS 1024
#define IO_TIMEOUT_S 30               /* a stalled peer cannot hang us longer */
#define DRAIN_LIMIT ((size_t)1 << 30) /* past this, close instead of reading on */

volatile sig_atomic_t cs_stop_requested;
volatile sig_atomic_t cs_reload_requested;

/* ------------------------------------------------------------ responses */

static void build_metadata(cs_server *s, cs_response *r)
{
	const cs_manifest *mf = s->model->mf;
	json_t *o, *tags, *in, *out, *methods, *ex;

	o = json_object();
	json_object_set_new(o, "name", json_string(mf->name));
	json_object_set_new(o, "version", json_string(mf->version));
	json_object_set_new(o, "description", json_string(mf->description));
	if (mf->owner[0])
		json_object_set_new(o, "owner", json_string(mf->owner));
	tags = json_array();
	for (size_t i = 0; i < mf->n_tags; i++)
		json_array_append_new(tags, json_string(mf->tags[i]));
	json_object_set_new(o, "tags", tags);
	json_object_set_new(o, "plugin", json_string(s->model->plugin->api->name));
	for (int k = 0; k < 2; k++) {
		const cs_io_desc *io = k ? s->model->outputs : s->model->inputs;
		size_t n = k ? s->model->n_outputs : s->model->n_inputs;
		json_t *arr = json_array();

		for (size_t i = 0; i < n; i++) {
			json_t *shape = json_array();

			for (int32_t d = 0; d < io[i].ndim; d++)
				json_array_append_new(shape, json_integer(io[i].shape[d]));
			json_array_append_new(arr, json_pack("{s:s,s:s,s:o}",
				"name", io[i].name, "datatype",
				cs_dtype_name(io[i].dtype), "shape", shape));
		}
		if (k)
			out = arr;
		else
			in = arr;
	}
	json_object_set_new(o, "inputs", in);
	json_object_set_new(o, "outputs", out);
	methods = json_array();
	for (const char *const *m = cs_glue_methods(s->glue); *m; m++)
		json_array_append_new(methods, json_string(*m));
	json_object_set_new(o, "methods", methods);
	if (mf->example_json &&
	    (ex = json_loads(mf->example_json, JSON_DECODE_ANY, NULL)))
		json_object_set_new(o, "example", ex);
	cs_response_json(r, 200, o);
	json_decref(o);
}

static void write_response(FCGX_Request *fr, const cs_response *r, int head)
{
	char hdr[512];
	int n;

	/* libfcgi's own printf knows no %zu: format the head here */
	n = snprintf(hdr, sizeof hdr,
		     "Status: %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s%s%s\r\n",
		     r->status, cs_http_reason(r->status),
		     r->content_type[0] ? r->content_type : "application/json",
		     r->len, r->allow[0] ? "Allow: " : "", r->allow,
		     r->allow[0] ? "\r\n" : "");
	if (n < 0 || (size_t)n >= sizeof hdr)
		n = snprintf(hdr, sizeof hdr, "Status: 500 Internal Server Error\r\n\r\n");
	FCGX_PutStr(hdr, n, fr->out);
	if (!head && r->len)
		FCGX_PutStr(r->body, (int)r->len, fr->out);
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

/*
 * Reads the body into the arena. Returns 0, or an HTTP status (400, 413)
 * with the response already set.
 */
static int read_body(cs_server *s, FCGX_Request *fr, cs_request *req,
		     cs_arena *arena, cs_response *resp)
{
	size_t max = s->model->mf->limits.max_body_bytes;
	const char *cl = FCGX_GetParam("CONTENT_LENGTH", fr->envp);
	size_t want, got = 0;
	char *end;

	req->body = "";
	req->body_len = 0;
	if (cl && *cl) {
		unsigned long long v;

		errno = 0;
		v = strtoull(cl, &end, 10);
		if (errno || *end || cl[0] == '-') {
			cs_response_error(resp, 400, "bad Content-Length '%.32s'", cl);
			return 400;
		}
		if (v > max) {
			cs_response_error(resp, 413,
					  "request body of %llu bytes is over this model's limit of %zu bytes (limits.max_body_bytes)",
					  v, max);
			return 413;
		}
		want = (size_t)v;
	} else {
		want = max + 1; /* no length given: read to the end, up to the limit */
	}
	if (want == 0)
		return 0;
	req->body = cs_arena_alloc(arena, want + 1);
	if (!req->body) {
		cs_response_error(resp, 500, "out of memory reading a body of %zu bytes", want);
		return 500;
	}
	while (got < want) {
		size_t chunk = want - got > (1u << 30) ? (1u << 30) : want - got;
		int n = FCGX_GetStr(req->body + got, (int)chunk, fr->in);

		if (n <= 0)
			break;
		got += (size_t)n;
	}
	req->body[got] = '\0';
	req->body_len = got;
	if (cl && *cl && got != want) {
		cs_response_error(resp, 400,
				  "request body ended after %zu of %zu bytes", got, want);
		return 400;
	}
	if (got > max) {
		cs_response_error(resp, 413,
				  "request body is over this model's limit of %zu bytes (limits.max_body_bytes)",
				  max);
		return 413;
	}
	return 0;
}

static void dispatch(cs_server *s, FCGX_Request *fr, cs_arena *arena,
		     cs_response *resp)
{
	cs_request req;
	cs_route route;
	const char *p;
	char *path;

	memset(&req, 0, sizeof req);
	req.envp = fr->envp;
	req.method = (p = FCGX_GetParam("REQUEST_METHOD", fr->envp)) ? p : "GET";
	req.query = (p = FCGX_GetParam("QUERY_STRING", fr->envp)) ? p : "";
	req.content_type = (p = FCGX_GetParam("CONTENT_TYPE", fr->envp)) ? p : "";
	req.request_id = (p = FCGX_GetParam("HTTP_X_REQUEST_ID", fr->envp)) ? p : "";
	p = FCGX_GetParam("DOCUMENT_URI", fr->envp);
	if (!p || !*p) {
		const char *uri = FCGX_GetParam("REQUEST_URI", fr->envp);

		uri = uri ? uri : "/";
		path = cs_arena_strdup(arena, uri);
		if (path && strchr(path, '?'))
			*strchr(path, '?') = '\0';
		p = path ? path : "/";
	}
	req.path = p;

	cs_route_match(req.method, req.path, s->model->mf->name, &route);
	switch (route.kind) {
	case CS_ROUTE_HEALTH: {
		json_t *o = json_pack("{s:s,s:s,s:s}", "status", "ready",
				      "model", s->model->mf->name, "version",
				      s->model->mf->version);

		cs_response_json(resp, 200, o);
		json_decref(o);
		return;
	}
	case CS_ROUTE_METADATA:
		build_metadata(s, resp);
		return;
	case CS_ROUTE_BAD_METHOD:
		cs_response_error(resp, 405, "%s is not allowed on %s (allowed: %s)",
				  req.method, req.path, route.allow);
		snprintf(resp->allow, sizeof resp->allow, "%s", route.allow);
		return;
	case CS_ROUTE_NOT_FOUND:
		if (route.model[0] && strcmp(route.why, "unknown model") == 0)
			cs_response_error(resp, 404, "unknown model '%s' (this worker serves '%s')",
					  route.model, s->model->mf->name);
		else
			cs_response_error(resp, 404, "%s: %s", route.why, req.path);
		return;
	case CS_ROUTE_CALL:
		break;
	}
	if (!cs_glue_has_method(s->glue, route.method)) {
		cs_response_error(resp, 404, "model '%s' has no public method '%s'",
				  s->model->mf->name, route.method);
		return;
	}
	if (read_body(s, fr, &req, arena, resp))
		return;
	{
		cs_glue_result res;

		cs_glue_call(s->glue, route.method, &req, arena, &res);
		cs_response_take(resp, res.http_status, res.content_type,
				 res.body, res.body_len);
	}
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
	const char *method;
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
	memset(&resp, 0, sizeof resp);
	dispatch(s, fr, arena, &resp);
	if (drain_body(fr) != 0 || last)
		fr->keepConnection = 0;
	method = FCGX_GetParam("REQUEST_METHOD", fr->envp);
	write_response(fr, &resp, method && strcmp(method, "HEAD") == 0);
	cs_log_debug("%s %s -> %d", method ? method : "-",
		     FCGX_GetParam("DOCUMENT_URI", fr->envp) ?
		     FCGX_GetParam("DOCUMENT_URI", fr->envp) : "-", resp.status);
	cs_response_reset(&resp);
	FCGX_Finish_r(fr);
	cs_arena_reset(arena);
	s->requests++;
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

static void drain_conns(cs_server *s, conn_set *conns, FCGX_Request *fr,
			cs_arena *arena)
{
	static struct pollfd pfd[MAX_CONNS];
	struct timespec t0, t;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (conns->n > 0) {
		int n = conns->n, r;
		long ms;

		clock_gettime(CLOCK_MONOTONIC, &t);
		ms = (t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000;
		if (ms > DRAIN_MAX_MS)
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

static void set_io_timeouts(int fd)
{
	struct timeval tv = {IO_TIMEOUT_S, 0};

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
	cs_glue_free(s->glue);
	s->glue = g;
	cs_log_info("glue reloaded");
	return CS_OK;
}

int cs_server_run(cs_server *s)
{
	static conn_set conns;
	struct pollfd pfd[MAX_CONNS + 1];
	FCGX_Request fr;
	cs_arena arena;
	int ret = 0;

	if (FCGX_Init() != 0) {
		cs_log_error("FCGX_Init failed");
		return -1;
	}
	/* listen_sock -1: libfcgi never accepts by itself; this loop does */
	FCGX_InitRequest(&fr, -1, 0);
	cs_arena_init(&arena, 0);
	conns.n = 0;

	while (!cs_stop_requested) {
		int n = 0, r, accepting = conns.n < MAX_CONNS;

		if (s->max_requests && s->requests >= s->max_requests) {
			cs_log_info("served %lu requests (max_requests): exiting to be replaced",
				    s->requests);
			break;
		}

		if (cs_reload_requested) {
			cs_reload_requested = 0;
			cs_server_reload(s);
		}
		if (accepting)
			pfd[n++] = (struct pollfd){s->listen_fd, POLLIN, 0};
		for (int i = 0; i < conns.n; i++)
			pfd[n++] = (struct pollfd){conns.fds[i], POLLIN, 0};
		r = ppoll(pfd, (nfds_t)n, NULL, &s->wait_mask);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			cs_log_error("poll: %s", strerror(errno));
			ret = -1;
			break;
		}
		/* serve every ready kept-alive connection once, in order */
		for (int k = accepting ? 1 : 0; k < n && !cs_stop_requested; k++) {
			int fd = pfd[k].fd;

			if (!pfd[k].revents)
				continue;
			for (int i = 0; i < conns.n; i++)
				if (conns.fds[i] == fd) {
					conn_remove_at(&conns, i);
					break;
				}
			fd = serve_one(s, &fr, fd, &arena, 0);
			if (fd >= 0)
				conn_add(&conns, fd);
		}
		if (accepting && (pfd[0].revents & POLLIN)) {
			while (conns.n < MAX_CONNS) {
				int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);

				if (fd < 0) {
					if (errno != EAGAIN && errno != EWOULDBLOCK &&
					    errno != EINTR && errno != ECONNABORTED)
						cs_log_warn("accept: %s", strerror(errno));
					break;
				}
				set_io_timeouts(fd);
				conn_add(&conns, fd);
			}
		}
	}
	if (ret == 0)
		drain_conns(s, &conns, &fr, &arena);
	for (int i = 0; i < conns.n; i++)
		close(conns.fds[i]);
	conns.n = 0;
	cs_arena_destroy(&arena);
	return ret;
}
