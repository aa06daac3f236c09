/*
 * xnn_lower.c - ONNX nodes to XNNPACK engine steps (see xnn_internal.h).
 *
 * Nodes are taken in file order (ONNX requires a topological one). A node
 * whose inputs are all constant, or a Shape of a runtime value (its shape
 * is known at load, the batch as BATCH_SYM), is folded into a constant;
 * every other node becomes steps over runtime values. Layouts are changed
 * only where an op needs another one: Conv and the pools take NHWC, the
 * elementwise ops take either, a Flatten of NHWC feeds a Gemm directly.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xnn_internal.h"

typedef struct build {
	cs__xnn_model *m;
	const cs__onnx_graph *g;
	const cs__onnx_node *nd;
	const char **names; /* borrowed from g */
	int *ids;
	size_t n_names, cap_names;
	cs__onnx_tensor **owned; /* folded constants, freed at the end */
	size_t n_owned;
	char *err;
	size_t errlen;
} build;

/* ------------------------------------------------------------ helpers */

static int fail(build *b, int rc, const char *fmt, ...)
{
	char why[CS_ERROR_SIZE];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	if (b->nd)
		snprintf(b->err, b->errlen, "op '%s' (node '%s'): %s",
			 b->nd->op_type, b->nd->name, why);
	else
		snprintf(b->err, b->errlen, "%s", why);
	return rc;
}

#define NOMEM(b) fail(b, CS_ENOMEM, "out of memory")

static int new_val(build *b)
{
	cs__xnn_model *m = b->m;
	xval *g = realloc(m->vals, (m->n_vals + 1) * sizeof *g);

	if (!g)
		return -1;
	m->vals = g;
	memset(&g[m->n_vals], 0, sizeof *g);
	g[m->n_vals].root = (int)m->n_vals;
	g[m->n_vals].as_nhwc = g[m->n_vals].as_plain = -1;
	g[m->n_vals].first = g[m->n_vals].last = -1;
	return (int)m->n_vals++;
}

static int lookup(const build *b, const char *name)
{
	for (size_t k = b->n_names; k-- > 0;)
		if (strcmp(b->names[k], name) == 0)
			return b->ids[k];
	return -1;
}

/* The graph's consumers of a name, and whether it is a graph output. */
static int count_uses(const build *b, const char *name, bool *output)
{
	int n = 0;

	for (size_t k = 0; k < b->g->n_nodes; k++)
		for (size_t j = 0; j < b->g->nodes[k].n_inputs; j++)
			n += strcmp(b->g->nodes[k].inputs[j], name) == 0;
	*output = false;
	for (size_t k = 0; k < b->g->n_outputs; k++)
		if (strcmp(b->g->outputs[k].name, name) == 0)
			*output = true;
	return n;
}

static int bind(build *b, const char *name, int id)
{
	if (b->n_names == b->cap_names) {
		size_t cap = b->cap_names ? b->cap_names * 2 : 64;
		const char **n = realloc(b->names, cap * sizeof *n);
		if (!n)
			return CS_ENOMEM;
		b->names = n;
		int *i = realloc(b->ids, cap * sizeof *i);
		if (!i)
			return CS_ENOMEM;
		b->ids = i;
		b->cap_names = cap;
	}
	b->names[b->n_names] = name;
	b->ids[b->n_names++] = id;
	xval *v = &b->m->vals[id];
	bool out;
	v->uses += count_uses(b, name, &out);
	v->output |= out;
	return CS_OK;
}

static xstep *new_step(build *b, int kind)
{
	cs__xnn_model *m = b->m;
	xstep *g = realloc(m->steps, (m->n_steps + 1) * sizeof *g);

	if (!g)
		return NULL;
	m->steps = g;
	memset(&g[m->n_steps], 0, sizeof *g);
	g[m->n_steps].kind = kind;
	g[m->n_steps].in[0] = g[m->n_steps].in[1] = -1;
	g[m->n_steps].out = -1;
	g[m->n_steps].omin = -INFINITY;
	g[m->n_steps].omax = INFINITY;
	return &g[m->n_steps++];
}

static int64_t numel(int32_t ndim, const int64_t *shape)
{
	int64_t n = 1;

	for (int32_t k = 0; k < ndim; k++)
		n *= shape[k];
	return n;
}

/* Node input k: its value id, -1 when absent (past the end or ""). */
static int in_id(build *b, size_t k)
{
	if (k >= b->nd->n_inputs || !b->nd->inputs[k][0])
		return -1;
	return lookup(b, b->nd->inputs[k]);
}

static const cs__onnx_tensor *in_const(build *b, size_t k)
{
	int id = in_id(b, k);

	return id >= 0 && b->m->vals[id].is_const ? b->m->vals[id].c : NULL;
}

static int64_t attr_int(const cs__onnx_node *nd, const char *name,
			int64_t def)
{
	const cs__onnx_attr *a = cs__onnx_attr_find(nd, name);

	return a ? a->i : def;
}

static float attr_float(const cs__onnx_node *nd, const char *name,
			float def)
{
	const cs__onnx_attr *a = cs__onnx_attr_find(nd, name);

	return a ? a->f : def;
}

static const int64_t *attr_ints(const cs__onnx_node *nd, const char *name,
				size_t *n)
{
	const cs__onnx_attr *a = cs__onnx_attr_find(nd, name);

	*n = a ? a->n_ints : 0;
	return a ? a->ints : NULL;
}

static const char *attr_str(const cs__onnx_node *nd, const char *name,
			    const char *def)
{
	const cs__onnx_attr *a = cs__onnx_attr_find(nd, name);

	return a && a->s ? a->s : def;
}

/* A new build-owned constant tensor of n elements, float or int. */
static cs__onnx_tensor *new_const(build *b, bool is_float, int32_t ndim,
				  const int64_t *dims)
{
	cs__onnx_tensor **o, *t;
	size_t n = 1;

	for (int32_t k = 0; k < ndim; k++)
		n *= (size_t)dims[k];
	if (!(t = calloc(1, sizeof *t)))
		return NULL;
	t->elem_type = is_float ? 1 : 7;
	t->ndim = ndim;
	memcpy(t->dims, dims, (size_t)ndim * sizeof *dims);
	t->n = n;
	if (is_float)
		t->f = calloc(n ? n : 1, sizeof *t->f);
	else
		t->i = calloc(n ? n : 1, sizeof *t->i);
	if ((is_float && !t->f) || (!is_float && !t->i) ||
	    !(o = realloc(b->owned, (b->n_owned + 1) * sizeof *o))) {
		cs__onnx_tensor_clear(t);
		free(t);
		return NULL;
	}
	b->owned = o;
	o[b->n_owned++] = t;
	return t;
}

/* Binds node output k to a new constant value holding t. */
static int out_const(build *b, size_t k, const cs__onnx_tensor *t)
{
	int id = new_val(b);

	if (id < 0 || k >= b->nd->n_outputs)
		return id < 0 ? NOMEM(b) : fail(b, CS_EFORMAT, "no output");
	xval *v = &b->m->vals[id];
	v->is_const = true;
	v->c = t;
	v->ndim = t->ndim;
	memcpy(v->shape, t->dims, sizeof v->shape);
	return bind(b, b->nd->outputs[k], id) == CS_OK ? CS_OK : NOMEM(b);
}

/* A new runtime value of the given logical shape and layout. */
static int new_rt(build *b, int32_t ndim, const int64_t *shape,
		  bool batched, int layout)
{
	int64_t tmp[XMAXD];
	int id;

	memcpy(tmp, shape, (size_t)ndim * sizeof *shape); /* may be in vals */
	if ((id = new_val(b)) < 0)
		return -1;
	xval *v = &b->m->vals[id];
	v->ndim = ndim;
	memcpy(v->shape, tmp, (size_t)ndim * sizeof *tmp);
	v->batched = batched;
	v->layout = layout;
	return id;
}

/* A new value sharing src's buffer, with another shape or layout. */
static int alias(build *b, int src, int32_t ndim, const int64_t *shape,
		 bool batched, int layout)
{
	int id = new_rt(b, ndim, shape, batched, layout);

	if (id >= 0)
		b->m->vals[id].root = b->m->vals[src].root;
	return id;
}

static int bind_out(build *b, size_t k, int id)
{
	if (id < 0)
		return NOMEM(b);
	if (k >= b->nd->n_outputs)
		return fail(b, CS_EFORMAT, "the node has no output %zu", k);
	return bind(b, b->nd->outputs[k], id) == CS_OK ? CS_OK : NOMEM(b);
}

/* A new value of x's shape and layout, with a buffer of its own. */
static int same_as(build *b, int x)
{
	xval v = b->m->vals[x];
	int id = new_rt(b, v.ndim, v.shape, v.batched, v.layout);

	if (id >= 0) {
		b->m->vals[id].fc = v.fc;
		b->m->vals[id].fh = v.fh;
		b->m->vals[id].fw = v.fw;
	}
	return id;
}

/* ------------------------------------------------------------ layouts */

/* Memory of a 4-D value is the same in NCHW and NHWC. */
static bool layout_free(const xval *v)
{
	if (v->layout == L_FLAT)
		return v->fc == 1 || v->fh * v->fw == 1;
	return v->ndim == 4 && (v->shape[1] == 1 ||
				v->shape[2] * v->shape[3] == 1);
}

/* The value id of v in NHWC (v must be 4-D). */
static int to_nhwc(build *b, int id)
{
	xval *v = &b->m->vals[id];
	int r;

	if (v->layout == L_NHWC)
		return id;
	if (v->as_nhwc >= 0)
		return v->as_nhwc;
	if (layout_free(v)) {
		r = alias(b, id, v->ndim, v->shape, v->batched, L_NHWC);
	} else {
		xstep *s;
		r = new_rt(b, v->ndim, v->shape, v->batched, L_NHWC);
		if (r < 0 || !(s = new_step(b, S_TO_NHWC)))
			return -1;
		s->in[0] = id;
		s->out = r;
	}
	if (r >= 0)
		b->m->vals[id].as_nhwc = r;
	return r;
}

/* The value id of v in its plain (ONNX) layout. */
static int to_plain(build *b, int id)
{
	xval *v = &b->m->vals[id];
	int r;

	if (v->layout == L_PLAIN)
		return id;
	if (v->as_plain >= 0)
		return v->as_plain;
	if (layout_free(v)) {
		r = alias(b, id, v->ndim, v->shape, v->batched, L_PLAIN);
	} else {
		xstep *s;
		r = new_rt(b, v->ndim, v->shape, v->batched, L_PLAIN);
		if (r < 0 || !(s = new_step(b, S_TO_PLAIN)))
			return -1;
		s->in[0] = id;
		s->out = r;
	}
	if (r >= 0)
		b->m->vals[id].as_plain = r;
	return r;
}

/* -------------------------------------------------- constant folding */

/* Reads a constant int vector (shape, axes, pads); NULL when not const. */
static const cs__onnx_tensor *const_ints(build *b, size_t k)
{
	const cs__onnx_tensor *t = in_const(b, k);

	return t && t->i ? t : NULL;
}

static int normalize_axis(int64_t *axis, int32_t rank)
{
	if (*axis < 0)
		*axis += rank;
	return *axis >= 0 && *axis < rank ? 0 : -1;
}

static double get_num(const cs__onnx_tensor *t, size_t k)
{
	return t->f ? (double)t->f[k] : (double)t->i[k];
}

/* Broadcast index of flat output index k into t (numpy rules). */
static size_t bcast_index(const cs__onnx_tensor *t, int32_t ndim,
			  const int64_t *oshape, size_t k)
{
	size_t idx = 0, stride = 1;

	for (int32_t d = ndim - 1; d >= 0; d--) {
		int64_t o = (int64_t)(k % (size_t)oshape[d]);
		k /= (size_t)oshape[d];
		int32_t td = d - (ndim - t->ndim);
		if (td < 0)
			continue;
		if (t->dims[td] != 1)
			idx += (size_t)o * stride;
		stride *= (size_t)t->dims[td];
	}
	return idx;
}

static int broadcast_shape(build *b, int32_t na, const int64_t *a,
			   int32_t nb, const int64_t *bs, int32_t *no,
			   int64_t *o)
{
	*no = na > nb ? na : nb;
	for (int32_t d = 0; d < *no; d++) {
		int64_t x = d - (*no - na) >= 0 ? a[d - (*no - na)] : 1;
		int64_t y = d - (*no - nb) >= 0 ? bs[d - (*no - nb)] : 1;
		if (x != y && x != 1 && y != 1)
			return fail(b, CS_EFORMAT, "shapes do not broadcast "
				    "(dimension %d: %lld and %lld)", (int)d,
				    (long long)x, (long long)y);
		o[d] = x == 1 ? y : x;
	}
	return CS_OK;
}

