/*
 * native.c - the "native" backend: a linear classifier in plain C.
 *
 * The model file is JSON (format "cubeserve-linear/1", see
 * docs/plugin-abi.md and examples/linear/):
 *
 *   {"format": "cubeserve-linear/1", "input": "x", "features": F,
 *    "classes": C, "weights": [[F numbers] x C], "bias": [C numbers],
 *    "labels": [C strings]}              ("labels" is optional)
 *
 * For an input x of shape [N, F] it returns logits = x W^T + b and
 * probs = softmax(logits) row by row, both FP32 [N, C], computed in double.
 * The model is read-only after load(), so infer() is thread-safe and takes
 * any batch size.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <cubeserve/plugin.h>

#ifndef CS_VERSION
#define CS_VERSION "0.0.0"
#endif

#define NATIVE_FORMAT "cubeserve-linear/1"
/* Bounds that keep every size computation far from overflow. */
#define NATIVE_MAX_DIM 1000000
#define NATIVE_MAX_PARAMS 100000000

/* A loaded model. Immutable after load(). */
typedef struct native_model {
	int64_t features;
	int64_t classes;
	double *weights; /* classes x features, row-major */
	double *bias;    /* classes */
	char *input_name;
	cs_io_desc inputs[1];
	cs_io_desc outputs[2];
} native_model;

/* A file being read, for messages: path to open, name to show. */
typedef struct native_file {
	const char *path;
	const char *shown;
} native_file;

CS_PLUGIN_EXPORT const cs_plugin *cs_plugin_entry(void);

static int native_load(const cs_host *host, const cs_model_spec *spec,
		       void **model, char *err, size_t errlen);
static int native_describe(void *model, const cs_io_desc **inputs,
			   size_t *n_inputs, const cs_io_desc **outputs,
			   size_t *n_outputs, char *err, size_t errlen);
static int native_infer(void *model, const cs_tensor *inputs, size_t n_inputs,
			cs_tensor *outputs, size_t n_outputs,
			const cs_allocator *alloc, char *err, size_t errlen);
static void native_unload(void *model);

static const cs_plugin native_plugin = {
	.abi_version = CS_PLUGIN_ABI_VERSION,
	.struct_size = sizeof(cs_plugin),
	.name = "native",
	.version = CS_VERSION,
	.flags = CS_PLUGIN_THREAD_SAFE | CS_PLUGIN_BATCHING,
	.load = native_load,
	.describe = native_describe,
	.infer = native_infer,
	.unload = native_unload,
};

/* The plugin's one exported symbol: returns the static table above. */
CS_PLUGIN_EXPORT const cs_plugin *cs_plugin_entry(void)
{
	return &native_plugin;
}

