# -*- coding: utf-8 -*-
# Copyright: (c) 2026, packetjungle.datapath contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os

import pytest

from ansible.module_utils import basic
from ansible_collections.packetjungle.datapath.plugins.module_utils import nic
from ansible_collections.packetjungle.datapath.plugins.modules import nic_settings
import module_harness as harness
from module_harness import ExitJson, FailJson, fake_module, run_main

IP = '/usr/sbin/ip'
ETHTOOL = '/usr/sbin/ethtool'
LINK_SHOW = [IP, '-j', '-d', 'link', 'show']
PEER = '10.99.0.2'
ROLE_DEFAULTS = {'virtio_net': {'channels': 'auto', 'rings': {'rx': 'max', 'tx': 'max'},
                                'offloads': {'gro': True, 'gso': True, 'tso': True, 'lro': False}, 'rps': 'auto'}}
RPS_RULE = 'ACTION=="add", SUBSYSTEM=="net", %s=="%s", ATTR{queues/rx-0/rps_cpus}="%s"'


def fixture(name):
    return harness.fixture('nic', name)


def links(*files):
    """One `ip -j -d link show` answer made of the captured per-interface answers."""
    entries = []
    for name in files:
        entries += json.loads(fixture(name))
    return json.dumps(entries)


@pytest.fixture
def host(monkeypatch, tmp_path):
    """Fake commands, sysfs, ICMP probe and target directories; records argv, probes and warnings."""
    state = {'table': {}, 'calls': [], 'probes': [], 'answers': {}, 'warnings': [],
             'sysfs': tmp_path / 'sys', 'link_dir': tmp_path / 'network', 'udev_dir': tmp_path / 'rules.d'}

    def probe_df(address, payload_size, timeout, count):
        state['probes'].append((address, payload_size))
        assert (timeout, count) == (1.0, 3)
        return state['answers'].get((address, payload_size), 0)

    fake_module(monkeypatch, state)
    monkeypatch.setattr(basic.AnsibleModule, 'warn', lambda self, msg: state['warnings'].append(msg))
    monkeypatch.setattr(nic_settings, 'probe_df', probe_df)
    monkeypatch.setattr(os, 'sched_getaffinity', lambda pid: {0, 1})
    monkeypatch.delenv('SSH_CONNECTION', raising=False)
    return state


def serve(host, name, prefix, rings=True, channels=True, ring_file=None, channel_file=None):
    table = host['table']
    table[(ETHTOOL, '-i', name)] = (0, fixture(prefix + '_ethtool_i.txt'), '')
    for opt, letter, supported, override in (('-l', 'l', channels, channel_file), ('-g', 'g', rings, ring_file)):
        if supported:
            table[(ETHTOOL, opt, name)] = (0, fixture(override or '%s_ethtool_%s.txt' % (prefix, letter)), '')
        else:
            table[(ETHTOOL, opt, name)] = (1, '', fixture('%s_ethtool_%s.stderr.txt' % (prefix, letter)))
    table[(ETHTOOL, '-k', name)] = (0, fixture(prefix + '_ethtool_k.txt'), '')
    base = host['sysfs'] / name / 'queues' / 'rx-0'
    base.mkdir(parents=True)
    (base / 'rps_cpus').write_text('0\n')


def serve_lo(host):
    host['table'][(ETHTOOL, '-i', 'lo')] = (71, '', fixture('lo_ethtool_i.stderr.txt'))


def rps_of(host, name):
    return (host['sysfs'] / name / 'queues' / 'rx-0' / 'rps_cpus').read_text()


def run_module(host, args, expect=ExitJson):
    host['calls'][:] = []
    host['probes'][:] = []
    args = dict(args, sys_class_net=str(host['sysfs']), link_dir=str(host['link_dir']),
                udev_rules_dir=str(host['udev_dir']))
    return run_main(nic_settings.main, args, expect)


def link_file(host, name):
    path = host['link_dir'] / nic.link_file_name(name)
    return path.read_text() if path.exists() else None


def rules_file(host):
    path = host['udev_dir'] / '90-packetjungle-rps.rules'
    return path.read_text() if path.exists() else None


