#!/usr/bin/env bash
# Builds the Worker into worker/build/ with worker-build, pointing it at the
# project's own wasm-bindgen, wasm-opt and esbuild (it would otherwise try to
# download them, which fails offline). wrangler.toml's [build] runs this, so
# `wrangler dev` and `wrangler deploy` build the same way.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
root=$PWD
# The gate is 512 KiB gzip -9 of the whole deployable .wasm (name section
# kept for stack traces): growth past it is a decision. docs/size.md has the
# figures (node scripts/size-table.mjs, run by make bench). Raised from 256
# KiB for user tokens (#26: sign-in, each user's object, sealed grants:
# +52 KB gzip measured), then from 320 KiB for Feishu's limits (#35: the
# pacers, RATE_LIMITS, coalesced updates, the limits' object: +26.4 KB gzip
# measured, 323,340 -> 349,690 B, of which the object's class ~6 KB), then
# from 352 KiB for the operators' surface (#36: usage counted per app and
# month, the quota's guard, keys at run time and their registry, the admin
# API and its page: +86.4 KB gzip measured, 360,343 -> 446,790 B; the
# admin endpoints' futures alone +60 KB raw), then from 448 KiB for events at
# the edge (#37: each app's callback, the event log object, pushes sealed for
# the handlers, card callbacks, pull and Server-Sent Events, the Queue, dead
# letters: +51.8 KB gzip measured, 447,224 -> 498,976 B),
# far below Workers' own script limit (3 MB compressed on the free plan).
WORKER_GATE=$((512 * 1024))
export WASM_BINDGEN_BIN="${WASM_BINDGEN_BIN:-$(command -v wasm-bindgen)}"
export WASM_OPT_BIN="${WASM_OPT_BIN:-$root/node_modules/.bin/wasm-opt}"
export ESBUILD_BIN="${ESBUILD_BIN:-$root/node_modules/.bin/esbuild}"
for b in "$WASM_BINDGEN_BIN" "$WASM_OPT_BIN" "$ESBUILD_BIN"; do
  [ -x "$b" ] || { echo "build-worker: $b is missing: run scripts/setup.sh" >&2; exit 1; }
done
cd worker
worker-build --release
wasm=build/index_bg.wasm
[ -f "$wasm" ] || wasm=$(ls build/*.wasm | head -n1)
size_gate "worker/$wasm" "$(stat -c %s "$wasm")" "$(gzip -9 -c "$wasm" | wc -c)" "$WORKER_GATE"
