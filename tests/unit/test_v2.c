/* test_v2.c - the V2 codec, the tree-free tensor decoder, the envelope. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "tap.h"

#include "protocol/envelope.h"
#include "protocol/json_tensor.h"
#include "protocol/v2.h"

static const cs_json_limits lim = {64, 1 << 20, 1 << 24, 256 << 20};
static cs_arena arena;
static char err[1024];

/* Parses a JSON-only request; returns the status (0 ok). */
static int parse(const char *json, cs_v2_request *rq)
{
	cs_arena_init(&arena, 0);
	return cs_v2_parse_request(json, strlen(json), (size_t)-1, &lim, &arena,
				   rq, err, sizeof err);
}

/* Expects a status and a fragment of the error message. */
static int bad(const char *json, int status, const char *frag)
{
	cs_v2_request rq;
	int rc = parse(json, &rq);

	if (rc == 0)
		cs_v2_request_free(&rq);
	if (rc != status || !strstr(err, frag)) {
		printf("#   %s\n#   -> %d '%s' (want %d '%s')\n", json, rc, err, status, frag);
		return 0;
	}
	return 1;
}

TEST(parse_nested_and_flat)
{
	cs_v2_request rq;
	const float *f;

	CHECK(parse("{\"id\":\"42\",\"inputs\":[{\"name\":\"x\",\"shape\":[2,2],"
		    "\"datatype\":\"FP32\",\"data\":[[1,2.5],[-3e2,0.125]]}],"
		    "\"outputs\":[{\"name\":\"y\",\"parameters\":{\"binary_data\":true}}]}", &rq) == 0);
	CHECK_STR(rq.id, "42");
	CHECK(rq.n_inputs == 1 && rq.inputs[0].dtype == CS_FP32 && rq.inputs[0].ndim == 2);
	CHECK(rq.inputs[0].nbytes == 16);
	f = rq.inputs[0].data;
	CHECK(f[0] == 1.0f && f[1] == 2.5f && f[2] == -300.0f && f[3] == 0.125f);
	CHECK(rq.outputs_given && rq.n_outputs == 1 && rq.outputs[0].binary == 1);
	cs_v2_request_free(&rq);
	/* data before datatype and shape: members in any order */
	CHECK(parse("{\"inputs\":[{\"data\":[1,2,3,4],\"name\":\"x\",\"datatype\":\"INT16\","
		    "\"shape\":[2,2]}]}", &rq) == 0);
	CHECK(((int16_t *)rq.inputs[0].data)[3] == 4);
	cs_v2_request_free(&rq);
}

TEST(every_dtype_decodes)
{
	cs_v2_request rq;

	CHECK(parse("{\"inputs\":["
		    "{\"name\":\"b\",\"shape\":[2],\"datatype\":\"BOOL\",\"data\":[true,false]},"
		    "{\"name\":\"u8\",\"shape\":[1],\"datatype\":\"UINT8\",\"data\":[255]},"
		    "{\"name\":\"u64\",\"shape\":[1],\"datatype\":\"UINT64\",\"data\":[18446744073709551615]},"
		    "{\"name\":\"i8\",\"shape\":[1],\"datatype\":\"INT8\",\"data\":[-128]},"
		    "{\"name\":\"i64\",\"shape\":[1],\"datatype\":\"INT64\",\"data\":[-9223372036854775808]},"
		    "{\"name\":\"h\",\"shape\":[1],\"datatype\":\"FP16\",\"data\":[0.5]},"
		    "{\"name\":\"d\",\"shape\":[1],\"datatype\":\"FP64\",\"data\":[0.1]},"
		    "{\"name\":\"i\",\"shape\":[1],\"datatype\":\"INT32\",\"data\":[1e3]},"
		    "{\"name\":\"s\",\"shape\":[2],\"datatype\":\"BYTES\",\"data\":[\"a\\u00e9\",\"\"]}]}",
		    &rq) == 0);
	if (rq.n_inputs != 9)
		printf("#   %s\n", err);
	REQUIRE(rq.n_inputs == 9);
	CHECK(((uint8_t *)rq.inputs[0].data)[0] == 1 && ((uint8_t *)rq.inputs[0].data)[1] == 0);
	CHECK(((uint8_t *)rq.inputs[1].data)[0] == 255);
	CHECK(((uint64_t *)rq.inputs[2].data)[0] == UINT64_MAX);
	CHECK(((int8_t *)rq.inputs[3].data)[0] == -128);
	CHECK(((int64_t *)rq.inputs[4].data)[0] == INT64_MIN);
	CHECK(cs_fp16_to_fp32(((uint16_t *)rq.inputs[5].data)[0]) == 0.5f);
	CHECK(((double *)rq.inputs[6].data)[0] == 0.1);
	CHECK(((int32_t *)rq.inputs[7].data)[0] == 1000);
	CHECK(rq.inputs[8].nbytes == 4 + 3 + 4);
	CHECK(memcmp(rq.inputs[8].data, "\3\0\0\0a\xc3\xa9\0\0\0\0", 11) == 0);
	cs_v2_request_free(&rq);
}

