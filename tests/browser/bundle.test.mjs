// A browser bundle: webpack packs a page script importing
// feishu-tenant-token/embedded; the bundle alone, served from another
// folder, gets a token from the sandbox in Debian's Chromium.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { copyFile, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import webpack from "webpack";
import { chromium } from "playwright-core";
import { startSandbox, SANDBOX_APPS, SANDBOX_TENANT } from "../../sandbox/sandbox.mjs";
import { packedProject } from "../npm/packed.mjs";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
let sb;
let project;
let site;
let server;
let ctx;
let profile;

before(async () => {
  sb = await startSandbox({ quiet: true });
  project = await packedProject("bundle-web");
  site = await mkdtemp(join(tmpdir(), "ftt-bundle-site-"));
  profile = await mkdtemp(join(tmpdir(), "ftt-bundle-chromium-"));
});
after(async () => {
  await ctx?.close();
  await new Promise((r) => (server ? server.close(r) : r()));
  await sb?.close();
  await project?.remove();
  for (const d of [site, profile]) if (d) await rm(d, { recursive: true, force: true });
});

function pack(entry, outDir) {
  return new Promise((resolve, reject) => {
    webpack(
      { mode: "production", target: "web", entry, output: { path: outDir, filename: "bundle.js" }, performance: { hints: false } },
      (err, stats) => (err || stats.hasErrors() ? reject(err ?? new Error(stats.toString("errors-only"))) : resolve(stats)),
    );
  });
}

test("webpack bundle of feishu-tenant-token/embedded gets a token in Chromium", async () => {
  await writeFile(
    join(project.dir, "page.mjs"),
    `import { TenantTokenClient } from "feishu-tenant-token/embedded";
     const baseUrl = decodeURIComponent(location.hash.slice(1));
     new TenantTokenClient({ baseUrl })
       .get({ appAccessToken: ${JSON.stringify(SANDBOX_APPS.cli_sandbox_app_one.appAccessToken)}, tenantKey: ${JSON.stringify(SANDBOX_TENANT)} })
       .then((t) => { document.body.dataset.token = t.tenantAccessToken; }, (e) => { document.body.dataset.error = e.code ?? String(e); });`,
  );
  const out = join(project.dir, "dist");
  await pack(join(project.dir, "page.mjs"), out);
  // Only the bundle is served: no .wasm beside it.
  await copyFile(join(out, "bundle.js"), join(site, "bundle.js"));
  await writeFile(join(site, "index.html"), '<!doctype html><meta charset="utf-8"><body><script src="bundle.js"></script></body>');
  server = http.createServer(async (req, res) => {
    const name = req.url.startsWith("/bundle.js") ? "bundle.js" : req.url === "/" ? "index.html" : null;
    if (!name) return res.writeHead(404).end();
    res.writeHead(200, { "content-type": name.endsWith(".js") ? "text/javascript" : "text/html" });
    res.end(await readFile(join(site, name)));
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  ctx = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    timeout: 30_000,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const page = await ctx.newPage();
  const problems = [];
  page.on("pageerror", (e) => problems.push(String(e)));
  await page.goto(`http://127.0.0.1:${server.address().port}/#${encodeURIComponent(sb.url)}`);
  await page.waitForFunction(() => document.body.dataset.token || document.body.dataset.error, null, { timeout: 15_000 });
  assert.equal(await page.evaluate(() => document.body.dataset.error ?? null), null);
  assert.match(await page.evaluate(() => document.body.dataset.token), /^t-[0-9a-f]{40}$/);
  assert.deepEqual(problems, []);
});
