import { execFileSync } from "node:child_process";
// The size gates (gzip -9 bytes) of the four shipped .wasm files and where
// each is built: read by scripts/size-table.mjs (docs/size.md) and by the
// benchmarks (bench/RESULTS.md). The build scripts enforce their own gates
// when they build (scripts/build-npm.sh, scripts/build-worker.sh).
export const ARTEFACTS = [
  {
    key: "worker",
    name: "Worker `.wasm`",
    // scripts/build-worker.sh: worker/build/index_bg.wasm, else the first .wasm there.
    dir: "worker/build",
    file: "index_bg.wasm",
    build: "scripts/build-worker.sh",
    gate: 524_288,
  },
  {
    key: "npmMain",
    name: "npm main entry `.wasm` (`feishu-tenant-token`)",
    dir: "pkg",
    file: "feishu_tenant_token_bg.wasm",
    build: "make build (scripts/build-npm.sh)",
    gate: 65_536,
  },
  {
    key: "storeApp",
    name: "npm store-app `.wasm` (`feishu-tenant-token/store-app`)",
    dir: "pkg",
    file: "store_app_bg.wasm",
    build: "make build (scripts/build-npm.sh)",
    gate: 98_304,
  },
  {
    key: "userTokens",
    name: "npm user-tokens `.wasm` (`feishu-tenant-token/user-tokens`)",
    dir: "pkg",
    file: "user_tokens_bg.wasm",
    build: "make build (scripts/build-npm.sh)",
    gate: 98_304,
  },
];

/** Gate (gzip -9 bytes) by key: worker, npmMain, storeApp, userTokens. */
export const SIZE_GATES = Object.fromEntries(ARTEFACTS.map((a) => [a.key, a.gate]));

/**
 * The gzip -9 size of `bytes`, by GNU gzip: the measure the build scripts
 * gate with (Node's zlib at level 9 compresses differently, by up to 1.1 KB
 * on these files), so every figure we print matches the gates.
 */
export function gzip9(bytes) {
  return execFileSync("gzip", ["-9", "-c"], { input: bytes, maxBuffer: 64 * 1024 * 1024 }).length;
}
