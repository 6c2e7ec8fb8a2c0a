# -*- coding: utf-8 -*-
# Copyright: (c) 2026, packetjungle.datapath contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import copy

import pytest

from ansible_collections.packetjungle.datapath.plugins.module_utils import k8s_objects as ko

DNS = {
    'namespace': 'kube-system',
    'pod_selector': {'k8s-app': 'kube-dns'},
    'ports': [{'protocol': 'UDP', 'port': 53}, {'protocol': 'TCP', 'port': 53}],
}
LABELS = {'app.kubernetes.io/managed-by': 'packetjungle.datapath'}


def allow(**overrides):
    base = {
        'namespace': 'shop',
        'name': 'from-monitoring',
        'direction': 'ingress',
        'pod_selector': {'app': 'web'},
        'peers': [{'namespace_selector': {'kubernetes.io/metadata.name': 'monitoring'},
                   'pod_selector': {'app': 'prometheus'}}],
        'ports': [{'protocol': 'TCP', 'port': 9100}],
    }
    base.update(overrides)
    return base


def one_error(errors, *fragments):
    """Exactly one error, and it names every fragment (variable, value, what is accepted)."""
    assert len(errors) == 1, errors
    for fragment in fragments:
        assert fragment in errors[0], (fragment, errors[0])
    return errors[0]


# --------------------------------------------------------------------------------------------- NetworkPolicy input

def test_network_policy_input_good():
    assert ko.validate_network_policy_input(['shop', 'blog'], [allow()], DNS) == []


def test_network_policy_input_no_dns_allowed():
    assert ko.validate_network_policy_input(['shop'], [], {}) == []


def test_dns_udp_only_is_refused():
    dns = dict(DNS, ports=[{'protocol': 'UDP', 'port': 53}])
    one_error(ko.validate_network_policy_input(['shop'], [], dns),
              'network_policy_dns.ports', "'protocol': 'UDP'", 'UDP only', 'accepted: port 53 on both UDP and TCP')


def test_dns_without_pod_selector_is_refused():
    dns = dict(DNS, pod_selector={})
    one_error(ko.validate_network_policy_input(['shop'], [], dns), 'network_policy_dns.pod_selector', 'kube-dns')


def test_dns_without_ports_is_refused():
    one_error(ko.validate_network_policy_input(['shop'], [], dict(DNS, ports=[])), 'network_policy_dns.ports: []')


def test_dns_bad_namespace_is_refused():
    one_error(ko.validate_network_policy_input(['shop'], [], dict(DNS, namespace='Kube_System')),
              'network_policy_dns.namespace', "'Kube_System'", 'DNS-1123 label')


def test_egress_allow_with_udp_only_dns_is_refused():
    bad = allow(direction='egress', name='own-dns', ports=[{'protocol': 'UDP', 'port': 53}])
    one_error(ko.validate_network_policy_input(['shop'], [bad], DNS),
              'network_policy_allows[0](shop/own-dns).ports', 'UDP only')


def test_ingress_allow_on_udp_53_is_not_a_dns_mistake():
    ok = allow(ports=[{'protocol': 'UDP', 'port': 53}])
    assert ko.validate_network_policy_input(['shop'], [ok], DNS) == []


def test_or_ed_selectors_are_refused():
    bad = allow(direction='egress', name='to-dns', peers=[
        {'namespace_selector': {'kubernetes.io/metadata.name': 'kube-system'}},
        {'pod_selector': {'k8s-app': 'kube-dns'}},
    ], ports=[{'protocol': 'UDP', 'port': 53}, {'protocol': 'TCP', 'port': 53}])
    one_error(ko.validate_network_policy_input(['shop'], [bad], DNS),
              'network_policy_allows[0](shop/to-dns).peers', 'peers [0] (namespace_selector only) and [1] '
              '(pod_selector only) are OR-ed', 'in ONE peer', 'two separate allows')


def test_or_of_two_namespace_selectors_is_fine():
    ok = allow(peers=[{'namespace_selector': {'team': 'a'}}, {'namespace_selector': {'team': 'b'}}])
    assert ko.validate_network_policy_input(['shop'], [ok], DNS) == []


def test_allow_bad_direction_protocol_port():
    bad = allow(direction='both', ports=[{'port': 53}, {'protocol': 'TCP', 'port': 70000}])
    errors = ko.validate_network_policy_input(['shop'], [bad], DNS)
    assert len(errors) == 3, errors
    assert "direction: 'both' is not accepted; accepted: ingress, egress" in errors[0]
    assert "ports[0].protocol: None is not accepted (Kubernetes would read a missing one as TCP)" in errors[1]
    assert 'ports[1].port: 70000 is not a valid port; accepted: a number from 1 to 65535 or a named port' in errors[2]


def test_named_port_is_accepted():
    ok = allow(ports=[{'protocol': 'TCP', 'port': 'metrics'}])
    assert ko.validate_network_policy_input(['shop'], [ok], DNS) == []


def test_duplicate_and_reserved_allow_names():
    errors = ko.validate_network_policy_input(['shop'], [allow(), allow(), allow(name='default-deny')], DNS)
    assert len(errors) == 2, errors
    assert 'network_policy_allows[1](shop/from-monitoring): shop/from-monitoring is already declared by ' \
           'network_policy_allows[0]' in errors[0]
    assert "network_policy_allows[2](shop/default-deny).name: 'default-deny' is the role's own policy" in errors[1]


def test_bad_namespaces():
    errors = ko.validate_network_policy_input(['shop', 'shop', 'Bad_NS'], [], DNS)
    assert len(errors) == 2, errors
    assert "network_policy_namespaces[2]: 'Bad_NS' is not a valid name" in errors[0]
    assert "network_policy_namespaces: ['shop'] listed more than once" in errors[1]


