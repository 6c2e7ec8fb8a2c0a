#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, packetjungle.datapath contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: latency_probe
short_description: Measure round-trip latency, jitter and loss from a node and check them against budgets
version_added: 1.0.0
author: packetjungle.datapath contributors (@packetjungle)
description:
  - Read-only; always returns C(changed=false) and probes in check mode too (probing changes nothing).
  - Sends O(count) probes to every target, all targets at once from one event loop (epoll), at most
    O(concurrency) probes unanswered at any time, O(interval) seconds apart per target.
  - Per target it reports sent, received, loss, min, mean, p50, p90, p99, max, standard deviation and RFC 3550
    jitter, in milliseconds with microsecond precision, and compares them with the target's O(targets[].budget).
  - Percentiles are exact order statistics with linear interpolation between the two closest ranks
    (Hyndman-Fan type 7, as numpy's default); the standard deviation is the population one (as ping's mdev);
    jitter is RFC 3550 section 6.4.1, J += (|D| - J) / 16 with D the difference of two consecutive replies'
    round trips in order of arrival, starting from J = 0, so it needs a few dozen replies to settle. See C(docs/latency.md).
  - Every probe carries a token (run nonce, target, 32-bit sequence); a reply is credited only to its own
    probe, so a reply that arrives after its timeout is counted as late and never given to a later probe.
options:
  targets:
    description: What to probe.
    type: list
    elements: dict
    required: true
    suboptions:
      address:
        description: IPv4 or IPv6 address or host name (resolved once, first address used).
        type: str
        required: true
      name:
        description: Label in results and breach messages; unique per run. Defaults to O(targets[].address).
        type: str
      method:
        description:
          - C(icmp) echo, C(tcp) connect time, or C(udp) echo (needs an RFC 862 style echo responder).
          - Defaults to O(method).
        type: str
        choices: [icmp, tcp, udp]
      port:
        description: Destination port; required for C(tcp) and C(udp), ignored for C(icmp).
        type: int
      budget:
        description: Upper limits; a measured value above its limit is a breach. Omitted keys are not checked.
        type: dict
        suboptions:
          p50_ms:
            description: Median round trip, ms.
            type: float
          p99_ms:
            description: 99th percentile round trip, ms.
            type: float
          jitter_ms:
            description: RFC 3550 jitter, ms (needs O(count) of at least 2).
            type: float
          loss_pct:
            description: Probes without a reply within O(timeout), percent (0-100).
            type: float
  method:
    description:
      - Default method for targets that name none.
      - C(icmp) uses an unprivileged ping socket (C(SOCK_DGRAM)/C(IPPROTO_ICMP)) where
        C(net.ipv4.ping_group_range) includes the process group, otherwise a raw socket (root or CAP_NET_RAW).
      - C(tcp) times a non-blocking connect until the socket is writable; a refused connection (RST) counts as
        a reply, since it is a full round trip too. Connections are closed with RST (no TIME_WAIT left behind).
      - C(udp) sends a datagram and waits for the same bytes to come back from the target port.
    type: str
    choices: [icmp, tcp, udp]
    default: icmp
  count:
    description: Probes per target (at least 1).
    type: int
    default: 10
  interval:
    description: Seconds between two probes to one target; first probes of all targets are spread over one interval.
    type: float
    default: 0.2
  timeout:
    description: Seconds a probe waits for its reply before it counts as lost.
    type: float
    default: 1.0
  concurrency:
    description: Most probes unanswered at once, over all targets.
    type: int
    default: 256
  payload_size:
    description: ICMP/UDP payload bytes, 16 (the matching token) to 65507. Ignored for C(tcp).
    type: int
    default: 56
  fail_on_breach:
    description: Fail the host when any budget is breached; C(false) returns the breaches with a warning.
    type: bool
    default: true
  return_samples:
    description: Also return every round trip as RV(results[].rtts_ms).
    type: bool
    default: false
