// A local stand-in for Feishu's auth v3 endpoints (these machines have no
// internet). It follows Feishu's auth v3 pages (https://open.feishu.cn/document/server-docs/authentication-management/access-token/tenant_access_token
// and its neighbours): per-app, per-tenant
// tokens that live `lifetimeSecs` (default 2 h) and rotate when fewer than
// `rotateBeforeSecs` (default 30 min) remain, `expire` counting down,
// Feishu-style error codes, rate-limit headers. Store apps too: rotating
// app_tickets (the previous one stays valid until the next rotation),
// app_access_token, app_ticket/resend, and app_ticket events pushed to a
// configured callback URL (plain or encrypted and signed) on start, after a
// resend and on a timer, retried when the receiver fails. On top: fault
// injection, request counters and a movable clock, under /__sandbox/.
import http from "node:http";
import { createHash, randomBytes, randomUUID } from "node:crypto";
import { freshOAuthState, grantUser, invalidateUserTokens, oauth, oauthStats, revokeUser, userTokenVerdict } from "./oauth.mjs";
import { enforce, freshLimits, limitsOn, setLimits } from "./limits.mjs";
import { challengeEvent, postEvent, ticketEvent } from "./callback.mjs";

/** Seeded store apps. Their app_access_tokens are fixed so tests and the demo can use them directly. */
export const SANDBOX_APPS = Object.freeze({
  cli_sandbox_app_one: { appSecret: "sandbox-secret-one", appAccessToken: "a-sandbox-app-one" },
  cli_sandbox_app_two: { appSecret: "sandbox-secret-two", appAccessToken: "a-sandbox-app-two" },
});

/**
 * Seeded self-built (internal) apps: no ticket, no tenant key, the app's own
 * tenant. `disabled` answers 10014 (app disabled); a wrong secret answers 10015.
 */
export const SANDBOX_SELF_BUILT_APPS = Object.freeze({
  cli_sandbox_internal_one: { appSecret: "sandbox-internal-secret-one" },
  cli_sandbox_internal_two: { appSecret: "sandbox-internal-secret-two" },
  cli_sandbox_internal_disabled: { appSecret: "sandbox-internal-secret-disabled", disabled: true },
  // An id of Feishu's own shape (cli_ and 16 hex digits): the SDKs' WSClient
  // refuses to start with any other.
  cli_a5f0c0ffee000001: { appSecret: "sandbox-internal-secret-long-connection" },
});

/** A tenant_key shaped like Feishu's; any well-formed tenant_key works. */
export const SANDBOX_TENANT = "73658811060f175d";

export const PATHS = Object.freeze({
  tenantToken: "/open-apis/auth/v3/tenant_access_token",
  appToken: "/open-apis/auth/v3/app_access_token",
  ticketResend: "/open-apis/auth/v3/app_ticket/resend",
  internalTenantToken: "/open-apis/auth/v3/tenant_access_token/internal",
  internalAppToken: "/open-apis/auth/v3/app_access_token/internal",
  // Outside /open-apis: where a long-connection client (the SDKs' WSClient)
  // asks which WebSocket URL to connect to, with the app's id and secret.
  wsEndpoint: "/callback/ws/endpoint",
});

/**
 * Faults, chosen per request by a magic tenant_key (`fault-500`) or for the
 * next N requests by POST /__sandbox/faults {"fault": "500", "count": N}.
 * Queued faults hit app_access_token and app_ticket/resend too (no tenant_key there).
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
  resendDelayMs: 200,
  pushRetryMs: 1000,
  // User tokens (OAuth): Feishu's are ~2 h and ~7 days; tests shorten them.
  userTokenSecs: 7200,
  refreshTokenSecs: 604800,
  // 1: a business API's token refusals (99991663, 99991668, 99991677) come
  // chunked, without Content-Length, as a proxy in front of Feishu may send them.
  chunkedRefusals: 0,
});

const MAX_BODY_BYTES = 64 * 1024;
const RATE_LIMIT = 50;
/** Feishu redelivers a failed event a few times, not for ever. */
const PUSH_RETRIES = 5;
const DEFAULT_CALLBACK_APP = "cli_sandbox_app_one";
const BAD_APP = Object.freeze({ code: 10003, msg: "invalid param: app_id or app_secret" });

