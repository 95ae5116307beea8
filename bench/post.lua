-- wrk script: Feishu's tenant_access_token request (one tenant: cache hits).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json; charset=utf-8"
wrk.body = '{"app_access_token":"a-sandbox-app-one","tenant_key":"73658811060f175d"}'
wrk.path = "/open-apis/auth/v3/tenant_access_token"
