# -*- coding: utf-8 -*-
# Copyright: (c) 2026, packetjungle.datapath contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure parts of the "packets disappear" support bundle: what to run, the
parsers for the raw outputs, and the findings and README a person reads first.
The node side (modules/netdiag_collect.py) runs the commands; the controller
side (action/netdiag_bundle.py) writes the bundle."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import re

# coreutils timeout exits 124 when the time ran out, 137 when it had to kill.
TIMEOUT_RCS = (124, 137)
OK, FAILED, TIMEOUT, MISSING, SKIPPED = 'ok', 'failed', 'timeout', 'missing', 'skipped'
STATUSES = (OK, FAILED, TIMEOUT, MISSING, SKIPPED)

POD_NAMESPACE_LABEL = 'io.kubernetes.pod.namespace'
POD_NAME_LABEL = 'io.kubernetes.pod.name'
CONTAINER_NAME_LABEL = 'io.kubernetes.container.name'
KIND_LABEL = 'io.cri-containerd.kind'

# Per network namespace (the node's and each pod's): (file, argv). The first
# word is looked up on the node; a missing tool is recorded, not fatal.
NETNS_COMMANDS = (
    ('ip-addr.json', ['ip', '-j', 'addr', 'show']),
    ('ip-link-stats.json', ['ip', '-s', '-s', '-j', '-d', 'link', 'show']),
    ('ip-route.json', ['ip', '-j', 'route', 'show', 'table', 'all']),
    ('ip-route6.json', ['ip', '-j', '-6', 'route', 'show', 'table', 'all']),
    ('ip-rule.json', ['ip', '-j', 'rule', 'show']),
    ('ip-rule6.json', ['ip', '-j', '-6', 'rule', 'show']),
    ('ip-neigh.json', ['ip', '-j', 'neigh', 'show']),
    ('ss-summary.txt', ['ss', '-s']),
    # -s: do not update nstat's history file, so the run stays read-only.
    ('nstat.txt', ['nstat', '-a', '-s', '-z']),
)

# Only on the node itself.
HOST_COMMANDS = (
    ('uname.txt', ['uname', '-a']),
    ('netstat-s.txt', ['netstat', '-s']),
    ('tc-qdisc.json', ['tc', '-s', '-j', 'qdisc', 'show']),
    ('conntrack-S.txt', ['conntrack', '-S']),
    ('nft-ruleset.txt', ['nft', 'list', 'ruleset']),
    ('iptables-save.txt', ['iptables-save', '-c']),
    ('ip6tables-save.txt', ['ip6tables-save', '-c']),
)

# Files read from procfs; PROC is /proc for the node, /proc/PID for a pod
# (procfs shows the network namespace of that process).
NETNS_FILES = (
    ('proc-net-snmp.txt', '{proc}/net/snmp'),
    ('proc-net-netstat.txt', '{proc}/net/netstat'),
)
HOST_FILES = (
    ('proc-net-softnet_stat.txt', '/proc/net/softnet_stat'),
    ('nf_conntrack_count.txt', '/proc/sys/net/netfilter/nf_conntrack_count'),
    ('nf_conntrack_max.txt', '/proc/sys/net/netfilter/nf_conntrack_max'),
)

# Sysctls that decide whether a packet is dropped on purpose, read into one file.
SYSCTLS = (
    'net/ipv4/ip_forward',
    'net/ipv4/conf/all/rp_filter',
    'net/ipv4/conf/default/rp_filter',
    'net/ipv4/tcp_mtu_probing',
    'net/ipv4/ip_no_pmtu_disc',
    'net/core/netdev_max_backlog',
    'net/core/netdev_budget',
    'net/netfilter/nf_conntrack_tcp_timeout_established',
    'net/netfilter/nf_conntrack_udp_timeout',
    'net/bridge/bridge-nf-call-iptables',
)

