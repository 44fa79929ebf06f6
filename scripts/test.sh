#!/usr/bin/env bash
# The test command: set-up, formatting, lints, the Go and TypeScript checks,
# then every test against a real PostgreSQL (the managed cluster in the
# per-user data directory, or DATABASE_URL's database when set: the tests
# create and drop databases on its server). CI runs it, then the regression
# gates (.ci/run).
#
#   bash scripts/test.sh            everything
#   bash scripts/test.sh --quick    everyday work: fmt, clippy, the Go and
#                                   TypeScript checks, unit tests and the
#                                   contract suite (no fault suite, no load runs)
set -euo pipefail
cd "$(dirname "$0")/.."
quick=false
case "${1:-}" in
    --quick) quick=true ;;
    "") ;;
    *) echo "usage: bash scripts/test.sh [--quick]" >&2; exit 2 ;;
esac

# Each step says when it started, so a slow one is seen in CI's log.
step() { printf '== [%dm%02ds] %s\n' $((SECONDS / 60)) $((SECONDS % 60)) "$*"; }

step "set-up: PostgreSQL, Go, Bun, Chromium, the Python tools (what is missing)"
bash scripts/setup.sh --tests
# The fault suite's spec fuzz runs schemathesis, and the manifests' test
# kubernetes-validate (both from PyPI).
$quick || bash scripts/python-tools.sh

step "cargo fmt --check; the links of README.md and docs/"
cargo fmt --all --check
bash scripts/check-links.sh

step "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "the Go and TypeScript stacks: go vet, gofmt, go test, tsc, bun test"
bash scripts/check-go-ts.sh

cargo_all() { cargo "$@" --workspace --locked; }

step "build every stack and every test (the tests start the stacks)"
# With the tests, in one build: their dev-dependencies (criterion's regex,
# for one) turn on features of shared crates, and a build of the binaries
# alone would compile those crates, the servers and loadgen a second time,
# differently, for `cargo test`.
cargo_all build --bins --tests
target/debug/loadgen stacks build go-nethttp bun bun-hono

step "cargo test$($quick && echo ": unit tests and the contract suite")"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if $quick; then
    cargo_all test --lib --test contract 2>&1 | tee "$log"
else
    cargo_all test 2>&1 | tee "$log"
fi

step "done"
# Each test binary's time, slowest first, so the next slow test is seen; then
# one closing line for the whole workspace (cargo prints one per binary).
awk '/^ *Running/ { name = $0; sub(/.*deps\//, "", name); sub(/-[0-9a-f]+\)$/, "", name); name = name " " $2 }
     /^ *Doc-tests/ { name = $2 " doc-tests" }
     /^test result:/ { sub(/s$/, "", $NF); printf "%8.1f s  %s\n", $NF, name }' "$log" | sort -rn | head -12
awk '/^test result:/ {passed += $4; failed += $6} END {printf "tests: %d passed, %d failed\n", passed, failed}' "$log"
