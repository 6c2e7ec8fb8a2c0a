# -*- coding: utf-8 -*-
# Copyright: (c) 2026, packetjungle.datapath contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading, validating and planning NIC settings (MTU, channels, rings, offloads, RPS).

Parsers and the planner are pure. The readers (read_links, read_driver, read_nic)
take a ``run(argv) -> (rc, stdout, stderr)`` callable and a sysfs root so the
modules can hand in AnsibleModule.run_command and tests a fake.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import ipaddress
import json
import os
import re

from ansible_collections.packetjungle.datapath.plugins.module_utils.kernel import parse_environ
from ansible_collections.packetjungle.datapath.plugins.module_utils.pmtu import RouteParseError, parse_route_get

MTU_MIN = 68
MTU_MAX = 9216
SETTING_KEYS = ('mtu', 'channels', 'rings', 'offloads', 'rps')
UNSUPPORTED = 'Operation not supported'
UNREAD = object()

# ethtool's legacy short names (ethtool -K accepts them) and the names ethtool -k prints for them.
OFFLOAD_ALIASES = {
    'rx': 'rx-checksumming',
    'tx': 'tx-checksumming',
    'sg': 'scatter-gather',
    'tso': 'tcp-segmentation-offload',
    'ufo': 'udp-fragmentation-offload',
    'gso': 'generic-segmentation-offload',
    'gro': 'generic-receive-offload',
    'lro': 'large-receive-offload',
    'rxvlan': 'rx-vlan-offload',
    'txvlan': 'tx-vlan-offload',
    'ntuple': 'ntuple-filters',
    'rxhash': 'receive-hashing',
}

# Offload keys systemd 252 (Debian 12) understands in a .link file; others stay runtime-only.
# ethtool's tso switches both the IPv4 and IPv6 TCP segmentation features, .link has one key each.
LINK_OFFLOAD_KEYS = {
    'rx-checksumming': ('ReceiveChecksumOffload',),
    'tx-checksumming': ('TransmitChecksumOffload',),
    'tcp-segmentation-offload': ('TCPSegmentationOffload', 'TCP6SegmentationOffload'),
    'tx-tcp-segmentation': ('TCPSegmentationOffload',),
    'tx-tcp6-segmentation': ('TCP6SegmentationOffload',),
    'generic-segmentation-offload': ('GenericSegmentationOffload',),
    'generic-receive-offload': ('GenericReceiveOffload',),
    'large-receive-offload': ('LargeReceiveOffload',),
}

LINK_KEY_ORDER = (
    'MTUBytes', 'CombinedChannels', 'RxBufferSize', 'TxBufferSize',
    'ReceiveChecksumOffload', 'TransmitChecksumOffload', 'TCPSegmentationOffload', 'TCP6SegmentationOffload',
    'GenericSegmentationOffload', 'GenericReceiveOffload', 'LargeReceiveOffload',
)

# The stock 99-default.link policies (systemd 252).
DEFAULT_LINK_POLICIES = (
    ('NamePolicy', 'keep kernel database onboard slot path'),
    ('AlternativeNamesPolicy', 'database onboard slot path'),
    ('MACAddressPolicy', 'persistent'),
)

LINK_HEADER = (
    '# Managed by packetjungle.datapath (nic_settings) for {name}: local edits are overwritten.\n'
    '# Only the first .link file (in lexical order) that matches a device is applied, so this file\n'
    '# would drop the naming and MAC policies of 99-default.link: they are copied into [Link].\n'
)
RULES_HEADER = (
    '# Managed by packetjungle.datapath (nic_settings): RPS CPU masks per receive queue.\n'
    '# KERNEL matches devices udev keeps or re-triggers; NAME matches devices it renames during "add"\n'
    '# (KERNEL is still the kernel name, such as eth0, in that event).\n'
)
RULE_RE = re.compile(r'^ACTION=="add", SUBSYSTEM=="net", (?:KERNEL|NAME)=="([^"]+)", ')

CHANNEL_KEYS = ('rx', 'tx', 'other', 'combined')
RING_KEYS = ('rx', 'rx_mini', 'rx_jumbo', 'tx')
BOOL_WORDS = {'on': True, 'true': True, 'yes': True, 'off': False, 'false': False, 'no': False}
MASK_RE = re.compile(r'^[0-9a-fA-F]{1,8}(,[0-9a-fA-F]{1,8})*$')
MASK_ACCEPTED = "auto, off or a hex CPU mask as a quoted string such as '3' (comma-separated 32-bit groups allowed)"


