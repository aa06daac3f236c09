/*
 * xnn_engine.c - the XNNPACK engine's model: creates the operators of the
 * lowered steps (xnn_lower.c), plans the workspace per batch size and runs
 * a call (see xnn_engine.h).
 *
 * XNNPACK's operator API rather than its subgraph API: the 2022 library
 * Debian ships has no xnn_reshape_runtime and no weights cache, so a
 * subgraph runtime is fixed to one batch size and packs its own copy of
 * the weights; an operator packs them once, at create, and takes the batch
 * size at setup. So one set of packed weights serves every batch size, made
 * in the process that loads (the prefork master) and shared by its
 * children.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "xnn_internal.h"

#define ALIGN 64

/* ------------------------------------------------------------ shapes */

int cs__xnn_phys(const xval *v, int64_t n, size_t out[XMAXD])
{
	for (int32_t k = 0; k < v->ndim; k++)
		out[k] = (size_t)(k == 0 && v->batched ? n : v->shape[k]);
	if (v->layout == L_NHWC) {
		size_t c = out[1];
		out[1] = out[2];
		out[2] = out[3];
		out[3] = c;
	}
	return v->ndim;
}

static size_t elems(const xval *v, int64_t n)
{
	size_t p[XMAXD], e = 1;
	int r = cs__xnn_phys(v, n, p);

	for (int k = 0; k < r; k++)
		e *= p[k];
	return e;
}

/* ------------------------------------------------------------ create */

static const char *xnn_why(enum xnn_status st)
{
	switch (st) {
	case xnn_status_success: return "success";
	case xnn_status_uninitialized: return "not initialized";
	case xnn_status_invalid_parameter: return "invalid parameter";
	case xnn_status_invalid_state: return "invalid state";
	case xnn_status_unsupported_parameter: return "unsupported parameter";
	case xnn_status_unsupported_hardware: return "unsupported hardware";
	case xnn_status_out_of_memory: return "out of memory";
	default: return "unknown status";
	}
}

/*
 * XNNPACK's GEMM (2022) takes a block of 4 or 5 rows (pixels, samples) at
 * a time through every output channel of a layer, so it reads all of the
 * layer's packed weights once per block of rows: from memory, not from the
 * core's cache, once they outgrow the cache (ResNet-18's 3x3 convolutions
 * of 256 and 512 channels, digits-large's 2048x1024 layer at batch 32).
 * Such a layer becomes several operators, each for a part of the output
 * channels whose weights fit PART_BYTES, run one after the other into
 * their columns of the one output: every row then goes through a part's
 * weights while they are in cache. Each output is computed by the same
 * kernel over the same sums in the same order, so the results are the
 * same to the bit.
 */
#define PART_BYTES ((size_t)192 * 1024)

/* Output channels per part for n channels of per floats of weights. */
static size_t part_of(size_t n, size_t per)
{
	size_t part = PART_BYTES / (per * sizeof(float)) / 16 * 16;

	if (part < 16)
		part = 16;
	return part < n ? part : n;
}

/* The operator of part k (0: s->op). */
static xnn_operator_t *part_op(xstep *s, size_t k)
{
	return k ? &s->parts[k - 1] : &s->op;
}

/* Creates the parts of an S_CONV or S_FC step (see PART_BYTES). */
static enum xnn_status create_parts(xstep *s)
{
	bool fc = s->kind == S_FC;
	size_t n = fc ? s->n_out : s->groups * s->goc;
	size_t per = fc ? s->k_in : s->kh * s->kw * s->gic;
	enum xnn_status st = xnn_status_success;

	s->part = fc || s->groups == 1 ? part_of(n, per) : n;
	s->n_parts = (n + s->part - 1) / s->part;
	if (s->n_parts > 1 &&
	    !(s->parts = calloc(s->n_parts - 1, sizeof *s->parts)))
		return xnn_status_out_of_memory;
	for (size_t k = 0; k < s->n_parts && st == xnn_status_success; k++) {
		size_t o0 = k * s->part;
		size_t c = n - o0 < s->part ? n - o0 : s->part;
		if (fc)
			st = xnn_create_fully_connected_nc_f32(
				s->k_in, c, s->k_in, n, s->w + o0 * per,
				s->b + o0, s->omin, s->omax, 0, part_op(s, k));
		else
			st = xnn_create_convolution2d_nhwc_f32(
				s->pt, s->pr, s->pb, s->pl, s->kh, s->kw, s->sh,
				s->sw, s->dh, s->dw, s->groups, s->gic,
				s->n_parts > 1 ? c : s->goc, s->groups * s->gic,
				n, s->w + o0 * per, s->b + o0, s->omin, s->omax,
				0, part_op(s, k));
	}
	return st;
}