def test_peer_problems():
    bad = allow(peers=[
        {'cidr': '10.0.0.0/8', 'pod_selector': {'app': 'x'}},
        {'cidr': '10.0.0.0/33'},
        {'cidr': '10.0.0.0/8', 'except': ['192.168.0.0/16', 'nonsense']},
        {'except': ['10.1.0.0/16']},
        {},
        {'pod_selector': {'bad key!': 'x'}},
        {'namespace': 'typo'},
    ])
    errors = ko.validate_network_policy_input(['shop'], [bad], DNS)
    text = '\n'.join(errors)
    assert 'peers[0]: ' in text and 'mixes cidr with selectors' in text
    assert "peers[1].cidr: '10.0.0.0/33' is not a CIDR" in text
    assert 'peers[2].except[0]: 192.168.0.0/16 is not inside 10.0.0.0/8' in text
    assert "peers[2].except[1]: 'nonsense' is not a CIDR" in text
    assert "peers[3].except: ['10.1.0.0/16'] without cidr" in text
    assert 'peers[4]: {} selects nothing' in text
    assert "peers[5].pod_selector: label key 'bad key!' is not valid" in text
    assert "peers[6]: unknown keys ['namespace']" in text


def test_empty_peers_refused():
    one_error(ko.validate_network_policy_input(['shop'], [allow(peers=[])], DNS), 'peers: [] is empty',
              'cidr 0.0.0.0/0')


def test_not_lists():
    assert ko.validate_network_policy_input('shop', 'x', DNS) == [
        "network_policy_namespaces: 'shop' is not a list; accepted: a list of namespace names",
        "network_policy_allows: 'x' is not a list; accepted: a list of allows",
    ]


# ------------------------------------------------------------------------------------------ NetworkPolicy builders

def test_build_default_deny():
    assert ko.build_default_deny('shop', LABELS) == {
        'apiVersion': 'networking.k8s.io/v1',
        'kind': 'NetworkPolicy',
        'metadata': {'name': 'default-deny', 'namespace': 'shop', 'labels': LABELS},
        'spec': {'podSelector': {}, 'policyTypes': ['Ingress', 'Egress']},
    }


def test_build_dns_allow_has_namespace_and_pod_selector_in_one_peer():
    policy = ko.build_dns_allow('shop', DNS)
    assert policy['metadata'] == {'name': 'allow-dns', 'namespace': 'shop'}
    assert policy['spec'] == {
        'podSelector': {},
        'policyTypes': ['Egress'],
        'egress': [{
            'to': [{
                'namespaceSelector': {'matchLabels': {'kubernetes.io/metadata.name': 'kube-system'}},
                'podSelector': {'matchLabels': {'k8s-app': 'kube-dns'}},
            }],
            'ports': [{'protocol': 'UDP', 'port': 53}, {'protocol': 'TCP', 'port': 53}],
        }],
    }


def test_build_allow_ingress():
    assert ko.build_allow(allow())['spec'] == {
        'podSelector': {'matchLabels': {'app': 'web'}},
        'policyTypes': ['Ingress'],
        'ingress': [{
            'from': [{'namespaceSelector': {'matchLabels': {'kubernetes.io/metadata.name': 'monitoring'}},
                      'podSelector': {'matchLabels': {'app': 'prometheus'}}}],
            'ports': [{'protocol': 'TCP', 'port': 9100}],
        }],
    }


def test_build_allow_egress_cidr_all_namespaces_and_no_ports():
    spec = ko.build_allow(allow(direction='egress', pod_selector={}, ports=[], peers=[
        {'cidr': '10.0.0.0/8', 'except': ['10.96.0.0/12']},
        {'namespace_selector': {}},
    ]))['spec']
    assert spec == {
        'podSelector': {},
        'policyTypes': ['Egress'],
        'egress': [{'to': [{'ipBlock': {'cidr': '10.0.0.0/8', 'except': ['10.96.0.0/12']}},
                           {'namespaceSelector': {}}]}],
    }


def test_build_cilium_default_deny():
    assert ko.build_cilium_default_deny('shop')['spec'] == {'endpointSelector': {}, 'ingress': [{}], 'egress': [{}]}


def test_build_cilium_dns_allow():
    policy = ko.build_cilium_dns_allow('shop', DNS)
    assert policy['apiVersion'] == 'cilium.io/v2' and policy['kind'] == 'CiliumNetworkPolicy'
    assert policy['spec'] == {
        'endpointSelector': {},
        'egress': [{
            'toEndpoints': [{'matchLabels': {'k8s:io.kubernetes.pod.namespace': 'kube-system',
                                             'k8s:k8s-app': 'kube-dns'}}],
            'toPorts': [{'ports': [{'port': '53', 'protocol': 'UDP'}, {'port': '53', 'protocol': 'TCP'}],
                         'rules': {'dns': [{'matchPattern': '*'}]}}],
        }],
    }


def test_build_cilium_allow_pins_namespaces():
    policy = ko.build_cilium_allow(allow(peers=[
        {'namespace_selector': {'kubernetes.io/metadata.name': 'monitoring'}, 'pod_selector': {'app': 'prometheus'}},
        {'pod_selector': {'app': 'cron'}},
        {'namespace_selector': {'team': 'ops'}},
        {'namespace_selector': {}},
        {'cidr': '192.0.2.0/24'},
    ]))
    assert policy['spec'] == {
        'endpointSelector': {'matchLabels': {'k8s:app': 'web'}},
        'ingress': [
            {'fromEndpoints': [
                {'matchLabels': {'k8s:app': 'prometheus', 'k8s:io.kubernetes.pod.namespace': 'monitoring'}},
                {'matchLabels': {'k8s:app': 'cron', 'k8s:io.kubernetes.pod.namespace': 'shop'}},
                {'matchLabels': {'k8s:io.cilium.k8s.namespace.labels.team': 'ops'}},
                {'matchExpressions': [{'key': 'k8s:io.kubernetes.pod.namespace', 'operator': 'Exists'}]},
            ], 'toPorts': [{'ports': [{'port': '9100', 'protocol': 'TCP'}]}]},
            {'fromCIDRSet': [{'cidr': '192.0.2.0/24'}],
             'toPorts': [{'ports': [{'port': '9100', 'protocol': 'TCP'}]}]},
        ],
    }
    assert ko.lint_policies([policy]) == []


