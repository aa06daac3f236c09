-- post.lua - wrk script for bench/http.sh: POSTs the JSON body in the
-- environment variable CS_BENCH_BODY and prints one line the bench parses.
wrk.method = "POST"
wrk.body = os.getenv("CS_BENCH_BODY") or "{}"
wrk.headers["Content-Type"] = "application/json"

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "CSBENCH rps=%.1f p50_us=%d p99_us=%d max_us=%d requests=%d non2xx=%d timeouts=%d sockerr=%d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(99), latency.max,
    summary.requests, e.status, e.timeout, e.connect + e.read + e.write))
end