static bool has_sym(const cs__onnx_tensor *t)
{
	for (size_t k = 0; t->i && k < t->n; k++)
		if (t->i[k] == BATCH_SYM)
			return true;
	return false;
}

static int fold_binary(build *b, const char *op)
{
	const cs__onnx_tensor *x = in_const(b, 0), *y = in_const(b, 1);
	int64_t os[XMAXD];
	int32_t on;
	int rc;

	if (!x || !y)
		return fail(b, CS_EFORMAT, "missing input");
	if (has_sym(x) || has_sym(y))
		return fail(b, CS_EUNSUPPORTED, "arithmetic on the batch size "
			    "(the xnnpack engine plans shapes at load)");
	if ((rc = broadcast_shape(b, x->ndim, x->dims, y->ndim, y->dims, &on,
				  os)) != CS_OK)
		return rc;
	bool fl = x->f || y->f;
	cs__onnx_tensor *t = new_const(b, fl, on, os);
	if (!t)
		return NOMEM(b);
	for (size_t k = 0; k < t->n; k++) {
		double p = get_num(x, bcast_index(x, on, os, k));
		double q = get_num(y, bcast_index(y, on, os, k));
		double r = 0;
		switch (op[0]) {
		case 'A': r = p + q; break;
		case 'S': r = p - q; break;
		case 'M': r = p * q; break;
		default:
			if (!fl && q == 0)
				return fail(b, CS_EFORMAT, "division by zero");
			r = fl ? p / q : (double)((int64_t)p / (int64_t)q);
		}
		if (fl)
			t->f[k] = (float)r;
		else
			t->i[k] = (int64_t)r;
	}
	return out_const(b, 0, t);
}

static int fold_constant(build *b)
{
	const cs__onnx_node *nd = b->nd;
	const cs__onnx_attr *a;
	cs__onnx_tensor *t;
	int64_t one = 1;

	if ((a = cs__onnx_attr_find(nd, "value")) && a->t)
		return out_const(b, 0, a->t);
	if ((a = cs__onnx_attr_find(nd, "value_float"))) {
		if (!(t = new_const(b, true, 0, &one)))
			return NOMEM(b);
		t->f[0] = a->f;
		return out_const(b, 0, t);
	}
	if ((a = cs__onnx_attr_find(nd, "value_int"))) {
		if (!(t = new_const(b, false, 0, &one)))
			return NOMEM(b);
		t->i[0] = a->i;
		return out_const(b, 0, t);
	}
	if ((a = cs__onnx_attr_find(nd, "value_floats"))) {
		int64_t n = (int64_t)a->n_floats;
		if (!(t = new_const(b, true, 1, &n)))
			return NOMEM(b);
		memcpy(t->f, a->floats, a->n_floats * sizeof *t->f);
		return out_const(b, 0, t);
	}
	if ((a = cs__onnx_attr_find(nd, "value_ints"))) {
		int64_t n = (int64_t)a->n_ints;
		if (!(t = new_const(b, false, 1, &n)))
			return NOMEM(b);
		memcpy(t->i, a->ints, a->n_ints * sizeof *t->i);
		return out_const(b, 0, t);
	}
	return fail(b, CS_EUNSUPPORTED, "no supported value attribute");
}

static int fold_shape(build *b, int id)
{
	const xval *v = &b->m->vals[id];
	int64_t start = attr_int(b->nd, "start", 0);
	int64_t end = attr_int(b->nd, "end", v->ndim);
	cs__onnx_tensor *t;

	if (start < 0)
		start += v->ndim;
	if (end < 0)
		end += v->ndim;
	if (start < 0)
		start = 0;
	if (end > v->ndim)
		end = v->ndim;
	int64_t n = end > start ? end - start : 0;
	if (!(t = new_const(b, false, 1, &n)))
		return NOMEM(b);
	for (int64_t k = 0; k < n; k++)
		t->i[k] = (start + k == 0 && v->batched) ? BATCH_SYM
							 : v->shape[start + k];
	return out_const(b, 0, t);
}

static int fold_gather(build *b)
{
	const cs__onnx_tensor *x = in_const(b, 0), *idx = in_const(b, 1);
	int64_t axis = attr_int(b->nd, "axis", 0), os[XMAXD];
	int32_t on = 0;

	if (!x || !idx || !idx->i)
		return fail(b, CS_EFORMAT, "missing input");
	if (normalize_axis(&axis, x->ndim) ||
	    x->ndim - 1 + idx->ndim > XMAXD)
		return fail(b, CS_EFORMAT, "axis out of range");
	for (int32_t d = 0; d < axis; d++)
		os[on++] = x->dims[d];
	for (int32_t d = 0; d < idx->ndim; d++)
		os[on++] = idx->dims[d];
	for (int32_t d = (int32_t)axis + 1; d < x->ndim; d++)
		os[on++] = x->dims[d];
	cs__onnx_tensor *t = new_const(b, x->f != NULL, on, os);
	if (!t)
		return NOMEM(b);
	size_t outer = (size_t)numel((int32_t)axis, x->dims);
	size_t inner = (size_t)numel(x->ndim - (int32_t)axis - 1,
				     x->dims + axis + 1);
	size_t dim = (size_t)x->dims[axis], o = 0;
	for (size_t p = 0; p < outer; p++) {
		for (size_t q = 0; q < idx->n; q++) {
			int64_t j = idx->i[q];
			if (j < 0)
				j += (int64_t)dim;
			if (j < 0 || (size_t)j >= dim)
				return fail(b, CS_EFORMAT, "index %lld out of "
					    "range", (long long)idx->i[q]);
			for (size_t r = 0; r < inner; r++, o++) {
				size_t s = (p * dim + (size_t)j) * inner + r;
				if (t->f)
					t->f[o] = x->f[s];
				else
					t->i[o] = x->i[s];
			}
		}
	}
	return out_const(b, 0, t);
}

/* The axes of Squeeze/Unsqueeze: the attribute or (opset 13) input 1. */
static int get_axes(build *b, const int64_t **axes, size_t *n)
{
	const cs__onnx_tensor *t;

	*axes = attr_ints(b->nd, "axes", n);
	if (*axes)
		return CS_OK;
	if (in_id(b, 1) < 0)
		return CS_OK;
	if (!(t = const_ints(b, 1)))
		return fail(b, CS_EUNSUPPORTED, "axes are not constant");
	*axes = t->i;
	*n = t->n;
	return CS_OK;
}

/* The output shape of Squeeze/Unsqueeze on a shape in[n]. */
static int squeeze_shape(build *b, bool unsqueeze, int32_t n,
			 const int64_t *in, int32_t *on, int64_t *out)
{
	const int64_t *axes;
	size_t na;
	int rc;
	bool mark[XMAXD] = {false};

	if ((rc = get_axes(b, &axes, &na)) != CS_OK)
		return rc;
	int32_t rank = unsqueeze ? n + (int32_t)na : n;
	if (rank > XMAXD)
		return fail(b, CS_EUNSUPPORTED, "more than %d dimensions",
			    XMAXD);
	for (size_t k = 0; k < na; k++) {
		int64_t a = axes[k];
		if (normalize_axis(&a, rank) || mark[a])
			return fail(b, CS_EFORMAT, "bad axis %lld",
				    (long long)axes[k]);
		mark[a] = true;
	}
	*on = 0;
	if (unsqueeze) {
		for (int32_t d = 0, s = 0; d < rank; d++)
			out[(*on)++] = mark[d] ? 1 : in[s++];
	} else {
		for (int32_t d = 0; d < n; d++) {
			if (na == 0 ? in[d] == 1 : mark[d]) {
				if (in[d] != 1)
					return fail(b, CS_EFORMAT, "squeezes "
						    "a dimension of %lld",
						    (long long)in[d]);
				continue;
			}
			out[(*on)++] = in[d];
		}
	}
	return CS_OK;
}

static int fold_reshape_like(build *b, const char *op)
{
	const cs__onnx_tensor *x = in_const(b, 0);
	int64_t os[XMAXD];
	int32_t on = 0;
	int rc;

	if (!x)
		return fail(b, CS_EFORMAT, "missing input");
	if (!strcmp(op, "Squeeze") || !strcmp(op, "Unsqueeze")) {
		if ((rc = squeeze_shape(b, op[0] == 'U', x->ndim, x->dims,
					&on, os)) != CS_OK)
			return rc;
	} else if (!strcmp(op, "Flatten")) {
		int64_t axis = attr_int(b->nd, "axis", 1);
		if (axis < 0)
			axis += x->ndim;
		if (axis < 0 || axis > x->ndim)
			return fail(b, CS_EFORMAT, "axis out of range");
		os[0] = numel((int32_t)axis, x->dims);
		os[1] = numel(x->ndim - (int32_t)axis, x->dims + axis);
		on = 2;
	} else { /* Identity, Dropout */
		on = x->ndim;
		memcpy(os, x->dims, sizeof os);
	}
	cs__onnx_tensor *t = new_const(b, x->f != NULL, on, os);
	if (!t)
		return NOMEM(b);
	if (x->f)
		memcpy(t->f, x->f, x->n * sizeof *t->f);
	else
		memcpy(t->i, x->i, x->n * sizeof *t->i);
	return out_const(b, 0, t);
}

static int fold_concat(build *b)
{
	int64_t axis = attr_int(b->nd, "axis", 0), os[XMAXD];
	const cs__onnx_tensor *x0 = in_const(b, 0);
	bool fl;

	if (!x0)
		return fail(b, CS_EFORMAT, "missing input");
	fl = x0->f != NULL;
	if (normalize_axis(&axis, x0->ndim))
		return fail(b, CS_EFORMAT, "axis out of range");
	memcpy(os, x0->dims, sizeof os);
	os[axis] = 0;
	for (size_t k = 0; k < b->nd->n_inputs; k++) {
		const cs__onnx_tensor *x = in_const(b, k);
		if (!x || x->ndim != x0->ndim || (x->f != NULL) != fl)
			return fail(b, CS_EFORMAT, "inputs of different "
				    "kinds");
		for (int32_t d = 0; d < x->ndim; d++)
			if (d != axis && x->dims[d] != x0->dims[d])
				return fail(b, CS_EFORMAT, "inputs of "
					    "different shapes");
		os[axis] += x->dims[axis];
	}
	cs__onnx_tensor *t = new_const(b, fl, x0->ndim, os);
	if (!t)
		return NOMEM(b);
	size_t outer = (size_t)numel((int32_t)axis, os), o = 0;
	for (size_t p = 0; p < outer; p++) {
		for (size_t k = 0; k < b->nd->n_inputs; k++) {
			const cs__onnx_tensor *x = in_const(b, k);
			size_t inner = outer ? x->n / outer : 0;
			for (size_t r = 0; r < inner; r++, o++) {
				if (fl)
					t->f[o] = x->f[p * inner + r];
				else
					t->i[o] = x->i[p * inner + r];
			}
		}
	}
	return out_const(b, 0, t);
}

static int fold_cast(build *b)
{
	const cs__onnx_tensor *x = in_const(b, 0);
	int64_t to = attr_int(b->nd, "to", 1);
	bool fl = to == 1 || to == 11;

	if (!x)
		return fail(b, CS_EFORMAT, "missing input");
	if (fl && has_sym(x))
		return fail(b, CS_EUNSUPPORTED, "the batch size as a number");
	cs__onnx_tensor *t = new_const(b, fl, x->ndim, x->dims);
	if (!t)
		return NOMEM(b);
	for (size_t k = 0; k < x->n; k++) {
		if (fl)
			t->f[k] = x->f ? x->f[k] : (float)x->i[k];
		else if (x->i)
			t->i[k] = to == 9 ? x->i[k] != 0 : x->i[k];
		else
			t->i[k] = to == 9 ? x->f[k] != 0 : (int64_t)x->f[k];
	}
	return out_const(b, 0, t);
}

