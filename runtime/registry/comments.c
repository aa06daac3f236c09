/*
 * comments.c - two-level comments on a model (comments.h).
 */
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#include <hiredis/hiredis.h>

#include "registry/comments.h"

/* ARGV: prefix, schema, name, user, text, parent, time. */
static const char add_lua[] =
	"local p = ARGV[1]\n"
	"local s = redis.call('GET', p .. 'schema')\n"
	"if s ~= ARGV[2] then return redis.error_reply('CSSCHEMA ' .. (s or 'none (an empty registry)')) end\n"
	"local name, parent = ARGV[3], tonumber(ARGV[6])\n"
	"if redis.call('EXISTS', p .. 'model:' .. name) == 0 then\n"
	"  return redis.error_reply('NOTFOUND no model named ' .. name) end\n"
	"local lkey = p .. 'comments:' .. name\n"
	"if parent ~= 0 then\n"
	"  local found = nil\n"
	"  for _, c in ipairs(redis.call('LRANGE', lkey, 0, -1)) do\n"
	"    local o = cjson.decode(c)\n"
	"    if o.id == parent then found = o break end\n"
	"  end\n"
	"  if not found then return redis.error_reply('NOTFOUND model ' .. name .. ' has no comment ' .. parent) end\n"
	"  if found.parent ~= 0 then return redis.error_reply('INVALID comment ' .. parent .. ' is a reply; reply to comment ' .. found.parent .. ' instead') end\n"
	"end\n"
	"local id = redis.call('INCR', p .. 'comment_seq:' .. name)\n"
	"redis.call('RPUSH', lkey, cjson.encode({id = id, parent = parent, user = ARGV[4], text = ARGV[5], time = tonumber(ARGV[7])}))\n"
	"return id\n";

static int fail(cs_registry *r, int code, const char *msg)
{
	r->err = code;
	snprintf(r->errstr, sizeof r->errstr, "%s", msg);
	return code;
}

int cs_registry_comment_add(cs_registry *r, const char *name, const char *user,
			    const char *text, long long parent, long long *id)
{
	char pbuf[32], tbuf[32], schema[16];
	struct timeval tv;
	redisReply *rep;
	size_t tl = text ? strlen(text) : 0;

	if (tl == 0 || strspn(text, " \t\r\n") == tl)
		return fail(r, CS_EINVAL, "a comment needs some text");
	if (tl > CS_COMMENT_MAX) {
		snprintf(r->errstr, sizeof r->errstr, "a comment is at most %d bytes, this one has %zu",
			 CS_COMMENT_MAX, tl);
		r->err = CS_EINVAL;
		return CS_EINVAL;
	}
	if (!user || !*user || strlen(user) > 64)
		return fail(r, CS_EINVAL, "a comment needs a user name of 1 to 64 bytes");
	if (parent < 0)
		return fail(r, CS_EINVAL, "parent must be 0 (the model) or a comment id");
	gettimeofday(&tv, NULL);
	snprintf(pbuf, sizeof pbuf, "%lld", parent);
	snprintf(tbuf, sizeof tbuf, "%lld", (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000);
	snprintf(schema, sizeof schema, "%d", CS_REGISTRY_SCHEMA);
	{
		const char *argv[] = {"EVAL", add_lua, "0", r->prefix, schema, name, user, text,
				      pbuf, tbuf};

		rep = cs_registry_argv(r, 10, argv);
	}
	if (!rep)
		return r->err;
	if (id)
		*id = rep->integer;
	cs_registry_free_reply(rep);
	return CS_OK;
}

int cs_registry_comments(cs_registry *r, const char *name, json_t **out)
{
	char mkey[256], lkey[256];
	redisReply *rep;
	json_t *all, *top, *c;
	size_t i;

	*out = NULL;
	cs_registry_key(r, mkey, sizeof mkey, "model:%s", name);
	cs_registry_key(r, lkey, sizeof lkey, "comments:%s", name);
	{
		const char *argv[] = {"EXISTS", mkey};

		rep = cs_registry_argv(r, 2, argv);
	}
	if (!rep)
		return r->err;
	if (rep->integer == 0) {
		cs_registry_free_reply(rep);
		snprintf(r->errstr, sizeof r->errstr, "no model named %s", name);
		r->err = CS_ENOTFOUND;
		return CS_ENOTFOUND;
	}
	cs_registry_free_reply(rep);
	{
		const char *argv[] = {"LRANGE", lkey, "0", "-1"};

		rep = cs_registry_argv(r, 4, argv);
	}
	if (!rep)
		return r->err;
	all = json_array();
	for (i = 0; i < rep->elements; i++) {
		json_t *o = json_loads(rep->element[i]->str, 0, NULL);

		if (json_is_object(o))
			json_array_append_new(all, o);
		else
			json_decref(o);
	}
	cs_registry_free_reply(rep);
	top = json_array();
	json_array_foreach(all, i, c) {
		if (json_integer_value(json_object_get(c, "parent")) == 0) {
			json_object_set_new(c, "replies", json_array());
			json_array_append(top, c);
		}
	}
	json_array_foreach(all, i, c) {
		json_int_t parent = json_integer_value(json_object_get(c, "parent"));
		size_t j;
		json_t *t;

		if (parent == 0)
			continue;
		json_array_foreach(top, j, t)
			if (json_integer_value(json_object_get(t, "id")) == parent)
				json_array_append(json_object_get(t, "replies"), c);
	}
	json_decref(all);
	*out = top;
	return CS_OK;
}
