#!/bin/bash
# overhead.sh - where a request's worker CPU goes, unbatched against batched,
# in counts that a loaded machine does not change much: instructions per
# request in the worker (valgrind --tool=callgrind, split by function and by
# part of the stack) and context switches per request of the worker's
# threads and of nginx (/proc/PID/task/*/status), for one model behind a
# private nginx and ONE worker process on loopback.
#
# Per mode (plain: no batching; batched: the manifest's batching object
# alone, i.e. the event loop with a coroutine per request; threads: the
# same with batching.threads, i.e. serving threads feeding the batcher):
#   1. a native run: wrk for --duration seconds at --conns connections;
#      per request: context switches (voluntary, involuntary) of the worker's
#      threads and of nginx's worker, CPU ticks of the worker (noisy on a
#      loaded machine), p50/p99 latency (noisy), the batcher's mean batch;
#   2. a callgrind run: the same worker under valgrind; after a warm-up the
#      counters are zeroed (callgrind_control -z), wrk runs --cg-duration
#      seconds, the counters are dumped (callgrind_control -d); instructions
#      per request (divided by the requests the pool's /metrics counted in
#      the window; cs_dispatch calls are shown too, but callgrind counts
#      calls twice across the event loop's stack switches) in total, by part of the stack and by function (self cost,
#      read from the dump), and calls per request of a few functions
#      (condvars, mutexes, poll, malloc, the plugin's infer).
# Everything it starts it stops; every load is bounded in time.
set -euo pipefail

usage() {
	cat <<'EOF'
Usage: bench/overhead.sh [--model linear|digits] [--conns C] [--duration S]
                         [--cg-duration S] [--max-batch N] [--delay US]
                         [--threads T] [--modes LIST] [--no-callgrind] [--no-perf]
                         [--top N] [--builddir DIR] [--keep DIR]

  --model M        linear (native plugin, default) or digits (onnx plugin)
  --conns C        wrk connections (default 32)
  --duration S     seconds of the native (counters) run per mode (default 5)
  --cg-duration S  seconds of the callgrind run per mode (default 10)
  --max-batch N    batching.max_batch_size of the batched mode (default 32)
  --delay US       batching.max_queue_delay_us (default 2000)
  --threads T      batching.threads of the threads mode (default:
                   max_batch_size up to 64)
  --modes LIST     comma-separated, of plain,batched,threads (default
                   plain,batched)
  --no-callgrind   counters only
  --no-perf        no perf stat (software events and syscall tracepoints of
                   the worker and of nginx's worker during the native run;
                   used when `perf stat` can count them here)
  --top N          functions listed per callgrind run (default 12)
  --builddir DIR   where cubeserve-worker and the plugins are (default
                   ./build; build it without sanitizers)
  --keep DIR       keep the callgrind dumps and logs in DIR

Ports come from CS_PORTS (default 18900-18999). Needs nginx, spawn-fcgi,
wrk, curl, jq, valgrind (callgrind_control, callgrind_annotate). Loopback
only.
EOF
}

srcdir=$(cd "$(dirname "$0")/.." && pwd)
model=linear
conns=32
duration=5
cg_duration=10
max_batch=32
delay=2000
bthreads=
modes=plain,batched
callgrind=1
use_perf=1
top=12
builddir=$srcdir/build
keep=
while [ $# -gt 0 ]; do
	case $1 in
	-h | --help) usage; exit 0 ;;
	--model) model=${2:?--model needs a value}; shift ;;
	--conns) conns=${2:?--conns needs a value}; shift ;;
	--duration) duration=${2:?--duration needs a value}; shift ;;
	--cg-duration) cg_duration=${2:?--cg-duration needs a value}; shift ;;
	--max-batch) max_batch=${2:?--max-batch needs a value}; shift ;;
	--delay) delay=${2:?--delay needs a value}; shift ;;
	--threads) bthreads=${2:?--threads needs a value}; shift ;;
	--modes) modes=${2:?--modes needs a value}; shift ;;
	--no-callgrind) callgrind=0 ;;
	--no-perf) use_perf=0 ;;
	--top) top=${2:?--top needs a value}; shift ;;
	--builddir) builddir=${2:?--builddir needs a value}; shift ;;
	--keep) keep=${2:?--keep needs a value}; shift ;;
	*) echo "overhead: unknown argument '$1' (see --help)" >&2; exit 2 ;;
	esac
	shift
