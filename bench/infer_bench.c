/*
 * infer_bench.c - in-process inference throughput of a model, through the
 * runtime exactly as the worker loads and calls it (cs_manifest_load,
 * cs_model_load, cs_model_infer with a per-call arena), without HTTP,
 * FastCGI, JSON or Lua. The baseline that bench/backends.sh compares the
 * served throughput with.
 *
 *   infer_bench --manifest bench/digits-large.json --plugin-dir build/plugins \
 *               --batch 1 --batch 32 --seconds 5 [--procs 2] [--alternate]
 *
 * For each batch size, prints one line of key=value pairs:
 *   batch=1 procs=1 calls=... seconds=... calls_per_s=... infer_per_s=...
 *   p50_ms=... p99_ms=... cpu_ms_per_call=...
 * infer_per_s counts samples (calls x batch) per second, summed over the
 * processes. With --procs N the model is loaded once and N forked children
 * run the loop at the same time (what `cubeserve-worker --processes N` does),
 * so the sum is the in-process figure for N cores; percentiles then come
 * from the first child. cpu_ms_per_call is the calling thread's CPU time
 * (CLOCK_THREAD_CPUTIME_ID) per timed call, over all the processes: on a shared
 * machine it moves less with the other load than the wall-clock figures.
 * With XNNPACK's threadpool (the manifest's "threads" above 1) it counts
 * the calling thread only.
 *
 * With --alternate the calls take the batch sizes given in turn, one call
 * each (1, 32, 1, 32, ...), in one line "batch=1/32 ...": what a backend
 * pays when the batch size changes from call to call (the onnx plugin's
 * XNNPACK engine sets its operators up again then).
 *
 * Inputs are the declared inputs: dimension -1 is the batch in front and 1
 * elsewhere; FP32 values cycle through 0..16 (the digits pixel range; the
 * compute does not depend on them). Exit status 0, 1 on a failure, 2 on bad
 * usage.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/arena.h"
#include "core/log.h"
#include "model/manifest.h"
#include "model/model.h"

#define MAX_BATCHES 8

typedef struct bench_result {
	long calls;
	double seconds;
	double p50_ms;
	double p99_ms;
	double cpu_s;   /* CPU time of the calling thread over the timed calls */
} bench_result;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU time of the calling thread: what a call costs, whatever else runs. */
static double cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Frees the data of inputs made by make_inputs(). */
static void free_inputs(cs_tensor *in, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(in[i].data);
}

/*
 * Builds one tensor per declared input for a batch (see the top comment);
 * the data is malloc()ed, freed by free_inputs().
 */
static int make_inputs(const cs_model *m, int batch, cs_tensor *in)
{
	for (size_t i = 0; i < m->n_inputs; i++) {
		const cs_io_desc *d = &m->inputs[i];
		size_t esize = cs_dtype_size(d->dtype), n = 1;

		if (esize == 0) {
			fprintf(stderr, "infer_bench: input '%s' is %s; only fixed-size dtypes are supported\n",
				d->name, cs_dtype_name(d->dtype));
			free_inputs(in, i);
			return -1;
		}
		memset(&in[i], 0, sizeof in[i]);
		in[i].name = d->name;
		in[i].dtype = d->dtype;
		in[i].ndim = d->ndim;
		for (int k = 0; k < d->ndim; k++) {
			in[i].shape[k] = d->shape[k] >= 0 ? d->shape[k] :
					 k == 0 ? batch : 1;
			n *= (size_t)in[i].shape[k];
		}
		in[i].nbytes = n * esize;
		/* 16-byte aligned, as the ABI promises the plugin */
		in[i].data = aligned_alloc(16, (in[i].nbytes + 15) / 16 * 16);
		if (!in[i].data) {
			free_inputs(in, i);
			return -1;
		}
		if (d->dtype == CS_FP32) {
			float *f = in[i].data;

			for (size_t e = 0; e < n; e++)
				f[e] = (float)(e * 7 % 17);
		} else {
			memset(in[i].data, 0, in[i].nbytes);
		}
	}
	return 0;
}

/*
 * Runs inference at one batch size: warmup seconds untimed, then as many
 * calls as fit in `seconds`, each timed.
 */
