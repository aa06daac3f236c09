/*
 * test_onnx_engines.c - the onnx plugin's two engines, XNNPACK and OpenCV
 * DNN, on whole models: digits (committed), and torchvision ResNet-18 and
 * MobileNetV2 with fixed random weights (made by examples/resnet18/export.py
 * and examples/mobilenetv2/export.py into the build tree when missing),
 * each against torch's logits and against each other; the engine choice
 * and what info() says about it; and the graphs an engine must refuse with
 * a message naming the op and the node, built here byte by byte.
 *
 * Tolerance (docs/backends.md): digits 1e-4 absolute; the 1000-class
 * models 1e-3 of the largest reference logit's magnitude (at least 1e-3).
 */
#include <dlfcn.h>
#include <errno.h>
#include <math.h>
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

static const cs_plugin *open_plugin(void)
{
	char path[4096];
	void *h, *sym;
	cs_plugin_entry_fn entry;

	snprintf(path, sizeof path, "%s/plugins/onnx/.libs/onnx.so",
		 builddir());
	if (!(h = dlopen(path, RTLD_NOW | RTLD_LOCAL))) {
		printf("#   dlopen: %s\n", dlerror());
		return NULL;
	}
	if (!(sym = dlsym(h, CS_PLUGIN_ENTRY_NAME)))
		return NULL;
	memcpy(&entry, &sym, sizeof entry);
	return entry();
}

static void host_log(void *ctx, int level, const char *msg)
{
	(void)ctx;
	printf("#   log[%d] %s\n", level, msg);
}

static const cs_host host = {
	CS_PLUGIN_ABI_VERSION, sizeof(cs_host), NULL, host_log,
};

static int load_threads(const cs_plugin *p, const char *path,
			const char *engine, int threads, void **model, char *err)
{
	char options[64];
	cs_model_spec spec = {
		sizeof spec, "test", path, srcdir(), options, threads,
	};

	snprintf(options, sizeof options, "{\"engine\":\"%s\"}", engine);
	err[0] = '\0';
	return p->load(&host, &spec, model, err, CS_ERROR_SIZE);
}

static int load(const cs_plugin *p, const char *path, const char *engine,
		void **model, char *err)
{
	return load_threads(p, path, engine, 1, model, err);
}

static void *blocks[64];
static size_t n_blocks;

static void *test_alloc(void *ctx, size_t size)
{
	void *p;

	(void)ctx;
	if (n_blocks == sizeof blocks / sizeof blocks[0])
		return NULL;
	if ((p = aligned_alloc(16, (size + 15) / 16 * 16)))
		blocks[n_blocks++] = p;
	return p;
}

static const cs_allocator allocator = { NULL, test_alloc };

static void alloc_reset(void)
{
	while (n_blocks)
		free(blocks[--n_blocks]);
}

/* Runs one FP32 input [n, shape...]; copies output 0 (k floats) to out. */
static int run(const cs_plugin *p, void *model, const char *in_name,
	       int32_t ndim, const int64_t *shape, const float *x,
	       const char *out_name, float *out, size_t k, char *err)
{
	cs_tensor in = { .name = in_name, .dtype = CS_FP32, .ndim = ndim,
			 .data = (void *)x };
	cs_tensor o = { .name = out_name };
	size_t n = 1;
	int rc;

	for (int32_t d = 0; d < ndim; d++) {
		in.shape[d] = shape[d];
		n *= (size_t)shape[d];
	}
	in.nbytes = n * sizeof(float);
	rc = p->infer(model, &in, 1, &o, 1, &allocator, err, CS_ERROR_SIZE);
	if (rc == CS_OK) {
		CHECK(o.dtype == CS_FP32);
		CHECK(o.nbytes == k * sizeof(float));
		if (o.nbytes == k * sizeof(float))
			memcpy(out, o.data, o.nbytes);
	}
	alloc_reset();
	return rc;
}

static double max_diff(const float *a, const float *b, size_t n)
{
	double d = 0;

	for (size_t i = 0; i < n; i++) {
		double e = fabs((double)a[i] - (double)b[i]);
		d = e > d || e != e ? e : d;
	}
	return d;
}

static char *info_of(const cs_plugin *p, void *model)
{
	const char *s = p->struct_size >= offsetof(cs_plugin, info) +
						  sizeof(p->info) && p->info
				? p->info(model) : NULL;
	return s ? strdup(s) : NULL;
}

/* ---------------------------------------------------------- digits */

