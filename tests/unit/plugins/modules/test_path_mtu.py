"""path_mtu module: exact argv at the run_command boundary (answered with output captured in
netns), the probe replaced by a path of known MTU, and the reported result."""
import os

import pytest

from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args
from ansible_collections.packetjungle.datapath.plugins.modules import path_mtu

FIXTURES = os.path.join(os.path.dirname(__file__), '..', '..', 'fixtures', 'datapath')
IP = '/usr/sbin/ip'


def fixture(name):
    with open(os.path.join(FIXTURES, name)) as f:
        return f.read()


class Exit(Exception):
    def __init__(self, failed, result):
        super(Exit, self).__init__(result.get('msg'))
        self.failed = failed
        self.result = result


def call(monkeypatch, args, responses, mtu=1400, check_mode=False):
    """Run the module; responses maps argv tuples to (rc, stdout, stderr). Returns (exit, argvs, probes)."""
    argvs = []
    probes = []

    def run_command(self, argv, environ_update=None, **kwargs):
        assert environ_update == {'LANG': 'C', 'LC_ALL': 'C'}
        argvs.append(argv)
        return responses[tuple(argv)]

    def probe_df(address, payload_size, timeout, count):
        probes.append((address, payload_size, timeout, count))
        if isinstance(mtu, Exception):
            raise mtu
        return count if payload_size + 28 <= mtu else 0

    def exit_json(self, **result):
        raise Exit(False, result)

    def fail_json(self, **result):
        raise Exit(True, result)

    monkeypatch.setattr(basic.AnsibleModule, 'run_command', run_command)
    monkeypatch.setattr(basic.AnsibleModule, 'get_bin_path', lambda self, name, required=False, opt_dirs=None: IP)
    monkeypatch.setattr(basic.AnsibleModule, 'exit_json', exit_json)
    monkeypatch.setattr(basic.AnsibleModule, 'fail_json', fail_json)
    monkeypatch.setattr(path_mtu, 'probe_df', probe_df)
    if check_mode:
        args = dict(args, _ansible_check_mode=True)
    with patch_module_args(args):
        with pytest.raises(Exit) as info:
            path_mtu.main()
    return info.value, argvs, probes


ROUTE_PMTU = (0, fixture('ip_route_get_via_gateway_pmtu_cached.json'), '')
ROUTE_NO_PMTU = (0, fixture('ip_route_get_via_gateway_no_pmtu.json'), '')
LINK_PCA = (0, fixture('ip_link_show_dev_pca.json'), '')
PEER = '10.251.2.2'


def responses_for_peer():
    return {
        (IP, '-j', 'route', 'get', PEER): ROUTE_PMTU,
        (IP, '-j', 'link', 'show', 'dev', 'pca'): LINK_PCA,
    }


def test_finds_1400_behind_a_1500_interface(monkeypatch):
    result, argvs, probes = call(monkeypatch, {'peers': [PEER], 'timeout': 0.5, 'count': 2}, responses_for_peer())
    assert argvs == [[IP, '-j', 'route', 'get', PEER], [IP, '-j', 'link', 'show', 'dev', 'pca'],
                     [IP, '-j', 'route', 'get', PEER]]
    # Payload = size - 28; the first probe is the interface MTU, the second min_mtu.
    assert probes[:2] == [(PEER, 1472, 0.5, 2), (PEER, 548, 0.5, 2)]
    assert result.failed
    report = result.result['peers'][PEER]
    assert (report['path_mtu'], report['interface'], report['interface_mtu']) == (1400, 'pca', 1500)
    assert (report['gateway'], report['cached_mtu'], report['route_interface']) == ('10.251.1.1', 1400, 'pca')
    assert result.result['problems'][0].startswith('10.251.2.2: interface pca MTU 1500 is above the path MTU 1400')
    assert result.result['msg'].startswith('path MTU problems: 10.251.2.2: interface pca MTU 1500')
    assert result.result['changed'] is False


def test_report_without_failing(monkeypatch):
    result, _argvs, _probes = call(monkeypatch, {'peers': [PEER], 'fail_on_problem': False, 'encapsulation': 'vxlan'},
                                   responses_for_peer())
    assert not result.failed
    assert result.result['peers'][PEER]['max_pod_mtu'] == 1350
    assert len(result.result['problems']) == 1


def test_matching_mtu_is_clean_in_check_mode(monkeypatch):
    responses = responses_for_peer()
    responses[(IP, '-j', 'route', 'get', PEER)] = ROUTE_NO_PMTU
    result, _argvs, probes = call(monkeypatch, {'peers': [PEER]}, responses, mtu=1500, check_mode=True)
    assert not result.failed
    assert result.result['problems'] == []
    assert result.result['changed'] is False
    assert result.result['peers'][PEER]['path_mtu'] == 1500
    assert result.result['peers'][PEER]['cached_mtu'] is None
    assert probes == [(PEER, 1472, 1.0, 3), (PEER, 1472, 1.0, 3)]


def test_expect_mtu(monkeypatch):
    responses = responses_for_peer()
    result, _argvs, _probes = call(monkeypatch, {'peers': [PEER], 'max_mtu': 1400, 'expect_mtu': 1500}, responses)
    assert result.result['problems'] == ['10.251.2.2: only sizes up to max_mtu 1400 were probed, below expect_mtu '
                                         '1500: raise max_mtu to check it']


