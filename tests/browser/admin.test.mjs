// The operator page (/admin) in Debian's Chromium against `make dev`'s
// Worker and sandbox (#36): sign in with the admin key, create an agent key,
// an official Node SDK (an ISV agent) calls with it, the call is counted on
// the page, the key is revoked there and the agent's next call refused;
// then "Sign in with Feishu" as an ADMINS user. Screenshots in
// test-output/screenshots/. Any console error (a CSP violation is one)
// fails the test.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { launchChromium, shots } from "./chromium.mjs";
import lark from "@larksuiteoapi/node-sdk";
import { startDev, DEV_MANAGED, DEV_OPERATORS } from "../../scripts/dev.mjs";
import { SANDBOX_TENANT } from "../../sandbox/sandbox.mjs";
import { sdkCall, silent } from "../worker/node-sdk.mjs";

const STORE_APP = DEV_MANAGED.FEISHU_APP_ID;
let dev;
let ctx;
let browser;

before(async () => {
  dev = await startDev({ sandboxPort: 0, demoPort: 0, worker: "miniflare" });
  browser = await launchChromium();
  ctx = browser.ctx;
});

after(async () => {
  await browser?.close();
  await dev?.close();
});

/** An ISV agent on the official SDK whose app secret is `key`. */
function agent(key) {
  const cache = new lark.DefaultCache();
  cache.set(lark.CAppTicket, "held-by-the-worker", undefined, { namespace: STORE_APP });
  const client = new lark.Client({ appId: STORE_APP, appSecret: key, appType: lark.AppType.ISV, domain: dev.workerUrl, cache, logger: silent });
  return () => sdkCall(client, { method: "GET", url: "/open-apis/im/v1/chats", params: { page_size: 5 } }, lark.withTenantKey(SANDBOX_TENANT));
}

test("the operator page: sign in, create a key, see its call counted, revoke it, the next call refused; no console error", async () => {
  const page = await ctx.newPage();
  await page.setViewportSize({ width: 1280, height: 1000 });
  const problems = [];
  page.on("console", (m) => m.type() === "error" && problems.push(m.text()));
  page.on("pageerror", (e) => problems.push(String(e)));
  page.on("dialog", (d) => d.accept());
  await page.goto(`${dev.workerUrl}/admin`);
  await page.waitForSelector("#sign-in:not([hidden])");
  await page.fill("#admin-key", "not-the-key");
  await page.click("#key-form button");
  await page.waitForFunction(() => document.getElementById("sign-in-error").textContent !== "");
  assert.match(await page.textContent("#sign-in-error"), /not the admin key/);
  problems.length = 0; // Chromium logs the refused sign-in's 401 itself.
  await page.fill("#admin-key", DEV_OPERATORS.ADMIN_KEY);
  await page.click("#key-form button");
  await page.waitForSelector("#signed-in:not([hidden])");
  assert.match(await page.textContent("#who"), /signed in: key/);
  const cookies = await ctx.cookies(`${dev.workerUrl}/admin/api/me`);
  const session = cookies.find((c) => c.name === "ftt_admin");
  assert.ok(session?.httpOnly && session.sameSite === "Strict", JSON.stringify(cookies));

  // Create a key for the store app.
  await page.fill('#create-form input[name="id"]', "page-agent");
  await page.selectOption('#create-form select[name="app_id"]', STORE_APP);
  await page.fill('#create-form input[name="per_minute"]', "30");
  await page.click("#create-form button");
  await page.waitForSelector("#new-key:not([hidden])");
  const key = (await page.textContent("#new-key-value")).trim();
  assert.match(key, /^ftt_ak_/);
  await page.waitForSelector('#keys tr[data-key="page-agent"]');

  // The agent calls with it, through the official SDK.
  const call = agent(key);
  const first = await call();
  assert.equal(first.code, 0, JSON.stringify(first));
  await new Promise((r) => setTimeout(r, 1600)); // counts go to their object within a second
  await page.reload();
  await page.waitForSelector('#keys tr[data-key="page-agent"]');
  const cells = await page.$$eval('#keys tr[data-key="page-agent"] td', (tds) => tds.map((td) => td.textContent));
  assert.equal(cells[5], "1", `the call counted: ${cells}`);
  assert.match(cells[4], /per_minute 30/);
  assert.match(await page.textContent("#chart-keys"), /page-agent \(cli_sandbox_app_one\)1 calls/);
  assert.match(await page.textContent("#quota"), /of 1000 calls this month/);
  await page.screenshot({ path: join(shots, "admin-usage-and-keys.png"), fullPage: true });

  // Revoked on the page: the agent's next call is refused.
  await page.click('#keys tr[data-key="page-agent"] button:text("Revoke")');
  await page.waitForFunction(() => !document.querySelector('#keys tr[data-key="page-agent"]'));
  await new Promise((r) => setTimeout(r, 1100));
  const after = await call();
  assert.notEqual(after.code, 0, "refused after the revocation");
  const audit = await page.textContent("#audit");
  assert.match(audit, /key key_created page-agent/);
  assert.match(audit, /key key_revoked page-agent/);
  assert.equal(audit.includes(key), false, "the audit lines never show a key");
  await page.locator("#audit").screenshot({ path: join(shots, "admin-audit.png") });
  assert.deepEqual(problems, []);
  await page.close();
});

test("Sign in with Feishu as an ADMINS user: the page opens for ou_sandbox_alice", async () => {
  const page = await ctx.newPage();
  await page.setViewportSize({ width: 1280, height: 900 });
  const problems = [];
  page.on("console", (m) => m.type() === "error" && problems.push(m.text()));
  await ctx.clearCookies();
  await page.goto(`${dev.workerUrl}/admin`);
  await page.waitForSelector("#sign-in:not([hidden])");
  problems.length = 0; // the page's first question (who am I?) is a 401 before signing in
  await page.click("text=Sign in with Feishu");
  await page.waitForSelector('button[value="ou_sandbox_alice"]');
  await page.click('button[value="ou_sandbox_alice"]');
  await page.waitForURL((u) => u.pathname === "/admin");
  await page.waitForSelector("#signed-in:not([hidden])");
  assert.match(await page.textContent("#who"), /signed in: ou_sandbox_alice/);
  // The sign-in is counted as a user seen, sent to the month's object within a second.
  await new Promise((r) => setTimeout(r, 1600));
  await page.reload();
  await page.waitForSelector("#users tbody tr");
  assert.match(await page.textContent("#users"), /ou_sandbox_alice/);
  await page.locator("#users").screenshot({ path: join(shots, "admin-users.png") });
  // Signing a user out from the page: their grant is gone (a service asking
  // for their token is told to sign in again), the action audited.
  const userToken = () =>
    fetch(`${dev.workerUrl}/v1/users/ou_sandbox_alice/user_access_token`, { headers: { authorization: `Bearer ${DEV_MANAGED.API_KEYS}` } });
  assert.equal((await userToken()).status, 200);
  await page.click('#users tr:has-text("ou_sandbox_alice") button:text("Sign out")');
  await page.waitForFunction(() => /user_signed_out/.test(document.getElementById("audit").textContent));
  assert.equal((await userToken()).status, 401, "signed out");
  assert.deepEqual(problems, []);
  await page.close();
});
