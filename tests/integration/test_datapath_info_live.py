"""datapath_info on a real kernel: read-only against this machine, then inside a network
namespace of our own (pjdpA) with and without the state each check looks for. Every
verdict is compared with what the kernel shows through other means; netfilter rules
and bpffs mounts are only made inside the namespace (and its private mount namespace)."""
import json
import os
import shutil
import subprocess
import tempfile

import pytest

from conftest import ROOT, run

CACHE = os.path.join(os.environ.get('XDG_CACHE_HOME', os.path.expanduser('~/.cache')), 'packetjungle-datapath')
ENV = dict(os.environ,
           ANSIBLE_COLLECTIONS_PATH=os.path.join(CACHE, 'collections'),
           ANSIBLE_DEPRECATION_WARNINGS='false',
           PATH=os.path.join(CACHE, 'venv', 'bin') + os.pathsep + os.environ.get('PATH', ''))
NS = 'pjdpA'
HEALTHY_STATUS = os.path.join(ROOT, 'tests', 'unit', 'fixtures', 'cilium', 'status_dsr_native.json')


def sh(*argv):
    proc = run(list(argv))
    assert proc.returncode == 0, (argv, proc.stderr)
    return proc.stdout


def datapath_info(args, netns=None, mount_bpffs=False):
    """Run the module (in netns when given); returns (succeeded, result)."""
    argv = ['ansible', 'localhost', '-o', '-m', 'packetjungle.datapath.datapath_info', '-a', json.dumps(args)]
    if mount_bpffs:
        # ip netns exec gives the command a private mount namespace: the mount ends with it.
        argv = ['sh', '-c', 'mount -t bpf bpf /sys/fs/bpf && exec "$@"', 'sh'] + argv
    if netns:
        argv = ['ip', 'netns', 'exec', netns] + argv
    proc = run(argv, env=ENV)
    head, _sep, body = proc.stdout.partition('=>')
    assert body, proc.stdout + proc.stderr
    return 'SUCCESS' in head, json.loads(body)


def statuses(result):
    return dict((name, check['status']) for name, check in result['checks'].items())


def kube_proxy_chains_on_this_machine():
    """KUBE-SERVICES/KUBE-NODEPORTS seen through iptables-save, read only."""
    out = subprocess.run(['iptables-save'], capture_output=True, text=True, check=True).stdout
    return any(line.split()[0][1:] in ('KUBE-SERVICES', 'KUBE-NODEPORTS')
               for line in out.splitlines() if line.startswith(':'))


def test_this_machine_read_only():
    ok, result = datapath_info({'fail_on_problem': False})
    assert ok
    assert result['changed'] is False
    checks = result['checks']
    with open('/proc/mounts') as f:
        bpffs = any(line.split()[1:3] == ['/sys/fs/bpf', 'bpf'] for line in f)
    assert checks['bpffs']['status'] == ('ok' if bpffs else 'problem')
    if not os.path.exists('/sys/class/net/cilium_host'):
        assert checks['cilium_interfaces']['status'] == 'problem'
        assert checks['cilium_interfaces']['detail'].startswith('cilium_host, cilium_net missing')
    ps = subprocess.run(['ps', '-e', '-o', 'comm='], capture_output=True, text=True, check=True)
    kube_proxy = ps.stdout.split()
    assert checks['kube_proxy_process']['status'] == ('problem' if 'kube-proxy' in kube_proxy else 'ok')
    if shutil.which('iptables-save') and shutil.which('nft'):
        nft = subprocess.run(['nft', 'list', 'tables'], capture_output=True, text=True, check=True)
        tables = nft.stdout.splitlines()
        present = kube_proxy_chains_on_this_machine() or any(t.endswith(' kube-proxy') for t in tables)
        assert checks['kube_proxy_rules']['status'] == ('problem' if present else 'ok')
    if not shutil.which('cilium-dbg'):
        for name in ('kube_proxy_replacement', 'lb_mode', 'devices', 'routing', 'agent_health', 'cluster_health',
                     'controllers'):
            assert checks[name] == {'status': 'cannot_check', 'detail': 'no cilium agent on this node: no '
                                    'cilium-dbg binary and no cilium_status_json given'}


@pytest.fixture
def netns(request):
    if os.geteuid() != 0 or not shutil.which('ip') or not shutil.which('iptables') or not shutil.which('nft'):
        pytest.skip('needs root, iproute2, iptables and nftables')
    run(['ip', 'netns', 'del', NS])
    request.addfinalizer(lambda: run(['ip', 'netns', 'del', NS]))
    sh('ip', 'netns', 'add', NS)
    sh('ip', '-n', NS, 'link', 'set', 'lo', 'up')
    return NS


def test_kube_proxy_chains_come_and_go(netns):
    ok, result = datapath_info({'fail_on_problem': False}, netns)
    assert result['checks']['kube_proxy_rules']['status'] == 'ok'

    sh('ip', 'netns', 'exec', netns, 'iptables', '-t', 'nat', '-N', 'KUBE-SERVICES')
    sh('ip', 'netns', 'exec', netns, 'iptables', '-t', 'nat', '-A', 'PREROUTING', '-j', 'KUBE-SERVICES')
    ok, result = datapath_info({'fail_on_problem': True}, netns)
    assert not ok
    assert result['checks']['kube_proxy_rules']['status'] == 'problem'
    assert 'KUBE-SERVICES in iptables-save table nat' in result['checks']['kube_proxy_rules']['detail']
    assert 'kube_proxy_rules: kube-proxy rules present' in result['msg']

    sh('ip', 'netns', 'exec', netns, 'iptables', '-t', 'nat', '-D', 'PREROUTING', '-j', 'KUBE-SERVICES')
    sh('ip', 'netns', 'exec', netns, 'iptables', '-t', 'nat', '-X', 'KUBE-SERVICES')
    ok, result = datapath_info({'fail_on_problem': False}, netns)
    assert result['checks']['kube_proxy_rules']['status'] == 'ok'


