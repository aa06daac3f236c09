/*
 * routes.c - `cubeserve routes`: nginx routes to cubeserve workers, from
 * the registry's deployments or for NAME=ADDR arguments (no registry),
 * both rendered from the one route template, nginx/route.conf.in.
 * scripts/cubeserve-routes is this command under its old name.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "core/paths.h"

void cli_given_init(cli_given *g)
{
	memset(g, 0, sizeof *g);
	g->keepalive = "16";
	g->max_body = "1m";
	g->timeout = "60s";
	g->timeout_opt = "--timeout";
	g->params = "fastcgi_params";
}

/* Whether s is one or more digits and nothing else. */
static int digits(const char *s, size_t *n)
{
	size_t i = 0;

	while (s[i] >= '0' && s[i] <= '9')
		i++;
	if (n)
		*n = i;
	return i > 0 && !s[i];
}

/* An nginx size: digits, then at most one of k K m M g G. */
static int size_ok(const char *s)
{
	size_t n;

	if (digits(s, &n))
		return 1;
	return n > 0 && strchr("kKmMgG", s[n]) && !s[n + 1];
}

/* An nginx time: digits, then at most one of ms s m h. */
static int time_ok(const char *s)
{
	size_t n;

	if (digits(s, &n))
		return 1;
	return n > 0 && (!strcmp(s + n, "ms") || !strcmp(s + n, "s") ||
			 !strcmp(s + n, "m") || !strcmp(s + n, "h"));
}

/* A model name in a route: [a-z0-9_-]+ (lower case only, unlike cs_name_valid). */
static int route_name_ok(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
		      s[i] == '_' || s[i] == '-'))
			return 0;
	return len > 0;
}

