# -*- coding: utf-8 -*-
# Copyright: (c) 2026, packetjungle.datapath contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""netdiag parsers on output captured on a lab node (tests/unit/fixtures/netdiag/SOURCES.md),
truncated and malformed output, and the findings and README built from them."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os

import pytest

from ansible_collections.packetjungle.datapath.plugins.module_utils import netdiag

FIXTURES = os.path.join(os.path.dirname(__file__), '..', '..', 'fixtures', 'netdiag')


def fixture(name):
    with open(os.path.join(FIXTURES, name)) as f:
        return f.read()


def test_commands_are_bounded_and_entered_by_netns_only():
    assert netdiag.with_timeout('/usr/bin/timeout', 10.0, ['/usr/sbin/ip', '-j', 'addr']) == [
        '/usr/bin/timeout', '--kill-after=1', '10s', '/usr/sbin/ip', '-j', 'addr']
    assert netdiag.with_timeout('/usr/bin/timeout', 0.5, ['x'])[2] == '0.5s'
    assert netdiag.in_netns('/usr/bin/nsenter', '/proc', 557, ['/usr/sbin/ss', '-s']) == [
        '/usr/bin/nsenter', '--net=/proc/557/ns/net', '--', '/usr/sbin/ss', '-s']


def test_classify_uses_coreutils_timeout_codes():
    # Captured: `timeout --kill-after=1 0.2s sleep 5` exits 124.
    assert netdiag.classify(124) == netdiag.TIMEOUT
    assert netdiag.classify(137) == netdiag.TIMEOUT
    assert netdiag.classify(0) == netdiag.OK
    assert netdiag.classify(1) == netdiag.FAILED


def test_read_only_commands():
    argvs = [argv for _file, argv in netdiag.NETNS_COMMANDS + netdiag.HOST_COMMANDS]
    # nstat without -s would rewrite its history file.
    assert ['nstat', '-a', '-s', '-z'] in argvs
    verbs = set(word for argv in argvs for word in argv)
    assert not verbs & {'add', 'del', 'delete', 'flush', 'set', 'change', 'replace', '-F', '-D', '-Z', 'reset'}


def test_ctr_label_filter_matches_the_captured_call():
    assert netdiag.ctr_label_filter({netdiag.POD_NAMESPACE_LABEL: 'default', netdiag.POD_NAME_LABEL: 'web-0'}) == \
        'labels."io.kubernetes.pod.name"==web-0,labels."io.kubernetes.pod.namespace"==default'
    with pytest.raises(ValueError):
        netdiag.ctr_label_filter({netdiag.POD_NAME_LABEL: 'a,b'})


def test_ctr_tables():
    assert netdiag.parse_ctr_containers(fixture('ctr_containers_ls_match.txt')) == ['pjdiag-web0']
    assert netdiag.parse_ctr_containers(fixture('ctr_containers_ls_empty.txt')) == []
    assert netdiag.parse_ctr_containers(fixture('ctr_containers_ls_two.txt')) == ['pjdiag-done0', 'pjdiag-done0-app']
    assert netdiag.parse_ctr_tasks(fixture('ctr_tasks_ls.txt')) == {'pjdiag-web0': {'pid': 557, 'status': 'RUNNING'}}
    assert netdiag.parse_ctr_tasks(fixture('ctr_tasks_ls_stopped.txt')) == {
        'pjdiag-web0': {'pid': 557, 'status': 'RUNNING'}, 'pjdiag-done0': {'pid': 1148, 'status': 'STOPPED'}}


@pytest.mark.parametrize('text', ['', 'TASK PID STATUS\nweb 12x RUNNING\n', 'CONTAINER IMAGE\nx - y\n',
                                  fixture('ctr_tasks_ls_no_daemon.stderr.txt')])
def test_ctr_tasks_malformed(text):
    with pytest.raises(netdiag.NetdiagParseError):
        netdiag.parse_ctr_tasks(text)


