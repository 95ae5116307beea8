// The Durable Object coordinator (COORDINATOR, class TokenCoordinator) in
// workerd: two front Workers with separate memory and one object per key on
// one KV namespace. Concurrent cold requests split between the fronts make
// one upstream call; a hot key's token is renewed by the object's alarm
// before any request misses; a coordinator that throws leaves the fronts
// fetching by themselves (logged once per isolate, no secret).
import { test, before, after, beforeEach } from "node:test";
import assert from "node:assert/strict";
import { startSandbox, SANDBOX_APPS, SANDBOX_SELF_BUILT_APPS } from "../../sandbox/sandbox.mjs";
import { startCoordinatedWorkers } from "./built-worker.mjs";

const TENANT = "/open-apis/auth/v3/tenant_access_token";
const INTERNAL = "/open-apis/auth/v3/tenant_access_token/internal";
const APP_TOKEN = SANDBOX_APPS.cli_sandbox_app_one.appAccessToken;
const SELF_ID = "cli_sandbox_internal_one";
const SELF = { app_id: SELF_ID, app_secret: SANDBOX_SELF_BUILT_APPS[SELF_ID].appSecret };

let sb;
const started = [];
const logs = [];

before(async () => {
  sb = await startSandbox({ quiet: true });
});
after(async () => {
  for (const w of started) await w.mf.dispose().catch(() => {});
  await sb?.close();
});
beforeEach(() => sb.reset());

async function workers(opts = {}, vars = {}) {
  const w = await startCoordinatedWorkers({
    vars: { FEISHU_BASE_URL: sb.url, UPSTREAM_TIMEOUT_MS: "3000", UPSTREAM_DEADLINE_MS: "3000", ...vars },
    onLog: (l) => logs.push(String(l.message ?? l)),
    ...opts,
  });
  started.push(w);
  return w;
}

const post = (front, path, body, headers = {}) =>
  front.fetch(path, { method: "POST", headers: { "content-type": "application/json; charset=utf-8", ...headers }, body: JSON.stringify(body) });
const tenantBody = (tenant_key) => ({ app_access_token: APP_TOKEN, tenant_key });

/** 200 requests, alternating between the fronts, all at once. */
async function stampede(w, path, body, n = 200) {
  const answers = await Promise.all(
    Array.from({ length: n }, async (_, i) => {
      const r = await post(w.fronts[i % w.fronts.length], path, body);
      return { status: r.status, layer: r.headers.get("x-cache-layer"), body: await r.json() };
    }),
  );
  return answers;
}

test("200 concurrent cold requests split between two fronts make exactly one upstream call", async () => {
  const w = await workers();
  const answers = await stampede(w, TENANT, tenantBody("coordinated-1"));
  assert.deepEqual([...new Set(answers.map((a) => a.status))], [200]);
  assert.equal(new Set(answers.map((a) => a.body.tenant_access_token)).size, 1);
  assert.equal(sb.stats().tenantTokenCalls, 1);
  // Each front's one fetch went to the object; the rest joined in memory.
  assert.ok(answers.some((a) => a.layer === "coordinator"), JSON.stringify([...new Set(answers.map((a) => a.layer))]));

  // A self-built app's token too.
  const internal = await stampede(w, INTERNAL, SELF);
  assert.deepEqual([...new Set(internal.map((a) => a.status))], [200]);
  assert.equal(new Set(internal.map((a) => a.body.tenant_access_token)).size, 1);
  assert.equal(sb.stats().internalTenantTokenCalls, 1);
});

test("Feishu's refusal comes back through the object as it is, from one upstream call", async () => {
  const w = await workers();
  const answers = await stampede(w, TENANT, { app_access_token: "a-not-issued-by-feishu", tenant_key: "t-1" }, 40);
  const codes = new Set(answers.map((a) => `${a.status} ${a.body.code}`));
  assert.equal(codes.size, 1, [...codes].join());
  assert.notEqual(answers[0].status, 200);
  assert.equal(sb.stats().tenantTokenCalls, 1);
});

