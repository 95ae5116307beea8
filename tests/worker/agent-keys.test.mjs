// Agent keys (worker/src/agents/) in workerd with the official Node SDK,
// unchanged but for its domain and with a key in place of the app secret,
// against the sandbox: the SDK works within the key's allow-list and nowhere
// else; the token it holds is worthless to Feishu; keys are revoked by
// removing them and expire; a refused real token is replaced; store-app keys
// reach their tenants only; nothing secret reaches a log line; malformed
// settings, keys and gateway tokens never make a 500 on a request path.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import lark from "@larksuiteoapi/node-sdk";
import { startSandbox, SANDBOX_APPS, SANDBOX_SELF_BUILT_APPS, SANDBOX_TENANT } from "../../sandbox/sandbox.mjs";
import { startBuiltWorker } from "./built-worker.mjs";
import { createAgentKey } from "../../scripts/agent-key.mjs";
import { sdkCall, silent } from "./node-sdk.mjs";

const APP = "cli_sandbox_internal_one";
const SECRET = SANDBOX_SELF_BUILT_APPS[APP].appSecret;
const STORE_ID = "cli_sandbox_app_one";
const STORE_SECRET = SANDBOX_APPS[STORE_ID].appSecret;
const OTHER_TENANT = "2ed263bf32cf1651";
const INTERNAL = "/open-apis/auth/v3/tenant_access_token/internal";

let sb;
const workers = [];
const dirs = [];
const logs = [];

before(async () => {
  sb = await startSandbox({ quiet: true });
});
after(async () => {
  for (const w of workers) await w.mf.dispose().catch(() => {});
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  await sb?.close();
});

const bot = createAgentKey({ id: "support-bot", app: APP, allow: ["GET /open-apis/im/v1/chats", "POST /open-apis/im/v1/messages"] });
const isv = createAgentKey({ id: "isv-agent", app: STORE_ID, allow: ["* /open-apis/im/"], tenants: [SANDBOX_TENANT] });

async function worker(vars = {}, opts = {}) {
  const w = await startBuiltWorker({
    vars: {
      FEISHU_BASE_URL: sb.url,
      UPSTREAM_TIMEOUT_MS: "2000",
      UPSTREAM_DEADLINE_MS: "2000",
      SELF_BUILT_APPS: JSON.stringify({ [APP]: SECRET }),
      AGENT_KEYS: JSON.stringify([bot.entry]),
      ...vars,
    },
    onLog: (l) => logs.push(String(l.message ?? l)),
    ...opts,
  });
  workers.push(w);
  return w;
}

const sdk = (w, secret = bot.key) =>
  new lark.Client({ appId: APP, appSecret: secret, appType: lark.AppType.SelfBuild, domain: w.url, cache: new lark.DefaultCache(), logger: silent });

