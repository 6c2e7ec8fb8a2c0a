#!/usr/bin/env python
"""Times playbooks/site.yml (host tuning stage) on the lab: one converge on
fresh nodes, then idempotent re-runs. Reports wall time and controller CPU
(user + system of ansible-playbook and its ssh children, from getrusage).

Usage: bench/host_tuning.py [--nodes N] [--reruns K] [--keep]
Results: printed as a Markdown table and written to bench/results/*.json.
Method and figures: docs/benchmarks.md."""
import argparse
import datetime
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECAP = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def timed(argv, env=None):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    proc = subprocess.run(argv, cwd=ROOT, env=env, text=True, capture_output=True, check=False)
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        sys.exit("%s failed:\n%s\n%s" % (" ".join(argv), proc.stdout[-5000:], proc.stderr[-3000:]))
    return proc, wall, cpu


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, default=3)
    ap.add_argument("--reruns", type=int, default=3)
    ap.add_argument("--keep", action="store_true", help="reuse the bench nodes as they are and leave them up")
    args = ap.parse_args()

    env = dict(os.environ, LAB_NODES=str(args.nodes), LAB_PREFIX="pj-bench")
    if not args.keep:
        timed(["scripts/lab.sh", "down"], env)
    up_wall = timed(["scripts/lab.sh", "up"], env)[1]
    # The generated inventory lists the bench nodes; the lab's group_vars
    # (connection, host_tuning inputs) apply through an inventory directory.
    cache = os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache"))
    generated = os.path.join(cache, "packetjungle-datapath", "lab", "inventory-pj-bench.yml")
    inv_dir = tempfile.mkdtemp(prefix="pj-bench-inventory-")
    shutil.copy(generated, os.path.join(inv_dir, "hosts.yml"))
    os.symlink(os.path.join(ROOT, "inventories", "lab", "group_vars"), os.path.join(inv_dir, "group_vars"))
    play = ["ansible-playbook", "-i", inv_dir, "playbooks/site.yml", "--tags", "host_tuning"]

    runs = []
    for i in range(1 + args.reruns):
        proc, wall, cpu = timed(play, env)
        recap = {m.group(1): int(m.group(3)) for m in RECAP.finditer(proc.stdout)}
        runs.append({"run": "converge" if i == 0 else "re-run", "wall_s": round(wall, 2),
                     "controller_cpu_s": round(cpu, 2), "changed": recap})

    reruns = runs[1:]
    summary = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "nodes": args.nodes, "lab_up_s": round(up_wall, 2), "runs": runs,
        "rerun_wall_median_s": statistics.median(r["wall_s"] for r in reruns) if reruns else None,
        "rerun_cpu_median_s": statistics.median(r["controller_cpu_s"] for r in reruns) if reruns else None,
    }
    os.makedirs(os.path.join(ROOT, "bench", "results"), exist_ok=True)
    out = os.path.join(ROOT, "bench", "results", "host_tuning-%dn-%s.json" % (args.nodes, int(time.time())))
    with open(out, "w") as f:
        json.dump(summary, f, indent=2)

    print("| run | wall s | controller CPU s | changed per node |")
    print("| --- | --- | --- | --- |")
    for r in runs:
        print("| %s | %.2f | %.2f | %s |" % (r["run"], r["wall_s"], r["controller_cpu_s"], r["changed"]))
    print("lab up: %.1f s; results: %s" % (up_wall, out))
    if not args.keep:
        timed(["scripts/lab.sh", "down"], env)


if __name__ == "__main__":
    main()
