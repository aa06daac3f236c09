#!/bin/bash
# test_k8s.sh - `cubeserve k8s`: a private redis-server (unix socket) with the
# linear example published; the export (stdout and -o DIR) validated offline
# against the Kubernetes and KEDA schemas (tests/k8s/validate.js, npm
# packages), and the validator shown to refuse broken objects; resources and
# replicas from the flags, the manifest and the deployment; the refusals
# (model or version not published, bad quantities, Redis unreachable). Then
# the pod is run by hand on this machine: the init container's script
# fetches the blobs from the store served by nginx (and refuses a corrupt
# one), the worker runs as in the pod, the probe answers, the pod's nginx
# serves /health/NAME and the model. Last, serve-hints answers the hint the
# ScaledObject reads. Prints TAP.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -euo pipefail

case ${1:-} in
-h | --help)
	sed -n '2,12s/^# \{0,1\}//p' "$0"
	exit 0
	;;
esac

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck disable=SC1091
. "$here/lib.sh"
require_tools redis-server redis-cli node nginx curl jq sha256sum

CS=$CS_TOP_BUILDDIR/cubeserve
WORKER=$CS_TOP_BUILDDIR/cubeserve-worker
VALIDATE=$CS_TOP_SRCDIR/tests/k8s/validate.js
if [ ! -x "$CS" ] || [ ! -x "$WORKER" ]; then
	echo "1..1"; echo "not ok 1 - cubeserve and cubeserve-worker are built in $CS_TOP_BUILDDIR"; exit 1
fi
if [ ! -d "$CS_TOP_SRCDIR/tests/k8s/node_modules/kubernetes-models" ]; then
	echo "1..1"
	echo "not ok 1 - the validator's npm packages are installed (scripts/install-deps.sh, or: cd tests/k8s && npm ci)"
	exit 1
fi

run=$(mktemp -d /tmp/cs-k8s.XXXXXX)
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null || true
	done
	for p in "${pids[@]}"; do
		wait "$p" 2>/dev/null || true
	done
	if [ "$failed" -ne 0 ]; then echo "# run directory kept: $run"; else rm -rf "$run"; fi
}
trap cleanup EXIT

# free_port VAR: a free loopback port in 18600-18639 (this test's range),
# not handed out before, into VAR
used_ports=
free_port() {
	local p
	for p in $(seq 18600 18639); do
		case " $used_ports " in *" $p "*) continue ;; esac
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			used_ports="$used_ports $p"
			printf -v "$1" '%s' "$p"
			return 0
		fi
	done
	echo "# no free port in 18600-18639" >&2
	return 1
}
quiet() { "$@" >/dev/null 2>&1; }

redis-server --port 0 --unixsocket "$run/redis.sock" --unixsocketperm 700 --dir "$run" \
	--save '' --appendonly no >"$run/redis.log" 2>&1 &
redis_pid=$!
pids+=("$redis_pid")
export CUBESERVE_REGISTRY=unix:$run/redis.sock CUBESERVE_STORE=$run/store
export CUBESERVE_RUN_DIR=$run/cs CUBESERVE_WORKER=$WORKER
if ! wait_for 10 redis-cli -s "$run/redis.sock" ping >/dev/null 2>&1; then
	echo "1..1"; echo "not ok 1 - private redis-server started"; sed 's/^/#   /' "$run/redis.log"; exit 1
fi
if "$CS" publish "$CS_TOP_SRCDIR/examples/linear" >"$run/pub.out" 2>&1; then
	pass "linear@1.0.0 published into a private registry"
else
	fail "publish linear" "$(tail -n 5 "$run/pub.out")"
fi

# --- export to stdout, validated -------------------------------------------
out=$run/all.yaml
if "$CS" k8s export linear --namespace models --hints-server >"$out" 2>"$run/export.err"; then
	pass "k8s export linear writes YAML to stdout"
else
	fail "k8s export linear" "$(cat "$run/export.err")"
