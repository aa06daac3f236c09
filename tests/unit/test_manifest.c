/* test_manifest.c - model.json parsing: valid files and every kind of error. */
#include <stdlib.h>

#include "tap.h"

#include "core/names.h"
#include "model/manifest.h"

static char dir[] = "/tmp/cs-manifest-XXXXXX";

/* Writes text to dir/name; returns the path (static buffer). */
static const char *put(const char *name, const char *text)
{
	static char path[512];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
	return path;
}

static void setup(void)
{
	if (!mkdtemp(dir))
		abort();
	put("w.bin", "weights");
	put("g.lua", "return {}");
}

/* Loads a manifest text; returns the status and the error in err. */
static int load(const char *text, cs_manifest **m, char *err)
{
	err[0] = '\0';
	*m = NULL;
	return cs_manifest_load(put("m.json", text), m, err, 512);
}

#define MINIMAL "\"name\":\"lin\",\"version\":\"1.0\",\"plugin\":\"native\""

TEST(minimal_defaults)
{
	cs_manifest *m;
	char err[512];

	CHECK(load("{" MINIMAL "}", &m, err) == CS_OK);
	REQUIRE(m != NULL);
	CHECK_STR(m->name, "lin");
	CHECK_STR(m->description, "");
	CHECK(m->model_path == NULL && m->glue_path == NULL);
	CHECK(m->limits.max_body_bytes == CS_DEFAULT_MAX_BODY_BYTES);
	CHECK(m->limits.glue_instructions == CS_DEFAULT_GLUE_INSTRUCTIONS);
	CHECK(m->threads == 1);
	CHECK_STR(m->options_json, "{}");
	CHECK(m->example_json == NULL);
	CHECK(cs_manifest_is_public(m, "anything"));
	cs_manifest_free(m);
}

TEST(full_manifest)
{
	cs_manifest *m;
	char err[512];

	CHECK(load("{" MINIMAL ",\"description\":\"d\",\"tags\":[\"a\",\"b\"],"
		   "\"model\":\"w.bin\",\"glue\":\"g.lua\","
		   "\"inputs\":[{\"name\":\"x\",\"dtype\":\"FP32\",\"shape\":[-1,4]}],"
		   "\"outputs\":[{\"name\":\"y\",\"dtype\":\"INT64\",\"shape\":[-1]}],"
		   "\"public\":[\"predict\"],\"limits\":{\"max_body_bytes\":100,"
		   "\"glue_instructions\":5000,\"glue_memory_bytes\":2097152},"
		   "\"threads\":2,\"options\":{\"k\":1},\"example\":{\"x\":[1,2,3,4]}}",
		   &m, err) == CS_OK);
	if (!m) {
		printf("#   %s\n", err);
		return;
	}
	CHECK(m->n_tags == 2);
	CHECK(m->model_path && m->model_path[0] == '/' && strstr(m->model_path, "/w.bin"));
	CHECK(m->glue_path && strstr(m->glue_path, "/g.lua"));
	CHECK(m->n_inputs == 1 && m->inputs[0].dtype == CS_FP32 &&
	      m->inputs[0].ndim == 2 && m->inputs[0].shape[0] == -1);
	CHECK(m->n_outputs == 1 && m->outputs[0].dtype == CS_INT64);
	CHECK(cs_manifest_is_public(m, "predict"));
	CHECK(!cs_manifest_is_public(m, "secret"));
	CHECK(m->limits.max_body_bytes == 100);
	CHECK(m->threads == 2);
	CHECK_STR(m->options_json, "{\"k\":1}");
	CHECK_STR(m->example_json, "{\"x\":[1,2,3,4]}");
	cs_manifest_free(m);
}

