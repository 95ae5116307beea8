// Operators (#36), in workerd against the sandbox: agent keys made, rotated
// and revoked at run time through the admin API (only their SHA-256 kept,
// by the key registry's object), seen by every front within a second;
// usage counted per app, key, user and API and read back (`GET /v1/usage`);
// the monthly quota's guard; and the admin surface's attack tests (no key,
// a wrong one, another origin, CSRF on every state-changing call, a revoked
// admin) with no object question spent by an anonymous caller.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHash, createHmac } from "node:crypto";
import { startSandbox, SANDBOX_SELF_BUILT_APPS } from "../../sandbox/sandbox.mjs";
import { startCoordinatedWorkers } from "./built-worker.mjs";
import { createAgentKey } from "../../scripts/agent-key.mjs";

const APP = "cli_sandbox_internal_one";
const SECRET = SANDBOX_SELF_BUILT_APPS[APP].appSecret;
const INTERNAL = "/open-apis/auth/v3/tenant_access_token/internal";
const CHATS = "/open-apis/im/v1/chats";
const ADMIN_KEY = "test-admin-key-0123456789abcdef0123456789";
const API_KEY = "test-api-key-0123456789abcdef0123456789ab";
const USER_TOKEN_KEY = "ab".repeat(32);
const statik = createAgentKey({ id: "static-agent", app: APP, allow: [`GET ${CHATS}`] });
const vars = (more = {}) => ({
  FEISHU_BASE_URL: sb.url,
  SELF_BUILT_APPS: JSON.stringify({ [APP]: SECRET }),
  AGENT_KEYS: JSON.stringify([statik.entry]),
  ADMIN_KEY,
  API_KEYS: API_KEY,
  LOG_REQUESTS: "false",
  ...more,
});

let sb;
const started = [];
before(async () => {
  sb = await startSandbox({ quiet: true });
});
after(async () => {
  for (const w of started) await w.mf.dispose().catch(() => {});
  await sb?.close();
});

