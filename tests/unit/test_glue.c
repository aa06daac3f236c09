/* test_glue.c - the glue: calls, results, errors, sandbox, budgets, reload. */
#include <stdlib.h>

#include "tap.h"
#include "helpers.h"

#include "core/request.h"
#include "glue/glue.h"
#include "model/model.h"

static char dir[] = "/tmp/cs-glue-XXXXXX";
static char plugins[512], luadir[512];
static cs_manifest *mf;
static cs_model *model;

static const char glue_src[] =
	"local M = {}\n"
	"local warmed = false\n"
	"function M.init(m) warmed = (m.name == 'linear') end\n"
	"function M.warm(req) return { warmed = warmed } end\n"
	"function M.predict(req)\n"
	"  local out = model:infer{ x = tensor.new('FP32', {1, 4}, req.json.x) }\n"
	"  return { label = out.probs:argmax() - 1, y = out.probs }\n"
	"end\n"
	"function M.boom(req) error('boom') end\n"           /* line 9 */
	"function M.teapot(req) cs.error(418, 'short and stout') end\n"
	"function M.spin(req) while true do end end\n"
	"function M.sneaky(req) for i = 1, 100 do pcall(function() while true do end end) end return 'escaped' end\n"
	"function M.hog(req) local t = {} for i = 1, 1e9 do t[i] = string.rep('x', 1024) .. i end end\n"
	"function M.text(req) return 'plain', 'text/csv' end\n"
	"function M.created(req) return { ok = true }, 201 end\n"
	"function M.wrong_dtype(req) return model:infer{ x = tensor.new('INT64', {1, 4}, {1, 2, 3, 4}) } end\n"
	"function M.wrong_shape(req) return model:infer{ x = tensor.new('FP32', {1, 5}) } end\n"
	"function M.sandbox(req)\n"
	"  return { io = io == nil, execute = os.execute == nil, exit = os.exit == nil,\n"
	"    loadfile = loadfile == nil, dofile = dofile == nil, debug = debug == nil,\n"
	"    getenv = os.getenv == nil, clock = type(os.clock) == 'function',\n"
	"    binary = (load(string.dump(function() end)) == nil),\n"
	"    req_file = (pcall(require, '..etc.passwd') == false),\n"
	"    req_abs = (pcall(require, '/etc/passwd') == false) }\n"
	"end\n"
	"function M.echo(req) return { method = req.method, path = req.path, query = req.query,\n"
	"  body = req.body, agent = req.headers['user-agent'], id = req.id } end\n"
	"function M.badjson(req) return req.json end\n"
	"function M.unencodable(req) return { f = print } end\n"
	"function M.nan(req) return { v = 0/0 } end\n"
	"function M.helper(req) return require('testmod').answer() end\n"
	"function M._private(req) return 1 end\n"
	"return M\n";

static cs_glue *new_glue(void)
{
	char err[1024] = "";
	cs_glue *g = NULL;

	if (cs_glue_new(model, luadir, &g, err, sizeof err) != CS_OK)
		printf("#   glue: %s\n", err);
	return g;
}

/* Calls a method with a JSON body; returns the HTTP status, body in *out. */
static int call(cs_glue *g, const char *method, const char *body, char **out)
{
	char *envp[] = {"HTTP_USER_AGENT=tester", NULL};
	cs_request req = {.method = "POST", .path = "/models/linear/x",
			  .query = "a=1", .content_type = "application/json",
			  .request_id = "r1", .envp = envp};
	cs_glue_result res;
	cs_arena a;

	req.body = (char *)body;
	req.body_len = strlen(body);
	cs_arena_init(&a, 0);
	cs_glue_call(g, method, &req, &a, &res);
	cs_arena_destroy(&a);
	*out = res.body ? res.body : strdup("");
	return res.http_status;
}

#define EXPECT(g, method, body, status, frag)                                  \
	do {                                                                   \
		char *o_;                                                      \
		int s_ = call(g, method, body, &o_);                           \
		if (s_ != (status) || !strstr(o_, frag))                       \
			printf("#   %s: got %d %s\n", method, s_, o_ ? o_ : "(null)");        \
		CHECK(s_ == (status));                                         \
		CHECK_HAS(o_, frag);                                           \
		free(o_);                                                      \
	} while (0)

#define OK_AFTER(g) EXPECT(g, "predict", "{\"x\":[6.3,3.3,6.0,2.5]}", 200, "\"label\":2")

TEST(predict_and_init)
{
	cs_glue *g = new_glue();

	REQUIRE(g != NULL);
	OK_AFTER(g);
	EXPECT(g, "warm", "", 200, "\"warmed\":true");
	EXPECT(g, "created", "", 201, "\"ok\":true");
	EXPECT(g, "text", "", 200, "plain");
	EXPECT(g, "echo", "hello", 200, "\"agent\":\"tester\"");
	EXPECT(g, "echo", "hello", 200, "\"body\":\"hello\"");
	EXPECT(g, "echo", "hello", 200, "\"query\":\"a=1\"");
	EXPECT(g, "helper", "", 200, "42");
	cs_glue_free(g);
}

TEST(methods_are_public_by_rule)
{
	cs_glue *g = new_glue();

	REQUIRE(g != NULL);
	CHECK(cs_glue_has_method(g, "predict"));
	CHECK(!cs_glue_has_method(g, "init"));
	CHECK(!cs_glue_has_method(g, "_private"));
	EXPECT(g, "_private", "", 404, "no method '_private'");
	EXPECT(g, "nosuch", "", 404, "no method 'nosuch'");
	cs_glue_free(g);
}

