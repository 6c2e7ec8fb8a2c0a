# -*- coding: utf-8 -*-
# Copyright: (c) 2026, packetjungle.datapath contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import errno
import gzip
import json

import pytest

from ansible_collections.packetjungle.datapath.plugins.modules import sysctl_dropin
import module_harness as harness
from module_harness import ExitJson, FailJson, fake_module, run_main

HEADER = ('# Managed by packetjungle.datapath (sysctl_dropin): local edits are overwritten.\n'
          '# Only keys the running kernel accepted are listed.\n')
FQ_REASON = 'qdisc fq not available (CONFIG_NET_SCH_FQ not set / sch_fq not loadable)'


def fixture(name):
    return harness.fixture('kernel', name)


@pytest.fixture
def host(monkeypatch, tmp_path):
    """A fake root whose proc/sys holds the real values captured on the project machine."""
    root = tmp_path / 'root'
    for key, value in json.loads(fixture('proc_sys_host.json')).items():
        path = root / 'proc' / 'sys' / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(value)
    with gzip.open(str(root / 'proc' / 'config.gz'), 'wb') as handle:
        handle.write(fixture('proc_config_trimmed.txt').encode())

    # An empty command table: sysctl_dropin must not run any command.
    return fake_module(monkeypatch, {'root': root, 'proc_sys': root / 'proc' / 'sys', 'dropin': tmp_path / 'sysctl.d' / '90-test.conf'})


def run(host, args, expect=ExitJson, check=False, diff=False):
    args = dict(args, proc_sys=str(host['proc_sys']), path=str(host['dropin']),
                _ansible_check_mode=check, _ansible_diff=diff)
    return run_main(sysctl_dropin.main, args, expect)


def kernel(host, key):
    return (host['proc_sys'] / key).read_text()


TUNING = {
    'settings': {
        'net.core.rmem_max': 67108864,
        'net.ipv4.tcp_rmem': '4096 131072 16777216',
        'net.ipv4.tcp_wmem': '4096\t16384   16777216',
        'net.core.somaxconn': 2048,
        'net.ipv4.tcp_notsent_lowat': 131072,
        'net.ipv4.tcp_congestion_control': 'bbr',
        'net.core.default_qdisc': 'fq',
        'net.core.busy_poll': 50,
        'net.ipv4.vs.conntrack': 1,
    },
    'raise_only': ['net.core.rmem_max', 'net.ipv4.tcp_rmem', 'net.ipv4.tcp_wmem', 'net.core.somaxconn'],
}


def test_converge_then_idempotent(host):
    result = run(host, TUNING, diff=True)
    assert result['changed'] is True
    assert result['changed_keys'] == ['net.core.rmem_max', 'net.ipv4.tcp_notsent_lowat', 'net.ipv4.tcp_wmem']
    assert result['applied'] == {
        'net.core.rmem_max': '67108864',
        'net.core.somaxconn': '4096',
        'net.ipv4.tcp_congestion_control': 'bbr',
        'net.ipv4.tcp_notsent_lowat': '131072',
        'net.ipv4.tcp_rmem': '4096 131072 33554432',
        'net.ipv4.tcp_wmem': '4096 16384 16777216',
    }
    assert result['skipped_keys'] == {
        'net.core.default_qdisc': FQ_REASON,
        'net.core.busy_poll': (
            'net.core.busy_poll is not in /proc/sys: needs CONFIG_NET_RX_BUSY_POLL, or it is a global key, visible '
            'only in the initial network namespace (this runs in a container or another network namespace)'),
        'net.ipv4.vs.conntrack': 'net.ipv4.vs.conntrack is not in /proc/sys: needs ip_vs (CONFIG_IP_VS)',
    }
    assert kernel(host, 'net/core/rmem_max') == '67108864'
    assert kernel(host, 'net/ipv4/tcp_wmem') == '4096 16384 16777216'
    assert kernel(host, 'net/core/default_qdisc') == 'pfifo_fast\n'
    assert kernel(host, 'net/ipv4/tcp_rmem') == '4096\t131072\t33554432\n'
    expected_file = HEADER + (
        'net.core.rmem_max = 67108864\n'
        'net.core.somaxconn = 4096\n'
        'net.ipv4.tcp_congestion_control = bbr\n'
        'net.ipv4.tcp_notsent_lowat = 131072\n'
        'net.ipv4.tcp_rmem = 4096 131072 33554432\n'
        'net.ipv4.tcp_wmem = 4096 16384 16777216\n')
    assert host['dropin'].read_text() == expected_file
    file_diff, runtime_diff = result['diff']
    assert file_diff['before'] == '' and file_diff['after'] == expected_file
    assert runtime_diff['before'] == ('net.core.rmem_max = 4194304\nnet.ipv4.tcp_notsent_lowat = 4294967295\n'
                                      'net.ipv4.tcp_wmem = 4096 16384 4194304\n')
    assert runtime_diff['after'] == ('net.core.rmem_max = 67108864\nnet.ipv4.tcp_notsent_lowat = 131072\n'
                                     'net.ipv4.tcp_wmem = 4096 16384 16777216\n')

    again = run(host, TUNING)
    assert again['changed'] is False
    assert again['changed_keys'] == [] and again['file_changed'] is False
    assert again['skipped_keys'] == result['skipped_keys']


