# -*- coding: utf-8 -*-
# Copyright: (c) 2026, packetjungle.datapath contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Path MTU discovery by binary search over a probe, and what the result means for a Cilium overlay.

Everything here is pure: the probe is a callable ``probe(size) -> replies`` so the module hands in
icmp.probe_df and the tests a fake path.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json

from ansible_collections.packetjungle.datapath.plugins.module_utils.datapath import LinkParseError, parse_links

# IPv4 header 20 + ICMP echo header 8: a probe of MTU bytes carries MTU - 28 bytes of payload.
IPV4_ICMP_HEADERS = 28
# The IPv4 total-length field is 16 bits: loopback's 65536 MTU cannot be filled by one packet.
IPV4_MAX_PACKET = 65535
# RFC 791: every IPv4 host must accept 576-byte datagrams, so a path below it is broken, not small.
DEFAULT_MIN_MTU = 576

# Bytes the overlay puts around a pod packet on an IPv4 underlay, as Cilium subtracts them
# (pkg/mtu/mtu.go): tunnel = outer IPv4 20 + UDP 8 + VXLAN/Geneve 8 + inner Ethernet 14;
# WireGuard = Cilium's fixed WireguardOverhead, which already covers an IPv6 outer header.
OVERHEAD = {
    'native': 0,
    'vxlan': 50,
    'geneve': 50,
    'wireguard': 80,
    'vxlan+wireguard': 130,
}
# Geneve options come in 4-byte words and the 6-bit length field caps them at 63 words.
GENEVE_OPTIONS_MAX = 252


def overhead(encapsulation, geneve_option_bytes=0):
    """Bytes between the path MTU and the largest pod packet for this encapsulation."""
    if encapsulation not in OVERHEAD:
        raise ValueError('encapsulation: %r is not one of %s' % (encapsulation, ', '.join(sorted(OVERHEAD))))
    if geneve_option_bytes:
        if encapsulation != 'geneve':
            raise ValueError('geneve_option_bytes: %d needs encapsulation geneve, not %s'
                             % (geneve_option_bytes, encapsulation))
        if geneve_option_bytes < 0 or geneve_option_bytes > GENEVE_OPTIONS_MAX or geneve_option_bytes % 4:
            raise ValueError('geneve_option_bytes: %d is not a multiple of 4 between 0 and %d'
                             % (geneve_option_bytes, GENEVE_OPTIONS_MAX))
    return OVERHEAD[encapsulation] + geneve_option_bytes


def discover(probe, low, high, count):
    """Largest size in [low, high] that the peer answers, found by binary search.

    probe(size) returns how many of ``count`` DF echo requests of ``size`` bytes were answered;
    a size counts as passing when at least one was. The largest size is tried first (the usual,
    healthy case costs one probe), then the smallest, then the interval is halved. The result is
    probed once more: a size that passed and then fails means the answer cannot be trusted.

    Returns a dict: path_mtu (None when even ``low`` gets no answer), reached_max (``high`` passed),
    consistent, and probes, the list of {size, replies} in order.
    """
    if low > high:
        raise ValueError('low %d is above high %d' % (low, high))
    probes = []

    def passes(size):
        replies = probe(size)
        probes.append({'size': size, 'replies': replies})
        return replies > 0

    result = {'path_mtu': None, 'reached_max': False, 'consistent': True, 'probes': probes}
    if passes(high):
        result['path_mtu'] = high
        result['reached_max'] = True
    elif low == high or not passes(low):
        return result
    else:
        good, bad = low, high
        while bad - good > 1:
            middle = (good + bad) // 2
            if passes(middle):
                good = middle
            else:
                bad = middle
        result['path_mtu'] = good
    result['consistent'] = passes(result['path_mtu'])
    return result


