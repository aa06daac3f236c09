/*
 * test_onnx.c - the onnx plugin, dlopen()ed as the runtime does, on the
 * digits example: reference outputs, batching, the ABI surface, and the
 * files it must refuse.
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

#define BACKEND "onnx"
#define MODEL_FILE "digits.onnx"
#include "backend_test.h"

TEST(describe_reads_the_graph)
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

TEST(reproduces_the_reference_logits)
{
	const cs_plugin *p = open_plugin();
	json_t *list = samples();
	char err[CS_ERROR_SIZE];
	void *model = NULL;
	double worst = 0;

	CHECK(p && list && json_array_size(list) >= 8);
	if (!p || !list || load(p, model_path, "{}", 1, &model, err) != CS_OK) {
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

TEST(batch_of_8_equals_8_batches_of_1)
{
	const cs_plugin *p = open_plugin();
	json_t *list = samples();
	char err[CS_ERROR_SIZE];
	void *model = NULL;
	float one[8][N_CLASSES], eight[8 * N_CLASSES];

	if (!p || !list || load(p, model_path, "{}", 1, &model, err) != CS_OK) {
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
	for (size_t i = 0; i < 8; i++)
		CHECK(memcmp(one[i], eight + i * N_CLASSES,
			     sizeof one[i]) == 0);
	/* and back to 1: the net must not keep the batch of the last call */
	CHECK(run(p, model, x8, 1, eight, err) == CS_OK);
	CHECK(memcmp(one[0], eight, sizeof one[0]) == 0);
	free(x8);
	p->unload(model);
	json_decref(list);
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

TEST(infers_in_a_forked_child)
{
	const cs_plugin *p = open_plugin();
	json_t *list = samples();
	char err[CS_ERROR_SIZE];
	void *model = NULL;
	float ref[8 * N_CLASSES], got[8 * N_CLASSES];
	int status = 0;
	pid_t pid;

	/* load and warm up with 2 threads, then fork: the prefork case */
	if (!p || !list || load(p, model_path, "{}", 2, &model, err) != CS_OK) {
		CHECK(0);
		return;
	}
	float *x = pixels(list, 0, 8);
	CHECK(run(p, model, x, 8, ref, err) == CS_OK);
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		alarm(60); /* a hung thread pool fails the test, not the run */
		if (run(p, model, x, 8, got, err) != CS_OK) {
			printf("#   in the child: %s\n", err);
			_exit(1);
		}
		if (memcmp(ref, got, sizeof ref) != 0) {
			printf("#   the child's logits differ\n");
			_exit(1);
		}
		_exit(0);
	}
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
	if (WIFSIGNALED(status))
		printf("#   the child was killed by signal %d\n",
		       WTERMSIG(status));
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
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

	CHECK(p && load(p, model_path, "{\"optimize\": true}", 1, &model,
			err) == CS_EINVAL);
	CHECK_HAS(err, "optimize");
	CHECK(p && load(p, model_path, "[1]", 1, &model, err) == CS_EINVAL);
	CHECK(model == NULL);
}

TEST(refuses_a_missing_file)
{
	check_refused("/nonexistent/cubeserve/digits.onnx");
}

TEST(refuses_a_truncated_file)
{
	char dir[] = "/tmp/cs-test-onnx-XXXXXX", path[256];
	struct stat st;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof path, "%s/truncated.onnx", dir);
	CHECK(stat(model_path, &st) == 0);
	CHECK(copy_file(model_path, path, (long)st.st_size / 2) == 0);
	check_refused(path);
	/* cut inside the graph header as well */
	CHECK(copy_file(model_path, path, 100) == 0);
	check_refused(path);
	unlink(path);
	rmdir(dir);
}

TEST(refuses_a_file_that_is_no_onnx_model)
{
	char path[4096];

	snprintf(path, sizeof path, "%s/examples/digits/samples.json",
		 srcdir());
	check_refused(path);
	snprintf(path, sizeof path, "%s/examples/digits/digits.pt", srcdir());
	check_refused(path);
}

int main(void)
{
	set_paths();
	RUN(exports_only_the_entry);
	RUN(table);
	RUN(describe_reads_the_graph);
	RUN(reproduces_the_reference_logits);
	RUN(batch_of_8_equals_8_batches_of_1);
	RUN(any_batch_size);
	RUN(infers_in_a_forked_child);
	RUN(refuses_a_wrong_input);
	RUN(refuses_unknown_options);
	RUN(refuses_a_missing_file);
	RUN(refuses_a_truncated_file);
	RUN(refuses_a_file_that_is_no_onnx_model);
	return tap_done();
}
