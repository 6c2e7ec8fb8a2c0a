"""prober.py: packets, tokens, target planning, and the engine against small scripted peers on 127.0.0.1."""
import errno
import os
import socket
import struct
import threading
import time

import pytest

from ansible_collections.packetjungle.datapath.plugins.module_utils.icmp import checksum
from ansible_collections.packetjungle.datapath.plugins.module_utils.prober import (
    SO_TIMESTAMPNS, TOKEN_SIZE, Prober, build_icmp_echo, build_payload, check_options, corrected_rx, kernel_rx_ns,
    parse_icmp_echo_reply, parse_payload, plan_targets, run_time_bound)

NONCE = b'\x01\x02\x03\x04'


# ---- tokens and packets


def test_payload_round_trip_and_size():
    p = build_payload(NONCE, 7, 70000, 56)
    assert len(p) == 56 and p[:4] == b'PJLP'
    assert parse_payload(p, NONCE) == (7, 70000)
    assert len(build_payload(NONCE, 0, 0, TOKEN_SIZE)) == TOKEN_SIZE
    with pytest.raises(ValueError):
        build_payload(NONCE, 0, 0, TOKEN_SIZE - 1)


def test_payload_of_another_run_or_tool_is_ignored():
    p = build_payload(NONCE, 1, 2, 56)
    assert parse_payload(p, b'\x09\x09\x09\x09') is None
    assert parse_payload(p[:TOKEN_SIZE - 1], NONCE) is None
    assert parse_payload(b'X' + p[1:], NONCE) is None
    assert parse_payload(b'', NONCE) is None


def test_icmpv4_echo_request_has_valid_checksum():
    pkt = build_icmp_echo(socket.AF_INET, 0x1234, 0x10005, build_payload(NONCE, 0, 5, 56), True)
    assert pkt[0] == 8 and pkt[1] == 0
    assert struct.unpack('!HH', pkt[4:8]) == (0x1234, 0x0005)  # sequence wraps at 16 bits
    assert checksum(pkt) == 0  # a correct checksum sums to zero over the whole message
    assert len(pkt) == 8 + 56


def test_checksum_left_to_kernel_for_ping_sockets_and_icmpv6():
    v4 = build_icmp_echo(socket.AF_INET, 1, 1, b'x' * 16, False)
    v6 = build_icmp_echo(socket.AF_INET6, 1, 1, b'x' * 16, True)
    assert v4[2:4] == b'\0\0' and v6[2:4] == b'\0\0'
    assert v6[0] == 128


def ipv4_header(total_payload, ihl_words=5):
    return struct.pack('!BBHHHBBH4s4s', 0x40 | ihl_words, 0, 20 + total_payload, 0, 0, 64, 1, 0,
                       socket.inet_aton('127.0.0.1'), socket.inet_aton('127.0.0.1')) + b'\0' * (4 * (ihl_words - 5))


def as_reply(request, reply_type=0):
    return bytes([reply_type]) + request[1:]


def test_parse_reply_from_raw_ipv4_socket():
    payload = build_payload(NONCE, 3, 9, 56)
    reply = as_reply(build_icmp_echo(socket.AF_INET, 0xbeef, 9, payload, True))
    assert parse_icmp_echo_reply(ipv4_header(len(reply)) + reply, socket.AF_INET, True) == (0xbeef, 9, payload)
    # IP options make the header longer; the ICMP message starts after IHL words.
    assert parse_icmp_echo_reply(ipv4_header(len(reply), 6) + reply, socket.AF_INET, True)[1] == 9


def test_parse_reply_from_ping_and_icmpv6_sockets():
    payload = build_payload(NONCE, 0, 1, 16)
    assert parse_icmp_echo_reply(as_reply(build_icmp_echo(socket.AF_INET, 5, 1, payload, False)),
                                 socket.AF_INET, False) == (5, 1, payload)
    v6 = as_reply(build_icmp_echo(socket.AF_INET6, 5, 1, payload, False), 129)
    assert parse_icmp_echo_reply(v6, socket.AF_INET6, False) == (5, 1, payload)


