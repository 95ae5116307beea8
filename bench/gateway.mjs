#!/usr/bin/env node
// The gateway's figures (run with Node >= 22, by `make bench`), all on
// loopback against the sandbox in its own process:
//  1. a fleet of N official Node SDK instances (separate processes, each
//     with its own cache) calling an API for one app, pointed at the sandbox
//     directly vs at the Worker: upstream token calls;
//  2. the latency the gateway adds to a passed-through API call: the same
//     call with a ready token, direct vs through the Worker vs through a
//     minimal hand-written JS proxy Worker (bench/proxy-worker.js) in the
//     same workerd set-up, and through the Worker with REPLACE_REFUSED off
//     (no in-memory lookup of the bearer token: what the in-flight
//     replacement costs every call), and the same call made by an agent with
//     a gateway token (its key's checks and the real token put in), one
//     call to each in turn (the order rotating), p50 and p99;
//     Keys at scale: the agent's call with 1,000 AGENT_KEYS entries (the
//     documented maximum) against the same call with one; a managed call
//     (store-app mode) with 10 API_KEYS against one. A user's call: an
//     X-User-Id call with the user's fresh token against a plain
//     passed-through call on the same Worker (user objects bound). Usage
//     counting: an agent's call with COUNT_USAGE on and off (ledgers bound);
//  3. a 10 MiB answer passed through several times, through ours and
//     through the hand-written proxy: throughput, and workerd's resident
//     memory sampled before, during and after.
// With BENCH_BEFORE=<dir> (bench/before.sh builds an earlier commit there),
// the gateway and its agent call also run on that build, in the same blocks:
// a same-run A/B.
// Prints figures and writes bench/out/gateway.json; asserts nothing.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { rssOf, startWorkersTogether, workerdPids } from "../tests/worker/built-worker.mjs";
import { existsSync } from "node:fs";
import { root, sandboxProcess, writeJson } from "./lib.mjs";
import { createAgentKey } from "../scripts/agent-key.mjs";
import { SANDBOX_APPS, SANDBOX_SELF_BUILT_APPS } from "../sandbox/sandbox.mjs";

const FLEET = Number(process.env.BENCH_FLEET ?? 8);
const FLEET_CALLS = 10;
const LATENCY_CALLS = 1500;
const BIG = 10 * 1024 * 1024;
// 40 pairs: two runs of one pipe differ by up to ±6 % at 10 (same build).
const BIG_TIMES = 40;
const run = promisify(execFile);

const percentile = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};


