# -*- coding: utf-8 -*-
# Copyright: (c) 2026, packetjungle.datapath contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The validation report: built from what latency_probe, path_mtu and
datapath_info returned on each node and what the validate role read from the
API server, rendered as JSON for machines and as a table and an HTML latency
picture for people. Pure functions, no I/O."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.packetjungle.datapath.plugins.module_utils.cilium_status import CHECKS
from ansible_collections.packetjungle.datapath.plugins.module_utils.cluster_checks import judge_cluster

SCHEMA = 'packetjungle.datapath/validation-report/v1'

# Colour steps of the latency picture, by p50 as a share of the budget.
COLOURS = ((0.5, '#2e7d32'), (0.8, '#9e9d24'), (1.0, '#ef6c00'))
BREACH_COLOUR = '#c62828'
NO_BUDGET_COLOUR = '#546e7a'
NO_REPLY_COLOUR = '#212121'


def _latency_rows(host, result):
    rows = []
    for item in (result or {}).get('results') or []:
        budget = item.get('budget') or {}
        rows.append({
            'host': host,
            'target': item.get('name') or item.get('address'),
            'address': item.get('address'),
            'method': item.get('method'),
            'sent': item.get('sent'),
            'received': item.get('received'),
            'loss_pct': item.get('loss_pct'),
            'p50_ms': item.get('p50_ms'),
            'p90_ms': item.get('p90_ms'),
            'p99_ms': item.get('p99_ms'),
            'jitter_ms': item.get('jitter_ms'),
            'budget': budget,
            'breaches': list(item.get('breaches') or []),
        })
    return rows


def _host_problems(host, results):
    """Every problem a node reported, prefixed with the node and the check."""
    problems = []
    latency = results.get('latency') or {}
    for text in latency.get('breaches') or []:
        problems.append('%s latency: %s' % (host, text))
    for name in ('path_mtu', 'datapath'):
        for text in (results.get(name) or {}).get('problems') or []:
            problems.append('%s %s: %s' % (host, name.replace('_', ' '), text))
    for name, result in sorted(results.items()):
        if isinstance(result, dict) and result.get('failed') and not result.get('breaches') \
                and not result.get('problems'):
            problems.append('%s %s: check failed to run: %s' % (host, name.replace('_', ' '), result.get('msg')))
    return problems


def _from_agent_pod(checks, agent):
    """The node's agent checks that could not run on the node, taken from its agent pod where that was read.

    cilium-dbg usually lives only in the agent container, so datapath_info on the node finds no status while
    the cluster side exec'd it. Only checks the node left cannot_check are replaced; the pod's problems are
    reported once, on the cluster side.
    """
    if not agent or not agent.get('checks'):
        return checks
    merged = dict(checks)
    for name in CHECKS:
        if (checks.get(name) or {}).get('status') == 'cannot_check' and name in agent['checks']:
            verdict = agent['checks'][name]
            merged[name] = {'status': verdict['status'],
                            'detail': '%s (from agent pod %s)' % (verdict['detail'], agent['pod'])}
    return merged


def build_report(region, generated_at, hosts, cluster=None):
    """hosts: node name -> {'latency': ..., 'path_mtu': ..., 'datapath': ...} module results;
    cluster: the validate role's cluster reads (problems and cannot_check it judged itself, plus the raw
    cilium_agents and gateway_api reads that cluster_checks.judge_cluster judges), if they ran."""
    report = {'schema': SCHEMA, 'region': region, 'generated_at': generated_at, 'hosts': {},
              'latency': [], 'problems': [], 'cannot_check': [], 'cluster': {}}
    judged = judge_cluster(cluster)
    agents = judged.get('cilium_agents') or {}
    for host in sorted(hosts):
        results = hosts[host] or {}
        report['latency'].extend(_latency_rows(host, results.get('latency')))
        checks = _from_agent_pod((results.get('datapath') or {}).get('checks') or {}, agents.get(host))
        for name, check in sorted(checks.items()):
            if (check or {}).get('status') == 'cannot_check':
                report['cannot_check'].append('%s %s: %s' % (host, name, check.get('detail')))
        report['problems'].extend(_host_problems(host, results))
        report['hosts'][host] = {
            'path_mtu': (results.get('path_mtu') or {}).get('peers'),
            'datapath': checks,
        }
    report['problems'].extend(judged['problems'])
    report['cannot_check'].extend(judged['cannot_check'])
    for section in ('cilium_agents', 'gateway_api'):
        if section in judged:
            report['cluster'][section] = judged[section]
    report['ok'] = not report['problems']
    return report


def _fmt(value, digits=3):
    if value is None:
        return '-'
    if isinstance(value, float):
        return ('%.' + str(digits) + 'f') % value
    return str(value)


def render_table(report):
    """A fixed-width table of node-to-target latency, then problems."""
    header = ('node', 'target', 'method', 'p50 ms', 'p90 ms', 'p99 ms', 'jitter ms', 'loss %', 'budget p50/p99', 'verdict')
    rows = [header]
    for row in report['latency']:
        budget = row['budget']
        budget_text = '%s/%s' % (_fmt(budget.get('p50_ms'), 1), _fmt(budget.get('p99_ms'), 1)) if budget else '-'
        rows.append((row['host'], row['target'], row['method'] or '-', _fmt(row['p50_ms']), _fmt(row['p90_ms']),
                     _fmt(row['p99_ms']), _fmt(row['jitter_ms']), _fmt(row['loss_pct'], 1), budget_text,
                     'BREACH' if row['breaches'] else 'ok'))
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(header))]
    lines = ['  '.join(str(cell).ljust(widths[i]) for i, cell in enumerate(r)).rstrip() for r in rows]
    lines.insert(1, '  '.join('-' * w for w in widths))
    for title, section, label in (('cilium agents (node, pod, verdict)', 'cilium_agents', 'pod'),
                                  ('gateway api', 'gateway_api', None)):
        entries = report.get('cluster', {}).get(section)
        if entries:
            lines.append('')
            lines.append('%s:' % title)
            lines.extend('  %s  %s%s' % (key, (entry[label] + '  ') if label else '', entry['status'])
                         for key, entry in sorted(entries.items()))
    lines.append('')
    lines.append('problems: %d' % len(report['problems']))
    lines.extend('  ' + p for p in report['problems'])
    if report['cannot_check']:
        lines.append('not checked: %d' % len(report['cannot_check']))
        lines.extend('  ' + c for c in report['cannot_check'])
    return '\n'.join(lines)


