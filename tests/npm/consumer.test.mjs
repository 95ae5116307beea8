// The package as a user gets it: packed with `npm pack`, installed into a
// fresh project outside the repository, imported by name; and its types
// checked by a strict TypeScript consumer (which must also reject misuse).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { APP_ONE, SANDBOX_TENANT, startSandbox } from "./helpers.mjs";
import { packedProject, repo, run } from "./packed.mjs";

const tsc = join(repo, "node_modules/.bin/tsc");
let dir;
let project;
let sb;

before(async () => {
  sb = await startSandbox();
  project = await packedProject("consumer");
  dir = project.dir;
});

after(async () => {
  await sb?.close();
  await project?.remove();
});

test("a fresh Node project imports the package by name and gets a token", async () => {
  const app = `
    import { TenantTokenClient, getTenantAccessToken } from "feishu-tenant-token";
    const client = new TenantTokenClient({ baseUrl: process.argv[2] });
    const req = { appAccessToken: ${JSON.stringify(APP_ONE)}, tenantKey: ${JSON.stringify(SANDBOX_TENANT)} };
    const a = await client.get(req);
    const b = await client.get(req);
    const c = await getTenantAccessToken(req, { baseUrl: process.argv[2] });
    console.log(JSON.stringify({ token: a.tenantAccessToken, same: a.tenantAccessToken === b.tenantAccessToken && b.tenantAccessToken === c.tenantAccessToken, stats: client.stats() }));
  `;
  await writeFile(join(dir, "app.mjs"), app);
  const { stdout } = await run(process.execPath, ["app.mjs", sb.url], { cwd: dir });
  const out = JSON.parse(stdout);
  assert.match(out.token, /^t-[0-9a-f]{40}$/);
  assert.equal(out.same, true);
  assert.deepEqual(out.stats, { hits: 1, misses: 1, upstreamCalls: 1, coalescedWaits: 0, staleServed: 0, recoveries: 0 });
  assert.equal(sb.stats().tenantTokenCalls, 2);
});

const tsconfig = {
  compilerOptions: {
    strict: true,
    noEmit: true,
    target: "ES2022",
    module: "NodeNext",
    moduleResolution: "NodeNext",
    lib: ["ES2022", "DOM"],
    skipLibCheck: false,
    noUncheckedIndexedAccess: true,
    exactOptionalPropertyTypes: true,
  },
  files: ["consumer.ts"],
};

async function typecheck(source) {
  await writeFile(join(dir, "tsconfig.json"), JSON.stringify(tsconfig));
  await writeFile(join(dir, "consumer.ts"), source);
  try {
    await run(tsc, ["-p", dir]);
    return "";
  } catch (e) {
    return e.stdout || e.stderr || String(e);
  }
}

test("a strict TypeScript consumer type-checks", async () => {
  const errors = await typecheck(`
    import { SelfBuiltAppClient, TenantTokenClient, getTenantAccessToken } from "feishu-tenant-token";
    import type { ClientOptions, ClientStats, FeishuTokenError, FeishuTokenErrorCode, SelfBuiltAppClientOptions, TenantToken } from "feishu-tenant-token";
    const selfBuiltOptions: SelfBuiltAppClientOptions = { appId: "cli_a", appSecret: "s", retries: 1 };
    const selfBuilt = new SelfBuiltAppClient(selfBuiltOptions);
    const options: ClientOptions = { baseUrl: "https://open.larksuite.com", timeoutMs: 5000, minValiditySecs: 1800, fetch: globalThis.fetch };
    const client = new TenantTokenClient(options);
    const noOptions = new TenantTokenClient();
    export async function main(): Promise<number> {
      const t: TenantToken = await client.get({ appAccessToken: "a-1", tenantKey: "t" });
      const s: string = t.tenantAccessToken;
      const n: number = t.expire + t.expiresAt;
      const once: TenantToken = await getTenantAccessToken({ appAccessToken: "a", tenantKey: "t" });
      const stats: ClientStats = noOptions.stats();
      const dropped: number = client.invalidate("t") + client.invalidate("t", "t-old");
      const own: TenantToken = await selfBuilt.tenantToken();
      const gone: number = selfBuilt.invalidate(own.tenantAccessToken) + selfBuilt.invalidate();
      const ownStats: ClientStats = selfBuilt.stats();
      const res: Response = await selfBuilt.fetch("/open-apis/im/v1/messages?receive_id_type=chat_id", { method: "POST", body: "{}" });
      const res2: Response = await client.fetch({ appAccessToken: "a", tenantKey: "t" }, new URL("https://open.feishu.cn/open-apis/x"));
      const recovered: number = ownStats.recoveries + res.status + res2.status;
      try { await client.get({ appAccessToken: "a", tenantKey: "t" }); } catch (e) {
        const err = e as FeishuTokenError;
        const code: FeishuTokenErrorCode = err.code;
        const retry: number | undefined = err.retryAfterSecs;
        if (code === "RATE_LIMITED" && retry !== undefined) return retry;
      }
      return s.length + n + once.expire + stats.hits + dropped + gone + ownStats.misses + recovered;
    }
  `);
  assert.equal(errors, "");
});

test("the types reject misuse (they are precise, not any)", async () => {
  const cases = [
    `await client.get({ appAccessToken: "a" });`,
    `await client.get({ appAccessToken: 1, tenantKey: "t" });`,
    `const x: number = (await client.get({ appAccessToken: "a", tenantKey: "t" })).tenantAccessToken;`,
    `new TenantTokenClient({ baseURL: "https://x" });`,
    `new TenantTokenClient({ timeoutMs: "10" });`,
    `const c: "NOPE" = (null as unknown as FeishuTokenError).code;`,
    `const h: string = client.stats().hits;`,
    `await getTenantAccessToken("a-1");`,
    `new SelfBuiltAppClient({ appId: "cli_a" });`,
    `const t: number = (await new SelfBuiltAppClient({ appId: "a", appSecret: "s" }).tenantToken()).tenantAccessToken;`,
    `client.invalidate("t", 5);`,
    `await client.fetch("/open-apis/x");`,
    `const r: string = await new SelfBuiltAppClient({ appId: "a", appSecret: "s" }).fetch("/x");`,
  ];
  const header = [
    `import { SelfBuiltAppClient, TenantTokenClient, getTenantAccessToken } from "feishu-tenant-token";`,
    `import type { FeishuTokenError } from "feishu-tenant-token";`,
    `const client = new TenantTokenClient();`,
  ];
  // One case per line, so each error points at its case.
  const lines = cases.map((c, i) => `export async function case${i}() { ${c} }`);
  const errors = await typecheck([...header, ...lines].join("\n"));
  for (const [i, c] of cases.entries()) {
    const line = header.length + i + 1;
    assert.match(errors, new RegExp(`consumer\\.ts\\(${line},\\d+\\): error TS`), `tsc accepted: ${c}\n${errors}`);
  }
  const stray = errors.split("\n").filter((l) => /error TS/.test(l) && !/consumer\.ts\((\d+)/.test(l));
  assert.deepEqual(stray, [], "errors outside the cases");
});
