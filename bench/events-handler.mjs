#!/usr/bin/env node
// The bot's handler for bench/events.mjs, in its own process as a bot's is:
// the official Node SDK's EventDispatcher behind Node's http server. In the
// bench's own process its decryption delayed the clock that times each
// acknowledgement. Told over IPC: {down} to answer 503 (an outage), {ask}
// for how often each message was seen. Exits with its parent.
import http from "node:http";
import lark from "@larksuiteoapi/node-sdk";

const { encryptKey, verificationToken } = JSON.parse(process.argv[2]);
const silent = { error() {}, warn() {}, info() {}, debug() {}, trace() {} };
const seen = new Map();
let down = false;
const dispatcher = new lark.EventDispatcher({ encryptKey, verificationToken, logger: silent }).register({
  "im.message.receive_v1": async (data) => void seen.set(data.message.message_id, (seen.get(data.message.message_id) ?? 0) + 1),
});
const adapt = lark.adaptDefault("/feishu", dispatcher, { autoChallenge: true });
const server = http.createServer((req, res) => (down ? res.writeHead(503).end() : adapt(req, res)));
server.listen(0, "127.0.0.1", () => process.send({ port: server.address().port }));
process.on("message", (m) => {
  if ("down" in m) down = m.down;
  if (m.ask) process.send({ seen: [...seen] });
});
process.on("disconnect", () => process.exit(0));
