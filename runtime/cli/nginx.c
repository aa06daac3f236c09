/*
 * nginx.c - the private nginx of a stack and the routes of deployments.
 *
 * Routes are rendered from nginx/route.conf.in, split at its "#@upstream"
 * and "#@location" lines: here for the registry's deployments (a paused
 * one gets locations that answer 503 JSON instead), in routes.c for
 * addresses given on the command line.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "registry/webstore.h"

void cli_nginx_prefix(const cs_cli *cli, char *out, size_t len)
{
	snprintf(out, len, "%s/nginx", cli->run_dir);
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
		fclose(f);
		return NULL;
	}
	buf = malloc((size_t)n + 1);
	if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	if (buf)
		buf[n] = '\0';
	fclose(f);
	return buf;
}

void cli_render(FILE *f, const char *s, const char *const *keys,
		   const char *const *vals, size_t n)
{
	while (*s) {
		size_t i;

		if (*s == '@') {
			for (i = 0; i < n; i++) {
				size_t kl = strlen(keys[i]);

				if (strncmp(s + 1, keys[i], kl) == 0 && s[1 + kl] == '@') {
					fputs(vals[i], f);
					s += kl + 2;
					break;
				}
			}
			if (i < n)
				continue;
		}
		fputc(*s++, f);
	}
}

const char *cli_fastcgi_params(void)
{
	const char *e = getenv("CS_FASTCGI_PARAMS");

	return e && *e ? e : "/etc/nginx/fastcgi_params";
}

static char *nginx_bin(cs_cli *cli)
{
	static const char *const cand[] = {"/usr/sbin/nginx", NULL};

	if (!cli->nginx)
		cli->nginx = cli_find_tool("CS_NGINX", "nginx", cand);
	return cli->nginx;
}

int cli_nginx_conf(cs_cli *cli, int port, int workers, int access_log)
{
	char prefix[PATH_MAX], tpl[PATH_MAX + 32], conf[PATH_MAX + 32];
	char up[PATH_MAX + 32], loc[PATH_MAX + 32], errs[PATH_MAX + 32];
	char portbuf[16], accesslog[PATH_MAX + 32], sub[PATH_MAX + 32], wbuf[16];
	static const char *const keys[] = {"USER_LINE", "PREFIX", "PORT",
		"WORKERS", "ACCESS_LOG", "ERRORS_CONF", "UPSTREAMS", "LOCATIONS"};
	const char *vals[8];
	char *text;
	FILE *f;

	cli_nginx_prefix(cli, prefix, sizeof prefix);
	for (const char *const *d = (const char *const[]){"body", "fastcgi", "proxy", "uwsgi", "scgi", NULL}; *d; d++) {
		snprintf(sub, sizeof sub, "%s/tmp/%s", prefix, *d);
		mkdir(sub, 0700);
	}
	snprintf(tpl, sizeof tpl, "%s/server.conf.in", cli->nginx_dir);
	snprintf(errs, sizeof errs, "%s/errors.conf", cli->nginx_dir);
	text = read_file(tpl);
	if (!text) {
		cli_err(cli, "cannot read the nginx template '%s': %s (set CUBESERVE_NGINX_DIR)",
			tpl, strerror(errno));
		return CLI_FAIL;
	}
	if (access(cli_fastcgi_params(), R_OK) != 0) {
		cli_err(cli, "no fastcgi_params at %s (install nginx, or set CS_FASTCGI_PARAMS)",
			cli_fastcgi_params());
		free(text);
		return CLI_FAIL;
	}
	snprintf(conf, sizeof conf, "%s/nginx.conf", prefix);
	snprintf(up, sizeof up, "%s/upstreams.conf", prefix);
	snprintf(loc, sizeof loc, "%s/locations.conf", prefix);
	snprintf(accesslog, sizeof accesslog, "%s/logs/access.log", prefix);
	snprintf(portbuf, sizeof portbuf, "%d", port);
	snprintf(wbuf, sizeof wbuf, "%d", workers);
	vals[0] = getuid() == 0 ? "user root;" :
		"# user: not root, nginx workers keep the caller's user";
	vals[1] = prefix;
	vals[2] = portbuf;
	vals[3] = wbuf;
	vals[4] = access_log ? accesslog : "off";
	vals[5] = errs;
	vals[6] = up;
	vals[7] = loc;
	f = fopen(conf, "w");
	if (!f) {
		cli_err(cli, "cannot write '%s': %s", conf, strerror(errno));
		free(text);
		return CLI_FAIL;
	}
	cli_render(f, text, keys, vals, 8);
	fclose(f);
	free(text);
	for (int i = 0; i < 2; i++) {
		const char *p = i ? loc : up;

		if (access(p, F_OK) != 0 && (f = fopen(p, "w"))) {
			fputs("# no routes yet\n", f);
			fclose(f);
		}
	}
	return CLI_OK;
}

/*
 * Replaces every line "    @COMMON@" of part with the common lines.
 * Returns a new string (free()), or NULL when out of memory.
 */