class NicParseError(ValueError):
    """Command output that does not have the expected shape."""


class NicCommandError(Exception):
    def __init__(self, cmd, rc, stdout, stderr):
        super(NicCommandError, self).__init__('%s failed with rc %s' % (' '.join(cmd), rc))
        self.cmd = cmd
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr


# ---------------------------------------------------------------- parsers

def parse_ip_link(text):
    """``ip -j -d link show`` → {ifname: {mtu, min_mtu, max_mtu, qdisc, ...}}."""
    try:
        data = json.loads(text)
    except ValueError as e:
        raise NicParseError('ip -j link output is not JSON: %s' % e)
    if not isinstance(data, list):
        raise NicParseError('ip -j link output is not a JSON list')
    links = {}
    for entry in data:
        if not isinstance(entry, dict) or 'ifname' not in entry or 'mtu' not in entry:
            raise NicParseError('ip -j link entry without ifname/mtu: %r' % (entry,))
        linkinfo = entry.get('linkinfo') or {}
        links[entry['ifname']] = {
            'mtu': entry['mtu'],
            'min_mtu': entry.get('min_mtu'),
            'max_mtu': entry.get('max_mtu'),
            'qdisc': entry.get('qdisc'),
            'operstate': entry.get('operstate'),
            'address': entry.get('address'),
            'num_rx_queues': entry.get('num_rx_queues'),
            'num_tx_queues': entry.get('num_tx_queues'),
            'kind': linkinfo.get('info_kind'),
        }
    return links


def parse_ethtool_driver(text):
    """``ethtool -i`` → driver name (None when empty)."""
    for line in text.splitlines():
        if line.startswith('driver:'):
            return line.split(':', 1)[1].strip() or None
    raise NicParseError('no "driver:" line in ethtool -i output')


def _parse_value(raw, what):
    raw = raw.strip()
    if raw == 'n/a':
        return None
    if raw.isdigit():
        return int(raw)
    raise NicParseError('%s: %r is neither a number nor n/a' % (what, raw))


def _parse_max_current(text, keys, what):
    sections = {}
    section = None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped == 'Pre-set maximums:':
            section = sections.setdefault('max', {})
        elif stripped == 'Current hardware settings:':
            section = sections.setdefault('current', {})
        elif section is not None and ':' in stripped:
            label, value = stripped.split(':', 1)
            key = label.strip().lower().replace(' ', '_')
            if key in keys:
                section[key] = _parse_value(value, '%s %s' % (what, label.strip()))
    for name in ('max', 'current'):
        missing = [k for k in keys if k not in sections.get(name, {})]
        if missing:
            raise NicParseError('%s output truncated: %s section lacks %s' % (what, name, ', '.join(missing)))
    return {'max': sections['max'], 'current': sections['current']}


def parse_ethtool_channels(text):
    """``ethtool -l`` → {'max': {rx, tx, other, combined}, 'current': {...}}, n/a → None."""
    return _parse_max_current(text, CHANNEL_KEYS, 'ethtool -l')


def parse_ethtool_rings(text):
    """``ethtool -g`` → {'max': {rx, rx_mini, rx_jumbo, tx}, 'current': {...}}, n/a → None."""
    return _parse_max_current(text, RING_KEYS, 'ethtool -g')


FEATURE_RE = re.compile(r'^\s*([A-Za-z0-9_.-]+): (on|off)(?: \[([a-z ]+)\])?\s*$')


def parse_ethtool_features(text):
    """``ethtool -k`` → {feature: {'enabled': bool, 'fixed': bool}} (sub-features included)."""
    features = {}
    for line in text.splitlines():
        if not line.strip() or line.startswith('Features for '):
            continue
        m = FEATURE_RE.match(line)
        if not m:
            raise NicParseError('ethtool -k: unexpected line %r' % line)
        features[m.group(1)] = {'enabled': m.group(2) == 'on', 'fixed': m.group(3) == 'fixed'}
    if not features:
        raise NicParseError('ethtool -k output lists no features')
    return features


def parse_route_dev(text):
    """``ip -j route get ADDR`` → output device, or None."""
    try:
        return parse_route_get(text)['dev']
    except RouteParseError:
        return None


