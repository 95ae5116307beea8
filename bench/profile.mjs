#!/usr/bin/env node
// Where a cache hit and a cold call spend their time, for the notes under
// bench/RESULTS.md's table: each loop runs in a child Node, profiled by V8's
// sampling profiler (50 µs) from the end of its set-up to the end of the
// loop, against the shipped pkg/, and the samples' self time is
// summed by where the code lives: our wasm, our JS (wasm-bindgen's glue and
// our snippets), Node's fetch (undici) and other internals, V8 (microtasks,
// GC), the benchmark loop. The shipped .wasm has no function names, so the
// split is by place, not by function. Writes bench/out/profile.json.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { root, writeJson } from "./lib.mjs";

const child = (kind, out) => `
import { writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import { sandboxProcess } from ${JSON.stringify(`${root}bench/lib.mjs`)};
const { TenantTokenClient } = await import(${JSON.stringify(`${root}pkg/node.js`)});
const sb = await sandboxProcess();
const c = new TenantTokenClient({ baseUrl: sb.url });
const req = { appAccessToken: "a-sandbox-app-one", tenantKey: "73658811060f175d" };
await c.get(req);
for (let i = 0; i < 1000; i++) { c.invalidate(req.tenantKey); await c.get(req); }
for (let i = 0; i < 100000; i++) await c.get(req);
const session = new Session();
session.connect();
await session.post("Profiler.enable");
await session.post("Profiler.setSamplingInterval", { interval: 50 });
await session.post("Profiler.start");
if (${JSON.stringify(kind)} === "hit") {
  for (let i = 0; i < 1000000; i++) await c.get(req).then((t) => t.tenantAccessToken);
} else {
  for (let i = 0; i < 4000; i++) { c.invalidate(req.tenantKey); await c.get(req); }
}
const { profile } = await session.post("Profiler.stop");
writeFileSync(${JSON.stringify(out)}, JSON.stringify(profile));
sb.close();
`;

function place(frame) {
  const u = frame.url;
  if (u.startsWith("wasm://")) return "our wasm";
  if (u.includes("/pkg/")) return "our JS (glue, snippets)";
  if (u.includes("undici")) return "Node's fetch (undici)";
  if (u.startsWith("node:")) return "other Node internals";
  if (u.includes("ftt-prof-")) return "the benchmark loop";
  if (frame.functionName === "(idle)") return "idle (waiting for the sandbox)";
  if (frame.functionName === "(garbage collector)") return "V8: garbage collector";
  if (frame.functionName === "(program)") return "V8: (program)";
  return `V8 builtins (${frame.functionName.startsWith("run") ? "microtasks" : "other"})`;
}

function profile(kind) {
  const dir = mkdtempSync(join(tmpdir(), "ftt-prof-"));
  try {
    const script = join(dir, "loop.mjs");
    const out = join(dir, "loop.cpuprofile");
    writeFileSync(script, child(kind, out));
    execFileSync(process.execPath, [script], { stdio: ["ignore", "ignore", "inherit"] });
    const p = JSON.parse(readFileSync(out, "utf8"));
    const byId = new Map(p.nodes.map((n) => [n.id, n]));
    const shares = {};
    for (const id of p.samples) {
      const k = place(byId.get(id).callFrame);
      shares[k] = (shares[k] ?? 0) + 1;
    }
    const total = p.samples.length;
    return Object.fromEntries(Object.entries(shares).sort((a, b) => b[1] - a[1]).map(([k, v]) => [k, +((100 * v) / total).toFixed(1)]));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const out = { hit: profile("hit"), cold: profile("cold") };
writeJson("profile", out);
for (const [k, v] of Object.entries(out)) {
  console.log(`\nprofile, ${k === "hit" ? "cache hit" : "cold call"} (% of samples):`);
  for (const [place_, pct] of Object.entries(v)) console.log(`  ${String(pct).padStart(5)}  ${place_}`);
}
console.log();