static char *expand_common(const char *part, const char *common)
{
	static const char mark[] = "    @COMMON@\n";
	size_t n = 0, clen = strlen(common);
	const char *p;
	char *out, *o;

	for (p = part; (p = strstr(p, mark)); p += sizeof mark - 1)
		n++;
	out = malloc(strlen(part) + n * clen + 1);
	if (!out)
		return NULL;
	for (o = out, p = part;;) {
		const char *m = strstr(p, mark);

		if (!m) {
			strcpy(o, p);
			break;
		}
		memcpy(o, p, (size_t)(m - p));
		o += m - p;
		memcpy(o, common, clen);
		o += clen;
		p = m + sizeof mark - 1;
	}
	return out;
}

/*
 * The route template split into its upstream, location and web parts, the
 * locations with the #@common lines in place of each @COMMON@. The web
 * part (after "#@web", may be absent) is the demo page location.
 */
int cli_route_template(cs_cli *cli, const char *tpl, char **upart, char **lpart, char **wpart)
{
	char *text, *c, *u, *l, *w, *common;

	*upart = *lpart = *wpart = NULL;
	text = read_file(tpl);
	if (!text) {
		cli_err(cli, "cannot read the route template '%s': %s", tpl, strerror(errno));
		return CLI_FAIL;
	}
	c = strstr(text, "\n#@common\n");
	u = strstr(text, "\n#@upstream\n");
	l = strstr(text, "\n#@location\n");
	if (!u || !l || l < u || (c && c > u)) {
		cli_err(cli, "route template '%s' lacks the #@upstream / #@location markers (in that order, after #@common)", tpl);
		free(text);
		return CLI_FAIL;
	}
	w = strstr(l + 1, "\n#@web\n");
	if (w)
		w[1] = '\0'; /* the locations end before the web part */
	*wpart = strdup(w ? w + strlen("\n#@web\n") : "");
	/* each part ends with its last line's newline */
	common = c ? strndup(c + strlen("\n#@common\n"),
			     (size_t)(u + 1 - (c + strlen("\n#@common\n")))) : strdup("");
	*upart = strndup(u + strlen("\n#@upstream\n"),
			 (size_t)(l + 1 - (u + strlen("\n#@upstream\n"))));
	*lpart = common ? expand_common(l + strlen("\n#@location\n"), common) : NULL;
	free(common);
	free(text);
	if (*lpart && **lpart && (*lpart)[strlen(*lpart) - 1] != '\n') {
		/* a template whose last line has no newline still ends lines */
		char *t = realloc(*lpart, strlen(*lpart) + 2);

		if (t)
			strcat(t, "\n");
		else
			free(*lpart);
		*lpart = t;
	}
	if (*upart && *lpart && *wpart)
		return CLI_OK;
	free(*upart);
	free(*lpart);
	free(*wpart);
	*upart = *lpart = *wpart = NULL;
	cli_err(cli, "out of memory reading '%s'", tpl);
	return CLI_FAIL;
}

/*
 * The demo page location of a deployment whose version ships a web/
 * folder: its tree in the store (built when missing). A tree that cannot
 * be built leaves the model without a demo page, said in the routes file.
 */
static void web_route(cs_cli *cli, json_t *d, const char *wpart, FILE *loc)
{
	static const char *const keys[] = {"NAME", "WEB_DIR"};
	const char *vals[2], *name = jstr(d, "name", "");
	char err[CS_ERROR_SIZE * 2], *dir = NULL;
	json_t *m = NULL, *rec, *files;

	if (!*wpart || !cli->reg ||
	    cs_registry_model(cli->reg, name, jstr(d, "version", NULL), 0, &m) != CS_OK)
		return;
	rec = json_object_get(m, "record");
	if (!jstr(rec, "web_sha256", "")[0] || !cli_store(cli)) {
		json_decref(m);
		return;
	}
	files = json_loads(jstr(rec, "web_files", "{}"), 0, NULL);
	if (cs_web_tree(cli->store, files, jstr(rec, "web_sha256", ""), &dir, err, sizeof err) !=
	    CS_OK) {
		fprintf(loc, "# %s: no demo page: %s\n", name, err);
	} else {
		vals[0] = name;
		vals[1] = dir;
		cli_render(loc, wpart, keys, vals, 2);
	}
	free(dir);
	json_decref(files);
	json_decref(m);
}

