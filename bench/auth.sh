#!/bin/bash
# auth.sh - what the key check costs on a model call, in one run, on the
# linear example through a private stack (`cubeserve up --auth on` in a
# temp dir, loopback only), wrk at c=32:
#   (0) auth off: no check (the baseline)
#   (1) in the worker: the model private, a key in Authorization: Bearer,
#       checked against the shared-memory snapshot (what cubeserve ships)
#   (2) nginx auth_request to the worker's check endpoint (CS_GATEWAY=check,
#       the model call then skips the check: CS_GATEWAY=off), with a 1 s
#       fastcgi_cache of the check's answer keyed by the credentials
# Prints a table (req/s, p50, p99, and each against (0); the median of
# --rounds runs of each, taken in turn); --write puts it
# into docs/performance.md.
set -euo pipefail

usage() {
	cat <<'EOF'
Usage: bench/auth.sh [--duration S] [--connections C] [--rounds N]
                     [--builddir DIR] [--write]

  --duration S     seconds per wrk run (default 10)
  --rounds N       run the three in turn N times (default 5; the order rotates); each keeps its
                   median run, so a burst of other load on a shared machine
                   does not decide the comparison
  --connections C  wrk connections (default 32)
  --builddir DIR   where cubeserve and cubeserve-worker are (default ./build;
                   build without sanitizers for meaningful numbers)
  --write          put the results into docs/performance.md

Needs nginx, spawn-fcgi, redis-server, redis-cli, wrk, curl, jq. Loopback
only; everything it starts is stopped at the end.
EOF
}

srcdir=$(cd "$(dirname "$0")/.." && pwd)
cmdline="bench/auth.sh $*"
duration=10
conns=32
rounds=5
builddir=$srcdir/build
write=0
while [ $# -gt 0 ]; do
	case $1 in
	-h | --help) usage; exit 0 ;;
	--duration) duration=${2:?--duration needs a value}; shift ;;
	--connections) conns=${2:?--connections needs a value}; shift ;;
	--rounds) rounds=${2:?--rounds needs a value}; shift ;;
	--builddir) builddir=${2:?--builddir needs a value}; shift ;;
	--write) write=1 ;;
	*) echo "bench: unknown argument '$1' (see --help)" >&2; exit 2 ;;
	esac
	shift
done
[[ $duration =~ ^[0-9]+$ ]] && [ "$duration" -ge 1 ] && [ "$duration" -le 300 ] ||
	{ echo "bench: --duration must be 1..300 s" >&2; exit 2; }
[[ $rounds =~ ^[0-9]+$ ]] && [ "$rounds" -ge 1 ] && [ "$rounds" -le 9 ] ||
	{ echo "bench: --rounds must be 1..9" >&2; exit 2; }
[[ $conns =~ ^[0-9]+$ ]] && [ "$conns" -ge 1 ] && [ "$conns" -le 1000 ] ||
	{ echo "bench: --connections must be 1..1000" >&2; exit 2; }
PATH=$PATH:/usr/sbin
for tool in nginx spawn-fcgi redis-server redis-cli wrk curl jq; do
	command -v "$tool" >/dev/null 2>&1 || { echo "bench: $tool is not installed (scripts/install-deps.sh)" >&2; exit 1; }
done
builddir=$(cd "$builddir" && pwd)
CS=$builddir/cubeserve
export CUBESERVE_WORKER=$builddir/cubeserve-worker
[ -x "$CS" ] && [ -x "$CUBESERVE_WORKER" ] || { echo "bench: build first (scripts/build.sh)" >&2; exit 1; }
if ldd "$CUBESERVE_WORKER" 2>/dev/null | grep -q 'libasan\|libubsan'; then
	echo "bench: WARNING: $CUBESERVE_WORKER is built with sanitizers; numbers will be low" >&2
fi
# shellcheck disable=SC1091
. "$srcdir/scripts/stack.sh" # cs_free_port

run=$(mktemp -d "${TMPDIR:-/tmp}/cs-bench-auth.XXXXXX")
export CUBESERVE_RUN_DIR=$run/stack XDG_CONFIG_HOME=$run/cfg
unset CUBESERVE_KEY CUBESERVE_REGISTRY
nginx2=
cleanup() {
	[ -n "$nginx2" ] && kill "$nginx2" 2>/dev/null && wait "$nginx2" 2>/dev/null || true
	"$CS" down >/dev/null 2>&1 || true
	[ "${CS_KEEP_RUN:-0}" = 1 ] || rm -rf "$run"
}
trap cleanup EXIT

