"""datapath_info module: exact argv at the run_command boundary, answered with captured output,
a fake /proc tree built from captured /proc/*/comm and /proc/mounts, and the reported checks."""
import json
import os

import pytest

from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args
from ansible_collections.packetjungle.datapath.plugins.modules import datapath_info

ROOT = os.path.join(os.path.dirname(__file__), '..', '..', 'fixtures')
BIN = '/usr/sbin/'
SAVE_TOOLS = ['iptables-save', 'ip6tables-save', 'iptables-legacy-save', 'ip6tables-legacy-save']
IP_LINK = (BIN + 'ip', '-j', '-d', 'link', 'show')
NFT = (BIN + 'nft', 'list', 'ruleset')


def fixture(area, name):
    with open(os.path.join(ROOT, area, name)) as f:
        return f.read()


def proc_tree(tmp_path, comm_listing='proc_comm_host.txt', mounts='proc_mounts_bpffs.txt'):
    proc = tmp_path / 'proc'
    proc.mkdir()
    for line in fixture('datapath', comm_listing).splitlines():
        pid, comm = line.split('\t', 1)
        (proc / pid).mkdir()
        (proc / pid / 'comm').write_text(comm + '\n')
    # Not a process: must be skipped.
    (proc / 'sys').mkdir()
    (proc / 'mounts').write_text(fixture('datapath', mounts))
    return str(proc)


class Exit(Exception):
    def __init__(self, failed, result):
        super(Exit, self).__init__(result.get('msg'))
        self.failed = failed
        self.result = result


def call(monkeypatch, args, responses, binaries):
    """Run the module; binaries are the commands that exist. Returns (exit, argvs)."""
    argvs = []

    def run_command(self, argv, environ_update=None, **kwargs):
        assert environ_update == {'LANG': 'C', 'LC_ALL': 'C'}
        argvs.append(argv)
        return responses[tuple(argv)]

    def get_bin_path(self, name, required=False, opt_dirs=None):
        if name in binaries:
            return BIN + name
        assert not required, name
        return None

    def exit_json(self, **result):
        raise Exit(False, result)

    def fail_json(self, **result):
        raise Exit(True, result)

    monkeypatch.setattr(basic.AnsibleModule, 'run_command', run_command)
    monkeypatch.setattr(basic.AnsibleModule, 'get_bin_path', get_bin_path)
    monkeypatch.setattr(basic.AnsibleModule, 'exit_json', exit_json)
    monkeypatch.setattr(basic.AnsibleModule, 'fail_json', fail_json)
    with patch_module_args(args):
        with pytest.raises(Exit) as info:
            datapath_info.main()
    return info.value, argvs


def clean_node():
    responses = dict(((BIN + tool,), (0, '', '')) for tool in SAVE_TOOLS)
    responses[(BIN + 'iptables-save',)] = (0, fixture('datapath', 'iptables_save_kubelet_only.txt'), '')
    responses[NFT] = (0, fixture('datapath', 'nft_ruleset_kubelet_only.txt'), '')
    responses[IP_LINK] = (0, fixture('datapath', 'ip_link_cilium_consistent.json'), '')
    return responses


ALL_TOOLS = SAVE_TOOLS + ['nft', 'ip']


def statuses(result):
    return dict((name, check['status']) for name, check in result['checks'].items())


def test_healthy_node_with_status_from_the_option(monkeypatch, tmp_path):
    args = {'cilium_status_json': fixture('cilium', 'status_dsr_native.json'), 'proc_path': proc_tree(tmp_path)}
    result, argvs = call(monkeypatch, args, clean_node(), ALL_TOOLS)
    assert argvs == [[BIN + tool] for tool in SAVE_TOOLS] + [list(NFT), list(IP_LINK)]
    assert not result.failed
    assert set(statuses(result.result).values()) == {'ok'}
    assert result.result['counts'] == {'ok': 12, 'problem': 0, 'not_applicable': 0, 'cannot_check': 0}
    assert result.result['cilium_source'] == 'cilium_status_json'
    assert result.result['cilium']['lb_mode'] == 'DSR'
    assert result.result['changed'] is False
    assert result.result['checks']['kube_proxy_rules']['detail'] == (
        'no KUBE-SERVICES/KUBE-NODEPORTS chains and no nftables table kube-proxy (read: ip6tables-legacy-save, '
        'ip6tables-save, iptables-legacy-save, iptables-save, nft list ruleset)')


