"""The test harness against a REAL kube-apiserver (with etcd), and the real
kubeadm: the Gateway API CRDs come from the sigs.k8s.io/gateway-api module at
the version pinned for our Cilium release, so the server's own OpenAPI schema
and CEL rules judge the objects."""
import glob
import json
import os

import pytest
from apiserver import APIServer

NAMESPACE = "pj-harness"
CRDS = ("gatewayclasses", "gateways", "httproutes", "grpcroutes", "referencegrants", "backendtlspolicies")


def httproute(name, hostnames=None, backend_refs=None):
    """An HTTPRoute with the region header and a 90/10 canary split."""
    if backend_refs is None:
        backend_refs = [{"name": "shop-v1", "port": 8080, "weight": 90},
                        {"name": "shop-v2", "port": 8080, "weight": 10}]
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "parentRefs": [{"name": "edge"}],
            "hostnames": hostnames or ["shop.example.com"],
            "rules": [{
                "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                "filters": [{"type": "RequestHeaderModifier",
                             "requestHeaderModifier": {"set": [{"name": "X-Region-Context",
                                                                "value": "no-osl-1"}]}}],
                "backendRefs": backend_refs,
            }],
        },
    }


def ok(proc):
    assert proc.returncode == 0, "rc %d\nstdout: %s\nstderr: %s" % (proc.returncode, proc.stdout, proc.stderr)
    return proc.stdout


def test_harness_stops_everything_it_started(api_server):
    second = APIServer(api_server.bin_dir, versions=api_server.versions).start()
    try:
        assert ok(second.kubectl("get", "--raw", "/readyz")).strip() == "ok"
        assert second.url != api_server.url
    finally:
        second.stop()
    assert second.apiserver.poll() is not None and second.etcd.poll() is not None
    assert not os.path.exists(second.workdir)
    # The session's own server is untouched.
    assert ok(api_server.kubectl("get", "--raw", "/readyz")).strip() == "ok"


@pytest.fixture(scope="module")
def gateway_api(api_server):
    """The pinned standard-channel CRDs applied server-side and Established."""
    files = sorted(glob.glob(os.path.join(api_server.crd_dir, "*.yaml")))
    assert files, "no CRDs in %s" % api_server.crd_dir
    args = ["apply", "--server-side", "--field-manager=packetjungle-test"]
    for path in files:
        args += ["-f", path]
    ok(api_server.kubectl(*args))
    names = ["crd/%s.gateway.networking.k8s.io" % crd for crd in CRDS]
    ok(api_server.kubectl("wait", "--for=condition=Established", "--timeout=60s", *names))
    ok(api_server.kubectl("create", "namespace", NAMESPACE))
    return api_server


def test_server_is_ready_and_rbac_admin(api_server):
    assert ok(api_server.kubectl("get", "--raw", "/readyz")).strip() == "ok"
    version = json.loads(ok(api_server.kubectl("version", "-o", "json")))
    assert version["serverVersion"]["gitVersion"] == api_server.versions["K8S_VERSION"]
    assert ok(api_server.kubectl("auth", "can-i", "*", "*")).strip() == "yes"


def test_gateway_api_crds_are_the_pinned_bundle(gateway_api):
    want = gateway_api.versions["GATEWAY_API_VERSION"]
    crds = json.loads(ok(gateway_api.kubectl("get", "crd", "-o", "json")))["items"]
    bundle = {crd["metadata"]["name"]: crd["metadata"]["annotations"].get("gateway.networking.k8s.io/bundle-version")
              for crd in crds}
    assert {name: bundle.get(name + ".gateway.networking.k8s.io") for name in CRDS} == {name: want for name in CRDS}


def test_valid_httproute_applied_read_back_and_reapplied_unchanged(gateway_api):
    manifest = json.dumps(httproute("shop"))
    apply = ("apply", "--server-side", "--field-manager=packetjungle-test", "-f", "-")
    ok(gateway_api.kubectl(*apply, input_text=manifest))
    first = json.loads(ok(gateway_api.kubectl("get", "httproute", "shop", "-n", NAMESPACE, "-o", "json")))
    rule = first["spec"]["rules"][0]
    assert rule["filters"] == [{"type": "RequestHeaderModifier",
                                "requestHeaderModifier": {"set": [{"name": "X-Region-Context",
                                                                   "value": "no-osl-1"}]}}]
    # The server filled in the schema defaults (group, kind) around our data.
    assert [(ref["name"], ref["weight"], ref["kind"], ref["group"]) for ref in rule["backendRefs"]] == [
        ("shop-v1", 90, "Service", ""), ("shop-v2", 10, "Service", "")]
    assert first["spec"]["parentRefs"][0]["kind"] == "Gateway"

    ok(gateway_api.kubectl(*apply, input_text=manifest))
    second = json.loads(ok(gateway_api.kubectl("get", "httproute", "shop", "-n", NAMESPACE, "-o", "json")))
    assert second["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
    assert second["metadata"]["generation"] == first["metadata"]["generation"] == 1


@pytest.mark.parametrize("name, route, messages", [
    ("negative-weight",
     httproute("negative-weight", backend_refs=[{"name": "shop-v1", "port": 8080, "weight": -1}]),
     ["spec.rules[0].backendRefs[0].weight", "should be greater than or equal to 0"]),
    ("bad-hostname",
     httproute("bad-hostname", hostnames=["Shop_Front.example.com"]),
     ["spec.hostnames[0]", "should match"]),
    ("service-without-port",
     httproute("service-without-port", backend_refs=[{"name": "shop-v1"}]),
     ["Must have port for Service reference"]),
])
def test_server_refuses_invalid_httproute(gateway_api, name, route, messages):
    proc = gateway_api.kubectl("apply", "--server-side", "--field-manager=packetjungle-test", "-f", "-",
                               input_text=json.dumps(route))
    assert proc.returncode != 0, proc.stdout
    assert "is invalid" in proc.stderr
    for message in messages:
        assert message in proc.stderr
    absent = gateway_api.kubectl("get", "httproute", name, "-n", NAMESPACE)
    assert absent.returncode != 0 and "NotFound" in absent.stderr


KUBEADM_CONFIG = """\
apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
localAPIEndpoint:
  advertiseAddress: 192.0.2.11
  bindPort: 6443
nodeRegistration:
  criSocket: unix:///run/containerd/containerd.sock
  kubeletExtraArgs:
    - name: node-ip
      value: 192.0.2.11
skipPhases:
  - addon/kube-proxy
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
kubernetesVersion: {version}
controlPlaneEndpoint: k8s-api.example.internal:6443
networking:
  podSubnet: {pod_subnet}
  serviceSubnet: 10.96.0.0/12
"""


def _kubeadm_validate(api_server, tmp_path, pod_subnet):
    path = tmp_path / "kubeadm.yaml"
    path.write_text(KUBEADM_CONFIG.format(version=api_server.versions["K8S_VERSION"], pod_subnet=pod_subnet))
    return api_server.run(api_server.bin("kubeadm"), "config", "validate", "--config", str(path))


def test_kubeadm_validates_config_without_kube_proxy(api_server, tmp_path):
    proc = _kubeadm_validate(api_server, tmp_path, "10.244.0.0/16")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


def test_kubeadm_refuses_bad_pod_subnet(api_server, tmp_path):
    proc = _kubeadm_validate(api_server, tmp_path, "10.244.0.0/33")
    assert proc.returncode != 0
    assert "podSubnet" in proc.stderr
