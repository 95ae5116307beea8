#!/usr/bin/env bash
# Runs every cargo-fuzz target for FUZZ_SECONDS (default 20) each, starting
# from the committed seeds in fuzz/corpus/<target>/seed-*. Prints executions
# per target; fails on the first crash (its input lands in fuzz/artifacts/).
#
# cargo-fuzz needs nightly-only -Z flags (sanitizers). These machines have
# only the stable toolchain, so RUSTC_BOOTSTRAP=1 lets stable accept them:
# for fuzzing only, never for the shipped builds.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
seconds=${FUZZ_SECONDS:-20}
targets=(parse_response validate kv_value event_decrypt event_receive)
passed=0
failed=0
for t in "${targets[@]}"; do
  step "fuzz $t for ${seconds}s"
  log=$(mktemp)
  if (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run --release "$t" -- -max_total_time="$seconds" -print_final_stats=1) >"$log" 2>&1; then
    runs=$(grep -oE 'Done [0-9]+ runs' "$log" | grep -oE '[0-9]+' | tail -n1)
    ok "$t: ${runs:-?} executions, no crash"
    passed=$((passed + 1))
  else
    grep -E 'panicked|SUMMARY|ERROR|artifact' "$log" | head -n 20 >&2 || tail -n 20 "$log" >&2
    failed=$((failed + 1))
  fi
  rm -f "$log"
done
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