# /proc/net/snmp and /proc/net/netstat counters that count a packet thrown away.
SNMP_DROPS = {
    'Ip': ('InHdrErrors', 'InAddrErrors', 'InUnknownProtos', 'InDiscards', 'OutDiscards', 'OutNoRoutes',
           'ReasmFails', 'FragFails'),
    'IpExt': ('InNoRoutes', 'InTruncatedPkts', 'InCsumErrors'),
    'Tcp': ('InErrs', 'InCsumErrors'),
    'Udp': ('InErrors', 'RcvbufErrors', 'SndbufErrors', 'InCsumErrors', 'MemErrors'),
    'UdpLite': ('InErrors', 'RcvbufErrors', 'SndbufErrors'),
    'TcpExt': ('ListenOverflows', 'ListenDrops', 'TCPBacklogDrop', 'PFMemallocDrop', 'TCPMinTTLDrop',
               'TCPDeferAcceptDrop', 'IPReversePathFilter', 'TCPRcvQDrop', 'TCPZeroWindowDrop', 'TCPOFODrop',
               'LockDroppedIcmps', 'OutOfWindowIcmps'),
}

# ip -s -s link counters that mean a lost or broken frame.
LINK_DROPS = ('rx_dropped', 'rx_errors', 'rx_over_errors', 'rx_crc_errors', 'rx_frame_errors', 'rx_fifo_errors',
              'rx_missed_errors', 'rx_length_errors', 'tx_dropped', 'tx_errors', 'tx_carrier_errors',
              'tx_fifo_errors', 'tx_aborted_errors')

CONNTRACK_DROPS = ('drop', 'early_drop', 'insert_failed', 'error', 'invalid')

# ethtool -S names differ per driver; these parts mark the loss counters
# (virtio_net: rx_drops, tx_timeouts; many drivers: rx_missed_errors, rx_fifo_errors).
ETHTOOL_DROP = re.compile(r'drop|discard|miss|error|err$|fifo|timeout|over|no_buf|nobuf', re.I)


class NetdiagParseError(ValueError):
    pass


def with_timeout(timeout_bin, seconds, argv):
    """argv bounded by coreutils timeout; KILL a second after TERM is ignored."""
    return [timeout_bin, '--kill-after=1', '%gs' % seconds] + list(argv)


def in_netns(nsenter_bin, proc_path, pid, argv):
    """argv run in the network namespace of PID (and only that namespace)."""
    return [nsenter_bin, '--net=%s/%d/ns/net' % (proc_path, pid), '--'] + list(argv)


def classify(rc):
    """Status of a finished command from its exit code."""
    if rc in TIMEOUT_RCS:
        return TIMEOUT
    return OK if rc == 0 else FAILED


def safe_name(text):
    """A file or directory name from a pod or interface name."""
    return re.sub(r'[^A-Za-z0-9._-]', '_', text) or '_'


def pod_key(pod):
    return '%s/%s' % (pod['namespace'], pod['name'])


def pod_dir(pod):
    return 'pods/%s_%s' % (safe_name(pod['namespace']), safe_name(pod['name']))


def ctr_label_filter(labels):
    """ctr's filter for containers carrying every label of LABELS (sorted)."""
    for key, value in labels.items():
        if '"' in key or ',' in value or '"' in value:
            raise ValueError('%s=%s cannot be written as a ctr label filter' % (key, value))
    return ','.join('labels."%s"==%s' % (key, labels[key]) for key in sorted(labels))


def _table_rows(text, header):
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise NetdiagParseError('empty output where a table with header %s was expected' % header)
    if lines[0].split()[:1] != [header]:
        raise NetdiagParseError('expected a table starting with %s, got %r' % (header, lines[0][:80]))
    return [line.split() for line in lines[1:]]


def parse_ctr_containers(text):
    """Container ids from `ctr containers ls` (header CONTAINER IMAGE RUNTIME)."""
    return [row[0] for row in _table_rows(text, 'CONTAINER')]


def parse_ctr_tasks(text):
    """`ctr tasks ls`: container id -> {'pid': int, 'status': str}."""
    tasks = {}
    for row in _table_rows(text, 'TASK'):
        if len(row) < 3 or not row[1].isdigit():
            raise NetdiagParseError('ctr tasks ls row %r has no PID and STATUS' % ' '.join(row))
        tasks[row[0]] = {'pid': int(row[1]), 'status': row[2]}
    return tasks


def parse_ctr_info(text):
    """Labels and the network namespace path from `ctr containers info ID`."""
    try:
        info = json.loads(text)
    except ValueError as e:
        raise NetdiagParseError('ctr containers info is not JSON: %s' % e)
    if not isinstance(info, dict):
        raise NetdiagParseError('ctr containers info is not a JSON object')
    labels = info.get('Labels') or {}
    netns = None
    spec = info.get('Spec') or {}
    for namespace in (spec.get('linux') or {}).get('namespaces') or []:
        if namespace.get('type') == 'network':
            netns = namespace.get('path') or 'new'
    return {'id': info.get('ID'), 'labels': labels, 'netns': netns}


