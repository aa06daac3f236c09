/*
 * openapi.c - the OpenAPI 3 document of a model, generated from its
 * registered version: the glue's public methods (POST /models/NAME and
 * /models/NAME/METHOD, the manifest's example as the request example),
 * the CubeAI envelope, the Open Inference Protocol (V2) paths with the
 * declared inputs and outputs, health, and the JSON error every endpoint
 * answers with (docs/protocol.md).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"

static const char *sfield(const json_t *o, const char *k, const char *def)
{
	const char *v = json_string_value(json_object_get(o, k));

	return v ? v : def;
}

static json_t *parsed(const json_t *o, const char *k)
{
	const char *v = sfield(o, k, "");
	json_t *j = *v ? json_loads(v, JSON_DECODE_ANY, NULL) : NULL;

	return j;
}

/* The error responses every endpoint may answer with. */
static json_t *errors(void)
{
	static const struct {
		const char *code, *what;
	} e[] = {
		{"400", "bad input: malformed JSON, a wrong shape or dtype, a glue check"},
		{"404", "unknown model, method, version or output"},
		{"405", "wrong HTTP method"},
		{"413", "the body is over the model's max_body_bytes"},
		{"500", "the backend or the glue failed"},
		{"503", "the model is not ready, paused or overloaded"},
		{"504", "over the model's request_timeout_ms"},
	};
	json_t *o = json_object();

	for (size_t i = 0; i < sizeof e / sizeof e[0]; i++)
		json_object_set_new(o, e[i].code, json_pack(
			"{s:s,s:{s:{s:{s:s}}}}", "description", e[i].what, "content",
			"application/json", "schema", "$ref", "#/components/schemas/Error"));
	return o;
}

static json_t *with_errors(json_t *ok_responses)
{
	json_t *e = errors();

	json_object_update(ok_responses, e);
	json_decref(e);
	return ok_responses;
}

/* The public methods: the manifest's "public", else predict. */
static json_t *methods_of(json_t *manifest)
{
	json_t *pub = manifest ? json_object_get(manifest, "public") : NULL, *out = json_array(), *m;
	size_t i;

	json_array_foreach(pub, i, m)
		if (json_is_string(m))
			json_array_append(out, m);
	if (json_array_size(out) == 0)
		json_array_append_new(out, json_string("predict"));
	return out;
}

static json_t *method_op(const char *method, json_t *example)
{
	json_t *body = json_pack("{s:b,s:{s:{s:{s:s}}}}", "required", 1, "content",
				 "application/json", "schema", "type", "object");

	if (example)
		json_object_set(json_object_get(json_object_get(body, "content"), "application/json"),
				"example", example);
	return json_pack("{s:s,s:s,s:[s],s:o,s:o}",
			 "summary", method,
			 "operationId", method,
			 "tags", "methods",
			 "requestBody", body,
			 "responses", with_errors(json_pack(
				 "{s:{s:s,s:{s:{s:{s:s}}}}}", "200", "description",
				 "the method's answer (a JSON object made by the glue)", "content",
				 "application/json", "schema", "type", "object")));
}

/* One schema per declared tensor (V2 request/response items). */
static json_t *tensor_schema(json_t *decl)
{
	json_t *items = json_array(), *d;
	size_t i;

	json_array_foreach(decl, i, d) {
		json_t *shape = json_object_get(d, "shape");

		json_array_append_new(items, json_pack(
			"{s:s,s:[s,s,s,s],s:{s:{s:s,s:[s]},s:{s:s,s:{s:s},s:O*},"
			"s:{s:s,s:[s]},s:{s:s}}}",
			"type", "object",
			"required", "name", "shape", "datatype", "data",
			"properties",
			"name", "type", "string", "enum", sfield(d, "name", ""),
			"shape", "type", "array", "items", "type", "integer", "example", shape,
			"datatype", "type", "string", "enum", sfield(d, "dtype", ""),
			"data", "type", "array"));
	}
	if (json_array_size(items) == 0)
		json_array_append_new(items, json_pack("{s:s}", "type", "object"));
	return items;
}

