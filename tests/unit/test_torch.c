/*
 * test_torch.c - the torch plugin, dlopen()ed as the runtime does, on the
 * digits example: reference outputs (plain and optimized for inference),
 * batching, the signature, the ABI surface, and the files it must refuse.
 */
#include <dlfcn.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include <cubeserve/plugin.h>

#include "tap.h"

#define TOLERANCE 1e-4
#define N_CLASSES 10

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

static char plugin_path[4096], model_path[4096];

static void set_paths(void)
{
	snprintf(plugin_path, sizeof plugin_path,
		 "%s/plugins/torch/.libs/torch.so", builddir());
	snprintf(model_path, sizeof model_path,
		 "%s/examples/digits/digits.pt", srcdir());
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
		sizeof spec, "digits", path, srcdir(), options, threads,
	};
	err[0] = '\0';
	return p->load(&host, &spec, model, err, CS_ERROR_SIZE);
}

/* The test allocator: every block is kept and freed by alloc_reset(). */
static void *blocks[256];
static size_t n_blocks;

static void *test_alloc(void *ctx, size_t size)
{
	void *p;

	if (n_blocks == sizeof blocks / sizeof blocks[0])
		return NULL;
	p = aligned_alloc(16, (size + 15) / 16 * 16);
	if (p)
		blocks[n_blocks++] = p;
	return p;
}

static const cs_allocator allocator = { NULL, test_alloc };

static void alloc_reset(void)
{
	while (n_blocks)
		free(blocks[--n_blocks]);
}

/* examples/digits/samples.json */
static json_t *samples(void)
{
	char path[4096];
	json_error_t jerr;
	json_t *s;

	snprintf(path, sizeof path, "%s/examples/digits/samples.json",
		 srcdir());
	s = json_load_file(path, 0, &jerr);
	if (!s)
		printf("#   %s: %s\n", path, jerr.text);
	return s ? json_incref(json_object_get(s, "samples")) : NULL;
}

/* Pixels of samples [first, first+n) as one FP32 [n,1,8,8] buffer. */
static float *pixels(json_t *list, size_t first, size_t n)
{
	float *x = malloc(n * 64 * sizeof *x);

	for (size_t i = 0; x && i < n; i++) {
		json_t *px = json_object_get(json_array_get(list, first + i),
					     "pixels");
		for (size_t j = 0; j < 64; j++)
			x[i * 64 + j] = (float)json_number_value(
				json_array_get(px, j));
	}
	return x;
}