static enum xnn_status create_op(const cs__xnn_model *m, xstep *s)
{
	const xval *in = s->in[0] >= 0 ? &m->vals[s->in[0]] : NULL;

	switch (s->kind) {
	case S_CONV:
	case S_FC:
		return create_parts(s);
	case S_DECONV:
		return xnn_create_deconvolution2d_nhwc_f32(
			s->pt, s->pr, s->pb, s->pl, s->kh, s->kw, s->sh, s->sw,
			s->dh, s->dw, s->groups, s->gic, s->goc,
			s->groups * s->gic, s->groups * s->goc, s->w, s->b,
			s->omin, s->omax, 0, &s->op);
	case S_RESIZE: {
		size_t c = (size_t)in->shape[1];
		return xnn_create_resize_bilinear2d_nhwc_f32(c, c, c, s->rflags,
							     &s->op);
	}
	case S_MAXPOOL: {
		size_t c = (size_t)in->shape[1];
		return xnn_create_max_pooling2d_nhwc_f32(
			s->pt, s->pr, s->pb, s->pl, s->kh, s->kw, s->sh, s->sw,
			s->dh, s->dw, c, c, c, s->omin, s->omax, 0, &s->op);
	}
	case S_AVGPOOL: {
		size_t c = (size_t)in->shape[1];
		return xnn_create_average_pooling2d_nhwc_f32(
			s->pt, s->pr, s->pb, s->pl, s->kh, s->kw, s->sh, s->sw,
			c, c, c, s->omin, s->omax, 0, &s->op);
	}
	case S_GAP: {
		size_t c = (size_t)in->shape[1];
		return xnn_create_global_average_pooling_nwc_f32(
			c, c, c, s->omin, s->omax, 0, &s->op);
	}
	case S_BINARY:
		switch (s->bop) {
		case B_ADD:
			return xnn_create_add_nd_f32(s->omin, s->omax, 0,
						     &s->op);
		case B_SUB:
			return xnn_create_subtract_nd_f32(s->omin, s->omax, 0,
							  &s->op);
		case B_MUL:
			return xnn_create_multiply_nd_f32(s->omin, s->omax, 0,
							  &s->op);
		case B_DIV:
			return xnn_create_divide_nd_f32(s->omin, s->omax, 0,
							&s->op);
		case B_MAX:
			return xnn_create_maximum_nd_f32(0, &s->op);
		default:
			return xnn_create_minimum_nd_f32(0, &s->op);
		}
	case S_UNARY:
		switch (s->uop) {
		case U_ELU:
			return xnn_create_elu_nc_f32(1, 1, 1, s->alpha, 0, &s->op);
		case U_HARDSWISH:
			return xnn_create_hardswish_nc_f32(1, 1, 1, 0, &s->op);
		case U_ABS:
			return xnn_create_abs_nc_f32(1, 1, 1, 0, &s->op);
		case U_NEG:
			return xnn_create_negate_nc_f32(1, 1, 1, 0, &s->op);
		case U_FLOOR:
			return xnn_create_floor_nc_f32(1, 1, 1, 0, &s->op);
		case U_CEIL:
			return xnn_create_ceiling_nc_f32(1, 1, 1, 0, &s->op);
		default:
			return xnn_create_square_root_nc_f32(1, 1, 1, 0, &s->op);
		}
	case S_PRELU:
		return xnn_create_prelu_nc_f32(s->channels, s->channels,
					       s->channels, s->cdata, 0, &s->op);
	case S_CLAMP:
		return xnn_create_clamp_nc_f32(1, 1, 1, s->omin, s->omax, 0,
					       &s->op);
	case S_LEAKY:
		return xnn_create_leaky_relu_nc_f32(1, 1, 1, s->alpha, 0,
						    &s->op);
	case S_SIGMOID:
		return xnn_create_sigmoid_nc_f32(1, 1, 1, 0, &s->op);
	case S_SOFTMAX:
		return xnn_create_softmax_nc_f32(s->channels, s->channels,
						 s->channels, 0, &s->op);
	case S_PAD:
		return xnn_create_constant_pad_nd_x32(&s->padv, 0, &s->op);
	default:
		return xnn_status_success; /* the engine's own loops */
	}
}

