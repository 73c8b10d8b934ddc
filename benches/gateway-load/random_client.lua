-- wrk script: every request comes "from Cloudflare" for one of 50,000 client IPs, drawn at
-- random, so clients come back as in real traffic (about 10 requests a minute each at 8,000
-- requests/s) and stay under the aybiza policy's 100-a-minute per-IP limit: the run measures
-- forwarding, not 429s.
math.randomseed(os.time())
request = function()
  local c = math.random(0, 49999)
  local ip = string.format("81.2.%d.%d", math.floor(c / 200), c % 200 + 1)
  wrk.headers["Host"] = "api.aybiza.com"
  wrk.headers["cf-connecting-ip"] = ip
  wrk.headers["cf-ipcountry"] = "GB"
  wrk.headers["cf-ray"] = "8f1b2c3d4e5f6a7b-LHR"
  return wrk.format("GET", "/api/v1/agents?page=2")
end