static int fold_slice(build *b)
{
	const cs__onnx_tensor *x = in_const(b, 0);
	int64_t start, end, step = 1;

	if (!x || x->ndim != 1)
		return fail(b, CS_EUNSUPPORTED, "folds only a 1-D slice");
	if (b->g->opset < 10) {
		size_t ns, ne;
		const int64_t *s = attr_ints(b->nd, "starts", &ns);
		const int64_t *e = attr_ints(b->nd, "ends", &ne);
		if (ns != 1 || ne != 1)
			return fail(b, CS_EUNSUPPORTED, "starts/ends");
		start = s[0];
		end = e[0];
	} else {
		const cs__onnx_tensor *s = const_ints(b, 1), *e = const_ints(b, 2);
		const cs__onnx_tensor *st = in_id(b, 4) >= 0 ? const_ints(b, 4)
							     : NULL;
		if (!s || !e || s->n != 1 || e->n != 1 ||
		    (in_id(b, 4) >= 0 && (!st || st->n != 1)))
			return fail(b, CS_EUNSUPPORTED, "starts/ends/steps");
		start = s->i[0];
		end = e->i[0];
		step = st ? st->i[0] : 1;
	}
	int64_t dim = x->dims[0];
	if (step <= 0)
		return fail(b, CS_EUNSUPPORTED, "a step of %lld",
			    (long long)step);
	if (start < 0)
		start += dim;
	if (end < 0)
		end += dim;
	start = start < 0 ? 0 : start > dim ? dim : start;
	end = end < 0 ? 0 : end > dim ? dim : end;
	int64_t n = end > start ? (end - start + step - 1) / step : 0;
	cs__onnx_tensor *t = new_const(b, x->f != NULL, 1, &n);
	if (!t)
		return NOMEM(b);
	for (int64_t k = 0; k < n; k++) {
		if (t->f)
			t->f[k] = x->f[start + k * step];
		else
			t->i[k] = x->i[start + k * step];
	}
	return out_const(b, 0, t);
}

static int fold_constant_of_shape(build *b)
{
	const cs__onnx_tensor *s = const_ints(b, 0);
	const cs__onnx_attr *a = cs__onnx_attr_find(b->nd, "value");
	const cs__onnx_tensor *v = a ? a->t : NULL;

	if (!s || s->ndim != 1 || s->n > XMAXD || has_sym(s))
		return fail(b, CS_EUNSUPPORTED, "a shape known only per call");
	cs__onnx_tensor *t = new_const(b, !v || v->f, (int32_t)s->n, s->i);
	if (!t)
		return NOMEM(b);
	for (size_t k = 0; k < t->n; k++) {
		if (t->f)
			t->f[k] = v ? v->f[0] : 0.0f;
		else
			t->i[k] = v->i[0];
	}
	return out_const(b, 0, t);
}

/* Folds a node whose inputs are constant; CS_EUNSUPPORTED if it cannot. */
static int fold(build *b)
{
	const char *op = b->nd->op_type;

	if (!strcmp(op, "Constant"))
		return fold_constant(b);
	if (!strcmp(op, "Gather"))
		return fold_gather(b);
	if (!strcmp(op, "Unsqueeze") || !strcmp(op, "Squeeze") ||
	    !strcmp(op, "Identity") || !strcmp(op, "Flatten") ||
	    (!strcmp(op, "Dropout") && b->nd->n_outputs == 1))
		return fold_reshape_like(b, op);
	if (!strcmp(op, "Concat"))
		return fold_concat(b);
	if (!strcmp(op, "Cast"))
		return fold_cast(b);
	if (!strcmp(op, "Slice"))
		return fold_slice(b);
	if (!strcmp(op, "ConstantOfShape"))
		return fold_constant_of_shape(b);
	if (!strcmp(op, "Add") || !strcmp(op, "Sub") || !strcmp(op, "Mul") ||
	    !strcmp(op, "Div"))
		return fold_binary(b, op);
	return fail(b, CS_EUNSUPPORTED, "is not supported by the xnnpack "
		    "engine (on constant inputs either)");
}

/* ---------------------------------------------------------- runtime ops */

/* The runtime value of input k, which must exist and not be constant. */
static int rt_in(build *b, size_t k, int *id)
{
	*id = in_id(b, k);
	if (*id < 0)
		return fail(b, CS_EFORMAT, "input %zu ('%s') is not defined "
			    "before the node", k,
			    k < b->nd->n_inputs ? b->nd->inputs[k] : "");
	if (b->m->vals[*id].is_const)
		return fail(b, CS_EUNSUPPORTED, "input %zu is a constant where "
			    "the engine expects a computed value", k);
	return CS_OK;
}

/* Spatial padding and output size of a 2-D window op along one axis. */
typedef struct win {
	int64_t k[2], s[2], d[2], pb[2], pe[2], out[2];
} win;

static int window(build *b, const xval *x, bool pool, win *w)
{
	size_t nk, ns, nd, np;
	const int64_t *ks = attr_ints(b->nd, "kernel_shape", &nk);
	const int64_t *st = attr_ints(b->nd, "strides", &ns);
	const int64_t *di = attr_ints(b->nd, "dilations", &nd);
	const int64_t *pa = attr_ints(b->nd, "pads", &np);
	const char *ap = attr_str(b->nd, "auto_pad", "NOTSET");
	bool ceil_mode = attr_int(b->nd, "ceil_mode", 0) != 0;

	/* spatial dimensions: 2, or 1 (run as 2-D with a height of 1) */
	int sp = x->ndim - 2;
	if (sp != 1 && sp != 2)
		return fail(b, CS_EUNSUPPORTED, "only 1-D and 2-D (a 3-D or "
			    "4-D input), got %d-D", (int)x->ndim);
	if ((ks && nk != (size_t)sp) || (st && ns != (size_t)sp) ||
	    (di && nd != (size_t)sp) || (pa && np != (size_t)(2 * sp)))
		return fail(b, CS_EUNSUPPORTED, "attributes of another rank "
			    "than the input's %d spatial dimensions", sp);
	for (int a = 0; a < 2; a++) {
		int j = sp == 2 ? a : a - 1; /* attribute index; -1: height 1 */
		int64_t in = sp == 2 ? x->shape[2 + a] : a == 0 ? 1 : x->shape[2];
		w->k[a] = j < 0 ? 1 : ks ? ks[j] : -1;
		w->s[a] = j < 0 || !st ? 1 : st[j];
		w->d[a] = j < 0 || !di ? 1 : di[j];
		w->pb[a] = j < 0 || !pa ? 0 : pa[j];
		w->pe[a] = j < 0 || !pa ? 0 : pa[j + sp];
		if (w->k[a] <= 0 || w->s[a] <= 0 || w->d[a] <= 0 ||
		    w->pb[a] < 0 || w->pe[a] < 0 || w->k[a] > 4096 ||
		    w->s[a] > 4096 || w->d[a] > 4096 || w->pb[a] > 4096 ||
		    w->pe[a] > 4096)
			return fail(b, CS_EUNSUPPORTED, "kernel, stride, "
				    "dilation or pads out of range");
		int64_t eff = (w->k[a] - 1) * w->d[a] + 1;
		if (!strcmp(ap, "SAME_UPPER") || !strcmp(ap, "SAME_LOWER")) {
			int64_t out = (in + w->s[a] - 1) / w->s[a];
			int64_t total = (out - 1) * w->s[a] + eff - in;
			if (total < 0)
				total = 0;
			w->pb[a] = ap[5] == 'U' ? total / 2 : total - total / 2;
			w->pe[a] = total - w->pb[a];
		} else if (!strcmp(ap, "VALID")) {
			w->pb[a] = w->pe[a] = 0;
		} else if (strcmp(ap, "NOTSET")) {
			return fail(b, CS_EUNSUPPORTED, "auto_pad '%s'", ap);
		}
		int64_t span = in + w->pb[a] + w->pe[a] - eff;
		if (span < 0)
			return fail(b, CS_EFORMAT, "the window is larger than "
				    "the padded input");
		w->out[a] = span / w->s[a] + 1;
		if (ceil_mode && pool) {
			int64_t out = (span + w->s[a] - 1) / w->s[a] + 1;
			if ((out - 1) * w->s[a] >= in + w->pb[a])
				out--;
			int64_t extra = (out - 1) * w->s[a] + eff -
					(in + w->pb[a] + w->pe[a]);
			if (extra > 0)
				w->pe[a] += extra;
			w->out[a] = out;
		} else if (ceil_mode) {
			return fail(b, CS_EUNSUPPORTED, "ceil_mode");
		}
	}
	return CS_OK;
}

static void set_window(xstep *s, const win *w)
{
	s->kh = (uint32_t)w->k[0];
	s->kw = (uint32_t)w->k[1];
	s->sh = (uint32_t)w->s[0];
	s->sw = (uint32_t)w->s[1];
	s->dh = (uint32_t)w->d[0];
	s->dw = (uint32_t)w->d[1];
	s->pt = (uint32_t)w->pb[0];
	s->pl = (uint32_t)w->pb[1];
	s->pb = (uint32_t)w->pe[0];
	s->pr = (uint32_t)w->pe[1];
}

/* A 3-D [N, C, L] value as 4-D [N, C, 1, L] (for 1-D windows). */
static int as_2d(build *b, int x)
{
	int64_t s4[4];

	if ((x = to_plain(b, x)) < 0)
		return -1;
	const xval *v = &b->m->vals[x];
	s4[0] = v->shape[0];
	s4[1] = v->shape[1];
	s4[2] = 1;
	s4[3] = v->shape[2];
	return alias(b, x, 4, s4, v->batched, L_PLAIN);
}

/* The 4-D result of a 1-D window op back as 3-D [N, C, L]. */
static int as_1d(build *b, int y)
{
	int64_t s3[3];

	if (y < 0 || (y = to_plain(b, y)) < 0)
		return -1;
	const xval *v = &b->m->vals[y];
	s3[0] = v->shape[0];
	s3[1] = v->shape[1];
	s3[2] = v->shape[3];
	return alias(b, y, 3, s3, v->batched, L_PLAIN);
}

/* Input 0 of a Conv or ConvTranspose (1-D or 2-D) and its constant weights. */
static int conv_in(build *b, const cs__onnx_tensor *W, int *x)
{
	int rc;

	if ((rc = rt_in(b, 0, x)) != CS_OK)
		return rc;
	int32_t xr = b->m->vals[*x].ndim;
	if (xr != 3 && xr != 4)
		return fail(b, CS_EUNSUPPORTED, "only 1-D and 2-D (a 3-D or "
			    "4-D input), got %d-D", (int)xr);
	if (!W || !W->f || W->ndim != xr)
		return fail(b, CS_EUNSUPPORTED, "the weights must be a "
			    "constant %d-D float tensor", (int)xr);
	return CS_OK;
}

/*
 * The bias and the [N, M, out H, out W] NHWC output of a Conv or
 * ConvTranspose step s over x (back to 3-D for a 1-D one: rank xr).
 */
static int conv_out(build *b, xstep *s, int x, const cs__onnx_tensor *B,
		    int64_t M, const win *w, int32_t xr)
{
	int64_t os[4];

	if (B)
		memcpy(s->b, B->f, (size_t)M * sizeof *s->b);
	s->in[0] = x;
	os[0] = b->m->vals[x].shape[0];
	os[1] = M;
	os[2] = w->out[0];
	os[3] = w->out[1];
	s->out = new_rt(b, 4, os, b->m->vals[x].batched, L_NHWC);
	return bind_out(b, 0, xr == 3 ? as_1d(b, s->out) : s->out);
}

static int lower_conv(build *b)
{
	const cs__onnx_tensor *W = in_const(b, 1), *B = in_const(b, 2);
	int64_t group = attr_int(b->nd, "group", 1);
	xstep *s;
	win w;
	int x, rc;

	if ((rc = conv_in(b, W, &x)) != CS_OK)
		return rc;
	int32_t xr = b->m->vals[x].ndim;
	if (in_id(b, 2) >= 0 && (!B || !B->f || B->n != (size_t)W->dims[0]))
		return fail(b, CS_EUNSUPPORTED, "the bias must be a constant "
			    "of %lld floats", (long long)W->dims[0]);
	const xval *xv = &b->m->vals[x];
	int64_t M = W->dims[0], C = xv->shape[1];
	int64_t kdims[2] = {W->dims[2], xr == 4 ? W->dims[3] : 1};
	size_t nk;
	const int64_t *ks = attr_ints(b->nd, "kernel_shape", &nk);
	if (group <= 0 || C % group || M % group || W->dims[1] != C / group ||
	    (ks && nk == (size_t)(xr - 2) &&
	     (ks[0] != kdims[0] || (xr == 4 && ks[1] != kdims[1]))))
		return fail(b, CS_EFORMAT, "weights [%lld,%lld,%lld,...] do "
			    "not fit %lld input channels in %lld groups",
			    (long long)W->dims[0], (long long)W->dims[1],
			    (long long)W->dims[2], (long long)C,
			    (long long)group);
	/* kernel_shape may be absent: it is the weights' */
	cs__onnx_node tmp = *b->nd;
	cs__onnx_attr ka = {0};
	if (!ks) {
		cs__onnx_attr *attrs = malloc((tmp.n_attrs + 1) * sizeof *attrs);
		if (!attrs)
			return NOMEM(b);
		if (tmp.n_attrs)
			memcpy(attrs, tmp.attrs, tmp.n_attrs * sizeof *attrs);
		ka.name = (char *)"kernel_shape";
		ka.ints = kdims;
		ka.n_ints = (size_t)(xr - 2);
		attrs[tmp.n_attrs++] = ka;
		tmp.attrs = attrs;
		const cs__onnx_node *save = b->nd;
		b->nd = &tmp;
		rc = window(b, xv, false, &w);
		b->nd = save;
		free(attrs);
	} else {
		rc = window(b, xv, false, &w);
	}
	if (rc != CS_OK)
		return rc;
	if (xr == 3 && (x = as_2d(b, x)) < 0)
		return NOMEM(b);
	if ((x = to_nhwc(b, x)) < 0 || !(s = new_step(b, S_CONV)))
		return NOMEM(b);
	set_window(s, &w);
	s->groups = (uint32_t)group;
	s->gic = (size_t)(C / group);
	s->goc = (size_t)(M / group);
	/* [M, C/g, kh, kw] -> [M, kh, kw, C/g] (1-D: kh is 1) */
	size_t khw = (size_t)(kdims[0] * kdims[1]), gic = s->gic;
	if (!(s->w = malloc(W->n * sizeof *s->w)) ||
	    !(s->b = calloc((size_t)M, sizeof *s->b)))
		return NOMEM(b);
	for (size_t o = 0; o < (size_t)M; o++)
		for (size_t c = 0; c < gic; c++)
			for (size_t p = 0; p < khw; p++)
				s->w[(o * khw + p) * gic + c] =
					W->f[(o * gic + c) * khw + p];
	return conv_out(b, s, x, B, M, &w, xr);
}

