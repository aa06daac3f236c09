#!/bin/bash
# test_console.sh - the web console in a real browser: headless Chromium
# (Debian's chromium, driven by playwright-core from console/node_modules)
# against a private stack (`cubeserve up`: redis, nginx, cubeserve-api,
# workers). It opens the market, searches, opens a model, rates and
# comments, sends the example from Try it (own method and V2), reads the
# API reference, opens the demo page, scales a deployment and sees the
# process count change, signs in and out (console_browser.mjs). A
# screenshot of each page is written to BUILDDIR/console-screenshots/.
# Prints TAP.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -euo pipefail
case ${1:-} in
-h | --help) sed -n '2,10s/^# \{0,1\}//p' "$0"; exit 0 ;;
esac

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck disable=SC1091
. "$here/lib.sh"
require_tools nginx spawn-fcgi redis-server curl jq node
chromium=${CS_CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$chromium" ]; then
	echo "1..0 # SKIP chromium is not installed (apt-get install chromium)"
	exit 0
fi
# the console's npm files (console/vendor) and playwright-core
if ! "$CS_TOP_SRCDIR/scripts/console-deps.sh" --check >/dev/null 2>&1 ||
	[ ! -f "$CS_TOP_SRCDIR/console/node_modules/playwright-core/index.mjs" ]; then
	if ! command -v npm >/dev/null 2>&1; then
		echo "1..0 # SKIP npm is not installed: the console's packages cannot be installed"
		exit 0
	fi
	"$CS_TOP_SRCDIR/scripts/console-deps.sh" >&2
fi
# shellcheck disable=SC1091
. "$here/console_lib.sh"
console_stack_up cs-console

shots=$CS_TOP_BUILDDIR/console-screenshots
rm -rf "$shots"
if wait_for 20 curl -sf -o /dev/null "$base/console/" && wait_for 20 curl -sf -o /dev/null "$base/api/models"; then
	pass "the stack serves /console/ and /api/"
else
	fail "the stack serves /console/ and /api/" "$(tail -n 20 "$CUBESERVE_RUN_DIR/logs/api.log" 2>/dev/null)"
fi
# a model whose description tries to run script (published by upload)
mkdir -p "$run/xss/m"
cp "$CS_TOP_SRCDIR/examples/linear/glue.lua" "$CS_TOP_SRCDIR/examples/linear/weights.json" "$run/xss/m/"
jq '.name = "xss" | .version = "1.0.0" | .description = "**bold** <script>window.pwned=1</script><img src=x onerror=\"window.pwned=2\">"' \
	"$CS_TOP_SRCDIR/examples/linear/model.json" >"$run/xss/m/model.json"
tar czf "$run/xss.tgz" -C "$run/xss" m
api POST /api/models "@$run/xss.tgz" application/gzip
if [ "$status" = 202 ] && wait_job "$(jq -r .job <<<"$body")" && [ "$(jq -r .state <<<"$job")" = done ]; then
	pass "a model with script tags in its description is published (through the API)"
else
	fail "publish the xss model" "status $status ${body:0:200} ${job:-}"
fi
# the browser's own TAP lines, numbered after ours
set +e
CS_CHROMIUM=$chromium timeout 300 node "$here/console_browser.mjs" "$base" "$shots" >"$run/browser.tap" 2>"$run/browser.err"
rc=$?
set -e
while IFS= read -r line; do
	case $line in
	"ok "*) pass "browser: ${line#* - }" ;;
	"not ok "*) fail "browser: ${line#* - }" ;;
	"#"*) echo "$line" ;;
	esac
done <"$run/browser.tap"
if [ "$rc" != 0 ] && ! grep -q '^not ok' "$run/browser.tap"; then
	fail "the browser run ends cleanly (exit $rc)" "$(tail -n 15 "$run/browser.err")"
fi
n_shots=$(find "$shots" -name '*.png' 2>/dev/null | wc -l)
if [ "$n_shots" -ge 8 ]; then
	pass "a screenshot of each page in $shots ($n_shots)"
else
	fail "screenshots of the pages in $shots" "found $n_shots"
fi
no_sanitizer_reports
tap_done