mkdir -p "$run/examples"
cp -r "$srcdir/examples/linear" "$run/examples/"
port=$(cs_free_port)
echo "bench: cubeserve up --auth on on 127.0.0.1:$port"
"$CS" up --port "$port" --auth on --examples "$run/examples" --detach >"$run/up.out" 2>&1 ||
	{ tail -20 "$run/up.out" >&2; exit 1; }
rcli() { redis-cli -s "$CUBESERVE_RUN_DIR/redis.sock" "$@" >/dev/null; }
"$CS" user add bench --role consumer <<<"bench-password" >/dev/null
key=$("$CS" key create --user bench --models linear | tail -1)
"$CS" access linear private >/dev/null

# the bench's nginx: the stack's upstreams, the plain route, an
# auth_request route and its cache
port2=$(cs_free_port)
params=$(sed -n 's/^ *include \(.*fastcgi_params\);/\1/p' "$CUBESERVE_RUN_DIR/nginx/locations.conf" | head -1)
mkdir -p "$run/nginx2/logs" "$run/nginx2/tmp" "$run/nginx2/cache"
user_line=
[ "$(id -u)" = 0 ] && user_line="user root;" # the workers must reach the 0700 run dir
cat >"$run/nginx2/nginx.conf" <<EOF
$user_line
daemon off;
worker_processes 1;
pid $run/nginx2/nginx.pid;
error_log $run/nginx2/logs/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $run/nginx2/tmp/body;
    fastcgi_temp_path $run/nginx2/tmp/fastcgi;
    proxy_temp_path $run/nginx2/tmp/proxy;
    uwsgi_temp_path $run/nginx2/tmp/uwsgi;
    scgi_temp_path $run/nginx2/tmp/scgi;
    keepalive_requests 100000;
    fastcgi_cache_path $run/nginx2/cache keys_zone=cs_auth:1m max_size=16m;
    include $CUBESERVE_RUN_DIR/nginx/upstreams.conf;
    server {
        listen 127.0.0.1:$port2;
        # (0) and (1): the worker checks (or, with auth off, does not)
        location = /models/linear {
            include $params;
            fastcgi_pass cubeserve_linear;
            fastcgi_keep_conn on;
        }
        # (2): nginx asks the worker's check first, the call skips it
        location = /ar/models/linear {
            rewrite ^ /models/linear break;
            auth_request /_cs_auth/linear;
            include $params;
            fastcgi_param CS_GATEWAY off;
            fastcgi_pass cubeserve_linear;
            fastcgi_keep_conn on;
        }
        location = /_cs_auth/linear {
            internal;
            # only these params (a second DOCUMENT_URI would not replace
            # the first); the request headers are passed as HTTP_*
            fastcgi_param CS_GATEWAY check;
            fastcgi_param REQUEST_METHOD POST;
            fastcgi_param DOCUMENT_URI /models/linear;
            fastcgi_param CONTENT_LENGTH "";
            fastcgi_pass_request_body off;
            fastcgi_pass cubeserve_linear;
            fastcgi_keep_conn on;
            fastcgi_cache cs_auth;
            fastcgi_cache_key "\$http_authorization|\$http_x_api_key";
            fastcgi_cache_valid 204 401 403 1s;
        }
    }
}
EOF
nginx -p "$run/nginx2/" -c "$run/nginx2/nginx.conf" &
nginx2=$!

body=$(jq -c '.example' "$srcdir/examples/linear/model.json")
export CS_BENCH_BODY=$body
# all three through the same nginx (one worker process, access log off)
base=http://127.0.0.1:$port2/models/linear
base2=http://127.0.0.1:$port2/ar/models/linear
answer() { curl -s -m 5 -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' -d "$body" "$@"; }
wait_code() { # wait_code CODE CURL-ARGS...: until the answer is CODE (the gateway refreshes once a second)
	local want=$1 i
	shift
	for i in $(seq 1 50); do
		[ "$(answer "$@")" = "$want" ] && return 0
		sleep 0.1
	done
	echo "bench: $* does not answer $want" >&2
	exit 1
}

# one wrk run: prints "rps p50_ms p99_ms errors"
bench() {
	local out
	out=$(timeout $((duration + 30)) wrk -t 2 -c "$conns" -d "${duration}s" --timeout 2s \
		-s "$srcdir/bench/post.lua" "$@" | grep '^CSBENCH') || { echo "bench: wrk failed on $*" >&2; exit 1; }
	awk '{
		for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
		printf "%.0f %.2f %.2f %d\n", v["rps"], v["p50_us"] / 1000, v["p99_us"] / 1000,
			v["non2xx"] + v["timeouts"] + v["sockerr"]
	}' <<<"$out"
}

