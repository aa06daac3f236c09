/*
 * v2.h - the Open Inference Protocol (KServe V2) REST codec: inference
 * requests in (JSON `data` decoded straight into tensor buffers, or the
 * binary tensor data extension), inference responses out (JSON, binary or
 * mixed), and the metadata documents. docs/protocol.md is the contract.
 *
 * Pure functions over caller memory: tensors and strings of a parsed
 * request live in the request's arena; only the jansson `parameters`
 * values are owned by the request (cs_v2_request_free()). Thread-safe.
 */
#ifndef CS_V2_H
#define CS_V2_H

#include <stddef.h>

#include <jansson.h>

#include <cubeserve/plugin.h>

#include "core/arena.h"
#include "core/request.h"
#include "protocol/json_tensor.h"

#define CS_V2_MAX_TENSORS 64

/* One requested output. */
typedef struct cs_v2_output_req {
	const char *name;      /* arena */
	int binary;            /* parameters.binary_data: -1 not given, 0, 1 */
} cs_v2_output_req;

/* A parsed inference request. */
typedef struct cs_v2_request {
	const char *id;             /* arena; NULL when absent */
	json_t *parameters;         /* owned; NULL when absent */
	int binary_output;          /* parameters.binary_data_output (0/1) */
	cs_tensor inputs[CS_V2_MAX_TENSORS]; /* names and data: arena */
	size_t n_inputs;
	cs_v2_output_req outputs[CS_V2_MAX_TENSORS];
	size_t n_outputs;
	int outputs_given;          /* "outputs" was in the request */
	size_t binary_bytes;        /* bytes of binary input data */
} cs_v2_request;

/*
 * Parses an inference request body. header_len is the value of the
 * Inference-Header-Content-Length header (the JSON part; binary tensor
 * data follows it), or (size_t)-1 when the header is absent (the whole
 * body is JSON). Returns CS_OK, or CS_EINVAL, CS_ETOOLARGE or CS_ENOMEM
 * with the message in err. On 0 free the request with cs_v2_request_free(); on an
 * error nothing needs freeing.
 */
cs_status cs_v2_parse_request(const char *body, size_t body_len, size_t header_len,
			const cs_json_limits *lim, cs_arena *arena,
			cs_v2_request *out, char *err, size_t errlen);

/* Releases what a parsed request owns. */
void cs_v2_request_free(cs_v2_request *r);

/*
 * Encodes an inference response into resp: model_name, model_version, id,
 * parameters (resp_params, borrowed, may be NULL), and the outputs the
 * request selected (all, in order, when it selected none), each as JSON
 * `data` or as binary data per binary_data / binary_data_output. With any
 * binary output the body is the JSON followed by the data, the content
 * type application/octet-stream and an Inference-Header-Content-Length
 * header; else application/json. Returns CS_OK, or a cs_status with the
 * error already set in resp (an unknown requested output: CS_EINVAL).
 */
cs_status cs_v2_encode_response(const char *model_name, const char *model_version,
			  const cs_v2_request *rq, const cs_tensor *outputs,
			  size_t n_outputs, const json_t *resp_params,
			  cs_response *resp);

/*
 * The JSON description of inputs or outputs, as V2 and the metadata
 * endpoints write them: [{"name", "datatype", "shape"}, ...]. A new
 * reference (json_decref()), or NULL when out of memory.
 */
json_t *cs_io_list_json(const cs_io_desc *io, size_t n);

/* The V2 platform name of a plugin ("onnx" -> "onnx_onnxv1"). Static. */
const char *cs_v2_platform(const char *plugin);

#endif
