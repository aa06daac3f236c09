/* test_plugin.c - finding and checking plugins; model load and input checks. */
#include <stdlib.h>

#include "tap.h"
#include "helpers.h"

#include "model/model.h"
#include "model/plugin.h"

static char plugins[512], testplugins[512];
static char dir[] = "/tmp/cs-plugin-XXXXXX";

TEST(wrong_abi_is_refused)
{
	char path[1024], err[512] = "", want[32];
	cs_plugin_handle *h = NULL;

	snprintf(path, sizeof path, "%s/.libs/wrong_abi.so", testplugins);
	CHECK(cs_plugin_open(path, NULL, NULL, &h, err, sizeof err) == CS_EABI);
	CHECK(h == NULL);
	CHECK_HAS(err, "not binary compatible");
	CHECK_HAS(err, "ABI 2.0");
	snprintf(want, sizeof want, "ABI %d.%d", CS_PLUGIN_ABI_MAJOR, CS_PLUGIN_ABI_MINOR);
	CHECK_HAS(err, want);
	CHECK_HAS(err, "wrong_abi.so");
}

TEST(no_entry_symbol_is_refused)
{
	char path[1024], err[512] = "";
	cs_plugin_handle *h = NULL;

	snprintf(path, sizeof path, "%s/.libs/no_entry.so", testplugins);
	CHECK(cs_plugin_open(path, NULL, NULL, &h, err, sizeof err) == CS_EFORMAT);
	CHECK_HAS(err, "cs_plugin_entry");
	CHECK_HAS(err, "no_entry.so");
}

/* Opens a test plugin; the status, with the message in err. */
static int open_test_plugin(const char *name, cs_plugin_handle **h, char *err,
			    size_t errlen)
{
	char path[1024];

	snprintf(path, sizeof path, "%s/.libs/%s.so", testplugins, name);
	*h = NULL;
	return cs_plugin_open(path, NULL, NULL, h, err, errlen);
}

TEST(short_table_is_refused)
{
	char err[512] = "";
	cs_plugin_handle *h;

	CHECK(open_test_plugin("short_table", &h, err, sizeof err) == CS_EABI);
	CHECK(h == NULL);
	CHECK_HAS(err, "its table is");
	CHECK_HAS(err, "short_table.so");
}

TEST(null_member_is_refused)
{
	char err[512] = "";
	cs_plugin_handle *h;

	CHECK(open_test_plugin("null_member", &h, err, sizeof err) == CS_EFORMAT);
	CHECK(h == NULL);
	CHECK_HAS(err, "incomplete");
}

TEST(null_entry_is_refused)
{
	char err[512] = "";
	cs_plugin_handle *h;

	CHECK(open_test_plugin("null_entry", &h, err, sizeof err) == CS_EFORMAT);
	CHECK(h == NULL);
	CHECK_HAS(err, "returned NULL");
}

TEST(newer_minor_is_accepted)
{
	char err[512] = "";
	cs_plugin_handle *h;

	CHECK(open_test_plugin("newer_minor", &h, err, sizeof err) == CS_OK);
	if (h) {
		CHECK(CS_PLUGIN_ABI_VERSION_MINOR(h->api->abi_version) ==
		      CS_PLUGIN_ABI_MINOR + 1);
		CHECK(h->api->struct_size > sizeof(cs_plugin));
	} else {
		printf("#   %s\n", err);
	}
	cs_plugin_close(h);
}

static void *test_alloc(void *ctx, size_t size)
{
	(void)ctx;
	return aligned_alloc(16, (size + 15) / 16 * 16);
}

