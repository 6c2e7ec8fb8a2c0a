# -*- coding: utf-8 -*-
# Copyright: (c) 2026, packetjungle.datapath contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""``cilium-dbg status -o json`` (models.StatusResponse) to a flat verdict. Pure.

Written to the swagger model: almost every field is omitempty, so a false boolean, a zero or an
empty string is simply absent, and some arrays are null. A field with the wrong type makes its
check cannot_check rather than a guess. ``-o json`` exits 0 even when the agent is unhealthy, so
health is read from the fields, never from the exit code.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json

from ansible_collections.packetjungle.datapath.plugins.module_utils.datapath import (
    CANNOT_CHECK,
    NOT_APPLICABLE,
    OK,
    PROBLEM,
    verdict,
)

CHECKS = ('kube_proxy_replacement', 'lb_mode', 'devices', 'routing', 'masquerading', 'agent_health', 'cluster_health',
          'controllers')
# expect_lb_mode to the agent's spelling: strings.ToUpper for snat/dsr, strings.Title for hybrid.
LB_MODES = {'dsr': 'DSR', 'hybrid': 'Hybrid', 'snat': 'SNAT'}
# bpf-lb-dsr-dispatch (Helm loadBalancer.dsrDispatch) to the agent's nodePort.dsrMode.
DSR_DISPATCHES = {'opt': 'IP Option/Extension', 'geneve': 'Geneve', 'ipip': 'IPIP'}
TUNNELS = ('disabled', 'vxlan', 'geneve')
# expect_masquerade (Helm bpf.masquerade true/false) to the agent's masquerading.mode (swagger enum).
MASQUERADE_MODES = {'bpf': 'BPF', 'iptables': 'iptables'}

TYPE_NAMES = {dict: 'an object', list: 'a list', str: 'a string', int: 'an integer', bool: 'a boolean'}


class CiliumStatusError(ValueError):
    pass


def load_status(text):
    """The status object from JSON text; CiliumStatusError says why it is not one."""
    if text is None or not text.strip():
        raise CiliumStatusError('the status JSON is empty')
    try:
        status = json.loads(text)
    except ValueError as e:
        raise CiliumStatusError('the status is not valid JSON (%s); it starts with %r' % (e, text.strip()[:80]))
    if not isinstance(status, dict):
        raise CiliumStatusError('the status JSON is %s, expected an object' % _type_name(status))
    return status


def _type_name(value):
    if value is None:
        return 'null'
    return type(value).__name__


def _get(status, path, kind):
    """(value, error) at path; (None, None) when absent or null, (None, error) when a level has the wrong type."""
    value = status
    for depth, key in enumerate(path):
        if not isinstance(value, dict):
            return None, '%s is %s, expected an object' % ('.'.join(path[:depth]), _type_name(value))
        value = value.get(key)
        if value is None:
            return None, None
    # bool is an int in Python; the model never mixes them.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        return None, '%s is %s (%r), expected %s' % ('.'.join(path), _type_name(value), value, TYPE_NAMES[kind])
    return value, None


def check_kube_proxy_replacement(status):
    mode, error = _get(status, ['kube-proxy-replacement', 'mode'], str)
    if error:
        return verdict(CANNOT_CHECK, error)
    if mode is None:
        return verdict(CANNOT_CHECK, 'kube-proxy-replacement.mode is absent')
    socket_section, _error = _get(status, ['kube-proxy-replacement', 'features', 'socketLB'], dict)
    if socket_section is None:
        socket_text = 'socket LB not reported'
    else:
        # omitempty: a disabled feature is an empty object.
        socket_text = 'socket LB %s' % ('enabled' if socket_section.get('enabled') is True else 'disabled')
    if mode == 'True':
        return verdict(OK, 'mode True, %s' % socket_text)
    # Agents before 1.14 reported full replacement as "Strict" (and "Partial"/"Disabled" otherwise).
    if mode == 'Strict':
        return verdict(OK, 'mode Strict, the name agents before 1.14 used for full replacement (accepted as True), '
                           '%s' % socket_text)
    return verdict(PROBLEM, 'mode %s: kube-proxy replacement is not fully on (Helm kubeProxyReplacement: true)'
                   % mode)


