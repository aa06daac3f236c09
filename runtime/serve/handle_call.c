/*
 * handle_call.c - POST /models/<m>[/<method>]: a public glue method, JSON
 * (or bytes) in, the method's answer out.
 */
#include "serve/handler.h"

void cs_handle_call(cs_call *c, cs_response *resp)
{
	cs_request *req = c->req;
	cs_glue_result res;

	if (!cs_glue_has_method(c->srv->glue, c->route->method)) {
		cs_response_fail(resp, CS_ENOTFOUND, "model '%s' has no public method '%s'",
				 c->srv->model->mf->name, c->route->method);
		return;
	}
	if (req->body_len && cs_is_json_type(req->content_type) &&
	    cs_call_precheck_json(c, resp))
		return;
	cs_glue_call(c->srv->glue, c->route->method, req, c->arena, &res);
	cs_response_take(resp, res.http_status, res.content_type, res.body,
			 res.body_len);
}
