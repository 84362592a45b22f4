from common import *
import struct
W = dict(dst="02:00:00:00:02:01", src="02:00:00:00:02:0a")
src, dst = "2001:db8:2::7", "2001:db8:1::9"
# (a) honest non-initial fragment of a UDP datagram: ports OPAQUE -> only port-ANY entries
a = Ether(**W)/IPv6(src=src, dst=dst, hlim=64)/IPv6ExtHdrFragment(nh=17, offset=10, m=0, id=0x1111)/Raw(b"a"*40)
# (b) non-initial fragment (offset 10 = byte 80) whose *payload* starts with a second
#     fragment header (offset 0) and a fake UDP header to port 500
fake = struct.pack("!BBHI", 17, 0, 0, 0x2222) + struct.pack("!HHHH", 1234, 500, 48, 0) + b"b"*32
b = Ether(**W)/IPv6(src=src, dst=dst, hlim=64)/IPv6ExtHdrFragment(nh=44, offset=10, m=0, id=0x1111)/Raw(fake)
# (c) same trick for TCP: a non-initial fragment looks like TCP to port 4500
fake_c = struct.pack("!BBHI", 6, 0, 0, 0x3333) + struct.pack("!HHIIBBHHH", 1234, 4500, 1, 0, 0x50, 2, 1024, 0, 0) + b"c"*16
c = Ether(**W)/IPv6(src=src, dst=dst, hlim=64)/IPv6ExtHdrFragment(nh=44, offset=10, m=1, id=0x1111)/Raw(fake_c)
r = run("frag6", wan_in=[a, b, c])
report(r)
for f in r["lan_out"] or []:
    p = Ether(f); print(p[IPv6].summary(), "frag-offset", p[IPv6ExtHdrFragment].offset, "payload starts", bytes(p[IPv6ExtHdrFragment].payload)[:12].hex())