def check_lb_mode(status, expect_lb_mode, expect_dsr_dispatch=None):
    base = ['kube-proxy-replacement', 'features', 'nodePort']
    node_port, error = _get(status, base, dict)
    if error:
        return verdict(CANNOT_CHECK, error)
    if node_port is None:
        return verdict(CANNOT_CHECK, 'kube-proxy-replacement.features.nodePort is absent')
    enabled, error = _get(status, base + ['enabled'], bool)
    if error:
        return verdict(CANNOT_CHECK, error)
    if not enabled:
        return verdict(PROBLEM, 'NodePort handling is off (features.nodePort.enabled is absent or false)')
    mode, error = _get(status, base + ['mode'], str)
    if error:
        return verdict(CANNOT_CHECK, error)
    if mode is None:
        return verdict(CANNOT_CHECK, 'kube-proxy-replacement.features.nodePort.mode is absent')
    parts = ['mode %s' % mode]
    for key, label in (('dsrMode', 'DSR dispatch'), ('algorithm', 'backend selection'),
                       ('acceleration', 'XDP acceleration')):
        value, _error = _get(status, base + [key], str)
        if value is not None:
            parts.append('%s %s' % (label, value))
    detail = ', '.join(parts)
    wanted = LB_MODES[expect_lb_mode]
    if mode.lower() != wanted.lower():
        return verdict(PROBLEM, '%s; expected %s (expect_lb_mode: %s; Helm loadBalancer.mode)'
                       % (detail, wanted, expect_lb_mode))
    if expect_dsr_dispatch and expect_lb_mode != 'snat':
        dispatch, error = _get(status, base + ['dsrMode'], str)
        if error:
            return verdict(CANNOT_CHECK, error)
        if dispatch is None:
            # Agents before 1.15 do not report the dispatch; the mode itself was checked.
            return verdict(OK, '%s; DSR dispatch not reported by this agent' % detail)
        wanted_dispatch = DSR_DISPATCHES[expect_dsr_dispatch]
        if dispatch != wanted_dispatch:
            return verdict(PROBLEM, '%s; expected DSR dispatch %s (expect_dsr_dispatch: %s; Helm '
                                    'loadBalancer.dsrDispatch)' % (detail, wanted_dispatch, expect_dsr_dispatch))
    return verdict(OK, detail)


def _device_ips(status):
    entries, error = _get(status, ['kube-proxy-replacement', 'deviceList'], list)
    if error:
        return None, error
    ips = {}
    for index, entry in enumerate(entries or []):
        if not isinstance(entry, dict) or not isinstance(entry.get('name'), str):
            return None, 'kube-proxy-replacement.deviceList[%d] has no name' % index
        # The agent pre-sizes the ip array and then appends, so it starts with empty strings.
        ips[entry['name']] = [ip for ip in (entry.get('ip') or []) if isinstance(ip, str) and ip]
    return ips, None


def check_devices(status, kpr_enabled):
    names, error = _get(status, ['kube-proxy-replacement', 'devices'], list)
    if error:
        return verdict(CANNOT_CHECK, error)
    kpr = status.get('kube-proxy-replacement')
    # Both arrays lack omitempty: an agent with no devices prints null, so absence means no data.
    if not isinstance(kpr, dict) or ('devices' not in kpr and 'deviceList' not in kpr):
        return verdict(CANNOT_CHECK, 'kube-proxy-replacement.devices and deviceList are absent')
    ips, error = _device_ips(status)
    if error:
        return verdict(CANNOT_CHECK, error)
    names = [n for n in (names or []) if isinstance(n, str)] or sorted(ips)
    if not names:
        if not kpr_enabled:
            return verdict(NOT_APPLICABLE, 'no devices, and kube-proxy replacement is off')
        return verdict(PROBLEM, 'no devices: NodePort and LoadBalancer traffic is handled on no interface '
                                '(set Helm devices, or check that the node IP sits on a device)')
    shown = ['%s (%s)' % (n, ', '.join(ips[n])) if ips.get(n) else n for n in names]
    direct, _error = _get(status, ['kube-proxy-replacement', 'directRoutingDevice'], str)
    detail = ', '.join(shown)
    if direct:
        detail += '; direct routing device %s' % direct
    return verdict(OK, detail)


def check_routing(status, tunnel):
    routing, error = _get(status, ['routing'], dict)
    if error:
        return verdict(CANNOT_CHECK, error)
    if routing is None:
        return verdict(CANNOT_CHECK, 'routing is absent')
    inter, error = _get(status, ['routing', 'inter-host-routing-mode'], str)
    if error or inter is None:
        return verdict(CANNOT_CHECK, error or 'routing.inter-host-routing-mode is absent')
    protocol, _error = _get(status, ['routing', 'tunnel-protocol'], str)
    host, _error = _get(status, ['routing', 'intra-host-routing-mode'], str)
    detail = 'inter-host %s' % inter
    if inter.lower() == 'tunnel' and protocol:
        detail += ' (%s)' % protocol
    if host:
        detail += ', host routing %s' % host
    if host and host.lower() == 'legacy':
        detail += ' (BPF host routing is off: kernel below 5.10, IPsec, iptables masquerading or no full KPR)'
    if tunnel == 'disabled':
        if inter.lower() != 'native':
            return verdict(PROBLEM, '%s; expected Native (tunnel: disabled; Helm routingMode: native)' % detail)
        return verdict(OK, detail)
    if inter.lower() != 'tunnel' or (protocol or '').lower() != tunnel:
        return verdict(PROBLEM, '%s; expected Tunnel (%s) (tunnel: %s; Helm routingMode: tunnel, tunnelProtocol: '
                                '%s)' % (detail, tunnel, tunnel, tunnel))
    return verdict(OK, detail)


