#!/usr/bin/env node
// Runs the Feishu sandbox in the foreground: node sandbox/cli.mjs [--port 8790] [--host 127.0.0.1]
//   [--callback URL [--callback-app ID] [--encrypt-key K] [--verification-token T] [--push-every SECS]]
// With --callback the sandbox pushes app_ticket events to URL (at start, after app_ticket/resend, every SECS).
import { parseArgs } from "node:util";
import { startSandbox, SANDBOX_APPS, SANDBOX_TENANT } from "./sandbox.mjs";

const { values } = parseArgs({
  options: {
    port: { type: "string", default: process.env.SANDBOX_PORT ?? "8790" },
    host: { type: "string", default: "127.0.0.1" },
    "lifetime-secs": { type: "string" },
    "rotate-before-secs": { type: "string" },
    callback: { type: "string" },
    "callback-app": { type: "string" },
    "encrypt-key": { type: "string" },
    "verification-token": { type: "string" },
    "push-every": { type: "string" },
  },
});
const extra = {};
if (values["lifetime-secs"]) extra.lifetimeSecs = Number(values["lifetime-secs"]);
if (values["rotate-before-secs"]) extra.rotateBeforeSecs = Number(values["rotate-before-secs"]);
const callback = callbackFromFlags(values);
if (callback) extra.callback = callback;

let sb;
try {
  sb = await startSandbox({ port: Number(values.port), host: values.host, ...extra });
} catch (e) {
  fail(e.message.replace(/^sandbox /, ""));
}
const [appId, app] = Object.entries(SANDBOX_APPS)[0];
console.log(`Feishu sandbox listening on ${sb.url}`);
console.log(`  try: curl -s ${sb.url}/open-apis/auth/v3/tenant_access_token -H 'content-type: application/json' \\`);
console.log(`         -d '{"app_access_token":"${app.appAccessToken}","tenant_key":"${SANDBOX_TENANT}"}'`);
console.log(`  app ${appId}: app_access_token ${app.appAccessToken}; controls: ${sb.url}/__sandbox/`);
if (callback) console.log(describeCallback(callback));
const stop = async () => {
  await sb.close();
  process.exit(0);
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);

/** The callback flags only make sense together with --callback, so a lone one is an error, not ignored. */
function callbackFromFlags(v) {
  const dependent = ["callback-app", "encrypt-key", "verification-token", "push-every"].filter((k) => v[k] !== undefined);
  if (!v.callback) {
    if (dependent.length) fail(`--${dependent[0]} needs --callback URL`);
    return null;
  }
  const everySecs = v["push-every"] === undefined ? 0 : Number(v["push-every"]);
  if (!Number.isFinite(everySecs) || everySecs < 0) fail("--push-every must be a number of seconds (0 = off)");
  return {
    appId: v["callback-app"] ?? Object.keys(SANDBOX_APPS)[0],
    url: v.callback,
    encryptKey: v["encrypt-key"],
    verificationToken: v["verification-token"],
    everySecs,
  };
}

/** Says what is set up; the encrypt key and the token are secrets and are never printed. */
function describeCallback(cb) {
  const parts = [
    cb.encryptKey ? "encrypted and signed" : "plain, unsigned",
    cb.verificationToken !== undefined ? "verification token set" : "no verification token",
    cb.everySecs ? `pushes at start, after resend and every ${cb.everySecs} s` : "pushes at start and after resend",
  ];
  return `  callback: app ${cb.appId} -> ${cb.url} (${parts.join("; ")})`;
}

function fail(message) {
  console.error(`sandbox: ${message}`);
  process.exit(2);
}
