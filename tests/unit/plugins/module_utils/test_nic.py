# -*- coding: utf-8 -*-
# Copyright: (c) 2026, packetjungle.datapath contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os

import pytest

from ansible_collections.packetjungle.datapath.plugins.module_utils import nic

FIXTURES = os.path.join(os.path.dirname(__file__), '..', '..', 'fixtures', 'nic')
CPUS_2 = (0, 1)
ROLE_DEFAULTS = {'channels': 'auto', 'rings': {'rx': 'max', 'tx': 'max'},
                 'offloads': {'gro': True, 'gso': True, 'tso': True, 'lro': False}, 'rps': 'auto'}


def fixture(name):
    with open(os.path.join(FIXTURES, name)) as f:
        return f.read()


def fake_run(table):
    """run() serving (rc, stdout, stderr) per argv, recording every call."""
    calls = []

    def run(argv):
        calls.append(list(argv))
        return table[tuple(argv)]
    run.calls = calls
    return run


def make_sysfs(root, name, speed=None, rps=None):
    base = root / name
    base.mkdir(parents=True)
    if speed is not None:
        (base / 'speed').write_text(speed + '\n')
    for queue, mask in (rps or {}).items():
        (base / 'queues' / queue).mkdir(parents=True)
        (base / 'queues' / queue / 'rps_cpus').write_text(mask + '\n')
    return str(root)


def state_from(prefix, link_file, name, rps, ring_file=None, channel_file=None):
    """An interface state as read_nic builds it, from captured output (unsupported when the file is None)."""
    link = nic.parse_ip_link(fixture(link_file))[name]
    state = dict(link)
    state['driver'] = nic.parse_ethtool_driver(fixture(prefix + '_ethtool_i.txt'))
    for key, filename, parser, what in (
            ('channels', channel_file, nic.parse_ethtool_channels, 'channel parameters'),
            ('rings', ring_file, nic.parse_ethtool_rings, 'ring parameters')):
        if filename:
            state[key], state[key + '_unsupported'] = parser(fixture(filename)), None
        else:
            state[key] = None
            state[key + '_unsupported'] = '%s reports no %s (Operation not supported)' % (state['driver'], what)
    state['offloads'] = nic.parse_ethtool_features(fixture(prefix + '_ethtool_k.txt'))
    state['offloads_unsupported'] = None
    state['speed'] = None
    state['rps_cpus'] = rps
    return state


def eth0_state(rps=None):
    return state_from('eth0_virtio', 'eth0_virtio_ip_link.json', 'eth0', {'rx-0': '0'} if rps is None else rps,
                      'eth0_virtio_ethtool_g.txt', 'eth0_virtio_ethtool_l.txt')


def eth1_state():
    """Synthetic multi-queue virtio NIC: 4 combined channels offered, 1 used, rings up to 1024."""
    state = state_from('eth0_virtio', 'synthetic_virtio_4q_ip_link.json', 'eth1', {'rx-0': '0'},
                       'synthetic_virtio_1024_ethtool_g.txt', 'synthetic_virtio_4q_ethtool_l.txt')
    return state


def veth_state(rps=None):
    return state_from('veth', 'veth_ip_link.json', 'pjv0', {'rx-0': '0'} if rps is None else rps,
                      None, 'veth_ethtool_l.txt')


def bridge_state():
    return state_from('bridge', 'bridge_ip_link.json', 'pjbr0', {'rx-0': '0'})


def validated(raw, state, cpus=CPUS_2, name='eth0'):
    settings, errors = nic.validate_settings('interfaces[%s]' % name, name, raw, state, cpus)
    assert errors == []
    return settings


# ---------------------------------------------------------------- parsers

def test_parse_ip_link_virtio():
    links = nic.parse_ip_link(fixture('eth0_virtio_ip_link.json'))
    assert links == {'eth0': {
        'mtu': 1400, 'min_mtu': 68, 'max_mtu': 65535, 'qdisc': 'pfifo_fast', 'operstate': 'UP',
        'address': '02:fc:00:00:00:01', 'num_rx_queues': 1, 'num_tx_queues': 1, 'kind': None}}


def test_parse_ip_link_netns_all():
    links = nic.parse_ip_link(fixture('netns_all_ip_link.json'))
    assert sorted(links) == ['lo', 'pjbr0', 'pjv0', 'pjv1']
    assert links['pjv0']['kind'] == 'veth'
    assert links['pjbr0']['kind'] == 'bridge'
    assert links['lo']['max_mtu'] == 0


@pytest.mark.parametrize('text', [fixture('malformed_ip_link_truncated.json'), '', '{"ifname": "x"}',
                                  '[{"mtu": 1500}]', '[1]'])
def test_parse_ip_link_malformed(text):
    with pytest.raises(nic.NicParseError):
        nic.parse_ip_link(text)


