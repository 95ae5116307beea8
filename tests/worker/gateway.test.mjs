// The gateway in the built Worker (workerd via Miniflare) against the
// sandbox: every other /open-apis/* request passes through to
// FEISHU_BASE_URL unchanged (method, query, JSON, multipart and binary
// bodies, binary answers), a refused token is evicted from memory and KV by
// compare-and-delete, managed API calls (API key + X-Tenant-Key) get the
// tenant's token put in and replayed once, and the managed app's own
// app_access_token and ticket resend go through its chain.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { startSandbox, SANDBOX_APPS, SANDBOX_SELF_BUILT_APPS, SANDBOX_TENANT, downloadByte } from "../../sandbox/sandbox.mjs";
import { rssOf, startBuiltWorker, workerdPids } from "./built-worker.mjs";

const INTERNAL = "/open-apis/auth/v3/tenant_access_token/internal";
const APP_TOKEN = "/open-apis/auth/v3/app_access_token";
const RESEND = "/open-apis/auth/v3/app_ticket/resend";
const SELF_ID = "cli_sandbox_internal_one";
const SELF = { app_id: SELF_ID, app_secret: SANDBOX_SELF_BUILT_APPS[SELF_ID].appSecret };
const STORE_ID = "cli_sandbox_app_one";
const STORE_SECRET = SANDBOX_APPS[STORE_ID].appSecret;
const API_KEY = "api-key-of-service-a-91b3-5e0c7d2f6a18b4c9";

let sb;
const workers = [];
const dirs = [];
const logs = [];

