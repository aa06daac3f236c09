#!/usr/bin/python3
"""v2_client.py - a small Open Inference Protocol client written from the
spec (kserve inference_rest.md, Triton extension_binary_data.md), used by
test_v2.sh: calls every V2 endpoint, JSON and binary, the CubeAI envelope
and /metrics of a running stack, and prints TAP lines (no plan: the shell
driver prints it). Standard library only.

Usage: v2_client.py BASE_URL SAMPLES_JSON START_NUMBER
"""
import http.client
import json
import math
import struct
import sys
import urllib.parse

BASE = sys.argv[1]
SAMPLES = json.load(open(sys.argv[2]))
N = int(sys.argv[3])
FAILED = 0
_url = urllib.parse.urlparse(BASE)
_conn = None


def tap(ok, desc, diag=""):
    global N, FAILED
    N += 1
    print(("ok %d - %s" if ok else "not ok %d - %s") % (N, desc))
    if not ok:
        FAILED += 1
        for line in str(diag).splitlines()[:8]:
            print("#   " + line[:300])
    sys.stdout.flush()


def request(method, path, body=None, headers=None):
    """One request on a kept-alive connection: (status, headers, bytes)."""
    global _conn
    for attempt in range(2):
        if _conn is None:
            _conn = http.client.HTTPConnection(_url.hostname, _url.port, timeout=20)
        try:
            _conn.request(method, path, body=body, headers=headers or {})
            r = _conn.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        except (http.client.HTTPException, OSError):
            _conn.close()
            _conn = None
            if attempt:
                raise


def get_json(path):
    st, h, b = request("GET", path)
    try:
        return st, json.loads(b)
    except ValueError:
        return st, b


def infer(model, doc, binary=None, path=None):
    """POST a V2 request: JSON, or JSON + binary blobs (a list of bytes)."""
    hdr = json.dumps(doc).encode()
    headers = {"Content-Type": "application/json"}
    body = hdr
    if binary is not None:
        body = hdr + b"".join(binary)
        headers = {"Content-Type": "application/octet-stream",
                   "Inference-Header-Content-Length": str(len(hdr))}
    st, h, b = request("POST", path or "/v2/models/%s/infer" % model, body, headers)
    if "inference-header-content-length" in h:
        n = int(h["inference-header-content-length"])
        return st, h, json.loads(b[:n]), b[n:]
    try:
        return st, h, json.loads(b), b""
    except ValueError:
        return st, h, b, b""


def close(a, b, tol=1e-4):
    return len(a) == len(b) and all(abs(x - y) <= tol for x, y in zip(a, b))


def flat(v):
    if isinstance(v, list):
        out = []
        for e in v:
            out.extend(flat(e))
        return out
    return [v]


def is_error(st, doc, want):
    return st == want and isinstance(doc, dict) and isinstance(doc.get("error"), str)


# ------------------------------------------------------------ server-level
st, d = get_json("/v2")
tap(st == 200 and d.get("name") == "cubeserve" and isinstance(d.get("version"), str)
    and "binary_tensor_data" in d.get("extensions", []),
    "GET /v2: server metadata with name, version, extensions", d)
st, d = get_json("/v2/health/live")
tap(st == 200 and d.get("live") is True, "GET /v2/health/live: live", d)
st, d = get_json("/v2/health/ready")
tap(st == 200 and d.get("ready") is True, "GET /v2/health/ready: ready", d)

# ------------------------------------------------------------ model metadata
for path in ("/v2/models/linear", "/v2/models/linear/versions/1.0.0"):
    st, d = get_json(path)
    tap(st == 200 and d.get("name") == "linear" and d.get("versions") == ["1.0.0"]
        and isinstance(d.get("platform"), str)
        and d.get("inputs") == [{"name": "x", "datatype": "FP32", "shape": [-1, 4]}]
        and sorted(o["name"] for o in d.get("outputs", [])) == ["logits", "probs"],
        "GET %s: name, versions, platform, inputs, outputs" % path, d)
st, d = get_json("/v2/models/linear/versions/9.9.9")
tap(is_error(st, d, 404) and "9.9.9" in d["error"], "unknown version: 404 naming it", d)
st, d = get_json("/v2/models/linear/ready")
tap(st == 200 and d == {"name": "linear", "ready": True}, "GET /v2/models/linear/ready", d)
st, d = get_json("/v2/models/linear/versions/1.0.0/ready")
tap(st == 200 and d.get("ready") is True, "GET .../versions/1.0.0/ready", d)
st, d = get_json("/v2/models/nosuch")
tap(is_error(st, d, 404), "metadata of an unknown model: 404 JSON error", d)

