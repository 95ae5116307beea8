// The bad-input matrix: hundreds of generated malformed requests per Worker
// endpoint. Each must get a 4xx JSON {code, msg}: never a 500, never a 2xx,
// never a hang, never a token issued. Counts are printed. Pass-through
// requests reach Feishu (the sandbox) by design, which refuses them; nothing
// may reach it outside /open-apis/. The managed-mode
// endpoints (POST /feishu/events, GET /v1/tenants/{tenant_key}/tenant_access_token)
// run against a second Worker holding an app's secrets, an Encrypt Key, a
// Verification Token, API keys and a stored app_ticket, which no malformed
// event may change.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { createHash, randomBytes } from "node:crypto";
import { startSandbox, SANDBOX_APPS, SANDBOX_TENANT } from "../../sandbox/sandbox.mjs";
import { ticketEvent, challengeEvent, encrypt, sign } from "../../sandbox/callback.mjs";
import { startBuiltWorker } from "./built-worker.mjs";

const TOKEN_PATH = "/open-apis/auth/v3/tenant_access_token";
const APP = "a-sandbox-app-one";
let sb;
let w;

// Managed mode: its own sandbox, so its counters see only this Worker's calls.
const APP_ID = "cli_sandbox_app_one";
const ENCRYPT_KEY = "encrypt-key-for-tests-7c1f";
const VERIFICATION_TOKEN = "verification-token-4d2e";
const API_KEY = "api-key-of-service-a-91b3-5e0c7d2f6a18b4c9";
const OTHER_KEY = "api-key-of-service-b-55aa-2d9f0b7e3c61a845";
const TICKET_KV_KEY = `ticket:v1:${APP_ID}`;
let msb;
let mw;
let storedTicket;
let managedReady;

before(async () => {
  sb = await startSandbox();
  w = await startBuiltWorker({ vars: { FEISHU_BASE_URL: sb.url, LOG_REQUESTS: "false" } });
});
after(async () => {
  await w?.mf.dispose();
  await sb?.close();
  await mw?.mf.dispose();
  await msb?.close();
});

/** Starts the managed Worker (once, when its first test runs) and has the sandbox push it a ticket. */
const startManaged = () => (managedReady ??= (async () => {
  msb = await startSandbox({ quiet: true });
  mw = await startBuiltWorker({
    vars: {
      FEISHU_BASE_URL: msb.url,
      FEISHU_APP_ID: APP_ID,
      FEISHU_APP_SECRET: SANDBOX_APPS[APP_ID].appSecret,
      FEISHU_ENCRYPT_KEY: ENCRYPT_KEY,
      FEISHU_VERIFICATION_TOKEN: VERIFICATION_TOKEN,
      API_KEYS: `${API_KEY},${OTHER_KEY}`,
      UPSTREAM_TIMEOUT_MS: "1000",
      UPSTREAM_DEADLINE_MS: "1000",
      LOG_REQUESTS: "false",
    },
    // Every refused event logs a warning: kept out of the test's output.
    onLog: () => {},
  });
  // The sandbox pushes one real (encrypted, signed) ticket, then no more.
  const control = async (name, body) => (await fetch(`${msb.url}/__sandbox/${name}`, { method: "POST", body: JSON.stringify(body) })).json();
  await control("callback", { appId: APP_ID, url: `${mw.url}/feishu/events`, encryptKey: ENCRYPT_KEY, verificationToken: VERIFICATION_TOKEN });
  const pushed = await control("push", { app_id: APP_ID });
  assert.equal(pushed.status, 200, JSON.stringify(pushed));
  await control("callback", { appId: APP_ID, url: null });
  storedTicket = await managedTicket();
  assert.equal(storedTicket, pushed.ticket, "the pushed ticket is stored");
})());

const managedTicket = () => mw.mf.getKVNamespace("TOKENS").then((ns) => ns.get(TICKET_KV_KEY));

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
  // (No content type at all is read as JSON: lark-oapi sends its token requests without one.)
  for (const ct of ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data", "application/jsonx", "json", "application/json-patch+json", "text/json"]) {
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

// ---- Managed mode: POST /feishu/events ----

const EVENTS_PATH = "/feishu/events";
const cb = { appId: APP_ID, encryptKey: ENCRYPT_KEY, verificationToken: VERIFICATION_TOKEN };
/** A header value carrying the UTF-8 bytes of `s` (fetch sends header strings as Latin-1 bytes). */
const utf8Header = (s) => Buffer.from(s).toString("latin1");
const nowSecs = () => Math.floor(Date.now() / 1000);
const hex = (bytes) => bytes.toString("hex");
const b64 = (bytes) => Buffer.from(bytes).toString("base64");
/** The three signature headers, correct for `body` unless told otherwise. */
function signedHeaders(body, { ts = String(nowSecs()), nonce = "n0nce-bad-input", key = ENCRYPT_KEY } = {}) {
  return { "X-Lark-Request-Timestamp": ts, "X-Lark-Request-Nonce": nonce, "X-Lark-Signature": sign(ts, nonce, key, body) };
}
/** {"encrypt": base64(iv || AES-CBC(plaintext))} with `key`. */
const sealedBody = (plaintext, key = ENCRYPT_KEY) => JSON.stringify({ encrypt: encrypt(key, plaintext) });
/** A ticket event for the Worker's app, carrying the right Verification Token unless told otherwise. */
const ticketPlain = (over = {}) => JSON.stringify({ ...ticketEvent(cb, "tkt-bad-input"), ...over });
const ticketWith = (event) => JSON.stringify({ ...ticketEvent(cb, "tkt-bad-input"), event });

/** Raw bodies that are not an event envelope at all. */
function eventBadBodies() {
  const manyKeys = `{${Array.from({ length: 8000 }, (_, i) => `"k${i}":${i}`).join(",")}}`;
  const nestedObjects = `${'{"a":'.repeat(1000)}1${"}".repeat(1000)}`;
  return [
    ...BAD_BODIES,
    deep(33),
    deep(60_000),
    nestedObjects,
    `{"encrypt":${deep(50)}}`,
    `{"encrypt":"${"A".repeat(64)}","encrypt":"${"A".repeat(64)}"}`,
    `{"encrypt":"${"A".repeat(64)}","encrypt":1}`,
    manyKeys,
    `{"encrypt":1e999}`,
    `{"encrypt":-0}`,
    `{"encrypt":123456789012345678901234567890}`,
    `{"encrypt":"\\ud800\\udc00\\ud800"}`,
    `{"encrypt":"\\u0000"}`,
    `{"ENCRYPT":"${"A".repeat(64)}"}`,
    `{"encrypt ":"${"A".repeat(64)}"}`,
    // Plaintext events although an Encrypt Key is set.
    ticketPlain(),
    JSON.stringify(ticketEvent({ ...cb, schema: "2.0" }, "tkt-bad-input")),
    JSON.stringify(challengeEvent(cb)),
    JSON.stringify({ ...challengeEvent(cb), token: "wrong-token" }),
    JSON.stringify({ ...challengeEvent(cb), encrypt: 1 }),
    // Not UTF-8, or not UTF-8 the way JSON is sent.
    Buffer.from([0xff, 0xfe, 0xfd]),
    Buffer.from([0xc0, 0xaf]),
    Buffer.from([0xed, 0xa0, 0x80]),
    Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('{"encrypt":"AAAA"}', "utf16le")]),
    Buffer.concat([Buffer.from('{"encrypt":"'), Buffer.from([0xc3]), Buffer.from('"}')]),
    Buffer.concat([Buffer.from('{"encrypt":"AAAA"}'), Buffer.from([0x00])]),
  ];
}

