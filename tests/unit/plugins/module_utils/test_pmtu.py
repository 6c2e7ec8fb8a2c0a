"""pmtu: the binary search, the overhead table and the per-peer analysis, plus the
ip -j route get / ip -j link show parsers fed with output captured from netns."""
import math
import os

import pytest

from ansible_collections.packetjungle.datapath.plugins.module_utils.pmtu import (
    RouteParseError,
    analyse,
    discover,
    overhead,
    parse_link_mtu,
    parse_route_get,
)

FIXTURES = os.path.join(os.path.dirname(__file__), '..', '..', 'fixtures', 'datapath')


def fixture(name):
    with open(os.path.join(FIXTURES, name)) as f:
        return f.read()


def path_with_mtu(mtu, count=3):
    """A path that answers every request up to mtu bytes and none above."""
    return lambda size: count if size <= mtu else 0


@pytest.mark.parametrize('mtu', [576, 577, 1000, 1279, 1280, 1399, 1400, 1401, 1499])
def test_discover_finds_every_mtu_below_the_interface(mtu):
    found = discover(path_with_mtu(mtu), 576, 1500, 3)
    assert found['path_mtu'] == mtu
    assert found['reached_max'] is False
    assert found['consistent'] is True


def test_discover_tries_the_largest_size_first_and_then_the_smallest():
    found = discover(path_with_mtu(1400), 576, 1500, 3)
    assert [p['size'] for p in found['probes'][:2]] == [1500, 576]
    assert found['probes'][-1] == {'size': 1400, 'replies': 3}


def test_discover_healthy_path_costs_two_probes():
    found = discover(path_with_mtu(9000), 576, 1500, 3)
    assert found['path_mtu'] == 1500
    assert found['reached_max'] is True
    assert found['probes'] == [{'size': 1500, 'replies': 3}, {'size': 1500, 'replies': 3}]


def test_discover_probe_count_is_logarithmic():
    found = discover(path_with_mtu(1234), 576, 9000, 3)
    assert found['path_mtu'] == 1234
    assert len(found['probes']) <= math.ceil(math.log2(9000 - 576)) + 3


def test_discover_unreachable_peer():
    found = discover(path_with_mtu(100), 576, 1500, 3)
    assert found['path_mtu'] is None
    assert found['probes'] == [{'size': 1500, 'replies': 0}, {'size': 576, 'replies': 0}]


def test_discover_single_size():
    assert discover(path_with_mtu(1500), 1500, 1500, 1)['path_mtu'] == 1500
    found = discover(path_with_mtu(1400), 1500, 1500, 1)
    assert found['path_mtu'] is None
    assert len(found['probes']) == 1


def test_discover_rejects_inverted_bounds():
    with pytest.raises(ValueError, match='low 1500 is above high 1400'):
        discover(path_with_mtu(1400), 1500, 1400, 3)


def test_discover_flags_a_size_that_stops_answering():
    answered = set()

    def flaky(size):
        # Every size up to 1400 answers exactly once.
        if size <= 1400 and size not in answered:
            answered.add(size)
            return 3
        return 0

    found = discover(flaky, 576, 1500, 3)
    assert found['path_mtu'] == 1400
    assert found['consistent'] is False


def test_overhead_table():
    assert overhead('native') == 0
    assert overhead('vxlan') == 50
    assert overhead('geneve') == 50
    assert overhead('geneve', 12) == 62
    assert overhead('wireguard') == 80
    assert overhead('vxlan+wireguard') == 130


@pytest.mark.parametrize('encapsulation, options, message', [
    ('gre', 0, "encapsulation: 'gre' is not one of"),
    ('vxlan', 8, 'geneve_option_bytes: 8 needs encapsulation geneve, not vxlan'),
    ('geneve', 10, 'geneve_option_bytes: 10 is not a multiple of 4 between 0 and 252'),
    ('geneve', 256, 'geneve_option_bytes: 256 is not a multiple of 4'),
    ('geneve', -4, 'geneve_option_bytes: -4 is not a multiple of 4'),
])
def test_overhead_errors(encapsulation, options, message):
    with pytest.raises(ValueError, match=message):
        overhead(encapsulation, options)


def run_analysis(mtu, interface_mtu=1500, encapsulation='native', expect_mtu=None, low=576, high=None, count=3,
                 probe=None):
    found = discover(probe or path_with_mtu(mtu, count), low, high or interface_mtu, count)
    return analyse('10.0.0.2', found, 'eth0', interface_mtu, encapsulation, overhead(encapsulation), count, low,
                   expect_mtu)


def test_analyse_interface_above_path():
    report, problems = run_analysis(1400)
    assert report['path_mtu'] == 1400
    assert report['max_pod_mtu'] == 1400
    assert report['problems'] == problems
    assert problems == ['10.0.0.2: interface eth0 MTU 1500 is above the path MTU 1400: packets of 1401-1500 bytes '
                        'are fragmented, or black-holed when they carry DF (TCP with PMTU discovery, overlay traffic)']


def test_analyse_overlay_names_the_pod_mtu_cilium_would_pick():
    report, problems = run_analysis(1400, encapsulation='vxlan')
    assert report['overhead'] == 50
    assert report['max_pod_mtu'] == 1350
    assert problems[0].endswith('Cilium derives the pod MTU from the interface MTU and would give pods 1450, above '
                                'the 1350 this path carries with vxlan')


