# -*- coding: utf-8 -*-
# Copyright: (c) 2026, packetjungle.datapath contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Probe engine: ICMP echo, TCP connect and UDP echo probes to many targets from one selectors (epoll) loop.

Pure parts (target planning, probe tokens, ICMP packet build/parse, time-bound arithmetic) are tested directly;
`run_probes` opens the sockets. Every probe payload starts with a 16-byte token (magic, per-run nonce, target index,
32-bit sequence) so a reply is credited only to the probe that caused it: a late reply to a timed-out probe, a
reply to another pinger on the host, or a stray datagram is counted or ignored, never mis-attributed.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import errno
import heapq
import math
import os
import resource
import selectors
import socket
import struct
import time

from ansible_collections.packetjungle.datapath.plugins.module_utils.icmp import (
    ICMP_ECHO_REPLY, ICMP_ECHO_REQUEST, checksum)
from ansible_collections.packetjungle.datapath.plugins.module_utils.latency import validate_budget

METHODS = ('icmp', 'tcp', 'udp')
ICMP6_ECHO_REQUEST = 128
ICMP6_ECHO_REPLY = 129
MAGIC = b'PJLP'
TOKEN = struct.Struct('!4s4sII')
TOKEN_SIZE = TOKEN.size  # 16: the smallest payload that carries the matching token
MAX_PAYLOAD = 65507  # largest IPv4 UDP/ICMP payload; IPv6 allows 20 more, the smaller bound keeps one rule
# linux/socket.h; getattr keeps older Pythons working.
SO_TIMESTAMPNS = getattr(socket, 'SO_TIMESTAMPNS', 35)
SO_RCVBUFFORCE = getattr(socket, 'SO_RCVBUFFORCE', 33)
RCVBUF_BYTES = 4 * 1024 * 1024  # room for every reply of a full window of probes between two loop turns
# Errors that mean "no answer will come": the probe is lost, the run goes on.
SEND_LOSS_ERRNOS = (errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EHOSTDOWN, errno.ENOBUFS, errno.EAGAIN,
                    errno.EPERM, errno.EACCES, errno.EMSGSIZE, errno.EADDRNOTAVAIL, errno.ECONNREFUSED)
MAX_ERRORS_KEPT = 5
READS_PER_EVENT = 512  # drain a busy socket in slices so sends and timeouts keep their turn


class ProbeSetupError(Exception):
    """A socket the run needs cannot be opened; the message says why and what would work."""


# ---------------------------------------------------------------- targets


def plan_targets(targets, default_method, resolve=socket.getaddrinfo):
    """Validated, resolved targets (list of dicts) or ValueError naming option, value and what is accepted."""
    if default_method not in METHODS:
        raise ValueError('method: %r is not a method; accepted: %s' % (default_method, ', '.join(METHODS)))
    if not targets:
        raise ValueError('targets: empty; accepted: a list of at least one dict with an address')
    plans = []
    names = {}
    for index, raw in enumerate(targets):
        where = 'targets[%d]' % index
        if not isinstance(raw, dict):
            raise ValueError('%s: %r is not a dict; accepted: a dict with address, name, method, port, budget'
                             % (where, raw))
        address = raw.get('address')
        if not address or not isinstance(address, str):
            raise ValueError('%s.address: %r; accepted: an IPv4/IPv6 address or a host name' % (where, address))
        name = raw.get('name') or address
        where = 'targets[%s]' % name
        if name in names:
            raise ValueError('%s.name: %r is already used by targets[%d]; accepted: names unique per run'
                             % (where, name, names[name]))
        names[name] = index
        method = raw.get('method') or default_method
        if method not in METHODS:
            raise ValueError('%s.method: %r is not a method; accepted: %s' % (where, method, ', '.join(METHODS)))
        port = raw.get('port')
        if method == 'icmp':
            port = None
        elif port is None:
            raise ValueError('%s.port: missing; method %s needs a port (1-65535)' % (where, method))
        elif not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
            raise ValueError('%s.port: %r is not a port; accepted: 1-65535' % (where, port))
        budget = validate_budget(raw.get('budget'), '%s.budget' % where)
        socktype = socket.SOCK_STREAM if method == 'tcp' else socket.SOCK_DGRAM
        try:
            infos = resolve(address, port or 0, 0, socktype)
        except (socket.gaierror, UnicodeError) as e:
            raise ValueError('%s.address: %r does not resolve (%s); accepted: an IPv4/IPv6 address or a '
                             'resolvable host name' % (where, address, e))
        usable = [i for i in infos if i[0] in (socket.AF_INET, socket.AF_INET6)]
        if not usable:
            raise ValueError('%s.address: %r resolves to no IPv4/IPv6 address' % (where, address))
        family, sockaddr = usable[0][0], usable[0][4]
        plans.append({'index': index, 'name': name, 'address': address, 'ip': sockaddr[0], 'family': family,
                      'sockaddr': sockaddr, 'method': method, 'port': port, 'budget': budget})
    return plans