def test_status_from_cilium_dbg_on_the_node(monkeypatch, tmp_path):
    responses = clean_node()
    responses[(BIN + 'cilium-dbg', 'status', '-o', 'json')] = (0, fixture('cilium', 'status_hybrid_native.json'), '')
    result, argvs = call(monkeypatch, {'expect_lb_mode': 'hybrid', 'proc_path': proc_tree(tmp_path)}, responses,
                         ALL_TOOLS + ['cilium-dbg'])
    assert argvs[-1] == [BIN + 'cilium-dbg', 'status', '-o', 'json']
    assert not result.failed
    assert result.result['cilium_source'] == 'cilium-dbg'
    assert result.result['checks']['lb_mode']['status'] == 'ok'


def test_agent_not_answering(monkeypatch, tmp_path):
    responses = clean_node()
    responses[(BIN + 'cilium-dbg', 'status', '-o', 'json')] = (1, '', 'Error: Unable to reach agent\n')
    result, _argvs = call(monkeypatch, {'proc_path': proc_tree(tmp_path)}, responses, ALL_TOOLS + ['cilium-dbg'])
    assert not result.failed
    assert result.result['checks']['agent_health'] == {
        'status': 'cannot_check',
        'detail': ('cilium agent not answering: /usr/sbin/cilium-dbg status -o json rc 1: '
                   'Error: Unable to reach agent')}
    assert result.result['cilium_source'] is None


def test_no_cilium_yet(monkeypatch, tmp_path):
    responses = clean_node()
    responses[IP_LINK] = (0, fixture('datapath', 'ip_link_no_cilium.json'), '')
    result, argvs = call(monkeypatch, {'proc_path': proc_tree(tmp_path, mounts='proc_mounts_host.txt'),
                                       'fail_on_problem': False}, responses, ALL_TOOLS)
    assert not result.failed
    assert statuses(result.result) == {
        'kube_proxy_process': 'ok', 'kube_proxy_rules': 'ok', 'bpffs': 'problem', 'cilium_interfaces': 'problem',
        'kube_proxy_replacement': 'cannot_check', 'lb_mode': 'cannot_check', 'devices': 'cannot_check',
        'routing': 'cannot_check', 'masquerading': 'cannot_check', 'agent_health': 'cannot_check',
        'cluster_health': 'cannot_check', 'controllers': 'cannot_check'}
    assert result.result['checks']['routing']['detail'] == ('no cilium agent on this node: no cilium-dbg binary and no '
                                                            'cilium_status_json given')
    assert result.result['problems'] == [
        "bpffs: no bpf filesystem at /sys/fs/bpf: Cilium's pinned maps do not survive an agent restart",
        'cilium_interfaces: cilium_host, cilium_net missing: the Cilium agent has not set up this node']
    assert result.result['cilium'] == {}


def test_cilium_not_expected_yet(monkeypatch, tmp_path):
    responses = clean_node()
    result, argvs = call(monkeypatch, {'proc_path': proc_tree(tmp_path, mounts='proc_mounts_host.txt'),
                                       'expect_cilium': False}, responses, ALL_TOOLS)
    assert not result.failed
    checks = result.result['checks']
    assert checks['kube_proxy_process']['status'] == 'ok'
    assert checks['kube_proxy_rules']['status'] == 'ok'
    assert {checks[name]['status'] for name in checks if not name.startswith('kube_proxy')} == {'not_applicable'}
    assert checks['bpffs']['detail'] == 'Cilium is not expected on this node (expect_cilium: false)'
    assert result.result['problems'] == []
    # Neither ip nor cilium-dbg is run when Cilium is not expected.
    assert not [argv for argv in argvs if tuple(argv) == IP_LINK or 'cilium-dbg' in argv[0]]


def test_kube_proxy_still_there_fails(monkeypatch, tmp_path):
    responses = clean_node()
    responses[(BIN + 'iptables-save',)] = (0, fixture('datapath', 'iptables_save_kube_proxy.txt'), '')
    args = {'cilium_status_json': fixture('cilium', 'status_dsr_native.json'),
            'proc_path': proc_tree(tmp_path, comm_listing='proc_comm_with_kube_proxy.txt')}
    result, _argvs = call(monkeypatch, args, responses, ALL_TOOLS)
    assert result.failed
    assert result.result['msg'].startswith('datapath problems: kube_proxy_process: kube-proxy is running (pid 7039)')
    assert [p.split(':')[0] for p in result.result['problems']] == ['kube_proxy_process', 'kube_proxy_rules']
    assert 'KUBE-SERVICES, KUBE-NODEPORTS in iptables-save table nat' in result.result['problems'][1]


def test_legacy_rules_behind_an_nft_iptables_save(monkeypatch, tmp_path):
    responses = clean_node()
    responses[(BIN + 'iptables-save',)] = (0, fixture('datapath', 'iptables_save_nft_legacy_warning.txt'),
                                           fixture('datapath', 'iptables_save_nft_legacy_warning.stderr.txt'))
    responses[(BIN + 'iptables-legacy-save',)] = (0, fixture('datapath', 'iptables_legacy_save_kube_proxy.txt'), '')
    result, _argvs = call(monkeypatch, {'proc_path': proc_tree(tmp_path), 'fail_on_problem': False}, responses,
                          ALL_TOOLS)
    assert result.result['checks']['kube_proxy_rules']['status'] == 'problem'
    assert 'in iptables-legacy-save table nat' in result.result['checks']['kube_proxy_rules']['detail']