TEST(numbers_are_exact)
{
	/* the fast path and the strtod fallback agree with strtod */
	static const char *const nums[] = {
		"0.1", "1e22", "1e23", "123456789012345678901234", "2.2250738585072014e-308",
		"4.9e-324", "0.30000000000000004", "-0", "1.7976931348623157e308",
		"9007199254740993", "3.14159265358979323846264338327950288", NULL,
	};

	for (const char *const *n = nums; *n; n++) {
		char json[256];
		cs_v2_request rq;

		snprintf(json, sizeof json, "{\"inputs\":[{\"name\":\"d\",\"shape\":[1],"
			 "\"datatype\":\"FP64\",\"data\":[%s]}]}", *n);
		CHECK(parse(json, &rq) == 0);
		if (rq.n_inputs == 1) {
			double got = ((double *)rq.inputs[0].data)[0];

			if (got != strtod(*n, NULL))
				printf("#   %s -> %.17g\n", *n, got);
			CHECK(got == strtod(*n, NULL));
		}
		cs_v2_request_free(&rq);
	}
}

TEST(bad_requests)
{
	CHECK(bad("", CS_EINVAL, "no body"));
	CHECK(bad("{", CS_EINVAL, "JSON"));
	CHECK(bad("[]", CS_EINVAL, "inference request object"));
	CHECK(bad("{}", CS_EINVAL, "missing 'inputs'"));
	CHECK(bad("{\"inputs\":[]}", CS_EINVAL, "empty"));
	CHECK(bad("{\"inputs\":[{\"name\":\"x\",\"shape\":[2],\"datatype\":\"FP32\",\"data\":[1]}]}",
		  CS_EINVAL, "dimension 0 has 1 elements"));
	CHECK(bad("{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP32\",\"data\":[1,2]}]}",
		  CS_EINVAL, "more than"));
	CHECK(bad("{\"inputs\":[{\"name\":\"x\",\"shape\":[2,2],\"datatype\":\"FP32\",\"data\":[[1,2,3],[4]]}]}",
		  CS_EINVAL, "nesting"));
	CHECK(bad("{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP33\",\"data\":[1]}]}",
		  CS_EINVAL, "unknown datatype"));
	CHECK(bad("{\"inputs\":[{\"name\":\"x\",\"shape\":[-1],\"datatype\":\"FP32\",\"data\":[1]}]}",
		  CS_EINVAL, "shape"));
	CHECK(bad("{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"UINT8\",\"data\":[256]}]}",
		  CS_EINVAL, "out of range"));
	CHECK(bad("{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"INT32\",\"data\":[1.5]}]}",
		  CS_EINVAL, "not an integer"));
	CHECK(bad("{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP32\",\"data\":[1e39]}]}",
		  CS_EINVAL, "out of range"));
	CHECK(bad("{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP32\",\"data\":[NaN]}]}",
		  CS_EINVAL, "must be numbers"));
	CHECK(bad("{\"inputs\":[{\"name\":\"x\",\"shape\":[3],\"datatype\":\"FP32\",\"data\":[1,\"2\",3]}]}",
		  CS_EINVAL, "must be numbers"));
	CHECK(bad("{\"inputs\":[{\"name\":\"x\",\"shape\":[2,2],\"datatype\":\"FP32\",\"data\":[1,2,3]}]}",
		  CS_EINVAL, "holds 3 elements"));
	CHECK(bad("{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"BOOL\",\"data\":[1]}]}",
		  CS_EINVAL, "true or false"));
	CHECK(bad("{\"inputs\":[{\"name\":\"x\",\"name\":\"y\"}]}", CS_EINVAL, "duplicate"));
	CHECK(bad("{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP32\",\"dat\":[1]}]}",
		  CS_EINVAL, "unknown member"));
	CHECK(bad("{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP32\",\"data\":[1]},"
		  "{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP32\",\"data\":[1]}]}", CS_EINVAL, "twice"));
	CHECK(bad("{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"BYTES\",\"data\":[\"\xff\"]}]}",
		  CS_EINVAL, "UTF-8"));
	CHECK(bad("{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP32\",\"data\":[[[[1]]]]}]}",
		  CS_EINVAL, "deeper"));
	CHECK(bad("{\"inputs\":[{\"name\":\"x\",\"shape\":[100000,100000],\"datatype\":\"FP32\",\"data\":[]}]}",
		  CS_ETOOLARGE, "max_tensor_elements"));
	CHECK(bad("{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP32\",\"parameters\":{\"binary_data_size\":4}}]}",
		  CS_EINVAL, "Inference-Header-Content-Length"));
	CHECK(bad("{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP32\",\"data\":[1]}]} x",
		  CS_EINVAL, "trailing"));
}

