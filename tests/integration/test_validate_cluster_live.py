"""The validate role's cluster-side checks against a REAL kube-apiserver, read
from the validation report they join: kube-proxy gone, cilium-config as asked
(a missing bpf-lb-mode is SNAT), a default-deny policy in every managed
namespace, every Cilium agent pod (Running and Ready, `cilium-dbg status -o
json` exec'd in it), and the conditions of the declared Gateways and
HTTPRoutes, written here through the status subresource as a controller would.

There is no kubelet behind this API server, so exec can never succeed here:
what is proven is that the API server's exec error makes the agent
`cannot_check` with that error (never ok), and that agents whose pods are not
Running and Ready are problems naming pod and node. Judging real status JSON
is covered by tests/unit/plugins/module_utils/test_cluster_checks.py."""
import datetime
import glob
import json
import os

import pytest
from kubernetes import client, config

from ansible_collections.packetjungle.datapath.plugins.module_utils import cilium_values, k8s_objects
from apiserver import free_port
from conftest import NO_NODES, run

SETTINGS = {"k8s_service_host": "10.0.0.10", "routing_mode": "native", "ipv4_native_routing_cidr": "10.244.0.0/16",
            "auto_direct_node_routes": True, "bpf_masquerade": True, "lb_mode": "dsr", "dsr_dispatch": "opt"}
EXPECTED = cilium_values.expected_config(SETTINGS)
CONTROLLER = "io.cilium/gateway-controller"

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
CILIUM_DS = """apiVersion: apps/v1
kind: DaemonSet
metadata: {name: cilium, namespace: kube-system, labels: {k8s-app: cilium}}
spec:
  selector: {matchLabels: {k8s-app: cilium}}
  template:
    metadata: {labels: {k8s-app: cilium}}
    spec: {containers: [{name: cilium-agent, image: quay.io/cilium/cilium:v1.19.4}]}
"""

GW_NS, SHOP_NS = "vc-gw", "vc-shop-routes"
GATEWAYS = [{"name": "public", "namespace": GW_NS, "gateway_class_name": "cilium",
             "listeners": [{"name": "http", "port": 80, "protocol": "HTTP", "allowed_routes": {"from": "All"}}]}]
ROUTES = [{"name": "shop", "namespace": SHOP_NS,
           "parent_refs": [{"name": "public", "namespace": GW_NS, "section_name": "http"}],
           "rules": [{"backend_refs": [{"name": "api", "port": 8080}]}]}]


def cilium_config(data):
    return json.dumps({"apiVersion": "v1", "kind": "ConfigMap",
                       "metadata": {"name": "cilium-config", "namespace": "kube-system"}, "data": data})


