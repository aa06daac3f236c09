/*
 * test_onnx_nodes.c - the ONNX backend test data Debian packages
 * (libonnx-testdata: data/node/, one op per model, and data/pytorch-converted/,
 * small torch modules) run through the onnx plugin on each engine, forced:
 * every model loads or is refused, and what runs is compared with the
 * expected outputs of test_data_set_0. Each model runs in its own process,
 * so a crash in a library is counted, not fatal.
 *
 * Prints the pass count per engine and suite. Fails when the xnnpack engine
 * accepts a model and then computes something else (an engine must refuse
 * what it cannot do), or when one of the listed tests of the ops the
 * engine supports is refused or fails. Skipped when the test data is not
 * installed (apt-get install libonnx-testdata).
 *
 * Tolerance: |got - want| <= 1e-4 + 1e-3 |want| per element (the ONNX
 * backend tests use rtol 1e-3), NaN equal to NaN.
 */
#include <dirent.h>
#include <stdbool.h>
#include <fcntl.h>
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

#include <cubeserve/plugin.h>

#include "onnx_graph.h"
#include "tap.h"

#define DEFAULT_DATA "/usr/share/libonnx-testdata/data"

/* What one model did on one engine (the child's exit status). */
enum { R_PASS = 0, R_WRONG = 1, R_REFUSED = 2, R_RUN_ERROR = 3,
       R_HARNESS = 4, R_CRASH = 5, R_N };
static const char *const r_names[R_N] = {
	"pass", "wrong", "refused", "run error", "harness", "crash",
};

static const char *const engines[2] = {"xnnpack", "opencv"};
static const char *const suites[2] = {"node", "pytorch-converted"};

/*
 * Tests of the ops the xnnpack engine supports that must load and pass on
 * it, as given or (weights, shapes, bounds) frozen into initializers
 * (docs/backends.md lists the ops and attributes).
 */