def analyse(peer, found, interface, interface_mtu, encapsulation, overhead_bytes, count,
            min_mtu, expect_mtu=None):
    """Per-peer report and the list of problems (plain sentences, each naming the peer)."""
    path_mtu = found['path_mtu']
    # Nothing above the interface MTU leaves this node, so only a max_mtu below it leaves the answer open.
    at_least = found['reached_max'] and path_mtu < interface_mtu
    report = {
        'peer': peer,
        'interface': interface,
        'interface_mtu': interface_mtu,
        'path_mtu': path_mtu,
        'path_mtu_at_least': at_least,
        'consistent': found['consistent'],
        'encapsulation': encapsulation,
        'overhead': overhead_bytes,
        'max_pod_mtu': None if path_mtu is None else path_mtu - overhead_bytes,
        'probes': found['probes'],
    }
    problems = []
    if path_mtu is None:
        problems.append('%s: no answer to %d DF echo requests even at the minimum size %d (min_mtu): the peer is '
                        'down, ICMP echo is filtered, or the path MTU is below min_mtu; path MTU unknown'
                        % (peer, count, min_mtu))
        report['problems'] = problems
        return report, problems
    if not found['consistent']:
        problems.append('%s: size %d was answered, then not on a second try: the path loses packets or changed '
                        'during the probe; path MTU unknown' % (peer, path_mtu))
    partial = [p for p in found['probes'] if 0 < p['replies'] < count]
    if partial:
        problems.append('%s: only some echo requests answered (%s): a lossy path, or a smaller MTU in the reply '
                        'direction that the peer learned mid-probe (asymmetric path); path MTU uncertain'
                        % (peer, ', '.join('%d of %d at %d bytes' % (p['replies'], count, p['size'])
                                           for p in partial)))
    if not at_least and interface_mtu > path_mtu:
        text = ('%s: interface %s MTU %d is above the path MTU %d: packets of %d-%d bytes are fragmented, or '
                'black-holed when they carry DF (TCP with PMTU discovery, overlay traffic)'
                % (peer, interface, interface_mtu, path_mtu, path_mtu + 1, interface_mtu))
        if overhead_bytes:
            text += ('; Cilium derives the pod MTU from the interface MTU and would give pods %d, above the %d '
                     'this path carries with %s' % (interface_mtu - overhead_bytes, path_mtu - overhead_bytes,
                                                    encapsulation))
        problems.append(text)
    if expect_mtu is not None and path_mtu < expect_mtu:
        if at_least:
            problems.append('%s: only sizes up to max_mtu %d were probed, below expect_mtu %d: raise max_mtu to '
                            'check it' % (peer, path_mtu, expect_mtu))
        else:
            problems.append('%s: path MTU %d is below expect_mtu %d' % (peer, path_mtu, expect_mtu))
    report['problems'] = problems
    return report, problems


class RouteParseError(ValueError):
    pass


def parse_route_get(text):
    """Outgoing device, gateway, source and cached path MTU from ``ip -j route get ADDR``."""
    try:
        routes = json.loads(text)
    except ValueError as e:
        raise RouteParseError('ip -j route get printed no JSON (%s): %r' % (e, text[:200]))
    if not isinstance(routes, list) or not routes or not isinstance(routes[0], dict) or 'dev' not in routes[0]:
        raise RouteParseError('ip -j route get printed no route with a device: %r' % text[:200])
    route = routes[0]
    cached_mtu = None
    # A PMTU exception the kernel learned from ICMP "fragmentation needed" shows up as a route metric.
    for metric in route.get('metrics') or []:
        if isinstance(metric, dict) and isinstance(metric.get('mtu'), int):
            cached_mtu = metric['mtu']
    return {
        'dev': route['dev'],
        'type': route.get('type', 'unicast'),
        'gateway': route.get('gateway'),
        'prefsrc': route.get('prefsrc'),
        'cached_mtu': cached_mtu,
    }


def parse_link_mtu(text, name):
    """MTU of ``name`` from ``ip -j link show dev NAME``."""
    try:
        mtu = parse_links(text).get(name, {}).get('mtu')
    except LinkParseError as e:
        raise RouteParseError('%s: %r' % (e, text[:200]))
    if mtu is None:
        raise RouteParseError('ip -j link show dev %s printed no MTU for %s: %r' % (name, name, text[:200]))
    return mtu
