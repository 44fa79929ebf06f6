#!/usr/bin/env python3
"""Where the CPU goes per request: users-read on one stack against
PostgreSQL alone (pgbench on the scenario's SQL), both flat out (the
scenario's 64 connections; pgbench over a server's pool of 20) or both at
one planned rate, with the CPU time of every process involved: the client (loadgen or
pgbench), the server, and PostgreSQL (its live processes plus the backends
the postmaster has reaped). When all of them share the machine's cores,
throughput is bounded by cores / CPU per request, so the ratio of the two
totals bounds the fraction of the database's throughput a stack can reach.

    python3 scripts/cpu-budget.py [STACK [DRIVER [RATE]]]   (hyper tokio-postgres max)

Needs release builds (scripts/compare.sh makes them) and the managed cluster
(`target/release/loadgen db start`).
"""
import glob
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
stack, driver, rate = (sys.argv[1:] + ["hyper", "tokio-postgres", "max"][len(sys.argv) - 1:])[:3]
SECONDS = 6
LOADGEN = "target/release/loadgen"
if not (os.access(LOADGEN, os.X_OK) and os.access(f"target/release/stackbench-{stack}", os.X_OK)):
    sys.exit("cpu-budget: build first: cargo build --release --workspace --bins")
HZ = os.sysconf("SC_CLK_TCK")


def loadgen(*args):
    return subprocess.run([LOADGEN, *args], check=True, capture_output=True, text=True).stdout


url = loadgen("db", "url").strip()
data = next(l.split()[-1] for l in loadgen("db", "status").splitlines() if l.startswith("data directory"))
with open(os.path.join(data, "data", "postmaster.pid")) as f:
    postmaster = int(f.readline())


def postgres_cpu():
    """CPU seconds of the cluster: the postmaster, its live children, and
    the children it has reaped, after a pause for it to reap the backends
    of connections just closed."""
    time.sleep(1)
    def stat(pid):
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    ticks = sum(int(v) for v in stat(postmaster)[11:15])  # utime stime cutime cstime
    children = subprocess.run(["pgrep", "-P", str(postmaster)], capture_output=True, text=True).stdout.split()
    for pid in children:
        try:
            ticks += sum(int(v) for v in stat(pid)[11:13])
        except FileNotFoundError:
            pass
    return ticks / HZ


loadgen("db", "reset", "--users", "100000", "--products", "100", "--stock", "1000")

with tempfile.NamedTemporaryFile(suffix=".json") as out:
    before = postgres_cpu()
    load = [] if rate == "max" else ["--rate", rate]
    loadgen("run", "--scenario", "users-read", "--target", stack, "--driver", driver, *load,
            "--duration", f"{SECONDS}s", "--warmup", "0s", "--no-reset", "--out", out.name)
    pg_stack = postgres_cpu() - before
    record = json.load(open(out.name))
requests = record["total"]["requests"]
loadgen_us = record["generator"]["cpu_us_per_request"]
server_us = 1e6 * record["server_usage"]["cpu_seconds"] / requests
pg_stack_us = 1e6 * pg_stack / requests

pgbench = (sorted(glob.glob("/usr/lib/postgresql/*/bin/pgbench")) or ["pgbench"])[-1]
with tempfile.NamedTemporaryFile("w", suffix=".sql") as script:
    script.write("\\set id random(1, 100000)\n"
                 "SELECT id, username, email, created_at, updated_at FROM users WHERE id = :id;\n")
    script.flush()
    before = postgres_cpu()
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    load = [] if rate == "max" else ["-R", rate]
    result = subprocess.run([pgbench, "-n", "-M", "prepared", "-c", "20", "-j", "2", *load,
                             "-T", str(SECONDS), "-f", script.name, url],
                            check=True, capture_output=True, text=True)
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    pg_alone = postgres_cpu() - before
transactions = int(next(l.split()[-1].split("/")[0] for l in result.stdout.splitlines()
                        if "number of transactions actually processed" in l))
pgbench_s = (children_after.ru_utime + children_after.ru_stime
             - children_before.ru_utime - children_before.ru_stime)
pgbench_us = 1e6 * pgbench_s / transactions
pg_alone_us = 1e6 * pg_alone / transactions

stack_total = loadgen_us + server_us + pg_stack_us
alone_total = pgbench_us + pg_alone_us
print(f"users-read, {'flat out' if rate == 'max' else f'at {rate} req/s'} for {SECONDS}s; CPU µs per request, all cores")
print(f"  {stack}+{driver}: loadgen {loadgen_us:.1f} + server {server_us:.1f} + postgres {pg_stack_us:.1f}"
      f" = {stack_total:.1f}   ({requests / SECONDS:.0f} req/s)")
print(f"  ceiling (PostgreSQL alone): pgbench {pgbench_us:.1f} + postgres {pg_alone_us:.1f} = {alone_total:.1f}"
      f"   ({transactions / SECONDS:.0f} req/s)")
print(f"  CPU bound on the stack's fraction of the database's throughput: {alone_total / stack_total:.2f}"
      f" (measured here: {requests / transactions:.2f})")