static const char *const must_pass[] = {
	"node/test_relu", "node/test_leakyrelu", "node/test_leakyrelu_default",
	"node/test_sigmoid", "node/test_tanh", "node/test_clip",
	"node/test_clip_default_min", "node/test_clip_splitbounds",
	"node/test_add", "node/test_add_bcast", "node/test_sub",
	"node/test_sub_bcast", "node/test_mul", "node/test_mul_bcast",
	"node/test_div", "node/test_div_bcast",
	"node/test_conv_with_strides_padding",
	"node/test_conv_with_strides_and_asymmetric_padding",
	"node/test_conv_with_autopad_same", "node/test_basic_conv_with_padding",
	"node/test_maxpool_2d_default", "node/test_maxpool_2d_pads",
	"node/test_maxpool_2d_strides", "node/test_maxpool_2d_ceil",
	"node/test_maxpool_2d_dilations", "node/test_maxpool_2d_same_upper",
	"node/test_averagepool_2d_default", "node/test_averagepool_2d_pads",
	"node/test_averagepool_2d_pads_count_include_pad",
	"node/test_averagepool_2d_ceil", "node/test_averagepool_2d_same_lower",
	"node/test_globalaveragepool", "node/test_gemm_default_vector_bias",
	"node/test_gemm_transposeB", "node/test_gemm_alpha",
	"node/test_gemm_beta", "node/test_matmul_2d", "node/test_flatten_axis1",
	"node/test_flatten_default_axis", "node/test_reshape_negative_dim",
	"node/test_reshape_zero_dim", "node/test_softmax_default_axis",
	"node/test_softmax_axis_2", "node/test_batchnorm_example",
	"node/test_batchnorm_epsilon", "node/test_constant_pad",
	"node/test_concat_2d_axis_0", "node/test_concat_3d_axis_1",
	"node/test_squeeze", "node/test_unsqueeze_axis_3",
	"node/test_dropout_default", "node/test_identity",
	"pytorch-converted/test_Conv2d", "pytorch-converted/test_Conv2d_depthwise",
	"pytorch-converted/test_Conv2d_groups", "pytorch-converted/test_Conv2d_dilated",
	"pytorch-converted/test_Linear", "pytorch-converted/test_ReLU",
	"pytorch-converted/test_MaxPool2d", "pytorch-converted/test_AvgPool2d",
	"pytorch-converted/test_BatchNorm2d_eval", "pytorch-converted/test_ZeroPad2d",
	"pytorch-converted/test_Softmax",
	"node/test_elu", "node/test_hardswish", "node/test_abs", "node/test_neg",
	"node/test_floor", "node/test_ceil", "node/test_sqrt",
	"node/test_max_two_inputs", "node/test_min_two_inputs",
	"node/test_prelu_broadcast", "node/test_globalmaxpool",
	"node/test_transpose_default", "node/test_transpose_all_permutations_3",
	"node/test_maxpool_1d_default", "node/test_averagepool_1d_default",
	"pytorch-converted/test_Conv1d", "pytorch-converted/test_Conv1d_groups",
	"pytorch-converted/test_Conv1d_stride", "pytorch-converted/test_MaxPool1d",
	"node/test_convtranspose", "node/test_convtranspose_1d",
	"node/test_convtranspose_autopad_same",
	"node/test_convtranspose_dilations",
	"node/test_convtranspose_kernel_shape",
	"node/test_convtranspose_output_shape", "node/test_convtranspose_pad",
	"node/test_convtranspose_pads", "node/test_convtranspose_with_kernel",
	"pytorch-converted/test_ConvTranspose2d",
	"pytorch-converted/test_ConvTranspose2d_no_bias",
	"node/test_resize_upsample_scales_linear",
	"node/test_resize_upsample_scales_linear_align_corners",
	"node/test_resize_upsample_scales_nearest",
	"node/test_resize_downsample_scales_nearest",
	"node/test_resize_upsample_sizes_nearest",
	"node/test_resize_downsample_sizes_nearest",
	"node/test_resize_upsample_sizes_nearest_ceil_half_pixel",
	"node/test_resize_upsample_sizes_nearest_floor_align_corners",
	"node/test_resize_upsample_sizes_nearest_round_prefer_ceil_asymmetric",
	"node/test_resize_downsample_sizes_nearest_tf_half_pixel_for_nn",
	"node/test_upsample_nearest",
	NULL,
};

static const cs_plugin *plugin;
static char data_dir[4096];

static const cs_plugin *open_plugin(void)
{
	char path[4096];
	const char *b = getenv("CS_TOP_BUILDDIR");
	void *h, *sym;
	cs_plugin_entry_fn entry;

	snprintf(path, sizeof path, "%s/plugins/onnx/.libs/onnx.so",
		 b ? b : ".");
	if (!(h = dlopen(path, RTLD_NOW | RTLD_LOCAL))) {
		printf("#   dlopen: %s\n", dlerror());
		return NULL;
	}
	if (!(sym = dlsym(h, CS_PLUGIN_ENTRY_NAME)))
		return NULL;
	memcpy(&entry, &sym, sizeof entry);
	return entry();
}

static void quiet_log(void *ctx, int level, const char *msg)
{
	(void)ctx;
	(void)level;
	(void)msg;
}

static const cs_host host = {
	CS_PLUGIN_ABI_VERSION, sizeof(cs_host), NULL, quiet_log,
};

static void *alloc(void *ctx, size_t size)
{
	(void)ctx;
	return aligned_alloc(16, (size + 15) / 16 * 16); /* the child exits */
}

static const cs_allocator allocator = { NULL, alloc };

static int read_pb(const char *path, cs__onnx_tensor *t)
{
	char err[CS_ERROR_SIZE];
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long n;
	int rc = -1;

	if (!f)
		return -1;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 &&
	    fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n + 1))) {
		if (fread(buf, 1, (size_t)n, f) == (size_t)n)
			rc = cs__onnx_tensor_read(buf, (size_t)n, t, err,
						  sizeof err);
		free(buf);
	}
	fclose(f);
	return rc == CS_OK ? 0 : -1;
}

