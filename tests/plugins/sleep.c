/*
 * sleep.c - a test backend whose inference takes as long as it is told:
 * input "ms" INT64 [1] -> it sleeps that many milliseconds (a backend call
 * no glue budget can interrupt) and returns "slept" INT64 [1]. Used to test
 * slow-request logging, request time limits and stuck-child recycling.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cubeserve/plugin.h>

static const cs_io_desc inputs[] = {{"ms", CS_INT64, 1, {1}}};
static const cs_io_desc outputs[] = {{"slept", CS_INT64, 1, {1}}};

static int load(const cs_host *h, const cs_model_spec *s, void **m, char *e, size_t n)
{
	(void)h; (void)s; (void)e; (void)n;
	*m = (void *)&inputs; /* no state */
	return CS_OK;
}

static int describe(void *m, const cs_io_desc **i, size_t *ni, const cs_io_desc **o,
		    size_t *no, char *e, size_t n)
{
	(void)m; (void)e; (void)n;
	*i = inputs;
	*ni = 1;
	*o = outputs;
	*no = 1;
	return CS_OK;
}

static int infer(void *m, const cs_tensor *in, size_t ni, cs_tensor *out, size_t no,
		 const cs_allocator *a, char *e, size_t n)
{
	int64_t ms;
	struct timespec ts;

	(void)m; (void)ni; (void)no; (void)e; (void)n;
	memcpy(&ms, in[0].data, sizeof ms);
	if (ms < 0)
		ms = 0;
	ts.tv_sec = (time_t)(ms / 1000);
	ts.tv_nsec = (long)(ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) != 0)
		;
	out[0].dtype = CS_INT64;
	out[0].ndim = 1;
	out[0].shape[0] = 1;
	out[0].nbytes = sizeof ms;
	out[0].data = a->alloc(a->ctx, sizeof ms);
	if (!out[0].data)
		return CS_ENOMEM;
	memcpy(out[0].data, &ms, sizeof ms);
	return CS_OK;
}

static void unload(void *m)
{
	(void)m;
}

static const cs_plugin table = {
	.abi_version = CS_PLUGIN_ABI_VERSION,
	.struct_size = sizeof(cs_plugin),
	.name = "sleep",
	.version = "1",
	.flags = CS_PLUGIN_THREAD_SAFE,
	.load = load,
	.describe = describe,
	.infer = infer,
	.unload = unload,
};

CS_PLUGIN_EXPORT const cs_plugin *cs_plugin_entry(void);

const cs_plugin *cs_plugin_entry(void)
{
	return &table;
}
