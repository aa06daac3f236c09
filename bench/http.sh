#!/bin/bash
# http.sh - HTTP throughput and latency of cubeserve against its baselines,
# in one run, through one private nginx on loopback:
#   (a) nginx alone: `return 200` (location /nginx-health)
#   (b) fcgi_hello: a minimal libfcgi responder, same route template and
#       keepalive settings as (c)
#   (c) the linear example model through cubeserve-worker
# at c=1 and c=32, then the keepalive stall check: (b) with ONE libfcgi
# responder and (c) with one worker, at c=32 with keepalive on.
set -euo pipefail

usage() {
	cat <<'EOF'
Usage: bench/http.sh [--duration S] [--rounds N] [--threads T] [--hello-procs N]
                     [--keepalive N] [--builddir DIR] [--max-other PCT]
                     [--retries N] [--write]

  --duration S     seconds per wrk run (default 10)
  --rounds N       rounds of (b), (c), (d) one after the other, interleaved
                   so that a change of the machine's speed hits all of them;
                   each row gives the median of its rounds (default 3)
  --threads T      wrk threads (default 2; at most the connection count)
  --hello-procs N  fcgi_hello responder processes for (b) (default 32, one
                   per connection at c=32, so that no responder sits pinned
                   on an idle kept-alive connection; the stall check uses 1)
  --keepalive N    upstream keepalive of the routes (default 16; 0 = off)
  --builddir DIR   where cubeserve-worker and the plugins are (default ./build;
                   build it without sanitizers for meaningful numbers)
  --max-other PCT  run again when processes outside the bench took more than
                   PCT % of the machine's busy CPU time (default 10)
  --retries N      at most N more runs per measurement (default 2)
  --write          put the results into docs/performance.md

Needs nginx, spawn-fcgi, wrk, curl, jq, gcc and libfcgi-dev. Loopback only.
EOF
}

srcdir=$(cd "$(dirname "$0")/.." && pwd)
cmdline="bench/http.sh $*"
duration=10
threads=2
hello_procs=32
keepalive=16
builddir=$srcdir/build
write=0
max_other=10
retries=2
rounds=3
while [ $# -gt 0 ]; do
	case $1 in
	-h | --help) usage; exit 0 ;;
	--duration) duration=${2:?--duration needs a value}; shift ;;
	--rounds) rounds=${2:?--rounds needs a value}; shift ;;
	--threads) threads=${2:?--threads needs a value}; shift ;;
	--hello-procs) hello_procs=${2:?--hello-procs needs a value}; shift ;;
	--keepalive) keepalive=${2:?--keepalive needs a value}; shift ;;
	--builddir) builddir=${2:?--builddir needs a value}; shift ;;
	--max-other) max_other=${2:?--max-other needs a value}; shift ;;
	--retries) retries=${2:?--retries needs a value}; shift ;;
	--write) write=1 ;;
	*) echo "bench: unknown argument '$1' (see --help)" >&2; exit 2 ;;
	esac
	shift
done
for v in "$duration" "$rounds" "$threads" "$hello_procs" "$keepalive" "$max_other" "$retries"; do
	[[ $v =~ ^[0-9]+$ ]] || { echo "bench: '$v' is not a number" >&2; exit 2; }
done
if [ "$duration" -lt 1 ] || [ "$duration" -gt 300 ]; then
	echo "bench: --duration must be 1..300 s" >&2
	exit 2
fi
for tool in nginx spawn-fcgi wrk curl jq gcc; do
	command -v "$tool" >/dev/null 2>&1 || PATH=$PATH:/usr/sbin command -v "$tool" >/dev/null 2>&1 ||
		{ echo "bench: $tool is not installed (scripts/install-deps.sh)" >&2; exit 1; }
done
PATH=$PATH:/usr/sbin

builddir=$(cd "$builddir" && pwd)
export CS_TOP_SRCDIR=$srcdir CS_TOP_BUILDDIR=$builddir
# shellcheck disable=SC1091
. "$srcdir/scripts/stack.sh"
run=$(mktemp -d "${TMPDIR:-/tmp}/cs-bench.XXXXXX")
trap 'cs_stack_stop; rm -rf "$run"' EXIT
cs_stack_init "$run"

have_c=1
if [ ! -x "$CS_WORKER" ]; then
	[ "$write" = 0 ] || { echo "bench: --write needs the worker at $CS_WORKER" >&2; exit 1; }
	echo "bench: WARNING: no worker at $CS_WORKER (scripts/build.sh): measuring (a) and (b) only" >&2
	have_c=0
