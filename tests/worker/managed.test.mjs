// Managed (store-app) mode of the built Worker in workerd, against the
// sandbox, which pushes encrypted, signed app_tickets to the Worker's
// /feishu/events. Run with Node >= 22 (Miniflare's requirement).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { startSandbox, SANDBOX_APPS, SANDBOX_TENANT } from "../../sandbox/sandbox.mjs";
import { ticketEvent, challengeEvent, seal, encrypt, sign } from "../../sandbox/callback.mjs";
import { startBuiltWorker } from "./built-worker.mjs";

const APP_ID = "cli_sandbox_app_one";
const APP_SECRET = SANDBOX_APPS[APP_ID].appSecret;
const ENCRYPT_KEY = "encrypt-key-for-tests-7c1f";
const VERIFICATION_TOKEN = "verification-token-4d2e";
const API_KEY = "api-key-of-service-a-91b3-5e0c7d2f6a18b4c9";
const OTHER_KEY = "api-key-of-service-b-55aa-2d9f0b7e3c61a845";
const tokenPath = (t) => `/v1/tenants/${encodeURIComponent(t)}/tenant_access_token`;

const baseVars = (sb) => ({
  FEISHU_BASE_URL: sb.url,
  FEISHU_APP_ID: APP_ID,
  FEISHU_APP_SECRET: APP_SECRET,
  FEISHU_ENCRYPT_KEY: ENCRYPT_KEY,
  FEISHU_VERIFICATION_TOKEN: VERIFICATION_TOKEN,
  API_KEYS: `${API_KEY},${OTHER_KEY}`,
  UPSTREAM_TIMEOUT_MS: "1000",
  UPSTREAM_DEADLINE_MS: "1000",
});

let sb;
const logs = [];
const workers = [];
const dirs = [];
let n = 0;
const tenant = (label = "t") => `${label}-${process.pid}-${++n}`;

before(async () => {
  sb = await startSandbox({ quiet: true });
});
after(async () => {
  for (const w of workers) await w.mf.dispose().catch(() => {});
  await sb?.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function worker(extra = {}, opts = {}) {
  const w = await startBuiltWorker({
    vars: { ...baseVars(sb), ...extra },
    onLog: (l) => logs.push(l.message ?? String(l)),
    ...opts,
  });
  workers.push(w);
  return w;
}

async function control(pathname, body = {}) {
  const r = await fetch(`${sb.url}/__sandbox/${pathname}`, { method: "POST", body: JSON.stringify(body) });
  return r.json();
}

/** Points the sandbox's pushes for the app at `w` (or nowhere). */
const callbackTo = (w) =>
  control("callback", w ? { appId: APP_ID, url: `${w.url}/feishu/events`, encryptKey: ENCRYPT_KEY, verificationToken: VERIFICATION_TOKEN } : { appId: APP_ID, url: null });

function getToken(w, t, { key = API_KEY, headers = {} } = {}) {
  return w.mf.dispatchFetch(`http://worker${tokenPath(t)}`, {
    headers: { ...(key === null ? {} : { authorization: `Bearer ${key}` }), ...headers },
  });
}

const kvGet = (w, key) => w.mf.getKVNamespace("TOKENS").then((ns) => ns.get(key));
const ticketIn = (w) => kvGet(w, `ticket:v1:${APP_ID}`);
const resends = () => sb.stats().resendCalls ?? 0;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function until(what, f, ms = 5000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

/** A ready Worker: the sandbox pushed it a ticket. */
async function workerWithTicket(extra, opts) {
  const w = await worker(extra, opts);
  await callbackTo(w);
  const pushed = await control("push", { app_id: APP_ID });
  assert.equal(pushed.status, 200, JSON.stringify(pushed));
  // A resend an earlier test asked for may push a newer ticket meanwhile:
  // what must hold is that the Worker ends up with the sandbox's current one.
  const current = async () => (await (await fetch(`${sb.url}/__sandbox/ticket`)).json())[APP_ID];
  await until("the current ticket stored", async () => (await ticketIn(w)) === (await current()));
  return w;
}

test("the chain: an encrypted, signed ticket push, then a tenant token for an authorised service, then a KV-backed hit", async () => {
  const w = await workerWithTicket();
  const t = tenant();
  const before = sb.stats().requests;
  const r1 = await getToken(w, t);
  const b1 = await r1.json();
  assert.equal(r1.status, 200, JSON.stringify(b1));
  assert.deepEqual(Object.keys(b1).sort(), ["code", "expire", "msg", "tenant_access_token"]);
  assert.equal(b1.code, 0);
  assert.match(b1.tenant_access_token, /^t-/);
  assert.ok(b1.expire > 7000);
  assert.equal(r1.headers.get("x-cache"), "MISS");
  const r2 = await getToken(w, t, { key: OTHER_KEY });
  assert.equal(r2.status, 200);
  assert.equal(r2.headers.get("x-cache"), "HIT");
  assert.equal((await r2.json()).tenant_access_token, b1.tenant_access_token);
  const after = sb.stats().requests;
  const delta = (p) => (after[p] ?? 0) - (before[p] ?? 0);
  assert.equal(delta("/open-apis/auth/v3/app_access_token"), 1);
  assert.equal(delta("/open-apis/auth/v3/tenant_access_token"), 1);
  // The KV entries docs/store-app.md documents.
  assert.match(await kvGet(w, `aat:v1:${APP_ID}`), /"expires_at_ms":\d+/);
  const stored = JSON.parse(await kvGet(w, `tat:v1:${APP_ID}:${t}`));
  assert.equal(stored.tenant_access_token, b1.tenant_access_token);
});

test("state survives a restart: persisted KV serves the next isolate with no upstream call and at most two KV reads", async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "ftt-kv-"));
  dirs.push(dir);
  const first = await workerWithTicket({}, { kvPersist: dir });
  const t = tenant("restart");
  const firstAnswer = await getToken(first, t);
  assert.equal(firstAnswer.status, 200);
  const token = (await firstAnswer.json()).tenant_access_token;
  await first.mf.dispose();
  workers.splice(workers.indexOf(first), 1);

  const calls = sb.stats().requests;
  const second = await worker({}, { kvPersist: dir, faultyKv: true });
  const r = await getToken(second, t);
  assert.equal(r.status, 200);
  assert.equal(r.headers.get("x-cache"), "HIT");
  assert.equal(r.headers.get("x-cache-layer"), "kv");
  assert.equal((await r.json()).tenant_access_token, token);
  assert.deepEqual(sb.stats().requests, calls, "no upstream call");
  const kv = second.kvCalls();
  console.log(`cached managed request in a fresh isolate: ${kv.get ?? 0} KV read(s), ${kv.put ?? 0} write(s), 0 upstream calls`);
  assert.ok((kv.get ?? 0) >= 1 && (kv.get ?? 0) <= 2, `KV reads: ${JSON.stringify(kv)}`);
  assert.equal(kv.put ?? 0, 0);
  // A new tenant after the restart uses the persisted ticket's app token from KV.
  const r2 = await getToken(second, tenant("restart"));
  assert.equal(r2.status, 200);
  assert.equal(sb.stats().requests["/open-apis/auth/v3/app_access_token"], calls["/open-apis/auth/v3/app_access_token"]);
});