def pick_task(container_ids, tasks, kinds):
    """The running container whose network namespace to enter: the pod sandbox
    when it runs (it holds the namespace), else the first running container.
    kinds maps container id -> io.cri-containerd.kind label (may be missing).
    Returns (container id, pid) or (None, reason)."""
    running = [cid for cid in container_ids if tasks.get(cid, {}).get('status') == 'RUNNING']
    if not running:
        if not container_ids:
            return None, 'no container with these labels'
        return None, '%d container(s) with these labels, none with a running task (%s)' % (
            len(container_ids), ', '.join('%s %s' % (cid, tasks.get(cid, {}).get('status', 'no task'))
                                          for cid in container_ids))
    sandboxes = [cid for cid in running if kinds.get(cid) == 'sandbox']
    chosen = (sandboxes or running)[0]
    return chosen, tasks[chosen]['pid']


def _load_json_list(text, what):
    try:
        data = json.loads(text)
    except ValueError as e:
        raise NetdiagParseError('%s is not JSON: %s' % (what, e))
    if not isinstance(data, list):
        raise NetdiagParseError('%s is not a JSON list' % what)
    return data


def parse_link_stats(text):
    """`ip -s -s -j -d link show`: ifname -> mtu, state, kind and rx_*/tx_* counters."""
    links = {}
    for link in _load_json_list(text, 'ip -s -j link'):
        if not isinstance(link, dict) or 'ifname' not in link:
            raise NetdiagParseError('ip -s -j link entry without ifname: %r' % (link,))
        entry = {'mtu': link.get('mtu'), 'operstate': link.get('operstate'),
                 'kind': (link.get('linkinfo') or {}).get('info_kind')}
        stats = link.get('stats64') or link.get('stats') or {}
        for direction in ('rx', 'tx'):
            for name, value in (stats.get(direction) or {}).items():
                if isinstance(value, int):
                    entry['%s_%s' % (direction, name)] = value
        links[link['ifname']] = entry
    return links


def parse_addresses(text):
    """`ip -j addr show`: ifname -> ['10.0.0.5/24', ...] (link-local IPv6 left out)."""
    addresses = {}
    for link in _load_json_list(text, 'ip -j addr'):
        if not isinstance(link, dict) or 'ifname' not in link:
            raise NetdiagParseError('ip -j addr entry without ifname: %r' % (link,))
        addresses[link['ifname']] = ['%s/%s' % (a['local'], a['prefixlen']) for a in link.get('addr_info') or []
                                     if 'local' in a and a.get('scope') != 'link']
    return addresses


def parse_default_route(text):
    """`ip -j route show table all`: the main table's default route as
    {'dev', 'gateway', 'mtu'} (mtu None without an mtu metric), or None."""
    for route in _load_json_list(text, 'ip -j route'):
        if not isinstance(route, dict):
            raise NetdiagParseError('ip -j route entry is not an object: %r' % (route,))
        if route.get('dst') == 'default' and route.get('table', 'main') == 'main' and 'type' not in route:
            mtu = None
            for metric in route.get('metrics') or []:
                if isinstance(metric, dict) and 'mtu' in metric:
                    mtu = metric['mtu']
            return {'dev': route.get('dev'), 'gateway': route.get('gateway'), 'mtu': mtu}
    return None


def pod_mtu(counters):
    """(device, MTU, where it comes from) of what a pod sends by default: Cilium
    lowers the default route's mtu in tunnel mode and leaves eth0 at the base
    MTU, so the route wins over the link. None when there is no default route."""
    route = counters.get('default_route')
    if not route or not route.get('dev'):
        return None
    if route.get('mtu'):
        return route['dev'], route['mtu'], 'default route mtu'
    link = (counters.get('links') or {}).get(route['dev']) or {}
    if not link.get('mtu'):
        return None
    return route['dev'], link['mtu'], 'link MTU, the default route sets none'


