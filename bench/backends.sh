#!/bin/bash
# backends.sh - the compute-bound digits-large model (examples/digits/export.py
# --large) on each backend, in one run: in-process inference through the
# runtime (bench/infer_bench.c: batch 1 and 32, one thread; batch 1 in two
# processes at once) against the same model served through a private nginx
# + cubeserve-worker with --processes 1 and 2, driven by wrk at c=1, 8, 32.
# Prints the table and the served/in-process throughput ratios; --write
# puts them into docs/performance.md ("Backends: served vs in-process").
set -euo pipefail

usage() {
	cat <<'EOF'
Usage: bench/backends.sh [--duration S] [--inproc-seconds S] [--builddir DIR]
                         [--backends "onnx torch"] [--max-other PCT]
                         [--retries N] [--write]

  --duration S        seconds per wrk run (default 10)
  --inproc-seconds S  seconds per in-process measurement (default 10)
  --builddir DIR      the build to use (default ./build-bench): the worker,
                      the plugins and the runtime libraries. Build it WITHOUT sanitizers:
                        scripts/build.sh build-bench
  --backends LIST     which backends (default: "onnx torch")
  --max-other PCT     repeat a measurement (at most --retries N more times,
                      default 2) while processes outside the bench took more
                      than PCT % of the cores (default 10); the least
                      disturbed run is kept
  --write             put the results into docs/performance.md

The models: bench/digits-large.json (onnx) and bench/digits-large-torch.json
(torch, optimize_for_inference), both with the digits glue; the artifacts are
made by `/usr/bin/python3 examples/digits/export.py --large` when missing.
Served requests POST one sample ({"pixels": [...]}) to /models/NAME: JSON,
Lua glue, inference, softmax/top-3, JSON answer. Needs nginx, spawn-fcgi,
wrk, curl, jq. Loopback only; every run is bounded by its duration.
EOF
}

srcdir=$(cd "$(dirname "$0")/.." && pwd)
cmdline="bench/backends.sh $*"
duration=10
inproc_seconds=10
builddir=$srcdir/build-bench
backends="onnx torch"
max_other=10
retries=2
write=0
while [ $# -gt 0 ]; do
	case $1 in
	-h | --help) usage; exit 0 ;;
	--duration) duration=${2:?--duration needs a value}; shift ;;
	--inproc-seconds) inproc_seconds=${2:?--inproc-seconds needs a value}; shift ;;
	--builddir) builddir=${2:?--builddir needs a value}; shift ;;
	--backends) backends=${2:?--backends needs a value}; shift ;;
	--max-other) max_other=${2:?--max-other needs a value}; shift ;;
	--retries) retries=${2:?--retries needs a value}; shift ;;
	--write) write=1 ;;
	*) echo "bench: unknown argument '$1' (see --help)" >&2; exit 2 ;;
	esac
	shift
done
for v in "$duration" "$inproc_seconds"; do
	[[ $v =~ ^[0-9]+$ ]] && [ "$v" -ge 3 ] && [ "$v" -le 120 ] ||
		{ echo "bench: durations are whole seconds, 3..120 (got '$v')" >&2; exit 2; }
done
for v in "$max_other" "$retries"; do
	[[ $v =~ ^[0-9]+$ ]] || { echo "bench: '$v' is not a number" >&2; exit 2; }
done
PATH=$PATH:/usr/sbin
for tool in nginx spawn-fcgi wrk curl jq make; do
	command -v "$tool" >/dev/null 2>&1 ||
		{ echo "bench: $tool is not installed (scripts/install-deps.sh)" >&2; exit 1; }
done
builddir=$(cd "$builddir" && pwd) || exit 1
if [ ! -x "$builddir/cubeserve-worker" ] || [ ! -f "$builddir/libcs_core.a" ]; then
	echo "bench: no build in $builddir (scripts/build.sh $(basename "$builddir"))" >&2
	exit 1
fi
if grep -q '^SAN_FLAGS = .*sanitize' "$builddir/Makefile"; then
	echo "bench: $builddir is built with sanitizers; use a plain build (scripts/build.sh build-bench)" >&2
	exit 1
fi

