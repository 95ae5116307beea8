// The demo page in Debian's Chromium (playwright-core; never a downloaded
// browser): the npm package's browser build, fetching through the built
// Worker (workerd via Miniflare, so Node >= 22) and straight from the sandbox.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { launchChromium, shots } from "./chromium.mjs";
import { startDev } from "../../scripts/dev.mjs";

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

/** Opens the page; `problems` collects console errors and uncaught exceptions. */
async function openPage(viewport) {
  const page = await ctx.newPage();
  await page.setViewportSize(viewport);
  const problems = [];
  page.on("console", (m) => m.type() === "error" && problems.push(m.text()));
  page.on("pageerror", (e) => problems.push(String(e)));
  await page.goto(dev.url);
  await page.waitForFunction(() => document.getElementById("appAccessToken").value !== "");
  return { page, problems };
}

async function fetchToken(page) {
  const before = await page.evaluate(() => document.getElementById("latency").textContent);
  await page.click("#fetch");
  await page.waitForFunction(
    (prev) => !document.getElementById("result").hidden && document.getElementById("latency").textContent !== prev,
    before,
  );
  return page.textContent("#source");
}

test("through the Worker: MISS, then the Worker's HIT on the second click; no console errors", async () => {
  const { page, problems } = await openPage({ width: 1280, height: 900 });
  dev.sandbox.reset();
  assert.equal(await page.isChecked('input[value="worker"]'), true, "the Worker is the default target");
  assert.equal(await page.isVisible("#customUrl"), false, "no custom URL field unless chosen");
  await page.check('input[value="custom"]');
  assert.equal(await page.isVisible("#customUrl"), true);
  await page.check('input[value="worker"]');
  // make dev binds the coordinator (user tokens need it): a miss is fetched by the key's object.
  assert.equal(await fetchToken(page), "Worker · MISS (coordinator)");
  assert.match(await page.textContent("#token"), /^t-.{4}•+.{4}$/, "masked by default");
  await page.click("#reveal");
  assert.match(await page.textContent("#token"), /^t-[0-9a-f]{40}$/);
  assert.equal(await fetchToken(page), "Worker · HIT (memory)");
  assert.equal(dev.sandbox.stats().tenantTokenCalls, 1);
  assert.match(await page.textContent("#next"), /returns a new token/);
  assert.ok(await page.isVisible(".timeline .window"), "the rotation window is drawn");
  await page.screenshot({ path: join(shots, "demo-desktop.png"), fullPage: true });
  assert.deepEqual(problems, []);
  await page.close();
});

test("straight from the sandbox: Feishu, then the module's own cache", async () => {
  const { page, problems } = await openPage({ width: 1280, height: 900 });
  dev.sandbox.reset();
  await page.check('input[value="sandbox"]');
  assert.equal(await fetchToken(page), "Feishu (MISS)");
  assert.equal(await fetchToken(page), "module cache (HIT)");
  assert.equal(dev.sandbox.stats().tenantTokenCalls, 1);
  assert.deepEqual(problems, []);
  await page.close();
});

test("the countdown moves", async () => {
  const { page } = await openPage({ width: 1280, height: 900 });
  await fetchToken(page);
  const first = await page.textContent("#expire");
  await page.waitForFunction((t) => document.getElementById("expire").textContent !== t, first, { timeout: 3000 });
  assert.match(await page.textContent("#expire"), /^1[01]\d min \d\d s$/);
  await page.close();
});

test("a rejected token shows its stable code, Feishu's code and message, on a phone-sized screen", async () => {
  const { page, problems } = await openPage({ width: 390, height: 844 });
  await page.fill("#appAccessToken", "a-rejected-token");
  await page.click("#fetch");
  await page.waitForSelector("#error:not([hidden])");
  assert.equal(await page.textContent("#errorCode"), "FEISHU_API_ERROR");
  assert.equal(await page.textContent("#errorFeishu"), "Feishu 99991664");
  assert.equal(await page.textContent("#errorMsg"), "invalid app access token");
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
  assert.equal(overflow, false, "no horizontal scrolling at 390 px");
  await page.fill("#appAccessToken", "a-sandbox-app-one");
  await fetchToken(page);
  await page.screenshot({ path: join(shots, "demo-mobile.png"), fullPage: true });
  // Chromium logs the 400 itself; anything else would be the page's fault.
  assert.deepEqual(problems.filter((p) => !/status of 400/.test(p)), []);
  await page.close();
});

