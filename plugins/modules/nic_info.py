#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, packetjungle.datapath contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: nic_info
short_description: Report MTU, channels, rings, offloads and RPS masks of network interfaces
version_added: 1.0.0
author: packetjungle.datapath contributors (@packetjungle)
description:
  - Reads C(ip -j -d link show), C(ethtool -i), C(ethtool -l), C(ethtool -g), C(ethtool -k) and C(/sys/class/net)
    for each interface. Changes nothing.
  - Parses the text output of C(ethtool -l) and C(ethtool -g) because ethtool 6.1 (Debian 12) has no JSON for them.
  - When ethtool answers C(Operation not supported) for channels, rings or offloads (a veth has no rings, for
    example), the value is V(null) and a C(*_unsupported) reason says why.
options:
  interfaces:
    description:
      - Interfaces to report. Default is every interface except C(lo).
      - An interface that does not exist fails the task; the message lists the existing ones.
    type: list
    elements: str
  sys_class_net:
    description: Where the interfaces' sysfs directories are. Only unit tests point this at a fake tree.
    type: path
    default: /sys/class/net
requirements:
  - ethtool
  - iproute2 with JSON output (C(ip -j))
extends_documentation_fragment:
  - packetjungle.datapath.attributes
  - packetjungle.datapath.attributes.info
seealso:
  - module: packetjungle.datapath.nic_settings
'''

EXAMPLES = r'''
- name: Read the primary NIC
  packetjungle.datapath.nic_info:
    interfaces: [eth0]
  register: __nic

- name: Show whether the host offers more than one queue pair
  ansible.builtin.debug:
    msg: "{{ __nic.nics.eth0.channels.max.combined | default('n/a') }} combined channels for {{ __nic.cpus }} CPUs"
'''

RETURN = r'''
cpus:
  description: Number of CPUs this process may run on (C(len(os.sched_getaffinity(0)))).
  returned: always
  type: int
  sample: 2
nics:
  description: Interface name to its state.
  returned: always
  type: dict
  contains:
    mtu:
      description: Current MTU.
      type: int
      sample: 1400
    min_mtu:
      description: Smallest MTU the driver accepts (0 means no limit).
      type: int
      sample: 68
    max_mtu:
      description: Largest MTU the driver accepts (0 means no limit).
      type: int
      sample: 65535
    qdisc:
      description: Root qdisc.
      type: str
      sample: pfifo_fast
    operstate:
      description: Operational state.
      type: str
      sample: UP
    address:
      description: MAC address.
      type: str
      sample: "02:fc:00:00:00:01"
    num_rx_queues:
      description: Receive queues the device was created with.
      type: int
      sample: 1
    num_tx_queues:
      description: Transmit queues the device was created with.
      type: int
      sample: 1
    kind:
      description: Link kind for virtual devices (C(veth), C(bridge), ...), V(null) for hardware and virtio NICs.
      type: str
      sample: veth
    driver:
      description: Driver from C(ethtool -i), V(null) when the device has none (C(lo)).
      type: str
      sample: virtio_net
    speed:
      description: Link speed in Mb/s, V(null) when unknown (C(-1), virtio) or unreadable (link down).
      type: int
      sample: 10000
    channels:
      description: C(ethtool -l), V(null) when not supported. Fields are V(null) where ethtool prints C(n/a).
      type: dict
      sample: {"max": {"rx": null, "tx": null, "other": null, "combined": 1},
               "current": {"rx": null, "tx": null, "other": null, "combined": 1}}
    channels_unsupported:
      description: Why C(channels) is V(null); V(null) when supported.
      type: str
      sample: "bridge reports no channel parameters (Operation not supported)"
    rings:
      description: C(ethtool -g) sizes (C(rx), C(rx_mini), C(rx_jumbo), C(tx)) under C(max) and C(current).
      type: dict
      sample: {"max": {"rx": 256, "rx_mini": null, "rx_jumbo": null, "tx": 256},
               "current": {"rx": 256, "rx_mini": null, "rx_jumbo": null, "tx": 256}}
    rings_unsupported:
      description: Why C(rings) is V(null); V(null) when supported.
      type: str
      sample: "veth reports no ring parameters (Operation not supported)"
    offloads:
      description: C(ethtool -k) feature name (sub-features included) to its state.
      type: dict
      sample: {"generic-receive-offload": {"enabled": true, "fixed": false},
               "large-receive-offload": {"enabled": false, "fixed": true}}
    offloads_unsupported:
      description: Why C(offloads) is V(null); V(null) when supported.
      type: str
      sample: null
    rps_cpus:
      description: Receive queue to its C(rps_cpus) hex mask as sysfs shows it; empty without RPS support.
      type: dict
      sample: {"rx-0": "0"}
'''

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.packetjungle.datapath.plugins.module_utils.nic import (
    NicCommandError,
    NicParseError,
    read_links,
    read_nic,
)

ENV = {'LANG': 'C', 'LC_ALL': 'C'}


def main():
    module = AnsibleModule(
        argument_spec=dict(
            interfaces=dict(type='list', elements='str'),
            sys_class_net=dict(type='path', default='/sys/class/net'),
        ),
        supports_check_mode=True,
    )
    ip_bin = module.get_bin_path('ip', required=True)
    ethtool_bin = module.get_bin_path('ethtool', required=True)

    def run(argv):
        return module.run_command(argv, environ_update=ENV)

    try:
        links = read_links(run, ip_bin)
        names = module.params['interfaces']
        if names is None:
            names = sorted(n for n in links if n != 'lo')
        missing = [n for n in names if n not in links]
        if missing:
            module.fail_json(msg='interfaces: %s not found; existing interfaces: %s'
                             % (', '.join(missing), ', '.join(sorted(links))))
        nics = {}
        for name in names:
            nics[name] = read_nic(run, ethtool_bin, name, links[name], module.params['sys_class_net'])
    except NicCommandError as e:
        module.fail_json(msg='%s failed' % ' '.join(e.cmd), cmd=e.cmd, rc=e.rc, stdout=e.stdout, stderr=e.stderr)
    except NicParseError as e:
        module.fail_json(msg='could not parse command output: %s' % e)

    module.exit_json(changed=False, nics=nics, cpus=len(os.sched_getaffinity(0)))


if __name__ == '__main__':
    main()