/* ------------------------------------------------------------ planning */

/* Each root's first and last step; graph inputs from -1, outputs to end. */
static void lifetimes(cs__xnn_model *m)
{
	for (size_t k = 0; k < m->n_vals; k++) {
		m->vals[k].first = (int)m->n_steps;
		m->vals[k].last = -2;
	}
	for (size_t k = 0; k < m->n_inputs; k++)
		m->vals[m->vals[m->inputs[k]].root].first = -1;
	for (size_t k = 0; k < m->n_steps; k++) {
		const xstep *s = &m->steps[k];
		int ids[2] = {s->in[0], s->in[1]};
		for (int j = 0; j < 2; j++)
			if (ids[j] >= 0) {
				xval *r = &m->vals[m->vals[ids[j]].root];
				r->last = (int)k > r->last ? (int)k : r->last;
			}
		for (size_t j = 0; j < s->n_ins; j++) {
			xval *r = &m->vals[m->vals[s->ins[j]].root];
			r->last = (int)k > r->last ? (int)k : r->last;
		}
		xval *o = &m->vals[m->vals[s->out].root];
		if ((int)k < o->first)
			o->first = (int)k;
		if ((int)k > o->last)
			o->last = (int)k;
	}
	for (size_t k = 0; k < m->n_outputs; k++)
		m->vals[m->vals[m->outputs[k]].root].last = (int)m->n_steps;
	for (size_t k = 0; k < m->n_inputs; k++) { /* copied in, even unused */
		xval *r = &m->vals[m->vals[m->inputs[k]].root];
		r->last = r->last < -1 ? -1 : r->last;
	}
}

static size_t root_bytes(const cs__xnn_model *m, int root, int64_t n)
{
	size_t most = 0;

	/* the largest of the values that share the buffer */
	for (size_t k = 0; k < m->n_vals; k++)
		if (!m->vals[k].is_const && m->vals[k].root == root) {
			size_t e = elems(&m->vals[k], n);
			most = e > most ? e : most;
		}
	return (most * sizeof(float) + XNN_EXTRA_BYTES + ALIGN - 1) /
	       ALIGN * ALIGN;
}

/*
 * Places every live root in the workspace: largest first, at the lowest
 * offset that no root alive at the same time occupies.
 */
static int plan(cs__xnn_model *m, int64_t n, size_t *total)
{
	size_t nr = 0, end = 0;
	size_t *order = malloc((m->n_vals + 1) * sizeof *order);
	size_t *size = malloc((m->n_vals + 1) * sizeof *size);
	int *roots = malloc((m->n_vals + 1) * sizeof *roots);

	if (!roots || !size || !order) {
		free(roots);
		free(size);
		free(order);
		return CS_ENOMEM;
	}
	for (size_t k = 0; k < m->n_vals; k++) {
		const xval *v = &m->vals[k];
		if (v->is_const || v->root != (int)k || v->last < v->first)
			continue;
		size[nr] = root_bytes(m, (int)k, n);
		roots[nr++] = (int)k;
	}
	for (size_t k = 0; k < nr; k++)
		order[k] = k;
	for (size_t i = 1; i < nr; i++) /* insertion sort, largest first */
		for (size_t j = i; j > 0 && size[order[j]] > size[order[j - 1]]; j--) {
			size_t t = order[j];
			order[j] = order[j - 1];
			order[j - 1] = t;
		}
	for (size_t i = 0; i < nr; i++) {
		xval *v = &m->vals[roots[order[i]]];
		size_t off = 0, sz = size[order[i]];
		bool moved = true;
		while (moved) {
			moved = false;
			for (size_t j = 0; j < i; j++) {
				const xval *u = &m->vals[roots[order[j]]];
				size_t usz = size[order[j]];
				if (u->last < v->first || v->last < u->first)
					continue; /* not alive together */
				if (off < u->offset + usz && u->offset < off + sz) {
					off = u->offset + usz;
					moved = true;
				}
			}
		}
		v->offset = off;
		if (off + sz > end)
			end = off + sz;
	}
	free(roots);
	free(size);
	free(order);
	*total = end;
	return CS_OK;
}

