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
	/* appended for the Open Inference Protocol, metrics, the envelope */
	CS_ROUTE_V2_SERVER,     /* GET /v2 */
	CS_ROUTE_V2_LIVE,       /* GET /v2/health/live */
	CS_ROUTE_V2_READY,      /* GET /v2/health/ready */
	CS_ROUTE_V2_MODEL,      /* GET /v2/models/<m>[/versions/<v>] */
	CS_ROUTE_V2_MODEL_READY, /* GET /v2/models/<m>[/versions/<v>]/ready */
	CS_ROUTE_V2_INFER,      /* POST /v2/models/<m>[/versions/<v>]/infer */
	CS_ROUTE_METRICS,       /* GET /metrics */
	CS_ROUTE_STATUS,        /* GET /status */
	CS_ROUTE_API_MODEL,     /* POST /models/<m>/api/model */
	CS_ROUTE_API_STREAM,    /* POST /models/<m>/api/stream/<method> */
	CS_ROUTE_API_FILE,      /* POST /models/<m>/api/file/<method> */
	CS_ROUTE_API_DATA,      /* POST /models/<m>/api/data (ServiceBoot) */
} cs_route_kind;

typedef struct cs_route {
	cs_route_kind kind;
	char model[65];   /* the model named by the path */
	char method[65];  /* the glue method ("predict" by default) */
	char version[65]; /* V2: the version named by the path, "" if none */
	const char *allow; /* for CS_ROUTE_BAD_METHOD: "POST", "GET, HEAD" */
	const char *why;   /* for CS_ROUTE_NOT_FOUND: a short reason */
} cs_route;

/*
 * Matches an HTTP method and a path (without the query) against the
 * worker's endpoints for the model `served`:
 *   POST /models/<served>                       -> CALL predict
 *   POST /models/<served>/<method>              -> CALL method
 *   GET|HEAD /models/<served>                   -> METADATA
 *   POST /models/<served>/api/model             -> API_MODEL
 *   POST /models/<served>/api/stream/<method>   -> API_STREAM
 *   POST /models/<served>/api/file/<method>     -> API_FILE
 *   POST /models/<served>/api/data              -> API_DATA
 *   GET|HEAD /health                            -> HEALTH
 *   GET|HEAD /metrics                           -> METRICS
 *   GET|HEAD /status                            -> STATUS
 *   GET|HEAD /v2, /v2/health/live, /v2/health/ready
 *   GET|HEAD /v2/models/<served>[/versions/<v>][/ready]
 *   POST /v2/models/<served>[/versions/<v>]/infer
 * A trailing slash is ignored. Another model's name is NOT_FOUND with why
 * "unknown model"; the version is only parsed (the caller compares it).
 */
void cs_route_match(const char *http_method, const char *path,
		    const char *served, cs_route *out);

#endif