test("self-built app: a stampede of 200 makes one token call; a revoked token is recovered by fetch, step by step", async () => {
  const { page, problems } = await openPage({ width: 1280, height: 900 });
  dev.sandbox.reset();
  await page.waitForSelector("#selfBuilt:not([hidden])");
  await page.click("#stampede");
  await page.waitForFunction(() => /upstream token call/.test(document.getElementById("steps").textContent));
  assert.match(await page.textContent("#steps"), /200 concurrent tenantToken\(\) calls on an empty cache: 1 upstream token call, 1 token for all/);
  assert.equal(dev.sandbox.stats().internalTenantTokenCalls, 1);
  assert.match(await page.textContent("#sbStats"), /199 coalesced waits/);
  await page.click("#revokeCall");
  await page.waitForFunction(() => /replays the request once/.test(document.getElementById("steps").textContent));
  const steps = await page.$$eval("#steps li", (lis) => lis.map((li) => li.textContent));
  assert.equal(steps.length, 5, steps.join("\n"));
  assert.match(steps[2], /HTTP 400, code 99991663/);
  assert.match(steps[3], /drops exactly that token and gets a new one: t-/);
  assert.match(steps[4], /replays the request once: HTTP 200, code 0/);
  assert.match(await page.textContent("#sbStats"), /1 recoveries/);
  const calls = dev.sandbox.stats().apiCalls;
  assert.equal(calls.length, 2);
  assert.notEqual(calls[0].token, calls[1].token, "the replay carried the new token");
  await page.locator("#selfBuilt").screenshot({ path: join(shots, "demo-self-built.png") });
  // Chromium logs the refused call's 400 itself; anything else would be the page's fault.
  assert.deepEqual(problems.filter((p) => !/status of 400/.test(p)), []);
  await page.close();
});

test("Sign in with Feishu (sandbox): the browser signs in through the Worker; 50 callers after expiry make one refresh", async () => {
  const { page, problems } = await openPage({ width: 1280, height: 900 });
  dev.sandbox.reset();
  await page.waitForSelector("#users:not([hidden])");
  assert.equal(await page.isDisabled("#userCallers"), true, "nothing to do before signing in");
  await page.click("#signIn");
  // The sandbox's sign-in page (Feishu's accounts page in production).
  await page.waitForSelector('button[value="ou_sandbox_alice"]');
  assert.match(await page.textContent("h1"), /Sign in to cli_sandbox_app_one/);
  await page.click('button[value="ou_sandbox_alice"]');
  // Back on the demo page, through the Worker's callback.
  await page.waitForURL((u) => u.searchParams.get("signed_in") === "ou_sandbox_alice");
  assert.equal(new URL(page.url()).origin, new URL(dev.url).origin, "returned to the demo page");
  await page.waitForSelector("#userCallers:not([disabled])");
  assert.match(await page.textContent("#userWho"), /Signed in as ou_sandbox_alice/);
  assert.equal(dev.sandbox.stats().oauth.codeCalls, 1);
  await page.click("#userToken");
  await page.waitForFunction(() => /s left/.test(document.getElementById("userSteps").textContent));
  assert.match(await page.textContent("#userSteps"), /u-.{4}•+.{4}, \d+ s left/);
  await page.click("#userCallers");
  await page.waitForFunction(() => /token now/.test(document.getElementById("userSteps").textContent), null, { timeout: 20_000 });
  const steps = await page.$$eval("#userSteps li", (lis) => lis.map((li) => [li.textContent, li.className]));
  assert.match(steps[2][0], /50 API calls at once with X-User-Id: 50 answered code 0/);
  assert.match(steps[3][0], /Refreshes Feishu saw: 1 /);
  assert.ok(steps.every(([, kind]) => kind !== "bad"), steps.map(([t]) => t).join("\n"));
  const o = dev.sandbox.stats().oauth;
  assert.equal(o.refreshCalls, 1);
  assert.equal(o.refreshTokensSentTwice, 0);
  // The sign-in cookie was HttpOnly and is gone after the callback.
  const cookies = await ctx.cookies();
  assert.ok(!cookies.some((c) => c.name === "ftt_sign_in" && c.value), JSON.stringify(cookies));
  await page.locator("#users").screenshot({ path: join(shots, "demo-sign-in.png") });
  // Chromium logs the sandbox's 99991677 answers (400) itself.
  assert.deepEqual(problems.filter((p) => !/status of 400/.test(p)), []);
  await page.close();
});