# the three in turn, --rounds times; each keeps its median run (by req/s)
: >"$run/r0" >"$run/r1" >"$run/r2"
measure() { # measure 0|1|2 ROUND: one run of that target
	case $1 in
	0)
		echo "bench: round $2/$rounds: (0) auth off"
		rcli HSET cs:config auth off
		wait_code 200 "$base"
		bench "$base" >>"$run/r0"
		;;
	1)
		echo "bench: round $2/$rounds: (1) in the worker, key in Authorization: Bearer"
		rcli HSET cs:config auth on
		wait_code 401 "$base"
		wait_code 200 -H "Authorization: Bearer $key" "$base"
		bench -H "Authorization: Bearer $key" "$base" >>"$run/r1"
		;;
	2)
		echo "bench: round $2/$rounds: (2) nginx auth_request to the worker's check, 1 s cache"
		rcli HSET cs:config auth on
		wait_code 401 "$base2"
		wait_code 200 -H "Authorization: Bearer $key" "$base2"
		bench -H "Authorization: Bearer $key" "$base2" >>"$run/r2"
		;;
	esac
}
# the order rotates every round (012, 120, 201), so none always runs first
for round in $(seq 1 "$rounds"); do
	for k in 0 1 2; do
		measure $(((k + round - 1) % 3)) "$round"
	done
done
median() { sort -n "$1" | awk '{ l[NR] = $0 } END { print l[int((NR + 1) / 2)] }'; }
r0=$(median "$run/r0")
r1=$(median "$run/r1")
r2=$(median "$run/r2")
load=$(cut -d' ' -f1-3 /proc/loadavg)

# the check alone, in process (bench/gateway_check.c), against the same table contents
echo "bench: the check alone, in process"
# shellcheck disable=SC2046
gcc -std=c11 -D_GNU_SOURCE -O2 -DNDEBUG -I"$srcdir/include" -I"$srcdir/runtime" \
	"$srcdir/bench/gateway_check.c" "$srcdir"/runtime/serve/gateway.c \
	"$srcdir"/runtime/registry/{auth,registry}.c "$srcdir"/runtime/core/{request,status,log}.c \
	$(pkg-config --cflags --libs jansson hiredis libsodium) -lpthread -lrt -lm -o "$run/gateway_check"
check_ns=$("$run/gateway_check" "unix:$CUBESERVE_RUN_DIR/redis.sock" linear "$key" 2000000 |
	sed -n 's/^ns_per_check=//p')

f() { awk -v i="$2" '{ print $i }' <<<"$1"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f %%", (b > 0 ? 100 * a / b : 0) }'; }
cpu=$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')
table=$(
	echo "| check | req/s | p50 ms | p99 ms | errors | req/s vs (0) |"
	echo "| --- | ---: | ---: | ---: | ---: | ---: |"
	echo "| (0) auth off | $(f "$r0" 1) | $(f "$r0" 2) | $(f "$r0" 3) | $(f "$r0" 4) | 100.0 % |"
	echo "| (1) in the worker (shm snapshot) | $(f "$r1" 1) | $(f "$r1" 2) | $(f "$r1" 3) | $(f "$r1" 4) | $(ratio "$(f "$r1" 1)" "$(f "$r0" 1)") |"
	echo "| (2) nginx auth_request + 1 s cache | $(f "$r2" 1) | $(f "$r2" 2) | $(f "$r2" 3) | $(f "$r2" 4) | $(ratio "$(f "$r2" 1)" "$(f "$r0" 1)") |"
)
report=$(
	echo "### $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo
	echo "Machine: $(nproc) cores, ${cpu:-unknown CPU}, Linux $(uname -r), $(nginx -v 2>&1 | sed 's/^nginx version: //')."
	echo "wrk 2 threads, c=$conns, ${duration}s per run, median of $rounds rounds (the three in turn, the order rotating), POST $body;"
	echo "one worker process. Load average at the end: $load (the machine is shared: other"
	echo "jobs ran during the runs, so compare the rows, not the absolute figures)."
	echo
	echo '```'
	echo "$cmdline"
	echo '```'
	echo
	echo "$table"
	echo
	echo "The check alone, in process (\`bench/gateway_check.c\`, a valid key, 2 M checks): ${check_ns} ns per call."
)
echo
echo "$report"
if [ "$write" = 1 ]; then
	doc=$srcdir/docs/performance.md
	grep -q '<!-- bench/auth.sh:begin -->' "$doc" || { echo "bench: $doc has no bench/auth.sh markers" >&2; exit 1; }
	awk -v r="$report" '
		/<!-- bench\/auth.sh:begin -->/ { print; print r; skip = 1; next }
		/<!-- bench\/auth.sh:end -->/ { skip = 0 }
		!skip' "$doc" >"$run/perf.md"
	cp "$run/perf.md" "$doc"
	echo "bench: wrote $doc"
fi