test("no ticket yet: one resend for several requests, 503 with retry-after, then the pushed ticket makes it work", async () => {
  const w = await worker();
  await callbackTo(null);
  const r0 = resends();
  for (let i = 0; i < 3; i++) {
    const r = await getToken(w, tenant("noticket"));
    const body = await r.json();
    assert.equal(r.status, 503, JSON.stringify(body));
    assert.equal(body.error, "APP_TICKET_MISSING");
    assert.equal(r.headers.get("retry-after"), "10");
  }
  assert.equal(resends() - r0, 1, "one resend per minute");
  // Feishu (the sandbox) delivers the ticket: the Worker is ready.
  await callbackTo(w);
  await control("push", { app_id: APP_ID });
  const r = await getToken(w, tenant("noticket"));
  assert.equal(r.status, 200);
});

test("10012: a stale ticket is dropped, a resend is asked for, 503; the resent ticket then works", async () => {
  const w = await workerWithTicket();
  await control("ticket/revoke", { app_id: APP_ID });
  await control("ticket/revoke", { app_id: APP_ID });
  const r0 = resends();
  const r = await getToken(w, tenant("stale"));
  const body = await r.json();
  assert.equal(r.status, 503, JSON.stringify(body));
  assert.equal(body.error, "APP_TICKET_MISSING");
  assert.match(body.msg, /10012/);
  assert.equal(resends() - r0, 1);
  // The sandbox pushes the resent ticket to the Worker shortly after.
  await until("the resent ticket", async () => (await ticketIn(w)) !== null);
  const again = await getToken(w, tenant("stale"));
  assert.equal(again.status, 200);
});

test("URL verification: signed or not, answered with the challenge; a wrong token is refused", async () => {
  const w = await worker();
  await callbackTo(w);
  for (const signed of [true, false]) {
    const v = await control("verify-url", { app_id: APP_ID, signed });
    assert.equal(v.ok, true, JSON.stringify(v));
    assert.equal(JSON.parse(v.body).challenge, v.challenge);
  }
  const cb = { appId: APP_ID, encryptKey: ENCRYPT_KEY, verificationToken: "wrong" };
  const r = await postEvent(w, seal(cb, challengeEvent(cb)));
  assert.equal(r.status, 401);
});

function postEvent(w, { body, headers }) {
  return w.mf.dispatchFetch(`http://worker/feishu/events`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body,
  });
}

