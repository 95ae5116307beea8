// The built Worker (worker/build/) in workerd through Miniflare, against the
// local Feishu sandbox. Run with Node >= 22 (Miniflare's requirement).
import { test, before, after, beforeEach } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { startSandbox, SANDBOX_APPS } from "../../sandbox/sandbox.mjs";
import { startBuiltWorker } from "./built-worker.mjs";

const APP_ONE = SANDBOX_APPS.cli_sandbox_app_one.appAccessToken;
const APP_TWO = SANDBOX_APPS.cli_sandbox_app_two.appAccessToken;
const PATH = "/open-apis/auth/v3/tenant_access_token";
const ORIGIN = "http://demo.test";

const startWorker = (vars) => startBuiltWorker({ vars });

/** The KV key docs/worker.md documents, computed independently of the Worker. */
function kvKey(appAccessToken, tenantKey) {
  const h = createHash("sha256").update("feishu-tenant-token/app-binding/v1\0").update(appAccessToken).digest("hex");
  return `tat:v1:${h}:${tenantKey}`;
}

let sb;
let w;
let n = 0;
/** A tenant key no earlier test used: each test starts with cold caches. */
const tenant = (label = "t") => `${label}-${process.pid}-${++n}`;
const calls = () => sb.stats().tenantTokenCalls;

before(async () => {
  sb = await startSandbox();
  w = await startWorker({
    FEISHU_BASE_URL: sb.url,
    MIN_VALIDITY_SECS: "1800",
    UPSTREAM_TIMEOUT_MS: "500",
    // Short enough that the sandbox's 2-second rate limit is answered at once.
    UPSTREAM_DEADLINE_MS: "1000",
    ALLOWED_ORIGINS: ORIGIN,
  });
});
after(async () => {
  await w?.mf.dispose();
  await sb?.close();
});
beforeEach(() => sb.reset());

function post(body, { headers = {}, raw = false, worker = w } = {}) {
  return worker.mf.dispatchFetch(`http://worker${PATH}`, {
    method: "POST",
    headers: { "content-type": "application/json; charset=utf-8", ...headers },
    body: raw ? body : JSON.stringify(body),
  });
}

async function json(resp) {
  assert.match(resp.headers.get("content-type"), /^application\/json/);
  return resp.json();
}

test("miss, then hit from the isolate's memory, with Feishu's response shape and the headers", async () => {
  const t = tenant();
  const first = await post({ app_access_token: APP_ONE, tenant_key: t });
  assert.equal(first.status, 200);
  const a = await json(first);
  assert.deepEqual(Object.keys(a), ["code", "msg", "tenant_access_token", "expire"]);
  assert.equal(a.code, 0);
  assert.match(a.tenant_access_token, /^t-[0-9a-f]{40}$/);
  assert.ok(a.expire >= 7198 && a.expire <= 7200);
  assert.equal(first.headers.get("x-cache"), "MISS");
  assert.equal(first.headers.get("x-cache-layer"), "upstream");
  assert.equal(first.headers.get("cache-control"), "no-store");
  assert.match(first.headers.get("server-timing"), /kv;dur=\d+, upstream;dur=\d+/);

  const second = await post({ app_access_token: APP_ONE, tenant_key: t });
  const b = await json(second);
  assert.equal(b.tenant_access_token, a.tenant_access_token);
  assert.equal(second.headers.get("x-cache"), "HIT");
  assert.equal(second.headers.get("x-cache-layer"), "memory");
  assert.equal(calls(), 1);
});

test("KV holds the entry under the documented key, with a TTL of at least 60 s", async () => {
  const t = tenant();
  const token = (await json(await post({ app_access_token: APP_ONE, tenant_key: t }))).tenant_access_token;
  const kv = await w.mf.getKVNamespace("TOKENS");
  const key = kvKey(APP_ONE, t);
  const { keys } = await kv.list({ prefix: key });
  assert.equal(keys.length, 1);
  assert.equal(keys[0].name, key);
  const ttl = keys[0].expiration - Date.now() / 1000;
  assert.ok(ttl >= 60, `ttl ${ttl}`);
  assert.ok(ttl <= 5400 + 5, `ttl ${ttl}`);
  const stored = JSON.parse(await kv.get(key));
  assert.equal(stored.tenant_access_token, token);
  assert.ok(Math.abs(stored.expires_at_ms - (Date.now() + 7200_000)) < 5000);
  assert.ok(!(await kv.list()).keys.some((k) => k.name.includes(APP_ONE)), "no raw app token in any key");
});