/** Listed by GET /__sandbox, so the controls can be found without reading this file. */
const CONTROLS = Object.freeze({
  "GET /__sandbox/stats": "counters, pushes {ok, failed, gaveUp}, lastPush, resendCalls, callbacks, config",
  "POST /__sandbox/reset": "fresh tokens, tickets and stats; callbacks given at start stay and push again",
  "POST /__sandbox/config": `sets any of ${Object.keys(DEFAULTS).join(", ")}`,
  "POST /__sandbox/faults": '{"fault", "count"}: the next requests to any auth endpoint fail; {"fault": null} clears',
  "POST /__sandbox/advance": '{"secs"}: moves the sandbox clock (token lifetimes)',
  "GET /__sandbox/ticket": "the current app_ticket of each app",
  "POST /__sandbox/user/revoke": '{"open_id"}: the user revoked the app: their refresh token answers 20064, their user tokens 99991668',
  "POST /__sandbox/user/token/invalidate": '{"open_id"}: Feishu ends the user\'s live user tokens early (API calls answer 99991668); their refresh token still works',
  "POST /__sandbox/user/grant": '{"open_id", "client_id"}: a signed-in user\'s grant (access and refresh token, with offline_access) without the sign-in pages, for clients under test',
  "POST /__sandbox/limits":
    '{"routes"?: {"<METHOD> /open-apis/...{id}...": {"limit", "per"?: "s"|"min", "style"?: "429"|"400"}}, "updatesPerMessage"?, "sendsPerSecond"?}: Feishu\'s frequency limits per app, tenant (or user) and API, enforced from now (stats: limits.refused, limits.sent)',
  "POST /__sandbox/token/revoke": '{"token"}: Feishu stops accepting that tenant token (business APIs answer 99991663); the token endpoints hand out a new one',
  "POST /__sandbox/ticket/revoke": '{"app_id"?}: a new ticket, not pushed, previous dropped: the receiver\'s is stale',
  "POST /__sandbox/callback":
    '{"appId"?, "url", "encryptKey"?, "verificationToken"?, "everySecs"?, "schema"?: "1.0"|"2.0"}; {"url": null} removes',
  "POST /__sandbox/push": '{"app_id"?}: rotates and pushes now, no retry; answers the callback\'s {status, body}',
  "POST /__sandbox/message":
    '{"app_id"?, "text"?, "message_id"?}: pushes an im.message.receive_v1 event (schema 2.0) to the callback now, sealed and signed as configured; answers {status, body, event_id, message_id}',
  "POST /__sandbox/verify-url":
    '{"app_id"?, "signed"?: false}: sends a url_verification challenge (unsigned if asked); answers {ok, status, body}',
});

/**
 * Starts a sandbox. Returns { url, port, close(), stats(), reset(), state }.
 * `callback` (one config or a list, see parseCallback) makes it push app_tickets.
 * @param {{ port?: number, host?: string, quiet?: boolean, callback?: object | object[] } & Partial<typeof DEFAULTS>} [opts]
 */