# ---------------------------------------------------------------- the role's VirtIO defaults

def virtio_host(host):
    host['table'][tuple(LINK_SHOW)] = (0, links('eth0_virtio_ip_link.json', 'veth_ip_link.json'), '')
    serve(host, 'eth0', 'eth0_virtio')
    serve(host, 'pjv0', 'veth', rings=False)


VIRTIO_READS = [LINK_SHOW, [ETHTOOL, '-i', 'eth0'], [ETHTOOL, '-i', 'pjv0'],
                [ETHTOOL, '-l', 'eth0'], [ETHTOOL, '-g', 'eth0'], [ETHTOOL, '-k', 'eth0']]
VIRTIO_SKIPPED = ['eth0 channels: NIC maximum is 1 combined, already 1',
                  'eth0 offload large-receive-offload: fixed off by the driver',
                  'eth0 rings rx: NIC maximum is 256, already 256',
                  'eth0 rings tx: NIC maximum is 256, already 256']


def test_role_defaults_on_the_real_virtio_nic_then_idempotent(host):
    virtio_host(host)
    result = run_module(host, {'driver_defaults': ROLE_DEFAULTS})
    assert host['calls'] == VIRTIO_READS
    assert result['changed'] is True
    assert result['nics'] == {'eth0': {
        'changes': ['rps rx-0 0 -> 3'],
        'skipped': {'channels': 'NIC maximum is 1 combined, already 1',
                    'rings rx': 'NIC maximum is 256, already 256',
                    'rings tx': 'NIC maximum is 256, already 256',
                    'offload large-receive-offload': 'fixed off by the driver'},
        'link_file': str(host['link_dir'] / '10-packetjungle-eth0.link')}}
    assert result['skipped_settings'] == VIRTIO_SKIPPED
    assert rps_of(host, 'eth0') == '3\n'
    assert link_file(host, 'eth0').split('[Link]\n')[1] == (
        'NamePolicy=keep kernel database onboard slot path\n'
        'AlternativeNamesPolicy=database onboard slot path\n'
        'MACAddressPolicy=persistent\n'
        'TCPSegmentationOffload=true\n'
        'TCP6SegmentationOffload=true\n'
        'GenericSegmentationOffload=true\n'
        'GenericReceiveOffload=true\n')
    assert 'MACAddress=02:fc:00:00:00:01\n' in link_file(host, 'eth0')
    assert rules_file(host) == nic.RULES_HEADER + '\n'.join(
        [RPS_RULE % ('KERNEL', 'eth0', '3'), RPS_RULE % ('NAME', 'eth0', '3')]) + '\n'
    assert result['rps_rules_file'] == str(host['udev_dir'] / '90-packetjungle-rps.rules')

    files = (link_file(host, 'eth0'), rules_file(host))
    again = run_module(host, {'driver_defaults': ROLE_DEFAULTS})
    assert again['changed'] is False
    assert again['nics']['eth0']['changes'] == []
    assert host['calls'] == VIRTIO_READS
    assert (link_file(host, 'eth0'), rules_file(host)) == files


def test_role_defaults_check_mode_and_diff(host):
    virtio_host(host)
    result = run_module(host, {'driver_defaults': ROLE_DEFAULTS, '_ansible_check_mode': True, '_ansible_diff': True})
    assert host['calls'] == VIRTIO_READS
    assert result['changed'] is True
    assert result['nics']['eth0']['changes'] == ['rps rx-0 0 -> 3']
    assert rps_of(host, 'eth0') == '0\n'
    assert not host['link_dir'].exists() and not host['udev_dir'].exists()
    runtime, link, rules = result['diff']
    assert runtime == {'before_header': 'runtime', 'after_header': 'runtime',
                       'before': 'eth0 rps rx-0: 0\n', 'after': 'eth0 rps rx-0: 3\n'}
    assert link['before'] == '' and 'GenericReceiveOffload=true' in link['after']
    assert link['after_header'] == str(host['link_dir'] / '10-packetjungle-eth0.link')
    assert rules['before'] == '' and RPS_RULE % ('KERNEL', 'eth0', '3') in rules['after']


