"""Shared set-up for the integration tests: they drive the real tools (lab
script, ansible-playbook, molecule) exactly as a user or CI would."""
import os
import subprocess

import pytest

import apiserver

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


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
    """The default 3-node lab (inventories/lab), up."""
    proc = run(["scripts/lab.sh", "up"], timeout=900)
    assert proc.returncode == 0
    return "inventories/lab"


@pytest.fixture(scope="session")
def api_server():
    """A real etcd + kube-apiserver on 127.0.0.1, built by scripts/k8s-binaries.sh."""
    yield from apiserver.running_api_server()
