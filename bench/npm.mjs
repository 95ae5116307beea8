#!/usr/bin/env node
// Size and speed of the npm package, printed as figures (never asserted).
// Loopback only; bounded: a few seconds in all. Run by `make bench`.
import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { execFileSync } from "node:child_process";
import { performance } from "node:perf_hooks";
import { startSandbox, SANDBOX_APPS, SANDBOX_TENANT } from "../tests/sandbox/sandbox.mjs";

const wasmPath = new URL("../pkg/feishu_tenant_token_bg.wasm", import.meta.url);
const { TenantTokenClient } = await import(new URL("../pkg/node.js", import.meta.url).href);
const APP = SANDBOX_APPS.cli_sandbox_app_one.appAccessToken;
const req = { appAccessToken: APP, tenantKey: SANDBOX_TENANT };

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};
const fmt = (n, d = 2) => n.toFixed(d);
const rows = [];
const row = (what, value, target = "") => rows.push([what, value, target]);

// 1. Size.
const wasm = readFileSync(wasmPath);
const gz = gzipSync(wasm, { level: 9 }).length;
row(".wasm size (gzip -9)", `${(gz / 1024).toFixed(1)} KiB (${gz} B; raw ${wasm.length} B)`, `<= 40 KB: ${gz <= 40_000 ? "met" : "MISSED"}`);

// 2. Instantiation in a fresh Node process (import of the package's Node entry).
const importMs = [];
for (let i = 0; i < 5; i++) {
  const out = execFileSync(process.execPath, [
    "--input-type=module",
    "-e",
    `const t = performance.now(); await import(${JSON.stringify(new URL("../pkg/node.js", import.meta.url).href)}); console.log(performance.now() - t);`,
  ]);
  importMs.push(Number(out));
}
row("import + instantiate in Node (median of 5)", `${fmt(median(importMs))} ms`);

const sb = await startSandbox();
try {
  // 3. Cache hit.
  const client = new TenantTokenClient({ baseUrl: sb.url });
  await client.get(req);
  const perRound = 20_000;
  const hitNs = [];
  for (let r = 0; r < 15; r++) {
    const t = performance.now();
    for (let i = 0; i < perRound; i++) await client.get(req);
    hitNs.push(((performance.now() - t) * 1e6) / perRound);
  }
  const map = new Map([["k", { tenantAccessToken: "t", expire: 1, expiresAt: 1 }]]);
  const floorNs = [];
  for (let r = 0; r < 15; r++) {
    const t = performance.now();
    for (let i = 0; i < perRound; i++) await map.get("k");
    floorNs.push(((performance.now() - t) * 1e6) / perRound);
  }
  const hit = median(hitNs);
  row("TenantTokenClient.get, cache hit (median of 15 x 20k)", `${fmt(hit, 0)} ns/call (min ${fmt(Math.min(...hitNs), 0)}, max ${fmt(Math.max(...hitNs), 0)})`, `<= 1000 ns: ${hit <= 1000 ? "met" : "MISSED"}`);
  row("await Map.get (the floor)", `${fmt(median(floorNs), 0)} ns/call`);

  // 4. Cold stampede: 1,000 concurrent gets for one tenant.
  sb.reset();
  const cold = new TenantTokenClient({ baseUrl: sb.url });
  let t = performance.now();
  await Promise.all(Array.from({ length: 1000 }, () => cold.get(req)));
  const stampedeMs = performance.now() - t;
  const calls = sb.stats().tenantTokenCalls;
  row("1,000 concurrent cold gets, one tenant", `${calls} upstream call(s), all answered in ${fmt(stampedeMs)} ms`, `exactly 1: ${calls === 1 ? "met" : "MISSED"}`);

  // 5. Cold get vs a bare fetch of the same endpoint (interleaved, medians).
  const url = `${sb.url}/open-apis/auth/v3/tenant_access_token`;
  const body = JSON.stringify({ app_access_token: APP, tenant_key: SANDBOX_TENANT });
  const bare = [];
  const ours = [];
  // Both paths are warmed first (JIT tiers, connection pool), then measured
  // interleaved so drift in the machine affects both alike.
  const warm = 1500;
  for (let i = 0; i < warm + 500; i++) {
    t = performance.now();
    const r = await fetch(url, { method: "POST", headers: { "content-type": "application/json; charset=utf-8" }, body });
    JSON.parse(await r.text());
    if (i >= warm) bare.push(performance.now() - t);
    const c = new TenantTokenClient({ baseUrl: sb.url });
    t = performance.now();
    await c.get(req);
    if (i >= warm) ours.push(performance.now() - t);
    c.free();
  }
  const ratio = median(ours) / median(bare);
  row("cold get vs bare fetch + JSON.parse (median of 500, warmed)", `${fmt(median(ours) * 1000, 0)} µs vs ${fmt(median(bare) * 1000, 0)} µs: +${fmt((ratio - 1) * 100, 1)} %`, `<= +10 %: ${ratio <= 1.1 ? "met" : "MISSED"}`);
} finally {
  await sb.close();
}

const w = [0, 0, 0];
for (const r of rows) r.forEach((c, i) => (w[i] = Math.max(w[i], c.length)));
console.log(`\nfeishu-tenant-token npm benchmarks (Node ${process.version}, ${new Date().toISOString()})\n`);
for (const r of rows) console.log(`  ${r[0].padEnd(w[0])}  ${r[1].padEnd(w[1])}  ${r[2]}`);
console.log();
