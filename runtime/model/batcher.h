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
