// The gateway's self-built app endpoints in the built Worker (workerd via
// Miniflare) against the sandbox: `POST /open-apis/auth/v3/tenant_access_token/internal`
// and `.../app_access_token/internal`, Feishu's request and answer shapes,
// answered from memory, then KV, then Feishu; keys bind the app id and a
// digest of the secret, so a wrong secret always gets Feishu's refusal.
import { test, before, after, beforeEach } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { startSandbox, SANDBOX_SELF_BUILT_APPS } from "../../sandbox/sandbox.mjs";
import { startBuiltWorker } from "./built-worker.mjs";

const TENANT_PATH = "/open-apis/auth/v3/tenant_access_token/internal";
const APP_PATH = "/open-apis/auth/v3/app_access_token/internal";
const APP_ID = "cli_sandbox_internal_one";
const SECRET = SANDBOX_SELF_BUILT_APPS[APP_ID].appSecret;
let sb;
let w;
let logs = [];

before(async () => {
  sb = await startSandbox({ quiet: true });
});
after(async () => {
  await w?.mf.dispose();
  await sb?.close();
});
// A fresh Worker (memory and KV) and sandbox per test: the cache keys are per app.
beforeEach(async () => {
  await w?.mf.dispose();
  sb.reset();
  logs = [];
  w = await startBuiltWorker({ vars: { FEISHU_BASE_URL: sb.url, UPSTREAM_TIMEOUT_MS: "1000", UPSTREAM_DEADLINE_MS: "1000" }, onLog: (l) => logs.push(l) });
});

const post = (path, body, headers = {}) =>
  w.mf.dispatchFetch(`http://worker${path}`, {
    method: "POST",
    headers: { "content-type": "application/json; charset=utf-8", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });

/** The KV key docs/worker.md documents, computed independently of the Worker. */
function kvKey(kind, appId, secret) {
  const h = createHash("sha256").update("feishu-tenant-token/app-credentials/v1\0").update(appId).update("\0").update(secret).digest("hex");
  return `${kind}:v1:internal:${appId}:${h}`;
}

test("tenant_access_token/internal: Feishu's shape, MISS then HIT, the token in KV under the documented key", async () => {
  const first = await post(TENANT_PATH, { app_id: APP_ID, app_secret: SECRET });
  assert.equal(first.status, 200);
  const a = await first.json();
  assert.deepEqual(Object.keys(a), ["code", "msg", "tenant_access_token", "expire"]);
  assert.match(a.tenant_access_token, /^t-[0-9a-f]{40}$/);
  assert.equal(first.headers.get("x-cache"), "MISS");
  const second = await post(TENANT_PATH, { app_id: APP_ID, app_secret: SECRET });
  assert.equal((await second.json()).tenant_access_token, a.tenant_access_token);
  assert.equal(second.headers.get("x-cache"), "HIT");
  assert.equal(sb.stats().internalTenantTokenCalls, 1);
  const kv = await w.mf.getKVNamespace("TOKENS");
  const stored = JSON.parse(await kv.get(kvKey("tat", APP_ID, SECRET)));
  assert.equal(stored.tenant_access_token, a.tenant_access_token);
  const keys = (await kv.list()).keys.map((k) => k.name);
  assert.ok(keys.every((k) => !k.includes(SECRET)), `no key holds the secret: ${keys}`);
});

test("app_access_token/internal: the app token in Feishu's shape, cached apart from the tenant token", async () => {
  const r = await post(APP_PATH, { app_id: APP_ID, app_secret: SECRET });
  const a = await r.json();
  assert.deepEqual(Object.keys(a), ["code", "msg", "app_access_token", "expire"]);
  assert.match(a.app_access_token, /^a-/);
  await post(APP_PATH, { app_id: APP_ID, app_secret: SECRET });
  const t = await (await post(TENANT_PATH, { app_id: APP_ID, app_secret: SECRET })).json();
  assert.match(t.tenant_access_token, /^t-/);
  assert.equal(sb.stats().internalAppTokenCalls, 1);
  assert.equal(sb.stats().internalTenantTokenCalls, 1);
  const kv = await w.mf.getKVNamespace("TOKENS");
  assert.ok(await kv.get(kvKey("aat", APP_ID, SECRET)));
});

test("200 concurrent requests on a cold cache make one call to Feishu", async () => {
  const answers = await Promise.all(Array.from({ length: 200 }, () => post(TENANT_PATH, { app_id: APP_ID, app_secret: SECRET }).then((r) => r.json())));
  assert.equal(new Set(answers.map((a) => a.tenant_access_token)).size, 1);
  assert.equal(sb.stats().internalTenantTokenCalls, 1);
});

test("a wrong secret never gets the cached token: it goes to Feishu and gets Feishu's 10015", async () => {
  await post(TENANT_PATH, { app_id: APP_ID, app_secret: SECRET });
  for (let i = 0; i < 2; i++) {
    const r = await post(TENANT_PATH, { app_id: APP_ID, app_secret: "not-the-secret-91ac" });
    assert.equal(r.status, 400);
    assert.deepEqual(await r.json(), { code: 10015, msg: "app secret invalid" });
  }
  assert.equal(sb.stats().internalTenantTokenCalls, 3, "each wrong-secret request asked Feishu");
  const disabled = await post(TENANT_PATH, { app_id: "cli_sandbox_internal_disabled", app_secret: SANDBOX_SELF_BUILT_APPS.cli_sandbox_internal_disabled.appSecret });
  assert.equal((await disabled.json()).code, 10014);
  const shown = logs.join("\n");
  for (const secret of [SECRET, "not-the-secret-91ac"]) assert.ok(!shown.includes(secret), "no secret in the log");
});

test("Cache-Control: no-cache refreshes past memory and KV (throttled within 10 s)", async () => {
  await post(TENANT_PATH, { app_id: APP_ID, app_secret: SECRET });
  const r = await post(TENANT_PATH, { app_id: APP_ID, app_secret: SECRET }, { "cache-control": "no-cache" });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get("x-refresh"), "throttled");
  assert.equal(sb.stats().internalTenantTokenCalls, 1);
});

