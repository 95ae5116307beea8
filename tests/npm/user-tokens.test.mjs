// `feishu-tenant-token/user-tokens` as built into pkg/, in Node, against the
// sandbox's OAuth (sandbox/oauth.mjs): a sign-in URL with PKCE, the
// code exchange learning who signed in, one refresh for 200 callers at
// expiry, a store shared by two clients where one claims and refreshes and
// the other waits (two Node processes: user-tokens-processes.test.mjs),
// SIGNED_OUT for a revoked grant with no loop.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startSandbox, SANDBOX_SELF_BUILT_APPS } from "../../sandbox/sandbox.mjs";

const ut = await import(new URL("../../pkg/user-tokens.node.js", import.meta.url).href);
const { UserTokenClient, createPkce } = ut;

const APP = "cli_sandbox_internal_one";
const SECRET = SANDBOX_SELF_BUILT_APPS[APP].appSecret;
const REDIRECT = "http://127.0.0.1:9/oauth/callback";
let sb;

before(async () => {
  sb = await startSandbox({ quiet: true });
});
after(() => sb?.close());

const sandboxConfig = (c) => fetch(`${sb.url}/__sandbox/config`, { method: "POST", body: JSON.stringify(c) });
const client = (options = {}) => new UserTokenClient({ appId: APP, appSecret: SECRET, baseUrl: sb.url, ...options });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A browser's sign-in at the sandbox: the code that comes back. */
async function signIn(c, user, pkce, state = "st") {
  const url = new URL(c.authorizeUrl({ redirectUri: REDIRECT, scopes: ["im:message"], state, codeChallenge: pkce.codeChallenge, accountsUrl: sb.url }));
  url.searchParams.set("user", user);
  const r = await fetch(url, { redirect: "manual" });
  const back = new URL(r.headers.get("location"));
  assert.equal(back.searchParams.get("state"), state);
  return back.searchParams.get("code");
}

/** A CAS store two clients share, as a database row per user would be. */
function sharedStore() {
  const rows = new Map();
  return {
    rows,
    get: async (id) => rows.get(id) ?? null,
    put: async (id, grant, expected) => {
      const now = rows.get(id)?.version ?? null;
      if (now !== expected) return false;
      rows.set(id, { version: (now ?? 0) + 1, grant });
      return true;
    },
    delete: async (id) => void rows.delete(id),
  };
}

test("authorizeUrl asks offline_access with S256; exchange learns who signed in and stores the grant", async () => {
  sb.reset();
  const c = client();
  const pkce = createPkce();
  assert.match(pkce.codeVerifier, /^[A-Za-z0-9_-]{43}$/);
  assert.notEqual(createPkce().codeVerifier, pkce.codeVerifier);
  const url = new URL(c.authorizeUrl({ redirectUri: REDIRECT, state: "s", codeChallenge: pkce.codeChallenge }));
  assert.equal(url.origin, "https://accounts.feishu.cn");
  assert.equal(url.searchParams.get("scope"), "offline_access");
  assert.equal(url.searchParams.get("code_challenge_method"), "S256");
  const code = await signIn(c, "ou_sandbox_alice", pkce);
  const me = await c.exchange(code, { redirectUri: REDIRECT, codeVerifier: pkce.codeVerifier });
  assert.equal(me.userId, "ou_sandbox_alice");
  assert.match(me.userAccessToken, /^u-/);
  assert.ok(me.expire > 7000);
  const again = await c.accessToken("ou_sandbox_alice");
  assert.equal(again.userAccessToken, me.userAccessToken, "served from the store");
  assert.equal(sb.stats().oauth.refreshCalls, 0);
  await assert.rejects(c.exchange(code, { redirectUri: REDIRECT, codeVerifier: pkce.codeVerifier }), (e) => e.code === "FEISHU_API_ERROR" && e.feishuCode === 20003, "a code works once");
  await assert.rejects(c.accessToken("ou_sandbox_bob"), (e) => e.code === "SIGNED_OUT" && e.name === "FeishuTokenError");
  assert.throws(() => client({ store: 5 }), (e) => e.code === "INVALID_INPUT");
  assert.throws(() => client({ ticketStore: {} }), (e) => e.code === "INVALID_INPUT");
});

