/*
 * glue.h - the Lua glue of one model: state, sandbox, budgets, calls.
 *
 * One cs_glue per thread that serves requests. Not thread-safe.
 */
#ifndef CS_GLUE_H
#define CS_GLUE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <lua.h>

#include <cubeserve/plugin.h>

#include "core/arena.h"

struct cs_model;
struct cs_request;
struct cs_response;

typedef struct cs_glue cs_glue;

/* The outcome of one glue call, written into the response. */
typedef struct cs_glue_result {
	int http_status;       /* 200 unless the glue or an error says so */
	char *body;            /* malloc'd; the caller frees it */
	size_t body_len;
	char content_type[128];
	int raw;               /* the method returned a string (bytes as they are) */
} cs_glue_result;

/*
 * Creates a Lua state for a loaded model: the sandboxed standard library,
 * `tensor`, `cs`, `model`, then loads the glue file (mf->glue_path, or
 * lua_dir/default.lua when the manifest has none) and runs its optional
 * init(model). lua_dir is where `require` may load modules from. On CS_OK
 * *out is a new glue (free with cs_glue_free()); otherwise err names the
 * file and the Lua message.
 */
int cs_glue_new(struct cs_model *model, const char *lua_dir, cs_glue **out,
		char *err, size_t errlen);

/* Closes the Lua state and frees the glue. NULL is allowed. */
void cs_glue_free(cs_glue *g);

/* Whether the glue has a public method of this name. */
int cs_glue_has_method(const cs_glue *g, const char *method);

/*
 * The public method names, as a NULL-terminated array owned by the glue
 * (valid until cs_glue_free()).
 */
const char *const *cs_glue_methods(const cs_glue *g);

/*
 * Calls a public method with the request, under the manifest's instruction
 * and memory budgets. Always fills res: the method's response, or a JSON
 * error {"error": "..."} with its HTTP status (400 bad input, 404 unknown
 * method, 500 glue error or budget, the status given to cs.error()).
 * Returns CS_OK when the method returned normally, else the error's status.
 * arena is the request's arena (inference outputs live there).
 */
int cs_glue_call(cs_glue *g, const char *method,
		 const struct cs_request *req, cs_arena *arena,
		 cs_glue_result *res);

/*
 * The optional V2 hook (docs/glue.md): `M.v2(inputs, parameters)` gets the
 * decoded V2 input tensors (a table name -> tensor) and the request's
 * parameters (a table), and returns the outputs (a table name -> tensor)
 * and optionally a table of response parameters. It is not an HTTP method.
 */
int cs_glue_has_v2(const cs_glue *g);

/*
 * Calls the V2 hook under the same budgets as cs_glue_call(). On CS_OK
 * out[0..*n_out) hold copies of the returned tensors (names and data in
 * the arena) and *resp_params a new reference or NULL. Otherwise res holds
 * the error response, as cs_glue_call() fills it.
 */
int cs_glue_call_v2(cs_glue *g, const struct cs_request *req,
		    cs_arena *arena, const cs_tensor *in, size_t n_in,
		    const json_t *params, cs_tensor *out, size_t max_out,
		    size_t *n_out, json_t **resp_params, cs_glue_result *res);

struct cs_infer_ctx;

/*
 * How model:infer runs from now on: the batcher (shared by the threads of
 * a process) or none, and the observer that times each inference. The
 * context is copied (its model is ignored: it is the glue's); what it
 * points to must outlive the glue's use of it.
 */
void cs_glue_set_infer(cs_glue *g, const struct cs_infer_ctx *ctx);

/*
 * The current request's deadline in CLOCK_MONOTONIC seconds (0: none):
 * glue still running past it stops with a 504, and a batched inference
 * does not wait in the queue beyond it. Set before each call.
 */
void cs_glue_set_deadline(cs_glue *g, double deadline);

#endif
