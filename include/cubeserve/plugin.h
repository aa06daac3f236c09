/*
 * cubeserve/plugin.h - the model backend ABI, version 1.
 *
 * A plugin is a shared object that exports ONE symbol, CS_PLUGIN_ENTRY_NAME
 * ("cs_plugin_entry"), a function that returns a pointer to a static, const
 * cs_plugin table. The runtime dlopen()s the file with RTLD_NOW|RTLD_LOCAL,
 * calls the entry once, and refuses the plugin when the table's major ABI
 * version differs from the runtime's (the message names both versions and the
 * file) or when struct_size is smaller than the ABI 1.0 table.
 *
 * Lifecycle, all driven by the runtime:
 *   load()      once per model, before any request; may be slow.
 *   describe()  after load(); the model's real inputs and outputs.
 *   infer()     per request (or per batch); must be fast and must not keep
 *               pointers to its arguments after it returns.
 *   unload()    once, at shutdown or when the load is rolled back.
 * A process that forks after load() (the prefork master) shares the loaded
 * model with its children; a plugin must not start threads in load() that
 * infer() relies on, since threads do not survive fork().
 *
 * Errors: every call that can fail returns a cs_status and writes a one-line,
 * NUL-terminated message into the caller's buffer err[errlen] (errlen is at
 * least CS_ERROR_SIZE). A plugin never calls exit(), never prints to stdout
 * (stdout may be the FastCGI stream) and never lets a C++ exception cross
 * this ABI; it reports through host->log() or the error buffer instead.
 *
 * The table is append-only: new members are only added at the end, under an
 * "ABI 1.N and later" comment, and a runtime reads a member only when
 * struct_size says the plugin has it.
 */
#ifndef CUBESERVE_PLUGIN_H
#define CUBESERVE_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#include <cubeserve/tensor.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CS_PLUGIN_ABI_MAJOR 1
#define CS_PLUGIN_ABI_MINOR 1
#define CS_PLUGIN_ABI_VERSION \
	(((uint32_t)CS_PLUGIN_ABI_MAJOR << 16) | (uint32_t)CS_PLUGIN_ABI_MINOR)
#define CS_PLUGIN_ABI_VERSION_MAJOR(v) ((uint32_t)(v) >> 16)
#define CS_PLUGIN_ABI_VERSION_MINOR(v) ((uint32_t)(v)&0xffffu)

/* The one symbol a plugin exports. */
#define CS_PLUGIN_ENTRY_NAME "cs_plugin_entry"

/* Size of the error buffers the runtime hands in. */
#define CS_ERROR_SIZE 256

/*
 * Status codes, shared by the runtime and plugins. Numbered once, only ever
 * appended. The runtime maps them to HTTP statuses (docs/plugin-abi.md).
 */
typedef enum cs_status {
	CS_OK = 0,
	CS_EINVAL = -1,       /* bad argument or input (HTTP 400) */
	CS_ENOMEM = -2,       /* out of memory (500) */
	CS_EIO = -3,          /* a file could not be read or written */
	CS_EFORMAT = -4,      /* a file is not what it should be */
	CS_EBACKEND = -5,     /* the backend library failed (500) */
	CS_EUNSUPPORTED = -6, /* valid, but not supported here (400) */
	CS_ENOTFOUND = -7,    /* no such model, method, name (404) */
	CS_ETOOLARGE = -8,    /* over a size limit (413) */
	CS_ETIMEOUT = -9,     /* over a time limit (504) */
	CS_EABI = -10,        /* plugin ABI mismatch */
	CS_ELIMIT = -11,      /* over a glue instruction or memory budget (500) */
	CS_EUNAVAILABLE = -12, /* not ready or overloaded (503) */
	/* ABI 1.1 and later: codes the runtime uses for requests */
	CS_EMETHOD = -13,      /* HTTP method not allowed on the path (405) */
	CS_EMEDIA = -14,       /* unsupported content type (415) */
	CS_EHEADERS = -15,     /* too many or too large headers (431) */
	CS_EAUTH = -16,        /* no credentials or bad ones (401) */
	CS_EFORBIDDEN = -17,   /* credentials lack the right (403) */
	CS_ERATE = -18,        /* over a rate limit or quota (429) */
	CS_ECONFLICT = -19     /* a concurrent change won (409) */
} cs_status;

/* Plugin flags (cs_plugin.flags). */
enum {
	/* infer() may be called from several threads at once on one model. */
	CS_PLUGIN_THREAD_SAFE = 1u << 0,
	/*
	 * infer() accepts any size in dimension 0 of every input whose declared
	 * dimension 0 is -1, and its outputs have the same dimension 0: the
	 * runtime may concatenate requests along it (dynamic batching).
	 */
	CS_PLUGIN_BATCHING = 1u << 1,
};

/* Log levels for cs_host.log(). */
enum { CS_LOG_ERROR = 0, CS_LOG_WARN = 1, CS_LOG_INFO = 2, CS_LOG_DEBUG = 3 };

