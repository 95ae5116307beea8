// One test suite for the public JS API, run unchanged in every runtime
// (Node 20 and 22, Deno, Bun, Chromium, workerd). Standard APIs only: fetch,
// Promise, URL. Each runner imports the package by name and calls runSuite.

const APP = "a-sandbox-app-one";

class Failure extends Error {}
const check = (cond, what) => {
  if (!cond) throw new Failure(what);
};

async function rejection(promise) {
  try {
    await promise;
  } catch (e) {
    return e;
  }
  throw new Failure("expected a rejection");
}

/** A fetch that counts its calls, to prove what was (not) sent. */
function countingFetch() {
  const f = (input, init) => {
    f.calls += 1;
    return fetch(input, init);
  };
  f.calls = 0;
  return f;
}

/** The sandbox's self-built app (made-up credentials). */
const SELF = { appId: "cli_sandbox_internal_one", appSecret: "sandbox-internal-secret-one" };

/** Case name -> async (pkg, ctx) => void; a throw is a failure. */
export const CASES = {
  "token from the sandbox": async ({ getTenantAccessToken }, { baseUrl, tenant }) => {
    const t = await getTenantAccessToken({ appAccessToken: APP, tenantKey: tenant("plain") }, { baseUrl });
    check(/^t-[0-9a-f]{40}$/.test(t.tenantAccessToken), `token ${t.tenantAccessToken}`);
    check(t.expire > 7000 && t.expire <= 7200, `expire ${t.expire}`);
    check(Math.abs(t.expiresAt - (Date.now() + t.expire * 1000)) < 5000, `expiresAt ${t.expiresAt}`);
  },
  "cache hit": async ({ TenantTokenClient }, { baseUrl, tenant }) => {
    const spy = countingFetch();
    const c = new TenantTokenClient({ baseUrl, fetch: spy });
    const req = { appAccessToken: APP, tenantKey: tenant("hit") };
    const a = await c.get(req);
    const b = await c.get(req);
    check(a.tenantAccessToken === b.tenantAccessToken, "same token");
    check(spy.calls === 1, `${spy.calls} requests`);
    const s = c.stats();
    check(s.hits === 1 && s.misses === 1 && s.upstreamCalls === 1, JSON.stringify(s));
  },
  "single-flight": async ({ TenantTokenClient }, { baseUrl, tenant }) => {
    const spy = countingFetch();
    const c = new TenantTokenClient({ baseUrl, fetch: spy });
    const req = { appAccessToken: APP, tenantKey: tenant("flight") };
    const all = await Promise.all(Array.from({ length: 20 }, () => c.get(req)));
    check(new Set(all.map((t) => t.tenantAccessToken)).size === 1, "one token");
    check(spy.calls === 1, `${spy.calls} requests`);
    check(c.stats().coalescedWaits === 19, JSON.stringify(c.stats()));
  },
  "API error code": async ({ getTenantAccessToken }, { baseUrl }) => {
    const e = await rejection(getTenantAccessToken({ appAccessToken: "a-unknown", tenantKey: "t" }, { baseUrl }));
    check(e instanceof Error && e.name === "FeishuTokenError", `${e?.name}`);
    check(e.code === "FEISHU_API_ERROR" && e.feishuCode === 99991664 && e.httpStatus === 400, `${e.code} ${e.feishuCode}`);
    check(!String(e.message).includes("a-unknown"), "no secret in the message");
  },
  "invalid input sends nothing": async ({ TenantTokenClient, getTenantAccessToken }, { baseUrl }) => {
    const spy = countingFetch();
    const c = new TenantTokenClient({ baseUrl, fetch: spy });
    for (const bad of [{}, { appAccessToken: APP }, { appAccessToken: " ", tenantKey: "t" }, { appAccessToken: `${APP}\n`, tenantKey: "t" }]) {
      const e = await rejection(c.get(bad));
      check(e.code === "INVALID_INPUT", `${e.code} for ${JSON.stringify(bad)}`);
    }
    const e = await rejection(getTenantAccessToken({ appAccessToken: APP, tenantKey: "t" }, { baseUrl: "http://example.com", fetch: spy }));
    check(e.code === "INVALID_INPUT", `plain http: ${e.code}`);
    check(spy.calls === 0, `${spy.calls} requests`);
  },
  "self-built app": async ({ SelfBuiltAppClient }, { baseUrl }) => {
    const spy = countingFetch();
    const c = new SelfBuiltAppClient({ appId: "cli_sandbox_internal_one", appSecret: "sandbox-internal-secret-one", baseUrl, fetch: spy });
    const all = await Promise.all(Array.from({ length: 10 }, () => c.tenantToken()));
    check(new Set(all.map((t) => t.tenantAccessToken)).size === 1, "one token");
    check(/^t-[0-9a-f]{40}$/.test(all[0].tenantAccessToken), `token ${all[0].tenantAccessToken}`);
    check(spy.calls === 1, `${spy.calls} requests`);
    check(c.invalidate("t-not-the-cached-one") === 0 && c.invalidate(all[0].tenantAccessToken) === 1, "compare-and-invalidate");
    const wrong = new SelfBuiltAppClient({ appId: "cli_sandbox_internal_one", appSecret: "wrong-secret", baseUrl });
    const e = await rejection(wrong.tenantToken());
    check(e.code === "FEISHU_API_ERROR" && e.feishuCode === 10015, `${e.code} ${e.feishuCode}`);
  },
  "fetch recovers a revoked token": async ({ SelfBuiltAppClient }, { baseUrl }) => {
    const c = new SelfBuiltAppClient({ appId: "cli_sandbox_internal_two", appSecret: "sandbox-internal-secret-two", baseUrl, minValiditySecs: 0 });
    const old = (await c.tenantToken()).tenantAccessToken;
    await fetch(`${baseUrl}/__sandbox/token/revoke`, { method: "POST", body: JSON.stringify({ token: old }) });
    const res = await c.fetch("/open-apis/im/v1/messages?receive_id_type=chat_id", { method: "POST", body: "{}" });
    const answer = await res.json();
    check(res.status === 200 && answer.code === 0, `${res.status} ${answer.code}`);
    check(c.stats().recoveries === 1, JSON.stringify(c.stats()));
    check((await c.tenantToken()).tenantAccessToken !== old, "a new token is cached");
    const e = await rejection(c.fetch("https://elsewhere.example/open-apis/x"));
    check(e.code === "INVALID_INPUT", `another origin: ${e.code}`);
  },
  "timeout": async ({ getTenantAccessToken }, { baseUrl }) => {
    const started = Date.now();
    const e = await rejection(getTenantAccessToken({ appAccessToken: APP, tenantKey: "fault-slow" }, { baseUrl, timeoutMs: 200 }));
    check(e.code === "TIMEOUT", `${e.code}: ${e.message}`);
    check(Date.now() - started < 2500, "gave up early");
  },
  // `feishu-tenant-token/user-tokens` (the runners merge its exports in).
  "user token": async ({ UserTokenClient, createPkce }, { baseUrl }) => {
    const pkce = createPkce();
    check(/^[A-Za-z0-9_-]{43}$/.test(pkce.codeVerifier) && /^[A-Za-z0-9_-]{43}$/.test(pkce.codeChallenge), "a PKCE pair");
    const user = "ou_sandbox_alice";
    const sandboxGrant = await fetch(`${baseUrl}/__sandbox/user/grant`, { method: "POST", body: JSON.stringify({ open_id: user, client_id: SELF.appId }) });
    const g = await sandboxGrant.json();
    // A compare-and-set store holding a grant whose access token is spent.
    const rows = new Map([[user, { version: 1, grant: { accessToken: g.access_token, expiresAt: Date.now() - 1000, refreshToken: g.refresh_token, refreshExpiresAt: Date.now() + 600_000, scope: g.scope } }]]);
    const store = {
      get: async (id) => rows.get(id) ?? null,
      put: async (id, grant, expected) => {
        if ((rows.get(id)?.version ?? null) !== expected) return false;
        rows.set(id, { version: (expected ?? 0) + 1, grant });
        return true;
      },
      delete: async (id) => void rows.delete(id),
    };
    const spy = countingFetch();
    const c = new UserTokenClient({ ...SELF, baseUrl, store, fetch: spy });
    const all = await Promise.all(Array.from({ length: 10 }, () => c.accessToken(user)));
    check(new Set(all.map((t) => t.userAccessToken)).size === 1, "one token for all");
    check(all[0].userAccessToken !== g.access_token, "a refreshed token");
    check(spy.calls === 1, `${spy.calls} requests`);
    // Version 2 was this client's claim (#32), 3 the rotated grant, unclaimed.
    const row = rows.get(user);
    check(row.version === 3 && row.grant.refreshToken !== g.refresh_token && !row.grant.refreshingBy, "claimed, then the rotated grant stored");
    const e = await rejection(c.accessToken("ou_sandbox_bob"));
    check(e.code === "SIGNED_OUT", `never signed in: ${e.code}`);
  },
};

/** Runs every case; never throws. Returns [{ name, ok, error }]. */
export async function runSuite(pkg, { baseUrl, runtime }) {
  const unique = `${runtime}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
  const ctx = { baseUrl, tenant: (label) => `${label}-${unique}`.replace(/[^\x21-\x7e]/g, "_").slice(0, 120) };
  const results = [];
  for (const [name, run] of Object.entries(CASES)) {
    try {
      await run(pkg, ctx);
      results.push({ name, ok: true });
    } catch (e) {
      results.push({ name, ok: false, error: `${e?.name ?? "Error"}: ${e?.message ?? e}` });
    }
  }
  return results;
}
