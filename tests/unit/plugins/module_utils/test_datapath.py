"""datapath: parsers and verdicts fed with iptables-save, nft list ruleset, /proc/mounts,
ip -j -d link and /proc/*/comm captured on this machine and in network namespaces."""
import os

import pytest

from ansible_collections.packetjungle.datapath.plugins.module_utils.datapath import (
    LinkParseError,
    check_bpffs,
    check_cilium_interfaces,
    check_kube_proxy_process,
    check_kube_proxy_rules,
    kube_proxy_pids,
    kube_proxy_rules,
    parse_iptables_save,
    parse_links,
    parse_mounts,
    parse_nft_ruleset,
    summarise,
)

FIXTURES = os.path.join(os.path.dirname(__file__), '..', '..', 'fixtures', 'datapath')


def fixture(name):
    with open(os.path.join(FIXTURES, name)) as f:
        return f.read()


def comms(name):
    """The pid<TAB>comm listing captured from /proc/*/comm as the module reads it."""
    result = {}
    for line in fixture(name).splitlines():
        pid, comm = line.split('\t', 1)
        result[int(pid)] = comm + '\n'
    return result


def test_parse_iptables_save_kube_proxy():
    tables = parse_iptables_save(fixture('iptables_save_kube_proxy.txt'))
    assert set(tables) == {'mangle', 'filter', 'nat'}
    # iptables-nft lists user chains sorted, whatever order they were created in.
    assert tables['nat'] == ['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING', 'KUBE-KUBELET-CANARY',
                             'KUBE-MARK-MASQ', 'KUBE-NODEPORTS', 'KUBE-POSTROUTING', 'KUBE-PROXY-CANARY',
                             'KUBE-SEP-VOXAN3LRJLKQQN5N', 'KUBE-SERVICES', 'KUBE-SVC-NPX46M4PTMTKRN6Y']


def test_parse_iptables_save_empty_netns():
    assert parse_iptables_save(fixture('iptables_save_empty.txt')) == {}


def test_parse_iptables_save_legacy():
    tables = parse_iptables_save(fixture('iptables_legacy_save_kube_proxy.txt'))
    assert tables == {'nat': ['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING', 'KUBE-NODEPORTS', 'KUBE-SERVICES']}


def test_parse_iptables_save_ignores_garbage_and_stray_chains():
    assert parse_iptables_save(':KUBE-SERVICES - [0:0]\n# comment\n:\n*nat\n:\n') == {'nat': []}


def test_parse_nft_ruleset_iptables_nft_tables():
    tables = parse_nft_ruleset(fixture('nft_ruleset_iptables_nft_kube_proxy.txt'))
    assert set(tables) == {'ip mangle', 'ip nat', 'ip filter'}
    assert 'KUBE-SERVICES' in tables['ip nat']
    assert 'KUBE-NODEPORTS' in tables['ip nat']


def test_parse_nft_ruleset_empty_netns():
    assert parse_nft_ruleset(fixture('nft_ruleset_empty.txt')) == {}


def test_parse_nft_ruleset_kube_proxy_nftables_mode():
    tables = parse_nft_ruleset(fixture('nft_ruleset_kube_proxy_nftables_mode.txt'))
    assert tables == {'ip kube-proxy': ['services', 'nat-prerouting', 'nat-output']}


def test_kube_proxy_rules_found_in_each_source():
    sources = {
        'iptables-save': parse_iptables_save(fixture('iptables_save_kube_proxy.txt')),
        'nft list ruleset': parse_nft_ruleset(fixture('nft_ruleset_iptables_nft_kube_proxy.txt')),
    }
    assert kube_proxy_rules(sources) == ['KUBE-SERVICES, KUBE-NODEPORTS in iptables-save table nat',
                                         'KUBE-SERVICES, KUBE-NODEPORTS in nft list ruleset table ip nat']


