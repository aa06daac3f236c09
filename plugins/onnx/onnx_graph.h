/*
 * onnx_graph.h - the declared inputs and outputs of an ONNX model, read
 * straight from its protobuf (ModelProto.graph.input/output), because
 * OpenCV's Net does not expose them. A reader of the few fields it needs,
 * not a protobuf library.
 */
#ifndef CS_ONNX_GRAPH_H
#define CS_ONNX_GRAPH_H

#include <stddef.h>
#include <stdint.h>

#include <cubeserve/plugin.h>

/*
 * Parses buf[len]. On CS_OK, *inputs[*n_inputs] are the graph inputs that
 * are not initializers (weights), *outputs[*n_outputs] the graph outputs;
 * a dimension without a fixed value (a dim_param such as "batch") is -1.
 * Both arrays and their names are freed by cs__onnx_graph_free(). An
 * element type the cubeserve dtypes lack gives CS_DTYPE_INVALID; the caller
 * decides. Malformed input gives CS_EFORMAT and a message.
 */
int cs__onnx_graph_read(const uint8_t *buf, size_t len, cs_io_desc **inputs,
			size_t *n_inputs, cs_io_desc **outputs,
			size_t *n_outputs, char *err, size_t errlen);

void cs__onnx_graph_free(cs_io_desc *descs, size_t n);

#endif
