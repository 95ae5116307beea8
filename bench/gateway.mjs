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
//     a gateway token (its key's checks and the real token put in),
//     alternating in blocks, p50 and p99;
//  3. a 10 MiB answer passed through several times: throughput, and
//     workerd's resident memory sampled before, during and after.
// Prints figures and writes bench/out/gateway.json; asserts nothing.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { rssOf, startBuiltWorker, workerdPids } from "../tests/worker/built-worker.mjs";
import { root, sandboxProcess, writeJson } from "./lib.mjs";
import { createAgentKey } from "../scripts/agent-key.mjs";

const FLEET = Number(process.env.BENCH_FLEET ?? 8);
const FLEET_CALLS = 10;
const LATENCY_CALLS = 1000;
const BLOCK = 100;
const BIG = 10 * 1024 * 1024;
const BIG_TIMES = 5;
const run = promisify(execFile);

const percentile = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};


const sb = await sandboxProcess();
const APP = "cli_sandbox_internal_one";
const SECRET = "sandbox-internal-secret-one";
const agentKey = createAgentKey({ id: "bench", app: APP, allow: ["GET /open-apis/im/v1/chats"] });
const w = await startBuiltWorker({
  vars: { FEISHU_BASE_URL: sb.url, LOG_REQUESTS: "false", SELF_BUILT_APPS: JSON.stringify({ [APP]: SECRET }), AGENT_KEYS: JSON.stringify([agentKey.entry]) },
});
// The same Worker without the in-flight replacement: no digest and lookup of the bearer token per call.
const noLookup = await startBuiltWorker({ vars: { FEISHU_BASE_URL: sb.url, LOG_REQUESTS: "false", REPLACE_REFUSED: "false" } });
// A Worker that answers at once: what the hop into workerd (Miniflare on loopback) costs by itself.
const empty = await startBuiltWorker({ modules: [{ type: "ESModule", path: "bench/empty-worker.mjs", contents: "export default { fetch() { return new Response('{}'); } };" }] });
// The smallest hand-written JS pass-through (bench/proxy-worker.js: no header rules, no inspection), in
// the same Miniflare / workerd set-up: what any proxy Worker pays, the baseline for the gateway's own work.
const proxy = await startBuiltWorker({ vars: { FEISHU_BASE_URL: sb.url }, modules: [{ type: "ESModule", path: "bench/proxy-worker.js" }] });
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
  const tokenFor = async (secret) =>
    (await (await fetch(`${w.url}/open-apis/auth/v3/tenant_access_token/internal`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ app_id: APP, app_secret: secret }),
    })).json()).tenant_access_token;
  const token = await tokenFor(SECRET);
  const gatewayToken = await tokenFor(agentKey.key);
  const once = async (url) => {
    const t = performance.now();
    // An agent's call: the same Worker and path, with the key's gateway token.
    const [target, bearer] = url.startsWith("agent:") ? [url.slice(6), gatewayToken] : [url, token];
    const r = await fetch(target, { headers: { authorization: `Bearer ${bearer}` } });
    await r.arrayBuffer();
    if (r.status !== 200) throw new Error(`HTTP ${r.status} from ${url}`);
    return performance.now() - t;
  };
  const api = "/open-apis/im/v1/chats?page_size=20";
  // The Worker answering by itself (no upstream): the cost of the hop into workerd alone.
  const targets = {
    direct: `${sb.url}${api}`,
    gateway: `${w.url}${api}`,
    gatewayNoLookup: `${noLookup.url}${api}`,
    agentCall: `agent:${w.url}${api}`,
    jsProxy: `${proxy.url}${api}`,
    workerAlone: `${w.url}/healthz`,
    emptyWorker: `${empty.url}/`,
  };
  const n = Object.keys(targets).length;
  for (let i = 0; i < 100 * n; i++) await once(Object.values(targets)[i % n]);
  const times = Object.fromEntries(Object.keys(targets).map((k) => [k, []]));
  for (let done = 0; done < LATENCY_CALLS; done += BLOCK) {
    for (const [k, url] of Object.entries(targets)) for (let i = 0; i < BLOCK; i++) times[k].push(await once(url));
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

  // 3. A large answer, streamed: workerd's RSS while it passes through.
  const pids = workerdPids();
  const rss = () => rssOf(pids);
  const before = rss();
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, rss())), 10);
  const t = performance.now();
  let bytes = 0;
  for (let i = 0; i < BIG_TIMES; i++) {
    const r = await fetch(`${w.url}/open-apis/drive/v1/files/big/download?size=${BIG}`, { headers: { authorization: `Bearer ${token}` } });
    for await (const chunk of r.body) bytes += chunk.length;
  }
  const ms = performance.now() - t;
  clearInterval(sampler);
  results.large = {
    bytesEach: BIG,
    times: BIG_TIMES,
    bytesReceived: bytes,
    mibPerSec: bytes / 1048576 / (ms / 1000),
    rssBefore: before,
    rssPeak: peak,
    rssAfter: rss(),
    workerdProcesses: workerdPids.length,
  };
} finally {
  await w.mf.dispose();
  await noLookup.mf.dispose();
  await empty.mf.dispose();
  await proxy.mf.dispose();
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
console.log(`  ${g.times} x ${mib(g.bytesEach)} MiB through the Worker: ${g.mibPerSec.toFixed(0)} MiB/s; workerd RSS ${mib(g.rssBefore)} -> peak ${mib(g.rssPeak)} -> ${mib(g.rssAfter)} MiB\n`);
writeJson("gateway", { node: process.version, ...results });
