/*
 * torch.c - the torch backend: TorchScript modules run by libtorch (1.13).
 *
 * The C ABI side of the plugin. libtorch is reached only through the C
 * calls of torch_shim.h.
 *
 * A TorchScript archive records no input or output shapes, so the module's
 * signature (names, dtypes, shapes; the format of a manifest's "inputs" and
 * "outputs") comes from, in this order:
 *   1. options.signature in the manifest: {"inputs": [...], "outputs": [...]}
 *   2. the archive's extra file "cubeserve.json" with the same object, which
 *      examples/digits/export.py writes through torch.jit.save(...,
 *      _extra_files=...).
 * load() then checks the signature by running the module once on zeros
 * (dynamic dimensions as 1): a signature that does not fit the module is
 * refused at load, not found out by the first client. The run also warms
 * the module up before the prefork master forks.
 *
 * Options: {"optimize": true} runs torch::jit::optimize_for_inference()
 * (freeze, fold, MKLDNN convolutions); "signature" as above.
 *
 * Not flagged thread-safe: libtorch's forward() may run concurrently, but
 * the thread count is process-wide and one worker process runs one request
 * at a time; the runtime's batcher is the way to use a core fully.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include <cubeserve/plugin.h>

#include "torch_shim.h"

#define TORCH_PLUGIN_VERSION "1.0.0"

typedef struct torch_model {
	cs__torch_module *module;
	cs_io_desc *inputs, *outputs;
	size_t n_inputs, n_outputs;
	char *path;
	int threads;
} torch_model;

static int torch_load(const cs_host *host, const cs_model_spec *spec,
		      void **model, char *err, size_t errlen);
static int torch_describe(void *model, const cs_io_desc **inputs,
			  size_t *n_inputs, const cs_io_desc **outputs,
			  size_t *n_outputs, char *err, size_t errlen);
static int torch_infer(void *model, const cs_tensor *inputs, size_t n_inputs,
		       cs_tensor *outputs, size_t n_outputs,
		       const cs_allocator *alloc, char *err, size_t errlen);
static void torch_unload(void *model);

static const cs_plugin torch_plugin = {
	.abi_version = CS_PLUGIN_ABI_VERSION,
	.struct_size = sizeof(cs_plugin),
	.name = "torch",
	.version = TORCH_PLUGIN_VERSION,
	.flags = CS_PLUGIN_BATCHING,
	.load = torch_load,
	.describe = torch_describe,
	.infer = torch_infer,
	.unload = torch_unload,
};

CS_PLUGIN_EXPORT const cs_plugin *cs_plugin_entry(void);

const cs_plugin *cs_plugin_entry(void)
{
	return &torch_plugin;
}

/* ---------------------------------------------------------------- dtypes */

/* libtorch 1.13 has no unsigned types wider than 8 bits and no strings. */
static bool dtype_supported(cs_dtype t)
{
	return cs_dtype_size(t) != 0 && t != CS_UINT16 && t != CS_UINT32 &&
	       t != CS_UINT64;
}

/* Whether t fits the declaration d: dtype, rank, every fixed dimension. */
static bool fits(const cs_io_desc *d, const cs_tensor *t)
{
	return t->dtype == d->dtype &&
	       cs_shape_matches(d->ndim, d->shape, t->ndim, t->shape);
}

/* "output 'logits' is FP32 [-1,10], got FP64 [1,10]" */
static void mismatch(const char *kind, const cs_io_desc *d,
		     const cs_tensor *t, char *err, size_t errlen)
{
	char want[128], got[128];

	snprintf(err, errlen, "%s '%s' is %s %s, got %s %s", kind,
		 d->name, cs_dtype_name(d->dtype),
		 cs_shape_format(d->ndim, d->shape, want, sizeof want),
		 cs_dtype_name(t->dtype),
		 cs_shape_format(t->ndim, t->shape, got, sizeof got));
}

/* ---------------------------------------------------------------- signature */

static void descs_free(cs_io_desc *d, size_t n)
{
	if (!d)
		return;
	for (size_t i = 0; i < n; i++)
		free((char *)d[i].name);
	free(d);
}

