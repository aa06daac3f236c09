/*
 * onnx_shim.h - the C face of the C++ shim over OpenCV DNN (onnx_shim.cpp).
 *
 * Everything OpenCV is behind these four calls; no C++ exception leaves them
 * (each catches everything and turns it into a status and a message). The
 * shim deals in FP32 only: the plugin converts other dtypes around it.
 * Internal to the onnx plugin: hidden symbols, cs__ prefix.
 */
#ifndef CS_ONNX_SHIM_H
#define CS_ONNX_SHIM_H

#include <stddef.h>
#include <stdint.h>

#include <cubeserve/plugin.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cs__onnx_net cs__onnx_net;

/* A named FP32 blob: an input (data borrowed) or an output (see forward). */
typedef struct cs__onnx_blob {
	const char *name;
	int32_t ndim;
	int64_t shape[CS_MAX_DIMS];
	float *data;
} cs__onnx_blob;

/*
 * Parses an ONNX model held in buf[len] (the caller keeps buf; OpenCV copies
 * the weights). Sets OpenCV's thread count to threads, process-wide. On
 * CS_OK *net is released by cs__onnx_net_free(); otherwise err holds
 * OpenCV's reason.
 */
int cs__onnx_net_new(const void *buf, size_t len, int threads,
		     cs__onnx_net **net, char *err, size_t errlen);

/*
 * Runs the net on in[n_in] (borrowed) and fills out[n_out], whose names the
 * caller sets: the shim sets ndim, shape and data, data allocated through
 * alloc (so owned by the runtime). Not thread-safe on one net.
 */
int cs__onnx_net_forward(cs__onnx_net *net, const cs__onnx_blob *in,
			 size_t n_in, cs__onnx_blob *out, size_t n_out,
			 const cs_allocator *alloc, char *err, size_t errlen);

void cs__onnx_net_free(cs__onnx_net *net);

#ifdef __cplusplus
}
#endif

#endif
