// A local stand-in for Feishu's auth v3 endpoints (these machines have no
// internet). It follows ../../../shared/feishu-auth-v3.md: per-app, per-tenant
// tokens that live `lifetimeSecs` (default 2 h) and rotate when fewer than
// `rotateBeforeSecs` (default 30 min) remain, `expire` counting down,
// Feishu-style error codes, rate-limit headers. On top: fault injection,
// request counters and a movable clock, under /__sandbox/.
import http from "node:http";
import { randomBytes } from "node:crypto";

/** Seeded store apps. Their app_access_tokens are fixed so tests and the demo can use them directly. */
export const SANDBOX_APPS = Object.freeze({
  cli_sandbox_app_one: { appSecret: "sandbox-secret-one", appAccessToken: "a-sandbox-app-one" },
  cli_sandbox_app_two: { appSecret: "sandbox-secret-two", appAccessToken: "a-sandbox-app-two" },
});

/** A tenant_key shaped like Feishu's; any well-formed tenant_key works. */
export const SANDBOX_TENANT = "73658811060f175d";

export const PATHS = Object.freeze({
  tenantToken: "/open-apis/auth/v3/tenant_access_token",
  appToken: "/open-apis/auth/v3/app_access_token",
  ticketResend: "/open-apis/auth/v3/app_ticket/resend",
});

/**
 * Faults, chosen per request by a magic tenant_key (`fault-500`) or for the
 * next N requests by POST /__sandbox/faults {"fault": "500", "count": N}.
 */
export const FAULTS = Object.freeze({
  500: "HTTP 500 with a JSON body that is not Feishu's",
  html: "HTTP 502 with an HTML page (a proxy in the way)",
  nonjson: "HTTP 200 with a body that is not JSON",
  truncated: "HTTP 200 with JSON cut off mid-token",
  slow: "answers correctly after `slowMs` (default 3000 ms)",
  reset: "destroys the connection without answering",
  429: "HTTP 429, code 99991400, x-ogw-ratelimit-reset: `rateLimitResetSecs`",
  expiring: "a valid token with only 600 s left",
});

const DEFAULTS = Object.freeze({
  lifetimeSecs: 7200,
  rotateBeforeSecs: 1800,
  slowMs: 3000,
  rateLimitResetSecs: 2,
  tokenBytes: 20,
});

const MAX_BODY_BYTES = 64 * 1024;
const RATE_LIMIT = 50;

/**
 * Starts a sandbox. Returns { url, port, close(), stats(), reset(), state }.
 * @param {{ port?: number, host?: string, quiet?: boolean } & Partial<typeof DEFAULTS>} [opts]
 */