def check_options(count, interval, timeout, concurrency, payload_size):
    """ValueError naming the first run option outside what the engine accepts."""
    rules = (
        ('count', count, count >= 1, 'an integer >= 1'),
        ('interval', interval, 0 <= interval <= 3600, 'seconds, 0-3600'),
        ('timeout', timeout, 0 < timeout <= 60, 'seconds, above 0 and at most 60'),
        ('concurrency', concurrency, 1 <= concurrency <= 65536, 'an integer, 1-65536'),
        ('payload_size', payload_size, TOKEN_SIZE <= payload_size <= MAX_PAYLOAD,
         'bytes, %d (the matching token) to %d' % (TOKEN_SIZE, MAX_PAYLOAD)),
    )
    for option, value, ok, accepted in rules:
        if not ok:
            raise ValueError('%s: %r is not accepted; accepted: %s' % (option, value, accepted))


def run_time_bound(n_targets, count, interval, timeout, concurrency):
    """Seconds after which the loop stops whatever happens.

    Each probe holds a window slot for at most `timeout`, so ceil(probes / concurrency) * timeout covers every
    wait for a slot; count * (interval + timeout) covers one target whose every probe waited a full timeout.
    """
    probes = n_targets * count
    return interval + count * (interval + timeout) + math.ceil(probes / float(concurrency)) * timeout + 1.0


# ---------------------------------------------------------------- packets


def build_payload(nonce, target_index, seq, size):
    """Token then a byte pattern, size bytes (size >= TOKEN_SIZE)."""
    if size < TOKEN_SIZE:
        raise ValueError('payload size %d is below the %d-byte token' % (size, TOKEN_SIZE))
    token = TOKEN.pack(MAGIC, nonce, target_index, seq & 0xffffffff)
    return token + bytes(bytearray(i & 0xff for i in range(TOKEN_SIZE, size)))


def parse_payload(payload, nonce):
    """(target_index, seq) from a payload that carries this run's token, else None."""
    if len(payload) < TOKEN_SIZE:
        return None
    magic, got_nonce, target_index, seq = TOKEN.unpack_from(payload)
    if magic != MAGIC or got_nonce != nonce:
        return None
    return target_index, seq


def build_icmp_echo(family, ident, seq, payload, with_checksum):
    """Echo request. ICMPv6 and ping sockets have the kernel fill the checksum; IPv4 raw sockets need it here."""
    kind = ICMP_ECHO_REQUEST if family == socket.AF_INET else ICMP6_ECHO_REQUEST
    header = struct.pack('!BBHHH', kind, 0, 0, ident & 0xffff, seq & 0xffff)
    if with_checksum and family == socket.AF_INET:
        header = struct.pack('!BBHHH', kind, 0, checksum(header + payload), ident & 0xffff, seq & 0xffff)
    return header + payload


def parse_icmp_echo_reply(data, family, has_ip_header):
    """(ident, seq, payload) of an echo reply; None for other ICMP types and truncated or malformed data.

    IPv4 raw sockets deliver the IP header; ping sockets and IPv6 raw sockets deliver only the ICMP message.
    """
    if has_ip_header:
        if len(data) < 20 or data[0] >> 4 != 4:
            return None
        ihl = (data[0] & 0x0f) * 4
        if ihl < 20 or len(data) < ihl:
            return None
        data = data[ihl:]
    if len(data) < 8:
        return None
    kind, code, _csum, ident, seq = struct.unpack_from('!BBHHH', data)
    reply = ICMP_ECHO_REPLY if family == socket.AF_INET else ICMP6_ECHO_REPLY
    if kind != reply or code != 0:
        return None
    return ident, seq, data[8:]


