/*
 * test_native.c - the native plugin, loaded the way the runtime loads it:
 * dlopen() of the built .so, the ABI table, the linear example model
 * checked against scikit-learn's own numbers (examples/linear/samples.json),
 * the error paths, and the exported symbols (nm -D).
 *
 * Links no runtime code: the plugin is found at
 * $CS_TOP_BUILDDIR/plugins/native/.libs/native.so, the example at
 * $CS_TOP_SRCDIR/examples/linear/.
 */
#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L /* popen, mkdtemp */
#endif

#include <dlfcn.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include <cubeserve/plugin.h>

#include "tap.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif

#define TOL 1e-4

/* ------------------------------------------------------------ helpers */

/* $name, or fallback when unset or empty. */
static const char *env_or(const char *name, const char *fallback)
{
	const char *v = getenv(name);

	return v && *v ? v : fallback;
}

static void plugin_path(char *buf, size_t len)
{
	snprintf(buf, len, "%s/plugins/native/.libs/native.so",
		 env_or("CS_TOP_BUILDDIR", "."));
}

static void example_path(char *buf, size_t len, const char *file)
{
	snprintf(buf, len, "%s/examples/linear%s%s",
		 env_or("CS_TOP_SRCDIR", "."), *file ? "/" : "", file);
}

/* dlopen()s the plugin and returns its table; NULL (reported) on failure. */
static const cs_plugin *open_plugin(void)
{
	char path[4096];
	cs_plugin_entry_fn entry;
	void *h;

	plugin_path(path, sizeof(path));
	h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		printf("#   dlopen: %s\n", dlerror());
		return NULL;
	}
	*(void **)&entry = dlsym(h, CS_PLUGIN_ENTRY_NAME);
	if (!entry) {
		printf("#   dlsym: %s\n", dlerror());
		return NULL;
	}
	return entry();
}

/* The host's log(): keeps the last line. */
static char last_log[512];

static void test_log(void *ctx, int level, const char *msg)
{
	(void)ctx;
	(void)level;
	snprintf(last_log, sizeof(last_log), "%s", msg);
}

static const cs_host test_host = {
	.abi_version = CS_PLUGIN_ABI_VERSION,
	.struct_size = sizeof(cs_host),
	.ctx = NULL,
	.log = test_log,
};

/* An allocator that remembers its blocks so the test frees them after. */
typedef struct test_alloc {
	void *blocks[64];
	size_t n;
} test_alloc;

static void *test_alloc_cb(void *ctx, size_t size)
{
	test_alloc *a = ctx;
	void *p;

	if (a->n == sizeof(a->blocks) / sizeof(a->blocks[0]))
		return NULL;
	p = aligned_alloc(16, (size + 15) / 16 * 16);
	if (p)
		a->blocks[a->n++] = p;
	return p;
}

static void test_alloc_free(test_alloc *a)
{
	while (a->n > 0)
		free(a->blocks[--a->n]);
}

/* Fails the test when LeakSanitizer finds unreachable memory now. */
static void check_no_leaks(void)
{
#if defined(__SANITIZE_ADDRESS__)
	CHECK(__lsan_do_recoverable_leak_check() == 0);
#endif
}

/* Loads a model file; base_dir is where the file name is shown from. */
static int load_file(const cs_plugin *p, const char *path,
		     const char *base_dir, const char *options, void **model,
		     char *err)
{
	cs_model_spec spec = {
		.struct_size = sizeof(cs_model_spec),
		.name = "linear",
		.model_path = path,
		.base_dir = base_dir,
		.options_json = options ? options : "{}",
		.threads = 1,
	};

	err[0] = '\0';
	return p->load(&test_host, &spec, model, err, CS_ERROR_SIZE);
}

/* Loads examples/linear/weights.json; NULL (reported) on failure. */
static void *load_example(const cs_plugin *p)
{
	char path[4096], dir[4096], err[CS_ERROR_SIZE];
	void *model = NULL;
	int rc;

	example_path(path, sizeof(path), "weights.json");
	example_path(dir, sizeof(dir), "");
	rc = load_file(p, path, dir, NULL, &model, err);
	if (rc != CS_OK)
		printf("#   load: %d %s\n", rc, err);
	return model;
}

/* A private temporary directory for fixture files. */
static char tmp_dir[64];

