#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, packetjungle.datapath contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: swap_off
short_description: Turn swap off now and keep it off across reboots
version_added: 1.0.0
author: packetjungle.datapath contributors (@packetjungle)
description:
  - The kubelet refuses to start when it detects swap unless C(failSwapOn) is false, so Kubernetes nodes run without it.
  - Runs C(swapoff -a) when C(/proc/swaps) lists an active area.
  - Comments out swap lines in O(fstab) with the marker C(# disabled by packetjungle.datapath:) so they can be
    restored by hand; lines are never deleted.
  - With O(mask_units), masks systemd C(*.swap) units (for example C(dev-zram0.swap) from zram-generator) when
    C(systemctl) exists and systemd runs as PID 1.
  - Idempotent; when there is no swap anywhere it reports C(changed=false) with a note.
options:
  fstab:
    description: The fstab file to edit.
    type: path
    default: /etc/fstab
  mask_units:
    description: Mask systemd swap units so neither fstab generators nor zram-generator bring swap back.
    type: bool
    default: true
extends_documentation_fragment:
  - packetjungle.datapath.attributes
  - packetjungle.datapath.attributes.change
seealso:
  - module: ansible.posix.mount
'''

EXAMPLES = r'''
- name: No swap on Kubernetes nodes
  packetjungle.datapath.swap_off:

- name: Only the running system and fstab, leave systemd units alone
  packetjungle.datapath.swap_off:
    mask_units: false
'''

RETURN = r'''
active_before:
  description: Swap areas that were active (from C(/proc/swaps)).
  returned: always
  type: list
  elements: dict
  sample: [{"filename": "/swapfile", "type": "file", "size_kib": 1048572, "used_kib": 0, "priority": -2}]
swapoff:
  description: Whether C(swapoff -a) ran (in check mode, would run).
  returned: always
  type: bool
  sample: true
fstab_disabled:
  description: fstab lines that were (or would be) commented out.
  returned: always
  type: list
  elements: str
  sample: ["/swapfile none swap sw 0 0"]
masked_units:
  description: systemd swap units that were (or would be) masked.
  returned: always
  type: list
  elements: str
  sample: [dev-zram0.swap]
notes:
  description: What was not done, and why.
  returned: always
  type: list
  elements: str
  sample: ["systemd is not PID 1 (no /run/systemd/system): no swap units to mask"]
'''


from ansible.module_utils.basic import AnsibleModule
from ansible_collections.packetjungle.datapath.plugins.module_utils.files import write_atomic

from ansible_collections.packetjungle.datapath.plugins.module_utils.kernel import (
    KernelView, parse_systemctl_units, plan_fstab_swap_off)

# Tests point this at a fake tree.
KERNEL_ROOT = '/'
LANG_C = {'LANG': 'C', 'LC_ALL': 'C'}


def run_checked(module, cmd, result):
    rc, out, err = module.run_command(cmd, environ_update=LANG_C)
    if rc != 0:
        module.fail_json(msg='%s failed (rc=%d): %s' % (' '.join(cmd), rc, (err or out).strip()),
                         cmd=cmd, rc=rc, stdout=out, stderr=err, **result)
    return out


def format_swaps(entries):
    return ''.join('%s %s %d\n' % (e['filename'], e['type'], e['size_kib']) for e in entries)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            fstab=dict(type='path', default='/etc/fstab'),
            mask_units=dict(type='bool', default=True),
        ),
        supports_check_mode=True,
    )
    fstab = module.params['fstab']
    view = KernelView(KERNEL_ROOT)
    result = dict(changed=False, active_before=view.swaps(), swapoff=False, fstab_disabled=[], masked_units=[],
                  notes=[])
    diff = []

    if result['active_before']:
        result['swapoff'] = True
        if not module.check_mode:
            cmd = [module.get_bin_path('swapoff', required=True), '-a']
            run_checked(module, cmd, result)
            still = view.swaps()
            if still:
                module.fail_json(msg='swap still active after swapoff -a: %s'
                                 % ', '.join(e['filename'] for e in still), cmd=cmd, **result)
        diff.append(dict(before_header='/proc/swaps', after_header='/proc/swaps',
                         before=format_swaps(result['active_before']), after=''))

    try:
        with open(fstab, 'r') as handle:
            fstab_before = handle.read()
    except (IOError, OSError) as exc:
        fstab_before = None
        result['notes'].append('fstab %s not read: %s' % (fstab, exc.strerror))
    if fstab_before is not None:
        fstab_after, result['fstab_disabled'] = plan_fstab_swap_off(fstab_before)
        if result['fstab_disabled']:
            if not module.check_mode:
                write_atomic(module, fstab, fstab_after)
            diff.append(dict(before_header=fstab, after_header=fstab, before=fstab_before, after=fstab_after))

    systemctl = module.get_bin_path('systemctl') if module.params['mask_units'] else None
    if not module.params['mask_units']:
        result['notes'].append('mask_units is false: systemd swap units left alone')
    elif systemctl is None:
        result['notes'].append('systemctl not found: no systemd swap units to mask')
    elif not view.systemd_booted():
        result['notes'].append('systemd is not PID 1 (no /run/systemd/system): no swap units to mask')
    else:
        listing = run_checked(module, [systemctl, 'list-units', '--type', 'swap', '--all', '--plain',
                                       '--no-legend'], result)
        units = [u for u in parse_systemctl_units(listing) if u['unit'].endswith('.swap')]
        result['masked_units'] = [u['unit'] for u in units if u['load'] != 'masked']
        if result['masked_units']:
            if not module.check_mode:
                run_checked(module, [systemctl, 'mask'] + result['masked_units'], result)
            diff.append(dict(before_header='systemd swap units', after_header='systemd swap units',
                             before=''.join('%s %s\n' % (u['unit'], u['load']) for u in units),
                             after=''.join('%s masked\n' % u['unit'] for u in units)))

    result['changed'] = bool(result['swapoff'] or result['fstab_disabled'] or result['masked_units'])
    if not result['changed']:
        result['notes'].append('no swap to turn off: none active, no active swap line in %s, no unmasked swap unit'
                               % fstab)
    if module._diff:
        result['diff'] = diff
    module.exit_json(**result)


if __name__ == '__main__':
    main()
