/* test_batcher.c - dynamic batching: batched results equal unbatched ones
 * sample by sample, deadlines, preferred sizes, per-request errors. */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "tap.h"
#include "helpers.h"

#include "model/batcher.h"
#include "model/model.h"

static char dir[] = "/tmp/cs-batch-XXXXXX";
static cs_manifest *mf;
static cs_model *model;

/* A deterministic input row per sample index. */
static void sample(int k, float x[4])
{
	for (int j = 0; j < 4; j++)
		x[j] = (float)(((k * 7 + j * 13) % 50) / 10.0 + 0.1 * j);
}

static cs_tensor input(float *x, int rows)
{
	cs_tensor t = {.name = "x", .dtype = CS_FP32, .ndim = 2,
		       .shape = {rows, 4}, .data = x,
		       .nbytes = sizeof(float) * 4 * (size_t)rows};
	return t;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

typedef struct worker_arg {
	cs_batcher *b;
	int id;
	int mismatches;
	int errors;
} worker_arg;

#define PER_THREAD 40

static void *worker(void *p)
{
	worker_arg *w = p;

	for (int r = 0; r < PER_THREAD; r++) {
		int k = w->id * PER_THREAD + r;
		int rows = 1 + k % 3; /* requests of 1, 2 and 3 rows */
		float x[12], ref_x[4];
		cs_tensor in = input(x, rows), out[2], ref[2];
		char err[512];
		cs_arena a, ra;

		for (int i = 0; i < rows; i++)
			sample(k + i, x + 4 * i);
		cs_arena_init(&a, 0);
		cs_arena_init(&ra, 0);
		if (cs_batcher_infer(w->b, &in, 1, out, &a, NULL, err, sizeof err)) {
			w->errors++;
			printf("#   %s\n", err);
		} else {
			if (out[1].shape[0] != rows)
				w->mismatches++;
			/* each row equals an unbatched inference of that row alone */
			for (int i = 0; i < rows; i++) {
				cs_tensor rin;

				sample(k + i, ref_x);
				rin = input(ref_x, 1);
				if (cs_model_infer(model, &rin, 1, ref, &ra, err, sizeof err)) {
					w->errors++;
					continue;
				}
				for (int o = 0; o < 2; o++)
					if (memcmp((float *)out[o].data + 3 * i, ref[o].data,
						   3 * sizeof(float)) != 0)
						w->mismatches++;
			}
		}
		cs_arena_destroy(&a);
		cs_arena_destroy(&ra);
	}
	return NULL;
}

TEST(batched_equals_unbatched)
{
	cs_batch_opts o = {.max_batch_size = 16, .max_queue_delay_us = 2000};
	cs_batcher *b = NULL;
	pthread_t th[12];
	worker_arg w[12];
	cs_batch_stats st;
	char err[256];

	CHECK(cs_batcher_new(model, &o, &b, err, sizeof err) == CS_OK);
	REQUIRE(b != NULL);
	for (int i = 0; i < 12; i++) {
		w[i] = (worker_arg){b, i, 0, 0};
		pthread_create(&th[i], NULL, worker, &w[i]);
	}
	for (int i = 0; i < 12; i++) {
		pthread_join(th[i], NULL);
		CHECK(w[i].errors == 0);
		CHECK(w[i].mismatches == 0);
	}
	cs_batcher_stats(b, &st);
	printf("#   %llu requests in %llu batches (%llu rows)\n",
	       (unsigned long long)st.requests, (unsigned long long)st.batches,
	       (unsigned long long)st.rows);
	CHECK(st.requests == 12 * PER_THREAD);
	CHECK(st.batches < st.requests); /* requests really shared batches */
	cs_batcher_free(b);
}

TEST(errors_stay_with_their_request)
{
	cs_batch_opts o = {.max_batch_size = 8, .max_queue_delay_us = 1000};
	cs_batcher *b = NULL;
	int64_t bad[4] = {1, 2, 3, 4};
	cs_tensor in = {.name = "x", .dtype = CS_INT64, .ndim = 2,
			.shape = {1, 4}, .data = bad, .nbytes = sizeof bad};
	cs_tensor out[2];
	char err[512] = "";
	cs_arena a;

	cs_arena_init(&a, 0);
	CHECK(cs_batcher_new(model, &o, &b, err, sizeof err) == CS_OK);
	CHECK(cs_batcher_infer(b, &in, 1, out, &a, NULL, err, sizeof err) == CS_EINVAL);
	CHECK_HAS(err, "expects FP32 [-1,4], got INT64 [1,4]");
	cs_batcher_free(b);
	cs_arena_destroy(&a);
}

TEST(deadline_covers_the_queue)
{
	/* a batch that never fills and a long delay: the deadline must win */
	cs_batch_opts o = {.max_batch_size = 64, .max_queue_delay_us = 5000000};
	cs_batcher *b = NULL;
	float x[4];
	cs_tensor in = input(x, 1), out[2];
	struct timespec dl;
	char err[512] = "";
	cs_batch_stats st;
	double t0;
	cs_arena a;

	sample(0, x);
	cs_arena_init(&a, 0);
	CHECK(cs_batcher_new(model, &o, &b, err, sizeof err) == CS_OK);
	clock_gettime(CLOCK_MONOTONIC, &dl);
	dl.tv_nsec += 50 * 1000000L;
	if (dl.tv_nsec >= 1000000000L) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000L;
	}
	t0 = now();
	CHECK(cs_batcher_infer(b, &in, 1, out, &a, &dl, err, sizeof err) == CS_ETIMEOUT);
	CHECK(now() - t0 < 1.0);
	CHECK_HAS(err, "timed out");
	cs_batcher_stats(b, &st);
	CHECK(st.timeouts == 1 && st.batches == 0);
	cs_batcher_free(b);
	cs_arena_destroy(&a);
}

