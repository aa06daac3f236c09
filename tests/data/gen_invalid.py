#!/usr/bin/python3
"""gen_invalid.py - writes the invalid-request corpus tests/data/invalid/.

Each case is one file NNN-slug.req: header lines, then the body.

    # what the case is
    # expect: 400
    # method: POST
    # path: /v2/models/linear/infer
    # header: Content-Type: application/json      (any number)
    # header-count: 50                            (add 50 X-Filler-N headers)
    # body-fill: 70000                            (pad the body to N bytes)
    # ----
    <body bytes, exactly, to the end of the file>

The files are the corpus; this script is how they were made (rerun it after
changing a case: it rewrites the folder). tests/integration/test_invalid.sh
sends every case through nginx to the workers of test_invalid.sh's stack:
linear (examples/linear), bad (tests/data/models/bad) and echo
(tests/data/models/echo: lower limits, a V2 hook that echoes).
"""
import json
import os
import struct
import sys

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "invalid")
CASES = []
JSON = ["Content-Type: application/json"]


def case(slug, desc, expect, method, path, body=b"", headers=None, fill=0, count=0):
    if isinstance(body, str):
        body = body.encode()
    CASES.append((slug, desc, expect, method, path, body,
                  JSON if headers is None else headers, fill, count))


V2 = "/v2/models/linear/infer"
ECHO = "/v2/models/echo/infer"


