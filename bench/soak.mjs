#!/usr/bin/env node
// Soak (Node >= 22, `make bench`), on loopback, each run against a fresh
// workerd, cache hits mixed with misses across 500 tenants, every run for the
// same SOAK_SECONDS (default 60):
// - closed loop: wrk keeping 16 requests in flight against ours, the
//   hand-written JS Worker with KV, and an empty Worker (the runtime's floor):
//   throughput, non-2xx answers, upstream calls (at most one per tenant is the
//   goal: every token lives 2 h, far longer than the run), and memory sampled
//   every few seconds, workerd's (the runtime and the Worker) and this Node
//   process's (Miniflare's side);
// - open loop: SOAK_RATE requests a second (default 600, below every Worker's
//   capacity here) sent on a fixed schedule whatever the answers do, latency
//   counted from each request's scheduled time, against ours and the
//   hand-written Worker: the tail at the same offered load. (A closed loop
//   offers a faster Worker more load, on a machine wrk and workerd share.)
// Writes bench/out/soak.json.
import { spawn } from "node:child_process";
import http from "node:http";
import { readFileSync, readdirSync } from "node:fs";
import { startBuiltWorker } from "../tests/worker/built-worker.mjs";
import { root, sandboxProcess, writeJson } from "./lib.mjs";

const SECONDS = Number(process.env.SOAK_SECONDS ?? 60);
const TENANTS = 500;
const SAMPLE_MS = 5000;
const RATE = Number(process.env.SOAK_RATE ?? 600);

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

/**
 * `rate` requests a second for `seconds` on a fixed schedule (keep-alive
 * connections, as many as the answers need); each latency counts from the
 * request's scheduled time, so a stall delays every request behind it in the
 * figures too. Stops by itself: every request answered, or `seconds` + 30 s.
 */
function openLoop(url, rate, seconds) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  const total = rate * seconds;
  const latencies = [];
  let sent = 0;
  let done = 0;
  let failed = 0;
  const t0 = performance.now();
  return new Promise((resolve) => {
    const finish = () => {
      clearTimeout(guard);
      agent.destroy();
      latencies.sort((a, b) => a - b);
      const at = (q) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))];
      resolve({ rate, seconds, requests: done, failed, p50: at(0.5), p99: at(0.99), max: latencies.at(-1) });
    };
    const guard = setTimeout(finish, (seconds + 30) * 1000);
    const answered = (scheduled, ok) => {
      latencies.push(performance.now() - scheduled);
      if (!ok) failed++;
      if (++done === total) finish();
    };
    const send = (scheduled) => {
      const body = JSON.stringify({ app_access_token: "a-sandbox-app-one", tenant_key: `soak-${1 + Math.floor(Math.random() * TENANTS)}` });
      const req = http.request(`${url}/open-apis/auth/v3/tenant_access_token`, { method: "POST", agent, headers: { "content-type": "application/json; charset=utf-8" } }, (res) => {
        res.resume();
        res.on("end", () => answered(scheduled, res.statusCode === 200));
      });
      req.on("error", () => answered(scheduled, false));
      req.end(body);
    };
    const tick = () => {
      const due = Math.min(total, Math.floor(((performance.now() - t0) * rate) / 1000));
      while (sent < due) send(t0 + (sent++ * 1000) / rate);
      if (sent < total) setTimeout(tick, 1);
    };
    tick();
  });
}

/** One open-loop run against a fresh workerd running `modules` (default: ours). */
async function steady(seconds, modules) {
  const sb = await sandboxProcess();
  const { mf, url } = await startBuiltWorker({ vars: { FEISHU_BASE_URL: sb.url, LOG_REQUESTS: "false" }, modules });
  try {
    await (await mf.dispatchFetch("http://w/healthz")).text();
    return { ...(await openLoop(url, RATE, seconds)), upstreamCalls: (await sb.stats()).tenantTokenCalls };
  } finally {
    await mf.dispose();
    sb.close();
  }
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

const JS_KV = [{ type: "ESModule", path: "bench/kv-worker.js" }];
const result = {
  ours: await soak(SECONDS),
  jsKv: await soak(SECONDS, JS_KV),
  empty: await soak(SECONDS, [{ type: "ESModule", path: "bench/empty-worker.js" }]),
  steady: { ours: await steady(SECONDS), jsKv: await steady(SECONDS, JS_KV) },
};
writeJson("soak", result);
const mib = (kib) => (kib / 1024).toFixed(0);
for (const [name, r] of Object.entries(result).filter(([k]) => k !== "steady")) {
  console.log(`\nsoak ${name}: ${r.seconds} s, ${r.requests} requests (${r.rps.toFixed(0)}/s, p50 ${r.p50}, p99 ${r.p99}), non-2xx ${r.non2xx}, socket errors ${r.socketErrors}`);
  if (name !== "empty") console.log(`      upstream calls ${r.upstreamCalls} for ${r.tenants} tenants (at most one each: ${r.upstreamCalls <= r.tenants ? "met" : "MISSED"})`);
  console.log(`      workerd RSS MiB every ${SAMPLE_MS / 1000} s: ${r.samples.map((x) => mib(x.workerdKiB)).join(" ")}; Node (Miniflare) ${mib(r.samples[0].nodeKiB)} -> ${mib(r.samples.at(-1).nodeKiB)}`);
}
for (const [name, r] of Object.entries(result.steady)) {
  console.log(`\nopen loop ${name}: ${r.rate}/s for ${r.seconds} s, ${r.requests} answered (${r.failed} failed), p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms, max ${r.max.toFixed(1)} ms; upstream calls ${r.upstreamCalls}`);
}
console.log();
