/*
 * console.c - the web console of a stack: the nginx locations of the
 * console and its API (nginx/console.conf.in) and the cubeserve-api
 * process `up` runs under spawn-fcgi on RUN/api.sock.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "registry/url.h"
#include "cli.h"

static int exists(const char *p)
{
	return access(p, F_OK) == 0;
}

/* The console's static files: $CUBESERVE_CONSOLE_DIR, the source tree, the installed copy. */
static void console_dir(char *out, size_t len)
{
	const char *e = getenv("CUBESERVE_CONSOLE_DIR");
	char p[PATH_MAX];

	if (e && *e) {
		snprintf(out, len, "%s", e);
		return;
	}
	snprintf(p, sizeof p, "%s/console/index.html", CS_BUILD_SRCDIR);
	if (CS_BUILD_SRCDIR[0] && exists(p))
		snprintf(out, len, "%s/console", CS_BUILD_SRCDIR);
	else
		snprintf(out, len, "%s/console", CS_DATA_DIR);
}

/* cubeserve-api beside the worker (same build or install), or NULL. */
static char *api_bin(const cs_cli *cli)
{
	const char *e = getenv("CUBESERVE_API");
	char p[PATH_MAX + 32], *sl;

	if (e && *e)
		return access(e, X_OK) == 0 ? strdup(e) : NULL;
	snprintf(p, sizeof p, "%s", cli->worker);
	sl = strrchr(p, '/');
	if (!sl)
		return NULL;
	snprintf(sl + 1, sizeof p - (size_t)(sl + 1 - p), "cubeserve-api");
	return access(p, X_OK) == 0 ? strdup(p) : NULL;
}

void cli_api_sock(const cs_cli *cli, char *out, size_t len)
{
	snprintf(out, len, "%s/api.sock", cli->run_dir);
}

int cli_console_conf(cs_cli *cli, const char *prefix, const char *params)
{
	char tpl[PATH_MAX + 32], conf[PATH_MAX + 32], dir[PATH_MAX], sock[PATH_MAX + 16];
	char vendor[PATH_MAX + 32];
	static const char *const keys[] = {"CONSOLE_DIR", "API_SOCK", "FASTCGI_PARAMS",
					   "MAX_UPLOAD"};
	const char *vals[4];
	char *api = api_bin(cli), *text = NULL;
	FILE *in, *f;
	long n;

	snprintf(conf, sizeof conf, "%s/console.conf", prefix);
	console_dir(dir, sizeof dir);
	snprintf(tpl, sizeof tpl, "%s/console.conf.in", cli->nginx_dir);
	if (!api || !exists(tpl)) {
		/* a build without the API: the stack serves models only */
		unlink(conf);
		free(api);
		return CLI_OK;
	}
	free(api);
	snprintf(vendor, sizeof vendor, "%s/vendor/preact.mjs", dir);
	if (!exists(vendor))
		cli_err(cli, "warning: the console's npm files are not in %s/vendor (run scripts/console-deps.sh); /console/ will not work",
			dir);
	in = fopen(tpl, "r");
	if (!in || fseek(in, 0, SEEK_END) != 0 || (n = ftell(in)) < 0 || fseek(in, 0, SEEK_SET) != 0 ||
	    !(text = calloc(1, (size_t)n + 1)) || fread(text, 1, (size_t)n, in) != (size_t)n) {
		cli_err(cli, "cannot read '%s': %s", tpl, strerror(errno));
		if (in)
			fclose(in);
		free(text);
		return CLI_FAIL;
	}
	fclose(in);
	cli_api_sock(cli, sock, sizeof sock);
	vals[0] = dir;
	vals[1] = sock;
	vals[2] = params;
	vals[3] = "64m";
	f = fopen(conf, "w");
	if (!f) {
		cli_err(cli, "cannot write '%s': %s", conf, strerror(errno));
		free(text);
		return CLI_FAIL;
	}
	cli_render(f, text, keys, vals, 4);
	fclose(f);
	free(text);
	return CLI_OK;
}

pid_t cli_api_start(cs_cli *cli)
{
	static const char *const sf_cand[] = {"/usr/bin/spawn-fcgi", NULL};
	char sock[PATH_MAX + 16], logf[PATH_MAX + 32], err[CS_ERROR_SIZE], self[PATH_MAX];
	char *api = api_bin(cli);
	ssize_t sl;
	pid_t pid;

	if (!api)
		return 0;
	if (!cli->spawn_fcgi)
		cli->spawn_fcgi = cli_find_tool("CS_SPAWN_FCGI", "spawn-fcgi", sf_cand);
	if (!cli->spawn_fcgi) {
		cli_err(cli, "spawn-fcgi is not installed: no console API");
		free(api);
		return -1;
	}
	sl = readlink("/proc/self/exe", self, sizeof self - 1);
	self[sl > 0 ? sl : 0] = '\0';
	cli_api_sock(cli, sock, sizeof sock);
	snprintf(logf, sizeof logf, "%s/logs/api.log", cli->run_dir);
	unlink(sock);
	{
		char *argv[] = {cli->spawn_fcgi, "-n", "-s", sock, "-M", "0600", "--", api,
				"--registry", cli->registry_url, "--prefix", (char *)cli->prefix,
				"--run-dir", cli->run_dir, "--cubeserve", self, NULL};

		/* a password stays off the command line (ps shows that) */
		if (cs_registry_url_has_secret(cli->registry_url)) {
			size_t n = sizeof argv / sizeof argv[0];

			setenv("CUBESERVE_REGISTRY", cli->registry_url, 1);
			memmove(&argv[8], &argv[10], (n - 10) * sizeof argv[0]);
		}
		pid = cli_spawn(argv, logf, err, sizeof err);
	}
	free(api);
	if (pid < 0) {
		cli_err(cli, "cannot start cubeserve-api: %s", err);
		return -1;
	}
	/* ready when its socket answers */
	for (int i = 0; i < 100; i++) {
		if (cli_fcgi_get(sock, "/api/", 500, NULL, 0) == 200)
			return pid;
		if (!cli_pid_alive(pid))
			break;
		cli_sleep_ms(50);
	}
	cli_err(cli, "cubeserve-api (pid %ld) did not answer on %s (log: %s)", (long)pid, sock, logf);
	return pid;
}
