# -*- coding: utf-8 -*-
# Copyright: (c) 2026, packetjungle.datapath contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Parsers and decisions for kernel modules, kernel config, swap and virtualisation.

The parsers take the text of /proc and /sys files or command output; KernelView reads
those files relative to a root directory so unit tests can hand it a fake tree.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import gzip
import os
import re

# Module name -> CONFIG symbol (without the CONFIG_ prefix) that builds it.
MODULE_CONFIG_SYMBOLS = {
    'overlay': 'OVERLAY_FS',
    'br_netfilter': 'BRIDGE_NETFILTER',
    'bridge': 'BRIDGE',
    'sch_fq': 'NET_SCH_FQ',
    'sch_fq_codel': 'NET_SCH_FQ_CODEL',
    'sch_netem': 'NET_SCH_NETEM',
    'tcp_bbr': 'TCP_CONG_BBR',
    'nf_conntrack': 'NF_CONNTRACK',
    'vxlan': 'VXLAN',
    'geneve': 'GENEVE',
    'ip_vs': 'IP_VS',
    'veth': 'VETH',
    'dummy': 'DUMMY',
}

# What a built-in feature shows even without /sys/module/NAME.
FEATURE_PATHS = {
    'br_netfilter': 'proc/sys/net/bridge',
    'nf_conntrack': 'proc/sys/net/netfilter/nf_conntrack_max',
    'ip_vs': 'proc/net/ip_vs',
}

# Symbols kernel_info reports by default (host-tuning facts A5 plus what the roles detect).
DEFAULT_CONFIG_SYMBOLS = (
    'MODULES', 'OVERLAY_FS', 'BRIDGE_NETFILTER', 'NF_CONNTRACK', 'NET_SCH_FQ', 'NET_SCH_FQ_CODEL',
    'NET_SCH_NETEM', 'TCP_CONG_BBR', 'NET_RX_BUSY_POLL', 'RPS', 'XPS', 'NET_FLOW_LIMIT', 'HALTPOLL_CPUIDLE',
    'INOTIFY_USER', 'VXLAN', 'GENEVE', 'FIB_RULES', 'NETFILTER_XT_MATCH_COMMENT', 'IP_VS', 'BPF_JIT',
    'CGROUP_BPF', 'NET_CLS_BPF', 'NET_ACT_BPF', 'SWAP',
)

CONTAINER_TYPES = frozenset((
    'container-other', 'docker', 'lxc', 'lxc-libvirt', 'openvz', 'podman', 'pouch', 'proot', 'rkt',
    'systemd-nspawn', 'wsl',
))

DMI_VENDORS = (
    ('qemu', 'qemu'), ('kvm', 'kvm'), ('vmware', 'vmware'), ('virtualbox', 'oracle'), ('innotek', 'oracle'),
    ('xen', 'xen'), ('microsoft', 'microsoft'), ('amazon ec2', 'amazon'), ('google', 'google'),
    ('bochs', 'bochs'), ('parallels', 'parallels'),
)

FSTAB_MARKER = '# disabled by packetjungle.datapath: '

_CONFIG_SET_RE = re.compile(r'^(CONFIG_[A-Za-z0-9_]+)=(.*)$')
_CONFIG_UNSET_RE = re.compile(r'^# (CONFIG_[A-Za-z0-9_]+) is not set$')
_MODULE_NAME_RE = re.compile(r'^[A-Za-z0-9_-]+$')


def module_key(name):
    """The kernel treats '-' and '_' in module names alike; /proc/modules prints '_'."""
    return name.replace('-', '_')


def valid_module_name(name):
    return bool(_MODULE_NAME_RE.match(name))


def parse_proc_modules(text):
    """Names from /proc/modules ("name size refcount deps state address")."""
    names = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 3 and fields[1].isdigit():
            names.append(module_key(fields[0]))
    return names


def parse_modules_builtin(text):
    """Names from modules.builtin ("kernel/fs/overlayfs/overlay.ko")."""
    names = set()
    for line in text.splitlines():
        line = line.strip()
        if line.endswith('.ko'):
            names.add(module_key(os.path.basename(line)[:-3]))
    return names


def parse_filesystems(text):
    """Filesystem names from /proc/filesystems ("nodev\tproc" or "\text4")."""
    names = set()
    for line in text.splitlines():
        fields = line.split()
        if fields:
            names.add(fields[-1])
    return names


def parse_kernel_config(text):
    """CONFIG_X -> 'y' | 'm' | string value, or None for '# CONFIG_X is not set'."""
    config = {}
    for line in text.splitlines():
        line = line.strip()
        match = _CONFIG_SET_RE.match(line)
        if match:
            value = match.group(2)
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            config[match.group(1)] = value
            continue
        match = _CONFIG_UNSET_RE.match(line)
        if match:
            config[match.group(1)] = None
    return config


