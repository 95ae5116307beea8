// The built Worker (worker/build/) in workerd through Miniflare: used by the
// Worker tests, the browser tests (via scripts/dev.mjs) and the benchmarks.
// Needs Node >= 22 (Miniflare's requirement). Fails, never hangs, if workerd
// does not come up.
import { fileURLToPath } from "node:url";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";

const root = fileURLToPath(new URL("../../", import.meta.url));

export const BUILT_WORKER_MODULES = [
  { type: "ESModule", path: "worker/build/index.js" },
  { type: "CompiledWasm", path: "worker/build/index_bg.wasm" },
];

/**
 * What the `faultyKv` option's TOKENS does, switchable at any time with
 * `setKvMode`: "ok" passes every call through to the real namespace,
 * "get-throws" makes every read (get, getWithMetadata, list) throw,
 * "put-throws" makes every write (put, delete) throw.
 */
export const KV_MODES = Object.freeze(["ok", "get-throws", "put-throws"]);

// The `faultyKv` entry module. Miniflare 5 has no public `wrappedBindings`
// option any more (its v4 converter silently drops it) and an RPC service
// binding cannot stand in for KV (wasm-bindgen calls methods through
// Function.prototype.call, which an RPC stub forwards as a method "call"). So
// this module does what a wrapped binding would: it builds the TOKENS object
// the Worker sees, a facade over the real KV namespace whose calls first ask
// Node for the mode (KV_CONTROL, a function service binding that also counts
// the calls), then runs the unchanged Worker with it.
const faultyKvEntry = (workerSpecifier) => `
import { WorkerEntrypoint } from "cloudflare:workers";
import Worker from ${JSON.stringify(workerSpecifier)};

const READS = new Set(["get", "getWithMetadata", "list"]);

function faultyKv(env) {
  const kv = env.TOKENS;
  const call = (op) => async (...args) => {
    const mode = await (await env.KV_CONTROL.fetch("http://kv-control/" + op)).text();
    if ((mode === "get-throws" && READS.has(op)) || (mode === "put-throws" && !READS.has(op))) {
      throw new Error("KV " + op + " failed (injected by the test's faulty KV)");
    }
    return kv[op](...args);
  };
  return Object.fromEntries(["get", "getWithMetadata", "put", "delete", "list"].map((op) => [op, call(op)]));
}

export default class extends WorkerEntrypoint {
  fetch(request) {
    const { KV_CONTROL, ...env } = this.env;
    return new Worker(this.ctx, { ...env, TOKENS: faultyKv(this.env) }).fetch(request);
  }
}
`;

/**
 * Resolves to { mf, url } (url without a trailing slash).
 *
 * `faultyKv: true` (opt-in) puts a facade between the Worker and its TOKENS
 * namespace whose calls throw on demand. The result then also has
 * `setKvMode(mode)` (one of KV_MODES, initially "ok"), `kvCalls()` (calls
 * made through the facade since the start or the last `resetKvCalls()`, as
 * { get: n, put: n, ... }) and `resetKvCalls()`. `mf.getKVNamespace("TOKENS")`
 * is the real namespace behind the facade (never faulty) either way.
 *
 * `kvPersist` (a directory) keeps KV on disk, so a second Worker started
 * with the same directory sees what the first one stored (a restart).
 *
 * `onLog` (opt-in) receives workerd's log lines ({ timestamp, level, message })
 * instead of Miniflare printing them.
 *
 * `coordinator: true` binds COORDINATOR to the Worker's own TokenCoordinator
 * class (user tokens need it; `make dev`'s page signs users in with it).
 */
export async function startBuiltWorker({ vars = {}, host = "127.0.0.1", modules = BUILT_WORKER_MODULES, faultyKv = false, onLog, kvPersist, coordinator = false } = {}) {
  const { Miniflare, Response, convertV4MiniflareOptions } = await import("miniflare");
  const control = { mode: "ok", calls: {} };
  let serviceBindings;
  if (faultyKv) {
    const main = modules[0].path;
    modules = [
      {
        type: "ESModule",
        path: path.join(path.dirname(main), "__faulty_kv_entry.mjs"),
        contents: faultyKvEntry(`./${path.basename(main)}`),
      },
      ...modules,
    ];
    serviceBindings = {
      KV_CONTROL: (request) => {
        const op = new URL(request.url).pathname.slice(1);
        control.calls[op] = (control.calls[op] ?? 0) + 1;
        return new Response(control.mode);
      },
    };
  }
  const mf = new Miniflare(
    convertV4MiniflareOptions({
      rootPath: root,
      host,
      port: 0,
      modules,
      compatibilityDate: "2026-11-01",
      kvNamespaces: ["TOKENS"],
      bindings: vars,
      ...(coordinator && { durableObjects: OBJECT_CLASSES }),
      ...(serviceBindings && { serviceBindings }),
      ...(onLog && { handleStructuredLogs: onLog }),
      // Miniflare 5 calls kvPersist resourcePersistencePath (one root for every store).
      ...(kvPersist && { resourcePersistencePath: kvPersist }),
    }),
  );
  try {
    const url = await Promise.race([
      mf.ready,
      new Promise((_, reject) => setTimeout(() => reject(new Error("workerd did not start within 20 s")), 20_000).unref()),
    ]);
    const started = { mf, url: url.href.replace(/\/$/, "") };
    if (!faultyKv) return started;
    return {
      ...started,
      setKvMode(mode) {
        if (!KV_MODES.includes(mode)) throw new TypeError(`KV mode must be one of ${KV_MODES.join(", ")}, not ${mode}`);
        control.mode = mode;
      },
      kvCalls: () => ({ ...control.calls }),
      resetKvCalls: () => void (control.calls = {}),
    };
  } catch (e) {
    await mf.dispose().catch(() => {});
    throw e;
  }
}

