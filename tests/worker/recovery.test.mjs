// In-flight replacement (worker/src/gateway/replacement.rs), with the
// official Node SDK, unchanged but for its domain, through the built Worker
// (workerd via Miniflare) against the sandbox. Feishu stops accepting a
// token (the sandbox's revoke control, as Feishu does on 99991663) while
// running SDK instances hold it in their own caches: the Worker replays the
// refused call with the key's replacement and rewrites their later calls,
// for that app and tenant only; a body it could not keep gets the refusal
// back. Across isolates: KV and the coordinator.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import lark from "@larksuiteoapi/node-sdk";
import { startSandbox, SANDBOX_APPS, SANDBOX_SELF_BUILT_APPS, SANDBOX_TENANT } from "../../sandbox/sandbox.mjs";
import { startBuiltWorker, startCoordinatedWorkers } from "./built-worker.mjs";
import { sendMessage as sendMessageAs, silent } from "./node-sdk.mjs";

const ONE = "cli_sandbox_internal_one";
const TWO = "cli_sandbox_internal_two";
const STORE_ID = "cli_sandbox_app_one";
const STORE_SECRET = SANDBOX_APPS[STORE_ID].appSecret;
const INTERNAL = "/open-apis/auth/v3/tenant_access_token/internal";
const TENANT_TOKEN = "/open-apis/auth/v3/tenant_access_token";
const APP_TOKEN = "/open-apis/auth/v3/app_access_token";
const MESSAGE = { receive_id: "oc_recovery", msg_type: "text", content: JSON.stringify({ text: "hello" }) };
const OTHER_TENANT = "2ed263bf32cf1651";

let sb;
const workers = [];
const logs = [];

before(async () => {
  sb = await startSandbox({ quiet: true });
});
after(async () => {
  for (const w of workers) await w.mf.dispose().catch(() => {});
  await sb?.close();
});

async function worker(vars = {}) {
  const w = await startBuiltWorker({
    vars: { FEISHU_BASE_URL: sb.url, UPSTREAM_TIMEOUT_MS: "2000", UPSTREAM_DEADLINE_MS: "2000", ...vars },
    onLog: (l) => logs.push(String(l.message ?? l)),
  });
  workers.push(w);
  return w;
}

const revoke = (token) => fetch(`${sb.url}/__sandbox/token/revoke`, { method: "POST", body: JSON.stringify({ token }) });
const upstream = (p) => sb.stats().requests[p] ?? 0;
const calls = () => sb.stats().apiCalls;
const lastToken = () => calls().at(-1)?.token;

/** A running Node SDK instance with a cache of its own, as each agent process has. */
async function nodeSdk(w, { app = ONE, isv = false, ticket } = {}) {
  const cache = new lark.DefaultCache();
  if (ticket) await cache.set(lark.CAppTicket, ticket, undefined, { namespace: app });
  return new lark.Client({
    appId: app,
    appSecret: isv ? SANDBOX_APPS[app].appSecret : SANDBOX_SELF_BUILT_APPS[app].appSecret,
    appType: isv ? lark.AppType.ISV : lark.AppType.SelfBuild,
    domain: w.url,
    cache,
    logger: silent,
  });
}

const sendMessage = (client, options) => sendMessageAs(client, MESSAGE, options);

const post = (url, body, headers = {}) =>
  fetch(url, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) }).then((r) => r.json());

test("a running instance whose token is revoked succeeds on its very next call and every later one; the replay carries the body intact", async () => {
  sb.reset();
  logs.length = 0;
  const w = await worker();
  const sdk = await nodeSdk(w);
  assert.equal((await sendMessage(sdk)).code, 0);
  const old = lastToken();
  await revoke(old);
  const healed = await sendMessage(sdk);
  assert.equal(healed.code, 0, JSON.stringify(healed));
  assert.deepEqual(JSON.parse(healed.data.body), MESSAGE, "the replayed call's body is the one sent");
  const fresh = lastToken();
  assert.notEqual(fresh, old);
  const typed = await sdk.im.v1.chat.list({ params: { page_size: 5 } });
  assert.equal(typed.code, 0);
  assert.equal(lastToken(), fresh, "a later call is rewritten before it leaves");
  assert.equal(upstream(INTERNAL), 2, "one new token call");
  const line = logs.find((l) => l.includes('"token_replaced"'));
  assert.ok(line?.includes('"found":"memory"') && line.includes('"replayed":true'), line);
  for (const l of logs) {
    for (const secret of [old, fresh, SANDBOX_SELF_BUILT_APPS[ONE].appSecret]) assert.ok(!l.includes(secret), `no token or secret in a log line: ${l}`);
  }
});

