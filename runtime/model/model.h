/*
 * model.h - a loaded model: manifest + plugin + the plugin's model handle,
 * with the input checks every inference goes through.
 *
 * Loaded once per worker, before any request, and shared by every request
 * (and, after fork, by every child). cs_model_infer() is thread-safe: calls
 * into a plugin without CS_PLUGIN_THREAD_SAFE are serialized by a mutex.
 */
#ifndef CS_MODEL_H
#define CS_MODEL_H

#include <pthread.h>
#include <stddef.h>

#include <cubeserve/plugin.h>

#include "core/arena.h"
#include "model/manifest.h"
#include "model/plugin.h"

typedef struct cs_model {
	const cs_manifest *mf;        /* borrowed; outlives the model */
	cs_plugin_handle *plugin;
	void *handle;                 /* the plugin's model */
	const cs_io_desc *inputs;     /* declared inputs (manifest, else plugin) */
	size_t n_inputs;
	const cs_io_desc *outputs;    /* the plugin's outputs, in its order */
	size_t n_outputs;
	const cs_io_desc *p_inputs;   /* the plugin's inputs, in its order */
	size_t n_p_inputs;
	double load_seconds;
	cs_host host;
	pthread_mutex_t lock;         /* serializes infer for plugins that are
					 not CS_PLUGIN_THREAD_SAFE */
} cs_model;

/*
 * Opens the manifest's plugin (searched in plugin_dir, see
 * cs_plugin_open()), loads the model, and checks the manifest's declared
 * inputs and outputs against the model's real ones. On CS_OK *out is a new
 * model (free with cs_model_free()); otherwise err says what failed, naming
 * the file and both sides of a mismatch.
 */
int cs_model_load(const cs_manifest *mf, const char *plugin_dir,
		  cs_model **out, char *err, size_t errlen);

/*
 * Checks named inputs (any order) against the declared inputs and runs the
 * plugin. outputs must have room for m->n_outputs tensors; on CS_OK they
 * hold the outputs in m->outputs order, with data in the arena (valid until
 * it is reset). Errors: CS_EINVAL for inputs that do not fit ("model
 * 'linear': input 'x' expects FP32 [-1,4], got INT64 [1,4]"), the plugin's
 * status otherwise.
 */
int cs_model_infer(cs_model *m, const cs_tensor *inputs, size_t n_inputs,
		   cs_tensor *outputs, cs_arena *arena, char *err,
		   size_t errlen);

/* Most inputs a model may have. */
#define CS_MODEL_MAX_INPUTS 64

/*
 * The checking half of cs_model_infer(): checks named inputs (any order)
 * against the declared ones and writes them into ordered[] (room for
 * m->n_p_inputs) in the plugin's order, names set. The tensors' data stays
 * borrowed. Thread-safe.
 */
int cs_model_prepare(const cs_model *m, const cs_tensor *inputs,
		     size_t n_inputs, cs_tensor *ordered, char *err,
		     size_t errlen);

/*
 * The running half: calls the plugin with inputs already prepared, and
 * checks the outputs it returns. Same outputs and errors as
 * cs_model_infer().
 */
int cs_model_run(cs_model *m, const cs_tensor *ordered, cs_tensor *outputs,
		 cs_arena *arena, char *err, size_t errlen);

/* Unloads the model and closes the plugin. NULL is allowed. */
void cs_model_free(cs_model *m);

/* Index of a declared output by name, or -1. */
int cs_model_output_index(const cs_model *m, const char *name);

#endif