def test_analyse_matching_mtu_is_clean():
    report, problems = run_analysis(1500, encapsulation='geneve')
    assert problems == []
    assert report['path_mtu'] == 1500
    assert report['path_mtu_at_least'] is False
    assert report['max_pod_mtu'] == 1450


def test_analyse_max_below_interface_is_not_a_mismatch():
    report, problems = run_analysis(9000, interface_mtu=9000, high=1500)
    assert problems == []
    assert report['path_mtu'] == 1500
    assert report['path_mtu_at_least'] is True


def test_analyse_expect_mtu():
    _report, problems = run_analysis(1400, interface_mtu=1400, expect_mtu=1500)
    assert problems == ['10.0.0.2: path MTU 1400 is below expect_mtu 1500']
    _report, problems = run_analysis(1500, interface_mtu=1500, expect_mtu=1500)
    assert problems == []


def test_analyse_expect_mtu_above_the_interface_mtu():
    report, problems = run_analysis(9000, interface_mtu=1500, expect_mtu=9000)
    assert report['path_mtu_at_least'] is False
    assert problems == ['10.0.0.2: path MTU 1500 is below expect_mtu 9000']


def test_analyse_expect_mtu_above_what_was_probed():
    _report, problems = run_analysis(9000, interface_mtu=9000, high=1500, expect_mtu=9000)
    assert problems == ['10.0.0.2: only sizes up to max_mtu 1500 were probed, below expect_mtu 9000: raise max_mtu '
                        'to check it']


def test_analyse_unreachable():
    report, problems = run_analysis(0)
    assert report['path_mtu'] is None
    assert report['max_pod_mtu'] is None
    assert problems == ['10.0.0.2: no answer to 3 DF echo requests even at the minimum size 576 (min_mtu): the peer '
                        'is down, ICMP echo is filtered, or the path MTU is below min_mtu; path MTU unknown']


def test_analyse_partial_replies_point_at_an_asymmetric_path():
    def first_lost(size):
        return 3 if size <= 1400 else (1 if size <= 1450 else 0)

    report, problems = run_analysis(None, probe=first_lost)
    assert report['path_mtu'] == 1450
    assert problems[0].startswith('10.0.0.2: only some echo requests answered (1 of 3 at ')
    assert 'asymmetric path' in problems[0]


def test_analyse_inconsistent():
    calls = []

    def once(size):
        calls.append(size)
        return 3 if size <= 1400 and calls.count(size) == 1 else 0

    _report, problems = run_analysis(None, probe=once)
    assert problems[0] == ('10.0.0.2: size 1400 was answered, then not on a second try: the path loses packets or '
                           'changed during the probe; path MTU unknown')


def test_parse_route_get_via_gateway_with_learned_pmtu():
    route = parse_route_get(fixture('ip_route_get_via_gateway_pmtu_cached.json'))
    assert route == {'dev': 'pca', 'type': 'unicast', 'gateway': '10.251.1.1', 'prefsrc': '10.251.1.2',
                     'cached_mtu': 1400}


def test_parse_route_get_before_any_pmtu_exception():
    route = parse_route_get(fixture('ip_route_get_via_gateway_no_pmtu.json'))
    assert route['dev'] == 'pca'
    assert route['gateway'] == '10.251.1.1'
    assert route['cached_mtu'] is None


def test_parse_route_get_on_link_and_local():
    assert parse_route_get(fixture('ip_route_get_onlink.json'))['gateway'] is None
    local = parse_route_get(fixture('ip_route_get_local.json'))
    assert (local['dev'], local['type']) == ('lo', 'local')
    assert parse_route_get(fixture('ip_route_get_loopback.json'))['dev'] == 'lo'
    assert parse_route_get(fixture('ip_route_get_v6_loopback.json'))['dev'] == 'lo'


@pytest.mark.parametrize('text', ['', '[]', '[{}]', '{"dev": "eth0"}', '[{"dst":"10.0.0.2","dev":"pca"'])
def test_parse_route_get_malformed(text):
    with pytest.raises(RouteParseError):
        parse_route_get(text)


def test_parse_route_get_truncated_capture():
    text = fixture('ip_route_get_via_gateway_pmtu_cached.json')
    with pytest.raises(RouteParseError, match='printed no JSON'):
        parse_route_get(text[:len(text) // 2])


def test_parse_link_mtu():
    assert parse_link_mtu(fixture('ip_link_show_dev_pca.json'), 'pca') == 1500
    assert parse_link_mtu(fixture('ip_link_show_dev_lo.json'), 'lo') == 65536
    assert parse_link_mtu(fixture('ip_link_cilium_mismatch.json'), 'cilium_net') == 1450


@pytest.mark.parametrize('text', ['', 'Device "eth9" does not exist.', '[]', '[{"ifname": "pca"}]',
                                  '[{"ifname": "pca", "mtu": "1500"}]'])
def test_parse_link_mtu_malformed(text):
    with pytest.raises(RouteParseError):
        parse_link_mtu(text, 'pca')
