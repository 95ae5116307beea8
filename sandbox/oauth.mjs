// The sandbox's user sign-in, as Feishu's OAuth 2 behaves (../shared facts,
// "User access tokens"): the authorize page (a form that signs a chosen
// user in), the v2 token endpoint (authorization_code with PKCE S256;
// refresh_token, single-use: each refresh returns a new one and a reused one
// answers 20064; an expired one 20037), user_info, and what business APIs
// say to a user token (99991668 invalid, 99991677 expired).
import { createHash, randomBytes } from "node:crypto";

/** Users who can sign in, by open_id. */
export const SANDBOX_USERS = Object.freeze({
  ou_sandbox_alice: { name: "Alice" },
  ou_sandbox_bob: { name: "Bob" },
});

export const OAUTH_PATHS = Object.freeze({
  authorize: "/open-apis/authen/v1/authorize",
  token: "/open-apis/authen/v2/oauth/token",
  userInfo: "/open-apis/authen/v1/user_info",
});

/** A code is good for this long, once. */
const CODE_SECS = 300;

export function freshOAuthState() {
  return {
    codes: new Map(), // code -> { clientId, redirectUri, challenge, scope, openId, expiresAt }
    accessTokens: new Map(), // token -> { openId, clientId, expiresAt }
    refreshTokens: new Map(), // token -> { openId, clientId, scope, expiresAt, used }
    revokedUsers: new Set(),
    refreshCalls: 0,
    codeCalls: 0,
    /** How many times each refresh token was presented (a client must never send one twice). */
    refreshTokenUses: new Map(),
    signIns: [],
  };
}

export function oauthStats(o) {
  return {
    refreshCalls: o.refreshCalls,
    codeCalls: o.codeCalls,
    refreshTokensSentTwice: [...o.refreshTokenUses.values()].filter((n) => n > 1).length,
    signIns: o.signIns.map((s) => ({ ...s })),
    liveRefreshTokens: [...o.refreshTokens.values()].filter((r) => !r.used).length,
  };
}

const html = (res, status, body) => {
  res.writeHead(status, { "content-type": "text/html; charset=utf-8", "content-length": Buffer.byteLength(body) });
  res.end(body);
};
const json = (res, status, body) => {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(text) });
  res.end(text);
};
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const token = (prefix) => prefix + randomBytes(20).toString("hex");
const s256 = (verifier) => createHash("sha256").update(verifier).digest("base64url");

/**
 * Handles the OAuth paths; false for any other. `apps(clientId)` is the
 * app's secret, or undefined for an unknown app; `now()` the sandbox's clock.
 */