def test_build_cilium_allow_egress_cidr_with_except():
    policy = ko.build_cilium_allow(allow(direction='egress', ports=[], pod_selector={},
                                         peers=[{'cidr': '0.0.0.0/0', 'except': ['10.0.0.0/8']}]))
    assert policy['spec'] == {'endpointSelector': {},
                              'egress': [{'toCIDRSet': [{'cidr': '0.0.0.0/0', 'except': ['10.0.0.0/8']}]}]}


def test_build_network_policies_order_and_kinds():
    objects = ko.build_network_policies(['shop', 'blog'], [allow()], DNS, cilium_kinds=True, labels=LABELS)
    assert [(o['kind'], o['metadata']['namespace'], o['metadata']['name']) for o in objects] == [
        ('NetworkPolicy', 'shop', 'default-deny'),
        ('NetworkPolicy', 'shop', 'allow-dns'),
        ('NetworkPolicy', 'blog', 'default-deny'),
        ('NetworkPolicy', 'blog', 'allow-dns'),
        ('NetworkPolicy', 'shop', 'from-monitoring'),
        ('CiliumNetworkPolicy', 'shop', 'default-deny'),
        ('CiliumNetworkPolicy', 'shop', 'allow-dns'),
        ('CiliumNetworkPolicy', 'blog', 'default-deny'),
        ('CiliumNetworkPolicy', 'blog', 'allow-dns'),
        ('CiliumNetworkPolicy', 'shop', 'from-monitoring'),
    ]
    assert all(o['metadata']['labels'] == LABELS for o in objects)
    assert ko.lint_policies(objects) == []


GATEWAY_ALLOW = dict(name='from-gateway', ports=[{'protocol': 'TCP', 'port': 8080}], peers=[{'entities': ['ingress']}])


def test_entity_peers_need_cilium_kinds():
    one_error(ko.validate_network_policy_input(['shop'], [allow(**GATEWAY_ALLOW)], DNS),
              "peers[0].entities: ['ingress'] needs network_policy_cilium_kinds: true")
    assert ko.validate_network_policy_input(['shop'], [allow(**GATEWAY_ALLOW)], DNS, cilium_kinds=True) == []


def test_entity_peer_problems():
    bad = allow(peers=[{'entities': ['ingres']}, {'entities': []}, {'entities': ['world'], 'cidr': '10.0.0.0/8'}])
    text = '\n'.join(ko.validate_network_policy_input(['shop'], [bad], DNS, cilium_kinds=True))
    assert "peers[0].entities: ['ingres'] not accepted; accepted: all, world, cluster" in text
    assert 'peers[1].entities: [] is not a non-empty list' in text
    assert 'peers[2]: ' in text and 'mixes entities with other keys' in text


def test_entities_render_only_in_the_cilium_policy():
    # Gateway traffic reaches backends as Cilium's `ingress` identity: no NetworkPolicy can allow it, and an
    # empty `from` would allow everyone, so such an allow renders the CiliumNetworkPolicy alone.
    assert ko.build_allow(allow(**GATEWAY_ALLOW)) is None
    objects = ko.build_network_policies(['shop'], [allow(**GATEWAY_ALLOW)], DNS, cilium_kinds=True)
    assert [(o['kind'], o['metadata']['name']) for o in objects] == [
        ('NetworkPolicy', 'default-deny'), ('NetworkPolicy', 'allow-dns'), ('CiliumNetworkPolicy', 'default-deny'),
        ('CiliumNetworkPolicy', 'allow-dns'), ('CiliumNetworkPolicy', 'from-gateway')]
    assert objects[-1]['spec'] == {
        'endpointSelector': {'matchLabels': {'k8s:app': 'web'}},
        'ingress': [{'fromEntities': ['ingress'], 'toPorts': [{'ports': [{'port': '8080', 'protocol': 'TCP'}]}]}]}
    assert ko.lint_policies(objects) == []


def test_entities_beside_selectors_are_separate_rules():
    mixed = allow(peers=[{'pod_selector': {'app': 'api'}}, {'entities': ['host']}], ports=[])
    assert ko.build_allow(mixed)['spec']['ingress'] == [{'from': [{'podSelector': {'matchLabels': {'app': 'api'}}}]}]
    assert ko.build_cilium_allow(mixed)['spec']['ingress'] == [
        {'fromEndpoints': [{'matchLabels': {'k8s:app': 'api', 'k8s:io.kubernetes.pod.namespace': 'shop'}}]},
        {'fromEntities': ['host']}]


def test_build_namespaces_names_only():
    assert ko.build_namespaces(['shop', 'blog']) == [
        {'apiVersion': 'v1', 'kind': 'Namespace',
         'metadata': {'name': 'shop', 'labels': {'kubernetes.io/metadata.name': 'shop'}}},
        {'apiVersion': 'v1', 'kind': 'Namespace',
         'metadata': {'name': 'blog', 'labels': {'kubernetes.io/metadata.name': 'blog'}}}]
    assert ko.build_namespaces([]) == []


def test_build_network_policies_without_dns_or_cilium():
    objects = ko.build_network_policies(['shop'], [], {})
    assert [o['metadata']['name'] for o in objects] == ['default-deny']


