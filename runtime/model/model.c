/*
 * model.c - load a model through its plugin; check inputs; infer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/status.h"
#include "model/model.h"

static void host_log(void *ctx, int level, const char *msg)
{
	(void)ctx;
	cs_log(level, "plugin: %s", msg);
}

static const char *io_fmt(const cs_io_desc *d, char *buf, size_t n)
{
	char shape[128];

	snprintf(buf, n, "%s %s", cs_dtype_name(d->dtype),
		 cs_shape_format(d->ndim, d->shape, shape, sizeof shape));
	return buf;
}

static const cs_io_desc *find_io(const cs_io_desc *list, size_t n,
				 const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(list[i].name, name) == 0)
			return &list[i];
	return NULL;
}

/* Lists names "a, b, c" into buf. */
static const char *io_names(const cs_io_desc *list, size_t n, char *buf,
			    size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off, "%s%s",
					i ? ", " : "", list[i].name);
	return buf;
}

/*
 * A declared dimension fits the model's when equal, or when the model's is
 * dynamic (-1): the manifest may narrow, never widen.
 */
static int decl_fits(const cs_io_desc *decl, const cs_io_desc *real)
{
	if (decl->dtype != real->dtype || decl->ndim != real->ndim)
		return 0;
	for (int32_t i = 0; i < decl->ndim; i++)
		if (real->shape[i] != -1 && decl->shape[i] != real->shape[i])
			return 0;
	return 1;
}

static int check_declared(const char *model, const char *what,
			  const cs_io_desc *decl, size_t n_decl,
			  const cs_io_desc *real, size_t n_real, char *err,
			  size_t errlen)
{
	char a[160], b[160], names[512];

	for (size_t i = 0; i < n_decl; i++) {
		const cs_io_desc *r = find_io(real, n_real, decl[i].name);

		if (!r) {
			snprintf(err, errlen,
				 "model '%s': the manifest declares %s '%s' but the model has no such %s (it has: %s)",
				 model, what, decl[i].name, what,
				 io_names(real, n_real, names, sizeof names));
			return CS_EINVAL;
		}
		if (!decl_fits(&decl[i], r)) {
			snprintf(err, errlen,
				 "model '%s': the manifest declares %s '%s' as %s but the model has %s",
				 model, what, decl[i].name,
				 io_fmt(&decl[i], a, sizeof a),
				 io_fmt(r, b, sizeof b));
			return CS_EINVAL;
		}
	}
	for (size_t i = 0; i < n_real; i++) {
		if (!find_io(decl, n_decl, real[i].name)) {
			snprintf(err, errlen,
				 "model '%s': the model has %s '%s' (%s) that the manifest does not declare (it declares: %s)",
				 model, what, real[i].name,
				 io_fmt(&real[i], a, sizeof a),
				 io_names(decl, n_decl, names, sizeof names));
			return CS_EINVAL;
		}
	}
	return CS_OK;
}

