#!/bin/bash
# test_api_auth.sh - the console's API on a stack with accounts
# (`cubeserve up --auth on`): signing in (POST /api/session: wrong password
# 401, the session token, GET /api/me), writes refused without a session
# (401) and for a role that may not (403, naming the role), the same
# writes done by the admin (the job's command checks the same key), a
# private model hidden from those who may not see it, signing out revoking
# the session. Prints TAP.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -euo pipefail
case ${1:-} in
-h | --help) sed -n '2,8s/^# \{0,1\}//p' "$0"; exit 0 ;;
esac

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck disable=SC1091
. "$here/lib.sh"
require_tools nginx spawn-fcgi redis-server curl jq
# shellcheck disable=SC1091
. "$here/console_lib.sh"
if [ ! -x "$CS_TOP_BUILDDIR/cubeserve-api" ]; then
	fail "cubeserve-api is built in $CS_TOP_BUILDDIR"
	tap_done
	exit 1
fi
# the command's own login token must not be what the API's jobs use
export XDG_CONFIG_HOME
XDG_CONFIG_HOME=$(mktemp -d /tmp/cs-api-auth-cfg.XXXXXX)
CONSOLE_UP_ARGS="--auth on" console_stack_up cs-api-auth
on_exit 'rm -rf "$XDG_CONFIG_HOME"'

expect() {
	if [ "$status" = "$2" ] && jq -e "$3" <<<"$body" >/dev/null 2>&1; then
		pass "$1"
	else
		fail "$1" "status $status (want $2), body: ${body:0:400}"
	fi
}
pw=$(sed -n 's/^up: created the first admin: user admin, password \([^ ]*\) .*/\1/p' "$run/up.out")
if [ -n "$pw" ]; then pass "up --auth on created the first admin"; else fail "up --auth on created the first admin" "$(tail -n 20 "$run/up.out")"; fi

api GET /api/me
expect "GET /api/me: accounts on, not signed in" 200 '.accounts == true and .signed_in == false and .user == "anonymous"'
api GET /api/models
expect "public reads need no sign-in" 200 'map(.name) | index("digits") != null'
api POST /api/models/digits/rating '{"stars": 5}'
expect "a write without a session is 401" 401 '.error | test("sign in")'
api POST /api/deployments/linear/scale '{"processes": 2}'
expect "a scale without a session is 401, nothing started" 401 '.error | test("sign in")'
[ -z "$(ls -A "$CUBESERVE_RUN_DIR/api/jobs" 2>/dev/null | grep -v '^$' || true)" ] && pass "no job was started" || fail "no job was started" "$(ls "$CUBESERVE_RUN_DIR/api/jobs")"
api POST /api/session "{\"name\": \"admin\", \"password\": \"wrong-$pw\"}"
expect "a wrong password is 401" 401 '.error'
NOCSRF=1 api POST /api/session "{\"name\": \"admin\", \"password\": \"$pw\"}"
expect "signing in without the CSRF header is 403" 403 '.error | test("Csrf")'
api POST /api/session "{\"name\": \"admin\", \"password\": \"$pw\"}"
expect "signing in gives a session token and the role" 201 '.user == "admin" and .role == "admin" and (.token | length) > 20'
admin=$(jq -r .token <<<"$body")
if grep -rqF -- "$pw" "$CUBESERVE_RUN_DIR/logs/api.log" "$CUBESERVE_RUN_DIR/api" 2>/dev/null; then
	fail "the password is in no log or file of the API"
else
	pass "the password is in no log or file of the API"
fi
TOKEN=$admin api GET /api/me
expect "GET /api/me with the session" 200 '.signed_in == true and .user == "admin" and .role == "admin"'
TOKEN=garbage-token api GET /api/me
expect "a bad token is 401" 401 '.error'
TOKEN=$admin api POST /api/models/digits/rating '{"stars": 5}'
expect "the admin rates as admin" 200 '.user == "admin" and .stars == 5'

# a consumer may vote but not deploy
printf 'bob-secret-1\n' >"$run/bob.pw"
if CUBESERVE_KEY=$admin "$CS" user add bob --role consumer --password-file "$run/bob.pw" >"$run/user.out" 2>&1; then
	pass "cubeserve user add bob (as the admin)"
