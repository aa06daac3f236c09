#!/bin/bash
# routes.sh - what nginx pays for many models: for N deployments (10, then
# more) whose routes `cubeserve routes` renders from a private Redis
# registry, the size of the route files, the time of `nginx -t`, the
# resident memory of the nginx master and one worker, and the time a
# reload takes until the new workers answer. Ratios against N = 10 measured
# in the same run. Loopback and a temp dir only; bounded by the N given.
set -euo pipefail

usage() {
	cat <<'EOF2'
Usage: bench/routes.sh [--models N,N,...] [--servers K] [--builddir DIR] [--write]

  --models N,...  deployment counts after the 10 of the baseline (default 1000,10000)
  --servers K     worker sockets per upstream (default 3: three hosts)
  --builddir DIR  where cubeserve is built (default ./build)
  --write         put the results into docs/performance.md

Needs redis-server, redis-cli, nginx. Uses ports 18690-18699.
EOF2
}

srcdir=$(cd "$(dirname "$0")/.." && pwd)
models=1000,10000
servers=3
builddir=$srcdir/build
write=0
cmdline="bench/routes.sh $*"
while [ $# -gt 0 ]; do
	case $1 in
	--models) models=$2; shift 2 ;;
	--servers) servers=$2; shift 2 ;;
	--builddir) builddir=$(cd "$2" && pwd); shift 2 ;;
	--write) write=1; shift ;;
	-h | --help) usage; exit 0 ;;
	*) echo "routes.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
	esac
done
PATH=$PATH:/usr/sbin:/sbin
CS=$builddir/cubeserve
for t in redis-server redis-cli nginx; do
	command -v "$t" >/dev/null || { echo "routes.sh: $t is not installed" >&2; exit 1; }
done
[ -x "$CS" ] || { echo "routes.sh: no $CS (build first)" >&2; exit 1; }

run=$(mktemp -d /tmp/cs-routes.XXXXXX)
redis_pid=
nginx_pid=
cleanup() {
	[ -n "$nginx_pid" ] && kill "$nginx_pid" 2>/dev/null && wait "$nginx_pid" 2>/dev/null || true
	[ -n "$redis_pid" ] && kill "$redis_pid" 2>/dev/null && wait "$redis_pid" 2>/dev/null || true
	rm -rf "$run"
}
trap cleanup EXIT
redis-server --port 0 --unixsocket "$run/redis.sock" --dir "$run" --save '' --appendonly no \
	--logfile "$run/redis.log" &
redis_pid=$!
export CUBESERVE_REGISTRY=unix:$run/redis.sock CUBESERVE_RUN_DIR=$run/cs
for _ in $(seq 100); do redis-cli -s "$run/redis.sock" ping >/dev/null 2>&1 && break; sleep 0.05; done
redis-cli -s "$run/redis.sock" set cs:schema 1 >/dev/null

ms() { echo $(( $(date +%s%N) / 1000000 )); }
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
port=18690
user_line=
[ "$(id -u)" = 0 ] && user_line="user root;"

# deployments m0..m(N-1), each with $servers sockets, written in one pipe
add_models() {
	local from=$1 to=$2
	awk -v from="$from" -v to="$to" -v k="$servers" -v run="$run" 'BEGIN {
		for (i = from; i < to; i++) {
			s = "[";
			for (j = 0; j < k; j++) s = s (j ? "," : "") "\"" run "/sock/m" i "." j ".sock\"";
			s = s "]";
			printf "SADD cs:deployments m%d\n", i;
			printf "HSET cs:deployment:m%d version 1.0.0 state running processes 1 sockets %s max_body_bytes 1048576 request_timeout_ms 60000\n", i, "\x27" s "\x27";
		}
	}' | redis-cli -s "$run/redis.sock" >/dev/null
}

