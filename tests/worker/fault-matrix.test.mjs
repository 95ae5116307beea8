// The fault matrix: every upstream fault × every state of
// the KV entry × every KV failure, against the built Worker in workerd, each
// cell checked against the documented rules and printed as a table.
//
// Rules (docs/worker.md "Cache design", "Errors"; docs/tokens.md "Stale-if-error";
// worker/src/http/reply.rs):
// - KV trouble never fails a request by itself: a failed get is an absent
//   entry, a failed put is logged and the fresh token is served anyway.
// - A KV token is served (HIT) only with >= MIN_VALIDITY_SECS left.
// - Stale-if-error: when Feishu fails, a KV token with more than 60 s left
//   is served (STALE); an expired one never is.
// - Errors: network -> 502 50200, HTTP error or bad body -> 502 50201,
//   timeout -> 504 50400, rate limit -> 429 99991400 with retry-after.
// - Retries (src/retry.rs): network errors, timeouts and 5xx are retried
//   (UPSTREAM_RETRIES times); a rate limit only if its reset fits the deadline
//   (here it does not); malformed answers never.
//
// Each cell uses a tenant_key of its own, so the isolate's memory is empty and
// only the KV entry the cell writes (through the real namespace) matters.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import net from "node:net";
import { startSandbox, SANDBOX_APPS, PATHS } from "../../sandbox/sandbox.mjs";
import { startBuiltWorker, KV_MODES } from "./built-worker.mjs";

const APP = SANDBOX_APPS.cli_sandbox_app_one.appAccessToken;

// Small values so that every cell takes well under a second.
const SETTINGS = {
  MIN_VALIDITY_SECS: "1800",
  UPSTREAM_TIMEOUT_MS: "250",
  UPSTREAM_RETRIES: "1",
  // Below the sandbox's 2 s rate-limit reset: a 429 is answered at once.
  UPSTREAM_DEADLINE_MS: "1000",
  LOG_REQUESTS: "false",
};
const SANDBOX_SETTINGS = { slowMs: 1000, rateLimitResetSecs: 2 }; // slowMs > UPSTREAM_TIMEOUT_MS
const RETRIES = Number(SETTINGS.UPSTREAM_RETRIES);

/** Upstream faults, in table order: how each is produced, and what the rules say it becomes. */
const FAULTS = new Map([
  ["none", { error: null }],
  ["refused", { error: { status: 502, code: 50200, name: "NETWORK_ERROR" }, attempts: 0 }], // nothing listens: the sandbox sees nothing
  ["reset", { queue: "reset", error: { status: 502, code: 50200, name: "NETWORK_ERROR" }, attempts: 1 + RETRIES }],
  ["timeout", { queue: "slow", error: { status: 504, code: 50400, name: "TIMEOUT" }, attempts: 1 + RETRIES }],
  ["500", { queue: "500", error: { status: 502, code: 50201, name: "BAD_UPSTREAM_ANSWER" }, attempts: 1 + RETRIES }],
  ["html", { queue: "html", error: { status: 502, code: 50201, name: "BAD_UPSTREAM_ANSWER" }, attempts: 1 + RETRIES }], // an HTTP 502 page: a 5xx, retried
  ["truncated", { queue: "truncated", error: { status: 502, code: 50201, name: "BAD_UPSTREAM_ANSWER" }, attempts: 1 }],
  ["429", { queue: "429", error: { status: 429, code: 99991400, retryAfter: "2" }, attempts: 1 }],
]);

/** The KV entry a cell starts with: seconds left on its token, or none. */
const CACHE_STATES = new Map([
  ["empty", null],
  ["fresh", 7000], // >= MIN_VALIDITY_SECS
  ["stale", 600], // under MIN_VALIDITY_SECS, over 60 s
  ["expired", -60],
]);

/** The KV key docs/worker.md documents, computed independently of the Worker. */
function kvKey(appAccessToken, tenantKey) {
  const h = createHash("sha256").update("feishu-tenant-token/app-binding/v1\0").update(appAccessToken).digest("hex");
  return `tat:v1:${h}:${tenantKey}`;
}

