/*
 * up.c - `cubeserve up`: the whole stack on one machine (private Redis and
 * nginx under a run directory, the bundled examples published and
 * deployed), in the foreground or detached; `cubeserve down` stops a
 * detached one. A stack holds an flock on RUN/up.pid for its lifetime, so
 * a crashed one never blocks the next.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "cli.h"
#include "ops.h"

#define READY_MARK "\001cubeserve-up-ready\n"

typedef struct up_opts {
	int port;                 /* nginx on 127.0.0.1:port */
	const char *examples_dir; /* NULL: publish and deploy none */
	int timeout_s;            /* per deployment */
	int workers;              /* nginx worker processes */
	int access_log;           /* 0: access_log off */
	int check;                /* --check: nginx -t, start nothing */
	cli_given given;          /* --route: nginx alone, for these workers */
} up_opts;

static volatile sig_atomic_t stop_flag;

static void on_stop(int sig)
{
	(void)sig;
	stop_flag = 1;
}

/* Takes the stack's lock; returns its fd, or -1 (another stack is up). */
static int take_lock(cs_cli *cli, long *holder)
{
	char p[PATH_MAX + 32], buf[32];
	int fd;
	ssize_t n;

	*holder = 0;
	snprintf(p, sizeof p, "%s/up.pid", cli->run_dir);
	fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		n = pread(fd, buf, sizeof buf - 1, 0);
		if (n > 0) {
			buf[n] = '\0';
			*holder = strtol(buf, NULL, 10);
		}
		close(fd);
		return -1;
	}
	return fd;
}

static int plugin_built(const cs_cli *cli, const char *plugin)
{
	char p[PATH_MAX + 64];

	if (strchr(plugin, '/'))
		return 1;
	snprintf(p, sizeof p, "%s/%s.so", cli->plugin_dir, plugin);
	if (access(p, R_OK) == 0)
		return 1;
	snprintf(p, sizeof p, "%s/%s/.libs/%s.so", cli->plugin_dir, plugin, plugin);
	return access(p, R_OK) == 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Publishes and deploys one example manifest (DIR/model*.json). */
static void example(cs_cli *cli, const char *label, const char *mpath,
		    json_t *deployed, int timeout_s)
{
	char name[80];
	json_t *m, *dep = NULL;
	int skipped;

	m = json_load_file(mpath, 0, NULL);
	if (!m)
		return;
	if (!plugin_built(cli, jstr(m, "plugin", ""))) {
		printf("up: skipping example %s: plugin '%s' was not built\n", label,
		       jstr(m, "plugin", ""));
		json_decref(m);
		return;
	}
	if (jstr(m, "model", "")[0]) {
		/* a model some examples make with a script instead of shipping */
		char dir[PATH_MAX], file[PATH_MAX * 2];
		const char *slash = strrchr(mpath, '/');

		snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - mpath) : 1,
			 slash ? mpath : ".");
		if (jstr(m, "model", "")[0] == '/')
			snprintf(file, sizeof file, "%s", jstr(m, "model", ""));
		else
			snprintf(file, sizeof file, "%s/%s", dir, jstr(m, "model", ""));
		if (access(file, R_OK) != 0) {
			printf("up: skipping example %s: its model %s is not made yet (the example's export script makes it)\n",
			       label, file);
			json_decref(m);
			return;
		}
	}
	json_decref(m);
	printf("up: publish example %s\n", mpath);
	if (cli_publish(cli, mpath, 1, &skipped, name, sizeof name) != CLI_OK) {
		printf("up: example %s was not published (see above); going on\n", label);
		return;
	}
	cli_auth_example(cli, name);
	if (cs_registry_deployment(cli->reg, name, &dep) == CS_OK) {
		json_decref(dep);
		return; /* deployed (or paused) already */
	}
	if (cli_deploy(cli, name, NULL, 1, timeout_s) == CLI_OK)
		json_array_append_new(deployed, json_string(name));
	else
		printf("up: example %s was not deployed (see above); going on\n", name);
}

/*
 * Publishes and deploys the examples: every DIR/model*.json (a model served
 * by several backends has a manifest per backend, e.g. digits).
 */