static size_t dsize(cs_dtype t)
{
	switch (t) {
	case CS_BOOL: case CS_UINT8: case CS_INT8: return 1;
	case CS_UINT16: case CS_INT16: return 2;
	case CS_FP32: case CS_INT32: case CS_UINT32: return 4;
	case CS_INT64: case CS_UINT64: case CS_FP64: return 8;
	default: return 0;
	}
}

/* Fills a tensor of dtype from a read TensorProto. */
static int to_tensor(const cs__onnx_tensor *p, cs_dtype dt, cs_tensor *t)
{
	size_t es = dsize(dt);

	if (!es)
		return -1;
	t->dtype = dt;
	t->ndim = p->ndim;
	memcpy(t->shape, p->dims, sizeof t->shape);
	t->nbytes = p->n * es;
	if (!(t->data = aligned_alloc(16, (t->nbytes + 16) / 16 * 16)))
		return -1;
	for (size_t k = 0; k < p->n; k++) {
		double v = p->f ? (double)p->f[k] : (double)p->i[k];
		switch (dt) {
		case CS_FP32: ((float *)t->data)[k] = (float)v; break;
		case CS_FP64: ((double *)t->data)[k] = v; break;
		case CS_INT64: ((int64_t *)t->data)[k] = p->i ? p->i[k] : (int64_t)v; break;
		case CS_INT32: ((int32_t *)t->data)[k] = (int32_t)v; break;
		case CS_UINT64: ((uint64_t *)t->data)[k] = (uint64_t)(p->i ? p->i[k] : (int64_t)v); break;
		case CS_UINT32: ((uint32_t *)t->data)[k] = (uint32_t)v; break;
		case CS_INT16: ((int16_t *)t->data)[k] = (int16_t)v; break;
		case CS_UINT16: ((uint16_t *)t->data)[k] = (uint16_t)v; break;
		case CS_INT8: ((int8_t *)t->data)[k] = (int8_t)v; break;
		default: ((uint8_t *)t->data)[k] = (uint8_t)v; break;
		}
	}
	return 0;
}

static double elem(const cs_tensor *t, size_t k)
{
	switch (t->dtype) {
	case CS_FP32: return ((const float *)t->data)[k];
	case CS_FP64: return ((const double *)t->data)[k];
	case CS_INT64: return (double)((const int64_t *)t->data)[k];
	case CS_INT32: return ((const int32_t *)t->data)[k];
	case CS_UINT64: return (double)((const uint64_t *)t->data)[k];
	case CS_UINT32: return ((const uint32_t *)t->data)[k];
	case CS_INT16: return ((const int16_t *)t->data)[k];
	case CS_UINT16: return ((const uint16_t *)t->data)[k];
	case CS_INT8: return ((const int8_t *)t->data)[k];
	default: return ((const uint8_t *)t->data)[k];
	}
}

static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	long n;

	if (f && fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 &&
	    fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n + 1)) &&
	    fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	if (f)
		fclose(f);
	*len = buf ? (size_t)n : 0;
	return buf;
}

static uint64_t get_varint(const uint8_t **p, const uint8_t *end, bool *bad)
{
	uint64_t v = 0;

	for (int sh = 0; sh < 64 && *p < end; sh += 7) {
		uint8_t b = *(*p)++;
		v |= (uint64_t)(b & 0x7f) << sh;
		if (!(b & 0x80))
			return v;
	}
	*bad = true;
	return 0;
}