def config_symbols(config, symbols):
    """Selected symbols -> y/m/value or None (not set, or not in the config); None overall without a config."""
    if config is None:
        return None
    result = {}
    for symbol in symbols:
        key = symbol if symbol.startswith('CONFIG_') else 'CONFIG_' + symbol
        result[key] = config.get(key)
    return result


def _unescape_octal(text):
    # /proc/swaps and /proc/self/mountinfo escape space, tab, newline and backslash as \ooo.
    return re.sub(r'\\([0-7]{3})', lambda m: chr(int(m.group(1), 8)), text)


def parse_proc_swaps(text):
    """Active swap areas from /proc/swaps; the header and malformed lines are ignored."""
    entries = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) != 5:
            continue
        try:
            size, used, priority = int(fields[2]), int(fields[3]), int(fields[4])
        except ValueError:
            continue
        entries.append({'filename': _unescape_octal(fields[0]), 'type': fields[1],
                        'size_kib': size, 'used_kib': used, 'priority': priority})
    return entries


def parse_environ(data):
    """NUL-separated KEY=VALUE pairs (/proc/PID/environ)."""
    if isinstance(data, bytes):
        data = data.decode('utf-8', 'replace')
    env = {}
    for item in data.split('\0'):
        if '=' in item:
            key, value = item.split('=', 1)
            env[key] = value
    return env


def parse_cpuinfo_flags(text):
    for line in text.splitlines():
        key, sep, value = line.partition(':')
        if sep and key.strip() == 'flags':
            return set(value.split())
    return set()


def parse_mountinfo(text):
    """Mounts from /proc/self/mountinfo: mount_point, mount_options, fstype, super_options."""
    mounts = []
    for line in text.splitlines():
        left, sep, right = line.partition(' - ')
        fields, tail = left.split(), right.split()
        if not sep or len(fields) < 6 or len(tail) < 3:
            continue
        mounts.append({'mount_point': _unescape_octal(fields[4]), 'mount_options': fields[5].split(','),
                       'fstype': tail[0], 'super_options': tail[2].split(',')})
    return mounts


def mount_for(path, mounts):
    """The mount that covers path: the last (most recent) mount with the longest matching mount point."""
    best = None
    for mount in mounts:
        point = mount['mount_point']
        if path == point or path.startswith(point.rstrip('/') + '/'):
            if best is None or len(point) >= len(best['mount_point']):
                best = mount
    return best


def classify_virtualization(kind):
    if not kind or kind == 'none':
        return 'none'
    return 'container' if kind in CONTAINER_TYPES else 'vm'


def container_from_evidence(dockerenv, containerenv, pid1_environ, run_systemd_container):
    """Container type from the files container engines leave behind; None when nothing says container."""
    if run_systemd_container:
        return run_systemd_container.strip() or 'container-other'
    if pid1_environ and pid1_environ.get('container'):
        return pid1_environ['container']
    if dockerenv:
        return 'docker'
    if containerenv:
        return 'podman'
    return None


def vm_from_evidence(sys_vendor, product_name, cpu_flags, clocksources):
    """Hypervisor from DMI strings, else the cpuinfo `hypervisor` flag (kvm when kvm-clock is offered)."""
    for text in (sys_vendor or '', product_name or ''):
        lowered = text.lower()
        for needle, kind in DMI_VENDORS:
            if needle in lowered:
                return kind
    if 'hypervisor' in cpu_flags:
        return 'kvm' if 'kvm-clock' in (clocksources or '').split() else 'vm-other'
    return None


def builtin_evidence(name, filesystems, existing_paths, config, cc_available):
    """Signs that a feature is built into a kernel without loadable modules.

    existing_paths: the root-relative paths (sys/module/NAME and FEATURE_PATHS) that exist.
    Returns a list of human-readable evidence, empty when nothing shows the feature.
    """
    key = module_key(name)
    evidence = []
    if key == 'overlay' and 'overlay' in filesystems:
        evidence.append('overlay is in /proc/filesystems')
    if key == 'tcp_bbr' and 'bbr' in cc_available:
        evidence.append('bbr is in tcp_available_congestion_control')
    feature_path = FEATURE_PATHS.get(key)
    if feature_path and feature_path in existing_paths:
        evidence.append('/%s exists' % feature_path)
    if 'sys/module/' + key in existing_paths:
        evidence.append('/sys/module/%s exists' % key)
    symbol = MODULE_CONFIG_SYMBOLS.get(key)
    if symbol and config is not None and config.get('CONFIG_' + symbol) == 'y':
        evidence.append('CONFIG_%s=y' % symbol)
    return evidence


