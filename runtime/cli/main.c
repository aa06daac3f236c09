/*
 * main.c - `cubeserve`: the subcommand table, the options every subcommand
 * shares, and how the run directory, registry and tools are found.
 */
#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "core/paths.h"
#include "ops.h"
#include "registry/store.h"
#include "registry/url.h"

#ifndef CS_BIN_DIR
#define CS_BIN_DIR "/usr/local/bin"
#endif

#define COMMON_HELP \
"Common options:\n" \
"      --registry URL   redis://[[USER]:PASSWORD@]HOST[:PORT][/DB], rediss://... (TLS),\n" \
"                       or unix:PATH (default: $CUBESERVE_REGISTRY, else\n" \
"                       unix:RUN/redis.sock, the stack `cubeserve up` runs); a URL\n" \
"                       with a password is better given in $CUBESERVE_REGISTRY\n" \
"      --run-dir DIR    the stack's run directory (default: $CUBESERVE_RUN_DIR,\n" \
"                       else ~/.cubeserve)\n" \
"      --prefix P       registry key prefix (default cs:)\n" \
"      --json           machine-readable output on stdout\n" \
"  -h, --help           this text\n"

typedef struct command {
	const char *name;
	int (*fn)(cs_cli *, int, char **);
	const char *summary;
	const char *help;
} command;

