from common import *
import sys
def inner(k, last):
    # inner IPv4/UDP whose last byte is `last`; length chosen so ESP stays 4-aligned
    pl = b"A" * 22 + bytes([last])
    return IP(src="192.168.2.7", dst="192.168.1.9", ttl=64)/UDP(sport=1000+k, dport=2000)/Raw(pl)
def pad255(ip, seq):
    b = ip_bytes(ip)
    assert (len(b) + 2 + 255) % 4 == 0, len(b)
    return esp._encrypt_custom(ip, IN_SA, seq, bytes(range(1, 256)), 255, 4)
which = sys.argv[1]
good = [IN_SA.esp([inner(k, 0x41)], start_seq=k+1)[0] for k in range(3)]
if which == "nz":   # 255 pad bytes, byte before padding != 0: valid RFC 4303 packet
    bad = pad255(inner(9, 0x41), 10)
else:               # byte before padding == 0
    bad = pad255(inner(9, 0x00), 10)
after = [IN_SA.esp([inner(20+k, 0x41)], start_seq=20+k)[0] for k in range(3)]
r = run("pad255-" + which, wan_in=good + [bad] + after, timeout=20, mode=sys.argv[2] if len(sys.argv) > 2 else "lookaside")
report(r)
