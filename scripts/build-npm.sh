#!/usr/bin/env bash
# Builds the npm package into pkg/: Rust -> wasm32 -> wasm-bindgen (web target,
# one build for every runtime) -> wasm-opt -> per-runtime entry files.
#
# Two .wasm files: the main entry's (tenant tokens only; the size budget is
# 40 KB gzip) and `feishu-tenant-token/store-app`'s (the whole store-app
# chain, event decryption and checks), so users who only need tenant tokens
# do not download AES.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

rm -rf pkg
mkdir -p pkg

# build <out-name> <cargo feature args...>
build() {
  local name=$1
  shift
  step "cargo build (wasm32, release, $*) -> pkg/$name"
  cargo build --quiet --lib --release --target wasm32-unknown-unknown "$@"
  wasm-bindgen --target web --out-dir pkg --out-name "$name" \
    target/wasm32-unknown-unknown/release/feishu_tenant_token.wasm
  rm -f "pkg/${name}_bg.wasm.d.ts"
  # `[Symbol.dispose]` needs TypeScript's esnext lib: consumers on ES2022 libs
  # would fail to type-check. The method itself stays in the JS.
  sed -i '/\[Symbol\.dispose\]()/d' "pkg/$name.d.ts"
  step "wasm-opt -Oz pkg/${name}_bg.wasm"
  # The features rustc enables by default for wasm32-unknown-unknown.
  # --zero-filled-memory: a fresh instance's memory is all zeroes, so wasm-opt
  # may drop zero data segments.
  node_modules/.bin/wasm-opt -Oz --converge --zero-filled-memory --strip-producers \
    --enable-bulk-memory --enable-nontrapping-float-to-int --enable-reference-types \
    --enable-sign-ext --enable-mutable-globals --enable-multivalue \
    -o "pkg/${name}_bg.wasm" "pkg/${name}_bg.wasm"
  local bytes gz
  bytes=$(stat -c %s "pkg/${name}_bg.wasm")
  gz=$(gzip -9 -c "pkg/${name}_bg.wasm" | wc -c)
  ok "pkg/${name}_bg.wasm: $bytes bytes ($gz gzip -9)"
}

build feishu_tenant_token --no-default-features --features npm
build store_app

cp npm/node.js npm/web.js npm/workerd.js npm/index.d.ts pkg/
cp npm/store-app.node.js npm/store-app.web.js npm/store-app.workerd.js npm/store-app.d.ts pkg/
cp npm/README.md pkg/README.md
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
sed "s/\"version\": \"0.0.0\"/\"version\": \"$version\"/" npm/package.json > pkg/package.json
ok "pkg/ built: feishu-tenant-token@$version"