# ------------------------------------------------------------ inference, JSON
rows = SAMPLES["inputs"]
probs = SAMPLES["probs"]
doc = {"id": "req-42", "inputs": [{"name": "x", "shape": [len(rows), 4],
                                   "datatype": "FP32", "data": rows}]}
st, h, d, _ = infer("linear", doc)
ok = st == 200 and d.get("id") == "req-42" and d.get("model_name") == "linear"
if ok:
    out = {o["name"]: o for o in d["outputs"]}
    ok = (out["probs"]["shape"] == [len(rows), 3] and out["probs"]["datatype"] == "FP32"
          and close(out["probs"]["data"], flat(probs)))
tap(ok, "infer, nested data, %d rows: id echoed, probs match sklearn (1e-4)" % len(rows),
    str(d)[:400])
doc["inputs"][0]["data"] = flat(rows)
doc["outputs"] = [{"name": "probs"}]
st, h, d, _ = infer("linear", doc, path="/v2/models/linear/versions/1.0.0/infer")
tap(st == 200 and [o["name"] for o in d.get("outputs", [])] == ["probs"]
    and close(d["outputs"][0]["data"], flat(probs)),
    "infer, flat data, versioned path, outputs selects probs only", str(d)[:400])
doc["outputs"] = [{"name": "nosuch"}]
st, h, d, _ = infer("linear", doc)
tap(is_error(st, d, 400) and "nosuch" in d["error"], "unknown requested output: 400", d)
st, h, d, _ = infer("linear", {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "INT64",
                                           "data": [1, 2, 3, 4]}]})
tap(is_error(st, d, 400) and "FP32" in d["error"] and "INT64" in d["error"],
    "wrong datatype for the model: 400 naming both", d)
st, h, d, _ = infer("linear", {"inputs": [{"name": "x", "shape": [1, 5], "datatype": "FP32",
                                           "data": [1, 2, 3, 4, 5]}]})
tap(is_error(st, d, 400) and "[-1,4]" in d["error"], "wrong shape for the model: 400", d)

# ------------------------------------------------------------ binary data
x = rows[3]
st, h, d, blob = infer("linear", {
    "inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32",
                "parameters": {"binary_data_size": 16}}],
    "outputs": [{"name": "probs", "parameters": {"binary_data": True}},
                {"name": "logits"}]}, binary=[struct.pack("<4f", *x)])
ok = st == 200 and h.get("content-type", "").startswith("application/octet-stream")
if ok:
    o = {e["name"]: e for e in d["outputs"]}
    ok = (o["probs"]["parameters"]["binary_data_size"] == 12 and "data" not in o["probs"]
          and len(blob) == 12 and close(struct.unpack("<3f", blob), probs[3])
          and len(o["logits"]["data"]) == 3)
tap(ok, "binary input, binary output (probs) + JSON output (logits), Inference-Header-Content-Length",
    "%s %s %r" % (st, h, d))
st, h, d, blob = infer("linear", {
    "parameters": {"binary_data_output": True},
    "inputs": [{"name": "x", "shape": [2, 4], "datatype": "FP32", "data": rows[:2]}]})
ok = st == 200 and all("binary_data_size" in o.get("parameters", {}) for o in d.get("outputs", []))
if ok:
    sizes = [o["parameters"]["binary_data_size"] for o in d["outputs"]]
    names = [o["name"] for o in d["outputs"]]
    off = sum(sizes[:names.index("probs")])
    ok = len(blob) == sum(sizes) and close(struct.unpack("<6f", blob[off:off + 24]), flat(probs[:2]))
tap(ok, "JSON input, binary_data_output: every output binary, in order", str(d)[:300])
st, h, d, _ = infer("linear", {
    "inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32",
                "parameters": {"binary_data_size": 16}}]}, binary=[b"\0" * 12])
tap(is_error(st, d, 400) and "binary" in d["error"], "binary_data_size over the bytes sent: 400", d)