export async function startSandbox(opts = {}) {
  const { port = 0, host = "127.0.0.1", ...config } = opts;
  const state = freshState(config);
  const sockets = new Set();
  const server = http.createServer((req, res) => {
    handle(state, req, res).catch((err) => {
      if (!res.headersSent) send(res, 500, { code: -1, msg: `sandbox bug: ${err.message}` });
    });
  });
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, resolve);
  });
  const { port: bound } = server.address();
  const url = `http://${host.includes(":") ? `[${host}]` : host}:${bound}`;
  return {
    url,
    port: bound,
    state,
    stats: () => snapshot(state),
    reset: () => Object.assign(state, freshState(config)),
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

function freshState(config) {
  const apps = new Map();
  for (const [appId, a] of Object.entries(SANDBOX_APPS)) {
    apps.set(appId, { ...a, ticket: `ticket-${appId}` });
  }
  return {
    config: { ...DEFAULTS, ...config },
    apps,
    appTokens: new Map(Object.entries(SANDBOX_APPS).map(([id, a]) => [a.appAccessToken, { appId: id, expiresAt: Infinity }])),
    issuedAppTokens: new Map(),
    tenantTokens: new Map(),
    initialConfig: config,
    counters: {},
    queuedFault: null,
    clockOffsetMs: 0,
  };
}

function snapshot(state) {
  return {
    requests: { ...state.counters },
    tenantTokenCalls: state.counters[PATHS.tenantToken] ?? 0,
    config: { ...state.config },
    clockOffsetMs: state.clockOffsetMs,
  };
}

const now = (state) => Date.now() + state.clockOffsetMs;

function cors(res) {
  res.setHeader("access-control-allow-origin", "*");
  res.setHeader("access-control-allow-methods", "GET, POST, OPTIONS");
  res.setHeader("access-control-allow-headers", "content-type");
  res.setHeader("access-control-expose-headers", "x-ogw-ratelimit-limit, x-ogw-ratelimit-reset");
  res.setHeader("access-control-max-age", "600");
}

function send(res, status, body, headers = {}) {
  const text = typeof body === "string" ? body : JSON.stringify(body);
  res.writeHead(status, {
    "content-type": typeof body === "string" ? "text/html; charset=utf-8" : "application/json; charset=utf-8",
    ...headers,
  });
  res.end(text);
}

async function readBody(req) {
  const chunks = [];
  let size = 0;
  for await (const c of req) {
    size += c.length;
    if (size > MAX_BODY_BYTES) return null;
    chunks.push(c);
  }
  return Buffer.concat(chunks).toString("utf8");
}

function rateLimitHeaders(state) {
  return {
    "x-ogw-ratelimit-limit": String(RATE_LIMIT),
    "x-ogw-ratelimit-reset": String(60 - (Math.floor(now(state) / 1000) % 60)),
  };
}

async function handle(state, req, res) {
  cors(res);
  const { pathname } = new URL(req.url, "http://sandbox");
  if (req.method === "OPTIONS") {
    res.writeHead(204);
    return res.end();
  }
  if (pathname.startsWith("/__sandbox")) return control(state, req, res, pathname);

  state.counters[pathname] = (state.counters[pathname] ?? 0) + 1;
  const route = {
    [PATHS.tenantToken]: tenantToken,
    [PATHS.appToken]: appToken,
    [PATHS.ticketResend]: ticketResend,
  }[pathname];
  if (!route) return send(res, 404, { code: 404, msg: "404 page not found" });
  if (req.method !== "POST") return send(res, 405, { code: 405, msg: "method not allowed" });
  const text = await readBody(req);
  if (text === null) return send(res, 413, { code: 10003, msg: "request body too large" });
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    return send(res, 400, { code: 10003, msg: "invalid param: body is not JSON" }, rateLimitHeaders(state));
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    return send(res, 400, { code: 10003, msg: "invalid param" }, rateLimitHeaders(state));
  }
  return route(state, body, req, res);
}

/** Applies a fault, or returns false to answer normally. */
async function injectFault(state, fault, res) {
  const h = rateLimitHeaders(state);
  switch (fault) {
    case "500":
      send(res, 500, { error: "internal error" });
      return true;
    case "html":
      send(res, 502, "<html><head><title>502 Bad Gateway</title></head><body>bad gateway</body></html>");
      return true;
    case "nonjson":
      send(res, 200, "OK");
      return true;
    case "truncated":
      res.writeHead(200, { "content-type": "application/json; charset=utf-8", ...h });
      res.end('{"code":0,"msg":"ok","tenant_access_token":"t-trunc');
      return true;
    case "reset":
      res.socket?.destroy();
      return true;
    case "429":
      send(
        res,
        429,
        { code: 99991400, msg: "request trigger frequency limit" },
        { ...h, "x-ogw-ratelimit-reset": String(state.config.rateLimitResetSecs) },
      );
      return true;
    case "slow":
      await new Promise((r) => setTimeout(r, state.config.slowMs));
      return false;
    default:
      return false;
  }
}

function takeQueuedFault(state) {
  const q = state.queuedFault;
  if (!q) return null;
  if (q.count !== -1 && --q.count <= 0) state.queuedFault = null;
  return q.fault;
}

const TENANT_KEY = /^[\x21-\x7e]{1,128}$/;

