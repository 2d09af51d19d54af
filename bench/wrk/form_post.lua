-- A fixed form POST with HTTP Basic client authentication (introspection, revocation).
--
--   wrk -s form_post.lua URL -- PATH "Basic CREDENTIALS" "name=value&..."

function init(args)
  wrk.method = "POST"
  wrk.path = args[1]
  wrk.headers["Authorization"] = args[2]
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
  wrk.body = args[3]
end