/**
 * `encrypt` members that are not base64(iv || AES-CBC blocks) of the Encrypt Key's event.
 * Sent signed too, so decryption itself is what must refuse them: cuts and flips of a
 * valid ticket event (right token) break its ciphertext whatever the decoder; variants
 * of the base64 text wrap an event with a wrong token, so a lenient base64 decoder
 * could not turn them into a valid event either.
 */
function badEncryptValues() {
  const g = encrypt(ENCRYPT_KEY, ticketPlain());
  const gw = encrypt(ENCRYPT_KEY, ticketPlain({ token: "wrong-token" }));
  const raw = Buffer.from(g, "base64");
  const flipIv = Buffer.from(raw);
  flipIv[1] ^= 0x5a;
  const flipLast = Buffer.from(raw);
  flipLast[raw.length - 1] ^= 0x01;
  return [
    0, 1.5, -1, true, false, null, [], {}, [g], { encrypt: g }, "", " ", "\t\n", "=", "====", "A", "AA", "AAA", "AAAA",
    "!!!!!!!!", "not base64 at all", "AAAA====AAAA", "\u200b", "é", "中文", "😀", "a\u0000b", "\u202eAAAA", "\ud800",
    b64(randomBytes(15)), b64(randomBytes(16)), b64(randomBytes(31)), b64(randomBytes(33)), b64(randomBytes(47)),
    b64(Buffer.alloc(32)), b64(Buffer.alloc(48, 0x10)),
    b64(raw.subarray(0, raw.length - 16)), // one block short: the padding is wrong
    b64(raw.subarray(16)), // no IV
    b64(Buffer.concat([raw, randomBytes(16)])), // a garbage block appended
    b64(Buffer.concat([raw, raw.subarray(16, 32)])),
    b64(flipIv), b64(flipLast),
    g.slice(0, -24), g.slice(24), b64(raw.subarray(0, raw.length - 1)),
    gw.slice(0, -4), gw.slice(4), `${gw}AAAA`, `${gw}=`, `${gw.replace(/=+$/, "")}A`,
    `${gw.replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "")}-_`,
    `${gw.slice(0, 20)}*${gw.slice(21)}`, `${gw.slice(0, 20)}é${gw.slice(20)}`, `${gw.slice(0, 20)}\n${gw.slice(20)}`, ` ${gw} `,
    encrypt("another-encrypt-key", ticketPlain()), // another app's key
    encrypt(ENCRYPT_KEY.toUpperCase(), ticketPlain()),
    encrypt("", ticketPlain()),
    hex(randomBytes(48)),
    "A".repeat(100_000), // base64, but not whole AES blocks
    "QUFB".repeat(8_192), // whole blocks of garbage: the padding is wrong
    big(131_072), // the body is then over 128 KiB: 413
  ];
}

