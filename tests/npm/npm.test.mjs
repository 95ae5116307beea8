// The npm package (pkg/, built by `make build`) against the local Feishu sandbox.
import { test, before, after, beforeEach } from "node:test";
import assert from "node:assert/strict";
import { APP_ONE, APP_TWO, SANDBOX_TENANT, pkg, rejection, sleep, startSandbox } from "./helpers.mjs";

const { getTenantAccessToken, TenantTokenClient } = pkg;
let sb;
let baseUrl;

before(async () => {
  sb = await startSandbox();
  baseUrl = sb.url;
});
after(() => sb.close());
beforeEach(() => sb.reset());

const calls = () => sb.stats().tenantTokenCalls;
const req = (tenantKey = SANDBOX_TENANT, appAccessToken = APP_ONE) => ({ appAccessToken, tenantKey });

test("getTenantAccessToken returns the sandbox's token with its expiry", async () => {
  const t0 = Date.now();
  const t = await getTenantAccessToken(req(), { baseUrl });
  assert.match(t.tenantAccessToken, /^t-[0-9a-f]{40}$/);
  assert.ok(t.expire >= 7198 && t.expire <= 7200, `expire ${t.expire}`);
  assert.ok(t.expiresAt >= t0 + 7200_000 - 50 && t.expiresAt <= Date.now() + 7200_000, `expiresAt ${t.expiresAt}`);
  assert.deepEqual(Object.keys(t).sort(), ["expire", "expiresAt", "tenantAccessToken"]);
  assert.equal(calls(), 1);
});

test("the request on the wire is Feishu's: POST, JSON content type, the two fields", async () => {
  const seen = [];
  const spy = async (url, init) => {
    seen.push({ url, init });
    return fetch(url, init);
  };
  await getTenantAccessToken(req(), { baseUrl, fetch: spy });
  assert.equal(seen.length, 1);
  const { url, init } = seen[0];
  assert.equal(url, `${baseUrl}/open-apis/auth/v3/tenant_access_token`);
  assert.equal(init.method, "POST");
  assert.equal(init.headers["content-type"], "application/json; charset=utf-8");
  assert.deepEqual(JSON.parse(init.body), { app_access_token: APP_ONE, tenant_key: SANDBOX_TENANT });
  assert.ok(init.signal instanceof AbortSignal);
});

test("a client answers the second get from its cache", async () => {
  const c = new TenantTokenClient({ baseUrl });
  const a = await c.get(req());
  const b = await c.get(req());
  assert.equal(b.tenantAccessToken, a.tenantAccessToken);
  assert.equal(b.expiresAt, a.expiresAt);
  assert.equal(calls(), 1);
  assert.deepEqual(c.stats(), { hits: 1, misses: 1, upstreamCalls: 1, coalescedWaits: 0, staleServed: 0, recoveries: 0 });
});

test("after the freshness window the client fetches again and gets the rotated token", async () => {
  const short = await startSandbox({ lifetimeSecs: 4, rotateBeforeSecs: 3 });
  try {
    const c = new TenantTokenClient({ baseUrl: short.url, minValiditySecs: 3 });
    const a = await c.get(req());
    assert.equal((await c.get(req())).tenantAccessToken, a.tenantAccessToken, "still fresh: cached");
    await sleep(1100); // < 3 s left now
    const b = await c.get(req());
    assert.notEqual(b.tenantAccessToken, a.tenantAccessToken);
    assert.equal(short.stats().tenantTokenCalls, 2);
  } finally {
    await short.close();
  }
});

test("two apps asking for the same tenant never share a token", async () => {
  const c = new TenantTokenClient({ baseUrl });
  const one = await c.get(req(SANDBOX_TENANT, APP_ONE));
  const two = await c.get(req(SANDBOX_TENANT, APP_TWO));
  assert.notEqual(one.tenantAccessToken, two.tenantAccessToken);
  assert.equal((await c.get(req(SANDBOX_TENANT, APP_TWO))).tenantAccessToken, two.tenantAccessToken);
  assert.equal(calls(), 2);
});

