/*
 * test_xgboost.c - the xgboost plugin, dlopen()ed as the runtime does: the
 * breast cancer example (JSON and UBJSON) against Python XGBoost's own
 * predictions, the outputs it declares per objective (tests/data/xgboost),
 * batches, bad inputs, missing values, the files it must refuse, threads,
 * fork() and the ABI surface.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include <cubeserve/plugin.h>

#include "tap.h"

#define N_FEATURES 30
#define TOLERANCE 1e-5

/* ---------------------------------------------------------------- helpers */

static const char *srcdir(void)
{
	const char *d = getenv("CS_TOP_SRCDIR");
	return d ? d : ".";
}

static const char *builddir(void)
{
	const char *d = getenv("CS_TOP_BUILDDIR");
	return d ? d : ".";
}

static char plugin_path[4096], json_path[4096], ubj_path[4096];

static void set_paths(void)
{
	snprintf(plugin_path, sizeof plugin_path,
		 "%s/plugins/xgboost/.libs/xgboost.so", builddir());
	snprintf(json_path, sizeof json_path,
		 "%s/examples/breast_cancer/booster.json", srcdir());
	snprintf(ubj_path, sizeof ubj_path,
		 "%s/examples/breast_cancer/booster.ubj", srcdir());
}

/* A file of tests/data/xgboost. */
static const char *data_file(const char *name)
{
	static char path[4096];

	snprintf(path, sizeof path, "%s/tests/data/xgboost/%s", srcdir(), name);
	return path;
}

static const cs_plugin *open_plugin(void)
{
	void *h = dlopen(plugin_path, RTLD_NOW | RTLD_LOCAL);
	cs_plugin_entry_fn entry;
	void *sym;

	if (!h) {
		printf("#   dlopen: %s\n", dlerror());
		return NULL;
	}
	sym = dlsym(h, CS_PLUGIN_ENTRY_NAME);
	if (!sym)
		return NULL;
	memcpy(&entry, &sym, sizeof entry);
	return entry();
}

static void host_log(void *ctx, int level, const char *msg)
{
	fprintf(stderr, "[%d] %s\n", level, msg);
}

static const cs_host host = {
	CS_PLUGIN_ABI_VERSION, sizeof(cs_host), NULL, host_log,
};

static int load(const cs_plugin *p, const char *path, const char *options,
		int threads, void **model, char *err)
{
	cs_model_spec spec = {
		sizeof spec, "breast_cancer", path, srcdir(), options, threads,
	};
	err[0] = '\0';
	return p->load(&host, &spec, model, err, CS_ERROR_SIZE);
}

/* Loads path or fails the test, printing why. */
static void *must_load(const cs_plugin *p, const char *path,
		       const char *options, int threads)
{
	char err[CS_ERROR_SIZE];
	void *model = NULL;

	if (!p || load(p, path, options, threads, &model, err) != CS_OK) {
		printf("#   load %s: %s\n", path, err);
		CHECK(0);
		return NULL;
	}
	return model;
}

static void *test_alloc(void *ctx, size_t size)
{
	return aligned_alloc(16, (size + 15) / 16 * 16);
}

static const cs_allocator allocator = { NULL, test_alloc };

/*
 * Predicts rows x features values at x; on CS_OK out gets rows * width
 * floats (width from the output's shape) and *shape_out the output shape.
 */
static int run(const cs_plugin *p, void *model, const float *x, size_t rows,
	       size_t features, float *out, cs_tensor *shape_out, char *err)
{
	cs_tensor in = {
		.name = "features", .dtype = CS_FP32, .ndim = 2,
		.shape = {(int64_t)rows, (int64_t)features}, .data = (void *)x,
		.nbytes = rows * features * sizeof(float),
	};
	cs_tensor o = { .name = "out" };
	int rc;

	err[0] = '\0';
	rc = p->infer(model, &in, 1, &o, 1, &allocator, err, CS_ERROR_SIZE);
	if (rc == CS_OK) {
		CHECK(o.dtype == CS_FP32);
		CHECK(o.shape[0] == (int64_t)rows);
		if (out && o.nbytes)
			memcpy(out, o.data, o.nbytes);
		if (shape_out)
			*shape_out = o;
	}
	free(o.data);
	return rc;
}

