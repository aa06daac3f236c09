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
 * field, *sub is the embedded message and the cursor moves past it; a
 * fixed32/fixed64 field gives its bits in *val.
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
		*val = 0;
		if ((uint64_t)(r->end - r->p) < n) {
			r->bad = true;
			break;
		}
		for (uint64_t i = 0; i < n; i++) /* little-endian bits */
			*val |= (uint64_t)r->p[i] << (8 * i);
		r->p += n;
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

/* ------------------------------------------------------- the whole graph */

/*
 * More fields, for the engines that run the graph themselves:
 *   ModelProto      8 opset_import: { 1 domain, 2 version }
 *   GraphProto      1 node: NodeProto
 *   NodeProto       1 input, 2 output, 3 name, 4 op_type, 5 attribute,
 *                   7 domain
 *   AttributeProto  1 name, 2 f, 3 i, 4 s, 5 t, 7 floats, 8 ints, 20 type
 *   TensorProto     1 dims, 2 data_type, 4 float_data, 5 int32_data,
 *                   7 int64_data, 8 name, 9 raw_data, 10 double_data,
 *                   11 uint64_data, 14 data_location
 * Repeated numbers come packed (one LEN field) or one field each.
 */

/* Bytes per element of an ONNX data type in raw_data; 0 when unknown. */
static size_t onnx_elem_size(int32_t t)
{
	switch (t) {
	case 2: case 3: case 9: return 1;      /* UINT8 INT8 BOOL */
	case 4: case 5: case 10: return 2;     /* UINT16 INT16 FLOAT16 */
	case 1: case 6: case 12: return 4;     /* FLOAT INT32 UINT32 */
	case 7: case 11: case 13: return 8;    /* INT64 DOUBLE UINT64 */
	default: return 0;
	}
}

static bool is_float_type(int32_t t)
{
	return t == 1 || t == 11;
}

/* Appends one number (varint bits or fixed bits) to a growing array. */
typedef struct nums {
	uint64_t *v;
	size_t n, cap;
} nums;

static bool nums_push(nums *a, uint64_t v)
{
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 16;
		uint64_t *g = realloc(a->v, cap * sizeof *g);
		if (!g)
			return false;
		a->v = g;
		a->cap = cap;
	}
	a->v[a->n++] = v;
	return true;
}

/*
 * Reads a repeated number field: a packed LEN (varints, or fixed words of
 * width 4/8 when fixed is non-zero) or one scalar field.
 */
static bool read_repeated(nums *a, uint32_t f, uint64_t v, pb *sub,
			  int fixed)
{
	if ((f >> 29) != PB_LEN)
		return nums_push(a, v);
	if (fixed) {
		size_t len = (size_t)(sub->end - sub->p);
		if (len % (size_t)fixed)
			return false;
		for (const uint8_t *p = sub->p; p < sub->end; p += fixed) {
			uint64_t x = 0;
			for (int i = 0; i < fixed; i++)
				x |= (uint64_t)p[i] << (8 * i);
			if (!nums_push(a, x))
				return false;
		}
		return true;
	}
	while (sub->p < sub->end && !sub->bad)
		if (!nums_push(a, pb_varint(sub)))
			return false;
	return !sub->bad;
}

static float bits_f32(uint64_t b)
{
	uint32_t u = (uint32_t)b;
	float f;

	memcpy(&f, &u, sizeof f);
	return f;
}

static double bits_f64(uint64_t b)
{
	double d;

	memcpy(&d, &b, sizeof d);
	return d;
}

void cs__onnx_tensor_clear(cs__onnx_tensor *t)
{
	if (!t)
		return;
	free(t->name);
	free(t->f);
	free(t->i);
	memset(t, 0, sizeof *t);
}

/* Converts raw little-endian bytes of type t into the tensor's array. */
static void convert_raw(cs__onnx_tensor *t, const uint8_t *raw)
{
	size_t es = onnx_elem_size(t->elem_type);

	for (size_t k = 0; k < t->n; k++) {
		uint64_t x = 0;
		for (size_t b = 0; b < es; b++)
			x |= (uint64_t)raw[k * es + b] << (8 * b);
		switch (t->elem_type) {
		case 1: t->f[k] = bits_f32(x); break;
		case 11: t->f[k] = (float)bits_f64(x); break;
		case 3: t->i[k] = (int8_t)x; break;
		case 5: t->i[k] = (int16_t)x; break;
		case 6: t->i[k] = (int32_t)x; break;
		default: t->i[k] = (int64_t)x; break; /* unsigned, INT64 */
		}
	}
}

