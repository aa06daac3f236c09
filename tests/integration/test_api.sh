#!/bin/bash
# test_api.sh - the console's JSON API (cubeserve-api, docs/api.md) through
# the stack's nginx, every endpoint and its refusals: malformed JSON, wrong
# content type, no CSRF header, unknown model / version / deployment / job,
# bad numbers; uploads that are not a tar.gz, escape their root (../,
# absolute, symlinks out), are over the size limit or hold a bad manifest
# (the job shows the failing step; nothing is stored); and the writes:
# rate, favourite, comments (two levels), set-default, publish, deploy,
# scale, pause, resume, restart, undeploy, remove. Prints TAP.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -euo pipefail
case ${1:-} in
-h | --help) sed -n '2,9s/^# \{0,1\}//p' "$0"; exit 0 ;;
esac

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck disable=SC1091
. "$here/lib.sh"
require_tools nginx spawn-fcgi redis-server curl jq tar python3
# shellcheck disable=SC1091
. "$here/console_lib.sh"
if [ ! -x "$CS_TOP_BUILDDIR/cubeserve-api" ]; then
	fail "cubeserve-api is built in $CS_TOP_BUILDDIR"
	tap_done
	exit 1
fi
console_stack_up cs-api

# expect DESC WANT-STATUS JQ-FILTER: checks the last api call.
expect() {
	if [ "$status" = "$2" ] && jq -e "$3" <<<"$body" >/dev/null 2>&1; then
		pass "$1"
	else
		fail "$1" "status $status (want $2), body: ${body:0:400}"
	fi
}
blobs() { find "$CUBESERVE_RUN_DIR/store/sha256" -type f | wc -l; }
versions() { curl -s "$base/api/models/$1" | jq -c '[.versions[].version]'; }

# ------------------------------------------------------------ reads
api GET /api/models
expect "GET /api/models lists the models as objects with name" 200 \
	'type == "array" and (map(.name) | index("digits") != null and index("linear") != null)'
api GET '/api/models?q=IRIS'
expect "text search is case-insensitive over name, description, tags" 200 'map(.name) == ["linear"]'
api GET '/api/models?tag=vision&tag=cnn'
expect "tag filters combine" 200 'map(.name) == ["digits"]'
api GET '/api/models?deployed=true&web=true'
expect "field filters: deployed with a demo page" 200 'map(.name) == ["digits"]'
api GET '/api/models?per_page=1&page=2&sort=name'
expect "paging: page 2 of 1 per page" 200 'map(.name) == ["linear"]'
hdr=$(curl -s -D - -o /dev/null "$base/api/models?per_page=1")
if grep -qi '^X-Total-Count: 2' <<<"$hdr"; then pass "X-Total-Count gives the total"; else fail "X-Total-Count gives the total" "$hdr"; fi
api GET '/api/models?sort=best'
expect "an unknown sort is 400 naming the choices" 400 '.error | test("newest, rating")'
api GET '/api/models?page=0'
expect "page 0 is 400" 400 '.error | test("page")'
api GET '/api/models?per_page=x'
expect "a non-number per_page is 400" 400 '.error | test("per_page")'
api GET '/api/models?deployed=maybe'
expect "deployed=maybe is 400" 400 '.error | test("true or false")'
api GET /api/models/digits
expect "one model: versions, files with sha256 and size, inputs, example, deployment" 200 \
	'.versions[0].version == "1.0.0" and (.version.files | map(select(.sha256 | test("^[0-9a-f]{64}$")) | .size > 0) | all)
	 and .version.inputs[0].name == "image" and (.version.example.pixels | length) == 64 and .deployment.state == "running"
	 and .web_url == "/models/digits/web/"'
api GET /api/models/nosuch
expect "an unknown model is 404 naming it" 404 '.error | test("nosuch")'
api GET '/api/models/digits?version=9.9'
expect "an unknown version is 404 naming it" 404 '.error | test("9.9")'
api GET '/api/models/bad%20name'
expect "a bad model name is 400" 400 '.error | test("not a model name")'
api GET /api/nowhere
expect "an unknown endpoint is 404" 404 '.error | test("no endpoint")'
api PATCH /api/models
expect "a wrong method is 405" 405 '.error | test("not allowed")'

