/*
 * onnx.c - the onnx backend: ONNX models run by one of two engines,
 * XNNPACK (xnn_engine.h, when built with it) or OpenCV DNN (4.5 or later).
 *
 * The C ABI side of the plugin, and the engine choice. The option "engine"
 * (the manifest's top-level "engine", which the runtime passes in the
 * options) is "auto" (the default: XNNPACK when it can run every node of
 * the graph, OpenCV DNN otherwise), "xnnpack" or "opencv"; a forced engine
 * that cannot run the graph fails the load naming the op and the node.
 * info() says which engine runs and why. OpenCV is reached only through the
 * C calls of onnx_shim.h; the model's declared inputs and outputs come from
 * the ONNX file itself (onnx_graph.h), since OpenCV does not expose them.
 *
 * OpenCV computes in FP32. Inputs of another numeric dtype are converted to
 * FP32 before the forward pass and outputs are converted back to the dtype
 * the graph declares. FP16, BYTES (strings) and non-tensor values (ONNX
 * sequences and maps) are refused at load.
 *
 * Not thread-safe: cv::dnn::Net::forward() keeps its state in the Net, so
 * the runtime must not call infer() on one model from two threads at once
 * (processes are how cubeserve uses cores). Any batch size works when the
 * graph declares dimension 0 as dynamic.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include <cubeserve/plugin.h>

#include "onnx_graph.h"
#include "onnx_shim.h"
#ifdef CS_HAVE_XNNPACK
#include "xnn_engine.h"
#else
typedef struct cs__xnn_model cs__xnn_model;
#endif

#define ONNX_PLUGIN_VERSION "1.1.0"

enum { ENGINE_AUTO, ENGINE_XNNPACK, ENGINE_OPENCV };

typedef struct onnx_model {
	cs__onnx_net *net;    /* the OpenCV engine, or NULL */
	cs__xnn_model *xnn;   /* the XNNPACK engine, or NULL */
	cs_io_desc *inputs, *outputs;
	size_t n_inputs, n_outputs;
	char *path;
	char *info;           /* JSON: the engine and why */
} onnx_model;

static int onnx_load(const cs_host *host, const cs_model_spec *spec,
		     void **model, char *err, size_t errlen);
static int onnx_describe(void *model, const cs_io_desc **inputs,
			 size_t *n_inputs, const cs_io_desc **outputs,
			 size_t *n_outputs, char *err, size_t errlen);
static int onnx_infer(void *model, const cs_tensor *inputs, size_t n_inputs,
		      cs_tensor *outputs, size_t n_outputs,
		      const cs_allocator *alloc, char *err, size_t errlen);
static void onnx_unload(void *model);
static const char *onnx_info(void *model);

static const cs_plugin onnx_plugin = {
	.abi_version = CS_PLUGIN_ABI_VERSION,
	.struct_size = sizeof(cs_plugin),
	.name = "onnx",
	.version = ONNX_PLUGIN_VERSION,
	.flags = CS_PLUGIN_BATCHING,
	.load = onnx_load,
	.describe = onnx_describe,
	.infer = onnx_infer,
	.unload = onnx_unload,
	.info = onnx_info,
};

CS_PLUGIN_EXPORT const cs_plugin *cs_plugin_entry(void);

const cs_plugin *cs_plugin_entry(void)
{
	return &onnx_plugin;
}

/* ---------------------------------------------------------------- dtypes */

/* The dtypes this backend converts to and from FP32. */
static bool dtype_supported(cs_dtype t)
{
	return t != CS_FP16 && t != CS_BYTES && cs_dtype_size(t) != 0;
}

#define CONVERT_CASES(X)                                                  \
	X(CS_BOOL, uint8_t) X(CS_UINT8, uint8_t) X(CS_INT8, int8_t)       \
	X(CS_UINT16, uint16_t) X(CS_INT16, int16_t)                        \
	X(CS_UINT32, uint32_t) X(CS_INT32, int32_t)                        \
	X(CS_UINT64, uint64_t) X(CS_INT64, int64_t) X(CS_FP64, double)

static void to_f32(float *dst, const void *src, cs_dtype t, size_t n)
{
	switch (t) {
#define X(dt, T)                                                          \
	case dt:                                                          \
		for (size_t i = 0; i < n; i++)                            \
			dst[i] = (float)((const T *)src)[i];              \
		break;
		CONVERT_CASES(X)
#undef X
	default:
		memcpy(dst, src, n * sizeof(float));
	}
}

