"""The gateway_api and network_policy roles against a REAL kube-apiserver
(tests/integration/apiserver.py): ansible-playbook on localhost with
K8S_AUTH_KUBECONFIG, objects read back from the server, a second run and a
check-mode run with zero changes, and bad inventory data refused before
anything reaches the server. The Gateway API CRDs are the pinned release's,
from the sigs.k8s.io/gateway-api module, so the server's schema and CEL rules
judge what the roles render."""
import hashlib
import json
import os
import shutil
import subprocess

import pytest
import yaml

from conftest import NO_NODES, ROOT, run

SHOP, BLOG, GATEWAYS, LINT = "pj-roles-shop", "pj-roles-blog", "pj-roles-gw", "pj-roles-lint"
# Cilium's policy CRDs come from the github.com/cilium/cilium module at the
# release and hash that k8s/versions.env pins.
CILIUM_CRDS = "pkg/k8s/apis/cilium.io/client/crds/v2"


def role_defaults(role):
    with open(os.path.join(ROOT, "roles", role, "defaults", "main.yml"), encoding="utf-8") as handle:
        return yaml.safe_load(handle)


GATEWAYS_DATA = [{
    "name": "public", "namespace": GATEWAYS,
    "listeners": [
        {"name": "http", "port": 80, "protocol": "HTTP", "hostname": "*.example.com",
         "allowed_routes": {"from": "All"}},
        {"name": "https", "port": 443, "protocol": "HTTPS", "hostname": "shop.example.com",
         "tls": {"certificate_refs": [{"name": "shop-tls"}]}},
    ],
}]

ROUTES = [{
    "name": "shop", "namespace": SHOP,
    "parent_refs": [{"name": "public", "namespace": GATEWAYS, "section_name": "https"}],
    "hostnames": ["shop.example.com"],
    "rules": [
        {"matches": [{"path": {"type": "PathPrefix", "value": "/api"},
                      "headers": [{"name": "X-Canary", "value": "yes"}]}],
         "request_header_modifier": {"add": [{"name": "X-Via", "value": "gw"}], "remove": ["X-Debug"]},
         "backend_refs": [{"name": "api", "port": 8080, "weight": 90},
                          {"name": "api-canary", "port": 8080, "weight": 10}]},
        {"matches": [{"path": {"type": "Exact", "value": "/healthz"}}], "region_header": False,
         "backend_refs": [{"name": "web", "port": 80}]},
    ],
}]

ALLOWS = [{
    "namespace": SHOP, "name": "from-monitoring", "direction": "ingress", "pod_selector": {"app": "web"},
    "peers": [{"namespace_selector": {"kubernetes.io/metadata.name": "monitoring"},
               "pod_selector": {"app": "prometheus"}},
              {"cidr": "10.20.0.0/16", "except": ["10.20.5.0/24"]}],
    "ports": [{"protocol": "TCP", "port": 9100}],
}]


@pytest.fixture(scope="module")
def cluster(api_server, tmp_path_factory):
    """The API server with our namespaces and a local copy of the release bundle."""
    for namespace in (SHOP, BLOG, GATEWAYS, LINT):
        proc = api_server.kubectl("create", "namespace", namespace)
        assert proc.returncode == 0, proc.stderr
    # The release bundle as scripts/k8s-binaries.sh rebuilds it beside the CRDs.
    bundle = os.path.join(os.path.dirname(api_server.crd_dir), "standard-install.yaml")
    return {"server": api_server, "bundle": bundle, "tmp": tmp_path_factory.mktemp("vars")}


