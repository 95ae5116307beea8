// `feishu-tenant-token/store-app` as built into pkg/, in Node, against the
// sandbox: the sandbox pushes encrypted, signed app_tickets to a callback
// served here with `parseEvent`, and `StoreAppClient` runs the whole chain.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { APP_TWO, SANDBOX_APPS, pkg, rejection, sleep, startSandbox } from "./helpers.mjs";
import { ticketEvent, seal, sign, encrypt } from "../../sandbox/callback.mjs";

const sa = await import(new URL("../../pkg/store-app.node.js", import.meta.url).href);

const APP_ID = "cli_sandbox_app_one";
const APP_SECRET = SANDBOX_APPS[APP_ID].appSecret;
const ENCRYPT_KEY = "npm-encrypt-key-1f3a";
const VERIFICATION_TOKEN = "npm-verification-token-8c2d";
const EVENT_OPTIONS = { encryptKey: ENCRYPT_KEY, verificationToken: VERIFICATION_TOKEN };

let sb;
let receiver;
let receiverUrl;
/** The client the callback feeds; swapped per test. */
let feed = null;
const received = [];

before(async () => {
  receiver = http.createServer(async (req, res) => {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    try {
      const event = sa.parseEvent(new Uint8Array(Buffer.concat(chunks)), req.headers, EVENT_OPTIONS);
      received.push(event.type);
      if (event.type === "url_verification") return res.end(JSON.stringify({ challenge: event.challenge }));
      if (event.type === "app_ticket" && feed) await feed.putAppTicket(event.appTicket);
      res.end('{"code":0}');
    } catch (e) {
      res.writeHead(e.name === "FeishuTokenError" ? 401 : 500).end(JSON.stringify({ error: e.code }));
    }
  });
  await new Promise((r) => receiver.listen(0, "127.0.0.1", r));
  receiverUrl = `http://127.0.0.1:${receiver.address().port}/callback`;
  sb = await startSandbox({ quiet: true });
});
after(async () => {
  await sb?.close();
  await new Promise((r) => receiver?.close(r));
});

const control = async (p, body = {}) =>
  (await fetch(`${sb.url}/__sandbox/${p}`, { method: "POST", body: JSON.stringify(body) })).json();
const callback = (on) =>
  control("callback", on ? { appId: APP_ID, url: receiverUrl, ...EVENT_OPTIONS } : { appId: APP_ID, url: null });
const newClient = (extra = {}) => new sa.StoreAppClient({ appId: APP_ID, appSecret: APP_SECRET, baseUrl: sb.url, ...extra });
const calls = (p) => sb.stats().requests[`/open-apis/auth/v3/${p}`] ?? 0;
let n = 0;
const tenant = () => `npm-${process.pid}-${++n}`;

test("the chain in Node: a pushed ticket, then tenant tokens with one app token, cached", async () => {
  const client = (feed = newClient());
  await callback(true);
  const pushed = await control("push", { app_id: APP_ID });
  assert.equal(pushed.status, 200, JSON.stringify(pushed));
  const [apps, tenants] = [calls("app_access_token"), calls("tenant_access_token")];
  const t1 = tenant();
  const a = await client.tenantToken(t1);
  assert.match(a.tenantAccessToken, /^t-/);
  assert.ok(a.expire > 7000 && a.expiresAt > Date.now());
  const again = await client.tenantToken(t1);
  assert.equal(again.tenantAccessToken, a.tenantAccessToken);
  await Promise.all([1, 2, 3].map(() => client.tenantToken(tenant())));
  assert.equal(calls("app_access_token") - apps, 1, "one app token for every tenant");
  assert.equal(calls("tenant_access_token") - tenants, 4);
  const s = client.stats();
  assert.equal(s.hits, 1);
  assert.equal(s.upstreamCalls, 4);
});