static void make_tmp_dir(void)
{
	snprintf(tmp_dir, sizeof(tmp_dir), "/tmp/cs-test-native.XXXXXX");
	if (!mkdtemp(tmp_dir)) {
		perror("mkdtemp");
		_exit(1);
	}
}

static void remove_tmp_dir(const char *file)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", tmp_dir, file);
	unlink(path);
	rmdir(tmp_dir);
}

/* Writes text to tmp_dir/file and returns the path in buf. */
static const char *write_fixture(const char *file, const char *text,
				 char *buf, size_t len)
{
	FILE *f;

	snprintf(buf, len, "%s/%s", tmp_dir, file);
	f = fopen(buf, "w");
	if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
		perror(buf);
		_exit(1);
	}
	return buf;
}

/*
 * Reads samples.json into flat arrays: inputs[n*4] as float, logits and
 * probs[n*3], labels[n]. Returns n, or 0 (reported) on failure.
 */
typedef struct samples {
	size_t n;
	float *inputs;
	double *logits, *probs;
	int *labels;
} samples;

static int read_matrix(json_t *root, const char *key, size_t n, size_t cols,
		       float *f, double *d)
{
	json_t *rows = json_object_get(root, key);
	size_t i, j;

	if (json_array_size(rows) != n)
		return -1;
	for (i = 0; i < n; i++) {
		json_t *row = json_array_get(rows, i);

		if (json_array_size(row) != cols)
			return -1;
		for (j = 0; j < cols; j++) {
			double v = json_number_value(json_array_get(row, j));

			if (f)
				f[i * cols + j] = (float)v;
			else
				d[i * cols + j] = v;
		}
	}
	return 0;
}

static size_t read_samples(samples *s)
{
	char path[4096];
	json_error_t jerr;
	json_t *root, *labels;
	size_t i;

	example_path(path, sizeof(path), "samples.json");
	root = json_load_file(path, 0, &jerr);
	if (!root) {
		printf("#   %s: %s\n", path, jerr.text);
		return 0;
	}
	s->n = json_array_size(json_object_get(root, "inputs"));
	s->inputs = calloc(s->n * 4 + 1, sizeof(float));
	s->logits = calloc(s->n * 3 + 1, sizeof(double));
	s->probs = calloc(s->n * 3 + 1, sizeof(double));
	s->labels = calloc(s->n + 1, sizeof(int));
	labels = json_object_get(root, "labels");
	if (!s->inputs || !s->logits || !s->probs || !s->labels ||
	    read_matrix(root, "inputs", s->n, 4, s->inputs, NULL) ||
	    read_matrix(root, "logits", s->n, 3, NULL, s->logits) ||
	    read_matrix(root, "probs", s->n, 3, NULL, s->probs) ||
	    json_array_size(labels) != s->n) {
		printf("#   %s: not the expected layout\n", path);
		s->n = 0;
	}
	for (i = 0; i < s->n; i++)
		s->labels[i] = (int)json_integer_value(json_array_get(labels, i));
	json_decref(root);
	return s->n;
}

static void free_samples(samples *s)
{
	free(s->inputs);
	free(s->logits);
	free(s->probs);
	free(s->labels);
}

/* An FP32 [rows, cols] input view over data. */
static cs_tensor fp32_input(float *data, int64_t rows, int64_t cols)
{
	cs_tensor t = {
		.name = "x",
		.dtype = CS_FP32,
		.ndim = 2,
		.shape = { rows, cols },
		.data = data,
		.nbytes = (size_t)(rows * cols) * sizeof(float),
	};
	return t;
}

/* Runs infer() on one input; outputs get their names like the runtime. */
static int run_infer(const cs_plugin *p, void *model, const cs_tensor *x,
		     cs_tensor out[2], test_alloc *a, char *err)
{
	cs_allocator alloc = { .ctx = a, .alloc = test_alloc_cb };

	memset(out, 0, 2 * sizeof(cs_tensor));
	out[0].name = "logits";
	out[1].name = "probs";
	err[0] = '\0';
	return p->infer(model, x, 1, out, 2, &alloc, err, CS_ERROR_SIZE);
}

/* ------------------------------------------------------------ the ABI */