const listChats = (c, options) => sdkCall(c, { method: "GET", url: "/open-apis/im/v1/chats", params: { page_size: 5 } }, options);
const calls = () => sb.stats().apiCalls;
const lastToken = () => calls().at(-1)?.token;
/** The gateway token an SDK instance got (what it holds and sends). */
const gatewayToken = async (w, key = bot.key) =>
  (await (await fetch(`${w.url}${INTERNAL}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ app_id: APP, app_secret: key }) })).json()).tenant_access_token;

test("an SDK given an agent key lists chats; Feishu sees the app's real token, the SDK holds one Feishu refuses", async () => {
  sb.reset();
  logs.length = 0;
  const w = await worker();
  const a = await listChats(sdk(w));
  assert.equal(a.code, 0, JSON.stringify(a));
  const real = lastToken();
  assert.match(real, /^t-/);
  const held = await gatewayToken(w);
  assert.match(held, /^g1\./);
  assert.notEqual(held, real);
  const direct = await (await fetch(`${sb.url}/open-apis/im/v1/chats`, { headers: { authorization: `Bearer ${held}` } })).json();
  assert.equal(direct.code, 99991663, "worthless to Feishu");
  assert.equal(sb.stats().internalTenantTokenCalls, 1);
  const audit = logs.filter((l) => l.includes('"agent_call"'));
  assert.ok(audit.length >= 1);
  const line = JSON.parse(audit[0]);
  // A success goes back unread (#34): the line says so instead of a code.
  assert.deepEqual([line.key, line.method, line.path, line.status, line.code, line.answer], ["support-bot", "GET", "/open-apis/im/v1/chats", 200, undefined, "not read"]);
  assert.equal(line.key_sha256, bot.entry.sha256.slice(0, 8), "which key of that id: its digest's first 8 hex digits, never the key");
  assert.equal(typeof line.ms, "number");
  for (const l of logs) for (const s of [bot.key, SECRET, real, held]) assert.ok(!l.includes(s), `nothing secret in a log line: ${l}`);
});

test("a call outside the key's allow-list gets 403 naming the key, method and path, and nothing reaches Feishu", async () => {
  sb.reset();
  const w = await worker();
  const c = sdk(w);
  assert.equal((await listChats(c)).code, 0);
  const before = calls().length;
  for (const [method, url] of [["GET", "/open-apis/contact/v3/users"], ["DELETE", "/open-apis/im/v1/chats/oc_1"], ["GET", "/open-apis/im/v1/chatsx"], ["GET", "/open-apis/im/v1/chats%2F..%2F..%2Fcontact"]]) {
    const r = await sdkCall(c, { method, url });
    assert.equal(r.status, 403, `${method} ${url}: ${JSON.stringify(r)}`);
    assert.equal(r.error, "KEY_NOT_ALLOWED");
    assert.ok(r.msg.includes('"support-bot"') && r.msg.includes(method), r.msg);
  }
  assert.equal(calls().length, before, "the sandbox saw nothing");
  const sent = await sdkCall(c, { method: "POST", url: "/open-apis/im/v1/messages", params: { receive_id_type: "chat_id" }, data: { receive_id: "oc_1", msg_type: "text", content: "{}" } });
  assert.equal(sent.code, 0, "the other allowed call works");
});

test("the app's own secret still works as before; a wrong key-shaped secret is refused without reaching Feishu", async () => {
  sb.reset();
  const w = await worker();
  assert.equal((await listChats(sdk(w, SECRET))).code, 0);
  assert.match(lastToken(), /^t-/);
  const r = await (await fetch(`${w.url}${INTERNAL}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ app_id: APP, app_secret: "ftt_ak_not-a-key" }) })).json();
  assert.equal(r.code, 10015);
  assert.equal(r.tenant_access_token, undefined);
  assert.equal(sb.stats().internalTenantTokenCalls, 1, "only the real secret's call");
});

test("an agent key never opens a long connection and never reaches Feishu there", async () => {
  sb.reset();
  const w = await worker();
  const ask = async (secret) =>
    (await fetch(`${w.url}/callback/ws/endpoint`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ AppID: APP, AppSecret: secret }) })).json();
  const r = await ask(bot.key);
  assert.equal(r.code, 514, JSON.stringify(r));
  assert.equal(sb.stats().requests["/callback/ws/endpoint"] ?? 0, 0, "not sent on");
  assert.equal((await ask(SECRET)).code, 0, "the app's own secret opens one");
});