test("forged events are refused with 401 and change nothing", async () => {
  const w = await workerWithTicket();
  const stored = await ticketIn(w);
  const cb = { appId: APP_ID, encryptKey: ENCRYPT_KEY, verificationToken: VERIFICATION_TOKEN };
  const good = () => seal(cb, ticketEvent(cb, "tkt-forged"));
  const cases = {
    "tampered body": () => {
      const s = good();
      const text = s.body.toString();
      const i = text.indexOf('"encrypt":"') + 20;
      const flipped = text.slice(0, i) + (text[i] === "A" ? "B" : "A") + text.slice(i + 1);
      return { ...s, body: Buffer.from(flipped) };
    },
    "bad signature": () => {
      const s = good();
      return { ...s, headers: { ...s.headers, "X-Lark-Signature": "0".repeat(64) } };
    },
    "old timestamp": () => {
      const body = Buffer.from(JSON.stringify({ encrypt: encrypt(ENCRYPT_KEY, JSON.stringify(ticketEvent(cb, "tkt-forged"))) }));
      const ts = String(Math.floor(Date.now() / 1000) - 301);
      return { body, headers: { "X-Lark-Request-Timestamp": ts, "X-Lark-Request-Nonce": "n", "X-Lark-Signature": sign(ts, "n", ENCRYPT_KEY, body) } };
    },
    "wrong verification token": () => seal({ ...cb, verificationToken: "not-the-token" }, ticketEvent({ ...cb, verificationToken: "not-the-token" }, "tkt-forged")),
    "wrong encrypt key": () => seal({ ...cb, encryptKey: "another-key" }, ticketEvent(cb, "tkt-forged")),
    unsigned: () => seal(cb, ticketEvent(cb, "tkt-forged"), { signed: false }),
    plaintext: () => ({ body: Buffer.from(JSON.stringify(ticketEvent(cb, "tkt-forged"))), headers: {} }),
  };
  const expected = {
    "tampered body": "INVALID_SIGNATURE",
    "bad signature": "INVALID_SIGNATURE",
    "old timestamp": "STALE_EVENT",
    "wrong verification token": "INVALID_VERIFICATION_TOKEN",
    "wrong encrypt key": "INVALID_SIGNATURE",
    unsigned: "INVALID_SIGNATURE",
    plaintext: "INVALID_SIGNATURE",
  };
  for (const [name, make] of Object.entries(cases)) {
    const r = await postEvent(w, make());
    const body = await r.json();
    assert.equal(r.status, 401, `${name}: ${JSON.stringify(body)}`);
    assert.equal(body.error, expected[name], name);
    assert.equal(await ticketIn(w), stored, `${name}: the stored ticket is untouched`);
  }
  // Another app's ticket and other events: acknowledged, not stored.
  const other = { ...cb, appId: "cli_other_app" };
  assert.equal((await postEvent(w, seal(other, ticketEvent(other, "tkt-other")))).status, 200);
  assert.equal(await ticketIn(w), stored);
});

test("API keys: none, wrong or malformed is 401; no API_KEYS at all refuses everyone; nothing leaks", async () => {
  const w = await workerWithTicket();
  const t = tenant("auth");
  for (const [key, headers] of [[null, {}], ["wrong-key", {}], [`${API_KEY}x`, {}], [API_KEY.slice(1), {}], [null, { authorization: API_KEY }], [null, { authorization: `Basic ${API_KEY}` }]]) {
    const r = await getToken(w, t, { key, headers });
    const text = await r.text();
    assert.equal(r.status, 401, text);
    assert.equal(r.headers.get("www-authenticate"), "Bearer");
    assert.equal(JSON.parse(text).error, "UNAUTHORIZED");
    assert.ok(!text.includes(API_KEY) && !text.includes("t-"), text);
  }
  const closed = await worker({ API_KEYS: "" });
  const calls = sb.stats().requests;
  const r = await getToken(closed, t);
  assert.equal(r.status, 500);
  assert.match((await r.json()).msg, /API_KEYS/);
  assert.deepEqual(sb.stats().requests, calls, "a refused request reaches no upstream");
  // A key shorter than 32 characters is a misconfiguration, named by its place, never shown.
  const weak = await worker({ API_KEYS: `${API_KEY},short-key-9f3a` });
  const refused = await getToken(weak, t);
  assert.equal(refused.status, 500);
  const why = await refused.json();
  assert.equal(why.error, "MISCONFIGURED");
  assert.match(why.msg, /API_KEYS: key 2 is shorter than 32/);
  assert.ok(!JSON.stringify(why).includes("short-key-9f3a"));
  // Without managed mode the routes do not exist.
  const plain = await startBuiltWorker({ vars: { FEISHU_BASE_URL: sb.url } });
  workers.push(plain);
  assert.equal((await getToken(plain, t)).status, 404);
  assert.equal((await plain.mf.dispatchFetch("http://worker/feishu/events", { method: "POST", body: "{}" })).status, 404);
});

test("no secret, ticket or token appears in any log line of these tests", () => {
  const text = logs.join("\n");
  assert.ok(logs.length > 0, "logs were captured");
  for (const secret of [APP_SECRET, ENCRYPT_KEY, VERIFICATION_TOKEN, API_KEY, OTHER_KEY, "tkt-", "t-", "a-"]) {
    assert.ok(!new RegExp(`(^|[^a-z])${secret.replace(/[-]/g, "\\-")}`).test(text), `a log line contains ${secret}`);
  }
});