static const struct {
	const char *text;
	const char *frag;
} bad[] = {
	{"{", "not valid JSON"},
	{"[]", "must be a JSON object"},
	{"{\"version\":\"1\",\"plugin\":\"p\"}", "field 'name': is required"},
	{"{\"name\":\"a b\",\"version\":\"1\",\"plugin\":\"p\"}", "field 'name': 'a b' is not a valid name"},
	{"{\"name\":\"a\",\"version\":\"1 0\",\"plugin\":\"p\"}", "field 'version'"},
	{"{\"name\":\"a\",\"version\":1,\"plugin\":\"p\"}", "field 'version': must be a string"},
	{"{\"name\":\"a\",\"version\":\"1\"}", "field 'plugin': is required"},
	{"{" MINIMAL ",\"modle\":\"x\"}", "field 'modle': unknown field"},
	{"{" MINIMAL ",\"model\":\"missing.onnx\"}", "field 'model': cannot read"},
	{"{" MINIMAL ",\"glue\":\"missing.lua\"}", "field 'glue': cannot read"},
	{"{" MINIMAL ",\"tags\":\"x\"}", "field 'tags': must be an array"},
	{"{" MINIMAL ",\"tags\":[1]}", "field 'tags[0]'"},
	{"{" MINIMAL ",\"inputs\":[]}", "field 'inputs': must be a non-empty array"},
	{"{" MINIMAL ",\"inputs\":[{\"name\":\"x\",\"dtype\":\"FP33\",\"shape\":[1]}]}", "field 'inputs[0].dtype': unknown dtype 'FP33'"},
	{"{" MINIMAL ",\"inputs\":[{\"name\":\"x\",\"dtype\":\"FP32\",\"shape\":[-2]}]}", "field 'inputs[0].shape': dimension 0"},
	{"{" MINIMAL ",\"inputs\":[{\"name\":\"x\",\"dtype\":\"FP32\",\"shape\":[1,1,1,1,1,1,1,1,1]}]}", "field 'inputs[0].shape': must be an array of at most 8"},
	{"{" MINIMAL ",\"inputs\":[{\"name\":\"x\",\"dtype\":\"FP32\"}]}", "field 'inputs[0].shape'"},
	{"{" MINIMAL ",\"inputs\":[{\"dtype\":\"FP32\",\"shape\":[1]}]}", "field 'inputs[0].name'"},
	{"{" MINIMAL ",\"inputs\":[{\"name\":\"x\",\"dtype\":\"FP32\",\"shape\":[1],\"size\":3}]}", "field 'inputs[0].size': unknown field"},
	{"{" MINIMAL ",\"inputs\":[{\"name\":\"x\",\"dtype\":\"FP32\",\"shape\":[1]},{\"name\":\"x\",\"dtype\":\"FP32\",\"shape\":[1]}]}", "'x' is declared twice"},
	{"{" MINIMAL ",\"outputs\":{}}", "field 'outputs'"},
	{"{" MINIMAL ",\"public\":[\"pre dict\"]}", "field 'public[0]'"},
	{"{" MINIMAL ",\"limits\":{\"max_body\":1}}", "field 'limits.max_body': unknown limit"},
	{"{" MINIMAL ",\"limits\":{\"max_body_bytes\":-1}}", "field 'limits.max_body_bytes': must be a positive integer"},
	{"{" MINIMAL ",\"limits\":{\"glue_memory_bytes\":10}}", "at least 1048576"},
	{"{" MINIMAL ",\"limits\":{\"glue_instructions\":10}}", "at least 1000"},
	{"{" MINIMAL ",\"threads\":0}", "field 'threads'"},
	{"{" MINIMAL ",\"options\":[]}", "field 'options': must be an object"},
	{"{" MINIMAL ",\"batching\":{}}", "field 'batching.max_batch_size': is required"},
	{"{" MINIMAL ",\"batching\":{\"max_batch_size\":0}}", "field 'batching.max_batch_size': must be from 1"},
	{"{" MINIMAL ",\"batching\":{\"max_batch_size\":8,\"preferred_batch_sizes\":[16]}}", "16 is larger than max_batch_size 8"},
	{"{" MINIMAL ",\"batching\":{\"max_batch_size\":8,\"delay\":1}}", "field 'batching.delay': unknown field"},
	{"{\"name\":\"a\",\"name\":\"b\",\"version\":\"1\",\"plugin\":\"p\"}", "duplicate object key"},
};

TEST(invalid_manifests_name_the_field)
{
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		cs_manifest *m;
		char err[512];
		int rc = load(bad[i].text, &m, err);

		if (rc == CS_OK || !strstr(err, bad[i].frag) || !strstr(err, "m.json")) {
			printf("#   case %zu: rc %d, err \"%s\", wanted \"%s\"\n", i,
			       rc, err, bad[i].frag);
			CHECK(0);
		}
		CHECK(m == NULL);
	}
}

