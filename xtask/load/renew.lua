-- wrk script: heartbeats (PUT apps/{APP}/{ID}?status=UP) for the instances populate.py
-- registered (100 apps x 100 instances), each request the next instance in turn.
local n = 0
request = function()
  local k = n % 10000
  n = n + 1
  local app = string.format("APP%03d", math.floor(k / 100))
  local path = string.format("/eureka/apps/%s/%s-%d:%s:8080?status=UP", app, string.lower(app), k, string.lower(app))
  return wrk.format("PUT", path)
end

done = function(summary, latency, requests)
  local errors = summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  io.write(string.format("non-2xx or socket errors: %d\n", errors))
end
