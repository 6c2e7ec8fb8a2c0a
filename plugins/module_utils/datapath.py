# -*- coding: utf-8 -*-
# Copyright: (c) 2026, packetjungle.datapath contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Node-side datapath checks for a kube-proxy-free Cilium node: parsers and verdicts, all pure.

Each check_* function returns ``{'status': ..., 'detail': ...}`` with status one of ok, problem,
not_applicable or cannot_check; a check that could not look never says ok.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import re

OK = 'ok'
PROBLEM = 'problem'
NOT_APPLICABLE = 'not_applicable'
CANNOT_CHECK = 'cannot_check'
STATUSES = (OK, PROBLEM, NOT_APPLICABLE, CANNOT_CHECK)

# Chains only kube-proxy creates. kubelet alone creates KUBE-FIREWALL, KUBE-KUBELET-CANARY and
# KUBE-IPTABLES-HINT, so those say nothing about kube-proxy.
KUBE_PROXY_CHAINS = ('KUBE-SERVICES', 'KUBE-NODEPORTS')
# kube-proxy in nftables mode (Kubernetes 1.29+) keeps everything in its own table.
KUBE_PROXY_NFT_TABLE = 'kube-proxy'
KUBE_PROXY_COMM = 'kube-proxy'
BPFFS_PATH = '/sys/fs/bpf'
TUNNEL_DEVICES = {'vxlan': 'cilium_vxlan', 'geneve': 'cilium_geneve'}

NFT_TABLE_RE = re.compile(r'^table\s+(\S+)\s+(\S+)\s*\{')
NFT_CHAIN_RE = re.compile(r'^\s+chain\s+(\S+)\s*\{')


def verdict(status, detail):
    return {'status': status, 'detail': detail}


def parse_iptables_save(text):
    """Table name to the list of chain names declared in ``iptables-save`` output."""
    tables = {}
    table = None
    for line in text.splitlines():
        if line.startswith('*'):
            table = line[1:].strip()
            tables.setdefault(table, [])
        elif line.startswith(':') and table is not None and line[1:].strip():
            tables[table].append(line[1:].split()[0])
        elif line == 'COMMIT':
            table = None
    return tables


def parse_nft_ruleset(text):
    """'family name' of each table in ``nft list ruleset`` output to its chain names."""
    tables = {}
    table = None
    for line in text.splitlines():
        match = NFT_TABLE_RE.match(line)
        if match:
            table = '%s %s' % match.groups()
            tables.setdefault(table, [])
            continue
        match = NFT_CHAIN_RE.match(line)
        if match and table is not None:
            tables[table].append(match.group(1))
    return tables


def kube_proxy_rules(sources):
    """Where kube-proxy's rules are, from {source name: tables} as the two parsers return them.

    Source names are the commands (``iptables-save``, ``nft list ruleset``); tables map to chain lists.
    """
    found = []
    for source in sorted(sources):
        for table, chains in sorted(sources[source].items()):
            hits = [c for c in KUBE_PROXY_CHAINS if c in chains]
            if hits:
                found.append('%s in %s table %s' % (', '.join(hits), source, table))
            # nft names tables "family name"; iptables-save tables have no family.
            if table.split(' ', 1)[-1] == KUBE_PROXY_NFT_TABLE and ' ' in table:
                found.append('nftables table %s (kube-proxy nftables mode) in %s' % (table, source))
    return found


def check_kube_proxy_rules(sources, failures):
    """Verdict on kube-proxy's rules; ``failures`` lists commands that exist but failed, with why."""
    if not sources:
        if failures:
            return verdict(CANNOT_CHECK, 'could not read the rules: %s' % '; '.join(failures))
        return verdict(CANNOT_CHECK, 'neither iptables-save nor nft is installed')
    found = kube_proxy_rules(sources)
    read = ', '.join(sorted(sources))
    not_read = ' (not read: %s)' % '; '.join(failures) if failures else ''
    if found:
        return verdict(PROBLEM, 'kube-proxy rules present: %s; remove them (iptables-save | grep -v KUBE | '
                                'iptables-restore) once kube-proxy is gone%s' % ('; '.join(found), not_read))
    return verdict(OK, 'no %s chains and no nftables table %s (read: %s)%s'
                   % ('/'.join(KUBE_PROXY_CHAINS), KUBE_PROXY_NFT_TABLE, read, not_read))


def kube_proxy_pids(comm_by_pid):
    """Sorted pids whose /proc/PID/comm is kube-proxy; comm_by_pid maps pid (int) to the comm text."""
    return sorted(pid for pid, comm in comm_by_pid.items() if comm.strip() == KUBE_PROXY_COMM)