TEST(depth_limit)
{
	char json[512] = "{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP32\",\"data\":[1]}],\"parameters\":{\"a\":";
	cs_v2_request rq;

	for (int i = 0; i < 70; i++)
		strcat(json, "[");
	for (int i = 0; i < 70; i++)
		strcat(json, "]");
	strcat(json, "}}");
	CHECK(parse(json, &rq) == CS_EINVAL);
	CHECK_HAS(err, "max_json_depth");
}

TEST(binary_request)
{
	char body[256];
	const char *hdr = "{\"inputs\":[{\"name\":\"a\",\"shape\":[3],\"datatype\":\"UINT8\","
			  "\"parameters\":{\"binary_data_size\":3}},{\"name\":\"b\",\"shape\":[2],"
			  "\"datatype\":\"FP32\",\"parameters\":{\"binary_data_size\":8}}]}";
	size_t hl = strlen(hdr);
	float two[2] = {1.5f, -2.0f};
	cs_v2_request rq;

	memcpy(body, hdr, hl);
	memcpy(body + hl, "\1\2\3", 3);
	memcpy(body + hl + 3, two, 8);
	cs_arena_init(&arena, 0);
	CHECK(cs_v2_parse_request(body, hl + 11, hl, &lim, &arena, &rq, err, sizeof err) == 0);
	CHECK(rq.inputs[0].nbytes == 3 && memcmp(rq.inputs[0].data, "\1\2\3", 3) == 0);
	CHECK(rq.inputs[1].nbytes == 8 && ((float *)rq.inputs[1].data)[1] == -2.0f);
	CHECK(((uintptr_t)rq.inputs[1].data % 4) == 0); /* copied when misaligned */
	cs_v2_request_free(&rq);
	/* one byte short, one byte over, a header past the body */
	CHECK(cs_v2_parse_request(body, hl + 10, hl, &lim, &arena, &rq, err, sizeof err) == CS_EINVAL);
	CHECK(cs_v2_parse_request(body, hl + 11, hl - 1, &lim, &arena, &rq, err, sizeof err) == CS_EINVAL);
	CHECK(cs_v2_parse_request(body, hl, hl + 11, &lim, &arena, &rq, err, sizeof err) == CS_EINVAL);
	cs_arena_destroy(&arena);
}

