/*
 * api.h - cubeserve-api, the console's JSON API under /api/ (docs/api.md):
 * a FastCGI program over the registry. What its handler files share.
 *
 * One request at a time per process (spawn-fcgi may start several); the
 * registry connection and the context are per process. Per-request memory
 * (body, parsed JSON, path segments) lives in the api_req and is freed when
 * the request ends.
 *
 * Operations: reads and the registry's own writes (rate, favourite,
 * comments, set-default, remove) call the registry functions directly.
 * Publish and the deployment operations exist once, in the `cubeserve`
 * command (runtime/cli/publish.c, deploy.c: they start processes and
 * rewrite nginx's routes), so the API runs that command as a job
 * (jobs.c) after checking its input itself, and the page follows the
 * job's steps; nothing is implemented twice.
 */
#ifndef CS_API_H
#define CS_API_H

#include <stddef.h>

#include <fcgiapp.h>
#include <jansson.h>

#include "registry/auth.h"
#include "registry/registry.h"

#define API_MAX_SEGS 8

typedef struct api_ctx {
	const char *registry_url;  /* as given */
	const char *prefix;        /* key prefix */
	const char *run_dir;       /* the stack's run directory (jobs, logs) */
	const char *cubeserve;     /* the `cubeserve` command the jobs run */
	size_t max_upload;         /* largest upload accepted, bytes */
	size_t max_json;           /* largest JSON body accepted, bytes */
	cs_registry *reg;          /* open, or NULL: reopened per request */
} api_ctx;

typedef struct api_req {
	FCGX_Request *fr;
	api_ctx *ctx;
	const char *method;        /* GET, POST, PUT, DELETE */
	const char *path;          /* DOCUMENT_URI, e.g. /api/models/digits */
	const char *query;         /* QUERY_STRING, "" when none */
	const char *ctype;         /* CONTENT_TYPE, "" when none */
	char *body;                /* NUL-terminated; NULL when none */
	size_t body_len;
	json_t *json;              /* the body parsed (api_json_body()) */
	char *segv[API_MAX_SEGS];  /* path segments after /api/ (decoded) */
	int segc;
	char *pathbuf;
	const char *user;          /* who asks (api_user()) */
	int sent;                  /* a response was written */
	int auth_on;               /* the registry's auth mode */
	int have_who;              /* who is a verified principal */
	cs_principal who;          /* from the request's key or session token */
	char token[CS_AUTH_KEY_MAX + 1]; /* that token (never logged) */
} api_req;

/* ------------------------------------------------------------ http.c */

/* Writes status + JSON body (stolen) with no-store caching. */
void api_send(api_req *q, int status, json_t *body);

/* Like api_send() with extra header lines (each "Name: value\r\n"). */
void api_send_h(api_req *q, int status, const char *headers, json_t *body);

/*
 * Writes {"error": message, "status": status} (message formatted). Every
 * refusal of the API goes through here, so each names its problem.
 */
