/*
 * wrong_abi.c - a test plugin built for plugin ABI 2.0: the runtime must
 * refuse it, naming both versions and the file.
 */
#include <cubeserve/plugin.h>

static int load(const cs_host *h, const cs_model_spec *s, void **m, char *e, size_t n)
{
	(void)h; (void)s; (void)m; (void)e; (void)n;
	return CS_EBACKEND;
}

static int describe(void *m, const cs_io_desc **i, size_t *ni, const cs_io_desc **o,
		    size_t *no, char *e, size_t n)
{
	(void)m; (void)i; (void)ni; (void)o; (void)no; (void)e; (void)n;
	return CS_EBACKEND;
}

static int infer(void *m, const cs_tensor *i, size_t ni, cs_tensor *o, size_t no,
		 const cs_allocator *a, char *e, size_t n)
{
	(void)m; (void)i; (void)ni; (void)o; (void)no; (void)a; (void)e; (void)n;
	return CS_EBACKEND;
}

static void unload(void *m)
{
	(void)m;
}

static const cs_plugin table = {
	.abi_version = (2u << 16) | 0u,
	.struct_size = sizeof(cs_plugin),
	.name = "wrong_abi",
	.version = "0",
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
