# -*- coding: utf-8 -*-
# Copyright: (c) 2026, packetjungle.datapath contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import gzip
import json
import os

import pytest

from ansible_collections.packetjungle.datapath.plugins.modules import kernel_info
import module_harness as harness
from module_harness import ExitJson, FailJson, fake_module, run_main

DETECT = '/usr/bin/systemd-detect-virt'


def fixture(name, binary=False):
    return harness.fixture('kernel', name, binary)


def write(root, relative, data):
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data)


@pytest.fixture
def host(monkeypatch, tmp_path):
    """The project machine as captured: real /proc/sys values, config, swaps, mountinfo, cpuinfo."""
    root = tmp_path / 'root'
    for key, value in json.loads(fixture('proc_sys_host.json')).items():
        write(root, 'proc/sys/' + key, value)
    write(root, 'proc/swaps', fixture('proc_swaps_empty.txt'))
    write(root, 'proc/self/mountinfo', fixture('mountinfo_host.txt'))
    write(root, 'proc/cpuinfo', 'processor\t: 0\n' + fixture('cpuinfo_flags.txt'))
    write(root, 'sys/devices/system/clocksource/clocksource0/available_clocksource', 'tsc kvm-clock \n')
    with gzip.open(str(root / 'proc' / 'config.gz'), 'wb') as handle:
        handle.write(fixture('proc_config_trimmed.txt').encode())
    state = {'root': root, 'calls': [], 'bins': {'systemd-detect-virt': DETECT},
             'table': {(DETECT,): (0, fixture('systemd_detect_virt.txt'), ''),
                       (DETECT, '--vm'): (0, fixture('systemd_detect_virt_vm.txt'), '')}}

    monkeypatch.setattr(kernel_info, 'KERNEL_ROOT', str(root))
    fake_module(monkeypatch, state, state['bins'])
    monkeypatch.setattr(os, 'sched_getaffinity', lambda pid: {0, 1})
    return state


def run(host, args=None, expect=ExitJson, check=False):
    return run_main(kernel_info.main, dict(args or {}, _ansible_check_mode=check), expect)


def test_this_machine(host):
    result = run(host, {'sysctl_keys': ['net.ipv4.tcp_rmem', 'net.core.busy_poll', 'net.core.somaxconn'],
                        'config_symbols': ['NET_SCH_FQ', 'CONFIG_TCP_CONG_BBR', 'MODULES']}, check=True)
    assert host['calls'] == [[DETECT], [DETECT, '--vm']]
    assert result['changed'] is False
    assert (result['virtualization'], result['virtualization_role'], result['hypervisor']) == (
        'docker', 'container', 'kvm')
    assert result['virtualization_source'] == 'systemd-detect-virt'
    assert result['cpus'] == 2
    assert result['kernel_release'] == '6.18.44-fc-v669'
    assert result['module_support'] is False
    assert result['kernel_config'] == {'CONFIG_NET_SCH_FQ': None, 'CONFIG_TCP_CONG_BBR': 'y', 'CONFIG_MODULES': None}
    assert result['kernel_config_source'] == '/proc/config.gz'
    assert result['congestion_control'] == {'current': 'bbr', 'available': ['reno', 'bbr', 'cubic']}
    assert result['default_qdisc'] == 'pfifo_fast'
    assert result['qdisc_support'] == {
        'fq': {'supported': False, 'source': 'CONFIG_NET_SCH_FQ is not set in /proc/config.gz'},
        'fq_codel': {'supported': False, 'source': 'CONFIG_NET_SCH_FQ_CODEL is not set in /proc/config.gz'}}
    assert result['swap'] == []
    assert result['proc_sys_writable'] is True
    assert result['sysctl'] == {'net.ipv4.tcp_rmem': '4096 131072 33554432', 'net.core.busy_poll': None,
                                'net.core.somaxconn': '4096'}


def test_docker_container_with_read_only_proc_sys(host):
    write(host['root'], 'proc/self/mountinfo', fixture('mountinfo_docker.txt'))
    write(host['root'], 'proc/swaps', fixture('proc_swaps_active.txt'))
    result = run(host)
    assert result['proc_sys_writable'] is False
    assert result['proc_sys_writable_source'] == '/proc/sys is on a read-only proc mount at /proc/sys'
    assert [e['filename'] for e in result['swap']] == ['/tmp/pjk/swap file', '/tmp/pjk/swapfile2']


def test_heuristics_without_systemd_detect_virt(host):
    del host['bins']['systemd-detect-virt']
    write(host['root'], 'proc/1/environ', fixture('proc1_environ_container_docker.bin', binary=True))
    result = run(host)
    assert host['calls'] == []
    assert (result['virtualization'], result['virtualization_role'], result['hypervisor']) == (
        'docker', 'container', 'kvm')
    assert result['virtualization_source'] == 'heuristics (no systemd-detect-virt)'


def test_heuristics_vm_and_bare_metal(host):
    del host['bins']['systemd-detect-virt']
    write(host['root'], 'sys/class/dmi/id/sys_vendor', 'QEMU\n')
    result = run(host)
    assert (result['virtualization'], result['virtualization_role']) == ('qemu', 'vm')
    write(host['root'], 'sys/class/dmi/id/sys_vendor', 'Dell Inc.\n')
    write(host['root'], 'proc/cpuinfo', 'flags\t\t: fpu vme de pse\n')
    result = run(host)
    assert (result['virtualization'], result['virtualization_role'], result['hypervisor']) == ('none', 'none', 'none')


def test_systemd_detect_virt_none_answer(host):
    host['table'][(DETECT,)] = (1, 'none\n', '')
    host['table'][(DETECT, '--vm')] = (1, 'none\n', '')
    result = run(host)
    assert (result['virtualization'], result['virtualization_role']) == ('none', 'none')


def test_systemd_detect_virt_error_fails(host):
    host['table'][(DETECT,)] = (2, '', 'Failed to check for virtualization: Permission denied\n')
    result = run(host, expect=FailJson)
    assert result['cmd'] == [DETECT] and result['rc'] == 2
    assert result['stderr'] == 'Failed to check for virtualization: Permission denied\n'


def test_no_kernel_config_and_no_proc_sys_key(host):
    (host['root'] / 'proc' / 'config.gz').unlink()
    (host['root'] / 'proc' / 'sys' / 'net' / 'core' / 'default_qdisc').unlink()
    write(host['root'], 'proc/modules', fixture('proc_modules_sample.txt'))
    result = run(host)
    assert result['kernel_config'] is None and result['kernel_config_source'] is None
    assert result['module_support'] is True
    assert result['default_qdisc'] is None
    assert result['qdisc_support']['fq'] == {'supported': None,
                                             'source': 'unknown: no /proc/config.gz or /boot/config-RELEASE'}
