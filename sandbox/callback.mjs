// What the sandbox sends to an app's event callback URL, shaped as Feishu
// documents it (https://open.feishu.cn/document/ukTMukTMukTM/uUTNz4SN1MjL1UzM,
// "Event subscription overview", and its encryption page): app_ticket events
// (schema 1.0 or 2.0), url_verification challenges, and the encrypted and
// signed envelope used when the app has an Encrypt Key.
import http from "node:http";
import https from "node:https";
import { createCipheriv, createHash, randomBytes } from "node:crypto";

/** A receiver that hangs must not stall retries and timers for ever. */
const POST_TIMEOUT_MS = 5000;
/** Receivers are test code; a runaway answer should not fill memory. */
const MAX_ANSWER_BYTES = 64 * 1024;

const randomHex = (bytes) => randomBytes(bytes).toString("hex");

/**
 * The app_ticket event. Timestamps use the real clock, not the sandbox's
 * movable one: receivers check them against their own clock (replay).
 */
export function ticketEvent(cb, ticket) {
  const token = cb.verificationToken ?? "";
  const event = { app_id: cb.appId, app_ticket: ticket, type: "app_ticket" };
  if (cb.schema === "2.0") {
    const header = {
      event_id: randomHex(16),
      event_type: "app_ticket",
      create_time: String(Date.now()),
      token,
      app_id: cb.appId,
      tenant_key: "",
    };
    return { schema: "2.0", header, event };
  }
  const ts = String(Math.floor(Date.now() / 1000));
  return { ts, uuid: randomHex(16), token, type: "event_callback", event };
}

export function challengeEvent(cb) {
  return { challenge: randomHex(16), token: cb.verificationToken ?? "", type: "url_verification" };
}

/** base64(iv || AES-256-CBC(SHA-256(encryptKey), iv, plaintext)); createCipheriv pads with PKCS#7. */
export function encrypt(encryptKey, plaintext) {
  const key = createHash("sha256").update(encryptKey).digest();
  const iv = randomBytes(16);
  const cipher = createCipheriv("aes-256-cbc", key, iv);
  return Buffer.concat([iv, cipher.update(plaintext), cipher.final()]).toString("base64");
}

/** Signed over the exact bytes sent, so a receiver that re-serialises JSON fails, as with Feishu. */
export function sign(timestamp, nonce, encryptKey, rawBody) {
  return createHash("sha256").update(timestamp + nonce + encryptKey).update(rawBody).digest("hex");
}

/**
 * The bytes and headers of one delivery. Re-sealed per attempt so retries
 * carry a fresh timestamp. `signed: false` leaves the signature headers out,
 * as Feishu's console does for some URL verifications.
 */
export function seal(cb, event, { signed = true } = {}) {
  const plain = Buffer.from(JSON.stringify(event));
  if (!cb.encryptKey) return { body: plain, headers: {} };
  const body = Buffer.from(JSON.stringify({ encrypt: encrypt(cb.encryptKey, plain) }));
  if (!signed) return { body, headers: {} };
  const timestamp = String(Math.floor(Date.now() / 1000));
  const nonce = randomHex(8);
  const headers = {
    "X-Lark-Request-Timestamp": timestamp,
    "X-Lark-Request-Nonce": nonce,
    "X-Lark-Signature": sign(timestamp, nonce, cb.encryptKey, body),
  };
  return { body, headers };
}

/**
 * POSTs one event; never rejects. Resolves to { ok, status, body, error }:
 * ok only for a 2xx answer read in full. `inflight` lets reset/close abort it.
 * No keep-alive agent, so nothing lingers to keep the process alive.
 */
export function postEvent(cb, event, inflight, sealOpts) {
  const { body, headers } = seal(cb, event, sealOpts);
  const url = new URL(cb.url);
  const transport = url.protocol === "https:" ? https : http;
  return new Promise((resolve) => {
    const req = transport.request(url, {
      method: "POST",
      agent: false,
      headers: { "content-type": "application/json; charset=utf-8", "content-length": body.length, ...headers },
    });
    const done = (result) => {
      inflight.delete(req);
      resolve({ status: null, body: null, error: null, ...result, ok: !result.error && result.status >= 200 && result.status < 300 });
    };
    req.setTimeout(POST_TIMEOUT_MS, () => req.destroy(new Error(`no answer within ${POST_TIMEOUT_MS} ms`)));
    req.on("error", (e) => done({ error: e.message }));
    req.on("response", async (res) => {
      try {
        done({ status: res.statusCode, body: await readAnswer(res) });
      } catch (e) {
        req.destroy();
        done({ status: res.statusCode, error: e.message });
      }
    });
    inflight.add(req);
    req.end(body);
  });
}

async function readAnswer(res) {
  const chunks = [];
  let size = 0;
  for await (const c of res) {
    size += c.length;
    if (size > MAX_ANSWER_BYTES) throw new Error(`answer larger than ${MAX_ANSWER_BYTES} bytes`);
    chunks.push(c);
  }
  return Buffer.concat(chunks).toString("utf8");
}
