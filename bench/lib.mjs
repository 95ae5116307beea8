// Shared by the benchmark scripts: summary statistics, a sandbox in its own
// process (so its work does not share the measured event loop), JSON output.
import { spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

export const root = fileURLToPath(new URL("../", import.meta.url));

export function summary(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)], min: s[0], max: s[s.length - 1], n: s.length };
}

/** Writes bench/out/<name>.json for bench/report.mjs. */
export function writeJson(name, data) {
  mkdirSync(`${root}bench/out`, { recursive: true });
  writeFileSync(`${root}bench/out/${name}.json`, JSON.stringify(data, null, 2));
}

/** The Feishu sandbox as a child process on a free loopback port. */
export async function sandboxProcess(extraArgs = []) {
  const child = spawn(process.execPath, [`${root}sandbox/cli.mjs`, "--port", "0", ...extraArgs], { stdio: ["ignore", "pipe", "inherit"] });
  // Never leave it running, whatever happens to the benchmark.
  process.on("exit", () => child.kill("SIGTERM"));
  const url = await new Promise((resolve, reject) => {
    let out = "";
    child.stdout.on("data", (d) => {
      out += d;
      const m = out.match(/listening on (http:\/\/\S+)/);
      if (m) resolve(m[1]);
    });
    child.on("exit", (c) => reject(new Error(`sandbox exited ${c}`)));
    setTimeout(() => reject(new Error("sandbox did not start")), 10_000).unref();
  });
  const control = async (path, body) => (await fetch(`${url}/__sandbox/${path}`, body ? { method: "POST", body: JSON.stringify(body) } : undefined)).json();
  return {
    url,
    stats: () => control("stats"),
    reset: () => control("reset", {}),
    close: () => child.kill("SIGTERM"),
  };
}
