from common import *
import common
# hub-and-spoke: site B (192.168.2/24, SA from-b) reaches site C (192.168.3/24, SA to-c) through us
more_sa = """\
  - name: to-c
    direction: outbound
    spi: 0x3000
    peer: site-b
    local: 172.16.1.5
    remote: 172.16.3.5
    aead: {{ algorithm: aes-128-gcm, key: "0x%s", salt: "0x%s" }}
""" % (KEY.hex(), SALT.hex())
common.BASE = common.BASE.replace("policies:\n", more_sa + "policies:\n")
POL = """\
  - { name: lan-to-b, direction: outbound, priority: 10, src: 192.168.1.0/24, dst: 192.168.2.0/24, action: protect, sa: to-b }
  - { name: any-to-c, direction: outbound, priority: 10, dst: 192.168.3.0/24, action: protect, sa: to-c }
  - { name: b-in,     direction: inbound,  priority: 10, src: 192.168.2.0/24, dst: 192.168.0.0/16, action: protect, sa: from-b }"""
RT = DEF_RT + """
  - { dst: 172.16.3.0/24, port: wan, next_hop_mac: "02:00:00:00:02:0a" }
  - { dst: 192.168.3.0/24, port: wan, next_hop_mac: "02:00:00:00:02:0a" }"""
inner = IP(src="192.168.2.7", dst="192.168.3.9", ttl=64)/UDP(sport=1111, dport=2222)/Raw(b"B-TO-C-CONFIDENTIAL")
r = run("hub", wan_in=IN_SA.esp([inner]), policies=POL, routes=RT)
report(r)
for f in r["wan_out"] or []:
    p = Ether(f); print(" wan:", p[IP].summary(), bytes(p[IP].payload)[:40])
