-- wrk script of bench/http_harness.py's saturate_wrk: replays a file of prepared requests, one per
-- line, "METHOD<tab>PATH<tab>JSON body (or nothing)"; line i goes to thread i mod <threads>, so
-- every request is sent once. Past the end of its share a thread starts over: those repeats
-- answer with another status and count as errors (prepare enough lines for the phase).
-- Arguments after `--`: file, API key, Host header, threads, the status that counts as success.
local threads = {}
function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end
function init(args)
  local file, key, host, count = args[1], args[2], args[3], tonumber(args[4])
  ok = tonumber(args[5])
  local headers = {["Host"] = host, ["Authorization"] = "Api-Key " .. key, ["Content-Type"] = "application/json"}
  prepared = {}
  local i = 0
  for line in io.lines(file) do
    if i % count == id then
      local method, path, body = line:match("^(%S+)\t(%S+)\t(.*)$")
      if body == "" then body = nil end
      table.insert(prepared, wrk.format(method, path, headers, body))
    end
    i = i + 1
  end
  sent = 0; errors = 0
end
function request()
  sent = sent + 1
  return prepared[((sent - 1) % #prepared) + 1]
end
function response(status, headers, body)
  if status ~= ok then errors = errors + 1 end
end
function done(summary, latency, requests)
  local e = 0
  for _, t in ipairs(threads) do e = e + t:get("errors") end
  io.write(string.format("wrk: %d requests, %.1f req/s, non-ok %d, socket errors %d, p50 %.1f ms, p99 %.1f ms\n",
    summary.requests, summary.requests / (summary.duration / 1e6), e,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