int cs_model_load(const cs_manifest *mf, const char *plugin_dir,
		  cs_model **out, char *err, size_t errlen)
{
	char perr[CS_ERROR_SIZE * 4] = ""; /* a load error names a long path */
	cs_model_spec spec;
	struct timespec t0, t1;
	cs_model *m;
	int rc;

	m = calloc(1, sizeof(*m));
	if (!m)
		return CS_ENOMEM;
	m->mf = mf;
	pthread_mutex_init(&m->lock, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = cs_plugin_open(mf->plugin, plugin_dir, mf->dir, &m->plugin, err,
			    errlen);
	if (rc)
		goto out_free_model;

	m->host.abi_version = CS_PLUGIN_ABI_VERSION;
	m->host.struct_size = sizeof(m->host);
	m->host.ctx = m;
	m->host.log = host_log;
	memset(&spec, 0, sizeof spec);
	spec.struct_size = sizeof spec;
	spec.name = mf->name;
	spec.model_path = mf->model_path;
	spec.base_dir = mf->dir;
	spec.options_json = mf->options_json;
	spec.threads = mf->threads;
	rc = m->plugin->api->load(&m->host, &spec, &m->handle, perr,
				  sizeof perr);
	if (rc) {
		snprintf(err, errlen, "model '%s': plugin '%s' cannot load %s: %s",
			 mf->name, m->plugin->api->name,
			 mf->model_path ? mf->model_path : "(no model file)",
			 perr[0] ? perr : "unknown error");
		m->handle = NULL;
		goto out_close_plugin;
	}
	rc = m->plugin->api->describe(m->handle, &m->p_inputs, &m->n_p_inputs,
				      &m->outputs, &m->n_outputs, perr,
				      sizeof perr);
	if (rc) {
		snprintf(err, errlen, "model '%s': plugin '%s' cannot describe the model: %s",
			 mf->name, m->plugin->api->name, perr);
		goto out_unload;
	}
	if (m->n_p_inputs == 0 || m->n_outputs == 0) {
		snprintf(err, errlen, "model '%s': plugin '%s' describes no %s",
			 mf->name, m->plugin->api->name,
			 m->n_p_inputs == 0 ? "inputs" : "outputs");
		rc = CS_EFORMAT;
		goto out_unload;
	}
	m->inputs = m->p_inputs;
	m->n_inputs = m->n_p_inputs;
	if (mf->n_inputs) {
		rc = check_declared(mf->name, "input", mf->inputs,
				    mf->n_inputs, m->p_inputs, m->n_p_inputs,
				    err, errlen);
		if (rc)
			goto out_unload;
		m->inputs = mf->inputs;
		m->n_inputs = mf->n_inputs;
	}
	if (mf->n_outputs) {
		rc = check_declared(mf->name, "output", mf->outputs,
				    mf->n_outputs, m->outputs, m->n_outputs,
				    err, errlen);
		if (rc)
			goto out_unload;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	m->load_seconds = (double)(t1.tv_sec - t0.tv_sec) +
			  (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	*out = m;
	return CS_OK;

out_unload:
	m->plugin->api->unload(m->handle);
out_close_plugin:
	cs_plugin_close(m->plugin);
out_free_model:
	pthread_mutex_destroy(&m->lock);
	free(m);
	return rc;
}

/* Checks that a BYTES buffer is a well-formed sequence of numel elements. */
static int bytes_ok(const cs_tensor *t, int64_t numel)
{
	const unsigned char *p = t->data;
	size_t off = 0;

	for (int64_t i = 0; i < numel; i++) {
		uint32_t len;

		if (t->nbytes - off < 4)
			return 0;
		len = (uint32_t)p[off] | (uint32_t)p[off + 1] << 8 |
		      (uint32_t)p[off + 2] << 16 | (uint32_t)p[off + 3] << 24;
		off += 4;
		if (t->nbytes - off < len)
			return 0;
		off += len;
	}
	return off == t->nbytes;
}

static int check_tensor_data(const char *model, const char *what,
			     const cs_tensor *t, const char *name, char *err,
			     size_t errlen)
{
	char shape[128];
	int64_t numel = cs_shape_numel(t->ndim, t->shape);
	size_t esize = cs_dtype_size(t->dtype);

	if (numel < 0) {
		snprintf(err, errlen, "model '%s': %s '%s' has an invalid shape %s",
			 model, what, name,
			 cs_shape_format(t->ndim, t->shape, shape, sizeof shape));
		return CS_EINVAL;
	}
	if (t->dtype == CS_BYTES) {
		if ((t->nbytes && !t->data) || !bytes_ok(t, numel)) {
			snprintf(err, errlen,
				 "model '%s': %s '%s' BYTES data does not hold %lld elements",
				 model, what, name, (long long)numel);
			return CS_EINVAL;
		}
		return CS_OK;
	}
	if (esize == 0 || (uint64_t)numel > SIZE_MAX / esize ||
	    t->nbytes != (size_t)numel * esize || (t->nbytes && !t->data)) {
		snprintf(err, errlen,
			 "model '%s': %s '%s' has %zu bytes of data, %s %s needs %lld",
			 model, what, name, t->nbytes, cs_dtype_name(t->dtype),
			 cs_shape_format(t->ndim, t->shape, shape, sizeof shape),
			 esize ? (long long)numel * (long long)esize : -1LL);
		return CS_EINVAL;
	}
	return CS_OK;
}

int cs_model_prepare(const cs_model *m, const cs_tensor *inputs,
		     size_t n_inputs, cs_tensor *ordered, char *err,
		     size_t errlen)
{
	const char *model = m->mf->name;
	char a[160], b[160], names[512];
	int rc;

	if (m->n_p_inputs > CS_MODEL_MAX_INPUTS) {
		snprintf(err, errlen, "model '%s': too many inputs", model);
		return CS_EUNSUPPORTED;
	}
	for (size_t i = 0; i < n_inputs; i++) {
		const char *name = inputs[i].name ? inputs[i].name : "";

		if (!find_io(m->inputs, m->n_inputs, name)) {
			snprintf(err, errlen,
				 "model '%s': unknown input '%s' (inputs: %s)",
				 model, name,
				 io_names(m->inputs, m->n_inputs, names,
					  sizeof names));
			return CS_EINVAL;
		}
		for (size_t j = 0; j < i; j++)
			if (inputs[j].name && strcmp(inputs[j].name, name) == 0) {
				snprintf(err, errlen,
					 "model '%s': input '%s' given twice",
					 model, name);
				return CS_EINVAL;
			}
	}
	for (size_t i = 0; i < m->n_p_inputs; i++) {
		const cs_io_desc *pd = &m->p_inputs[i];
		const cs_io_desc *d = find_io(m->inputs, m->n_inputs, pd->name);
		const cs_tensor *t = NULL;

		for (size_t j = 0; j < n_inputs; j++)
			if (inputs[j].name && strcmp(inputs[j].name, pd->name) == 0)
				t = &inputs[j];
		if (!t) {
			snprintf(err, errlen, "model '%s': missing input '%s' %s",
				 model, pd->name, io_fmt(d, a, sizeof a));
			return CS_EINVAL;
		}
		if (t->dtype != d->dtype ||
		    !cs_shape_matches(d->ndim, d->shape, t->ndim, t->shape)) {
			cs_io_desc got = *d;

			got.dtype = t->dtype;
			got.ndim = t->ndim < 0 || t->ndim > CS_MAX_DIMS ? 0 : t->ndim;
			memcpy(got.shape, t->shape, sizeof got.shape);
			snprintf(err, errlen,
				 "model '%s': input '%s' expects %s, got %s",
				 model, pd->name, io_fmt(d, a, sizeof a),
				 io_fmt(&got, b, sizeof b));
			return CS_EINVAL;
		}
		rc = check_tensor_data(model, "input", t, pd->name, err, errlen);
		if (rc)
			return rc;
		ordered[i] = *t;
		ordered[i].name = pd->name;
	}
	return CS_OK;
}

int cs_model_run(cs_model *m, const cs_tensor *ordered, cs_tensor *outputs,
		 cs_arena *arena, char *err, size_t errlen)
{
	cs_allocator alloc = {arena, cs_arena_alloc_cb};
	char perr[CS_ERROR_SIZE] = "";
	int rc;

	memset(outputs, 0, m->n_outputs * sizeof(*outputs));
	for (size_t i = 0; i < m->n_outputs; i++)
		outputs[i].name = m->outputs[i].name;
	if (!(m->plugin->api->flags & CS_PLUGIN_THREAD_SAFE))
		pthread_mutex_lock(&m->lock);
	rc = m->plugin->api->infer(m->handle, ordered, m->n_p_inputs, outputs,
				   m->n_outputs, &alloc, perr, sizeof perr);
	if (!(m->plugin->api->flags & CS_PLUGIN_THREAD_SAFE))
		pthread_mutex_unlock(&m->lock);
	if (rc) {
		snprintf(err, errlen, "model '%s': %s",
			 m->mf->name, perr[0] ? perr : cs_strerror(rc));
		return rc > 0 ? CS_EBACKEND : rc;
	}
	for (size_t i = 0; i < m->n_outputs; i++) {
		outputs[i].name = m->outputs[i].name;
		rc = check_tensor_data(m->mf->name, "plugin output", &outputs[i],
				       m->outputs[i].name, err, errlen);
		if (rc)
			return CS_EBACKEND;
	}
	return CS_OK;
}

int cs_model_infer(cs_model *m, const cs_tensor *inputs, size_t n_inputs,
		   cs_tensor *outputs, cs_arena *arena, char *err,
		   size_t errlen)
{
	cs_tensor ordered[CS_MODEL_MAX_INPUTS];
	int rc;

	rc = cs_model_prepare(m, inputs, n_inputs, ordered, err, errlen);
	if (rc)
		return rc;
	return cs_model_run(m, ordered, outputs, arena, err, errlen);
}

int cs_model_output_index(const cs_model *m, const char *name)
{
	for (size_t i = 0; i < m->n_outputs; i++)
		if (strcmp(m->outputs[i].name, name) == 0)
			return (int)i;
	return -1;
}

void cs_model_free(cs_model *m)
{
	if (!m)
		return;
	if (m->handle)
		m->plugin->api->unload(m->handle);
	cs_plugin_close(m->plugin);
	pthread_mutex_destroy(&m->lock);
	free(m);
}
