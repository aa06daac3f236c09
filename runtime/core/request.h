/*
 * request.h - one HTTP request as the worker sees it (FastCGI params and
 * body), and the response being built for it.
 *
 * Both live for one request; the strings point into the FastCGI request's
 * params or the request's arena. Not thread-safe: one request, one thread.
 */
#ifndef CS_REQUEST_H
#define CS_REQUEST_H

#include <stddef.h>

#include <jansson.h>

#include <cubeserve/plugin.h>

typedef struct cs_request {
	const char *method;       /* REQUEST_METHOD, "GET" when absent */
	const char *path;         /* DOCUMENT_URI, else REQUEST_URI without the query */
	const char *query;        /* QUERY_STRING, "" when absent */
	const char *content_type; /* CONTENT_TYPE, "" when absent */
	const char *request_id;   /* HTTP_X_REQUEST_ID, "" when absent */
	char *body;               /* NUL-terminated; arena */
	size_t body_len;
	char **envp;              /* all FastCGI params, "NAME=value" */

	/* Set by the CubeAI envelope endpoints (NULL/0 otherwise): */
	const json_t *json;       /* req.json is this value, not the body parsed */
	const char *file_name;    /* an uploaded file: its form field, */
	const char *file_filename; /* its file name ("" when none), */
	const char *file_type;    /* its content type, */
	const char *file_data;    /* and its bytes */
	size_t file_len;
} cs_request;

/* The value of a FastCGI param ("HTTP_USER_AGENT"), or NULL. */
const char *cs_request_param(const cs_request *req, const char *name);

typedef struct cs_response {
	int status;               /* HTTP status; 0 until set */
	char content_type[128];
	char allow[64];           /* Allow header for 405, "" for none */
	char headers[256];        /* extra header lines, each ending "\r\n" */
	char *body;               /* malloc'd, owned by the response */
	size_t len;
} cs_response;

/* Releases the body and clears the response for the next request. */
void cs_response_reset(cs_response *r);

/* Takes a malloc'd body (the response frees it). */
void cs_response_take(cs_response *r, int status, const char *content_type,
		      char *body, size_t len);

/*
 * Sets a JSON response from a JSON value (borrowed). On an encoding
 * failure the response becomes a 500 JSON error.
 */
void cs_response_json(cs_response *r, int status, const json_t *v);

/* Appends a header line ("Name: value") to the response. */
void cs_response_header(cs_response *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * Sets {"error": message} with the HTTP status that st maps to
 * (cs_status_http(): the one place a cs_status becomes an HTTP status).
 * Clears the extra headers: an error carries no success headers.
 */
void cs_response_fail(cs_response *r, cs_status st, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