fi
kinds=$(grep '^kind:' "$out" | tr -d '"' | awk '{print $2}' | sort | tr '\n' ' ')
if [ "$kinds" = "ConfigMap Deployment Deployment ScaledObject Service Service " ] &&
	[ "$(grep -c '^---$' "$out")" = 6 ]; then
	pass "six documents: ConfigMap, Deployment, Service, ScaledObject, and the hints Deployment + Service"
else
	fail "the documents exported" "kinds: $kinds"
fi
if node "$VALIDATE" "$out" >"$run/validate.out" 2>&1; then
	pass "every object validates against the Kubernetes / KEDA schemas, strict fields, cross-references ($(grep -c '^ok' "$run/validate.out") checks)"
else
	fail "validation of the export" "$(grep -v '^ok' "$run/validate.out" | head -n 10)"
fi
if ! grep -q 'redis\.sock\|unix:' <(grep -v 'unix:/run/cubeserve/worker.sock' "$out"); then
	pass "the registry address is not in the YAML (the pods get it from a Secret)"
else
	fail "the registry address leaks into the YAML" "$(grep -n 'redis\.sock\|unix:' "$out" | head -n 3)"
fi

# the validator refuses what the cluster would refuse
sed 's/containerPort: 8080/containerPort: "eighty"/' "$out" >"$run/bad1.yaml"
sed 's/^\(      terminationGracePeriodSeconds: 30\)$/\1\n      terminationGracePeriod: 30/' "$out" >"$run/bad2.yaml"
sed 's/^\(  maxReplicaCount:\) .*/\1 0/' "$out" >"$run/bad3.yaml"
bad=0
for f in bad1 bad2 bad3; do
	if cmp -s "$out" "$run/$f.yaml"; then
		fail "fixture $f differs from the export (the sed found its line)"
	elif node "$VALIDATE" "$run/$f.yaml" >"$run/$f.out" 2>&1; then
		fail "validator refuses $f" "$(tail -n 3 "$run/$f.out")"
	else
		bad=$((bad + 1))
	fi
done
if [ "$bad" = 3 ]; then
	pass "the validator refuses a wrong type, an unknown field and maxReplicaCount 0"
fi