# ------------------------------------------------------------ every datatype
CASES = [
    ("BOOL", [True, False, True], "<3?"),
    ("UINT8", [0, 7, 255], "<3B"),
    ("UINT16", [0, 1, 65535], "<3H"),
    ("UINT32", [0, 1, 4294967295], "<3I"),
    ("UINT64", [0, 1, 18446744073709551615], "<3Q"),
    ("INT8", [-128, 0, 127], "<3b"),
    ("INT16", [-32768, 0, 32767], "<3h"),
    ("INT32", [-2147483648, 0, 2147483647], "<3i"),
    ("INT64", [-9223372036854775808, 0, 9223372036854775807], "<3q"),
    ("FP16", [0.5, -2.0, 65504.0], "<3e"),
    ("FP32", [1.5, -0.25, 3.4028234663852886e38], "<3f"),
    ("FP64", [0.1, -1e-300, 1.7976931348623157e308], "<3d"),
]
inputs = [{"name": "t_" + dt.lower(), "shape": [3], "datatype": dt, "data": vals}
          for dt, vals, _ in CASES]
strings = ["plain", "ünïcödé ✓ \"quoted\" \\ slash", ""]
inputs.append({"name": "t_bytes", "shape": [3, 1], "datatype": "BYTES",
               "data": [[s] for s in strings]})
st, h, d, _ = infer("echo", {"id": "types", "inputs": inputs})
if st != 200:
    tap(False, "echo: every datatype as JSON", "%s %r" % (st, d))
else:
    got = {o["name"]: o for o in d["outputs"]}
    for dt, vals, _ in CASES:
        o = got.get("t_%s_out" % dt.lower(), {})
        data = o.get("data")
        if dt.startswith("FP"):
            ok = data is not None and all(math.isclose(a, b, rel_tol=1e-6) for a, b in zip(data, vals))
        else:
            ok = data == vals
        tap(ok and o.get("datatype") == dt and o.get("shape") == [3],
            "echo %s as JSON: values, datatype and shape round-trip" % dt, o)
    o = got.get("t_bytes_out", {})
    tap(o.get("data") == strings and o.get("shape") == [3, 1] and o.get("datatype") == "BYTES",
        "echo BYTES as JSON: strings with escapes and non-ASCII round-trip", o)

blobs, inputs = [], []
for dt, vals, fmt in CASES:
    b = struct.pack(fmt, *vals)
    blobs.append(b)
    inputs.append({"name": "b_" + dt.lower(), "shape": [3], "datatype": dt,
                   "parameters": {"binary_data_size": len(b)}})
raw = [b"\x00\xff\xfe not utf-8", b"", b"\x00"]
bb = b"".join(struct.pack("<I", len(s)) + s for s in raw)
blobs.append(bb)
inputs.append({"name": "b_bytes", "shape": [3], "datatype": "BYTES",
               "parameters": {"binary_data_size": len(bb)}})
st, h, d, blob = infer("echo", {"inputs": inputs, "parameters": {"binary_data_output": True}},
                       binary=blobs)
if st != 200:
    tap(False, "echo: every datatype as binary data", "%s %r" % (st, d))
else:
    off, got = 0, {}
    for o in d["outputs"]:
        n = o["parameters"]["binary_data_size"]
        got[o["name"]] = blob[off:off + n]
        off += n
    ok = off == len(blob)
    for (dt, vals, fmt), b in zip(CASES, blobs):
        ok = ok and got.get("b_%s_out" % dt.lower()) == b
    ok = ok and got.get("b_bytes_out") == bb
    tap(ok, "echo: all 13 datatypes as binary data in and out, byte for byte", str(d)[:300])
st, h, d, _ = infer("echo", {"inputs": [{"name": "s", "shape": [1], "datatype": "BYTES",
                                         "parameters": {"binary_data_size": 6}}]},
                    binary=[struct.pack("<I", 2) + b"\xff\xfe"])
tap(is_error(st, d, 400) and "binary_data" in d["error"],
    "BYTES that are not UTF-8 requested as JSON: 400 pointing to binary_data", d)

st, h, d, _ = infer("echo", {"parameters": {"tag": "t-1"}, "inputs": [
    {"name": "x", "shape": [1, 4], "datatype": "FP32", "data": rows[0]}]})
tap(st == 200 and d.get("parameters") == {"tag": "t-1"}
    and close(next(o for o in d["outputs"] if o["name"] == "probs")["data"], probs[0]),
    "v2 hook: parameters passed through, response parameters, model:infer inside", str(d)[:300])
