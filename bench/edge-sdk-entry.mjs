// A Worker that tries to get a store-app tenant token with the official SDK,
// used by bench/edge-sdk.mjs to record what happens at the edge.
import * as lark from "@larksuiteoapi/node-sdk";

export default {
  async fetch(request) {
    const base = new URL(request.url).searchParams.get("base");
    try {
      const values = new Map();
      const cache = {
        async get(key, o) {
          return values.get(`${o?.namespace}/${String(key)}`)?.value;
        },
        async set(key, value, expiredTime, o) {
          values.set(`${o?.namespace}/${String(key)}`, { value, expiredTime });
          return true;
        },
      };
      await cache.set(lark.CAppTicket, "ticket-cli_sandbox_app_one", undefined, { namespace: "cli_sandbox_app_one" });
      const client = new lark.Client({ appId: "cli_sandbox_app_one", appSecret: "sandbox-secret-one", appType: lark.AppType.ISV, domain: base, cache, loggerLevel: lark.LoggerLevel.error });
      const token = await client.tokenManager.getTenantAccessToken(lark.withTenantKey("73658811060f175d").lark);
      return Response.json({ ok: typeof token === "string" && token.startsWith("t-"), detail: token ? "got a tenant token" : `returned ${token}` });
    } catch (e) {
      return Response.json({ ok: false, detail: `${e?.name}: ${e?.message}` });
    }
  },
};