def test_malformed_and_unrelated_icmp_ignored():
    req = build_icmp_echo(socket.AF_INET, 1, 1, b'y' * 16, True)
    reply = as_reply(req)
    cases = [
        (req, False),  # our own echo request, seen by a raw socket on loopback
        (as_reply(req, 3), False),  # destination unreachable
        (reply[:7], False),  # truncated header
        (b'', False),
        (ipv4_header(8)[:19], True),  # truncated IP header
        (b'\x60' + ipv4_header(len(reply))[1:] + reply, True),  # not IPv4
        (ipv4_header(len(reply), 15)[:30] + reply[:2], True),  # IHL beyond the data
        (bytes([0, 1]) + reply[2:], False),  # echo reply with a non-zero code
    ]
    for data, has_ip in cases:
        assert parse_icmp_echo_reply(data, socket.AF_INET, has_ip) is None, data
    assert parse_icmp_echo_reply(as_reply(req, 0), socket.AF_INET6, False) is None  # v4 reply type on v6


def test_kernel_timestamp_from_ancillary_data():
    anc = [(socket.SOL_SOCKET, SO_TIMESTAMPNS, struct.pack('=qq', 1700000000, 123456789))]
    assert kernel_rx_ns(anc) == 1700000000123456789
    assert kernel_rx_ns([]) is None
    assert kernel_rx_ns([(socket.SOL_SOCKET, SO_TIMESTAMPNS, b'\0\0')]) is None
    assert kernel_rx_ns([(socket.IPPROTO_IP, 99, b'\0' * 16)]) is None


def test_queue_wait_is_taken_off_receive_time():
    # Reply reached the socket 300 us before the loop read it.
    assert corrected_rx(perf_now=10000000, wall_now=5000300000, kernel_ns=5000000000, send_ns=9000000) == 9700000
    assert corrected_rx(10000000, 5000000000, None, 9000000) == 10000000
    # A clock step making the wait negative, or a wait longer than the round trip, is not trusted.
    assert corrected_rx(10000000, 4000000000, 5000000000, 9000000) == 10000000
    assert corrected_rx(10000000, 5002000000, 5000000000, 9000000) == 10000000


# ---- options and targets


def fake_resolve(mapping):
    def resolve(host, port, family, socktype):
        if host not in mapping:
            raise socket.gaierror(socket.EAI_NONAME, 'Name or service not known')
        fam = socket.AF_INET6 if ':' in mapping[host] else socket.AF_INET
        addr = (mapping[host], port) if fam == socket.AF_INET else (mapping[host], port, 0, 0)
        return [(fam, socktype, 0, '', addr)]
    return resolve


def test_plan_targets_defaults_and_inheritance():
    plans = plan_targets([{'address': '192.0.2.1'}, {'address': 'db', 'name': 'db1', 'method': 'tcp', 'port': 5432},
                          {'address': '::1', 'port': 9}], 'icmp',
                         resolve=fake_resolve({'192.0.2.1': '192.0.2.1', 'db': '192.0.2.7', '::1': '::1'}))
    assert [(p['name'], p['method'], p['ip'], p['port']) for p in plans] == [
        ('192.0.2.1', 'icmp', '192.0.2.1', None), ('db1', 'tcp', '192.0.2.7', 5432), ('::1', 'icmp', '::1', None)]
    assert plans[2]['family'] == socket.AF_INET6
    assert plans[1]['sockaddr'] == ('192.0.2.7', 5432)


@pytest.mark.parametrize('targets, method, words', [
    ([], 'icmp', 'targets: empty'),
    ([{'address': 'a'}], 'sctp', "method: 'sctp' is not a method; accepted: icmp, tcp, udp"),
    ([{'address': 'a', 'method': 'http'}], 'icmp', "targets[a].method: 'http' is not a method"),
    ([{'address': 'a', 'method': 'udp'}], 'icmp', 'targets[a].port: missing; method udp needs a port'),
    ([{'address': 'a'}], 'tcp', 'targets[a].port: missing; method tcp'),
    ([{'address': 'a', 'port': 70000}], 'udp', 'targets[a].port: 70000 is not a port; accepted: 1-65535'),
    ([{'address': 'a', 'budget': {'p99_ms': -2}}], 'icmp', 'targets[a].budget.p99_ms: -2'),
    ([{'address': 'a'}, {'address': 'b', 'name': 'a'}], 'icmp', "targets[a].name: 'a' is already used by targets[0]"),
    ([{'address': 'nowhere.invalid'}], 'icmp', "targets[nowhere.invalid].address: 'nowhere.invalid' does not resolve"),
    ([{'address': ''}], 'icmp', 'targets[0].address'),
])
def test_plan_targets_rejects(targets, method, words):
    with pytest.raises(ValueError) as e:
        plan_targets(targets, method, resolve=fake_resolve({'a': '192.0.2.1', 'b': '192.0.2.2'}))
    assert words in str(e.value)