test("gateway tokens survive a restart; removing the key stops them at the next call", async () => {
  sb.reset();
  const dir = mkdtempSync(path.join(tmpdir(), "ftt-keys-"));
  dirs.push(dir);
  const first = await worker({}, { kvPersist: dir });
  const held = await gatewayToken(first);
  await first.mf.dispose();
  const chats = (w) => fetch(`${w.url}/open-apis/im/v1/chats`, { headers: { authorization: `Bearer ${held}` } }).then((r) => r.json());
  const restarted = await worker({}, { kvPersist: dir });
  assert.equal((await chats(restarted)).code, 0, "checked by signature, in a fresh isolate");
  const other = createAgentKey({ id: "other", app: APP, allow: ["GET /open-apis/im/"] });
  const revoked = await worker({ AGENT_KEYS: JSON.stringify([other.entry]) }, { kvPersist: dir });
  const refused = await chats(revoked);
  assert.equal(refused.code, 99991663, JSON.stringify(refused));
  const again = await (await fetch(`${revoked.url}${INTERNAL}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ app_id: APP, app_secret: bot.key }) })).json();
  assert.equal(again.code, 10015, "the removed key gets no new token");
});

test("a key expires, and its gateway tokens with it", async () => {
  sb.reset();
  const soon = createAgentKey({ id: "short-lived", app: APP, allow: ["GET /open-apis/im/v1/chats"], expires: new Date(Date.now() + 2500).toISOString() });
  const w = await worker({ AGENT_KEYS: JSON.stringify([soon.entry]) });
  const got = await (await fetch(`${w.url}${INTERNAL}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ app_id: APP, app_secret: soon.key }) })).json();
  assert.equal(got.code, 0);
  assert.ok(got.expire <= 3, `never past the key: expire ${got.expire}`);
  const chats = () => fetch(`${w.url}/open-apis/im/v1/chats`, { headers: { authorization: `Bearer ${got.tenant_access_token}` } }).then((r) => r.json());
  assert.equal((await chats()).code, 0);
  await new Promise((r) => setTimeout(r, 2700));
  assert.equal((await chats()).code, 99991663);
  const late = await (await fetch(`${w.url}${INTERNAL}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ app_id: APP, app_secret: soon.key }) })).json();
  assert.equal(late.code, 10015);
});

test("a real token Feishu revoked is replaced under the agent, and the call replayed", async () => {
  sb.reset();
  const w = await worker();
  const c = sdk(w);
  assert.equal((await listChats(c)).code, 0);
  const real = lastToken();
  await fetch(`${sb.url}/__sandbox/token/revoke`, { method: "POST", body: JSON.stringify({ token: real }) });
  const healed = await listChats(c);
  assert.equal(healed.code, 0, JSON.stringify(healed));
  assert.notEqual(lastToken(), real);
  assert.equal(sb.stats().internalTenantTokenCalls, 2);
});

test("store-app keys: the SDK (ISV) with a key reaches the tenants the key lists, and no other", async () => {
  sb.reset();
  const w = await worker({
    FEISHU_APP_ID: STORE_ID,
    FEISHU_APP_SECRET: STORE_SECRET,
    FEISHU_VERIFICATION_TOKEN: "vt",
    API_KEYS: "k-unused-3a7c1e9d5b2f8064aa11bb22",
    AGENT_KEYS: JSON.stringify([bot.entry, isv.entry]),
  });
  const ticket = (await (await fetch(`${sb.url}/__sandbox/ticket`)).json())[STORE_ID];
  await (await w.mf.getKVNamespace("TOKENS")).put(`ticket:v1:${STORE_ID}`, ticket);
  const cache = new lark.DefaultCache();
  await cache.set(lark.CAppTicket, "via-gateway", undefined, { namespace: STORE_ID });
  const c = new lark.Client({ appId: STORE_ID, appSecret: isv.key, appType: lark.AppType.ISV, domain: w.url, cache, logger: silent });
  const mine = await listChats(c, lark.withTenantKey(SANDBOX_TENANT));
  assert.equal(mine.code, 0, JSON.stringify(mine));
  assert.match(lastToken(), /^t-/);
  const before = calls().length;
  const theirs = await listChats(c, lark.withTenantKey(OTHER_TENANT));
  assert.notEqual(theirs.code, 0, JSON.stringify(theirs));
  assert.equal(calls().length, before, "nothing sent for another tenant");
  for (const l of logs) assert.ok(!l.includes(isv.key) && !l.includes(STORE_SECRET));
});

test("200+ malformed keys, gateway tokens and token bodies: always a 4xx, never a 500", async () => {
  sb.reset();
  const w = await worker();
  const good = await gatewayToken(w);
  const [head, claims, sig] = good.split(".");
  const tokens = [
    "g1.", "g1..", "g1.x", "g1.x.y", `g1.${claims}`, `g1.${claims}.`, `g1.${claims}.${sig}x`, `g1.${claims}x.${sig}`, `${head}.${sig}.${claims}`,
    `g1.${Buffer.from("{}").toString("base64url")}.${sig}`, `g1.${Buffer.from("[]").toString("base64url")}.${sig}`,
    `g1.${Buffer.from('{"k":"support-bot","a":"cli_sandbox_internal_one","x":"t","e":99999999999999}').toString("base64url")}.${sig}`,
    `g1.${Buffer.from('{"k":1,"a":2,"x":3,"e":"no"}').toString("base64url")}.${sig}`,
    `g1.${"A".repeat(5000)}.${sig}`, "g1.\u00e9.x", `g1.${claims}.${sig}.${sig}`,
  ];
  for (let i = 0; i < good.length; i += 3) tokens.push(good.slice(0, i) + (good[i] === "A" ? "B" : "A") + good.slice(i + 1));
  const keys = ["ftt_ak_", "ftt_ak_x", `${bot.key}x`, bot.key.slice(0, -1), bot.key.toUpperCase(), "ftt_ak_" + "a".repeat(4000), " " + bot.key];
  const statuses = {};
  const count = (s) => void (statuses[s] = (statuses[s] ?? 0) + 1);
  for (const t of tokens) {
    for (const url of ["/open-apis/im/v1/chats", "/open-apis/contact/v3/users"]) {
      const r = await fetch(`${w.url}${url}`, { headers: { authorization: `Bearer ${t}` } }).catch(() => null);
      if (!r) continue; // a header value fetch itself refuses
      count(r.status);
      assert.ok(r.status >= 400 && r.status < 500, `${t.slice(0, 40)}: HTTP ${r.status}`);
      await r.arrayBuffer();
    }
    const body = JSON.stringify({ app_access_token: t, tenant_key: SANDBOX_TENANT });
    const r = await fetch(`${w.url}/open-apis/auth/v3/tenant_access_token`, { method: "POST", headers: { "content-type": "application/json" }, body });
    count(r.status);
    assert.ok(r.status >= 400 && r.status < 500, `tenant token with ${t.slice(0, 40)}: HTTP ${r.status}`);
  }
  for (const k of keys) {
    const r = await fetch(`${w.url}${INTERNAL}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ app_id: APP, app_secret: k }) });
    count(r.status);
    assert.ok(r.status >= 400 && r.status < 500, `key ${k.slice(0, 20)}: HTTP ${r.status}`);
  }
  const n = Object.values(statuses).reduce((a, b) => a + b, 0);
  assert.ok(n >= 200, `${n} inputs`);
  assert.ok(!sb.stats().apiCalls.some((c) => c.token?.startsWith("g1.")), "no gateway token ever reached Feishu");
  console.log(`# agent keys: ${n} malformed inputs, statuses ${JSON.stringify(statuses)}`);
});

