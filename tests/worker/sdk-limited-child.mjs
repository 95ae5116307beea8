// One SDK process of an app's fleet for tests/worker/limits.test.mjs (and
// bench/limits.mjs): a fresh official Node SDK client (self-built app,
// `domain` = argv[2]) making argv[3] calls to GET argv[6], one every argv[4]
// ms after argv[5] ms, without waiting for the one before (a service under
// load). Prints one JSON line {ok, failed, codes, ms}: each call's time
// from being made to its answer.
import { fleetClient } from "./node-sdk.mjs";

const [domain, calls, everyMs, afterMs, path] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4]), Number(process.argv[5]), process.argv[6]];
const client = await fleetClient(domain);
// The token first, as a running service has it: the calls measure the API.
await client.tokenManager.getTenantAccessToken();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
await sleep(afterMs);
const one = async () => {
  const t = performance.now();
  try {
    const r = await client.request({ method: "GET", url: path });
    return { code: r.code, ms: performance.now() - t };
  } catch (e) {
    return { code: e?.response?.data?.code ?? -1, status: e?.response?.status, ms: performance.now() - t };
  }
};
const pending = [];
for (let i = 0; i < calls; i++) {
  pending.push(one());
  await sleep(everyMs);
}
const done = await Promise.all(pending);
console.log(JSON.stringify({ ok: done.filter((d) => d.code === 0).length, failed: done.filter((d) => d.code !== 0).length, codes: done.map((d) => d.code), ms: done.map((d) => Math.round(d.ms)) }));
