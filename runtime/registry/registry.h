/*
 * registry.h - the model registry and live state in Redis (hiredis).
 *
 * docs/registry.md is the contract: every key, its type, who writes it and
 * when. All keys live under one prefix (default "cs:"). Writes that belong
 * together run as one Lua script on the Redis side (EVAL), so a publish, a
 * removal, a rating or a deployment record is either all there or not at
 * all, and checks (a version already published, a model deployed) are made
 * in the same atomic step as the write.
 *
 * A cs_registry is one connection; it is not thread-safe (the heartbeat
 * thread has its own). Like hiredis' redisContext, it carries the last
 * error: err (a cs_status or CS_REG_*) and errstr.
 */
#ifndef CS_REGISTRY_H
#define CS_REGISTRY_H

#include <stddef.h>

#include <jansson.h>

#include <cubeserve/plugin.h>

/* The schema this code reads and writes (the value of PREFIX "schema"). */
#define CS_REGISTRY_SCHEMA 1
#define CS_REGISTRY_PREFIX "cs:"

/*
 * Registry outcomes beyond cs_status (kept apart from the plugin ABI's
 * numbers; never renumbered).
 */
enum {
	CS_REG_EXISTS = -100,   /* the version is already published */
	CS_REG_DEPLOYED = -101, /* refused: the model is deployed */
	CS_REG_SCHEMA = -102,   /* the registry has another schema version */
	CS_REG_TAKEN = -103     /* a live agent holds that host name */
};

typedef struct cs_registry {
	void *ctx;                   /* redisContext */
	char *url;                   /* as given, its password masked (url.h) */
	char prefix[64];
	int err;                     /* last failure: cs_status or CS_REG_* */
	char errstr[CS_ERROR_SIZE * 2];
} cs_registry;

/*
 * Parses a registry address (every form of registry/url.h: user, password,
 * database, TLS) and gives where it points: exactly one of host/path is
 * filled. Returns CS_OK or CS_EINVAL with err showing the accepted forms
 * (the URL in it masked).
 */
int cs_registry_parse_url(const char *url, char *host, size_t hostlen,
			  int *port, char *path, size_t pathlen, char *err,
			  size_t errlen);

/*
 * Connects (bounded by timeout_ms, also used for every command), over TLS
 * for rediss://, logs in (AUTH [USER] PASSWORD) and selects the database
 * when the URL has them, and checks with PING. No message and no field of
 * the handle ever holds the password. prefix NULL means
 * CS_REGISTRY_PREFIX. On CS_OK *out is a new handle (cs_registry_close()).
 * On CS_EUNAVAILABLE err says that Redis cannot be reached or refused the
 * login, at which (masked) address and what the server said;
 * CS_EUNSUPPORTED: rediss:// in a build without TLS.
 */
int cs_registry_open(const char *url, const char *prefix, int timeout_ms,
		     cs_registry **out, char *err, size_t errlen);

/* Closes the connection and frees the handle. NULL is allowed. */
void cs_registry_close(cs_registry *r);

/*
 * Checks the schema version key. create: set it when absent (writers do).
 * Returns CS_OK; CS_ENOTFOUND when absent and !create (an empty registry);
 * CS_REG_SCHEMA when it holds another version ("registry at URL has schema
 * version 7; this cubeserve knows 1"); CS_EUNAVAILABLE on a lost connection.
 */
int cs_registry_check_schema(cs_registry *r, int create);

/*
 * Runs one command given as argv (binary-safe) and returns its reply
 * (a redisReply *, free with cs_registry_free_reply()), or NULL with
 * r->err/errstr set: CS_EUNAVAILABLE for a lost connection, CS_EBACKEND
 * for an error reply (its text in errstr).
 */
void *cs_registry_argv(cs_registry *r, int argc, const char **argv);

/* Frees a reply. NULL is allowed. */
void cs_registry_free_reply(void *reply);