/** Plaintexts, correctly encrypted with the app's Encrypt Key, that are not a valid event of this app. */
function badPlaintexts() {
  const vt = VERIFICATION_TOKEN;
  const chal = (over) => JSON.stringify({ challenge: "c-bad-input", token: vt, type: "url_verification", ...over });
  const v1 = ticketEvent(cb, "tkt-bad-input");
  const v2 = ticketEvent({ ...cb, schema: "2.0" }, "tkt-bad-input");
  return [
    "", " ", "not json", "null", "1", "[]", '"str"', "{}", deep(40), `{"a":${deep(40)}}`, "{", `${ticketPlain()}garbage`,
    `${ticketPlain()} {}`, `\ufeff${JSON.stringify({ ...v1, token: "wrong" })}`,
    // URL verification that is not the app's, or not well formed.
    chal({ token: "wrong-token" }), chal({ token: undefined }), chal({ token: "" }), chal({ token: 7 }), chal({ token: [vt] }),
    chal({ token: vt.toUpperCase() }), chal({ token: `${vt} ` }), chal({ token: ` ${vt}` }), chal({ token: `${vt}\u0000` }),
    chal({ token: `${vt}\u200b` }), chal({ token: vt.slice(1) }), chal({ token: `${vt}x` }),
    chal({ challenge: undefined }), chal({ challenge: "" }), chal({ challenge: 1 }), chal({ challenge: null }), chal({ challenge: {} }),
    chal({ type: "URL_VERIFICATION", token: "wrong" }),
    `{"challenge":"c","token":"${vt}","type":"url_verification","type":"url_verification"}`,
    `{"challenge":"c","token":"wrong","token":"${vt}","type":"url_verification"}`,
    `{"challenge":"c","token":"${vt}","token":"${vt}","type":"url_verification"}`,
    // Schema 1.0 ticket events with one thing wrong.
    ticketPlain({ token: "wrong-token" }), ticketPlain({ token: undefined }), ticketPlain({ token: 12345 }), ticketPlain({ token: null }),
    ticketPlain({ token: vt.toUpperCase() }), ticketPlain({ token: `${vt}\u2028` }), ticketPlain({ token: "\ud800" }),
    ticketPlain({ type: undefined }), ticketPlain({ type: 1 }), ticketPlain({ type: "EVENT_CALLBACK" }),
    ticketPlain({ event: undefined }), ticketPlain({ event: "app_ticket" }), ticketPlain({ event: [] }), ticketPlain({ event: null }),
    ticketWith({ ...v1.event, app_ticket: undefined }), ticketWith({ ...v1.event, app_ticket: "" }), ticketWith({ ...v1.event, app_ticket: 7 }),
    ticketWith({ ...v1.event, app_ticket: null }), ticketWith({ ...v1.event, app_ticket: ["tkt"] }), ticketWith({ ...v1.event, app_ticket: { t: 1 } }),
    ticketWith({ ...v1.event, app_id: undefined }), ticketWith({ ...v1.event, app_id: 1 }), ticketWith({ ...v1.event, app_id: "" }),
    ticketWith({ ...v1.event, type: undefined }), ticketWith({ ...v1.event, type: 1 }), ticketWith({ ...v1.event, type: "" }),
    ticketWith({ ...v1.event, app_ticket: deepObj(40) }),
    `{"ts":"1","uuid":"u","token":"${vt}","type":"event_callback","event":{"app_id":"${APP_ID}","app_ticket":"tkt-a","app_ticket":"tkt-b","type":"app_ticket"}}`,
    `{"ts":"1","uuid":"u","token":"wrong","token":"${vt}","type":"event_callback","event":{"app_id":"${APP_ID}","app_ticket":"tkt-a","type":"app_ticket"}}`,
    `{"ts":"1","uuid":"u","token":"${vt}","type":"event_callback","event":{"app_id":"${APP_ID}","app_ticket":"tkt-a","type":"app_ticket"},"event":{}}`,
    // Schema 2.0 with one thing wrong.
    JSON.stringify({ ...v2, header: undefined }), JSON.stringify({ ...v2, header: "h" }), JSON.stringify({ ...v2, header: [] }),
    JSON.stringify({ ...v2, header: { ...v2.header, event_type: undefined } }), JSON.stringify({ ...v2, header: { ...v2.header, event_type: 1 } }),
    JSON.stringify({ ...v2, header: { ...v2.header, token: "wrong" } }), JSON.stringify({ ...v2, header: { ...v2.header, token: undefined } }),
    JSON.stringify({ ...v2, event: undefined }), JSON.stringify({ ...v2, event: { ...v2.event, app_ticket: 1 } }),
    JSON.stringify({ ...v2, schema: 2 }),
  ];
}
const deepObj = (n) => JSON.parse(`${'{"a":'.repeat(n)}1${"}".repeat(n)}`);

