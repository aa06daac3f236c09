/*
 * batcher.c - dynamic batching (see batcher.h).
 *
 * Callers queue a job and sleep on their own condition variable; one batch
 * thread waits for the first job, then gathers more until the batch is
 * full, reaches a preferred size, or max_queue_delay_us has passed since
 * that first job arrived; it concatenates the inputs, runs the model once,
 * copies each job's rows of the outputs into the job's arena and wakes it.
 * The batch itself (cs_batch_prepare(), cs_batch_run()) takes no lock: the
 * event loop uses it on its own thread.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "model/batcher.h"

typedef struct job {
	cs_batch_job b;  /* first: run_batch's pointers are to it */
	struct job *next;
	struct timespec queued;
	int taken;       /* the batch thread has it */
	int done;
	pthread_cond_t cond;
} job;

struct cs_batcher {
	cs_model *m;
	cs_batch_opts o;
	int *preferred;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t wake;   /* the batch thread waits here */
	job *head, *tail;
	int64_t queued_rows;
	long queued_jobs;
	int stopping;
	cs_batch_stats stats;
	cs_arena arena;        /* the batch's inputs and outputs */
};

static double ts_s(const struct timespec *t)
{
	return (double)t->tv_sec + (double)t->tv_nsec / 1e9;
}

static void ts_add_us(struct timespec *t, uint64_t us)
{
	t->tv_sec += (time_t)(us / 1000000);
	t->tv_nsec += (long)(us % 1000000) * 1000;
	if (t->tv_nsec >= 1000000000L) {
		t->tv_sec++;
		t->tv_nsec -= 1000000000L;
	}
}

int cs_batcher_supported(const cs_model *m, char *why, size_t whylen)
{
	if (!(m->plugin->api->flags & CS_PLUGIN_BATCHING)) {
		snprintf(why, whylen, "plugin '%s' does not support batching",
			 m->plugin->api->name);
		return 0;
	}
	for (size_t i = 0; i < m->n_inputs; i++)
		if (m->inputs[i].ndim < 1 || m->inputs[i].shape[0] != -1) {
			snprintf(why, whylen,
				 "input '%s' has no dynamic first dimension (-1) to batch along",
				 m->inputs[i].name);
			return 0;
		}
	return 1;
}

/* Bytes of `rows` rows of a fixed-size tensor. */
static size_t row_bytes(const cs_tensor *t)
{
	int64_t per = cs_shape_numel(t->ndim - 1, t->shape + 1);

	return (size_t)per * cs_dtype_size(t->dtype);
}

/* Byte length of the first `elems` elements of a BYTES buffer. */
static size_t bytes_prefix(const unsigned char *p, size_t len, int64_t elems)
{
	size_t off = 0;

	for (int64_t i = 0; i < elems && off + 4 <= len; i++) {
		uint32_t n = (uint32_t)p[off] | (uint32_t)p[off + 1] << 8 |
			     (uint32_t)p[off + 2] << 16 | (uint32_t)p[off + 3] << 24;
		off += 4 + n;
	}
	return off;
}

int cs_batch_prepare(const cs_model *m, const cs_tensor *inputs,
		     size_t n_inputs, cs_batch_job *jb, char *err, size_t errlen)
{
	int rc;

	memset(jb, 0, sizeof *jb);
	rc = cs_model_prepare(m, inputs, n_inputs, jb->ordered, err, errlen);
	if (rc)
		return rc;
	jb->rows = jb->ordered[0].shape[0];
	for (size_t i = 1; i < m->n_p_inputs; i++)
		if (jb->ordered[i].shape[0] != jb->rows) {
			snprintf(err, errlen,
				 "model '%s': inputs disagree on the batch size: '%s' has %lld rows, '%s' %lld",
				 m->mf->name, jb->ordered[0].name, (long long)jb->rows,
				 jb->ordered[i].name, (long long)jb->ordered[i].shape[0]);
			return CS_EINVAL;
		}
	return CS_OK;
}