@pytest.fixture(scope="module")
def cilium_crds(cluster):
    """CiliumNetworkPolicy and CiliumClusterwideNetworkPolicy CRDs of the pinned Cilium, Established."""
    version = cluster["server"].versions["CILIUM_VERSION"]
    go = shutil.which("go") or "/usr/local/go/bin/go"
    env = dict(os.environ, GOFLAGS="-mod=mod", GOTOOLCHAIN="local")
    proc = subprocess.run([go, "mod", "download", "-json", "github.com/cilium/cilium@v" + version], text=True,
                          capture_output=True, env=env, timeout=900, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    module = json.loads(proc.stdout)
    want = cluster["server"].versions["CILIUM_MODULE_SUM"]
    assert module["Sum"] == want, "github.com/cilium/cilium@v%s hash %s" % (version, module["Sum"])
    names = ("ciliumnetworkpolicies", "ciliumclusterwidenetworkpolicies")
    args = ["apply", "--server-side", "--field-manager=packetjungle-test"]
    for name in names:
        args += ["-f", os.path.join(module["Dir"], CILIUM_CRDS, name + ".yaml")]
    server = cluster["server"]
    for argv in (args, ["wait", "--for=condition=Established", "--timeout=60s"]
                 + ["crd/%s.cilium.io" % name for name in names]):
        proc = server.kubectl(*argv)
        assert proc.returncode == 0, proc.stderr
    return cluster


def playbook(cluster, name, extra, check=False):
    """ansible-playbook on localhost; returns (rc, stats of localhost, full output)."""
    base = {"region": "no-osl-1", "datapath_skip_stages": {}, "gateway_api_crds_path": cluster["bundle"],
            "gateway_api_crds_cache_dir": str(cluster["tmp"] / "cache")}
    base.update(extra)
    vars_file = cluster["tmp"] / ("%s-%d.json" % (name, len(os.listdir(cluster["tmp"]))))
    vars_file.write_text(json.dumps(base))
    argv = ["ansible-playbook", "-i", NO_NODES, "playbooks/%s.yml" % name, "-e", "@%s" % vars_file] + (["--check"] if check else [])
    env = dict(os.environ, K8S_AUTH_KUBECONFIG=cluster["server"].kubeconfig, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
               NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost")
    proc = run(argv, env=env, timeout=600)
    try:
        stats = json.loads(proc.stdout)["stats"]["localhost"]
    except (ValueError, KeyError) as exc:
        raise AssertionError("no JSON stats (%s): %s %s" % (exc, proc.stdout[-3000:], proc.stderr[-3000:]))
    return proc.returncode, stats, proc.stdout


def get(cluster, *args):
    proc = cluster["server"].kubectl("get", "-o", "json", *args)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def absent(cluster, *args):
    proc = cluster["server"].kubectl("get", *args)
    return proc.returncode != 0 and "NotFound" in proc.stderr


# No Cilium chart here to create the class, so the role manages it.
CLASS = {"name": "cilium", "controller_name": "io.cilium/gateway-controller", "manage": True}
GOOD_GATEWAY = {"gateway_api_gateway_class": CLASS, "gateway_api_gateways": GATEWAYS_DATA,
                "gateway_api_routes": ROUTES}
GOOD_POLICY = {"network_policy_namespaces": [SHOP, BLOG], "network_policy_allows": ALLOWS}


def test_local_bundle_is_the_pinned_release(cluster):
    defaults = role_defaults("gateway_api")
    with open(cluster["bundle"], "rb") as handle:
        assert hashlib.sha256(handle.read()).hexdigest() == defaults["gateway_api_crds_sha256"]
    assert defaults["gateway_api_version"] == cluster["server"].versions["GATEWAY_API_VERSION"]


def test_gateway_api_applied_read_back_and_unchanged_on_rerun(cluster):
    rc, stats, out = playbook(cluster, "gateway_api", GOOD_GATEWAY)
    assert rc == 0 and stats["failures"] == 0, out[-3000:]

    crd = get(cluster, "crd", "httproutes.gateway.networking.k8s.io")
    assert crd["metadata"]["annotations"]["gateway.networking.k8s.io/bundle-version"] == "v1.4.1"
    assert get(cluster, "gatewayclass", "cilium")["spec"]["controllerName"] == "io.cilium/gateway-controller"
    gateway = get(cluster, "gateway", "public", "-n", GATEWAYS)
    assert gateway["spec"]["gatewayClassName"] == "cilium"
    assert [(x["name"], x["port"], x["protocol"], x["hostname"]) for x in gateway["spec"]["listeners"]] == [
        ("http", 80, "HTTP", "*.example.com"), ("https", 443, "HTTPS", "shop.example.com")]
    assert gateway["spec"]["listeners"][1]["tls"]["certificateRefs"] == [
        {"group": "", "kind": "Secret", "name": "shop-tls"}]

    rules = get(cluster, "httproute", "shop", "-n", SHOP)["spec"]["rules"]
    assert rules[0]["filters"] == [{"type": "RequestHeaderModifier", "requestHeaderModifier": {
        "set": [{"name": "X-Region-Context", "value": "no-osl-1"}],
        "add": [{"name": "X-Via", "value": "gw"}], "remove": ["X-Debug"]}}]
    assert [(b["name"], b["weight"]) for b in rules[0]["backendRefs"]] == [("api", 90), ("api-canary", 10)]
    assert rules[0]["matches"] == [{"path": {"type": "PathPrefix", "value": "/api"},
                                    "headers": [{"type": "Exact", "name": "X-Canary", "value": "yes"}]}]
    assert "filters" not in rules[1] and rules[1]["matches"][0]["path"] == {"type": "Exact", "value": "/healthz"}
    generation = get(cluster, "httproute", "shop", "-n", SHOP)["metadata"]["generation"]

    rc, stats, out = playbook(cluster, "gateway_api", GOOD_GATEWAY)
    assert rc == 0 and stats["changed"] == 0, out[-3000:]
    rc, stats, out = playbook(cluster, "gateway_api", GOOD_GATEWAY, check=True)
    assert rc == 0 and stats["changed"] == 0, out[-3000:]
    assert get(cluster, "httproute", "shop", "-n", SHOP)["metadata"]["generation"] == generation


def test_network_policy_applied_read_back_and_unchanged_on_rerun(cluster):
    rc, stats, out = playbook(cluster, "network_policy", GOOD_POLICY)
    assert rc == 0 and stats["failures"] == 0, out[-3000:]
    for namespace in (SHOP, BLOG):
        deny = get(cluster, "networkpolicy", "default-deny", "-n", namespace)["spec"]
        assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
        dns = get(cluster, "networkpolicy", "allow-dns", "-n", namespace)["spec"]
        assert dns["egress"] == [{
            "to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                    "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
            "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
        }]
    allow = get(cluster, "networkpolicy", "from-monitoring", "-n", SHOP)["spec"]
    assert allow["ingress"][0]["from"][1] == {"ipBlock": {"cidr": "10.20.0.0/16", "except": ["10.20.5.0/24"]}}
    assert absent(cluster, "networkpolicy", "from-monitoring", "-n", BLOG)

    rc, stats, out = playbook(cluster, "network_policy", GOOD_POLICY)
    assert rc == 0 and stats["changed"] == 0, out[-3000:]
    rc, stats, out = playbook(cluster, "network_policy", GOOD_POLICY, check=True)
    assert rc == 0 and stats["changed"] == 0, out[-3000:]


def test_cilium_kinds_applied_read_back_and_unchanged_on_rerun(cilium_crds):
    cluster = cilium_crds
    # Gateway traffic reaches backends as Cilium's `ingress` identity: only a CNP can allow it.
    from_gateway = {"namespace": SHOP, "name": "from-gateway", "direction": "ingress", "pod_selector": {"app": "web"},
                    "peers": [{"entities": ["ingress"]}], "ports": [{"protocol": "TCP", "port": 8080}]}
    extra = dict(GOOD_POLICY, network_policy_cilium_kinds=True, network_policy_allows=ALLOWS + [from_gateway])
    rc, stats, out = playbook(cluster, "network_policy", extra)
    assert rc == 0 and stats["failures"] == 0, out[-3000:]
    assert get(cluster, "ciliumnetworkpolicy", "default-deny", "-n", BLOG)["spec"] == {
        "endpointSelector": {}, "ingress": [{}], "egress": [{}]}
    dns = get(cluster, "ciliumnetworkpolicy", "allow-dns", "-n", SHOP)["spec"]["egress"][0]
    assert dns["toEndpoints"] == [{"matchLabels": {"k8s:io.kubernetes.pod.namespace": "kube-system",
                                                   "k8s:k8s-app": "kube-dns"}}]
    assert dns["toPorts"][0]["ports"] == [{"port": "53", "protocol": "UDP"}, {"port": "53", "protocol": "TCP"}]
    allow = get(cluster, "ciliumnetworkpolicy", "from-monitoring", "-n", SHOP)["spec"]["ingress"]
    assert allow[0]["fromEndpoints"] == [{"matchLabels": {"k8s:app": "prometheus",
                                                          "k8s:io.kubernetes.pod.namespace": "monitoring"}}]
    assert allow[1]["fromCIDRSet"] == [{"cidr": "10.20.0.0/16", "except": ["10.20.5.0/24"]}]
    gateway = get(cluster, "ciliumnetworkpolicy", "from-gateway", "-n", SHOP)["spec"]["ingress"]
    assert gateway == [{"fromEntities": ["ingress"], "toPorts": [{"ports": [{"port": "8080", "protocol": "TCP"}]}]}]
    assert absent(cluster, "networkpolicy", "from-gateway", "-n", SHOP)

    rc, stats, out = playbook(cluster, "network_policy", extra)
    assert rc == 0 and stats["changed"] == 0, out[-3000:]


def _route_with(**rule):
    base = {"backend_refs": [{"name": "web", "port": 80}]}
    base.update(rule)
    return {"name": "refused", "namespace": SHOP, "parent_refs": [{"name": "never", "namespace": GATEWAYS}],
            "rules": [base]}


NEVER_GATEWAY = {"name": "never", "namespace": GATEWAYS,
                 "listeners": [{"name": "http", "port": 80, "protocol": "HTTP"}]}


@pytest.mark.parametrize("route, message", [
    (_route_with(backend_refs=[{"name": "web", "port": 80, "weight": 1000001}]),
     "gateway_api_routes[0](pj-roles-shop/refused).rules[0].backend_refs[0].weight: 1000001 is out of range; "
     "accepted: an integer from 0 to 1000000"),
    (dict(_route_with(), hostnames=["Shop_Front.example.com"]),
     "gateway_api_routes[0](pj-roles-shop/refused).hostnames[0]: 'Shop_Front.example.com' is not a valid hostname"),
    (_route_with(backend_refs=[{"name": "web", "port": 70000}]),
     "gateway_api_routes[0](pj-roles-shop/refused).rules[0].backend_refs[0].port: 70000 is not a valid port; "
     "accepted: a number from 1 to 65535"),
])
def test_invalid_gateway_data_refused_before_anything_is_applied(cluster, route, message):
    rc, stats, out = playbook(cluster, "gateway_api", {"gateway_api_gateways": [NEVER_GATEWAY],
                                                       "gateway_api_routes": [route]})
    assert rc != 0 and stats["changed"] == 0
    assert message in out
    assert absent(cluster, "httproute", "refused", "-n", SHOP)
    assert absent(cluster, "gateway", "never", "-n", GATEWAYS)


@pytest.mark.parametrize("extra, message", [
    ({"network_policy_dns": {"namespace": "kube-system", "pod_selector": {"k8s-app": "kube-dns"},
                             "ports": [{"protocol": "UDP", "port": 53}]}},
     "network_policy_dns.ports: [{'protocol': 'UDP', 'port': 53}] allows DNS (port 53) on UDP only"),
    ({"network_policy_allows": [{
        "namespace": LINT, "name": "to-dns", "direction": "egress",
        "peers": [{"namespace_selector": {"kubernetes.io/metadata.name": "kube-system"}},
                  {"pod_selector": {"k8s-app": "kube-dns"}}],
        "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]}]},
     "network_policy_allows[0](pj-roles-lint/to-dns).peers: peers [0] (namespace_selector only) and [1] "
     "(pod_selector only) are OR-ed"),
])
def test_policy_mistakes_refused_before_anything_is_applied(cluster, extra, message):
    rc, stats, out = playbook(cluster, "network_policy", dict({"network_policy_namespaces": [LINT]}, **extra))
    assert rc != 0 and stats["changed"] == 0
    assert message in out
    assert get(cluster, "networkpolicy", "-n", LINT)["items"] == []


def test_status_check_reports_what_no_controller_accepted(cluster):
    """No Gateway controller runs here: the server's own default conditions must fail the check by name."""
    rc, _stats, out = playbook(cluster, "gateway_api", dict(GOOD_GATEWAY, gateway_api_check_status=True,
                                                            gateway_api_status_retries=1,
                                                            gateway_api_status_delay=0))
    assert rc != 0
    for problem in ("GatewayClass cilium: Accepted is Unknown (Pending: Waiting for controller)",
                    "Gateway pj-roles-gw/public: Programmed is Unknown (Pending: Waiting for controller)",
                    "HTTPRoute pj-roles-shop/shop: no status from io.cilium/gateway-controller yet"):
        assert problem in out