function eventCases() {
  const cases = [];
  const post = (body, headers = {}, note) => ({ method: "POST", path: EVENTS_PATH, headers: { "content-type": "application/json", ...headers }, body, note });
  const bytes = (b) => (typeof b === "string" ? Buffer.from(b) : b);
  // Garbage, unsigned, correctly signed (the signature is not what is wrong) and wrongly signed.
  for (const b of eventBadBodies()) {
    cases.push(post(b, {}, "unsigned"));
    cases.push(post(b, signedHeaders(bytes(b)), "signed"));
    cases.push(post(b, { ...signedHeaders(bytes(b)), "X-Lark-Signature": "0".repeat(64) }, "bad signature"));
  }
  for (const v of badEncryptValues()) {
    const b = JSON.stringify({ encrypt: v });
    cases.push(post(b, {}, "unsigned"));
    cases.push(post(b, signedHeaders(Buffer.from(b)), "signed"));
  }
  for (const plain of badPlaintexts()) {
    const b = sealedBody(plain);
    cases.push(post(b, {}, `unsigned, encrypts ${plain.slice(0, 60)}`));
    cases.push(post(b, signedHeaders(Buffer.from(b)), `signed, encrypts ${plain.slice(0, 60)}`));
  }
  // A valid, sealed ticket event of the app (with the right token): only its signature headers are wrong.
  const body = Buffer.from(sealedBody(ticketPlain()));
  const ts = String(nowSecs());
  const nonce = "n0nce-bad-input";
  const good = sign(ts, nonce, ENCRYPT_KEY, body);
  const H = (over) => ({ "X-Lark-Request-Timestamp": ts, "X-Lark-Request-Nonce": nonce, "X-Lark-Signature": good, ...over });
  const without = (...names) => Object.fromEntries(Object.entries(H()).filter(([k]) => !names.includes(k)));
  const flipped = `${good.slice(0, 10)}${good[10] === "0" ? "1" : "0"}${good.slice(11)}`;
  const signatureHeaders = [
    without("X-Lark-Signature"), without("X-Lark-Request-Nonce"), without("X-Lark-Request-Timestamp"),
    without("X-Lark-Request-Timestamp", "X-Lark-Request-Nonce"), without("X-Lark-Signature", "X-Lark-Request-Nonce"),
    without("X-Lark-Signature", "X-Lark-Request-Timestamp"),
    H({ "X-Lark-Signature": "" }), H({ "X-Lark-Signature": "0".repeat(64) }), H({ "X-Lark-Signature": "g".repeat(64) }),
    H({ "X-Lark-Signature": good.slice(0, 63) }), H({ "X-Lark-Signature": `${good}0` }), H({ "X-Lark-Signature": good + good }),
    H({ "X-Lark-Signature": good.slice(1) }), H({ "X-Lark-Signature": flipped }), H({ "X-Lark-Signature": "z".repeat(8000) }),
    H({ "X-Lark-Signature": utf8Header("é".repeat(32)) }), H({ "X-Lark-Signature": utf8Header(`${good.slice(0, 62)}é`) }),
    H({ "X-Lark-Signature": utf8Header(`${good}\u200b`) }), H({ "X-Lark-Signature": `sha256=${good}` }),
    H({ "X-Lark-Signature": sign(ts, nonce, "another-encrypt-key", body) }),
    H({ "X-Lark-Signature": sign(String(Number(ts) - 1), nonce, ENCRYPT_KEY, body) }),
    H({ "X-Lark-Signature": sign(ts, "other-nonce", ENCRYPT_KEY, body) }),
    H({ "X-Lark-Signature": sign(ts, nonce, ENCRYPT_KEY, Buffer.concat([body, Buffer.from("\n")])) }),
    H({ "X-Lark-Signature": sign(ts, nonce, ENCRYPT_KEY, Buffer.from(ticketPlain())) }),
    H({ "X-Lark-Signature": createHash("sha256").update(body).digest("hex") }),
    H({ "X-Lark-Signature": createHash("sha256").update(ENCRYPT_KEY + ts + nonce).update(body).digest("hex") }),
    H({ "X-Lark-Signature": Buffer.from(good, "hex").toString("base64") }),
    H({ "X-Lark-Request-Nonce": "other-nonce" }), H({ "X-Lark-Request-Nonce": "" }), H({ "X-Lark-Request-Nonce": "n".repeat(8000) }),
    H({ "X-Lark-Request-Timestamp": String(Number(ts) + 1) }),
    { "X-Lark-Timestamp": ts, "X-Lark-Nonce": nonce, "X-Lark-Signature": good },
    { "X-Lark-Request-Timestamp": ts, "X-Lark-Request-Nonce": nonce, "X-Lark-Signature-256": good },
    // Stale, future or non-numeric timestamps, each with a signature that matches it (the
    // window is 300 s; 400 leaves room for the seconds between making and sending a case).
    ...["-400", "-3600", "+400", "+86400"].map((d) => String(Number(ts) + Number(d))),
    ...["0", "1", "-1", "", "abc", "1e9", "0x6553f100", "1.5", `${ts}.0`, `${ts}000`, "18446744073709551616", "9".repeat(40), `${ts}abc`, `${ts} ${ts}`, utf8Header("١٧٠٠٠٠٠٠٠٠"), utf8Header(`${ts}\u200b`)],
  ].map((h) => (typeof h === "string" ? H({ "X-Lark-Request-Timestamp": h, "X-Lark-Signature": sign(h, nonce, ENCRYPT_KEY, body) }) : h));
  for (const h of signatureHeaders) cases.push(post(body, h, `headers ${JSON.stringify(h).slice(0, 160)}`));
  // Repeated headers (fetch joins them with ", ").
  const pairs = (extra) => [["content-type", "application/json"], ...Object.entries(H()), ...extra];
  for (const extra of [
    [["X-Lark-Signature", good]], [["X-Lark-Request-Timestamp", ts]], [["X-Lark-Request-Nonce", nonce]], [["X-Lark-Signature", "0".repeat(64)]],
  ]) {
    cases.push({ method: "POST", path: EVENTS_PATH, headers: pairs(extra), body, note: `repeated ${extra[0][0]}` });
  }
  // The same valid envelope with its bytes tampered after signing.
  const text = body.toString();
  for (const tampered of [`${text} `, ` ${text}`, text.replace('{"encrypt":', '{ "encrypt" :'), text.replace(/"}$/, '","x":1}'), text.toUpperCase()]) {
    cases.push(post(tampered, H(), "tampered after signing"));
  }
  // Huge bodies: 413 before anything is read further.
  for (const b of [big(128 * 1024 + 1), JSON.stringify({ encrypt: big(200_000) }), deep(70_000), big(1024 * 1024)]) {
    cases.push(post(b, {}, "over 128 KiB"));
    cases.push(post(b, signedHeaders(Buffer.from(b)), "over 128 KiB, signed"));
  }
  // Content types do not matter to Feishu's events, but must not make garbage pass.
  for (const ct of ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "", "application/json; charset=utf-16"]) {
    cases.push(post("encrypt=AAAA", { "content-type": ct }, "form body"));
  }
  // Other headers abused.
  for (const h of [{ "x-forwarded-for": "1".repeat(4000) }, { cookie: "a=".repeat(1000) }, { "x-junk": utf8Header("😀".repeat(1000)) }, { origin: "https://evil.test" }, { "content-encoding": "gzip" }, { "transfer-encoding": "chunked" }]) {
    cases.push(post(JSON.stringify({ encrypt: "AAAA" }), h, `header ${Object.keys(h)[0]}`));
  }
  // Wrong methods (a valid sealed ticket is refused too: the method comes first).
  for (const method of ["GET", "HEAD", "PUT", "DELETE", "PATCH", "OPTIONS"]) {
    const bodies = method === "GET" || method === "HEAD" ? [undefined] : [undefined, "{}", body];
    for (const b of bodies) {
      for (const h of [{}, { origin: "https://evil.test", "access-control-request-method": "POST" }, H()]) {
        cases.push({ method, path: EVENTS_PATH, headers: h, body: b, note: "method" });
      }
    }
  }
  // Near-miss paths: never the events route.
  for (const path of ["/feishu/events/", "/FEISHU/EVENTS", "/feishu/events%00", "/feishu//events", "//feishu/events", "/feishu/event", "/feishu/events.json", "/feishu/%65vents", "/feishu/events/..%2f..%2fx", "/feishu/events%2f", "/feishu/events/x", "/feishu/evénts"]) {
    cases.push({ method: "POST", path, headers: { "content-type": "application/json", ...H() }, body, note: "path" });
  }
  // Framing that fetch cannot produce, over a raw loopback socket.
  const rawPost = (headers, payload) => ({ raw: `POST ${EVENTS_PATH} HTTP/1.1\r\nHost: worker\r\n${headers}Connection: close\r\n\r\n${payload}`, method: "POST", path: EVENTS_PATH, body: payload });
  const chunk = (s) => `${Buffer.byteLength(s).toString(16)}\r\n${s}\r\n`;
  cases.push(rawPost("Content-Type: application/json\r\nContent-Length: 999999999\r\n", "{}"));
  cases.push(rawPost("Content-Type: application/json\r\nContent-Length: 131073\r\n", "{}"));
  cases.push(rawPost("Transfer-Encoding: chunked\r\n", `${chunk("x".repeat(100_000))}${chunk("x".repeat(100_000))}0\r\n\r\n`));
  cases.push(rawPost("Transfer-Encoding: chunked\r\n", `${chunk('{"encrypt":')}${chunk('"AAAA"}')}0\r\n\r\n`));
  return cases;
}

