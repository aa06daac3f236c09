/*
 * main.c - cubeserve-api: options, the FastCGI loop and the routes of
 * /api/ (docs/api.md is the manual). Each route calls one handler in
 * models.c, deployments.c or jobs.c.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "api/api.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: cubeserve-api [OPTIONS]\n"
		"\n"
		"The console's JSON API under /api/ (docs/api.md): a FastCGI program that\n"
		"reads and writes the registry. Run it under spawn-fcgi (the socket on fd 0,\n"
		"as `cubeserve up` does) or with --listen.\n"
		"\n"
		"  --registry URL     redis://HOST[:PORT] or unix:PATH (default $CUBESERVE_REGISTRY,\n"
		"                     else unix:RUN/redis.sock)\n"
		"  --prefix P         registry key prefix (default $CUBESERVE_PREFIX, else cs:)\n"
		"  --run-dir DIR      the stack's run directory: jobs under DIR/api (default\n"
		"                     $CUBESERVE_RUN_DIR)\n"
		"  --cubeserve PATH   the `cubeserve` command publish and deployment jobs run\n"
		"                     (default: beside this program)\n"
		"  --max-upload N     largest model upload in bytes (default 64 MiB)\n"
		"  --listen PATH      bind a unix socket instead of using fd 0\n"
		"  --help             this text\n");
}

/* Splits the path after /api/ into decoded segments. 0, or -1 when bad. */
static int split_path(api_req *q, const char *rest)
{
	char *save = NULL, *tok;

	q->pathbuf = strdup(rest);
	if (!q->pathbuf)
		return -1;
	for (tok = strtok_r(q->pathbuf, "/", &save); tok; tok = strtok_r(NULL, "/", &save)) {
		if (q->segc == API_MAX_SEGS)
			return -1;
		/* nginx has decoded the URI already ($document_uri) */
		q->segv[q->segc++] = tok;
	}
	return 0;
}

static int is(const api_req *q, const char *m)
{
	return strcmp(q->method, m) == 0;
}

static void not_allowed(api_req *q)
{
	api_error(q, 405, "%s is not allowed on %s (docs/api.md lists the endpoints)", q->method,
		  q->path);
}

/* The routes under /api/. */
static void route(api_req *q)
{
	int c = q->segc;
	char **s = q->segv;

	if (c == 0) {
		api_send(q, 200, json_pack("{s:s,s:[s,s,s]}", "service", "cubeserve-api",
					   "endpoints", "/api/models", "/api/deployments",
					   "/api/jobs/ID"));
		return;
	}
	if (strcmp(s[0], "models") == 0) {
		if (c == 1) {
			if (is(q, "GET"))
				api_models_list(q);
			else if (is(q, "POST"))
				api_model_publish(q);
			else
				not_allowed(q);
			return;
		}
		if (!api_name_ok(s[1])) {
			api_error(q, 400, "'%.80s' is not a model name (letters, digits, _ and -, at most 64)", s[1]);
			return;
		}
		if (c == 2) {
			if (is(q, "GET"))
				api_model_get(q, s[1]);
			else if (is(q, "DELETE"))
				api_model_remove(q, s[1], NULL);
			else
				not_allowed(q);
			return;
		}
		if (c == 3 && strcmp(s[2], "openapi.json") == 0 && is(q, "GET")) {
			api_openapi(q, s[1]);
			return;
		}
		if (c == 3 && strcmp(s[2], "default") == 0) {
			if (is(q, "PUT") || is(q, "POST"))
				api_model_set_default(q, s[1]);
			else
				not_allowed(q);
			return;
		}
		if (c == 3 && strcmp(s[2], "rating") == 0) {
			if (is(q, "PUT") || is(q, "POST"))
				api_model_rate(q, s[1]);
			else
				not_allowed(q);
			return;
		}
		if (c == 3 && strcmp(s[2], "favorite") == 0) {
			if (is(q, "PUT") || is(q, "POST"))
				api_model_favorite(q, s[1], 1);
			else if (is(q, "DELETE"))
				api_model_favorite(q, s[1], 0);
			else
				not_allowed(q);
			return;
		}
		if (c == 3 && strcmp(s[2], "comments") == 0) {
			if (is(q, "GET"))
				api_model_comments(q, s[1]);
			else if (is(q, "POST"))
				api_model_comment_add(q, s[1]);
			else
				not_allowed(q);
			return;
		}
		if (c == 4 && strcmp(s[2], "versions") == 0) {
			if (!api_version_ok(s[3])) {
				api_error(q, 400, "'%.80s' is not a version", s[3]);
				return;
			}
			if (is(q, "DELETE"))
				api_model_remove(q, s[1], s[3]);
			else
				not_allowed(q);
			return;
		}
	} else if (strcmp(s[0], "deployments") == 0) {
		if (c == 1) {
			if (is(q, "GET"))
				api_deployments_list(q);
			else if (is(q, "POST"))
				api_deploy(q);
			else
				not_allowed(q);
			return;
		}
		if (!api_name_ok(s[1])) {
			api_error(q, 400, "'%.80s' is not a deployment name (letters, digits, _ and -, at most 64)", s[1]);
			return;
		}
		if (c == 2) {
			if (is(q, "GET"))
				api_deployment_get(q, s[1]);
			else if (is(q, "DELETE"))
				api_deployment_action(q, s[1], "undeploy");
			else
				not_allowed(q);
			return;
		}
		if (c == 3 && strcmp(s[2], "logs") == 0) {
			if (is(q, "GET"))
				api_deployment_logs(q, s[1]);
			else
				not_allowed(q);
			return;
		}
		if (c == 3 && strcmp(s[2], "switch") == 0) {
			if (is(q, "POST"))
				api_deployment_switch(q, s[1]);
			else
				not_allowed(q);
			return;
		}
		if (c == 3 && (strcmp(s[2], "scale") == 0 || strcmp(s[2], "pause") == 0 ||
			       strcmp(s[2], "resume") == 0 || strcmp(s[2], "restart") == 0 ||
			       strcmp(s[2], "promote") == 0 || strcmp(s[2], "rollback") == 0)) {
			if (is(q, "POST"))
				api_deployment_action(q, s[1], s[2]);
			else
				not_allowed(q);
			return;
		}
	} else if (strcmp(s[0], "unrouted") == 0 && c == 2 && api_name_ok(s[1])) {
		api_model_unrouted(q, s[1]);
		return;
	} else if (strcmp(s[0], "jobs") == 0 && c == 2) {
		if (is(q, "GET"))
			api_job_get(q, s[1]);
		else
			not_allowed(q);
		return;
	} else if (strcmp(s[0], "me") == 0 && c == 1) {
		if (is(q, "GET"))
			api_me(q);
		else
			not_allowed(q);
		return;
	} else if (strcmp(s[0], "session") == 0 && c == 1) {
		if (is(q, "POST"))
			api_session_new(q);
		else if (is(q, "DELETE"))
			api_session_end(q);
		else
			not_allowed(q);
		return;
	}
	api_error(q, 404, "no endpoint %s %s (docs/api.md lists the endpoints)", q->method, q->path);
}

