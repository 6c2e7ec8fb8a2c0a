# -*- coding: utf-8 -*-
# Copyright: (c) 2026, packetjungle.datapath contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import errno
import json
import os

import pytest

from ansible_collections.packetjungle.datapath.plugins.module_utils.kernel import parse_kernel_config
from ansible_collections.packetjungle.datapath.plugins.module_utils.sysctl import (
    as_int_tuple, cc_unavailable_reason, missing_key_reason, normalise, plan_settings, probe_writable,
    qdisc_available, raise_only_value, read_sysctl, render_dropin, validate_settings, values_equal,
    write_error_reason, write_sysctl)

FIXTURES = os.path.join(os.path.dirname(__file__), '..', '..', 'fixtures', 'kernel')


def fixture(name):
    with open(os.path.join(FIXTURES, name)) as handle:
        return handle.read()


HOST = json.loads(fixture('proc_sys_host.json'))
CONFIG = parse_kernel_config(fixture('proc_config_trimmed.txt'))


def host_value(name):
    return normalise(HOST[name.replace('.', '/')])


def test_normalise_collapses_the_kernels_tabs_and_newline():
    assert normalise(HOST['net/ipv4/tcp_rmem']) == '4096 131072 33554432'
    assert normalise('  4096 \t 87380\n\n6291456 ') == '4096 87380 6291456'
    assert normalise(131072) == '131072'


def test_as_int_tuple():
    assert as_int_tuple(HOST['net/ipv4/tcp_wmem']) == (4096, 16384, 4194304)
    assert as_int_tuple('-1') == (-1,)
    assert as_int_tuple('bbr') is None
    assert as_int_tuple('4096 abc') is None
    assert as_int_tuple('0x10') is None


def test_values_equal_compares_integers_numerically_and_text_after_normalising():
    assert values_equal(HOST['net/ipv4/tcp_rmem'], '4096 131072  33554432')
    assert values_equal('0010', '10')
    assert not values_equal('4096 131072 33554432', '4096 131072 16777216')
    assert values_equal('bbr\n', ' bbr')
    assert not values_equal('bbr', 'cubic')


@pytest.mark.parametrize('current, desired, expected', [
    # tuned's network-throughput max is below the 6.18 default: keep the kernel's 32 MiB.
    (HOST['net/ipv4/tcp_rmem'], '4096 131072 16777216', '4096 131072 33554432'),
    # Element-wise: each field takes its own maximum.
    (HOST['net/ipv4/tcp_rmem'], '8192 87380 67108864', '8192 131072 67108864'),
    (HOST['net/core/rmem_max'], '212992', '4194304'),
    (HOST['net/core/rmem_max'], '67108864', '67108864'),
    ('-1', '5', '5'),
])
def test_raise_only_value_is_elementwise_max(current, desired, expected):
    assert raise_only_value(current, desired) == (expected, None)


def test_raise_only_value_refuses_field_count_mismatch_and_text():
    value, error = raise_only_value(HOST['net/ipv4/tcp_rmem'], '33554432')
    assert value is None
    assert error == "raise_only: '33554432' has 1 field(s) but the kernel value '4096 131072 33554432' has 3"
    assert raise_only_value('bbr', '1')[1] == "raise_only: the kernel value 'bbr' is not a list of integers"


def test_validate_settings_normalises_values():
    clean, errors = validate_settings(
        {'net.core.somaxconn': 8192, 'net.ipv4.tcp_rmem': '4096\t131072  67108864',
         'net.ipv4.tcp_wmem': [4096, 16384, 16777216], 'net.ipv4.tcp_congestion_control': 'bbr',
         'net.bridge.bridge-nf-call-iptables': 1},
        ['net.ipv4.tcp_rmem', 'net.ipv4.tcp_wmem'])
    assert errors == []
    assert clean == {'net.core.somaxconn': '8192', 'net.ipv4.tcp_rmem': '4096 131072 67108864',
                     'net.ipv4.tcp_wmem': '4096 16384 16777216', 'net.ipv4.tcp_congestion_control': 'bbr',
                     'net.bridge.bridge-nf-call-iptables': '1'}


def test_validate_settings_reports_every_error_at_once():
    clean, errors = validate_settings(
        {'net/core/somaxconn': 1, 'net..core': 1, 'somaxconn': 1, 'net.core.': 1, 'net.core.x y': 1,
         'net.ipv4.ip_forward': True, 'vm.swappiness': 1.5, 'net.core.rmem_max': None, 'kernel.x': '  ',
         'net.core.wmem_max': 'lots', 'net.ipv4.tcp_rmem': '4096 131072 33554432'},
        ['net.core.wmem_max', 'net.core.netdev_max_backlog'])
    assert clean == {'net.core.wmem_max': 'lots', 'net.ipv4.tcp_rmem': '4096 131072 33554432'}
    assert len(errors) == 11
    joined = '\n'.join(errors)
    for bad in ('net/core/somaxconn', 'net..core', "settings[somaxconn]: 'somaxconn'", 'net.core.', 'net.core.x y'):
        assert bad in joined
    assert "no '/', no '..'" in joined
    assert 'settings[net.ipv4.ip_forward]: True: booleans are ambiguous here; give 1/0' in joined
    assert 'settings[vm.swappiness]: 1.5: float is not accepted' in joined
    assert 'settings[net.core.rmem_max]: None: NoneType is not accepted' in joined
    assert "settings[kernel.x]: '  ': an empty value cannot be written" in joined
    assert "raise_only[net.core.wmem_max]: 'lots' is not an integer or a list of integers" in joined
    assert ("raise_only[net.core.netdev_max_backlog]: 'net.core.netdev_max_backlog' is not a key of settings"
            in joined)