test("a hot key's token is renewed by the object's alarm before any request misses", async () => {
  // Tokens live 66 s and rotate below 60 s left; the Worker serves a token
  // while 60 s remain: each token is servable for 6 s.
  await fetch(`${sb.url}/__sandbox/config`, { method: "POST", body: JSON.stringify({ lifetimeSecs: 66, rotateBeforeSecs: 60 }) });
  const w = await workers({}, { MIN_VALIDITY_SECS: "60" });
  const first = await post(w.fronts[0], TENANT, tenantBody("hot-1"));
  assert.equal(first.status, 200);
  const a = (await first.json()).tenant_access_token;
  assert.equal(sb.stats().tenantTokenCalls, 1);
  // The alarm renews the token 1 s after it leaves the window (6 s): wait
  // for Feishu's second call, without asking the Worker meanwhile.
  const deadline = Date.now() + 20_000;
  while (sb.stats().tenantTokenCalls < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  assert.equal(sb.stats().tenantTokenCalls, 2, "the alarm asked Feishu");
  await new Promise((r) => setTimeout(r, 300));
  for (const front of w.fronts) {
    const r = await post(front, TENANT, tenantBody("hot-1"));
    const b = (await r.json()).tenant_access_token;
    assert.notEqual(b, a, "a new token");
    // From KV, or (the token being in its last minutes of service, which
    // with a 6 s window is always) confirmed with the object: never Feishu.
    assert.ok(["kv", "coordinator"].includes(r.headers.get("x-cache-layer")), r.headers.get("x-cache-layer"));
  }
  assert.equal(sb.stats().tenantTokenCalls, 2, "no request waited on Feishu");
  // Its object renews this 6 s token every 7 s while the key is hot: stop it
  // before other tests count Feishu's calls.
  started.splice(started.indexOf(w), 1);
  await w.mf.dispose();
});

test("a coordinator that throws: each front fetches by itself, logged once, no secret", async () => {
  logs.length = 0;
  const w = await workers({ coordinator: "throws" });
  const answers = await stampede(w, TENANT, tenantBody("fallback-1"), 100);
  assert.deepEqual([...new Set(answers.map((a) => a.status))], [200]);
  assert.ok(sb.stats().tenantTokenCalls <= 2, `one per isolate at most: ${sb.stats().tenantTokenCalls}`);
  const internal = await stampede(w, INTERNAL, SELF, 20);
  assert.deepEqual([...new Set(internal.map((a) => a.status))], [200]);
  const faults = logs.filter((l) => l.includes("coordinator_failed"));
  assert.ok(faults.length >= 1 && faults.length <= 2, `once per isolate per minute: ${faults.length}`);
  for (const l of logs) {
    assert.ok(!l.includes(APP_TOKEN) && !l.includes(SELF.app_secret), l);
    for (const a of [...answers, ...internal]) assert.ok(!l.includes(a.body.tenant_access_token), l);
  }
});

// The fault matrix's coordinator column: each upstream fault with the object
// answering ("ours"), the object throwing, and no binding. The answer is the
// same in every column (the rules of tests/worker/fault-matrix.test.mjs);
// what differs is who asked Feishu: with the object, the object alone (its
// attempts), since it relays what Feishu said and what went wrong reaching
// it (network, timeout, 5xx), and the front does not try again; with an
// object that throws, or none, the front.
const RETRIES = 1;
// Rows that need a timeout run on Workers with a short one (250 ms, under the
// sandbox's 1 s slow answer); the others on Workers with a patient one, so that
// a busy machine cannot turn an answer into a timeout and a retry. The
// deadline (1 s) is under the 2 s rate-limit reset: a 429 is never retried.
const MATRIX_VARS = { UPSTREAM_RETRIES: String(RETRIES), UPSTREAM_DEADLINE_MS: "1000", LOG_REQUESTS: "false" };
const SHORT = { ...MATRIX_VARS, UPSTREAM_TIMEOUT_MS: "250" };
const PATIENT = { ...MATRIX_VARS, UPSTREAM_TIMEOUT_MS: "5000" };
const ctx0 = (fault, column) => `${fault} × ${column}`;
const ROWS = new Map([
  ["none", { status: 200, attempts: 1, vars: "patient" }],
  ["reset", { queue: "reset", status: 502, code: 50200, attempts: 1 + RETRIES, vars: "short" }],
  ["timeout", { queue: "slow", status: 504, code: 50400, attempts: 1 + RETRIES, vars: "short" }],
  ["500", { queue: "500", status: 502, code: 50201, attempts: 1 + RETRIES, vars: "short" }],
  ["429", { queue: "429", status: 429, code: 99991400, attempts: 1, vars: "patient" }],
  ["refusal", { app: "a-not-issued-by-feishu", status: 400, attempts: 1, vars: "patient" }],
]);

test("fault matrix, coordinator column: the same answer whatever the object does", async () => {
  await fetch(`${sb.url}/__sandbox/config`, { method: "POST", body: JSON.stringify({ slowMs: 1000, rateLimitResetSecs: 2 }) });
  const set = async (vars) => ({ ours: await workers({}, vars), throws: await workers({ coordinator: "throws" }, vars), none: await workers({ coordinator: "none" }, vars) });
  const sets = { short: await set(SHORT), patient: await set(PATIENT) };
  const table = [];
  for (const [fault, row] of ROWS) {
    const line = [fault];
    for (const [column, w] of Object.entries(sets[row.vars])) {
      const before = sb.stats().tenantTokenCalls;
      if (row.queue) await fetch(`${sb.url}/__sandbox/faults`, { method: "POST", body: JSON.stringify({ fault: row.queue, count: -1 }) });
      let r;
      try {
        r = await post(w.fronts[0], TENANT, { app_access_token: row.app ?? APP_TOKEN, tenant_key: `fm-${fault}-${column}` });
      } finally {
        await fetch(`${sb.url}/__sandbox/faults`, { method: "POST", body: JSON.stringify({ fault: null }) });
      }
      const body = await r.json();
      const calls = sb.stats().tenantTokenCalls - before;
      // Nothing asks Feishu after the answer (and the next cell starts clean:
      // a slow answer the sandbox still holds must not meet its fault queue).
      await new Promise((res) => setTimeout(res, 700));
      assert.equal(sb.stats().tenantTokenCalls - before, calls, `late calls: ${ctx0(fault, column)}`);
      const ctx = `${fault} × ${column}: ${r.status} ${JSON.stringify(body)}, ${calls} Feishu call(s)`;
      assert.equal(r.status, row.status, ctx);
      if (row.code) assert.equal(body.code, row.code, ctx);
      if (row.status === 200) assert.equal(r.headers.get("x-cache-layer"), column === "ours" ? "coordinator" : "upstream", ctx);
      // One round of attempts whoever makes them (an unreachable Feishu once
      // cost the object's round and then the front's).
      assert.equal(calls, row.attempts, ctx);
      line.push(`${r.status}${body.code ? ` ${body.code}` : ""}, ${calls}×`);
    }
    table.push(line);
  }
  console.log(["| upstream fault | ours | throws | none |", "|---|---|---|---|", ...table.map((l) => `| ${l.join(" | ")} |`)].join("\n"));
});

// Store-app ("managed") mode: the ticket and the resend limit live in the
// storage of the app's object.
const STORE_ID = "cli_sandbox_app_one";
const API_KEY = "api-key-coordinated-7f2c-91d04e6b5a3c28f7";
const MANAGED = { FEISHU_APP_ID: STORE_ID, FEISHU_APP_SECRET: SANDBOX_APPS[STORE_ID].appSecret, FEISHU_VERIFICATION_TOKEN: "vt-1", API_KEYS: API_KEY };
const ticketEvent = (ticket) =>
  JSON.stringify({ ts: "1", uuid: `u-${ticket}`, token: "vt-1", type: "event_callback", event: { app_id: STORE_ID, app_ticket: ticket, type: "app_ticket" } });
const managedToken = (front, tenant) => front.fetch(`/v1/tenants/${tenant}/tenant_access_token`, { headers: { authorization: `Bearer ${API_KEY}` } });

/** The sandbox's current ticket for the managed app, delivered to `front` as Feishu's event. */
async function deliverTicket(front) {
  const ticket = (await (await fetch(`${sb.url}/__sandbox/ticket`)).json())[STORE_ID];
  const r = await front.fetch("/feishu/events", { method: "POST", headers: { "content-type": "application/json" }, body: ticketEvent(ticket) });
  assert.equal(r.status, 200, await r.text());
}

test("managed mode: a ticket delivered to one front is read by another from the object, whatever KV says", async () => {
  const w = await workers({}, MANAGED);
  await deliverTicket(w.fronts[0]);
  // KV lagging elsewhere, as it may for up to a minute: its copy is gone.
  const kv = await w.mf.getKVNamespace("TOKENS", "front-1");
  await kv.delete(`ticket:v1:${STORE_ID}`);
  const r = await managedToken(w.fronts[1], "tenant-managed-1");
  const body = await r.json();
  assert.equal(r.status, 200, JSON.stringify(body));
  assert.ok(body.tenant_access_token);
  assert.equal(sb.stats().resendCalls, 0, "the ticket was found: no resend asked");
});

test("managed mode: ticket resends are limited to exactly one a minute across fronts", async () => {
  const w = await workers({}, MANAGED);
  const answers = await Promise.all(
    Array.from({ length: 20 }, async (_, i) => {
      const r = await w.fronts[i % 2].fetch("/open-apis/auth/v3/app_ticket/resend", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ app_id: STORE_ID, app_secret: SANDBOX_APPS[STORE_ID].appSecret }),
      });
      return r.headers.get("x-resend");
    }),
  );
  assert.deepEqual(answers.filter((a) => a === "sent").length, 1, JSON.stringify(answers));
  assert.equal(answers.filter((a) => a === "throttled").length, 19);
  assert.equal(sb.stats().resendCalls, 1);
  // Another location whose KV has not seen the marker yet (KV may lag a
  // minute): the object still says no.
  const kv = await w.mf.getKVNamespace("TOKENS", "front-1");
  await kv.delete(`resend:v1:${STORE_ID}`);
  const again = await w.fronts[1].fetch("/open-apis/auth/v3/app_ticket/resend", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ app_id: STORE_ID, app_secret: SANDBOX_APPS[STORE_ID].appSecret }),
  });
  assert.equal(again.headers.get("x-resend"), "throttled");
  assert.equal(sb.stats().resendCalls, 1);
});