def test_parse_ethtool_driver():
    assert nic.parse_ethtool_driver(fixture('eth0_virtio_ethtool_i.txt')) == 'virtio_net'
    assert nic.parse_ethtool_driver(fixture('veth_ethtool_i.txt')) == 'veth'
    assert nic.parse_ethtool_driver(fixture('bridge_ethtool_i.txt')) == 'bridge'
    assert nic.parse_ethtool_driver('driver: \nversion: 1\n') is None


@pytest.mark.parametrize('name', ['malformed_ethtool_i_no_driver.txt', 'empty.txt'])
def test_parse_ethtool_driver_malformed(name):
    with pytest.raises(nic.NicParseError):
        nic.parse_ethtool_driver(fixture(name))


def test_parse_ethtool_channels_virtio():
    assert nic.parse_ethtool_channels(fixture('eth0_virtio_ethtool_l.txt')) == {
        'max': {'rx': None, 'tx': None, 'other': None, 'combined': 1},
        'current': {'rx': None, 'tx': None, 'other': None, 'combined': 1}}


def test_parse_ethtool_channels_veth():
    assert nic.parse_ethtool_channels(fixture('veth_ethtool_l.txt')) == {
        'max': {'rx': 2, 'tx': 2, 'other': None, 'combined': None},
        'current': {'rx': 1, 'tx': 1, 'other': None, 'combined': None}}


def test_parse_ethtool_rings_virtio():
    assert nic.parse_ethtool_rings(fixture('eth0_virtio_ethtool_g.txt')) == {
        'max': {'rx': 256, 'rx_mini': None, 'rx_jumbo': None, 'tx': 256},
        'current': {'rx': 256, 'rx_mini': None, 'rx_jumbo': None, 'tx': 256}}


@pytest.mark.parametrize('parser,name,message', [
    (nic.parse_ethtool_channels, 'malformed_ethtool_l_truncated.txt', 'current section lacks other, combined'),
    (nic.parse_ethtool_channels, 'empty.txt', 'max section lacks rx, tx, other, combined'),
    (nic.parse_ethtool_channels, 'eth0_virtio_ethtool_g.txt', 'lacks other, combined'),
    (nic.parse_ethtool_rings, 'malformed_ethtool_g_value.txt', "'lots' is neither a number nor n/a"),
    (nic.parse_ethtool_rings, 'eth0_virtio_ethtool_l.txt', 'lacks rx_mini, rx_jumbo'),
])
def test_parse_max_current_malformed(parser, name, message):
    with pytest.raises(nic.NicParseError, match=message):
        parser(fixture(name))


def test_parse_ethtool_features_virtio():
    features = nic.parse_ethtool_features(fixture('eth0_virtio_ethtool_k.txt'))
    assert features['generic-receive-offload'] == {'enabled': True, 'fixed': False}
    assert features['large-receive-offload'] == {'enabled': False, 'fixed': True}
    assert features['rx-checksumming'] == {'enabled': True, 'fixed': True}
    assert features['tx-tcp6-segmentation'] == {'enabled': True, 'fixed': False}
    assert features['rx-udp-gro-forwarding'] == {'enabled': False, 'fixed': False}
    assert len(features) == 63


def test_parse_ethtool_features_requested_annotation():
    text = 'Features for x:\ntx-checksumming: on\n\ttx-checksum-ipv6: off [requested on]\n'
    assert nic.parse_ethtool_features(text) == {
        'tx-checksumming': {'enabled': True, 'fixed': False},
        'tx-checksum-ipv6': {'enabled': False, 'fixed': False}}


@pytest.mark.parametrize('name', ['malformed_ethtool_k_truncated.txt', 'empty.txt', 'eth0_virtio_ethtool_l.txt'])
def test_parse_ethtool_features_malformed(name):
    with pytest.raises(nic.NicParseError):
        nic.parse_ethtool_features(fixture(name))


def test_parse_route_dev():
    assert nic.parse_route_dev(fixture('veth_ip_route_get.json')) == 'pjv0'
    assert nic.parse_route_dev('') is None
    assert nic.parse_route_dev('[]') is None


def test_is_unsupported_on_captured_errors():
    assert nic.is_unsupported('', fixture('veth_ethtool_g.stderr.txt'))
    assert nic.is_unsupported('', fixture('lo_ethtool_i.stderr.txt'))
    assert not nic.is_unsupported('', fixture('veth_ethtool_L_exceeds.stderr.txt'))
    assert not nic.is_unsupported(fixture('veth_ethtool_K_fixed.txt'), fixture('veth_ethtool_K_fixed.stderr.txt'))


# ---------------------------------------------------------------- masks