static void from_f32(void *dst, const float *src, cs_dtype t, size_t n)
{
	switch (t) {
	case CS_BOOL:
		for (size_t i = 0; i < n; i++)
			((uint8_t *)dst)[i] = src[i] != 0.0f;
		break;
	case CS_FP64:
		for (size_t i = 0; i < n; i++)
			((double *)dst)[i] = src[i];
		break;
#define X(dt, T)                                                          \
	case dt:                                                          \
		for (size_t i = 0; i < n; i++)                            \
			((T *)dst)[i] = (T)roundf(src[i]);                \
		break;
		X(CS_UINT8, uint8_t) X(CS_INT8, int8_t) X(CS_UINT16, uint16_t)
		X(CS_INT16, int16_t) X(CS_UINT32, uint32_t)
		X(CS_INT32, int32_t) X(CS_UINT64, uint64_t)
		X(CS_INT64, int64_t)
#undef X
	default:
		memcpy(dst, src, n * sizeof(float));
	}
}

/* ---------------------------------------------------------------- load */

/* Reads a whole file into *buf (freed by the caller with free()). */
static int read_file(const char *path, uint8_t **buf, size_t *len, char *err,
		     size_t errlen)
{
	struct stat st;
	FILE *f = fopen(path, "rb");
	uint8_t *b;

	if (!f) {
		snprintf(err, errlen, "cannot open '%s': %s", path,
			 strerror(errno));
		return CS_EIO;
	}
	if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "'%s' is not a regular file", path);
		fclose(f);
		return CS_EIO;
	}
	if (st.st_size == 0) {
		snprintf(err, errlen, "'%s' is empty, not an ONNX model", path);
		fclose(f);
		return CS_EFORMAT;
	}
	if (!(b = malloc((size_t)st.st_size))) {
		snprintf(err, errlen, "'%s': out of memory", path);
		fclose(f);
		return CS_ENOMEM;
	}
	if (fread(b, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
		snprintf(err, errlen, "cannot read '%s': %s", path,
			 ferror(f) ? strerror(errno) : "short read");
		free(b);
		fclose(f);
		return CS_EIO;
	}
	fclose(f);
	*buf = b;
	*len = (size_t)st.st_size;
	return CS_OK;
}

/*
 * The onnx backend's one option is "engine": auto, xnnpack or opencv. Any
 * other key is a mistake (a typo must not pass silently).
 */
static int check_options(const char *json, int *engine, char *err,
			 size_t errlen)
{
	json_error_t jerr;
	json_t *o = json_loads(json ? json : "{}", 0, &jerr);
	const char *key;
	json_t *val;
	int rc = CS_OK;

	*engine = ENGINE_AUTO;
	if (!o || !json_is_object(o)) {
		snprintf(err, errlen, "onnx options: %s",
			 o ? "not a JSON object" : jerr.text);
		rc = CS_EINVAL;
		goto out_free;
	}
	json_object_foreach(o, key, val) {
		const char *e = json_string_value(val);
		if (strcmp(key, "engine") != 0) {
			snprintf(err, errlen, "onnx options: unknown option "
				 "'%s' (the onnx backend has only 'engine')",
				 key);
			rc = CS_EINVAL;
			break;
		}
		if (e && !strcmp(e, "auto")) {
			*engine = ENGINE_AUTO;
		} else if (e && !strcmp(e, "xnnpack")) {
			*engine = ENGINE_XNNPACK;
		} else if (e && !strcmp(e, "opencv")) {
			*engine = ENGINE_OPENCV;
		} else {
			snprintf(err, errlen, "onnx options: 'engine' must be "
				 "\"auto\", \"xnnpack\" or \"opencv\"");
			rc = CS_EINVAL;
			break;
		}
	}
out_free:
	json_decref(o);
	return rc;
}

/* Refuses values the backend cannot feed or return. */
static int check_values(const char *path, const char *kind,
			const cs_io_desc *d, size_t n, char *err,
			size_t errlen)
{
	for (size_t i = 0; i < n; i++) {
		if (d[i].dtype == CS_DTYPE_INVALID) {
			snprintf(err, errlen, "'%s': %s '%s' is not a tensor "
				 "of a supported element type", path, kind,
				 d[i].name);
			return CS_EUNSUPPORTED;
		}
		if (!dtype_supported(d[i].dtype)) {
			snprintf(err, errlen, "'%s': %s '%s' is %s, which the "
				 "onnx backend does not support", path, kind,
				 d[i].name, cs_dtype_name(d[i].dtype));
			return CS_EUNSUPPORTED;
		}
		if (d[i].ndim < 0) {
			snprintf(err, errlen, "'%s': %s '%s' has no declared "
				 "shape", path, kind, d[i].name);
			return CS_EUNSUPPORTED;
		}
	}
	return CS_OK;
}

