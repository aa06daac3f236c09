/*
 * v2.c - Open Inference Protocol REST codec (see v2.h, docs/protocol.md).
 *
 * The request is read by the tree-free scanner of json_tensor.c: members
 * are matched by name, `data` spans are remembered and decoded straight
 * into tensor buffers once the input's datatype and shape are known (JSON
 * members come in any order). Only `parameters` objects, which are small,
 * go through jansson. The response is written by hand for the same reason.
 */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json_out.h"
#include "core/utf8.h"
#include "protocol/v2.h"

/* ------------------------------------------------------------ parsing */

typedef struct in_state {
	const char *data_start, *data_stop; /* the `data` span, NULL if none */
	int64_t binary_size;                /* -1 when not binary */
	int has_name, has_shape, has_dtype;
	int decoded;                        /* data already in the tensor */
} in_state;

typedef struct parser {
	cs_jcur c;
	cs_arena *arena;
	cs_v2_request *rq;
	in_state ins[CS_V2_MAX_TENSORS];
} parser;

/* Reads a member name; duplicates within one object are refused. */
static int member_name(parser *ps, char **key, const char **seen,
		       size_t *n_seen, size_t max_seen)
{
	size_t len;

	if (cs_jcur_peek(&ps->c) != '"')
		return cs_jcur_fail(&ps->c, CS_EINVAL, "invalid JSON: expected a member name");
	if (cs_jcur_string(&ps->c, ps->arena, key, &len))
		return -1;
	if (strlen(*key) != len)
		return cs_jcur_fail(&ps->c, CS_EINVAL, "a member name holds a NUL character");
	for (size_t i = 0; i < *n_seen; i++)
		if (strcmp(seen[i], *key) == 0)
			return cs_jcur_fail(&ps->c, CS_EINVAL, "duplicate member '%.64s'", *key);
	if (*n_seen < max_seen)
		seen[(*n_seen)++] = *key;
	return cs_jcur_expect(&ps->c, ':', "':'");
}

/* After a member: ',' (returns 1: more) or the closing '}' (returns 0). */
static int member_next(parser *ps)
{
	int ch = cs_jcur_peek(&ps->c);

	if (ch == ',') {
		ps->c.p++;
		return 1;
	}
	if (ch == '}') {
		ps->c.p++;
		return 0;
	}
	cs_jcur_fail(&ps->c, CS_EINVAL, "invalid JSON: expected ',' or '}' after a member");
	return -1;
}