@pytest.mark.parametrize('args, words', [
    ((0, 0.2, 1.0, 256, 56), 'count: 0'),
    ((1, -1, 1.0, 256, 56), 'interval: -1'),
    ((1, 0.2, 0, 256, 56), 'timeout: 0'),
    ((1, 0.2, 1.0, 0, 56), 'concurrency: 0'),
    ((1, 0.2, 1.0, 256, 8), 'payload_size: 8 is not accepted; accepted: bytes, 16'),
    ((1, 0.2, 1.0, 256, 70000), 'payload_size: 70000'),
])
def test_check_options(args, words):
    with pytest.raises(ValueError) as e:
        check_options(*args)
    assert words in str(e.value)
    check_options(1, 0, 0.001, 1, 16)


def test_time_bound_covers_a_run_where_every_probe_times_out():
    # 1000 targets x 10 probes, window 256: 40 windows of 1 s, plus one target's 10 x (0.2 + 1) s.
    assert run_time_bound(1000, 10, 0.2, 1.0, 256) == pytest.approx(0.2 + 12.0 + 40 + 1)


# ---- engine against scripted peers


class ScriptedUdpPeer(object):
    """UDP peer on 127.0.0.1 that answers each probe as `script(seq, data)` says: a list of (delay_s, bytes)."""

    def __init__(self, script, lifetime=5.0):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(('127.0.0.1', 0))
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.script = script
        self.lifetime = lifetime
        self.done = threading.Event()
        self.timers = []
        self.thread = threading.Thread(target=self.serve)
        self.thread.daemon = True
        self.thread.start()

    def serve(self):
        stop = time.monotonic() + self.lifetime
        while time.monotonic() < stop and not self.done.is_set():
            try:
                data, peer = self.sock.recvfrom(65535)
            except socket.timeout:
                continue
            except OSError:
                return
            seq = struct.unpack('!I', data[12:16])[0]
            for delay, answer in self.script(seq, data):
                timer = threading.Timer(delay, self.sock.sendto, (answer, peer))
                timer.start()
                self.timers.append(timer)

    def close(self):
        self.done.set()
        self.thread.join()
        for timer in self.timers:
            timer.join()
        self.sock.close()


def udp_target(port, name='peer'):
    return plan_targets([{'address': '127.0.0.1', 'name': name, 'method': 'udp', 'port': port}], 'icmp')


def test_late_reply_is_not_given_to_the_next_probe():
    # Probe 0 is answered 0.45 s after it left (its timeout is 0.4 s); probe 1, sent 0.2 s later, is answered
    # after 0.3 s. Probe 0's late answer arrives while probe 1 waits: a loop that credited "the oldest open
    # probe" would give probe 1 a 0.25 s round trip.
    def script(seq, data):
        return [(0.45 if seq == 0 else 0.3, data)]
    peer = ScriptedUdpPeer(script, lifetime=1.5)
    try:
        out = Prober(udp_target(peer.port), count=2, interval=0.2, timeout=0.4, concurrency=8, payload_size=32).run()
    finally:
        peer.close()
    t = out['targets'][0]
    assert t['sent'] == 2 and t['late'] == 1
    assert len(t['samples']) == 1
    send, recv = t['samples'][0]
    assert recv - send >= 280000000  # probe 1's own answer (0.3 s), not probe 0's late one (0.25 s after probe 1)


def test_garbage_foreign_and_duplicate_datagrams_are_ignored():
    def script(seq, data):
        foreign = data[:4] + b'\xff\xff\xff\xff' + data[8:]  # another run's nonce
        return [(0, b'garbage'), (0, b''), (0, foreign), (0.01, data), (0.02, data)]
    peer = ScriptedUdpPeer(script, lifetime=1.5)
    try:
        out = Prober(udp_target(peer.port), count=3, interval=0.05, timeout=0.3, concurrency=8, payload_size=56).run()
    finally:
        peer.close()
    t = out['targets'][0]
    # The copies of probes 0 and 1 count as late; the run ends on probe 2's answer, before its copy.
    assert (t['sent'], len(t['samples']), t['late']) == (3, 3, 2)


