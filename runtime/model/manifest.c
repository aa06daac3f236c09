/*
 * manifest.c - model.json parsing and validation (see manifest.h).
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "core/names.h"
#include "model/manifest.h"

static const char *const known_fields[] = {
	"name", "version", "description", "owner", "tags", "plugin", "model",
	"glue", "inputs", "outputs", "public", "limits", "threads", "options",
	"example", "batching", "engine", "resources", NULL,
};

static const char *const known_limits[] = {
	"max_body_bytes", "glue_instructions", "glue_memory_bytes",
	"max_json_depth", "max_tensor_elements", "max_tensor_bytes",
	"max_string_bytes", "max_headers", "request_timeout_ms", "slow_request_ms",
	"max_image_pixels", "max_image_bytes", NULL,
};

/* The range of each integer limit: [min, max]. */
static const struct limit_range {
	const char *name;
	long long min, max;
} limit_ranges[] = {
	{"max_body_bytes", 1, (long long)1 << 32},
	{"glue_instructions", 1000, LLONG_MAX},
	{"glue_memory_bytes", 1 << 20, LLONG_MAX},
	{"max_json_depth", 2, 1024},
	{"max_tensor_elements", 1, (long long)1 << 40},
	{"max_tensor_bytes", 1, (long long)1 << 40},
	{"max_string_bytes", 1, (long long)1 << 32},
	{"max_headers", 1, 10000},
	{"request_timeout_ms", 10, 86400000},
	{"slow_request_ms", 1, 86400000},
	{"max_image_pixels", 1, (long long)1 << 32},
	{"max_image_bytes", 1, (long long)1 << 32},
	{NULL, 0, 0},
};

void cs_limits_default(cs_limits *lim)
{
	lim->max_body_bytes = CS_DEFAULT_MAX_BODY_BYTES;
	lim->glue_instructions = CS_DEFAULT_GLUE_INSTRUCTIONS;
	lim->glue_memory_bytes = CS_DEFAULT_GLUE_MEMORY_BYTES;
	lim->max_json_depth = CS_DEFAULT_MAX_JSON_DEPTH;
	lim->max_tensor_elements = CS_DEFAULT_MAX_TENSOR_ELEMENTS;
	lim->max_tensor_bytes = CS_DEFAULT_MAX_TENSOR_BYTES;
	lim->max_string_bytes = CS_DEFAULT_MAX_STRING_BYTES;
	lim->max_headers = CS_DEFAULT_MAX_HEADERS;
	lim->request_timeout_ms = CS_DEFAULT_REQUEST_TIMEOUT_MS;
	lim->max_image_pixels = CS_DEFAULT_MAX_IMAGE_PIXELS;
	lim->max_image_bytes = CS_DEFAULT_MAX_IMAGE_BYTES;
}

