"""Shared set-up for the integration tests: they drive the real tools (lab
script, ansible-playbook, molecule) exactly as a user or CI would."""
import os
import re
import subprocess
import time

import pytest

import apiserver

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# For playbooks that only talk to a test API server: ansible.cfg's default
# inventory is the lab, whose group_vars would reach the implicit localhost.
NO_NODES = os.path.join(ROOT, "tests", "integration", "files", "no_nodes.yml")
CACHE = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "packetjungle-datapath")
with open(os.path.join(ROOT, "k8s", "versions.env"), encoding="utf-8") as _env:
    VERSIONS = dict(line.strip().split("=", 1) for line in _env if re.match(r"^[A-Z0-9_]+=", line))
# The pinned kubectl scripts/k8s-binaries.sh builds.
KUBECTL = os.path.join(CACHE, "k8s", VERSIONS["K8S_VERSION"], "bin", "kubectl")


def run(argv, **kwargs):
    """Run a command from the repository root, echo its output, return it."""
    proc = subprocess.run(argv, cwd=ROOT, text=True, capture_output=True, check=False, **kwargs)
    print(proc.stdout[-20000:])
    print(proc.stderr[-5000:])
    return proc


@pytest.fixture(scope="session")
def lab_image():
    """The lab node image reference, built from Debian packages if absent."""
    proc = run(["lab/image.sh"])
    assert proc.returncode == 0, proc.stderr
    ref = proc.stdout.strip().splitlines()[-1]
    os.environ["PJ_LAB_IMAGE"] = ref
    return ref


@pytest.fixture(scope="session")
def lab(lab_image):
    """The default 3-node lab (inventories/lab), up, with its mirror filled
    (built once, cached) and the pinned helm on PATH for the Cilium stage."""
    proc = run(["scripts/lab-mirror.sh"], timeout=3600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    helm = run(["scripts/helm-binary.sh"], timeout=1800)
    assert helm.returncode == 0, helm.stderr[-3000:]
    os.environ["PATH"] = os.path.dirname(helm.stdout.strip()) + os.pathsep + os.environ["PATH"]
    proc = run(["scripts/lab.sh", "up"], timeout=900)
    assert proc.returncode == 0
    return "inventories/lab"


RECAP = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def playbook(inventory, name, *extra, timeout=1800):
    """ansible-playbook playbooks/NAME; returns the process, the recap per host
    ([ok, changed, unreachable, failed]) and the wall time."""
    start = time.monotonic()
    proc = run(["ansible-playbook", "-i", inventory, "playbooks/%s" % name] + list(extra), timeout=timeout)
    elapsed = time.monotonic() - start
    recap = {m.group(1): [int(x) for x in m.groups()[1:]] for m in RECAP.finditer(proc.stdout)}
    return proc, recap, elapsed


@pytest.fixture(scope="session")
def cluster(lab, tmp_path_factory):
    """The default lab after its first site.yml of this session: every stage
    live (Kubernetes, Cilium, Gateway API objects, policies, validation).
    Yields (inventory, first run's process, recap, seconds)."""
    reports = tmp_path_factory.mktemp("site-reports")
    proc, recap, elapsed = playbook(lab, "site.yml", "-e", "validate_report_dir=%s" % reports, timeout=3600)
    assert proc.returncode == 0, proc.stdout[-5000:]
    yield lab, proc, recap, elapsed


@pytest.fixture(scope="session")
def api_server():
    """A real etcd + kube-apiserver on 127.0.0.1, built by scripts/k8s-binaries.sh."""
    yield from apiserver.running_api_server()
