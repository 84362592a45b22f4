from common import *
import struct
W = dict(dst="02:00:00:00:02:01", src="02:00:00:00:02:0a")
src, dst = "2001:db8:2::7", "2001:db8:1::9"
POL = """\
  - { name: no-ssh,  direction: inbound, priority: 1, proto: tcp, dport: 22, action: discard }
  - { name: lan-in,  direction: inbound, priority: 5, dst: "2001:db8:1::/64", action: bypass }"""
syn = TCP(sport=40000, dport=22, flags="S", seq=1)
whole = Ether(**W)/IPv6(src=src, dst=dst)/syn
raw_tcp = bytes(IPv6(src=src, dst=dst)/syn)[40:]          # 20-byte TCP header with checksum
# first fragment: an 8-byte Destination Options header only, its next header says TCP
f0 = Ether(**W)/IPv6(src=src, dst=dst)/IPv6ExtHdrFragment(nh=60, offset=0, m=1, id=7)/Raw(bytes([6, 0, 1, 4, 0, 0, 0, 0]))
f1 = Ether(**W)/IPv6(src=src, dst=dst)/IPv6ExtHdrFragment(nh=6, offset=1, m=0, id=7)/Raw(raw_tcp)
r = run("tiny6", wan_in=[whole, f0, f1], policies=POL)
report(r)
