// One service instance for bench/gateway.mjs: a fresh official Node SDK
// client (self-built app) with `domain` = argv[2], making argv[3] API calls
// one after another. Prints one JSON line {ok, failed}.
import { fleetClient } from "../tests/worker/node-sdk.mjs";

const [domain, calls] = [process.argv[2], Number(process.argv[3] ?? 10)];
const client = await fleetClient(domain);
let ok = 0;
let failed = 0;
for (let i = 0; i < calls; i++) {
  try {
    const r = await client.request({ method: "POST", url: "/open-apis/im/v1/messages", params: { receive_id_type: "chat_id" }, data: { receive_id: "oc_bench", msg_type: "text", content: '{"text":"hi"}' } });
    r.code === 0 ? ok++ : failed++;
  } catch {
    failed++;
  }
}
console.log(JSON.stringify({ ok, failed }));
