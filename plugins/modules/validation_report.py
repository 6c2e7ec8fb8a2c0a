#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, packetjungle.datapath contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: validation_report
short_description: Write the datapath validation report (JSON, table, HTML latency picture) on the controller
version_added: 1.0.0
author: packetjungle.datapath contributors (@packetjungle)
description:
  - Runs on the controller (an action plugin). Collects what M(packetjungle.datapath.latency_probe),
    M(packetjungle.datapath.path_mtu) and M(packetjungle.datapath.datapath_info) returned on every node, writes
    one timestamped JSON report and one HTML page with a node-by-target latency picture coloured by budget, and
    returns a fixed-width table for people.
  - Fails the task when any node reported a problem (a latency budget breach, a path MTU problem, a datapath
    check that found something wrong), after the report is written. A check that could not run is listed
    under RV(cannot_check), never counted as passed.
  - Never reports a change, since the report records the run and changes nothing on the nodes.
options:
  region:
    description: Region id, used in the file names and the page title.
    type: str
    required: true
  hosts:
    description: Nodes whose results go in the report. Default the play's hosts.
    type: list
    elements: str
  latency_var:
    description: Name of the variable each node registered M(packetjungle.datapath.latency_probe) in.
    type: str
    default: __validate_latency
  path_mtu_var:
    description: Name of the variable each node registered M(packetjungle.datapath.path_mtu) in.
    type: str
    default: __validate_path_mtu
  datapath_var:
    description: Name of the variable each node registered M(packetjungle.datapath.datapath_info) in.
    type: str
    default: __validate_datapath
  cluster_var:
    description: Name of the variable holding the cluster-side checks (C(problems), C(cannot_check)), if they ran.
    type: str
    default: __validate_cluster
  report_dir:
    description: Directory on the controller for C(REGION-TIMESTAMP.json) and C(.html).
    type: path
    required: true
  fail_on_problem:
    description: Fail when any problem was found.
    type: bool
    default: true
extends_documentation_fragment:
  - packetjungle.datapath.attributes
  - packetjungle.datapath.attributes.controller
'''

EXAMPLES = r'''
- name: Write the report and fail on a breach
  packetjungle.datapath.validation_report:
    region: no-osl-1
    report_dir: "{{ playbook_dir }}/../reports"
  run_once: true
'''

RETURN = r'''
ok:
  description: No problem was found.
  returned: always
  type: bool
problems:
  description: Every problem, prefixed with the node and the check.
  returned: always
  type: list
  elements: str
  sample: ["pj-lab-2 latency: pj-lab-1 p99 7.9 ms > budget 5.0 ms"]
cannot_check:
  description: Checks that could not run, with the reason.
  returned: always
  type: list
  elements: str
report_path:
  description: The JSON report.
  returned: always
  type: str
  sample: reports/lab-20261125T060000Z.json
html_path:
  description: The HTML page with the latency picture.
  returned: always
  type: str
table:
  description: The node-to-target latency table, one line per element.
  returned: always
  type: list
  elements: str
'''
