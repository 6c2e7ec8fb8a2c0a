#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, packetjungle.datapath contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: datapath_info
short_description: Check that a node runs the kube-proxy-free Cilium datapath it should
version_added: 1.0.0
author: packetjungle.datapath contributors (@packetjungle)
description:
  - Runs node-side checks and reports each as V(ok), V(problem), V(not_applicable) or V(cannot_check) with a
    C(detail) sentence. A check that could not look is V(cannot_check), never V(ok).
  - C(kube_proxy_process) - no process named C(kube-proxy) in C(/proc/*/comm).
  - C(kube_proxy_rules) - no C(KUBE-SERVICES) or C(KUBE-NODEPORTS) chain in the output of whichever of
    C(iptables-save), C(ip6tables-save), C(iptables-legacy-save), C(ip6tables-legacy-save) and C(nft list ruleset)
    exist, and no nftables table C(kube-proxy) (kube-proxy's nftables mode). The chains kubelet creates on its own
    (C(KUBE-FIREWALL), C(KUBE-KUBELET-CANARY), C(KUBE-IPTABLES-HINT)) are ignored.
  - C(bpffs) - a bpf filesystem mounted at C(/sys/fs/bpf).
  - C(cilium_interfaces) - C(cilium_host) and C(cilium_net) present with one MTU, and C(cilium_vxlan) or
    C(cilium_geneve) with that MTU too when O(tunnel) says so (C(ip -j -d link show)).
  - From the agent status (C(cilium-dbg status -o json) run on the node when the binary exists, or
    O(cilium_status_json)) -
    C(kube_proxy_replacement) mode C(True) (C(Strict) from agents before 1.14 is accepted and named);
    C(lb_mode) NodePort enabled with the mode O(expect_lb_mode), and the DSR dispatch O(expect_dsr_dispatch)
    when given;
    C(devices) the devices that serve NodePort;
    C(routing) native or tunnel as O(tunnel) says;
    C(masquerading) the masquerading mode, compared with O(expect_masquerade) when given;
    C(agent_health) cilium, kubernetes and kvstore states, and no stale probes;
    C(cluster_health) cilium-health;
    C(controllers) none with consecutive failures.
    Without a status each of these is V(cannot_check), for example C(no cilium agent on this node).
  - A failing C(iptables-save), C(nft) or C(ip) makes its check V(cannot_check) with the command's error
    rather than failing the task.
  - Changes nothing.
options:
  expect_lb_mode:
    description:
      - NodePort/LoadBalancer mode the agent should report (Helm C(loadBalancer.mode)).
      - V(dsr) and V(hybrid) cannot be combined with O(tunnel=vxlan); Cilium refuses that.
    type: str
    choices: [dsr, hybrid, snat]
    default: dsr
  tunnel:
    description:
      - Overlay between nodes. V(disabled) means native routing; the agent must then report C(Native) routing and
        no tunnel device is required.
    type: str
    choices: [disabled, vxlan, geneve]
    default: disabled
  expect_dsr_dispatch:
    description:
      - How DSR should carry the service address (Helm C(loadBalancer.dsrDispatch)), compared with the agent's
        C(kube-proxy-replacement.features.nodePort.dsrMode) - V(opt) is C(IP Option/Extension), V(geneve) is
        C(Geneve), V(ipip) is C(IPIP).
      - Checked only when O(expect_lb_mode) is V(dsr) or V(hybrid); with V(snat) there is no DSR and it is ignored.
        An older agent that does not report the dispatch passes on the mode alone, with that said in the detail.
      - With O(tunnel=geneve) and DSR only V(geneve) is accepted; Cilium refuses any other dispatch with tunnel
        routing.
      - Not given, the dispatch is reported but not compared.
    type: str
    choices: [geneve, ipip, opt]
  expect_masquerade:
    description:
      - How the agent should masquerade traffic leaving the cluster, compared with the agent's C(masquerading.mode) -
        V(bpf) is C(BPF) (Helm C(bpf.masquerade=true)), V(iptables) is C(iptables) (Helm C(bpf.masquerade=false)).
      - Masquerading turned off (C(masquerading.enabled) false or absent) is then a V(problem) too.
      - Not given, the mode is reported but not compared.
    type: str
    choices: [bpf, iptables]
  cilium_status_json:
    description:
      - Output of C(cilium-dbg status -o json) fetched elsewhere, for example from the agent pod with
        C(kubectl -n kube-system exec ds/cilium -c cilium-agent -- cilium-dbg status -o json).
      - When set, C(cilium-dbg) is not run on the node. Text that is not a JSON object makes the agent checks
        V(cannot_check) with the reason.
    type: str
  expect_cilium:
    description:
      - Whether Cilium should run on this node. V(false) (a cluster whose Cilium stage has not run yet) makes
        C(bpffs), C(cilium_interfaces) and every agent check V(not_applicable); the kube-proxy checks still run.
    type: bool
    default: true
  fail_on_problem:
    description: Fail the task when any check is V(problem). The checks are returned either way.
    type: bool
    default: true
  proc_path:
    description: Where procfs is mounted. Only unit tests point this at a fake tree.
    type: path
    default: /proc
requirements:
  - iproute2 with JSON output (C(ip -j))
extends_documentation_fragment:
  - packetjungle.datapath.attributes
  - packetjungle.datapath.attributes.info
seealso:
  - module: packetjungle.datapath.path_mtu
'''

EXAMPLES = r'''
- name: Fetch the agent status from the Cilium pod on this node
  ansible.builtin.command:
    argv: [kubectl, -n, kube-system, exec, "{{ __cilium_pod }}", -c, cilium-agent, --,
           cilium-dbg, status, -o, json]
  register: __cilium_status
  changed_when: false
  delegate_to: "{{ groups['control_plane'][0] }}"

- name: Check the datapath (native routing, DSR with IP option dispatch, BPF masquerading)
  packetjungle.datapath.datapath_info:
    cilium_status_json: "{{ __cilium_status.stdout }}"
    expect_lb_mode: dsr
    expect_dsr_dispatch: opt
    expect_masquerade: bpf
    tunnel: disabled
  become: true
  register: __datapath

- name: Report checks that could not run
  ansible.builtin.debug:
    msg: "{{ __datapath.checks | dict2items | selectattr('value.status', 'eq', 'cannot_check') | list }}"
'''

RETURN = r'''
checks:
  description: Check name to its verdict.
  returned: always
  type: dict
  contains:
    status:
      description: V(ok), V(problem), V(not_applicable) or V(cannot_check).
      type: str
      sample: problem
    detail:
      description: What was found, or why it could not be checked.
      type: str
      sample: "KUBE-SERVICES, KUBE-NODEPORTS in iptables-save table nat; remove them ..."
  sample:
    kube_proxy_process: {"status": "ok", "detail": "no kube-proxy process among 91 processes"}
    lb_mode: {"status": "ok", "detail": "mode DSR, DSR dispatch IP Option/Extension, backend selection Random"}
    masquerading: {"status": "problem", "detail": "mode iptables, IPv4 enabled, IPv6 disabled; expected BPF ..."}
    cluster_health: {"status": "cannot_check", "detail": "no cilium agent on this node: ..."}
problems:
  description: The checks with status V(problem), as C(name detail) sentences.
  returned: always
  type: list
  elements: str
  sample: ["bpffs: no bpf filesystem at /sys/fs/bpf: Cilium's pinned maps do not survive an agent restart"]
counts:
  description: Number of checks per status.
  returned: always
  type: dict
  sample: {"ok": 9, "problem": 1, "not_applicable": 0, "cannot_check": 2}
cilium_source:
  description: Where the agent status came from (V(cilium_status_json) or V(cilium-dbg)), V(null) when there was none.
  returned: always
  type: str
  sample: cilium_status_json
cilium:
  description:
    - Facts read from the agent status, each V(null) when absent; empty without a status.
    - C(masquerading) is the agent's C(masquerading.mode), V(null) when masquerading is off.
  returned: always
  type: dict
  sample:
    version: "1.18.2 (v1.18.2-5f6a3b2c)"
    cilium_state: Ok
    kube_proxy_replacement: "True"
    lb_mode: DSR
    dsr_dispatch: IP Option/Extension
    devices: [eth0]
    device_ips: {"eth0": ["10.0.0.5"]}
    direct_routing_device: eth0
    routing_mode: Native
    tunnel_protocol: vxlan
    host_routing: BPF
    masquerading: BPF
'''

import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_text
from ansible_collections.packetjungle.datapath.plugins.module_utils.cilium_status import (
    CiliumStatusError,
    DSR_DISPATCHES,
    LB_MODES,
    MASQUERADE_MODES,
    TUNNELS,
    cannot_check_all,
    evaluate,
    not_applicable_cilium,
    load_status,
)
from ansible_collections.packetjungle.datapath.plugins.module_utils.datapath import (
    CANNOT_CHECK,
    LinkParseError,
    check_bpffs,
    check_cilium_interfaces,
    check_kube_proxy_process,
    check_kube_proxy_rules,
    parse_iptables_save,
    parse_links,
    parse_mounts,
    parse_nft_ruleset,
    summarise,
    verdict,
)

ENV = {'LANG': 'C', 'LC_ALL': 'C'}
IPTABLES_SAVE = ('iptables-save', 'ip6tables-save', 'iptables-legacy-save', 'ip6tables-legacy-save')


def failure(argv, rc, err):
    return '%s rc %d: %s' % (' '.join(argv), rc, err.strip() or 'no error text')


def read_comms(proc_path):
    comms = {}
    try:
        entries = os.listdir(proc_path)
    except OSError:
        return comms
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(os.path.join(proc_path, entry, 'comm')) as f:
                comms[int(entry)] = f.read()
        except (IOError, OSError):
            # The process exited between listdir and open.
            continue
    return comms


def read_mounts(proc_path):
    try:
        with open(os.path.join(proc_path, 'mounts')) as f:
            return parse_mounts(f.read())
    except (IOError, OSError):
        return []


def rules_check(module, run):
    sources = {}
    failures = []
    commands = [[name] for name in IPTABLES_SAVE] + [['nft', 'list', 'ruleset']]
    for command in commands:
        path = module.get_bin_path(command[0])
        if not path:
            continue
        argv = [path] + command[1:]
        rc, out, err = run(argv)
        if rc != 0:
            failures.append(failure(argv, rc, err))
            continue
        parse = parse_nft_ruleset if command[0] == 'nft' else parse_iptables_save
        sources[' '.join(command)] = parse(out)
    return check_kube_proxy_rules(sources, failures)


def interfaces_check(module, run, tunnel):
    argv = [module.get_bin_path('ip', required=True), '-j', '-d', 'link', 'show']
    rc, out, err = run(argv)
    if rc != 0:
        return verdict(CANNOT_CHECK, failure(argv, rc, err))
    try:
        return check_cilium_interfaces(parse_links(out), tunnel)
    except LinkParseError as e:
        return verdict(CANNOT_CHECK, to_text(e))


def agent_status(module, run):
    """(status text, source) or (None, reason it is missing)."""
    if module.params['cilium_status_json'] is not None:
        return module.params['cilium_status_json'], 'cilium_status_json'
    path = module.get_bin_path('cilium-dbg')
    if not path:
        return None, 'no cilium agent on this node: no cilium-dbg binary and no cilium_status_json given'
    argv = [path, 'status', '-o', 'json']
    rc, out, err = run(argv)
    if rc != 0:
        return None, 'cilium agent not answering: %s' % failure(argv, rc, err)
    return out, 'cilium-dbg'


def main():
    module = AnsibleModule(
        argument_spec=dict(
            expect_lb_mode=dict(type='str', default='dsr', choices=sorted(LB_MODES)),
            tunnel=dict(type='str', default='disabled', choices=list(TUNNELS)),
            expect_dsr_dispatch=dict(type='str', choices=sorted(DSR_DISPATCHES)),
            expect_masquerade=dict(type='str', choices=sorted(MASQUERADE_MODES)),
            cilium_status_json=dict(type='str'),
            expect_cilium=dict(type='bool', default=True),
            fail_on_problem=dict(type='bool', default=True),
            proc_path=dict(type='path', default='/proc'),
        ),
        supports_check_mode=True,
    )
    p = module.params
    if p['tunnel'] == 'vxlan' and p['expect_lb_mode'] in ('dsr', 'hybrid'):
        module.fail_json(msg='expect_lb_mode: %s cannot be used with tunnel: vxlan; Cilium refuses DSR with VXLAN '
                             'tunneling (use tunnel: geneve with Geneve dispatch, or expect_lb_mode: snat)'
                             % p['expect_lb_mode'])
    dispatch = p['expect_dsr_dispatch']
    if p['tunnel'] == 'geneve' and p['expect_lb_mode'] in ('dsr', 'hybrid') and dispatch not in (None, 'geneve'):
        module.fail_json(msg='expect_dsr_dispatch: %s cannot be used with tunnel: geneve and expect_lb_mode: %s; '
                             'Cilium refuses it ("Tunnel routing with Node Port mode requires geneve dispatch"; use '
                             'expect_dsr_dispatch: geneve)' % (dispatch, p['expect_lb_mode']))

    def run(argv):
        return module.run_command(argv, environ_update=ENV)

    checks = {
        'kube_proxy_process': check_kube_proxy_process(read_comms(p['proc_path'])),
        'kube_proxy_rules': rules_check(module, run),
    }
    cilium, source = {}, None
    if not p['expect_cilium']:
        checks.update(not_applicable_cilium('Cilium is not expected on this node (expect_cilium: false)'))
        problems, counts = summarise(checks)
        module.exit_json(changed=False, checks=checks, problems=problems, counts=counts, cilium=cilium,
                         cilium_source=source)
    checks['bpffs'] = check_bpffs(read_mounts(p['proc_path']))
    checks['cilium_interfaces'] = interfaces_check(module, run, p['tunnel'])
    text, source = agent_status(module, run)
    if text is None:
        checks.update(cannot_check_all(source))
        source = None
    else:
        try:
            agent_checks, cilium = evaluate(load_status(text), p['expect_lb_mode'], p['tunnel'],
                                            p['expect_dsr_dispatch'], p['expect_masquerade'])
            checks.update(agent_checks)
        except CiliumStatusError as e:
            checks.update(cannot_check_all('%s from %s' % (to_text(e), source)))
    problems, counts = summarise(checks)
    result = dict(changed=False, checks=checks, problems=problems, counts=counts, cilium=cilium,
                  cilium_source=source)
    if problems and p['fail_on_problem']:
        module.fail_json(msg='datapath problems: %s' % '; '.join(problems), **result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
