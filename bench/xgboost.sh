#!/bin/bash
# xgboost.sh - the breast_cancer example (xgboost plugin, 60 trees of depth
# 3, 30 features) served against in process, in one run: in-process
# predictions through the runtime (bench/infer_bench.c: batch 1 and 32, in
# one process and in two at once) against the same manifest served
# through a private nginx + cubeserve-worker --processes 1 and 2, driven by
# wrk at c=1 and c=32 with one row per request, and at c=32 with 32 rows per
# request, through the glue ({"rows": [...]}) and through V2 (no glue). Prints the table and the served/in-process
# ratios; --write puts them into docs/performance.md ("XGBoost: served vs
# in-process").
set -euo pipefail

usage() {
	cat <<'EOF'
Usage: bench/xgboost.sh [--duration S] [--inproc-seconds S] [--builddir DIR]
                        [--write]

  --duration S        seconds per wrk run (default 10, 3..120)
  --inproc-seconds S  seconds per in-process measurement (default 10, 3..120)
  --builddir DIR      the build to use (default ./build-bench): the worker,
                      the xgboost plugin and libcsrt.a. Build it WITHOUT
                      sanitizers:  scripts/build.sh build-bench
  --write             put the results into docs/performance.md

Served requests POST {"features": [30 numbers]} (a row of samples.json) or
{"rows": [32 rows]} to /models/breast_cancer (JSON, Lua glue, inference,
JSON answer), or the 32 rows as one V2 tensor to
/v2/models/breast_cancer/infer (JSON decoded straight into the tensor).
In process, infer_bench feeds the same model FP32 rows of values cycling
through 0..16 (tree inference costs about the same for any values). Needs nginx, spawn-fcgi, wrk, curl, jq, make. Loopback only; every
run stops after its duration.
EOF
}

srcdir=$(cd "$(dirname "$0")/.." && pwd)
cmdline="bench/xgboost.sh $*"
duration=10
inproc_seconds=10
builddir=$srcdir/build-bench
write=0
while [ $# -gt 0 ]; do
	case $1 in
	-h | --help) usage; exit 0 ;;
	--duration) duration=${2:?--duration needs a value}; shift ;;
	--inproc-seconds) inproc_seconds=${2:?--inproc-seconds needs a value}; shift ;;
	--builddir) builddir=${2:?--builddir needs a value}; shift ;;
	--write) write=1 ;;
	*) echo "bench: unknown argument '$1' (see --help)" >&2; exit 2 ;;
	esac
	shift
done
for v in "$duration" "$inproc_seconds"; do
	[[ $v =~ ^[0-9]+$ ]] && [ "$v" -ge 3 ] && [ "$v" -le 120 ] ||
		{ echo "bench: durations are whole seconds, 3..120 (got '$v')" >&2; exit 2; }
done
PATH=$PATH:/usr/sbin
for tool in nginx spawn-fcgi wrk curl jq make; do
	command -v "$tool" >/dev/null 2>&1 ||
		{ echo "bench: $tool is not installed (scripts/install-deps.sh)" >&2; exit 1; }
done
builddir=$(cd "$builddir" && pwd) || exit 1
if [ ! -x "$builddir/cubeserve-worker" ] || [ ! -f "$builddir/libcsrt.a" ]; then
	echo "bench: no build in $builddir (scripts/build.sh $(basename "$builddir"))" >&2
	exit 1
fi
if grep -q '^SAN_FLAGS = .*sanitize' "$builddir/Makefile"; then
	echo "bench: $builddir is built with sanitizers; use a plain build (scripts/build.sh build-bench)" >&2
	exit 1
fi
[ -f "$builddir/plugins/xgboost/.libs/xgboost.so" ] ||
	{ echo "bench: the xgboost plugin is not built in $builddir (libxgboost-dev missing at configure?)" >&2; exit 1; }

manifest=$srcdir/examples/breast_cancer/model.json
samples=$srcdir/examples/breast_cancer/samples.json