static json_t *load_json(const char *path)
{
	json_error_t jerr;
	json_t *j = json_load_file(path, 0, &jerr);

	if (!j)
		printf("#   %s: %s\n", path, jerr.text);
	return j;
}

/* examples/breast_cancer/samples.json */
static json_t *samples(void)
{
	char path[4096];

	snprintf(path, sizeof path, "%s/examples/breast_cancer/samples.json",
		 srcdir());
	return load_json(path);
}

/* Rows of a JSON array of arrays as FP32; null becomes NaN. */
static float *rows_of(json_t *arr, size_t first, size_t n, size_t features)
{
	float *x = malloc(n * features * sizeof *x);

	for (size_t i = 0; x && i < n; i++) {
		json_t *row = json_array_get(arr, first + i);
		for (size_t j = 0; j < features; j++) {
			json_t *v = json_array_get(row, j);
			x[i * features + j] = json_is_number(v) ?
				(float)json_number_value(v) : NAN;
		}
	}
	return x;
}

static size_t n_samples(json_t *s)
{
	return json_array_size(json_object_get(s, "inputs"));
}

static int copy_file(const char *from, const char *to, long max)
{
	FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
	char buf[4096];
	size_t n;
	long left = max;

	if (!in || !out)
		return -1;
	while (left > 0 && (n = fread(buf, 1, sizeof buf, in)) > 0) {
		if ((long)n > left)
			n = (size_t)left;
		fwrite(buf, 1, n, out);
		left -= (long)n;
	}
	fclose(in);
	return fclose(out);
}

static int write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "wb");

	if (!f)
		return -1;
	fputs(text, f);
	return fclose(f);
}

/* Loading path must fail, leave the handle alone and name the file. */
static void check_refused(const char *path, const char *options, int want)
{
	const cs_plugin *p = open_plugin();
	char err[CS_ERROR_SIZE];
	void *model = (void *)&model;
	int rc;

	CHECK(p);
	if (!p)
		return;
	rc = load(p, path, options, 1, &model, err);
	CHECK(rc != CS_OK);
	if (want)
		CHECK(rc == want);
	CHECK(model == (void *)&model); /* untouched */
	CHECK_HAS(err, path);
	printf("#   refused (%d): %s\n", rc, err);
}

/* ---------------------------------------------------------------- tests */

TEST(exports_only_the_entry)
{
	char cmd[4200], line[512];
	int symbols = 0;
	FILE *nm;

	snprintf(cmd, sizeof cmd, "nm -D --defined-only '%s'", plugin_path);
	nm = popen(cmd, "r");
	CHECK(nm);
	if (!nm)
		return;
	while (fgets(line, sizeof line, nm)) {
		char addr[64], type[8], name[400];
		if (sscanf(line, "%63s %7s %399s", addr, type, name) != 3)
			continue;
		if (strcmp(name, "_edata") == 0 || strcmp(name, "_end") == 0 ||
		    strcmp(name, "__bss_start") == 0)
			continue; /* linker-made boundary symbols */
		CHECK_STR(name, CS_PLUGIN_ENTRY_NAME);
		symbols++;
	}
	CHECK(pclose(nm) == 0);
	CHECK(symbols == 1);
}

TEST(table)
{
	const cs_plugin *p = open_plugin();

	CHECK(p);
	if (!p)
		return;
	CHECK(p->abi_version == CS_PLUGIN_ABI_VERSION);
	CHECK(p->struct_size == sizeof(cs_plugin));
	CHECK_STR(p->name, "xgboost");
	CHECK(p->flags & CS_PLUGIN_THREAD_SAFE);
	CHECK(p->flags & CS_PLUGIN_BATCHING);
	CHECK(p->load && p->describe && p->infer && p->unload);
}

TEST(describes_the_breast_cancer_booster)
{
	const cs_plugin *p = open_plugin();
	const char *paths[2] = { json_path, ubj_path };

	for (int k = 0; k < 2; k++) {
		const cs_io_desc *in, *out;
		size_t n_in = 0, n_out = 0;
		char err[CS_ERROR_SIZE];
		void *model = must_load(p, paths[k], "{}", 1);

		if (!model)
			return;
		CHECK(p->describe(model, &in, &n_in, &out, &n_out, err,
				  sizeof err) == CS_OK);
		CHECK(n_in == 1 && n_out == 1);
		CHECK_STR(in[0].name, "features");
		CHECK(in[0].dtype == CS_FP32);
		CHECK(in[0].ndim == 2 && in[0].shape[0] == -1 &&
		      in[0].shape[1] == N_FEATURES);
		CHECK_STR(out[0].name, "probability");
		CHECK(out[0].dtype == CS_FP32);
		CHECK(out[0].ndim == 1 && out[0].shape[0] == -1);
		p->unload(model);
	}
}

