#!/usr/bin/env node
// Soak (Node >= 22, `make bench`): a bounded wrk run on loopback against the
// built Worker in workerd, cache hits mixed with misses across 500 tenants.
// Reports non-2xx answers, upstream calls (at most one per tenant is the
// goal: every token lives 2 h, far longer than the run) and workerd's memory
// before and after. Writes bench/out/soak.json.
import { execFileSync } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import { startBuiltWorker } from "../tests/worker/built-worker.mjs";
import { root, sandboxProcess, writeJson } from "./lib.mjs";

const SECONDS = Number(process.env.SOAK_SECONDS ?? 60);
const TENANTS = 500;

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

/** One soak of `seconds` against a fresh workerd running `modules` (default: ours). */
async function soak(seconds, modules) {
  const sb = await sandboxProcess();
  const { mf, url } = await startBuiltWorker({ vars: { FEISHU_BASE_URL: sb.url, LOG_REQUESTS: "false" }, modules });
  try {
    await (await mf.dispatchFetch("http://w/healthz")).text();
    const before = workerdRssKiB();
    const out = execFileSync("wrk", ["-t2", "-c16", `-d${seconds}s`, "--latency", "-s", `${root}bench/soak.lua`, url], { encoding: "utf8" });
    const after = workerdRssKiB();
    const num = (re) => out.match(re)?.[1];
    const stats = await sb.stats();
    return {
      seconds,
      tenants: TENANTS,
      requests: Number(num(/(\d+) requests in/)),
      rps: Number(num(/Requests\/sec:\s+([\d.]+)/)),
      p99: num(/ 99%\s+(\S+)/),
      non2xx: Number(num(/Non-2xx or 3xx responses: (\d+)/) ?? 0),
      socketErrors: num(/Socket errors: (.*)/) ?? "none",
      upstreamCalls: stats.tenantTokenCalls,
      workerdRssKiB: { before, after },
    };
  } finally {
    await mf.dispose();
    sb.close();
  }
}

// The hand-written Worker runs a third as long: it is there to tell the
// runtime's own memory growth from ours.
const result = { ours: await soak(SECONDS), jsKv: await soak(Math.max(5, Math.round(SECONDS / 3)), [{ type: "ESModule", path: "bench/kv-worker.js" }]) };
writeJson("soak", result);
for (const [name, r] of Object.entries(result)) {
  console.log(`\nsoak ${name}: ${r.seconds} s, ${r.requests} requests (${r.rps.toFixed(0)}/s, p99 ${r.p99}), non-2xx ${r.non2xx}, socket errors ${r.socketErrors}`);
  console.log(`      upstream calls ${r.upstreamCalls} for ${r.tenants} tenants (at most one each: ${r.upstreamCalls <= r.tenants ? "met" : "MISSED"})`);
  console.log(`      workerd RSS ${(r.workerdRssKiB.before / 1024).toFixed(1)} MiB before, ${(r.workerdRssKiB.after / 1024).toFixed(1)} MiB after`);
}
console.log();
