#!/usr/bin/env python
"""Times the live lab cluster (the default lab after `make demo`): the
idempotent re-run of playbooks/site.yml with every stage live, profiled
(ansible.posix.profile_tasks) for its slowest tasks; each Cilium agent's start
to Ready (the pod's start time to its Ready condition, from the API); and the
memory each agent uses (resident set of cilium-agent, read in its node).

Usage: bench/live_cluster.py [--reruns 3]   (the lab must be up and converged)
Results: Markdown on stdout, JSON in bench/results/. Method and figures:
docs/benchmarks.md."""
import argparse
import datetime
import json
import os
import re
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECAP = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)
PROFILE = re.compile(r"^(.+?) -+ (\d+\.\d+)s$", re.M)
CACHE = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "packetjungle-datapath")


def kubectl(*args):
    with open(os.path.join(ROOT, "k8s", "versions.env"), encoding="utf-8") as handle:
        version = re.search(r"^K8S_VERSION=(\S+)$", handle.read(), re.M).group(1)
    argv = [os.path.join(CACHE, "k8s", version, "bin", "kubectl"),
            "--kubeconfig", os.path.join(ROOT, "inventories", "lab", ".kube", "lab.conf")] + list(args)
    return subprocess.run(argv, capture_output=True, text=True, check=True, timeout=60).stdout


def rerun(profiled):
    env = dict(os.environ)
    if profiled:
        env["ANSIBLE_CALLBACKS_ENABLED"] = "ansible.posix.profile_tasks"
    start = time.monotonic()
    proc = subprocess.run(["ansible-playbook", "-i", "inventories/lab", "playbooks/site.yml"], cwd=ROOT, env=env,
                          capture_output=True, text=True, check=False, timeout=1800)
    wall = time.monotonic() - start
    if proc.returncode != 0:
        sys.exit("site.yml failed:\n" + proc.stdout[-3000:])
    changed = sum(int(m.group(3)) for m in RECAP.finditer(proc.stdout))
    top = [{"task": t.strip(), "s": float(s)} for t, s in PROFILE.findall(proc.stdout)][:10] if profiled else []
    return {"wall_s": round(wall, 1), "changed": changed, "profile_top": top}


def stamp(text):
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ")


def agents():
    pods = json.loads(kubectl("-n", "kube-system", "get", "pods", "-l", "k8s-app=cilium", "-o", "json"))["items"]
    rows = []
    for pod in sorted(pods, key=lambda p: p["spec"]["nodeName"]):
        node = pod["spec"]["nodeName"]
        ready = [c for c in pod["status"]["conditions"] if c["type"] == "Ready"][0]
        rss = subprocess.run(["docker", "exec", node, "ps", "-o", "rss=", "-C", "cilium-agent"], capture_output=True,
                             text=True, check=True, timeout=30).stdout.split()
        rows.append({"node": node, "start_to_ready_s": (stamp(ready["lastTransitionTime"])
                                                        - stamp(pod["status"]["startTime"])).total_seconds(),
                     "agent_rss_mib": round(sum(int(kib) for kib in rss) / 1024, 1)})
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reruns", type=int, default=3)
    args = ap.parse_args()
    with open("/proc/loadavg", encoding="utf-8") as handle:
        load_before = handle.read().split()[:3]
    runs = [rerun(False) for attempt in range(args.reruns)]
    profiled = rerun(True)
    summary = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
               "load_before": load_before, "cpus": os.cpu_count(), "reruns": runs, "profiled": profiled,
               "rerun_median_s": statistics.median(r["wall_s"] for r in runs), "agents": agents()}
    os.makedirs(os.path.join(ROOT, "bench", "results"), exist_ok=True)
    with open(os.path.join(ROOT, "bench", "results", "live-cluster-%d.json" % int(time.time())), "w",
              encoding="utf-8") as handle:
        json.dump(summary, handle, indent=2)
    print("site.yml re-run, every stage live, 3 nodes: median %.1f s of %s (changed %s)"
          % (summary["rerun_median_s"], [r["wall_s"] for r in runs], [r["changed"] for r in runs]))
    print("\n| slowest task of the profiled re-run | s |\n| --- | --- |")
    for row in profiled["profile_top"]:
        print("| %s | %.2f |" % (row["task"], row["s"]))
    print("\n| node | agent start to Ready s | cilium-agent RSS MiB |\n| --- | --- | --- |")
    for row in summary["agents"]:
        print("| %s | %.0f | %.1f |" % (row["node"], row["start_to_ready_s"], row["agent_rss_mib"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
