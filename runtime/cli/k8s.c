/*
 * k8s.c - `cubeserve k8s`: Kubernetes manifests for one published model
 * (export), the endpoint KEDA reads the scaling hints from (serve-hints),
 * and the FastCGI probe the worker container's liveness runs (probe).
 * docs/kubernetes.md is the manual: what each object is and why.
 *
 * A pod runs two containers of the one runtime image: the worker (loaded
 * once, --processes from the CPU request, on a unix socket in a shared
 * emptyDir) and nginx (the model's route, from the ConfigMap). An init
 * container copies the version's blobs from the model store, by sha256,
 * into the pod's own store, where the worker verifies them again.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "cli/yaml.h"
#include "core/names.h"
#include "registry/store.h"

#define POD_STORE "/var/lib/cubeserve/store"
#define POD_SOCKETS "/run/cubeserve"
#define POD_CONFIG "/etc/cubeserve"
#define POD_SOCKET POD_SOCKETS "/worker.sock"
#define HINTS_PORT 8090
#define POD_UID 10001

typedef struct k8s_opts {
	const char *ns;
	const char *image;
	const char *cpu, *memory;   /* requests; NULL: manifest, else defaults */
	int processes;              /* 0: from the CPU request */
	int min_replicas, max_replicas; /* 0: from the deployment */
	const char *secret;         /* Secret holding the registry URL (key "url") */
	const char *store_url;      /* where the init container fetches blobs */
	const char *hints_url;      /* the serve-hints endpoint (base URL) */
	int hints_server;           /* also export the serve-hints Deployment */
	int port;                   /* nginx's port in the pod */
	const char *out_dir;        /* -o DIR: one file per object */
} k8s_opts;

/* ------------------------------------------------------------ quantities */

/*
 * A CPU quantity ("2", "1.5", "500m") in millicores, or -1 when it is not
 * one. Kubernetes allows more forms; these are the ones people write.
 */
static long cpu_millis(const char *q)
{
	char *end;
	double v;

	if (!q || !*q || strlen(q) > 16 || *q == '-' || *q == '+')
		return -1;
	errno = 0;
	v = strtod(q, &end);
	if (errno || end == q || v <= 0)
		return -1;
	if (strcmp(end, "m") == 0)
		return v >= 1 && v == floor(v) && v < 1e9 ? (long)v : -1;
	if (*end || v > 1e6)
		return -1;
	return (long)llround(v * 1000);
}

/* Whether q is a memory quantity: digits, then an optional suffix. */
static int memory_ok(const char *q)
{
	static const char *const sfx[] = {"", "k", "M", "G", "T", "P", "E", "Ki", "Mi",
		"Gi", "Ti", "Pi", "Ei", NULL};
	const char *p = q;

	if (!q || !*q || strlen(q) > 16)
		return 0;
	while (*p >= '0' && *p <= '9')
		p++;
	if (p == q)
		return 0;
	for (int i = 0; sfx[i]; i++)
		if (strcmp(p, sfx[i]) == 0)
			return 1;
	return 0;
}

/* ------------------------------------------------------------ names */

/* A DNS-1123 name from a model name: lower case, '_' -> '-'. */
static int k8s_name(char *out, size_t len, const char *prefix, const char *model)
{
	size_t n = (size_t)snprintf(out, len, "%s%s", prefix, model);

	if (n >= len || n > 63)
		return -1;
	for (char *p = out; *p; p++) {
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
		else if (*p == '_')
			*p = '-';
	}
	return out[n - 1] == '-' ? -1 : 0;
}

/* A label value from a version ('+' is not allowed there: '_'). */
static void label_value(char *out, size_t len, const char *v)
{
	snprintf(out, len, "%.63s", v);
	for (char *p = out; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '.' || *p == '-' || *p == '_'))
			*p = '_';
}

/* ------------------------------------------------------------ objects */

static json_t *meta(const char *name, const k8s_opts *o, json_t *labels)
{
	return json_pack("{s:s,s:s,s:o}", "name", name, "namespace", o->ns, "labels", labels);
}

static json_t *labels_for(const char *model, const char *version)
{
	char v[64];
	json_t *l = json_pack("{s:s,s:s,s:s}", "app.kubernetes.io/name", "cubeserve",
			      "app.kubernetes.io/instance", model,
			      "app.kubernetes.io/managed-by", "cubeserve-k8s-export");

	if (version) {
		label_value(v, sizeof v, version);
		json_object_set_new(l, "app.kubernetes.io/version", json_string(v));
	}
	return l;
}

static json_t *http_probe(const char *path, int period, int timeout, int failures)
{
	return json_pack("{s:{s:s,s:s},s:i,s:i,s:i}", "httpGet", "path", path, "port", "http",
			 "periodSeconds", period, "timeoutSeconds", timeout,
			 "failureThreshold", failures);
}

static json_t *exec_probe(const char *path, int period, int timeout, int failures)
{
	return json_pack("{s:{s:[s,s,s,s,s]},s:i,s:i,s:i}", "exec", "command", "cubeserve",
			 "k8s", "probe", POD_SOCKET, path, "periodSeconds", period,
			 "timeoutSeconds", timeout, "failureThreshold", failures);
}

static json_t *registry_env(const k8s_opts *o)
{
	return json_pack("{s:s,s:{s:{s:s,s:s}}}", "name", "CUBESERVE_REGISTRY", "valueFrom",
			 "secretKeyRef", "name", o->secret, "key", "url");
}

