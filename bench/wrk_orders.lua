-- wrk script of bench/api_orders_http.py: every request posts a new single order (the same
-- orders as the Python client's: 80 % carry a member's unionid and earn points).
-- Arguments after `--`: run id, members, API key, Host header.
local threads = {}
function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end
function init(args)
  run = args[1]; members = tonumber(args[2]); key = args[3]; host = args[4]
  counter = 0; errors = 0
end
function request()
  counter = counter + 1
  local n = counter * 64 + id  -- unique across up to 64 threads
  local amount = 1000 + n % 50000
  local buyer = ""
  if n % 5 ~= 0 then buyer = string.format(',"buyer":{"kind":"wechat_unionid","value":"bench-%d"}', n % members) end
  local body = string.format('{"channel":"mini_program","order_no":"W%s-%d","paid_at":"2026-01-05T10:00:00+08:00","amount_fen":%d,"lines":[{"sku":"SKU-%d","amount_fen":%d}]%s}', run, n, amount, n % 40, amount, buyer)
  return wrk.format("POST", "/api/v1/orders", {["Host"] = host, ["Authorization"] = "Api-Key " .. key, ["Content-Type"] = "application/json"}, body)
end
function response(status, headers, body)
  if status ~= 201 and status ~= 200 then errors = errors + 1 end
end
function done(summary, latency, requests)
  local e = 0
  for _, t in ipairs(threads) do e = e + t:get("errors") end
  io.write(string.format("wrk: %d requests, %.1f req/s, non-2xx %d, socket errors %d, p50 %.1f ms, p99 %.1f ms\n",
    summary.requests, summary.requests / (summary.duration / 1e6), e,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
