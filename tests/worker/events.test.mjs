// Events at the edge (#37), in workerd: an app's events received at
// POST /events/{app_id} by two fronts, checked as Feishu's callbacks are,
// recorded once by the app's event log object (EVENT_LOGS), acknowledged at
// once and pushed to the bot's own handler: the official Node SDK's
// EventDispatcher (lark.adaptDefault), which checks the signature and
// opens the event with the app's Encrypt Key, unchanged.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { randomBytes } from "node:crypto";
import lark from "@larksuiteoapi/node-sdk";
import { startSandbox, SANDBOX_SELF_BUILT_APPS } from "../../sandbox/sandbox.mjs";
import { seal } from "../../sandbox/callback.mjs";
import { startCoordinatedWorkers } from "./built-worker.mjs";
import { silent } from "./node-sdk.mjs";
import { createAgentKey } from "../../scripts/agent-key.mjs";

const APP = "cli_sandbox_internal_one";
const SECRET = SANDBOX_SELF_BUILT_APPS[APP].appSecret;
const cb = { encryptKey: "events-encrypt-key", verificationToken: "events-verification-token" };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const API_KEY = "events-test-api-key-0123456789abcdef0123";

let sb;
const started = [];
const servers = [];
before(async () => {
  sb = await startSandbox({ quiet: true });
});
after(async () => {
  for (const w of started) await w.mf.dispose().catch(() => {});
  for (const s of servers) s.close();
  await sb?.close();
});

/** The bot's own handler on the official SDK; `down` answers 503 without it. */
async function handler({ cardDelayMs = 0 } = {}) {
  const seen = [];
  const dispatcher = new lark.EventDispatcher({ ...cb, logger: silent }).register({
    "im.message.receive_v1": async (data) => void seen.push(data.message.message_id),
    "card.action.trigger": async (data) => {
      await sleep(cardDelayMs);
      return { toast: { type: "success", content: `pressed ${data.action.value.n}` } };
    },
  });
  const adapt = lark.adaptDefault("/feishu", dispatcher, { autoChallenge: true });
  const state = { seen, down: false, bodies: [] };
  const server = http.createServer((req, res) => {
    if (state.down) {
      res.writeHead(503).end();
      return;
    }
    adapt(req, res);
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  servers.push(server);
  state.url = `http://127.0.0.1:${server.address().port}/feishu`;
  return state;
}

async function workers(subscriber, more = {}) {
  const w = await startCoordinatedWorkers({
    queue: more.queue ?? false,
    coordinator: more.coordinator ?? "ours",
    vars: {
      FEISHU_BASE_URL: sb.url,
      LOG_REQUESTS: "false",
      SELF_BUILT_APPS: JSON.stringify({ [APP]: { secret: SECRET, encrypt_key: cb.encryptKey, verification_token: cb.verificationToken } }),
      ...(subscriber && { EVENT_SUBSCRIBERS: JSON.stringify({ [APP]: [subscriber] }) }),
      API_KEYS: API_KEY,
      ...more.vars,
    },
    onLog: (l) => (more.logs ?? []).push(String(l.message ?? l)),
  });
  started.push(w);
  return w;
}

const message = (messageId, eventId = randomBytes(8).toString("hex")) => ({
  schema: "2.0",
  header: { event_id: eventId, event_type: "im.message.receive_v1", create_time: String(Date.now()), token: cb.verificationToken, app_id: APP, tenant_key: "t" },
  event: { message: { message_id: messageId, chat_id: "oc_1", message_type: "text", content: '{"text":"hi"}' }, sender: { sender_id: { open_id: "ou_a" } } },
});
/** Feishu's push of `event` to `front`: sealed and signed as Feishu does. */
const push = async (front, event, opts) => {
  const { body, headers } = seal(cb, event, opts);
  const r = await front.fetch(`/events/${APP}`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body });
  return { status: r.status, body: await r.text() };
};
async function until(check, ms = 20_000) {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) return false;
    await sleep(50);
  }
  return true;
}

