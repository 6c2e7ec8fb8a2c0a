#!/usr/bin/env python
# Copyright: (c) 2026, packetjungle.datapath contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""UDP and TCP echo responder (RFC 862 style) that delays every answer and drops some UDP datagrams.

This kernel has no netem, so tests and benchmarks inject delay, jitter and loss here: each answer leaves
`--delay-ms` plus a jitter sample after its request arrived (uniform in [-j, +j] or normal with sd j, seeded,
never below zero), and each UDP datagram is dropped with probability `--loss`. TCP data is a stream, so it is
delayed (order kept) but never dropped. One process, one selectors loop, standard library only.

Prints one JSON line {"udp": PORT, "tcp": PORT, "pid": PID} once listening; on exit prints a JSON summary
to stderr. Exits after --max-seconds, or once --max-packets requests have arrived and their answers are out.

  tests/tools/delay_responder.py --bind 127.0.0.1 --delay-ms 5 --jitter-ms 1 --loss 0.2 --seed 7 --max-seconds 30
"""
import argparse
import heapq
import json
import os
import random
import selectors
import socket
import sys
import time


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n', maxsplit=1)[0])
    ap.add_argument('--bind', default='127.0.0.1', help='address to listen on (IPv4 or IPv6)')
    ap.add_argument('--udp-port', type=int, default=0, help='0 = any free port; -1 = no UDP')
    ap.add_argument('--tcp-port', type=int, default=0, help='0 = any free port; -1 = no TCP')
    ap.add_argument('--delay-ms', type=float, default=0.0)
    ap.add_argument('--jitter-ms', type=float, default=0.0)
    ap.add_argument('--jitter-dist', choices=('uniform', 'normal'), default='uniform')
    ap.add_argument('--loss', type=float, default=0.0, help='fraction of UDP datagrams dropped, 0-1')
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--max-seconds', type=float, default=60.0)
    ap.add_argument('--max-packets', type=int, default=0, help='0 = no packet limit')
    args = ap.parse_args(argv)
    if not 0 <= args.loss <= 1:
        ap.error('--loss: %r is outside 0-1' % args.loss)
    if args.delay_ms < 0 or args.jitter_ms < 0:
        ap.error('--delay-ms and --jitter-ms must be >= 0')
    if not 0 < args.max_seconds <= 3600:
        ap.error('--max-seconds: %r is outside (0, 3600]' % args.max_seconds)
    return args


class Responder(object):
    def __init__(self, args):
        self.args = args
        self.rng = random.Random(args.seed)
        self.family = socket.AF_INET6 if ':' in args.bind else socket.AF_INET
        # select(2) takes a microsecond timeout; epoll and poll round up to whole milliseconds, which would
        # add up to 1 ms to every injected delay.
        self.sel = selectors.SelectSelector()
        self.due = []  # heap of (due_s, order, action, argument)
        self.order = 0
        self.stats = {'udp_in': 0, 'udp_dropped': 0, 'udp_out': 0, 'tcp_in': 0, 'tcp_out_bytes': 0, 'tcp_conns': 0}
        self.conns = {}  # socket -> {'out': bytearray, 'last_due': float}
        self.udp = self.tcp = None
        if args.udp_port >= 0:
            self.udp = socket.socket(self.family, socket.SOCK_DGRAM)
            self.udp.bind((args.bind, args.udp_port))
            self.udp.setblocking(False)
            self.sel.register(self.udp, selectors.EVENT_READ, 'udp')
        if args.tcp_port >= 0:
            self.tcp = socket.socket(self.family, socket.SOCK_STREAM)
            self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.tcp.bind((args.bind, args.tcp_port))
            self.tcp.listen(1024)
            self.tcp.setblocking(False)
            self.sel.register(self.tcp, selectors.EVENT_READ, 'listen')

    def delay(self):
        base = self.args.delay_ms / 1000.0
        j = self.args.jitter_ms / 1000.0
        if j:
            base += self.rng.uniform(-j, j) if self.args.jitter_dist == 'uniform' else self.rng.gauss(0.0, j)
        return max(0.0, base)

    def schedule(self, when, action, argument):
        self.order += 1
        heapq.heappush(self.due, (when, self.order, action, argument))

    def requests(self):
        return self.stats['udp_in'] + self.stats['tcp_in']

    def on_udp(self):
        for _i in range(256):
            if self.args.max_packets and self.requests() >= self.args.max_packets:
                return
            try:
                data, peer = self.udp.recvfrom(65535)
            except BlockingIOError:
                return
            now = time.monotonic()
            self.stats['udp_in'] += 1
            # Draw the loss and the delay for every datagram so one seed gives one sequence of decisions.
            lost = self.rng.random() < self.args.loss
            delay = self.delay()
            if lost:
                self.stats['udp_dropped'] += 1
            else:
                self.schedule(now + delay, 'udp', (data, peer))

    def on_accept(self):
        for _i in range(256):
            try:
                conn, _peer = self.tcp.accept()
            except BlockingIOError:
                return
            conn.setblocking(False)
            self.stats['tcp_conns'] += 1
            self.conns[conn] = {'out': bytearray(), 'last_due': 0.0}
            self.sel.register(conn, selectors.EVENT_READ, 'conn')

    def close(self, conn):
        self.sel.unregister(conn)
        self.conns.pop(conn, None)
        conn.close()

    def on_conn(self, conn):
        try:
            data = conn.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b''
        if not data:
            self.close(conn)
            return
        self.stats['tcp_in'] += 1
        state = self.conns[conn]
        # A stream cannot reorder: a chunk never leaves before the one received earlier.
        when = max(time.monotonic() + self.delay(), state['last_due'])
        state['last_due'] = when
        self.schedule(when, 'tcp', (conn, data))

    def flush(self, conn):
        state = self.conns.get(conn)
        if state is None:
            return
        try:
            sent = conn.send(bytes(state['out']))
        except BlockingIOError:
            sent = 0
        except OSError:
            self.close(conn)
            return
        self.stats['tcp_out_bytes'] += sent
        del state['out'][:sent]
        self.sel.modify(conn, selectors.EVENT_READ | (selectors.EVENT_WRITE if state['out'] else 0), 'conn')

    def fire(self, action, argument):
        if action == 'udp':
            data, peer = argument
            try:
                self.udp.sendto(data, peer)
                self.stats['udp_out'] += 1
            except OSError:
                pass
        elif argument[0] in self.conns:
            self.conns[argument[0]]['out'] += argument[1]
            self.flush(argument[0])

    def serve(self):
        stop = time.monotonic() + self.args.max_seconds
        limit = self.args.max_packets
        while True:
            now = time.monotonic()
            if now >= stop:
                break
            while self.due and self.due[0][0] <= now:
                _when, _order, action, argument = heapq.heappop(self.due)
                self.fire(action, argument)
            if limit and self.requests() >= limit:
                self.stop_listening()
                if not self.due:
                    break
            wait = stop - now
            if self.due:
                wait = min(wait, self.due[0][0] - now)
            for key, mask in self.sel.select(max(0.0, wait)):
                if key.data == 'udp':
                    self.on_udp()
                elif key.data == 'listen':
                    self.on_accept()
                elif mask & selectors.EVENT_WRITE:
                    self.flush(key.fileobj)
                elif not (limit and self.requests() >= limit):
                    self.on_conn(key.fileobj)
                else:
                    self.close(key.fileobj)

    def stop_listening(self):
        # Requests past the limit stay unread in the kernel instead of waking the loop.
        for sock in (self.udp, self.tcp):
            if sock is not None and self.sel.get_map().get(sock.fileno()) is not None:
                self.sel.unregister(sock)

    def ports(self):
        return {'udp': self.udp.getsockname()[1] if self.udp else None,
                'tcp': self.tcp.getsockname()[1] if self.tcp else None}


def main(argv=None):
    args = parse_args(argv)
    responder = Responder(args)
    ready = dict(responder.ports(), pid=os.getpid())
    sys.stdout.write(json.dumps(ready) + '\n')
    sys.stdout.flush()
    try:
        responder.serve()
    except KeyboardInterrupt:
        pass
    sys.stderr.write(json.dumps(responder.stats) + '\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