static float *buf(const cs__xnn_model *m, int id)
{
	return (float *)(m->ws + m->vals[m->vals[id].root].offset);
}

static enum xnn_status setup_parts(const cs__xnn_model *m, xstep *s,
				   int64_t n, pthreadpool_t tp)
{
	const xval *in = &m->vals[s->in[0]];
	enum xnn_status st = xnn_status_success;
	size_t p[XMAXD];

	cs__xnn_phys(in, n, p);
	for (size_t k = 0; k < s->n_parts && st == xnn_status_success; k++) {
		float *o = buf(m, s->out) + k * s->part;
		if (s->kind == S_FC)
			st = xnn_setup_fully_connected_nc_f32(
				*part_op(s, k), elems(in, n) / s->k_in,
				buf(m, s->in[0]), o, tp);
		else
			st = xnn_setup_convolution2d_nhwc_f32(
				*part_op(s, k), p[0], p[1], p[2],
				buf(m, s->in[0]), o, tp);
	}
	return st;
}

static enum xnn_status setup_op(const cs__xnn_model *m, xstep *s, int64_t n,
				pthreadpool_t tp)
{
	const xval *in = s->in[0] >= 0 ? &m->vals[s->in[0]] : NULL;
	const xval *out = &m->vals[s->out];
	size_t p[XMAXD], q[XMAXD];
	int r;

	switch (s->kind) {
	case S_CONV:
	case S_FC:
		return setup_parts(m, s, n, tp);
	case S_DECONV:
		cs__xnn_phys(in, n, p);
		return xnn_setup_deconvolution2d_nhwc_f32(
			s->op, p[0], p[1], p[2], s->adjh, s->adjw,
			buf(m, s->in[0]), buf(m, s->out), tp);
	case S_RESIZE:
		cs__xnn_phys(in, n, p);
		cs__xnn_phys(out, n, q);
		return xnn_setup_resize_bilinear2d_nhwc_f32(
			s->op, p[0], p[1], p[2], q[1], q[2], buf(m, s->in[0]),
			buf(m, s->out), tp);
	case S_MAXPOOL:
		cs__xnn_phys(in, n, p);
		return xnn_setup_max_pooling2d_nhwc_f32(
			s->op, p[0], p[1], p[2], buf(m, s->in[0]),
			buf(m, s->out), tp);
	case S_AVGPOOL:
		cs__xnn_phys(in, n, p);
		return xnn_setup_average_pooling2d_nhwc_f32(
			s->op, p[0], p[1], p[2], buf(m, s->in[0]),
			buf(m, s->out), tp);
	case S_GAP:
		cs__xnn_phys(in, n, p);
		return xnn_setup_global_average_pooling_nwc_f32(
			s->op, p[0], p[1] * p[2], buf(m, s->in[0]),
			buf(m, s->out), tp);
	case S_BINARY: {
		const float *a, *bb;
		size_t na, nb;
		if (s->in[0] >= 0) {
			na = (size_t)cs__xnn_phys(&m->vals[s->in[0]], n, p);
			a = buf(m, s->in[0]);
		} else {
			na = (size_t)s->cndim;
			memcpy(p, s->cshape, sizeof p);
			a = s->cdata;
		}
		if (s->in[1] >= 0) {
			nb = (size_t)cs__xnn_phys(&m->vals[s->in[1]], n, q);
			bb = buf(m, s->in[1]);
		} else {
			nb = (size_t)s->cndim;
			memcpy(q, s->cshape, sizeof q);
			bb = s->cdata;
		}
		if (na == 0) {
			na = 1;
			p[0] = 1;
		}
		if (nb == 0) {
			nb = 1;
			q[0] = 1;
		}
		float *o = buf(m, s->out);
		switch (s->bop) {
		case B_ADD:
			return xnn_setup_add_nd_f32(s->op, na, p, nb, q, a, bb,
						    o, tp);
		case B_SUB:
			return xnn_setup_subtract_nd_f32(s->op, na, p, nb, q, a,
							 bb, o, tp);
		case B_MUL:
			return xnn_setup_multiply_nd_f32(s->op, na, p, nb, q, a,
							 bb, o, tp);
		case B_DIV:
			return xnn_setup_divide_nd_f32(s->op, na, p, nb, q, a,
						       bb, o, tp);
		case B_MAX:
			return xnn_setup_maximum_nd_f32(s->op, na, p, nb, q, a,
							bb, o, tp);
		default:
			return xnn_setup_minimum_nd_f32(s->op, na, p, nb, q, a,
							bb, o, tp);
		}
	}
	case S_UNARY: {
		size_t e = elems(out, n);
		const float *x = buf(m, s->in[0]);
		float *y = buf(m, s->out);
		switch (s->uop) {
		case U_ELU:
			return xnn_setup_elu_nc_f32(s->op, e, x, y, tp);
		case U_HARDSWISH:
			return xnn_setup_hardswish_nc_f32(s->op, e, x, y, tp);
		case U_ABS:
			return xnn_setup_abs_nc_f32(s->op, e, x, y, tp);
		case U_NEG:
			return xnn_setup_negate_nc_f32(s->op, e, x, y, tp);
		case U_FLOOR:
			return xnn_setup_floor_nc_f32(s->op, e, x, y, tp);
		case U_CEIL:
			return xnn_setup_ceiling_nc_f32(s->op, e, x, y, tp);
		default:
			return xnn_setup_square_root_nc_f32(s->op, e, x, y, tp);
		}
	}
	case S_PRELU:
		return xnn_setup_prelu_nc_f32(s->op, elems(out, n) / s->channels,
					      buf(m, s->in[0]), buf(m, s->out),
					      tp);
	case S_CLAMP:
		return xnn_setup_clamp_nc_f32(s->op, elems(out, n),
					      buf(m, s->in[0]), buf(m, s->out),
					      tp);
	case S_LEAKY:
		return xnn_setup_leaky_relu_nc_f32(s->op, elems(out, n),
						   buf(m, s->in[0]),
						   buf(m, s->out), tp);
	case S_SIGMOID:
		return xnn_setup_sigmoid_nc_f32(s->op, elems(out, n),
						buf(m, s->in[0]),
						buf(m, s->out), tp);
	case S_SOFTMAX:
		return xnn_setup_softmax_nc_f32(s->op, elems(out, n) / s->channels,
						buf(m, s->in[0]),
						buf(m, s->out), tp);
	case S_PAD:
		r = cs__xnn_phys(in, n, p);
		return xnn_setup_constant_pad_nd_x32(s->op, (size_t)r, p,
						     s->pre, s->post,
						     buf(m, s->in[0]),
						     buf(m, s->out), tp);
	default:
		return xnn_status_success;
	}
}

