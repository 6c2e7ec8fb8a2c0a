# -*- coding: utf-8 -*-
# Copyright: (c) 2026, packetjungle.datapath contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os

from ansible_collections.packetjungle.datapath.plugins.module_utils import report as rep


def target(name, p50, p99=None, budget=None, breaches=None, loss=0.0):
    return {'name': name, 'address': '10.0.0.%d' % len(name), 'method': 'icmp', 'sent': 10,
            'received': 10 if p50 is not None else 0, 'loss_pct': loss if p50 is not None else 100.0,
            'p50_ms': p50, 'p90_ms': p50, 'p99_ms': p99 if p99 is not None else p50, 'jitter_ms': 0.01,
            'budget': budget or {}, 'breaches': breaches or []}


def hosts_fixture():
    return {
        'n2': {'latency': {'results': [target('n1', 0.2, budget={'p50_ms': 1.0, 'p99_ms': 2.0})], 'breaches': []},
               'path_mtu': {'peers': {'10.0.0.1': {'path_mtu': 1500}}, 'problems': []},
               'datapath': {'checks': {'cilium_status': {'status': 'cannot_check', 'detail': 'no cilium agent'},
                                       'bpffs': {'status': 'ok', 'detail': 'mounted'}}, 'problems': []}},
        'n1': {'latency': {'results': [target('isp', 7.9, budget={'p50_ms': 5.0}, breaches=['isp p50 7.9 ms > 5.0 ms'])],
                           'breaches': ['isp p50 7.9 ms > 5.0 ms']},
               'path_mtu': {'peers': {}, 'problems': ['eth0 MTU 1500 above the path MTU 1400 to 10.0.0.2']},
               'datapath': {'checks': {}, 'problems': []}},
    }


def test_build_report_collects_problems_and_unchecked():
    report = rep.build_report('no-osl-1', '2026-11-25T06:00:00+00:00', hosts_fixture())
    assert report['schema'] == rep.SCHEMA
    assert report['ok'] is False
    assert report['problems'] == ['n1 latency: isp p50 7.9 ms > 5.0 ms',
                                  'n1 path mtu: eth0 MTU 1500 above the path MTU 1400 to 10.0.0.2']
    assert report['cannot_check'] == ['n2 cilium_status: no cilium agent']
    assert [(r['host'], r['target']) for r in report['latency']] == [('n1', 'isp'), ('n2', 'n1')]


def test_build_report_ok_without_problems():
    hosts = hosts_fixture()
    del hosts['n1']
    assert rep.build_report('lab', 't', hosts)['ok'] is True


def test_a_check_that_failed_to_run_is_a_problem():
    hosts = {'n1': {'latency': {'failed': True, 'msg': 'cannot open raw socket'}}}
    report = rep.build_report('lab', 't', hosts)
    assert report['problems'] == ['n1 latency: check failed to run: cannot open raw socket']


def test_table_lists_each_row_and_the_verdict():
    table = rep.render_table(rep.build_report('lab', 't', hosts_fixture())).splitlines()
    assert table[0].split() == ['node', 'target', 'method', 'p50', 'ms', 'p90', 'ms', 'p99', 'ms', 'jitter', 'ms',
                                'loss', '%', 'budget', 'p50/p99', 'verdict']
    assert table[2].split()[:4] == ['n1', 'isp', 'icmp', '7.900']
    assert table[2].split()[-1] == 'BREACH'
    assert table[3].split()[-1] == 'ok'
    assert 'problems: 2' in table
    assert 'not checked: 1' in table


def test_cell_colour_by_share_of_budget():
    assert rep.cell_colour(target('a', 0.4, budget={'p50_ms': 1.0})) == '#2e7d32'
    assert rep.cell_colour(target('a', 0.7, budget={'p50_ms': 1.0})) == '#9e9d24'
    assert rep.cell_colour(target('a', 0.95, budget={'p50_ms': 1.0})) == '#ef6c00'
    assert rep.cell_colour(target('a', 1.2, budget={'p50_ms': 1.0})) == rep.BREACH_COLOUR
    assert rep.cell_colour(target('a', 0.1, breaches=['x'])) == rep.BREACH_COLOUR
    assert rep.cell_colour(target('a', 0.1)) == rep.NO_BUDGET_COLOUR
    assert rep.cell_colour(target('a', None)) == rep.NO_REPLY_COLOUR


def test_html_escapes_names_and_draws_one_cell_per_row():
    hosts = hosts_fixture()
    hosts['n1']['latency']['results'][0]['name'] = '<script>'
    html = rep.render_html(rep.build_report('lab', 't', hosts))
    assert '<script>' not in html and '&lt;script&gt;' in html
    assert html.count('<rect ') == 4  # 2 nodes x 2 targets, two of them empty
    assert '2 problem(s)' in html