def test_listed_interface_wins_over_driver_defaults(host):
    virtio_host(host)
    result = run_module(host, {'driver_defaults': ROLE_DEFAULTS, 'interfaces': [{'name': 'eth0', 'rps': 'off'}]})
    assert host['calls'] == [LINK_SHOW, [ETHTOOL, '-i', 'pjv0'], [ETHTOOL, '-i', 'eth0'], [ETHTOOL, '-l', 'eth0'],
                             [ETHTOOL, '-g', 'eth0'], [ETHTOOL, '-k', 'eth0']]
    assert result['changed'] is True  # the rules file with mask 0 is new
    assert result['nics']['eth0'] == {'changes': [], 'skipped': {}, 'link_file': None}
    assert RPS_RULE % ('KERNEL', 'eth0', '0') in rules_file(host)


def test_rules_of_other_interfaces_are_kept(host):
    virtio_host(host)
    host['udev_dir'].mkdir()
    other = RPS_RULE % ('KERNEL', 'eth7', 'f')
    (host['udev_dir'] / '90-packetjungle-rps.rules').write_text(other + '\n' + RPS_RULE % ('KERNEL', 'eth0', '1'))
    run_module(host, {'driver_defaults': ROLE_DEFAULTS})
    lines = rules_file(host).splitlines()
    assert other in lines
    assert RPS_RULE % ('KERNEL', 'eth0', '1') not in lines
    assert RPS_RULE % ('KERNEL', 'eth0', '3') in lines


def test_persist_false_writes_no_file(host):
    virtio_host(host)
    result = run_module(host, {'driver_defaults': ROLE_DEFAULTS, 'persist': False})
    assert result['changed'] is True
    assert result['nics']['eth0']['link_file'] is None and result['rps_rules_file'] is None
    assert not host['link_dir'].exists() and not host['udev_dir'].exists()
    assert rps_of(host, 'eth0') == '3\n'


# ---------------------------------------------------------------- veth: MTU, offloads, RPS

VETH = {'name': 'pjv0', 'mtu': 9000, 'channels': 'auto', 'rings': {'rx': 'max'},
        'offloads': {'gro': True, 'lro': False}, 'rps': 'auto'}
VETH_READS = [LINK_SHOW, [ETHTOOL, '-i', 'pjv0'], [ETHTOOL, '-l', 'pjv0'], [ETHTOOL, '-g', 'pjv0'],
              [ETHTOOL, '-k', 'pjv0']]
ROUTE_GET = [IP, '-j', 'route', 'get', PEER]
SET_9000 = [IP, 'link', 'set', 'dev', 'pjv0', 'mtu', '9000']
SET_1500 = [IP, 'link', 'set', 'dev', 'pjv0', 'mtu', '1500']
GRO_ON = [ETHTOOL, '-K', 'pjv0', 'generic-receive-offload', 'on']


def veth_host(host):
    host['table'][tuple(LINK_SHOW)] = (0, links('veth_ip_link.json'), '')
    serve(host, 'pjv0', 'veth', rings=False)
    host['table'][tuple(ROUTE_GET)] = (0, fixture('veth_ip_route_get.json'), '')
    host['table'][tuple(SET_9000)] = (0, '', '')
    host['table'][tuple(SET_1500)] = (0, '', '')
    gro_on = fixture('veth_ethtool_k.txt').replace('generic-receive-offload: off', 'generic-receive-offload: on')

    def set_gro_on():
        host['table'][(ETHTOOL, '-k', 'pjv0')] = (0, gro_on, '')
        return 0, '', ''
    host['table'][tuple(GRO_ON)] = set_gro_on