def test_window_caps_probes_in_flight():
    # Window of 1 over two targets on one peer that answers after 30 ms: a probe may only leave after the
    # previous one was answered.
    def script(seq, data):
        return [(0.03, data)]
    peer = ScriptedUdpPeer(script, lifetime=2.0)
    try:
        plans = plan_targets([{'address': '127.0.0.1', 'name': n, 'method': 'udp', 'port': peer.port}
                              for n in ('a', 'b')], 'icmp')
        out = Prober(plans, count=4, interval=0.0, timeout=0.5, concurrency=1, payload_size=16).run()
    finally:
        peer.close()
    assert [len(t['samples']) for t in out['targets']] == [4, 4]
    spans = sorted(s for t in out['targets'] for s in t['samples'])
    answered_at = [r for _s, r in spans]
    for (send, _r), previous_answer in zip(spans[1:], answered_at):
        assert send >= previous_answer


def test_reply_is_credited_by_arrival_time_source_and_port():
    # No sockets: the crediting rule alone. Probe 0 left at t = 1 ms with a 100 ms timeout.
    prober = Prober(udp_target(9), count=1, interval=0.0, timeout=0.1, concurrency=1, payload_size=16)
    t = prober.targets[0]
    t.next_seq = 1
    sent = 1000000

    def reply(source, recv_ns):
        prober.inflight[(0, 0)] = (sent, None)
        prober._credit(0, 0, source, 'udp', recv_ns, 0, None)
    reply(('127.0.0.2', 9), sent + 5000000)  # another host
    reply(('127.0.0.1', 10), sent + 5000000)  # another port
    assert (t.samples, t.late) == ([], 0)
    reply(('127.0.0.1', 9), sent + 100000001)  # read after the deadline: late even if the loop had not expired it
    assert (t.samples, t.late) == ([], 1)
    reply(('127.0.0.1', 9), sent + 5000000)
    assert t.samples == [(sent, sent + 5000000)]
    prober._credit(0, 0, ('127.0.0.1', 9), 'udp', sent + 6000000, 0, None)  # duplicate
    assert t.late == 2 and len(t.samples) == 1
    prober.sel.close()


def test_tcp_connect_and_refused_both_count_as_round_trips():
    listener = socket.socket()
    listener.bind(('127.0.0.1', 0))
    listener.listen(64)
    closed = socket.socket()
    closed.bind(('127.0.0.1', 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    try:
        plans = plan_targets([{'address': '127.0.0.1', 'name': 'open', 'port': listener.getsockname()[1]},
                              {'address': '127.0.0.1', 'name': 'closed', 'port': closed_port}], 'tcp')
        out = Prober(plans, count=3, interval=0.01, timeout=1.0, concurrency=4, payload_size=56).run()
    finally:
        listener.close()
    opened, refused = out['targets']
    assert (opened['sent'], len(opened['samples']), opened['refused']) == (3, 3, 0)
    assert (refused['sent'], len(refused['samples']), refused['refused']) == (3, 3, 3)


def test_unanswered_probes_are_lost_and_the_run_ends():
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(('127.0.0.1', 0))
    try:
        out = Prober(udp_target(silent.getsockname()[1]), count=3, interval=0.01, timeout=0.05, concurrency=8,
                     payload_size=16).run()
    finally:
        silent.close()
    t = out['targets'][0]
    assert (t['sent'], t['samples'], t['errors']) == (3, [], [])


def test_icmp_loopback_echo():
    out = Prober(plan_targets([{'address': '127.0.0.1'}], 'icmp'), count=3, interval=0.01, timeout=1.0,
                 concurrency=8, payload_size=56).run()
    assert out['icmp_socket']['ipv4'] in ('ping', 'raw')
    assert len(out['targets'][0]['samples']) == 3


def test_send_error_counts_as_lost_probe():
    # The kernel refuses a broadcast destination without SO_BROADCAST (EACCES) before anything leaves the host.
    plans = plan_targets([{'address': '255.255.255.255', 'method': 'udp', 'port': 9}], 'icmp')
    out = Prober(plans, count=2, interval=0.0, timeout=0.05, concurrency=8, payload_size=16).run()
    t = out['targets'][0]
    assert (t['sent'], t['samples']) == (2, [])
    assert t['errors'] == ['send: %s' % os.strerror(errno.EACCES)]