TEST(errors_become_json_with_status)
{
	cs_glue *g = new_glue();

	REQUIRE(g != NULL);
	EXPECT(g, "boom", "", 500, "glue.lua:9: boom");
	{
		/* the client sees the glue's file name, not where it is stored */
		char *o_ = NULL;

		call(g, "boom", "", &o_);
		CHECK_STR(o_, "{\"error\":\"glue method 'boom' failed: glue.lua:9: boom\"}");
		free(o_);
	}
	OK_AFTER(g);
	EXPECT(g, "teapot", "", 418, "short and stout");
	EXPECT(g, "badjson", "{bad", 400, "not valid JSON");
	EXPECT(g, "badjson", "", 400, "no body");
	EXPECT(g, "badjson", "{\"a\":1,\"a\":2}", 400, "duplicate");
	EXPECT(g, "predict", "{\"x\":[1,2]}", 400, "needs 4 values");
	EXPECT(g, "predict", "{}", 400, "nil");
	EXPECT(g, "wrong_dtype", "", 400, "expects FP32 [-1,4], got INT64 [1,4]");
	EXPECT(g, "wrong_shape", "", 400, "expects FP32 [-1,4], got FP32 [1,5]");
	EXPECT(g, "unencodable", "", 500, "cannot be sent as JSON");
	EXPECT(g, "nan", "", 200, "\"v\":null");
	OK_AFTER(g);
	cs_glue_free(g);
}

TEST(instruction_budget)
{
	cs_glue *g = new_glue();

	REQUIRE(g != NULL);
	EXPECT(g, "spin", "", 500, "instruction budget");
	OK_AFTER(g);
	EXPECT(g, "sneaky", "", 500, "instruction budget");
	OK_AFTER(g);
	cs_glue_free(g);
}

TEST(memory_cap)
{
	cs_glue *g = new_glue();

	REQUIRE(g != NULL);
	EXPECT(g, "hog", "", 500, "memory limit");
	OK_AFTER(g);
	EXPECT(g, "hog", "", 500, "memory limit");
	OK_AFTER(g);
	cs_glue_free(g);
}

TEST(sandbox)
{
	cs_glue *g = new_glue();
	char *o;

	REQUIRE(g != NULL);
	CHECK(call(g, "sandbox", "", &o) == 200);
	CHECK(!strstr(o, "false"));
	if (strstr(o, "false"))
		printf("#   %s\n", o);
	free(o);
	cs_glue_free(g);
}

TEST(load_errors_name_the_file)
{
	char err[1024] = "";
	cs_glue *g = NULL;
	cs_manifest *m2 = NULL;
	cs_model saved = *model;
	char text[1024];

	write_file(dir, "glue.lua", "return {\n  predict = function( end\n}\n");
	CHECK(cs_glue_new(model, luadir, &g, err, sizeof err) != CS_OK);
	CHECK_HAS(err, "glue.lua:2");
	write_file(dir, "glue.lua", "error('at load')");
	CHECK(cs_glue_new(model, luadir, &g, err, sizeof err) != CS_OK);
	CHECK_HAS(err, "at load");
	write_file(dir, "glue.lua", "return 5");
	CHECK(cs_glue_new(model, luadir, &g, err, sizeof err) != CS_OK);
	CHECK_HAS(err, "must return a table");
	write_file(dir, "glue.lua", "return { init = function() error('cold') end }");
	CHECK(cs_glue_new(model, luadir, &g, err, sizeof err) != CS_OK);
	CHECK_HAS(err, "init(model) failed");
	/* a public method the glue lacks */
	write_file(dir, "glue.lua", "return { predict = function() return 1 end }");
	snprintf(text, sizeof text,
		 "{\"name\":\"linear\",\"version\":\"1\",\"plugin\":\"native\","
		 "\"model\":\"%s/examples/linear/weights.json\",\"glue\":\"glue.lua\","
		 "\"public\":[\"predict\",\"classify\"]}", top_srcdir());
	CHECK(cs_manifest_load(write_file(dir, "m2.json", text), &m2, err, sizeof err) == CS_OK);
	model->mf = m2;
	CHECK(cs_glue_new(model, luadir, &g, err, sizeof err) != CS_OK);
	CHECK_HAS(err, "'classify'");
	*model = saved;
	cs_manifest_free(m2);
	CHECK(g == NULL);
}

int main(void)
{
	char text[2048], err[1024] = "";

	if (!mkdtemp(dir))
		return 1;
	snprintf(plugins, sizeof plugins, "%s/plugins", top_builddir());
	snprintf(luadir, sizeof luadir, "%s", dir);
	write_file(dir, "glue.lua", glue_src);
	write_file(dir, "testmod.lua", "local M = {} function M.answer() return 42 end return M\n");
	snprintf(text, sizeof text,
		 "{\"name\":\"linear\",\"version\":\"1\",\"plugin\":\"native\","
		 "\"model\":\"%s/examples/linear/weights.json\",\"glue\":\"glue.lua\","
		 "\"limits\":{\"glue_instructions\":2000000,\"glue_memory_bytes\":8388608}}",
		 top_srcdir());
	if (cs_manifest_load(write_file(dir, "model.json", text), &mf, err, sizeof err) ||
	    cs_model_load(mf, plugins, &model, err, sizeof err)) {
		printf("Bail out! %s\n", err);
		return 1;
	}
	RUN(predict_and_init);
	RUN(methods_are_public_by_rule);
	RUN(errors_become_json_with_status);
	RUN(instruction_budget);
	RUN(memory_cap);
	RUN(sandbox);
	RUN(load_errors_name_the_file);
	cs_model_free(model);
	cs_manifest_free(mf);
	return tap_done();
}
