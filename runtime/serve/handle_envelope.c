/*
 * handle_envelope.c - CubeAI's call shapes on a model: POST
 * /models/<m>/api/model ({"method", "kwargs"}), api/stream/<method> (the
 * body as bytes), api/file/<method> (a multipart upload in the field
 * named after the method) and ServiceBoot's api/data ({"action", "args"},
 * or multipart with an "action" field, or a raw body with ?action=).
 * Answers are wrapped as {"status", "value"}.
 */
#include <string.h>

#include "core/names.h"
#include "protocol/envelope.h"
#include "serve/handler.h"

void cs_handle_api(cs_call *c, cs_response *resp)
{
	cs_server *s = c->srv;
	const cs_route *route = c->route;
	cs_request *req = c->req;
	cs_arena *arena = c->arena;
	const char *method = route->method;
	json_t *kwargs = NULL;
	cs_glue_result res;
	cs_form_part part;
	char err[512];
	char *m;
	int rc;

	memset(&res, 0, sizeof res);
	if (route->kind == CS_ROUTE_API_MODEL) {
		if (req->content_type[0] && !cs_is_json_type(req->content_type)) {
			cs_response_fail(resp, CS_EMEDIA, "api/model takes application/json {\"method\": ..., \"kwargs\": {...}}, not '%.64s'",
					  req->content_type);
			goto out_wrap;
		}
		if (cs_call_precheck_json(c, resp))
			goto out_wrap;
		rc = cs_envelope_parse(req->body, req->body_len, arena, &m, &kwargs,
				       err, sizeof err);
		if (rc) {
			cs_response_fail(resp, rc, "%s", err);
			goto out_wrap;
		}
		method = m;
		req->json = kwargs;
	} else if (route->kind == CS_ROUTE_API_DATA) {
		int form;

		if ((!req->content_type[0] || cs_is_json_type(req->content_type)) &&
		    cs_call_precheck_json(c, resp))
			goto out_wrap;
		rc = cs_envelope_read("action", req->content_type, req->query, req->body,
				      req->body_len, arena, &m, &kwargs, &form, err,
				      sizeof err);
		if (rc) {
			cs_response_fail(resp, rc, "%s", err);
			goto out_wrap;
		}
		method = m;
		req->json = kwargs;
	} else if (route->kind == CS_ROUTE_API_FILE) {
		rc = cs_form_find(req->content_type, req->body, req->body_len, method,
				  arena, &part, err, sizeof err);
		if (rc) {
			cs_response_fail(resp, rc, "%s", err);
			goto out_wrap;
		}
		req->file_name = part.name;
		req->file_filename = part.filename;
		req->file_type = part.content_type;
		req->file_data = part.data;
		req->file_len = part.len;
		req->body = (char *)part.data;
		req->body_len = part.len;
		req->content_type = part.content_type;
	}
	if (!cs_name_valid(method) || !cs_glue_has_method(s->glue, method)) {
		cs_response_fail(resp, CS_ENOTFOUND, "model '%s' has no public method '%.64s'",
				  s->model->mf->name, method);
		goto out_wrap;
	}
	cs_glue_call(s->glue, method, req, arena, &res);
	cs_response_take(resp, res.http_status, res.content_type, res.body,
			 res.body_len);
out_wrap:
	cs_envelope_wrap(resp, res.raw);
	json_decref(kwargs);
	req->json = NULL;
}