test("malformed bodies are 4xx JSON and nothing goes to Feishu", async () => {
  const bad = [
    "", "{", "[]", "null", `{"app_id":"${APP_ID}"}`, `{"app_secret":"${SECRET}"}`, `{"app_id":1,"app_secret":"s"}`,
    `{"app_id":"${APP_ID}","app_secret":""}`, `{"app_id":"${APP_ID}","app_secret":"a b"}`,
    `{"app_id":"${APP_ID}","app_id":"x","app_secret":"${SECRET}"}`, `{"app_id":"${"a".repeat(200)}","app_secret":"s"}`,
  ];
  for (const body of bad) {
    for (const path of [TENANT_PATH, APP_PATH]) {
      const r = await post(path, body);
      assert.ok(r.status >= 400 && r.status < 500, `${path} ${body}: ${r.status}`);
      const j = await r.json();
      assert.equal(typeof j.code, "number");
    }
  }
  const wrongType = await w.mf.dispatchFetch(`http://worker${TENANT_PATH}`, { method: "POST", headers: { "content-type": "text/plain" }, body: "{}" });
  assert.equal(wrongType.status, 415);
  const get = await w.mf.dispatchFetch(`http://worker${TENANT_PATH}`);
  assert.equal(get.status, 405);
  assert.equal(sb.stats().internalTenantTokenCalls + sb.stats().internalAppTokenCalls, 0);
});

test("store app_access_token: cached under id + secret digest, not the ticket; a wrong secret gets Feishu's refusal", async () => {
  const { SANDBOX_APPS } = await import("../../sandbox/sandbox.mjs");
  const id = "cli_sandbox_app_one";
  const secret = SANDBOX_APPS[id].appSecret;
  const ticket = (await fetch(`${sb.url}/__sandbox/ticket`).then((r) => r.json()))[id];
  const path = "/open-apis/auth/v3/app_access_token";
  const first = await post(path, { app_id: id, app_secret: secret, app_ticket: ticket });
  assert.equal(first.status, 200);
  const a = await first.json();
  assert.deepEqual(Object.keys(a), ["code", "msg", "app_access_token", "expire"]);
  assert.match(a.app_access_token, /^a-/);
  assert.equal(first.headers.get("x-cache"), "MISS");
  // The same accepted ticket is a hit; a ticket Feishu never accepted here
  // goes to Feishu (which wants both the secret and a valid ticket).
  const again = await post(path, { app_id: id, app_secret: secret, app_ticket: ticket });
  assert.equal((await again.json()).app_access_token, a.app_access_token);
  assert.equal(again.headers.get("x-cache"), "HIT");
  const madeUp = await post(path, { app_id: id, app_secret: secret, app_ticket: "tkt-an-older-one" });
  assert.equal(madeUp.status, 400);
  assert.equal((await madeUp.json()).code, 10012);
  const wrong = await post(path, { app_id: id, app_secret: "not-the-secret-5d2a", app_ticket: ticket });
  assert.equal(wrong.status, 400);
  assert.equal((await wrong.json()).code, 10003);
  assert.equal(sb.stats().requests["/open-apis/auth/v3/app_access_token"], 3, "the hit asked nobody; the made-up ticket and the wrong secret asked Feishu");
  const h = createHash("sha256").update("feishu-tenant-token/app-credentials/v1\0").update(id).update("\0").update(secret).digest("hex");
  const kv = await w.mf.getKVNamespace("TOKENS");
  assert.equal(JSON.parse(await kv.get(`aat:v1:store:${id}:${h}`)).tenant_access_token, a.app_access_token);
  const missing = await post(path, { app_id: id, app_secret: secret });
  assert.equal(missing.status, 400);
  assert.match((await missing.json()).msg, /app_ticket is missing/);
});
