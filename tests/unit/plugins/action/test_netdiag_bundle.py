# -*- coding: utf-8 -*-
# Copyright: (c) 2026, packetjungle.datapath contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""netdiag_bundle action: the archive it writes from registered results (captured outputs
from a lab node), a node that was unreachable and one that never ran, read back with tarfile."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import tarfile
from types import SimpleNamespace

import pytest

from ansible.errors import AnsibleActionFail
from ansible_collections.packetjungle.datapath.plugins.action.netdiag_bundle import ActionModule

FIXTURES = os.path.join(os.path.dirname(__file__), '..', '..', 'fixtures', 'netdiag')


def fixture(name):
    with open(os.path.join(FIXTURES, name)) as f:
        return f.read()


def action(args):
    """The action plugin with only what ActionBase.run reads from its task and connection."""
    plugin = ActionModule.__new__(ActionModule)
    plugin._task = SimpleNamespace(async_val=0, check_mode=True, args=args, action='netdiag_bundle')
    plugin._connection = SimpleNamespace(_shell=SimpleNamespace(tmpdir='/unused'))
    return plugin


def output(file, status='ok', stdout='', stderr='', reason=None):
    return {'file': file, 'argv': ['/usr/bin/timeout', '--kill-after=1', '10s', '/usr/sbin/x'], 'source': None,
            'rc': 0 if status == 'ok' else None, 'seconds': 0.01, 'status': status, 'reason': reason,
            'stdout': stdout, 'stderr': stderr, 'truncated': False}


def collected():
    return {
        'changed': False, 'hostname': 'pj-diag-1', 'kernel': '6.18', 'seconds': 0.3, 'parse_errors': [],
        'outputs': [
            output('host/ip-addr.json', stdout=fixture('node_ip_j_addr.json')),
            output('host/nft-ruleset.txt', stdout=fixture('node_nft_list_ruleset.txt'),
                   stderr='# Warning: table ip nat is managed by iptables-nft, do not touch!\n'),
            output('host/netstat-s.txt', 'missing', reason='netstat is not installed on the node'),
            output('host/ip6tables-save.txt'),
            output('pods/default_web-0/ip-addr.json', stdout=fixture('pod_ip_j_addr.json')),
        ],
        'counters': {'conntrack': {'count': 9, 'max': 262144, 'stats': None}},
        'pods': {'default/web-0': {'found': True, 'reason': None, 'container': 'pjdiag-web0', 'pid': 557,
                                   'netns': '/proc/557/ns/net', 'counters': {'addresses': {
                                       'eth0': ['10.244.1.10/24']}}}},
        'cilium': {'running': False, 'detail': 'no running container labelled io.kubernetes.container.name='
                                               'cilium-agent, and no cilium-dbg on the node'},
    }


def read_bundle(path):
    with tarfile.open(path) as tar:
        return dict((m.name, tar.extractfile(m).read().decode()) for m in tar.getmembers())


def test_bundle_layout(tmp_path):
    task_vars = {
        'ansible_play_hosts_all': ['pj-diag-1', 'pj-diag-2', 'pj-diag-3'],
        'ansible_play_hosts': ['pj-diag-1', 'pj-diag-2'],
        'hostvars': {
            'pj-diag-1': {'__netdiag_collect': collected(),
                          '__netdiag_path_mtu': {'changed': False, 'problems': [], 'invocation': {'x': 1},
                                                 'peers': {'172.29.136.12': {'path_mtu': 1500, 'interface': 'eth0',
                                                                             'interface_mtu': 1500,
                                                                             'max_pod_mtu': 1500, 'problems': []}}}},
            'pj-diag-2': {'__netdiag_collect': {'unreachable': True, 'changed': False,
                                                'msg': 'ssh: connect to host 172.29.136.12 port 22: No route to host'}},
            'pj-diag-3': {},
        },
    }
    result = action({'region': 'no-osl-1', 'report_dir': str(tmp_path / 'reports')}).run(task_vars=task_vars)
    assert result['changed'] is False
    path = result['bundle']
    assert os.path.dirname(path) == str(tmp_path / 'reports')
    assert os.listdir(str(tmp_path / 'reports')) == [os.path.basename(path)]
    assert os.path.getsize(path) == result['bytes']
    files = read_bundle(path)
    top = os.path.basename(path)[:-len('.tar.gz')]
    assert top.startswith('netdiag-no-osl-1-')
    names = sorted(name[len(top) + 1:] for name in files)
    assert names == [
        'README.txt',
        'pj-diag-1/commands.json', 'pj-diag-1/counters.json', 'pj-diag-1/host/ip-addr.json',
        'pj-diag-1/host/ip6tables-save.txt', 'pj-diag-1/host/nft-ruleset.txt', 'pj-diag-1/host/nft-ruleset.txt.stderr',
        'pj-diag-1/path-mtu.json', 'pj-diag-1/pods/default_web-0/ip-addr.json',
        'pj-diag-2/NOT-COLLECTED.txt', 'pj-diag-3/NOT-COLLECTED.txt', 'summary.json']
    inside = dict((name[len(top) + 1:], text) for name, text in files.items())
    assert inside['pj-diag-1/host/ip-addr.json'] == fixture('node_ip_j_addr.json')
    assert inside['pj-diag-2/NOT-COLLECTED.txt'] == (
        'Nothing was collected on pj-diag-2: unreachable: ssh: connect to host 172.29.136.12 port 22: No route to '
        'host\n')
    assert inside['pj-diag-3/NOT-COLLECTED.txt'] == (
        'Nothing was collected on pj-diag-3: netdiag_collect did not run on it (unreachable or failed earlier in '
        'the play)\n')
    commands = json.loads(inside['pj-diag-1/commands.json'])
    assert [c['file'] for c in commands][:3] == ['host/ip-addr.json', 'host/nft-ruleset.txt', 'host/netstat-s.txt']
    assert not [c for c in commands if 'stdout' in c or 'stderr' in c]
    assert 'invocation' not in json.loads(inside['pj-diag-1/path-mtu.json'])
    summary = json.loads(inside['summary.json'])
    assert summary['region'] == 'no-osl-1'
    assert summary['nodes']['pj-diag-1']['not_collected'] == ['host/netstat-s.txt: netstat is not installed on the '
                                                              'node']
    assert inside['README.txt'].splitlines() == result['summary']
    assert [f['kind'] for f in result['findings']] == ['cilium', 'collection', 'collection']


def test_bad_arguments_fail_before_writing(tmp_path):
    with pytest.raises(AnsibleActionFail) as caught:
        action({'region': 'x', 'report_dir': str(tmp_path), 'conntrack_warn_pct': 'lots'}).run(task_vars={})
    assert 'conntrack_warn_pct' in str(caught.value)
    assert os.listdir(str(tmp_path)) == []