int cs__onnx_tensor_read(const uint8_t *buf, size_t len, cs__onnx_tensor *t,
			 char *err, size_t errlen)
{
	pb m = {buf, buf + len, false}, s = {0}, raw = {0};
	nums dims = {0}, data = {0};
	uint32_t f;
	uint64_t v;
	bool have_raw = false, external = false;
	int data_field = 0, rc = CS_EFORMAT;
	const char *what = "?";

	memset(t, 0, sizeof *t);
	while (pb_next(&m, &f, &v, &s)) {
		uint32_t num = f & 0x1fffffff;
		switch (num) {
		case 1:
			if (!read_repeated(&dims, f, v, &s, 0))
				goto out_bad;
			break;
		case 2:
			t->elem_type = (int32_t)v;
			break;
		case 8:
			if ((f >> 29) == PB_LEN) {
				free(t->name);
				if (!(t->name = pb_strdup(&s)))
					goto out_nomem;
			}
			break;
		case 9:
			if ((f >> 29) == PB_LEN) {
				raw = s;
				have_raw = true;
			}
			break;
		case 14:
			external = v == 1;
			break;
		case 4: case 5: case 7: case 10: case 11:
			if (data_field && data_field != (int)num)
				goto out_bad;
			data_field = (int)num;
			if (!read_repeated(&data, f, v, &s,
					   num == 4 ? 4 : num == 10 ? 8 : 0))
				goto out_bad;
			break;
		default:
			break;
		}
	}
	if (m.bad)
		goto out_bad;
	what = t->name ? t->name : "(unnamed)";
	if (external) {
		snprintf(err, errlen, "tensor '%s' keeps its data in an "
			 "external file, which is not supported", what);
		rc = CS_EUNSUPPORTED;
		goto out_free;
	}
	if (dims.n > CS_MAX_DIMS) {
		snprintf(err, errlen, "tensor '%s' has %zu dimensions (at most "
			 "%d)", what, dims.n, CS_MAX_DIMS);
		rc = CS_EUNSUPPORTED;
		goto out_free;
	}
	t->ndim = (int32_t)dims.n;
	t->n = 1;
	for (size_t k = 0; k < dims.n; k++) {
		int64_t d = (int64_t)dims.v[k];
		if (d < 0 || (d && t->n > ((size_t)1 << 40) / (uint64_t)d)) {
			snprintf(err, errlen, "tensor '%s': dimension %zu is "
				 "%lld", what, k, (long long)d);
			goto out_free;
		}
		t->dims[k] = d;
		t->n *= (size_t)d;
	}
	size_t es = onnx_elem_size(t->elem_type);
	if (es == 0 || t->elem_type == 10) {
		snprintf(err, errlen, "tensor '%s' has data type %d, which is "
			 "not supported (FLOAT, DOUBLE and the integer types "
			 "are)", what, (int)t->elem_type);
		rc = CS_EUNSUPPORTED;
		goto out_free;
	}
	size_t have = have_raw ? (size_t)(raw.end - raw.p) : data.n;
	size_t want = have_raw ? t->n * es : t->n;
	if (have != want) {
		snprintf(err, errlen, "tensor '%s': %zu %s for %zu elements "
			 "(%zu expected)", what, have,
			 have_raw ? "bytes of raw_data" : "values", t->n, want);
		goto out_free;
	}
	if (!have_raw && data_field) {
		int expect = t->elem_type == 1 ? 4 : t->elem_type == 11 ? 10 :
			     t->elem_type == 7 ? 7 :
			     (t->elem_type == 12 || t->elem_type == 13) ? 11 : 5;
		if (data_field != expect) {
			snprintf(err, errlen, "tensor '%s': data type %d "
				 "stored in field %d", what,
				 (int)t->elem_type, data_field);
			goto out_free;
		}
	}
	if (is_float_type(t->elem_type)) {
		if (!(t->f = malloc((t->n ? t->n : 1) * sizeof *t->f)))
			goto out_nomem;
	} else if (!(t->i = malloc((t->n ? t->n : 1) * sizeof *t->i))) {
		goto out_nomem;
	}
	if (have_raw) {
		convert_raw(t, raw.p);
	} else {
		for (size_t k = 0; k < t->n; k++) {
			uint64_t x = data.v[k];
			if (t->elem_type == 1)
				t->f[k] = bits_f32(x);
			else if (t->elem_type == 11)
				t->f[k] = (float)bits_f64(x);
			else if (data_field == 5 && t->elem_type != 2 &&
				 t->elem_type != 4 && t->elem_type != 9)
				t->i[k] = (int32_t)(uint32_t)x;
			else
				t->i[k] = (int64_t)x;
		}
	}
	free(dims.v);
	free(data.v);
	return CS_OK;
out_nomem:
	snprintf(err, errlen, "out of memory");
	rc = CS_ENOMEM;
	goto out_free;
out_bad:
	snprintf(err, errlen, "malformed TensorProto '%s'",
		 t->name ? t->name : "(unnamed)");
out_free:
	free(dims.v);
	free(data.v);
	cs__onnx_tensor_clear(t);
	return rc;
}