def report(server, tmp_path, **extra):
    """Run the cluster checks and the report; return the report's JSON."""
    out = tmp_path / ("report-%d.json" % len(list(tmp_path.iterdir())))
    args = {"validate_kubeconfig": server.kubeconfig, "validate_cluster_out": str(out),
            "validate_expect_cilium": False}
    args.update(extra)
    proc = run(["ansible-playbook", "-i", NO_NODES, "tests/integration/files/validate_cluster.yml", "-e", json.dumps(args)],
               env=dict(os.environ, NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost"))
    assert proc.returncode == 0
    return json.loads(out.read_text())


def kubectl_ok(server, *args, input_text=None):
    proc = server.kubectl(*args, input_text=input_text)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_cluster_as_asked_has_no_problem(api_server, tmp_path):
    for namespace in ("vc-shop", "vc-pay"):
        api_server.kubectl("create", "namespace", namespace)
        kubectl_ok(api_server, "apply", "-f", "-", input_text=DENY % namespace)
    kubectl_ok(api_server, "apply", "-f", "-", input_text=cilium_config(EXPECTED))
    found = report(api_server, tmp_path, validate_cilium_expected_config=EXPECTED,
                   validate_policy_namespaces=["vc-shop", "vc-pay"])
    assert (found["problems"], found["cannot_check"], found["ok"]) == ([], [], True)


def test_cluster_problems_are_named(api_server, tmp_path):
    api_server.kubectl("create", "namespace", "vc-open")
    kubectl_ok(api_server, "apply", "-f", "-", input_text=KUBE_PROXY)
    snat = dict(EXPECTED)
    del snat["bpf-lb-mode"]
    kubectl_ok(api_server, "apply", "-f", "-", input_text=cilium_config(snat))
    try:
        found = report(api_server, tmp_path, validate_cilium_expected_config=EXPECTED,
                       validate_policy_namespaces=["vc-open"])
    finally:
        api_server.kubectl("-n", "kube-system", "delete", "daemonset", "kube-proxy")
        kubectl_ok(api_server, "apply", "-f", "-", input_text=cilium_config(EXPECTED))
    assert found["problems"] == [
        "cluster kube-proxy: the DaemonSet kube-system/kube-proxy still exists",
        "cluster cilium-config bpf-lb-mode is 'snat' (key absent, the agent uses its default), asked 'dsr'",
        "cluster network policy: namespace vc-open has no default-deny (ingress and egress) policy",
    ]
    assert found["ok"] is False


def _now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _pod(name, node):
    return json.dumps({"apiVersion": "v1", "kind": "Pod",
                       "metadata": {"name": name, "namespace": "kube-system", "labels": {"k8s-app": "cilium"}},
                       "spec": {"nodeName": node, "automountServiceAccountToken": False,
                                "containers": [{"name": "cilium-agent", "image": "quay.io/cilium/cilium:v1.19.4"}]}})


def _patch_status(server, *target, status):
    kubectl_ok(server, *target, "--subresource=status", "--type=merge", "-p", json.dumps({"status": status}))


@pytest.fixture
def agents(api_server):
    """Three agent pods of a cilium DaemonSet, as a kubelet would have reported them: one Running and Ready on
    a node whose kubelet port is closed (so the API server's exec fails), one crash-looping, one Pending."""
    closed = free_port()
    for node in ("vc-node-1", "vc-node-2", "vc-node-3"):
        kubectl_ok(api_server, "apply", "-f", "-", input_text=json.dumps(
            {"apiVersion": "v1", "kind": "Node", "metadata": {"name": node}}))
        _patch_status(api_server, "patch", "node", node, status={
            "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": closed}}})
    # No controller-manager here to create the namespace's default ServiceAccount.
    api_server.kubectl("-n", "kube-system", "create", "serviceaccount", "default")
    kubectl_ok(api_server, "apply", "-f", "-", input_text=CILIUM_DS)
    pods = {"vc-cilium-ready": "vc-node-1", "vc-cilium-crashing": "vc-node-2", "vc-cilium-pending": "vc-node-3"}
    for name, node in pods.items():
        kubectl_ok(api_server, "create", "-f", "-", input_text=_pod(name, node))
    container = {"name": "cilium-agent", "image": "quay.io/cilium/cilium:v1.19.4", "imageID": ""}
    _patch_status(api_server, "-n", "kube-system", "patch", "pod", "vc-cilium-ready", status={
        "phase": "Running",
        "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": _now()}],
        "containerStatuses": [dict(container, ready=True, restartCount=0,
                                   state={"running": {"startedAt": _now()}})]})
    _patch_status(api_server, "-n", "kube-system", "patch", "pod", "vc-cilium-crashing", status={
        "phase": "Running",
        "conditions": [{"type": "Ready", "status": "False", "reason": "ContainersNotReady",
                        "message": "containers with unready status: [cilium-agent]", "lastTransitionTime": _now()}],
        "containerStatuses": [dict(container, ready=False, restartCount=4, state={"waiting": {
            "reason": "CrashLoopBackOff", "message": "back-off 40s restarting failed container"}})]})
    yield pods
    # No kubelet to confirm a graceful deletion.
    api_server.kubectl("-n", "kube-system", "delete", "pod", "--grace-period=0", "--force", *pods)