/* Every sample alone, from the JSON and the UBJSON file, vs Python. */
TEST(reproduces_python_xgboost)
{
	const cs_plugin *p = open_plugin();
	const char *paths[2] = { json_path, ubj_path };
	json_t *s = samples();
	size_t n = s ? n_samples(s) : 0;

	CHECK(n >= 8);
	for (int k = 0; k < 2 && n; k++) {
		char err[CS_ERROR_SIZE];
		void *model = must_load(p, paths[k], "{}", 1);
		double worst = 0;

		if (!model)
			break;
		for (size_t i = 0; i < n; i++) {
			float *x = rows_of(json_object_get(s, "inputs"), i, 1,
					   N_FEATURES), prob = -1;
			double ref = json_number_value(json_array_get(
				json_object_get(s, "probability"), i));

			CHECK(run(p, model, x, 1, N_FEATURES, &prob, NULL,
				  err) == CS_OK);
			if (fabs(prob - ref) > worst)
				worst = fabs(prob - ref);
			free(x);
		}
		printf("#   %s: worst difference from Python XGBoost: %.3g\n",
		       k ? "booster.ubj" : "booster.json", worst);
		CHECK(worst <= TOLERANCE);
		p->unload(model);
	}
	json_decref(s);
}

TEST(batch_of_n_equals_n_singles)
{
	const cs_plugin *p = open_plugin();
	json_t *s = samples();
	size_t n = s ? n_samples(s) : 0;
	void *model = must_load(p, json_path, "{}", 1);
	char err[CS_ERROR_SIZE];
	float *x, *batch, one;

	if (!model || n == 0)
		return;
	x = rows_of(json_object_get(s, "inputs"), 0, n, N_FEATURES);
	batch = malloc(n * sizeof *batch);
	CHECK(run(p, model, x, n, N_FEATURES, batch, NULL, err) == CS_OK);
	for (size_t i = 0; i < n; i++) {
		CHECK(run(p, model, x + i * N_FEATURES, 1, N_FEATURES, &one,
			  NULL, err) == CS_OK);
		CHECK(memcmp(&one, &batch[i], sizeof one) == 0);
	}
	/* an empty batch is an empty answer */
	cs_tensor o;
	CHECK(run(p, model, x, 0, N_FEATURES, NULL, &o, err) == CS_OK);
	CHECK(o.nbytes == 0 && o.shape[0] == 0);
	/* input data at an odd address gives the same answer */
	unsigned char *odd = malloc(N_FEATURES * sizeof(float) + 1);
	memcpy(odd + 1, x, N_FEATURES * sizeof(float));
	CHECK(run(p, model, (const float *)(void *)(odd + 1), 1, N_FEATURES,
		  &one, NULL, err) == CS_OK);
	CHECK(memcmp(&one, &batch[0], sizeof one) == 0);
	free(odd);
	free(x);
	free(batch);
	p->unload(model);
	json_decref(s);
}

TEST(wrong_feature_count_is_einval_naming_both)
{
	const cs_plugin *p = open_plugin();
	void *model = must_load(p, json_path, "{}", 1);
	float x[2 * 31] = { 0 };
	char err[CS_ERROR_SIZE];

	if (!model)
		return;
	CHECK(run(p, model, x, 1, 29, NULL, NULL, err) == CS_EINVAL);
	CHECK_HAS(err, "29");
	CHECK_HAS(err, "expected 30");
	printf("#   %s\n", err);
	CHECK(run(p, model, x, 2, 31, NULL, NULL, err) == CS_EINVAL);
	CHECK_HAS(err, "31");
	CHECK_HAS(err, "expected 30");
	p->unload(model);
}