static json_t *restricted(void)
{
	return json_pack("{s:b,s:b,s:{s:[s]}}", "allowPrivilegeEscalation", 0,
			 "readOnlyRootFilesystem", 1, "capabilities", "drop", "ALL");
}

/* The pod's nginx.conf: the route files and errors.conf beside it. */
static char *pod_nginx_conf(int port)
{
	char *s = NULL;

	if (asprintf(&s,
"# nginx in the pod, in front of the worker's unix socket (one pod, one model).\n"
"# Generated by `cubeserve k8s export`; started as\n"
"#   nginx -p /tmp/nginx -c " POD_CONFIG "/nginx.conf\n"
"daemon off;\n"
"master_process on;\n"
"worker_processes 1;\n"
"pid /tmp/nginx/nginx.pid;\n"
"error_log stderr warn;\n"
"\n"
"events {\n"
"    worker_connections 1024;\n"
"}\n"
"\n"
"http {\n"
"    access_log off;\n"
"    default_type application/json;\n"
"    client_body_temp_path /tmp/nginx/body;\n"
"    fastcgi_temp_path /tmp/nginx/fastcgi;\n"
"    proxy_temp_path /tmp/nginx/proxy;\n"
"    uwsgi_temp_path /tmp/nginx/uwsgi;\n"
"    scgi_temp_path /tmp/nginx/scgi;\n"
"    keepalive_timeout 65s;\n"
"    keepalive_requests 100000;\n"
"    server_tokens off;\n"
"\n"
"    include " POD_CONFIG "/upstreams.conf;\n"
"\n"
"    server {\n"
"        listen %d;\n"
"        server_name _;\n"
"        include " POD_CONFIG "/errors.conf;\n"
"        include " POD_CONFIG "/locations.conf;\n"
"        location = /nginx-health {\n"
"            return 200 '{\"status\": \"ok\"}\\n';\n"
"        }\n"
"    }\n"
"}\n", port) < 0)
		return NULL;
	return s;
}

/*
 * The init container's script: each blob of the version, fetched from
 * STORE_URL/sha256/ab/<sha256> into the pod's store and checked.
 */
static char *fetch_script(const char *name, const char *version, json_t *blobs)
{
	size_t len = 0, i;
	char *s = NULL;
	FILE *f = open_memstream(&s, &len);
	json_t *b;

	if (!f)
		return NULL;
	fprintf(f,
"#!/bin/sh\n"
"# fetch-model.sh - the files of %s@%s, copied by sha256 from the model\n"
"# store at $CUBESERVE_STORE_URL (STORE/sha256/ab/<sha256>, served read-only\n"
"# over HTTP) into the pod's store $CUBESERVE_STORE; every file is checked\n"
"# against its sha256 before it is renamed into place (the worker checks\n"
"# again when it loads). Generated by `cubeserve k8s export`.\n"
"set -eu\n"
"store=${CUBESERVE_STORE:-" POD_STORE "}\n"
"base=${CUBESERVE_STORE_URL:?set CUBESERVE_STORE_URL to the model store URL}\n"
"mkdir -p \"$store/tmp\"\n"
"fetch() {\n"
"    ab=${1%%\"${1#??}\"}\n"
"    if [ -f \"$store/sha256/$ab/$1\" ]; then return 0; fi\n"
"    mkdir -p \"$store/sha256/$ab\"\n"
"    curl -fsS --retry 5 --retry-delay 2 -o \"$store/tmp/$1\" \"$base/sha256/$ab/$1\"\n"
"    if ! echo \"$1  $store/tmp/$1\" | sha256sum -c --status; then\n"
"        echo \"fetch-model: $base/sha256/$ab/$1 does not hash to $1\" >&2\n"
"        rm -f \"$store/tmp/$1\"\n"
"        exit 1\n"
"    fi\n"
"    chmod 0444 \"$store/tmp/$1\"\n"
"    mv \"$store/tmp/$1\" \"$store/sha256/$ab/$1\"\n"
"}\n", name, version);
	json_array_foreach(blobs, i, b)
		fprintf(f, "fetch %s\n", json_string_value(b));
	fprintf(f, "echo \"fetch-model: %s@%s: %zu files verified\"\n", name, version,
		json_array_size(blobs));
	fclose(f);
	return s;
}

/* The model's route (nginx/route.conf.in) for the pod's socket. */
static int pod_routes(cs_cli *cli, const char *name, json_t *rec, char **up, char **loc)
{
	char *old = getenv("CS_FASTCGI_PARAMS") ? strdup(getenv("CS_FASTCGI_PARAMS")) : NULL;
	size_t ulen = 0, llen = 0;
	FILE *uf = open_memstream(up, &ulen), *lf = open_memstream(loc, &llen);
	json_t *deps, *manifest;
	long long timeout_ms = 60000;
	int rc;

	manifest = json_loads(jstr(rec, "manifest", "{}"), 0, NULL);
	if (manifest) {
		json_t *t = json_object_get(json_object_get(manifest, "limits"), "request_timeout_ms");

		if (json_is_integer(t))
			timeout_ms = json_integer_value(t);
		json_decref(manifest);
	}
	deps = json_pack("[{s:s,s:s,s:s,s:s,s:I}]", "name", name, "state", "running",
			 "sockets", "[\"" POD_SOCKET "\"]", "max_body_bytes",
			 jstr(rec, "max_body_bytes", "1048576"), "request_timeout_ms",
			 (json_int_t)timeout_ms);
	/* the image's nginx has Debian's fastcgi_params, whatever this machine has */
	setenv("CS_FASTCGI_PARAMS", "/etc/nginx/fastcgi_params", 1);
	rc = uf && lf && deps ? cli_routes_render(cli, deps, uf, lf) : CLI_FAIL;
	if (old)
		setenv("CS_FASTCGI_PARAMS", old, 1);
	else
		unsetenv("CS_FASTCGI_PARAMS");
	free(old);
	json_decref(deps);
	if (uf)
		fclose(uf);
	if (lf)
		fclose(lf);
	return rc;
}

