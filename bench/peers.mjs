#!/usr/bin/env node
// Ours vs the official @larksuiteoapi/node-sdk (store/ISV app mode) vs a bare
// Map, in one Node process, against the same sandbox (its own process).
// Prints figures and writes bench/out/peers.json; asserts nothing.
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import * as lark from "@larksuiteoapi/node-sdk";
import { root, sandboxProcess, summary, writeJson } from "./lib.mjs";

const { TenantTokenClient, SelfBuiltAppClient } = await import(`${root}pkg/node.js`);
const { StoreAppClient } = await import(`${root}pkg/store-app.node.js`);
// An earlier commit's package (scripts/bench-before.sh), for a same-run A/B.
const beforePkg = process.env.BENCH_BEFORE && existsSync(`${root}${process.env.BENCH_BEFORE}/pkg/node.js`) ? `${root}${process.env.BENCH_BEFORE}/pkg/` : null;
const earlier = beforePkg && { ...(await import(`${beforePkg}node.js`)), ...(await import(`${beforePkg}store-app.node.js`)) };
const APP_ID = "cli_sandbox_app_one";
const APP_SECRET = "sandbox-secret-one";
const APP_TOKEN = "a-sandbox-app-one";
const TICKET = `ticket-${APP_ID}`;
const TENANT = "73658811060f175d";

/** The SDK's own in-memory cache semantics, one per client so runs do not share state. */
function sdkCache() {
  const values = new Map();
  const k = (key, o) => (o?.namespace ? `${o.namespace}/${key.toString()}` : key);
  return {
    async get(key, o) {
      const d = values.get(k(key, o));
      return d && (!d.expiredTime || d.expiredTime > Date.now()) ? d.value : undefined;
    },
    async set(key, value, expiredTime, o) {
      values.set(k(key, o), { value, expiredTime });
      return true;
    },
  };
}

/** An official-SDK ISV client with the app_ticket already delivered (as its event dispatcher would). */
async function sdkClient(domain) {
  const cache = sdkCache();
  await cache.set(lark.CAppTicket, TICKET, undefined, { namespace: APP_ID });
  const client = new lark.Client({ appId: APP_ID, appSecret: APP_SECRET, appType: lark.AppType.ISV, domain, cache, loggerLevel: lark.LoggerLevel.error });
  // withTenantKey(...).lark carries the tenant under the SDK's private symbol key.
  return (tenantKey) => client.tokenManager.getTenantAccessToken(lark.withTenantKey(tenantKey).lark);
}

const ours = (baseUrl, Client = TenantTokenClient) => {
  const c = new Client({ baseUrl });
  return (tenantKey) => c.get({ appAccessToken: APP_TOKEN, tenantKey }).then((t) => t.tenantAccessToken);
};

async function nsPerCall(fn, rounds = 15, perRound = 10_000) {
  for (let i = 0; i < perRound; i++) await fn();
  const xs = [];
  for (let r = 0; r < rounds; r++) {
    const t = performance.now();
    for (let i = 0; i < perRound; i++) await fn();
    xs.push(((performance.now() - t) * 1e6) / perRound);
  }
  return summary(xs);
}

const sb = await sandboxProcess();
const sdkVersion = JSON.parse(readFileSync(`${root}node_modules/@larksuiteoapi/node-sdk/package.json`, "utf8")).version;
const out = { node: process.version, sdkVersion };