async function tenantToken(state, body, req, res) {
  const fault = takeQueuedFault(state) ?? (typeof body.tenant_key === "string" && body.tenant_key.startsWith("fault-") ? body.tenant_key.slice(6) : null);
  if (fault && (await injectFault(state, fault, res))) return;
  const h = rateLimitHeaders(state);
  const { app_access_token: appToken, tenant_key: tenantKey } = body;
  if (typeof appToken !== "string" || typeof tenantKey !== "string" || !TENANT_KEY.test(tenantKey)) {
    return send(res, 400, { code: 10003, msg: "invalid param" }, h);
  }
  const app = state.appTokens.get(appToken);
  if (!app || app.expiresAt <= now(state)) {
    return send(res, 400, { code: 99991664, msg: "invalid app access token" }, h);
  }
  const issued = issue(state, state.tenantTokens, `${app.appId}|${tenantKey}`, "t-");
  const expire = fault === "expiring" ? Math.min(600, issued.expire) : issued.expire;
  return send(res, 200, { code: 0, msg: "ok", tenant_access_token: issued.token, expire }, h);
}

/** Feishu's lifetime rule: same token while >= rotateBefore left, else a new one. */
function issue(state, store, key, prefix) {
  const t = now(state);
  const { lifetimeSecs, rotateBeforeSecs, tokenBytes } = state.config;
  let entry = store.get(key);
  if (!entry || entry.expiresAt - t < rotateBeforeSecs * 1000) {
    entry = { token: prefix + randomBytes(tokenBytes).toString("hex"), expiresAt: t + lifetimeSecs * 1000 };
    store.set(key, entry);
  }
  return { token: entry.token, expire: Math.floor((entry.expiresAt - t) / 1000) };
}

async function appToken(state, body, req, res) {
  const h = rateLimitHeaders(state);
  const app = state.apps.get(body.app_id);
  if (!app || body.app_secret !== app.appSecret) {
    return send(res, 400, { code: 10003, msg: "invalid param: app_id or app_secret" }, h);
  }
  if (body.app_ticket !== app.ticket) {
    return send(res, 400, { code: 10012, msg: "app_ticket is invalid" }, h);
  }
  const issued = issue(state, state.issuedAppTokens, body.app_id, "a-");
  const { expiresAt } = state.issuedAppTokens.get(body.app_id);
  state.appTokens.set(issued.token, { appId: body.app_id, expiresAt });
  return send(res, 200, { code: 0, msg: "ok", app_access_token: issued.token, expire: issued.expire }, h);
}

async function ticketResend(state, body, req, res) {
  const app = state.apps.get(body.app_id);
  if (!app || body.app_secret !== app.appSecret) {
    return send(res, 400, { code: 10003, msg: "invalid param: app_id or app_secret" }, rateLimitHeaders(state));
  }
  return send(res, 200, { code: 0, msg: "ok" }, rateLimitHeaders(state));
}

async function control(state, req, res, pathname) {
  const text = req.method === "POST" ? await readBody(req) : "";
  let body = {};
  try {
    body = text ? JSON.parse(text) : {};
  } catch {
    return send(res, 400, { error: "body is not JSON" });
  }
  switch (`${req.method} ${pathname}`) {
    case "GET /__sandbox":
    case "GET /__sandbox/":
      return send(res, 200, { apps: SANDBOX_APPS, tenant: SANDBOX_TENANT, faults: FAULTS, paths: PATHS });
    case "GET /__sandbox/stats":
      return send(res, 200, snapshot(state));
    case "POST /__sandbox/reset":
      Object.assign(state, freshState(state.initialConfig));
      return send(res, 200, snapshot(state));
    case "POST /__sandbox/config":
      for (const k of Object.keys(DEFAULTS)) if (Number.isFinite(body[k])) state.config[k] = body[k];
      return send(res, 200, snapshot(state));
    case "POST /__sandbox/faults":
      if (body.fault !== null && !(body.fault in FAULTS)) return send(res, 400, { error: `unknown fault; one of ${Object.keys(FAULTS)}` });
      state.queuedFault = body.fault === null ? null : { fault: String(body.fault), count: Number.isInteger(body.count) ? body.count : 1 };
      return send(res, 200, { queued: state.queuedFault });
    case "POST /__sandbox/advance":
      state.clockOffsetMs += Math.round((Number(body.secs) || 0) * 1000);
      return send(res, 200, snapshot(state));
    case "GET /__sandbox/ticket":
      return send(res, 200, Object.fromEntries([...state.apps].map(([id, a]) => [id, a.ticket])));
    default:
      return send(res, 404, { error: "unknown sandbox control path" });
  }
}