TEST(engine_goes_into_the_options)
{
	cs_manifest *m;
	char err[512];

	CHECK(load("{" MINIMAL "}", &m, err) == CS_OK);
	CHECK(m && !m->engine);
	CHECK_STR(m ? m->options_json : NULL, "{}");
	cs_manifest_free(m);
	CHECK(load("{" MINIMAL ", \"engine\": \"xnnpack\", \"options\": "
		   "{\"a\": 1}}", &m, err) == CS_OK);
	CHECK_STR(m ? m->engine : NULL, "xnnpack");
	CHECK_HAS(m ? m->options_json : NULL, "\"engine\":\"xnnpack\"");
	CHECK_HAS(m ? m->options_json : NULL, "\"a\":1");
	cs_manifest_free(m);
	CHECK(load("{" MINIMAL ", \"engine\": \"gpu\"}", &m, err) != CS_OK);
	CHECK_HAS(err, "field 'engine'");
	CHECK_HAS(err, "\"auto\", \"xnnpack\" or \"opencv\"");
	CHECK(load("{" MINIMAL ", \"engine\": \"auto\", \"options\": "
		   "{\"engine\": \"opencv\"}}", &m, err) != CS_OK);
	CHECK_HAS(err, "both");
}

TEST(hardening_limits)
{
	cs_manifest *m;
	char err[512];
	static const struct {
		const char *limits, *frag;
	} badl[] = {
		{"{\"max_json_depth\": 1}", "limits.max_json_depth"},
		{"{\"max_json_depth\": 5000}", "at most 1024"},
		{"{\"max_tensor_elements\": 0}", "positive"},
		{"{\"max_tensor_bytes\": \"1\"}", "limits.max_tensor_bytes"},
		{"{\"max_string_bytes\": -5}", "positive"},
		{"{\"max_headers\": 100000}", "at most 10000"},
		{"{\"request_timeout_ms\": 5}", "at least 10"},
		{"{\"max_tensor_elemnts\": 5}", "unknown limit"},
	};

	CHECK(load("{" MINIMAL "}", &m, err) == CS_OK);
	CHECK(m->limits.max_json_depth == CS_DEFAULT_MAX_JSON_DEPTH);
	CHECK(m->limits.max_tensor_elements == CS_DEFAULT_MAX_TENSOR_ELEMENTS);
	CHECK(m->limits.max_tensor_bytes == CS_DEFAULT_MAX_TENSOR_BYTES);
	CHECK(m->limits.max_string_bytes == CS_DEFAULT_MAX_STRING_BYTES);
	CHECK(m->limits.max_headers == CS_DEFAULT_MAX_HEADERS);
	CHECK(m->limits.request_timeout_ms == CS_DEFAULT_REQUEST_TIMEOUT_MS);
	cs_manifest_free(m);
	CHECK(load("{" MINIMAL ",\"limits\":{\"max_json_depth\":8,\"max_tensor_elements\":100,"
		   "\"max_tensor_bytes\":400,\"max_string_bytes\":10,\"max_headers\":5,"
		   "\"request_timeout_ms\":250}}", &m, err) == CS_OK);
	if (m) {
		CHECK(m->limits.max_json_depth == 8 && m->limits.max_tensor_elements == 100);
		CHECK(m->limits.max_tensor_bytes == 400 && m->limits.max_string_bytes == 10);
		CHECK(m->limits.max_headers == 5 && m->limits.request_timeout_ms == 250);
		cs_manifest_free(m);
	}
	for (size_t i = 0; i < sizeof badl / sizeof badl[0]; i++) {
		char text[512];

		snprintf(text, sizeof text, "{" MINIMAL ",\"limits\":%s}", badl[i].limits);
		if (load(text, &m, err) == CS_OK || !strstr(err, badl[i].frag)) {
			printf("#   %s -> \"%s\" (want \"%s\")\n", badl[i].limits, err, badl[i].frag);
			CHECK(0);
		}
		cs_manifest_free(m);
	}
}

TEST(missing_file)
{
	cs_manifest *m = NULL;
	char err[512];

	CHECK(cs_manifest_load("/nonexistent/model.json", &m, err, sizeof err) == CS_EIO);
	CHECK_HAS(err, "/nonexistent/model.json");
	CHECK(m == NULL);
}

TEST(name_rules)
{
	CHECK(cs_name_valid("digits-v2_a"));
	CHECK(!cs_name_valid(""));
	CHECK(!cs_name_valid("a/b"));
	CHECK(!cs_name_valid("a.b"));
	CHECK(!cs_name_valid("0123456789012345678901234567890123456789012345678901234567890123456789"));
}

int main(void)
{
	setup();
	RUN(minimal_defaults);
	RUN(full_manifest);
	RUN(invalid_manifests_name_the_field);
	RUN(missing_file);
	RUN(engine_goes_into_the_options);
	RUN(hardening_limits);
	RUN(name_rules);
	return tap_done();
}
