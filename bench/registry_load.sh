#!/bin/bash
# registry_load.sh - how many instance heartbeats one Redis takes: the
# worker's heartbeat script (heartbeat_lua, taken from
# runtime/registry/registry.c so the bench runs what the workers run) with
# 15 fields, driven by redis-benchmark from 50 connections with random
# instance ids, against a plain SET of the same Redis in the same run (the
# baseline), and the host agent's lease script from hosts.c. Prints
# requests/s and the ratio; --write puts them into docs/performance.md.
set -euo pipefail

usage() {
	echo "Usage: bench/registry_load.sh [--requests N] [--write]"
	echo "  --requests N  per measurement (default 100000). Needs redis-server, redis-benchmark."
}
srcdir=$(cd "$(dirname "$0")/.." && pwd)
requests=100000
write=0
cmdline="bench/registry_load.sh $*"
while [ $# -gt 0 ]; do
	case $1 in
	--requests) requests=$2; shift 2 ;;
	--write) write=1; shift ;;
	-h | --help) usage; exit 0 ;;
	*) echo "registry_load.sh: unknown option '$1'" >&2; exit 2 ;;
	esac
done
for t in redis-server redis-cli redis-benchmark; do
	command -v "$t" >/dev/null || { echo "registry_load.sh: $t is not installed" >&2; exit 1; }
done
run=$(mktemp -d /tmp/cs-regload.XXXXXX)
redis-server --port 0 --unixsocket "$run/r.sock" --dir "$run" --save '' --appendonly no \
	--logfile "$run/redis.log" &
rpid=$!
trap 'kill $rpid 2>/dev/null; wait $rpid 2>/dev/null; rm -rf "$run"' EXIT
for _ in $(seq 100); do redis-cli -s "$run/r.sock" ping >/dev/null 2>&1 && break; sleep 0.05; done
redis-cli -s "$run/r.sock" set cs:schema 1 >/dev/null

# a C string constant of the source (one "..." literal per line, maybe
# after LUA_HEAD / HEAD, the schema check), as the Lua text it is
lua_of() {
	local body
	body=$(awk -v name="$1" '
		$0 ~ "^static const char " name "\\[\\] = " { on = 1; sub(/^[^=]*= */, "") }
		on { line = $0; done = (line ~ /;[ \t]*$/); sub(/;[ \t]*$/, "", line); print line; if (done) exit }
	' "$2")
	case $body in
	LUA_HEAD* | HEAD*)
		printf '%s\n' "local p = ARGV[1]" "local s = redis.call('GET', p .. 'schema')" \
			"if s ~= ARGV[2] then return redis.error_reply('CSSCHEMA ' .. (s or 'none')) end" ;;
	esac
	printf '%s\n' "$body" | sed -n 's/^[ \t]*\(LUA_HEAD\|HEAD\)\{0,1\}[ \t]*"\(.*\)"[ \t]*$/\2/p' |
		while IFS= read -r l; do printf '%b' "$l"; done
}
hb=$(lua_of heartbeat_lua "$srcdir/runtime/registry/registry.c")
host=$(lua_of beat_lua "$srcdir/runtime/registry/hosts.c")
[ -n "$hb" ] && [ -n "$host" ] || { echo "registry_load.sh: could not read the scripts" >&2; exit 1; }
hsha=$(redis-cli -s "$run/r.sock" script load "$hb")
bsha=$(redis-cli -s "$run/r.sock" script load "$host")
fields=()
for f in host pid model version state listen processes busy requests rps p50_ms p99_ms last_error started updated; do
	fields+=("$f" "value-of-$f-123")
done
rate() { redis-benchmark -s "$run/r.sock" -c 50 -n "$requests" -r 20000 -q "$@" 2>/dev/null |
	tr '\r' '\n' | grep -o '[0-9.]* requests per second' | tail -n 1 | awk '{print $1}'; }
set_rate=$(rate SET key:__rand_int__ value)
hb_rate=$(rate EVALSHA "$hsha" 0 cs: 1 model-__rand_int__ host:__rand_int__ 5 1 "${fields[@]}")
host_rate=$(rate EVALSHA "$bsha" 0 cs: 1 node-__rand_int__ agent-1 5000 1796000000000 10.0.0.1 8 17179869184 0.1.0)
cpu=$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')
report="## Registry load (bench/registry_load.sh)

\`$cmdline\` on $cpu ($(nproc) cores), $(date -u '+%Y-%m-%d'): redis-benchmark, 50
connections over a unix socket, $requests requests each, random ids (20,000
instances), against one redis-server $(redis-server --version | grep -o 'v=[0-9.]*').

| what | requests/s | vs SET |
| --- | ---: | ---: |
| SET (baseline) | $set_rate | 1.00 |
| instance heartbeat script (15 fields) | $hb_rate | $(printf "%.2f" "$(echo "$hb_rate / $set_rate" | bc -l)") |
| host agent beat (lease + record) | $host_rate | $(printf "%.2f" "$(echo "$host_rate / $set_rate" | bc -l)") |"
echo "$report"
if [ "$write" = 1 ]; then
	f=$srcdir/docs/performance.md
	if grep -q '^## Registry load' "$f"; then
		awk -v new="$report" '/^## Registry load/ { print new; skip = 1; next } skip && /^## / { skip = 0 } !skip { print }' "$f" >"$f.tmp" && mv "$f.tmp" "$f"
	else
		printf '\n%s\n' "$report" >>"$f"
	fi
	echo "registry_load.sh: wrote docs/performance.md"
fi
