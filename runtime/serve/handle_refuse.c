/*
 * handle_refuse.c - the answers for paths the worker does not serve:
 * 404 naming the model or the path, 405 with the allowed methods.
 */
#include <stdio.h>
#include <string.h>

#include "serve/handler.h"

void cs_handle_not_found(cs_call *c, cs_response *resp)
{
	const cs_route *r = c->route;
	const char *served = c->srv->model->mf->name;

	if (r->model[0] && strcmp(r->why, "unknown model") == 0)
		cs_response_fail(resp, CS_ENOTFOUND,
				 "unknown model '%s' (this worker serves '%s')",
				 r->model, served);
	else
		cs_response_fail(resp, CS_ENOTFOUND, "%s: %s", r->why, c->req->path);
}

void cs_handle_bad_method(cs_call *c, cs_response *resp)
{
	cs_response_fail(resp, CS_EMETHOD, "%s is not allowed on %s (allowed: %s)",
			 c->req->method, c->req->path, c->route->allow);
	snprintf(resp->allow, sizeof resp->allow, "%s", c->route->allow);
}