def test_ctr_info_labels_and_netns():
    sandbox = netdiag.parse_ctr_info(fixture('ctr_containers_info_sandbox.json'))
    assert sandbox['labels'][netdiag.KIND_LABEL] == 'sandbox'
    assert sandbox['netns'] == '/var/run/netns/pjdiag-web0'
    container = netdiag.parse_ctr_info(fixture('ctr_containers_info_container.json'))
    assert container['id'] == 'pjdiag-done0-app'
    assert container['netns'] == 'new'
    with pytest.raises(netdiag.NetdiagParseError):
        netdiag.parse_ctr_info(fixture('ctr_containers_info_sandbox.json')[:300])


def test_pick_task_prefers_the_running_sandbox():
    tasks = netdiag.parse_ctr_tasks(fixture('ctr_tasks_ls_stopped.txt'))
    tasks['app'] = {'pid': 900, 'status': 'RUNNING'}
    assert netdiag.pick_task(['app', 'pjdiag-web0'], tasks, {'pjdiag-web0': 'sandbox', 'app': 'container'}) == \
        ('pjdiag-web0', 557)
    assert netdiag.pick_task(['app', 'pjdiag-web0'], tasks, {}) == ('app', 900)
    assert netdiag.pick_task([], tasks, {}) == (None, 'no container with these labels')
    chosen, reason = netdiag.pick_task(['pjdiag-done0', 'pjdiag-done0-app'], tasks, {})
    assert chosen is None
    assert reason == '2 container(s) with these labels, none with a running task (pjdiag-done0 STOPPED, ' \
                     'pjdiag-done0-app no task)'


def test_link_stats_and_addresses():
    links = netdiag.parse_link_stats(fixture('pod_ip_s_s_j_d_link.json'))
    assert sorted(links) == ['eth0', 'lo']
    assert links['eth0']['kind'] == 'veth' and links['eth0']['mtu'] == 1500
    assert links['eth0']['rx_missed_errors'] == 0 and links['eth0']['tx_carrier_changes'] == 2
    assert netdiag.link_drops(links) == {}
    links['eth0']['rx_dropped'] = 7
    assert netdiag.link_drops(links) == {'eth0': {'rx_dropped': 7}}
    assert netdiag.parse_addresses(fixture('pod_ip_j_addr.json'))['eth0'] == ['10.244.1.10/24']
    node = netdiag.parse_addresses(fixture('node_ip_j_addr.json'))
    assert '10.244.1.1/24' in node['pjd-web0']
    assert not set(node['eth0']) & {'10.244.1.10/24'}


@pytest.mark.parametrize('parser,name', [
    (netdiag.parse_link_stats, 'malformed_ip_link_truncated.json'),
    (netdiag.parse_snmp, 'malformed_snmp_truncated.txt'),
    (netdiag.parse_conntrack_stats, 'malformed_conntrack_S_truncated.txt'),
    (netdiag.parse_ethtool_stats, 'node_ss_s.txt'),
    (netdiag.parse_qdiscs, 'node_iptables_save_c.txt'),
    (netdiag.parse_softnet, 'node_ss_s.txt'),
    (netdiag.parse_addresses, 'node_tc_s_j_qdisc.json'),
])
def test_truncated_and_wrong_outputs_are_parse_errors(parser, name):
    with pytest.raises(netdiag.NetdiagParseError):
        parser(fixture(name))


def test_snmp_and_netstat():
    snmp = netdiag.parse_snmp(fixture('node_proc_net_snmp.txt'))
    snmp.update(netdiag.parse_snmp(fixture('node_proc_net_netstat.txt')))
    assert {'Ip', 'Icmp', 'Tcp', 'Udp', 'UdpLite', 'TcpExt', 'IpExt', 'MPTcpExt'} <= set(snmp)
    assert snmp['Ip']['Forwarding'] == 1
    assert snmp['TcpExt']['ListenDrops'] == 0
    assert all(isinstance(v, int) for table in snmp.values() for v in table.values())
    baseline = netdiag.snmp_drops(snmp)
    assert all(value > 0 for value in baseline.values())
    snmp['TcpExt']['IPReversePathFilter'] = 12
    snmp['Udp']['RcvbufErrors'] = 3
    baseline.update({'TcpExt.IPReversePathFilter': 12, 'Udp.RcvbufErrors': 3})
    assert netdiag.snmp_drops(snmp) == baseline