static long long gcd(long long a, long long b)
{
	while (b) {
		long long t = a % b;

		a = b;
		b = t;
	}
	return a;
}

/*
 * The upstream servers of a deployment ("unix:PATH [weight=W]" strings):
 * its pools in the roles stable and canary, weighted so the canary gets
 * canary_percent of the requests (nginx's weighted round robin); a record
 * without pools lists its sockets.
 */
static json_t *routed_servers(const json_t *d)
{
	json_t *pools = json_loads(jstr(d, "pools", ""), 0, NULL);
	json_t *out = json_array(), *p;
	long long pct = jnum(d, "canary_percent", 0), ns = 0, nc = 0, ws, wc, g;
	const char *cv = jstr(d, "canary_version", "");
	size_t i;
	char buf[PATH_MAX + 64];

	if (!json_is_array(pools)) {
		json_t *socks = json_loads(jstr(d, "sockets", "[]"), 0, NULL);

		json_array_foreach(socks, i, p) {
			snprintf(buf, sizeof buf, "unix:%s", json_string_value(p));
			json_array_append_new(out, json_string(buf));
		}
		json_decref(socks);
		json_decref(pools);
		return out;
	}
	json_array_foreach(pools, i, p) {
		const char *role = jstr(p, "role", "");

		if (strcmp(role, "stable") == 0)
			ns++;
		else if (strcmp(role, "canary") == 0)
			nc++;
	}
	if (!nc || !*cv || pct <= 0 || pct >= 100) {
		nc = 0;
		ws = wc = 1;
	} else if (!ns) {
		ws = wc = 1;
	} else {
		ws = (100 - pct) * nc;
		wc = pct * ns;
		g = gcd(ws, wc);
		ws /= g;
		wc /= g;
	}
	json_array_foreach(pools, i, p) {
		const char *role = jstr(p, "role", "");
		long long w;

		if (strcmp(role, "stable") == 0)
			w = ws;
		else if (nc && strcmp(role, "canary") == 0)
			w = wc;
		else
			continue;
		if (w > 1)
			snprintf(buf, sizeof buf, "unix:%s weight=%lld", jstr(p, "socket", ""), w);
		else
			snprintf(buf, sizeof buf, "unix:%s", jstr(p, "socket", ""));
		json_array_append_new(out, json_string(buf));
	}
	json_decref(pools);
	return out;
}

/*
 * Each routed pool's own /metrics/NAME/ID and /status/NAME/ID, so that
 * Prometheus scrapes every pool of a deployment (its samples carry
 * pool="ID") and a sum over them is the deployment's.
 */
static void pool_routes(const json_t *d, FILE *up, FILE *loc)
{
	json_t *pools = json_loads(jstr(d, "pools", ""), 0, NULL), *p;
	const char *name = jstr(d, "name", "");
	size_t i;

	json_array_foreach(pools, i, p) {
		const char *role = jstr(p, "role", "");
		long long id = jnum(p, "id", -1);

		if ((strcmp(role, "stable") && strcmp(role, "canary")) || id < 0)
			continue;
		fprintf(up, "upstream cubeserve_%s_pool_%lld {\n    server unix:%s;\n}\n", name, id,
			jstr(p, "socket", ""));
		for (int k = 0; k < 2; k++)
			fprintf(loc, "location = /%s/%s/%lld {\n    rewrite ^ /%s break;\n"
				"    include %s;\n    fastcgi_pass cubeserve_%s_pool_%lld;\n"
				"    fastcgi_connect_timeout 5s;\n    fastcgi_read_timeout 10s;\n"
				"    fastcgi_intercept_errors off;\n}\n",
				k ? "status" : "metrics", name, id, k ? "status" : "metrics",
				cli_fastcgi_params(), name, id);
	}
	json_decref(pools);
}

