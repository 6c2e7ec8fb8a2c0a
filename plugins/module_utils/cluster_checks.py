# -*- coding: utf-8 -*-
# Copyright: (c) 2026, packetjungle.datapath contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Cluster-side verdicts for the validation report, from what the validate role read through the API server.

Pure: the role reads (kubernetes.core.k8s_info, kubernetes.core.k8s_exec) and hands the raw results over; this
module judges them with the existing checks (cilium_status for each agent's ``cilium-dbg status -o json``,
k8s_objects for Gateway API conditions) and says per agent and per object what is ok, a problem, or could not be
checked. A check that could not look is never ok.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json

from ansible_collections.packetjungle.datapath.plugins.module_utils.cilium_status import (
    CiliumStatusError,
    cannot_check_all,
    evaluate,
    load_status,
)
from ansible_collections.packetjungle.datapath.plugins.module_utils.datapath import (
    CANNOT_CHECK,
    OK,
    PROBLEM,
)
from ansible_collections.packetjungle.datapath.plugins.module_utils.k8s_objects import (
    CILIUM_CONTROLLER,
    GATEWAY_API_VERSION,
    _key,
    build_gateway_api_objects,
    gateway_api_status_problems,
)

AGENT_NAMESPACE = 'kube-system'
AGENT_CONTAINER = 'cilium-agent'
STATUS_COMMAND = 'cilium-dbg status -o json'


def _overall(statuses):
    """problem beats cannot_check beats ok; not_applicable alone is ok."""
    if PROBLEM in statuses:
        return PROBLEM
    if CANNOT_CHECK in statuses:
        return CANNOT_CHECK
    return OK


def pod_readiness(pod):
    """(ready, why not) of a Pod object: phase Running and condition Ready True, else a sentence saying what it is."""
    status = pod.get('status') or {}
    phase = status.get('phase') or 'no phase'
    ready = [c for c in status.get('conditions') or [] if isinstance(c, dict) and c.get('type') == 'Ready']
    if phase == 'Running' and ready and ready[0].get('status') == 'True':
        return True, None
    parts = ['phase %s' % phase]
    if ready:
        cond = ready[0]
        text = 'Ready %s' % cond.get('status')
        if cond.get('reason') or cond.get('message'):
            text += ' (%s)' % ': '.join(x for x in (cond.get('reason'), cond.get('message')) if x)
        parts.append(text)
    else:
        parts.append('no Ready condition')
    for container in status.get('containerStatuses') or []:
        state = container.get('state') or {}
        for kind in ('waiting', 'terminated'):
            if state.get(kind):
                parts.append('container %s %s: %s' % (container.get('name'), kind,
                                                      state[kind].get('reason') or state[kind].get('message')))
        if container.get('restartCount'):
            parts.append('container %s restarted %d times' % (container.get('name'), container['restartCount']))
    return False, ', '.join(parts)


def api_error(msg):
    """The API server's own words from a failed call, as kubernetes.core reports it.

    k8s_exec wraps them as 'Failed to execute on pod P due to : (0)\\nReason: Handshake status 500 ... -+-+-
    {headers} -+-+- {"kind":"Status",...,"message":"..."}', k8s_info as "Exception '401\\nReason: ... HTTP response
    body: b'{"kind":"Status",...}' Original traceback: ...". The Status says what went wrong (kubelet
    unreachable, container not found, Unauthorized); anything else is returned as it came.
    """
    msg = (msg or '').strip() or 'no error text'
    start = msg.rfind('{"kind":"Status"')
    if start >= 0:
        try:
            status = json.JSONDecoder().raw_decode(msg[start:])[0]
        except ValueError:
            return msg
        if isinstance(status, dict) and status.get('message'):
            return 'the API server answered %s: %s' % (
                ' '.join(str(status[k]) for k in ('code', 'reason') if status.get(k)) or 'an error', status['message'])
    return msg


def _agent_key(agents, node, pod_name):
    # Two agents on one node happen during a rollout; keep both.
    return node if node not in agents else '%s (%s)' % (node, pod_name)


