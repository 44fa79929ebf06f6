# What the two regression gates share (sourced by scripts/instruction-gate.sh
# and scripts/perf-gate.sh, never run alone). The sourcing script defines
# `say` and `die`, and runs from the repository root.
#
# A gate compares a base revision with the working tree, and both are built
# with cargo. The trap this file exists to avoid: cargo names a workspace
# crate's artifacts by the crate's path *relative to the workspace root*, so
# two checkouts of one workspace that share a target directory share those
# artifacts as well, and cargo decides whether to rebuild them by file times
# alone. A checkout whose files are older than the other checkout's build is
# taken as built, and the gate would measure one revision twice. So the base
# is built in a worktree with a target directory of its own
# (target/gate-base/target). That directory starts as a copy of the head's
# (the dependencies are then not compiled a second time), and the
# workspace's own crates are cleaned from it before the base is built, so
# they are compiled from the base's sources whatever the file times say.
# The head's target directory only ever holds builds of the working tree.

# Where cargo builds the working tree (CARGO_TARGET_DIR, or target/), and
# where the base is checked out and built.
gate_target=${CARGO_TARGET_DIR:-$PWD/target}
gate_dir=$gate_target/gate-base

# gate_resolve_base REV: sets base_commit, or passes the gate (exit 0) with
# one line when there is no such revision (a first commit, a shallow clone).
gate_resolve_base() {
    base=$1
    base_commit=$(git rev-parse --verify --quiet "$base^{commit}") \
        || { say "no base revision $base (a first commit, or a shallow clone): nothing to compare, the gate passes"; exit 0; }
}

# gate_skip_if_unchanged PATH...: passes the gate (exit 0) with one line when
# none of the paths differs between the base and the working tree: both
# sides would then be the same build, and measuring them proves nothing.
gate_skip_if_unchanged() {
    if git diff --quiet "$base_commit" -- "$@" && [ -z "$(git ls-files --others --exclude-standard -- "$@")" ]; then
        say "skipped: nothing it measures differs from $base ($(git rev-parse --short "$base_commit")) in $*"
        exit 0
    fi
}

# gate_checkout_base PROFILE: the base commit in the worktree
# target/gate-base/src, with its own target directory seeded from the head's
# PROFILE output, and the workspace's crates cleaned from it. Call it after
# the head is built, so the seed holds the head's dependencies.
gate_checkout_base() {
    local profile=$1
    git worktree remove --force "$gate_dir/src" 2>/dev/null || true
    rm -rf "$gate_dir"
    git worktree prune
    mkdir -p "$gate_dir/target"
    if [ -d "$gate_target/$profile" ]; then
        cp -a --reflink=auto "$gate_target/$profile" "$gate_dir/target/"
    fi
    git worktree add --quiet --detach "$gate_dir/src" "$base_commit"
    trap 'git worktree remove --force "$gate_dir/src" 2>/dev/null || true' EXIT
    local members
    members=$(gate_at_base cargo metadata --no-deps --format-version 1 --offline \
        | python3 -c 'import json, sys; print(" ".join("-p " + p["name"] for p in json.load(sys.stdin)["packages"]))')
    # shellcheck disable=SC2086 # one word per flag
    gate_at_base cargo clean --quiet --profile "$profile" $members
}

# gate_at_base COMMAND...: runs COMMAND in the base's worktree, building into
# the base's own target directory.
gate_at_base() {
    (cd "$gate_dir/src" && CARGO_TARGET_DIR="$gate_dir/target" "$@")
}
