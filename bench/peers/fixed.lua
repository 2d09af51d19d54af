-- wrk driver for a fixed request (bench/peers): the method, body and headers come from the
-- environment, so one script serves every row and server. With PEERS_EXPECT set, every answer
-- must be a 200 whose body holds that text (for example "active":true for introspection);
-- the others are counted as unexpected. done() prints one line "PEERS {json}" for run.py.
local method = os.getenv("PEERS_METHOD") or "GET"
local body = os.getenv("PEERS_BODY") or ""
local content_type = os.getenv("PEERS_CONTENT_TYPE") or ""
local authorization = os.getenv("PEERS_AUTHORIZATION") or ""
local expect = os.getenv("PEERS_EXPECT") or ""

wrk.method = method
if body ~= "" then wrk.body = body end
if content_type ~= "" then wrk.headers["Content-Type"] = content_type end
if authorization ~= "" then wrk.headers["Authorization"] = authorization end


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

function setup(thread)
   table.insert(threads, thread)
end

function init(args)
   good = 0
   unexpected = 0
end

if expect ~= "" then
   -- Only defined when needed: with a response() wrk reads every body into Lua.
   function response(status, headers, response_body)
      if status == 200 and string.find(response_body, expect, 1, true) then
         good = good + 1
      else
         unexpected = unexpected + 1
         keep_first(status, response_body)
      end
   end
end

function done(summary, latency, requests)
   local checked, bad, wrong = 0, 0, nil
   for _, thread in ipairs(threads) do
      checked = checked + (thread:get("good") or 0)
      bad = bad + (thread:get("unexpected") or 0)
      wrong = wrong or thread:get("first_wrong")
   end
   local e = summary.errors
   io.write(string.format(
      'PEERS {"requests":%d,"duration_us":%d,"status_errors":%d,"connect_errors":%d,' ..
      '"read_errors":%d,"write_errors":%d,"timeouts":%d,"checked":%d,"unexpected":%d,' ..
      '"p50_us":%d,"p99_us":%d,"first_wrong":%s}\n',
      summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
      checked, bad, latency:percentile(50), latency:percentile(99), json_string(wrong)))
end
