/*
 * infer.h - the one way to run an inference: through the process's
 * batcher when there is one, else straight to the model; bounded by the
 * request's deadline; timed for the caller's metrics.
 *
 * Every endpoint that infers (a glue method's model:infer, the V2 infer
 * path without glue) goes through cs_infer(), so batching, deadlines and
 * the inference-time figure mean the same everywhere.
 */
#ifndef CS_INFER_H
#define CS_INFER_H

#include <stddef.h>

#include <cubeserve/plugin.h>

#include "core/arena.h"
#include "model/batcher.h"
#include "model/model.h"

/*
 * Called after each inference with its wall time in seconds (queue wait
 * included when batched), whatever the outcome.
 */
typedef void (*cs_infer_observer)(void *arg, double seconds);

/*
 * An inference run by someone else: the event loop (serve/evloop.c) parks
 * the calling request, runs it in a batch with the others it has, and
 * returns when the outputs are in place, as cs_infer() would.
 */
typedef cs_status (*cs_infer_sched)(void *arg, const cs_tensor *inputs,
				    size_t n_inputs, cs_tensor *outputs,
				    cs_arena *arena, double deadline,
				    char *err, size_t errlen);

/*
 * Where and how to infer. Plain data the caller owns; one per serving
 * thread (the deadline changes per request).
 */
typedef struct cs_infer_ctx {
	cs_model *model;           /* borrowed; required */
	cs_batcher *batcher;       /* borrowed; NULL: call the model directly */
	double deadline;           /* CLOCK_MONOTONIC seconds; 0: none */
	cs_infer_observer observe; /* may be NULL */
	void *observe_arg;
	cs_infer_sched sched;      /* when set, runs every inference instead of
				      the batcher or the model */
	void *sched_arg;
} cs_infer_ctx;

/*
 * Runs one inference of inputs[0..n_inputs) (checked against the model's
 * declared inputs; errors are CS_EINVAL naming expected and got) into
 * outputs[0..model->n_outputs), whose data is allocated in arena. With a
 * batcher the request may share an inference with others and waits in the
 * queue at most until the deadline (CS_ETIMEOUT). Returns CS_OK or a
 * cs_status with err set. Thread-safe when the batcher is, or when the
 * model's plugin is (cs_model_infer() serializes plugins that are not).
 */
cs_status cs_infer(const cs_infer_ctx *ctx, const cs_tensor *inputs,
		   size_t n_inputs, cs_tensor *outputs, cs_arena *arena,
		   char *err, size_t errlen);

#endif
