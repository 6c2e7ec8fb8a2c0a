#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, packetjungle.datapath contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: nic_settings
short_description: Tune MTU, channels, rings, offloads and RPS of network interfaces and persist what took effect
version_added: 1.0.0
author: packetjungle.datapath contributors (@packetjungle)
description:
  - Reads the state of every interface concerned (as M(packetjungle.datapath.nic_info) does), validates all requested
    settings against it and reports every problem at once before changing anything.
  - Plans only real changes. V(auto) and V(max) that are already satisfied are not changes.
  - A setting the NIC cannot take is skipped with a reason, never a failed run. Reasons cover ethtool answering
    C(Operation not supported) (for example a veth has no rings), a NIC already at its maximum
    (a VirtIO NIC whose host offers one queue pair), an offload fixed by the driver, RPS not being needed and an
    MTU increase that cannot be verified.
  - Applies with C(ip link set dev IF mtu N), C(ethtool -L IF combined N), C(ethtool -G IF rx N tx N),
    one C(ethtool -K IF feature on|off ...) per interface and writes to C(queues/rx-*/rps_cpus).
  - An MTU change is verified with don't-fragment ICMP echoes (see O(mtu_peers)) and rolled back when a peer that
    answered at the old size does not answer at the new one.
  - With O(persist), writes one systemd C(.link) file per interface with the settings in effect and one udev rules
    file with the RPS masks, atomically and only when their content changes.
options:
  interfaces:
    description: Interfaces to tune, each with the settings wanted for it.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Interface name. It must exist; the error lists the existing ones.
        type: str
        required: true
      mtu:
        description:
          - MTU in bytes, 68 to 9216 and within the NIC's C(min_mtu)/C(max_mtu).
          - Verified against O(mtu_peers) and the SSH client, see there.
        type: int
      channels:
        description:
          - Combined channels (queue pairs). V(auto) is the smaller of the usable CPUs and the NIC maximum,
            V(max) the NIC maximum, or an integer up to the NIC maximum.
          - An integer on a NIC without combined channels (veth, bridge) is an error; V(auto) and V(max) skip such
            NICs with a reason.
        type: raw
      rings:
        description:
          - Ring sizes with keys C(rx) and C(tx), each V(max) or an integer up to the NIC maximum.
          - A NIC without ring parameters is skipped with a reason.
        type: dict
      offloads:
        description:
          - Offload feature to V(true) or V(false). Takes ethtool's short names (C(gro), C(gso), C(tso), C(lro),
            C(sg), C(rx), C(tx), C(rxvlan), C(txvlan), C(ntuple), C(rxhash), C(ufo)) and any feature name that
            C(ethtool -k) prints for the NIC (C(generic-receive-offload), C(tx-tcp6-segmentation), ...).
          - A feature the driver marks C([fixed]) is skipped with a reason.
          - Only C(rx-checksumming), C(tx-checksumming), C(tcp-segmentation-offload), C(tx-tcp-segmentation),
            C(tx-tcp6-segmentation), C(generic-segmentation-offload), C(generic-receive-offload) and
            C(large-receive-offload) have systemd C(.link) keys (systemd 252); others are applied at runtime only
            and reported as such.
        type: dict
      rps:
        description:
          - Receive packet steering mask for every rx queue.
          - V(auto) sets the mask of all usable CPUs when the NIC has fewer rx queues than usable CPUs and skips
            with a reason otherwise. V(off) is mask 0.
          - Otherwise a hex CPU mask as a quoted string such as C('3'); a YAML integer is refused because C(10)
            would silently mean CPU 4.
        type: raw
  driver_defaults:
    description:
      - Driver name (as C(ethtool -i) reports it, for example C(virtio_net)) to settings with the same keys as an
        O(interfaces) entry without C(name).
      - Applied to every interface whose driver matches and that is not listed in O(interfaces).
    type: dict
    default: {}
  mtu_peers:
    description:
      - IPv4 addresses used to verify an MTU change on the interface their route leaves through
        (C(ip route get)).
      - Before the change each peer gets DF echoes at the old MTU (payload MTU - 28); the ones that answer must also
        answer at the new MTU afterwards, otherwise the old MTU is restored and the task fails naming the peers.
      - When no peer answers at the old MTU, a decrease goes ahead with a warning and an increase is skipped.
    type: list
    elements: str
    default: []
  mtu_verify_ssh_client:
    description:
      - Add the SSH client address from C(SSH_CONNECTION) to O(mtu_peers), because that is the connection Ansible
        runs over. An IPv6 client is left out with a warning.
      - C(sudo) resets the environment under C(become); the variable is then read from the nearest parent process
        that has it (the shell C(sshd) started), through C(/proc).
    type: bool
    default: true
  mtu_probe_timeout:
    description: Seconds to wait for each echo reply.
    type: float
    default: 1.0
  mtu_probe_count:
    description: Echo requests per peer and size; one reply is enough.
    type: int
    default: 3
  persist:
    description:
      - Write C(LINK_DIR/10-packetjungle-IF.link) per interface and C(UDEV_DIR/90-packetjungle-rps.rules) so the
        settings come back when udev adds the device (boot, driver reload).
      - The files describe the settings given in this call for the interfaces concerned; settings left out are
        removed from them (the runtime state is left alone), and a file with nothing left is removed.
    type: bool
    default: true
  link_dir:
    description: Directory for the C(.link) files.
    type: path
    default: /etc/systemd/network
  udev_rules_dir:
    description: Directory for the udev rules file.
    type: path
    default: /etc/udev/rules.d
  sys_class_net:
    description: Where the interfaces' sysfs directories are. Only unit tests point this at a fake tree.
    type: path
    default: /sys/class/net
