# -*- coding: utf-8 -*-
# Copyright: (c) 2026, packetjungle.datapath contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import gzip

import pytest

from ansible_collections.packetjungle.datapath.plugins.modules import kernel_modules
import module_harness as harness
from module_harness import ExitJson, FailJson, fake_module, run_main

MODPROBE = '/usr/sbin/modprobe'
HEADER = '# Managed by packetjungle.datapath (kernel_modules): local edits are overwritten.\n'
NOT_FOUND = 'modprobe: FATAL: Module sch_fq not found in directory /lib/modules/6.1.0-28-amd64\n'


def fixture(name):
    return harness.fixture('kernel', name)


def write(root, relative, text):
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture
def host(monkeypatch, tmp_path):
    """Fake root at the filesystem boundary and a modprobe command table at run_command; records every argv."""
    root = tmp_path / 'root'
    state = {'root': root, 'table': {}, 'calls': [], 'path': tmp_path / 'modules-load.d' / 'test.conf'}
    monkeypatch.setattr(kernel_modules, 'KERNEL_ROOT', str(root))
    return fake_module(monkeypatch, state)


def this_machine(root):
    """What the project kernel (no CONFIG_MODULES) shows, from captured files."""
    write(root, 'proc/sys/kernel/osrelease', '6.18.44-fc-v669\n')
    write(root, 'proc/filesystems', fixture('proc_filesystems.txt'))
    write(root, 'proc/sys/net/ipv4/tcp_available_congestion_control', fixture('tcp_available_congestion_control.txt'))
    write(root, 'proc/sys/net/bridge/bridge-nf-call-iptables', '1\n')
    write(root, 'proc/sys/net/netfilter/nf_conntrack_max', '262144\n')
    for name in ('overlay', 'nf_conntrack', 'vxlan'):
        (root / 'sys' / 'module' / name).mkdir(parents=True)
    with gzip.open(str(root / 'proc' / 'config.gz'), 'wb') as handle:
        handle.write(fixture('proc_config_trimmed.txt').encode())


def vps_with_modules(root):
    write(root, 'proc/sys/kernel/osrelease', '6.1.0-28-amd64\n')
    write(root, 'proc/modules', fixture('proc_modules_sample.txt'))
    write(root, 'lib/modules/6.1.0-28-amd64/modules.builtin', fixture('modules_builtin_sample.txt'))


def run(host, args, expect=ExitJson, check=False, diff=False):
    args = dict(args, path=str(host['path']), _ansible_check_mode=check, _ansible_diff=diff)
    return run_main(kernel_modules.main, args, expect)


NAMES = ['overlay', 'br_netfilter', 'nf_conntrack', 'tcp_bbr', 'sch_fq', 'geneve']


def test_no_module_support_decides_from_what_the_kernel_shows(host):
    this_machine(host['root'])
    result = run(host, {'names': NAMES}, diff=True)
    assert host['calls'] == []
    assert result['module_support'] is False
    assert result['changed'] is False
    assert result['builtin'] == ['overlay', 'br_netfilter', 'nf_conntrack', 'tcp_bbr']
    assert result['evidence']['overlay'] == ['overlay is in /proc/filesystems', '/sys/module/overlay exists',
                                             'CONFIG_OVERLAY_FS=y']
    assert result['evidence']['br_netfilter'] == ['/proc/sys/net/bridge exists', 'CONFIG_BRIDGE_NETFILTER=y']
    assert result['missing'] == {
        'sch_fq': 'kernel has no loadable-module support and sch_fq is not built in '
                  '(CONFIG_NET_SCH_FQ is not set in /proc/config.gz)',
        'geneve': 'kernel has no loadable-module support and geneve is not built in '
                  '(CONFIG_GENEVE is not set in /proc/config.gz)',
    }
    assert result['skipped_steps'] == [
        '%s not written: kernel has no loadable-module support: overlay, br_netfilter, nf_conntrack, tcp_bbr are '
        'built in, nothing to load or persist' % host['path']]
    assert result['loaded'] == [] and result['newly_loaded'] == []
    assert not host['path'].exists()
    assert result['diff'][0]['before'] == result['diff'][0]['after']


def test_no_module_support_single_builtin_wording(host):
    this_machine(host['root'])
    result = run(host, {'names': ['overlay']})
    assert result['skipped_steps'] == ['%s not written: kernel has no loadable-module support: overlay is built in, '
                                       'nothing to load or persist' % host['path']]


