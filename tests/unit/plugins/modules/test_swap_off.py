# -*- coding: utf-8 -*-
# Copyright: (c) 2026, packetjungle.datapath contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type


import pytest

from ansible_collections.packetjungle.datapath.plugins.modules import swap_off
import module_harness as harness
from module_harness import ExitJson, FailJson, fake_module, run_main

SWAPOFF = ['/usr/sbin/swapoff', '-a']
SYSTEMCTL = '/usr/bin/systemctl'
LIST_UNITS = (SYSTEMCTL, 'list-units', '--type', 'swap', '--all', '--plain', '--no-legend')
MASK = (SYSTEMCTL, 'mask', 'dev-zram0.swap', 'swapfile.swap')


def fixture(name):
    return harness.fixture('kernel', name)


@pytest.fixture
def host(monkeypatch, tmp_path):
    """Fake root, fstab, binaries and a command table whose swapoff empties the fake /proc/swaps."""
    root = tmp_path / 'root'
    (root / 'proc').mkdir(parents=True)
    (root / 'proc' / 'swaps').write_text(fixture('proc_swaps_active.txt'))
    state = {'root': root, 'fstab': tmp_path / 'fstab', 'calls': [], 'table': {},
             'bins': {'swapoff': '/usr/sbin/swapoff', 'systemctl': SYSTEMCTL}}
    state['fstab'].write_text(fixture('fstab_swapfiles.txt'))

    def swapoff_ok():
        (root / 'proc' / 'swaps').write_text(fixture('proc_swaps_empty.txt'))
        return 0, '', ''
    state['table'][tuple(SWAPOFF)] = swapoff_ok

    monkeypatch.setattr(swap_off, 'KERNEL_ROOT', str(root))
    return fake_module(monkeypatch, state, state['bins'])


def systemd_pid1(host, listing):
    (host['root'] / 'run' / 'systemd' / 'system').mkdir(parents=True)
    host['table'][LIST_UNITS] = (0, listing, '')


def run(host, args=None, expect=ExitJson, check=False, diff=False):
    args = dict(args or {}, fstab=str(host['fstab']), _ansible_check_mode=check, _ansible_diff=diff)
    return run_main(swap_off.main, args, expect)


def test_everything_off_then_idempotent(host):
    systemd_pid1(host, fixture('systemctl_swap_units.txt'))
    host['table'][MASK] = (0, '', 'Created symlink /etc/systemd/system/dev-zram0.swap \u2192 /dev/null.\n')
    result = run(host, diff=True)
    assert host['calls'] == [SWAPOFF, list(LIST_UNITS), list(MASK)]
    assert result['changed'] is True and result['swapoff'] is True
    assert [e['filename'] for e in result['active_before']] == ['/tmp/pjk/swap file', '/tmp/pjk/swapfile2']
    assert result['fstab_disabled'] == ['/tmp/pjk/swap\\040file none swap sw 0 0',
                                        '/tmp/pjk/swapfile2\tnone\tswap\tsw,pri=5\t0\t0']
    assert result['masked_units'] == ['dev-zram0.swap', 'swapfile.swap']
    assert result['notes'] == []
    text = host['fstab'].read_text()
    assert text.count('# disabled by packetjungle.datapath: ') == 2
    assert text.splitlines()[3] == 'UUID=0a1b2c3d-0000-4000-8000-000000000001 /               ext4    errors=remount-ro 0       1'
    assert [d['before_header'] for d in result['diff']] == ['/proc/swaps', str(host['fstab']), 'systemd swap units']

    host['calls'] = []
    host['table'][LIST_UNITS] = (0, fixture('systemctl_swap_units_masked.txt'), '')
    again = run(host)
    assert host['calls'] == [list(LIST_UNITS)]
    assert again['changed'] is False
    assert again['notes'] == ['no swap to turn off: none active, no active swap line in %s, no unmasked swap unit'
                              % host['fstab']]
    assert host['fstab'].read_text() == text


def test_check_mode_only_reads(host):
    systemd_pid1(host, fixture('systemctl_swap_units.txt'))
    result = run(host, check=True)
    assert host['calls'] == [list(LIST_UNITS)]
    assert result['changed'] is True and result['swapoff'] is True
    assert result['masked_units'] == ['dev-zram0.swap', 'swapfile.swap']
    assert host['fstab'].read_text() == fixture('fstab_swapfiles.txt')
    assert (host['root'] / 'proc' / 'swaps').read_text() == fixture('proc_swaps_active.txt')


def test_no_swap_anywhere(host):
    (host['root'] / 'proc' / 'swaps').write_text(fixture('proc_swaps_empty.txt'))
    host['fstab'].write_text(fixture('fstab_debian_unconfigured.txt'))
    result = run(host)
    assert host['calls'] == []
    assert result['changed'] is False
    assert result['notes'] == [
        'systemd is not PID 1 (no /run/systemd/system): no swap units to mask',
        'no swap to turn off: none active, no active swap line in %s, no unmasked swap unit' % host['fstab']]


def test_without_systemctl_and_with_mask_units_off(host):
    del host['bins']['systemctl']
    assert run(host)['notes'] == ['systemctl not found: no systemd swap units to mask']
    (host['root'] / 'run' / 'systemd' / 'system').mkdir(parents=True)
    host['bins']['systemctl'] = SYSTEMCTL
    host['calls'] = []
    assert run(host, {'mask_units': False})['notes'][0] == 'mask_units is false: systemd swap units left alone'
    assert host['calls'] == []


def test_swapoff_failure_fails_with_the_command(host):
    host['table'][tuple(SWAPOFF)] = (255, '', 'swapoff: /dev/vdb2: swapoff failed: Cannot allocate memory\n')
    result = run(host, expect=FailJson)
    assert result['cmd'] == SWAPOFF and result['rc'] == 255
    assert result['stderr'] == 'swapoff: /dev/vdb2: swapoff failed: Cannot allocate memory\n'
    assert result['msg'] == ('/usr/sbin/swapoff -a failed (rc=255): '
                             'swapoff: /dev/vdb2: swapoff failed: Cannot allocate memory')
    assert host['fstab'].read_text() == fixture('fstab_swapfiles.txt')


def test_swap_still_active_after_swapoff_fails(host):
    host['table'][tuple(SWAPOFF)] = (0, '', '')
    result = run(host, expect=FailJson)
    assert result['msg'] == 'swap still active after swapoff -a: /tmp/pjk/swap file, /tmp/pjk/swapfile2'


def test_missing_fstab_is_a_note(host):
    host['fstab'].unlink()
    (host['root'] / 'proc' / 'swaps').write_text(fixture('proc_swaps_empty.txt'))
    result = run(host)
    assert result['notes'][0] == 'fstab %s not read: No such file or directory' % host['fstab']
    assert result['changed'] is False
