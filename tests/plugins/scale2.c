/* scale2.c - a complete cubeserve plugin: y = 2 * x, for FP32 [N, M]. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cubeserve/plugin.h>

CS_PLUGIN_EXPORT const cs_plugin *cs_plugin_entry(void);

static int scale2_load(const cs_host *host, const cs_model_spec *spec,
		       void **model, char *err, size_t errlen)
{
	cs_io_desc *io = calloc(2, sizeof(*io)); /* the model: x and y */

	(void)host;
	if (!io) {
		snprintf(err, errlen, "model '%s': out of memory", spec->name);
		return CS_ENOMEM;
	}
	io[0] = (cs_io_desc){ .name = "x", .dtype = CS_FP32, .ndim = 2,
			      .shape = { -1, -1 } };
	io[1] = io[0];
	io[1].name = "y";
	*model = io;
	return CS_OK;
}

static int scale2_describe(void *model, const cs_io_desc **inputs,
			   size_t *n_inputs, const cs_io_desc **outputs,
			   size_t *n_outputs, char *err, size_t errlen)
{
	const cs_io_desc *io = model;

	(void)err, (void)errlen;
	*inputs = &io[0], *n_inputs = 1;
	*outputs = &io[1], *n_outputs = 1;
	return CS_OK;
}

static int scale2_infer(void *model, const cs_tensor *inputs, size_t n_inputs,
			cs_tensor *outputs, size_t n_outputs,
			const cs_allocator *alloc, char *err, size_t errlen)
{
	const cs_tensor *x = &inputs[0];
	cs_tensor *y = &outputs[0];
	size_t i, n = x->nbytes / sizeof(float);
	const float *in = x->data; /* aligned to its element size */
	float *out;

	if (!model || n_inputs != 1 || n_outputs != 1 || x->dtype != CS_FP32) {
		snprintf(err, errlen, "scale2: expects one FP32 input");
		return CS_EINVAL;
	}
	out = alloc->alloc(alloc->ctx, x->nbytes ? x->nbytes : 1);
	if (!out) {
		snprintf(err, errlen, "scale2: out of memory");
		return CS_ENOMEM;
	}
	for (i = 0; i < n; i++)
		out[i] = 2.0f * in[i];
	y->dtype = CS_FP32;
	y->ndim = x->ndim;
	memcpy(y->shape, x->shape, sizeof(y->shape));
	y->nbytes = x->nbytes;
	y->data = out; /* the runtime frees it when the request ends */
	return CS_OK;
}

static void scale2_unload(void *model) { free(model); }

static const cs_plugin scale2_plugin = {
	.abi_version = CS_PLUGIN_ABI_VERSION, .struct_size = sizeof(cs_plugin),
	.name = "scale2", .version = "1.0.0",
	.flags = CS_PLUGIN_THREAD_SAFE | CS_PLUGIN_BATCHING,
	.load = scale2_load, .describe = scale2_describe,
	.infer = scale2_infer, .unload = scale2_unload,
};

CS_PLUGIN_EXPORT const cs_plugin *cs_plugin_entry(void) { return &scale2_plugin; }