def parse_snmp(text):
    """/proc/net/snmp or /proc/net/netstat: {'Ip': {'InDiscards': 0, ...}, ...}
    (pairs of lines: a header with names, then one with the values)."""
    tables = {}
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) % 2:
        raise NetdiagParseError('odd number of lines (%d): a header or value line is missing' % len(lines))
    for header, values in zip(lines[0::2], lines[1::2]):
        proto, _sep, names = header.partition(':')
        proto2, _sep, numbers = values.partition(':')
        names, numbers = names.split(), numbers.split()
        if proto != proto2 or len(names) != len(numbers):
            raise NetdiagParseError('%s: header and values do not match (%d names, %d values for %s)'
                                    % (proto, len(names), len(numbers), proto2))
        try:
            tables.setdefault(proto, {}).update((n, int(v)) for n, v in zip(names, numbers))
        except ValueError:
            raise NetdiagParseError('%s: a value is not a number' % proto)
    return tables


def parse_softnet(text):
    """/proc/net/softnet_stat: per CPU line, hex; column 2 is packets dropped
    because the backlog was full, column 3 the times the budget ran out."""
    rows = []
    for index, line in enumerate(text.splitlines()):
        if not line.strip():
            continue
        fields = line.split()
        if len(fields) < 3:
            raise NetdiagParseError('softnet_stat line %d has %d columns, at least 3 expected' % (index, len(fields)))
        try:
            rows.append({'cpu': index, 'processed': int(fields[0], 16), 'dropped': int(fields[1], 16),
                         'time_squeeze': int(fields[2], 16)})
        except ValueError:
            raise NetdiagParseError('softnet_stat line %d is not hexadecimal' % index)
    return rows


def parse_conntrack_stats(text):
    """`conntrack -S`: the per-CPU counters summed."""
    totals = {}
    for line in text.splitlines():
        for field in line.split():
            name, sep, value = field.partition('=')
            if sep and name == 'cpu':
                continue
            if not sep or not value.isdigit():
                raise NetdiagParseError('conntrack -S field %r is not name=number' % field)
            totals[name] = totals.get(name, 0) + int(value)
    if not totals:
        raise NetdiagParseError('conntrack -S printed no counters')
    return totals


def parse_int(text, what):
    try:
        return int(text.strip())
    except ValueError:
        raise NetdiagParseError('%s: %r is not a number' % (what, text.strip()[:40]))


def parse_ethtool_stats(text):
    """`ethtool -S DEV`: counter name -> value."""
    lines = text.splitlines()
    if not lines or not lines[0].startswith('NIC statistics'):
        raise NetdiagParseError('ethtool -S output does not start with "NIC statistics:"')
    stats = {}
    for line in lines[1:]:
        name, sep, value = line.strip().rpartition(':')
        if not sep:
            continue
        try:
            stats[name.strip()] = int(value)
        except ValueError:
            raise NetdiagParseError('ethtool -S line %r has no number' % line.strip())
    return stats


QDISC_FIELDS = ('dev', 'kind', 'handle', 'drops', 'overlimits', 'requeues', 'backlog', 'qlen')


def parse_qdiscs(text):
    """`tc -s -j qdisc show`: dev, kind, handle and the loss counters."""
    qdiscs = []
    for qdisc in _load_json_list(text, 'tc -s -j qdisc'):
        if not isinstance(qdisc, dict) or 'dev' not in qdisc:
            raise NetdiagParseError('tc qdisc entry without dev: %r' % (qdisc,))
        qdiscs.append(dict((k, qdisc.get(k)) for k in QDISC_FIELDS))
    return qdiscs


_IPT_RULE = re.compile(r'^\[(\d+):(\d+)\] -A (\S+) (.*)$')
_IPT_POLICY = re.compile(r'^:(\S+) (ACCEPT|DROP) \[(\d+):(\d+)\]$')


def parse_iptables_drops(text):
    """`iptables-save -c`: DROP/REJECT rules and DROP policies that matched packets."""
    drops = []
    table = None
    for line in text.splitlines():
        line = line.strip()
        if line.startswith('*'):
            table = line[1:]
            continue
        policy = _IPT_POLICY.match(line)
        if policy and policy.group(2) == 'DROP' and int(policy.group(3)):
            drops.append({'table': table, 'chain': policy.group(1), 'rule': 'policy DROP',
                          'packets': int(policy.group(3)), 'bytes': int(policy.group(4))})
            continue
        rule = _IPT_RULE.match(line)
        if rule and int(rule.group(1)) and re.search(r'-j (DROP|REJECT)\b', rule.group(4)):
            drops.append({'table': table, 'chain': rule.group(3), 'rule': rule.group(4),
                          'packets': int(rule.group(1)), 'bytes': int(rule.group(2))})
    return drops