done
for v in "$conns" "$duration" "$cg_duration" "$max_batch" "$delay" "$top" ${bthreads:+"$bthreads"}; do
	[[ $v =~ ^[0-9]+$ ]] || { echo "overhead: '$v' is not a number" >&2; exit 2; }
done
[ "$conns" -ge 1 ] && [ "$conns" -le 1024 ] || { echo "overhead: --conns must be 1..1024" >&2; exit 2; }
for v in "$duration" "$cg_duration"; do
	[ "$v" -ge 1 ] && [ "$v" -le 120 ] || { echo "overhead: durations must be 1..120 s" >&2; exit 2; }
done
[ "$max_batch" -ge 1 ] || { echo "overhead: --max-batch must be >= 1" >&2; exit 2; }
case $model in
linear | digits) ;;
*) echo "overhead: unknown model '$model' (linear or digits)" >&2; exit 2 ;;
esac
IFS=, read -r -a mode_list <<<"$modes"
for m in "${mode_list[@]}"; do
	case $m in plain | batched | threads) ;; *) echo "overhead: unknown mode '$m' (plain, batched, threads)" >&2; exit 2 ;; esac
done
PATH=$PATH:/usr/sbin
tools=(nginx spawn-fcgi wrk curl jq)
[ "$callgrind" = 0 ] || tools+=(valgrind callgrind_control callgrind_annotate)
for tool in "${tools[@]}"; do
	command -v "$tool" >/dev/null 2>&1 || { echo "overhead: $tool is not installed" >&2; exit 1; }
done
builddir=$(cd "$builddir" 2>/dev/null && pwd) || { echo "overhead: no build directory '$builddir'" >&2; exit 1; }
[ -x "$builddir/cubeserve-worker" ] ||
	{ echo "overhead: no worker at $builddir/cubeserve-worker (scripts/build.sh build --without-torch)" >&2; exit 1; }
if ldd "$builddir/cubeserve-worker" 2>/dev/null | grep -q 'libasan\|libubsan'; then
	echo "overhead: WARNING: the worker is built with sanitizers; the counts include them" >&2
fi

