#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, packetjungle.datapath contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: sysctl_dropin
short_description: Apply a set of sysctls in one call and persist the ones the kernel took in one drop-in file
version_added: 1.0.0
author: packetjungle.datapath contributors (@packetjungle)
description:
  - Validates all names and values first and reports every problem at once.
  - Reads each key from C(/proc/sys) and writes only the keys whose value differs, without the C(sysctl) binary.
  - A key the host cannot take is skipped with a reason, never a failed run. Reasons cover a key missing from
    C(/proc/sys) (naming the kernel feature it needs), C(net.core.default_qdisc) asking for a qdisc the kernel lacks,
    C(net.ipv4.tcp_congestion_control) asking for an algorithm not in C(tcp_available_congestion_control),
    a read-only C(/proc/sys) and any other write error (with the errno).
  - Then writes one drop-in file with the keys that took effect, sorted, atomically and only when its content changed.
  - Values are compared after collapsing whitespace, and as integers when both sides are integers.
options:
  settings:
    description:
      - Sysctl name (dotted, for example C(net.core.somaxconn)) to value.
      - A value is an integer, a string (multi-value keys such as C("4096 131072 33554432") allowed)
        or a list of those. Booleans are refused because YAML turns C(yes) into C(true); write C(1).
    type: dict
    required: true
  raise_only:
    description:
      - Keys (from O(settings)) whose effective value is the element-wise maximum of the current kernel value and the
        requested one, so a newer kernel default (6.18 ships C(rmem_max) 4 MiB and a 32 MiB C(tcp_rmem) maximum) is
        never lowered. Their values must be integers or lists of integers with as many fields as the kernel value.
    type: list
    elements: str
    default: []
  path:
    description: The drop-in file to write.
    type: path
    default: /etc/sysctl.d/90-packetjungle-datapath.conf
  proc_sys:
    description:
      - Root of the sysctl tree. Only unit tests point this at a fake tree; leave the default on real hosts.
      - When it ends in C(proc/sys), C(proc/config.gz) and C(proc/modules) are read from the same tree.
    type: path
    default: /proc/sys