fi
if [ "$have_c" = 1 ] && ldd "$CS_WORKER" 2>/dev/null | grep -q 'libasan\|libubsan'; then
	echo "bench: WARNING: $CS_WORKER is built with sanitizers; numbers will be low" >&2
fi

echo "bench: building fcgi_hello"
gcc -O2 -std=c11 -o "$run/fcgi_hello" "$srcdir/bench/fcgi_hello.c" -lfcgi

body=$(jq -c '.example' "$srcdir/examples/linear/model.json")
export CS_BENCH_BODY=$body

cs_spawn hello "$CS_RUN/hello.sock" "$run/fcgi_hello" "$hello_procs"
cs_route hello "unix:$CS_RUN/hello.sock"
cs_spawn hello1 "$CS_RUN/hello1.sock" "$run/fcgi_hello" 1
cs_route hello1 "unix:$CS_RUN/hello1.sock"
procs=$(nproc)
[ "$have_c" = 0 ] || cs_worker_start linear "$srcdir/examples/linear/model.json" --log-level warn
# the same model under another name (its route), served by a pool
ex=$srcdir/examples/linear
jq --arg d "$ex" '.name = "linear_pool" | .model = $d + "/" + .model | .glue = $d + "/" + .glue' \
	"$ex/model.json" >"$run/linear_pool.json"
[ "$have_c" = 0 ] || cs_worker_start linear_pool "$run/linear_pool.json" --log-level warn \
	--processes "$procs"
port=$(cs_free_port)
export CS_NGINX_KEEPALIVE=$keepalive CS_NGINX_ACCESS_LOG=off CS_NGINX_WORKERS=1
cs_nginx_start "$port"
base=http://127.0.0.1:$port
[ "$have_c" = 0 ] || cs_wait_http "$base/models/linear" 30 "$(cs_pid linear)"
[ "$have_c" = 0 ] || cs_wait_http "$base/models/linear_pool" 30 "$(cs_pid linear_pool)"
cs_wait_http "$base/models/hello" 10 "$(cs_pid hello)"

# Sanity: every target answers 200 with the expected body.
check() {
	local out
	out=$(curl -s -m 5 -w ' %{http_code}' -H 'Content-Type: application/json' -d "$body" "$base$1")
	[[ $out == *" 200" && $out == *"$2"* ]] ||
		{ echo "bench: $1 answered: $out" >&2; exit 1; }
}
check /nginx-health '"ok"'
check /models/hello '"hello"'
check /models/hello1 '"hello"'
[ "$have_c" = 0 ] || check /models/linear '"label"'
[ "$have_c" = 0 ] || check /models/linear_pool '"label"'

field() { awk -v i="$2" '{ print $i }' <<<"$1"; }

# CPU ticks: "BUSY OURS" - all busy ticks of the machine, and those of the
# processes of this bench (its descendants: nginx, responders, wrk).
cpu_sample() {
	local busy
	busy=$(awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat)
	# cat, not awk, reads the per-process files: processes come and go
	{ cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk -v top=$$ -v busy="$busy" '
		{
			pid = $1; s = $0; sub(/^.*\) /, "", s); split(s, f, " ")
			ppid[pid] = f[2]; ticks[pid] = f[12] + f[13]
		}
		END {
			for (p in ppid) {
				q = p
				for (hop = 0; hop < 20 && (q in ppid) && q != top; hop++) q = ppid[q]
				if (q == top) ours += ticks[p]
			}
			print busy, ours + 0
		}'
}

# wrk_run PATH CONNS SECONDS: prints "rps p50_us p99_us non2xx timeouts
# sockerr max_us other%", other% being the share of the machine's busy CPU
# time spent by processes outside this bench during the run (noise).
wrk_run() {
	local t=$threads line wpid s0 s1 other=0
	[ "$t" -le "$2" ] || t=$2
	timeout $(($3 + 30)) wrk -t "$t" -c "$2" -d "${3}s" --timeout 2s \
		-s "$srcdir/bench/post.lua" "$base$1" >"$run/wrk.out" &
	wpid=$!
	if [ "$3" -ge 3 ]; then
		sleep 1
		s0=$(cpu_sample)
		sleep $(($3 - 2))
		s1=$(cpu_sample)
		other=$(awk -v a="$s0" -v b="$s1" 'BEGIN { split(a, x, " "); split(b, y, " ")
			busy = y[1] - x[1]; ours = y[2] - x[2]
			printf "%.0f", ((busy > 0 && busy > ours) ? 100 * (busy - ours) / busy : 0) }')
	fi
	wait "$wpid" || { echo "bench: wrk failed on $1" >&2; exit 1; }
	line=$(grep '^CSBENCH' "$run/wrk.out") || { echo "bench: wrk failed on $1" >&2; exit 1; }
	awk -v other="$other" '{ for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
		print v["rps"], v["p50_us"], v["p99_us"], v["non2xx"], v["timeouts"], v["sockerr"], v["max_us"], other }' <<<"$line"
}

