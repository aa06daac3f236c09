/*
 * onnx_graph.c - reads graph inputs and outputs from an ONNX ModelProto.
 *
 * The fields used (onnx/onnx.proto3):
 *   ModelProto      7 graph: GraphProto
 *   GraphProto      5 initializer: TensorProto (8 name), 11 input, 12 output:
 *                   ValueInfoProto
 *   ValueInfoProto  1 name, 2 type: TypeProto
 *   TypeProto       1 tensor_type: { 1 elem_type, 2 shape: TensorShapeProto }
 *   TensorShapeProto 1 dim: { 1 dim_value, 2 dim_param }
 * Everything else is skipped by wire type.
 */
#include "onnx_graph.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A bounded cursor over a protobuf message. */
typedef struct pb {
	const uint8_t *p, *end;
	bool bad;
} pb;

enum { PB_VARINT = 0, PB_I64 = 1, PB_LEN = 2, PB_I32 = 5 };

static uint64_t pb_varint(pb *r)
{
	uint64_t v = 0;

	for (int shift = 0; shift < 64; shift += 7) {
		if (r->p >= r->end) {
			r->bad = true;
			return 0;
		}
		uint8_t b = *r->p++;
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return v;
	}
	r->bad = true;
	return 0;
}

/*
 * Reads the next field's key; false at the end or on error. For a LEN
 * field, *sub is the embedded message and the cursor moves past it.
 */
static bool pb_next(pb *r, uint32_t *field, uint64_t *val, pb *sub)
{
	uint64_t key, n;

	if (r->bad || r->p >= r->end)
		return false;
	key = pb_varint(r);
	*field = (uint32_t)(key >> 3);
	switch (key & 7) {
	case PB_VARINT:
		*val = pb_varint(r);
		break;
	case PB_I64:
	case PB_I32:
		n = (key & 7) == PB_I64 ? 8 : 4;
		if ((uint64_t)(r->end - r->p) < n)
			r->bad = true;
		else
			r->p += n;
		*val = 0;
		break;
	case PB_LEN:
		n = pb_varint(r);
		if (r->bad || (uint64_t)(r->end - r->p) < n) {
			r->bad = true;
			break;
		}
		sub->p = r->p;
		sub->end = r->p + n;
		sub->bad = false;
		r->p += n;
		*val = n;
		break;
	default: /* groups (3, 4) are not used by ONNX */
		r->bad = true;
	}
	if (r->bad)
		return false;
	*field |= (uint32_t)(key & 7) << 29; /* fold the wire type in */
	return true;
}

#define F(num, wire) ((uint32_t)(num) | (uint32_t)(wire) << 29)

static char *pb_strdup(const pb *s)
{
	size_t n = (size_t)(s->end - s->p);
	char *c = malloc(n + 1);

	if (c) {
		memcpy(c, s->p, n);
		c[n] = '\0';
	}
	return c;
}

static bool pb_streq(const pb *s, const char *str)
{
	size_t n = (size_t)(s->end - s->p);

	return strlen(str) == n && memcmp(s->p, str, n) == 0;
}

/* ONNX TensorProto.DataType -> cubeserve dtype. */
static cs_dtype onnx_dtype(uint64_t t)
{
	switch (t) {
	case 1: return CS_FP32;
	case 2: return CS_UINT8;
	case 3: return CS_INT8;
	case 4: return CS_UINT16;
	case 5: return CS_INT16;
	case 6: return CS_INT32;
	case 7: return CS_INT64;
	case 8: return CS_BYTES;
	case 9: return CS_BOOL;
	case 10: return CS_FP16;
	case 11: return CS_FP64;
	case 12: return CS_UINT32;
	case 13: return CS_UINT64;
	default: return CS_DTYPE_INVALID; /* complex, bfloat16, ... */
	}
}

/* TensorShapeProto: each dim's dim_value, or -1 for a dim_param / none. */
static int read_shape(pb shp, cs_io_desc *d, char *err, size_t errlen)
{
	pb dim = {0}, s = {0};
	uint32_t f;
	uint64_t v;

	d->ndim = 0;
	while (pb_next(&shp, &f, &v, &dim)) {
		if (f != F(1, PB_LEN))
			continue;
		if (d->ndim == CS_MAX_DIMS) {
			snprintf(err, errlen, "'%s' has more than %d dimensions",
				 d->name ? d->name : "?", CS_MAX_DIMS);
			return CS_EUNSUPPORTED;
		}
		int64_t size = -1;
		while (pb_next(&dim, &f, &v, &s))
			if (f == F(1, PB_VARINT) && (int64_t)v > 0)
				size = (int64_t)v;
		if (dim.bad)
			shp.bad = true;
		d->shape[d->ndim++] = size;
	}
	return shp.bad ? CS_EFORMAT : CS_OK;
}

