/*
 * server.c - accept, multiplex kept-alive connections, read the request,
 * dispatch, write the response (see server.h).
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

#include "arena.h"
#include "batcher.h"
#include "envelope.h"
#include "json_tensor.h"
#include "listen.h"
#include "log.h"
#include "metrics.h"
#include "request.h"
#include "route.h"
#include "server.h"
#include "status.h"
#include "v2.h"

#define MAX_CONNS 1024
#define IO_TIMEOUT_MIN_MS 1000        /* a stalled peer cannot hang us longer */
#define DRAIN_LIMIT ((size_t)1 << 30) /* past this, close instead of reading on */

volatile sig_atomic_t cs_stop_requested;
volatile sig_atomic_t cs_reload_requested;

/* ------------------------------------------------------------ responses */

static void build_metadata(cs_server *s, cs_response *r)
{
	const cs_manifest *mf = s->model->mf;
	json_t *o, *tags, *in, *out, *methods, *ex;
	const char *info;

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
	if ((info = cs_plugin_info(s->model->plugin->api, s->model->handle)) &&
	    (ex = json_loads(info, 0, NULL)))
		json_object_set_new(o, "backend", ex);
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

static const char *reason(int status);

static void write_response(FCGX_Request *fr, const cs_response *r, int head)
{
	char hdr[1024];
	int n;

	/* libfcgi's own printf knows no %zu: format the head here */
	n = snprintf(hdr, sizeof hdr,
		     "Status: %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s%s%s%s\r\n",
		     r->status, reason(r->status),
		     r->content_type[0] ? r->content_type : "application/json",
		     r->len, r->allow[0] ? "Allow: " : "", r->allow,
		     r->allow[0] ? "\r\n" : "", r->headers);
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

/* ------------------------------------------------------------ helpers */

static double mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * Seconds the request waited between nginx and this worker: nginx passes
 * its clock as CS_REQUEST_START ($msec); -1 when unknown.
 */
static double queue_seconds(FCGX_Request *fr)
{
	const char *v = FCGX_GetParam("CS_REQUEST_START", fr->envp);
	struct timespec ts;
	double start, now;
	char *end;

	if (!v || !*v)
		return -1;
	start = strtod(v, &end);
	if (*end || !(start > 0))
		return -1;
	clock_gettime(CLOCK_REALTIME, &ts);
	now = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
	return now >= start ? now - start : 0;
}

static const char *reason(int status)
{
	switch (status) {
	case 431: return "Request Header Fields Too Large";
	default: return cs_http_reason(status);
	}
}

static int is_json_type(const char *ct)
{
	size_t n = strcspn(ct, ";");

	while (n && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
		n--;
	if (n == 16 && strncasecmp(ct, "application/json", 16) == 0)
		return 1;
	return n > 5 && strncasecmp(ct + n - 5, "+json", 5) == 0;
}

static int is_type(const char *ct, const char *type)
{
	size_t n = strcspn(ct, ";"), t = strlen(type);

	while (n && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
		n--;
	return n == t && strncasecmp(ct, type, t) == 0;
}

static void json_limits(const cs_limits *l, cs_json_limits *jl)
{
	jl->max_depth = l->max_json_depth;
	jl->max_string_bytes = l->max_string_bytes;
	jl->max_elements = l->max_tensor_elements;
	jl->max_bytes = l->max_tensor_bytes;
}

/*
 * Checks a JSON body without building it: syntax, UTF-8, nesting depth,
 * string lengths. Returns 0, or the status with the response set.
 */
static int precheck_json(cs_server *s, const cs_request *req, cs_response *resp)
{
	cs_json_limits jl;
	cs_jcur c;

	json_limits(&s->model->mf->limits, &jl);
	cs_jcur_init(&c, req->body, req->body + req->body_len, &jl);
	if (cs_jcur_skip(&c, NULL, NULL) == 0 && cs_jcur_peek(&c) != 0)
		cs_jcur_fail(&c, 400, "invalid JSON: trailing characters after the value");
	if (!c.status)
		return 0;
	cs_response_error(resp, c.status, "the request body is not acceptable JSON: %s", c.err);
	return c.status;
}

/* Whether the time limit is over; sets a 504 when it is. */
static int timed_out(cs_server *s, double t0, double queued, const char *when,
		     cs_response *resp)
{
	double limit = (double)s->model->mf->limits.request_timeout_ms / 1000.0;
	double spent = mono_now() - t0 + (queued > 0 ? queued : 0);

	if (spent <= limit)
		return 0;
	cs_response_error(resp, 504,
			  "the request took %.0f ms %s, over the limit of %llu ms (limits.request_timeout_ms)",
			  spent * 1000, when,
			  (unsigned long long)s->model->mf->limits.request_timeout_ms);
	return 1;
}

/* ------------------------------------------------------------ V2 */

static void v2_tensor_meta(json_t *arr, const cs_io_desc *io, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		json_t *shape = json_array();

		for (int32_t d = 0; d < io[i].ndim; d++)
			json_array_append_new(shape, json_integer(io[i].shape[d]));
		json_array_append_new(arr, json_pack("{s:s,s:s,s:o}", "name", io[i].name,
						     "datatype", cs_dtype_name(io[i].dtype),
						     "shape", shape));
	}
}

static void v2_model_metadata(cs_server *s, cs_response *r)
{
	const cs_model *m = s->model;
	json_t *in = json_array(), *out = json_array(), *o;

	v2_tensor_meta(in, m->inputs, m->n_inputs);
	v2_tensor_meta(out, m->outputs, m->n_outputs);
	o = json_pack("{s:s,s:[s],s:s,s:o,s:o}", "name", m->mf->name,
		      "versions", m->mf->version, "platform",
		      cs_v2_platform(m->plugin->api->name), "inputs", in,
		      "outputs", out);
	cs_response_json(r, 200, o);
	json_decref(o);
}

static void v2_infer(cs_server *s, cs_request *req, cs_arena *arena,
		     double t0, double queued, cs_response *resp)
{
	const char *hl = cs_request_param(req, "HTTP_INFERENCE_HEADER_CONTENT_LENGTH");
	size_t header_len = (size_t)-1;
	cs_json_limits jl;
	cs_v2_request rq;
	cs_tensor *outs;
	size_t n_out = 0;
	json_t *resp_params = NULL;
	char err[1024];
	int rc;

	if (hl) {
		char *end;
		unsigned long long v;

		errno = 0;
		v = strtoull(hl, &end, 10);
		if (errno || *end || !*hl || hl[0] == '-' || hl[0] == '+' || hl[0] == ' ') {
			cs_response_error(resp, 400, "bad Inference-Header-Content-Length '%.32s'", hl);
			return;
		}
		header_len = (size_t)v;
	}
	if (req->content_type[0] && !is_json_type(req->content_type) &&
	    !is_type(req->content_type, "application/octet-stream")) {
		cs_response_error(resp, 415,
				  "an inference request is application/json (or application/octet-stream with binary data and Inference-Header-Content-Length), not '%.64s'",
				  req->content_type);
		return;
	}
	json_limits(&s->model->mf->limits, &jl);
	rc = cs_v2_parse_request(req->body, req->body_len, header_len, &jl, arena,
				 &rq, err, sizeof err);
	if (rc) {
		cs_response_error(resp, rc, "%s", err);
		return;
	}
	outs = cs_arena_alloc(arena, CS_V2_MAX_TENSORS * sizeof(*outs));
	if (!outs) {
		cs_response_error(resp, 500, "out of memory");
		goto out_free_request;
	}
	if (timed_out(s, t0, queued, "before inference", resp))
		goto out_free_request;
	if (cs_glue_has_v2(s->glue)) {
		cs_glue_result res;

		rc = cs_glue_call_v2(s->glue, req, arena, rq.inputs, rq.n_inputs,
				     rq.parameters, outs, CS_V2_MAX_TENSORS,
				     &n_out, &resp_params, &res);
		if (rc) {
			cs_response_take(resp, res.http_status, res.content_type,
					 res.body, res.body_len);
			goto out_free_request;
		}
	} else {
		double ti = mono_now();

		n_out = s->model->n_outputs;
		if (n_out > CS_V2_MAX_TENSORS) {
			cs_response_error(resp, 500, "the model has more than %d outputs", CS_V2_MAX_TENSORS);
			goto out_free_request;
		}
		rc = cs_model_infer(s->model, rq.inputs, rq.n_inputs, outs, arena,
				    err, sizeof err);
		cs_metrics_infer(s->metrics, mono_now() - ti);
		if (rc) {
			cs_response_error(resp, cs_status_http(rc), "%s", err);
			goto out_free_request;
		}
	}
	if (timed_out(s, t0, queued, "in all", resp))
		goto out_free_request;
	cs_v2_encode_response(s->model->mf->name, s->model->mf->version, &rq,
			      outs, n_out, resp_params, resp);
out_free_request:
	json_decref(resp_params);
	cs_v2_request_free(&rq);
}

/* ------------------------------------------------------------ envelope */

static void api_call(cs_server *s, const cs_route *route, cs_request *req,
		     cs_arena *arena, cs_response *resp)
{
	const char *method = route->method;
	json_t *kwargs = NULL;
	cs_glue_result res;
	cs_form_part part;
	char err[512];
	char *m;
	int rc;

	memset(&res, 0, sizeof res);
	if (route->kind == CS_ROUTE_API_MODEL) {
		if (req->content_type[0] && !is_json_type(req->content_type)) {
			cs_response_error(resp, 415, "api/model takes application/json {\"method\": ..., \"kwargs\": {...}}, not '%.64s'",
					  req->content_type);
			goto out_wrap;
		}
		if (precheck_json(s, req, resp))
			goto out_wrap;
		rc = cs_envelope_parse(req->body, req->body_len, arena, &m, &kwargs,
				       err, sizeof err);
		if (rc) {
			cs_response_error(resp, rc, "%s", err);
			goto out_wrap;
		}
		method = m;
		req->json = kwargs;
	} else if (route->kind == CS_ROUTE_API_FILE) {
		rc = cs_form_find(req->content_type, req->body, req->body_len, method,
				  arena, &part, err, sizeof err);
		if (rc) {
			cs_response_error(resp, rc, "%s", err);
			goto out_wrap;
		}
		req->file_name = part.name;
		req->file_filename = part.filename;
		req->file_type = part.content_type;
		req->file_data = part.data;
		req->file_len = part.len;
		req->body = (char *)part.data;
		req->body_len = part.len;
		req->content_type = part.content_type;
	}
	if (!cs_name_valid(method) || !cs_glue_has_method(s->glue, method)) {
		cs_response_error(resp, 404, "model '%s' has no public method '%.64s'",
				  s->model->mf->name, method);
		goto out_wrap;
	}
	cs_glue_call(s->glue, method, req, arena, &res);
	cs_response_take(resp, res.http_status, res.content_type, res.body,
			 res.body_len);
out_wrap:
	cs_envelope_wrap(resp, res.raw);
	json_decref(kwargs);
	req->json = NULL;
}

/* ------------------------------------------------------------ dispatch */

static void health(cs_server *s, cs_response *resp)
{
	json_t *o = json_pack("{s:s,s:s,s:s}", "status", "ready", "model",
			      s->model->mf->name, "version", s->model->mf->version);

	cs_response_json(resp, 200, o);
	json_decref(o);
}

/* Whether a query string has a bare or valued parameter `name`. */
static int query_has(const char *q, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = q; p && *p;) {
		if (strncmp(p, name, n) == 0 && (p[n] == '\0' || p[n] == '&' || p[n] == '='))
			return 1;
		p = strchr(p, '&');
		if (p)
			p++;
	}
	return 0;
}

/*
 * GET /status: the pool at a glance, in the manner of PHP-FPM's status
 * page; ?json for JSON, &full for one entry per process.
 */
static void status_page(cs_server *s, const char *query, cs_response *resp)
{
	cs_pool_status *st = calloc(1, sizeof(*st));
	int full = query_has(query, "full");
	int waiting = cs_listen_queue(s->listen_fd);

	if (!st) {
		cs_response_error(resp, 500, "out of memory");
		return;
	}
	cs_metrics_status(s->metrics, st);
	if (query_has(query, "json")) {
		json_t *o = json_pack("{s:s,s:s,s:I,s:I,s:I,s:i,s:i,s:i,s:i,s:I,s:I,s:I,s:f,s:f}",
			"pool", s->model->mf->name, "version", s->model->mf->version,
			"start_time", (json_int_t)st->start_unix,
			"start_since", (json_int_t)(time(NULL) - st->start_unix),
			"accepted_requests", (json_int_t)st->accepted,
			"listen_queue", waiting,
			"active_processes", st->active, "idle_processes", st->idle,
			"total_processes", st->processes,
			"max_active_processes", (json_int_t)st->max_active,
			"max_children_reached", (json_int_t)st->max_children_reached,
			"slow_requests", (json_int_t)st->slow,
			"p50_ms", st->p50_s * 1000, "p99_ms", st->p99_s * 1000);

		if (o)
			json_object_set_new(o, "total_threads", json_integer(st->active + st->idle));
		if (o && full) {
			json_t *procs = json_array();

			for (int i = 0; i < st->n_procs; i++) {
				const cs_metrics_proc *p = &st->procs[i];

				json_array_append_new(procs, json_pack("{s:i,s:s,s:i,s:i,s:I,s:f,s:I}",
					"pid", p->pid, "state", p->busy ? "busy" : "idle",
					"threads", p->threads, "busy_threads", p->busy,
					"requests", (json_int_t)p->requests,
					"request_duration_ms", p->busy_for_s * 1000,
					"rss_bytes", (json_int_t)p->rss_bytes));
			}
			json_object_set_new(o, "processes", procs);
		}
		if (o)
			cs_response_json(resp, 200, o);
		else
			cs_response_error(resp, 500, "cannot build the status");
		json_decref(o);
	} else {
		char *buf = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&buf, &len);

		if (!f) {
			free(st);
			cs_response_error(resp, 500, "out of memory");
			return;
		}
		fprintf(f, "pool:                 %s\n"
			"version:              %s\n"
			"start time:           %lld\n"
			"start since:          %lld\n"
			"accepted requests:    %llu\n"
			"listen queue:         %d\n"
			"idle processes:       %d\n"
			"active processes:     %d\n"
			"total processes:      %d\n"
			"total threads:        %d\n"
			"max active processes: %lld\n"
			"max children reached: %llu\n"
			"slow requests:        %llu\n"
			"p50 ms:               %.2f\n"
			"p99 ms:               %.2f\n",
			s->model->mf->name, s->model->mf->version,
			(long long)st->start_unix,
			(long long)(time(NULL) - st->start_unix),
			(unsigned long long)st->accepted, waiting, st->idle,
			st->active, st->processes, st->active + st->idle,
			(long long)st->max_active,
			(unsigned long long)st->max_children_reached,
			(unsigned long long)st->slow, st->p50_s * 1000, st->p99_s * 1000);
		for (int i = 0; full && i < st->n_procs; i++) {
			const cs_metrics_proc *p = &st->procs[i];

			fprintf(f, "\n************************\n"
				"pid:                  %d\n"
				"state:                %s\n"
				"threads:              %d (%d busy)\n"
				"requests:             %llu\n"
				"request duration ms:  %.1f\n"
				"rss bytes:            %llu\n",
				p->pid, p->busy ? "busy" : "idle", p->threads, p->busy,
				(unsigned long long)p->requests, p->busy_for_s * 1000,
				(unsigned long long)p->rss_bytes);
		}
		fclose(f);
		cs_response_take(resp, 200, "text/plain; charset=utf-8", buf, len);
	}
	free(st);
}

static cs_metrics_endpoint endpoint_of(cs_route_kind k)
{
	switch (k) {
	case CS_ROUTE_CALL: return CS_EP_CALL;
	case CS_ROUTE_API_MODEL: case CS_ROUTE_API_STREAM: case CS_ROUTE_API_FILE:
		return CS_EP_API;
	case CS_ROUTE_V2_INFER: return CS_EP_V2_INFER;
	case CS_ROUTE_METADATA: case CS_ROUTE_V2_SERVER: case CS_ROUTE_V2_MODEL:
	case CS_ROUTE_V2_MODEL_READY:
		return CS_EP_METADATA;
	case CS_ROUTE_HEALTH: case CS_ROUTE_V2_LIVE: case CS_ROUTE_V2_READY:
		return CS_EP_HEALTH;
	case CS_ROUTE_METRICS: return CS_EP_METRICS;
	case CS_ROUTE_STATUS: return CS_EP_METRICS;
	default: return CS_EP_OTHER;
	}
}

static cs_metrics_endpoint dispatch(cs_server *s, FCGX_Request *fr,
				    cs_arena *arena, double t0, double queued,
				    cs_response *resp)
{
	const cs_manifest *mf = s->model->mf;
	cs_request req;
	cs_route route;
	const char *p;
	char *path;
	size_t headers = 0;

	/* the glue and a batch wait stop at the request's time limit */
	cs_glue_set_deadline(s->glue, t0 - (queued > 0 ? queued : 0) +
			     (double)mf->limits.request_timeout_ms / 1000.0);
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

	for (char **e = fr->envp; e && *e; e++)
		headers += strncmp(*e, "HTTP_", 5) == 0;
	if (headers > mf->limits.max_headers) {
		cs_response_error(resp, 431, "the request has %zu headers, over the limit of %zu (limits.max_headers)",
				  headers, mf->limits.max_headers);
		return CS_EP_OTHER;
	}

	cs_route_match(req.method, req.path, mf->name, &route);
	if (route.version[0] && strcmp(route.version, mf->version) != 0) {
		cs_response_error(resp, 404, "model '%s' has no version '%s' (this worker serves version %s)",
				  mf->name, route.version, mf->version);
		return CS_EP_OTHER;
	}
	switch (route.kind) {
	case CS_ROUTE_HEALTH:
		health(s, resp);
		return CS_EP_HEALTH;
	case CS_ROUTE_METADATA:
		build_metadata(s, resp);
		return CS_EP_METADATA;
	case CS_ROUTE_V2_SERVER: {
		json_t *o = json_pack("{s:s,s:s,s:[s]}", "name", "cubeserve",
				      "version", CS_VERSION, "extensions",
				      "binary_tensor_data");

		cs_response_json(resp, 200, o);
		json_decref(o);
		return CS_EP_METADATA;
	}
	case CS_ROUTE_V2_LIVE: {
		json_t *o = json_pack("{s:b}", "live", 1);

		cs_response_json(resp, 200, o);
		json_decref(o);
		return CS_EP_HEALTH;
	}
	case CS_ROUTE_V2_READY: {
		/* the worker only serves once its model and glue are loaded */
		json_t *o = json_pack("{s:b,s:b}", "ready", 1, "live", 1);

		cs_response_json(resp, 200, o);
		json_decref(o);
		return CS_EP_HEALTH;
	}
	case CS_ROUTE_V2_MODEL:
		v2_model_metadata(s, resp);
		return CS_EP_METADATA;
	case CS_ROUTE_V2_MODEL_READY: {
		json_t *o = json_pack("{s:s,s:b}", "name", mf->name, "ready", 1);

		cs_response_json(resp, 200, o);
		json_decref(o);
		return CS_EP_METADATA;
	}
	case CS_ROUTE_METRICS: {
		size_t len = 0;
		char *text = cs_metrics_render(s->metrics, mf->version,
					       s->model->plugin->api->name, &len);

		if (!text)
			cs_response_error(resp, 500, "metrics unavailable");
		else
			cs_response_take(resp, 200, "text/plain; version=0.0.4; charset=utf-8",
					 text, len);
		return CS_EP_METRICS;
	}
	case CS_ROUTE_STATUS:
		status_page(s, req.query, resp);
		return CS_EP_METRICS;
	case CS_ROUTE_BAD_METHOD:
		cs_response_error(resp, 405, "%s is not allowed on %s (allowed: %s)",
				  req.method, req.path, route.allow);
		snprintf(resp->allow, sizeof resp->allow, "%s", route.allow);
		return CS_EP_OTHER;
	case CS_ROUTE_NOT_FOUND:
		if (route.model[0] && strcmp(route.why, "unknown model") == 0)
			cs_response_error(resp, 404, "unknown model '%s' (this worker serves '%s')",
					  route.model, mf->name);
		else
			cs_response_error(resp, 404, "%s: %s", route.why, req.path);
		return CS_EP_OTHER;
	case CS_ROUTE_CALL:
		if (!cs_glue_has_method(s->glue, route.method)) {
			cs_response_error(resp, 404, "model '%s' has no public method '%s'",
					  mf->name, route.method);
			return CS_EP_CALL;
		}
		break;
	case CS_ROUTE_V2_INFER:
	case CS_ROUTE_API_MODEL:
	case CS_ROUTE_API_STREAM:
	case CS_ROUTE_API_FILE:
		break;
	}
	if (read_body(s, fr, &req, arena, resp)) {
		if (route.kind == CS_ROUTE_API_MODEL || route.kind == CS_ROUTE_API_STREAM ||
		    route.kind == CS_ROUTE_API_FILE)
			cs_envelope_wrap(resp, 0);
		return endpoint_of(route.kind);
	}
	if (timed_out(s, t0, queued, "before it could start", resp))
		return endpoint_of(route.kind);
	switch (route.kind) {
	case CS_ROUTE_V2_INFER:
		v2_infer(s, &req, arena, t0, queued, resp);
		break;
	case CS_ROUTE_API_MODEL:
	case CS_ROUTE_API_STREAM:
	case CS_ROUTE_API_FILE:
		api_call(s, &route, &req, arena, resp);
		break;
	default: {
		cs_glue_result res;

		if (req.body_len && is_json_type(req.content_type) &&
		    precheck_json(s, &req, resp))
			break;
		cs_glue_call(s->glue, route.method, &req, arena, &res);
		cs_response_take(resp, res.http_status, res.content_type,
				 res.body, res.body_len);
		break;
	}
	}
	return endpoint_of(route.kind);
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
	t0 = mono_now();
	queued = queue_seconds(fr);
	cs_metrics_begin(s->metrics);
	memset(&resp, 0, sizeof resp);
	__atomic_fetch_add(&s->root->inflight, 1, __ATOMIC_RELAXED);
	ep = dispatch(s, fr, arena, t0, queued, &resp);
	__atomic_fetch_sub(&s->root->inflight, 1, __ATOMIC_RELAXED);
	if (!resp.status) /* never answer nothing */
		cs_response_error(&resp, 500, "no response");
	if (drain_body(fr) != 0 || last)
		fr->keepConnection = 0;
	method = FCGX_GetParam("REQUEST_METHOD", fr->envp);
	write_response(fr, &resp, method && strcmp(method, "HEAD") == 0);
	cs_metrics_end(s->metrics, ep, resp.status, mono_now() - t0, queued);
	if (s->model->mf->limits.slow_request_ms &&
	    (mono_now() - t0) * 1000 > (double)s->model->mf->limits.slow_request_ms) {
		const char *id = FCGX_GetParam("HTTP_X_REQUEST_ID", fr->envp);

		cs_metrics_slow(s->metrics);
		cs_log_warn("slow request: %s %s%s%s took %.0f ms (limits.slow_request_ms %llu)",
			    method ? method : "-",
			    FCGX_GetParam("REQUEST_URI", fr->envp) ?
			    FCGX_GetParam("REQUEST_URI", fr->envp) : "-",
			    id ? " id=" : "", id ? id : "", (mono_now() - t0) * 1000,
			    (unsigned long long)s->model->mf->limits.slow_request_ms);
	}
	cs_log_debug("%s %s -> %d", method ? method : "-",
		     FCGX_GetParam("DOCUMENT_URI", fr->envp) ?
		     FCGX_GetParam("DOCUMENT_URI", fr->envp) : "-", resp.status);
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
	if (s->root && s->root->batcher)
		cs_glue_set_batcher(g, s->root->batcher);
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

	if (cs_stop_requested || __atomic_load_n(&stop_all, __ATOMIC_ACQUIRE))
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
	int ret = 0;

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
			while (conns->n < MAX_CONNS) {
				int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);

				if (fd < 0) {
					if (errno != EAGAIN && errno != EWOULDBLOCK &&
					    errno != EINTR && errno != ECONNABORTED)
						cs_log_warn("accept: %s", strerror(errno));
					break;
				}
				set_io_timeouts(s, fd);
				conn_add(conns, fd);
				/*
				 * One per wake-up: the next pending connection goes
				 * to whichever process or thread polls first, so
				 * kept-alive connections spread over the pool
				 * instead of piling up on one child.
				 */
				break;
			}
		}
	}
	/* whoever stops first wakes the others (the pipe is never drained) */
	__atomic_store_n(&stop_all, 1, __ATOMIC_RELEASE);
	if (stop_pipe[1] >= 0)
		(void)!write(stop_pipe[1], "x", 1);
	if (ret == 0)
		drain_conns(s, conns, &fr, &arena);
	for (int i = 0; i < conns->n; i++)
		close(conns->fds[i]);
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
	start_batcher(s);
	if (s->batcher)
		cs_glue_set_batcher(s->glue, s->batcher);

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
		sigfillset(&all);
		pthread_sigmask(SIG_BLOCK, &all, &old); /* inherited by the threads */
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
			if (s->batcher)
				cs_glue_set_batcher(t->srv.glue, s->batcher);
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
		cs_glue_set_batcher(s->glue, NULL);
		cs_batcher_free(s->batcher);
		s->batcher = NULL;
	}
	if (own_metrics) {
		cs_metrics_close(own_metrics);
		s->metrics = NULL;
	}
	return ret;
}
