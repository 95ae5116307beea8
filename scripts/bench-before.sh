#!/usr/bin/env bash
# Builds an earlier commit's Worker and npm package into target/bench-before/
# (a detached git worktree), so `make bench BEFORE=<commit>` measures the
# gateway, the cache hit and `client.fetch` of both builds in the same run: a
# same-run A/B, where the machine moves both figures alike. Idempotent: an
# existing build of the same commit is kept.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

commit=${1:?usage: scripts/bench-before.sh <commit>}
sha=$(git rev-parse --verify --quiet "$commit^{commit}") || die "bench-before: no commit \"$commit\" in this clone"
dir=target/bench-before
if [ -f "$dir/BUILT" ] && [ "$(cat "$dir/BUILT")" = "$sha" ]; then
  ok "bench-before: $dir holds ${sha:0:12} already"
  exit 0
fi
step "bench-before: ${sha:0:12} into $dir (its own Worker and npm builds)"
git worktree remove --force "$dir" 2>/dev/null || rm -rf "$dir"
git worktree prune
mkdir -p target
git worktree add --detach --quiet "$dir" "$sha"
# The tools this clone installed (wasm-opt, Miniflare) serve the old tree too.
ln -s "$PWD/node_modules" "$dir/node_modules"
# Its own target directory: the two trees' artifacts never overwrite each other.
(cd "$dir" && CARGO_TARGET_DIR="$PWD/target" scripts/build-worker.sh && CARGO_TARGET_DIR="$PWD/target" scripts/build-npm.sh)
echo "$sha" > "$dir/BUILT"
ok "bench-before: ${sha:0:12} built in $dir (BENCH_BEFORE=$dir)"
