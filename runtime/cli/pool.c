/*
 * pool.c - the instances of a deployment (see pool.h): start one prefork
 * master under spawn-fcgi, check it, find its processes, scale and stop it.
 */
#include <dirent.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "pool.h"
#include "registry/url.h"

#define READY_POLL_MS 50

long long pool_wall_ms(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static uint32_t fnv32(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

static void log_path(const cs_cli *cli, const char *name, char *out, size_t len)
{
	snprintf(out, len, "%s/logs/%s.log", cli->run_dir, name);
}

static void exit_path(const cs_cli *cli, const char *name, long long id,
		      char *out, size_t len)
{
	snprintf(out, len, "%s/sockets/%s.%lld.exit", cli->run_dir, name, id);
}

/* What the command line of every process of the pool contains. */
static void needle(const char *name, const json_t *pool, char *out, size_t len)
{
	const char *sb = json_string_value(json_object_get(pool, "scoreboard"));

	if (sb && *sb)
		snprintf(out, len, "--scoreboard %s ", sb);
	else /* a record written before pools had their own board */
		snprintf(out, len, "cubeserve-worker --model %s@", name);
}

/*
 * A free TCP port on address (the kernel's choice of an ephemeral port,
 * released again for spawn-fcgi to bind a moment later), or -1 with err.
 */
static int free_port(const char *address, char *err, size_t errlen)
{
	struct addrinfo hints, *res = NULL;
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	int fd, port = -1, rc;

	memset(&hints, 0, sizeof hints);
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	rc = getaddrinfo(address, "0", &hints, &res);
	if (rc != 0 || !res) {
		snprintf(err, errlen, "host address '%s': %s", address, gai_strerror(rc));
		return -1;
	}
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && bind(fd, res->ai_addr, res->ai_addrlen) == 0 &&
	    getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
		port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port :
			     ((struct sockaddr_in *)&ss)->sin_port);
	else
		snprintf(err, errlen, "cannot bind a port on the host address '%s': %s", address,
			 strerror(errno));
	if (fd >= 0)
		close(fd);
	freeaddrinfo(res);
	return port;
}

static void print_log_tail(const cs_cli *cli, const char *name, int lines)
{
	char p[PATH_MAX + 32], out[8192], n[16];
	char *argv[] = {"/usr/bin/tail", "-n", n, p, NULL};

	log_path(cli, name, p, sizeof p);
	snprintf(n, sizeof n, "%d", lines);
	if (!cli->json && cli_run(argv, out, sizeof out, 5000) == 0)
		fprintf(stderr, "--- the last lines of %s:\n%s", p, out);
}

int pool_start(cs_cli *cli, const char *name, const char *version, long long id,
	       int processes, json_t **out, char *err, size_t errlen)
{
	static const char *const sf_cand[] = {"/usr/bin/spawn-fcgi", NULL};
	char sock[PATH_MAX], sb[PATH_MAX], logf[PATH_MAX + 32], exitf[PATH_MAX + 32];
	char model[200], nproc[16], host[256], pool_id[32], portbuf[16];
	int port = 0;
	pid_t pid;
	json_t *p;

	*out = NULL;
	if (!cli->spawn_fcgi)
		cli->spawn_fcgi = cli_find_tool("CS_SPAWN_FCGI", "spawn-fcgi", sf_cand);
	if (!cli->spawn_fcgi) {
		snprintf(err, errlen, "spawn-fcgi is not installed (apt-get install spawn-fcgi, or set CS_SPAWN_FCGI)");
		return CS_ENOTFOUND;
	}
	if (access(cli->worker, X_OK) != 0) {
		snprintf(err, errlen, "no worker at %s (build it, or set CUBESERVE_WORKER)", cli->worker);
		return CS_ENOTFOUND;
	}
	if (cli->host) {
		/* a host agent's instance listens on TCP at the host's address */
		port = free_port(cli->host_address, err, errlen);
		if (port < 0)
			return CS_EIO;
		snprintf(portbuf, sizeof portbuf, "%d", port);
		snprintf(sock, sizeof sock, strchr(cli->host_address, ':') ? "[%s]:%d" : "%s:%d",
			 cli->host_address, port);
	} else {
		snprintf(sock, sizeof sock, "%s/sockets/%s.%lld.sock", cli->run_dir, name, id);
	}
	if (!cli->host && strlen(sock) > 107) {
		snprintf(err, errlen, "socket path too long for a unix socket (%zu > 107 bytes): %s; use a shorter --run-dir",
			 strlen(sock), sock);
		return CS_EINVAL;
	}
	snprintf(sb, sizeof sb, "/dev/shm/cubeserve-%s-%08x-%lld.scoreboard", name,
		 fnv32(cli->run_dir), id);
	snprintf(model, sizeof model, "%s@%s", name, version);
	snprintf(nproc, sizeof nproc, "%d", processes > 0 ? processes : 1);
	snprintf(pool_id, sizeof pool_id, "%lld", id);
	log_path(cli, name, logf, sizeof logf);
	exit_path(cli, name, id, exitf, sizeof exitf);
	if (!cli->host)
		unlink(sock);
	unlink(exitf);
	{
		char *argv[] = {cli->spawn_fcgi, "-n", "-s", sock, "-M", "0600", "--",
				cli->worker, "--model", model, "--registry",
				cli->registry_url, "--plugin-dir", cli->plugin_dir,
				"--lua-dir", cli->lua_dir, "--processes", nproc,
				"--max-processes", "64", "--scoreboard", sb,
				"--pool", pool_id, "--log-level", "info", NULL};

		/*
		 * an address with a password goes to the worker in its
		 * environment, not on its command line (ps shows that)
		 */
		if (cs_registry_url_has_secret(cli->registry_url)) {
			size_t n = sizeof argv / sizeof argv[0];

			setenv("CUBESERVE_REGISTRY", cli->registry_url, 1);
			memmove(&argv[10], &argv[12], (n - 12) * sizeof argv[0]);
		}
		if (cli->host) {
			/* -a ADDRESS -p PORT in place of -s SOCKET -M MODE */
			argv[2] = "-a";
			argv[3] = (char *)cli->host_address;
			argv[4] = "-p";
			argv[5] = portbuf;
		}
		pid = cli_spawn_watched(argv, logf, exitf, err, errlen);
	}
	if (pid < 0)
		return CS_EIO;
	if (cli->host)
		snprintf(host, sizeof host, "%s", cli->host);
	else if (gethostname(host, sizeof host - 1) != 0)
		snprintf(host, sizeof host, "localhost");
	host[sizeof host - 1] = '\0';
	p = json_object();
	json_object_set_new(p, "id", json_integer(id));
	json_object_set_new(p, "version", json_string(version));
	json_object_set_new(p, "role", json_string("staging"));
	json_object_set_new(p, "socket", json_string(sock));
	json_object_set_new(p, "pid", json_integer(pid));
	json_object_set_new(p, "scoreboard", json_string(sb));
	json_object_set_new(p, "host", json_string(host));
	if (cli->host) {
		json_object_set_new(p, "address", json_string(cli->host_address));
		json_object_set_new(p, "port", json_integer(port));
	}
	json_object_set_new(p, "started", json_integer(pool_wall_ms()));
	*out = p;
	return CS_OK;
}

int pool_wait_ready(cs_cli *cli, const char *name, json_t *pool,
		    const char *example_json, int timeout_s, char *err,
		    size_t errlen)
{
	const char *sock = json_string_value(json_object_get(pool, "socket"));
	const char *ver = json_string_value(json_object_get(pool, "version"));
	long long deadline = cli_now_ms() + (long long)timeout_s * 1000;
	char path[128], body[1024];
	int st;

	snprintf(path, sizeof path, "/models/%s", name);
	for (;;) {
		if (cli_fcgi_get(sock, path, 1000, NULL, 0) == 200)
			break;
		/*
		 * The pid alone, not pool_alive()'s command-line match: just after
		 * the spawn it may still be the watcher's fork, not yet the exec'd
		 * spawn-fcgi and worker, whose command line the match looks for.
		 */
		if (!cli_pid_alive((pid_t)json_integer_value(json_object_get(pool, "pid")))) {
			char why[128];

			pool_exit_reason(cli, name, pool, why, sizeof why);
			snprintf(err, errlen, "%s@%s: the worker (pid %lld) %s before it was ready (log: %s/logs/%s.log)",
				 name, ver, (long long)json_integer_value(json_object_get(pool, "pid")),
				 why[0] ? why : "exited", cli->run_dir, name);
			print_log_tail(cli, name, 15);
			return CS_EBACKEND;
		}
		if (cli_now_ms() >= deadline) {
			snprintf(err, errlen, "%s@%s did not answer GET %s on %s within %d s",
				 name, ver, path, sock, timeout_s);
			print_log_tail(cli, name, 15);
			return CS_ETIMEOUT;
		}
		cli_sleep_ms(READY_POLL_MS);
	}
	if (!example_json || !*example_json)
		return CS_OK;
	st = cli_fcgi_request(sock, "POST", path, "application/json", example_json,
			      strlen(example_json), timeout_s * 1000, body, sizeof body);
	if (st != 200) {
		snprintf(err, errlen, "%s@%s answers the manifest's example with HTTP %d: %.300s",
			 name, ver, st, body);
		return CS_EBACKEND;
	}
	return CS_OK;
}

int pool_alive(const char *name, const json_t *pool)
{
	pid_t pid = (pid_t)json_integer_value(json_object_get(pool, "pid"));
	char nd[PATH_MAX + 32];

	if (pid <= 0 || !cli_pid_alive(pid))
		return 0;
	needle(name, pool, nd, sizeof nd);
	return cli_pid_matches(pid, nd);
}

int pool_serving(const json_t *pool)
{
	return cli_sock_connectable(json_string_value(json_object_get(pool, "socket")));
}

/* The pids (other than skip) whose command line has needle nd. */
static int find_procs(const char *nd, pid_t skip, pid_t *out, int max)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	int n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d)) && n < max) {
		char *end;
		long pid = strtol(e->d_name, &end, 10);

		if (*end || pid <= 0 || pid == skip || pid == getpid())
			continue;
		if (cli_pid_matches((pid_t)pid, nd))
			out[n++] = (pid_t)pid;
	}
	closedir(d);
	return n;
}