def test_builders_do_not_share_input_structures():
    data = copy.deepcopy(DNS)
    policy = ko.build_dns_allow('shop', data)
    policy['spec']['egress'][0]['to'][0]['podSelector']['matchLabels']['x'] = 'y'
    assert data == DNS


# ------------------------------------------------------------------------------------------------------ policy lint

def knp(egress=None, ingress=None):
    spec = {'podSelector': {}}
    if egress is not None:
        spec['egress'] = egress
    if ingress is not None:
        spec['ingress'] = ingress
    return {'kind': 'NetworkPolicy', 'metadata': {'name': 'p', 'namespace': 'shop'}, 'spec': spec}


def cnp(egress=None, ingress=None):
    spec = {'endpointSelector': {}}
    if egress is not None:
        spec['egress'] = egress
    if ingress is not None:
        spec['ingress'] = ingress
    return {'kind': 'CiliumNetworkPolicy', 'metadata': {'name': 'c', 'namespace': 'shop'}, 'spec': spec}


def test_lint_knp_dns_udp_only():
    one_error(ko.lint_policies([knp(egress=[{'ports': [{'protocol': 'UDP', 'port': 53}]}])]),
              'NetworkPolicy shop/p: spec.egress[0].ports', 'DNS on UDP only', 'both UDP and TCP')


def test_lint_knp_dns_port_without_protocol_is_tcp_only():
    one_error(ko.lint_policies([knp(egress=[{'ports': [{'port': 53}]}])]), 'DNS on TCP only',
              'a port without protocol is TCP')


def test_lint_knp_dns_both_protocols_is_fine():
    assert ko.lint_policies([knp(egress=[{'ports': [{'protocol': 'UDP', 'port': 53},
                                                    {'protocol': 'TCP', 'port': 53}]}])]) == []


def test_lint_knp_or_ed_selectors():
    policy = knp(egress=[{'to': [{'namespaceSelector': {'matchLabels': {'kubernetes.io/metadata.name': 'kube-system'}}},
                                 {'podSelector': {'matchLabels': {'k8s-app': 'kube-dns'}}}],
                          'ports': [{'protocol': 'UDP', 'port': 53}, {'protocol': 'TCP', 'port': 53}]}])
    one_error(ko.lint_policies([policy]), 'NetworkPolicy shop/p: spec.egress[0].to: peers [0] (namespaceSelector only) '
              'and [1] (podSelector only) are OR-ed', 'in ONE peer')


def test_lint_knp_or_ed_selectors_on_ingress():
    policy = knp(ingress=[{'from': [{'namespaceSelector': {}}, {'podSelector': {}}]}])
    one_error(ko.lint_policies([policy]), 'spec.ingress[0].from')


def test_lint_cnp_selector_without_namespace_label():
    policy = cnp(egress=[{'toEndpoints': [{'matchLabels': {'k8s:k8s-app': 'kube-dns'}}],
                          'toPorts': [{'ports': [{'port': '53', 'protocol': 'ANY'}]}]}])
    one_error(ko.lint_policies([policy]), 'CiliumNetworkPolicy shop/c: spec.egress[0].toEndpoints[0]',
              'has no k8s:io.kubernetes.pod.namespace label', 'only matches pods of shop')


def test_lint_cnp_ingress_selector_without_namespace_label():
    policy = cnp(ingress=[{'fromEndpoints': [{'matchLabels': {'app': 'x'}}]}])
    one_error(ko.lint_policies([policy]), 'spec.ingress[0].fromEndpoints[0]')


def test_lint_cnp_namespace_label_forms_are_fine():
    policy = cnp(egress=[{'toEndpoints': [
        {'matchLabels': {'io.kubernetes.pod.namespace': 'kube-system', 'k8s-app': 'kube-dns'}},
        {'matchExpressions': [{'key': 'k8s:io.kubernetes.pod.namespace', 'operator': 'In', 'values': ['a']}]},
        {'matchLabels': {'k8s:io.cilium.k8s.namespace.labels.team': 'ops'}},
        {},
    ]}])
    assert ko.lint_policies([policy]) == []


def test_lint_cnp_dns_udp_only():
    policy = cnp(egress=[{'toEndpoints': [{'matchLabels': {'k8s:io.kubernetes.pod.namespace': 'kube-system'}}],
                          'toPorts': [{'ports': [{'port': '53', 'protocol': 'UDP'}]}]}])
    one_error(ko.lint_policies([policy]), 'spec.egress[0].toPorts[0]: DNS (port 53) on UDP only', 'protocol ANY')


def test_lint_ignores_other_kinds():
    assert ko.lint_policies([{'kind': 'ConfigMap', 'metadata': {'name': 'x'}}]) == []


# --------------------------------------------------------------------------------------------- Gateway API CRD input

SHA = '73b91b77f6be023a8c92c969fc664e5bd3b1a28aea59eac9ebc904607354dad2'
URL = 'https://github.com/kubernetes-sigs/gateway-api/releases/download/v1.4.1/standard-install.yaml'


def test_crds_input_good():
    assert ko.validate_gateway_api_crds('v1.4.1', URL, SHA, '') == []
    assert ko.validate_gateway_api_crds('v1.4.1', '', '', '/srv/mirror/standard-install.yaml') == []


@pytest.mark.parametrize('args, fragments', [
    (('1.4.1', URL, SHA, ''), ("gateway_api_version: '1.4.1' is not a pinned release", 'v1.4.1')),
    (('v1.4.1', 'http://example.com/x.yaml', SHA, ''), ("gateway_api_crds_url: 'http://example.com/x.yaml'", 'https')),
    (('v1.4.1', URL, 'abc', ''), ("gateway_api_crds_sha256: 'abc' is not a SHA-256", '64 lower-case hex')),
    (('v1.4.1', URL, '', ''), ("gateway_api_crds_sha256: '' is not a SHA-256",)),
    (('v1.4.1', '', 'XYZ', '/srv/x.yaml'), ("gateway_api_crds_sha256: 'XYZ'", 'or empty')),
])
def test_crds_input_bad(args, fragments):
    one_error(ko.validate_gateway_api_crds(*args), *fragments)


