// The official SDKs, unchanged but for their domain, through the built
// Worker (workerd via Miniflare, on a loopback port) against the sandbox:
// the Node SDK (@larksuiteoapi/node-sdk) and the Python SDK (lark-oapi, run
// from the project's virtualenv .tools/py, see scripts/setup.sh), for
// self-built and store (ISV) apps. Several fresh SDK instances make one
// upstream token call between them; after Feishu stops accepting a token,
// the first instance that uses it sees the refusal and every instance after
// it works with a new one.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { existsSync } from "node:fs";
import lark from "@larksuiteoapi/node-sdk";
import { startSandbox, SANDBOX_APPS, SANDBOX_SELF_BUILT_APPS, SANDBOX_TENANT, downloadByte } from "../../sandbox/sandbox.mjs";
import { startBuiltWorker } from "./built-worker.mjs";
import { sdkCall, sendMessage as sendMessageAs, silent } from "./node-sdk.mjs";

const root = fileURLToPath(new URL("../../", import.meta.url));
const PYTHON = `${root}.tools/py/bin/python`;
const PY_CLIENT = `${root}tests/sdk/lark_client.py`;
const SELF_ID = "cli_sandbox_internal_one";
const SELF_SECRET = SANDBOX_SELF_BUILT_APPS[SELF_ID].appSecret;
const STORE_ID = "cli_sandbox_app_one";
const STORE_SECRET = SANDBOX_APPS[STORE_ID].appSecret;
const APP_TOKEN = "/open-apis/auth/v3/app_access_token";
const TENANT_TOKEN = "/open-apis/auth/v3/tenant_access_token";
const MESSAGE = { receive_id: "oc_sdk", msg_type: "text", content: JSON.stringify({ text: "hello" }) };

let sb;
const workers = [];

before(async () => {
  sb = await startSandbox({ quiet: true });
});
after(async () => {
  for (const w of workers) await w.mf.dispose().catch(() => {});
  await sb?.close();
});

async function worker(vars = {}) {
  const w = await startBuiltWorker({
    vars: { FEISHU_BASE_URL: sb.url, UPSTREAM_TIMEOUT_MS: "2000", UPSTREAM_DEADLINE_MS: "2000", LOG_REQUESTS: "false", ...vars },
    onLog: () => {},
  });
  workers.push(w);
  return w;
}

/** A Worker in managed mode for the store app, its ticket already received. */
async function managedWorker() {
  const w = await worker({ FEISHU_APP_ID: STORE_ID, FEISHU_APP_SECRET: STORE_SECRET, FEISHU_VERIFICATION_TOKEN: "vt", API_KEYS: "k-unused-3a7c1e9d5b2f8064aa11bb22" });
  await (await w.mf.getKVNamespace("TOKENS")).put(`ticket:v1:${STORE_ID}`, await currentTicket());
  return w;
}

const currentTicket = async () => (await (await fetch(`${sb.url}/__sandbox/ticket`)).json())[STORE_ID];
const revoke = (token) => fetch(`${sb.url}/__sandbox/token/revoke`, { method: "POST", body: JSON.stringify({ token }) });
const upstream = (p) => sb.stats().requests[p] ?? 0;
const lastToken = () => sb.stats().apiCalls.at(-1)?.token;


/**
 * A fresh Node SDK instance (its own cache: the SDK's default one is shared
 * by every client of the process). `ticket` seeds a store app's app_ticket
 * the way the SDK's event dispatcher would.
 */
async function nodeSdk(w, { isv = false, ticket } = {}) {
  const cache = new lark.DefaultCache();
  if (ticket) await cache.set(lark.CAppTicket, ticket, undefined, { namespace: STORE_ID });
  return new lark.Client({
    appId: isv ? STORE_ID : SELF_ID,
    appSecret: isv ? STORE_SECRET : SELF_SECRET,
    appType: isv ? lark.AppType.ISV : lark.AppType.SelfBuild,
    domain: w.url,
    cache,
    logger: silent,
  });
}

