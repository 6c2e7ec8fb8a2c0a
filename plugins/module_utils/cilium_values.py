# -*- coding: utf-8 -*-
# Copyright: (c) 2026, packetjungle.datapath contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Cilium with kube-proxy replacement: the role's settings as Helm values,
the combinations the agent would reject (checked before anything is
installed), and the cilium-config keys the chart must produce, compared with
the live ConfigMap. Value and key names, defaults and the agent's own error
texts: shared/reference/cilium-gateway-facts.md sections 1.3 and 1.4."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

ROUTING_MODES = ('native', 'tunnel')
TUNNEL_PROTOCOLS = ('vxlan', 'geneve')
LB_MODES = ('snat', 'dsr', 'hybrid')
DSR_DISPATCHES = ('opt', 'geneve', 'ipip')

# What the agent assumes when the chart leaves a key out of cilium-config.
CONFIG_DEFAULTS = {
    'bpf-lb-mode': 'snat',
    'bpf-lb-dsr-dispatch': 'opt',
    'node-port-range': '30000,32767',
    'enable-bpf-masquerade': 'false',
    'auto-direct-node-routes': 'false',
    'enable-gateway-api': 'false',
    'ipam': 'cluster-pool',
}


def _port_range(text):
    """'30000-32767' or '30000,32767' as a (low, high) tuple; ValueError otherwise."""
    parts = str(text).replace('-', ',').split(',')
    if len(parts) != 2:
        raise ValueError(text)
    low, high = int(parts[0]), int(parts[1])
    if not 1 <= low <= high <= 65535:
        raise ValueError(text)
    return low, high


def preflight(settings, ephemeral_ports=None, extra_values=None):
    """Every combination the chart or the agent would reject, as messages
    naming the role variable, the value and what is accepted. extra_values:
    cilium_helm_extra_values, for the settings the role has no input for."""
    errors = []
    routing = settings.get('routing_mode')
    tunnel = settings.get('tunnel_protocol') or 'vxlan'
    lb_mode = settings.get('lb_mode') or 'snat'
    dispatch = settings.get('dsr_dispatch') or 'opt'

    for var, value, accepted in (('cilium_routing_mode', routing, ROUTING_MODES),
                                 ('cilium_tunnel_protocol', tunnel, TUNNEL_PROTOCOLS),
                                 ('cilium_lb_mode', lb_mode, LB_MODES),
                                 ('cilium_dsr_dispatch', dispatch, DSR_DISPATCHES)):
        if value not in accepted:
            errors.append('%s: %r is not accepted; accepted: %s' % (var, value, ', '.join(accepted)))
    if errors:
        return errors

    dsr = lb_mode in ('dsr', 'hybrid')
    if routing == 'tunnel' and tunnel == 'vxlan' and dsr:
        errors.append('cilium_lb_mode: %s cannot be used with a VXLAN tunnel (the agent stops with "Node Port '
                      '\\"%s\\" mode cannot be used with vxlan tunneling"); use cilium_routing_mode native, or '
                      'cilium_tunnel_protocol geneve with cilium_dsr_dispatch geneve' % (lb_mode, lb_mode))
    elif routing == 'tunnel' and dsr and dispatch != 'geneve':
        errors.append('cilium_dsr_dispatch: %s with a tunnel and cilium_lb_mode %s; tunnel routing with DSR requires '
                      'geneve dispatch' % (dispatch, lb_mode))
    if dsr and dispatch == 'geneve' and tunnel != 'geneve':
        errors.append('cilium_tunnel_protocol: %s with cilium_dsr_dispatch geneve; geneve dispatch requires the '
                      'geneve tunnel protocol' % tunnel)
    if dispatch == 'ipip':
        errors.append('cilium_dsr_dispatch: ipip is only for a standalone XDP load balancer (datapath-mode lb-only), '
                      'not in-cluster kube-proxy replacement; accepted here: opt, geneve')
    if lb_mode == 'hybrid' and dispatch not in ('opt', 'geneve'):
        errors.append('cilium_dsr_dispatch: %s with hybrid mode; accepted: opt, geneve' % dispatch)
    if lb_mode == 'hybrid' and ((extra_values or {}).get('bpf') or {}).get('lbModeAnnotation'):
        errors.append('cilium_helm_extra_values.bpf.lbModeAnnotation: true with cilium_lb_mode hybrid; the agent '
                      'stops with "The value --bpf-lb-mode=hybrid is not supported as default under annotation '
                      'mode"; accepted: cilium_lb_mode dsr or snat with the annotation, or no annotation')
    if routing == 'tunnel' and settings.get('auto_direct_node_routes'):
        errors.append('cilium_auto_direct_node_routes: true with cilium_routing_mode tunnel; the agent refuses it '
                      '(packets must be routed through the tunnel device)')
    if routing == 'native' and not settings.get('ipv4_native_routing_cidr'):
        errors.append('cilium_ipv4_native_routing_cidr: empty with cilium_routing_mode native; the chart requires '
                      'the pod CIDR (or a supernet of it)')
    if not settings.get('k8s_service_host'):
        errors.append('cilium_k8s_service_host: empty; kube-proxy replacement needs the API server address, since '
                      'there is no kube-proxy to reach the kubernetes Service')

    node_ports = settings.get('node_port_range') or '30000-32767'
    try:
        low, high = _port_range(node_ports)
    except ValueError:
        errors.append('cilium_node_port_range: %r is not a port range; accepted: LOW-HIGH within 1-65535'
                      % node_ports)
    else:
        if ephemeral_ports:
            eph_low, eph_high = ephemeral_ports
            if low <= eph_high and eph_low <= high:
                errors.append('cilium_node_port_range: %s overlaps the nodes\' ephemeral port range %d-%d '
                              '(net.ipv4.ip_local_port_range); outgoing connections would take NodePorts'
                              % (node_ports, eph_low, eph_high))
    return errors


