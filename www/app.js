// The demo: the npm package's browser build, driven by the form. Through the
// Worker each click is one request (the Worker's cache answers: x-cache); to
// the sandbox or another base URL, a TenantTokenClient caches in the page.
import { SelfBuiltAppClient, TenantTokenClient, getTenantAccessToken } from "/pkg/web.js";

const $ = (id) => document.getElementById(id);
const LIFETIME_MS = 2 * 3600_000; // Feishu: a token lives at most 2 hours
const WINDOW_MS = 1800_000; //       and is replaced in its last 30 minutes

const config = await fetch("/config.json").then((r) => (r.ok ? r.json() : {})).catch(() => ({}));
$("appAccessToken").value = config.appAccessToken ?? "";
$("tenantKey").value = config.tenantKey ?? "";
if (!config.workerUrl) document.querySelector('input[value="worker"]').closest("label").hidden = true;
if (!config.workerUrl) document.querySelector(`input[value="${config.sandboxUrl ? "sandbox" : "custom"}"]`).checked = true;

const target = () => document.querySelector('input[name="target"]:checked').value;
const baseUrl = () => ({ worker: config.workerUrl, sandbox: config.sandboxUrl, custom: $("customUrl").value.trim() })[target()] ?? "";

function showTarget() {
  $("customRow").hidden = target() !== "custom";
  $("baseShown").textContent = target() === "custom" ? "" : `Base URL: ${baseUrl()}`;
}
for (const r of document.querySelectorAll('input[name="target"]')) r.addEventListener("change", showTarget);
showTarget();

// Remembers the headers of the last answer, to show the Worker's x-cache.
let lastHeaders = null;
const recordingFetch = async (input, init) => {
  const resp = await fetch(input, init);
  lastHeaders = resp.headers;
  return resp;
};

const clients = new Map();
function clientFor(url) {
  if (!clients.has(url)) clients.set(url, new TenantTokenClient({ baseUrl: url, fetch: recordingFetch }));
  return clients.get(url);
}

let current = null;
let revealed = false;
let timer = null;
const mask = (t) => `${t.slice(0, 6)}${"•".repeat(12)}${t.slice(-4)}`;
const clock = (ms) => new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });

function render() {
  if (!current) return;
  $("token").textContent = revealed ? current.tenantAccessToken : mask(current.tenantAccessToken);
  $("reveal").textContent = revealed ? "Hide" : "Reveal";
  const left = Math.max(0, current.expiresAt - Date.now());
  const s = Math.floor(left / 1000);
  $("expire").textContent = `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, "0")} s`;
  const start = current.expiresAt - LIFETIME_MS;
  const rotateAt = current.expiresAt - WINDOW_MS;
  const pos = Math.min(1, Math.max(0, (Date.now() - start) / LIFETIME_MS));
  $("now").style.left = `calc(${(pos * 100).toFixed(2)}% - 1px)`;
  $("tStart").textContent = clock(start);
  $("tRotate").textContent = clock(rotateAt);
  $("tEnd").textContent = clock(current.expiresAt);
  const untilRotate = rotateAt - Date.now();
  $("next").textContent =
    untilRotate > 0
      ? `A fetch after ${clock(rotateAt)} (in ${Math.ceil(untilRotate / 60000)} min) returns a new token; until then caches serve this one.`
      : "Inside the 30-minute window: the next fetch returns a new token.";
}

$("reveal").addEventListener("click", () => {
  revealed = !revealed;
  render();
});