export async function startSandbox(opts = {}) {
  const { port = 0, host = "127.0.0.1", callback, ...config } = opts;
  const state = freshState(config, parseCallbacks(callback));
  state.runtime = newRuntime();
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
  server.on("upgrade", (req, socket) => acceptWebSocket(state, req, socket));
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, resolve);
  });
  const { port: bound } = server.address();
  const url = `http://${host.includes(":") ? `[${host}]` : host}:${bound}`;
  state.url = url;
  startCallbacks(state);
  return {
    url,
    port: bound,
    state,
    stats: () => snapshot(state),
    reset: () => resetState(state),
    close: () =>
      new Promise((resolve) => {
        state.runtime.closed = true;
        cancelRuntime(state.runtime);
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

function freshState(config, callbacks) {
  const apps = new Map();
  for (const [appId, a] of Object.entries(SANDBOX_APPS)) {
    apps.set(appId, { ...a, ticket: `ticket-${appId}`, previousTicket: null });
  }
  return {
    config: { ...DEFAULTS, ...config },
    apps,
    appTokens: new Map(Object.entries(SANDBOX_APPS).map(([id, a]) => [a.appAccessToken, { appId: id, expiresAt: Infinity }])),
    issuedAppTokens: new Map(),
    tenantTokens: new Map(),
    initialConfig: config,
    initialCallbacks: callbacks,
    callbacks: new Map(callbacks.map((cb) => [cb.appId, cb])),
    counters: {},
    queuedFault: null,
    clockOffsetMs: 0,
    pushes: { ok: 0, failed: 0, gaveUp: 0 },
    lastPush: null,
    resendCalls: 0,
    revokedTokens: new Set(),
    apiCalls: [],
    // Long connections: the one-time URLs handed out, and who connected.
    wsTickets: new Map(),
    wsConnections: [],
    // Users' sign-ins and tokens (oauth.mjs).
    oauth: freshOAuthState(),
    // Frequency limits (limits.mjs): none until a test sets them.
    limits: freshLimits(),
  };
}

/** Timers and requests in flight. Kept across reset (which cancels them) so close() always finds them. */
function newRuntime() {
  return { epoch: 0, closed: false, timers: new Map(), pending: new Set(), inflight: new Set() };
}

/** Bumping the epoch tells deliveries already awaiting an answer that their result no longer counts. */
function cancelRuntime(rt) {
  rt.epoch += 1;
  for (const t of rt.timers.values()) clearInterval(t);
  rt.timers.clear();
  for (const t of rt.pending) clearTimeout(t);
  rt.pending.clear();
  for (const req of rt.inflight) req.destroy(new Error("sandbox reset or closed"));
  rt.inflight.clear();
}

function resetState(state) {
  cancelRuntime(state.runtime);
  Object.assign(state, freshState(state.initialConfig, state.initialCallbacks));
  startCallbacks(state);
  return state;
}

function snapshot(state) {
  return {
    requests: { ...state.counters },
    tenantTokenCalls: state.counters[PATHS.tenantToken] ?? 0,
    internalTenantTokenCalls: state.counters[PATHS.internalTenantToken] ?? 0,
    internalAppTokenCalls: state.counters[PATHS.internalAppToken] ?? 0,
    appTokenCalls: state.counters[PATHS.appToken] ?? 0,
    apiCalls: state.apiCalls.map((c) => ({ ...c })),
    limits: { refused: state.limits.refused.map((r) => ({ ...r })), sent: state.limits.sent },
    config: { ...state.config },
    clockOffsetMs: state.clockOffsetMs,
    pushes: { ...state.pushes },
    lastPush: state.lastPush && { ...state.lastPush },
    resendCalls: state.resendCalls,
    callbacks: callbackViews(state),
    wsConnections: state.wsConnections.map((c) => ({ ...c })),
    oauth: oauthStats(state.oauth),
  };
}

/** The encrypt key is a secret even here: stats and logs only say whether there is one. */
function callbackViews(state) {
  return [...state.callbacks.values()].map(({ encryptKey, verificationToken, ...rest }) => ({
    ...rest,
    encrypted: Boolean(encryptKey),
    hasVerificationToken: verificationToken !== undefined,
  }));
}

function log(state, message) {
  if (!state.config.quiet) console.error(`sandbox: ${message}`);
}

const now = (state) => Date.now() + state.clockOffsetMs;

function cors(res) {
  res.setHeader("access-control-allow-origin", "*");
  res.setHeader("access-control-allow-methods", "GET, POST, OPTIONS");
  res.setHeader("access-control-allow-headers", "content-type, authorization");
  res.setHeader("access-control-expose-headers", "x-ogw-ratelimit-limit, x-ogw-ratelimit-reset");
  res.setHeader("access-control-max-age", "600");
}

function send(res, status, body, headers = {}) {
  const text = typeof body === "string" ? body : JSON.stringify(body);
  // With its length, as Feishu's gateway answers (not chunked).
  res.writeHead(status, {
    "content-type": typeof body === "string" ? "text/html; charset=utf-8" : "application/json; charset=utf-8",
    "content-length": String(Buffer.byteLength(text)),
    ...headers,
  });
  res.end(text);
}

/** A business API's refusal of a token: HTTP 400, with its length, or chunked with `chunkedRefusals`. */
function refuseToken(state, res, body) {
  if (!state.config.chunkedRefusals) return send(res, 400, body);
  res.writeHead(400, { "content-type": "application/json; charset=utf-8" });
  res.write(JSON.stringify(body).slice(0, 10));
  res.end(JSON.stringify(body).slice(10));
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
  const appSecret = (id) => (Object.hasOwn(SANDBOX_APPS, id) ? SANDBOX_APPS[id] : Object.hasOwn(SANDBOX_SELF_BUILT_APPS, id) ? SANDBOX_SELF_BUILT_APPS[id] : null)?.appSecret;
  if (pathname.startsWith("/open-apis/authen/") && (await oauth(state, req, res, pathname, { appSecret, now: () => now(state), readBody }))) return;
  if (pathname.startsWith("/open-apis/") && !pathname.startsWith("/open-apis/auth/")) {
    return businessApi(state, req, res);
  }
  const route = {
    [PATHS.tenantToken]: tenantToken,
    [PATHS.appToken]: appToken,
    [PATHS.ticketResend]: ticketResend,
    [PATHS.internalTenantToken]: internalTenantToken,
    [PATHS.internalAppToken]: internalAppToken,
    [PATHS.wsEndpoint]: wsEndpoint,
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

/**
 * `POST /callback/ws/endpoint` `{AppID, AppSecret}` (Go-style names, as the
 * SDKs send them): Feishu's answer with a one-time WebSocket URL on the
 * sandbox itself (its query shaped like Feishu's: `fpid` first, since the
 * Node SDK reads the whole URL as a query string) and the client's
 * settings; a wrong id or secret is code 514 (AuthFailed). The client then
 * connects straight to that URL (`acceptWebSocket`), never through the Worker.
 */
async function wsEndpoint(state, body, req, res) {
  const app = SANDBOX_APPS[body.AppID] ?? SANDBOX_SELF_BUILT_APPS[body.AppID];
  if (!app || body.AppSecret !== app.appSecret) {
    return send(res, 200, { code: 514, msg: "auth failed", data: null });
  }
  const ticket = randomUUID();
  state.wsTickets.set(ticket, body.AppID);
  const ws = state.url.replace(/^http/, "ws");
  return send(res, 200, {
    code: 0,
    msg: "ok",
    data: {
      URL: `${ws}/ws/v2?fpid=1&device_id=${ticket}&access_key=${ticket}&service_id=1&ticket=${ticket}`,
      ClientConfig: { ReconnectCount: -1, ReconnectInterval: 120, ReconnectNonce: 30, PingInterval: 120 },
    },
  });
}

/**
 * A WebSocket upgrade to a URL `wsEndpoint` handed out (once per URL): the
 * RFC 6455 handshake, then the connection is held open and whatever the
 * client sends (the SDKs' ping frames) is ignored; recorded in
 * `stats().wsConnections`. Anything else: 403.
 */
function acceptWebSocket(state, req, socket) {
  const url = new URL(req.url, "http://sandbox");
  const ticket = url.searchParams.get("ticket");
  const key = req.headers["sec-websocket-key"];
  const appId = ticket && state.wsTickets.get(ticket);
  if (url.pathname !== "/ws/v2" || !appId || !key) {
    socket.end("HTTP/1.1 403 Forbidden\r\nconnection: close\r\ncontent-length: 0\r\n\r\n");
    return;
  }
  state.wsTickets.delete(ticket);
  const accept = createHash("sha1").update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest("base64");
  socket.write(`HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: ${accept}\r\n\r\n`);
  socket.on("data", () => {});
  socket.on("error", () => {});
  state.wsConnections.push({ appId, deviceId: url.searchParams.get("device_id") });
}

/** Largest `size` a /download path serves (the gateway's streaming benchmarks ask for 10 MiB). */
const MAX_DOWNLOAD_BYTES = 64 * 1024 * 1024;

/** Byte i of every /download answer, so a receiver can check what arrived without keeping a copy. */
export const downloadByte = (i) => (i * 31 + 7) & 0xff;

/**
 * Every other /open-apis/ path: a business API that checks the bearer token as
 * Feishu does (the verdict is in the body's code, HTTP 400) and echoes the
 * request (method, path, query, content type, body as text, its length and
 * SHA-256, the header names received). Paths ending in /rate-limited and
 * /quota-exceeded answer 99991400 and 99991403 (both HTTP 429); paths ending
 * in /download answer `?size=` bytes (default 1024) of application/octet-stream
 * (`&type=json`: labelled application/json, as a large JSON export is; `&chunked=1`:
 * no Content-Length), byte i being downloadByte(i), streamed in 64 KiB chunks.
 */
async function businessApi(state, req, res) {
  const url = new URL(req.url, "http://sandbox");
  const auth = req.headers.authorization ?? "";
  const token = auth.startsWith("Bearer ") ? auth.slice(7) : null;
  const chunks = [];
  for await (const c of req) chunks.push(c);
  const body = Buffer.concat(chunks);
  const headerNames = Object.keys(req.headers).sort();
  state.apiCalls.push({ method: req.method, path: url.pathname, query: url.search, token, headers: headerNames, bodyBytes: body.length });
  if (!token) return send(res, 400, { code: 99991661, msg: "Missing access token for authorization." });
  if (token.startsWith("u-")) {
    const verdict = userTokenVerdict(state, token, () => now(state));
    if (verdict !== 0) return refuseToken(state, res, { code: verdict, msg: "user access token invalid or expired" });
    const limited = limitsOn(state.limits) && enforce(state.limits, { who: `user ${state.oauth.accessTokens.get(token)?.openId}`, method: req.method, pathname: url.pathname, nowMs: now(state) });
    if (limited) return send(res, limited.status, limited.body, limited.headers);
    return echo(req, res, url, body, headerNames);
  }
  const live = [...state.tenantTokens.values()].some((e) => e.token === token && e.expiresAt > now(state));
  if (!live || state.revokedTokens.has(token)) {
    return refuseToken(state, res, { code: 99991663, msg: "Invalid access token for authorization. Please make a request with token attached." });
  }
  // Limits count per app and tenant: the token stands for them.
  if (limitsOn(state.limits)) {
    const holder = [...state.tenantTokens.entries()].find(([, e]) => e.token === token)?.[0] ?? token;
    const limited = enforce(state.limits, { who: holder, method: req.method, pathname: url.pathname, nowMs: now(state) });
    if (limited) return send(res, limited.status, limited.body, limited.headers);
  }
  if (url.pathname.endsWith("/rate-limited")) {
    return send(res, 429, { code: 99991400, msg: "request trigger frequency limit" }, { ...rateLimitHeaders(state), "x-ogw-ratelimit-reset": "1" });
  }
  if (url.pathname.endsWith("/quota-exceeded")) return send(res, 429, { code: 99991403, msg: "monthly API call quota exceeded" });
  if (url.pathname.endsWith("/download")) return download(res, url);
  return echo(req, res, url, body, headerNames);
}

/** A business API's answer: the request as it arrived. */
function echo(req, res, url, body, headerNames) {
  return send(res, 200, {
    code: 0,
    msg: "success",
    data: {
      method: req.method,
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      contentType: req.headers["content-type"] ?? null,
      body: body.toString("utf8"),
      bodyBytes: body.length,
      bodySha256: createHash("sha256").update(body).digest("hex"),
      headers: headerNames,
    },
  });
}

function download(res, url) {
  const size = Math.min(Math.max(Number(url.searchParams.get("size") ?? 1024) | 0, 0), MAX_DOWNLOAD_BYTES);
  const type = url.searchParams.get("type") === "json" ? "application/json; charset=utf-8" : "application/octet-stream";
  const chunked = url.searchParams.get("chunked") === "1";
  res.writeHead(200, { "content-type": type, ...(!chunked && { "content-length": String(size) }) });
  let sent = 0;
  const more = () => {
    while (sent < size) {
      const n = Math.min(64 * 1024, size - sent);
      const chunk = Buffer.allocUnsafe(n);
      for (let i = 0; i < n; i++) chunk[i] = downloadByte(sent + i);
      sent += n;
      if (!res.write(chunk)) return void res.once("drain", more);
    }
    res.end();
  };
  more();
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

function authorisedApp(state, body) {
  const app = state.apps.get(body.app_id);
  return app && body.app_secret === app.appSecret ? app : null;
}

async function appToken(state, body, req, res) {
  const fault = takeQueuedFault(state);
  if (fault && (await injectFault(state, fault, res))) return;
  const h = rateLimitHeaders(state);
  const app = authorisedApp(state, body);
  if (!app) return send(res, 400, BAD_APP, h);
  if (!ticketAccepted(app, body.app_ticket)) {
    return send(res, 400, { code: 10012, msg: "app_ticket is invalid" }, h);
  }
  const issued = issue(state, state.issuedAppTokens, body.app_id, "a-");
  const { expiresAt } = state.issuedAppTokens.get(body.app_id);
  state.appTokens.set(issued.token, { appId: body.app_id, expiresAt });
  const expire = fault === "expiring" ? Math.min(600, issued.expire) : issued.expire;
  return send(res, 200, { code: 0, msg: "ok", app_access_token: issued.token, expire }, h);
}

async function ticketResend(state, body, req, res) {
  const fault = takeQueuedFault(state);
  if (fault && (await injectFault(state, fault, res))) return;
  const h = rateLimitHeaders(state);
  if (!authorisedApp(state, body)) return send(res, 400, BAD_APP, h);
  state.resendCalls += 1;
  // Feishu answers at once and pushes later, so receivers must not expect the ticket in this reply.
  const appId = body.app_id;
  later(state, state.config.resendDelayMs, () => pushTicket(state, appId, "resend"));
  return send(res, 200, { code: 0, msg: "ok" }, h);
}

/** A self-built app's own tenant token: 10014 for a disabled app, 10015 for a wrong secret. */
const internalTenantToken = (state, body, req, res) => internalToken(state, body, res, "tenant_access_token");
/** A self-built app's app token: same rules, an `a-` token. */
const internalAppToken = (state, body, req, res) => internalToken(state, body, res, "app_access_token");

async function internalToken(state, body, res, member) {
  const fault = takeQueuedFault(state);
  if (fault && (await injectFault(state, fault, res))) return;
  const h = rateLimitHeaders(state);
  const app = Object.hasOwn(SANDBOX_SELF_BUILT_APPS, body.app_id) ? SANDBOX_SELF_BUILT_APPS[body.app_id] : null;
  if (!app || typeof body.app_secret !== "string") return send(res, 400, BAD_APP, h);
  if (body.app_secret !== app.appSecret) return send(res, 400, { code: 10015, msg: "app secret invalid" }, h);
  if (app.disabled) return send(res, 400, { code: 10014, msg: "app is disabled" }, h);
  const tenant = member === "tenant_access_token";
  const issued = tenant
    ? issue(state, state.tenantTokens, `internal|${body.app_id}`, "t-")
    : issue(state, state.issuedAppTokens, `internal|${body.app_id}`, "a-");
  const expire = fault === "expiring" ? Math.min(600, issued.expire) : issued.expire;
  return send(res, 200, { code: 0, msg: "ok", [member]: issued.token, expire }, h);
}

const newTicket = () => `tkt-${randomBytes(16).toString("hex")}`;

/** The old ticket stays valid until the next rotation, so a receiver that just missed a push is not locked out. */
function rotateTicket(app) {
  app.previousTicket = app.ticket;
  app.ticket = newTicket();
  return app.ticket;
}

function ticketAccepted(app, ticket) {
  return typeof ticket === "string" && (ticket === app.ticket || ticket === app.previousTicket);
}

/**
 * One callback config. Returns { cb }, { appId, remove: true } for {url: null},
 * or { error }. Fields: appId (default cli_sandbox_app_one; app_id also read),
 * url, encryptKey?, verificationToken?, everySecs? (0 = no timer), schema? ("1.0" | "2.0").
 */
function parseCallback(input) {
  if (typeof input !== "object" || input === null) return { error: "callback config must be an object" };
  const appId = input.appId ?? input.app_id ?? DEFAULT_CALLBACK_APP;
  if (!Object.hasOwn(SANDBOX_APPS, appId)) return { error: `unknown app ${appId}` };
  if (input.url === null) return { appId, remove: true };
  if (!isHttpUrl(input.url)) return { error: "url must be an absolute http(s) URL" };
  const { encryptKey, verificationToken, everySecs = 0, schema = "1.0" } = input;
  for (const [name, v] of Object.entries({ encryptKey, verificationToken })) {
    if (v != null && typeof v !== "string") return { error: `${name} must be a string` };
  }
  // A timer under 10 ms would only flood the receiver.
  if (!Number.isFinite(everySecs) || (everySecs !== 0 && everySecs < 0.01)) {
    return { error: "everySecs must be 0 (no timer) or at least 0.01" };
  }
  if (schema !== "1.0" && schema !== "2.0") return { error: 'schema must be "1.0" or "2.0"' };
  // An empty encrypt key means none, as in Feishu's console.
  const cb = {
    appId,
    url: input.url,
    encryptKey: encryptKey || undefined,
    verificationToken: verificationToken ?? undefined,
    everySecs,
    schema,
  };
  return { cb: Object.freeze(cb) };
}

function isHttpUrl(value) {
  try {
    return typeof value === "string" && /^https?:$/.test(new URL(value).protocol);
  } catch {
    return false;
  }
}

/** startSandbox's `callback` option: none, one config or a list; a bad one is a caller bug, so it throws. */
function parseCallbacks(input) {
  const list = input == null ? [] : Array.isArray(input) ? input : [input];
  const out = [];
  for (const item of list) {
    const parsed = parseCallback(item);
    if (parsed.error) throw new Error(`sandbox callback: ${parsed.error}`);
    if (parsed.cb) out.push(parsed.cb);
  }
  return out;
}

/** As on Feishu once an app is set up: a first ticket right away, then one per timer tick. */
function startCallbacks(state) {
  for (const appId of state.callbacks.keys()) {
    pushTicket(state, appId, "start");
    armTimer(state, appId);
  }
}

/** (Re)arms the app's push timer from its current callback config; unref'd so it never keeps a process alive. */
function armTimer(state, appId) {
  const { timers } = state.runtime;
  clearInterval(timers.get(appId));
  timers.delete(appId);
  const cb = state.callbacks.get(appId);
  if (!cb?.everySecs || state.runtime.closed) return;
  timers.set(appId, setInterval(() => pushTicket(state, appId, "timer"), cb.everySecs * 1000).unref());
}

/** A one-shot timer that reset and close cancel; none starts after close (a request may still be finishing). */
function later(state, ms, fn) {
  const { pending, closed } = state.runtime;
  if (closed) return;
  const t = setTimeout(() => {
    pending.delete(t);
    fn();
  }, ms).unref();
  pending.add(t);
}

/** Rotates the app's ticket and, if the app has a callback, delivers it with retries. */
function pushTicket(state, appId, reason) {
  const ticket = rotateTicket(state.apps.get(appId));
  const cb = state.callbacks.get(appId);
  if (cb) deliver(state, cb, ticketEvent(cb, ticket), { reason, ticket, attempt: 1 });
  return ticket;
}

async function deliver(state, cb, event, job) {
  const rt = state.runtime;
  const epoch = rt.epoch;
  const answer = await postEvent(cb, event, rt.inflight);
  if (rt.epoch !== epoch) return;
  recordPush(state, cb, job, answer);
  if (answer.ok || !retryWanted(state, cb, job)) return;
  if (job.attempt > PUSH_RETRIES) {
    state.pushes.gaveUp += 1;
    const why = describe(answer);
    return log(state, `gave up pushing the ${job.reason} ticket of ${cb.appId} to ${cb.url} after ${job.attempt} attempts (${why})`);
  }
  later(state, state.config.pushRetryMs, () => deliver(state, cb, event, { ...job, attempt: job.attempt + 1 }));
}

/** Redelivering a ticket that a newer one replaced, or to a callback since changed, would only confuse the receiver. */
function retryWanted(state, cb, job) {
  return state.callbacks.get(cb.appId) === cb && state.apps.get(cb.appId).ticket === job.ticket;
}

function recordPush(state, cb, job, answer) {
  state.pushes[answer.ok ? "ok" : "failed"] += 1;
  state.lastPush = {
    appId: cb.appId,
    reason: job.reason,
    attempt: job.attempt,
    ok: answer.ok,
    status: answer.status,
    error: answer.error,
    at: new Date().toISOString(),
  };
}

const describe = (answer) => answer.error ?? `HTTP ${answer.status}`;

async function control(state, req, res, pathname) {
  const text = req.method === "POST" ? await readBody(req) : "";
  let body = {};
  try {
    body = text ? JSON.parse(text) : {};
  } catch {
    return send(res, 400, { error: "body is not JSON" });
  }
  if (typeof body !== "object" || body === null) return send(res, 400, { error: "body must be a JSON object" });
  switch (`${req.method} ${pathname}`) {
    case "GET /__sandbox":
    case "GET /__sandbox/":
      return send(res, 200, { apps: SANDBOX_APPS, tenant: SANDBOX_TENANT, faults: FAULTS, paths: PATHS, controls: CONTROLS });
    case "GET /__sandbox/stats":
      return send(res, 200, snapshot(state));
    case "POST /__sandbox/reset":
      resetState(state);
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
    case "POST /__sandbox/user/grant": {
      const r = grantUser(state, body, () => now(state));
      return send(res, r.error ? 400 : 200, r);
    }
    case "POST /__sandbox/user/token/invalidate": {
      const r = invalidateUserTokens(state, body);
      return send(res, r.error ? 400 : 200, r);
    }
    case "POST /__sandbox/user/revoke": {
      const r = revokeUser(state, body);
      return send(res, r.error ? 400 : 200, r);
    }
    case "POST /__sandbox/limits": {
      const r = setLimits(state.limits, body);
      return send(res, r.error ? 400 : 200, r);
    }
    case "POST /__sandbox/token/revoke": {
      if (typeof body.token !== "string") return send(res, 400, { error: "token must be a string" });
      state.revokedTokens.add(body.token);
      // Feishu hands out a new token once it stopped accepting the old one.
      for (const [k, e] of state.tenantTokens) if (e.token === body.token) state.tenantTokens.delete(k);
      return send(res, 200, { revoked: body.token.length > 0 });
    }
    case "GET /__sandbox/ticket":
      return send(res, 200, Object.fromEntries([...state.apps].map(([id, a]) => [id, a.ticket])));
    case "POST /__sandbox/ticket/revoke":
      return revokeControl(state, body, res);
    case "POST /__sandbox/callback":
      return callbackControl(state, body, res);
    case "POST /__sandbox/push":
      return pushControl(state, body, res);
    case "POST /__sandbox/verify-url":
      return verifyControl(state, body, res);
    case "POST /__sandbox/message":
      return messageControl(state, body, res);
    default:
      return send(res, 404, { error: "unknown sandbox control path" });
  }
}

const appIdOf = (body) => body.app_id ?? body.appId ?? DEFAULT_CALLBACK_APP;

/** A new ticket the receiver never hears of: what it holds is now stale, as after pushes it missed. */
function revokeControl(state, body, res) {
  const appId = appIdOf(body);
  const app = Object.hasOwn(SANDBOX_APPS, appId) ? state.apps.get(appId) : null;
  if (!app) return send(res, 400, { error: `unknown app ${appId}` });
  app.ticket = newTicket();
  app.previousTicket = null;
  return send(res, 200, { app_id: appId, ticket: app.ticket });
}

function callbackControl(state, body, res) {
  const parsed = parseCallback(body);
  if (parsed.error) return send(res, 400, { error: parsed.error });
  if (parsed.remove) state.callbacks.delete(parsed.appId);
  else state.callbacks.set(parsed.cb.appId, parsed.cb);
  armTimer(state, parsed.appId ?? parsed.cb.appId);
  return send(res, 200, { callbacks: callbackViews(state) });
}

function configuredCallback(state, body) {
  const appId = appIdOf(body);
  if (!Object.hasOwn(SANDBOX_APPS, appId)) return { status: 400, error: `unknown app ${appId}` };
  const cb = state.callbacks.get(appId);
  return cb ? { cb } : { status: 409, error: `no callback configured for ${appId}; POST /__sandbox/callback first` };
}

/** One delivery, no retry, so a test sees exactly what its receiver answered. */
async function pushControl(state, body, res) {
  const { cb, status, error } = configuredCallback(state, body);
  if (!cb) return send(res, status, { error });
  const rt = state.runtime;
  const epoch = rt.epoch;
  const ticket = rotateTicket(state.apps.get(cb.appId));
  const answer = await postEvent(cb, ticketEvent(cb, ticket), rt.inflight);
  if (rt.epoch === epoch) recordPush(state, cb, { reason: "manual", ticket, attempt: 1 }, answer);
  return send(res, 200, { ok: answer.ok, status: answer.status, body: answer.body, error: answer.error, ticket });
}

/** A message sent to the bot: Feishu's im.message.receive_v1, pushed once to the callback. */
async function messageControl(state, body, res) {
  const { cb, status, error } = configuredCallback(state, body);
  if (!cb) return send(res, status, { error });
  const id = (n) => randomBytes(n).toString("hex");
  const messageId = typeof body.message_id === "string" ? body.message_id : `om_${id(16)}`;
  const event = {
    schema: "2.0",
    header: { event_id: id(16), event_type: "im.message.receive_v1", create_time: String(Date.now()), token: cb.verificationToken ?? "", app_id: cb.appId, tenant_key: SANDBOX_TENANT },
    event: {
      sender: { sender_id: { open_id: "ou_sandbox_alice" }, sender_type: "user", tenant_key: SANDBOX_TENANT },
      message: { message_id: messageId, chat_id: "oc_sandbox_chat", chat_type: "p2p", message_type: "text", content: JSON.stringify({ text: String(body.text ?? "hello from the sandbox") }), create_time: String(Date.now()) },
    },
  };
  const answer = await postEvent(cb, event, state.runtime.inflight);
  return send(res, 200, { status: answer.status, body: answer.body, event_id: event.header.event_id, message_id: messageId });
}

async function verifyControl(state, body, res) {
  const { cb, status, error } = configuredCallback(state, body);
  if (!cb) return send(res, status, { error });
  const event = challengeEvent(cb);
  const answer = await postEvent(cb, event, state.runtime.inflight, { signed: body.signed !== false });
  const ok = answer.ok && echoesChallenge(answer.body, event.challenge);
  return send(res, 200, { ok, challenge: event.challenge, status: answer.status, body: answer.body, error: answer.error });
}

function echoesChallenge(text, challenge) {
  try {
    return JSON.parse(text)?.challenge === challenge;
  } catch {
    return false;
  }
}
