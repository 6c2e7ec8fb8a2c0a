#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, packetjungle.datapath contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: kernel_modules
short_description: Make kernel features available, loading modules only where the kernel can load them
version_added: 1.0.0
author: packetjungle.datapath contributors (@packetjungle)
description:
  - Handles a list of kernel modules in one call.
  - With loadable-module support (C(/proc/modules) exists), modules already in C(/proc/modules) or listed in
    C(/lib/modules/RELEASE/modules.builtin) are left alone, the others are loaded with C(modprobe NAME), and every
    available name is persisted in a C(modules-load.d) file.
  - Without loadable-module support (C(CONFIG_MODULES) not set; C(modprobe) fails with
    C(FileNotFoundError /proc/modules)) it decides from what the kernel shows whether each feature is built in,
    C(overlay) in C(/proc/filesystems), C(/proc/sys/net/bridge) for C(br_netfilter),
    C(/proc/sys/net/netfilter/nf_conntrack_max) for C(nf_conntrack), C(bbr) in C(tcp_available_congestion_control)
    for C(tcp_bbr), C(/sys/module/NAME), or the CONFIG symbol in C(/proc/config.gz) or C(/boot/config-RELEASE),
    and writes no C(modules-load.d) file.
  - A feature that is neither built in nor loadable is listed in RV(missing) with the reason; that fails the task
    only when O(required) names it.
options:
  names:
    description: Module names, for example C(overlay), C(br_netfilter), C(tcp_bbr).
    type: list
    elements: str
    required: true
  required:
    description: Names from O(names) whose absence fails the task instead of being reported in RV(missing).
    type: list
    elements: str
    default: []
  path:
    description: The C(modules-load.d) file listing the names to load at boot.
    type: path
    default: /etc/modules-load.d/packetjungle-datapath.conf
notes:
  - In check mode modules are not loaded; C(modprobe -n NAME) (a dry run) predicts whether loading would work.
  - Built-in modules are persisted in the file too, so the file stays right if a later kernel builds them as modules.
extends_documentation_fragment:
  - packetjungle.datapath.attributes
  - packetjungle.datapath.attributes.change
seealso:
  - module: community.general.modprobe
  - module: packetjungle.datapath.kernel_info
'''

EXAMPLES = r'''
- name: Features the container runtime and CNI need
  packetjungle.datapath.kernel_modules:
    names: [overlay, br_netfilter, tcp_bbr]
    required: [overlay]
  register: host_tuning_modules

- name: Report features this kernel lacks
  ansible.builtin.debug:
    var: host_tuning_modules.missing
'''

RETURN = r'''
module_support:
  description: Whether the kernel can load modules (C(/proc/modules) exists).
  returned: always
  type: bool
  sample: false
builtin:
  description: Names that are built into the kernel.
  returned: always
  type: list
  elements: str
  sample: [overlay, br_netfilter]
evidence:
  description: Per built-in name (kernel without module support), what showed it is built in.
  returned: always
  type: dict
  sample: {"overlay": ["overlay is in /proc/filesystems", "/sys/module/overlay exists", "CONFIG_OVERLAY_FS=y"]}
loaded:
  description: Names that were already loaded as modules.
  returned: always
  type: list
  elements: str
  sample: [br_netfilter]
newly_loaded:
  description: Names loaded by this run (in check mode, that would be loaded).
  returned: always
  type: list
  elements: str
  sample: [tcp_bbr]
missing:
  description: Names neither built in nor loadable, with the reason.
  returned: always
  type: dict
  sample: {"sch_fq": "kernel has no loadable-module support and sch_fq is not built in (CONFIG_NET_SCH_FQ is not set in /proc/config.gz)"}
skipped_steps:
  description:
    - Steps that were skipped, with the reason.
    - Not named C(skipped) because Ansible marks any result with a true C(skipped) as a skipped task.
  returned: always
  type: list
  elements: str
  sample: ["/etc/modules-load.d/packetjungle-datapath.conf not written: kernel has no loadable-module support: overlay is built in, nothing to load or persist"]
path:
  description: The C(modules-load.d) file.
  returned: always
  type: str
  sample: /etc/modules-load.d/packetjungle-datapath.conf