before(async () => {
  sb = await startSandbox({ quiet: true });
});
after(async () => {
  for (const w of workers) await w.mf.dispose().catch(() => {});
  await sb?.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function worker(vars = {}, opts = {}) {
  const w = await startBuiltWorker({
    vars: { FEISHU_BASE_URL: sb.url, UPSTREAM_TIMEOUT_MS: "2000", UPSTREAM_DEADLINE_MS: "2000", ...vars },
    onLog: (l) => logs.push(String(l.message ?? l)),
    ...opts,
  });
  workers.push(w);
  return w;
}

const managedVars = { FEISHU_APP_ID: STORE_ID, FEISHU_APP_SECRET: STORE_SECRET, FEISHU_VERIFICATION_TOKEN: "vt-1", API_KEYS: API_KEY };

const call = (w, p, init = {}) => w.mf.dispatchFetch(`http://worker${p}`, init);
const postJson = (w, p, body, headers = {}) =>
  call(w, p, { method: "POST", headers: { "content-type": "application/json; charset=utf-8", ...headers }, body: JSON.stringify(body) });
const selfToken = async (w, headers) => (await (await postJson(w, INTERNAL, SELF, headers)).json()).tenant_access_token;
const bearer = (t) => ({ authorization: `Bearer ${t}` });
const control = async (name, body = {}) => (await fetch(`${sb.url}/__sandbox/${name}`, { method: "POST", body: JSON.stringify(body) })).json();
const calls = () => sb.stats().apiCalls;
const kvGet = (w, key) => w.mf.getKVNamespace("TOKENS").then((ns) => ns.get(key));
function selfKvKey() {
  const h = createHash("sha256").update("feishu-tenant-token/app-credentials/v1\0").update(SELF.app_id).update("\0").update(SELF.app_secret).digest("hex");
  return `tat:v1:internal:${SELF.app_id}:${h}`;
}
async function seedTicket(w) {
  const tickets = await (await fetch(`${sb.url}/__sandbox/ticket`)).json();
  await (await w.mf.getKVNamespace("TOKENS")).put(`ticket:v1:${STORE_ID}`, tickets[STORE_ID]);
}

test("pass-through keeps method, path, query and JSON body; the answer comes back unchanged", async () => {
  sb.reset();
  const w = await worker();
  const token = await selfToken(w);
  for (const method of ["GET", "POST", "PUT", "PATCH", "DELETE"]) {
    const body = method === "GET" ? undefined : JSON.stringify({ receive_id: "oc_1", content: '{"text":"你好"}' });
    const r = await call(w, "/open-apis/im/v1/messages?receive_id_type=chat_id&page_size=20", {
      method,
      headers: { ...bearer(token), "content-type": "application/json; charset=utf-8", "x-request-id": "req-7" },
      body,
    });
    assert.equal(r.status, 200, method);
    assert.match(r.headers.get("content-type"), /^application\/json/);
    assert.equal(r.headers.get("x-cache"), null, "not one of the token endpoints' answers");
    const { code, data } = await r.json();
    assert.equal(code, 0);
    assert.equal(data.method, method);
    assert.equal(data.path, "/open-apis/im/v1/messages");
    assert.deepEqual(data.query, { receive_id_type: "chat_id", page_size: "20" });
    assert.equal(data.body, body ?? "");
    assert.ok(data.headers.includes("x-request-id"));
  }
  assert.equal(sb.stats().internalTenantTokenCalls, 1, "pass-through caches nothing and asks for no token");
});

test("pass-through drops hop-by-hop, cf-* and client-address headers", async () => {
  sb.reset();
  const w = await worker();
  const token = await selfToken(w);
  const r = await call(w, "/open-apis/contact/v3/users/me", {
    headers: { ...bearer(token), "cf-connecting-ip": "203.0.113.9", "x-forwarded-for": "203.0.113.9", "x-real-ip": "203.0.113.9", "x-keep": "1" },
  });
  const { data } = await r.json();
  // (fetch cannot send Connection itself: headers it names are dropped too, see worker/src/gateway/forward.rs's tests.)
  for (const gone of ["cf-connecting-ip", "x-forwarded-for", "x-real-ip"]) assert.ok(!data.headers.includes(gone), `${gone} in ${data.headers}`);
  assert.ok(data.headers.includes("x-keep") && data.headers.includes("authorization"));
});

test("pass-through streams multipart uploads and binary answers byte for byte", async () => {
  sb.reset();
  const w = await worker();
  const token = await selfToken(w);
  const file = randomBytes(300 * 1024);
  const boundary = "----ftt-boundary-7f3a";
  const multipart = Buffer.concat([
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file_type"\r\n\r\nstream\r\n`),
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.bin"\r\nContent-Type: application/octet-stream\r\n\r\n`),
    file,
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ]);
  const up = await call(w, "/open-apis/im/v1/files", {
    method: "POST",
    headers: { ...bearer(token), "content-type": `multipart/form-data; boundary=${boundary}` },
    body: multipart,
  });
  assert.equal(up.status, 200);
  const { data } = await up.json();
  assert.equal(data.contentType, `multipart/form-data; boundary=${boundary}`);
  assert.equal(data.bodyBytes, multipart.length);
  assert.equal(data.bodySha256, createHash("sha256").update(multipart).digest("hex"));

  const size = 10 * 1024 * 1024 + 17;
  const down = await call(w, `/open-apis/drive/v1/files/box/download?size=${size}`, { headers: bearer(token) });
  assert.equal(down.status, 200);
  assert.equal(down.headers.get("content-type"), "application/octet-stream");
  let got = 0;
  let wrong = -1;
  for await (const chunk of down.body) {
    for (let i = 0; i < chunk.length && wrong < 0; i++) if (chunk[i] !== downloadByte(got + i)) wrong = got + i;
    got += chunk.length;
  }
  assert.equal(got, size);
  assert.equal(wrong, -1, `byte ${wrong} differs`);
});

test("a 50 MiB success read slowly reaches the caller as Feishu's stream: the same bytes, workerd's memory flat, JSON or not, declared or chunked", async () => {
  sb.reset();
  const others = new Set(workerdPids());
  const w = await worker();
  const mine = workerdPids().filter((p) => !others.has(p));
  assert.ok(mine.length > 0, "this Worker's workerd process");
  const token = await selfToken(w);
  const size = 50 * 1024 * 1024 + 3;
  for (const query of ["type=bytes", "type=json", "chunked=1"]) {
    // Before the call: a Worker that buffered the answer would do so before its first byte.
    const start = rssOf(mine);
    const res = await fetch(`${w.url}/open-apis/drive/v1/export_tasks/file/download?size=${size}&${query}`, { headers: bearer(token) });
    assert.equal(res.status, 200);
    // (A compressible type may be re-framed by workerd on the way out, for any Worker.)
    if (query === "type=bytes") assert.equal(res.headers.get("content-length"), String(size), "the length as Feishu declared it");
    let peak = Math.max(start, rssOf(mine));
    let got = 0;
    let wrong = -1;
    let n = 0;
    for await (const chunk of res.body) {
      for (let i = 0; i < chunk.length && wrong < 0; i++) if (chunk[i] !== downloadByte(got + i)) wrong = got + i;
      got += chunk.length;
      // A slow reader: a pause every 16 chunks; the Worker must hold back, not buffer.
      if (++n % 16 === 0) {
        peak = Math.max(peak, rssOf(mine));
        await new Promise((r) => setTimeout(r, 5));
      }
    }
    assert.equal(got, size, query);
    assert.equal(wrong, -1, `${query}: byte ${wrong} differs`);
    const grew = peak - start;
    assert.ok(grew < 16 * 1024 * 1024, `${query}: workerd grew ${(grew / 1048576).toFixed(1)} MiB while 50 MiB passed`);
  }
});

test("Feishu's refusals pass through unchanged: rate limit with its headers, monthly quota", async () => {
  sb.reset();
  const w = await worker();
  const token = await selfToken(w);
  const limited = await call(w, "/open-apis/im/v1/messages/rate-limited", { method: "POST", headers: bearer(token), body: "{}" });
  assert.equal(limited.status, 429);
  assert.equal(limited.headers.get("x-ogw-ratelimit-reset"), "1");
  assert.equal((await limited.json()).code, 99991400);
  const quota = await call(w, "/open-apis/im/v1/messages/quota-exceeded", { method: "POST", headers: bearer(token), body: "{}" });
  assert.equal(quota.status, 429);
  assert.equal((await quota.json()).code, 99991403);
  assert.equal(await selfToken(w), token, "neither evicts the token");
});

test("PASS_THROUGH=false: other /open-apis/* paths answer 404, the token endpoints still work", async () => {
  sb.reset();
  const w = await worker({ PASS_THROUGH: "false" });
  const token = await selfToken(w);
  assert.match(token, /^t-/);
  const r = await call(w, "/open-apis/im/v1/messages", { method: "POST", headers: bearer(token), body: "{}" });
  assert.equal(r.status, 404);
  assert.equal((await r.json()).error, "NOT_FOUND");
  assert.equal(calls().length, 0, "nothing went upstream");
});

test("a token Feishu refused is evicted from memory and KV; the next request from another isolate gets a new one", async () => {
  sb.reset();
  const dir = mkdtempSync(path.join(tmpdir(), "ftt-gw-"));
  dirs.push(dir);
  // Eviction alone (the in-flight replacement, on by default, would replay
  // the call: recovery.test.mjs).
  const a = await worker({ REPLACE_REFUSED: "false" }, { kvPersist: dir });
  const old = await selfToken(a);
  assert.equal(JSON.parse(await kvGet(a, selfKvKey())).tenant_access_token, old);
  await control("token/revoke", { token: old });
  const refused = await call(a, "/open-apis/im/v1/chats", { headers: bearer(old) });
  assert.equal(refused.status, 400);
  assert.equal((await refused.json()).code, 99991663, "the refusal itself comes back unchanged");
  assert.equal(await kvGet(a, selfKvKey()), null, "KV entry deleted");
  await a.mf.dispose();
  // A second isolate (fresh memory, the same KV): without the eviction it would serve `old` from KV.
  const b = await worker({ REPLACE_REFUSED: "false" }, { kvPersist: dir });
  const r = await postJson(b, INTERNAL, SELF);
  const fresh = (await r.json()).tenant_access_token;
  assert.equal(r.headers.get("x-cache"), "MISS");
  assert.notEqual(fresh, old);
  assert.equal(sb.stats().internalTenantTokenCalls, 2);
  assert.equal((await call(b, "/open-apis/im/v1/chats", { headers: bearer(fresh) })).status, 200);
  assert.ok(logs.some((l) => l.includes('"token_refused"') && l.includes('"kv_evicted":1')), "one log line says so");
});

test("another isolate's eviction reaches this isolate's memory within MEMORY_REVALIDATE_SECS; until then KV only confirms", async () => {
  sb.reset();
  const w = await worker({ MEMORY_REVALIDATE_SECS: "1" });
  const first = await postJson(w, INTERNAL, SELF);
  const old = (await first.json()).tenant_access_token;
  await new Promise((r) => setTimeout(r, 1100));
  const confirmed = await postJson(w, INTERNAL, SELF);
  assert.equal((await confirmed.json()).tenant_access_token, old);
  assert.deepEqual([confirmed.headers.get("x-cache"), confirmed.headers.get("x-cache-layer")], ["HIT", "kv"], "asked KV again, not Feishu");
  const hit = await postJson(w, INTERNAL, SELF);
  assert.equal(hit.headers.get("x-cache-layer"), "memory");
  // Feishu revokes it and another isolate, seeing the refusal, deletes it from KV.
  await control("token/revoke", { token: old });
  await (await w.mf.getKVNamespace("TOKENS")).delete(selfKvKey());
  await new Promise((r) => setTimeout(r, 1100));
  const after = await postJson(w, INTERNAL, SELF);
  assert.notEqual((await after.json()).tenant_access_token, old);
  assert.equal(after.headers.get("x-cache"), "MISS");
  assert.equal(sb.stats().internalTenantTokenCalls, 2);
});

test("compare-and-delete: late refusals of an old token, racing new requests, never evict its replacement", async () => {
  sb.reset();
  const w = await worker({ REPLACE_REFUSED: "false" });
  const old = await selfToken(w);
  await control("token/revoke", { token: old });
  // The first refusal evicts `old`; the next request brings its replacement.
  assert.equal((await (await call(w, "/open-apis/im/v1/chats", { headers: bearer(old) })).json()).code, 99991663);
  const fresh = await selfToken(w);
  assert.notEqual(fresh, old);
  // Late refusals of `old` (other callers still holding it) race requests for the token.
  const racing = await Promise.all([
    ...Array.from({ length: 20 }, () => call(w, "/open-apis/im/v1/chats", { headers: bearer(old) }).then((r) => r.json())),
    ...Array.from({ length: 20 }, () => selfToken(w)),
  ]);
  assert.ok(racing.slice(0, 20).every((a) => a.code === 99991663));
  assert.ok(racing.slice(20).every((t) => t === fresh), "every token answer during the race is the new one");
  const after = await postJson(w, INTERNAL, SELF);
  assert.equal((await after.json()).tenant_access_token, fresh);
  assert.equal(after.headers.get("x-cache"), "HIT", "still in memory");
  assert.equal(JSON.parse(await kvGet(w, selfKvKey())).tenant_access_token, fresh, "still in KV");
  assert.equal(sb.stats().internalTenantTokenCalls, 2);
});

test("managed API calls: the API key stays here, the tenant's token goes on, a refused one is replaced and the call replayed", async () => {
  sb.reset();
  const w = await worker(managedVars);
  await seedTicket(w);
  const headers = { ...bearer(API_KEY), "x-tenant-key": SANDBOX_TENANT, "content-type": "application/json" };
  const first = await call(w, "/open-apis/im/v1/messages?receive_id_type=chat_id", { method: "POST", headers, body: '{"a":1}' });
  assert.equal(first.status, 200);
  const echoed = (await first.json()).data;
  assert.equal(echoed.body, '{"a":1}');
  assert.ok(!echoed.headers.includes("x-tenant-key"));
  const seen = calls();
  assert.equal(seen.length, 1);
  assert.match(seen[0].token, /^t-/);
  const tenantToken = seen[0].token;

  await control("token/revoke", { token: tenantToken });
  const replayed = await call(w, "/open-apis/im/v1/messages?receive_id_type=chat_id", { method: "POST", headers, body: '{"a":2}' });
  assert.equal(replayed.status, 200, "replayed with a fresh token");
  assert.equal((await replayed.json()).data.body, '{"a":2}');
  const tokens = calls().map((c) => c.token);
  assert.equal(tokens.length, 3);
  assert.deepEqual(tokens.slice(1, 2), [tenantToken], "the refused attempt");
  assert.notEqual(tokens[2], tenantToken);
  assert.ok(tokens.every((t) => t !== API_KEY), "the API key never went upstream");

  // A body over 1 MiB streams once: the refusal comes back, the token is evicted all the same.
  await control("token/revoke", { token: tokens[2] });
  const big = Buffer.alloc(1024 * 1024 + 1, 97);
  const once = await call(w, "/open-apis/im/v1/files", { method: "POST", headers: { ...headers, "content-type": "application/octet-stream" }, body: big });
  assert.equal(once.status, 400);
  assert.equal((await once.json()).code, 99991663);
  const next = await call(w, "/open-apis/im/v1/chats", { headers });
  assert.equal(next.status, 200, "the next call gets a new token");
});

test("managed API calls: a wrong or missing key is 401, a key without X-Tenant-Key is 400; nothing forwarded", async () => {
  sb.reset();
  const w = await worker(managedVars);
  for (const auth of [{}, bearer("wrong"), bearer(`${API_KEY}x`), { authorization: API_KEY }]) {
    const r = await call(w, "/open-apis/im/v1/chats", { headers: { ...auth, "x-tenant-key": SANDBOX_TENANT } });
    assert.equal(r.status, 401);
    assert.equal((await r.json()).error, "UNAUTHORIZED");
  }
  const bare = await call(w, "/open-apis/im/v1/chats", { headers: bearer(API_KEY) });
  assert.equal(bare.status, 400);
  const badTenant = await call(w, "/open-apis/im/v1/chats", { headers: { ...bearer(API_KEY), "x-tenant-key": "a b" } });
  assert.equal(badTenant.status, 400);
  // An API key on a plain pass-through call (here a resend for another app) is never forwarded.
  const resend = await postJson(w, RESEND, { app_id: "cli_sandbox_app_two", app_secret: SANDBOX_APPS.cli_sandbox_app_two.appSecret }, bearer(API_KEY));
  assert.equal(resend.status, 400);
  assert.equal(sb.stats().resendCalls, 0);
  const off = await worker();
  const noManaged = await call(off, "/open-apis/im/v1/chats", { headers: { ...bearer(API_KEY), "x-tenant-key": SANDBOX_TENANT } });
  assert.equal(noManaged.status, 404);
  assert.equal(calls().length, 0);
  assert.equal(sb.stats().tenantTokenCalls, 0);
});

test("managed app: app_access_token from the Worker's chain whatever the ticket; resend once a minute; other apps as sent", async () => {
  sb.reset();
  const w = await worker(managedVars);
  await seedTicket(w);
  const answers = [];
  for (const body of [
    { app_id: STORE_ID, app_secret: STORE_SECRET },
    { app_id: STORE_ID, app_secret: STORE_SECRET, app_ticket: "an-old-ticket" },
    { app_id: STORE_ID, app_secret: STORE_SECRET, app_ticket: "" },
  ]) {
    const r = await postJson(w, APP_TOKEN, body);
    assert.equal(r.status, 200, JSON.stringify(body));
    answers.push((await r.json()).app_access_token);
  }
  assert.match(answers[0], /^a-/);
  assert.ok(answers.every((a) => a === answers[0]));
  assert.equal(sb.stats().requests[APP_TOKEN], 1, "one upstream app token call, with the stored ticket");
  const wrong = await postJson(w, APP_TOKEN, { app_id: STORE_ID, app_secret: "not-the-secret", app_ticket: "tkt" });
  assert.equal((await wrong.json()).code, 10003, "a wrong secret goes to Feishu");
  const noTicket = await postJson(w, APP_TOKEN, { app_id: STORE_ID, app_secret: "not-the-secret" });
  assert.equal(noTicket.status, 400);

  const before = sb.stats().resendCalls;
  const first = await postJson(w, RESEND, { app_id: STORE_ID, app_secret: STORE_SECRET });
  assert.equal(first.headers.get("x-resend"), "sent");
  const second = await postJson(w, RESEND, { app_id: STORE_ID, app_secret: STORE_SECRET });
  assert.equal(second.headers.get("x-resend"), "throttled");
  assert.equal((await second.json()).code, 0);
  assert.equal(sb.stats().resendCalls, before + 1);
  const other = await postJson(w, RESEND, { app_id: "cli_sandbox_app_two", app_secret: SANDBOX_APPS.cli_sandbox_app_two.appSecret });
  assert.equal((await other.json()).code, 0);
  assert.equal(sb.stats().resendCalls, before + 2, "another app's resend goes to Feishu");
});

test("no secret, token or API key in any log line", async () => {
  const secrets = [SELF.app_secret, STORE_SECRET, API_KEY, ...calls().map((c) => c.token).filter(Boolean)];
  assert.ok(logs.length > 20, `${logs.length} lines`);
  for (const line of logs) for (const s of secrets) assert.ok(!line.includes(s), `a log line holds a secret: ${line.slice(0, 200)}`);
  for (const line of logs) assert.doesNotMatch(line, /"(t|a)-[0-9a-f]{20,}/, line.slice(0, 200));
});

test("a configured API key never leaves the Worker, however it is sent (raw, another scheme, a repeated header, any header)", async () => {
  sb.reset();
  const w = await worker(managedVars);
  const token = await selfToken(w);
  const variants = [
    { authorization: API_KEY },
    { authorization: `Token ${API_KEY}` },
    [["authorization", `Bearer ${token}`], ["authorization", `Bearer ${API_KEY}`]],
    { ...bearer(token), "x-api-key": API_KEY },
    { ...bearer(token), "x-note": `see ${API_KEY} here` },
  ];
  for (const headers of variants) {
    const r = await call(w, "/open-apis/im/v1/chats", { headers });
    assert.equal(r.status, 400, JSON.stringify(headers));
    assert.equal((await r.json()).error, "INVALID_INPUT");
  }
  // A managed call takes the key as its Authorization (replaced by the tenant's token), nowhere else.
  await seedTicket(w);
  const twice = await call(w, "/open-apis/im/v1/chats", { headers: { ...bearer(API_KEY), "x-tenant-key": SANDBOX_TENANT, "x-copy": API_KEY } });
  assert.equal(twice.status, 400);
  assert.equal(calls().length, 0, "nothing reached Feishu");
  const ok = await call(w, "/open-apis/im/v1/chats", { headers: { ...bearer(API_KEY), "x-tenant-key": SANDBOX_TENANT } });
  assert.equal(ok.status, 200);
  assert.equal(calls().length, 1);
  assert.ok(!calls()[0].token.includes(API_KEY));
});

test("pass-through: Cookie stays here; Feishu's CORS and Set-Cookie headers are replaced by the Worker's own", async () => {
  sb.reset();
  const origin = "https://app.example";
  const w = await worker({ ALLOWED_ORIGINS: origin });
  const token = await selfToken(w);
  const r = await call(w, "/open-apis/contact/v3/users/me", { headers: { ...bearer(token), cookie: "session=s3cr3t", origin: "https://evil.example" } });
  assert.equal(r.status, 200);
  const { data } = await r.json();
  assert.ok(!data.headers.includes("cookie"), `cookie forwarded: ${data.headers}`);
  for (const [name] of r.headers) assert.ok(!name.startsWith("access-control-"), `${name} on an answer to an origin not allowed`);
  const allowed = await call(w, "/open-apis/contact/v3/users/me", { headers: { ...bearer(token), origin } });
  assert.equal(allowed.headers.get("access-control-allow-origin"), origin);
  assert.equal(allowed.headers.get("access-control-allow-methods"), null, "the upstream's own CORS headers are gone");
});

test("long connections: POST /callback/ws/endpoint is passed on to Feishu (the app's id and secret in its body, never logged)", async () => {
  sb.reset();
  const w = await worker();
  const ask = (secret) =>
    call(w, "/callback/ws/endpoint", {
      method: "POST",
      headers: { "content-type": "application/json", locale: "zh" },
      body: JSON.stringify({ AppID: SELF.app_id, AppSecret: secret }),
    });
  const r = await ask(SELF.app_secret);
  assert.equal(r.status, 200);
  const { code, data } = await r.json();
  assert.equal(code, 0);
  assert.ok(data.URL.startsWith(sb.url.replace(/^http/, "ws")), "the WebSocket URL Feishu gave (the sandbox's own), for the client to connect to directly");
  assert.equal(typeof data.ClientConfig.PingInterval, "number");
  assert.equal((await (await ask("not-the-secret")).json()).code, 514, "Feishu's refusal passes through");
  assert.equal(sb.stats().requests["/callback/ws/endpoint"], 2);
  assert.equal((await call(w, "/callback/ws/endpoint")).status, 405);
  const off = await worker({ PASS_THROUGH: "false" });
  assert.equal((await call(off, "/callback/ws/endpoint", { method: "POST", body: "{}" })).status, 404);
  assert.ok(!logs.join("\n").includes(SELF.app_secret), "the secret is not logged");
});
