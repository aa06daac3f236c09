#!/bin/bash
# test_invalid.sh - every request of the invalid corpus (tests/data/invalid,
# >= 150 cases across HTTP, V2, the envelope and the glue) through a real
# nginx to real workers: each must get its expected status and a JSON
# {"error": ...} body, and the workers must keep answering good requests
# correctly (checked every 20 cases) without a crash or restart. Prints TAP.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck disable=SC1091
. "$here/lib.sh"
PY=/usr/bin/python3
require_tools nginx spawn-fcgi curl jq "$PY"
stack_run cs-invalid

for m in bad echo; do
	mkdir -p "$run/$m"
	cp "$CS_TOP_SRCDIR/tests/data/models/$m/glue.lua" "$run/$m/"
	jq --arg w "$CS_TOP_SRCDIR/examples/linear/weights.json" '.model = $w' \
		"$CS_TOP_SRCDIR/tests/data/models/$m/model.json" >"$run/$m/model.json"
done
port=$(cs_free_port)
cs_worker_start linear "$CS_TOP_SRCDIR/examples/linear/model.json"
cs_worker_start bad "$run/bad/model.json"
cs_worker_start echo "$run/echo/model.json"
export CS_NGINX_MAX_BODY=16m
if ! cs_nginx_start "$port" ||
	! cs_wait_http "http://127.0.0.1:$port/models/linear" 30 "$(cs_pid linear)" ||
	! cs_wait_http "http://127.0.0.1:$port/models/bad" 30 "$(cs_pid bad)" ||
	! cs_wait_http "http://127.0.0.1:$port/models/echo" 30 "$(cs_pid echo)"; then
	echo "1..1"
	echo "not ok 1 - the stack starts (nginx, linear, bad, echo)"
	tail -n 20 "$CS_RUN"/logs/*.log | sed 's/^/# /'
	exit 1
fi
pids="$(cs_pid linear) $(cs_pid bad) $(cs_pid echo)"
pass "stack up: nginx on 127.0.0.1:$port; workers $pids"

"$PY" "$here/invalid_client.py" "http://127.0.0.1:$port" \
	"$CS_TOP_SRCDIR/tests/data/invalid" "$n" >"$run/client.tap" 2>&1 || true
cat "$run/client.tap"
# the client's TAP goes on this script's count
n=$(($(grep -cE '^(not )?ok ' "$run/client.tap" || true) + n))
failed=$(($(grep -c '^not ok ' "$run/client.tap" || true) + failed))
cases=$(ls "$CS_TOP_SRCDIR"/tests/data/invalid/*.req | wc -l)
if [ "$cases" -ge 150 ] && grep -q '^# invalid_client: ' "$run/client.tap"; then
	pass "the corpus holds $cases cases (>= 150) and all were sent"
else
	fail "the corpus holds >= 150 cases and all were sent ($cases)"
fi
alive=1
for p in $pids; do kill -0 "$p" 2>/dev/null || alive=0; done
if [ "$alive" = 1 ]; then
	pass "every worker is the process that started (no crash, no restart)"
else
	fail "every worker is the process that started"
fi
cs_stack_stop
no_sanitizer_reports "no sanitizer reports in the worker logs" "$CS_RUN"/logs/*.log
tap_done