test("an object whose storage fails: tokens, tickets and resends fall back to KV and still answer", async () => {
  logs.length = 0;
  const w = await workers({ coordinator: "storage-failed" }, MANAGED);
  await deliverTicket(w.fronts[0]); // to KV: the object's storage fails
  const r = await managedToken(w.fronts[1], "tenant-fallback-1");
  assert.equal(r.status, 200, JSON.stringify(await r.clone().json()));
  const plain = await post(w.fronts[0], TENANT, tenantBody("fallback-plain"));
  assert.equal(plain.status, 200);
  assert.equal(plain.headers.get("x-cache-layer"), "upstream");
  const resend = () =>
    w.fronts[1].fetch("/open-apis/auth/v3/app_ticket/resend", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ app_id: STORE_ID, app_secret: SANDBOX_APPS[STORE_ID].appSecret }),
    });
  assert.equal((await resend()).headers.get("x-resend"), "sent");
  assert.equal((await resend()).headers.get("x-resend"), "throttled", "KV's marker");
  assert.ok(logs.some((l) => l.includes("coordinator_failed")));
});

const APP_TOKEN_PATH = "/open-apis/auth/v3/app_access_token";
const appTokenCalls = () => sb.stats().requests[APP_TOKEN_PATH] ?? 0;

/** Every KV entry gone, as a location whose KV has not seen them would read. */
async function emptyKv(w) {
  const kv = await w.mf.getKVNamespace("TOKENS", "front-0");
  const { keys } = await kv.list();
  await Promise.all(keys.map((k) => kv.delete(k.name)));
  return keys.map((k) => k.name);
}

