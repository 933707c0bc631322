-- wrk script for B3: cycle through pre-signed requests read from a file.
-- Usage: wrk -t1 -c8 -d10s --latency -s cycle.lua URL -- REQUESTS_FILE
-- File format, one request per line, tab-separated: path, "Name: value" headers..., body.
-- done() prints machine-readable lines starting with "BENCH " for bench/loadgen.
local reqs = {}
local count = 0
local index = 0
sent = 0
wrapped = 0
statuses = {}

function init(args)
  local f = assert(io.open(args[1], "rb"))
  for line in f:lines() do
    local fields = {}
    for value in string.gmatch(line, "[^\t]+") do
      fields[#fields + 1] = value
    end
    local headers = {}
    for k = 2, #fields - 1 do
      local name, value = string.match(fields[k], "^([^:]+): (.*)$")
      headers[name] = value
    end
    count = count + 1
    reqs[count] = wrk.format("POST", fields[1], headers, fields[#fields])
  end
  f:close()
end

function request()
  index = index + 1
  if index > count then
    index = 1
    wrapped = wrapped + 1
  end
  sent = sent + 1
  return reqs[index]
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

local threads = {}

function setup(thread)
  threads[#threads + 1] = thread
end

function done(summary, latency, requests)
  local total_sent, total_wrapped = 0, 0
  local merged = {}
  for _, thread in ipairs(threads) do
    total_sent = total_sent + thread:get("sent")
    total_wrapped = total_wrapped + thread:get("wrapped")
    for status, n in pairs(thread:get("statuses")) do
      merged[status] = (merged[status] or 0) + n
    end
  end
  io.write(string.format("BENCH duration_us %d\n", summary.duration))
  io.write(string.format("BENCH requests %d\n", summary.requests))
  io.write(string.format("BENCH sent %d\n", total_sent))
  io.write(string.format("BENCH wrapped %d\n", total_wrapped))
  local e = summary.errors
  io.write(string.format("BENCH errors %d %d %d %d %d\n", e.connect, e.read, e.write, e.status, e.timeout))
  for _, p in ipairs({50, 90, 99, 99.9}) do
    io.write(string.format("BENCH p%s %d\n", tostring(p), latency:percentile(p)))
  end
  io.write(string.format("BENCH mean_us %f\n", latency.mean))
  for status, n in pairs(merged) do
    io.write(string.format("BENCH status %d %d\n", status, n))
  end
end
