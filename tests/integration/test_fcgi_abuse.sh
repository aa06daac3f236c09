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
# the same abuse twice: the threaded transport (libfcgi parses the records)
# and the event loop of a batching manifest (its own record reader)
mkdir -p "$run/echob"
cp "$run/echo/"{glue.lua,model.json} "$run/echob/"
jq '. + {batching: {max_batch_size: 8, max_queue_delay_us: 1000}}' \
	"$run/echo/model.json" >"$run/echob/model.json"
cs_worker_start echo "$run/echo/model.json"
cs_worker_start echob "$run/echob/model.json"
n=0 failed=0
for label in echo echob; do
	pid=$(cs_pid $label)
	for ((i = 0; i < 100; i++)); do
		[ -S "$CS_RUN/$label.sock" ] && grep -q 'serving model' "$CS_RUN/logs/$label.log" 2>/dev/null && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	"$PY" "$here/fcgi_abuse.py" "$CS_RUN/$label.sock" "$pid" echo "$n" >"$run/abuse.$label.tap" 2>&1 || true
	cat "$run/abuse.$label.tap"
	# the client's TAP goes on this script's count
	n=$((n + $(grep -cE '^(not )?ok ' "$run/abuse.$label.tap" || true)))
	failed=$((failed + $(grep -c '^not ok ' "$run/abuse.$label.tap" || true)))
	what="the worker"
	[ "$label" = echob ] && what="the event-loop worker"
	if grep -q '^# fcgi_abuse: ' "$run/abuse.$label.tap" && kill -0 "$pid" 2>/dev/null; then
		pass "every abuse was sent; $what is the process that started"
	else
		fail "every abuse was sent; $what is the process that started" \
			"$(tail -n 20 "$CS_RUN/logs/$label.log")"
	fi
done
grep -q "one event loop" "$CS_RUN/logs/echob.log" && pass "the batching worker served with its event loop" ||
	fail "the batching worker served with its event loop" "$(tail -n 5 "$CS_RUN/logs/echob.log")"
cs_stack_stop
no_sanitizer_reports "no sanitizer reports in the worker logs" "$CS_RUN/logs/echo.log" "$CS_RUN/logs/echob.log"
tap_done