static int read_attr(pb m, cs__onnx_attr *a, char *err, size_t errlen)
{
	pb s = {0};
	nums ints = {0}, floats = {0};
	uint32_t f;
	uint64_t v;
	int rc;

	while (pb_next(&m, &f, &v, &s)) {
		switch (f & 0x1fffffff) {
		case 1:
			if ((f >> 29) != PB_LEN)
				goto out_bad;
			free(a->name);
			if (!(a->name = pb_strdup(&s)))
				goto out_nomem;
			break;
		case 2: a->f = bits_f32(v); break;
		case 3: a->i = (int64_t)v; break;
		case 4:
			if ((f >> 29) != PB_LEN)
				goto out_bad;
			free(a->s);
			if (!(a->s = pb_strdup(&s)))
				goto out_nomem;
			break;
		case 5:
			if ((f >> 29) != PB_LEN || a->t)
				goto out_bad;
			if (!(a->t = calloc(1, sizeof *a->t)))
				goto out_nomem;
			rc = cs__onnx_tensor_read(s.p, (size_t)(s.end - s.p),
						  a->t, err, errlen);
			if (rc != CS_OK) {
				free(a->t);
				a->t = NULL;
				free(ints.v);
				free(floats.v);
				return rc;
			}
			break;
		case 7:
			if (!read_repeated(&floats, f, v, &s, 4))
				goto out_bad;
			break;
		case 8:
			if (!read_repeated(&ints, f, v, &s, 0))
				goto out_bad;
			break;
		case 20: a->type = (int)v; break;
		default: break;
		}
	}
	if (m.bad || !a->name)
		goto out_bad;
	if (floats.n) {
		if (!(a->floats = malloc(floats.n * sizeof *a->floats)))
			goto out_nomem;
		for (size_t k = 0; k < floats.n; k++)
			a->floats[k] = bits_f32(floats.v[k]);
		a->n_floats = floats.n;
	}
	if (ints.n) {
		if (!(a->ints = malloc(ints.n * sizeof *a->ints)))
			goto out_nomem;
		for (size_t k = 0; k < ints.n; k++)
			a->ints[k] = (int64_t)ints.v[k];
		a->n_ints = ints.n;
	}
	free(ints.v);
	free(floats.v);
	return CS_OK;
out_nomem:
	free(ints.v);
	free(floats.v);
	snprintf(err, errlen, "out of memory");
	return CS_ENOMEM;
out_bad:
	free(ints.v);
	free(floats.v);
	snprintf(err, errlen, "malformed AttributeProto%s%s",
		 a->name ? " " : "", a->name ? a->name : "");
	return CS_EFORMAT;
}

/* Appends a copy of s to a growing string array. */
static bool push_str(char ***arr, size_t *n, const pb *s)
{
	char **g = realloc(*arr, (*n + 1) * sizeof **arr);

	if (!g)
		return false;
	*arr = g;
	if (!(g[*n] = pb_strdup(s)))
		return false;
	(*n)++;
	return true;
}

static void node_clear(cs__onnx_node *nd)
{
	for (size_t k = 0; k < nd->n_inputs; k++)
		free(nd->inputs[k]);
	for (size_t k = 0; k < nd->n_outputs; k++)
		free(nd->outputs[k]);
	for (size_t k = 0; k < nd->n_attrs; k++) {
		cs__onnx_attr *a = &nd->attrs[k];
		free(a->name);
		free(a->s);
		free(a->floats);
		free(a->ints);
		if (a->t) {
			cs__onnx_tensor_clear(a->t);
			free(a->t);
		}
	}
	free(nd->inputs);
	free(nd->outputs);
	free(nd->attrs);
	free(nd->name);
	free(nd->op_type);
	free(nd->domain);
}

