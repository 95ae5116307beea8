// Feishu's frequency limits met at the gateway (#35), in workerd against the
// sandbox enforcing them: a known limit paces calls before Feishu refuses,
// a limit learnt from Feishu's refusal holds every later call until the
// window reopens (the refused call replayed), a call that would wait past
// RATE_LIMIT_WAIT_MS gets Feishu's own 429 at once, a 230020 closes only
// its message, and a route with no limit waits for nothing.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startSandbox, SANDBOX_SELF_BUILT_APPS } from "../../sandbox/sandbox.mjs";
import { startBuiltWorker, startCoordinatedWorkers } from "./built-worker.mjs";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { fileURLToPath } from "node:url";

const run = promisify(execFile);

const APP = "cli_sandbox_internal_one";
const SECRET = SANDBOX_SELF_BUILT_APPS[APP].appSecret;
let sb;
const workers = [];
const logs = [];

before(async () => {
  sb = await startSandbox({ quiet: true });
});
after(async () => {
  for (const w of workers) await w.mf.dispose().catch(() => {});
  await sb?.close();
});

async function worker(vars = {}) {
  const w = await startBuiltWorker({
    vars: { FEISHU_BASE_URL: sb.url, SELF_BUILT_APPS: JSON.stringify({ [APP]: SECRET }), ...vars },
    onLog: (l) => logs.push(String(l.message ?? l)),
  });
  workers.push(w);
  return w;
}

const control = async (name, body = {}) => (await fetch(`${sb.url}/__sandbox/${name}`, { method: "POST", body: JSON.stringify(body) })).json();
async function tokenOf(w) {
  const r = await fetch(`${w.url}/open-apis/auth/v3/tenant_access_token/internal`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ app_id: APP, app_secret: SECRET }),
  });
  return (await r.json()).tenant_access_token;
}
const call = (w, token, path, init = {}) =>
  fetch(`${w.url}${path}`, { ...init, headers: { authorization: `Bearer ${token}`, ...(init.headers ?? {}) } });

/** Refusals Feishu (the sandbox) sent, by the second of its clock they fell in. */
function refusalsPerSecond() {
  const per = new Map();
  for (const r of sb.stats().limits.refused) per.set(Math.floor(r.at / 1000), (per.get(Math.floor(r.at / 1000)) ?? 0) + 1);
  return [...per.values()];
}

test("a known limit (RATE_LIMITS) paces calls: 20 at once to a 5-a-second API all succeed, none refused", async () => {
  sb.reset();
  await control("limits", { routes: { "GET /open-apis/im/v1/chats": { limit: 5 } } });
  const w = await worker({ RATE_LIMITS: JSON.stringify({ "GET /open-apis/im/v1/chats": "5/s" }) });
  const token = await tokenOf(w);
  const t = performance.now();
  const answers = await Promise.all(Array.from({ length: 20 }, () => call(w, token, "/open-apis/im/v1/chats")));
  const ms = performance.now() - t;
  for (const a of answers) assert.equal(a.status, 200, await a.text());
  assert.equal(sb.stats().limits.refused.length, 0, "paced before Feishu refused");
  assert.ok(ms >= 3_000, `20 calls at 5 a second took ${ms.toFixed(0)} ms`);
  const waited = answers.map((a) => Number(a.headers.get("x-ratelimit-waited-ms") ?? 0));
  // Every call but the first waited its turn and says so (the first may
  // too, by a millisecond, when the clock moved before it was admitted).
  assert.ok(waited.filter((x) => x > 0).length >= 19, `waited: ${waited}`);
  assert.ok(Math.max(...waited) >= 3_000, `the last waited ~19 slots: ${waited}`);
  assert.ok(answers.some((a) => /ratelimit;dur=/.test(a.headers.get("server-timing") ?? "")));
});

test("a limit learnt from Feishu: 20 calls a second for 3 s to a 5-a-second API, every call succeeds, at most one refusal per window", async () => {
  sb.reset();
  await control("limits", { routes: { "GET /open-apis/contact/v3/users/{id}": { limit: 5 } } });
  const w = await worker({ RATE_LIMIT_WAIT_MS: "15000" });
  const token = await tokenOf(w);
  const calls = [];
  for (let i = 0; i < 60; i++) {
    calls.push(call(w, token, `/open-apis/contact/v3/users/ou_${i % 7}`));
    await new Promise((r) => setTimeout(r, 50));
  }
  const answers = await Promise.all(calls);
  const statuses = answers.map((a) => a.status);
  assert.deepEqual([...new Set(statuses)], [200], `statuses: ${statuses.join(",")}`);
  const per = refusalsPerSecond();
  assert.ok(per.every((n) => n <= 1), `refusals per second: ${per}`);
  assert.ok(logs.some((l) => l.includes('"event":"rate_limit_closed"')), "a log line when the window closed");
});

