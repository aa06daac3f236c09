#!/bin/bash
# test_v2.sh - the Open Inference Protocol (V2), its binary data extension,
# the CubeAI envelope and /metrics, end to end: a private nginx, the linear
# model under spawn-fcgi, and the test model tests/data/models/echo (a V2
# hook that echoes every datatype) as a pool of 2 processes forked by
# spawn-fcgi -F 2 on one socket, whose /metrics must count for both.
# The client (v2_client.py) is written from the spec. Prints TAP.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck disable=SC1091
. "$here/lib.sh"
PY=/usr/bin/python3
require_tools nginx spawn-fcgi curl jq promtool "$PY"
stack_run cs-v2
pool_pids=
cleanup() {
	local p
	for p in $pool_pids; do kill -TERM "$p" 2>/dev/null || true; done
}

# the echo model runs from a copy: its manifest points at the linear weights
mkdir -p "$run/echo"
cp "$CS_TOP_SRCDIR/tests/data/models/echo/glue.lua" "$run/echo/"
jq --arg w "$CS_TOP_SRCDIR/examples/linear/weights.json" '.model = $w' \
	"$CS_TOP_SRCDIR/tests/data/models/echo/model.json" >"$run/echo/model.json"

port=$(cs_free_port)
cs_worker_start linear "$CS_TOP_SRCDIR/examples/linear/model.json"
# echo: two processes forked by spawn-fcgi on one socket (its pool)
# (spawn-fcgi -F leaves the children no stderr: sanitizer reports go to files)
ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}log_path=$CS_RUN/logs/echo-asan \
UBSAN_OPTIONS=${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}log_path=$CS_RUN/logs/echo-ubsan \
TSAN_OPTIONS=${TSAN_OPTIONS:+$TSAN_OPTIONS:}log_path=$CS_RUN/logs/echo-tsan \
	"$CS_SPAWN_FCGI" -F 2 -s "$CS_RUN/echo.sock" -M 0600 -P "$run/echo.pids" -- \
	"$CS_WORKER" --manifest "$run/echo/model.json" --plugin-dir "$CS_PLUGIN_DIR" \
	--lua-dir "$CS_LUA_DIR" --log-level debug >>"$CS_RUN/logs/echo.log" 2>&1