static void model_free(onnx_model *m)
{
	if (!m)
		return;
	if (m->net)
		cs__onnx_net_free(m->net);
#ifdef CS_HAVE_XNNPACK
	cs__xnn_free(m->xnn);
#endif
	free(m->info);
	cs__onnx_graph_free(m->inputs, m->n_inputs);
	cs__onnx_graph_free(m->outputs, m->n_outputs);
	free(m->path);
	free(m);
}

/* Sets m->info: {"engine": ..., "reason": ..., ...}. */
static int set_info(onnx_model *m, const char *engine, const char *reason)
{
	json_t *o = json_pack("{s:s,s:s}", "engine", engine, "reason", reason);

	if (!o)
		return CS_ENOMEM;
#ifdef CS_HAVE_XNNPACK
	if (m->xnn) {
		json_object_set_new(o, "batching",
				    json_boolean(cs__xnn_batching(m->xnn)));
		json_object_set_new(o, "steps", json_integer(
			(json_int_t)cs__xnn_steps(m->xnn)));
	}
#endif
	m->info = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return m->info ? CS_OK : CS_ENOMEM;
}

/*
 * Tries the XNNPACK engine on buf. CS_OK: m->xnn, m->inputs and m->outputs
 * are set. Otherwise why says why; *broken is set when the file itself is
 * wrong (then no engine should run it).
 */
static int try_xnnpack(onnx_model *m, const uint8_t *buf, size_t len,
		       int threads, bool *broken, char *why, size_t whylen)
{
#ifdef CS_HAVE_XNNPACK
	cs__onnx_graph *g;
	int rc;

	*broken = false;
	rc = cs__onnx_model_read(buf, len, &g, why, whylen);
	if (rc != CS_OK) {
		*broken = rc == CS_EFORMAT;
		return rc;
	}
	rc = cs__xnn_build(g, threads, &m->xnn, why, whylen);
	if (rc == CS_OK) {
		m->inputs = g->inputs;
		m->n_inputs = g->n_inputs;
		m->outputs = g->outputs;
		m->n_outputs = g->n_outputs;
		g->inputs = g->outputs = NULL;
		g->n_inputs = g->n_outputs = 0;
	}
	cs__onnx_model_free(g);
	return rc;
#else
	(void)m;
	(void)buf;
	(void)len;
	(void)threads;
	*broken = false;
	snprintf(why, whylen, "the onnx plugin was built without XNNPACK "
		 "(libxnnpack-dev)");
	return CS_EUNSUPPORTED;
#endif
}

static int onnx_load(const cs_host *host, const cs_model_spec *spec,
		     void **model, char *err, size_t errlen)
{
	char why[CS_ERROR_SIZE], reason[CS_ERROR_SIZE + 64];
	char line[CS_ERROR_SIZE * 4];
	uint8_t *buf = NULL;
	size_t len = 0;
	onnx_model *m;
	int rc, engine;
	bool broken = false;

	if (!spec->model_path) {
		snprintf(err, errlen, "the onnx backend needs a model file");
		return CS_EINVAL;
	}
	if ((rc = check_options(spec->options_json, &engine, err, errlen)) !=
	    CS_OK)
		return rc;
	if (!(m = calloc(1, sizeof *m)) ||
	    !(m->path = strdup(spec->model_path))) {
		free(m);
		snprintf(err, errlen, "out of memory");
		return CS_ENOMEM;
	}
	if ((rc = read_file(m->path, &buf, &len, err, errlen)) != CS_OK)
		goto out_free_model;

	snprintf(reason, sizeof reason, "the manifest asks for opencv");
	if (engine != ENGINE_OPENCV) {
		rc = try_xnnpack(m, buf, len, spec->threads, &broken, why,
				 sizeof why);
		if (rc == CS_OK) {
			snprintf(reason, sizeof reason, "%s",
				 engine == ENGINE_XNNPACK
					 ? "the manifest asks for xnnpack"
					 : "xnnpack runs every node of the "
					   "graph");
			goto out_loaded;
		}
		if (broken) {
			snprintf(err, errlen, "cannot load '%s': it is not a "
				 "valid ONNX model: %s", m->path, why);
			goto out_free_buf;
		}
		if (engine == ENGINE_XNNPACK || rc == CS_ENOMEM) {
			snprintf(err, errlen, "cannot load '%s' with the "
				 "xnnpack engine: %s", m->path, why);
			goto out_free_buf;
		}
		snprintf(reason, sizeof reason, "xnnpack cannot run the "
			 "graph: %s", why);
	}
	rc = cs__onnx_net_new(buf, len, spec->threads, &m->net, why,
			      sizeof why);
	if (rc != CS_OK) {
		snprintf(err, errlen, "cannot load '%s' with the opencv "
			 "engine: %s", m->path, why);
		goto out_free_buf;
	}
	rc = cs__onnx_graph_read(buf, len, &m->inputs, &m->n_inputs,
				 &m->outputs, &m->n_outputs, why, sizeof why);
	if (rc != CS_OK) {
		snprintf(err, errlen, "cannot read the graph of '%s': %s",
			 m->path, why);
		goto out_free_buf;
	}
out_loaded:
	if ((rc = check_values(m->path, "input", m->inputs, m->n_inputs, err,
			       errlen)) != CS_OK ||
	    (rc = check_values(m->path, "output", m->outputs, m->n_outputs,
			       err, errlen)) != CS_OK)
		goto out_free_buf;
	if ((rc = set_info(m, m->xnn ? "xnnpack" : "opencv", reason)) !=
	    CS_OK) {
		snprintf(err, errlen, "out of memory");
		goto out_free_buf;
	}
	free(buf);

	if (host && host->log) {
		snprintf(line, sizeof line, "onnx: loaded '%s' with the %s "
			 "engine (%s; %zu inputs, %zu outputs)", m->path,
			 m->xnn ? "xnnpack" : "opencv", reason, m->n_inputs,
			 m->n_outputs);
		host->log(host->ctx, CS_LOG_INFO, line);
	}
	*model = m;
	return CS_OK;

out_free_buf:
	free(buf);
out_free_model:
	model_free(m);
	return rc;
}

