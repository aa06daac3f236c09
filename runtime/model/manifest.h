/*
 * manifest.h - a model's manifest (model.json): parse and validate.
 *
 * docs/manifest.md documents every field. A manifest is read once at start
 * and is immutable afterwards, so it may be shared by threads.
 */
#ifndef CS_MANIFEST_H
#define CS_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#include <cubeserve/plugin.h>

/* Limits a model runs under; each has a default (docs/manifest.md). */
typedef struct cs_limits {
	size_t max_body_bytes;      /* request body; over it -> 413 */
	uint64_t glue_instructions; /* Lua VM instructions per request */
	size_t glue_memory_bytes;   /* memory of the Lua state */
	/* request hardening (docs/limits.md) */
	size_t max_json_depth;      /* nesting of a JSON body; over it -> 400 */
	uint64_t max_tensor_elements; /* elements of one request tensor -> 413 */
	size_t max_tensor_bytes;    /* bytes of all request tensors -> 413 */
	size_t max_string_bytes;    /* one JSON string / BYTES element -> 413 */
	size_t max_headers;         /* HTTP request headers -> 431 */
	uint64_t request_timeout_ms; /* queue + work time of a request -> 504 */
	uint64_t slow_request_ms;    /* log requests slower than this; 0: off */
	/* images decoded by the glue (image.decode) */
	uint64_t max_image_pixels;  /* width x height of one image -> 413 */
	size_t max_image_bytes;     /* encoded bytes of one image -> 413 */
} cs_limits;

#define CS_DEFAULT_MAX_BODY_BYTES ((size_t)1 << 20)
#define CS_DEFAULT_GLUE_INSTRUCTIONS ((uint64_t)50000000)
#define CS_DEFAULT_GLUE_MEMORY_BYTES ((size_t)64 << 20)
#define CS_DEFAULT_MAX_JSON_DEPTH ((size_t)64)
#define CS_DEFAULT_MAX_TENSOR_ELEMENTS ((uint64_t)1 << 24)
#define CS_DEFAULT_MAX_TENSOR_BYTES ((size_t)256 << 20)
#define CS_DEFAULT_MAX_STRING_BYTES ((size_t)1 << 20)
#define CS_DEFAULT_MAX_HEADERS ((size_t)64)
#define CS_DEFAULT_REQUEST_TIMEOUT_MS ((uint64_t)30000)
#define CS_DEFAULT_MAX_IMAGE_PIXELS ((uint64_t)16777216)
#define CS_DEFAULT_MAX_IMAGE_BYTES ((size_t)16 << 20)

/* Fills a cs_limits with the defaults. */
void cs_limits_default(cs_limits *lim);

#define CS_MAX_PREFERRED 16

/* Dynamic batching (docs/manifest.md); max_batch_size 0: off. */
typedef struct cs_batching {
	int max_batch_size;          /* rows per inference */
	uint64_t max_queue_delay_us; /* wait for more from the first arrival */
	int preferred[CS_MAX_PREFERRED]; /* dispatch at once at these sizes */
	size_t n_preferred;
	int threads;                 /* accept threads per process (default:
					max_batch_size, at most 64) */
	int threads_given;           /* the manifest named threads: serve with
					that many threads, not the event loop */
} cs_batching;

typedef struct cs_manifest {
	char *path;        /* the file, as given */
	char *dir;         /* absolute directory of the file */
	char *name;
	char *version;
	char *description; /* "" when absent */
	char *owner;       /* "" when absent */
	char **tags;
	size_t n_tags;
	char *plugin;      /* a plugin name or a path */
	char *model_path;  /* absolute, or NULL */
	char *glue_path;   /* absolute, or NULL (V2/raw only) */
	cs_io_desc *inputs; /* declared; n_inputs 0 when absent */
	size_t n_inputs;
	cs_io_desc *outputs;
	size_t n_outputs;
	char **public_methods; /* NULL: every method of the glue is public */
	size_t n_public;
	cs_limits limits;
	int threads;
	char *options_json; /* "{}" when absent; holds "engine" when given */
	char *engine;       /* "engine": auto|xnnpack|opencv, NULL when absent */
	char *example_json; /* NULL when absent */
	cs_batching batching;
} cs_manifest;

/*
 * Reads and validates a manifest. On CS_OK *out is a new manifest
 * (free with cs_manifest_free()). Otherwise err says which file and which
 * field ("m.json: field 'inputs[0].dtype': unknown dtype 'FP33'").
 */
int cs_manifest_load(const char *path, cs_manifest **out, char *err,
		     size_t errlen);

/* Frees a manifest and everything it holds. NULL is allowed. */
void cs_manifest_free(cs_manifest *m);

/* Whether a glue method may be called over HTTP. */
int cs_manifest_is_public(const cs_manifest *m, const char *method);

#endif