def cell_colour(row):
    """Colour of one node-to-target cell: by p50 against its budget."""
    if row['p50_ms'] is None:
        return NO_REPLY_COLOUR
    if row['breaches']:
        return BREACH_COLOUR
    budget = (row['budget'] or {}).get('p50_ms')
    if not budget:
        return NO_BUDGET_COLOUR
    share = row['p50_ms'] / budget
    for limit, colour in COLOURS:
        if share <= limit:
            return colour
    return BREACH_COLOUR


def _esc(text):
    return (str(text).replace('&', '&amp;').replace('<', '&lt;').replace('>', '&gt;')
            .replace('"', '&quot;'))


def render_html(report):
    """A self-contained page: a node x target matrix coloured by p50 against budget."""
    hosts = sorted({r['host'] for r in report['latency']})
    # Nodes first, in the rows' order, so node-to-node cells form a square
    # with an empty diagonal; the region's targets follow.
    targets = [h for h in hosts if any(r['target'] == h for r in report['latency'])]
    for row in report['latency']:
        if row['target'] not in targets:
            targets.append(row['target'])
    cells = {(r['host'], r['target']): r for r in report['latency']}
    cw, ch, left, top = 118, 46, 150, 120
    width, height = left + cw * max(len(targets), 1) + 20, top + ch * max(len(hosts), 1) + 20
    svg = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" '
           'font-size="12">' % (width, height)]
    for j, target in enumerate(targets):
        x = left + j * cw + cw // 2
        svg.append('<text x="%d" y="%d" transform="rotate(-30 %d %d)" text-anchor="start">%s</text>'
                   % (x, top - 10, x, top - 10, _esc(target)))
    for i, host in enumerate(hosts):
        y = top + i * ch
        svg.append('<text x="%d" y="%d" text-anchor="end">%s</text>' % (left - 8, y + ch // 2 + 4, _esc(host)))
        for j, target in enumerate(targets):
            row = cells.get((host, target))
            x = left + j * cw
            if row is None:
                svg.append('<rect x="%d" y="%d" width="%d" height="%d" fill="#eceff1" stroke="#fff"/>'
                           % (x, y, cw, ch))
                continue
            title = '%s -> %s: p50 %s ms, p99 %s ms, jitter %s ms, loss %s %%%s' % (
                host, target, _fmt(row['p50_ms']), _fmt(row['p99_ms']), _fmt(row['jitter_ms']),
                _fmt(row['loss_pct'], 1), ('; ' + '; '.join(row['breaches'])) if row['breaches'] else '')
            svg.append('<g><title>%s</title><rect x="%d" y="%d" width="%d" height="%d" fill="%s" stroke="#fff"/>'
                       '<text x="%d" y="%d" fill="#fff" text-anchor="middle">%s</text>'
                       '<text x="%d" y="%d" fill="#fff" text-anchor="middle" font-size="10">p99 %s</text></g>'
                       % (_esc(title), x, y, cw, ch, cell_colour(row), x + cw // 2, y + 19, _fmt(row['p50_ms']),
                          x + cw // 2, y + 35, _fmt(row['p99_ms'])))
    svg.append('</svg>')
    verdict = 'OK' if report['ok'] else '%d problem(s)' % len(report['problems'])
    problems = ''.join('<li>%s</li>' % _esc(p) for p in report['problems']) or '<li>none</li>'
    unchecked = ''.join('<li>%s</li>' % _esc(c) for c in report['cannot_check']) or '<li>none</li>'
    cluster = ''.join('<li>%s %s: %s (%s)</li>'
                      % (_esc(section.replace('_', ' ')), _esc(key), _esc(entry['status']), _esc(entry['detail']))
                      for section, entries in sorted(report.get('cluster', {}).items())
                      for key, entry in sorted(entries.items())) or '<li>not checked from the API server</li>'
    legend = ('p50 as a share of its budget: <span style="color:#2e7d32">&#9632; &le;50%</span> '
              '<span style="color:#9e9d24">&#9632; &le;80%</span> <span style="color:#ef6c00">&#9632; &le;100%</span> '
              '<span style="color:#c62828">&#9632; breach</span> <span style="color:#546e7a">&#9632; no budget</span> '
              '<span style="color:#212121">&#9632; no reply</span>')
    return ('<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>Datapath validation %s</title></head>'
            '<body style="font-family:sans-serif">\n<h1>Datapath validation: %s</h1>\n<p>%s &middot; %s</p>\n'
            '<h2>Latency, node to target (ms)</h2>\n<p>%s</p>\n%s\n<h2>Problems</h2><ul>%s</ul>\n'
            '<h2>Not checked</h2><ul>%s</ul>\n<h2>Cluster</h2><ul>%s</ul>\n</body></html>\n'
            % (_esc(report['region']), _esc(report['region']), _esc(report['generated_at']), verdict, legend,
               '\n'.join(svg), problems, unchecked, cluster))
