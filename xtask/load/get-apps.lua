-- wrk script: full-registry fetches as real clients make them (JSON, gzip).
wrk.method = "GET"
wrk.path = "/eureka/apps"
wrk.headers["Accept"] = "application/json"
wrk.headers["Accept-Encoding"] = "gzip"

done = function(summary, latency, requests)
  local errors = summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  io.write(string.format("non-2xx or socket errors: %d\n", errors))
end
