/*
 * comments.h - comments on a model, two levels deep: a comment on the
 * model, and replies to such a comment (a reply cannot be replied to).
 *
 * Keys (docs/registry.md): PREFIX "comments:NAME", a list of JSON objects
 * {id, parent, user, text, time} in the order written, and PREFIX
 * "comment_seq:NAME", the last id given. Each write is one Lua script, so
 * its checks (the model exists, the parent is a top-level comment of it)
 * and the write cannot be separated. Text is stored as given; whoever
 * shows it escapes it (the console renders it as text, never as HTML).
 *
 * Same thread rules as registry.h: a cs_registry is used by one thread.
 */
#ifndef CS_COMMENTS_H
#define CS_COMMENTS_H

#include <jansson.h>

#include "registry/registry.h"

/* The longest comment accepted, in bytes. */
#define CS_COMMENT_MAX 4000

/*
 * Adds user's comment on model name; parent 0 comments on the model,
 * otherwise it replies to top-level comment parent. On CS_OK *id (when
 * not NULL) is the new comment's id. Errors (r->errstr names the problem):
 * CS_EINVAL for empty or over-long text or user, or a parent that is a
 * reply; CS_ENOTFOUND for no such model or parent comment; CS_REG_SCHEMA;
 * CS_EUNAVAILABLE. Nothing is written on an error.
 */
int cs_registry_comment_add(cs_registry *r, const char *name, const char *user,
			    const char *text, long long parent, long long *id);

/*
 * The comments of model name as a new array (json_decref() it) of
 * top-level comments, each with "replies": its replies in order.
 * CS_ENOTFOUND when the model does not exist.
 */
int cs_registry_comments(cs_registry *r, const char *name, json_t **out);

#endif