notes:
  - Check mode reads state and sends the ICMP echoes at the current MTU (which change nothing) so that it can
    predict an MTU increase that would be skipped; it runs no ethtool or ip command that changes anything.
  - A C(.link) file only takes effect when udev adds the device; this module applies the settings at runtime itself.
  - The C(.link) file matches the MAC address plus the driver and copies C(NamePolicy), C(AlternativeNamesPolicy) and
    C(MACAddressPolicy) from the stock C(99-default.link), since the first matching C(.link) file wins.
  - Drivers that reset the link on an MTU change may miss the echoes sent right after it; raise
    O(mtu_probe_count) for them.
requirements:
  - ethtool
  - iproute2 with JSON output (C(ip -j))
  - root, or an unprivileged ICMP socket allowed by C(net.ipv4.ping_group_range), for the MTU probe
extends_documentation_fragment:
  - packetjungle.datapath.attributes
  - packetjungle.datapath.attributes.change
seealso:
  - module: packetjungle.datapath.nic_info
'''

EXAMPLES = r'''
- name: Tune every VirtIO NIC the way the host_tuning role does
  packetjungle.datapath.nic_settings:
    driver_defaults:
      virtio_net:
        channels: auto
        rings: {rx: max, tx: max}
        offloads: {gro: true, gso: true, tso: true, lro: false}
        rps: auto

- name: Raise the MTU of the private network NIC, verified against two nodes
  packetjungle.datapath.nic_settings:
    interfaces:
      - name: eth1
        mtu: 9000
    mtu_peers: [10.0.0.11, 10.0.0.12]

- name: Spread receive processing of a single-queue NIC over CPUs 0-3, runtime only
  packetjungle.datapath.nic_settings:
    interfaces:
      - name: eth1
        rps: "f"
    persist: false