static int run_batch(cs_model *m, const int *batch, int n_batch,
		     double warmup, double seconds, bench_result *res)
{
	cs_tensor ins[MAX_BATCHES][CS_MAX_DIMS * 2], *in, *out;
	char err[CS_ERROR_SIZE * 4];
	double *lat = NULL, t0, c0, t, end;
	size_t cap = 0;
	long calls = 0;
	cs_arena arena;
	int rc = -1;

	if (m->n_inputs > sizeof ins[0] / sizeof ins[0][0]) {
		fprintf(stderr, "infer_bench: too many inputs (%zu)\n", m->n_inputs);
		return -1;
	}
	out = calloc(m->n_outputs, sizeof *out);
	if (!out)
		return -1;
	int made = 0;
	for (; made < n_batch; made++)
		if (make_inputs(m, batch[made], ins[made]))
			goto out_free_inputs;
	cs_arena_init(&arena, 0);

	end = now_s() + warmup;
	do {
		in = ins[calls++ % n_batch];
		if (cs_model_infer(m, in, m->n_inputs, out, &arena, err, sizeof err)) {
			fprintf(stderr, "infer_bench: batch %d: %s\n", batch[(calls - 1) % n_batch], err);
			goto out_free_arena;
		}
		cs_arena_reset(&arena);
	} while (now_s() < end || calls % n_batch);
	calls = 0;

	c0 = cpu_s();
	t0 = now_s();
	end = t0 + seconds;
	do {
		if ((size_t)calls == cap) {
			double *p;

			cap = cap ? cap * 2 : 4096;
			p = realloc(lat, cap * sizeof *lat);
			if (!p)
				goto out_free_arena;
			lat = p;
		}
		t = now_s();
		in = ins[calls % n_batch];
		if (cs_model_infer(m, in, m->n_inputs, out, &arena, err, sizeof err)) {
			fprintf(stderr, "infer_bench: batch %d: %s\n", batch[calls % n_batch], err);
			goto out_free_arena;
		}
		cs_arena_reset(&arena);
		lat[calls++] = now_s() - t;
	} while (lat[calls - 1] + t < end || calls % n_batch);

	res->calls = calls;
	res->seconds = now_s() - t0;
	res->cpu_s = cpu_s() - c0;
	qsort(lat, (size_t)calls, sizeof *lat, cmp_double);
	res->p50_ms = lat[(size_t)((double)(calls - 1) * 0.50)] * 1e3;
	res->p99_ms = lat[(size_t)((double)(calls - 1) * 0.99)] * 1e3;
	rc = 0;

out_free_arena:
	free(lat);
	cs_arena_destroy(&arena);
out_free_inputs:
	for (int i = 0; i < made; i++)
		free_inputs(ins[i], m->n_inputs);
	free(out);
	return rc;
}

/*
 * Runs one batch size in nprocs forked children at once and adds up their
 * throughput; each child reports its result through a pipe.
 */
static int run_procs(cs_model *m, const int *batch, int n_batch, int nprocs,
		     double warmup, double seconds, bench_result *sum,
		     double *per_s)
{
	int fds[2];
	pid_t pids[64];
	int started = 0, rc = 0;

	*per_s = 0;
	memset(sum, 0, sizeof *sum);
	if (nprocs == 1) {
		if (run_batch(m, batch, n_batch, warmup, seconds, sum))
			return -1;
		*per_s = (double)sum->calls / sum->seconds;
		return 0;
	}
	if (pipe(fds))
		return -1;
	for (; started < nprocs; started++) {
		pids[started] = fork();
		if (pids[started] < 0) {
			rc = -1;
			break;
		}
		if (pids[started] == 0) {
			bench_result r;
			int ok;

			close(fds[0]);
			ok = run_batch(m, batch, n_batch, warmup, seconds, &r) == 0;
			if (!ok)
				memset(&r, 0, sizeof r);
			if (write(fds[1], &r, sizeof r) != (ssize_t)sizeof r)
				ok = 0;
			_exit(ok ? 0 : 1);
		}
	}
	close(fds[1]);
	for (int i = 0; i < started; i++) {
		bench_result r;
		int status;

		if (read(fds[0], &r, sizeof r) != (ssize_t)sizeof r || r.calls == 0) {
			rc = -1;
			continue;
		}
		if (i == 0)
			*sum = r;
		else {
			sum->calls += r.calls;
			sum->cpu_s += r.cpu_s;
		}
		*per_s += (double)r.calls / r.seconds;
		(void)status;
	}
	close(fds[0]);
	for (int i = 0; i < started; i++) {
		int status;

		if (waitpid(pids[i], &status, 0) < 0 || !WIFEXITED(status) ||
		    WEXITSTATUS(status) != 0)
			rc = -1;
	}
	return rc;
}

