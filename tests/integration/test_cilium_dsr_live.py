"""Kube-proxy replacement and DSR proven with packets on the live lab cluster
(the default lab after site.yml: Cilium from the role, every agent real).

- No kube-proxy: no DaemonSet, no ConfigMap, none of its iptables chains on
  any node; every agent's own status says kube-proxy replacement, DSR with
  IP-option dispatch, native routing, BPF masquerading.
- A ClusterIP Service answers a pod on one node from a backend on another.
- DSR: a NodePort Service (externalTrafficPolicy Cluster) whose only backend
  runs on node B, requested at node A by a client outside the cluster (a lab
  container that is no node) from a fixed source port. Captured on A's and
  B's eth0 (tests/tools/capture.py): A forwards the SYN with the client's
  source address and Cilium's DSR IP option (0x9a); B answers the client
  itself, from A's address and the NodePort; no reply of the flow leaves A;
  the backend sees the client's address; B's connection tracking flags the
  flow DSR.
- Negative control: the same Service switched to SNAT
  (service.cilium.io/forwarding-mode, which the lab's agents honour), and
  every one of those observations flips.
"""
import json
import os
import re
import subprocess
import time

import pytest
import yaml

from conftest import KUBECTL, ROOT

NAMESPACE = "dsr-proof"
NODE_A, NODE_B, NODE_C = "pj-lab-3", "pj-lab-2", "pj-lab-1"
CLIENT = "pj-lab-outside"
CLIENT_IP = "172.29.88.200"
NODE_PORT = 30080
DSR_OPTION = "9a"
with open(os.path.join(ROOT, "inventories", "lab", "group_vars", "all", "cilium.yml"), encoding="utf-8") as _vars:
    # The agent's spelling of the lab's cilium_lb_mode: DSR for TCP either way.
    LB_MODE = {"dsr": "DSR", "hybrid": "Hybrid"}[yaml.safe_load(_vars)["cilium_lb_mode"]]
AGNHOST = "registry.k8s.io/e2e-test-images/agnhost:2.56"
KPR_CHAINS = re.compile(r"^:(KUBE-SERVICES|KUBE-NODEPORTS|KUBE-SVC-\S+|KUBE-SEP-\S+|KUBE-EXT-\S+|KUBE-POSTROUTING"
                        r"|KUBE-PROXY-\S+)\s", re.M)
CAPTURE = os.path.join(ROOT, "tests", "tools", "capture.py")


def sh(argv, timeout=120, check=True, stdin=None):
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False, input=stdin)
    if check:
        assert proc.returncode == 0, "%s: rc %d\n%s\n%s" % (" ".join(argv), proc.returncode, proc.stdout[-2000:],
                                                            proc.stderr[-2000:])
    return proc


def node_ip(node):
    return "172.29.88.%d" % (10 + int(node.rsplit("-", 1)[1]))


@pytest.fixture(scope="module")
def kube(cluster):
    inventory = cluster[0]
    kubeconfig = os.path.join(ROOT, inventory, ".kube", "lab.conf")

    def kubectl(*args, **kwargs):
        return sh([KUBECTL, "--kubeconfig", kubeconfig] + list(args), **kwargs)
    return kubectl


def agent_pod(kube, node):
    pods = json.loads(kube("-n", "kube-system", "get", "pods", "-l", "k8s-app=cilium", "-o", "json").stdout)["items"]
    return [p["metadata"]["name"] for p in pods if p["spec"]["nodeName"] == node][0]


def cilium_dbg(kube, node, *args):
    return kube("-n", "kube-system", "exec", agent_pod(kube, node), "-c", "cilium-agent", "--", "cilium-dbg", *args,
                timeout=60).stdout


def pod(name, node, args):
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": NAMESPACE, "labels": {"app": name}},
            "spec": {"nodeName": node, "terminationGracePeriodSeconds": 1,
                     "containers": [{"name": name, "image": AGNHOST, "args": args}]}}