test("each event pushed 5 times to two fronts reaches the SDK's EventDispatcher once, in Feishu's format", async () => {
  const bot = await handler();
  const w = await workers(bot.url);
  const events = Array.from({ length: 10 }, (_, i) => message(`om_${i}`));
  for (let round = 0; round < 5; round++) {
    const answers = await Promise.all(events.map((e, i) => push(w.fronts[(i + round) % 2], e)));
    for (const a of answers) assert.equal(a.status, 200, a.body);
  }
  assert.ok(await until(() => bot.seen.length >= 10), `the handler saw ${bot.seen.length}`);
  await sleep(1500);
  assert.deepEqual([...bot.seen].sort(), events.map((e) => e.event.message.message_id).sort(), "each once");
  // Feishu re-pushed a message under another event id: still once.
  assert.equal((await push(w.fronts[0], message("om_3"))).status, 200);
  await sleep(1500);
  assert.equal(bot.seen.filter((m) => m === "om_3").length, 1);
});

test("the handler down: every event delivered after it returns, in the order received", async () => {
  const bot = await handler();
  bot.down = true;
  const w = await workers(bot.url);
  const ids = ["om_a", "om_b", "om_c", "om_d", "om_e"];
  for (const [i, id] of ids.entries()) assert.equal((await push(w.fronts[i % 2], message(id))).status, 200);
  await sleep(2500);
  assert.deepEqual(bot.seen, [], "nothing while it is down");
  bot.down = false;
  assert.ok(await until(() => bot.seen.length >= ids.length, 30_000), `the handler saw ${bot.seen}`);
  assert.deepEqual(bot.seen, ids, "in the order received");
});

test("one handler down and backing off holds only its own events: a new event reaches the other at once", async () => {
  const [down, up] = [await handler(), await handler()];
  down.down = true;
  const w = await workers(null, { vars: { EVENT_SUBSCRIBERS: JSON.stringify({ [APP]: [down.url, up.url] }) } });
  assert.equal((await push(w.fronts[0], message("om_first"))).status, 200);
  assert.ok(await until(() => up.seen.length === 1, 5_000), "the handler that is up has the first event");
  // The handler that is down was tried at 0, 1 and 3 s: its next try is ~4 s away.
  await sleep(3_500);
  const sent = Date.now();
  assert.equal((await push(w.fronts[1], message("om_second"))).status, 200);
  assert.ok(await until(() => up.seen.length === 2, 1_500), `the second event waited for the other handler's retry (${Date.now() - sent} ms)`);
  down.down = false;
  assert.ok(await until(() => down.seen.length === 2, 15_000), `the handler back up saw ${down.seen}`);
  assert.deepEqual(down.seen, ["om_first", "om_second"], "its own events, in order");
});

test("the event log unreachable: 503 EVENT_LOG_UNAVAILABLE, nothing acknowledged, so Feishu delivers the event again", async () => {
  const bot = await handler();
  for (const coordinator of ["throws", "storage-failed"]) {
    const w = await workers(bot.url, { coordinator });
    const answer = await push(w.fronts[0], message(`om_unrecorded_${coordinator}`));
    assert.equal(answer.status, 503, answer.body);
    const body = JSON.parse(answer.body);
    assert.equal(body.error, "EVENT_LOG_UNAVAILABLE", answer.body);
    assert.equal(body.code, 50303);
  }
  await sleep(500);
  assert.deepEqual(bot.seen, [], "nothing delivered");
});