TEST(entry_table)
{
	const cs_plugin *p = open_plugin();

	REQUIRE(p != NULL);
	CHECK(p->abi_version == CS_PLUGIN_ABI_VERSION);
	CHECK(CS_PLUGIN_ABI_VERSION_MAJOR(p->abi_version) == 1);
	CHECK(p->struct_size == sizeof(cs_plugin));
	CHECK_STR(p->name, "native");
	CHECK(p->version != NULL && p->version[0] != '\0');
	CHECK(p->flags == (CS_PLUGIN_THREAD_SAFE | CS_PLUGIN_BATCHING));
	CHECK(p->load && p->describe && p->infer && p->unload);
	/* the entry returns the same static table every time */
	CHECK(open_plugin() == p);
}

/*
 * nm -D --defined-only lists cs_plugin_entry and nothing else, apart from
 * the linker's _init/_fini and, in sanitizer builds, the sanitizer's own
 * symbols.
 */
TEST(exports_only_entry)
{
	char path[4096], cmd[4200], line[512];
	int found = 0, others = 0;
	FILE *f;

	plugin_path(path, sizeof(path));
	CHECK(access(path, R_OK) == 0);
	snprintf(cmd, sizeof(cmd), "nm -D --defined-only '%s' 2>&1", path);
	f = popen(cmd, "r");
	REQUIRE(f != NULL);
	while (fgets(line, sizeof(line), f)) {
		char *sym = strrchr(line, ' ');

		sym = sym ? sym + 1 : line;
		sym[strcspn(sym, "\n")] = '\0';
		if (strcmp(sym, CS_PLUGIN_ENTRY_NAME) == 0)
			found++;
		else if (strcmp(sym, "_init") == 0 || strcmp(sym, "_fini") == 0 ||
			 strncmp(sym, "__asan", 6) == 0 ||
			 strncmp(sym, "___asan", 7) == 0 ||
			 strncmp(sym, "__odr_asan", 10) == 0 ||
			 strncmp(sym, "__ubsan", 7) == 0)
			continue;
		else {
			printf("#   unexpected export: %s\n", sym);
			others++;
		}
	}
	CHECK(pclose(f) == 0);
	CHECK(found == 1);
	CHECK(others == 0);
}

/* ------------------------------------------------------------ loading */

TEST(load_and_describe)
{
	const cs_plugin *p = open_plugin();
	const cs_io_desc *in, *out;
	size_t n_in = 0, n_out = 0;
	char err[CS_ERROR_SIZE] = "";
	void *model;

	if (!p)
		_exit(1);
	last_log[0] = '\0';
	model = load_example(p);
	REQUIRE(model != NULL);
	CHECK_HAS(last_log, "4 features, 3 classes");
	CHECK(p->describe(model, &in, &n_in, &out, &n_out, err,
			  CS_ERROR_SIZE) == CS_OK);
	CHECK(n_in == 1 && n_out == 2);
	CHECK_STR(in[0].name, "x");
	CHECK(in[0].dtype == CS_FP32 && in[0].ndim == 2);
	CHECK(in[0].shape[0] == -1 && in[0].shape[1] == 4);
	CHECK_STR(out[0].name, "logits");
	CHECK_STR(out[1].name, "probs");
	for (size_t i = 0; i < 2; i++) {
		CHECK(out[i].dtype == CS_FP32 && out[i].ndim == 2);
		CHECK(out[i].shape[0] == -1 && out[i].shape[1] == 3);
	}
	p->unload(model);
	check_no_leaks();
}

TEST(load_options)
{
	const cs_plugin *p = open_plugin();
	char path[4096], dir[4096], err[CS_ERROR_SIZE];
	void *model = NULL;

	if (!p)
		_exit(1);
	example_path(path, sizeof(path), "weights.json");
	example_path(dir, sizeof(dir), "");
	/* threads is accepted, unknown options are ignored */
	CHECK(load_file(p, path, dir, "{\"threads\": 2, \"x\": [1]}", &model,
			err) == CS_OK);
	p->unload(model);
	CHECK(load_file(p, path, dir, NULL, &model, err) == CS_OK);
	p->unload(model);

	model = NULL;
	CHECK(load_file(p, path, dir, "{\"threads\": 0}", &model, err) ==
	      CS_EINVAL);
	CHECK_HAS(err, "'threads'");
	CHECK(load_file(p, path, dir, "[1]", &model, err) == CS_EINVAL);
	CHECK_HAS(err, "options");
	CHECK(load_file(p, path, dir, "{", &model, err) == CS_EINVAL);
	CHECK_HAS(err, "options");
	CHECK(model == NULL);
	check_no_leaks();
}