/* Reads [{"name": ..., "dtype": ..., "shape": [...]}, ...]. */
static int read_descs(json_t *arr, const char *kind, cs_io_desc **out,
		      size_t *n, char *err, size_t errlen)
{
	size_t count = json_array_size(arr), i, j;
	cs_io_desc *d;
	json_t *v, *dim;

	if (!json_is_array(arr) || count == 0) {
		snprintf(err, errlen, "signature: \"%s\" must be a non-empty "
			 "array", kind);
		return CS_EINVAL;
	}
	if (!(d = calloc(count, sizeof *d))) {
		snprintf(err, errlen, "out of memory");
		return CS_ENOMEM;
	}
	json_array_foreach(arr, i, v) {
		const char *name = json_string_value(json_object_get(v, "name"));
		const char *dt = json_string_value(json_object_get(v, "dtype"));
		json_t *shape = json_object_get(v, "shape");

		if (!name || !dt || !json_is_array(shape)) {
			snprintf(err, errlen, "signature: %s %zu needs a "
				 "\"name\", a \"dtype\" and a \"shape\"",
				 kind, i);
			goto out_invalid;
		}
		d[i].dtype = cs_dtype_from_name(dt);
		if (!dtype_supported(d[i].dtype)) {
			snprintf(err, errlen, "signature: %s '%s' has dtype "
				 "'%s', which the torch backend does not "
				 "support", kind, name, dt);
			goto out_invalid;
		}
		if (json_array_size(shape) > CS_MAX_DIMS) {
			snprintf(err, errlen, "signature: %s '%s' has more "
				 "than %d dimensions", kind, name, CS_MAX_DIMS);
			goto out_invalid;
		}
		d[i].ndim = (int32_t)json_array_size(shape);
		json_array_foreach(shape, j, dim) {
			if (!json_is_integer(dim) ||
			    json_integer_value(dim) < -1) {
				snprintf(err, errlen, "signature: %s '%s': "
					 "dimensions are integers >= -1",
					 kind, name);
				goto out_invalid;
			}
			d[i].shape[j] = json_integer_value(dim);
		}
		if (!(d[i].name = strdup(name))) {
			descs_free(d, count);
			snprintf(err, errlen, "out of memory");
			return CS_ENOMEM;
		}
	}
	*out = d;
	*n = count;
	return CS_OK;
out_invalid:
	descs_free(d, count);
	return CS_EINVAL;
}

static int read_signature(json_t *sig, torch_model *m, char *err,
			  size_t errlen)
{
	int rc;

	if (!json_is_object(sig)) {
		snprintf(err, errlen, "signature: not a JSON object");
		return CS_EINVAL;
	}
	rc = read_descs(json_object_get(sig, "inputs"), "inputs",
			&m->inputs, &m->n_inputs, err, errlen);
	if (rc == CS_OK)
		rc = read_descs(json_object_get(sig, "outputs"), "outputs",
				&m->outputs, &m->n_outputs, err, errlen);
	return rc;
}

/* ---------------------------------------------------------------- load */

typedef struct torch_options {
	bool optimize;
	json_t *signature; /* borrowed from the parsed options, or NULL */
} torch_options;

static int read_options(json_t *o, torch_options *opt, char *err,
			size_t errlen)
{
	const char *key;
	json_t *val;

	if (!json_is_object(o)) {
		snprintf(err, errlen, "torch options: not a JSON object");
		return CS_EINVAL;
	}
	json_object_foreach(o, key, val) {
		if (strcmp(key, "optimize") == 0 && json_is_boolean(val)) {
			opt->optimize = json_is_true(val);
		} else if (strcmp(key, "signature") == 0) {
			opt->signature = val;
		} else {
			snprintf(err, errlen, "torch options: %s option '%s' "
				 "(known: \"optimize\": bool, \"signature\": "
				 "{\"inputs\": [...], \"outputs\": [...]})",
				 strcmp(key, "optimize") == 0 ? "a bad value for"
							       : "unknown",
				 key);
			return CS_EINVAL;
		}
	}
	return CS_OK;
}

/* A bump of malloc'ed blocks for the probe run at load. */
typedef struct probe_arena {
	void *blocks[64];
	size_t n;
} probe_arena;

