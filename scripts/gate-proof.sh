#!/usr/bin/env bash
# Proof that both regression gates, run as CI runs them (.ci/run: base
# HEAD~1), see what a commit does to the code, and how often they are
# wrong. In a scratch clone of this checkout's HEAD, each gate is run on
# commits made on top of it, each a change to a source file as a user's
# commit is:
#   neutral     what the code does does not change (a comment in shop's
#               money.rs): the gate must pass; end to end, RUNS_NEUTRAL
#               runs (default 20), at most one may be a regression.
#   instructions  Money's Display writes through a String of its own (an
#               allocation per amount): the instruction gate must exit 99.
#   cpu         about 15% more CPU per request: CPU burnt in every product
#               listing of shop's store (one request in six of `smoke`);
#               RUNS_CHANGED runs (default 10), at least 9 regressions.
#   sleep       1 ms of async sleep in every user read (shop's store) and no
#               CPU, gated on `users-read`, whose closed throughput is
#               CPU-bound, so that only a latency figure can see it;
#               RUNS_CHANGED runs, at least 9 regressions.
# Each end-to-end case's first run goes through perf-gate.sh as CI runs it,
# the others use `loadgen gate` on the same two builds. The instruction
# gate counts instructions, which do not move from run to run: once each.
#
# The clone builds into a target directory of its own (target/gate-proof),
# seeded with a copy of this checkout's last gate build of the working tree
# (scripts/gate-lib.sh rebuilds what differs from it). Results: results/gate-proof.json,
# with the machine and the command.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-lib.sh
runs_neutral=${RUNS_NEUTRAL:-20}
runs_changed=${RUNS_CHANGED:-10}
proof=$PWD/target/gate-proof
repo=$proof/repo
head=$(git rev-parse HEAD)
ci_pairs=(--pairs 10 --window 2s)   # as in .ci/run
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

# e2e CASE RUNS [GATE FLAGS...]: the end-to-end gate on the clone's last
# commit against the one before, RUNS times.
e2e() {
    local case=$1 runs=$2 i builds=$proof/target/gates
    shift 2
    record "e2e-$case-1" env STACKBENCH_GATE_SERVER=axum bash scripts/perf-gate.sh HEAD~1 "${ci_pairs[@]}" \
        "$@" --out "$proof/e2e-$case-1.json"
    for i in $(seq 2 "$runs"); do
        record "e2e-$case-$i" "$builds/head/gate/loadgen" gate --base "$builds/base/gate/stackbench-axum" \
            --head "$builds/head/gate/stackbench-axum" "${ci_pairs[@]}" "$@" --out "$proof/e2e-$case-$i.json"
    done
    echo "$runs" > "$proof/e2e-$case.runs"
}

display='        write!(f, "{value}")
'
listing='    ) -> Result<Vec<Product>, StoreError> {
        dispatch!(self, s => s.list_products(category, page).await)'
burn='    ) -> Result<Vec<Product>, StoreError> {
        let mut x = std::hint::black_box(0x9E37_79B9_7F4A_7C15u64);
        for _ in 0..100_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x = std::hint::black_box(x);
        }
        dispatch!(self, s => s.list_products(category, page).await)'
user='    pub async fn get_user(&self, id: i64) -> Result<User, StoreError> {
        dispatch!(self, s => s.get_user(id).await)'
nap='    pub async fn get_user(&self, id: i64) -> Result<User, StoreError> {
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        dispatch!(self, s => s.get_user(id).await)'

echo "== neutral: a comment in servers/shop/src/money.rs"
make_commit neutral servers/shop/src/money.rs 'impl fmt::Display for Money {' \
    '// Amounts are written with two decimals, as the contract shows them.
impl fmt::Display for Money {'
record instructions-neutral bash scripts/instruction-gate.sh HEAD~1
e2e neutral "$runs_neutral"

echo "== regression (instructions): Money's Display through a String of its own"
make_commit instructions servers/shop/src/money.rs "$display" '        let text = value.to_string();
        f.write_str(&text)
'
record instructions-regression bash scripts/instruction-gate.sh HEAD~1

echo "== regression (end to end): CPU burnt in every product listing"
make_commit cpu servers/shop/src/store/mod.rs "$listing" "$burn"
e2e cpu "$runs_changed"

echo "== regression (end to end): 1 ms of async sleep in every user read, on users-read"
make_commit sleep servers/shop/src/store/mod.rs "$user" "$nap"
e2e sleep "$runs_changed" --scenario users-read

python3 - "$proof" "$(machine_json)" "$(git rev-parse --short HEAD)" "${ci_pairs[*]}" > results/gate-proof.json <<'PY'
import json, re, sys
proof, machine, commit, ci_flags = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3], sys.argv[4]
exit_of = lambda name: int(open(f"{proof}/{name}.exit").read())
def e2e(case):
    rows = []
    for i in range(1, int(open(f"{proof}/e2e-{case}.runs").read()) + 1):
        record = json.load(open(f"{proof}/e2e-{case}-{i}.json"))
        rows.append({
            "run": i,
            "how": "perf-gate.sh HEAD~1, both sides built" if i == 1 else "loadgen gate on the same two builds",
            "exit": exit_of(f"e2e-{case}-{i}"),
            "verdict": record["verdict"],
            "changes": {m["figure"]: {k: m[k] if m[k] is None else round(m[k], 4) for k in ("ratio", "low", "high")}
                                     | {"verdict": m["verdict"]}
                        for m in record["changes"]},
            "errors": record["errors"],
            "invalid_windows": sum(not w["valid"] for w in record["windows"]),
            "steal_percent_median": sorted(w["steal_percent"] for w in record["windows"])[len(record["windows"]) // 2],
        })
    regressions = sum(row["verdict"] == "regression" for row in rows)
    return {"runs": len(rows), "regressions": regressions, "exits": [row["exit"] for row in rows], "each": rows}
def instructions(case):
    log = open(f"{proof}/instructions-{case}.log").read()
    changes = re.findall(r"^(instructions::\S+ \S+?)(?::.*)?\n(?:  Baselines:.*\n)?  Instructions:\s+(\d+)\|(\d+)\s+\(([^)]*)\)", log, re.M)
    return {"exit": exit_of(f"instructions-{case}"),
            "benchmarks": [{"benchmark": b, "new": int(n), "old": int(o), "change": c} for b, n, o, c in changes]}
json.dump({
    "what": "both regression gates as CI runs them (base HEAD~1), each on commits that change a source file: "
            "without changing behaviour (must pass), and with a regression (must exit 99)",
    "command": "bash scripts/gate-proof.sh",
    "commit": commit,
    "machine": machine,
    "instruction_gate": {"neutral": instructions("neutral"), "regression": instructions("regression")},
    "end_to_end_gate": {
        "ci_flags": ci_flags,
        "neutral": e2e("neutral") | {"change": "a comment in servers/shop/src/money.rs", "required": "at most 1 regression in 20"},
        "cpu": e2e("cpu") | {"change": "about 15% more CPU per request on smoke (a loop in every product listing)",
                             "required": "at least 9 regressions in 10"},
        "sleep": e2e("sleep") | {"change": "1 ms of async sleep, no CPU, in every user read; gated on users-read",
                                 "required": "at least 9 regressions in 10"},
    },
}, sys.stdout, indent=2)
PY
echo "saved results/gate-proof.json"
