"""nic_info, read-only, against this machine's own NIC (a real virtio_net
eth0 on the project's machines). Compared with what sysfs says, which the
module does not read for these fields."""
import json
import os

import pytest

from conftest import run

IFACE = "eth0"
SYS = "/sys/class/net/%s" % IFACE


def sysfs(name):
    with open(os.path.join(SYS, name)) as f:
        return f.read().strip()


@pytest.fixture(scope="module")
def info():
    if not os.path.exists(SYS):
        pytest.skip("no %s on this machine" % IFACE)
    before = sysfs("mtu")
    proc = run(["ansible", "localhost", "-o", "-m", "packetjungle.datapath.nic_info", "-a", "interfaces=%s" % IFACE])
    assert proc.returncode == 0
    # One-line output: "localhost | SUCCESS => {json}"
    result = json.loads(proc.stdout.split("=>", 1)[1])
    assert sysfs("mtu") == before, "nic_info must not change the NIC"
    return result


def test_read_only(info):
    assert info["changed"] is False


def test_matches_sysfs(info):
    nic = info["nics"][IFACE]
    assert nic["mtu"] == int(sysfs("mtu"))
    assert nic["num_rx_queues"] == len([q for q in os.listdir(os.path.join(SYS, "queues")) if q.startswith("rx-")])
    link = os.path.join(SYS, "device", "driver")
    if os.path.exists(link):
        assert nic["driver"] == os.path.basename(os.readlink(link))


def test_virtio_channels_and_rings(info):
    nic = info["nics"][IFACE]
    if nic["driver"] != "virtio_net":
        pytest.skip("eth0 is not virtio_net here")
    assert nic["channels"]["max"]["combined"] >= 1
    assert nic["channels"]["current"]["combined"] <= nic["channels"]["max"]["combined"]
    assert nic["rings"]["current"]["rx"] <= nic["rings"]["max"]["rx"]