static const char *onnx_info(void *model)
{
	return ((onnx_model *)model)->info;
}

static int onnx_describe(void *model, const cs_io_desc **inputs,
			 size_t *n_inputs, const cs_io_desc **outputs,
			 size_t *n_outputs, char *err, size_t errlen)
{
	onnx_model *m = model;

	*inputs = m->inputs;
	*n_inputs = m->n_inputs;
	*outputs = m->outputs;
	*n_outputs = m->n_outputs;
	return CS_OK;
}

/* ---------------------------------------------------------------- infer */

/* Checks one input against its declaration and makes its FP32 blob. */
static int prepare_input(const cs_io_desc *d, const cs_tensor *t,
			 cs__onnx_blob *b, const cs_allocator *alloc,
			 char *err, size_t errlen)
{
	int64_t n = cs_shape_numel(t->ndim, t->shape);
	bool fits = t->ndim == d->ndim && t->ndim <= CS_MAX_DIMS;

	for (int32_t i = 0; fits && i < d->ndim; i++)
		fits = d->shape[i] < 0 || d->shape[i] == t->shape[i];
	if (t->dtype != d->dtype || !fits || n < 0 ||
	    t->nbytes != (size_t)n * cs_dtype_size(t->dtype)) {
		snprintf(err, errlen, "input '%s': expected %s of the declared "
			 "shape, got %s with %d dimensions and %zu bytes",
			 d->name, cs_dtype_name(d->dtype), cs_dtype_name(t->dtype),
			 (int)t->ndim, t->nbytes);
		return CS_EINVAL;
	}
	b->name = d->name;
	b->ndim = t->ndim;
	memcpy(b->shape, t->shape, sizeof b->shape);
	if (t->dtype == CS_FP32) {
		b->data = t->data;
		return CS_OK;
	}
	b->data = alloc->alloc(alloc->ctx, (size_t)n * sizeof(float) + 1);
	if (!b->data) {
		snprintf(err, errlen, "out of memory");
		return CS_ENOMEM;
	}
	to_f32(b->data, t->data, t->dtype, (size_t)n);
	return CS_OK;
}

/*
 * Gives an output the declared rank when OpenCV returned another one with
 * the same number of elements (it drops or adds unit dimensions at times):
 * the one dynamic dimension, if any, takes the rest.
 */
