// `fetch` on every client: the token attached, a refused token recovered by
// itself (once, compare-and-invalidate), nothing sent to another host.
import { test, before, after, beforeEach } from "node:test";
import assert from "node:assert/strict";
import { APP_ONE, SANDBOX_APPS, SANDBOX_TENANT, pkg, rejection, startSandbox } from "./helpers.mjs";
import { SANDBOX_SELF_BUILT_APPS } from "../../sandbox/sandbox.mjs";

const { SelfBuiltAppClient, TenantTokenClient } = pkg;
const { StoreAppClient } = await import(new URL("../../pkg/store-app.node.js", import.meta.url).href);
const APP_ID = "cli_sandbox_internal_one";
const APP_SECRET = SANDBOX_SELF_BUILT_APPS[APP_ID].appSecret;
const MESSAGES = "/open-apis/im/v1/messages?receive_id_type=chat_id";
let sb;

before(async () => {
  sb = await startSandbox({ quiet: true });
});
after(() => sb.close());
beforeEach(() => sb.reset());

const control = (name, body) =>
  fetch(`${sb.url}/__sandbox/${name}`, { method: "POST", body: JSON.stringify(body) }).then((r) => r.json());
const selfBuilt = (extra = {}) => new SelfBuiltAppClient({ appId: APP_ID, appSecret: APP_SECRET, baseUrl: sb.url, ...extra });
const tokenCalls = () => sb.stats().internalTenantTokenCalls;
const apiCalls = () => sb.stats().apiCalls;

test("the token goes in Authorization; method, query, headers and body pass unchanged; the Response is the host's, unread", async () => {
  const c = selfBuilt();
  const { tenantAccessToken } = await c.tenantToken();
  const res = await c.fetch(MESSAGES, {
    method: "POST",
    headers: { "content-type": "application/json; charset=utf-8", "x-request-id": "r-1" },
    body: JSON.stringify({ receive_id: "oc_1", msg_type: "text", content: "{\"text\":\"hi\"}" }),
  });
  assert.ok(res instanceof Response);
  assert.equal(res.bodyUsed, false);
  assert.equal(res.status, 200);
  const { code, data } = await res.json();
  assert.equal(code, 0);
  assert.equal(data.method, "POST");
  assert.equal(data.path, "/open-apis/im/v1/messages");
  assert.deepEqual(data.query, { receive_id_type: "chat_id" });
  assert.equal(data.contentType, "application/json; charset=utf-8");
  assert.equal(JSON.parse(data.body).receive_id, "oc_1");
  assert.deepEqual(apiCalls().map((a) => a.token), [tenantAccessToken]);
  assert.equal(tokenCalls(), 1, "the cached token was used");
});

test("an answer below 400 is the host's own Response, never cloned nor read, cold or cached; an error is looked at", async () => {
  const answers = [];
  const watched = async (url, init) => {
    const made = /\/made\/(\d+)$/.exec(url);
    const r = made ? new Response(null, { status: Number(made[1]), headers: { location: "/elsewhere" } }) : await fetch(url, init);
    // Sealed against any look: a clone or a read of a success fails the call.
    if (init?.headers instanceof Headers && r.status < 400) {
      r.clone = () => { throw new Error("a success was cloned"); };
      r.json = r.text = r.arrayBuffer = () => { throw new Error("a success was read"); };
    }
    answers.push(r);
    return r;
  };
  const c = selfBuilt({ fetch: watched });
  for (const when of ["cold", "cached", "cached again"]) {
    const res = await c.fetch(MESSAGES, { method: "POST", body: "{}" });
    assert.equal(res, answers.at(-1), `${when}: the same object`);
    assert.equal(res.status, 200);
    assert.equal(res.bodyUsed, false, when);
  }
  // 204 and a redirect: passed on as they came.
  for (const path of ["/open-apis/made/204", "/open-apis/made/302"]) {
    const res = await c.fetch(path);
    assert.equal(res, answers.at(-1), path);
  }
  const old = (await c.tenantToken()).tenantAccessToken;
  await control("token/revoke", { token: old });
  const healed = await c.fetch(MESSAGES, { method: "POST", body: "{}" });
  assert.equal(healed.status, 200, "a refusal (400) is read, and the call replayed");
  assert.equal(healed, answers.at(-1));
  assert.equal(c.stats().recoveries, 1);
});