test("an unknown app token gets Feishu's error even when the tenant is cached for another app", async () => {
  const c = new TenantTokenClient({ baseUrl });
  await c.get(req());
  const e = await rejection(c.get(req(SANDBOX_TENANT, "a-not-an-app-token")));
  assert.equal(e.code, "FEISHU_API_ERROR");
  assert.equal(e.feishuCode, 99991664);
});

test("two tenants never share a token", async () => {
  const c = new TenantTokenClient({ baseUrl });
  const a = await c.get(req("tenant-a"));
  const b = await c.get(req("tenant-b"));
  assert.notEqual(a.tenantAccessToken, b.tenantAccessToken);
});

test("every tenant keeps its own token while the cache grows (and wasm memory with it)", async () => {
  // The request reader keeps a view of wasm memory, which a grown memory
  // detaches: every second get must still find its tenant's token.
  const c = new TenantTokenClient({ baseUrl });
  const N = 3000;
  const first = [];
  for (let i = 0; i < N; i++) first.push((await c.get(req(`grow-${i}`))).tenantAccessToken);
  for (let i = N - 1; i >= 0; i--) assert.equal((await c.get(req(`grow-${i}`))).tenantAccessToken, first[i], `tenant ${i}`);
  assert.equal(new Set(first).size, N);
  assert.deepEqual(c.stats(), { hits: N, misses: N, upstreamCalls: N, coalescedWaits: 0, staleServed: 0, recoveries: 0 });
});

test("100 concurrent cold gets make exactly one upstream call", async () => {
  const c = new TenantTokenClient({ baseUrl });
  const all = await Promise.all(Array.from({ length: 100 }, () => c.get(req())));
  assert.equal(new Set(all.map((t) => t.tenantAccessToken)).size, 1);
  assert.equal(calls(), 1);
  assert.deepEqual(c.stats(), { hits: 0, misses: 100, upstreamCalls: 1, coalescedWaits: 99, staleServed: 0, recoveries: 0 });
});

test("invalidate drops the tenant's token so the next get asks Feishu again", async () => {
  const c = new TenantTokenClient({ baseUrl });
  await c.get(req());
  await c.get(req("other"));
  assert.equal(c.invalidate(SANDBOX_TENANT), 1);
  await c.get(req());
  await c.get(req("other"));
  assert.equal(calls(), 3);
});

test("a token arriving with less than minValiditySecs left is returned but not cached", async () => {
  const c = new TenantTokenClient({ baseUrl });
  const a = await c.get(req("fault-expiring"));
  assert.ok(a.expire <= 600);
  await c.get(req("fault-expiring"));
  assert.equal(calls(), 2);
});

test("stale-if-error: a failed refresh serves the cached token while it has over a minute left", async () => {
  const short = await startSandbox({ lifetimeSecs: 100, rotateBeforeSecs: 30 });
  try {
    const c = new TenantTokenClient({ baseUrl: short.url, minValiditySecs: 99, retries: 0 });
    const first = await c.get(req());
    await sleep(1100); // < 99 s left: past this client's freshness window, ~98 s of life
    await fetch(`${short.url}/__sandbox/faults`, { method: "POST", body: JSON.stringify({ fault: "500", count: 1 }) });
    const stale = await c.get(req());
    assert.equal(stale.tenantAccessToken, first.tenantAccessToken);
    assert.ok(stale.expire > 60 && stale.expire < 99, `expire ${stale.expire}`);
    assert.equal(c.stats().staleServed, 1);
    assert.equal(short.stats().tenantTokenCalls, 2, "it did try to refresh");
    const fresh = await c.get(req()); // upstream is back
    assert.equal(fresh.tenantAccessToken, first.tenantAccessToken, "Feishu still hands out the same token");
    assert.equal(c.stats().staleServed, 1);
  } finally {
    await short.close();
  }
});

