#!/usr/bin/env node
// Events at the edge (#37), on loopback (run with Node >= 22, by `make
// bench`): two fronts on their own sockets with the event log object, the
// bot's handler the official Node SDK's EventDispatcher in its own process
// (bench/events-handler.mjs).
//  1. acknowledgement latency: pushes at 500 a second for 6 s (600 distinct
//     message events, each pushed 5 times, Feishu's retries compressed),
//     alternating fronts: each push's time to its 200, p50 and p99;
//  2. a 60 s run: 20 new events a second, each pushed 5 times (the repeats
//     spread over the next seconds, as Feishu's retries), the handler down
//     from 20 s to 35 s; then up to 60 s more for the retries: events
//     delivered, duplicated, lost.
//  0. the floor: the same pushes to a minimal JS Worker whose Durable Object
//     stores each body under its event id (one object, one put per event)
//     and answers: what the runtime's hop and storage cost by themselves.
// Bounded in count and time; stops by itself. Prints figures and writes
// bench/out/events.json; asserts nothing.
import http from "node:http";
import { randomBytes } from "node:crypto";
import { fork } from "node:child_process";
import { startCoordinatedWorkers } from "../tests/worker/built-worker.mjs";
import { seal } from "../sandbox/callback.mjs";
import { sandboxProcess, writeJson } from "./lib.mjs";
import { SANDBOX_SELF_BUILT_APPS } from "../sandbox/sandbox.mjs";

const APP = "cli_sandbox_internal_one";
const cb = { encryptKey: "bench-encrypt-key", verificationToken: "bench-verification-token" };
const RATE = 500;
const ACK_SECONDS = 6;
const WARM_SECONDS = 2;
const RUN_SECONDS = 60;
const NEW_PER_SECOND = 20;
const REPEATS = 5;
const OUTAGE = [20_000, 35_000];
const DRAIN_MS = 60_000;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const percentile = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

const sb = await sandboxProcess();
// The bot's handler, in its own process (bench/events-handler.mjs).
const bot = fork(new URL("./events-handler.mjs", import.meta.url), [JSON.stringify(cb)], { stdio: "inherit" });
const botPort = await new Promise((resolve) => bot.once("message", (m) => resolve(m.port)));
/** How often the handler saw each message, as of now. */
const handlerSaw = () =>
  new Promise((resolve) => {
    bot.once("message", (m) => resolve(new Map(m.seen)));
    bot.send({ ask: true });
  });
const w = await startCoordinatedWorkers({
  sockets: true,
  vars: {
    FEISHU_BASE_URL: sb.url,
    LOG_REQUESTS: "false",
    SELF_BUILT_APPS: JSON.stringify({ [APP]: { secret: SANDBOX_SELF_BUILT_APPS[APP].appSecret, encrypt_key: cb.encryptKey, verification_token: cb.verificationToken } }),
    EVENT_SUBSCRIBERS: JSON.stringify({ [APP]: [`http://127.0.0.1:${botPort}/feishu`] }),
  },
  onLog: () => {},
});
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
const FLOOR = `
export class Floor {
  constructor(state) { this.state = state; }
  async fetch(request) {
    const id = request.headers.get("x-event-id");
    const seen = await this.state.storage.get(id);
    if (!seen) await this.state.storage.put({ [id]: await request.text(), next: Date.now() });
    return new Response('{"code":0}');
  }
}
export default {
  async fetch(request, env) {
    const body = await request.text();
    const id = String(body.length) + request.headers.get("x-lark-request-nonce");
    const stub = env.LOG.get(env.LOG.idFromName("app"));
    return stub.fetch("http://log/", { method: "POST", body, headers: { "x-event-id": id } });
  },
};`;
const { Miniflare, convertV4MiniflareOptions } = await import("miniflare");
const floorMf = new Miniflare(
  convertV4MiniflareOptions({
    modules: [{ type: "ESModule", path: "bench/events-floor.mjs", contents: FLOOR }],
    compatibilityDate: "2026-11-01",
    durableObjects: { LOG: "Floor" },
    unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }],
  }),
);
await floorMf.ready;
const floorUrl = (await floorMf.unsafeGetDirectURL()).href.replace(/\/$/, "");
const message = (id) => ({
  schema: "2.0",
  header: { event_id: randomBytes(8).toString("hex"), event_type: "im.message.receive_v1", create_time: String(Date.now()), token: cb.verificationToken, app_id: APP, tenant_key: "t" },
  event: { message: { message_id: id, chat_id: "oc_1", message_type: "text", content: '{"text":"hi"}' } },
});
/** One push of `event` (sealed and signed afresh, as Feishu's retry is) to front `i`: its time to the answer and status. */
function push(i, event, base) {
  const { body, headers } = seal(cb, event);
  const url = new URL(base ?? `${w.fronts[i % 2].url}/events/${APP}`);
  const t = performance.now();
  return new Promise((resolve) => {
    const req = http.request(url, { method: "POST", agent, headers: { "content-type": "application/json", ...headers } }, (res) => {
      res.resume();
      res.on("end", () => resolve({ ms: performance.now() - t, status: res.statusCode }));
    });
    req.on("error", () => resolve({ ms: performance.now() - t, status: 0 }));
    req.end(body);
  });
}
/** Runs `step(k)` at `perSecond`, k = 0.., for `seconds`; resolves when all are answered. */
async function paced(perSecond, seconds, step) {
  const all = [];
  const start = performance.now();
  for (let k = 0; k < perSecond * seconds; k++) {
    const due = start + (k * 1000) / perSecond;
    const wait = due - performance.now();
    if (wait > 1) await sleep(wait);
    all.push(step(k));
  }
  return Promise.all(all);
}

