// The "write it yourself" alternative to our Worker, for bench/worker.mjs:
// a minimal hand-written JS Worker that reads KV on every request (no memory
// layer, no single-flight, no validation). Not shipped; benchmark only.
const PATH = "/open-apis/auth/v3/tenant_access_token";
const MIN_VALIDITY_MS = 1800_000;

const hex = (buf) => [...new Uint8Array(buf)].map((b) => b.toString(16).padStart(2, "0")).join("");

export default {
  async fetch(request, env) {
    if (request.method !== "POST" || new URL(request.url).pathname !== PATH) {
      return Response.json({ code: 404, msg: "not found" }, { status: 404 });
    }
    const { app_access_token, tenant_key } = await request.json();
    const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(app_access_token));
    const key = `tat:js:${hex(digest)}:${tenant_key}`;
    const cached = await env.TOKENS.get(key, "json");
    const now = Date.now();
    if (cached && cached.expires_at_ms - now >= MIN_VALIDITY_MS) {
      const expire = Math.floor((cached.expires_at_ms - now) / 1000);
      return Response.json({ code: 0, msg: "ok", tenant_access_token: cached.token, expire });
    }
    const resp = await fetch(`${env.FEISHU_BASE_URL}${PATH}`, {
      method: "POST",
      headers: { "content-type": "application/json; charset=utf-8" },
      body: JSON.stringify({ app_access_token, tenant_key }),
    });
    const body = await resp.json();
    if (body.code === 0) {
      const value = JSON.stringify({ token: body.tenant_access_token, expires_at_ms: now + body.expire * 1000 });
      await env.TOKENS.put(key, value, { expirationTtl: Math.max(60, body.expire - 1800) });
    }
    return Response.json(body, { status: resp.status });
  },
};