def test_default_route():
    assert netdiag.parse_default_route('[]') is None
    routes = json.loads(fixture('pod_ip_j_route_table_all_mtu.json'))
    # Only the main table counts; table 100 and the local table are skipped.
    assert netdiag.parse_default_route(json.dumps([r for r in routes if r.get('dst') != 'default'])) is None
    with pytest.raises(netdiag.NetdiagParseError):
        netdiag.parse_default_route(fixture('pod_ip_j_route_table_all_mtu.json')[:200])
    assert netdiag.pod_mtu({'default_route': {'dev': 'eth0', 'gateway': None, 'mtu': None}, 'links': {}}) is None


def test_softnet_conntrack_ethtool_qdisc():
    softnet = netdiag.parse_softnet(fixture('node_softnet_stat.txt'))
    assert [row['time_squeeze'] for row in softnet] == [0, 3]
    assert [row['dropped'] for row in softnet] == [0, 0]
    stats = netdiag.parse_conntrack_stats(fixture('node_conntrack_S.txt'))
    assert stats['drop'] == 0 and stats['insert_failed'] == 0 and len(stats) == 10
    virtio = netdiag.parse_ethtool_stats(fixture('machine_eth0_ethtool_S.txt'))
    assert virtio['rx_drops'] == 0 and virtio['tx_kicks'] > 0
    assert netdiag.ethtool_drops(virtio) == {}
    virtio['rx0_drops'] = 5
    virtio['tx_tx_timeouts'] = 1
    assert netdiag.ethtool_drops(virtio) == {'rx0_drops': 5, 'tx_tx_timeouts': 1}
    veth = netdiag.parse_ethtool_stats(fixture('veth_ethtool_S.txt'))
    assert veth['peer_ifindex'] == 315
    qdiscs = netdiag.parse_qdiscs(fixture('node_tc_s_j_qdisc.json'))
    assert [q['dev'] for q in qdiscs] == ['lo', 'eth0', 'pjd-web0']
    assert qdiscs[1] == {'dev': 'eth0', 'kind': 'noqueue', 'handle': '0:', 'drops': 0, 'overlimits': 0,
                         'requeues': 0, 'backlog': 0, 'qlen': 0}


def test_firewall_drops_counted_once_with_iptables_nft():
    iptables = fixture('node_iptables_save_c.txt')
    nft = fixture('node_nft_list_ruleset.txt')
    expected = [{'table': 'filter', 'chain': 'PJDIAG-CAP', 'rule': '-p icmp -j DROP', 'packets': 3, 'bytes': 252,
                 'source': 'iptables'}]
    assert netdiag.firewall_drops(iptables, '', nft) == expected
    # Without iptables-save (not installed) the nft view is the only one.
    assert netdiag.firewall_drops(None, None, nft) == [{
        'table': 'ip filter', 'chain': 'PJDIAG-CAP', 'rule': 'meta l4proto icmp counter packets 3 bytes 252 drop',
        'packets': 3, 'bytes': 252, 'source': 'nft'}]
    # The jump into the chain matched 3 packets too but drops nothing itself.
    assert '[3:252] -A INPUT -s 10.244.1.10/32 -j PJDIAG-CAP' in iptables


def collected_node():
    """A netdiag_collect result built from the captured outputs."""
    links = netdiag.parse_link_stats(fixture('node_ip_s_s_j_d_link.json'))
    snmp = netdiag.parse_snmp(fixture('node_proc_net_snmp.txt'))
    snmp.update(netdiag.parse_snmp(fixture('node_proc_net_netstat.txt')))
    pod_links = netdiag.parse_link_stats(fixture('pod_ip_s_s_j_d_link.json'))
    return {
        'hostname': 'pj-diag-1', 'kernel': '6.18', 'seconds': 0.6, 'parse_errors': [],
        'outputs': [
            {'file': 'host/ip-addr.json', 'status': 'ok', 'reason': None},
            {'file': 'host/netstat-s.txt', 'status': 'missing', 'reason': 'netstat is not installed on the node'},
            {'file': 'host/ss-summary.txt', 'status': 'timeout', 'reason': 'no answer within 10s'},
        ],
        'counters': {
            'links': links, 'addresses': netdiag.parse_addresses(fixture('node_ip_j_addr.json')), 'snmp': snmp,
            'softnet': netdiag.parse_softnet(fixture('node_softnet_stat.txt')),
            'qdiscs': netdiag.parse_qdiscs(fixture('node_tc_s_j_qdisc.json')),
            'conntrack': {'count': 17, 'max': 262144,
                          'stats': netdiag.parse_conntrack_stats(fixture('node_conntrack_S.txt'))},
            'firewall_drops': netdiag.firewall_drops(fixture('node_iptables_save_c.txt'), '',
                                                     fixture('node_nft_list_ruleset.txt')),
        },
        'pods': {
            'default/web-0': {'found': True, 'reason': None, 'container': 'pjdiag-web0', 'pid': 557,
                              'netns': '/proc/557/ns/net',
                              'counters': {'links': pod_links, 'snmp': {},
                                           'addresses': netdiag.parse_addresses(fixture('pod_ip_j_addr.json'))}},
            'default/gone-0': {'found': False, 'reason': 'no container with these labels in containerd namespace '
                                                         'k8s.io', 'container': None, 'pid': None, 'netns': None},
        },
        'cilium': {'running': False, 'detail': 'no running container labelled io.kubernetes.container.name='
                                               'cilium-agent (no container with these labels), and no cilium-dbg'},
    }