/* Formats "<file>: field '<field>': <message>" into err. Returns CS_EINVAL. */
static int field_err(char *err, size_t errlen, const char *path,
		     const char *field, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static int field_err(char *err, size_t errlen, const char *path,
		     const char *field, const char *fmt, ...)
{
	char msg[CS_ERROR_SIZE];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (err && errlen)
		snprintf(err, errlen, "%s: field '%s': %s", path, field, msg);
	return CS_EINVAL;
}

static int is_known(const char *const *list, const char *key)
{
	for (; *list; list++)
		if (strcmp(*list, key) == 0)
			return 1;
	return 0;
}

/* Returns a strdup of an optional string field, "" when absent. */
static int get_string(json_t *root, const char *key, int required,
		      size_t maxlen, char **out, const char *path, char *err,
		      size_t errlen)
{
	json_t *v = json_object_get(root, key);

	if (!v) {
		if (required)
			return field_err(err, errlen, path, key,
					 "is required");
		*out = NULL;
		return CS_OK;
	}
	if (!json_is_string(v))
		return field_err(err, errlen, path, key, "must be a string");
	if (json_string_length(v) > maxlen)
		return field_err(err, errlen, path, key,
				 "is longer than %zu characters", maxlen);
	if (strlen(json_string_value(v)) != json_string_length(v))
		return field_err(err, errlen, path, key,
				 "must not contain NUL characters");
	if (required && json_string_length(v) == 0)
		return field_err(err, errlen, path, key, "must not be empty");
	*out = strdup(json_string_value(v));
	return *out ? CS_OK : CS_ENOMEM;
}

/* An absolute path for a file named relative to the manifest's directory. */
static char *resolve(const char *dir, const char *file)
{
	char *p;
	size_t n;

	if (file[0] == '/')
		return strdup(file);
	n = strlen(dir) + strlen(file) + 2;
	p = malloc(n);
	if (p)
		snprintf(p, n, "%s/%s", dir, file);
	return p;
}

static int parse_strings(json_t *v, const char *field, char ***out,
			 size_t *n_out, int names, const char *path, char *err,
			 size_t errlen)
{
	size_t i;
	json_t *e;
	char **list;

	if (!json_is_array(v))
		return field_err(err, errlen, path, field,
				 "must be an array of strings");
	list = calloc(json_array_size(v) + 1, sizeof(*list));
	if (!list)
		return CS_ENOMEM;
	*out = list;
	*n_out = 0;
	json_array_foreach(v, i, e) {
		char f[64];

		snprintf(f, sizeof f, "%s[%zu]", field, i);
		if (!json_is_string(e) || json_string_length(e) == 0 ||
		    json_string_length(e) > 128)
			return field_err(err, errlen, path, f,
					 "must be a non-empty string of at most 128 characters");
		if (names && !cs_name_valid(json_string_value(e)))
			return field_err(err, errlen, path, f,
					 "'%s' is not a valid name (letters, digits, '_' and '-', at most 64)",
					 json_string_value(e));
		list[i] = strdup(json_string_value(e));
		if (!list[i])
			return CS_ENOMEM;
		*n_out = i + 1;
	}
	return CS_OK;
}

static int parse_io(json_t *v, const char *field, cs_io_desc **out,
		    size_t *n_out, const char *path, char *err, size_t errlen)
{
	size_t i, j;
	json_t *e, *d;
	cs_io_desc *io;

	if (!json_is_array(v) || json_array_size(v) == 0)
		return field_err(err, errlen, path, field,
				 "must be a non-empty array of {name, dtype, shape}");
	if (json_array_size(v) > 64)
		return field_err(err, errlen, path, field,
				 "has more than 64 entries");
	io = calloc(json_array_size(v), sizeof(*io));
	if (!io)
		return CS_ENOMEM;
	*out = io;
	*n_out = 0;
	json_array_foreach(v, i, e) {
		char f[96];
		json_t *name, *dtype, *shape;
		const char *key;
		json_t *val;

		snprintf(f, sizeof f, "%s[%zu]", field, i);
		if (!json_is_object(e))
			return field_err(err, errlen, path, f,
					 "must be an object {name, dtype, shape}");
		json_object_foreach(e, key, val) {
			if (strcmp(key, "name") && strcmp(key, "dtype") &&
			    strcmp(key, "shape")) {
				snprintf(f, sizeof f, "%s[%zu].%s", field, i, key);
				return field_err(err, errlen, path, f,
						 "unknown field (expected name, dtype, shape)");
			}
		}
		name = json_object_get(e, "name");
		dtype = json_object_get(e, "dtype");
		shape = json_object_get(e, "shape");
		snprintf(f, sizeof f, "%s[%zu].name", field, i);
		if (!json_is_string(name) ||
		    !cs_name_valid(json_string_value(name)))
			return field_err(err, errlen, path, f,
					 "must be a name of letters, digits, '_' and '-' (at most 64)");
		for (j = 0; j < i; j++)
			if (strcmp(io[j].name, json_string_value(name)) == 0)
				return field_err(err, errlen, path, f,
						 "'%s' is declared twice",
						 io[j].name);
		io[i].name = strdup(json_string_value(name));
		if (!io[i].name)
			return CS_ENOMEM;
		*n_out = i + 1;
		snprintf(f, sizeof f, "%s[%zu].dtype", field, i);
		if (!json_is_string(dtype))
			return field_err(err, errlen, path, f,
					 "must be a string: one of BOOL, UINT8, UINT16, UINT32, UINT64, INT8, INT16, INT32, INT64, FP16, FP32, FP64, BYTES");
		io[i].dtype = cs_dtype_from_name(json_string_value(dtype));
		if (io[i].dtype == CS_DTYPE_INVALID)
			return field_err(err, errlen, path, f,
					 "unknown dtype '%s' (expected one of BOOL, UINT8, UINT16, UINT32, UINT64, INT8, INT16, INT32, INT64, FP16, FP32, FP64, BYTES)",
					 json_string_value(dtype));
		snprintf(f, sizeof f, "%s[%zu].shape", field, i);
		if (!json_is_array(shape) ||
		    json_array_size(shape) > CS_MAX_DIMS)
			return field_err(err, errlen, path, f,
					 "must be an array of at most %d integers (-1 for any size)",
					 CS_MAX_DIMS);
		io[i].ndim = (int32_t)json_array_size(shape);
		json_array_foreach(shape, j, d) {
			if (!json_is_integer(d) || json_integer_value(d) < -1 ||
			    json_integer_value(d) > INT32_MAX)
				return field_err(err, errlen, path, f,
						 "dimension %zu must be an integer >= 0, or -1 for any size",
						 j);
			io[i].shape[j] = json_integer_value(d);
		}
	}
	return CS_OK;
}

static int parse_limits(json_t *v, cs_limits *lim, const char *path,
			char *err, size_t errlen)
{
	const char *key;
	json_t *val;

	if (!json_is_object(v))
		return field_err(err, errlen, path, "limits",
				 "must be an object");
	json_object_foreach(v, key, val) {
		char f[96];
		json_int_t n;

		snprintf(f, sizeof f, "limits.%s", key);
		if (!is_known(known_limits, key))
			return field_err(err, errlen, path, f,
					 "unknown limit (expected max_body_bytes, glue_instructions, glue_memory_bytes, max_json_depth, max_tensor_elements, max_tensor_bytes, max_string_bytes, max_headers, request_timeout_ms, slow_request_ms, max_image_pixels, max_image_bytes)");
		if (!json_is_integer(val) || json_integer_value(val) <= 0)
			return field_err(err, errlen, path, f,
					 "must be a positive integer");
		n = json_integer_value(val);
		for (const struct limit_range *r = limit_ranges; r->name; r++) {
			if (strcmp(r->name, key) != 0)
				continue;
			if (n < r->min)
				return field_err(err, errlen, path, f,
						 "must be at least %lld", r->min);
			if (n > r->max)
				return field_err(err, errlen, path, f,
						 "must be at most %lld", r->max);
		}
		if (strcmp(key, "max_body_bytes") == 0)
			lim->max_body_bytes = (size_t)n;
		else if (strcmp(key, "glue_instructions") == 0)
			lim->glue_instructions = (uint64_t)n;
		else if (strcmp(key, "glue_memory_bytes") == 0)
			lim->glue_memory_bytes = (size_t)n;
		else if (strcmp(key, "max_json_depth") == 0)
			lim->max_json_depth = (size_t)n;
		else if (strcmp(key, "max_tensor_elements") == 0)
			lim->max_tensor_elements = (uint64_t)n;
		else if (strcmp(key, "max_tensor_bytes") == 0)
			lim->max_tensor_bytes = (size_t)n;
		else if (strcmp(key, "max_string_bytes") == 0)
			lim->max_string_bytes = (size_t)n;
		else if (strcmp(key, "max_headers") == 0)
			lim->max_headers = (size_t)n;
		else if (strcmp(key, "slow_request_ms") == 0)
			lim->slow_request_ms = (uint64_t)n;
		else if (strcmp(key, "max_image_pixels") == 0)
			lim->max_image_pixels = (uint64_t)n;
		else if (strcmp(key, "max_image_bytes") == 0)
			lim->max_image_bytes = (size_t)n;
		else
			lim->request_timeout_ms = (uint64_t)n;
	}
	return CS_OK;
}

static int parse_batching(json_t *v, cs_batching *b, const char *path,
			  char *err, size_t errlen)
{
	const char *key;
	json_t *val;

	if (!json_is_object(v))
		return field_err(err, errlen, path, "batching",
				 "must be an object {max_batch_size, max_queue_delay_us, preferred_batch_sizes, threads}");
	json_object_foreach(v, key, val) {
		char f[96];

		snprintf(f, sizeof f, "batching.%s", key);
		if (strcmp(key, "preferred_batch_sizes") == 0) {
			size_t i;
			json_t *e;

			if (!json_is_array(val) || json_array_size(val) > CS_MAX_PREFERRED)
				return field_err(err, errlen, path, f,
						 "must be an array of at most %d batch sizes",
						 CS_MAX_PREFERRED);
			json_array_foreach(val, i, e) {
				if (!json_is_integer(e) || json_integer_value(e) < 1 ||
				    json_integer_value(e) > 65536)
					return field_err(err, errlen, path, f,
							 "entry %zu must be an integer from 1 to 65536", i);
				b->preferred[i] = (int)json_integer_value(e);
			}
			b->n_preferred = json_array_size(val);
			continue;
		}
		if (!json_is_integer(val) || json_integer_value(val) < 0)
			return field_err(err, errlen, path, f,
					 "must be a non-negative integer");
		if (strcmp(key, "max_batch_size") == 0) {
			if (json_integer_value(val) < 1 || json_integer_value(val) > 65536)
				return field_err(err, errlen, path, f,
						 "must be from 1 to 65536");
			b->max_batch_size = (int)json_integer_value(val);
		} else if (strcmp(key, "max_queue_delay_us") == 0) {
			if (json_integer_value(val) > 10000000)
				return field_err(err, errlen, path, f,
						 "must be at most 10000000 (10 s)");
			b->max_queue_delay_us = (uint64_t)json_integer_value(val);
		} else if (strcmp(key, "threads") == 0) {
			if (json_integer_value(val) < 1 || json_integer_value(val) > 256)
				return field_err(err, errlen, path, f,
						 "must be from 1 to 256");
			b->threads = (int)json_integer_value(val);
			b->threads_given = 1;
		} else {
			return field_err(err, errlen, path, f,
					 "unknown field (expected max_batch_size, max_queue_delay_us, preferred_batch_sizes, threads)");
		}
	}
	if (!b->max_batch_size)
		return field_err(err, errlen, path, "batching.max_batch_size",
				 "is required when batching is given");
	for (size_t i = 0; i < b->n_preferred; i++)
		if (b->preferred[i] > b->max_batch_size)
			return field_err(err, errlen, path,
					 "batching.preferred_batch_sizes",
					 "%d is larger than max_batch_size %d",
					 b->preferred[i], b->max_batch_size);
	if (!b->threads)
		b->threads = b->max_batch_size < 64 ? b->max_batch_size : 64;
	return CS_OK;
}

/*
 * "engine": which engine a plugin with several runs the model on (the onnx
 * plugin: auto, xnnpack, opencv). The plugin reads it from its options:
 * when given, it is added to the options JSON as "engine".
 */
static int parse_engine(json_t *root, json_t *options, cs_manifest *m,
			char *err, size_t errlen)
{
	json_t *v = json_object_get(root, "engine"), *o;
	const char *e = json_string_value(v);

	if (v && (!e || (strcmp(e, "auto") && strcmp(e, "xnnpack") &&
			 strcmp(e, "opencv"))))
		return field_err(err, errlen, m->path, "engine",
				 "must be \"auto\", \"xnnpack\" or \"opencv\"");
	if (v && options && json_object_get(options, "engine"))
		return field_err(err, errlen, m->path, "engine",
				 "given both here and in \"options\"");
	if (v && !(m->engine = strdup(e)))
		return CS_ENOMEM;
	o = options ? json_deep_copy(options) : json_object();
	if (!o || (v && json_object_set_new(o, "engine", json_string(e)))) {
		json_decref(o);
		return CS_ENOMEM;
	}
	m->options_json = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return m->options_json ? CS_OK : CS_ENOMEM;
}

/*
 * "resources": what one instance of the model asks a cluster for, as
 * Kubernetes quantities ({"cpu": "2", "memory": "1Gi"}). The worker does
 * not use them; `cubeserve k8s export` does (and checks the quantities).
 */
static int check_resources(json_t *v, const char *path, char *err, size_t errlen)
{
	const char *key;
	json_t *x;

	if (!json_is_object(v))
		return field_err(err, errlen, path, "resources",
				 "must be an object such as {\"cpu\": \"2\", \"memory\": \"1Gi\"}");
	json_object_foreach(v, key, x) {
		if (strcmp(key, "cpu") != 0 && strcmp(key, "memory") != 0)
			return field_err(err, errlen, path, "resources",
					 "unknown field '%s' (expected cpu, memory)", key);
		if (!json_is_string(x) || json_string_length(x) == 0 ||
		    json_string_length(x) > 16)
			return field_err(err, errlen, path, "resources",
					 "'%s' must be a quantity string such as \"2\", \"500m\" or \"1Gi\"",
					 key);
	}
	return CS_OK;
}

static int parse(json_t *root, cs_manifest *m, char *err, size_t errlen)
{
	const char *path = m->path;
	const char *key;
	json_t *v;
	char *s = NULL;
	int rc;

	if (!json_is_object(root)) {
		snprintf(err, errlen, "%s: the manifest must be a JSON object",
			 path);
		return CS_EINVAL;
	}
	json_object_foreach(root, key, v) {
		if (!is_known(known_fields, key))
			return field_err(err, errlen, path, key,
					 "unknown field (known: name, version, description, owner, tags, plugin, model, glue, inputs, outputs, public, limits, threads, options, example, batching, engine, resources)");
	}

	if ((rc = get_string(root, "name", 1, 64, &m->name, path, err, errlen)))
		return rc;
	if (!cs_name_valid(m->name))
		return field_err(err, errlen, path, "name",
				 "'%s' is not a valid name (letters, digits, '_' and '-', at most 64)",
				 m->name);
	if ((rc = get_string(root, "version", 1, 64, &m->version, path, err,
			     errlen)))
		return rc;
	for (const char *p = m->version; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || strchr("._+-", *p)))
			return field_err(err, errlen, path, "version",
					 "'%s' may hold only letters, digits and . _ + -",
					 m->version);
	if ((rc = get_string(root, "description", 0, 4096, &m->description,
			     path, err, errlen)))
		return rc;
	if ((rc = get_string(root, "owner", 0, 256, &m->owner, path, err,
			     errlen)))
		return rc;
	if (!m->description && !(m->description = strdup("")))
		return CS_ENOMEM;
	if (!m->owner && !(m->owner = strdup("")))
		return CS_ENOMEM;
	if ((rc = get_string(root, "plugin", 1, 4096, &m->plugin, path, err,
			     errlen)))
		return rc;

	if ((rc = get_string(root, "model", 0, 4096, &s, path, err, errlen)))
		return rc;
	if (s) {
		m->model_path = resolve(m->dir, s);
		free(s);
		s = NULL;
		if (!m->model_path)
			return CS_ENOMEM;
	}
	if ((rc = get_string(root, "glue", 0, 4096, &s, path, err, errlen)))
		return rc;
	if (s) {
		m->glue_path = resolve(m->dir, s);
		free(s);
		s = NULL;
		if (!m->glue_path)
			return CS_ENOMEM;
		if (access(m->glue_path, R_OK) != 0)
			return field_err(err, errlen, path, "glue",
					 "cannot read '%s': %s", m->glue_path,
					 strerror(errno));
	}
	if (m->model_path && access(m->model_path, R_OK) != 0)
		return field_err(err, errlen, path, "model",
				 "cannot read '%s': %s", m->model_path,
				 strerror(errno));

	if ((v = json_object_get(root, "tags")) &&
	    (rc = parse_strings(v, "tags", &m->tags, &m->n_tags, 0, path, err,
				errlen)))
		return rc;
	if ((v = json_object_get(root, "public")) &&
	    (rc = parse_strings(v, "public", &m->public_methods, &m->n_public,
				1, path, err, errlen)))
		return rc;
	if ((v = json_object_get(root, "inputs")) &&
	    (rc = parse_io(v, "inputs", &m->inputs, &m->n_inputs, path, err,
			   errlen)))
		return rc;
	if ((v = json_object_get(root, "outputs")) &&
	    (rc = parse_io(v, "outputs", &m->outputs, &m->n_outputs, path, err,
			   errlen)))
		return rc;
	if ((v = json_object_get(root, "limits")) &&
	    (rc = parse_limits(v, &m->limits, path, err, errlen)))
		return rc;
	if ((v = json_object_get(root, "batching")) &&
	    (rc = parse_batching(v, &m->batching, path, err, errlen)))
		return rc;
	if ((v = json_object_get(root, "threads"))) {
		if (!json_is_integer(v) || json_integer_value(v) < 1 ||
		    json_integer_value(v) > 256)
			return field_err(err, errlen, path, "threads",
					 "must be an integer from 1 to 256");
		m->threads = (int)json_integer_value(v);
	}
	if ((v = json_object_get(root, "resources")) &&
	    (rc = check_resources(v, path, err, errlen)))
		return rc;
	v = json_object_get(root, "options");
	if (v && !json_is_object(v))
		return field_err(err, errlen, path, "options",
				 "must be an object");
	if ((rc = parse_engine(root, v, m, err, errlen)))
		return rc;
	if ((v = json_object_get(root, "example"))) {
		m->example_json = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		if (!m->example_json)
			return CS_ENOMEM;
	}
	return CS_OK;
}