/** What the rules say one cell answers. */
function expected(fault, cache, kvMode) {
  const f = FAULTS.get(fault);
  const readable = kvMode !== "get-throws"; // a failed get is an absent entry
  const seeded = CACHE_STATES.get(cache) !== null && readable;
  // Every cell reads KV once; only a token fresh from Feishu is written, with
  // its reverse-index entry (ref:v2:<digest>, read first to add this key to
  // the keys it names, for evicting the token if Feishu refuses it later).
  const logged = readable ? [] : ["kv_get_failed"];
  const unchanged = { kvCalls: { get: 1 }, kvAfter: "unchanged", logged };
  if (seeded && cache === "fresh") {
    return { status: 200, cache: "HIT", layer: "kv", token: "kv", upstreamCalls: 0, ...unchanged };
  }
  if (!f.error) {
    const putFails = kvMode === "put-throws";
    return {
      status: 200,
      cache: "MISS",
      layer: "upstream",
      token: "new",
      upstreamCalls: 1,
      kvCalls: { get: 2, put: 2 },
      kvAfter: putFails ? "unchanged" : "new",
      logged: putFails ? ["kv_put_failed"] : logged,
    };
  }
  if (seeded && cache === "stale") {
    return { status: 200, cache: "STALE", layer: "kv", token: "kv", upstreamCalls: f.attempts, ...unchanged };
  }
  return { status: f.error.status, error: f.error, cache: null, layer: null, token: null, upstreamCalls: f.attempts, ...unchanged };
}

const label = (o) => (o.status === 200 ? `${o.status} ${o.cache}` : `${o.status} ${o.code ?? o.error?.code}`);

let sb;
let w; // FEISHU_BASE_URL = the sandbox
let wRefused; // FEISHU_BASE_URL = a loopback port nobody listens on
const logs = new Map(); // worker -> the KV events it logged ("kv_get_failed", ...)
const results = new Map(); // "fault|cache|kv" -> { got, exp, ok, why }
const startedAt = performance.now();