static void examples(cs_cli *cli, const char *dir, json_t *deployed, int timeout_s)
{
	char *names[64], p[PATH_MAX + 300];
	size_t n = 0;
	struct dirent *e;
	DIR *d = opendir(dir);

	if (!d) {
		printf("up: no examples at %s (%s)\n", dir, strerror(errno));
		return;
	}
	while ((e = readdir(d)) && n < 64)
		if (e->d_name[0] != '.')
			names[n++] = strdup(e->d_name);
	closedir(d);
	qsort(names, n, sizeof *names, cmp_str);
	for (size_t i = 0; i < n && !stop_flag; i++) {
		char *files[16];
		size_t nf = 0;
		DIR *sub;

		snprintf(p, sizeof p, "%s/%s", dir, names[i]);
		sub = opendir(p);
		if (!sub)
			continue;
		while ((e = readdir(sub)) && nf < 16) {
			size_t len = strlen(e->d_name);

			if (strncmp(e->d_name, "model", 5) == 0 && len > 5 &&
			    strcmp(e->d_name + len - 5, ".json") == 0)
				files[nf++] = strdup(e->d_name);
		}
		closedir(sub);
		qsort(files, nf, sizeof *files, cmp_str);
		for (size_t k = 0; k < nf && !stop_flag; k++) {
			snprintf(p, sizeof p, "%s/%s/%s", dir, names[i], files[k]);
			example(cli, names[i], p, deployed, timeout_s);
		}
		for (size_t k = 0; k < nf; k++)
			free(files[k]);
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
}

static void summary(cs_cli *cli, FILE *f, int port, pid_t redis, pid_t nginx, int detached)
{
	json_t *deps = NULL, *d, *rec;
	size_t i;

	fprintf(f, "\ncubeserve is up%s\n", detached ? " in the background (`cubeserve down` stops it)" :
		" (Ctrl-C stops it)");
	fprintf(f, "  run dir   %s\n", cli->run_dir);
	fprintf(f, "  redis     %s  pid %ld, AOF in %s/redis, log %s/logs/redis.log\n",
		cli_registry_shown(cli), (long)redis, cli->run_dir, cli->run_dir);
	fprintf(f, "  nginx     http://127.0.0.1:%d  pid %ld, config %s/nginx/nginx.conf, logs %s/nginx/logs/\n",
		port, (long)nginx, cli->run_dir, cli->run_dir);
	fprintf(f, "  store     %s\n", cli->store ? cli->store : "-");
	{
		char c[PATH_MAX + 32];

		snprintf(c, sizeof c, "%s/nginx/console.conf", cli->run_dir);
		if (access(c, F_OK) == 0)
			fprintf(f, "  console   http://127.0.0.1:%d/console/  (API under /api/, log %s/logs/api.log)\n",
				port, cli->run_dir);
	}
	if (cs_registry_deployments(cli->reg, &deps) != CS_OK)
		return;
	json_array_foreach(deps, i, d)
		fprintf(f, "  model     %s@%s  %s, %lld process(es), log %s\n", jstr(d, "name", ""),
			jstr(d, "version", ""), jstr(d, "state", ""), jnum(d, "processes", 0),
			jstr(d, "log", ""));
	fprintf(f, "\nTry:\n");
	json_array_foreach(deps, i, d) {
		const char *name = jstr(d, "name", "");
		json_t *m = NULL;

		if (strcmp(jstr(d, "state", ""), "running") != 0)
			continue;
		fprintf(f, "  curl -s http://127.0.0.1:%d/models/%s\n", port, name);
		if (cs_registry_model(cli->reg, name, jstr(d, "version", NULL), 0, &m) == CS_OK &&
		    (rec = json_object_get(m, "record")) && jstr(rec, "example", "")[0]) {
			json_t *ex = json_loads(jstr(rec, "example", ""), JSON_DECODE_ANY, NULL);
			char *s = ex ? json_dumps(ex, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15)) : NULL;

			if (s && !strchr(s, '\''))
				fprintf(f, "  curl -s http://127.0.0.1:%d/models/%s -d '%s'\n", port, name, s);
			free(s);
			json_decref(ex);
		}
		json_decref(m);
	}
	if (!getenv("CUBESERVE_RUN_DIR") || strcmp(getenv("CUBESERVE_RUN_DIR"), cli->run_dir) != 0)
		fprintf(f, "  export CUBESERVE_RUN_DIR=%s   # for the commands below\n", cli->run_dir);
	{
		/* the command as it can be run from here: it may not be on PATH */
		char self[PATH_MAX];
		ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
		const char *cmd = "cubeserve";

		if (n > 0) {
			self[n] = '\0';
			cmd = self;
		}
		fprintf(f, "  %s status\n  %s list\n", cmd, cmd);
	}
	fflush(f);
	json_decref(deps);
}

