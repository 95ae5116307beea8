#!/usr/bin/env node
// Worker figures (run with Node >= 22, by `make bench`): the .wasm size, and
// cache-hit throughput in local workerd (Miniflare) measured with wrk on
// loopback (2 threads, 16 connections, 3 runs of 5 s), ours vs
// bench/kv-worker.js in the same run, and workerd start-up to the first
// answer, ours and bench/kv-worker.js alternating. Prints figures and writes
// bench/out/worker.json; asserts nothing.
import { readFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { startBuiltWorker } from "../tests/worker/built-worker.mjs";
import { root, sandboxProcess, summary, writeJson } from "./lib.mjs";
import { SIZE_GATES, gzip9 } from "../scripts/size-gates.mjs";

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const RUNS = 3;

const wasm = readFileSync(new URL("../worker/build/index_bg.wasm", import.meta.url));
const gz = gzip9(wasm);

/** wrk's requests/s and latency percentiles, parsed from its --latency output. */
function wrk(url) {
  const out = execFileSync("wrk", ["-t2", "-c16", `-d${SECONDS}s`, "--latency", "-s", `${root}bench/post.lua`, url], { encoding: "utf8" });
  const num = (re) => out.match(re)?.[1];
  const ms = (v) => (v?.endsWith("us") ? parseFloat(v) / 1000 : v?.endsWith("ms") ? parseFloat(v) : parseFloat(v) * 1000);
  const non2xx = Number(num(/Non-2xx or 3xx responses: (\d+)/) ?? 0);
  return { rps: Number(num(/Requests\/sec:\s+([\d.]+)/)), p50: ms(num(/ 50%\s+(\S+)/)), p99: ms(num(/ 99%\s+(\S+)/)), non2xx };
}

// Start-up: a fresh workerd with the Worker, until it answers its first
// request (ours /healthz; the hand-written one, which has no such route, its
// 404), neither calling upstream. The two alternate, five times each.
const KV_WORKER = [{ type: "ESModule", path: "bench/kv-worker.js" }];
const startupMs = [];
const startupMsJsKv = [];
for (let i = 0; i < 5; i++) {
  for (const [modules, into] of [[undefined, startupMs], [KV_WORKER, startupMsJsKv]]) {
    const t = performance.now();
    const { mf } = await startBuiltWorker({ modules });
    await (await mf.dispatchFetch("http://w/healthz")).text();
    into.push(performance.now() - t);
    await mf.dispose();
  }
}

const sb = await sandboxProcess();
// Logging off: Miniflare relays each log line through Node at a cost of
// milliseconds, which would measure the relay, not the Worker (the
// hand-written Worker logs nothing either).
const vars = { FEISHU_BASE_URL: sb.url, LOG_REQUESTS: "false" };
const ours = await startBuiltWorker({ vars });
const theirs = await startBuiltWorker({ vars, modules: KV_WORKER });
const results = {};
try {
  for (const [name, { mf, url }] of [["ours (memory -> KV -> Feishu)", ours], ["hand-written JS, KV read per request", theirs]]) {
    const startedAt = Date.now();
    await (await mf.dispatchFetch(`${url}/open-apis/auth/v3/tenant_access_token`, { method: "POST", headers: { "content-type": "application/json" }, body: readFileSync(`${root}bench/post.lua`, "utf8").match(/wrk\.body = '(.*)'/)[1] })).text();
    // Runs alternate between the two Workers would be fairer still, but each
    // needs its own warm isolate; three runs each give a median and a spread.
    const runs = Array.from({ length: RUNS }, () => wrk(url));
    const pick = (k) => summary(runs.map((r) => r[k]));
    results[name] = { rps: pick("rps").median, rpsRange: pick("rps"), p50: pick("p50").median, p99: pick("p99").median, non2xx: runs.reduce((n, r) => n + r.non2xx, 0), ms: Date.now() - startedAt };
  }
} finally {
  await ours.mf.dispose();
  await theirs.mf.dispose();
  sb.close();
}

const [a, b] = Object.values(results);
console.log(`\nfeishu-tenant-token Worker benchmarks (Node ${process.version}, wrk -t2 -c16 -d${SECONDS}s, ${new Date().toISOString()})\n`);
console.log(`  Worker .wasm size (gzip -9)  ${(gz / 1024).toFixed(1)} KiB (${gz} B; raw ${wasm.length} B)  <= ${SIZE_GATES.worker} B: ${gz <= SIZE_GATES.worker ? "met" : "MISSED"}`);
for (const [name, r] of Object.entries(results)) {
  console.log(`  ${name.padEnd(38)} ${r.rps.toFixed(0).padStart(7)} req/s   p50 ${r.p50.toFixed(2)} ms   p99 ${r.p99.toFixed(2)} ms   non-2xx ${r.non2xx}`);
}
console.log(`  throughput ratio ours / hand-written: ${(a.rps / b.rps).toFixed(2)}x  (goal >= 1.0x: ${a.rps >= b.rps ? "met" : "MISSED"})`);
console.log(`  Miniflare start-up to first answer: ours ${summary(startupMs).median.toFixed(0)} ms, hand-written ${summary(startupMsJsKv).median.toFixed(0)} ms (medians of 5)\n`);
writeJson("worker", { node: process.version, wasmBytes: wasm.length, wasmGzip: gz, seconds: SECONDS, runs: RUNS, ours: a, jsKv: b, startupMs: summary(startupMs), startupMsJsKv: summary(startupMsJsKv) });
