#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, packetjungle.datapath contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: netdiag_bundle
short_description: Write one "packets disappear" support bundle for all nodes on the controller
version_added: 1.0.0
author: packetjungle.datapath contributors (@packetjungle)
description:
  - Runs on the controller (an action plugin). Gathers what M(packetjungle.datapath.netdiag_collect) and
    M(packetjungle.datapath.path_mtu) returned on every node into one
    C(REPORT_DIR/netdiag-REGION-TIMESTAMP.tar.gz).
  - The archive holds one directory C(netdiag-REGION-TIMESTAMP/) with C(README.txt) (read it first - the
    findings, what was collected, what could not be collected and why), C(summary.json) (the same for
    machines), and one directory per node - every raw output as a text file under C(host/),
    C(pods/NAMESPACE_NAME/), C(cilium/) and C(containerd/), a C(.stderr) file next to an output that wrote to
    standard error, C(commands.json) (argv, exit code, seconds, status and reason of every command),
    C(counters.json) (the parsed counters) and C(path-mtu.json). A node with no result gets
    C(NOT-COLLECTED.txt) with the reason (unreachable, failed).
  - Findings - path MTU problems and pod MTUs above what the path carries; drop and error counters above zero
    (links, C(/proc/net/snmp) and C(netstat), softnet backlog, qdiscs, C(ethtool -S), firewall rules that
    dropped packets, C(conntrack -S)); a conntrack table at or above O(conntrack_warn_pct) of its maximum; a
    node without a Cilium agent; a pod that was not found.
  - Written atomically (a temporary file renamed into place). Never reports a change and never fails on a
    finding, since the bundle records the run and changes nothing on the nodes.
options:
  region:
    description: Region id, used in the file name and the summary.
    type: str
    required: true
  report_dir:
    description: Directory on the controller for the bundle; created when missing.
    type: path
    required: true
  hosts:
    description: Nodes that go in the bundle. Default the play's hosts, including those that failed.
    type: list
    elements: str
  collect_var:
    description: Name of the variable each node registered M(packetjungle.datapath.netdiag_collect) in.
    type: str
    default: __netdiag_collect
  path_mtu_var:
    description: Name of the variable each node registered M(packetjungle.datapath.path_mtu) in.
    type: str
    default: __netdiag_path_mtu
  conntrack_warn_pct:
    description: Conntrack fill (count of max, in percent) reported as a finding.
    type: float
    default: 80
seealso:
  - module: packetjungle.datapath.netdiag_collect
extends_documentation_fragment:
  - packetjungle.datapath.attributes
  - packetjungle.datapath.attributes.controller
'''

EXAMPLES = r'''
- name: Write the support bundle
  packetjungle.datapath.netdiag_bundle:
    region: no-osl-1
    report_dir: reports
  run_once: true
  delegate_to: localhost
  register: __netdiag_bundle

- name: Show what to read first
  ansible.builtin.debug:
    msg: "{{ __netdiag_bundle.summary | join('\n') }}"
  run_once: true
'''

RETURN = r'''
bundle:
  description: Path of the written archive.
  returned: always
  type: str
  sample: reports/netdiag-no-osl-1-20261125T081500Z.tar.gz
bytes:
  description: Size of the archive.
  returned: always
  type: int
  sample: 41233
findings:
  description: Every finding, with the node and its kind (V(mtu), V(drops), V(conntrack), V(cilium), V(pod), V(collection)).
  returned: always
  type: list
  elements: dict
  sample: [{"node": "pj-lab-2", "kind": "cilium", "text": "Cilium agent is not running on this node: ..."}]
summary:
  description: The bundle's README.txt, one line per element.
  returned: always
  type: list
  elements: str
'''
