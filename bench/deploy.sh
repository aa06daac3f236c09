#!/bin/bash
# deploy.sh - deployments under load: failed requests during a version
# switch, a canary at 10 % then promote, a rollback, scale 1->4->1, kill -9
# of a child and of a master; the supervisor's respawn time; p99 during a
# switch against the steady p99 of the same run; the canary's share over
# 10,000 requests; total PSS of a digits-large deployment at --processes 4
# against --processes 1. A private stack (cubeserve up --detach) on
# loopback; every load is bounded (wrk -d). With --write, replaces its
# section of docs/performance.md.
#
#   bench/deploy.sh [--write] [--duration S] [--port N] [--builddir DIR]
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=$top/build
write=0 dur=5 port=
while [ $# -gt 0 ]; do
	case $1 in
	--write) write=1 ;;
	--duration) dur=$2; shift ;;
	--port) port=$2; shift ;;
	--builddir) build=$2; shift ;;
	-h | --help) sed -n '2,11s/^# \{0,1\}//p' "$0"; exit 0 ;;
	*) echo "deploy.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
	esac
	shift
done
PATH=$PATH:/usr/sbin:/sbin
for tool in wrk jq curl nginx spawn-fcgi redis-server; do
	command -v "$tool" >/dev/null || { echo "deploy.sh: $tool is not installed" >&2; exit 1; }
done
CS=$build/cubeserve
export CUBESERVE_WORKER=$build/cubeserve-worker
# shellcheck disable=SC1091
. "$top/scripts/stack.sh" # cs_free_port
[ -n "$port" ] || port=$(cs_free_port)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/cs-bdeploy.XXXXXX")
export CUBESERVE_RUN_DIR=$tmp/stack
trap '"$CS" down >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
iris='{"x": [5.1, 3.5, 1.4, 0.2]}'
res=$tmp/results
: >"$res"
put() { echo "$1 $2" >>"$res"; }
get() { awk -v k="$1" '$1 == k {print $2}' "$res"; }

"$CS" up --detach --no-examples --port "$port" >"$tmp/up.out" 2>&1 || { cat "$tmp/up.out"; exit 1; }
for v in 1.0.0 2.0.0 3.0.0; do
	mkdir -p "$tmp/v$v"
	cp "$top/examples/linear/glue.lua" "$top/examples/linear/weights.json" "$tmp/v$v/"
	jq --arg v "$v" '.version = $v' "$top/examples/linear/model.json" >"$tmp/v$v/model.json"
	"$CS" publish "$tmp/v$v" >/dev/null
done
"$CS" deploy linear@1.0.0 --processes 2 >/dev/null

cat >"$tmp/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '$iris'
wrk.headers["Content-Type"] = "application/json"
-- a new connection per request: a reload closes idle kept-alive client
-- connections, which a client retries and wrk counts as errors
wrk.headers["Connection"] = "close"
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("CSBENCH rps=%.1f p99_us=%d requests=%d failed=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(99),
    summary.requests, e.status + e.connect + e.read + e.write + e.timeout))