test("three running instances holding the revoked token cost one new token call between them", async () => {
  sb.reset();
  const w = await worker();
  const sdks = await Promise.all([1, 2, 3].map(() => nodeSdk(w)));
  for (const s of sdks) assert.equal((await sendMessage(s)).code, 0);
  assert.equal(upstream(INTERNAL), 1);
  await revoke(lastToken());
  const answers = await Promise.all(sdks.map((s) => sendMessage(s)));
  for (const a of answers) assert.equal(a.code, 0, JSON.stringify(a));
  const again = await Promise.all(sdks.map((s) => sendMessage(s)));
  for (const a of again) assert.equal(a.code, 0, JSON.stringify(a));
  assert.equal(upstream(INTERNAL), 2, "one replacement for all three");
});

test("another app's instance never receives the replacement", async () => {
  sb.reset();
  const w = await worker();
  const one = await nodeSdk(w, { app: ONE });
  const two = await nodeSdk(w, { app: TWO });
  assert.equal((await sendMessage(one)).code, 0);
  const oneOld = lastToken();
  assert.equal((await sendMessage(two)).code, 0);
  const twoToken = lastToken();
  await revoke(oneOld);
  assert.equal((await sendMessage(one)).code, 0);
  const oneNew = lastToken();
  for (let i = 0; i < 3; i++) {
    assert.equal((await sendMessage(two)).code, 0);
    assert.equal(lastToken(), twoToken, "app two keeps its own token");
  }
  assert.notEqual(oneNew, twoToken);
});

test("store app through the plain gateway: a tenant's revoked token is replaced with that tenant's, never another tenant's", async () => {
  sb.reset();
  const w = await worker();
  const ticket = (await (await fetch(`${sb.url}/__sandbox/ticket`)).json())[STORE_ID];
  const app = await post(`${w.url}${APP_TOKEN}`, { app_id: STORE_ID, app_secret: STORE_SECRET, app_ticket: ticket });
  assert.equal(app.code, 0);
  const tenantToken = async (tenant_key) =>
    (await post(`${w.url}${TENANT_TOKEN}`, { app_access_token: app.app_access_token, tenant_key })).tenant_access_token;
  const mine = await tenantToken(SANDBOX_TENANT);
  const theirs = await tenantToken(OTHER_TENANT);
  assert.notEqual(mine, theirs);
  await revoke(mine);
  const chats = (token) => fetch(`${w.url}/open-apis/im/v1/chats`, { headers: { authorization: `Bearer ${token}` } }).then((r) => r.json());
  assert.equal((await chats(mine)).code, 0);
  const replacement = lastToken();
  assert.notEqual(replacement, mine);
  assert.notEqual(replacement, theirs);
  assert.equal(await tenantToken(SANDBOX_TENANT), replacement, "the tenant's own new token");
  assert.equal((await chats(theirs)).code, 0);
  assert.equal(lastToken(), theirs, "the other tenant's token goes as it came");
  assert.equal(upstream(TENANT_TOKEN), 3, "two tenants, one replacement");
});

test("store app against a managed Worker: the SDK's revoked tenant token is replaced in flight", async () => {
  sb.reset();
  const w = await worker({ FEISHU_APP_ID: STORE_ID, FEISHU_APP_SECRET: STORE_SECRET, FEISHU_VERIFICATION_TOKEN: "vt", API_KEYS: "k-unused-3a7c1e9d5b2f8064aa11bb22" });
  const ticket = (await (await fetch(`${sb.url}/__sandbox/ticket`)).json())[STORE_ID];
  await (await w.mf.getKVNamespace("TOKENS")).put(`ticket:v1:${STORE_ID}`, ticket);
  const sdk = await nodeSdk(w, { app: STORE_ID, isv: true, ticket });
  const tenant = lark.withTenantKey(SANDBOX_TENANT);
  assert.equal((await sendMessage(sdk, tenant)).code, 0);
  const old = lastToken();
  await revoke(old);
  const healed = await sendMessage(sdk, tenant);
  assert.equal(healed.code, 0, JSON.stringify(healed));
  assert.notEqual(lastToken(), old);
  assert.equal((await sendMessage(sdk, tenant)).code, 0);
  assert.equal(upstream(TENANT_TOKEN), 2);
});

