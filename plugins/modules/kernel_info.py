#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, packetjungle.datapath contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: kernel_info
short_description: Report what the running kernel offers to the datapath roles
version_added: 1.0.0
author: packetjungle.datapath contributors (@packetjungle)
description:
  - Read-only probe in one call; always returns C(changed=false).
  - Reports virtualisation, usable CPUs, kernel release, loadable-module support, selected kernel CONFIG symbols,
    TCP congestion control, the default qdisc and whether C(fq)/C(fq_codel) exist, active swap, whether
    C(/proc/sys) is writable, and the current value of selected sysctls.
options:
  sysctl_keys:
    description: Sysctls to read; a key this kernel lacks is returned as C(null).
    type: list
    elements: str
    default:
      - net.core.rmem_max
      - net.core.wmem_max
      - net.core.somaxconn
      - net.core.netdev_max_backlog
      - net.ipv4.tcp_rmem
      - net.ipv4.tcp_wmem
      - net.ipv4.tcp_notsent_lowat
      - net.ipv4.ip_forward
      - net.bridge.bridge-nf-call-iptables
      - net.netfilter.nf_conntrack_max
  config_symbols:
    description: CONFIG symbols to report (with or without the C(CONFIG_) prefix).
    type: list
    elements: str
    default: [MODULES, OVERLAY_FS, BRIDGE_NETFILTER, NF_CONNTRACK, NET_SCH_FQ, NET_SCH_FQ_CODEL, NET_SCH_NETEM,
              TCP_CONG_BBR, NET_RX_BUSY_POLL, RPS, XPS, NET_FLOW_LIMIT, HALTPOLL_CPUIDLE, INOTIFY_USER, VXLAN, GENEVE,
              FIB_RULES, NETFILTER_XT_MATCH_COMMENT, IP_VS, BPF_JIT, CGROUP_BPF, NET_CLS_BPF, NET_ACT_BPF, SWAP]
notes:
  - Without C(systemd-detect-virt) virtualisation comes from heuristics, C(/run/systemd/container),
    C(container=) in C(/proc/1/environ), C(/.dockerenv), C(/run/.containerenv) for containers, and DMI
    vendor strings or the C(hypervisor) CPU flag for virtual machines.
  - C(proc_sys_writable) is decided without writing anything, from the mount flags of C(/proc/sys) in
    C(/proc/self/mountinfo) and an C(access(W_OK)) check of C(net.core.somaxconn).
extends_documentation_fragment:
  - packetjungle.datapath.attributes
  - packetjungle.datapath.attributes.info
seealso:
  - module: packetjungle.datapath.sysctl_dropin
  - module: packetjungle.datapath.kernel_modules
'''

EXAMPLES = r'''
- name: Probe the kernel
  packetjungle.datapath.kernel_info:
    sysctl_keys: [net.core.somaxconn, net.core.busy_read]
  register: host_tuning_kernel

- name: Only ask for fq where the kernel has it
  ansible.builtin.set_fact:
    host_tuning__qdisc: "{{ 'fq' if host_tuning_kernel.qdisc_support.fq.supported else omit }}"
'''

RETURN = r'''
virtualization:
  description: Virtualisation type as systemd names it (C(docker), C(kvm), C(none), ...); a container wins over the VM it runs in.
  returned: always
  type: str
  sample: docker
virtualization_role:
  description: C(container), C(vm) or C(none).
  returned: always
  type: str
  sample: container
hypervisor:
  description: The hypervisor underneath, also inside a container (C(systemd-detect-virt --vm)), or C(none).
  returned: always
  type: str
  sample: kvm
virtualization_source:
  description: How virtualisation was decided.
  returned: always
  type: str
  sample: systemd-detect-virt
cpus:
  description: CPUs this process may run on (its affinity mask).
  returned: always
  type: int
  sample: 2
kernel_release:
  description: C(uname -r).
  returned: always
  type: str
  sample: 6.18.44-fc-v669
module_support:
  description: Whether the kernel can load modules (C(/proc/modules) exists).
  returned: always
  type: bool
  sample: false
kernel_config:
  description: Selected CONFIG symbols to C(y), C(m), a string value or C(null) (not set); C(null) when no config is readable.
  returned: always
  type: dict
  sample: {"CONFIG_NET_SCH_FQ": null, "CONFIG_TCP_CONG_BBR": "y"}
kernel_config_source:
  description: Where the config came from, or C(null).
  returned: always
  type: str
  sample: /proc/config.gz
congestion_control:
  description: Current and available TCP congestion control.
  returned: always
  type: dict
  sample: {"current": "bbr", "available": ["reno", "bbr", "cubic"]}
default_qdisc:
  description: C(net.core.default_qdisc), or C(null) where it is not visible (inside a network namespace).
  returned: always
  type: str
  sample: pfifo_fast
qdisc_support:
  description: For C(fq) and C(fq_codel), C(supported) true/false/null and the C(source) of that answer.
  returned: always
  type: dict
  sample: {"fq": {"supported": false, "source": "CONFIG_NET_SCH_FQ is not set in /proc/config.gz"}}
swap:
  description: Active swap areas from C(/proc/swaps).
  returned: always
  type: list
  elements: dict
  sample: []
proc_sys_writable:
  description: Whether sysctls can be written here.
  returned: always
  type: bool
  sample: true
