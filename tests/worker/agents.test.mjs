// The official Feishu MCP server (@larksuiteoapi/lark-mcp, installed by
// scripts/setup.sh into .tools/lark-mcp), started as AI agents start it
// (`mcp -a <app id> -s <secret> -d <domain>`, stdio) with the built Worker
// (workerd via Miniflare) as its domain, against the sandbox. It calls
// Feishu through the official Node SDK, which keeps its token in its own
// process: three running agents make one token call between them, and after
// Feishu stops accepting that token, each agent's next tool call succeeds,
// without a restart.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { startSandbox, SANDBOX_SELF_BUILT_APPS } from "../../sandbox/sandbox.mjs";
import { startBuiltWorker } from "./built-worker.mjs";
import { createAgentKey } from "../../scripts/agent-key.mjs";

const root = fileURLToPath(new URL("../../", import.meta.url));
const MCP_CLI = `${root}.tools/lark-mcp/node_modules/@larksuiteoapi/lark-mcp/dist/cli.js`;
const APP = "cli_a5f0c0ffee000001";
const SECRET = SANDBOX_SELF_BUILT_APPS[APP].appSecret;
const INTERNAL = "/open-apis/auth/v3/tenant_access_token/internal";
/** Each answer is awaited at most this long: a hung agent fails the test, never the run. */
const ANSWER_MS = 20_000;

let sb, w;
const agents = [];

before(async () => {
  sb = await startSandbox({ quiet: true });
  w = await startBuiltWorker({
    vars: { FEISHU_BASE_URL: sb.url, UPSTREAM_TIMEOUT_MS: "2000", UPSTREAM_DEADLINE_MS: "2000", LOG_REQUESTS: "false" },
    onLog: () => {},
  });
});
after(async () => {
  for (const a of agents) a.stop();
  await w?.mf.dispose().catch(() => {});
  await sb?.close();
});

/** One lark-mcp process speaking MCP (newline-delimited JSON-RPC) on stdio. */
function startAgent(domain, secret = SECRET) {
  const tools = "im.v1.chat.list,im.v1.message.create";
  const child = spawn(process.execPath, [MCP_CLI, "mcp", "-a", APP, "-s", secret, "-d", domain, "-t", tools, "--token-mode", "tenant_access_token"], {
    stdio: ["pipe", "pipe", "pipe"],
  });
  let buffer = "";
  let stderr = "";
  const waiting = new Map();
  let id = 0;
  child.stdout.setEncoding("utf8");
  child.stdout.on("data", (chunk) => {
    buffer += chunk;
    let nl;
    while ((nl = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, nl).trim();
      buffer = buffer.slice(nl + 1);
      if (!line) continue;
      let msg;
      try {
        msg = JSON.parse(line);
      } catch {
        continue;
      }
      waiting.get(msg.id)?.(msg);
      waiting.delete(msg.id);
    }
  });
  child.stderr.on("data", (c) => void (stderr += c).slice(-4000));
  const ask = (method, params) =>
    new Promise((resolve, reject) => {
      const n = ++id;
      const timer = setTimeout(() => reject(new Error(`lark-mcp did not answer ${method} within ${ANSWER_MS} ms; stderr: ${stderr}`)), ANSWER_MS);
      waiting.set(n, (msg) => {
        clearTimeout(timer);
        resolve(msg);
      });
      child.stdin.write(`${JSON.stringify({ jsonrpc: "2.0", id: n, method, params })}\n`);
    });
  const agent = {
    async init() {
      const r = await ask("initialize", { protocolVersion: "2024-11-05", capabilities: {}, clientInfo: { name: "ftt-test", version: "1" } });
      assert.ok(r.result, JSON.stringify(r));
      child.stdin.write(`${JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" })}\n`);
      return agent;
    },
    /** Calls the chat-list tool; resolves to Feishu's answer as the tool reports it. */
    async listChats() {
      const r = await ask("tools/call", { name: "im_v1_chat_list", arguments: { params: { page_size: 5 } } });
      const text = r.result?.content?.[0]?.text ?? "";
      return { isError: Boolean(r.result?.isError), text, body: safeJson(text) };
    },
    /** Calls the send-message tool. */
    async sendMessage() {
      const data = { receive_id: "oc_agent", msg_type: "text", content: JSON.stringify({ text: "hi" }) };
      const r = await ask("tools/call", { name: "im_v1_message_create", arguments: { data, params: { receive_id_type: "chat_id" } } });
      const text = r.result?.content?.[0]?.text ?? "";
      return { isError: Boolean(r.result?.isError), text, body: safeJson(text) };
    },
    stop: () => child.kill("SIGKILL"),
  };
  agents.push(agent);
  return agent;
}