def path_mtu(max_pod_mtu, problems=()):
    return {'changed': False, 'problems': list(problems), 'peers': {'172.29.136.12': {
        'path_mtu': max_pod_mtu, 'interface': 'eth0', 'interface_mtu': 1500, 'max_pod_mtu': max_pod_mtu,
        'problems': list(problems)}}}


def test_findings_from_captured_node():
    summary = netdiag.build_summary('lab', '2026-11-25T07:30:00+00:00', {
        'pj-diag-1': {'collect': collected_node(), 'path_mtu': path_mtu(1500)},
        'pj-diag-2': {'collect': None, 'path_mtu': None, 'reason': 'unreachable: ssh timed out'},
    }, 80)
    json.dumps(summary)
    texts = [(f['node'], f['kind'], f['text']) for f in summary['findings']]
    assert ('pj-diag-1', 'drops', 'node firewall filter PJDIAG-CAP: 3 packets dropped by -p icmp -j DROP') in texts
    assert ('pj-diag-1', 'pod', 'pod default/gone-0 not found: no container with these labels in containerd '
                                'namespace k8s.io') in texts
    assert ('pj-diag-2', 'collection', 'nothing collected: unreachable: ssh timed out') in texts
    assert [t for t in texts if t[1] == 'cilium'][0][2].startswith('Cilium agent is not running on this node: ')
    # Nothing else: conntrack 17 of 262144, no drop counters in the capture, the path carries 1500.
    assert len(texts) == 4, texts
    node = summary['nodes']['pj-diag-1']
    assert node['commands'] == {'ok': 1, 'failed': 0, 'timeout': 1, 'missing': 1, 'skipped': 0}
    assert node['not_collected'] == ['host/netstat-s.txt: netstat is not installed on the node',
                                     'host/ss-summary.txt: no answer within 10s']
    assert node['pods']['default/web-0']['addresses']['eth0'] == ['10.244.1.10/24']
    assert 'counters' not in node['pods']['default/web-0']
    assert node['path_mtu']['172.29.136.12']['path_mtu'] == 1500
    assert summary['nodes']['pj-diag-2'] == {'collected': False, 'reason': 'unreachable: ssh timed out'}


