#!/usr/bin/env node
// The coordinator (Node >= 22, `make bench`): FRONTS front Workers (each its
// own isolate and memory) in one workerd on one KV namespace, ROUNDS times
// PER_ROUND concurrent cold requests for a new key spread over them, with the
// Durable Object coordinator and without it: Feishu calls per key, and the
// latency of those requests. Then the hit path, 2,000 sequential requests for
// a cached key on one front, with and without: the coordinator is on the
// miss path only. Writes bench/out/coordinator.json.
import { performance } from "node:perf_hooks";
import { startCoordinatedWorkers } from "../tests/worker/built-worker.mjs";
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

async function run(coordinator) {
  const sb = await sandboxProcess();
  const w = await startCoordinatedWorkers({ vars: { FEISHU_BASE_URL: sb.url, LOG_REQUESTS: "false" }, fronts: FRONTS, coordinator });
  try {
    const miss = [];
    const callsPerKey = [];
    for (let r = 0; r < ROUNDS; r++) {
      const before = (await sb.stats()).tenantTokenCalls;
      await Promise.all(
        Array.from({ length: PER_ROUND }, async (_, i) => {
          const t = performance.now();
          const res = await w.fronts[i % FRONTS].fetch(PATH, init(`bench-${r}`));
          await res.arrayBuffer();
          if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
          miss.push(performance.now() - t);
        }),
      );
      callsPerKey.push((await sb.stats()).tenantTokenCalls - before);
    }
    const hit = [];
    for (let i = 0; i < HITS; i++) {
      const t = performance.now();
      const res = await w.fronts[0].fetch(PATH, init("bench-0"));
      await res.arrayBuffer();
      hit.push(performance.now() - t);
    }
    return { coordinator, callsPerKey: summary(callsPerKey), miss: { p50: pct(miss, 0.5), p99: pct(miss, 0.99) }, hit: { p50: pct(hit, 0.5), p99: pct(hit, 0.99) } };
  } finally {
    await w.mf.dispose();
    sb.close();
  }
}

const result = { fronts: FRONTS, rounds: ROUNDS, perRound: PER_ROUND, hits: HITS, without: await run("none"), with: await run("ours") };
writeJson("coordinator", result);
console.log(`\ncoordinator: ${FRONTS} fronts, ${ROUNDS} keys x ${PER_ROUND} concurrent cold requests each`);
for (const k of ["without", "with"]) {
  const r = result[k];
  console.log(`  ${k.padEnd(8)} Feishu calls per key ${r.callsPerKey.median} (${r.callsPerKey.min}-${r.callsPerKey.max}); cold p50 ${r.miss.p50.toFixed(1)} ms, p99 ${r.miss.p99.toFixed(1)} ms; hits p50 ${r.hit.p50.toFixed(2)} ms, p99 ${r.hit.p99.toFixed(2)} ms`);
}
console.log();