# --- -o DIR -----------------------------------------------------------------
mkdir "$run/out"
if "$CS" k8s export linear@1.0.0 -o "$run/out" >/dev/null 2>"$run/o.err" &&
	[ -f "$run/out/configmap-cubeserve-linear.yaml" ] && [ -f "$run/out/deployment-cubeserve-linear.yaml" ] &&
	[ -f "$run/out/service-cubeserve-linear.yaml" ] && [ -f "$run/out/scaledobject-cubeserve-linear.yaml" ] &&
	node "$VALIDATE" "$run"/out/*.yaml >"$run/o.out" 2>&1; then
	pass "-o DIR writes one valid file per object"
else
	fail "-o DIR" "$(cat "$run/o.err")" "$(ls "$run/out")" "$(grep -v '^ok' "$run/o.out" 2>/dev/null | head -n 5)"
fi

# --- resources, processes, replicas -----------------------------------------
yq_json() { node -e 'const Y=require(process.argv[1]);const d=Y.parseAllDocuments(require("fs").readFileSync(0,"utf8")).map(x=>x.toJS());console.log(JSON.stringify(d))' "$CS_TOP_SRCDIR/tests/k8s/node_modules/yaml"; }
"$CS" k8s export linear --cpu 2500m --memory 1Gi | yq_json >"$run/r.json"
w='.[] | select(.kind=="Deployment") | .spec.template.spec.containers[] | select(.name=="worker")'
if [ "$(jq -r "$w | .args | join(\" \")" "$run/r.json")" = "--model linear@1.0.0 --listen unix:/run/cubeserve/worker.sock --processes 2" ] &&
	[ "$(jq -r "$w | .resources.requests.cpu + \" \" + .resources.requests.memory + \" \" + .resources.limits.memory" "$run/r.json")" = "2500m 1Gi 1Gi" ] &&
	[ "$(jq -r '.[] | select(.kind=="ScaledObject") | .spec.triggers[0].metadata.targetValue' "$run/r.json")" = 2 ]; then
	pass "--cpu 2500m: requests 2500m/1Gi, 2 worker processes, KEDA target 2 processes a pod"
else
	fail "--cpu 2500m --memory 1Gi" "$(jq -c "$w | [.args, .resources]" "$run/r.json")"
fi
mkdir -p "$run/big"
cp "$CS_TOP_SRCDIR/examples/linear/weights.json" "$CS_TOP_SRCDIR/examples/linear/glue.lua" "$run/big/"
jq '.version = "1.1.0" | .resources = {"cpu": "3", "memory": "768Mi"}' \
	"$CS_TOP_SRCDIR/examples/linear/model.json" >"$run/big/model.json"
if "$CS" publish "$run/big" >"$run/pub2.out" 2>&1 &&
	"$CS" k8s export linear@1.1.0 | yq_json >"$run/m.json" &&
	[ "$(jq -r "$w | .args[-1] + \" \" + .resources.requests.cpu + \" \" + .resources.requests.memory" "$run/m.json")" = "3 3 768Mi" ]; then
	pass "the manifest's resources (cpu 3, 768Mi) give the requests and 3 processes"
else
	fail "manifest resources" "$(tail -n 3 "$run/pub2.out")" "$(jq -c "$w | [.args, .resources]" "$run/m.json" 2>&1)"
fi
# the deployment's min/max processes become replicas (ceil over processes a pod)
redis-cli -s "$run/redis.sock" hset cs:deployment:linear version 1.0.0 min 3 max 12 >/dev/null
so='.[] | select(.kind=="ScaledObject") | .spec'
"$CS" k8s export linear --cpu 2 | yq_json >"$run/d.json"
got=$(jq -r "$so | \"\(.minReplicaCount) \(.maxReplicaCount) \(.fallback.replicas)\"" "$run/d.json")
"$CS" k8s export linear --cpu 2 --min-replicas 1 --max-replicas 20 | yq_json >"$run/d2.json"
got2=$(jq -r "$so | \"\(.minReplicaCount) \(.maxReplicaCount)\"" "$run/d2.json")
redis-cli -s "$run/redis.sock" del cs:deployment:linear >/dev/null
if [ "$got" = "2 6 2" ] && [ "$got2" = "1 20" ]; then
	pass "deployment min 3 / max 12 processes at 2 a pod: 2..6 replicas (flags override: 1..20)"
else
	fail "replicas from the deployment" "got '$got' and '$got2'"
fi

# --- refusals ------------------------------------------------------------------
expect() { # expect CODE PATTERN CMD...: exit code and message
	local code=$1 pat=$2 rc=0
	shift 2
	"$@" >"$run/e.out" 2>&1 || rc=$?
	[ "$rc" = "$code" ] && grep -q -- "$pat" "$run/e.out"
}
if expect 4 "no model named 'nosuch'" "$CS" k8s export nosuch &&
	expect 4 "model 'linear' has no version '9.9'" "$CS" k8s export linear@9.9; then
	pass "an unpublished model or version: exit 4, named"
else
	fail "unpublished model / version" "$(cat "$run/e.out")"
fi
if expect 2 "CPU request 'lots'" "$CS" k8s export linear --cpu lots &&
	expect 2 "memory request '1GB'" "$CS" k8s export linear --memory 1GB &&
	expect 2 "not NAME or NAME@VERSION" "$CS" k8s export linear@ &&
	expect 2 "not a directory" "$CS" k8s export linear -o "$run/nowhere" &&
	expect 2 "unknown k8s command" "$CS" k8s frobnicate; then
	pass "bad quantities, NAME@, a missing -o directory, an unknown verb: exit 2, named"
else
	fail "bad usage" "$(cat "$run/e.out")"
fi
if expect 3 "cannot reach Redis" env CUBESERVE_REGISTRY="unix:$run/none.sock" "$CS" k8s export linear; then
	pass "Redis unreachable: exit 3"
else
	fail "Redis unreachable" "$(cat "$run/e.out")"
fi

# --- the pod, by hand ----------------------------------------------------------
# The ConfigMap's files, with the pod's absolute paths moved into $run/pod.
pod=$run/pod
mkdir -p "$pod/etc" "$pod/run" "$pod/tmp" "$pod/store" "$pod/serve/bad/sha256"
jq -r '.[] | select(.kind=="ConfigMap" and .metadata.name=="cubeserve-linear") | .data | to_entries[] | @base64' \
	<(yq_json <"$out") | while read -r e; do
	name=$(echo "$e" | base64 -d | jq -r .key)
	echo "$e" | base64 -d | jq -r .value >"$pod/etc/$name"
done
free_port port
free_port store_port
sed -i -e "s#/etc/cubeserve#$pod/etc#g" -e "s#/run/cubeserve#$pod/run#g" -e "s#/tmp/nginx#$pod/tmp#g" \
	-e "s#listen 8080;#listen 127.0.0.1:$port;#" "$pod/etc/nginx.conf" "$pod/etc/upstreams.conf"
[ "$(id -u)" = 0 ] && sed -i '1i user root;' "$pod/etc/nginx.conf"
# the model store over HTTP, and a copy of it with one blob corrupted
ln -s "$CUBESERVE_STORE/sha256" "$pod/serve/good"
mkdir -p "$pod/serve/bad"
cp -r "$CUBESERVE_STORE/sha256" "$pod/serve/bad/"
blob=$(find "$pod/serve/bad/sha256" -type f | head -n 1)
chmod u+w "$blob"
echo corrupt >>"$blob"
mkdir -p "$pod/serve/tmp"
cat >"$pod/serve/nginx.conf" <<EOF
$([ "$(id -u)" = 0 ] && echo 'user root;')
daemon off;
pid $pod/serve/nginx.pid;
error_log $pod/serve/error.log;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path $pod/serve/tmp;
    fastcgi_temp_path $pod/serve/tmp;
    proxy_temp_path $pod/serve/tmp;
    uwsgi_temp_path $pod/serve/tmp;
    scgi_temp_path $pod/serve/tmp;
    server {
        listen 127.0.0.1:$store_port;
        location /good/ { alias $CUBESERVE_STORE/; }
        location /bad/ { alias $pod/serve/bad/; }
    }
}
EOF
nginx -p "$pod/serve" -c "$pod/serve/nginx.conf" >"$pod/serve/out.log" 2>&1 &
pids+=($!)
wait_for 10 curl -s -o /dev/null "http://127.0.0.1:$store_port/" || true
if CUBESERVE_STORE=$pod/badstore CUBESERVE_STORE_URL=http://127.0.0.1:$store_port/bad \
	sh "$pod/etc/fetch-model.sh" >"$pod/fetch-bad.out" 2>&1; then
	fail "fetch-model.sh refuses a blob that does not hash to its name" "$(cat "$pod/fetch-bad.out")"
elif grep -q "does not hash to" "$pod/fetch-bad.out" && [ -z "$(find "$pod/badstore/sha256" -type f -name "$(basename "$blob")" 2>/dev/null)" ]; then
	pass "fetch-model.sh refuses a corrupt blob and leaves it out of the pod's store"
else
	fail "fetch-model.sh with a corrupt blob" "$(cat "$pod/fetch-bad.out")"
fi
if CUBESERVE_STORE=$pod/store CUBESERVE_STORE_URL=http://127.0.0.1:$store_port/good \
	sh "$pod/etc/fetch-model.sh" >"$pod/fetch.out" 2>&1 && grep -q "3 files verified" "$pod/fetch.out"; then
	pass "fetch-model.sh (the init container) copies the 3 blobs of linear@1.0.0 by sha256"
else
	fail "fetch-model.sh" "$(cat "$pod/fetch.out")"
fi
args=$(jq -r "$w | .args | join(\" \")" <(yq_json <"$out") | sed "s#/run/cubeserve#$pod/run#")
# shellcheck disable=SC2086
CUBESERVE_STORE=$pod/store CUBESERVE_PLUGIN_DIR=$CS_TOP_BUILDDIR/plugins CUBESERVE_LUA_DIR=$CS_TOP_SRCDIR/lua \
	"$WORKER" $args >"$pod/worker.log" 2>&1 &
pids+=($!)
if wait_for 30 quiet "$CS" k8s probe "$pod/run/worker.sock" /health; then
	pass "the worker starts as in the pod (from the pod's store) and the liveness probe answers"
else
	fail "worker in the pod" "$(tail -n 5 "$pod/worker.log")"
fi
if "$CS" k8s probe "$pod/run/nosuch.sock" /health >"$pod/probe.out" 2>&1; then
	fail "probe of a socket nobody serves fails"
else
	pass "the probe fails on a socket nobody serves"
fi
nginx -t -p "$pod/tmp" -c "$pod/etc/nginx.conf" >"$pod/nginx-t.out" 2>&1 || true
nginx -p "$pod/tmp" -c "$pod/etc/nginx.conf" >"$pod/nginx.out" 2>&1 &
pids+=($!)
if wait_for 10 curl -fs -o "$pod/health.json" "http://127.0.0.1:$port/health/linear" &&
	[ "$(jq -r .status "$pod/health.json")" = ready ]; then
	pass "the pod's nginx answers the readiness path /health/linear (200, ready)"
else
	fail "readiness through the pod's nginx" "$(cat "$pod/nginx-t.out" "$pod/nginx.out")"
fi
label=$(curl -s "http://127.0.0.1:$port/models/linear" -d '{"x": [6.3, 3.3, 6.0, 2.5]}' | jq -r .label)
if [ "$label" = 2 ]; then
	pass "POST /models/linear through the pod's nginx and worker: label 2"
else
	fail "inference through the pod" "label '$label'"
fi

# --- serve-hints -----------------------------------------------------------------
free_port hport
"$CS" k8s serve-hints --listen "127.0.0.1:$hport" >"$run/hints.log" 2>&1 &
pids+=($!)
wait_for 10 curl -s -o /dev/null "http://127.0.0.1:$hport/healthz" || true
code=$(curl -s -o "$run/h.json" -w '%{http_code}' "http://127.0.0.1:$hport/hint/linear")
if [ "$code" = 404 ] && grep -q "no scaling hint for model 'linear'" "$run/h.json"; then
	pass "serve-hints: 404 with a message while the model has no hint"
else
	fail "serve-hints without a hint" "$code $(cat "$run/h.json")"
fi
now=$(($(date +%s) * 1000))
redis-cli -s "$run/redis.sock" hset cs:hint:linear desired 5 reason "utilization 0.93 > target 0.70" time "$now" >/dev/null
# what KEDA does: GET the trigger's url, read valueLocation, replicas = ceil(value / targetValue)
trig=$(jq -c '.[] | select(.kind=="ScaledObject") | .spec.triggers[0].metadata' "$run/r.json")
url=$(echo "$trig" | jq -r .url)
loc=$(echo "$trig" | jq -r .valueLocation)
target=$(echo "$trig" | jq -r .targetValue)
value=$(curl -s "http://127.0.0.1:$hport${url#http://cubeserve-hints.default.svc:8090}" | jq -r ".$loc")
if [ "$url" = "http://cubeserve-hints.default.svc:8090/hint/linear" ] && [ "$value" = 5 ] &&
	[ $(((value + target - 1) / target)) = 3 ]; then
	pass "the ScaledObject's url and valueLocation read desired=5 from serve-hints: 3 pods of 2 processes"
else
	fail "the hint through the trigger" "url $url loc $loc value '$value' target $target"
fi
if [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$hport/hint/..%2f")" = 400 ] &&
	[ "$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$hport/hint/linear")" = 405 ] &&
	[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$hport/other")" = 404 ]; then
	pass "serve-hints: a bad name 400, POST 405, another path 404"
else
	fail "serve-hints bad requests"
fi
kill "$redis_pid"
wait "$redis_pid" 2>/dev/null || true
code=$(curl -s -o "$run/h2.json" -w '%{http_code}' --max-time 10 "http://127.0.0.1:$hport/hint/linear")
if [ "$code" = 503 ] && [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$hport/healthz")" = 200 ]; then
	pass "serve-hints with Redis gone: 503 for the hint (KEDA's fallback applies), /healthz still 200"
else
	fail "serve-hints with Redis down" "$code $(cat "$run/h2.json")"
fi
tap_done
[ "$failed" -eq 0 ]
