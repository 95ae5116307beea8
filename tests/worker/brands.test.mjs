// Lark beside Feishu, and long connections, with the official Node SDK
// (unchanged but for its domain) through the built Worker (workerd via
// Miniflare). Two sandboxes stand in for the two brands' platforms:
// `FEISHU_BASE_URL` and `LARK_BASE_URL`. An SDK given `<worker>/lark` as its
// domain works against Lark; a token of one brand is never served or
// rewritten for the other. The SDK's `WSClient` asks the Worker where to
// connect and connects to the sandbox's WebSocket itself.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import lark from "@larksuiteoapi/node-sdk";
import { startSandbox, SANDBOX_SELF_BUILT_APPS } from "../../sandbox/sandbox.mjs";
import { startBuiltWorker, startCoordinatedWorkers } from "./built-worker.mjs";
import { sendMessage as sendMessageAs, silent } from "./node-sdk.mjs";

const APP = "cli_sandbox_internal_one";
const SECRET = SANDBOX_SELF_BUILT_APPS[APP].appSecret;
const WS_APP = "cli_a5f0c0ffee000001";
const WS_SECRET = SANDBOX_SELF_BUILT_APPS[WS_APP].appSecret;
const INTERNAL = "/open-apis/auth/v3/tenant_access_token/internal";
const MESSAGE = { receive_id: "oc_brand", msg_type: "text", content: JSON.stringify({ text: "hello" }) };

let feishu, larkSb, w;
const logs = [];

before(async () => {
  feishu = await startSandbox({ quiet: true });
  larkSb = await startSandbox({ quiet: true });
  w = await startBuiltWorker({
    vars: { FEISHU_BASE_URL: feishu.url, LARK_BASE_URL: larkSb.url, UPSTREAM_TIMEOUT_MS: "2000", UPSTREAM_DEADLINE_MS: "2000" },
    onLog: (l) => logs.push(String(l.message ?? l)),
  });
});
after(async () => {
  await w?.mf.dispose().catch(() => {});
  await feishu?.close();
  await larkSb?.close();
});

const sdk = (domain, app = APP, secret = SECRET) =>
  new lark.Client({ appId: app, appSecret: secret, appType: lark.AppType.SelfBuild, domain, cache: new lark.DefaultCache(), logger: silent });

const sendMessage = (client) => sendMessageAs(client, MESSAGE);

const lastToken = (sb) => sb.stats().apiCalls.at(-1)?.token;
const reset = () => {
  feishu.reset();
  larkSb.reset();
};

test("an SDK given <worker>/lark as its domain works against Lark; one given the Worker works against Feishu; each brand's token stays its own", async () => {
  reset();
  const onLark = sdk(`${w.url}/lark`);
  const onFeishu = sdk(w.url);
  const a = await sendMessage(onLark);
  assert.equal(a.code, 0, JSON.stringify(a));
  assert.deepEqual(JSON.parse(a.data.body), MESSAGE);
  assert.equal(a.data.path, "/open-apis/im/v1/messages", "Lark sees its own path, without /lark");
  assert.equal(larkSb.stats().internalTenantTokenCalls, 1);
  assert.equal(feishu.stats().internalTenantTokenCalls, 0, "nothing went to Feishu");
  const b = await sendMessage(onFeishu);
  assert.equal(b.code, 0, JSON.stringify(b));
  assert.equal(feishu.stats().internalTenantTokenCalls, 1, "the same app id on Feishu: its own token call, not Lark's token");
  assert.notEqual(lastToken(feishu), lastToken(larkSb));
  // Each brand's token from memory from now on.
  for (const c of [onLark, sdk(`${w.url}/lark`), onFeishu, sdk(w.url)]) assert.equal((await sendMessage(c)).code, 0);
  assert.equal(larkSb.stats().internalTenantTokenCalls, 1);
  assert.equal(feishu.stats().internalTenantTokenCalls, 1);
  const keys = (await (await w.mf.getKVNamespace("TOKENS")).list()).keys.map((k) => k.name);
  assert.ok(keys.some((k) => k.startsWith(`lark:tat:v1:internal:${APP}:`)), keys.join());
  assert.ok(keys.some((k) => k.startsWith(`tat:v1:internal:${APP}:`)), keys.join());
  assert.ok(logs.some((l) => l.includes('"brand":"lark"')), "the request log line names the brand");
});

