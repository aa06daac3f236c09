/*
 * backend_test.h - what the tests of the onnx and torch plugins share: paths,
 * loading through the ABI as the runtime does, the digits samples and
 * their reference logits, the export check and the tests that are the same
 * for every backend. Define BACKEND ("onnx") and MODEL_FILE ("digits.onnx")
 * before including it; include it once, from one test program.
 */
#ifndef CS_BACKEND_TEST_H
#define CS_BACKEND_TEST_H

#if !defined(BACKEND) || !defined(MODEL_FILE)
#error "define BACKEND and MODEL_FILE before including backend_test.h"
#endif

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
		 "%s/plugins/" BACKEND "/.libs/" BACKEND ".so", builddir());
	snprintf(model_path, sizeof model_path,
		 "%s/examples/digits/" MODEL_FILE, srcdir());
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
	CHECK_STR(p->name, BACKEND);
	CHECK(!(p->flags & CS_PLUGIN_THREAD_SAFE));
	CHECK(p->flags & CS_PLUGIN_BATCHING);
	CHECK(p->load && p->describe && p->infer && p->unload);
}

#endif