/* Reads the body (bounded by the endpoint's limit) and dispatches. */
static void handle(api_ctx *ctx, FCGX_Request *fr)
{
	api_req q;
	const char *cl, *uri;
	long long n = 0;
	size_t limit;

	memset(&q, 0, sizeof q);
	q.fr = fr;
	q.ctx = ctx;
	q.method = FCGX_GetParam("REQUEST_METHOD", fr->envp);
	uri = FCGX_GetParam("DOCUMENT_URI", fr->envp);
	if (!uri)
		uri = FCGX_GetParam("SCRIPT_NAME", fr->envp);
	q.path = uri ? uri : "/";
	q.query = FCGX_GetParam("QUERY_STRING", fr->envp);
	q.ctype = FCGX_GetParam("CONTENT_TYPE", fr->envp);
	if (!q.method)
		q.method = "GET";
	if (!q.query)
		q.query = "";
	if (!q.ctype)
		q.ctype = "";
	if (api_identify(&q) != 0)
		goto out;
	q.user = api_user(&q);

	/* the openapi document sits on the model's own path */
	if (strncmp(q.path, "/models/", 8) == 0) {
		char name[80];
		const char *rest = q.path + 8, *sl = strchr(rest, '/');

		if (sl && (size_t)(sl - rest) < sizeof name && strcmp(sl, "/openapi.json") == 0) {
			memcpy(name, rest, (size_t)(sl - rest));
			name[sl - rest] = '\0';
			if (!api_name_ok(name))
				api_error(&q, 400, "'%s' is not a model name", name);
			else if (strcmp(q.method, "GET") != 0 && strcmp(q.method, "HEAD") != 0)
				not_allowed(&q);
			else
				api_openapi(&q, name);
		} else {
			api_error(&q, 404, "no endpoint %s %s", q.method, q.path);
		}
		goto out;
	}
	if (strncmp(q.path, "/api", 4) != 0 || (q.path[4] && q.path[4] != '/')) {
		api_error(&q, 404, "no endpoint %s %s (the API is under /api/)", q.method, q.path);
		goto out;
	}
	if (split_path(&q, q.path + 4) != 0) {
		api_error(&q, 404, "no endpoint %s %s", q.method, q.path);
		goto out;
	}
	cl = FCGX_GetParam("CONTENT_LENGTH", fr->envp);
	if (cl && *cl) {
		char *end;

		n = strtoll(cl, &end, 10);
		if (*end || n < 0) {
			api_error(&q, 400, "bad Content-Length '%s'", cl);
			goto out;
		}
	}
	limit = q.segc == 1 && strcmp(q.segv[0], "models") == 0 && is(&q, "POST") ?
		ctx->max_upload : ctx->max_json;
	if ((unsigned long long)n > limit) {
		api_error(&q, 413, "the body has %lld bytes; this endpoint takes at most %zu", n, limit);
		goto out;
	}
	if (n > 0) {
		q.body = malloc((size_t)n + 1);
		if (!q.body) {
			api_error(&q, 500, "out of memory for a %lld-byte body", n);
			goto out;
		}
		q.body_len = (size_t)FCGX_GetStr(q.body, (int)n, fr->in);
		q.body[q.body_len] = '\0';
		if (q.body_len != (size_t)n) {
			api_error(&q, 400, "the body ended after %zu of %lld bytes", q.body_len, n);
			goto out;
		}
	}
	route(&q);
	if (!q.sent)
		api_error(&q, 500, "internal: %s %s sent no response", q.method, q.path);
out:
	json_decref(q.json);
	free(q.body);
	free(q.pathbuf);
	sodium_memzero(q.token, sizeof q.token);
	sodium_memzero(&q.who, sizeof q.who);
}