static int fit_output_shape(const cs_io_desc *d, cs__onnx_blob *b, char *err,
			    size_t errlen)
{
	int64_t total = cs_shape_numel(b->ndim, b->shape), known = 1;
	int dyn = -1;

	if (b->ndim == d->ndim)
		return CS_OK;
	for (int32_t i = 0; i < d->ndim; i++) {
		if (d->shape[i] >= 0)
			known *= d->shape[i];
		else if (dyn < 0)
			dyn = i;
		else
			goto out_mismatch;
	}
	if (known == 0 || total % known != 0 || (dyn < 0 && total != known))
		goto out_mismatch;
	for (int32_t i = 0; i < d->ndim; i++)
		b->shape[i] = i == dyn ? total / known : d->shape[i];
	b->ndim = d->ndim;
	return CS_OK;
out_mismatch:
	snprintf(err, errlen, "output '%s': OpenCV returned %lld elements "
		 "in %d dimensions, which do not fit the declared %d",
		 d->name, (long long)total, (int)b->ndim, (int)d->ndim);
	return CS_EBACKEND;
}

/*
 * The batch size of the call: dimension 0 shared by every input declared
 * with a dynamic dimension 0, or -1 when there is no such single size.
 */
static int64_t batch_of(const onnx_model *m, const cs_tensor *inputs)
{
	int64_t batch = -1;

	for (size_t i = 0; i < m->n_inputs; i++) {
		if (m->inputs[i].ndim == 0 || m->inputs[i].shape[0] >= 0)
			continue;
		if (batch >= 0 && inputs[i].shape[0] != batch)
			return -1;
		batch = inputs[i].shape[0];
	}
	return batch;
}

static int onnx_infer(void *model, const cs_tensor *inputs, size_t n_inputs,
		      cs_tensor *outputs, size_t n_outputs,
		      const cs_allocator *alloc, char *err, size_t errlen)
{
	onnx_model *m = model;
	cs__onnx_blob *in, *out;
	int rc;

	if (n_inputs != m->n_inputs || n_outputs != m->n_outputs) {
		snprintf(err, errlen, "the model takes %zu inputs and gives %zu "
			 "outputs, got %zu and %zu", m->n_inputs, m->n_outputs,
			 n_inputs, n_outputs);
		return CS_EINVAL;
	}
	in = alloc->alloc(alloc->ctx, n_inputs * sizeof *in);
	out = alloc->alloc(alloc->ctx, n_outputs * sizeof *out);
	if (!in || !out)
		goto out_nomem;
	for (size_t i = 0; i < n_inputs; i++) {
		rc = prepare_input(&m->inputs[i], &inputs[i], &in[i], alloc,
				   err, errlen);
		if (rc != CS_OK)
			return rc;
	}
	memset(out, 0, n_outputs * sizeof *out);
	for (size_t i = 0; i < n_outputs; i++)
		out[i].name = m->outputs[i].name;
#ifdef CS_HAVE_XNNPACK
	if (m->xnn)
		rc = cs__xnn_run(m->xnn, in, n_inputs, out, n_outputs, alloc,
				 err, errlen);
	else
#endif
		rc = cs__onnx_net_forward(m->net, in, n_inputs, out, n_outputs,
					  alloc, err, errlen);
	if (rc != CS_OK)
		return rc;

	int64_t batch = batch_of(m, inputs);
	for (size_t i = 0; i < n_outputs; i++) {
		const cs_io_desc *d = &m->outputs[i];
		cs_tensor *t = &outputs[i];

		if ((rc = fit_output_shape(d, &out[i], err, errlen)) != CS_OK)
			return rc;
		/*
		 * OpenCV folds shape arithmetic at import with the batch it
		 * saw then: a Reshape to x.size(0) stays 1 for any batch.
		 * Such a graph must not pass for a batching one.
		 */
		if (batch >= 0 && d->ndim > 0 && d->shape[0] < 0 &&
		    out[i].shape[0] != batch) {
			snprintf(err, errlen, "output '%s': OpenCV returned "
				 "batch %lld for a batch of %lld: the graph "
				 "fixes its batch size (export with "
				 "torch.flatten() instead of x.view(x.size(0), "
				 "-1), or a fixed batch)", d->name,
				 (long long)out[i].shape[0], (long long)batch);
			return CS_EBACKEND;
		}
		size_t n = (size_t)cs_shape_numel(out[i].ndim, out[i].shape);
		t->dtype = d->dtype;
		t->ndim = out[i].ndim;
		memcpy(t->shape, out[i].shape, sizeof t->shape);
		t->nbytes = n * cs_dtype_size(d->dtype);
		if (d->dtype == CS_FP32) {
			t->data = out[i].data;
			continue;
		}
		if (!(t->data = alloc->alloc(alloc->ctx, t->nbytes + 1)))
			goto out_nomem;
		from_f32(t->data, out[i].data, d->dtype, n);
	}
	return CS_OK;
out_nomem:
	snprintf(err, errlen, "out of memory");
	return CS_ENOMEM;
}

static void onnx_unload(void *model)
{
	model_free(model);
}