/*
 * Sets the operators up for batch n, planning the workspace again. XNNPACK's
 * setup reads only the thread count of tp (to split the work into tiles);
 * the threads themselves are the ones xnn_run_operator() is given.
 */
static int prepare(cs__xnn_model *m, int64_t n, pthreadpool_t tp, char *err,
		   size_t errlen)
{
	size_t total;
	int rc;

	if (m->planned == n)
		return CS_OK;
	m->planned = 0;
	if ((rc = plan(m, n, &total)) != CS_OK) {
		snprintf(err, errlen, "out of memory");
		return rc;
	}
	if (total > m->ws_size) {
		free(m->ws);
		m->ws_size = 0;
		if (!(m->ws = aligned_alloc(ALIGN, total))) {
			snprintf(err, errlen, "out of memory (a workspace of "
				 "%zu bytes for batch %lld)", total,
				 (long long)n);
			return CS_ENOMEM;
		}
		m->ws_size = total;
	}
	for (size_t k = 0; k < m->n_steps; k++) {
		enum xnn_status st = setup_op(m, &m->steps[k], n, tp);
		if (st != xnn_status_success) {
			snprintf(err, errlen, "XNNPACK cannot set step %zu up "
				 "for batch %lld: %s", k, (long long)n,
				 xnn_why(st));
			return CS_EBACKEND;
		}
	}
	m->planned = n;
	return CS_OK;
}

