// One service instance for bench/gateway.mjs: a fresh official Node SDK
// client (self-built app) with `domain` = argv[2], making argv[3] API calls
// one after another. Prints one JSON line {ok, failed}.
import * as lark from "@larksuiteoapi/node-sdk";

const [domain, calls] = [process.argv[2], Number(process.argv[3] ?? 10)];
const silent = { error() {}, warn() {}, info() {}, debug() {}, trace() {} };
const client = new lark.Client({
  appId: "cli_sandbox_internal_one",
  appSecret: "sandbox-internal-secret-one",
  domain,
  cache: new lark.DefaultCache(),
  logger: silent,
});
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