/*
 * ConvTranspose: XNNPACK's deconvolution, whose "padding" crops the output
 * as ONNX's pads do and whose adjustment is ONNX's output_padding.
 */
static int lower_deconv(build *b)
{
	const cs__onnx_tensor *W = in_const(b, 1), *B = in_const(b, 2);
	int64_t group = attr_int(b->nd, "group", 1);
	const char *ap = attr_str(b->nd, "auto_pad", "NOTSET");
	size_t nk, ns, nd, np, nop, nos;
	const int64_t *ks = attr_ints(b->nd, "kernel_shape", &nk);
	const int64_t *st = attr_ints(b->nd, "strides", &ns);
	const int64_t *di = attr_ints(b->nd, "dilations", &nd);
	const int64_t *pa = attr_ints(b->nd, "pads", &np);
	const int64_t *opad = attr_ints(b->nd, "output_padding", &nop);
	const int64_t *oshape = attr_ints(b->nd, "output_shape", &nos);
	int64_t adj[2];
	xstep *s;
	win w;
	int x, rc;

	if ((rc = conv_in(b, W, &x)) != CS_OK)
		return rc;
	int32_t xr = b->m->vals[x].ndim;
	int sp = xr - 2;
	const xval *xv = &b->m->vals[x];
	int64_t C = xv->shape[1];
	if (group <= 0 || W->dims[0] != C || C % group)
		return fail(b, CS_EFORMAT, "weights [%lld,%lld,...] do not fit "
			    "%lld input channels in %lld groups",
			    (long long)W->dims[0], (long long)W->dims[1],
			    (long long)C, (long long)group);
	int64_t M = W->dims[1] * group;
	if (in_id(b, 2) >= 0 && (!B || !B->f || B->n != (size_t)M))
		return fail(b, CS_EUNSUPPORTED, "the bias must be a constant "
			    "of %lld floats", (long long)M);
	if ((ks && nk != (size_t)sp) || (st && ns != (size_t)sp) ||
	    (di && nd != (size_t)sp) || (pa && np != (size_t)(2 * sp)) ||
	    (opad && nop != (size_t)sp))
		return fail(b, CS_EUNSUPPORTED, "attributes of another rank "
			    "than the input's %d spatial dimensions", sp);
	if (oshape && nos != (size_t)sp)
		return fail(b, CS_EUNSUPPORTED, "output_shape of %zu values "
			    "(only the %d spatial ones are supported)", nos,
			    sp);
	if (strcmp(ap, "NOTSET") && strcmp(ap, "VALID") &&
	    strcmp(ap, "SAME_UPPER") && strcmp(ap, "SAME_LOWER"))
		return fail(b, CS_EUNSUPPORTED, "auto_pad '%s'", ap);
	for (int a = 0; a < 2; a++) {
		int j = sp == 2 ? a : a - 1; /* attribute index; -1: height 1 */
		int64_t in = sp == 2 ? xv->shape[2 + a] : a == 0 ? 1 : xv->shape[2];
		int64_t wk = sp == 2 ? W->dims[2 + a] : a == 0 ? 1 : W->dims[2];
		w.k[a] = j < 0 ? 1 : ks ? ks[j] : wk;
		w.s[a] = j < 0 || !st ? 1 : st[j];
		w.d[a] = j < 0 || !di ? 1 : di[j];
		w.pb[a] = j < 0 || !pa ? 0 : pa[j];
		w.pe[a] = j < 0 || !pa ? 0 : pa[j + sp];
		adj[a] = j < 0 || !opad ? 0 : opad[j];
		if (w.k[a] != wk)
			return fail(b, CS_EFORMAT, "kernel_shape differs from "
				    "the weights'");
		if (w.k[a] <= 0 || w.s[a] <= 0 || w.d[a] <= 0 ||
		    w.pb[a] < 0 || w.pe[a] < 0 || adj[a] < 0 ||
		    w.k[a] > 4096 || w.s[a] > 4096 || w.d[a] > 4096 ||
		    w.pb[a] > 4096 || w.pe[a] > 4096)
			return fail(b, CS_EUNSUPPORTED, "kernel, stride, "
				    "dilation or pads out of range");
		if (adj[a] >= w.s[a])
			return fail(b, CS_EUNSUPPORTED, "output_padding %lld "
				    "not below the stride %lld",
				    (long long)adj[a], (long long)w.s[a]);
		int64_t eff = (w.k[a] - 1) * w.d[a] + 1;
		int64_t full = w.s[a] * (in - 1) + adj[a] + eff;
		int64_t want = -1;
		if (oshape)
			want = j < 0 ? 1 : oshape[j];
		else if (ap[0] == 'S')
			want = in * w.s[a];
		if (want >= 0) {
			/*
			 * the pads follow from the output size; a larger one
			 * than the full output grows at the end (as
			 * output_padding)
			 */
			int64_t total = full - want;
			if (total < 0) {
				adj[a] -= total;
				full = want;
				total = 0;
				if (adj[a] >= w.s[a])
					return fail(b, CS_EUNSUPPORTED,
						    "output_shape %lld larger "
						    "than the full output by "
						    "the stride or more",
						    (long long)want);
			}
			bool upper = !strcmp(ap, "SAME_UPPER");
			w.pb[a] = upper ? total / 2 : total - total / 2;
			w.pe[a] = total - w.pb[a];
		} else if (!strcmp(ap, "VALID")) {
			w.pb[a] = w.pe[a] = 0;
		}
		w.out[a] = full - w.pb[a] - w.pe[a];
		if (w.out[a] <= 0)
			return fail(b, CS_EFORMAT, "the pads leave no output");
	}
	if (xr == 3 && (x = as_2d(b, x)) < 0)
		return NOMEM(b);
	if ((x = to_nhwc(b, x)) < 0 || !(s = new_step(b, S_DECONV)))
		return NOMEM(b);
	set_window(s, &w);
	s->adjh = (uint32_t)adj[0];
	s->adjw = (uint32_t)adj[1];
	s->groups = (uint32_t)group;
	s->gic = (size_t)(C / group);
	s->goc = (size_t)(M / group);
	/* [g*C/g, M/g, kh, kw] -> [g, M/g, kh, kw, C/g] */
	size_t khw = (size_t)(w.k[0] * w.k[1]), gic = s->gic, goc = s->goc;
	if (!(s->w = malloc(W->n * sizeof *s->w)) ||
	    !(s->b = calloc((size_t)M, sizeof *s->b)))
		return NOMEM(b);
	for (size_t g = 0; g < (size_t)group; g++)
		for (size_t o = 0; o < goc; o++)
			for (size_t p = 0; p < khw; p++)
				for (size_t c = 0; c < gic; c++)
					s->w[((g * goc + o) * khw + p) * gic + c] =
						W->f[((g * gic + c) * goc + o) *
						     khw + p];
	return conv_out(b, s, x, B, M, &w, xr);
}

/* ONNX's nearest rounding of a source coordinate. */
static int64_t nearest(double v, const char *mode)
{
	double fl = floor(v);

	if (!strcmp(mode, "floor"))
		return (int64_t)fl;
	if (!strcmp(mode, "ceil"))
		return (int64_t)ceil(v);
	if (v - fl == 0.5)
		return (int64_t)(!strcmp(mode, "round_prefer_ceil") ? fl + 1 : fl);
	return (int64_t)floor(v + 0.5);
}

/*
 * Resize (and Upsample, Resize-10: asymmetric, nearest rounding down) of
 * H and W of a 4-D NCHW value, by constant scales or sizes: "linear" by
 * XNNPACK's bilinear resize, "nearest" by a table of source rows and
 * columns made at load with ONNX's formula.
 */
