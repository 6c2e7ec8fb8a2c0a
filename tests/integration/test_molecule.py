"""Molecule scenarios on real lab containers (systemd nodes, real kernel).

host_tuning: check mode changes nothing, converge, idempotence (changed=0),
verify reads the kernel. host_tuning_bad_input: every bad input fails with a
clear message and leaves the nodes untouched."""
import pytest

from conftest import run

SCENARIOS = ["host_tuning", "host_tuning_bad_input", "containerd"]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_scenario(scenario, lab_image):
    proc = run(["molecule", "test", "-s", scenario], timeout=1800)
    assert proc.returncode == 0, "molecule test -s %s failed (output above)" % scenario