/* ------------------------------------------------------------ run */

/* [n, c, hw] <-> [n, hw, c] */
static void transpose3(const float *src, float *dst, size_t n, size_t a,
		       size_t b)
{
	for (size_t i = 0; i < n; i++, src += a * b, dst += a * b)
		for (size_t x = 0; x < a; x++)
			for (size_t y = 0; y < b; y++)
				dst[y * a + x] = src[x * b + y];
}

/* The per-sample C and H*W of a value stored NHWC or flattened NHWC. */
static void chw(const xval *v, size_t *c, size_t *hw)
{
	if (v->layout == L_FLAT) {
		*c = (size_t)v->fc;
		*hw = (size_t)(v->fh * v->fw);
	} else {
		*c = (size_t)v->shape[1];
		*hw = (size_t)(v->shape[2] * v->shape[3]);
	}
}

static void run_concat(const cs__xnn_model *m, const xstep *s, int64_t n)
{
	size_t p[XMAXD], outer = 1;
	int r = cs__xnn_phys(&m->vals[s->out], n, p);
	float *o = buf(m, s->out);

	for (int k = 0; k < s->axis; k++)
		outer *= p[k];
	(void)r;
	for (size_t i = 0; i < outer; i++) {
		for (size_t j = 0; j < s->n_ins; j++) {
			const xval *v = &m->vals[s->ins[j]];
			size_t inner = elems(v, n) / outer;
			memcpy(o, buf(m, s->ins[j]) + i * inner,
			       inner * sizeof *o);
			o += inner;
		}
	}
}

/* Any permutation of a plain value: output dim k is input dim perm[k]. */
static void run_transpose(const cs__xnn_model *m, const xstep *s, int64_t n)
{
	size_t ip[XMAXD], op[XMAXD], istride[XMAXD], step[XMAXD], idx[XMAXD];
	int r = cs__xnn_phys(&m->vals[s->in[0]], n, ip);
	const float *x = buf(m, s->in[0]);
	float *y = buf(m, s->out);
	size_t total = elems(&m->vals[s->out], n), off = 0;

	if (r == 0) {
		y[0] = x[0];
		return;
	}
	istride[r - 1] = 1;
	for (int k = r - 1; k > 0; k--)
		istride[k - 1] = istride[k] * ip[k];
	for (int k = 0; k < r; k++) {
		op[k] = ip[s->perm[k]];
		step[k] = istride[s->perm[k]];
		idx[k] = 0;
	}
	for (size_t i = 0; i < total; i++) {
		y[i] = x[off];
		for (int k = r - 1; k >= 0; k--) { /* odometer over the output */
			off += step[k];
			if (++idx[k] < op[k])
				break;
			off -= step[k] * op[k];
			idx[k] = 0;
		}
	}
}

/* Nearest resize of an NHWC value by the source index tables. */
static void run_resize_nn(const cs__xnn_model *m, const xstep *s, int64_t n)
{
	size_t ip[XMAXD], op[XMAXD];

	cs__xnn_phys(&m->vals[s->in[0]], n, ip);
	cs__xnn_phys(&m->vals[s->out], n, op);
	const float *x = buf(m, s->in[0]);
	float *y = buf(m, s->out);
	size_t c = op[3];
	const size_t *rows = s->ridx, *cols = s->ridx + op[1];

	for (size_t i = 0; i < op[0]; i++) {
		const float *xi = x + i * ip[1] * ip[2] * c;
		for (size_t r = 0; r < op[1]; r++)
			for (size_t q = 0; q < op[2]; q++, y += c)
				memcpy(y, xi + (rows[r] * ip[2] + cols[q]) * c,
				       c * sizeof *y);
	}
}

