#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, packetjungle.datapath contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: netdiag_collect
short_description: Collect what a node and its pods know about lost packets, read-only and time-bounded
version_added: 1.0.0
author: packetjungle.datapath contributors (@packetjungle)
description:
  - Runs, in one call, the commands a person runs by hand when packets disappear, and returns their raw outputs
    with parsed counters. M(packetjungle.datapath.netdiag_bundle) turns the results of every node into one
    support bundle; C(playbooks/netdiag.yml) does both.
  - On the node - addresses, links with their drop and error counters, routes and rules (IPv4 and IPv6) and
    neighbours (C(ip -j)), C(ss -s), C(nstat -a -s -z) and C(netstat -s), C(/proc/net/snmp),
    C(/proc/net/netstat), C(/proc/net/softnet_stat), C(tc -s -j qdisc show), conntrack fill
    (C(nf_conntrack_count), C(nf_conntrack_max)) and C(conntrack -S), C(nft list ruleset) and
    C(iptables-save -c)/C(ip6tables-save -c) for the rules that dropped packets, C(ethtool -S) of every NIC
    backed by a device (not veth, bridges or tunnels), and the sysctls that make the kernel drop on purpose
    (C(rp_filter), C(ip_forward), ...).
  - For each pod of O(pods) - the containers labelled C(io.kubernetes.pod.namespace) and
    C(io.kubernetes.pod.name) in containerd's O(containerd_namespace) are looked up with C(ctr); the running
    sandbox (or else any running container of the pod) gives a PID, and the same C(ip), C(ss) and C(nstat)
    commands run inside that PID's network namespace with C(nsenter --net); its C(/proc/PID/net/snmp) and
    C(netstat) are read directly. A pod that is not found is reported with the reason, never a failure.
  - The Cilium agent - C(cilium-dbg status --verbose) and C(cilium-dbg bpf metrics list) (the datapath's drop
    and forward counters by reason) run inside the running container labelled
    C(io.kubernetes.container.name=cilium-agent) (C(ctr tasks exec)), or from the node when C(cilium-dbg) is
    installed there. Without either, RV(cilium.running) is V(false) and the bundle says plainly that the agent
    is not running.
  - Every command runs under coreutils C(timeout) (O(command_timeout)); a command that fails, times out or is not
    installed is recorded with the reason and the collection goes on. The module fails only on bad options.
  - Changes nothing. C(nstat) runs with C(-s), so its history file is not written either.
options:
  pods:
    description: Pods to look into, by Kubernetes namespace and name.
    type: list
    elements: dict
    default: []
    suboptions:
      namespace:
        description: The pod's namespace (label C(io.kubernetes.pod.namespace)).
        type: str
        required: true
      name:
        description: The pod's name (label C(io.kubernetes.pod.name)).
        type: str
        required: true
  command_timeout:
    description:
      - Seconds each command may run before it is stopped (C(TERM), then C(KILL) a second later).
      - A node runs about 20 commands plus one per NIC, and each pod up to 18 more (11 for a pod of one
        container), so the whole collection is bounded by their number times this.
    type: float
    default: 10
  max_output_bytes:
    description:
      - Characters kept of each output (bytes for the ASCII these commands print); the rest is cut and the output
        marked RV(outputs[].truncated).
    type: int
    default: 4194304
  containerd_namespace:
    description: containerd namespace the CRI plugin keeps Kubernetes containers in.
    type: str
    default: k8s.io
  containerd_address:
    description: containerd's socket.
    type: path
    default: /run/containerd/containerd.sock
  cilium_container:
    description: Value of C(io.kubernetes.container.name) of the Cilium agent container.
    type: str
    default: cilium-agent
  nics:
    description:
      - Interfaces to read C(ethtool -S) of. Default every interface with a C(device) link in O(sys_class_net)
        (physical and virtio NICs; virtual links have no ring or queue counters worth reading).
    type: list
    elements: str
  sys_class_net:
    description: Where the interfaces' sysfs directories are. Only unit tests point this at a fake tree.
    type: path
    default: /sys/class/net
  proc_path:
    description: Where procfs is mounted. Only unit tests point this at a fake tree.
    type: path
    default: /proc
