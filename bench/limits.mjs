#!/usr/bin/env node
// Feishu's limits at the gateway (#35), on loopback against the sandbox in
// its own process enforcing them (run with Node >= 22, by `make bench`):
//  1. the fleet: 10 official Node SDK processes of one app, 20 calls a second
//     between them for 3 s, to an API the sandbox limits at 5 a second, with
//     the limit known (RATE_LIMITS) and learnt (none configured), through
//     one Worker and through two fronts with the limits' object: calls that
//     succeeded, Feishu's refusals, each call's time to its answer (p50/p99);
//  2. a card streamed: 100 updates of one message at 20 a second, the sandbox
//     allowing 5 a second per message: offered, sent, coalesced, refused.
// (What a call on a route with no limit costs is bench/gateway.mjs's A/B.)
// Prints figures and writes bench/out/limits.json; asserts nothing.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { startBuiltWorker, startCoordinatedWorkers } from "../tests/worker/built-worker.mjs";
import { root, sandboxProcess, writeJson } from "./lib.mjs";
import { SANDBOX_SELF_BUILT_APPS } from "../sandbox/sandbox.mjs";

const run = promisify(execFile);
const APP = "cli_sandbox_internal_one";
const SECRET = SANDBOX_SELF_BUILT_APPS[APP].appSecret;
const FLEET = 10;
const CALLS = 6;
const EVERY_MS = 500;
const PATH = "/open-apis/im/v1/chats";
const percentile = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

const sb = await sandboxProcess();
const control = async (name, body) => (await fetch(`${sb.url}/__sandbox/${name}`, { method: "POST", body: JSON.stringify(body) })).json();
const stats = async () => (await fetch(`${sb.url}/__sandbox/stats`)).json();
const base = { FEISHU_BASE_URL: sb.url, LOG_REQUESTS: "false", SELF_BUILT_APPS: JSON.stringify({ [APP]: SECRET }), RATE_LIMIT_WAIT_MS: "15000" };
const known = { RATE_LIMITS: JSON.stringify({ [`GET ${PATH}`]: "5/s" }) };
const results = { fleet: {}, card: {} };

async function fleet(urls) {
  await sb.reset();
  await control("limits", { routes: { [`GET ${PATH}`]: { limit: 5 } } });
  const runs = await Promise.all(
    Array.from({ length: FLEET }, (_, i) =>
      run(process.execPath, [`${root}tests/worker/sdk-limited-child.mjs`, urls[i % urls.length], String(CALLS), String(EVERY_MS), String(i * (EVERY_MS / FLEET)), PATH], { timeout: 60_000 }),
    ),
  );
  const out = runs.map((r) => JSON.parse(r.stdout.trim()));
  const ms = out.flatMap((o) => o.ms);
  return {
    offered: FLEET * CALLS,
    succeeded: out.reduce((n, o) => n + o.ok, 0),
    refusedByFeishu: (await stats()).limits.refused.length,
    p50Ms: percentile(ms, 50),
    p99Ms: percentile(ms, 99),
  };
}

try {
  for (const [name, vars] of [["known", known], ["learnt", {}]]) {
    const w = await startBuiltWorker({ vars: { ...base, ...vars } });
    try {
      results.fleet[name] = await fleet([w.url]);
    } finally {
      await w.mf.dispose();
    }
  }
  const two = await startCoordinatedWorkers({ vars: { ...base, ...known }, sockets: true });
  try {
    results.fleet.twoFronts = await fleet(two.fronts.map((f) => f.url));
  } finally {
    await two.mf.dispose();
  }

  // 2. A card streamed into one message (its id shaped as Feishu's: with digits).
  await sb.reset();
  await control("limits", { updatesPerMessage: 5 });
  const w = await startBuiltWorker({ vars: base });
  try {
    const token = (await (await fetch(`${w.url}/open-apis/auth/v3/tenant_access_token/internal`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ app_id: APP, app_secret: SECRET }) })).json()).tenant_access_token;
    const updates = [];
    for (let i = 0; i < 100; i++) {
      updates.push(fetch(`${w.url}/open-apis/im/v1/messages/om_3bench7card`, { method: "PATCH", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify({ content: i }) }));
      await new Promise((r) => setTimeout(r, 50));
    }
    const answers = await Promise.all(updates);
    const s = await stats();
    results.card = {
      offered: 100,
      succeeded: answers.filter((a) => a.status === 200).length,
      sent: s.apiCalls.filter((c) => c.method === "PATCH").length,
      coalesced: answers.filter((a) => a.headers.get("x-coalesced") === "1").length,
      refusedByFeishu: s.limits.refused.length,
      lastLanded: JSON.parse((await answers.at(-1).json()).data.body).content === 99,
    };
  } finally {
    await w.mf.dispose();
  }
} finally {
  sb.close();
}

console.log(`\nfeishu-tenant-token: Feishu's limits at the gateway (Node ${process.version}, loopback, ${new Date().toISOString()})\n`);
for (const [name, f] of Object.entries(results.fleet)) {
  console.log(`  fleet (${name}): ${FLEET} SDK processes, ${f.offered} calls at 20/s to a 5/s API: ${f.succeeded} succeeded, ${f.refusedByFeishu} refused by Feishu; each call's answer p50 ${f.p50Ms} ms, p99 ${f.p99Ms} ms`);
}
const c = results.card;
console.log(`  card streamed: ${c.offered} updates offered at 20/s, ${c.sent} sent, ${c.coalesced} coalesced, ${c.refusedByFeishu} refused by Feishu, ${c.succeeded} answered 200; last content landed: ${c.lastLanded}\n`);
writeJson("limits", { node: process.version, ...results });
