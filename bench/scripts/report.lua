-- Plain load (static request, wrk's fast path): only done() is scripted, to print wrk's
-- figures as one JSON line the harness can read without scraping wrk's text.
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '@@BENCH@@{"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"min":%d,"mean":%.1f,"max":%d,"stdev":%.1f,"p50":%d,"p90":%d,"p99":%d}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.mean, latency.max, latency.stdev,
    latency:percentile(50), latency:percentile(90), latency:percentile(99)))
end
