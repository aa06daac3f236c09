/*
 * glue.c - the Lua side of a model: the sandboxed state, the `cs` and
 * `model` globals, the request table, budgets, calls and errors.
 *
 * One cs_glue per serving thread. The state is created after the model is
 * loaded; a reload builds a new state and swaps it in only when the new
 * glue loads cleanly.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "core/json_out.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/names.h"
#include "core/request.h"
#include "core/status.h"
#include "glue/glue.h"
#include "glue/lua_bytes.h"
#include "glue/lua_image.h"
#include "glue/lua_json.h"
#include "glue/lua_tensor.h"
#include "glue/lua_util.h"
#include "model/infer.h"
#include "model/model.h"

#ifndef CS_LUA_DIR
#define CS_LUA_DIR "/usr/local/share/cubeserve/lua"
#endif

#define HOOK_EVERY 1000 /* instructions between budget checks */
#define MAX_METHODS 128

struct cs_glue {
	lua_State *L;
	cs_model *model;
	char *lua_dir;
	char *glue_path; /* the file loaded */
	int methods_ref; /* registry ref of the glue's table */
	const char *methods[MAX_METHODS + 1];
	size_t n_methods;

	/* budgets, reset per call */
	size_t mem_used;
	size_t mem_limit;
	int mem_exceeded;
	uint64_t instr_budget;
	uint64_t instr_used;
	int instr_exceeded;

	cs_arena *arena;          /* the current request's arena */
	const cs_request *req;    /* the current request */

	cs_infer_ctx infer;       /* how model:infer runs (batcher, deadline) */
	int timed_out;
};


/* ------------------------------------------------------------ allocator */

/* Lua's allocator with a cap: refuses growth past mem_limit. */
static void *glue_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
	cs_glue *g = ud;
	size_t old = ptr ? osize : 0;
	void *p;

	if (nsize == 0) {
		free(ptr);
		g->mem_used -= old;
		return NULL;
	}
	if (nsize > old && g->mem_limit &&
	    (nsize - old > g->mem_limit || g->mem_used + (nsize - old) > g->mem_limit)) {
		g->mem_exceeded = 1;
		return NULL;
	}
	p = realloc(ptr, nsize);
	if (!p) {
		g->mem_exceeded = 1;
		return NULL;
	}
	g->mem_used = g->mem_used - old + nsize;
	return p;
}

static cs_glue *glue_of(lua_State *L)
{
	void *ud;

	lua_getallocf(L, &ud);
	return ud;
}

/* ------------------------------------------------------------ errors */

/* cs.error(status, message): raise an HTTP error from glue. */
static int l_cs_error(lua_State *L)
{
	lua_Integer status = luaL_checkinteger(L, 1);
	const char *msg = luaL_optstring(L, 2, cs_http_reason((int)status));

	luaL_argcheck(L, status >= 400 && status <= 599, 1,
		      "HTTP status must be 400..599");
	return cs_lua_raise_http(L, (int)status, msg);
}

/* ------------------------------------------------------------ budgets */

static void count_hook(lua_State *L, lua_Debug *ar)
{
	cs_glue *g = glue_of(L);

	(void)ar;
	g->instr_used += HOOK_EVERY;
	if (g->timed_out || (g->infer.deadline > 0 && cs_clock_mono() > g->infer.deadline)) {
		g->timed_out = 1;
		lua_sethook(L, count_hook, LUA_MASKCOUNT, 1);
		luaL_error(L, "request time limit exceeded");
	}
	if (g->instr_exceeded || g->instr_used > g->instr_budget) {
		g->instr_exceeded = 1;
		/* keep failing at once, so a pcall in the glue cannot swallow it */
		lua_sethook(L, count_hook, LUA_MASKCOUNT, 1);
		luaL_error(L, "instruction budget of %I exceeded",
			   (lua_Integer)g->instr_budget);
	}
}

static void budgets_start(cs_glue *g, uint64_t instructions)
{
	g->instr_budget = instructions;
	g->instr_used = 0;
	g->instr_exceeded = 0;
	g->mem_exceeded = 0;
	g->timed_out = 0;
	lua_sethook(g->L, count_hook, LUA_MASKCOUNT, HOOK_EVERY);
}

static void budgets_stop(cs_glue *g)
{
	lua_sethook(g->L, NULL, 0, 0);
}

/* ------------------------------------------------------------ sandbox */

/* print(...) goes to the log: stdout is the FastCGI stream. */
static int l_print(lua_State *L)
{
	luaL_Buffer b;
	int n = lua_gettop(L);

	luaL_buffinit(L, &b);
	for (int i = 1; i <= n; i++) {
		if (i > 1)
			luaL_addchar(&b, '\t');
		luaL_tolstring(L, i, NULL);
		luaL_addvalue(&b);
	}
	luaL_pushresult(&b);
	cs_log_info("glue: %s", lua_tostring(L, -1));
	return 0;
}