/* Starts the private redis-server: unix socket only, AOF on. */
static pid_t start_redis(cs_cli *cli, char *sock, char *redis_dir, char *logf,
			 char *err, size_t errlen)
{
	char *argv[] = {cli->redis_server, "--port", "0", "--unixsocket", sock,
			"--unixsocketperm", "700", "--dir", redis_dir,
			"--appendonly", "yes", "--save", "", "--daemonize", "no",
			"--logfile", "", NULL};

	return cli_spawn(argv, logf, err, errlen);
}

/* --auth: 1 on, 0 off, -1 as recorded in the registry (off when never set) */
static int up_auth_mode = -1;

/*
 * What every stack does first: the stop signals, the run directory, the
 * stack's lock (*lock) and, unless only checking, a free port. CLI_OK or
 * the exit code (printed).
 */
static int up_begin(cs_cli *cli, const up_opts *o, int *lock)
{
	struct sigaction sa;
	char pidbuf[32];
	long holder;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (cli_run_dir_init(cli) != CLI_OK)
		return CLI_FAIL;
	*lock = take_lock(cli, &holder);
	if (*lock < 0) {
		cli_err(cli, "refused: a stack is already up in %s (pid %ld); `cubeserve down --run-dir %s` stops it",
			cli->run_dir, holder, cli->run_dir);
		return CLI_REFUSED;
	}
	snprintf(pidbuf, sizeof pidbuf, "%ld\n", (long)getpid());
	if (ftruncate(*lock, 0) != 0 || pwrite(*lock, pidbuf, strlen(pidbuf), 0) < 0)
		cli_err(cli, "warning: cannot write %s/up.pid", cli->run_dir);
	if (!o->check && cli_port_busy(o->port)) {
		cli_err(cli, "refused: something already listens on 127.0.0.1:%d; use --port N", o->port);
		close(*lock);
		return CLI_REFUSED;
	}
	return CLI_OK;
}

/*
 * Starts the private nginx on RUN/nginx/nginx.conf and waits until it
 * answers /nginx-health. Its pid, or 0 (printed; nothing left running).
 */
static void stop_nginx(cs_cli *cli, pid_t nginx)
{
	char conf[PATH_MAX + 32];

	snprintf(conf, sizeof conf, "%s/nginx/nginx.conf", cli->run_dir);
	printf("up: stop nginx (pid %ld)\n", (long)nginx);
	if (cli_stop_pid(nginx, conf, 5000) != 0)
		cli_err(cli, "warning: nginx (pid %ld) did not stop", (long)nginx);
}

/* A detached stack is up: tell the parent, then log to RUN/logs/up.log. */
static void detached_ready(cs_cli *cli)
{
	char up_log[PATH_MAX + 32];
	int lf;

	fputs(READY_MARK, stdout);
	fflush(stdout);
	snprintf(up_log, sizeof up_log, "%s/logs/up.log", cli->run_dir);
	lf = open(up_log, O_WRONLY | O_CREAT | O_APPEND, 0600);
	if (lf >= 0) {
		dup2(lf, 1);
		dup2(lf, 2);
		close(lf);
	}
}

/*
 * up --route: the private nginx alone, routing to workers the caller
 * runs; no Redis, registry, supervisor, examples or console. Stops nginx
 * on a stop signal; stops when nginx exits.
 */