try {
  // 1. Cache hit.
  const oursGet = ours(sb.url);
  const sdkGet = await sdkClient(sb.url);
  if ((await oursGet(TENANT)) === undefined || (await sdkGet(TENANT)) === undefined) throw new Error("warm-up failed");
  const map = new Map([[TENANT, "t"]]);
  const selfBuilt = new SelfBuiltAppClient({ appId: "cli_sandbox_internal_one", appSecret: "sandbox-internal-secret-one", baseUrl: sb.url });
  const storeApp = new StoreAppClient({ appId: APP_ID, appSecret: APP_SECRET, baseUrl: sb.url });
  await storeApp.putAppTicket((await (await fetch(`${sb.url}/__sandbox/ticket`)).json())[APP_ID]);
  if (!(await selfBuilt.tenantToken()).tenantAccessToken || !(await storeApp.tenantToken(TENANT)).tenantAccessToken) throw new Error("warm-up failed");
  out.hit = {
    ours: await nsPerCall(() => oursGet(TENANT)),
    selfBuilt: await nsPerCall(() => selfBuilt.tenantToken().then((t) => t.tenantAccessToken)),
    storeApp: await nsPerCall(() => storeApp.tenantToken(TENANT).then((t) => t.tenantAccessToken)),
    sdk: await nsPerCall(() => sdkGet(TENANT)),
    map: await nsPerCall(async () => map.get(TENANT)),
  };
  if (earlier) {
    const get = ours(sb.url, earlier.TenantTokenClient);
    const sbEarlier = new earlier.SelfBuiltAppClient({ appId: "cli_sandbox_internal_one", appSecret: "sandbox-internal-secret-one", baseUrl: sb.url });
    const saEarlier = new earlier.StoreAppClient({ appId: APP_ID, appSecret: APP_SECRET, baseUrl: sb.url });
    await saEarlier.putAppTicket((await (await fetch(`${sb.url}/__sandbox/ticket`)).json())[APP_ID]);
    await get(TENANT);
    await sbEarlier.tenantToken();
    await saEarlier.tenantToken(TENANT);
    out.hitBefore = {
      dir: process.env.BENCH_BEFORE,
      ours: await nsPerCall(() => get(TENANT)),
      selfBuilt: await nsPerCall(() => sbEarlier.tenantToken().then((t) => t.tenantAccessToken)),
      storeApp: await nsPerCall(() => saEarlier.tenantToken(TENANT).then((t) => t.tenantAccessToken)),
      // The ratio's floor again, after them.
      map: await nsPerCall(async () => map.get(TENANT)),
    };
  }

  // 2. Cold stampedes: upstream calls per endpoint, and time until all answered.
  const stampede = async (make, tenants, perTenant) => {
    const times = [];
    let calls;
    for (let r = 0; r < 5; r++) {
      await sb.reset();
      const get = await make(sb.url);
      const t = performance.now();
      await Promise.all(Array.from({ length: tenants * perTenant }, (_, i) => get(`stampede-${i % tenants}`)));
      times.push(performance.now() - t);
      const s = await sb.stats();
      calls = { tenant: s.requests["/open-apis/auth/v3/tenant_access_token"] ?? 0, app: s.requests["/open-apis/auth/v3/app_access_token"] ?? 0 };
    }
    return { ms: summary(times), calls };
  };
  out.stampede = {
    oneTenant: { ours: await stampede(async (u) => ours(u), 1, 1000), sdk: await stampede(sdkClient, 1, 1000) },
    hundredTenants: { ours: await stampede(async (u) => ours(u), 100, 10), sdk: await stampede(sdkClient, 100, 10) },
  };

  // 3. One cold call: ours vs a bare fetch of the same endpoint vs the SDK's cold path.
  const url = `${sb.url}/open-apis/auth/v3/tenant_access_token`;
  const body = JSON.stringify({ app_access_token: APP_TOKEN, tenant_key: TENANT });
  const bare = [];
  const byHand = [];
  const cold = [];
  const sdkCold = [];
  for (let i = 0; i < 1500 + 400; i++) {
    let t = performance.now();
    const r = await fetch(url, { method: "POST", headers: { "content-type": "application/json; charset=utf-8" }, body });
    JSON.parse(await r.text());
    if (i >= 1500) bare.push(performance.now() - t);
    // What ours sends, made by hand in JS: a timeout signal and redirects refused.
    t = performance.now();
    const ctl = new AbortController();
    const timer = setTimeout((x) => x.abort(), 10_000, ctl);
    const h = await fetch(url, { method: "POST", headers: { "content-type": "application/json; charset=utf-8" }, body, signal: ctl.signal, redirect: "error", window: null });
    JSON.parse(await h.text());
    clearTimeout(timer);
    if (i >= 1500) byHand.push(performance.now() - t);
    const c = ours(sb.url);
    t = performance.now();
    await c(TENANT);
    if (i >= 1500) cold.push(performance.now() - t);
    if (i >= 1500 && i % 4 === 0) {
      const s = await sdkClient(sb.url);
      t = performance.now();
      await s(TENANT);
      sdkCold.push(performance.now() - t);
    }
  }
  out.cold = { bareFetch: summary(bare), byHand: summary(byHand), ours: summary(cold), sdk: summary(sdkCold) };

  // 4. fetch(): an API call through the client (the token from its cache, the answer checked for a
  // refusal) vs a bare fetch with the token header already made, alternating, warmed.
  const fc = new TenantTokenClient({ baseUrl: sb.url });
  const req = { appAccessToken: APP_TOKEN, tenantKey: TENANT };
  const bearer = `Bearer ${(await fc.get(req)).tenantAccessToken}`;
  const api = "/open-apis/im/v1/chats?page_size=20";
  const bareApi = [];
  const oursApi = [];
  const beforeApi = [];
  const fcBefore = earlier && new earlier.TenantTokenClient({ baseUrl: sb.url });
  if (fcBefore) await fcBefore.get(req);
  for (let i = 0; i < 500 + 2000; i++) {
    let t = performance.now();
    const r = await fetch(`${sb.url}${api}`, { headers: { authorization: bearer } });
    await r.arrayBuffer();
    if (i >= 500) bareApi.push(performance.now() - t);
    t = performance.now();
    const o = await fc.fetch(req, api);
    await o.arrayBuffer();
    if (i >= 500) oursApi.push(performance.now() - t);
    if (r.status !== 200 || o.status !== 200) throw new Error(`fetch rows: HTTP ${r.status} / ${o.status}`);
    if (fcBefore) {
      t = performance.now();
      const b = await fcBefore.fetch(req, api);
      await b.arrayBuffer();
      if (i >= 500) beforeApi.push(performance.now() - t);
    }
  }
  out.fetch = { bare: summary(bareApi), ours: summary(oursApi), ...(fcBefore && { before: summary(beforeApi) }) };

  // 5. Installed size: our packed package vs the SDK with its dependencies, each in a fresh project.
  const installedBytes = (spec) => {
    const dir = mkdtempSync(join(tmpdir(), "ftt-size-"));
    try {
      writeFileSync(join(dir, "package.json"), '{"name":"size","private":true}');
      execFileSync("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", "--silent", "--ignore-scripts", spec], { cwd: dir, stdio: "ignore" });
      return Number(execFileSync("du", ["-sb", "node_modules"], { cwd: dir, encoding: "utf8" }).split("\t")[0]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
  const tgzDir = mkdtempSync(join(tmpdir(), "ftt-tgz-"));
  execFileSync("npm", ["pack", "--silent", "--pack-destination", tgzDir, `${root}pkg`]);
  const tgz = execFileSync("ls", [tgzDir], { encoding: "utf8" }).trim();
  out.installed = { ours: installedBytes(join(tgzDir, tgz)), sdk: installedBytes(`@larksuiteoapi/node-sdk@${out.sdkVersion}`) };
  rmSync(tgzDir, { recursive: true, force: true });
} finally {
  sb.close();
}

writeJson("peers", out);
const f = (s) => `${s.median.toFixed(0)} (${s.min.toFixed(0)}–${s.max.toFixed(0)})`;
console.log(`\npeers (Node ${out.node}, @larksuiteoapi/node-sdk ${out.sdkVersion})`);
console.log(`  cache hit ns/call: ours ${f(out.hit.ours)} (self-built ${f(out.hit.selfBuilt)}, store app ${f(out.hit.storeApp)}), SDK ${f(out.hit.sdk)}, Map ${f(out.hit.map)}`);
for (const [k, v] of Object.entries(out.stampede)) {
  console.log(`  stampede ${k}: ours ${JSON.stringify(v.ours.calls)} in ${v.ours.ms.median.toFixed(1)} ms; SDK ${JSON.stringify(v.sdk.calls)} in ${v.sdk.ms.median.toFixed(1)} ms`);
}
console.log(`  cold call µs: bare fetch ${(out.cold.bareFetch.median * 1000).toFixed(0)}, by hand ${(out.cold.byHand.median * 1000).toFixed(0)}, ours ${(out.cold.ours.median * 1000).toFixed(0)}, SDK ${(out.cold.sdk.median * 1000).toFixed(0)}`);
console.log(`  API call µs: bare fetch with the header ${(out.fetch.bare.median * 1000).toFixed(0)}, client.fetch ${(out.fetch.ours.median * 1000).toFixed(0)}`);
console.log(`  installed bytes: ours ${out.installed.ours}, SDK ${out.installed.sdk}\n`);
