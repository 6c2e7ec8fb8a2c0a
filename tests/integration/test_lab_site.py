"""The README's main job on the default 3-node lab, over SSH: playbooks/site.yml
runs every stage live (host tuning, containerd, kubeadm, Gateway API, Cilium,
policies, validation), then changes nothing (changed=0 on every node); the
validation at its end writes a report and fails the run on a breach or a
datapath problem."""
import glob
import json
import os
import time

from conftest import playbook, run

STAGES = ("host_tuning", "containerd", "kubeadm", "gateway_api", "cilium", "network_policy", "validate")


def only_report(report_dir):
    paths = glob.glob(os.path.join(str(report_dir), "lab-*.json"))
    assert len(paths) == 1, paths
    assert os.path.exists(paths[0][:-len(".json")] + ".html")
    with open(paths[0]) as f:
        return json.load(f)


def test_site_converges_then_changes_nothing(cluster, tmp_path, capsys):
    lab, first, recap1, t1 = cluster
    nodes = {name: r for name, r in recap1.items() if name != "localhost"}
    assert len(nodes) == 3 and all(r[3] == 0 and r[2] == 0 for r in nodes.values())
    for stage in STAGES:
        assert "Stage %s skipped" % stage not in first.stdout

    second, recap2, t2 = playbook(lab, "site.yml", "-e", "validate_report_dir=%s" % tmp_path)
    assert second.returncode == 0
    assert recap2 and all(r[1] == 0 for r in recap2.values()), "re-run changed something: %s" % recap2

    validate, _recap, t3 = playbook(lab, "validate.yml", "-e", "validate_report_dir=%s" % (tmp_path / "alone"))
    assert validate.returncode == 0
    report = only_report(tmp_path / "alone")
    assert report["ok"] is True and report["problems"] == []
    # Every node probed both other nodes and the lab's region target.
    assert len(report["latency"]) == 3 * 3
    assert all(row["received"] == row["sent"] > 0 for row in report["latency"])
    with capsys.disabled():
        print("\nsite.yml on 3 lab nodes, every stage live: first run %.1f s, re-run %.1f s (changed=0); "
              "validate.yml alone %.1f s" % (t1, t2, t3))


def test_unknown_stage_is_refused_before_anything_runs(lab):
    proc = playbook(lab, "site.yml", "-e", '{"datapath_skip_stages": {"ciilum": "typo"}}')[0]
    assert proc.returncode != 0
    assert "datapath_skip_stages: ciilum is not a stage (accepted: host_tuning," in proc.stdout.replace("\n    ", " ")
    assert "TASK [packetjungle.datapath" not in proc.stdout


def test_a_failing_canary_stops_the_rollout(lab):
    # An MTU above the lab bridge's 9000: the canary node's probes fail, its
    # MTU is rolled back, and the other nodes are never touched.
    bad = '{"host_tuning_interfaces": [{"name": "eth0", "mtu": 9216}]}'
    proc, recap, _t = playbook(lab, "host_tuning.yml", "-e", bad)
    assert proc.returncode != 0
    assert recap["pj-lab-1"][3] == 1, recap
    assert all(recap.get(node, [0, 0, 0, 0])[0] == 0 for node in ("pj-lab-2", "pj-lab-3")), recap
    assert "rolled back" in proc.stdout
    mtus = {node: run(["docker", "exec", node, "cat", "/sys/class/net/eth0/mtu"]).stdout.strip()
            for node in ("pj-lab-1", "pj-lab-2", "pj-lab-3")}
    assert mtus == {"pj-lab-1": "9000", "pj-lab-2": "9000", "pj-lab-3": "9000"}


def test_validation_fails_on_a_budget_breach(lab, tmp_path):
    # 1 microsecond: no real path meets it, so every node-to-node row breaches.
    proc = playbook(lab, "validate.yml", "-e", "validate_report_dir=%s" % tmp_path,
                    "-e", '{"validate_peer_budget": {"p50_ms": 0.001}}')[0]
    assert proc.returncode != 0
    assert "validation found" in proc.stdout
    report = only_report(tmp_path)
    assert report["ok"] is False
    breached = [p for p in report["problems"] if " latency: " in p]
    assert len(breached) == 3 * 2, report["problems"]
    assert all("p50" in p and "budget 0.001 ms" in p for p in breached)


def test_validation_sees_kube_proxy_rules_on_one_node(lab, tmp_path):
    node = "pj-lab-2"
    assert run(["docker", "exec", node, "iptables", "-t", "nat", "-N", "KUBE-SERVICES"]).returncode == 0
    try:
        proc = playbook(lab, "validate.yml", "-e", "validate_report_dir=%s" % tmp_path)[0]
    finally:
        run(["docker", "exec", node, "iptables", "-t", "nat", "-X", "KUBE-SERVICES"])
    assert proc.returncode != 0
    report = only_report(tmp_path)
    assert [p for p in report["problems"] if "kube_proxy_rules" in p] and \
        all(p.startswith(node + " ") for p in report["problems"]), report["problems"]


def node_boot(node):
    """Restart a lab node (a new network namespace, booted by systemd) and wait for it."""
    assert run(["docker", "restart", node]).returncode == 0
    deadline = time.monotonic() + 60
    state = ""
    # systemd's bus needs a moment after the container starts.
    while state not in ("running", "degraded") and time.monotonic() < deadline:
        time.sleep(0.5)
        state = run(["docker", "exec", node, "systemctl", "is-system-running", "--wait"]).stdout.strip()
    assert state in ("running", "degraded")


def somaxconn(node):
    return int(run(["docker", "exec", node, "cat", "/proc/sys/net/core/somaxconn"]).stdout)


def test_sysctls_survive_a_reboot_through_the_drop_in(lab):
    # Without the drop-in a fresh namespace boots with the kernel's 4096;
    # with it, systemd-sysctl restores 8192.
    node, dropin = "pj-lab-3", "/etc/sysctl.d/90-packetjungle-datapath.conf"
    assert playbook(lab, "host_tuning.yml", "--limit", node)[0].returncode == 0
    assert run(["docker", "exec", node, "mv", dropin, "/root/dropin.away"]).returncode == 0
    try:
        node_boot(node)
        without = somaxconn(node)
    finally:
        run(["docker", "exec", node, "mv", "/root/dropin.away", dropin])
    node_boot(node)
    assert without < 8192
    assert somaxconn(node) == 8192
