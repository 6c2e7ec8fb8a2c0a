"""path_mtu against a real kernel path: pjmtuA -- pjmtuR (router) -- pjmtuB, veth pairs, the
A side at 1500 and the B side at a per-test MTU. The module runs inside pjmtuA through
ansible, the way a playbook runs it on a node; the kernel's own learned path MTU
(ip route get, fed by the router's fragmentation-needed) is the independent oracle."""
import json
import os
import shutil

import pytest

from conftest import run

CACHE = os.path.join(os.environ.get('XDG_CACHE_HOME', os.path.expanduser('~/.cache')), 'packetjungle-datapath')
ENV = dict(os.environ,
           ANSIBLE_COLLECTIONS_PATH=os.path.join(CACHE, 'collections'),
           ANSIBLE_DEPRECATION_WARNINGS='false',
           PATH=os.path.join(CACHE, 'venv', 'bin') + os.pathsep + os.environ.get('PATH', ''))
A, R, B = 'pjmtuA', 'pjmtuR', 'pjmtuB'
A_IP, B_IP, R_A_IP = '10.252.1.2', '10.252.2.2', '10.252.1.1'
UNUSED_B_SIDE_IP = '10.252.2.99'


def sh(*argv):
    proc = run(list(argv))
    assert proc.returncode == 0, (argv, proc.stderr)
    return proc.stdout


def delete_namespaces():
    for ns in (A, R, B):
        run(['ip', 'netns', 'del', ns])


def build(b_mtu):
    delete_namespaces()
    for ns in (A, R, B):
        sh('ip', 'netns', 'add', ns)
        sh('ip', '-n', ns, 'link', 'set', 'lo', 'up')
    sh('ip', '-n', A, 'link', 'add', 'pjm-a', 'type', 'veth', 'peer', 'name', 'pjm-ra', 'netns', R)
    sh('ip', '-n', B, 'link', 'add', 'pjm-b', 'type', 'veth', 'peer', 'name', 'pjm-rb', 'netns', R)
    sh('ip', '-n', A, 'addr', 'add', A_IP + '/24', 'dev', 'pjm-a')
    sh('ip', '-n', R, 'addr', 'add', R_A_IP + '/24', 'dev', 'pjm-ra')
    sh('ip', '-n', R, 'addr', 'add', '10.252.2.1/24', 'dev', 'pjm-rb')
    sh('ip', '-n', B, 'addr', 'add', B_IP + '/24', 'dev', 'pjm-b')
    sh('ip', '-n', R, 'link', 'set', 'pjm-rb', 'mtu', str(b_mtu))
    sh('ip', '-n', B, 'link', 'set', 'pjm-b', 'mtu', str(b_mtu))
    for ns, dev in ((A, 'pjm-a'), (R, 'pjm-ra'), (R, 'pjm-rb'), (B, 'pjm-b')):
        sh('ip', '-n', ns, 'link', 'set', dev, 'up')
    sh('ip', 'netns', 'exec', R, 'sysctl', '-qw', 'net.ipv4.ip_forward=1')
    sh('ip', '-n', A, 'route', 'add', 'default', 'via', R_A_IP)
    sh('ip', '-n', B, 'route', 'add', 'default', 'via', '10.252.2.1')


@pytest.fixture
def path(request):
    """Build the three namespaces with the B side at request.param bytes; always delete them."""
    if os.geteuid() != 0 or not shutil.which('ip'):
        pytest.skip('needs root and iproute2 to create network namespaces')
    request.addfinalizer(delete_namespaces)
    build(request.param)
    return request.param


def path_mtu(args, check=False):
    """Run the module in pjmtuA; returns (succeeded, result)."""
    argv = ['ip', 'netns', 'exec', A, 'ansible', 'localhost', '-o', '-m', 'packetjungle.datapath.path_mtu',
            '-a', json.dumps(args)]
    if check:
        argv.append('--check')
    proc = run(argv, env=ENV)
    head, _sep, body = proc.stdout.partition('=>')
    assert body, proc.stdout + proc.stderr
    return 'SUCCESS' in head, json.loads(body)


def kernel_learned_mtu(peer):
    routes = json.loads(sh('ip', 'netns', 'exec', A, 'ip', '-j', 'route', 'get', peer))
    for metric in routes[0].get('metrics', []):
        if 'mtu' in metric:
            return metric['mtu']
    return None


@pytest.mark.parametrize('path', [1400], indirect=True)
def test_finds_1400_and_flags_the_1500_interface(path):
    ok, result = path_mtu({'peers': [B_IP], 'timeout': 0.5, 'count': 2})
    assert not ok
    report = result['peers'][B_IP]
    assert report['path_mtu'] == 1400
    assert report['interface'] == 'pjm-a'
    assert report['interface_mtu'] == 1500
    assert report['gateway'] == R_A_IP
    assert result['problems'] == [
        '10.252.2.2: interface pjm-a MTU 1500 is above the path MTU 1400: packets of 1401-1500 bytes are '
        'fragmented, or black-holed when they carry DF (TCP with PMTU discovery, overlay traffic)']
    assert result['changed'] is False
    # The router told the kernel the same thing with fragmentation-needed.
    assert kernel_learned_mtu(B_IP) == 1400 == report['cached_mtu']


@pytest.mark.parametrize('path', [1400], indirect=True)
def test_overlay_report_without_failing_in_check_mode(path):
    ok, result = path_mtu({'peers': [B_IP, R_A_IP], 'encapsulation': 'vxlan', 'fail_on_problem': False,
                           'timeout': 0.5, 'count': 2}, check=True)
    assert ok
    assert result['changed'] is False
    assert result['peers'][B_IP]['max_pod_mtu'] == 1350
    assert result['peers'][B_IP]['problems'][0].endswith(
        'Cilium derives the pod MTU from the interface MTU and would give pods 1450, above the 1350 this path '
        'carries with vxlan')
    # The router itself sits on the 1500 side.
    assert result['peers'][R_A_IP]['path_mtu'] == 1500
    assert result['peers'][R_A_IP]['problems'] == []


@pytest.mark.parametrize('path', [1500], indirect=True)
def test_matching_mtus_have_no_problem(path):
    ok, result = path_mtu({'peers': [B_IP], 'expect_mtu': 1500, 'timeout': 0.5, 'count': 2})
    assert ok, result
    assert result['problems'] == []
    assert result['peers'][B_IP]['path_mtu'] == 1500
    assert result['peers'][B_IP]['max_pod_mtu'] == 1500
    assert kernel_learned_mtu(B_IP) is None


@pytest.mark.parametrize('path', [1400], indirect=True)
def test_expect_mtu_and_an_unanswered_peer(path):
    ok, result = path_mtu({'peers': [B_IP, UNUSED_B_SIDE_IP], 'interface': 'pjm-a', 'max_mtu': 1450,
                           'expect_mtu': 1450, 'timeout': 0.3, 'count': 1})
    assert not ok
    assert result['problems'] == [
        '10.252.2.2: interface pjm-a MTU 1500 is above the path MTU 1400: packets of 1401-1500 bytes are '
        'fragmented, or black-holed when they carry DF (TCP with PMTU discovery, overlay traffic)',
        '10.252.2.2: path MTU 1400 is below expect_mtu 1450',
        '10.252.2.99: no answer to 1 DF echo requests even at the minimum size 576 (min_mtu): the peer is down, '
        'ICMP echo is filtered, or the path MTU is below min_mtu; path MTU unknown',
    ]
    assert result['peers'][UNUSED_B_SIDE_IP]['path_mtu'] is None
