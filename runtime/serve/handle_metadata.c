/*
 * handle_metadata.c - what a model is: GET /models/<m> (cubeserve's own
 * metadata: description, tags, inputs, outputs, methods, example) and the
 * V2 server and model metadata.
 */
#include "protocol/v2.h"
#include "serve/handler.h"

static void reply(cs_response *resp, json_t *o)
{
	cs_response_json(resp, 200, o);
	json_decref(o);
}

void cs_handle_metadata(cs_call *c, cs_response *resp)
{
	const cs_model *m = c->srv->model;
	const cs_manifest *mf = m->mf;
	json_t *o, *tags, *methods, *ex;
	const char *info;

	o = json_object();
	json_object_set_new(o, "name", json_string(mf->name));
	json_object_set_new(o, "version", json_string(mf->version));
	json_object_set_new(o, "description", json_string(mf->description));
	if (mf->owner[0])
		json_object_set_new(o, "owner", json_string(mf->owner));
	tags = json_array();
	for (size_t i = 0; i < mf->n_tags; i++)
		json_array_append_new(tags, json_string(mf->tags[i]));
	json_object_set_new(o, "tags", tags);
	json_object_set_new(o, "plugin", json_string(m->plugin->api->name));
	/* how the plugin runs the model (the onnx plugin: its engine, and why) */
	if ((info = cs_plugin_info(m->plugin->api, m->handle)) &&
	    (ex = json_loads(info, 0, NULL)))
		json_object_set_new(o, "backend", ex);
	json_object_set_new(o, "inputs", cs_io_list_json(m->inputs, m->n_inputs));
	json_object_set_new(o, "outputs", cs_io_list_json(m->outputs, m->n_outputs));
	methods = json_array();
	for (const char *const *p = cs_glue_methods(c->srv->glue); *p; p++)
		json_array_append_new(methods, json_string(*p));
	json_object_set_new(o, "methods", methods);
	if (mf->example_json &&
	    (ex = json_loads(mf->example_json, JSON_DECODE_ANY, NULL)))
		json_object_set_new(o, "example", ex);
	reply(resp, o);
}

void cs_handle_v2_server(cs_call *c, cs_response *resp)
{
	(void)c;
	reply(resp, json_pack("{s:s,s:s,s:[s]}", "name", "cubeserve", "version",
			      CS_VERSION, "extensions", "binary_tensor_data"));
}

void cs_handle_v2_model(cs_call *c, cs_response *resp)
{
	const cs_model *m = c->srv->model;

	reply(resp, json_pack("{s:s,s:[s],s:s,s:o,s:o}", "name", m->mf->name,
			      "versions", m->mf->version, "platform",
			      cs_v2_platform(m->plugin->api->name), "inputs",
			      cs_io_list_json(m->inputs, m->n_inputs), "outputs",
			      cs_io_list_json(m->outputs, m->n_outputs)));
}

void cs_handle_v2_model_ready(cs_call *c, cs_response *resp)
{
	reply(resp, json_pack("{s:s,s:b}", "name", c->srv->model->mf->name,
			      "ready", 1));
}