@pytest.mark.parametrize('text,mask', [('0', 0), ('3', 3), ('00000000,00000003', 3), ('ff,ffffffff', 2 ** 40 - 1),
                                       ('F\n', 15)])
def test_parse_cpu_mask(text, mask):
    assert nic.parse_cpu_mask(text) == mask


@pytest.mark.parametrize('text', ['xyz', '123456789', '0x3', '', '3,', ',3'])
def test_parse_cpu_mask_invalid(text):
    with pytest.raises(ValueError):
        nic.parse_cpu_mask(text)


@pytest.mark.parametrize('mask,text', [(0, '0'), (3, '3'), (2 ** 32 - 1, 'ffffffff'), (2 ** 33 - 1, '1,ffffffff'),
                                       (1 << 64, '1,00000000,00000000')])
def test_format_cpu_mask(mask, text):
    assert nic.format_cpu_mask(mask) == text
    assert nic.parse_cpu_mask(text) == mask


def test_cpu_lists():
    assert nic.cpus_to_mask([0, 1]) == 3
    assert nic.cpus_to_mask([4, 5, 6, 7]) == 0xf0
    assert nic.mask_to_cpu_list(0b1011) == '0-1,3'
    assert nic.mask_to_cpu_list(0) == 'none'


# ---------------------------------------------------------------- readers

def test_read_nic_veth_without_rings(tmp_path):
    sysfs = make_sysfs(tmp_path, 'pjv0', speed='10000', rps={'rx-0': '0'})
    run = fake_run({
        ('ethtool', '-i', 'pjv0'): (0, fixture('veth_ethtool_i.txt'), ''),
        ('ethtool', '-l', 'pjv0'): (0, fixture('veth_ethtool_l.txt'), ''),
        ('ethtool', '-g', 'pjv0'): (1, '', fixture('veth_ethtool_g.stderr.txt')),
        ('ethtool', '-k', 'pjv0'): (0, fixture('veth_ethtool_k.txt'), ''),
    })
    link = nic.parse_ip_link(fixture('veth_ip_link.json'))['pjv0']
    state = nic.read_nic(run, 'ethtool', 'pjv0', link, sysfs)
    assert run.calls == [['ethtool', '-i', 'pjv0'], ['ethtool', '-l', 'pjv0'], ['ethtool', '-g', 'pjv0'],
                         ['ethtool', '-k', 'pjv0']]
    assert state['driver'] == 'veth'
    assert state['rings'] is None
    assert state['rings_unsupported'] == 'veth reports no ring parameters (Operation not supported)'
    assert state['channels_unsupported'] is None
    assert state['speed'] == 10000
    assert state['rps_cpus'] == {'rx-0': '0'}


def test_read_nic_lo_has_no_driver(tmp_path):
    sysfs = str(tmp_path)
    run = fake_run({
        ('ethtool', '-l', 'lo'): (1, '', fixture('lo_ethtool_l.stderr.txt')),
        ('ethtool', '-g', 'lo'): (1, '', fixture('lo_ethtool_g.stderr.txt')),
        ('ethtool', '-i', 'lo'): (71, '', fixture('lo_ethtool_i.stderr.txt')),
        ('ethtool', '-k', 'lo'): (0, fixture('lo_ethtool_k.txt'), ''),
    })
    link = nic.parse_ip_link(fixture('netns_all_ip_link.json'))['lo']
    state = nic.read_nic(run, 'ethtool', 'lo', link, sysfs)
    assert state['driver'] is None
    assert state['channels_unsupported'] == 'lo reports no channel parameters (Operation not supported)'
    assert state['speed'] is None
    assert state['rps_cpus'] == {}


def test_read_nic_known_driver_skips_ethtool_i(tmp_path):
    run = fake_run({
        ('ethtool', '-l', 'pjbr0'): (1, '', fixture('bridge_ethtool_l.stderr.txt')),
        ('ethtool', '-g', 'pjbr0'): (1, '', fixture('bridge_ethtool_g.stderr.txt')),
        ('ethtool', '-k', 'pjbr0'): (0, fixture('bridge_ethtool_k.txt'), ''),
    })
    link = nic.parse_ip_link(fixture('bridge_ip_link.json'))['pjbr0']
    state = nic.read_nic(run, 'ethtool', 'pjbr0', link, str(tmp_path), 'bridge')
    assert [c[1] for c in run.calls] == ['-l', '-g', '-k']
    assert state['channels_unsupported'] == 'bridge reports no channel parameters (Operation not supported)'


def test_read_nic_other_failure_raises(tmp_path):
    run = fake_run({
        ('ethtool', '-i', 'eth0'): (0, fixture('eth0_virtio_ethtool_i.txt'), ''),
        ('ethtool', '-l', 'eth0'): (76, '', 'netlink error: No such device\n'),
    })
    with pytest.raises(nic.NicCommandError) as e:
        nic.read_nic(run, 'ethtool', 'eth0', {'mtu': 1400}, str(tmp_path))
    assert e.value.cmd == ['ethtool', '-l', 'eth0']
    assert e.value.rc == 76