test("the main entry and store-app in one process: each cache hit reads its own caller's strings", async () => {
  // The entries' .wasm instances share one JS snippet module; each must write
  // its scratch into its own memory, and remember the strings it wrote itself.
  const store = (feed = newClient());
  await callback(true);
  assert.equal((await control("push", { app_id: APP_ID })).status, 200);
  const main = new pkg.TenantTokenClient({ baseUrl: sb.url });
  const keys = [tenant(), tenant(), tenant()];
  const first = new Map();
  for (const k of keys) {
    first.set(`store ${k}`, (await store.tenantToken(k)).tenantAccessToken);
    first.set(`main ${k}`, (await main.get({ appAccessToken: APP_TWO, tenantKey: k })).tenantAccessToken);
  }
  assert.equal(new Set(first.values()).size, keys.length * 2, "a token per app and tenant");
  const [storeHits, mainHits] = [store.stats().hits, main.stats().hits];
  for (let i = 0; i < 300; i++) {
    const k = keys[i % keys.length];
    // The same tenant twice in a row from each, then the other entry between.
    for (let j = 0; j < 2; j++) {
      assert.equal((await store.tenantToken(k)).tenantAccessToken, first.get(`store ${k}`), `store ${k}`);
      assert.equal((await main.get({ appAccessToken: APP_TWO, tenantKey: k })).tenantAccessToken, first.get(`main ${k}`), `main ${k}`);
    }
  }
  assert.equal(store.stats().hits - storeHits, 600);
  assert.equal(main.stats().hits - mainHits, 600);
  assert.equal(store.stats().upstreamCalls, keys.length, "nothing fetched again");
  await assert.rejects(store.tenantToken(42), (e) => e.code === "INVALID_INPUT" && /string/.test(e.message));
});

test("no ticket: APP_TICKET_MISSING with retryAfterSecs, one resend a minute, then the resent ticket works", async () => {
  const client = (feed = newClient());
  await callback(false);
  const r0 = sb.stats().resendCalls;
  for (let i = 0; i < 3; i++) {
    const e = await rejection(client.tenantToken(tenant()));
    assert.equal(e.code, "APP_TICKET_MISSING");
    assert.equal(e.retryAfterSecs, 10);
  }
  assert.equal(sb.stats().resendCalls - r0, 1);
  await callback(true);
  await control("push", { app_id: APP_ID });
  assert.match((await client.tenantToken(tenant())).tenantAccessToken, /^t-/);
});

test("10012: the stale ticket is dropped from the user's store and a resend asked for", async () => {
  const store = new Map();
  const log = [];
  const ticketStore = {
    get: async (appId) => (log.push(`get ${appId}`), store.get(appId)),
    set: async (appId, t) => (log.push(`set ${appId}`), store.set(appId, t)),
    delete: (appId) => (log.push(`delete ${appId}`), store.delete(appId)),
  };
  // Stop pushes first, and let a push from an earlier test's resend land
  // (resendDelayMs is 200) before this client is fed.
  await callback(false);
  await sleep(400);
  const client = (feed = newClient({ ticketStore }));
  store.set(APP_ID, "tkt-long-gone");
  const r0 = sb.stats().resendCalls;
  const e = await rejection(client.tenantToken(tenant()));
  assert.equal(e.code, "APP_TICKET_MISSING");
  assert.match(e.message, /10012/);
  assert.equal(store.has(APP_ID), false);
  assert.deepEqual(log, [`get ${APP_ID}`, `delete ${APP_ID}`]);
  assert.equal(sb.stats().resendCalls - r0, 1);
  // The resent ticket arrives through the callback into the user's store.
  await callback(true);
  await control("push", { app_id: APP_ID });
  assert.ok(store.has(APP_ID));
  assert.match((await client.tenantToken(tenant())).tenantAccessToken, /^t-/);
});

test("getAppAccessToken and resendAppTicket, one request each, Feishu's errors as codes", async () => {
  const ticket = (await control("ticket/revoke", { app_id: APP_ID })).ticket;
  const t = await sa.getAppAccessToken({ appId: APP_ID, appSecret: APP_SECRET, appTicket: ticket }, { baseUrl: sb.url });
  assert.match(t.appAccessToken, /^a-/);
  assert.ok(t.expire > 7000);
  const bad = await rejection(sa.getAppAccessToken({ appId: APP_ID, appSecret: APP_SECRET, appTicket: "nope" }, { baseUrl: sb.url }));
  assert.equal(bad.feishuCode, 10012);
  const wrong = await rejection(sa.getAppAccessToken({ appId: APP_ID, appSecret: "wrong-secret-x", appTicket: ticket }, { baseUrl: sb.url }));
  assert.equal(wrong.feishuCode, 10003);
  assert.ok(!JSON.stringify({ ...wrong, m: wrong.message }).includes("wrong-secret-x"));
  await callback(false);
  const r0 = sb.stats().resendCalls;
  assert.equal(await sa.resendAppTicket({ appId: APP_ID, appSecret: APP_SECRET }, { baseUrl: sb.url }), undefined);
  assert.equal(sb.stats().resendCalls - r0, 1);
  const e = await rejection(sa.resendAppTicket({ appId: "", appSecret: APP_SECRET }, { baseUrl: sb.url }));
  assert.equal(e.code, "INVALID_INPUT");
});