/* TypeProto: only tensor_type is understood; other kinds stay INVALID. */
static int read_type(pb type, cs_io_desc *d, char *err, size_t errlen)
{
	pb tt = {0}, s = {0};
	uint32_t f;
	uint64_t v;
	int rc;

	while (pb_next(&type, &f, &v, &tt)) {
		if (f != F(1, PB_LEN))
			continue;
		while (pb_next(&tt, &f, &v, &s)) {
			if (f == F(1, PB_VARINT))
				d->dtype = onnx_dtype(v);
			else if (f == F(2, PB_LEN) &&
				 (rc = read_shape(s, d, err, errlen)) != CS_OK)
				return rc;
		}
		if (tt.bad)
			return CS_EFORMAT;
	}
	return type.bad ? CS_EFORMAT : CS_OK;
}

/*
 * Reads one ValueInfoProto into d (name malloc'ed). d->ndim stays -1 when
 * the rank is not declared and d->dtype INVALID when it is no tensor.
 */
static int read_value_info(pb m, cs_io_desc *d, char *err, size_t errlen)
{
	pb s = {0};
	uint32_t f;
	uint64_t v;
	int rc;

	d->ndim = -1;
	d->dtype = CS_DTYPE_INVALID;
	while (pb_next(&m, &f, &v, &s)) {
		if (f == F(1, PB_LEN)) {
			free((char *)d->name);
			if (!(d->name = pb_strdup(&s))) {
				snprintf(err, errlen, "out of memory");
				return CS_ENOMEM;
			}
		} else if (f == F(2, PB_LEN)) {
			rc = read_type(s, d, err, errlen);
			if (rc == CS_EFORMAT)
				m.bad = true;
			else if (rc != CS_OK)
				return rc;
		}
	}
	if (m.bad) {
		snprintf(err, errlen, "malformed ValueInfoProto");
		return CS_EFORMAT;
	}
	if (!d->name) {
		snprintf(err, errlen, "a graph value has no name");
		return CS_EFORMAT;
	}
	return CS_OK;
}

void cs__onnx_graph_free(cs_io_desc *descs, size_t n)
{
	if (!descs)
		return;
	for (size_t i = 0; i < n; i++)
		free((char *)descs[i].name);
	free(descs);
}

/* True when name is the name of one of the graph's initializers. */
static bool is_initializer(pb graph, const char *name)
{
	pb s = {0}, t = {0};
	uint32_t f;
	uint64_t v;

	while (pb_next(&graph, &f, &v, &s)) {
		if (f != F(5, PB_LEN))
			continue;
		while (pb_next(&s, &f, &v, &t))
			if (f == F(8, PB_LEN) && pb_streq(&t, name))
				return true;
	}
	return false;
}

/* Appends the graph's values with field number field to *out. */
static int read_values(pb graph, uint32_t field, bool skip_init,
		       cs_io_desc **out, size_t *n, char *err, size_t errlen)
{
	pb g = graph, s = {0};
	uint32_t f;
	uint64_t v;
	int rc;

	while (pb_next(&g, &f, &v, &s)) {
		if (f != F(field, PB_LEN))
			continue;
		cs_io_desc d;
		memset(&d, 0, sizeof d);
		if ((rc = read_value_info(s, &d, err, errlen)) != CS_OK) {
			free((char *)d.name);
			return rc;
		}
		if (skip_init && is_initializer(graph, d.name)) {
			free((char *)d.name);
			continue;
		}
		cs_io_desc *grown = realloc(*out, (*n + 1) * sizeof **out);
		if (!grown) {
			free((char *)d.name);
			snprintf(err, errlen, "out of memory");
			return CS_ENOMEM;
		}
		*out = grown;
		(*out)[(*n)++] = d;
	}
	if (g.bad) {
		snprintf(err, errlen, "malformed GraphProto");
		return CS_EFORMAT;
	}
	return CS_OK;
}

int cs__onnx_graph_read(const uint8_t *buf, size_t len, cs_io_desc **inputs,
			size_t *n_inputs, cs_io_desc **outputs,
			size_t *n_outputs, char *err, size_t errlen)
{
	pb model = {buf, buf + len, false}, s = {0}, graph = {0};
	uint32_t f;
	uint64_t v;
	bool have_graph = false;
	cs_io_desc *in = NULL, *out = NULL;
	size_t n_in = 0, n_out = 0;
	int rc;

	while (pb_next(&model, &f, &v, &s)) {
		if (f == F(7, PB_LEN)) {
			graph = s;
			have_graph = true;
		}
	}
	if (model.bad || !have_graph) {
		snprintf(err, errlen, "%s", model.bad ?
			 "malformed ModelProto" : "no graph in the model");
		return CS_EFORMAT;
	}
	rc = read_values(graph, 11, true, &in, &n_in, err, errlen);
	if (rc != CS_OK)
		goto out_free;
	rc = read_values(graph, 12, false, &out, &n_out, err, errlen);
	if (rc != CS_OK)
		goto out_free;
	if (n_in == 0 || n_out == 0) {
		snprintf(err, errlen, "the graph declares no %s",
			 n_in == 0 ? "inputs" : "outputs");
		rc = CS_EFORMAT;
		goto out_free;
	}
	*inputs = in;
	*n_inputs = n_in;
	*outputs = out;
	*n_outputs = n_out;
	return CS_OK;
out_free:
	cs__onnx_graph_free(in, n_in);
	cs__onnx_graph_free(out, n_out);
	return rc;
}
