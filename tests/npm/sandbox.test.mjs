// The sandbox (sandbox/): its store-app side (rotating app_tickets,
// app_access_token and app_ticket/resend with Feishu's error codes, and
// app_ticket events pushed to a callback receiver, plain or encrypted and
// signed), and its frequency limits (sandbox/limits.mjs). The receiver here
// decrypts and verifies with node:crypto on its own, following Feishu's
// published event encryption rules, not the sandbox's code.
// Needs no build: run with `node --test tests/npm/sandbox.test.mjs`.
import { test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { createDecipheriv, createHash, timingSafeEqual } from "node:crypto";
import { startSandbox, SANDBOX_APPS, SANDBOX_TENANT, PATHS } from "../../sandbox/sandbox.mjs";

const APP = "cli_sandbox_app_one";
const APP_TWO = "cli_sandbox_app_two";
const SECRET = SANDBOX_APPS[APP].appSecret;
const FIRST_TICKET = `ticket-${APP}`;
const TICKET = /^tkt-[0-9a-f]{32}$/;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `cond` until it holds; a push lands at the receiver a moment before the sandbox records it. */
async function until(cond, what, ms = 2000) {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

function decrypt(encryptKey, b64, { autoPadding = true } = {}) {
  const buf = Buffer.from(b64, "base64");
  const key = createHash("sha256").update(encryptKey).digest();
  const d = createDecipheriv("aes-256-cbc", key, buf.subarray(0, 16));
  d.setAutoPadding(autoPadding);
  return Buffer.concat([d.update(buf.subarray(16)), d.final()]);
}

const signature = (ts, nonce, encryptKey, raw) =>
  createHash("sha256").update(ts + nonce + encryptKey).update(raw).digest("hex");

function signatureValid(hit, encryptKey) {
  const h = hit.headers;
  const want = Buffer.from(signature(h["x-lark-request-timestamp"], h["x-lark-request-nonce"], encryptKey, hit.raw));
  const got = Buffer.from(h["x-lark-signature"] ?? "");
  return got.length === want.length && timingSafeEqual(got, want);
}

/**
 * An app's event callback on 127.0.0.1:0. Records every request; decrypts
 * when given the encrypt key; echoes url_verification challenges. `reply`
 * (settable later) may override the answer: (hit) => ({status, body}) | undefined.
 */
async function startReceiver({ encryptKey, reply } = {}) {
  const rx = { got: [], reply };
  const server = http.createServer(async (req, res) => {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const raw = Buffer.concat(chunks);
    const envelope = JSON.parse(raw);
    const event = encryptKey ? JSON.parse(decrypt(encryptKey, envelope.encrypt)) : envelope;
    const hit = { method: req.method, headers: req.headers, raw, envelope, event, at: Date.now() };
    rx.got.push(hit);
    const echo = event.type === "url_verification" ? { challenge: event.challenge } : { msg: "received" };
    const { status = 200, body = JSON.stringify(echo) } = rx.reply?.(hit, rx.got.length) ?? {};
    res.writeHead(status, { "content-type": "application/json" }).end(body);
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  rx.url = `http://127.0.0.1:${server.address().port}/feishu/events`;
  rx.waitFor = async (n) => {
    await until(() => rx.got.length >= n, `push #${n} at the receiver`);
    return rx.got;
  };
  rx.close = () =>
    new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return rx;
}

/** A receiver and a sandbox pushing to it, both closed when the test ends. */
async function setup(t, receiverOpts = {}, { callback = {}, ...sandboxOpts } = {}) {
  const rx = await startReceiver(receiverOpts);
  const sb = await startSandbox({ quiet: true, ...sandboxOpts, callback: { url: rx.url, ...callback } });
  t.after(async () => {
    await sb.close();
    await rx.close();
  });
  return { rx, sb };
}

async function call(sb, path, body, method = "POST") {
  const init = method === "POST" ? { method, headers: { "content-type": "application/json" }, body: JSON.stringify(body) } : {};
  const r = await fetch(sb.url + path, init);
  const text = await r.text();
  return { status: r.status, headers: r.headers, text, json: JSON.parse(text) };
}

const appToken = (sb, app_ticket, { app_id = APP, app_secret = SECRET } = {}) =>
  call(sb, PATHS.appToken, { app_id, app_secret, app_ticket });
const currentTicket = async (sb, appId = APP) => (await call(sb, "/__sandbox/ticket", null, "GET")).json[appId];
const ticketOf = (hit) => hit.event.event.app_ticket;

async function assertTicketWorks(sb, ticket, label) {
  const r = await appToken(sb, ticket);
  assert.equal(r.status, 200, `${label}: ${r.text}`);
  assert.equal(r.json.code, 0, label);
  assert.match(r.json.app_access_token, /^a-[0-9a-f]{40}$/, label);
  return r;
}

async function assertTicketStale(sb, ticket, label) {
  const r = await appToken(sb, ticket);
  assert.equal(r.status, 400, label);
  assert.deepEqual(r.json, { code: 10012, msg: "app_ticket is invalid" }, label);
}

test("a plain schema 1.0 push arrives on start and its ticket buys an app_access_token, which buys a tenant token", async (t) => {
  const startedAt = Date.now();
  const { rx, sb } = await setup(t, {}, { callback: { verificationToken: "vt-plain" } });
  const [hit] = await rx.waitFor(1);

  assert.equal(hit.method, "POST");
  assert.match(hit.headers["content-type"], /^application\/json\b/);
  assert.equal(hit.headers["x-lark-signature"], undefined, "no encrypt key, no signature");
  const { ts, uuid, ...rest } = hit.event;
  const ticket = ticketOf(hit);
  assert.match(ticket, TICKET);
  assert.deepEqual(rest, { token: "vt-plain", type: "event_callback", event: { app_id: APP, app_ticket: ticket, type: "app_ticket" } });
  assert.match(ts, /^\d{10}$/);
  assert.ok(Math.abs(Number(ts) - startedAt / 1000) <= 2, `ts ${ts}`);
  assert.match(uuid, /^[0-9a-f]{16,}$/);
  assert.equal(await currentTicket(sb), ticket);

  const r = await assertTicketWorks(sb, ticket, "pushed ticket");
  assert.ok(r.json.expire >= 7199 && r.json.expire <= 7200, `expire ${r.json.expire}`);
  assert.equal(r.headers.get("x-ogw-ratelimit-limit"), "50");
  assert.match(r.headers.get("x-ogw-ratelimit-reset"), /^\d+$/);
  const tenant = await call(sb, PATHS.tenantToken, { app_access_token: r.json.app_access_token, tenant_key: SANDBOX_TENANT });
  assert.equal(tenant.json.code, 0);
  assert.match(tenant.json.tenant_access_token, /^t-/);

  await until(() => sb.stats().pushes.ok === 1, "the push in stats");
  const stats = sb.stats();
  assert.deepEqual(stats.pushes, { ok: 1, failed: 0, gaveUp: 0 });
  assert.equal(stats.lastPush.status, 200);
  assert.equal(stats.lastPush.reason, "start");
  assert.equal(rx.got.length, 1, "exactly one push on start");
});

test("encrypted pushes: AES-256-CBC with SHA-256(key), IV first, PKCS#7, signed over the raw bytes", async (t) => {
  const key = "sandbox-encrypt-key-42";
  const { rx, sb } = await setup(t, { encryptKey: key }, { callback: { encryptKey: key, verificationToken: "vt-enc" } });
  const [first] = await rx.waitFor(1);

  assert.deepEqual(Object.keys(first.envelope), ["encrypt"]);
  assert.ok(signatureValid(first, key), "signature over the raw body verifies");
  assert.match(first.headers["x-lark-request-timestamp"], /^\d{10}$/);
  assert.ok(Math.abs(Number(first.headers["x-lark-request-timestamp"]) - Date.now() / 1000) <= 2);
  assert.ok(first.headers["x-lark-request-nonce"].length > 0);
  const reserialised = Buffer.from(JSON.stringify(first.envelope, null, 1));
  assert.ok(!signatureValid({ ...first, raw: reserialised }, key), "re-serialised JSON must not verify");
  assert.ok(!signatureValid(first, "another-key"), "the key is part of the signature");

  assert.equal(first.event.type, "event_callback");
  assert.equal(first.event.token, "vt-enc");
  assert.deepEqual(first.event.event, { app_id: APP, app_ticket: await currentTicket(sb), type: "app_ticket" });
  const padded = decrypt(key, first.envelope.encrypt, { autoPadding: false });
  const pad = padded.at(-1);
  assert.ok(pad >= 1 && pad <= 16 && padded.subarray(-pad).every((b) => b === pad), "PKCS#7 padding");
  assert.equal(padded.subarray(0, -pad).toString(), JSON.stringify(first.event));

  const pushed = await call(sb, "/__sandbox/push", {});
  const [, second] = await rx.waitFor(2);
  assert.equal(ticketOf(second), pushed.json.ticket);
  assert.ok(signatureValid(second, key));
  assert.notEqual(second.headers["x-lark-request-nonce"], first.headers["x-lark-request-nonce"]);
  const iv = (hit) => Buffer.from(hit.envelope.encrypt, "base64").subarray(0, 16).toString("hex");
  assert.notEqual(iv(second), iv(first), "a fresh IV per push");
});

test("resend: answered at once, a new ticket is pushed later; the previous one stays valid, the one before fails with 10012", async (t) => {
  const { rx, sb } = await setup(t, {}, { resendDelayMs: 60 });
  const [start] = await rx.waitFor(1);
  const t1 = ticketOf(start);

  const wrong = await call(sb, PATHS.ticketResend, { app_id: APP, app_secret: "not-the-secret" });
  assert.equal(wrong.status, 400);
  assert.equal(wrong.json.code, 10003);

  const askedAt = Date.now();
  const ok = await call(sb, PATHS.ticketResend, { app_id: APP, app_secret: SECRET });
  assert.equal(ok.status, 200);
  assert.deepEqual(ok.json, { code: 0, msg: "ok" });
  assert.equal(rx.got.length, 1, "the push comes after resendDelayMs, not with the answer");
  const [, second] = await rx.waitFor(2);
  assert.ok(second.at - askedAt >= 50, `pushed after ${second.at - askedAt} ms`);
  const t2 = ticketOf(second);
  assert.match(t2, TICKET);
  assert.notEqual(t2, t1);

  await assertTicketWorks(sb, t2, "new ticket");
  await assertTicketWorks(sb, t1, "previous ticket (grace)");
  await assertTicketStale(sb, FIRST_TICKET, "the ticket before the previous one");

  await call(sb, PATHS.ticketResend, { app_id: APP, app_secret: SECRET });
  const [, , third] = await rx.waitFor(3);
  assert.notEqual(ticketOf(third), t2);
  await assertTicketStale(sb, t1, "two rotations ago");
  await assertTicketWorks(sb, t2, "previous after the second resend");

  await until(() => sb.stats().pushes.ok === 3, "three pushes in stats");
  assert.equal(sb.stats().resendCalls, 2, "only accepted resends count");
  assert.equal(sb.stats().lastPush.reason, "resend");
});

test("revoke: a new ticket is set without a push, so the receiver's ticket is stale (10012); bad credentials give 10003", async (t) => {
  const { rx, sb } = await setup(t);
  const [start] = await rx.waitFor(1);
  const stored = ticketOf(start);

  const revoked = await call(sb, "/__sandbox/ticket/revoke", {});
  assert.equal(revoked.json.app_id, APP);
  assert.match(revoked.json.ticket, TICKET);
  assert.notEqual(revoked.json.ticket, stored);
  assert.equal(await currentTicket(sb), revoked.json.ticket);
  await assertTicketStale(sb, stored, "the receiver's ticket");
  await assertTicketStale(sb, FIRST_TICKET, "no grace after a revoke");
  await assertTicketWorks(sb, revoked.json.ticket, "the revoked-to ticket");
  await sleep(50);
  assert.equal(rx.got.length, 1, "revoke pushes nothing");

  const badSecret = await appToken(sb, revoked.json.ticket, { app_secret: "wrong" });
  assert.equal(badSecret.status, 400);
  assert.equal(badSecret.json.code, 10003);
  const unknownApp = await appToken(sb, revoked.json.ticket, { app_id: "cli_nobody" });
  assert.equal(unknownApp.json.code, 10003);
  const otherAppsTicket = await appToken(sb, revoked.json.ticket, { app_id: APP_TWO, app_secret: SANDBOX_APPS[APP_TWO].appSecret });
  assert.equal(otherAppsTicket.json.code, 10012, "tickets are per app");
  const noTicket = await call(sb, PATHS.appToken, { app_id: APP, app_secret: SECRET });
  assert.equal(noTicket.json.code, 10012);
});

test("verify-url: the challenge round trip, plain and encrypted; a wrong echo is reported", async (t) => {
  const { rx, sb } = await setup(t, {}, { callback: { verificationToken: "vt-verify" } });
  await rx.waitFor(1);
  const plain = await call(sb, "/__sandbox/verify-url", {});
  assert.equal(plain.json.ok, true);
  assert.equal(plain.json.status, 200);
  assert.deepEqual(JSON.parse(plain.json.body), { challenge: plain.json.challenge });
  assert.deepEqual(rx.got[1].event, { challenge: plain.json.challenge, token: "vt-verify", type: "url_verification" });

  rx.reply = () => ({ body: JSON.stringify({ challenge: "something else" }) });
  const wrongEcho = await call(sb, "/__sandbox/verify-url", {});
  assert.equal(wrongEcho.json.ok, false);
  assert.equal(wrongEcho.json.status, 200);

  const key = "verify-encrypt-key";
  const enc = await setup(t, { encryptKey: key }, { callback: { encryptKey: key, verificationToken: "vt-verify" } });
  await enc.rx.waitFor(1);
  const sealed = await call(enc.sb, "/__sandbox/verify-url", { app_id: APP });
  assert.equal(sealed.json.ok, true);
  const hit = enc.rx.got[1];
  assert.deepEqual(Object.keys(hit.envelope), ["encrypt"], "challenges arrive encrypted too");
  assert.ok(signatureValid(hit, key));
  assert.deepEqual(hit.event, { challenge: sealed.json.challenge, token: "vt-verify", type: "url_verification" });

  const unsigned = await call(enc.sb, "/__sandbox/verify-url", { signed: false });
  assert.equal(unsigned.json.ok, true);
  const bare = enc.rx.got[2];
  assert.equal(bare.headers["x-lark-signature"], undefined, "signed: false sends no signature headers");
  assert.equal(bare.headers["x-lark-request-nonce"], undefined);
  assert.equal(bare.event.challenge, unsigned.json.challenge, "but still encrypted");
});

test("a failed push is retried after pushRetryMs with the same event, and given up after 5 retries", async (t) => {
  const { rx, sb } = await setup(t, { reply: (hit, n) => (n === 1 ? { status: 500, body: "oops" } : undefined) }, { pushRetryMs: 40 });
  const [first, second] = await rx.waitFor(2);
  assert.deepEqual(second.event, first.event, "the retry carries the same event (ticket, uuid)");
  assert.ok(second.at - first.at >= 30, `retried after ${second.at - first.at} ms`);
  await until(() => sb.stats().pushes.ok === 1, "the retry in stats");
  assert.deepEqual(sb.stats().pushes, { ok: 1, failed: 1, gaveUp: 0 });
  assert.equal(sb.stats().lastPush.attempt, 2);
  await assertTicketWorks(sb, ticketOf(second), "the retried ticket");

  const down = await setup(t, { reply: () => ({ status: 503 }) }, { pushRetryMs: 10 });
  await until(() => down.sb.stats().pushes.gaveUp === 1, "giving up");
  assert.equal(down.rx.got.length, 6, "one attempt and five retries");
  assert.equal(new Set(down.rx.got.map((h) => h.event.uuid)).size, 1);
  await sleep(50);
  assert.equal(down.rx.got.length, 6, "nothing after giving up");
  assert.deepEqual(down.sb.stats().pushes, { ok: 0, failed: 6, gaveUp: 1 });
  assert.equal(down.sb.stats().lastPush.status, 503);

  // A receiver that is not there at all: a network error, counted the same way.
  const gone = await startReceiver();
  await gone.close();
  const lonely = await startSandbox({ quiet: true, pushRetryMs: 10, callback: { url: gone.url } });
  t.after(() => lonely.close());
  await until(() => lonely.stats().pushes.gaveUp === 1, "giving up on a closed port");
  assert.equal(lonely.stats().pushes.failed, 6);
  assert.equal(lonely.stats().lastPush.status, null);
  assert.match(lonely.stats().lastPush.error, /ECONNREFUSED/);
});

test("schema 2.0 events, and /__sandbox/push answers with the callback's status and body", async (t) => {
  const { rx, sb } = await setup(t, {}, { callback: { schema: "2.0", verificationToken: "vt-2" } });
  const [hit] = await rx.waitFor(1);
  const { header, ...rest } = hit.event;
  const ticket = ticketOf(hit);
  assert.deepEqual(rest, { schema: "2.0", event: { app_id: APP, app_ticket: ticket, type: "app_ticket" } });
  const { event_id, create_time, ...fixed } = header;
  assert.deepEqual(fixed, { event_type: "app_ticket", token: "vt-2", app_id: APP, tenant_key: "" });
  assert.match(event_id, /^[0-9a-f]{16,}$/);
  assert.match(create_time, /^\d{13}$/);
  assert.ok(Math.abs(Number(create_time) - Date.now()) < 2000);

  rx.reply = () => ({ status: 202, body: '{"got":"it"}' });
  const pushed = await call(sb, "/__sandbox/push", { app_id: APP });
  assert.equal(pushed.status, 200);
  assert.equal(pushed.json.status, 202);
  assert.equal(pushed.json.body, '{"got":"it"}');
  assert.equal(ticketOf(rx.got[1]), pushed.json.ticket);
  assert.notEqual(rx.got[1].event.header.event_id, event_id);
  await assertTicketWorks(sb, pushed.json.ticket, "manually pushed ticket");

  rx.reply = () => ({ status: 500 });
  const failed = await call(sb, "/__sandbox/push", {});
  assert.equal(failed.json.status, 500);
  await sleep(30);
  assert.equal(rx.got.length, 3, "no retry on the manual path");
});

test("the timer pushes a new ticket every everySecs and stops on close", async (t) => {
  const { rx, sb } = await setup(t, {}, { callback: { everySecs: 0.1 } });
  const got = await rx.waitFor(3);
  const tickets = got.slice(0, 3).map(ticketOf);
  assert.equal(new Set(tickets).size, 3, "each tick rotates");
  assert.ok(got[2].at - got[1].at >= 80, `tick gap ${got[2].at - got[1].at} ms`);
  await until(() => sb.stats().lastPush?.reason === "timer", "a timer push in stats");
  await assertTicketWorks(sb, await currentTicket(sb), "latest timer ticket");

  await sb.close();
  const seen = rx.got.length;
  await sleep(250);
  assert.equal(rx.got.length, seen, "no pushes after close");
});

test("callbacks at runtime, faults on the store-app endpoints, and reset keeping the start config", async (t) => {
  const { rx, sb } = await setup(t);
  await rx.waitFor(1);
  const rxTwo = await startReceiver({ encryptKey: "secret-key-for-two" });
  t.after(() => rxTwo.close());

  const set = await call(sb, "/__sandbox/callback", { appId: APP_TWO, url: rxTwo.url, encryptKey: "secret-key-for-two", schema: "2.0" });
  assert.equal(set.status, 200);
  assert.deepEqual(set.json.callbacks.map((c) => [c.appId, c.encrypted, c.schema]), [[APP, false, "1.0"], [APP_TWO, true, "2.0"]]);
  assert.ok(!JSON.stringify(sb.stats()).includes("secret-key-for-two"), "the encrypt key never shows in stats");
  const pushed = await call(sb, "/__sandbox/push", { app_id: APP_TWO });
  assert.equal(pushed.json.status, 200);
  assert.deepEqual(rxTwo.got[0].event.event, { app_id: APP_TWO, app_ticket: pushed.json.ticket, type: "app_ticket" });

  for (const bad of [{ url: "ftp://example" }, { appId: "cli_nobody", url: rx.url }, { url: rx.url, schema: "3.0" }, { url: rx.url, everySecs: -1 }]) {
    assert.equal((await call(sb, "/__sandbox/callback", bad)).status, 400, JSON.stringify(bad));
  }
  await call(sb, "/__sandbox/callback", { appId: APP_TWO, url: null });
  assert.equal((await call(sb, "/__sandbox/push", { app_id: APP_TWO })).status, 409);
  assert.equal((await call(sb, "/__sandbox/verify-url", { app_id: APP_TWO })).status, 409);

  const ticket = await currentTicket(sb);
  await call(sb, "/__sandbox/faults", { fault: "500", count: 1 });
  assert.equal((await appToken(sb, ticket)).status, 500, "the queued fault hits app_access_token");
  await assertTicketWorks(sb, ticket, "after the fault");
  await call(sb, "/__sandbox/faults", { fault: "429", count: 1 });
  const limited = await call(sb, PATHS.ticketResend, { app_id: APP, app_secret: SECRET });
  assert.equal(limited.status, 429);
  assert.equal(limited.json.code, 99991400);
  assert.equal(sb.stats().resendCalls, 0, "a faulted resend did nothing");

  const reset = await call(sb, "/__sandbox/reset", {});
  assert.deepEqual(reset.json.callbacks.map((c) => c.appId), [APP], "the start callback stays, the runtime one goes");
  assert.equal(reset.json.resendCalls, 0);
  assert.equal(await currentTicket(sb, APP_TWO), `ticket-${APP_TWO}`);
  const [, again] = await rx.waitFor(2);
  assert.equal(ticketOf(again), await currentTicket(sb), "reset pushes a fresh ticket like a start");
  await until(() => sb.stats().pushes.ok === 1, "stats counting from the reset");

  const index = await call(sb, "/__sandbox", null, "GET");
  for (const c of ["POST /__sandbox/push", "POST /__sandbox/verify-url", "POST /__sandbox/ticket/revoke", "POST /__sandbox/callback"]) {
    assert.ok(c in index.json.controls, c);
  }
});

test("frequency limits as Feishu answers them: per app, tenant and API, 429 with its headers (or 400), 230020 per message, 11232 per app", async (t) => {
  const sb = await startSandbox({ quiet: true });
  t.after(() => sb.close());
  const { SANDBOX_SELF_BUILT_APPS } = await import("../../sandbox/sandbox.mjs");
  const ask = (path, body) =>
    fetch(`${sb.url}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) }).then((r) => r.json());
  const tokenOf = async (app) =>
    (await ask("/open-apis/auth/v3/tenant_access_token/internal", { app_id: app, app_secret: SANDBOX_SELF_BUILT_APPS[app].appSecret })).tenant_access_token;
  const [one, two] = Object.keys(SANDBOX_SELF_BUILT_APPS);
  const [a, b] = [await tokenOf(one), await tokenOf(two)];
  const call = (token, method, path) =>
    fetch(`${sb.url}${path}`, { method, headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: method === "GET" ? undefined : "{}" });
  const set = await ask("/__sandbox/limits", {
    routes: { "GET /open-apis/im/v1/chats": { limit: 2 }, "GET /open-apis/contact/v3/users/{id}": { limit: 1, style: "400" } },
    updatesPerMessage: 1,
    sendsPerSecond: 1,
  });
  assert.equal(set.error, undefined, JSON.stringify(set));
  // Run inside one second of the sandbox's clock: wait for the next second to begin.
  await sleep(1000 - (Date.now() % 1000) + 20);
  const statuses = [];
  for (let i = 0; i < 3; i++) statuses.push((await call(a, "GET", "/open-apis/im/v1/chats")).status);
  assert.deepEqual(statuses, [200, 200, 429]);
  const limited = await call(a, "GET", "/open-apis/im/v1/chats");
  assert.equal(limited.headers.get("x-ogw-ratelimit-limit"), "2");
  assert.ok(Number(limited.headers.get("x-ogw-ratelimit-reset")) >= 1);
  assert.equal((await limited.json()).code, 99991400);
  assert.equal((await call(b, "GET", "/open-apis/im/v1/chats")).status, 200, "another app's count is its own");
  assert.equal((await call(a, "GET", "/open-apis/contact/v3/users/ou_1")).status, 200);
  const old = await call(a, "GET", "/open-apis/contact/v3/users/ou_2");
  assert.equal(old.status, 400, "ids replaced: the same API; the older style answers 400");
  assert.equal((await old.json()).code, 99991400);
  assert.equal((await call(a, "PATCH", "/open-apis/im/v1/messages/om_1")).status, 200);
  const busy = await call(a, "PATCH", "/open-apis/im/v1/messages/om_1");
  assert.deepEqual([busy.status, (await busy.json()).code], [400, 230020]);
  assert.equal((await call(a, "PATCH", "/open-apis/im/v1/messages/om_2")).status, 200, "another message is not held");
  assert.equal((await call(a, "POST", "/open-apis/im/v1/messages")).status, 200);
  const sends = await call(a, "POST", "/open-apis/im/v1/messages");
  assert.deepEqual([sends.status, (await sends.json()).code], [400, 11232]);
  const kinds = sb.stats().limits.refused.map((r) => r.kind);
  assert.deepEqual(kinds, ["99991400", "99991400", "99991400", "230020", "11232"]);
  const bad = await ask("/__sandbox/limits", { routes: { "/open-apis/x": { limit: 1 } } });
  assert.match(bad.error, /METHOD/);
});