int cs_batch_run(cs_model *m, cs_arena *scratch, cs_batch_job **jobs, size_t n)
{
	cs_tensor in[CS_MODEL_MAX_INPUTS];
	cs_tensor out[64];
	char err[CS_ERROR_SIZE * 2] = "";
	int64_t total = 0;
	int rc = CS_OK;

	for (size_t j = 0; j < n; j++)
		total += jobs[j]->rows;
	cs_arena_reset(scratch);
	/* concatenate each input along dimension 0 */
	for (size_t i = 0; i < m->n_p_inputs; i++) {
		size_t bytes = 0, off = 0;
		unsigned char *buf;

		for (size_t j = 0; j < n; j++)
			bytes += jobs[j]->ordered[i].nbytes;
		buf = cs_arena_alloc(scratch, bytes);
		if (!buf) {
			snprintf(err, sizeof err, "model '%s': out of memory batching %lld rows",
				 m->mf->name, (long long)total);
			rc = CS_ENOMEM;
			goto out_finish;
		}
		for (size_t j = 0; j < n; j++) {
			memcpy(buf + off, jobs[j]->ordered[i].data, jobs[j]->ordered[i].nbytes);
			off += jobs[j]->ordered[i].nbytes;
		}
		in[i] = jobs[0]->ordered[i];
		in[i].shape[0] = total;
		in[i].data = buf;
		in[i].nbytes = bytes;
	}
	if (m->n_outputs > 64) {
		rc = CS_EUNSUPPORTED;
		snprintf(err, sizeof err, "model '%s': too many outputs to batch", m->mf->name);
		goto out_finish;
	}
	rc = cs_model_run(m, in, out, scratch, err, sizeof err);
	if (rc)
		goto out_finish;
	for (size_t k = 0; k < m->n_outputs; k++)
		if (out[k].ndim < 1 || out[k].shape[0] != total) {
			snprintf(err, sizeof err,
				 "model '%s': output '%s' has %lld rows for a batch of %lld",
				 m->mf->name, out[k].name,
				 out[k].ndim ? (long long)out[k].shape[0] : 0LL,
				 (long long)total);
			rc = CS_EBACKEND;
			goto out_finish;
		}
	/* split: each job gets its rows, copied into its own arena */
	{
		size_t off[64] = {0};

		for (size_t j = 0; j < n; j++) {
			cs_batch_job *jb = jobs[j];

			for (size_t k = 0; k < m->n_outputs; k++) {
				const cs_tensor *o = &out[k];
				size_t len;
				void *p;

				if (o->dtype == CS_BYTES)
					len = bytes_prefix((const unsigned char *)o->data + off[k],
							   o->nbytes - off[k],
							   jb->rows * cs_shape_numel(o->ndim - 1, o->shape + 1));
				else
					len = row_bytes(o) * (size_t)jb->rows;
				/* the job's arena is touched only here while it waits */
				p = cs_arena_alloc(jb->arena, len);
				if (!p) {
					jb->status = CS_ENOMEM;
					snprintf(jb->err, sizeof jb->err, "out of memory");
					continue;
				}
				memcpy(p, (const unsigned char *)o->data + off[k], len);
				off[k] += len;
				jb->outputs[k] = *o;
				jb->outputs[k].shape[0] = jb->rows;
				jb->outputs[k].data = p;
				jb->outputs[k].nbytes = len;
			}
		}
	}

out_finish:
	if (rc)
		for (size_t j = 0; j < n; j++) {
			jobs[j]->status = rc;
			snprintf(jobs[j]->err, sizeof jobs[j]->err, "%s", err);
		}
	return rc;
}