static int read_node(pb m, cs__onnx_node *nd, char *err, size_t errlen)
{
	pb s = {0};
	uint32_t f;
	uint64_t v;
	int rc;

	while (pb_next(&m, &f, &v, &s)) {
		if ((f >> 29) != PB_LEN)
			continue;
		switch (f & 0x1fffffff) {
		case 1:
			if (!push_str(&nd->inputs, &nd->n_inputs, &s))
				goto out_nomem;
			break;
		case 2:
			if (!push_str(&nd->outputs, &nd->n_outputs, &s))
				goto out_nomem;
			break;
		case 3:
			free(nd->name);
			if (!(nd->name = pb_strdup(&s)))
				goto out_nomem;
			break;
		case 4:
			free(nd->op_type);
			if (!(nd->op_type = pb_strdup(&s)))
				goto out_nomem;
			break;
		case 7:
			free(nd->domain);
			if (!(nd->domain = pb_strdup(&s)))
				goto out_nomem;
			break;
		case 5: {
			cs__onnx_attr *g = realloc(nd->attrs, (nd->n_attrs + 1) *
							      sizeof *g);
			if (!g)
				goto out_nomem;
			nd->attrs = g;
			memset(&g[nd->n_attrs], 0, sizeof *g);
			rc = read_attr(s, &g[nd->n_attrs], err, errlen);
			nd->n_attrs++;
			if (rc != CS_OK)
				return rc;
			break;
		}
		default:
			break;
		}
	}
	if (m.bad || !nd->op_type) {
		snprintf(err, errlen, "malformed NodeProto%s%s",
			 nd->name ? " " : "", nd->name ? nd->name : "");
		return CS_EFORMAT;
	}
	if ((!nd->name && !(nd->name = calloc(1, 1))) ||
	    (!nd->domain && !(nd->domain = calloc(1, 1))))
		goto out_nomem;
	return CS_OK;
out_nomem:
	snprintf(err, errlen, "out of memory");
	return CS_ENOMEM;
}

void cs__onnx_model_free(cs__onnx_graph *g)
{
	if (!g)
		return;
	for (size_t k = 0; k < g->n_nodes; k++)
		node_clear(&g->nodes[k]);
	free(g->nodes);
	for (size_t k = 0; k < g->n_inits; k++)
		cs__onnx_tensor_clear(&g->inits[k]);
	free(g->inits);
	cs__onnx_graph_free(g->inputs, g->n_inputs);
	cs__onnx_graph_free(g->outputs, g->n_outputs);
	free(g);
}

int cs__onnx_model_read(const uint8_t *buf, size_t len, cs__onnx_graph **out,
			char *err, size_t errlen)
{
	pb model = {buf, buf + len, false}, s = {0}, graph = {0}, t = {0};
	uint32_t f;
	uint64_t v;
	cs__onnx_graph *g;
	int rc;

	if (!(g = calloc(1, sizeof *g))) {
		snprintf(err, errlen, "out of memory");
		return CS_ENOMEM;
	}
	g->opset = 1;
	rc = cs__onnx_graph_read(buf, len, &g->inputs, &g->n_inputs,
				 &g->outputs, &g->n_outputs, err, errlen);
	if (rc != CS_OK)
		goto out_free;
	while (pb_next(&model, &f, &v, &s)) {
		if (f == F(7, PB_LEN)) {
			graph = s;
		} else if (f == F(8, PB_LEN)) {
			bool default_domain = true;
			int64_t version = 0;
			while (pb_next(&s, &f, &v, &t)) {
				if (f == F(1, PB_LEN))
					default_domain = t.p == t.end ||
							 pb_streq(&t, "ai.onnx");
				else if (f == F(2, PB_VARINT))
					version = (int64_t)v;
			}
			if (default_domain && version > 0)
				g->opset = version;
		}
	}
	while (pb_next(&graph, &f, &v, &s)) {
		if (f == F(1, PB_LEN)) {
			cs__onnx_node *n = realloc(g->nodes, (g->n_nodes + 1) *
							     sizeof *n);
			if (!n)
				goto out_nomem;
			g->nodes = n;
			memset(&n[g->n_nodes], 0, sizeof *n);
			rc = read_node(s, &n[g->n_nodes], err, errlen);
			g->n_nodes++;
			if (rc != CS_OK)
				goto out_free;
		} else if (f == F(5, PB_LEN)) {
			cs__onnx_tensor *n = realloc(g->inits, (g->n_inits + 1) *
							       sizeof *n);
			if (!n)
				goto out_nomem;
			g->inits = n;
			rc = cs__onnx_tensor_read(s.p, (size_t)(s.end - s.p),
						  &n[g->n_inits], err, errlen);
			if (rc != CS_OK)
				goto out_free;
			g->n_inits++;
			if (!n[g->n_inits - 1].name) {
				snprintf(err, errlen, "an initializer has no "
					 "name");
				rc = CS_EFORMAT;
				goto out_free;
			}
		}
	}
	if (graph.bad) {
		snprintf(err, errlen, "malformed GraphProto");
		rc = CS_EFORMAT;
		goto out_free;
	}
	*out = g;
	return CS_OK;
out_nomem:
	snprintf(err, errlen, "out of memory");
	rc = CS_ENOMEM;
out_free:
	cs__onnx_model_free(g);
	return rc;
}

const cs__onnx_attr *cs__onnx_attr_find(const cs__onnx_node *nd,
					const char *name)
{
	for (size_t k = 0; k < nd->n_attrs; k++)
		if (strcmp(nd->attrs[k].name, name) == 0)
			return &nd->attrs[k];
	return NULL;
}