pool_pids=$(tr -s '\n' ' ' <"$run/echo.pids")
cs_route echo "unix:$CS_RUN/echo.sock"
export CS_NGINX_MAX_BODY=16m
# a new upstream connection per request: the echo pool's two processes then
# both get requests (with kept-alive connections one process may serve all
# of them), which the pool-wide metrics check below needs
export CS_NGINX_KEEPALIVE=0
if ! cs_nginx_start "$port" ||
	! cs_wait_http "http://127.0.0.1:$port/models/linear" 30 "$(cs_pid linear)" ||
	! cs_wait_http "http://127.0.0.1:$port/v2/models/echo/ready" 30; then
	echo "1..1"
	echo "not ok 1 - the stack starts (nginx, linear, a pool of 2 echo workers)"
	tail -n 20 "$CS_RUN"/logs/*.log | sed 's/^/# /'
	exit 1
fi
pass "stack up: nginx on 127.0.0.1:$port, linear, echo pool (pids $pool_pids)"

# ------------------------------------------------------------ the V2 client
"$PY" "$here/v2_client.py" "http://127.0.0.1:$port" \
	"$CS_TOP_SRCDIR/examples/linear/samples.json" "$n" >"$run/client.tap" 2>&1 || true
cat "$run/client.tap"
n=$(grep -cE '^(not )?ok ' "$run/client.tap" | awk -v n="$n" '{print n + $1}')
failed=$((failed + $(grep -c '^not ok ' "$run/client.tap" || true)))
grep -q '^# v2_client: ' "$run/client.tap" || fail "v2_client.py ran to the end" "$(tail -n 5 "$run/client.tap")"

# ------------------------------------------------------------ metrics
check_promtool() {
	local path=$1 out
	curl -s -m 10 "http://127.0.0.1:$port$path" >"$run/metrics.txt"
	if out=$(promtool check metrics <"$run/metrics.txt" 2>&1) && [ -s "$run/metrics.txt" ]; then
		pass "promtool check metrics accepts GET $path ($(wc -l <"$run/metrics.txt") lines)"
	else
		fail "promtool check metrics accepts GET $path" "$out" "$(head -n 5 "$run/metrics.txt")"
	fi
}
check_promtool /metrics/linear
check_promtool /metrics/echo
check_promtool /metrics

metric() { # NAME{labels} from $run/metrics.txt -> value (0 when absent)
	awk -v k="$1" '$1 == k {print $2; f = 1} END {if (!f) print 0}' "$run/metrics.txt"
}
count_v2() {
	curl -s -m 10 "http://127.0.0.1:$port/metrics/echo" >"$run/metrics.txt" || echo "# curl /metrics/echo failed: $?" >&2
	metric 'cubeserve_requests_total{model="echo",endpoint="v2_infer",code="2xx"}'
}
rchar() { awk '$1 == "rchar:" {print $2}' "/proc/$1/io" 2>/dev/null || echo 0; }
declare -A rc0=()
for p in $pool_pids; do rc0[$p]=$(rchar "$p"); done
printf '{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]}' >"$run/req"
# Rounds of 40 requests from 4 clients at once until both processes of the
# pool have served some (which one accepts a connection is up to the
# kernel); every round must add exactly 40 to the pool's count.
counted=1 served_by=0
for round in 1 2 3 4 5; do
	before=$(count_v2)
	kids=()
	for ((c = 0; c < 4; c++)); do
		for ((i = 0; i < 10; i++)); do
			curl -s -o /dev/null -m 10 -H 'Content-Type: application/json' \
				-H 'Connection: close' --data-binary "@$run/req" \
				"http://127.0.0.1:$port/v2/models/echo/infer"
		done &
		kids+=($!)
	done
	wait "${kids[@]}" || true
	after=$(count_v2)
	procs=$(metric 'cubeserve_processes{model="echo"}')
	[ $((after - before)) -eq 40 ] || { counted=0; break; }
	served_by=0 # processes that read requests (spawn-fcgi -F leaves them no log)
	for p in $pool_pids; do
		[ $(($(rchar "$p") - ${rc0[$p]})) -gt 100 ] && served_by=$((served_by + 1))
	done
	[ "$served_by" -ge 2 ] && break
done
if [ "$counted" = 1 ] && [ "$procs" = 2 ]; then
	pass "metrics of the echo pool: each round of 40 requests counted once across $procs processes ($round round(s))"
else
	fail "metrics of the echo pool count every process's requests" \
		"v2_infer 2xx went $before -> $after in round $round (want +40), processes $procs (want 2)"
fi
if [ "$served_by" -ge 2 ]; then
	pass "both pool processes served requests (so the counts above are pool-wide)"
else
	fail "both pool processes served requests" "only $served_by process(es) read from their connections in $round rounds"
fi
# one process of the pool goes away: what it counted stays counted
first=${pool_pids%% *}
kill -TERM "$first"
cs_wait_exit "$first" 5000 || true
pool_pids=${pool_pids#* }
for ((i = 0; i < 5; i++)); do
	curl -s -o /dev/null -m 10 -H 'Content-Type: application/json' \
		--data-binary "@$run/req" "http://127.0.0.1:$port/v2/models/echo/infer"
done
later=$(count_v2)
procs=$(metric 'cubeserve_processes{model="echo"}')
if [ $((later - after)) -eq 5 ] && [ "$procs" = 1 ]; then
	pass "after one pool process exits, its counts stay: $after + 5 = $later, processes $procs"
else
	fail "after one pool process exits, its counts stay" "$after -> $later (want +5), processes $procs (want 1)"
fi
curl -s -m 10 "http://127.0.0.1:$port/metrics/linear" >"$run/metrics.txt"
inf=$(metric 'cubeserve_inference_duration_seconds_count{model="linear"}')
q=$(metric 'cubeserve_queue_duration_seconds_count{model="linear"}')
load=$(metric 'cubeserve_model_load_seconds{model="linear"}')
rss=$(metric 'cubeserve_resident_memory_bytes{model="linear"}')
if [ "$inf" -gt 0 ] && [ "$q" -gt 0 ] && [ "$rss" -gt 1000000 ] && [ -n "$load" ]; then
	pass "linear metrics: inference ($inf) and queue ($q) histograms, load time $load s, rss $rss"
else
	fail "linear metrics: inference, queue, load time, resident memory" \
		"inference $inf, queue $q, load $load, rss $rss"
fi

# ------------------------------------------------------------ alive, clean
for p in $(cs_pid linear) $pool_pids; do
	kill -0 "$p" 2>/dev/null || fail "worker $p is still running"
done
for p in $pool_pids; do kill -TERM "$p" 2>/dev/null || true; done
for p in $pool_pids; do cs_wait_exit "$p" 5000 || kill -KILL "$p" 2>/dev/null || true; done
pool_pids=
cs_stop linear
cs_stop nginx
no_sanitizer_reports "no sanitizer reports in the worker logs" "$CS_RUN"/logs/*
tap_done
