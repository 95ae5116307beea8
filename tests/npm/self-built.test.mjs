// SelfBuiltAppClient (a self-built app's own tenant token) and
// compare-and-invalidate on every client, against the sandbox.
import { test, before, after, beforeEach } from "node:test";
import assert from "node:assert/strict";
import { APP_ONE, SANDBOX_TENANT, pkg, rejection, startSandbox } from "./helpers.mjs";
import { SANDBOX_SELF_BUILT_APPS } from "../../sandbox/sandbox.mjs";

const { SelfBuiltAppClient, TenantTokenClient } = pkg;
const APP_ID = "cli_sandbox_internal_one";
const APP_SECRET = SANDBOX_SELF_BUILT_APPS[APP_ID].appSecret;
let sb;

before(async () => {
  sb = await startSandbox({ quiet: true });
});
after(() => sb.close());
beforeEach(() => sb.reset());

const calls = () => sb.stats().internalTenantTokenCalls;
const client = (extra = {}) => new SelfBuiltAppClient({ appId: APP_ID, appSecret: APP_SECRET, baseUrl: sb.url, ...extra });

test("the token comes from tenant_access_token/internal with the app's id and secret, then from the cache", async () => {
  const seen = [];
  const spy = async (url, init) => {
    seen.push({ url, body: JSON.parse(init.body) });
    return fetch(url, init);
  };
  const c = client({ fetch: spy });
  const a = await c.tenantToken();
  const b = await c.tenantToken();
  assert.match(a.tenantAccessToken, /^t-[0-9a-f]{40}$/);
  assert.ok(a.expire >= 7198 && a.expire <= 7200, `expire ${a.expire}`);
  assert.equal(b.tenantAccessToken, a.tenantAccessToken);
  assert.deepEqual(seen, [{ url: `${sb.url}/open-apis/auth/v3/tenant_access_token/internal`, body: { app_id: APP_ID, app_secret: APP_SECRET } }]);
  assert.deepEqual(c.stats(), { hits: 1, misses: 1, upstreamCalls: 1, coalescedWaits: 0, staleServed: 0, recoveries: 0 });
});

test("200 concurrent calls on a cold client make one request", async () => {
  const c = client();
  const tokens = await Promise.all(Array.from({ length: 200 }, () => c.tenantToken()));
  assert.equal(new Set(tokens.map((t) => t.tenantAccessToken)).size, 1);
  assert.equal(calls(), 1);
  assert.equal(c.stats().coalescedWaits, 199);
});

test("two apps never share a token, and the same app id with another secret is refused by Feishu, not served", async () => {
  const one = await client().tenantToken();
  const two = await new SelfBuiltAppClient({
    appId: "cli_sandbox_internal_two",
    appSecret: SANDBOX_SELF_BUILT_APPS.cli_sandbox_internal_two.appSecret,
    baseUrl: sb.url,
  }).tenantToken();
  assert.notEqual(one.tenantAccessToken, two.tenantAccessToken);
  const wrong = await rejection(client({ appSecret: "not-the-secret-7f3e" }).tenantToken());
  assert.equal(wrong.code, "FEISHU_API_ERROR");
  assert.equal(wrong.feishuCode, 10015);
  const shown = JSON.stringify({ ...wrong, message: wrong.message, stack: wrong.stack });
  assert.ok(!shown.includes("not-the-secret-7f3e"), shown);
});

test("a disabled app is FEISHU_API_ERROR 10014, and errors are not cached", async () => {
  const c = new SelfBuiltAppClient({
    appId: "cli_sandbox_internal_disabled",
    appSecret: SANDBOX_SELF_BUILT_APPS.cli_sandbox_internal_disabled.appSecret,
    baseUrl: sb.url,
    retries: 0,
  });
  for (let i = 0; i < 2; i++) {
    const e = await rejection(c.tenantToken());
    assert.equal(e.code, "FEISHU_API_ERROR");
    assert.equal(e.feishuCode, 10014);
  }
  assert.equal(calls(), 2, "each call asked Feishu: no error was cached");
});

