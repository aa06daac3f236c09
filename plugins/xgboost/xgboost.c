/*
 * xgboost.c - the "xgboost" backend: a saved XGBoost booster (JSON or
 * UBJSON model file, XGBoost 1.7's C API) in plain C.
 *
 * The model file is what Booster.save_model() writes: "*.json" is read as
 * JSON, "*.ubj" as UBJSON (XGBoost chooses by the extension); any other
 * name is handed to XGBoost's deprecated binary reader.
 *
 * One input, "features", FP32 [-1, F] with F the booster's feature count.
 * One output, whose name and width follow the learner's objective (read
 * from XGBoosterSaveJsonConfig()) and are confirmed by a prediction at load:
 *   binary:logistic   "probability"    FP32 [-1]
 *   multi:softprob    "probabilities"  FP32 [-1, classes]
 *   multi:softmax     "class"          FP32 [-1]  (the class index)
 *   anything else     "prediction"     FP32 [-1], or [-1, targets] for a
 *                                      multi-target regression
 * i.e. the values Python's Booster.predict() returns (transformed by the
 * objective, all trees).
 *
 * Missing values: manifest option "missing": "error" (the default) refuses
 * an input holding NaN with CS_EINVAL naming the row and the feature;
 * "nan" hands NaN to XGBoost, which treats it as a missing value (the
 * default branch of each split). Infinities are always refused.
 *
 * Prediction: tree boosters (gbtree, dart) predict in place from the
 * input buffer (XGBoosterPredictFromDense); gblinear, which XGBoost 1.7
 * cannot predict in place, goes through a DMatrix made per call
 * (XGDMatrixCreateFromDense, XGBoosterPredictFromDMatrix).
 *
 * Thread safety: XGBoost documents prediction as thread-safe for tree
 * boosters (gbtree, dart) since 1.4; the predict calls keep their result
 * in memory local to the calling thread and the booster, and configure the
 * learner once under its own lock, which load() has already done. So
 * infer() runs lock-free for gbtree and dart; for gblinear, which XGBoost
 * does not promise, the plugin serialises infer() with a mutex of its own.
 * The table therefore carries CS_PLUGIN_THREAD_SAFE, and
 * CS_PLUGIN_BATCHING: rows are predicted independently.
 *
 * Threads and fork(): XGBoost runs on GNU OpenMP (libgomp), whose thread
 * pool does not survive fork(): a child of a process that ran an OpenMP
 * region on 2 threads hangs in its first parallel region. load() therefore
 * reads the file (with the thread's OpenMP default lowered to 1 for the
 * call) and predicts with nthread=1, so no pool is started, and sets the
 * manifest's "threads" on the booster last (configured, not used), so a
 * prefork master that only loaded, or warmed up with threads 1, hands its
 * children a booster they can use. The first infer() with threads > 1
 * starts the pool, in the process that serves.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <xgboost/c_api.h>

#include <cubeserve/plugin.h>

/*
 * The OpenMP runtime XGBoost runs on (GNU libgomp), declared here so that
 * the build needs no omp.h.
 */
int omp_get_max_threads(void);
void omp_set_num_threads(int n);

#ifndef CS_VERSION
#define CS_VERSION "0.0.0"
#endif

#define XGB_INPUT_NAME "features"
/* Bounds that keep every size computation far from overflow. */
#define XGB_MAX_FEATURES 1000000
#define XGB_MAX_WIDTH 100000

/* A loaded model. Immutable after load(), but for the lock. */
typedef struct xgb_model {
	BoosterHandle booster;
	int64_t features;
	int64_t width;      /* predicted values per row */
	int rounds;         /* boosting rounds, for the log */
	int threads;        /* the booster's nthread when serving */
	bool allow_missing; /* options.missing == "nan" */
	bool serialise;     /* infer() under lock (gblinear) */
	pthread_mutex_t lock;
	char *shown;             /* the model file, for messages */
	char **feature_names;    /* features names, or NULL when unnamed */
	char objective[64];
	char booster_kind[16];
	cs_io_desc inputs[1];
	cs_io_desc outputs[1];
} xgb_model;

CS_PLUGIN_EXPORT const cs_plugin *cs_plugin_entry(void);

static int xgb_load(const cs_host *host, const cs_model_spec *spec,
		    void **model, char *err, size_t errlen);