const sendMessage = (client, options) => sendMessageAs(client, MESSAGE, options);

/** One fresh Python SDK instance (a process) making `calls`; resolves to one answer per call. */
function pythonSdk(w, calls, { isv = false } = {}) {
  const cfg = {
    base_url: w.url,
    app_id: isv ? STORE_ID : SELF_ID,
    app_secret: isv ? STORE_SECRET : SELF_SECRET,
    mode: isv ? "isv" : "self_built",
    tenant_key: SANDBOX_TENANT,
    calls,
  };
  return new Promise((resolve, reject) => {
    execFile(PYTHON, [PY_CLIENT, JSON.stringify(cfg)], { timeout: 30_000 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`lark-oapi run failed: ${err.message}\n${stderr}`));
      resolve(stdout.trim().split("\n").filter(Boolean).map((l) => JSON.parse(l)));
    });
  });
}
const PY_MESSAGE = { method: "POST", path: "/open-apis/im/v1/messages", query: { receive_id_type: "chat_id" }, body: MESSAGE };

test("the Python SDK is installed where the tests look (scripts/setup.sh)", () => {
  assert.ok(existsSync(PYTHON), `${PYTHON} missing: run scripts/setup.sh`);
});

test("Node SDK, self-built app: five fresh instances, one upstream token call; typed and raw calls pass through", async () => {
  sb.reset();
  const w = await worker();
  const clients = await Promise.all(Array.from({ length: 5 }, () => nodeSdk(w)));
  const answers = await Promise.all(clients.map((c) => sendMessage(c)));
  for (const a of answers) {
    assert.equal(a.code, 0, JSON.stringify(a));
    assert.equal(a.data.path, "/open-apis/im/v1/messages");
    assert.deepEqual(a.data.query, { receive_id_type: "chat_id" });
    assert.deepEqual(JSON.parse(a.data.body), MESSAGE);
  }
  const typed = await clients[0].im.v1.message.create({ params: { receive_id_type: "chat_id" }, data: MESSAGE });
  assert.equal(typed.code, 0);
  assert.equal(upstream("/open-apis/auth/v3/tenant_access_token/internal"), 1);
  assert.equal(new Set(sb.stats().apiCalls.map((c) => c.token)).size, 1, "one token for all");
});

test("Node SDK: a binary answer arrives whole", async () => {
  sb.reset();
  const w = await worker();
  const client = await nodeSdk(w);
  const size = 200_000;
  const bytes = await client.request({ method: "GET", url: "/open-apis/drive/v1/files/f1/download", params: { size }, responseType: "arraybuffer" });
  const buf = Buffer.from(bytes);
  assert.equal(buf.length, size);
  assert.ok(buf.every((b, i) => b === downloadByte(i)));
});

test("Node SDK, store app (ISV) through the plain gateway: its ticket, one app token and one tenant token call", async () => {
  sb.reset();
  const w = await worker();
  const ticket = await currentTicket();
  const clients = await Promise.all(Array.from({ length: 4 }, () => nodeSdk(w, { isv: true, ticket })));
  for (const c of clients) {
    const a = await sendMessage(c, lark.withTenantKey(SANDBOX_TENANT));
    assert.equal(a.code, 0, JSON.stringify(a));
  }
  assert.equal(upstream(APP_TOKEN), 1);
  assert.equal(upstream(TENANT_TOKEN), 1);
});

test("Node SDK, store app against a managed Worker: a stale ticket in the SDK does not matter", async () => {
  sb.reset();
  const w = await managedWorker();
  const clients = await Promise.all(Array.from({ length: 3 }, () => nodeSdk(w, { isv: true, ticket: "tkt-long-gone" })));
  const answers = await Promise.all(clients.map((c) => sendMessage(c, lark.withTenantKey(SANDBOX_TENANT))));
  for (const a of answers) assert.equal(a.code, 0, JSON.stringify(a));
  assert.equal(upstream(APP_TOKEN), 1, "the Worker's own ticket, once");
  assert.equal(upstream(TENANT_TOKEN), 1);
});

