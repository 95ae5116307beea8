// The built Worker (worker/build/) in workerd through Miniflare: used by the
// Worker tests, the browser tests (via scripts/dev.mjs) and the benchmarks.
// Needs Node >= 22 (Miniflare's requirement). Fails, never hangs, if workerd
// does not come up.
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../../", import.meta.url));

export const BUILT_WORKER_MODULES = [
  { type: "ESModule", path: "worker/build/index.js" },
  { type: "CompiledWasm", path: "worker/build/index_bg.wasm" },
];

/** Resolves to { mf, url } (url without a trailing slash). */
export async function startBuiltWorker({ vars = {}, host = "127.0.0.1", modules = BUILT_WORKER_MODULES } = {}) {
  const { Miniflare, convertV4MiniflareOptions } = await import("miniflare");
  const mf = new Miniflare(
    convertV4MiniflareOptions({
      rootPath: root,
      host,
      port: 0,
      modules,
      compatibilityDate: "2026-11-01",
      kvNamespaces: ["TOKENS"],
      bindings: vars,
    }),
  );
  try {
    const url = await Promise.race([
      mf.ready,
      new Promise((_, reject) => setTimeout(() => reject(new Error("workerd did not start within 20 s")), 20_000).unref()),
    ]);
    return { mf, url: url.href.replace(/\/$/, "") };
  } catch (e) {
    await mf.dispose().catch(() => {});
    throw e;
  }
}