/* Drops the "# generated by cubeserve from <this machine's path>" line. */
static char *drop_generated_line(char *s)
{
	if (s && strncmp(s, "# generated by", 14) == 0) {
		char *nl = strchr(s, '\n');

		memmove(s, nl ? nl + 1 : s + strlen(s), strlen(nl ? nl + 1 : "") + 1);
	}
	return s;
}

static char *read_text(const char *path)
{
	FILE *f = fopen(path, "r");
	char *s = NULL;
	size_t len = 0;
	FILE *m;
	int c;

	if (!f)
		return NULL;
	m = open_memstream(&s, &len);
	while (m && (c = fgetc(f)) != EOF)
		fputc(c, m);
	fclose(f);
	if (m)
		fclose(m);
	return s;
}

typedef struct model_view {
	const char *name, *version;
	json_t *rec;      /* the version's hash */
	json_t *blobs;    /* array of sha256 */
	long cpu_m;
	const char *cpu, *memory;
	int processes, min_rep, max_rep;
	long long min_proc, max_proc;
	char kname[64];
} model_view;

static json_t *configmap(cs_cli *cli, const model_view *m, const k8s_opts *o)
{
	char *up = NULL, *loc = NULL, *conf, *fetch, *errors, p[PATH_MAX + 32];
	json_t *cm = NULL;

	snprintf(p, sizeof p, "%s/errors.conf", cli->nginx_dir);
	errors = read_text(p);
	if (!errors) {
		cli_err(cli, "cannot read '%s': %s", p, strerror(errno));
		return NULL;
	}
	conf = pod_nginx_conf(o->port);
	fetch = fetch_script(m->name, m->version, m->blobs);
	if (conf && fetch && pod_routes(cli, m->name, m->rec, &up, &loc) == CLI_OK)
		cm = json_pack("{s:s,s:s,s:o,s:{s:s,s:s,s:s,s:s,s:s}}", "apiVersion", "v1",
			       "kind", "ConfigMap", "metadata",
			       meta(m->kname, o, labels_for(m->name, m->version)), "data",
			       "nginx.conf", conf, "upstreams.conf", drop_generated_line(up),
			       "locations.conf", drop_generated_line(loc), "errors.conf", errors,
			       "fetch-model.sh", fetch);
	free(up);
	free(loc);
	free(conf);
	free(fetch);
	free(errors);
	return cm;
}