proc_sys_writable_source:
  description: Why RV(proc_sys_writable) has its value.
  returned: always
  type: str
  sample: /proc/sys is on a rw proc mount and net.core.somaxconn passes access(W_OK)
sysctl:
  description: Current value of each of O(sysctl_keys) (whitespace collapsed), C(null) when absent or unreadable.
  returned: always
  type: dict
  sample: {"net.core.somaxconn": "4096", "net.core.busy_read": null}
'''

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.packetjungle.datapath.plugins.module_utils.kernel import (
    DEFAULT_CONFIG_SYMBOLS, KernelView, classify_virtualization, config_symbols, container_from_evidence,
    mount_for, parse_cpuinfo_flags, parse_environ, parse_mountinfo, qdisc_support, vm_from_evidence)
from ansible_collections.packetjungle.datapath.plugins.module_utils.sysctl import read_sysctl

# Tests point this at a fake tree.
KERNEL_ROOT = '/'
LANG_C = {'LANG': 'C', 'LC_ALL': 'C'}


def detect_virt(module, view):
    """(virtualization, hypervisor, source)."""
    tool = module.get_bin_path('systemd-detect-virt')
    if tool:
        answers = []
        for cmd in ([tool], [tool, '--vm']):
            # rc 1 with "none" is the normal "not virtualised" answer.
            rc, out, err = module.run_command(cmd, environ_update=LANG_C)
            if rc not in (0, 1):
                module.fail_json(msg='%s failed (rc=%d): %s' % (' '.join(cmd), rc, err.strip()),
                                 cmd=cmd, rc=rc, stdout=out, stderr=err)
            answers.append(out.strip() or 'none')
        return answers[0], answers[1], 'systemd-detect-virt'
    container = container_from_evidence(
        view.exists('.dockerenv'), view.exists('run/.containerenv'),
        parse_environ(view.read('proc/1/environ', binary=True) or b''), view.read('run/systemd/container'))
    vm = vm_from_evidence(view.read('sys/class/dmi/id/sys_vendor'), view.read('sys/class/dmi/id/product_name'),
                          parse_cpuinfo_flags(view.read('proc/cpuinfo') or ''),
                          view.read('sys/devices/system/clocksource/clocksource0/available_clocksource'))
    return container or vm or 'none', vm or 'none', 'heuristics (no systemd-detect-virt)'


def proc_sys_writable(view):
    mount = mount_for('/proc/sys', parse_mountinfo(view.read('proc/self/mountinfo') or ''))
    if mount is None:
        return False, '/proc/sys is not mounted (not in /proc/self/mountinfo)'
    if 'ro' in mount['mount_options'] or 'ro' in mount['super_options']:
        return False, '/proc/sys is on a read-only %s mount at %s' % (mount['fstype'], mount['mount_point'])
    if not os.access(view.path('proc/sys/net/core/somaxconn'), os.W_OK):
        return False, 'net.core.somaxconn fails access(W_OK) on a rw mount'
    return True, '/proc/sys is on a rw %s mount and net.core.somaxconn passes access(W_OK)' % mount['fstype']


def usable_cpus():
    if hasattr(os, 'sched_getaffinity'):
        return len(os.sched_getaffinity(0))
    return os.cpu_count()


def main():
    module = AnsibleModule(
        argument_spec=dict(
            # Names of sysctls, not secrets.
            sysctl_keys=dict(type='list', elements='str', no_log=False, default=[
                'net.core.rmem_max', 'net.core.wmem_max', 'net.core.somaxconn', 'net.core.netdev_max_backlog',
                'net.ipv4.tcp_rmem', 'net.ipv4.tcp_wmem', 'net.ipv4.tcp_notsent_lowat', 'net.ipv4.ip_forward',
                'net.bridge.bridge-nf-call-iptables', 'net.netfilter.nf_conntrack_max']),
            config_symbols=dict(type='list', elements='str', default=list(DEFAULT_CONFIG_SYMBOLS)),
        ),
        supports_check_mode=True,
    )
    view = KernelView(KERNEL_ROOT)
    proc_sys = view.path('proc/sys')

    def sysctl(name):
        value = read_sysctl(proc_sys, name)
        return value if isinstance(value, str) else None

    virtualization, hypervisor, virt_source = detect_virt(module, view)
    config, config_source = view.kernel_config()
    module_support = view.module_support()
    default_qdisc = sysctl('net.core.default_qdisc')
    writable, writable_source = proc_sys_writable(view)

    module.exit_json(
        changed=False,
        virtualization=virtualization,
        virtualization_role=classify_virtualization(virtualization),
        hypervisor=hypervisor,
        virtualization_source=virt_source,
        cpus=usable_cpus(),
        kernel_release=view.kernel_release(),
        module_support=module_support,
        kernel_config=config_symbols(config, module.params['config_symbols']),
        kernel_config_source=config_source,
        congestion_control=dict(current=sysctl('net.ipv4.tcp_congestion_control'), available=view.cc_available()),
        default_qdisc=default_qdisc,
        qdisc_support=dict((name, qdisc_support(name, default_qdisc, view.exists('sys/module/sch_' + name), config,
                                                config_source, module_support))
                           for name in ('fq', 'fq_codel')),
        swap=view.swaps(),
        proc_sys_writable=writable,
        proc_sys_writable_source=writable_source,
        sysctl=dict((name, sysctl(name)) for name in module.params['sysctl_keys']),
    )


if __name__ == '__main__':
    main()
