# -*- coding: utf-8 -*-
# Copyright: (c) 2026, packetjungle.datapath contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""netdiag_collect: exact argv at the run_command boundary (every command inside coreutils
timeout, pods entered with nsenter --net), answered with output captured on a lab node;
failures, timeouts and missing tools recorded while the collection goes on."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os

import pytest

from ansible_collections.packetjungle.datapath.plugins.modules import netdiag_collect
from module_harness import FailJson, fake_module, fixture, run_main

T = '/usr/sbin/timeout'
WRAP = (T, '--kill-after=1', '10s')
CTR = ('/usr/sbin/ctr', '--address', '/run/containerd/containerd.sock', '-n', 'k8s.io')
WEB_FILTER = 'labels."io.kubernetes.pod.name"==web-0,labels."io.kubernetes.pod.namespace"==default'
GONE_FILTER = 'labels."io.kubernetes.pod.name"==gone-0,labels."io.kubernetes.pod.namespace"==default'
CILIUM_FILTER = 'labels."io.kubernetes.container.name"==cilium-agent'
ALL_BINS = ['timeout', 'ip', 'ss', 'nstat', 'uname', 'tc', 'conntrack', 'nft', 'iptables-save', 'ip6tables-save',
            'ethtool', 'ctr', 'nsenter']


def nd(name):
    return fixture('netdiag', name)


def bins(names):
    return dict((name, '/usr/sbin/' + name) for name in names)


def proc_tree(tmp_path):
    """A fake procfs with the captured node and pod (PID 557) files."""
    proc = tmp_path / 'proc'
    for path, text in (('net/snmp', nd('node_proc_net_snmp.txt')), ('net/netstat', nd('node_proc_net_netstat.txt')),
                       ('net/softnet_stat', nd('node_softnet_stat.txt')),
                       ('sys/net/netfilter/nf_conntrack_count', '17\n'),
                       ('sys/net/netfilter/nf_conntrack_max', '262144\n'),
                       ('sys/net/ipv4/conf/all/rp_filter', '2\n'),
                       ('557/net/snmp', nd('node_proc_net_snmp.txt')),
                       ('557/net/netstat', nd('node_proc_net_netstat.txt'))):
        (proc / path).parent.mkdir(parents=True, exist_ok=True)
        (proc / path).write_text(text)
    sysnet = tmp_path / 'sys_class_net'
    (sysnet / 'eth0' / 'device').mkdir(parents=True)
    (sysnet / 'lo').mkdir()
    return str(proc), str(sysnet)


def wrapped(*argv):
    return WRAP + tuple(argv)


def node_table(proc):
    """Every command a node with every tool runs, answered from the captures."""
    ip = '/usr/sbin/ip'
    table = {}
    for prefix, link, addr in (((), 'node_ip_s_s_j_d_link.json', 'node_ip_j_addr.json'),
                               (('/usr/sbin/nsenter', '--net=%s/557/ns/net' % proc, '--'),
                                'pod_ip_s_s_j_d_link.json', 'pod_ip_j_addr.json')):
        table[wrapped(*(prefix + (ip, '-j', 'addr', 'show')))] = (0, nd(addr), '')
        table[wrapped(*(prefix + (ip, '-s', '-s', '-j', '-d', 'link', 'show')))] = (0, nd(link), '')
        for argv in ((ip, '-j', 'route', 'show', 'table', 'all'), (ip, '-j', '-6', 'route', 'show', 'table', 'all'),
                     (ip, '-j', 'rule', 'show'), (ip, '-j', '-6', 'rule', 'show'), (ip, '-j', 'neigh', 'show')):
            table[wrapped(*(prefix + argv))] = (0, '[]\n', '')
        table[wrapped(*(prefix + ('/usr/sbin/ss', '-s')))] = (0, nd('node_ss_s.txt'), '')
        table[wrapped(*(prefix + ('/usr/sbin/nstat', '-a', '-s', '-z')))] = (0, nd('node_nstat_asz.txt'), '')
    table.update({
        wrapped('/usr/sbin/uname', '-a'): (0, 'Linux pj-diag-1 6.18.0 x86_64 GNU/Linux\n', ''),
        wrapped('/usr/sbin/tc', '-s', '-j', 'qdisc', 'show'): (0, nd('node_tc_s_j_qdisc.json'), ''),
        wrapped('/usr/sbin/conntrack', '-S'): (0, nd('node_conntrack_S.txt'), ''),
        wrapped('/usr/sbin/nft', 'list', 'ruleset'): (0, nd('node_nft_list_ruleset.txt'), ''),
        wrapped('/usr/sbin/iptables-save', '-c'): (0, nd('node_iptables_save_c.txt'), ''),
        wrapped('/usr/sbin/ip6tables-save', '-c'): (0, '', ''),
        wrapped('/usr/sbin/ethtool', '-S', 'eth0'): (0, nd('machine_eth0_ethtool_S.txt'), ''),
        wrapped(*(CTR + ('tasks', 'ls'))): (0, nd('ctr_tasks_ls.txt'), ''),
        wrapped(*(CTR + ('containers', 'ls', WEB_FILTER))): (0, nd('ctr_containers_ls_match.txt'), ''),
        wrapped(*(CTR + ('containers', 'info', 'pjdiag-web0'))): (0, nd('ctr_containers_info_sandbox.json'), ''),
        wrapped(*(CTR + ('containers', 'ls', GONE_FILTER))): (0, nd('ctr_containers_ls_empty.txt'), ''),
        wrapped(*(CTR + ('containers', 'ls', CILIUM_FILTER))): (0, nd('ctr_containers_ls_empty.txt'), ''),
    })
    return table