notes:
  - Round trips are timed with C(time.perf_counter_ns) (CLOCK_MONOTONIC). ICMP and UDP replies carry a kernel
    receive timestamp (C(SO_TIMESTAMPNS)); the time a reply waited in the socket queue is taken off, so a busy
    loop does not inflate the figures.
  - Standard library only on the node.
extends_documentation_fragment:
  - packetjungle.datapath.attributes
  - packetjungle.datapath.attributes.info
'''

EXAMPLES = r'''
- name: Latency from this node to its peers and the exchange, with budgets
  packetjungle.datapath.latency_probe:
    count: 50
    interval: 0.1
    targets:
      - address: 10.0.0.12
        name: node-b
        budget: {p50_ms: 0.5, p99_ms: 2.0, loss_pct: 0}
      - address: 185.1.0.1
        name: oslo-ix
        budget: {p99_ms: 5.0, jitter_ms: 1.0}
      - address: api.example.net
        method: tcp
        port: 443
        budget: {p50_ms: 30}

- name: Report only, never fail the host; UDP echo needs a responder on the far side
  packetjungle.datapath.latency_probe:
    method: udp
    targets:
      - {address: 10.0.0.12, port: 7, budget: {p99_ms: 1.0}}
      - {address: 10.0.0.13, port: 7, budget: {p99_ms: 1.0}}
    fail_on_breach: false
    return_samples: true
  register: validation_latency
'''

RETURN = r'''
results:
  description: One entry per target, in the order given. Latencies in ms, rounded to 1 us; C(null) without replies.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Target label.
      type: str
      sample: oslo-ix
      returned: always
    address:
      description: Address as given.
      type: str
      sample: 185.1.0.1
      returned: always
    ip:
      description: Address probed (after name resolution).
      type: str
      sample: 185.1.0.1
      returned: always
    method:
      description: C(icmp), C(tcp) or C(udp).
      type: str
      sample: icmp
      returned: always
    port:
      description: Destination port (C(null) for icmp).
      type: int
      sample: null
      returned: always
    sent:
      description: Probes sent.
      type: int
      sample: 10
      returned: always
    received:
      description: Probes answered within O(timeout).
      type: int
      sample: 10
      returned: always
    loss_pct:
      description: 100 * (sent - received) / sent.
      type: float
      sample: 0.0
      returned: always
    min_ms:
      description: Smallest round trip.
      type: float
      sample: 6.912
      returned: always
    mean_ms:
      description: Arithmetic mean.
      type: float
      sample: 7.104
      returned: always
    p50_ms:
      description: Median (type-7 interpolation).
      type: float
      sample: 7.05
      returned: always
    p90_ms:
      description: 90th percentile.
      type: float
      sample: 7.38
      returned: always
    p99_ms:
      description: 99th percentile.
      type: float
      sample: 7.9
      returned: always
    max_ms:
      description: Largest round trip.
      type: float
      sample: 7.95
      returned: always
    stddev_ms:
      description: Population standard deviation.
      type: float
      sample: 0.21
      returned: always
    jitter_ms:
      description: RFC 3550 interarrival jitter (C(null) below two replies).
      type: float
      sample: 0.12
      returned: always
    late:
      description: Replies that came after their probe timed out, or duplicates; not counted as received.
      type: int
      sample: 0
      returned: always
    refused:
      description: TCP probes answered by a RST (counted as received).
      type: int
      sample: 0
      returned: always
    errors:
      description: Distinct send or connect errors (each such probe counts as lost).
      type: list
      elements: str
      sample: []
      returned: always
    budget:
      description: The budget checked.
      type: dict
      sample: {"p99_ms": 5.0}
      returned: always
    breaches:
      description: This target's breaches.
      type: list
      elements: str
      sample: ["oslo-ix p99 7.9 ms > budget 5.0 ms"]
      returned: always
    rtts_ms:
      description: Every answered probe's round trip in send order; only with O(return_samples).
      type: list
      elements: float
      returned: when return_samples