def check_masquerading(status, expect_masquerade=None):
    section, error = _get(status, ['masquerading'], dict)
    if error:
        return verdict(CANNOT_CHECK, error)
    if section is None:
        return verdict(CANNOT_CHECK, 'masquerading is absent')
    enabled, error = _get(status, ['masquerading', 'enabled'], bool)
    if error:
        return verdict(CANNOT_CHECK, error)
    wanted = MASQUERADE_MODES.get(expect_masquerade)
    bpf_value = 'bpf.masquerade: %s' % ('true' if expect_masquerade == 'bpf' else 'false')
    # omitempty: masquerading turned off leaves enabled (and mode) out.
    if not enabled:
        detail = 'masquerading is off (masquerading.enabled is absent or false)'
        if wanted:
            return verdict(PROBLEM, '%s; expected %s (expect_masquerade: %s; Helm enableIPv4Masquerade: true, %s)'
                           % (detail, wanted, expect_masquerade, bpf_value))
        return verdict(OK, detail)
    mode, error = _get(status, ['masquerading', 'mode'], str)
    if error:
        return verdict(CANNOT_CHECK, error)
    if mode is None:
        return verdict(CANNOT_CHECK, 'masquerading.mode is absent')
    parts = ['mode %s' % mode]
    protocols, _error = _get(status, ['masquerading', 'enabledProtocols'], dict)
    if protocols is not None:
        parts.extend('%s %s' % (label, 'enabled' if protocols.get(key) is True else 'disabled')
                     for key, label in (('ipv4', 'IPv4'), ('ipv6', 'IPv6')))
    if _get(status, ['masquerading', 'ip-masq-agent'], bool)[0]:
        parts.append('ip-masq-agent')
    detail = ', '.join(parts)
    if wanted and mode.lower() != wanted.lower():
        return verdict(PROBLEM, '%s; expected %s (expect_masquerade: %s; Helm %s)'
                       % (detail, wanted, expect_masquerade, bpf_value))
    return verdict(OK, detail)


def _state(status, path):
    """(state, msg, error) of a models.Status at path."""
    state, error = _get(status, path + ['state'], str)
    msg, _error = _get(status, path + ['msg'], str)
    return state, msg, error


def check_agent_health(status):
    state, msg, error = _state(status, ['cilium'])
    if error:
        return verdict(CANNOT_CHECK, error)
    if state is None:
        return verdict(CANNOT_CHECK, 'cilium.state is absent')
    bad = []
    parts = []
    # kvstore is Disabled in CRD mode; kubernetes must be Ok for a Kubernetes node.
    for key, healthy in (('cilium', ('Ok',)), ('kubernetes', ('Ok',)), ('kvstore', ('Ok', 'Disabled'))):
        state, msg, error = _state(status, [key])
        if error:
            return verdict(CANNOT_CHECK, error)
        if state is None:
            parts.append('%s not reported' % key)
            continue
        text = '%s %s%s' % (key, state, ': %s' % msg if msg and msg != state else '')
        parts.append(text)
        if state not in healthy:
            bad.append(text)
    stale, error = _get(status, ['stale'], dict)
    if error:
        return verdict(CANNOT_CHECK, error)
    if stale:
        bad.append('stale probes: %s' % ', '.join(sorted(stale)))
    if bad:
        return verdict(PROBLEM, '; '.join(bad))
    return verdict(OK, ', '.join(parts))


def check_cluster_health(status):
    state, msg, error = _state(status, ['cluster', 'ciliumHealth'])
    if error:
        return verdict(CANNOT_CHECK, error)
    if state is None:
        return verdict(CANNOT_CHECK, 'cluster.ciliumHealth.state is absent')
    nodes, _error = _get(status, ['cluster', 'nodes'], list)
    text = 'cilium-health %s%s' % (state, ': %s' % msg if msg else '')
    if nodes is not None:
        text += ', %d nodes known' % len(nodes)
    if state == 'Ok':
        return verdict(OK, text)
    if state == 'Disabled':
        return verdict(NOT_APPLICABLE, text + ' (health checking is turned off)')
    return verdict(PROBLEM, text)