def test_read_nic_parse_error_names_command(tmp_path):
    run = fake_run({
        ('ethtool', '-i', 'eth0'): (0, fixture('eth0_virtio_ethtool_i.txt'), ''),
        ('ethtool', '-l', 'eth0'): (0, fixture('malformed_ethtool_l_truncated.txt'), ''),
    })
    with pytest.raises(nic.NicParseError, match='^ethtool -l eth0: ethtool -l output truncated'):
        nic.read_nic(run, 'ethtool', 'eth0', {'mtu': 1400}, str(tmp_path))


def test_read_speed_and_rps(tmp_path):
    sysfs = make_sysfs(tmp_path, 'eth0', speed='-1',
                       rps={'rx-10': '1', 'rx-2': '2', 'rx-0': '00000000,00000003'})
    (tmp_path / 'eth0' / 'queues' / 'tx-0').mkdir()
    assert nic.read_speed(sysfs, 'eth0') is None
    assert nic.read_speed(sysfs, 'missing') is None
    expected = [('rx-0', '00000000,00000003'), ('rx-2', '2'), ('rx-10', '1')]
    assert list(nic.read_rps(sysfs, 'eth0').items()) == expected
    assert nic.read_rps(sysfs, 'missing') == {}


def test_read_links():
    run = fake_run({('ip', '-j', '-d', 'link', 'show'): (0, fixture('netns_all_ip_link.json'), '')})
    assert sorted(nic.read_links(run, 'ip')) == ['lo', 'pjbr0', 'pjv0', 'pjv1']


# ---------------------------------------------------------------- validation

def test_validate_normalises():
    settings = validated({'mtu': 1400, 'channels': 'auto', 'rings': {'rx': 'max', 'tx': '256'},
                          'offloads': {'gro': True, 'tx-tcp6-segmentation': 'off', 'lro': False}, 'rps': 'off'},
                         eth0_state())
    assert settings == {'mtu': 1400, 'channels': 'auto', 'rings': {'rx': 'max', 'tx': 256},
                        'offloads': {'generic-receive-offload': True, 'tx-tcp6-segmentation': False,
                                     'large-receive-offload': False},
                        'rps': 0}


@pytest.mark.parametrize('rps,expected', [(False, 0), ('auto', 'auto'), ('3', 3), ('00000000,00000001', 1)])
def test_validate_rps_values(rps, expected):
    assert validated({'rps': rps}, eth0_state()) == {'rps': expected}


@pytest.mark.parametrize('raw,state,error', [
    ({'mtu': 10000}, eth0_state, 'interfaces[eth0].mtu: 10000 is outside the 68-9216 this module sets'),
    ({'mtu': 67}, eth0_state, 'interfaces[eth0].mtu: 67 is outside the 68-9216 this module sets'),
    ({'mtu': 'big'}, eth0_state, "interfaces[eth0].mtu: 'big' is not an integer; accepted: 68-9216 within the "
                                 "NIC's min_mtu/max_mtu"),
    ({'mtu': 9216}, eth1_state, 'interfaces[eth0].mtu: 9216 is above the 9000 the NIC accepts (max_mtu 9000)'),
    ({'channels': 'lots'}, eth0_state, "interfaces[eth0].channels: 'lots' is not accepted; use auto, max or a "
                                       "positive integer"),
    ({'channels': 0}, eth0_state, 'interfaces[eth0].channels: 0 is not accepted'),
    ({'channels': 2}, eth0_state, 'interfaces[eth0].channels: 2 is above the NIC maximum of 1 combined channels'),
    ({'channels': 1}, veth_state, 'interfaces[eth0].channels: 1 asked but veth has no combined channels (its '
                                  'pre-set maximum for combined channels is n/a); use auto or max to skip such NICs'),
    ({'channels': 1}, bridge_state, 'interfaces[eth0].channels: 1 asked but bridge has no combined channels (bridge '
                                    'reports no channel parameters (Operation not supported))'),
    ({'rings': {'rx': 4096}}, eth0_state, 'interfaces[eth0].rings.rx: 4096 is above the NIC maximum of 256'),
    ({'rings': {'rx': 'huge'}}, eth0_state, "interfaces[eth0].rings.rx: 'huge' is not accepted; use max or a "
                                            "positive integer"),
    ({'rings': {'rx_mini': 1}}, eth0_state, "interfaces[eth0].rings: unknown key 'rx_mini'; accepted: rx, tx"),
    ({'rings': 'max'}, eth0_state, "interfaces[eth0].rings: 'max' is not a dict; accepted keys: rx, tx"),
    ({'offloads': {'turbo': True}}, eth0_state, 'interfaces[eth0].offloads.turbo: unknown offload for eth0; '
                                                'accepted: the short names gro, gso, lro, ntuple, rx, rxhash, '
                                                'rxvlan, sg, tso, tx, txvlan, ufo or a feature name that '
                                                'ethtool -k eth0 prints'),
    ({'offloads': {'ufo': True}}, eth0_state, 'interfaces[eth0].offloads.ufo: unknown offload for eth0'),
    ({'offloads': {'gro': 'maybe'}}, eth0_state, "interfaces[eth0].offloads.gro: 'maybe' is not a boolean"),
    ({'rps': 'xyz'}, eth0_state, "interfaces[eth0].rps: 'xyz' is not accepted; use auto, off or a hex CPU mask"),
    ({'rps': 10}, eth0_state, 'interfaces[eth0].rps: 10 is not accepted'),
    ({'rps': True}, eth0_state, 'interfaces[eth0].rps: True is not accepted'),
    ({'rps': 'f0'}, eth0_state, "interfaces[eth0].rps: 'f0' names CPUs 4-7 that are not usable here; usable CPUs: "
                                "0-1 (mask 3)"),
    ({'speed': 1}, eth0_state, "interfaces[eth0]: unknown setting 'speed'; accepted: mtu, channels, rings, "
                               "offloads, rps"),
])
def test_validate_errors(raw, state, error):
    settings, errors = nic.validate_settings('interfaces[eth0]', 'eth0', raw, state(), CPUS_2)
    assert len(errors) == 1
    assert errors[0].startswith(error)


