// Bundled deployments in Node (Lambda, Vercel / Netlify functions, ncc): a
// script importing the package, bundled with esbuild --platform=node, run
// from another folder. The `/embedded` entries carry their .wasm inside the
// JS, so nothing needs copying; the default entries read their .wasm beside
// them, and say so when it is missing.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { copyFile, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { SANDBOX_APPS, SANDBOX_TENANT, startSandbox } from "./helpers.mjs";
import { packedProject, repo, run } from "./packed.mjs";

const esbuild = join(repo, "node_modules/.bin/esbuild");
let project;
let elsewhere;
let sb;

before(async () => {
  sb = await startSandbox({ quiet: true });
  project = await packedProject("bundle-node");
  elsewhere = await mkdtemp(join(tmpdir(), "ftt-bundle-run-"));
});
after(async () => {
  await sb?.close();
  await project?.remove();
  if (elsewhere) await rm(elsewhere, { recursive: true, force: true });
});

/** Bundles `source` as main.mjs, moves the bundle alone to another folder, runs it. */
async function bundleAndRun(name, source) {
  await writeFile(join(project.dir, `${name}.mjs`), source);
  const out = join(project.dir, `${name}.bundle.mjs`);
  await run(esbuild, [`${name}.mjs`, "--bundle", "--platform=node", "--format=esm", `--outfile=${out}`, "--log-level=warning"], { cwd: project.dir });
  const moved = join(elsewhere, `${name}.bundle.mjs`);
  await copyFile(out, moved);
  const { stdout } = await run(process.execPath, [moved, sb.url], { cwd: elsewhere });
  return JSON.parse(stdout);
}

test("feishu-tenant-token/embedded, bundled and moved, gets tokens from the sandbox", async () => {
  const out = await bundleAndRun(
    "main",
    `import { TenantTokenClient, SelfBuiltAppClient } from "feishu-tenant-token/embedded";
     const baseUrl = process.argv[2];
     const t = await new TenantTokenClient({ baseUrl }).get({ appAccessToken: ${JSON.stringify(SANDBOX_APPS.cli_sandbox_app_one.appAccessToken)}, tenantKey: ${JSON.stringify(SANDBOX_TENANT)} });
     const s = await new SelfBuiltAppClient({ appId: "cli_sandbox_internal_one", appSecret: "sandbox-internal-secret-one", baseUrl }).tenantToken();
     console.log(JSON.stringify({ tenant: t.tenantAccessToken, selfBuilt: s.tenantAccessToken }));`,
  );
  assert.match(out.tenant, /^t-[0-9a-f]{40}$/);
  assert.match(out.selfBuilt, /^t-[0-9a-f]{40}$/);
});

test("feishu-tenant-token/store-app/embedded, bundled and moved, trades a ticket for an app token", async () => {
  const ticket = await fetch(`${sb.url}/__sandbox/ticket`).then((r) => r.json());
  const out = await bundleAndRun(
    "store",
    `import { getAppAccessToken } from "feishu-tenant-token/store-app/embedded";
     const t = await getAppAccessToken({ appId: "cli_sandbox_app_one", appSecret: ${JSON.stringify(SANDBOX_APPS.cli_sandbox_app_one.appSecret)}, appTicket: ${JSON.stringify(ticket.cli_sandbox_app_one)} }, { baseUrl: process.argv[2] });
     console.log(JSON.stringify({ app: t.appAccessToken }));`,
  );
  assert.match(out.app, /^a-/);
});

// The file-based entries, bundled and moved without their .wasm: the error
// names the fix (the `/embedded` entry, or the .wasm copied beside the bundle)
// and keeps the file system's error as its cause.
for (const [i, entry, embedded, wasm] of [
  [0, "feishu-tenant-token", "feishu-tenant-token/embedded", "feishu_tenant_token_bg.wasm"],
  [1, "feishu-tenant-token/store-app", "feishu-tenant-token/store-app/embedded", "store_app_bg.wasm"],
]) {
  test(`${entry}, bundled and moved without its .wasm, fails at start naming ${embedded}`, async () => {
    // Imported as an app would: the process dies at start.
    await assert.rejects(
      bundleAndRun(`plain-${i}`, `import * as m from ${JSON.stringify(entry)}; console.log(JSON.stringify({ loaded: Object.keys(m) }));`),
      (e) => {
        const stderr = String(e.stderr ?? e);
        assert.ok(stderr.includes(`import "${embedded}" instead`), stderr);
        assert.ok(stderr.includes(`copy node_modules/feishu-tenant-token/${wasm} beside the bundle`), stderr);
        assert.match(stderr, /\[cause\]: Error: ENOENT/, stderr);
        return true;
      },
    );
    // Caught: the message, and the original error as `cause`.
    const out = await bundleAndRun(
      `caught-${i}`,
      `try {
         await import(${JSON.stringify(entry)});
         console.log(JSON.stringify({ loaded: true }));
       } catch (e) {
         console.log(JSON.stringify({ message: e.message, code: e.cause?.code, path: e.cause?.path }));
       }`,
    );
    assert.equal(out.loaded, undefined, "loaded without its .wasm");
    assert.ok(out.message.includes(`import "${embedded}" instead`), out.message);
    assert.ok(out.message.includes(wasm), out.message);
    assert.equal(out.code, "ENOENT");
    // Looked for beside the bundle (compared by name: the temp folder may be reached through a link).
    assert.equal(basename(out.path), wasm);
    assert.equal(basename(dirname(out.path)), basename(elsewhere));
  });
}
