#!/usr/bin/env bash
# The end-to-end regression gate: builds a base revision (default HEAD~1)
# and the working tree as the instruction gate does (scripts/gate-lib.sh,
# the `gate` profile), then runs `loadgen gate` on one server's two builds: alternated short windows of the
# `smoke` scenario against the managed PostgreSQL, and a verdict per figure
# (throughput, p50 and p99 at an equal rate, CPU per request, errors) that
# is pass, regression or inconclusive. When nothing the server is built from differs
# from the base, it is skipped with one line: the two builds would be one.
#
#   bash scripts/perf-gate.sh [BASE] [loadgen gate flags...]
#   STACKBENCH_GATE_SERVER=axum     the server to gate (hyper, axum or actix)
#
# Exit: loadgen gate's (0 pass or inconclusive, 99 regression, 98
# inconclusive with --strict), 0 when skipped, or 1 on an error.
set -euo pipefail
cd "$(dirname "$0")/.."
base=HEAD~1
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then base=$1; shift; fi
server=${STACKBENCH_GATE_SERVER:-axum}
case $server in hyper | axum | actix) ;; *) echo "perf-gate: STACKBENCH_GATE_SERVER must be hyper, axum or actix, not '$server'" >&2; exit 2 ;; esac
say() { printf 'perf-gate: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }
source scripts/gate-lib.sh

bash scripts/setup.sh
gate_resolve_base "$base"
# What the server binary is built from (its crate, shop and shop's own
# workspace dependency, the workspace manifest, the lock and cargo's config).
gate_skip_if_unchanged Cargo.toml Cargo.lock .cargo schema servers/shop servers/runtime "servers/$server"

# Both sides are built as the instruction gate builds them (gate_build):
# after it, both builds are there already.
say "building the base, $base ($(git rev-parse --short "$base_commit")), and the working tree"
gate_side base || die "the base does not build"
gate_side head || die "the working tree does not build"

status=0
"$gate_dir/head/gate/loadgen" gate \
    --base "$gate_dir/base/gate/stackbench-$server" --head "$gate_dir/head/gate/stackbench-$server" "$@" || status=$?
exit $status
