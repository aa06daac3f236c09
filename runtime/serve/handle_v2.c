/*
 * handle_v2.c - POST /v2/models/<m>[/versions/<v>]/infer: the Open
 * Inference Protocol's infer, JSON or with the binary data extension.
 * The inputs are decoded straight into tensors; the glue's optional v2
 * hook runs on them, or they go to the model through the one inference
 * call (batched when the manifest asks for batching).
 */
#include <errno.h>
#include <stdlib.h>

#include "model/infer.h"
#include "protocol/v2.h"
#include "serve/handler.h"

void cs_handle_v2_infer(cs_call *c, cs_response *resp)
{
	cs_server *s = c->srv;
	cs_request *req = c->req;
	cs_arena *arena = c->arena;
	const char *hl = cs_request_param(req, "HTTP_INFERENCE_HEADER_CONTENT_LENGTH");
	size_t header_len = (size_t)-1;
	cs_json_limits jl;
	cs_v2_request rq;
	cs_tensor *outs;
	size_t n_out = 0;
	json_t *resp_params = NULL;
	char err[1024];
	int rc;

	if (hl) {
		char *end;
		unsigned long long v;

		errno = 0;
		v = strtoull(hl, &end, 10);
		if (errno || *end || !*hl || hl[0] == '-' || hl[0] == '+' || hl[0] == ' ') {
			cs_response_fail(resp, CS_EINVAL, "bad Inference-Header-Content-Length '%.32s'", hl);
			return;
		}
		header_len = (size_t)v;
	}
	if (req->content_type[0] && !cs_is_json_type(req->content_type) &&
	    !cs_is_type(req->content_type, "application/octet-stream")) {
		cs_response_fail(resp, CS_EMEDIA,
				  "an inference request is application/json (or application/octet-stream with binary data and Inference-Header-Content-Length), not '%.64s'",
				  req->content_type);
		return;
	}
	cs_call_json_limits(c, &jl);
	rc = cs_v2_parse_request(req->body, req->body_len, header_len, &jl, arena,
				 &rq, err, sizeof err);
	if (rc) {
		cs_response_fail(resp, rc, "%s", err);
		return;
	}
	outs = cs_arena_alloc(arena, CS_V2_MAX_TENSORS * sizeof(*outs));
	if (!outs) {
		cs_response_fail(resp, CS_ENOMEM, "out of memory");
		goto out_free_request;
	}
	if (cs_call_timed_out(c, "before inference", resp))
		goto out_free_request;
	if (cs_glue_has_v2(s->glue)) {
		cs_glue_result res;

		rc = cs_glue_call_v2(s->glue, req, arena, rq.inputs, rq.n_inputs,
				     rq.parameters, outs, CS_V2_MAX_TENSORS,
				     &n_out, &resp_params, &res);
		if (rc) {
			cs_response_take(resp, res.http_status, res.content_type,
					 res.body, res.body_len);
			goto out_free_request;
		}
	} else {
		n_out = s->model->n_outputs;
		if (n_out > CS_V2_MAX_TENSORS) {
			cs_response_fail(resp, CS_EBACKEND, "the model has more than %d outputs", CS_V2_MAX_TENSORS);
			goto out_free_request;
		}
		rc = cs_infer(&s->infer, rq.inputs, rq.n_inputs, outs, arena,
			      err, sizeof err);
		if (rc) {
			cs_response_fail(resp, rc, "%s", err);
			goto out_free_request;
		}
	}
	if (cs_call_timed_out(c, "in all", resp))
		goto out_free_request;
	cs_v2_encode_response(s->model->mf->name, s->model->mf->version, &rq,
			      outs, n_out, resp_params, resp);
out_free_request:
	json_decref(resp_params);
	cs_v2_request_free(&rq);
}