static char *beside_me(const char *name)
{
	char exe[PATH_MAX], *sl, out[PATH_MAX + 64];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);

	if (n <= 0)
		return strdup(name);
	exe[n] = '\0';
	sl = strrchr(exe, '/');
	if (sl)
		*sl = '\0';
	snprintf(out, sizeof out, "%s/%s", exe, name);
	return strdup(access(out, X_OK) == 0 ? out : name);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"registry", required_argument, NULL, 'r'},
		{"prefix", required_argument, NULL, 'p'},
		{"run-dir", required_argument, NULL, 'd'},
		{"cubeserve", required_argument, NULL, 'c'},
		{"max-upload", required_argument, NULL, 'm'},
		{"listen", required_argument, NULL, 'l'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	api_ctx ctx;
	FCGX_Request fr;
	const char *listen_path = NULL, *e;
	char *cs_path = NULL, regbuf[PATH_MAX + 16];
	int c, fd = 0;

	memset(&ctx, 0, sizeof ctx);
	ctx.max_upload = 64u << 20;
	ctx.max_json = 1u << 20;
	ctx.registry_url = getenv("CUBESERVE_REGISTRY");
	ctx.prefix = getenv("CUBESERVE_PREFIX");
	ctx.run_dir = getenv("CUBESERVE_RUN_DIR");
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'r': ctx.registry_url = optarg; break;
		case 'p': ctx.prefix = optarg; break;
		case 'd': ctx.run_dir = optarg; break;
		case 'c': cs_path = strdup(optarg); break;
		case 'l': listen_path = optarg; break;
		case 'm': {
			char *end;
			long long v = strtoll(optarg, &end, 10);

			if (*end || v < 1024) {
				fprintf(stderr, "cubeserve-api: --max-upload wants bytes (>= 1024), got '%s'\n", optarg);
				return 2;
			}
			ctx.max_upload = (size_t)v;
			break;
		}
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "cubeserve-api: unexpected argument '%s' (see --help)\n", argv[optind]);
		return 2;
	}
	if (!ctx.run_dir || !*ctx.run_dir) {
		fprintf(stderr, "cubeserve-api: no run directory: give --run-dir DIR (or $CUBESERVE_RUN_DIR)\n");
		return 2;
	}
	if (!ctx.registry_url || !*ctx.registry_url) {
		snprintf(regbuf, sizeof regbuf, "unix:%s/redis.sock", ctx.run_dir);
		ctx.registry_url = regbuf;
	}
	if (!ctx.prefix || !*ctx.prefix)
		ctx.prefix = CS_REGISTRY_PREFIX;
	if (!cs_path) {
		e = getenv("CUBESERVE_CLI");
		cs_path = e && *e ? strdup(e) : beside_me("cubeserve");
	}
	ctx.cubeserve = cs_path;
	signal(SIGPIPE, SIG_IGN);
	if (FCGX_Init() != 0) {
		fprintf(stderr, "cubeserve-api: FCGX_Init failed\n");
		return 1;
	}
	if (listen_path) {
		fd = FCGX_OpenSocket(listen_path, 64);
		if (fd < 0) {
			fprintf(stderr, "cubeserve-api: cannot listen on '%s': %s\n", listen_path,
				strerror(errno));
			return 1;
		}
	}
	FCGX_InitRequest(&fr, fd, 0);
	while (FCGX_Accept_r(&fr) >= 0) {
		handle(&ctx, &fr);
		FCGX_Finish_r(&fr);
	}
	cs_registry_close(ctx.reg);
	free(cs_path);
	return 0;
}