requirements:
  - coreutils C(timeout)
  - iproute2 with JSON output (C(ip -j)), util-linux C(nsenter) and containerd's C(ctr) for the pods; every other
    tool is optional and its absence is reported
extends_documentation_fragment:
  - packetjungle.datapath.attributes
  - packetjungle.datapath.attributes.info
seealso:
  - module: packetjungle.datapath.netdiag_bundle
  - module: packetjungle.datapath.path_mtu
  - module: packetjungle.datapath.datapath_info
'''

EXAMPLES = r'''
- name: Collect what the node and two pods know about lost packets
  packetjungle.datapath.netdiag_collect:
    pods:
      - {namespace: default, name: web-0}
      - {namespace: kube-system, name: coredns-5d78c9869d-7xk2p}
    command_timeout: 5
  become: true
  register: __netdiag_collect

- name: Show the addresses inside the pod's network namespace
  ansible.builtin.debug:
    msg: "{{ __netdiag_collect.pods['default/web-0'].counters.addresses | default('pod not found') }}"
'''

RETURN = r'''
hostname:
  description: The node's host name.
  returned: always
  type: str
  sample: pj-lab-1
kernel:
  description: The running kernel release.
  returned: always
  type: str
  sample: 6.1.0-27-cloud-amd64
seconds:
  description: Wall time of the whole collection.
  returned: always
  type: float
  sample: 1.9
