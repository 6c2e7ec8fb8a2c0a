"""roles/kubeadm for real on lab nodes: `kubeadm init` without kube-proxy on
the first control-plane node, a worker joined, the admin kubeconfig fetched,
and a second run that changes nothing; then a third node joins as a further
control-plane node. Every node registers its lab address (node-ip at init and
in each join's JoinConfiguration), and containerd (playbooks/containerd.yml)
changes nothing when run again.

The lab is this test's own (LAB_PREFIX=pj-kadm, 2 nodes, then 3), never the
default one, removed at the end. It uses the default lab's own settings
(inventories/lab/group_vars), with only its addresses given as extra vars:
kubeadm, kubelet and kubectl as Debian packages and the control-plane images
from the lab's mirror (scripts/lab-mirror.sh, served on this lab's bridge by
scripts/lab.sh up), installed by the roles exactly as from pkgs.k8s.io and
registry.k8s.io (fingerprint check included).
"""
import json
import os
import re
import shutil
import subprocess
import time

import pytest
import yaml

from conftest import CACHE, KUBECTL, ROOT, run

PREFIX = "pj-kadm"
LAB_ENV = dict(os.environ, LAB_PREFIX=PREFIX, LAB_NODES="2")
TIMINGS = {}


def script_vars(argv, timeout):
    """Run a build script; return its KEY=VALUE stdout lines as a dict."""
    start = time.monotonic()
    proc = run(argv, timeout=timeout)
    TIMINGS[os.path.basename(argv[0])] = round(time.monotonic() - start, 1)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return dict(line.split("=", 1) for line in proc.stdout.splitlines() if re.match(r"^PJ_[A-Z0-9_]+=", line))


@pytest.fixture(scope="module")
def kadm_lab(tmp_path_factory):
    """The pj-kadm lab with its mirror; yields the inventory directory (the
    generated hosts, the lab's group_vars, this lab's addresses). Torn down at the end."""
    mirror = script_vars([os.path.join(ROOT, "scripts", "lab-mirror.sh")], timeout=3600)
    assert mirror
    try:
        start = time.monotonic()
        proc = run(["scripts/lab.sh", "up"], env=LAB_ENV, timeout=900)
        TIMINGS["lab up"] = round(time.monotonic() - start, 1)
        assert proc.returncode == 0, proc.stderr
        inventory = tmp_path_factory.mktemp("inventory")
        shutil.copy(os.path.join(CACHE, "lab", "inventory-%s.yml" % PREFIX), inventory / "hosts.yml")
        os.symlink(os.path.join(ROOT, "inventories", "lab", "group_vars"), inventory / "group_vars")
        yield str(inventory)
    finally:
        run(["scripts/lab.sh", "down"], env=LAB_ENV, timeout=300)
        print("timings (s):", json.dumps(TIMINGS))


def addresses_vars(inventory):
    """This lab's addresses where the default lab's settings name 172.29.88.x."""
    first = lab_addresses(inventory)[PREFIX + "-1"]
    gateway = first.rsplit(".", 1)[0] + ".1"
    return ["-e", json.dumps({"lab_mirror_url": "http://%s:5000" % gateway,
                              "kubeadm_control_plane_endpoint": "%s:6443" % first})]


def playbook(inventory, name, *extra, timeout=1800):
    """Run a playbook with this lab's addresses and per-task timings; record the run's and kubeadm's."""
    start = time.monotonic()
    proc = run(["ansible-playbook", "-i", inventory, name] + addresses_vars(inventory) + list(extra), timeout=timeout,
               env=dict(os.environ, ANSIBLE_CALLBACKS_ENABLED="ansible.posix.profile_tasks"))
    key = os.path.basename(name)
    runs = sum(1 for k in TIMINGS if k.startswith(key + " #")) + 1
    TIMINGS["%s #%d" % (key, runs)] = round(time.monotonic() - start, 1)
    for task, seconds in re.findall(r"kubeadm : (Run kubeadm init|Join the cluster) -+ ([0-9.]+)s", proc.stdout):
        TIMINGS["%s (%s #%d)" % (task, key, runs)] = float(seconds)
    return proc


def recap_changed(output):
    return {host: int(changed) for host, changed in re.findall(r"^(\S+)\s+:\s+ok=\d+\s+changed=(\d+)", output, re.M)}


def kubectl(kubeconfig, *args):
    return subprocess.run([KUBECTL, "--kubeconfig", kubeconfig]
                          + list(args), capture_output=True, text=True, timeout=120, check=False)


