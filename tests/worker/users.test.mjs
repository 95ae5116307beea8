// User tokens at the edge (#26) in workerd: a browser's sign-in through the
// Worker (cookies and redirects followed by hand, as a browser would), each
// user's grant in their own Durable Object, refreshed once for every
// caller across two front Workers, single-use refresh tokens never sent
// twice, a revoked grant answered 401 with the sign-in URL and no loop,
// X-User-Id calls recovering once, the keep-alive alarm, refused states,
// and no user token or refresh token in any log line, KV value or object
// storage file. The sandbox plays Feishu's OAuth (sandbox/oauth.mjs).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { startSandbox, SANDBOX_SELF_BUILT_APPS } from "../../sandbox/sandbox.mjs";
import { startCoordinatedWorkers } from "./built-worker.mjs";
import { createAgentKey } from "../../scripts/agent-key.mjs";

const APP = "cli_sandbox_internal_one";
const OTHER_APP = "cli_sandbox_internal_two";
const API_KEY = "k".repeat(40);
const USER_TOKEN_KEY = "5e".repeat(32);
const ALICE = "ou_sandbox_alice";
const BOB = "ou_sandbox_bob";

let sb;
const started = [];
const logs = [];

before(async () => {
  sb = await startSandbox({ quiet: true });
});
after(async () => {
  for (const w of started) await w.mf.dispose().catch(() => {});
  await sb?.close();
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const sandboxConfig = (c) => fetch(`${sb.url}/__sandbox/config`, { method: "POST", body: JSON.stringify(c) });

async function workers(vars = {}, opts = {}) {
  const apps = Object.fromEntries([APP, OTHER_APP].filter((a) => SANDBOX_SELF_BUILT_APPS[a]).map((a) => [a, SANDBOX_SELF_BUILT_APPS[a].appSecret]));
  const w = await startCoordinatedWorkers({
    vars: {
      FEISHU_BASE_URL: sb.url,
      FEISHU_ACCOUNTS_URL: sb.url,
      UPSTREAM_TIMEOUT_MS: "3000",
      UPSTREAM_DEADLINE_MS: "3000",
      SELF_BUILT_APPS: JSON.stringify(apps),
      API_KEYS: API_KEY,
      USER_TOKEN_KEY,
      OAUTH_SCOPES: "im:message",
      ...vars,
    },
    onLog: (l) => logs.push(String(l.message ?? l)),
    ...opts,
  });
  started.push(w);
  return w;
}

/** A browser's sign-in as `user` through `front`: login → the sandbox's page → callback. */
async function signIn(front, user, { app = APP, back = "/demo" } = {}) {
  const login = await front.fetch(`/oauth/login?app=${app}&return=${encodeURIComponent(back)}`, { redirect: "manual" });
  assert.equal(login.status, 302, await login.clone().text());
  const cookie = login.headers.get("set-cookie").split(";")[0];
  const authorize = new URL(login.headers.get("location"));
  assert.equal(authorize.origin, sb.url);
  authorize.searchParams.set("user", user);
  const page = await fetch(authorize, { redirect: "manual" });
  assert.equal(page.status, 302);
  const callback = new URL(page.headers.get("location"));
  return { cookie, callback: `${callback.pathname}${callback.search}`, authorize };
}

async function finish(front, { cookie, callback }) {
  return front.fetch(callback, { redirect: "manual", headers: cookie ? { cookie } : {} });
}

const userToken = async (front, user = ALICE, key = API_KEY, app = APP) => {
  const r = await front.fetch(`/v1/users/${user}/user_access_token${app && `?app=${app}`}`, { headers: { authorization: `Bearer ${key}` } });
  return { status: r.status, body: await r.json() };
};

const chats = async (front, user = ALICE) => {
  const r = await front.fetch("/open-apis/im/v1/chats", { headers: { authorization: `Bearer ${API_KEY}`, "x-user-id": user, "x-app-id": APP } });
  return { status: r.status, body: await r.json() };
};

test("a browser signs in through the Worker and a service gets the user's token with an API key", async () => {
  sb.reset();
  const w = await workers();
  const [a] = w.fronts;
  const s = await signIn(a, ALICE);
  const q = new URL(s.authorize);
  assert.equal(q.pathname, "/open-apis/authen/v1/authorize");
  assert.equal(q.searchParams.get("code_challenge_method"), "S256");
  assert.deepEqual(q.searchParams.get("scope").split(" ").sort(), ["im:message", "offline_access"]);
  assert.equal(q.searchParams.get("redirect_uri"), "http://worker/oauth/callback");
  assert.match(s.cookie, /^ftt_sign_in=/);
  const done = await finish(a, s);
  assert.equal(done.status, 302, await done.clone().text());
  assert.equal(done.headers.get("location"), `/demo?signed_in=${ALICE}`);
  assert.match(done.headers.get("set-cookie"), /ftt_sign_in=; .*Max-Age=0/, "the cookie is cleared");
  const got = await userToken(a);
  assert.equal(got.status, 200, JSON.stringify(got.body));
  assert.equal(got.body.code, 0);
  assert.match(got.body.user_access_token, /^u-/);
  assert.ok(got.body.expire > 7000 && got.body.expire <= 7200, String(got.body.expire));
  const me = await (await fetch(`${sb.url}/open-apis/authen/v1/user_info`, { headers: { authorization: `Bearer ${got.body.user_access_token}` } })).json();
  assert.equal(me.data.open_id, ALICE, "the token is Alice's");
  // Without a key, with a wrong one, for a user who never signed in.
  assert.equal((await a.fetch(`/v1/users/${ALICE}/user_access_token`)).status, 401);
  assert.equal((await userToken(a, ALICE, "x".repeat(40))).status, 401);
  const bob = await userToken(a, BOB);
  assert.equal(bob.status, 401);
  assert.equal(bob.body.error, "SIGNED_OUT");
  assert.equal(bob.body.sign_in_url, `http://worker/oauth/login?app=${APP}`);
  assert.equal((await userToken(a, "not-an-open-id")).status, 400);
  assert.equal(sb.stats().oauth.refreshCalls, 0);
});

test("200 concurrent requests for one user split between two fronts at expiry make exactly one refresh", async () => {
  sb.reset();
  // Tokens live 40 s; served only with 36 s left: due 4 s after sign-in.
  await sandboxConfig({ userTokenSecs: 40 });
  const w = await workers({ MIN_VALIDITY_SECS: "36" });
  const [a, b] = w.fronts;
  assert.equal((await finish(a, await signIn(a, ALICE))).status, 302);
  const first = (await userToken(b)).body.user_access_token;
  await sleep(4200);
  const answers = await Promise.all(Array.from({ length: 200 }, (_, i) => userToken(w.fronts[i % 2])));
  assert.deepEqual([...new Set(answers.map((x) => x.status))], [200]);
  const tokens = new Set(answers.map((x) => x.body.user_access_token));
  assert.equal(tokens.size, 1, "every caller got the one new token");
  assert.ok(!tokens.has(first));
  const o = sb.stats().oauth;
  assert.equal(o.refreshCalls, 1, "one refresh at Feishu");
  assert.equal(o.refreshTokensSentTwice, 0, "no refresh token sent twice");
});

test("an X-User-Id call puts the user's token on and recovers once from 99991677 and 99991668", async () => {
  sb.reset();
  const w = await workers();
  const [a, b] = w.fronts;
  await finish(a, await signIn(a, ALICE));
  const ok = await chats(b);
  assert.equal(ok.body.code, 0, JSON.stringify(ok.body));
  const seen = sb.stats().apiCalls.at(-1);
  assert.match(seen.token ?? seen.authorization ?? JSON.stringify(seen), /u-/);
  // Feishu's clock says the token expired (the Worker still thinks it fresh).
  await fetch(`${sb.url}/__sandbox/advance`, { method: "POST", body: JSON.stringify({ secs: 7300 }) });
  const healed = await chats(a);
  assert.equal(healed.body.code, 0, JSON.stringify(healed.body));
  assert.equal(sb.stats().oauth.refreshCalls, 1, "one refresh replaced the expired token");
  const again = await chats(b);
  assert.equal(again.body.code, 0);
  assert.equal(sb.stats().oauth.refreshCalls, 1, "the other front gets the new token from the object");
});

test("a revoked grant answers 401 with the sign-in URL, once refreshed and never again", async () => {
  sb.reset();
  const w = await workers();
  const [a, b] = w.fronts;
  await finish(a, await signIn(a, ALICE));
  await fetch(`${sb.url}/__sandbox/user/revoke`, { method: "POST", body: JSON.stringify({ open_id: ALICE }) });
  const refused = await chats(a);
  assert.equal(refused.status, 401, JSON.stringify(refused.body));
  assert.equal(refused.body.error, "SIGNED_OUT");
  assert.equal(refused.body.feishu_code, 20064);
  assert.equal(refused.body.sign_in_url, `http://worker/oauth/login?app=${APP}`);
  assert.equal(sb.stats().oauth.refreshCalls, 1, "one try, no loop");
  for (const f of [a, b]) assert.equal((await userToken(f)).status, 401);
  assert.equal((await chats(b)).status, 401);
  assert.equal(sb.stats().oauth.refreshCalls, 1, "the dead grant is gone: nothing more is sent");
  assert.equal(sb.stats().oauth.refreshTokensSentTwice, 0);
});

test("a user signed out with DELETE /v1/users/{open_id} gets no token until they sign in again", async () => {
  sb.reset();
  const w = await workers();
  const [a, b] = w.fronts;
  await finish(a, await signIn(a, ALICE));
  assert.equal((await a.fetch(`/v1/users/${ALICE}`, { method: "DELETE" })).status, 401, "an API key is needed");
  const out = await b.fetch(`/v1/users/${ALICE}?app=${APP}`, { method: "DELETE", headers: { authorization: `Bearer ${API_KEY}` } });
  assert.equal(out.status, 200);
  assert.equal((await userToken(a)).status, 401);
  await finish(b, await signIn(b, ALICE));
  assert.equal((await userToken(a)).status, 200);
});

test("altered, foreign, cookieless, replayed and cancelled callbacks are refused before a code is exchanged", async () => {
  sb.reset();
  const w = await workers();
  const [a] = w.fronts;
  const mine = await signIn(a, ALICE);
  const theirs = await signIn(a, BOB);
  const refusedWith = async (attempt, why) => {
    const r = await finish(a, attempt);
    assert.equal(r.status, 400, why);
    assert.equal((await r.json()).error, "SIGN_IN_REFUSED", why);
  };
  const url = new URL(mine.callback, "http://worker");
  const state = url.searchParams.get("state");
  const altered = new URL(url);
  altered.searchParams.set("state", `${state.slice(0, 5)}${state[5] === "A" ? "B" : "A"}${state.slice(6)}`);
  await refusedWith({ cookie: mine.cookie, callback: `${altered.pathname}${altered.search}` }, "altered state");
  await refusedWith({ cookie: theirs.cookie, callback: mine.callback }, "another browser's cookie (login CSRF)");
  await refusedWith({ callback: mine.callback }, "no cookie");
  await refusedWith({ cookie: mine.cookie, callback: "/oauth/callback?code=x&state=made-up" }, "a made-up state");
  await refusedWith({ cookie: mine.cookie, callback: "/oauth/callback?error=access_denied&state=" + state }, "the user cancelled");
  assert.equal(sb.stats().oauth.codeCalls, 0, "no code was exchanged");
  assert.equal((await finish(a, mine)).status, 302, "the real one still works");
  await refusedWith(mine, "the same callback replayed (the code is spent)");
  assert.equal(sb.stats().oauth.codeCalls, 2);
});

test("the keep-alive alarm refreshes a grant before its refresh token lapses, only when turned on", async () => {
  sb.reset();
  // Refresh tokens live 6 s: the alarm comes halfway, after 3 s.
  await sandboxConfig({ refreshTokenSecs: 6 });
  const on = await workers({ USER_KEEPALIVE_DAYS: "7" });
  await finish(on.fronts[0], await signIn(on.fronts[0], ALICE));
  const before = (await userToken(on.fronts[0])).body.user_access_token;
  const off = await workers();
  await finish(off.fronts[0], await signIn(off.fronts[0], BOB));
  await sleep(4500);
  assert.equal(sb.stats().oauth.refreshCalls, 1, "one refresh, by Alice's alarm; none for Bob");
  const after = await userToken(on.fronts[1]);
  assert.equal(after.status, 200);
  assert.notEqual(after.body.user_access_token, before, "Alice's grant was renewed");
  await sleep(2000);
  assert.equal((await userToken(off.fronts[0], BOB)).status, 200, "Bob's token itself still serves");
});

test("without COORDINATOR or USER_TOKEN_KEY the user routes say what to set", async () => {
  const unbound = await workers({}, { coordinator: "none" });
  const r = await unbound.fronts[0].fetch(`/oauth/login?app=${APP}`, { redirect: "manual" });
  assert.equal(r.status, 500);
  assert.match((await r.json()).msg, /COORDINATOR/);
  const off = await workers({ USER_TOKEN_KEY: "" });
  const r2 = await off.fronts[0].fetch(`/v1/users/${ALICE}/user_access_token`, { headers: { authorization: `Bearer ${API_KEY}` } });
  assert.equal(r2.status, 500);
  assert.match((await r2.json()).msg, /USER_TOKEN_KEY/);
  const bad = await workers({ USER_TOKEN_KEY: "too-short" });
  const r3 = await bad.fronts[0].fetch("/healthz");
  assert.equal(r3.status, 500);
  const text = await r3.text();
  assert.match(text, /USER_TOKEN_KEY/);
  assert.ok(!text.includes("too-short"), "never the value");
});

test("no user token or refresh token in any log line, KV value or object storage file", async () => {
  sb.reset();
  logs.length = 0;
  const persist = mkdtempSync(path.join(tmpdir(), "ftt-users-"));
  const w = await workers({}, { persist });
  const [a, b] = w.fronts;
  await finish(a, await signIn(a, ALICE));
  await userToken(b);
  await chats(a);
  await fetch(`${sb.url}/__sandbox/advance`, { method: "POST", body: JSON.stringify({ secs: 7300 }) });
  await chats(b); // a refresh
  const o = sb.state.oauth;
  const secrets = [...o.accessTokens.keys(), ...o.refreshTokens.keys()];
  assert.ok(secrets.length >= 4);
  for (const line of logs) for (const s of secrets) assert.ok(!line.includes(s), `a log line holds a token: ${line}`);
  const kv = await w.mf.getKVNamespace("TOKENS", "front-0");
  for (const { name } of (await kv.list()).keys) {
    const v = (await kv.get(name)) ?? "";
    for (const s of secrets) assert.ok(!v.includes(s) && !name.includes(s), `KV ${name} holds a token`);
  }
  await w.mf.dispose();
  const files = [];
  const walk = (d) => readdirSync(d).forEach((f) => (statSync(path.join(d, f)).isDirectory() ? walk(path.join(d, f)) : files.push(path.join(d, f))));
  walk(persist);
  assert.ok(files.length > 0);
  for (const f of files) {
    const bytes = readFileSync(f).toString("latin1");
    for (const s of secrets) assert.ok(!bytes.includes(s), `${f} holds a token`);
  }
});

test("an agent key listing a user gets that user's token and calls as them within its allow-list, nothing else", async () => {
  sb.reset();
  const agent = createAgentKey({ id: "calendar-agent", app: APP, allow: ["GET /open-apis/im/v1/chats"], users: [ALICE], userTokens: true });
  const w = await workers({ AGENT_KEYS: JSON.stringify([agent.entry]) });
  const [a, b] = w.fronts;
  await finish(a, await signIn(a, ALICE));
  await finish(a, await signIn(a, BOB));
  const mine = await userToken(b, ALICE, agent.key);
  assert.equal(mine.status, 200, JSON.stringify(mine.body));
  assert.match(mine.body.user_access_token, /^u-/);
  const other = await userToken(b, BOB, agent.key);
  assert.equal(other.status, 403);
  assert.equal(other.body.error, "KEY_NOT_ALLOWED");
  assert.match(other.body.msg, /calendar-agent.*ou_sandbox_bob/);
  assert.equal((await userToken(b, ALICE, `${agent.key}x`)).status, 401, "an unknown key");
  const call = (path, user = ALICE) => a.fetch(path, { headers: { authorization: `Bearer ${agent.key}`, "x-user-id": user, "x-app-id": APP } });
  const before = sb.stats().apiCalls.length;
  const ok = await call("/open-apis/im/v1/chats");
  assert.equal((await ok.json()).code, 0);
  assert.equal((await call("/open-apis/im/v1/messages")).status, 403, "outside its allow-list");
  assert.equal((await call("/open-apis/im/v1/chats", BOB)).status, 403, "another user");
  const sent = sb.stats().apiCalls.slice(before);
  assert.equal(sent.length, 1, "only the allowed call reached Feishu");
  assert.match(sent[0].token, /^u-/);
  assert.ok(logs.some((l) => l.includes('"event":"agent_call"') && l.includes("calendar-agent")), "audited");
  const signOut = await a.fetch(`/v1/users/${ALICE}?app=${APP}`, { method: "DELETE", headers: { authorization: `Bearer ${agent.key}` } });
  assert.equal(signOut.status, 401, "an agent cannot sign its user out");
  assert.equal((await userToken(b, ALICE, agent.key)).status, 200);
});

test("a user's fresh token serves 100 calls from the isolate's memory, no object question after the first; a sign-out elsewhere is seen within MEMORY_REVALIDATE_SECS", async () => {
  sb.reset();
  const w = await workers({ MEMORY_REVALIDATE_SECS: "2" });
  const [a, b] = w.fronts;
  await finish(a, await signIn(a, ALICE));
  assert.equal((await chats(a)).body.code, 0, "the first call asks the user's object");
  const refreshes = sb.stats().oauth.refreshCalls;
  // Signed out through the other front: from now on the object answers SIGNED_OUT,
  // so every call front a still serves did not ask it.
  const out = await b.fetch(`/v1/users/${ALICE}?app=${APP}`, { method: "DELETE", headers: { authorization: `Bearer ${API_KEY}` } });
  assert.equal(out.status, 200);
  for (let i = 0; i < 100; i++) assert.equal((await chats(a)).body.code, 0, `call ${i}: from memory`);
  assert.equal((await userToken(a)).status, 200, "the token endpoint too");
  assert.equal((await userToken(b)).status, 401, "the front that saw the sign-out forgot at once");
  await sleep(2100);
  const later = await chats(a);
  assert.equal(later.status, 401, "past MEMORY_REVALIDATE_SECS the object is asked again");
  assert.equal(later.body.error, "SIGNED_OUT");
  assert.equal(sb.stats().oauth.refreshCalls, refreshes, "nothing refreshed meanwhile");
});

test("Lark beside Feishu: /lark/oauth/login signs in at Lark's accounts site; the user's grant is Lark's only", async () => {
  sb.reset();
  // The sandbox stands in for both brands' sign-in sites; Feishu's points elsewhere.
  // APP is Feishu's (the default), OTHER_APP Lark's: each signs in under its own brand only.
  const apps = { [APP]: SANDBOX_SELF_BUILT_APPS[APP].appSecret, [OTHER_APP]: { secret: SANDBOX_SELF_BUILT_APPS[OTHER_APP].appSecret, brand: "lark" } };
  const w = await workers({ LARK_BASE_URL: sb.url, LARK_ACCOUNTS_URL: sb.url, FEISHU_ACCOUNTS_URL: "https://accounts.feishu.example", SELF_BUILT_APPS: JSON.stringify(apps) });
  const [a, b] = w.fronts;
  const feishu = await a.fetch(`/oauth/login?app=${APP}`, { redirect: "manual" });
  assert.equal(new URL(feishu.headers.get("location")).origin, "https://accounts.feishu.example");
  assert.equal((await a.fetch(`/oauth/login?app=${OTHER_APP}`, { redirect: "manual" })).status, 400, "a Lark app is not Feishu's");
  assert.equal((await a.fetch(`/lark/oauth/login?app=${APP}`, { redirect: "manual" })).status, 400, "a Feishu app is not Lark's");
  const login = await a.fetch(`/lark/oauth/login?app=${OTHER_APP}`, { redirect: "manual" });
  const set = login.headers.get("set-cookie");
  assert.match(set, /Path=\/lark\/oauth\/callback/);
  const authorize = new URL(login.headers.get("location"));
  assert.equal(authorize.origin, sb.url);
  assert.equal(authorize.searchParams.get("redirect_uri"), "http://worker/lark/oauth/callback");
  authorize.searchParams.set("user", ALICE);
  const back = new URL((await fetch(authorize, { redirect: "manual" })).headers.get("location"));
  assert.equal(back.pathname, "/lark/oauth/callback");
  const done = await a.fetch(`${back.pathname}${back.search}`, { redirect: "manual", headers: { cookie: set.split(";")[0] } });
  assert.equal(done.status, 302, await done.clone().text());
  const lark = await b.fetch(`/lark/v1/users/${ALICE}/user_access_token?app=${OTHER_APP}`, { headers: { authorization: `Bearer ${API_KEY}` } });
  assert.equal(lark.status, 200);
  assert.equal((await userToken(b, ALICE, API_KEY, OTHER_APP)).status, 400, "the Lark app is not served at the top level");
  assert.equal((await userToken(b)).status, 401, "not signed in on Feishu's side");
  const out = await (await userToken(b)).body;
  assert.equal(out.sign_in_url, `http://worker/oauth/login?app=${APP}`);
});