test("a fresh KV entry is served (x-cache-layer kv); one too close to expiry is not", async () => {
  const kv = await w.mf.getKVNamespace("TOKENS");
  const fresh = tenant("kvfresh");
  await kv.put(kvKey(APP_ONE, fresh), JSON.stringify({ v: 1, tenant_access_token: "t-from-kv", expires_at_ms: Date.now() + 7000_000 }), { expirationTtl: 3600 });
  const r = await post({ app_access_token: APP_ONE, tenant_key: fresh });
  assert.equal((await json(r)).tenant_access_token, "t-from-kv");
  assert.equal(r.headers.get("x-cache"), "HIT");
  assert.equal(r.headers.get("x-cache-layer"), "kv");

  const stale = tenant("kvstale");
  await kv.put(kvKey(APP_ONE, stale), JSON.stringify({ v: 1, tenant_access_token: "t-nearly-expired", expires_at_ms: Date.now() + 1000_000 }), { expirationTtl: 3600 });
  const s = await post({ app_access_token: APP_ONE, tenant_key: stale });
  const body = await json(s);
  assert.notEqual(body.tenant_access_token, "t-nearly-expired");
  assert.equal(s.headers.get("x-cache"), "MISS");
  assert.equal(calls(), 1);
});

test("stale-if-error: Feishu failing, a KV token past the window but over a minute from expiry is served, marked STALE", async () => {
  const kv = await w.mf.getKVNamespace("TOKENS");
  // fault-500 always fails upstream, so only the stale KV entry can answer.
  await kv.put(kvKey(APP_ONE, "fault-500"), JSON.stringify({ v: 1, tenant_access_token: "t-stale-from-kv", expires_at_ms: Date.now() + 600_000 }), { expirationTtl: 3600 });
  const r = await post({ app_access_token: APP_ONE, tenant_key: "fault-500" });
  assert.equal(r.status, 200);
  assert.equal((await json(r)).tenant_access_token, "t-stale-from-kv");
  assert.equal(r.headers.get("x-cache"), "STALE");
  assert.equal(r.headers.get("x-cache-layer"), "kv");
  await kv.put(kvKey(APP_ONE, "fault-500"), JSON.stringify({ v: 1, tenant_access_token: "t-nearly-gone", expires_at_ms: Date.now() + 30_000 }), { expirationTtl: 3600 });
  const gone = await post({ app_access_token: APP_ONE, tenant_key: "fault-500" });
  assert.equal(gone.status, 502, "never a token with under a minute left");
  await kv.delete(kvKey(APP_ONE, "fault-500"));
});

test("Cache-Control: no-cache forces a refresh past memory and KV, throttled per key", async () => {
  const kv = await w.mf.getKVNamespace("TOKENS");
  const u = tenant("forced");
  await kv.put(kvKey(APP_ONE, u), JSON.stringify({ v: 1, tenant_access_token: "t-distrusted", expires_at_ms: Date.now() + 7000_000 }), { expirationTtl: 3600 });
  const forced = await post({ app_access_token: APP_ONE, tenant_key: u }, { headers: { "cache-control": "no-cache" } });
  const body = await json(forced);
  assert.notEqual(body.tenant_access_token, "t-distrusted", "KV was not read");
  assert.equal(forced.headers.get("x-cache"), "MISS");
  assert.equal(forced.headers.get("x-refresh"), "done");
  assert.equal(JSON.parse(await kv.get(kvKey(APP_ONE, u))).tenant_access_token, body.tenant_access_token, "KV overwritten");
  // Again at once: throttled into a cache hit, no second upstream call.
  const again = await post({ app_access_token: APP_ONE, tenant_key: u }, { headers: { "cache-control": "max-age=0, No-Cache" } });
  assert.equal(again.headers.get("x-refresh"), "throttled");
  assert.equal(again.headers.get("x-cache"), "HIT");
  assert.equal(calls(), 1);
  // A forced refresh that fails deletes nothing: only Feishu's acceptance of
  // the caller's credentials replaces a key's token (made-up credentials must
  // not cost KV deletes).
  const seeded = JSON.stringify({ v: 1, tenant_access_token: "t-bad", expires_at_ms: Date.now() + 7000_000 });
  await kv.put(kvKey(APP_ONE, "fault-500"), seeded, { expirationTtl: 3600 });
  const failed = await post({ app_access_token: APP_ONE, tenant_key: "fault-500" }, { headers: { "cache-control": "no-cache" } });
  assert.equal(failed.status, 502);
  assert.equal(await kv.get(kvKey(APP_ONE, "fault-500")), seeded);
  await kv.delete(kvKey(APP_ONE, "fault-500")); // the fault tests below expect no entry
});