@pytest.fixture(scope="module")
def workload(kube):
    """The echo backend on B, a client pod on A, a ClusterIP and a NodePort
    Service, and the outside client container; all removed at the end."""
    objects = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}},
        pod("echo", NODE_B, ["netexec", "--http-port=8080"]),
        pod("client", NODE_A, ["pause"]),
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "echo", "namespace": NAMESPACE},
         "spec": {"selector": {"app": "echo"}, "ports": [{"port": 8080, "targetPort": 8080}]}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "no-backend", "namespace": NAMESPACE},
         "spec": {"selector": {"app": "nothing"}, "ports": [{"port": 8080, "targetPort": 8080}]}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "echo-nodeport", "namespace": NAMESPACE},
         "spec": {"type": "NodePort", "externalTrafficPolicy": "Cluster", "selector": {"app": "echo"},
                  "ports": [{"port": 8080, "targetPort": 8080, "nodePort": NODE_PORT}]}},
    ]
    sh(["docker", "rm", "-f", CLIENT], check=False)
    try:
        kube("apply", "-f", "-", stdin=yaml.safe_dump_all(objects))
        kube("-n", NAMESPACE, "wait", "--for=condition=Ready", "pod/echo", "pod/client", "--timeout=180s", timeout=200)
        image = sh(["docker", "inspect", "-f", "{{.Config.Image}}", NODE_C]).stdout.strip()
        # A lab container that is not a node: the outside client. No systemd,
        # nothing but python3 and the lab network.
        sh(["docker", "run", "-d", "--name", CLIENT, "--network", "pj-lab", "--ip", CLIENT_IP,
            "--entrypoint", "sleep", image, "900"])
        backend_ip = json.loads(kube("-n", NAMESPACE, "get", "pod", "echo", "-o", "json").stdout)["status"]["podIP"]
        # A Ready pod is not yet a programmed NodePort on every agent: wait
        # (bounded) until the outside client gets an answer through node A.
        deadline = time.monotonic() + 60
        while ask(node_ip(NODE_A), 39999).returncode != 0:
            assert time.monotonic() < deadline, "NodePort %d on %s never answered" % (NODE_PORT, NODE_A)
            time.sleep(2)
        yield {"backend_ip": backend_ip}
    finally:
        sh(["docker", "rm", "-f", CLIENT], check=False)
        kube("delete", "namespace", NAMESPACE, "--wait=false", check=False)


REQUEST = r"""
import socket, sys
host, port, local_port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", local_port))
s.settimeout(10)
s.connect((host, port))
s.sendall(b"GET /clientip HTTP/1.0\r\nHost: echo\r\n\r\n")
data = b""
while True:
    block = s.recv(4096)
    if not block:
        break
    data += block
print(data.decode().split("\r\n\r\n", 1)[1].strip())
"""


def ask(address, local_port):
    """The outside client's GET /clientip to ADDRESS:NODE_PORT from LOCAL_PORT."""
    return sh(["docker", "exec", CLIENT, "python3", "-c", REQUEST, address, str(NODE_PORT), str(local_port)],
              timeout=30, check=False)