void api_error(api_req *q, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Sends the registry's last failure (r->err mapped to HTTP, r->errstr). */
void api_reg_error(api_req *q);

/* The HTTP status for a cs_status / CS_REG_* outcome. */
int api_http_for(int status);

/*
 * The request body as a JSON object (parsed once). On failure it has sent
 * 400 (malformed, not an object) or 415 (not application/json) and
 * returns NULL. Borrowed: freed with the request.
 */
json_t *api_json_body(api_req *q);

/*
 * A query parameter, decoded into buf (NULL when absent). nth picks the
 * nth occurrence (0: the first), for repeated parameters like tag=.
 */
const char *api_query(const api_req *q, const char *key, int nth, char *buf,
		      size_t len);

/* Whether s is a model or deployment name (cs_name_valid()). */
int api_name_ok(const char *s);

/* Whether s is a version string ([A-Za-z0-9._+-], 1..64). */
int api_version_ok(const char *s);

/*
 * Finds who asks: with auth on, the principal of the request's
 * "Authorization: Bearer TOKEN" (a session from POST /api/session or an
 * API key), checked with cs_auth_key_verify(). Returns 0, or -1 when it
 * has sent the answer (401 for a bad token, 503 without Redis).
 */
int api_identify(api_req *q);

/*
 * The user a request acts as: the principal's name with auth on; with
 * auth off the name in X-Cubeserve-User ("anonymous" when absent); see
 * docs/api.md "Users and roles".
 */
const char *api_user(api_req *q);

/*
 * Whether a write may go on: the CSRF check (X-Cubeserve-Csrf: 1, a
 * header a cross-site form cannot send), then with auth on a principal
 * (401 without) whose role allows action on model (cs_auth_allow(); 403
 * naming the missing role). action is cs_auth_allow()'s ("vote",
 * "model.publish", "model.manage", "deploy"). When it may not, it has sent
 * the refusal and returns 0.
 */
int api_write_allowed(api_req *q, const char *action, const char *model);

/* The CSRF check alone (sign-in, sign-out); 403 sent when it fails. */
int api_csrf_ok(api_req *q, const char *action);

/*
 * Whether the asker may see model name: public models, and with auth on a
 * private one for admins, operators and its owner.
 */
int api_can_read(api_req *q, const char *name);

/* The registry connection, reconnected when lost; NULL: 503 sent. */
cs_registry *api_reg(api_req *q);

/* ------------------------------------------------------------ handlers */

void api_models_list(api_req *q);
void api_model_get(api_req *q, const char *name);
/*
 * A model path nginx has no route for (/models/NAME..., /v2/models/NAME...
 * rewritten to /api/unrouted/NAME): 404 saying whether NAME is published
 * but not deployed, or not published at all. Any method.
 */
void api_model_unrouted(api_req *q, const char *name);
void api_model_remove(api_req *q, const char *name, const char *version);
void api_model_set_default(api_req *q, const char *name);
void api_model_rate(api_req *q, const char *name);
void api_model_favorite(api_req *q, const char *name, int on);
void api_model_comments(api_req *q, const char *name);
void api_model_comment_add(api_req *q, const char *name);
void api_model_publish(api_req *q);
void api_openapi(api_req *q, const char *name);

void api_deployments_list(api_req *q);
void api_deployment_get(api_req *q, const char *name);
void api_deployment_logs(api_req *q, const char *name);
void api_deploy(api_req *q);
void api_deployment_action(api_req *q, const char *name, const char *action);
void api_deployment_switch(api_req *q, const char *name);

void api_job_get(api_req *q, const char *id);

void api_session_new(api_req *q);
void api_session_end(api_req *q);
void api_me(api_req *q);

/* ------------------------------------------------------------ jobs.c */

/*
 * Starts `cubeserve GLOBAL-OPTIONS argv...` in the background as job kind
 * (its output and exit code kept under RUN/api/jobs/). cleanup_dir (may
 * be NULL) is removed when the job ends. key (may be NULL) is passed to
 * the command as $CUBESERVE_KEY, so it checks the same principal's role
 * itself (and never falls back to a token file). On success fills id (17 bytes)
 * and returns 0; else -1 with err.
 */
int api_job_start(api_ctx *ctx, const char *kind, const char *target,
		  const char *const *argv, const char *cleanup_dir, const char *key,
		  char id[17], char *err, size_t errlen);

/* A new random id of 16 hex digits. */
void api_random_id(char id[17]);

/* The job's record as a new JSON object, or NULL when unknown. */
json_t *api_job_json(api_ctx *ctx, const char *id);

/* Removes a directory tree (best effort). */
void api_rm_tree(const char *dir);

/* ------------------------------------------------------------ upload.c */

/*
 * Extracts a .tar.gz held in data[0..len) into the empty directory dir,
 * refusing absolute paths, "..", links that lead outside dir, device
 * files, and more than max_bytes unpacked. On CS_OK *model_dir is the
 * directory holding model.json (dir or its only top-level folder; free
 * it). Errors: CS_EFORMAT (not a tar.gz, unsafe entry), CS_ETOOLARGE,
 * CS_ENOTFOUND (no model.json), with err naming the entry.
 */
int api_untar(const void *data, size_t len, const char *dir, size_t max_bytes,
	      char **model_dir, char *err, size_t errlen);

/* ------------------------------------------------------------ openapi.c */

/*
 * The OpenAPI 3 document of model name's version record rec (a version
 * hash of the registry) as a new object.
 */
json_t *api_openapi_doc(const char *name, json_t *model, json_t *rec);

#endif