/* Runs a batch of n; the logits land in out (n * 10 floats). */
static int run(const cs_plugin *p, void *model, float *x, size_t n,
	       float *out, char *err)
{
	cs_tensor in = {
		.name = "image", .dtype = CS_FP32, .ndim = 4,
		.shape = {(int64_t)n, 1, 8, 8}, .data = x,
		.nbytes = n * 64 * sizeof(float),
	};
	cs_tensor o = { .name = "logits" };
	int rc = p->infer(model, &in, 1, &o, 1, &allocator, err,
			  CS_ERROR_SIZE);

	if (rc == CS_OK) {
		CHECK(o.dtype == CS_FP32);
		CHECK(o.ndim == 2);
		CHECK(o.shape[0] == (int64_t)n && o.shape[1] == N_CLASSES);
		CHECK(o.nbytes == n * N_CLASSES * sizeof(float));
		if (o.nbytes == n * N_CLASSES * sizeof(float))
			memcpy(out, o.data, o.nbytes);
	}
	alloc_reset();
	return rc;
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

/* Loading path must fail, with path in the message. */
static void check_refused(const char *path)
{
	const cs_plugin *p = open_plugin();
	char err[CS_ERROR_SIZE];
	void *model = (void *)&model;

	CHECK(p);
	if (!p)
		return;
	CHECK(load(p, path, "{}", 1, &model, err) != CS_OK);
	CHECK(model == (void *)&model); /* untouched */
	CHECK_HAS(err, path);
	printf("#   refused: %s\n", err);
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
	CHECK_STR(p->name, "torch");
	CHECK(!(p->flags & CS_PLUGIN_THREAD_SAFE));
	CHECK(p->flags & CS_PLUGIN_BATCHING);
	CHECK(p->load && p->describe && p->infer && p->unload);
}

TEST(describe_reads_the_archive_signature)
{
	const cs_plugin *p = open_plugin();
	const cs_io_desc *in, *out;
	size_t n_in, n_out;
	char err[CS_ERROR_SIZE];
	void *model = NULL;

	CHECK(p && load(p, model_path, "{}", 1, &model, err) == CS_OK);
	if (!model) {
		printf("#   %s\n", err);
		return;
	}
	CHECK(p->describe(model, &in, &n_in, &out, &n_out, err,
			  sizeof err) == CS_OK);
	CHECK(n_in == 1 && n_out == 1);
	CHECK_STR(in[0].name, "image");
	CHECK(in[0].dtype == CS_FP32);
	CHECK(in[0].ndim == 4);
	CHECK(in[0].shape[0] == -1 && in[0].shape[1] == 1 &&
	      in[0].shape[2] == 8 && in[0].shape[3] == 8);
	CHECK_STR(out[0].name, "logits");
	CHECK(out[0].dtype == CS_FP32);
	CHECK(out[0].ndim == 2 && out[0].shape[0] == -1 &&
	      out[0].shape[1] == N_CLASSES);
	p->unload(model);
}

static void check_reference(const char *options)
{
	const cs_plugin *p = open_plugin();
	json_t *list = samples();
	char err[CS_ERROR_SIZE];
	void *model = NULL;
	double worst = 0;

	CHECK(p && list && json_array_size(list) >= 8);
	if (!p || !list ||
	    load(p, model_path, options, 1, &model, err) != CS_OK) {
		printf("#   %s\n", err);
		CHECK(0);
		return;
	}
	for (size_t i = 0; i < json_array_size(list); i++) {
		float *x = pixels(list, i, 1), logits[N_CLASSES];
		json_t *ref = json_object_get(json_array_get(list, i),
					      "logits");
		int rc = run(p, model, x, 1, logits, err);

		CHECK(rc == CS_OK);
		for (size_t k = 0; rc == CS_OK && k < N_CLASSES; k++) {
			double d = fabs(logits[k] - json_number_value(
					json_array_get(ref, k)));
			worst = d > worst ? d : worst;
		}
		free(x);
	}
	printf("#   worst difference from torch: %.3g\n", worst);
	CHECK(worst <= TOLERANCE);
	p->unload(model);
	json_decref(list);
}

TEST(reproduces_the_reference_logits)
{
	check_reference("{}");
}

TEST(reproduces_them_optimized_for_inference)
{
	check_reference("{\"optimize\": true}");
}

#define SIG(in_shape, out_shape)                                           \
	"{\"signature\": {\"inputs\": [{\"name\": \"x\", \"dtype\": \"FP32\", " \
	"\"shape\": " in_shape "}], \"outputs\": [{\"name\": \"y\", "          \
	"\"dtype\": \"FP32\", \"shape\": " out_shape "}]}}"

TEST(options_signature_overrides_the_archive)
{
	const cs_plugin *p = open_plugin();
	const cs_io_desc *in, *out;
	size_t n_in, n_out;
	char err[CS_ERROR_SIZE];
	void *model = NULL;

	CHECK(p && load(p, model_path, SIG("[-1,1,8,8]", "[-1,10]"), 1,
			&model, err) == CS_OK);
	if (!model)
		return;
	CHECK(p->describe(model, &in, &n_in, &out, &n_out, err,
			  sizeof err) == CS_OK);
	CHECK_STR(in[0].name, "x");
	CHECK_STR(out[0].name, "y");
	p->unload(model);
}

TEST(refuses_a_signature_that_does_not_fit)
{
	const cs_plugin *p = open_plugin();
	char err[CS_ERROR_SIZE];
	void *model = NULL;

	/* the module returns [1,10] */
	CHECK(p && load(p, model_path, SIG("[-1,1,8,8]", "[-1,5]"), 1,
			&model, err) == CS_EFORMAT);
	CHECK_HAS(err, model_path);
	CHECK_HAS(err, "[-1,5]");
	CHECK_HAS(err, "[1,10]");
	printf("#   refused: %s\n", err);
	/* the module cannot take [1,64] */
	CHECK(p && load(p, model_path, SIG("[-1,64]", "[-1,10]"), 1,
			&model, err) != CS_OK);
	CHECK_HAS(err, model_path);
	printf("#   refused: %s\n", err);
	CHECK(p && load(p, model_path, SIG("[-1,1,8,8]", "[-1,\"x\"]"), 1,
			&model, err) == CS_EINVAL);
	CHECK(model == NULL);
}

/*
 * oneDNN's convolutions round differently for different batch sizes (by
 * some 1e-6 on these logits), so "identical" here is within BATCH_TOLERANCE,
 * well inside the tolerance against torch.
 */
#define BATCH_TOLERANCE 1e-5

static void check_batch(const char *options)
{
	const cs_plugin *p = open_plugin();
	json_t *list = samples();
	char err[CS_ERROR_SIZE];
	void *model = NULL;
	float one[8][N_CLASSES], eight[8 * N_CLASSES];
	double worst = 0;

	if (!p || !list ||
	    load(p, model_path, options, 1, &model, err) != CS_OK) {
		CHECK(0);
		return;
	}
	for (size_t i = 0; i < 8; i++) {
		float *x = pixels(list, i, 1);
		CHECK(run(p, model, x, 1, one[i], err) == CS_OK);
		free(x);
	}
	float *x8 = pixels(list, 0, 8);
	CHECK(run(p, model, x8, 8, eight, err) == CS_OK);
	for (size_t i = 0; i < 8; i++) {
		for (size_t k = 0; k < N_CLASSES; k++) {
			double d = fabs(one[i][k] - eight[i * N_CLASSES + k]);
			worst = d > worst ? d : worst;
		}
	}
	printf("#   worst difference batch 1 / batch 8: %.3g\n", worst);
	CHECK(worst <= BATCH_TOLERANCE);
	free(x8);
	p->unload(model);
	json_decref(list);
}

TEST(batch_of_8_equals_8_batches_of_1)
{
	check_batch("{}");
}

TEST(batch_of_8_equals_8_batches_of_1_optimized)
{
	check_batch("{\"optimize\": true}");
}

TEST(any_batch_size)
{
	const cs_plugin *p = open_plugin();
	json_t *list = samples();
	char err[CS_ERROR_SIZE];
	void *model = NULL;
	size_t n = json_array_size(list);

	if (!p || !list || load(p, model_path, "{}", 2, &model, err) != CS_OK) {
		CHECK(0);
		return;
	}
	float *x = pixels(list, 0, n), *logits = malloc(n * N_CLASSES * 4);
	CHECK(run(p, model, x, n, logits, err) == CS_OK);
	for (size_t i = 0; i < n; i++) {
		json_t *ref = json_object_get(json_array_get(list, i),
					      "logits");
		for (size_t k = 0; k < N_CLASSES; k++)
			CHECK(fabs(logits[i * N_CLASSES + k] - json_number_value(
					   json_array_get(ref, k))) <= TOLERANCE);
	}
	free(x);
	free(logits);
	p->unload(model);
	json_decref(list);
}

/*
 * The prefork case: the master loads (on 2 threads), the child serves.
 * libtorch's OpenMP pool does not survive fork(), so a master that had
 * inferred on several threads before forking would hang its children:
 * the plugin loads on one thread and starts the pool at the first infer().
 */
TEST(infers_in_a_forked_child)
{
	const cs_plugin *p = open_plugin();
	json_t *list = samples();
	char err[CS_ERROR_SIZE];
	void *model = NULL;
	float got[8 * N_CLASSES];
	int status = 0;
	pid_t pid;

	if (!p || !list || load(p, model_path, "{}", 2, &model, err) != CS_OK) {
		CHECK(0);
		return;
	}
	float *x = pixels(list, 0, 8);
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		alarm(60); /* a hung thread pool fails the test, not the run */
		for (int round = 0; round < 3; round++) {
			if (run(p, model, x, 8, got, err) != CS_OK) {
				printf("#   in the child: %s\n", err);
				_exit(1);
			}
		}
		for (size_t i = 0; i < 8 * N_CLASSES; i++) {
			json_t *ref = json_object_get(
				json_array_get(list, i / N_CLASSES), "logits");
			if (fabs(got[i] - json_number_value(json_array_get(
					ref, i % N_CLASSES))) > TOLERANCE) {
				printf("#   the child's logits differ\n");
				_exit(1);
			}
		}
		_exit(0);
	}
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
	if (WIFSIGNALED(status))
		printf("#   the child was killed by signal %d\n",
		       WTERMSIG(status));
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK(run(p, model, x, 8, got, err) == CS_OK); /* the parent, too */
	free(x);
	p->unload(model);
	json_decref(list);
}

