# -*- coding: utf-8 -*-
# Copyright: (c) 2026, packetjungle.datapath contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import errno
import socket
import struct

import pytest

from ansible_collections.packetjungle.datapath.plugins.module_utils import icmp


def ipv4_header(payload_len, ihl=5):
    header = struct.pack('!BBHHHBBH4s4s', 0x40 | ihl, 0, ihl * 4 + payload_len, 1, 0x4000, 64, 1, 0,
                         socket.inet_aton('127.0.0.1'), socket.inet_aton('127.0.0.1'))
    return header + b'\x01' * (ihl * 4 - 20)


def echo_reply(ident, seq, payload=b'abc'):
    body = struct.pack('!BBHHH', 0, 0, 0, ident, seq) + payload
    return body[:2] + struct.pack('!H', icmp.checksum(body)) + body[4:]


def can_open_icmp_socket():
    try:
        sock, _raw = icmp._open_socket()
    except (OSError, socket.error):
        return False
    sock.close()
    return True


def test_checksum_rfc1071_example():
    # RFC 1071 section 3: the one's complement sum of these bytes is ddf2.
    assert icmp.checksum(b'\x00\x01\xf2\x03\xf4\xf5\xf6\xf7') == 0xffff - 0xddf2


def test_checksum_odd_length_is_zero_padded():
    assert icmp.checksum(b'\x12\x34\x56') == icmp.checksum(b'\x12\x34\x56\x00')


@pytest.mark.parametrize('size', [0, 1, 1372, icmp.MAX_PAYLOAD])
def test_build_echo_request(size):
    packet = icmp.build_echo_request(0x1234, 7, size)
    assert len(packet) == 8 + size
    assert struct.unpack('!BBHHH', packet[:8])[0:2] == (8, 0)
    assert struct.unpack('!HH', packet[4:8]) == (0x1234, 7)
    assert icmp.checksum(packet) == 0


@pytest.mark.parametrize('size', [-1, icmp.MAX_PAYLOAD + 1])
def test_build_echo_request_rejects_sizes(size):
    with pytest.raises(ValueError):
        icmp.build_echo_request(1, 1, size)


def test_parse_echo_reply():
    reply = echo_reply(0xbeef, 3)
    assert icmp.parse_echo_reply(reply, False) == (0xbeef, 3)
    assert icmp.parse_echo_reply(ipv4_header(len(reply)) + reply, True) == (0xbeef, 3)
    assert icmp.parse_echo_reply(ipv4_header(len(reply), ihl=6) + reply, True) == (0xbeef, 3)


@pytest.mark.parametrize('data,raw', [
    (icmp.build_echo_request(1, 1, 10), False),
    (echo_reply(1, 1)[:7], False),
    (b'', True),
    (b'\x60' + b'\0' * 30, True),
    (struct.pack('!BBHHH', 3, 4, 0, 0, 1400), False),
])
def test_parse_echo_reply_ignores_other_data(data, raw):
    assert icmp.parse_echo_reply(data, raw) is None


@pytest.mark.skipif(not can_open_icmp_socket(), reason='needs root or net.ipv4.ping_group_range for ICMP sockets')
def test_probe_df_loopback():
    assert icmp.probe_df('127.0.0.1', 1472, timeout=1.0, count=2) == 2
    # loopback's MTU is 65536, so the largest IPv4 datagram goes through with DF set
    assert icmp.probe_df('127.0.0.1', icmp.MAX_PAYLOAD, timeout=1.0, count=1) == 1


class TooBigSocket(object):
    """Socket whose send fails like the kernel's for a DF packet larger than the route's MTU."""

    def __init__(self):
        self.options = []
        self.closed = False

    def setsockopt(self, level, name, value):
        self.options.append((level, name, value))

    def sendto(self, data, address):
        raise OSError(errno.EMSGSIZE, 'Message too long')

    def close(self):
        self.closed = True


def test_probe_df_too_large_for_interface_is_zero(monkeypatch):
    sock = TooBigSocket()
    monkeypatch.setattr(icmp, '_open_socket', lambda: (sock, True))
    assert icmp.probe_df('10.99.0.2', 8972, timeout=0.1, count=3) == 0
    assert sock.options == [(socket.IPPROTO_IP, 10, 3)]
    assert sock.closed