int cs_manifest_load(const char *path, cs_manifest **out, char *err,
		     size_t errlen)
{
	char dirbuf[PATH_MAX];
	cs_manifest *m;
	json_error_t jerr;
	json_t *root;
	char *slash;
	int rc;

	m = calloc(1, sizeof(*m));
	if (!m)
		return CS_ENOMEM;
	cs_limits_default(&m->limits);
	m->threads = 1;
	m->path = strdup(path);
	if (!m->path) {
		rc = CS_ENOMEM;
		goto out_free_manifest;
	}
	if (!realpath(path, dirbuf)) {
		snprintf(err, errlen, "%s: cannot open: %s", path,
			 strerror(errno));
		rc = CS_EIO;
		goto out_free_manifest;
	}
	slash = strrchr(dirbuf, '/');
	if (slash == dirbuf)
		slash[1] = '\0';
	else if (slash)
		*slash = '\0';
	m->dir = strdup(dirbuf);
	if (!m->dir) {
		rc = CS_ENOMEM;
		goto out_free_manifest;
	}

	root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		snprintf(err, errlen, "%s:%d:%d: not valid JSON: %s", path,
			 jerr.line, jerr.column, jerr.text);
		rc = CS_EFORMAT;
		goto out_free_manifest;
	}
	rc = parse(root, m, err, errlen);
	json_decref(root);
	if (rc == CS_ENOMEM)
		snprintf(err, errlen, "%s: out of memory", path);
	if (rc)
		goto out_free_manifest;
	*out = m;
	return CS_OK;

out_free_manifest:
	cs_manifest_free(m);
	return rc;
}

static void free_strings(char **list, size_t n)
{
	if (!list)
		return;
	for (size_t i = 0; i < n; i++)
		free(list[i]);
	free(list);
}

static void free_io(cs_io_desc *io, size_t n)
{
	if (!io)
		return;
	for (size_t i = 0; i < n; i++)
		free((char *)io[i].name);
	free(io);
}

void cs_manifest_free(cs_manifest *m)
{
	if (!m)
		return;
	free(m->path);
	free(m->dir);
	free(m->name);
	free(m->version);
	free(m->description);
	free(m->owner);
	free_strings(m->tags, m->n_tags);
	free(m->plugin);
	free(m->model_path);
	free(m->glue_path);
	free_io(m->inputs, m->n_inputs);
	free_io(m->outputs, m->n_outputs);
	free_strings(m->public_methods, m->n_public);
	free(m->options_json);
	free(m->engine);
	free(m->example_json);
	free(m);
}

int cs_manifest_is_public(const cs_manifest *m, const char *method)
{
	if (!m->public_methods)
		return 1;
	for (size_t i = 0; i < m->n_public; i++)
		if (strcmp(m->public_methods[i], method) == 0)
			return 1;
	return 0;
}