// ---- Managed mode: GET /v1/tenants/{tenant_key}/tenant_access_token ----

const tenantPath = (raw) => `/v1/tenants/${raw}/tenant_access_token`;

/** Authorization values that are not `Bearer <one of API_KEYS>`. */
function badAuthorizations() {
  const K = API_KEY;
  return [
    undefined, "", " ", "Bearer", "Bearer ", "bearer", "Bearer Bearer", K, `Basic ${K}`, `Basic ${b64(Buffer.from(`${K}:`))}`,
    `Token ${K}`, `Digest ${K}`, `ApiKey ${K}`, `Bearer: ${K}`, `Bearer=${K}`, `Bearer,${K}`, `BearerX ${K}`, `Bearer${K}`,
    `Bearer\t${K}`, `${K} Bearer`, `${K} ${K}`, "Bearer wrong-key", `Bearer ${K}x`, `Bearer x${K}`, `Bearer ${K.slice(1)}`,
    `Bearer ${K.slice(0, -1)}`, `Bearer ${K.toUpperCase()}`, `Bearer ${K.replace("a", "A")}`, `Bearer ${K.replace("-", " -")}`,
    `Bearer ${K.replaceAll("-", "_")}`, `Bearer ${K} ${K}`, `Bearer ${K},${OTHER_KEY}`, `Bearer ${K}, Bearer ${OTHER_KEY}`,
    `Bearer "${K}"`, `Bearer <${K}>`, `Bearer ${b64(Buffer.from(K))}`, `Bearer ${K}\\`, `Bearer ${K};`, `Bearer ${OTHER_KEY.slice(0, -1)}`,
    "Bearer api-key-of-service-c-0000", `Bearer ${big(8192)}`, `Bearer ${K}${big(4000)}`, `Bearer ${big(60_000)}`,
    `Bearer ${"\u00e9".repeat(10)}`, utf8Header("Bearer ключ"), utf8Header(`Bearer ${K}\u200b`), utf8Header(`Bearer \u200b${K}`),
    utf8Header(`Bearer ${K}\ufeff`), utf8Header(`Bearer \u202e${K}`), utf8Header(`Bearer ${K.replace("a", "а")}`),
    utf8Header(`Bearer ${K.replace("-", "\u2010")}`), utf8Header(`Bearer ${K.replace("1", "１")}`), utf8Header(`Bearer ${K}😀`),
    // Unicode whitespace around the key is not HTTP whitespace: not the key.
    utf8Header(`Bearer ${K}\u00a0`), utf8Header(`Bearer \u2003${K}`), utf8Header(`Bearer ${K}\u3000`), utf8Header(`\u3000Bearer ${K}`),
    utf8Header(`Bearer ${K}\u2028`), utf8Header(`Bearer ${K}\u0085`),
  ];
}