static json_t *deployment(const model_view *m, const k8s_opts *o)
{
	char ref[160], procs[16], health[96];
	json_t *labels = labels_for(m->name, m->version), *sel, *init, *worker, *nginx;
	json_t *pod, *volumes, *d;

	snprintf(ref, sizeof ref, "%s@%s", m->name, m->version);
	snprintf(procs, sizeof procs, "%d", m->processes);
	snprintf(health, sizeof health, "/health/%s", m->name);
	sel = json_pack("{s:s,s:s}", "app.kubernetes.io/name", "cubeserve",
			"app.kubernetes.io/instance", m->name);
	init = json_pack("{s:s,s:s,s:[s,s],s:[{s:s,s:s},{s:s,s:s}],"
			 "s:[{s:s,s:s,s:b},{s:s,s:s}],s:{s:{s:s,s:s},s:{s:s}},s:o}",
			 "name", "fetch-model", "image", o->image,
			 "command", "/bin/sh", POD_CONFIG "/fetch-model.sh",
			 "env", "name", "CUBESERVE_STORE_URL", "value", o->store_url,
			 "name", "CUBESERVE_STORE", "value", POD_STORE,
			 "volumeMounts", "name", "config", "mountPath", POD_CONFIG, "readOnly", 1,
			 "name", "store", "mountPath", POD_STORE,
			 "resources", "requests", "cpu", "50m", "memory", "32Mi",
			 "limits", "memory", "128Mi",
			 "securityContext", restricted());
	worker = json_pack("{s:s,s:s,s:[s],s:[s,s,s,s,s,s],s:[o,{s:s,s:s}],"
			   "s:{s:{s:s,s:s},s:{s:s}},s:[{s:s,s:s},{s:s,s:s}],s:o,s:o,s:o}",
			   "name", "worker", "image", o->image, "command", "cubeserve-worker",
			   "args", "--model", ref, "--listen", "unix:" POD_SOCKET,
			   "--processes", procs,
			   "env", registry_env(o), "name", "CUBESERVE_STORE", "value", POD_STORE,
			   "resources", "requests", "cpu", m->cpu, "memory", m->memory,
			   "limits", "memory", m->memory,
			   "volumeMounts", "name", "store", "mountPath", POD_STORE,
			   "name", "sockets", "mountPath", POD_SOCKETS,
			   "livenessProbe", exec_probe("/health", 10, 5, 6),
			   "startupProbe", exec_probe("/health", 2, 2, 150),
			   "securityContext", restricted());
	/* nginx's prefix (pid, temp files) lives in the writable /tmp volume */
	nginx = json_pack("{s:s,s:s,s:[s,s,s],s:[{s:s,s:i,s:s}],s:o,s:o,"
			  "s:{s:{s:s,s:s},s:{s:s}},s:[{s:s,s:s,s:b},{s:s,s:s},{s:s,s:s}],s:o}",
			  "name", "nginx", "image", o->image, "command", "/bin/sh", "-c",
			  "mkdir -p /tmp/nginx && exec nginx -p /tmp/nginx -c " POD_CONFIG "/nginx.conf",
			  "ports", "name", "http", "containerPort", o->port, "protocol", "TCP",
			  "readinessProbe", http_probe(health, 5, 2, 2),
			  "livenessProbe", http_probe("/nginx-health", 10, 5, 3),
			  "resources", "requests", "cpu", "50m", "memory", "32Mi",
			  "limits", "memory", "128Mi",
			  "volumeMounts", "name", "config", "mountPath", POD_CONFIG, "readOnly", 1,
			  "name", "sockets", "mountPath", POD_SOCKETS,
			  "name", "tmp", "mountPath", "/tmp",
			  "securityContext", restricted());
	volumes = json_pack("[{s:s,s:{s:s,s:i}},{s:s,s:{}},{s:s,s:{}},{s:s,s:{}}]",
			    "name", "config", "configMap", "name", m->kname, "defaultMode", 0555,
			    "name", "store", "emptyDir", "name", "sockets", "emptyDir",
			    "name", "tmp", "emptyDir");
	pod = json_pack("{s:i,s:{s:b,s:i,s:i,s:i,s:{s:s}},s:[o],s:[o,o],s:o}",
			"terminationGracePeriodSeconds", 30,
			"securityContext", "runAsNonRoot", 1, "runAsUser", POD_UID,
			"runAsGroup", POD_UID, "fsGroup", POD_UID,
			"seccompProfile", "type", "RuntimeDefault",
			"initContainers", init, "containers", worker, nginx, "volumes", volumes);
	d = json_pack("{s:s,s:s,s:o,s:{s:i,s:{s:O},s:{s:s,s:{s:i,s:i}},"
		      "s:{s:{s:O,s:{s:s}},s:o}}}",
		      "apiVersion", "apps/v1", "kind", "Deployment",
		      "metadata", meta(m->kname, o, json_incref(labels)),
		      "spec", "replicas", m->min_rep, "selector", "matchLabels", sel,
		      "strategy", "type", "RollingUpdate", "rollingUpdate", "maxUnavailable", 0,
		      "maxSurge", 1,
		      "template", "metadata", "labels", labels, "annotations",
		      "cubeserve.io/model", ref, "spec", pod);
	json_decref(labels);
	json_decref(sel);
	return d;
}

static json_t *service(const char *kname, const char *model, const char *version,
		       const k8s_opts *o, int port, const char *target)
{
	json_t *sel = json_pack("{s:s,s:s}", "app.kubernetes.io/name", "cubeserve",
				"app.kubernetes.io/instance", model);

	return json_pack("{s:s,s:s,s:o,s:{s:s,s:o,s:[{s:s,s:i,s:s,s:s}]}}", "apiVersion", "v1",
			 "kind", "Service", "metadata", meta(kname, o, labels_for(model, version)),
			 "spec", "type", "ClusterIP", "selector", sel, "ports", "name", "http",
			 "port", port, "targetPort", target, "protocol", "TCP");
}

static json_t *scaled_object(const model_view *m, const k8s_opts *o)
{
	char url[600], target[16];

	snprintf(url, sizeof url, "%s/hint/%s", o->hints_url, m->name);
	snprintf(target, sizeof target, "%d", m->processes);
	/*
	 * The hint is the desired number of worker processes of the model;
	 * with AverageValue the HPA runs ceil(desired / target) pods, and
	 * target is the processes one pod runs.
	 */
	return json_pack("{s:s,s:s,s:o,s:{s:{s:s,s:s,s:s},s:i,s:i,s:i,s:i,s:{s:i,s:i},"
			 "s:[{s:s,s:s,s:s,s:{s:s,s:s,s:s,s:s}}]}}",
			 "apiVersion", "keda.sh/v1alpha1", "kind", "ScaledObject",
			 "metadata", meta(m->kname, o, labels_for(m->name, m->version)),
			 "spec", "scaleTargetRef", "apiVersion", "apps/v1", "kind", "Deployment",
			 "name", m->kname, "pollingInterval", 15, "cooldownPeriod", 120,
			 "minReplicaCount", m->min_rep, "maxReplicaCount", m->max_rep,
			 "fallback", "failureThreshold", 4, "replicas", m->min_rep,
			 "triggers", "type", "metrics-api", "name", "cubeserve-hint",
			 "metricType", "AverageValue", "metadata", "url", url, "format", "json",
			 "valueLocation", "desired", "targetValue", target);
}