# ------------------------------------------------------------ openapi
api GET /models/digits/openapi.json
expect "GET /models/digits/openapi.json: OpenAPI 3 with the method, V2 paths, envelope and errors" 200 \
	'(.openapi | startswith("3.")) and .paths["/models/digits/predict"].post and .paths["/v2/models/digits/infer"].post
	 and .paths["/models/digits/api/model"].post and .components.schemas.Error
	 and .paths["/models/digits/predict"].post.responses["400"]
	 and (.paths["/models/digits/predict"].post.requestBody.content["application/json"].example.pixels | length) == 64'
api GET /models/nosuch/openapi.json
expect "openapi.json of an unknown model is 404" 404 '.error | test("nosuch")'

# ------------------------------------------------------------ CSRF and bodies
NOCSRF=1 api POST /api/models/digits/rating '{"stars": 5}'
expect "a write without X-Cubeserve-Csrf is 403" 403 '.error | test("X-Cubeserve-Csrf")'
NOCSRF=1 api POST /api/models/digits/rating 'stars=5' application/x-www-form-urlencoded
expect "a cross-site form post is 403" 403 '.error | test("cross-site")'
api POST /api/models/digits/rating '{"stars": 5'
expect "malformed JSON is 400 with the place" 400 '.error | test("malformed JSON at line 1")'
api POST /api/models/digits/rating 'stars=5' text/plain
expect "a non-JSON content type is 415" 415 '.error | test("application/json")'
api POST /api/models/digits/rating '[5]'
expect "a JSON array body is 400" 400 '.error | test("object")'
api POST /api/models/digits/rating '{"stars": 6}'
expect "6 stars is 400" 400 '.error | test("1..5")'
api POST /api/models/nosuch/rating '{"stars": 3}'
expect "rating an unknown model is 404" 404 '.error | test("nosuch")'
{ printf '{"text": "'; head -c 1200000 /dev/zero | tr '\0' a; printf '"}'; } >"$run/big.json"
api POST /api/models/digits/comments "@$run/big.json"
expect "a JSON body over 1 MiB is 413" 413 '.error | test("at most")'
api GET /api/models/digits
if [ "$(jq .rating_count <<<"$body")" = 0 ] && [ "$(jq '.favorites' <<<"$body")" = 0 ]; then
	pass "the refused writes changed nothing"
else
	fail "the refused writes changed nothing" "${body:0:300}"
fi

# ------------------------------------------------------------ rate, favourite, comments
api POST /api/models/digits/rating '{"stars": 4}'
expect "rate 4 stars" 200 '.rating == 4 and .rating_count == 1 and .user == "tester"'
api PUT /api/models/digits/favorite
expect "favourite" 200 '.favorites == 1 and .favorite == true'
api GET /api/models/digits
expect "the model shows my rating and favourite" 200 '.my_rating == 4 and .my_favorite == true and .favorites == 1'
api DELETE /api/models/digits/favorite
expect "unfavourite" 200 '.favorites == 0'
api POST /api/models/digits/comments '{"text": "<script>alert(1)</script> works"}'
expect "a comment (stored as text)" 201 '.id == 1 and .parent == 0'
api POST /api/models/digits/comments '{"text": "agreed", "parent": 1}'
expect "a reply" 201 '.id == 2 and .parent == 1'
api POST /api/models/digits/comments '{"text": "deeper", "parent": 2}'
expect "a reply to a reply is 400 (two levels)" 400 '.error | test("is a reply")'
api POST /api/models/digits/comments '{"text": "x", "parent": 77}'
expect "a reply to an unknown comment is 404" 404 '.error | test("77")'
api POST /api/models/digits/comments '{"text": "   "}'
expect "an empty comment is 400" 400 '.error | test("text")'
api POST /api/models/digits/comments '{"text": 5}'
expect "a non-string comment is 400" 400 '.error | test("text")'
api GET /api/models/digits/comments
expect "comments come two levels deep" 200 'length == 1 and .[0].replies[0].text == "agreed" and (.[0].text | startswith("<script>"))'
api GET /api/models/nosuch/comments
expect "comments of an unknown model: 404" 404 '.error | test("nosuch")'