/* Writes a formatted one-line message into err[errlen]; err may be NULL. */
__attribute__((format(printf, 3, 4)))
static void native_error(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/*
 * The name to show for a model file: its path relative to the manifest's
 * directory when it lies inside it, else the full path. Returns a pointer
 * into path.
 */
static const char *native_shown_name(const char *path, const char *base_dir)
{
	size_t n;

	if (!base_dir || !*base_dir)
		return path;
	n = strlen(base_dir);
	while (n > 1 && base_dir[n - 1] == '/')
		n--;
	if (strncmp(path, base_dir, n) == 0 && path[n] == '/' && path[n + 1])
		return path + n + 1;
	return path;
}

/*
 * Reads a member that must be an integer in [1, NATIVE_MAX_DIM] into *out.
 * Returns CS_OK or CS_EFORMAT with a message naming the field.
 */
static int native_get_dim(const native_file *f, json_t *root, const char *key,
			  int64_t *out, char *err, size_t errlen)
{
	json_t *v = json_object_get(root, key);
	json_int_t n;

	if (!v) {
		native_error(err, errlen, "%s: '%s' is missing", f->shown, key);
		return CS_EFORMAT;
	}
	if (!json_is_integer(v)) {
		native_error(err, errlen, "%s: '%s' must be an integer",
			     f->shown, key);
		return CS_EFORMAT;
	}
	n = json_integer_value(v);
	if (n < 1 || n > NATIVE_MAX_DIM) {
		native_error(err, errlen,
			     "%s: '%s' is %lld, expected 1 to %d", f->shown,
			     key, (long long)n, NATIVE_MAX_DIM);
		return CS_EFORMAT;
	}
	*out = (int64_t)n;
	return CS_OK;
}

/*
 * Copies a JSON array of exactly n finite numbers into out[n]. what names
 * the array in messages ("weights[2]", "bias") and expected names the count
 * ("features", "classes").
 */
static int native_get_numbers(const native_file *f, json_t *arr,
			      const char *what, int64_t n,
			      const char *expected, double *out, char *err,
			      size_t errlen)
{
	size_t i;

	if (!json_is_array(arr)) {
		native_error(err, errlen, "%s: '%s' must be an array of numbers",
			     f->shown, what);
		return CS_EFORMAT;
	}
	if ((int64_t)json_array_size(arr) != n) {
		native_error(err, errlen,
			     "%s: '%s' has %zu numbers, expected %lld (%s)",
			     f->shown, what, json_array_size(arr),
			     (long long)n, expected);
		return CS_EFORMAT;
	}
	for (i = 0; i < (size_t)n; i++) {
		json_t *v = json_array_get(arr, i);

		if (!json_is_number(v) || !isfinite(json_number_value(v))) {
			native_error(err, errlen,
				     "%s: '%s[%zu]' is not a finite number",
				     f->shown, what, i);
			return CS_EFORMAT;
		}
		out[i] = json_number_value(v);
	}
	return CS_OK;
}

/* Checks the optional "labels": an array of `classes` strings. */
static int native_check_labels(const native_file *f, json_t *root,
			       int64_t classes, char *err, size_t errlen)
{
	json_t *labels = json_object_get(root, "labels");
	size_t i;

	if (!labels)
		return CS_OK;
	if (!json_is_array(labels)) {
		native_error(err, errlen, "%s: 'labels' must be an array of strings",
			     f->shown);
		return CS_EFORMAT;
	}
	if ((int64_t)json_array_size(labels) != classes) {
		native_error(err, errlen,
			     "%s: 'labels' has %zu strings, expected %lld (classes)",
			     f->shown, json_array_size(labels),
			     (long long)classes);
		return CS_EFORMAT;
	}
	for (i = 0; i < json_array_size(labels); i++) {
		if (!json_is_string(json_array_get(labels, i))) {
			native_error(err, errlen,
				     "%s: 'labels[%zu]' must be a string",
				     f->shown, i);
			return CS_EFORMAT;
		}
	}
	return CS_OK;
}

/*
 * Checks the manifest options. Only "threads" is known (a positive
 * integer); the computation is too small to split, so it is accepted and
 * not used. Unknown options are ignored.
 */
static int native_check_options(const char *options_json, char *err,
				size_t errlen)
{
	json_error_t jerr;
	json_t *opts, *threads;
	int rc = CS_OK;

	if (!options_json || !*options_json)
		return CS_OK;
	opts = json_loads(options_json, 0, &jerr);
	if (!opts) {
		native_error(err, errlen, "options: invalid JSON: %s", jerr.text);
		return CS_EINVAL;
	}
	if (!json_is_object(opts)) {
		native_error(err, errlen, "options: not a JSON object");
		rc = CS_EINVAL;
		goto out_free_opts;
	}
	threads = json_object_get(opts, "threads");
	if (threads && (!json_is_integer(threads) ||
			json_integer_value(threads) < 1)) {
		native_error(err, errlen,
			     "options: 'threads' must be a positive integer");
		rc = CS_EINVAL;
	}
out_free_opts:
	json_decref(opts);
	return rc;
}

/*
 * Fills the model's parameters from the parsed file. On failure the
 * caller frees what was allocated (native_unload() copes with a partly
 * filled model).
 */
static int native_parse(const native_file *f, json_t *root, native_model *m,
			char *err, size_t errlen)
{
	json_t *format, *input, *weights;
	int64_t c;
	int rc;

	if (!json_is_object(root)) {
		native_error(err, errlen, "%s: the top level must be an object",
			     f->shown);
		return CS_EFORMAT;
	}
	format = json_object_get(root, "format");
	if (!json_is_string(format)) {
		native_error(err, errlen, "%s: 'format' is %s, expected \"%s\"",
			     f->shown, format ? "not a string" : "missing",
			     NATIVE_FORMAT);
		return CS_EFORMAT;
	}
	if (strcmp(json_string_value(format), NATIVE_FORMAT) != 0) {
		native_error(err, errlen, "%s: 'format' is \"%s\", expected \"%s\"",
			     f->shown, json_string_value(format), NATIVE_FORMAT);
		return CS_EFORMAT;
	}
	input = json_object_get(root, "input");
	if (!json_is_string(input) || json_string_length(input) == 0 ||
	    strlen(json_string_value(input)) != json_string_length(input)) {
		native_error(err, errlen,
			     "%s: 'input' must be a non-empty string (the input name)",
			     f->shown);
		return CS_EFORMAT;
	}
	rc = native_get_dim(f, root, "features", &m->features, err, errlen);
	if (rc)
		return rc;
	rc = native_get_dim(f, root, "classes", &m->classes, err, errlen);
	if (rc)
		return rc;
	if (m->features * m->classes > NATIVE_MAX_PARAMS) {
		native_error(err, errlen,
			     "%s: %lld features x %lld classes is over %d weights",
			     f->shown, (long long)m->features,
			     (long long)m->classes, NATIVE_MAX_PARAMS);
		return CS_EFORMAT;
	}

	m->input_name = malloc(json_string_length(input) + 1);
	if (m->input_name)
		memcpy(m->input_name, json_string_value(input),
		       json_string_length(input) + 1);
	m->weights = malloc((size_t)(m->features * m->classes) * sizeof(double));
	m->bias = malloc((size_t)m->classes * sizeof(double));
	if (!m->input_name || !m->weights || !m->bias) {
		native_error(err, errlen, "%s: out of memory", f->shown);
		return CS_ENOMEM;
	}

	weights = json_object_get(root, "weights");
	if (!json_is_array(weights)) {
		native_error(err, errlen, "%s: 'weights' %s", f->shown,
			     weights ? "must be an array of arrays" : "is missing");
		return CS_EFORMAT;
	}
	if ((int64_t)json_array_size(weights) != m->classes) {
		native_error(err, errlen,
			     "%s: 'weights' has %zu rows, expected %lld (classes)",
			     f->shown, json_array_size(weights),
			     (long long)m->classes);
		return CS_EFORMAT;
	}
	for (c = 0; c < m->classes; c++) {
		char what[32];

		snprintf(what, sizeof(what), "weights[%lld]", (long long)c);
		rc = native_get_numbers(f, json_array_get(weights, (size_t)c),
					what, m->features, "features",
					m->weights + c * m->features, err,
					errlen);
		if (rc)
			return rc;
	}
	if (!json_object_get(root, "bias")) {
		native_error(err, errlen, "%s: 'bias' is missing", f->shown);
		return CS_EFORMAT;
	}
	rc = native_get_numbers(f, json_object_get(root, "bias"), "bias",
				m->classes, "classes", m->bias, err, errlen);
	if (rc)
		return rc;
	return native_check_labels(f, root, m->classes, err, errlen);
}

/* Fills the describe() tables from the parameters. */
static void native_fill_desc(native_model *m)
{
	static const char *const out_names[2] = { "logits", "probs" };
	size_t i;

	m->inputs[0].name = m->input_name;
	m->inputs[0].dtype = CS_FP32;
	m->inputs[0].ndim = 2;
	m->inputs[0].shape[0] = -1;
	m->inputs[0].shape[1] = m->features;
	for (i = 0; i < 2; i++) {
		m->outputs[i].name = out_names[i];
		m->outputs[i].dtype = CS_FP32;
		m->outputs[i].ndim = 2;
		m->outputs[i].shape[0] = -1;
		m->outputs[i].shape[1] = m->classes;
	}
}

/*
 * Loads spec->model_path. On CS_OK *model is a native_model the caller
 * releases with unload(); on failure nothing is kept and err says why:
 * CS_EIO (the file cannot be read), CS_EFORMAT (its content is wrong),
 * CS_EINVAL (no model file, or bad options), CS_ENOMEM.
 */
static int native_load(const cs_host *host, const cs_model_spec *spec,
		       void **model, char *err, size_t errlen)
{
	native_file f;
	native_model *m;
	json_error_t jerr;
	json_t *root;
	FILE *fp;
	int rc;

	if (!spec || !spec->model_path || !*spec->model_path) {
		native_error(err, errlen,
			     "model '%s': the native plugin needs a model file ('model' in the manifest)",
			     spec && spec->name ? spec->name : "?");
		return CS_EINVAL;
	}
	rc = native_check_options(spec->options_json, err, errlen);
	if (rc)
		return rc;

	f.path = spec->model_path;
	f.shown = native_shown_name(f.path, spec->base_dir);
	fp = fopen(f.path, "rb");
	if (!fp) {
		native_error(err, errlen, "cannot open %s: %s", f.path,
			     strerror(errno));
		return CS_EIO;
	}
	root = json_loadf(fp, JSON_REJECT_DUPLICATES, &jerr);
	if (ferror(fp)) {
		native_error(err, errlen, "cannot read %s: %s", f.path,
			     strerror(errno));
		rc = CS_EIO;
		goto out_close;
	}
	if (!root) {
		native_error(err, errlen, "%s:%d:%d: invalid JSON: %s", f.shown,
			     jerr.line, jerr.column, jerr.text);
		rc = CS_EFORMAT;
		goto out_close;
	}

	m = calloc(1, sizeof(*m));
	if (!m) {
		native_error(err, errlen, "%s: out of memory", f.shown);
		rc = CS_ENOMEM;
		goto out_free_root;
	}
	rc = native_parse(&f, root, m, err, errlen);
	if (rc) {
		native_unload(m);
		goto out_free_root;
	}
	native_fill_desc(m);
	*model = m;

	if (host && host->log) {
		char line[512];

		snprintf(line, sizeof(line),
			 "native: %s: linear classifier, input '%s', %lld features, %lld classes",
			 f.shown, m->input_name, (long long)m->features,
			 (long long)m->classes);
		host->log(host->ctx, CS_LOG_INFO, line);
	}
out_free_root:
	json_decref(root);
out_close:
	fclose(fp);
	return rc;
}

/*
 * Hands out the model's input and output descriptions. The arrays belong
 * to the model and stay valid until unload().
 */
static int native_describe(void *model, const cs_io_desc **inputs,
			   size_t *n_inputs, const cs_io_desc **outputs,
			   size_t *n_outputs, char *err, size_t errlen)
{
	native_model *m = model;

	if (!m) {
		native_error(err, errlen, "native: describe() without a model");
		return CS_EINVAL;
	}
	*inputs = m->inputs;
	*n_inputs = 1;
	*outputs = m->outputs;
	*n_outputs = 2;
	return CS_OK;
}

/*
 * Sets one [rows, classes] FP32 output, its data from alloc. rows may be 0
 * (then data is NULL). Returns CS_OK or CS_ENOMEM.
 */
static int native_alloc_output(cs_tensor *t, int64_t rows, int64_t classes,
			       const cs_allocator *alloc, char *err,
			       size_t errlen)
{
	size_t nbytes = (size_t)(rows * classes) * sizeof(float);

	t->dtype = CS_FP32;
	t->ndim = 2;
	t->shape[0] = rows;
	t->shape[1] = classes;
	t->nbytes = nbytes;
	t->data = NULL;
	if (nbytes == 0)
		return CS_OK;
	t->data = alloc->alloc(alloc->ctx, nbytes);
	if (!t->data) {
		native_error(err, errlen,
			     "native: out of memory for output '%s' (%zu bytes)",
			     t->name ? t->name : "?", nbytes);
		return CS_ENOMEM;
	}
	return CS_OK;
}

/*
 * Checks the one input against the model: FP32 [rows, features] with a
 * consistent byte count. Sets *rows. Returns CS_OK or CS_EINVAL.
 */
static int native_check_input(const native_model *m, const cs_tensor *x,
			      int64_t *rows, char *err, size_t errlen)
{
	const char *name = x->name ? x->name : m->input_name;

	if (x->dtype != CS_FP32) {
		native_error(err, errlen,
			     "native: input '%s' must be FP32 (dtype %d given)",
			     name, (int)x->dtype);
		return CS_EINVAL;
	}
	if (x->ndim != 2 || x->shape[0] < 0 ||
	    x->shape[0] > (int64_t)(SIZE_MAX / sizeof(float)) / m->features ||
	    x->shape[0] > (int64_t)(SIZE_MAX / sizeof(float)) / m->classes) {
		native_error(err, errlen,
			     "native: input '%s' must have shape [N, %lld] (rank %d given)",
			     name, (long long)m->features, (int)x->ndim);
		return CS_EINVAL;
	}
	if (x->shape[1] != m->features) {
		native_error(err, errlen,
			     "native: input '%s' has %lld features, expected %lld",
			     name, (long long)x->shape[1],
			     (long long)m->features);
		return CS_EINVAL;
	}
	if (x->nbytes != (size_t)(x->shape[0] * m->features) * sizeof(float) ||
	    (x->nbytes > 0 && !x->data)) {
		native_error(err, errlen,
			     "native: input '%s' holds %zu bytes, shape [%lld,%lld] needs %zu",
			     name, x->nbytes, (long long)x->shape[0],
			     (long long)m->features,
			     (size_t)(x->shape[0] * m->features) * sizeof(float));
		return CS_EINVAL;
	}
	*rows = x->shape[0];
	return CS_OK;
}

/*
 * Computes logits and probs for every row of the input. inputs are
 * borrowed; the outputs' data comes from alloc and belongs to the caller.
 * Thread-safe: the model is only read, scratch space is per call.
 */
static int native_infer(void *model, const cs_tensor *inputs, size_t n_inputs,
			cs_tensor *outputs, size_t n_outputs,
			const cs_allocator *alloc, char *err, size_t errlen)
{
	const native_model *m = model;
	const unsigned char *xdata;
	float *logits, *probs;
	double *z;
	int64_t rows, r, c, k;
	int rc;

	if (!m || !inputs || !outputs || !alloc || !alloc->alloc) {
		native_error(err, errlen, "native: infer() with a NULL argument");
		return CS_EINVAL;
	}
	if (n_inputs != 1 || n_outputs != 2) {
		native_error(err, errlen,
			     "native: infer() takes 1 input and 2 outputs, got %zu and %zu",
			     n_inputs, n_outputs);
		return CS_EINVAL;
	}
	rc = native_check_input(m, &inputs[0], &rows, err, errlen);
	if (rc)
		return rc;
	rc = native_alloc_output(&outputs[0], rows, m->classes, alloc, err, errlen);
	if (rc)
		return rc;
	rc = native_alloc_output(&outputs[1], rows, m->classes, alloc, err, errlen);
	if (rc)
		return rc;
	if (rows == 0)
		return CS_OK;

	z = malloc((size_t)m->classes * sizeof(double));
	if (!z) {
		native_error(err, errlen, "native: out of memory");
		return CS_ENOMEM;
	}
	xdata = inputs[0].data;
	logits = outputs[0].data;
	probs = outputs[1].data;
	for (r = 0; r < rows; r++) {
		const unsigned char *row = xdata + (size_t)(r * m->features) * sizeof(float);
		double zmax = -INFINITY, sum = 0.0;

		for (c = 0; c < m->classes; c++) {
			const double *w = m->weights + c * m->features;
			double acc = m->bias[c];

			for (k = 0; k < m->features; k++) {
				float xv;

				/* the input may be unaligned: read by copy */
				memcpy(&xv, row + (size_t)k * sizeof(float), sizeof(xv));
				acc += w[k] * (double)xv;
			}
			z[c] = acc;
			if (acc > zmax)
				zmax = acc;
			logits[r * m->classes + c] = (float)acc;
		}
		for (c = 0; c < m->classes; c++) {
			z[c] = exp(z[c] - zmax);
			sum += z[c];
		}
		for (c = 0; c < m->classes; c++)
			probs[r * m->classes + c] = (float)(z[c] / sum);
	}
	free(z);
	return CS_OK;
}

/* Frees a model and everything it owns; NULL is allowed. */
static void native_unload(void *model)
{
	native_model *m = model;

	if (!m)
		return;
	free(m->weights);
	free(m->bias);
	free(m->input_name);
	free(m);
}