static int run_given(cs_cli *cli, const up_opts *o, int detached)
{
	char prefix[PATH_MAX], upf[PATH_MAX + 32], locf[PATH_MAX + 32], out[4096];
	FILE *fu = NULL, *fl = NULL;
	pid_t nginx = 0;
	int lock, rc, st;

	rc = cli_given_render(cli, &o->given, NULL, NULL); /* its refusals first */
	if (rc != CLI_OK)
		return rc;
	rc = up_begin(cli, o, &lock);
	if (rc != CLI_OK)
		return rc;
	rc = CLI_FAIL;
	cli_nginx_prefix(cli, prefix, sizeof prefix);
	snprintf(upf, sizeof upf, "%s/console.conf", prefix);
	unlink(upf); /* no console without the registry */
	snprintf(upf, sizeof upf, "%s/upstreams.conf", prefix);
	snprintf(locf, sizeof locf, "%s/locations.conf", prefix);
	if (cli_nginx_conf(cli, o->port, o->workers, o->access_log) != CLI_OK)
		goto out_unlock;
	fu = fopen(upf, "w");
	fl = fopen(locf, "w");
	if (!fu || !fl) {
		cli_err(cli, "cannot write the routes in '%s': %s", prefix, strerror(errno));
		goto out_close;
	}
	rc = cli_given_render(cli, &o->given, fu, fl);
	if (rc != CLI_OK)
		goto out_close;
	rc = CLI_FAIL;
	if (fclose(fu) != 0 || fclose(fl) != 0) {
		fu = fl = NULL;
		cli_err(cli, "cannot write the routes in '%s': %s", prefix, strerror(errno));
		goto out_unlock;
	}
	fu = fl = NULL;
	st = cli_nginx_test(cli, out, sizeof out);
	if (st != 0) {
		if (st > 0)
			cli_err(cli, "nginx -t refused %s/nginx.conf:\n%s", prefix, out);
		goto out_unlock;
	}
	if (o->check) {
		printf("up: nginx -t accepts %s/nginx.conf\n", prefix);
		rc = CLI_OK;
		goto out_unlock;
	}
	printf("up: start nginx on 127.0.0.1:%d (prefix %s)\n", o->port, prefix);
	nginx = cli_nginx_start(cli, o->port, &stop_flag);
	if (!nginx)
		goto out_unlock;
	printf("\ncubeserve is up (nginx only, %zu route(s) given)%s\n", o->given.npairs,
	       detached ? " in the background (`cubeserve down` stops it)" : " (Ctrl-C stops it)");
	printf("  nginx     http://127.0.0.1:%d  pid %ld, config %s/nginx.conf, logs %s/logs/\n",
	       o->port, (long)nginx, prefix, prefix);
	for (size_t i = 0; i < o->given.npairs; i++)
		printf("  route     %s\n", o->given.pairs[i]);
	fflush(stdout);
	if (detached)
		detached_ready(cli);
	while (!stop_flag) {
		pid_t w;

		while ((w = waitpid(-1, NULL, WNOHANG)) > 0)
			if (w == nginx)
				break;
		if (w == nginx || !cli_pid_alive(nginx)) {
			cli_err(cli, "nginx (pid %ld) exited; stopping", (long)nginx);
			nginx = 0;
			break;
		}
		cli_sleep_ms(200);
	}
	rc = CLI_OK;
	if (nginx)
		stop_nginx(cli, nginx);
	printf("up: stopped\n");
	fflush(stdout);
	goto out_unlock;
out_close:
	if (fu)
		fclose(fu);
	if (fl)
		fclose(fl);
out_unlock:
	close(lock);
	return rc;
}

/* The foreground part of up, also run by the detached child. */

