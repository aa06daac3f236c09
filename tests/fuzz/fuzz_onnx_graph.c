/*
 * fuzz_onnx_graph.c - libFuzzer target: the onnx plugin's protobuf reader
 * (plugins/onnx/onnx_graph.c) on any bytes, as a whole ModelProto (nodes,
 * attributes, initializers) and as one TensorProto (a test-data file).
 */
#include <stdint.h>
#include <stdlib.h>

#include "onnx_graph.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cs__onnx_graph *g = NULL;
	cs__onnx_tensor t;
	char err[256];

	if (cs__onnx_model_read(data, size, &g, err, sizeof err) == CS_OK) {
		for (size_t k = 0; k < g->n_nodes; k++) /* touch what it read */
			(void)cs__onnx_attr_find(&g->nodes[k], "axis");
		cs__onnx_model_free(g);
	}
	if (cs__onnx_tensor_read(data, size, &t, err, sizeof err) == CS_OK)
		cs__onnx_tensor_clear(&t);
	return 0;
}