test("an absolute URL on baseUrl's origin works; any other origin, a Request or an init Authorization is INVALID_INPUT and nothing is sent", async () => {
  const c = selfBuilt();
  assert.equal((await c.fetch(`${sb.url}/open-apis/contact/v3/users/u1`)).status, 200);
  assert.equal((await c.fetch(new URL(`${sb.url}/open-apis/contact/v3/users/u2`))).status, 200);
  const before = apiCalls().length;
  for (const [input, init] of [
    ["https://evil.example/open-apis/x", undefined],
    [`${sb.url}.evil.example/open-apis/x`, undefined],
    ["//evil.example/open-apis/x", undefined],
    ["open-apis/x", undefined],
    [new Request(`${sb.url}/open-apis/x`), undefined],
    ["/open-apis/x", { headers: { Authorization: "Bearer t-mine" } }],
    ["/open-apis/x", { headers: [["authorization", "Bearer t-mine"]] }],
    ["/open-apis/x", "not an object"],
  ]) {
    const e = await rejection(c.fetch(input, init));
    assert.equal(e.code, "INVALID_INPUT", `${input} ${JSON.stringify(init)}: ${e.message}`);
  }
  assert.equal(apiCalls().length, before, "nothing was sent");
});

test("a revoked token: dropped, a fresh one fetched, the request replayed once, and stats count the recovery", async () => {
  const c = selfBuilt();
  const old = (await c.tenantToken()).tenantAccessToken;
  await control("token/revoke", { token: old });
  const res = await c.fetch(MESSAGES, { method: "POST", body: "{\"x\":1}", headers: { "content-type": "application/json" } });
  assert.equal(res.status, 200);
  assert.equal((await res.json()).data.body, "{\"x\":1}", "the body was sent again");
  const calls = apiCalls();
  assert.equal(calls.length, 2);
  assert.equal(calls[0].token, old);
  assert.notEqual(calls[1].token, old);
  assert.equal((await c.tenantToken()).tenantAccessToken, calls[1].token, "the cache holds the new token");
  assert.equal(tokenCalls(), 2);
  assert.equal(c.stats().recoveries, 1);
});

test("at most one replay: a second refusal is returned as it is", async () => {
  // Every token is refused: each one is revoked just before the API sees it.
  const c = selfBuilt({
    fetch: async (url, init) => {
      const auth = new Headers(init?.headers).get("authorization");
      if (auth && url.includes("/open-apis/im/")) await control("token/revoke", { token: auth.slice(7) });
      return fetch(url, init);
    },
  });
  const first = (await c.tenantToken()).tenantAccessToken;
  await control("token/revoke", { token: first });
  const res = await c.fetch(MESSAGES);
  assert.equal(res.status, 400);
  assert.equal((await res.json()).code, 99991663);
  assert.equal(apiCalls().length, 2, "sent, then replayed once, no more");
  assert.equal(c.stats().recoveries, 1);
});

test("a stream body is not replayed: the refused answer comes back, and the token is still dropped", async () => {
  const c = selfBuilt();
  const old = (await c.tenantToken()).tenantAccessToken;
  await control("token/revoke", { token: old });
  const body = new ReadableStream({
    start(ctl) {
      ctl.enqueue(new TextEncoder().encode("streamed"));
      ctl.close();
    },
  });
  const res = await c.fetch(MESSAGES, { method: "POST", body, duplex: "half" });
  assert.equal((await res.json()).code, 99991663);
  assert.equal(apiCalls().length, 1);
  assert.equal(c.stats().recoveries, 0);
  assert.notEqual((await c.tenantToken()).tenantAccessToken, old, "the refused token was dropped anyway");
});