# measure PATH CONNS SECONDS: wrk_run, repeated (at most --retries more
# times) while other processes took more than --max-other % of the CPU;
# prints the least disturbed run.
measure() {
	local best r try
	best=$(wrk_run "$@")
	for ((try = 0; try < retries; try++)); do
		[ "$(field "$best" 8)" -gt "$max_other" ] || break
		echo "bench:   disturbed (other load $(field "$best" 8)% > $max_other%): again" >&2
		r=$(wrk_run "$@")
		[ "$(field "$r" 8)" -ge "$(field "$best" 8)" ] || best=$r
	done
	echo "$best"
}

declare -A R
targets=(a b c d)
[ "$have_c" = 1 ] || targets=(a b)
declare -A path=([a]=/nginx-health [b]=/models/hello [c]=/models/linear [d]=/models/linear_pool)
declare -A label=([a]="(a) nginx return 200" [b]="(b) fcgi_hello x$hello_procs" [c]="(c) cubeserve linear, 1 process"
	[d]="(d) cubeserve linear, --processes $procs")
for k in "${targets[@]}"; do
	wrk_run "${path[$k]}" 32 1 >/dev/null # warm-up
done
# median_of "LINE"...: per field, the median of the rounds' values (the
# field-wise median, so a row's p99 is the median p99 of its rounds)
median_of() {
	printf '%s\n' "$@" | awk '{ for (i = 1; i <= NF; i++) v[i, NR] = $i; nf = NF }
		END { for (i = 1; i <= nf; i++) { n = 0
			for (r = 1; r <= NR; r++) a[++n] = v[i, r]
			for (x = 1; x <= n; x++) for (y = x + 1; y <= n; y++) if (a[y] + 0 < a[x] + 0) { t = a[x]; a[x] = a[y]; a[y] = t }
			printf "%s%s", (i > 1 ? " " : ""), (n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2) }
			print "" }'
}
declare -A ROUNDS
for c in 1 32; do
	for ((round = 1; round <= rounds; round++)); do
		for k in "${targets[@]}"; do
			echo "bench: ${label[$k]}, c=$c, ${duration}s, round $round of $rounds"
			r=$(measure "${path[$k]}" "$c" "$duration")
			echo "bench:   -> $r" >&2
			ROUNDS[$k,$c]+="$r"$'\n'
		done
	done
	for k in "${targets[@]}"; do
		mapfile -t lines < <(printf '%s' "${ROUNDS[$k,$c]}")
		R[$k,$c]=$(median_of "${lines[@]}")
	done
done
echo "bench: keepalive stall check, c=32, ${duration}s each"
R[s_b]=$(measure /models/hello1 32 "$duration")
stalls=(b c)
[ "$have_c" = 1 ] || stalls=(b)
[ "$have_c" = 0 ] || R[s_c]=$(measure /models/linear 32 "$duration")

ms() { awk -v u="$1" 'BEGIN { printf "%.2f", u / 1000 }'; }
errs() {
	local e=$(($(field "$1" 4) + $(field "$1" 5) + $(field "$1" 6)))
	[ "$e" -eq 0 ] && echo 0 || echo "$e ($(field "$1" 4) non-2xx, $(field "$1" 5) timeouts, $(field "$1" 6) socket)"
}

