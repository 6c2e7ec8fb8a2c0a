#!/usr/bin/env python
"""Times playbooks/site.yml's host stages (host tuning, containerd and the
node-side validation; bench/host_stages.yml skips the cluster stages) on fresh
lab nodes of each size: one cold converge, then idempotent re-runs under four settings:

  default       ansible.cfg as shipped: SSH pipelining, ControlPersist, no facts
  no-pipelining the same with ANSIBLE_PIPELINING=False
  facts         a fact-gathering play first (gathering=implicit), no cache
  facts-cached  the same with gathering=smart and a jsonfile fact cache
                (one untimed run fills the cache first)

plus one profiled re-run (ansible.posix.profile_tasks) for where the time goes.
Wall time is measured around ansible-playbook; controller CPU is user+system
of ansible-playbook and its ssh children (getrusage(RUSAGE_CHILDREN)).

Usage: bench/site.py [--nodes 3 6 12] [--reruns 2] [--keep]
Results: Markdown tables on stdout, JSON in bench/results/. Method and
figures: docs/benchmarks.md."""
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
# profile_tasks summary lines: "role : task name ----- 1.23s"
PROFILE = re.compile(r"^(.+?) -+ (\d+\.\d+)s$", re.M)
PREFIX = "pj-bench"


def timed(argv, env):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    proc = subprocess.run(argv, cwd=ROOT, env=env, text=True, capture_output=True, check=False)
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        sys.exit("%s failed:\n%s\n%s" % (" ".join(argv), proc.stdout[-5000:], proc.stderr[-3000:]))
    return proc, wall, cpu


def lab_inventory():
    """The generated inventory of the bench nodes plus the lab's group_vars."""
    cache = os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache"))
    generated = os.path.join(cache, "packetjungle-datapath", "lab", "inventory-%s.yml" % PREFIX)
    inv_dir = tempfile.mkdtemp(prefix="pj-bench-inventory-")
    shutil.copy(generated, os.path.join(inv_dir, "hosts.yml"))
    os.symlink(os.path.join(ROOT, "inventories", "lab", "group_vars"), os.path.join(inv_dir, "group_vars"))
    return inv_dir


def variants(tmp):
    cache = dict(ANSIBLE_GATHERING="smart", ANSIBLE_CACHE_PLUGIN="ansible.builtin.jsonfile",
                 ANSIBLE_CACHE_PLUGIN_CONNECTION=os.path.join(tmp, "facts"), ANSIBLE_CACHE_PLUGIN_TIMEOUT="86400")
    return [
        ("default", "playbooks/site.yml", {}, False),
        ("no-pipelining", "playbooks/site.yml", {"ANSIBLE_PIPELINING": "False"}, False),
        ("facts", "bench/with_facts.yml", {"ANSIBLE_GATHERING": "implicit"}, False),
        ("facts-cached", "bench/with_facts.yml", cache, True),
    ]


def run_record(label, argv, env):
    proc, wall, cpu = timed(argv, env)
    changed = {m.group(1): int(m.group(3)) for m in RECAP.finditer(proc.stdout) if m.group(1) != "localhost"}
    return proc, {"run": label, "wall_s": round(wall, 2), "controller_cpu_s": round(cpu, 2),
                  "changed_total": sum(changed.values())}


def bench_size(nodes, reruns, keep, report_dir):
    env = dict(os.environ, LAB_NODES=str(nodes), LAB_PREFIX=PREFIX)
    if not keep:
        timed(["scripts/lab.sh", "down"], env)
    up_wall = timed(["scripts/lab.sh", "up"], env)[1]
    inv = lab_inventory()
    tmp = tempfile.mkdtemp(prefix="pj-bench-")
    base = ["ansible-playbook", "-i", inv, "-e", "validate_report_dir=%s" % report_dir,
            "-e", "@" + os.path.join(ROOT, "bench", "host_stages.yml")]
    runs = [run_record("cold converge", base + ["playbooks/site.yml"], env)[1]]
    for name, playbook, extra, warm_up in variants(tmp):
        venv = dict(env, **extra)
        if warm_up:
            timed(base + [playbook], venv)
        for attempt in range(reruns):
            runs.append(dict(run_record(name, base + [playbook], venv)[1], variant=name, attempt=attempt + 1))
    proc = run_record("profiled", base + ["playbooks/site.yml"],
                      dict(env, ANSIBLE_CALLBACKS_ENABLED="ansible.posix.profile_tasks"))[0]
    profile = [{"task": t.strip(), "s": float(s)} for t, s in PROFILE.findall(proc.stdout)][:12]
    if not keep:
        timed(["scripts/lab.sh", "down"], env)
    shutil.rmtree(inv, ignore_errors=True)
    shutil.rmtree(tmp, ignore_errors=True)
    medians = {}
    for name in dict.fromkeys(r["variant"] for r in runs if "variant" in r):
        walls = [r["wall_s"] for r in runs if r.get("variant") == name]
        cpus = [r["controller_cpu_s"] for r in runs if r.get("variant") == name]
        medians[name] = {"wall_s": statistics.median(walls), "controller_cpu_s": statistics.median(cpus)}
    return {"nodes": nodes, "lab_up_s": round(up_wall, 2), "runs": runs, "rerun_medians": medians,
            "profile_top": profile}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, nargs="+", default=[3, 6, 12])
    ap.add_argument("--reruns", type=int, default=2)
    ap.add_argument("--keep", action="store_true", help="reuse the bench nodes as they are and leave them up")
    args = ap.parse_args()
    with open("/proc/loadavg") as f:
        load_before = f.read().split()[:3]
    report_dir = tempfile.mkdtemp(prefix="pj-bench-reports-")
    sizes = [bench_size(n, args.reruns, args.keep, report_dir) for n in args.nodes]
    shutil.rmtree(report_dir, ignore_errors=True)
    summary = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
               "load_before": load_before, "cpus": os.cpu_count(), "sizes": sizes}
    os.makedirs(os.path.join(ROOT, "bench", "results"), exist_ok=True)
    out = os.path.join(ROOT, "bench", "results", "site-%s.json" % int(time.time()))
    with open(out, "w") as f:
        json.dump(summary, f, indent=2)

    names = list(sizes[0]["rerun_medians"])
    print("| nodes | cold converge s | " + " | ".join("re-run %s s (CPU s)" % n for n in names) + " |")
    print("| --- | --- | " + " | ".join(["---"] * len(names)) + " |")
    for size in sizes:
        cold = size["runs"][0]
        cells = ["%.1f (%.1f)" % (size["rerun_medians"][n]["wall_s"], size["rerun_medians"][n]["controller_cpu_s"])
                 for n in names]
        print("| %d | %.1f | %s |" % (size["nodes"], cold["wall_s"], " | ".join(cells)))
    for a, b in zip(sizes, sizes[1:]):
        da = b["rerun_medians"]["default"]["wall_s"] - a["rerun_medians"]["default"]["wall_s"]
        dc = b["rerun_medians"]["default"]["controller_cpu_s"] - a["rerun_medians"]["default"]["controller_cpu_s"]
        step = b["nodes"] - a["nodes"]
        print("%d -> %d nodes: +%.2f s wall and +%.2f s controller CPU per added node (default re-run)"
              % (a["nodes"], b["nodes"], da / step, dc / step))
    for size in sizes:
        print("\nslowest tasks, profiled re-run on %d nodes:" % size["nodes"])
        for row in size["profile_top"][:8]:
            print("  %6.2f s  %s" % (row["s"], row["task"]))
    print("\nresults: %s" % out)


if __name__ == "__main__":
    main()