static json_t *hints_deployment(const k8s_opts *o)
{
	char listen[32];
	json_t *labels = labels_for("cubeserve-hints", NULL), *sel, *c, *d;

	snprintf(listen, sizeof listen, "0.0.0.0:%d", HINTS_PORT);
	sel = json_pack("{s:s,s:s}", "app.kubernetes.io/name", "cubeserve",
			"app.kubernetes.io/instance", "cubeserve-hints");
	c = json_pack("{s:s,s:s,s:[s,s,s,s,s],s:[o],s:[{s:s,s:i,s:s}],s:o,s:o,"
		      "s:{s:{s:s,s:s},s:{s:s}},s:o}",
		      "name", "hints", "image", o->image, "command", "cubeserve", "k8s",
		      "serve-hints", "--listen", listen, "env", registry_env(o),
		      "ports", "name", "http", "containerPort", HINTS_PORT, "protocol", "TCP",
		      "readinessProbe", http_probe("/healthz", 10, 2, 3),
		      "livenessProbe", http_probe("/healthz", 20, 5, 3),
		      "resources", "requests", "cpu", "20m", "memory", "16Mi", "limits", "memory", "64Mi",
		      "securityContext", restricted());
	d = json_pack("{s:s,s:s,s:o,s:{s:i,s:{s:O},s:{s:{s:O},s:{s:{s:b,s:i,s:i},s:[o]}}}}",
		      "apiVersion", "apps/v1", "kind", "Deployment",
		      "metadata", meta("cubeserve-hints", o, json_incref(labels)), "spec", "replicas", 1,
		      "selector", "matchLabels", sel, "template", "metadata", "labels", labels,
		      "spec", "securityContext", "runAsNonRoot", 1, "runAsUser", POD_UID,
		      "runAsGroup", POD_UID, "containers", c);
	json_decref(labels);
	json_decref(sel);
	return d;
}

/* ------------------------------------------------------------ export */

/* Writes one object: to stdout, or to DIR/<kind>-<name>.yaml. */
static int emit(cs_cli *cli, const k8s_opts *o, json_t *obj)
{
	char path[PATH_MAX], kind[64];
	FILE *f = stdout;
	int rc;

	if (!obj) {
		cli_err(cli, "internal: could not build a manifest (out of memory?)");
		return CLI_FAIL;
	}
	if (o->out_dir) {
		snprintf(kind, sizeof kind, "%s", jstr(obj, "kind", "object"));
		for (char *p = kind; *p; p++)
			if (*p >= 'A' && *p <= 'Z')
				*p = (char)(*p - 'A' + 'a');
		snprintf(path, sizeof path, "%s/%s-%s.yaml", o->out_dir, kind,
			 jstr(json_object_get(obj, "metadata"), "name", "x"));
		f = fopen(path, "w");
		if (!f) {
			cli_err(cli, "cannot write '%s': %s", path, strerror(errno));
			json_decref(obj);
			return CLI_FAIL;
		}
	}
	rc = cli_yaml_document(f, obj);
	if (f != stdout) {
		if (fclose(f) != 0)
			rc = -1;
		if (rc == 0 && !cli->json)
			fprintf(stderr, "  wrote %s\n", path);
	} else {
		fflush(stdout);
	}
	json_decref(obj);
	if (rc != 0) {
		cli_err(cli, "writing the manifests failed: %s", strerror(errno));
		return CLI_FAIL;
	}
	return CLI_OK;
}

static int int_opt(cs_cli *cli, const char *what, const char *arg, int lo, int hi, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(arg, &end, 10);
	if (errno || *end || end == arg || v < lo || v > hi) {
		cli_err(cli, "%s '%s' is not a number %d..%d", what, arg, lo, hi);
		return CLI_USAGE;
	}
	*out = (int)v;
	return CLI_OK;
}

static int name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 63 || s[0] == '-' || s[n - 1] == '-')
		return 0;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-'))
			return 0;
	return 1;
}