static int run_stack(cs_cli *cli, const up_opts *o, int detached)
{
	static const char *const redis_cand[] = {"/usr/bin/redis-server", NULL};
	char sock[PATH_MAX + 32], redis_dir[PATH_MAX + 32], logf[PATH_MAX + 32];
	char prefix[PATH_MAX], errlog[PATH_MAX + 32];
	char err[CS_ERROR_SIZE * 2], portbuf[16];
	pid_t redis = 0, nginx = 0, api = 0;
	json_t *deps = NULL, *d, *deployed = NULL;
	cs_registry *probe;
	int lock, rc, reloaded, port = o->port, timeout_s = o->timeout_s;
	size_t i;

	rc = up_begin(cli, o, &lock);
	if (rc != CLI_OK)
		return rc;
	rc = CLI_FAIL;

	/* redis */
	snprintf(sock, sizeof sock, "%s/redis.sock", cli->run_dir);
	if (strlen(sock) > 100) {
		cli_err(cli, "run directory path too long for unix sockets: %s", cli->run_dir);
		goto out_unlock;
	}
	if (cs_registry_open(cli->registry_url, cli->prefix, 300, &probe, err, sizeof err) == CS_OK) {
		cs_registry_close(probe);
		cli_err(cli, "refused: a Redis we did not start answers on %s; stop it or use another --run-dir", sock);
		rc = CLI_REFUSED;
		goto out_unlock;
	}
	cli->redis_server = cli_find_tool("CS_REDIS_SERVER", "redis-server", redis_cand);
	if (!cli->redis_server) {
		cli_err(cli, "redis-server is not installed (apt-get install redis-server, or set CS_REDIS_SERVER)");
		goto out_unlock;
	}
	snprintf(redis_dir, sizeof redis_dir, "%s/redis", cli->run_dir);
	snprintf(logf, sizeof logf, "%s/logs/redis.log", cli->run_dir);
	unlink(sock);
	printf("up: start redis-server on %s (AOF in %s)\n", sock, redis_dir);
	redis = start_redis(cli, sock, redis_dir, logf, err, sizeof err);
	if (redis < 0) {
		cli_err(cli, "%s", err);
		redis = 0;
		goto out_stop;
	}
	for (i = 0; i < 200; i++) {
		if (cs_registry_open(cli->registry_url, cli->prefix, 300, &probe, err, sizeof err) == CS_OK) {
			cli->reg = probe;
			break;
		}
		if (!cli_pid_alive(redis) || stop_flag)
			break;
		cli_sleep_ms(50);
	}
	if (!cli->reg) {
		cli_err(cli, "redis-server did not come up on %s: %s (log: %s)", sock, err, logf);
		goto out_stop;
	}
	if (cli_registry(cli, 1) != CLI_OK || cli_auth_up(cli, up_auth_mode, stdout) != CLI_OK)
		goto out_stop;
	if (!cli_store(cli))
		goto out_stop;
	snprintf(portbuf, sizeof portbuf, "%d", port);
	{
		char key[128];
		const char *argv[] = {"HSET", key, "run_dir", cli->run_dir, "nginx_port", portbuf,
				      "nginx_prefix", prefix, NULL};

		cli_nginx_prefix(cli, prefix, sizeof prefix);
		cs_registry_key(cli->reg, key, sizeof key, "config");
		cs_registry_free_reply(cs_registry_argv(cli->reg, 8, argv));
	}

	/* nginx */
	printf("up: start nginx on 127.0.0.1:%d (prefix %s)\n", port, prefix);
	snprintf(errlog, sizeof errlog, "%s/logs/error.log", prefix);
	if (cli_nginx_conf(cli, port, o->workers, o->access_log) != CLI_OK ||
	    cli_console_conf(cli, prefix, cli_fastcgi_params()) != CLI_OK ||
	    cli_routes_apply(cli, &reloaded) != CLI_OK)
		goto out_stop;
	nginx = cli_nginx_start(cli, port, &stop_flag);
	if (!nginx)
		goto out_stop;
	/* the console's API (the console itself is static files nginx serves) */
	api = cli_api_start(cli);
	if (api > 0)
		printf("up: cubeserve-api on %s/api.sock (pid %ld); console at http://127.0.0.1:%d/console/\n",
		       cli->run_dir, (long)api, port);
	else if (api < 0)
		api = 0;

	/* what was deployed before (its desired state), then the examples */
	if (cs_registry_deployments(cli->reg, &deps) == CS_OK) {
		json_array_foreach(deps, i, d) {
			char oerr[CS_ERROR_SIZE * 4];

			if (stop_flag || strcmp(jstr(d, "state", ""), "paused") == 0)
				continue;
			printf("up: deploy %s@%s again (recorded earlier)\n", jstr(d, "name", ""),
			       jstr(d, "version", ""));
			if (cs_op_resume(cli, jstr(d, "name", ""), timeout_s, oerr, sizeof oerr) != CS_OK)
				printf("up: %s was not deployed (%s); the supervisor retries\n",
				       jstr(d, "name", ""), oerr);
		}
	}
	deployed = json_array();
	if (o->examples_dir && !stop_flag)
		examples(cli, o->examples_dir, deployed, timeout_s);
	if (stop_flag)
		goto out_stop;

	summary(cli, stdout, port, redis, nginx, detached);
	if (detached)
		detached_ready(cli);
	while (!stop_flag) {
		int redis_gone = 0, nginx_gone = 0;
		pid_t w;

		/* reap what exited (workers up started too); a pid reaped here
		 * is checked no further: it may already be another process's */
		while ((w = waitpid(-1, NULL, WNOHANG)) > 0) {
			if (w == redis)
				redis_gone = 1;
			else if (w == nginx)
				nginx_gone = 1;
		}
		if (redis_gone || !cli_pid_alive(redis)) {
			/*
			 * Serving does not need Redis: the workers go on and
			 * report again once it is back. Restart it (its AOF
			 * brings the registry back) after a pause.
			 */
			cli_err(cli, "redis-server (pid %ld) exited; the models go on serving; restarting it in 1 s (log: %s/logs/redis.log)",
				(long)redis, cli->run_dir);
			cs_registry_close(cli->reg);
			cli->reg = NULL;
			cli->schema_ok = 0;
			cli_sleep_ms(1000);
			snprintf(logf, sizeof logf, "%s/logs/redis.log", cli->run_dir);
			redis = start_redis(cli, sock, redis_dir, logf, err, sizeof err);
			if (redis < 0) {
				cli_err(cli, "cannot restart redis-server: %s; stopping the stack", err);
				redis = 0;
				break;
			}
			/* not stop_flag here: stopping needs the registry (the
			 * deployments name the workers to stop) */
			for (i = 0; i < 200 && !cli->reg && cli_pid_alive(redis); i++) {
				if (cs_registry_open(cli->registry_url, cli->prefix, 300, &probe, err,
						     sizeof err) == CS_OK)
					cli->reg = probe;
				else
					cli_sleep_ms(50);
			}
			if (cli->reg)
				printf("up: redis-server is back (pid %ld)\n", (long)redis);
			else
				cli_err(cli, "the restarted redis-server (pid %ld) does not answer on %s: %s; trying again",
					(long)redis, sock, err);
			fflush(stdout);
			continue;
		}
		if (!cli->reg && cs_registry_open(cli->registry_url, cli->prefix, 300, &probe,
						  err, sizeof err) == CS_OK) {
			cli->reg = probe;
			printf("up: redis-server is back (pid %ld)\n", (long)redis);
			fflush(stdout);
		}
		if (nginx_gone || !cli_pid_alive(nginx)) {
			cli_err(cli, "nginx (pid %ld) exited; stopping the stack (error log: %s)",
				(long)nginx, errlog);
			nginx = 0;
			break;
		}
		/* the supervisor: every deployment as desired */
		cli_supervise_pass(cli);
		if (cli->reg && cli->reg->err == CS_EUNAVAILABLE) {
			/* a connection that timed out (Redis stalled) stays
			 * broken: open a new one on the next pass */
			cs_registry_close(cli->reg);
			cli->reg = NULL;
		}
		if (api && !cli_pid_alive(api)) {
			cli_err(cli, "cubeserve-api (pid %ld) exited; starting it again (log: %s/logs/api.log)",
				(long)api, cli->run_dir);
			api = cli_api_start(cli);
			if (api < 0)
				api = 0;
		}
		cli_sleep_ms(200);
	}
	rc = CLI_OK;
out_stop:
	printf("\nup: stopping\n");
	if (cli->reg && cli->reg->err == CS_EUNAVAILABLE) {
		cs_registry_close(cli->reg);
		cli->reg = NULL;
	}
	/* the deployments in the registry name the workers to stop: give a
	 * Redis that is just being restarted a moment to answer */
	for (long long until = cli_now_ms() + 3000;
	     redis && !cli->reg && cli_now_ms() < until && cli_pid_alive(redis);) {
		if (cs_registry_open(cli->registry_url, cli->prefix, 300, &probe, err,
				     sizeof err) == CS_OK)
			cli->reg = probe;
		else
			cli_sleep_ms(100);
	}
	if (cli->reg && redis) {
		printf("up: stop the workers\n");
		cli_stop_all(cli);
	}
	if (api) {
		printf("up: stop cubeserve-api (pid %ld)\n", (long)api);
		cli_stop_pid(api, "cubeserve-api", 3000);
	}
	if (nginx)
		stop_nginx(cli, nginx);
	if (redis) {
		printf("up: stop redis-server (pid %ld)\n", (long)redis);
		cs_registry_close(cli->reg);
		cli->reg = NULL;
		if (cli_stop_pid(redis, sock, 10000) != 0)
			cli_err(cli, "warning: redis-server (pid %ld) did not stop", (long)redis);
	}
	printf("up: stopped\n");
	fflush(stdout);
out_unlock:
	json_decref(deps);
	json_decref(deployed);
	close(lock);
	return rc;
}