def test_failing_rules_tool_is_named(monkeypatch, tmp_path):
    responses = clean_node()
    responses[NFT] = (1, '', 'netlink: Error: cache initialization failed: Operation not permitted\n')
    result, _argvs = call(monkeypatch, {'proc_path': proc_tree(tmp_path)}, responses, ALL_TOOLS)
    assert result.result['checks']['kube_proxy_rules']['detail'].endswith(
        '(not read: /usr/sbin/nft list ruleset rc 1: netlink: Error: cache initialization failed: Operation not '
        'permitted)')


def test_truncated_status_json_is_cannot_check(monkeypatch, tmp_path):
    args = {'cilium_status_json': fixture('cilium', 'status_truncated.json'), 'proc_path': proc_tree(tmp_path)}
    result, _argvs = call(monkeypatch, args, clean_node(), ALL_TOOLS)
    assert not result.failed
    detail = result.result['checks']['controllers']['detail']
    assert detail.startswith('the status is not valid JSON (Expecting')
    assert detail.endswith('from cilium_status_json')
    assert result.result['counts']['cannot_check'] == 8


def test_tunnel_device_and_routing_checked_for_geneve(monkeypatch, tmp_path):
    args = {'cilium_status_json': fixture('cilium', 'status_dsr_geneve_tunnel.json'), 'tunnel': 'geneve',
            'proc_path': proc_tree(tmp_path), 'fail_on_problem': False}
    result, _argvs = call(monkeypatch, args, clean_node(), ALL_TOOLS)
    assert result.result['problems'] == [
        'cilium_interfaces: cilium_geneve missing; present: cilium_host mtu 1500, cilium_net mtu 1500 '
        '(also present: cilium_vxlan mtu 1500)']
    assert result.result['checks']['routing']['status'] == 'ok'


def test_no_firewall_tools_and_broken_ip(monkeypatch, tmp_path):
    responses = {IP_LINK: (255, '', 'Cannot open netlink socket: Permission denied\n')}
    result, argvs = call(monkeypatch, {'proc_path': proc_tree(tmp_path)}, responses, ['ip'])
    assert argvs == [list(IP_LINK)]
    assert result.result['checks']['kube_proxy_rules'] == {'status': 'cannot_check',
                                                           'detail': 'neither iptables-save nor nft is installed'}
    assert result.result['checks']['cilium_interfaces'] == {
        'status': 'cannot_check',
        'detail': '/usr/sbin/ip -j -d link show rc 255: Cannot open netlink socket: Permission denied'}