/* Parses a `parameters` object with jansson (it is small and free-form). */
static int parse_params(parser *ps, const char *where, json_t **out)
{
	const char *start, *stop;
	json_error_t jerr;
	json_t *v;

	if (cs_jcur_peek(&ps->c) != '{')
		return cs_jcur_fail(&ps->c, CS_EINVAL, "%s: 'parameters' must be an object", where);
	if (cs_jcur_skip(&ps->c, &start, &stop))
		return -1;
	v = json_loadb(start, (size_t)(stop - start),
		       JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	if (!v)
		return cs_jcur_fail(&ps->c, CS_EINVAL, "%s: bad 'parameters': %s", where, jerr.text);
	*out = v;
	return 0;
}

/* A boolean parameter: -1 absent, 0, 1; -2 on a wrong type (error set). */
static int bool_param(parser *ps, const json_t *params, const char *name,
		      const char *where)
{
	json_t *v = params ? json_object_get(params, name) : NULL;

	if (!v)
		return -1;
	if (!json_is_boolean(v)) {
		cs_jcur_fail(&ps->c, CS_EINVAL, "%s: parameter '%s' must be true or false", where, name);
		return -2;
	}
	return json_is_true(v);
}

static int parse_shape(parser *ps, cs_tensor *t, const char *where)
{
	int64_t dim;

	if (cs_jcur_expect(&ps->c, '[', "'shape' as an array of integers"))
		return -1;
	t->ndim = 0;
	if (cs_jcur_peek(&ps->c) == ']') {
		ps->c.p++;
		return 0;
	}
	for (;;) {
		if (t->ndim == CS_MAX_DIMS)
			return cs_jcur_fail(&ps->c, CS_EINVAL, "%s: 'shape' has more than %d dimensions",
					    where, CS_MAX_DIMS);
		if (cs_jcur_int(&ps->c, 0, INT64_MAX, &dim)) {
			char msg[512];
			size_t n;

			n = (size_t)snprintf(msg, sizeof msg, "%s: 'shape': %s", where, ps->c.err);
			n = n < sizeof ps->c.err ? n : sizeof ps->c.err - 1;
			memcpy(ps->c.err, msg, n);
			ps->c.err[n] = '\0';
			return -1;
		}
		t->shape[t->ndim++] = dim;
		if (cs_jcur_peek(&ps->c) == ',') {
			ps->c.p++;
			continue;
		}
		return cs_jcur_expect(&ps->c, ']', "',' or ']' in 'shape'");
	}
}

/* Puts "where: " before the cursor's error message. */
static void prefix_error(cs_jcur *c, const char *where)
{
	char msg[512];
	size_t n;

	n = (size_t)snprintf(msg, sizeof msg, "%s: %s", where, c->err);
	n = n < sizeof c->err ? n : sizeof c->err - 1;
	memcpy(c->err, msg, n);
	c->err[n] = '\0';
}

static int parse_input(parser *ps, size_t i)
{
	cs_tensor *t = &ps->rq->inputs[i];
	in_state *st = &ps->ins[i];
	const char *seen[8];
	size_t n_seen = 0, len;
	json_t *params = NULL;
	char where[96];
	char *key, *s;
	int rc;

	snprintf(where, sizeof where, "inputs[%zu]", i);
	memset(st, 0, sizeof(*st));
	st->binary_size = -1;
	if (cs_jcur_expect(&ps->c, '{', "an input object {name, shape, datatype, data}"))
		return -1;
	if (cs_jcur_peek(&ps->c) == '}') {
		ps->c.p++;
		return cs_jcur_fail(&ps->c, CS_EINVAL, "%s: empty input object (needs name, shape, datatype, data)", where);
	}
	do {
		if (member_name(ps, &key, seen, &n_seen, 8))
			goto out_fail;
		if (strcmp(key, "name") == 0) {
			if (cs_jcur_string(&ps->c, ps->arena, &s, &len))
				goto out_fail;
			if (len == 0 || len > 256 || strlen(s) != len) {
				cs_jcur_fail(&ps->c, CS_EINVAL, "%s: 'name' must be a non-empty string of at most 256 bytes", where);
				goto out_fail;
			}
			t->name = s;
			st->has_name = 1;
			snprintf(where, sizeof where, "input '%.64s'", s);
		} else if (strcmp(key, "datatype") == 0) {
			if (cs_jcur_string(&ps->c, ps->arena, &s, &len))
				goto out_fail;
			t->dtype = cs_dtype_from_name(s);
			if (t->dtype == CS_DTYPE_INVALID) {
				cs_jcur_fail(&ps->c, CS_EINVAL,
					     "%s: unknown datatype '%.32s' (expected BOOL, UINT8, UINT16, UINT32, UINT64, INT8, INT16, INT32, INT64, FP16, FP32, FP64 or BYTES)",
					     where, s);
				goto out_fail;
			}
			st->has_dtype = 1;
		} else if (strcmp(key, "shape") == 0) {
			if (parse_shape(ps, t, where))
				goto out_fail;
			st->has_shape = 1;
		} else if (strcmp(key, "data") == 0 && st->has_dtype && st->has_shape) {
			/* the usual order: decode in place, in one pass */
			char msg[256];

			st->data_start = ps->c.p;
			if (cs_json_tensor_check_size(t->dtype, t->ndim, t->shape, ps->c.lim,
						      t->name ? t->name : where, msg, sizeof msg)) {
				cs_jcur_fail(&ps->c, CS_ETOOLARGE, "%s", msg);
				goto out_fail;
			}
			if (cs_json_tensor_decode(&ps->c, t->dtype, t->ndim, t->shape,
						  ps->arena, &t->data, &t->nbytes)) {
				prefix_error(&ps->c, where);
				goto out_fail;
			}
			st->data_stop = ps->c.p;
			st->decoded = 1;
		} else if (strcmp(key, "data") == 0) {
			if (cs_jcur_skip(&ps->c, &st->data_start, &st->data_stop))
				goto out_fail;
		} else if (strcmp(key, "parameters") == 0) {
			json_t *v;

			if (parse_params(ps, where, &params))
				goto out_fail;
			v = json_object_get(params, "binary_data_size");
			if (v) {
				if (!json_is_integer(v) || json_integer_value(v) < 0) {
					cs_jcur_fail(&ps->c, CS_EINVAL, "%s: 'binary_data_size' must be an integer >= 0", where);
					goto out_fail;
				}
				st->binary_size = json_integer_value(v);
			}
		} else {
			cs_jcur_fail(&ps->c, CS_EINVAL,
				     "%s: unknown member '%.64s' (expected name, shape, datatype, parameters, data)",
				     where, key);
			goto out_fail;
		}
	} while ((rc = member_next(ps)) == 1);
	json_decref(params);
	if (rc < 0)
		return -1;
	if (!st->has_name || !st->has_shape || !st->has_dtype)
		return cs_jcur_fail(&ps->c, CS_EINVAL, "%s: missing '%s'", where,
				    !st->has_name ? "name" : !st->has_shape ? "shape" : "datatype");
	if (st->binary_size >= 0 && st->data_start)
		return cs_jcur_fail(&ps->c, CS_EINVAL, "%s: both 'data' and parameters.binary_data_size given", where);
	if (st->binary_size < 0 && !st->data_start)
		return cs_jcur_fail(&ps->c, CS_EINVAL, "%s: missing 'data' (or parameters.binary_data_size with binary data)", where);
	return 0;

out_fail:
	json_decref(params);
	return -1;
}

static int parse_output(parser *ps, size_t i)
{
	cs_v2_output_req *o = &ps->rq->outputs[i];
	const char *seen[4];
	size_t n_seen = 0, len;
	char where[96];
	char *key, *s;
	int rc;

	snprintf(where, sizeof where, "outputs[%zu]", i);
	o->binary = -1;
	if (cs_jcur_expect(&ps->c, '{', "an output object {name, parameters}"))
		return -1;
	if (cs_jcur_peek(&ps->c) == '}') {
		ps->c.p++;
		return cs_jcur_fail(&ps->c, CS_EINVAL, "%s: missing 'name'", where);
	}
	do {
		if (member_name(ps, &key, seen, &n_seen, 4))
			return -1;
		if (strcmp(key, "name") == 0) {
			if (cs_jcur_string(&ps->c, ps->arena, &s, &len))
				return -1;
			if (len == 0 || len > 256 || strlen(s) != len)
				return cs_jcur_fail(&ps->c, CS_EINVAL, "%s: 'name' must be a non-empty string", where);
			o->name = s;
		} else if (strcmp(key, "parameters") == 0) {
			json_t *params;

			if (parse_params(ps, where, &params))
				return -1;
			o->binary = bool_param(ps, params, "binary_data", where);
			json_decref(params);
			if (o->binary == -2)
				return -1;
		} else {
			return cs_jcur_fail(&ps->c, CS_EINVAL,
					    "%s: unknown member '%.64s' (expected name, parameters)",
					    where, key);
		}
	} while ((rc = member_next(ps)) == 1);
	if (rc < 0)
		return -1;
	if (!o->name)
		return cs_jcur_fail(&ps->c, CS_EINVAL, "%s: missing 'name'", where);
	for (size_t j = 0; j < i; j++)
		if (strcmp(ps->rq->outputs[j].name, o->name) == 0)
			return cs_jcur_fail(&ps->c, CS_EINVAL, "output '%.64s' requested twice", o->name);
	return 0;
}

/* Parses "inputs": [...] or "outputs": [...]. */
static int parse_list(parser *ps, int inputs)
{
	size_t *n = inputs ? &ps->rq->n_inputs : &ps->rq->n_outputs;
	const char *what = inputs ? "inputs" : "outputs";

	if (cs_jcur_expect(&ps->c, '[', inputs ? "'inputs' as an array" : "'outputs' as an array"))
		return -1;
	if (cs_jcur_peek(&ps->c) == ']') {
		ps->c.p++;
		return 0;
	}
	for (;;) {
		if (*n == CS_V2_MAX_TENSORS)
			return cs_jcur_fail(&ps->c, CS_EINVAL, "more than %d %s", CS_V2_MAX_TENSORS, what);
		if (inputs ? parse_input(ps, *n) : parse_output(ps, *n))
			return -1;
		(*n)++;
		if (cs_jcur_peek(&ps->c) == ',') {
			ps->c.p++;
			continue;
		}
		return cs_jcur_expect(&ps->c, ']', inputs ? "',' or ']' in 'inputs'" : "',' or ']' in 'outputs'");
	}
}

static int parse_top(parser *ps)
{
	const char *seen[8];
	size_t n_seen = 0, len;
	int has_inputs = 0, rc;
	char *key, *s;

	if (cs_jcur_expect(&ps->c, '{', "an inference request object {\"inputs\": [...]}"))
		return -1;
	if (cs_jcur_peek(&ps->c) == '}') {
		ps->c.p++;
		return cs_jcur_fail(&ps->c, CS_EINVAL, "missing 'inputs'");
	}
	do {
		if (member_name(ps, &key, seen, &n_seen, 8))
			return -1;
		if (strcmp(key, "id") == 0) {
			if (cs_jcur_string(&ps->c, ps->arena, &s, &len))
				return -1;
			if (strlen(s) != len)
				return cs_jcur_fail(&ps->c, CS_EINVAL, "'id' holds a NUL character");
			ps->rq->id = s;
		} else if (strcmp(key, "parameters") == 0) {
			if (parse_params(ps, "request", &ps->rq->parameters))
				return -1;
			rc = bool_param(ps, ps->rq->parameters, "binary_data_output", "request");
			if (rc == -2)
				return -1;
			ps->rq->binary_output = rc == 1;
		} else if (strcmp(key, "inputs") == 0) {
			if (parse_list(ps, 1))
				return -1;
			has_inputs = 1;
		} else if (strcmp(key, "outputs") == 0) {
			if (parse_list(ps, 0))
				return -1;
			ps->rq->outputs_given = 1;
		} else if (strcmp(key, "model_name") == 0 ||
			   strcmp(key, "model_version") == 0) {
			/* sent by some clients (Triton's examples); the URL decides */
			if (cs_jcur_string(&ps->c, ps->arena, &s, &len))
				return -1;
		} else {
			return cs_jcur_fail(&ps->c, CS_EINVAL,
					    "unknown member '%.64s' of the inference request (expected id, parameters, inputs, outputs)",
					    key);
		}
	} while ((rc = member_next(ps)) == 1);
	if (rc < 0)
		return -1;
	if (!has_inputs)
		return cs_jcur_fail(&ps->c, CS_EINVAL, "missing 'inputs'");
	if (ps->rq->n_inputs == 0)
		return cs_jcur_fail(&ps->c, CS_EINVAL, "'inputs' is empty");
	for (size_t i = 0; i < ps->rq->n_inputs; i++)
		for (size_t j = 0; j < i; j++)
			if (strcmp(ps->rq->inputs[i].name, ps->rq->inputs[j].name) == 0)
				return cs_jcur_fail(&ps->c, CS_EINVAL, "input '%.64s' given twice",
						    ps->rq->inputs[i].name);
	return 0;
}

/* Checks that a BYTES buffer holds exactly numel length-prefixed elements. */
static int bytes_framed(const unsigned char *p, size_t n, int64_t numel,
			size_t max_string)
{
	size_t off = 0;

	for (int64_t i = 0; i < numel; i++) {
		uint32_t len;

		if (n - off < 4)
			return 0;
		memcpy(&len, p + off, 4);
		off += 4;
		if (n - off < len || len > max_string)
			return 0;
		off += len;
	}
	return off == n;
}

static int fail(char *err, size_t errlen, cs_status status, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail(char *err, size_t errlen, cs_status status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return status;
}

cs_status cs_v2_parse_request(const char *body, size_t body_len, size_t header_len,
			const cs_json_limits *lim, cs_arena *arena,
			cs_v2_request *out, char *err, size_t errlen)
{
	parser *ps;
	size_t json_len = header_len == (size_t)-1 ? body_len : header_len;
	size_t bin_off, bin_total = 0, total_bytes = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	if (json_len > body_len)
		return fail(err, errlen, CS_EINVAL,
			    "Inference-Header-Content-Length is %zu but the body has only %zu bytes",
			    header_len, body_len);
	if (json_len == 0)
		return fail(err, errlen, CS_EINVAL, "the request has no body; expected a JSON inference request");
	ps = cs_arena_alloc(arena, sizeof(*ps));
	if (!ps)
		return fail(err, errlen, CS_ENOMEM, "out of memory");
	memset(ps, 0, sizeof(*ps));
	cs_jcur_init(&ps->c, body, body + json_len, lim);
	ps->arena = arena;
	ps->rq = out;
	if (parse_top(ps))
		goto out_cursor_error;
	if (cs_jcur_peek(&ps->c) != 0) {
		cs_jcur_fail(&ps->c, CS_EINVAL, "invalid JSON: trailing characters after the request object%s",
			     header_len == (size_t)-1 ? " (binary data needs the Inference-Header-Content-Length header)" : "");
		goto out_cursor_error;
	}

	/* sizes first: nothing is decoded for a request over a limit */
	for (size_t i = 0; i < out->n_inputs; i++) {
		cs_tensor *t = &out->inputs[i];
		in_state *st = &ps->ins[i];
		size_t esize = cs_dtype_size(t->dtype);
		int64_t numel = cs_shape_numel(t->ndim, t->shape);

		rc = cs_json_tensor_check_size(t->dtype, t->ndim, t->shape, lim,
					       t->name, err, errlen);
		if (rc)
			goto out_free;
		if (st->binary_size >= 0) {
			if (header_len == (size_t)-1) {
				rc = fail(err, errlen, CS_EINVAL,
					  "input '%s' has binary_data_size but the request has no Inference-Header-Content-Length header",
					  t->name);
				goto out_free;
			}
			if (esize && (uint64_t)st->binary_size != (uint64_t)numel * esize) {
				rc = fail(err, errlen, CS_EINVAL,
					  "input '%s': binary_data_size is %" PRId64 " but %s %s needs %" PRIu64 " bytes",
					  t->name, st->binary_size, cs_dtype_name(t->dtype),
					  cs_shape_format(t->ndim, t->shape, (char[96]){0}, 96),
					  (uint64_t)numel * esize);
				goto out_free;
			}
			if ((uint64_t)st->binary_size > body_len) {
				rc = fail(err, errlen, CS_EINVAL, "input '%s': binary_data_size %" PRId64 " is larger than the body",
					  t->name, st->binary_size);
				goto out_free;
			}
			bin_total += (size_t)st->binary_size;
			total_bytes += (size_t)st->binary_size;
		} else if (esize) {
			total_bytes += (size_t)numel * esize;
		}
		if (total_bytes > lim->max_bytes) {
			rc = fail(err, errlen, CS_ETOOLARGE,
				  "the request's tensors need more than %zu bytes (limits.max_tensor_bytes)",
				  lim->max_bytes);
			goto out_free;
		}
	}
	if (json_len + bin_total != body_len) {
		rc = fail(err, errlen, CS_EINVAL,
			  "binary data: the inputs' binary_data_size add up to %zu bytes, but %zu bytes follow the %zu-byte JSON header",
			  bin_total, body_len - json_len, json_len);
		goto out_free;
	}

	/* then the data: JSON arrays decoded in place, binary data taken */
	bin_off = json_len;
	for (size_t i = 0; i < out->n_inputs; i++) {
		cs_tensor *t = &out->inputs[i];
		in_state *st = &ps->ins[i];

		if (st->binary_size >= 0) {
			const char *src = body + bin_off;
			size_t n = (size_t)st->binary_size;
			size_t align = cs_dtype_size(t->dtype);

			if (t->dtype == CS_BYTES &&
			    !bytes_framed((const unsigned char *)src, n,
					  cs_shape_numel(t->ndim, t->shape),
					  lim->max_string_bytes)) {
				rc = fail(err, errlen, CS_EINVAL,
					  "input '%s': the %zu bytes of binary data are not %" PRId64 " BYTES elements (4-byte little-endian length, then the bytes; at most %zu bytes each)",
					  t->name, n, cs_shape_numel(t->ndim, t->shape),
					  lim->max_string_bytes);
				goto out_free;
			}
			if (align > 1 && ((uintptr_t)src % align) != 0) {
				/* plugins read typed elements: give them aligned memory */
				void *copy = cs_arena_alloc(arena, n ? n : 1);

				if (!copy) {
					rc = fail(err, errlen, CS_ENOMEM, "out of memory");
					goto out_free;
				}
				memcpy(copy, src, n);
				src = copy;
			}
			t->data = (void *)src;
			t->nbytes = n;
			bin_off += n;
		} else if (!st->decoded) {
			cs_jcur dc;

			cs_jcur_init(&dc, st->data_start, st->data_stop, lim);
			dc.base = body;
			if (cs_json_tensor_decode(&dc, t->dtype, t->ndim, t->shape,
						  arena, &t->data, &t->nbytes)) {
				rc = fail(err, errlen, dc.status, "input '%s': %s",
					  t->name, dc.err);
				goto out_free;
			}
		}
	}
	out->binary_bytes = bin_total;
	return 0;

out_cursor_error:
	rc = fail(err, errlen, ps->c.status ? ps->c.status : CS_EINVAL, "%s", ps->c.err);
out_free:
	cs_v2_request_free(out);
	return rc;
}

void cs_v2_request_free(cs_v2_request *r)
{
	json_decref(r->parameters);
	r->parameters = NULL;
}

/* ------------------------------------------------------------ writing */

typedef struct wbuf {
	char *p;
	size_t len, cap;
	int oom;
} wbuf;

static int wb_reserve(wbuf *b, size_t more)
{
	size_t cap;
	char *p;

	if (b->oom)
		return -1;
	if (b->cap - b->len >= more)
		return 0;
	cap = b->cap ? b->cap : 4096;
	while (cap - b->len < more) {
		if (cap > SIZE_MAX / 2) {
			b->oom = 1;
			return -1;
		}
		cap *= 2;
	}
	p = realloc(b->p, cap);
	if (!p) {
		b->oom = 1;
		return -1;
	}
	b->p = p;
	b->cap = cap;
	return 0;
}

static void wb_put(wbuf *b, const void *s, size_t n)
{
	if (wb_reserve(b, n + 1))
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

static void wb_str(wbuf *b, const char *s)
{
	wb_put(b, s, strlen(s));
}

static void wb_printf(wbuf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void wb_printf(wbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (wb_reserve(b, 64))
		return;
	va_start(ap, fmt);
	n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= b->cap - b->len) {
		if (wb_reserve(b, (size_t)n + 1))
			return;
		va_start(ap, fmt);
		vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
	}
	b->len += (size_t)n;
}

/* Writes a JSON string; the bytes must be valid UTF-8. */
static void wb_jstring(wbuf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";

	if (wb_reserve(b, n * 6 + 3))
		return;
	b->p[b->len++] = '"';
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch == '"' || ch == '\\') {
			b->p[b->len++] = '\\';
			b->p[b->len++] = (char)ch;
		} else if (ch < 0x20) {
			memcpy(b->p + b->len, "\\u00", 4);
			b->p[b->len + 4] = hex[ch >> 4];
			b->p[b->len + 5] = hex[ch & 15];
			b->len += 6;
		} else {
			b->p[b->len++] = (char)ch;
		}
	}
	b->p[b->len++] = '"';
}

static char *fmt_u64(char *end, uint64_t v)
{
	*--end = '\0';
	do {
		*--end = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	return end;
}

/* Writes element i of a fixed-size tensor as a JSON value. */
static void wb_element(wbuf *b, cs_dtype dt, const unsigned char *p)
{
	char num[32], *s;

	switch (dt) {
	case CS_BOOL:
		wb_str(b, *p ? "true" : "false");
		return;
	case CS_FP32: {
		float f;

		memcpy(&f, p, 4);
		if (!isfinite(f)) {
			wb_str(b, "null");
		} else {
			char text[CS_FMT_NUMBER_SIZE];

			cs_fmt_float(text, f);
			wb_str(b, text);
		}
		return;
	}
	case CS_FP64: {
		double d;

		memcpy(&d, p, 8);
		if (!isfinite(d)) {
			wb_str(b, "null");
		} else {
			char text[CS_FMT_NUMBER_SIZE];

			cs_fmt_double(text, d);
			wb_str(b, text);
		}
		return;
	}
	case CS_FP16: {
		uint16_t h;
		float f;

		memcpy(&h, p, 2);
		f = cs_fp16_to_fp32(h);
		if (!isfinite(f))
			wb_str(b, "null");
		else
			wb_printf(b, "%.5g", (double)f);
		return;
	}
	default: {
		uint64_t u = 0;
		int64_t v;
		int neg = 0;

		switch (dt) {
		case CS_UINT8: u = *p; break;
		case CS_UINT16: { uint16_t x; memcpy(&x, p, 2); u = x; break; }
		case CS_UINT32: { uint32_t x; memcpy(&x, p, 4); u = x; break; }
		case CS_UINT64: memcpy(&u, p, 8); break;
		case CS_INT8: { int8_t x; memcpy(&x, p, 1); v = x; goto sgn; }
		case CS_INT16: { int16_t x; memcpy(&x, p, 2); v = x; goto sgn; }
		case CS_INT32: { int32_t x; memcpy(&x, p, 4); v = x; goto sgn; }
		case CS_INT64: memcpy(&v, p, 8); goto sgn;
		default: break;
		}
		goto out;
sgn:
		neg = v < 0;
		u = neg ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
out:
		s = fmt_u64(num + sizeof num, u);
		if (neg)
			*--s = '-';
		wb_str(b, s);
		return;
	}
	}
}

static void wb_shape(wbuf *b, const cs_tensor *t)
{
	wb_str(b, "[");
	for (int32_t d = 0; d < t->ndim; d++)
		wb_printf(b, "%s%" PRId64, d ? "," : "", t->shape[d]);
	wb_str(b, "]");
}

/* Writes the JSON `data` of a tensor (flat). -1 for BYTES not UTF-8. */
static int wb_data(wbuf *b, const cs_tensor *t)
{
	int64_t numel = cs_shape_numel(t->ndim, t->shape);
	const unsigned char *p = t->data;

	wb_str(b, "[");
	if (t->dtype == CS_BYTES) {
		size_t off = 0;

		for (int64_t i = 0; i < numel; i++) {
			uint32_t len;

			memcpy(&len, p + off, 4);
			off += 4;
			if (!cs_utf8_valid((const char *)p + off, len))
				return -1;
			if (i)
				wb_str(b, ",");
			wb_jstring(b, (const char *)p + off, len);
			off += len;
		}
	} else {
		size_t esize = cs_dtype_size(t->dtype);

		for (int64_t i = 0; i < numel; i++) {
			if (i)
				wb_put(b, ",", 1);
			wb_element(b, t->dtype, p + (size_t)i * esize);
		}
	}
	wb_str(b, "]");
	return 0;
}

const char *cs_v2_platform(const char *plugin)
{
	if (strcmp(plugin, "onnx") == 0)
		return "onnx_onnxv1";
	if (strcmp(plugin, "torch") == 0)
		return "pytorch_torchscript";
	if (strcmp(plugin, "native") == 0)
		return "cubeserve_native";
	if (strcmp(plugin, "xgboost") == 0)
		return "xgboost";
	return "cubeserve_plugin";
}

cs_status cs_v2_encode_response(const char *model_name, const char *model_version,
			  const cs_v2_request *rq, const cs_tensor *outputs,
			  size_t n_outputs, const json_t *resp_params,
			  cs_response *resp)
{
	const cs_tensor *sel[CS_V2_MAX_TENSORS];
	int bin[CS_V2_MAX_TENSORS];
	size_t n_sel = 0, header_len;
	int any_binary = 0;
	wbuf b = {0};

	if (rq->outputs_given && rq->n_outputs) {
		for (size_t i = 0; i < rq->n_outputs; i++) {
			const cs_tensor *t = NULL;

			for (size_t j = 0; j < n_outputs; j++)
				if (outputs[j].name && strcmp(outputs[j].name, rq->outputs[i].name) == 0)
					t = &outputs[j];
			if (!t) {
				char names[512];
				size_t off = 0;

				names[0] = '\0';
				for (size_t j = 0; j < n_outputs && off < sizeof names; j++)
					off += (size_t)snprintf(names + off, sizeof names - off, "%s%s",
								j ? ", " : "", outputs[j].name ? outputs[j].name : "?");
				cs_response_fail(resp, CS_EINVAL, "model '%s' has no output '%s' (outputs: %s)",
						  model_name, rq->outputs[i].name, names);
				return CS_EINVAL;
			}
			bin[n_sel] = rq->outputs[i].binary >= 0 ? rq->outputs[i].binary : rq->binary_output;
			sel[n_sel++] = t;
		}
	} else {
		for (size_t j = 0; j < n_outputs && j < CS_V2_MAX_TENSORS; j++) {
			bin[n_sel] = rq->binary_output;
			sel[n_sel++] = &outputs[j];
		}
	}

	wb_str(&b, "{\"model_name\":");
	wb_jstring(&b, model_name, strlen(model_name));
	wb_str(&b, ",\"model_version\":");
	wb_jstring(&b, model_version, strlen(model_version));
	if (rq->id) {
		wb_str(&b, ",\"id\":");
		wb_jstring(&b, rq->id, strlen(rq->id));
	}
	if (resp_params) {
		char *s = cs_json_dumps(resp_params, NULL);

		if (!s) {
			free(b.p);
			cs_response_fail(resp, CS_EBACKEND, "cannot encode the response parameters");
			return CS_EBACKEND;
		}
		wb_str(&b, ",\"parameters\":");
		wb_str(&b, s);
		free(s);
	}
	wb_str(&b, ",\"outputs\":[");
	for (size_t i = 0; i < n_sel; i++) {
		const cs_tensor *t = sel[i];

		wb_str(&b, i ? ",{\"name\":" : "{\"name\":");
		wb_jstring(&b, t->name, strlen(t->name));
		wb_str(&b, ",\"datatype\":\"");
		wb_str(&b, cs_dtype_name(t->dtype));
		wb_str(&b, "\",\"shape\":");
		wb_shape(&b, t);
		if (bin[i]) {
			wb_printf(&b, ",\"parameters\":{\"binary_data_size\":%zu}}", t->nbytes);
			any_binary = 1;
			continue;
		}
		wb_str(&b, ",\"data\":");
		if (wb_data(&b, t)) {
			free(b.p);
			cs_response_fail(resp, CS_EINVAL,
					  "output '%s' holds BYTES that are not valid UTF-8, which JSON cannot carry: request it as binary data (outputs[].parameters.binary_data: true)",
					  t->name);
			return CS_EINVAL;
		}
		wb_str(&b, "}");
	}
	wb_str(&b, "]}");
	header_len = b.len;
	for (size_t i = 0; i < n_sel; i++)
		if (bin[i] && sel[i]->nbytes)
			wb_put(&b, sel[i]->data, sel[i]->nbytes);
	if (b.oom || !b.p) {
		free(b.p);
		cs_response_fail(resp, CS_ENOMEM, "out of memory encoding the response");
		return CS_EBACKEND;
	}
	if (any_binary) {
		cs_response_take(resp, 200, "application/octet-stream", b.p, b.len);
		cs_response_header(resp, "Inference-Header-Content-Length: %zu", header_len);
	} else {
		cs_response_take(resp, 200, "application/json", b.p, b.len);
	}
	return 0;
}

json_t *cs_io_list_json(const cs_io_desc *io, size_t n)
{
	json_t *arr = json_array();

	for (size_t i = 0; arr && i < n; i++) {
		json_t *shape = json_array();

		for (int32_t d = 0; shape && d < io[i].ndim; d++)
			json_array_append_new(shape, json_integer(io[i].shape[d]));
		json_array_append_new(arr, json_pack("{s:s,s:s,s:o*}", "name",
						     io[i].name, "datatype",
						     cs_dtype_name(io[i].dtype),
						     "shape", shape));
	}
	return arr;
}