test("parseEvent: every tampering rejected with its code; Headers objects and plain objects both work", () => {
  const cb = { appId: APP_ID, ...EVENT_OPTIONS };
  const { body, headers } = seal(cb, ticketEvent(cb, "tkt-1"));
  const ok = sa.parseEvent(body.toString(), new Headers(headers), EVENT_OPTIONS);
  assert.deepEqual([ok.type, ok.appId, ok.appTicket, ok.signed, ok.schema], ["app_ticket", APP_ID, "tkt-1", true, "1.0"]);
  assert.equal(ok.payload.event.app_ticket, "tkt-1");
  const code = (b, h, o = EVENT_OPTIONS) => {
    try {
      sa.parseEvent(b, h, o);
    } catch (e) {
      return e.code;
    }
    return "accepted";
  };
  const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  assert.equal(code(body.toString(), lower), "accepted");
  assert.equal(code(body.toString().replace('"encrypt":"', '"encrypt":"A'), headers), "INVALID_SIGNATURE");
  assert.equal(code(body.toString(), { ...headers, "X-Lark-Signature": "ab".repeat(32) }), "INVALID_SIGNATURE");
  assert.equal(code(body.toString(), {}), "INVALID_SIGNATURE");
  const old = String(Math.floor(Date.now() / 1000) - 600);
  assert.equal(code(body.toString(), { ...headers, "X-Lark-Request-Timestamp": old, "X-Lark-Signature": sign(old, headers["X-Lark-Request-Nonce"], ENCRYPT_KEY, body) }), "STALE_EVENT");
  assert.equal(code(body.toString(), headers, { ...EVENT_OPTIONS, verificationToken: "other" }), "INVALID_VERIFICATION_TOKEN");
  assert.equal(code(body.toString(), headers, { ...EVENT_OPTIONS, maxAgeSecs: 0 }), "INVALID_INPUT");
  assert.equal(code(JSON.stringify({ encrypt: encrypt("x", "y") }), {}, { verificationToken: "vt" }), "DECRYPTION_FAILED");
  assert.equal(code("[]", {}, { verificationToken: "vt" }), "INVALID_EVENT");
  // Nothing to authenticate with: refused, whatever the event.
  assert.equal(code(JSON.stringify({ challenge: "c", token: "", type: "url_verification" }), {}, {}), "INVALID_INPUT");
  assert.equal(code("{}", {}, null), "INVALID_INPUT");
  // Plain events with a Verification Token only.
  const plain = JSON.stringify({ challenge: "c1", token: VERIFICATION_TOKEN, type: "url_verification" });
  assert.deepEqual(sa.parseEvent(plain, {}, { verificationToken: VERIFICATION_TOKEN }).challenge, "c1");
});

test("URL verification through the sandbox, signed and unsigned", async () => {
  await callback(true);
  for (const signed of [true, false]) {
    const v = await control("verify-url", { app_id: APP_ID, signed });
    assert.equal(v.ok, true, JSON.stringify(v));
  }
});

test("bad options are INVALID_INPUT, never a TypeError", () => {
  for (const opts of [undefined, {}, { appId: APP_ID }, { appId: APP_ID, appSecret: 7 }, { appId: APP_ID, appSecret: "s", ticketStore: 5 }, { appId: APP_ID, appSecret: "s", nope: 1 }]) {
    assert.throws(() => new sa.StoreAppClient(opts), (e) => e.code === "INVALID_INPUT", JSON.stringify(opts));
  }
});

test("the module logs nothing and its errors carry no secret", async () => {
  const lines = [];
  const orig = { log: console.log, warn: console.warn, error: console.error };
  for (const k of Object.keys(orig)) console[k] = (...a) => lines.push(a.join(" "));
  try {
    const client = newClient({ appSecret: "a-very-secret-secret" });
    await callback(false);
    const e = await rejection(client.tenantToken(tenant()));
    const shown = `${e.message} ${e.rawBody ?? ""} ${e.feishuMsg ?? ""}`;
    assert.ok(!shown.includes("a-very-secret-secret"), shown);
  } finally {
    Object.assign(console, orig);
  }
  assert.deepEqual(lines, []);
  await sleep(0);
});