declare -A mf=([onnx]=$srcdir/bench/digits-large.json [torch]=$srcdir/bench/digits-large-torch.json)
declare -A name=([onnx]=digits-large [torch]=digits-large-torch)
declare -A artifact=([onnx]=digits-large.onnx [torch]=digits-large.pt)
for b in $backends; do
	[ -n "${mf[$b]:-}" ] || { echo "bench: unknown backend '$b' (onnx, torch)" >&2; exit 2; }
	[ -f "$builddir/plugins/$b/.libs/$b.so" ] ||
		{ echo "bench: the $b plugin is not built in $builddir" >&2; exit 1; }
	if [ ! -f "$srcdir/examples/digits/${artifact[$b]}" ]; then
		echo "bench: making digits-large (examples/digits/export.py --large)"
		/usr/bin/python3 "$srcdir/examples/digits/export.py" --large
	fi
done

# The build brought up to date (worker, plugins and the runtime libraries from the same
# sources), then the in-process harness, compiled by the build's own make
# with the project's flags (CC, CPPFLAGS, AM_CFLAGS, CFLAGS) and linked with
# the runtime libraries ($(CSRT_LIBS)).
echo "bench: make -C $builddir"
make -s -C "$builddir" --no-print-directory -j"${CS_JOBS:-2}" >"$builddir/bench-make.log" 2>&1 ||
	{ tail -n 20 "$builddir/bench-make.log" >&2; echo "bench: the build failed" >&2; exit 1; }
echo "bench: building $builddir/bench/infer_bench"
mkdir -p "$builddir/bench"
make -s -C "$builddir" --no-print-directory --eval "bench/infer_bench: $srcdir/bench/infer_bench.c libcs_core.a
	\$(CC) \$(DEFS) \$(DEFAULT_INCLUDES) \$(AM_CPPFLAGS) \$(CPPFLAGS) \$(AM_CFLAGS) \$(CFLAGS) \$(JANSSON_CFLAGS) \$(LUA_CFLAGS) -o \$@ \$< \$(AM_LDFLAGS) \$(LDFLAGS) \$(CSRT_LIBS)" \
	bench/infer_bench
infer_bench=$builddir/bench/infer_bench

export CS_TOP_SRCDIR=$srcdir CS_TOP_BUILDDIR=$builddir
# shellcheck disable=SC1091
. "$srcdir/scripts/stack.sh"
run=$(mktemp -d "${TMPDIR:-/tmp}/cs-bench-backends.XXXXXX")
trap 'cs_stack_stop; rm -rf "$run"' EXIT
cs_stack_init "$run"

body=$(jq -c '{pixels: .samples[0].pixels}' "$srcdir/examples/digits/digits-large.samples.json")
export CS_BENCH_BODY=$body