static int l_cs_log(lua_State *L)
{
	static const char *const levels[] = {"error", "warn", "info", "debug", NULL};
	int level = CS_LOG_INFO;
	int msg = 1;

	if (lua_gettop(L) >= 2) {
		level = luaL_checkoption(L, 1, "info", levels);
		msg = 2;
	}
	cs_log(level, "glue: %s", luaL_tolstring(L, msg, NULL));
	return 0;
}

/*
 * Loads a Lua text file as a chunk named after the file alone ("@glue.lua"),
 * so messages and tracebacks a client sees hold no server paths (the
 * model store's content hashes among them). [-0, +1, m]
 */
static int load_text_file(lua_State *L, const char *path)
{
	const char *base = strrchr(path, '/');
	char chunk[256];
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t len = 0, cap = 0;
	int rc;

	snprintf(chunk, sizeof chunk, "@%s", base ? base + 1 : path);
	if (!f) {
		lua_pushfstring(L, "cannot open %s: %s", path, strerror(errno));
		return LUA_ERRFILE;
	}
	for (;;) {
		size_t n;

		if (len == cap) {
			char *b = realloc(buf, cap ? cap * 2 : 8192);

			if (!b) {
				free(buf);
				fclose(f);
				lua_pushfstring(L, "cannot read %s: out of memory", path);
				return LUA_ERRMEM;
			}
			buf = b;
			cap = cap ? cap * 2 : 8192;
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
		if (n == 0)
			break;
	}
	if (ferror(f)) {
		free(buf);
		fclose(f);
		lua_pushfstring(L, "cannot read %s", path);
		return LUA_ERRFILE;
	}
	fclose(f);
	rc = luaL_loadbufferx(L, buf ? buf : "", len, chunk, "t");
	free(buf);
	return rc;
}

/* load(chunk [, name [, mode [, env]]]) restricted to text chunks. */
static int l_load(lua_State *L)
{
	lua_settop(L, 4);
	lua_pushliteral(L, "t");
	lua_replace(L, 3);
	lua_getglobal(L, "__cs_load");
	lua_insert(L, 1);
	lua_call(L, 4, LUA_MULTRET);
	return lua_gettop(L);
}

/*
 * require(name): modules only from the lua directory; standard libraries
 * by name. Loaded modules are cached in the registry.
 */
static int l_require(lua_State *L)
{
	cs_glue *g = glue_of(L);
	const char *name = luaL_checkstring(L, 1);
	char path[PATH_MAX];
	size_t n = strlen(name);

	lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
	if (lua_getfield(L, -1, name) != LUA_TNIL)
		return 1;
	lua_pop(L, 1);
	if (n == 0 || n > 128)
		return luaL_error(L, "require: bad module name '%s'", name);
	for (size_t i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '.'))
			return luaL_error(L,
					  "require: module '%s' not allowed (only [A-Za-z0-9_.] names from the glue library)",
					  name);
	}
	if (name[0] == '.' || strstr(name, ".."))
		return luaL_error(L, "require: bad module name '%s'", name);
	snprintf(path, sizeof path, "%s/%s", g->lua_dir, name);
	for (char *p = path + strlen(g->lua_dir) + 1; *p; p++)
		if (*p == '.')
			*p = '/';
	if (strlen(path) + 5 > sizeof path)
		return luaL_error(L, "require: module name too long");
	strcat(path, ".lua");
	if (load_text_file(L, path) != LUA_OK)
		return luaL_error(L, "require: module '%s' not found in %s: %s",
				  name, g->lua_dir, lua_tostring(L, -1));
	lua_pushstring(L, name);
	lua_call(L, 1, 1);
	if (lua_isnil(L, -1)) {
		lua_pop(L, 1);
		lua_pushboolean(L, 1);
	}
	lua_pushvalue(L, -1);
	lua_setfield(L, -3, name);
	return 1;
}