static size_t put_varint(uint8_t *o, uint64_t v)
{
	size_t n = 0;

	do {
		o[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		v >>= 7;
	} while (v);
	return n;
}

/*
 * The model with graph inputs 1.. made initializers from data set 0 (their
 * .pb files are TensorProtos that carry the input's name): what an engine
 * that needs constant weights can run. Returns the new file's path.
 */
static int freeze(const char *dir, size_t n_inputs, char *out, size_t outlen)
{
	char path[4700];
	size_t len, glen = 0, extra = 0;
	uint8_t *m = NULL, *pbs[16] = {0}, *o = NULL;
	size_t pblen[16];
	const uint8_t *graph = NULL;
	bool bad = false;
	int rc = -1;

	snprintf(path, sizeof path, "%s/model.onnx", dir);
	if (!(m = slurp(path, &len)) || n_inputs > 16)
		goto out_free;
	for (size_t k = 1; k < n_inputs; k++) {
		snprintf(path, sizeof path, "%s/test_data_set_0/input_%zu.pb",
			 dir, k);
		if (!(pbs[k] = slurp(path, &pblen[k])))
			goto out_free;
		extra += pblen[k] + 11;
	}
	if (!(o = malloc(len + extra + 16)))
		goto out_free;
	size_t on = 0;
	for (const uint8_t *p = m, *end = m + len; p < end && !bad;) {
		const uint8_t *start = p;
		uint64_t key = get_varint(&p, end, &bad), n = 0;
		switch (key & 7) {
		case 0: get_varint(&p, end, &bad); break;
		case 1: p += 8; break;
		case 5: p += 4; break;
		case 2:
			n = get_varint(&p, end, &bad);
			if (n > (uint64_t)(end - p))
				bad = true;
			else if (key == (7 << 3 | 2)) {
				graph = p;
				glen = (size_t)n;
				p += n;
				continue; /* written last */
			} else
				p += n;
			break;
		default: bad = true;
		}
		if (p > end)
			bad = true;
		if (!bad) {
			memcpy(o + on, start, (size_t)(p - start));
			on += (size_t)(p - start);
		}
	}
	if (bad || !graph)
		goto out_free;
	size_t total = glen;
	for (size_t k = 1; k < n_inputs; k++) {
		uint8_t tmp[10];
		total += 1 + put_varint(tmp, pblen[k]) + pblen[k];
	}
	on += put_varint(o + on, 7 << 3 | 2);
	on += put_varint(o + on, total);
	memcpy(o + on, graph, glen);
	on += glen;
	for (size_t k = 1; k < n_inputs; k++) {
		o[on++] = 5 << 3 | 2;
		on += put_varint(o + on, pblen[k]);
		memcpy(o + on, pbs[k], pblen[k]);
		on += pblen[k];
	}
	snprintf(out, outlen, "/tmp/cs-test-node-%d.onnx", (int)getpid());
	FILE *f = fopen(out, "wb");
	if (f && fwrite(o, 1, on, f) == on && fclose(f) == 0)
		rc = 0;
	else if (f)
		fclose(f);
out_free:
	free(m);
	free(o);
	for (size_t k = 0; k < 16; k++)
		free(pbs[k]);
	return rc;
}

/* The number of inputs data set 0 has. */
static size_t count_inputs(const char *dir)
{
	char path[4700];
	struct stat st;
	size_t n = 0;

	for (;; n++) {
		snprintf(path, sizeof path, "%s/test_data_set_0/input_%zu.pb",
			 dir, n);
		if (stat(path, &st) != 0)
			return n;
	}
}

/*
 * The child: loads dir/model.onnx on engine (with inputs 1.. frozen into
 * initializers when frozen is set), runs data set 0.
 */
static int run_one(const char *dir, const char *engine, bool frozen)
{
	char path[4700], err[CS_ERROR_SIZE], options[64];
	const cs_io_desc *di, *dout;
	size_t ni, no;
	void *model = NULL;
	cs_tensor in[16], out[16];
	int rc;

	snprintf(path, sizeof path, "%s/model.onnx", dir);
	size_t n_data = count_inputs(dir);
	if (frozen && (n_data < 2 || freeze(dir, n_data, path, sizeof path)))
		return R_REFUSED; /* nothing to freeze, or cannot */
	snprintf(options, sizeof options, "{\"engine\":\"%s\"}", engine);
	cs_model_spec spec = { sizeof spec, "node", path, dir, options, 1 };
	rc = plugin->load(&host, &spec, &model, err, sizeof err);
	if (frozen)
		unlink(path);
	if (rc != CS_OK) {
		if (getenv("CS_NODE_WHY")) /* for a person reading the log */
			printf("#   %s on %s: %s\n", dir, engine, err);
		return R_REFUSED;
	}
	if (plugin->describe(model, &di, &ni, &dout, &no, err, sizeof err) ||
	    ni > 16 || no > 16)
		return R_HARNESS;
	memset(in, 0, sizeof in);
	memset(out, 0, sizeof out);
	for (size_t k = 0; k < ni; k++) {
		cs__onnx_tensor t;
		snprintf(path, sizeof path, "%s/test_data_set_0/input_%zu.pb",
			 dir, k);
		if (read_pb(path, &t) || to_tensor(&t, di[k].dtype, &in[k]))
			return R_HARNESS;
		in[k].name = di[k].name;
		cs__onnx_tensor_clear(&t);
	}
	for (size_t k = 0; k < no; k++)
		out[k].name = dout[k].name;
	rc = plugin->infer(model, in, ni, out, no, &allocator, err, sizeof err);
	if (rc != CS_OK)
		return R_RUN_ERROR;
	for (size_t k = 0; k < no; k++) {
		cs__onnx_tensor t;
		snprintf(path, sizeof path, "%s/test_data_set_0/output_%zu.pb",
			 dir, k);
		if (read_pb(path, &t))
			return R_HARNESS;
		size_t n = out[k].nbytes / (dsize(out[k].dtype) ? dsize(out[k].dtype) : 1);
		if (n != t.n)
			return R_WRONG;
		for (size_t j = 0; j < n; j++) {
			double want = t.f ? (double)t.f[j] : (double)t.i[j];
			double got = elem(&out[k], j);
			if (isnan(want) && isnan(got))
				continue;
			if (!(fabs(got - want) <= 1e-4 + 1e-3 * fabs(want)))
				return R_WRONG;
		}
		cs__onnx_tensor_clear(&t);
	}
	return R_PASS;
}

static int run_isolated(const char *dir, const char *engine, bool frozen)
{
	int status;
	pid_t pid;

	fflush(stdout);
	if ((pid = fork()) < 0)
		return R_HARNESS;
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		if (null >= 0) { /* OpenCV prints its errors on stderr */
			dup2(null, 2);
			close(null);
		}
		alarm(60);
		int r = run_one(dir, engine, frozen);
		fflush(stdout);
		_exit(r);
	}
	if (waitpid(pid, &status, 0) != pid)
		return R_HARNESS;
	if (WIFEXITED(status) && WEXITSTATUS(status) < R_N)
		return WEXITSTATUS(status);
	return R_CRASH;
}

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Results of every model: name "suite/test", one result per engine, and
 * on xnnpack with the inputs after the first frozen into initializers.
 */