function tenantCases() {
  const cases = [];
  const get = (path, headers = {}, note, method = "GET") => ({ method, path, headers, body: undefined, note });
  const auth = (a) => (a === undefined ? {} : { authorization: a });
  // Unauthorised: 401 whatever the tenant (the key is checked first), or 404 off the route.
  const tenants = [SANDBOX_TENANT, "", big(129), "%00", "é", "..%2F..%2Fetc", "a%2Fb", "\u202e"];
  for (const a of badAuthorizations()) {
    for (const t of tenants) cases.push(get(tenantPath(t), auth(a), `authorization ${JSON.stringify(a)?.slice(0, 60)}`));
  }
  // The key elsewhere than in Authorization.
  for (const h of [
    { "x-api-key": API_KEY }, { "proxy-authorization": `Bearer ${API_KEY}` }, { cookie: `authorization=Bearer ${API_KEY}` },
    { "x-authorization": `Bearer ${API_KEY}` }, { authorisation: `Bearer ${API_KEY}` },
  ]) {
    cases.push(get(tenantPath(SANDBOX_TENANT), h, `key in ${Object.keys(h)[0]}`));
  }
  for (const q of [`?access_token=${API_KEY}`, `?authorization=Bearer%20${API_KEY}`, `?api_key=${API_KEY}`, `?key=${API_KEY}&tenant_key=${SANDBOX_TENANT}`]) {
    cases.push(get(tenantPath(SANDBOX_TENANT) + q, {}, "key in the query"));
  }
  // Repeated Authorization headers (fetch joins them with ", ").
  for (const extra of [`Bearer ${API_KEY}`, `Bearer ${OTHER_KEY}`, "Bearer wrong-key", ""]) {
    cases.push(get(tenantPath(SANDBOX_TENANT), [["authorization", `Bearer ${API_KEY}`], ["authorization", extra]], `repeated authorization + ${extra}`));
  }
  // Authorised, but the tenant key in the path is not a tenant key: 400 (or 404 off the route), never upstream.
  const good = { authorization: `Bearer ${API_KEY}` };
  const badTenants = [
    "", " ", "%20", "a%20b", "a b", "\t", "%09", "%0A", "%0D%0A", "a%0Db", "%7F", "%00", "a%00b", "%00%00", big(129), big(5000),
    "%2F", "a%2Fb", "%2f", "%2F..%2F..%2Fetc%2Fpasswd", "..%2F..%2Fx", "..%5C..%5Cx", "..\\..\\x", "%C3%A9", "é", "中文", "😀",
    "%E2%80%AE", "\u202e", "%E2%80%8B", "\u200b", "%EF%BB%BF", "%FF", "%C0%AF", "%ED%A0%80", "é".repeat(65),
  ];
  for (const t of badTenants) {
    cases.push(get(tenantPath(t), good, `authorised, tenant ${JSON.stringify(t).slice(0, 40)}`));
    cases.push(get(tenantPath(t), { ...good, "cache-control": "no-cache" }, `authorised, no-cache, tenant ${JSON.stringify(t).slice(0, 40)}`));
  }
  // Authorised, off the route (traversal the URL parser resolves, near-miss paths).
  for (const path of [
    `/v1/tenants/../${SANDBOX_TENANT}/tenant_access_token`, "/v1/tenants/%2e%2e/tenant_access_token", "/v1/tenants/.%2E/tenant_access_token",
    "/v1/tenants/./tenant_access_token", `/v1/tenants/${SANDBOX_TENANT}/tenant_access_token/`, `/v1/tenants/${SANDBOX_TENANT}/TENANT_ACCESS_TOKEN`,
    `/V1/tenants/${SANDBOX_TENANT}/tenant_access_token`, `/v1/tenants/${SANDBOX_TENANT}/tenant_access_token%00`, `/v1/tenants/a/b/tenant_access_token`,
    `/v1//tenants/${SANDBOX_TENANT}/tenant_access_token`, `/v1/tenants/${SANDBOX_TENANT}%2Ftenant_access_token`, `/v1/tenants/${SANDBOX_TENANT}/tenant_access_token;x`,
    `/v1/tenants/${SANDBOX_TENANT}/tenant_access_token/..%2f..%2f`, "/v1/tenants/tenant_access_token", "/v1/tenants/", "/v1/tenants", `/v1/tenants/${SANDBOX_TENANT}`,
  ]) {
    cases.push(get(path, good, "authorised, off the route"));
  }
  // Wrong methods: 405 (403 for a preflight from an origin not allowed), with or without a key.
  for (const method of ["POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]) {
    for (const t of [SANDBOX_TENANT, "", big(129)]) {
      for (const h of [{}, good, { ...good, origin: "https://evil.test", "access-control-request-method": "GET" }]) {
        const c = get(tenantPath(t), h, "method", method);
        if (method !== "HEAD") c.body = method === "OPTIONS" ? undefined : JSON.stringify({ tenant_key: SANDBOX_TENANT });
        cases.push(c);
      }
    }
  }
  return cases;
}

// ---- The gateway's endpoints ----

const SELF_ID = "cli_sandbox_internal_one";

/**
 * Malformed requests to an endpoint taking `{app_id, app_secret}` (and
 * `app_ticket` when `ticket`): values of the wrong kind, bodies that are not
 * Feishu's, other content types and methods, oversize bodies. Never both a
 * real app id and its secret, so none may succeed.
 */
function credentialCases(path, { ticket = false, appId = SELF_ID } = {}) {
  const cases = [];
  const post = (body, headers = {}) => ({ method: "POST", path, headers: { "content-type": "application/json", ...headers }, body });
  for (const v of BAD_VALUES) {
    cases.push(post(JSON.stringify({ app_id: v, app_secret: "sandbox-secret-x" })));
    cases.push(post(JSON.stringify({ app_id: appId, app_secret: v })));
    cases.push(post(JSON.stringify({ app_id: v })));
    cases.push(post(JSON.stringify({ app_secret: v })));
    cases.push(post(JSON.stringify({ app_id: v, app_secret: v, app_ticket: v })));
    if (ticket) cases.push(post(JSON.stringify({ app_id: appId, app_secret: "not-its-secret", app_ticket: v })));
  }
  for (const b of BAD_BODIES) {
    cases.push(post(b));
    cases.push(post(b, { "content-type": "application/json; charset=utf-8" }));
  }
  const good = JSON.stringify({ app_id: appId, app_secret: "not-its-secret", app_ticket: "tkt-1" });
  for (const ct of ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data", "application/jsonx", "json", "text/json"]) {
    cases.push(post(good, { "content-type": ct }));
  }
  cases.push(post(JSON.stringify({ app_id: appId, app_secret: big(17 * 1024) })));
  cases.push(post(big(64 * 1024)));
  for (const method of ["GET", "PUT", "DELETE", "PATCH"]) {
    cases.push({ method, path, headers: {}, body: method === "GET" ? undefined : good });
  }
  return cases;
}

/**
 * Malformed requests to pass-through paths (`/open-apis/*`): no token or a
 * token that is no token, junk bodies, odd methods, paths that try to leave
 * /open-apis/. Feishu (the sandbox) or the Worker refuses each.
 */
function passThroughCases() {
  const cases = [];
  const tokens = [undefined, "", "Bearer", "Bearer ", "Basic dXNlcg==", "Bearer t-", "Bearer t-not-issued", `Bearer ${big(5000)}`, "Bearer a b", "bearer t-1", utf8Header("Bearer t-é"), "Bearer u-user-token"];
  const paths = ["/open-apis/im/v1/messages", "/open-apis/im/v1/messages?receive_id_type=chat_id", "/open-apis/contact/v3/users/ou_x", "/open-apis/", "/open-apis/%00", "/open-apis/a%2Fb", "/open-apis/im/v1/messages;x", "/open-apis/im/v1/../v1/chats"];
  for (const t of tokens) {
    for (const p of paths) cases.push({ method: "GET", path: p, headers: t === undefined ? {} : { authorization: t }, body: undefined });
    for (const body of ["", "{", "null", deep(500), big(20000), "\u0000"]) {
      cases.push({ method: "POST", path: "/open-apis/im/v1/messages", headers: { "content-type": "application/json", ...(t === undefined ? {} : { authorization: t }) }, body });
    }
  }
  for (const method of ["PUT", "PATCH", "DELETE", "HEAD"]) {
    for (const t of tokens.slice(0, 6)) cases.push({ method, path: "/open-apis/im/v1/messages/om_1", headers: t === undefined ? {} : { authorization: t }, body: method === "PUT" || method === "PATCH" ? "{}" : undefined });
  }
  // GET and HEAD with a body (fetch cannot send one: raw HTTP), with and without a token that is no token.
  for (const method of ["GET", "HEAD"]) {
    for (const auth of ["", "Authorization: Bearer t-not-issued\r\n"]) {
      for (const body of ["hello", "{}", big(3000)]) {
        cases.push({
          method,
          path: "/open-apis/im/v1/chats",
          note: "raw, with a body",
          raw: `${method} /open-apis/im/v1/chats HTTP/1.1\r\nHost: worker\r\n${auth}Content-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
        });
      }
    }
  }
  // Paths the URL parser resolves out of /open-apis/: the Worker's own 404, never the upstream's other paths.
  for (const p of ["/open-apis/../__sandbox/reset", "/open-apis/%2e%2e/__sandbox/reset", "/open-apis/.%2E/__sandbox/stats", "/open-apis/../../__sandbox/faults", "/open-apis/..", "/open-apis%2F..%2F__sandbox/reset", "//open-apis/x", "/OPEN-APIS/im/v1/messages"]) {
    cases.push({ method: "POST", path: p, headers: { "content-type": "application/json", authorization: "Bearer t-x" }, body: JSON.stringify({ fault: "500", count: -1 }) });
  }
  return cases;
}

/** Malformed managed API calls (X-Tenant-Key): a bad key, a bad tenant, a key without a tenant. */
function managedCallCases() {
  const cases = [];
  const call = (headers, note, method = "GET") => ({ method, path: "/open-apis/im/v1/chats", headers, body: method === "POST" ? "{}" : undefined, note });
  // (Headers past workerd's own size limit are refused before the Worker sees them.)
  for (const a of badAuthorizations().filter((a) => (a?.length ?? 0) < 50_000)) {
    // (An empty X-Tenant-Key reaches the Worker as none: that is a plain pass-through call, not one of these.)
    for (const t of [SANDBOX_TENANT, " x", big(129), "a b"]) cases.push(call({ ...(a === undefined ? {} : { authorization: a }), "x-tenant-key": t }, `authorization ${JSON.stringify(a)?.slice(0, 60)}`));
  }
  const good = { authorization: `Bearer ${API_KEY}` };
  // Not tenant keys: empty, blank, spaces, too long, not visible ASCII. (Header values fetch itself refuses, such as DEL, cannot be sent.)
  for (const t of ["", " ", "a b", "\t", "a\tb", big(129), big(5000), utf8Header("é"), utf8Header("中文"), utf8Header("\u202e"), utf8Header("\u200b"), utf8Header("a\u00a0b")]) {
    cases.push(call({ ...good, "x-tenant-key": t }, `tenant ${JSON.stringify(t).slice(0, 30)}`));
    cases.push(call({ ...good, "x-tenant-key": t, "content-type": "application/json" }, "post, bad tenant", "POST"));
  }
  for (const method of ["GET", "POST", "PUT", "DELETE"]) cases.push(call(good, "an API key without X-Tenant-Key", method));
  return cases;
}

// ---- The runner ----

/** One request over a raw loopback socket; resolves to { status, contentType, text }. */
function rawExchange(url, request, ms) {
  return new Promise((resolve, reject) => {
    const { hostname, port } = new URL(url);
    const s = net.connect(Number(port), hostname);
    const chunks = [];
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no answer in ${ms} ms`));
    }, ms);
    s.on("data", (d) => chunks.push(d));
    s.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    s.on("close", () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString("latin1");
      const [head, ...rest] = text.split("\r\n\r\n");
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0);
      const contentType = /\r\ncontent-type: *([^\r]*)/i.exec(head)?.[1] ?? "";
      let payload = rest.join("\r\n\r\n");
      // A passed-through answer the Worker read a copy of comes back chunked.
      if (/\r\ntransfer-encoding: *chunked/i.test(head)) payload = dechunk(payload);
      resolve({ status, contentType, text: Buffer.from(payload, "latin1").toString() });
    });
    // Wait for the answer even when it comes before the whole body was sent.
    s.on("end", () => s.end());
    s.write(request);
  });
}