test("replayable bodies: string, bytes, Blob, URLSearchParams and FormData are all sent again", async () => {
  const bodies = [
    () => "text",
    () => new TextEncoder().encode("bytes"),
    () => new TextEncoder().encode("buffer").buffer,
    () => new Blob(["blob"]),
    () => new URLSearchParams({ a: "1" }),
    () => {
      const f = new FormData();
      f.append("file", new Blob(["file-content"]), "a.txt");
      return f;
    },
  ];
  for (const make of bodies) {
    sb.reset();
    const c = selfBuilt();
    await control("token/revoke", { token: (await c.tenantToken()).tenantAccessToken });
    const res = await c.fetch("/open-apis/drive/v1/files/upload_all", { method: "POST", body: make() });
    const { code, data } = await res.json();
    assert.equal(code, 0, String(make));
    assert.ok(data.body.length > 0, `${make}: the replay carried the body`);
    assert.equal(c.stats().recoveries, 1);
  }
});

test("rate limits (99991400) and the monthly quota (99991403) are returned, not retried", async () => {
  const c = selfBuilt();
  for (const [path, code] of [["/open-apis/im/v1/rate-limited", 99991400], ["/open-apis/im/v1/quota-exceeded", 99991403]]) {
    const res = await c.fetch(path);
    assert.equal(res.status, 429);
    assert.equal((await res.json()).code, code);
  }
  assert.equal(apiCalls().length, 2);
  assert.equal(c.stats().recoveries, 0);
});

test("the race: two calls refused for the same old token share one new token; a late refusal evicts nothing", async () => {
  const c = selfBuilt();
  const old = (await c.tenantToken()).tenantAccessToken;
  await control("token/revoke", { token: old });
  const [a, b] = await Promise.all([c.fetch(MESSAGES), c.fetch(MESSAGES)]);
  assert.deepEqual([a.status, b.status], [200, 200]);
  assert.equal(tokenCalls(), 2, "one new token for both");
  const fresh = (await c.tenantToken()).tenantAccessToken;
  assert.equal(c.invalidate(old), 0, "a late refusal of the old token keeps the new one");
  assert.equal((await c.tenantToken()).tenantAccessToken, fresh);
  assert.equal(c.stats().recoveries, 2);
});

test("TenantTokenClient.fetch and StoreAppClient.fetch take their request first and recover the same way", async () => {
  const t = new TenantTokenClient({ baseUrl: sb.url });
  const req = { appAccessToken: APP_ONE, tenantKey: SANDBOX_TENANT };
  const old = (await t.get(req)).tenantAccessToken;
  await control("token/revoke", { token: old });
  assert.equal((await t.fetch(req, MESSAGES)).status, 200);
  assert.equal(t.stats().recoveries, 1);
  assert.equal((await rejection(t.fetch({ appAccessToken: APP_ONE }, MESSAGES))).code, "INVALID_INPUT");

  const s = new StoreAppClient({ appId: "cli_sandbox_app_one", appSecret: SANDBOX_APPS.cli_sandbox_app_one.appSecret, baseUrl: sb.url });
  const ticket = await fetch(`${sb.url}/__sandbox/ticket`).then((r) => r.json());
  await s.putAppTicket(ticket.cli_sandbox_app_one);
  const storeOld = (await s.tenantToken("tenant-s")).tenantAccessToken;
  await control("token/revoke", { token: storeOld });
  const res = await s.fetch("tenant-s", MESSAGES);
  assert.equal(res.status, 200);
  assert.equal(s.stats().recoveries, 1);
  assert.equal((await rejection(s.fetch("", MESSAGES))).code, "INVALID_INPUT");
});