test("malformed AGENT_KEYS or SELF_BUILT_APPS: a MISCONFIGURED naming the entry and field, no secret shown", async () => {
  const cases = [
    [{ AGENT_KEYS: "[{" }, "AGENT_KEYS: not JSON"],
    [{ AGENT_KEYS: JSON.stringify([{ ...bot.entry, allow: [] }]) }, "AGENT_KEYS[0].allow"],
    [{ AGENT_KEYS: JSON.stringify([bot.entry, { ...bot.entry, id: "x", app_id: "cli_nobody" }]) }, "AGENT_KEYS[1].app_id: the Worker holds no secret for cli_nobody"],
    [{ SELF_BUILT_APPS: JSON.stringify({ [APP]: 5 }) }, "SELF_BUILT_APPS: the secret of cli_sandbox_internal_one"],
  ];
  for (const [vars, want] of cases) {
    const w = await worker(vars);
    const r = await fetch(`${w.url}/healthz`);
    const body = await r.json();
    assert.equal(r.status, 500);
    assert.equal(body.error, "MISCONFIGURED");
    assert.ok(body.msg.includes(want), `${body.msg} should name ${want}`);
    assert.ok(!body.msg.includes(SECRET));
    await w.mf.dispose();
    workers.splice(workers.indexOf(w), 1);
  }
});