TEST(refuses_a_wrong_input)
{
	const cs_plugin *p = open_plugin();
	char err[CS_ERROR_SIZE];
	void *model = NULL;
	int64_t bad[64] = {0};
	cs_tensor o = { .name = "logits" };

	if (!p || load(p, model_path, "{}", 1, &model, err) != CS_OK) {
		CHECK(0);
		return;
	}
	cs_tensor in = {
		.name = "image", .dtype = CS_INT64, .ndim = 4,
		.shape = {1, 1, 8, 8}, .data = bad, .nbytes = sizeof bad,
	};
	CHECK(p->infer(model, &in, 1, &o, 1, &allocator, err,
		       sizeof err) == CS_EINVAL);
	CHECK_HAS(err, "image");
	in.dtype = CS_FP32;
	in.shape[2] = 4;
	in.nbytes = 32 * sizeof(float);
	CHECK(p->infer(model, &in, 1, &o, 1, &allocator, err,
		       sizeof err) == CS_EINVAL);
	alloc_reset();
	p->unload(model);
}

TEST(refuses_unknown_options)
{
	const cs_plugin *p = open_plugin();
	char err[CS_ERROR_SIZE];
	void *model = NULL;

	CHECK(p && load(p, model_path, "{\"optimise\": true}", 1, &model,
			err) == CS_EINVAL);
	CHECK_HAS(err, "optimise");
	CHECK(p && load(p, model_path, "{\"optimize\": 1}", 1, &model,
			err) == CS_EINVAL);
	CHECK_HAS(err, "optimize");
	CHECK(p && load(p, model_path, "[1]", 1, &model, err) == CS_EINVAL);
	CHECK(model == NULL);
}