# ------------------------------------------------------------------------------------------ Gateway API object input

CLASS = {'name': 'cilium', 'controller_name': 'io.cilium/gateway-controller', 'manage': True}
REGION = {'name': 'X-Region-Context', 'value': 'no-osl-1'}


def gateway(**overrides):
    base = {
        'name': 'public',
        'namespace': 'gateways',
        'listeners': [
            {'name': 'http', 'port': 80, 'protocol': 'HTTP', 'hostname': '*.example.com',
             'allowed_routes': {'from': 'All'}},
            {'name': 'https', 'port': 443, 'protocol': 'HTTPS', 'hostname': 'shop.example.com',
             'tls': {'certificate_refs': [{'name': 'shop-tls'}]}},
        ],
    }
    base.update(overrides)
    return base


def route(**overrides):
    base = {
        'name': 'shop',
        'namespace': 'shop',
        'parent_refs': [{'name': 'public', 'namespace': 'gateways', 'section_name': 'https'}],
        'hostnames': ['shop.example.com'],
        'rules': [
            {'matches': [{'path': {'type': 'PathPrefix', 'value': '/api'},
                          'headers': [{'name': 'X-Canary', 'value': 'yes'}]}],
             'request_header_modifier': {'add': [{'name': 'X-Via', 'value': 'gw'}], 'remove': ['X-Debug']},
             'backend_refs': [{'name': 'api', 'port': 8080, 'weight': 90},
                              {'name': 'api-canary', 'port': 8080, 'weight': 10}]},
            {'matches': [{'path': {'type': 'Exact', 'value': '/healthz'}}],
             'region_header': False,
             'backend_refs': [{'name': 'web', 'port': 80}]},
        ],
    }
    base.update(overrides)
    return base


def rule_with(**overrides):
    base = {'matches': [{'path': {'type': 'PathPrefix', 'value': '/'}}], 'backend_refs': [{'name': 'web', 'port': 80}]}
    base.update(overrides)
    return base


def test_gateway_input_good():
    assert ko.validate_gateway_api_input(CLASS, [gateway()], [route()], REGION) == []


@pytest.mark.parametrize('weight', [-1, 1000001, '10', 1.5, True])
def test_bad_weight(weight):
    bad = route(rules=[rule_with(backend_refs=[{'name': 'web', 'port': 80, 'weight': weight}])])
    one_error(ko.validate_gateway_api_input(CLASS, [gateway()], [bad], REGION),
              'gateway_api_routes[0](shop/shop).rules[0].backend_refs[0].weight: %r is out of range' % (weight,),
              'an integer from 0 to 1000000')


@pytest.mark.parametrize('weight', [0, 1, 1000000])
def test_weight_limits_accepted(weight):
    ok = route(rules=[rule_with(backend_refs=[{'name': 'web', 'port': 80, 'weight': weight}])])
    assert ko.validate_gateway_api_input(CLASS, [gateway()], [ok], REGION) == []


@pytest.mark.parametrize('hostname', ['Shop.example.com', 'shop.*.com', '*', '*.', 'shop_1.example.com',
                                      '-shop.example.com', 'a' * 64 + '.example.com', '10.0.0.1', '',
                                      'shop.example.com.', 'x' * 250 + '.com'])
def test_bad_route_hostname(hostname):
    one_error(ko.validate_gateway_api_input(CLASS, [gateway()], [route(hostnames=[hostname])], REGION),
              'gateway_api_routes[0](shop/shop).hostnames[0]: %r is not a valid hostname' % hostname,
              '"*." as the first label only')


@pytest.mark.parametrize('hostname', ['*.example.com', 'shop.example.com', 'localhost', 'a1-b2.example'])
def test_good_route_hostname(hostname):
    assert ko.validate_gateway_api_input(CLASS, [gateway()], [route(hostnames=[hostname])], REGION) == []


@pytest.mark.parametrize('value', ['api', '', 'api/v1'])
def test_path_must_start_with_slash(value):
    bad = route(rules=[rule_with(matches=[{'path': {'type': 'PathPrefix', 'value': value}}])])
    one_error(ko.validate_gateway_api_input(CLASS, [gateway()], [bad], REGION),
              'rules[0].matches[0].path.value: %r does not start with "/"' % value)


@pytest.mark.parametrize('value', ['/a//b', '/a/./b', '/a/../b', '/a%2fb', '/a#b', '/a/..', '/a/.', '/a b',
                                   '/' + 'a' * 1024])
def test_path_cel_rules(value):
    bad = route(rules=[rule_with(matches=[{'path': {'type': 'Exact', 'value': value}}])])
    one_error(ko.validate_gateway_api_input(CLASS, [gateway()], [bad], REGION), 'is not a valid path')


def test_regular_expression_path_type_refused():
    bad = route(rules=[rule_with(matches=[{'path': {'type': 'RegularExpression', 'value': '/a.*'}}])])
    one_error(ko.validate_gateway_api_input(CLASS, [gateway()], [bad], REGION),
              "path.type: 'RegularExpression' is not accepted; accepted: PathPrefix, Exact")


@pytest.mark.parametrize('port', [0, 65536, None, 'http'])
def test_unknown_backend_port(port):
    bad = route(rules=[rule_with(backend_refs=[{'name': 'web', 'port': port}])])
    one_error(ko.validate_gateway_api_input(CLASS, [gateway()], [bad], REGION),
              'rules[0].backend_refs[0].port: %r is not a valid port; accepted: a number from 1 to 65535' % (port,),
              'a Service backend needs its port')