def test_validate_mtu_below_nic_minimum():
    state = eth0_state()
    state['min_mtu'] = 1280
    settings, errors = nic.validate_settings('p', 'eth0', {'mtu': 1000}, state, CPUS_2)
    assert errors == ['p.mtu: 1000 is below the 1280 the NIC accepts (min_mtu 1280)']


def test_validate_reports_every_error_at_once():
    raw = {'mtu': 10000, 'channels': 8, 'rings': {'tx': 4096}, 'offloads': {'warp': True}, 'rps': 'zz'}
    settings, errors = nic.validate_settings('driver_defaults[virtio_net] on eth0', 'eth0', raw, eth0_state(),
                                             CPUS_2)
    assert settings == {}
    assert [e.split(':')[0] for e in errors] == [
        'driver_defaults[virtio_net] on eth0.mtu', 'driver_defaults[virtio_net] on eth0.channels',
        'driver_defaults[virtio_net] on eth0.rings.tx', 'driver_defaults[virtio_net] on eth0.offloads.warp',
        'driver_defaults[virtio_net] on eth0.rps']


def test_validate_rings_on_nic_without_rings_is_left_to_the_planner():
    assert validated({'rings': {'rx': 512}}, veth_state()) == {'rings': {'rx': 512}}


# ---------------------------------------------------------------- planning

def test_plan_role_defaults_on_the_real_virtio_nic():
    plan = nic.plan_interface('eth0', eth0_state(), validated(ROLE_DEFAULTS, eth0_state()), CPUS_2)
    assert plan['skipped'] == {
        'channels': 'NIC maximum is 1 combined, already 1',
        'rings rx': 'NIC maximum is 256, already 256',
        'rings tx': 'NIC maximum is 256, already 256',
        'offload large-receive-offload': 'fixed off by the driver',
    }
    assert plan['changes'] == [{'setting': 'rps', 'diff': [('rps rx-0', '0', '3')],
                                'writes': [('queues/rx-0/rps_cpus', '3')]}]
    assert plan['link'] == {'GenericReceiveOffload': 'true', 'GenericSegmentationOffload': 'true',
                            'TCPSegmentationOffload': 'true', 'TCP6SegmentationOffload': 'true'}
    assert plan['rps'] == {'rx-0': '3'}


def test_plan_role_defaults_when_already_applied():
    state = eth0_state(rps={'rx-0': '3'})
    plan = nic.plan_interface('eth0', state, validated(ROLE_DEFAULTS, state), CPUS_2)
    assert plan['changes'] == []
    assert plan['rps'] == {'rx-0': '3'}


@pytest.mark.parametrize('channels,cpus,target', [('auto', [0, 1], 2), ('auto', list(range(8)), 4), ('max', [0], 4),
                                                  (3, [0, 1], 3)])
def test_plan_channels_multiqueue(channels, cpus, target):
    state = eth1_state()
    plan = nic.plan_interface('eth1', state, validated({'channels': channels}, state, cpus), cpus,
                              ethtool_bin='/usr/sbin/ethtool')
    assert plan['changes'] == [{'setting': 'channels', 'diff': [('channels combined', '1', str(target))],
                                'argv': ['/usr/sbin/ethtool', '-L', 'eth1', 'combined', str(target)],
                                'link': {'CombinedChannels': str(target)}, 'combined': target}]