int cli_routes_render(cs_cli *cli, json_t *deployments, FILE *up, FILE *loc)
{
	static const char *const keys[] = {"NAME", "SERVERS", "KEEPALIVE_LINE",
		"KEEP_CONN", "FASTCGI_PARAMS", "MAX_BODY", "TIMEOUT"};
	char *upart = NULL, *lpart = NULL, *wpart = NULL, servers[8192], maxbody[32], timeout[32];
	char tpl[PATH_MAX + 32];
	json_t *d;
	size_t i;

	snprintf(tpl, sizeof tpl, "%s/route.conf.in", cli->nginx_dir);
	if (cli_route_template(cli, tpl, &upart, &lpart, &wpart) != CLI_OK)
		return CLI_FAIL;
	fprintf(up, "# generated by cubeserve from %s/route.conf.in\n", cli->nginx_dir);
	fprintf(loc, "# generated by cubeserve from %s/route.conf.in\n", cli->nginx_dir);
	json_array_foreach(deployments, i, d) {
		const char *name = jstr(d, "name", "");
		const char *state = jstr(d, "state", "");
		json_t *socks = routed_servers(d);
		long long mb = jnum(d, "max_body_bytes", 1 << 20);
		const char *vals[7];
		size_t off = 0, j;
		json_t *s;

		if (strcmp(state, "paused") == 0 || strcmp(state, "stopped") == 0 ||
		    json_array_size(socks) == 0) {
			const char *why = strcmp(state, "paused") == 0 ? "paused" : "not running";

			fprintf(loc, "# %s: %s\n", name, why);
			/* every endpoint of the model answers 503 JSON; V2 ready says false */
			for (const char *const *l = (const char *const[]){"= /models/",
				"^~ /models/", "= /health/", "= /v2/models/",
				"^~ /v2/models/", "= /metrics/", "= /status/", NULL}; *l; l++) {
				fprintf(loc, "location %s%s%s", *l, name, (*l)[0] == '^' ? "/" : "");
				fprintf(loc, " {\n    default_type application/json;\n"
					"    return 503 '{\"error\": \"model %s is %s\"}\\n';\n}\n",
					name, why);
			}
			fprintf(loc, "location = /v2/models/%s/ready {\n    default_type application/json;\n"
				"    return 503 '{\"name\": \"%s\", \"ready\": false, \"error\": \"model %s is %s\"}\\n';\n}\n",
				name, name, name, why);
			/* its API document stays reachable while it does not serve */
			fprintf(loc, "location = /models/%s/openapi.json {\n"
				"    rewrite ^ /api/models/%s/openapi.json last;\n}\n", name, name);
			json_decref(socks);
			continue;
		}
		servers[0] = '\0';
		json_array_foreach(socks, j, s) {
			int n = snprintf(servers + off, sizeof servers - off, "%s    server %s;",
					 off ? "\n" : "", json_string_value(s));

			if (n < 0 || (size_t)n >= sizeof servers - off)
				break;
			off += (size_t)n;
		}
		json_decref(socks);
		if (mb < (1 << 20))
			mb = 1 << 20;
		snprintf(maxbody, sizeof maxbody, "%lldk", (mb + 1023) / 1024);
		vals[0] = name;
		vals[1] = servers;
		vals[2] = "keepalive 16;";
		vals[3] = "on";
		vals[4] = cli_fastcgi_params();
		vals[5] = maxbody;
		/*
		 * nginx waits a little longer than the worker's own limit: the
		 * worker answers 504 itself; nginx's 504 is for a stuck backend
		 */
		snprintf(timeout, sizeof timeout, "%llds",
			 (jnum(d, "request_timeout_ms", 60000) + 999) / 1000 + 2);
		vals[6] = timeout;
		cli_render(up, upart, keys, vals, 7);
		cli_render(loc, lpart, keys, vals, 7);
		pool_routes(d, up, loc);
		web_route(cli, d, wpart, loc);
	}
	free(upart);
	free(lpart);
	free(wpart);
	return CLI_OK;
}

int cli_routes_render_mem(cs_cli *cli, json_t *deployments, char **ubuf, size_t *ulen,
			  char **lbuf, size_t *llen)
{
	FILE *fu, *fl;
	int rc;

	*ubuf = *lbuf = NULL;
	*ulen = *llen = 0;
	fu = open_memstream(ubuf, ulen);
	fl = open_memstream(lbuf, llen);
	if (!fu || !fl) {
		if (fu)
			fclose(fu);
		if (fl)
			fclose(fl);
		free(*ubuf);
		free(*lbuf);
		*ubuf = *lbuf = NULL;
		cli_err(cli, "out of memory rendering the routes");
		return CLI_FAIL;
	}
	rc = cli_routes_render(cli, deployments, fu, fl);
	fclose(fu);
	fclose(fl);
	if (rc != CLI_OK) {
		free(*ubuf);
		free(*lbuf);
		*ubuf = *lbuf = NULL;
	}
	return rc;
}

