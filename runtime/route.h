/*
 * route.h - which endpoint a request is for, from its method and path.
 * Pure functions; thread-safe.
 */
#ifndef CS_ROUTE_H
#define CS_ROUTE_H

typedef enum cs_route_kind {
	CS_ROUTE_NOT_FOUND = 0, /* 404 */
	CS_ROUTE_BAD_METHOD,    /* 405; allow says what is */
	CS_ROUTE_CALL,          /* POST /models/<m>[/<method>] */
	CS_ROUTE_METADATA,      /* GET /models/<m> */
	CS_ROUTE_HEALTH,        /* GET /health */
} cs_route_kind;

typedef struct cs_route {
	cs_route_kind kind;
	char model[65];   /* the model named by the path */
	char method[65];  /* the glue method ("predict" by default) */
	const char *allow; /* for CS_ROUTE_BAD_METHOD: "POST", "GET, HEAD" */
	const char *why;   /* for CS_ROUTE_NOT_FOUND: a short reason */
} cs_route;

/*
 * Matches an HTTP method and a path (without the query) against the
 * worker's endpoints for the model `served`:
 *   POST /models/<served>            -> CALL predict
 *   POST /models/<served>/<method>   -> CALL method
 *   GET|HEAD /models/<served>        -> METADATA
 *   GET|HEAD /health                 -> HEALTH
 * A trailing slash is ignored. Another model's name is NOT_FOUND.
 */
void cs_route_match(const char *http_method, const char *path,
		    const char *served, cs_route *out);

#endif