def kernel_rx_ns(ancdata):
    """CLOCK_REALTIME receive time from SO_TIMESTAMPNS ancillary data, or None."""
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
            if len(data) >= 16:
                sec, nsec = struct.unpack('=qq', data[:16])
            elif len(data) >= 8:
                sec, nsec = struct.unpack('=ii', data[:8])
            else:
                return None
            return sec * 1000000000 + nsec
    return None


def corrected_rx(perf_now, wall_now, kernel_ns, send_ns):
    """Receive time on the probe clock, moved back by how long the reply waited in the socket queue.

    The queue wait is a difference of two CLOCK_REALTIME readings a few microseconds apart, so a clock step
    elsewhere in the run does not leak in; a wait that would put the reply before its probe is ignored.
    """
    if kernel_ns is None:
        return perf_now
    waited = wall_now - kernel_ns
    if waited < 0 or perf_now - waited < send_ns:
        return perf_now
    return perf_now - waited


# ---------------------------------------------------------------- sockets


def _tune(sock):
    for option in (SO_RCVBUFFORCE, socket.SO_RCVBUF):
        try:
            sock.setsockopt(socket.SOL_SOCKET, option, RCVBUF_BYTES)
            break
        except OSError:
            continue
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    except OSError:
        pass  # no kernel timestamps: receive times come from the loop, a little later
    sock.setblocking(False)


def ping_group_range():
    try:
        with open('/proc/sys/net/ipv4/ping_group_range') as f:
            return f.read().split()
    except (IOError, OSError):
        return None


def open_icmp(family):
    """(socket, kind): an unprivileged ping socket where net.ipv4.ping_group_range allows, else a raw socket."""
    proto = socket.IPPROTO_ICMP if family == socket.AF_INET else socket.IPPROTO_ICMPV6
    errors = []
    for kind, socktype in (('ping', socket.SOCK_DGRAM), ('raw', socket.SOCK_RAW)):
        try:
            sock = socket.socket(family, socktype, proto)
        except OSError as e:
            if e.errno not in (errno.EACCES, errno.EPERM, errno.EPROTONOSUPPORT, errno.EAFNOSUPPORT):
                raise
            errors.append('%s socket: %s' % (kind, e.strerror))
            continue
        _tune(sock)
        return sock, kind
    raise ProbeSetupError(
        'method icmp: no ICMP socket can be opened (%s). A ping socket needs the process group inside '
        'net.ipv4.ping_group_range (now %s, gid %d), a raw socket needs root or CAP_NET_RAW; '
        'accepted instead: method tcp or udp' % ('; '.join(errors), ' '.join(ping_group_range() or ['?']),
                                                 os.getgid()))


def open_udp(family):
    sock = socket.socket(family, socket.SOCK_DGRAM)
    _tune(sock)
    sock.bind(('0.0.0.0', 0) if family == socket.AF_INET else ('::', 0))
    return sock


def _fd_limit():
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft if soft != resource.RLIM_INFINITY else 1 << 20


# ---------------------------------------------------------------- engine


class _Target(object):
    __slots__ = ('plan', 'next_seq', 'samples', 'late', 'refused', 'errors')

    def __init__(self, plan):
        self.plan = plan
        self.next_seq = 0
        self.samples = []
        self.late = 0
        self.refused = 0
        self.errors = []

    def error(self, text):
        if text not in self.errors and len(self.errors) < MAX_ERRORS_KEPT:
            self.errors.append(text)


