# -*- coding: utf-8 -*-
# Copyright: (c) 2026, packetjungle.datapath contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Validation, comparison and planning for sysctl drop-ins.

Everything except read_sysctl/write_sysctl/probe_writable is pure so it can be
tested without a kernel; the module feeds it a snapshot of /proc/sys.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import errno
import os
import re

DROPIN_HEADER = (
    '# Managed by packetjungle.datapath (sysctl_dropin): local edits are overwritten.\n'
    '# Only keys the running kernel accepted are listed.\n'
)

NAME_RE = re.compile(r'^[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)+$')
NAME_ACCEPTED = ("a dotted sysctl name such as net.core.somaxconn: at least two parts of letters, "
                 "digits, '_' or '-', no '/', no '..', no leading or trailing dot")

# Kernel feature a key needs, for keys that only exist with that feature; first match wins.
FEATURE_BY_PREFIX = (
    ('net.bridge.', 'br_netfilter (CONFIG_BRIDGE_NETFILTER); the keys appear once br_netfilter is built in or loaded'),
    ('net.netfilter.nf_conntrack_', 'nf_conntrack (CONFIG_NF_CONNTRACK); the keys appear once nf_conntrack is built in or loaded'),
    ('net.nf_conntrack_max', 'nf_conntrack (CONFIG_NF_CONNTRACK); the key appears once nf_conntrack is built in or loaded'),
    ('net.core.busy_read', 'CONFIG_NET_RX_BUSY_POLL'),
    ('net.core.busy_poll', 'CONFIG_NET_RX_BUSY_POLL'),
    ('net.core.rps_sock_flow_entries', 'CONFIG_RPS'),
    ('net.core.flow_limit_', 'CONFIG_NET_FLOW_LIMIT'),
    ('net.core.bpf_jit_', 'CONFIG_BPF_JIT'),
    ('net.ipv4.vs.', 'ip_vs (CONFIG_IP_VS)'),
    ('net.ipv6.', 'IPv6 (CONFIG_IPV6, and not booted with ipv6.disable=1)'),
    ('net.mptcp.', 'CONFIG_MPTCP'),
    ('fs.inotify.', 'CONFIG_INOTIFY_USER'),
    ('kernel.numa_balancing', 'CONFIG_NUMA_BALANCING (and a NUMA machine)'),
    ('kernel.hung_task_', 'CONFIG_DETECT_HUNG_TASK'),
    ('kernel.keys.', 'CONFIG_KEYS'),
    ('vm.nr_hugepages', 'CONFIG_HUGETLBFS'),
)

# net.core keys that exist only in the initial network namespace: inside a
# container or `ip netns exec` they are missing even on a kernel that has them.
GLOBAL_NET_CORE_KEYS = frozenset((
    'busy_poll', 'busy_read', 'default_qdisc', 'dev_weight', 'dev_weight_rx_bias', 'dev_weight_tx_bias',
    'flow_limit_cpu_bitmap', 'flow_limit_table_len', 'max_skb_frags', 'message_burst', 'message_cost',
    'netdev_budget', 'netdev_budget_usecs', 'netdev_max_backlog', 'netdev_rss_key', 'netdev_tstamp_prequeue',
    'rps_sock_flow_entries', 'bpf_jit_enable', 'bpf_jit_harden', 'bpf_jit_kallsyms', 'bpf_jit_limit',
    'high_order_alloc_disable', 'gro_normal_batch', 'skb_defer_max', 'warnings',
))

# Neighbour-table garbage collection limits are kept for the initial network
# namespace only (the per-netns default tables leave them out).
GLOBAL_KEY_PREFIXES = ('net.ipv4.neigh.default.gc_thresh', 'net.ipv6.neigh.default.gc_thresh')

# Qdiscs that are part of the scheduler core and always registered.
CORE_QDISCS = frozenset(('pfifo_fast', 'pfifo', 'bfifo', 'noqueue', 'mq'))
QDISC_CONFIG = {
    'fq': 'NET_SCH_FQ', 'fq_codel': 'NET_SCH_FQ_CODEL', 'fq_pie': 'NET_SCH_FQ_PIE', 'cake': 'NET_SCH_CAKE',
    'sfq': 'NET_SCH_SFQ', 'codel': 'NET_SCH_CODEL', 'pie': 'NET_SCH_PIE', 'netem': 'NET_SCH_NETEM',
    'htb': 'NET_SCH_HTB', 'tbf': 'NET_SCH_TBF', 'prio': 'NET_SCH_PRIO', 'red': 'NET_SCH_RED',
}

QDISC_KEY = 'net.core.default_qdisc'
CC_KEY = 'net.ipv4.tcp_congestion_control'
CC_AVAILABLE_KEY = 'net.ipv4.tcp_available_congestion_control'