TEST(digits_engines_agree_with_torch)
{
	const cs_plugin *p = open_plugin();
	char path[4096], err[CS_ERROR_SIZE];
	json_error_t jerr;
	json_t *s, *list;
	float x[32 * 64], ref[32 * 10], got[2][32 * 10];
	const char *engines[2] = {"xnnpack", "opencv"};

	snprintf(path, sizeof path, "%s/examples/digits/samples.json", srcdir());
	CHECK(p && (s = json_load_file(path, 0, &jerr)));
	if (!p || !s)
		return;
	list = json_object_get(s, "samples");
	CHECK(json_array_size(list) == 32);
	for (size_t i = 0; i < 32; i++) {
		json_t *e = json_array_get(list, i);
		for (size_t j = 0; j < 64; j++)
			x[i * 64 + j] = (float)json_number_value(json_array_get(
				json_object_get(e, "pixels"), j));
		for (size_t j = 0; j < 10; j++)
			ref[i * 10 + j] = (float)json_number_value(json_array_get(
				json_object_get(e, "logits"), j));
	}
	snprintf(path, sizeof path, "%s/examples/digits/digits.onnx", srcdir());
	for (int e = 0; e < 2; e++) {
		void *model = NULL;
		int64_t shape[4] = {32, 1, 8, 8};
		CHECK(load(p, path, engines[e], &model, err) == CS_OK);
		if (!model) {
			printf("#   %s\n", err);
			continue;
		}
		char *info = info_of(p, model);
		CHECK_HAS(info, engines[e]);
		free(info);
		CHECK(run(p, model, "image", 4, shape, x, "logits", got[e],
			  32 * 10, err) == CS_OK);
		double d = max_diff(got[e], ref, 32 * 10);
		printf("#   %s: worst difference from torch %.3g\n",
		       engines[e], d);
		CHECK(d <= 1e-4);
		p->unload(model);
	}
	CHECK(max_diff(got[0], got[1], 32 * 10) <= 1e-4);
	json_decref(s);
}

TEST(auto_picks_xnnpack_and_says_why)
{
	const cs_plugin *p = open_plugin();
	char path[4096], err[CS_ERROR_SIZE];
	void *model = NULL;

	snprintf(path, sizeof path, "%s/examples/digits/digits.onnx", srcdir());
	CHECK(p && load(p, path, "auto", &model, err) == CS_OK);
	if (!model)
		return;
	char *info = info_of(p, model);
	json_t *o = info ? json_loads(info, 0, NULL) : NULL;
	CHECK(o);
	CHECK_STR(json_string_value(json_object_get(o, "engine")), "xnnpack");
	CHECK_HAS(json_string_value(json_object_get(o, "reason")),
		  "every node");
	CHECK(json_is_true(json_object_get(o, "batching")));
	printf("#   info: %s\n", info);
	json_decref(o);
	free(info);
	p->unload(model);
}

TEST(refuses_an_unknown_engine)
{
	const cs_plugin *p = open_plugin();
	char path[4096], err[CS_ERROR_SIZE];
	void *model = NULL;

	snprintf(path, sizeof path, "%s/examples/digits/digits.onnx", srcdir());
	CHECK(p && load(p, path, "tpu", &model, err) == CS_EINVAL);
	CHECK_HAS(err, "'engine' must be");
	CHECK(!model);
}

/* ---------------------------------------------------- torchvision models */

/*
 * The directory of the generated example, made by its export.py when
 * missing; NULL (and a printed reason) when python3-torchvision is not
 * installed.
 */
static const char *generated(const char *name)
{
	static char dir[4096];
	char path[4200], cmd[8600];
	struct stat st;

	snprintf(dir, sizeof dir, "%s/tests/models", builddir());
	snprintf(path, sizeof path, "%s/%s.ref.json", dir, name);
	if (stat(path, &st) == 0)
		return dir;
	if (system("/usr/bin/python3 -c 'import torch, torchvision' "
		   ">/dev/null 2>&1") != 0) {
		printf("#   no python3-torchvision: cannot make %s\n", name);
		return NULL;
	}
	snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s/examples/%s/export.py' "
		 "--out '%s' >/dev/null 2>&1", srcdir(), name, dir);
	if (system(cmd) != 0) {
		printf("#   %s failed\n", cmd);
		return dir; /* the load below fails and says so */
	}
	return dir;
}