else
	fail "cubeserve user add bob" "$(cat "$run/user.out")"
fi
api POST /api/session '{"name": "bob", "password": "bob-secret-1"}'
bob=$(jq -r '.token // empty' <<<"$body")
TOKEN=$bob api POST /api/models/digits/favorite
expect "a consumer may favourite" 200 '.user == "bob" and .favorites == 1'
TOKEN=$bob api POST /api/deployments/linear/scale '{"processes": 2}'
expect "a consumer may not scale: 403 naming the role" 403 '.error | test("operator|admin|owner")'
TOKEN=$bob api DELETE /api/models/linear
expect "a consumer may not remove a model: 403" 403 '.error'

# the admin's scale: the job's command checks the same key and scales
TOKEN=$admin api POST /api/deployments/linear/scale '{"processes": 2}'
if [ "$status" = 202 ] && wait_job "$(jq -r .job <<<"$body")" && [ "$(jq -r .state <<<"$job")" = done ]; then
	pass "the admin scales linear (a job running cubeserve scale with the admin's key)"
else
	fail "the admin scales linear" "status $status ${body:0:200} job ${job:-}"
fi
api GET /api/deployments/linear
expect "linear wants 2 processes" 200 '.processes == 2'

# a private model: hidden from anonymous and consumers, seen by the admin
if CUBESERVE_KEY=$admin "$CS" access linear private >"$run/access.out" 2>&1; then
	pass "cubeserve access linear private"
else
	fail "cubeserve access linear private" "$(cat "$run/access.out")"
fi
api GET /api/models
expect "anonymous: the private model is not listed" 200 'map(.name) | index("linear") == null'
api GET /api/models/linear
expect "anonymous: the private model is 404" 404 '.error | test("linear")'
TOKEN=$bob api GET /models/linear/openapi.json
expect "a consumer: its OpenAPI document is 404" 404 '.error'
TOKEN=$admin api GET /api/models/linear
expect "the admin sees it, marked private" 200 '.public == false and .accounts == true'

# a second admin session for what follows the sign-out
api POST /api/session "{\"name\": \"admin\", \"password\": \"$pw\"}"
admin2=$(jq -r '.token // empty' <<<"$body")
# signing out revokes the session
TOKEN=$admin api DELETE /api/session
expect "sign out" 200 '.signed_in == false'
TOKEN=$admin api GET /api/me
expect "the revoked session is 401" 401 '.error'

# the same in a browser, when one is installed
chromium=${CS_CHROMIUM:-/usr/bin/chromium}
if [ -x "$chromium" ] && command -v node >/dev/null 2>&1 &&
	[ -f "$CS_TOP_SRCDIR/console/node_modules/playwright-core/index.mjs" ] &&
	"$CS_TOP_SRCDIR/scripts/console-deps.sh" --check >/dev/null 2>&1; then
	# linear back to 1 process, public again, for the page's scale to 2
	TOKEN=$admin2 api POST /api/deployments/linear/scale '{"processes": 1}'
	wait_job "$(jq -r .job <<<"$body")" || true
	CUBESERVE_KEY=$admin2 "$CS" access linear public >/dev/null 2>&1 || true
	set +e
	CS_ADMIN_PASSWORD=$pw CS_CHROMIUM=$chromium timeout 300 node "$here/console_browser_auth.mjs" "$base" \
		"$CS_TOP_BUILDDIR/console-screenshots" >"$run/browser.tap" 2>"$run/browser.err"
	brc=$?
	set -e
	while IFS= read -r line; do
		case $line in
		"ok "*) pass "browser: ${line#* - }" ;;
		"not ok "*) fail "browser: ${line#* - }" ;;
		"#"*) echo "$line" ;;
		esac
	done <"$run/browser.tap"
	[ "$brc" = 0 ] || grep -q '^not ok' "$run/browser.tap" || fail "the browser run ends cleanly (exit $brc)" "$(tail -n 15 "$run/browser.err")"
else
	n=$((n + 1)); echo "ok $n - browser sign-in # SKIP chromium, node or the console's npm packages are not installed"
fi
no_sanitizer_reports
tap_done