static int lower_resize(build *b, bool upsample)
{
	bool legacy = upsample || b->g->opset < 11;
	const char *mode = attr_str(b->nd, "mode", "nearest");
	const char *ctm = legacy ? "asymmetric" :
		attr_str(b->nd, "coordinate_transformation_mode", "half_pixel");
	const char *nm = legacy ? "floor" :
		attr_str(b->nd, "nearest_mode", "round_prefer_floor");
	const cs__onnx_tensor *sc = NULL, *sz = NULL;
	const float *scales = NULL;
	double scale[4];
	int64_t os[4];
	xstep *s;
	int x, rc;

	if ((rc = rt_in(b, 0, &x)) != CS_OK)
		return rc;
	const xval *xv = &b->m->vals[x];
	if (xv->ndim != 4)
		return fail(b, CS_EUNSUPPORTED, "only a 4-D (NCHW) input, got "
			    "%d-D", (int)xv->ndim);
	bool linear = !strcmp(mode, "linear") || !strcmp(mode, "bilinear");
	if (!linear && strcmp(mode, "nearest"))
		return fail(b, CS_EUNSUPPORTED, "mode '%s' (linear and "
			    "nearest are supported)", mode);
	if (cs__onnx_attr_find(b->nd, "axes"))
		return fail(b, CS_EUNSUPPORTED, "the attribute axes");
	if (attr_int(b->nd, "antialias", 0))
		return fail(b, CS_EUNSUPPORTED, "antialias");
	if (strcmp(attr_str(b->nd, "keep_aspect_ratio_policy", "stretch"),
		   "stretch"))
		return fail(b, CS_EUNSUPPORTED, "keep_aspect_ratio_policy "
			    "'%s'", attr_str(b->nd, "keep_aspect_ratio_policy",
					     ""));
	size_t ks = legacy ? 1 : 2; /* the scales input */
	if (upsample && b->g->opset < 9) {
		const cs__onnx_attr *a = cs__onnx_attr_find(b->nd, "scales");
		if (!a || a->n_floats != 4)
			return fail(b, CS_EFORMAT, "the attribute scales must "
				    "have 4 values");
		scales = a->floats;
	} else {
		if (in_id(b, ks) >= 0 && !(sc = in_const(b, ks)))
			return fail(b, CS_EUNSUPPORTED, "the scales must be a "
				    "constant initializer");
		if (!legacy && in_id(b, 3) >= 0 && !(sz = in_const(b, 3)))
			return fail(b, CS_EUNSUPPORTED, "the sizes must be a "
				    "constant initializer");
		if (sc && sc->n == 0)
			sc = NULL;
		if (sz && sz->n == 0)
			sz = NULL;
		if (!sc == !sz)
			return fail(b, CS_EFORMAT, "needs either scales or "
				    "sizes");
		if ((sc && (!sc->f || sc->n != 4)) ||
		    (sz && (!sz->i || sz->n != 4)))
			return fail(b, CS_EFORMAT, "scales (floats) or sizes "
				    "(ints) of 4 values for a 4-D input");
		if (sc)
			scales = sc->f;
	}
	for (int a = 0; a < 4; a++) {
		int64_t in = xv->shape[a];
		if (sz) {
			/* a size from a folded Shape: the call's batch */
			os[a] = a == 0 && sz->i[a] == BATCH_SYM ? in : sz->i[a];
			scale[a] = (double)os[a] / (double)in;
		} else {
			scale[a] = scales[a];
			double o = (double)in * scale[a];
			os[a] = (int64_t)floor(o);
			if (!(scale[a] > 0) || o > 1e9)
				return fail(b, CS_EFORMAT, "scale %g", scale[a]);
			/*
			 * ONNX maps coordinates by the scale (and align_corners
			 * by in * scale), XNNPACK by the sizes: only the same
			 * when the scale gives a whole size
			 */
			if (o != (double)os[a] && (linear || a < 2))
				return fail(b, CS_EUNSUPPORTED, "the scale %g of "
					    "axis %d gives no whole size (%g)",
					    scale[a], a, o);
		}
		if (os[a] <= 0 || os[a] > 1000000)
			return fail(b, CS_EUNSUPPORTED, "output size %lld on "
				    "axis %d", (long long)os[a], a);
		if (a < 2 && os[a] != in)
			return fail(b, CS_EUNSUPPORTED, "resizing axis %d (only "
				    "H and W of NCHW)", a);
	}
	if ((x = to_nhwc(b, x)) < 0)
		return NOMEM(b);
	xv = &b->m->vals[x];
	if (linear) {
		uint32_t flags;
		if (!strcmp(ctm, "half_pixel"))
			flags = 0;
		else if (!strcmp(ctm, "pytorch_half_pixel") && os[2] > 1 &&
			 os[3] > 1)
			flags = 0; /* half_pixel but for a size of 1 */
		else if (!strcmp(ctm, "align_corners"))
			flags = XNN_FLAG_ALIGN_CORNERS;
		else if (!strcmp(ctm, "asymmetric"))
			flags = XNN_FLAG_TENSORFLOW_LEGACY_MODE;
		else
			return fail(b, CS_EUNSUPPORTED, "mode 'linear' with "
				    "coordinate_transformation_mode '%s'%s",
				    ctm, !strcmp(ctm, "pytorch_half_pixel")
				    ? " to a size of 1" : "");
		if (!(s = new_step(b, S_RESIZE)))
			return NOMEM(b);
		s->rflags = flags;
	} else {
		if (!strcmp(ctm, "tf_crop_and_resize"))
			return fail(b, CS_EUNSUPPORTED, "coordinate_"
				    "transformation_mode 'tf_crop_and_resize'");
		if (strcmp(nm, "round_prefer_floor") &&
		    strcmp(nm, "round_prefer_ceil") && strcmp(nm, "floor") &&
		    strcmp(nm, "ceil"))
			return fail(b, CS_EUNSUPPORTED, "nearest_mode '%s'", nm);
		if (legacy) {
			for (int a = 2; a < 4; a++)
				if (scale[a] != floor(scale[a]))
					return fail(b, CS_EUNSUPPORTED, "mode "
						    "'nearest' at opset %lld: "
						    "only whole scales",
						    (long long)b->g->opset);
		} else if (strcmp(ctm, "half_pixel") &&
			   strcmp(ctm, "pytorch_half_pixel") &&
			   strcmp(ctm, "align_corners") &&
			   strcmp(ctm, "asymmetric") &&
			   strcmp(ctm, "tf_half_pixel_for_nn")) {
			return fail(b, CS_EUNSUPPORTED, "coordinate_"
				    "transformation_mode '%s'", ctm);
		}
		if (!(s = new_step(b, S_RESIZE_NN)) ||
		    !(s->ridx = malloc((size_t)(os[2] + os[3]) *
				       sizeof *s->ridx)))
			return NOMEM(b);
		size_t *t = s->ridx;
		for (int a = 2; a < 4; a++) {
			int64_t in = xv->shape[a], out = os[a];
			/* ONNX's length of the output, before flooring */
			double lr = sz ? (double)out : (double)in * scale[a];
			for (int64_t y = 0; y < out; y++) {
				double v;
				if (!strcmp(ctm, "half_pixel"))
					v = (y + 0.5) / scale[a] - 0.5;
				else if (!strcmp(ctm, "pytorch_half_pixel"))
					v = out > 1 ? (y + 0.5) / scale[a] - 0.5
						    : 0;
				else if (!strcmp(ctm, "align_corners"))
					v = lr == 1 ? 0 : y * (double)(in - 1) /
							  (lr - 1);
				else if (!strcmp(ctm, "tf_half_pixel_for_nn"))
					v = (y + 0.5) / scale[a];
				else
					v = y / scale[a];
				int64_t i = nearest(v, nm);
				*t++ = (size_t)(i < 0 ? 0 : i >= in ? in - 1 : i);
			}
		}
	}
	s->in[0] = x;
	s->out = new_rt(b, 4, os, xv->batched, L_NHWC);
	return bind_out(b, 0, s->out);
}

/* The step producing value id, when its output may still be changed. */
static xstep *fusable(build *b, int id, int kinds)
{
	const xval *v = &b->m->vals[id];

	if (v->uses != 1 || v->output || v->root != id)
		return NULL;
	for (size_t k = b->m->n_steps; k-- > 0;) {
		xstep *s = &b->m->steps[k];
		if (s->out != id)
			continue;
		if (s->kind == S_BINARY && s->bop >= B_MAX)
			return NULL; /* maximum/minimum have no output range */
		return (kinds & (1 << s->kind)) ? s : NULL;
	}
	return NULL;
}

#define CLAMPABLE ((1 << S_CONV) | (1 << S_FC) | (1 << S_AVGPOOL) | \
		   (1 << S_GAP) | (1 << S_BINARY) | (1 << S_CLAMP) |    \
		   (1 << S_MAXPOOL) | (1 << S_DECONV))

static int lower_clamp(build *b, float lo, float hi)
{
	xstep *s;
	int x, rc;

	if ((rc = rt_in(b, 0, &x)) != CS_OK)
		return rc;
	if (lo > hi)
		return fail(b, CS_EUNSUPPORTED, "min %g above max %g",
			    (double)lo, (double)hi);
	if ((s = fusable(b, x, CLAMPABLE))) {
		s->omin = s->omin > lo ? s->omin : lo;
		s->omax = s->omax < hi ? s->omax : hi;
		if (s->omin > s->omax)
			s->omin = s->omax;
		b->m->vals[x].uses--; /* this node's use */
		return bind_out(b, 0, x);
	}
	if (!(s = new_step(b, S_CLAMP)))
		return NOMEM(b);
	s->omin = lo;
	s->omax = hi;
	s->in[0] = x;
	s->out = same_as(b, x);
	return bind_out(b, 0, s->out);
}

static int lower_clip(build *b)
{
	float lo = -INFINITY, hi = INFINITY;

	if (b->g->opset < 11) {
		lo = attr_float(b->nd, "min", lo);
		hi = attr_float(b->nd, "max", hi);
	} else {
		for (size_t k = 1; k <= 2; k++) {
			if (in_id(b, k) < 0)
				continue;
			const cs__onnx_tensor *t = in_const(b, k);
			if (!t || t->n != 1)
				return fail(b, CS_EUNSUPPORTED, "min and max "
					    "must be constant scalars");
			float v = t->f ? t->f[0] : (float)t->i[0];
			if (k == 1)
				lo = v;
			else
				hi = v;
		}
	}
	return lower_clamp(b, lo, hi);
}

/* Unary ops that keep the shape and the layout: one step. */
static int lower_unary(build *b, int kind, int uop, float alpha)
{
	xstep *s;
	int x, rc;

	if ((rc = rt_in(b, 0, &x)) != CS_OK)
		return rc;
	if (!(s = new_step(b, kind)))
		return NOMEM(b);
	s->uop = uop;
	s->alpha = attr_float(b->nd, "alpha", alpha);
	s->in[0] = x;
	s->out = same_as(b, x);
	return bind_out(b, 0, s->out);
}

/* Permutes a constant's logical NCHW (rank <= 4, right-aligned) to NHWC. */
static int const_to_nhwc(build *b, const cs__onnx_tensor *c, xstep *s)
{
	int64_t d[4] = {1, 1, 1, 1};

	if (c->ndim > 4)
		return fail(b, CS_EUNSUPPORTED, "a %d-D constant against a "
			    "4-D value", (int)c->ndim);
	for (int32_t k = 0; k < c->ndim; k++)
		d[4 - c->ndim + k] = c->dims[k];
	size_t N = (size_t)d[0], C = (size_t)d[1], HW = (size_t)(d[2] * d[3]);
	for (size_t n = 0; n < N; n++)
		for (size_t ch = 0; ch < C; ch++)
			for (size_t p = 0; p < HW; p++)
				s->cdata[(n * HW + p) * C + ch] =
					c->f[(n * C + ch) * HW + p];
	s->cndim = 4;
	s->cshape[0] = (size_t)d[0];
	s->cshape[1] = (size_t)d[2];
	s->cshape[2] = (size_t)d[3];
	s->cshape[3] = (size_t)d[1];
	return CS_OK;
}

static int lower_binary(build *b, int bop)
{
	int x = in_id(b, 0), y = in_id(b, 1), rc;
	int64_t os[XMAXD];
	int32_t on;
	xstep *s;

	if (x < 0 || y < 0)
		return fail(b, CS_EFORMAT, "an input is not defined before "
			    "the node");
	xval *xv = &b->m->vals[x], *yv = &b->m->vals[y];
	if ((rc = broadcast_shape(b, xv->ndim, xv->shape, yv->ndim, yv->shape,
				  &on, os)) != CS_OK)
		return rc;
	bool batched = (!xv->is_const && xv->batched) ||
		       (!yv->is_const && yv->batched);
	bool const_first = xv->is_const;
	if (batched) {
		/* the batch must stay dimension 0 and not meet a fixed size */
		for (int k = 0; k < 2; k++) {
			const xval *v = k ? yv : xv;
			bool is_b = !v->is_const && v->batched;
			if (!is_b && v->ndim == on && v->shape[0] != 1)
				return fail(b, CS_EUNSUPPORTED, "broadcasts a "
					    "fixed dimension 0 against the "
					    "batch");
			if (is_b && v->ndim != on)
				return fail(b, CS_EUNSUPPORTED, "broadcasts "
					    "the batch into another dimension");
		}
	}
	int layout = L_PLAIN, r = -1;
	const cs__onnx_tensor *c = NULL;
	if (xv->is_const || yv->is_const) {
		r = xv->is_const ? y : x;
		c = xv->is_const ? xv->c : yv->c;
		if (!c->f)
			return fail(b, CS_EUNSUPPORTED, "an integer constant");
		int lay = b->m->vals[r].layout;
		if ((lay == L_FLAT || (lay == L_NHWC && on != 4)) &&
		    (r = to_plain(b, r)) < 0)
			return NOMEM(b);
		layout = b->m->vals[r].layout;
	} else if (on == 4 && xv->ndim == 4 && yv->ndim == 4 &&
		   (xv->layout == L_NHWC || yv->layout == L_NHWC)) {
		/* both computed: one layout, NHWC when both are 4-D */
		x = to_nhwc(b, x);
		y = to_nhwc(b, y);
		layout = L_NHWC;
	} else {
		x = to_plain(b, x);
		y = to_plain(b, y);
	}
	if (x < 0 || y < 0 || !(s = new_step(b, S_BINARY)))
		return NOMEM(b);
	s->bop = bop;
	if (c) {
		if (!(s->cdata = malloc((c->n ? c->n : 1) * sizeof *s->cdata)))
			return NOMEM(b);
		if (layout == L_NHWC) {
			if ((rc = const_to_nhwc(b, c, s)) != CS_OK)
				return rc;
		} else if (c->ndim == 0) {
			s->cdata[0] = c->f[0];
			s->cndim = 1;
			s->cshape[0] = 1;
		} else {
			memcpy(s->cdata, c->f, c->n * sizeof *s->cdata);
			s->cndim = c->ndim;
			for (int32_t k = 0; k < c->ndim; k++)
				s->cshape[k] = (size_t)c->dims[k];
		}
		s->in[const_first ? 1 : 0] = r;
		s->in[const_first ? 0 : 1] = -1;
	} else {
		s->in[0] = x;
		s->in[1] = y;
	}
	s->out = new_rt(b, on, os, batched, layout);
	return bind_out(b, 0, s->out);
}

