#!/bin/bash
# test_cli.sh - the `cubeserve` command end to end against real servers it
# starts privately (redis-server on a unix socket, nginx on a free loopback
# port, workers under spawn-fcgi) in a temp dir: up (foreground, Ctrl-C)
# with the bundled examples; up --detach; publish -> show -> deploy -> infer
# over HTTP -> scale -> status -> pause (503 JSON) -> resume -> undeploy ->
# remove; the refusals (bad manifest, unloadable model, failing example,
# remove while deployed, a second up); two concurrent publishes of one
# version; Redis killed while serving; down. Prints TAP.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -euo pipefail

case ${1:-} in
-h | --help)
	sed -n '2,9s/^# \{0,1\}//p' "$0"
	echo "Env: CS_TOP_SRCDIR, CS_TOP_BUILDDIR (set by make check), CUBESERVE_WORKER, CS_KEEP_RUN=1."
	exit 0
	;;
esac

here=$(cd "$(dirname "$0")" && pwd)
CS_TOP_SRCDIR=${CS_TOP_SRCDIR:-$(cd "$here/../.." && pwd)}
CS_TOP_BUILDDIR=${CS_TOP_BUILDDIR:-$CS_TOP_SRCDIR/build}
PATH=$PATH:/usr/sbin:/sbin

for tool in nginx spawn-fcgi redis-server curl jq; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "1..0 # SKIP $tool is not installed"
		exit 0
	fi
done
CS=$CS_TOP_BUILDDIR/cubeserve
export CUBESERVE_WORKER=${CUBESERVE_WORKER:-$CS_TOP_BUILDDIR/cubeserve-worker}
if [ ! -x "$CS" ] || [ ! -x "$CUBESERVE_WORKER" ]; then
	echo "1..1"
	echo "not ok 1 - cubeserve and cubeserve-worker are built in $CS_TOP_BUILDDIR"
	exit 1
fi
if ! "$CUBESERVE_WORKER" --help | grep -q -- '--registry'; then
	echo "1..0 # SKIP $CUBESERVE_WORKER has no --model/--registry yet"
	exit 0
fi
# shellcheck disable=SC1091
. "$CS_TOP_SRCDIR/scripts/stack.sh" # cs_free_port, cs_wait_exit

run=$(mktemp -d /tmp/cs-cli.XXXXXX)
bystander=
n=0
failed=0
cleanup() {
	local d
	for d in "$run"/fg "$run"/bg; do
		[ -d "$d" ] && CUBESERVE_RUN_DIR=$d "$CS" down >/dev/null 2>&1 || true
	done
	[ -n "$bystander" ] && kill "$bystander" 2>/dev/null || true
	if [ "${CS_KEEP_RUN:-0}" = 1 ] || [ "$failed" -ne 0 ]; then
		echo "# run directory kept: $run"
	else
		rm -rf "$run"
	fi
}
trap cleanup EXIT