test("FEISHU_API_ERROR carries Feishu's code, msg and the HTTP status", async () => {
  const e = await rejection(getTenantAccessToken(req(SANDBOX_TENANT, "a-unknown"), { baseUrl }));
  assert.equal(e.code, "FEISHU_API_ERROR");
  assert.equal(e.feishuCode, 99991664);
  assert.equal(e.feishuMsg, "invalid app access token");
  assert.equal(e.httpStatus, 400);
  assert.ok(e instanceof Error);
  assert.doesNotMatch(`${e.message} ${e.stack}`, /a-unknown/);
});

test("RATE_LIMITED fails fast with the reset seconds when they do not fit the deadline", async () => {
  const started = Date.now();
  const e = await rejection(getTenantAccessToken(req("fault-429"), { baseUrl, deadlineMs: 1000 }));
  assert.equal(e.code, "RATE_LIMITED");
  assert.equal(e.retryAfterSecs, 2);
  assert.equal(e.feishuCode, 99991400);
  assert.equal(e.httpStatus, 429);
  assert.equal(calls(), 1, "no retry");
  assert.ok(Date.now() - started < 500, "no wait");
});

test("a rate limit that resets within the deadline is waited out, then retried", async () => {
  await fetch(`${baseUrl}/__sandbox/config`, { method: "POST", body: JSON.stringify({ rateLimitResetSecs: 1 }) });
  await fetch(`${baseUrl}/__sandbox/faults`, { method: "POST", body: JSON.stringify({ fault: "429", count: 1 }) });
  const started = Date.now();
  const t = await getTenantAccessToken(req(), { baseUrl });
  assert.match(t.tenantAccessToken, /^t-/);
  assert.ok(Date.now() - started >= 1000, "waited the reset second");
  assert.equal(calls(), 2);
});

test("network errors, timeouts and 5xx are retried (default 2 retries); API errors are not", async () => {
  await fetch(`${baseUrl}/__sandbox/faults`, { method: "POST", body: JSON.stringify({ fault: "500", count: 2 }) });
  const t = await getTenantAccessToken(req(), { baseUrl });
  assert.match(t.tenantAccessToken, /^t-/);
  assert.equal(calls(), 3);
  sb.reset();
  await rejection(getTenantAccessToken(req("fault-reset"), { baseUrl }));
  assert.equal(calls(), 3);
  sb.reset();
  await rejection(getTenantAccessToken(req("fault-500"), { baseUrl, retries: 0 }));
  assert.equal(calls(), 1, "retries: 0");
  sb.reset();
  await rejection(getTenantAccessToken(req(SANDBOX_TENANT, "a-unknown"), { baseUrl }));
  assert.equal(calls(), 1, "Feishu API errors are final");
});

test("HTTP_ERROR keeps the status and the raw body", async () => {
  for (const [tenant, status, body] of [
    ["fault-500", 500, /internal error/],
    ["fault-html", 502, /Bad Gateway/],
  ]) {
    const e = await rejection(getTenantAccessToken(req(tenant), { baseUrl }));
    assert.equal(e.code, "HTTP_ERROR", tenant);
    assert.equal(e.httpStatus, status);
    assert.match(e.rawBody, body);
  }
});

test("INVALID_RESPONSE for a 200 that is not Feishu JSON, with no token in the raw body", async () => {
  const e = await rejection(getTenantAccessToken(req("fault-nonjson"), { baseUrl }));
  assert.equal(e.code, "INVALID_RESPONSE");
  assert.equal(e.rawBody, "OK");
  const cut = await rejection(getTenantAccessToken(req("fault-truncated"), { baseUrl }));
  assert.equal(cut.code, "INVALID_RESPONSE");
  assert.doesNotMatch(cut.rawBody, /t-trunc/);
  assert.match(cut.rawBody, /\[redacted\]/);
});

test("NETWORK_ERROR for a reset connection and for a refused one", async () => {
  const e = await rejection(getTenantAccessToken(req("fault-reset"), { baseUrl }));
  assert.equal(e.code, "NETWORK_ERROR");
  const closed = await startSandbox();
  await closed.close();
  const refused = await rejection(getTenantAccessToken(req(), { baseUrl: closed.url }));
  assert.equal(refused.code, "NETWORK_ERROR");
  assert.match(refused.message, /ECONNREFUSED/);
});