static void *one_request(void *p)
{
	cs_batcher *b = p;
	float x[4];
	cs_tensor in = input(x, 1), out[2];
	char err[256];
	cs_arena a;
	long rc;

	sample(3, x);
	cs_arena_init(&a, 0);
	rc = cs_batcher_infer(b, &in, 1, out, &a, NULL, err, sizeof err);
	cs_arena_destroy(&a);
	return (void *)rc;
}

TEST(preferred_size_dispatches_at_once)
{
	int pref[] = {2};
	cs_batch_opts o = {.max_batch_size = 64, .max_queue_delay_us = 3000000,
			   .preferred = pref, .n_preferred = 1};
	cs_batcher *b = NULL;
	pthread_t t1, t2;
	void *r1, *r2;
	char err[256];
	double t0;

	CHECK(cs_batcher_new(model, &o, &b, err, sizeof err) == CS_OK);
	t0 = now();
	pthread_create(&t1, NULL, one_request, b);
	pthread_create(&t2, NULL, one_request, b);
	pthread_join(t1, &r1);
	pthread_join(t2, &r2);
	CHECK(r1 == NULL && r2 == NULL);
	CHECK(now() - t0 < 2.0); /* far less than the 3 s delay */
	cs_batcher_free(b);
}

TEST(unsupported_models_are_refused)
{
	char why[256] = "";
	cs_model fake = *model;
	cs_io_desc in = model->inputs[0];

	in.shape[0] = 1; /* no dynamic first dimension */
	fake.inputs = &in;
	CHECK(!cs_batcher_supported(&fake, why, sizeof why));
	CHECK_HAS(why, "dynamic first dimension");
	CHECK(cs_batcher_supported(model, why, sizeof why));
}

int main(void)
{
	char text[1024], plugins[512], err[512] = "";

	if (!mkdtemp(dir))
		return 1;
	snprintf(plugins, sizeof plugins, "%s/plugins", top_builddir());
	snprintf(text, sizeof text,
		 "{\"name\":\"linear\",\"version\":\"1\",\"plugin\":\"native\","
		 "\"model\":\"%s/examples/linear/weights.json\"}", top_srcdir());
	if (cs_manifest_load(write_file(dir, "m.json", text), &mf, err, sizeof err) ||
	    cs_model_load(mf, plugins, &model, err, sizeof err)) {
		printf("Bail out! %s\n", err);
		return 1;
	}
	RUN(batched_equals_unbatched);
	RUN(errors_stay_with_their_request);
	RUN(deadline_covers_the_queue);
	RUN(preferred_size_dispatches_at_once);
	RUN(unsupported_models_are_refused);
	cs_model_free(model);
	cs_manifest_free(mf);
	return tap_done();
}