test("forged, replayed or mis-signed events are refused, nothing delivered; the console's challenge is answered", async () => {
  const bot = await handler();
  const w = await workers(bot.url);
  const [front] = w.fronts;
  const send = (body, headers) => front.fetch(`/events/${APP}`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body });
  // Mis-signed: a valid envelope, the signature of another body.
  const good = seal(cb, message("om_forged"));
  const other = seal(cb, message("om_other"));
  assert.equal((await send(good.body, other.headers)).status, 401);
  // Replayed: a valid push whose timestamp is an hour old.
  const old = seal({ ...cb }, message("om_replayed"));
  const stale = String(Math.floor(Date.now() / 1000) - 3600);
  const { createHash } = await import("node:crypto");
  const sig = createHash("sha256").update(stale + old.headers["X-Lark-Request-Nonce"] + cb.encryptKey).update(old.body).digest("hex");
  assert.equal((await send(old.body, { ...old.headers, "X-Lark-Request-Timestamp": stale, "X-Lark-Signature": sig })).status, 401);
  // Forged: sealed with another key, or unsigned.
  const forged = seal({ ...cb, encryptKey: "not-the-key" }, message("om_forged2"));
  assert.equal((await send(forged.body, forged.headers)).status, 401);
  const unsigned = seal(cb, message("om_unsigned"), { signed: false });
  assert.equal((await send(unsigned.body, unsigned.headers)).status, 401);
  // An app the Worker receives nothing for.
  assert.equal((await front.fetch("/events/cli_unknown", { method: "POST", body: "{}" })).status, 404);
  // The console's URL verification (encrypted, unsigned).
  const challenge = { challenge: "ch-123", token: cb.verificationToken, type: "url_verification" };
  const c = seal(cb, challenge, { signed: false });
  const answer = await send(c.body, c.headers);
  assert.equal(answer.status, 200);
  assert.deepEqual(await answer.json(), { challenge: "ch-123" });
  await sleep(1500);
  assert.deepEqual(bot.seen, [], "nothing delivered");
});

test("a card callback goes to its handler at once and its answer back to Feishu; past the 2.5 s budget, an empty 200", async () => {
  const card = (n) => ({
    schema: "2.0",
    header: { event_id: randomBytes(8).toString("hex"), event_type: "card.action.trigger", create_time: String(Date.now()), token: cb.verificationToken, app_id: APP, tenant_key: "t" },
    event: { operator: { open_id: "ou_a" }, action: { value: { n }, tag: "button" }, context: { open_message_id: "om_card" } },
  });
  const quick = await handler();
  const w = await workers({ url: quick.url, types: ["card.action.trigger"] });
  const answer = await push(w.fronts[0], card(7));
  assert.equal(answer.status, 200);
  assert.deepEqual(JSON.parse(answer.body), { toast: { type: "success", content: "pressed 7" } });

  const logs = [];
  const slow = await handler({ cardDelayMs: 3500 });
  const w2 = await workers({ url: slow.url, types: ["card.action.trigger"] }, { logs });
  const t = Date.now();
  const late = await push(w2.fronts[0], card(8));
  const took = Date.now() - t;
  assert.equal(late.status, 200);
  assert.deepEqual(JSON.parse(late.body), { code: 0, msg: "ok" }, "an empty acknowledgement");
  assert.ok(took < 3000, `answered within Feishu's 3 s: ${took} ms`);
  assert.ok(logs.some((l) => l.includes("card_callback_unanswered")), logs.join("\n"));
});

