"""Every inventory under inventories/ (the lab and each region) loaded by the
REAL ansible-playbook (tests/integration/files/check_region_inventory.yml,
connection local, no SSH): each host's role inputs checked against the roles'
own argument specs, the roles' own input checks, and what the roles render
(kubeadm configuration, Cilium Helm values, Gateway API objects,
NetworkPolicies). Then the checks no single role can make: the stages agree
with each other (pod CIDR and Cilium's native routing CIDR, MTU plan, DSR
mode, region header), latency budgets are consistent, and no two inventories
share an address range, so regions can be peered. Every problem names the
inventory, the host or file, the variable and the reason.

Copies of a region inventory with one bad value each, written to tmp_path,
prove that every kind of check can fail."""
import glob
import ipaddress
import json
import os
import re
import shutil
import subprocess
import time

import pytest
import yaml

from ansible_collections.packetjungle.datapath.plugins.module_utils import nic, sysctl
from apiserver import ensure_binaries
from conftest import ROOT

PLAYBOOK = os.path.join("tests", "integration", "files", "check_region_inventory.yml")
INVENTORIES = os.path.join(ROOT, "inventories")
REGIONS = ("no-osl-1", "no-bgo-1", "no-trd-1", "de-fra-1")
ROLES = sorted(os.path.basename(os.path.dirname(os.path.dirname(p)))
               for p in glob.glob(os.path.join(ROOT, "roles", "*", "meta", "argument_specs.yml")))
# Read by the defaults of gateway_api (the region header's value) and validate
# (the report's name), as gateway_api's argument spec says; not an option itself.
ROLE_DEFAULT_INPUTS = {"region"}
REGION_HEADER = "X-Region-Context"
# cilium-gateway-facts.md 1.6.4: DSR with the IPv4 option adds 8 bytes to
# every UDP packet, so a full-size 1500-byte client packet needs 1508.
DSR_OPT_BYTES = 8
CLIENT_MTU = 1500


def known_variables():
    """Every role option, and the playbooks' own inputs (datapath_skip_stages and the like)."""
    known = set(ROLE_DEFAULT_INPUTS)
    for role in ROLES:
        with open(os.path.join(ROOT, "roles", role, "meta", "argument_specs.yml"), encoding="utf-8") as handle:
            known.update(yaml.safe_load(handle)["argument_specs"]["main"]["options"])
    for playbook in glob.glob(os.path.join(ROOT, "playbooks", "**", "*.yml"), recursive=True):
        with open(playbook, encoding="utf-8") as handle:
            known.update(re.findall(r"\b(datapath_[a-z0-9_]+)", handle.read()))
    return known