# The build brought up to date, then the in-process harness, compiled by
# the build's own make with the project's flags and linked with libcsrt.a.
echo "bench: make -C $builddir"
make -s -C "$builddir" --no-print-directory -j"${CS_JOBS:-2}" >"$builddir/bench-make.log" 2>&1 ||
	{ tail -n 20 "$builddir/bench-make.log" >&2; echo "bench: the build failed" >&2; exit 1; }
mkdir -p "$builddir/bench"
make -s -C "$builddir" --no-print-directory --eval "bench/infer_bench: $srcdir/bench/infer_bench.c libcsrt.a
	\$(CC) \$(DEFS) \$(DEFAULT_INCLUDES) \$(AM_CPPFLAGS) \$(CPPFLAGS) \$(AM_CFLAGS) \$(CFLAGS) \$(JANSSON_CFLAGS) \$(LUA_CFLAGS) -o \$@ \$< \$(AM_LDFLAGS) \$(LDFLAGS) \$(CSRT_LIBS)" \
	bench/infer_bench
infer_bench=$builddir/bench/infer_bench

export CS_TOP_SRCDIR=$srcdir CS_TOP_BUILDDIR=$builddir
# shellcheck disable=SC1091
. "$srcdir/scripts/stack.sh"
run=$(mktemp -d "${TMPDIR:-/tmp}/cs-bench-xgboost.XXXXXX")
trap 'cs_stack_stop; rm -rf "$run"' EXIT
cs_stack_init "$run"

row_body=$(jq -c '{features: .inputs[0]}' "$samples")
rows_body=$(jq -c '{rows: [.inputs[], .inputs[0:8][]]}' "$samples")
[ "$(jq '.rows | length' <<<"$rows_body")" = 32 ] || { echo "bench: samples.json changed size" >&2; exit 1; }
v2_body=$(jq -c '{inputs: [{name: "features", datatype: "FP32", shape: [32, 30], data: [.rows[][]]}]}' <<<"$rows_body")