breaches:
  description: Every budget breach, plainly; also on failure.
  returned: always
  type: list
  elements: str
  sample: ["oslo-ix p99 7.9 ms > budget 5.0 ms", "node-b loss 20.0 % > budget 0.0 %"]
icmp_socket:
  description: ICMP socket kind per address family used (C(ping) or C(raw)); empty without icmp targets.
  returned: always
  type: dict
  sample: {"ipv4": "ping"}
elapsed_ms:
  description: Wall time of the probing loop.
  returned: always
  type: float
  sample: 2013.4
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.packetjungle.datapath.plugins.module_utils.latency import breaches, summarize
from ansible_collections.packetjungle.datapath.plugins.module_utils.prober import (
    METHODS, ProbeSetupError, check_options, plan_targets, run_probes)

BUDGET_SPEC = dict(p50_ms=dict(type='float'), p99_ms=dict(type='float'), jitter_ms=dict(type='float'),
                   loss_pct=dict(type='float'))
TARGET_SPEC = dict(
    address=dict(type='str', required=True),
    name=dict(type='str'),
    method=dict(type='str', choices=list(METHODS)),
    port=dict(type='int'),
    budget=dict(type='dict', options=BUDGET_SPEC),
)


def report(outcome, return_samples):
    """Module results and the list of all breaches."""
    results = []
    found = []
    for raw in outcome['targets']:
        plan = raw['plan']
        stats = summarize(raw['sent'], raw['samples'])
        rtts = stats.pop('rtts_ms')
        entry = {'name': plan['name'], 'address': plan['address'], 'ip': plan['ip'], 'method': plan['method'],
                 'port': plan['port']}
        entry.update(stats)
        entry.update({'late': raw['late'], 'refused': raw['refused'], 'errors': raw['errors'],
                      'budget': plan['budget'], 'breaches': breaches(plan['name'], stats, plan['budget'])})
        if return_samples:
            entry['rtts_ms'] = rtts
        found.extend(entry['breaches'])
        results.append(entry)
    return results, found


def main():
    module = AnsibleModule(
        argument_spec=dict(
            targets=dict(type='list', elements='dict', required=True, options=TARGET_SPEC),
            method=dict(type='str', choices=list(METHODS), default='icmp'),
            count=dict(type='int', default=10),
            interval=dict(type='float', default=0.2),
            timeout=dict(type='float', default=1.0),
            concurrency=dict(type='int', default=256),
            payload_size=dict(type='int', default=56),
            fail_on_breach=dict(type='bool', default=True),
            return_samples=dict(type='bool', default=False),
        ),
        supports_check_mode=True,
    )
    p = module.params
    try:
        check_options(p['count'], p['interval'], p['timeout'], p['concurrency'], p['payload_size'])
        plans = plan_targets(p['targets'], p['method'])
    except ValueError as e:
        module.fail_json(msg=str(e))
    if p['count'] < 2:
        for plan in plans:
            if 'jitter_ms' in plan['budget']:
                module.fail_json(msg='targets[%s].budget.jitter_ms: jitter needs two replies, count is %d; '
                                     'accepted: count >= 2 or no jitter budget' % (plan['name'], p['count']))

    try:
        outcome = run_probes(plans, p['count'], p['interval'], p['timeout'], p['concurrency'], p['payload_size'])
    except ProbeSetupError as e:
        module.fail_json(msg=str(e))
    results, found = report(outcome, p['return_samples'])
    ret = dict(changed=False, results=results, breaches=found, icmp_socket=outcome['icmp_socket'],
               elapsed_ms=round(outcome['elapsed_ns'] / 1e6, 3))
    if found and p['fail_on_breach']:
        module.fail_json(msg='%d latency budget breach(es): %s' % (len(found), '; '.join(found)), **ret)
    for breach in found:
        module.warn('latency budget breach: %s' % breach)
    module.exit_json(**ret)


if __name__ == '__main__':
    main()
