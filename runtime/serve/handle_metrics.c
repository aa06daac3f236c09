/*
 * handle_metrics.c - GET /metrics: the pool's scoreboard as Prometheus
 * text (docs/protocol.md, "Metrics").
 */
#include <stdlib.h>

#include "serve/gateway.h"
#include "serve/handler.h"

void cs_handle_metrics(cs_call *c, cs_response *resp)
{
	const cs_model *m = c->srv->model;
	size_t len = 0;
	char *text = cs_metrics_render(c->srv->metrics, m->mf->version,
				       m->plugin->api->name, &len);

	if (text)
		text = cs_gateway_metrics(c->srv->gateway, text, &len);
	if (!text)
		cs_response_fail(resp, CS_EBACKEND, "metrics unavailable");
	else
		cs_response_take(resp, 200, "text/plain; version=0.0.4; charset=utf-8",
				 text, len);
}