static int run_batch(cs_batcher *b, job **jobs, size_t n)
{
	cs_batch_job *bj[1024];
	int64_t total = 0;
	int rc;

	for (size_t j = 0; j < n; j++) {
		bj[j] = &jobs[j]->b;
		total += jobs[j]->b.rows;
	}
	rc = cs_batch_run(b->m, &b->arena, bj, n);
	pthread_mutex_lock(&b->mu);
	b->stats.batches++;
	b->stats.requests += n;
	b->stats.rows += (uint64_t)total;
	for (size_t j = 0; j < n; j++) {
		jobs[j]->done = 1;
		pthread_cond_signal(&jobs[j]->cond);
	}
	pthread_mutex_unlock(&b->mu);
	if (b->o.observe) /* after the wake-ups: the waiters go first */
		b->o.observe(b->o.observe_arg, n, total);
	return rc;
}

static int is_preferred(const cs_batcher *b, int64_t rows)
{
	for (size_t i = 0; i < b->o.n_preferred; i++)
		if (b->preferred[i] == rows)
			return 1;
	return 0;
}

/* Whether every request in flight is waiting in the queue (mutex held). */
static int all_queued(const cs_batcher *b)
{
	return b->o.inflight &&
	       b->queued_jobs >= __atomic_load_n(b->o.inflight, __ATOMIC_RELAXED);
}

static void *batch_thread(void *arg)
{
	cs_batcher *b = arg;
	job *jobs[1024];

	pthread_mutex_lock(&b->mu);
	for (;;) {
		struct timespec due;
		size_t n = 0;
		int64_t rows = 0;

		while (!b->head && !b->stopping)
			pthread_cond_wait(&b->wake, &b->mu);
		if (b->stopping)
			break;
		/* the clock starts at the first queued request's arrival */
		due = b->head->queued;
		ts_add_us(&due, b->o.max_queue_delay_us);
		while (!b->stopping && b->queued_rows < b->o.max_batch_size &&
		       !is_preferred(b, b->queued_rows) && !all_queued(b)) {
			if (pthread_cond_timedwait(&b->wake, &b->mu, &due) == ETIMEDOUT)
				break;
			if (!b->head) /* every queued job timed out */
				break;
		}
		if (b->stopping)
			break;
		/* take jobs in order while they fit */
		while (b->head && n < sizeof jobs / sizeof jobs[0] &&
		       (n == 0 || rows + b->head->b.rows <= b->o.max_batch_size)) {
			job *jb = b->head;

			b->head = jb->next;
			if (!b->head)
				b->tail = NULL;
			b->queued_rows -= jb->b.rows;
			b->queued_jobs--;
			jb->taken = 1;
			jobs[n++] = jb;
			rows += jb->b.rows;
		}
		if (n == 0)
			continue;
		pthread_mutex_unlock(&b->mu);
		run_batch(b, jobs, n);
		pthread_mutex_lock(&b->mu);
	}
	/* stopping: fail what is still queued */
	while (b->head) {
		job *jb = b->head;

		b->head = jb->next;
		jb->b.status = CS_EUNAVAILABLE;
		snprintf(jb->b.err, sizeof jb->b.err, "model '%s': shutting down", b->m->mf->name);
		jb->done = 1;
		pthread_cond_signal(&jb->cond);
	}
	b->tail = NULL;
	pthread_mutex_unlock(&b->mu);
	return NULL;
}

int cs_batcher_new(cs_model *m, const cs_batch_opts *o, cs_batcher **out,
		   char *err, size_t errlen)
{
	cs_batcher *b;
	pthread_condattr_t ca;
	int rc;

	if (!cs_batcher_supported(m, err, errlen))
		return CS_EUNSUPPORTED;
	if (o->max_batch_size < 1) {
		snprintf(err, errlen, "max_batch_size must be at least 1");
		return CS_EINVAL;
	}
	b = calloc(1, sizeof(*b));
	if (!b)
		return CS_ENOMEM;
	b->m = m;
	b->o = *o;
	if (o->n_preferred) {
		b->preferred = malloc(o->n_preferred * sizeof(int));
		if (!b->preferred) {
			free(b);
			return CS_ENOMEM;
		}
		memcpy(b->preferred, o->preferred, o->n_preferred * sizeof(int));
	}
	b->o.preferred = b->preferred;
	cs_arena_init(&b->arena, 0);
	pthread_mutex_init(&b->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&b->wake, &ca);
	pthread_condattr_destroy(&ca);
	rc = pthread_create(&b->thread, NULL, batch_thread, b);
	if (rc) {
		snprintf(err, errlen, "cannot start the batch thread: %s", strerror(rc));
		pthread_cond_destroy(&b->wake);
		pthread_mutex_destroy(&b->mu);
		free(b->preferred);
		free(b);
		return CS_EBACKEND;
	}
	*out = b;
	return CS_OK;
}