/* --detach: the child runs the stack; the parent shows its start-up. */
static int detach(cs_cli *cli, const up_opts *o)
{
	int pfd[2], status = 0, ready = 0;
	char buf[4096];
	size_t mlen = strlen(READY_MARK);
	ssize_t n;
	pid_t pid;

	if (pipe(pfd) != 0) {
		cli_err(cli, "pipe: %s", strerror(errno));
		return CLI_FAIL;
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		cli_err(cli, "fork: %s", strerror(errno));
		return CLI_FAIL;
	}
	if (pid == 0) {
		int in = open("/dev/null", O_RDONLY);

		close(pfd[0]);
		setsid();
		if (in >= 0) {
			dup2(in, 0);
			close(in);
		}
		dup2(pfd[1], 1);
		dup2(pfd[1], 2);
		close(pfd[1]);
		_exit(o->given.npairs ? run_given(cli, o, 1) : run_stack(cli, o, 1));
	}
	close(pfd[1]);
	while ((n = read(pfd[0], buf, sizeof buf - 1)) != 0) {
		char *mark;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		buf[n] = '\0';
		mark = strstr(buf, READY_MARK);
		if (mark) {
			ready = 1;
			fwrite(buf, 1, (size_t)(mark - buf), stdout);
			fwrite(mark + mlen, 1, (size_t)(n - (mark - buf) - (ssize_t)mlen), stdout);
		} else {
			fwrite(buf, 1, (size_t)n, stdout);
		}
		fflush(stdout);
	}
	close(pfd[0]);
	if (ready)
		return CLI_OK;
	waitpid(pid, &status, 0);
	return WIFEXITED(status) && WEXITSTATUS(status) ? WEXITSTATUS(status) : CLI_FAIL;
}

