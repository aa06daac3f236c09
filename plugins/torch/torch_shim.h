/*
 * torch_shim.h - the C face of the C++ shim over libtorch (torch_shim.cpp).
 *
 * Everything libtorch is behind these calls; no C++ exception leaves them
 * (each catches everything and turns it into a status and a message).
 * Internal to the torch plugin: hidden symbols, cs__ prefix.
 */
#ifndef CS_TORCH_SHIM_H
#define CS_TORCH_SHIM_H

#include <stdbool.h>
#include <stddef.h>

#include <cubeserve/plugin.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cs__torch_module cs__torch_module;

/* The archive member (extra file) that may hold the module's signature. */
#define CS_TORCH_SIGNATURE_FILE "cubeserve.json"

/*
 * Threads: libtorch's intra-op thread count is process-wide, and its
 * OpenMP pool does not survive fork(): a child of a process that ran
 * OpenMP work on several threads hangs in its first parallel region. So
 * load runs on one thread (and sets the inter-op threads to 1, once), and
 * each forward() sets the count it is given, which starts the pool in the
 * process that serves: after the prefork master's fork().
 */

/*
 * Loads a TorchScript archive on the CPU in eval mode; with optimize, runs
 * torch::jit::optimize_for_inference() on it (freezes it).
 * On CS_OK, *module is released by cs__torch_module_free() and *signature
 * is the text of the archive's CS_TORCH_SIGNATURE_FILE (malloc'ed, freed
 * by the caller with free()) or NULL when it has none. Otherwise err holds
 * libtorch's reason.
 */
int cs__torch_module_load(const char *path, bool optimize,
			  cs__torch_module **module, char **signature,
			  char *err, size_t errlen);

/*
 * Runs forward(in[0], ..., in[n_in-1]) (inputs borrowed, not copied) in
 * inference mode on threads intra-op threads. The result must be a tensor (n_out == 1) or a tuple or
 * list of n_out tensors; the shim sets dtype, ndim, shape, nbytes and data
 * of out[i], data allocated through alloc (so owned by the runtime). Not
 * thread-safe in the sense of cs_plugin: see torch.c.
 */
int cs__torch_module_forward(cs__torch_module *module, int threads,
			     const cs_tensor *in, size_t n_in, cs_tensor *out,
			     size_t n_out, const cs_allocator *alloc,
			     char *err, size_t errlen);

void cs__torch_module_free(cs__torch_module *module);

#ifdef __cplusplus
}
#endif

#endif