def check_kube_proxy_process(comm_by_pid):
    if not comm_by_pid:
        return verdict(CANNOT_CHECK, 'no process could be read from /proc')
    pids = kube_proxy_pids(comm_by_pid)
    if pids:
        return verdict(PROBLEM, 'kube-proxy is running (pid %s); with Cilium kube-proxy replacement both NAT '
                                'service traffic' % ', '.join(str(p) for p in pids))
    return verdict(OK, 'no kube-proxy process among %d processes' % len(comm_by_pid))


def _unescape_mount_field(field):
    # /proc/mounts writes space, tab, newline and backslash as octal escapes.
    return re.sub(r'\\([0-7]{3})', lambda m: chr(int(m.group(1), 8)), field)


def parse_mounts(text):
    """List of {source, target, fstype, options} from /proc/mounts, in mount order."""
    mounts = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 4:
            continue
        mounts.append({'source': _unescape_mount_field(fields[0]), 'target': _unescape_mount_field(fields[1]),
                       'fstype': fields[2], 'options': fields[3]})
    return mounts


def check_bpffs(mounts, path=BPFFS_PATH):
    if not mounts:
        return verdict(CANNOT_CHECK, 'no mounts could be read from /proc/mounts')
    # The last mount on a path hides the earlier ones.
    here = [m for m in mounts if m['target'] == path]
    if here and here[-1]['fstype'] == 'bpf':
        return verdict(OK, 'bpf filesystem mounted at %s (%s)' % (path, here[-1]['options']))
    elsewhere = [m['target'] for m in mounts if m['fstype'] == 'bpf']
    detail = 'no bpf filesystem at %s' % path
    if here:
        detail += ' (%s is mounted there)' % here[-1]['fstype']
    if elsewhere:
        detail += '; bpf is mounted at %s' % ', '.join(elsewhere)
    return verdict(PROBLEM, detail + ': Cilium\'s pinned maps do not survive an agent restart')


class LinkParseError(ValueError):
    pass


def parse_links(text):
    """Interface name to {mtu, kind, operstate, link} from ``ip -j -d link show``."""
    try:
        data = json.loads(text)
    except ValueError as e:
        raise LinkParseError('ip -j -d link show printed no JSON (%s)' % e)
    if not isinstance(data, list):
        raise LinkParseError('ip -j -d link show printed %s, expected a list' % type(data).__name__)
    links = {}
    for entry in data:
        if not isinstance(entry, dict) or not isinstance(entry.get('ifname'), str):
            raise LinkParseError('ip -j -d link show printed an entry without ifname: %r' % (entry,))
        info = entry.get('linkinfo') if isinstance(entry.get('linkinfo'), dict) else {}
        links[entry['ifname']] = {
            'mtu': entry.get('mtu') if isinstance(entry.get('mtu'), int) else None,
            'kind': info.get('info_kind'),
            'operstate': entry.get('operstate'),
            'peer': entry.get('link'),
        }
    return links


def check_cilium_interfaces(links, tunnel):
    """cilium_host and cilium_net present with one MTU, plus the tunnel device when tunnel is vxlan/geneve.

    Cilium puts its device MTU on cilium_host, cilium_net and the tunnel device alike (pkg/mtu);
    pods get the overlay-reduced MTU on their routes, not on these devices.
    """
    wanted = ['cilium_host', 'cilium_net']
    if tunnel in TUNNEL_DEVICES:
        wanted.append(TUNNEL_DEVICES[tunnel])
    missing = [n for n in wanted if n not in links]
    present = ['%s mtu %s' % (n, links[n]['mtu']) for n in wanted if n in links]
    others = [n for n in sorted(TUNNEL_DEVICES.values()) if n in links and n not in wanted]
    extra = ' (also present: %s)' % ', '.join('%s mtu %s' % (n, links[n]['mtu']) for n in others) if others else ''
    if missing:
        detail = '%s missing' % ', '.join(missing)
        if 'cilium_host' in missing:
            detail += ': the Cilium agent has not set up this node'
        if present:
            detail += '; present: %s' % ', '.join(present)
        return verdict(PROBLEM, detail + extra)
    mtus = set(links[n]['mtu'] for n in wanted)
    if len(mtus) > 1:
        return verdict(PROBLEM, 'MTUs differ: %s; Cilium gives these devices one MTU, so a device was changed by '
                                'hand or the agent did not finish' % ', '.join(present) + extra)
    return verdict(OK, '%s%s' % (', '.join(present), extra))


def summarise(checks):
    """Problems as 'name: detail' and a count per status."""
    problems = ['%s: %s' % (name, c['detail']) for name, c in checks.items() if c['status'] == PROBLEM]
    counts = dict((s, 0) for s in STATUSES)
    for c in checks.values():
        counts[c['status']] += 1
    return problems, counts