test("pull: two consumers in a group take each event once between them, two apart each read all; a long poll waits for the next", async () => {
  const w = await workers(null);
  const [a, b] = w.fronts;
  const pull = async (front, query) => {
    const r = await front.fetch(`/v1/events?app_id=${APP}&${query}`, { headers: { authorization: `Bearer ${API_KEY}` } });
    assert.equal(r.status, 200, await r.clone().text());
    return r.json();
  };
  const ids = ["om_p1", "om_p2", "om_p3", "om_p4", "om_p5", "om_p6"];
  for (const [i, id] of ids.entries()) {
    assert.equal((await push(w.fronts[i % 2], message(id))).status, 200);
    await push(w.fronts[(i + 1) % 2], message(id)); // Feishu's repeat
  }
  const mids = (answer) => answer.events.map((e) => e.event.event.message.message_id);
  // Apart (no group): each reads everything, by its own cursor.
  const first = await pull(a, "");
  assert.deepEqual(mids(first), ids, "every event once, in order");
  assert.equal(first.events[0].event_type, "im.message.receive_v1");
  assert.deepEqual(mids(await pull(b, "")), ids);
  assert.deepEqual(mids(await pull(a, `cursor=${first.next_cursor}`)), [], "nothing after the last");
  // One group: two instances pulling at once share the events, each to one.
  const [x, y] = await Promise.all([pull(a, "group=workers"), pull(b, "group=workers")]);
  const shared = [...mids(x), ...mids(y)];
  assert.deepEqual(shared.sort(), [...ids].sort(), "each event to one of them");
  assert.deepEqual(mids(await pull(a, "group=workers")), [], "the group is past them");
  // A long poll answers when the next event arrives.
  const t = Date.now();
  const waiting = pull(b, `group=workers&wait=10`);
  await sleep(500);
  await push(a, message("om_p7"));
  const got = await waiting;
  assert.deepEqual(mids(got), ["om_p7"]);
  assert.ok(Date.now() - t < 5000, "answered on arrival, not at the end of the wait");
  // An API key is required; an unknown app, a bad wait: refused.
  assert.equal((await a.fetch(`/v1/events?app_id=${APP}`)).status, 401);
  assert.equal((await a.fetch(`/v1/events?app_id=cli_other`, { headers: { authorization: `Bearer ${API_KEY}` } })).status, 404);
  assert.equal((await a.fetch(`/v1/events?app_id=${APP}&wait=31`, { headers: { authorization: `Bearer ${API_KEY}` } })).status, 400);
});

test("pull as Server-Sent Events: one id: per event, resumed after Last-Event-ID", async () => {
  const w = await workers(null);
  const [a, b] = w.fronts;
  for (const id of ["om_s1", "om_s2"]) assert.equal((await push(a, message(id))).status, 200);
  /** Reads frames until `n` events came; then stops reading. */
  const read = async (headers, n) => {
    const controller = new AbortController();
    const r = await b.fetch(`/v1/events?app_id=${APP}`, { headers: { authorization: `Bearer ${API_KEY}`, accept: "text/event-stream", ...headers }, signal: controller.signal });
    assert.equal(r.status, 200);
    assert.match(r.headers.get("content-type"), /^text\/event-stream/);
    const frames = [];
    let text = "";
    const reader = r.body.getReader();
    const decoder = new TextDecoder();
    while (frames.length < n) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
      let at;
      while ((at = text.indexOf("\n\n")) >= 0) {
        const frame = text.slice(0, at);
        text = text.slice(at + 2);
        if (frame.startsWith("id:")) frames.push(frame);
      }
    }
    await reader.cancel().catch(() => {});
    controller.abort();
    return frames.map((f) => Object.fromEntries(f.split("\n").map((l) => [l.slice(0, l.indexOf(":")), l.slice(l.indexOf(":") + 1).trim()])));
  };
  const first = await read({}, 2);
  assert.deepEqual(first.map((f) => JSON.parse(f.data).event.message.message_id), ["om_s1", "om_s2"]);
  assert.deepEqual(first.map((f) => f.event), ["im.message.receive_v1", "im.message.receive_v1"]);
  // Reconnecting after the first: the stream resumes with the second, then waits for the next.
  const resumed = read({ "last-event-id": first[0].id }, 2);
  await sleep(300);
  assert.equal((await push(a, message("om_s3"))).status, 200);
  assert.deepEqual((await resumed).map((f) => JSON.parse(f.data).event.message.message_id), ["om_s2", "om_s3"]);
});

test("a Cloudflare Queue (EVENTS bound): one message per event, repeats dropped, in Miniflare", async () => {
  const w = await workers(null, { queue: true });
  const ids = ["om_q1", "om_q2", "om_q3"];
  for (const id of ids) {
    const e = message(id);
    for (const front of w.fronts) assert.equal((await push(front, e)).status, 200);
  }
  let got = [];
  const end = Date.now() + 15_000;
  while (Date.now() < end && got.length < ids.length) {
    await sleep(200);
    got = await w.queued();
  }
  await sleep(1000);
  got = await w.queued();
  assert.deepEqual(got.map((m) => m.event.event.message.message_id), ids, "each once, in order");
  assert.deepEqual(Object.keys(got[0]).sort(), ["app_id", "event", "event_id", "event_type", "seq"]);
  assert.equal(got[0].app_id, APP);
});