st, h, d, _ = infer("echo", {"parameters": {"fail": True}, "inputs": [
    {"name": "x", "shape": [1, 4], "datatype": "FP32", "data": rows[0]}]})
tap(is_error(st, d, 400) and "fail" in d["error"], "v2 hook raising cs.error(400): 400", d)

# a 1 M-element request through nginx and back (JSON in, binary out)
big = {"inputs": [{"name": "big", "shape": [1000, 1000], "datatype": "FP32",
                   "data": [float(i % 1000) / 8 for i in range(1000000)]}],
       "outputs": [{"name": "big_out", "parameters": {"binary_data": True}}]}
st, h, d, blob = infer("echo", big)
tap(st == 200 and len(blob) == 4000000 and struct.unpack_from("<f", blob, 4 * 999)[0] == 999 / 8,
    "1 M-element FP32 JSON request decoded and echoed (binary out)", "%s %r" % (st, d))

# ------------------------------------------------------------ the envelope
def api(path, body, ctype="application/json"):
    st, h, b = request("POST", path, body if isinstance(body, bytes) else json.dumps(body).encode(),
                       {"Content-Type": ctype})
    try:
        return st, h, json.loads(b)
    except ValueError:
        return st, h, b


st, h, d = api("/models/echo/api/model", {"method": "predict", "kwargs": {"x": rows[5]}})
tap(st == 200 and d.get("status") == "ok" and d["value"]["label"] == SAMPLES["labels"][5]
    and close(d["value"]["y"], probs[5]),
    "api/model: {method, kwargs} -> {status: ok, value}", d)
st, h, d = api("/models/echo/api/model", {"method": "echo", "kwargs": {"a": [1, 2], "b": "c"}})
tap(st == 200 and d == {"status": "ok", "value": {"kwargs": {"a": [1, 2], "b": "c"}}},
    "api/model: kwargs arrive as req.json", d)
st, h, d = api("/models/echo/api/model", {"method": "nosuch", "kwargs": {}})
tap(st == 404 and d.get("status") == "err" and "nosuch" in d.get("value", ""),
    "api/model unknown method: 404 {status: err, value}", d)
st, h, d = api("/models/echo/api/model", {"method": "boom"})
tap(st == 500 and d.get("status") == "err" and "boom" in d.get("value", "")
    and d.get("error") == d.get("value"), "api/model failing method: 500 {status: err}", d)
st, h, d = api("/models/echo/api/model", {"method": "predict", "kwargs": {"x": [1]}})
tap(st == 400 and d.get("status") == "err", "api/model bad kwargs: 400 {status: err}", d)
st, h, d = api("/models/echo/api/stream/shout", b"hello bytes", "application/octet-stream")
tap(st == 200 and d == b"HELLO BYTES" and h.get("content-type") == "text/x-shout",
    "api/stream: raw body in, a string answer goes out raw with its content type", (st, h, d))
st, h, d = api("/models/echo/api/stream/describe", b"\x00\x01\x02abc", "application/octet-stream")
tap(st == 200 and d.get("status") == "ok" and d["value"]["bytes"] == 6,
    "api/stream: a table answer is wrapped {status: ok, value}", d)
boundary = "----cubeserve-test-7f3a"
payload = bytes(range(256)) * 4
form = (("--%s\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nignored\r\n"
         "--%s\r\nContent-Disposition: form-data; name=\"describe\"; filename=\"img.bin\"\r\n"
         "Content-Type: image/x-test\r\n\r\n" % (boundary, boundary)).encode()
        + payload + ("\r\n--%s--\r\n" % boundary).encode())
st, h, d = api("/models/echo/api/file/describe", form, "multipart/form-data; boundary=" + boundary)
tap(st == 200 and d.get("status") == "ok" and d["value"]["bytes"] == 1024
    and d["value"]["filename"] == "img.bin" and d["value"]["name"] == "describe"
    and d["value"]["content_type"] == "image/x-test",
    "api/file: the multipart field named after the method reaches it as req.file/req.body", d)
st, h, d = api("/models/echo/api/file/describe", b"plain", "text/plain")
tap(st == 415 and d.get("status") == "err", "api/file without multipart: 415 {status: err}", d)

print("# v2_client: %d failed" % FAILED)
sys.exit(0)