const safeJson = (t) => {
  try {
    return JSON.parse(t);
  } catch {
    return null;
  }
};

const lastToken = () => sb.stats().apiCalls.at(-1)?.token;

test("lark-mcp is installed where the tests look (scripts/setup.sh)", () => {
  assert.ok(existsSync(MCP_CLI), `missing ${MCP_CLI}: run scripts/setup.sh`);
});

test("three running lark-mcp agents: one token call; Feishu revokes the token; each agent's next tool call succeeds without a restart", async () => {
  sb.reset();
  const three = await Promise.all([1, 2, 3].map(() => startAgent(w.url).init()));
  for (const a of three) {
    const r = await a.listChats();
    assert.equal(r.isError, false, r.text);
    assert.equal(r.body?.data?.path ?? r.body?.path, "/open-apis/im/v1/chats", r.text);
  }
  assert.equal(sb.stats().requests[INTERNAL], 1, "one token call for three agents");
  const old = lastToken();
  await fetch(`${sb.url}/__sandbox/token/revoke`, { method: "POST", body: JSON.stringify({ token: old }) });
  for (const a of three) {
    const r = await a.listChats();
    assert.equal(r.isError, false, `healed in flight: ${r.text}`);
    assert.notEqual(lastToken(), old);
  }
  assert.equal(sb.stats().requests[INTERNAL], 2, "one replacement for three agents");
  for (const a of three) assert.equal((await a.listChats()).isError, false);
});

test("without the Worker's replacement (REPLACE_REFUSED off), a running lark-mcp agent keeps failing after a revocation", async () => {
  sb.reset();
  const off = await startBuiltWorker({
    vars: { FEISHU_BASE_URL: sb.url, REPLACE_REFUSED: "false", LOG_REQUESTS: "false" },
    onLog: () => {},
  });
  try {
    const agent = await startAgent(off.url).init();
    assert.equal((await agent.listChats()).isError, false);
    await fetch(`${sb.url}/__sandbox/token/revoke`, { method: "POST", body: JSON.stringify({ token: lastToken() }) });
    for (let i = 0; i < 2; i++) {
      const r = await agent.listChats();
      assert.equal(r.isError, true, "the SDK inside keeps the refused token");
      assert.match(r.text, /99991663/);
    }
  } finally {
    await off.mf.dispose();
  }
});

test("lark-mcp started with an agent key in place of the secret works within the key's allow-list and nowhere else", async () => {
  sb.reset();
  const key = createAgentKey({ id: "mcp-agent", app: APP, allow: ["GET /open-apis/im/v1/chats"] });
  const keyed = await startBuiltWorker({
    vars: {
      FEISHU_BASE_URL: sb.url,
      LOG_REQUESTS: "false",
      SELF_BUILT_APPS: JSON.stringify({ [APP]: SECRET }),
      AGENT_KEYS: JSON.stringify([key.entry]),
    },
    onLog: () => {},
  });
  try {
    const agent = await startAgent(keyed.url, key.key).init();
    const chats = await agent.listChats();
    assert.equal(chats.isError, false, chats.text);
    assert.match(lastToken(), /^t-/, "Feishu saw the app's real token");
    const before = sb.stats().apiCalls.length;
    const sent = await agent.sendMessage();
    assert.equal(sent.isError, true, "outside the allow-list");
    assert.match(sent.text, /KEY_NOT_ALLOWED|mcp-agent|403/, sent.text);
    assert.equal(sb.stats().apiCalls.length, before, "nothing sent to Feishu");
  } finally {
    await keyed.mf.dispose();
  }
});