static int lower_pool(build *b, int kind)
{
	bool avg = kind == S_AVGPOOL;
	int64_t os[4];
	xstep *s;
	win w;
	int x, rc;

	if ((rc = rt_in(b, 0, &x)) != CS_OK)
		return rc;
	if (b->nd->n_outputs > 1 && b->nd->outputs[1][0])
		return fail(b, CS_EUNSUPPORTED, "the Indices output");
	if ((rc = window(b, &b->m->vals[x], true, &w)) != CS_OK)
		return rc;
	if (avg && (w.d[0] != 1 || w.d[1] != 1))
		return fail(b, CS_EUNSUPPORTED, "dilations");
	bool one_d = b->m->vals[x].ndim == 3;
	if ((one_d && (x = as_2d(b, x)) < 0) || (x = to_nhwc(b, x)) < 0)
		return NOMEM(b);
	const xval *xv = &b->m->vals[x];
	bool inc = avg && attr_int(b->nd, "count_include_pad", 0) != 0;
	if (inc && (w.pb[0] || w.pb[1] || w.pe[0] || w.pe[1])) {
		/* padding counted: pad with zeros first, then pool */
		int64_t ps[4] = {xv->shape[0], xv->shape[1],
				 xv->shape[2] + w.pb[0] + w.pe[0],
				 xv->shape[3] + w.pb[1] + w.pe[1]};
		bool ceil_mode = attr_int(b->nd, "ceil_mode", 0) != 0;
		if (ceil_mode)
			return fail(b, CS_EUNSUPPORTED, "ceil_mode with "
				    "count_include_pad");
		if (!(s = new_step(b, S_PAD)))
			return NOMEM(b);
		s->in[0] = x;
		s->pre[1] = (size_t)w.pb[0];
		s->pre[2] = (size_t)w.pb[1];
		s->post[1] = (size_t)w.pe[0];
		s->post[2] = (size_t)w.pe[1];
		x = s->out = new_rt(b, 4, ps, xv->batched, L_NHWC);
		if (x < 0)
			return NOMEM(b);
		w.pb[0] = w.pb[1] = w.pe[0] = w.pe[1] = 0;
		xv = &b->m->vals[x];
	}
	if (!(s = new_step(b, kind)))
		return NOMEM(b);
	set_window(s, &w);
	s->in[0] = x;
	os[0] = xv->shape[0];
	os[1] = xv->shape[1];
	os[2] = w.out[0];
	os[3] = w.out[1];
	s->out = new_rt(b, 4, os, xv->batched, L_NHWC);
	return bind_out(b, 0, one_d ? as_1d(b, s->out) : s->out);
}

/* GlobalAveragePool, or GlobalMaxPool as a max pool over the whole plane. */
static int lower_gap(build *b, bool max)
{
	int64_t os[4];
	xstep *s;
	int x, rc;

	if ((rc = rt_in(b, 0, &x)) != CS_OK)
		return rc;
	if (b->m->vals[x].ndim != 4)
		return fail(b, CS_EUNSUPPORTED, "only a 4-D input");
	if ((x = to_nhwc(b, x)) < 0 || !(s = new_step(b, max ? S_MAXPOOL : S_GAP)))
		return NOMEM(b);
	const xval *xv = &b->m->vals[x];
	if (max) {
		s->kh = (uint32_t)xv->shape[2];
		s->kw = (uint32_t)xv->shape[3];
		s->sh = s->sw = s->dh = s->dw = 1;
	}
	s->in[0] = x;
	os[0] = xv->shape[0];
	os[1] = xv->shape[1];
	os[2] = os[3] = 1;
	s->out = new_rt(b, 4, os, xv->batched, L_NHWC);
	return bind_out(b, 0, s->out);
}

/* Gemm and MatMul with a constant right-hand side: one fully connected. */
static int lower_fc(build *b, bool gemm)
{
	const cs__onnx_tensor *B = in_const(b, 1), *C = NULL;
	bool tb = gemm && attr_int(b->nd, "transB", 0) != 0;
	float alpha = gemm ? attr_float(b->nd, "alpha", 1.0f) : 1.0f;
	float beta = gemm ? attr_float(b->nd, "beta", 1.0f) : 1.0f;
	int64_t os[XMAXD];
	xstep *s;
	int x, rc;

	if ((rc = rt_in(b, 0, &x)) != CS_OK)
		return rc;
	if (gemm && attr_int(b->nd, "transA", 0)) {
		/* A^T by the engine's transpose: A's rows are not the batch */
		xval *av;
		xstep *t;
		int64_t ts[2];
		if ((x = to_plain(b, x)) < 0)
			return NOMEM(b);
		av = &b->m->vals[x];
		if (av->ndim != 2 || av->batched)
			return fail(b, CS_EUNSUPPORTED, "transA on a batched "
				    "or non-2-D A");
		ts[0] = av->shape[1];
		ts[1] = av->shape[0];
		if (!(t = new_step(b, S_TRANSPOSE)))
			return NOMEM(b);
		t->perm[0] = 1;
		t->perm[1] = 0;
		t->in[0] = x;
		if ((t->out = x = new_rt(b, 2, ts, false, L_PLAIN)) < 0)
			return NOMEM(b);
	}
	if (!B || !B->f || B->ndim != 2)
		return fail(b, CS_EUNSUPPORTED, "the second operand must be a "
			    "constant 2-D float tensor");
	xval *xv = &b->m->vals[x];
	int64_t K = tb ? B->dims[1] : B->dims[0];
	int64_t N = tb ? B->dims[0] : B->dims[1];
	if ((gemm && xv->ndim != 2) || xv->ndim < 2 ||
	    xv->shape[xv->ndim - 1] != K)
		return fail(b, CS_EFORMAT, "a [..,%lld] input for a "
			    "[%lld,%lld] operand", (long long)K,
			    (long long)B->dims[0], (long long)B->dims[1]);
	if (gemm && in_id(b, 2) >= 0) {
		C = in_const(b, 2);
		if (!C || !C->f || !(C->n == 1 || C->n == (size_t)N) ||
		    (C->ndim == 2 && C->dims[0] != 1))
			return fail(b, CS_EUNSUPPORTED, "C must be a constant "
				    "of 1 or %lld floats", (long long)N);
	}
	if (xv->layout == L_NHWC && (x = to_plain(b, x)) < 0)
		return NOMEM(b);
	xv = &b->m->vals[x];
	if (!(s = new_step(b, S_FC)))
		return NOMEM(b);
	s->k_in = (size_t)K;
	s->n_out = (size_t)N;
	if (!(s->w = malloc((size_t)(K * N) * sizeof *s->w)) ||
	    !(s->b = calloc((size_t)N, sizeof *s->b)))
		return NOMEM(b);
	/* [N, K] for XNNPACK; a flattened NHWC input reorders K as H, W, C */
	bool flat = xv->layout == L_FLAT;
	size_t fc = flat ? (size_t)xv->fc : 0, hw = flat ?
		    (size_t)(xv->fh * xv->fw) : 0;
	for (size_t n = 0; n < (size_t)N; n++) {
		for (size_t k = 0; k < (size_t)K; k++) {
			float v = tb ? B->f[n * (size_t)K + k]
				     : B->f[k * (size_t)N + n];
			size_t kk = flat ? (k % hw) * fc + k / hw : k;
			s->w[n * (size_t)K + kk] = alpha * v;
		}
		if (C)
			s->b[n] = beta * C->f[C->n == 1 ? 0 : n];
	}
	s->in[0] = x;
	memcpy(os, xv->shape, sizeof os);
	os[xv->ndim - 1] = N;
	s->out = new_rt(b, xv->ndim, os, xv->batched, L_PLAIN); /* args first */
	return bind_out(b, 0, s->out);
}

static int lower_batchnorm(build *b)
{
	const cs__onnx_tensor *sc = in_const(b, 1), *bi = in_const(b, 2);
	const cs__onnx_tensor *me = in_const(b, 3), *va = in_const(b, 4);
	float eps = attr_float(b->nd, "epsilon", 1e-5f);
	xstep *s;
	int x, rc;

	if ((rc = rt_in(b, 0, &x)) != CS_OK)
		return rc;
	if (b->nd->n_outputs > 1 && b->nd->outputs[1][0])
		return fail(b, CS_EUNSUPPORTED, "training mode outputs");
	const xval *xv = &b->m->vals[x];
	size_t C = xv->ndim >= 2 ? (size_t)xv->shape[1] : 0;
	if (!sc || !bi || !me || !va || !sc->f || !bi->f || !me->f ||
	    !va->f || sc->n != C || bi->n != C || me->n != C || va->n != C ||
	    C == 0)
		return fail(b, CS_EUNSUPPORTED, "scale, B, mean and var must "
			    "be constants of %zu floats", C);
	float *mul = malloc(C * sizeof *mul), *add = malloc(C * sizeof *add);
	if (!mul || !add) {
		free(mul);
		free(add);
		return NOMEM(b);
	}
	for (size_t c = 0; c < C; c++) {
		mul[c] = sc->f[c] / sqrtf(va->f[c] + eps);
		add[c] = bi->f[c] - me->f[c] * mul[c];
	}
	/* folded into the Conv before it */
	if ((s = fusable(b, x, 1 << S_CONV)) && s->omin == -INFINITY &&
	    s->omax == INFINITY) {
		size_t per = s->w ? (size_t)s->kh * s->kw * s->gic : 0;
		for (size_t o = 0; o < C; o++) {
			for (size_t k = 0; k < per; k++)
				s->w[o * per + k] *= mul[o];
			s->b[o] = s->b[o] * mul[o] + add[o];
		}
		free(mul);
		free(add);
		b->m->vals[x].uses--; /* this node's use */
		return bind_out(b, 0, x);
	}
	if (xv->ndim == 4) {
		/* a depthwise 1x1 convolution */
		if ((x = to_nhwc(b, x)) < 0 || !(s = new_step(b, S_CONV))) {
			free(mul);
			free(add);
			return NOMEM(b);
		}
		s->kh = s->kw = s->sh = s->sw = s->dh = s->dw = 1;
		s->groups = (uint32_t)C;
		s->gic = s->goc = 1;
		s->w = mul;
		s->b = add;
		s->in[0] = x;
		const xval *v = &b->m->vals[x];
		s->out = new_rt(b, 4, v->shape, v->batched, L_NHWC);
		return bind_out(b, 0, s->out);
	}
	/* other ranks: x * mul + add, the constants along dimension 1 */
	if ((x = to_plain(b, x)) < 0) {
		free(mul);
		free(add);
		return NOMEM(b);
	}
	float *k[2] = {mul, add};
	for (int i = 0; i < 2; i++) {
		int32_t r = b->m->vals[x].ndim;
		if (!(s = new_step(b, S_BINARY))) {
			free(k[i]);
			if (i == 0)
				free(add);
			return NOMEM(b);
		}
		s->bop = i ? B_ADD : B_MUL;
		s->cdata = k[i];
		s->cndim = r - 1;
		s->cshape[0] = C;
		for (int32_t d = 1; d < r - 1; d++)
			s->cshape[d] = 1;
		s->in[0] = x;
		s->in[1] = -1;
		s = &b->m->steps[b->m->n_steps - 1];
		if ((s->out = same_as(b, x)) < 0) {
			if (i == 0)
				free(add);
			return NOMEM(b);
		}
		x = s->out;
	}
	return bind_out(b, 0, x);
}

static int lower_flatten(build *b)
{
	int64_t axis = attr_int(b->nd, "axis", 1), os[2];
	int x, rc, r;

	if ((rc = rt_in(b, 0, &x)) != CS_OK)
		return rc;
	xval *xv = &b->m->vals[x];
	if (axis < 0)
		axis += xv->ndim;
	if (axis < 0 || axis > xv->ndim)
		return fail(b, CS_EFORMAT, "axis out of range");
	os[0] = numel((int32_t)axis, xv->shape);
	os[1] = numel(xv->ndim - (int32_t)axis, xv->shape + axis);
	bool batched = xv->batched && axis >= 1;
	if (xv->batched && axis == 0)
		b->m->batchable = false;
	if (xv->layout == L_NHWC && axis == 1 && !layout_free(xv)) {
		r = alias(b, x, 2, os, batched, L_FLAT);
		if (r >= 0) {
			xv = &b->m->vals[x];
			b->m->vals[r].fc = xv->shape[1];
			b->m->vals[r].fh = xv->shape[2];
			b->m->vals[r].fw = xv->shape[3];
		}
		return bind_out(b, 0, r);
	}
	if ((x = to_plain(b, x)) < 0)
		return NOMEM(b);
	return bind_out(b, 0, alias(b, x, 2, os, batched, L_PLAIN));
}