def test_cilium_agents_each_judged_per_node(api_server, tmp_path, agents):
    found = report(api_server, tmp_path, validate_expect_cilium=True, validate_expect_lb_mode="dsr")
    per_node = found["cluster"]["cilium_agents"]
    assert sorted(per_node) == ["vc-node-1", "vc-node-2", "vc-node-3"]

    # (a) exec fails (no kubelet): cannot_check with the API server's own error, never ok.
    ready = per_node["vc-node-1"]
    assert ready["pod"] == "kube-system/vc-cilium-ready" and ready["status"] == "cannot_check"
    assert ready["detail"].startswith("cannot exec cilium-dbg status -o json in container cilium-agent: the API "
                                      "server answered 500: error dialing backend: dial tcp 127.0.0.1:")
    assert ready["detail"].endswith("connect: connection refused")
    assert ready["checks"] == {}
    unchecked = [c for c in found["cannot_check"] if "vc-cilium-ready" in c]
    assert len(unchecked) == 1 and unchecked[0].startswith(
        "cluster cilium agent kube-system/vc-cilium-ready on node vc-node-1: cannot exec cilium-dbg status")

    # (b) pods not Running and Ready: problems naming pod and node, and why.
    assert [p for p in found["problems"] if "cilium agent" in p] == [
        "cluster cilium agent kube-system/vc-cilium-crashing on node vc-node-2: not ready: phase Running, "
        "Ready False (ContainersNotReady: containers with unready status: [cilium-agent]), "
        "container cilium-agent waiting: CrashLoopBackOff, container cilium-agent restarted 4 times",
        "cluster cilium agent kube-system/vc-cilium-pending on node vc-node-3: not ready: phase Pending, "
        "no Ready condition",
    ]
    assert per_node["vc-node-2"]["status"] == per_node["vc-node-3"]["status"] == "problem"
    assert found["ok"] is False


@pytest.fixture(scope="module")
def gateway_objects(api_server):
    """The pinned Gateway API CRDs, and the declared Gateway and HTTPRoute applied as the gateway_api role would."""
    files = sorted(glob.glob(os.path.join(api_server.crd_dir, "*.yaml")))
    args = ["apply", "--server-side", "--field-manager=packetjungle-test"]
    for path in files:
        args += ["-f", path]
    kubectl_ok(api_server, *args)
    kubectl_ok(api_server, "wait", "--for=condition=Established", "--timeout=60s",
               "crd/gateways.gateway.networking.k8s.io", "crd/httproutes.gateway.networking.k8s.io")
    for namespace in (GW_NS, SHOP_NS):
        api_server.kubectl("create", "namespace", namespace)
    objects = k8s_objects.build_gateway_api_objects({"name": "cilium"}, GATEWAYS, ROUTES)
    kubectl_ok(api_server, "apply", "--server-side", "--field-manager=packetjungle-test", "-f", "-",
               input_text="\n---\n".join(json.dumps(o) for o in objects))
    return client.CustomObjectsApi(config.new_client_from_config(api_server.kubeconfig))


def _condition(kind, status, reason, message, generation):
    return {"type": kind, "status": status, "reason": reason, "message": message,
            "observedGeneration": generation, "lastTransitionTime": _now()}


def act_as_controller(api, resolved_refs=("True", "ResolvedRefs", "Service resolved")):
    """Write Gateway and HTTPRoute status through the status subresource, as Cilium's operator does."""
    group, version = "gateway.networking.k8s.io", "v1"
    gateway = api.get_namespaced_custom_object(group, version, GW_NS, "gateways", "public")
    generation = gateway["metadata"]["generation"]
    api.patch_namespaced_custom_object_status(group, version, GW_NS, "gateways", "public", {"status": {
        "conditions": [_condition("Accepted", "True", "Accepted", "Gateway successfully scheduled", generation),
                       _condition("Programmed", "True", "Programmed", "Gateway successfully reconciled", generation)]}})
    route = api.get_namespaced_custom_object(group, version, SHOP_NS, "httproutes", "shop")
    generation = route["metadata"]["generation"]
    api.patch_namespaced_custom_object_status(group, version, SHOP_NS, "httproutes", "shop", {"status": {"parents": [{
        "parentRef": {"group": group, "kind": "Gateway", "name": "public", "namespace": GW_NS, "sectionName": "http"},
        "controllerName": CONTROLLER,
        "conditions": [_condition("Accepted", "True", "Accepted", "Accepted HTTPRoute", generation),
                       _condition("ResolvedRefs", resolved_refs[0], resolved_refs[1], resolved_refs[2], generation)],
    }]}})


