#!/usr/bin/env node
// `make dev`: the Feishu sandbox plus the demo page (www/, with the built
// package under /pkg/), on loopback. Ports: SANDBOX_PORT (8790), DEMO_PORT (8080).
import http from "node:http";
import { readFile } from "node:fs/promises";
import { extname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";
import { startSandbox, SANDBOX_APPS, SANDBOX_TENANT } from "../tests/sandbox/sandbox.mjs";

const root = fileURLToPath(new URL("..", import.meta.url));

const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".wasm": "application/wasm",
  ".json": "application/json; charset=utf-8",
  ".png": "image/png",
  ".svg": "image/svg+xml",
};

/** Maps a URL path to a file under www/ or pkg/, refusing anything outside them. */
function resolve(pathname) {
  const [dir, rest] = pathname.startsWith("/pkg/") ? ["pkg", pathname.slice(5)] : ["www", pathname.slice(1) || "index.html"];
  const base = join(root, dir);
  const file = normalize(join(base, decodeURIComponent(rest)));
  return file.startsWith(base) ? file : null;
}

/** Starts the sandbox and the demo server; port 0 picks free ports. */
export async function startDev({ host = "127.0.0.1", sandboxPort = 8790, demoPort = 8080 } = {}) {
  const sandbox = await startSandbox({ port: sandboxPort, host });
  const demo = http.createServer(async (req, res) => {
    const { pathname } = new URL(req.url, "http://demo");
    if (pathname === "/config.json") {
      const [appId, app] = Object.entries(SANDBOX_APPS)[0];
      res.writeHead(200, { "content-type": TYPES[".json"], "cache-control": "no-store" });
      return res.end(JSON.stringify({ sandboxUrl: sandbox.url, appId, appAccessToken: app.appAccessToken, tenantKey: SANDBOX_TENANT }));
    }
    const file = resolve(pathname);
    try {
      if (!file) throw new Error("outside");
      const body = await readFile(file);
      res.writeHead(200, { "content-type": TYPES[extname(file)] ?? "application/octet-stream", "cache-control": "no-store" });
      res.end(body);
    } catch {
      res.writeHead(404, { "content-type": "text/plain" });
      res.end("not found");
    }
  });
  await new Promise((r, j) => demo.once("error", j).listen(demoPort, host, r));
  const url = `http://${host}:${demo.address().port}/`;
  return {
    url,
    sandbox,
    close: async () => {
      demo.closeAllConnections();
      await new Promise((r) => demo.close(r));
      await sandbox.close();
    },
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const dev = await startDev({
    sandboxPort: Number(process.env.SANDBOX_PORT ?? 8790),
    demoPort: Number(process.env.DEMO_PORT ?? 8080),
  });
  console.log(`
  Demo page       ${dev.url}      <- open this
  Feishu sandbox  ${dev.sandbox.url}  (controls: ${dev.sandbox.url}/__sandbox/)

  Ctrl-C stops both.`);
  const stop = async () => {
    await dev.close();
    process.exit(0);
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}