/*
 * cli_stop_pid() for a process of the pool; a process that outlived the
 * grace period after SIGTERM (and was killed) is named on stderr: a pool
 * that does not drain is a bug to see, not a pause to sit through.
 */
static int stop_one(const char *name, const json_t *pool, pid_t pid,
		    const char *what, const char *nd, int grace_ms)
{
	long long t0 = cli_now_ms();
	int rc = cli_stop_pid(pid, nd, grace_ms);

	if (cli_now_ms() - t0 >= grace_ms)
		fprintf(stderr, "cubeserve: %s pool %lld: %s pid %ld did not stop within %d ms of SIGTERM: killed\n",
			name, (long long)json_integer_value(json_object_get(pool, "id")),
			what, (long)pid, grace_ms);
	return rc;
}

int pool_stop(cs_cli *cli, const char *name, const json_t *pool, int grace_ms)
{
	pid_t pid = (pid_t)json_integer_value(json_object_get(pool, "pid"));
	const char *sock = json_string_value(json_object_get(pool, "socket"));
	char nd[PATH_MAX + 32];
	pid_t left[256];
	int n, rc = 0;

	(void)cli;
	needle(name, pool, nd, sizeof nd);
	if (pid > 0 && stop_one(name, pool, pid, "master", nd, grace_ms) != 0)
		rc = -1;
	/* children a killed master left behind: they finish, then exit */
	n = find_procs(nd, 0, left, 256);
	for (int i = 0; i < n; i++)
		kill(left[i], SIGTERM);
	for (int i = 0; i < n; i++)
		if (stop_one(name, pool, left[i], "child", nd, grace_ms) != 0)
			rc = -1;
	if (sock && sock[0] == '/' && pool_alive(name, pool) == 0)
		unlink(sock);
	return rc;
}