static int lower_reshape(build *b)
{
	const cs__onnx_tensor *sh = const_ints(b, 1);
	bool allowzero = attr_int(b->nd, "allowzero", 0) != 0;
	int64_t os[XMAXD], known = 1;
	int x, rc, infer = -1;

	if ((rc = rt_in(b, 0, &x)) != CS_OK)
		return rc;
	if (b->g->opset < 5)
		return fail(b, CS_EUNSUPPORTED, "opset %lld Reshape",
			    (long long)b->g->opset);
	if (!sh || sh->ndim != 1)
		return fail(b, CS_EUNSUPPORTED, "the shape is not a constant "
			    "(a dynamic shape the engine cannot plan)");
	if (sh->n > XMAXD)
		return fail(b, CS_EUNSUPPORTED, "more than %d dimensions",
			    XMAXD);
	xval *xv = &b->m->vals[x];
	int64_t total = numel(xv->ndim, xv->shape);
	bool batched = false;
	for (size_t k = 0; k < sh->n; k++) {
		int64_t d = sh->i[k];
		if (d == BATCH_SYM) {
			if (k != 0 || !xv->batched)
				return fail(b, CS_EUNSUPPORTED, "moves the "
					    "batch size to dimension %zu", k);
			d = 1;
			batched = true;
		} else if (d == 0 && !allowzero) {
			if ((int32_t)k >= xv->ndim)
				return fail(b, CS_EFORMAT, "copies a missing "
					    "dimension");
			d = xv->shape[k];
			if (k == 0 && xv->batched)
				batched = true;
		} else if (d == -1) {
			if (infer >= 0)
				return fail(b, CS_EFORMAT, "two -1");
			infer = (int)k;
			d = 1;
		} else if (d < 0) {
			return fail(b, CS_EFORMAT, "dimension %lld",
				    (long long)d);
		}
		os[k] = d;
		known *= d;
	}
	if (infer >= 0) {
		if (known == 0 || total % known)
			return fail(b, CS_EFORMAT, "cannot infer -1");
		os[infer] = total / known;
		if (infer == 0 && xv->batched &&
		    numel((int32_t)sh->n - 1, os + 1) ==
			    total / (xv->shape[0] ? xv->shape[0] : 1))
			batched = true;
	}
	if (numel((int32_t)sh->n, os) != total)
		return fail(b, CS_EFORMAT, "%lld elements into another count",
			    (long long)total);
	if (xv->batched && !batched)
		b->m->batchable = false; /* the graph fixed its batch size */
	if ((x = to_plain(b, x)) < 0)
		return NOMEM(b);
	return bind_out(b, 0, alias(b, x, (int32_t)sh->n, os, batched,
				    L_PLAIN));
}

static int lower_squeeze(build *b, bool unsqueeze)
{
	int64_t os[XMAXD];
	int32_t on;
	int x, rc;

	if ((rc = rt_in(b, 0, &x)) != CS_OK)
		return rc;
	xval *xv = &b->m->vals[x];
	if ((rc = squeeze_shape(b, unsqueeze, xv->ndim, xv->shape, &on,
				os)) != CS_OK)
		return rc;
	xv = &b->m->vals[x];
	/* the batch stays dimension 0 unless an axis 0 is added or removed */
	const int64_t *axes;
	size_t na;
	bool touches0 = false;
	if ((rc = get_axes(b, &axes, &na)) != CS_OK)
		return rc;
	xv = &b->m->vals[x];
	for (size_t k = 0; k < na; k++)
		touches0 |= axes[k] == 0 ||
			    axes[k] == -(int64_t)(unsqueeze ? on : xv->ndim);
	bool batched = xv->batched && !touches0;
	if (!unsqueeze && na == 0 && xv->batched)
		return fail(b, CS_EUNSUPPORTED, "squeezes without axes a "
			    "batched value");
	if (xv->batched && !batched)
		b->m->batchable = false;
	if ((x = to_plain(b, x)) < 0)
		return NOMEM(b);
	return bind_out(b, 0, alias(b, x, on, os, batched, L_PLAIN));
}

static int lower_softmax(build *b)
{
	int64_t axis = attr_int(b->nd, "axis", b->g->opset < 13 ? 1 : -1);
	xstep *s;
	int x, rc;

	if ((rc = rt_in(b, 0, &x)) != CS_OK)
		return rc;
	xval *xv = &b->m->vals[x];
	if (normalize_axis(&axis, xv->ndim))
		return fail(b, CS_EFORMAT, "axis out of range");
	if (axis == 0 && xv->batched)
		return fail(b, CS_EUNSUPPORTED, "across the batch");
	bool trailing_ones = true;
	for (int32_t d = (int32_t)axis + 1; d < xv->ndim; d++)
		trailing_ones &= xv->shape[d] == 1;
	if (xv->layout == L_NHWC && axis == 1 &&
	    (b->g->opset >= 13 || trailing_ones)) {
		if (!(s = new_step(b, S_SOFTMAX)))
			return NOMEM(b);
		s->channels = (size_t)xv->shape[1];
	} else {
		if (b->g->opset >= 13 && !trailing_ones)
			return fail(b, CS_EUNSUPPORTED, "axis %lld is not the "
				    "last", (long long)axis);
		if ((x = to_plain(b, x)) < 0 || !(s = new_step(b, S_SOFTMAX)))
			return NOMEM(b);
		xv = &b->m->vals[x];
		s->channels = (size_t)numel(xv->ndim - (int32_t)axis,
					    xv->shape + axis);
	}
	xv = &b->m->vals[x];
	s->in[0] = x;
	s->out = new_rt(b, xv->ndim, xv->shape, xv->batched, xv->layout);
	return bind_out(b, 0, s->out);
}

static int lower_pad(build *b)
{
	const char *mode = attr_str(b->nd, "mode", "constant");
	const int64_t *pads;
	size_t np;
	float value = 0;
	int64_t os[XMAXD];
	xstep *s;
	int x, rc;

	if ((rc = rt_in(b, 0, &x)) != CS_OK)
		return rc;
	if (strcmp(mode, "constant"))
		return fail(b, CS_EUNSUPPORTED, "mode '%s'", mode);
	if (b->g->opset < 11) {
		pads = attr_ints(b->nd, "pads", &np);
		value = attr_float(b->nd, "value", 0);
	} else {
		const cs__onnx_tensor *p = const_ints(b, 1), *v = in_const(b, 2);
		if (!p || in_id(b, 3) >= 0 || (in_id(b, 2) >= 0 && (!v || v->n != 1 || !v->f)))
			return fail(b, CS_EUNSUPPORTED, "pads and value must be "
				    "constants, without axes");
		pads = p->i;
		np = p->n;
		value = v ? v->f[0] : 0;
	}
	xval *xv = &b->m->vals[x];
	int32_t r = xv->ndim;
	if (!pads || np != (size_t)(2 * r))
		return fail(b, CS_EFORMAT, "%zu pads for %d dimensions", np,
			    (int)r);
	for (int32_t d = 0; d < r; d++) {
		if (pads[d] < 0 || pads[d + r] < 0 || pads[d] > 65536 ||
		    pads[d + r] > 65536)
			return fail(b, CS_EUNSUPPORTED, "negative or huge pads");
		if (d == 0 && xv->batched && (pads[0] || pads[r]))
			return fail(b, CS_EUNSUPPORTED, "pads the batch");
		os[d] = xv->shape[d] + pads[d] + pads[d + r];
	}
	if (xv->layout == L_FLAT && (x = to_plain(b, x)) < 0)
		return NOMEM(b);
	xv = &b->m->vals[x];
	if (!(s = new_step(b, S_PAD)))
		return NOMEM(b);
	static const int nhwc[4] = {0, 2, 3, 1}; /* physical dim -> logical */
	for (int32_t d = 0; d < r; d++) {
		int32_t l = xv->layout == L_NHWC ? nhwc[d] : d;
		s->pre[d] = (size_t)pads[l];
		s->post[d] = (size_t)pads[l + r];
	}
	s->padv = value;
	s->in[0] = x;
	s->out = new_rt(b, r, os, xv->batched, xv->layout);
	return bind_out(b, 0, s->out);
}

static int lower_concat(build *b)
{
	int64_t axis = attr_int(b->nd, "axis", 1), os[XMAXD];
	size_t n = b->nd->n_inputs;
	bool all_nhwc = true;
	xstep *s;
	int *ins;
	int rc;

	if (n == 0)
		return fail(b, CS_EFORMAT, "no inputs");
	if (!(ins = calloc(n, sizeof *ins)))
		return NOMEM(b);
	for (size_t k = 0; k < n; k++) {
		if ((rc = rt_in(b, k, &ins[k])) != CS_OK) {
			free(ins);
			return rc;
		}
		all_nhwc &= b->m->vals[ins[k]].layout == L_NHWC;
	}
	const xval *v0 = &b->m->vals[ins[0]];
	if (normalize_axis(&axis, v0->ndim) || (axis == 0 && v0->batched)) {
		free(ins);
		return fail(b, CS_EUNSUPPORTED, "axis %lld", (long long)axis);
	}
	memcpy(os, v0->shape, sizeof os);
	os[axis] = 0;
	bool batched = v0->batched;
	for (size_t k = 0; k < n; k++) {
		const xval *v = &b->m->vals[ins[k]];
		for (int32_t d = 0; d < v0->ndim; d++)
			if (v->ndim != v0->ndim ||
			    (d != axis && v->shape[d] != v0->shape[d])) {
				free(ins);
				return fail(b, CS_EFORMAT, "inputs of different "
					    "shapes");
			}
		if (v->batched != batched) {
			free(ins);
			return fail(b, CS_EUNSUPPORTED, "a batched and a fixed "
				    "input");
		}
		os[axis] += v->shape[axis];
	}
	bool nhwc = all_nhwc && axis == 1;
	int32_t rank = v0->ndim;
	for (size_t k = 0; k < n && !nhwc; k++)
		if ((ins[k] = to_plain(b, ins[k])) < 0) {
			free(ins);
			return NOMEM(b);
		}
	if (!(s = new_step(b, S_CONCAT))) {
		free(ins);
		return NOMEM(b);
	}
	s->ins = ins;
	s->n_ins = n;
	s->axis = nhwc ? 3 : (int)axis;
	s->out = new_rt(b, rank, os, batched, nhwc ? L_NHWC : L_PLAIN);
	return bind_out(b, 0, s->out);
}

/* Identity, Dropout (inference), Cast to float of a float: same value. */
static int lower_identity(build *b)
{
	int x, rc;

	if ((rc = rt_in(b, 0, &x)) != CS_OK)
		return rc;
	if (b->nd->n_outputs > 1 && b->nd->outputs[1][0])
		return fail(b, CS_EUNSUPPORTED, "the mask output");
	if (!strcmp(b->nd->op_type, "Dropout") && in_id(b, 2) >= 0) {
		const cs__onnx_tensor *t = in_const(b, 2);
		if (!t || t->n != 1 || (t->i ? t->i[0] : t->f[0] != 0))
			return fail(b, CS_EUNSUPPORTED, "training mode");
	}
	if (attr_int(b->nd, "is_test", 1) == 0 && b->g->opset < 7)
		return fail(b, CS_EUNSUPPORTED, "training mode");
	if (!strcmp(b->nd->op_type, "Cast") &&
	    attr_int(b->nd, "to", 0) != 1)
		return fail(b, CS_EUNSUPPORTED, "a cast to type %lld (the "
			    "engine computes FP32)",
			    (long long)attr_int(b->nd, "to", 0));
	return bind_out(b, 0, x);
}

/* PRelu with constant slopes, one per channel (or one for all). */
static int lower_prelu(build *b)
{
	const cs__onnx_tensor *sl = in_const(b, 1);
	xstep *s;
	int x, rc;

	if ((rc = rt_in(b, 0, &x)) != CS_OK)
		return rc;
	if (!sl || !sl->f || sl->ndim > b->m->vals[x].ndim)
		return fail(b, CS_EUNSUPPORTED, "the slope must be a constant "
			    "of at most the input's rank");
	/* the slope's one dimension that is not 1, right-aligned */
	const xval *xv = &b->m->vals[x];
	int32_t at = -1;
	for (int32_t d = 0; d < sl->ndim; d++)
		if (sl->dims[d] != 1)
			at = at == -1 ? d + (xv->ndim - sl->ndim) : -2;
	size_t C = 1;
	if (at >= 0 && xv->ndim == 4 && at == 1) {
		x = to_nhwc(b, x); /* per channel: NHWC has it last */
	} else if (at >= 0 && at == xv->ndim - 1) {
		x = to_plain(b, x);
	} else if (at != -1 || sl->n != 1) {
		return fail(b, CS_EUNSUPPORTED, "the slope must be one value, or "
			    "one per channel (dimension 1 of a 4-D value) or "
			    "per element of the last dimension");
	} /* else one slope for all: any layout */
	if (x < 0)
		return NOMEM(b);
	xv = &b->m->vals[x];
	if (at >= 0)
		C = (size_t)xv->shape[at];
	if (at >= 0 && sl->n != C)
		return fail(b, CS_EFORMAT, "%zu slopes for %zu channels", sl->n, C);
	if (!(s = new_step(b, S_PRELU)) ||
	    !(s->cdata = malloc(C * sizeof *s->cdata)))
		return NOMEM(b);
	for (size_t c = 0; c < C; c++)
		s->cdata[c] = sl->f[sl->n == 1 ? 0 : c];
	s->channels = C;
	s->in[0] = x;
	s->out = same_as(b, x);
	return bind_out(b, 0, s->out);
}