/* The complete plugin of docs/plugin-abi.md loads, describes and doubles. */
TEST(documented_plugin_runs)
{
	char err[512] = "";
	cs_plugin_handle *h;
	const cs_io_desc *in, *out;
	size_t n_in = 0, n_out = 0;
	cs_model_spec spec = {sizeof spec, "double", NULL, "/", "{}", 1};
	cs_allocator alloc = {NULL, test_alloc};
	float x[6] = {1, -2, 3.5f, 0, 4, -0.25f};
	cs_tensor t = {"x", CS_FP32, 2, {2, 3}, x, sizeof x}, y;
	void *model = NULL;

	CHECK(open_test_plugin("scale2", &h, err, sizeof err) == CS_OK);
	if (!h) {
		printf("#   %s\n", err);
		return;
	}
	CHECK(h->api->load(NULL, &spec, &model, err, sizeof err) == CS_OK);
	CHECK(h->api->describe(model, &in, &n_in, &out, &n_out, err, sizeof err) == CS_OK);
	CHECK(n_in == 1 && n_out == 1);
	CHECK_STR(in[0].name, "x");
	CHECK_STR(out[0].name, "y");
	memset(&y, 0, sizeof y);
	y.name = "y";
	CHECK(h->api->infer(model, &t, 1, &y, 1, &alloc, err, sizeof err) == CS_OK);
	CHECK(y.dtype == CS_FP32 && y.ndim == 2 && y.shape[0] == 2 && y.shape[1] == 3);
	CHECK(y.nbytes == sizeof x);
	for (int i = 0; y.data && i < 6; i++)
		CHECK(((float *)y.data)[i] == 2 * x[i]);
	t.dtype = CS_INT32;
	CHECK(h->api->infer(model, &t, 1, &y, 1, &alloc, err, sizeof err) == CS_EINVAL);
	CHECK_HAS(err, "FP32");
	free(y.data);
	h->api->unload(model);
	cs_plugin_close(h);
}

TEST(lookup_by_name)
{
	char err[512] = "";
	cs_plugin_handle *h = NULL;

	CHECK(cs_plugin_open("native", plugins, NULL, &h, err, sizeof err) == CS_OK);
	if (h) {
		CHECK_STR(h->api->name, "native");
		CHECK(h->api->abi_version == CS_PLUGIN_ABI_VERSION);
	}
	cs_plugin_close(h);
	h = NULL;
	CHECK(cs_plugin_open("nosuch", plugins, NULL, &h, err, sizeof err) == CS_ENOTFOUND);
	CHECK_HAS(err, "plugin 'nosuch' not found");
	CHECK_HAS(err, "--plugin-dir");
	CHECK(cs_plugin_open("./missing.so", NULL, "/tmp", &h, err, sizeof err) == CS_EIO);
	CHECK_HAS(err, "/tmp/./missing.so");
	/* the environment variable is the default directory */
	setenv("CUBESERVE_PLUGIN_DIR", plugins, 1);
	CHECK(cs_plugin_open("native", NULL, NULL, &h, err, sizeof err) == CS_OK);
	cs_plugin_close(h);
}

/* A manifest for the linear weights with the given extra fields. */
static cs_manifest *linear_manifest(const char *io)
{
	char text[2048], err[512] = "";
	cs_manifest *m = NULL;

	snprintf(text, sizeof text,
		 "{\"name\":\"linear\",\"version\":\"1\",\"plugin\":\"native\","
		 "\"model\":\"%s/examples/linear/weights.json\"%s%s}",
		 top_srcdir(), io[0] ? "," : "", io);
	if (cs_manifest_load(write_file(dir, "m.json", text), &m, err, sizeof err))
		printf("#   manifest: %s\n", err);
	return m;
}

TEST(declared_inputs_must_match_the_model)
{
	char err[512] = "";
	cs_model *model = NULL;
	cs_manifest *m = linear_manifest(
		"\"inputs\":[{\"name\":\"x\",\"dtype\":\"FP32\",\"shape\":[-1,5]}]");

	CHECK(m != NULL);
	CHECK(cs_model_load(m, plugins, &model, err, sizeof err) == CS_EINVAL);
	CHECK_HAS(err, "FP32 [-1,5]");
	CHECK_HAS(err, "FP32 [-1,4]");
	cs_manifest_free(m);

	m = linear_manifest("\"inputs\":[{\"name\":\"z\",\"dtype\":\"FP32\",\"shape\":[-1,4]}]");
	CHECK(cs_model_load(m, plugins, &model, err, sizeof err) == CS_EINVAL);
	CHECK_HAS(err, "input 'z'");
	cs_manifest_free(m);

	m = linear_manifest("\"outputs\":[{\"name\":\"probs\",\"dtype\":\"FP64\",\"shape\":[-1,3]}]");
	CHECK(cs_model_load(m, plugins, &model, err, sizeof err) == CS_EINVAL);
	CHECK_HAS(err, "FP64");
	cs_manifest_free(m);

	/* narrowing a dynamic dimension is allowed */
	m = linear_manifest("\"inputs\":[{\"name\":\"x\",\"dtype\":\"FP32\",\"shape\":[1,4]}]");
	CHECK(cs_model_load(m, plugins, &model, err, sizeof err) == CS_OK);
	cs_model_free(model);
	cs_manifest_free(m);
}