def observe(node_a, node_b, local_port):
    """Capture on A and B while the outside client asks A's NodePort from
    LOCAL_PORT; returns (the client's request, A's packets, B's packets)."""
    captures, procs = {}, {}
    with open(CAPTURE, encoding="utf-8") as script:
        source = script.read()
    for node in (node_a, node_b):
        procs[node] = subprocess.Popen(["docker", "exec", node, "python3", "-c", source, "eth0", str(local_port), "8"],
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    for node, proc in procs.items():
        assert proc.stderr.readline().strip() == b"ready", node
    answer = ask(node_ip(node_a), local_port)
    for node, proc in procs.items():
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        captures[node] = json.loads(out)
    return answer, captures[node_a], captures[node_b]


def flow(packets, **match):
    return [p for p in packets if all(p[key] == value for key, value in match.items())]


def test_no_kube_proxy_anywhere(kube):
    assert "NotFound" in kube("-n", "kube-system", "get", "daemonset", "kube-proxy", check=False).stderr
    assert "NotFound" in kube("-n", "kube-system", "get", "configmap", "kube-proxy", check=False).stderr
    for node in (NODE_A, NODE_B, NODE_C):
        rules = sh(["docker", "exec", node, "iptables-save"]).stdout
        assert not KPR_CHAINS.findall(rules), (node, KPR_CHAINS.findall(rules))


def test_every_agent_runs_kpr_with_dsr_ip_option_native_bpf_masquerading(kube):
    for node in (NODE_A, NODE_B, NODE_C):
        status = json.loads(cilium_dbg(kube, node, "status", "-o", "json"))
        kpr = status["kube-proxy-replacement"]
        assert kpr["mode"] == "True", (node, kpr)
        assert kpr["features"]["nodePort"]["mode"] == LB_MODE, (node, kpr["features"]["nodePort"])
        assert kpr["features"]["nodePort"]["dsrMode"] == "IP Option/Extension", (node, kpr["features"]["nodePort"])
        assert status["routing"]["inter-host-routing-mode"] == "Native", (node, status["routing"])
        assert status["masquerading"]["mode"] == "BPF", (node, status["masquerading"])
        verbose = cilium_dbg(kube, node, "status", "--verbose")
        assert re.search(r"Mode:\s+%s" % LB_MODE, verbose), verbose
        assert re.search(r"DSR Dispatch Mode:\s+IP Option", verbose), verbose


def test_agents_attach_to_their_nodes_not_to_the_machine(kube):
    # Socket load balancing sits on each node's own cgroup root (each node has
    # its own cgroup namespace); the machine's root cgroup and its own
    # interfaces carry no Cilium program.
    cgroup2 = "/sys/fs/cgroup/unified" if os.path.isdir("/sys/fs/cgroup/unified") else "/sys/fs/cgroup"
    for node in (NODE_A, NODE_B, NODE_C):
        node_id = sh(["docker", "inspect", "-f", "{{.Id}}", node]).stdout.strip()
        attached = json.loads(sh(["bpftool", "-j", "cgroup", "show", os.path.join(cgroup2, "docker", node_id)]).stdout)
        assert "cil_sock4_connect" in {prog.get("name") for prog in attached}, (node, attached)
    on_root = json.loads(sh(["bpftool", "-j", "cgroup", "show", cgroup2]).stdout.strip() or "[]")
    assert not [prog for prog in on_root if str(prog.get("name", "")).startswith("cil_")], on_root
    machine = json.loads(sh(["bpftool", "-j", "net", "show"]).stdout)
    assert all(not entry[kind] for entry in machine for kind in ("xdp", "tc")), machine


def test_cluster_ip_from_a_pod_on_another_node(kube, workload):
    # By address: name resolution is proven elsewhere; this is the service datapath alone.
    cluster_ip = json.loads(kube("-n", NAMESPACE, "get", "service", "echo", "-o", "json").stdout)["spec"]["clusterIP"]
    out = kube("-n", NAMESPACE, "exec", "client", "--", "/agnhost", "connect", "%s:8080" % cluster_ip,
               "--timeout=5s", check=False, timeout=30)
    assert out.returncode == 0, out.stderr
    # The negative control: the same from a Service with no backend fails.
    empty_ip = json.loads(kube("-n", NAMESPACE, "get", "service", "no-backend", "-o", "json").stdout)["spec"]["clusterIP"]
    closed = kube("-n", NAMESPACE, "exec", "client", "--", "/agnhost", "connect", "%s:8080" % empty_ip,
                  "--timeout=5s", check=False, timeout=30)
    assert closed.returncode != 0, closed.stdout


def test_nodeport_dsr_then_snat_with_packets(kube, workload):
    a_ip, backend = node_ip(NODE_A), workload["backend_ip"]

    # DSR ---------------------------------------------------------------
    answer, on_a, on_b = observe(NODE_A, NODE_B, 40001)
    assert answer.returncode == 0, answer.stderr
    seen = answer.stdout.strip()
    assert seen == "%s:40001" % CLIENT_IP, "the backend saw %r, not the client" % seen
    forwarded = flow(on_a, dir="out", src=CLIENT_IP, sport=40001, dst=backend, flags="S")
    assert forwarded, on_a
    assert forwarded[0]["ip_options"].startswith(DSR_OPTION), forwarded
    assert not flow(on_a, dir="out", dst=CLIENT_IP), "a reply crossed A in DSR mode: %s" % on_a
    replies = flow(on_b, dir="out", dst=CLIENT_IP, dport=40001)
    assert replies and all(p["src"] == a_ip and p["sport"] == NODE_PORT for p in replies), on_b
    assert any("S" in p["flags"] and "A" in p["flags"] for p in replies), replies
    ct = cilium_dbg(kube, NODE_B, "bpf", "ct", "list", "global")
    dsr_entries = [line for line in ct.splitlines() if "%s:40001" % CLIENT_IP in line]
    assert any("DSR" in line for line in dsr_entries), dsr_entries or ct[-3000:]

    # SNAT: the negative control ----------------------------------------
    kube("-n", NAMESPACE, "annotate", "--overwrite", "service", "echo-nodeport",
         "service.cilium.io/forwarding-mode=snat")
    # The agents take the annotation within seconds; a flow caught by the
    # switch may be reset, and one that went out before keeps its DSR entry,
    # so every try uses a fresh source port (bounded).
    for port in range(40002, 40010):
        answer, on_a, on_b = observe(NODE_A, NODE_B, port)
        seen = answer.stdout.strip()
        if answer.returncode == 0 and seen != "%s:%d" % (CLIENT_IP, port):
            break
    assert answer.returncode == 0, answer.stderr
    assert seen.split(":")[0] == a_ip, "SNAT: the backend saw %r, expected node A's address" % seen
    forwarded = flow(on_a, dir="out", dst=backend, flags="S")
    assert forwarded and all(p["src"] == a_ip for p in forwarded), on_a
    assert not forwarded[0]["ip_options"].startswith(DSR_OPTION), forwarded
    assert flow(on_a, dir="out", dst=CLIENT_IP, dport=port, sport=NODE_PORT), "SNAT: A sent no reply: %s" % on_a
    assert not flow(on_b, dir="out", dst=CLIENT_IP), "SNAT: B answered the client itself: %s" % on_b
    ct = cilium_dbg(kube, NODE_B, "bpf", "ct", "list", "global")
    assert not [line for line in ct.splitlines() if "%s:%d" % (CLIENT_IP, port) in line and "DSR" in line]
