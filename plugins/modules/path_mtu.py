#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, packetjungle.datapath contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: path_mtu
short_description: Discover the path MTU to peers and check it against the interface MTU and the overlay
version_added: 1.0.0
author: packetjungle.datapath contributors (@packetjungle)
description:
  - For each peer, finds the largest packet that crosses the path unfragmented by binary search with ICMP echo
    requests that carry the don't-fragment bit (payload = size - 28 bytes for IPv4). The kernel's cached path MTU
    is ignored while probing (C(IP_PMTUDISC_PROBE)), so an earlier result cannot hide a changed path.
  - Compares the path MTU with the MTU of the interface the route to the peer leaves by, and with what the overlay
    needs (O(encapsulation)), and reports the largest pod MTU the path carries.
  - An echo reply is as large as the request, so one probe checks both directions; a smaller MTU in the reply
    direction shows up as partly answered probes or as the smaller of the two values.
  - Changes nothing. Sends ICMP echo requests to the peers only.
  - Needs root (a raw socket) or a group allowed by C(net.ipv4.ping_group_range).
options:
  peers:
    description:
      - IPv4 addresses to probe. Hostnames are not resolved.
      - IPv6 is not supported yet (the ICMP probe is IPv4-only); an IPv6 address fails the task.
    type: list
    elements: str
    required: true
  interface:
    description:
      - Interface whose MTU is compared with the path MTU.
      - Default is the interface of the route to each peer (C(ip -j route get PEER)). When set and the route to a
        peer leaves by another interface, that is reported as a problem, because the probes measured the other path.
    type: str
  encapsulation:
    description:
      - What Cilium wraps pod traffic in between nodes; sets the overhead subtracted from the path MTU.
      - V(native) 0, V(vxlan) and V(geneve) 50 (IPv4 underlay), V(wireguard) 80, V(vxlan+wireguard) 130
        bytes, as Cilium computes them.
    type: str
    choices: [native, vxlan, geneve, wireguard, vxlan+wireguard]
    default: native
  geneve_option_bytes:
    description:
      - Bytes of Geneve options on top of the 50-byte Geneve overhead (a multiple of 4, at most 252).
        Only with O(encapsulation=geneve).
    type: int
    default: 0
  min_mtu:
    description:
      - Smallest size probed. A peer that does not answer at this size is reported unreachable.
      - The default 576 is the datagram size every IPv4 host must accept.
    type: int
    default: 576
  max_mtu:
    description:
      - Largest size probed. Default is the MTU of the interface (see O(interface)).
      - The kernel refuses to send more than the interface MTU, so a larger value finds at most the interface MTU.
      - At most 65535, the largest IPv4 packet (the default for C(lo), whose MTU is 65536).
    type: int
  expect_mtu:
    description: Report a problem when the path MTU to a peer is below this.
    type: int
  timeout:
    description: Seconds to wait for each echo reply.
    type: float
    default: 1.0
  count:
    description:
      - Echo requests per probed size; a size passes when at least one is answered.
      - A size that does not pass costs O(count) x O(timeout) seconds, and a search takes about ten sizes.
    type: int
    default: 3
  fail_on_problem:
    description: Fail the task when any peer has a problem. The report is returned either way.
    type: bool
    default: true
requirements:
  - iproute2 with JSON output (C(ip -j))
extends_documentation_fragment:
  - packetjungle.datapath.attributes
  - packetjungle.datapath.attributes.info
seealso:
  - module: packetjungle.datapath.datapath_info
  - module: packetjungle.datapath.nic_info
'''

EXAMPLES = r'''
- name: Check the path MTU between nodes for a VXLAN overlay
  packetjungle.datapath.path_mtu:
    peers: "{{ groups['k8s'] | map('extract', hostvars, 'node_ip') | reject('equalto', node_ip) | list }}"
    encapsulation: vxlan
    expect_mtu: 1500
  become: true
  register: __pmtu

- name: Report without failing, quickly (one request per size)
  packetjungle.datapath.path_mtu:
    peers: [10.0.0.12]
    count: 1
    timeout: 0.5
    fail_on_problem: false
  become: true
  register: __pmtu

- name: Show the largest pod MTU the path carries
  ansible.builtin.debug:
    msg: "{{ __pmtu.peers['10.0.0.12'].max_pod_mtu }}"