static void *probe_alloc(void *ctx, size_t size)
{
	probe_arena *a = ctx;
	void *p;

	if (a->n == sizeof a->blocks / sizeof a->blocks[0])
		return NULL;
	if ((p = calloc(1, size ? size : 1)))
		a->blocks[a->n++] = p;
	return p;
}

/*
 * Runs the module on zeros shaped by the signature (dynamic dimensions as
 * 1) and checks the outputs against it. On one thread: torch_shim.h says
 * why.
 */
static int probe(torch_model *m, char *err, size_t errlen)
{
	probe_arena arena = { .n = 0 };
	cs_allocator alloc = { &arena, probe_alloc };
	cs_tensor *in = calloc(m->n_inputs, sizeof *in);
	cs_tensor *out = calloc(m->n_outputs, sizeof *out);
	char why[CS_ERROR_SIZE];
	int rc = CS_ENOMEM;

	if (!in || !out)
		goto out_free;
	for (size_t i = 0; i < m->n_inputs; i++) {
		const cs_io_desc *d = &m->inputs[i];
		in[i].name = d->name;
		in[i].dtype = d->dtype;
		in[i].ndim = d->ndim;
		for (int32_t k = 0; k < d->ndim; k++)
			in[i].shape[k] = d->shape[k] < 0 ? 1 : d->shape[k];
		in[i].nbytes = (size_t)cs_shape_numel(d->ndim, in[i].shape) *
			       cs_dtype_size(d->dtype);
		if (!(in[i].data = probe_alloc(&arena, in[i].nbytes)))
			goto out_free;
	}
	for (size_t i = 0; i < m->n_outputs; i++)
		out[i].name = m->outputs[i].name;
	rc = cs__torch_module_forward(m->module, 1, in, m->n_inputs, out,
				      m->n_outputs, &alloc, why, sizeof why);
	if (rc != CS_OK) {
		snprintf(err, errlen, "'%s' fails on inputs of its signature: "
			 "%s", m->path, why);
		goto out_free;
	}
	for (size_t i = 0; i < m->n_outputs; i++) {
		if (!fits(&m->outputs[i], &out[i])) {
			mismatch("output", &m->outputs[i], &out[i], why,
				 sizeof why);
			snprintf(err, errlen, "'%s' does not fit its signature: "
				 "%s", m->path, why);
			rc = CS_EFORMAT;
			goto out_free;
		}
	}
out_free:
	if (rc == CS_ENOMEM)
		snprintf(err, errlen, "out of memory");
	while (arena.n)
		free(arena.blocks[--arena.n]);
	free(in);
	free(out);
	return rc;
}

static void model_free(torch_model *m)
{
	if (!m)
		return;
	if (m->module)
		cs__torch_module_free(m->module);
	descs_free(m->inputs, m->n_inputs);
	descs_free(m->outputs, m->n_outputs);
	free(m->path);
	free(m);
}

