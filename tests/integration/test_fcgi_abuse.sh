#!/bin/bash
# test_fcgi_abuse.sh - raw FastCGI abuse straight to a worker's socket (no
# nginx): the worker answers or closes the connection, and lives on.
# The echo test model (request_timeout_ms 5000) runs under spawn-fcgi;
# fcgi_abuse.py does the abusing. Prints TAP.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
CS_TOP_SRCDIR=${CS_TOP_SRCDIR:-$(cd "$here/../.." && pwd)}
CS_TOP_BUILDDIR=${CS_TOP_BUILDDIR:-$CS_TOP_SRCDIR/build}
export CS_TOP_SRCDIR CS_TOP_BUILDDIR
PATH=$PATH:/usr/sbin:/sbin
PY=/usr/bin/python3

for tool in spawn-fcgi jq "$PY"; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "1..0 # SKIP $tool is not installed"
		exit 0
	fi
done

# shellcheck disable=SC1091
. "$CS_TOP_SRCDIR/scripts/stack.sh"
run=$(mktemp -d "${TMPDIR:-/tmp}/cs-abuse.XXXXXX")
failed=0
cleanup() {
	cs_stack_stop
	if [ "${CS_KEEP_RUN:-0}" = 1 ] || [ "$failed" -ne 0 ]; then
		echo "# run directory kept: $run"
	else
		rm -rf "$run"
	fi
}
trap cleanup EXIT
cs_stack_init "$run"
mkdir -p "$run/echo"
cp "$CS_TOP_SRCDIR/tests/data/models/echo/glue.lua" "$run/echo/"
jq --arg w "$CS_TOP_SRCDIR/examples/linear/weights.json" '.model = $w' \
	"$CS_TOP_SRCDIR/tests/data/models/echo/model.json" >"$run/echo/model.json"
cs_worker_start echo "$run/echo/model.json"
pid=$(cs_pid echo)
for ((i = 0; i < 100; i++)); do
	[ -S "$CS_RUN/echo.sock" ] && grep -q 'serving model' "$CS_RUN/logs/echo.log" 2>/dev/null && break
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.1
done

"$PY" "$here/fcgi_abuse.py" "$CS_RUN/echo.sock" "$pid" echo 0 >"$run/abuse.tap" 2>&1 || true
cat "$run/abuse.tap"
n=$(grep -cE '^(not )?ok ' "$run/abuse.tap" || true)
failed=$(grep -c '^not ok ' "$run/abuse.tap" || true)
n=$((n + 1))
if grep -q '^# fcgi_abuse: ' "$run/abuse.tap" && kill -0 "$pid" 2>/dev/null; then
	echo "ok $n - every abuse was sent; the worker is the process that started"
else
	failed=$((failed + 1))
	echo "not ok $n - every abuse was sent; the worker is the process that started"
	tail -n 20 "$CS_RUN/logs/echo.log" | sed 's/^/#   /'
fi
cs_stack_stop
n=$((n + 1))
if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$CS_RUN/logs/echo.log"; then
	failed=$((failed + 1))
	echo "not ok $n - no sanitizer reports in the worker log"
	grep -E -A5 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$CS_RUN/logs/echo.log" | head -n 20 | sed 's/^/#   /'
else
	echo "ok $n - no sanitizer reports in the worker log"
fi
echo "1..$n"