test("managed mode: 200 concurrent cold tenant requests split between fronts make one app-token and one tenant-token call", async () => {
  const w = await workers({}, MANAGED);
  await deliverTicket(w.fronts[0]);
  const answers = await Promise.all(
    Array.from({ length: 200 }, async (_, i) => {
      const r = await managedToken(w.fronts[i % 2], "tenant-stampede-1");
      return { status: r.status, layer: r.headers.get("x-cache-layer"), body: await r.json() };
    }),
  );
  assert.deepEqual([...new Set(answers.map((a) => a.status))], [200], JSON.stringify(answers[0].body));
  assert.equal(new Set(answers.map((a) => a.body.tenant_access_token)).size, 1);
  // Without the object each front fetches both tokens: 2 and 2.
  assert.equal(appTokenCalls(), 1, "one app-token call (the app's object)");
  assert.equal(sb.stats().tenantTokenCalls, 1, "one tenant-token call (the tenant's object)");
  assert.ok(answers.some((a) => a.layer === "coordinator"));
});

test("managed mode: the app token is kept in the app object's storage, and outlives its memory and KV", async (t) => {
  const { mkdtemp, rm } = await import("node:fs/promises");
  const { tmpdir } = await import("node:os");
  const dir = await mkdtemp(`${tmpdir()}/ftt-coordinator-`);
  t.after(() => rm(dir, { recursive: true, force: true }));
  const first = await workers({ persist: dir }, MANAGED);
  await deliverTicket(first.fronts[0]);
  assert.equal((await managedToken(first.fronts[0], "tenant-kept-1")).status, 200);
  assert.equal(appTokenCalls(), 1);
  started.splice(started.indexOf(first), 1);
  await first.mf.dispose();

  // A restart: every isolate's and object's memory is gone; storage stays.
  // KV is emptied too (expired, or a far location not reached yet).
  const second = await workers({ persist: dir }, MANAGED);
  const dropped = await emptyKv(second);
  assert.ok(dropped.includes(`aat:v1:${STORE_ID}`), dropped.join());
  const r = await managedToken(second.fronts[1], "tenant-kept-2");
  assert.equal(r.status, 200, JSON.stringify(await r.clone().json()));
  assert.equal(appTokenCalls(), 1, "the app token came from the object's storage, not Feishu");
  assert.equal(sb.stats().tenantTokenCalls, 2);
  assert.equal(sb.stats().resendCalls, 0);
});