static int run_steps(cs__xnn_model *m, int64_t n, char *err, size_t errlen)
{
	for (size_t k = 0; k < m->n_steps; k++) {
		xstep *s = &m->steps[k];
		const xval *in = s->in[0] >= 0 ? &m->vals[s->in[0]] : NULL;
		size_t c, hw, e;

		switch (s->kind) {
		case S_TO_NHWC:
			chw(&m->vals[s->out], &c, &hw);
			transpose3(buf(m, s->in[0]), buf(m, s->out),
				   (size_t)(in->batched ? n : in->shape[0]), c,
				   hw);
			break;
		case S_TO_PLAIN:
			chw(in, &c, &hw);
			transpose3(buf(m, s->in[0]), buf(m, s->out),
				   elems(in, n) / (c * hw), hw, c);
			break;
		case S_TANH: {
			const float *x = buf(m, s->in[0]);
			float *y = buf(m, s->out);
			e = elems(in, n);
			for (size_t i = 0; i < e; i++)
				y[i] = tanhf(x[i]);
			break;
		}
		case S_CONCAT:
			run_concat(m, s, n);
			break;
		case S_TRANSPOSE:
			run_transpose(m, s, n);
			break;
		case S_RESIZE_NN:
			run_resize_nn(m, s, n);
			break;
		default: {
			enum xnn_status st = xnn_run_operator(s->op, m->pool);
			for (size_t j = 1; j < s->n_parts &&
			     st == xnn_status_success; j++)
				st = xnn_run_operator(s->parts[j - 1], m->pool);
			if (st != xnn_status_success) {
				snprintf(err, errlen, "XNNPACK step %zu "
					 "failed: %s", k, xnn_why(st));
				return CS_EBACKEND;
			}
		}
		}
	}
	return CS_OK;
}

int cs__xnn_run(cs__xnn_model *m, const cs__onnx_blob *in, size_t n_in,
		cs__onnx_blob *out, size_t n_out, const cs_allocator *alloc,
		char *err, size_t errlen)
{
	int64_t n = -1;
	int rc;

	if (n_in != m->n_inputs || n_out != m->n_outputs) {
		snprintf(err, errlen, "the model takes %zu inputs and gives "
			 "%zu outputs", m->n_inputs, m->n_outputs);
		return CS_EINVAL;
	}
	for (size_t k = 0; k < n_in; k++) {
		const xval *v = &m->vals[m->inputs[k]];
		bool ok = in[k].ndim == v->ndim;
		for (int32_t d = 0; ok && d < v->ndim; d++)
			ok = (d == 0 && v->batched) ? in[k].shape[0] >= 1
						    : in[k].shape[d] == v->shape[d];
		if (ok && v->batched) {
			if (n >= 0 && in[k].shape[0] != n)
				ok = false;
			n = in[k].shape[0];
		}
		if (!ok) {
			snprintf(err, errlen, "input '%s': the shape differs "
				 "from the one the xnnpack engine planned "
				 "(and inputs must share one batch size)",
				 in[k].name);
			return CS_EINVAL;
		}
	}
	if (n < 0)
		n = 1;
	if (!m->batchable && n != 1) {
		snprintf(err, errlen, "the graph fixes its batch size at 1 (a "
			 "Reshape or Flatten to a constant batch): got a batch "
			 "of %lld; export with torch.flatten() or a dynamic "
			 "batch", (long long)n);
		return CS_EINVAL;
	}
	if (m->threads > 1 && (!m->pool || m->pool_pid != getpid())) {
		/*
		 * The first call in this process: threads do not survive a
		 * fork, so a pool inherited from the parent is only a husk
		 * (never destroyed here: joining its threads would wait
		 * forever).
		 */
		if (!(m->pool = pthreadpool_create(m->threads))) {
			snprintf(err, errlen, "cannot start %zu threads",
				 m->threads);
			return CS_ENOMEM;
		}
		m->pool_pid = getpid();
	}
	if ((rc = prepare(m, n, m->pool, err, errlen)) != CS_OK)
		return rc;
	for (size_t k = 0; k < n_in; k++) {
		const xval *v = &m->vals[m->inputs[k]];
		memcpy(buf(m, m->inputs[k]), in[k].data,
		       elems(v, n) * sizeof(float));
	}
	if ((rc = run_steps(m, n, err, errlen)) != CS_OK)
		return rc;
	for (size_t k = 0; k < n_out; k++) {
		const xval *v = &m->vals[m->outputs[k]];
		size_t e = elems(v, n), c = 1, hw = 1;
		float *src = buf(m, m->outputs[k]);

		out[k].ndim = v->ndim;
		for (int32_t d = 0; d < v->ndim; d++)
			out[k].shape[d] = d == 0 && v->batched ? n : v->shape[d];
		if (!(out[k].data = alloc->alloc(alloc->ctx, e * sizeof(float) + 1))) {
			snprintf(err, errlen, "out of memory");
			return CS_ENOMEM;
		}
		if (v->layout != L_PLAIN)
			chw(v, &c, &hw);
		if (v->layout == L_PLAIN || c == 1 || hw == 1)
			memcpy(out[k].data, src, e * sizeof(float));
		else
			transpose3(src, out[k].data, e / (c * hw), hw, c);
	}
	return CS_OK;
}