def test_plan_channels_explicit_already_set_is_persisted():
    state = eth0_state()
    plan = nic.plan_interface('eth0', state, {'channels': 1}, CPUS_2)
    assert plan['changes'] == [] and plan['skipped'] == {}
    assert plan['link'] == {'CombinedChannels': '1'}


def test_plan_channels_auto_satisfied_below_maximum_is_persisted():
    state = eth1_state()
    state['channels']['current']['combined'] = 2
    plan = nic.plan_interface('eth1', state, {'channels': 'auto'}, CPUS_2)
    assert plan['changes'] == [] and plan['skipped'] == {}
    assert plan['link'] == {'CombinedChannels': '2'}


def test_plan_channels_skips():
    assert nic.plan_interface('pjv0', veth_state(), {'channels': 'auto'}, CPUS_2)['skipped'] == {
        'channels': 'veth has no combined channels (pre-set maximum n/a)'}
    assert nic.plan_interface('pjbr0', bridge_state(), {'channels': 'max'}, CPUS_2)['skipped'] == {
        'channels': 'bridge reports no channel parameters (Operation not supported)'}


def test_plan_rings():
    state = eth1_state()
    plan = nic.plan_interface('eth1', state, {'rings': {'rx': 'max', 'tx': 'max'}}, CPUS_2)
    assert plan['changes'] == [{'setting': 'rings', 'diff': [('rings rx', '256', '1024'), ('rings tx', '256', '1024')],
                                'argv': ['ethtool', '-G', 'eth1', 'rx', '1024', 'tx', '1024'],
                                'link': {'RxBufferSize': '1024', 'TxBufferSize': '1024'}}]
    plan = nic.plan_interface('eth1', state, {'rings': {'rx': 512, 'tx': 256}}, CPUS_2)
    assert plan['changes'][0]['argv'] == ['ethtool', '-G', 'eth1', 'rx', '512']
    assert plan['link'] == {'TxBufferSize': '256'}


def test_plan_rings_skips():
    assert nic.plan_interface('pjv0', veth_state(), {'rings': {'rx': 'max'}}, CPUS_2)['skipped'] == {
        'rings': 'veth reports no ring parameters (Operation not supported)'}
    state = eth0_state()
    state['rings']['max']['tx'] = None
    assert nic.plan_interface('eth0', state, {'rings': {'tx': 512}}, CPUS_2)['skipped'] == {
        'rings tx': 'NIC reports no tx ring size (n/a)'}


def test_plan_offloads_on_veth():
    state = veth_state()
    settings = validated({'offloads': {'gro': True, 'lro': True, 'gso': True, 'rx-gro-list': True}}, state)
    plan = nic.plan_interface('pjv0', state, settings, CPUS_2)
    assert plan['changes'] == [{
        'setting': 'offloads',
        'diff': [('offload generic-receive-offload', 'off', 'on'), ('offload rx-gro-list', 'off', 'on')],
        'argv': ['ethtool', '-K', 'pjv0', 'generic-receive-offload', 'on', 'rx-gro-list', 'on'],
        'features': {'generic-receive-offload': True, 'rx-gro-list': True},
        'link': {'GenericReceiveOffload': 'true'}}]
    assert plan['skipped'] == {
        'offload large-receive-offload': 'fixed off by the driver, cannot turn it on',
        'offload rx-gro-list persist': 'no systemd .link key for it: runtime only'}
    assert plan['link'] == {'GenericSegmentationOffload': 'true'}
    assert 'offload rx-gro-list persist' not in nic.plan_interface('pjv0', state, settings, CPUS_2,
                                                                   persist=False)['skipped']


def test_plan_offloads_unsupported():
    state = veth_state()
    state['offloads'], state['offloads_unsupported'] = None, 'x reports no offload features (Operation not supported)'
    assert nic.plan_interface('pjv0', state, {'offloads': {'generic-receive-offload': True}}, CPUS_2)['skipped'] == {
        'offloads': 'x reports no offload features (Operation not supported)'}


def test_plan_rps():
    four = [0, 1, 2, 3]
    assert nic.plan_interface('pjv0', veth_state(), {'rps': 'auto'}, four)['changes'][0]['writes'] == [
        ('queues/rx-0/rps_cpus', 'f')]
    two_queues = veth_state(rps={'rx-0': '0', 'rx-1': '0'})
    assert nic.plan_interface('pjv0', two_queues, {'rps': 'auto'}, CPUS_2)['skipped'] == {
        'rps': '2 rx queues for 2 CPUs, RPS not needed'}
    plan = nic.plan_interface('pjv0', two_queues, {'rps': 2}, CPUS_2)
    assert plan['changes'][0]['diff'] == [('rps rx-0', '0', '2'), ('rps rx-1', '0', '2')]
    assert nic.plan_interface('pjv0', veth_state(rps={}), {'rps': 0}, CPUS_2)['skipped'] == {
        'rps': 'no queues/rx-*/rps_cpus in sysfs (kernel without CONFIG_RPS?)'}


