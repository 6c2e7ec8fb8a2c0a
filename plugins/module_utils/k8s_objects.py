# -*- coding: utf-8 -*-
# Copyright: (c) 2026, packetjungle.datapath contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""NetworkPolicy and Gateway API objects from inventory data, the checks that refuse bad data, and policy lints.

Everything here is pure: inventory data in, Kubernetes objects or error strings out. Every error names the role
variable (with the list index or the object's namespace/name), the value, and what would be accepted, so a run
fails before anything is applied. The limits follow the Gateway API standard-channel CRDs (schema and CEL) and
the Kubernetes NetworkPolicy API.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import ipaddress
import re

# ---------------------------------------------------------------------------------------------------------------
# Shared name checks
# ---------------------------------------------------------------------------------------------------------------

DNS1123_LABEL = re.compile(r'^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')
DNS1123_SUBDOMAIN = re.compile(r'^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')
LABEL_NAME = re.compile(r'^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$')
LABEL_VALUE = re.compile(r'^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$')
IANA_SVC_NAME = re.compile(r'^[a-z0-9]([a-z0-9-]*[a-z0-9])?$')


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _name_error(var, value, subdomain=False):
    """Error for a Kubernetes object or namespace name, None when it is fine."""
    if subdomain:
        ok = isinstance(value, str) and len(value) <= 253 and DNS1123_SUBDOMAIN.match(value)
        accepted = 'a DNS-1123 subdomain: lower-case letters, digits, "-" and ".", at most 253 characters'
    else:
        ok = isinstance(value, str) and len(value) <= 63 and DNS1123_LABEL.match(value)
        accepted = 'a DNS-1123 label: lower-case letters, digits and "-", at most 63 characters'
    if ok:
        return None
    return '%s: %r is not a valid name; accepted: %s' % (var, value, accepted)


def _labels_errors(var, labels):
    """Label selector given as a dict of labels (matchLabels)."""
    if labels is None:
        return []
    if not isinstance(labels, dict):
        return ['%s: %r is not a dict of labels; accepted: {key: value, ...}' % (var, labels)]
    errors = []
    for key, value in labels.items():
        prefix, _sep, name = str(key).rpartition('/')
        if (not isinstance(key, str) or len(name) > 63 or not LABEL_NAME.match(name)
                or (prefix and (len(prefix) > 253 or not DNS1123_SUBDOMAIN.match(prefix)))):
            errors.append('%s: label key %r is not valid; accepted: [DNS-subdomain prefix/]name, name at most 63 '
                          'characters of letters, digits, "-", "_", "."' % (var, key))
        if not isinstance(value, str) or len(value) > 63 or not LABEL_VALUE.match(value):
            errors.append('%s[%s]: label value %r is not valid; accepted: a string of at most 63 letters, digits, '
                          '"-", "_", "." starting and ending alphanumeric' % (var, key, value))
    return errors


def _port_error(var, port, named=True):
    if _is_int(port) and 1 <= port <= 65535:
        return None
    if named and isinstance(port, str) and len(port) <= 15 and IANA_SVC_NAME.match(port) and '--' not in port \
            and re.search('[a-z]', port):
        return None
    accepted = 'a number from 1 to 65535' + (' or a named port (IANA service name)' if named else '')
    return '%s: %r is not a valid port; accepted: %s' % (var, port, accepted)


# ---------------------------------------------------------------------------------------------------------------
# NetworkPolicy
# ---------------------------------------------------------------------------------------------------------------

POLICY_PROTOCOLS = ('TCP', 'UDP', 'SCTP')
DIRECTIONS = ('ingress', 'egress')
DEFAULT_DENY_NAME = 'default-deny'
DNS_ALLOW_NAME = 'allow-dns'
DNS_PORT = 53
# Cilium's label for a pod's namespace; a CNP endpoint selector without it only matches the policy's namespace.
CILIUM_NS_LABEL = 'k8s:io.kubernetes.pod.namespace'
# Cilium exposes namespace labels to endpoint selectors under this prefix.
CILIUM_NS_LABELS_PREFIX = 'k8s:io.cilium.k8s.namespace.labels.'
# The label every namespace carries with its own name (Kubernetes >= 1.21).
NS_NAME_LABEL = 'kubernetes.io/metadata.name'
# Cilium's reserved identities a CiliumNetworkPolicy can name (fromEntities/toEntities). Traffic through
# Cilium's Gateway (Envoy) reaches the backends as `ingress`, which no NetworkPolicy selector matches.
CILIUM_ENTITIES = ('all', 'world', 'cluster', 'host', 'remote-node', 'kube-apiserver', 'ingress', 'init',
                   'health', 'unmanaged')


def _dns_protocol_error(var, ports):
    """DNS over UDP only: answers over 512 bytes (or truncated ones) retry over TCP and would be dropped."""
    protocols = set(p.get('protocol') for p in ports if isinstance(p, dict) and p.get('port') in (DNS_PORT, 'dns'))
    if 'UDP' in protocols and 'TCP' not in protocols:
        return ('%s: %r allows DNS (port 53) on UDP only; truncated and large answers retry over TCP and would be '
                'dropped; accepted: port 53 on both UDP and TCP' % (var, ports))
    return None


def _entities_errors(var, peer, cilium_kinds):
    entities = peer['entities']
    errors = []
    if set(peer) != set(('entities',)):
        errors.append('%s: %r mixes entities with other keys; accepted: entities alone in its peer' % (var, peer))
    if not isinstance(entities, list) or not entities:
        return errors + ['%s.entities: %r is not a non-empty list; accepted: a list of %s'
                         % (var, entities, ', '.join(CILIUM_ENTITIES))]
    unknown = [e for e in entities if e not in CILIUM_ENTITIES]
    if unknown:
        errors.append('%s.entities: %s not accepted; accepted: %s' % (var, unknown, ', '.join(CILIUM_ENTITIES)))
    if not cilium_kinds:
        errors.append('%s.entities: %r needs network_policy_cilium_kinds: true; a Kubernetes NetworkPolicy cannot '
                      'select Cilium entities' % (var, entities))
    return errors


def _peer_errors(var, peer, cilium_kinds=False):
    if not isinstance(peer, dict):
        return ['%s: %r is not a dict; accepted: {namespace_selector, pod_selector}, {cidr, except} or {entities}'
                % (var, peer)]
    if 'entities' in peer:
        return _entities_errors(var, peer, cilium_kinds)
    errors = []
    unknown = sorted(set(peer) - set(('namespace_selector', 'pod_selector', 'cidr', 'except')))
    if unknown:
        errors.append('%s: unknown keys %s; accepted: namespace_selector, pod_selector, cidr, except, entities'
                      % (var, unknown))
    has_selector = peer.get('namespace_selector') is not None or peer.get('pod_selector') is not None
    if peer.get('cidr') is not None:
        if has_selector:
            errors.append('%s: %r mixes cidr with selectors; accepted: either cidr (with except) or selectors, '
                          'one kind per peer' % (var, peer))
        try:
            network = ipaddress.ip_network(str(peer['cidr']), strict=False)
        except ValueError:
            return errors + ['%s.cidr: %r is not a CIDR; accepted: an IPv4 or IPv6 network such as 10.0.0.0/8'
                             % (var, peer['cidr'])]
        for i, excluded in enumerate(peer.get('except') or []):
            try:
                inner = ipaddress.ip_network(str(excluded), strict=False)
            except ValueError:
                errors.append('%s.except[%d]: %r is not a CIDR; accepted: a network inside %s'
                              % (var, i, excluded, network))
                continue
            if inner.version != network.version or not inner.subnet_of(network):
                errors.append('%s.except[%d]: %s is not inside %s; accepted: a network inside the peer cidr'
                              % (var, i, inner, network))
    elif peer.get('except'):
        errors.append('%s.except: %r without cidr; accepted: except only together with cidr' % (var, peer['except']))
    elif not has_selector:
        errors.append('%s: %r selects nothing; accepted: namespace_selector and/or pod_selector, or cidr' % (var, peer))
    errors.extend(_labels_errors(var + '.namespace_selector', peer.get('namespace_selector')))
    errors.extend(_labels_errors(var + '.pod_selector', peer.get('pod_selector')))
    return errors


def _or_selector_error(var, peers):
    """A peer with only a namespace selector next to one with only a pod selector is an OR, almost always meant as AND."""
    peers = [p for p in peers if isinstance(p, dict)]
    ns_only = [i for i, p in enumerate(peers) if p.get('namespace_selector') is not None and p.get('pod_selector') is None
               and p.get('cidr') is None]
    pod_only = [i for i, p in enumerate(peers) if p.get('pod_selector') is not None
                and p.get('namespace_selector') is None and p.get('cidr') is None]
    if ns_only and pod_only:
        return ('%s: peers %s (namespace_selector only) and %s (pod_selector only) are OR-ed: they allow every pod in '
                'those namespaces plus the labelled pods of the own namespace; accepted: namespace_selector and '
                'pod_selector in ONE peer for "these pods in that namespace", or two separate allows when an OR is '
                'really meant' % (var, ns_only, pod_only))
    return None


def _ports_errors(var, ports):
    if not isinstance(ports, list):
        return ['%s: %r is not a list; accepted: [{protocol: TCP|UDP|SCTP, port: 1-65535 or name}]' % (var, ports)]
    errors = []
    for i, port in enumerate(ports):
        pvar = '%s[%d]' % (var, i)
        if not isinstance(port, dict):
            errors.append('%s: %r is not a dict; accepted: {protocol, port}' % (pvar, port))
            continue
        if port.get('protocol') not in POLICY_PROTOCOLS:
            errors.append('%s.protocol: %r is not accepted (Kubernetes would read a missing one as TCP); accepted: %s'
                          % (pvar, port.get('protocol'), ', '.join(POLICY_PROTOCOLS)))
        error = _port_error(pvar + '.port', port.get('port'))
        if error:
            errors.append(error)
    return errors


def validate_network_policy_input(namespaces, allows, dns, cilium_kinds=False):
    """All problems with the network_policy role's inputs, as messages; empty when the data is good."""
    errors = []
    if not isinstance(namespaces, list):
        errors.append('network_policy_namespaces: %r is not a list; accepted: a list of namespace names' % (namespaces,))
        namespaces = []
    for i, namespace in enumerate(namespaces):
        error = _name_error('network_policy_namespaces[%d]' % i, namespace)
        if error:
            errors.append(error)
    duplicates = sorted(set(n for n in namespaces if isinstance(n, str) and namespaces.count(n) > 1))
    if duplicates:
        errors.append('network_policy_namespaces: %s listed more than once; accepted: each namespace once' % duplicates)

    if dns:
        if not isinstance(dns, dict):
            errors.append('network_policy_dns: %r is not a dict; accepted: {namespace, pod_selector, ports}' % (dns,))
        else:
            error = _name_error('network_policy_dns.namespace', dns.get('namespace'))
            if error:
                errors.append(error)
            if not dns.get('pod_selector'):
                errors.append('network_policy_dns.pod_selector: %r is empty, which would open port 53 of every pod in '
                              '%s; accepted: the DNS pods\' labels, e.g. {k8s-app: kube-dns}'
                              % (dns.get('pod_selector'), dns.get('namespace')))
            errors.extend(_labels_errors('network_policy_dns.pod_selector', dns.get('pod_selector')))
            ports = dns.get('ports')
            if not ports:
                errors.append('network_policy_dns.ports: %r is empty; accepted: [{protocol: UDP, port: 53}, '
                              '{protocol: TCP, port: 53}]' % (ports,))
            else:
                errors.extend(_ports_errors('network_policy_dns.ports', ports))
                error = _dns_protocol_error('network_policy_dns.ports', ports)
                if error:
                    errors.append(error)

    if not isinstance(allows, list):
        return errors + ['network_policy_allows: %r is not a list; accepted: a list of allows' % (allows,)]
    seen = {}
    for i, allow in enumerate(allows):
        var = 'network_policy_allows[%d]' % i
        if not isinstance(allow, dict):
            errors.append('%s: %r is not a dict; accepted: {namespace, name, direction, peers, ports}' % (var, allow))
            continue
        var = 'network_policy_allows[%d](%s/%s)' % (i, allow.get('namespace'), allow.get('name'))
        for key, subdomain in (('namespace', False), ('name', True)):
            error = _name_error('%s.%s' % (var, key), allow.get(key), subdomain)
            if error:
                errors.append(error)
        if allow.get('name') in (DEFAULT_DENY_NAME, DNS_ALLOW_NAME):
            errors.append('%s.name: %r is the role\'s own policy; accepted: any other name'
                          % (var, allow.get('name')))
        key = (allow.get('namespace'), allow.get('name'))
        if key in seen:
            errors.append('%s: %s/%s is already declared by network_policy_allows[%d]; accepted: unique '
                          'namespace/name pairs' % (var, key[0], key[1], seen[key]))
        seen.setdefault(key, i)
        if allow.get('direction') not in DIRECTIONS:
            errors.append('%s.direction: %r is not accepted; accepted: ingress, egress' % (var, allow.get('direction')))
        errors.extend(_labels_errors(var + '.pod_selector', allow.get('pod_selector')))
        peers = allow.get('peers')
        if not isinstance(peers, list) or not peers:
            errors.append('%s.peers: %r is empty; accepted: at least one peer (use cidr 0.0.0.0/0 for anywhere)'
                          % (var, peers))
            peers = []
        for j, peer in enumerate(peers):
            errors.extend(_peer_errors('%s.peers[%d]' % (var, j), peer, cilium_kinds))
        error = _or_selector_error(var + '.peers', peers)
        if error:
            errors.append(error)
        ports = allow.get('ports') or []
        errors.extend(_ports_errors(var + '.ports', ports))
        if allow.get('direction') == 'egress' and isinstance(ports, list):
            error = _dns_protocol_error(var + '.ports', ports)
            if error:
                errors.append(error)
    return errors


def _meta(name, namespace, labels=None):
    meta = {'name': name, 'namespace': namespace}
    if labels:
        meta['labels'] = dict(labels)
    return meta


def _knp_ports(ports):
    return [{'protocol': p['protocol'], 'port': p['port']} for p in ports]


def _knp_peer(peer):
    if peer.get('cidr') is not None:
        block = {'cidr': str(peer['cidr'])}
        if peer.get('except'):
            block['except'] = [str(c) for c in peer['except']]
        return {'ipBlock': block}
    out = {}
    if peer.get('namespace_selector') is not None:
        out['namespaceSelector'] = {'matchLabels': dict(peer['namespace_selector'])} if peer['namespace_selector'] \
            else {}
    if peer.get('pod_selector') is not None:
        out['podSelector'] = {'matchLabels': dict(peer['pod_selector'])} if peer['pod_selector'] else {}
    return out


def _pod_selector(labels):
    return {'matchLabels': dict(labels)} if labels else {}


def build_default_deny(namespace, labels=None):
    """Every pod of the namespace isolated in both directions; allows are added by other policies."""
    return {
        'apiVersion': 'networking.k8s.io/v1',
        'kind': 'NetworkPolicy',
        'metadata': _meta(DEFAULT_DENY_NAME, namespace, labels),
        'spec': {'podSelector': {}, 'policyTypes': ['Ingress', 'Egress']},
    }


def build_dns_allow(namespace, dns, labels=None):
    """Egress to the DNS pods only: namespace and pod selector in one peer (AND)."""
    return {
        'apiVersion': 'networking.k8s.io/v1',
        'kind': 'NetworkPolicy',
        'metadata': _meta(DNS_ALLOW_NAME, namespace, labels),
        'spec': {
            'podSelector': {},
            'policyTypes': ['Egress'],
            'egress': [{
                'to': [{
                    'namespaceSelector': {'matchLabels': {NS_NAME_LABEL: dns['namespace']}},
                    'podSelector': {'matchLabels': dict(dns['pod_selector'])},
                }],
                'ports': _knp_ports(dns['ports']),
            }],
        },
    }


def build_allow(allow, labels=None):
    """One declared allow as a NetworkPolicy; None when all its peers are Cilium entities, which only the
    CiliumNetworkPolicy can express (an empty peer list would allow everyone)."""
    peers = [_knp_peer(p) for p in allow['peers'] if 'entities' not in p]
    if not peers:
        return None
    rule = {('from' if allow['direction'] == 'ingress' else 'to'): peers}
    if allow.get('ports'):
        rule['ports'] = _knp_ports(allow['ports'])
    direction = allow['direction'].capitalize()
    return {
        'apiVersion': 'networking.k8s.io/v1',
        'kind': 'NetworkPolicy',
        'metadata': _meta(allow['name'], allow['namespace'], labels),
        'spec': {
            'podSelector': _pod_selector(allow.get('pod_selector')),
            'policyTypes': [direction],
            allow['direction']: [rule],
        },
    }


def _cilium_ports(ports):
    return [{'port': str(p['port']), 'protocol': p['protocol']} for p in ports]


def _cilium_pod_labels(labels):
    return dict(('k8s:%s' % k, v) for k, v in (labels or {}).items())


def _cilium_endpoint_selector(peer, policy_namespace):
    """A KNP peer as a Cilium endpoint selector that always pins the namespace the peer means."""
    labels = _cilium_pod_labels(peer.get('pod_selector'))
    expressions = []
    ns_selector = peer.get('namespace_selector')
    if ns_selector is None:
        # A KNP pod selector without a namespace selector means the policy's own namespace.
        labels[CILIUM_NS_LABEL] = policy_namespace
    elif not ns_selector:
        # An empty namespace selector means every namespace.
        expressions.append({'key': CILIUM_NS_LABEL, 'operator': 'Exists'})
    else:
        for key, value in ns_selector.items():
            if key == NS_NAME_LABEL:
                labels[CILIUM_NS_LABEL] = value
            else:
                labels[CILIUM_NS_LABELS_PREFIX + key] = value
    selector = {}
    if labels:
        selector['matchLabels'] = labels
    if expressions:
        selector['matchExpressions'] = expressions
    return selector


def build_cilium_default_deny(namespace, labels=None):
    """One empty rule per direction puts every endpoint of the namespace in default deny."""
    return {
        'apiVersion': 'cilium.io/v2',
        'kind': 'CiliumNetworkPolicy',
        'metadata': _meta(DEFAULT_DENY_NAME, namespace, labels),
        'spec': {'endpointSelector': {}, 'ingress': [{}], 'egress': [{}]},
    }


def build_cilium_dns_allow(namespace, dns, labels=None):
    """DNS through Cilium's DNS proxy: Hubble sees the names and toFQDNs rules become possible."""
    selector = {'matchLabels': dict(_cilium_pod_labels(dns['pod_selector']), **{CILIUM_NS_LABEL: dns['namespace']})}
    return {
        'apiVersion': 'cilium.io/v2',
        'kind': 'CiliumNetworkPolicy',
        'metadata': _meta(DNS_ALLOW_NAME, namespace, labels),
        'spec': {
            'endpointSelector': {},
            'egress': [{
                'toEndpoints': [selector],
                'toPorts': [{'ports': _cilium_ports(dns['ports']), 'rules': {'dns': [{'matchPattern': '*'}]}}],
            }],
        },
    }


def build_cilium_allow(allow, labels=None):
    """One declared allow as a CiliumNetworkPolicy with the same meaning as the NetworkPolicy."""
    ingress = allow['direction'] == 'ingress'
    endpoints = [_cilium_endpoint_selector(p, allow['namespace']) for p in allow['peers']
                 if p.get('cidr') is None and 'entities' not in p]
    entities = sorted(set(e for p in allow['peers'] for e in p.get('entities') or []))
    cidrs = []
    for peer in allow['peers']:
        if peer.get('cidr') is not None:
            entry = {'cidr': str(peer['cidr'])}
            if peer.get('except'):
                entry['except'] = [str(c) for c in peer['except']]
            cidrs.append(entry)
    rules = []
    # Endpoints, CIDRs and entities in one Cilium rule would be AND-ed, so each gets its own rule (an OR).
    if endpoints:
        rules.append({('fromEndpoints' if ingress else 'toEndpoints'): endpoints})
    if cidrs:
        rules.append({('fromCIDRSet' if ingress else 'toCIDRSet'): cidrs})
    if entities:
        rules.append({('fromEntities' if ingress else 'toEntities'): entities})
    if allow.get('ports'):
        for rule in rules:
            rule['toPorts'] = [{'ports': _cilium_ports(allow['ports'])}]
    return {
        'apiVersion': 'cilium.io/v2',
        'kind': 'CiliumNetworkPolicy',
        'metadata': _meta(allow['name'], allow['namespace'], labels),
        'spec': {
            'endpointSelector': _pod_selector(_cilium_pod_labels(allow.get('pod_selector'))),
            allow['direction']: rules,
        },
    }


def build_namespaces(names):
    """A Namespace object per name: applied server-side, it creates a missing
    namespace and leaves an existing one's other labels and owners alone. The
    name label is the one the API server sets on every namespace; without it
    in the applied object, the second apply after a create hands that label's
    ownership back to the server, a write that reports changed once."""
    return [{'apiVersion': 'v1', 'kind': 'Namespace',
             'metadata': {'name': name, 'labels': {'kubernetes.io/metadata.name': name}}} for name in names]


def build_network_policies(namespaces, allows, dns, cilium_kinds=False, labels=None):
    """Every object the network_policy role applies, in apply order: deny first, then the allows."""
    objects = []
    for namespace in namespaces:
        objects.append(build_default_deny(namespace, labels))
        if dns:
            objects.append(build_dns_allow(namespace, dns, labels))
    objects.extend(obj for obj in (build_allow(a, labels) for a in allows) if obj is not None)
    if cilium_kinds:
        for namespace in namespaces:
            objects.append(build_cilium_default_deny(namespace, labels))
            if dns:
                objects.append(build_cilium_dns_allow(namespace, dns, labels))
        objects.extend(build_cilium_allow(a, labels) for a in allows)
    return objects


def _object_ref(obj):
    meta = obj.get('metadata') or {}
    return '%s %s/%s' % (obj.get('kind'), meta.get('namespace'), meta.get('name'))


def _selector_has_namespace(selector):
    keys = set((selector.get('matchLabels') or {}).keys())
    keys.update(e.get('key') for e in selector.get('matchExpressions') or [])
    return any(k in (CILIUM_NS_LABEL, CILIUM_NS_LABEL[4:]) or str(k).startswith(CILIUM_NS_LABELS_PREFIX)
               or str(k).startswith(CILIUM_NS_LABELS_PREFIX[4:]) for k in keys)


def _lint_knp(obj):
    errors = []
    ref = _object_ref(obj)
    spec = obj.get('spec') or {}
    for direction, peers_key in (('ingress', 'from'), ('egress', 'to')):
        for i, rule in enumerate(spec.get(direction) or []):
            where = '%s: spec.%s[%d]' % (ref, direction, i)
            ports = rule.get('ports') or []
            dns_protocols = set(p.get('protocol', 'TCP') for p in ports if p.get('port') in (DNS_PORT, 'dns'))
            if direction == 'egress' and dns_protocols and dns_protocols != set(('UDP', 'TCP')) \
                    and 'SCTP' not in dns_protocols:
                errors.append('%s.ports: %r allows DNS on %s only (a port without protocol is TCP); accepted: port '
                              '53 on both UDP and TCP' % (where, ports, '/'.join(sorted(dns_protocols))))
            peers = rule.get(peers_key) or []
            ns_only = [j for j, p in enumerate(peers) if 'namespaceSelector' in p and 'podSelector' not in p]
            pod_only = [j for j, p in enumerate(peers) if 'podSelector' in p and 'namespaceSelector' not in p]
            if ns_only and pod_only:
                errors.append('%s.%s: peers %s (namespaceSelector only) and %s (podSelector only) are OR-ed; '
                              'accepted: namespaceSelector and podSelector in ONE peer for an AND'
                              % (where, peers_key, ns_only, pod_only))
    return errors


def _lint_cnp(obj):
    errors = []
    ref = _object_ref(obj)
    spec = obj.get('spec') or {}
    for direction, key in (('ingress', 'fromEndpoints'), ('egress', 'toEndpoints')):
        for i, rule in enumerate(spec.get(direction) or []):
            for j, selector in enumerate(rule.get(key) or []):
                if selector and not _selector_has_namespace(selector):
                    errors.append('%s: spec.%s[%d].%s[%d]: %r has no %s label, so it only matches pods of %s; '
                                  'accepted: a selector with %s (or namespace labels under %s)'
                                  % (ref, direction, i, key, j, selector, CILIUM_NS_LABEL,
                                     (obj.get('metadata') or {}).get('namespace'), CILIUM_NS_LABEL,
                                     CILIUM_NS_LABELS_PREFIX))
            if direction == 'egress':
                for j, to_port in enumerate(rule.get('toPorts') or []):
                    protocols = set(p.get('protocol', 'ANY') for p in to_port.get('ports') or []
                                    if str(p.get('port')) == str(DNS_PORT))
                    if protocols and 'ANY' not in protocols and 'TCP' not in protocols:
                        errors.append('%s: spec.egress[%d].toPorts[%d]: DNS (port 53) on %s only; accepted: UDP and '
                                      'TCP, or protocol ANY' % (ref, i, j, '/'.join(sorted(protocols))))
    return errors


def lint_policies(objects):
    """The classic policy mistakes in rendered NetworkPolicy and CiliumNetworkPolicy objects."""
    errors = []
    for obj in objects:
        if obj.get('kind') == 'NetworkPolicy':
            errors.extend(_lint_knp(obj))
        elif obj.get('kind') in ('CiliumNetworkPolicy', 'CiliumClusterwideNetworkPolicy'):
            errors.extend(_lint_cnp(obj))
    return errors


# ---------------------------------------------------------------------------------------------------------------
# Gateway API
# ---------------------------------------------------------------------------------------------------------------

GATEWAY_GROUP = 'gateway.networking.k8s.io'
GATEWAY_API_VERSION = GATEWAY_GROUP + '/v1'
CILIUM_CONTROLLER = 'io.cilium/gateway-controller'
# Limits of the standard-channel CRDs (schema maxItems and CEL).
MAX_ROUTE_HOSTNAMES = 16
MAX_PARENT_REFS = 32
MAX_RULES = 16
MAX_MATCHES_PER_RULE = 64
MAX_MATCHES_PER_ROUTE = 127
MAX_HEADER_MATCHES = 16
MAX_HEADER_MODIFICATIONS = 16
MAX_BACKEND_REFS = 16
MAX_LISTENERS = 64
MAX_WEIGHT = 1000000
PATH_TYPES = ('PathPrefix', 'Exact')
HEADER_MATCH_TYPES = ('Exact', 'RegularExpression')
METHODS = ('GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH')
LISTENER_PROTOCOLS = ('HTTP', 'HTTPS', 'TLS', 'TCP', 'UDP')
TLS_MODES = ('Terminate', 'Passthrough')
ALLOWED_ROUTES_FROM = ('Same', 'All', 'Selector')
HOSTNAME = re.compile(r'^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')
HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$")
PATH_CHARS = re.compile(r"^(?:[-A-Za-z0-9/._~!$&'()*+,;=:@]|[%][0-9a-fA-F]{2})+$")
IPV4_LIKE = re.compile(r'^[0-9.]+$')
GATEWAY_API_VERSION_PIN = re.compile(r'^v[0-9]+\.[0-9]+\.[0-9]+$')
SHA256 = re.compile(r'^[0-9a-f]{64}$')


def _hostname_error(var, value):
    if isinstance(value, str) and 1 <= len(value) <= 253 and HOSTNAME.match(value) and not IPV4_LIKE.match(value) \
            and all(len(label) <= 63 for label in value.split('.')):
        return None
    return ('%s: %r is not a valid hostname; accepted: a lower-case RFC 1123 name (labels of at most 63 letters, '
            'digits and "-"), optionally with "*." as the first label only, not an IP address' % (var, value))


def _path_error(var, value):
    """The CEL rules of the HTTPRoute CRD for Exact and PathPrefix values."""
    accepted = ('a path starting with "/", at most 1024 characters of RFC 3986 path characters, without "//", '
                '"/./", "/../", "%2f", "#", and not ending in "/." or "/.."')
    if not isinstance(value, str) or not value.startswith('/'):
        return '%s: %r does not start with "/"; accepted: %s' % (var, value, accepted)
    bad = (len(value) > 1024 or not PATH_CHARS.match(value) or '#' in value or '%2f' in value.lower()
           or '//' in value or '/./' in value or '/../' in value or value.endswith('/..') or value.endswith('/.'))
    if bad:
        return '%s: %r is not a valid path; accepted: %s' % (var, value, accepted)
    return None


def _header_name_error(var, value):
    if isinstance(value, str) and len(value) <= 256 and HEADER_NAME.match(value):
        return None
    return ('%s: %r is not a valid header name; accepted: 1 to 256 RFC 7230 token characters (letters, digits and '
            "!#$%%&'*+-.^_`|~), no spaces or colons" % (var, value))


def _header_value_error(var, value):
    if isinstance(value, str) and 1 <= len(value) <= 4096:
        return None
    return '%s: %r is not a valid header value; accepted: a string of 1 to 4096 characters' % (var, value)


def validate_gateway_api_crds(version, url, sha256, path):
    """The CRD source: a pinned version and either a checksummed URL or a local file."""
    errors = []
    if not isinstance(version, str) or not GATEWAY_API_VERSION_PIN.match(version):
        errors.append('gateway_api_version: %r is not a pinned release; accepted: vMAJOR.MINOR.PATCH such as v1.4.1'
                      % (version,))
    if path:
        if sha256 and not SHA256.match(str(sha256)):
            errors.append('gateway_api_crds_sha256: %r is not a SHA-256; accepted: 64 lower-case hex digits or empty'
                          % (sha256,))
        return errors
    if not url or not str(url).startswith('https://'):
        errors.append('gateway_api_crds_url: %r is not an https URL; accepted: the release asset URL of '
                      'standard-install.yaml, or set gateway_api_crds_path' % (url,))
    if not sha256 or not SHA256.match(str(sha256)):
        errors.append('gateway_api_crds_sha256: %r is not a SHA-256; accepted: 64 lower-case hex digits of the '
                      'bundle at gateway_api_crds_url' % (sha256,))
    return errors


def _listener_errors(var, listener):
    errors = []
    error = _name_error(var + '.name', listener.get('name'), subdomain=True)
    if error:
        errors.append(error)
    error = _port_error(var + '.port', listener.get('port'), named=False)
    if error:
        errors.append(error)
    protocol = listener.get('protocol')
    if protocol not in LISTENER_PROTOCOLS:
        errors.append('%s.protocol: %r is not accepted; accepted: %s' % (var, protocol, ', '.join(LISTENER_PROTOCOLS)))
    if listener.get('hostname') is not None:
        error = _hostname_error(var + '.hostname', listener['hostname'])
        if error:
            errors.append(error)
        if protocol in ('TCP', 'UDP'):
            errors.append('%s.hostname: %r is set on a %s listener; accepted: no hostname for TCP and UDP'
                          % (var, listener['hostname'], protocol))
    tls = listener.get('tls')
    if tls and protocol in ('HTTP', 'TCP', 'UDP'):
        errors.append('%s.tls: set on a %s listener; accepted: tls only for HTTPS and TLS' % (var, protocol))
    if protocol in ('HTTPS', 'TLS'):
        mode = (tls or {}).get('mode', 'Terminate')
        if not tls:
            errors.append('%s.tls: missing on a %s listener; accepted: {mode, certificate_refs}' % (var, protocol))
        elif mode not in TLS_MODES:
            errors.append('%s.tls.mode: %r is not accepted; accepted: %s' % (var, mode, ', '.join(TLS_MODES)))
        elif protocol == 'HTTPS' and mode != 'Terminate':
            errors.append('%s.tls.mode: %r on an HTTPS listener; accepted: Terminate' % (var, mode))
        elif mode == 'Terminate' and not tls.get('certificate_refs'):
            errors.append('%s.tls.certificate_refs: empty with mode Terminate; accepted: at least one Secret '
                          '{name, namespace}' % var)
        for i, ref in enumerate((tls or {}).get('certificate_refs') or []):
            error = _name_error('%s.tls.certificate_refs[%d].name' % (var, i), (ref or {}).get('name'), True)
            if error:
                errors.append(error)
    allowed = listener.get('allowed_routes') or {}
    if allowed.get('from', 'Same') not in ALLOWED_ROUTES_FROM:
        errors.append('%s.allowed_routes.from: %r is not accepted; accepted: %s'
                      % (var, allowed.get('from'), ', '.join(ALLOWED_ROUTES_FROM)))
    if allowed.get('from') == 'Selector' and not allowed.get('selector'):
        errors.append('%s.allowed_routes.selector: empty with from Selector; accepted: namespace labels' % var)
    errors.extend(_labels_errors(var + '.allowed_routes.selector', allowed.get('selector')))
    return errors


def _gateway_errors(i, gateway, class_name):
    var = 'gateway_api_gateways[%d](%s/%s)' % (i, gateway.get('namespace'), gateway.get('name'))
    errors = []
    for key, subdomain in (('namespace', False), ('name', True)):
        error = _name_error('%s.%s' % (var, key), gateway.get(key), subdomain)
        if error:
            errors.append(error)
    if not gateway.get('gateway_class_name') and not class_name:
        errors.append('%s.gateway_class_name: empty and gateway_api_gateway_class has no name; accepted: a '
                      'GatewayClass name such as cilium' % var)
    listeners = gateway.get('listeners')
    if not isinstance(listeners, list) or not 1 <= len(listeners) <= MAX_LISTENERS:
        return errors + ['%s.listeners: %d given; accepted: 1 to %d listeners'
                         % (var, len(listeners) if isinstance(listeners, list) else 0, MAX_LISTENERS)]
    names = {}
    combos = {}
    for j, listener in enumerate(listeners):
        lvar = '%s.listeners[%d]' % (var, j)
        if not isinstance(listener, dict):
            errors.append('%s: %r is not a dict; accepted: {name, port, protocol, hostname, tls}' % (lvar, listener))
            continue
        errors.extend(_listener_errors(lvar, listener))
        if listener.get('name') in names:
            errors.append('%s.name: %r is already used by listener %d; accepted: unique listener names'
                          % (lvar, listener.get('name'), names[listener.get('name')]))
        names.setdefault(listener.get('name'), j)
        combo = (listener.get('port'), listener.get('protocol'), listener.get('hostname'))
        if combo in combos:
            errors.append('%s: port %s, protocol %s and hostname %s repeat listener %d; accepted: a unique '
                          'combination per listener' % (lvar, combo[0], combo[1], combo[2], combos[combo]))
        combos.setdefault(combo, j)
    return errors


def _match_errors(var, match):
    errors = []
    path = match.get('path')
    if path is not None:
        if not isinstance(path, dict):
            return ['%s.path: %r is not a dict; accepted: {type: PathPrefix|Exact, value: /...}' % (var, path)]
        if path.get('type', 'PathPrefix') not in PATH_TYPES:
            errors.append('%s.path.type: %r is not accepted; accepted: %s' % (var, path.get('type'),
                                                                              ', '.join(PATH_TYPES)))
        error = _path_error(var + '.path.value', path.get('value'))
        if error:
            errors.append(error)
    headers = match.get('headers') or []
    if len(headers) > MAX_HEADER_MATCHES:
        errors.append('%s.headers: %d given; accepted: at most %d' % (var, len(headers), MAX_HEADER_MATCHES))
    seen = set()
    for k, header in enumerate(headers):
        hvar = '%s.headers[%d]' % (var, k)
        if not isinstance(header, dict):
            errors.append('%s: %r is not a dict; accepted: {name, value, type}' % (hvar, header))
            continue
        error = _header_name_error(hvar + '.name', header.get('name'))
        if error:
            errors.append(error)
        elif header['name'].lower() in seen:
            errors.append('%s.name: %r is matched twice; accepted: each header name once per match'
                          % (hvar, header['name']))
        else:
            seen.add(header['name'].lower())
        if header.get('type', 'Exact') not in HEADER_MATCH_TYPES:
            errors.append('%s.type: %r is not accepted; accepted: %s' % (hvar, header.get('type'),
                                                                         ', '.join(HEADER_MATCH_TYPES)))
        if not isinstance(header.get('value'), str) or not 1 <= len(header['value']) <= 4096:
            errors.append('%s.value: %r is not accepted; accepted: a string of 1 to 4096 characters'
                          % (hvar, header.get('value')))
    if match.get('method') is not None and match['method'] not in METHODS:
        errors.append('%s.method: %r is not accepted; accepted: %s' % (var, match['method'], ', '.join(METHODS)))
    return errors


def _header_modifier_errors(var, modifier):
    if not isinstance(modifier, dict):
        return ['%s: %r is not a dict; accepted: {set, add, remove}' % (var, modifier)]
    errors = []
    for action in ('set', 'add'):
        entries = modifier.get(action) or []
        if len(entries) > MAX_HEADER_MODIFICATIONS:
            errors.append('%s.%s: %d given; accepted: at most %d'
                          % (var, action, len(entries), MAX_HEADER_MODIFICATIONS))
        seen = set()
        for k, entry in enumerate(entries):
            evar = '%s.%s[%d]' % (var, action, k)
            if not isinstance(entry, dict):
                errors.append('%s: %r is not a dict; accepted: {name, value}' % (evar, entry))
                continue
            error = _header_name_error(evar + '.name', entry.get('name')) or \
                _header_value_error(evar + '.value', entry.get('value'))
            if error:
                errors.append(error)
            elif entry['name'].lower() in seen:
                errors.append('%s.name: %r appears twice; accepted: each header once' % (evar, entry['name']))
            else:
                seen.add(entry['name'].lower())
    removes = modifier.get('remove') or []
    if len(removes) > MAX_HEADER_MODIFICATIONS:
        errors.append('%s.remove: %d given; accepted: at most %d' % (var, len(removes), MAX_HEADER_MODIFICATIONS))
    for k, name in enumerate(removes):
        error = _header_name_error('%s.remove[%d]' % (var, k), name)
        if error:
            errors.append(error)
    return errors


def _backend_errors(var, backend):
    if not isinstance(backend, dict):
        return ['%s: %r is not a dict; accepted: {name, port, weight}' % (var, backend)]
    errors = []
    error = _name_error(var + '.name', backend.get('name'))
    if error:
        errors.append(error)
    if backend.get('namespace') is not None:
        error = _name_error(var + '.namespace', backend['namespace'])
        if error:
            errors.append(error)
    error = _port_error(var + '.port', backend.get('port'), named=False)
    if error:
        errors.append(error + ' (a Service backend needs its port)')
    weight = backend.get('weight', 1)
    if not _is_int(weight) or not 0 <= weight <= MAX_WEIGHT:
        errors.append('%s.weight: %r is out of range; accepted: an integer from 0 to %d (a share of the sum of '
                      'weights, 0 sends no traffic)' % (var, weight, MAX_WEIGHT))
    return errors


def _route_errors(i, route, listeners_by_gateway):
    var = 'gateway_api_routes[%d](%s/%s)' % (i, route.get('namespace'), route.get('name'))
    errors = []
    for key, subdomain in (('namespace', False), ('name', True)):
        error = _name_error('%s.%s' % (var, key), route.get(key), subdomain)
        if error:
            errors.append(error)
    parents = route.get('parent_refs')
    if not isinstance(parents, list) or not 1 <= len(parents) <= MAX_PARENT_REFS:
        errors.append('%s.parent_refs: %r; accepted: 1 to %d Gateways {name, namespace, section_name}'
                      % (var, parents, MAX_PARENT_REFS))
        parents = []
    for j, parent in enumerate(parents):
        pvar = '%s.parent_refs[%d]' % (var, j)
        if not isinstance(parent, dict):
            errors.append('%s: %r is not a dict; accepted: {name, namespace, section_name, port}' % (pvar, parent))
            continue
        error = _name_error(pvar + '.name', parent.get('name'), True)
        if error:
            errors.append(error)
        key = (parent.get('namespace') or route.get('namespace'), parent.get('name'))
        section = parent.get('section_name')
        if section is not None and key in listeners_by_gateway and section not in listeners_by_gateway[key]:
            errors.append('%s.section_name: %r is not a listener of Gateway %s/%s; accepted: %s'
                          % (pvar, section, key[0], key[1], ', '.join(sorted(listeners_by_gateway[key]))))
        if parent.get('port') is not None:
            error = _port_error(pvar + '.port', parent['port'], named=False)
            if error:
                errors.append(error)
    same_parent = [((p.get('namespace') or route.get('namespace')), p.get('name')) for p in parents
                   if isinstance(p, dict)]
    for key in sorted(set(k for k in same_parent if same_parent.count(k) > 1), key=str):
        sections = [p.get('section_name') for p in parents if isinstance(p, dict)
                    and ((p.get('namespace') or route.get('namespace')), p.get('name')) == key]
        if None in sections or len(set(sections)) != len(sections):
            errors.append('%s.parent_refs: Gateway %s/%s is referenced %d times; accepted: a unique section_name on '
                          'each reference to the same Gateway' % (var, key[0], key[1], len(sections)))
    hostnames = route.get('hostnames') or []
    if len(hostnames) > MAX_ROUTE_HOSTNAMES:
        errors.append('%s.hostnames: %d given; accepted: at most %d' % (var, len(hostnames), MAX_ROUTE_HOSTNAMES))
    for j, hostname in enumerate(hostnames):
        error = _hostname_error('%s.hostnames[%d]' % (var, j), hostname)
        if error:
            errors.append(error)
    rules = route.get('rules')
    if not isinstance(rules, list) or not 1 <= len(rules) <= MAX_RULES:
        return errors + ['%s.rules: %d given; accepted: 1 to %d rules'
                         % (var, len(rules) if isinstance(rules, list) else 0, MAX_RULES)]
    total_matches = 0
    for j, rule in enumerate(rules):
        rvar = '%s.rules[%d]' % (var, j)
        if not isinstance(rule, dict):
            errors.append('%s: %r is not a dict; accepted: {matches, request_header_modifier, backend_refs}'
                          % (rvar, rule))
            continue
        if rule.get('name') is not None:
            error = _name_error(rvar + '.name', rule['name'], True)
            if error:
                errors.append(error)
        matches = rule.get('matches') or []
        total_matches += len(matches)
        if len(matches) > MAX_MATCHES_PER_RULE:
            errors.append('%s.matches: %d given; accepted: at most %d per rule'
                          % (rvar, len(matches), MAX_MATCHES_PER_RULE))
        for k, match in enumerate(matches):
            if not isinstance(match, dict):
                errors.append('%s.matches[%d]: %r is not a dict; accepted: {path, headers, method}' % (rvar, k, match))
                continue
            errors.extend(_match_errors('%s.matches[%d]' % (rvar, k), match))
        if rule.get('request_header_modifier') is not None:
            errors.extend(_header_modifier_errors(rvar + '.request_header_modifier', rule['request_header_modifier']))
        backends = rule.get('backend_refs') or []
        if len(backends) > MAX_BACKEND_REFS:
            errors.append('%s.backend_refs: %d given; accepted: at most %d' % (rvar, len(backends), MAX_BACKEND_REFS))
        for k, backend in enumerate(backends):
            errors.extend(_backend_errors('%s.backend_refs[%d]' % (rvar, k), backend))
    if total_matches > MAX_MATCHES_PER_ROUTE:
        errors.append('%s.rules: %d matches in all; accepted: at most %d matches across all rules of a route'
                      % (var, total_matches, MAX_MATCHES_PER_ROUTE))
    return errors


def validate_gateway_api_input(gateway_class, gateways, routes, region_header=None):
    """All problems with the gateway_api role's object inputs, as messages; empty when the data is good."""
    errors = []
    class_name = (gateway_class or {}).get('name')
    if gateway_class:
        error = _name_error('gateway_api_gateway_class.name', class_name, True)
        if error:
            errors.append(error)
    if (gateway_class or {}).get('manage'):
        controller = gateway_class.get('controller_name')
        if not isinstance(controller, str) or '/' not in controller or not controller.split('/', 1)[1]:
            errors.append('gateway_api_gateway_class.controller_name: %r is not a controller name; accepted: '
                          'DOMAIN/PATH such as %s' % (controller, CILIUM_CONTROLLER))
    if region_header:
        error = _header_name_error('gateway_api_region_header.name', region_header.get('name')) or \
            _header_value_error('gateway_api_region_header.value', region_header.get('value'))
        if error:
            errors.append(error)

    listeners_by_gateway = {}
    seen = {}
    for i, gateway in enumerate(gateways or []):
        if not isinstance(gateway, dict):
            errors.append('gateway_api_gateways[%d]: %r is not a dict; accepted: {name, namespace, listeners}'
                          % (i, gateway))
            continue
        errors.extend(_gateway_errors(i, gateway, class_name))
        key = (gateway.get('namespace'), gateway.get('name'))
        if key in seen:
            errors.append('gateway_api_gateways[%d](%s/%s): already declared by gateway_api_gateways[%d]; accepted: '
                          'unique namespace/name pairs' % (i, key[0], key[1], seen[key]))
        seen.setdefault(key, i)
        listeners_by_gateway[key] = set(x.get('name') for x in gateway.get('listeners') or [] if isinstance(x, dict))

    seen = {}
    for i, route in enumerate(routes or []):
        if not isinstance(route, dict):
            errors.append('gateway_api_routes[%d]: %r is not a dict; accepted: {name, namespace, parent_refs, rules}'
                          % (i, route))
            continue
        errors.extend(_route_errors(i, route, listeners_by_gateway))
        key = (route.get('namespace'), route.get('name'))
        if key in seen:
            errors.append('gateway_api_routes[%d](%s/%s): duplicate route name, already declared by '
                          'gateway_api_routes[%d]; accepted: unique namespace/name pairs'
                          % (i, key[0], key[1], seen[key]))
        seen.setdefault(key, i)
    return errors


def build_gateway_class(gateway_class, labels=None):
    spec = {'controllerName': gateway_class['controller_name']}
    if gateway_class.get('description'):
        spec['description'] = gateway_class['description']
    meta = {'name': gateway_class['name']}
    if labels:
        meta['labels'] = dict(labels)
    return {'apiVersion': GATEWAY_API_VERSION, 'kind': 'GatewayClass', 'metadata': meta, 'spec': spec}


def _listener(listener):
    out = {'name': listener['name'], 'port': listener['port'], 'protocol': listener['protocol']}
    if listener.get('hostname'):
        out['hostname'] = listener['hostname']
    tls = listener.get('tls')
    if tls:
        out['tls'] = {'mode': tls.get('mode', 'Terminate')}
        refs = []
        for ref in tls.get('certificate_refs') or []:
            entry = {'kind': ref.get('kind', 'Secret'), 'name': ref['name']}
            if ref.get('namespace'):
                entry['namespace'] = ref['namespace']
            refs.append(entry)
        if refs:
            out['tls']['certificateRefs'] = refs
    allowed = listener.get('allowed_routes')
    if allowed:
        namespaces = {'from': allowed.get('from', 'Same')}
        if allowed.get('selector'):
            namespaces['selector'] = {'matchLabels': dict(allowed['selector'])}
        out['allowedRoutes'] = {'namespaces': namespaces}
    return out


def build_gateway(gateway, class_name, labels=None):
    return {
        'apiVersion': GATEWAY_API_VERSION,
        'kind': 'Gateway',
        'metadata': _meta(gateway['name'], gateway['namespace'], labels),
        'spec': {
            'gatewayClassName': gateway.get('gateway_class_name') or class_name,
            'listeners': [_listener(x) for x in gateway['listeners']],
        },
    }


def _parent_ref(parent):
    out = {'group': GATEWAY_GROUP, 'kind': 'Gateway', 'name': parent['name']}
    if parent.get('namespace'):
        out['namespace'] = parent['namespace']
    if parent.get('section_name'):
        out['sectionName'] = parent['section_name']
    if parent.get('port'):
        out['port'] = parent['port']
    return out


def _match(match):
    out = {}
    if match.get('path'):
        out['path'] = {'type': match['path'].get('type', 'PathPrefix'), 'value': match['path']['value']}
    if match.get('headers'):
        out['headers'] = [{'type': h.get('type', 'Exact'), 'name': h['name'], 'value': h['value']}
                          for h in match['headers']]
    if match.get('method'):
        out['method'] = match['method']
    return out


def _header_modifier(modifier, region_header):
    """The rule's RequestHeaderModifier with the region header set unless the rule handles that header itself."""
    modifier = modifier or {}
    set_ = [{'name': e['name'], 'value': e['value']} for e in modifier.get('set') or []]
    add = [{'name': e['name'], 'value': e['value']} for e in modifier.get('add') or []]
    remove = list(modifier.get('remove') or [])
    if region_header:
        own = set(e['name'].lower() for e in set_ + add) | set(n.lower() for n in remove)
        if region_header['name'].lower() not in own:
            set_.append({'name': region_header['name'], 'value': region_header['value']})
    out = {}
    if set_:
        out['set'] = set_
    if add:
        out['add'] = add
    if remove:
        out['remove'] = remove
    return out


def _backend_ref(backend):
    out = {'group': '', 'kind': 'Service', 'name': backend['name'], 'port': backend['port'],
           'weight': backend.get('weight', 1)}
    if backend.get('namespace'):
        out['namespace'] = backend['namespace']
    return out


def build_http_route(route, region_header=None, labels=None):
    """An HTTPRoute with every defaulted field spelled out, so a re-apply reads back exactly what was sent."""
    rules = []
    for rule in route['rules']:
        out = {}
        if rule.get('name'):
            out['name'] = rule['name']
        out['matches'] = [_match(m) for m in rule.get('matches') or []] or \
            [{'path': {'type': 'PathPrefix', 'value': '/'}}]
        modifier = _header_modifier(rule.get('request_header_modifier'),
                                    region_header if rule.get('region_header', True) else None)
        if modifier:
            out['filters'] = [{'type': 'RequestHeaderModifier', 'requestHeaderModifier': modifier}]
        if rule.get('backend_refs'):
            out['backendRefs'] = [_backend_ref(b) for b in rule['backend_refs']]
        rules.append(out)
    spec = {'parentRefs': [_parent_ref(p) for p in route['parent_refs']], 'rules': rules}
    if route.get('hostnames'):
        spec['hostnames'] = list(route['hostnames'])
    return {
        'apiVersion': GATEWAY_API_VERSION,
        'kind': 'HTTPRoute',
        'metadata': _meta(route['name'], route['namespace'], labels),
        'spec': spec,
    }


def build_gateway_api_objects(gateway_class, gateways, routes, region_header=None, labels=None):
    """GatewayClass (when managed here), Gateways, then HTTPRoutes: parents exist before the routes naming them."""
    objects = []
    class_name = (gateway_class or {}).get('name')
    if (gateway_class or {}).get('manage'):
        objects.append(build_gateway_class(gateway_class, labels))
    objects.extend(build_gateway(g, class_name, labels) for g in gateways or [])
    objects.extend(build_http_route(r, region_header, labels) for r in routes or [])
    return objects


def _condition_problems(ref, conditions, wanted, generation):
    problems = []
    by_type = dict((c.get('type'), c) for c in conditions or [])
    for kind in wanted:
        cond = by_type.get(kind)
        if cond is None:
            problems.append('%s: no %s condition yet' % (ref, kind))
        elif cond.get('status') != 'True':
            problems.append('%s: %s is %s (%s: %s)'
                            % (ref, kind, cond.get('status'), cond.get('reason'), cond.get('message')))
        elif generation is not None and cond.get('observedGeneration') not in (None, generation):
            problems.append('%s: %s is for generation %s, the object is at %s (status is stale)'
                            % (ref, kind, cond.get('observedGeneration'), generation))
    return problems


def _key(obj):
    meta = obj.get('metadata') or {}
    return (obj.get('kind'), meta.get('namespace'), meta.get('name'))


def gateway_api_status_problems(resources, wanted=None, controller_name=CILIUM_CONTROLLER):
    """What is not yet Accepted/Programmed/ResolvedRefs in live Gateway API objects read back from the server.

    With ``wanted`` (the objects the role applied) only those are judged, and one that was not read back is a problem.
    """
    problems = []
    if wanted is not None:
        keys = set(_key(o) for o in wanted)
        found = set(_key(o) for o in resources or [])
        for kind, namespace, name in sorted(keys - found, key=str):
            problems.append('%s %s: not found on the server' % (kind, '%s/%s' % (namespace, name) if namespace else name))
        resources = [o for o in resources or [] if _key(o) in keys]
    for obj in resources or []:
        meta = obj.get('metadata') or {}
        generation = meta.get('generation')
        status = obj.get('status') or {}
        kind = obj.get('kind')
        if kind == 'GatewayClass':
            problems.extend(_condition_problems('GatewayClass %s' % meta.get('name'), status.get('conditions'),
                                                ('Accepted',), generation))
        elif kind == 'Gateway':
            problems.extend(_condition_problems(_object_ref(obj), status.get('conditions'),
                                                ('Accepted', 'Programmed'), generation))
        elif kind == 'HTTPRoute':
            parents = [p for p in status.get('parents') or [] if p.get('controllerName') == controller_name]
            if not parents:
                problems.append('%s: no status from %s yet' % (_object_ref(obj), controller_name))
            for parent in parents:
                ref = '%s parent %s' % (_object_ref(obj), (parent.get('parentRef') or {}).get('name'))
                problems.extend(_condition_problems(ref, parent.get('conditions'), ('Accepted', 'ResolvedRefs'),
                                                    generation))
    return problems