# ------------------------------------------------------------ uploads
mkdir -p "$run/up/m" "$run/evil"
cp "$CS_TOP_SRCDIR/examples/linear/glue.lua" "$CS_TOP_SRCDIR/examples/linear/weights.json" "$run/up/m/"
jq '.name = "iris2" | .version = "2.0.0" | .tags = ["iris", "upload"]' "$CS_TOP_SRCDIR/examples/linear/model.json" >"$run/up/m/model.json"
mkdir -p "$run/up/m/web"
echo '<!doctype html><title>iris2</title><p>iris2 demo</p>' >"$run/up/m/web/index.html"
tar czf "$run/good.tgz" -C "$run/up" m

b0=$(blobs)
api POST /api/models 'not a tarball at all' application/gzip
expect "an upload that is not a tar.gz is 400" 400 '.error | test("not a .tar.gz")'
python3 - "$run/evil" <<'PY'
import io, sys, tarfile
d = sys.argv[1]
def tgz(name, members):
    with tarfile.open(f"{d}/{name}", "w:gz") as t:
        for m, data in members:
            if data is not None:
                m.size = len(data)
                t.addfile(m, io.BytesIO(data))
            else:
                t.addfile(m)
def f(name, data=b"x"):
    return tarfile.TarInfo(name), data
def link(name, target):
    m = tarfile.TarInfo(name); m.type = tarfile.SYMTYPE; m.linkname = target; return m, None
tgz("dotdot.tgz", [f("m/model.json", b"{}"), f("m/../../escape.txt")])
tgz("absolute.tgz", [f("/tmp/cs-api-absolute.txt")])
tgz("symlink.tgz", [link("m/passwd", "/etc/passwd"), f("m/model.json", b"{}")])
tgz("symlink-up.tgz", [link("m/up", "../../.."), f("m/model.json", b"{}")])
tgz("nomanifest.tgz", [f("m/readme.txt", b"hello")])
tgz("plugin-file.tgz", [f("m/model.json", b'{"name": "evil", "version": "1", "plugin": "./evil.so"}'), f("m/evil.so", b"ELF")])
PY
api POST /api/models "@$run/evil/dotdot.tgz" application/gzip
expect "an entry with ../ is 400 naming it" 400 '.error | test("\\.\\.")'
api POST /api/models "@$run/evil/absolute.tgz" application/gzip
expect "an absolute entry is 400" 400 '.error | test("absolute")'
api POST /api/models "@$run/evil/symlink.tgz" application/gzip
expect "a symlink to /etc/passwd is 400" 400 '.error | test("symbolic link")'
api POST /api/models "@$run/evil/symlink-up.tgz" application/gzip
expect "a symlink to ../../.. is 400" 400 '.error | test("symbolic link")'
api POST /api/models "@$run/evil/nomanifest.tgz" application/gzip
expect "an archive without model.json is 400" 400 '.error | test("model.json")'
api POST /api/models "@$run/evil/plugin-file.tgz" application/gzip
expect "an upload whose plugin is a file in it is 400" 400 '.error | test("installed plugin")'
head -c $((65 * 1024 * 1024)) /dev/urandom >"$run/big.bin"
api POST /api/models "@$run/big.bin" application/gzip
if [ "$status" = 413 ]; then pass "an upload over the size limit is 413"; else fail "an upload over the size limit is 413" "status $status ${body:0:200}"; fi
rm -f "$run/big.bin"
api POST /api/models "@$run/good.tgz" application/x-tar-something
expect "an upload with another content type is 415" 415 '.error | test("gzip")'
NOCSRF=1 api POST /api/models "@$run/good.tgz" application/gzip
expect "an upload without the CSRF header is 403" 403 '.error | test("Csrf")'
if [ "$(blobs)" = "$b0" ] && [ -z "$(ls -A "$CUBESERVE_RUN_DIR/api/uploads" 2>/dev/null)" ] && [ ! -e /tmp/escape.txt ] &&
	[ ! -e /tmp/cs-api-absolute.txt ]; then
	pass "the refused uploads stored nothing and left nothing behind"