int cs_batcher_infer(cs_batcher *b, const cs_tensor *inputs, size_t n_inputs,
		     cs_tensor *outputs, cs_arena *arena,
		     const struct timespec *deadline, char *err, size_t errlen)
{
	pthread_condattr_t ca;
	job jb;
	int rc;

	memset(&jb, 0, sizeof jb);
	rc = cs_batch_prepare(b->m, inputs, n_inputs, &jb.b, err, errlen);
	if (rc)
		return rc;
	if (jb.b.rows == 0 || jb.b.rows > b->o.max_batch_size)
		/* nothing to share a batch with: run it as it is */
		return cs_model_run(b->m, jb.b.ordered, outputs, arena, err, errlen);

	jb.b.outputs = outputs;
	jb.b.arena = arena;
	clock_gettime(CLOCK_MONOTONIC, &jb.queued);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&jb.cond, &ca);
	pthread_condattr_destroy(&ca);

	pthread_mutex_lock(&b->mu);
	if (b->stopping) {
		pthread_mutex_unlock(&b->mu);
		pthread_cond_destroy(&jb.cond);
		snprintf(err, errlen, "model '%s': shutting down", b->m->mf->name);
		return CS_EUNAVAILABLE;
	}
	if (b->tail)
		b->tail->next = &jb;
	else
		b->head = &jb;
	b->tail = &jb;
	b->queued_rows += jb.b.rows;
	b->queued_jobs++;
	pthread_cond_signal(&b->wake);
	while (!jb.done) {
		if (deadline && !jb.taken) {
			if (pthread_cond_timedwait(&jb.cond, &b->mu, deadline) == ETIMEDOUT &&
			    !jb.taken && !jb.done) {
				/* still queued past the deadline: leave the queue */
				job **pp = &b->head, *prev = NULL;

				while (*pp && *pp != &jb) {
					prev = *pp;
					pp = &(*pp)->next;
				}
				if (*pp) {
					*pp = jb.next;
					if (b->tail == &jb)
						b->tail = prev;
					b->queued_rows -= jb.b.rows;
					b->queued_jobs--;
				}
				b->stats.timeouts++;
				pthread_mutex_unlock(&b->mu);
				pthread_cond_destroy(&jb.cond);
				snprintf(err, errlen,
					 "model '%s': request timed out after %.0f ms waiting for a batch",
					 b->m->mf->name,
					 (ts_s(deadline) - ts_s(&jb.queued)) * 1000);
				return CS_ETIMEOUT;
			}
		} else {
			pthread_cond_wait(&jb.cond, &b->mu);
		}
	}
	pthread_mutex_unlock(&b->mu);
	pthread_cond_destroy(&jb.cond);
	if (jb.b.status)
		snprintf(err, errlen, "%s", jb.b.err);
	return jb.b.status;
}

void cs_batcher_stats(cs_batcher *b, cs_batch_stats *out)
{
	pthread_mutex_lock(&b->mu);
	*out = b->stats;
	pthread_mutex_unlock(&b->mu);
}

void cs_batcher_free(cs_batcher *b)
{
	if (!b)
		return;
	pthread_mutex_lock(&b->mu);
	b->stopping = 1;
	pthread_cond_broadcast(&b->wake);
	pthread_mutex_unlock(&b->mu);
	pthread_join(b->thread, NULL);
	pthread_cond_destroy(&b->wake);
	pthread_mutex_destroy(&b->mu);
	cs_arena_destroy(&b->arena);
	free(b->preferred);
	free(b);
}