TEST(nan_and_inf_refused_by_default)
{
	const cs_plugin *p = open_plugin();
	void *model = must_load(p, json_path, "{}", 1);
	void *explicit_error = must_load(p, json_path,
					 "{\"missing\": \"error\"}", 1);
	float x[2 * N_FEATURES] = { 0 };
	char err[CS_ERROR_SIZE];

	if (!model || !explicit_error)
		return;
	x[N_FEATURES + 3] = NAN; /* row 1, 'mean area' */
	CHECK(run(p, model, x, 2, N_FEATURES, NULL, NULL, err) == CS_EINVAL);
	CHECK_HAS(err, "row 1 feature 3");
	CHECK_HAS(err, "mean area");
	CHECK_HAS(err, "NaN");
	CHECK_HAS(err, "missing");
	printf("#   %s\n", err);
	CHECK(run(p, explicit_error, x, 2, N_FEATURES, NULL, NULL, err) ==
	      CS_EINVAL);
	x[N_FEATURES + 3] = 0;
	x[0] = -INFINITY;
	CHECK(run(p, model, x, 2, N_FEATURES, NULL, NULL, err) == CS_EINVAL);
	CHECK_HAS(err, "row 0 feature 0");
	CHECK_HAS(err, "-Inf");
	/* and the model still answers */
	x[0] = 0;
	CHECK(run(p, model, x, 2, N_FEATURES, NULL, NULL, err) == CS_OK);
	p->unload(model);
	p->unload(explicit_error);
}

TEST(bad_options_refused)
{
	const cs_plugin *p = open_plugin();
	const char *bad[] = {
		"{\"missing\": \"zero\"}", "{\"missing\": 0}",
		"{\"missng\": \"nan\"}", "[1]", "{",
	};
	char err[CS_ERROR_SIZE];

	if (!p)
		return;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		void *model = (void *)&model;

		CHECK(load(p, json_path, bad[i], 1, &model, err) == CS_EINVAL);
		CHECK(model == (void *)&model);
		CHECK_HAS(err, "options");
		printf("#   %s -> %s\n", bad[i], err);
	}
	CHECK(load(p, json_path, "{\"missng\": \"nan\"}", 1, &(void *){0},
		   err) == CS_EINVAL);
	CHECK_HAS(err, "missng");
}

/*
 * Each booster of tests/data/xgboost: the declared output per objective,
 * and Python's predictions (the last row has NaN features, allowed by
 * "missing": "nan").
 */
TEST(outputs_per_objective_match_python)
{
	const cs_plugin *p = open_plugin();
	json_t *ref = load_json(data_file("reference.json"));
	const char *name;
	json_t *r;
	int boosters = 0;

	CHECK(ref && json_object_size(ref) >= 4);
	json_object_foreach(ref, name, r) {
		const size_t features = (size_t)json_integer_value(
			json_object_get(r, "features"));
		json_t *inputs = json_object_get(r, "inputs");
		json_t *preds = json_object_get(r, "predictions");
		json_t *shape = json_object_get(r, "shape");
		const size_t rows = json_array_size(inputs);
		const int64_t width = json_array_size(shape) == 2 ?
			json_integer_value(json_array_get(shape, 1)) : 1;
		const cs_io_desc *in, *out;
		size_t n_in, n_out;
		char err[CS_ERROR_SIZE];
		void *model = must_load(p, data_file(name),
					"{\"missing\": \"nan\"}", 1);
		double worst = 0;
		float *x, *y;
		cs_tensor o;

		if (!model)
			continue;
		boosters++;
		CHECK(p->describe(model, &in, &n_in, &out, &n_out, err,
				  sizeof err) == CS_OK);
		CHECK(in[0].shape[1] == (int64_t)features);
		CHECK_STR(out[0].name, json_string_value(json_object_get(r, "output")));
		CHECK(out[0].ndim == (int32_t)json_array_size(shape));
		CHECK(out[0].ndim == 1 || out[0].shape[1] == width);
		x = rows_of(inputs, 0, rows, features);
		y = malloc(rows * (size_t)width * sizeof *y);
		CHECK(json_array_size(preds) == rows * (size_t)width);
		CHECK(run(p, model, x, rows, features, y, &o, err) == CS_OK);
		CHECK(o.ndim == out[0].ndim);
		CHECK(o.nbytes == rows * (size_t)width * sizeof(float));
		for (size_t i = 0; i < rows * (size_t)width; i++) {
			double want = json_number_value(json_array_get(preds, i));
			double d = fabs(y[i] - want) / (fabs(want) > 1 ? fabs(want) : 1);
			worst = d > worst ? d : worst;
		}
		printf("#   %s (%s, %s): output '%s', worst relative difference %.3g\n",
		       name, json_string_value(json_object_get(r, "booster")),
		       json_string_value(json_object_get(r, "objective")),
		       out[0].name, worst);
		CHECK(worst <= TOLERANCE);
		/* the same NaN row is refused without the option */
		void *strict = must_load(p, data_file(name), "{}", 1);
		if (strict) {
			CHECK(run(p, strict, x, rows, features, y, NULL, err) ==
			      CS_EINVAL);
			CHECK_HAS(err, "NaN");
			p->unload(strict);
		}
		free(x);
		free(y);
		p->unload(model);
	}
	CHECK(boosters == 4);
	json_decref(ref);
}

