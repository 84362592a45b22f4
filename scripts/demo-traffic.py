#!/usr/bin/python3
"""Write the demo's synthetic LAN traffic: plaintext UDP and TCP flows from
192.168.1.0/24 to 192.168.2.0/24, frames of 64 to 1418 bytes, addressed to
the LAN port of conf/latchgate.yaml. latchgate replays the file forever."""
import sys

from scapy.all import IP, TCP, UDP, Ether, Raw, wrpcap  # noqa: E402

out = sys.argv[1] if len(sys.argv) > 1 else "/run/latchgate/demo-lan.pcap"
frames = []
for i in range(256):
    l4 = UDP(sport=1024 + i, dport=5001) if i % 3 else TCP(sport=1024 + i, dport=443, flags="A")
    # 64..1418-byte frames: four sizes, every flow its own 5-tuple.
    pad = (18, 200, 600, 1350)[i % 4] - (12 if i % 3 == 0 else 0)
    frames.append(Ether(src="02:00:00:00:01:0a", dst="02:00:00:00:01:01")
                  / IP(src="192.168.1.%d" % (i % 50 + 1), dst="192.168.2.%d" % (i % 7 + 1))
                  / l4 / Raw(bytes(pad)))
wrpcap(out, frames)
print("demo: wrote %d frames to %s" % (len(frames), out))
