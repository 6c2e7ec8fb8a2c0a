"""The validate role's cluster-side checks against a REAL kube-apiserver:
kube-proxy gone, cilium-config as asked (a missing bpf-lb-mode is SNAT),
a default-deny policy in every managed namespace."""
import json

from ansible_collections.packetjungle.datapath.plugins.module_utils import cilium_values
from conftest import run

SETTINGS = {"k8s_service_host": "10.0.0.10", "routing_mode": "native", "ipv4_native_routing_cidr": "10.244.0.0/16",
            "auto_direct_node_routes": True, "bpf_masquerade": True, "lb_mode": "dsr", "dsr_dispatch": "opt"}
EXPECTED = cilium_values.expected_config(SETTINGS)

DENY = """apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-deny, namespace: %s}
spec: {podSelector: {}, policyTypes: [Ingress, Egress]}
"""
KUBE_PROXY = """apiVersion: apps/v1
kind: DaemonSet
metadata: {name: kube-proxy, namespace: kube-system}
spec:
  selector: {matchLabels: {k8s-app: kube-proxy}}
  template:
    metadata: {labels: {k8s-app: kube-proxy}}
    spec: {containers: [{name: kube-proxy, image: registry.k8s.io/kube-proxy:v1.34.4}]}
"""


def cilium_config(data):
    return json.dumps({"apiVersion": "v1", "kind": "ConfigMap",
                       "metadata": {"name": "cilium-config", "namespace": "kube-system"}, "data": data})


def check(server, tmp_path, namespaces):
    out = tmp_path / "cluster.json"
    extra = {"validate_kubeconfig": server.kubeconfig, "validate_cilium_expected_config": EXPECTED,
             "validate_policy_namespaces": namespaces, "validate_cluster_out": str(out)}
    proc = run(["ansible-playbook", "tests/integration/files/validate_cluster.yml", "-e", json.dumps(extra)])
    assert proc.returncode == 0
    return json.loads(out.read_text())


def kubectl_apply(server, text):
    proc = server.kubectl("apply", "-f", "-", input_text=text)
    assert proc.returncode == 0, proc.stderr


def test_cluster_as_asked_has_no_problem(api_server, tmp_path):
    for namespace in ("vc-shop", "vc-pay"):
        api_server.kubectl("create", "namespace", namespace)
        kubectl_apply(api_server, DENY % namespace)
    kubectl_apply(api_server, cilium_config(EXPECTED))
    assert check(api_server, tmp_path, ["vc-shop", "vc-pay"]) == {"problems": [], "cannot_check": []}


def test_cluster_problems_are_named(api_server, tmp_path):
    api_server.kubectl("create", "namespace", "vc-open")
    kubectl_apply(api_server, KUBE_PROXY)
    snat = dict(EXPECTED)
    del snat["bpf-lb-mode"]
    kubectl_apply(api_server, cilium_config(snat))
    try:
        found = check(api_server, tmp_path, ["vc-open"])
    finally:
        api_server.kubectl("-n", "kube-system", "delete", "daemonset", "kube-proxy")
        kubectl_apply(api_server, cilium_config(EXPECTED))
    assert found["problems"] == [
        "cluster kube-proxy: the DaemonSet kube-system/kube-proxy still exists",
        "cluster cilium-config bpf-lb-mode is 'snat' (key absent, the agent uses its default), asked 'dsr'",
        "cluster network policy: namespace vc-open has no default-deny (ingress and egress) policy",
    ]
