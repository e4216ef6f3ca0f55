-- Mixed load: each request is "hello" (GET /) or, with probability SLOW_FRACTION, "slow"
-- (GET SLOW_PATH). wrk's own latency figures mix both kinds and cannot be split, so each request
-- carries an `X-Id` header the server echoes back; request() notes when it was sent, response()
-- looks up that time and files the latency under its kind. done() prints per-kind percentiles.
--   wrk ... -s mixed.lua URL -- SLOW_FRACTION SLOW_PATH
local ffi = require("ffi")
ffi.cdef[[
  typedef struct { long tv_sec; long tv_nsec; } bench_timespec_t;
  int clock_gettime(int clk_id, bench_timespec_t *tp);
]]
local ts = ffi.new("bench_timespec_t")
local function now_us()
  ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) * 1000000 + tonumber(ts.tv_nsec) / 1000
end

local threads = {}
function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

local slow_fraction, slow_path
local counter = 0
local sent = {}
local kind_of = {}
lat_hello = {}
lat_slow = {}
bad = 0
unmatched = 0

function init(args)
  slow_fraction = tonumber(args[1]) or 0.05
  slow_path = args[2] or "/cpu/50"
  math.randomseed((tid or 1) * 7919 + os.time())
end

function request()
  counter = counter + 1
  local id = tostring(counter)
  local path, kind = "/", "h"
  if math.random() < slow_fraction then
    path, kind = slow_path, "s"
  end
  sent[id] = now_us()
  kind_of[id] = kind
  return wrk.format("GET", path, { ["X-Id"] = id })
end

function response(status, headers, body)
  local id = headers["X-Id"] or headers["x-id"]
  local t0 = id and sent[id]
  if not t0 then
    unmatched = unmatched + 1
    return
  end
  local dt = now_us() - t0
  if status ~= 200 then bad = bad + 1 end
  if kind_of[id] == "s" then
    lat_slow[#lat_slow + 1] = dt
  else
    lat_hello[#lat_hello + 1] = dt
  end
  sent[id] = nil
  kind_of[id] = nil
end

local function stats(list)
  local n = #list
  if n == 0 then return '{"n":0}' end
  table.sort(list)
  local function pct(p)
    local i = math.ceil(p / 100 * n)
    if i < 1 then i = 1 end
    return list[i]
  end
  local sum = 0
  for i = 1, n do sum = sum + list[i] end
  return string.format('{"n":%d,"mean":%.1f,"p50":%.1f,"p90":%.1f,"p99":%.1f,"max":%.1f}',
    n, sum / n, pct(50), pct(90), pct(99), list[n])
end

function done(summary, latency, requests)
  local hello, slow = {}, {}
  local nbad, nunmatched = 0, 0
  for _, thread in ipairs(threads) do
    for _, v in ipairs(thread:get("lat_hello")) do hello[#hello + 1] = v end
    for _, v in ipairs(thread:get("lat_slow")) do slow[#slow + 1] = v end
    nbad = nbad + thread:get("bad")
    nunmatched = nunmatched + thread:get("unmatched")
  end
  local e = summary.errors
  io.write(string.format(
    '@@BENCH@@{"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"min":%d,"mean":%.1f,"max":%d,"stdev":%.1f,"p50":%d,"p90":%d,"p99":%d},' ..
    '"kinds":{"hello":%s,"slow":%s},"bad_status":%d,"unmatched":%d}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.mean, latency.max, latency.stdev,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    stats(hello), stats(slow), nbad, nunmatched))
end