test("a Lark token presented to Feishu is refused as it came: never replaced or rewritten with a Feishu token", async () => {
  reset();
  // An app this Worker has not served yet (its memory outlives the sandboxes' resets).
  const app_id = "cli_sandbox_internal_two";
  const body = JSON.stringify({ app_id, app_secret: SANDBOX_SELF_BUILT_APPS[app_id].appSecret });
  const got = await (await fetch(`${w.url}/lark${INTERNAL}`, { method: "POST", headers: { "content-type": "application/json" }, body })).json();
  assert.equal(got.code, 0, JSON.stringify(got));
  const larkToken = got.tenant_access_token;
  assert.equal(larkSb.stats().internalTenantTokenCalls, 1);
  const wrongBrand = await (await fetch(`${w.url}/open-apis/im/v1/chats`, { headers: { authorization: `Bearer ${larkToken}` } })).json();
  assert.equal(wrongBrand.code, 99991663);
  assert.equal(feishu.stats().internalTenantTokenCalls, 0, "no Feishu token fetched for a Lark token");
  const right = await (await fetch(`${w.url}/lark/open-apis/im/v1/chats`, { headers: { authorization: `Bearer ${larkToken}` } })).json();
  assert.equal(right.code, 0);
});

test("a running SDK on Lark recovers from a revoked token in flight", async () => {
  reset();
  const onLark = sdk(`${w.url}/lark`);
  assert.equal((await sendMessage(onLark)).code, 0);
  const old = lastToken(larkSb);
  await fetch(`${larkSb.url}/__sandbox/token/revoke`, { method: "POST", body: JSON.stringify({ token: old }) });
  const healed = await sendMessage(onLark);
  assert.equal(healed.code, 0, JSON.stringify(healed));
  assert.notEqual(lastToken(larkSb), old);
  assert.equal(larkSb.stats().internalTenantTokenCalls, 2);
  assert.equal(feishu.stats().internalTenantTokenCalls, 0);
});

test("store-app mode is not served under /lark (its app belongs to FEISHU_BASE_URL's brand)", async () => {
  const r = await fetch(`${w.url}/lark/v1/tenants/t1/tenant_access_token`);
  assert.equal(r.status, 404);
  assert.equal((await fetch(`${w.url}/lark/healthz`)).status, 200);
});

test("with the coordinator: Lark's keys have objects of their own, which fetch from Lark (one call for two isolates)", async () => {
  reset();
  const set = await startCoordinatedWorkers({
    vars: { FEISHU_BASE_URL: feishu.url, LARK_BASE_URL: larkSb.url, LOG_REQUESTS: "false" },
    onLog: () => {},
  });
  try {
    const body = JSON.stringify({ app_id: APP, app_secret: SECRET });
    const ask = async (front, prefix) =>
      (await (await front.fetch(`${prefix}${INTERNAL}`, { method: "POST", headers: { "content-type": "application/json" }, body })).json()).tenant_access_token;
    const [a, b] = await Promise.all(set.fronts.map((f) => ask(f, "/lark")));
    assert.equal(a, b);
    assert.equal(larkSb.stats().internalTenantTokenCalls, 1, "one Lark call for both isolates");
    assert.equal(feishu.stats().internalTenantTokenCalls, 0);
    const onFeishu = await ask(set.fronts[0], "");
    assert.notEqual(onFeishu, a, "Feishu's object is another, with Feishu's token");
    assert.equal(feishu.stats().internalTenantTokenCalls, 1);
  } finally {
    await set.mf.dispose();
  }
});

/** Waits (bounded) for `check` to hold, polling. */
async function eventually(check, what, ms = 10_000) {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

for (const [brand, prefix, sb] of [["Feishu", "", () => feishu], ["Lark", "/lark", () => larkSb]]) {
  test(`${brand}: the Node SDK's WSClient gets its connect URL through the Worker and connects to the platform's WebSocket itself`, async () => {
    reset();
    const client = new lark.WSClient({ appId: WS_APP, appSecret: WS_SECRET, domain: `${w.url}${prefix}`, logger: silent, loggerLevel: lark.LoggerLevel.error, autoReconnect: false });
    try {
      await client.start({ eventDispatcher: new lark.EventDispatcher({}) });
      await eventually(() => sb().stats().wsConnections.length === 1, "the WebSocket connection");
      assert.equal(sb().stats().wsConnections[0].appId, WS_APP);
      assert.equal(sb().stats().requests["/callback/ws/endpoint"], 1, "asked once, through the Worker");
      const other = brand === "Lark" ? feishu : larkSb;
      assert.equal(other.stats().requests["/callback/ws/endpoint"] ?? 0, 0, "never the other brand");
    } finally {
      client.close({ force: true });
    }
    for (const l of logs) assert.ok(!l.includes(WS_SECRET), `the app secret is never logged: ${l}`);
  });
}
