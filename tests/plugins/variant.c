/*
 * variant.c - test plugins for the loader's checks, one per VARIANT:
 *   SHORT_TABLE  struct_size smaller than the ABI 1.0 table: refused
 *   NULL_MEMBER  infer is NULL: refused as incomplete
 *   NULL_ENTRY   the entry returns NULL: refused
 *   NEWER_MINOR  built for ABI 1.(minor+1) with a longer table: accepted
 */
#include <stddef.h>

#include <cubeserve/plugin.h>

static int load(const cs_host *h, const cs_model_spec *s, void **m, char *e, size_t n)
{
	(void)h; (void)s; (void)e; (void)n;
	*m = NULL;
	return CS_OK;
}

static int describe(void *m, const cs_io_desc **i, size_t *ni, const cs_io_desc **o,
		    size_t *no, char *e, size_t n)
{
	(void)m; (void)e; (void)n;
	*i = *o = NULL;
	*ni = *no = 0;
	return CS_OK;
}

static __attribute__((unused)) int infer(void *m, const cs_tensor *i, size_t ni, cs_tensor *o, size_t no,
		 const cs_allocator *a, char *e, size_t n)
{
	(void)m; (void)i; (void)ni; (void)o; (void)no; (void)a; (void)e; (void)n;
	return CS_OK;
}

static void unload(void *m)
{
	(void)m;
}

/* A table from a future minor version: what this runtime knows, then more. */
struct newer_table {
	cs_plugin known;
	void (*later_member)(void);
};

static const struct newer_table table = {
	.known = {
#if defined(NEWER_MINOR)
		.abi_version = ((uint32_t)CS_PLUGIN_ABI_MAJOR << 16) |
			       (uint32_t)(CS_PLUGIN_ABI_MINOR + 1),
		.struct_size = sizeof(struct newer_table),
#elif defined(SHORT_TABLE)
		.abi_version = CS_PLUGIN_ABI_VERSION,
		.struct_size = offsetof(cs_plugin, unload),
#else
		.abi_version = CS_PLUGIN_ABI_VERSION,
		.struct_size = sizeof(cs_plugin),
#endif
		.name = "variant",
		.version = "0",
		.load = load,
		.describe = describe,
#if defined(NULL_MEMBER)
		.infer = NULL,
#else
		.infer = infer,
#endif
		.unload = unload,
	},
	.later_member = NULL,
};

CS_PLUGIN_EXPORT const cs_plugin *cs_plugin_entry(void);

const cs_plugin *cs_plugin_entry(void)
{
#if defined(NULL_ENTRY)
	(void)table;
	return NULL;
#else
	return &table.known;
#endif
}