'''


from ansible.module_utils.basic import AnsibleModule
from ansible_collections.packetjungle.datapath.plugins.module_utils.files import read_text, write_atomic

from ansible_collections.packetjungle.datapath.plugins.module_utils.kernel import (
    FEATURE_PATHS, KernelView, builtin_evidence, missing_reason, module_key, parse_modules_builtin,
    parse_proc_modules, render_modules_load, valid_module_name)

# Tests point this at a fake tree.
KERNEL_ROOT = '/'
LANG_C = {'LANG': 'C', 'LC_ALL': 'C'}


def dedupe(names):
    seen, result = set(), []
    for name in names:
        if module_key(name) not in seen:
            seen.add(module_key(name))
            result.append(name)
    return result


def validate(names, required):
    errors = ['names[%s]: %r is not a module name (accepted: letters, digits, "_" and "-")' % (name, name)
              for name in names if not valid_module_name(name)]
    keys = set(module_key(name) for name in names)
    errors.extend('required[%s]: %r is not in names (accepted: names listed in names)' % (name, name)
                  for name in required if module_key(name) not in keys)
    return errors


def with_module_support(module, view, names, required, result):
    release = view.kernel_release()
    loaded = set(parse_proc_modules(view.read('proc/modules') or ''))
    builtin = parse_modules_builtin(view.read('lib/modules/%s/modules.builtin' % release) or '')
    modprobe = None
    for name in names:
        key = module_key(name)
        if key in loaded:
            result['loaded'].append(name)
            continue
        if key in builtin:
            result['builtin'].append(name)
            continue
        if modprobe is None:
            modprobe = module.get_bin_path('modprobe', required=True)
        cmd = [modprobe, '-n', name] if module.check_mode else [modprobe, name]
        rc, out, err = module.run_command(cmd, environ_update=LANG_C)
        if rc == 0:
            result['newly_loaded'].append(name)
            continue
        reason = 'modprobe %s failed (rc=%d): %s' % (name, rc, (err or out).strip() or 'no output')
        if module_key(name) in required:
            module.fail_json(msg='required[%s]: %s' % (name, reason), cmd=cmd, rc=rc, stdout=out, stderr=err,
                             **result)
        result['missing'][name] = reason

    persist = [name for name in names if name not in result['missing']]
    before, after = read_text(result['path']), render_modules_load(persist)
    file_changed = before != after
    if file_changed and not module.check_mode:
        write_atomic(module, result['path'], after)
    result['changed'] = bool(result['newly_loaded']) or file_changed
    return before or '', after


def without_module_support(module, view, names, required, result):
    config, source = view.kernel_config()
    filesystems, cc_available = view.filesystems(), view.cc_available()
    for name in names:
        key = module_key(name)
        candidates = ['sys/module/' + key] + ([FEATURE_PATHS[key]] if key in FEATURE_PATHS else [])
        existing = set(path for path in candidates if view.exists(path))
        evidence = builtin_evidence(name, filesystems, existing, config, cc_available)
        if evidence:
            result['builtin'].append(name)
            result['evidence'][name] = evidence
        else:
            result['missing'][name] = missing_reason(name, config, source)

    absent = [name for name in names if module_key(name) in required and name in result['missing']]
    if absent:
        module.fail_json(msg='; '.join('required[%s]: %s' % (name, result['missing'][name]) for name in absent),
                         **result)
    built = result['builtin']
    what = ('%s %s built in, ' % (', '.join(built), 'is' if len(built) == 1 else 'are')) if built else ''
    result['skipped_steps'].append(
        '%s not written: kernel has no loadable-module support: %snothing to load or persist' % (result['path'], what))
    current = read_text(result['path']) or ''
    return current, current


def main():
    module = AnsibleModule(
        argument_spec=dict(
            names=dict(type='list', elements='str', required=True),
            required=dict(type='list', elements='str', default=[]),
            path=dict(type='path', default='/etc/modules-load.d/packetjungle-datapath.conf'),
        ),
        supports_check_mode=True,
    )
    names = dedupe(module.params['names'])
    errors = validate(names, module.params['required'])
    if errors:
        module.fail_json(msg='; '.join(errors), errors=errors)
    required = set(module_key(name) for name in module.params['required'])

    view = KernelView(KERNEL_ROOT)
    result = dict(changed=False, module_support=view.module_support(), builtin=[], evidence={}, loaded=[],
                  newly_loaded=[], missing={}, skipped_steps=[], path=module.params['path'])
    if result['module_support']:
        before, after = with_module_support(module, view, names, required, result)
    else:
        before, after = without_module_support(module, view, names, required, result)

    if module._diff:
        result['diff'] = [
            dict(before_header=result['path'], after_header=result['path'], before=before, after=after),
            dict(before_header='loaded modules', after_header='loaded modules', before='',
                 after=''.join('%s\n' % name for name in result['newly_loaded'])),
        ]
    module.exit_json(**result)


if __name__ == '__main__':
    main()