test("rotation: after the freshness window the Worker fetches the new token", async () => {
  const short = await startSandbox({ lifetimeSecs: 4, rotateBeforeSecs: 3 });
  const sw = await startWorker({ FEISHU_BASE_URL: short.url, MIN_VALIDITY_SECS: "3" });
  try {
    const t = tenant();
    const a = await json(await post({ app_access_token: APP_ONE, tenant_key: t }, { worker: sw }));
    const again = await post({ app_access_token: APP_ONE, tenant_key: t }, { worker: sw });
    assert.equal((await json(again)).tenant_access_token, a.tenant_access_token);
    await new Promise((r) => setTimeout(r, 1100));
    const later = await post({ app_access_token: APP_ONE, tenant_key: t }, { worker: sw });
    const b = await json(later);
    assert.notEqual(b.tenant_access_token, a.tenant_access_token);
    assert.equal(later.headers.get("x-cache"), "MISS", "the KV entry (kept >= 60 s) must not be served");
    assert.equal(short.stats().tenantTokenCalls, 2);
  } finally {
    await sw.mf.dispose();
    await short.close();
  }
});

test("two apps asking for one tenant, and two tenants, never share a token", async () => {
  const t = tenant();
  const one = await json(await post({ app_access_token: APP_ONE, tenant_key: t }));
  const two = await json(await post({ app_access_token: APP_TWO, tenant_key: t }));
  const other = await json(await post({ app_access_token: APP_ONE, tenant_key: tenant() }));
  assert.notEqual(one.tenant_access_token, two.tenant_access_token);
  assert.notEqual(one.tenant_access_token, other.tenant_access_token);
  const bad = await post({ app_access_token: "a-not-registered", tenant_key: t });
  assert.equal(bad.status, 400);
  assert.deepEqual(await json(bad), { code: 99991664, msg: "invalid app access token" });
  assert.equal(calls(), 4);
});

test("50 concurrent cold requests make one upstream call", async () => {
  const t = tenant();
  const resps = await Promise.all(Array.from({ length: 50 }, () => post({ app_access_token: APP_ONE, tenant_key: t })));
  const bodies = await Promise.all(resps.map((r) => r.json()));
  assert.ok(resps.every((r) => r.status === 200));
  assert.equal(new Set(bodies.map((b) => b.tenant_access_token)).size, 1);
  assert.equal(calls(), 1);
});