else
	fail "the refused uploads stored nothing" "blobs $b0 -> $(blobs); uploads: $(ls "$CUBESERVE_RUN_DIR/api/uploads" 2>&1)"
fi

# a manifest that fails validation: the job shows step 1 failed
jq '.modle = "typo"' "$run/up/m/model.json" >"$run/up/m/model.bad" && mv "$run/up/m/model.json" "$run/up/m/model.good"
mv "$run/up/m/model.bad" "$run/up/m/model.json"
tar czf "$run/badmanifest.tgz" -C "$run/up" m
mv "$run/up/m/model.good" "$run/up/m/model.json"
api POST /api/models "@$run/badmanifest.tgz" application/gzip
if [ "$status" = 202 ] && wait_job "$(jq -r .job <<<"$body")" &&
	jq -e '.state == "failed" and .steps[0].step == 1 and .steps[0].state == "failed" and (.log | test("modle"))' <<<"$job" >/dev/null; then
	pass "a bad manifest: the job fails at step 1 naming the field"
else
	fail "a bad manifest: the job fails at step 1" "status $status ${body:0:200} job ${job:-}"
fi
if [ "$(blobs)" = "$b0" ] && [ "$(curl -s -o /dev/null -w '%{http_code}' "$base/api/models/iris2")" = 404 ]; then
	pass "the failed publish stored and registered nothing"
else
	fail "the failed publish stored and registered nothing" "blobs $b0 -> $(blobs)"
fi
api GET /api/jobs/0123456789abcdef
expect "an unknown job is 404" 404 '.error | test("no job")'
api GET /api/jobs/../../etc
expect "a job id that is a path is refused" 404 '.error'

# a good upload: every step done, then the model is there with its web files
api POST /api/models "@$run/good.tgz" application/gzip
if [ "$status" = 202 ] && wait_job "$(jq -r .job <<<"$body")" &&
	jq -e '.state == "done" and (.steps | length) == 5 and (.steps | map(.state == "done") | all)' <<<"$job" >/dev/null; then
	pass "publish by upload: validate, check, test-load, store, register all done"
else
	fail "publish by upload" "status $status ${body:0:200} job ${job:-}"
fi
api GET /api/models/iris2
expect "the uploaded model is registered with its web/ files" 200 \
	'.version.version == "2.0.0" and (.version.web_files | map(.name) == ["index.html"]) and .deployed == false'

# ------------------------------------------------------------ set-default, remove
cp -r "$run/up/m" "$run/up/m3"
jq '.version = "3.0.0"' "$run/up/m/model.json" >"$run/up/m3/model.json"
tar czf "$run/v3.tgz" -C "$run/up" m3
api POST /api/models "@$run/v3.tgz" application/gzip
wait_job "$(jq -r .job <<<"$body")" || true
api PUT /api/models/iris2/default '{"version": "2.0.0"}'
expect "set-default" 200 '.default == "2.0.0"'
api PUT /api/models/iris2/default '{"version": "7.0.0"}'
expect "set-default to an unknown version is 404" 404 '.error | test("7.0.0")'
api PUT /api/models/iris2/default '{"version": 7}'
expect "set-default with a number is 400" 400 '.error | test("version")'
api DELETE /api/models/iris2/versions/9.9.9
expect "removing an unknown version is 404" 404 '.error | test("9.9.9")'
api DELETE /api/models/iris2/versions/3.0.0
expect "remove one version" 200 '.removed == "iris2" and .version == "3.0.0"'
[ "$(versions iris2)" = '["2.0.0"]' ] && pass "the version is gone, the other stays" || fail "the version is gone" "$(versions iris2)"

# ------------------------------------------------------------ deployments
api GET /api/deployments
expect "deployments: every one with state, processes, live figures, memory" 200 \
	'map(.name) == ["digits", "linear"] and (map(.state == "running" and .processes == 1 and .live == 1 and .memory_kb > 0) | all)'