static void open_sandbox(lua_State *L)
{
	static const luaL_Reg libs[] = {
		{LUA_GNAME, luaopen_base},
		{LUA_COLIBNAME, luaopen_coroutine},
		{LUA_TABLIBNAME, luaopen_table},
		{LUA_STRLIBNAME, luaopen_string},
		{LUA_MATHLIBNAME, luaopen_math},
		{LUA_UTF8LIBNAME, luaopen_utf8},
		{LUA_OSLIBNAME, luaopen_os},
		{NULL, NULL},
	};
	static const char *const base_removed[] = {"dofile", "loadfile", NULL};
	static const char *const os_removed[] = {
		"execute", "exit", "getenv", "remove", "rename", "tmpname",
		"setlocale", NULL,
	};

	for (const luaL_Reg *lib = libs; lib->func; lib++) {
		luaL_requiref(L, lib->name, lib->func, 1);
		lua_pop(L, 1);
	}
	for (const char *const *n = base_removed; *n; n++) {
		lua_pushnil(L);
		lua_setglobal(L, *n);
	}
	lua_getglobal(L, "os");
	for (const char *const *n = os_removed; *n; n++) {
		lua_pushnil(L);
		lua_setfield(L, -2, *n);
	}
	lua_pop(L, 1);
	/* keep the real load under a hidden name; expose the text-only one */
	lua_getglobal(L, "load");
	lua_setglobal(L, "__cs_load");
	lua_register(L, "load", l_load);
	lua_register(L, "print", l_print);
	lua_register(L, "require", l_require);
}

/* ------------------------------------------------------------ model */

