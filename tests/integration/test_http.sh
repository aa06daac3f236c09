#!/bin/bash
# test_http.sh - cubeserve end to end: a private nginx on a free loopback
# port and cubeserve-worker processes under spawn-fcgi on unix sockets in a
# temp dir; real HTTP requests with curl. Prints TAP.
#
# Models: examples/linear and tests/data/models/bad (glue methods that fail
# in every way the worker must survive). Skips (TAP "1..0 # SKIP") only when
# nginx, spawn-fcgi, curl or jq is missing.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -euo pipefail

case ${1:-} in
-h | --help)
	sed -n '2,8s/^# \{0,1\}//p' "$0"
	echo "Env: CS_TOP_SRCDIR, CS_TOP_BUILDDIR (set by make check), CS_KEEP_RUN=1 keeps the temp dir."
	exit 0
	;;
esac

here=$(cd "$(dirname "$0")" && pwd)
CS_TOP_SRCDIR=${CS_TOP_SRCDIR:-$(cd "$here/../.." && pwd)}
CS_TOP_BUILDDIR=${CS_TOP_BUILDDIR:-$CS_TOP_SRCDIR/build}
export CS_TOP_SRCDIR CS_TOP_BUILDDIR
PATH=$PATH:/usr/sbin:/sbin

for tool in nginx spawn-fcgi curl jq; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "1..0 # SKIP $tool is not installed"
		exit 0
	fi
done

# shellcheck disable=SC1091
. "$CS_TOP_SRCDIR/scripts/stack.sh"

run=$(mktemp -d "${TMPDIR:-/tmp}/cs-http.XXXXXX")
cleanup() {
	cs_stack_stop
	if [ "${CS_KEEP_RUN:-0}" = 1 ] || [ "$failed" -ne 0 ]; then
		echo "# run directory kept: $run"
	else
		rm -rf "$run"
	fi
}
failed=0
trap cleanup EXIT
cs_stack_init "$run"