def start_check(inventory):
    # The JSON callback hands over every host's facts and every failure's message.
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_NOCOLOR="1",
               ANSIBLE_RETRY_FILES_ENABLED="0")
    return subprocess.Popen(["ansible-playbook", "-i", inventory, PLAYBOOK, "--skip-tags", "always"],
                            cwd=ROOT, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def check_all(inventories):
    """Run the playbook on every inventory at once; {name: (path, failures, data)}."""
    running = dict((name, (path, start_check(path))) for name, path in inventories.items())
    results = {}
    for name, (path, proc) in running.items():
        stdout, stderr = proc.communicate(timeout=600)
        results[name] = (path,) + read_run(os.path.basename(path), proc.returncode, stdout, stderr)
    return results


def read_run(name, rc, stdout, stderr):
    """(failures as `inventory/host: message`, the collected facts or None)."""
    try:
        report = json.loads(stdout)
    except ValueError:
        return ["%s: ansible-playbook failed (rc %s): %s" % (name, rc, (stdout + stderr)[-3000:])], None
    failures, facts = [], {}
    for play in report["plays"]:
        for task in play["tasks"]:
            for host, result in task["hosts"].items():
                if result.get("failed"):
                    # The checks' own failures are lists of `host: problem`.
                    msg = result.get("msg")
                    failures += ["%s/%s" % (name, " ".join(str(m).split())) for m in msg] if isinstance(msg, list) \
                        else ["%s/%s: %s" % (name, host, " ".join(str(msg).split()))]
                facts.update(result.get("ansible_facts") or {})
                if "region_check_host" in (result.get("ansible_facts") or {}):
                    facts.setdefault("hosts", []).append(result["ansible_facts"]["region_check_host"])
    if rc != 0 and not failures:
        failures.append("%s: ansible-playbook failed (rc %s): %s" % (name, rc, (stdout + stderr)[-3000:]))
    if failures:
        return failures, None
    return [], {"hosts": facts["hosts"], "cluster": facts["region_check_cluster"]}


def inventory_variables(path):
    """(file relative to the inventory, variable) for every variable the inventory sets."""
    found = []

    def walk_group(rel, group):
        for key in (group or {}).get("vars") or {}:
            found.append((rel, key))
        for host_vars in ((group or {}).get("hosts") or {}).values():
            found.extend((rel, key) for key in host_vars or {})
        for child in ((group or {}).get("children") or {}).values():
            walk_group(rel, child)

    for hosts_file in glob.glob(os.path.join(path, "hosts.y*ml")):
        with open(hosts_file, encoding="utf-8") as handle:
            for group in (yaml.safe_load(handle) or {}).values():
                walk_group(os.path.relpath(hosts_file, path), group)
    for var_file in sorted(glob.glob(os.path.join(path, "*_vars", "**", "*.y*ml"), recursive=True)):
        with open(var_file, encoding="utf-8") as handle:
            found.extend((os.path.relpath(var_file, path), key) for key in yaml.safe_load(handle) or {})
    return found


def referenced_variables(path):
    """Names the inventory's own values use in a template ({{ name ... }}):
    an inventory may say a value once (the lab's mirror address) and derive
    role inputs from it; a misspelt role input is referenced by nothing."""
    names = set()
    for var_file in glob.glob(os.path.join(path, "**", "*.y*ml"), recursive=True):
        with open(var_file, encoding="utf-8") as handle:
            for expression in re.findall(r"\{\{(.*?)\}\}", handle.read(), re.S):
                names.update(re.findall(r"\b([a-z_][a-z0-9_]*)\b", expression))
    return names


def unknown_variables(name, path, known):
    known = known | referenced_variables(path)
    return ["%s: %s: %s is not an input of any role (roles/*/meta/argument_specs.yml) or playbook"
            % (name, rel, key) for rel, key in inventory_variables(path)
            if key not in known and not key.startswith("ansible_")]


def budget_problems(where, budget):
    budget = budget or {}
    problems = ["%s: %s %r is not a positive number of milliseconds" % (where, key, budget[key])
                for key in ("p50_ms", "p99_ms", "jitter_ms") if key in budget and float(budget[key]) <= 0]
    p50, p99 = budget.get("p50_ms"), budget.get("p99_ms")
    if not problems and p50 is not None and p99 is not None and float(p50) > float(p99):
        problems.append("%s: p50_ms %s is above p99_ms %s; accepted: p50 <= p99" % (where, p50, p99))
    loss = budget.get("loss_pct")
    if loss is not None and not 0 <= float(loss) <= 100:
        problems.append("%s: loss_pct %s is not a percentage" % (where, loss))
    return problems


def endpoint_host(inputs, hosts):
    """The API endpoint host, as roles/kubeadm computes it."""
    if inputs["kubeadm_control_plane_endpoint"]:
        return inputs["kubeadm_control_plane_endpoint"].rsplit(":", 1)[0]
    first = [h for h in hosts if "kube_control_plane" in h["groups"]][0]
    return first["ansible_host"]


def region_problems(name, data):
    """Consistency between the stages of one inventory, from what ansible rendered."""
    cluster, hosts = data["cluster"], data["hosts"]
    inputs = cluster["inputs"]
    problems = []
    region = inputs["validate_region"]
    where = "%s/%s" % (name, cluster["rendered_on"])

    if region != name:
        problems.append("%s: region (validate_region): %r is not the inventory's directory name %r"
                        % (where, region, name))
    header = inputs["gateway_api_region_header"] or {}
    if header.get("name") != REGION_HEADER or header.get("value") != region:
        problems.append("%s: gateway_api_region_header: %r must be {name: %s, value: %s} (the region id)"
                        % (where, header, REGION_HEADER, region))
    for obj in cluster["gateway_api_objects"]:
        if obj["kind"] != "HTTPRoute":
            continue
        for i, rule in enumerate(obj["spec"]["rules"]):
            for flt in rule.get("filters") or []:
                for entry in (flt.get("requestHeaderModifier") or {}).get("set") or []:
                    if entry["name"].lower() == REGION_HEADER.lower() and entry["value"] != region:
                        problems.append("%s: gateway_api_routes %s/%s rules[%d] sets %s: %r, not the region id %r"
                                        % (where, obj["metadata"]["namespace"], obj["metadata"]["name"], i,
                                           REGION_HEADER, entry["value"], region))

    control_planes = [h for h in hosts if "kube_control_plane" in h["groups"]]
    if not control_planes:
        problems.append("%s: kube_control_plane has no host" % name)
    elif len(control_planes) > 1 and not inputs["kubeadm_control_plane_endpoint"]:
        problems.append("%s: kubeadm_control_plane_endpoint: empty with %d control-plane nodes; HA needs a VIP or "
                        "load balancer, or the first node stays a single point of failure"
                        % (where, len(control_planes)))
    api_host = endpoint_host(inputs, hosts) if control_planes else None
    for host in control_planes if "kubeadm" not in cluster["skipped_stages"] else []:
        docs = {d["kind"]: d for d in yaml.safe_load_all(host["kubeadm_config"]) if d}
        cluster_config = docs["ClusterConfiguration"]
        if cluster_config["networking"]["podSubnet"] != inputs["kubeadm_pod_subnet"] or \
                "addon/kube-proxy" not in docs["InitConfiguration"]["skipPhases"] or \
                docs["InitConfiguration"]["localAPIEndpoint"]["advertiseAddress"] != host["ansible_host"]:
            problems.append("%s/%s: the rendered kubeadm configuration does not carry the inventory's pod subnet, "
                            "node address and kube-proxy skip: %r" % (name, host["inventory_hostname"], docs))

    for i, target in enumerate(inputs["validate_targets"]):
        problems += budget_problems("%s: validate_targets[%d](%s).budget" % (where, i, target.get("name")),
                                    target.get("budget"))
    problems += budget_problems("%s: validate_peer_budget" % where, inputs["validate_peer_budget"])

    interfaces = dict((i["name"], i) for i in inputs["host_tuning_interfaces"])
    # The nic_settings and sysctl_dropin modules' own checks, for nodes whose
    # NIC limits and CPU count are not known here.
    for name_, raw in interfaces.items():
        settings = dict((k, v) for k, v in raw.items() if k != "name")
        problems += ["%s: host_tuning_%s" % (where, e) for e in
                     nic.validate_settings("interfaces[%s]" % name_, name_, settings, {}, range(1024))[1]]
    problems += ["%s: host_tuning_%s" % (where, e) for e in
                 sysctl.validate_settings(inputs["host_tuning_sysctl"], [])[1]]
    if "cilium" in cluster["skipped_stages"]:
        return problems

    values = cluster["cilium_values"]
    routing = values["routingMode"]
    if routing == "native" and values.get("ipv4NativeRoutingCIDR") != inputs["kubeadm_pod_subnet"]:
        problems.append("%s: cilium_ipv4_native_routing_cidr: %r is not kubeadm_pod_subnet %r; pod traffic "
                        "outside it is masqueraded" % (where, values.get("ipv4NativeRoutingCIDR"),
                                                       inputs["kubeadm_pod_subnet"]))
    endpoint = inputs["kubeadm_control_plane_endpoint"] or "%s:%s" % (api_host, inputs["kubeadm_api_port"])
    if "%s:%s" % (values["k8sServiceHost"], values["k8sServicePort"]) != endpoint:
        problems.append("%s: cilium_k8s_service_host/port: %s:%s is not the API endpoint %s; without kube-proxy "
                        "the agents reach the API servers only there"
                        % (where, values["k8sServiceHost"], values["k8sServicePort"], endpoint))
    lb_mode = values["loadBalancer"]["mode"]
    if inputs["validate_expect_lb_mode"] != lb_mode:
        problems.append("%s: validate_expect_lb_mode: %r, but cilium_lb_mode is %r"
                        % (where, inputs["validate_expect_lb_mode"], lb_mode))
    wanted_tunnel = "disabled" if routing == "native" else values["tunnelProtocol"]
    if inputs["validate_tunnel"] != wanted_tunnel:
        problems.append("%s: validate_tunnel: %r, but Cilium routes %s (expected %r)"
                        % (where, inputs["validate_tunnel"], routing, wanted_tunnel))
    if routing == "native" and inputs["validate_encapsulation"] != "native":
        problems.append("%s: validate_encapsulation: %r with native routing" % (where, inputs["validate_encapsulation"]))
    if set(inputs["validate_policy_namespaces"]) != set(inputs["network_policy_namespaces"]):
        problems.append("%s: validate_policy_namespaces %r is not network_policy_namespaces %r"
                        % (where, inputs["validate_policy_namespaces"], inputs["network_policy_namespaces"]))

    for key, value in sorted((inputs["validate_cilium_expected_config"] or {}).items()):
        if cluster["cilium_expected_config"].get(key) != value:
            problems.append("%s: validate_cilium_expected_config[%s]: %r, but the cilium role's inputs give %r"
                            % (where, key, value, cluster["cilium_expected_config"].get(key)))

    port_range = (inputs["host_tuning_sysctl"] or {}).get("net.ipv4.ip_local_port_range")
    if port_range is not None and [int(p) for p in str(port_range).split()] != \
            [int(p) for p in inputs["cilium_ephemeral_port_range"]]:
        problems.append("%s: cilium_ephemeral_port_range %r is not the nodes' net.ipv4.ip_local_port_range %r "
                        "(host_tuning_sysctl)" % (where, inputs["cilium_ephemeral_port_range"], port_range))

    # The MTU plan: one value on the NICs Cilium serves, in Cilium and in the validation.
    mtu = values.get("MTU")
    device_mtus = set(interfaces.get(d, {}).get("mtu") for d in values.get("devices") or [])
    if mtu:
        if device_mtus != {mtu}:
            problems.append("%s: cilium_mtu %s is not the MTU host_tuning_interfaces gives cilium_devices %r: %r"
                            % (where, mtu, values.get("devices"), sorted(device_mtus, key=str)))
        if routing == "native" and inputs["validate_expect_mtu"] not in (None, mtu):
            problems.append("%s: validate_expect_mtu %s is not cilium_mtu %s (native routing adds nothing)"
                            % (where, inputs["validate_expect_mtu"], mtu))
        if lb_mode == "dsr" and values["loadBalancer"].get("dsrDispatch") == "opt" and \
                mtu < CLIENT_MTU + DSR_OPT_BYTES:
            problems.append("%s: cilium_lb_mode: dsr with the IP option at MTU %s drops full-size UDP packets "
                            "(the option adds %d bytes to each, cilium-gateway-facts.md 1.6.4); accepted: hybrid, "
                            "or an MTU of at least %d" % (where, mtu, DSR_OPT_BYTES, CLIENT_MTU + DSR_OPT_BYTES))
    return problems


def address_ranges(name, data):
    """(network, inventory, what) for the pod and Service CIDRs and every node address."""
    inputs = data["cluster"]["inputs"]
    ranges = [(ipaddress.ip_network(inputs["kubeadm_pod_subnet"]), name, "kubeadm_pod_subnet"),
              (ipaddress.ip_network(inputs["kubeadm_service_subnet"]), name, "kubeadm_service_subnet")]
    for host in data["hosts"]:
        try:
            address = ipaddress.ip_network(host["ansible_host"])
        except ValueError:
            continue  # a DNS name: no range to compare
        ranges.append((address, name, "%s ansible_host" % host["inventory_hostname"]))
    return ranges


def cross_region_problems(datas):
    """Overlapping ranges between inventories (or inside one), duplicate ids, targets naming a region's API."""
    problems = []
    ranges = [r for name, data in sorted(datas.items()) for r in address_ranges(name, data)]
    for i, (net_a, inv_a, what_a) in enumerate(ranges):
        for net_b, inv_b, what_b in ranges[i + 1:]:
            if (inv_a != inv_b or "subnet" in what_a or "subnet" in what_b) and net_a.overlaps(net_b):
                problems.append("%s: %s %s overlaps %s %s %s; regions could not be peered"
                                % (inv_b, what_b, net_b, inv_a, what_a, net_a))
    for key in ("validate_region", "kubeadm_cluster_name"):
        seen = {}
        for name, data in sorted(datas.items()):
            value = data["cluster"]["inputs"][key]
            if value in seen:
                problems.append("%s: %s %r is also %s's" % (name, key, value, seen[value]))
            seen[value] = name
    api = dict((name, endpoint_host(d["cluster"]["inputs"], d["hosts"])) for name, d in datas.items())
    for name, data in sorted(datas.items()):
        for i, target in enumerate(data["cluster"]["inputs"]["validate_targets"]):
            other = (target.get("name") or "")[:-len("-api")] if (target.get("name") or "").endswith("-api") else None
            if other in api and target["address"] != api[other]:
                problems.append("%s: validate_targets[%d](%s).address %s is not %s's API endpoint %s"
                                % (name, i, target["name"], target["address"], other, api[other]))
    return problems


def all_problems(results, others=None):
    """Every problem of the checked inventories, also checked against `others` (already checked data)."""
    known = known_variables()
    problems = []
    datas = dict(others or {})
    for name, (path, failures, data) in sorted(results.items()):
        problems += unknown_variables(name, path, known) + failures
        if data is not None:
            problems += region_problems(name, data)
            datas[name] = data
    return problems + cross_region_problems(datas)


@pytest.fixture(scope="module")
def checked():
    inventories = dict((name, os.path.join(INVENTORIES, name)) for name in sorted(os.listdir(INVENTORIES))
                       if os.path.isdir(os.path.join(INVENTORIES, name)))
    started = time.monotonic()
    results = check_all(inventories)
    print("checked %d inventories in %.1f s" % (len(results), time.monotonic() - started))
    return results


def test_every_inventory_is_a_valid_region(checked):
    assert set(REGIONS) | {"lab"} <= set(checked)
    problems = all_problems(checked)
    assert problems == [], "\n".join(problems)
    for region in REGIONS:
        data = checked[region][2]
        assert data["cluster"]["inputs"]["validate_region"] == region
        assert any(obj["kind"] == "HTTPRoute" for obj in data["cluster"]["gateway_api_objects"])
        assert any(obj["metadata"]["name"] == "default-deny" for obj in data["cluster"]["network_policies"])


def test_rendered_kubeadm_configurations_pass_the_real_kubeadm(checked, tmp_path):
    kubeadm = os.path.join(ensure_binaries()["PJ_K8S_BIN"], "kubeadm")
    datas = dict((name, result[2]) for name, result in checked.items())
    assert None not in datas.values(), "an inventory failed its check, see test_every_inventory_is_a_valid_region"
    configs = [(name, host["inventory_hostname"], host["kubeadm_config"])
               for name, data in sorted(datas.items()) if "kubeadm" not in data["cluster"]["skipped_stages"]
               for host in data["hosts"] if host["kubeadm_config"]]
    assert len(configs) >= len(REGIONS)
    for name, host, config in configs:
        path = tmp_path / ("%s-%s.yaml" % (name, host))
        path.write_text(config)
        proc = subprocess.run([kubeadm, "config", "validate", "--config", str(path)], text=True,
                              capture_output=True, check=False)
        assert proc.returncode == 0, "%s/%s: kubeadm config validate: %s" % (name, host, proc.stderr)
    # Control: the same validation refuses a configuration that is wrong.
    path.write_text(config.replace("podSubnet: ", "podSubnet: 300.1.0.0/16 #", 1))
    proc = subprocess.run([kubeadm, "config", "validate", "--config", str(path)], text=True,
                          capture_output=True, check=False)
    assert proc.returncode != 0 and "podSubnet" in proc.stderr, proc.stderr


def replace_line(path, old, new):
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    assert old in text, "%s: %r not found" % (path, old)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text.replace(old, new, 1))