/**
 * Several Workers in one workerd process, each on its own loopback port
 * (Miniflare's direct sockets), for comparisons where a second process's
 * own scheduling would be noise (bench/gateway.mjs: ours against a
 * hand-written proxy). `workers` maps a name to { vars, modules (default
 * the built Worker), coordinator }; each gets a KV namespace of its own.
 * Resolves to { mf, urls: { name: url } }.
 */
export async function startWorkersTogether(workers, { host = "127.0.0.1" } = {}) {
  const { Miniflare, convertV4MiniflareOptions } = await import("miniflare");
  const names = Object.keys(workers);
  const mf = new Miniflare(
    convertV4MiniflareOptions({
      rootPath: root,
      workers: names.map((name) => {
        const { vars = {}, modules = BUILT_WORKER_MODULES, coordinator = false } = workers[name];
        return {
          name,
          modules,
          compatibilityDate: "2026-11-01",
          kvNamespaces: { TOKENS: `tokens-${name}` },
          bindings: vars,
          unsafeDirectSockets: [{ host, port: 0 }],
          ...(coordinator && { durableObjects: OBJECT_CLASSES }),
        };
      }),
    }),
  );
  try {
    await Promise.race([
      mf.ready,
      new Promise((_, reject) => setTimeout(() => reject(new Error("workerd did not start within 20 s")), 20_000).unref()),
    ]);
    const urls = {};
    for (const name of names) urls[name] = (await mf.unsafeGetDirectURL(name)).href.replace(/\/$/, "");
    return { mf, urls };
  } catch (e) {
    await mf.dispose().catch(() => {});
    throw e;
  }
}

/**
 * The Worker's Durable Object bindings, each to its class (wrangler.toml's
 * commented blocks): the token coordinator, the store app's keeper and each
 * user's object. Tests and `make dev` bind all three together.
 */
export const OBJECT_CLASSES = Object.freeze({
  COORDINATOR: "TokenCoordinator",
  STORE_APP_KEEPER: "StoreAppKeeper",
  USER_OBJECTS: "UserObject",
  LIMIT_KEEPERS: "LimitKeeper",
  KEY_LEDGERS: "KeyLedger",
  KEY_REGISTRY: "KeyRegistry",
  EVENT_LOGS: "EventLog",
});

/** The Queue's consumer in tests: keeps each message's body, acknowledged. */
const QUEUE_CONSUMER = {
  name: "queue-consumer",
  compatibilityDate: "2026-11-01",
  modules: [{ type: "ESModule", path: path.join(root, "worker/build/__queue_consumer.mjs"), contents: `
const got = [];
export default {
  async queue(batch) { for (const m of batch.messages) { got.push(m.body); m.ack(); } },
  fetch() { return Response.json(got); },
};` }],
  queueConsumers: { events: { maxBatchSize: 10, maxBatchTimeout: 0.1 } },
};

/** A stand-in's other classes behave as its coordinator does (one role each, one behaviour). */
const STAND_IN_ROLES = `
export class StoreAppKeeper extends TokenCoordinator {}
export class UserObject extends TokenCoordinator {}
export class LimitKeeper extends TokenCoordinator {}
export class KeyLedger extends TokenCoordinator {}
export class KeyRegistry extends TokenCoordinator {}
export class EventLog extends TokenCoordinator {}
`;

/** A stand-in for the coordinator class whose every call throws (a fault). */
const THROWING_COORDINATOR = `
export class TokenCoordinator {
  async fetch() {
    throw new Error("coordinator down (injected by the test)");
  }
}
export default { fetch: () => new Response("coordinator host") };
${STAND_IN_ROLES}`;

/**
 * A stand-in for the coordinator whose storage has failed: every question
 * about tokens is a fault (503, as ours answers when it cannot serve), and
 * every ticket operation too.
 */
const STORAGE_FAILED_COORDINATOR = `
export class TokenCoordinator {
  async fetch() {
    return new Response("", { status: 503 });
  }
}
export default { fetch: () => new Response("coordinator host") };
${STAND_IN_ROLES}`;

/**
 * A stand-in for the coordinator that relays Feishu's refusal of every
 * question (as ours does for made-up credentials) and counts the questions:
 * `GET /questions` on the host Worker answers the count.
 */
