-- wrk script for the soak: Feishu's request for one of 500 tenants, chosen at
-- random per request, so the run mixes cache hits with first-time misses.
math.randomseed(os.time())
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json; charset=utf-8"
wrk.path = "/open-apis/auth/v3/tenant_access_token"
request = function()
  local body = '{"app_access_token":"a-sandbox-app-one","tenant_key":"soak-' .. math.random(1, 500) .. '"}'
  return wrk.format(nil, nil, nil, body)
end