def test_html_puts_nodes_first_as_columns():
    hosts = {'n1': {'latency': {'results': [target('isp', 1.0), target('n2', 0.1)]}},
             'n2': {'latency': {'results': [target('n1', 0.1), target('isp', 1.0)]}}}
    html = rep.render_html(rep.build_report('lab', 't', hosts))
    labels = [part.split('>')[1].split('<')[0] for part in html.split('<text ')[1:4]]
    assert labels == ['n1', 'n2', 'isp']


def test_cluster_problems_join_the_report():
    cluster = {'problems': ['cluster kube-proxy: the DaemonSet kube-system/kube-proxy still exists'],
               'cannot_check': ['cluster NetworkPolicy: cannot be read: see the run log']}
    hosts = hosts_fixture()
    del hosts['n1']
    report = rep.build_report('lab', 't', hosts, cluster)
    assert report['ok'] is False
    assert report['problems'] == cluster['problems']
    assert report['cannot_check'][-1] == cluster['cannot_check'][0]


def test_cluster_agents_and_gateways_join_the_report_per_node_and_object():
    pods = [{'metadata': {'name': 'cilium-a'}, 'spec': {'nodeName': 'n1'},
             'status': {'phase': 'Pending', 'conditions': []}}]
    cluster = {'problems': [], 'cannot_check': [],
               'cilium_agents': {'expect_lb_mode': 'dsr', 'tunnel': 'disabled', 'pods': pods, 'exec': []},
               'gateway_api': {'gateways': [{'name': 'gw', 'namespace': 'ns', 'listeners': []}], 'resources': [],
                               'expect_controller': True}}
    report = rep.build_report('lab', 't', {}, cluster)
    assert report['problems'] == [
        'cluster cilium agent kube-system/cilium-a on node n1: not ready: phase Pending, no Ready condition',
        'cluster gateway api: Gateway ns/gw: not found on the server']
    assert report['cluster']['cilium_agents']['n1']['status'] == 'problem'
    assert report['cluster']['gateway_api'] == {'Gateway ns/gw': {'status': 'problem',
                                                                  'detail': 'Gateway ns/gw: not found on the server'}}
    table = rep.render_table(report).splitlines()
    agents_row = table[table.index('cilium agents (node, pod, verdict):') + 1]
    assert agents_row.split() == ['n1', 'kube-system/cilium-a', 'problem']
    assert table[table.index('gateway api:') + 1].split() == ['Gateway', 'ns/gw', 'problem']
    html = rep.render_html(report)
    assert '<li>cilium agents n1: problem (not ready: phase Pending, no Ready condition)</li>' in html


def test_report_without_cluster_reads_has_an_empty_cluster_section():
    report = rep.build_report('lab', 't', {})
    assert report['cluster'] == {}
    assert '<li>not checked from the API server</li>' in rep.render_html(report)


def test_a_nodes_unchecked_agent_checks_come_from_its_agent_pod():
    with open(os.path.join(os.path.dirname(__file__), '..', '..', 'fixtures', 'cilium', 'status_snat_vxlan.json')) as f:
        status = f.read()
    pod = {'metadata': {'name': 'cilium-a'}, 'spec': {'nodeName': 'n1'},
           'status': {'phase': 'Running', 'conditions': [{'type': 'Ready', 'status': 'True'}]}}
    cluster = {'cilium_agents': {'pods': [pod], 'exec': [{'item': pod, 'rc': 0, 'stdout': status}]}}
    no_binary = {'status': 'cannot_check', 'detail': 'no cilium agent on this node: no cilium-dbg binary'}
    hosts = {'n1': {'datapath': {'checks': {'bpffs': {'status': 'ok', 'detail': 'mounted'},
                                            'lb_mode': no_binary, 'routing': no_binary}}},
             'n2': {'datapath': {'checks': {'lb_mode': no_binary}}}}
    report = rep.build_report('lab', 't', hosts, cluster)
    n1 = report['hosts']['n1']['datapath']
    assert n1['bpffs'] == {'status': 'ok', 'detail': 'mounted'}
    assert n1['lb_mode']['status'] == 'problem'
    assert n1['lb_mode']['detail'].endswith('(from agent pod kube-system/cilium-a)')
    # Counted once, on the cluster side; n2 has no agent pod, so its check stays unchecked.
    assert [p.split(': ')[1] for p in report['problems']] == ['lb_mode', 'routing']
    assert report['cannot_check'] == ['n2 lb_mode: no cilium agent on this node: no cilium-dbg binary']