_NFT_TABLE = re.compile(r'^table (\S+) (\S+) \{')
_NFT_CHAIN = re.compile(r'^chain (\S+) \{')
_NFT_COUNTER = re.compile(r'counter packets (\d+) bytes (\d+)')
_NFT_VERDICT = re.compile(r'\b(drop|reject)\b')


def parse_nft_drops(text):
    """`nft list ruleset`: drop/reject rules with a counter that matched packets."""
    drops = []
    table = chain = None
    for line in text.splitlines():
        line = line.strip()
        match = _NFT_TABLE.match(line)
        if match:
            table = '%s %s' % match.groups()
            continue
        match = _NFT_CHAIN.match(line)
        if match:
            chain = match.group(1)
            continue
        counter = _NFT_COUNTER.search(line)
        if counter and int(counter.group(1)) and _NFT_VERDICT.search(line[counter.end():]):
            drops.append({'table': table, 'chain': chain, 'rule': line,
                          'packets': int(counter.group(1)), 'bytes': int(counter.group(2))})
    return drops


_STANDARD_TABLES = ('filter', 'nat', 'mangle', 'raw', 'security')


def firewall_drops(iptables_save, ip6tables_save, nft_ruleset):
    """Rules that dropped packets, from whichever outputs there are (None: not
    collected). iptables-nft shows its rules in the nft ruleset too: those
    tables are taken from iptables-save only, so nothing is counted twice."""
    drops = []
    skip_families = []
    for text, family, name in ((iptables_save, 'ip', 'iptables'), (ip6tables_save, 'ip6', 'ip6tables')):
        if text is None:
            continue
        for drop in parse_iptables_drops(text):
            drop['source'] = name
            drops.append(drop)
        if '(nf_tables)' in text:
            skip_families.append(family)
    if nft_ruleset is not None:
        for drop in parse_nft_drops(nft_ruleset):
            family, _sep, table = (drop['table'] or '').partition(' ')
            if family in skip_families and table in _STANDARD_TABLES:
                continue
            drop['source'] = 'nft'
            drops.append(drop)
    return drops


def snmp_drops(tables):
    """Non-zero loss counters from parsed snmp/netstat tables, 'Proto.Name' -> value."""
    found = {}
    for proto, names in SNMP_DROPS.items():
        for name in names:
            value = tables.get(proto, {}).get(name)
            if value:
                found['%s.%s' % (proto, name)] = value
    return found


def link_drops(links):
    """Non-zero loss counters per link: ifname -> {counter: value}."""
    found = {}
    for name, link in sorted(links.items()):
        nonzero = dict((k, link[k]) for k in LINK_DROPS if link.get(k))
        if nonzero:
            found[name] = nonzero
    return found


def ethtool_drops(stats):
    return dict((k, v) for k, v in sorted(stats.items()) if v and ETHTOOL_DROP.search(k))


def _join(counters):
    return ', '.join('%s %s' % (k, v) for k, v in sorted(counters.items()))


def netns_findings(where, counters):
    """Drop findings of one network namespace (the node's or a pod's)."""
    found = []
    for name, nonzero in sorted(link_drops(counters.get('links') or {}).items()):
        found.append(('drops', '%s link %s: %s' % (where, name, _join(nonzero))))
    nonzero = snmp_drops(counters.get('snmp') or {})
    if nonzero:
        found.append(('drops', '%s kernel counters (snmp/netstat): %s' % (where, _join(nonzero))))
    return found