def test_plan_rps_equal_masks_in_other_notation_are_no_change():
    plan = nic.plan_interface('pjv0', veth_state(rps={'rx-0': '00000000,00000003'}), {'rps': 3}, CPUS_2)
    assert plan['changes'] == []
    assert plan['rps'] == {'rx-0': '3'}


def test_plan_rps_follows_the_planned_channel_count():
    state = eth1_state()
    plan = nic.plan_interface('eth1', state, {'channels': 'auto', 'rps': 'auto'}, CPUS_2)
    assert [c['setting'] for c in plan['changes']] == ['channels']
    assert plan['skipped'] == {'rps': '2 rx queues for 2 CPUs, RPS not needed'}
    plan = nic.plan_interface('eth1', state, {'channels': 2, 'rps': 1}, [0, 1, 2])
    assert plan['changes'][1]['diff'] == [('rps rx-0', '0', '1'), ('rps rx-1', '(new queue)', '1')]


def test_plan_mtu():
    state = veth_state()
    plan = nic.plan_interface('pjv0', state, {'mtu': 9000}, CPUS_2, ip_bin='/usr/sbin/ip')
    assert plan['changes'] == [{
        'setting': 'mtu', 'diff': [('mtu', '1500', '9000')],
        'argv': ['/usr/sbin/ip', 'link', 'set', 'dev', 'pjv0', 'mtu', '9000'],
        'rollback_argv': ['/usr/sbin/ip', 'link', 'set', 'dev', 'pjv0', 'mtu', '1500'],
        'old': 1500, 'new': 9000, 'link': {'MTUBytes': '9000'}}]
    plan = nic.plan_interface('pjv0', state, {'mtu': 1500}, CPUS_2)
    assert plan['changes'] == [] and plan['link'] == {'MTUBytes': '1500'}


def test_plan_orders_mtu_first_and_rps_last():
    state = eth1_state()
    settings = {'rps': 1, 'offloads': {'generic-receive-offload': False}, 'rings': {'rx': 'max'},
                'channels': 'max', 'mtu': 9000}
    plan = nic.plan_interface('eth1', state, settings, CPUS_2)
    assert [c['setting'] for c in plan['changes']] == ['mtu', 'channels', 'rings', 'offloads', 'rps']


def test_change_texts():
    change = {'diff': [('rings rx', '256', '1024'), ('rings tx', '256', '1024')]}
    assert nic.change_texts(change) == ['rings rx 256 -> 1024', 'rings tx 256 -> 1024']


@pytest.mark.parametrize('old,new,reachable,expected', [
    (1500, 9000, ['10.0.0.2'], ('verify', None)),
    (1500, 1400, ['10.0.0.2'], ('verify', None)),
    (1500, 1400, [], ('apply', 'no peer answered at the current MTU 1500, so the decrease to 1400 is not verified')),
    (1500, 9000, [], ('skip', 'cannot verify: no peer answered at the current MTU 1500')),
])
def test_mtu_precheck(old, new, reachable, expected):
    assert nic.mtu_precheck(old, new, reachable) == expected


def test_ipv4_peers():
    peers, errors, warnings = nic.ipv4_peers(['10.0.0.2', ' 10.0.0.3', '10.0.0.2', 'nope', '::1'],
                                             '10.0.0.9 51000 10.0.0.1 22')
    assert peers == ['10.0.0.2', '10.0.0.3', '10.0.0.9']
    assert errors == ["mtu_peers[3]: 'nope' is not an IPv4 address", "mtu_peers[4]: '::1' is not an IPv4 address"]
    assert warnings == []
    assert nic.ipv4_peers([], '::ffff:10.0.0.9 51000 ::ffff:10.0.0.1 22')[0] == ['10.0.0.9']
    peers, errors, warnings = nic.ipv4_peers([], 'fe80::1 51000 fe80::2 22')
    assert peers == [] and warnings == ['SSH client fe80::1 is not IPv4; the MTU probe is IPv4 only, so it is not used']


# ---------------------------------------------------------------- persistence

