#!/bin/bash
# test_image_inputs.sh - files, raw bodies, base64 and images through real
# nginx and cubeserve-worker processes under spawn-fcgi (unix sockets in a
# temp dir). Prints TAP.
#
# The uploads model (tests/data/models/uploads) reports what reaches its
# glue: multipart uploads with several files and fields (req.files,
# req.form, req.file), raw image/* and application/octet-stream bodies,
# base64 in JSON (cs.base64_decode, data URLs), V2 BYTES tensors of encoded
# images, the CubeAI envelope (api/file, api/stream) and ServiceBoot's
# api/data ({"action", "args"}, its multipart and stream forms). Bad input
# (empty, truncated and corrupt images, a PNG bomb, an image over
# limits.max_image_bytes, a GIF, a wrong or missing multipart boundary, a
# form field over the limit, base64 that is not) gets a 4xx JSON naming
# the problem, and the worker answers correctly afterwards.
#
# The mobilenet_image example (examples/mobilenet_image, the model made by
# its export.py into the temp dir) answers the top-5 of four images sent as
# raw bodies, multipart, base64 JSON, api/file and V2 BYTES; every score is
# PyTorch's own (torchvision preprocessing, the same weights) within 1e-4.
#
# Skips only when nginx, spawn-fcgi, curl, jq or python3 with PIL and numpy
# are missing; the mobilenet cases skip without the onnx plugin or
# python3-torchvision.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -euo pipefail

case ${1:-} in
-h | --help)
	sed -n '2,24s/^# \{0,1\}//p' "$0"
	echo "Env: CS_TOP_SRCDIR, CS_TOP_BUILDDIR (set by make check)."
	exit 0
	;;
esac

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck disable=SC1091
. "$here/lib.sh"
require_tools nginx spawn-fcgi curl jq
PY=/usr/bin/python3
if ! "$PY" -c 'import PIL, numpy' 2>/dev/null; then
	echo "1..0 # SKIP python3-pil or python3-numpy is not installed (the image fixtures need them)"
	exit 0
fi
skip() { n=$((n + 1)); echo "ok $n - # SKIP $1"; }
stack_run cs-images

fx=$run/fx
"$PY" "$CS_TOP_SRCDIR/tests/data/images/make_fixtures.py" "$fx" 2>"$run/fixtures.err"

have_mobilenet=0
if { [ -f "$CS_PLUGIN_DIR/onnx.so" ] || [ -f "$CS_PLUGIN_DIR/onnx/.libs/onnx.so" ]; } &&
	"$PY" -c 'import torch, torchvision' 2>/dev/null; then
	have_mobilenet=1
	mb=$run/mobilenet_image
	mkdir -p "$mb"
	cp "$CS_TOP_SRCDIR/examples/mobilenet_image/"{model.json,glue.lua,labels.txt} "$mb/"
	"$PY" "$CS_TOP_SRCDIR/examples/mobilenet_image/export.py" --out "$mb" \
		--reference "$mb/ref.json" "$fx/photo.jpg" "$fx/cmyk.jpg" "$fx/photo.png" \
		"$fx/gray.jpg" 2>"$run/export.err"
fi

cs_worker_start uploads "$CS_TOP_SRCDIR/tests/data/models/uploads/model.json"
[ "$have_mobilenet" = 1 ] && cs_worker_start mobilenet_image "$mb/model.json"
port=$(cs_free_port)
export CS_NGINX_MAX_BODY=8m
up=1
cs_nginx_start "$port" || up=0
[ "$up" = 1 ] && cs_wait_http "http://127.0.0.1:$port/models/uploads" 60 "$(cs_pid uploads)" || up=0
if [ "$up" = 1 ] && [ "$have_mobilenet" = 1 ]; then
	cs_wait_http "http://127.0.0.1:$port/models/mobilenet_image" 120 "$(cs_pid mobilenet_image)" || up=0