/** The body of a chunked HTTP/1.1 message (latin1 in, latin1 out). */
function dechunk(text) {
  let out = "";
  let at = 0;
  for (;;) {
    const eol = text.indexOf("\r\n", at);
    const size = eol < 0 ? 0 : parseInt(text.slice(at, eol), 16);
    if (!size) return out;
    out += text.slice(eol + 2, eol + 2 + size);
    at = eol + 2 + size + 2;
  }
}

/** The answer to one case: { status, contentType, text }, bounded by `ms`. */
async function exchange(target, c, ms) {
  if (c.raw) return rawExchange(target.url, c.raw, ms);
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer in ${ms / 1000} s`)), ms);
  });
  try {
    return await Promise.race([
      (async () => {
        const resp = await target.mf.dispatchFetch(`http://worker${c.path}`, { method: c.method, headers: c.headers, body: c.body });
        return { status: resp.status, contentType: resp.headers.get("content-type") ?? "", text: await resp.text() };
      })(),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

const describeCase = (c) => {
  const head = `${c.method} ${c.path.slice(0, 60)} ${String(c.body).slice(0, 60)}`;
  return c.note ? `${head} [${String(c.note).slice(0, 200)}]` : head;
};

/** Sends every case (20 at a time), each bounded by 5 s; returns the failures. */
async function runMatrix(target, cases) {
  const failures = [];
  const statuses = {};
  let i = 0;
  const worker = async () => {
    while (i < cases.length) {
      const c = cases[i++];
      try {
        const { status, contentType, text } = await exchange(target, c, 5000);
        statuses[status] = (statuses[status] ?? 0) + 1;
        let body;
        try {
          body = JSON.parse(text);
        } catch {
          body = null;
        }
        const isJsonError = body && Number.isInteger(body.code) && typeof body.msg === "string";
        // A HEAD answer has no body: its JSON content type is what can be checked.
        const headOk = c.method === "HEAD" && text === "" && contentType.startsWith("application/json");
        const ok = status >= 400 && status < 500 && (isJsonError || headOk);
        if (!ok) failures.push(`${describeCase(c)} -> ${status} ${text.slice(0, 120)}`);
      } catch (e) {
        failures.push(`${describeCase(c)} -> ${e.message}`);
      }
    }
  };
  await Promise.all(Array.from({ length: 20 }, worker));
  return { failures, statuses };
}