$("form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  $("error").hidden = true;
  const request = { appAccessToken: $("appAccessToken").value, tenantKey: $("tenantKey").value };
  const url = baseUrl();
  lastHeaders = null;
  const started = performance.now();
  try {
    let source;
    if (target() === "worker") {
      current = await getTenantAccessToken(request, { baseUrl: url, fetch: recordingFetch });
      const layer = lastHeaders?.get("x-cache-layer");
      source = `Worker · ${lastHeaders?.get("x-cache") ?? "?"}${layer ? ` (${layer})` : ""}`;
    } else {
      const client = clientFor(url);
      const hits = client.stats().hits;
      current = await client.get(request);
      source = client.stats().hits > hits ? "module cache (HIT)" : "Feishu (MISS)";
    }
    $("source").textContent = source;
    $("latency").textContent = `${(performance.now() - started).toFixed(1)} ms`;
    $("expiresAt").textContent = new Date(current.expiresAt).toLocaleString();
    $("result").hidden = false;
    render();
    clearInterval(timer);
    timer = setInterval(render, 1000);
  } catch (e) {
    $("errorCode").textContent = e.code ?? e.name ?? "Error";
    $("errorFeishu").textContent = e.feishuCode !== undefined ? `Feishu ${e.feishuCode}` : e.httpStatus ? `HTTP ${e.httpStatus}` : "";
    $("errorMsg").textContent = e.feishuMsg ?? e.message;
    $("error").hidden = false;
  }
});

// ---- Self-built app: a stampede, and fetch recovering from a revoked token ----

const INTERNAL = "/open-apis/auth/v3/tenant_access_token/internal";
/** What the page's self-built client sent: token requests and API answers. */
const wire = { tokenCalls: 0, answers: [] };
const watchingFetch = async (input, init) => {
  const resp = await fetch(input, init);
  const url = String(input);
  if (url.endsWith(INTERNAL)) wire.tokenCalls += 1;
  else wire.answers.push({ status: resp.status, code: await resp.clone().json().then((b) => b.code).catch(() => null) });
  return resp;
};

let sbClient = null;
let sbKey = "";
function selfBuilt() {
  const appId = $("sbAppId").value.trim();
  const appSecret = $("sbAppSecret").value;
  if (`${appId}\0${appSecret}` !== sbKey) {
    sbClient = new SelfBuiltAppClient({ appId, appSecret, baseUrl: config.sandboxUrl, fetch: watchingFetch });
    sbKey = `${appId}\0${appSecret}`;
  }
  return sbClient;
}

/** One line in a list of steps (`#steps` by default). */
function step(text, kind = "", list = "steps") {
  const li = document.createElement("li");
  li.textContent = text;
  if (kind) li.className = kind;
  $(list).append(li);
}

function showStats(c) {
  const s = c.stats();
  $("sbStats").textContent = `stats(): ${s.hits} hits, ${s.misses} misses, ${s.upstreamCalls} upstream calls, ${s.coalescedWaits} coalesced waits, ${s.recoveries} recoveries`;
}

async function run(action) {
  $("steps").replaceChildren();
  for (const b of ["stampede", "revokeCall"]) $(b).disabled = true;
  try {
    await action(selfBuilt());
  } catch (e) {
    step(`${e.code ?? e.name}: ${e.feishuMsg ?? e.message}`, "bad");
  } finally {
    for (const b of ["stampede", "revokeCall"]) $(b).disabled = false;
    if (sbClient) showStats(sbClient);
  }
}

if (config.sandboxUrl && config.selfBuilt) {
  $("sbAppId").value = config.selfBuilt.appId;
  $("sbAppSecret").value = config.selfBuilt.appSecret;
  $("selfBuilt").hidden = false;
}

$("stampede").addEventListener("click", () =>
  run(async (c) => {
    c.invalidate();
    const before = wire.tokenCalls;
    const started = performance.now();
    const tokens = await Promise.all(Array.from({ length: 200 }, () => c.tenantToken()));
    const calls = wire.tokenCalls - before;
    const distinct = new Set(tokens.map((t) => t.tenantAccessToken)).size;
    step(`200 concurrent tenantToken() calls on an empty cache: ${calls} upstream token call${calls === 1 ? "" : "s"}, ${distinct} token for all, ${(performance.now() - started).toFixed(1)} ms`, calls === 1 ? "good" : "bad");
  }),
);