api GET /api/deployments/linear
expect "one deployment with its instances" 200 '.instances | length == 1 and .[0].state == "ready"'
api GET /api/deployments/nosuch
expect "an unknown deployment is 404" 404 '.error | test("not deployed")'
api GET '/api/deployments/linear/logs?lines=5'
expect "the log tail" 200 '(.text | split("\n") | length) <= 6 and (.text | test("linear"))'
api GET '/api/deployments/linear/logs?lines=0'
expect "lines=0 is 400" 400 '.error | test("lines")'
api GET /api/deployments/nosuch/logs
expect "the log of an unknown deployment is 404" 404 '.error'
api POST /api/deployments/linear/scale '{"processes": 65}'
expect "scale to 65 is 400" 400 '.error | test("1..64")'
api POST /api/deployments/linear/scale '{}'
expect "scale without processes is 400" 400 '.error | test("processes")'
api POST /api/deployments/nosuch/scale '{"processes": 2}'
expect "scale of an unknown deployment is 404" 404 '.error | test("nosuch")'
api POST /api/deployments/linear/resume
expect "resume of a running deployment is 409" 409 '.error | test("not paused")'
api POST /api/deployments '{"name": "nosuch"}'
expect "deploy of an unknown model is 404" 404 '.error | test("nosuch")'
api POST /api/deployments '{"name": "iris2", "version": "5.5"}'
expect "deploy of an unknown version is 404" 404 '.error | test("5.5")'
api POST /api/deployments '{"name": "iris2", "processes": "two"}'
expect "deploy with processes \"two\" is 400" 400 '.error | test("processes")'
api DELETE /api/deployments/nosuch
expect "undeploy of an unknown deployment is 404" 404 '.error'
api POST /api/deployments/linear/switch '{"version": "9.9.9"}'
expect "switch to an unknown version is 404" 404 '.error | test("9.9.9")'
api POST /api/deployments/linear/switch '{"version": "1.0.0", "canary": 100}'
expect "a canary of 100 % is 400" 400 '.error | test("1..99")'
api POST /api/deployments/linear/switch '{}'
expect "switch without a version is 400" 400 '.error | test("version")'
api POST /api/deployments/nosuch/switch '{"version": "1.0.0"}'
expect "switch of an unknown deployment is 404" 404 '.error | test("nosuch")'
api POST /api/deployments/nosuch/rollback
expect "rollback of an unknown deployment is 404" 404 '.error | test("nosuch")'
api POST /api/deployments/nosuch/promote
expect "promote of an unknown deployment is 404" 404 '.error | test("nosuch")'

job_ok() { # job_ok DESC: the last call started a job that ended well
	if [ "$status" = 202 ] && wait_job "$(jq -r .job <<<"$body")" && [ "$(jq -r .state <<<"$job")" = done ]; then
		pass "$1"
	else
		fail "$1" "status $status ${body:0:200} job ${job:-}"
	fi
}
api POST /api/deployments/linear/scale '{"processes": 2}'
job_ok "scale linear to 2 (a job running cubeserve scale)"
serving() { [ "$(curl -s "$base/api/deployments/$1" | jq '.processes == '"$2"' and .serving_processes == '"$2")" = true ]; }
if wait_for 15 serving linear 2; then
	pass "linear runs 2 processes (desired, and serving by the heartbeats)"
else
	fail "linear runs 2 processes" "$(curl -s "$base/api/deployments/linear" | head -c 600)"
fi
# a model without a route: the 404 says whether it is published
body=$(curl -s -m 10 "$base/models/iris2" -d '{"x": [5.1, 3.5, 1.4, 0.2]}')
[[ $body == *"model 'iris2' is published but not deployed"* ]] &&
	pass "a published model that is not deployed: its 404 says so" ||
	fail "published but not deployed: 404 says so" "${body:0:300}"
body=$(curl -s -m 10 "$base/v2/models/nosuch/infer" -d '{}')
[[ $body == *"unknown model 'nosuch': no model of that name is published"* ]] &&
	pass "an unknown model: its 404 names it and says it is not published" ||
	fail "unknown model: 404 names it" "${body:0:300}"
