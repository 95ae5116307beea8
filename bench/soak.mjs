#!/usr/bin/env node
// Soak (Node >= 22, `make bench`): bounded wrk runs on loopback, each against
// a fresh workerd, cache hits mixed with misses across 500 tenants: ours, the
// hand-written JS Worker with KV, and an empty Worker (the runtime's floor),
// each for the same SOAK_SECONDS (default 60). Reports latency, non-2xx
// answers, upstream calls (at most one per tenant is the goal: every token
// lives 2 h, far longer than the run), and memory sampled every few seconds:
// workerd's (the runtime and the Worker) and this Node process's (Miniflare's
// side). Writes bench/out/soak.json.
import { spawn } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import { startBuiltWorker } from "../tests/worker/built-worker.mjs";
import { root, sandboxProcess, writeJson } from "./lib.mjs";

const SECONDS = Number(process.env.SOAK_SECONDS ?? 60);
const TENANTS = 500;
const SAMPLE_MS = 5000;

/** Resident memory (KiB) of the workerd processes started by this one. */
function workerdRssKiB() {
  let total = 0;
  for (const pid of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    try {
      const status = readFileSync(`/proc/${pid}/status`, "utf8");
      const ppid = Number(status.match(/PPid:\s+(\d+)/)?.[1]);
      const name = status.match(/Name:\s+(\S+)/)?.[1] ?? "";
      if (ppid === process.pid && name.startsWith("workerd")) total += Number(status.match(/VmRSS:\s+(\d+)/)?.[1] ?? 0);
    } catch {
      // The process ended while we looked.
    }
  }
  return total;
}

/** wrk's output, sampling memory while it runs; wrk stops itself after `seconds`. */
function wrk(seconds, url, samples) {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const sample = () => samples.push({ s: Math.round((Date.now() - t0) / 1000), workerdKiB: workerdRssKiB(), nodeKiB: Math.round(process.memoryUsage().rss / 1024) });
    const timer = setInterval(sample, SAMPLE_MS);
    const child = spawn("wrk", ["-t2", "-c16", `-d${seconds}s`, "--latency", "-s", `${root}bench/soak.lua`, url], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.on("error", reject);
    child.on("exit", (code) => {
      clearInterval(timer);
      sample();
      code === 0 ? resolve(out) : reject(new Error(`wrk exited ${code}`));
    });
  });
}

/** One soak of `seconds` against a fresh workerd running `modules` (default: ours). */
async function soak(seconds, modules) {
  const sb = await sandboxProcess();
  const { mf, url } = await startBuiltWorker({ vars: { FEISHU_BASE_URL: sb.url, LOG_REQUESTS: "false" }, modules });
  try {
    await (await mf.dispatchFetch("http://w/healthz")).text();
    const samples = [{ s: 0, workerdKiB: workerdRssKiB(), nodeKiB: Math.round(process.memoryUsage().rss / 1024) }];
    const out = await wrk(seconds, url, samples);
    const num = (re) => out.match(re)?.[1];
    const stats = await sb.stats();
    return {
      seconds,
      tenants: TENANTS,
      requests: Number(num(/(\d+) requests in/)),
      rps: Number(num(/Requests\/sec:\s+([\d.]+)/)),
      p50: num(/ 50%\s+(\S+)/),
      p99: num(/ 99%\s+(\S+)/),
      non2xx: Number(num(/Non-2xx or 3xx responses: (\d+)/) ?? 0),
      socketErrors: num(/Socket errors: (.*)/) ?? "none",
      upstreamCalls: stats.tenantTokenCalls,
      workerdRssKiB: { before: samples[0].workerdKiB, after: samples.at(-1).workerdKiB },
      samples,
    };
  } finally {
    await mf.dispose();
    sb.close();
  }
}

const result = {
  ours: await soak(SECONDS),
  jsKv: await soak(SECONDS, [{ type: "ESModule", path: "bench/kv-worker.js" }]),
  empty: await soak(SECONDS, [{ type: "ESModule", path: "bench/empty-worker.js" }]),
};
writeJson("soak", result);
const mib = (kib) => (kib / 1024).toFixed(0);
for (const [name, r] of Object.entries(result)) {
  console.log(`\nsoak ${name}: ${r.seconds} s, ${r.requests} requests (${r.rps.toFixed(0)}/s, p50 ${r.p50}, p99 ${r.p99}), non-2xx ${r.non2xx}, socket errors ${r.socketErrors}`);
  if (name !== "empty") console.log(`      upstream calls ${r.upstreamCalls} for ${r.tenants} tenants (at most one each: ${r.upstreamCalls <= r.tenants ? "met" : "MISSED"})`);
  console.log(`      workerd RSS MiB every ${SAMPLE_MS / 1000} s: ${r.samples.map((x) => mib(x.workerdKiB)).join(" ")}; Node (Miniflare) ${mib(r.samples[0].nodeKiB)} -> ${mib(r.samples.at(-1).nodeKiB)}`);
}
console.log();
