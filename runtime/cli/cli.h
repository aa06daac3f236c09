/*
 * cli.h - the `cubeserve` command: what its subcommands share.
 *
 * docs/cli.md is the manual. Every subcommand is one function
 * int cli_cmd_NAME(cs_cli *, int argc, char **argv) returning an exit code.
 */
#ifndef CS_CLI_H
#define CS_CLI_H

#include <getopt.h>
#include <stdio.h>
#include <sys/types.h>

#include <jansson.h>

#include "registry/registry.h"

/* The source tree and the installed data directory (set by the build). */
#ifndef CS_BUILD_SRCDIR
#define CS_BUILD_SRCDIR ""
#endif
#ifndef CS_DATA_DIR
#define CS_DATA_DIR "/usr/local/share/cubeserve"
#endif

/* Exit codes (docs/cli.md); never renumbered. */
enum {
	CLI_OK = 0,          /* done */
	CLI_FAIL = 1,        /* the operation failed; the message says which step */
	CLI_USAGE = 2,       /* bad usage */
	CLI_UNREACHABLE = 3, /* Redis cannot be reached */
	CLI_NOTFOUND = 4,    /* no such model, version or deployment */
	CLI_REFUSED = 5,     /* refused: already published, deployed, up, ... */
	CLI_SCHEMA = 6,      /* the registry has an unknown schema version */
	CLI_DENIED = 7       /* not logged in, or the role does not allow it */
};

typedef struct cs_cli {
	const char *cmd;          /* the subcommand, for messages */
	int json;                 /* --json */
	char *run_dir;            /* absolute; created on demand */
	char *registry_url;       /* resolved */
	const char *registry_how; /* where registry_url came from */
	const char *prefix;       /* key prefix */
	char *store;              /* resolved by cli_store() */
	char *worker, *plugin_dir, *lua_dir, *nginx_dir, *examples_dir;
	char *spawn_fcgi, *nginx, *redis_server;
	cs_registry *reg;         /* open after cli_registry() */
	int schema_ok;            /* the schema was checked (and set) */
	int argc;                 /* the subcommand's arguments, for the auth */
	char **argv;              /*   gate and the audit log (auth.c) */
	int gate_done;            /* the gate ran for this command */
} cs_cli;

/* ------------------------------------------------------------ main.c */

