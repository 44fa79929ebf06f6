#!/usr/bin/env bash
# Makes sure the instruction-count benchmarks can run: valgrind (OS packages)
# and gungraun-runner at the gungraun library's exact version, built once into
# target/tools (where .cargo/config.toml points GUNGRAUN_RUNNER). Safe to run
# again: it installs only what is missing. Sourced by the scripts that need it.
runner_version=0.20.0   # must equal the gungraun version in Cargo.lock

bench_tools() {
    local root; root=$(pwd)
    if ! command -v valgrind >/dev/null; then
        command -v apt-get >/dev/null || { echo "bench-tools: valgrind not found: install it (instruction counts come from callgrind)" >&2; return 1; }
        echo "bench-tools: installing valgrind from the OS packages" >&2
        local run=(); [ "$(id -u)" -eq 0 ] || run=(sudo)
        "${run[@]}" apt-get update -qq
        "${run[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends valgrind >/dev/null
    fi
    local runner=$root/target/tools/bin/gungraun-runner
    if [ "$("$runner" --version 2>/dev/null | awk '{print $2}')" != "$runner_version" ]; then
        # A debug build: the runner only starts valgrind and reads its files,
        # and this compiles in a fraction of the release build's time.
        echo "bench-tools: installing gungraun-runner $runner_version into target/tools (once; a few minutes)" >&2
        cargo install gungraun-runner --version "=$runner_version" --locked --debug --quiet \
            --root "$root/target/tools" --target-dir "$root/target/tools/build"
    fi
    export GUNGRAUN_RUNNER=$runner
}
