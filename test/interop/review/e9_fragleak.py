from common import *
L = dict(dst="02:00:00:00:01:01", src="02:00:00:00:01:0a")
POL = """\
  - { name: sip-to-b, direction: outbound, priority: 1, src: 192.168.1.0/24, dst: 192.168.2.0/24, proto: udp, dport: 5060, action: protect, sa: to-b }
  - { name: rest-out, direction: outbound, priority: 5, dst: 192.168.2.0/24, action: bypass }"""
RT = DEF_RT + '\n  - { dst: 192.168.2.0/24, port: wan, next_hop_mac: "02:00:00:00:02:0a" }'
dg = IP(src="192.168.1.9", dst="192.168.2.7", id=99)/UDP(sport=5060, dport=5060)/Raw(b"INVITE sip:secret " * 100)
frs = [Ether(**L)/f for f in dg.fragment(fragsize=1000)]
r = run("fragleak", lan_in=frs, policies=POL, routes=RT)
report(r)
for f in r["wan_out"] or []:
    p = Ether(f); print(" wan:", p[IP].summary(), "frag", p[IP].frag, bytes(p[IP].payload)[:24])