const report = (name, cases, { failures, statuses }) =>
  console.log(`${name}: ${cases.length} malformed requests, statuses ${JSON.stringify(statuses)}, ${failures.length} not a 4xx JSON error`);

for (const [name, make] of [
  ["POST /open-apis/auth/v3/tenant_access_token", tokenCases],
  ["/healthz", healthCases],
]) {
  test(`bad-input matrix: ${name}`, async () => {
    const cases = make();
    assert.ok(cases.length >= 200, `only ${cases.length} cases`);
    const result = await runMatrix(w, cases);
    report(name, cases, result);
    assert.deepEqual(result.failures, []);
    assert.equal(sb.stats().tenantTokenCalls, 0, "nothing malformed reached upstream");
  });
}

for (const [name, make, counter] of [
  ["POST /open-apis/auth/v3/app_access_token", () => credentialCases("/open-apis/auth/v3/app_access_token", { ticket: true, appId: APP_ID })],
  ["POST /open-apis/auth/v3/tenant_access_token/internal", () => credentialCases("/open-apis/auth/v3/tenant_access_token/internal")],
  ["POST /open-apis/auth/v3/app_access_token/internal", () => credentialCases("/open-apis/auth/v3/app_access_token/internal")],
  ["POST /open-apis/auth/v3/app_ticket/resend", () => credentialCases("/open-apis/auth/v3/app_ticket/resend", { appId: APP_ID })],
  ["pass-through /open-apis/*", passThroughCases],
]) {
  test(`bad-input matrix: ${name}`, async () => {
    const cases = make();
    assert.ok(cases.length >= 200, `only ${cases.length} cases`);
    sb.reset();
    const result = await runMatrix(w, cases);
    report(name, cases, result);
    assert.deepEqual(result.failures, []);
    const stats = sb.stats();
    // Well-formed requests with a wrong secret do reach Feishu (it judges secrets); none may get a token.
    assert.equal(sb.state.tenantTokens.size + sb.state.issuedAppTokens.size, 0, "no token was issued");
    assert.ok(stats.apiCalls.every((c) => c.path.startsWith("/open-apis/")), "nothing reached the upstream outside /open-apis/");
    assert.equal(stats.resendCalls, 0, "no resend went through");
  });
}

for (const [name, make] of [
  ["POST /feishu/events (managed)", eventCases],
  ["/open-apis/* with X-Tenant-Key (managed API calls)", managedCallCases],
  ["GET /v1/tenants/{tenant_key}/tenant_access_token (managed)", tenantCases],
]) {
  test(`bad-input matrix: ${name}`, async () => {
    await startManaged();
    const cases = make();
    assert.ok(cases.length >= 200, `only ${cases.length} cases`);
    const upstreamBefore = msb.stats().requests;
    const result = await runMatrix(mw, cases);
    report(name, cases, result);
    assert.deepEqual(result.failures, []);
    assert.deepEqual(msb.stats().requests, upstreamBefore, `nothing malformed reached upstream (no app or tenant token request, no resend): ${JSON.stringify(msb.stats().apiCalls.slice(0, 3))}`);
    assert.equal(await managedTicket(), storedTicket, "the stored app_ticket is unchanged");
  });
}
