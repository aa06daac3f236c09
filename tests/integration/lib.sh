# shellcheck shell=bash
# lib.sh - what the integration tests share: the tree's paths, tool checks,
# TAP output, bounded polling, a temp run dir cleaned up on exit, a private
# stack in it, and the check for sanitizer reports in the logs.
# Source it from bash after setting `here` (the test's directory):
#   here=$(cd "$(dirname "$0")" && pwd); . "$here/lib.sh"
#   require_tools nginx spawn-fcgi curl
#   stack_run cs-mytest          # $run, $CS_RUN, cleanup on exit
#   pass "desc" | fail "desc" "detail..." | skip "why"; wait_for SECONDS CMD...
#   no_sanitizer_reports "desc" LOGFILE... ; tap_done
# A test that needs its own cleanup defines a function `cleanup`: it runs
# on exit before the stack is stopped and the run dir removed. The run dir
# is kept (and named) when a check failed, the test exited non-zero, or
# CS_KEEP_RUN=1.

CS_TOP_SRCDIR=${CS_TOP_SRCDIR:-$(cd "$here/../.." && pwd)}
CS_TOP_BUILDDIR=${CS_TOP_BUILDDIR:-$CS_TOP_SRCDIR/build}
export CS_TOP_SRCDIR CS_TOP_BUILDDIR
PATH=$PATH:/usr/sbin:/sbin
n=0
failed=0
run=
lib__stack=0

# Skips the whole test (TAP "1..0 # SKIP") when a tool is really missing.
require_tools() {
	local tool
	for tool in "$@"; do
		if ! command -v "$tool" >/dev/null 2>&1; then
			echo "1..0 # SKIP $tool is not installed"
			exit 0
		fi
	done
}

pass() { n=$((n + 1)); echo "ok $n - $1"; }
fail() {
	n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; shift
	local line; for line in "$@"; do printf '#   %s\n' "$line"; done
}
# skip WHY: one check that cannot run here (a tool or a part really missing).
skip() { n=$((n + 1)); echo "ok $n - # SKIP $1"; }
# The plan; the status is 1 when a check failed, so a test run by hand (or
# under `git bisect run`) tells the truth, not only the TAP driver.
tap_done() { echo "1..$n"; [ "$failed" -eq 0 ]; }

# wait_for SECONDS CMD...: until CMD succeeds, polling every 50 ms.
wait_for() {
	local limit=$(( $1 * 20 )) i=0; shift
	while ! "$@"; do i=$((i + 1)); [ "$i" -ge "$limit" ] && return 1; sleep 0.05; done
}

# on_exit 'CMD': one more command for the exit hook, run after `cleanup`.
lib__on_exit=()
on_exit() { lib__on_exit+=("$1"); }

lib__exit() {
	local rc=$? c
	if declare -F cleanup >/dev/null; then cleanup || true; fi
	for c in "${lib__on_exit[@]}"; do eval "$c" || true; done
	[ "$lib__stack" = 1 ] && cs_stack_stop
	[ -n "$run" ] || return 0
	if [ "${CS_KEEP_RUN:-0}" = 1 ] || [ "$failed" -ne 0 ] || [ "$rc" -ne 0 ]; then
		echo "# run directory kept: $run"
	else
		rm -rf "$run"
	fi
}

# run_dir NAME: $run, a new temp dir (under ${TMPDIR:-/tmp}, or at NAME
# when it is a path with a slash, e.g. /tmp/cs-x to keep socket paths short),
# cleaned up on exit as said above.
run_dir() {
	case $1 in
	*/*) run=$(mktemp -d "$1.XXXXXX") ;;
	*) run=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX") ;;
	esac
	trap lib__exit EXIT
}

# stack_run NAME: run_dir NAME and a private stack in it (scripts/stack.sh:
# $CS_RUN, cs_worker_start, cs_nginx_start ...); on exit everything the stack
# started is stopped.
stack_run() {
	# shellcheck disable=SC1091
	. "$CS_TOP_SRCDIR/scripts/stack.sh"
	run_dir "$1"
	lib__stack=1
	cs_stack_init "$run"
}

# The sanitizers the build under test was configured with: the SAN_FLAGS
# line of its Makefile ("" without sanitizers).
build_sanitizers() {
	sed -n 's/^SAN_FLAGS *= *//p' "$CS_TOP_BUILDDIR/Makefile" 2>/dev/null | head -n 1
}

# no_sanitizer_reports DESC FILE...: one check that the logs hold no report
# of the build's sanitizers (ASan, LSan, UBSan; ThreadSanitizer in a TSan
# build). SKIP in a build without sanitizers; a failure when none of the
# files exists, as then nothing would have been checked.
no_sanitizer_reports() {
	local desc=$1 flags f pat='ERROR: (Address|Leak)Sanitizer|runtime error:'
	local -a files=()
	shift
	flags=$(build_sanitizers)
	case $flags in
	*sanitize*) ;;
	*) skip "no sanitizers in this build"; return 0 ;;
	esac
	case $flags in
	*sanitize=thread*) pat="$pat|(WARNING|ERROR): ThreadSanitizer" ;;
	esac
	for f in "$@"; do [ -f "$f" ] && files+=("$f"); done
	if [ ${#files[@]} -eq 0 ]; then
		fail "$desc" "no log file to look in: $*"
	elif grep -qE "$pat" "${files[@]}"; then
		fail "$desc" "$(grep -hE -A5 "$pat" "${files[@]}" | head -n 24)"
	else
		pass "$desc"
	fi
}

# iris_inputs SEED: 200 distinct linear-model inputs {"x": [4 numbers]},
# one a line in $run/inputs and one a file in $run/in/1..200.
iris_inputs() {
	local i=0 line
	/usr/bin/env awk -v seed="$1" 'BEGIN { srand(seed); for (i = 0; i < 200; i++)
		printf "{\"x\":[%.2f,%.2f,%.2f,%.2f]}\n", 4 + 4 * rand(), 2 + 2.5 * rand(), 1 + 6 * rand(), 0.1 + 2.4 * rand() }' >"$run/inputs"
	mkdir -p "$run/in"
	while IFS= read -r line; do i=$((i + 1)); printf '%s' "$line" >"$run/in/$i"; done <"$run/inputs"
}

# ask_all URL OUTDIR: POSTs each of iris_inputs' 200 files, 32 at a time;
# one answer file each in OUTDIR, the HTTP codes in OUTDIR.codes.
ask_all() {
	local url=$1 out=$2
	mkdir -p "$out"
	seq 1 200 | xargs -P 32 -I{} curl -s -m 10 -o "$out/{}" -w '%{http_code}\n' \
		-H 'Content-Type: application/json' --data-binary "@$run/in/{}" "$url" >"$out.codes"
}
