#!/usr/bin/env bash
# Proof that both regression gates, run as CI runs them (.ci/run: base
# HEAD~1), see what a commit does to the code. In a scratch clone of this
# checkout's HEAD, each gate is run on two commits made on top of it:
#   neutral     a source file changes and what the code does does not (a
#               comment in shop's money.rs): the gate must pass;
#   regression  a source file changes for the worse: the gate must exit 99.
#               Instruction gate: Money's Display writes through a String of
#               its own (an allocation per amount). End-to-end gate: about
#               0.2 ms of CPU in every product listing of shop's store (one
#               request in six of the `smoke` scenario).
# The end-to-end gate measures a shared machine, so each of its cases is
# measured RUNS times (default 3): the first through perf-gate.sh as CI runs
# it, the others with `loadgen gate` on the same two builds. The instruction
# gate counts instructions, which do not move from run to run: once each.
#
# The clone builds into a target directory of its own (target/gate-proof),
# seeded with a copy of this checkout's last gate build of the working tree
# (scripts/gate-lib.sh rebuilds what differs from it). Results: results/gate-proof.json,
# with the machine and the command.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-lib.sh
runs=${RUNS:-3}
proof=$PWD/target/gate-proof
repo=$proof/repo
head=$(git rev-parse HEAD)
ci_pairs=(--pairs 8 --window 2s)   # as in .ci/run
bash scripts/setup.sh

rm -rf "$proof" && mkdir -p "$proof/target/gates"
[ -d target/gates/head ] && cp -a --reflink=auto target/gates/head "$proof/target/gates/"
git clone --quiet --no-hardlinks "$PWD" "$repo"
export CARGO_TARGET_DIR=$proof/target

# make_commit CASE FILE OLD NEW: the clone at this checkout's HEAD plus one
# commit that replaces OLD by NEW in FILE (OLD must be there, once).
make_commit() {
    git -C "$repo" reset --quiet --hard "$head"
    python3 - "$repo/$2" "$3" "$4" <<'PY'
import sys
path, old, new = sys.argv[1:]
text = open(path).read()
if text.count(old) != 1:
    sys.exit(f"gate-proof: {path} no longer has the anchor {old!r}: update scripts/gate-proof.sh")
open(path, "w").write(text.replace(old, new))
PY
    git -C "$repo" -c user.name=gate-proof -c user.email=gate-proof@localhost \
        commit --quiet -am "gate proof: $1"
}

# record NAME COMMAND...: runs COMMAND in the clone, keeping its log and exit.
record() {
    local name=$1; shift
    local status=0
    (cd "$repo" && "$@") > "$proof/$name.log" 2>&1 || status=$?
    echo "$status" > "$proof/$name.exit"
    echo "   $name: exit $status"
}

e2e() { # CASE
    record "e2e-$1-1" env STACKBENCH_GATE_SERVER=axum bash scripts/perf-gate.sh HEAD~1 "${ci_pairs[@]}" \
        --out "$proof/e2e-$1-1.json"
    local i builds=$proof/target/gates
    for i in $(seq 2 "$runs"); do
        record "e2e-$1-$i" "$builds/head/gate/loadgen" gate --base "$builds/base/gate/stackbench-axum" \
            --head "$builds/head/gate/stackbench-axum" "${ci_pairs[@]}" --out "$proof/e2e-$1-$i.json"
    done
}

display='        write!(f, "{value}")
'
listing='    ) -> Result<Vec<Product>, StoreError> {
        dispatch!(self, s => s.list_products(category, page).await)'
burn='    ) -> Result<Vec<Product>, StoreError> {
        let mut x = std::hint::black_box(0x9E37_79B9_7F4A_7C15u64);
        for _ in 0..120_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x = std::hint::black_box(x);
        }
        dispatch!(self, s => s.list_products(category, page).await)'

echo "== neutral: a comment in servers/shop/src/money.rs"
make_commit neutral servers/shop/src/money.rs 'impl fmt::Display for Money {' \
    '// Amounts are written with two decimals, as the contract shows them.
impl fmt::Display for Money {'
record instructions-neutral bash scripts/instruction-gate.sh HEAD~1
e2e neutral

echo "== regression (instructions): Money's Display through a String of its own"
make_commit instructions servers/shop/src/money.rs "$display" '        let text = value.to_string();
        f.write_str(&text)
'
record instructions-regression bash scripts/instruction-gate.sh HEAD~1

echo "== regression (end to end): CPU burnt in every product listing"
make_commit listing servers/shop/src/store/mod.rs "$listing" "$burn"
e2e regression

python3 - "$proof" "$runs" "$(machine_json)" "$(git rev-parse --short HEAD)" > results/gate-proof.json <<'PY'
import json, re, sys
proof, runs, machine, commit = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3]), sys.argv[4]
exit_of = lambda name: int(open(f"{proof}/{name}.exit").read())
def e2e(case):
    rows = []
    for i in range(1, runs + 1):
        record = json.load(open(f"{proof}/e2e-{case}-{i}.json"))
        rows.append({
            "run": i,
            "how": "perf-gate.sh HEAD~1, both sides built" if i == 1 else "loadgen gate on the same two builds",
            "exit": exit_of(f"e2e-{case}-{i}"),
            "verdict": record["verdict"],
            "changes": {m["figure"]: {"ratio": round(m["ratio"], 4), "low": round(m["low"], 4),
                                      "high": round(m["high"], 4), "verdict": m["verdict"]}
                        for m in record["changes"]},
            "errors": record["errors"],
        })
    return rows
def instructions(case):
    log = open(f"{proof}/instructions-{case}.log").read()
    changes = re.findall(r"^(instructions::\S+ \S+?)(?::.*)?\n(?:  Baselines:.*\n)?  Instructions:\s+(\d+)\|(\d+)\s+\(([^)]*)\)", log, re.M)
    return {"exit": exit_of(f"instructions-{case}"),
            "benchmarks": [{"benchmark": b, "new": int(n), "old": int(o), "change": c} for b, n, o, c in changes]}
json.dump({
    "what": "both regression gates as CI runs them (base HEAD~1) on a commit that changes a source file "
            "without changing behaviour (must pass) and on one that adds a regression in a source file (must exit 99)",
    "command": "bash scripts/gate-proof.sh",
    "commit": commit,
    "machine": machine,
    "instruction_gate": {"neutral": instructions("neutral"), "regression": instructions("regression")},
    "end_to_end_gate": {"ci_flags": "--pairs 8 --window 2s", "neutral": e2e("neutral"), "regression": e2e("regression")},
}, sys.stdout, indent=2)
PY
echo "saved results/gate-proof.json"