test("TIMEOUT aborts a slow request after timeoutMs", async () => {
  const started = Date.now();
  const e = await rejection(getTenantAccessToken(req("fault-slow"), { baseUrl, timeoutMs: 200 }));
  assert.equal(e.code, "TIMEOUT");
  assert.match(e.message, /200 ms/);
  assert.ok(Date.now() - started < 2500, "gave up before the slow answer arrived");
});

test("TIMEOUT also bounds a caller's fetch that ignores the abort signal", async () => {
  const never = () => new Promise(() => {});
  const e = await rejection(getTenantAccessToken(req(), { baseUrl, fetch: never, timeoutMs: 50 }));
  assert.equal(e.code, "TIMEOUT");
});

test("the abort signal fires on timeout", async () => {
  let signal;
  const hang = (_url, init) => {
    signal = init.signal;
    return new Promise((_, reject) => init.signal.addEventListener("abort", () => reject(init.signal.reason)));
  };
  const e = await rejection(getTenantAccessToken(req(), { baseUrl, fetch: hang, timeoutMs: 50 }));
  assert.equal(e.code, "TIMEOUT");
  assert.equal(signal.aborted, true);
});

test("errors are shared by concurrent callers and never cached", async () => {
  const c = new TenantTokenClient({ baseUrl });
  // Three failures: the first attempt and both retries.
  await fetch(`${baseUrl}/__sandbox/faults`, { method: "POST", body: JSON.stringify({ fault: "500", count: 3 }) });
  const results = await Promise.allSettled(Array.from({ length: 5 }, () => c.get(req())));
  assert.ok(results.every((r) => r.status === "rejected" && r.reason.code === "HTTP_ERROR"));
  assert.equal(calls(), 3);
  const ok = await c.get(req());
  assert.match(ok.tenantAccessToken, /^t-/);
  assert.equal(calls(), 4);
});

test("INVALID_INPUT for bad requests, and nothing is sent", async () => {
  const c = new TenantTokenClient({ baseUrl });
  const bad = [
    [undefined, /request must be an object/],
    ["x", /request must be an object/],
    [{}, /appAccessToken is missing/],
    [{ appAccessToken: APP_ONE }, /tenantKey is missing/],
    [{ appAccessToken: "", tenantKey: "t" }, /appAccessToken is empty/],
    [{ appAccessToken: "   ", tenantKey: "t" }, /appAccessToken is empty/],
    [{ appAccessToken: APP_ONE, tenantKey: "\t" }, /tenantKey is empty/],
    [{ appAccessToken: 42, tenantKey: "t" }, /appAccessToken must be a string/],
    [{ appAccessToken: `${APP_ONE}\n`, tenantKey: "t" }, /visible ASCII/],
    [{ appAccessToken: APP_ONE, tenantKey: "te\u0000nant" }, /visible ASCII/],
    [{ appAccessToken: "a".repeat(8193), tenantKey: "t" }, /too long/],
    [{ appAccessToken: APP_ONE, tenantKey: "k".repeat(129) }, /tenantKey is too long/],
    // Characters whose low byte is visible ASCII: a copy that kept only the
    // low byte would read "a-a" and "ta".
    [{ appAccessToken: "a-\u0161", tenantKey: "t" }, /appAccessToken may hold only visible ASCII/],
    [{ appAccessToken: APP_ONE, tenantKey: "t\u0161" }, /tenantKey may hold only visible ASCII/],
    [{ appAccessToken: "a b", tenantKey: "t" }, /appAccessToken may hold only visible ASCII/],
    [Object.assign(() => {}, { appAccessToken: APP_ONE, tenantKey: "t" }), /request must be an object/],
    [{ get appAccessToken() { throw new Error("getter"); }, tenantKey: "t" }, /appAccessToken is missing/],
  ];
  for (const [input, why] of bad) {
    for (const call of [() => c.get(input), () => getTenantAccessToken(input, { baseUrl })]) {
      const e = await rejection(call());
      assert.equal(e.code, "INVALID_INPUT", String(why));
      assert.match(e.message, why);
    }
  }
  assert.equal(calls(), 0);
});