static void usage(FILE *f)
{
	fputs("Usage: infer_bench --manifest FILE [--plugin-dir DIR] [--batch N]...\n"
	      "                   [--seconds S] [--warmup S] [--procs N] [--alternate]\n"
	      "In-process inference throughput through the cubeserve runtime\n"
	      "(defaults: --batch 1 --batch 32, --seconds 5, --warmup 1, --procs 1);\n"
	      "--alternate: the batch sizes in turn, one call each, in one run.\n", f);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"manifest", required_argument, NULL, 'm'},
		{"plugin-dir", required_argument, NULL, 'p'},
		{"batch", required_argument, NULL, 'b'},
		{"seconds", required_argument, NULL, 's'},
		{"warmup", required_argument, NULL, 'w'},
		{"procs", required_argument, NULL, 'n'},
		{"alternate", no_argument, NULL, 'a'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *manifest_path = NULL, *plugin_dir = NULL;
	int batches[MAX_BATCHES], n_batches = 0, nprocs = 1, c, rc = 1;
	int alternate = 0;
	double seconds = 5, warmup = 1;
	char err[CS_ERROR_SIZE * 4];
	cs_manifest *mf = NULL;
	cs_model *m = NULL;

	while ((c = getopt_long(argc, argv, "m:p:b:s:w:n:ha", opts, NULL)) != -1) {
		switch (c) {
		case 'm': manifest_path = optarg; break;
		case 'p': plugin_dir = optarg; break;
		case 'b':
			if (n_batches == MAX_BATCHES || atoi(optarg) < 1) {
				fprintf(stderr, "infer_bench: --batch: 1..%d sizes of at least 1\n", MAX_BATCHES);
				return 2;
			}
			batches[n_batches++] = atoi(optarg);
			break;
		case 's': seconds = atof(optarg); break;
		case 'w': warmup = atof(optarg); break;
		case 'n': nprocs = atoi(optarg); break;
		case 'a': alternate = 1; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!manifest_path || optind < argc || seconds <= 0 || warmup < 0 ||
	    nprocs < 1 || nprocs > 64) {
		usage(stderr);
		return 2;
	}
	if (n_batches == 0) {
		batches[n_batches++] = 1;
		batches[n_batches++] = 32;
	}
	cs_log_setup(NULL, CS_LOG_WARN);
	if (cs_manifest_load(manifest_path, &mf, err, sizeof err) != CS_OK) {
		fprintf(stderr, "infer_bench: %s\n", err);
		return 1;
	}
	if (cs_model_load(mf, plugin_dir, &m, err, sizeof err) != CS_OK) {
		fprintf(stderr, "infer_bench: %s\n", err);
		goto out_free_manifest;
	}
	fprintf(stderr, "infer_bench: %s: plugin %s, %d thread(s), loaded in %.3f s\n",
		mf->name, m->plugin->api->name, mf->threads, m->load_seconds);
	fflush(stderr);
	for (int i = 0; i < n_batches; i++) {
		bench_result r;
		double per_s, mean = batches[i];
		char label[64];
		int n = 1;

		snprintf(label, sizeof label, "%d", batches[i]);
		if (alternate) { /* all the sizes in turn, in one run */
			n = n_batches;
			mean = 0;
			for (int k = 0; k < n; k++) {
				size_t len = strlen(label);
				if (k)
					snprintf(label + len, sizeof label - len,
						 "/%d", batches[k]);
				mean += (double)batches[k] / n;
			}
		}
		if (run_procs(m, batches + i, n, nprocs, warmup, seconds, &r, &per_s)) {
			fprintf(stderr, "infer_bench: batch %s failed\n", label);
			goto out_free_model;
		}
		printf("batch=%s procs=%d calls=%ld seconds=%.2f calls_per_s=%.1f infer_per_s=%.1f p50_ms=%.3f p99_ms=%.3f cpu_ms_per_call=%.4f\n",
		       label, nprocs, r.calls, r.seconds, per_s,
		       per_s * mean, r.p50_ms, r.p99_ms,
		       r.calls ? r.cpu_s * 1e3 / (double)r.calls : 0.0);
		fflush(stdout);
		if (alternate)
			break;
	}
	rc = 0;

out_free_model:
	cs_model_free(m);
out_free_manifest:
	cs_manifest_free(mf);
	return rc;
}