/* ------------------------------------------------------------ model */

bool cs__xnn_batching(const cs__xnn_model *m)
{
	return m->batchable;
}

size_t cs__xnn_steps(const cs__xnn_model *m)
{
	return m->n_steps;
}

void cs__xnn_free(cs__xnn_model *m)
{
	if (!m)
		return;
	for (size_t k = 0; k < m->n_steps; k++) {
		xstep *s = &m->steps[k];
		if (s->op)
			xnn_delete_operator(s->op);
		for (size_t j = 1; j < s->n_parts && s->parts; j++)
			if (s->parts[j - 1])
				xnn_delete_operator(s->parts[j - 1]);
		free(s->parts);
		free(s->ins);
		free(s->w);
		free(s->b);
		free(s->cdata);
		free(s->ridx);
	}
	free(m->steps);
	free(m->vals);
	free(m->inputs);
	free(m->outputs);
	free(m->ws);
	if (m->pool && m->pool_pid == getpid())
		pthreadpool_destroy(m->pool);
	free(m);
}

int cs__xnn_build(const cs__onnx_graph *g, int threads, cs__xnn_model **out,
		  char *err, size_t errlen)
{
	cs__xnn_model *m;
	pthreadpool_t tp = NULL;
	enum xnn_status st;
	int rc;

	if ((st = xnn_initialize(NULL)) != xnn_status_success) {
		snprintf(err, errlen, "XNNPACK cannot start: %s", xnn_why(st));
		return st == xnn_status_unsupported_hardware ? CS_EUNSUPPORTED
							     : CS_EBACKEND;
	}
	if (!(m = calloc(1, sizeof *m))) {
		snprintf(err, errlen, "out of memory");
		return CS_ENOMEM;
	}
	m->threads = threads > 1 ? (size_t)threads : 1;
	if ((rc = cs__xnn_lower(m, g, err, errlen)) != CS_OK)
		goto out_free;
	for (size_t k = 0; k < m->n_steps; k++) {
		xstep *s = &m->steps[k];
		if ((st = create_op(m, s)) != xnn_status_success) {
			snprintf(err, errlen, "XNNPACK cannot create step %zu "
				 "(kind %d): %s", k, s->kind, xnn_why(st));
			rc = st == xnn_status_unsupported_parameter
				     ? CS_EUNSUPPORTED : CS_EBACKEND;
			goto out_free;
		}
		/* packed: the unpacked weights go */
		free(s->w);
		free(s->b);
		s->w = s->b = NULL;
		if (s->kind == S_PRELU) { /* packed too */
			free(s->cdata);
			s->cdata = NULL;
		}
	}
	lifetimes(m);
	/*
	 * Set up for batch 1 here, in the process that loads: the operators'
	 * indirection buffers are then made once and shared after a fork, like
	 * the packed weights (the workspace stays untouched until a call).
	 * With threads, a pool of that size only for the setup to read its
	 * count from, stopped at once: no thread outlives the load.
	 */
	if (m->threads > 1 && !(tp = pthreadpool_create(m->threads))) {
		snprintf(err, errlen, "cannot start %zu threads", m->threads);
		rc = CS_ENOMEM;
		goto out_free;
	}
	rc = prepare(m, 1, tp, err, errlen);
	if (tp)
		pthreadpool_destroy(tp);
	if (rc != CS_OK)
		goto out_free;
	*out = m;
	return CS_OK;
out_free:
	cs__xnn_free(m);
	return rc;
}