test("bad input: JSON errors with fitting statuses, never a 500, nothing sent upstream", async () => {
  const big = "a".repeat(17 * 1024);
  const cases = [
    ["invalid JSON", () => post("{nope", { raw: true }), 400, 40000],
    ["JSON not an object", () => post("[1]", { raw: true }), 400, 40000],
    ["duplicate keys", () => post(`{"app_access_token":"${APP_ONE}","tenant_key":"a","tenant_key":"b"}`, { raw: true }), 400, 40000],
    ["wrong content type", () => post({ app_access_token: APP_ONE, tenant_key: "t" }, { headers: { "content-type": "text/plain" } }), 415, 41500],
    ["missing field", () => post({ app_access_token: APP_ONE }), 400, 40001],
    ["empty field", () => post({ app_access_token: "", tenant_key: "t" }), 400, 40001],
    ["blank field", () => post({ app_access_token: APP_ONE, tenant_key: "   " }), 400, 40001],
    ["non-string field", () => post({ app_access_token: 7, tenant_key: "t" }), 400, 40001],
    ["control characters", () => post({ app_access_token: `${APP_ONE}\n`, tenant_key: "t" }), 400, 40001],
    ["oversized field", () => post({ app_access_token: "a".repeat(9000), tenant_key: "t" }), 400, 40001],
    ["body over 16 KiB", () => post({ app_access_token: big, tenant_key: "t" }), 413, 41300],
    ["body over 16 KiB, no content-length", () => w.mf.dispatchFetch(`http://worker${PATH}`, { method: "POST", headers: { "content-type": "application/json" }, body: new Blob([big]).stream(), duplex: "half" }), 413, 41300],
    ["wrong method", () => w.mf.dispatchFetch(`http://worker${PATH}`), 405, 40500],
    // (Any /open-apis/* path is passed through to Feishu: the gateway's tests cover those.)
    ["unknown path", () => w.mf.dispatchFetch("http://worker/v2/nope", { method: "POST" }), 404, 40400],
    ["healthz with POST", () => w.mf.dispatchFetch("http://worker/healthz", { method: "POST" }), 405, 40500],
  ];
  for (const [what, send, status, code] of cases) {
    const r = await send();
    assert.equal(r.status, status, what);
    const body = await json(r);
    assert.equal(body.code, code, what);
    assert.equal(typeof body.msg, "string", what);
  }
  assert.equal(calls(), 0);
});

test("upstream faults map to 502 / 504 / 429, and errors are never cached", async () => {
  const cases = [
    ["fault-500", 502, 50201],
    ["fault-html", 502, 50201],
    ["fault-nonjson", 502, 50201],
    ["fault-truncated", 502, 50201],
    ["fault-reset", 502, 50200],
    ["fault-slow", 504, 50400],
  ];
  for (const [t, status, code] of cases) {
    const r = await post({ app_access_token: APP_ONE, tenant_key: t });
    assert.equal(r.status, status, t);
    assert.equal((await json(r)).code, code, t);
  }
  const limited = await post({ app_access_token: APP_ONE, tenant_key: "fault-429" });
  assert.equal(limited.status, 429);
  assert.equal(limited.headers.get("retry-after"), "2");
  assert.deepEqual(await json(limited), { code: 99991400, msg: "request trigger frequency limit" });

  const t = tenant();
  // Three failures: the first attempt and both retries.
  await fetch(`${sb.url}/__sandbox/faults`, { method: "POST", body: JSON.stringify({ fault: "500", count: 3 }) });
  assert.equal((await post({ app_access_token: APP_ONE, tenant_key: t })).status, 502);
  const ok = await post({ app_access_token: APP_ONE, tenant_key: t });
  assert.equal(ok.status, 200);
  assert.equal(ok.headers.get("x-cache"), "MISS");
});

test("transient upstream failures are retried inside the Worker", async () => {
  await fetch(`${sb.url}/__sandbox/faults`, { method: "POST", body: JSON.stringify({ fault: "500", count: 2 }) });
  const r = await post({ app_access_token: APP_ONE, tenant_key: tenant() });
  assert.equal(r.status, 200);
  assert.equal(calls(), 3);
});

test("GET /healthz answers without touching KV or upstream", async () => {
  const kv = await w.mf.getKVNamespace("TOKENS");
  const before = (await kv.list()).keys.length;
  const r = await w.mf.dispatchFetch("http://worker/healthz");
  assert.equal(r.status, 200);
  assert.deepEqual(await json(r), { code: 0, msg: "ok" });
  assert.equal(calls(), 0);
  assert.equal((await kv.list()).keys.length, before);
});