static int xgb_describe(void *model, const cs_io_desc **inputs,
			size_t *n_inputs, const cs_io_desc **outputs,
			size_t *n_outputs, char *err, size_t errlen);
static int xgb_infer(void *model, const cs_tensor *inputs, size_t n_inputs,
		     cs_tensor *outputs, size_t n_outputs,
		     const cs_allocator *alloc, char *err, size_t errlen);
static void xgb_unload(void *model);

static const cs_plugin xgb_plugin = {
	.abi_version = CS_PLUGIN_ABI_VERSION,
	.struct_size = sizeof(cs_plugin),
	.name = "xgboost",
	.version = CS_VERSION,
	.flags = CS_PLUGIN_THREAD_SAFE | CS_PLUGIN_BATCHING,
	.load = xgb_load,
	.describe = xgb_describe,
	.infer = xgb_infer,
	.unload = xgb_unload,
};

/* The plugin's one exported symbol: returns the static table above. */
CS_PLUGIN_EXPORT const cs_plugin *cs_plugin_entry(void)
{
	return &xgb_plugin;
}

/* ---------------------------------------------------------------- helpers */

/* Writes a formatted one-line message into err[errlen]; err may be NULL. */
__attribute__((format(printf, 3, 4)))
static void xgb_error(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/*
 * XGBoost's last error on this thread, reduced to its first line without
 * the "[hh:mm:ss] /path/file.cc:123: " prefix, into buf[buflen].
 */
static const char *xgb_last_error(char *buf, size_t buflen)
{
	const char *e = XGBGetLastError();
	const char *p, *nl;
	size_t n;

	if (!e || !*e)
		e = "unknown XGBoost error";
	if (e[0] == '[' && (p = strchr(e, ']')) && p[1] == ' ')
		e = p + 2;
	/* a source location "file.cc:123: " before the reason */
	p = strstr(e, ": ");
	if (p && !memchr(e, ' ', (size_t)(p - e)) &&
	    memchr(e, ':', (size_t)(p - e)))
		e = p + 2;
	nl = strchr(e, '\n');
	n = nl ? (size_t)(nl - e) : strlen(e);
	if (n >= buflen)
		n = buflen - 1;
	memcpy(buf, e, n);
	buf[n] = '\0';
	return buf;
}

/*
 * The name to show for a model file: its path relative to the manifest's
 * directory when it lies inside it, else the full path.
 */
static const char *xgb_shown_name(const char *path, const char *base_dir)
{
	size_t n;

	if (!base_dir || !*base_dir)
		return path;
	n = strlen(base_dir);
	while (n > 1 && base_dir[n - 1] == '/')
		n--;
	if (strncmp(path, base_dir, n) == 0 && path[n] == '/' && path[n + 1])
		return path + n + 1;
	return path;
}

/*
 * Reads the manifest options: "missing" ("error" or "nan"). Any other key
 * is refused, so that a typo does not pass silently.
 */
static int xgb_parse_options(const char *options_json, bool *allow_missing,
			     char *err, size_t errlen)
{
	json_error_t jerr;
	const char *key;
	json_t *opts, *v;
	int rc = CS_OK;

	*allow_missing = false;
	if (!options_json || !*options_json)
		return CS_OK;
	opts = json_loads(options_json, 0, &jerr);
	if (!opts) {
		xgb_error(err, errlen, "options: invalid JSON: %s", jerr.text);
		return CS_EINVAL;
	}
	if (!json_is_object(opts)) {
		xgb_error(err, errlen, "options: not a JSON object");
		rc = CS_EINVAL;
		goto out_free_opts;
	}
	json_object_foreach(opts, key, v) {
		if (strcmp(key, "missing") != 0) {
			xgb_error(err, errlen,
				  "options: unknown key '%s' (the xgboost plugin knows 'missing')",
				  key);
			rc = CS_EINVAL;
			goto out_free_opts;
		}
		if (json_is_string(v) && strcmp(json_string_value(v), "nan") == 0) {
			*allow_missing = true;
		} else if (json_is_string(v) &&
			   strcmp(json_string_value(v), "error") == 0) {
			*allow_missing = false;
		} else {
			xgb_error(err, errlen,
				  "options: 'missing' must be \"error\" (refuse NaN inputs) or \"nan\" (NaN is a missing value)");
			rc = CS_EINVAL;
			goto out_free_opts;
		}
	}
out_free_opts:
	json_decref(opts);
	return rc;
}

/* Copies a string member of a JSON object into out[outlen] ("" if absent). */
static void xgb_copy_string(json_t *obj, const char *key, char *out,
			    size_t outlen)
{
	const char *s = json_string_value(json_object_get(obj, key));

	snprintf(out, outlen, "%s", s ? s : "");
}

/*
 * Reads the objective, the booster kind and the output width the learner
 * declares from its JSON configuration. *width is the number of values a
 * row predicts: num_class for multi:softprob, 1 for multi:softmax, else
 * num_target (1 unless a multi-target regression).
 */
static int xgb_read_config(xgb_model *m, int64_t *width, char *err,
			   size_t errlen)
{
	const char *text = NULL;
	bst_ulong len = 0;
	json_error_t jerr;
	json_t *root, *learner, *param;
	long long classes = 0, targets = 1;
	const char *s;
	char xerr[CS_ERROR_SIZE];
	int rc = CS_OK;

	if (XGBoosterSaveJsonConfig(m->booster, &len, &text) != 0) {
		xgb_error(err, errlen, "%s: cannot read the learner's configuration: %s",
			  m->shown, xgb_last_error(xerr, sizeof xerr));
		return CS_EBACKEND;
	}
	root = json_loadb(text, (size_t)len, 0, &jerr);
	if (!root) {
		xgb_error(err, errlen, "%s: the learner's configuration is not JSON: %s",
			  m->shown, jerr.text);
		return CS_EBACKEND;
	}
	learner = json_object_get(root, "learner");
	xgb_copy_string(json_object_get(learner, "objective"), "name",
			m->objective, sizeof m->objective);
	xgb_copy_string(json_object_get(learner, "gradient_booster"), "name",
			m->booster_kind, sizeof m->booster_kind);
	param = json_object_get(learner, "learner_model_param");
	if ((s = json_string_value(json_object_get(param, "num_class"))))
		classes = strtoll(s, NULL, 10);
	if ((s = json_string_value(json_object_get(param, "num_target"))))
		targets = strtoll(s, NULL, 10);
	if (!m->objective[0] || !m->booster_kind[0] || classes < 0 ||
	    targets < 1) {
		xgb_error(err, errlen,
			  "%s: the learner's configuration lacks its objective, booster or output sizes",
			  m->shown);
		rc = CS_EFORMAT;
		goto out_free_root;
	}
	if (strcmp(m->objective, "multi:softprob") == 0)
		*width = classes;
	else if (strcmp(m->objective, "multi:softmax") == 0)
		*width = 1;
	else
		*width = targets;
	if (*width < 1 || *width > XGB_MAX_WIDTH) {
		xgb_error(err, errlen, "%s: %s with %lld outputs per row is not supported",
			  m->shown, m->objective, (long long)*width);
		rc = CS_EFORMAT;
	}
out_free_root:
	json_decref(root);
	return rc;
}

/* Keeps the booster's feature names, when it has one per feature. */
static int xgb_read_feature_names(xgb_model *m)
{
	const char **names = NULL;
	bst_ulong n = 0;

	if (XGBoosterGetStrFeatureInfo(m->booster, "feature_name", &n,
				       &names) != 0 ||
	    (int64_t)n != m->features)
		return CS_OK; /* unnamed: messages use indices only */
	m->feature_names = calloc((size_t)n, sizeof(char *));
	if (!m->feature_names)
		return CS_ENOMEM;
	for (bst_ulong i = 0; i < n; i++) {
		m->feature_names[i] = strdup(names[i] ? names[i] : "");
		if (!m->feature_names[i])
			return CS_ENOMEM;
	}
	return CS_OK;
}

/* What XGBoost's predict calls take: normal prediction, all trees. */
static const char xgb_predict_config[] =
	"{\"type\": 0, \"training\": false, \"iteration_begin\": 0, "
	"\"iteration_end\": 0, \"strict_shape\": true, \"cache_id\": 0, "
	"\"missing\": NaN}";
static const char xgb_dmatrix_config[] = "{\"missing\": NaN, \"nthread\": 1}";

/*
 * Predicts through a DMatrix, for boosters without inplace prediction
 * (gblinear). Called under m->lock.
 */
static int xgb_predict_dmatrix(xgb_model *m, const char *values,
			       bst_ulong const **shape, bst_ulong *dim,
			       const float **result)
{
	DMatrixHandle dm = NULL;
	int rc;

	if (XGDMatrixCreateFromDense(values, xgb_dmatrix_config, &dm) != 0)
		return -1;
	rc = XGBoosterPredictFromDMatrix(m->booster, dm, xgb_predict_config,
					 shape, dim, result);
	/* the result lives in the booster's per-thread memory, not in dm */
	XGDMatrixFree(dm);
	return rc;
}

/*
 * Predicts rows x features FP32 values at x (4-byte aligned). On CS_OK
 * *result points to rows * m->width floats that belong to XGBoost: valid
 * on this thread until its next prediction on this booster.
 */
static int xgb_predict(xgb_model *m, const float *x, int64_t rows,
		       const float **result, char *err, size_t errlen)
{
	char values[256], xerr[CS_ERROR_SIZE];
	bst_ulong const *shape = NULL;
	bst_ulong dim = 0;
	int rc;

	snprintf(values, sizeof values,
		 "{\"data\": [%" PRIuPTR ", true], \"shape\": [%" PRId64
		 ", %" PRId64 "], \"typestr\": \"<f4\", \"version\": 3}",
		 (uintptr_t)x, rows, m->features);
	if (m->serialise) {
		pthread_mutex_lock(&m->lock);
		rc = xgb_predict_dmatrix(m, values, &shape, &dim, result);
		if (rc != 0)
			xgb_last_error(xerr, sizeof xerr);
		pthread_mutex_unlock(&m->lock);
	} else {
		rc = XGBoosterPredictFromDense(m->booster, values,
					       xgb_predict_config, NULL, &shape,
					       &dim, result);
		if (rc != 0)
			xgb_last_error(xerr, sizeof xerr);
	}
	if (rc != 0) {
		xgb_error(err, errlen, "xgboost: prediction failed: %s", xerr);
		return CS_EBACKEND;
	}
	if (dim != 2 || (int64_t)shape[0] != rows ||
	    (int64_t)shape[1] != m->width) {
		xgb_error(err, errlen,
			  "xgboost: prediction of %" PRId64 " rows has %s shape (dim %llu), expected [%" PRId64 ",%" PRId64 "]",
			  rows, dim == 2 ? "a different" : "an unexpected",
			  (unsigned long long)dim, rows, m->width);
		return CS_EBACKEND;
	}
	return CS_OK;
}

/* Fills the describe() tables from the objective and the sizes. */
static void xgb_fill_desc(xgb_model *m)
{
	const char *out = "prediction";

	if (strcmp(m->objective, "binary:logistic") == 0)
		out = "probability";
	else if (strcmp(m->objective, "multi:softprob") == 0)
		out = "probabilities";
	else if (strcmp(m->objective, "multi:softmax") == 0)
		out = "class";
	m->inputs[0].name = XGB_INPUT_NAME;
	m->inputs[0].dtype = CS_FP32;
	m->inputs[0].ndim = 2;
	m->inputs[0].shape[0] = -1;
	m->inputs[0].shape[1] = m->features;
	m->outputs[0].name = out;
	m->outputs[0].dtype = CS_FP32;
	m->outputs[0].ndim = m->width == 1 ? 1 : 2;
	m->outputs[0].shape[0] = -1;
	m->outputs[0].shape[1] = m->width;
}

/* Sets the booster's "nthread" parameter. */
static int xgb_set_threads(xgb_model *m, int threads, char *err, size_t errlen)
{
	char value[16], xerr[CS_ERROR_SIZE];

	snprintf(value, sizeof value, "%d", threads);
	if (XGBoosterSetParam(m->booster, "nthread", value) != 0) {
		xgb_error(err, errlen, "%s: cannot set nthread=%d: %s", m->shown,
			  threads, xgb_last_error(xerr, sizeof xerr));
		return CS_EBACKEND;
	}
	return CS_OK;
}

/*
 * Opens the booster in m->shown's file: reads it, its configuration, its
 * sizes, and predicts one row of zeros to confirm the output width.
 */
static int xgb_open_booster(xgb_model *m, const char *path, char *err,
			    size_t errlen)
{
	char xerr[CS_ERROR_SIZE];
	bst_ulong features = 0;
	const float *result;
	float *zeros;
	int omp_threads, rc;

	if (XGBoosterCreate(NULL, 0, &m->booster) != 0) {
		m->booster = NULL;
		xgb_error(err, errlen, "%s: cannot create a booster: %s",
			  m->shown, xgb_last_error(xerr, sizeof xerr));
		return CS_EBACKEND;
	}
	/*
	 * Reading the trees runs on as many OpenMP threads as the calling
	 * thread's OpenMP default (all cores) before a booster's nthread takes
	 * effect: lower that default to 1 for the load, and put it back.
	 */
	omp_threads = omp_get_max_threads();
	omp_set_num_threads(1);
	rc = XGBoosterLoadModel(m->booster, path);
	omp_set_num_threads(omp_threads);
	if (rc != 0) {
		xgb_error(err, errlen, "cannot load '%s': XGBoost: %s", path,
			  xgb_last_error(xerr, sizeof xerr));
		return CS_EFORMAT;
	}
	rc = xgb_set_threads(m, 1, err, errlen);
	if (rc)
		return rc;
	if (XGBoosterGetNumFeature(m->booster, &features) != 0 ||
	    XGBoosterBoostedRounds(m->booster, &m->rounds) != 0) {
		xgb_error(err, errlen, "%s: cannot read the booster's sizes: %s",
			  m->shown, xgb_last_error(xerr, sizeof xerr));
		return CS_EFORMAT;
	}
	if (features < 1 || features > XGB_MAX_FEATURES) {
		xgb_error(err, errlen,
			  "'%s': the booster has %llu features, expected 1 to %d (is it a trained model?)",
			  path, (unsigned long long)features, XGB_MAX_FEATURES);
		return CS_EFORMAT;
	}
	m->features = (int64_t)features;
	rc = xgb_read_config(m, &m->width, err, errlen);
	if (rc)
		return rc;
	m->serialise = strcmp(m->booster_kind, "gbtree") != 0 &&
		       strcmp(m->booster_kind, "dart") != 0;
	rc = xgb_read_feature_names(m);
	if (rc) {
		xgb_error(err, errlen, "%s: out of memory", m->shown);
		return rc;
	}

	/* one prediction: confirms the width, configures the learner */
	zeros = calloc((size_t)m->features, sizeof(float));
	if (!zeros) {
		xgb_error(err, errlen, "%s: out of memory", m->shown);
		return CS_ENOMEM;
	}
	rc = xgb_predict(m, zeros, 1, &result, err, errlen);
	free(zeros);
	return rc;
}

/*
 * Loads spec->model_path. On CS_OK *model is an xgb_model the caller
 * releases with unload(); on failure nothing is kept and err says why:
 * CS_EIO (the file cannot be read), CS_EFORMAT (XGBoost cannot load it),
 * CS_EINVAL (no model file, or bad options), CS_ENOMEM, CS_EBACKEND.
 */
static int xgb_load(const cs_host *host, const cs_model_spec *spec,
		    void **model, char *err, size_t errlen)
{
	xgb_model *m;
	bool allow_missing;
	FILE *fp;
	int rc;

	if (!spec || !spec->model_path || !*spec->model_path) {
		xgb_error(err, errlen,
			  "model '%s': the xgboost plugin needs a model file ('model' in the manifest)",
			  spec && spec->name ? spec->name : "?");
		return CS_EINVAL;
	}
	rc = xgb_parse_options(spec->options_json, &allow_missing, err, errlen);
	if (rc)
		return rc;
	/* XGBoost's own message for a missing file names no errno */
	fp = fopen(spec->model_path, "rb");
	if (!fp) {
		xgb_error(err, errlen, "cannot open '%s': %s", spec->model_path,
			  strerror(errno));
		return CS_EIO;
	}
	fclose(fp);

	m = calloc(1, sizeof(*m));
	if (!m) {
		xgb_error(err, errlen, "%s: out of memory", spec->model_path);
		return CS_ENOMEM;
	}
	pthread_mutex_init(&m->lock, NULL);
	m->allow_missing = allow_missing;
	m->shown = strdup(xgb_shown_name(spec->model_path, spec->base_dir));
	if (!m->shown) {
		xgb_error(err, errlen, "%s: out of memory", spec->model_path);
		rc = CS_ENOMEM;
		goto out_unload;
	}
	rc = xgb_open_booster(m, spec->model_path, err, errlen);
	if (rc)
		goto out_unload;
	m->threads = spec->threads > 1 ? spec->threads : 1;
	if (m->threads > 1) {
		const char *config = NULL;
		bst_ulong len = 0;
		char xerr[CS_ERROR_SIZE];

		rc = xgb_set_threads(m, m->threads, err, errlen);
		if (rc)
			goto out_unload;
		/*
		 * Saving the configuration configures the learner with the new
		 * nthread now (no prediction, so no OpenMP pool), rather than
		 * in the first concurrent infer() calls.
		 */
		if (XGBoosterSaveJsonConfig(m->booster, &len, &config) != 0) {
			xgb_error(err, errlen, "%s: cannot configure nthread=%d: %s",
				  m->shown, m->threads,
				  xgb_last_error(xerr, sizeof xerr));
			rc = CS_EBACKEND;
			goto out_unload;
		}
	}
	xgb_fill_desc(m);
	*model = m;

	if (host && host->log) {
		char line[512], width[32] = "";

		if (m->width > 1)
			snprintf(width, sizeof width, ",%" PRId64, m->width);
		snprintf(line, sizeof line,
			 "xgboost: %s: %s, %s, %d rounds, %" PRId64 " features%s; output '%s' [-1%s], missing values %s, %d thread(s)%s",
			 m->shown, m->booster_kind, m->objective, m->rounds,
			 m->features, m->feature_names ? " (named)" : "",
			 m->outputs[0].name, width,
			 m->allow_missing ? "allowed (NaN)" : "refused",
			 m->threads,
			 m->serialise ? "; predictions serialised" : "");
		host->log(host->ctx, CS_LOG_INFO, line);
	}
	return CS_OK;

out_unload:
	xgb_unload(m);
	return rc;
}

/*
 * Hands out the model's input and output descriptions. The arrays belong
 * to the model and stay valid until unload().
 */
static int xgb_describe(void *model, const cs_io_desc **inputs,
			size_t *n_inputs, const cs_io_desc **outputs,
			size_t *n_outputs, char *err, size_t errlen)
{
	xgb_model *m = model;

	if (!m) {
		xgb_error(err, errlen, "xgboost: describe() without a model");
		return CS_EINVAL;
	}
	*inputs = m->inputs;
	*n_inputs = 1;
	*outputs = m->outputs;
	*n_outputs = 1;
	return CS_OK;
}

/*
 * Checks the one input: FP32 [rows, features] with a consistent byte
 * count. Sets *rows. Returns CS_OK or CS_EINVAL.
 */
static int xgb_check_input(const xgb_model *m, const cs_tensor *x,
			   int64_t *rows, char *err, size_t errlen)
{
	const int64_t max_rows = (int64_t)(SIZE_MAX / sizeof(float)) /
				 (m->features > m->width ? m->features : m->width);

	if (x->dtype != CS_FP32) {
		xgb_error(err, errlen,
			  "xgboost: input '%s' must be FP32 (dtype %d given)",
			  XGB_INPUT_NAME, (int)x->dtype);
		return CS_EINVAL;
	}
	if (x->ndim != 2 || x->shape[0] < 0 || x->shape[0] > max_rows) {
		xgb_error(err, errlen,
			  "xgboost: input '%s' must have shape [N,%" PRId64 "] (rank %d given)",
			  XGB_INPUT_NAME, m->features, (int)x->ndim);
		return CS_EINVAL;
	}
	if (x->shape[1] != m->features) {
		xgb_error(err, errlen,
			  "xgboost: input '%s' has %" PRId64 " features a row, expected %" PRId64,
			  XGB_INPUT_NAME, x->shape[1], m->features);
		return CS_EINVAL;
	}
	if (x->nbytes != (size_t)(x->shape[0] * m->features) * sizeof(float) ||
	    (x->nbytes > 0 && !x->data)) {
		xgb_error(err, errlen,
			  "xgboost: input '%s' holds %zu bytes, shape [%" PRId64 ",%" PRId64 "] needs %zu",
			  XGB_INPUT_NAME, x->nbytes, x->shape[0], m->features,
			  (size_t)(x->shape[0] * m->features) * sizeof(float));
		return CS_EINVAL;
	}
	*rows = x->shape[0];
	return CS_OK;
}

/*
 * Refuses infinities always, and NaN unless missing values are allowed,
 * naming the first offending row and feature.
 */
static int xgb_check_values(const xgb_model *m, const float *x, int64_t rows,
			    char *err, size_t errlen)
{
	const size_t n = (size_t)(rows * m->features);

	for (size_t i = 0; i < n; i++) {
		const float v = x[i];
		const size_t f = i % (size_t)m->features;
		const char *name = m->feature_names ? m->feature_names[f] : NULL;

		if (isfinite(v) || (isnan(v) && m->allow_missing))
			continue;
		xgb_error(err, errlen,
			  "xgboost: input '%s' row %zu feature %zu%s%s%s is %s, expected a finite number%s",
			  XGB_INPUT_NAME, i / (size_t)m->features, f,
			  name ? " ('" : "", name ? name : "", name ? "')" : "",
			  isnan(v) ? "NaN" : v > 0 ? "+Inf" : "-Inf",
			  isnan(v) ? " (missing values are refused: the manifest's options.missing is \"error\")" : "");
		return CS_EINVAL;
	}
	return CS_OK;
}

/*
 * Predicts every row of the input. inputs are borrowed; the output's data
 * comes from alloc and belongs to the caller. Thread-safe (see the top
 * comment).
 */
static int xgb_infer(void *model, const cs_tensor *inputs, size_t n_inputs,
		     cs_tensor *outputs, size_t n_outputs,
		     const cs_allocator *alloc, char *err, size_t errlen)
{
	xgb_model *m = model;
	const float *x, *result = NULL;
	float *copy = NULL;
	cs_tensor *o;
	size_t out_bytes;
	int64_t rows;
	int rc;

	if (!m || !inputs || !outputs || !alloc || !alloc->alloc) {
		xgb_error(err, errlen, "xgboost: infer() with a NULL argument");
		return CS_EINVAL;
	}
	if (n_inputs != 1 || n_outputs != 1) {
		xgb_error(err, errlen,
			  "xgboost: infer() takes 1 input and 1 output, got %zu and %zu",
			  n_inputs, n_outputs);
		return CS_EINVAL;
	}
	rc = xgb_check_input(m, &inputs[0], &rows, err, errlen);
	if (rc)
		return rc;

	o = &outputs[0];
	out_bytes = (size_t)(rows * m->width) * sizeof(float);
	o->dtype = CS_FP32;
	o->ndim = m->outputs[0].ndim;
	o->shape[0] = rows;
	o->shape[1] = m->width;
	o->nbytes = out_bytes;
	o->data = NULL;
	if (rows == 0)
		return CS_OK;

	/* the ABI promises no alignment; XGBoost reads floats in place */
	x = inputs[0].data;
	if ((uintptr_t)x % _Alignof(float) != 0) {
		copy = malloc(inputs[0].nbytes);
		if (!copy) {
			xgb_error(err, errlen, "xgboost: out of memory");
			return CS_ENOMEM;
		}
		memcpy(copy, inputs[0].data, inputs[0].nbytes);
		x = copy;
	}
	rc = xgb_check_values(m, x, rows, err, errlen);
	if (rc)
		goto out_free_copy;
	o->data = alloc->alloc(alloc->ctx, out_bytes);
	if (!o->data) {
		xgb_error(err, errlen,
			  "xgboost: out of memory for output '%s' (%zu bytes)",
			  m->outputs[0].name, out_bytes);
		rc = CS_ENOMEM;
		goto out_free_copy;
	}
	rc = xgb_predict(m, x, rows, &result, err, errlen);
	if (rc == CS_OK)
		memcpy(o->data, result, out_bytes);
out_free_copy:
	free(copy);
	return rc;
}

/* Frees a model and everything it owns; NULL is allowed. */
static void xgb_unload(void *model)
{
	xgb_model *m = model;

	if (!m)
		return;
	if (m->booster)
		XGBoosterFree(m->booster);
	if (m->feature_names) {
		for (int64_t i = 0; i < m->features; i++)
			free(m->feature_names[i]);
		free(m->feature_names);
	}
	free(m->shown);
	pthread_mutex_destroy(&m->lock);
	free(m);
}