def helm_values(settings):
    """The chart values for the settings (names from the chart's values.yaml)."""
    values = {
        'kubeProxyReplacement': True,
        'k8sServiceHost': settings['k8s_service_host'],
        'k8sServicePort': int(settings.get('k8s_service_port') or 6443),
        'routingMode': settings['routing_mode'],
        'tunnelProtocol': settings.get('tunnel_protocol') or 'vxlan',
        'autoDirectNodeRoutes': bool(settings.get('auto_direct_node_routes')),
        'bpf': {'masquerade': bool(settings.get('bpf_masquerade', True))},
        'loadBalancer': {'mode': settings.get('lb_mode') or 'snat'},
        'nodePort': {'range': str(settings.get('node_port_range') or '30000-32767').replace('-', ',')},
        'gatewayAPI': {'enabled': bool(settings.get('gateway_api'))},
        # Pod addresses from each node's podCIDR, which kubeadm's controller
        # manager cuts from the pod subnet that the native-routing CIDR names.
        # The chart's default (cluster-pool, 10.0.0.0/8) would hand out
        # addresses outside it, masqueraded and unrouted between nodes.
        'ipam': {'mode': 'kubernetes'},
        # A changed cilium-config restarts the agents and the operator; without
        # it the agents keep running the old datapath (the chart's default),
        # while the ConfigMap read back already says the new one.
        'rollOutCiliumPods': True,
        'operator': {'rollOutPods': True},
    }
    if values['loadBalancer']['mode'] in ('dsr', 'hybrid'):
        values['loadBalancer']['dsrDispatch'] = settings.get('dsr_dispatch') or 'opt'
    if settings.get('ipv4_native_routing_cidr'):
        values['ipv4NativeRoutingCIDR'] = settings['ipv4_native_routing_cidr']
    if settings.get('mtu'):
        values['MTU'] = int(settings['mtu'])
    if settings.get('devices'):
        values['devices'] = list(settings['devices'])
    return values


def expected_config(settings):
    """The cilium-config keys these settings must produce, as the strings the ConfigMap holds."""
    values = helm_values(settings)
    expected = {
        'kube-proxy-replacement': 'true',
        'routing-mode': values['routingMode'],
        'tunnel-protocol': values['tunnelProtocol'],
        'auto-direct-node-routes': str(values['autoDirectNodeRoutes']).lower(),
        'enable-bpf-masquerade': str(values['bpf']['masquerade']).lower(),
        'bpf-lb-mode': values['loadBalancer']['mode'],
        'node-port-range': values['nodePort']['range'],
        'enable-gateway-api': str(values['gatewayAPI']['enabled']).lower(),
        'ipam': values['ipam']['mode'],
    }
    if 'dsrDispatch' in values['loadBalancer']:
        expected['bpf-lb-dsr-dispatch'] = values['loadBalancer']['dsrDispatch']
    if 'ipv4NativeRoutingCIDR' in values:
        expected['ipv4-native-routing-cidr'] = values['ipv4NativeRoutingCIDR']
    if 'MTU' in values:
        expected['mtu'] = str(values['MTU'])
    if 'devices' in values:
        expected['devices'] = ' '.join(values['devices'])
    return expected


def config_differences(expected, live):
    """Keys whose live value differs from the expected one, read the way the
    agent reads them: an absent key means the agent's default (a missing
    bpf-lb-mode is snat, not dsr)."""
    live = live or {}
    differences = []
    for key in sorted(expected):
        if key in live:
            actual, note = str(live[key]).strip(), ''
        else:
            actual, note = CONFIG_DEFAULTS.get(key), ' (key absent, the agent uses its default)'
        if actual != expected[key]:
            differences.append('cilium-config %s is %s%s, asked %s' % (
                key, 'unset' if actual is None else repr(actual), note, repr(expected[key])))
    return differences
