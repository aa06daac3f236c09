/* test_route.c - endpoint matching. */
#include "tap.h"

#include "protocol/route.h"

static cs_route r;

TEST(predict_and_methods)
{
	cs_route_match("POST", "/models/linear", "linear", &r);
	CHECK(r.kind == CS_ROUTE_CALL);
	CHECK_STR(r.method, "predict");
	cs_route_match("POST", "/models/linear/", "linear", &r);
	CHECK(r.kind == CS_ROUTE_CALL);
	CHECK_STR(r.method, "predict");
	cs_route_match("POST", "/models/linear/predict_batch", "linear", &r);
	CHECK(r.kind == CS_ROUTE_CALL);
	CHECK_STR(r.method, "predict_batch");
}

TEST(metadata_and_health)
{
	cs_route_match("GET", "/models/linear", "linear", &r);
	CHECK(r.kind == CS_ROUTE_METADATA);
	cs_route_match("HEAD", "/models/linear/", "linear", &r);
	CHECK(r.kind == CS_ROUTE_METADATA);
	cs_route_match("GET", "/health", "linear", &r);
	CHECK(r.kind == CS_ROUTE_HEALTH);
}

TEST(wrong_methods)
{
	cs_route_match("GET", "/models/linear/predict", "linear", &r);
	CHECK(r.kind == CS_ROUTE_BAD_METHOD);
	CHECK_STR(r.allow, "POST");
	cs_route_match("DELETE", "/models/linear", "linear", &r);
	CHECK(r.kind == CS_ROUTE_BAD_METHOD);
	cs_route_match("POST", "/health", "linear", &r);
	CHECK(r.kind == CS_ROUTE_BAD_METHOD);
}

TEST(not_found)
{
	const char *paths[] = {
		"/", "/models", "/models/", "/models/other", "/models/linear/a/b",
		"/models/lin%20ear", "/models/linear/pre.dict", "/modelslinear",
		"/models/linear/../x", "", "/models/linear//x",
		"/models/linear//api/model", "/models/linear/api//model",
		"/models/linear/a/b/c/d", NULL,
	};

	for (const char **p = paths; *p; p++) {
		cs_route_match("POST", *p, "linear", &r);
		if (r.kind != CS_ROUTE_NOT_FOUND)
			printf("#   %s matched\n", *p);
		CHECK(r.kind == CS_ROUTE_NOT_FOUND);
	}
	cs_route_match("POST", "/models/other", "linear", &r);
	CHECK_STR(r.model, "other");
	CHECK_STR(r.why, "unknown model");
	cs_route_match("POST", NULL, "linear", &r);
	CHECK(r.kind == CS_ROUTE_NOT_FOUND);
}

TEST(v2_paths)
{
	static const struct {
		const char *method, *path;
		cs_route_kind kind;
		const char *version;
	} cases[] = {
		{"GET", "/v2", CS_ROUTE_V2_SERVER, ""},
		{"GET", "/v2/", CS_ROUTE_V2_SERVER, ""},
		{"GET", "/v2/health/live", CS_ROUTE_V2_LIVE, ""},
		{"HEAD", "/v2/health/ready", CS_ROUTE_V2_READY, ""},
		{"GET", "/v2/models/linear", CS_ROUTE_V2_MODEL, ""},
		{"GET", "/v2/models/linear/versions/1.0.0", CS_ROUTE_V2_MODEL, "1.0.0"},
		{"GET", "/v2/models/linear/ready", CS_ROUTE_V2_MODEL_READY, ""},
		{"GET", "/v2/models/linear/versions/2/ready", CS_ROUTE_V2_MODEL_READY, "2"},
		{"POST", "/v2/models/linear/infer", CS_ROUTE_V2_INFER, ""},
		{"POST", "/v2/models/linear/versions/1.0.0/infer", CS_ROUTE_V2_INFER, "1.0.0"},
		{"GET", "/v2/models/linear/infer", CS_ROUTE_BAD_METHOD, ""},
		{"POST", "/v2/models/linear", CS_ROUTE_BAD_METHOD, ""},
		{"POST", "/v2/health/live", CS_ROUTE_BAD_METHOD, ""},
		{"GET", "/v2/models/other", CS_ROUTE_NOT_FOUND, ""},
		{"GET", "/v2/models/linear/versions/../ready", CS_ROUTE_NOT_FOUND, ""},
		{"GET", "/v2/models/linear/versions", CS_ROUTE_NOT_FOUND, ""},
		{"POST", "/v2/models/linear/versions/1/infer/x", CS_ROUTE_NOT_FOUND, ""},
		{"GET", "/v2x", CS_ROUTE_NOT_FOUND, ""},
		{"GET", "/v2/health", CS_ROUTE_NOT_FOUND, ""},
		{"GET", "/v2//models/linear", CS_ROUTE_NOT_FOUND, ""},
		{"GET", "/metrics", CS_ROUTE_METRICS, ""},
		{"POST", "/metrics", CS_ROUTE_BAD_METHOD, ""},
		{"POST", "/models/linear/api/model", CS_ROUTE_API_MODEL, ""},
		{"POST", "/models/linear/api/stream/predict", CS_ROUTE_API_STREAM, ""},
		{"POST", "/models/linear/api/file/predict", CS_ROUTE_API_FILE, ""},
		{"GET", "/models/linear/api/model", CS_ROUTE_BAD_METHOD, ""},
		{"POST", "/models/linear/api/other", CS_ROUTE_NOT_FOUND, ""},
		{"POST", "/models/linear/api/file/a.b", CS_ROUTE_NOT_FOUND, ""},
		{"POST", "/models/linear/api/file/x/y", CS_ROUTE_NOT_FOUND, ""},
		{"POST", "/models/linear/api", CS_ROUTE_CALL, ""},
		{"POST", "/models/linear/api/data", CS_ROUTE_API_DATA, ""},
		{"POST", "/models/linear/api/data/", CS_ROUTE_API_DATA, ""},
		{"GET", "/models/linear/api/data", CS_ROUTE_BAD_METHOD, ""},
		{"POST", "/models/linear/api/data/x", CS_ROUTE_NOT_FOUND, ""},
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		cs_route_match(cases[i].method, cases[i].path, "linear", &r);
		if (r.kind != cases[i].kind || strcmp(r.version, cases[i].version) != 0)
			printf("#   %s %s -> kind %d version '%s' (want %d '%s')\n",
			       cases[i].method, cases[i].path, (int)r.kind, r.version,
			       (int)cases[i].kind, cases[i].version);
		CHECK(r.kind == cases[i].kind);
		CHECK_STR(r.version, cases[i].version);
	}
	cs_route_match("POST", "/models/linear/api/stream/predict", "linear", &r);
	CHECK_STR(r.method, "predict");
	cs_route_match("GET", "/v2/models/other/ready", "linear", &r);
	CHECK_STR(r.why, "unknown model");
}

int main(void)
{
	RUN(predict_and_methods);
	RUN(metadata_and_health);
	RUN(wrong_methods);
	RUN(not_found);
	RUN(v2_paths);
	return tap_done();
}