/**
 * Pushes at RATE for ACK_SECONDS to `base` (a front's URL when undefined),
 * each of RATE * ACK_SECONDS / REPEATS events 5 times (event k at k, k+n,
 * k+2n ...), after WARM_SECONDS of the same on other events: the runtime
 * compiling the Worker's hot code and the object's first load are a
 * deployment's first second, not the steady state Feishu meets (their
 * figure is kept as `cold`). The acknowledgements' p50 and p99.
 */
async function acknowledged(tag, base) {
  const events = (prefix, seconds) => Array.from({ length: (RATE * seconds) / REPEATS }, (_, k) => message(`om_${tag}_${prefix}_${k}`));
  const pushed = async (list, seconds) => {
    const acks = await paced(RATE, seconds, (k) => push(k, list[k % list.length], base));
    const ms = acks.map((a) => a.ms);
    return { pushes: acks.length, p50: percentile(ms, 50), p99: percentile(ms, 99), non200: acks.filter((a) => a.status !== 200).length };
  };
  const cold = await pushed(events("warm", WARM_SECONDS), WARM_SECONDS);
  const list = events("ack", ACK_SECONDS);
  return { ...(await pushed(list, ACK_SECONDS)), events: list, cold };
}

const results = {};
try {
  // 0. The floor, same pushes, same rate.
  const { events: _floorEvents, ...floor } = await acknowledged("floor", floorUrl);
  results.floor = floor;

  // 1. Acknowledgement latency at 500 pushes a second.
  const { events: ackEvents, ...ack } = await acknowledged("ours");
  results.ack = { rate: RATE, events: ackEvents.length, ...ack };
  const drainAck = Date.now() + 30_000;
  let seen = await handlerSaw();
  while (Date.now() < drainAck && ackEvents.some((e) => !seen.has(e.event.message.message_id))) {
    await sleep(200);
    seen = await handlerSaw();
  }
  results.ack.delivered = ackEvents.filter((e) => seen.has(e.event.message.message_id)).length;
  results.ack.duplicated = ackEvents.filter((e) => (seen.get(e.event.message.message_id) ?? 0) > 1).length;

  // 2. 60 s with repeats and a handler outage.
  const runEvents = Array.from({ length: NEW_PER_SECOND * RUN_SECONDS }, (_, k) => message(`om_run_${k}`));
  // The handler down from OUTAGE[0] to OUTAGE[1] (told over IPC).
  const outage = [setTimeout(() => bot.send({ down: true }), OUTAGE[0]), setTimeout(() => bot.send({ down: false }), OUTAGE[1])];
  // Each second: that second's new events once, and earlier ones again (1, 2, 4, 8 s later).
  const lags = [0, 1, 2, 4, 8];
  const schedule = [];
  for (let k = 0; k < runEvents.length; k++) for (const lag of lags) schedule.push({ at: Math.floor(k / NEW_PER_SECOND) + lag, k });
  schedule.sort((a, b) => a.at - b.at);
  const answers = [];
  for (let second = 0; second <= RUN_SECONDS + Math.max(...lags); second++) {
    const now = schedule.filter((s) => s.at === second);
    const tick = Date.now();
    answers.push(...(await Promise.all(now.map((s, i) => push(i, runEvents[s.k])))));
    await sleep(Math.max(0, 1000 - (Date.now() - tick)));
  }
  outage.forEach(clearTimeout);
  bot.send({ down: false });
  const drain = Date.now() + DRAIN_MS;
  seen = await handlerSaw();
  while (Date.now() < drain && runEvents.some((e) => !seen.has(e.event.message.message_id))) {
    await sleep(250);
    seen = await handlerSaw();
  }
  const counts = runEvents.map((e) => seen.get(e.event.message.message_id) ?? 0);
  results.run = {
    seconds: RUN_SECONDS,
    events: runEvents.length,
    pushes: answers.length,
    non200: answers.filter((a) => a.status !== 200).length,
    outageMs: OUTAGE[1] - OUTAGE[0],
    delivered: counts.filter((c) => c >= 1).length,
    duplicated: counts.filter((c) => c > 1).length,
    lost: counts.filter((c) => c === 0).length,
    drainedMs: Date.now() - (drain - DRAIN_MS),
  };
} finally {
  await w.mf.dispose();
  await floorMf.dispose();
  bot.disconnect();
  agent.destroy();
  sb.close();
}

const f = (x) => x.toFixed(2);
const { ack, run } = results;
console.log(`\nfeishu-tenant-token events at the edge (Node ${process.version}, loopback, ${new Date().toISOString()})\n`);
console.log(`  the floor (a minimal JS Worker and Durable Object storing each push, same pushes): p50 ${f(results.floor.p50)} ms, p99 ${f(results.floor.p99)} ms (its first ${results.floor.cold.pushes}: ${f(results.floor.cold.p50)} / ${f(results.floor.cold.p99)} ms)`);
console.log(`  acknowledgement at ${ack.rate} pushes/s (${ack.pushes} pushes of ${ack.events} events over two fronts, after ${ack.cold.pushes} others): p50 ${f(ack.p50)} ms, p99 ${f(ack.p99)} ms (the first ${ack.cold.pushes}: ${f(ack.cold.p50)} / ${f(ack.cold.p99)} ms); not 200: ${ack.non200}; delivered ${ack.delivered}/${ack.events}, duplicated ${ack.duplicated}`);
console.log(`  ${run.seconds} s run, ${run.events} events x ${REPEATS} pushes, the handler down ${run.outageMs / 1000} s: delivered ${run.delivered}, duplicated ${run.duplicated}, lost ${run.lost} (all in ${(run.drainedMs / 1000).toFixed(0)} s after the last push); pushes not answered 200: ${run.non200}\n`);
writeJson("events", { node: process.version, ...results });