pid_t cli_nginx_pid(const cs_cli *cli)
{
	char p[PATH_MAX + 32], buf[32];
	FILE *f;
	long pid = 0;

	snprintf(p, sizeof p, "%s/nginx/nginx.pid", cli->run_dir);
	f = fopen(p, "r");
	if (!f)
		return 0;
	if (fgets(buf, sizeof buf, f))
		pid = strtol(buf, NULL, 10);
	fclose(f);
	if (pid <= 0 || !cli_pid_alive((pid_t)pid) || !cli_pid_matches((pid_t)pid, "nginx"))
		return 0;
	return (pid_t)pid;
}

int cli_nginx_port(cs_cli *cli)
{
	char *v = cli->reg ? cs_registry_config_get(cli->reg, "nginx_port") : NULL;
	int port = v ? atoi(v) : 0;

	free(v);
	return port;
}

/* The child pids of pid, space-separated, from /proc. */
static void children_of(pid_t pid, char *out, size_t len)
{
	char p[64];
	FILE *f;

	out[0] = '\0';
	snprintf(p, sizeof p, "/proc/%ld/task/%ld/children", (long)pid, (long)pid);
	f = fopen(p, "r");
	if (!f)
		return;
	if (!fgets(out, (int)len, f))
		out[0] = '\0';
	fclose(f);
}

/* Whether any pid of the space-padded list old is still a child of pid. */
static int old_children_left(pid_t pid, const char *old)
{
	char now[4096], *tok, *save = NULL;

	children_of(pid, now, sizeof now);
	for (tok = strtok_r(now, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save)) {
		char pat[32];

		snprintf(pat, sizeof pat, " %s ", tok);
		if (strstr(old, pat))
			return 1;
	}
	return 0;
}

/*
 * Sends HUP and waits (bounded) until nginx runs a worker it did not run
 * before and its old workers are gone: then every new connection gets the
 * new configuration.
 */
static void reload(pid_t pid)
{
	char before[4096], now[4096], *tok, *save = NULL;
	long long deadline = cli_now_ms() + 5000;
	int fresh = 0;

	before[0] = ' ';
	children_of(pid, before + 1, sizeof before - 2);
	for (char *c = before; *c; c++)
		if (*c == '\n')
			*c = ' ';
	strcat(before, " ");
	kill(pid, SIGHUP);
	if (strspn(before, " ") == strlen(before)) {
		cli_sleep_ms(300); /* no /proc children: a fixed pause */
		return;
	}
	while (!fresh && cli_now_ms() < deadline) {
		cli_sleep_ms(20);
		children_of(pid, now, sizeof now);
		for (tok = strtok_r(now, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save)) {
			char pat[32];

			snprintf(pat, sizeof pat, " %s ", tok);
			if (!strstr(before, pat))
				fresh = 1;
		}
	}
	while (fresh && cli_now_ms() < deadline && old_children_left(pid, before))
		cli_sleep_ms(20);
}

int cli_nginx_test(cs_cli *cli, char *out, size_t outlen)
{
	char prefix[PATH_MAX], pfx[PATH_MAX + 2], conf[PATH_MAX + 32], errlog[PATH_MAX + 32];
	char *argv[] = {nginx_bin(cli), "-t", "-q", "-p", pfx, "-e", errlog, "-c", conf, NULL};

	cli_nginx_prefix(cli, prefix, sizeof prefix);
	snprintf(pfx, sizeof pfx, "%s/", prefix);
	snprintf(conf, sizeof conf, "%s/nginx.conf", prefix);
	snprintf(errlog, sizeof errlog, "%s/logs/error.log", prefix);
	if (!argv[0]) {
		cli_err(cli, "nginx is not installed (install nginx-light, or set CS_NGINX)");
		return -1;
	}
	return cli_run(argv, out, outlen, 20000) == 0 ? 0 : 1;
}