static const command commands[] = {
	{"publish", cli_cmd_publish, "validate, test-load and register a model directory",
"Usage: cubeserve publish DIR [--json]\n\n"
"Publishes the model in DIR (its model.json; DIR may also be the manifest\n"
"itself): 1. validates the manifest, 2. checks the registry (reachable,\n"
"schema, version not yet published), 3. test-loads the model in a child\n"
"process (cubeserve-worker --check) and runs the manifest's example through\n"
"the glue, 4. copies the manifest, model file, glue and plugin file into the\n"
"content-addressed store (sha256; a file already stored is not copied\n"
"again), 5. registers the version in one atomic step. A failure at any step\n"
"names the step and the reason and leaves nothing behind.\n"
"Options:\n"
"      --worker PATH    the cubeserve-worker used for the test load\n"
"      --plugin-dir DIR, --lua-dir DIR  passed to the worker\n"},
	{"list", cli_cmd_list, "list the published models",
"Usage: cubeserve list [--json]\n\nEvery model: default version, versions, rating, favourites, deployment.\n"},
	{"search", cli_cmd_search, "find models by text and tags",
"Usage: cubeserve search [TEXT] [--tag T]... [--json]\n\n"
"Models whose name, description, owner or tags contain TEXT (case does not\n"
"matter) and that carry every --tag T.\n"},
	{"show", cli_cmd_show, "a model and one of its versions",
"Usage: cubeserve show NAME[@VERSION] [--json]\n\n"
"The model (description, tags, rating, favourites, views, calls, versions,\n"
"deployment) and the version's record (plugin, files with their sha256,\n"
"inputs, outputs, example). Without @VERSION: the default version.\n"},
	{"versions", cli_cmd_versions, "the versions of a model",
"Usage: cubeserve versions NAME [--json]\n"},
	{"set-default", cli_cmd_set_default, "choose the version deployed by default",
"Usage: cubeserve set-default NAME VERSION\n"},
	{"remove", cli_cmd_remove, "unregister a model or one version",
"Usage: cubeserve remove NAME[@VERSION] [--force]\n\n"
"Refused (exit 5) while the model (or that version) is deployed, unless\n"
"--force, which undeploys it first. Blobs no other version uses are deleted\n"
"from the store.\n"},
	{"rate", cli_cmd_rate, "rate a model 1..5",
"Usage: cubeserve rate NAME STARS [--user U]\n\nOne rating per user; rating again replaces it. With auth on the user is\n"
"the logged-in one (--user may only name yourself).\n"},
	{"favorite", cli_cmd_favorite, "mark a model as a favourite",
"Usage: cubeserve favorite NAME [--remove] [--user U]\n\nOne per user. With auth on the user is the logged-in one.\n"},
	{"deploy", cli_cmd_deploy, "run a model, switch its version, or try one as a canary",
"Usage: cubeserve deploy NAME[@VERSION] [--processes N] [--instances K]\n"
"                        [--canary PCT] [--keep-warm S] [--timeout S]\n\n"
"Writes the deployment's desired state to the registry and makes it so: each\n"
"instance is ONE prefork master (cubeserve-worker --processes N: the model\n"
"loaded once, N children sharing it) under spawn-fcgi on its own unix socket\n"
"in RUN/sockets. A new pool must answer GET /models/NAME and the manifest's\n"
"example before the route (RUN/nginx/*.conf, nginx -t, one reload) sends it\n"
"traffic.\n"
"On a model deployed at another version, NAME@VERSION switches it without\n"
"downtime: the new pool starts beside the old, is checked, the route moves\n"
"(one reload), the old pool drains (requests in flight finish) and is kept\n"
"warm for --keep-warm seconds (default 60) for `cubeserve rollback`. If the\n"
"new version fails to start or to answer, the old one keeps serving.\n"
"Options:\n"
"  -p, --processes N    children per instance (1..64, default 1)\n"
"      --instances K    prefork masters per version (1..16, default 1)\n"
"      --canary PCT     send PCT % (1..99) of the requests to VERSION, the\n"
"                       rest to the deployed version; `promote` or `rollback`\n"
"      --keep-warm S    seconds the previous version's pool stays after a switch\n"
"      --timeout S      seconds to wait for readiness (default 60)\n"
"      --worker PATH, --plugin-dir DIR, --lua-dir DIR\n"},
	{"undeploy", cli_cmd_undeploy, "take a model down",
"Usage: cubeserve undeploy NAME\n\nRemoves the record and the route (nginx reload), then the pools drain\n"
"(requests in flight finish) and stop.\n"},
	{"pause", cli_cmd_pause, "keep a 503 route, drain and stop the pools",
"Usage: cubeserve pause NAME\n\nEvery endpoint of the model answers 503 {\"error\": \"model NAME is paused\"}\n"
"(V2 ready: \"ready\": false) until resume; then the pools drain and stop.\n"},
	{"resume", cli_cmd_resume, "start a paused model again",
"Usage: cubeserve resume NAME [--timeout S]\n"},
	{"restart", cli_cmd_restart, "replace every pool, without downtime",
"Usage: cubeserve restart NAME [--timeout S]\n\n"
"Starts new pools on new sockets, switches the route, the old ones drain.\n"},
	{"scale", cli_cmd_scale, "set the number of processes per instance",
"Usage: cubeserve scale NAME N [--instances K] [--timeout S]\n\n"
"Sets the children of every running master to N (1..64) with TTIN/TTOU: no\n"
"new model load, no route change, no dropped request. Records the scaling\n"
"hint (reason: manual). --instances K sets the number of masters instead.\n"},
	{"promote", cli_cmd_promote, "make the canary the whole deployment",
"Usage: cubeserve promote NAME [--keep-warm S] [--timeout S]\n\n"
"The canary's pool takes all the requests (one reload); the old version\n"
"drains and is kept warm for --keep-warm seconds for `rollback`.\n"},
	{"rollback", cli_cmd_rollback, "drop the canary, or go back to the previous version",
"Usage: cubeserve rollback NAME [--timeout S]\n\n"
"With a canary: all requests go back to the deployed version and the canary\n"
"drains. Without: switches back to the previous version (its warm pool when\n"
"it still runs, else a new one). Refused (exit 5) with nothing to go back to.\n"},
	{"supervise", cli_cmd_supervise, "keep every deployment as desired (runs until Ctrl-C)",
"Usage: cubeserve supervise [--once] [--host NAME [--address ADDR]]\n\n"
"Every 200 ms compares each deployment's desired state in the registry with\n"
"the pools that run and acts: a pool whose master died is replaced (new pool,\n"
"route switch, the dead master's children drain), with back-off and a log\n"
"line naming the exit status or signal; an operation interrupted half-way is\n"
"finished; warm previous pools past their time are stopped. `cubeserve up`\n"
"runs the same loop; run this one beside a Redis and nginx of your own.\n"
"--host NAME: this supervisor is the agent of host NAME: it registers the\n"
"host in the registry (address, cores, memory) and beats every second while\n"
"it runs (`cubeserve hosts`); refused (exit 5) while another live agent\n"
"holds NAME. --address: where the front nginx reaches this host's workers.\n"},
	{"autoscale", cli_cmd_autoscale, "scale deployments from their load (runs until Ctrl-C)",
"Usage: cubeserve autoscale [NAME...] [--interval S] [--target U] [--band B]\n"
"                           [--min N] [--max N] [--up-after S] [--down-after S]\n"
"                           [--window S] [--duration S] [--once] [--json]\n\n"
"Once every interval (default 1 s) reads the heartbeats of every running\n"
"deployment (or the ones named), computes the desired processes with the\n"
"policy of docs/scaling.md (utilization = busy / processes against the\n"
"target, grow fast, shrink one at a time after a quiet spell, a band of\n"
"hysteresis), writes the model's scaling hint (desired, reason, time) and\n"
"applies changes with `cubeserve scale`. Runs until Ctrl-C or --duration.\n"
"Options:\n"
"      --target U       utilization to aim for, 0..1 (default 0.70)\n"
"      --band B         shrink only below target - B (default 0.15)\n"
"      --min N, --max N processes per deployment (default 1..8)\n"
"      --up-after S     seconds over the target before growing (default 3)\n"
"      --down-after S   seconds under the band before shrinking (default 30)\n"
"      --window S       seconds the utilization is averaged over (default 10)\n"
"      --once           one evaluation, then exit\n"
"      --json           one JSON line per deployment and evaluation\n"},
	{"logs", cli_cmd_logs, "a deployment's log",
"Usage: cubeserve logs NAME [-n|--lines LINES] [-f|--follow]\n\n"
"Prints the last LINES (default 50) of RUN/logs/NAME.log; -f follows it.\n"},
	{"status", cli_cmd_status, "deployments, their versions and pools",
"Usage: cubeserve status [NAME] [--json]\n\n"
"Every deployment: version, state, live/desired pools (liveness from each\n"
"pool's pid and socket), processes, req/s, requests, p50/p99, 5xx errors and\n"
"the last error with its time (from the heartbeats); with a canary or a warm\n"
"pool a line per version (share, req/s, p50/p99, errors); a line per pool.\n"
"--json: the schema is in docs/cli.md.\n"},
	{"routes", cli_cmd_routes, "print nginx routes: of all deployments, or for NAME=ADDR",
"Usage: cubeserve routes [--upstreams | --locations]\n"
"       cubeserve routes [--no-registry] [OPTIONS] NAME=ADDR [NAME=ADDR ...]\n\n"
"Prints nginx configuration that routes /models/NAME (and the model's V2,\n"
"metrics, status and health paths) to cubeserve workers, rendered from the\n"
"route template route.conf.in. For an nginx.conf of your own: include the\n"
"upstreams inside http {} and the locations inside server {}.\n"
"Without NAME=ADDR: the routes of every deployment in the registry (a\n"
"paused one answers 503 JSON), from $CUBESERVE_NGINX_DIR/route.conf.in, else\n"
"the source tree's (a build tree's binary) or the installed one.\n"
"With NAME=ADDR (or --no-registry; no registry needed): routes to the\n"
"worker(s) at ADDR, unix:/abs/path.sock or HOST:PORT. Give the same NAME\n"
"several times to balance one model over several workers. Options end at\n"
"the first NAME=ADDR (or at --). scripts/cubeserve-routes runs this.\n"
"  --upstreams         print only the upstream blocks (include inside http {})\n"
"  --locations         print only the location blocks (include inside server {})\n"
"Without either, both are printed, upstreams first, each under a comment.\n"
"Options with NAME=ADDR:\n"
"  --keepalive N       idle kept-alive connections per nginx worker process\n"
"                      to each model's workers (default 16; 0 turns keepalive\n"
"                      off: no keepalive line and fastcgi_keep_conn off)\n"
"  --max-body SIZE     client_max_body_size (default 1m; keep it >= the\n"
"                      manifest's limits.max_body_bytes)\n"
"  --timeout T         fastcgi send/read timeout (default 60s)\n"
"  --fastcgi-params F  the fastcgi_params file to include (default\n"
"                      fastcgi_params, i.e. the one beside nginx.conf)\n"
"  --template FILE     route template (default: route.conf.in, see below)\n"
"Template search order with NAME=ADDR: $CUBESERVE_NGINX_DIR/route.conf.in,\n"
"the source tree's nginx/route.conf.in (a build tree's binary) else\n"
"PKGDATADIR/nginx/route.conf.in (installed), <bin dir>/../share/cubeserve/nginx,\n"
"/usr/local/share/cubeserve/nginx, /usr/share/cubeserve/nginx.\n"
"A refused NAME=ADDR, option or template exits 2 and prints nothing on stdout.\n"
"Example:\n"
"  cubeserve routes --upstreams linear=unix:/run/cubeserve/linear.sock > /etc/nginx/conf.d/cubeserve-upstreams.conf\n"
"  cubeserve routes --locations linear=unix:/run/cubeserve/linear.sock > /etc/nginx/snippets/cubeserve-locations.conf\n"},
	{"up", cli_cmd_up, "run the whole stack on this machine",
"Usage: cubeserve up [--port N] [--detach] [--no-examples | --examples DIR]\n"
"                    [--timeout S] [--auth on|off] [--nginx-workers N] [--no-access-log]\n"
"       cubeserve up --route NAME=ADDR [--route ...] [--keepalive N] [--max-body SIZE]\n"
"                    [--fastcgi-timeout T] [--check] [--port N] [--detach] ...\n\n"
"Starts a private redis-server (unix socket RUN/redis.sock, AOF in\n"
"RUN/redis), a private nginx (prefix RUN/nginx) on 127.0.0.1:PORT (default\n"
"8080), deploys again every deployment recorded earlier (except paused\n"
"ones), publishes and deploys the bundled examples whose plugin is built,\n"
"prints where everything is and a curl line to try, and stays in the\n"
"foreground. When redis-server dies the models go on serving and up\n"
"restarts it (its AOF brings the registry back). Ctrl-C (or SIGTERM) stops\n"
"the workers, nginx and Redis it started and nothing else. --detach\n"
"returns once the stack is up; `cubeserve down` stops it. Refused (exit 5)\n"
"when a stack is already up in RUN or the port is in use.\n"
"With cubeserve-api built, nginx also serves the web console at\n"
"http://127.0.0.1:PORT/console/ and its API under /api/ (cubeserve-api under\n"
"spawn-fcgi on RUN/api.sock, restarted if it exits; docs/api.md).\n"
"Options:\n"
"      --port N         nginx port on 127.0.0.1 (default 8080, or $CS_PORT)\n"
"      --examples DIR   the example models (default: the bundled ones)\n"
"      --no-examples    publish and deploy none\n"
"      --timeout S      seconds to wait for each deployment (default 60)\n"
"  -d, --detach         run in the background (log: RUN/logs/up.log)\n"
"      --auth on|off    off: every model answers everyone and every command\n"
"                       works (local trust; the default, or what the run dir\n"
"                       recorded). on: private models need an API key, the\n"
"                       management commands a login; the first admin is\n"
"                       created (password printed once) and logged in; the\n"
"                       examples are public. Use on for anything others can\n"
"                       reach (docs/security.md).\n"
"      --nginx-workers N  nginx worker processes (1..64, default 1)\n"
"      --no-access-log  nginx writes no access log (RUN/nginx/logs/access.log)\n"
"With --route: nginx alone, in front of workers you run yourself at ADDR\n"
"(unix:/abs/path.sock or HOST:PORT; a NAME given twice balances): no Redis,\n"
"registry, supervisor, examples or console. The routes are those of\n"
"`cubeserve routes NAME=ADDR...` (the same checks; fastcgi_params from\n"
"$CS_FASTCGI_PARAMS, default /etc/nginx/fastcgi_params); nginx -t checks the\n"
"configuration before nginx starts; up stops when nginx exits. The tests'\n"
"private stacks (scripts/stack.sh) run this.\n"
"      --route NAME=ADDR  route /models/NAME to ADDR (repeatable)\n"
"      --keepalive N, --max-body SIZE, --fastcgi-timeout T  the routes'\n"
"                       --keepalive, --max-body and --timeout (`cubeserve\n"
"                       routes --help`; default 16, 1m, 60s)\n"
"      --check          write RUN/nginx/*.conf, run nginx -t, start nothing\n"},
	{"k8s", cli_cmd_k8s, "Kubernetes manifests (export), the hint endpoint for KEDA",
"Usage: cubeserve k8s export NAME[@VERSION] [--namespace NS] [-o DIR] [OPTIONS]\n"
"       cubeserve k8s serve-hints [--listen HOST:PORT]\n"
"       cubeserve k8s probe SOCKET PATH [--timeout MS]\n\n"
"export writes the Kubernetes objects of one published model as YAML\n"
"documents, to stdout or one file per object into DIR: a ConfigMap (the\n"
"pod's nginx.conf and the model's route, the init container's script), a\n"
"Deployment (init container fetching the version's files by sha256 from the\n"
"model store; the worker with --processes from the CPU request; nginx with\n"
"readiness from /health/NAME), a Service and a KEDA ScaledObject whose\n"
"metrics-api trigger reads the model's scaling hint from serve-hints, with\n"
"min/max replicas from the deployment's min/max processes. The registry URL\n"
"reaches the pods only through a Secret (key url), never in the YAML.\n"
"Exit 4 when the model or version is not published. docs/kubernetes.md.\n"
"Options of export:\n"
"  -n, --namespace NS   namespace of every object (default default)\n"
"      --image IMG      the runtime image (default cubeserve:VERSION)\n"
"      --cpu Q, --memory Q  the worker's requests (default: the manifest's\n"
"                       resources, else 1 and 512Mi)\n"
"      --processes N    worker processes per pod (default: whole cores requested, >= 1)\n"
"      --min-replicas N, --max-replicas N  override the deployment's min/max\n"
"      --registry-secret NAME  Secret with the registry URL (default cubeserve-registry)\n"
"      --store-url URL  the model store over HTTP (default http://cubeserve-store.NS.svc:8081)\n"
"      --hints-url URL  serve-hints' base URL (default http://cubeserve-hints.NS.svc:8090)\n"
"      --hints-server   also write the serve-hints Deployment and Service\n"
"      --port N         nginx's port in the pod (default 8080)\n"
"  -o, --output DIR     one file per object (KIND-NAME.yaml) instead of stdout\n"
"serve-hints answers GET /hint/NAME with {\"desired\": N, ...} from Redis\n"
"(404 without a hint, 503 when Redis is down) and GET /healthz.\n"
"probe: FastCGI GET of PATH over SOCKET; exit 0 on status 200 (liveness).\n"},
	{"hosts", cli_cmd_hosts, "the hosts in the registry and whether their agent is alive",
"Usage: cubeserve hosts [--json]\n"
"       cubeserve hosts --agent NAME [--address ADDR] [--duration S]\n"
"       cubeserve hosts --forget NAME\n\n"
"Lists every host an agent registered: state (up while its agent's lease\n"
"is live, renewed every second and good for 5 s; down when the beats\n"
"stopped; stopped after a clean stop), the address its workers are reached\n"
"at, cores, memory, the time of the last beat and the agent's id.\n"
"--agent NAME registers this machine as host NAME and beats until Ctrl-C\n"
"(or --duration seconds); refused (exit 5) while another live agent holds\n"
"the name. --address: where the front nginx reaches this host's workers\n"
"(default NAME). --forget NAME removes a host that is down (exit 5 while\n"
"its agent is alive, 4 when there is no such host).\n"},
	{"down", cli_cmd_down, "stop a stack started with up --detach",
"Usage: cubeserve down\n\n"
"Sends SIGTERM to the `cubeserve up` holding the lock on RUN/up.pid and\n"
"waits (at most 60 s) until it has stopped everything and let go of the\n"
"lock. With no stack up in RUN: says so and exits 0.\n"},
	{"user", cli_cmd_user, "accounts: add, list, remove, passwd, role",
"Usage: cubeserve user add NAME --role admin|owner|operator|consumer [--password-file F]\n"
"       cubeserve user add NAME --admin          (the same as --role admin)\n"
"       cubeserve user list | remove NAME | passwd NAME | role NAME ROLE\n\n"
"Accounts in the registry. The password is read from --password-file or the\n"
"first line of stdin (no echo on a terminal) and kept only as an Argon2id\n"
"hash (libsodium crypto_pwhash). Roles: admin (everything), owner (publishes\n"
"and manages its own models, makes keys for them), operator (deploys, scales,\n"
"switches any deployment), consumer (calls the models its keys grant).\n"
"With auth on only an admin manages users (anyone may change their own\n"
"password); the first user of an empty registry may be added by anyone who\n"
"can reach it. remove revokes the user's keys. After 5 wrong passwords in a\n"
"row an account is locked for 15 s, doubling with every further wrong one\n"
"(at most 15 min); passwd clears it.\n"},
	{"key", cli_cmd_key, "API keys: create, list, show, revoke",
"Usage: cubeserve key create --user NAME (--models a,b | --all) [--rate N/s]\n"
"                            [--quota N/day] [--expires DATE]\n"
"       cubeserve key list [--user NAME] [--sessions]\n"
"       cubeserve key show ID [--days N]\n"
"       cubeserve key revoke ID\n\n"
"create prints the new key once, alone on its last line ({\"key\": ...} with\n"
"--json); only its keyed hash is stored. Clients send it as\n"
"`Authorization: Bearer KEY` or `X-API-Key: KEY`. --rate limits calls per\n"
"second (also N/min, N/h) over every process of a deployment on a host;\n"
"--quota limits calls per UTC day over all hosts; --expires DATE is\n"
"YYYY-MM-DD[THH:MM[:SS]] (UTC) or +N[s|m|h|d]. list shows id and prefix,\n"
"show adds the calls per model and day (ok / error), revoke takes effect\n"
"at the gateways within about a second. With auth on: admins make keys for\n"
"any model, owners for the models they own.\n"},
	{"access", cli_cmd_access, "make a model public or private",
"Usage: cubeserve access NAME [public|private]\n\n"
"A public model answers anyone; a private one only calls with a key that\n"
"grants it (when the stack runs with auth on). Without the last argument:\n"
"shows the model's access and owner. Set by an admin or the model's owner.\n"},
	{"login", cli_cmd_login, "log in as a user (a token for the management commands)",
"Usage: cubeserve login [NAME] [--password-file F] [--ttl DAYS]\n\n"
"Checks NAME's password (default: $USER), read from --password-file or stdin,\n"
"and stores a session token for this registry under\n"
"$XDG_CONFIG_HOME/cubeserve (else ~/.config/cubeserve), mode 0600; it expires\n"
"after --ttl days (default 30). Instead of logging in, CUBESERVE_KEY may hold\n"
"a key of a user with the role a command needs.\n"},
	{"logout", cli_cmd_logout, "revoke the session and remove the token",
"Usage: cubeserve logout\n"},
	{"whoami", cli_cmd_whoami, "the logged-in user and its role",
"Usage: cubeserve whoami [--json]\n"},
	{"audit", cli_cmd_audit, "the audit log of management actions",
"Usage: cubeserve audit [-n N] [--json]\n\n"
"The newest N (default 50) management actions: time (UTC), who, what,\n"
"target, result. With auth on: admins and operators.\n"},
};

