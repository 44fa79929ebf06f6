#!/usr/bin/env bash
# The test command: set-up, formatting, lints, then every test against a real
# PostgreSQL (the managed cluster in the per-user data directory, or DATABASE_URL's
# database when set: the tests create and drop databases on its server).
set -euo pipefail
cd "$(dirname "$0")/.."

# Each step says when it started, so a slow one is seen in CI's log.
step() { printf '== [%dm%02ds] %s\n' $((SECONDS / 60)) $((SECONDS % 60)) "$*"; }

step "set-up: PostgreSQL, Go, Bun, Chromium, schemathesis (what is missing)"
bash scripts/setup.sh --tests

# The fault suite's spec fuzz runs schemathesis (PyPI).
bash scripts/fuzz-setup.sh

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "go vet and gofmt (the Go stack)"
(cd servers/go-nethttp && GOPROXY=off GOFLAGS=-mod=mod GOTOOLCHAIN=local go vet ./...)
unformatted=$(gofmt -l servers/go-nethttp)
[ -z "$unformatted" ] || { echo "gofmt would change: $unformatted"; exit 1; }

step "build every stack (the conformance suite starts them)"
cargo build --workspace --bins --locked
target/debug/loadgen stacks build go-nethttp bun bun-hono

step "cargo test"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --workspace --locked 2>&1 | tee "$log"

step "instruction-count gate (blocking): the working tree against the previous commit"
bash scripts/instruction-gate.sh HEAD~1

step "end-to-end gate (report only: a shared machine's verdict is printed, never failing the job)"
# Shorter than the gate's default (6 pairs of 2 s windows instead of 10 of 3 s)
# to keep the whole job well under 30 minutes on CI's 2 cores.
STACKBENCH_GATE_SERVER=axum bash scripts/perf-gate.sh HEAD~1 --pairs 6 --window 2s --out target/gate-report.json \
    || echo "end-to-end gate: exit $? (report only)"
# One closing line for the whole workspace (cargo prints one per test binary).
step "done"
awk '/^test result:/ {passed += $4; failed += $6} END {printf "tests: %d passed, %d failed\n", passed, failed}' "$log"