def test_too_many_rules_and_matches():
    seventeen = route(rules=[rule_with()] * 17)
    one_error(ko.validate_gateway_api_input(CLASS, [gateway()], [seventeen], REGION),
              'rules: 17 given; accepted: 1 to 16 rules')
    many = [{'path': {'value': '/p%d' % i}} for i in range(65)]
    one_error(ko.validate_gateway_api_input(CLASS, [gateway()], [route(rules=[rule_with(matches=many)])], REGION),
              'rules[0].matches: 65 given; accepted: at most 64 per rule')
    total = route(rules=[rule_with(matches=[{'path': {'value': '/p%d' % i}} for i in range(64)]),
                         rule_with(matches=[{'path': {'value': '/q%d' % i}} for i in range(64)])])
    one_error(ko.validate_gateway_api_input(CLASS, [gateway()], [total], REGION),
              'rules: 128 matches in all; accepted: at most 127')


def test_no_rules_refused():
    one_error(ko.validate_gateway_api_input(CLASS, [gateway()], [route(rules=[])], REGION),
              'rules: 0 given; accepted: 1 to 16 rules')


def test_duplicate_route_names():
    errors = ko.validate_gateway_api_input(CLASS, [gateway()], [route(), route(), route(namespace='blog')], REGION)
    one_error(errors, 'gateway_api_routes[1](shop/shop): duplicate route name, already declared by '
              'gateway_api_routes[0]')


@pytest.mark.parametrize('name', ['X Region', 'X-Region:', '', 'Ä-header', 'x' * 257])
def test_bad_header_names(name):
    in_match = route(rules=[rule_with(matches=[{'headers': [{'name': name, 'value': 'v'}]}])])
    one_error(ko.validate_gateway_api_input(CLASS, [gateway()], [in_match], REGION),
              'rules[0].matches[0].headers[0].name: %r is not a valid header name' % name, 'RFC 7230 token')
    in_set = route(rules=[rule_with(request_header_modifier={'set': [{'name': name, 'value': 'v'}]})])
    one_error(ko.validate_gateway_api_input(CLASS, [gateway()], [in_set], REGION),
              'rules[0].request_header_modifier.set[0].name')
    in_remove = route(rules=[rule_with(request_header_modifier={'remove': [name]})])
    one_error(ko.validate_gateway_api_input(CLASS, [gateway()], [in_remove], REGION),
              'rules[0].request_header_modifier.remove[0]')
    one_error(ko.validate_gateway_api_input(CLASS, [gateway()], [route()], {'name': name, 'value': 'x'}),
              'gateway_api_region_header.name')


def test_header_modifier_problems():
    bad = route(rules=[rule_with(request_header_modifier={
        'set': [{'name': 'X-A', 'value': 'a'}, {'name': 'x-a', 'value': 'b'}],
        'add': [{'name': 'X-B', 'value': ''}] + [{'name': 'X-C%d' % i, 'value': 'c'} for i in range(16)],
    })])
    errors = ko.validate_gateway_api_input(CLASS, [gateway()], [bad], REGION)
    text = '\n'.join(errors)
    assert len(errors) == 3, errors
    assert "set[1].name: 'x-a' appears twice" in text
    assert 'add: 17 given; accepted: at most 16' in text
    assert "add[0].value: '' is not a valid header value; accepted: a string of 1 to 4096 characters" in text


def test_header_match_problems():
    bad = route(rules=[rule_with(matches=[{'headers': [{'name': 'X-A', 'value': 'a', 'type': 'Prefix'},
                                                       {'name': 'x-a', 'value': ''}],
                                           'method': 'FETCH'}])])
    errors = ko.validate_gateway_api_input(CLASS, [gateway()], [bad], REGION)
    text = '\n'.join(errors)
    assert len(errors) == 4, errors
    assert "headers[0].type: 'Prefix' is not accepted; accepted: Exact, RegularExpression" in text
    assert "headers[1].name: 'x-a' is matched twice" in text
    assert "headers[1].value: '' is not accepted" in text
    assert "method: 'FETCH' is not accepted" in text


def test_region_header_value_refused_when_too_long():
    one_error(ko.validate_gateway_api_input(CLASS, [gateway()], [route()], {'name': 'X-Region-Context',
                                                                            'value': 'x' * 4097}),
              'gateway_api_region_header.value')


def test_parent_ref_problems():
    bad = route(parent_refs=[{'name': 'public', 'namespace': 'gateways', 'section_name': 'grpc'}])
    one_error(ko.validate_gateway_api_input(CLASS, [gateway()], [bad], REGION),
              "parent_refs[0].section_name: 'grpc' is not a listener of Gateway gateways/public; accepted: http, "
              'https')
    twice = route(parent_refs=[{'name': 'public', 'namespace': 'gateways'},
                               {'name': 'public', 'namespace': 'gateways', 'section_name': 'http'}])
    one_error(ko.validate_gateway_api_input(CLASS, [gateway()], [twice], REGION),
              'Gateway gateways/public is referenced 2 times; accepted: a unique section_name')
    one_error(ko.validate_gateway_api_input(CLASS, [gateway()], [route(parent_refs=[])], REGION),
              'parent_refs: []')


