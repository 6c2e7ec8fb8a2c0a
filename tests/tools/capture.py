"""A bounded packet capture for one interface, standard library only, so it
runs inside any lab node with `docker exec -i NODE python3 - ARGS < capture.py`.

Records every IPv4 TCP packet to or from PORT on IFACE for at most SECONDS
(and at most 200 packets), as seen at the interface: outgoing packets after
the tc egress programs (what leaves the node), incoming ones before tc ingress
(what arrived). Prints one JSON list: direction ("in"/"out"), source and
destination address and port, TCP flags, and the IP options in hex.

Usage: capture.py IFACE PORT SECONDS
It prints "ready" on stderr once the socket is bound, so the caller can send
traffic only after that.
"""
import json
import select
import socket
import struct
import sys
import time

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
FLAGS = ((0x02, "S"), (0x10, "A"), (0x01, "F"), (0x04, "R"), (0x08, "P"))


def parse(frame, pkttype):
    """One Ethernet frame -> the packet's record, or None if not IPv4 TCP."""
    if len(frame) < 34 or frame[12:14] != b"\x08\x00":
        return None
    ip = frame[14:]
    ihl = (ip[0] & 0x0F) * 4
    if ip[9] != 6 or len(ip) < ihl + 20:
        return None
    tcp = ip[ihl:]
    sport, dport = struct.unpack("!HH", tcp[:4])
    return {
        "dir": "out" if pkttype == PACKET_OUTGOING else "in",
        "src": socket.inet_ntoa(ip[12:16]), "sport": sport,
        "dst": socket.inet_ntoa(ip[16:20]), "dport": dport,
        "flags": "".join(name for bit, name in FLAGS if tcp[13] & bit),
        "ip_options": ip[20:ihl].hex(),
    }


def main(argv):
    iface, port, seconds = argv[0], int(argv[1]), min(float(argv[2]), 60.0)
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    sock.bind((iface, ETH_P_ALL))
    sys.stderr.write("ready\n")
    sys.stderr.flush()
    packets = []
    deadline = time.monotonic() + seconds
    while len(packets) < 200:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([sock], [], [], left)[0]:
            break
        frame, address = sock.recvfrom(65535)
        record = parse(frame, address[2])
        if record and port in (record["sport"], record["dport"]):
            packets.append(record)
    print(json.dumps(packets))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
