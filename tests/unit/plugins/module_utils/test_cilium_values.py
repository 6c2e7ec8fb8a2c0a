# -*- coding: utf-8 -*-
# Copyright: (c) 2026, packetjungle.datapath contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.packetjungle.datapath.plugins.module_utils import cilium_values as cv


def native_dsr(**overrides):
    settings = {'k8s_service_host': '10.0.0.10', 'k8s_service_port': 6443, 'routing_mode': 'native',
                'ipv4_native_routing_cidr': '10.244.0.0/16', 'auto_direct_node_routes': True,
                'bpf_masquerade': True, 'lb_mode': 'dsr', 'dsr_dispatch': 'opt'}
    settings.update(overrides)
    return settings


def test_native_dsr_passes_preflight():
    assert cv.preflight(native_dsr(), ephemeral_ports=(32768, 60999)) == []


@pytest.mark.parametrize('overrides, fragment', [
    ({'routing_mode': 'tunnel', 'tunnel_protocol': 'vxlan', 'auto_direct_node_routes': False},
     'cilium_lb_mode: dsr cannot be used with a VXLAN tunnel'),
    ({'routing_mode': 'tunnel', 'tunnel_protocol': 'geneve', 'auto_direct_node_routes': False},
     'cilium_dsr_dispatch: opt with a tunnel and cilium_lb_mode dsr; tunnel routing with DSR requires geneve dispatch'),
    ({'dsr_dispatch': 'geneve', 'tunnel_protocol': 'vxlan'},
     'cilium_tunnel_protocol: vxlan with cilium_dsr_dispatch geneve'),
    ({'dsr_dispatch': 'ipip'}, 'cilium_dsr_dispatch: ipip is only for a standalone XDP load balancer'),
    ({'routing_mode': 'tunnel', 'tunnel_protocol': 'geneve', 'dsr_dispatch': 'geneve'},
     'cilium_auto_direct_node_routes: true with cilium_routing_mode tunnel'),
    ({'ipv4_native_routing_cidr': ''}, 'cilium_ipv4_native_routing_cidr: empty with cilium_routing_mode native'),
    ({'k8s_service_host': ''}, 'cilium_k8s_service_host: empty'),
    ({'node_port_range': '30000-40000'}, "cilium_node_port_range: 30000-40000 overlaps the nodes' ephemeral port "
                                         "range 32768-60999"),
    ({'node_port_range': 'lots'}, "cilium_node_port_range: 'lots' is not a port range"),
    ({'lb_mode': 'dsr-ish'}, "cilium_lb_mode: 'dsr-ish' is not accepted; accepted: snat, dsr, hybrid"),
])
def test_preflight_rejects_what_the_agent_would(overrides, fragment):
    errors = cv.preflight(native_dsr(**overrides), ephemeral_ports=(32768, 60999))
    assert any(fragment in e for e in errors), errors


def test_hybrid_under_annotation_mode_is_refused():
    # Seen in the lab: the agent stops at start-up, after the chart installed fine.
    errors = cv.preflight(native_dsr(lb_mode='hybrid'), extra_values={'bpf': {'lbModeAnnotation': True}})
    assert errors == ['cilium_helm_extra_values.bpf.lbModeAnnotation: true with cilium_lb_mode hybrid; the agent '
                      'stops with "The value --bpf-lb-mode=hybrid is not supported as default under annotation '
                      'mode"; accepted: cilium_lb_mode dsr or snat with the annotation, or no annotation']
    assert cv.preflight(native_dsr(), extra_values={'bpf': {'lbModeAnnotation': True}}) == []
    assert cv.preflight(native_dsr(lb_mode='hybrid'), extra_values={'bpf': {'masquerade': True}}) == []


def test_geneve_tunnel_with_geneve_dispatch_is_accepted():
    settings = native_dsr(routing_mode='tunnel', tunnel_protocol='geneve', dsr_dispatch='geneve',
                          auto_direct_node_routes=False, ipv4_native_routing_cidr='')
    assert cv.preflight(settings) == []


def test_helm_values_use_the_chart_names():
    values = cv.helm_values(native_dsr(mtu=1450, devices=['eth0']))
    assert values['kubeProxyReplacement'] is True
    assert values['loadBalancer'] == {'mode': 'dsr', 'dsrDispatch': 'opt'}
    assert values['routingMode'] == 'native' and values['ipv4NativeRoutingCIDR'] == '10.244.0.0/16'
    assert values['bpf'] == {'masquerade': True} and values['autoDirectNodeRoutes'] is True
    assert values['nodePort'] == {'range': '30000,32767'}
    assert values['MTU'] == 1450 and values['devices'] == ['eth0']
    assert values['ipam'] == {'mode': 'kubernetes'}
    assert values['rollOutCiliumPods'] is True and values['operator'] == {'rollOutPods': True}


def test_cluster_pool_ipam_is_reported():
    # The chart's default IPAM hands out 10.0.0.0/8, outside the pod subnet
    # that native routing is told about.
    expected = cv.expected_config(native_dsr())
    live = dict(expected)
    del live['ipam']
    assert cv.config_differences(expected, live) == [
        "cilium-config ipam is 'cluster-pool' (key absent, the agent uses its default), asked 'kubernetes'"]


def test_snat_leaves_dsr_dispatch_out():
    assert 'dsrDispatch' not in cv.helm_values(native_dsr(lb_mode='snat'))['loadBalancer']
    assert 'bpf-lb-dsr-dispatch' not in cv.expected_config(native_dsr(lb_mode='snat'))


def test_expected_config_matches_live_config():
    expected = cv.expected_config(native_dsr())
    live = dict(expected, **{'enable-ipv4-masquerade': 'true'})
    assert cv.config_differences(expected, live) == []


def test_missing_lb_mode_reads_as_snat():
    # The bug other installers shipped: a wrong Helm key, no bpf-lb-mode in
    # cilium-config, the agent silently in SNAT.
    expected = cv.expected_config(native_dsr())
    live = dict(expected)
    del live['bpf-lb-mode']
    assert cv.config_differences(expected, live) == [
        "cilium-config bpf-lb-mode is 'snat' (key absent, the agent uses its default), asked 'dsr'"]


def test_a_different_live_value_is_reported():
    expected = cv.expected_config(native_dsr())
    live = dict(expected, **{'routing-mode': 'tunnel', 'kube-proxy-replacement': 'false'})
    assert cv.config_differences(expected, live) == [
        "cilium-config kube-proxy-replacement is 'false', asked 'true'",
        "cilium-config routing-mode is 'tunnel', asked 'native'"]


def test_absent_key_without_default_is_unset():
    expected = {'ipv4-native-routing-cidr': '10.244.0.0/16'}
    assert cv.config_differences(expected, {}) == [
        "cilium-config ipv4-native-routing-cidr is unset (key absent, the agent uses its default), "
        "asked '10.244.0.0/16'"]