def test_listener_problems():
    listeners = [
        {'name': 'web', 'port': 80, 'protocol': 'HTTP', 'tls': {'certificate_refs': [{'name': 'x'}]}},
        {'name': 'web', 'port': 0, 'protocol': 'QUIC'},
        {'name': 'secure', 'port': 443, 'protocol': 'HTTPS', 'hostname': 'secure.example.com'},
        {'name': 'pass', 'port': 8443, 'protocol': 'HTTPS', 'tls': {'mode': 'Passthrough'}},
        {'name': 'raw', 'port': 9000, 'protocol': 'TCP', 'hostname': 'raw.example.com'},
        {'name': 'dup', 'port': 443, 'protocol': 'HTTPS', 'tls': {'certificate_refs': [{'name': 'c'}]}},
        {'name': 'dup2', 'port': 443, 'protocol': 'HTTPS', 'tls': {'certificate_refs': [{'name': 'c'}]}},
        {'name': 'sel', 'port': 81, 'protocol': 'HTTP', 'allowed_routes': {'from': 'Selector'}},
        {'name': 'term', 'port': 8444, 'protocol': 'TLS', 'tls': {'mode': 'Terminate'}},
    ]
    errors = ko.validate_gateway_api_input(CLASS, [gateway(listeners=listeners)], [], REGION)
    text = '\n'.join(errors)
    prefix = 'gateway_api_gateways[0](gateways/public).listeners'
    assert prefix + '[0].tls: set on a HTTP listener; accepted: tls only for HTTPS and TLS' in text
    assert prefix + '[1].port: 0 is not a valid port' in text
    assert prefix + "[1].protocol: 'QUIC' is not accepted" in text
    assert prefix + "[1].name: 'web' is already used by listener 0" in text
    assert prefix + '[2].tls: missing on a HTTPS listener' in text
    assert prefix + "[3].tls.mode: 'Passthrough' on an HTTPS listener; accepted: Terminate" in text
    assert prefix + "[4].hostname: 'raw.example.com' is set on a TCP listener" in text
    assert prefix + '[6]: port 443, protocol HTTPS and hostname None repeat listener 5' in text
    assert prefix + '[7].allowed_routes.selector: empty with from Selector' in text
    assert prefix + '[8].tls.certificate_refs: empty with mode Terminate' in text
    assert len(errors) == 10, errors


def test_gateway_problems():
    errors = ko.validate_gateway_api_input({}, [gateway(listeners=[]), gateway(name='Public')], [], REGION)
    text = '\n'.join(errors)
    assert 'gateway_api_gateways[0](gateways/public).gateway_class_name: empty' in text
    assert 'gateway_api_gateways[0](gateways/public).listeners: 0 given; accepted: 1 to 64 listeners' in text
    assert "gateway_api_gateways[1](gateways/Public).name: 'Public' is not a valid name" in text
    dup = ko.validate_gateway_api_input(CLASS, [gateway(), gateway()], [], REGION)
    one_error(dup, 'gateway_api_gateways[1](gateways/public): already declared by gateway_api_gateways[0]')


def test_gateway_class_problems():
    one_error(ko.validate_gateway_api_input(dict(CLASS, controller_name='cilium'), [], [], REGION),
              "gateway_api_gateway_class.controller_name: 'cilium' is not a controller name",
              'io.cilium/gateway-controller')
    one_error(ko.validate_gateway_api_input({'name': 'Cilium'}, [], [], REGION),
              "gateway_api_gateway_class.name: 'Cilium' is not a valid name")
    # A class left to the Cilium chart needs only its name.
    assert ko.validate_gateway_api_input({'name': 'cilium'}, [gateway()], [route()], REGION) == []


def test_not_dicts_do_not_crash():
    errors = ko.validate_gateway_api_input(CLASS, ['x'], ['y', route(rules=['z'])], REGION)
    assert len(errors) == 3, errors


# --------------------------------------------------------------------------------------------- Gateway API builders

def test_build_gateway_class():
    assert ko.build_gateway_class(dict(CLASS, description='Cilium'), LABELS) == {
        'apiVersion': 'gateway.networking.k8s.io/v1',
        'kind': 'GatewayClass',
        'metadata': {'name': 'cilium', 'labels': LABELS},
        'spec': {'controllerName': 'io.cilium/gateway-controller', 'description': 'Cilium'},
    }


def test_build_gateway():
    assert ko.build_gateway(gateway(), 'cilium') == {
        'apiVersion': 'gateway.networking.k8s.io/v1',
        'kind': 'Gateway',
        'metadata': {'name': 'public', 'namespace': 'gateways'},
        'spec': {
            'gatewayClassName': 'cilium',
            'listeners': [
                {'name': 'http', 'port': 80, 'protocol': 'HTTP', 'hostname': '*.example.com',
                 'allowedRoutes': {'namespaces': {'from': 'All'}}},
                {'name': 'https', 'port': 443, 'protocol': 'HTTPS', 'hostname': 'shop.example.com',
                 'tls': {'mode': 'Terminate', 'certificateRefs': [{'kind': 'Secret', 'name': 'shop-tls'}]}},
            ],
        },
    }


def test_build_gateway_own_class_and_selector():
    gw = gateway(gateway_class_name='internal', listeners=[
        {'name': 'http', 'port': 80, 'protocol': 'HTTP',
         'allowed_routes': {'from': 'Selector', 'selector': {'gateway-access': 'yes'}}}])
    spec = ko.build_gateway(gw, 'cilium')['spec']
    assert spec['gatewayClassName'] == 'internal'
    assert spec['listeners'][0]['allowedRoutes'] == {
        'namespaces': {'from': 'Selector', 'selector': {'matchLabels': {'gateway-access': 'yes'}}}}


