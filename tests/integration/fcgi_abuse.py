#!/usr/bin/python3
"""fcgi_abuse.py - raw FastCGI abuse straight to a worker's socket:
truncated records, wrong versions, unknown types and roles, oversize and
absurd params, a second BEGIN_REQUEST on one connection, aborts, garbage,
a client that stops reading a large response, a connection flood. After
each, the worker must still be the same process and answer a good request
on a fresh connection. Prints TAP lines (no plan).

Usage: fcgi_abuse.py SOCKET WORKER_PID MODEL START_NUMBER
"""
import json
import os
import socket
import struct
import sys
import time

SOCK, PID, MODEL, N = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
failed = 0
BEGIN, ABORT, END, PARAMS, STDIN, STDOUT, STDERR, GET_VALUES = 1, 2, 3, 4, 5, 6, 7, 9


def tap(ok, desc, diag=""):
    global N, failed
    N += 1
    print(("ok %d - %s" if ok else "not ok %d - %s") % (N, desc))
    if not ok:
        failed += 1
        for line in str(diag).splitlines()[:6]:
            print("#   " + line[:300])
    sys.stdout.flush()


def rec(rtype, content=b"", req=1, version=1, pad=0):
    return struct.pack(">BBHHBB", version, rtype, req, len(content), pad, 0) + content + b"\0" * pad


def nv(name, value):
    out = b""
    for s in (name, value):
        out += struct.pack("B", len(s)) if len(s) < 128 else struct.pack(">I", len(s) | 0x80000000)
    return out + name + value


def params(d):
    return b"".join(nv(k.encode(), v.encode()) for k, v in d.items())


def stream(rtype, data, req=1):
    out = b""
    for i in range(0, len(data), 65535):
        out += rec(rtype, data[i:i + 65535], req)
    return out + rec(rtype, b"", req)


def conn(timeout=10):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(SOCK)
    return s


def request_bytes(method, uri, body=b"", extra=None, req=1, keep=0):
    p = {"REQUEST_METHOD": method, "DOCUMENT_URI": uri, "REQUEST_URI": uri,
         "CONTENT_TYPE": "application/json", "CONTENT_LENGTH": str(len(body))}
    p.update(extra or {})
    return (rec(BEGIN, struct.pack(">HB5x", 1, keep), req) + stream(PARAMS, params(p), req)
            + stream(STDIN, body, req))


def read_response(s):
    """Reads records until END_REQUEST; returns (stdout, ended)."""
    buf, out = b"", b""
    while True:
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            return out, False
        if not chunk:
            return out, False
        buf += chunk
        while len(buf) >= 8:
            v, t, r, clen, plen, _ = struct.unpack(">BBHHBB", buf[:8])
            if len(buf) < 8 + clen + plen:
                break
            if t == STDOUT:
                out += buf[8:8 + clen]
            buf = buf[8 + clen + plen:]
            if t == END:
                return out, True


def status_of(out):
    head = out.split(b"\r\n\r\n", 1)[0].decode(errors="replace")
    for line in head.split("\r\n"):
        if line.lower().startswith("status:"):
            return int(line.split()[1])
    return None


GOOD = json.dumps({"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32",
                               "data": [5.1, 3.5, 1.4, 0.2]}]}).encode()


def good_request():
    s = conn()
    try:
        s.sendall(request_bytes("POST", "/v2/models/%s/infer" % MODEL, GOOD))
        out, ended = read_response(s)
        return ended and status_of(out) == 200 and b'"outputs"' in out
    except OSError:
        return False
    finally:
        s.close()


def alive():
    try:
        os.kill(PID, 0)
    except OSError:
        return False
    return True


def check(desc, fn):
    try:
        note = fn()
    except OSError as e:  # the worker closing on us is an acceptable answer
        note = "connection: %s" % e
    ok = alive() and good_request()
    tap(ok, "%s: the worker lives on and answers%s" % (desc, " (%s)" % note if note else ""),
        "alive %s" % alive())


def send_close(data, wait=0.2):
    s = conn()
    s.sendall(data)
    time.sleep(wait)
    try:
        s.shutdown(socket.SHUT_WR)
        s.recv(65536)
    except OSError:
        pass
    s.close()


# the baseline: a good request
tap(good_request(), "a well-formed FastCGI request to %s answers 200" % SOCK)

check("truncated record header", lambda: send_close(b"\x01\x01\x00"))
check("record body shorter than its header says",
      lambda: send_close(struct.pack(">BBHHBB", 1, BEGIN, 1, 100, 0, 0) + b"\0" * 10))
check("params cut in the middle", lambda: send_close(
    rec(BEGIN, struct.pack(">HB5x", 1, 0)) + rec(PARAMS, params({"REQUEST_METHOD": "GET"}))[:12]))
check("FastCGI version 2", lambda: send_close(request_bytes("GET", "/health").replace(b"\x01\x01", b"\x02\x01", 1)))
check("version 0 in every record", lambda: send_close(bytes(
    b if i % 1 else b for i, b in enumerate(request_bytes("GET", "/health"))).replace(b"\x01\x04", b"\x00\x04")))