int pool_children(const json_t *pool)
{
	pid_t pid = (pid_t)json_integer_value(json_object_get(pool, "pid"));
	char p[64], buf[4096], *tok, *save = NULL;
	FILE *f;
	int n = 0;

	if (pid <= 0)
		return -1;
	snprintf(p, sizeof p, "/proc/%ld/task/%ld/children", (long)pid, (long)pid);
	f = fopen(p, "r");
	if (!f)
		return -1;
	if (!fgets(buf, sizeof buf, f))
		buf[0] = '\0';
	fclose(f);
	for (tok = strtok_r(buf, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save))
		n++;
	return n;
}

int pool_scale(const json_t *pool, int n, int blocking)
{
	pid_t pid = (pid_t)json_integer_value(json_object_get(pool, "pid"));
	int cur = pool_children(pool), guard = 0;

	if (cur < 0)
		return -1;
	while (cur != n && guard++ < 128) {
		long long deadline = cli_now_ms() + 10000;
		int want = cur < n ? cur + 1 : cur - 1;

		kill(pid, cur < n ? SIGTTIN : SIGTTOU);
		if (!blocking)
			return -1;
		while ((cur = pool_children(pool)) != want && cur >= 0 &&
		       cli_now_ms() < deadline)
			cli_sleep_ms(20);
		if (cur != want)
			return -1;
	}
	return cur == n ? 0 : -1;
}

void pool_exit_reason(cs_cli *cli, const char *name, const json_t *pool,
		      char *buf, size_t len)
{
	char p[PATH_MAX + 32], how[16] = "";
	int code = 0;
	FILE *f;

	buf[0] = '\0';
	exit_path(cli, name, json_integer_value(json_object_get(pool, "id")), p, sizeof p);
	f = fopen(p, "r");
	if (!f)
		return;
	if (fscanf(f, "%15s %d", how, &code) == 2) {
		if (strcmp(how, "signal") == 0)
			snprintf(buf, len, "was killed by signal %d (%s)", code, strsignal(code));
		else
			snprintf(buf, len, "exited with status %d", code);
	}
	fclose(f);
}