typedef struct result {
	char name[256];
	int r[2];
	int frozen;
} result;

static result *results;
static size_t n_results;

static void run_all(void)
{
	for (int s = 0; s < 2; s++) {
		char sdir[4200];
		DIR *d;
		struct dirent *e;
		char **names = NULL;
		size_t n = 0;

		snprintf(sdir, sizeof sdir, "%s/%s", data_dir, suites[s]);
		if (!(d = opendir(sdir)))
			continue;
		while ((e = readdir(d))) {
			if (e->d_name[0] == '.')
				continue;
			char **g = realloc(names, (n + 1) * sizeof *g);
			if (!g)
				break;
			names = g;
			names[n++] = strdup(e->d_name);
		}
		closedir(d);
		qsort(names, n, sizeof *names, cmp);
		for (size_t k = 0; k < n; k++) {
			char dir[4500], probe[4600];
			struct stat st;
			snprintf(dir, sizeof dir, "%s/%s", sdir, names[k]);
			snprintf(probe, sizeof probe, "%s/model.onnx", dir);
			if (stat(probe, &st) == 0) {
				result *g = realloc(results, (n_results + 1) *
							     sizeof *g);
				if (!g)
					break;
				results = g;
				result *r = &results[n_results++];
				snprintf(r->name, sizeof r->name, "%s/%s",
					 suites[s], names[k]);
				for (int en = 0; en < 2; en++)
					r->r[en] = run_isolated(dir, engines[en],
								false);
				r->frozen = r->r[0] == R_REFUSED
						    ? run_isolated(dir, "xnnpack", true)
						    : r->r[0];
			}
			free(names[k]);
		}
		free(names);
	}
}

