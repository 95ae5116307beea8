#!/usr/bin/env node
// Runs the Feishu sandbox in the foreground: node tests/sandbox/cli.mjs [--port 8790] [--host 127.0.0.1]
import { parseArgs } from "node:util";
import { startSandbox, SANDBOX_APPS, SANDBOX_TENANT } from "./sandbox.mjs";

const { values } = parseArgs({
  options: {
    port: { type: "string", default: process.env.SANDBOX_PORT ?? "8790" },
    host: { type: "string", default: "127.0.0.1" },
    "lifetime-secs": { type: "string" },
    "rotate-before-secs": { type: "string" },
  },
});
const extra = {};
if (values["lifetime-secs"]) extra.lifetimeSecs = Number(values["lifetime-secs"]);
if (values["rotate-before-secs"]) extra.rotateBeforeSecs = Number(values["rotate-before-secs"]);

const sb = await startSandbox({ port: Number(values.port), host: values.host, ...extra });
const [appId, app] = Object.entries(SANDBOX_APPS)[0];
console.log(`Feishu sandbox listening on ${sb.url}`);
console.log(`  try: curl -s ${sb.url}/open-apis/auth/v3/tenant_access_token -H 'content-type: application/json' \\`);
console.log(`         -d '{"app_access_token":"${app.appAccessToken}","tenant_key":"${SANDBOX_TENANT}"}'`);
console.log(`  app ${appId}: app_access_token ${app.appAccessToken}; controls: ${sb.url}/__sandbox/`);
const stop = async () => {
  await sb.close();
  process.exit(0);
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
