# -*- coding: utf-8 -*-
# Copyright: (c) 2026, packetjungle.datapath contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs on the controller: collects the validation results registered on
every node, writes the JSON report and the HTML latency picture, returns the
table, and fails the run on a problem. Documentation: modules/validation_report.py."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import datetime
import json
import os

from ansible.plugins.action import ActionBase
from ansible_collections.packetjungle.datapath.plugins.plugin_utils.action_args import validated_args
from ansible_collections.packetjungle.datapath.plugins.module_utils.report import build_report, render_html, render_table

ARGUMENT_SPEC = dict(
    region=dict(type='str', required=True),
    hosts=dict(type='list', elements='str'),
    latency_var=dict(type='str', default='__validate_latency'),
    path_mtu_var=dict(type='str', default='__validate_path_mtu'),
    datapath_var=dict(type='str', default='__validate_datapath'),
    cluster_var=dict(type='str', default='__validate_cluster'),
    report_dir=dict(type='path', required=True),
    fail_on_problem=dict(type='bool', default=True),
)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(ARGUMENT_SPEC)

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        args = validated_args('validation_report', ARGUMENT_SPEC, self._task.args)
        hostvars = task_vars.get('hostvars', {})
        hosts = args['hosts'] or task_vars.get('ansible_play_hosts_all', [])

        collected = {}
        for host in hosts:
            facts = hostvars.get(host, {})
            collected[host] = {
                'latency': facts.get(args['latency_var']),
                'path_mtu': facts.get(args['path_mtu_var']),
                'datapath': facts.get(args['datapath_var']),
            }
        now = datetime.datetime.now(datetime.timezone.utc)
        report = build_report(args['region'], now.isoformat(timespec='seconds'), collected,
                              task_vars.get(args['cluster_var']))

        os.makedirs(args['report_dir'], exist_ok=True)
        stem = os.path.join(args['report_dir'], '%s-%s' % (args['region'], now.strftime('%Y%m%dT%H%M%SZ')))
        with open(stem + '.json', 'w') as f:
            json.dump(report, f, indent=2, sort_keys=True, default=str)
        with open(stem + '.html', 'w') as f:
            f.write(render_html(report))

        table = render_table(report)
        # The report records the run; it changes nothing on the nodes.
        result.update(changed=False, ok=report['ok'], problems=report['problems'],
                      cannot_check=report['cannot_check'], report_path=stem + '.json', html_path=stem + '.html',
                      table=table.splitlines())
        if report['problems'] and args['fail_on_problem']:
            result.update(failed=True, msg='validation found %d problem(s), report %s: %s' % (
                len(report['problems']), stem + '.json', '; '.join(report['problems'])))
        return result