def check_controllers(status):
    controllers, error = _get(status, ['controllers'], list)
    if error:
        return verdict(CANNOT_CHECK, error)
    if not controllers:
        return verdict(CANNOT_CHECK, 'no controllers reported')
    failing = []
    for index, controller in enumerate(controllers):
        if not isinstance(controller, dict):
            return verdict(CANNOT_CHECK, 'controllers[%d] is %s, expected an object' % (index, _type_name(controller)))
        failures, error = _get(controller, ['status', 'consecutive-failure-count'], int)
        if error:
            return verdict(CANNOT_CHECK, 'controllers[%d].%s' % (index, error))
        if failures:
            message, _error = _get(controller, ['status', 'last-failure-msg'], str)
            failing.append('%s (%d consecutive failures%s)' % (controller.get('name', 'controllers[%d]' % index),
                                                               failures, ': %s' % message if message else ''))
    if failing:
        return verdict(PROBLEM, '%d of %d controllers failing: %s' % (len(failing), len(controllers),
                                                                      '; '.join(failing)))
    return verdict(OK, '%d controllers, none failing' % len(controllers))


def evaluate(status, expect_lb_mode='dsr', tunnel='disabled', expect_dsr_dispatch=None, expect_masquerade=None):
    """Checks (name to verdict, in CHECKS order) and a flat summary of the facts they read.

    expect_dsr_dispatch (opt, geneve, ipip; None does not check it) is compared with nodePort.dsrMode when the
    expected mode does DSR. expect_masquerade (bpf, iptables; None does not check it) is compared with
    masquerading.mode, and masquerading turned off is then a problem.
    """
    if expect_lb_mode not in LB_MODES:
        raise ValueError('expect_lb_mode: %r is not one of %s' % (expect_lb_mode, ', '.join(sorted(LB_MODES))))
    if expect_dsr_dispatch is not None and expect_dsr_dispatch not in DSR_DISPATCHES:
        raise ValueError('expect_dsr_dispatch: %r is not one of %s'
                         % (expect_dsr_dispatch, ', '.join(sorted(DSR_DISPATCHES))))
    if expect_masquerade is not None and expect_masquerade not in MASQUERADE_MODES:
        raise ValueError('expect_masquerade: %r is not one of %s'
                         % (expect_masquerade, ', '.join(sorted(MASQUERADE_MODES))))
    if tunnel not in TUNNELS:
        raise ValueError('tunnel: %r is not one of %s' % (tunnel, ', '.join(TUNNELS)))
    kpr = check_kube_proxy_replacement(status)
    checks = {
        'kube_proxy_replacement': kpr,
        'lb_mode': check_lb_mode(status, expect_lb_mode, expect_dsr_dispatch),
        'devices': check_devices(status, kpr['status'] != PROBLEM),
        'routing': check_routing(status, tunnel),
        'masquerading': check_masquerading(status, expect_masquerade),
        'agent_health': check_agent_health(status),
        'cluster_health': check_cluster_health(status),
        'controllers': check_controllers(status),
    }
    return checks, summary(status)


def summary(status):
    """The facts a playbook may want to branch on, V(None) where absent or of the wrong type."""
    def text(*path):
        return _get(status, list(path), str)[0]

    ips, _error = _device_ips(status)
    devices, _error = _get(status, ['kube-proxy-replacement', 'devices'], list)
    return {
        'version': text('cilium', 'msg'),
        'cilium_state': text('cilium', 'state'),
        'kube_proxy_replacement': text('kube-proxy-replacement', 'mode'),
        'lb_mode': text('kube-proxy-replacement', 'features', 'nodePort', 'mode'),
        'dsr_dispatch': text('kube-proxy-replacement', 'features', 'nodePort', 'dsrMode'),
        'devices': [d for d in (devices or []) if isinstance(d, str)],
        'device_ips': ips or {},
        'direct_routing_device': text('kube-proxy-replacement', 'directRoutingDevice'),
        'routing_mode': text('routing', 'inter-host-routing-mode'),
        'tunnel_protocol': text('routing', 'tunnel-protocol'),
        'host_routing': text('routing', 'intra-host-routing-mode'),
        'masquerading': text('masquerading', 'mode'),
    }


def not_applicable_cilium(detail):
    """The node checks that only mean something where Cilium runs, and every agent check, as not_applicable."""
    return dict((name, verdict(NOT_APPLICABLE, detail)) for name in ('bpffs', 'cilium_interfaces') + CHECKS)


def cannot_check_all(detail):
    """Every Cilium check as cannot_check, for a node where the status could not be had."""
    return dict((name, verdict(CANNOT_CHECK, detail)) for name in CHECKS)