# ---------------------------------------------------------------- CPU
# cpu_sample ROOT...: "TOTAL BUSY T1 T2 ..." - all ticks and busy ticks of
# the machine, then the ticks of each ROOT pid with all its descendants.
cpu_sample() {
	{ cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk -v roots="$*" '
		FILENAME == "/proc/stat" { if ($1 == "cpu") { busy = $2 + $3 + $4 + $7 + $8 + $9; total = busy + $5 + $6 }; next }
		{
			pid = $1; s = $0; sub(/^.*\) /, "", s); split(s, f, " ")
			ppid[pid] = f[2]; ticks[pid] = f[12] + f[13]
		}
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

# sampled SECONDS WORKER-PID CMD...: runs CMD (its stdout to $run/out) and
# samples the CPU from 1 s after its start until 1 s before SECONDS. Sets
# $cpu to "busy worker nginx client other", each in % of all the cores
# (100 % = every core busy): the machine's busy time, this bench's worker
# tree, nginx, CMD itself, and processes outside this bench (noise: other
# people's builds).
sampled() {
	local secs=$1 wpid=$2 pid s0 s1
	shift 2
	"$@" >"$run/out" &
	pid=$!
	sleep 1
	s0=$(cpu_sample $$ "${wpid:-0}" "$(cs_pid nginx)" "$pid")
	sleep $((secs - 2))
	s1=$(cpu_sample $$ "${wpid:-0}" "$(cs_pid nginx)" "$pid")
	wait "$pid" || { echo "bench: failed: $*" >&2; cat "$run/out" >&2; exit 1; }
	cpu=$(awk -v a="$s0" -v b="$s1" 'BEGIN {
		n = split(a, x, " "); split(b, y, " ")
		for (i = 1; i <= n; i++) d[i] = y[i] - x[i]
		t = d[1] > 0 ? d[1] : 1
		# d: total busy ours worker nginx client
		printf "%.1f %.1f %.1f %.1f %.1f", 100 * d[2] / t, 100 * d[4] / t, 100 * d[5] / t,
			100 * d[6] / t, 100 * (d[2] - d[3]) / t }')
}

# best_of CMD...: runs the measurement CMD (a function that sets $result
# and $cpu) again, at most --retries more times, while processes outside the
# bench took more than --max-other % of the cores; keeps the least disturbed.
best_of() {
	local try best_r best_c
	"$@"
	best_r=$result best_c=$cpu
	for ((try = 0; try < retries; try++)); do
		awk -v o="${best_c##* }" -v m="$max_other" 'BEGIN { exit !(o > m) }' || break
		echo "bench:   other load ${best_c##* }% > $max_other%: again" >&2
		"$@"
		if awk -v a="${cpu##* }" -v b="${best_c##* }" 'BEGIN { exit !(a < b) }'; then
			best_r=$result best_c=$cpu
		fi
	done
	result=$best_r cpu=$best_c
}

# ---------------------------------------------------------------- in-process
# inproc B BATCH PROCS: one infer_bench run; sets $result to its key=value
# line and $cpu.
inproc() {
	sampled $((inproc_seconds + 1)) "" "$infer_bench" --manifest "${mf[$1]}" \
		--plugin-dir "$builddir/plugins" --seconds "$inproc_seconds" --warmup 1 \
		--batch "$2" --procs "$3"
	result=$(grep '^batch=' "$run/out")
}
kv() { sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" <<<"$2"; }

# ---------------------------------------------------------------- served
# served B CONNS: one bounded wrk run against the model's route; sets
# $result to "rps p50_ms p99_ms errors" and $cpu.
served() {
	sampled "$duration" "$(cs_pid "$1")" timeout $((duration + 30)) wrk -t1 -c "$2" \
		-d "${duration}s" --timeout 5s -s "$srcdir/bench/post.lua" \
		"http://127.0.0.1:$port/models/${name[$1]}"
	result=$(awk '/^CSBENCH/ {
		for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
		printf "%.1f %.3f %.3f %d\n", v["rps"], v["p50_us"] / 1000, v["p99_us"] / 1000,
			v["non2xx"] + v["timeouts"] + v["sockerr"] }' "$run/out")
	[ -n "$result" ] || { echo "bench: wrk printed no result" >&2; cat "$run/out" >&2; exit 1; }
}

# ---------------------------------------------------------------- run
port=$(cs_free_port)
for b in $backends; do
	cs_route "${name[$b]}" "unix:$CS_RUN/$b.sock"
done
export CS_NGINX_ACCESS_LOG=off CS_NGINX_WORKERS=1
cs_nginx_start "$port"

declare -A R C
started=$(date -u '+%Y-%m-%d %H:%M UTC')
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for b in $backends; do
	for bp in "1 1" "32 1" "1 2"; do
		# shellcheck disable=SC2086 # two numbers
		set -- $bp
		echo "bench: $b: in process, batch $1, $2 process(es), ${inproc_seconds}s"
		best_of inproc "$b" "$1" "$2"
		R[$b,in$1x$2]=$result C[$b,in$1x$2]=$cpu
	done
	for p in 1 2; do
		cs_stop "$b"
		rm -f "$CS_RUN/$b.sock"
		cs_spawn "$b" "$CS_RUN/$b.sock" "$CS_WORKER" --manifest "${mf[$b]}" \
			--plugin-dir "$CS_PLUGIN_DIR" --lua-dir "$CS_LUA_DIR" --log-level warn \
			--processes "$p"
		cs_wait_http "http://127.0.0.1:$port/models/${name[$b]}" 60 "$(cs_pid "$b")"
		ans=$(curl -s -m 10 -H 'Content-Type: application/json' -d "$body" \
			"http://127.0.0.1:$port/models/${name[$b]}")
		jq -e '.digit | type == "number"' <<<"$ans" >/dev/null ||
			{ echo "bench: $b answered: $ans" >&2; exit 1; }
		timeout 20 wrk -t1 -c8 -d2s -s "$srcdir/bench/post.lua" \
			"http://127.0.0.1:$port/models/${name[$b]}" >/dev/null # warm-up
		for c in 1 8 32; do
			echo "bench: $b: served, --processes $p, c=$c, ${duration}s"
			best_of served "$b" "$c"
			R[$b,p$p,c$c]=$result C[$b,p$p,c$c]=$cpu
		done
	done
	cs_stop "$b"
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- report
pct() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f %%", 100 * a / b }'; }
# per_req SHARE RATE: CPU ms per request (or inference) from a share in % of
# all cores and a rate per second.
per_req() { awk -v s="$1" -v r="$2" -v n="$(nproc)" 'BEGIN { printf "%.3f", (r > 0 ? s / 100 * n * 1000 / r : 0) }'; }
report=$(
	echo "Run of \`$cmdline\` on $started: $(nproc) cores ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)), $(uname -sr); load average before / after: $load_before / $load_after."
	echo
	echo "In process (\`bench/infer_bench\`: one thread per process, ${inproc_seconds} s; with 2 processes, both run at once and their inferences/s are added):"
	echo
	echo "| backend | batch | processes | inferences/s | p50 ms/call | p99 ms/call | CPU ms/inference | busy | other |"
	echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
	for b in $backends; do
		for k in in1x1 in32x1 in1x2; do
			l=${R[$b,$k]}
			read -r busy _ _ cl oth <<<"${C[$b,$k]}"
			echo "| $b | $(kv batch "$l") | $(kv procs "$l") | $(kv infer_per_s "$l") | $(kv p50_ms "$l") | $(kv p99_ms "$l") | $(per_req "$cl" "$(kv infer_per_s "$l")") | $busy % | $oth % |"
		done
	done
	echo
	echo "Served (one sample per request; wrk -t1, ${duration} s per run). **served / in-process** = served requests/s over the in-process batch-1 inferences/s on the same cores: \`--processes 1\` against one process in process, \`--processes 2\` against two processes in process at once (measured on the 2 cores, not 2x). CPU: from /proc during the middle of each run; \"CPU ms/req\" is CPU time per request (worker: all its processes, and how much more than the in-process CPU ms/inference on the same number of processes; nginx + wrk: the HTTP side), the other CPU columns are % of all $(nproc) cores (100 % = all busy), other = processes outside this bench (noise)."
	echo
	echo "| backend | processes | c | requests/s | served / in-process | p50 ms | p99 ms | errors | worker CPU ms/req | over in-process | nginx + wrk CPU ms/req | busy | worker | nginx | wrk | other |"
	echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
	for b in $backends; do
		for p in 1 2; do
			base=$(kv infer_per_s "${R[$b,in1x$p]}")
			read -r _ _ _ cl _ <<<"${C[$b,in1x$p]}"
			base_cpu=$(per_req "$cl" "$base")
			for c in 1 8 32; do
				read -r rps p50 p99 errs <<<"${R[$b,p$p,c$c]}"
				read -r busy w ng wk oth <<<"${C[$b,p$p,c$c]}"
				echo "| $b | $p | $c | $rps | **$(pct "$rps" "$base")** | $p50 | $p99 | $errs | $(per_req "$w" "$rps") | $(awk -v a="$(per_req "$w" "$rps")" -v b="$base_cpu" 'BEGIN { printf "%+.3f", a - b }') | $(per_req "$(awk -v a="$ng" -v b="$wk" 'BEGIN { print a + b }')" "$rps") | $busy % | $w % | $ng % | $wk % | $oth % |"
			done
		done
	done
)
echo
echo "$report"

if [ "$write" = 1 ]; then
	doc=$srcdir/docs/performance.md
	begin='<!-- bench/backends.sh:begin -->'
	end='<!-- bench/backends.sh:end -->'
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
	echo "bench: wrote the backends section of $doc"
fi