/* PREFIX + the formatted rest, into buf. */
void cs_registry_key(const cs_registry *r, char *buf, size_t len,
		     const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/*
 * A hash as a JSON object of strings. Returns CS_OK with *out new (decref
 * it), CS_ENOTFOUND when the key does not exist, or the failure.
 */
int cs_registry_hash(cs_registry *r, const char *key, json_t **out);

/* ---------------------------------------------------------------- catalog */

/*
 * Registers a version: its hash (vfields, strings), the model's hash
 * (created, default and counters when the model is new; description, owner
 * and tags from this version), the sorted set of versions, the tag index
 * and the references of its blobs, in one atomic step. Returns CS_OK,
 * CS_REG_EXISTS when that version is already published (nothing written),
 * CS_REG_SCHEMA, or a connection failure.
 */
int cs_registry_publish(cs_registry *r, const char *name,
			const char *version, json_t *vfields,
			const char *description, const char *owner,
			json_t *tags, const char *const *blobs,
			size_t n_blobs);

/*
 * Removes a version (version NULL: the whole model) atomically. Refused
 * with CS_REG_DEPLOYED while a deployment uses it, unless force. When the
 * default version goes, the newest remaining becomes the default; when the
 * last version goes, the model goes. On CS_OK *orphans (when not NULL) is
 * a new JSON array of the sha256 of blobs no version references any more
 * and *webs (when not NULL) a new JSON array of the web folder digests
 * (web_sha256) no remaining version of any model has; the caller deletes
 * both from the store (cs_store_remove, cs_web_remove) and json_decref()s
 * the arrays. CS_ENOTFOUND when absent.
 */
int cs_registry_remove(cs_registry *r, const char *name, const char *version,
		       int force, json_t **orphans, json_t **webs);

/* Sets the default version. CS_ENOTFOUND when the version is absent. */
int cs_registry_set_default(cs_registry *r, const char *name,
			    const char *version);

/*
 * Records user's rating (1..5) of a model, replacing their earlier one.
 * On CS_OK *sum and *count are the model's new totals.
 */
int cs_registry_rate(cs_registry *r, const char *name, const char *user,
		     int stars, long long *sum, long long *count);

/* Adds (on) or removes user's favourite; *count gets the new total. */
int cs_registry_favorite(cs_registry *r, const char *name, const char *user,
			 int on, long long *count);

/*
 * The model record: its hash plus "name", "versions" (array of {version,
 * published}), "favorites" and "deployment" (when deployed). version
 * (NULL: the default) adds "record": that version's hash. views_inc adds
 * one view first. CS_ENOTFOUND names what is missing in errstr.
 */
int cs_registry_model(cs_registry *r, const char *name, const char *version,
		      int views_inc, json_t **out);

/* Every model's hash (with "name"), sorted by name, as a new array. */
int cs_registry_models(cs_registry *r, json_t **out);

/* The names of the models carrying every tag in tags (a new array). */
int cs_registry_tagged(cs_registry *r, const char *const *tags, size_t n,
		       json_t **out);

/* The store directory recorded in the registry's config, or NULL (free). */
char *cs_registry_config_get(cs_registry *r, const char *field);

/* Sets a config field when it has none yet (HSETNX). */
int cs_registry_config_setnx(cs_registry *r, const char *field,
			     const char *value);

/* ------------------------------------------------------------ deployments */

/*
 * Writes a deployment's hash (fields: strings) and adds it to the set of
 * deployments, checking atomically that name@version is published.
 * CS_ENOTFOUND when it is not.
 */
int cs_registry_deployment_put(cs_registry *r, const char *name,
			       json_t *fields);

/* A deployment's hash (new), or CS_ENOTFOUND. */
int cs_registry_deployment(cs_registry *r, const char *name, json_t **out);

/* Every deployment's hash (with "name"), sorted by name. */
int cs_registry_deployments(cs_registry *r, json_t **out);

/* Deletes a deployment and its instance set. */
int cs_registry_deployment_delete(cs_registry *r, const char *name);

/*
 * The live instances of a model (hashes whose heartbeat has not expired),
 * as a new array; ids whose hash expired are dropped from the set.
 */
int cs_registry_instances(cs_registry *r, const char *name, json_t **out);

/* Writes the scaling hint of a model: desired processes, reason, time. */
int cs_registry_hint(cs_registry *r, const char *name, int desired,
		     const char *reason);

/* ------------------------------------------------------------ heartbeats */

/* How long an instance hash lives without a heartbeat. */
#define CS_INSTANCE_TTL_SECONDS 5

/*
 * One heartbeat: writes the instance hash (fields: strings) with its TTL,
 * adds its id to the model's instance set and adds calls to the model's
 * call count, in one MULTI/EXEC.
 */
int cs_registry_heartbeat(cs_registry *r, const char *name, const char *id,
			  json_t *fields, long long calls);

/* Deletes an instance hash and its id (a clean stop). */
int cs_registry_instance_delete(cs_registry *r, const char *name,
				const char *id);

/*
 * A worker's model from the registry (resolve.c), run once at start before
 * the model is loaded: finds model NAME[@VERSION] (no version: the
 * model's default) in the registry at url, verifies every stored file against its sha256, and
 * builds the model's directory in the store (store_dir; NULL: the
 * $CUBESERVE_STORE environment variable, else the store the registry's
 * config names). On CS_OK *manifest_path is the stored manifest (free()
 * it) and *version (when not NULL) the version found (free() it).
 * Errors name what failed: Redis unreachable (CS_EUNAVAILABLE), unknown
 * schema, no such model or version (CS_ENOTFOUND), a missing or corrupt
 * blob (CS_ENOTFOUND, CS_EFORMAT).
 */
int cs_registry_resolve_manifest(const char *url,
				 const char *model_at_version,
				 const char *store_dir, char **manifest_path,
				 char **version, char *err, size_t errlen);

#endif
