"""playbooks/netdiag.yml on the live lab cluster (the default lab after
site.yml, real Cilium agents): the bundle holds each agent's own
`cilium-dbg status --verbose` and its datapath drop counters, and a real
pod's addresses and routes read inside its network namespace (nsenter), which
differ from its node's. Read-only: changed=0."""
import json
import os
import subprocess

from conftest import KUBECTL, ROOT, playbook
from test_netdiag_live import addresses, open_bundle

NODES = ("pj-lab-1", "pj-lab-2", "pj-lab-3")


def test_bundle_from_the_live_cluster(cluster, tmp_path):
    inventory = cluster[0]
    kubectl = KUBECTL
    kubeconfig = os.path.join(ROOT, inventory, ".kube", "lab.conf")
    # Another test may have just rebooted a node: every agent and CoreDNS back first (bounded).
    for what in ("daemonset/cilium", "deployment/coredns"):
        subprocess.run([kubectl, "--kubeconfig", kubeconfig, "-n", "kube-system", "rollout", "status", what,
                        "--timeout=300s"], check=True, timeout=320, capture_output=True)
    pods = json.loads(subprocess.run([kubectl, "--kubeconfig", kubeconfig, "-n", "kube-system", "get", "pods", "-l",
                                      "k8s-app=kube-dns", "--field-selector", "status.phase=Running", "-o", "json"],
                                     check=True, timeout=60, capture_output=True, text=True).stdout)["items"]
    pod = pods[0]
    name, node, pod_ip = pod["metadata"]["name"], pod["spec"]["nodeName"], pod["status"]["podIP"]
    extra = json.dumps({"netdiag_pods": [{"namespace": "kube-system", "name": name}],
                        "netdiag_report_dir": str(tmp_path), "netdiag_region": "lab"})
    proc, recap, _seconds = playbook(inventory, "netdiag.yml", "-e", extra)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert all(r[1] == 0 for r in recap.values()), recap

    files, _top, _path = open_bundle(tmp_path)
    summary = json.loads(files["summary.json"])
    for each in NODES:
        status = files["%s/cilium/status.txt" % each]
        assert "KubeProxyReplacement:   True" in status and "DSR Dispatch Mode:   IP Option/Extension" in status, status
        assert summary["nodes"][each]["cilium"]["running"] is True
        metrics = files["%s/cilium/bpf-metrics.txt" % each]
        assert "REASON" in metrics and "DIRECTION" in metrics, metrics
    # The pod's namespace was entered: its address is the pod's, not the node's.
    key = "kube-system_%s" % name
    pod_addresses = addresses(files["%s/pods/%s/ip-addr.json" % (node, key)])
    node_addresses = addresses(files["%s/host/ip-addr.json" % node])
    assert any(address.startswith(pod_ip + "/") for address in pod_addresses), pod_addresses
    assert not pod_addresses & node_addresses
    assert summary["nodes"][node]["pods"]["kube-system/%s" % name]["found"] is True
    routes = [text for path, text in files.items() if path.startswith("%s/pods/%s/ip-route" % (node, key))]
    assert routes and "default" in routes[0], sorted(p for p in files if "/pods/" in p)