TEST(infer_checks_inputs)
{
	char err[512] = "";
	cs_model *model = NULL;
	cs_manifest *m = linear_manifest("");
	float x[5] = {5.1f, 3.5f, 1.4f, 0.2f, 0};
	int64_t xi[4] = {5, 3, 1, 0};
	cs_tensor in = {.name = "x", .dtype = CS_FP32, .ndim = 2,
			.shape = {1, 4}, .data = x, .nbytes = sizeof(float) * 4};
	cs_tensor out[4];
	cs_arena a;

	cs_arena_init(&a, 0);
	CHECK(cs_model_load(m, plugins, &model, err, sizeof err) == CS_OK);
	REQUIRE(model != NULL);
	CHECK(cs_model_infer(model, &in, 1, out, &a, err, sizeof err) == CS_OK);
	CHECK(model->n_outputs == 2);
	CHECK_STR(out[1].name, "probs");
	CHECK(out[1].dtype == CS_FP32 && out[1].ndim == 2 && out[1].shape[1] == 3);
	{
		float *p = out[1].data;

		CHECK(p[0] > 0.9f && p[0] + p[1] + p[2] > 0.9999f && p[0] + p[1] + p[2] < 1.0001f);
	}

	in.dtype = CS_INT64;
	in.data = xi;
	in.nbytes = sizeof xi;
	CHECK(cs_model_infer(model, &in, 1, out, &a, err, sizeof err) == CS_EINVAL);
	CHECK_HAS(err, "input 'x' expects FP32 [-1,4], got INT64 [1,4]");

	in.dtype = CS_FP32;
	in.data = x;
	in.shape[1] = 5;
	in.nbytes = sizeof x;
	CHECK(cs_model_infer(model, &in, 1, out, &a, err, sizeof err) == CS_EINVAL);
	CHECK_HAS(err, "got FP32 [1,5]");

	in.shape[1] = 4;
	in.nbytes = 8; /* data shorter than the shape needs */
	CHECK(cs_model_infer(model, &in, 1, out, &a, err, sizeof err) == CS_EINVAL);
	CHECK_HAS(err, "needs 16");

	in.nbytes = 16;
	in.name = "y";
	CHECK(cs_model_infer(model, &in, 1, out, &a, err, sizeof err) == CS_EINVAL);
	CHECK_HAS(err, "unknown input 'y'");
	CHECK(cs_model_infer(model, NULL, 0, out, &a, err, sizeof err) == CS_EINVAL);
	CHECK_HAS(err, "missing input 'x' FP32 [-1,4]");
	cs_model_free(model);
	cs_manifest_free(m);
	cs_arena_destroy(&a);
}

int main(void)
{
	if (!mkdtemp(dir))
		return 1;
	snprintf(plugins, sizeof plugins, "%s/plugins", top_builddir());
	snprintf(testplugins, sizeof testplugins, "%s/tests/plugins", top_builddir());
	RUN(wrong_abi_is_refused);
	RUN(no_entry_symbol_is_refused);
	RUN(short_table_is_refused);
	RUN(null_member_is_refused);
	RUN(null_entry_is_refused);
	RUN(newer_minor_is_accepted);
	RUN(documented_plugin_runs);
	RUN(lookup_by_name);
	RUN(declared_inputs_must_match_the_model);
	RUN(infer_checks_inputs);
	return tap_done();
}