TEST(report_per_engine)
{
	for (int en = 0; en < 2; en++) {
		for (int s = 0; s < 2; s++) {
			size_t count[R_N] = {0}, total = 0;
			size_t len = strlen(suites[s]);
			for (size_t k = 0; k < n_results; k++) {
				if (strncmp(results[k].name, suites[s], len) ||
				    results[k].name[len] != '/')
					continue;
				count[results[k].r[en]]++;
				total++;
			}
			printf("#   %s, %s: %zu of %zu pass (refused %zu, wrong "
			       "%zu, run error %zu, crash %zu, harness %zu)\n",
			       engines[en], suites[s], count[R_PASS], total,
			       count[R_REFUSED], count[R_WRONG],
			       count[R_RUN_ERROR], count[R_CRASH],
			       count[R_HARNESS]);
		}
	}
	for (int s = 0; s < 2; s++) {
		size_t count[R_N] = {0}, total = 0;
		size_t len = strlen(suites[s]);
		for (size_t k = 0; k < n_results; k++) {
			if (strncmp(results[k].name, suites[s], len) ||
			    results[k].name[len] != '/')
				continue;
			count[results[k].frozen]++;
			total++;
		}
		printf("#   xnnpack, %s, inputs after the first as "
		       "initializers: %zu of %zu pass (refused %zu, wrong %zu, "
		       "run error %zu, crash %zu, harness %zu)\n", suites[s],
		       count[R_PASS], total, count[R_REFUSED], count[R_WRONG],
		       count[R_RUN_ERROR], count[R_CRASH], count[R_HARNESS]);
	}
	CHECK(n_results > 0);
	if (getenv("CS_NODE_LIST"))
		for (size_t k = 0; k < n_results; k++)
			printf("#   %-60s xnnpack %-9s frozen %-9s opencv %s\n",
			       results[k].name, r_names[results[k].r[0]],
			       r_names[results[k].frozen],
			       r_names[results[k].r[1]]);
}

TEST(xnnpack_runs_right_what_it_accepts)
{
	for (size_t k = 0; k < n_results; k++) {
		for (int f = 0; f < 2; f++) {
			int r = f ? results[k].frozen : results[k].r[0];
			if (r == R_PASS || r == R_REFUSED)
				continue;
			printf("#   %s%s: xnnpack accepted it, then: %s\n",
			       results[k].name, f ? " (frozen)" : "",
			       r_names[r]);
			CHECK(r == R_PASS || r == R_REFUSED);
		}
	}
}

TEST(xnnpack_passes_the_tests_of_its_ops)
{
	for (size_t i = 0; must_pass[i]; i++) {
		const result *r = NULL;
		for (size_t k = 0; k < n_results && !r; k++)
			if (!strcmp(results[k].name, must_pass[i]))
				r = &results[k];
		if (!r) {
			printf("#   %s: not in the test data\n", must_pass[i]);
			CHECK(r);
			continue;
		}
		if (r->frozen != R_PASS)
			printf("#   %s: %s\n", must_pass[i], r_names[r->frozen]);
		CHECK(r->frozen == R_PASS);
	}
}

int main(void)
{
	const char *d = getenv("CS_ONNX_TESTDATA");
	struct stat st;

	snprintf(data_dir, sizeof data_dir, "%s", d ? d : DEFAULT_DATA);
	if (stat(data_dir, &st) != 0) {
		printf("1..0 # SKIP no ONNX test data at %s (apt-get install "
		       "libonnx-testdata)\n", data_dir);
		return 0;
	}
	if (!(plugin = open_plugin())) {
		printf("Bail out! cannot open the onnx plugin\n");
		return 1;
	}
	run_all();
	RUN(report_per_engine);
	RUN(xnnpack_runs_right_what_it_accepts);
	RUN(xnnpack_passes_the_tests_of_its_ops);
	return tap_done();
}