async function closedPort() {
  const server = net.createServer();
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

before(async () => {
  sb = await startSandbox(SANDBOX_SETTINGS);
  const refusedUrl = `http://127.0.0.1:${await closedPort()}`;
  const start = async (baseUrl) => {
    const events = [];
    const onLog = ({ message }) => {
      const event = message.match(/"event":"(kv_[a-z_]+)"/)?.[1];
      if (event) events.push(event);
      else if (!message.includes('"route":')) process.stderr.write(`workerd: ${message}\n`);
    };
    const worker = await startBuiltWorker({ faultyKv: true, onLog, vars: { ...SETTINGS, FEISHU_BASE_URL: baseUrl } });
    logs.set(worker, events);
    return worker;
  };
  [w, wRefused] = await Promise.all([start(sb.url), start(refusedUrl)]);
});

after(async () => {
  await Promise.all([w?.mf.dispose(), wRefused?.mf.dispose()]);
  await sb?.close();
  printTable();
});

async function control(path, body) {
  const r = await fetch(`${sb.url}/__sandbox/${path}`, { method: "POST", body: JSON.stringify(body) });
  assert.equal(r.status, 200, `sandbox ${path}: ${await r.text()}`);
}

function post(worker, tenantKey) {
  return worker.mf.dispatchFetch(`http://worker${PATHS.tenantToken}`, {
    method: "POST",
    headers: { "content-type": "application/json; charset=utf-8" },
    body: JSON.stringify({ app_access_token: APP, tenant_key: tenantKey }),
  });
}

/** Runs one cell; returns what happened. */
async function run(fault, cache, kvMode, exp) {
  const worker = fault === "refused" ? wRefused : w;
  const events = logs.get(worker);
  const tenant = `fm-${fault}-${cache}-${kvMode}-${process.pid}`;
  const key = kvKey(APP, tenant);
  const kv = await worker.mf.getKVNamespace("TOKENS");
  const secsLeft = CACHE_STATES.get(cache);
  const seededToken = `t-kv-${cache}-${fault}-${kvMode}`;
  const seededValue =
    secsLeft === null ? null : JSON.stringify({ v: 1, tenant_access_token: seededToken, expires_at_ms: Date.now() + secsLeft * 1000 });
  if (seededValue !== null) await kv.put(key, seededValue, { expirationTtl: 3600 });

  const upstreamBefore = sb.stats().tenantTokenCalls;
  events.length = 0;
  worker.resetKvCalls();
  worker.setKvMode(kvMode);
  let resp;
  let upstreamCalls;
  let kvCalls;
  try {
    const { queue } = FAULTS.get(fault);
    if (queue) await control("faults", { fault: queue, count: -1 });
    resp = await post(worker, tenant);
    upstreamCalls = sb.stats().tenantTokenCalls - upstreamBefore;
    kvCalls = worker.kvCalls();
  } finally {
    worker.setKvMode("ok");
    await control("faults", { fault: null });
  }
  const body = await resp.json();
  // workerd's output arrives on its own: wait a little for the lines expected.
  for (const t = Date.now(); !exp.logged.every((e) => events.includes(e)) && Date.now() - t < 2000; ) {
    await new Promise((r) => setTimeout(r, 10));
  }
  const stored = await kv.get(key);
  const listed = (await kv.list({ prefix: key })).keys.find((k) => k.name === key);
  // The sandbox's own token for this tenant (same while >= 30 min left), asked
  // after the counting, to tell a token fresh from Feishu from anything else.
  const sandboxToken =
    resp.status === 200 && resp.headers.get("x-cache") === "MISS"
      ? (await (await fetch(`${sb.url}${PATHS.tenantToken}`, { method: "POST", body: JSON.stringify({ app_access_token: APP, tenant_key: tenant }) })).json())
          .tenant_access_token
      : undefined;
  return {
    status: resp.status,
    cache: resp.headers.get("x-cache"),
    layer: resp.headers.get("x-cache-layer"),
    retryAfter: resp.headers.get("retry-after"),
    body,
    code: body.code,
    upstreamCalls,
    kvCalls,
    seededToken,
    seededValue,
    sandboxToken,
    stored,
    storedTtlSecs: listed?.expiration ? listed.expiration - Date.now() / 1000 : undefined,
    logged: [...new Set(events)].sort(),
  };
}

function check(exp, got) {
  const ctx = `\n  expected ${label(exp)} (${exp.upstreamCalls} upstream call(s)), got ${label(got)} (${got.upstreamCalls} upstream call(s))` +
    `\n  body ${JSON.stringify(got.body)}`;
  assert.equal(got.status, exp.status, `status${ctx}`);
  assert.equal(got.cache, exp.cache, `x-cache${ctx}`);
  assert.equal(got.layer, exp.layer, `x-cache-layer${ctx}`);
  assert.equal(got.upstreamCalls, exp.upstreamCalls, `upstream calls seen by the sandbox${ctx}`);
  assert.deepEqual(got.kvCalls, exp.kvCalls, `KV calls through the facade${ctx}`);
  assert.deepEqual(got.logged, exp.logged, `KV failures the Worker logged${ctx}`);
  if (exp.error) {
    assert.equal(got.body.code, exp.error.code, `error code${ctx}`);
    assert.ok(!("tenant_access_token" in got.body), `an error carries no token${ctx}`);
    if (exp.error.name) assert.equal(got.body.error, exp.error.name, `error name${ctx}`);
    if (exp.error.retryAfter) {
      assert.equal(got.retryAfter, exp.error.retryAfter, `retry-after${ctx}`);
      assert.deepEqual(got.body, { code: 99991400, msg: "request trigger frequency limit" }, `Feishu's body${ctx}`);
    }
  } else {
    assert.equal(got.body.code, 0, `code${ctx}`);
    if (exp.token === "kv") {
      assert.equal(got.body.tenant_access_token, got.seededToken, `the KV token${ctx}`);
      const left = JSON.parse(got.seededValue).expires_at_ms - Date.now();
      assert.ok(Math.abs(got.body.expire - left / 1000) <= 5, `expire ${got.body.expire} vs ${left / 1000} s left${ctx}`);
    } else {
      assert.match(got.body.tenant_access_token, /^t-[0-9a-f]{40}$/, `a token from the sandbox${ctx}`);
      assert.equal(got.body.tenant_access_token, got.sandboxToken, `the sandbox's token for this tenant${ctx}`);
      assert.ok(got.body.expire >= 7190 && got.body.expire <= 7200, `expire ${got.body.expire}${ctx}`);
    }
  }
  if (exp.kvAfter === "unchanged") {
    assert.equal(got.stored, got.seededValue, `KV entry unchanged${ctx}`);
  } else {
    const stored = JSON.parse(got.stored ?? "null");
    assert.equal(stored?.tenant_access_token, got.body.tenant_access_token, `KV holds the new token${ctx}`);
    assert.ok(got.storedTtlSecs >= 60 && got.storedTtlSecs <= 5400 + 5, `KV expiration TTL ${got.storedTtlSecs}${ctx}`);
  }
}

for (const fault of FAULTS.keys()) {
  for (const cache of CACHE_STATES.keys()) {
    for (const kvMode of KV_MODES) {
      test(`upstream ${fault} × cache ${cache} × KV ${kvMode}`, async () => {
        const exp = expected(fault, cache, kvMode);
        let got;
        try {
          got = await run(fault, cache, kvMode, exp);
          check(exp, got);
          results.set(`${fault}|${cache}|${kvMode}`, { got, exp, ok: true });
        } catch (e) {
          results.set(`${fault}|${cache}|${kvMode}`, { got, exp, ok: false, why: String(e.message).split("\n")[0] });
          throw e;
        }
      });
    }
  }
}

function printTable() {
  const cell = (r) => {
    if (!r) return "(not run)";
    if (!r.got) return `✗ did not run: ${r.why}`;
    const text = `${label(r.got)} [${r.got.upstreamCalls}]`;
    return r.ok ? text : `✗ ${text}, expected ${label(r.exp)} [${r.exp.upstreamCalls}] (${r.why})`;
  };
  const header = ["upstream fault", "cache (KV entry)", ...KV_MODES.map((m) => `KV ${m}`)];
  const rows = [];
  for (const fault of FAULTS.keys()) {
    for (const cache of CACHE_STATES.keys()) {
      rows.push([fault, cache, ...KV_MODES.map((m) => cell(results.get(`${fault}|${cache}|${m}`)))]);
    }
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => [...r[i]].length)));
  const line = (r) => `| ${r.map((c, i) => c + " ".repeat(widths[i] - [...c].length)).join(" | ")} |`;
  const out = [
    "",
    "Fault matrix (built Worker in workerd): status and x-cache, or status and error code; [n] = upstream calls the sandbox saw",
    `settings: ${Object.entries(SETTINGS).map(([k, v]) => `${k}=${v}`).join(" ")}; sandbox slowMs=${SANDBOX_SETTINGS.slowMs} rateLimitResetSecs=${SANDBOX_SETTINGS.rateLimitResetSecs}`,
    `cache states (the KV entry; the isolate's memory is empty): fresh = ${CACHE_STATES.get("fresh")} s left, stale = ${CACHE_STATES.get("stale")} s left, expired = ${-CACHE_STATES.get("expired")} s ago, empty = no entry`,
    line(header),
    `|${widths.map((n) => "-".repeat(n + 2)).join("|")}|`,
    ...rows.map(line),
    "",
    `${results.size} of ${FAULTS.size * CACHE_STATES.size * KV_MODES.length} cells checked in ${((performance.now() - startedAt) / 1000).toFixed(1)} s: ` +
      `${[...results.values()].filter((r) => r.ok).length} as the rules say, ${[...results.values()].filter((r) => !r.ok).length} not (marked ✗)`,
    "",
  ];
  process.stdout.write(out.join("\n"));
}