def missing_reason(name, config, config_source):
    """Why a feature is neither built in nor loadable on a kernel without module support."""
    key = module_key(name)
    symbol = MODULE_CONFIG_SYMBOLS.get(key)
    base = 'kernel has no loadable-module support and %s is not built in' % name
    if symbol and config is not None:
        value = config.get('CONFIG_' + symbol)
        state = ' is not set' if value is None else '=%s' % value
        return '%s (CONFIG_%s%s in %s)' % (base, symbol, state, config_source)
    if config is None:
        return '%s (no sign of it in /proc or /sys, and no kernel config to check)' % base
    return '%s (no sign of it in /proc or /sys; no CONFIG symbol known for it)' % base


def render_modules_load(names):
    return ('# Managed by packetjungle.datapath (kernel_modules): local edits are overwritten.\n'
            + ''.join('%s\n' % name for name in names))


def plan_fstab_swap_off(text):
    """Comment out active swap lines (never delete). Returns (new_text, disabled_lines)."""
    out, disabled = [], []
    for line in text.splitlines(True):
        stripped = line.strip()
        fields = stripped.split()
        if stripped and not stripped.startswith('#') and len(fields) >= 3 and fields[2] == 'swap':
            body = line.rstrip('\r\n')
            out.append(FSTAB_MARKER + body + line[len(body):])
            disabled.append(body)
        else:
            out.append(line)
    new_text = ''.join(out)
    if disabled and not new_text.endswith('\n'):
        new_text += '\n'
    return new_text, disabled


def parse_systemctl_units(text):
    """`systemctl list-units --plain --no-legend` rows: unit, load, active, sub, description."""
    units = []
    for line in text.splitlines():
        fields = line.split(None, 4)
        if fields and fields[0] in ('\u25cf', '*'):
            fields = line.split(None, 5)[1:]
        if len(fields) < 4 or '.' not in fields[0]:
            continue
        units.append({'unit': fields[0], 'load': fields[1], 'active': fields[2], 'sub': fields[3],
                      'description': fields[4] if len(fields) > 4 else ''})
    return units


class KernelView(object):
    """Reads kernel-provided files relative to `root` ('/' on a real host)."""

    def __init__(self, root='/'):
        self.root = root

    def path(self, relative):
        return os.path.join(self.root, relative.lstrip('/'))

    def exists(self, relative):
        return os.path.exists(self.path(relative))

    def read(self, relative, binary=False):
        """File content, or None when it is missing or unreadable (e.g. /proc/1/environ without ptrace rights)."""
        try:
            with open(self.path(relative), 'rb') as handle:
                data = handle.read()
        except (IOError, OSError):
            return None
        return data if binary else data.decode('utf-8', 'replace')

    def kernel_release(self):
        release = self.read('proc/sys/kernel/osrelease')
        return release.strip() if release else os.uname()[2]

    def module_support(self):
        return self.exists('proc/modules')

    def kernel_config(self):
        """(config dict, source path) from /proc/config.gz or /boot/config-RELEASE; (None, None) without either."""
        candidates = (('proc/config.gz', True), ('boot/config-%s' % self.kernel_release(), False))
        for relative, compressed in candidates:
            full = self.path(relative)
            try:
                if compressed:
                    with gzip.open(full, 'rb') as handle:
                        text = handle.read().decode('utf-8', 'replace')
                else:
                    with open(full, 'rb') as handle:
                        text = handle.read().decode('utf-8', 'replace')
            except (IOError, OSError, EOFError):
                continue
            return parse_kernel_config(text), '/' + relative
        return None, None

    def cc_available(self):
        text = self.read('proc/sys/net/ipv4/tcp_available_congestion_control')
        return text.split() if text is not None else []

    def filesystems(self):
        return parse_filesystems(self.read('proc/filesystems') or '')

    def swaps(self):
        return parse_proc_swaps(self.read('proc/swaps') or '')

    def systemd_booted(self):
        # sd_booted(): systemd creates this directory when it runs as PID 1.
        return os.path.isdir(self.path('run/systemd/system'))


def qdisc_support(qdisc, default_qdisc, sys_module_exists, config, config_source, module_support):
    """{'supported': True/False/None, 'source': why} for a qdisc, from the strongest evidence available."""
    symbol = 'CONFIG_' + {'fq': 'NET_SCH_FQ', 'fq_codel': 'NET_SCH_FQ_CODEL'}.get(qdisc, 'NET_SCH_' + qdisc.upper())
    if default_qdisc == qdisc:
        return {'supported': True, 'source': 'net.core.default_qdisc is %s' % qdisc}
    if sys_module_exists:
        return {'supported': True, 'source': '/sys/module/sch_%s exists' % qdisc}
    if config is None:
        return {'supported': None, 'source': 'unknown: no /proc/config.gz or /boot/config-RELEASE'}
    value = config.get(symbol)
    if value == 'y':
        return {'supported': True, 'source': '%s=y in %s' % (symbol, config_source)}
    if value == 'm':
        return {'supported': bool(module_support), 'source': '%s=m in %s%s' % (
            symbol, config_source, '' if module_support else ' but the kernel cannot load modules')}
    return {'supported': False, 'source': '%s is not set in %s' % (symbol, config_source)}