const sb = await sandboxProcess();
const APP = "cli_sandbox_internal_one";
const SECRET = SANDBOX_SELF_BUILT_APPS[APP].appSecret;
const agentKey = createAgentKey({ id: "bench", app: APP, allow: ["GET /open-apis/im/v1/chats"] });
const gatewayVars = { FEISHU_BASE_URL: sb.url, LOG_REQUESTS: "false", SELF_BUILT_APPS: JSON.stringify({ [APP]: SECRET }), AGENT_KEYS: JSON.stringify([agentKey.entry]) };
// An earlier build, when bench/before.sh made one: the same Worker, same vars.
const beforeDir = process.env.BENCH_BEFORE;
const hasBefore = Boolean(beforeDir && existsSync(`${beforeDir}/worker/build/index.js`));
// The same agent among 1,000 keys (the documented maximum, MAX_AGENT_KEYS).
const others = Array.from({ length: 999 }, (_, i) => createAgentKey({ id: `other-${i}`, app: APP, allow: ["GET /open-apis/im/v1/chats"] }).entry);
// Store-app mode for managed calls: one API key, and the same key among 10.
const STORE_APP = "cli_sandbox_app_one";
const TENANT = "73658811060f175d";
const API_KEY = "bench-api-key-".padEnd(64, "0");
const tenKeys = [...Array.from({ length: 9 }, (_, i) => `bench-api-key-other-${i}-`.padEnd(64, "0")), API_KEY];
const storeVars = {
  FEISHU_BASE_URL: sb.url,
  LOG_REQUESTS: "false",
  FEISHU_APP_ID: STORE_APP,
  FEISHU_APP_SECRET: SANDBOX_APPS[STORE_APP].appSecret,
  FEISHU_ENCRYPT_KEY: "bench-encrypt-key",
  FEISHU_VERIFICATION_TOKEN: "bench-verification-token",
};
const USER = "ou_sandbox_alice";
// Every Worker compared in one workerd process, each on its own port: a
// second process's own scheduling moved p50s by more than what is measured.
const { mf, urls } = await startWorkersTogether({
  ours: { vars: gatewayVars },
  // Without the in-flight replacement: no digest and lookup of the bearer token per call.
  noLookup: { vars: { FEISHU_BASE_URL: sb.url, LOG_REQUESTS: "false", REPLACE_REFUSED: "false" } },
  // A Worker that answers at once: what the hop into workerd costs by itself.
  empty: { modules: [{ type: "ESModule", path: "bench/empty-worker.mjs", contents: "export default { fetch() { return new Response('{}'); } };" }] },
  // The smallest hand-written JS pass-through (bench/proxy-worker.js: no header rules, no
  // inspection): what any proxy Worker pays, the baseline for the gateway's own work.
  proxy: { vars: { FEISHU_BASE_URL: sb.url }, modules: [{ type: "ESModule", path: "bench/proxy-worker.js" }] },
  // The same agent with one key and among 1,000, each Worker taking only
  // its agent's calls (a Worker taking more calls measured faster).
  oneAgent: { vars: gatewayVars },
  manyAgents: { vars: { ...gatewayVars, AGENT_KEYS: JSON.stringify([...others.slice(0, 500), agentKey.entry, ...others.slice(500)]) } },
  // Usage counting (#36): the same agent with counting on and off, the
  // ledgers bound so the counts really go to their objects in the background.
  counted: { coordinator: true, vars: gatewayVars },
  uncounted: { coordinator: true, vars: { ...gatewayVars, COUNT_USAGE: "false" } },
  managedOne: { vars: { ...storeVars, API_KEYS: API_KEY } },
  managedTen: { vars: { ...storeVars, API_KEYS: tenKeys.join(",") } },
  // User tokens: Alice signs in through this one (user objects bound).
  users: { coordinator: true, vars: { ...gatewayVars, FEISHU_ACCOUNTS_URL: sb.url, API_KEYS: API_KEY, USER_TOKEN_KEY: "be".repeat(32) } },
  ...(hasBefore && {
    before: {
      vars: gatewayVars,
      modules: [
        { type: "ESModule", path: `${beforeDir}/worker/build/index.js` },
        { type: "CompiledWasm", path: `${beforeDir}/worker/build/index_bg.wasm` },
      ],
    },
  }),
});
const at = (name) => ({ url: urls[name] });
const [w, noLookup, empty, proxy, oneAgent, manyAgents, managedOne, managedTen, users, counted, uncounted] = ["ours", "noLookup", "empty", "proxy", "oneAgent", "manyAgents", "managedOne", "managedTen", "users", "counted", "uncounted"].map(at);
const before = hasBefore ? at("before") : null;
const results = {};
try {
  // 1. The fleet.
  const tokenCalls = async () => (await sb.stats()).internalTenantTokenCalls;
  for (const [name, domain] of [["direct", sb.url], ["gateway", w.url]]) {
    await sb.reset();
    const t = performance.now();
    const answers = await Promise.all(
      Array.from({ length: FLEET }, () => run(process.execPath, [`${root}bench/gateway-sdk-child.mjs`, domain, String(FLEET_CALLS)], { timeout: 60_000 })),
    );
    const counts = answers.map((a) => JSON.parse(a.stdout.trim()));
    results[`fleet_${name}`] = {
      instances: FLEET,
      callsEach: FLEET_CALLS,
      ok: counts.reduce((n, c) => n + c.ok, 0),
      failed: counts.reduce((n, c) => n + c.failed, 0),
      upstreamTokenCalls: await tokenCalls(),
      ms: performance.now() - t,
    };
  }

  // 2. Added latency, with a token both paths accept.
  const tokenFor = async (secret, base = w.url) =>
    (await (await fetch(`${base}/open-apis/auth/v3/tenant_access_token/internal`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ app_id: APP, app_secret: secret }),
    })).json()).tenant_access_token;
  const token = await tokenFor(SECRET);
  const gatewayToken = await tokenFor(agentKey.key);
  // Each build's gateway tokens are its own (their claims changed with #36).
  const gatewayTokenBefore = before ? await tokenFor(agentKey.key, before.url) : null;
  // Each store-app Worker gets the app's ticket pushed (the sandbox has one
  // callback per app: pointed at each in turn) and makes its first managed
  // call before the next is pushed to.
  const managed = { authorization: `Bearer ${API_KEY}`, "x-tenant-key": TENANT };
  for (const m of [managedOne, managedTen]) {
    const control = (p, body) => fetch(`${sb.url}/__sandbox/${p}`, { method: "POST", body: JSON.stringify(body) });
    await control("callback", { appId: STORE_APP, url: `${m.url}/feishu/events`, encryptKey: storeVars.FEISHU_ENCRYPT_KEY, verificationToken: storeVars.FEISHU_VERIFICATION_TOKEN });
    if ((await control("push", { app_id: STORE_APP })).status !== 200) throw new Error("the ticket push failed");
    for (let tries = 0; ; tries++) {
      const r = await fetch(`${m.url}/open-apis/im/v1/chats`, { headers: managed });
      await r.arrayBuffer();
      if (r.status === 200) break;
      if (tries > 100) throw new Error(`managed call: HTTP ${r.status}`);
      await new Promise((res) => setTimeout(res, 50));
    }
  }
  // Alice signs in through the Worker, then the Worker's own tenant token for the plain call.
  const login = await fetch(`${users.url}/oauth/login?app=${APP}`, { redirect: "manual" });
  const cookie = login.headers.get("set-cookie").split(";")[0];
  const authorize = new URL(login.headers.get("location"));
  authorize.searchParams.set("user", USER);
  const back = new URL((await fetch(authorize, { redirect: "manual" })).headers.get("location"));
  const signedIn = await fetch(`${users.url}${back.pathname}${back.search}`, { redirect: "manual", headers: { cookie } });
  if (signedIn.status !== 302) throw new Error(`sign-in failed: HTTP ${signedIn.status}`);
  const usersToken = (await (await fetch(`${users.url}/open-apis/auth/v3/tenant_access_token/internal`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ app_id: APP, app_secret: SECRET }),
  })).json()).tenant_access_token;
  const asUser = { authorization: `Bearer ${API_KEY}`, "x-user-id": USER, "x-app-id": APP };
  const once = async ([url, headers]) => {
    const t = performance.now();
    const r = await fetch(url, { headers });
    await r.arrayBuffer();
    if (r.status !== 200) throw new Error(`HTTP ${r.status} from ${url}`);
    return performance.now() - t;
  };
  const api = "/open-apis/im/v1/chats?page_size=20";
  const bearer = (t) => ({ authorization: `Bearer ${t}` });
  // The Worker answering by itself (no upstream): the cost of the hop into workerd alone.
  const targets = {
    direct: [`${sb.url}${api}`, bearer(token)],
    gateway: [`${w.url}${api}`, bearer(token)],
    gatewayNoLookup: [`${noLookup.url}${api}`, bearer(token)],
    agentCall: [`${w.url}${api}`, bearer(gatewayToken)],
    agentOneKey: [`${oneAgent.url}${api}`, bearer(gatewayToken)],
    agentAmong1000: [`${manyAgents.url}${api}`, bearer(gatewayToken)],
    agentCounted: [`${counted.url}${api}`, bearer(gatewayToken)],
    agentUncounted: [`${uncounted.url}${api}`, bearer(gatewayToken)],
    managedOneKey: [`${managedOne.url}${api}`, managed],
    managedTenKeys: [`${managedTen.url}${api}`, managed],
    userPlain: [`${users.url}${api}`, bearer(usersToken)],
    userCall: [`${users.url}${api}`, asUser],
    jsProxy: [`${proxy.url}${api}`, bearer(token)],
    workerAlone: [`${w.url}/healthz`, {}],
    emptyWorker: [`${empty.url}/`, {}],
    ...(before && {
      gatewayBefore: [`${before.url}${api}`, bearer(token)],
      agentCallBefore: [`${before.url}${api}`, bearer(gatewayTokenBefore)],
    }),
  };
  const n = Object.keys(targets).length;
  for (let i = 0; i < 100 * n; i++) await once(Object.values(targets)[i % n]);
  const times = Object.fromEntries(Object.keys(targets).map((k) => [k, []]));
  // One call to each target in turn, the first of each round rotating: in
  // blocks, or always in the same order, a target's place alone moved its
  // p50 by ~0.1 ms (two identical Workers measured apart).
  const keys = Object.keys(targets);
  for (let i = 0; i < LATENCY_CALLS; i++) {
    for (let j = 0; j < keys.length; j++) {
      const k = keys[(i + j) % keys.length];
      times[k].push(await once(targets[k]));
    }
  }
  const lat = (xs) => ({ p50: percentile(xs, 50), p99: percentile(xs, 99), n: xs.length });
  results.latency = Object.fromEntries(Object.entries(times).map(([k, xs]) => [k, lat(xs)]));
  results.latency.addedP50 = results.latency.gateway.p50 - results.latency.direct.p50;
  results.latency.addedP99 = results.latency.gateway.p99 - results.latency.direct.p99;
  // What is ours: the added latency less the hop an empty Worker pays too.
  results.latency.oursP50 = results.latency.addedP50 - results.latency.emptyWorker.p50;
  // The target's measure: ours less the minimal hand-written JS proxy, same calls, same run.
  results.latency.overJsProxyP50 = results.latency.gateway.p50 - results.latency.jsProxy.p50;
  results.latency.overJsProxyP99 = results.latency.gateway.p99 - results.latency.jsProxy.p99;
  // What the replacement's per-call lookup costs: the same Worker with and without it.
  results.latency.lookupP50 = results.latency.gateway.p50 - results.latency.gatewayNoLookup.p50;
  results.latency.lookupP99 = results.latency.gateway.p99 - results.latency.gatewayNoLookup.p99;
  // What an agent key's checks cost: a gateway-token call over the plain pass-through call.
  results.latency.agentOverP50 = results.latency.agentCall.p50 - results.latency.gateway.p50;
  results.latency.agentOverP99 = results.latency.agentCall.p99 - results.latency.gateway.p99;
  // Keys at scale: the same calls with 1,000 agent keys / 10 API keys configured.
  results.latency.agentKeysOverP50 = results.latency.agentAmong1000.p50 - results.latency.agentOneKey.p50;
  results.latency.apiKeysOverP50 = results.latency.managedTenKeys.p50 - results.latency.managedOneKey.p50;
  // Usage counting: the same agent call counted and not (ledgers bound both).
  results.latency.countingOverP50 = results.latency.agentCounted.p50 - results.latency.agentUncounted.p50;
  // A user's call with a fresh token over the plain passed-through call.
  results.latency.userOverP50 = results.latency.userCall.p50 - results.latency.userPlain.p50;

  // 3. A large answer, streamed: workerd's RSS while it passes through, and
  // the same answers through the hand-written proxy (alternating, warmed).
  const pids = workerdPids();
  const rss = () => rssOf(pids);
  const download = `/open-apis/drive/v1/files/big/download?size=${BIG}`;
  const through = async (base) => {
    const t = performance.now();
    let got = 0;
    const r = await fetch(`${base}${download}`, { headers: { authorization: `Bearer ${token}` } });
    for await (const chunk of r.body) got += chunk.length;
    if (got !== BIG) throw new Error(`${got} bytes from ${base}`);
    return performance.now() - t;
  };
  await through(w.url);
  await through(proxy.url);
  const rssBefore = rss();
  let peak = rssBefore;
  const sampler = setInterval(() => (peak = Math.max(peak, rss())), 10);
  const oursMs = [];
  const proxyMs = [];
  // The order alternating: whichever went first measured slower.
  for (let i = 0; i < BIG_TIMES; i++) {
    if (i % 2 === 0) {
      oursMs.push(await through(w.url));
      proxyMs.push(await through(proxy.url));
    } else {
      proxyMs.push(await through(proxy.url));
      oursMs.push(await through(w.url));
    }
  }
  clearInterval(sampler);
  // Each run's throughput, the median of them (one slow run moves a total).
  const perSec = (ms) => BIG / 1048576 / (percentile(ms, 50) / 1000);
  // Ours against the proxy pair by pair (the two answers back to back see
  // the same state of the machine), with a bootstrap 95 % interval of the
  // median ratio: both pass the same native stream, so whether ours is
  // slower is a question of noise, which the interval answers.
  const pairRatios = oursMs.map((ms, i) => proxyMs[i] / ms);
  let seed = 1;
  const random = () => ((seed = (seed * 48271) % 2147483647) / 2147483647);
  const medians = Array.from({ length: 2000 }, () => percentile(pairRatios.map(() => pairRatios[Math.floor(random() * pairRatios.length)]), 50));
  results.large = {
    bytesEach: BIG,
    times: BIG_TIMES,
    bytesReceived: BIG * BIG_TIMES,
    mibPerSec: perSec(oursMs),
    proxyMibPerSec: perSec(proxyMs),
    pairRatio: percentile(pairRatios, 50),
    pairRatioLow: percentile(medians, 2.5),
    pairRatioHigh: percentile(medians, 97.5),
    rssBefore,
    rssPeak: peak,
    rssAfter: rss(),
    workerdProcesses: pids.length,
  };
} finally {
  await mf.dispose();
  sb.close();
}