export async function oauth(state, req, res, pathname, { appSecret, now, readBody }) {
  const o = state.oauth;
  const url = new URL(req.url, "http://sandbox");
  if (pathname === OAUTH_PATHS.authorize && req.method === "GET") {
    const q = Object.fromEntries(url.searchParams);
    const problems = [];
    if (!appSecret(q.client_id)) problems.push("unknown client_id");
    if (!/^https?:\/\//.test(q.redirect_uri ?? "")) problems.push("redirect_uri must be an absolute http(s) URL");
    if (q.code_challenge_method !== "S256" || !q.code_challenge) problems.push("PKCE S256 is required");
    if (problems.length) return html(res, 400, `<!doctype html><p>${esc(problems.join("; "))}</p>`), true;
    const user = q.user;
    if (!user) {
      // The page: one button per user; choosing one signs them in.
      const buttons = Object.entries(SANDBOX_USERS)
        .map(([id, u]) => `<button name="user" value="${esc(id)}" data-open-id="${esc(id)}">Sign in as ${esc(u.name)}</button>`)
        .join(" ");
      const hidden = Object.entries(q)
        .map(([k, v]) => `<input type="hidden" name="${esc(k)}" value="${esc(v)}">`)
        .join("");
      return html(res, 200, `<!doctype html><title>Feishu sign-in (sandbox)</title><link rel="icon" href="data:,"><h1>Sign in to ${esc(q.client_id)} (sandbox)</h1><p>Scopes: ${esc(q.scope ?? "")}</p><form method="get" action="${OAUTH_PATHS.authorize}">${hidden}${buttons}</form>`), true;
    }
    if (!Object.hasOwn(SANDBOX_USERS, user)) return html(res, 400, "<p>unknown user</p>"), true;
    const code = token("code-");
    o.codes.set(code, { clientId: q.client_id, redirectUri: q.redirect_uri, challenge: q.code_challenge, scope: q.scope ?? "", openId: user, expiresAt: now() + CODE_SECS * 1000 });
    o.signIns.push({ openId: user, clientId: q.client_id });
    const back = new URL(q.redirect_uri);
    back.searchParams.set("code", code);
    if (q.state !== undefined) back.searchParams.set("state", q.state);
    res.writeHead(302, { location: back.href, "content-length": 0 });
    res.end();
    return true;
  }
  if (pathname === OAUTH_PATHS.token) {
    if (req.method !== "POST") return json(res, 405, { code: 405, msg: "method not allowed" }), true;
    let body;
    try {
      body = JSON.parse((await readBody(req)) ?? "");
    } catch {
      return json(res, 400, { code: 20001, error: "invalid_request", error_description: "body is not JSON" }), true;
    }
    const secret = appSecret(body.client_id);
    if (!secret || body.client_secret !== secret) {
      return json(res, 400, { code: 20002, error: "invalid_client", error_description: "client_id or client_secret is wrong" }), true;
    }
    if (body.grant_type === "authorization_code") return codeGrant(state, body, res, now), true;
    if (body.grant_type === "refresh_token") return refreshGrant(state, body, res, now), true;
    return json(res, 400, { code: 20001, error: "unsupported_grant_type", error_description: "grant_type" }), true;
  }
  if (pathname === OAUTH_PATHS.userInfo) {
    const bearer = (req.headers.authorization ?? "").replace(/^Bearer /, "");
    const verdict = userTokenVerdict(state, bearer, now);
    if (verdict !== 0) return json(res, 400, { code: verdict, msg: "user access token invalid or expired" }), true;
    const openId = o.accessTokens.get(bearer).openId;
    return json(res, 200, { code: 0, msg: "success", data: { open_id: openId, name: SANDBOX_USERS[openId].name } }), true;
  }
  return false;
}

function grant(state, { openId, clientId, scope }, now) {
  const o = state.oauth;
  const c = state.config;
  const access = token("u-");
  o.accessTokens.set(access, { openId, clientId, expiresAt: now() + c.userTokenSecs * 1000 });
  const answer = { code: 0, access_token: access, expires_in: c.userTokenSecs, token_type: "Bearer", scope };
  if (scope.split(" ").includes("offline_access")) {
    const refresh = token("ur-");
    o.refreshTokens.set(refresh, { openId, clientId, scope, expiresAt: now() + c.refreshTokenSecs * 1000, used: false });
    Object.assign(answer, { refresh_token: refresh, refresh_token_expires_in: c.refreshTokenSecs });
  }
  return answer;
}

function codeGrant(state, body, res, now) {
  const o = state.oauth;
  o.codeCalls++;
  const c = o.codes.get(body.code);
  o.codes.delete(body.code); // once, whatever happens
  if (!c || c.expiresAt <= now() || c.clientId !== body.client_id) return json(res, 400, { code: 20003, error: "invalid_grant", error_description: "code invalid or used" });
  if (c.redirectUri !== body.redirect_uri) return json(res, 400, { code: 20003, error: "invalid_grant", error_description: "redirect_uri differs" });
  if (typeof body.code_verifier !== "string" || s256(body.code_verifier) !== c.challenge) {
    return json(res, 400, { code: 20003, error: "invalid_grant", error_description: "code_verifier does not match" });
  }
  return json(res, 200, grant(state, c, now));
}

function refreshGrant(state, body, res, now) {
  const o = state.oauth;
  o.refreshCalls++;
  o.refreshTokenUses.set(body.refresh_token, (o.refreshTokenUses.get(body.refresh_token) ?? 0) + 1);
  const r = o.refreshTokens.get(body.refresh_token);
  if (!r || r.clientId !== body.client_id) return json(res, 400, { code: 20026, error: "invalid_grant", error_description: "refresh token invalid" });
  if (r.used || o.revokedUsers.has(r.openId)) return json(res, 400, { code: 20064, error: "invalid_grant", error_description: "refresh token revoked" });
  if (r.expiresAt <= now()) return json(res, 400, { code: 20037, error: "invalid_grant", error_description: "refresh token expired" });
  r.used = true;
  return json(res, 200, grant(state, r, now));
}

/** 0 for a live user token, else Feishu's code: 99991677 expired, 99991668 invalid. */
export function userTokenVerdict(state, bearer, now) {
  const t = state.oauth.accessTokens.get(bearer);
  if (!t || state.oauth.revokedUsers.has(t.openId)) return 99991668;
  if (t.expiresAt <= now()) return 99991677;
  return 0;
}

/** `POST /__sandbox/user/grant` `{open_id, client_id}`: the grant a sign-in with offline_access would give. */
export function grantUser(state, body, now) {
  if (!Object.hasOwn(SANDBOX_USERS, body.open_id)) return { error: `unknown user ${body.open_id}` };
  if (typeof body.client_id !== "string" || !body.client_id) return { error: "client_id is required" };
  return grant(state, { openId: body.open_id, clientId: body.client_id, scope: "offline_access" }, now);
}

/**
 * `POST /__sandbox/user/token/invalidate` `{open_id}`: Feishu ends the user's
 * live user tokens early (API calls with them answer 99991668); their refresh
 * token still works, so a client that refreshes heals.
 */
export function invalidateUserTokens(state, body) {
  if (!Object.hasOwn(SANDBOX_USERS, body.open_id)) return { error: `unknown user ${body.open_id}` };
  let n = 0;
  for (const [token, t] of state.oauth.accessTokens) {
    if (t.openId === body.open_id) {
      state.oauth.accessTokens.delete(token);
      n++;
    }
  }
  return { invalidated: n };
}

/** `POST /__sandbox/user/revoke` `{open_id}`: the user's grants stop working (refresh 20064, API 99991668). */
export function revokeUser(state, body) {
  if (!Object.hasOwn(SANDBOX_USERS, body.open_id)) return { error: `unknown user ${body.open_id}` };
  state.oauth.revokedUsers.add(body.open_id);
  return { revoked: body.open_id };
}
