#!/bin/bash
# test_fcgi_abuse.sh - raw FastCGI abuse straight to a worker's socket (no
# nginx): the worker answers or closes the connection, and lives on.
# The echo test model (request_timeout_ms 5000) runs under spawn-fcgi;
# fcgi_abuse.py does the abusing. Prints TAP.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck disable=SC1091
. "$here/lib.sh"
PY=/usr/bin/python3
require_tools spawn-fcgi jq "$PY"
stack_run cs-abuse
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
# the client's TAP goes on this script's count
n=$(grep -cE '^(not )?ok ' "$run/abuse.tap" || true)
failed=$(grep -c '^not ok ' "$run/abuse.tap" || true)
if grep -q '^# fcgi_abuse: ' "$run/abuse.tap" && kill -0 "$pid" 2>/dev/null; then
	pass "every abuse was sent; the worker is the process that started"
else
	fail "every abuse was sent; the worker is the process that started" \
		"$(tail -n 20 "$CS_RUN/logs/echo.log")"
fi
cs_stack_stop
no_sanitizer_reports "no sanitizer reports in the worker log" "$CS_RUN/logs/echo.log"
tap_done