/* Prints "cubeserve CMD: message" to stderr. */
void cli_err(const cs_cli *cli, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Prints a step line ("  ... message") unless --json. */
void cli_step(const cs_cli *cli, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The exit code for a status (cs_status or CS_REG_*). */
int cli_exit_for(int status);

/*
 * Option parsing shared by the subcommands: the command's options plus
 * --registry, --run-dir, --prefix, --json and --help. Returns the next
 * option of the command, -1 at the end, or CLI_OPT_HELP (help printed) /
 * CLI_OPT_BAD (message printed).
 */
#define CLI_OPT_HELP 0x1001
#define CLI_OPT_BAD 0x1002
int cli_getopt(cs_cli *cli, int argc, char **argv, const char *shortopts,
	       const struct option *opts);

/* Prints the subcommand's --help text to f. */
void cli_usage(const cs_cli *cli, FILE *f);

/*
 * Connects to the registry and checks its schema (create: set it when
 * absent, for writers). Returns CLI_OK, or prints why and how it tried
 * and returns CLI_UNREACHABLE / CLI_SCHEMA / CLI_NOTFOUND (empty registry
 * and !create; callers that read may treat that as "nothing yet").
 */
int cli_registry(cs_cli *cli, int create);

/* Fills in the registry address when none was given (run dir's socket). */
void cli_registry_default(cs_cli *cli);

/*
 * The registry address to print or record: its password masked
 * (registry/url.h). The string lives until the next call.
 */
const char *cli_registry_shown(cs_cli *cli);

/* The store directory (registry config, else RUN/store); NULL on failure. */
const char *cli_store(cs_cli *cli);

/* Creates the run directory (0700) and its folders. CLI_OK or CLI_FAIL. */
int cli_run_dir_init(cs_cli *cli);

/* The user name for ratings and favourites (--user, $USER, the uid). */
const char *cli_user(const char *given);

/* Prints a JSON value to stdout, indented, with a newline. */
void cli_print_json(json_t *v);

/* Reports a registry failure (r->errstr) and returns its exit code. */
int cli_reg_fail(cs_cli *cli);

/* A string field of a JSON object, or def. */
const char *jstr(const json_t *o, const char *key, const char *def);

/* An integer field of a JSON object of strings, or def. */
long long jnum(const json_t *o, const char *key, long long def);

/* ------------------------------------------------------------ proc.c */

/*
 * Starts argv[0] (a path) in a new session with stdin from /dev/null and
 * stdout/stderr appended to log (NULL: /dev/null). Returns the pid, or -1 with err.
 */
pid_t cli_spawn(char *const argv[], const char *log, char *err, size_t errlen);

/*
 * Runs argv to completion (at most timeout_ms, then SIGKILL), capturing
 * stdout and stderr into out (NUL-terminated, truncated). Returns the exit
 * status, 128+signal, or -1 when it could not start or timed out.
 */
int cli_run(char *const argv[], char *out, size_t outlen, int timeout_ms);

/*
 * Whether pid is a live process. Our own child is alive until it has been
 * reaped (this call reaps it when it can); another's counts as gone once it
 * is a zombie with no thread left.
 */
int cli_pid_alive(pid_t pid);

/* Whether pid's command line contains needle (guards against pid reuse). */
int cli_pid_matches(pid_t pid, const char *needle);

/*
 * Stops pid: SIGTERM, up to grace_ms, then SIGKILL. Only when it still
 * matches needle (NULL: no check). Returns 0 when it is gone.
 */
int cli_stop_pid(pid_t pid, const char *needle, int grace_ms);

/* Sleeps ms milliseconds. */
void cli_sleep_ms(int ms);

/* Monotonic milliseconds. */
long long cli_now_ms(void);

/* Finds an executable: $ENV, then each candidate, then PATH (+ /usr/sbin). */
char *cli_find_tool(const char *env, const char *name,
		    const char *const *candidates);

/* ------------------------------------------------------------ probe.c */

/*
 * A FastCGI GET of path over the unix socket sock (as nginx would send
 * it). Returns the HTTP status (200 when the response has no Status
 * header), or -1 when the socket does not answer within timeout_ms.
 * body (may be NULL) gets the start of the response body.
 */
int cli_fcgi_get(const char *sock, const char *path, int timeout_ms,
		 char *body, size_t bodylen);

/* An HTTP/1.0 GET of path at 127.0.0.1:port: the status, or -1. */
int cli_http_get(int port, const char *path, int timeout_ms, char *body,
		 size_t bodylen);

/* Whether something accepts TCP connections on 127.0.0.1:port. */
int cli_port_busy(int port);

/* ------------------------------------------------------------ nginx.c */

/* RUN/nginx, the private nginx prefix. */
void cli_nginx_prefix(const cs_cli *cli, char *out, size_t len);

/*
 * Writes the private nginx.conf (server.conf.in) for 127.0.0.1:port with
 * workers nginx worker processes and an access log (access_log 0: off),
 * and empty route files when missing. CLI_OK or CLI_FAIL (printed).
 */
int cli_nginx_conf(cs_cli *cli, int port, int workers, int access_log);

/*
 * `nginx -t` of the private nginx.conf. Returns 0 when nginx accepts it,
 * 1 when it refuses it (its output in out), -1 when nginx is not
 * installed (printed).
 */
int cli_nginx_test(cs_cli *cli, char *out, size_t outlen);

/* The fastcgi_params file the private nginx includes ($CS_FASTCGI_PARAMS). */
const char *cli_fastcgi_params(void);

/* Writes s to f with every @KEY@ of keys[] replaced by vals[] (one pass). */
void cli_render(FILE *f, const char *s, const char *const *keys,
		const char *const *vals, size_t n);

/*
 * Reads the route template tpl and splits it into its upstream, location
 * (the #@common lines in place of each "    @COMMON@" line) and web parts
 * (after "#@web"; "" when absent). The three strings are the caller's to
 * free(). CLI_OK, or CLI_FAIL (printed; the three are NULL).
 */
int cli_route_template(cs_cli *cli, const char *tpl, char **upart, char **lpart,
		       char **wpart);

/*
 * Renders the routes of every deployment in the registry (nginx
 * route.conf.in; a 503 JSON answer for a paused one) into up (the
 * upstream blocks) and loc (the locations).
 */
int cli_routes_render(cs_cli *cli, json_t *deployments, FILE *up, FILE *loc);

/*
 * cli_routes_render() into two strings: *ubuf (*ulen bytes) the upstreams,
 * *lbuf the locations, both the caller's to free(). CLI_OK or CLI_FAIL
 * (printed; both NULL).
 */
int cli_routes_render_mem(cs_cli *cli, json_t *deployments, char **ubuf, size_t *ulen,
			  char **lbuf, size_t *llen);

/*
 * Rewrites RUN/nginx/{upstreams,locations}.conf from the registry, runs
 * `nginx -t` and, when the private nginx runs, reloads it. On a failed
 * test the previous files are put back. Serialized by a lock file.
 * *reloaded says whether nginx was reloaded. CLI_OK or CLI_FAIL (printed).
 */
int cli_routes_apply(cs_cli *cli, int *reloaded);

/*
 * Like cli_routes_apply(), but only when the routes rendered from the
 * registry differ from the files (a reconcile pass runs it every time).
 */
int cli_routes_sync(cs_cli *cli, int *reloaded);

/* The pid of the private nginx master when it runs, else 0. */
pid_t cli_nginx_pid(const cs_cli *cli);

/* The port the private nginx listens on (registry config), or 0. */
int cli_nginx_port(cs_cli *cli);

/* ------------------------------------------------------------ routes.c */

/*
 * Routes to worker addresses given as NAME=ADDR, without a registry: what
 * `cubeserve routes NAME=ADDR...` prints and `cubeserve up --route` serves.
 * Every string is borrowed.
 */
typedef struct cli_given {
	const char *keepalive; /* idle kept-alive connections, "16"; "0": off */
	const char *max_body;  /* client_max_body_size, "1m" */
	const char *timeout;   /* fastcgi send/read timeout, "60s" */
	const char *timeout_opt; /* its option's name in messages, "--timeout" */
	const char *params;    /* the fastcgi_params file the locations include */
	const char *tpl;       /* the route template; NULL: the search order */
	char **pairs;          /* NAME=ADDR; a NAME given twice balances */
	size_t npairs;
} cli_given;

/* Fills in the defaults (those of `cubeserve routes --help`), no pairs. */
void cli_given_init(cli_given *g);

/*
 * Checks every option and NAME=ADDR of g, then renders: a header comment
 * and the upstream blocks into up, the location blocks into loc (either
 * NULL: that part is not rendered; the same stream: one header). Returns
 * CLI_OK, or CLI_USAGE with the refusal printed and nothing rendered.
 */
int cli_given_render(cs_cli *cli, const cli_given *g, FILE *up, FILE *loc);

/* ------------------------------------------------------------ deploy.c */

/*
 * Deploys name@version (version NULL: default) with n processes, waiting
 * at most timeout_s for readiness. Used by `deploy` and `up`.
 */
int cli_deploy(cs_cli *cli, const char *name, const char *version, int n,
	       int timeout_s);

/* Undeploys a model: route first, then its processes, then the record. */
int cli_undeploy(cs_cli *cli, const char *name);

/* Stops every process of every deployment (state "stopped"); for `up`. */
void cli_stop_all(cs_cli *cli);

/* ------------------------------------------------------------ publish.c */

/*
 * Publishes the model in dir (or a manifest path). *skipped is set when
 * allow_existing and that version is already published. Used by
 * `publish` and `up`.
 */
int cli_publish(cs_cli *cli, const char *dir, int allow_existing,
		int *skipped, char *name_out, size_t namelen);

/* ------------------------------------------------------------ pools */

/*
 * A FastCGI request (method, path, optional body of inlen <= 60000 bytes
 * with content_type) over the unix socket sock; like cli_fcgi_get().
 */
int cli_fcgi_request(const char *sock, const char *method, const char *path,
		     const char *content_type, const char *in, size_t inlen,
		     int timeout_ms, char *body, size_t bodylen);

/* Whether something accepts connections on the unix socket sock. */
int cli_sock_connectable(const char *sock);

/*
 * Like cli_spawn(), but through a small watcher process (a fork of this
 * one that keeps no descriptor of it) that waits for the started process
 * and, when it ends, writes how ("exit N" / "signal N") and when into
 * exit_file. Returns the started process's pid (not the watcher's).
 */
pid_t cli_spawn_watched(char *const argv[], const char *log,
			const char *exit_file, char *err, size_t errlen);

/* ------------------------------------------------------------ supervise.c */

int cli_cmd_supervise(cs_cli *cli, int argc, char **argv);
int cli_cmd_promote(cs_cli *cli, int argc, char **argv);
int cli_cmd_rollback(cs_cli *cli, int argc, char **argv);

/*
 * One supervisor pass over every deployment (cs_reconcile, non-blocking),
 * logging what it did to stdout. For `supervise` and `up`.
 */
void cli_supervise_pass(cs_cli *cli);

/* ------------------------------------------------------------ typed.c */

/*
 * Turns the string fields of a registry hash (and of the objects nested
 * in it) into typed JSON in place: counters and times become numbers
 * ("" becomes null), JSON-valued fields (tags, files, pools, ...) the JSON
 * they hold. For --json output.
 */
void cli_json_typed(json_t *o);

/* ------------------------------------------------------------ auth.c */

/* Whether the stack runs with auth on (registry config; off when unknown). */
int cli_auth_enabled(cs_cli *cli);

/*
 * Who runs this command: $CUBESERVE_KEY, else the login token of this
 * registry. CLI_OK, or CLI_DENIED (printed unless quiet).
 */
struct cs_principal;
int cli_principal(cs_cli *cli, struct cs_principal *who, int quiet);

/*
 * With auth on: the principal may do action on model (cs_auth_allow).
 * CLI_OK (always with auth off), or CLI_DENIED with the reason printed.
 */
int cli_authorize(cs_cli *cli, const char *action, const char *model);

/* The user name for the audit log: the principal, else "local:$USER". */
const char *cli_actor(cs_cli *cli, char *buf, size_t len);

/*
 * The user a rating or favourite counts for: with auth on the logged-in
 * user (a different --user is refused: NULL, printed); off: cli_user().
 */
const char *cli_vote_user(cs_cli *cli, const char *given);

/*
 * Called by cli_registry() once connected: checks the running command's
 * action on the model its first argument names. CLI_OK or CLI_DENIED.
 */
int cli_auth_gate(cs_cli *cli, int argc, char **argv);

/* Writes the audit entry of a management command that ran (main.c). */
void cli_auth_record(cs_cli *cli, int argc, char **argv, int rc);

/*
 * publish: claim 0: may the principal publish model (CLI_OK/CLI_DENIED);
 * claim 1 (after the publish): records the principal as a new model's owner.
 */
int cli_auth_publish(cs_cli *cli, const char *model, int claim);

/*
 * up: records the mode (mode -1: keep it), and with auth on and no users
 * creates the first admin (password printed once to out) and logs it in.
 */
int cli_auth_up(cs_cli *cli, int mode, FILE *out);

/* up: an example model is public unless its access was set before. */
void cli_auth_example(cs_cli *cli, const char *model);

/* status: today's calls per key of model (into row, else printed). */
void cli_auth_status(cs_cli *cli, const char *model, json_t *row);
/* ------------------------------------------------------------ console.c */

/* RUN/api.sock, the socket of cubeserve-api. */
void cli_api_sock(const cs_cli *cli, char *out, size_t len);

/*
 * Writes PREFIX/console.conf (nginx/console.conf.in: /console/ and /api/)
 * when cubeserve-api is built, else removes it. CLI_OK or CLI_FAIL.
 */
int cli_console_conf(cs_cli *cli, const char *prefix, const char *params);

/*
 * Starts cubeserve-api under spawn-fcgi on RUN/api.sock (log
 * RUN/logs/api.log) and waits (bounded) until it answers. Returns its pid,
 * 0 when cubeserve-api is not built, -1 when it could not start.
 */
pid_t cli_api_start(cs_cli *cli);

/* ------------------------------------------------------------ commands */

int cli_cmd_publish(cs_cli *cli, int argc, char **argv);
int cli_cmd_list(cs_cli *cli, int argc, char **argv);
int cli_cmd_search(cs_cli *cli, int argc, char **argv);
int cli_cmd_show(cs_cli *cli, int argc, char **argv);
int cli_cmd_versions(cs_cli *cli, int argc, char **argv);
int cli_cmd_set_default(cs_cli *cli, int argc, char **argv);
int cli_cmd_remove(cs_cli *cli, int argc, char **argv);
int cli_cmd_rate(cs_cli *cli, int argc, char **argv);
int cli_cmd_favorite(cs_cli *cli, int argc, char **argv);
int cli_cmd_deploy(cs_cli *cli, int argc, char **argv);
int cli_cmd_undeploy(cs_cli *cli, int argc, char **argv);
int cli_cmd_pause(cs_cli *cli, int argc, char **argv);
int cli_cmd_resume(cs_cli *cli, int argc, char **argv);
int cli_cmd_restart(cs_cli *cli, int argc, char **argv);
int cli_cmd_scale(cs_cli *cli, int argc, char **argv);
int cli_cmd_logs(cs_cli *cli, int argc, char **argv);
int cli_cmd_status(cs_cli *cli, int argc, char **argv);
int cli_cmd_routes(cs_cli *cli, int argc, char **argv);
int cli_cmd_up(cs_cli *cli, int argc, char **argv);
int cli_cmd_down(cs_cli *cli, int argc, char **argv);
int cli_cmd_autoscale(cs_cli *cli, int argc, char **argv);
int cli_cmd_user(cs_cli *cli, int argc, char **argv);
int cli_cmd_key(cs_cli *cli, int argc, char **argv);
int cli_cmd_access(cs_cli *cli, int argc, char **argv);
int cli_cmd_login(cs_cli *cli, int argc, char **argv);
int cli_cmd_logout(cs_cli *cli, int argc, char **argv);
int cli_cmd_whoami(cs_cli *cli, int argc, char **argv);
int cli_cmd_audit(cs_cli *cli, int argc, char **argv);
int cli_cmd_k8s(cs_cli *cli, int argc, char **argv);
int cli_cmd_hosts(cs_cli *cli, int argc, char **argv);

#endif
