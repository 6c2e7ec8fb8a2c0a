# -*- coding: utf-8 -*-
# Copyright: (c) 2026, packetjungle.datapath contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os

import pytest

from ansible_collections.packetjungle.datapath.plugins.modules import nic_info
import module_harness as harness
from module_harness import ExitJson, FailJson, fake_module, run_main

IP = '/usr/sbin/ip'
ETHTOOL = '/usr/sbin/ethtool'
LINK_SHOW = (IP, '-j', '-d', 'link', 'show')


def fixture(name):
    return harness.fixture('nic', name)


@pytest.fixture
def host(monkeypatch, tmp_path):
    """Fake command table and sysfs at the run_command / filesystem boundary; records every argv."""
    state = {'table': {}, 'calls': [], 'sysfs': tmp_path / 'sys'}

    fake_module(monkeypatch, state)
    monkeypatch.setattr(os, 'sched_getaffinity', lambda pid: {0, 1})
    return state


def serve(host, name, prefix, rings=True, channels=True):
    table = host['table']
    table[(ETHTOOL, '-i', name)] = (0, fixture(prefix + '_ethtool_i.txt'), '')
    for opt, letter, supported in (('-l', 'l', channels), ('-g', 'g', rings)):
        if supported:
            table[(ETHTOOL, opt, name)] = (0, fixture('%s_ethtool_%s.txt' % (prefix, letter)), '')
        else:
            table[(ETHTOOL, opt, name)] = (1, '', fixture('%s_ethtool_%s.stderr.txt' % (prefix, letter)))
    table[(ETHTOOL, '-k', name)] = (0, fixture(prefix + '_ethtool_k.txt'), '')


def sysfs(host, name, speed, rps):
    base = host['sysfs'] / name
    (base / 'queues').mkdir(parents=True)
    (base / 'speed').write_text(speed + '\n')
    for queue, mask in rps.items():
        (base / 'queues' / queue).mkdir()
        (base / 'queues' / queue / 'rps_cpus').write_text(mask + '\n')


def run_module(host, args, expect=ExitJson):
    args = dict(args, sys_class_net=str(host['sysfs']))
    return run_main(nic_info.main, args, expect)


def test_virtio_nic(host):
    host['table'][LINK_SHOW] = (0, fixture('eth0_virtio_ip_link.json'), '')
    serve(host, 'eth0', 'eth0_virtio')
    sysfs(host, 'eth0', '-1', {'rx-0': '0'})
    result = run_module(host, {'interfaces': ['eth0']})
    assert host['calls'] == [[IP, '-j', '-d', 'link', 'show'], [ETHTOOL, '-i', 'eth0'], [ETHTOOL, '-l', 'eth0'],
                             [ETHTOOL, '-g', 'eth0'], [ETHTOOL, '-k', 'eth0']]
    assert result['changed'] is False
    assert result['cpus'] == 2
    eth0 = result['nics']['eth0']
    assert dict((k, eth0[k]) for k in ('mtu', 'min_mtu', 'max_mtu', 'qdisc', 'operstate', 'address', 'kind',
                                       'num_rx_queues', 'num_tx_queues', 'driver', 'speed', 'rps_cpus',
                                       'channels_unsupported', 'rings_unsupported', 'offloads_unsupported')) == {
        'mtu': 1400, 'min_mtu': 68, 'max_mtu': 65535, 'qdisc': 'pfifo_fast', 'operstate': 'UP',
        'address': '02:fc:00:00:00:01', 'kind': None, 'num_rx_queues': 1, 'num_tx_queues': 1,
        'driver': 'virtio_net', 'speed': None, 'rps_cpus': {'rx-0': '0'},
        'channels_unsupported': None, 'rings_unsupported': None, 'offloads_unsupported': None}
    assert eth0['channels']['max']['combined'] == 1
    assert eth0['rings']['max'] == {'rx': 256, 'rx_mini': None, 'rx_jumbo': None, 'tx': 256}
    assert eth0['offloads']['large-receive-offload'] == {'enabled': False, 'fixed': True}


def test_default_is_every_interface_but_lo(host):
    host['table'][LINK_SHOW] = (0, fixture('netns_all_ip_link.json'), '')
    serve(host, 'pjbr0', 'bridge', rings=False, channels=False)
    serve(host, 'pjv0', 'veth', rings=False)
    serve(host, 'pjv1', 'veth', rings=False)
    for name in ('pjbr0', 'pjv0', 'pjv1'):
        sysfs(host, name, '10000', {'rx-0': '0'})
    result = run_module(host, {'_ansible_check_mode': True})
    assert sorted(result['nics']) == ['pjbr0', 'pjv0', 'pjv1']
    assert [c[2] for c in host['calls'][1:]] == ['pjbr0'] * 4 + ['pjv0'] * 4 + ['pjv1'] * 4
    assert result['nics']['pjv0']['rings'] is None
    assert result['nics']['pjv0']['rings_unsupported'] == 'veth reports no ring parameters (Operation not supported)'
    assert result['nics']['pjbr0']['channels_unsupported'] == (
        'bridge reports no channel parameters (Operation not supported)')
    assert result['nics']['pjv0']['speed'] == 10000
    assert result['changed'] is False


def test_unknown_interface_lists_existing_ones(host):
    host['table'][LINK_SHOW] = (0, fixture('netns_all_ip_link.json'), '')
    result = run_module(host, {'interfaces': ['eth9', 'pjv0', 'eth8']}, expect=FailJson)
    assert result['msg'] == 'interfaces: eth9, eth8 not found; existing interfaces: lo, pjbr0, pjv0, pjv1'
    assert host['calls'] == [[IP, '-j', '-d', 'link', 'show']]


def test_command_failure(host):
    host['table'][LINK_SHOW] = (0, fixture('eth0_virtio_ip_link.json'), '')
    host['table'][(ETHTOOL, '-i', 'eth0')] = (0, fixture('eth0_virtio_ethtool_i.txt'), '')
    host['table'][(ETHTOOL, '-l', 'eth0')] = (76, '', 'netlink error: No such device\n')
    result = run_module(host, {'interfaces': ['eth0']}, expect=FailJson)
    assert result['cmd'] == [ETHTOOL, '-l', 'eth0']
    assert result['rc'] == 76
    assert result['stderr'] == 'netlink error: No such device\n'


def test_malformed_output(host):
    host['table'][LINK_SHOW] = (0, fixture('eth0_virtio_ip_link.json'), '')
    serve(host, 'eth0', 'eth0_virtio')
    host['table'][(ETHTOOL, '-k', 'eth0')] = (0, fixture('malformed_ethtool_k_truncated.txt'), '')
    result = run_module(host, {'interfaces': ['eth0']}, expect=FailJson)
    assert result['msg'].startswith("could not parse command output: /usr/sbin/ethtool -k eth0: ethtool -k: "
                                    "unexpected line 'receive-hashing: o'")


def test_malformed_ip_link(host):
    host['table'][LINK_SHOW] = (0, fixture('malformed_ip_link_truncated.json'), '')
    result = run_module(host, {}, expect=FailJson)
    assert result['msg'].startswith('could not parse command output: ip -j link output is not JSON')