static float *read_f32(const char *path, size_t n)
{
	FILE *f = fopen(path, "rb");
	float *x = malloc(n * sizeof *x);

	if (!f || !x || fread(x, sizeof *x, n, f) != n) {
		printf("#   cannot read %zu floats from %s\n", n, path);
		free(x);
		x = NULL;
	}
	if (f)
		fclose(f);
	return x;
}

/* Runs name's two reference inputs on each engine, batch 2 and batch 1. */
/*
 * The manifest's threads on XNNPACK: the same answers on 2 threads as on
 * 1, also in a child forked after the parent ran (its pool's threads stay
 * behind in the parent; the child makes its own).
 */
TEST(xnnpack_threads_give_the_same_answers)
{
	const cs_plugin *p = open_plugin();
	char path[4096], err[CS_ERROR_SIZE];
	static float x[32 * 64], one[32 * 10], two[32 * 10], kid[32 * 10];
	int64_t shape[4] = {32, 1, 8, 8};
	void *m1 = NULL, *m2 = NULL;
	int status = -1;
	pid_t pid;

	if (!p)
		return;
	for (size_t i = 0; i < 32 * 64; i++)
		x[i] = (float)(i * 7 % 17);
	snprintf(path, sizeof path, "%s/examples/digits/digits.onnx", srcdir());
	CHECK(load_threads(p, path, "xnnpack", 1, &m1, err) == CS_OK);
	CHECK(load_threads(p, path, "xnnpack", 2, &m2, err) == CS_OK);
	if (!m1 || !m2) {
		printf("#   %s\n", err);
		goto out_unload;
	}
	CHECK(run(p, m1, "image", 4, shape, x, "logits", one, 32 * 10, err) == CS_OK);
	CHECK(run(p, m2, "image", 4, shape, x, "logits", two, 32 * 10, err) == CS_OK);
	printf("#   2 threads vs 1: %.3g\n", max_diff(one, two, 32 * 10));
	CHECK(max_diff(one, two, 32 * 10) <= 1e-6);
	fflush(stdout);
	if ((pid = fork()) == 0) {
		alarm(20); /* a child that waits for the parent's threads dies */
		if (run(p, m2, "image", 4, shape, x, "logits", kid, 32 * 10,
			err) != CS_OK)
			_exit(2);
		_exit(max_diff(one, kid, 32 * 10) <= 1e-6 ? 0 : 3);
	}
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
	printf("#   forked child: status %d\n", status);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
out_unload:
	if (m1)
		p->unload(m1);
	if (m2)
		p->unload(m2);
}

static void check_vision(const char *name, bool *skipped)
{
	const cs_plugin *p = open_plugin();
	const char *dir = generated(name);
	const char *engines[2] = {"xnnpack", "opencv"};
	char path[4300], err[CS_ERROR_SIZE];
	enum { N = 2, K = 1000, PIX = 3 * 224 * 224 };
	static float ref[N * K], got[2][N * K], one[K];
	json_error_t jerr;
	json_t *r;
	float *x;

	*skipped = !dir;
	if (!dir || !p)
		return;
	snprintf(path, sizeof path, "%s/%s.ref.json", dir, name);
	CHECK((r = json_load_file(path, 0, &jerr)));
	if (!r)
		return;
	double big = 1e-3;
	for (size_t i = 0; i < N; i++)
		for (size_t j = 0; j < K; j++) {
			ref[i * K + j] = (float)json_number_value(json_array_get(
				json_array_get(json_object_get(r, "logits"), i), j));
			big = fabs(ref[i * K + j]) > big ? fabs(ref[i * K + j])
							 : big;
		}
	json_decref(r);
	snprintf(path, sizeof path, "%s/%s.input.f32", dir, name);
	CHECK((x = read_f32(path, (size_t)N * PIX)));
	if (!x)
		return;
	snprintf(path, sizeof path, "%s/%s.onnx", dir, name);
	for (int e = 0; e < 2; e++) {
		void *model = NULL;
		int64_t shape[4] = {N, 3, 224, 224};
		CHECK(load(p, path, engines[e], &model, err) == CS_OK);
		if (!model) {
			printf("#   %s\n", err);
			continue;
		}
		CHECK(run(p, model, "image", 4, shape, x, "logits", got[e],
			  N * K, err) == CS_OK);
		double d = max_diff(got[e], ref, N * K);
		printf("#   %s on %s, batch 2: worst difference from torch "
		       "%.3g (largest logit %.3g)\n", name, engines[e], d, big);
		CHECK(d <= 1e-3 * big);
		shape[0] = 1;
		CHECK(run(p, model, "image", 4, shape, x + PIX, "logits", one,
			  K, err) == CS_OK);
		d = max_diff(one, got[e] + K, K);
		printf("#   %s on %s, batch 1 vs row 2 of batch 2: %.3g\n",
		       name, engines[e], d);
		CHECK(d <= 1e-3 * big);
		p->unload(model);
	}
	CHECK(max_diff(got[0], got[1], N * K) <= 1e-3 * big);
	free(x);
}