# ------------------------------------------------------------------ TAP
n=0
pass() { n=$((n + 1)); echo "ok $n - $1"; }
fail() {
	n=$((n + 1))
	failed=$((failed + 1))
	echo "not ok $n - $1"
	shift
	local line
	for line in "$@"; do printf '#   %s\n' "$line"; done
}
diag_logs() {
	local f
	for f in "$CS_RUN"/logs/*.log "$CS_RUN"/nginx/logs/error.log; do
		[ -s "$f" ] || continue
		echo "# --- tail of $f"
		tail -n 15 "$f" | sed 's/^/#   /'
	done
}

if [ ! -x "$CS_WORKER" ]; then
	echo "1..1"
	echo "not ok 1 - cubeserve-worker is built at $CS_WORKER"
	exit 1
fi

# ------------------------------------------------------------------ HTTP
# http METHOD PATH [BODY-FILE]: sets $status and $body (curl's -m bounds it).
http() {
	local method=$1 path=$2 data=${3:-}
	local -a args=(-s -o "$run/body" -D "$run/headers" -w '%{http_code}' -m 20 -X "$method")
	[ -n "$data" ] && args+=(-H 'Content-Type: application/json' --data-binary "@$data")
	: >"$run/headers"
	status=$(curl "${args[@]}" "http://127.0.0.1:$port$path") || status="curl-failed($?)"
	body=$(cat "$run/body" 2>/dev/null || true)
	ctype=$(awk 'tolower($1) == "content-type:" { sub(/\r$/, "", $2); print tolower($2) }' "$run/headers")
	: >"$run/body"
}

# post PATH JSON: POST a literal JSON body.
post() {
	printf '%s' "$2" >"$run/req"
	http POST "$1" "$run/req"
}

# expect_error DESC STATUS "FRAGMENT[|FRAGMENT...]" METHOD PATH [JSON]:
# the answer has STATUS and a JSON body {"error": "..."} whose message holds
# every fragment (case-insensitive, spaces ignored).
expect_error() {
	local desc=$1 want=$2 frags=$3 method=$4 path=$5 json=${6-}
	if [ $# -ge 6 ]; then
		printf '%s' "$json" >"$run/req"
		http "$method" "$path" "$run/req"
	else
		http "$method" "$path"
	fi
	check_error "$desc" "$want" "$frags"
}

check_error() {
	local desc=$1 want=$2 frags=$3 msg flat f missing=
	if [ "$status" != "$want" ]; then
		fail "$desc: status $want" "got status $status, body: ${body:0:300}"
		return
	fi
	if ! msg=$(jq -er 'if type == "object" and (.error | type) == "string" then .error else error("no error field") end' <<<"$body" 2>/dev/null); then
		fail "$desc: status $want with a JSON {\"error\": ...} body" "body: ${body:0:300}"
		return
	fi
	if [[ $ctype != application/json* ]]; then
		fail "$desc: status $want with Content-Type application/json" "Content-Type: ${ctype:-none}"
		return
	fi
	flat=$(tr -d ' ' <<<"$msg" | tr '[:upper:]' '[:lower:]')
	IFS='|' read -r -a parts <<<"$frags"
	for f in "${parts[@]}"; do
		f=$(tr -d ' ' <<<"$f" | tr '[:upper:]' '[:lower:]')
		[[ $flat == *"$f"* ]] || missing="$missing '$f'"
	done
	if [ -n "$missing" ]; then
		fail "$desc: status $want, error names$missing" "error: $msg"
	else
		pass "$desc: $want {\"error\": \"${msg:0:80}\"}"
	fi
}

samples=$CS_TOP_SRCDIR/examples/linear/samples.json

# good_answer PATH I: POST sample I; the answer matches sklearn.
good_answer() {
	local path=$1 i=$2 x
	x=$(jq -c ".inputs[$i]" "$samples")
	post "$path" "{\"x\": $x}"
	[ "$status" = 200 ] || return 1
	jq -e --argjson i "$i" --slurpfile s "$samples" '
		($s[0].probs[$i]) as $want
		| (.y | length) == 3
		and .label == $s[0].labels[$i]
		and ([range(0; 3) as $k | (.y[$k] - $want[$k]) | fabs < 1e-4] | all)
	' <<<"$body" >/dev/null 2>&1
}

# alive DESC MODEL: after a bad request, the model still answers correctly.
alive() {
	local path=/models/linear
	[ "$2" = bad ] && path=/models/bad/ok
	if good_answer "$path" 0; then
		pass "$1: $2 still answers correctly"
	else
		fail "$1: $2 still answers correctly" "status $status, body: ${body:0:300}"
	fi
}

# ------------------------------------------------------------------ setup
# The bad model runs from a copy so the reload tests can change its glue.
mkdir -p "$run/bad"
cp "$CS_TOP_SRCDIR/tests/data/models/bad/glue.lua" "$run/bad/glue.lua"
jq --arg w "$CS_TOP_SRCDIR/examples/linear/weights.json" '.model = $w' \
	"$CS_TOP_SRCDIR/tests/data/models/bad/model.json" >"$run/bad/model.json"

port=$(cs_free_port)
cs_worker_start linear "$CS_TOP_SRCDIR/examples/linear/model.json" --log-level info
cs_worker_start bad "$run/bad/model.json" --log-level info
# a route whose name the linear worker does not serve: the worker's own 404
cs_route ghost "unix:$CS_RUN/linear.sock"
export CS_NGINX_MAX_BODY=1m
if ! cs_nginx_start "$port" ||
	! cs_wait_http "http://127.0.0.1:$port/models/linear" 30 "$(cs_pid linear)" ||
	! cs_wait_http "http://127.0.0.1:$port/models/bad" 30 "$(cs_pid bad)"; then
	echo "1..1"
	echo "not ok 1 - the stack starts (nginx + linear and bad workers)"
	diag_logs
	exit 1
fi
pass "stack up: nginx on 127.0.0.1:$port, workers for linear and bad under spawn-fcgi"
linear_pid=$(cs_pid linear)
bad_pid=$(cs_pid bad)

# ------------------------------------------------------------------ answers
count=$(jq '.inputs | length' "$samples")
bad_rows=
for ((i = 0; i < count; i++)); do
	good_answer /models/linear "$i" || bad_rows="$bad_rows $i(status $status: ${body:0:120})"
done
if [ -z "$bad_rows" ]; then
	pass "POST /models/linear: all $count samples match sklearn probs (1e-4) and labels"
else
	fail "POST /models/linear: all $count samples match sklearn probs (1e-4) and labels" "wrong rows:$bad_rows"
fi

for i in 0 7 20; do
	if good_answer /models/linear/predict "$i"; then
		pass "POST /models/linear/predict (sample $i) matches sklearn"
	else
		fail "POST /models/linear/predict (sample $i) matches sklearn" "status $status, body: ${body:0:300}"
	fi
done

post /models/linear/predict_batch "$(jq -c '{x: .inputs}' "$samples")"
if [ "$status" = 200 ] && jq -e --slurpfile s "$samples" '
	($s[0]) as $s
	| (.y | length) == ($s.probs | length)
	and .label == $s.labels
	and ([range(0; $s.probs | length) as $i | range(0; 3) as $k
		| (.y[$i][$k] - $s.probs[$i][$k]) | fabs < 1e-4] | all)
' <<<"$body" >/dev/null 2>&1; then
	pass "POST /models/linear/predict_batch: $count rows match sklearn"
else
	fail "POST /models/linear/predict_batch: $count rows match sklearn" "status $status, body: ${body:0:300}"
fi

post /models/linear '{"x": [5.1, 3.5, 1.4, 0.2]}'
if [ "$status" = 200 ] && jq -e '.species == "setosa"' <<<"$body" >/dev/null 2>&1; then
	pass "POST /models/linear answers species"
else
	fail "POST /models/linear answers species" "status $status, body: ${body:0:300}"
fi

http GET /models/linear
if [ "$status" = 200 ] && jq -e '
	.name == "linear" and .version == "1.0.0" and .plugin == "native"
	and (.description | type) == "string" and (.tags | index("iris")) != null
	and .inputs == [{name: "x", datatype: "FP32", shape: [-1, 4]}]
	and ([.outputs[].name] | sort) == ["logits", "probs"]
	and (.methods | index("predict")) != null
	and (.methods | index("predict_batch")) != null
' <<<"$body" >/dev/null 2>&1; then
	pass "GET /models/linear: metadata (name, version, plugin, tags, inputs, outputs, methods)"
else
	fail "GET /models/linear: metadata (name, version, plugin, tags, inputs, outputs, methods)" "status $status, body: ${body:0:400}"
fi

http GET /health/linear
if [ "$status" = 200 ] && jq -e '.status == "ready" and .model == "linear"' <<<"$body" >/dev/null 2>&1; then
	pass "GET /health (via /health/linear): ready"
else
	fail "GET /health (via /health/linear): ready" "status $status, body: ${body:0:300}"
fi

if good_answer /models/bad/ok 3; then
	pass "POST /models/bad/ok: the test model's good method answers"
else
	fail "POST /models/bad/ok: the test model's good method answers" "status $status, body: ${body:0:300}"
fi

# ------------------------------------------------------------------ bad inputs
expect_error "malformed JSON" 400 "json" POST /models/linear '{"x": [1, 2,'
alive "malformed JSON" linear
expect_error "body that is not JSON at all" 400 "json" POST /models/linear 'x=1&y=2'
alive "non-JSON body" linear
expect_error "missing field x" 400 "'x'" POST /models/linear '{"y": [1, 2, 3, 4]}'
alive "missing field" linear
expect_error "x with a string in it" 400 "'x'" POST /models/linear '{"x": [1, 2, "three", 4]}'
alive "string in x" linear
expect_error "wrong dtype into model:infer" 400 "FP32|INT64" POST /models/bad/dtype '{}'
alive "wrong dtype" bad
expect_error "wrong shape into model:infer" 400 "[-1,4]|[1,5]" POST /models/bad/shape '{}'
alive "wrong shape" bad

head -c 8192 /dev/zero | tr '\0' ' ' >"$run/big8k"
http POST /models/bad "$run/big8k"
check_error "body over the manifest's max_body_bytes (worker)" 413 ""
[ "$status" = 413 ] && [[ $body != *client_max_body_size* ]] ||
	echo "# note: the 413 above came from nginx, not the worker: $body"
alive "worker 413" bad
head -c 2000000 /dev/zero | tr '\0' ' ' >"$run/big2m"
http POST /models/linear "$run/big2m"
check_error "body over nginx client_max_body_size" 413 "client_max_body_size"
alive "nginx 413" linear

expect_error "unknown method" 404 "nosuch" POST /models/linear/nosuch '{"x": [1, 2, 3, 4]}'
alive "unknown method" linear
expect_error "method not in the manifest's public list" 404 "secret" POST /models/bad/secret '{}'
alive "non-public method" bad
expect_error "unknown model (no nginx route) is named" 404 "unknown model 'nosuch'" POST /models/nosuch '{"x": [1, 2, 3, 4]}'
expect_error "unknown model on V2 is named" 404 "unknown model 'nosuch'" POST /v2/models/nosuch/infer '{}'
alive "unknown model (nginx)" linear
expect_error "unknown model (route to a worker serving another model)" 404 "ghost" POST /models/ghost '{"x": [1, 2, 3, 4]}'
alive "unknown model (worker)" linear
expect_error "wrong HTTP method (PUT)" 405 "" PUT /models/linear '{"x": [1, 2, 3, 4]}'
alive "PUT" linear
expect_error "wrong HTTP method (DELETE on a method)" 405 "" DELETE /models/linear/predict
alive "DELETE" linear

expect_error "glue runtime error" 500 "boom|glue.lua:16" POST /models/bad/boom '{}'
alive "glue error" bad
t0=$(date +%s%N)
expect_error "glue that loops forever" 500 "instruction" POST /models/bad/spin '{}'
echo "# infinite loop stopped after $((($(date +%s%N) - t0) / 1000000)) ms"
alive "infinite loop" bad
expect_error "glue that allocates without bound" 500 "memory" POST /models/bad/hog '{}'
alive "unbounded allocation" bad

if kill -0 "$linear_pid" 2>/dev/null && kill -0 "$bad_pid" 2>/dev/null; then
	pass "both workers are the processes that started (no crash, no respawn)"
else
	fail "both workers are the processes that started (no crash, no respawn)"
fi

# ------------------------------------------------------------------ keepalive
printf '{"x": [6.3, 3.3, 6.0, 2.5]}' >"$run/req-ka"
{
	for ((i = 0; i < 200; i++)); do
		echo "url = \"http://127.0.0.1:$port/models/linear\""
		echo 'output = "/dev/null"'
	done
} >"$run/curl-ka"
t0=$(date +%s%N)
curl -s -m 30 -K "$run/curl-ka" -H 'Content-Type: application/json' \
	--data-binary "@$run/req-ka" \
	-w '%{http_code} %{num_connects}\n' >"$run/ka-out" 2>/dev/null || true
ms=$((($(date +%s%N) - t0) / 1000000))
oks=$(grep -c '^200 ' "$run/ka-out" || true)
conns=$(awk '{s += $2} END {print s + 0}' "$run/ka-out")
if [ "$oks" = 200 ] && [ "$conns" -le 2 ]; then
	pass "200 sequential requests over one kept-alive connection: all 200 OK ($ms ms, $conns connect)"
else
	fail "200 sequential requests over one kept-alive connection: all 200 OK" "$oks of 200 OK, $conns connects, $ms ms"
fi

# nginx holds its FastCGI connection to the worker open between requests.
if command -v ss >/dev/null 2>&1; then
	held=$(ss -x state established 2>/dev/null | grep -c " $CS_RUN/linear.sock " || true)
	if [ "$held" -ge 1 ]; then
		pass "nginx keeps FastCGI connections to the worker alive ($held open while idle)"
	else
		fail "nginx keeps FastCGI connections to the worker alive" "$(ss -x 2>&1 | grep -F "$CS_RUN" | head -n 5)"
	fi
else
	n=$((n + 1))
	echo "ok $n - # SKIP ss is not installed: cannot see kept-alive FastCGI connections"
fi

# 8 kept-alive clients at once, 25 requests each: no stall behind idle
# kept-alive FastCGI connections (bounded: all done within 15 s).
head -n 50 "$run/curl-ka" >"$run/curl-ka25"
t0=$(date +%s%N)
kids=()
for ((c = 0; c < 8; c++)); do
	curl -s -m 15 -K "$run/curl-ka25" -H 'Content-Type: application/json' \
		--data-binary "@$run/req-ka" -w '%{http_code}\n' \
		>"$run/ka-par.$c" 2>/dev/null &
	kids+=($!)
done
wait "${kids[@]}" || true
ms=$((($(date +%s%N) - t0) / 1000000))
oks=$(cat "$run"/ka-par.* | grep -c '^200$' || true)
if [ "$oks" -ge 200 ] && [ "$ms" -lt 15000 ]; then
	pass "8 concurrent kept-alive clients: $oks requests OK in $ms ms"
else
	fail "8 concurrent kept-alive clients: all OK within 15 s" "$oks OK, $ms ms"
fi

# ------------------------------------------------------------------ reload
# version_is N: /models/bad/version answers {"glue": N} within 5 s.
version_is() {
	local i
	for ((i = 0; i < 50; i++)); do
		post /models/bad/version '{}'
		[ "$status" = 200 ] && [ "$(jq -r '.glue' <<<"$body" 2>/dev/null)" = "$1" ] && return 0
		sleep 0.1
	done
	return 1
}
sed 's/return { glue = 1 }/return { glue = 2 }/' "$run/bad/glue.lua" >"$run/bad/glue.new"
mv "$run/bad/glue.new" "$run/bad/glue.lua"
kill -HUP "$bad_pid"
if version_is 2; then
	pass "SIGHUP reloads the glue (version 1 -> 2)"
else
	fail "SIGHUP reloads the glue (version 1 -> 2)" "status $status, body: ${body:0:200}"
fi
cp "$run/bad/glue.lua" "$run/bad/glue.good"
printf 'local M = {\nfunction M.version( return 3 end\n' >"$run/bad/glue.lua"
kill -HUP "$bad_pid"
sleep 1
if version_is 2 && good_answer /models/bad/ok 5; then
	pass "SIGHUP with a broken glue keeps the old glue"
else
	fail "SIGHUP with a broken glue keeps the old glue" "status $status, body: ${body:0:200}"
fi
if grep -qi 'glue' "$CS_RUN/logs/bad.log" && grep -qiE 'reload|keep' "$CS_RUN/logs/bad.log"; then
	pass "the failed reload is logged"
else
	fail "the failed reload is logged" "$(tail -n 5 "$CS_RUN/logs/bad.log")"
fi
cp "$run/bad/glue.good" "$run/bad/glue.lua"

# ------------------------------------------------------------------ sockets
# A second worker on the live socket must refuse to start.
rc=0
timeout 10 "$CS_WORKER" --manifest "$CS_TOP_SRCDIR/examples/linear/model.json" \
	--listen "unix:$CS_RUN/linear.sock" --plugin-dir "$CS_PLUGIN_DIR" \
	--lua-dir "$CS_LUA_DIR" >"$run/second.out" 2>&1 || rc=$?
if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && [ -s "$run/second.out" ]; then
	pass "a second worker on the live socket is refused (exit $rc: $(tail -n 1 "$run/second.out" | cut -c 1-160))"
else
	fail "a second worker on the live socket is refused with a message" "exit $rc, output: $(head -c 300 "$run/second.out")"
fi
if good_answer /models/linear 10; then
	pass "the first worker still serves its socket after the refused start"
else
	fail "the first worker still serves its socket after the refused start" "status $status, body: ${body:0:200}"
fi

# ------------------------------------------------------------------ SIGTERM
sleep 0.3
t0=$(date +%s%N)
kill -TERM "$bad_pid"
if cs_wait_exit "$bad_pid" 2000; then
	pass "SIGTERM while idle: the worker exits in $((($(date +%s%N) - t0) / 1000000)) ms (< 2 s)"
else
	fail "SIGTERM while idle: the worker exits in < 2 s"
fi
wait "$bad_pid" 2>/dev/null && rc=0 || rc=$?
if [ "$rc" -eq 0 ]; then
	pass "the worker exits 0 on SIGTERM"
else
	fail "the worker exits 0 on SIGTERM" "exit status $rc"
fi
unset "CS_STACK_PID[bad]"

# ------------------------------------------------------------------ sanitizers
cs_stop linear
cs_stop nginx
if grep -lE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$CS_RUN"/logs/*.log >/dev/null 2>&1; then
	fail "no sanitizer reports in the worker logs" "$(grep -hE -A3 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$CS_RUN"/logs/*.log | head -n 20)"
else
	pass "no sanitizer reports in the worker logs"
fi

[ "$failed" -eq 0 ] || diag_logs
echo "1..$n"