def test_no_route_is_a_problem_not_a_crash(monkeypatch):
    responses = {(IP, '-j', 'route', 'get', '10.9.9.9'): (2, '', fixture('ip_route_get_unreachable.stderr.txt'))}
    result, argvs, probes = call(monkeypatch, {'peers': ['10.9.9.9']}, responses)
    assert result.failed
    assert argvs == [[IP, '-j', 'route', 'get', '10.9.9.9']]
    assert probes == []
    assert result.result['problems'] == ['10.9.9.9: no route (RTNETLINK answers: Network is unreachable)']
    assert result.result['peers']['10.9.9.9']['path_mtu'] is None


def test_loopback_is_capped_at_the_largest_ipv4_packet(monkeypatch):
    responses = {(IP, '-j', 'route', 'get', '127.0.0.1'): (0, fixture('ip_route_get_loopback.json'), ''),
                 (IP, '-j', 'link', 'show', 'dev', 'lo'): (0, fixture('ip_link_show_dev_lo.json'), '')}
    result, _argvs, probes = call(monkeypatch, {'peers': ['127.0.0.1']}, responses, mtu=65535)
    assert probes[0] == ('127.0.0.1', 65507, 1.0, 3)
    assert result.result['problems'] == []
    assert result.result['peers']['127.0.0.1']['path_mtu_at_least'] is True


def test_interface_option_other_than_the_route(monkeypatch):
    responses = responses_for_peer()
    responses[(IP, '-j', 'link', 'show', 'dev', 'lo')] = (0, fixture('ip_link_show_dev_lo.json'), '')
    result, argvs, _probes = call(monkeypatch, {'peers': [PEER], 'interface': 'lo', 'max_mtu': 1500}, responses)
    assert argvs[1] == [IP, '-j', 'link', 'show', 'dev', 'lo']
    assert result.result['problems'][0] == ('10.251.2.2: the route to the peer leaves by pca, not interface lo: the '
                                            'probes measured the pca path')


def test_interface_option_that_does_not_exist(monkeypatch):
    responses = responses_for_peer()
    responses[(IP, '-j', 'link', 'show', 'dev', 'eth9')] = (1, '', fixture('ip_link_show_dev_missing.stderr.txt'))
    result, _argvs, _probes = call(monkeypatch, {'peers': [PEER], 'interface': 'eth9'}, responses)
    assert result.failed
    assert result.result['msg'] == 'interface: eth9 does not exist (Device "eth9" does not exist.)'
    assert result.result['cmd'] == [IP, '-j', 'link', 'show', 'dev', 'eth9']
    assert result.result['rc'] == 1


def test_garbled_route_output_fails_with_the_command(monkeypatch):
    responses = {(IP, '-j', 'route', 'get', PEER): (0, '[{"dst":"10.251.2.2"', '')}
    result, _argvs, _probes = call(monkeypatch, {'peers': [PEER]}, responses)
    assert result.failed
    assert result.result['msg'].startswith('ip -j route get printed no JSON')
    assert result.result['cmd'] == [IP, '-j', 'route', 'get', PEER]


def test_socket_error_names_the_fix(monkeypatch):
    result, _argvs, _probes = call(monkeypatch, {'peers': [PEER]}, responses_for_peer(),
                                   mtu=PermissionError(1, 'Operation not permitted'))
    assert result.failed
    assert result.result['msg'] == ('cannot send ICMP echo to 10.251.2.2: [Errno 1] Operation not permitted; run as '
                                    'root (become: true) or allow ping sockets with net.ipv4.ping_group_range')


@pytest.mark.parametrize('args, message', [
    ({'peers': ['node-2']}, "peers[0]: 'node-2' is not an IP address (hostnames are not resolved)"),
    ({'peers': ['10.0.0.1', 'fe80::1']},
     'peers[1]: fe80::1 is IPv6; only IPv4 peers are supported (the ICMP probe is IPv4-only)'),
    ({'peers': [PEER], 'geneve_option_bytes': 8},
     'geneve_option_bytes: 8 needs encapsulation geneve, not native'),
    ({'peers': [PEER], 'min_mtu': 20}, 'min_mtu: 20 is too small; an IPv4 echo request needs at least 29 bytes'),
    ({'peers': [PEER], 'max_mtu': 70000}, 'max_mtu: 70000 is above 65535, the largest IPv4 packet'),
    ({'peers': [PEER], 'count': 0}, 'count: 0 must be at least 1'),
    ({'peers': [PEER], 'timeout': 0}, 'timeout: 0.0 must be above 0 seconds'),
    ({'peers': [PEER], 'min_mtu': 1600}, 'min_mtu: 1600 is above the MTU of pca, 1500'),
    ({'peers': [PEER], 'min_mtu': 1300, 'max_mtu': 1200}, 'min_mtu: 1300 is above max_mtu 1200'),
])
def test_bad_options(monkeypatch, args, message):
    result, _argvs, probes = call(monkeypatch, args, responses_for_peer())
    assert result.failed
    assert result.result['msg'] == message
    assert probes == []
