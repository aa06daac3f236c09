# lib.sh - what the integration tests share: the tree's paths, tool checks,
# TAP output, bounded polling, and a private stack in a temp dir.
# Source it from bash after setting `here` (the test's directory):
#   here=$(cd "$(dirname "$0")" && pwd); . "$here/lib.sh"
#   require_tools nginx spawn-fcgi curl
#   stack_run cs-mytest          # $run, $CS_RUN, cleanup on exit
#   pass "desc" | fail "desc" "detail..." ; wait_for SECONDS CMD... ; tap_done

CS_TOP_SRCDIR=${CS_TOP_SRCDIR:-$(cd "$here/../.." && pwd)}
CS_TOP_BUILDDIR=${CS_TOP_BUILDDIR:-$CS_TOP_SRCDIR/build}
export CS_TOP_SRCDIR CS_TOP_BUILDDIR
PATH=$PATH:/usr/sbin:/sbin
n=0
failed=0

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
tap_done() { echo "1..$n"; }

# wait_for SECONDS CMD...: until CMD succeeds, polling every 50 ms.
wait_for() {
	local limit=$(( $1 * 20 )) i=0; shift
	while ! "$@"; do i=$((i + 1)); [ "$i" -ge "$limit" ] && return 1; sleep 0.05; done
}

# stack_run NAME: a temp run dir for scripts/stack.sh; on exit everything the
# stack started is stopped and the dir removed (kept when a check failed).
stack_run() {
	# shellcheck disable=SC1091
	. "$CS_TOP_SRCDIR/scripts/stack.sh"
	run=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
	trap 'cs_stack_stop; if [ "$failed" -ne 0 ]; then echo "# run directory kept: $run"; else rm -rf "$run"; fi' EXIT
	cs_stack_init "$run"
}
