// The demo page in Debian's Chromium (playwright-core; never a downloaded
// browser): the npm package's browser build fetching from the sandbox.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { startDev } from "../../scripts/dev.mjs";

const shots = fileURLToPath(new URL("../../test-output/screenshots/", import.meta.url));
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
let dev;
let ctx;
let profile;

before(async () => {
  dev = await startDev({ sandboxPort: 0, demoPort: 0 });
  profile = await mkdtemp(join(tmpdir(), "ftt-chromium-"));
  ctx = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    timeout: 30_000,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  await mkdir(shots, { recursive: true });
});

after(async () => {
  await ctx?.close();
  await dev?.close();
  if (profile) await rm(profile, { recursive: true, force: true });
});

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

test("the page fetches a token (MISS), then serves it from the module cache (HIT)", async () => {
  const { page, problems } = await openPage({ width: 1280, height: 800 });
  dev.sandbox.reset();
  await page.click("#fetch");
  await page.waitForSelector("#result:not([hidden])");
  assert.equal(await page.textContent("#source"), "Feishu (MISS)");
  const masked = await page.textContent("#token");
  assert.match(masked, /^t-.{4}•+.{4}$/);
  await page.click("#reveal");
  assert.match(await page.textContent("#token"), /^t-[0-9a-f]{40}$/);
  await page.click("#fetch");
  await page.waitForFunction(() => document.getElementById("source").textContent.includes("HIT"));
  assert.equal(dev.sandbox.stats().tenantTokenCalls, 1);
  await page.screenshot({ path: join(shots, "demo-desktop.png"), fullPage: true });
  assert.deepEqual(problems, []);
  await page.close();
});

test("an upstream error shows its stable code, on a phone-sized screen", async () => {
  const { page, problems } = await openPage({ width: 390, height: 844 });
  await page.fill("#tenantKey", "fault-429");
  await page.click("#fetch");
  await page.waitForSelector("#error:not([hidden])");
  assert.match(await page.textContent("#error"), /RATE_LIMITED · Feishu 99991400/);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
  assert.equal(overflow, false, "no horizontal scrolling at 390 px");
  await page.screenshot({ path: join(shots, "demo-mobile.png"), fullPage: true });
  // Chromium logs the 429 itself; anything else would be the page's fault.
  assert.deepEqual(problems.filter((p) => !/status of 429/.test(p)), []);
  await page.close();
});