def test_veth_mtu_offloads_rps_verified_then_idempotent(host):
    veth_host(host)
    host['answers'] = {(PEER, 1472): 3, (PEER, 8972): 3}
    result = run_module(host, {'interfaces': [VETH], 'mtu_peers': [PEER], '_ansible_diff': True})
    assert host['calls'] == VETH_READS + [ROUTE_GET, SET_9000, GRO_ON, [ETHTOOL, '-k', 'pjv0']]
    assert host['probes'] == [(PEER, 1472), (PEER, 8972)]
    assert result['changed'] is True
    assert result['nics']['pjv0']['changes'] == ['mtu 1500 -> 9000', 'offload generic-receive-offload off -> on',
                                                 'rps rx-0 0 -> 3']
    assert result['skipped_settings'] == [
        'pjv0 channels: veth has no combined channels (pre-set maximum n/a)',
        'pjv0 offload large-receive-offload: fixed off by the driver',
        'pjv0 rings: veth reports no ring parameters (Operation not supported)']
    link_settings = link_file(host, 'pjv0').split('[Link]\n')[1].splitlines()[3:]
    assert link_settings == ['MTUBytes=9000', 'GenericReceiveOffload=true']
    assert 'Driver=veth\n' in link_file(host, 'pjv0')
    assert result['diff'][0] == {
        'before_header': 'runtime', 'after_header': 'runtime',
        'before': 'pjv0 mtu: 1500\npjv0 offload generic-receive-offload: off\npjv0 rps rx-0: 0\n',
        'after': 'pjv0 mtu: 9000\npjv0 offload generic-receive-offload: on\npjv0 rps rx-0: 3\n'}

    host['table'][tuple(LINK_SHOW)] = (0, links('veth_ip_link.json').replace('"mtu": 1500', '"mtu": 9000'), '')
    again = run_module(host, {'interfaces': [VETH], 'mtu_peers': [PEER]})
    assert again['changed'] is False
    assert host['calls'] == VETH_READS
    assert host['probes'] == []


def test_mtu_rollback_when_peer_stops_answering(host):
    veth_host(host)
    host['answers'] = {(PEER, 1472): 3}
    result = run_module(host, {'interfaces': [VETH], 'mtu_peers': [PEER]}, expect=FailJson)
    assert result['msg'] == ('pjv0: MTU 9000 asked, but 10.99.0.2 did not answer DF echoes of that size '
                             '(they did at 1500); rolled back to MTU 1500')
    assert result['changed'] is False
    assert host['calls'] == VETH_READS + [ROUTE_GET, SET_9000, SET_1500]
    assert host['probes'] == [(PEER, 1472), (PEER, 8972)]
    assert rps_of(host, 'pjv0') == '0\n'
    assert link_file(host, 'pjv0') is None


def test_mtu_increase_without_answering_peer_is_skipped(host):
    veth_host(host)
    result = run_module(host, {'interfaces': [{'name': 'pjv0', 'mtu': 9000}], 'mtu_peers': [PEER]})
    assert host['calls'] == VETH_READS + [ROUTE_GET]
    assert result['changed'] is False
    assert result['nics']['pjv0']['skipped'] == {
        'mtu': 'cannot verify: no peer answered at the current MTU 1500 (peers routed via pjv0: 10.99.0.2)'}
    assert result['nics']['pjv0']['link_file'] is None


def test_mtu_decrease_without_answering_peer_goes_ahead_with_warning(host):
    veth_host(host)
    host['table'][(IP, 'link', 'set', 'dev', 'pjv0', 'mtu', '1400')] = (0, '', '')
    result = run_module(host, {'interfaces': [{'name': 'pjv0', 'mtu': 1400}], 'mtu_peers': [PEER]})
    assert host['calls'] == VETH_READS + [ROUTE_GET, [IP, 'link', 'set', 'dev', 'pjv0', 'mtu', '1400']]
    assert host['probes'] == [(PEER, 1472)]
    assert host['warnings'] == ['pjv0: no peer answered at the current MTU 1500, so the decrease to 1400 is not '
                                'verified']
    assert result['nics']['pjv0']['changes'] == ['mtu 1500 -> 1400']
    assert 'MTUBytes=1400\n' in link_file(host, 'pjv0')


def test_peer_routed_via_another_interface_is_not_probed(host):
    veth_host(host)
    host['table'][tuple(ROUTE_GET)] = (0, '[{"dst":"10.99.0.2","dev":"eth0"}]', '')
    result = run_module(host, {'interfaces': [{'name': 'pjv0', 'mtu': 9000}], 'mtu_peers': [PEER]})
    assert host['probes'] == []
    assert result['nics']['pjv0']['skipped']['mtu'].endswith('(peers routed via pjv0: none)')