def test_kube_proxy_rules_nftables_mode():
    sources = {'nft list ruleset': parse_nft_ruleset(fixture('nft_ruleset_kube_proxy_nftables_mode.txt')),
               'iptables-save': {}}
    assert kube_proxy_rules(sources) == ['nftables table ip kube-proxy (kube-proxy nftables mode) in nft list ruleset']


def test_kubelet_chains_alone_are_not_kube_proxy():
    sources = {'iptables-save': parse_iptables_save(fixture('iptables_save_kubelet_only.txt')),
               'nft list ruleset': parse_nft_ruleset(fixture('nft_ruleset_kubelet_only.txt'))}
    check = check_kube_proxy_rules(sources, [])
    assert check['status'] == 'ok'
    assert check['detail'] == ('no KUBE-SERVICES/KUBE-NODEPORTS chains and no nftables table kube-proxy '
                               '(read: iptables-save, nft list ruleset)')


def test_host_rules_docker_only():
    sources = {'iptables-save': parse_iptables_save(fixture('iptables_save_host.txt')),
               'nft list ruleset': parse_nft_ruleset(fixture('nft_ruleset_host.txt'))}
    assert check_kube_proxy_rules(sources, [])['status'] == 'ok'


def test_legacy_rules_hidden_from_iptables_nft_are_found_by_legacy_save():
    sources = {'iptables-save': parse_iptables_save(fixture('iptables_save_nft_legacy_warning.txt')),
               'iptables-legacy-save': parse_iptables_save(fixture('iptables_legacy_save_kube_proxy.txt'))}
    check = check_kube_proxy_rules(sources, [])
    assert check['status'] == 'problem'
    assert check['detail'].startswith('kube-proxy rules present: KUBE-SERVICES, KUBE-NODEPORTS in '
                                      'iptables-legacy-save table nat; remove them')


def test_rules_check_names_commands_that_failed():
    check = check_kube_proxy_rules({'nft list ruleset': {}}, ['/usr/sbin/iptables-save rc 1: Permission denied'])
    assert check['status'] == 'ok'
    assert check['detail'].endswith('(not read: /usr/sbin/iptables-save rc 1: Permission denied)')


def test_rules_check_without_any_tool_or_output():
    assert check_kube_proxy_rules({}, []) == {'status': 'cannot_check',
                                              'detail': 'neither iptables-save nor nft is installed'}
    check = check_kube_proxy_rules({}, ['nft list ruleset rc 1: Operation not permitted'])
    assert check == {'status': 'cannot_check',
                     'detail': 'could not read the rules: nft list ruleset rc 1: Operation not permitted'}


def test_kube_proxy_process_found():
    table = comms('proc_comm_with_kube_proxy.txt')
    assert kube_proxy_pids(table) == [7039]
    check = check_kube_proxy_process(table)
    assert check['status'] == 'problem'
    assert check['detail'].startswith('kube-proxy is running (pid 7039)')


def test_kube_proxy_process_absent_on_this_machine():
    check = check_kube_proxy_process(comms('proc_comm_host.txt'))
    assert check['status'] == 'ok'
    assert check['detail'] == 'no kube-proxy process among %d processes' % len(comms('proc_comm_host.txt'))


def test_kube_proxy_process_needs_exact_name():
    assert kube_proxy_pids({1: 'kube-proxy-agent\n', 2: 'kube-proxy\n', 3: 'kube\n'}) == [2]


def test_kube_proxy_process_unreadable():
    assert check_kube_proxy_process({})['status'] == 'cannot_check'


def test_parse_mounts_unescapes_octal():
    mounts = parse_mounts(fixture('proc_mounts_bpffs_elsewhere.txt'))
    assert {'source': 'bpf', 'target': '/tmp/pj cap', 'fstype': 'bpf', 'options': 'rw,relatime'} in mounts


def test_bpffs_mounted():
    check = check_bpffs(parse_mounts(fixture('proc_mounts_bpffs.txt')))
    assert check == {'status': 'ok', 'detail': 'bpf filesystem mounted at /sys/fs/bpf (rw,relatime)'}


