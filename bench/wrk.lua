-- wrk script for the GraphQL workloads: each line of the file named after
-- `--` is `token<TAB>json body`; threads walk the lines from different
-- starting points. A response that is not 200, or that carries GraphQL
-- errors, counts as an error. Prints one RESULT line of JSON at the end.
-- A token `-` sends no Authorization header (logins). Environment:
-- WRK_THINK_MS, a pause in ms before each request of a connection (a paced
-- load instead of as fast as the server answers); WRK_SPREAD_ADDRESSES=1, a
-- random X-Forwarded-For address per request (callers from many offices,
-- for a server run with --behind-tls-proxy).
local lines = {}
local i = 0
errors = 0
local threads = {}
local think = tonumber(os.getenv("WRK_THINK_MS") or "")
local spread = os.getenv("WRK_SPREAD_ADDRESSES") == "1"

-- wrk looks for `delay` once, in the script's main state, so it is defined here.
if think then
  function delay()
    return think
  end
end

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  for line in io.lines(args[1]) do
    local tab = line:find("\t", 1, true)
    table.insert(lines, { line:sub(1, tab - 1), line:sub(tab + 1) })
  end
  math.randomseed(os.time() + #threads * 7919 + tonumber(tostring({}):match("0x(%x+)") or "0", 16) % 1000)
  i = math.random(#lines)
end

function request()
  i = i % #lines + 1
  local l = lines[i]
  local headers = { ["Content-Type"] = "application/json" }
  if l[1] ~= "-" then
    headers["Authorization"] = "Bearer " .. l[1]
  end
  if spread then
    headers["X-Forwarded-For"] = string.format("10.%d.%d.%d", math.random(0, 255), math.random(0, 255), math.random(1, 254))
  end
  return wrk.format("POST", "/graphql", headers, l[2])
end

function response(status, headers, body)
  if status ~= 200 or body:find('"errors"', 1, true) then
    errors = errors + 1
  end
end

function done(summary, latency, requests)
  local e = 0
  for _, t in ipairs(threads) do
    e = e + t:get("errors")
  end
  local s = summary.errors
  io.write(string.format(
    'RESULT {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "errors": %d, "socket_errors": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), e,
    s.connect + s.read + s.write + s.timeout))
end
