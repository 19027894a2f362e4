"""Name every attempt to reach an outside address from inside a network namespace.

Run inside the namespace (``ip netns exec NS python netsniff.py OUT``) as root: it captures every
packet on every interface there (AF_PACKET) until SIGTERM, and writes to OUT, one JSON object per
line, each TCP or UDP packet that is not loopback-to-loopback traffic, plus every DNS query (on any
interface, loopback included) with the name asked for. The test namespace has loopback and a
black-hole default route (one end of a veth pair whose other end drops everything), so an attempt to
reach the world leaves a packet here instead of failing before it is sent.
"""

import ipaddress
import json
import signal
import socket
import struct
import sys

ETH_P_ALL = 0x0003


def dns_name(payload):
    """The first question's name of a DNS query, or None."""
    try:
        labels, offset = [], 12
        while payload[offset]:
            length = payload[offset]
            labels.append(payload[offset + 1: offset + 1 + length].decode("ascii", "replace"))
            offset += 1 + length
        return ".".join(labels)
    except IndexError:
        return None


def describe(frame, interface):
    """``{interface, proto, src, dst, dport, name?}`` of an IPv4/IPv6 frame, or None."""
    ethertype = struct.unpack("!H", frame[12:14])[0]
    if ethertype == 0x0800:
        header = (frame[14] & 0x0F) * 4
        proto, src, dst = frame[23], frame[26:30], frame[30:34]
        payload = frame[14 + header:]
    elif ethertype == 0x86DD:
        proto, src, dst = frame[20], frame[22:38], frame[38:54]
        payload = frame[54:]
    else:
        return None
    if proto not in (6, 17):
        return None  # ICMPv6/IGMP: the kernel's own router solicitations and group reports, not a client
    src, dst = str(ipaddress.ip_address(src)), str(ipaddress.ip_address(dst))
    entry = {"interface": interface, "proto": {6: "tcp", 17: "udp"}[proto], "src": src, "dst": dst}
    if len(payload) >= 4:
        entry["dport"] = struct.unpack("!H", payload[2:4])[0]
        if proto == 17 and entry["dport"] == 53:
            entry["name"] = dns_name(payload[8:])
    loopback = ipaddress.ip_address(src).is_loopback and ipaddress.ip_address(dst).is_loopback
    if loopback and "name" not in entry:
        return None
    return entry


def main(out_path):
    sniffer = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with open(out_path, "a", encoding="utf-8", buffering=1) as out:
        print("ready", file=out)
        while True:
            frame, address = sniffer.recvfrom(65535)
            if address[2] == socket.PACKET_OUTGOING and address[0] == "lo":
                continue  # loopback frames are seen twice: keep the incoming copy
            entry = describe(frame, address[0])
            if entry:
                out.write(json.dumps(entry) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