static void push_io_list(lua_State *L, const cs_io_desc *io, size_t n)
{
	lua_createtable(L, (int)n, 0);
	luaL_setmetatable(L, CS_LUA_ARRAY_MT);
	for (size_t i = 0; i < n; i++) {
		lua_createtable(L, 0, 3);
		lua_pushstring(L, io[i].name);
		lua_setfield(L, -2, "name");
		lua_pushstring(L, cs_dtype_name(io[i].dtype));
		lua_setfield(L, -2, "dtype");
		lua_createtable(L, io[i].ndim, 0);
		luaL_setmetatable(L, CS_LUA_ARRAY_MT);
		for (int32_t d = 0; d < io[i].ndim; d++) {
			lua_pushinteger(L, io[i].shape[d]);
			lua_rawseti(L, -2, d + 1);
		}
		lua_setfield(L, -2, "shape");
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
}

/* model:infer{name = tensor, ...} -> {output_name = tensor, ...} */
static int l_model_infer(lua_State *L)
{
	cs_glue *g = glue_of(L);
	cs_model *m = g->model;
	cs_tensor in[64];
	cs_tensor *out;
	char err[CS_ERROR_SIZE * 2];
	cs_arena scratch, *arena = g->arena;
	size_t n = 0;
	int rc;

	luaL_checktype(L, 2, LUA_TTABLE);
	lua_pushnil(L);
	while (lua_next(L, 2)) {
		cs_tensor *t;

		if (lua_type(L, -2) != LUA_TSTRING)
			return luaL_error(L, "model:infer: inputs must be named: {name = tensor, ...}");
		t = cs_lua_tensor_test(L, -1);
		if (!t)
			return luaL_error(L, "model:infer: input '%s' must be a tensor, got %s",
					  lua_tostring(L, -2), luaL_typename(L, -1));
		if (n == 64)
			return luaL_error(L, "model:infer: more than 64 inputs");
		in[n] = *t;
		in[n].name = lua_tostring(L, -2); /* kept alive by the table */
		n++;
		lua_pop(L, 1);
	}
	out = lua_newuserdatauv(L, m->n_outputs * sizeof(*out), 0);
	if (!arena) { /* outside a request (init): a short-lived arena */
		cs_arena_init(&scratch, 0);
		arena = &scratch;
	}
	rc = cs_infer(&g->infer, in, n, out, arena, err, sizeof err);
	if (rc) {
		if (arena == &scratch)
			cs_arena_destroy(&scratch);
		return cs_lua_raise(L, rc, "%s", err);
	}
	lua_createtable(L, 0, (int)m->n_outputs);
	for (size_t i = 0; i < m->n_outputs; i++) {
		cs_lua_tensor_push_copy(L, &out[i]);
		lua_setfield(L, -2, m->outputs[i].name);
	}
	if (arena == &scratch)
		cs_arena_destroy(&scratch);
	return 1;
}

static void open_model(lua_State *L, cs_model *m)
{
	lua_createtable(L, 0, 8);
	lua_pushstring(L, m->mf->name);
	lua_setfield(L, -2, "name");
	lua_pushstring(L, m->mf->version);
	lua_setfield(L, -2, "version");
	lua_pushstring(L, m->plugin->api->name);
	lua_setfield(L, -2, "plugin");
	push_io_list(L, m->inputs, m->n_inputs);
	lua_setfield(L, -2, "inputs");
	push_io_list(L, m->outputs, m->n_outputs);
	lua_setfield(L, -2, "outputs");
	lua_pushcfunction(L, l_model_infer);
	lua_setfield(L, -2, "infer");
	lua_setglobal(L, "model");
}

/* ------------------------------------------------------------ cs */

static int l_cs_json_encode(lua_State *L)
{
	char err[CS_ERROR_SIZE];
	json_t *v;
	char *s;

	luaL_checkany(L, 1);
	v = cs_lua_to_json(L, 1, err, sizeof err);
	if (!v)
		return luaL_error(L, "cs.json_encode: %s", err);
	s = cs_json_dumps(v, NULL);
	json_decref(v);
	if (!s)
		return luaL_error(L, "cs.json_encode: out of memory");
	lua_pushstring(L, s);
	free(s);
	return 1;
}

static int l_cs_json_decode(lua_State *L)
{
	size_t len;
	const char *s = luaL_checklstring(L, 1, &len);
	json_error_t jerr;
	json_t *v;

	v = json_loadb(s, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
	if (!v)
		return cs_lua_raise(L, CS_EINVAL, "invalid JSON at line %d column %d: %s",
				     jerr.line, jerr.column, jerr.text);
	cs_lua_push_json(L, v);
	json_decref(v);
	return 1;
}

/* cs.array(t): mark a table as a JSON array (even when empty). */
static int l_cs_array(lua_State *L)
{
	if (lua_isnoneornil(L, 1))
		lua_newtable(L);
	luaL_checktype(L, 1, LUA_TTABLE);
	lua_settop(L, 1);
	luaL_setmetatable(L, CS_LUA_ARRAY_MT);
	return 1;
}

static void open_cs(lua_State *L)
{
	static const luaL_Reg fns[] = {
		{"error", l_cs_error},
		{"log", l_cs_log},
		{"json_encode", l_cs_json_encode},
		{"json_decode", l_cs_json_decode},
		{"array", l_cs_array},
		{NULL, NULL},
	};

	luaL_newlib(L, fns);
	lua_pushlightuserdata(L, cs_lua_null);
	lua_setfield(L, -2, "null");
	lua_pushstring(L, CS_VERSION);
	lua_setfield(L, -2, "version");
	lua_setglobal(L, "cs");

}

/* ------------------------------------------------------------ req */

/* Lazy fields of req: json (parsed body) and headers. */
static int req_index(lua_State *L)
{
	cs_glue *g = glue_of(L);
	const cs_request *req = g->req;
	const char *key = lua_tostring(L, 2);

	if (!req || !key)
		return 0;
	if (strcmp(key, "json") == 0 && req->json) {
		cs_lua_push_json(L, req->json); /* the envelope's kwargs */
	} else if (strcmp(key, "json") == 0) {
		json_error_t jerr;
		json_t *v;

		if (req->body_len == 0)
			return cs_lua_raise(L, CS_EINVAL,
					     "the request has no body; expected a JSON document");
		v = json_loadb(req->body, req->body_len,
			       JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
		if (!v)
			return cs_lua_raise(L, CS_EINVAL,
					     "the request body is not valid JSON: line %d column %d: %s",
					     jerr.line, jerr.column, jerr.text);
		cs_lua_push_json(L, v);
		json_decref(v);
	} else if (strcmp(key, "headers") == 0) {
		lua_newtable(L);
		for (char **e = req->envp; e && *e; e++) {
			const char *eq = strchr(*e, '=');
			char name[256];
			size_t n;

			if (strncmp(*e, "HTTP_", 5) != 0 || !eq)
				continue;
			n = (size_t)(eq - (*e + 5));
			if (n == 0 || n >= sizeof name)
				continue;
			for (size_t i = 0; i < n; i++) {
				char c = (*e)[5 + i];

				name[i] = c == '_' ? '-' :
					  (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
			}
			name[n] = '\0';
			lua_pushstring(L, eq + 1);
			lua_setfield(L, -2, name);
		}
		if (req->content_type[0]) {
			lua_pushstring(L, req->content_type);
			lua_setfield(L, -2, "content-type");
		}
	} else if (!cs_lua_request_uploads(L, req, key)) { /* files, form, file */
		return 0;
	}
	lua_pushvalue(L, -1);
	lua_setfield(L, 1, key); /* cache: later reads are plain fields */
	return 1;
}

static void push_request(lua_State *L, const cs_request *req)
{
	lua_createtable(L, 0, 8);
	lua_pushstring(L, req->method);
	lua_setfield(L, -2, "method");
	lua_pushstring(L, req->path);
	lua_setfield(L, -2, "path");
	lua_pushstring(L, req->query);
	lua_setfield(L, -2, "query");
	lua_pushstring(L, req->content_type);
	lua_setfield(L, -2, "content_type");
	lua_pushstring(L, req->request_id);
	lua_setfield(L, -2, "id");
	lua_pushlstring(L, req->body ? req->body : "", req->body_len);
	lua_setfield(L, -2, "body");
	if (req->file_name) { /* an upload through the envelope */
		lua_createtable(L, 0, 4);
		lua_pushstring(L, req->file_name);
		lua_setfield(L, -2, "name");
		lua_pushstring(L, req->file_filename ? req->file_filename : "");
		lua_setfield(L, -2, "filename");
		lua_pushstring(L, req->file_type ? req->file_type : "");
		lua_setfield(L, -2, "content_type");
		lua_pushlstring(L, req->file_data ? req->file_data : "", req->file_len);
		lua_setfield(L, -2, "data");
		lua_setfield(L, -2, "file");
	}
	luaL_setmetatable(L, "cubeserve.request");
}

/* ------------------------------------------------------------ state */

/* Message handler: keep error objects; log a traceback for the others. */
static int msgh(lua_State *L)
{
	if (cs_lua_is_error(L, 1))
		return 1;
	if (!lua_isstring(L, 1))
		lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
	else
		lua_pushvalue(L, 1);
	luaL_traceback(L, L, lua_tostring(L, -1), 1);
	cs_log_debug("glue traceback: %s", lua_tostring(L, -1));
	lua_pop(L, 1);
	return 1;
}

/* Pushes the error of a failed pcall as (status, message). */
static int error_status(cs_glue *g, lua_State *L, int idx, const char **msg)
{
	int status = 500;

	idx = lua_absindex(L, idx);
	if (cs_lua_is_error(L, idx)) {
		lua_getfield(L, idx, "status");
		if (lua_isinteger(L, -1))
			status = (int)lua_tointeger(L, -1);
		lua_pop(L, 1);
		lua_getfield(L, idx, "message");
		lua_replace(L, idx);
	}
	*msg = lua_tostring(L, idx);
	if (!*msg)
		*msg = "unknown error";
	if (g->instr_exceeded || g->mem_exceeded)
		status = 500;
	return status;
}

static void collect_methods(cs_glue *g)
{
	lua_State *L = g->L;

	g->n_methods = 0;
	lua_rawgeti(L, LUA_REGISTRYINDEX, g->methods_ref);
	lua_pushnil(L);
	while (lua_next(L, -2) && g->n_methods < MAX_METHODS) {
		if (lua_type(L, -2) == LUA_TSTRING && lua_isfunction(L, -1)) {
			const char *name = lua_tostring(L, -2);

			if (cs_name_valid(name) && strcmp(name, "init") != 0 &&
			    strcmp(name, "v2") != 0 && name[0] != '_' &&
			    cs_manifest_is_public(g->model->mf, name))
				g->methods[g->n_methods++] = name; /* kept alive by the table */
		}
		lua_pop(L, 1);
	}
	lua_pop(L, 1);
	g->methods[g->n_methods] = NULL;
}

int cs_glue_new(cs_model *model, const char *lua_dir, cs_glue **out,
		char *err, size_t errlen)
{
	const cs_manifest *mf = model->mf;
	char path[PATH_MAX];
	const char *file;
	const char *msg;
	cs_glue *g;
	lua_State *L;
	int rc;

	g = calloc(1, sizeof(*g));
	if (!g)
		return CS_ENOMEM;
	g->model = model;
	g->infer.model = model;
	g->methods_ref = LUA_NOREF;
	if (!lua_dir || !*lua_dir)
		lua_dir = getenv("CUBESERVE_LUA_DIR");
	if (!lua_dir || !*lua_dir)
		lua_dir = CS_LUA_DIR;
	g->lua_dir = strdup(lua_dir);
	if (mf->glue_path) {
		file = mf->glue_path;
	} else {
		snprintf(path, sizeof path, "%s/default.lua", lua_dir);
		file = path;
	}
	g->glue_path = strdup(file);
	if (!g->lua_dir || !g->glue_path) {
		rc = CS_ENOMEM;
		goto out_free_glue;
	}
	g->mem_limit = mf->limits.glue_memory_bytes;
	L = lua_newstate(glue_alloc, g);
	if (!L) {
		snprintf(err, errlen, "model '%s': cannot create a Lua state", mf->name);
		rc = CS_ENOMEM;
		goto out_free_glue;
	}
	g->L = L;
	lua_gc(L, LUA_GCGEN, 0, 0);

	open_sandbox(L);
	cs_lua_util_open(L);
	cs_lua_tensor_open(L);
	cs_lua_image_open(L, mf->limits.max_image_pixels, mf->limits.max_image_bytes);
	open_cs(L);
	cs_lua_bytes_open(L, mf->dir, mf->limits.max_string_bytes);
	open_model(L, model);
	luaL_newmetatable(L, "cubeserve.request");
	lua_pushcfunction(L, req_index);
	lua_setfield(L, -2, "__index");
	lua_pop(L, 1);

	/* load and run the glue file: it returns its table of methods */
	budgets_start(g, mf->limits.glue_instructions * 10);
	lua_pushcfunction(L, msgh);
	if (load_text_file(L, file) != LUA_OK) {
		snprintf(err, errlen, "model '%s': cannot load glue %s: %s",
			 mf->name, file, lua_tostring(L, -1));
		rc = CS_EFORMAT;
		goto out_close_state;
	}
	if (lua_pcall(L, 0, 1, -2) != LUA_OK) {
		error_status(g, L, -1, &msg);
		snprintf(err, errlen, "model '%s': glue %s failed while loading: %s",
			 mf->name, file, msg);
		rc = CS_EFORMAT;
		goto out_close_state;
	}
	if (!lua_istable(L, -1)) {
		snprintf(err, errlen,
			 "model '%s': glue %s must return a table of methods, it returned %s",
			 mf->name, file, luaL_typename(L, -1));
		rc = CS_EFORMAT;
		goto out_close_state;
	}
	lua_pushvalue(L, -1);
	g->methods_ref = luaL_ref(L, LUA_REGISTRYINDEX);

	/* every method the manifest makes public must exist */
	for (size_t i = 0; i < mf->n_public; i++) {
		lua_getfield(L, -1, mf->public_methods[i]);
		if (!lua_isfunction(L, -1)) {
			snprintf(err, errlen,
				 "model '%s': the manifest makes method '%s' public but glue %s has no function '%s'",
				 mf->name, mf->public_methods[i], file,
				 mf->public_methods[i]);
			rc = CS_EINVAL;
			goto out_close_state;
		}
		lua_pop(L, 1);
	}

	/* init(model): warm-up, once per state */
	if (lua_getfield(L, -1, "init") == LUA_TFUNCTION) {
		lua_getglobal(L, "model");
		if (lua_pcall(L, 1, 0, -4) != LUA_OK) {
			error_status(g, L, -1, &msg);
			snprintf(err, errlen, "model '%s': glue %s: init(model) failed: %s",
				 mf->name, file, msg);
			rc = CS_EFORMAT;
			goto out_close_state;
		}
	} else {
		lua_pop(L, 1);
	}
	budgets_stop(g);
	lua_settop(L, 0);
	collect_methods(g);
	lua_gc(L, LUA_GCCOLLECT, 0);
	*out = g;
	return CS_OK;

out_close_state:
	lua_close(L);
out_free_glue:
	free(g->lua_dir);
	free(g->glue_path);
	free(g);
	return rc;
}

void cs_glue_free(cs_glue *g)
{
	if (!g)
		return;
	if (g->L)
		lua_close(g->L);
	free(g->lua_dir);
	free(g->glue_path);
	free(g);
}

int cs_glue_has_method(const cs_glue *g, const char *method)
{
	for (size_t i = 0; i < g->n_methods; i++)
		if (strcmp(g->methods[i], method) == 0)
			return 1;
	return 0;
}

const char *const *cs_glue_methods(const cs_glue *g)
{
	return g->methods;
}

static void result_set(cs_glue_result *res, int http_status, const char *msg)
{
	cs_response r = {0};

	cs_response_fail(&r, CS_EINVAL, "%s", msg);
	res->http_status = http_status;
	res->body = r.body;
	res->body_len = r.len;
	snprintf(res->content_type, sizeof res->content_type, "application/json");
}

/* An error of the runtime's: the HTTP status is the one st maps to. */
static void result_error(cs_glue_result *res, cs_status st, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void result_error(cs_glue_result *res, cs_status st, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	result_set(res, cs_status_http(st), msg);
}

/* Turns the method's return values (at top-1 and top) into the result. */
static int take_result(cs_glue *g, lua_State *L, const char *method,
		       cs_glue_result *res)
{
	char err[CS_ERROR_SIZE * 2];
	int status = 200;
	const char *ctype = NULL;

	/* optional second value: an HTTP status or a content type */
	if (lua_isinteger(L, -1)) {
		lua_Integer s = lua_tointeger(L, -1);

		if (s < 200 || s > 599) {
			result_error(res, CS_EBACKEND, "glue method '%s' returned HTTP status %lld (must be 200..599)",
				     method, (long long)s);
			return CS_EINVAL;
		}
		status = (int)s;
	} else if (lua_type(L, -1) == LUA_TSTRING) {
		ctype = lua_tostring(L, -1);
	} else if (!lua_isnil(L, -1)) {
		result_error(res, CS_EBACKEND, "glue method '%s': the second return value must be a status or a content type, got %s",
			     method, luaL_typename(L, -1));
		return CS_EINVAL;
	}
	if (lua_type(L, -2) == LUA_TSTRING) {
		size_t len;
		const char *s = lua_tolstring(L, -2, &len);

		res->body = malloc(len ? len : 1);
		if (!res->body) {
			result_error(res, CS_ENOMEM, "out of memory");
			return CS_ENOMEM;
		}
		memcpy(res->body, s, len);
		res->body_len = len;
		snprintf(res->content_type, sizeof res->content_type, "%s",
			 ctype ? ctype : "text/plain; charset=utf-8");
		res->raw = 1;
	} else {
		json_t *v = cs_lua_to_json(L, lua_gettop(L) - 1, err, sizeof err);
		char *s;

		if (!v) {
			result_error(res, CS_EBACKEND, "glue method '%s' returned a value that cannot be sent as JSON: %s",
				     method, err);
			return CS_EINVAL;
		}
		s = cs_json_dumps(v, NULL);
		json_decref(v);
		if (!s) {
			result_error(res, CS_ENOMEM, "out of memory");
			return CS_ENOMEM;
		}
		res->body = s;
		res->body_len = strlen(s);
		snprintf(res->content_type, sizeof res->content_type, "%s",
			 ctype ? ctype : "application/json");
	}
	res->http_status = status;
	return CS_OK;
}

/* After a call: forget the request; collect when the garbage piles up. */
static void call_end(cs_glue *g)
{
	g->req = NULL;
	g->arena = NULL;
	lua_settop(g->L, 0);
	/* a request's garbage should not pile up into the next one's budget */
	if (g->mem_used > g->mem_limit / 2)
		lua_gc(g->L, LUA_GCCOLLECT, 0);
}

int cs_glue_call(cs_glue *g, const char *method, const cs_request *req,
		 cs_arena *arena, cs_glue_result *res)
{
	lua_State *L = g->L;
	const char *msg;
	int rc, status;

	memset(res, 0, sizeof(*res));
	if (!cs_glue_has_method(g, method)) {
		result_error(res, CS_ENOTFOUND, "model '%s' has no method '%s'",
			     g->model->mf->name, method);
		return CS_ENOTFOUND;
	}
	lua_settop(L, 0);
	lua_pushcfunction(L, msgh);
	lua_rawgeti(L, LUA_REGISTRYINDEX, g->methods_ref);
	lua_getfield(L, -1, method);
	lua_remove(L, -2);
	g->req = req;
	g->arena = arena;
	push_request(L, req);
	budgets_start(g, g->model->mf->limits.glue_instructions);
	rc = lua_pcall(L, 1, 2, 1);
	budgets_stop(g);
	if (rc == LUA_OK) {
		rc = take_result(g, L, method, res);
	} else {
		status = error_status(g, L, -1, &msg);
		if (g->timed_out) {
			result_error(res, CS_ETIMEOUT,
				     "glue method '%s' ran past the request time limit (limits.request_timeout_ms)",
				     method);
			rc = CS_ETIMEOUT;
		} else if (g->instr_exceeded) {
			result_error(res, CS_ELIMIT,
				     "glue method '%s' exceeded its instruction budget (%llu instructions; limits.glue_instructions)",
				     method, (unsigned long long)g->instr_budget);
			rc = CS_ELIMIT;
		} else if (g->mem_exceeded || rc == LUA_ERRMEM) {
			result_error(res, CS_ELIMIT,
				     "glue method '%s' exceeded its memory limit (%zu bytes; limits.glue_memory_bytes)",
				     method, g->mem_limit);
			rc = CS_ELIMIT;
		} else if (status == 500) {
			result_error(res, CS_EBACKEND, "glue method '%s' failed: %s", method, msg);
			rc = CS_EBACKEND;
		} else {
			/* the status the glue chose with cs.error() */
			result_set(res, status, msg);
			rc = status == 400 ? CS_EINVAL : CS_EBACKEND;
		}
		if (rc != CS_EINVAL)
			cs_log_warn("%s %s: %s", req->method, req->path,
				    res->body ? res->body : "error");
	}
	call_end(g);
	return rc;
}

/* ------------------------------------------------------------ V2 hook */

int cs_glue_has_v2(const cs_glue *g)
{
	int yes;

	lua_rawgeti(g->L, LUA_REGISTRYINDEX, g->methods_ref);
	yes = lua_getfield(g->L, -1, "v2") == LUA_TFUNCTION;
	lua_pop(g->L, 2);
	return yes;
}

/* Copies the hook's outputs table (at idx) into the arena. */
static int v2_take_outputs(cs_glue *g, lua_State *L, int idx, cs_arena *arena,
			   cs_tensor *out, size_t max_out, size_t *n_out,
			   cs_glue_result *res)
{
	size_t n = 0;

	if (!lua_istable(L, idx)) {
		result_error(res, CS_EBACKEND, "glue hook 'v2' must return a table of output tensors, it returned %s",
			     luaL_typename(L, idx));
		return CS_EINVAL;
	}
	lua_pushnil(L);
	while (lua_next(L, idx)) {
		cs_tensor *t = cs_lua_tensor_test(L, -1);
		size_t len;
		const char *name = lua_type(L, -2) == LUA_TSTRING ? lua_tolstring(L, -2, &len) : NULL;
		char *nm;
		void *data;

		if (!name || !t || n == max_out) {
			result_error(res, CS_EBACKEND, "glue hook 'v2' must return {name = tensor, ...} (at most %zu)",
				     max_out);
			lua_pop(L, 2);
			return CS_EINVAL;
		}
		nm = cs_arena_alloc(arena, len + 1);
		data = cs_arena_alloc(arena, t->nbytes ? t->nbytes : 1);
		if (!nm || !data) {
			result_error(res, CS_ENOMEM, "out of memory");
			lua_pop(L, 2);
			return CS_ENOMEM;
		}
		memcpy(nm, name, len + 1);
		memcpy(data, t->data, t->nbytes);
		out[n] = *t;
		out[n].name = nm;
		out[n].data = data;
		n++;
		lua_pop(L, 1);
	}
	*n_out = n;
	(void)g;
	return CS_OK;
}

int cs_glue_call_v2(cs_glue *g, const cs_request *req, cs_arena *arena,
		    const cs_tensor *in, size_t n_in, const json_t *params,
		    cs_tensor *out, size_t max_out, size_t *n_out,
		    json_t **resp_params, cs_glue_result *res)
{
	lua_State *L = g->L;
	char err[CS_ERROR_SIZE * 2] = "";
	const char *msg;
	int rc, status;

	memset(res, 0, sizeof(*res));
	*n_out = 0;
	*resp_params = NULL;
	lua_settop(L, 0);
	lua_pushcfunction(L, msgh);
	lua_rawgeti(L, LUA_REGISTRYINDEX, g->methods_ref);
	lua_getfield(L, -1, "v2");
	lua_remove(L, -2);
	g->req = req;
	g->arena = arena;
	lua_createtable(L, 0, (int)n_in);
	for (size_t i = 0; i < n_in; i++) {
		cs_lua_tensor_push_copy(L, &in[i]);
		lua_setfield(L, -2, in[i].name);
	}
	if (params)
		cs_lua_push_json(L, params);
	else
		lua_newtable(L);
	budgets_start(g, g->model->mf->limits.glue_instructions);
	rc = lua_pcall(L, 2, 2, 1);
	budgets_stop(g);
	if (rc == LUA_OK) {
		rc = v2_take_outputs(g, L, 2, arena, out, max_out, n_out, res);
		if (rc == CS_OK && !lua_isnil(L, 3)) {
			*resp_params = cs_lua_to_json(L, 3, err, sizeof err);
			if (!*resp_params || !json_is_object(*resp_params)) {
				json_decref(*resp_params);
				*resp_params = NULL;
				result_error(res, CS_EBACKEND, "glue hook 'v2': the second return value must be a table of parameters%s%s",
					     err[0] ? ": " : "", err);
				rc = CS_EINVAL;
			}
		}
	} else {
		status = error_status(g, L, -1, &msg);
		if (g->instr_exceeded) {
			result_error(res, CS_ELIMIT, "glue hook 'v2' exceeded its instruction budget (%llu instructions; limits.glue_instructions)",
				     (unsigned long long)g->instr_budget);
			rc = CS_ELIMIT;
		} else if (g->mem_exceeded || rc == LUA_ERRMEM) {
			result_error(res, CS_ELIMIT, "glue hook 'v2' exceeded its memory limit (%zu bytes; limits.glue_memory_bytes)",
				     g->mem_limit);
			rc = CS_ELIMIT;
		} else if (status == 500) {
			result_error(res, CS_EBACKEND, "glue hook 'v2' failed: %s", msg);
			rc = CS_EBACKEND;
		} else {
			/* the status the glue chose with cs.error() */
			result_set(res, status, msg);
			rc = status == 400 ? CS_EINVAL : CS_EBACKEND;
		}
	}
	call_end(g);
	return rc;
}

void cs_glue_set_infer(cs_glue *g, const cs_infer_ctx *ctx)
{
	cs_model *m = g->infer.model;

	g->infer = *ctx;
	g->infer.model = m;
}

void cs_glue_set_deadline(cs_glue *g, double deadline)
{
	g->infer.deadline = deadline;
}