/*
 * Services the runtime hands to load(). The table and everything it points
 * to stay valid until unload() returns. log() is thread-safe.
 */
typedef struct cs_host {
	uint32_t abi_version; /* CS_PLUGIN_ABI_VERSION of the runtime */
	uint32_t struct_size; /* sizeof(cs_host) of the runtime */
	void *ctx;            /* pass back as the first argument */
	/* Writes one line to the worker's log, tagged with the model name. */
	void (*log)(void *ctx, int level, const char *msg);
	/* ABI 1.1 and later: new services go here. */
} cs_host;

/*
 * What to load. All strings are borrowed for the duration of load() only:
 * copy what you keep.
 */
typedef struct cs_model_spec {
	uint32_t struct_size;     /* sizeof(cs_model_spec) of the runtime */
	const char *name;         /* model name from the manifest */
	const char *model_path;   /* absolute path of the model file; may be NULL */
	const char *base_dir;     /* absolute directory of the manifest */
	const char *options_json; /* the manifest's "options" object as JSON, "{}" if none */
	int threads;              /* intra-op threads to use (>= 1) */
} cs_model_spec;

/*
 * One declared input or output. shape may hold -1 for a dimension of any
 * size (at least for dimension 0 when the model takes a batch). Its layout
 * is frozen for ABI 1, like cs_tensor's (tensor.h).
 */
typedef struct cs_io_desc {
	const char *name;
	cs_dtype dtype;
	int32_t ndim;
	int64_t shape[CS_MAX_DIMS];
} cs_io_desc;

/*
 * The allocator for infer() outputs. Memory from alloc() belongs to the
 * runtime, which frees it when the request ends: a plugin never frees or
 * keeps it. alloc() returns memory aligned to 16 bytes, or NULL when out of
 * memory (then return CS_ENOMEM).
 */
typedef struct cs_allocator {
	void *ctx;
	void *(*alloc)(void *ctx, size_t size);
} cs_allocator;

typedef struct cs_plugin {
	uint32_t abi_version;     /* CS_PLUGIN_ABI_VERSION the plugin was built with */
	uint32_t struct_size;     /* sizeof(cs_plugin) the plugin was built with */
	const char *name;         /* short backend name, e.g. "native" */
	const char *version;      /* the plugin's own version string */
	uint32_t flags;           /* CS_PLUGIN_* */

	/* ABI 1.0 and later */

	/*
	 * Loads a model. On CS_OK, *model is an opaque handle that the runtime
	 * passes to the other calls and finally to unload(). On failure *model
	 * is untouched, everything allocated is released, and err names the
	 * file and the reason.
	 */
	int (*load)(const cs_host *host, const cs_model_spec *spec,
		    void **model, char *err, size_t errlen);

	/*
	 * The model's inputs and outputs. The arrays and their strings are
	 * owned by the model and stay valid until unload(). Called once after
	 * load(); need not be thread-safe.
	 */
	int (*describe)(void *model, const cs_io_desc **inputs, size_t *n_inputs,
			const cs_io_desc **outputs, size_t *n_outputs,
			char *err, size_t errlen);

	/*
	 * Runs the model. inputs[n_inputs] are borrowed for the call, one per
	 * described input in describe() order, each already checked by the
	 * runtime against its declared dtype and shape; their data is aligned
	 * to at least the size of one element of its dtype (nothing more is
	 * promised: a view may point into a request body). outputs[n_outputs] has
	 * one entry per described output, in describe() order, with name set;
	 * the plugin sets dtype, ndim, shape, nbytes and data, allocating data
	 * through alloc. On failure the outputs may be partly set; the runtime
	 * ignores them. Thread-safe only when flags has CS_PLUGIN_THREAD_SAFE.
	 */
	int (*infer)(void *model, const cs_tensor *inputs, size_t n_inputs,
		     cs_tensor *outputs, size_t n_outputs,
		     const cs_allocator *alloc, char *err, size_t errlen);

	/* Releases a loaded model. The handle is invalid afterwards. */
	void (*unload)(void *model);

	/* ABI 1.1 and later */

	/*
	 * Optional (NULL allowed): a one-line JSON object that says how the
	 * model runs, e.g. the onnx plugin's {"engine": "xnnpack", "reason":
	 * "..."}; GET /models/NAME shows it as "backend". The string is owned
	 * by the model and valid until unload(). Called after load(), from any
	 * thread; it must not change the model.
	 */
	const char *(*info)(void *model);

	/* ABI 1.2 and later: new members go here. */
} cs_plugin;

/* The entry symbol's type. Returns a static table; never NULL. */
typedef const cs_plugin *(*cs_plugin_entry_fn)(void);

#if defined(__GNUC__)
#define CS_PLUGIN_EXPORT __attribute__((visibility("default")))
#else
#define CS_PLUGIN_EXPORT
#endif

#ifdef __cplusplus
}
#endif

#endif /* CUBESERVE_PLUGIN_H */