TEST(load_missing_file)
{
	const cs_plugin *p = open_plugin();
	char err[CS_ERROR_SIZE];
	void *model = NULL;

	if (!p)
		_exit(1);
	CHECK(load_file(p, "/nonexistent/cs-test/weights.json", "/nonexistent",
			NULL, &model, err) == CS_EIO);
	CHECK_HAS(err, "/nonexistent/cs-test/weights.json");
	CHECK_HAS(err, strerror(ENOENT));
	CHECK(model == NULL);

	/* a directory opens but cannot be read */
	CHECK(load_file(p, "/", NULL, NULL, &model, err) == CS_EIO);
	CHECK(model == NULL);

	/* no model file at all */
	CHECK(load_file(p, NULL, NULL, NULL, &model, err) == CS_EINVAL);
	CHECK_HAS(err, "model 'linear'");
	CHECK(model == NULL);
	check_no_leaks();
}

TEST(load_malformed_json)
{
	const cs_plugin *p = open_plugin();
	char path[256], err[CS_ERROR_SIZE];
	void *model = NULL;

	if (!p)
		_exit(1);
	make_tmp_dir();
	write_fixture("weights.json", "{\"format\": \"cubeserve-linear/1\",\n"
				      " \"features\": 4,,}\n",
		      path, sizeof(path));
	CHECK(load_file(p, path, tmp_dir, NULL, &model, err) == CS_EFORMAT);
	CHECK_HAS(err, "weights.json:2:");
	CHECK_HAS(err, "invalid JSON");
	CHECK(model == NULL);

	/* shown with its full path when it is outside base_dir */
	CHECK(load_file(p, path, "/elsewhere", NULL, &model, err) == CS_EFORMAT);
	CHECK_HAS(err, path);
	remove_tmp_dir("weights.json");
	check_no_leaks();
}

/* A bad model file and a fragment its error message must contain. */
static const struct {
	const char *json;
	const char *message;
} bad_models[] = {
	{ "[]", "weights.json: the top level must be an object" },
	{ "{\"format\": \"cubeserve-linear/2\"}",
	  "weights.json: 'format' is \"cubeserve-linear/2\", expected \"cubeserve-linear/1\"" },
	{ "{\"input\": \"x\"}", "weights.json: 'format' is missing" },
	{ "{\"format\": \"cubeserve-linear/1\", \"features\": 4}",
	  "weights.json: 'input' must be a non-empty string" },
	{ "{\"format\": \"cubeserve-linear/1\", \"input\": \"x\", \"classes\": 3}",
	  "weights.json: 'features' is missing" },
	{ "{\"format\": \"cubeserve-linear/1\", \"input\": \"x\", \"features\": 4.5}",
	  "weights.json: 'features' must be an integer" },
	{ "{\"format\": \"cubeserve-linear/1\", \"input\": \"x\", \"features\": 4,"
	  " \"classes\": 0}",
	  "weights.json: 'classes' is 0, expected 1 to" },
	{ "{\"format\": \"cubeserve-linear/1\", \"input\": \"x\", \"features\": 2,"
	  " \"classes\": 2, \"bias\": [0, 0]}",
	  "weights.json: 'weights' is missing" },
	{ "{\"format\": \"cubeserve-linear/1\", \"input\": \"x\", \"features\": 2,"
	  " \"classes\": 2, \"weights\": [[1, 2]], \"bias\": [0, 0]}",
	  "weights.json: 'weights' has 1 rows, expected 2 (classes)" },
	{ "{\"format\": \"cubeserve-linear/1\", \"input\": \"x\", \"features\": 4,"
	  " \"classes\": 3, \"weights\": [[1, 2, 3, 4], [1, 2, 3, 4], [1, 2, 3]],"
	  " \"bias\": [0, 0, 0]}",
	  "weights.json: 'weights[2]' has 3 numbers, expected 4 (features)" },
	{ "{\"format\": \"cubeserve-linear/1\", \"input\": \"x\", \"features\": 2,"
	  " \"classes\": 2, \"weights\": [[1, 2], [1, \"a\"]], \"bias\": [0, 0]}",
	  "weights.json: 'weights[1][1]' is not a finite number" },
	{ "{\"format\": \"cubeserve-linear/1\", \"input\": \"x\", \"features\": 2,"
	  " \"classes\": 2, \"weights\": [[1, 2], 7], \"bias\": [0, 0]}",
	  "weights.json: 'weights[1]' must be an array of numbers" },
	{ "{\"format\": \"cubeserve-linear/1\", \"input\": \"x\", \"features\": 2,"
	  " \"classes\": 2, \"weights\": [[1, 2], [3, 4]]}",
	  "weights.json: 'bias' is missing" },
	{ "{\"format\": \"cubeserve-linear/1\", \"input\": \"x\", \"features\": 2,"
	  " \"classes\": 2, \"weights\": [[1, 2], [3, 4]], \"bias\": [0]}",
	  "weights.json: 'bias' has 1 numbers, expected 2 (classes)" },
	{ "{\"format\": \"cubeserve-linear/1\", \"input\": \"x\", \"features\": 2,"
	  " \"classes\": 2, \"weights\": [[1, 2], [3, 4]], \"bias\": [0, 0],"
	  " \"labels\": [\"a\"]}",
	  "weights.json: 'labels' has 1 strings, expected 2 (classes)" },
	{ "{\"format\": \"cubeserve-linear/1\", \"input\": \"x\", \"features\": 2,"
	  " \"classes\": 2, \"weights\": [[1, 2], [3, 4]], \"bias\": [0, 0],"
	  " \"labels\": [\"a\", 2]}",
	  "weights.json: 'labels[1]' must be a string" },
	{ "{\"format\": \"cubeserve-linear/1\", \"format\": \"cubeserve-linear/1\"}",
	  "weights.json:1:" },
};