def test_ssh_client_is_a_peer(host, monkeypatch):
    veth_host(host)
    monkeypatch.setenv('SSH_CONNECTION', '10.99.0.2 50022 10.99.0.1 22')
    host['answers'] = {(PEER, 1472): 1, (PEER, 8972): 1}
    result = run_module(host, {'interfaces': [{'name': 'pjv0', 'mtu': 9000}]})
    assert host['probes'] == [(PEER, 1472), (PEER, 8972)]
    assert result['nics']['pjv0']['changes'] == ['mtu 1500 -> 9000']
    run_module(host, {'interfaces': [{'name': 'pjv0', 'mtu': 9000}], 'mtu_verify_ssh_client': False})
    assert host['probes'] == []


def test_mtu_operation_not_supported_is_a_skip(host):
    veth_host(host)
    host['answers'] = {(PEER, 1472): 3}
    host['table'][tuple(SET_9000)] = (2, '', 'Error: Operation not supported.\n')
    result = run_module(host, {'interfaces': [{'name': 'pjv0', 'mtu': 9000}], 'mtu_peers': [PEER]})
    assert result['changed'] is False
    assert result['nics']['pjv0']['skipped'] == {'mtu': 'setting mtu 9000: Operation not supported'}


def test_mtu_other_failure_fails(host):
    veth_host(host)
    host['answers'] = {(PEER, 1472): 3}
    host['table'][tuple(SET_9000)] = (2, '', fixture('veth_ip_mtu_too_big.stderr.txt'))
    result = run_module(host, {'interfaces': [{'name': 'pjv0', 'mtu': 9000}], 'mtu_peers': [PEER]}, expect=FailJson)
    assert result['cmd'] == SET_9000
    assert result['rc'] == 2
    assert result['stderr'] == 'Error: mtu greater than device maximum.\n'


def test_offload_kept_off_by_the_kernel_is_a_skip(host):
    veth_host(host)
    host['table'][tuple(GRO_ON)] = (1, '', 'Could not change any device features\n')
    result = run_module(host, {'interfaces': [{'name': 'pjv0', 'offloads': {'gro': True}}]})
    assert host['calls'] == VETH_READS + [GRO_ON, [ETHTOOL, '-k', 'pjv0']]
    assert result['changed'] is False
    assert result['nics']['pjv0'] == {
        'changes': [],
        'skipped': {'offload generic-receive-offload':
                    'the driver kept it off after ethtool -K: Could not change any device features'},
        'link_file': None}


def test_stale_link_file_is_removed(host):
    veth_host(host)
    host['link_dir'].mkdir()
    (host['link_dir'] / '10-packetjungle-pjv0.link').write_text('[Match]\nMACAddress=f6:2b:6b:db:ee:8b\n')
    result = run_module(host, {'interfaces': [{'name': 'pjv0', 'rps': '1'}], '_ansible_diff': True})
    assert result['changed'] is True
    assert link_file(host, 'pjv0') is None
    assert result['diff'][1]['before'] == '[Match]\nMACAddress=f6:2b:6b:db:ee:8b\n'
    assert result['diff'][1]['after'] == ''


# ---------------------------------------------------------------- multi-queue virtio (synthetic)

def eth1_host(host):
    host['table'][tuple(LINK_SHOW)] = (0, links('synthetic_virtio_4q_ip_link.json'), '')
    serve(host, 'eth1', 'eth0_virtio', channel_file='synthetic_virtio_4q_ethtool_l.txt',
          ring_file='synthetic_virtio_1024_ethtool_g.txt')


ETH1_READS = [LINK_SHOW, [ETHTOOL, '-i', 'eth1'], [ETHTOOL, '-l', 'eth1'], [ETHTOOL, '-g', 'eth1'],
              [ETHTOOL, '-k', 'eth1']]
SET_CHANNELS = [ETHTOOL, '-L', 'eth1', 'combined', '2']
SET_RINGS = [ETHTOOL, '-G', 'eth1', 'rx', '1024', 'tx', '1024']