class Prober(object):
    """One run: all probes to all targets in one selectors loop, at most `concurrency` unanswered at a time."""

    def __init__(self, plans, count, interval, timeout, concurrency, payload_size, clock=time.perf_counter_ns):
        self.targets = [_Target(p) for p in plans]
        self.count = count
        self.interval_ns = int(interval * 1e9)
        self.timeout_ns = int(timeout * 1e9)
        self.concurrency = concurrency
        self.payload_size = payload_size
        self.clock = clock
        self.bound_s = run_time_bound(len(plans), count, interval, timeout, concurrency)
        self.nonce = os.urandom(4)
        self.ident = struct.unpack('!H', os.urandom(2))[0]
        self.sel = selectors.DefaultSelector()
        self.icmp = {}  # family -> (socket, kind)
        self.udp = {}  # family -> socket
        self.inflight = {}  # (target index, seq) -> (send_ns, tcp socket or None)
        self.deadlines = []  # heap of (deadline_ns, target index, seq); stale entries are skipped
        self.pending = []  # heap of (due_ns, target index)
        self.stopped_early = False

    # -- set-up

    def _open(self):
        families = {}
        for t in self.targets:
            families.setdefault(t.plan['method'], set()).add(t.plan['family'])
        for family in sorted(families.get('icmp', ())):
            sock, kind = open_icmp(family)
            self.icmp[family] = (sock, kind)
            self.sel.register(sock, selectors.EVENT_READ, ('icmp', family))
        for family in sorted(families.get('udp', ())):
            sock = open_udp(family)
            self.udp[family] = sock
            self.sel.register(sock, selectors.EVENT_READ, ('udp', family))
        if 'tcp' in families:
            # A TCP probe holds a descriptor while in flight; stay clear of the process limit.
            self.concurrency = max(1, min(self.concurrency, _fd_limit() - 64))

    def _close(self):
        for _key, (_s, sock) in list(self.inflight.items()):
            if sock is not None:
                self._drop_tcp(sock)
        for sock, _kind in self.icmp.values():
            sock.close()
        for sock in self.udp.values():
            sock.close()
        self.sel.close()

    # -- sending

    def _send(self, t):
        plan = t.plan
        seq = t.next_seq
        t.next_seq += 1
        key = (plan['index'], seq)
        if plan['method'] == 'tcp':
            self._send_tcp(t, key)
        else:
            payload = build_payload(self.nonce, plan['index'], seq, self.payload_size)
            if plan['method'] == 'icmp':
                sock, kind = self.icmp[plan['family']]
                data = build_icmp_echo(plan['family'], self.ident, seq, payload, kind == 'raw')
                dest = (plan['ip'], 0)
            else:
                sock = self.udp[plan['family']]
                data = payload
                dest = plan['sockaddr']
            sent_ns = self.clock()
            try:
                sock.sendto(data, dest)
            except OSError as e:
                if e.errno not in SEND_LOSS_ERRNOS:
                    raise
                t.error('send: %s' % e.strerror)
                return
            self.inflight[key] = (sent_ns, None)
            heapq.heappush(self.deadlines, (sent_ns + self.timeout_ns, key[0], seq))

    def _send_tcp(self, t, key):
        plan = t.plan
        sock = socket.socket(plan['family'], socket.SOCK_STREAM)
        sock.setblocking(False)
        # Close with RST: thousands of probes must not leave thousands of TIME_WAIT sockets behind.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
        sent_ns = self.clock()
        rc = sock.connect_ex(plan['sockaddr'])
        if rc in (0, errno.ECONNREFUSED):
            self._tcp_answer(t, sent_ns, self.clock(), rc)
            sock.close()
            return
        if rc != errno.EINPROGRESS:
            sock.close()
            t.error('connect: %s' % os.strerror(rc))
            return
        self.inflight[key] = (sent_ns, sock)
        heapq.heappush(self.deadlines, (sent_ns + self.timeout_ns, key[0], key[1]))
        self.sel.register(sock, selectors.EVENT_WRITE, ('tcp', key))

    def _tcp_answer(self, t, sent_ns, recv_ns, rc):
        if rc == errno.ECONNREFUSED:
            t.refused += 1  # a RST is a full round trip too
        t.samples.append((sent_ns, recv_ns))

    def _drop_tcp(self, sock):
        try:
            self.sel.unregister(sock)
        except (KeyError, ValueError):
            pass
        sock.close()

    # -- receiving

    def _on_tcp(self, key):
        now = self.clock()
        entry = self.inflight.pop(key, None)
        if entry is None:
            return
        sent_ns, sock = entry
        rc = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        self._drop_tcp(sock)
        t = self.targets[key[0]]
        if now - sent_ns > self.timeout_ns:
            t.late += 1
        elif rc in (0, errno.ECONNREFUSED):
            self._tcp_answer(t, sent_ns, now, rc)
        else:
            t.error('connect: %s' % os.strerror(rc))

    def _credit(self, index, seq, source, method, recv_perf, recv_wall, kernel_ns):
        if index >= len(self.targets):
            return
        t = self.targets[index]
        if t.plan['method'] != method or t.plan['ip'] != source[0]:
            return
        if method == 'udp' and source[1] != t.plan['port']:
            return
        entry = self.inflight.pop((index, seq), None)
        if entry is None:
            if seq < t.next_seq:
                t.late += 1
            return
        rx = corrected_rx(recv_perf, recv_wall, kernel_ns, entry[0])
        # The loop may read a reply a little after its deadline passed; what counts is when it arrived.
        if rx - entry[0] > self.timeout_ns:
            t.late += 1
            return
        t.samples.append((entry[0], rx))

    def _on_datagram(self, method, family):
        if method == 'icmp':
            sock, kind = self.icmp[family]
        else:
            sock, kind = self.udp[family], None
        for _i in range(READS_PER_EVENT):
            try:
                data, ancdata, _flags, source = sock.recvmsg(65535, socket.CMSG_SPACE(16))
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                # An ICMP error queued on the socket (port unreachable from an earlier probe): not a reply.
                if e.errno in SEND_LOSS_ERRNOS:
                    continue
                raise
            recv_perf = self.clock()
            recv_wall = time.time_ns()
            kernel_ns = kernel_rx_ns(ancdata)
            if method == 'icmp':
                echo = parse_icmp_echo_reply(data, family, family == socket.AF_INET and kind == 'raw')
                if echo is None:
                    continue
                ident, seq16, payload = echo
                # Ping sockets get their identifier from the kernel, which also filters replies by it.
                if kind == 'raw' and ident != self.ident:
                    continue
            else:
                seq16, payload = None, data
            token = parse_payload(payload, self.nonce)
            if token is None:
                continue
            index, seq = token
            if seq16 is not None and seq16 != seq & 0xffff:
                continue
            self._credit(index, seq, source, method, recv_perf, recv_wall, kernel_ns)

    # -- the loop

    def _expire(self, now):
        while self.deadlines and self.deadlines[0][0] <= now:
            _d, index, seq = heapq.heappop(self.deadlines)
            entry = self.inflight.pop((index, seq), None)
            if entry is not None and entry[1] is not None:
                self._drop_tcp(entry[1])

    def run(self):
        """Probe every target `count` times; returns the per-target raw outcome (see `outcome`)."""
        try:
            self._open()
            start = self.clock()
            stop = start + int(self.bound_s * 1e9)
            n = len(self.targets)
            # Spread each target's first probe over one interval so a thousand targets do not start as one burst.
            for i in range(n):
                heapq.heappush(self.pending, (start + self.interval_ns * i // n, i))
            while self.pending or self.inflight:
                now = self.clock()
                if now >= stop:
                    self.stopped_early = True
                    break
                self._expire(now)
                while self.pending and self.pending[0][0] <= now and len(self.inflight) < self.concurrency:
                    _due, i = heapq.heappop(self.pending)
                    t = self.targets[i]
                    self._send(t)
                    now = self.clock()
                    if t.next_seq < self.count:
                        heapq.heappush(self.pending, (now + self.interval_ns, i))
                wake = [stop]
                if self.deadlines:
                    wake.append(self.deadlines[0][0])
                if self.pending and len(self.inflight) < self.concurrency:
                    wake.append(self.pending[0][0])
                if not self.pending and not self.inflight:
                    break
                wait = max(0, min(wake) - self.clock()) / 1e9
                for key, _mask in self.sel.select(wait):
                    what = key.data
                    if what[0] == 'tcp':
                        self._on_tcp(what[1])
                    else:
                        self._on_datagram(what[0], what[1])
            elapsed = self.clock() - start
        finally:
            self._close()
        return self.outcome(elapsed)

    def outcome(self, elapsed_ns):
        results = []
        for t in self.targets:
            errors = list(t.errors)
            if self.stopped_early and t.next_seq < self.count:
                errors.append('run stopped at its %.1f s time bound after %d of %d probes'
                              % (self.bound_s, t.next_seq, self.count))
            results.append({'plan': t.plan, 'sent': t.next_seq, 'samples': t.samples, 'late': t.late,
                            'refused': t.refused, 'errors': errors})
        kinds = {}
        for family, (_sock, kind) in self.icmp.items():
            kinds['ipv4' if family == socket.AF_INET else 'ipv6'] = kind
        return {'targets': results, 'icmp_socket': kinds, 'elapsed_ns': elapsed_ns,
                'concurrency': self.concurrency}


def run_probes(plans, count, interval, timeout, concurrency, payload_size):
    return Prober(plans, count, interval, timeout, concurrency, payload_size).run()
