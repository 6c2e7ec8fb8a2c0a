"""playbooks/netdiag.yml on its own 2-node lab (LAB_PREFIX=pj-diag, never the
default one): containerd installed by playbooks/containerd.yml, a pod-like
container in containerd's k8s.io namespace with the kubelet's pod labels and
its own network namespace, and on the other node a stand-in Cilium agent
container (tests/integration/files/netdiag_pod.yml); then the support bundle
opened and read: one directory per node, the pod's addresses taken inside its
namespace, path MTU results, the missing Cilium agent stated and the stand-in's
status reached through ctr, summary.json, changed=0 with the nodes' state
unchanged, and runs that go on past timeouts and an unreachable node."""
import glob
import json
import os
import re
import shutil
import tarfile
import time

import pytest

from conftest import ROOT, run

PREFIX = "pj-diag"
# A 1500-byte network: the overlay finding below needs a path a pod's 1500 bytes overrun.
LAB_ENV = dict(os.environ, LAB_PREFIX=PREFIX, LAB_NODES="2", LAB_MTU="1500")
CACHE = os.path.join(os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "packetjungle-datapath")
FILES = os.path.join(ROOT, "tests", "integration", "files")
NODES = ["pj-diag-1", "pj-diag-2"]
POD_ADDRESS = "10.244.1.10/24"
RECAP = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)
PODS = '{"netdiag_pods": [{"namespace": "default", "name": "web-0"}, {"namespace": "default", "name": "nope-0"}]}'


def playbook(inventory, path, *extra):
    start = time.monotonic()
    proc = run(["ansible-playbook", "-i", inventory, path] + list(extra), timeout=900)
    recap = {m.group(1): [int(x) for x in m.groups()[1:]] for m in RECAP.finditer(proc.stdout)}
    return proc, recap, time.monotonic() - start


@pytest.fixture(scope="module")
def diag_lab(lab_image, tmp_path_factory):
    """The pj-diag lab with containerd and the pod; yields the inventory. Torn down at the end."""
    proc = run(["scripts/lab.sh", "up"], env=LAB_ENV, timeout=900)
    assert proc.returncode == 0, proc.stderr
    inventory = str(tmp_path_factory.mktemp("inventory") / "hosts.yml")
    shutil.copy(os.path.join(CACHE, "lab", "inventory-%s.yml" % PREFIX), inventory)
    try:
        assert playbook(inventory, "playbooks/containerd.yml")[0].returncode == 0
        assert playbook(inventory, os.path.join(FILES, "netdiag_pod.yml"))[0].returncode == 0
        yield inventory
    finally:
        playbook(inventory, os.path.join(FILES, "netdiag_pod_remove.yml"))
        run(["scripts/lab.sh", "down"], env=LAB_ENV, timeout=300)


def open_bundle(report_dir):
    """The one bundle in report_dir: {member path below the top directory: text}, and the top directory."""
    paths = glob.glob(os.path.join(str(report_dir), "netdiag-*.tar.gz"))
    assert len(paths) == 1, paths
    with tarfile.open(paths[0]) as tar:
        members = tar.getmembers()
        top = {m.name.split("/", 1)[0] for m in members}
        assert len(top) == 1, top
        assert all(m.isfile() for m in members)
        files = {m.name.split("/", 1)[1]: tar.extractfile(m).read().decode() for m in members}
    return files, top.pop(), paths[0]


def addresses(text):
    return {a["local"] + "/" + str(a["prefixlen"]) for link in json.loads(text) for a in link.get("addr_info", [])
            if link["ifname"] != "lo" and a.get("scope") != "link"}