def node_sh(node, command):
    return subprocess.run(["docker", "exec", node, "sh", "-c", command], capture_output=True, text=True,
                          timeout=120, check=False)


def lab_addresses(inventory):
    """Node name -> its address on the lab network (ansible_host)."""
    with open(os.path.join(inventory, "hosts.yml"), encoding="utf-8") as handle:
        hosts = yaml.safe_load(handle)
    found = {}

    def walk(group):
        for name, host in (group.get("hosts") or {}).items():
            found[name] = host["ansible_host"]
        for child in (group.get("children") or {}).values():
            walk(child or {})
    walk(hosts["all"])
    return found


def assert_nodes_registered_their_lab_address(inventory, kubeconfig, joined):
    """Each node's InternalIP is its lab address and its kubelet got
    --node-ip with it (lab nodes have one address, so the flag is what shows
    the role passed it); JOINED nodes have no join configuration left and took
    the lab's KubeletConfiguration (the pods' resolver, no swap check) from the cluster."""
    addresses = lab_addresses(inventory)
    nodes = json.loads(kubectl(kubeconfig, "get", "nodes", "-o", "json").stdout)
    internal = {item["metadata"]["name"]: [a["address"] for a in item["status"]["addresses"] if a["type"] == "InternalIP"]
                for item in nodes["items"]}
    assert internal == {name: [address] for name, address in addresses.items()}
    for name, address in addresses.items():
        flags = node_sh(name, "cat /var/lib/kubelet/kubeadm-flags.env").stdout
        assert re.search(r"(^|[\s\"])--node-ip=%s([\s\"]|$)" % re.escape(address), flags), "%s: %s" % (name, flags)
    for name in joined:
        assert node_sh(name, "test -e /etc/kubernetes/kubeadm-join.yaml").returncode == 1, name
        kubelet = yaml.safe_load(node_sh(name, "cat /var/lib/kubelet/config.yaml").stdout)
        assert kubelet["resolvConf"] == "/run/lab-pod-resolv.conf" and kubelet["failSwapOn"] is False, name


def test_kubeadm_init_and_join_for_real(kadm_lab):
    inventory = kadm_lab
    prep = playbook(inventory, "playbooks/containerd.yml")
    assert prep.returncode == 0
    # containerd gets the lab's settings from the role itself: nothing edits
    # its config afterwards, so a second run changes nothing.
    prep_again = playbook(inventory, "playbooks/containerd.yml")
    assert prep_again.returncode == 0
    assert recap_changed(prep_again.stdout) == {PREFIX + "-1": 0, PREFIX + "-2": 0}
    dump = node_sh(PREFIX + "-1", "containerd config dump").stdout
    assert re.search(r"(?m)^\s*SystemdCgroup = true$", dump) and re.search(r"(?m)^\s*restrict_oom_score_adj = true$", dump)

    first = playbook(inventory, "playbooks/kubeadm.yml")
    assert first.returncode == 0
    assert set(recap_changed(first.stdout)) == {PREFIX + "-1", PREFIX + "-2"}

    kubeconfig = os.path.join(inventory, ".kube", "lab.conf")
    assert os.stat(kubeconfig).st_mode & 0o777 == 0o600
    assert node_sh(PREFIX + "-1", "stat -c %a /etc/kubernetes/admin.conf").stdout.strip() == "600"

    # No credential in what Ansible printed: the live bootstrap tokens and the
    # certificate key (64 hex digits) never appear.
    tokens = node_sh(PREFIX + "-1", "kubeadm token list -o jsonpath='{.token}{\"\\n\"}'").stdout.split()
    assert tokens, "the worker's join left no token to look for"
    for token in tokens:
        assert token not in first.stdout + first.stderr
        assert token.split(".")[1] not in first.stdout + first.stderr
    assert not re.search(r"\b[0-9a-f]{64}\b", first.stdout + first.stderr)
    assert "--certificate-key" not in first.stdout + first.stderr
    assert not re.search(r"\b[a-z0-9]{6}\.[a-z0-9]{16}\b", first.stdout + first.stderr)

    nodes = json.loads(kubectl(kubeconfig, "get", "nodes", "-o", "json").stdout)
    assert sorted(item["metadata"]["name"] for item in nodes["items"]) == [PREFIX + "-1", PREFIX + "-2"]

    assert "NotFound" in kubectl(kubeconfig, "-n", "kube-system", "get", "daemonset", "kube-proxy").stderr
    assert "NotFound" in kubectl(kubeconfig, "-n", "kube-system", "get", "configmap", "kube-proxy").stderr
    # The other addon is there (Pending until a CNI such as Cilium arrives).
    assert kubectl(kubeconfig, "-n", "kube-system", "get", "deployment", "coredns").returncode == 0

    assert_control_plane_running(kubeconfig, PREFIX + "-1")
    assert_nodes_registered_their_lab_address(inventory, kubeconfig, joined=[PREFIX + "-2"])

    second = playbook(inventory, "playbooks/kubeadm.yml")
    assert second.returncode == 0
    assert recap_changed(second.stdout) == {PREFIX + "-1": 0, PREFIX + "-2": 0}


