#!/usr/bin/env bash
# Builds the npm package into pkg/: Rust -> wasm32 -> wasm-bindgen (web target,
# one build for every runtime) -> wasm-opt -> per-runtime entry files.
#
# Three .wasm files from the npm crate (npm/): the main entry's (tenant tokens
# only), `feishu-tenant-token/store-app`'s (the whole store-app chain, event
# decryption and checks) and `feishu-tenant-token/user-tokens`'s (OAuth 2 with
# PKCE, single-use refresh tokens), so users who only need tenant tokens do
# not download AES or OAuth. Each build fails above its size gate (gzip -9).
MAIN_GATE=$((64 * 1024))
STORE_APP_GATE=$((96 * 1024))
USER_TOKENS_GATE=$((96 * 1024))
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

rm -rf pkg
mkdir -p pkg

# build <out-name> <gate bytes> <cargo feature args...>
build() {
  local name=$1 gate=$2
  shift 2
  step "cargo build -p feishu-tenant-token-npm (wasm32, release${*:+, $*}) -> pkg/$name"
  cargo build --quiet --lib --release --target wasm32-unknown-unknown -p feishu-tenant-token-npm "$@"
  wasm-bindgen --target web --out-dir pkg --out-name "$name" \
    target/wasm32-unknown-unknown/release/feishu_tenant_token_npm.wasm
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
  size_gate "pkg/${name}_bg.wasm" "$bytes" "$gz" "$gate"
}

build feishu_tenant_token "$MAIN_GATE"
build store_app "$STORE_APP_GATE" --features store-app
build user_tokens "$USER_TOKENS_GATE" --features user-tokens

cp npm/node.js npm/web.js npm/workerd.js npm/index.d.ts pkg/
cp npm/store-app.node.js npm/store-app.web.js npm/store-app.workerd.js npm/store-app.d.ts pkg/
cp npm/user-tokens.node.js npm/user-tokens.web.js npm/user-tokens.workerd.js npm/user-tokens.d.ts pkg/
# Entries with the .wasm inlined, for bundles that do not copy files.
node scripts/embed-wasm.mjs embedded.js feishu_tenant_token.js feishu_tenant_token_bg.wasm \
  getTenantAccessToken SelfBuiltAppClient TenantTokenClient
node scripts/embed-wasm.mjs store-app.embedded.js store_app.js store_app_bg.wasm \
  getAppAccessToken resendAppTicket parseEvent StoreAppClient
node scripts/embed-wasm.mjs user-tokens.embedded.js user_tokens.js user_tokens_bg.wasm \
  UserTokenClient createPkce
cp npm/README.md pkg/README.md
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
sed "s/\"version\": \"0.0.0\"/\"version\": \"$version\"/" npm/package.json > pkg/package.json
ok "pkg/ built: feishu-tenant-token@$version"