def args(proc, sysnet, **extra):
    base = {'pods': [{'namespace': 'default', 'name': 'web-0'}, {'namespace': 'default', 'name': 'gone-0'}],
            'proc_path': proc, 'sys_class_net': sysnet}
    base.update(extra)
    return base


def outputs(result):
    return dict((o['file'], o) for o in result['outputs'])


def test_node_and_pod_collected_read_only(monkeypatch, tmp_path):
    proc, sysnet = proc_tree(tmp_path)
    state = fake_module(monkeypatch, {'table': node_table(proc)}, bins(ALL_BINS))
    result = run_main(netdiag_collect.main, args(proc, sysnet))
    assert result['changed'] is False
    # Every command ran inside the timeout wrapper, and only what the table knows was run.
    assert all(tuple(call[:3]) == WRAP for call in state['calls'])
    assert len(state['calls']) == len(set(map(tuple, state['calls'])))
    assert list(WRAP) + ['/usr/sbin/nsenter', '--net=%s/557/ns/net' % proc, '--', '/usr/sbin/ip', '-j', 'addr',
                         'show'] in state['calls']
    assert state['calls'][-1] == list(wrapped(*(CTR + ('containers', 'ls', CILIUM_FILTER))))
    web = result['pods']['default/web-0']
    assert (web['found'], web['container'], web['pid']) == (True, 'pjdiag-web0', 557)
    assert web['counters']['addresses']['eth0'] == ['10.244.1.10/24']
    assert '10.244.1.10/24' not in [a for addrs in result['counters']['addresses'].values() for a in addrs]
    assert result['pods']['default/gone-0'] == {
        'found': False, 'reason': 'no container with these labels in containerd namespace k8s.io',
        'container': None, 'pid': None, 'netns': None}
    assert result['cilium']['running'] is False
    files = outputs(result)
    assert files['cilium/status.txt']['stdout'].startswith('The Cilium agent is NOT running on this node: ')
    assert files['host/netstat-s.txt']['status'] == 'missing'
    assert files['host/netstat-s.txt']['reason'] == 'netstat is not installed on the node'
    assert files['host/nf_conntrack_count.txt']['source'] == proc + '/sys/net/netfilter/nf_conntrack_count'
    assert result['counters']['conntrack']['count'] == 17 and result['counters']['conntrack']['max'] == 262144
    assert result['counters']['ethtool']['eth0']['rx_drops'] == 0
    assert result['counters']['firewall_drops'][0]['packets'] == 3
    assert 'net.ipv4.conf.all.rp_filter = 2\n' in files['host/sysctl.txt']['stdout']
    assert 'pods/default_web-0/proc-net-snmp.txt' in files
    assert result['parse_errors'] == []
    assert [o['file'] for o in result['outputs'] if o['status'] != 'ok'] == ['host/netstat-s.txt']


def test_failures_timeouts_and_missing_tools_do_not_stop_it(monkeypatch, tmp_path):
    proc, sysnet = proc_tree(tmp_path)
    os.remove(os.path.join(proc, 'sys/net/netfilter/nf_conntrack_max'))
    table = node_table(proc)
    table[wrapped('/usr/sbin/ss', '-s')] = (124, '', '')
    table[wrapped('/usr/sbin/tc', '-s', '-j', 'qdisc', 'show')] = (0, '[{"kind": "noq', '')
    table[wrapped(*(CTR + ('tasks', 'ls')))] = (1, '', nd('ctr_tasks_ls_no_daemon.stderr.txt'))
    names = [name for name in ALL_BINS if name not in ('conntrack', 'nsenter')]
    state = fake_module(monkeypatch, {'table': table}, bins(names))
    result = run_main(netdiag_collect.main, args(proc, sysnet, command_timeout=10))
    files = outputs(result)
    assert files['host/ss-summary.txt']['status'] == 'timeout'
    assert files['host/ss-summary.txt']['reason'] == 'no answer within 10s (command_timeout), stopped'
    assert files['host/conntrack-S.txt']['reason'] == 'conntrack is not installed on the node'
    assert files['host/nf_conntrack_max.txt']['status'] == 'missing'
    assert result['parse_errors'][0].startswith('host/tc-qdisc.json: collected but not parsed: ')
    assert files['containerd/ctr-tasks.txt']['status'] == 'failed'
    reason = result['pods']['default/web-0']['reason']
    assert reason.startswith('containerd did not answer ctr tasks ls: rc 1: ctr: failed to dial')
    assert result['cilium']['running'] is False and reason in result['cilium']['detail']
    # No containers ls after containerd failed to answer.
    assert not [call for call in state['calls'] if 'containers' in call]