notes:
  - Check mode predicts by reading C(/proc/sys) and opening each key for writing without writing (which runs the
    kernel's permission checks). Errors the kernel only returns for the written value itself, for example
    C(EINVAL) for an out-of-range number or C(ENOENT) for a qdisc when there is no kernel config to consult,
    cannot be predicted, so check mode reports such keys as changing.
  - A write the kernel accepts but reads back differently (clamped) is reported in RV(skipped_keys) with both values.
  - Non-C(net.*) keys and C(net.core) globals such as C(netdev_max_backlog) are global to the machine even when run
    inside a container.
extends_documentation_fragment:
  - packetjungle.datapath.attributes
  - packetjungle.datapath.attributes.change
seealso:
  - module: packetjungle.datapath.kernel_modules
  - module: packetjungle.datapath.kernel_info
'''

EXAMPLES = r'''
- name: Tune the network stack in one call
  packetjungle.datapath.sysctl_dropin:
    settings:
      net.core.rmem_max: 67108864
      net.ipv4.tcp_rmem: "4096 131072 67108864"
      net.ipv4.tcp_notsent_lowat: 131072
      net.ipv4.tcp_slow_start_after_idle: 0
      net.ipv4.ip_forward: 1
      net.core.default_qdisc: fq
      net.ipv4.tcp_congestion_control: bbr
    raise_only:
      - net.core.rmem_max
      - net.ipv4.tcp_rmem
  register: host_tuning_sysctl

- name: Show what the host could not take
  ansible.builtin.debug:
    var: host_tuning_sysctl.skipped_keys
'''

RETURN = r'''
applied:
  description: Keys that took effect (or would, in check mode) with their effective value; these are the keys in the file.
  returned: always
  type: dict
  sample: {"net.core.rmem_max": "67108864", "net.ipv4.tcp_rmem": "4096 131072 67108864"}
changed_keys:
  description: Keys whose runtime value was (or would be) changed.
  returned: always
  type: list
  elements: str
  sample: ["net.core.rmem_max"]
skipped_keys:
  description:
    - Keys that were not applied, with the reason.
    - Not named C(skipped) because Ansible marks any result with a true C(skipped) as a skipped task.
  returned: always
  type: dict
  sample: {"net.core.default_qdisc": "qdisc fq not available (CONFIG_NET_SCH_FQ not set / sch_fq not loadable)"}
path:
  description: The drop-in file.
  returned: always
  type: str
  sample: /etc/sysctl.d/90-packetjungle-datapath.conf
file_changed:
  description: Whether the drop-in file was (or would be) rewritten.
  returned: always
  type: bool
  sample: true
'''

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.packetjungle.datapath.plugins.module_utils.files import read_text, write_atomic

from ansible_collections.packetjungle.datapath.plugins.module_utils.kernel import KernelView
from ansible_collections.packetjungle.datapath.plugins.module_utils.sysctl import (
    CC_AVAILABLE_KEY, CC_KEY, QDISC_KEY, normalise, plan_settings, probe_writable, qdisc_available,
    read_sysctl, render_dropin, render_runtime, validate_settings, values_equal, write_error_reason,
    write_sysctl)


def kernel_root(proc_sys):
    """The tree /proc/config.gz and /proc/modules are read from: the grandparent of a .../proc/sys path."""
    parent = os.path.dirname(os.path.normpath(proc_sys))
    if os.path.basename(os.path.normpath(proc_sys)) == 'sys' and os.path.basename(parent) == 'proc':
        return os.path.dirname(parent)
    return '/'


def snapshot(proc_sys, settings):
    current = dict((name, read_sysctl(proc_sys, name)) for name in settings)
    cc_available = None
    if CC_KEY in settings:
        text = read_sysctl(proc_sys, CC_AVAILABLE_KEY)
        cc_available = text.split() if isinstance(text, str) else None
    qdisc_support = {}
    if QDISC_KEY in settings:
        view = KernelView(kernel_root(proc_sys))
        config = view.kernel_config()[0]
        qdisc = settings[QDISC_KEY]
        qdisc_support[qdisc] = qdisc_available(qdisc, config, view.module_support())
    return current, cc_available, qdisc_support


def main():
    module = AnsibleModule(
        argument_spec=dict(
            settings=dict(type='dict', required=True),
            raise_only=dict(type='list', elements='str', default=[]),
            path=dict(type='path', default='/etc/sysctl.d/90-packetjungle-datapath.conf'),
            proc_sys=dict(type='path', default='/proc/sys'),
        ),
        supports_check_mode=True,
    )
    path, proc_sys = module.params['path'], module.params['proc_sys']
    raise_only = set(module.params['raise_only'])

    settings, errors = validate_settings(module.params['settings'], module.params['raise_only'])
    if errors:
        module.fail_json(msg='; '.join(errors), errors=errors)

    current, cc_available, qdisc_support = snapshot(proc_sys, settings)
    plan = plan_settings(settings, raise_only, current, cc_available, qdisc_support)

    applied, skipped, changed_keys = {}, {}, []
    runtime_before, runtime_after = {}, {}
    for name in sorted(plan):
        entry = plan[name]
        if entry['action'] == 'skip':
            skipped[name] = entry['reason']
            continue
        if entry['action'] == 'keep':
            applied[name] = entry['target']
            continue
        target = entry['target']
        if module.check_mode:
            err = probe_writable(proc_sys, name)
        else:
            err = write_sysctl(proc_sys, name, target)
        if err is not None:
            skipped[name] = write_error_reason(name, target, err)
            continue
        if not module.check_mode:
            readback = read_sysctl(proc_sys, name)
            if not isinstance(readback, str) or not values_equal(readback, target):
                shown = readback if isinstance(readback, str) else 'nothing'
                skipped[name] = ('the kernel accepted %s = %s but reads back %s (value clamped or ignored)'
                                 % (name, target, shown))
                if isinstance(readback, str) and not values_equal(readback, entry['current']):
                    changed_keys.append(name)
                    runtime_before[name], runtime_after[name] = entry['current'], normalise(readback)
                continue
        applied[name] = target
        changed_keys.append(name)
        runtime_before[name], runtime_after[name] = entry['current'], target

    before_file = read_text(path)
    after_file = render_dropin(applied)
    file_changed = before_file != after_file
    if file_changed and not module.check_mode:
        write_atomic(module, path, after_file)

    result = dict(changed=bool(changed_keys) or file_changed, applied=applied, changed_keys=changed_keys,
                  skipped_keys=skipped, path=path, file_changed=file_changed)
    if module._diff:
        result['diff'] = [
            dict(before_header=path, after_header=path, before=before_file or '', after=after_file),
            dict(before_header='%s (runtime)' % proc_sys, after_header='%s (runtime)' % proc_sys,
                 before=render_runtime(runtime_before), after=render_runtime(runtime_after)),
        ]
    module.exit_json(**result)


if __name__ == '__main__':
    main()
