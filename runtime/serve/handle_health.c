/*
 * handle_health.c - readiness and liveness: /health, /v2/health/live,
 * /v2/health/ready. A worker only serves once its model and glue are
 * loaded, so a process that answers is ready.
 */
#include "serve/handler.h"

static void reply(cs_response *resp, json_t *o)
{
	cs_response_json(resp, 200, o);
	json_decref(o);
}

void cs_handle_health(cs_call *c, cs_response *resp)
{
	const cs_manifest *mf = c->srv->model->mf;

	reply(resp, json_pack("{s:s,s:s,s:s}", "status", "ready", "model",
			      mf->name, "version", mf->version));
}

void cs_handle_v2_live(cs_call *c, cs_response *resp)
{
	(void)c;
	reply(resp, json_pack("{s:b}", "live", 1));
}

void cs_handle_v2_ready(cs_call *c, cs_response *resp)
{
	(void)c;
	reply(resp, json_pack("{s:b,s:b}", "ready", 1, "live", 1));
}