def test_control_plane_join_for_real(kadm_lab):
    """A third node joins the cluster the test above made, as a further
    control-plane node (uploaded certificates, certificate key)."""
    inventory = kadm_lab
    kubeconfig = os.path.join(inventory, ".kube", "lab.conf")
    assert os.path.exists(kubeconfig), "needs the cluster of test_kubeadm_init_and_join_for_real"
    proc = run(["scripts/lab.sh", "up"], env=dict(LAB_ENV, LAB_NODES="3"), timeout=900)
    assert proc.returncode == 0
    third = PREFIX + "-3"
    with open(os.path.join(CACHE, "lab", "inventory-%s.yml" % PREFIX), encoding="utf-8") as handle:
        hosts = yaml.safe_load(handle)
    groups = hosts["all"]["children"]["k8s_cluster"]["children"]
    groups["kube_control_plane"]["hosts"][third] = groups["kube_workers"]["hosts"].pop(third)
    with open(os.path.join(inventory, "hosts.yml"), "w", encoding="utf-8") as handle:
        yaml.safe_dump(hosts, handle)

    # On every node: the running ones must not change (no containerd restart
    # under a live kubelet), only the new one.
    prep = playbook(inventory, "playbooks/containerd.yml")
    assert prep.returncode == 0
    changed = recap_changed(prep.stdout)
    assert changed[PREFIX + "-1"] == changed[PREFIX + "-2"] == 0 and changed[third] > 0
    join = playbook(inventory, "playbooks/kubeadm.yml")
    assert join.returncode == 0
    assert recap_changed(join.stdout)[third] > 0
    output = join.stdout + join.stderr
    assert not re.search(r"\b[0-9a-f]{64}\b", output)
    assert not re.search(r"\b[a-z0-9]{6}\.[a-z0-9]{16}\b", output)

    control_plane = kubectl(kubeconfig, "get", "nodes", "-l", "node-role.kubernetes.io/control-plane",
                            "-o", "jsonpath={.items[*].metadata.name}").stdout.split()
    assert sorted(control_plane) == [PREFIX + "-1", third]
    assert_control_plane_running(kubeconfig, third)
    assert_nodes_registered_their_lab_address(inventory, kubeconfig, joined=[PREFIX + "-2", third])
    # The further control-plane node advertises its API server on its lab address.
    apiserver = json.loads(kubectl(kubeconfig, "-n", "kube-system", "get", "pod", "kube-apiserver-" + third,
                                   "-o", "json").stdout)
    assert "--advertise-address=%s" % lab_addresses(inventory)[third] in apiserver["spec"]["containers"][0]["command"]

    again = playbook(inventory, "playbooks/kubeadm.yml")
    assert again.returncode == 0
    assert recap_changed(again.stdout) == {PREFIX + "-1": 0, PREFIX + "-2": 0, third: 0}


def assert_control_plane_running(kubeconfig, node, timeout=300):
    """The four static control-plane pods of NODE reach Running."""
    want = {component + "-" + node for component in
            ("kube-apiserver", "etcd", "kube-controller-manager", "kube-scheduler")}
    deadline = time.monotonic() + timeout
    while True:
        pods = json.loads(kubectl(kubeconfig, "-n", "kube-system", "get", "pods", "-o", "json").stdout or "{}")
        running = {p["metadata"]["name"] for p in pods.get("items", []) if p["status"].get("phase") == "Running"}
        if want <= running or time.monotonic() > deadline:
            break
        time.sleep(5)
    print(kubectl(kubeconfig, "get", "nodes,pods", "-A", "-o", "wide").stdout)
    assert want <= running, "not Running: %s" % sorted(want - running)
