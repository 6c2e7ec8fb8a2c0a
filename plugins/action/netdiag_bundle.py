# -*- coding: utf-8 -*-
# Copyright: (c) 2026, packetjungle.datapath contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs on the controller: gathers what netdiag_collect and path_mtu returned
on every node into one support bundle (a .tar.gz with a directory per node,
summary.json and README.txt). Documentation: modules/netdiag_bundle.py."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import datetime
import io
import json
import os
import tarfile
import tempfile
import time

from ansible.plugins.action import ActionBase
from ansible_collections.packetjungle.datapath.plugins.plugin_utils.action_args import validated_args
from ansible_collections.packetjungle.datapath.plugins.module_utils.netdiag import (
    build_summary,
    render_readme,
    safe_name,
)

ARGUMENT_SPEC = dict(
    region=dict(type='str', required=True),
    report_dir=dict(type='path', required=True),
    hosts=dict(type='list', elements='str'),
    collect_var=dict(type='str', default='__netdiag_collect'),
    path_mtu_var=dict(type='str', default='__netdiag_path_mtu'),
    conntrack_warn_pct=dict(type='float', default=80.0),
)


def _json(data):
    return json.dumps(data, indent=2, sort_keys=True, default=str) + '\n'


class Bundle(object):
    """A .tar.gz built in memory: every member a regular file, mode 0644."""

    def __init__(self, root):
        self.root = root
        self.buffer = io.BytesIO()
        self.tar = tarfile.open(fileobj=self.buffer, mode='w:gz')
        self.mtime = time.time()

    def add(self, path, text):
        data = text.encode('utf-8', 'replace') if not isinstance(text, bytes) else text
        info = tarfile.TarInfo('%s/%s' % (self.root, path))
        info.size = len(data)
        info.mode = 0o644
        info.mtime = self.mtime
        self.tar.addfile(info, io.BytesIO(data))

    def close(self):
        self.tar.close()
        return self.buffer.getvalue()


def node_reason(host, facts, collect_var, active):
    """Why a node has no collection result."""
    result = facts.get(collect_var)
    if result is None:
        return 'netdiag_collect did not run on it (%s)' % (
            'unreachable or failed earlier in the play' if host not in active else 'skipped')
    if result.get('unreachable'):
        return 'unreachable: %s' % result.get('msg', 'no message')
    return result.get('msg') or 'netdiag_collect failed'


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(ARGUMENT_SPEC)

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        args = validated_args('netdiag_bundle', ARGUMENT_SPEC, self._task.args)
        hostvars = task_vars.get('hostvars', {})
        hosts = args['hosts'] or task_vars.get('ansible_play_hosts_all', [])
        active = task_vars.get('ansible_play_hosts', hosts)

        now = datetime.datetime.now(datetime.timezone.utc)
        stem = 'netdiag-%s-%s' % (safe_name(args['region']), now.strftime('%Y%m%dT%H%M%SZ'))
        collected = {}
        for host in hosts:
            facts = hostvars.get(host, {})
            collect = facts.get(args['collect_var'])
            ok = bool(collect) and not collect.get('failed') and 'outputs' in collect
            collected[host] = {
                'collect': collect if ok else None,
                'path_mtu': facts.get(args['path_mtu_var']),
                'reason': None if ok else node_reason(host, facts, args['collect_var'], active),
            }
        summary = build_summary(args['region'], now.isoformat(timespec='seconds'), collected,
                                args['conntrack_warn_pct'])
        readme = render_readme(summary, stem)

        bundle = Bundle(stem)
        bundle.add('README.txt', readme)
        bundle.add('summary.json', _json(summary))
        for host in sorted(collected):
            entry = collected[host]
            directory = safe_name(host)
            if entry['collect'] is None:
                bundle.add('%s/NOT-COLLECTED.txt' % directory, 'Nothing was collected on %s: %s\n'
                           % (host, entry['reason']))
                continue
            index = []
            for output in entry['collect']['outputs']:
                index.append(dict((k, v) for k, v in output.items() if k not in ('stdout', 'stderr')))
                if output['stdout'] or output['status'] == 'ok':
                    bundle.add('%s/%s' % (directory, output['file']), output['stdout'])
                if output['stderr']:
                    bundle.add('%s/%s.stderr' % (directory, output['file']), output['stderr'])
            bundle.add('%s/commands.json' % directory, _json(index))
            bundle.add('%s/counters.json' % directory, _json({
                'node': entry['collect'].get('counters'),
                'pods': dict((key, pod.get('counters')) for key, pod in entry['collect']['pods'].items()),
                'parse_errors': entry['collect'].get('parse_errors')}))
            if entry['path_mtu'] is not None:
                bundle.add('%s/path-mtu.json' % directory, _json(dict(
                    (k, v) for k, v in entry['path_mtu'].items() if k not in ('invocation',))))
        data = bundle.close()

        report_dir = args['report_dir']
        os.makedirs(report_dir, exist_ok=True)
        path = os.path.join(report_dir, stem + '.tar.gz')
        # Whole or nothing: a reader never sees half a bundle.
        handle, temp = tempfile.mkstemp(dir=report_dir, prefix='.%s.' % stem)
        try:
            with os.fdopen(handle, 'wb') as f:
                f.write(data)
            os.chmod(temp, 0o644)
            os.replace(temp, path)
        finally:
            if os.path.exists(temp):
                os.unlink(temp)
        # The bundle records the run; it changes nothing on the nodes.
        result.update(changed=False, bundle=path, bytes=len(data), findings=summary['findings'],
                      summary=readme.splitlines())
        return result