pass() { n=$((n + 1)); echo "ok $n - $1"; }
fail() {
	n=$((n + 1))
	failed=$((failed + 1))
	echo "not ok $n - $1"
	shift
	local line
	for line in "$@"; do printf '#   %s\n' "$line"; done
}
# check DESC CMD...: passes when CMD succeeds.
check() {
	local desc=$1
	shift
	if "$@" >"$run/check.out" 2>&1; then
		pass "$desc"
	else
		fail "$desc" "$(head -c 600 "$run/check.out")"
	fi
}
# cs WANT_RC ARGS...: runs cubeserve, output in $out, status in $rc.
cs() {
	local want=$1
	shift
	rc=0
	out=$("$CS" "$@" 2>&1) || rc=$?
	if [ "$rc" != "$want" ]; then
		fail "cubeserve $* exits $want" "exit $rc: ${out:0:800}"
		return 1
	fi
	return 0
}
# http METHOD PATH [JSON]: sets $status and $body.
http() {
	local -a args=(-s -o "$run/body" -w '%{http_code}' -m 10 -X "$1")
	[ $# -ge 3 ] && args+=(-H 'Content-Type: application/json' --data-binary "$3")
	status=$(curl "${args[@]}" "http://127.0.0.1:$port$2") || status="curl-failed"
	body=$(cat "$run/body" 2>/dev/null || true)
}
# wait_for SECONDS CMD...: until CMD succeeds (bounded).
wait_for() {
	local secs=$1 i
	shift
	for ((i = 0; i < secs * 10; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}
live() { # live NAME N: status shows N live pools of NAME
	[ "$("$CS" status "$1" --json | jq '.[0].live')" = "$2" ]
}
procs() { # procs NAME N: its ready pool's master has N children
	[ "$("$CS" status "$1" --json | jq '[.[0].pools[] | select(.state == "ready")][0].children')" = "$2" ]
}
# redis_pid: the pid of the redis-server of $CUBESERVE_RUN_DIR (exactly one;
# not a child it forks for a rewrite, whose title starts with redis-aof-...)
redis_pid() {
	local p
	p=$(pgrep -f "^[^ ]*redis-server .*$CUBESERVE_RUN_DIR/redis.sock" || true)
	[ -n "$p" ] && [ "$(wc -w <<<"$p")" = 1 ] && echo "$p"
}
blobs() { find "$CUBESERVE_RUN_DIR/store/sha256" -type f 2>/dev/null | wc -l; }
iris='{"x": [5.1, 3.5, 1.4, 0.2]}'

# a process nobody should touch: `up`/`down` stop only what they started
sleep 300 &
bystander=$!

# ------------------------------------------------------------ up, foreground
export CUBESERVE_RUN_DIR=$run/fg
port=$(cs_free_port)
"$CS" up --port "$port" >"$run/up-fg.out" 2>&1 &
up_pid=$!
if wait_for 60 curl -sf -m 2 "http://127.0.0.1:$port/models/linear"; then
	pass "up (foreground): the bundled example linear is published, deployed and answers through nginx"
else
	fail "up (foreground): linear answers" "$(tail -n 30 "$run/up-fg.out")"
fi
wait_for 20 grep -q 'curl -s' "$run/up-fg.out" || true
if grep -q "redis  *unix:$CUBESERVE_RUN_DIR/redis.sock" "$run/up-fg.out" &&
	grep -q "nginx  *http://127.0.0.1:$port" "$run/up-fg.out" &&
	grep -q "curl -s http://127.0.0.1:$port/models/linear -d" "$run/up-fg.out"; then
	pass "up prints where redis and nginx are and a curl line"
else
	fail "up prints where redis and nginx are and a curl line" "$(tail -n 20 "$run/up-fg.out")"
fi
http POST /models/linear "$iris"
if [ "$status" = 200 ] && [ "$(jq -r .species <<<"$body")" = setosa ]; then
	pass "POST /models/linear through the stack up started: setosa"
else
	fail "POST /models/linear through the stack up started" "status $status: $body"
fi
# the pids up printed, checked against what runs
redis_pid=$(sed -n 's/^  redis  .* pid \([0-9][0-9]*\),.*/\1/p' "$run/up-fg.out")
[ "$redis_pid" = "$(redis_pid)" ] || redis_pid=
nginx_pid=$(cat "$CUBESERVE_RUN_DIR/nginx/nginx.pid" 2>/dev/null || true)
worker_pids=$("$CS" status --json | jq -r '.[].pools[].pid' | tr '\n' ' ')
cs 5 up --port "$(cs_free_port)" && [[ $out == *"already up"* ]] &&
	pass "a second up in the same run directory is refused (exit 5)"
kill -INT "$up_pid"
if cs_wait_exit "$up_pid" 20000; then
	pass "Ctrl-C (SIGINT) stops up"
else
	fail "Ctrl-C (SIGINT) stops up within 20 s"
fi
left=
for p in $redis_pid $nginx_pid $worker_pids; do
	kill -0 "$p" 2>/dev/null && left="$left $p"
done
if [ -n "$redis_pid" ] && [ -n "$nginx_pid" ] && [ -n "$worker_pids" ] && [ -z "$left" ] &&
	kill -0 "$bystander"; then
	pass "up stopped what it started (redis $redis_pid, nginx $nginx_pid, workers $worker_pids) and nothing else"
else
	fail "up stopped what it started and nothing else" "redis '$redis_pid' nginx '$nginx_pid' workers '$worker_pids' left '$left'"
fi

# ------------------------------------------------------------ up --detach
export CUBESERVE_RUN_DIR=$run/bg
port=$(cs_free_port)
if cs 0 up --detach --no-examples --port "$port" && [[ $out == *"cubeserve is up"* ]]; then
	pass "up --detach returns once the stack is up"
fi
cs 0 list && [[ $out == *"no models"* ]] && pass "list on an empty registry: no models"

mk() { # mk DIR NAME VERSION [JQ-FILTER]: a model dir from examples/linear
	mkdir -p "$1"
	cp "$CS_TOP_SRCDIR/examples/linear/glue.lua" "$CS_TOP_SRCDIR/examples/linear/weights.json" "$1/"
	jq --arg n "$2" --arg v "$3" ".name = \$n | .version = \$v | .tags = [\"iris\", \"demo\"] | ${4:-.}" \
		"$CS_TOP_SRCDIR/examples/linear/model.json" >"$1/model.json"
}
mk "$run/iris" iris 1.0.0

# ------------------------------------------------------------ refusals
b0=$(blobs)
mk "$run/bad1" bad1 1.0.0 '.modle = "typo"'
cs 1 publish "$run/bad1" && [[ $out == *"step 1"*"modle"* ]] &&
	pass "publish of a bad manifest fails at step 1 naming the field"
mk "$run/bad2" bad2 1.0.0
echo '{"not": "weights"}' >"$run/bad2/weights.json"
cs 1 publish "$run/bad2" && [[ $out == *"step 3"* ]] &&
	pass "publish of an unloadable model fails at step 3 (test load)"
mk "$run/bad3" bad3 1.0.0 '.example = {"y": [1, 2, 3, 4]}'
cs 1 publish "$run/bad3" && [[ $out == *"step 3"*"example"* ]] &&
	pass "publish of a model whose example request fails is refused at step 3"
rcs=
for m in bad1 bad2 bad3; do
	r=0
	"$CS" show "$m" >/dev/null 2>&1 || r=$?
	rcs="$rcs $r"
done
if [ "$rcs" = " 4 4 4" ] && [ "$(blobs)" = "$b0" ]; then
	pass "nothing registered or stored by the refused publishes (show exits 4; store unchanged)"
else
	fail "nothing registered or stored by the refused publishes" "show exit codes:$rcs, blobs $b0 -> $(blobs)"
fi

# ------------------------------------------------------------ publish, show
cs 0 publish "$run/iris" && [[ $out == *"[5/5]"* ]] && pass "publish iris@1.0.0 (5 steps)"
b1=$(blobs)
cs 0 show iris --json
if jq -e '.name == "iris" and .default == "1.0.0" and (.record.files | length) == 3
	and (.record.manifest_sha256 | length) == 64 and .record.plugin == "native"' <<<"$out" >/dev/null; then
	pass "show iris: default version, plugin, 3 files with sha256"
else
	fail "show iris --json" "${out:0:600}"
fi
sha=$(jq -r '.record.artifact_sha256' <<<"$out")
if [ "$(sha256sum "$run/iris/weights.json" | cut -d' ' -f1)" = "$sha" ] &&
	cmp -s "$run/iris/weights.json" "$CUBESERVE_RUN_DIR/store/sha256/${sha:0:2}/$sha"; then
	pass "the artifact is stored under its sha256"
else
	fail "the artifact is stored under its sha256" "sha $sha"
fi
cs 5 publish "$run/iris" && [[ $out == *"already published"* ]] &&
	pass "publishing the same version again is refused (exit 5)"
mk "$run/iris2" iris 2.0.0
cs 0 publish "$run/iris2" >/dev/null
if [ "$(blobs)" = "$((b1 + 1))" ]; then
	pass "a second version with the same weights and glue stores only its new manifest"
else
	fail "identical files are stored once" "blobs $b1 -> $(blobs)"
fi
cs 0 versions iris --json && [ "$(jq -r '[.[].version] | join(",")' <<<"$out")" = "1.0.0,2.0.0" ] &&
	pass "versions iris: 1.0.0, 2.0.0"
cs 0 set-default iris 2.0.0 && cs 0 show iris --json && [ "$(jq -r .default <<<"$out")" = 2.0.0 ] &&
	pass "set-default iris 2.0.0"
cs 4 set-default iris 9.9.9 && pass "set-default to an unknown version exits 4"
cs 0 search IRIS --tag demo --json && [ "$(jq -r '[.[].name] | join(",")' <<<"$out")" = iris ] &&
	pass "search finds iris by text (any case) and tag"
cs 0 search iris --tag nosuchtag --json && [ "$(jq length <<<"$out")" = 0 ] &&
	pass "search with a tag nobody has finds nothing"
cs 0 rate iris 4 --user ann && cs 0 rate iris 2 --user bob && cs 0 rate iris 5 --user ann &&
	cs 0 favorite iris --user ann && cs 0 show iris --json &&
	[ "$(jq -r '[.rating_sum, .rating_count, .favorites] | join(",")' <<<"$out")" = "7,2,1" ] &&
	pass "rate (one rating per user, replaced) and favorite"
cs 2 rate iris 6 && pass "rate 6 is bad usage (exit 2)"

# ------------------------------------------------------------ the race
mk "$run/race" race 1.0.0
"$CS" publish "$run/race" >"$run/race1.out" 2>&1 &
p1=$!
"$CS" publish "$run/race" >"$run/race2.out" 2>&1 &
p2=$!
r1=0 r2=0
wait "$p1" || r1=$?
wait "$p2" || r2=$?
cs 0 versions race --json
if [ "$(printf '%s\n' "$r1" "$r2" | sort | tr '\n' ' ')" = "0 5 " ] &&
	[ "$(jq length <<<"$out")" = 1 ] && grep -q "already published" "$run/race1.out" "$run/race2.out"; then
	pass "two concurrent publishes of race@1.0.0: one registered, one clear refusal (exits $r1, $r2)"
else
	fail "two concurrent publishes: one registered, one refusal" "exits $r1 $r2; versions: $out" "$(cat "$run/race1.out" "$run/race2.out" | tail -n 8)"
fi
cs 0 show race --json
for f in $(jq -r '.record.files | .[]' <<<"$out"); do
	[ -f "$CUBESERVE_RUN_DIR/store/sha256/${f:0:2}/$f" ] || fail "race: blob $f of the registered version is in the store"
done

# ------------------------------------------------------------ deploy, call, scale
if cs 0 deploy iris@1.0.0 --processes 2; then pass "deploy iris@1.0.0 --processes 2"; fi
http POST /models/iris "$iris"
if [ "$status" = 200 ] && [ "$(jq -r .species <<<"$body")" = setosa ]; then
	pass "POST /models/iris through nginx right after deploy: setosa"
else
	fail "POST /models/iris right after deploy" "status $status: $body"
fi
cs 5 deploy iris && pass "deploying a deployed model again is refused (exit 5)"
if wait_for 5 live iris 1 && procs iris 2; then
	pass "status: one live pool of iris, a prefork master with 2 processes"
else
	fail "status: one live pool of iris with 2 processes" "$("$CS" status iris 2>&1)"
fi
cs 0 scale iris 3 && wait_for 5 procs iris 3 && pass "scale iris 3: the master runs 3 processes"
for i in $(seq 1 30); do http POST /models/iris "$iris"; [ "$status" = 200 ] || break; done
[ "$status" = 200 ] && pass "30 calls after scaling all answered 200"
if wait_for 5 eval '[ "$("$CS" status iris --json | jq ".[0].requests >= 30 and .[0].state == \"running\"")" = true ]'; then
	pass "status iris: running, requests counted from the heartbeats"
else
	fail "status iris counts requests" "$("$CS" status iris --json 2>&1 | head -c 600)"
fi
cs 0 status && [[ $out == *iris*running*" 1/1    3 "* ]] && pass "status (text): iris running, 1/1 pools, 3 processes"
cs 0 scale iris 1 && wait_for 8 procs iris 1 && pass "scale iris 1: 1 process"
cs 0 routes && [[ $out == *"upstream cubeserve_iris"* ]] && [[ $out == *"location = /models/iris"* ]] &&
	pass "routes prints the upstream and the locations of iris"
cs 0 logs iris -n 5 && [[ $out == *iris* ]] && pass "logs iris"
cs 5 remove iris && [[ $out == *deployed* ]] && pass "remove while deployed is refused (exit 5)"

# ------------------------------------------------------------ pause, resume
cs 0 pause iris
http POST /models/iris "$iris"
if [ "$status" = 503 ] && jq -e '.error | test("paused")' <<<"$body" >/dev/null 2>&1; then
	pass "pause: the route answers 503 {\"error\": \"...paused\"}"
else
	fail "pause: 503 JSON" "status $status: $body"
fi
cs 0 resume iris
http POST /models/iris "$iris"
[ "$status" = 200 ] && pass "resume: 200 again" || fail "resume: 200 again" "status $status: $body"
cs 0 restart iris
http POST /models/iris "$iris"
[ "$status" = 200 ] && pass "restart: 200 after replacing the processes" || fail "restart: 200" "status $status: $body"

# ------------------------------------------------------------ Redis killed
rpid=$(redis_pid) || rpid=
resumed0=$(grep -c "resumed reporting" "$CUBESERVE_RUN_DIR/logs/iris.log" || true)
[ -n "$rpid" ] && kill -KILL "$rpid"
oks=0
for i in $(seq 1 20); do http POST /models/iris "$iris"; [ "$status" = 200 ] && oks=$((oks + 1)); sleep 0.05; done
if [ "$oks" = 20 ]; then
	pass "Redis killed: 20 of 20 requests still succeed"
else
	fail "Redis killed: requests still succeed" "$oks of 20"
fi
r=0
"$CS" --registry "unix:$run/nowhere.sock" list >"$run/unreach.out" 2>&1 || r=$?
if [ "$r" = 3 ] && grep -q "cannot reach Redis at unix:$run/nowhere.sock" "$run/unreach.out"; then
	pass "an unreachable registry: exit 3 and a message with the address and how it tried"
else
	fail "an unreachable registry: exit 3" "exit $r: $(cat "$run/unreach.out")"
fi
# a new redis-server (up restarts it), then a heartbeat written to it: the
# instance hash restored from the AOF may still look live, so `live` alone
# proves nothing until the worker has logged that it reports again
restarted() { local p; p=$(redis_pid) && [ "$p" != "$rpid" ]; }
resumed() {
	[ "$(grep -c "resumed reporting" "$CUBESERVE_RUN_DIR/logs/iris.log")" -gt "$resumed0" ] &&
		live iris 1
}
if [ -n "$rpid" ] && wait_for 20 restarted && wait_for 10 resumed &&
	"$CS" show iris >/dev/null 2>&1; then
	pass "Redis back (up restarted it from its AOF): heartbeats resumed, iris still registered"
else
	fail "heartbeats resume after Redis returns" "killed redis '$rpid', now '$(redis_pid)'" \
		"$(tail -n 3 "$CUBESERVE_RUN_DIR/logs/up.log")" "$(tail -n 5 "$CUBESERVE_RUN_DIR/logs/iris.log")"
fi

# ------------------------------------------------------------ undeploy, remove
cs 0 undeploy iris
http POST /models/iris "$iris"
[ "$status" = 404 ] && pass "undeploy: the route is gone (404)" || fail "undeploy: 404" "status $status"
cs 0 remove iris@1.0.0 && cs 0 show iris --json && [ "$(jq -r '[.versions[].version] | join(",")' <<<"$out")" = 2.0.0 ] &&
	pass "remove iris@1.0.0 keeps 2.0.0"
cs 0 remove iris && cs 4 show iris && pass "remove iris: gone (show exits 4)"
cs 0 remove race
if [ "$(blobs)" = 0 ]; then
	pass "removing every model deletes every blob from the store"
else
	fail "the store is empty after removing every model" "$(blobs) blobs left"
fi

# ------------------------------------------------------------ down
nginx_pid=$(cat "$CUBESERVE_RUN_DIR/nginx/nginx.pid" 2>/dev/null || true)
cs 0 down && ! kill -0 "$nginx_pid" 2>/dev/null && ! pgrep -f "redis-server.*$CUBESERVE_RUN_DIR/" >/dev/null &&
	kill -0 "$bystander" && pass "down stops the detached stack, nothing else"
cs 0 down && [[ $out == *"nothing to stop"* ]] && pass "down with no stack up: nothing to stop"

if grep -lE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$run"/*/logs/*.log "$run"/*.out >/dev/null 2>&1; then
	fail "no sanitizer reports" "$(grep -hE -A3 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$run"/*/logs/*.log "$run"/*.out | head -n 20)"
else
	pass "no sanitizer reports in the logs"
fi
echo "1..$n"
