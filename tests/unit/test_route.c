/* test_route.c - endpoint matching. */
#include "tap.h"

#include "route.h"

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
		"/models/linear/../x", "", NULL,
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

int main(void)
{
	RUN(predict_and_methods);
	RUN(metadata_and_health);
	RUN(wrong_methods);
	RUN(not_found);
	return tap_done();
}