test("200 callers at expiry make one refresh; the rotated refresh token is stored", async () => {
  sb.reset();
  await sandboxConfig({ userTokenSecs: 40 });
  const store = sharedStore();
  // Served only with 38 s left: due 2 s after the exchange.
  const c = client({ store, minValiditySecs: 38 });
  const pkce = createPkce();
  const me = await c.exchange(await signIn(c, "ou_sandbox_alice", pkce), { redirectUri: REDIRECT, codeVerifier: pkce.codeVerifier });
  const firstRefresh = store.rows.get("ou_sandbox_alice").grant.refreshToken;
  await sleep(2100);
  const all = await Promise.all(Array.from({ length: 200 }, () => c.accessToken("ou_sandbox_alice")));
  assert.equal(new Set(all.map((t) => t.userAccessToken)).size, 1);
  assert.notEqual(all[0].userAccessToken, me.userAccessToken);
  assert.equal(sb.stats().oauth.refreshCalls, 1);
  const row = store.rows.get("ou_sandbox_alice");
  assert.equal(row.version, 3, "claimed, then the rotated grant stored");
  assert.notEqual(row.grant.refreshToken, firstRefresh, "rotated and stored");
  assert.equal(row.grant.refreshingBy, undefined, "the claim went with it");
});

test("two clients sharing a store: one claims and refreshes, the other waits for its grant; no refresh token sent twice", async () => {
  sb.reset();
  await sandboxConfig({ userTokenSecs: 40 });
  const store = sharedStore();
  const one = client({ store, minValiditySecs: 38 });
  const two = client({ store, minValiditySecs: 38 });
  const pkce = createPkce();
  await one.exchange(await signIn(one, "ou_sandbox_alice", pkce), { redirectUri: REDIRECT, codeVerifier: pkce.codeVerifier });
  await sleep(2100);
  // Both read the same due grant: one's claim is stored, the other waits.
  const [a, b] = await Promise.all([one.accessToken("ou_sandbox_alice"), two.accessToken("ou_sandbox_alice")]);
  assert.equal(a.userAccessToken, b.userAccessToken, "the waiter serves the refresher's token");
  const o = sb.stats().oauth;
  assert.equal(o.refreshCalls, 1);
  assert.equal(o.refreshTokensSentTwice, 0);
  assert.ok(store.rows.has("ou_sandbox_alice"), "not signed out");
  assert.equal((await two.accessToken("ou_sandbox_alice")).userAccessToken, a.userAccessToken);
});

test("a revoked grant rejects with SIGNED_OUT once, deletes the grant, and asks Feishu no more", async () => {
  sb.reset();
  const store = sharedStore();
  const c = client({ store });
  const pkce = createPkce();
  const me = await c.exchange(await signIn(c, "ou_sandbox_bob", pkce), { redirectUri: REDIRECT, codeVerifier: pkce.codeVerifier });
  await fetch(`${sb.url}/__sandbox/user/revoke`, { method: "POST", body: JSON.stringify({ open_id: "ou_sandbox_bob" }) });
  // An API call refused the token (99991668): its replacement is asked for.
  await assert.rejects(c.replaceToken("ou_sandbox_bob", me.userAccessToken), (e) => e.code === "SIGNED_OUT" && e.feishuCode === 20064);
  assert.equal(store.rows.has("ou_sandbox_bob"), false);
  await assert.rejects(c.accessToken("ou_sandbox_bob"), (e) => e.code === "SIGNED_OUT");
  assert.equal(sb.stats().oauth.refreshCalls, 1, "one try, no loop");
  assert.equal(sb.stats().oauth.refreshTokensSentTwice, 0);
});