int cli_cmd_up(cs_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"port", required_argument, NULL, 'P'},
		{"detach", no_argument, NULL, 'd'},
		{"examples", required_argument, NULL, 'e'},
		{"no-examples", no_argument, NULL, 'n'},
		{"timeout", required_argument, NULL, 't'},
		{"auth", required_argument, NULL, 'A'},
		{"nginx-workers", required_argument, NULL, 'W'},
		{"no-access-log", no_argument, NULL, 'L'},
		{"route", required_argument, NULL, 'R'},
		{"keepalive", required_argument, NULL, 'K'},
		{"max-body", required_argument, NULL, 'M'},
		{"fastcgi-timeout", required_argument, NULL, 'T'},
		{"check", no_argument, NULL, 'C'},
		{NULL, 0, NULL, 0},
	};
	const char *e = getenv("CS_PORT"), *route_only = NULL;
	char url[PATH_MAX + 32];
	int c, det = 0, none = 0, rc = CLI_USAGE;
	up_opts o;

	memset(&o, 0, sizeof o);
	o.port = e && *e ? atoi(e) : 8080;
	o.timeout_s = 60;
	o.workers = 1;
	o.access_log = 1;
	cli_given_init(&o.given);
	o.given.params = cli_fastcgi_params();
	o.given.timeout_opt = "--fastcgi-timeout";
	o.given.pairs = calloc((size_t)argc + 1, sizeof *o.given.pairs);
	if (!o.given.pairs)
		return CLI_FAIL;
	while ((c = cli_getopt(cli, argc, argv, "d", opts)) != -1) {
		switch (c) {
		case 'P': o.port = atoi(optarg); break;
		case 'd': det = 1; break;
		case 'e': o.examples_dir = optarg; break;
		case 'n': none = 1; break;
		case 't': o.timeout_s = atoi(optarg); break;
		case 'A':
			if (strcmp(optarg, "on") != 0 && strcmp(optarg, "off") != 0) {
				cli_err(cli, "--auth must be on or off, got '%s'", optarg);
				goto out;
			}
			up_auth_mode = strcmp(optarg, "on") == 0;
			break;
		case 'W': o.workers = atoi(optarg); break;
		case 'L': o.access_log = 0; break;
		case 'R': o.given.pairs[o.given.npairs++] = optarg; break;
		case 'K': o.given.keepalive = optarg; route_only = "--keepalive"; break;
		case 'M': o.given.max_body = optarg; route_only = "--max-body"; break;
		case 'T': o.given.timeout = optarg; route_only = "--fastcgi-timeout"; break;
		case 'C': o.check = 1; route_only = "--check"; break;
		case CLI_OPT_HELP: rc = CLI_OK; goto out;
		default: goto out;
		}
	}
	if (argc - optind != 0) {
		cli_err(cli, "takes no arguments (see --help)");
		goto out;
	}
	if (o.port < 1 || o.port > 65535 || o.timeout_s < 1) {
		cli_err(cli, "--port must be 1..65535 and --timeout a positive number of seconds");
		goto out;
	}
	if (o.workers < 1 || o.workers > 64) {
		cli_err(cli, "--nginx-workers must be 1..64");
		goto out;
	}
	if (route_only && !o.given.npairs) {
		cli_err(cli, "%s goes with --route NAME=ADDR (see --help)", route_only);
		goto out;
	}
	if (o.given.npairs && (o.examples_dir || up_auth_mode >= 0)) {
		cli_err(cli, "--route runs nginx alone: no examples, no registry, no auth (see --help)");
		goto out;
	}
	if (cli->registry_url) {
		cli_err(cli, "up runs its own Redis in the run directory; --registry is for the other commands");
		goto out;
	}
	snprintf(url, sizeof url, "unix:%s/redis.sock", cli->run_dir);
	cli->registry_url = strdup(url);
	cli->registry_how = "up";
	if (!cli->nginx) {
		static const char *const cand[] = {"/usr/sbin/nginx", NULL};

		cli->nginx = cli_find_tool("CS_NGINX", "nginx", cand);
	}
	if (!cli->nginx) {
		cli_err(cli, "nginx is not installed (apt-get install nginx-light, or set CS_NGINX)");
		rc = CLI_FAIL;
		goto out;
	}
	if (!none && !o.examples_dir)
		o.examples_dir = cli->examples_dir;
	if (none || o.given.npairs)
		o.examples_dir = NULL;
	if (o.given.npairs && o.check)
		rc = run_given(cli, &o, 0);
	else if (det)
		rc = detach(cli, &o);
	else
		rc = o.given.npairs ? run_given(cli, &o, 0) : run_stack(cli, &o, 0);