def test_garbled_ip_output_is_cannot_check(monkeypatch, tmp_path):
    responses = clean_node()
    text = fixture('datapath', 'ip_link_cilium_consistent.json')
    responses[IP_LINK] = (0, text[:len(text) // 2], '')
    result, _argvs = call(monkeypatch, {'proc_path': proc_tree(tmp_path)}, responses, ALL_TOOLS)
    assert result.result['checks']['cilium_interfaces']['status'] == 'cannot_check'
    assert result.result['checks']['cilium_interfaces']['detail'].startswith('ip -j -d link show printed no JSON')


def test_unreadable_proc(monkeypatch, tmp_path):
    result, _argvs = call(monkeypatch, {'proc_path': str(tmp_path / 'missing')}, clean_node(), ALL_TOOLS)
    assert result.result['checks']['kube_proxy_process']['status'] == 'cannot_check'
    assert result.result['checks']['bpffs']['status'] == 'cannot_check'


@pytest.mark.parametrize('mode', ['dsr', 'hybrid'])
def test_dsr_with_vxlan_is_refused(monkeypatch, tmp_path, mode):
    result, argvs = call(monkeypatch, {'expect_lb_mode': mode, 'tunnel': 'vxlan'}, {}, ALL_TOOLS)
    assert result.failed
    assert argvs == []
    assert result.result['msg'] == ('expect_lb_mode: %s cannot be used with tunnel: vxlan; Cilium refuses DSR with '
                                    'VXLAN tunneling (use tunnel: geneve with Geneve dispatch, or expect_lb_mode: '
                                    'snat)' % mode)


def dsr_native_with(dsr_mode='IP Option/Extension', masquerading_mode='BPF'):
    """The healthy sample as the agent would print it with another DSR dispatch or masquerading mode."""
    status = json.loads(fixture('cilium', 'status_dsr_native.json'))
    status['kube-proxy-replacement']['features']['nodePort']['dsrMode'] = dsr_mode
    status['masquerading']['mode'] = masquerading_mode
    return json.dumps(status)


def test_geneve_dispatch_when_opt_is_expected_fails(monkeypatch, tmp_path):
    args = {'cilium_status_json': dsr_native_with(dsr_mode='Geneve'), 'expect_dsr_dispatch': 'opt',
            'proc_path': proc_tree(tmp_path)}
    result, _argvs = call(monkeypatch, args, clean_node(), ALL_TOOLS)
    assert result.failed
    assert result.result['problems'] == [
        'lb_mode: mode DSR, DSR dispatch Geneve, backend selection Maglev, XDP acceleration Disabled; expected DSR '
        'dispatch IP Option/Extension (expect_dsr_dispatch: opt; Helm loadBalancer.dsrDispatch)']


def test_iptables_masquerading_when_bpf_is_expected_fails(monkeypatch, tmp_path):
    args = {'cilium_status_json': dsr_native_with(masquerading_mode='iptables'), 'expect_masquerade': 'bpf',
            'proc_path': proc_tree(tmp_path)}
    result, _argvs = call(monkeypatch, args, clean_node(), ALL_TOOLS)
    assert result.failed
    assert result.result['problems'] == [
        'masquerading: mode iptables, IPv4 enabled, IPv6 disabled; expected BPF (expect_masquerade: bpf; Helm '
        'bpf.masquerade: true)']


@pytest.mark.parametrize('dispatch, masquerade, problems', [
    # Not given: reported, not compared.
    (None, None, []),
    ('geneve', None, ['lb_mode']),
    (None, 'bpf', ['masquerading']),
    ('geneve', 'bpf', ['lb_mode', 'masquerading']),
    ('ipip', 'iptables', ['lb_mode']),
])
def test_dispatch_and_masquerade_reach_the_status_checks(monkeypatch, tmp_path, dispatch, masquerade, problems):
    args = {'cilium_status_json': dsr_native_with(masquerading_mode='iptables'), 'proc_path': proc_tree(tmp_path),
            'fail_on_problem': False}
    if dispatch:
        args['expect_dsr_dispatch'] = dispatch
    if masquerade:
        args['expect_masquerade'] = masquerade
    result, _argvs = call(monkeypatch, args, clean_node(), ALL_TOOLS)
    assert [p.split(':')[0] for p in result.result['problems']] == problems
    assert result.result['cilium']['dsr_dispatch'] == 'IP Option/Extension'
    assert result.result['cilium']['masquerading'] == 'iptables'


def test_dispatch_not_compared_with_snat(monkeypatch, tmp_path):
    args = {'cilium_status_json': fixture('cilium', 'status_snat_vxlan.json'), 'expect_lb_mode': 'snat',
            'tunnel': 'vxlan', 'expect_dsr_dispatch': 'geneve', 'expect_masquerade': 'iptables',
            'proc_path': proc_tree(tmp_path), 'fail_on_problem': False}
    result, _argvs = call(monkeypatch, args, clean_node(), ALL_TOOLS)
    assert result.result['checks']['lb_mode']['status'] == 'ok'
    assert result.result['checks']['masquerading']['status'] == 'ok'


@pytest.mark.parametrize('mode', ['dsr', 'hybrid'])
@pytest.mark.parametrize('dispatch', ['opt', 'ipip'])
def test_dsr_over_geneve_without_geneve_dispatch_is_refused(monkeypatch, tmp_path, mode, dispatch):
    result, argvs = call(monkeypatch, {'expect_lb_mode': mode, 'tunnel': 'geneve', 'expect_dsr_dispatch': dispatch},
                         {}, ALL_TOOLS)
    assert result.failed
    assert argvs == []
    assert result.result['msg'] == (
        'expect_dsr_dispatch: %s cannot be used with tunnel: geneve and expect_lb_mode: %s; Cilium refuses it '
        '("Tunnel routing with Node Port mode requires geneve dispatch"; use expect_dsr_dispatch: geneve)'
        % (dispatch, mode))


def test_geneve_tunnel_with_geneve_dispatch_is_checked(monkeypatch, tmp_path):
    args = {'cilium_status_json': fixture('cilium', 'status_dsr_geneve_tunnel.json'), 'tunnel': 'geneve',
            'expect_dsr_dispatch': 'geneve', 'expect_masquerade': 'bpf', 'proc_path': proc_tree(tmp_path),
            'fail_on_problem': False}
    result, _argvs = call(monkeypatch, args, clean_node(), ALL_TOOLS)
    assert result.result['checks']['lb_mode']['status'] == 'ok'
    assert result.result['checks']['masquerading']['status'] == 'ok'