outputs:
  description: Every command run or file read, in order, with its raw output.
  returned: always
  type: list
  elements: dict
  contains:
    file:
      description: Path of the output inside the node's bundle directory.
      type: str
      sample: host/ip-link-stats.json
    argv:
      description: The command as run (inside the timeout wrapper), or V(null) for a file read.
      type: list
      elements: str
      sample: [/usr/bin/timeout, --kill-after=1, 10s, /usr/bin/nsenter, --net=/proc/4711/ns/net, --, /usr/sbin/ip,
               -j, addr, show]
    source:
      description: The file read, or V(null) for a command.
      type: str
      sample: /proc/net/snmp
    rc:
      description: Exit code, V(null) when nothing ran.
      type: int
      sample: 0
    seconds:
      description: How long it took.
      type: float
      sample: 0.01
    status:
      description: V(ok), V(failed) (non-zero exit or unreadable), V(timeout), V(missing) (tool or file absent),
        V(skipped) (nothing to run it on).
      type: str
      sample: ok
    reason:
      description: Why the status is not V(ok); V(null) when it is.
      type: str
      sample: "conntrack is not installed on the node"
    stdout:
      description: Standard output (or the file's content).
      type: str
    stderr:
      description: Standard error.
      type: str
    truncated:
      description: The output was longer than O(max_output_bytes) and was cut.
      type: bool
      sample: false
parse_errors:
  description: Outputs that were collected but could not be parsed, with the reason; their raw text is in RV(outputs).
  returned: always
  type: list
  elements: str
  sample: []
counters:
  description: Parsed from the node's outputs; a key is missing when its output was not collected.
  returned: always
  type: dict
  contains:
    links:
      description: Interface to C(mtu), C(operstate), C(kind) and every C(rx_*)/C(tx_*) counter of C(ip -s -s link).
      type: dict
      sample: {"eth0": {"mtu": 1500, "operstate": "UP", "kind": "veth", "rx_dropped": 0, "tx_dropped": 0}}
    addresses:
      description: Interface to its addresses (link-local IPv6 left out).
      type: dict
      sample: {"eth0": ["172.29.88.11/24"]}
    default_route:
      description: The main table's default route, C(dev), C(gateway) and C(mtu) (V(null) without an mtu metric).
      type: dict
      sample: {"dev": "eth0", "gateway": "10.0.0.1", "mtu": 1450}
    snmp:
      description: C(/proc/net/snmp) and C(/proc/net/netstat) tables, protocol to counter to value.
      type: dict
      sample: {"Ip": {"InDiscards": 0}, "TcpExt": {"ListenDrops": 0}}
    softnet:
      description: Per CPU packets C(processed), C(dropped) with a full backlog, and C(time_squeeze).
      type: list
      elements: dict
    qdiscs:
      description: Per qdisc C(dev), C(kind), C(handle), C(drops), C(overlimits), C(requeues), C(backlog), C(qlen).
      type: list
      elements: dict
    conntrack:
      description: C(count) and C(max) of the conntrack table, and C(stats), the summed C(conntrack -S) counters.
      type: dict
      sample: {"count": 17, "max": 262144, "stats": {"drop": 0, "insert_failed": 0}}
    ethtool:
      description: NIC to its C(ethtool -S) counters.
      type: dict
    firewall_drops:
      description: Rules (and DROP policies) that matched packets they drop or reject.
      type: list
      elements: dict
      sample: [{"source": "iptables", "table": "filter", "chain": "INPUT", "rule": "-p icmp -j DROP",
                "packets": 3, "bytes": 252}]
pods:
  description: C(NAMESPACE/NAME) of each pod of O(pods) to what was found.
  returned: always
  type: dict
  contains:
    found:
      description: A running container of the pod was found and its network namespace entered.
      type: bool
    reason:
      description: Why the pod was not found (V(null) when it was).
      type: str
      sample: no container with these labels
    container:
      description: The container whose task's network namespace was entered (the sandbox when it runs).
      type: str
    pid:
      description: PID of that task on the node.
      type: int
    netns:
      description: The network namespace entered.
      type: str
      sample: /proc/4711/ns/net
    counters:
      description: C(links), C(addresses), C(default_route) and C(snmp) as in RV(counters), from inside the pod.
      type: dict
cilium:
  description: Whether the Cilium agent runs on the node and where its status came from.
  returned: always
  type: dict
  contains:
    running:
      description: An agent was found (a running C(cilium-agent) container, or C(cilium-dbg) on the node).
      type: bool
    detail:
      description: The container or binary used, or why there is no agent.
      type: str
      sample: "no running container labelled io.kubernetes.container.name=cilium-agent in containerd namespace
        k8s.io, and no cilium-dbg on the node"
'''

import os
import socket
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_text
from ansible_collections.packetjungle.datapath.plugins.module_utils.netdiag import (
    CONTAINER_NAME_LABEL,
    FAILED,
    HOST_COMMANDS,
    HOST_FILES,
    KIND_LABEL,
    MISSING,
    NETNS_COMMANDS,
    NETNS_FILES,
    OK,
    POD_NAME_LABEL,
    POD_NAMESPACE_LABEL,
    SKIPPED,
    SYSCTLS,
    TIMEOUT,
    NetdiagParseError,
    classify,
    ctr_label_filter,
    firewall_drops,
    in_netns,
    parse_addresses,
    parse_conntrack_stats,
    parse_default_route,
    parse_ctr_containers,
    parse_ctr_info,
    parse_ctr_tasks,
    parse_ethtool_stats,
    parse_int,
    parse_link_stats,
    parse_qdiscs,
    parse_snmp,
    parse_softnet,
    pick_task,
    pod_dir,
    pod_key,
    safe_name,
    with_timeout,
)

ENV = {'LANG': 'C', 'LC_ALL': 'C'}
# Containers looked at per pod: a pod has a sandbox and a few containers.
MAX_POD_CONTAINERS = 8
# What the agent tells about itself: its status, and the datapath's own
# counters of dropped and forwarded packets by reason and direction.
CILIUM_COMMANDS = (
    ('cilium/status.txt', ['cilium-dbg', 'status', '--verbose']),
    ('cilium/bpf-metrics.txt', ['cilium-dbg', 'bpf', 'metrics', 'list']),
)


def read_bounded(handle, limit):
    """Read at most LIMIT characters in small blocks: a procfs sysctl file
    refuses one large read with ENOMEM."""
    parts = []
    size = 0
    while size < limit:
        block = handle.read(min(65536, limit - size))
        if not block:
            break
        parts.append(block)
        size += len(block)
    return ''.join(parts)


class Collector(object):
    """Runs commands and reads files, records each as an output, never raises."""

    def __init__(self, module, timeout_bin):
        self.module = module
        self.timeout_bin = timeout_bin
        self.outputs = []
        self.parse_errors = []
        self.limit = module.params['max_output_bytes']
        self.seconds = module.params['command_timeout']

    def _record(self, file, argv, source, rc, seconds, status, reason, stdout, stderr=''):
        truncated = len(stdout) > self.limit
        self.outputs.append({'file': file, 'argv': argv, 'source': source, 'rc': rc, 'seconds': round(seconds, 3),
                             'status': status, 'reason': reason, 'stdout': stdout[:self.limit],
                             'stderr': stderr[:self.limit], 'truncated': truncated})
        return stdout if status == OK else None

    def command(self, file, argv, nsenter=None):
        """Run argv (its first word looked up on the node); nsenter is
        (nsenter path, proc path, pid) to run it in a pod's network namespace.
        Returns stdout when the command succeeded, else None."""
        path = self.module.get_bin_path(argv[0])
        if not path:
            return self._record(file, None, None, None, 0, MISSING, '%s is not installed on the node' % argv[0], '')
        full = [path] + list(argv[1:])
        if nsenter:
            full = in_netns(nsenter[0], nsenter[1], nsenter[2], full)
        full = with_timeout(self.timeout_bin, self.seconds, full)
        start = time.time()
        rc, out, err = self.module.run_command(full, environ_update=ENV)
        status = classify(rc)
        reason = None
        if status == TIMEOUT:
            reason = 'no answer within %gs (command_timeout), stopped' % self.seconds
        elif status == FAILED:
            reason = 'rc %d: %s' % (rc, (err.strip().splitlines() or ['no error text'])[-1])
        return self._record(file, full, None, rc, time.time() - start, status, reason, out, err)

    def read(self, file, path):
        """Read a procfs file; returns its text or None."""
        start = time.time()
        try:
            with open(path) as handle:
                text = read_bounded(handle, self.limit + 1)
        except (IOError, OSError) as e:
            status = MISSING if not os.path.exists(path) else FAILED
            return self._record(file, None, path, None, time.time() - start, status,
                                '%s: %s' % (path, e.strerror or to_text(e)), '')
        return self._record(file, None, path, None, time.time() - start, OK, None, text)

    def note(self, file, text, status=OK, reason=None):
        """A file the module writes itself (a statement, a skipped output)."""
        return self._record(file, None, None, None, 0, status, reason, text)

    def parse(self, file, parser, text):
        if text is None:
            return None
        try:
            return parser(text)
        except NetdiagParseError as e:
            self.parse_errors.append('%s: collected but not parsed: %s' % (file, to_text(e)))
            return None


def put(counters, key, value):
    if value is not None:
        counters[key] = value


def netns_counters(collector, prefix, proc, nsenter=None):
    """The commands and files every network namespace gets; returns its counters."""
    texts = {}
    for file, argv in NETNS_COMMANDS:
        texts[file] = collector.command(prefix + file, argv, nsenter)
    for file, pattern in NETNS_FILES:
        texts[file] = collector.read(prefix + file, pattern.format(proc=proc))
    counters = {}
    put(counters, 'links', collector.parse(prefix + 'ip-link-stats.json', parse_link_stats,
                                           texts['ip-link-stats.json']))
    put(counters, 'addresses', collector.parse(prefix + 'ip-addr.json', parse_addresses, texts['ip-addr.json']))
    put(counters, 'default_route', collector.parse(prefix + 'ip-route.json', parse_default_route,
                                                   texts['ip-route.json']))
    snmp = collector.parse(prefix + 'proc-net-snmp.txt', parse_snmp, texts['proc-net-snmp.txt']) or {}
    snmp.update(collector.parse(prefix + 'proc-net-netstat.txt', parse_snmp, texts['proc-net-netstat.txt']) or {})
    put(counters, 'snmp', snmp or None)
    return counters


def read_sysctls(proc_path):
    lines = []
    for name in SYSCTLS:
        path = os.path.join(proc_path, 'sys', name)
        try:
            with open(path) as handle:
                lines.append('%s = %s' % (name.replace('/', '.'), handle.read().strip()))
        except (IOError, OSError) as e:
            lines.append('%s: not readable (%s)' % (name.replace('/', '.'), e.strerror or to_text(e)))
    return '\n'.join(lines) + '\n'


def device_nics(sys_class_net):
    try:
        names = sorted(os.listdir(sys_class_net))
    except OSError:
        return []
    return [name for name in names if os.path.exists(os.path.join(sys_class_net, name, 'device'))]


def host_counters(collector, params):
    proc = params['proc_path']
    counters = netns_counters(collector, 'host/', proc)
    texts = {}
    for file, argv in HOST_COMMANDS:
        texts[file] = collector.command('host/' + file, argv)
    for file, path in HOST_FILES:
        texts[file] = collector.read('host/' + file, path.replace('/proc', proc, 1))
    collector.note('host/sysctl.txt', read_sysctls(proc))
    put(counters, 'softnet', collector.parse('host/proc-net-softnet_stat.txt', parse_softnet,
                                             texts['proc-net-softnet_stat.txt']))
    put(counters, 'qdiscs', collector.parse('host/tc-qdisc.json', parse_qdiscs, texts['tc-qdisc.json']))
    conntrack = {
        'count': collector.parse('host/nf_conntrack_count.txt',
                                 lambda t: parse_int(t, 'nf_conntrack_count'), texts['nf_conntrack_count.txt']),
        'max': collector.parse('host/nf_conntrack_max.txt',
                               lambda t: parse_int(t, 'nf_conntrack_max'), texts['nf_conntrack_max.txt']),
        'stats': collector.parse('host/conntrack-S.txt', parse_conntrack_stats, texts['conntrack-S.txt']),
    }
    put(counters, 'conntrack', conntrack)
    put(counters, 'firewall_drops', collector.parse('host/iptables-save.txt', lambda t: firewall_drops(
        t, texts['ip6tables-save.txt'], texts['nft-ruleset.txt']), texts['iptables-save.txt'] or ''))
    nics = params['nics'] if params['nics'] is not None else device_nics(params['sys_class_net'])
    if not nics:
        collector.note('host/ethtool-S.txt', '', SKIPPED, 'no NIC backed by a device in %s (only virtual links)'
                       % params['sys_class_net'])
    ethtool = {}
    for nic in nics:
        file = 'host/ethtool-S-%s.txt' % safe_name(nic)
        stats = collector.parse(file, parse_ethtool_stats, collector.command(file, ['ethtool', '-S', nic]))
        if stats is not None:
            ethtool[nic] = stats
    put(counters, 'ethtool', ethtool or None)
    return counters


class Containerd(object):
    """Looks containers up by label with ctr; every call is a recorded output."""

    def __init__(self, collector, params):
        self.collector = collector
        self.base = ['ctr', '--address', params['containerd_address'], '-n', params['containerd_namespace']]
        self.namespace = params['containerd_namespace']
        self.tasks = None
        self.unavailable = None
        if not collector.module.get_bin_path('ctr'):
            self.unavailable = 'ctr (containerd\'s client) is not installed on the node: no container runtime to ' \
                               'look containers up in'
            collector.note('containerd/ctr-tasks.txt', '', MISSING, self.unavailable)
            return
        text = collector.command('containerd/ctr-tasks.txt', self.base + ['tasks', 'ls'])
        if text is None:
            self.unavailable = 'containerd did not answer ctr tasks ls: %s' % collector.outputs[-1]['reason']
            return
        self.tasks = collector.parse('containerd/ctr-tasks.txt', parse_ctr_tasks, text)
        if self.tasks is None:
            self.unavailable = 'ctr tasks ls printed something this module cannot read: %s' % \
                collector.parse_errors[-1]

    def find(self, name, labels, want_kinds):
        """(container id, pid) of the running container with LABELS, or (None, reason)."""
        if self.unavailable:
            return None, self.unavailable
        file = 'containerd/ctr-containers-%s.txt' % safe_name(name)
        try:
            selector = ctr_label_filter(labels)
        except ValueError as e:
            return None, to_text(e)
        text = self.collector.command(file, self.base + ['containers', 'ls', selector])
        if text is None:
            return None, 'ctr containers ls failed: %s' % self.collector.outputs[-1]['reason']
        ids = self.collector.parse(file, parse_ctr_containers, text)
        if ids is None:
            return None, self.collector.parse_errors[-1]
        kinds = {}
        if want_kinds:
            for cid in ids[:MAX_POD_CONTAINERS]:
                info_file = 'containerd/ctr-info-%s.json' % safe_name(cid)
                info = self.collector.parse(info_file, parse_ctr_info, self.collector.command(
                    info_file, self.base + ['containers', 'info', cid]))
                if info:
                    kinds[cid] = info['labels'].get(KIND_LABEL)
        chosen, pid_or_reason = pick_task(ids, self.tasks, kinds)
        if chosen is None:
            return None, '%s in containerd namespace %s' % (pid_or_reason, self.namespace)
        return chosen, pid_or_reason


def collect_pod(collector, containerd, pod, params, nsenter_bin):
    key = pod_key(pod)
    container, pid = containerd.find('pod-%s_%s' % (pod['namespace'], pod['name']),
                                     {POD_NAMESPACE_LABEL: pod['namespace'], POD_NAME_LABEL: pod['name']}, True)
    if container is None:
        return {'found': False, 'reason': pid, 'container': None, 'pid': None, 'netns': None}
    netns = '%s/%d/ns/net' % (params['proc_path'], pid)
    if not nsenter_bin:
        return {'found': False, 'container': container, 'pid': pid, 'netns': netns,
                'reason': 'nsenter (util-linux) is not installed on the node: cannot enter the pod\'s netns'}
    counters = netns_counters(collector, pod_dir(pod) + '/', '%s/%d' % (params['proc_path'], pid),
                              (nsenter_bin, params['proc_path'], pid))
    return {'found': True, 'reason': None, 'container': container, 'pid': pid, 'netns': netns, 'counters': counters}


def collect_cilium(collector, containerd, params):
    label = '%s=%s' % (CONTAINER_NAME_LABEL, params['cilium_container'])
    container, pid = containerd.find(params['cilium_container'], {CONTAINER_NAME_LABEL: params['cilium_container']},
                                     False)
    if container is not None:
        prefix = containerd.base + ['tasks', 'exec', '--exec-id', 'netdiag-%d' % os.getpid(), container]
        detail = 'container %s (pid %d), labelled %s' % (container, pid, label)
    elif collector.module.get_bin_path('cilium-dbg'):
        prefix = []
        detail = 'cilium-dbg on the node (no running container labelled %s: %s)' % (label, pid)
    else:
        prefix, detail = None, None
    if prefix is not None:
        for name, argv in CILIUM_COMMANDS:
            collector.command(name, prefix + argv)
        return {'running': True, 'detail': detail}
    detail = 'no running container labelled %s (%s), and no cilium-dbg on the node' % (label, pid)
    collector.note('cilium/status.txt', 'The Cilium agent is NOT running on this node: %s.\n' % detail)
    return {'running': False, 'detail': detail}


def main():
    module = AnsibleModule(
        argument_spec=dict(
            pods=dict(type='list', elements='dict', default=[], options=dict(
                namespace=dict(type='str', required=True),
                name=dict(type='str', required=True),
            )),
            command_timeout=dict(type='float', default=10.0),
            max_output_bytes=dict(type='int', default=4 * 1024 * 1024),
            containerd_namespace=dict(type='str', default='k8s.io'),
            containerd_address=dict(type='path', default='/run/containerd/containerd.sock'),
            cilium_container=dict(type='str', default='cilium-agent'),
            nics=dict(type='list', elements='str'),
            sys_class_net=dict(type='path', default='/sys/class/net'),
            proc_path=dict(type='path', default='/proc'),
        ),
        supports_check_mode=True,
    )
    p = module.params
    if p['command_timeout'] <= 0:
        module.fail_json(msg='command_timeout: %s is not accepted; expected seconds above 0' % p['command_timeout'])
    if p['max_output_bytes'] < 1024:
        module.fail_json(msg='max_output_bytes: %d is not accepted; expected at least 1024' % p['max_output_bytes'])
    keys = [pod_key(pod) for pod in p['pods']]
    for index, key in enumerate(keys):
        if keys.index(key) != index:
            module.fail_json(msg='pods[%d]: %s is listed twice' % (index, key))
    start = time.time()
    collector = Collector(module, module.get_bin_path('timeout', required=True))
    counters = host_counters(collector, p)
    containerd = Containerd(collector, p)
    nsenter_bin = module.get_bin_path('nsenter')
    pods = dict((pod_key(pod), collect_pod(collector, containerd, pod, p, nsenter_bin)) for pod in p['pods'])
    cilium = collect_cilium(collector, containerd, p)
    module.exit_json(changed=False, hostname=socket.gethostname(), kernel=os.uname()[2],
                     seconds=round(time.time() - start, 2), outputs=collector.outputs,
                     parse_errors=collector.parse_errors, counters=counters, pods=pods, cilium=cilium)


if __name__ == '__main__':
    main()