@pytest.mark.parametrize('name, expected', [
    ('net.bridge.bridge-nf-call-iptables',
     'net.bridge.bridge-nf-call-iptables is not in /proc/sys: needs br_netfilter (CONFIG_BRIDGE_NETFILTER); '
     'the keys appear once br_netfilter is built in or loaded'),
    ('net.netfilter.nf_conntrack_max',
     'net.netfilter.nf_conntrack_max is not in /proc/sys: needs nf_conntrack (CONFIG_NF_CONNTRACK); '
     'the keys appear once nf_conntrack is built in or loaded'),
    ('net.core.busy_poll',
     'net.core.busy_poll is not in /proc/sys: needs CONFIG_NET_RX_BUSY_POLL, or it is a global key, visible only '
     'in the initial network namespace (this runs in a container or another network namespace)'),
    ('net.core.default_qdisc',
     'net.core.default_qdisc is not in /proc/sys: it is a global key, visible only in the initial network '
     'namespace (this runs in a container or another network namespace)'),
    ('net.ipv4.vs.conntrack', 'net.ipv4.vs.conntrack is not in /proc/sys: needs ip_vs (CONFIG_IP_VS)'),
    ('net.ipv4.neigh.default.gc_thresh3',
     'net.ipv4.neigh.default.gc_thresh3 is not in /proc/sys: it is a global key, visible only in the initial '
     'network namespace (this runs in a container or another network namespace)'),
    ('vm.made_up', 'vm.made_up is not in /proc/sys: this kernel does not provide it '
                   '(feature not built in, or module not loaded)'),
])
def test_missing_key_reason_names_the_feature(name, expected):
    assert missing_key_reason(name) == expected


def test_qdisc_available_from_the_real_config():
    assert qdisc_available('fq', CONFIG, False) is False
    assert qdisc_available('fq_codel', CONFIG, False) is False
    assert qdisc_available('htb', CONFIG, False) is True
    assert qdisc_available('pfifo_fast', None, False) is True
    assert qdisc_available('fq', None, False) is None
    assert qdisc_available('fq', {'CONFIG_NET_SCH_FQ': 'm'}, True) is True
    assert qdisc_available('fq', {'CONFIG_NET_SCH_FQ': 'm'}, False) is False


def test_write_error_reasons():
    assert write_error_reason('net.core.default_qdisc', 'fq', errno.ENOENT) == (
        'qdisc fq not available (CONFIG_NET_SCH_FQ not set / sch_fq not loadable)')
    assert write_error_reason('net.core.somaxconn', '8192', errno.EROFS) == (
        '/proc/sys is mounted read-only here: Read-only file system (EROFS)')
    assert write_error_reason('net.core.rmem_max', '67108864', errno.EACCES) == (
        'net.core.rmem_max is read-only for this process: Permission denied (EACCES) (read-only in this container '
        'or network namespace, or the capability is missing)')
    assert 'Operation not permitted (EPERM)' in write_error_reason('kernel.panic', '10', errno.EPERM)
    assert write_error_reason('net.ipv4.tcp_fastopen', '99x', errno.EINVAL) == (
        'the kernel rejected net.ipv4.tcp_fastopen = 99x: Invalid argument (EINVAL)')
    assert write_error_reason('net.ipv4.tcp_congestion_control', 'htcp', errno.ENOENT).startswith(
        'congestion control htcp not available')
    assert write_error_reason('vm.x', '1', errno.EBUSY) == 'writing vm.x = 1 failed: Device or resource busy (EBUSY)'


def test_cc_unavailable_reason_lists_what_the_kernel_has():
    available = fixture('tcp_available_congestion_control.txt').split()
    assert cc_unavailable_reason('htcp', available) == (
        'congestion control htcp not available (tcp_available_congestion_control: reno bbr cubic); needs '
        'CONFIG_TCP_CONG_HTCP or module tcp_htcp loaded first (packetjungle.datapath.kernel_modules)')


