-- wrk script for the GraphQL workloads: each line of the file named after
-- `--` is `token<TAB>json body`; threads walk the lines from different
-- starting points. A response that is not 200, or that carries GraphQL
-- errors, counts as an error. Prints one RESULT line of JSON at the end.
local lines = {}
local i = 0
errors = 0
local threads = {}

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
  return wrk.format("POST", "/graphql",
    { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. l[1] }, l[2])
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