api POST /api/deployments '{"name": "iris2", "processes": 1}'
job_ok "deploy iris2"
code=$(curl -s -o /dev/null -w '%{http_code}' -m 10 "$base/models/iris2" -d '{"x": [5.1, 3.5, 1.4, 0.2]}')
[ "$code" = 200 ] && pass "iris2 answers through nginx" || fail "iris2 answers through nginx" "status $code"
page=$(curl -s -m 10 "$base/models/iris2/web/")
[[ $page == *"iris2 demo"* ]] && pass "its demo page is served at /models/iris2/web/" || fail "demo page served" "${page:0:200}"
csp=$(curl -s -D - -o /dev/null "$base/models/iris2/web/" | tr -d '\r' | grep -i '^content-security-policy' || true)
[[ $csp == *"script-src 'self'"* ]] && pass "the demo page has a CSP without inline scripts" || fail "demo CSP" "$csp"
api DELETE /api/models/iris2
expect "removing a deployed model is 409" 409 '.error | test("deploy")'
api POST /api/deployments/iris2/pause
job_ok "pause iris2"
code=$(curl -s -o /dev/null -w '%{http_code}' -m 10 "$base/models/iris2" -d '{}')
[ "$code" = 503 ] && pass "a paused model answers 503" || fail "paused: 503" "status $code"
api POST /api/deployments/iris2/pause
expect "pause of a paused deployment is 409" 409 '.error | test("already paused")'
api POST /api/deployments/iris2/resume
job_ok "resume iris2"
api POST /api/deployments/iris2/restart
job_ok "restart iris2"
api DELETE /api/deployments/iris2
job_ok "undeploy iris2"
api POST /api/models/iris2/comments '{"text": "gone with the model"}'
expect "a comment on iris2" 201 '.id'
iris2_web=$(redis-cli -s "$CUBESERVE_RUN_DIR/redis.sock" hget cs:version:iris2:2.0.0 web_sha256)
digits_web=$(redis-cli -s "$CUBESERVE_RUN_DIR/redis.sock" hget cs:version:digits:1.0.0 web_sha256)
api DELETE /api/models/iris2
expect "remove the model" 200 '.removed == "iris2" and .web_folders_deleted == 1'
if [ -n "$iris2_web" ] && [ ! -e "$CUBESERVE_RUN_DIR/store/web/$iris2_web" ] &&
	[ -n "$digits_web" ] && [ -d "$CUBESERVE_RUN_DIR/store/web/$digits_web" ]; then
	pass "its served web folder is deleted from the store, digits' stays"
else
	fail "its served web folder is deleted from the store, digits' stays" \
		"iris2 '$iris2_web', digits '$digits_web': $(ls "$CUBESERVE_RUN_DIR/store/web" 2>&1)"
fi
if [ "$(redis-cli -s "$CUBESERVE_RUN_DIR/redis.sock" --no-raw exists cs:comments:iris2 cs:comment_seq:iris2)" = "(integer) 0" ]; then
	pass "its comments are removed with it"
else
	fail "its comments are removed with it" "cs:comments:iris2 or cs:comment_seq:iris2 is still in the registry"
fi
api GET /api/models/iris2
expect "it is gone" 404 '.error'

# ------------------------------------------------------------ the console's files
hdr=$(curl -s -D - -o "$run/index.html" "$base/console/" | tr -d '\r')
if grep -qi "^content-security-policy: .*script-src 'self'" <<<"$hdr" && ! grep -q '<script>' "$run/index.html" &&
	grep -q 'type="module" src="app.js"' "$run/index.html"; then
	pass "/console/ is served with a CSP forbidding inline scripts, and has none"
else
	fail "/console/ CSP" "$hdr"
fi
if grep -rl '<script>' "$CS_TOP_SRCDIR/console"/*.html "$CS_TOP_SRCDIR/examples"/*/web/*.html 2>/dev/null | grep -q .; then
	fail "no inline script in the console's or demos' HTML"
else
	pass "no inline script in the console's or demos' HTML"
fi
no_sanitizer_reports
tap_done