def test_bpffs_missing_on_this_machine():
    check = check_bpffs(parse_mounts(fixture('proc_mounts_host.txt')))
    assert check['status'] == 'problem'
    assert check['detail'].startswith('no bpf filesystem at /sys/fs/bpf:')


def test_bpffs_mounted_elsewhere():
    check = check_bpffs(parse_mounts(fixture('proc_mounts_bpffs_elsewhere.txt')))
    assert check['status'] == 'problem'
    assert 'bpf is mounted at /tmp/pj cap' in check['detail']


def test_bpffs_hidden_by_a_later_mount():
    text = fixture('proc_mounts_bpffs.txt') + 'tmpfs /sys/fs/bpf tmpfs rw 0 0\n'
    check = check_bpffs(parse_mounts(text))
    assert check['status'] == 'problem'
    assert check['detail'].startswith('no bpf filesystem at /sys/fs/bpf (tmpfs is mounted there)')


def test_bpffs_unreadable_or_truncated_mounts():
    assert check_bpffs(parse_mounts(''))['status'] == 'cannot_check'
    assert parse_mounts('bpf /sys/fs/bpf\n') == []


def test_parse_links_captured():
    links = parse_links(fixture('ip_link_cilium_mismatch.json'))
    assert links['cilium_host'] == {'mtu': 1500, 'kind': 'veth', 'operstate': 'UP', 'peer': 'cilium_net'}
    assert links['cilium_net']['mtu'] == 1450
    assert links['cilium_vxlan']['kind'] == 'vxlan'
    assert links['lo']['kind'] is None


def test_parse_links_host():
    links = parse_links(fixture('ip_link_host.json'))
    assert 'lo' in links and 'eth0' in links


@pytest.mark.parametrize('text', ['', '{}', '[{"mtu": 1500}]', 'Cannot open netlink socket'])
def test_parse_links_malformed(text):
    with pytest.raises(LinkParseError):
        parse_links(text)


def test_parse_links_truncated_capture():
    text = fixture('ip_link_cilium_consistent.json')
    with pytest.raises(LinkParseError, match='printed no JSON'):
        parse_links(text[:len(text) // 3])


def test_cilium_interfaces_mismatched_mtu():
    check = check_cilium_interfaces(parse_links(fixture('ip_link_cilium_mismatch.json')), 'disabled')
    assert check['status'] == 'problem'
    assert check['detail'].startswith('MTUs differ: cilium_host mtu 1500, cilium_net mtu 1450;')
    assert check['detail'].endswith('(also present: cilium_vxlan mtu 1500)')


def test_cilium_interfaces_consistent_with_vxlan():
    check = check_cilium_interfaces(parse_links(fixture('ip_link_cilium_consistent.json')), 'vxlan')
    assert check == {'status': 'ok', 'detail': 'cilium_host mtu 1500, cilium_net mtu 1500, cilium_vxlan mtu 1500'}


def test_cilium_interfaces_geneve_device_missing():
    check = check_cilium_interfaces(parse_links(fixture('ip_link_cilium_consistent.json')), 'geneve')
    assert check['status'] == 'problem'
    assert check['detail'].startswith('cilium_geneve missing; present: cilium_host mtu 1500, cilium_net mtu 1500')


def test_cilium_interfaces_absent():
    check = check_cilium_interfaces(parse_links(fixture('ip_link_no_cilium.json')), 'disabled')
    assert check == {'status': 'problem',
                     'detail': 'cilium_host, cilium_net missing: the Cilium agent has not set up this node'}


def test_summarise():
    checks = {'a': {'status': 'ok', 'detail': 'x'}, 'b': {'status': 'problem', 'detail': 'y'},
              'c': {'status': 'cannot_check', 'detail': 'z'}}
    assert summarise(checks) == (['b: y'], {'ok': 1, 'problem': 1, 'not_applicable': 0, 'cannot_check': 1})
