// Bundled deployments in Node (Lambda, Vercel / Netlify functions, ncc): a
// script importing the package, bundled with esbuild --platform=node, run
// from another folder. The `/embedded` entries carry their .wasm inside the
// JS, so nothing needs copying; the default entry reads its .wasm beside it.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { copyFile, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SANDBOX_APPS, SANDBOX_TENANT, startSandbox } from "./helpers.mjs";
import { packedProject, repo, run } from "../packed.mjs";

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

test("the default entry, bundled and moved without its .wasm, fails to load: the reason /embedded exists", async () => {
  await assert.rejects(
    bundleAndRun("plain", `import { TenantTokenClient } from "feishu-tenant-token"; console.log(JSON.stringify({ ok: typeof TenantTokenClient }));`),
    (e) => /ENOENT/.test(String(e.stderr ?? e)),
  );
});
