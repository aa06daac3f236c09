/*
 * batcher.h - dynamic batching: concurrent requests of one process are
 * concatenated along dimension 0, run as one inference, and split again.
 *
 * For plugins with CS_PLUGIN_BATCHING whose inputs have a dynamic first
 * dimension. One batcher per serving process, created after fork (it owns
 * a thread); cs_batcher_infer() is called from any number of threads.
 */
#ifndef CS_BATCHER_H
#define CS_BATCHER_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "core/arena.h"
#include "model/model.h"

typedef struct cs_batcher cs_batcher;

typedef struct cs_batch_opts {
	int max_batch_size;          /* rows per inference (>= 1) */
	uint64_t max_queue_delay_us; /* from the first queued request's arrival */
	const int *preferred;        /* batch sizes to dispatch at once; may be NULL */
	size_t n_preferred;
	/*
	 * Requests in flight in this process (read atomically), or NULL. When
	 * every request in flight is already queued, no one else can join the
	 * batch: it runs at once instead of waiting out the delay, so a lone
	 * request pays no queue delay.
	 */
	const long *inflight;
	/* called after each batch with its requests and rows; may be NULL */
	void (*observe)(void *arg, size_t requests, int64_t rows);
	void *observe_arg;
} cs_batch_opts;

/*
 * Whether a model can be batched: the plugin says so and every input's
 * declared dimension 0 is -1. When not, why says the reason.
 */
int cs_batcher_supported(const cs_model *m, char *why, size_t whylen);

/*
 * Starts a batcher (and its thread) for a model. On CS_OK *out is new; free
 * it with cs_batcher_free(). The model must outlive it.
 */
int cs_batcher_new(cs_model *m, const cs_batch_opts *opts, cs_batcher **out,
		   char *err, size_t errlen);

/*
 * Like cs_model_infer(), through the batch: checks the inputs (errors are
 * this request's alone), waits for a batch, and returns this request's
 * rows of every output, with data in the caller's arena. deadline (may be
 * NULL) bounds the wait in the queue: past it the request is dropped from
 * the queue with CS_ETIMEOUT. Thread-safe.
 */
int cs_batcher_infer(cs_batcher *b, const cs_tensor *inputs, size_t n_inputs,
		     cs_tensor *outputs, cs_arena *arena,
		     const struct timespec *deadline, char *err, size_t errlen);

/*
 * The batch itself, without the thread: what the process's event loop
 * (serve/evloop.c) uses to batch the requests its coroutines yield, and
 * what the threaded batcher runs. Not thread-safe; no locks.
 */
typedef struct cs_batch_job {
	cs_tensor ordered[CS_MODEL_MAX_INPUTS]; /* the inputs in the plugin's order
						   (borrowed from the caller) */
	int64_t rows;        /* dimension 0 of every input */
	cs_tensor *outputs;  /* [model->n_outputs], filled by cs_batch_run() */
	cs_arena *arena;     /* where this job's output rows are copied */
	int status;          /* CS_OK, or the job's failure with err */
	char err[CS_ERROR_SIZE * 2];
} cs_batch_job;

/*
 * Checks inputs against the model (errors are this job's alone) and fills
 * jb->ordered and jb->rows; the caller sets outputs and arena. Returns
 * CS_OK or a cs_status with err set.
 */
int cs_batch_prepare(const cs_model *m, const cs_tensor *inputs,
		     size_t n_inputs, cs_batch_job *jb, char *err, size_t errlen);

/*
 * Runs jobs[0..n) as one inference: concatenates their inputs along
 * dimension 0 in scratch (reset first), runs the model, and copies each
 * job's rows of every output into the job's arena. Each job's status says
 * how it went; returns the batch's status (CS_OK when the model ran).
 */
int cs_batch_run(cs_model *m, cs_arena *scratch, cs_batch_job **jobs, size_t n);

/* Figures since the start, for metrics and tests. Thread-safe. */
typedef struct cs_batch_stats {
	uint64_t batches;   /* inferences run */
	uint64_t requests;  /* requests served through them */
	uint64_t rows;      /* rows run */
	uint64_t timeouts;  /* requests dropped past their deadline */
} cs_batch_stats;

void cs_batcher_stats(cs_batcher *b, cs_batch_stats *out);

/* Stops the thread (queued requests get CS_EUNAVAILABLE) and frees. NULL ok. */
void cs_batcher_free(cs_batcher *b);

#endif