$("revokeCall").addEventListener("click", () =>
  run(async (c) => {
    const old = (await c.tenantToken()).tenantAccessToken;
    step(`The cached token: ${mask(old)}`);
    await fetch(`${config.sandboxUrl}/__sandbox/token/revoke`, { method: "POST", body: JSON.stringify({ token: old }) });
    step("The sandbox revokes it (as Feishu does when an app is re-installed or a token is reset)");
    wire.answers = [];
    const before = wire.tokenCalls;
    const res = await c.fetch("/open-apis/im/v1/messages?receive_id_type=chat_id", {
      method: "POST",
      headers: { "content-type": "application/json; charset=utf-8" },
      body: JSON.stringify({ receive_id: "oc_demo", msg_type: "text", content: JSON.stringify({ text: "hello" }) }),
    });
    const [first] = wire.answers;
    if (first) step(`fetch sends the message with it: HTTP ${first.status}, code ${first.code}`, first.code === 0 ? "" : "bad");
    const fresh = (await c.tenantToken()).tenantAccessToken;
    if (wire.tokenCalls > before) step(`The client drops exactly that token and gets a new one: ${mask(fresh)}`);
    const body = await res.json();
    step(`${wire.answers.length > 1 ? "It replays the request once" : "The answer"}: HTTP ${res.status}, code ${body.code}`, body.code === 0 ? "good" : "bad");
  }),
);

// Sign in with Feishu (sandbox): the Worker's user tokens (make dev binds the
// coordinator and sets a dev-only USER_TOKEN_KEY and API key).
const signedIn = new URLSearchParams(location.search).get("signed_in");
const userStep = (text, kind = "") => step(text, kind, "userSteps");
const asService = { authorization: `Bearer ${config.users?.apiKey}` };
const sandboxRefreshes = async () => (await (await fetch(`${config.sandboxUrl}/__sandbox/stats`)).json()).oauth.refreshCalls;

async function userRun(action) {
  $("userSteps").replaceChildren();
  for (const b of ["userToken", "userCallers"]) $(b).disabled = true;
  try {
    await action();
  } catch (e) {
    userStep(String(e), "bad");
  } finally {
    for (const b of ["userToken", "userCallers"]) $(b).disabled = false;
  }
}

async function getUserToken() {
  const r = await fetch(`${config.workerUrl}/v1/users/${encodeURIComponent(signedIn)}/user_access_token`, { headers: asService });
  const body = await r.json();
  if (!r.ok) throw new Error(`HTTP ${r.status} ${body.error ?? ""}: ${body.msg}${body.sign_in_url ? ` (sign in again: ${body.sign_in_url})` : ""}`);
  return body;
}

if (config.users && config.workerUrl) {
  $("users").hidden = false;
  const back = `${location.origin}${location.pathname}`;
  $("signIn").href = `${config.workerUrl}/oauth/login?return=${encodeURIComponent(back)}`;
  if (signedIn) {
    $("userWho").textContent = `Signed in as ${signedIn}: services ask the Worker for this user's token with an API key.`;
    for (const b of ["userToken", "userCallers"]) $(b).disabled = false;
  }
}

$("userToken").addEventListener("click", () =>
  userRun(async () => {
    const t = await getUserToken();
    userStep(`GET /v1/users/${signedIn}/user_access_token: ${mask(t.user_access_token)}, ${t.expire} s left`, "good");
  }),
);

$("userCallers").addEventListener("click", () =>
  userRun(async () => {
    const old = (await getUserToken()).user_access_token;
    userStep(`The user's token: ${mask(old)}`);
    await fetch(`${config.sandboxUrl}/__sandbox/advance`, { method: "POST", body: JSON.stringify({ secs: 7300 }) });
    userStep("The sandbox's clock moves 2 hours on: Feishu now answers 99991677 (expired) to it");
    const before = await sandboxRefreshes();
    const answers = await Promise.all(
      Array.from({ length: 50 }, async () => (await fetch(`${config.workerUrl}/open-apis/im/v1/chats`, { headers: { ...asService, "x-user-id": signedIn } })).json()),
    );
    const ok = answers.filter((a) => a.code === 0).length;
    const refreshes = (await sandboxRefreshes()) - before;
    userStep(`50 API calls at once with X-User-Id: ${ok} answered code 0`, ok === 50 ? "good" : "bad");
    userStep(`Refreshes Feishu saw: ${refreshes} (one for all 50: the user's object refreshed once, every call replayed with the new token)`, refreshes === 1 ? "good" : "bad");
    const now = (await getUserToken()).user_access_token;
    userStep(`The user's token now: ${mask(now)}`, now !== old ? "good" : "bad");
  }),
);
