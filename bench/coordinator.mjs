#!/usr/bin/env node
// The coordinator (Node >= 22, `make bench`): FRONTS front Workers (each its
// own isolate and memory) in one workerd on one KV namespace, ROUNDS times
// PER_ROUND concurrent cold requests for a new key spread over them, with the
// Durable Object coordinator and without it: Feishu calls per key, and the
// latency of those requests. Then the hit path, 2,000 sequential requests for
// a cached key on one front, with and without: the coordinator is on the
// miss path only. Then store-app ("managed") mode the same way: ROUNDS new
// tenants of one app, each PER_ROUND concurrent cold requests spread over
// the fronts: Feishu's app-token calls in all and tenant-token calls per
// tenant. Then user tokens, each user's object: a fresh token's latency, and
// one refresh per rotation for many concurrent callers after expiry. Writes
// bench/out/coordinator.json.
import { performance } from "node:perf_hooks";
import { startCoordinatedWorkers } from "../tests/worker/built-worker.mjs";
import { SANDBOX_APPS } from "../sandbox/sandbox.mjs";
import { sandboxProcess, summary, writeJson } from "./lib.mjs";

const FRONTS = 4;
const ROUNDS = 5;
const PER_ROUND = 200;
const HITS = 2000;
const PATH = "/open-apis/auth/v3/tenant_access_token";
const init = (tenant) => ({
  method: "POST",
  headers: { "content-type": "application/json; charset=utf-8" },
  body: JSON.stringify({ app_access_token: "a-sandbox-app-one", tenant_key: tenant }),
});
const pct = (xs, q) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))];

/** ROUNDS rounds of PER_ROUND concurrent requests, `send(front, round)` each,
 * spread over the fronts: their latencies, and Feishu's tenant-token calls
 * per round. */
async function coldRounds(w, sb, send) {
  const miss = [];
  const calls = [];
  for (let r = 0; r < ROUNDS; r++) {
    const before = (await sb.stats()).tenantTokenCalls;
    await Promise.all(
      Array.from({ length: PER_ROUND }, async (_, i) => {
        const t = performance.now();
        const res = await send(w.fronts[i % FRONTS], r);
        await res.arrayBuffer();
        if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
        miss.push(performance.now() - t);
      }),
    );
    calls.push((await sb.stats()).tenantTokenCalls - before);
  }
  return { miss: { p50: pct(miss, 0.5), p99: pct(miss, 0.99) }, calls: summary(calls) };
}

async function run(coordinator) {
  const sb = await sandboxProcess();
  const w = await startCoordinatedWorkers({ vars: { FEISHU_BASE_URL: sb.url, LOG_REQUESTS: "false" }, fronts: FRONTS, coordinator });
  try {
    const cold = await coldRounds(w, sb, (front, r) => front.fetch(PATH, init(`bench-${r}`)));
    const hit = [];
    for (let i = 0; i < HITS; i++) {
      const t = performance.now();
      const res = await w.fronts[0].fetch(PATH, init("bench-0"));
      await res.arrayBuffer();
      hit.push(performance.now() - t);
    }
    return { coordinator, callsPerKey: cold.calls, miss: cold.miss, hit: { p50: pct(hit, 0.5), p99: pct(hit, 0.99) } };
  } finally {
    await w.mf.dispose();
    sb.close();
  }
}

const STORE_ID = "cli_sandbox_app_one";
const API_KEY = "bench-api-key-0f4e8d2c6b1a9573e0d4";
const MANAGED = { FEISHU_APP_ID: STORE_ID, FEISHU_APP_SECRET: SANDBOX_APPS[STORE_ID].appSecret, FEISHU_VERIFICATION_TOKEN: "vt-bench", API_KEYS: API_KEY, LOG_REQUESTS: "false" };
const APP_TOKEN_PATH = "/open-apis/auth/v3/app_access_token";

async function runManaged(coordinator) {
  const sb = await sandboxProcess();
  // onLog: the ticket event logs a line; the figures are the output here.
  const w = await startCoordinatedWorkers({ vars: { FEISHU_BASE_URL: sb.url, ...MANAGED }, fronts: FRONTS, coordinator, onLog: () => {} });
  try {
    const ticket = (await (await fetch(`${sb.url}/__sandbox/ticket`)).json())[STORE_ID];
    const event = { ts: "1", uuid: "u-bench", token: "vt-bench", type: "event_callback", event: { app_id: STORE_ID, app_ticket: ticket, type: "app_ticket" } };
    const stored = await w.fronts[0].fetch("/feishu/events", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(event) });
    if (stored.status !== 200) throw new Error(`ticket not stored: HTTP ${stored.status}`);
    const auth = { headers: { authorization: `Bearer ${API_KEY}` } };
    const cold = await coldRounds(w, sb, (front, r) => front.fetch(`/v1/tenants/bench-tenant-${r}/tenant_access_token`, auth));
    const appTokenCalls = (await sb.stats()).requests[APP_TOKEN_PATH] ?? 0;
    return { coordinator, appTokenCalls, callsPerTenant: cold.calls, miss: cold.miss };
  } finally {
    await w.mf.dispose();
    sb.close();
  }
}

const USER = "ou_sandbox_alice";
const USER_APP = "cli_sandbox_internal_one";

