from common import *
W = dict(dst="02:00:00:00:02:01", src="02:00:00:00:02:0a")
RT = DEF_RT + '\n  - { dst: 172.16.1.0/24, port: wan, next_hop_mac: "02:00:00:00:02:0a" }'
ike = Ether(**W)/IP(src="172.16.2.5", dst="172.16.1.5", ttl=64)/UDP(sport=500, dport=500)/Raw(b"\x11"*40)
natt_ike = Ether(**W)/IP(src="172.16.2.5", dst="172.16.1.5", ttl=64)/UDP(sport=4500, dport=4500)/Raw(b"\0\0\0\0" + b"\x22"*40)
# a fragmented ESP-in-UDP packet to us: RFC 4303 3.4.1 says drop; here its first fragment is "IKE"
big = IP(src="172.16.2.5", dst="172.16.1.5", ttl=64, id=77)/UDP(sport=4500, dport=4500)/Raw(b"\x00\x00\x20\x00" + b"\x33"*200)
frs = [Ether(**W)/f for f in big.fragment(fragsize=64)]
r = run("tous", wan_in=[ike, natt_ike, frs[0]], routes=RT)
report(r)
for f in r["wan_out"] or []:
    p = Ether(f); print(" out on wan:", p.src, "->", p.dst, p[IP].summary(), "ttl", p[IP].ttl, "flags", p[IP].flags)