def judge_cilium_agents(pods, execs, expect_lb_mode='dsr', tunnel='disabled', expect_dsr_dispatch=None,
                        expect_masquerade=None):
    """Per node, the verdict of its Cilium agent.

    pods: Pod objects of the agent DaemonSet (kube-system, k8s-app=cilium). execs: pod name to the result of
    running ``cilium-dbg status -o json`` in its cilium-agent container (kubernetes.core.k8s_exec's result:
    failed/msg, rc, stdout, stderr). Returns (agents, problems, cannot_check); agents maps the node name to
    {pod, node, status, detail, checks, cilium}.
    """
    agents, problems, unchecked = {}, [], []
    if not pods:
        problems.append('cluster cilium agents: no pod in %s with label k8s-app=cilium: the cilium DaemonSet runs '
                        'no agent' % AGENT_NAMESPACE)
        return agents, problems, unchecked
    for pod in sorted(pods, key=lambda p: ((p.get('spec') or {}).get('nodeName') or '', p['metadata']['name'])):
        name = pod['metadata']['name']
        node = (pod.get('spec') or {}).get('nodeName')
        where = 'cluster cilium agent %s/%s on node %s' % (AGENT_NAMESPACE, name, node or '(none: not scheduled)')
        record = {'pod': '%s/%s' % (AGENT_NAMESPACE, name), 'node': node, 'checks': {}, 'cilium': {}}
        ready, why = pod_readiness(pod)
        result = (execs or {}).get(name)
        if not ready:
            record.update(status=PROBLEM, detail='not ready: %s' % why)
            problems.append('%s: not ready: %s' % (where, why))
        elif result is None:
            record.update(status=CANNOT_CHECK, detail='%s was not run in the pod' % STATUS_COMMAND)
            unchecked.append('%s: %s' % (where, record['detail']))
        elif result.get('failed') or result.get('rc') is None:
            record.update(status=CANNOT_CHECK, detail='cannot exec %s in container %s: %s'
                          % (STATUS_COMMAND, AGENT_CONTAINER, api_error(result.get('msg'))))
            unchecked.append('%s: %s' % (where, record['detail']))
        elif result.get('rc') != 0:
            # cilium-dbg exits 1 when the agent's API does not answer.
            record.update(status=CANNOT_CHECK, detail='%s exited %s: %s' % (
                STATUS_COMMAND, result.get('rc'), (result.get('stderr') or result.get('stdout') or '').strip()
                or 'no error text'))
            unchecked.append('%s: %s' % (where, record['detail']))
        else:
            try:
                checks, record['cilium'] = evaluate(load_status(result.get('stdout')), expect_lb_mode, tunnel,
                                                    expect_dsr_dispatch, expect_masquerade)
            except CiliumStatusError as e:
                checks = cannot_check_all('%s from %s' % (e, STATUS_COMMAND))
            record['checks'] = checks
            record['status'] = _overall([c['status'] for c in checks.values()])
            bad = ['%s: %s' % (check, v['detail']) for check, v in checks.items() if v['status'] == PROBLEM]
            record['detail'] = '; '.join(bad) or '%d checks, none a problem' % len(checks)
            problems.extend('%s: %s' % (where, text) for text in bad)
            unchecked.extend('%s: %s: %s' % (where, check, v['detail'])
                             for check, v in checks.items() if v['status'] == CANNOT_CHECK)
        agents[_agent_key(agents, node or '(not scheduled)', name)] = record
    return agents, problems, unchecked


def _ref(kind, namespace, name):
    return '%s %s/%s' % (kind, namespace, name)


def _no_controller_yet(obj, controller_name):
    """Why the object carries no word from a controller yet, or None when one has written status.

    The Gateway CRD defaults its conditions to Unknown/Pending "Waiting for controller"; an HTTPRoute has no
    status.parents entry from the controller until it has looked at the route.
    """
    status = obj.get('status') or {}
    if obj.get('kind') == 'Gateway':
        conditions = [c for c in status.get('conditions') or [] if isinstance(c, dict)]
        if not conditions:
            return 'no conditions'
        if all(c.get('status') == 'Unknown' and c.get('reason') == 'Pending' for c in conditions):
            return ', '.join('%s Unknown (Pending: %s)' % (c.get('type'), c.get('message')) for c in conditions)
        return None
    if not [p for p in status.get('parents') or [] if p.get('controllerName') == controller_name]:
        return 'no status.parents entry from %s' % controller_name
    return None


def _parent_key(ref, route_namespace):
    return (ref.get('name'), ref.get('namespace') or route_namespace, ref.get('sectionName'))


def _unanswered_parents(wanted, live, controller_name):
    """Parents the route declares that the controller wrote no status entry for."""
    namespace = wanted['metadata']['namespace']
    answered = set(_parent_key(p.get('parentRef') or {}, namespace) for p in (live.get('status') or {}).get('parents')
                   or [] if p.get('controllerName') == controller_name)
    missing = []
    for ref in wanted['spec'].get('parentRefs') or []:
        key = _parent_key(ref, namespace)
        if key not in answered:
            missing.append('%s parent %s: no status from %s for this parent'
                           % (_ref('HTTPRoute', namespace, wanted['metadata']['name']), ref.get('name'), controller_name))
    return missing