TEST(encode_response)
{
	float probs[3] = {0.25f, 0.5f, 0.25f};
	int64_t ids[2] = {-1, 9007199254740993LL};
	cs_tensor outs[2] = {
		{.name = "probs", .dtype = CS_FP32, .ndim = 2, .shape = {1, 3}, .data = probs, .nbytes = 12},
		{.name = "ids", .dtype = CS_INT64, .ndim = 1, .shape = {2}, .data = ids, .nbytes = 16},
	};
	cs_v2_request rq;
	cs_response r;
	json_t *v;

	memset(&rq, 0, sizeof rq);
	memset(&r, 0, sizeof r);
	rq.id = "7";
	CHECK(cs_v2_encode_response("m", "1", &rq, outs, 2, NULL, &r) == 0);
	CHECK_STR(r.content_type, "application/json");
	v = json_loadb(r.body, r.len, 0, NULL);
	CHECK(v != NULL);
	CHECK_STR(json_string_value(json_object_get(v, "id")), "7");
	CHECK(json_integer_value(json_array_get(json_object_get(json_array_get(
		json_object_get(v, "outputs"), 1), "data"), 1)) == 9007199254740993LL);
	json_decref(v);
	cs_response_reset(&r);
	/* binary for probs only */
	rq.outputs_given = 1;
	rq.n_outputs = 1;
	rq.outputs[0].name = "probs";
	rq.outputs[0].binary = 1;
	CHECK(cs_v2_encode_response("m", "1", &rq, outs, 2, NULL, &r) == 0);
	CHECK_STR(r.content_type, "application/octet-stream");
	CHECK_HAS(r.headers, "Inference-Header-Content-Length: ");
	CHECK(r.len > 12 && memcmp(r.body + r.len - 12, probs, 12) == 0);
	cs_response_reset(&r);
	rq.outputs[0].name = "nope";
	CHECK(cs_v2_encode_response("m", "1", &rq, outs, 2, NULL, &r) == CS_EINVAL);
	CHECK_HAS(r.body, "nope");
	cs_response_reset(&r);
}

TEST(multipart)
{
	static const char body[] =
		"preamble\r\n--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nAAA\r\n"
		"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f.txt\"\r\n"
		"Content-Type: text/plain\r\n\r\nline1\r\nline2\r\n--XyZ--\r\n";
	cs_form_part part;

	cs_arena_init(&arena, 0);
	CHECK(cs_form_find("multipart/form-data; boundary=XyZ", body, sizeof body - 1,
			   "file", &arena, &part, err, sizeof err) == 0);
	CHECK(part.len == 12 && memcmp(part.data, "line1\r\nline2", 12) == 0);
	CHECK_STR(part.filename, "f.txt");
	CHECK_STR(part.content_type, "text/plain");
	CHECK(cs_form_find("multipart/form-data; boundary=\"XyZ\"", body, sizeof body - 1,
			   "a", &arena, &part, err, sizeof err) == 0);
	CHECK(part.len == 3);
	CHECK(cs_form_find("multipart/form-data; boundary=XyZ", body, sizeof body - 1,
			   "missing", &arena, &part, err, sizeof err) == CS_EINVAL);
	CHECK(cs_form_find("text/plain", body, sizeof body - 1, "a", &arena, &part, err,
			   sizeof err) == CS_EMEDIA);
	CHECK(cs_form_find("multipart/form-data; boundary=XyZ", body, 40, "file", &arena,
			   &part, err, sizeof err) == CS_EINVAL);
	cs_arena_destroy(&arena);
}

TEST(envelope_wrap)
{
	cs_response r;
	char *method;
	json_t *kw;

	memset(&r, 0, sizeof r);
	cs_arena_init(&arena, 0);
	CHECK(cs_envelope_parse("{\"method\":\"m\",\"kwargs\":{\"a\":1}}", 31, &arena,
				&method, &kw, err, sizeof err) == 0);
	CHECK_STR(method, "m");
	CHECK(json_integer_value(json_object_get(kw, "a")) == 1);
	json_decref(kw);
	CHECK(cs_envelope_parse("{\"method\":1}", 12, &arena, &method, &kw, err, sizeof err) == CS_EINVAL);
	CHECK(cs_envelope_parse("{\"method\":\"m\",\"x\":1}", 20, &arena, &method, &kw, err, sizeof err) == CS_EINVAL);
	cs_response_take(&r, 200, "application/json", strdup("[1,2]"), 5);
	cs_envelope_wrap(&r, 0);
	CHECK(r.len == strlen(r.body));
	CHECK_STR(r.body, "{\"status\":\"ok\",\"value\":[1,2]}");
	cs_response_fail(&r, CS_ENOTFOUND, "no such method");
	cs_envelope_wrap(&r, 0);
	CHECK(r.status == 404);
	CHECK_HAS(r.body, "\"status\":\"err\"");
	CHECK_HAS(r.body, "\"value\":\"no such method\"");
	cs_response_reset(&r);
	cs_arena_destroy(&arena);
}

int main(void)
{
	RUN(parse_nested_and_flat);
	RUN(every_dtype_decodes);
	RUN(numbers_are_exact);
	RUN(bad_requests);
	RUN(depth_limit);
	RUN(binary_request);
	RUN(encode_response);
	RUN(multipart);
	RUN(envelope_wrap);
	return tap_done();
}