static int torch_load(const cs_host *host, const cs_model_spec *spec,
		      void **model, char *err, size_t errlen)
{
	torch_options opt = { false, NULL };
	char why[CS_ERROR_SIZE], *archive_sig = NULL;
	json_t *options = NULL, *sig = NULL;
	json_error_t jerr;
	struct stat st;
	torch_model *m = NULL;
	int rc;

	if (!spec->model_path) {
		snprintf(err, errlen, "the torch backend needs a model file");
		return CS_EINVAL;
	}
	options = json_loads(spec->options_json ? spec->options_json : "{}",
			     0, &jerr);
	if (!options) {
		snprintf(err, errlen, "torch options: %s", jerr.text);
		return CS_EINVAL;
	}
	if ((rc = read_options(options, &opt, err, errlen)) != CS_OK)
		goto out_free_options;
	/* libtorch's own message for this one is a C++ backtrace */
	if (stat(spec->model_path, &st) != 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "cannot open '%s': %s", spec->model_path,
			 errno && !S_ISREG(st.st_mode) ? strerror(errno)
						      : "not a regular file");
		rc = CS_EIO;
		goto out_free_options;
	}
	rc = CS_ENOMEM;
	if (!(m = calloc(1, sizeof *m)) ||
	    !(m->path = strdup(spec->model_path))) {
		snprintf(err, errlen, "out of memory");
		goto out_free_model;
	}
	m->threads = spec->threads > 0 ? spec->threads : 1;
	rc = cs__torch_module_load(m->path, opt.optimize, &m->module,
				   &archive_sig, why, sizeof why);
	if (rc != CS_OK) {
		snprintf(err, errlen, "cannot load '%s': %s", m->path, why);
		goto out_free_model;
	}

	if (opt.signature) {
		sig = json_incref(opt.signature);
	} else if (archive_sig) {
		if (!(sig = json_loads(archive_sig, 0, &jerr))) {
			snprintf(err, errlen, "'%s': its %s is not JSON: %s",
				 m->path, CS_TORCH_SIGNATURE_FILE, jerr.text);
			rc = CS_EFORMAT;
			goto out_free_model;
		}
	} else {
		snprintf(err, errlen, "'%s' has no signature: TorchScript "
			 "records no shapes; give options.signature "
			 "{\"inputs\": [...], \"outputs\": [...]} in the "
			 "manifest or save the module with the extra file %s "
			 "(docs/backends.md)", m->path, CS_TORCH_SIGNATURE_FILE);
		rc = CS_EINVAL;
		goto out_free_model;
	}
	if ((rc = read_signature(sig, m, why, sizeof why)) != CS_OK) {
		snprintf(err, errlen, "'%s': %s", m->path, why);
		goto out_free_model;
	}
	if ((rc = probe(m, err, errlen)) != CS_OK)
		goto out_free_model;

	if (host && host->log) {
		snprintf(why, sizeof why, "torch: loaded '%s' (%zu inputs, "
			 "%zu outputs, %d threads%s)", m->path, m->n_inputs,
			 m->n_outputs, spec->threads > 0 ? spec->threads : 1,
			 opt.optimize ? ", optimized for inference" : "");
		host->log(host->ctx, CS_LOG_INFO, why);
	}
	*model = m;
	m = NULL;
out_free_model:
	model_free(m);
	json_decref(sig);
	free(archive_sig);
out_free_options:
	json_decref(options);
	return rc;
}

static int torch_describe(void *model, const cs_io_desc **inputs,
			  size_t *n_inputs, const cs_io_desc **outputs,
			  size_t *n_outputs, char *err, size_t errlen)
{
	torch_model *m = model;

	*inputs = m->inputs;
	*n_inputs = m->n_inputs;
	*outputs = m->outputs;
	*n_outputs = m->n_outputs;
	return CS_OK;
}

/* ---------------------------------------------------------------- infer */

static int torch_infer(void *model, const cs_tensor *inputs, size_t n_inputs,
		       cs_tensor *outputs, size_t n_outputs,
		       const cs_allocator *alloc, char *err, size_t errlen)
{
	torch_model *m = model;
	int rc;

	if (n_inputs != m->n_inputs || n_outputs != m->n_outputs) {
		snprintf(err, errlen, "the model takes %zu inputs and gives %zu "
			 "outputs, got %zu and %zu", m->n_inputs, m->n_outputs,
			 n_inputs, n_outputs);
		return CS_EINVAL;
	}
	for (size_t i = 0; i < n_inputs; i++) {
		const cs_tensor *t = &inputs[i];
		int64_t n = cs_shape_numel(t->ndim, t->shape);

		if (!fits(&m->inputs[i], t) || n < 0 ||
		    t->nbytes != (size_t)n * cs_dtype_size(t->dtype)) {
			mismatch("input", &m->inputs[i], t, err, errlen);
			return CS_EINVAL;
		}
	}
	rc = cs__torch_module_forward(m->module, m->threads, inputs, n_inputs,
				      outputs, n_outputs, alloc, err, errlen);
	if (rc != CS_OK)
		return rc;
	for (size_t i = 0; i < n_outputs; i++) {
		if (!fits(&m->outputs[i], &outputs[i])) {
			mismatch("output", &m->outputs[i], &outputs[i], err,
				 errlen);
			return CS_EBACKEND;
		}
	}
	return CS_OK;
}

static void torch_unload(void *model)
{
	model_free(model);
}
