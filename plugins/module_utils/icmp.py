# -*- coding: utf-8 -*-
# Copyright: (c) 2026, packetjungle.datapath contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""IPv4 ICMP echo with the don't-fragment bit set, to check that a peer answers at a given size.

checksum, build_echo_request and parse_echo_reply are pure; probe_df opens a socket.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import errno
import os
import select
import socket
import struct
import time

ICMP_ECHO_REPLY = 0
ICMP_ECHO_REQUEST = 8
HEADERS = 28  # IPv4 header 20 + ICMP header 8: payload = MTU - 28
MAX_PAYLOAD = 65535 - HEADERS
# linux/in.h; Python's socket module does not export them everywhere.
IP_MTU_DISCOVER = getattr(socket, 'IP_MTU_DISCOVER', 10)
# DF set, and the path-MTU cache is ignored so a stale smaller value does not fail the probe locally.
IP_PMTUDISC_PROBE = getattr(socket, 'IP_PMTUDISC_PROBE', 3)
# A route or neighbour that vanished is an unanswered echo, not an error.
NO_REPLY_ERRNOS = (errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EHOSTDOWN, errno.ECONNREFUSED)


def checksum(data):
    """RFC 1071 Internet checksum."""
    if len(data) % 2:
        data += b'\0'
    total = sum(struct.unpack('!%dH' % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xffff) + (total >> 16)
    return ~total & 0xffff


def build_echo_request(ident, seq, payload_size):
    """ICMP echo request with a patterned payload of payload_size bytes and a valid checksum."""
    if payload_size < 0 or payload_size > MAX_PAYLOAD:
        raise ValueError('payload size %d outside 0-%d' % (payload_size, MAX_PAYLOAD))
    payload = bytes(bytearray(i & 0xff for i in range(payload_size)))
    header = struct.pack('!BBHHH', ICMP_ECHO_REQUEST, 0, 0, ident & 0xffff, seq & 0xffff)
    csum = checksum(header + payload)
    return struct.pack('!BBHHH', ICMP_ECHO_REQUEST, 0, csum, ident & 0xffff, seq & 0xffff) + payload


def parse_echo_reply(data, has_ip_header):
    """(ident, seq) of an echo reply, None for anything else (including truncated data).

    Raw sockets deliver the IPv4 header too; ping (SOCK_DGRAM) sockets only the ICMP message.
    """
    if has_ip_header:
        if len(data) < 20 or data[0] >> 4 != 4:
            return None
        data = data[(data[0] & 0x0f) * 4:]
    if len(data) < 8:
        return None
    icmp_type, code, _csum, ident, seq = struct.unpack('!BBHHH', data[:8])
    if icmp_type != ICMP_ECHO_REPLY or code != 0:
        return None
    return ident, seq


def _open_socket():
    """Raw socket when root, else the unprivileged ping socket (net.ipv4.ping_group_range)."""
    try:
        return socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP), True
    except (OSError, socket.error) as e:
        if e.errno not in (errno.EPERM, errno.EACCES):
            raise
    return socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP), False


def _wait_reply(sock, raw, address, ident, seq, deadline):
    while True:
        remaining = deadline - time.time()
        if remaining <= 0:
            return False
        readable, _w, _x = select.select([sock], [], [], remaining)
        if not readable:
            return False
        data, source = sock.recvfrom(65535)
        if source[0] != address:
            continue
        reply = parse_echo_reply(data, raw)
        # The kernel rewrites the identifier of ping sockets and filters replies itself.
        if reply is not None and reply[1] == seq and (not raw or reply[0] == ident):
            return True


def probe_df(address, payload_size, timeout=1.0, count=3):
    """Send count DF echo requests of payload_size bytes to address; return how many were answered.

    0 when the packet is larger than the outgoing interface's MTU (EMSGSIZE).
    """
    sock, raw = _open_socket()
    try:
        sock.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_PROBE)
        ident = (os.getpid() ^ struct.unpack('!H', os.urandom(2))[0]) & 0xffff
        answered = 0
        for seq in range(1, count + 1):
            packet = build_echo_request(ident, seq, payload_size)
            try:
                sock.sendto(packet, (address, 0))
            except (OSError, socket.error) as e:
                if e.errno == errno.EMSGSIZE:
                    return 0
                if e.errno in NO_REPLY_ERRNOS:
                    continue
                raise
            if _wait_reply(sock, raw, address, ident, seq, time.time() + timeout):
                answered += 1
        return answered
    finally:
        sock.close()
