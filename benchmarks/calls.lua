-- wrk script for every benchmark case (files written by benchmarks/calls.py). Thread n reads
-- BENCH_CALLS.<n> (one call a line: "METHOD PATH<TAB>BODY") and, if BENCH_TOKENS is set, BENCH_TOKENS.<n>
-- (one client JWT a line): request i carries token i and call i mod #calls, and the thread stops when its
-- tokens are used, so that no token is sent twice (the result then says so: the run had too few tokens).
-- A body holding ROTATING (benchmarks/calls.py) has it replaced, in every request, by a patient id of that
-- request alone (BENCH_RUN, the thread and the request's number): no call inherits another's card log or snoozes.
-- Prints one JSON line of results.
local ROTATING = "bench-rotating-patient"
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

local function lines(path)
  local result = {}
  local file = assert(io.open(path, "rb"))
  for line in file:lines() do
    if #line > 0 then table.insert(result, line) end
  end
  file:close()
  return result
end

local function format(call, token)
  local headers = {}
  local body = call.body
  if call.head then body = call.head .. run .. "-" .. id .. "-" .. sent .. call.tail end
  if #body > 0 then headers["Content-Type"] = "application/json" end
  if token then headers["Authorization"] = "Bearer " .. token end
  return wrk.format(call.method, call.path, headers, #body > 0 and body or nil)
end

function init(args)
  calls, prebuilt = {}, {}
  for _, line in ipairs(lines(os.getenv("BENCH_CALLS") .. "." .. id)) do
    local method, path, body = line:match("^(%S+) (%S+)\t(.*)$")
    local first, last = body:find(ROTATING, 1, true)
    local call = {method = method, path = path, body = body}
    if first then call.head, call.tail = body:sub(1, first - 1), body:sub(last + 1) end
    table.insert(calls, call)
  end
  run = os.getenv("BENCH_RUN") or "run"
  local tokens_prefix = os.getenv("BENCH_TOKENS")
  tokens = tokens_prefix and lines(tokens_prefix .. "." .. id) or nil
  if not tokens then
    for i, call in ipairs(calls) do
      if not call.head then prebuilt[i] = format(call, nil) end
    end
  end
  sent, exhausted = 0, 0
end

function request()
  if tokens and sent >= #tokens then
    exhausted = 1
    wrk.thread:stop()
    return wrk.format("GET", "/healthz")
  end
  sent = sent + 1
  local index = (sent - 1) % #calls + 1
  if tokens then return format(calls[index], tokens[sent]) end
  return prebuilt[index] or format(calls[index], nil)
end

function done(summary, latency, requests)
  local exhausted = 0
  for _, thread in ipairs(threads) do exhausted = exhausted + thread:get("exhausted") end
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.status
    + summary.errors.timeout
  io.write(string.format(
    'RESULT {"requests": %d, "seconds": %.3f, "errors": %d, "status_errors": %d, "p50_ms": %.2f, "p95_ms": %.2f, "p99_ms": %.2f, "out_of_tokens": %d}\n',
    summary.requests, summary.duration / 1e6, errors, summary.errors.status, latency:percentile(50) / 1000,
    latency:percentile(95) / 1000, latency:percentile(99) / 1000, exhausted))
end