test("a 4 KiB JWT-like app token is accepted (and rejected by the sandbox, not by us)", async () => {
  const long = `eyJ${"a".repeat(4096)}.x.y`;
  const e = await rejection(getTenantAccessToken(req(SANDBOX_TENANT, long), { baseUrl }));
  assert.equal(e.code, "FEISHU_API_ERROR");
  assert.equal(calls(), 1);
  // Longer than the client's one-crossing reader takes: read the slow way.
  const c = new TenantTokenClient({ baseUrl });
  assert.equal((await rejection(c.get(req(SANDBOX_TENANT, long)))).code, "FEISHU_API_ERROR");
  assert.equal(calls(), 2);
});

test("bad options are INVALID_INPUT: thrown by the constructor, rejected by the function", async () => {
  const bad = [
    [{ baseUrl: "http://open.feishu.cn" }, /https/],
    [{ baseUrl: "ftp://x" }, /baseUrl/],
    [{ baseUrl: 5 }, /baseUrl must be a string/],
    [{ timeoutMs: 0 }, /timeoutMs/],
    [{ timeoutMs: 1.5 }, /timeoutMs/],
    [{ minValiditySecs: -1 }, /minValiditySecs/],
    [{ minValiditySecs: 7201 }, /minValiditySecs/],
    [{ fetch: "no" }, /fetch must be a function/],
    [{ retries: 6 }, /retries/],
    [{ retries: -1 }, /retries/],
    [{ deadlineMs: 1e9 }, /deadlineMs/],
    [{ baseURL: "https://x" }, /unknown option `baseURL`/],
    ["opts", /options must be an object/],
  ];
  for (const [opts, why] of bad) {
    assert.throws(
      () => new TenantTokenClient(opts),
      (e) => e.name === "FeishuTokenError" && e.code === "INVALID_INPUT" && why.test(e.message),
    );
    const e = await rejection(getTenantAccessToken(req(), opts));
    assert.equal(e.code, "INVALID_INPUT");
  }
  assert.equal(calls(), 0);
});

test("Lark's base URL is accepted and used", async () => {
  const seen = [];
  const spy = async (url) => {
    seen.push(url);
    return new Response('{"code":0,"msg":"ok","tenant_access_token":"t-lark","expire":7200}');
  };
  const t = await getTenantAccessToken(req(), { baseUrl: "https://open.larksuite.com", fetch: spy });
  assert.equal(t.tenantAccessToken, "t-lark");
  assert.deepEqual(seen, ["https://open.larksuite.com/open-apis/auth/v3/tenant_access_token"]);
});

test("no token or app secret ever appears in an error", async () => {
  const c = new TenantTokenClient({ baseUrl, retries: 0 });
  const good = await c.get(req());
  const errors = [];
  for (const tenant of ["fault-500", "fault-html", "fault-nonjson", "fault-truncated", "fault-429"]) {
    errors.push(await rejection(c.get(req(tenant))));
  }
  errors.push(await rejection(c.get(req(SANDBOX_TENANT, "a-secret-unknown-token"))));
  const echo = async () =>
    new Response(JSON.stringify({ code: 10003, msg: `bad token ${APP_ONE}`, tenant_access_token: good.tenantAccessToken }), { status: 400 });
  errors.push(await rejection(getTenantAccessToken(req(), { baseUrl, fetch: echo })));
  for (const e of errors) {
    const shown = JSON.stringify({ ...e, message: e.message, stack: e.stack });
    for (const secret of [APP_ONE, "a-secret-unknown-token", good.tenantAccessToken]) {
      assert.ok(!shown.includes(secret), `${e.code} leaks a secret: ${shown}`);
    }
  }
});