test("a call that would wait past RATE_LIMIT_WAIT_MS gets Feishu's 429 at once, with Retry-After", async () => {
  sb.reset();
  const w = await worker({ RATE_LIMITS: JSON.stringify({ "POST /open-apis/im/v1/messages": "1/s" }), RATE_LIMIT_WAIT_MS: "1500" });
  const token = await tokenOf(w);
  const answers = await Promise.all(
    Array.from({ length: 5 }, () => call(w, token, "/open-apis/im/v1/messages?receive_id_type=chat_id", { method: "POST", body: "{}", headers: { "content-type": "application/json" } })),
  );
  const ok = answers.filter((a) => a.status === 200);
  const refused = answers.filter((a) => a.status === 429);
  assert.equal(ok.length, 2, "now, and one second later");
  assert.equal(refused.length, 3);
  for (const r of refused) {
    const body = await r.json();
    assert.equal(body.code, 99991400);
    assert.ok(Number(r.headers.get("retry-after")) >= 1);
  }
  assert.equal(sb.stats().apiCalls.length, 2, "the refused ones were never sent");
});

test("230020 closes only its message: another message's updates go on; an unlimited route waits for nothing", async () => {
  sb.reset();
  await control("limits", { updatesPerMessage: 2 });
  const w = await worker();
  const token = await tokenOf(w);
  const update = (id) => call(w, token, `/open-apis/im/v1/messages/${id}`, { method: "PATCH", body: "{}", headers: { "content-type": "application/json" } });
  const busy = await Promise.all(Array.from({ length: 6 }, () => update("om_busy1")));
  assert.deepEqual([...new Set(busy.map((a) => a.status))], [200], "each waited for the message's window, none failed");
  const t = performance.now();
  const other = await update("om_other2");
  assert.equal(other.status, 200);
  assert.equal(other.headers.get("x-ratelimit-waited-ms"), null, "another message is not held");
  const plain = await call(w, token, "/open-apis/im/v1/chats");
  assert.equal(plain.headers.get("x-ratelimit-waited-ms"), null);
  assert.ok(performance.now() - t < 1_000);
});

test("a card streamed at 20 updates a second for 5 s: the last content lands, no 230020, at most 5 a second sent", async () => {
  sb.reset();
  await control("limits", { updatesPerMessage: 5 });
  const w = await worker();
  const token = await tokenOf(w);
  const updates = [];
  for (let i = 0; i < 100; i++) {
    updates.push(call(w, token, "/open-apis/im/v1/messages/om_streamed7", { method: "PATCH", body: JSON.stringify({ content: i }), headers: { "content-type": "application/json" } }));
    await new Promise((r) => setTimeout(r, 50));
  }
  const answers = await Promise.all(updates);
  assert.deepEqual([...new Set(answers.map((a) => a.status))], [200]);
  const last = answers.at(-1);
  assert.equal(last.headers.get("x-coalesced"), null, "the last update was sent itself");
  assert.equal(JSON.parse((await last.json()).data.body).content, 99, "and its content is what landed");
  const coalesced = answers.filter((a) => a.headers.get("x-coalesced") === "1").length;
  const sent = sb.stats().apiCalls.filter((c) => c.method === "PATCH").length;
  assert.equal(sent + coalesced, 100, "each update either sent or answered by a newer one");
  assert.equal(sb.stats().limits.refused.length, 0, "no 230020");
  assert.ok(sent <= 5 * 6 + 1, `${sent} updates sent in ~5 s`);
});

// The fleet (#35): 10 official Node SDK processes of one app sending 20
// calls a second between them for 3 s to an API Feishu limits at 5 a second.
// Every call must wait up to ~9 s; RATE_LIMIT_WAIT_MS is above that.
const FLEET = 10;
const FLEET_CALLS = 6;
const FLEET_EVERY_MS = 500;
const child = fileURLToPath(new URL("./sdk-limited-child.mjs", import.meta.url));
async function fleet(urls, path) {
  const runs = await Promise.all(
    Array.from({ length: FLEET }, (_, i) =>
      run(process.execPath, [child, urls[i % urls.length], String(FLEET_CALLS), String(FLEET_EVERY_MS), String(i * (FLEET_EVERY_MS / FLEET)), path], { timeout: 60_000 }),
    ),
  );
  return runs.map((r) => JSON.parse(r.stdout.trim()));
}
const FLEET_VARS = { RATE_LIMIT_WAIT_MS: "15000", LOG_REQUESTS: "false" };