TEST(load_bad_content)
{
	const cs_plugin *p = open_plugin();
	char path[256], err[CS_ERROR_SIZE];
	size_t i;

	if (!p)
		_exit(1);
	make_tmp_dir();
	for (i = 0; i < sizeof(bad_models) / sizeof(bad_models[0]); i++) {
		void *model = NULL;
		int rc;

		write_fixture("weights.json", bad_models[i].json, path,
			      sizeof(path));
		rc = load_file(p, path, tmp_dir, NULL, &model, err);
		if (rc != CS_EFORMAT || !strstr(err, bad_models[i].message))
			printf("#   case %zu: %d \"%s\"\n", i, rc, err);
		CHECK(rc == CS_EFORMAT);
		CHECK_HAS(err, bad_models[i].message);
		CHECK(model == NULL);
	}
	remove_tmp_dir("weights.json");
	check_no_leaks();
}

/* A valid file without labels, one class and a different input name. */
TEST(load_minimal_model)
{
	const cs_plugin *p = open_plugin();
	char path[256], err[CS_ERROR_SIZE];
	const cs_io_desc *in, *out;
	size_t n_in, n_out;
	float x[2] = { 1.0f, 2.0f };
	cs_tensor xt = fp32_input(x, 1, 2), o[2];
	test_alloc a = { .n = 0 };
	void *model = NULL;

	if (!p)
		_exit(1);
	make_tmp_dir();
	write_fixture("m.json",
		      "{\"format\": \"cubeserve-linear/1\", \"input\": \"features\","
		      " \"features\": 2, \"classes\": 1, \"weights\": [[0.5, -1]],"
		      " \"bias\": [3], \"extra\": true}",
		      path, sizeof(path));
	CHECK(load_file(p, path, tmp_dir, NULL, &model, err) == CS_OK);
	remove_tmp_dir("m.json");
	REQUIRE(model != NULL);
	CHECK(p->describe(model, &in, &n_in, &out, &n_out, err,
			  CS_ERROR_SIZE) == CS_OK);
	CHECK_STR(in[0].name, "features");
	CHECK(out[0].shape[1] == 1);
	CHECK(run_infer(p, model, &xt, o, &a, err) == CS_OK);
	CHECK(((float *)o[0].data)[0] == 1.5f);
	CHECK(((float *)o[1].data)[0] == 1.0f);
	test_alloc_free(&a);
	p->unload(model);
	check_no_leaks();
}

/* ------------------------------------------------------------ inference */

