// Feishu's frequency limits, as the sandbox enforces them (off until a test
// sets them): per app, tenant and API (its route, ids replaced), in fixed
// windows of one second or one minute, answered as Feishu answers (HTTP 429,
// code 99991400, `x-ogw-ratelimit-limit` and `x-ogw-ratelimit-reset`; "400"
// style: HTTP 400 as older APIs do); updates to one message or card over
// `updatesPerMessage` a second answer 230020 (HTTP 400); message sends over
// `sendsPerSecond` per app answer 11232 (HTTP 400). Facts:
// ../shared/feishu-limits.md and Feishu's "频控策略" page.

/** A path segment naming a resource (lower-case words, `_`, or a version) rather than an id. */
const isName = (s) => /^v\d+$/.test(s) || /^[a-z_-]+$/.test(s);

/** `METHOD /open-apis/...` with each id replaced by `{id}`. */
export function routeOf(method, pathname) {
  return `${method.toUpperCase()} ${pathname.split("/").map((s, i) => (i === 0 || s === "" || isName(s) ? s : "{id}")).join("/")}`;
}

/** A message or card being updated: its id, else null. */
function updatedMessage(method, pathname) {
  if (method !== "PATCH" && method !== "PUT") return null;
  const m = /^\/open-apis\/(?:im\/v1\/messages|cardkit\/v1\/cards)\/([^/]+)/.exec(pathname);
  return m ? m[1] : null;
}

export function freshLimits() {
  return {
    // route -> { limit, perSecs, style }
    rules: {},
    updatesPerMessage: 0,
    sendsPerSecond: 0,
    // key -> { window, count }
    windows: new Map(),
    refused: [],
    sent: 0,
  };
}

/** Whether any limit is set (none: the business API pays nothing for them). */
export const limitsOn = (limits) => Object.keys(limits.rules).length > 0 || limits.updatesPerMessage > 0 || limits.sendsPerSecond > 0;

/** `POST /__sandbox/limits` body: replaces the rules; answers the settings or { error }. */
export function setLimits(limits, body) {
  const rules = {};
  for (const [route, rule] of Object.entries(body.routes ?? {})) {
    if (!/^(GET|POST|PUT|PATCH|DELETE) \/open-apis\//.test(route)) return { error: `route ${route}: "<METHOD> /open-apis/..." with {id} for ids` };
    const limit = Number(rule?.limit);
    const perSecs = rule?.per === "min" ? 60 : 1;
    if (!(Number.isInteger(limit) && limit > 0)) return { error: `route ${route}: limit must be a positive whole number` };
    rules[route] = { limit, perSecs, style: rule?.style === "400" ? "400" : "429" };
  }
  limits.rules = rules;
  limits.updatesPerMessage = Number.isInteger(body.updatesPerMessage) ? body.updatesPerMessage : 0;
  limits.sendsPerSecond = Number.isInteger(body.sendsPerSecond) ? body.sendsPerSecond : 0;
  limits.windows.clear();
  limits.refused = [];
  limits.sent = 0;
  return { rules, updatesPerMessage: limits.updatesPerMessage, sendsPerSecond: limits.sendsPerSecond };
}

/** Counts one call in `key`'s current window of `perSecs`; whether it is over `limit`, and the seconds until the window ends. */
function count(limits, key, limit, perSecs, nowMs) {
  const window = Math.floor(nowMs / (perSecs * 1000));
  const w = limits.windows.get(key);
  const current = w && w.window === window ? w : { window, count: 0 };
  current.count++;
  limits.windows.set(key, current);
  const resetSecs = Math.max(1, Math.ceil(((window + 1) * perSecs * 1000 - nowMs) / 1000));
  return { over: current.count > limit, resetSecs };
}

/**
 * A business API call by `who` (the app and tenant or user its token stands
 * for): null to answer it, or the refusal { status, body, headers }.
 */
export function enforce(limits, { who, method, pathname, nowMs }) {
  const route = routeOf(method, pathname);
  const refuse = (status, body, headers, kind) => {
    limits.refused.push({ at: nowMs, route, kind });
    return { status, body, headers };
  };
  const message = updatedMessage(method, pathname);
  if (message && limits.updatesPerMessage > 0) {
    const c = count(limits, `message ${message}`, limits.updatesPerMessage, 1, nowMs);
    if (c.over) return refuse(400, { code: 230020, msg: "The message or chat is being operated too frequently, please try again later" }, {}, "230020");
  }
  if (route === "POST /open-apis/im/v1/messages" && limits.sendsPerSecond > 0) {
    const c = count(limits, `sends ${who}`, limits.sendsPerSecond, 1, nowMs);
    if (c.over) return refuse(400, { code: 11232, msg: "message service frequency limit" }, {}, "11232");
  }
  const rule = limits.rules[route];
  if (rule) {
    const c = count(limits, `${who} ${route}`, rule.limit, rule.perSecs, nowMs);
    if (c.over) {
      const headers = { "x-ogw-ratelimit-limit": String(rule.limit), "x-ogw-ratelimit-reset": String(c.resetSecs) };
      return refuse(rule.style === "400" ? 400 : 429, { code: 99991400, msg: "request trigger frequency limit" }, headers, "99991400");
    }
  }
  limits.sent++;
  return null;
}