static const command *current;

static void usage_main(FILE *f)
{
	fputs("Usage: cubeserve [COMMON-OPTIONS] COMMAND [ARGS]\n\n"
	      "Publish, find, deploy and scale cubeserve models.\n\nCommands:\n", f);
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].summary);
	fputs("\n`cubeserve COMMAND --help` tells more. Start with `cubeserve up`.\n\n"
	      COMMON_HELP
	      "  -V, --version        the version and the registry schema it knows\n"
	      "\nExit status: 0 done; 1 the operation failed; 2 bad usage; 3 Redis cannot\n"
	      "be reached; 4 no such model, version or deployment; 5 refused (already\n"
	      "published, deployed, already up); 6 unknown registry schema; 7 not logged\n"
	      "in or not allowed (auth on; docs/security.md).\n", f);
}

void cli_usage(const cs_cli *cli, FILE *f)
{
	(void)cli;
	if (current) {
		fputs(current->help, f);
		fputs("\n" COMMON_HELP, f);
	} else {
		usage_main(f);
	}
}

void cli_err(const cs_cli *cli, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "cubeserve %s: ", cli->cmd ? cli->cmd : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void cli_step(const cs_cli *cli, const char *fmt, ...)
{
	va_list ap;

	if (cli->json)
		return;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

int cli_exit_for(int status)
{
	switch (status) {
	case CS_OK: return CLI_OK;
	case CS_EUNAVAILABLE: return CLI_UNREACHABLE;
	case CS_ENOTFOUND: return CLI_NOTFOUND;
	case CS_REG_EXISTS:
	case CS_REG_DEPLOYED:
	case CS_OP_BUSY:
	case CS_OP_REFUSED:
	case CS_REG_TAKEN: return CLI_REFUSED;
	case CS_REG_SCHEMA: return CLI_SCHEMA;
	case CS_EINVAL: return CLI_USAGE;
	default: return CLI_FAIL;
	}
}

int cli_reg_fail(cs_cli *cli)
{
	cli_err(cli, "%s", cli->reg->errstr);
	return cli_exit_for(cli->reg->err);
}

const char *jstr(const json_t *o, const char *key, const char *def)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : def;
}

long long jnum(const json_t *o, const char *key, long long def)
{
	const json_t *v = json_object_get(o, key);

	if (json_is_integer(v))
		return json_integer_value(v);
	if (json_is_string(v) && *json_string_value(v)) {
		char *end;
		long long n = strtoll(json_string_value(v), &end, 10);

		return *end ? def : n;
	}
	return def;
}

void cli_print_json(json_t *v)
{
	json_dumpf(v, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
	fputc('\n', stdout);
	fflush(stdout);
}

const char *cli_user(const char *given)
{
	static char buf[64];
	const char *u = given;
	struct passwd *pw;

	if (!u || !*u)
		u = getenv("USER");
	if (!u || !*u) {
		pw = getpwuid(getuid());
		if (pw)
			u = pw->pw_name;
	}
	if (!u || !*u) {
		snprintf(buf, sizeof buf, "uid%ld", (long)getuid());
		u = buf;
	}
	return u;
}

/* ------------------------------------------------------------ options */

enum {
	OPT_REGISTRY = 0x2001,
	OPT_RUN_DIR,
	OPT_PREFIX,
	OPT_JSON
};

static char *xstrdup(const char *s)
{
	char *p = strdup(s);

	if (!p) {
		fputs("cubeserve: out of memory\n", stderr);
		exit(CLI_FAIL);
	}
	return p;
}

static char *absolute(const char *p)
{
	char cwd[PATH_MAX], buf[PATH_MAX * 2];

	if (p[0] == '/' || !getcwd(cwd, sizeof cwd))
		return xstrdup(p);
	snprintf(buf, sizeof buf, "%s/%s", cwd, p);
	return xstrdup(buf);
}

/* Handles a common option; returns 1 when it was one. */
static int common_opt(cs_cli *cli, int c, const char *arg)
{
	switch (c) {
	case OPT_REGISTRY:
		free(cli->registry_url);
		cli->registry_url = xstrdup(arg);
		cli->registry_how = "--registry";
		return 1;
	case OPT_RUN_DIR:
		free(cli->run_dir);
		cli->run_dir = absolute(arg);
		return 1;
	case OPT_PREFIX:
		cli->prefix = arg;
		return 1;
	case OPT_JSON:
		cli->json = 1;
		return 1;
	}
	return 0;
}

int cli_getopt(cs_cli *cli, int argc, char **argv, const char *shortopts,
	       const struct option *opts)
{
	static const struct option common[] = {
		{"registry", required_argument, NULL, OPT_REGISTRY},
		{"run-dir", required_argument, NULL, OPT_RUN_DIR},
		{"prefix", required_argument, NULL, OPT_PREFIX},
		{"json", no_argument, NULL, OPT_JSON},
		{"help", no_argument, NULL, 'h'},
	};
	struct option all[64];
	char shorts[64];
	size_t n = 0;
	int c;

	for (; opts && opts[n].name && n < 50; n++)
		all[n] = opts[n];
	for (size_t i = 0; i < sizeof common / sizeof common[0]; i++)
		all[n++] = common[i];
	memset(&all[n], 0, sizeof all[n]);
	snprintf(shorts, sizeof shorts, "h%s", shortopts ? shortopts : "");
	for (;;) {
		opterr = 0;
		c = getopt_long(argc, argv, shorts, all, NULL);
		if (c == 'h') {
			cli_usage(cli, stdout);
			return CLI_OPT_HELP;
		}
		if (c == '?' || c == ':') {
			if (optopt && optopt < 128)
				cli_err(cli, "option -%c is unknown or needs a value (see --help)", optopt);
			else
				cli_err(cli, "option '%s' is unknown or needs a value (see --help)",
					argv[optind - 1]);
			return CLI_OPT_BAD;
		}
		if (c != -1 && common_opt(cli, c, optarg))
			continue;
		return c;
	}
}

/* ------------------------------------------------------------ context */

int cli_run_dir_init(cs_cli *cli)
{
	static const char *const sub[] = {"", "/logs", "/sockets", "/nginx",
		"/nginx/logs", "/nginx/tmp", "/redis", "/store"};
	char p[PATH_MAX];

	for (size_t i = 0; i < sizeof sub / sizeof sub[0]; i++) {
		snprintf(p, sizeof p, "%s%s", cli->run_dir, sub[i]);
		if (mkdir(p, 0700) != 0 && errno != EEXIST) {
			cli_err(cli, "cannot create '%s': %s", p, strerror(errno));
			return CLI_FAIL;
		}
	}
	return CLI_OK;
}

int cli_registry(cs_cli *cli, int create)
{
	char err[CS_ERROR_SIZE * 2];
	int rc;

	if (cli->reg && (cli->schema_ok || !create))
		return CLI_OK;
	cli_registry_default(cli);
	rc = cli->reg ? CS_OK : cs_registry_open(cli->registry_url, cli->prefix, 2000,
						  &cli->reg, err, sizeof err);
	if (rc != CS_OK) {
		cli_err(cli, "%s", err);
		if (rc == CS_EUNAVAILABLE)
			fprintf(stderr, "  (the address came from %s; start a stack with `cubeserve up`, or point\n"
				"   --registry / CUBESERVE_REGISTRY at your Redis)\n", cli->registry_how);
		return cli_exit_for(rc);
	}
	rc = cs_registry_check_schema(cli->reg, create);
	if (rc == CS_ENOTFOUND && !create)
		return CLI_NOTFOUND;
	if (rc != CS_OK) {
		cli_err(cli, "%s", cli->reg->errstr);
		return cli_exit_for(rc);
	}
	cli->schema_ok = 1;
	return cli_auth_gate(cli, cli->argc, cli->argv);
}

const char *cli_store(cs_cli *cli)
{
	char p[PATH_MAX], err[CS_ERROR_SIZE];
	const char *env = getenv("CUBESERVE_STORE");

	if (cli->store)
		return cli->store;
	if (env && *env)
		cli->store = absolute(env);
	if (!cli->store && cli->reg)
		cli->store = cs_registry_config_get(cli->reg, "store");
	if (!cli->store) {
		snprintf(p, sizeof p, "%s/store", cli->run_dir);
		cli->store = xstrdup(p);
		if (cli->reg)
			cs_registry_config_setnx(cli->reg, "store", cli->store);
	}
	if (cs_store_init(cli->store, err, sizeof err) != CS_OK) {
		cli_err(cli, "model store: %s", err);
		return NULL;
	}
	return cli->store;
}

/* The directory this executable lives in. */
/*
 * Paths of the worker, plugins, Lua library, nginx templates and examples:
 * the environment first; beside a build tree's binary, the build and
 * source trees; else the installed locations.
 */
static void find_paths(cs_cli *cli)
{
	char exe[PATH_MAX], p[PATH_MAX + 64];
	const char *e;
	int in_build;

	cs_exe_dir(exe, sizeof exe);
	in_build = cs_in_build_tree(NULL);

	if ((e = getenv("CUBESERVE_WORKER")) && *e)
		cli->worker = xstrdup(e);
	else {
		snprintf(p, sizeof p, "%s/cubeserve-worker", exe);
		cli->worker = xstrdup(access(p, X_OK) == 0 ? p : CS_BIN_DIR "/cubeserve-worker");
	}
	if ((e = getenv("CUBESERVE_PLUGIN_DIR")) && *e)
		cli->plugin_dir = xstrdup(e);
	else if (in_build) {
		snprintf(p, sizeof p, "%s/plugins", exe);
		cli->plugin_dir = xstrdup(p);
	} else
		cli->plugin_dir = xstrdup(CS_PLUGIN_DIR);
	if ((e = getenv("CUBESERVE_LUA_DIR")) && *e)
		cli->lua_dir = xstrdup(e);
	else if (in_build) {
		snprintf(p, sizeof p, "%s/lua", CS_BUILD_SRCDIR);
		cli->lua_dir = xstrdup(p);
	} else
		cli->lua_dir = xstrdup(CS_LUA_DIR);
	if ((e = getenv("CUBESERVE_NGINX_DIR")) && *e)
		cli->nginx_dir = xstrdup(e);
	else if (in_build) {
		snprintf(p, sizeof p, "%s/nginx", CS_BUILD_SRCDIR);
		cli->nginx_dir = xstrdup(p);
	} else
		cli->nginx_dir = xstrdup(CS_DATA_DIR "/nginx");
	if ((e = getenv("CUBESERVE_EXAMPLES_DIR")) && *e)
		cli->examples_dir = xstrdup(e);
	else if (in_build) {
		snprintf(p, sizeof p, "%s/examples", CS_BUILD_SRCDIR);
		cli->examples_dir = xstrdup(p);
	} else
		cli->examples_dir = xstrdup(CS_DATA_DIR "/examples");
}

static void cli_free(cs_cli *cli)
{
	cs_registry_close(cli->reg);
	free(cli->run_dir);
	free(cli->registry_url);
	free(cli->store);
	free(cli->worker);
	free(cli->plugin_dir);
	free(cli->lua_dir);
	free(cli->nginx_dir);
	free(cli->examples_dir);
	free(cli->spawn_fcgi);
	free(cli->nginx);
	free(cli->redis_server);
}

int main(int argc, char **argv)
{
	static const struct option lead[] = {
		{"registry", required_argument, NULL, OPT_REGISTRY},
		{"run-dir", required_argument, NULL, OPT_RUN_DIR},
		{"prefix", required_argument, NULL, OPT_PREFIX},
		{"json", no_argument, NULL, OPT_JSON},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	cs_cli cli;
	const char *e;
	char p[PATH_MAX];
	int c, rc, i;

	memset(&cli, 0, sizeof cli);
	cli.prefix = getenv("CUBESERVE_PREFIX");
	if (!cli.prefix || !*cli.prefix)
		cli.prefix = CS_REGISTRY_PREFIX;
	while ((c = getopt_long(argc, argv, "+hV", lead, NULL)) != -1) {
		if (c == 'h') {
			usage_main(stdout);
			return CLI_OK;
		}
		if (c == 'V') {
			printf("cubeserve %s (registry schema %d)\n", CS_VERSION, CS_REGISTRY_SCHEMA);
			return CLI_OK;
		}
		if (!common_opt(&cli, c, optarg)) {
			usage_main(stderr);
			return CLI_USAGE;
		}
	}
	if (optind >= argc) {
		usage_main(stderr);
		return CLI_USAGE;
	}
	for (i = 0; i < (int)(sizeof commands / sizeof commands[0]); i++)
		if (strcmp(commands[i].name, argv[optind]) == 0)
			current = &commands[i];
	if (!current) {
		fprintf(stderr, "cubeserve: unknown command '%s' (see cubeserve --help)\n", argv[optind]);
		return CLI_USAGE;
	}
	cli.cmd = current->name;

	if (!cli.run_dir) {
		if ((e = getenv("CUBESERVE_RUN_DIR")) && *e)
			cli.run_dir = absolute(e);
		else {
			snprintf(p, sizeof p, "%s/.cubeserve",
				 getenv("HOME") && *getenv("HOME") ? getenv("HOME") : "/tmp");
			cli.run_dir = xstrdup(p);
		}
	}
	find_paths(&cli);

	/* the subcommand parses from its name on, common options included */
	argc -= optind;
	argv += optind;
	optind = 0;
	cli.argc = argc;
	cli.argv = argv;
	rc = current->fn(&cli, argc, argv);
	cli_auth_record(&cli, argc, argv, rc);
	cli_free(&cli);
	return rc;
}

/*
 * Called by the subcommands after option parsing (the run directory may
 * have changed): fills in the registry address when none was given.
 */
void cli_registry_default(cs_cli *cli)
{
	char p[PATH_MAX + 32];
	const char *e;

	if (cli->registry_url)
		return;
	if ((e = getenv("CUBESERVE_REGISTRY")) && *e) {
		cli->registry_url = xstrdup(e);
		cli->registry_how = "$CUBESERVE_REGISTRY";
		return;
	}
	snprintf(p, sizeof p, "unix:%s/redis.sock", cli->run_dir);
	cli->registry_url = xstrdup(p);
	cli->registry_how = "the default (the run directory's redis.sock)";
}

const char *cli_registry_shown(cs_cli *cli)
{
	static char shown[600];

	cli_registry_default(cli);
	return cs_registry_url_mask(cli->registry_url, shown, sizeof shown);
}