def normalise(value):
    """Collapse runs of whitespace (the kernel prints tcp_rmem with tabs)."""
    return ' '.join(str(value).split())


def as_int_tuple(value):
    """Return the value as a tuple of ints, or None when any field is not an integer."""
    fields = normalise(value).split(' ')
    try:
        return tuple(int(field, 10) for field in fields)
    except ValueError:
        return None


def values_equal(current, desired):
    """Compare as integers when both sides are integers (so '010' == '10'), else as normalised text."""
    current_ints, desired_ints = as_int_tuple(current), as_int_tuple(desired)
    if current_ints is not None and desired_ints is not None:
        return current_ints == desired_ints
    return normalise(current) == normalise(desired)


def raise_only_value(current, desired):
    """Element-wise max(current, desired). Returns (value, error); error explains a field-count mismatch."""
    current_ints, desired_ints = as_int_tuple(current), as_int_tuple(desired)
    if current_ints is None:
        return None, 'raise_only: the kernel value %r is not a list of integers' % normalise(current)
    if desired_ints is None:
        return None, 'raise_only: %r is not a list of integers' % normalise(desired)
    if len(current_ints) != len(desired_ints):
        return None, ('raise_only: %r has %d field(s) but the kernel value %r has %d'
                      % (normalise(desired), len(desired_ints), normalise(current), len(current_ints)))
    return ' '.join(str(max(c, d)) for c, d in zip(current_ints, desired_ints)), None


def _value_text(value):
    """Turn one YAML value into sysctl text, or raise ValueError saying what is accepted."""
    if isinstance(value, bool):
        raise ValueError('booleans are ambiguous here; give 1/0 (or quote the string)')
    if isinstance(value, int):
        return str(value)
    if isinstance(value, (list, tuple)):
        if not value:
            raise ValueError('an empty list is not a value')
        return ' '.join(_value_text(item) for item in value)
    if isinstance(value, str):
        text = normalise(value)
        if not text:
            raise ValueError('an empty value cannot be written')
        return text
    raise ValueError('%s is not accepted' % type(value).__name__)


def validate_settings(settings, raise_only):
    """Check names and values. Returns (normalised settings, errors) so every problem is reported at once."""
    accepted_value = 'an integer, a string such as "4096 131072 33554432", or a list of those'
    errors = []
    clean = {}
    for name in sorted(settings, key=str):
        value = settings[name]
        if not isinstance(name, str) or not NAME_RE.match(name):
            errors.append('settings[%s]: %r is not %s' % (name, name, NAME_ACCEPTED))
            continue
        try:
            clean[name] = _value_text(value)
        except ValueError as exc:
            errors.append('settings[%s]: %r: %s (accepted: %s)' % (name, value, exc, accepted_value))
    for name in raise_only:
        if name not in settings:
            errors.append('raise_only[%s]: %r is not a key of settings (accepted: names from settings)' % (name, name))
        elif name in clean and as_int_tuple(clean[name]) is None:
            errors.append('raise_only[%s]: %r is not an integer or a list of integers '
                          '(accepted: e.g. 4194304 or "4096 131072 33554432")' % (name, settings[name]))
    return clean, errors


def proc_path(proc_sys, name):
    return os.path.join(proc_sys, *name.split('.'))


def missing_key_reason(name):
    """Why a key is absent from /proc/sys: the feature it needs, or that it is global and this is not the initial netns."""
    feature = None
    for prefix, needs in FEATURE_BY_PREFIX:
        if name.startswith(prefix):
            feature = needs
            break
    parts = name.split('.')
    hidden = ('it is a global key, visible only in the initial network namespace (this runs in a container '
              'or another network namespace)')
    if (len(parts) == 3 and parts[:2] == ['net', 'core'] and parts[2] in GLOBAL_NET_CORE_KEYS) or \
            name.startswith(GLOBAL_KEY_PREFIXES):
        if feature:
            return '%s is not in /proc/sys: needs %s, or %s' % (name, feature, hidden)
        return '%s is not in /proc/sys: %s' % (name, hidden)
    if feature:
        return '%s is not in /proc/sys: needs %s' % (name, feature)
    return '%s is not in /proc/sys: this kernel does not provide it (feature not built in, or module not loaded)' % name


def qdisc_unavailable_reason(qdisc):
    symbol = QDISC_CONFIG.get(qdisc, 'NET_SCH_%s' % qdisc.upper())
    return 'qdisc %s not available (CONFIG_%s not set / sch_%s not loadable)' % (qdisc, symbol, qdisc)


