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

#define BACKEND "torch"
#define MODEL_FILE "digits.pt"
#include "backend_test.h"

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
	REQUIRE(model != NULL);
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