def test_no_module_support_and_no_config(host):
    this_machine(host['root'])
    (host['root'] / 'proc' / 'config.gz').unlink()
    result = run(host, {'names': ['overlay', 'sch_fq']})
    assert result['builtin'] == ['overlay']
    assert result['missing'] == {'sch_fq': 'kernel has no loadable-module support and sch_fq is not built in '
                                           '(no sign of it in /proc or /sys, and no kernel config to check)'}


def test_no_module_support_required_missing_fails(host):
    this_machine(host['root'])
    result = run(host, {'names': ['overlay', 'sch_fq'], 'required': ['sch_fq']}, expect=FailJson)
    assert result['msg'] == ('required[sch_fq]: kernel has no loadable-module support and sch_fq is not built in '
                             '(CONFIG_NET_SCH_FQ is not set in /proc/config.gz)')
    assert host['calls'] == []


def test_with_module_support_loads_and_persists(host):
    vps_with_modules(host['root'])
    host['table'][(MODPROBE, 'tcp_bbr')] = (0, '', '')
    host['table'][(MODPROBE, 'sch_fq')] = (1, '', NOT_FOUND)
    result = run(host, {'names': ['overlay', 'br-netfilter', 'tcp_bbr', 'sch_fq']}, diff=True)
    assert host['calls'] == [[MODPROBE, 'tcp_bbr'], [MODPROBE, 'sch_fq']]
    assert result['module_support'] is True and result['changed'] is True
    assert result['builtin'] == ['overlay']
    assert result['loaded'] == ['br-netfilter']
    assert result['newly_loaded'] == ['tcp_bbr']
    assert result['missing'] == {'sch_fq': 'modprobe sch_fq failed (rc=1): ' + NOT_FOUND.strip()}
    assert host['path'].read_text() == HEADER + 'overlay\nbr-netfilter\ntcp_bbr\n'
    assert result['diff'][1]['after'] == 'tcp_bbr\n'

    # Next run: tcp_bbr shows up in /proc/modules, the file is already right.
    write(host['root'], 'proc/modules', fixture('proc_modules_sample.txt')
          + 'tcp_bbr                20480  3 - Live 0x0000000000000000\n')
    host['calls'] = []
    again = run(host, {'names': ['overlay', 'br-netfilter', 'tcp_bbr', 'sch_fq']})
    assert host['calls'] == [[MODPROBE, 'sch_fq']]
    assert again['changed'] is False
    assert again['loaded'] == ['br-netfilter', 'tcp_bbr']


def test_with_module_support_check_mode_uses_dry_run(host):
    vps_with_modules(host['root'])
    host['table'][(MODPROBE, '-n', 'tcp_bbr')] = (0, '', '')
    result = run(host, {'names': ['tcp_bbr', 'overlay']}, check=True)
    assert host['calls'] == [[MODPROBE, '-n', 'tcp_bbr']]
    assert result['newly_loaded'] == ['tcp_bbr'] and result['changed'] is True
    assert not host['path'].exists()


def test_with_module_support_required_failure_reports_the_command(host):
    vps_with_modules(host['root'])
    host['table'][(MODPROBE, 'sch_fq')] = (1, '', NOT_FOUND)
    result = run(host, {'names': ['sch_fq'], 'required': ['sch_fq']}, expect=FailJson)
    assert result['cmd'] == [MODPROBE, 'sch_fq']
    assert result['rc'] == 1 and result['stderr'] == NOT_FOUND and result['stdout'] == ''
    assert result['msg'] == 'required[sch_fq]: modprobe sch_fq failed (rc=1): ' + NOT_FOUND.strip()
    assert not host['path'].exists()


def test_validation(host):
    this_machine(host['root'])
    result = run(host, {'names': ['overlay', 'bad name', '../x'], 'required': ['sch_fq']}, expect=FailJson)
    assert result['errors'] == [
        "names[bad name]: 'bad name' is not a module name (accepted: letters, digits, \"_\" and \"-\")",
        "names[../x]: '../x' is not a module name (accepted: letters, digits, \"_\" and \"-\")",
        "required[sch_fq]: 'sch_fq' is not in names (accepted: names listed in names)",
    ]