def test_channels_and_rings_on_multiqueue_virtio(host):
    eth1_host(host)
    host['table'][tuple(SET_CHANNELS)] = (0, '', '')
    host['table'][tuple(SET_RINGS)] = (0, '', '')
    result = run_module(host, {'driver_defaults': ROLE_DEFAULTS})
    assert host['calls'] == ETH1_READS + [SET_CHANNELS, SET_RINGS]
    assert result['nics']['eth1']['changes'] == ['channels combined 1 -> 2', 'rings rx 256 -> 1024',
                                                 'rings tx 256 -> 1024']
    assert result['nics']['eth1']['skipped']['rps'] == '2 rx queues for 2 CPUs, RPS not needed'
    assert rps_of(host, 'eth1') == '0\n'
    assert 'CombinedChannels=2\nRxBufferSize=1024\nTxBufferSize=1024\n' in link_file(host, 'eth1')
    assert rules_file(host) is None


def test_channels_not_supported_replans_rps(host):
    eth1_host(host)
    host['table'][tuple(SET_CHANNELS)] = (1, '', 'netlink error: Operation not supported\n')
    result = run_module(host, {'interfaces': [{'name': 'eth1', 'channels': 'auto', 'rps': 'auto'}]})
    assert host['calls'] == ETH1_READS + [SET_CHANNELS]
    assert result['nics']['eth1']['skipped'] == {'channels': 'ethtool -L: Operation not supported'}
    assert result['nics']['eth1']['changes'] == ['rps rx-0 0 -> 3']
    assert rps_of(host, 'eth1') == '3\n'
    assert 'CombinedChannels' not in (link_file(host, 'eth1') or '')


def test_channels_other_failure_fails(host):
    eth1_host(host)
    host['table'][tuple(SET_CHANNELS)] = (1, '', fixture('veth_ethtool_L_exceeds.stderr.txt'))
    result = run_module(host, {'interfaces': [{'name': 'eth1', 'channels': 2}]}, expect=FailJson)
    assert result['cmd'] == SET_CHANNELS
    assert result['rc'] == 1
    assert 'requested channel count exceeds maximum' in result['stderr']


# ---------------------------------------------------------------- validation

def test_every_error_reported_at_once_before_any_change(host):
    host['table'][tuple(LINK_SHOW)] = (0, links('eth0_virtio_ip_link.json', 'veth_ip_link.json'), '')
    serve(host, 'eth0', 'eth0_virtio')
    serve(host, 'pjv0', 'veth', rings=False)
    args = {
        'interfaces': [
            {'name': 'eth9', 'mtu': 1500},
            {'name': 'pjv0', 'mtu': 10000, 'channels': 4, 'offloads': {'warp': True}},
            {'name': 'eth0', 'rings': {'rx': 4096}, 'rps': 'xyz'},
        ],
        'driver_defaults': {'veth': 'fast'},
        'mtu_peers': ['nope'],
        'mtu_probe_count': 0,
    }
    result = run_module(host, args, expect=FailJson)
    assert result['errors'] == [
        'interfaces[eth9]: no such interface; existing interfaces: eth0, pjv0',
        "driver_defaults[veth]: 'fast' is not a dict of settings",
        'interfaces[pjv0].mtu: 10000 is outside the 68-9216 this module sets',
        'interfaces[pjv0].channels: 4 asked but veth has no combined channels (its pre-set maximum for combined '
        'channels is n/a); use auto or max to skip such NICs',
        'interfaces[pjv0].offloads.warp: unknown offload for pjv0; accepted: the short names gro, gso, lro, ntuple, '
        'rx, rxhash, rxvlan, sg, tso, tx, txvlan, ufo or a feature name that ethtool -k pjv0 prints',
        'interfaces[eth0].rings.rx: 4096 is above the NIC maximum of 256',
        "interfaces[eth0].rps: 'xyz' is not accepted; use auto, off or a hex CPU mask as a quoted string such as "
        "'3' (comma-separated 32-bit groups allowed)",
        "mtu_peers[0]: 'nope' is not an IPv4 address",
        'mtu_probe_count: 0 must be 1 or more',
    ]
    assert result['msg'] == '9 invalid setting(s), nothing changed: ' + '; '.join(result['errors'])
    assert all(call[1] in ('-j', '-i', '-l', '-g', '-k') for call in host['calls'])
    assert host['probes'] == []