/** User tokens (always through each user's object): one user signed in
 * through a front, then HITS sequential token requests (a fresh token from
 * the object's storage), then ROUNDS rounds of PER_ROUND concurrent
 * X-User-Id calls just after Feishu's clock made the token expire (each
 * round: every call refused once, one refresh for all, every call
 * replayed). */
async function runUsers() {
  const { SANDBOX_SELF_BUILT_APPS } = await import("../sandbox/sandbox.mjs");
  const sb = await sandboxProcess();
  const vars = {
    FEISHU_BASE_URL: sb.url,
    FEISHU_ACCOUNTS_URL: sb.url,
    SELF_BUILT_APPS: JSON.stringify({ [USER_APP]: SANDBOX_SELF_BUILT_APPS[USER_APP].appSecret }),
    API_KEYS: API_KEY,
    USER_TOKEN_KEY: "be".repeat(32),
    LOG_REQUESTS: "false",
  };
  const w = await startCoordinatedWorkers({ vars, fronts: FRONTS, onLog: () => {} });
  try {
    const [a] = w.fronts;
    const login = await a.fetch("/oauth/login", { redirect: "manual" });
    const cookie = login.headers.get("set-cookie").split(";")[0];
    const authorize = new URL(login.headers.get("location"));
    authorize.searchParams.set("user", USER);
    const back = new URL((await fetch(authorize, { redirect: "manual" })).headers.get("location"));
    const done = await a.fetch(`${back.pathname}${back.search}`, { redirect: "manual", headers: { cookie } });
    if (done.status !== 302) throw new Error(`sign-in failed: HTTP ${done.status}`);
    const auth = { headers: { authorization: `Bearer ${API_KEY}` } };
    const fresh = [];
    for (let i = 0; i < HITS; i++) {
      const t = performance.now();
      const res = await w.fronts[i % FRONTS].fetch(`/v1/users/${USER}/user_access_token`, auth);
      await res.arrayBuffer();
      if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
      fresh.push(performance.now() - t);
    }
    const refreshes = [];
    const calls = [];
    const asUser = { headers: { authorization: `Bearer ${API_KEY}`, "x-user-id": USER } };
    for (let r = 0; r < ROUNDS; r++) {
      await fetch(`${sb.url}/__sandbox/advance`, { method: "POST", body: JSON.stringify({ secs: 7300 }) });
      const before = (await sb.stats()).oauth.refreshCalls;
      await Promise.all(
        Array.from({ length: PER_ROUND }, async (_, i) => {
          const t = performance.now();
          const res = await w.fronts[i % FRONTS].fetch("/open-apis/im/v1/chats", asUser);
          const body = await res.json();
          if (body.code !== 0) throw new Error(`code ${body.code}`);
          calls.push(performance.now() - t);
        }),
      );
      refreshes.push((await sb.stats()).oauth.refreshCalls - before);
    }
    return {
      fresh: { p50: pct(fresh, 0.5), p99: pct(fresh, 0.99) },
      refreshesPerRotation: summary(refreshes),
      expiredCalls: { p50: pct(calls, 0.5), p99: pct(calls, 0.99) },
      sentTwice: (await sb.stats()).oauth.refreshTokensSentTwice,
    };
  } finally {
    await w.mf.dispose();
    sb.close();
  }
}

const result = {
  fronts: FRONTS,
  rounds: ROUNDS,
  perRound: PER_ROUND,
  hits: HITS,
  without: await run("none"),
  with: await run("ours"),
  managed: { without: await runManaged("none"), with: await runManaged("ours") },
  users: await runUsers(),
};
writeJson("coordinator", result);
console.log(`\ncoordinator: ${FRONTS} fronts, ${ROUNDS} keys x ${PER_ROUND} concurrent cold requests each`);
for (const k of ["without", "with"]) {
  const r = result[k];
  console.log(`  ${k.padEnd(8)} Feishu calls per key ${r.callsPerKey.median} (${r.callsPerKey.min}-${r.callsPerKey.max}); cold p50 ${r.miss.p50.toFixed(1)} ms, p99 ${r.miss.p99.toFixed(1)} ms; hits p50 ${r.hit.p50.toFixed(2)} ms, p99 ${r.hit.p99.toFixed(2)} ms`);
}
console.log(`store-app mode: ${ROUNDS} tenants x ${PER_ROUND} concurrent cold requests each`);
for (const k of ["without", "with"]) {
  const r = result.managed[k];
  console.log(`  ${k.padEnd(8)} app-token calls ${r.appTokenCalls}; tenant-token calls per tenant ${r.callsPerTenant.median} (${r.callsPerTenant.min}-${r.callsPerTenant.max}); cold p50 ${r.miss.p50.toFixed(1)} ms, p99 ${r.miss.p99.toFixed(1)} ms`);
}
const u = result.users;
console.log(`user tokens: fresh token p50 ${u.fresh.p50.toFixed(2)} ms, p99 ${u.fresh.p99.toFixed(2)} ms; ${ROUNDS} expiries x ${PER_ROUND} concurrent X-User-Id calls: refreshes per rotation ${u.refreshesPerRotation.median} (${u.refreshesPerRotation.min}-${u.refreshesPerRotation.max}), calls p50 ${u.expiredCalls.p50.toFixed(1)} ms, p99 ${u.expiredCalls.p99.toFixed(1)} ms; refresh tokens sent twice: ${u.sentTwice}`);
console.log();