def inp(**kw):
    d = {"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}
    d.update(kw)
    return {k: v for k, v in d.items() if v is not None}


def req(*inputs, **top):
    d = {"inputs": list(inputs) or [inp()]}
    d.update(top)
    return json.dumps(d)


# ------------------------------------------------------------ V2: JSON syntax
good = req()
for i, cut in enumerate([1, 5, 12, 20, 30, 45, 60, len(good) - 1]):
    case("v2-truncated-%d" % i, "V2 body cut after %d bytes" % cut, 400, "POST", V2, good[:cut])
syntax = {
    "trailing-comma-array": good.replace("[1, 2, 3, 4]", "[1, 2, 3, 4,]"),
    "trailing-comma-object": good[:-1] + ",}",
    "single-quotes": good.replace('"', "'"),
    "unquoted-key": good.replace('"inputs"', "inputs"),
    "nan-literal": good.replace("[1, 2, 3, 4]", "[NaN, 2, 3, 4]"),
    "infinity-literal": good.replace("[1, 2, 3, 4]", "[Infinity, 2, 3, 4]"),
    "minus-infinity": good.replace("[1, 2, 3, 4]", "[-Infinity, 2, 3, 4]"),
    "leading-zero": good.replace("[1, 2, 3, 4]", "[01, 2, 3, 4]"),
    "plus-sign": good.replace("[1, 2, 3, 4]", "[+1, 2, 3, 4]"),
    "bare-dot": good.replace("[1, 2, 3, 4]", "[.5, 2, 3, 4]"),
    "dot-no-digits": good.replace("[1, 2, 3, 4]", "[1., 2, 3, 4]"),
    "exponent-no-digits": good.replace("[1, 2, 3, 4]", "[1e, 2, 3, 4]"),
    "hex-number": good.replace("[1, 2, 3, 4]", "[0x1, 2, 3, 4]"),
    "comment": "/* c */" + good,
    "two-documents": good + good,
    "trailing-garbage": good + " x",
    "control-char-in-string": good.replace('"x"', '"x\x01"'),
    "bad-escape": good.replace('"x"', '"\\q"'),
    "lone-surrogate": good.replace('"x"', '"\\ud800"'),
    "short-unicode-escape": good.replace('"x"', '"\\u12"'),
    "true-typo": req(inp(datatype="BOOL", shape=[1], data=["tru"])).replace('"tru"', "tru"),
    "empty-body": "",
    "whitespace-body": "   \n ",
    "json-null": "null",
    "json-array": "[]",
    "json-string": '"inputs"',
}
for slug, body in syntax.items():
    case("v2-syntax-" + slug, "V2: %s" % slug.replace("-", " "), 400, "POST", V2, body)
case("v2-invalid-utf8-name", "V2: invalid UTF-8 in a name", 400, "POST", V2,
     good.encode().replace(b'"x"', b'"x\xff"'))
case("v2-invalid-utf8-id", "V2: invalid UTF-8 in the id", 400, "POST", V2,
     req(id="ID").encode().replace(b'"ID"', b'"\xc3\x28"'))
case("v2-overlong-utf8", "V2: overlong UTF-8 encoding", 400, "POST", V2,
     req(id="ID").encode().replace(b'"ID"', b'"\xc0\xaf"'))
case("v2-utf8-surrogate", "V2: UTF-8 encoded surrogate", 400, "POST", V2,
     req(id="ID").encode().replace(b'"ID"', b'"\xed\xa0\x80"'))

# ------------------------------------------------------------ V2: structure
structure = {
    "inputs-object": json.dumps({"inputs": {"x": [1, 2, 3, 4]}}),
    "inputs-missing": json.dumps({"id": "1"}),
    "inputs-empty": json.dumps({"inputs": []}),
    "inputs-null": json.dumps({"inputs": None}),
    "input-not-object": json.dumps({"inputs": [[1, 2, 3, 4]]}),
    "input-empty-object": json.dumps({"inputs": [{}]}),
    "name-missing": req(inp(name=None)),
    "name-number": req(inp(name=7)),
    "name-empty": req(inp(name="")),
    "shape-missing": req(inp(shape=None)),
    "shape-string": req(inp(shape="1,4")),
    "shape-float": req(inp(shape=[1.0, 4])),
    "shape-negative": req(inp(shape=[-1, 4])),
    "shape-huge-dim": req(inp(shape=[1, 18446744073709551616])),
    "shape-nine-dims": req(inp(shape=[1] * 9, data=[1])),
    "shape-null-dim": req(inp(shape=[None, 4])),
    "datatype-missing": req(inp(datatype=None)),
    "datatype-number": req(inp(datatype=11)),
    "datatype-unknown": req(inp(datatype="FP33")),
    "datatype-lowercase": req(inp(datatype="fp32")),
    "datatype-bf16": req(inp(datatype="BF16")),
    "data-missing": req(inp(data=None)),
    "data-object": req(inp(data={"a": 1})),
    "data-string": req(inp(data="1,2,3,4")),
    "data-null": req(inp(data=None)).replace('"datatype": "FP32"', '"datatype": "FP32", "data": null'),
    "data-number": req(inp(data=5)),
    "unknown-input-member": req(inp(dtype="FP32")),
    "unknown-top-member": req(input=[]),
    "id-number": req(id=42),
    "parameters-array": req(parameters=[1]),
    "parameters-string": req(parameters="binary"),
    "binary-data-output-string": req(parameters={"binary_data_output": "yes"}),
    "outputs-object": req(outputs={"name": "probs"}),
    "output-not-object": req(outputs=["probs"]),
    "output-name-missing": req(outputs=[{"parameters": {}}]),
    "output-unknown": req(outputs=[{"name": "nosuch"}]),
    "output-twice": req(outputs=[{"name": "probs"}, {"name": "probs"}]),
    "output-binary-data-number": req(outputs=[{"name": "probs", "parameters": {"binary_data": 1}}]),
    "output-unknown-member": req(outputs=[{"name": "probs", "binary": True}]),
    "input-twice": req(inp(), inp()),
    "too-many-inputs": json.dumps({"inputs": [inp(name="i%d" % i) for i in range(65)]}),
    "dup-key-top": '{"inputs": [], "inputs": [%s]}' % json.dumps(inp()),
    "dup-key-input": '{"inputs": [{"name": "x", "name": "y", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]}',
    "dup-key-parameters": '{"parameters": {"a": 1, "a": 2}, "inputs": [%s]}' % json.dumps(inp()),
}
for slug, body in structure.items():
    case("v2-" + slug, "V2: %s" % slug.replace("-", " "), 400, "POST", V2, body)

# ------------------------------------------------------------ V2: data vs shape
data_cases = {
    "data-too-few": inp(data=[1, 2, 3]),
    "data-too-many": inp(data=[1, 2, 3, 4, 5]),
    "data-empty": inp(data=[]),
    "nested-wrong-inner": inp(shape=[2, 2], data=[[1, 2, 3], [4]]),
    "nested-too-deep": inp(data=[[[1, 2, 3, 4]]]),
    "nested-ragged": inp(shape=[2, 2], data=[[1, 2], 3, 4]),
    "nested-mixed": inp(shape=[2, 2], data=[1, 2, [3, 4]]),
    "string-in-fp32": inp(data=[1, "2", 3, 4]),
    "null-in-fp32": inp(data=[1, None, 3, 4]),
    "bool-in-fp32": inp(data=[1, True, 3, 4]),
    "object-in-data": inp(data=[1, {}, 3, 4]),
    "fp32-overflow": inp(data=[1e39, 2, 3, 4]),
    "fp64-overflow": inp(datatype="FP64", data=[1e309, 2, 3, 4]),
    "fp16-overflow": inp(datatype="FP16", shape=[1], data=[70000]),
    "uint8-overflow": inp(datatype="UINT8", shape=[1], data=[256]),
    "uint8-negative": inp(datatype="UINT8", shape=[1], data=[-1]),
    "int8-underflow": inp(datatype="INT8", shape=[1], data=[-129]),
    "int32-overflow": inp(datatype="INT32", shape=[1], data=[2147483648]),
    "int64-overflow": inp(datatype="INT64", shape=[1], data=[9223372036854775808]),
    "uint64-overflow": inp(datatype="UINT64", shape=[1], data=[18446744073709551616]),
    "int-fraction": inp(datatype="INT32", shape=[1], data=[1.5]),
    "bool-as-number": inp(datatype="BOOL", shape=[1], data=[1]),
    "bool-as-string": inp(datatype="BOOL", shape=[1], data=["true"]),
    "bytes-as-number": inp(datatype="BYTES", shape=[1], data=[1]),
    "huge-exponent": inp(data=[1e999999, 2, 3, 4]),
    "long-number": inp(data=[1, 2, 3, 4]),
}
for slug, i in data_cases.items():
    body = req(i) if slug != "long-number" else req(i).replace("[1, 2, 3, 4]", "[1" + "0" * 600 + ", 2, 3, 4]")
    case("v2-" + slug, "V2: %s" % slug.replace("-", " "), 400, "POST", V2, body)

# ------------------------------------------------------------ V2: against the model
model_cases = {
    "model-wrong-dtype": inp(datatype="INT64"),
    "model-wrong-shape": inp(shape=[1, 5], data=[1, 2, 3, 4, 5]),
    "model-wrong-rank": inp(shape=[4], data=[1, 2, 3, 4]),
    "model-unknown-input": inp(name="y"),
    "model-bytes-input": inp(datatype="BYTES", shape=[1], data=["abc"]),
}
for slug, i in model_cases.items():
    case("v2-" + slug, "V2: %s" % slug.replace("-", " "), 400, "POST", V2, req(i))
case("v2-model-missing-input", "V2: a required input is missing", 400, "POST", V2,
     req(inp(name="y")).replace('"y"', '"z"'))

# ------------------------------------------------------------ V2: binary data
hdr_ok = json.dumps({"inputs": [inp(data=None, parameters={"binary_data_size": 16})]})


def binary(slug, desc, expect, header_json, blob, hlen=None, path=V2, ctype="application/octet-stream"):
    hb = header_json.encode()
    hv = str(len(hb)) if hlen is None else hlen
    case("v2-binary-" + slug, "V2 binary: " + desc, expect, "POST", path, hb + blob,
         ["Content-Type: " + ctype, "Inference-Header-Content-Length: " + hv])


f4 = struct.pack("<4f", 1, 2, 3, 4)
binary("short", "fewer bytes than binary_data_size", 400, hdr_ok, f4[:12])
binary("long", "more bytes than binary_data_size", 400, hdr_ok, f4 + b"\0")
binary("header-too-long", "header length past the body", 400, hdr_ok, f4, str(len(hdr_ok) + 100))
binary("header-not-number", "header length not a number", 400, hdr_ok, f4, "sixteen")
binary("header-negative", "negative header length", 400, hdr_ok, f4, "-5")
binary("header-cuts-json", "header length cuts the JSON", 400, hdr_ok, f4, str(len(hdr_ok) - 3))
binary("size-negative", "negative binary_data_size", 400,
       json.dumps({"inputs": [inp(data=None, parameters={"binary_data_size": -16})]}), f4)
binary("size-string", "binary_data_size a string", 400,
       json.dumps({"inputs": [inp(data=None, parameters={"binary_data_size": "16"})]}), f4)
binary("size-vs-shape", "binary_data_size not numel * size", 400,
       json.dumps({"inputs": [inp(data=None, parameters={"binary_data_size": 12})]}), f4[:12])
binary("data-and-size", "both data and binary_data_size", 400,
       json.dumps({"inputs": [inp(parameters={"binary_data_size": 16})]}), f4)
binary("no-data-no-size", "binary header, input without data or size", 400,
       json.dumps({"inputs": [inp(data=None)]}), f4)
binary("bytes-framing", "BYTES length prefix past the data", 400,
       json.dumps({"inputs": [{"name": "s", "shape": [1], "datatype": "BYTES",
                               "parameters": {"binary_data_size": 8}}]}),
       struct.pack("<I", 100) + b"abcd", path=ECHO)
binary("bytes-count", "BYTES data holds 1 element, shape says 2", 400,
       json.dumps({"inputs": [{"name": "s", "shape": [2], "datatype": "BYTES",
                               "parameters": {"binary_data_size": 7}}]}),
       struct.pack("<I", 3) + b"abc", path=ECHO)
case("v2-binary-without-header", "V2: binary_data_size without Inference-Header-Content-Length",
     400, "POST", V2, hdr_ok.encode() + f4)
binary("wrong-ctype", "binary body sent as text/plain", 415, hdr_ok, f4, ctype="text/plain")

# ------------------------------------------------------------ content types
for slug, ct in [("text-plain", "text/plain"), ("form", "application/x-www-form-urlencoded"),
                 ("multipart", "multipart/form-data; boundary=x"), ("xml", "application/xml")]:
    case("v2-ctype-" + slug, "V2 infer with Content-Type " + ct, 415, "POST", V2, good,
         ["Content-Type: " + ct])
case("api-model-ctype", "api/model with text/plain", 415, "POST", "/models/echo/api/model",
     '{"method": "echo"}', ["Content-Type: text/plain"])
case("api-file-ctype-json", "api/file with application/json", 415, "POST",
     "/models/echo/api/file/describe", '{"a": 1}')

# ------------------------------------------------------------ limits
deep = "[" * 40 + "]" * 40
case("limit-depth-v2-parameters", "V2: parameters nested past max_json_depth (32)", 400, "POST", ECHO,
     json.dumps({"inputs": [inp()], "parameters": {"a": 0}}).replace('"a": 0', '"a": ' + deep))
case("limit-depth-glue", "glue route: a body nested 70 deep (default max_json_depth 64)", 400,
     "POST", "/models/linear", '{"x": ' + "[" * 70 + "]" * 70 + "}")
case("limit-depth-envelope", "api/model: kwargs nested past max_json_depth", 400, "POST",
     "/models/echo/api/model", '{"method": "echo", "kwargs": {"a": ' + deep + "}}")
case("limit-string-v2", "V2: a BYTES string over max_string_bytes (65536)", 413, "POST", ECHO,
     req({"name": "s", "shape": [1], "datatype": "BYTES", "data": ["a" * 70000]}))
case("limit-string-id", "V2: an id over max_string_bytes", 413, "POST", ECHO, req(id="i" * 70000))
case("limit-string-glue", "glue route: a string over max_string_bytes", 413, "POST",
     "/models/echo/api/model", json.dumps({"method": "echo", "kwargs": {"s": "a" * 70000}}))
case("limit-elements", "V2: shape over max_tensor_elements (2000000)", 413, "POST", ECHO,
     req({"name": "big", "shape": [2000, 2000], "datatype": "UINT8", "data": []}))
binary("limit-elements", "shape over max_tensor_elements (checked before the data)", 413,
       json.dumps({"inputs": [{"name": "big", "shape": [3000000], "datatype": "UINT8",
                               "parameters": {"binary_data_size": 3000000}}]}), b"", path=ECHO)
case("limit-body-worker", "body over linear's max_body_bytes (65536): the worker's 413", 413,
     "POST", V2, good, fill=70000)
case("limit-body-worker-glue", "glue route body over bad's max_body_bytes (4096)", 413,
     "POST", "/models/bad/ok", '{"x": [1, 2, 3, 4]}', fill=5000)
case("limit-body-nginx", "body over nginx client_max_body_size (16m)", 413, "POST", ECHO,
     good, fill=17 * 1024 * 1024)
case("limit-headers", "more headers than echo's max_headers (40)", 431, "POST", ECHO, good,
     count=50)
case("limit-tensor-bytes-total", "V2: all inputs over max_tensor_bytes", 413, "POST", ECHO,
     json.dumps({"inputs": [{"name": "a%d" % i, "shape": [1000, 1000, 300], "datatype": "FP32", "data": []}
                            for i in range(2)]}))

# ------------------------------------------------------------ HTTP: routes and methods
for slug, method, path, expect in [
    ("unknown-path", "GET", "/nowhere", 404),
    ("unknown-v2-path", "GET", "/v2/nowhere", 404),
    ("unknown-model-v2", "POST", "/v2/models/nosuch/infer", 404),
    ("unknown-model", "POST", "/models/nosuch", 404),
    ("unknown-version", "POST", "/v2/models/linear/versions/9.9/infer", 404),
    ("unknown-version-meta", "GET", "/v2/models/linear/versions/0.0.0", 404),
    ("version-bad-chars", "GET", "/v2/models/linear/versions/1.0%20x/ready", 404),
    ("v2-extra-segment", "POST", "/v2/models/linear/infer/more", 404),
    ("v2-versions-no-version", "GET", "/v2/models/linear/versions", 404),
    ("unknown-method", "POST", "/models/linear/nosuch", 404),
    ("non-public-method", "POST", "/models/bad/secret", 404),
    ("method-with-dot", "POST", "/models/linear/pre.dict", 404),
    ("method-too-deep", "POST", "/models/linear/a/b", 404),
    ("api-unknown-kind", "POST", "/models/echo/api/bogus", 404),
    ("api-stream-unknown-method", "POST", "/models/echo/api/stream/nosuch", 404),
    ("api-file-bad-method-name", "POST", "/models/echo/api/file/a.b", 404),
    ("get-infer", "GET", V2, 405),
    ("put-infer", "PUT", V2, 405),
    ("delete-infer", "DELETE", V2, 405),
    ("patch-infer", "PATCH", V2, 405),
    ("post-v2-live", "POST", "/v2/health/live", 405),
    ("post-v2-ready", "POST", "/v2/health/ready", 405),
    ("post-v2-server", "POST", "/v2", 405),
    ("post-model-meta", "POST", "/v2/models/linear", 405),
    ("post-model-ready", "POST", "/v2/models/linear/ready", 405),
    ("post-metrics", "POST", "/metrics/linear", 405),
    ("put-model", "PUT", "/models/linear", 405),
    ("get-method", "GET", "/models/linear/predict", 405),
    ("get-api-model", "GET", "/models/echo/api/model", 405),
    ("delete-health", "DELETE", "/health/linear", 405),
]:
    case("http-" + slug, "%s %s" % (method, path), expect, method, path,
         good if method in ("POST", "PUT", "PATCH") else "")

# ------------------------------------------------------------ the envelope
API = "/models/echo/api/model"
for slug, body, expect in [
    ("truncated", '{"method": "echo", "kwa', 400),
    ("not-json", "method=echo", 400),
    ("array", '["echo"]', 400),
    ("empty", "", 400),
    ("method-missing", '{"kwargs": {}}', 400),
    ("method-number", '{"method": 1}', 400),
    ("method-empty", '{"method": ""}', 400),
    ("kwargs-array", '{"method": "echo", "kwargs": [1]}', 400),
    ("kwargs-string", '{"method": "echo", "kwargs": "x"}', 400),
    ("extra-member", '{"method": "echo", "kwargs": {}, "args": []}', 400),
    ("dup-method", '{"method": "echo", "method": "boom"}', 400),
    ("unknown-method", '{"method": "nosuch"}', 404),
    ("init-method", '{"method": "init"}', 404),
    ("v2-hook-method", '{"method": "v2"}', 404),
    ("private-method", '{"method": "_private"}', 404),
    ("bad-method-name", '{"method": "../etc"}', 404),
    ("kwargs-bad-for-method", '{"method": "predict", "kwargs": {"x": [1, 2]}}', 400),
    ("method-fails", '{"method": "boom"}', 500),
    ("invalid-utf8", b'{"method": "echo", "kwargs": {"s": "\xff"}}', 400),
]:
    case("api-model-" + slug, "api/model: " + slug.replace("-", " "), expect, "POST", API, body)
FILE = "/models/echo/api/file/describe"
for slug, ct, body in [
    ("no-boundary", "multipart/form-data", "--x\r\n\r\n"),
    ("empty-boundary", "multipart/form-data; boundary=", "--\r\n"),
    ("missing-field", "multipart/form-data; boundary=B",
     '--B\r\nContent-Disposition: form-data; name="other"\r\n\r\nv\r\n--B--\r\n'),
    ("truncated", "multipart/form-data; boundary=B",
     '--B\r\nContent-Disposition: form-data; name="describe"\r\n\r\nabc'),
    ("no-disposition", "multipart/form-data; boundary=B", "--B\r\nContent-Type: text/plain\r\n\r\nv\r\n--B--\r\n"),
    ("not-form-data", "multipart/form-data; boundary=B",
     '--B\r\nContent-Disposition: attachment; name="describe"\r\n\r\nv\r\n--B--\r\n'),
    ("no-boundary-in-body", "multipart/form-data; boundary=B", "just some bytes"),
    ("empty-body", "multipart/form-data; boundary=B", ""),
]:
    case("api-file-" + slug, "api/file: " + slug.replace("-", " "), 400, "POST", FILE, body,
         ["Content-Type: " + ct])

# ------------------------------------------------------------ glue routes
LIN = "/models/linear"
for slug, body, expect in [
    ("malformed", '{"x": [1, 2,', 400),
    ("not-json", "x=1&y=2", 400),
    ("missing-x", '{"y": [1, 2, 3, 4]}', 400),
    ("x-string", '{"x": "1,2,3,4"}', 400),
    ("x-short", '{"x": [1, 2, 3]}', 400),
    ("x-has-string", '{"x": [1, 2, "three", 4]}', 400),
    ("x-null", '{"x": null}', 400),
    ("dup-key", '{"x": [1, 2, 3, 4], "x": [4, 3, 2, 1]}', 400),
    ("invalid-utf8", b'{"x": [1, 2, 3, 4], "s": "\xfe"}', 400),
    ("nan", '{"x": [NaN, 2, 3, 4]}', 400),
    ("empty", "", 400),
    ("trailing", '{"x": [1, 2, 3, 4]} {}', 400),
]:
    case("glue-linear-" + slug, "POST /models/linear: " + slug.replace("-", " "), expect, "POST", LIN, body)
for slug, method, expect in [("boom", "boom", 500), ("spin", "spin", 500), ("hog", "hog", 500),
                             ("dtype", "dtype", 400), ("shape", "shape", 400)]:
    case("glue-bad-" + slug, "POST /models/bad/%s: the glue fails" % method, expect, "POST",
         "/models/bad/" + method, "{}")


def main():
    if len(CASES) < 150:
        sys.exit("only %d cases" % len(CASES))
    slugs = [c[0] for c in CASES]
    assert len(slugs) == len(set(slugs)), "duplicate slugs"
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        if f.endswith(".req"):
            os.unlink(os.path.join(OUT, f))
    for i, (slug, desc, expect, method, path, body, headers, fill, count) in enumerate(CASES, 1):
        lines = ["# " + desc, "# expect: %d" % expect, "# method: " + method, "# path: " + path]
        lines += ["# header: " + h for h in headers]
        if fill:
            lines.append("# body-fill: %d" % fill)
        if count:
            lines.append("# header-count: %d" % count)
        lines.append("# ----")
        with open(os.path.join(OUT, "%03d-%s.req" % (i, slug)), "wb") as f:
            f.write(("\n".join(lines) + "\n").encode() + body)
    print("%d cases written to %s" % (len(CASES), OUT))


main()