TEST(missing_file_refused_with_errno)
{
	const cs_plugin *p = open_plugin();
	char path[4096], err[CS_ERROR_SIZE];
	void *model = (void *)&model;

	snprintf(path, sizeof path, "%s/examples/breast_cancer/nonexistent.json",
		 srcdir());
	check_refused(path, "{}", CS_EIO);
	if (!p)
		return;
	CHECK(load(p, path, "{}", 1, &model, err) == CS_EIO);
	CHECK_HAS(err, strerror(ENOENT));
	/* no model file at all */
	CHECK(load(p, NULL, "{}", 1, &model, err) == CS_EINVAL);
	CHECK_HAS(err, "model file");
}

TEST(corrupted_files_refused_naming_the_file)
{
	char dir[] = "/tmp/cs-xgb-test.XXXXXX", path[4200];
	const struct {
		const char *name;
		const char *from; /* NULL: write text */
		long keep;
		const char *text;
	} cases[] = {
		{ "truncated.json", json_path, 20000, NULL },
		{ "truncated.ubj", ubj_path, 20000, NULL },
		{ "empty.json", NULL, 0, "" },
		{ "garbage.json", NULL, 0, "this is not a booster\n" },
		{ "object.json", NULL, 0, "{\"learner\": 42}\n" },
		{ "not_a_booster.ubj", NULL, 0, "{}" }, /* valid UBJSON */
		{ "garbage.bin", NULL, 0, "binf\x00\x01" },
	};

	CHECK(mkdtemp(dir) != NULL);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		snprintf(path, sizeof path, "%s/%s", dir, cases[i].name);
		if (cases[i].from)
			CHECK(copy_file(cases[i].from, path, cases[i].keep) == 0);
		else
			CHECK(write_file(path, cases[i].text) == 0);
		check_refused(path, "{}", 0);
		unlink(path);
	}
	rmdir(dir);
}

/* Threads predicting at once on one model agree with the serial answers. */
struct thread_job {
	const cs_plugin *p;
	void *model;
	const float *x;
	size_t rows, features, width;
	const float *want;
	int mismatches, failures;
};

static void *predict_loop(void *arg)
{
	struct thread_job *j = arg;
	float *y = malloc(j->rows * j->width * sizeof *y);
	char err[CS_ERROR_SIZE];

	for (int it = 0; it < 200 && y; it++) {
		size_t r = (size_t)it % j->rows; /* alternate single rows and the batch */
		if (it % 2) {
			if (run(j->p, j->model, j->x, j->rows, j->features, y,
				NULL, err) != CS_OK)
				j->failures++;
			else if (memcmp(y, j->want, j->rows * j->width * sizeof *y))
				j->mismatches++;
		} else if (run(j->p, j->model, j->x + r * j->features, 1,
			       j->features, y, NULL, err) != CS_OK) {
			j->failures++;
		} else if (memcmp(y, j->want + r * j->width, j->width * sizeof *y)) {
			j->mismatches++;
		}
	}
	free(y);
	return NULL;
}