'''

RETURN = r'''
nics:
  description: Interface name to what was done for it.
  returned: always
  type: dict
  contains:
    changes:
      description: Settings changed (or that would change in check mode).
      type: list
      elements: str
      sample: ["mtu 1500 -> 9000", "offload generic-receive-offload off -> on", "rps rx-0 0 -> 3"]
    skipped:
      description: Setting to the reason it was not applied.
      type: dict
      sample: {"rings": "veth reports no ring parameters (Operation not supported)",
               "offload large-receive-offload": "fixed off by the driver"}
    link_file:
      description: The C(.link) file describing the interface after this run, V(null) when none.
      type: str
      sample: /etc/systemd/network/10-packetjungle-eth0.link
skipped_settings:
  description:
    - "Every skip as C(INTERFACE SETTING: REASON)."
    - Not called C(skipped), which Ansible reserves for a skipped task.
  returned: always
  type: list
  elements: str
  sample: ["eth0 channels: NIC maximum is 1 combined, already 1"]
rps_rules_file:
  description: The udev rules file with the RPS masks after this run, V(null) when there is none.
  returned: always
  type: str
  sample: /etc/udev/rules.d/90-packetjungle-rps.rules
'''

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.packetjungle.datapath.plugins.module_utils.files import read_text, write_atomic
from ansible_collections.packetjungle.datapath.plugins.module_utils.icmp import HEADERS, probe_df
from ansible_collections.packetjungle.datapath.plugins.module_utils.nic import (
    find_ssh_connection,
    UNREAD,
    UNSUPPORTED,
    NicCommandError,
    NicParseError,
    change_texts,
    ipv4_peers,
    is_unsupported,
    link_file_name,
    mtu_precheck,
    offload_link,
    parse_ethtool_features,
    parse_route_dev,
    plan_interface,
    read_driver,
    read_links,
    read_nic,
    render_link_file,
    render_rps_rules,
    validate_settings,
)

ENV = {'LANG': 'C', 'LC_ALL': 'C'}
RULES_FILE = '90-packetjungle-rps.rules'
FEATURES_REFUSED = 'Could not change any device features'


def _read_proc(name):
    """A reader of /proc/PID/<name> that answers None for a process it may not read."""
    def read(pid):
        try:
            with open('/proc/%d/%s' % (pid, name), 'rb') as f:
                return f.read().decode('utf-8', 'replace')
        except (IOError, OSError):
            return None
    return read


class Run(object):
    """State of one module run: commands, results, decisions."""

    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.ip = module.get_bin_path('ip', required=True)
        self.ethtool = module.get_bin_path('ethtool', required=True)
        self.sysfs = self.params['sys_class_net']
        self.cpus = sorted(os.sched_getaffinity(0))
        self.results = {}
        self.changed = False
        self.routes = {}
        self.order = []
        self.states = {}
        self.settings = {}
        self.plans = {}
        self.done = {}
        self.peers = []
        self.file_diffs = []
        self.rules_path = None

    def cmd(self, argv):
        return self.module.run_command(argv, environ_update=ENV)

    def fail_cmd(self, argv, rc, out, err, msg=None):
        self.module.fail_json(msg=msg or '%s failed' % ' '.join(argv), cmd=argv, rc=rc, stdout=out, stderr=err,
                              changed=self.changed, nics=self.results)

    def skip(self, name, setting, reason):
        self.results[name]['skipped'][setting] = reason

    # ------------------------------------------------------------ read and validate

    def collect(self):
        """Read state, build requests and validate them all; fail once listing every error."""
        links = read_links(self.cmd, self.ip)
        existing = ', '.join(sorted(links))
        errors = []
        requests = []
        listed = set()
        for entry in self.params['interfaces']:
            name = entry['name']
            path = 'interfaces[%s]' % name
            if name in listed:
                errors.append('%s: listed more than once' % path)
                continue
            listed.add(name)
            if name not in links:
                errors.append('%s: no such interface; existing interfaces: %s' % (path, existing))
                continue
            raw = dict((k, v) for k, v in entry.items() if k != 'name' and v is not None)
            requests.append((path, name, raw))

        defaults = self.params['driver_defaults']
        drivers = {}
        for driver in sorted(defaults):
            if not isinstance(defaults[driver], dict):
                errors.append('driver_defaults[%s]: %r is not a dict of settings' % (driver, defaults[driver]))
        if defaults:
            for name in sorted(links):
                if name in listed:
                    continue
                driver = read_driver(self.cmd, self.ethtool, name)
                drivers[name] = driver
                if driver in defaults and isinstance(defaults[driver], dict):
                    requests.append(('driver_defaults[%s] on %s' % (driver, name), name, defaults[driver]))

        for path, name, raw in requests:
            self.states[name] = read_nic(self.cmd, self.ethtool, name, links[name], self.sysfs,
                                         drivers.get(name, UNREAD))
            self.settings[name], errs = validate_settings(path, name, raw, self.states[name], self.cpus)
            errors += errs

        ssh = None
        if self.params['mtu_verify_ssh_client']:
            ssh = os.environ.get('SSH_CONNECTION') or find_ssh_connection(os.getppid(), _read_proc('environ'),
                                                                          _read_proc('stat'))
        self.peers, errs, warnings = ipv4_peers(self.params['mtu_peers'], ssh)
        errors += errs
        if self.params['mtu_probe_timeout'] <= 0:
            errors.append('mtu_probe_timeout: %r must be above 0 seconds' % self.params['mtu_probe_timeout'])
        if self.params['mtu_probe_count'] < 1:
            errors.append('mtu_probe_count: %r must be 1 or more' % self.params['mtu_probe_count'])
        if errors:
            self.module.fail_json(msg='%d invalid setting(s), nothing changed: %s' % (len(errors), '; '.join(errors)),
                                  errors=errors)
        for warning in warnings:
            self.module.warn(warning)
        self.order = [name for _path, name, _raw in requests]

    def plan(self):
        for name in self.order:
            plan = plan_interface(name, self.states[name], self.settings[name], self.cpus,
                                  self.ethtool, self.ip, self.params['persist'])
            self.plans[name] = plan
            self.results[name] = {'changes': [], 'skipped': dict(plan['skipped']), 'link_file': None}

    # ------------------------------------------------------------ MTU

    def route_dev(self, peer):
        if peer not in self.routes:
            rc, out, _err = self.cmd([self.ip, '-j', 'route', 'get', peer])
            self.routes[peer] = parse_route_dev(out) if rc == 0 else None
        return self.routes[peer]

    def probe(self, peers, mtu):
        """Peers that answer DF echoes of a full ``mtu``-sized packet."""
        return [peer for peer in peers
                if probe_df(peer, mtu - HEADERS, self.params['mtu_probe_timeout'], self.params['mtu_probe_count'])]

    def precheck_mtu(self, name, change):
        """Probe at the old size; returns False when the change is to be skipped."""
        peers = [peer for peer in self.peers if self.route_dev(peer) == name]
        change['verify'] = self.probe(peers, change['old'])
        action, message = mtu_precheck(change['old'], change['new'], change['verify'])
        if action == 'skip':
            self.skip(name, 'mtu', '%s (peers routed via %s: %s)' % (message, name, ', '.join(peers) or 'none'))
            return False
        if action == 'apply':
            self.module.warn('%s: %s' % (name, message))
        return True

    def apply_mtu(self, name, change):
        rc, out, err = self.cmd(change['argv'])
        if rc != 0:
            if is_unsupported(out, err):
                self.skip(name, 'mtu', 'setting mtu %d: %s' % (change['new'], UNSUPPORTED))
                return False
            self.fail_cmd(change['argv'], rc, out, err)
        changed_before = self.changed
        self.changed = True
        silent = [peer for peer in change['verify'] if peer not in self.probe([peer], change['new'])]
        if not silent:
            return True
        rc, out, err = self.cmd(change['rollback_argv'])
        if rc != 0:
            self.fail_cmd(change['rollback_argv'], rc, out, err,
                          msg='%s: MTU %d asked, but %s did not answer at that size, and restoring MTU %d failed'
                          % (name, change['new'], ', '.join(silent), change['old']))
        self.module.fail_json(
            msg='%s: MTU %d asked, but %s did not answer DF echoes of that size (they did at %d); rolled back to MTU %d'
            % (name, change['new'], ', '.join(silent), change['old'], change['old']),
            changed=changed_before, nics=self.results)

    # ------------------------------------------------------------ other settings

    def apply_command(self, name, change):
        """ethtool -L/-G; False when the NIC refused with Operation not supported."""
        rc, out, err = self.cmd(change['argv'])
        if rc != 0:
            if is_unsupported(out, err):
                self.skip(name, change['setting'], 'ethtool %s: %s' % (change['argv'][1], UNSUPPORTED))
                return False
            self.fail_cmd(change['argv'], rc, out, err)
        self.changed = True
        return True

    def apply_offloads(self, name, change):
        """ethtool -K, then read the features back: the kernel may keep a feature off (dependencies)."""
        rc, out, err = self.cmd(change['argv'])
        if rc != 0 and FEATURES_REFUSED not in err and not is_unsupported(out, err):
            self.fail_cmd(change['argv'], rc, out, err)
        argv = [self.ethtool, '-k', name]
        rc, now_out, now_err = self.cmd(argv)
        if rc != 0:
            self.fail_cmd(argv, rc, now_out, now_err)
        now = parse_ethtool_features(now_out)
        detail = (err.strip() or out.strip()).splitlines()
        applied = {}
        for feature, flag in change['features'].items():
            if now.get(feature, {}).get('enabled') == flag:
                applied[feature] = flag
            else:
                reason = 'the driver kept it %s after ethtool -K' % ('off' if flag else 'on')
                self.skip(name, 'offload ' + feature, reason + (': ' + detail[-1] if detail else ''))
        self.changed = self.changed or bool(applied)
        change['diff'] = [d for d in change['diff'] if d[0][len('offload '):] in applied]
        change['link'] = {}
        for feature in sorted(applied):
            change['link'].update(offload_link(feature, applied[feature]))
        return bool(applied)

    def apply_rps(self, name, change):
        for rel, value in change['writes']:
            path = os.path.join(self.sysfs, name, rel)
            try:
                with open(path, 'w') as f:
                    f.write(value + '\n')
            except (IOError, OSError) as e:
                self.module.fail_json(msg='%s: writing %s to %s failed: %s' % (name, value, path, e),
                                      changed=self.changed, nics=self.results)
            self.changed = True

    def execute(self):
        """Decide, then act unless in check mode. MTUs first, so a rollback happens before anything else changed."""
        check = self.module.check_mode
        self.done = dict((name, []) for name in self.order)
        for name in self.order:
            for change in self.plans[name]['changes']:
                if change['setting'] == 'mtu':
                    if self.precheck_mtu(name, change) and (check or self.apply_mtu(name, change)):
                        self.done[name].append(change)
        for name in self.order:
            channels_failed = False
            rps_change = None
            for change in self.plans[name]['changes']:
                setting = change['setting']
                if setting == 'mtu':
                    continue
                if setting == 'rps':
                    rps_change = change
                elif check:
                    self.done[name].append(change)
                elif setting == 'offloads':
                    if self.apply_offloads(name, change):
                        self.done[name].append(change)
                elif self.apply_command(name, change):
                    self.done[name].append(change)
                elif setting == 'channels':
                    channels_failed = True
            if channels_failed and 'rps' in self.settings[name]:
                rps_change = self.replan_rps(name)
            if rps_change is not None:
                if not check:
                    self.apply_rps(name, rps_change)
                self.done[name].append(rps_change)
            self.results[name]['changes'] = [text for change in self.done[name] for text in change_texts(change)]
        self.changed = self.changed or any(self.done.values())

    def replan_rps(self, name):
        """RPS was planned for the queue count ethtool -L was to set; plan again for the queues there are."""
        plan = plan_interface(name, self.states[name], {'rps': self.settings[name]['rps']}, self.cpus)
        self.plans[name]['rps'] = plan['rps']
        self.results[name]['skipped'].pop('rps', None)
        self.results[name]['skipped'].update(plan['skipped'])
        return plan['changes'][0] if plan['changes'] else None

    # ------------------------------------------------------------ persistence

    def sync_file(self, path, content):
        """Write (atomically) or remove path so it holds content; returns a diff entry or None."""
        before = read_text(path)
        if before == content:
            return None
        if not self.module.check_mode:
            if content is None:
                os.unlink(path)
            else:
                write_atomic(self.module, path, content, mode=0o644)
        self.changed = True
        return {'before_header': path, 'after_header': path, 'before': before or '', 'after': content or ''}

    def persist(self):
        if not self.params['persist']:
            return
        rps = {}
        for name in self.order:
            plan = self.plans[name]
            link = dict(plan['link'])
            for change in self.done[name]:
                link.update(change.get('link', {}))
            state = self.states[name]
            content = render_link_file(name, state.get('address'), state.get('driver'), link)
            path = os.path.join(self.params['link_dir'], link_file_name(name))
            diff = self.sync_file(path, content)
            if diff:
                self.file_diffs.append(diff)
            self.results[name]['link_file'] = path if content is not None else None
            if plan['rps'] and 'rps' not in self.results[name]['skipped']:
                rps[name] = plan['rps']
        path = os.path.join(self.params['udev_rules_dir'], RULES_FILE)
        content = render_rps_rules(read_text(path), rps, set(self.order))
        diff = self.sync_file(path, content)
        if diff:
            self.file_diffs.append(diff)
        self.rules_path = path if content is not None else None

    def runtime_diff(self):
        before, after = [], []
        for name in self.order:
            for change in self.done[name]:
                for label, old, new in change['diff']:
                    before.append('%s %s: %s\n' % (name, label, old))
                    after.append('%s %s: %s\n' % (name, label, new))
        if not before:
            return []
        return [{'before_header': 'runtime', 'after_header': 'runtime',
                 'before': ''.join(before), 'after': ''.join(after)}]


def main():
    setting_options = dict(
        mtu=dict(type='int'),
        channels=dict(type='raw'),
        rings=dict(type='dict'),
        offloads=dict(type='dict'),
        rps=dict(type='raw'),
    )
    interface_options = dict(name=dict(type='str', required=True))
    interface_options.update(setting_options)
    module = AnsibleModule(
        argument_spec=dict(
            interfaces=dict(type='list', elements='dict', default=[], options=interface_options),
            driver_defaults=dict(type='dict', default={}),
            mtu_peers=dict(type='list', elements='str', default=[]),
            mtu_verify_ssh_client=dict(type='bool', default=True),
            mtu_probe_timeout=dict(type='float', default=1.0),
            mtu_probe_count=dict(type='int', default=3),
            persist=dict(type='bool', default=True),
            link_dir=dict(type='path', default='/etc/systemd/network'),
            udev_rules_dir=dict(type='path', default='/etc/udev/rules.d'),
            sys_class_net=dict(type='path', default='/sys/class/net'),
        ),
        supports_check_mode=True,
    )
    run = Run(module)
    try:
        run.collect()
        run.plan()
        run.execute()
    except NicCommandError as e:
        run.fail_cmd(e.cmd, e.rc, e.stdout, e.stderr)
    except NicParseError as e:
        module.fail_json(msg='could not parse command output: %s' % e)
    run.persist()

    skipped = ['%s %s: %s' % (name, setting, reason)
               for name in run.order for setting, reason in sorted(run.results[name]['skipped'].items())]
    result = dict(changed=run.changed, nics=run.results, skipped_settings=skipped, rps_rules_file=run.rules_path)
    if module._diff:
        result['diff'] = run.runtime_diff() + run.file_diffs
    module.exit_json(**result)


if __name__ == '__main__':
    main()