def test_conntrack_mtu_and_drop_findings():
    node = collected_node()
    stats = {'drop': 4, 'insert_failed': 2, 'found': 9}
    node['counters']['conntrack'] = {'count': 210000, 'max': 262144, 'stats': stats}
    node['counters']['softnet'][1]['dropped'] = 11
    node['counters']['qdiscs'][1]['drops'] = 5
    node['counters']['links']['eth0']['rx_missed_errors'] = 8
    node['pods']['default/web-0']['counters']['snmp'] = {'Udp': {'InErrors': 2, 'RcvbufErrors': 2}}
    node['cilium'] = {'running': True, 'detail': 'container abc'}
    problem = '172.29.136.12: interface eth0 MTU 1500 is above the path MTU 1400: ...'
    found = netdiag.node_findings('pj-diag-1', node, path_mtu(1400, [problem]), 80)
    assert ('conntrack', 'node conntrack table 210000 of 262144 entries (80%, warning at 80%): new flows are '
                         'dropped when it is full') in found
    assert ('conntrack', 'node conntrack -S: drop 4, insert_failed 2') in found
    assert ('drops', 'node CPU 1: 11 packets dropped with a full backlog (softnet_stat; raise '
                     'net.core.netdev_max_backlog)') in found
    assert ('drops', 'node qdisc noqueue 0: on eth0: 5 drops') in found
    assert ('drops', 'node link eth0: rx_missed_errors 8') in found
    assert ('drops', 'pod default/web-0 kernel counters (snmp/netstat): Udp.InErrors 2, Udp.RcvbufErrors 2') in found
    assert ('mtu', problem) in found
    # No default route read in the pod: nothing to compare.
    assert not [f for f in found if f[1].startswith('pod default/web-0 sends')]
    pod = node['pods']['default/web-0']['counters']
    pod['default_route'] = {'dev': 'eth0', 'gateway': '10.244.1.1', 'mtu': None}
    found = netdiag.node_findings('pj-diag-1', node, path_mtu(1400, [problem]), 80)
    assert ('mtu', 'pod default/web-0 sends up to 1500 bytes on eth0 (link MTU, the default route sets none), above '
                   '1400, the largest pod MTU the paths from this node carry: large packets are dropped or '
                   'fragmented') in found
    # Cilium's tunnel mode: eth0 stays at 1500, the route says 1450; the route wins.
    pod['default_route'] = netdiag.parse_default_route(fixture('pod_ip_j_route_table_all_mtu.json'))
    assert pod['default_route'] == {'dev': 'pjm0', 'gateway': '10.253.0.1', 'mtu': 1450}
    assert netdiag.pod_mtu(pod) == ('pjm0', 1450, 'default route mtu')
    found = netdiag.node_findings('pj-diag-1', node, path_mtu(1450), 80)
    assert not [f for f in found if f[0] == 'mtu']
    assert not [f for f in found if f[0] == 'cilium']
    # 210000 of 262144 is 80.1 %: below a warning level of 81.
    assert not [f for f in netdiag.node_findings('n', node, None, 81) if f[1].startswith('node conntrack table')]


def test_readme_says_what_failed_and_what_is_missing():
    summary = netdiag.build_summary('lab', '2026-11-25T07:30:00+00:00', {
        'pj-diag-1': {'collect': collected_node(), 'path_mtu': path_mtu(1500)},
        'pj-diag-2': {'collect': None, 'path_mtu': None, 'reason': 'unreachable: ssh timed out'},
    }, 80)
    readme = netdiag.render_readme(summary, 'netdiag-lab-20261125T073000Z')
    assert readme.startswith('netdiag support bundle netdiag-lab-20261125T073000Z\nregion lab, ')
    assert 'FINDINGS (4)\n' in readme
    assert '    cilium: NOT RUNNING: no running container labelled io.kubernetes.container.name=cilium-agent' in readme
    assert '    pod default/web-0: container pjdiag-web0, pid 557, addresses 10.244.1.10/24\n' in readme
    assert '    pod default/gone-0: NOT FOUND: no container with these labels' in readme
    assert '  pj-diag-2: nothing collected: unreachable: ssh timed out\n' in readme
    assert '  pj-diag-1 host/netstat-s.txt: netstat is not installed on the node\n' in readme
    assert '    path MTU to 172.29.136.12: 1500 (interface eth0 MTU 1500)\n' in readme


def test_path_mtu_skipped_or_failed():
    summary = netdiag.build_summary('lab', 't', {'a': {'collect': collected_node(), 'path_mtu': {
        'skipped': True, 'skip_reason': 'Conditional result was False'}}}, 80)
    assert summary['nodes']['a']['path_mtu'] == {'skipped': 'Conditional result was False'}
    assert 'path MTU: not measured (Conditional result was False)' in netdiag.render_readme(summary, 'x')
    summary = netdiag.build_summary('lab', 't', {'a': {'collect': collected_node(), 'path_mtu': {
        'failed': True, 'msg': 'cannot send ICMP echo'}}}, 80)
    assert summary['nodes']['a']['path_mtu'] is None
    assert 'path-mtu.json: cannot send ICMP echo' in summary['nodes']['a']['not_collected']
