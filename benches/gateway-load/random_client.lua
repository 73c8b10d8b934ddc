-- wrk script: every request comes "from Cloudflare" for a random client IP, so the aybiza
-- policy's 100-a-minute per-IP limit does not turn the run into a 429 benchmark.
math.randomseed(os.time())
request = function()
  local ip = string.format("81.%d.%d.%d", math.random(0, 255), math.random(0, 255), math.random(1, 254))
  wrk.headers["Host"] = "api.aybiza.com"
  wrk.headers["cf-connecting-ip"] = ip
  wrk.headers["cf-ipcountry"] = "GB"
  wrk.headers["cf-ray"] = "8f1b2c3d4e5f6a7b-LHR"
  return wrk.format("GET", "/api/v1/agents?page=2")
end