test("a body that could not be kept gets the refusal back; the instance's next call is rewritten", async () => {
  sb.reset();
  const w = await worker();
  const got = await post(`${w.url}${INTERNAL}`, { app_id: ONE, app_secret: SANDBOX_SELF_BUILT_APPS[ONE].appSecret });
  const old = got.tenant_access_token;
  await revoke(old);
  // A streamed body of unknown length (chunked): sent once, never kept.
  const stream = new ReadableStream({
    start(c) {
      c.enqueue(new TextEncoder().encode(JSON.stringify(MESSAGE)));
      c.close();
    },
  });
  const refused = await fetch(`${w.url}/open-apis/im/v1/messages`, {
    method: "POST",
    headers: { authorization: `Bearer ${old}`, "content-type": "application/json" },
    body: stream,
    duplex: "half",
  });
  const body = await refused.json();
  assert.equal(body.code, 99991663, "the refusal, as it came");
  assert.equal(refused.status, 400);
  const next = await fetch(`${w.url}/open-apis/im/v1/chats`, { headers: { authorization: `Bearer ${old}` } }).then((r) => r.json());
  assert.equal(next.code, 0, JSON.stringify(next));
  assert.notEqual(lastToken(), old);
  const line = logs.findLast((l) => l.includes('"token_replaced"'));
  assert.ok(line?.includes('"replayed":false'), line);
});

test("a token the Worker never handed out is refused as it came, and costs no token call", async () => {
  sb.reset();
  const w = await worker();
  const answer = await fetch(`${w.url}/open-apis/im/v1/chats`, { headers: { authorization: "Bearer t-never-handed-out" } }).then((r) => r.json());
  assert.equal(answer.code, 99991663);
  assert.equal(upstream(INTERNAL) + upstream(TENANT_TOKEN), 0);
});

/** Two front Workers (two isolates) over one KV, with or without the coordinator. */
async function fronts(coordinator) {
  const set = await startCoordinatedWorkers({
    vars: { FEISHU_BASE_URL: sb.url, UPSTREAM_TIMEOUT_MS: "2000", UPSTREAM_DEADLINE_MS: "2000", LOG_REQUESTS: "false" },
    coordinator,
    onLog: () => {},
  });
  workers.push(set);
  const token = async (front) =>
    (await (await front.fetch(INTERNAL, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ app_id: ONE, app_secret: SANDBOX_SELF_BUILT_APPS[ONE].appSecret }) })).json())
      .tenant_access_token;
  const chats = async (front, t) => (await front.fetch("/open-apis/im/v1/chats", { headers: { authorization: `Bearer ${t}` } })).json();
  return { ...set, token, chats };
}

test("across isolates with the coordinator: an isolate that never saw the token recovers through the object that fetched it", async () => {
  sb.reset();
  const { fronts: [a, b], token, chats } = await fronts("ours");
  const old = await token(a);
  await revoke(old);
  const healed = await chats(b, old);
  assert.equal(healed.code, 0, JSON.stringify(healed));
  const fresh = lastToken();
  assert.notEqual(fresh, old);
  // The isolate that handed it out finds the replacement in KV.
  assert.equal((await chats(a, old)).code, 0);
  assert.equal(lastToken(), fresh);
  assert.equal(upstream(INTERNAL), 2, "one replacement for both isolates");
});

test("across isolates without the coordinator: the refusal goes back until an isolate that handed the token out replaces it, then every isolate recovers", async () => {
  sb.reset();
  const { fronts: [a, b], token, chats } = await fronts("none");
  const old = await token(a);
  await revoke(old);
  assert.equal((await chats(b, old)).code, 99991663, "b never saw the credentials and KV holds no replacement yet");
  assert.equal((await chats(a, old)).code, 0, "a knows where the token came from");
  const fresh = lastToken();
  const viaKv = await chats(b, old);
  assert.equal(viaKv.code, 0, "b finds the replacement in KV");
  assert.equal(lastToken(), fresh);
  assert.equal(upstream(INTERNAL), 2);
});

test("with the coordinator, the isolate that handed the token out replaces it at once (the object fetched it moments ago)", async () => {
  sb.reset();
  const { fronts: [a, b], token, chats } = await fronts("ours");
  const old = await token(a);
  await revoke(old);
  const healed = await chats(a, old);
  assert.equal(healed.code, 0, JSON.stringify(healed));
  assert.equal((await chats(b, old)).code, 0);
  assert.equal(upstream(INTERNAL), 2, "one replacement");
});