async function workers(options = {}) {
  const logs = [];
  const w = await startCoordinatedWorkers({
    vars: vars(options.vars),
    coordinator: options.coordinator ?? "ours",
    onLog: (l) => logs.push(String(l.message ?? l)),
    sockets: options.sockets ?? false,
  });
  started.push(w);
  w.logs = logs;
  return w;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const json = { "content-type": "application/json" };
const asAdmin = (extra = {}) => ({ authorization: `Bearer ${ADMIN_KEY}`, ...json, ...extra });
const admin = async (front, path, method = "GET", body) => {
  const r = await front.fetch(`/admin/api/${path}`, { method, headers: asAdmin(), ...(body !== undefined && { body: JSON.stringify(body) }) });
  return { status: r.status, body: await r.json() };
};
/** What an SDK given `key` as its app secret gets: a gateway token, or Feishu's refusal. */
const tokenFor = async (front, key) =>
  (await front.fetch(INTERNAL, { method: "POST", headers: json, body: JSON.stringify({ app_id: APP, app_secret: key }) })).json();
const chats = (front, token) => front.fetch(CHATS, { headers: { authorization: `Bearer ${token}` } });

test("a key made at run time works on every front at once; rotated, the former key works for its grace then dies; revoked, refused everywhere within a second", async () => {
  sb.reset();
  const w = await workers();
  const [a, b] = w.fronts;
  const made = await admin(a, "keys", "POST", { id: "made-agent", app_id: APP, allow: [`GET ${CHATS}`] });
  assert.equal(made.status, 201, JSON.stringify(made.body));
  const key = made.body.key;
  assert.match(key, /^ftt_ak_[A-Za-z0-9_-]{43}$/);
  assert.equal(made.body.key_sha256, createHash("sha256").update(key).digest("hex").slice(0, 8));
  // Front b never heard of it: it asks the registry (the key is tagged).
  const t1 = await tokenFor(b, key);
  assert.equal(t1.code, 0, JSON.stringify(t1));
  assert.equal((await chats(b, t1.tenant_access_token)).status, 200);
  assert.equal((await chats(a, t1.tenant_access_token)).status, 200, "its gateway token works on the other front too");

  const listed = await admin(b, "keys");
  const entry = listed.body.keys.find((k) => k.id === "made-agent");
  assert.equal(entry.source, "admin");
  assert.equal(JSON.stringify(listed.body).includes(key), false, "the list never shows a key");
  assert.ok(listed.body.keys.some((k) => k.id === "static-agent" && k.source === "AGENT_KEYS"));

  // Rotation with a grace of 2 s: both keys work, then only the new one.
  const rotated = await admin(a, "keys/made-agent/rotate", "POST", { grace_secs: 2 });
  assert.equal(rotated.status, 200, JSON.stringify(rotated.body));
  const fresh = rotated.body.key;
  assert.notEqual(fresh, key);
  await sleep(1100);
  const tFresh = await tokenFor(b, fresh);
  assert.equal(tFresh.code, 0);
  assert.equal((await tokenFor(b, key)).code, 0, "the former key still works within its grace");
  assert.equal((await chats(b, t1.tenant_access_token)).status, 200, "and its gateway tokens");
  await sleep(1500);
  assert.notEqual((await tokenFor(b, key)).code, 0, "the former key is dead after its grace");
  assert.equal((await chats(b, t1.tenant_access_token)).status, 400, "its gateway tokens too");
  assert.equal((await chats(b, tFresh.tenant_access_token)).status, 200);

  // Revoked on a: refused on b within a second.
  const revoked = await admin(a, "keys/made-agent/revoke", "POST", {});
  assert.equal(revoked.status, 200);
  await sleep(1100);
  const refused = await chats(b, tFresh.tenant_access_token);
  assert.equal(refused.status, 400);
  assert.equal((await refused.json()).code, 99991663);
  assert.notEqual((await tokenFor(b, fresh)).code, 0);

  // A static AGENT_KEYS entry revoked the same way.
  const tStatic = (await tokenFor(b, statik.key)).tenant_access_token;
  assert.equal((await chats(b, tStatic)).status, 200);
  assert.equal((await admin(a, "keys/static-agent/revoke", "POST", {})).status, 200);
  await sleep(1100);
  assert.equal((await chats(b, tStatic)).status, 400);
  assert.deepEqual((await admin(a, "keys")).body.revoked, ["static-agent"]);

  // Every action has its audit line: the admin, the action, the key's id and
  // digest prefix; never a key, in the page's lines or the log.
  const audit = (await admin(b, "audit")).body;
  assert.deepEqual(audit.map((l) => l.action), ["key_created", "key_rotated", "key_revoked", "key_revoked"]);
  assert.ok(audit.every((l) => l.admin === "key" && l.event === "admin_action"));
  assert.equal(audit[1].key_sha256, rotated.body.key_sha256);
  const everything = JSON.stringify(audit) + w.logs.join("\n");
  for (const secret of [key, fresh, statik.key, ADMIN_KEY, SECRET]) assert.equal(everything.includes(secret), false);
  assert.ok(w.logs.some((l) => l.includes('"event":"admin_action"') && l.includes('"action":"key_created"')));
});

test("usage: each call counted per app, key and API across fronts, read back by an API key (everything) and an agent key (its own)", async () => {
  sb.reset();
  const w = await workers();
  const [a, b] = w.fronts;
  const made = (await admin(a, "keys", "POST", { id: "counted", app_id: APP, allow: [`GET ${CHATS}`, "GET /open-apis/im/v1/messages"] })).body;
  const token = (await tokenFor(a, made.key)).tenant_access_token;
  for (let i = 0; i < 6; i++) assert.equal((await chats(w.fronts[i % 2], token)).status, 200);
  assert.equal((await a.fetch("/open-apis/im/v1/messages/om_1", { headers: { authorization: `Bearer ${token}` } })).status < 500, true);
  await sleep(1600); // the isolates' batches go a second after their first count
  const all = await a.fetch("/v1/usage", { headers: { authorization: `Bearer ${API_KEY}` } });
  assert.equal(all.status, 200);
  const u = await all.json();
  assert.match(u.month, /^\d{4}-\d{2}$/);
  const app = u.apps[APP];
  assert.equal(app.keys.counted.calls, 7);
  assert.equal(app.apis[`GET ${CHATS}`].calls, 6);
  assert.equal(app.apis["GET /open-apis/im/v1/messages/{id}"].calls, 1, "the API is the route, ids replaced");
  assert.equal(app.total.calls, 7);
  const own = await (await b.fetch("/v1/usage", { headers: { authorization: `Bearer ${made.key}` } })).json();
  assert.deepEqual([own.key, own.app_id, own.usage.calls], ["counted", APP, 7]);
  assert.equal((await admin(b, "keys")).body.keys.find((k) => k.id === "counted").usage.calls, 7, "the key list shows it too");
  // No credential, a made-up one: nothing.
  for (const auth of [undefined, "Bearer nope", "Bearer ftt_ak_madeupmadeupmadeupmadeupmadeupmadeupmadeupm"]) {
    const r = await a.fetch("/v1/usage", { headers: auth ? { authorization: auth } : {} });
    assert.equal(r.status, 401, auth);
  }
});

test("the quota's guard: past QUOTA_AGENT_SHARE of MONTHLY_QUOTA agent keys get 429 QUOTA_RESERVED, nothing sent; services' own calls go on", async () => {
  sb.reset();
  const w = await workers({ vars: { MONTHLY_QUOTA: JSON.stringify({ [APP]: 10 }), QUOTA_AGENT_SHARE: "60" } });
  const [a] = w.fronts;
  const token = (await tokenFor(a, statik.key)).tenant_access_token;
  const statuses = [];
  for (let i = 0; i < 8; i++) statuses.push((await chats(a, token)).status);
  assert.deepEqual(statuses, [200, 200, 200, 200, 200, 200, 429, 429], "6 of 10 for agents");
  const refusal = await chats(a, token);
  const body = await refusal.json();
  assert.equal(body.error, "QUOTA_RESERVED");
  assert.match(body.msg, /MONTHLY_QUOTA 10/);
  assert.ok(Number(refusal.headers.get("retry-after")) > 0);
  // Services keep the rest: a call with the app's own token is not an agent's.
  const own = (await tokenFor(a, SECRET)).tenant_access_token;
  assert.equal((await chats(a, own)).status, 200);
  await sleep(1600);
  // The refused calls were not sent, so not counted: 6 of the quota's 10.
  const u = await (await a.fetch("/v1/usage", { headers: { authorization: `Bearer ${API_KEY}` } })).json();
  assert.deepEqual(u.quota[APP], { monthly_quota: 10, agent_share_pct: 60 });
  assert.equal(u.apps[APP].total.calls, 6);
});

test("the quota's 80 % and 95 % lines are logged once each by the app's month object", async () => {
  sb.reset();
  const w = await workers({ vars: { MONTHLY_QUOTA: JSON.stringify({ [APP]: 10 }), QUOTA_AGENT_SHARE: "100" } });
  const [a, b] = w.fronts;
  const token = (await tokenFor(a, statik.key)).tenant_access_token;
  for (let i = 0; i < 8; i++) await chats(w.fronts[i % 2], token);
  await sleep(1600);
  for (let i = 0; i < 2; i++) await chats(b, token);
  await sleep(1600);
  const lines = w.logs.filter((l) => l.includes('"event":"quota_warning"')).map((l) => JSON.parse(l.slice(l.indexOf("{"))));
  assert.deepEqual(lines.map((l) => l.percent), [80, 95], JSON.stringify(lines));
  assert.equal(lines[0].app, APP);
});

test("the admin surface refuses no key, a wrong key, another origin, and CSRF on every state-changing call; a revoked admin's session ends", async () => {
  sb.reset();
  // On the fronts' own sockets: Miniflare's entry refuses a foreign Origin
  // by itself, and the Worker's own refusal is what is tested here.
  const w = await workers({ vars: { USER_TOKEN_KEY, ADMINS: "ou_sandbox_alice" }, sockets: true });
  const own = w.fronts[0].url;
  const a = { fetch: (p, init) => fetch(`${own}${p}`, init) };
  const calls = [
    ["GET", "me"], ["GET", "keys"], ["POST", "keys"], ["POST", "keys/static-agent/rotate"], ["POST", "keys/static-agent/revoke"],
    ["DELETE", "keys/static-agent"], ["GET", "usage"], ["GET", "users"], ["POST", `users/${APP}/ou_sandbox_alice/sign-out`], ["GET", "audit"],
  ];
  const changes = calls.filter(([m]) => m !== "GET");
  const send = (method, path, headers) => a.fetch(`/admin/api/${path}`, { method, headers: { ...json, ...headers }, ...(method !== "GET" && { body: "{}" }) });
  for (const [method, path] of calls) {
    const none = await send(method, path, {});
    assert.equal(none.status, 401, `${method} ${path} without a key`);
    assert.equal((await none.json()).error, "ADMIN_UNAUTHORIZED");
    assert.equal((await send(method, path, { authorization: "Bearer wrong-admin-key-wrong-admin-key-xx" })).status, 401);
    const cross = await send(method, path, { authorization: `Bearer ${ADMIN_KEY}`, origin: "https://evil.example" });
    assert.equal(cross.status, 403, `${method} ${path} from another origin`);
    assert.equal((await cross.json()).error, "ADMIN_FORBIDDEN");
  }
  // The page's session: signed in with the admin key (a cookie).
  const wrong = await a.fetch("/admin/api/session", { method: "POST", headers: json, body: JSON.stringify({ admin_key: "not-it" }) });
  assert.equal(wrong.status, 401);
  const signIn = await a.fetch("/admin/api/session", { method: "POST", headers: json, body: JSON.stringify({ admin_key: ADMIN_KEY }) });
  assert.equal(signIn.status, 200);
  const setCookie = signIn.headers.get("set-cookie");
  assert.match(setCookie, /HttpOnly/);
  assert.match(setCookie, /SameSite=Strict/);
  assert.match(setCookie, /Path=\/admin/);
  const cookie = setCookie.split(";")[0];
  assert.equal((await send("GET", "me", { cookie })).status, 200, "reads need only the session");
  for (const [method, path] of changes) {
    // CSRF: another site's form or fetch carries the cookie but cannot set
    // the page's header, nor its Origin.
    for (const headers of [{ cookie }, { cookie, origin: own }, { cookie, "x-admin-request": "1", origin: "https://evil.example" }, { cookie, "x-admin-request": "1" }]) {
      const r = await send(method, path, headers);
      assert.equal(r.status, 403, `${method} ${path} ${JSON.stringify(headers)}`);
    }
  }
  const fromPage = await send("POST", "keys/static-agent/revoke", { cookie, "x-admin-request": "1", origin: own });
  assert.equal(fromPage.status, 200, "the page itself may");
  // A session of a Feishu sign-in (an ADMINS open_id): signed as the Worker signs it.
  const sessionKey = createHash("sha256").update("feishu-tenant-token/user-tokens/admin-session\0").update(Buffer.from(USER_TOKEN_KEY, "hex")).digest();
  const session = (who) => {
    const signed = `s1.${Buffer.from(who).toString("base64url")}.${Date.now() + 60_000}`;
    return `ftt_admin=${signed}.${createHmac("sha256", sessionKey).update(signed).digest("base64url")}`;
  };
  assert.equal((await send("GET", "me", { cookie: session("ou_sandbox_alice") })).status, 200);
  assert.equal((await send("GET", "me", { cookie: session("ou_sandbox_bob") })).status, 401, "not in ADMINS");
  const later = await workers({ vars: { USER_TOKEN_KEY, ADMINS: "ou_sandbox_bob", ADMIN_KEY: `${ADMIN_KEY}-rotated` } });
  const [c] = later.fronts;
  const again = (cookieValue) => c.fetch("/admin/api/me", { headers: { cookie: cookieValue } });
  assert.equal((await again(session("ou_sandbox_alice"))).status, 401, "an admin taken out of ADMINS is signed out");
  assert.equal((await again(cookie)).status, 401, "a session of the old ADMIN_KEY ends with it");
  assert.equal((await again(session("ou_sandbox_bob"))).status, 200);
});

test("an anonymous caller makes the Worker spend no object question: made-up keys, gateway tokens, admin keys and sessions", async () => {
  sb.reset();
  const w = await workers({ coordinator: "refuses" });
  const [a] = w.fronts;
  const before = await w.questions();
  const forged = `g1.${Buffer.from(JSON.stringify({ k: "x", a: APP, x: "t", e: Date.now() + 60_000, d: "A".repeat(43) })).toString("base64url")}.c2lnbmF0dXJl`;
  for (let i = 0; i < 5; i++) {
    assert.notEqual((await tokenFor(a, `ftt_ak_${"x".repeat(40)}${i}ab`)).code, 0);
    assert.equal((await chats(a, forged)).status, 400);
    assert.equal((await a.fetch("/admin/api/keys", { headers: { authorization: "Bearer nope" } })).status, 401);
    assert.equal((await a.fetch("/admin/api/session", { method: "POST", body: JSON.stringify({ admin_key: "nope" }) })).status, 401);
    assert.equal((await a.fetch("/admin/api/me", { headers: { cookie: "ftt_admin=s1.a2V5.99999999999999.AAAA" } })).status, 401);
    assert.equal((await a.fetch("/v1/usage", { headers: { authorization: `Bearer ftt_ak_${"y".repeat(43)}` } })).status, 401);
  }
  await sleep(1200);
  assert.equal(await w.questions(), before, "no object was asked");
});

test("the page is served with a CSP allowing only its own files; off without ADMIN_KEY or ADMINS", async () => {
  sb.reset();
  const w = await workers();
  const page = await w.fronts[0].fetch("/admin");
  assert.equal(page.status, 200);
  const csp = page.headers.get("content-security-policy");
  assert.match(csp, /default-src 'none'/);
  assert.match(csp, /script-src 'self'/);
  assert.match(csp, /frame-ancestors 'none'/);
  const html = await page.text();
  assert.doesNotMatch(html, /<script>|<script [^>]*>[^<]+<\/script>|https?:\/\//, "no inline or third-party script");
  assert.equal((await w.fronts[0].fetch("/admin/app.js")).headers.get("content-type"), "text/javascript; charset=utf-8");
  const off = await workers({ vars: { ADMIN_KEY: "" } });
  assert.equal((await off.fronts[0].fetch("/admin")).status, 404);
  assert.equal((await off.fronts[0].fetch("/admin/api/keys", { headers: asAdmin() })).status, 404);
});
