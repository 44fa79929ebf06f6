#!/usr/bin/env bash
# The test command: set-up, formatting, lints, then every test against a real
# PostgreSQL (the managed cluster under target/, or DATABASE_URL when set).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh

echo "== cargo fmt --check"
cargo fmt --all --check

echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== build the server binaries (the conformance suite starts them)"
cargo build --workspace --bins --locked

echo "== cargo test"
cargo test --workspace --locked