static int k8s_export(cs_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"namespace", required_argument, NULL, 'n'},
		{"image", required_argument, NULL, 'i'},
		{"cpu", required_argument, NULL, 'c'},
		{"memory", required_argument, NULL, 'm'},
		{"processes", required_argument, NULL, 'p'},
		{"min-replicas", required_argument, NULL, 'a'},
		{"max-replicas", required_argument, NULL, 'b'},
		{"registry-secret", required_argument, NULL, 's'},
		{"store-url", required_argument, NULL, 'S'},
		{"hints-url", required_argument, NULL, 'H'},
		{"hints-server", no_argument, NULL, 'Z'},
		{"port", required_argument, NULL, 'P'},
		{"output", required_argument, NULL, 'o'},
		{NULL, 0, NULL, 0},
	};
	char ref[256], *at, image[128], store_url[256], hints_url[256];
	k8s_opts o = {.ns = "default", .secret = "cubeserve-registry", .port = 8080};
	model_view m = {0};
	json_t *model = NULL, *manifest = NULL, *res;
	struct stat st;
	int c, rc;

	snprintf(image, sizeof image, "cubeserve:%s", CS_VERSION);
	o.image = image;
	while ((c = cli_getopt(cli, argc, argv, "o:", opts)) != -1) {
		rc = CLI_OK;
		switch (c) {
		case 'n': o.ns = optarg; break;
		case 'i': o.image = optarg; break;
		case 'c': o.cpu = optarg; break;
		case 'm': o.memory = optarg; break;
		case 'p': rc = int_opt(cli, "--processes", optarg, 1, 64, &o.processes); break;
		case 'a': rc = int_opt(cli, "--min-replicas", optarg, 1, 1000, &o.min_replicas); break;
		case 'b': rc = int_opt(cli, "--max-replicas", optarg, 1, 1000, &o.max_replicas); break;
		case 's': o.secret = optarg; break;
		case 'S': o.store_url = optarg; break;
		case 'H': o.hints_url = optarg; break;
		case 'Z': o.hints_server = 1; break;
		case 'P': rc = int_opt(cli, "--port", optarg, 1, 65535, &o.port); break;
		case 'o': o.out_dir = optarg; break;
		case CLI_OPT_HELP: return CLI_OK;
		default: return CLI_USAGE;
		}
		if (rc != CLI_OK)
			return rc;
	}
	if (optind + 1 != argc) {
		cli_err(cli, "give one model: cubeserve k8s export NAME[@VERSION] (see --help)");
		return CLI_USAGE;
	}
	if (!name_ok(o.ns) || !name_ok(o.secret)) {
		cli_err(cli, "--namespace '%s' / --registry-secret '%s': lower-case letters, digits and '-', at most 63",
			o.ns, o.secret);
		return CLI_USAGE;
	}
	if (o.out_dir && (stat(o.out_dir, &st) != 0 || !S_ISDIR(st.st_mode))) {
		cli_err(cli, "-o '%s' is not a directory", o.out_dir);
		return CLI_USAGE;
	}
	if (o.max_replicas && o.min_replicas > o.max_replicas) {
		cli_err(cli, "--min-replicas %d is above --max-replicas %d", o.min_replicas, o.max_replicas);
		return CLI_USAGE;
	}
	if (!o.store_url) {
		snprintf(store_url, sizeof store_url, "http://cubeserve-store.%s.svc:8081", o.ns);
		o.store_url = store_url;
	}
	if (!o.hints_url) {
		snprintf(hints_url, sizeof hints_url, "http://cubeserve-hints.%s.svc:%d", o.ns, HINTS_PORT);
		o.hints_url = hints_url;
	}
	if (strncmp(o.store_url, "http://", 7) != 0 && strncmp(o.store_url, "https://", 8) != 0) {
		cli_err(cli, "--store-url '%s' must be an http:// or https:// URL", o.store_url);
		return CLI_USAGE;
	}
	if (strncmp(o.hints_url, "http://", 7) != 0 && strncmp(o.hints_url, "https://", 8) != 0) {
		cli_err(cli, "--hints-url '%s' must be an http:// or https:// URL", o.hints_url);
		return CLI_USAGE;
	}

	snprintf(ref, sizeof ref, "%s", argv[optind]);
	at = strchr(ref, '@');
	if (at)
		*at++ = '\0';
	if (!*ref || (at && !*at)) {
		cli_err(cli, "'%s' is not NAME or NAME@VERSION", argv[optind]);
		return CLI_USAGE;
	}
	if ((rc = cli_registry(cli, 0)) != CLI_OK) {
		if (rc == CLI_NOTFOUND)
			cli_err(cli, "no model named '%s' in the registry (it is empty)", ref);
		return rc;
	}
	if (cs_registry_model(cli->reg, ref, at, 0, &model) != CS_OK)
		return cli_reg_fail(cli);
	m.name = ref;
	m.rec = json_object_get(model, "record");
	if (!m.rec) {
		cli_err(cli, "model '%s' has no default version; give NAME@VERSION", ref);
		rc = CLI_NOTFOUND;
		goto out;
	}
	m.version = jstr(m.rec, "version", "");
	if (k8s_name(m.kname, sizeof m.kname, "cubeserve-", ref) != 0) {
		cli_err(cli, "model name '%s' is too long for a Kubernetes name (cubeserve-NAME, at most 63)", ref);
		rc = CLI_USAGE;
		goto out;
	}
	m.blobs = json_loads(jstr(m.rec, "blobs", "[]"), 0, NULL);
	manifest = json_loads(jstr(m.rec, "manifest", "{}"), 0, NULL);
	if (!json_is_array(m.blobs) || !json_is_object(manifest)) {
		cli_err(cli, "the registry's record of %s@%s has no readable blobs or manifest", ref, m.version);
		rc = CLI_FAIL;
		goto out;
	}
	for (size_t i = 0; i < json_array_size(m.blobs); i++)
		if (!json_is_string(json_array_get(m.blobs, i)) ||
		    !cs_sha256_valid(json_string_value(json_array_get(m.blobs, i)))) {
			cli_err(cli, "the registry's record of %s@%s lists a blob that is not a sha256", ref,
				m.version);
			rc = CLI_FAIL;
			goto out;
		}

	/* resources: the flags, else the manifest's, else one core and 512Mi */
	res = json_object_get(manifest, "resources");
	m.cpu = o.cpu ? o.cpu : jstr(res, "cpu", "1");
	m.memory = o.memory ? o.memory : jstr(res, "memory", "512Mi");
	m.cpu_m = cpu_millis(m.cpu);
	if (m.cpu_m <= 0) {
		cli_err(cli, "CPU request '%s' is not a quantity such as 2, 1.5 or 500m", m.cpu);
		rc = CLI_USAGE;
		goto out;
	}
	if (!memory_ok(m.memory)) {
		cli_err(cli, "memory request '%s' is not a quantity such as 512Mi or 2Gi", m.memory);
		rc = CLI_USAGE;
		goto out;
	}
	/* one process per whole core requested, at least one */
	m.processes = o.processes ? o.processes : (int)(m.cpu_m / 1000 > 0 ? m.cpu_m / 1000 : 1);
	if (m.processes > 64)
		m.processes = 64;

	/* replicas: the deployment's min/max processes, over processes per pod */
	{
		json_t *dep = json_object_get(model, "deployment");

		m.min_proc = dep ? jnum(dep, "min", 1) : 1;
		m.max_proc = dep ? jnum(dep, "max", 8) : 8;
		m.min_rep = (int)((m.min_proc + m.processes - 1) / m.processes);
		m.max_rep = (int)((m.max_proc + m.processes - 1) / m.processes);
		if (m.min_rep < 1)
			m.min_rep = 1;
		if (o.min_replicas)
			m.min_rep = o.min_replicas;
		if (o.max_replicas)
			m.max_rep = o.max_replicas;
		if (m.max_rep < m.min_rep)
			m.max_rep = m.min_rep > 0 ? m.min_rep : 1;
		if (m.max_rep < 1)
			m.max_rep = 1;
	}

	if ((rc = emit(cli, &o, configmap(cli, &m, &o))) != CLI_OK)
		goto out;
	if ((rc = emit(cli, &o, deployment(&m, &o))) != CLI_OK)
		goto out;
	if ((rc = emit(cli, &o, service(m.kname, m.name, m.version, &o, 80, "http"))) != CLI_OK)
		goto out;
	if ((rc = emit(cli, &o, scaled_object(&m, &o))) != CLI_OK)
		goto out;
	if (o.hints_server) {
		if ((rc = emit(cli, &o, hints_deployment(&o))) != CLI_OK)
			goto out;
		rc = emit(cli, &o, service("cubeserve-hints", "cubeserve-hints", NULL, &o,
					   HINTS_PORT, "http"));
	}
