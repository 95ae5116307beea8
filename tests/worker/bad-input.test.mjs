// The bad-input matrix: hundreds of generated malformed requests per Worker
// endpoint. Each must get a 4xx JSON {code, msg}: never a 500, never a hang,
// never a call upstream. Counts are printed.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startSandbox } from "../sandbox/sandbox.mjs";
import { startBuiltWorker } from "./built-worker.mjs";

const TOKEN_PATH = "/open-apis/auth/v3/tenant_access_token";
const APP = "a-sandbox-app-one";
let sb;
let w;

before(async () => {
  sb = await startSandbox();
  w = await startBuiltWorker({ vars: { FEISHU_BASE_URL: sb.url, LOG_REQUESTS: "false" } });
});
after(async () => {
  await w?.mf.dispose();
  await sb?.close();
});

const deep = (n) => "[".repeat(n) + "]".repeat(n);
const big = (n) => "a".repeat(n);

/** Field values that are wrong for a token or a tenant key. */
const BAD_VALUES = [
  0, 1.5, -1, true, false, [], {}, ["a-1"], { v: "a-1" }, "", " ", "\t\n", "a b", "a\u0000b", "a\u0007", "a\u007f",
  "\u200b", "\u202eabc", "é", "中文", "😀", "a\u2028b", big(8193), big(20000),
];
/** Raw bodies that are not Feishu's request at all. */
const BAD_BODIES = [
  "", " ", "\n", "null", "true", "1", "\"str\"", "[]", "[1,2]", "{", "}", "{]", "{\"a\":}", "{'a':1}", "{a:1}",
  "{\"app_access_token\":\"a\",}", "{\"app_access_token\" \"a\"}", "\ufeff{}", "{} {}", "{}garbage", "NaN", "Infinity",
  deep(40), deep(1000), `{"a":${deep(100)}}`, "{\"\\ud800\":1}", "{\"app_access_token\":\"\\ud800\",\"tenant_key\":\"t\"}",
  "{\"app_access_token\":\"\\u0000\",\"tenant_key\":\"t\"}", `{"app_access_token":"${APP}","app_access_token":"${APP}","tenant_key":"t"}`,
  `{"app_access_token":"${APP}","tenant_key":"t","tenant_key":"u"}`, "\u0000", "\xff\xfe", "<xml/>", "app_access_token=a&tenant_key=t",
];

function tokenCases() {
  const cases = [];
  const post = (body, headers = {}) => ({ method: "POST", path: TOKEN_PATH, headers: { "content-type": "application/json", ...headers }, body });
  for (const v of BAD_VALUES) {
    cases.push(post(JSON.stringify({ app_access_token: v, tenant_key: "73658811060f175d" })));
    cases.push(post(JSON.stringify({ app_access_token: APP, tenant_key: v })));
    cases.push(post(JSON.stringify({ app_access_token: v })));
    cases.push(post(JSON.stringify({ tenant_key: v })));
    cases.push(post(JSON.stringify({ app_access_token: v, tenant_key: v, extra: v })));
  }
  for (const b of BAD_BODIES) {
    cases.push(post(b));
    cases.push(post(b, { "content-type": "application/json; charset=utf-8" }));
  }
  const good = JSON.stringify({ app_access_token: APP, tenant_key: "73658811060f175d" });
  for (const ct of ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data", "application/jsonx", "json", "", "application/json-patch+json", "text/json"]) {
    cases.push(post(good, { "content-type": ct }));
  }
  cases.push(post(JSON.stringify({ app_access_token: big(17 * 1024), tenant_key: "t" })));
  cases.push(post(big(64 * 1024)));
  for (const method of ["GET", "PUT", "DELETE", "PATCH"]) {
    cases.push({ method, path: TOKEN_PATH, headers: {}, body: method === "GET" ? undefined : good });
  }
  for (const path of [`${TOKEN_PATH}/`, TOKEN_PATH.toUpperCase(), `${TOKEN_PATH}/../app_access_token`, `/open-apis/auth/v3/%2e%2e/tenant_access_token`, `/open-apis/auth/v3/tenant_access_token%00`, `//open-apis/auth/v3/tenant_access_token`, "/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/open-apis/auth/v3/tenant_access_token/internal"]) {
    cases.push({ method: "POST", path, headers: { "content-type": "application/json" }, body: good });
  }
  for (const h of [{ "x-forwarded-for": "1".repeat(4000) }, { cookie: "a=".repeat(1000) }, { "content-type": `application/json; ${"x=y; ".repeat(500)}`.replace("application/json", "text/plain") }]) {
    cases.push(post(JSON.stringify({ app_access_token: "", tenant_key: "t" }), h));
  }
  return cases;
}

function healthCases() {
  const cases = [];
  const bodies = [undefined, "", "{}", "x", big(100), big(20000), deep(50), "\u0000", "null", "[]"];
  const headers = [{}, { "content-type": "application/json" }, { "content-type": "text/plain" }, { "x-junk": "1".repeat(2000) }, { origin: "https://evil.test" }];
  for (const method of ["POST", "PUT", "DELETE", "PATCH"]) {
    for (const body of bodies) for (const h of headers) cases.push({ method, path: "/healthz", headers: h, body: body ?? "" });
  }
  for (const path of ["/healthz/", "/HEALTHZ", "/healthz%00", "/healthz/..%2f..", "/health", "/healthzz", "/%68ealthz/x", "/healthz/../../x"]) {
    cases.push({ method: "GET", path, headers: {}, body: undefined });
  }
  return cases;
}

/** Sends every case (20 at a time), each bounded by 5 s; returns the failures. */
async function runMatrix(cases) {
  const failures = [];
  const statuses = {};
  let i = 0;
  const worker = async () => {
    while (i < cases.length) {
      const c = cases[i++];
      try {
        const resp = await Promise.race([
          w.mf.dispatchFetch(`http://worker${c.path}`, { method: c.method, headers: c.headers, body: c.body }),
          new Promise((_, reject) => setTimeout(() => reject(new Error("no answer in 5 s")), 5000).unref()),
        ]);
        const text = await resp.text();
        statuses[resp.status] = (statuses[resp.status] ?? 0) + 1;
        let body;
        try {
          body = JSON.parse(text);
        } catch {
          body = null;
        }
        const ok = resp.status >= 400 && resp.status < 500 && body && Number.isInteger(body.code) && typeof body.msg === "string";
        if (!ok) failures.push(`${c.method} ${c.path.slice(0, 60)} ${String(c.body).slice(0, 60)} -> ${resp.status} ${text.slice(0, 120)}`);
      } catch (e) {
        failures.push(`${c.method} ${c.path.slice(0, 60)} ${String(c.body).slice(0, 60)} -> ${e.message}`);
      }
    }
  };
  await Promise.all(Array.from({ length: 20 }, worker));
  return { failures, statuses };
}

for (const [name, make] of [
  ["POST /open-apis/auth/v3/tenant_access_token", tokenCases],
  ["/healthz", healthCases],
]) {
  test(`bad-input matrix: ${name}`, async () => {
    const cases = make();
    assert.ok(cases.length >= 200, `only ${cases.length} cases`);
    const { failures, statuses } = await runMatrix(cases);
    console.log(`${name}: ${cases.length} malformed requests, statuses ${JSON.stringify(statuses)}, ${failures.length} not a 4xx JSON error`);
    assert.deepEqual(failures, []);
    assert.equal(sb.stats().tenantTokenCalls, 0, "nothing malformed reached upstream");
  });
}