check("unknown record type 42", lambda: send_close(rec(42, b"abcd") + request_bytes("GET", "/health")))
check("management record GET_VALUES", lambda: send_close(rec(GET_VALUES, nv(b"FCGI_MAX_CONNS", b""), req=0)))
check("role AUTHORIZER", lambda: send_close(rec(BEGIN, struct.pack(">HB5x", 2, 0)) + stream(PARAMS, b"")))
check("role 0xffff", lambda: send_close(rec(BEGIN, struct.pack(">HB5x", 0xffff, 1)) + stream(PARAMS, b"")))
check("request id 0 for BEGIN_REQUEST", lambda: send_close(request_bytes("GET", "/health", req=0)))
check("param name length 0x7fffffff", lambda: send_close(
    rec(BEGIN, struct.pack(">HB5x", 1, 0)) + rec(PARAMS, struct.pack(">IB", 0xffffffff, 1) + b"ab") + stream(PARAMS, b"")))
check("1 MiB param value", lambda: send_close(request_bytes(
    "GET", "/health", extra={"HTTP_X_BIG": "v" * (1 << 20)}), wait=0.5))


def many_headers():
    s = conn()
    s.sendall(request_bytes("GET", "/health", extra={"HTTP_X_%d" % i: "v" for i in range(5000)}))
    out, ended = read_response(s)
    s.close()
    if status_of(out) != 431:
        raise OSError("status %s, not 431" % status_of(out))
    return "431"


check("5000 header params (over limits.max_headers)", many_headers)


def second_begin():
    s = conn()
    body = GOOD
    first = rec(BEGIN, struct.pack(">HB5x", 1, 1), 1) + stream(PARAMS, params({
        "REQUEST_METHOD": "POST", "DOCUMENT_URI": "/v2/models/%s/infer" % MODEL,
        "CONTENT_TYPE": "application/json", "CONTENT_LENGTH": str(len(body))}), 1)
    s.sendall(first + rec(STDIN, body[:10], 1))
    s.sendall(request_bytes("GET", "/health", req=2))
    s.sendall(rec(STDIN, body[10:], 1) + rec(STDIN, b"", 1))
    out, ended = read_response(s)
    s.close()
    return "first request status %s" % status_of(out)


check("a second BEGIN_REQUEST on one connection mid-request", second_begin)
check("ABORT_REQUEST in the middle of stdin", lambda: send_close(
    rec(BEGIN, struct.pack(">HB5x", 1, 0)) + stream(PARAMS, params({
        "REQUEST_METHOD": "POST", "DOCUMENT_URI": "/models/%s" % MODEL, "CONTENT_LENGTH": "100"}))
    + rec(STDIN, b"x" * 10) + rec(ABORT)))


def short_stdin():
    s = conn()
    s.sendall(rec(BEGIN, struct.pack(">HB5x", 1, 0)) + stream(PARAMS, params({
        "REQUEST_METHOD": "POST", "DOCUMENT_URI": "/v2/models/%s/infer" % MODEL,
        "CONTENT_TYPE": "application/json", "CONTENT_LENGTH": "1000"})) + stream(STDIN, GOOD))
    out, ended = read_response(s)
    s.close()
    if status_of(out) != 400:
        raise OSError("status %s, not 400" % status_of(out))
    return "400"


check("stdin ends before CONTENT_LENGTH", short_stdin)
check("stdin longer than CONTENT_LENGTH", lambda: send_close(
    request_bytes("POST", "/v2/models/%s/infer" % MODEL, GOOD).replace(
        ("CONTENT_LENGTH").encode() + bytes([len(str(len(GOOD)))]), b"CONTENT_LENGTH\x01", 1)))
check("CONTENT_LENGTH not a number", lambda: send_close(request_bytes(
    "POST", "/v2/models/%s/infer" % MODEL, GOOD, extra={"CONTENT_LENGTH": "12abc"})))
check("CONTENT_LENGTH 2^64", lambda: send_close(request_bytes(
    "POST", "/v2/models/%s/infer" % MODEL, GOOD, extra={"CONTENT_LENGTH": "18446744073709551616"})))
check("4 KiB of random bytes", lambda: send_close(os.urandom(4096)))
check("padding of 255 bytes on every record", lambda: send_close(
    rec(BEGIN, struct.pack(">HB5x", 1, 0), pad=255) + rec(PARAMS, params({"REQUEST_METHOD": "GET", "DOCUMENT_URI": "/health"}), pad=255)
    + rec(PARAMS, b"", pad=255) + rec(STDIN, b"", pad=255)))


def flood():
    socks = [conn() for _ in range(300)]
    for s in socks:
        s.close()
    return "300 connections opened and closed"


check("a flood of idle connections", flood)


def stop_reading():
    """A client asks for a large response and never reads it: the worker
    blocks in write at most the request time limit, then gives up."""
    n = 4000000
    hdr = json.dumps({"inputs": [{"name": "big", "shape": [n], "datatype": "UINT8",
                                  "parameters": {"binary_data_size": n}}],
                      "parameters": {"binary_data_output": True}}).encode()
    body = hdr + b"\x07" * n
    s = conn(timeout=30)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.sendall(request_bytes("POST", "/v2/models/%s/infer" % MODEL, body,
                            extra={"CONTENT_TYPE": "application/octet-stream",
                                   "HTTP_INFERENCE_HEADER_CONTENT_LENGTH": str(len(hdr))}))
    t0 = time.time()
    ok = good_request()  # waits while the worker is stuck writing
    waited = time.time() - t0
    s.close()
    if not ok:
        raise OSError("a good request after it failed")
    return "the next client waited %.1f s" % waited


check("a client that stops reading a 4 MB response", stop_reading)
print("# fcgi_abuse: %d failed" % failed)