test("a forced refresh goes through the object: the token it replaces is not handed to the next isolate", async () => {
  const w = await workers();
  const get = (front, headers) => post(front, TENANT, tenantBody("refreshed-1"), headers);
  const first = await (await get(w.fronts[0])).json();
  assert.equal(sb.stats().tenantTokenCalls, 1);
  // Past the forced-refresh throttle (10 s: a token fetched moments ago is
  // served as it is), Feishu stops accepting the token.
  await new Promise((r) => setTimeout(r, 10_500));
  await fetch(`${sb.url}/__sandbox/token/revoke`, { method: "POST", body: JSON.stringify({ token: first.tenant_access_token }) });
  const refreshed = await get(w.fronts[0], { "cache-control": "no-cache" });
  const second = await refreshed.json();
  assert.equal(refreshed.status, 200, JSON.stringify(second));
  assert.notEqual(second.tenant_access_token, first.tenant_access_token);
  assert.equal(refreshed.headers.get("x-cache-layer"), "coordinator");
  assert.equal(sb.stats().tenantTokenCalls, 2);
  // Another isolate missing KV asks the object: the replacement, not the
  // refused token the object held before.
  await emptyKv(w);
  const other = await (await get(w.fronts[1])).json();
  assert.equal(other.tenant_access_token, second.tenant_access_token);
  assert.equal(sb.stats().tenantTokenCalls, 2);
});

test("made-up credentials do not reach a Durable Object on every request: past 20 refusals a minute, the isolate asks Feishu itself", async () => {
  const w = await workers({ coordinator: "refuses" });
  const [front] = w.fronts;
  for (let i = 0; i < 40; i++) {
    const r = await post(front, "/open-apis/auth/v3/tenant_access_token", { app_access_token: `a-made-up-${i}`, tenant_key: "73658811060f175d" });
    assert.notEqual(r.status, 200);
    await r.arrayBuffer();
  }
  const asked = await w.questions();
  assert.ok(asked <= 20, `${asked} questions reached the object for 40 made-up credentials`);
  assert.ok(logs.some((l) => l.includes("coordinator_bypassed")), "logged once");
});