# cpu_sample ROOT...: "TOTAL BUSY T1 T2 ..." - all ticks and busy ticks of
# the machine, then the ticks of each ROOT pid with all its descendants.
cpu_sample() {
	{ cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk -v roots="$*" '
		FILENAME == "/proc/stat" { if ($1 == "cpu") { busy = $2 + $3 + $4 + $7 + $8 + $9; total = busy + $5 + $6 }; next }
		{ pid = $1; s = $0; sub(/^.*\) /, "", s); split(s, f, " "); ppid[pid] = f[2]; ticks[pid] = f[12] + f[13] }
		END {
			n = split(roots, r, " ")
			for (p in ppid) {
				q = p
				for (hop = 0; hop < 20 && (q in ppid); hop++) {
					for (i = 1; i <= n; i++) if (q == r[i]) sum[i] += ticks[p]
					q = ppid[q]
				}
			}
			printf "%d %d", total, busy
			for (i = 1; i <= n; i++) printf " %d", sum[i]
			print ""
		}' /proc/stat -
}
# sampled SECONDS WORKER-PID CMD...: runs CMD (stdout to $run/out) and reads
# the CPU from 1 s after its start until 1 s before SECONDS. Sets $cpu to
# "worker http other" in % of all the cores: the worker's process tree (or,
# without WORKER-PID, CMD's: infer_bench), nginx + CMD (wrk), and processes
# outside this bench (noise: the machine is shared).
sampled() {
	local secs=$1 wpid=$2 pid s0 s1
	shift 2
	"$@" >"$run/out" &
	pid=$!
	sleep 1
	s0=$(cpu_sample $$ "${wpid:-$pid}" "$(cs_pid nginx)" "$pid")
	sleep $((secs - 2))
	s1=$(cpu_sample $$ "${wpid:-$pid}" "$(cs_pid nginx)" "$pid")
	wait "$pid" || { echo "bench: failed: $*" >&2; cat "$run/out" >&2; exit 1; }
	cpu=$(awk -v a="$s0" -v b="$s1" -v own="${wpid:+1}" 'BEGIN {
		n = split(a, x, " "); split(b, y, " ")
		for (i = 1; i <= n; i++) d[i] = y[i] - x[i]
		t = d[1] > 0 ? d[1] : 1
		# d: total busy ours worker nginx cmd
		http = own ? d[5] + d[6] : 0
		printf "%.1f %.1f %.1f", 100 * d[4] / t, 100 * http / t, 100 * (d[2] - d[3]) / t }')
}
# per_req SHARE RATE: CPU ms per request (or prediction) from a share in %
# of all cores and a rate per second.
per_req() { awk -v s="$1" -v r="$2" -v n="$(nproc)" 'BEGIN { printf "%.4f", (r > 0 ? s / 100 * n * 1000 / r : 0) }'; }
kv() { sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" <<<"$2"; }

# inproc BATCH PROCS: sets $result (infer_bench's key=value line), $cpu
inproc() {
	sampled $((inproc_seconds + 1)) "" "$infer_bench" --manifest "$manifest" \
		--plugin-dir "$builddir/plugins" --seconds "$inproc_seconds" --warmup 1 \
		--batch "$1" --procs "$2"
	result=$(grep '^batch=' "$run/out")
}

# served CONNS BODY [PATH]: sets $result to "rps p50_ms p99_ms errors",
# $cpu. PATH defaults to the glue's /models/breast_cancer.
served() {
	CS_BENCH_BODY=$2 sampled "$duration" "$(cs_pid bc)" timeout $((duration + 30)) wrk -t1 -c "$1" \
		-d "${duration}s" --timeout 5s -s "$srcdir/bench/post.lua" \
		"http://127.0.0.1:$port${3:-/models/breast_cancer}"
	result=$(awk '/^CSBENCH/ {
		for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
		printf "%.1f %.3f %.3f %d\n", v["rps"], v["p50_us"] / 1000, v["p99_us"] / 1000,
			v["non2xx"] + v["timeouts"] + v["sockerr"] }' "$run/out")
	[ -n "$result" ] || { echo "bench: wrk printed no result" >&2; cat "$run/out" >&2; exit 1; }
}

# ---------------------------------------------------------------- run
port=$(cs_free_port)
cs_route breast_cancer "unix:$CS_RUN/bc.sock"
export CS_NGINX_ACCESS_LOG=off CS_NGINX_WORKERS=1
cs_nginx_start "$port"

declare -A R C
started=$(date -u '+%Y-%m-%d %H:%M UTC')
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for bp in "1 1" "32 1" "1 2" "32 2"; do
	# shellcheck disable=SC2086 # two numbers
	set -- $bp
	echo "bench: in process, batch $1, $2 process(es), ${inproc_seconds}s"
	inproc "$1" "$2"
	R[in$1x$2]=$result C[in$1x$2]=$cpu
done
for p in 1 2; do
	cs_stop bc 2>/dev/null || true
	rm -f "$CS_RUN/bc.sock"
	cs_spawn bc "$CS_RUN/bc.sock" "$CS_WORKER" --manifest "$manifest" \
		--plugin-dir "$CS_PLUGIN_DIR" --lua-dir "$CS_LUA_DIR" --log-level warn \
		--processes "$p"
	cs_wait_http "http://127.0.0.1:$port/models/breast_cancer" 60 "$(cs_pid bc)"
	ans=$(curl -s -m 10 -H 'Content-Type: application/json' -d "$row_body" \
		"http://127.0.0.1:$port/models/breast_cancer")
	jq -e '.p_benign | type == "number"' <<<"$ans" >/dev/null ||
		{ echo "bench: breast_cancer answered: $ans" >&2; exit 1; }
	CS_BENCH_BODY=$row_body timeout 20 wrk -t1 -c8 -d2s -s "$srcdir/bench/post.lua" \
		"http://127.0.0.1:$port/models/breast_cancer" >/dev/null # warm-up
	for c in 1 32; do
		echo "bench: served, --processes $p, c=$c, one row a request, ${duration}s"
		served "$c" "$row_body"
		R[p$p,c$c]=$result C[p$p,c$c]=$cpu
	done
	echo "bench: served, --processes $p, c=32, 32 rows a request, ${duration}s"
	served 32 "$rows_body"
	R[p$p,rows]=$result C[p$p,rows]=$cpu
	echo "bench: served, --processes $p, c=32, 32 rows a V2 request (no glue), ${duration}s"
	served 32 "$v2_body" "/v2/models/breast_cancer/infer"
	R[p$p,v2]=$result C[p$p,v2]=$cpu
done
cs_stop bc
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- report
pct() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f %%", 100 * a / b }'; }
report=$(
	echo "Run of \`$cmdline\` on $started: $(nproc) cores ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)), $(uname -sr), XGBoost $(dpkg-query -W -f='${Version}' libxgboost-dev 2>/dev/null || echo '?'); load average before / after: $load_before / $load_after. CPU columns from /proc during the middle of each run: \"CPU ms\" is CPU time per prediction (in process) or per request (served: the worker's processes; nginx + wrk, the HTTP side); \"other\" is the share of all $(nproc) cores taken by processes outside the bench (the machine is shared: other people's builds and benches)."
	echo
	echo "In process (\`bench/infer_bench\`, the example's manifest, one thread per process, ${inproc_seconds} s; with 2 processes both run at once and their predictions/s are added):"
	echo
	echo "| batch | processes | predictions/s | p50 ms/call | p99 ms/call | CPU ms/prediction | other |"
	echo "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
	for k in in1x1 in32x1 in1x2 in32x2; do
		l=${R[$k]}
		read -r w _ oth <<<"${C[$k]}"
		echo "| $(kv batch "$l") | $(kv procs "$l") | $(kv infer_per_s "$l") | $(kv p50_ms "$l") | $(kv p99_ms "$l") | $(per_req "$w" "$(kv infer_per_s "$l")") | $oth % |"
	done
	echo
	echo "Served (wrk -t1, ${duration} s per run, nginx 1 worker, keepalive to the worker). **served / in-process**: rows predicted per second served over in-process predictions/s on the same number of processes (measured with both running at once, not 2x): one row a request against batch 1, 32 rows a request against batch 32."
	echo
	echo "| processes | c | rows a request | requests/s | rows/s | served / in-process | p50 ms | p99 ms | errors | worker CPU ms/req | nginx + wrk CPU ms/req | other |"
	echo "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
	for p in 1 2; do
		for k in c1 c32 rows v2; do
			read -r rps p50 p99 errs <<<"${R[p$p,$k]}"
			read -r w http oth <<<"${C[p$p,$k]}"
			case $k in
			c1 | c32) rows=1 c=${k#c} base=$(kv infer_per_s "${R[in1x$p]}") shown=1 ;;
			rows) rows=32 c=32 base=$(kv infer_per_s "${R[in32x$p]}") shown=32 ;;
			v2) rows=32 c=32 base=$(kv infer_per_s "${R[in32x$p]}") shown="32 (V2, no glue)" ;;
			esac
			rows_s=$(awk -v r="$rps" -v n="$rows" 'BEGIN { printf "%.0f", n * r }')
			echo "| $p | $c | $shown | $rps | $rows_s | **$(pct "$rows_s" "$base")** | $p50 | $p99 | $errs | $(per_req "$w" "$rps") | $(per_req "$http" "$rps") | $oth % |"
		done
	done
)
echo
echo "$report"

if [ "$write" = 1 ]; then
	doc=$srcdir/docs/performance.md
	begin='<!-- bench/xgboost.sh:begin -->'
	end='<!-- bench/xgboost.sh:end -->'
	if ! grep -qF "$begin" "$doc"; then
		echo "bench: $doc has no '$begin' marker; add the section first" >&2
		exit 1
	fi
	printf '%s\n' "$report" >"$run/report.md"
	awk -v b="$begin" -v e="$end" -v f="$run/report.md" '
		$0 == b { print; while ((getline l < f) > 0) print l; skip = 1; next }
		$0 == e { skip = 0 }
		!skip { print }' "$doc" >"$run/doc.md"
	cp "$run/doc.md" "$doc"
	echo "bench: wrote the xgboost section of $doc"
fi