def test_render_link_file():
    content = nic.render_link_file('pjv0', 'f6:2b:6b:db:ee:8b', 'veth',
                                   {'GenericReceiveOffload': 'true', 'MTUBytes': '9000',
                                    'TCP6SegmentationOffload': 'false', 'TCPSegmentationOffload': 'false'})
    assert content == (
        '# Managed by packetjungle.datapath (nic_settings) for pjv0: local edits are overwritten.\n'
        '# Only the first .link file (in lexical order) that matches a device is applied, so this file\n'
        '# would drop the naming and MAC policies of 99-default.link: they are copied into [Link].\n'
        '[Match]\n'
        'MACAddress=f6:2b:6b:db:ee:8b\n'
        '# A VLAN or bridge on top inherits the MAC address; Driver= keeps them out.\n'
        'Driver=veth\n'
        '\n'
        '[Link]\n'
        'NamePolicy=keep kernel database onboard slot path\n'
        'AlternativeNamesPolicy=database onboard slot path\n'
        'MACAddressPolicy=persistent\n'
        'MTUBytes=9000\n'
        'TCPSegmentationOffload=false\n'
        'TCP6SegmentationOffload=false\n'
        'GenericReceiveOffload=true\n')
    assert nic.link_file_name('pjv0') == '10-packetjungle-pjv0.link'


def test_render_link_file_without_mac_or_driver():
    content = nic.render_link_file('tun0', '00:00:00:00:00:00', None, {'MTUBytes': '1400'})
    assert '[Match]\nOriginalName=tun0\n\n[Link]\n' in content
    assert 'Driver=' not in content
    assert nic.render_link_file('tun0', None, None, {}) is None


def test_render_rps_rules():
    content = nic.render_rps_rules(None, {'eth0': {'rx-0': '3', 'rx-1': '3'}}, {'eth0'})
    assert content == nic.RULES_HEADER + (
        'ACTION=="add", SUBSYSTEM=="net", KERNEL=="eth0", ATTR{queues/rx-0/rps_cpus}="3"\n'
        'ACTION=="add", SUBSYSTEM=="net", NAME=="eth0", ATTR{queues/rx-0/rps_cpus}="3"\n'
        'ACTION=="add", SUBSYSTEM=="net", KERNEL=="eth0", ATTR{queues/rx-1/rps_cpus}="3"\n'
        'ACTION=="add", SUBSYSTEM=="net", NAME=="eth0", ATTR{queues/rx-1/rps_cpus}="3"\n')
    assert nic.render_rps_rules(content, {'eth0': {'rx-0': '3', 'rx-1': '3'}}, {'eth0'}) == content


def test_render_rps_rules_keeps_other_interfaces_and_drops_managed_ones():
    existing = nic.render_rps_rules(None, {'eth0': {'rx-0': '3'}, 'eth1': {'rx-0': '1'}}, {'eth0', 'eth1'})
    updated = nic.render_rps_rules(existing, {'eth0': {'rx-0': '2'}}, {'eth0'})
    assert updated == nic.render_rps_rules(None, {'eth0': {'rx-0': '2'}, 'eth1': {'rx-0': '1'}}, {'eth0', 'eth1'})
    assert 'eth1", ATTR{queues/rx-0/rps_cpus}="1"' in updated
    only_eth1 = nic.render_rps_rules(existing, {}, {'eth0'})
    assert 'eth0' not in only_eth1.replace(nic.RULES_HEADER, '')
    assert nic.render_rps_rules(only_eth1, {}, {'eth1'}) is None


# --- SSH client behind become -------------------------------------------------

def test_parse_proc_stat_ppid_with_spaces_and_parens_in_name():
    # Captured format of /proc/PID/stat: pid (comm) state ppid ...
    assert nic.parse_proc_stat_ppid('4242 (python3 (x) y) S 4200 4242 4200 0 -1') == 4200
    assert nic.parse_proc_stat_ppid('garbage') is None
    assert nic.parse_proc_stat_ppid('') is None


def test_find_ssh_connection_walks_up_to_the_sshd_shell():
    # module (no var, sudo reset it) -> sudo -> sh started by sshd (has it)
    environ = {30: 'PATH=/usr/bin\0', 20: 'SUDO_USER=root\0', 10: 'SSH_CONNECTION=10.0.0.1 1 10.0.0.2 22\0'}
    stat = {30: '30 (python3) S 20', 20: '20 (sudo) S 10', 10: '10 (sh) S 1'}
    found = nic.find_ssh_connection(30, environ.get, stat.get)
    assert found == '10.0.0.1 1 10.0.0.2 22'


def test_find_ssh_connection_none_when_no_ancestor_has_it():
    environ = {30: 'A=1\0', 20: None}
    stat = {30: '30 (python3) S 20', 20: '20 (bash) S 1'}
    assert nic.find_ssh_connection(30, environ.get, stat.get) is None


def test_find_ssh_connection_is_bounded():
    # A cycle (cannot happen in /proc, but the walk must stop anyway).
    stat = {5: '5 (a) S 6', 6: '6 (b) S 5'}
    assert nic.find_ssh_connection(5, lambda pid: '', stat.get, max_depth=4) is None
