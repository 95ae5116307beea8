#!/usr/bin/env node
// The npm package's size and start-up: both .wasm files' gzip size (the main
// entry's and store-app's) and the time to import (and instantiate) the
// package in a fresh Node process. Speed comparisons with the official SDK
// are in bench/peers.mjs. Writes bench/out/npm.json.
import { gzip9 } from "../scripts/size-gates.mjs";
import { readFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { root, summary, writeJson } from "./lib.mjs";

const wasm = readFileSync(`${root}pkg/feishu_tenant_token_bg.wasm`);
const storeApp = readFileSync(`${root}pkg/store_app_bg.wasm`);
const userTokens = readFileSync(`${root}pkg/user_tokens_bg.wasm`);
const importMs = [];
for (let i = 0; i < 7; i++) {
  const out = execFileSync(process.execPath, [
    "--input-type=module",
    "-e",
    `const t = performance.now(); await import(${JSON.stringify(`file://${root}pkg/node.js`)}); console.log(performance.now() - t);`,
  ]);
  importMs.push(Number(out));
}
const result = {
  node: process.version,
  wasmBytes: wasm.length,
  wasmGzip: gzip9(wasm),
  storeAppWasmBytes: storeApp.length,
  storeAppWasmGzip: gzip9(storeApp),
  userTokensWasmBytes: userTokens.length,
  userTokensWasmGzip: gzip9(userTokens),
  importMs: summary(importMs),
};
writeJson("npm", result);
console.log(`\nnpm package: main .wasm ${result.wasmBytes} B, ${result.wasmGzip} B gzip -9; store-app .wasm ${result.storeAppWasmBytes} B, ${result.storeAppWasmGzip} B gzip -9; user-tokens .wasm ${result.userTokensWasmBytes} B, ${result.userTokensWasmGzip} B gzip -9; import + instantiate in Node ${result.importMs.median.toFixed(1)} ms (median of 7)\n`);
