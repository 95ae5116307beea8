// The packed package as consumers and registries see it: publint and
// arethetypeswrong report nothing, and `npm pack` ships only what a user needs.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const run = promisify(execFile);
const root = fileURLToPath(new URL("../..", import.meta.url));
const pkg = join(root, "pkg");
const bin = (n) => join(root, "node_modules/.bin", n);

test("publint (strict) finds nothing", async () => {
  const { stdout } = await run(bin("publint"), ["--strict", pkg]);
  assert.doesNotMatch(stdout, /Errors:|Warnings:|Suggestions:/, stdout);
});

test("arethetypeswrong finds no problem for an ESM-only package", async () => {
  // esm-only: `require()` of an ESM package is the one expected limitation.
  const { stdout } = await run(bin("attw"), ["--pack", pkg, "--profile", "esm-only", "--format", "json"], { maxBuffer: 16 << 20 });
  const report = JSON.parse(stdout);
  const problems = (report.analysis?.problems ?? []).filter((p) => p.resolutionKind !== "node16-cjs" && p.resolutionKind !== "node10");
  assert.deepEqual(problems, [], JSON.stringify(problems, null, 2));
});

test("npm pack ships only the runtime files, and says how big they are", async () => {
  const { stdout } = await run("npm", ["pack", "--dry-run", "--json", pkg]);
  const [info] = JSON.parse(stdout);
  const files = info.files.map((f) => f.path).sort();
  // wasm-bindgen names the folder of the crate's JS snippets after a hash of
  // the crate: the cache hit's (npm/src/fast_path.rs) and `fetch`'s copy of
  // `init` (npm/src/api_fetch.rs), one file each.
  const snippets = files.filter((f) => f.startsWith("snippets/"));
  assert.equal(snippets.length, 2, String(snippets));
  for (const s of snippets) assert.match(s, /^snippets\/feishu-tenant-token-npm-[0-9a-f]{16}\/inline[01]\.js$/);
  assert.deepEqual(files.filter((f) => !f.startsWith("snippets/")), [
    "README.md",
    "embedded.js",
    "feishu_tenant_token.d.ts",
    "feishu_tenant_token.js",
    "feishu_tenant_token_bg.wasm",
    "index.d.ts",
    "node.js",
    "package.json",
    "store-app.d.ts",
    "store-app.embedded.js",
    "store-app.node.js",
    "store-app.web.js",
    "store-app.workerd.js",
    "store_app.d.ts",
    "store_app.js",
    "store_app_bg.wasm",
    "user-tokens.d.ts",
    "user-tokens.embedded.js",
    "user-tokens.node.js",
    "user-tokens.web.js",
    "user-tokens.workerd.js",
    "user_tokens.d.ts",
    "user_tokens.js",
    "user_tokens_bg.wasm",
    "web.js",
    "workerd.js",
  ]);
  console.log(`packed: ${info.filename}, ${info.size} bytes packed, ${info.unpackedSize} unpacked, ${files.length} files`);
});