out:
	json_decref(m.blobs);
	json_decref(manifest);
	json_decref(model);
	return rc;
}

/* ------------------------------------------------------------ serve-hints */

static volatile sig_atomic_t stop_hints;

static void on_stop(int sig)
{
	(void)sig;
	stop_hints = 1;
}

static void http_reply(int fd, int status, const char *reason, const char *body)
{
	char head[256];
	int n = snprintf(head, sizeof head,
			 "HTTP/1.0 %d %s\r\nContent-Type: application/json\r\n"
			 "Content-Length: %zu\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
			 status, reason, strlen(body));

	if (write(fd, head, (size_t)n) < 0 || write(fd, body, strlen(body)) < 0)
		return; /* the client went away; nothing to do */
}

static void http_error(int fd, int status, const char *reason, const char *msg)
{
	json_t *o = json_pack("{s:s}", "error", msg);
	char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;

	http_reply(fd, status, reason, s ? s : "{\"error\": \"out of memory\"}");
	free(s);
	json_decref(o);
}

static long long wall_ms(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* GET /hint/NAME: the model's hint from Redis, as JSON. */
static void serve_hint(cs_cli *cli, int fd, const char *name)
{
	char key[200], msg[CS_ERROR_SIZE * 2 + 64], *body;
	json_t *h = NULL, *o;
	long long desired, t;
	int rc;

	if (!cs_name_valid(name)) {
		http_error(fd, 400, "Bad Request", "not a model name");
		return;
	}
	if (!cli->reg && cli_registry(cli, 0) != CLI_OK) {
		http_error(fd, 503, "Service Unavailable", "the registry cannot be reached");
		return;
	}
	cs_registry_key(cli->reg, key, sizeof key, "hint:%s", name);
	rc = cs_registry_hash(cli->reg, key, &h);
	if (rc == CS_EUNAVAILABLE) {
		/* reconnect on the next request */
		snprintf(msg, sizeof msg, "%s", cli->reg->errstr);
		cs_registry_close(cli->reg);
		cli->reg = NULL;
		cli->schema_ok = 0;
		http_error(fd, 503, "Service Unavailable", msg);
		return;
	}
	if (rc == CS_ENOTFOUND) {
		snprintf(msg, sizeof msg, "no scaling hint for model '%s' (cubeserve autoscale or scale writes it)", name);
		http_error(fd, 404, "Not Found", msg);
		return;
	}
	if (rc != CS_OK) {
		http_error(fd, 500, "Internal Server Error", cli->reg->errstr);
		return;
	}
	desired = jnum(h, "desired", -1);
	t = jnum(h, "time", 0);
	if (desired < 0) {
		snprintf(msg, sizeof msg, "the hint of model '%s' has no number 'desired'", name);
		http_error(fd, 500, "Internal Server Error", msg);
		json_decref(h);
		return;
	}
	o = json_pack("{s:s,s:I,s:s,s:I,s:I}", "model", name, "desired", (json_int_t)desired,
		      "reason", jstr(h, "reason", ""), "time", (json_int_t)t, "age_ms",
		      (json_int_t)(t > 0 ? wall_ms() - t : -1));
	body = o ? json_dumps(o, JSON_COMPACT) : NULL;
	if (body)
		http_reply(fd, 200, "OK", body);
	else
		http_error(fd, 500, "Internal Server Error", "out of memory");
	free(body);
	json_decref(o);
	json_decref(h);
}

static void serve_one(cs_cli *cli, int fd)
{
	char buf[2048], method[8], path[512];
	struct timeval tv = {5, 0};
	size_t len = 0;
	ssize_t got;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	/* the request line and headers; the body (none for GET) is ignored */
	while (len < sizeof buf - 1 && (got = read(fd, buf + len, sizeof buf - 1 - len)) > 0) {
		len += (size_t)got;
		buf[len] = '\0';
		if (strstr(buf, "\r\n\r\n") || strstr(buf, "\n\n"))
			break;
	}
	buf[len] = '\0';
	if (sscanf(buf, "%7s %511s", method, path) != 2) {
		http_error(fd, 400, "Bad Request", "not an HTTP request");
		return;
	}
	if (strcmp(method, "GET") != 0) {
		http_error(fd, 405, "Method Not Allowed", "only GET");
		return;
	}
	path[strcspn(path, "?")] = '\0';
	if (strcmp(path, "/healthz") == 0) {
		http_reply(fd, 200, "OK", "{\"status\":\"ok\"}");
		return;
	}
	if (strncmp(path, "/hint/", 6) == 0) {
		serve_hint(cli, fd, path + 6);
		return;
	}
	http_error(fd, 404, "Not Found", "no such endpoint (GET /hint/NAME, /healthz)");
}

static int k8s_serve_hints(cs_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"listen", required_argument, NULL, 'l'},
		{NULL, 0, NULL, 0},
	};
	char addr[128] = "0.0.0.0:8090", *colon;
	struct addrinfo hints = {0}, *ai = NULL;
	int c, fd, one = 1, rc;

	while ((c = cli_getopt(cli, argc, argv, "l:", opts)) != -1) {
		if (c == 'l')
			snprintf(addr, sizeof addr, "%s", optarg);
		else
			return c == CLI_OPT_HELP ? CLI_OK : CLI_USAGE;
	}
	if (optind != argc) {
		cli_err(cli, "unexpected argument '%s' (see --help)", argv[optind]);
		return CLI_USAGE;
	}
	colon = strrchr(addr, ':');
	if (!colon || colon == addr || !colon[1]) {
		cli_err(cli, "--listen '%s' is not HOST:PORT", addr);
		return CLI_USAGE;
	}
	*colon = '\0';
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((rc = getaddrinfo(addr, colon + 1, &hints, &ai)) != 0) {
		cli_err(cli, "--listen %s:%s: %s", addr, colon + 1, gai_strerror(rc));
		return CLI_USAGE;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 64) != 0) {
		cli_err(cli, "cannot listen on %s:%s: %s", addr, colon + 1, strerror(errno));
		freeaddrinfo(ai);
		if (fd >= 0)
			close(fd);
		return CLI_FAIL;
	}
	freeaddrinfo(ai);
	/* a registry that is down now may be up later: connect per request */
	cli_registry_default(cli);
	signal(SIGPIPE, SIG_IGN);
	{
		struct sigaction sa = {0};

		sa.sa_handler = on_stop; /* no SA_RESTART: accept() returns on a signal */
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
	}
	fprintf(stderr, "cubeserve k8s serve-hints: listening on %s:%s (GET /hint/NAME, /healthz)\n",
		addr, colon + 1);
	while (!stop_hints) {
		int cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC);

		if (cfd < 0)
			continue;
		serve_one(cli, cfd);
		close(cfd);
	}
	close(fd);
	return CLI_OK;
}

