"""The cluster after a run, as the demo shows it: `kubectl get nodes -o wide`,
then one line per Cilium agent from its own `cilium-dbg status -o json`
(read through the API, summarised by the collection's status parser).

Usage: python scripts/cluster_state.py KUBECONFIG
kubectl is the pinned one that scripts/k8s-binaries.sh built.
"""
import json
import os
import subprocess
import sys

from ansible_collections.packetjungle.datapath.plugins.module_utils import cilium_status

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def kubectl_path():
    with open(os.path.join(ROOT, "k8s", "versions.env"), encoding="utf-8") as handle:
        versions = dict(line.strip().split("=", 1) for line in handle if "=" in line and not line.startswith("#"))
    cache = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "packetjungle-datapath")
    return os.path.join(cache, "k8s", versions["K8S_VERSION"], "bin", "kubectl")


def main(argv):
    if len(argv) != 1:
        sys.exit("usage: cluster_state.py KUBECONFIG")
    kubectl = [kubectl_path(), "--kubeconfig", argv[0]]
    subprocess.run(kubectl + ["get", "nodes", "-o", "wide"], check=True, timeout=60)
    pods = json.loads(subprocess.run(kubectl + ["-n", "kube-system", "get", "pods", "-l", "k8s-app=cilium", "-o", "json"],
                                     check=True, capture_output=True, text=True, timeout=60).stdout)["items"]
    print()
    if not pods:
        print("no Cilium agent pods")
        return 1
    for pod in sorted(pods, key=lambda p: p["spec"].get("nodeName", "")):
        node = pod["spec"].get("nodeName", "?")
        proc = subprocess.run(kubectl + ["-n", "kube-system", "exec", pod["metadata"]["name"], "-c", "cilium-agent", "--",
                                         "cilium-dbg", "status", "-o", "json"],
                              capture_output=True, text=True, timeout=60, check=False)
        if proc.returncode != 0:
            print("%-12s cilium-dbg status failed: %s" % (node, proc.stderr.strip()[-200:]))
            continue
        facts = cilium_status.summary(cilium_status.load_status(proc.stdout))
        print("%-12s cilium %-8s %-4s kube-proxy replacement %-5s LB %s (%s)  routing %s  masquerading %s" % (
            node, (facts["version"] or "?").split(" ")[0], facts["cilium_state"], facts["kube_proxy_replacement"],
            facts["lb_mode"], facts["dsr_dispatch"], facts["routing_mode"], facts["masquerading"]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
