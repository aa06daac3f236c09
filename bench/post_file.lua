-- post_file.lua - wrk script for bench/image.sh: POSTs the file named by
-- CS_BENCH_FILE with Content-Type CS_BENCH_TYPE and prints one line the
-- bench parses.
local f = assert(io.open(os.getenv("CS_BENCH_FILE"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = os.getenv("CS_BENCH_TYPE") or "application/octet-stream"

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "CSBENCH rps=%.1f p50_us=%d p99_us=%d max_us=%d requests=%d non2xx=%d timeouts=%d sockerr=%d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(99), latency.max,
    summary.requests, e.status, e.timeout, e.connect + e.read + e.write))
end
