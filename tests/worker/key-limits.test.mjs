// What operators steer (#36), in workerd against the sandbox: an agent
// key's own limits (AGENT_KEYS entry `limits`), counted by the key's one
// object (KEY_LEDGERS, class KeyLedger) across two fronts, so that exactly
// the limit passes, the rest answered 429 KEY_LIMITED naming the key, the
// limit and when it reopens, with nothing sent; without the binding a
// limited key's calls are refused (503), never let through uncounted; and
// Feishu's spent monthly quota (99991403) relayed with what it means.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startSandbox, SANDBOX_SELF_BUILT_APPS } from "../../sandbox/sandbox.mjs";
import { startBuiltWorker, startCoordinatedWorkers } from "./built-worker.mjs";
import { createAgentKey } from "../../scripts/agent-key.mjs";

const APP = "cli_sandbox_internal_one";
const SECRET = SANDBOX_SELF_BUILT_APPS[APP].appSecret;
const INTERNAL = "/open-apis/auth/v3/tenant_access_token/internal";
const CHATS = "/open-apis/im/v1/chats";
const limited = createAgentKey({ id: "runaway-agent", app: APP, allow: [`GET ${CHATS}`], perMinute: 60 });
const free = createAgentKey({ id: "free-agent", app: APP, allow: [`GET ${CHATS}`] });
const vars = () => ({ FEISHU_BASE_URL: sb.url, SELF_BUILT_APPS: JSON.stringify({ [APP]: SECRET }), AGENT_KEYS: JSON.stringify([limited.entry, free.entry]), LOG_REQUESTS: "false" });

let sb;
const started = [];
before(async () => {
  sb = await startSandbox({ quiet: true });
});
after(async () => {
  for (const w of started) await w.mf.dispose().catch(() => {});
  await sb?.close();
});

/** A gateway token for `key` from `front` (what an SDK given the key holds). */
const gatewayToken = async (front, key) =>
  (await (await front.fetch(INTERNAL, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ app_id: APP, app_secret: key }) })).json()).tenant_access_token;
const chatCalls = () => sb.stats().apiCalls.filter((c) => c.path === CHATS).length;

/** Waits out the end of a minute, so that 100 calls fall in one window. */
async function awayFromMinuteEnd() {
  const into = Date.now() % 60_000;
  // Well away from it: on a loaded machine (test files run in parallel) the
  // 100 calls slow down, and a window turning among them lets more pass.
  if (into > 30_000) await new Promise((r) => setTimeout(r, 60_000 - into + 200));
}

test("a key limited to 60 a minute: 100 concurrent calls over two fronts, exactly 60 pass, 40 get KEY_LIMITED and are never sent", async () => {
  sb.reset();
  const w = await startCoordinatedWorkers({ vars: vars() });
  started.push(w);
  const tokens = await Promise.all(w.fronts.map((f) => gatewayToken(f, limited.key)));
  await awayFromMinuteEnd();
  const sentBefore = chatCalls();
  // Each answer read as it arrives: a body left unread while the others
  // come in was once found unusable by the time it was read.
  const answers = await Promise.all(
    Array.from({ length: 100 }, async (_, i) => {
      const r = await w.fronts[i % 2].fetch(CHATS, { headers: { authorization: `Bearer ${tokens[i % 2]}` } });
      const text = await r.text();
      return { status: r.status, headers: r.headers, json: () => JSON.parse(text) };
    }),
  );
  const statuses = answers.map((a) => a.status);
  assert.equal(statuses.filter((s) => s === 200).length, 60, `statuses: ${statuses}`);
  assert.equal(statuses.filter((s) => s === 429).length, 40);
  assert.equal(chatCalls() - sentBefore, 60, "only the admitted calls reached Feishu");
  const refusal = answers.find((a) => a.status === 429);
  const body = refusal.json();
  assert.equal(body.error, "KEY_LIMITED");
  assert.match(body.msg, /"runaway-agent"/);
  assert.match(body.msg, /per_minute = 60/);
  const retry = Number(refusal.headers.get("retry-after"));
  assert.ok(retry >= 1 && retry <= 60, `Retry-After ${retry}`);
  // Another key is not held by this one's limit.
  const other = await gatewayToken(w.fronts[0], free.key);
  assert.equal((await w.fronts[1].fetch(CHATS, { headers: { authorization: `Bearer ${other}` } })).status, 200);
});

test("without the KEY_LEDGERS binding a limited key's calls are refused (503), never sent uncounted; an unlimited key works", async () => {
  sb.reset();
  const w = await startBuiltWorker({ vars: vars() });
  started.push(w);
  const front = { fetch: (p, init) => fetch(`${w.url}${p}`, init) };
  const token = await gatewayToken(front, limited.key);
  const r = await front.fetch(CHATS, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(r.status, 503);
  const body = await r.json();
  assert.equal(body.error, "KEY_LEDGER_UNAVAILABLE");
  assert.match(body.msg, /KEY_LEDGERS/);
  assert.equal(chatCalls(), 0, "nothing sent");
  const other = await gatewayToken(front, free.key);
  assert.equal((await front.fetch(CHATS, { headers: { authorization: `Bearer ${other}` } })).status, 200);
});

test("Feishu's 99991403 (the monthly quota spent) comes back in Feishu's shape with what it means in msg", async () => {
  sb.reset();
  const w = await startBuiltWorker({ vars: vars() });
  started.push(w);
  const token = (
    await (await fetch(`${w.url}${INTERNAL}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ app_id: APP, app_secret: SECRET }) })).json()
  ).tenant_access_token;
  const r = await fetch(`${w.url}/open-apis/im/v1/chats/quota-exceeded`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(r.status, 429, "Feishu's status");
  const body = await r.json();
  assert.equal(body.code, 99991403);
  assert.match(body.msg, /^monthly API call quota exceeded \(/, "Feishu's own words first");
  assert.match(body.msg, /every call of this app, from every caller/);
  assert.match(body.msg, /next calendar month \(UTC\+8\)/);
  // Never Feishu's old length on the longer body (absent, or the new one).
  const length = r.headers.get("content-length");
  assert.ok(length === null || Number(length) === Buffer.byteLength(JSON.stringify(body)), `content-length ${length}`);
});