table=$(
	echo "| target | c | req/s | p50 ms | p99 ms | errors | other load |"
	echo "| --- | ---: | ---: | ---: | ---: | --- | ---: |"
	for k in "${targets[@]}"; do
		for c in 1 32; do
			r=${R[$k,$c]}
			printf '| %s | %d | %.0f | %s | %s | %s | %s%% |\n' "${label[$k]}" "$c" "$(field "$r" 1)" \
				"$(ms "$(field "$r" 2)")" "$(ms "$(field "$r" 3)")" "$(errs "$r")" "$(field "$r" 8)"
		done
	done
)
ratio() { awk -v x="$1" -v y="$2" 'BEGIN { if (y > 0) printf "%.0f", 100 * x / y; else print "n/a" }'; }
[ "$have_c" = 1 ] || R[c,1]="0 0 0 0 0 0 0 0" R[c,32]="0 0 0 0 0 0 0 0"
ratios=
for k in c d; do
	[ "$have_c" = 1 ] || break
	r1=$(ratio "$(field "${R[$k,1]}" 1)" "$(field "${R[b,1]}" 1)")
	r32=$(ratio "$(field "${R[$k,32]}" 1)" "$(field "${R[b,32]}" 1)")
	p99r=$(awk -v x="$(field "${R[$k,32]}" 3)" -v y="$(field "${R[b,32]}" 3)" \
		'BEGIN { if (y > 0) printf "%.2f", x / y; else print "n/a" }')
	met1=$(awk -v r="$r32" 'BEGIN { print (r + 0 >= 100) ? "met" : "NOT met" }')
	met2=$(awk -v r="$p99r" 'BEGIN { print (r + 0 <= 2) ? "met" : "NOT met" }')
	ratios+="- ($k)/(b) throughput: c=1 **${r1}%**, c=32 **${r32}%** (target >= 100% at c=32: $met1); p99 at c=32: **${p99r}x** (target <= 2x: $met2)"$'\n'
done
[ "$have_c" = 1 ] || ratios="- (c) not measured: no cubeserve-worker was built"
[ "$have_c" = 1 ] || ratios="- (c) not measured: no cubeserve-worker was built"
stall=$(
	echo "| keepalive on, c=32, one responder | req/s | p50 ms | p99 ms | max ms | errors | other load |"
	echo "| --- | ---: | ---: | ---: | ---: | --- | ---: |"
	for k in "${stalls[@]}"; do
		r=${R[s_$k]}
		[ "$k" = b ] && name="(b) fcgi_hello, 1 responder" || name="(c) cubeserve-worker, 1 process"
		printf '| %s | %.0f | %s | %s | %s | %s | %s%% |\n' "$name" "$(field "$r" 1)" \
			"$(ms "$(field "$r" 2)")" "$(ms "$(field "$r" 3)")" "$(ms "$(field "$r" 7)")" "$(errs "$r")" "$(field "$r" 8)"
	done
)

worst=0
for key in "${!R[@]}"; do
	o=$(field "${R[$key]}" 8)
	[ "$o" -le "$worst" ] || worst=$o
done
disturbed=
if [ "$worst" -gt "$max_other" ]; then
	disturbed="**Disturbed run**: other processes took up to $worst % of the CPU during some measurements (see \"other load\"); compare with care and rerun on an idle machine."
fi

cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
machine="$(nproc) cores, ${cpu:-unknown CPU}, Linux $(uname -r), $(nginx -v 2>&1 | sed 's/^nginx version: //'), wrk $( (wrk -v 2>&1 || true) | awk 'NR == 1 { print $2 }')"
report=$(
	echo "### $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo
	echo "Machine: $machine."
	echo "nginx: 1 worker process, access log off, upstream keepalive $keepalive,"
	echo "fastcgi_keep_conn on; wrk $threads threads, ${duration}s per run, POST $body;"
	echo "each row the median of $rounds interleaved rounds (b, c, d, b, c, d, ...)."
	echo
	echo '```'
	echo "$cmdline"
	echo '```'
	echo
	[ -z "$disturbed" ] || { echo "$disturbed"; echo; }
	echo "$table"
	echo
	echo "\"other load\": the share of the machine's busy CPU time taken by processes"
	echo "outside the bench during the run; above a few % the run was disturbed."
	echo
	echo "$ratios"
	echo
	echo "Keepalive stall check (an idle kept-alive connection pinning a responder shows as p99 and timeouts):"
	echo
	echo "$stall"
)
echo
echo "$report"

if [ "$write" = 1 ]; then
	doc=$srcdir/docs/performance.md
	begin='<!-- bench/http.sh:begin -->'
	end='<!-- bench/http.sh:end -->'
	[ -f "$doc" ] || printf '# Performance\n\n' >"$doc"
	if ! grep -qF "$begin" "$doc"; then
		printf '\n## Latest run of bench/http.sh\n\n%s\n%s\n' "$begin" "$end" >>"$doc"
	fi
	printf '%s\n' "$report" >"$run/report.md"
	awk -v b="$begin" -v e="$end" -v f="$run/report.md" '
		$0 == b { print; while ((getline l < f) > 0) print l; skip = 1; next }
		$0 == e { skip = 0 }
		!skip { print }' "$doc" >"$run/doc.md"
	cp "$run/doc.md" "$doc"
	echo "bench: wrote $doc"
fi