json_t *api_openapi_doc(const char *name, json_t *model, json_t *rec)
{
	json_t *manifest = parsed(rec, "manifest"), *example = parsed(rec, "example");
	json_t *inputs = parsed(rec, "inputs"), *outputs = parsed(rec, "outputs");
	json_t *paths = json_object(), *doc, *methods = methods_of(manifest), *m, *schemas;
	const char *version = sfield(rec, "version", "");
	char p[256];
	size_t i;

	json_array_foreach(methods, i, m) {
		const char *meth = json_string_value(m);

		snprintf(p, sizeof p, "/models/%s/%s", name, meth);
		json_object_set_new(paths, p, json_pack("{s:o}", "post",
							method_op(meth, example)));
		if (i == 0) {
			json_t *op = method_op(meth, example);

			json_object_set_new(op, "operationId", json_sprintf("%s_default", meth));
			json_object_set_new(op, "summary", json_sprintf("%s (the default method)", meth));
			snprintf(p, sizeof p, "/models/%s", name);
			json_object_set_new(paths, p, json_pack(
				"{s:o,s:{s:s,s:s,s:[s],s:o}}", "post", op, "get", "summary",
				"the model's metadata", "operationId", "metadata", "tags", "methods",
				"responses", with_errors(json_pack("{s:{s:s}}", "200", "description",
								   "name, version, inputs, outputs, methods"))));
		}
	}
	snprintf(p, sizeof p, "/models/%s/api/model", name);
	json_object_set_new(paths, p, json_pack(
		"{s:{s:s,s:s,s:[s],s:{s:b,s:{s:{s:{s:s}}}},s:o}}", "post",
		"summary", "CubeAI call envelope: {\"method\": ..., \"kwargs\": {...}}",
		"operationId", "envelope", "tags", "envelope",
		"requestBody", "required", 1, "content", "application/json", "schema", "$ref",
		"#/components/schemas/Envelope",
		"responses", with_errors(json_pack("{s:{s:s,s:{s:{s:{s:s}}}}}", "200", "description",
						   "{\"status\": \"ok\", \"value\": ...}", "content",
						   "application/json", "schema", "$ref",
						   "#/components/schemas/EnvelopeAnswer"))));
	snprintf(p, sizeof p, "/v2/models/%s", name);
	json_object_set_new(paths, p, json_pack(
		"{s:{s:s,s:s,s:[s],s:o}}", "get", "summary", "V2 model metadata", "operationId",
		"v2_metadata", "tags", "v2", "responses",
		with_errors(json_pack("{s:{s:s,s:{s:{s:{s:s}}}}}", "200", "description",
				      "name, versions, platform, inputs, outputs", "content",
				      "application/json", "schema", "$ref",
				      "#/components/schemas/V2Metadata"))));
	snprintf(p, sizeof p, "/v2/models/%s/ready", name);
	json_object_set_new(paths, p, json_pack(
		"{s:{s:s,s:s,s:[s],s:o}}", "get", "summary", "V2 readiness", "operationId",
		"v2_ready", "tags", "v2", "responses",
		with_errors(json_pack("{s:{s:s}}", "200", "description", "ready"))));
	snprintf(p, sizeof p, "/v2/models/%s/infer", name);
	json_object_set_new(paths, p, json_pack(
		"{s:{s:s,s:s,s:[s],s:{s:b,s:{s:{s:{s:s}}}},s:o}}", "post",
		"summary", "V2 inference: named input tensors in, output tensors out",
		"operationId", "v2_infer", "tags", "v2",
		"requestBody", "required", 1, "content", "application/json", "schema", "$ref",
		"#/components/schemas/V2Request",
		"responses", with_errors(json_pack("{s:{s:s,s:{s:{s:{s:s}}}}}", "200", "description",
						   "the output tensors", "content",
						   "application/json", "schema", "$ref",
						   "#/components/schemas/V2Response"))));
	snprintf(p, sizeof p, "/health/%s", name);
	json_object_set_new(paths, p, json_pack(
		"{s:{s:s,s:s,s:[s],s:o}}", "get", "summary", "readiness of this model's workers",
		"operationId", "health", "tags", "operations", "responses",
		with_errors(json_pack("{s:{s:s}}", "200", "description", "ready"))));

	schemas = json_object();
	json_object_set_new(schemas, "Error", json_pack(
		"{s:s,s:[s],s:{s:{s:s},s:{s:s}}}", "type", "object", "required", "error",
		"properties", "error", "type", "string", "status", "type", "integer"));
	json_object_set_new(schemas, "Envelope", json_pack(
		"{s:s,s:[s],s:{s:{s:s},s:{s:s}}}", "type", "object", "required", "method",
		"properties", "method", "type", "string", "kwargs", "type", "object"));
	json_object_set_new(schemas, "EnvelopeAnswer", json_pack(
		"{s:s,s:{s:{s:s},s:{s:s}}}", "type", "object", "properties", "status", "type",
		"string", "value", "description", "the method's answer"));
	json_object_set_new(schemas, "V2Metadata", json_pack(
		"{s:s,s:{s:{s:s},s:{s:s},s:{s:s},s:{s:s,s:o}}}", "type", "object", "properties",
		"name", "type", "string", "platform", "type", "string", "versions", "type", "array",
		"inputs", "type", "array", "example", inputs ? json_incref(inputs) : json_array()));
	json_object_set_new(schemas, "V2Request", json_pack(
		"{s:s,s:[s],s:{s:{s:s,s:{s:o}}}}", "type", "object", "required", "inputs",
		"properties", "inputs", "type", "array", "items", "oneOf", tensor_schema(inputs)));
	json_object_set_new(schemas, "V2Response", json_pack(
		"{s:s,s:{s:{s:s},s:{s:s},s:{s:s,s:{s:o}}}}", "type", "object", "properties",
		"model_name", "type", "string", "model_version", "type", "string", "outputs",
		"type", "array", "items", "oneOf", tensor_schema(outputs)));
	doc = json_pack("{s:s,s:{s:s,s:s,s:s},s:[{s:s}],s:o,s:{s:o}}",
			"openapi", "3.0.3",
			"info", "title", name, "version", version, "description",
			sfield(model, "description", ""),
			"servers", "url", "/",
			"paths", paths,
			"components", "schemas", schemas);
	json_object_set_new(doc, "x-cubeserve", json_pack("{s:s,s:O?,s:O?}", "model", name,
							   "inputs", inputs, "outputs", outputs));
	json_decref(methods);
	json_decref(manifest);
	json_decref(example);
	json_decref(inputs);
	json_decref(outputs);
	return doc;
}