end
LUA
# load KEY CMD...: wrk for $dur s, CMD run 1 s in; records KEY_{requests,failed,p99_us,rps}
load() {
	local key=$1 line
	shift
	wrk -t2 -c8 -d"${dur}s" -s "$tmp/post.lua" "http://127.0.0.1:$port/models/linear" >"$tmp/wrk.txt" 2>&1 &
	local w=$!
	if [ $# -gt 0 ]; then sleep 1; "$@" >>"$tmp/cmds.log" 2>&1 || echo "$key: command failed" >>"$tmp/cmds.log"; fi
	wait "$w" || true
	line=$(grep CSBENCH "$tmp/wrk.txt")
	for f in requests failed p99_us rps; do
		put "${key}_$f" "$(sed -n "s/.* $f=\([0-9.]*\).*/\1/p" <<<"$line")"
	done
	echo "$key: $line"
}
master() { "$CS" status linear --json | jq '[.[0].pools[] | select(.role == "stable")][0].pid'; }
scale_141() { "$CS" scale linear 4 && sleep 1 && "$CS" scale linear 1; }
kill_child() { kill -9 "$(pgrep -P "$(master)" | head -n 1)"; }
kill_master() {
	local old t0 t1
	old=$(master)
	t0=$(date +%s%N)
	kill -9 "$old"
	until "$CS" status linear --json | jq -e --argjson p "$old" \
		'[.[0].pools[] | select(.state == "ready" and .pid != $p)] | length == 1' >/dev/null; do sleep 0.02; done
	t1=$(date +%s%N)
	put respawn_ms $(( (t1 - t0) / 1000000 ))
}

load steady
load switch "$CS" deploy linear@2.0.0
load canary "$CS" deploy linear@3.0.0 --canary 10
cat >"$tmp/count.lua" <<LUA
wrk.method = "POST"
wrk.body = '$iris'
wrk.headers["Content-Type"] = "application/json"
local counts, n = {}, 0
function response(status, headers, body)
  local v = headers["X-Model-Version"] or "none"
  counts[v] = (counts[v] or 0) + 1
  n = n + 1
  if n >= 10000 then
    for k, c in pairs(counts) do io.write(string.format("COUNT %s %d\n", k, c)) end
    wrk.thread:stop()
  end
end
LUA
wrk -t1 -c1 -d120s -s "$tmp/count.lua" "http://127.0.0.1:$port/models/linear" >"$tmp/count.txt" 2>&1 || true
put canary_share "$(awk '$1 == "COUNT" && $2 == "3.0.0" {printf "%.2f", $3 / 100}' "$tmp/count.txt")"
load promote "$CS" promote linear
load rollback "$CS" rollback linear
load scale scale_141
load killchild kill_child
load killmaster kill_master

# memory: digits-large at --processes 1 and 4 (PSS of the master and its children)
pss_total() {
	local m p sum=0
	m=$(master)
	for p in "$m" $(pgrep -P "$m"); do
		sum=$((sum + $(awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup")))
	done
	echo "$sum"
}
if [ -f "$top/examples/digits/digits-large.onnx" ] && "$CS" publish "$top/bench/digits-large.json" >"$tmp/pub.out" 2>&1; then
	master() { "$CS" status digits-large --json | jq '[.[0].pools[] | select(.role == "stable")][0].pid'; }
	for n in 1 4; do
		"$CS" deploy digits-large --processes "$n" >/dev/null
		for i in 1 2 3 4 5; do curl -s -o /dev/null -m 5 "http://127.0.0.1:$port/models/digits-large" \
			-d "$(jq -c '.example' "$top/examples/digits/model.json")"; done
		put "pss_$n" "$(pss_total)"
		"$CS" undeploy digits-large >/dev/null
	done
	put pss_ratio "$(awk -v a="$(get pss_4)" -v b="$(get pss_1)" 'BEGIN {printf "%.2f", a / b}')"
else
	echo "deploy.sh: no digits-large (python3 examples/digits/export.py --large) or it did not publish; no memory figures" >&2
	put pss_1 -; put pss_4 -; put pss_ratio -
fi
put p99_ratio "$(awk -v a="$(get switch_p99_us)" -v b="$(get steady_p99_us)" 'BEGIN {printf "%.2f", a / b}')"
cat "$res"
[ "$write" = 1 ] || exit 0

cpu=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo 2>/dev/null || echo unknown)
row() { echo "| $1 | $(get "${2}_requests") | **$(get "${2}_failed")** | $(awk -v u="$(get "${2}_p99_us")" 'BEGIN {printf "%.2f", u / 1000}') |"; }
section=$(cat <<MD
<!-- bench/deploy.sh:begin -->
## Deployments under load (bench/deploy.sh)

$(date -u +%Y-%m-%d), $cpu, a private stack (\`cubeserve up\`), wrk -t2 -c8
for $dur s per case against \`POST /models/linear\` through nginx, a new
client connection per request; the operation starts 1 s into the load.

| case | requests | failed (non-2xx or socket errors) | p99 (ms) |
| --- | --- | --- | --- |
$(row "steady (1 pool, 2 processes)" steady)
$(row "version switch 1.0.0 -> 2.0.0" switch)
$(row "canary 3.0.0 at 10 %" canary)
$(row "promote the canary" promote)
$(row "rollback" rollback)
$(row "scale 1 -> 4 -> 1" scale)
$(row "kill -9 of a child" killchild)
$(row "kill -9 of the master" killmaster)

- p99 during the switch / steady p99 of the same run: **$(get p99_ratio)x** (target <= 2x)
- the supervisor's respawn after kill -9 of the master (until a new pool is
  routed and ready): **$(get respawn_ms) ms** (target <= 2000)
- canary share over 10,000 requests: **$(get canary_share) %** of the
  requests answered by 3.0.0 (asked 10 %; nginx's weighted round robin)
- digits-large (2.2 M parameters, ONNX) total PSS of the master and its
  children: $(get pss_1) kB at --processes 1, $(get pss_4) kB at
  --processes 4: **$(get pss_ratio)x** (target <= 1.2x)

The machine is shared with other builds: treat the timings as rough. Run it
again with \`bench/deploy.sh --write\`.
<!-- bench/deploy.sh:end -->
MD
)
doc=$top/docs/performance.md
if grep -q '<!-- bench/deploy.sh:begin -->' "$doc"; then
	awk -v s="$section" '
		/<!-- bench\/deploy.sh:begin -->/ {print s; skip = 1; next}
		/<!-- bench\/deploy.sh:end -->/ {skip = 0; next}
		!skip {print}' "$doc" >"$tmp/doc"
	cat "$tmp/doc" >"$doc"
else
	printf '\n%s\n' "$section" >>"$doc"
fi
echo "wrote $doc"