def test_kube_proxy_nftables_table(netns):
    sh('ip', 'netns', 'exec', netns, 'nft', 'add', 'table', 'ip', 'kube-proxy')
    sh('ip', 'netns', 'exec', netns, 'nft', 'add', 'chain', 'ip', 'kube-proxy', 'services')
    _ok, result = datapath_info({'fail_on_problem': False}, netns)
    assert result['checks']['kube_proxy_rules'] == {
        'status': 'problem',
        'detail': 'kube-proxy rules present: nftables table ip kube-proxy (kube-proxy nftables mode) in nft list '
                  'ruleset; remove them (iptables-save | grep -v KUBE | iptables-restore) once kube-proxy is gone'}
    sh('ip', 'netns', 'exec', netns, 'nft', 'delete', 'table', 'ip', 'kube-proxy')
    _ok, result = datapath_info({'fail_on_problem': False}, netns)
    assert result['checks']['kube_proxy_rules']['status'] == 'ok'


def test_cilium_devices_with_mismatched_mtus(netns):
    sh('ip', '-n', netns, 'link', 'add', 'cilium_host', 'type', 'veth', 'peer', 'name', 'cilium_net')
    sh('ip', '-n', netns, 'link', 'set', 'cilium_host', 'mtu', '1500')
    sh('ip', '-n', netns, 'link', 'set', 'cilium_net', 'mtu', '1450')
    _ok, result = datapath_info({'fail_on_problem': False}, netns)
    check = result['checks']['cilium_interfaces']
    assert check['status'] == 'problem'
    assert check['detail'].startswith('MTUs differ: cilium_host mtu 1500, cilium_net mtu 1450;')

    sh('ip', '-n', netns, 'link', 'set', 'cilium_net', 'mtu', '1500')
    _ok, result = datapath_info({'fail_on_problem': False}, netns)
    assert result['checks']['cilium_interfaces'] == {'status': 'ok',
                                                     'detail': 'cilium_host mtu 1500, cilium_net mtu 1500'}

    # Tunnel mode also needs the VXLAN device, at the same MTU.
    _ok, result = datapath_info({'fail_on_problem': False, 'tunnel': 'vxlan', 'expect_lb_mode': 'snat'}, netns)
    assert result['checks']['cilium_interfaces']['detail'].startswith('cilium_vxlan missing')
    sh('ip', '-n', netns, 'link', 'add', 'cilium_vxlan', 'type', 'vxlan', 'external', 'dstport', '8472')
    _ok, result = datapath_info({'fail_on_problem': False, 'tunnel': 'vxlan', 'expect_lb_mode': 'snat'}, netns)
    assert result['checks']['cilium_interfaces']['status'] == 'ok'


def test_kube_proxy_process(netns):
    directory = tempfile.mkdtemp(prefix='pjdp')
    binary = os.path.join(directory, 'kube-proxy')
    shutil.copy('/bin/sleep', binary)
    process = subprocess.Popen([binary, '60'])
    try:
        _ok, result = datapath_info({'fail_on_problem': False}, netns)
        check = result['checks']['kube_proxy_process']
        assert check['status'] == 'problem'
        assert str(process.pid) in check['detail']
    finally:
        process.kill()
        process.wait()
        shutil.rmtree(directory)
    _ok, result = datapath_info({'fail_on_problem': False}, netns)
    assert result['checks']['kube_proxy_process']['status'] == 'ok'


def test_a_node_in_the_wanted_state_passes(netns):
    sh('ip', '-n', netns, 'link', 'add', 'cilium_host', 'type', 'veth', 'peer', 'name', 'cilium_net')
    with open(HEALTHY_STATUS) as f:
        status = f.read()
    _ok, result = datapath_info({'cilium_status_json': status, 'fail_on_problem': False}, netns)
    assert result['checks']['bpffs']['status'] == 'problem'

    ok, result = datapath_info({'cilium_status_json': status}, netns, mount_bpffs=True)
    assert ok, result.get('msg')
    assert set(statuses(result).values()) == {'ok'}
    assert result['cilium_source'] == 'cilium_status_json'
    assert result['checks']['bpffs']['detail'].startswith('bpf filesystem mounted at /sys/fs/bpf')

    ok, result = datapath_info({'cilium_status_json': status, 'expect_lb_mode': 'hybrid'}, netns, mount_bpffs=True)
    assert not ok
    assert result['problems'] == ['lb_mode: mode DSR, DSR dispatch IP Option/Extension, backend selection Maglev, '
                                  'XDP acceleration Disabled; expected Hybrid (expect_lb_mode: hybrid; Helm '
                                  'loadBalancer.mode)']

    _ok, result = datapath_info({'cilium_status_json': status[:500], 'fail_on_problem': False}, netns)
    assert result['checks']['agent_health']['status'] == 'cannot_check'
    assert result['checks']['agent_health']['detail'].startswith('the status is not valid JSON')