TEST(infer_matches_sklearn)
{
	const cs_plugin *p = open_plugin();
	char err[CS_ERROR_SIZE];
	samples s = { 0 };
	test_alloc a = { .n = 0 };
	cs_tensor x, out[2];
	void *model;
	size_t i, j;

	if (!p)
		_exit(1);
	model = load_example(p);
	CHECK(model != NULL);
	CHECK(read_samples(&s) >= 20);
	if (!model || s.n == 0)
		return;
	x = fp32_input(s.inputs, (int64_t)s.n, 4);
	CHECK(run_infer(p, model, &x, out, &a, err) == CS_OK);
	CHECK_STR(err, "");
	for (i = 0; i < 2; i++) {
		CHECK(out[i].dtype == CS_FP32 && out[i].ndim == 2);
		CHECK(out[i].shape[0] == (int64_t)s.n && out[i].shape[1] == 3);
		CHECK(out[i].nbytes == s.n * 3 * sizeof(float));
		CHECK(out[i].data != NULL);
	}
	if (!out[0].data || !out[1].data)
		return;
	for (i = 0; i < s.n; i++) {
		const float *lg = (const float *)out[0].data + i * 3;
		const float *pr = (const float *)out[1].data + i * 3;
		size_t best = 0;
		double sum = 0;

		for (j = 0; j < 3; j++) {
			if (fabs(lg[j] - s.logits[i * 3 + j]) > TOL ||
			    fabs(pr[j] - s.probs[i * 3 + j]) > TOL)
				printf("#   row %zu class %zu: %g %g vs %g %g\n", i,
				       j, lg[j], pr[j], s.logits[i * 3 + j],
				       s.probs[i * 3 + j]);
			CHECK(fabs(lg[j] - s.logits[i * 3 + j]) <= TOL);
			CHECK(fabs(pr[j] - s.probs[i * 3 + j]) <= TOL);
			if (pr[j] > pr[best])
				best = j;
			sum += pr[j];
		}
		CHECK((int)best == s.labels[i]);
		CHECK(fabs(sum - 1.0) < 1e-6);
	}
	test_alloc_free(&a);
	free_samples(&s);
	p->unload(model);
	check_no_leaks();
}

/* Each row alone gives exactly the row of the batch. */
TEST(infer_batch_of_one_equals_batch)
{
	const cs_plugin *p = open_plugin();
	char err[CS_ERROR_SIZE];
	samples s = { 0 };
	test_alloc a = { .n = 0 };
	cs_tensor x, all[2], one[2];
	void *model;
	size_t i;

	if (!p)
		_exit(1);
	model = load_example(p);
	if (!model || read_samples(&s) == 0)
		_exit(1);
	x = fp32_input(s.inputs, (int64_t)s.n, 4);
	CHECK(run_infer(p, model, &x, all, &a, err) == CS_OK);
	for (i = 0; i < s.n; i++) {
		test_alloc b = { .n = 0 };

		x = fp32_input(s.inputs + i * 4, 1, 4);
		CHECK(run_infer(p, model, &x, one, &b, err) == CS_OK);
		CHECK(one[0].shape[0] == 1 && one[1].shape[0] == 1);
		CHECK(memcmp(one[0].data, (float *)all[0].data + i * 3,
			     3 * sizeof(float)) == 0);
		CHECK(memcmp(one[1].data, (float *)all[1].data + i * 3,
			     3 * sizeof(float)) == 0);
		test_alloc_free(&b);
	}
	test_alloc_free(&a);
	free_samples(&s);
	p->unload(model);
	check_no_leaks();
}

/* An input buffer that is not float-aligned is read correctly. */
TEST(infer_unaligned_input)
{
	const cs_plugin *p = open_plugin();
	char err[CS_ERROR_SIZE];
	float x[4] = { 5.1f, 3.5f, 1.4f, 0.2f };
	unsigned char buf[sizeof(x) + 1];
	test_alloc a = { .n = 0 }, b = { .n = 0 };
	cs_tensor xt, ut, o1[2], o2[2];
	void *model;

	if (!p)
		_exit(1);
	model = load_example(p);
	if (!model)
		_exit(1);
	memcpy(buf + 1, x, sizeof(x));
	xt = fp32_input(x, 1, 4);
	ut = fp32_input((float *)(void *)(buf + 1), 1, 4);
	CHECK(run_infer(p, model, &xt, o1, &a, err) == CS_OK);
	CHECK(run_infer(p, model, &ut, o2, &b, err) == CS_OK);
	CHECK(memcmp(o1[1].data, o2[1].data, 3 * sizeof(float)) == 0);
	test_alloc_free(&a);
	test_alloc_free(&b);
	p->unload(model);
	check_no_leaks();
}

