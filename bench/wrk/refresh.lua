-- Refresh-token rotation under wrk: every request spends one refresh token and its answer
-- carries the next. A used token is never sent twice (that would end its grant, S44), so
-- each thread gets its own share of the chains and each answer's new token goes back into
-- that thread's pool, to be spent by whichever of its connections asks next.
--
--   wrk -t THREADS -s refresh.lua URL -- "Basic CREDENTIALS" THREADS TOKEN1 TOKEN2 ...
-- with at least as many tokens as connections, split evenly across the threads.

local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

local tokens = {}
local auth

function init(args)
  auth = args[1]
  local per_thread = math.floor((#args - 2) / tonumber(args[2]))
  for i = 1, per_thread do
    tokens[#tokens + 1] = args[2 + id * per_thread + i]
  end
end

function request()
  -- Never empty: a connection asks again only after its answer refilled the pool.
  local token = table.remove(tokens) or "exhausted"
  return wrk.format("POST", "/oauth2/token", {
    ["Authorization"] = auth,
    ["Content-Type"] = "application/x-www-form-urlencoded",
  }, "grant_type=refresh_token&refresh_token=" .. token)
end

function response(status, headers, body)
  local token = body:match('"refresh_token"%s*:%s*"([^"]+)"')
  if token then
    tokens[#tokens + 1] = token
  end
end