measure() { # measure N: one line "N files_kb t_ms master_kb worker_kb reload_ms"
	local n=$1 t0 t1 w old new
	"$CS" routes --upstreams >"$run/upstreams.conf"
	"$CS" routes --locations >"$run/locations.conf"
	mkdir -p "$run/nginx/logs" "$run/nginx/tmp"
	cat >"$run/nginx/nginx.conf" <<CONF
$user_line
worker_processes 1;
pid $run/nginx/nginx.pid;
error_log $run/nginx/logs/error.log warn;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path $run/nginx/tmp;
    fastcgi_temp_path $run/nginx/tmp;
    proxy_temp_path $run/nginx/tmp;
    uwsgi_temp_path $run/nginx/tmp;
    scgi_temp_path $run/nginx/tmp;
    include $run/upstreams.conf;
    server {
        listen 127.0.0.1:$port;
        include $run/locations.conf;
        location = /nginx-health { return 200 'ok'; }
    }
}
CONF
	t0=$(ms)
	nginx -t -q -p "$run/nginx" -c "$run/nginx/nginx.conf"
	t1=$(ms)
	if [ -z "$nginx_pid" ]; then
		nginx -p "$run/nginx" -c "$run/nginx/nginx.conf" -g 'daemon off;' >"$run/nginx.out" 2>&1 &
		nginx_pid=$!
		for _ in $(seq 400); do curl -s -o /dev/null "http://127.0.0.1:$port/nginx-health" && break; sleep 0.05; done
	fi
	old=$(pgrep -P "$nginx_pid" | sort | tr '\n' ' ')
	w=$(ms)
	kill -HUP "$nginx_pid"
	# reloaded: every old worker gone and a new one answers
	for _ in $(seq 2000); do
		new=$(pgrep -P "$nginx_pid" | sort | tr '\n' ' ')
		if [ -n "$new" ] && ! grep -qw -f <(echo "$old" | tr ' ' '\n' | sed '/^$/d') <<<"$new" &&
			curl -s -o /dev/null "http://127.0.0.1:$port/nginx-health"; then
			break
		fi
		sleep 0.01
	done
	local reload=$(( $(ms) - w ))
	local wpid
	wpid=$(pgrep -P "$nginx_pid" | head -n 1)
	results+=("$n $(( ($(stat -c %s "$run/upstreams.conf") + $(stat -c %s "$run/locations.conf")) / 1024 )) $((t1 - t0)) $(rss_kb "$nginx_pid") $(rss_kb "$wpid") $reload")
	echo "routes.sh: ${results[-1]}" >&2
}

cpu=$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')
results=()
add_models 0 10
measure 10
have=10
IFS=, read -r -a counts <<<"$models"
for n in "${counts[@]}"; do
	add_models "$have" "$n"
	have=$n
	measure "$n"
done
read -r _ b_kb b_t b_m b_w b_r <<<"${results[0]}"
table=$(
	echo "| models | route files | \`nginx -t\` | master RSS | worker RSS | reload until served |"
	echo "| ---: | ---: | ---: | ---: | ---: | ---: |"
	for r in "${results[@]}"; do
		read -r n kb t m w rl <<<"$r"
		printf '| %s | %s KiB (x%.0f) | %s ms (x%.1f) | %s KiB (x%.1f) | %s KiB (x%.1f) | %s ms (x%.1f) |\n' \
			"$n" "$kb" "$(echo "$kb / ($b_kb + 0.001)" | bc -l)" "$t" "$(echo "$t / ($b_t + 0.001)" | bc -l)" \
			"$m" "$(echo "$m / $b_m" | bc -l)" "$w" "$(echo "$w / $b_w" | bc -l)" \
			"$rl" "$(echo "$rl / ($b_r + 0.001)" | bc -l)"
	done
)
report="## nginx with many models (bench/routes.sh)

\`$cmdline\` on $cpu ($(nproc) cores), $(date -u '+%Y-%m-%d'), $servers worker
sockets per upstream (a model on $servers hosts), routes rendered by
\`cubeserve routes\` from the registry; ratios against 10 models in the
same run. The reload time runs from SIGHUP until every old worker has
exited and a new one answers (idle: no connections to drain).

$table"
echo "$report"
if [ "$write" = 1 ]; then
	f=$srcdir/docs/performance.md
	if grep -q '^## nginx with many models' "$f"; then
		awk -v new="$report" '
			/^## nginx with many models/ { print new; skip = 1; next }
			skip && /^## / { skip = 0 }
			!skip { print }' "$f" >"$f.tmp" && mv "$f.tmp" "$f"
	else
		printf '\n%s\n' "$report" >>"$f"
	fi
	echo "routes.sh: wrote docs/performance.md"
fi