test("invalid options are INVALID_INPUT before anything is sent", async () => {
  const bad = [
    [undefined, /options must be an object/],
    [{ appSecret: APP_SECRET }, /appId is missing/],
    [{ appId: APP_ID }, /appSecret is missing/],
    [{ appId: 7, appSecret: APP_SECRET }, /appId must be a string/],
    [{ appId: APP_ID, appSecret: "" }, /appSecret is empty/],
    [{ appId: APP_ID, appSecret: "a b" }, /visible ASCII/],
    [{ appId: APP_ID, appSecret: APP_SECRET, baseURL: "x" }, /unknown option `baseURL`/],
    [{ appId: APP_ID, appSecret: APP_SECRET, timeoutMs: 0 }, /timeoutMs/],
  ];
  for (const [opts, why] of bad) {
    assert.throws(
      () => new SelfBuiltAppClient(opts),
      (e) => e.name === "FeishuTokenError" && e.code === "INVALID_INPUT" && why.test(e.message),
      String(why),
    );
  }
  assert.throws(() => new TenantTokenClient({ appId: APP_ID }), /unknown option `appId`/);
  assert.equal(calls(), 0);
});

test("invalidate(token) drops the token only while the cache still holds it", async () => {
  const c = client({ minValiditySecs: 0 });
  const first = await c.tenantToken();
  assert.equal(c.invalidate("t-some-other-token"), 0);
  assert.equal((await c.tenantToken()).tenantAccessToken, first.tenantAccessToken);
  assert.equal(c.invalidate(first.tenantAccessToken), 1);
  assert.equal(c.invalidate(first.tenantAccessToken), 0, "already gone");
  await c.tenantToken();
  assert.equal(calls(), 2, "the next call fetched again");
  assert.equal(c.invalidate(), 1, "without a token: whatever is cached");
});

test("TenantTokenClient.invalidate(tenantKey, token): a late rejection of an old token keeps its replacement", async () => {
  const c = new TenantTokenClient({ baseUrl: sb.url });
  const req = { appAccessToken: APP_ONE, tenantKey: SANDBOX_TENANT };
  const old = await c.get(req);
  assert.equal(c.invalidate(SANDBOX_TENANT, old.tenantAccessToken), 1);
  // The sandbox hands out the same token while it has over 30 min left: the
  // cache now holds it again, fetched anew.
  const again = await c.get(req);
  assert.equal(sb.stats().tenantTokenCalls, 2);
  assert.equal(c.invalidate("another-tenant", again.tenantAccessToken), 0, "another tenant's entry is not this one");
  assert.equal(c.invalidate(SANDBOX_TENANT, "t-a-token-from-before"), 0, "a token the cache does not hold");
  await c.get(req);
  assert.equal(sb.stats().tenantTokenCalls, 2, "still cached");
});

test("a redirect is never followed: the app secret is sent to baseUrl only", async () => {
  const { createServer } = await import("node:http");
  const listen = (s) => new Promise((r) => s.listen(0, "127.0.0.1", () => r(`http://127.0.0.1:${s.address().port}`)));
  const seen = [];
  const elsewhere = createServer((req, res) => {
    let body = "";
    req.on("data", (d) => (body += d));
    req.on("end", () => {
      seen.push(body);
      res.end("{}");
    });
  });
  const target = await listen(elsewhere);
  const redirects = [];
  const redirector = createServer((req, res) => {
    req.resume();
    redirects.push(req.url);
    // 307 keeps the method and the body: following it would send the secret on.
    res.writeHead(307, { location: `${target}${req.url}` }).end();
  });
  const baseUrl = await listen(redirector);
  try {
    const e = await rejection(client({ baseUrl, retries: 0 }).tenantToken());
    // Node takes `redirect: "error"` (a network error); workerd only "manual" (the 307 itself).
    assert.ok(["NETWORK_ERROR", "HTTP_ERROR"].includes(e.code), e.code);
    assert.equal(redirects.length, 1);
    assert.deepEqual(seen, [], "nothing reached the Location");
    assert.ok(!e.message.includes(APP_SECRET));
  } finally {
    redirector.close();
    elsewhere.close();
  }
});