def node_state(node):
    """What a read-only run must leave as it was (rules without counters, links, routes, containers, files)."""
    script = ("iptables-save | grep -v '^#'; ip -br addr; ip route show table all; ip netns list; "
              "ctr -n k8s.io containers ls; ctr -n k8s.io tasks ls | awk '{print $1, $3}'; "
              "ls -a /tmp /root /var/lib/pjdiag; cat /proc/sys/net/netfilter/nf_conntrack_max")
    proc = run(["docker", "exec", node, "bash", "-c", script])
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_bundle_from_a_real_run(diag_lab, tmp_path, capsys):
    before = {node: node_state(node) for node in NODES}
    proc, recap, seconds = playbook(diag_lab, "playbooks/netdiag.yml", "-e", PODS,
                                    "-e", "netdiag_report_dir=%s netdiag_region=lab" % tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert sorted(recap) == NODES
    assert all(r[1] == 0 and r[2] == 0 and r[3] == 0 for r in recap.values()), recap
    assert {node: node_state(node) for node in NODES} == before

    files, top, path = open_bundle(tmp_path)
    assert re.match(r"^netdiag-lab-\d{8}T\d{6}Z$", top)
    assert {name.split("/", 1)[0] for name in files if "/" in name} == set(NODES)
    summary = json.loads(files["summary.json"])
    readme = files["README.txt"]
    assert readme.startswith("netdiag support bundle %s\n" % top)

    # The pod's namespace was entered: its addresses are not the node's, and the reverse.
    pod = addresses(files["pj-diag-1/pods/default_web-0/ip-addr.json"])
    node = addresses(files["pj-diag-1/host/ip-addr.json"])
    assert pod == {POD_ADDRESS}
    assert POD_ADDRESS not in node and "10.244.1.1/24" in node and not pod & node
    assert summary["nodes"]["pj-diag-1"]["pods"]["default/web-0"]["found"] is True
    assert summary["nodes"]["pj-diag-1"]["pods"]["default/web-0"]["addresses"]["eth0"] == [POD_ADDRESS]
    assert "Ip" in files["pj-diag-1/pods/default_web-0/proc-net-snmp.txt"]
    assert "TCP:" in files["pj-diag-1/pods/default_web-0/ss-summary.txt"]
    # A pod is found only where it runs; one that runs nowhere is reported, not fatal.
    assert summary["nodes"]["pj-diag-2"]["pods"]["default/web-0"]["found"] is False
    for node_name in NODES:
        assert summary["nodes"][node_name]["pods"]["default/nope-0"] == {
            "found": False, "container": None, "pid": None, "netns": None,
            "reason": "no container with these labels in containerd namespace k8s.io"}

    # Path MTU to the other node, both ways.
    for node_name, peer in zip(NODES, reversed(NODES)):
        mtu = json.loads(files["%s/path-mtu.json" % node_name])
        (peer_report,) = mtu["peers"].values()
        assert peer_report["path_mtu"] == 1500 and peer_report["interface_mtu"] == 1500
        assert mtu["problems"] == []

    # No agent on the first node, said as such; the stand-in agent on the second answered through ctr tasks exec.
    assert files["pj-diag-1/cilium/status.txt"].startswith("The Cilium agent is NOT running on this node: ")
    assert summary["nodes"]["pj-diag-1"]["cilium"]["running"] is False
    assert files["pj-diag-2/cilium/status.txt"] == ("KubeProxyReplacement:    True   [eth0 (Direct Routing)]\n"
                                                    "args: status --verbose\n")
    assert summary["nodes"]["pj-diag-2"]["cilium"]["running"] is True
    assert readme.count("    cilium: NOT RUNNING: ") == 1
    assert "    cilium: agent running (container pjdiag-agent (pid " in readme

    # Findings: the three dropped pings, conntrack read on the node that has the tool, missing tools said.
    texts = [(f["node"], f["kind"], f["text"]) for f in summary["findings"]]
    assert ("pj-diag-1", "drops", "node firewall filter PJDIAG-TEST: 3 packets dropped by -p icmp -j DROP") in texts
    assert not [t for t in texts if t[1] in ("mtu", "conntrack", "collection")], texts
    assert [t[0] for t in texts if t[1] == "cilium"] == ["pj-diag-1"]
    assert "pj-diag-1 host/conntrack-S.txt" not in readme
    assert "pj-diag-2 host/conntrack-S.txt: conntrack is not installed on the node" in readme
    assert summary["nodes"]["pj-diag-1"]["conntrack"]["max"] > 0
    commands = json.loads(files["pj-diag-1/commands.json"])
    assert all(c["argv"] is None or c["argv"][0].endswith("/timeout") for c in commands)
    assert all(c["status"] in ("ok", "missing", "skipped") for c in commands), commands

    size = os.path.getsize(path)
    with capsys.disabled():
        print("\nnetdiag.yml on 2 lab nodes, 1 pod: %.1f s end to end, bundle %d bytes (%d files, %d bytes unpacked)"
              % (seconds, size, len(files), sum(len(t) for t in files.values())))


def test_check_mode_with_an_unreachable_node_and_an_overlay(diag_lab, tmp_path):
    # A node that does not answer (an unused address on the lab's own bridge, so
    # nothing leaves the machine), and an overlay whose 50 bytes the pod's 1500
    # MTU leaves no room for.
    first = re.search(r"ansible_host: (\S+)\.11\b", open(diag_lab).read()).group(1)
    ghost = first + ".99"
    extra = tmp_path / "ghost.yml"
    extra.write_text("k8s_cluster:\n  hosts:\n    pj-diag-ghost:\n      ansible_host: %s\n" % ghost)
    proc, recap, _seconds = playbook(diag_lab, "playbooks/netdiag.yml", "-i", str(extra), "--check", "-e", PODS,
                                     "-e", "netdiag_report_dir=%s netdiag_encapsulation=vxlan" % tmp_path)
    assert all(recap[node][1] == 0 and recap[node][3] == 0 for node in NODES), recap
    files, _top, _path = open_bundle(tmp_path)
    summary = json.loads(files["summary.json"])
    assert files["pj-diag-ghost/NOT-COLLECTED.txt"].startswith("Nothing was collected on pj-diag-ghost: unreachable")
    assert summary["nodes"]["pj-diag-ghost"]["collected"] is False
    assert "  pj-diag-ghost: nothing collected: unreachable" in files["README.txt"]
    texts = [(f["node"], f["kind"], f["text"]) for f in summary["findings"]]
    assert ("pj-diag-1", "mtu", "pod default/web-0 sends up to 1500 bytes on eth0 (link MTU, the default route sets "
                                "none), above 1450, the largest pod MTU the paths from this node carry: large "
                                "packets are dropped or fragmented") in texts
    # The ghost's address never answered the path MTU probes either.
    assert [t for t in texts if t[0] == "pj-diag-1" and t[1] == "mtu" and t[2].startswith(ghost + ": no answer")]
    assert summary["nodes"]["pj-diag-2"]["collected"] is True


def test_every_command_timing_out_is_recorded(diag_lab, tmp_path):
    proc, recap, _seconds = playbook(diag_lab, "playbooks/netdiag.yml", "-e", PODS, "-e", json.dumps({
        "netdiag_report_dir": str(tmp_path), "netdiag_command_timeout": 0.001, "netdiag_path_mtu": False}))
    assert proc.returncode == 0
    assert all(r[1] == 0 and r[3] == 0 for r in recap.values()), recap
    files, _top, _path = open_bundle(tmp_path)
    summary = json.loads(files["summary.json"])
    for node_name in NODES:
        commands = json.loads(files["%s/commands.json" % node_name])
        timed_out = [c for c in commands if c["status"] == "timeout"]
        assert timed_out and all(c["reason"] == "no answer within 0.001s (command_timeout), stopped"
                                 for c in timed_out)
        assert summary["nodes"][node_name]["commands"]["timeout"] == len(timed_out)
        assert summary["nodes"][node_name]["path_mtu"] == {"skipped": "Conditional result was False"}
    # ctr timed out too: the pod lookup says why it found nothing.
    assert "containerd did not answer" in summary["nodes"]["pj-diag-1"]["pods"]["default/web-0"]["reason"]
