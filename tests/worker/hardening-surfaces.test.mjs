// Hardening, second pass (#31): the surfaces added last (in-flight
// replacement, agent keys, gateway tokens, user tokens) tried as an attacker
// would, in workerd against two sandboxes standing in for Feishu and Lark.
// Each test failed on the build before the fix (see the closing note of #31).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { startSandbox, SANDBOX_SELF_BUILT_APPS } from "../../sandbox/sandbox.mjs";
import { startCoordinatedWorkers } from "./built-worker.mjs";
import { createAgentKey } from "../../scripts/agent-key.mjs";

const APP = "cli_sandbox_internal_one";
const LARK_APP = "cli_sandbox_internal_two";
const SECRET = SANDBOX_SELF_BUILT_APPS[APP].appSecret;
const LARK_SECRET = SANDBOX_SELF_BUILT_APPS[LARK_APP].appSecret;
const API_KEY = "h".repeat(40);
const USER_TOKEN_KEY = "7a".repeat(32);
const ALICE = "ou_sandbox_alice";
const INTERNAL = "/open-apis/auth/v3/tenant_access_token/internal";

const calendar = createAgentKey({ id: "calendar-agent", app: APP, allow: ["GET /open-apis/calendar/v4"], users: [ALICE] });
const chatsOnly = createAgentKey({ id: "chats-agent", app: APP, allow: ["GET /open-apis/im/v1/chats"], users: [ALICE] });
const poster = createAgentKey({ id: "poster", app: APP, allow: ["POST /open-apis/im/v1/messages"] });
const rawTokens = createAgentKey({ id: "raw-agent", app: APP, allow: ["GET /open-apis/calendar/v4"], users: [ALICE], userTokens: true });

let sb, larkSb;
const started = [];
const logs = [];
const dirs = [];