export CS_TOP_SRCDIR=$srcdir CS_TOP_BUILDDIR=$builddir CS_PORTS=${CS_PORTS:-18900-18999}
# shellcheck disable=SC1091
. "$srcdir/scripts/stack.sh"
run=$(mktemp -d "${TMPDIR:-/tmp}/cs-overhead.XXXXXX")
cleanup() {
	cs_stack_stop 2>/dev/null || true
	if [ -n "$keep" ]; then
		mkdir -p "$keep" && cp -r "$run"/. "$keep"/ 2>/dev/null || true
	fi
	rm -rf "$run"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
cs_stack_init "$run/stack"

# cgself.awk: from a callgrind out file, "SELF<TAB>cost<TAB>file:function
# [object]" per function (cost lines after a calls= line are the callee's
# inclusive cost, not the caller's own), "CALLS<TAB>n<TAB>function" per
# call site and "TOTAL<TAB>cost".
cat >"$run/cgself.awk" <<'AWK'
function nm(kind, s,   id, rest) {
	if (s ~ /^\([0-9]+\)/) {
		id = s; sub(/\).*/, "", id); sub(/^\(/, "", id)
		rest = s; sub(/^\([0-9]+\) ?/, "", rest)
		if (rest != "") names[kind, id] = rest
		return names[kind, id]
	}
	return s
}
/^ob=/ { ob = nm("ob", substr($0, 4)); next }
/^fl=/ { fl = nm("fl", substr($0, 4)); next }
/^(fi|fe)=/ { nm("fl", substr($0, 4)); next }
/^fn=/ { fn = nm("fn", substr($0, 4)); next }
/^cob=/ { nm("ob", substr($0, 5)); next }
/^(cfi|cfl)=/ { nm("fl", substr($0, 5)); next }
/^cfn=/ { cfn = nm("fn", substr($0, 5)); next }
/^calls=/ { split(substr($0, 7), c, " "); n = cfn; sub(/'[0-9]+$/, "", n); sub(/@.*$/, "", n); calls[n] += c[1]; skip = 1; next }
/^([0-9]+|[-+][0-9]+|\*) [0-9]+/ {
	if (skip) { skip = 0; next }
	self[fl ":" fn " [" ob "]"] += $2; next
}
/^summary:/ { total = $2 }
END {
	for (k in self) printf "SELF\t%d\t%s\n", self[k], k
	for (k in calls) printf "CALLS\t%d\t%s\n", calls[k], k
	printf "TOTAL\t%d\n", total
}
AWK

ex=$srcdir/examples/$model
[ -f "$ex/model.json" ] || { echo "overhead: no $ex/model.json" >&2; exit 1; }
body=$(jq -c '.example' "$ex/model.json")
[ "$body" != null ] || { echo "overhead: $ex/model.json has no example" >&2; exit 1; }
export CS_BENCH_BODY=$body

# manifest MODE: a manifest for the mode, its files by absolute path
manifest() {
	local out=$run/$1.json filt
	filt='.name = $name | .model = ($ex + "/" + .model) | .glue = ($ex + "/" + .glue) | del(.threads)'
	if [ "$1" = batched ] || [ "$1" = threads ]; then
		filt="$filt | .batching = {max_batch_size: \$mb, max_queue_delay_us: \$d}"
	fi
	if [ "$1" = threads ]; then
		filt="$filt | .batching.threads = ${bthreads:-$((max_batch < 64 ? max_batch : 64))}"
	fi
	jq --arg name "ov$1" --arg ex "$ex" --argjson mb "$max_batch" --argjson d "$delay" \
		"$filt" "$ex/model.json" >"$out"
	echo "$out"
}

# ctx PID: "VOLUNTARY INVOLUNTARY THREADS" summed over PID's threads
ctx() {
	cat /proc/"$1"/task/*/status 2>/dev/null | awk '
		/^voluntary_ctxt_switches/ { v += $2; n++ } /^nonvoluntary_ctxt_switches/ { i += $2 }
		END { print v + 0, i + 0, n + 0 }'
}
# ticks PID: utime + stime of PID (all threads), in clock ticks
ticks() { awk '{ s = $0; sub(/^.*\) /, "", s); split(s, f, " "); print f[12], f[13] }' /proc/"$1"/stat; }

# perf's software events and syscall tracepoints count per process without
# hardware counters (a VM often has none); the ones that work here
perf_events=
if [ "$use_perf" = 1 ] && command -v perf >/dev/null 2>&1; then
	for ev in task-clock context-switches cpu-migrations raw_syscalls:sys_enter \
		syscalls:sys_enter_futex syscalls:sys_enter_poll syscalls:sys_enter_ppoll \
		syscalls:sys_enter_accept4 syscalls:sys_enter_read \
		syscalls:sys_enter_write syscalls:sys_enter_writev syscalls:sys_enter_recvfrom \
		syscalls:sys_enter_sendto sched:sched_wakeup; do
		if perf stat -x, -e "$ev" true 2>&1 | grep -q "^[0-9.]*,[^,]*,$ev\|,$ev,"; then
			perf_events=${perf_events:+$perf_events,}$ev
		fi
	done
fi
# perf_start PID OUT: counts perf_events of PID (all its threads) until
# perf_stop; perf's pid in perf_pid
perf_start() {
	perf stat -x, -e "$perf_events" -p "$1" -o "$2" >/dev/null 2>&1 &
	perf_pid=$!
}
perf_stop() {
	kill -INT "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}
# children PID: the pids whose parent is PID
children() {
	local p
	for p in /proc/[0-9]*; do
		[ "$(awk '{ s = $0; sub(/^.*\) /, "", s); split(s, f, " "); print f[2] }' "$p/stat" 2>/dev/null)" = "$1" ] &&
			echo "${p#/proc/}"
	done
	return 0
}

# wrk_run PATH SECONDS: prints "requests rps p50_us p99_us errors"
wrk_run() {
	local t=2 line
	[ "$t" -le "$conns" ] || t=$conns
	timeout $(($2 + 30)) wrk -t "$t" -c "$conns" -d "${2}s" --timeout 10s \
		-s "$srcdir/bench/post.lua" "$base$1" >"$run/wrk.out" 2>&1 ||
		{ echo "overhead: wrk failed on $1: $(tail -n 3 "$run/wrk.out")" >&2; return 1; }
	line=$(grep '^CSBENCH' "$run/wrk.out") || { echo "overhead: wrk printed no result" >&2; return 1; }
	awk '{ for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
		print v["requests"], v["rps"], v["p50_us"], v["p99_us"], v["non2xx"] + v["timeouts"] + v["sockerr"] }' <<<"$line"
}

# served LABEL: the requests the pool has answered, from its /metrics
served() {
	curl -s -m 20 "$base/metrics/$1" |
		awk '$1 ~ /^cubeserve_requests_total[{]/ { n += $2 } END { print n + 0 }'
}

# batch_line LABEL: the batcher's own count, logged when the worker stops
batch_line() {
	{ grep -h "batcher:" "$CS_RUN/logs/$1.log" 2>/dev/null || true; } | tail -n 1 |
		sed -E 's/.*batcher: ([0-9]+) requests \(([0-9]+) rows\) in ([0-9]+) inferences.*/\1 \2 \3/'
}

# start_stack MODE [valgrind]: the worker (maybe under callgrind) and nginx
start_stack() {
	local mode=$1 name=ov$1 mf wait_s=30
	mf=$(manifest "$mode")
	# shellcheck disable=SC2034 # read by cs_nginx_config (scripts/stack.sh)
	CS_STACK_ROUTES=()
	if [ "${2:-}" = valgrind ]; then
		cs_spawn "$name" "$CS_RUN/$name.sock" "$(command -v valgrind)" --tool=callgrind --quiet \
			--callgrind-out-file="$run/cg.$mode.%p" --dump-instr=no --collect-jumps=no \
			"$builddir/cubeserve-worker" --manifest "$mf" --plugin-dir "$builddir/plugins" \
			--lua-dir "$srcdir/lua" --log-level info
		cs_route "$name" "unix:$CS_RUN/$name.sock"
		wait_s=180
	else
		cs_worker_start "$name" "$mf" --log-level info
	fi
	port=$(cs_free_port)
	export CS_NGINX_ACCESS_LOG=off CS_NGINX_WORKERS=1 CS_NGINX_TIMEOUT=120s
	cs_nginx_start "$port"
	base=http://127.0.0.1:$port
	cs_wait_http "$base/models/$name" "$wait_s" "$(cs_pid "$name")" ||
		{ echo "overhead: the $mode worker did not come up: $(tail -n 5 "$CS_RUN/logs/$name.log")" >&2; return 1; }
}

stop_stack() {
	cs_stop nginx
	cs_stop "ov$1"
}

declare -A R
cpu=$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')
echo "overhead: CPU: $cpu, $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "overhead: model $model, c=$conns, batched/threads: max_batch_size $max_batch, max_queue_delay_us $delay${bthreads:+, threads $bthreads}"

for mode in "${mode_list[@]}"; do
	name=ov$mode
	# 1. native: context switches and CPU ticks per request
	echo "overhead: $mode: native run, ${duration}s" >&2
	start_stack "$mode"
	wpid=$(cs_pid "$name")
	npid=$(children "$(cs_pid nginx)" | head -n 1)
	wrk_run "/models/$name" 1 >/dev/null # warm-up (every serving thread's Lua state)
	read -r v0 i0 _ <<<"$(ctx "$wpid")"
	read -r nv0 ni0 _ <<<"$(ctx "$npid")"
	read -r u0 s0 <<<"$(ticks "$wpid")"
	if [ -n "$perf_events" ]; then
		perf_start "$wpid" "$run/perf.$mode.worker"
		pw=$perf_pid
		perf_start "$npid" "$run/perf.$mode.nginx"
		pn=$perf_pid
		sleep 0.5
	fi
	read -r reqs rps p50 p99 errs <<<"$(wrk_run "/models/$name" "$duration")"
	if [ -n "$perf_events" ]; then
		perf_stop "$pw"
		perf_stop "$pn"
		for who in worker nginx; do
			# "value,unit,event,..." -> "event per-request"
			awk -F, -v r="$reqs" '$1 ~ /^[0-9.]+$/ { printf "%s\t%.3f\n", $3, $1 / r }' \
				"$run/perf.$mode.$who" >"$run/perfr.$mode.$who"
		done
	fi
	read -r v1 i1 nthreads <<<"$(ctx "$wpid")"
	read -r nv1 ni1 _ <<<"$(ctx "$npid")"
	read -r u1 s1 <<<"$(ticks "$wpid")"
	stop_stack "$mode"
	bl=$(batch_line "$name")
	[ "$reqs" -gt 0 ] || { echo "overhead: $mode: no request completed" >&2; exit 1; }
	hz=$(getconf CLK_TCK)
	R[$mode,native]=$(awk -v r="$reqs" -v v=$((v1 - v0)) -v i=$((i1 - i0)) -v nv=$((nv1 - nv0)) \
		-v ni=$((ni1 - ni0)) -v ut=$((u1 - u0)) -v st=$((s1 - s0)) -v hz="$hz" -v rps="$rps" -v p50="$p50" -v p99="$p99" \
		-v e="$errs" -v th="$nthreads" -v bl="$bl" 'BEGIN {
		split(bl, b, " "); mb = (b[3] > 0) ? sprintf("%.1f", b[2] / b[3]) : "-"
		printf "%d %.1f %.2f %.2f %.2f %.2f %.3f %.0f %.2f %.2f %d %d %s %.3f %.3f",
			r, rps, v / r, i / r, nv / r, ni / r, 1000 * (ut + st) / hz / r, rps, p50 / 1000, p99 / 1000, e, th, mb,
			1000 * ut / hz / r, 1000 * st / hz / r }')
	echo "overhead: $mode native: ${R[$mode,native]}" >&2

	[ "$callgrind" = 1 ] || continue
	# 2. callgrind: instructions per request
	echo "overhead: $mode: callgrind run, ${cg_duration}s (the worker starting under valgrind takes a while)" >&2
	start_stack "$mode" valgrind
	wpid=$(cs_pid "$name")
	wrk_run "/models/$name" 2 >/dev/null # warm-up
	m0=$(served "$name")
	callgrind_control -z "$wpid" >"$run/cgc.$mode.log" 2>&1 ||
		{ echo "overhead: callgrind_control -z $wpid failed: $(cat "$run/cgc.$mode.log")" >&2; exit 1; }
	read -r creqs _ _ _ cerrs <<<"$(wrk_run "/models/$name" "$cg_duration")"
	sleep 1 # let the requests cut off by wrk's end finish inside the window
	callgrind_control -d "$wpid" >>"$run/cgc.$mode.log" 2>&1 ||
		{ echo "overhead: callgrind_control -d $wpid failed: $(cat "$run/cgc.$mode.log")" >&2; exit 1; }
	m1=$(served "$name")
	stop_stack "$mode"
	cbl=$(batch_line "$name")
	# the dump made by -d (the file with the highest part number)
	dump="" best=0
	for f in "$run"/cg."$mode".*.*; do
		part=${f##*.}
		[[ $part =~ ^[0-9]+$ ]] && [ "$part" -gt "$best" ] && { best=$part; dump=$f; }
	done
	[ -n "$dump" ] && [ -s "$dump" ] || { echo "overhead: no callgrind dump for $mode in $run" >&2; exit 1; }
	# self (exclusive) cost per "file:function [object]" and call counts
	# per called function, read from the dump itself (callgrind_annotate
	# is kept for a look by hand: ann.MODE.txt with --keep)
	callgrind_annotate --threshold=100 "$dump" >"$run/ann.$mode.txt" 2>/dev/null || true
	awk -f "$run/cgself.awk" "$dump" >"$run/self.$mode.txt"
	# the requests the worker handled in the window: its calls to
	# cs_dispatch (wrk's count misses those in flight at either end)
	R[$mode,cg_wrk]=$creqs
	dispatched=$(awk -F'\t' '$1 == "CALLS" && $3 == "cs_dispatch" { print $2 }' "$run/self.$mode.txt")
	R[$mode,cg_dispatch]=$dispatched
	# the requests the pool counted in the window (the first /metrics
	# request is counted in it, the second not): callgrind's call counts
	# are not to be trusted across the event loop's stack switches
	if [[ $m0 =~ ^[0-9]+$ ]] && [[ $m1 =~ ^[0-9]+$ ]] && [ $((m1 - m0 - 1)) -gt 0 ]; then
		creqs=$((m1 - m0 - 1))
	elif [[ $dispatched =~ ^[0-9]+$ ]] && [ "$dispatched" -gt 0 ]; then
		creqs=$dispatched
	else
		echo "overhead: WARNING: no request count for $mode; dividing by wrk's count" >&2
	fi
	# by part: the first rule that matches the function's name wins
	awk -F'\t' -v r="$creqs" -v top="$top" -v out="$run/parts.$mode" '
		function part(name,   s) {
			s = tolower(name)
			if (s ~ /batcher\.c|pthread_cond|pthread_mutex|futex|lll_lock|lll_unlock|__pthread_|sem_|clock_gettime|clock_nanosleep/) return "batcher, locks, condvars, clocks"
			if (s ~ /\/plugins\/|libopencv|libxnnpack|libpthreadpool|libcpuinfo|libopenblas|libblas|libgomp|libtbb|libxgboost|libtorch|libc10/) return "plugin (inference)"
			if (s ~ /jansson|lua_json\.c|json_tensor\.c|json_out\.c|strtod|strtof|printf|vfprintf|_IO_|__mpn_|hack_digit|_itoa|str_to_mpn|round_and_return|vsnprintf/) return "JSON (jansson, number text)"
			if (s ~ /liblua|\/glue\//) return "Lua and glue"
			if (s ~ /libfcgi|\/serve\/|\/protocol\/|poll|epoll|recv|send|accept|__libc_read|__libc_write/) return "FastCGI I/O, dispatch, metrics"
			if (s ~ /malloc|free|calloc|realloc|memcpy|memmove|memset|strlen|memchr|strcmp|strncmp|strchr|strspn|arena\.c|_int_|tcache|consolidate/) return "malloc, memcpy, strings (libc)"
			return "other"
		}
		$1 == "TOTAL" { total = $2; next }
		$1 == "SELF" { p[part($3)] += $2; f[++n] = $2 "\t" $3; next }
		$1 == "CALLS" && $3 ~ /^(pthread_cond_(signal|broadcast|wait|timedwait|clockwait)|pthread_mutex_lock|___?pthread_mutex_lock|FCGX_Accept_r|FCGX_GetStr|FCGX_PutStr|poll|ppoll|accept4|lua_pcallk|lua_resume|swapcontext|cs_batch_run|cs_batcher_infer|cs_model_infer|[a-z]+_infer|malloc|free|snprintf|strtof|strtod|memcpy)$/ { calls[$3] += $2; next }
		END {
			if (!total || !r) exit 1
			printf "%.0f\n", total / r > out
			for (k in p) printf "part\t%s\t%.0f\t%.1f\n", k, p[k] / r, 100 * p[k] / total >> out
			# f is sorted by cost (sort -rn before this awk)
			for (i = 1; i <= n && i <= top; i++) {
				split(f[i], a, "\t")
				printf "top\t%10.0f  %5.1f%%  %s\n", a[1] / r, 100 * a[1] / total, a[2] >> out
			}
			for (k in calls) printf "calls\t%s\t%.2f\n", k, calls[k] / r >> out
		}' <(sort -t"$(printf '\t')" -k2,2nr "$run/self.$mode.txt") ||
		{ echo "overhead: no costs in the $mode dump" >&2; exit 1; }
	R[$mode,cg_reqs]=$creqs
	R[$mode,cg_errs]=$cerrs
	R[$mode,cg_batch]=$(awk '{ if ($3 > 0) printf "%.1f", $2 / $3; else print "-" }' <<<"${cbl:-0 0 0}")
done

echo
echo "## per request, model $model, c=$conns (one worker process)"
echo
printf '| %-34s |' "per request"
for mode in "${mode_list[@]}"; do printf ' %-12s |' "$mode"; done
echo
printf '|%s|' "------------------------------------"
for mode in "${mode_list[@]}"; do printf '%s|' "--------------"; done
echo
row() { # row LABEL FIELD (1-based, of R[mode,native])
	printf '| %-34s |' "$1"
	for mode in "${mode_list[@]}"; do printf ' %-12s |' "$(awk -v i="$2" '{ print $i }' <<<"${R[$mode,native]}")"; done
	echo
}
row "requests (native run)" 1
row "worker threads" 12
row "mean batch (rows per inference)" 13
row "worker voluntary ctx switches" 3
row "worker involuntary ctx switches" 4
row "nginx voluntary ctx switches" 5
row "nginx involuntary ctx switches" 6
row "worker CPU ms (ticks; noisy)" 7
row "  of it user ms" 14
row "  of it system (kernel) ms" 15
row "req/s (noisy)" 8
row "p50 ms (noisy)" 9
row "p99 ms (noisy)" 10
row "errors" 11
if [ -n "$perf_events" ]; then
	for who in worker nginx; do
		IFS=, read -r -a evs <<<"$perf_events"
		for ev in "${evs[@]}"; do
			printf '| %-34s |' "$who: $ev"
			for mode in "${mode_list[@]}"; do
				printf ' %-12s |' "$(awk -F'\t' -v e="$ev" '$1 == e { print $2 }' "$run/perfr.$mode.$who" 2>/dev/null)"
			done
			echo
		done
	done
fi
if [ "$callgrind" = 1 ]; then
	printf '| %-34s |' "requests (callgrind, wrk count)"
	for mode in "${mode_list[@]}"; do printf ' %-12s |' "${R[$mode,cg_wrk]}"; done
	echo
	printf '| %-34s |' "requests (callgrind, cs_dispatch)"
	for mode in "${mode_list[@]}"; do printf ' %-12s |' "${R[$mode,cg_dispatch]}"; done
	echo
	printf '| %-34s |' "requests (callgrind, /metrics)"
	for mode in "${mode_list[@]}"; do printf ' %-12s |' "${R[$mode,cg_reqs]}"; done
	echo
	printf '| %-34s |' "mean batch under callgrind"
	for mode in "${mode_list[@]}"; do printf ' %-12s |' "${R[$mode,cg_batch]}"; done
	echo
	printf '| %-34s |' "**instructions, worker total**"
	for mode in "${mode_list[@]}"; do printf ' %-12s |' "$(head -n 1 "$run/parts.$mode")"; done
	echo
	parts=$(for mode in "${mode_list[@]}"; do awk -F'\t' '$1 == "part" { print $2 }' "$run/parts.$mode"; done | sort -u)
	while IFS= read -r p; do
		printf '| %-34s |' "  $p"
		for mode in "${mode_list[@]}"; do
			printf ' %-12s |' "$(awk -F'\t' -v p="$p" '$1 == "part" && $2 == p { printf "%s (%s%%)", $3, $4 }' "$run/parts.$mode")"
		done
		echo
	done <<<"$parts"
	fns=$(for mode in "${mode_list[@]}"; do awk -F'\t' '$1 == "calls" { print $2 }' "$run/parts.$mode"; done | sort -u)
	while IFS= read -r p; do
		[ -n "$p" ] || continue
		printf '| %-34s |' "calls to $p"
		for mode in "${mode_list[@]}"; do
			printf ' %-12s |' "$(awk -F'\t' -v p="$p" '$1 == "calls" && $2 == p { print $3 }' "$run/parts.$mode")"
		done
		echo
	done <<<"$fns"
	for mode in "${mode_list[@]}"; do
		echo
		echo "top functions, $mode (instructions per request, share; self cost):"
		echo
		grep '^top' "$run/parts.$mode" | cut -f2- | sed 's/^/    /'
	done
fi