TEST(refuses_a_missing_file)
{
	check_refused("/nonexistent/cubeserve/digits.pt");
}

TEST(refuses_a_truncated_file)
{
	char dir[] = "/tmp/cs-test-torch-XXXXXX", path[256];
	struct stat st;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof path, "%s/truncated.pt", dir);
	CHECK(stat(model_path, &st) == 0);
	CHECK(copy_file(model_path, path, (long)st.st_size / 2) == 0);
	check_refused(path);
	/* cut inside the graph header as well */
	CHECK(copy_file(model_path, path, 100) == 0);
	check_refused(path);
	unlink(path);
	rmdir(dir);
}

TEST(refuses_a_file_that_is_no_torchscript)
{
	char path[4096];

	snprintf(path, sizeof path, "%s/examples/digits/samples.json",
		 srcdir());
	check_refused(path);
	snprintf(path, sizeof path, "%s/examples/digits/digits.onnx",
		 srcdir());
	check_refused(path);
	check_refused(srcdir()); /* a directory */
}

int main(void)
{
	set_paths();
	RUN(exports_only_the_entry);
	RUN(table);
	RUN(describe_reads_the_archive_signature);
	RUN(reproduces_the_reference_logits);
	RUN(reproduces_them_optimized_for_inference);
	RUN(options_signature_overrides_the_archive);
	RUN(refuses_a_signature_that_does_not_fit);
	RUN(batch_of_8_equals_8_batches_of_1);
	RUN(batch_of_8_equals_8_batches_of_1_optimized);
	RUN(any_batch_size);
	RUN(infers_in_a_forked_child);
	RUN(refuses_a_wrong_input);
	RUN(refuses_unknown_options);
	RUN(refuses_a_missing_file);
	RUN(refuses_a_truncated_file);
	RUN(refuses_a_file_that_is_no_torchscript);
	return tap_done();
}