def test_pod_without_nsenter_and_node_without_ctr(monkeypatch, tmp_path):
    proc, sysnet = proc_tree(tmp_path)
    fake_module(monkeypatch, {'table': node_table(proc)}, bins([n for n in ALL_BINS if n != 'nsenter']))
    result = run_main(netdiag_collect.main, args(proc, sysnet))
    assert result['pods']['default/web-0']['found'] is False
    assert result['pods']['default/web-0']['pid'] == 557
    assert 'nsenter (util-linux) is not installed' in result['pods']['default/web-0']['reason']

    fake_module(monkeypatch, {'table': node_table(proc)}, bins([n for n in ALL_BINS if n != 'ctr']))
    result = run_main(netdiag_collect.main, args(proc, sysnet))
    assert result['pods']['default/gone-0']['reason'].startswith('ctr (containerd\'s client) is not installed')
    assert outputs(result)['containerd/ctr-tasks.txt']['status'] == 'missing'


def test_cilium_status_from_the_running_agent_container(monkeypatch, tmp_path):
    proc, sysnet = proc_tree(tmp_path)
    table = node_table(proc)
    table[wrapped(*(CTR + ('tasks', 'ls')))] = (0, nd('ctr_tasks_ls.txt') + 'agent 4242 RUNNING\n', '')
    table[wrapped(*(CTR + ('containers', 'ls', CILIUM_FILTER)))] = (
        0, 'CONTAINER IMAGE RUNTIME\nagent quay.io/cilium/cilium io.containerd.runc.v2\n', '')
    exec_argv = wrapped(*(CTR + ('tasks', 'exec', '--exec-id', 'netdiag-%d' % os.getpid(), 'agent', 'cilium-dbg',
                                 'status', '--verbose')))
    table[exec_argv] = (0, 'KVStore: Ok Disabled\nKubeProxyReplacement: True\n', '')
    metrics_argv = wrapped(*(CTR + ('tasks', 'exec', '--exec-id', 'netdiag-%d' % os.getpid(), 'agent', 'cilium-dbg',
                                    'bpf', 'metrics', 'list')))
    table[metrics_argv] = (0, 'REASON   DIRECTION   PACKETS   BYTES\nPolicy denied   INGRESS   3   180\n', '')
    state = fake_module(monkeypatch, {'table': table}, bins(ALL_BINS))
    result = run_main(netdiag_collect.main, args(proc, sysnet, pods=[]))
    assert state['calls'][-2:] == [list(exec_argv), list(metrics_argv)]
    assert result['cilium'] == {'running': True, 'detail': 'container agent (pid 4242), labelled '
                                                           'io.kubernetes.container.name=cilium-agent'}
    assert outputs(result)['cilium/status.txt']['stdout'].startswith('KVStore: Ok')
    assert 'Policy denied' in outputs(result)['cilium/bpf-metrics.txt']['stdout']


def test_cilium_dbg_on_the_node(monkeypatch, tmp_path):
    proc, sysnet = proc_tree(tmp_path)
    table = node_table(proc)
    table[wrapped('/usr/sbin/cilium-dbg', 'status', '--verbose')] = (1, '', 'Error: cannot reach agent\n')
    table[wrapped('/usr/sbin/cilium-dbg', 'bpf', 'metrics', 'list')] = (0, 'REASON   DIRECTION   PACKETS   BYTES\n', '')
    fake_module(monkeypatch, {'table': table}, bins(ALL_BINS + ['cilium-dbg']))
    result = run_main(netdiag_collect.main, args(proc, sysnet, pods=[]))
    assert result['cilium']['running'] is True
    assert outputs(result)['cilium/status.txt']['reason'] == 'rc 1: Error: cannot reach agent'


@pytest.mark.parametrize('extra,message', [
    ({'command_timeout': 0}, 'command_timeout: 0.0 is not accepted; expected seconds above 0'),
    ({'max_output_bytes': 10}, 'max_output_bytes: 10 is not accepted; expected at least 1024'),
    ({'pods': [{'namespace': 'a', 'name': 'b'}, {'namespace': 'a', 'name': 'b'}]}, 'pods[1]: a/b is listed twice'),
])
def test_bad_options(monkeypatch, tmp_path, extra, message):
    proc, sysnet = proc_tree(tmp_path)
    state = fake_module(monkeypatch, {}, bins(ALL_BINS))
    result = run_main(netdiag_collect.main, args(proc, sysnet, **extra), expect=FailJson)
    assert result['msg'] == message
    assert state['calls'] == []


def test_long_output_is_cut(monkeypatch, tmp_path):
    proc, sysnet = proc_tree(tmp_path)
    table = node_table(proc)
    table[wrapped('/usr/sbin/nstat', '-a', '-s', '-z')] = (0, 'x' * 5000, '')
    fake_module(monkeypatch, {'table': table}, bins(ALL_BINS))
    result = run_main(netdiag_collect.main, args(proc, sysnet, pods=[], max_output_bytes=1024))
    nstat = outputs(result)['host/nstat.txt']
    assert nstat['truncated'] is True and len(nstat['stdout']) == 1024