const f = (x) => x.toFixed(2);
const mib = (b) => (b / 1048576).toFixed(1);
const { latency: l, large: g } = results;
console.log(`\nfeishu-tenant-token gateway benchmarks (Node ${process.version}, loopback, ${new Date().toISOString()})\n`);
for (const k of ["direct", "gateway"]) {
  const r = results[`fleet_${k}`];
  console.log(`  ${FLEET} SDK instances x ${FLEET_CALLS} calls, ${k.padEnd(7)}: ${r.ok} ok, ${r.failed} failed, ${r.upstreamTokenCalls} upstream token call(s), ${r.ms.toFixed(0)} ms`);
}
console.log(`  passed-through call: direct p50 ${f(l.direct.p50)} ms p99 ${f(l.direct.p99)} ms; through the Worker p50 ${f(l.gateway.p50)} ms p99 ${f(l.gateway.p99)} ms`);
console.log(`  added by the gateway: p50 ${f(l.addedP50)} ms, p99 ${f(l.addedP99)} ms; the Worker answering alone (/healthz): p50 ${f(l.workerAlone.p50)} ms, p99 ${f(l.workerAlone.p99)} ms; an empty JS Worker: p50 ${f(l.emptyWorker.p50)} ms, p99 ${f(l.emptyWorker.p99)} ms (added less that hop: ${f(l.oursP50)} ms p50)`);
console.log(`  a minimal hand-written JS proxy Worker (bench/proxy-worker.js): p50 ${f(l.jsProxy.p50)} ms, p99 ${f(l.jsProxy.p99)} ms; the gateway's own work, ours less it: ${f(l.overJsProxyP50)} ms p50, ${f(l.overJsProxyP99)} ms p99  (target <= 0.5 ms p50: ${l.overJsProxyP50 <= 0.5 ? "met" : "MISSED"})`);
console.log(`  the in-flight replacement's lookup per call: with it p50 ${f(l.gateway.p50)} ms p99 ${f(l.gateway.p99)} ms; without (REPLACE_REFUSED off) p50 ${f(l.gatewayNoLookup.p50)} ms p99 ${f(l.gatewayNoLookup.p99)} ms; difference ${f(l.lookupP50)} ms p50, ${f(l.lookupP99)} ms p99`);
console.log(`  an agent's call with a gateway token: p50 ${f(l.agentCall.p50)} ms p99 ${f(l.agentCall.p99)} ms; over the plain pass-through call: ${f(l.agentOverP50)} ms p50, ${f(l.agentOverP99)} ms p99`);
console.log(`  keys at scale: an agent's call among 1,000 keys p50 ${f(l.agentAmong1000.p50)} ms (+${f(l.agentKeysOverP50)} over one key, ${f(l.agentOneKey.p50)} ms); a managed call with 10 API keys p50 ${f(l.managedTenKeys.p50)} ms (+${f(l.apiKeysOverP50)} over one)`);
console.log(`  usage counting: an agent's call counted p50 ${f(l.agentCounted.p50)} ms, not counted (COUNT_USAGE off) ${f(l.agentUncounted.p50)} ms (+${f(l.countingOverP50)})`);
console.log(`  an X-User-Id call with a fresh token p50 ${f(l.userCall.p50)} ms; the plain passed-through call on the same Worker p50 ${f(l.userPlain.p50)} ms (+${f(l.userOverP50)})`);
if (l.gatewayBefore) console.log(`  A/B against ${beforeDir}: passed-through p50 ${f(l.gatewayBefore.p50)} -> ${f(l.gateway.p50)} ms; agent call p50 ${f(l.agentCallBefore.p50)} -> ${f(l.agentCall.p50)} ms`);
console.log(`  ${g.times} x ${mib(g.bytesEach)} MiB through the Worker: ${g.mibPerSec.toFixed(0)} MiB/s (the hand-written proxy: ${g.proxyMibPerSec.toFixed(0)} MiB/s; ours over it pair by pair ${g.pairRatio.toFixed(3)}x, 95 % interval ${g.pairRatioLow.toFixed(3)}-${g.pairRatioHigh.toFixed(3)}); workerd RSS ${mib(g.rssBefore)} -> peak ${mib(g.rssPeak)} -> ${mib(g.rssAfter)} MiB\n`);
writeJson("gateway", { node: process.version, ...results });