def qdisc_available(qdisc, config, module_support):
    """True/False when the kernel config decides it, None when it cannot be known without trying."""
    if qdisc in CORE_QDISCS:
        return True
    if config is None:
        return None
    value = config.get('CONFIG_' + QDISC_CONFIG.get(qdisc, 'NET_SCH_%s' % qdisc.upper()))
    if value == 'y':
        return True
    if value == 'm':
        return bool(module_support)
    return False


def cc_unavailable_reason(algorithm, available):
    return ('congestion control %s not available (tcp_available_congestion_control: %s); needs '
            'CONFIG_TCP_CONG_%s or module tcp_%s loaded first (packetjungle.datapath.kernel_modules)'
            % (algorithm, ' '.join(available) or 'empty', algorithm.upper(), algorithm))


def write_error_reason(name, value, err):
    """Map a failed write (or write probe) to a skip reason; `err` is an errno number."""
    text = '%s (%s)' % (os.strerror(err), errno.errorcode.get(err, err))
    if err == errno.EROFS:
        return '/proc/sys is mounted read-only here: %s' % text
    if err in (errno.EACCES, errno.EPERM):
        return ('%s is read-only for this process: %s (read-only in this container or network '
                'namespace, or the capability is missing)' % (name, text))
    if name == QDISC_KEY and err == errno.ENOENT:
        return qdisc_unavailable_reason(value)
    if name == CC_KEY and err == errno.ENOENT:
        return cc_unavailable_reason(value, [])
    if err == errno.EINVAL:
        return 'the kernel rejected %s = %s: %s' % (name, value, text)
    return 'writing %s = %s failed: %s' % (name, value, text)


def plan_settings(settings, raise_only, current, cc_available=None, qdisc_support=None):
    """Decide per key.

    settings: name -> normalised desired value; raise_only: names; current: name -> kernel value
    or None when absent (or a ('error', reason) tuple when unreadable); cc_available: list or None;
    qdisc_support: qdisc -> True/False/None.
    Returns name -> {'action': 'keep'|'write'|'skip', 'current', 'target', 'reason'}.
    """
    qdisc_support = qdisc_support or {}
    plan = {}
    for name in sorted(settings):
        desired = settings[name]
        now = current.get(name)
        entry = {'action': 'skip', 'current': None, 'target': None, 'reason': None}
        plan[name] = entry
        if now is None:
            entry['reason'] = missing_key_reason(name)
            continue
        if isinstance(now, tuple):
            entry['reason'] = now[1]
            continue
        entry['current'] = normalise(now)
        target = desired
        if name in raise_only:
            target, error = raise_only_value(now, desired)
            if error:
                entry['reason'] = '%s: %s' % (name, error)
                continue
        if values_equal(now, target):
            entry.update(action='keep', target=entry['current'])
            continue
        if name == CC_KEY and cc_available is not None and target not in cc_available:
            entry['reason'] = cc_unavailable_reason(target, cc_available)
            continue
        if name == QDISC_KEY and qdisc_support.get(target) is False:
            entry['reason'] = qdisc_unavailable_reason(target)
            continue
        entry.update(action='write', target=target)
    return plan


def render_dropin(applied):
    """File content: header, then `key = value` for each key that took effect, sorted."""
    return DROPIN_HEADER + ''.join('%s = %s\n' % (name, applied[name]) for name in sorted(applied))


def render_runtime(values):
    return ''.join('%s = %s\n' % (name, values[name]) for name in sorted(values))


def read_sysctl(proc_sys, name):
    """Current value; None when the key does not exist; ('error', reason) when it cannot be read."""
    try:
        with open(proc_path(proc_sys, name), 'rb') as handle:
            return normalise(handle.read().decode('utf-8', 'replace'))
    except (IOError, OSError) as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return None
        if exc.errno == errno.EISDIR:
            return ('error', '%s is a directory of keys, not a key' % name)
        return ('error', '%s cannot be read: %s (%s)' % (
            name, os.strerror(exc.errno), errno.errorcode.get(exc.errno, exc.errno)))


def write_sysctl(proc_sys, name, value):
    """Write in one syscall (proc handlers parse a single write). Returns None or the errno."""
    try:
        # O_TRUNC is what `echo >` does; procfs ignores it and it keeps fake trees in tests exact.
        fd = os.open(proc_path(proc_sys, name), os.O_WRONLY | os.O_TRUNC)
    except (IOError, OSError) as exc:
        return exc.errno
    try:
        os.write(fd, value.encode('utf-8'))
    except (IOError, OSError) as exc:
        return exc.errno
    finally:
        os.close(fd)
    return None


def probe_writable(proc_sys, name):
    """Check mode: opening for write runs the kernel's permission checks without changing anything."""
    try:
        fd = os.open(proc_path(proc_sys, name), os.O_WRONLY)
    except (IOError, OSError) as exc:
        return exc.errno
    os.close(fd)
    return None