test("Node SDK: after Feishu revokes the token, the running instance's very next call succeeds, and every later one", async () => {
  sb.reset();
  const w = await worker();
  const first = await nodeSdk(w);
  assert.equal((await sendMessage(first)).code, 0);
  const old = lastToken();
  await revoke(old);
  const healed = await sendMessage(first);
  assert.equal(healed.code, 0, `replayed with the replacement: ${JSON.stringify(healed)}`);
  const fresh = lastToken();
  assert.notEqual(fresh, old);
  for (let i = 0; i < 3; i++) {
    assert.equal((await sendMessage(first)).code, 0);
    assert.equal(lastToken(), fresh, "the SDK still sends the old token: the Worker rewrites it before it leaves");
  }
  const oldSeen = sb.stats().apiCalls.filter((c) => c.token === old).length;
  assert.equal(oldSeen, 2, "Feishu saw the old token once after revoking it (the refused call), never again");
  assert.equal(upstream("/open-apis/auth/v3/tenant_access_token/internal"), 2);
});

test("Node SDK with REPLACE_REFUSED off: the refusal reaches the instance holding the token, the next instance works", async () => {
  sb.reset();
  const w = await worker({ REPLACE_REFUSED: "false" });
  const first = await nodeSdk(w);
  assert.equal((await sendMessage(first)).code, 0);
  const old = lastToken();
  await revoke(old);
  const refused = await sendMessage(first);
  assert.equal(refused.code, 99991663, "the SDK keeps its cached token: Feishu's refusal reaches it unchanged");
  const next = await nodeSdk(w);
  const a = await sendMessage(next);
  assert.equal(a.code, 0, JSON.stringify(a));
  assert.notEqual(lastToken(), old);
  assert.equal(upstream("/open-apis/auth/v3/tenant_access_token/internal"), 2);
});

test("Python SDK, self-built app: three fresh instances (processes), one upstream token call", async () => {
  sb.reset();
  const w = await worker();
  const runs = await Promise.all([1, 2, 3].map(() => pythonSdk(w, [PY_MESSAGE])));
  for (const [a] of runs) {
    assert.equal(a.code, 0, JSON.stringify(a));
    assert.equal(a.status, 200);
    assert.deepEqual(JSON.parse(a.data.body), MESSAGE);
  }
  assert.equal(upstream("/open-apis/auth/v3/tenant_access_token/internal"), 1);
});

test("Python SDK, store app against a managed Worker (lark-oapi sends no ticket): one app token and one tenant token call", async () => {
  sb.reset();
  const w = await managedWorker();
  const runs = await Promise.all([1, 2, 3].map(() => pythonSdk(w, [PY_MESSAGE, { method: "GET", path: "/open-apis/im/v1/chats", query: { page_size: 5 } }], { isv: true })));
  for (const answers of runs) {
    for (const a of answers) assert.equal(a.code, 0, JSON.stringify(a));
    assert.deepEqual(answers[1].data.query, { page_size: "5" });
  }
  assert.equal(upstream(APP_TOKEN), 1);
  assert.equal(upstream(TENANT_TOKEN), 1);
});

test("Python SDK: a revoked token handed to a new instance is replaced in flight", async () => {
  sb.reset();
  const w = await worker();
  const [ok] = await pythonSdk(w, [PY_MESSAGE]);
  assert.equal(ok.code, 0);
  const old = lastToken();
  await revoke(old);
  // A fresh instance still gets `old` from the Worker (nothing has told it
  // yet); its call is refused, and the Worker replays it with the
  // replacement; its next call is rewritten before it leaves.
  const [healed, again] = await pythonSdk(w, [PY_MESSAGE, PY_MESSAGE]);
  assert.equal(healed.code, 0, JSON.stringify(healed));
  assert.equal(again.code, 0, JSON.stringify(again));
  assert.notEqual(lastToken(), old);
});