def node_findings(node, collected, path_mtu, conntrack_warn_pct):
    """Findings of one node as (kind, text) pairs."""
    found = []
    counters = collected.get('counters') or {}
    found.extend(netns_findings('node', counters))
    for row in counters.get('softnet') or []:
        if row['dropped']:
            found.append(('drops', 'node CPU %d: %d packets dropped with a full backlog '
                                   '(softnet_stat; raise net.core.netdev_max_backlog)' % (row['cpu'], row['dropped'])))
    for qdisc in counters.get('qdiscs') or []:
        if qdisc.get('drops'):
            found.append(('drops', 'node qdisc %s %s on %s: %d drops' % (
                qdisc['kind'], qdisc['handle'], qdisc['dev'], qdisc['drops'])))
    for nic, stats in sorted((counters.get('ethtool') or {}).items()):
        nonzero = ethtool_drops(stats)
        if nonzero:
            found.append(('drops', 'node NIC %s (ethtool -S): %s' % (nic, _join(nonzero))))
    for drop in counters.get('firewall_drops') or []:
        found.append(('drops', 'node firewall %s %s: %d packets dropped by %s' % (
            drop['table'], drop['chain'], drop['packets'], drop['rule'])))
    conntrack = counters.get('conntrack') or {}
    if conntrack.get('max') and conntrack.get('count') is not None:
        pct = 100.0 * conntrack['count'] / conntrack['max']
        if pct >= conntrack_warn_pct:
            found.append(('conntrack', 'node conntrack table %d of %d entries (%.0f%%, warning at %s%%): new flows are '
                                       'dropped when it is full' % (conntrack['count'], conntrack['max'], pct,
                                                                    conntrack_warn_pct)))
    nonzero = dict((k, v) for k, v in (conntrack.get('stats') or {}).items() if k in CONNTRACK_DROPS and v)
    if nonzero:
        found.append(('conntrack', 'node conntrack -S: %s' % _join(nonzero)))
    cilium = collected.get('cilium') or {}
    if not cilium.get('running'):
        found.append(('cilium', 'Cilium agent is not running on this node: %s' % cilium.get('detail', 'unknown')))
    max_pod_mtu = None
    if path_mtu:
        for problem in path_mtu.get('problems') or []:
            found.append(('mtu', problem))
        pod_mtus = [peer.get('max_pod_mtu') for peer in (path_mtu.get('peers') or {}).values()
                    if peer.get('max_pod_mtu')]
        max_pod_mtu = min(pod_mtus) if pod_mtus else None
    for key, pod in sorted((collected.get('pods') or {}).items()):
        if not pod.get('found'):
            found.append(('pod', 'pod %s not found: %s' % (key, pod.get('reason'))))
            continue
        pod_counters = pod.get('counters') or {}
        found.extend(netns_findings('pod %s' % key, pod_counters))
        sends = pod_mtu(pod_counters)
        if sends and max_pod_mtu and sends[1] > max_pod_mtu:
            found.append(('mtu', 'pod %s sends up to %d bytes on %s (%s), above %d, the largest pod MTU the paths '
                                 'from this node carry: large packets are dropped or fragmented'
                                 % (key, sends[1], sends[0], sends[2], max_pod_mtu)))
    return found


def build_summary(region, created, hosts, conntrack_warn_pct):
    """summary.json: per node what was collected, what failed and why, and the findings.
    hosts maps node -> {'collect': module result or None, 'path_mtu': result or None, 'reason': str}."""
    nodes = {}
    findings = []
    for node in sorted(hosts):
        entry = hosts[node]
        collected = entry.get('collect')
        if not collected or collected.get('failed') or 'outputs' not in (collected or {}):
            reason = entry.get('reason') or (collected or {}).get('msg') or 'no result from the node'
            nodes[node] = {'collected': False, 'reason': reason}
            findings.append({'node': node, 'kind': 'collection', 'text': 'nothing collected: %s' % reason})
            continue
        counts = dict((status, 0) for status in STATUSES)
        not_collected = []
        for output in collected['outputs']:
            counts[output['status']] += 1
            if output['status'] != OK:
                not_collected.append('%s: %s' % (output['file'], output['reason']))
        not_collected.extend(collected.get('parse_errors') or [])
        path_mtu = entry.get('path_mtu')
        mtu = None
        if path_mtu is not None:
            if path_mtu.get('skipped'):
                mtu = {'skipped': path_mtu.get('skip_reason') or 'skipped'}
            elif 'peers' not in path_mtu:
                not_collected.append('path-mtu.json: %s' % (path_mtu.get('msg') or 'path_mtu returned nothing'))
                path_mtu = None
            else:
                mtu = dict((peer, dict((k, report.get(k)) for k in (
                    'path_mtu', 'interface', 'interface_mtu', 'max_pod_mtu', 'problems')))
                    for peer, report in path_mtu['peers'].items())
        pods = {}
        for key, pod in (collected.get('pods') or {}).items():
            pods[key] = dict((k, v) for k, v in pod.items() if k != 'counters')
            if pod.get('found'):
                pod_counters = pod.get('counters') or {}
                pods[key]['addresses'] = pod_counters.get('addresses')
                sends = pod_mtu(pod_counters)
                pods[key]['mtu'] = {'device': sends[0], 'mtu': sends[1], 'from': sends[2]} if sends else None
        counters = collected.get('counters') or {}
        nodes[node] = {
            'collected': True,
            'hostname': collected.get('hostname'),
            'kernel': collected.get('kernel'),
            'seconds': collected.get('seconds'),
            'commands': counts,
            'not_collected': not_collected,
            'cilium': collected.get('cilium'),
            'pods': pods,
            'addresses': counters.get('addresses'),
            'conntrack': counters.get('conntrack'),
            'path_mtu': mtu,
        }
        for kind, text in node_findings(node, collected, path_mtu if path_mtu and 'peers' in path_mtu else None,
                                        conntrack_warn_pct):
            findings.append({'node': node, 'kind': kind, 'text': text})
    return {'region': region, 'created': created, 'conntrack_warn_pct': conntrack_warn_pct,
            'nodes': nodes, 'findings': findings}