def test_build_http_route_with_region_header_and_canary():
    assert ko.build_http_route(route(), REGION, LABELS) == {
        'apiVersion': 'gateway.networking.k8s.io/v1',
        'kind': 'HTTPRoute',
        'metadata': {'name': 'shop', 'namespace': 'shop', 'labels': LABELS},
        'spec': {
            'parentRefs': [{'group': 'gateway.networking.k8s.io', 'kind': 'Gateway', 'name': 'public',
                            'namespace': 'gateways', 'sectionName': 'https'}],
            'hostnames': ['shop.example.com'],
            'rules': [
                {'matches': [{'path': {'type': 'PathPrefix', 'value': '/api'},
                              'headers': [{'type': 'Exact', 'name': 'X-Canary', 'value': 'yes'}]}],
                 'filters': [{'type': 'RequestHeaderModifier', 'requestHeaderModifier': {
                     'set': [{'name': 'X-Region-Context', 'value': 'no-osl-1'}],
                     'add': [{'name': 'X-Via', 'value': 'gw'}],
                     'remove': ['X-Debug']}}],
                 'backendRefs': [{'group': '', 'kind': 'Service', 'name': 'api', 'port': 8080, 'weight': 90},
                                 {'group': '', 'kind': 'Service', 'name': 'api-canary', 'port': 8080, 'weight': 10}]},
                {'matches': [{'path': {'type': 'Exact', 'value': '/healthz'}}],
                 'backendRefs': [{'group': '', 'kind': 'Service', 'name': 'web', 'port': 80, 'weight': 1}]},
            ],
        },
    }


def test_rule_that_sets_the_region_header_itself_wins():
    own = route(rules=[rule_with(request_header_modifier={'set': [{'name': 'x-region-context', 'value': 'other'}]})])
    rule = ko.build_http_route(own, REGION)['spec']['rules'][0]
    assert rule['filters'] == [{'type': 'RequestHeaderModifier', 'requestHeaderModifier': {
        'set': [{'name': 'x-region-context', 'value': 'other'}]}}]
    removed = route(rules=[rule_with(request_header_modifier={'remove': ['X-Region-Context']})])
    rule = ko.build_http_route(removed, REGION)['spec']['rules'][0]
    assert rule['filters'][0]['requestHeaderModifier'] == {'remove': ['X-Region-Context']}


def test_route_without_region_header_or_matches():
    minimal = {'name': 'r', 'namespace': 'n', 'parent_refs': [{'name': 'gw'}],
               'rules': [{'backend_refs': [{'name': 'web', 'port': 80}]}]}
    assert ko.build_http_route(minimal)['spec'] == {
        'parentRefs': [{'group': 'gateway.networking.k8s.io', 'kind': 'Gateway', 'name': 'gw'}],
        'rules': [{'matches': [{'path': {'type': 'PathPrefix', 'value': '/'}}],
                   'backendRefs': [{'group': '', 'kind': 'Service', 'name': 'web', 'port': 80, 'weight': 1}]}],
    }


def test_build_gateway_api_objects_order():
    objects = ko.build_gateway_api_objects(CLASS, [gateway()], [route()], REGION, LABELS)
    assert [o['kind'] for o in objects] == ['GatewayClass', 'Gateway', 'HTTPRoute']
    assert [o['kind'] for o in ko.build_gateway_api_objects({}, [gateway()], [], None)] == ['Gateway']
    unmanaged = ko.build_gateway_api_objects({'name': 'cilium'}, [gateway()], [], None)
    assert [(o['kind'], o['spec']['gatewayClassName']) for o in unmanaged] == [('Gateway', 'cilium')]


# ------------------------------------------------------------------------------------------------------ status read

def cond(kind, status='True', reason=None, generation=1):
    return {'type': kind, 'status': status, 'reason': reason or kind, 'message': 'm', 'observedGeneration': generation}


def live(kind, name, namespace=None, generation=1, status=None):
    meta = {'name': name, 'generation': generation}
    if namespace:
        meta['namespace'] = namespace
    return {'kind': kind, 'metadata': meta, 'status': status or {}}


def test_status_all_good():
    resources = [
        live('GatewayClass', 'cilium', status={'conditions': [cond('Accepted')]}),
        live('Gateway', 'public', 'gateways', status={'conditions': [cond('Accepted'), cond('Programmed')]}),
        live('HTTPRoute', 'shop', 'shop', status={'parents': [
            {'parentRef': {'name': 'public'}, 'controllerName': 'io.cilium/gateway-controller',
             'conditions': [cond('Accepted'), cond('ResolvedRefs')]}]}),
    ]
    assert ko.gateway_api_status_problems(resources) == []


def test_status_problems():
    resources = [
        # The API server's default before any controller acted.
        live('Gateway', 'public', 'gateways', status={'conditions': [
            cond('Accepted', 'Unknown', 'Pending'), cond('Programmed', 'Unknown', 'Pending')]}),
        live('HTTPRoute', 'shop', 'shop', generation=2, status={'parents': [
            {'parentRef': {'name': 'public'}, 'controllerName': 'io.cilium/gateway-controller',
             'conditions': [cond('Accepted', generation=1),
                            cond('ResolvedRefs', 'False', 'BackendNotFound', generation=2)]}]}),
        live('HTTPRoute', 'blog', 'blog', status={'parents': [
            {'parentRef': {'name': 'public'}, 'controllerName': 'example.com/other', 'conditions': []}]}),
        live('GatewayClass', 'cilium'),
    ]
    assert ko.gateway_api_status_problems(resources) == [
        'Gateway gateways/public: Accepted is Unknown (Pending: m)',
        'Gateway gateways/public: Programmed is Unknown (Pending: m)',
        'HTTPRoute shop/shop parent public: Accepted is for generation 1, the object is at 2 (status is stale)',
        'HTTPRoute shop/shop parent public: ResolvedRefs is False (BackendNotFound: m)',
        'HTTPRoute blog/blog: no status from io.cilium/gateway-controller yet',
        'GatewayClass cilium: no Accepted condition yet',
    ]


def test_status_restricted_to_wanted_objects():
    wanted = ko.build_gateway_api_objects(CLASS, [], [route()], REGION)
    resources = [live('HTTPRoute', 'other', 'shop')]
    assert ko.gateway_api_status_problems(resources, wanted) == [
        'GatewayClass cilium: not found on the server',
        'HTTPRoute shop/shop: not found on the server',
    ]