def is_unsupported(stdout, stderr):
    return UNSUPPORTED in (stderr or '') or UNSUPPORTED in (stdout or '')


# ---------------------------------------------------------------- CPU masks

def parse_cpu_mask(text):
    """sysfs/udev CPU mask ('3', '00000000,00000003') → int."""
    text = text.strip()
    if not MASK_RE.match(text):
        raise ValueError('not a hex CPU mask: %r' % text)
    return int(text.replace(',', ''), 16)


def format_cpu_mask(mask):
    """int → mask the kernel's bitmap parser takes: 32-bit hex groups separated by commas."""
    digits = '%x' % mask
    groups = []
    while len(digits) > 8:
        groups.insert(0, digits[-8:])
        digits = digits[:-8]
    groups.insert(0, digits)
    return ','.join(groups)


def cpus_to_mask(cpus):
    mask = 0
    for cpu in cpus:
        mask |= 1 << cpu
    return mask


def mask_to_cpu_list(mask):
    """3 → '0-1', 0b1011 → '0-1,3'."""
    cpus = [i for i in range(mask.bit_length()) if mask >> i & 1]
    ranges = []
    for cpu in cpus:
        if ranges and ranges[-1][1] == cpu - 1:
            ranges[-1][1] = cpu
        else:
            ranges.append([cpu, cpu])
    return ','.join(str(a) if a == b else '%d-%d' % (a, b) for a, b in ranges) or 'none'


# ---------------------------------------------------------------- readers

def _checked(run, argv):
    rc, out, err = run(argv)
    if rc != 0:
        raise NicCommandError(argv, rc, out, err)
    return out


def read_links(run, ip_bin):
    argv = [ip_bin, '-j', '-d', 'link', 'show']
    out = _checked(run, argv)
    return parse_ip_link(out)


def read_driver(run, ethtool_bin, name):
    argv = [ethtool_bin, '-i', name]
    rc, out, err = run(argv)
    if rc != 0:
        if is_unsupported(out, err):
            return None
        raise NicCommandError(argv, rc, out, err)
    return parse_ethtool_driver(out)