def render_readme(summary, bundle_name):
    """summary.txt: what a person reads first."""
    nodes = summary['nodes']
    lines = [
        'netdiag support bundle %s' % bundle_name,
        'region %s, created %s, %d node(s)' % (summary['region'], summary['created'], len(nodes)),
        '',
        'Read this first, then summary.json (the same in JSON), then a node directory:',
        '  NODE/commands.json        every command run: argv, exit code, seconds, status, why it failed',
        '  NODE/host/                raw outputs of the node (ip, ss, nstat, tc, nft, iptables, conntrack, ethtool)',
        '  NODE/pods/NS_NAME/        the same taken inside the pod\'s network namespace (nsenter)',
        '  NODE/cilium/status.txt    cilium-dbg status --verbose from the agent, or why there is none',
        '  NODE/cilium/bpf-metrics.txt  the datapath\'s drop and forward counters (cilium-dbg bpf metrics list)',
        '  NODE/containerd/          how the pods and the agent were looked up (ctr)',
        '  NODE/path-mtu.json        path MTU to every other node of the run',
        '',
    ]
    findings = summary['findings']
    lines.append('FINDINGS (%d)' % len(findings))
    if not findings:
        lines.append('  none: no drop counter above zero, conntrack below its warning level, no MTU problem')
    for finding in findings:
        lines.append('  [%s] %s: %s' % (finding['kind'], finding['node'], finding['text']))
    lines.extend(['', 'COLLECTED'])
    for node, entry in sorted(nodes.items()):
        if not entry['collected']:
            lines.append('  %s: nothing collected: %s' % (node, entry['reason']))
            continue
        counts = entry['commands']
        lines.append('  %s: %d outputs in %ss (%d failed, %d timed out, %d tools missing, %d skipped)' % (
            node, sum(counts.values()), entry.get('seconds'), counts[FAILED], counts[TIMEOUT], counts[MISSING],
            counts[SKIPPED]))
        cilium = entry.get('cilium') or {}
        lines.append('    cilium: %s' % ('agent running (%s)' % cilium.get('detail') if cilium.get('running')
                                         else 'NOT RUNNING: %s' % cilium.get('detail')))
        for key, pod in sorted(entry['pods'].items()):
            if pod.get('found'):
                addresses = sorted(a for name, addrs in (pod.get('addresses') or {}).items() if name != 'lo'
                                   for a in addrs)
                lines.append('    pod %s: container %s, pid %s, addresses %s' % (
                    key, pod.get('container'), pod.get('pid'), ', '.join(addresses) or 'none'))
            else:
                lines.append('    pod %s: NOT FOUND: %s' % (key, pod.get('reason')))
        mtu = entry.get('path_mtu')
        if mtu and 'skipped' not in mtu:
            for peer, report in sorted(mtu.items()):
                lines.append('    path MTU to %s: %s (interface %s MTU %s)' % (
                    peer, report.get('path_mtu'), report.get('interface'), report.get('interface_mtu')))
        elif mtu:
            lines.append('    path MTU: not measured (%s)' % mtu['skipped'])
    lines.extend(['', 'NOT COLLECTED (and why)'])
    missing = [(node, item) for node, entry in sorted(nodes.items()) if entry['collected']
               for item in entry['not_collected']]
    if not missing:
        lines.append('  nothing: every command answered')
    for node, item in missing:
        lines.append('  %s %s' % (node, item))
    return '\n'.join(lines) + '\n'