/* unix:/PATH (no ; { } quotes or white space) or HOST:PORT, [IPV6]:PORT. */
static int addr_ok(const char *a)
{
	const char *p, *port;
	size_t n = 0;

	if (strncmp(a, "unix:/", 6) == 0)
		return a[6] && !a[strcspn(a, ";{}\"' \t\n\v\f\r")];
	if (a[0] == '[') {
		p = a + 1 + strspn(a + 1, "0123456789abcdefABCDEF:.");
		if (p == a + 1 || p[0] != ']' || p[1] != ':')
			return 0;
		port = p + 2;
	} else {
		p = a + strspn(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-");
		if (p == a || p[0] != ':')
			return 0;
		port = p + 1;
	}
	return digits(port, &n) && n <= 5;
}

/* Whether any digit of the (checked) keepalive count is not 0. */
static int keepalive_on(const char *ka)
{
	return ka[strspn(ka, "0")] != '\0';
}

/*
 * The route template: $CUBESERVE_NGINX_DIR, the source tree's nginx/ for a
 * build tree's binary else the installed data directory, then the usual
 * install prefixes. A path to free(), or NULL.
 */
static char *find_template(void)
{
	char exe[PATH_MAX], cand[5][PATH_MAX + 64];
	const char *e = getenv("CUBESERVE_NGINX_DIR");
	size_t n = 0;

	if (e && *e)
		snprintf(cand[n++], sizeof cand[0], "%s/route.conf.in", e);
	if (cs_in_build_tree(NULL))
		snprintf(cand[n++], sizeof cand[0], "%s/nginx/route.conf.in", CS_BUILD_SRCDIR);
	else
		snprintf(cand[n++], sizeof cand[0], "%s/nginx/route.conf.in", CS_DATA_DIR);
	cs_exe_dir(exe, sizeof exe);
	snprintf(cand[n++], sizeof cand[0], "%s/../share/cubeserve/nginx/route.conf.in", exe);
	snprintf(cand[n++], sizeof cand[0], "/usr/local/share/cubeserve/nginx/route.conf.in");
	snprintf(cand[n++], sizeof cand[0], "/usr/share/cubeserve/nginx/route.conf.in");
	for (size_t i = 0; i < n; i++)
		if (access(cand[i], R_OK) == 0)
			return strdup(cand[i]);
	return NULL;
}

/* Checks the options and every NAME=ADDR; prints the first refusal. */
static int given_check(cs_cli *cli, const cli_given *g)
{
	if (!g->npairs) {
		cli_err(cli, "no routes given: expected NAME=ADDR, e.g. linear=unix:/run/cubeserve/linear.sock (see --help)");
		return CLI_USAGE;
	}
	if (!digits(g->keepalive, NULL)) {
		cli_err(cli, "--keepalive '%s': expected a number of connections (0 = off)", g->keepalive);
		return CLI_USAGE;
	}
	if (!size_ok(g->max_body)) {
		cli_err(cli, "--max-body '%s': expected an nginx size such as 1m, 512k or 1048576",
			g->max_body);
		return CLI_USAGE;
	}
	if (!time_ok(g->timeout)) {
		cli_err(cli, "%s '%s': expected an nginx time such as 60s or 500ms", g->timeout_opt,
			g->timeout);
		return CLI_USAGE;
	}
	if (!*g->params || g->params[strcspn(g->params, ";{}\"' ")]) {
		cli_err(cli, "--fastcgi-params '%s': not a usable file name", g->params);
		return CLI_USAGE;
	}
	for (size_t i = 0; i < g->npairs; i++) {
		const char *arg = g->pairs[i], *eq = strchr(arg, '=');

		if (!eq) {
			cli_err(cli, "'%s': expected NAME=ADDR, e.g. linear=unix:/run/cubeserve/linear.sock", arg);
			return CLI_USAGE;
		}
		if (!route_name_ok(arg, (size_t)(eq - arg))) {
			cli_err(cli, "'%s': model name '%.*s' must match [a-z0-9_-]+ (lower-case letters, digits, '_' and '-')",
				arg, (int)(eq - arg), arg);
			return CLI_USAGE;
		}
		if (!addr_ok(eq + 1)) {
			cli_err(cli, "'%s': address '%s' must be unix:/absolute/path.sock or HOST:PORT",
				arg, eq + 1);
			return CLI_USAGE;
		}
	}
	return CLI_OK;
}

/* Whether pair i names a model an earlier pair named already. */
static int seen_before(const cli_given *g, size_t i)
{
	size_t len = strcspn(g->pairs[i], "=");

	for (size_t j = 0; j < i; j++)
		if (strcspn(g->pairs[j], "=") == len && !strncmp(g->pairs[j], g->pairs[i], len))
			return 1;
	return 0;
}

/* Renders part once for every model, in the order the models were first named. */
static void render_models(const cli_given *g, const char *part, FILE *f)
{
	static const char *const keys[] = {"SERVERS", "KEEPALIVE_LINE", "KEEP_CONN",
		"FASTCGI_PARAMS", "MAX_BODY", "TIMEOUT", "NAME"};
	int on = keepalive_on(g->keepalive);

	for (size_t i = 0; i < g->npairs; i++) {
		size_t len = strcspn(g->pairs[i], "="), slen = 0;
		char *name, *servers = NULL, *kaline = NULL;
		const char *vals[7];
		FILE *s;

		if (seen_before(g, i))
			continue;
		name = strndup(g->pairs[i], len);
		s = open_memstream(&servers, &slen);
		if (!name || !s || asprintf(&kaline, "keepalive %s;", g->keepalive) < 0) {
			kaline = NULL;
			goto out_free;
		}
		for (size_t j = i, first = 1; j < g->npairs; j++) {
			if (strcspn(g->pairs[j], "=") != len || strncmp(g->pairs[j], name, len))
				continue;
			fprintf(s, "%s    server %s;", first ? "" : "\n", g->pairs[j] + len + 1);
			first = 0;
		}
		fclose(s);
		s = NULL;
		vals[0] = servers;
		vals[1] = on ? kaline : "# keepalive off";
		vals[2] = on ? "on" : "off";
		vals[3] = g->params;
		vals[4] = g->max_body;
		vals[5] = g->timeout;
		vals[6] = name;
		cli_render(f, part, keys, vals, 7);
out_free:
		if (s)
			fclose(s);
		free(servers);
		free(kaline);
		free(name);
	}
}

int cli_given_render(cs_cli *cli, const cli_given *g, FILE *up, FILE *loc)
{
	char *tpl, *upart, *lpart, *wpart;
	int rc = given_check(cli, g);

	if (rc != CLI_OK)
		return rc;
	tpl = g->tpl ? strdup(g->tpl) : find_template();
	if (!tpl) {
		cli_err(cli, "cannot find route.conf.in (set CUBESERVE_NGINX_DIR or pass --template FILE)");
		return CLI_USAGE;
	}
	if (access(tpl, R_OK) != 0) {
		cli_err(cli, "cannot read template '%s'", tpl);
		free(tpl);
		return CLI_USAGE;
	}
	if (cli_route_template(cli, tpl, &upart, &lpart, &wpart) != CLI_OK) {
		free(tpl);
		return CLI_USAGE;
	}
	for (int k = 0; k < 2; k++) {
		FILE *f = k ? loc : up;

		if (!f || (k && loc == up))
			continue;
		fprintf(f, "# generated by cubeserve routes from %s:", tpl);
		for (size_t i = 0; i < g->npairs; i++)
			fprintf(f, " %s", g->pairs[i]);
		fputc('\n', f);
	}
	if (up) {
		fputs("# --- upstreams: include inside http {} ---\n", up);
		render_models(g, upart, up);
	}
	if (loc) {
		fputs("# --- locations: include inside server {} ---\n", loc);
		render_models(g, lpart, loc);
	}
	free(upart);
	free(lpart);
	free(wpart);
	free(tpl);
	return CLI_OK;
}

/* Whether argv asks for routes to given addresses rather than the registry's. */
static int given_mode(int argc, char **argv)
{
	static const char *const opts[] = {"--no-registry", "--keepalive", "--max-body",
		"--timeout", "--fastcgi-params", "--template", NULL};

	for (int i = 1; i < argc; i++) {
		if (argv[i][0] != '-')
			return 1; /* the registry's routes take no arguments */
		for (const char *const *o = opts; *o; o++) {
			size_t n = strlen(*o);

			if (!strncmp(argv[i], *o, n) && (!argv[i][n] || argv[i][n] == '='))
				return 1;
		}
		if (!strcmp(argv[i], "--"))
			return 1;
	}
	return 0;
}

/*
 * `cubeserve routes [OPTIONS] NAME=ADDR...`: options end at the first
 * argument that is not one (or at "--"), as in a POSIX shell script.
 */
static int given_cmd(cs_cli *cli, int argc, char **argv)
{
	static const char *const valued[] = {"--keepalive", "--max-body", "--timeout",
		"--fastcgi-params", "--template", NULL};
	cli_given g;
	int i, want = 0;

	cli_given_init(&g);
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *val = NULL;
		int k = -1;

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			cli_usage(cli, stdout);
			return CLI_OK;
		}
		if (!strcmp(a, "--")) {
			i++;
			break;
		}
		if (a[0] != '-')
			break;
		if (!strcmp(a, "--no-registry"))
			continue;
		if (!strcmp(a, "--upstreams") || !strcmp(a, "--locations")) {
			want = a[2] == 'u' ? 1 : 2;
			continue;
		}
		for (int j = 0; valued[j] && k < 0; j++) {
			size_t n = strlen(valued[j]);

			if (!strncmp(a, valued[j], n) && (!a[n] || a[n] == '=')) {
				k = j;
				val = a[n] ? a + n + 1 : NULL;
			}
		}
		if (k < 0) {
			cli_err(cli, "unknown option '%s' (see --help)", a);
			return CLI_USAGE;
		}
		if (!val) {
			if (i + 1 >= argc) {
				cli_err(cli, "option %s needs a value (see --help)", a);
				return CLI_USAGE;
			}
			val = argv[++i];
		}
		switch (k) {
		case 0: g.keepalive = val; break;
		case 1: g.max_body = val; break;
		case 2: g.timeout = val; break;
		case 3: g.params = val; break;
		default: g.tpl = val; break;
		}
	}
	g.pairs = argv + i;
	g.npairs = (size_t)(argc - i);
	return cli_given_render(cli, &g, want != 2 ? stdout : NULL, want != 1 ? stdout : NULL);
}