test("CORS: preflight and responses for allowed origins only", async () => {
  const pre = await w.mf.dispatchFetch(`http://worker${PATH}`, {
    method: "OPTIONS",
    headers: { origin: ORIGIN, "access-control-request-method": "POST", "access-control-request-headers": "content-type" },
  });
  assert.equal(pre.status, 204);
  assert.equal(pre.headers.get("access-control-allow-origin"), ORIGIN);
  assert.match(pre.headers.get("access-control-allow-methods"), /POST/);
  const denied = await w.mf.dispatchFetch(`http://worker${PATH}`, { method: "OPTIONS", headers: { origin: "https://evil.test" } });
  assert.equal(denied.status, 403);
  assert.equal(denied.headers.get("access-control-allow-origin"), null);
  const r = await post({ app_access_token: APP_ONE, tenant_key: tenant() }, { headers: { origin: ORIGIN } });
  assert.equal(r.headers.get("access-control-allow-origin"), ORIGIN);
  assert.match(r.headers.get("access-control-expose-headers"), /x-cache/);
  const other = await post({ app_access_token: APP_ONE, tenant_key: tenant() }, { headers: { origin: "https://evil.test" } });
  assert.equal(other.headers.get("access-control-allow-origin"), null);
});

test("drop-in: a client written against Feishu's documented API works unchanged", async () => {
  // Written from Feishu's documentation only; nothing about the Worker.
  async function feishuTenantAccessToken(base, appAccessToken, tenantKey) {
    const resp = await fetch(`${base}/open-apis/auth/v3/tenant_access_token`, {
      method: "POST",
      headers: { "Content-Type": "application/json; charset=utf-8" },
      body: JSON.stringify({ app_access_token: appAccessToken, tenant_key: tenantKey }),
    });
    const data = await resp.json();
    if (data.code !== 0) throw new Error(`feishu error ${data.code}: ${data.msg}`);
    return { token: data.tenant_access_token, expire: data.expire };
  }
  const base = w.url;
  const t = tenant();
  const viaWorker = await feishuTenantAccessToken(base, APP_ONE, t);
  const direct = await feishuTenantAccessToken(sb.url, APP_ONE, t);
  assert.equal(viaWorker.token, direct.token, "the Worker hands out Feishu's own token");
  assert.ok(viaWorker.expire > 7000);
  await assert.rejects(feishuTenantAccessToken(base, "a-bogus", t), /feishu error 99991664/);
  // Our own npm client, pointed at the Worker as its base URL, works too.
  const { getTenantAccessToken } = await import(new URL("../../pkg/node.js", import.meta.url).href);
  const viaPkg = await getTenantAccessToken({ appAccessToken: APP_ONE, tenantKey: t }, { baseUrl: base });
  assert.equal(viaPkg.tenantAccessToken, direct.token);
});

test("one JSON log line per request, and no token or secret in any output", async () => {
  const captured = [];
  const tap = (stream) => {
    const write = stream.write.bind(stream);
    stream.write = (chunk, ...rest) => {
      captured.push(String(chunk));
      return write(chunk, ...rest);
    };
    return () => (stream.write = write);
  };
  const untapOut = tap(process.stdout);
  const untapErr = tap(process.stderr);
  const secrets = [APP_ONE, "a-secret-but-unknown-app-token"];
  try {
    const t = tenant("logs");
    for (let i = 0; i < 2; i++) secrets.push((await json(await post({ app_access_token: APP_ONE, tenant_key: t }))).tenant_access_token);
    await post({ app_access_token: "a-secret-but-unknown-app-token", tenant_key: t });
    await post({ app_access_token: APP_ONE, tenant_key: "fault-500" });
    await post(`{"app_access_token":"${APP_ONE}"`, { raw: true });
    await w.mf.dispatchFetch("http://worker/probe/../../etc/passwd?token=x");
    await new Promise((r) => setTimeout(r, 200)); // let workerd's output arrive
  } finally {
    untapOut();
    untapErr();
  }
  const text = captured.join("");
  const lines = text
    .split("\n")
    .map((l) => l.match(/\{"route":.*\}/)?.[0])
    .filter(Boolean)
    .map((l) => JSON.parse(l));
  assert.ok(lines.length >= 6, `log lines: ${lines.length}\n${text}`);
  assert.ok(lines.some((l) => l.status === 200 && l.cache === "MISS" && l.layer === "upstream"));
  assert.ok(lines.some((l) => l.status === 200 && l.cache === "HIT"));
  assert.ok(lines.some((l) => l.status === 502));
  assert.ok(lines.some((l) => l.route === "(other)" && l.status === 404), "unknown paths are not echoed");
  for (const s of secrets) assert.ok(!text.includes(s), `a secret reached the logs: ${s}`);
});