TEST(infer_empty_batch)
{
	const cs_plugin *p = open_plugin();
	char err[CS_ERROR_SIZE];
	test_alloc a = { .n = 0 };
	cs_tensor x, out[2];
	void *model;

	if (!p)
		_exit(1);
	model = load_example(p);
	if (!model)
		_exit(1);
	x = fp32_input(NULL, 0, 4);
	CHECK(run_infer(p, model, &x, out, &a, err) == CS_OK);
	CHECK(out[0].shape[0] == 0 && out[0].shape[1] == 3);
	CHECK(out[1].nbytes == 0);
	p->unload(model);
	check_no_leaks();
}

TEST(infer_bad_input)
{
	const cs_plugin *p = open_plugin();
	char err[CS_ERROR_SIZE];
	float data[12] = { 0 };
	test_alloc a = { .n = 0 };
	cs_allocator alloc = { .ctx = &a, .alloc = test_alloc_cb };
	cs_tensor x, out[2];
	void *model;

	if (!p)
		_exit(1);
	model = load_example(p);
	if (!model)
		_exit(1);

	/* wrong feature count */
	x = fp32_input(data, 2, 3);
	CHECK(run_infer(p, model, &x, out, &a, err) == CS_EINVAL);
	CHECK_HAS(err, "input 'x' has 3 features, expected 4");

	/* wrong rank */
	x = fp32_input(data, 3, 4);
	x.ndim = 1;
	x.shape[0] = 12;
	CHECK(run_infer(p, model, &x, out, &a, err) == CS_EINVAL);
	CHECK_HAS(err, "shape [N, 4]");

	/* wrong dtype */
	x = fp32_input(data, 3, 4);
	x.dtype = CS_FP64;
	CHECK(run_infer(p, model, &x, out, &a, err) == CS_EINVAL);
	CHECK_HAS(err, "FP32");

	/* byte count that does not match the shape */
	x = fp32_input(data, 3, 4);
	x.nbytes -= 4;
	CHECK(run_infer(p, model, &x, out, &a, err) == CS_EINVAL);
	CHECK_HAS(err, "bytes");

	/* data missing */
	x = fp32_input(NULL, 3, 4);
	CHECK(run_infer(p, model, &x, out, &a, err) == CS_EINVAL);

	/* wrong number of outputs */
	x = fp32_input(data, 3, 4);
	CHECK(p->infer(model, &x, 1, out, 1, &alloc, err, CS_ERROR_SIZE) ==
	      CS_EINVAL);
	CHECK_HAS(err, "2 outputs");

	CHECK(a.n == 0); /* nothing allocated on a rejected input */
	p->unload(model);
	check_no_leaks();
}

/* An allocator that fails makes infer() return CS_ENOMEM. */
static void *null_alloc(void *ctx, size_t size)
{
	(void)ctx;
	(void)size;
	return NULL;
}

TEST(infer_out_of_memory)
{
	const cs_plugin *p = open_plugin();
	char err[CS_ERROR_SIZE];
	float data[4] = { 0 };
	cs_allocator alloc = { .ctx = NULL, .alloc = null_alloc };
	cs_tensor x, out[2];
	void *model;

	if (!p)
		_exit(1);
	model = load_example(p);
	if (!model)
		_exit(1);
	x = fp32_input(data, 1, 4);
	memset(out, 0, sizeof(out));
	out[0].name = "logits";
	out[1].name = "probs";
	CHECK(p->infer(model, &x, 1, out, 2, &alloc, err, CS_ERROR_SIZE) ==
	      CS_ENOMEM);
	CHECK_HAS(err, "logits");
	p->unload(model);
	check_no_leaks();
}

int main(void)
{
	RUN(entry_table);
	RUN(exports_only_entry);
	RUN(load_and_describe);
	RUN(load_options);
	RUN(load_missing_file);
	RUN(load_malformed_json);
	RUN(load_bad_content);
	RUN(load_minimal_model);
	RUN(infer_matches_sklearn);
	RUN(infer_batch_of_one_equals_batch);
	RUN(infer_unaligned_input);
	RUN(infer_empty_batch);
	RUN(infer_bad_input);
	RUN(infer_out_of_memory);
	return tap_done();
}
