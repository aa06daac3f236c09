/*
 * jobs.c - operations that take a while (publish, deploy, scale, ...) run
 * as a job: the `cubeserve` command in the background, its output and exit
 * code under RUN/api/jobs/ID.{json,log,rc}. GET /api/jobs/ID reads them
 * back with the steps the command printed ("[N/5] ..."), so the page can
 * show each step and the one that failed.
 */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "api/api.h"
#include "registry/url.h"

void api_random_id(char id[17])
{
	unsigned char b[8];
	struct timeval tv;

	if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b) {
		gettimeofday(&tv, NULL);
		for (size_t i = 0; i < sizeof b; i++)
			b[i] = (unsigned char)((tv.tv_usec >> (i * 3)) ^ (getpid() >> i) ^ (i * 37));
	}
	for (size_t i = 0; i < sizeof b; i++)
		snprintf(id + 2 * i, 3, "%02x", b[i]);
}

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	remove(p);
	return 0;
}

void api_rm_tree(const char *dir)
{
	if (dir && *dir)
		nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void jobs_dir(const api_ctx *ctx, char *out, size_t len)
{
	snprintf(out, len, "%s/api", ctx->run_dir);
	mkdir(out, 0700);
	snprintf(out, len, "%s/api/jobs", ctx->run_dir);
	mkdir(out, 0700);
}

static long long now_ms(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

int api_job_start(api_ctx *ctx, const char *kind, const char *target,
		  const char *const *argv, const char *cleanup_dir, const char *key,
		  char id[17], char *err, size_t errlen)
{
	char dir[PATH_MAX], meta[PATH_MAX + 32], logp[PATH_MAX + 32], rcp[PATH_MAX + 32];
	char cfg[PATH_MAX + 16];
	const char *args[32];
	int n = 0, st;
	json_t *m, *a;
	pid_t p;

	jobs_dir(ctx, dir, sizeof dir);
	/* an empty config dir: the command finds no login token of this machine */
	snprintf(cfg, sizeof cfg, "%s/api/config", ctx->run_dir);
	mkdir(cfg, 0700);
	api_random_id(id);
	snprintf(meta, sizeof meta, "%s/%s.json", dir, id);
	snprintf(logp, sizeof logp, "%s/%s.log", dir, id);
	snprintf(rcp, sizeof rcp, "%s/%s.rc", dir, id);
	args[n++] = ctx->cubeserve;
	/* a registry password stays off the command line (ps shows that) */
	args[n++] = "--registry";
	args[n++] = cs_registry_url_has_secret(ctx->registry_url) ? "env" : ctx->registry_url;
	args[n++] = "--prefix";
	args[n++] = ctx->prefix;
	args[n++] = "--run-dir";
	args[n++] = ctx->run_dir;
	for (int i = 0; argv[i] && n < 31; i++)
		args[n++] = argv[i];
	args[n] = NULL;

	a = json_array();
	for (int i = 7; i < n; i++)
		json_array_append_new(a, json_string(args[i]));
	m = json_pack("{s:s,s:s,s:s,s:o,s:I}", "id", id, "kind", kind, "target", target,
		      "command", a, "started", (json_int_t)now_ms());
	if (json_dump_file(m, meta, JSON_COMPACT) != 0) {
		snprintf(err, errlen, "cannot write the job record '%s': %s", meta, strerror(errno));
		json_decref(m);
		return -1;
	}
	json_decref(m);

	/*
	 * Double fork: the waiter is reparented away from this FastCGI
	 * process, waits for the command and writes its exit code.
	 */
	p = fork();
	if (p < 0) {
		snprintf(err, errlen, "fork: %s", strerror(errno));
		return -1;
	}
	if (p == 0) {
		pid_t w, c;
		int fd, status = 0;
		FILE *f;

		setsid();
		w = fork();
		if (w != 0)
			_exit(w < 0 ? 1 : 0);
		for (fd = 3; fd < 1024; fd++)
			close(fd);
		fd = open("/dev/null", O_RDONLY);
		if (fd >= 0) {
			dup2(fd, 0);
			close(fd);
		}
		c = fork();
		if (c == 0) {
			/* the requester's own credential, or none (never a token file) */
			if (key && *key)
				setenv("CUBESERVE_KEY", key, 1);
			else
				unsetenv("CUBESERVE_KEY");
			setenv("XDG_CONFIG_HOME", cfg, 1);
			if (cs_registry_url_has_secret(ctx->registry_url)) {
				setenv("CUBESERVE_REGISTRY", ctx->registry_url, 1);
				/* drop "--registry env": the command reads the environment */
				memmove(&args[1], &args[3], (size_t)(n - 2) * sizeof args[0]);
			}
			fd = open(logp, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
			if (fd >= 0) {
				dup2(fd, 1);
				dup2(fd, 2);
			}
			execv(args[0], (char *const *)args);
			fprintf(stderr, "cannot run %s: %s\n", args[0], strerror(errno));
			_exit(127);
		}
		if (c < 0 || waitpid(c, &status, 0) < 0)
			status = 127 << 8;
		if (cleanup_dir)
			api_rm_tree(cleanup_dir);
		f = fopen(rcp, "w");
		if (f) {
			fprintf(f, "%d %lld\n", WIFEXITED(status) ? WEXITSTATUS(status) :
				128 + WTERMSIG(status), now_ms());
			fclose(f);
		}
		_exit(0);
	}
	waitpid(p, &st, 0);
	return 0;
}

static char *slurp(const char *p, size_t max)
{
	FILE *f = fopen(p, "r");
	char *buf;
	size_t n;

	if (!f)
		return NULL;
	buf = malloc(max + 1);
	if (!buf) {
		fclose(f);
		return NULL;
	}
	n = fread(buf, 1, max, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* Whether id is 16 lower-case hex digits. */
static int id_ok(const char *id)
{
	return strlen(id) == 16 && strspn(id, "0123456789abcdef") == 16;
}

/*
 * Steps from the command's output: "[N/M] title" (publish) or an indented
 * "[N] title" (the deployment operations) opens step N; a line
 * "cubeserve CMD: step N (...) failed..." marks it failed.
 */
static json_t *steps_of(const char *log, int rc, int done)
{
	json_t *steps = json_array(), *cur = NULL;
	const char *s = log;

	while (s && *s) {
		const char *nl = strchr(s, '\n');
		size_t l = nl ? (size_t)(nl - s) : strlen(s);
		int a = 0, b = 0, k = 0, opens = 0, ind = (int)strspn(s, " ");

		if (sscanf(s, "[%d/%d]%n", &a, &b, &k) == 2 && k > 0) {
			opens = 1;
		} else if (ind > 0 && (size_t)ind < l) {
			k = 0;
			if (sscanf(s + ind, "[%d]%n", &a, &k) == 1 && k > 0) {
				k += ind;
				opens = 1;
			}
		}
		if (opens) {
			char title[256];
			const char *t = s + k;

			while (*t == ' ')
				t++;
			snprintf(title, sizeof title, "%.*s", (int)(l - (size_t)(t - s)), t);
			if (cur)
				json_object_set_new(cur, "state", json_string("done"));
			cur = json_pack("{s:i,s:i,s:s,s:s}", "step", a, "of", b, "title", title,
					"state", "running");
			json_array_append_new(steps, cur);
		} else if (strstr(s, ": step ") && strstr(s, " failed") && cur &&
			   (size_t)(strstr(s, " failed") - s) < l) {
			json_object_set_new(cur, "state", json_string("failed"));
		}
		s = nl ? nl + 1 : NULL;
	}
	if (cur && done && strcmp(json_string_value(json_object_get(cur, "state")), "running") == 0)
		json_object_set_new(cur, "state", json_string(rc == 0 ? "done" : "failed"));
	return steps;
}

json_t *api_job_json(api_ctx *ctx, const char *id)
{
	char dir[PATH_MAX], p[PATH_MAX + 32];
	json_t *m;
	char *log, *rc;
	int code = -1, done = 0;
	long long ended = 0;

	if (!id_ok(id))
		return NULL;
	jobs_dir(ctx, dir, sizeof dir);
	snprintf(p, sizeof p, "%s/%s.json", dir, id);
	m = json_load_file(p, 0, NULL);
	if (!m)
		return NULL;
	snprintf(p, sizeof p, "%s/%s.log", dir, id);
	log = slurp(p, 64 * 1024);
	snprintf(p, sizeof p, "%s/%s.rc", dir, id);
	rc = slurp(p, 64);
	if (rc && sscanf(rc, "%d %lld", &code, &ended) >= 1)
		done = 1;
	json_object_set_new(m, "state", json_string(!done ? "running" : code == 0 ? "done" : "failed"));
	json_object_set_new(m, "exit", done ? json_integer(code) : json_null());
	if (done)
		json_object_set_new(m, "ended", json_integer(ended));
	json_object_set_new(m, "steps", steps_of(log, code, done));
	json_object_set_new(m, "log", json_string(log ? log : ""));
	if (!json_object_get(m, "log") || json_is_null(json_object_get(m, "log")))
		json_object_set_new(m, "log", json_string("(output not valid UTF-8)"));
	free(log);
	free(rc);
	return m;
}

void api_job_get(api_req *q, const char *id)
{
	json_t *j = api_job_json(q->ctx, id);

	if (!j) {
		api_error(q, 404, "no job '%.40s'", id);
		return;
	}
	api_send(q, 200, j);
}