const REFUSING_COORDINATOR = `
let questions = 0;
export class TokenCoordinator {
  async fetch() {
    questions += 1;
    return Response.json({ code: 10014, msg: "app secret invalid (stand-in)" }, { status: 400 });
  }
}
export default { fetch: () => new Response(String(questions)) };
${STAND_IN_ROLES}`;

/**
 * `fronts` copies of the built Worker, each its own isolate (its own
 * memory), and one more Worker hosting the Durable Object classes
 * (OBJECT_CLASSES), all in one workerd on one KV namespace, the fronts'
 * bindings to those classes. `coordinator`: "ours" (the built Worker's class), "throws" (a
 * class whose every call throws), "storage-failed" (one that answers 503 to
 * everything), "refuses" (one relaying Feishu's refusal of everything and
 * counting the questions: `questions()` on the result) or "none" (no binding). `persist`: a directory keeping KV and
 * the objects' storage across a restart. `sockets`: each front also on a
 * loopback port of its own (its `url`, for other processes). Resolves to
 * { mf, fronts } where each front has `fetch(path, init)` (and `url`).
 */
export async function startCoordinatedWorkers({ vars = {}, fronts = 2, coordinator = "ours", onLog, persist, sockets = false, queue = false } = {}) {
  const { Miniflare, convertV4MiniflareOptions } = await import("miniflare");
  const common = { compatibilityDate: "2026-11-01", kvNamespaces: { TOKENS: "tokens" }, bindings: vars };
  const standIn = { throws: THROWING_COORDINATOR, "storage-failed": STORAGE_FAILED_COORDINATOR, refuses: REFUSING_COORDINATOR }[coordinator];
  const hostModules = standIn
    ? [{ type: "ESModule", path: path.join(root, "worker/build/__stand_in_coordinator.mjs"), contents: standIn }]
    : BUILT_WORKER_MODULES;
  const names = Array.from({ length: fronts }, (_, i) => `front-${i}`);
  const workers = [
    ...names.map((name) => ({
      ...common,
      name,
      modules: BUILT_WORKER_MODULES,
      ...(sockets && { unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }] }),
      ...(coordinator !== "none" && {
        durableObjects: Object.fromEntries(Object.entries(OBJECT_CLASSES).map(([binding, className]) => [binding, { className, scriptName: "coordinator" }])),
      }),
    })),
    {
      ...common,
      name: "coordinator",
      modules: hostModules,
      durableObjects: OBJECT_CLASSES,
      // The optional Queue the event logs send to (EVENTS), read by a consumer Worker.
      ...(queue && { queueProducers: { EVENTS: { queueName: "events" } } }),
    },
    ...(queue ? [QUEUE_CONSUMER] : []),
  ];
  const mf = new Miniflare(
    convertV4MiniflareOptions({
      rootPath: root,
      host: "127.0.0.1",
      port: 0,
      ...(onLog && { handleStructuredLogs: onLog }),
      // KV and the objects' storage on disk: a restart keeps them, memory goes.
      ...(persist && { resourcePersistencePath: persist }),
      workers,
    }),
  );
  try {
    await Promise.race([
      mf.ready,
      new Promise((_, reject) => setTimeout(() => reject(new Error("workerd did not start within 20 s")), 20_000).unref()),
    ]);
    const handles = await Promise.all(names.map((n) => mf.getWorker(n)));
    const host = await mf.getWorker("coordinator");
    const questions = async () => Number(await (await host.fetch("http://coordinator/questions")).text());
    const consumer = queue ? await mf.getWorker("queue-consumer") : null;
    // Every message the queue delivered so far, in order.
    const queued = async () => (await consumer.fetch("http://queue-consumer/")).json();
    const urls = sockets ? await Promise.all(names.map(async (n) => (await mf.unsafeGetDirectURL(n)).href.replace(/\/$/, ""))) : [];
    return { mf, fronts: handles.map((w, i) => ({ fetch: (p, init) => w.fetch(`http://worker${p}`, init), url: urls[i] })), questions, queued };
  } catch (e) {
    await mf.dispose().catch(() => {});
    throw e;
  }
}

/** The workerd processes this process started (only our own are measured, whatever else runs). */
export function workerdPids(pid = process.pid) {
  const all = execFileSync("ps", ["-e", "-o", "pid=,ppid=,comm="], { encoding: "utf8" })
    .trim()
    .split("\n")
    .map((l) => l.trim().split(/\s+/))
    .map(([p, pp, comm]) => ({ pid: Number(p), ppid: Number(pp), comm }));
  const out = [];
  const walk = (parent) => {
    for (const c of all.filter((x) => x.ppid === parent)) {
      if (c.comm === "workerd") out.push(c.pid);
      walk(c.pid);
    }
  };
  walk(pid);
  return out;
}

/** The resident memory (bytes) of the given processes, from /proc. */
export function rssOf(pids) {
  return pids.reduce((n, pid) => {
    try {
      return n + Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0) * 1024;
    } catch {
      return n;
    }
  }, 0);
}