static void concurrent_predictions(const char *path, size_t features,
				   size_t width, json_t *inputs)
{
	const cs_plugin *p = open_plugin();
	void *model = must_load(p, path, "{\"missing\": \"nan\"}", 1);
	const size_t rows = json_array_size(inputs);
	struct thread_job jobs[4];
	pthread_t t[4];
	char err[CS_ERROR_SIZE];
	float *x, *want;

	if (!model)
		return;
	x = rows_of(inputs, 0, rows, features);
	want = malloc(rows * width * sizeof *want);
	CHECK(run(p, model, x, rows, features, want, NULL, err) == CS_OK);
	for (int i = 0; i < 4; i++) {
		jobs[i] = (struct thread_job){ p, model, x, rows, features,
					       width, want, 0, 0 };
		CHECK(pthread_create(&t[i], NULL, predict_loop, &jobs[i]) == 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		CHECK(jobs[i].failures == 0);
		CHECK(jobs[i].mismatches == 0);
	}
	free(x);
	free(want);
	p->unload(model);
}

TEST(threads_share_a_tree_model)
{
	json_t *s = samples();

	if (s)
		concurrent_predictions(json_path, N_FEATURES, 1,
				       json_object_get(s, "inputs"));
	json_decref(s);
}

TEST(threads_share_a_linear_model)
{
	json_t *ref = load_json(data_file("reference.json"));
	json_t *r = json_object_get(ref, "linear.json");

	CHECK(r);
	if (r)
		concurrent_predictions(data_file("linear.json"), 10, 1,
				       json_object_get(r, "inputs"));
	json_decref(ref);
}

/* Threads of this process. */
static int count_threads(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;

	while (d && (e = readdir(d)))
		n += e->d_name[0] != '.';
	if (d)
		closedir(d);
	return n;
}

/*
 * The prefork case: load (threads 1 and 2), warm up where the worker does
 * (threads 1 only), fork, and predict in the child. A hung child (an
 * OpenMP pool that did not survive fork) is killed by its alarm.
 */
TEST(predicts_in_a_forked_child)
{
	const cs_plugin *p = open_plugin();
	json_t *s = samples();
	size_t n = s ? n_samples(s) : 0;
	float *x, *want;
	char err[CS_ERROR_SIZE];

	if (!p || n == 0 || n > 64) {
		CHECK(0);
		return;
	}
	x = rows_of(json_object_get(s, "inputs"), 0, n, N_FEATURES);
	want = malloc(n * sizeof *want);
	for (int threads = 1; threads <= 2; threads++) {
		void *model = must_load(p, json_path, "{}", threads);
		int status = 0;
		pid_t pid;

		if (!model)
			break;
		/* loading started no thread (no OpenMP pool) */
		CHECK(count_threads() == 1);
		/* the worker warms up before forking with threads 1 only */
		if (threads == 1)
			CHECK(run(p, model, x, n, N_FEATURES, want, NULL, err) ==
			      CS_OK);
		fflush(stdout);
		pid = fork();
		if (pid == 0) {
			float got[64];
			int ok = 1;

			alarm(30);
			for (int k = 0; k < 3 && ok; k++)
				ok = run(p, model, x, n, N_FEATURES, got, NULL,
					 err) == CS_OK &&
				     memcmp(got, want, n * sizeof *got) == 0;
			_exit(ok ? 0 : 1);
		}
		CHECK(waitpid(pid, &status, 0) == pid);
		if (WIFSIGNALED(status))
			printf("#   threads %d: the child was killed by signal %d%s\n",
			       threads, WTERMSIG(status),
			       WTERMSIG(status) == SIGALRM ? " (hung)" : "");
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
		p->unload(model);
	}
	free(x);
	free(want);
	json_decref(s);
}

int main(void)
{
	set_paths();
	if (access(plugin_path, R_OK) != 0) {
		printf("1..0 # SKIP %s is not built\n", plugin_path);
		return 0;
	}
	RUN(exports_only_the_entry);
	RUN(table);
	RUN(describes_the_breast_cancer_booster);
	RUN(reproduces_python_xgboost);
	RUN(batch_of_n_equals_n_singles);
	RUN(wrong_feature_count_is_einval_naming_both);
	RUN(nan_and_inf_refused_by_default);
	RUN(bad_options_refused);
	RUN(outputs_per_objective_match_python);
	RUN(missing_file_refused_with_errno);
	RUN(corrupted_files_refused_naming_the_file);
	RUN(threads_share_a_tree_model);
	RUN(threads_share_a_linear_model);
	RUN(predicts_in_a_forked_child);
	return tap_done();
}