TEST(resnet18_engines_agree_with_torch)
{
	bool skipped;

	check_vision("resnet18", &skipped);
	if (skipped)
		exit(TAP_SKIP);
}

TEST(mobilenetv2_engines_agree_with_torch)
{
	bool skipped;

	check_vision("mobilenetv2", &skipped);
	if (skipped)
		exit(TAP_SKIP);
}

/* ------------------------------------------------ graphs built by hand */

/* A growing protobuf message. */
typedef struct pbw {
	uint8_t b[4096];
	size_t n;
} pbw;

static void w_varint(pbw *w, uint64_t v)
{
	do {
		w->b[w->n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		v >>= 7;
	} while (v);
}

static void w_int(pbw *w, uint32_t field, uint64_t v)
{
	w_varint(w, (uint64_t)field << 3);
	w_varint(w, v);
}

static void w_bytes(pbw *w, uint32_t field, const void *p, size_t n)
{
	w_varint(w, (uint64_t)field << 3 | 2);
	w_varint(w, n);
	memcpy(w->b + w->n, p, n);
	w->n += n;
}

static void w_str(pbw *w, uint32_t field, const char *s)
{
	w_bytes(w, field, s, strlen(s));
}

static void w_msg(pbw *w, uint32_t field, const pbw *m)
{
	w_bytes(w, field, m->b, m->n);
}

/* A ValueInfoProto: FP32 with dims (-1: a dim_param). */
static void w_value(pbw *graph, uint32_t field, const char *name,
		    int ndim, const int64_t *dims)
{
	pbw vi = {0}, type = {0}, tt = {0}, shape = {0};

	for (int d = 0; d < ndim; d++) {
		pbw dim = {0};
		if (dims[d] < 0)
			w_str(&dim, 2, "n");
		else
			w_int(&dim, 1, (uint64_t)dims[d]);
		w_msg(&shape, 1, &dim);
	}
	w_int(&tt, 1, 1);
	w_msg(&tt, 2, &shape);
	w_msg(&type, 1, &tt);
	w_str(&vi, 1, name);
	w_msg(&vi, 2, &type);
	w_msg(graph, field, &vi);
}

/*
 * Writes a model with one node op(x[, w]) -> y, x of dims xd, and when
 * w_dim > 0 an initializer w of dims {w_dim} holding w_len bytes of raw data.
 */
static void write_model(const char *path, const char *op, const char *node,
			int ndim, const int64_t *xd, int64_t w_dim,
			size_t w_len)
{
	pbw model = {0}, graph = {0}, nd = {0}, opset = {0};
	static const float ones[16] = {1, 1, 1, 1, 1, 1, 1, 1,
				       1, 1, 1, 1, 1, 1, 1, 1};

	w_str(&nd, 1, "x");
	if (w_dim > 0)
		w_str(&nd, 1, "w");
	w_str(&nd, 2, "y");
	w_str(&nd, 3, node);
	w_str(&nd, 4, op);
	w_msg(&graph, 1, &nd);
	w_str(&graph, 2, "hand-made");
	if (w_dim > 0) {
		pbw t = {0};
		w_int(&t, 1, (uint64_t)w_dim);
		w_int(&t, 2, 1);
		w_str(&t, 8, "w");
		w_bytes(&t, 9, ones, w_len);
		w_msg(&graph, 5, &t);
	}
	w_value(&graph, 11, "x", ndim, xd);
	w_value(&graph, 12, "y", ndim, xd);
	w_int(&model, 1, 7); /* ir_version */
	w_int(&opset, 2, 13);
	w_msg(&model, 8, &opset);
	w_msg(&model, 7, &graph);
	FILE *f = fopen(path, "wb");
	CHECK(f && fwrite(model.b, 1, model.n, f) == model.n);
	if (f)
		fclose(f);
}

/*
 * A Resize(x, "", scales) -> y node of dims xd to yd, scales an initializer
 * of 4 floats, with the string attribute mode.
 */
static void write_resize(const char *path, const char *node, const char *mode,
			 const int64_t *xd, const int64_t *yd,
			 const float scales[4])
{
	pbw model = {0}, graph = {0}, nd = {0}, opset = {0}, attr = {0}, t = {0};

	w_str(&nd, 1, "x");
	w_str(&nd, 1, "");
	w_str(&nd, 1, "scales");
	w_str(&nd, 2, "y");
	w_str(&nd, 3, node);
	w_str(&nd, 4, "Resize");
	w_str(&attr, 1, "mode");
	w_str(&attr, 4, mode);
	w_int(&attr, 20, 3); /* STRING */
	w_msg(&nd, 5, &attr);
	w_msg(&graph, 1, &nd);
	w_str(&graph, 2, "hand-made");
	w_int(&t, 1, 4);
	w_int(&t, 2, 1);
	w_str(&t, 8, "scales");
	w_bytes(&t, 9, scales, 4 * sizeof *scales);
	w_msg(&graph, 5, &t);
	w_value(&graph, 11, "x", 4, xd);
	w_value(&graph, 12, "y", 4, yd);
	w_int(&model, 1, 7); /* ir_version */
	w_int(&opset, 2, 13);
	w_msg(&model, 8, &opset);
	w_msg(&model, 7, &graph);
	FILE *f = fopen(path, "wb");
	CHECK(f && fwrite(model.b, 1, model.n, f) == model.n);
	if (f)
		fclose(f);
}

static char tmpdir[64];

static const char *tmp_model(const char *name)
{
	static char path[128];

	snprintf(path, sizeof path, "%s/%s", tmpdir, name);
	return path;
}

TEST(a_hand_made_graph_runs_on_xnnpack)
{
	const cs_plugin *p = open_plugin();
	const char *path = tmp_model("add.onnx");
	int64_t dims[2] = {-1, 4}, shape[2] = {3, 4};
	char err[CS_ERROR_SIZE];
	float x[12], y[12];
	void *model = NULL;

	write_model(path, "Add", "add_1", 2, dims, 4, 16);
	CHECK(p && load(p, path, "xnnpack", &model, err) == CS_OK);
	if (!model) {
		printf("#   %s\n", err);
		return;
	}
	for (int i = 0; i < 12; i++)
		x[i] = (float)i - 5.5f;
	CHECK(run(p, model, "x", 2, shape, x, "y", y, 12, err) == CS_OK);
	for (int i = 0; i < 12; i++)
		CHECK(y[i] == x[i] + 1.0f);
	p->unload(model);
}

TEST(forced_xnnpack_names_the_op_and_the_node)
{
	const cs_plugin *p = open_plugin();
	const char *path = tmp_model("exp.onnx");
	int64_t dims[2] = {-1, 4};
	char err[CS_ERROR_SIZE];
	void *model = NULL;

	write_model(path, "Exp", "exp_node", 2, dims, 0, 0);
	CHECK(p && load(p, path, "xnnpack", &model, err) == CS_EUNSUPPORTED);
	CHECK(!model);
	CHECK_HAS(err, "op 'Exp'");
	CHECK_HAS(err, "node 'exp_node'");
	CHECK_HAS(err, "xnnpack");
	printf("#   refused: %s\n", err);
	/* auto: OpenCV runs it, and info says why */
	CHECK(load(p, path, "auto", &model, err) == CS_OK);
	if (!model) {
		printf("#   auto: %s\n", err);
		return;
	}
	char *info = info_of(p, model);
	CHECK_HAS(info, "\"engine\":\"opencv\"");
	CHECK_HAS(info, "op 'Exp' (node 'exp_node')");
	printf("#   info: %s\n", info);
	free(info);
	p->unload(model);
}

TEST(resize_nearest_runs_on_xnnpack)
{
	const cs_plugin *p = open_plugin();
	const char *path = tmp_model("resize.onnx");
	int64_t xd[4] = {1, 2, 2, 2}, yd[4] = {1, 2, 4, 6};
	static const float scales[4] = {1, 1, 2, 3};
	int64_t shape[4] = {1, 2, 2, 2};
	char err[CS_ERROR_SIZE];
	float x[8], y[48];
	void *model = NULL;

	write_resize(path, "up_1", "nearest", xd, yd, scales);
	CHECK(p && load(p, path, "xnnpack", &model, err) == CS_OK);
	if (!model) {
		printf("#   %s\n", err);
		return;
	}
	for (int i = 0; i < 8; i++)
		x[i] = (float)i;
	CHECK(run(p, model, "x", 4, shape, x, "y", y, 48, err) == CS_OK);
	/* half_pixel, round_prefer_floor: output row r is input row r / 2 */
	for (int c = 0; c < 2; c++)
		for (int r = 0; r < 4; r++)
			for (int q = 0; q < 6; q++)
				CHECK(y[(c * 4 + r) * 6 + q] ==
				      x[(c * 2 + r / 2) * 2 + q / 3]);
	p->unload(model);
}

TEST(forced_xnnpack_names_the_resize_mode_it_refuses)
{
	const cs_plugin *p = open_plugin();
	const char *path = tmp_model("cubic.onnx");
	int64_t xd[4] = {1, 1, 2, 2}, yd[4] = {1, 1, 4, 4};
	static const float scales[4] = {1, 1, 2, 2};
	char err[CS_ERROR_SIZE];
	void *model = NULL;

	write_resize(path, "cubic_1", "cubic", xd, yd, scales);
	CHECK(p && load(p, path, "xnnpack", &model, err) == CS_EUNSUPPORTED);
	CHECK(!model);
	CHECK_HAS(err, "op 'Resize'");
	CHECK_HAS(err, "node 'cubic_1'");
	CHECK_HAS(err, "mode 'cubic'");
	printf("#   refused: %s\n", err);
}

TEST(forced_xnnpack_refuses_a_dynamic_shape)
{
	const cs_plugin *p = open_plugin();
	const char *path = tmp_model("dynamic.onnx");
	int64_t dims[2] = {-1, -1};
	char err[CS_ERROR_SIZE];
	void *model = NULL;

	write_model(path, "Relu", "relu_1", 2, dims, 0, 0);
	CHECK(p && load(p, path, "xnnpack", &model, err) == CS_EUNSUPPORTED);
	CHECK(!model);
	CHECK_HAS(err, "input 'x' has the dynamic dimension 1");
	printf("#   refused: %s\n", err);
}

TEST(refuses_a_corrupted_initializer)
{
	const cs_plugin *p = open_plugin();
	const char *path = tmp_model("corrupt.onnx");
	int64_t dims[2] = {-1, 4};
	char err[CS_ERROR_SIZE];
	void *model = NULL;

	write_model(path, "Add", "add_1", 2, dims, 4, 12); /* 3 of 4 floats */
	for (int e = 0; e < 2; e++) {
		CHECK(p && load(p, path, e ? "auto" : "xnnpack", &model,
				err) == CS_EFORMAT);
		CHECK(!model);
		CHECK_HAS(err, "not a valid ONNX model: tensor 'w': 12 bytes "
			  "of raw_data for 4 elements (16 expected)");
		printf("#   refused: %s\n", err);
	}
}

TEST(forced_opencv_names_the_engine)
{
	const cs_plugin *p = open_plugin();
	const char *path = tmp_model("topk.onnx");
	int64_t dims[2] = {-1, 4};
	char err[CS_ERROR_SIZE];
	void *model = NULL;

	write_model(path, "NoSuchOp", "odd_node", 2, dims, 0, 0);
	CHECK(p && load(p, path, "opencv", &model, err) != CS_OK);
	CHECK(!model);
	CHECK_HAS(err, "opencv engine");
	printf("#   refused: %s\n", err);
}

int main(void)
{
	strcpy(tmpdir, "/tmp/cs-test-engines-XXXXXX");
	if (!mkdtemp(tmpdir)) {
		printf("Bail out! mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	RUN(digits_engines_agree_with_torch);
	RUN(xnnpack_threads_give_the_same_answers);
	RUN(auto_picks_xnnpack_and_says_why);
	RUN(refuses_an_unknown_engine);
	RUN(resnet18_engines_agree_with_torch);
	RUN(mobilenetv2_engines_agree_with_torch);
	RUN(a_hand_made_graph_runs_on_xnnpack);
	RUN(forced_xnnpack_names_the_op_and_the_node);
	RUN(resize_nearest_runs_on_xnnpack);
	RUN(forced_xnnpack_names_the_resize_mode_it_refuses);
	RUN(forced_xnnpack_refuses_a_dynamic_shape);
	RUN(refuses_a_corrupted_initializer);
	RUN(forced_opencv_names_the_engine);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		printf("# cannot remove %s\n", tmpdir);
	return tap_done();
}
