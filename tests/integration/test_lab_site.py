"""The README's main job on the default 3-node lab: playbooks/site.yml over
SSH, then again with nothing left to change (changed=0 on every node)."""
import re
import time

from conftest import run

RECAP = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def site():
    start = time.monotonic()
    proc = run(["ansible-playbook", "-i", "inventories/lab", "playbooks/site.yml"], timeout=1800)
    elapsed = time.monotonic() - start
    recap = {m.group(1): [int(x) for x in m.groups()[1:]] for m in RECAP.finditer(proc.stdout)}
    return proc, recap, elapsed


def test_site_converges_then_changes_nothing(lab_image, capsys):
    up = run(["scripts/lab.sh", "up"], timeout=900)
    assert up.returncode == 0

    first, recap1, t1 = site()
    assert first.returncode == 0
    assert len(recap1) == 3 and all(r[3] == 0 and r[2] == 0 for r in recap1.values())

    second, recap2, t2 = site()
    assert second.returncode == 0
    assert recap2 and all(r[1] == 0 for r in recap2.values()), "re-run changed something: %s" % recap2
    with capsys.disabled():
        print("\nsite.yml on 3 lab nodes: first run %.1f s, re-run %.1f s (changed=0)" % (t1, t2))