int cli_routes_apply(cs_cli *cli, int *reloaded)
{
	char prefix[PATH_MAX], up[PATH_MAX + 32], loc[PATH_MAX + 32], tmp[2][PATH_MAX + 40];
	char bak[2][PATH_MAX + 40], conf[PATH_MAX + 32], lock[PATH_MAX + 32];
	char out[4096];
	json_t *deps = NULL;
	FILE *fu = NULL, *fl = NULL;
	int lfd, rc = CLI_FAIL, st;
	pid_t pid;

	*reloaded = 0;
	cli_nginx_prefix(cli, prefix, sizeof prefix);
	snprintf(lock, sizeof lock, "%s/routes.lock", prefix);
	lfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lfd < 0 || flock(lfd, LOCK_EX) != 0) {
		cli_err(cli, "cannot lock '%s': %s", lock, strerror(errno));
		if (lfd >= 0)
			close(lfd);
		return CLI_FAIL;
	}
	if (cs_registry_deployments(cli->reg, &deps) != CS_OK) {
		rc = cli_reg_fail(cli);
		goto out_unlock;
	}
	snprintf(up, sizeof up, "%s/upstreams.conf", prefix);
	snprintf(loc, sizeof loc, "%s/locations.conf", prefix);
	snprintf(conf, sizeof conf, "%s/nginx.conf", prefix);
	snprintf(tmp[0], sizeof tmp[0], "%s.new", up);
	snprintf(tmp[1], sizeof tmp[1], "%s.new", loc);
	snprintf(bak[0], sizeof bak[0], "%s.bak", up);
	snprintf(bak[1], sizeof bak[1], "%s.bak", loc);
	fu = fopen(tmp[0], "w");
	fl = fopen(tmp[1], "w");
	if (!fu || !fl) {
		cli_err(cli, "cannot write the routes in '%s': %s", prefix, strerror(errno));
		goto out_close;
	}
	if (cli_routes_render(cli, deps, fu, fl) != CLI_OK)
		goto out_close;
	if (fclose(fu) != 0 || fclose(fl) != 0) {
		fu = fl = NULL;
		cli_err(cli, "cannot write the routes in '%s': %s", prefix, strerror(errno));
		goto out_unlock;
	}
	fu = fl = NULL;
	/* keep the current files to put back when nginx -t refuses the new */
	(void)!link(up, bak[0]);
	rename(up, bak[0]);
	(void)!link(loc, bak[1]);
	rename(loc, bak[1]);
	rename(tmp[0], up);
	rename(tmp[1], loc);
	if (access(conf, R_OK) == 0) {
		st = cli_nginx_test(cli, out, sizeof out);
		if (st < 0)
			goto out_restore;
		if (st != 0) {
			cli_err(cli, "nginx -t refused the new routes (the previous ones stay):\n%s", out);
			goto out_restore;
		}
	}
	unlink(bak[0]);
	unlink(bak[1]);
	pid = cli_nginx_pid(cli);
	if (pid > 0) {
		reload(pid);
		*reloaded = 1;
	}
	rc = CLI_OK;
	goto out_unlock;
out_restore:
	rename(bak[0], up);
	rename(bak[1], loc);
	goto out_unlock;
out_close:
	if (fu)
		fclose(fu);
	if (fl)
		fclose(fl);
	unlink(tmp[0]);
	unlink(tmp[1]);
out_unlock:
	json_decref(deps);
	flock(lfd, LOCK_UN);
	close(lfd);
	return rc;
}

/* Whether the file at path holds exactly len bytes s. */
static int file_equals(const char *path, const char *s, size_t len)
{
	char *cur = read_file(path);
	int eq = cur && strlen(cur) == len && memcmp(cur, s, len) == 0;

	free(cur);
	return eq;
}

int cli_routes_sync(cs_cli *cli, int *reloaded)
{
	char prefix[PATH_MAX], up[PATH_MAX + 32], loc[PATH_MAX + 32];
	char *ubuf, *lbuf;
	size_t ulen, llen;
	json_t *deps = NULL;
	int rc, same;

	*reloaded = 0;
	if (cs_registry_deployments(cli->reg, &deps) != CS_OK)
		return cli_reg_fail(cli);
	rc = cli_routes_render_mem(cli, deps, &ubuf, &ulen, &lbuf, &llen);
	json_decref(deps);
	if (rc != CLI_OK)
		return rc;
	cli_nginx_prefix(cli, prefix, sizeof prefix);
	snprintf(up, sizeof up, "%s/upstreams.conf", prefix);
	snprintf(loc, sizeof loc, "%s/locations.conf", prefix);
	same = file_equals(up, ubuf, ulen) && file_equals(loc, lbuf, llen);
	free(ubuf);
	free(lbuf);
	return same ? CLI_OK : cli_routes_apply(cli, reloaded);
}