def judge_gateway_api(gateways, routes, resources, expect_controller=True, controller_name=CILIUM_CONTROLLER):
    """Per declared Gateway and HTTPRoute (the gateway_api role's inventory data), its conditions on the server.

    Gateway: Accepted and Programmed; HTTPRoute: per parent Accepted and ResolvedRefs, for the current generation.
    An object no controller has written status for yet is a problem when a controller is expected
    (expect_controller), otherwise cannot_check. Returns (objects, problems, cannot_check); objects maps
    'Kind namespace/name' to {status, detail}.
    """
    wanted = build_gateway_api_objects({}, gateways, routes)
    live = dict((_key(o), o) for o in resources or [])
    objects, problems, unchecked = {}, [], []
    for obj in wanted:
        kind, namespace, name = _key(obj)
        ref = _ref(kind, namespace, name)
        found = live.get((kind, namespace, name))
        waiting = _no_controller_yet(found, controller_name) if found is not None else None
        if waiting:
            detail = 'no status from a Gateway controller yet (%s)' % waiting
            if expect_controller:
                detail += ': is %s running (Cilium operator with gatewayAPI.enabled) and the class right?' \
                          % controller_name
                objects[ref] = {'status': PROBLEM, 'detail': detail}
                problems.append('cluster gateway api: %s: %s' % (ref, detail))
            else:
                detail += '; no controller expected (validate_expect_gateway_controller: false)'
                objects[ref] = {'status': CANNOT_CHECK, 'detail': detail}
                unchecked.append('cluster gateway api: %s: %s' % (ref, detail))
            continue
        found_problems = gateway_api_status_problems([found] if found is not None else [], [obj], controller_name)
        if found is not None and kind == 'HTTPRoute':
            found_problems += _unanswered_parents(obj, found, controller_name)
        if found_problems:
            objects[ref] = {'status': PROBLEM, 'detail': '; '.join(found_problems)}
            problems.extend('cluster gateway api: %s' % text for text in found_problems)
        else:
            conditions = ('Accepted, Programmed' if kind == 'Gateway'
                          else 'Accepted, ResolvedRefs for every parent')
            objects[ref] = {'status': OK, 'detail': '%s True for generation %s'
                            % (conditions, (found.get('metadata') or {}).get('generation'))}
    return objects, problems, unchecked


def judge_cluster(cluster):
    """The role's raw cluster reads (``__validate_cluster``) to {problems, cannot_check, cilium_agents, gateway_api}.

    Problems already judged in the role (kube-proxy, cilium-config, policies) are kept first; its reads that
    failed (read_failures: the k8s_info results, item and msg) are listed as not checked.
    """
    cluster = cluster or {}
    out = {'problems': list(cluster.get('problems') or []), 'cannot_check': list(cluster.get('cannot_check') or [])}
    for failed in cluster.get('read_failures') or []:
        item = failed.get('item') or {}
        where = '/'.join(x for x in (item.get('namespace'), item.get('name')) if x)
        what = ' '.join(x for x in (item.get('kind'), where) if x)
        out['cannot_check'].append('cluster %s: cannot be read: %s' % (what, api_error(failed.get('msg'))))
    agents_in = cluster.get('cilium_agents')
    if agents_in:
        if agents_in.get('read_error'):
            out['cannot_check'].append('cluster cilium agent pods: cannot be read: %s'
                                       % api_error(agents_in['read_error']))
        else:
            execs = dict((((r.get('item') or {}).get('metadata') or {}).get('name'), r)
                         for r in agents_in.get('exec') or [] if not r.get('skipped'))
            agents, problems, unchecked = judge_cilium_agents(
                agents_in.get('pods') or [], execs, agents_in.get('expect_lb_mode', 'dsr'),
                agents_in.get('tunnel', 'disabled'), agents_in.get('expect_dsr_dispatch') or None,
                agents_in.get('expect_masquerade') or None)
            out['cilium_agents'] = agents
            out['problems'].extend(problems)
            out['cannot_check'].extend(unchecked)
    gateway_in = cluster.get('gateway_api')
    if gateway_in:
        if gateway_in.get('read_errors'):
            out['cannot_check'].extend('cluster gateway api: cannot be read: %s' % api_error(e)
                                       for e in gateway_in['read_errors'])
        elif gateway_in.get('unserved'):
            out['problems'].extend('cluster gateway api: the server does not serve %s %s: are the Gateway API CRDs '
                                   'installed (roles/gateway_api)?' % (GATEWAY_API_VERSION, kind)
                                   for kind in gateway_in['unserved'])
        else:
            objects, problems, unchecked = judge_gateway_api(
                gateway_in.get('gateways'), gateway_in.get('routes'), gateway_in.get('resources'),
                gateway_in.get('expect_controller', True), gateway_in.get('controller_name') or CILIUM_CONTROLLER)
            out['gateway_api'] = objects
            out['problems'].extend(problems)
            out['cannot_check'].extend(unchecked)
    return out