before(async () => {
  sb = await startSandbox({ quiet: true });
  larkSb = await startSandbox({ quiet: true });
});
after(async () => {
  for (const w of started) await w.mf.dispose().catch(() => {});
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  await sb?.close();
  await larkSb?.close();
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const config = (s, c) => fetch(`${s.url}/__sandbox/config`, { method: "POST", body: JSON.stringify(c) });
const revoke = (s, token) => fetch(`${s.url}/__sandbox/token/revoke`, { method: "POST", body: JSON.stringify({ token }) });
const json = (body) => ({ method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });

/** Fresh Workers and sandboxes for each test (the last test's Workers stopped first: their objects' alarms would call the sandbox). */
async function workers(vars = {}, opts = {}) {
  while (started.length) await started.pop().mf.dispose().catch(() => {});
  sb.reset();
  larkSb.reset();
  const w = await startCoordinatedWorkers({
    vars: {
      FEISHU_BASE_URL: sb.url,
      FEISHU_ACCOUNTS_URL: sb.url,
      LARK_BASE_URL: larkSb.url,
      LARK_ACCOUNTS_URL: larkSb.url,
      UPSTREAM_TIMEOUT_MS: "3000",
      UPSTREAM_DEADLINE_MS: "3000",
      SELF_BUILT_APPS: JSON.stringify({ [APP]: SECRET }),
      AGENT_KEYS: JSON.stringify([calendar.entry, chatsOnly.entry, poster.entry]),
      API_KEYS: API_KEY,
      USER_TOKEN_KEY,
      LOG_REQUESTS: "false",
      ...vars,
    },
    onLog: (l) => logs.push(String(l.message ?? l)),
    ...opts,
  });
  started.push(w);
  return w;
}

/** A tenant token of `app` from the internal endpoint (under `/lark` for Lark). */
const internalToken = async (front, { app = APP, secret = SECRET, prefix = "" } = {}) =>
  (await (await front.fetch(`${prefix}${INTERNAL}`, json({ app_id: app, app_secret: secret }))).json()).tenant_access_token;

const chats = (front, token, prefix = "") => front.fetch(`${prefix}/open-apis/im/v1/chats`, { headers: { authorization: `Bearer ${token}` } });

/** Alice signed in (the sandbox's grant handed to her object by a real sign-in through the Worker). */
async function signIn(front, user = ALICE, app = APP) {
  const login = await front.fetch(`/oauth/login?app=${app}`, { redirect: "manual" });
  assert.equal(login.status, 302, await login.clone().text());
  const cookie = login.headers.get("set-cookie").split(";")[0];
  const authorize = new URL(login.headers.get("location"));
  authorize.searchParams.set("user", user);
  const back = new URL((await fetch(authorize, { redirect: "manual" })).headers.get("location"));
  const done = await front.fetch(`${back.pathname}${back.search}`, { redirect: "manual", headers: { cookie } });
  assert.equal(done.status, 302, await done.clone().text());
}

test("1. a handed-out token is rewritten until its own expiry, never after (even a leaked, expired one)", async () => {
  // Without the coordinator: its alarm would renew these 4-second tokens by itself.
  const w = await workers({}, { coordinator: "none" });
  const [a] = w.fronts;
  await config(sb, { lifetimeSecs: 4 });
  try {
    // An expired token the Worker handed out: Feishu's refusal comes back as it is.
    const old = await internalToken(a);
    await sleep(4500);
    for (let i = 0; i < 2; i++) {
      const r = await chats(a, old);
      assert.equal(r.status, 400, "an expired token is Feishu's to refuse");
      assert.equal((await r.json()).code, 99991663);
    }
    assert.ok(sb.stats().apiCalls.every((c) => c.token === old), "nothing but the expired token went");
    // A token refused before its expiry heals, and is rewritten until that expiry only.
    const t = await internalToken(a);
    assert.notEqual(t, old);
    await revoke(sb, t);
    assert.equal((await (await chats(a, t)).json()).code, 0, "refused before its expiry: replaced");
    assert.equal((await (await chats(a, t)).json()).code, 0, "and rewritten");
    await sleep(4500);
    const late = await chats(a, t);
    assert.equal(late.status, 400, "past its own expiry: no longer rewritten");
    assert.equal(sb.stats().apiCalls.at(-1).token, t);
  } finally {
    await config(sb, { lifetimeSecs: 7200 });
  }
});

test("2. a token of one brand refused by the other is never replaced across brands", async () => {
  sb.reset();
  larkSb.reset();
  const w = await workers();
  const [a, b] = w.fronts;
  const lark = await internalToken(a, { app: LARK_APP, secret: LARK_SECRET, prefix: "/lark" });
  assert.match(lark ?? "", /^t-/);
  for (const front of [a, b]) {
    const r = await chats(front, lark);
    assert.equal(r.status, 400, "Feishu refuses a Lark token: relayed");
  }
  assert.ok(sb.stats().apiCalls.every((c) => c.token === lark), "no Lark token fetched to replace it was sent to Feishu");
  assert.equal(larkSb.stats().internalTenantTokenCalls, 1, "nothing refreshed at Lark");
  assert.equal((await (await chats(b, lark, "/lark")).json()).code, 0, "the Lark token still serves at Lark (not evicted)");
  // And the other way round.
  const feishu = await internalToken(a);
  const before = larkSb.stats().apiCalls.length;
  for (const front of [a, b]) assert.equal((await chats(front, feishu, "/lark")).status, 400);
  const seen = larkSb.stats().apiCalls.slice(before);
  assert.equal(seen.length, 2);
  assert.ok(seen.every((c) => c.token === feishu), "no Feishu token replacement went to Lark");
  assert.equal(sb.stats().internalTenantTokenCalls, 1);
});

test("3. an agent key gets a user's raw token only when its entry says user_tokens", async () => {
  sb.reset();
  const w = await workers();
  const [a, b] = w.fronts;
  await signIn(a);
  const ask = (key) => b.fetch(`/v1/users/${ALICE}/user_access_token?app=${APP}`, { headers: { authorization: `Bearer ${key}` } });
  const refused = await ask(calendar.key);
  assert.equal(refused.status, 403);
  const body = await refused.json();
  assert.equal(body.error, "KEY_NOT_ALLOWED");
  assert.ok(!JSON.stringify(body).includes("u-"), "no token in the refusal");
  // Within its allow-list the key still calls as Alice through the Worker.
  const call = await b.fetch("/open-apis/calendar/v4/calendars", { headers: { authorization: `Bearer ${calendar.key}`, "x-user-id": ALICE, "x-app-id": APP } });
  assert.equal((await call.json()).code, 0);
  // An entry that says "user_tokens": true is handed the raw token.
  const raw = await workers({ AGENT_KEYS: JSON.stringify([rawTokens.entry]) });
  await signIn(raw.fronts[0]);
  const allowed = await raw.fronts[1].fetch(`/v1/users/${ALICE}/user_access_token?app=${APP}`, { headers: { authorization: `Bearer ${rawTokens.key}` } });
  assert.equal(allowed.status, 200);
  assert.match((await allowed.json()).user_access_token, /^u-/);
});

test("4 and 8. escaped separators and `..;` segments are refused on user, agent, managed and passed-through calls alike", async () => {
  sb.reset();
  const w = await workers();
  const [a] = w.fronts;
  await signIn(a);
  const gateway = await internalToken(a, { secret: chatsOnly.key });
  assert.match(gateway, /^g1\./);
  const hostile = [
    "/open-apis/calendar/v4/..%2F..%2Fauthen/v1/user_info",
    "/open-apis/calendar/v4/x%2F..%2F..%2Fauthen/v1/user_info",
    "/open-apis/calendar/v4/..%5C..%5Cauthen/v1/user_info",
    "/open-apis/calendar/v4/..;/..;/authen/v1/user_info",
    "/open-apis/im/v1/chats/..;/messages",
    "/open-apis/im/v1/chats/x%2F..%2F..%2Fmessages",
  ];
  // (`%2e%2e` is a dot segment to the URL parser itself: resolved before the
  // Worker sees the path; the native table in src/api_path.rs covers it.)
  const callers = {
    "agent key as a user": { authorization: `Bearer ${calendar.key}`, "x-user-id": ALICE, "x-app-id": APP },
    "API key as a user": { authorization: `Bearer ${API_KEY}`, "x-user-id": ALICE, "x-app-id": APP },
    "gateway token": { authorization: `Bearer ${gateway}` },
    "passed through": { authorization: "Bearer t-anything" },
  };
  const before = sb.stats().apiCalls.length;
  for (const p of hostile) {
    for (const [who, headers] of Object.entries(callers)) {
      const r = await a.fetch(p, { headers });
      assert.ok(r.status === 400 || r.status === 403, `${who} ${p}: ${r.status}`);
    }
  }
  assert.equal(sb.stats().apiCalls.length, before, "nothing was sent");
  const fine = await a.fetch("/open-apis/calendar/v4/calendars", { headers: callers["agent key as a user"] });
  assert.equal((await fine.json()).code, 0, "an ordinary path still goes");
});

test("5. an app's secret never goes to the other brand's host", async () => {
  sb.reset();
  larkSb.reset();
  const w = await workers();
  const [a] = w.fronts;
  // Anonymous sign-in of a Feishu app under /lark: refused before anything.
  const login = await a.fetch(`/lark/oauth/login?app=${APP}`, { redirect: "manual" });
  assert.equal(login.status, 400);
  const callback = await a.fetch(`/lark/oauth/callback?code=made-up&state=x.y`, { redirect: "manual" });
  assert.equal(callback.status, 400);
  // An agent key of the Feishu app used under /lark: Feishu's answer to a wrong secret, nothing sent.
  const r = await (await a.fetch(`/lark${INTERNAL}`, json({ app_id: APP, app_secret: calendar.key }))).json();
  assert.equal(r.code, 10015);
  const s = larkSb.stats();
  assert.equal(s.internalTenantTokenCalls + s.internalAppTokenCalls, 0);
  assert.equal(Object.keys(s.requests).filter((p) => p.includes("oauth") || p.includes("authen")).length, 0, "no code exchange at Lark");
  // A Lark app ("brand": "lark") is Lark's only.
  const both = await workers({ SELF_BUILT_APPS: JSON.stringify({ [APP]: SECRET, [LARK_APP]: { secret: LARK_SECRET, brand: "lark" } }) });
  const [c] = both.fronts;
  assert.equal((await c.fetch(`/oauth/login?app=${LARK_APP}`, { redirect: "manual" })).status, 400);
  assert.equal((await c.fetch(`/lark/oauth/login?app=${LARK_APP}`, { redirect: "manual" })).status, 302);
  assert.equal((await c.fetch(`/lark/oauth/login?app=${APP}`, { redirect: "manual" })).status, 400);
  assert.equal(larkSb.stats().oauth.codeCalls, 0, "no code exchanged at Lark");
});

test("6. agent keys, gateway tokens and API keys never reach Feishu, in any header or credential field", async () => {
  sb.reset();
  const w = await workers();
  const [a] = w.fronts;
  const gateway = await internalToken(a, { secret: chatsOnly.key });
  assert.match(gateway, /^g1\./);
  const start = sb.stats();
  const chatsPath = "/open-apis/im/v1/chats";
  const headerCases = [
    { authorization: `Bearer ${chatsOnly.key}` },
    { authorization: chatsOnly.key },
    { authorization: `Token ${chatsOnly.key}` },
    { authorization: gateway },
    { authorization: `Token ${gateway}` },
    { authorization: "Bearer t-real", "x-extra": chatsOnly.key },
    { authorization: "Bearer t-real", "x-extra": `Bearer ${gateway}` },
    { authorization: "Bearer t-real", "x-extra": API_KEY },
  ];
  for (const headers of headerCases) {
    const r = await a.fetch(chatsPath, { headers });
    assert.equal(r.status, 400, JSON.stringify(Object.keys(headers)));
    assert.equal(sb.stats().apiCalls.length, start.apiCalls.length, `refused locally, nothing sent: ${Object.keys(headers)}`);
  }
  const bodies = [
    ["/open-apis/auth/v3/tenant_access_token", { app_access_token: chatsOnly.key, tenant_key: "t1" }, 99991664],
    ["/open-apis/auth/v3/tenant_access_token", { app_access_token: API_KEY, tenant_key: "t1" }, 99991664],
    [INTERNAL, { app_id: APP, app_secret: gateway }, 10015],
    [INTERNAL, { app_id: "cli_other", app_secret: gateway }, 10015],
    [INTERNAL, { app_id: APP, app_secret: API_KEY }, 10015],
    ["/open-apis/auth/v3/app_access_token/internal", { app_id: APP, app_secret: gateway }, 10015],
    ["/open-apis/auth/v3/app_access_token", { app_id: "cli_other", app_secret: gateway, app_ticket: "x" }, 10015],
    ["/open-apis/auth/v3/app_ticket/resend", { app_id: "cli_other", app_secret: gateway }, 10015],
  ];
  for (const [p, body, code] of bodies) {
    const got = await (await a.fetch(p, json(body))).json();
    assert.equal(got.code, code, `${p} ${JSON.stringify(Object.keys(body))}: ${JSON.stringify(got)}`);
  }
  for (const [secret, headers] of [
    [gateway, {}],
    [API_KEY, {}],
    [SECRET, { authorization: `Bearer ${gateway}` }],
    [SECRET, { authorization: gateway }],
  ]) {
    const r = await a.fetch("/callback/ws/endpoint", { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify({ AppID: APP, AppSecret: secret }) });
    const body = await r.json();
    assert.notEqual(body.code, 0, JSON.stringify(body));
  }
  const end = sb.stats();
  assert.equal(end.apiCalls.length, start.apiCalls.length, "no API call");
  for (const l of logs) for (const s of [chatsOnly.key, gateway, API_KEY]) assert.ok(!l.includes(s), `a log line holds a credential: ${l}`);
  assert.deepEqual(end.requests, start.requests, "nothing at all reached Feishu");
});

test("7. method overrides are never forwarded", async () => {
  sb.reset();
  const w = await workers();
  const [a] = w.fronts;
  const gateway = await internalToken(a, { secret: poster.key });
  const overrides = ["x-http-method-override", "x-http-method", "x-method-override"];
  for (const name of overrides) {
    const r = await a.fetch("/open-apis/im/v1/messages", { method: "POST", headers: { authorization: `Bearer ${gateway}`, "content-type": "application/json", [name]: "DELETE" }, body: "{}" });
    assert.equal((await r.json()).code, 0);
    const seen = sb.stats().apiCalls.at(-1);
    assert.equal(seen.method, "POST");
    assert.ok(!seen.headers.includes(name), `${name} reached Feishu`);
  }
  const plain = await internalToken(a);
  await a.fetch("/open-apis/im/v1/chats", { headers: { authorization: `Bearer ${plain}`, "x-http-method-override": "DELETE" } });
  assert.ok(!sb.stats().apiCalls.at(-1).headers.includes("x-http-method-override"), "nor on a passed-through call");
});

test("9. a user-token refusal in a chunked answer (99991677 and 99991668) heals as a declared-length one does", async () => {
  sb.reset();
  const w = await workers();
  const [a, b] = w.fronts;
  await signIn(a);
  const call = (front) => front.fetch("/open-apis/im/v1/chats", { headers: { authorization: `Bearer ${API_KEY}`, "x-user-id": ALICE, "x-app-id": APP } });
  assert.equal((await (await call(b)).json()).code, 0);
  await config(sb, { chunkedRefusals: 1 });
  try {
    // Feishu's clock says the token expired (the Worker still thinks it fresh): 99991677, chunked.
    await fetch(`${sb.url}/__sandbox/advance`, { method: "POST", body: JSON.stringify({ secs: 7300 }) });
    const healed = await call(a);
    const body = await healed.json();
    assert.equal(body.code, 0, JSON.stringify(body));
    assert.equal(sb.stats().oauth.refreshCalls, 1, "one refresh replaced the expired token");
    // And at the next expiry, from the front holding the current token.
    const before = sb.stats().oauth.refreshCalls;
    await fetch(`${sb.url}/__sandbox/advance`, { method: "POST", body: JSON.stringify({ secs: 7300 }) });
    assert.equal((await (await call(a)).json()).code, 0);
    assert.equal(sb.stats().oauth.refreshCalls, before + 1);
    // 99991668: Feishu ends the token early (it is not yet due anywhere), chunked too,
    // seen by the front holding the user's current token.
    const invalidated = await (await fetch(`${sb.url}/__sandbox/user/token/invalidate`, { method: "POST", body: JSON.stringify({ open_id: ALICE }) })).json();
    assert.ok(invalidated.invalidated >= 1, JSON.stringify(invalidated));
    const healed668 = await (await call(a)).json();
    assert.equal(healed668.code, 0, JSON.stringify(healed668));
    assert.equal(sb.stats().oauth.refreshCalls, before + 2, "one refresh replaced the invalidated token");
  } finally {
    await config(sb, { chunkedRefusals: 0 });
  }
});

test("10. made-up users cost no object storage", async () => {
  sb.reset();
  const persist = mkdtempSync(path.join(tmpdir(), "ftt-hardening-"));
  dirs.push(persist);
  const w = await workers({}, { persist });
  const [a] = w.fronts;
  const files = () => {
    const found = [];
    const walk = (d) => readdirSync(d).forEach((f) => (statSync(path.join(d, f)).isDirectory() ? walk(path.join(d, f)) : found.push(path.join(d, f))));
    walk(persist);
    return found.filter((f) => !f.includes("kv") && !f.includes("KV"));
  };
  const before = files().length;
  for (let i = 0; i < 50; i++) {
    const r = await a.fetch(`/v1/users/ou_madeup${i}/user_access_token?app=${APP}`, { headers: { authorization: `Bearer ${API_KEY}` } });
    assert.equal(r.status, 401);
    assert.equal((await r.json()).error, "SIGNED_OUT");
  }
  const after = files().length;
  assert.ok(after - before < 5, `50 made-up users left ${after - before} storage files`);
});