def test_check_mode_predicts_without_touching_anything(host):
    predicted = run(host, TUNING, check=True, diff=True)
    assert kernel(host, 'net/core/rmem_max') == '4194304\n'
    assert not host['dropin'].exists()
    real = run(host, TUNING)
    for key in ('changed', 'changed_keys', 'applied', 'skipped_keys', 'file_changed'):
        assert predicted[key] == real[key]
    assert run(host, TUNING, check=True)['changed'] is False


def test_validation_reports_all_errors_and_touches_nothing(host):
    result = run(host, {'settings': {'net/core/somaxconn': 1, 'net.ipv4.ip_forward': True,
                                     'net.core.wmem_max': 'big'},
                        'raise_only': ['net.core.wmem_max']}, expect=FailJson)
    assert len(result['errors']) == 3
    assert result['msg'] == '; '.join(result['errors'])
    assert 'settings[net.ipv4.ip_forward]: True: booleans are ambiguous' in result['msg']
    assert not host['dropin'].exists()


def test_congestion_control_not_available(host):
    result = run(host, {'settings': {'net.ipv4.tcp_congestion_control': 'htcp'}})
    assert result['skipped_keys'] == {'net.ipv4.tcp_congestion_control': (
        'congestion control htcp not available (tcp_available_congestion_control: reno bbr cubic); needs '
        'CONFIG_TCP_CONG_HTCP or module tcp_htcp loaded first (packetjungle.datapath.kernel_modules)')}
    assert kernel(host, 'net/ipv4/tcp_congestion_control') == 'bbr\n'
    assert result['changed'] is True and result['file_changed'] is True
    assert host['dropin'].read_text() == HEADER


def test_qdisc_write_enoent_without_kernel_config(host, monkeypatch):
    # No config to consult: the write itself is what tells the kernel lacks fq.
    (host['root'] / 'proc' / 'config.gz').unlink()
    real_write = sysctl_dropin.write_sysctl
    monkeypatch.setattr(sysctl_dropin, 'write_sysctl', lambda proc_sys, name, value: (
        errno.ENOENT if name == 'net.core.default_qdisc' else real_write(proc_sys, name, value)))
    result = run(host, {'settings': {'net.core.default_qdisc': 'fq', 'net.core.somaxconn': 8192}})
    assert result['skipped_keys'] == {'net.core.default_qdisc': FQ_REASON}
    assert result['applied'] == {'net.core.somaxconn': '8192'}
    # Check mode cannot see ENOENT in advance (documented): it predicts a change.
    assert 'net.core.default_qdisc' in run(host, {'settings': {'net.core.default_qdisc': 'fq'}},
                                           check=True)['changed_keys']


def test_read_only_proc_sys_is_a_skip_not_a_failure(host, monkeypatch):
    monkeypatch.setattr(sysctl_dropin, 'write_sysctl', lambda proc_sys, name, value: errno.EROFS)
    monkeypatch.setattr(sysctl_dropin, 'probe_writable', lambda proc_sys, name: errno.EROFS)
    args = {'settings': {'net.core.somaxconn': 8192, 'net.ipv4.tcp_fastopen': 1}}
    for check in (True, False):
        result = run(host, args, check=check)
        assert result['skipped_keys'] == {
            'net.core.somaxconn': '/proc/sys is mounted read-only here: Read-only file system (EROFS)'}
        assert result['applied'] == {'net.ipv4.tcp_fastopen': '1'}
        assert result['changed_keys'] == []
    assert run(host, args)['changed'] is False


def test_clamped_value_is_reported_and_stays_idempotent(host, monkeypatch):
    def clamp(proc_sys, name, value):
        (host['proc_sys'] / 'net' / 'core' / 'somaxconn').write_text('65535\n')
    monkeypatch.setattr(sysctl_dropin, 'write_sysctl', clamp)
    first = run(host, {'settings': {'net.core.somaxconn': 100000}})
    assert first['skipped_keys'] == {'net.core.somaxconn': (
        'the kernel accepted net.core.somaxconn = 100000 but reads back 65535 (value clamped or ignored)')}
    assert first['changed_keys'] == ['net.core.somaxconn']
    second = run(host, {'settings': {'net.core.somaxconn': 100000}})
    assert second['changed'] is False


def test_dropin_is_rewritten_only_when_content_differs(host):
    host['dropin'].parent.mkdir()
    host['dropin'].write_text(HEADER + 'net.core.somaxconn = 1024\n')
    result = run(host, {'settings': {'net.core.somaxconn': 4096}}, diff=True)
    assert result['changed'] is True and result['changed_keys'] == []
    assert result['diff'][0]['before'] == HEADER + 'net.core.somaxconn = 1024\n'
    assert host['dropin'].read_text() == HEADER + 'net.core.somaxconn = 4096\n'
    assert oct(host['dropin'].stat().st_mode & 0o777) == '0o644'