'''

RETURN = r'''
peers:
  description: Peer address to its report.
  returned: always
  type: dict
  contains:
    peer:
      description: The peer address.
      type: str
      sample: 10.0.0.12
    interface:
      description: Interface whose MTU was compared (the route's when O(interface) is not set).
      type: str
      sample: eth0
    route_interface:
      description: Interface the route to the peer leaves by; V(null) when there is no route.
      type: str
      sample: eth0
    gateway:
      description: Next hop of the route, V(null) when the peer is on-link.
      type: str
      sample: 10.0.0.1
    cached_mtu:
      description: Path MTU the kernel had learned for this peer (from ICMP fragmentation-needed), after probing.
      type: int
      sample: 1400
    interface_mtu:
      description: MTU of RV(peers.interface).
      type: int
      sample: 1500
    path_mtu:
      description: Largest size answered with don't-fragment set; V(null) when even O(min_mtu) got no answer.
      type: int
      sample: 1400
    path_mtu_at_least:
      description: O(max_mtu) is below the interface MTU and passed, so the path may carry more.
      type: bool
      sample: false
    consistent:
      description: The path MTU was answered again when probed a second time.
      type: bool
      sample: true
    encapsulation:
      description: O(encapsulation).
      type: str
      sample: vxlan
    overhead:
      description: Bytes the encapsulation adds.
      type: int
      sample: 50
    max_pod_mtu:
      description: RV(peers.path_mtu) minus RV(peers.overhead), the largest pod MTU that crosses this path.
      type: int
      sample: 1350
    probes:
      description: Sizes probed in order and how many of O(count) requests each got answered.
      type: list
      elements: dict
      sample: [{"size": 1500, "replies": 0}, {"size": 576, "replies": 3}, {"size": 1038, "replies": 3}]
    problems:
      description: This peer's problems.
      type: list
      elements: str
      sample: []
problems:
  description: All peers' problems as plain sentences, each starting with the peer address.
  returned: always
  type: list
  elements: str
  sample:
    - "10.0.0.12: interface eth0 MTU 1500 is above the path MTU 1400: packets of 1401-1500 bytes are fragmented,
      or black-holed when they carry DF (TCP with PMTU discovery, overlay traffic)"
'''

import ipaddress

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_text
from ansible_collections.packetjungle.datapath.plugins.module_utils.icmp import probe_df
from ansible_collections.packetjungle.datapath.plugins.module_utils.pmtu import (
    DEFAULT_MIN_MTU,
    IPV4_ICMP_HEADERS,
    IPV4_MAX_PACKET,
    OVERHEAD,
    RouteParseError,
    analyse,
    discover,
    overhead,
    parse_link_mtu,
    parse_route_get,
)

ENV = {'LANG': 'C', 'LC_ALL': 'C'}


def check_peers(module, peers):
    for index, peer in enumerate(peers):
        try:
            address = ipaddress.ip_address(to_text(peer))
        except ValueError:
            module.fail_json(msg='peers[%d]: %r is not an IP address (hostnames are not resolved)' % (index, peer))
        if address.version != 4:
            module.fail_json(msg='peers[%d]: %s is IPv6; only IPv4 peers are supported (the ICMP probe is IPv4-only)'
                             % (index, peer))


def unprobed(peer, params, overhead_bytes, message):
    """Report for a peer that could not be probed at all."""
    return {'peer': peer, 'interface': params['interface'], 'route_interface': None, 'gateway': None,
            'cached_mtu': None, 'interface_mtu': None, 'path_mtu': None, 'path_mtu_at_least': False,
            'consistent': True, 'encapsulation': params['encapsulation'], 'overhead': overhead_bytes,
            'max_pod_mtu': None, 'probes': [], 'problems': [message]}


def main():
    module = AnsibleModule(
        argument_spec=dict(
            peers=dict(type='list', elements='str', required=True),
            interface=dict(type='str'),
            encapsulation=dict(type='str', default='native', choices=sorted(OVERHEAD)),
            geneve_option_bytes=dict(type='int', default=0),
            min_mtu=dict(type='int', default=DEFAULT_MIN_MTU),
            max_mtu=dict(type='int'),
            expect_mtu=dict(type='int'),
            timeout=dict(type='float', default=1.0),
            count=dict(type='int', default=3),
            fail_on_problem=dict(type='bool', default=True),
        ),
        supports_check_mode=True,
    )
    p = module.params
    check_peers(module, p['peers'])
    try:
        overhead_bytes = overhead(p['encapsulation'], p['geneve_option_bytes'])
    except ValueError as e:
        module.fail_json(msg=to_text(e))
    if p['min_mtu'] < IPV4_ICMP_HEADERS + 1:
        module.fail_json(msg='min_mtu: %d is too small; an IPv4 echo request needs at least %d bytes'
                         % (p['min_mtu'], IPV4_ICMP_HEADERS + 1))
    if p['max_mtu'] is not None and p['max_mtu'] > IPV4_MAX_PACKET:
        module.fail_json(msg='max_mtu: %d is above %d, the largest IPv4 packet' % (p['max_mtu'], IPV4_MAX_PACKET))
    if p['count'] < 1:
        module.fail_json(msg='count: %d must be at least 1' % p['count'])
    if p['timeout'] <= 0:
        module.fail_json(msg='timeout: %s must be above 0 seconds' % p['timeout'])
    ip_bin = module.get_bin_path('ip', required=True)

    def run(argv):
        return module.run_command(argv, environ_update=ENV)

    def link_mtu(name, option):
        argv = [ip_bin, '-j', 'link', 'show', 'dev', name]
        rc, out, err = run(argv)
        if rc != 0:
            if option:
                module.fail_json(msg='interface: %s does not exist (%s)' % (name, err.strip()),
                                 cmd=argv, rc=rc, stdout=out, stderr=err)
            module.fail_json(msg='%s failed' % ' '.join(argv), cmd=argv, rc=rc, stdout=out, stderr=err)
        try:
            return parse_link_mtu(out, name)
        except RouteParseError as e:
            module.fail_json(msg=to_text(e), cmd=argv, rc=rc, stdout=out, stderr=err)

    def route_to(peer):
        argv = [ip_bin, '-j', 'route', 'get', peer]
        rc, out, err = run(argv)
        if rc != 0:
            return None, 'no route (%s)' % (err.strip() or 'ip route get rc %d' % rc)
        try:
            return parse_route_get(out), None
        except RouteParseError as e:
            module.fail_json(msg=to_text(e), cmd=argv, rc=rc, stdout=out, stderr=err)

    reports = {}
    problems = []
    for peer in p['peers']:
        route, route_error = route_to(peer)
        if route is None:
            message = '%s: %s' % (peer, route_error)
            reports[peer] = unprobed(peer, p, overhead_bytes, message)
            problems.append(message)
            continue
        interface = p['interface'] or route['dev']
        interface_mtu = link_mtu(interface, bool(p['interface']))
        high = p['max_mtu'] if p['max_mtu'] is not None else min(interface_mtu, IPV4_MAX_PACKET)
        if p['min_mtu'] > high:
            module.fail_json(msg='min_mtu: %d is above %s %d' % (
                p['min_mtu'], 'max_mtu' if p['max_mtu'] is not None else 'the MTU of %s,' % interface, high))

        def probe(size, peer=peer):
            return probe_df(peer, size - IPV4_ICMP_HEADERS, p['timeout'], p['count'])

        try:
            found = discover(probe, p['min_mtu'], high, p['count'])
        except (OSError, IOError) as e:
            module.fail_json(msg='cannot send ICMP echo to %s: %s; run as root (become: true) or allow ping '
                                 'sockets with net.ipv4.ping_group_range' % (peer, to_text(e)))
        report, peer_problems = analyse(peer, found, interface, interface_mtu, p['encapsulation'], overhead_bytes,
                                        p['count'], p['min_mtu'], p['expect_mtu'])
        if p['interface'] and route['dev'] != p['interface']:
            peer_problems.insert(0, '%s: the route to the peer leaves by %s, not interface %s: the probes measured '
                                    'the %s path' % (peer, route['dev'], p['interface'], route['dev']))
        # Read again after probing: routers on the way report their smaller MTU with fragmentation-needed.
        after, _error = route_to(peer)
        report.update(route_interface=route['dev'], gateway=route['gateway'],
                      cached_mtu=after['cached_mtu'] if after else None, problems=peer_problems)
        reports[peer] = report
        problems.extend(peer_problems)

    result = dict(changed=False, peers=reports, problems=problems)
    if problems and p['fail_on_problem']:
        module.fail_json(msg='path MTU problems: %s' % '; '.join(problems), **result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