/* ReduceMean over H and W of a 4-D value: a global average pool. */
static int lower_reduce_mean(build *b)
{
	const int64_t *axes;
	size_t na;
	bool keep = attr_int(b->nd, "keepdims", 1) != 0;
	int x, rc;

	if ((rc = rt_in(b, 0, &x)) != CS_OK)
		return rc;
	if ((rc = get_axes(b, &axes, &na)) != CS_OK)
		return rc;
	const xval *xv = &b->m->vals[x];
	bool hw = xv->ndim == 4 && na == 2;
	for (size_t k = 0; hw && k < na; k++) {
		int64_t a = axes[k] < 0 ? axes[k] + 4 : axes[k];
		hw = a == 2 || a == 3;
	}
	if (!hw || axes[0] == axes[1] || (axes[0] < 0 ? axes[0] + 4 : axes[0]) ==
					     (axes[1] < 0 ? axes[1] + 4 : axes[1]))
		return fail(b, CS_EUNSUPPORTED, "only over the two spatial axes "
			    "of a 4-D value");
	if (keep)
		return lower_gap(b, false);
	/* the pool, then [N, C] */
	int64_t os[4] = {xv->shape[0], xv->shape[1], 1, 1};
	bool batched = xv->batched;
	xstep *s;
	if ((x = to_nhwc(b, x)) < 0 || !(s = new_step(b, S_GAP)))
		return NOMEM(b);
	s->in[0] = x;
	s->out = new_rt(b, 4, os, batched, L_NHWC);
	if (s->out < 0)
		return NOMEM(b);
	return bind_out(b, 0, alias(b, s->out, 2, os, batched, L_PLAIN));
}

static int lower_transpose(build *b)
{
	size_t np;
	const int64_t *perm = attr_ints(b->nd, "perm", &np);
	int64_t os[XMAXD];
	bool seen[XMAXD] = {false};
	xstep *s;
	int x, rc;

	if ((rc = rt_in(b, 0, &x)) != CS_OK)
		return rc;
	if ((x = to_plain(b, x)) < 0)
		return NOMEM(b);
	const xval *xv = &b->m->vals[x];
	int32_t r = xv->ndim;
	if (perm && np != (size_t)r)
		return fail(b, CS_EFORMAT, "perm has %zu entries for %d "
			    "dimensions", np, (int)r);
	if (!(s = new_step(b, S_TRANSPOSE)))
		return NOMEM(b);
	for (int32_t k = 0; k < r; k++) {
		int64_t p = perm ? perm[k] : r - 1 - k;
		if (p < 0 || p >= r || seen[p])
			return fail(b, CS_EFORMAT, "perm is not a permutation");
		seen[p] = true;
		s->perm[k] = (int)p;
		os[k] = xv->shape[p];
	}
	if (xv->batched && r > 0 && s->perm[0] != 0)
		return fail(b, CS_EUNSUPPORTED, "moves the batch dimension");
	s->in[0] = x;
	s->out = new_rt(b, r, os, xv->batched, L_PLAIN);
	return bind_out(b, 0, s->out);
}

static int lower_node(build *b)
{
	const char *op = b->nd->op_type;
	bool all_const = true;

	if (b->nd->domain[0] && strcmp(b->nd->domain, "ai.onnx"))
		return fail(b, CS_EUNSUPPORTED, "domain '%s' is not supported "
			    "by the xnnpack engine", b->nd->domain);
	if (b->nd->n_outputs == 0)
		return fail(b, CS_EFORMAT, "no outputs");
	for (size_t k = 0; k < b->nd->n_inputs; k++) {
		if (!b->nd->inputs[k][0])
			continue;
		int id = lookup(b, b->nd->inputs[k]);
		if (id < 0)
			return fail(b, CS_EFORMAT, "input '%s' is not defined "
				    "before the node", b->nd->inputs[k]);
		all_const &= b->m->vals[id].is_const;
	}
	if (!strcmp(op, "Shape")) {
		int id = in_id(b, 0);
		if (id < 0)
			return fail(b, CS_EFORMAT, "no input");
		return fold_shape(b, id);
	}
	if (all_const)
		return fold(b);
	if (!strcmp(op, "Conv"))
		return lower_conv(b);
	if (!strcmp(op, "ConvTranspose"))
		return lower_deconv(b);
	if (!strcmp(op, "Resize") || !strcmp(op, "Upsample"))
		return lower_resize(b, op[0] == 'U');
	if (!strcmp(op, "Gemm"))
		return lower_fc(b, true);
	if (!strcmp(op, "MatMul"))
		return lower_fc(b, false);
	if (!strcmp(op, "Relu"))
		return lower_clamp(b, 0.0f, INFINITY);
	if (!strcmp(op, "Clip"))
		return lower_clip(b);
	if (!strcmp(op, "LeakyRelu"))
		return lower_unary(b, S_LEAKY, 0, 0.01f);
	if (!strcmp(op, "Sigmoid"))
		return lower_unary(b, S_SIGMOID, 0, 0);
	if (!strcmp(op, "Tanh"))
		return lower_unary(b, S_TANH, 0, 0);
	if (!strcmp(op, "Elu"))
		return lower_unary(b, S_UNARY, U_ELU, 1.0f);
	if (!strcmp(op, "HardSwish"))
		return lower_unary(b, S_UNARY, U_HARDSWISH, 0);
	if (!strcmp(op, "Abs"))
		return lower_unary(b, S_UNARY, U_ABS, 0);
	if (!strcmp(op, "Neg"))
		return lower_unary(b, S_UNARY, U_NEG, 0);
	if (!strcmp(op, "Floor"))
		return lower_unary(b, S_UNARY, U_FLOOR, 0);
	if (!strcmp(op, "Ceil"))
		return lower_unary(b, S_UNARY, U_CEIL, 0);
	if (!strcmp(op, "Sqrt"))
		return lower_unary(b, S_UNARY, U_SQRT, 0);
	if (!strcmp(op, "PRelu"))
		return lower_prelu(b);
	if (!strcmp(op, "Max") || !strcmp(op, "Min")) {
		if (b->nd->n_inputs == 1)
			return lower_identity(b);
		if (b->nd->n_inputs != 2)
			return fail(b, CS_EUNSUPPORTED, "%zu inputs (1 or 2 "
				    "are supported)", b->nd->n_inputs);
		return lower_binary(b, op[1] == 'a' ? B_MAX : B_MIN);
	}
	if (!strcmp(op, "GlobalMaxPool"))
		return lower_gap(b, true);
	if (!strcmp(op, "ReduceMean"))
		return lower_reduce_mean(b);
	if (!strcmp(op, "Transpose"))
		return lower_transpose(b);
	if (!strcmp(op, "MaxPool"))
		return lower_pool(b, S_MAXPOOL);
	if (!strcmp(op, "AveragePool"))
		return lower_pool(b, S_AVGPOOL);
	if (!strcmp(op, "GlobalAveragePool"))
		return lower_gap(b, false);
	if (!strcmp(op, "Add"))
		return lower_binary(b, B_ADD);
	if (!strcmp(op, "Sub"))
		return lower_binary(b, B_SUB);
	if (!strcmp(op, "Mul"))
		return lower_binary(b, B_MUL);
	if (!strcmp(op, "Div"))
		return lower_binary(b, B_DIV);
	if (!strcmp(op, "BatchNormalization"))
		return lower_batchnorm(b);
	if (!strcmp(op, "Flatten"))
		return lower_flatten(b);
	if (!strcmp(op, "Reshape"))
		return lower_reshape(b);
	if (!strcmp(op, "Squeeze"))
		return lower_squeeze(b, false);
	if (!strcmp(op, "Unsqueeze"))
		return lower_squeeze(b, true);
	if (!strcmp(op, "Softmax"))
		return lower_softmax(b);
	if (!strcmp(op, "Pad"))
		return lower_pad(b);
	if (!strcmp(op, "Concat"))
		return lower_concat(b);
	if (!strcmp(op, "Identity") || !strcmp(op, "Dropout") ||
	    !strcmp(op, "Cast"))
		return lower_identity(b);
	return fail(b, CS_EUNSUPPORTED, "is not supported by the xnnpack "
		    "engine");
}

/* ---------------------------------------------------------- the graph */

static int bind_inputs(build *b)
{
	cs__xnn_model *m = b->m;
	const cs__onnx_graph *g = b->g;
	bool any_batch = false, all_batch = true;

	for (size_t k = 0; k < g->n_inits; k++) {
		int id = new_val(b);
		if (id < 0)
			return NOMEM(b);
		m->vals[id].is_const = true;
		m->vals[id].c = &g->inits[k];
		m->vals[id].ndim = g->inits[k].ndim;
		memcpy(m->vals[id].shape, g->inits[k].dims,
		       sizeof m->vals[id].shape);
		if (bind(b, g->inits[k].name, id) != CS_OK)
			return NOMEM(b);
	}
	if (!(m->inputs = calloc(g->n_inputs, sizeof *m->inputs)))
		return NOMEM(b);
	for (size_t k = 0; k < g->n_inputs; k++) {
		const cs_io_desc *d = &g->inputs[k];
		int64_t shape[XMAXD];
		if (d->dtype == CS_DTYPE_INVALID || d->ndim < 0)
			return fail(b, CS_EUNSUPPORTED, "input '%s' has no "
				    "declared tensor type and shape", d->name);
		if (d->dtype != CS_FP32)
			return fail(b, CS_EUNSUPPORTED, "input '%s' is not "
				    "FP32 (the xnnpack engine computes FP32 "
				    "only)", d->name);
		for (int32_t i = 0; i < d->ndim; i++) {
			shape[i] = d->shape[i];
			if (shape[i] >= 0)
				continue;
			if (i != 0)
				return fail(b, CS_EUNSUPPORTED, "input '%s' "
					    "has the dynamic dimension %d: the "
					    "xnnpack engine plans fixed shapes "
					    "(only dimension 0, the batch, may "
					    "vary)", d->name, (int)i);
			shape[0] = 1;
		}
		bool batched = d->ndim > 0 && d->shape[0] < 0;
		any_batch |= batched;
		all_batch &= batched;
		int id = new_rt(b, d->ndim, shape, batched, L_PLAIN);
		if (id < 0 || bind(b, d->name, id) != CS_OK)
			return NOMEM(b);
		m->inputs[m->n_inputs++] = id;
	}
	m->batchable = any_batch && all_batch;
	return CS_OK;
}

int cs__xnn_lower(cs__xnn_model *m, const cs__onnx_graph *g, char *err,
		  size_t errlen)
{
	build b = {.m = m, .g = g, .err = err, .errlen = errlen};
	int rc;

	if ((rc = bind_inputs(&b)) != CS_OK)
		goto out_free;
	for (size_t k = 0; k < g->n_nodes; k++) {
		b.nd = &g->nodes[k];
		if ((rc = lower_node(&b)) != CS_OK)
			goto out_free;
	}
	b.nd = NULL;
	if (!(m->outputs = calloc(g->n_outputs, sizeof *m->outputs))) {
		rc = NOMEM(&b);
		goto out_free;
	}
	for (size_t k = 0; k < g->n_outputs; k++) {
		int id = lookup(&b, g->outputs[k].name);
		if (id < 0) {
			rc = fail(&b, CS_EFORMAT, "output '%s' is computed by "
				  "no node", g->outputs[k].name);
			goto out_free;
		}
		if (g->outputs[k].dtype != CS_FP32) {
			rc = fail(&b, CS_EUNSUPPORTED, "output '%s' is not "
				  "FP32 (the xnnpack engine computes FP32 "
				  "only)", g->outputs[k].name);
			goto out_free;
		}
		if (m->vals[id].is_const) {
			rc = fail(&b, CS_EUNSUPPORTED, "output '%s' is a "
				  "constant", g->outputs[k].name);
			goto out_free;
		}
		m->vals[id].output = true;
		m->outputs[m->n_outputs++] = id;
	}
	rc = CS_OK;
out_free:
	for (size_t k = 0; k < m->n_vals; k++)
		m->vals[k].c = NULL; /* the graph and the folded ones go */
	for (size_t k = 0; k < b.n_owned; k++) {
		cs__onnx_tensor_clear(b.owned[k]);
		free(b.owned[k]);
	}
	free(b.owned);
	free(b.names);
	free(b.ids);
	return rc;
}
