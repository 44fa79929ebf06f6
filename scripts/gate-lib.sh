# What the two regression gates share (sourced by scripts/instruction-gate.sh
# and scripts/perf-gate.sh, never run alone). The sourcing script defines
# `say` and `die`, and runs from the repository root.
#
# A gate compares a base revision with the working tree, and both are built
# with cargo. Two traps decide how:
#
# - Cargo names a workspace crate's artifacts by the crate's path *relative
#   to the workspace root*, so two checkouts that share a target directory
#   share those artifacts, and cargo decides whether to rebuild them by file
#   times alone: a checkout whose files are older than the other's build is
#   taken as built, and the gate would measure one revision twice. So each
#   side has a target directory of its own (target/gates/base and
#   target/gates/head), and what a side rebuilds is decided by the content
#   of its sources, not their file times (gate_side).
# - The same source built at two paths is not the same program: the path
#   goes into the crates' hashes, and with them into symbol names and how
#   rustc splits a crate into codegen units, which decides what gets inlined
#   (docs/gates.md gives the difference it made). So both sides are built
#   from one directory (target/gates/src), the base's sources in it, then
#   the head's, and their target directories have names of one length.
#
# Both gates build the same packages with the same flags (`gate_build`), so
# when both run, the second finds both sides built.

# Where cargo builds the working tree (CARGO_TARGET_DIR, or target/), and
# under it, the gates' source directory and each side's target directory.
gate_target=${CARGO_TARGET_DIR:-$PWD/target}
gate_dir=$gate_target/gates

# The one build both gates measure: every server, loadgen and the
# micro-benchmarks, optimized (the `gate` profile). Cargo unifies features
# across the packages of one build, so a gate that built fewer packages
# would build different dependencies, and the other gate would build them
# all again.
gate_cargo() {
    local command=$1; shift
    cargo "$command" --quiet --locked --profile gate -p stackbench-benches -p stackbench-hyper \
        -p stackbench-axum -p stackbench-actix -p loadgen "$@"
}
gate_build() { gate_cargo build --bins --bench instructions; }

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

# The working tree's files as git sees them: tracked (as edited, unless
# deleted) and untracked but not ignored, NUL-separated.
gate_working_tree_files() {
    git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' file; do
        if [ -f "$file" ]; then printf '%s\0' "$file"; fi
    done
}

# gate_in_src TARGET COMMAND...: runs COMMAND (a shell function too) in
# target/gates/src, with TARGET as cargo's target directory, outside any git
# repository as far as the build can tell (loadgen's build script records
# the commit it was built from): both sides alike.
gate_in_src() {
    local target=$1; shift
    (cd "$gate_dir/src" && export CARGO_TARGET_DIR="$target" GIT_CEILING_DIRECTORIES="$gate_dir" && "$@")
}

# gate_side base|head: builds that side (gate_build) from its sources (the
# base commit, or the working tree), put in target/gates/src, into the
# side's own target directory, and leaves them there for commands run with
# gate_in_src. A side's target directory starts as a copy of the other
# side's, so dependencies compile once. Which of its crates cargo rebuilds
# is decided by content, not by when files were written: every source file
# is set to one old time, except those whose content the directory's last
# build did not see (`built-from` lists each file's digest), which are set
# to now. Cargo then rebuilds exactly the crates with a changed file, and
# those that depend on them. With no record of a last build (none yet, or
# one that failed), the workspace's crates are cleaned and built afresh.
gate_side() {
    local side=$1
    local src=$gate_dir/src target=$gate_dir/$side other
    if [ "$side" = base ]; then other=$gate_dir/head; else other=$gate_dir/base; fi
    rm -rf "$src" && mkdir -p "$src" || return 1
    if [ "$side" = base ]; then
        git archive "$base_commit" | tar -x -C "$src" || return 1
    else
        gate_working_tree_files | tar --null --files-from=- -c | tar -x -C "$src" || return 1
    fi
    if [ ! -d "$target" ] && [ -d "$other" ]; then
        cp -a --reflink=auto "$other" "$target" || return 1
    fi
    mkdir -p "$target"
    local sources=$gate_dir/sources-$side
    (cd "$src" && find . -type f -print0 | sort -z | xargs -0 sha1sum) > "$sources" || return 1
    find "$src" -exec touch -h -d @1 {} + || return 1
    if [ -f "$target/built-from" ]; then
        # `sha1sum` lines: 40 hex digits, two spaces, the path.
        LC_ALL=C comm -23 <(LC_ALL=C sort "$sources") <(LC_ALL=C sort "$target/built-from") \
            | cut -c43- | while IFS= read -r file; do
            touch -h "$src/$file"
        done
    else
        local members
        members=$(gate_in_src "$target" cargo metadata --no-deps --format-version 1 --offline \
            | python3 -c 'import json, sys; print(" ".join("-p " + p["name"] for p in json.load(sys.stdin)["packages"]))') \
            || return 1
        # shellcheck disable=SC2086 # one word per flag
        gate_in_src "$target" cargo clean --quiet --profile gate $members || return 1
    fi
    # A build that fails part way leaves crates built from sources no record
    # names: the next build starts from a clean slate.
    rm -f "$target/built-from"
    gate_in_src "$target" gate_build || return 1
    mv "$sources" "$target/built-from"
}
