// The sandbox's user sign-in (sandbox/oauth.mjs) behaves as Feishu's
// OAuth 2 does (../shared facts, "User access tokens"): the authorize page
// signs a chosen user in and redirects with a one-time code; the v2 token
// endpoint checks PKCE S256; refresh tokens are single-use (a reused one
// answers 20064), expire (20037), die with a revoked grant; business APIs
// answer 99991668 / 99991677 to bad user tokens. PKCE here is computed with
// node:crypto, as RFC 7636 says, not with the sandbox's code.
// Needs no build: run with `node --test tests/npm/oauth-sandbox.test.mjs`.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { startSandbox, SANDBOX_SELF_BUILT_APPS } from "../../sandbox/sandbox.mjs";
import { SANDBOX_USERS, OAUTH_PATHS } from "../../sandbox/oauth.mjs";

const APP = "cli_sandbox_internal_one";
const SECRET = SANDBOX_SELF_BUILT_APPS[APP].appSecret;
const REDIRECT = "http://127.0.0.1:9/oauth/callback";
let sb;

before(async () => {
  sb = await startSandbox({ quiet: true });
});
after(() => sb?.close());

const post = async (path, body) => {
  const r = await fetch(`${sb.url}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  return { status: r.status, ...(await r.json()) };
};
const token = (body) => post(OAUTH_PATHS.token, { client_id: APP, client_secret: SECRET, ...body });

/** Signs `user` in as a browser would (the page, then their button); resolves to the code and state it got back. */
async function signIn(user, { verifier = randomBytes(32).toString("base64url"), scope = "im:message offline_access", state = "st-1" } = {}) {
  const challenge = createHash("sha256").update(verifier).digest("base64url");
  const q = new URLSearchParams({ client_id: APP, redirect_uri: REDIRECT, scope, state, code_challenge: challenge, code_challenge_method: "S256" });
  const page = await (await fetch(`${sb.url}${OAUTH_PATHS.authorize}?${q}`)).text();
  assert.ok(page.includes(`value="${user}"`), "the page offers the user");
  q.set("user", user);
  const r = await fetch(`${sb.url}${OAUTH_PATHS.authorize}?${q}`, { redirect: "manual" });
  assert.equal(r.status, 302);
  const back = new URL(r.headers.get("location"));
  assert.equal(`${back.origin}${back.pathname}`, REDIRECT);
  return { code: back.searchParams.get("code"), state: back.searchParams.get("state"), verifier };
}

test("sign-in, code exchange with PKCE, user_info, and a business API with the user's token", async () => {
  sb.reset();
  const { code, state, verifier } = await signIn("ou_sandbox_alice");
  assert.equal(state, "st-1");
  const wrong = await token({ grant_type: "authorization_code", code, redirect_uri: REDIRECT, code_verifier: "x".repeat(43) });
  assert.equal(wrong.code, 20003, "a wrong verifier; and the code is spent");
  const again = await signIn("ou_sandbox_alice", { verifier });
  const g = await token({ grant_type: "authorization_code", code: again.code, redirect_uri: REDIRECT, code_verifier: verifier });
  assert.equal(g.code, 0, JSON.stringify(g));
  assert.match(g.access_token, /^u-/);
  assert.match(g.refresh_token, /^ur-/);
  assert.equal(g.expires_in, 7200);
  assert.equal(g.refresh_token_expires_in, 604800);
  const replayed = await token({ grant_type: "authorization_code", code: again.code, redirect_uri: REDIRECT, code_verifier: verifier });
  assert.equal(replayed.code, 20003, "a code works once");
  const me = await (await fetch(`${sb.url}${OAUTH_PATHS.userInfo}`, { headers: { authorization: `Bearer ${g.access_token}` } })).json();
  assert.equal(me.data.open_id, "ou_sandbox_alice");
  assert.equal(me.data.name, SANDBOX_USERS.ou_sandbox_alice.name);
  const chats = await (await fetch(`${sb.url}/open-apis/im/v1/chats`, { headers: { authorization: `Bearer ${g.access_token}` } })).json();
  assert.equal(chats.code, 0);
});

test("without offline_access there is no refresh token", async () => {
  sb.reset();
  const { code, verifier } = await signIn("ou_sandbox_bob", { scope: "im:message" });
  const g = await token({ grant_type: "authorization_code", code, redirect_uri: REDIRECT, code_verifier: verifier });
  assert.equal(g.code, 0);
  assert.equal(g.refresh_token, undefined);
});

test("refresh tokens are single-use (a reused one: 20064), expire (20037), and die with a revoked grant", async () => {
  sb.reset();
  await fetch(`${sb.url}/__sandbox/config`, { method: "POST", body: JSON.stringify({ userTokenSecs: 60, refreshTokenSecs: 600 }) });
  const { code, verifier } = await signIn("ou_sandbox_alice");
  const g = await token({ grant_type: "authorization_code", code, redirect_uri: REDIRECT, code_verifier: verifier });
  const next = await token({ grant_type: "refresh_token", refresh_token: g.refresh_token });
  assert.equal(next.code, 0);
  assert.notEqual(next.refresh_token, g.refresh_token, "rotated");
  assert.equal((await token({ grant_type: "refresh_token", refresh_token: g.refresh_token })).code, 20064, "the old one is spent");
  assert.equal((await token({ grant_type: "refresh_token", refresh_token: "ur-made-up" })).code, 20026);
  assert.equal(sb.stats().oauth.refreshTokensSentTwice, 1, "the sandbox counts a refresh token sent twice");
  // The user token expires with the clock; the refresh token too.
  await fetch(`${sb.url}/__sandbox/advance`, { method: "POST", body: JSON.stringify({ secs: 61 }) });
  const expired = await (await fetch(`${sb.url}/open-apis/im/v1/chats`, { headers: { authorization: `Bearer ${next.access_token}` } })).json();
  assert.equal(expired.code, 99991677);
  await fetch(`${sb.url}/__sandbox/advance`, { method: "POST", body: JSON.stringify({ secs: 600 }) });
  assert.equal((await token({ grant_type: "refresh_token", refresh_token: next.refresh_token })).code, 20037);
  // A revoked grant.
  const b = await signIn("ou_sandbox_bob");
  const gb = await token({ grant_type: "authorization_code", code: b.code, redirect_uri: REDIRECT, code_verifier: b.verifier });
  await post("/__sandbox/user/revoke", { open_id: "ou_sandbox_bob" });
  assert.equal((await token({ grant_type: "refresh_token", refresh_token: gb.refresh_token })).code, 20064);
  const invalid = await (await fetch(`${sb.url}/open-apis/im/v1/chats`, { headers: { authorization: `Bearer ${gb.access_token}` } })).json();
  assert.equal(invalid.code, 99991668);
  assert.equal(sb.stats().oauth.refreshCalls, 5);
});

test("a wrong client secret or an unknown app is refused", async () => {
  sb.reset();
  assert.equal((await post(OAUTH_PATHS.token, { client_id: APP, client_secret: "no", grant_type: "refresh_token", refresh_token: "x" })).code, 20002);
  const r = await fetch(`${sb.url}${OAUTH_PATHS.authorize}?client_id=cli_nobody&redirect_uri=${encodeURIComponent(REDIRECT)}&code_challenge=x&code_challenge_method=S256`);
  assert.equal(r.status, 400);
});
