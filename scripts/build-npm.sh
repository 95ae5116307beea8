#!/usr/bin/env bash
# Builds the npm package into pkg/: Rust -> wasm32 -> wasm-bindgen (web target,
# one build for every runtime) -> wasm-opt -> per-runtime entry files.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

step "cargo build (wasm32, release)"
cargo build --quiet --lib --release --target wasm32-unknown-unknown

step "wasm-bindgen --target web -> pkg/"
rm -rf pkg
mkdir -p pkg
wasm-bindgen --target web --out-dir pkg --out-name feishu_tenant_token \
  target/wasm32-unknown-unknown/release/feishu_tenant_token.wasm
rm -f pkg/feishu_tenant_token_bg.wasm.d.ts
# `[Symbol.dispose]` needs TypeScript's esnext lib: consumers on ES2022 libs
# would fail to type-check. The method itself stays in the JS.
sed -i '/\[Symbol\.dispose\]()/d' pkg/feishu_tenant_token.d.ts

step "wasm-opt -Oz"
# The features rustc enables by default for wasm32-unknown-unknown.
# --zero-filled-memory: a fresh instance's memory is all zeroes, so wasm-opt
# may drop zero data segments.
node_modules/.bin/wasm-opt -Oz --converge --zero-filled-memory --strip-producers \
  --enable-bulk-memory --enable-nontrapping-float-to-int --enable-reference-types \
  --enable-sign-ext --enable-mutable-globals --enable-multivalue \
  -o pkg/feishu_tenant_token_bg.wasm pkg/feishu_tenant_token_bg.wasm

cp npm/node.js npm/web.js npm/workerd.js npm/index.d.ts pkg/
cp npm/README.md pkg/README.md
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
sed "s/\"version\": \"0.0.0\"/\"version\": \"$version\"/" npm/package.json > pkg/package.json

wasm_bytes=$(stat -c %s pkg/feishu_tenant_token_bg.wasm)
wasm_gz=$(gzip -9 -c pkg/feishu_tenant_token_bg.wasm | wc -c)
ok "pkg/ built: feishu-tenant-token@$version, .wasm $wasm_bytes bytes ($wasm_gz gzip -9)"
