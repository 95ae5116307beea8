// `feishu-tenant-token/user-tokens` across processes (#32): two Node
// processes, each a UserTokenClient over one compare-and-set store
// (tests/npm/fixtures/cas-store.mjs, over HTTP on loopback), refresh a user
// exactly once per rotation: the client whose claim the store took sends the
// refresh token, the others wait for its grant. A refresher that dies after
// claiming is taken over once its lease ends; a store whose put fails sends
// nothing and loses nothing. The sandbox counts refresh tokens sent twice.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { fork } from "node:child_process";
import { startSandbox, SANDBOX_SELF_BUILT_APPS } from "../../sandbox/sandbox.mjs";
import { startCasStore, casStoreClient } from "./fixtures/cas-store.mjs";

const { UserTokenClient, createPkce } = await import(new URL("../../pkg/user-tokens.node.js", import.meta.url).href);

const APP = "cli_sandbox_internal_one";
const SECRET = SANDBOX_SELF_BUILT_APPS[APP].appSecret;
const REDIRECT = "http://127.0.0.1:9/oauth/callback";
const ALICE = "ou_sandbox_alice";
const PROCESS = new URL("./fixtures/user-token-process.mjs", import.meta.url);
/** A child's claim lease: its timeoutMs (1000) and the 2 s margin. */
const LEASE_MS = 3000;

let sb, store;
before(async () => {
  sb = await startSandbox({ quiet: true });
  store = await startCasStore();
});
after(async () => {
  await store?.close();
  await sb?.close();
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Alice signed in through a client over the shared store; due 2 s later. */
async function aliceSignedIn() {
  sb.reset();
  store.rows.clear();
  await fetch(`${sb.url}/__sandbox/config`, { method: "POST", body: JSON.stringify({ userTokenSecs: 40 }) });
  const c = new UserTokenClient({ appId: APP, appSecret: SECRET, baseUrl: sb.url, store: casStoreClient(store.url) });
  const pkce = createPkce();
  const url = new URL(c.authorizeUrl({ redirectUri: REDIRECT, state: "st", codeChallenge: pkce.codeChallenge, accountsUrl: sb.url }));
  url.searchParams.set("user", ALICE);
  const code = new URL((await fetch(url, { redirect: "manual" })).headers.get("location")).searchParams.get("code");
  await c.exchange(code, { redirectUri: REDIRECT, codeVerifier: pkce.codeVerifier });
  await sleep(2100);
}

/** A forked process of the app, ready for "go"; `done` resolves to its results or its exit code. */
async function startProcess(callers, mode = "serve") {
  const child = fork(PROCESS, [sb.url, store.url, APP, SECRET, ALICE, String(callers), mode], { stdio: "inherit" });
  const killer = setTimeout(() => child.kill("SIGKILL"), 30_000);
  const done = new Promise((resolve) => {
    let results = null;
    child.on("message", (m) => m?.results && (results = m.results));
    child.on("exit", (code) => (clearTimeout(killer), resolve({ code, results })));
  });
  await new Promise((resolve, reject) => {
    child.once("message", (m) => (m === "ready" ? resolve() : reject(new Error(`unexpected ${m}`))));
    child.once("exit", (code) => reject(new Error(`exited ${code} before it was ready`)));
  });
  return { go: () => child.send("go"), done };
}

test("200 callers at expiry split between two processes: exactly one refresh, no refresh token sent twice, all served", async () => {
  await aliceSignedIn();
  const [one, two] = await Promise.all([startProcess(100), startProcess(100)]);
  one.go();
  two.go();
  const [a, b] = await Promise.all([one.done, two.done]);
  const all = [...a.results, ...b.results];
  assert.equal(all.length, 200);
  assert.deepEqual(all.filter((r) => r.error), [], "every caller served");
  assert.equal(new Set(all.map((r) => r.token)).size, 1, "one token for everyone");
  const o = sb.stats().oauth;
  assert.equal(o.refreshCalls, 1, "exactly one refresh at Feishu");
  assert.equal(o.refreshTokensSentTwice, 0);
  const row = store.rows.get(ALICE);
  assert.equal(row.grant.accessToken, all[0].token, "the stored grant is the one served");
  assert.equal(row.grant.refreshingBy, undefined, "and its claim is gone");
});

test("a process killed after claiming: another takes over once the lease has passed and the user is served", async () => {
  await aliceSignedIn();
  const dying = await startProcess(5, "die-after-claim");
  const claimedAt = Date.now();
  dying.go();
  const died = await dying.done;
  assert.equal(died.code, 3, "it died right after storing its claim");
  assert.ok(store.rows.get(ALICE).grant.refreshingBy, "its claim is in the store");
  assert.equal(sb.stats().oauth.refreshCalls, 0, "it never sent the refresh token");
  const heir = await startProcess(50);
  heir.go();
  const { results } = await heir.done;
  assert.deepEqual(results.filter((r) => r.error), [], "every caller served");
  assert.equal(new Set(results.map((r) => r.token)).size, 1);
  assert.ok(Date.now() - claimedAt >= LEASE_MS, "not before the lease ended");
  const o = sb.stats().oauth;
  assert.equal(o.refreshCalls, 1);
  assert.equal(o.refreshTokensSentTwice, 0);
});

test("a store whose put fails: a clear error, nothing sent to Feishu, the stored grant as it was", async () => {
  await aliceSignedIn();
  const before = structuredClone(store.rows.get(ALICE));
  const shared = casStoreClient(store.url);
  const failing = {
    ...shared,
    put: async () => {
      throw new Error("disk full");
    },
  };
  const c = new UserTokenClient({ appId: APP, appSecret: SECRET, baseUrl: sb.url, store: failing, minValiditySecs: 38 });
  await assert.rejects(c.accessToken(ALICE), (e) => {
    assert.match(e.message, /store\.put (threw|rejected)/);
    assert.match(e.message, /nothing was sent to Feishu/);
    assert.ok(!e.message.includes(before.grant.refreshToken) && !e.message.includes(before.grant.accessToken), "no token in the error");
    return true;
  });
  assert.equal(sb.stats().oauth.refreshCalls, 0);
  assert.deepEqual(store.rows.get(ALICE), before, "nothing lost");
  // The store mended: the same client refreshes once and serves.
  const mended = new UserTokenClient({ appId: APP, appSecret: SECRET, baseUrl: sb.url, store: shared, minValiditySecs: 38 });
  assert.match((await mended.accessToken(ALICE)).userAccessToken, /^u-/);
  assert.equal(sb.stats().oauth.refreshCalls, 1);
});