def _read_text(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except (IOError, OSError):
        return None


def read_speed(sysfs_net, name):
    """Link speed in Mb/s, None when unknown (-1) or unreadable (a down link returns EINVAL)."""
    raw = _read_text(os.path.join(sysfs_net, name, 'speed'))
    try:
        speed = int(raw)
    except (TypeError, ValueError):
        return None
    return speed if speed >= 0 else None


def read_rps(sysfs_net, name):
    """{'rx-0': '3', ...} for every rx queue that has an rps_cpus file, in queue order."""
    queues_dir = os.path.join(sysfs_net, name, 'queues')
    try:
        entries = os.listdir(queues_dir)
    except OSError:
        return {}
    rx = sorted((e for e in entries if re.match(r'^rx-\d+$', e)), key=lambda q: int(q[3:]))
    result = {}
    for queue in rx:
        value = _read_text(os.path.join(queues_dir, queue, 'rps_cpus'))
        if value is not None:
            result[queue] = value
    return result


SECTIONS = (
    ('channels', '-l', parse_ethtool_channels, 'channel parameters'),
    ('rings', '-g', parse_ethtool_rings, 'ring parameters'),
    ('offloads', '-k', parse_ethtool_features, 'offload features'),
)


def read_nic(run, ethtool_bin, name, link, sysfs_net, driver=UNREAD):
    """Everything nic_info reports for one interface; raises NicCommandError / NicParseError.

    ``driver`` saves the ethtool -i call when the caller already read it.
    """
    state = dict(link)
    state['driver'] = read_driver(run, ethtool_bin, name) if driver is UNREAD else driver
    who = state['driver'] or state.get('kind') or name
    for key, opt, parser, what in SECTIONS:
        argv = [ethtool_bin, opt, name]
        rc, out, err = run(argv)
        if rc == 0:
            try:
                state[key] = parser(out)
            except NicParseError as e:
                raise NicParseError('%s: %s' % (' '.join(argv), e))
            state[key + '_unsupported'] = None
        elif is_unsupported(out, err):
            state[key] = None
            state[key + '_unsupported'] = '%s reports no %s (%s)' % (who, what, UNSUPPORTED)
        else:
            raise NicCommandError(argv, rc, out, err)
    state['speed'] = read_speed(sysfs_net, name)
    state['rps_cpus'] = read_rps(sysfs_net, name)
    return state


# ---------------------------------------------------------------- validation

def _to_bool(value):
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in BOOL_WORDS:
        return BOOL_WORDS[value.lower()]
    return None


def _to_count(value):
    """'max' / positive int (int or digit string) → value, else None."""
    if value == 'max':
        return 'max'
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value > 0 else None
    if isinstance(value, str) and value.strip().isdigit() and int(value) > 0:
        return int(value)
    return None


def resolve_offload(name, features):
    """User offload name → the name ethtool -k prints, or None when the NIC has no such feature."""
    long_name = OFFLOAD_ALIASES.get(name, name)
    return long_name if long_name in features else None


def validate_settings(path, name, raw, state, cpus):
    """Check one interface's requested settings against its state.

    Returns (settings, errors): settings normalised for plan_interface (offloads
    under ethtool's names, rps as 'auto' or an int mask), errors as strings naming
    option path, value and what is accepted.
    """
    errors = []
    settings = {}
    unknown = sorted(k for k in raw if k not in SETTING_KEYS)
    for key in unknown:
        errors.append('%s: unknown setting %r; accepted: %s' % (path, key, ', '.join(SETTING_KEYS)))

    mtu = raw.get('mtu')
    if mtu is not None:
        if isinstance(mtu, bool) or not (isinstance(mtu, int) or (isinstance(mtu, str) and mtu.isdigit())):
            errors.append('%s.mtu: %r is not an integer; accepted: %d-%d within the NIC\'s min_mtu/max_mtu'
                          % (path, mtu, MTU_MIN, MTU_MAX))
        else:
            mtu = int(mtu)
            if mtu < MTU_MIN or mtu > MTU_MAX:
                errors.append('%s.mtu: %d is outside the %d-%d this module sets' % (path, mtu, MTU_MIN, MTU_MAX))
            elif state.get('max_mtu') and mtu > state['max_mtu']:
                errors.append('%s.mtu: %d is above the %d the NIC accepts (max_mtu %d)'
                              % (path, mtu, state['max_mtu'], state['max_mtu']))
            elif state.get('min_mtu') and mtu < state['min_mtu']:
                errors.append('%s.mtu: %d is below the %d the NIC accepts (min_mtu %d)'
                              % (path, mtu, state['min_mtu'], state['min_mtu']))
            else:
                settings['mtu'] = mtu

    channels = raw.get('channels')
    if channels is not None:
        value = channels if channels == 'auto' else _to_count(channels)
        if value is None:
            errors.append('%s.channels: %r is not accepted; use auto, max or a positive integer' % (path, channels))
        elif isinstance(value, int):
            limit = (state.get('channels') or {}).get('max', {}).get('combined')
            if not limit:
                why = state.get('channels_unsupported') or 'its pre-set maximum for combined channels is n/a'
                errors.append('%s.channels: %d asked but %s has no combined channels (%s); use auto or max to '
                              'skip such NICs' % (path, value, state.get('driver') or name, why))
            elif value > limit:
                errors.append('%s.channels: %d is above the NIC maximum of %d combined channels'
                              % (path, value, limit))
            else:
                settings['channels'] = value
        else:
            settings['channels'] = value

    rings = raw.get('rings')
    if rings is not None:
        if not isinstance(rings, dict):
            errors.append('%s.rings: %r is not a dict; accepted keys: rx, tx' % (path, rings))
        else:
            wanted = {}
            for key in sorted(rings):
                if key not in ('rx', 'tx'):
                    errors.append('%s.rings: unknown key %r; accepted: rx, tx' % (path, key))
                    continue
                if rings[key] is None:
                    continue
                value = _to_count(rings[key])
                limit = ((state.get('rings') or {}).get('max') or {}).get(key)
                if value is None:
                    errors.append('%s.rings.%s: %r is not accepted; use max or a positive integer'
                                  % (path, key, rings[key]))
                elif isinstance(value, int) and limit and value > limit:
                    errors.append('%s.rings.%s: %d is above the NIC maximum of %d' % (path, key, value, limit))
                else:
                    wanted[key] = value
            if wanted:
                settings['rings'] = wanted

    offloads = raw.get('offloads')
    if offloads is not None:
        if not isinstance(offloads, dict):
            errors.append('%s.offloads: %r is not a dict of feature: bool' % (path, offloads))
        else:
            features = state.get('offloads')
            wanted = {}
            for key in sorted(offloads):
                flag = _to_bool(offloads[key])
                if flag is None:
                    errors.append('%s.offloads.%s: %r is not a boolean' % (path, key, offloads[key]))
                    continue
                if features is None:
                    wanted[OFFLOAD_ALIASES.get(key, key)] = flag
                    continue
                long_name = resolve_offload(key, features)
                if long_name is None:
                    errors.append('%s.offloads.%s: unknown offload for %s; accepted: the short names %s or a '
                                  'feature name that ethtool -k %s prints'
                                  % (path, key, name, ', '.join(sorted(OFFLOAD_ALIASES)), name))
                else:
                    wanted[long_name] = flag
            if wanted:
                settings['offloads'] = wanted

    rps = raw.get('rps')
    if rps is not None:
        usable = cpus_to_mask(cpus)
        if rps is False or rps == 'off':
            settings['rps'] = 0
        elif rps == 'auto':
            settings['rps'] = 'auto'
        elif not isinstance(rps, str) or not MASK_RE.match(rps.strip()):
            errors.append('%s.rps: %r is not accepted; use %s' % (path, rps, MASK_ACCEPTED))
        else:
            mask = parse_cpu_mask(rps)
            if mask & ~usable:
                errors.append('%s.rps: %r names CPUs %s that are not usable here; usable CPUs: %s (mask %s)'
                              % (path, rps, mask_to_cpu_list(mask & ~usable), mask_to_cpu_list(usable),
                                 format_cpu_mask(usable)))
            else:
                settings['rps'] = mask
    return settings, errors


# ---------------------------------------------------------------- planning

def _onoff(flag):
    return 'on' if flag else 'off'


def change_texts(change):
    """Human strings for a planned change: 'mtu 1500 -> 9000', 'offload generic-receive-offload off -> on'."""
    return ['%s %s -> %s' % entry for entry in change['diff']]


def _plan_channels(name, state, wanted, cpus, ethtool_bin, plan):
    info = state.get('channels')
    if info is None:
        plan['skipped']['channels'] = state.get('channels_unsupported') or 'no channel parameters'
        return
    limit = info['max'].get('combined')
    current = info['current'].get('combined')
    if not limit:
        plan['skipped']['channels'] = '%s has no combined channels (pre-set maximum n/a)' % (
            state.get('driver') or name)
        return
    if wanted == 'auto':
        target = min(len(cpus), limit)
    elif wanted == 'max':
        target = limit
    else:
        target = wanted
    if target == current:
        if wanted in ('auto', 'max') and current == limit:
            plan['skipped']['channels'] = 'NIC maximum is %d combined, already %d' % (limit, current)
        else:
            plan['link']['CombinedChannels'] = str(target)
        return
    plan['changes'].append({
        'setting': 'channels',
        'diff': [('channels combined', str(current), str(target))],
        'argv': [ethtool_bin, '-L', name, 'combined', str(target)],
        'link': {'CombinedChannels': str(target)},
        'combined': target,
    })


def _plan_rings(name, state, wanted, ethtool_bin, plan):
    info = state.get('rings')
    if info is None:
        plan['skipped']['rings'] = state.get('rings_unsupported') or 'no ring parameters'
        return
    argv = [ethtool_bin, '-G', name]
    diff = []
    link = {}
    for key in ('rx', 'tx'):
        if key not in wanted:
            continue
        link_key = 'RxBufferSize' if key == 'rx' else 'TxBufferSize'
        limit = info['max'].get(key)
        current = info['current'].get(key)
        if not limit:
            plan['skipped']['rings ' + key] = 'NIC reports no %s ring size (n/a)' % key
            continue
        target = limit if wanted[key] == 'max' else wanted[key]
        if target == current:
            if wanted[key] == 'max':
                plan['skipped']['rings ' + key] = 'NIC maximum is %d, already %d' % (limit, current)
            else:
                plan['link'][link_key] = str(target)
            continue
        argv += [key, str(target)]
        diff.append(('rings ' + key, str(current), str(target)))
        link[link_key] = str(target)
    if diff:
        plan['changes'].append({'setting': 'rings', 'diff': diff, 'argv': argv, 'link': link})


def offload_link(feature, flag):
    """.link keys for one offload feature ({} when systemd has none for it)."""
    return dict((key, 'true' if flag else 'false') for key in LINK_OFFLOAD_KEYS.get(feature, ()))


def _plan_offloads(name, state, wanted, ethtool_bin, persist, plan):
    features = state.get('offloads')
    if features is None:
        plan['skipped']['offloads'] = state.get('offloads_unsupported') or 'no offload features'
        return
    argv = [ethtool_bin, '-K', name]
    diff = []
    asked = {}
    link = {}
    for feature in sorted(wanted):
        flag = wanted[feature]
        now = features[feature]
        if now['fixed']:
            reason = 'fixed %s by the driver' % _onoff(now['enabled'])
            if now['enabled'] != flag:
                reason += ', cannot turn it %s' % _onoff(flag)
            plan['skipped']['offload ' + feature] = reason
            continue
        if persist and feature not in LINK_OFFLOAD_KEYS:
            plan['skipped']['offload %s persist' % feature] = 'no systemd .link key for it: runtime only'
        if now['enabled'] == flag:
            plan['link'].update(offload_link(feature, flag))
            continue
        argv += [feature, _onoff(flag)]
        diff.append(('offload ' + feature, _onoff(now['enabled']), _onoff(flag)))
        asked[feature] = flag
        link.update(offload_link(feature, flag))
    if asked:
        plan['changes'].append({'setting': 'offloads', 'diff': diff, 'argv': argv, 'features': asked,
                                'link': link})


def _plan_rps(state, wanted, cpus, combined, plan):
    current = state.get('rps_cpus') or {}
    if not current:
        plan['skipped']['rps'] = 'no queues/rx-*/rps_cpus in sysfs (kernel without CONFIG_RPS?)'
        return
    queues = list(current)
    if combined is not None and combined != len(queues):
        # ethtool -L runs first and changes the number of rx queues.
        queues = ['rx-%d' % i for i in range(combined)]
    if wanted == 'auto':
        if len(queues) >= len(cpus):
            plan['skipped']['rps'] = '%d rx queues for %d CPUs, RPS not needed' % (len(queues), len(cpus))
            return
        mask = cpus_to_mask(cpus)
    else:
        mask = wanted
    text = format_cpu_mask(mask)
    plan['rps'] = dict((queue, text) for queue in queues)
    diff = []
    writes = []
    for queue in queues:
        old = current.get(queue)
        if old is None or parse_cpu_mask(old) != mask:
            diff.append(('rps ' + queue, old if old is not None else '(new queue)', text))
            writes.append(('queues/%s/rps_cpus' % queue, text))
    if writes:
        plan['changes'].append({'setting': 'rps', 'diff': diff, 'writes': writes})


def plan_interface(name, state, settings, cpus, ethtool_bin='ethtool', ip_bin='ip', persist=True):
    """Compare one interface's validated settings with its state.

    Returns {'changes': [...], 'skipped': {setting: reason}, 'link': {key: value}, 'rps': {queue: mask}}.
    A change has 'setting', 'diff' [(label, before, after)], either 'argv' or 'writes' (sysfs
    paths relative to the interface's directory, with the value) and the 'link' keys it would
    persist. 'link' and 'rps' hold what is to be persisted for settings already in effect (and
    for rps, also the planned masks). Changes are in the order to apply them.
    """
    plan = {'changes': [], 'skipped': {}, 'link': {}, 'rps': {}}
    if 'mtu' in settings:
        mtu = settings['mtu']
        if state['mtu'] == mtu:
            plan['link']['MTUBytes'] = str(mtu)
        else:
            plan['changes'].append({
                'setting': 'mtu',
                'diff': [('mtu', str(state['mtu']), str(mtu))],
                'argv': [ip_bin, 'link', 'set', 'dev', name, 'mtu', str(mtu)],
                'rollback_argv': [ip_bin, 'link', 'set', 'dev', name, 'mtu', str(state['mtu'])],
                'old': state['mtu'],
                'new': mtu,
                'link': {'MTUBytes': str(mtu)},
            })
    if 'channels' in settings:
        _plan_channels(name, state, settings['channels'], cpus, ethtool_bin, plan)
    if 'rings' in settings:
        _plan_rings(name, state, settings['rings'], ethtool_bin, plan)
    if 'offloads' in settings:
        _plan_offloads(name, state, settings['offloads'], ethtool_bin, persist, plan)
    if 'rps' in settings:
        combined = None
        for change in plan['changes']:
            if change['setting'] == 'channels':
                combined = change['combined']
        _plan_rps(state, settings['rps'], cpus, combined, plan)
    return plan


def mtu_precheck(old, new, reachable):
    """Decide an MTU change from the peers that answered at the old size.

    Returns (action, message): ('verify', None), ('apply', warning) or ('skip', reason).
    """
    if reachable:
        return 'verify', None
    if new < old:
        return 'apply', 'no peer answered at the current MTU %d, so the decrease to %d is not verified' % (old, new)
    return 'skip', 'cannot verify: no peer answered at the current MTU %d' % old


def parse_proc_stat_ppid(data):
    """The parent PID from /proc/PID/stat; the command name may hold spaces and parentheses."""
    try:
        return int(data[data.rindex(')') + 2:].split()[1])
    except (ValueError, IndexError):
        return None


def find_ssh_connection(pid, read_environ, read_stat, max_depth=16):
    """SSH_CONNECTION of the nearest process, from PID up, that carries it.

    become (sudo, su) resets the module's environment, but the shell sshd
    started for Ansible still has the variable, a few parents up."""
    for _depth in range(max_depth):
        if not pid or pid <= 1:
            return None
        value = parse_environ(read_environ(pid) or '').get('SSH_CONNECTION')
        if value:
            return value
        pid = parse_proc_stat_ppid(read_stat(pid) or '')
    return None


def ipv4_peers(addresses, ssh_connection=None):
    """Validated peer list plus the SSH client address; returns (peers, errors, warnings)."""
    peers, errors, warnings = [], [], []
    for index, address in enumerate(addresses or []):
        try:
            peer = str(ipaddress.IPv4Address(str(address).strip()))
        except ValueError:
            errors.append('mtu_peers[%d]: %r is not an IPv4 address' % (index, address))
            continue
        if peer not in peers:
            peers.append(peer)
    if ssh_connection:
        client = ssh_connection.split()[0]
        try:
            addr = ipaddress.ip_address(client)
        except ValueError:
            addr = None
        if addr is not None and addr.version == 6 and addr.ipv4_mapped:
            addr = addr.ipv4_mapped
        if addr is None or addr.version != 4:
            warnings.append('SSH client %s is not IPv4; the MTU probe is IPv4 only, so it is not used' % client)
        elif str(addr) not in peers:
            peers.append(str(addr))
    return peers, errors, warnings


# ---------------------------------------------------------------- persistence

def link_file_name(name):
    return '10-packetjungle-%s.link' % name


def render_link_file(name, address, driver, settings):
    """systemd .link content for one interface, or None when there is nothing to persist."""
    if not settings:
        return None
    lines = [LINK_HEADER.format(name=name).rstrip('\n'), '[Match]']
    if address and address.strip('0:'):
        lines.append('MACAddress=%s' % address)
    else:
        lines.append('OriginalName=%s' % name)
    if driver:
        lines.append('# A VLAN or bridge on top inherits the MAC address; Driver= keeps them out.')
        lines.append('Driver=%s' % driver)
    lines += ['', '[Link]']
    lines += ['%s=%s' % item for item in DEFAULT_LINK_POLICIES]
    for key in LINK_KEY_ORDER:
        if key in settings:
            lines.append('%s=%s' % (key, settings[key]))
    return '\n'.join(lines) + '\n'


def _rule_order(line):
    m = RULE_RE.match(line)
    queue = re.search(r'queues/rx-(\d+)/', line)
    return (m.group(1) if m else '', int(queue.group(1)) if queue else -1, line)


def render_rps_rules(existing, rps_by_iface, managed):
    """udev rules content: kept rules of interfaces not in ``managed`` plus the new ones.

    ``rps_by_iface`` is {ifname: {queue: mask}}; returns None when no rule is left.
    """
    rules = set()
    for line in (existing or '').splitlines():
        m = RULE_RE.match(line)
        if m and m.group(1) not in managed:
            rules.add(line)
    for name in rps_by_iface:
        for queue, mask in rps_by_iface[name].items():
            for match in ('KERNEL', 'NAME'):
                rules.add('ACTION=="add", SUBSYSTEM=="net", %s=="%s", ATTR{queues/%s/rps_cpus}="%s"'
                          % (match, name, queue, mask))
    if not rules:
        return None
    return RULES_HEADER + '\n'.join(sorted(rules, key=_rule_order)) + '\n'