test("dead letters: past EVENT_RETRY_SECS a handler's events are kept for an API key to list and replay", async () => {
  const bot = await handler();
  bot.down = true;
  const w = await workers(bot.url, { vars: { EVENT_RETRY_SECS: "2" } });
  const [a] = w.fronts;
  for (const id of ["om_d1", "om_d2"]) assert.equal((await push(a, message(id))).status, 200);
  const api = (path, method = "GET") => a.fetch(path, { method, headers: { authorization: `Bearer ${API_KEY}` } });
  let dead = [];
  const end = Date.now() + 20_000;
  while (Date.now() < end && dead.length < 2) {
    await sleep(250);
    dead = (await (await api(`/v1/events/dead?app_id=${APP}`)).json()).dead_letters;
  }
  assert.deepEqual(dead.map((d) => [d.handler, d.event_type]), [[0, "im.message.receive_v1"], [0, "im.message.receive_v1"]]);
  assert.deepEqual(bot.seen, []);
  bot.down = false;
  const replayed = await (await api(`/v1/events/dead/replay?app_id=${APP}`, "POST")).json();
  assert.deepEqual(replayed, { replayed: 2, failed: 0 });
  assert.deepEqual(bot.seen, ["om_d1", "om_d2"]);
  assert.deepEqual((await (await api(`/v1/events/dead?app_id=${APP}`)).json()).dead_letters, []);
  assert.equal((await a.fetch(`/v1/events/dead?app_id=${APP}`)).status, 401, "an API key is required");
});

test("an agent key whose entry lists event types pulls those of its own app only", async () => {
  const reader = createAgentKey({ id: "event-reader", app: APP, allow: ["GET /open-apis/im/v1/chats"] });
  const plain = createAgentKey({ id: "no-events", app: APP, allow: ["GET /open-apis/im/v1/chats"] });
  const w = await workers(null, {
    vars: { AGENT_KEYS: JSON.stringify([{ ...reader.entry, events: ["im.message.receive_v1"] }, plain.entry]) },
  });
  const [a] = w.fronts;
  assert.equal((await push(a, message("om_r1"))).status, 200);
  const added = { ...message("x"), header: { ...message("x").header, event_type: "im.chat.member.bot.added_v1" }, event: { chat_id: "oc_2" } };
  assert.equal((await push(a, added)).status, 200);
  const as = (key) => a.fetch(`/v1/events?app_id=${APP}`, { headers: { authorization: `Bearer ${key}` } });
  const got = await (await as(reader.key)).json();
  assert.deepEqual(got.events.map((e) => e.event_type), ["im.message.receive_v1"], "only the types its entry lists");
  // Its groups are its own: it never moves a service's group on.
  const grouped = (key, auth) => a.fetch(`/v1/events?app_id=${APP}&group=shared`, { headers: { authorization: `Bearer ${auth ?? key}` } });
  assert.equal((await (await grouped(reader.key)).json()).events.length, 1);
  const service = await (await grouped(null, API_KEY)).json();
  assert.deepEqual(service.events.map((e) => e.event_type), ["im.message.receive_v1", "im.chat.member.bot.added_v1"], "the service's group untouched");
  const refused = await as(plain.key);
  assert.equal(refused.status, 403);
  assert.equal((await refused.json()).error, "KEY_NOT_ALLOWED");
  assert.equal((await a.fetch(`/v1/events?app_id=cli_other`, { headers: { authorization: `Bearer ${reader.key}` } })).status, 403, "another app");
  assert.equal((await as(`ftt_ak_${"z".repeat(43)}`)).status, 401);
});