/* ------------------------------------------------------------ probe */

/* `cubeserve k8s probe SOCKET PATH`: 0 when a FastCGI GET answers 200. */
static int k8s_probe(cs_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"timeout", required_argument, NULL, 't'},
		{NULL, 0, NULL, 0},
	};
	int c, timeout_ms = 2000, status;
	char body[256];

	while ((c = cli_getopt(cli, argc, argv, "", opts)) != -1) {
		if (c == 't') {
			if (int_opt(cli, "--timeout", optarg, 1, 600000, &timeout_ms) != CLI_OK)
				return CLI_USAGE;
		} else {
			return c == CLI_OPT_HELP ? CLI_OK : CLI_USAGE;
		}
	}
	if (optind + 2 != argc) {
		cli_err(cli, "give SOCKET PATH: cubeserve k8s probe /run/cubeserve/worker.sock /health");
		return CLI_USAGE;
	}
	status = cli_fcgi_get(argv[optind], argv[optind + 1], timeout_ms, body, sizeof body);
	if (status == 200)
		return CLI_OK;
	if (status < 0)
		cli_err(cli, "%s does not answer GET %s within %d ms", argv[optind], argv[optind + 1],
			timeout_ms);
	else
		cli_err(cli, "GET %s over %s: status %d", argv[optind + 1], argv[optind], status);
	return CLI_FAIL;
}

int cli_cmd_k8s(cs_cli *cli, int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "export") == 0)
		return k8s_export(cli, argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "serve-hints") == 0)
		return k8s_serve_hints(cli, argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "probe") == 0)
		return k8s_probe(cli, argc - 1, argv + 1);
	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		cli_usage(cli, stdout);
		return CLI_OK;
	}
	cli_err(cli, "%s (see cubeserve k8s --help)",
		argc >= 2 ? "unknown k8s command; expected export, serve-hints or probe"
			  : "give a k8s command: export, serve-hints or probe");
	return CLI_USAGE;
}
