#!/usr/bin/python3
"""invalid_client.py - sends every case of tests/data/invalid/ (see
tests/data/gen_invalid.py for the format) and checks the status and the
JSON error body; every 20 cases and at the end, checks that the workers
still answer good requests correctly. Prints TAP lines (no plan).

Usage: invalid_client.py BASE_URL CORPUS_DIR START_NUMBER
"""
import http.client
import json
import os
import sys
import urllib.parse

url = urllib.parse.urlparse(sys.argv[1])
corpus = sys.argv[2]
n = int(sys.argv[3])
failed = 0


def tap(ok, desc, diag=""):
    global n, failed
    n += 1
    print(("ok %d - %s" if ok else "not ok %d - %s") % (n, desc))
    if not ok:
        failed += 1
        for line in str(diag).splitlines()[:6]:
            print("#   " + line[:300])
    sys.stdout.flush()


def send(method, path, body, headers):
    c = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    try:
        c.putrequest(method, path, skip_accept_encoding=True)
        names = set()
        for k, v in headers:
            c.putheader(k, v)
            names.add(k.lower())
        if method in ("POST", "PUT", "PATCH") or body:
            c.putheader("Content-Length", str(len(body)))
        c.endheaders()
        if body:
            c.send(body)
        r = c.getresponse()
        return r.status, r.read()
    except (OSError, http.client.HTTPException) as e:
        return "error: %s" % e, b""
    finally:
        c.close()


def load(path):
    raw = open(path, "rb").read()
    head, _, body = raw.partition(b"# ----\n")
    meta = {"header": []}
    for line in head.decode().splitlines():
        if line.startswith("# ") and ": " in line:
            k, v = line[2:].split(": ", 1)
            if k == "header":
                meta["header"].append(tuple(v.split(": ", 1)))
            else:
                meta[k] = v
        elif line.startswith("# "):
            meta["desc"] = line[2:]
    fill = int(meta.get("body-fill", 0))
    if fill > len(body):
        body += b" " * (fill - len(body))
    for i in range(int(meta.get("header-count", 0))):
        meta["header"].append(("X-Filler-%d" % i, "v"))
    return meta, body


GOOD_V2 = json.dumps({"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32",
                                  "data": [5.1, 3.5, 1.4, 0.2]}]}).encode()


def alive(after):
    st, b = send("POST", "/models/linear", b'{"x": [5.1, 3.5, 1.4, 0.2]}',
                 [("Content-Type", "application/json")])
    ok = st == 200 and json.loads(b).get("species") == "setosa"
    st2, b2 = send("POST", "/v2/models/linear/infer", GOOD_V2, [("Content-Type", "application/json")])
    ok = ok and st2 == 200 and len(json.loads(b2)["outputs"]) == 2
    st3, b3 = send("POST", "/v2/models/echo/infer", GOOD_V2, [("Content-Type", "application/json")])
    ok = ok and st3 == 200
    st4, b4 = send("POST", "/models/bad/ok", b'{"x": [5.1, 3.5, 1.4, 0.2]}',
                   [("Content-Type", "application/json")])
    ok = ok and st4 == 200
    tap(ok, "after %s: linear (glue and V2), echo and bad still answer correctly" % after,
        "%s %s | %s %s | %s %s | %s %s" % (st, b[:100], st2, b2[:100], st3, b3[:100], st4, b4[:100]))


files = sorted(f for f in os.listdir(corpus) if f.endswith(".req"))
for i, f in enumerate(files, 1):
    meta, body = load(os.path.join(corpus, f))
    want = int(meta["expect"])
    st, b = send(meta["method"], meta["path"], body, meta["header"])
    try:
        doc = json.loads(b)
        has_error = isinstance(doc, dict) and isinstance(doc.get("error"), str) and doc["error"]
    except ValueError:
        has_error = False
    tap(st == want and has_error, "%s: %s -> %d with a JSON error" % (f[:-4], meta.get("desc", ""), want),
        "got %s: %s" % (st, b[:300]))
    if i % 20 == 0:
        alive("%d bad requests" % i)
alive("all %d bad requests" % len(files))
print("# invalid_client: %d cases, %d failed" % (len(files), failed))