def test_plan_settings_against_the_real_host_values():
    settings = {
        'net.core.rmem_max': '67108864', 'net.ipv4.tcp_rmem': '4096 131072 16777216',
        'net.ipv4.tcp_wmem': '4096 16384 16777216', 'net.core.somaxconn': '2048',
        'net.ipv4.tcp_notsent_lowat': '131072', 'net.ipv4.tcp_congestion_control': 'bbr',
        'net.core.default_qdisc': 'fq', 'net.core.busy_poll': '50', 'net.ipv4.tcp_rmem_typo': '1',
        'fs.inotify.max_user_watches': '524288',
    }
    raise_only = {'net.core.rmem_max', 'net.ipv4.tcp_rmem', 'net.ipv4.tcp_wmem', 'net.core.somaxconn'}
    current = dict((name, host_value(name)) for name in settings if name.replace('.', '/') in HOST)
    current['fs.inotify.max_user_watches'] = ('error', 'fs.inotify.max_user_watches cannot be read: Permission denied')
    plan = plan_settings(settings, raise_only, current, cc_available=['reno', 'bbr', 'cubic'],
                         qdisc_support={'fq': qdisc_available('fq', CONFIG, False)})
    actions = dict((name, (entry['action'], entry['target'])) for name, entry in plan.items())
    assert actions == {
        'net.core.rmem_max': ('write', '67108864'),
        'net.ipv4.tcp_rmem': ('keep', '4096 131072 33554432'),
        'net.ipv4.tcp_wmem': ('write', '4096 16384 16777216'),
        'net.core.somaxconn': ('keep', '4096'),
        'net.ipv4.tcp_notsent_lowat': ('write', '131072'),
        'net.ipv4.tcp_congestion_control': ('keep', 'bbr'),
        'net.core.default_qdisc': ('skip', None),
        'net.core.busy_poll': ('skip', None),
        'net.ipv4.tcp_rmem_typo': ('skip', None),
        'fs.inotify.max_user_watches': ('skip', None),
    }
    assert plan['net.core.default_qdisc']['reason'] == (
        'qdisc fq not available (CONFIG_NET_SCH_FQ not set / sch_fq not loadable)')
    assert plan['fs.inotify.max_user_watches']['reason'].endswith('Permission denied')
    assert plan['net.ipv4.tcp_wmem']['current'] == '4096 16384 4194304'


def test_plan_settings_skips_unavailable_congestion_control_and_bad_raise_only():
    plan = plan_settings({'net.ipv4.tcp_congestion_control': 'htcp', 'net.ipv4.tcp_rmem': '16777216'},
                         {'net.ipv4.tcp_rmem'},
                         {'net.ipv4.tcp_congestion_control': 'bbr', 'net.ipv4.tcp_rmem': host_value('net.ipv4.tcp_rmem')},
                         cc_available=['reno', 'bbr', 'cubic'])
    assert plan['net.ipv4.tcp_congestion_control']['reason'].startswith(
        'congestion control htcp not available (tcp_available_congestion_control: reno bbr cubic)')
    assert plan['net.ipv4.tcp_rmem']['reason'] == (
        "net.ipv4.tcp_rmem: raise_only: '16777216' has 1 field(s) but the kernel value '4096 131072 33554432' has 3")


def test_plan_settings_unknown_qdisc_support_means_try():
    plan = plan_settings({'net.core.default_qdisc': 'fq'}, set(), {'net.core.default_qdisc': 'pfifo_fast'},
                         qdisc_support={'fq': None})
    assert plan['net.core.default_qdisc']['action'] == 'write'


def test_render_dropin_sorts_keys_under_the_header():
    text = render_dropin({'net.ipv4.tcp_rmem': '4096 131072 33554432', 'net.core.somaxconn': '8192'})
    assert text.splitlines() == [
        '# Managed by packetjungle.datapath (sysctl_dropin): local edits are overwritten.',
        '# Only keys the running kernel accepted are listed.',
        'net.core.somaxconn = 8192',
        'net.ipv4.tcp_rmem = 4096 131072 33554432',
    ]


def test_read_write_probe_on_a_tree(tmp_path):
    core = tmp_path / 'net' / 'core'
    core.mkdir(parents=True)
    (core / 'somaxconn').write_text(HOST['net/core/somaxconn'])
    (tmp_path / 'net' / 'ipv4').mkdir()
    (tmp_path / 'net' / 'ipv4' / 'tcp_rmem').write_text(HOST['net/ipv4/tcp_rmem'])
    proc_sys = str(tmp_path)
    assert read_sysctl(proc_sys, 'net.ipv4.tcp_rmem') == '4096 131072 33554432'
    assert read_sysctl(proc_sys, 'net.core.busy_read') is None
    assert read_sysctl(proc_sys, 'net.core.somaxconn.x') is None
    assert read_sysctl(proc_sys, 'net.core') == ('error', 'net.core is a directory of keys, not a key')
    assert probe_writable(proc_sys, 'net.core.somaxconn') is None
    assert (core / 'somaxconn').read_text() == '4096\n'
    assert write_sysctl(proc_sys, 'net.core.somaxconn', '8192') is None
    assert read_sysctl(proc_sys, 'net.core.somaxconn') == '8192'
    assert write_sysctl(proc_sys, 'net.core.somaxconn', '50') is None
    assert read_sysctl(proc_sys, 'net.core.somaxconn') == '50'
    assert write_sysctl(proc_sys, 'net.core.busy_read', '50') == errno.ENOENT
    assert probe_writable(proc_sys, 'net.core') == errno.EISDIR
