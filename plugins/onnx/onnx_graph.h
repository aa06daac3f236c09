/*
 * onnx_graph.h - an ONNX model read straight from its protobuf: the declared
 * inputs and outputs (ModelProto.graph.input/output, which OpenCV's Net
 * does not expose) and, for the engines that run the graph themselves, its
 * nodes, attributes and initializers. A bounds-checked reader of the fields
 * it needs, not a protobuf library. Internal to the onnx plugin.
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

/*
 * A tensor (TensorProto), its data converted once: FLOAT and DOUBLE into
 * f[n], the integer types and BOOL into i[n] (the other one NULL).
 * elem_type is ONNX's TensorProto.DataType number.
 */
typedef struct cs__onnx_tensor {
	char *name;        /* NULL when the proto has none */
	int32_t elem_type;
	int32_t ndim;
	int64_t dims[CS_MAX_DIMS];
	size_t n;          /* elements: the product of dims */
	float *f;
	int64_t *i;
} cs__onnx_tensor;

/* One AttributeProto; type is AttributeProto.AttributeType. */
typedef struct cs__onnx_attr {
	char *name;
	int type;          /* 1 FLOAT, 2 INT, 3 STRING, 4 TENSOR, 6 FLOATS, 7 INTS */
	float f;
	int64_t i;
	char *s;           /* NUL-terminated copy; NULL when absent */
	cs__onnx_tensor *t;
	float *floats;
	size_t n_floats;
	int64_t *ints;
	size_t n_ints;
} cs__onnx_attr;

/* One NodeProto. A missing optional input is the empty string. */
typedef struct cs__onnx_node {
	char *name;        /* "" when the node has none */
	char *op_type;
	char *domain;      /* "" for the default domain */
	char **inputs;
	size_t n_inputs;
	char **outputs;
	size_t n_outputs;
	cs__onnx_attr *attrs;
	size_t n_attrs;
} cs__onnx_node;

/* A whole model: its graph in file order and the default-domain opset. */
typedef struct cs__onnx_graph {
	int64_t opset;
	cs__onnx_node *nodes;
	size_t n_nodes;
	cs__onnx_tensor *inits;
	size_t n_inits;
	cs_io_desc *inputs;   /* as cs__onnx_graph_read() gives them */
	size_t n_inputs;
	cs_io_desc *outputs;
	size_t n_outputs;
} cs__onnx_graph;

/*
 * Parses a whole model from buf[len] (the graph keeps no pointer into buf).
 * On CS_OK *out is freed by cs__onnx_model_free(). A malformed file gives
 * CS_EFORMAT, an initializer whose data does not match its dims (a
 * corrupted file) CS_EFORMAT naming it, external data or FLOAT16 weights
 * CS_EUNSUPPORTED; err says which.
 */
int cs__onnx_model_read(const uint8_t *buf, size_t len, cs__onnx_graph **out,
			char *err, size_t errlen);

void cs__onnx_model_free(cs__onnx_graph *g);

/*
 * Parses one serialized TensorProto (an initializer, or a test-data
 * .pb file) into *t, released by cs__onnx_tensor_clear(). Same errors as
 * cs__onnx_model_read().
 */
int cs__onnx_tensor_read(const uint8_t *buf, size_t len, cs__onnx_tensor *t,
			 char *err, size_t errlen);

void cs__onnx_tensor_clear(cs__onnx_tensor *t);

/* The node's attribute called name, or NULL. */
const cs__onnx_attr *cs__onnx_attr_find(const cs__onnx_node *nd,
					const char *name);

#endif