fi
if [ "$up" != 1 ]; then
	failed=1
	echo "1..1"
	echo "not ok 1 - the stack starts (nginx + the uploads and mobilenet_image workers)"
	for f in "$CS_RUN"/logs/*.log "$CS_RUN"/nginx/logs/error.log; do
		[ -s "$f" ] && { echo "# --- $f"; tail -n 15 "$f" | sed 's/^/#   /'; }
	done
	exit 1
fi
pass "stack up: nginx on 127.0.0.1:$port, uploads$([ "$have_mobilenet" = 1 ] && echo " and mobilenet_image") under spawn-fcgi"
base=http://127.0.0.1:$port
pid_uploads=$(cs_pid uploads)

# ------------------------------------------------------------------ HTTP
# req PATH CURL-ARGS...: POSTs; sets $status and $body.
req() {
	local path=$1
	shift
	status=$(curl -s -o "$run/body" -w '%{http_code}' -m 30 "$@" "$base$path") ||
		status="curl-failed($?)"
	body=$(head -c 20000 "$run/body" 2>/dev/null || true)
}
# raw PATH FILE TYPE: the file as the body.
raw() { req "$1" -H "Content-Type: $3" --data-binary "@$2"; }
# json_file OUT FIELD FILE [PREFIX]: {"FIELD": "<PREFIX><base64 of FILE>"} into OUT.
json_file() {
	"$PY" - "$1" "$2" "$3" "${4:-}" <<'EOF'
import base64, json, sys
out, field, path, prefix = sys.argv[1:5]
with open(path, "rb") as f:
    data = base64.b64encode(f.read()).decode()
json.dump({field: prefix + data}, open(out, "w"))
EOF
}

# ok DESC JQ-EXPR: the last answer is 200 and JQ-EXPR holds on its body.
ok() {
	if [ "$status" = 200 ] && jq -e "$2" <<<"$body" >/dev/null 2>&1; then
		pass "$1"
	else
		fail "$1" "status $status, body: ${body:0:400}"
	fi
}

# bad DESC STATUS "FRAG|FRAG...": STATUS and a JSON {"error": ...} holding
# every fragment (case and spaces ignored).
bad() {
	local desc=$1 want=$2 frags=$3 msg flat f missing=
	if [ "$status" != "$want" ]; then
		fail "$desc: status $want" "got $status, body: ${body:0:300}"
		return
	fi
	if ! msg=$(jq -er '.error | strings' <<<"$body" 2>/dev/null); then
		fail "$desc: a JSON {\"error\": ...} body" "body: ${body:0:300}"
		return
	fi
	flat=$(tr -d ' ' <<<"$msg" | tr '[:upper:]' '[:lower:]')
	IFS='|' read -r -a parts <<<"$frags"
	for f in "${parts[@]}"; do
		f=$(tr -d ' ' <<<"$f" | tr '[:upper:]' '[:lower:]')
		[[ $flat == *"$f"* ]] || missing="$missing '$f'"
	done
	if [ -n "$missing" ]; then
		fail "$desc: $want, error names$missing" "error: $msg"
	else
		pass "$desc: $want {\"error\": \"${msg:0:120}\"}"
	fi
	alive
}

# alive: after a bad request the worker still decodes photo.jpg right.
alive() {
	local s b
	s=$(curl -s -o "$run/alive" -w '%{http_code}' -m 30 -H 'Content-Type: image/jpeg' \
		--data-binary "@$fx/photo.jpg" "$base/models/uploads/info") || s=failed
	b=$(cat "$run/alive")
	if [ "$s" != 200 ] || ! jq -e '.width == 640 and .height == 480' <<<"$b" >/dev/null 2>&1; then
		fail "  ... and the worker answers correctly afterwards" "status $s, body ${b:0:200}"
	fi
}

size() { stat -c %s "$1"; }
head8() { head -c 8 "$1" | base64; }

# ------------------------------------------------------------------ uploads
req /models/uploads/files -F "photo=@$fx/photo.jpg;type=image/jpeg" \
	-F "mask=@$fx/gray.png;type=image/png" -F "note=hello world" -F 'n=3' \
	-F "other=@$fx/anim.gif"
ok "multipart: 3 files and 2 fields reach req.files (in order, by name), req.form and req.file" "
	(.files | length) == 3
	and .files[0] == {name: \"photo\", filename: \"photo.jpg\", content_type: \"image/jpeg\", size: $(size "$fx/photo.jpg"), head: \"$(head8 "$fx/photo.jpg")\"}
	and .files[1].name == \"mask\" and .files[1].content_type == \"image/png\" and .files[1].size == $(size "$fx/gray.png")
	and .files[2].filename == \"anim.gif\" and .files[2].size == $(size "$fx/anim.gif")
	and .form == {note: \"hello world\", n: \"3\"}
	and .first.name == \"photo\" and .by_name.size == $(size "$fx/photo.jpg")
	and (.content_type | startswith(\"multipart/form-data\"))"

raw /models/uploads/info "$fx/photo.jpg" image/jpeg
ok "raw image/jpeg body on the model's own method: decoded 640x480x3" \
	'.width == 640 and .height == 480 and .channels == 3 and .content_type == "image/jpeg"'
raw /models/uploads/info "$fx/photo.png" image/png
ok "raw image/png body" '.width == 640 and .content_type == "image/png"'
raw /models/uploads/info "$fx/photo.png" application/octet-stream
ok "raw application/octet-stream body" ".width == 640 and .size == $(size "$fx/photo.png")"
req /models/uploads/info -F "upload=@$fx/photo.jpg;type=image/jpeg"
ok "multipart upload: the first file" '.width == 640 and .filename == "photo.jpg" and .content_type == "image/jpeg"'
req '/models/uploads/info?field=pic' -F "x=@$fx/gray.png" -F "pic=@$fx/photo.png;type=image/png"
ok "multipart upload: the file in the field named by the glue" '.filename == "photo.png" and .channels == 3'
json_file "$run/b64.json" image "$fx/photo.jpg"
raw /models/uploads/info "$run/b64.json" application/json
ok "base64 in the JSON field 'image'" ".width == 640 and .size == $(size "$fx/photo.jpg")"
json_file "$run/b64.json" image "$fx/photo.png" "data:image/png;base64,"
raw /models/uploads/info "$run/b64.json" application/json
ok "a data URL in JSON (as a browser's FileReader makes it)" '.width == 640'
json_file "$run/b64.json" data "$fx/gray.png"
raw /models/uploads/b64 "$run/b64.json" application/json
base64 -w0 "$fx/gray.png" | jq -Rs . >"$run/b64.want"
if [ "$status" = 200 ] && jq -e --slurpfile b "$run/b64.want" \
	".size == $(size "$fx/gray.png") and .again == \$b[0]" "$run/body" >/dev/null; then
	pass "cs.base64_decode / base64_encode round trip ($(size "$fx/gray.png") bytes)"
else
	fail "cs.base64_decode / base64_encode round trip" "status $status, body: ${body:0:200}"
fi
raw /models/uploads/info "$fx/cmyk.jpg" image/jpeg
ok "a CMYK JPEG is converted to RGB" '.width == 640 and .channels == 3'
raw /models/uploads/info "$fx/rgb16.png" image/png
ok "a 16-bit PNG is converted to 8 bits" '.width == 640 and .channels == 3'
raw /models/uploads/info "$fx/exif.jpg" image/jpeg
ok "a JPEG with 1 MB of EXIF segments decodes (the EXIF is skipped)" '.width == 640 and .height == 480'
raw /models/uploads/info "$fx/orient_6.jpg" image/jpeg
ok "a 48x32 JPEG with EXIF Orientation 6 is turned upright: 32x48" '.width == 32 and .height == 48'
raw /models/uploads/info "$fx/orient_huge_6.jpg" image/jpeg
ok "the same behind a 64 kB EXIF block of 5401 entries: 32x48" '.width == 32 and .height == 48'
raw /models/uploads/info "$fx/exif_bad_ifd.jpg" image/jpeg
ok "a malformed EXIF block (its IFD past the end) is ignored: 48x32" '.width == 48 and .height == 32'

status=$(curl -s -o "$run/thumb.png" -w '%{http_code} %{content_type}' -m 30 \
	-H 'Content-Type: image/jpeg' --data-binary "@$fx/photo.jpg" "$base/models/uploads/thumb") || status=failed
if [ "$status" = "200 image/png" ] && "$PY" -c "
import sys; from PIL import Image
im = Image.open('$run/thumb.png'); sys.exit(0 if im.size == (32, 24) and im.mode == 'RGB' else 1)"; then
	pass "an image answer: 200 image/png, a 32x24 RGB PNG (Pillow reads it)"
else
	fail "an image answer: 200 image/png, a 32x24 PNG" "got $status"
fi

# V2 binary extension: one BYTES element holding the PNG
"$PY" - "$fx/photo.png" "$run/v2.bin" "$run/v2.len" <<'EOF'
import json, struct, sys
data = open(sys.argv[1], "rb").read()
elem = struct.pack("<I", len(data)) + data
hdr = json.dumps({"inputs": [{"name": "image", "datatype": "BYTES", "shape": [1],
                              "parameters": {"binary_data_size": len(elem)}}]}).encode()
open(sys.argv[2], "wb").write(hdr + elem)
open(sys.argv[3], "w").write(str(len(hdr)))
EOF
req /v2/models/uploads/infer -H 'Content-Type: application/octet-stream' \
	-H "Inference-Header-Content-Length: $(cat "$run/v2.len")" --data-binary "@$run/v2.bin"
ok "V2 BYTES tensor of an encoded PNG reaches the v2 hook; image.decode reads it" \
	'.outputs[0].name == "size" and .outputs[0].data == [480, 640, 3]'

# the CubeAI envelope and ServiceBoot's api/data
req /models/uploads/api/file/info -F "info=@$fx/photo.jpg;type=image/jpeg"
ok "api/file/info: the upload in the field named after the method" '.status == "ok" and .value.width == 640'
raw /models/uploads/api/stream/info "$fx/photo.png" application/octet-stream
ok "api/stream/info: the raw bytes" '.status == "ok" and .value.width == 640'
req /models/uploads/api/data -H 'Content-Type: application/json' \
	--data-binary '{"action": "echo", "args": {"a": 1, "b": [true, null]}}'
ok "api/data {action, args} -> {status: ok, value}" \
	'. == {status: "ok", value: {args: {a: 1, b: [true, null]}, n_files: 0}}'
req /models/uploads/api/data -F action=info -F 'args={"k": 2}' -F "img=@$fx/photo.jpg;type=image/jpeg"
ok "api/data, multipart: the field 'action' names the method, the file is the input" \
	'.status == "ok" and .value.width == 640 and .value.filename == "photo.jpg"'
req /models/uploads/api/data -F action=echo -F 'args={"k": 2}' -F "img=@$fx/photo.jpg"
ok "api/data, multipart: 'args' (JSON text) is req.json, files req.files" \
	'.value == {args: {k: 2}, n_files: 1}'
raw '/models/uploads/api/data?action=info' "$fx/photo.jpg" image/jpeg
ok "api/data, stream: the raw body, the action in the query" '.status == "ok" and .value.width == 640'
req /models/uploads/api/data -H 'Content-Type: application/json' --data-binary '{"action": "nope", "args": {}}'
if [ "$status" = 404 ] && jq -e '.status == "err" and (.value | contains("nope"))' <<<"$body" >/dev/null 2>&1; then
	pass "api/data with an unknown action: 404 {status: err, value: names it}"
else
	fail "api/data with an unknown action: 404 {status: err}" "status $status, body: ${body:0:300}"
fi
req /models/uploads/api/data -H 'Content-Type: application/json' --data-binary '{"method": "echo"}'
bad "api/data with 'method' instead of 'action'" 400 "unknown member 'method'|expected action, args"
raw /models/uploads/api/data "$fx/photo.jpg" image/jpeg
bad "api/data with a raw body and no ?action=" 400 "?action=NAME"

# ------------------------------------------------------------------ bad input
: >"$run/empty"
raw /models/uploads/info "$run/empty" image/jpeg
bad "a zero-byte image/jpeg body" 400 "the request has no input"
req /models/uploads/info -F "upload=@$run/empty;filename=empty.jpg;type=image/jpeg"
bad "a zero-byte file in a multipart upload" 400 "the image is empty (0 bytes)"
raw /models/uploads/info "$fx/truncated.jpg" image/jpeg
bad "a truncated JPEG" 400 "truncated or corrupt JPEG"
raw /models/uploads/info "$fx/corrupt.jpg" image/jpeg
bad "a corrupt JPEG" 400 "image.decode|JPEG"
raw /models/uploads/info "$fx/truncated.png" image/png
bad "a truncated PNG" 400 "truncated or corrupt PNG"
raw /models/uploads/info "$fx/corrupt.png" image/png
bad "a corrupt PNG (flipped IDAT byte)" 400 "truncated or corrupt PNG"
raw /models/uploads/info "$fx/bomb.png" image/png
bad "a PNG bomb ($(size "$fx/bomb.png") bytes claiming 100000x100000)" 413 \
	"100000x100000|limits.max_image_pixels"
raw /models/uploads/info "$fx/exif_big.jpg" image/jpeg
bad "a JPEG with 2.6 MB of EXIF, over limits.max_image_bytes" 413 \
	"$(size "$fx/exif_big.jpg") bytes|limits.max_image_bytes"
raw /models/uploads/info "$fx/anim.gif" image/gif
bad "a GIF where only JPEG and PNG are accepted" 400 "GIF images are not accepted|JPEG or PNG only"
printf 'hello, this is text' >"$run/text"
raw /models/uploads/info "$run/text" text/plain
bad "text that is no image" 400 "not a JPEG or PNG"
json_file "$run/b64.json" image "$fx/photo.jpg"
sed -i 's/"image": "/"image": "@@/' "$run/b64.json"
raw /models/uploads/info "$run/b64.json" application/json
bad "base64 that is not" 400 "not base64|outside the alphabet|offset"
printf '{"data": "QUJDR"}' >"$run/b64.json"
raw /models/uploads/b64 "$run/b64.json" application/json
bad "base64 cut in the middle of a byte" 400 "not base64|middle of a byte"
printf '{"data": "QUJD="}' >"$run/b64.json"
raw /models/uploads/b64 "$run/b64.json" application/json
bad "base64 with wrong padding" 400 "not base64|padding"
printf '{"x": 1}' >"$run/b64.json"
raw /models/uploads/info "$run/b64.json" application/json
bad "JSON without the image field" 400 "no string field 'image'"

printf -- '--real\r\nContent-Disposition: form-data; name="a"; filename="a.jpg"\r\n\r\nxyz\r\n--real--\r\n' >"$run/mp"
raw /models/uploads/files "$run/mp" 'multipart/form-data; boundary=wrong'
bad "multipart with a wrong boundary" 400 "without the boundary 'wrong'"
printf -- '--B\r\nContent-Disposition: form-data; name="a"; filename="a.jpg"\r\n\r\nxyz' >"$run/mp"
raw /models/uploads/files "$run/mp" 'multipart/form-data; boundary=B'
bad "multipart without its closing boundary" 400 "does not end with the boundary|no closing boundary '--B--'"
printf -- '--B\r\nContent-Disposition: form-data; name="a"\r\n\r\nxyz\r\n--B' >"$run/mp"
raw /models/uploads/files "$run/mp" 'multipart/form-data; boundary=B'
bad "multipart ending right after a boundary" 400 "no closing boundary '--B--'"
raw /models/uploads/files "$run/mp" 'multipart/form-data'
bad "multipart without a boundary parameter" 400 "without a usable boundary"
head -c 2200000 /dev/zero | tr '\0' a >"$run/big-field"
req /models/uploads/files -F "note=<$run/big-field"
bad "a form field over limits.max_string_bytes" 413 "field 'note'|2200000 bytes|limits.max_string_bytes"
req /models/uploads/api/data -F action=echo -F 'args=[1,2]'
bad "api/data, multipart: args that are not a JSON object" 400 "'args' must be a JSON object"

if [ "$(cs_pid uploads)" = "$pid_uploads" ] && kill -0 "$pid_uploads" 2>/dev/null; then
	pass "the uploads worker is the process that started (no crash)"
else
	fail "the uploads worker is the process that started (no crash)"
fi

# ------------------------------------------------------------------ mobilenet
if [ "$have_mobilenet" = 1 ]; then
	ref=$mb/ref.json
	# top5ok I: the answer's top5 against PyTorch's softmax of image I: each
	# score is PyTorch's probability of that class, and the five scores are
	# PyTorch's five largest (so ties may order either way), within 1e-4.
	top5ok() {
		jq -e --slurpfile r "$ref" --argjson i "$1" '
			($r[0][$i]) as $w
			| [.top5[].score] as $a | [$w.top5[].score] as $b
			| (.top5 | length) == 5
			  and all(.top5[]; (.score - $w.probs[.index]) | fabs < 1e-4)
			  and ([.top5[] as $t | $w.top5[] | select(.index == $t.index) | .label == $t.label] | all)
			  and ([range(0; 5) | ($a[.] - $b[.]) | fabs] | max) < 1e-4' <<<"$body" >/dev/null 2>&1
	}
	i=0
	for img in photo.jpg cmyk.jpg photo.png gray.jpg; do
		case $img in *.png) t=image/png ;; *) t=image/jpeg ;; esac
		raw /models/mobilenet_image "$fx/$img" "$t"
		if [ "$status" = 200 ] && top5ok "$i"; then
			pass "mobilenet_image, raw $t $img: top-5 = PyTorch's (scores within 1e-4): $(jq -c '[.top5[] | [.label, (.score * 1e4 | round / 1e4)]]' <<<"$body")"
		else
			fail "mobilenet_image, raw $t $img: top-5 = PyTorch's within 1e-4" "status $status, body: ${body:0:400}" \
				"pytorch: $(jq -c --argjson i "$i" '.[$i].top5' "$ref")"
		fi
		i=$((i + 1))
	done
	req /models/mobilenet_image -F "file=@$fx/photo.png;type=image/png"
	if [ "$status" = 200 ] && top5ok 2; then pass "mobilenet_image, multipart upload: top-5 = PyTorch's"
	else fail "mobilenet_image, multipart upload: top-5 = PyTorch's" "status $status, body: ${body:0:300}"; fi
	json_file "$run/b64.json" image "$fx/cmyk.jpg"
	raw /models/mobilenet_image "$run/b64.json" application/json
	if [ "$status" = 200 ] && top5ok 1; then pass "mobilenet_image, base64 JSON: top-5 = PyTorch's"
	else fail "mobilenet_image, base64 JSON: top-5 = PyTorch's" "status $status, body: ${body:0:300}"; fi
	req /models/mobilenet_image/api/file/predict -F "predict=@$fx/gray.jpg;type=image/jpeg"
	body=$(jq -c '.value' <<<"$body" 2>/dev/null || echo null)
	if [ "$status" = 200 ] && top5ok 3; then pass "mobilenet_image, CubeAI api/file/predict: top-5 = PyTorch's"
	else fail "mobilenet_image, api/file/predict: top-5 = PyTorch's" "status $status, body: ${body:0:300}"; fi
	"$PY" - "$fx/photo.jpg" "$run/v2.bin" "$run/v2.len" <<'EOF'
import json, struct, sys
data = open(sys.argv[1], "rb").read()
elem = struct.pack("<I", len(data)) + data
hdr = json.dumps({"inputs": [{"name": "image", "datatype": "BYTES", "shape": [1],
                              "parameters": {"binary_data_size": len(elem)}}]}).encode()
open(sys.argv[2], "wb").write(hdr + elem)
open(sys.argv[3], "w").write(str(len(hdr)))
EOF
	req /v2/models/mobilenet_image/infer -H 'Content-Type: application/octet-stream' \
		-H "Inference-Header-Content-Length: $(cat "$run/v2.len")" --data-binary "@$run/v2.bin"
	if [ "$status" = 200 ] && jq -e --slurpfile r "$ref" '
		.outputs[0].name == "probs" and (.outputs[0].data | length) == 1000
		and ([.outputs[0].data, $r[0][0].probs] | transpose | map(.[0] - .[1] | fabs) | max) < 1e-4' \
		<<<"$body" >/dev/null 2>&1; then
		pass "mobilenet_image, V2 BYTES input: all 1000 probabilities = PyTorch's within 1e-4"
	else
		fail "mobilenet_image, V2 BYTES input: probabilities = PyTorch's" "status $status, body: ${body:0:300}"
	fi
	raw /models/mobilenet_image "$fx/anim.gif" image/gif
	bad "mobilenet_image: a GIF" 400 "GIF images are not accepted"
	raw /models/mobilenet_image "$fx/photo.jpg" image/jpeg
	if [ "$status" = 200 ] && top5ok 0; then pass "mobilenet_image answers correctly after a bad request"
	else fail "mobilenet_image answers correctly after a bad request" "status $status"; fi
else
	skip "mobilenet_image end to end (no onnx plugin or no python3-torchvision)"
fi

# the demo page in headless Chromium, served as `cubeserve` serves it (the
# route template's #@web location, with its Content-Security-Policy)
if [ "$have_mobilenet" = 1 ] && [ -x /usr/bin/chromium ] && command -v node >/dev/null 2>&1 &&
	[ -f "$CS_TOP_SRCDIR/console/node_modules/playwright-core/index.mjs" ]; then
	awk '/^#@web/ {on = 1; next} on && /^#@/ {on = 0} on' "$CS_TOP_SRCDIR/nginx/route.conf.in" |
		sed -e "s|@NAME@|mobilenet_image|g" -e "s|@WEB_DIR@|$CS_TOP_SRCDIR/examples/mobilenet_image/web|g" \
		>>"$CS_RUN/nginx/locations.conf"
	"$CS_NGINX" -p "$CS_RUN/nginx/" -e "$CS_RUN/nginx/logs/error.log" -c "$CS_RUN/nginx/nginx.conf" -s reload
	sleep 1
	raw /models/mobilenet_image "$fx/photo.jpg" image/jpeg
	printf '%s' "$body" >"$run/want.json"
	if timeout 120 node "$here/image_demo_browser.mjs" "$base" "$fx/photo.jpg" "$fx/anim.gif" \
		"$run/want.json" "$((n + 1))" >"$run/browser.out" 2>&1; then :; fi
	grep -E '^(ok|not ok|#)' "$run/browser.out" || true
	res=$(grep -E '^n=[0-9]+ failed=[0-9]+$' "$run/browser.out" || echo "n=$((n + 1)) failed=1")
	bn=${res#n=}
	bn=${bn%% *}
	bf=${res##*failed=}
	if ! grep -qE '^n=' "$run/browser.out"; then
		echo "not ok $bn - the demo page's browser check ran"
		sed 's/^/#   /' "$run/browser.out" | head -n 20
	fi
	failed=$((failed + bf))
	n=$bn
else
	skip "the demo page in headless Chromium (no mobilenet model, chromium, node or console/node_modules)"
fi

# the demo page: plain files, no inline script (the console's CSP forbids it)
web=$CS_TOP_SRCDIR/examples/mobilenet_image/web
if [ -f "$web/index.html" ] && [ -f "$web/app.js" ] &&
	grep -q '<script[^>]*src="app.js"' "$web/index.html" &&
	! grep -Eq '<script>|<script[^>]*>[^<]+</script>| on[a-z]+="' "$web/index.html"; then
	pass "examples/mobilenet_image/web: index.html loads app.js, no inline script or handler"
else
	fail "examples/mobilenet_image/web: index.html + app.js without inline script"
fi

cs_stack_stop
no_sanitizer_reports "no sanitizer reports in the worker logs" "$CS_RUN"/logs/*.log
tap_done