def gateway_report(api_server, tmp_path, expect_controller):
    return report(api_server, tmp_path, validate_gateway_api_gateways=GATEWAYS, validate_gateway_api_routes=ROUTES,
                  validate_expect_gateway_controller=expect_controller)


def test_gateway_api_without_a_controller(api_server, tmp_path, gateway_objects):
    """Fresh objects: the CRD's default Pending conditions on the Gateway, no parents on the route."""
    found = gateway_report(api_server, tmp_path, expect_controller=False)
    assert found["problems"] == []
    assert found["cannot_check"] == [
        "cluster gateway api: Gateway vc-gw/public: no status from a Gateway controller yet (Accepted Unknown "
        "(Pending: Waiting for controller), Programmed Unknown (Pending: Waiting for controller)); no controller "
        "expected (validate_expect_gateway_controller: false)",
        "cluster gateway api: HTTPRoute vc-shop-routes/shop: no status from a Gateway controller yet (no "
        "status.parents entry from io.cilium/gateway-controller); no controller expected "
        "(validate_expect_gateway_controller: false)",
    ]
    found = gateway_report(api_server, tmp_path, expect_controller=True)
    assert found["cannot_check"] == []
    assert [p.split(": ")[1] for p in found["problems"]] == ["Gateway vc-gw/public", "HTTPRoute vc-shop-routes/shop"]
    assert all("is io.cilium/gateway-controller running" in p for p in found["problems"])
    assert {o["status"] for o in found["cluster"]["gateway_api"].values()} == {"problem"}


def test_gateway_api_status_written_by_a_controller(api_server, tmp_path, gateway_objects):
    act_as_controller(gateway_objects)
    found = gateway_report(api_server, tmp_path, expect_controller=True)
    assert (found["problems"], found["cannot_check"]) == ([], [])
    assert found["cluster"]["gateway_api"] == {
        "Gateway vc-gw/public": {"status": "ok", "detail": "Accepted, Programmed True for generation 1"},
        "HTTPRoute vc-shop-routes/shop": {"status": "ok",
                                          "detail": "Accepted, ResolvedRefs for every parent True for generation 1"},
    }

    act_as_controller(gateway_objects, resolved_refs=("False", "BackendNotFound", 'Service "api" not found'))
    found = gateway_report(api_server, tmp_path, expect_controller=True)
    assert found["problems"] == [
        'cluster gateway api: HTTPRoute vc-shop-routes/shop parent public: ResolvedRefs is False '
        '(BackendNotFound: Service "api" not found)']
    assert found["cluster"]["gateway_api"]["Gateway vc-gw/public"]["status"] == "ok"
    assert found["ok"] is False


def test_an_api_server_that_refuses_us_leaves_everything_unchecked(api_server, tmp_path, gateway_objects):
    """A wrong token: every read fails with the server's 401, each is listed as not checked, none is judged as if
    the object were absent (no "does not exist" and no "has no default-deny" problems)."""
    kubeconfig = json.loads(open(api_server.kubeconfig).read())
    kubeconfig["users"][0]["user"]["token"] = "not-the-token"
    bad = tmp_path / "refused.kubeconfig"
    bad.write_text(json.dumps(kubeconfig))
    found = report(api_server, tmp_path, validate_kubeconfig=str(bad), validate_expect_cilium=True,
                   validate_cilium_expected_config=EXPECTED, validate_policy_namespaces=["vc-shop"],
                   validate_gateway_api_gateways=GATEWAYS, validate_gateway_api_routes=ROUTES)
    assert found["problems"] == []
    refused = ": cannot be read: the API server answered 401 Unauthorized: Unauthorized"
    assert found["cannot_check"] == ["cluster %s%s" % (what, refused) for what in (
        "DaemonSet kube-system/kube-proxy", "ConfigMap kube-system/kube-proxy", "ConfigMap kube-system/cilium-config",
        "NetworkPolicy", "cilium agent pods", "gateway api", "gateway api")]
    assert found["cluster"] == {}
