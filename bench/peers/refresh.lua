-- wrk driver for token refresh (bench/peers). Every refresh rotates the refresh token and a
-- reused one ends its grant, so no token may be sent twice. wrk's Lua API does not say which
-- connection a request or an answer belongs to, so each thread keeps a pool holding one
-- live token per connection, each from its own grant (PEERS_SEEDS: one refresh token per
-- line, PEERS_PER_THREAD lines per thread, one more than the thread's connections: wrk calls
-- request() once in its first thread to check the script and never sends that request): a
-- request takes a token out of the pool, and its answer puts the rotated token back. A grant therefore never has two requests in flight and
-- never sees a token twice, exactly as if each connection kept its own. An answer without a
-- new refresh token loses that grant (counted in "lost", with the answers to starved
-- requests); a request that then finds the pool empty is counted in "starved" and sent to a
-- path that does not exist, never as a refresh. Any lost or starved request is reported.
-- done() prints one line "PEERS {json}" for run.py; only answered refreshes count as done.
local path = os.getenv("PEERS_PATH")
local authorization = os.getenv("PEERS_AUTHORIZATION")
local seeds = os.getenv("PEERS_SEEDS")
local per_thread = tonumber(os.getenv("PEERS_PER_THREAD"))
local headers = {
   ["Authorization"] = authorization,
   ["Content-Type"] = "application/x-www-form-urlencoded",
}


-- The first answer that was not right, kept to be shown in the report.
local function keep_first(status, body)
   if first_wrong == nil then
      first_wrong = tostring(status) .. " " .. string.sub(body or "", 1, 200)
   end
end

local function json_string(s)
   return '"' .. string.gsub(s or "", '[%c"\\]', function(c)
      return string.format("\\u%04x", string.byte(c))
   end) .. '"'
end

local threads = {}
local created = 0

function setup(thread)
   created = created + 1
   thread:set("index", created)
   table.insert(threads, thread)
end

function init(args)
   local tokens = {}
   for line in io.lines(seeds) do
      if line ~= "" then table.insert(tokens, line) end
   end
   pool = {}
   for i = (index - 1) * per_thread + 1, index * per_thread do
      assert(tokens[i], "PEERS_SEEDS holds fewer tokens than threads x PEERS_PER_THREAD")
      table.insert(pool, tokens[i])
   end
   refreshed = 0
   lost = 0
   starved = 0
end

local function refresh(token)
   return wrk.format("POST", path, headers, "grant_type=refresh_token&refresh_token=" .. token)
end

function request()
   if pool == nil then
      -- not a thread's state (no init ran): nothing is sent from here
      return refresh("check")
   end
   local token = table.remove(pool)
   if token == nil then
      starved = starved + 1
      return wrk.format("GET", "/peers-refresh-pool-is-empty")
   end
   return refresh(token)
end

function response(status, response_headers, body)
   local new = status == 200 and string.match(body, '"refresh_token"%s*:%s*"([^"]+)"')
   if new then
      refreshed = refreshed + 1
      table.insert(pool, new)
   else
      lost = lost + 1  -- also the answers to starved requests
      keep_first(status, body)
   end
end

function done(summary, latency, requests)
   local ok, lost_sum, starved_sum, wrong = 0, 0, 0, nil
   for _, thread in ipairs(threads) do
      ok = ok + (thread:get("refreshed") or 0)
      lost_sum = lost_sum + (thread:get("lost") or 0)
      starved_sum = starved_sum + (thread:get("starved") or 0)
      wrong = wrong or thread:get("first_wrong")
   end
   local e = summary.errors
   io.write(string.format(
      'PEERS {"requests":%d,"duration_us":%d,"status_errors":%d,"connect_errors":%d,' ..
      '"read_errors":%d,"write_errors":%d,"timeouts":%d,"checked":%d,"unexpected":%d,' ..
      '"lost":%d,"starved":%d,"p50_us":%d,"p99_us":%d,"first_wrong":%s}\n',
      summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
      ok, lost_sum, lost_sum, starved_sum, latency:percentile(50), latency:percentile(99),
      json_string(wrong)))
end