# One bad value each in a copy of the smallest region; the problem that must be
# reported, with the host (or file), the variable and the reason.
BAD = {
    "choice-outside-the-spec": (
        "cilium.yml", "cilium_lb_mode: hybrid", "cilium_lb_mode: dssr",
        "no-trd-1/trd1-cp01: argument spec: value of cilium_lb_mode must be one of: snat, dsr, hybrid, got: dssr"),
    "misspelt-role-variable": (
        "cilium.yml", "cilium_mtu: 1450", "cilium_mtu_bytes: 1450",
        "no-trd-1/trd1-cp01: argument spec: cilium_mtu_bytes: unsupported, not an option in any role argument spec"),
    "variable-of-no-role": (
        "kubeadm.yml", "kubeadm_pod_subnet:", "pod_subnet:",
        "no-trd-1: group_vars/all/kubeadm.yml: pod_subnet is not an input of any role"),
    "refused-by-the-role": (
        "gateway_api.yml", "weight: 99", "weight: 1000001",
        "no-trd-1/trd1-cp01: gateway_api_routes[0](shop/shop).rules[0].backend_refs[0].weight: 1000001 is out of range"),
    "p99-below-p50": (
        "validate.yml", "p99_ms: 13.5", "p99_ms: 4.5",
        "no-trd-1/trd1-cp01: validate_targets[1](no-osl-1-api).budget: p50_ms 9.0 is above p99_ms 4.5"),
    "pod-cidr-of-another-region": (
        "kubeadm.yml", "kubeadm_pod_subnet: 10.122.0.0/16", "kubeadm_pod_subnet: 10.120.0.0/16",
        "no-trd-1: kubeadm_pod_subnet 10.120.0.0/16 overlaps no-osl-1 kubeadm_pod_subnet 10.120.0.0/16"),
    "region-id-of-another-region": (
        "region.yml", "region: no-trd-1", "region: no-osl-1",
        "no-trd-1/trd1-cp01: region (validate_region): 'no-osl-1' is not the inventory's directory name 'no-trd-1'"),
    "dsr-at-1450": (
        "cilium.yml", "cilium_lb_mode: hybrid", "cilium_lb_mode: dsr",
        "no-trd-1/trd1-cp01: cilium_lb_mode: dsr with the IP option at MTU 1450 drops full-size UDP packets"),
}


@pytest.fixture(scope="module")
def bad_copies(tmp_path_factory):
    """Every bad copy, checked in one parallel batch."""
    base = tmp_path_factory.mktemp("bad-inventories")
    inventories = {}
    for case, (var_file, old, new, expected) in BAD.items():
        assert expected.startswith("no-trd-1")
        path = os.path.join(str(base), case, "no-trd-1")
        shutil.copytree(os.path.join(INVENTORIES, "no-trd-1"), path)
        replace_line(os.path.join(path, "group_vars", "all", var_file), old, new)
        inventories[case] = path
    return check_all(inventories)


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_value_is_reported_with_host_variable_and_reason(checked, bad_copies, case):
    others = dict((name, result[2]) for name, result in checked.items() if name != "no-trd-1")
    problems = all_problems({"no-trd-1": bad_copies[case]}, others)
    assert any(p.startswith(BAD[case][3]) for p in problems), "\n".join(problems)