int cli_cmd_routes(cs_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"upstreams", no_argument, NULL, 'u'},
		{"locations", no_argument, NULL, 'l'},
		{NULL, 0, NULL, 0},
	};
	json_t *deps = NULL;
	int c, rc, which = 0;
	char *ubuf, *lbuf;
	size_t ulen, llen;

	if (given_mode(argc, argv))
		return given_cmd(cli, argc, argv);
	while ((c = cli_getopt(cli, argc, argv, "", opts)) != -1) {
		switch (c) {
		case 'u': which = 1; break;
		case 'l': which = 2; break;
		case CLI_OPT_HELP: return CLI_OK;
		default: return CLI_USAGE;
		}
	}
	if (argc - optind != 0) {
		cli_err(cli, "takes no arguments (see --help)");
		return CLI_USAGE;
	}
	rc = cli_registry(cli, 0);
	if (rc == CLI_NOTFOUND) {
		deps = json_array();
	} else if (rc != CLI_OK) {
		return rc;
	} else if (cs_registry_deployments(cli->reg, &deps) != CS_OK) {
		return cli_reg_fail(cli);
	}
	rc = cli_routes_render_mem(cli, deps, &ubuf, &ulen, &lbuf, &llen);
	if (rc == CLI_OK) {
		if (which != 2)
			printf("# --- upstreams: include inside http {} ---\n%s", ubuf);
		if (which != 1)
			printf("# --- locations: include inside server {} ---\n%s", lbuf);
	}
	free(ubuf);
	free(lbuf);
	json_decref(deps);
	return rc;
}