for (const [name, limits] of [
  ["known (RATE_LIMITS)", { RATE_LIMITS: JSON.stringify({ "GET /open-apis/im/v1/chats": "5/s" }) }],
  ["learnt from Feishu's first refusal", {}],
]) {
  test(`10 SDK processes, 20 calls a second for 3 s to a 5-a-second API, the limit ${name}: every call succeeds, at most one refusal per window`, async () => {
    sb.reset();
    await control("limits", { routes: { "GET /open-apis/im/v1/chats": { limit: 5 } } });
    const w = await worker({ ...FLEET_VARS, ...limits });
    const results = await fleet([w.url], "/open-apis/im/v1/chats");
    const codes = results.flatMap((r) => r.codes);
    assert.equal(codes.length, FLEET * FLEET_CALLS);
    assert.deepEqual([...new Set(codes)], [0], `codes: ${codes.join(",")}`);
    const per = refusalsPerSecond();
    assert.ok(per.every((n) => n <= 1), `refusals per second: ${per}`);
    if (!limits.RATE_LIMITS) assert.ok(per.length >= 1, "the limit was learnt from a refusal");
    const waits = results.flatMap((r) => r.ms);
    assert.ok(Math.max(...waits) > 5_000, `calls waited their turn (longest ${Math.max(...waits)} ms)`);
  });
}

test("two fronts with the limits' object bound: the same fleet split between them, every call succeeds, at most one refusal per window", async () => {
  sb.reset();
  await control("limits", { routes: { "GET /open-apis/im/v1/chats": { limit: 5 } } });
  const w = await startCoordinatedWorkers({
    vars: { FEISHU_BASE_URL: sb.url, SELF_BUILT_APPS: JSON.stringify({ [APP]: SECRET }), ...FLEET_VARS, RATE_LIMITS: JSON.stringify({ "GET /open-apis/im/v1/chats": "5/s" }) },
    sockets: true,
  });
  workers.push(w);
  const results = await fleet(w.fronts.map((f) => f.url), "/open-apis/im/v1/chats");
  const codes = results.flatMap((r) => r.codes);
  assert.deepEqual([...new Set(codes)], [0], `codes: ${codes.join(",")}`);
  const per = refusalsPerSecond();
  assert.ok(per.every((n) => n <= 1), `refusals per second: ${per}`);
  // (Each front pacing alone would send 10 a second between them: five refusals a second.)
});

test("with the limits' object bound, a route with no known or learnt limit makes no object question, nor does a made-up token; the app's token on a limited route asks it", async () => {
  sb.reset();
  // The stand-in counts every question to any object (and refuses them all:
  // the front then paces alone, as with a fault).
  const w = await startCoordinatedWorkers({
    vars: { FEISHU_BASE_URL: sb.url, RATE_LIMITS: JSON.stringify({ "GET /open-apis/im/v1/chats": "5/s" }) },
    coordinator: "refuses",
  });
  workers.push(w);
  // A token of the sandbox's own, not handed out by the Worker: the token objects are not asked either.
  const token = (
    await (await fetch(`${sb.url}/open-apis/auth/v3/tenant_access_token/internal`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ app_id: APP, app_secret: SECRET }) })).json()
  ).tenant_access_token;
  const get = (p, bearer = token) => w.fronts[0].fetch(p, { headers: { authorization: `Bearer ${bearer}` } });
  for (let i = 0; i < 20; i++) assert.equal((await get(`/open-apis/contact/v3/users/ou_${i}`)).status, 200);
  assert.equal(await w.questions(), 0, "an unlimited route asked no object");
  // An anonymous caller with made-up tokens on the limited route: Feishu refuses them, no object is asked.
  for (let i = 0; i < 5; i++) assert.equal((await get("/open-apis/im/v1/chats", `t-madeup${i}`.padEnd(40, "x"))).status, 400);
  assert.equal(await w.questions(), 0, "a made-up token never costs an object question");
  // The app's token: accepted by Feishu once (paced by the isolate), then its limits ask the object.
  assert.equal((await get("/open-apis/im/v1/chats")).status, 200);
  assert.equal(await w.questions(), 0, "not yet vouched for");
  const limited = await get("/open-apis/im/v1/chats");
  assert.equal(limited.status, 200, "a fault of the object leaves the front pacing alone");
  assert.equal(await w.questions(), 1, "a vouched token's limited call asks the limits' object");
});