out:
	free(o.given.pairs);
	return rc;
}

int cli_cmd_down(cs_cli *cli, int argc, char **argv)
{
	int c, fd;
	long holder;
	long long deadline;

	while ((c = cli_getopt(cli, argc, argv, "", NULL)) != -1)
		return c == CLI_OPT_HELP ? CLI_OK : CLI_USAGE;
	if (argc - optind != 0) {
		cli_err(cli, "takes no arguments (see --help)");
		return CLI_USAGE;
	}
	fd = take_lock(cli, &holder);
	if (fd >= 0) {
		close(fd);
		printf("no stack is up in %s: nothing to stop\n", cli->run_dir);
		return CLI_OK;
	}
	if (holder <= 0 || !cli_pid_matches((pid_t)holder, "cubeserve")) {
		cli_err(cli, "the stack's lock in %s/up.pid is held, but not by a cubeserve process (%ld)",
			cli->run_dir, holder);
		return CLI_FAIL;
	}
	printf("stopping the stack in %s (pid %ld)\n", cli->run_dir, holder);
	kill((pid_t)holder, SIGTERM);
	deadline = cli_now_ms() + 60000;
	while (cli_now_ms() < deadline) {
		fd = take_lock(cli, &holder);
		if (fd >= 0) {
			close(fd);
			printf("stopped\n");
			return CLI_OK;
		}
		cli_sleep_ms(100);
	}
	cli_err(cli, "the stack (pid %ld) did not stop within 60 s", holder);
	return CLI_FAIL;
}
