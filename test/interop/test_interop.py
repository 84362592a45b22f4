#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Interop tests: latchgate against scapy's ESP, through net_pcap files.

Each case writes lan_in.pcap / wan_in.pcap and a YAML config into its own
temp dir, runs the gateway until its input is exhausted, then checks
lan_out.pcap / wan_out.pcap (decrypted by scapy) and the stats JSON.

  test/interop/test_interop.py [--latchgate build/latchgate] [--only GLOB[,GLOB]]
                               [--keep] [--jobs 2] [--list] [--selftest]

--only takes case names or shell globs ("inbound.*", "*.cpu.*"). The last
line is "N passed, M failed"; the exit status is 1 if M > 0.
--selftest checks the oracle (esp.py selftest), then runs every case
against fake_latchgate.py (a model of the contract) and checks that bugs
injected into the model make the expected cases fail.
"""

import argparse
import collections
import concurrent.futures
import difflib
import fnmatch
import hashlib
import json
import os
import shlex
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))

if __name__ == "__main__":
    # scapy 2.5.0 is Debian's: only /usr/bin/python3 sees it (see esp.py).
    _want = "/usr/bin/python3"
    if os.path.realpath(sys.executable) != os.path.realpath(_want) and \
            os.path.exists(_want) and not os.environ.get("LG_NO_REEXEC"):
        os.environ["LG_NO_REEXEC"] = "1"
        os.execv(_want, [_want] + sys.argv)

import esp  # noqa: E402
from esp import (LAN_GW_MAC, LAN_HOST_MAC, PEER_IP, WAN_GW_IP,  # noqa: E402
                 WAN_GW_MAC, WAN_PEER_MAC, LAN_NET, REMOTE_NET)

TIMEOUT = 60
N_BASIC = 200     # packets per direction in the basic cases
N_HOSTILE = 40    # good packets in a hostile case
REPLAY_WINDOW = 1024

# Every drop counter the contract names; each must be present, and any
# counter not expected by the case must read 0.
DROP_COUNTERS = ("esp_unknown_spi", "esp_truncated", "esp_replay",
                 "esp_auth_failed", "esp_bad_trailer", "esp_selector_mismatch",
                 "spd_protect_clear", "spd_no_match", "spd_discard",
                 "ttl_exceeded", "no_route", "malformed", "not_ip")

CONFIG = """\
# written by test/interop/test_interop.py, case {case}
ports:
  - {{ name: lan, role: protected,   device: "net_pcap0,rx_pcap={d}/lan_in.pcap,tx_pcap={d}/lan_out.pcap", address: 192.168.1.254, mac: "{lan_mac}" }}
  - {{ name: wan, role: unprotected, device: "net_pcap1,rx_pcap={d}/wan_in.pcap,tx_pcap={d}/wan_out.pcap", address: {wan_ip}, mac: "{wan_mac}" }}
crypto: {{ devices: [{device}], mode: {mode} }}
peers:
  - {{ name: site-b, id: "fqdn:gw-b.example.net", address: {peer_ip} }}
sas:
  - name: to-b
    direction: outbound
    spi: 0x{out_spi:x}
    peer: site-b
    local: {wan_ip}
    remote: {peer_ip}
    aead: {out_aead}
  - name: from-b
    direction: inbound
    spi: 0x{in_spi:x}
    peer: site-b
    local: {wan_ip}
    remote: {peer_ip}
    aead: {in_aead}
    replay_window: {window}
{more_sas}policies:
{policies}
routes:
{routes}
control: {{ socket: {d}/control.sock }}
"""


def _yaml_value(v):
    if isinstance(v, (list, tuple)):
        return "[%s]" % ", ".join(_yaml_value(x) for x in v)
    if isinstance(v, str) and (":" in v or "-" in v.strip("-")):
        return '"%s"' % v          # MACs, "lo-hi" port ranges
    return str(v)


def policy(name, direction, priority, action, sa=None, **sel):
    """One SPD entry as a YAML flow item (conf/README.md, policies). sel:
    src, dst, proto, sport, dport; a port list is [500, 4500]."""
    f = ["name: %s" % name, "direction: %s" % direction, "priority: %d" % priority]
    f += ["%s: %s" % (k, _yaml_value(sel.pop(k))) for k in
          ("src", "dst", "proto", "sport", "dport") if k in sel]
    assert not sel, "unknown selector %s" % sel
    f.append("action: %s" % action)
    if sa is not None:
        f.append("sa: %s" % sa)
    return "  - { %s }" % ", ".join(f)


def route(dst, port, next_hop_mac):
    return '  - { dst: %s, port: %s, next_hop_mac: "%s" }' % (dst, port, next_hop_mac)


PEER_NET = "172.16.2.0/24"
# The SPD and routes every case has unless its scenario replaces them.
DEFAULT_POLICIES = (
    policy("lan-to-b", "outbound", 10, "protect", "to-b", src=LAN_NET, dst=REMOTE_NET),
    policy("b-to-lan", "inbound", 10, "protect", "from-b", src=REMOTE_NET, dst=LAN_NET),
)
DEFAULT_ROUTES = (
    route(PEER_NET, "wan", WAN_PEER_MAC),
    route(LAN_NET, "lan", LAN_HOST_MAC),
)


# ------------------------------------------------------------------ table
@dataclass(frozen=True)
class Case:
    name: str
    scenario: str            # key of SCENARIOS
    alg: str
    mode: str                # lookaside | cpu
    device: str              # cryptodev vdev name


ALL4 = [(a, m) for a in ("aes-128-gcm", "aes-256-gcm") for m in ("lookaside", "cpu")]
ONE = [("aes-128-gcm", "lookaside")]
ONE_CPU = [("aes-128-gcm", "lookaside"), ("aes-128-gcm", "cpu")]
DEVICES = {"aesni_gcm": "crypto_aesni_gcm0", "aesni_mb": "crypto_aesni_mb0"}
GCM = ("aesni_gcm",)
BOTH = ("aesni_gcm", "aesni_mb")

# scenario          crypto combos                                   devices
TABLE = [
    ("outbound",     ALL4,                                           BOTH),
    ("inbound",      ALL4,                                           BOTH),
    ("bidir",        [("aes-128-gcm", "cpu"), ("aes-256-gcm", "lookaside")], GCM),
    ("bad-icv",      ALL4,                                           GCM),
    ("replay",       ALL4,                                           GCM),
    ("truncated",    ALL4,                                           GCM),
    ("misaligned",   ALL4,                                           GCM),
    ("bad-trailer",  ALL4,                                           GCM),
    ("selectors",    ALL4,                                           GCM),
    ("unknown-spi",  ONE,                                            GCM),  # no crypto runs
    ("clear-on-wan", ONE,                                            GCM),  # no crypto runs
    ("bypass-out",   ONE_CPU,                                        GCM),
    ("bypass-in",    ONE_CPU,                                        GCM),
    ("discard",      ONE_CPU,                                        GCM),
    ("discard-swapped", ONE_CPU,                                     GCM),
    # "discard-tie" (overlapping policies of equal priority) is now refused
    # by the config loader (RFC 4301 §4.4.1 deterministic order): see
    # test/unit/test_config.c and test_control.py.
    ("no-match",     ONE_CPU,                                        GCM),
    ("no-route",     ONE_CPU,                                        GCM),
    ("ttl",          ONE_CPU,                                        GCM),
    ("not-ip",       ONE_CPU,                                        GCM),
]


def all_cases():
    out = []
    for scen, combos, devs in TABLE:
        for dev in devs:
            for alg, mode in combos:
                bits = alg.split("-")
                out.append(Case("%s.%s%s.%s.%s" % (scen, bits[2], bits[1], mode, dev),
                                scen, alg, mode, DEVICES[dev]))
    return out


# -------------------------------------------------------------- scenarios
@dataclass
class Scenario:
    lan_in: List[bytes] = field(default_factory=list)
    wan_in: List[bytes] = field(default_factory=list)
    lan_out: List[bytes] = field(default_factory=list)      # expected frames
    wan_esp: List[bytes] = field(default_factory=list)      # expected inner (pre-TTL)
    drops: Dict[str, int] = field(default_factory=dict)
    sa_packets: Dict[str, int] = field(default_factory=dict)
    bad: List[esp.Item] = field(default_factory=list)       # for leak diagnosis
    summary: str = ""
    # Clear frames forwarded by a BYPASS policy. Each list is in order, but
    # its interleaving with the ESP stream of the same port is free: the
    # gateway sends a burst's bypassed packets before its crypto results.
    wan_out: List[bytes] = field(default_factory=list)      # expected frames
    lan_bypass: List[bytes] = field(default_factory=list)   # expected frames
    # Config: None keeps DEFAULT_POLICIES / DEFAULT_ROUTES; more_* append.
    policies: Optional[List[str]] = None
    routes: Optional[List[str]] = None
    more_policies: List[str] = field(default_factory=list)
    more_routes: List[str] = field(default_factory=list)
    more_sas: List[str] = field(default_factory=list)        # YAML SA items


def _mac(m):
    return bytes.fromhex(m.replace(":", ""))


def fwd_frame(inner, dst_mac, src_mac):
    """A forwarded IPv4 packet: next hop's and port's MACs, TTL - 1."""
    return _mac(dst_mac) + _mac(src_mac) + b"\x08\x00" + esp.ttl_aside(inner)


def lan_frame(inner):
    """What a forwarded inbound inner packet looks like on lan_out."""
    return fwd_frame(inner, LAN_HOST_MAC, LAN_GW_MAC)


def seed_of(case, what):
    return int.from_bytes(hashlib.sha256((case.name + what).encode()).digest()[:4], "big")


def sas_for(case):
    """Keys differ per case and per direction; deterministic."""
    klen = esp.ALGS[case.alg]
    def key(what):
        return hashlib.sha256((case.name + what).encode()).digest()[:klen]
    def salt(what):
        return hashlib.sha256((case.name + what + "salt").encode()).digest()[:4]
    out = esp.Sa(0x1000, case.alg, key("to-b"), salt("to-b"), WAN_GW_IP, PEER_IP)
    inb = esp.Sa(0x2000, case.alg, key("from-b"), salt("from-b"), PEER_IP, WAN_GW_IP)
    return out, inb


def plain_out(case, n, avoid=(esp.LAN_GW_IP, WAN_GW_IP)):
    return esp.make_plain(n, flows=16, src_net=LAN_NET, dst_net=REMOTE_NET,
                          eth_src=LAN_HOST_MAC, eth_dst=LAN_GW_MAC, seed=seed_of(case, "lan"),
                          avoid=avoid)


def plain_in(case, n):
    return esp.make_plain(n, flows=16, src_net=REMOTE_NET, dst_net=LAN_NET,
                          eth_src=WAN_PEER_MAC, eth_dst=WAN_GW_MAC, seed=seed_of(case, "wan"),
                          index_base=100000)


def build_outbound(case, n=N_BASIC):
    p = plain_out(case, n)
    return Scenario(lan_in=[bytes(x) for x in p], wan_esp=[esp.ip_bytes(x) for x in p],
                    sa_packets={"to-b": n, "from-b": 0},
                    summary="%d plain -> ESP seq 1..%d" % (n, n))


def build_inbound(case, n=N_BASIC):
    _, inb = sas_for(case)
    inners = plain_in(case, n)
    return Scenario(wan_in=[bytes(f) for f in inb.esp(inners)],
                    lan_out=[lan_frame(i) for i in inners],
                    sa_packets={"to-b": 0, "from-b": n},
                    summary="%d ESP -> plain" % n)


def build_bidir(case):
    o, i = build_outbound(case, N_BASIC // 2), build_inbound(case, N_BASIC // 2)
    return Scenario(lan_in=o.lan_in, wan_esp=o.wan_esp, wan_in=i.wan_in, lan_out=i.lan_out,
                    sa_packets={"to-b": N_BASIC // 2, "from-b": N_BASIC // 2},
                    summary="%d each way" % (N_BASIC // 2))


def hostile(mix, counter):
    def build(case):
        out, inb = sas_for(case)
        inners = plain_in(case, N_HOSTILE)
        if mix is esp.mix_unknown_spi:
            items = mix(inb, inners, {out.spi: out})
        elif mix is esp.mix_replay:
            items = mix(inb, inners, window=REPLAY_WINDOW)
        else:
            items = mix(inb, inners)
        good = [it for it in items if it.good]
        bad = [it for it in items if not it.good]
        return Scenario(wan_in=[it.frame for it in items],
                        lan_out=[lan_frame(it.inner) for it in good],
                        drops={counter: len(bad)}, bad=bad,
                        sa_packets={"to-b": 0, "from-b": len(good)},
                        summary="%d good passed, %d bad counted as %s"
                        % (len(good), len(bad), counter))
    return build


# ------------------------------------------------ policy and L2/L3 scenarios
# Each input frame is a Pkt with its fate: where it must come out, or the
# drop counter that must count it. mixed() turns a list of them into a
# Scenario; frames and expectations come from the same list, so they agree.
N_MIX = 40          # good packets per direction in a policy scenario

BYPASS_NET = "198.51.100.0/24"      # TEST-NET-2: reached in the clear via wan
BYPASS_HI = "198.51.100.128/25"     # a longer route inside it
BYPASS_MAC = "02:00:00:00:02:0b"    # next hop of BYPASS_NET
BYPASS_HI_MAC = "02:00:00:00:02:0c"  # next hop of BYPASS_HI
IKE_HOST = "192.168.1.10"           # an IKE responder behind the gateway
OUT_HOST = "203.0.113.9"            # TEST-NET-3: some host on the internet
DISCARD_HOST = "192.168.2.77"       # inside REMOTE_NET, discarded by a /32
TIE_HOST = "192.168.2.78"           # inside REMOTE_NET, discard listed after protect

FATES = ("esp", "wan", "lan", "lan-clear")
# esp:       outbound, leaves wan as ESP of to-b (its seq is its rank)
# wan:       outbound BYPASS, leaves wan in the clear (mac: the route's next hop)
# lan:       inbound ESP of from-b, decrypted, leaves lan
# lan-clear: inbound BYPASS, leaves lan in the clear
# anything else is the drop counter that must count the packet


@dataclass(eq=False)
class Pkt:
    frame: Optional[bytes]   # None until mixed() encrypts an inbound ESP one
    fate: str
    inner: Optional[bytes]   # the IPv4 packet as it entered (None: not IPv4)
    why: str = ""
    mac: str = ""            # next hop for a clear fate (default: the usual one)
    esp_in: bool = False     # send inner inside ESP of from-b
    outer_ttl: int = 64      # esp_in only
    post: Optional[Callable[[bytes], bytes]] = None   # esp_in: edit the ESP frame


def ip_frame(src, dst, index, proto="udp", sport=40000, dport=5001, ttl=64, size=100,
             eth_src=LAN_HOST_MAC, eth_dst=LAN_GW_MAC, flags=0, frag=0):
    """Ether/IPv4/{UDP,TCP,ICMP} of `size` bytes carrying MARK + index, so
    esp.packet_index() names it. frag > 0 makes a non-initial fragment whose
    first 8 payload bytes look like a UDP header for sport/dport (a gateway
    must not read ports there: RFC 4301 §7)."""
    from scapy.layers.inet import ICMP, IP, TCP, UDP
    from scapy.layers.l2 import Ether
    from scapy.packet import Raw
    l4len = {"udp": 8, "tcp": 20, "icmp": 8}[proto]
    body = esp.MARK + index.to_bytes(4, "big")
    body += bytes((index * 7 + k) & 0xff for k in range(size - 14 - 20 - l4len - len(body)))
    ip = IP(src=src, dst=dst, ttl=ttl, id=index & 0xffff, flags=flags, frag=frag,
            proto={"udp": 17, "tcp": 6, "icmp": 1}[proto])
    if frag:
        l4 = Raw(struct.pack("!HHHH", sport, dport, 8 + len(body), 0))
    elif proto == "udp":
        l4 = UDP(sport=sport, dport=dport)
    elif proto == "tcp":
        l4 = TCP(sport=sport, dport=dport, flags="S", seq=index)
    else:
        l4 = ICMP(type=8, id=index & 0xffff)
    b = bytes(Ether(src=eth_src, dst=eth_dst) / ip / l4 / Raw(body))
    assert len(b) == size, (len(b), size)
    return b


def lan_ip(src, dst, index, **kw):
    return ip_frame(src, dst, index, eth_src=LAN_HOST_MAC, eth_dst=LAN_GW_MAC, **kw)


def wan_ip(src, dst, index, **kw):
    return ip_frame(src, dst, index, eth_src=WAN_PEER_MAC, eth_dst=WAN_GW_MAC, **kw)


def pkt(frame, fate, why="", mac=""):
    """A Pkt for an Ethernet frame sent as is."""
    return Pkt(frame, fate, esp.ip_bytes(frame[14:]), why, mac)


def esp_pkt(frame, fate="lan", why="", outer_ttl=64, post=None):
    """A Pkt whose IP packet arrives on wan inside ESP of from-b."""
    return Pkt(None, fate, esp.ip_bytes(frame[14:]), why, esp_in=True,
               outer_ttl=outer_ttl, post=post)


def junk_pkt(frame, fate, why):
    return Pkt(bytes(frame), fate, None, why)


def good_out(case, n=N_MIX, **kw):
    return [pkt(bytes(f), "esp", "protected") for f in plain_out(case, n, **kw)]


def good_in(case, n=N_MIX):
    return [esp_pkt(bytes(f), "lan", "protected") for f in plain_in(case, n)]


def _set_outer_ttl(frame, ttl):
    """Outer TTL is not covered by the ICV (RFC 4303 §2): ESP stays valid."""
    b = bytearray(frame)
    ip = bytearray(b[14:34])
    ip[8] = ttl
    b[14:34] = esp._fix_ip_header(ip)
    return bytes(b)


def mixed(case, lan=(), wan=(), summary="", sa_packets=None, **cfg):
    """Scenario for Pkts arriving on lan and on wan, in that order per port.
    Inbound ESP Pkts are encrypted under from-b with seq 1, 2, ... in order."""
    _, inb = sas_for(case)
    lan, wan = list(lan), list(wan)
    todo = [p for p in wan if p.esp_in]
    for p, f in zip(todo, inb.esp([p.inner for p in todo]) if todo else []):
        p.frame = _set_outer_ttl(bytes(f), p.outer_ttl) if p.outer_ttl != 64 else bytes(f)
        if p.post:
            p.frame = p.post(p.frame)
    sc = Scenario(lan_in=[p.frame for p in lan], wan_in=[p.frame for p in wan], **cfg)
    drops = collections.Counter()
    for p in lan + wan:
        if p.fate == "esp":
            sc.wan_esp.append(p.inner)
        elif p.fate == "wan":
            sc.wan_out.append(fwd_frame(p.inner, p.mac or WAN_PEER_MAC, WAN_GW_MAC))
        elif p.fate in ("lan", "lan-clear"):
            assert p.esp_in == (p.fate == "lan"), "%s: fate lan is for ESP only" % p.why
            (sc.lan_out if p.fate == "lan" else sc.lan_bypass).append(
                fwd_frame(p.inner, p.mac or LAN_HOST_MAC, LAN_GW_MAC))
        else:
            assert p.fate in DROP_COUNTERS, p.fate
            drops[p.fate] += 1
            sc.bad.append(esp.Item(p.frame, False, p.inner, p.why))
    sc.drops = dict(drops)
    sc.sa_packets = {"to-b": len(sc.wan_esp), "from-b": len(sc.lan_out)}
    sc.sa_packets.update(sa_packets or {})
    parts = ["%d ESP out" % len(sc.wan_esp), "%d ESP in" % len(sc.lan_out)]
    parts += ["%d clear out" % len(sc.wan_out)] if sc.wan_out else []
    parts += ["%d clear in" % len(sc.lan_bypass)] if sc.lan_bypass else []
    parts += ["%d %s" % (v, k) for k, v in sorted(drops.items())]
    sc.summary = "%s: %s" % (summary, ", ".join(parts)) if summary else ", ".join(parts)
    return sc


def build_bypass_out(case):
    """Outbound BYPASS (RFC 4301 §4.4.1): LAN -> 198.51.100.0/24 leaves wan in
    the clear, TTL - 1, with the MACs of the longest matching route, mixed
    with protected traffic that is still ESP with seq 1..N."""
    halves = []
    for k, (net, mac) in enumerate((("198.51.100.0/25", BYPASS_MAC),
                                    (BYPASS_HI, BYPASS_HI_MAC))):
        halves.append([pkt(bytes(f), "wan", "bypass to %s" % net, mac=mac) for f in
                       esp.make_plain(12, flows=6, src_net=LAN_NET, dst_net=net,
                                      eth_src=LAN_HOST_MAC, eth_dst=LAN_GW_MAC,
                                      seed=seed_of(case, "bypass%d" % k),
                                      index_base=30000 + 100 * k)])
    byp = [p for pair in zip(*halves) for p in pair]       # alternate the two routes
    return mixed(case, lan=esp._interleave(good_out(case), byp), summary="bypass out",
                 more_policies=[policy("lan-bypass", "outbound", 10, "bypass",
                                       src=LAN_NET, dst=BYPASS_NET)],
                 more_routes=[route(BYPASS_NET, "wan", BYPASS_MAC),
                              route(BYPASS_HI, "wan", BYPASS_HI_MAC)])


IKE_POLICY = policy("ike", "inbound", 5, "bypass", proto="udp", dport=[500, 4500])


def build_bypass_in(case):
    """Inbound BYPASS of IKE (UDP 500/4500) from the wan to the lan, ahead of
    the protect policy; only the listed proto and ports pass."""
    b, i = 31000, iter(range(100))
    w = lambda src, fate, why, **kw: pkt(wan_ip(src, IKE_HOST, b + next(i), **kw), fate, why)
    clear = [
        w(PEER_IP, "lan-clear", "udp 500", sport=500, dport=500),
        w(PEER_IP, "lan-clear", "udp 4500", sport=4500, dport=4500, size=300),
        w(OUT_HOST, "lan-clear", "udp 4500 ttl 2", sport=4500, dport=4500, ttl=2),
        w("192.168.2.7", "lan-clear", "udp 500 inside the protect selectors (priority 5 < 10)",
          sport=500, dport=500),
        w(PEER_IP, "lan-clear", "udp 500, first fragment", sport=500, dport=500, size=600,
          flags="MF"),
        w(PEER_IP, "spd_no_match", "udp 501", sport=500, dport=501),
        w(PEER_IP, "spd_no_match", "udp 499", sport=500, dport=499),
        w(PEER_IP, "spd_no_match", "tcp 500", proto="tcp", sport=500, dport=500),
        w(PEER_IP, "spd_no_match", "udp sport 500 dport 1234", sport=500, dport=1234),
        w(PEER_IP, "spd_no_match", "udp non-initial fragment, 'dport 500' in its payload",
          sport=500, dport=500, frag=64),
        w("192.168.2.7", "spd_protect_clear", "udp 501 inside the protect selectors",
          sport=500, dport=501),
    ]
    return mixed(case, wan=esp._interleave(good_in(case), clear), summary="IKE bypass in",
                 more_policies=[IKE_POLICY])


def discard_scenario(order):
    """Outbound DISCARD of one host inside the protect selectors, inbound
    DISCARD of plaintext UDP 9. order: which policy wins where they overlap:
    "discard" (priority 5 < 10), "swapped" (20 > 10: protect wins), "tie"
    (all 10: file order decides, RFC 4301 §4.4.1 ordered SPD)."""
    def build(case):
        prio = {"discard": 5, "swapped": 20, "tie": 10}[order]
        won = order != "swapped"          # does the discard win the overlap?
        b, i = 32000, iter(range(100))
        hosts = [pkt(bytes(f), "spd_discard" if won else "esp", "to %s" % DISCARD_HOST)
                 for f in esp.make_plain(8, flows=4, src_net=LAN_NET,
                                         dst_net=DISCARD_HOST + "/32",
                                         seed=seed_of(case, "discard"), index_base=b)]
        # .78: protected; in "tie" a discard for it is listed after the protect.
        hosts += [pkt(bytes(f), "esp", "to %s" % TIE_HOST)
                  for f in esp.make_plain(4, flows=2, src_net=LAN_NET, dst_net=TIE_HOST + "/32",
                                          seed=seed_of(case, "tie"), index_base=b + 50)]
        hosts = [p for pair in zip(hosts[:4], hosts[8:]) for p in pair] + hosts[4:8]
        lan = esp._interleave(good_out(case, avoid=(esp.LAN_GW_IP, DISCARD_HOST, TIE_HOST)),
                              hosts)
        w = lambda src, fate, why, **kw: pkt(wan_ip(src, IKE_HOST, b + 90 + next(i), **kw),
                                             fate, why)
        clear = [w(PEER_IP, "spd_discard", "udp 9", dport=9),
                 w("192.168.2.7", "spd_discard" if won else "spd_protect_clear",
                   "udp 9 inside the protect selectors", dport=9),
                 w(OUT_HOST, "spd_discard", "udp 9 from elsewhere", proto="udp", dport=9)]
        wan = esp._interleave(good_in(case, N_MIX // 2), clear)
        drop_host = policy("drop-host", "outbound", prio, "discard", src=LAN_NET,
                           dst=DISCARD_HOST + "/32")
        drop_9 = policy("drop-9", "inbound", prio, "discard", proto="udp", dport=9)
        # tie: .77 and UDP 9 listed before the protect entries, .78 after
        pols = [drop_host, drop_9] + list(DEFAULT_POLICIES)
        if order == "tie":
            pols.append(policy("drop-tie", "outbound", 10, "discard", src=LAN_NET,
                               dst=TIE_HOST + "/32"))
        return mixed(case, lan=lan, wan=wan, policies=pols,
                     summary="discard at priority %d vs protect at 10" % prio)
    return build


def build_no_match(case):
    """Nothing in the SPD matches (RFC 4301 §4.4.1: the final discard)."""
    b, i = 33000, iter(range(100))
    L = lambda src, dst, why, **kw: pkt(lan_ip(src, dst, b + next(i), **kw), "spd_no_match", why)
    W = lambda src, dst, why, **kw: pkt(wan_ip(src, dst, b + next(i), **kw), "spd_no_match", why)
    out = [L("192.168.1.20", "10.1.2.3", "dst outside every selector"),
           L("192.168.1.20", "192.168.3.5", "dst next to the remote net", proto="tcp"),
           L("192.168.7.1", "192.168.2.5", "src outside the lan net", proto="icmp"),
           L("192.168.1.20", "198.51.100.5", "no bypass policy in this config"),
           L("192.168.1.20", PEER_IP, "to the peer itself, in the clear"),
           L("192.168.2.9", "192.168.1.20", "the inbound policy's selectors, on lan")]
    inn = [W("10.0.0.1", IKE_HOST, "src outside every selector"),
           W(PEER_IP, IKE_HOST, "udp 500 without an IKE bypass policy", sport=500, dport=500),
           W("192.168.2.9", "192.168.4.1", "dst outside the lan net")]
    return mixed(case, lan=esp._interleave(good_out(case), out),
                 wan=esp._interleave(good_in(case), inn), summary="no policy matches")


def build_no_route(case):
    """Policies that let a packet through to a destination with no route:
    outbound protect to an SA whose tunnel end has no route (routed on the
    outer header, RFC 4301 §5.1.2), outbound bypass, inbound protect after
    decryption, inbound bypass."""
    out_c = esp.Sa(0x1001, case.alg, hashlib.sha256((case.name + "to-c").encode())
                   .digest()[:esp.ALGS[case.alg]], b"\0\1\2\3", WAN_GW_IP, "172.16.3.5")
    b, i = 34000, iter(range(100))
    L = lambda dst, **kw: lan_ip("192.168.1.20", dst, b + next(i), **kw)
    out = ([pkt(L("192.168.3.%d" % k), "no_route", "protect via to-c, 172.16.3.5 unrouted")
            for k in range(1, 5)] +
           [pkt(L("203.0.113.%d" % k, proto=("udp", "tcp")[k % 2]), "no_route", "bypass, unrouted")
            for k in range(1, 5)])
    inn = ([esp_pkt(ip_frame("192.168.2.%d" % k, "192.168.5.%d" % k, b + next(i)),
                    "no_route", "decrypted to 192.168.5.0/24, unrouted") for k in range(1, 5)] +
           [pkt(wan_ip(OUT_HOST, "192.0.2.%d" % k, b + next(i)), "no_route", "bypass, unrouted")
            for k in range(1, 4)])
    lan = esp._interleave(good_out(case), out[0::2] + out[1::2])
    wan = esp._interleave(good_in(case), inn[0::2] + inn[1::2])   # ESP seqs: arrival order
    return mixed(case, lan=lan, wan=wan, summary="no route",
                 sa_packets={"from-b": N_MIX + 4, "to-c": 4},   # counted, then unroutable
                 more_sas=["  - { name: to-c, direction: outbound, spi: 0x%x, peer: site-b, "
                           "local: %s, remote: %s, aead: %s }"
                           % (out_c.spi, out_c.src, out_c.dst, out_c.yaml_aead())],
                 more_policies=[
                     policy("lan-to-c", "outbound", 10, "protect", "to-c",
                            src=LAN_NET, dst="192.168.3.0/24"),
                     policy("lan-out-x", "outbound", 10, "bypass", src=LAN_NET,
                            dst="203.0.113.0/24"),
                     policy("b-to-x", "inbound", 10, "protect", "from-b",
                            src=REMOTE_NET, dst="192.168.5.0/24"),
                     policy("in-bypass-x", "inbound", 10, "bypass", src="203.0.113.0/24",
                            dst="192.0.2.0/24")])


def build_ttl(case):
    """A forwarded packet with TTL <= 1 is dropped (RFC 1812 §5.3.1), before
    it is encrypted; TTL 2 leaves with TTL 1. The outer TTL of ESP addressed
    to the gateway does not matter: the gateway is its destination."""
    b, i = 35000, iter(range(100))
    L = lambda dst, ttl, fate, **kw: pkt(lan_ip("192.168.1.30", dst, b + next(i), ttl=ttl, **kw),
                                         fate, "ttl %d to %s" % (ttl, dst),
                                         mac=BYPASS_MAC if dst.startswith("198.") else "")
    out = [L("192.168.2.5", 1, "ttl_exceeded"),
           L("192.168.2.6", 1, "ttl_exceeded", proto="tcp"),
           L("192.168.2.7", 0, "ttl_exceeded", proto="icmp"),
           L("192.168.2.8", 2, "esp"),
           L("192.168.2.9", 2, "esp", proto="icmp"),
           L("198.51.100.9", 1, "ttl_exceeded"),
           L("198.51.100.9", 2, "wan"),
           L("198.51.100.10", 0, "ttl_exceeded", proto="tcp")]
    I = lambda ttl, fate, why, **kw: esp_pkt(ip_frame("192.168.2.40", "192.168.1.40",
                                                      b + next(i), ttl=ttl), fate, why, **kw)
    C = lambda ttl, fate: pkt(wan_ip(PEER_IP, IKE_HOST, b + next(i), sport=500, dport=500,
                                     ttl=ttl), fate, "clear IKE ttl %d" % ttl)
    inn = [I(1, "ttl_exceeded", "inner ttl 1"),
           I(0, "ttl_exceeded", "inner ttl 0"),
           I(2, "lan", "inner ttl 2"),
           I(64, "lan", "outer ttl 1", outer_ttl=1),
           C(1, "ttl_exceeded"),
           C(2, "lan-clear")]
    return mixed(case, lan=esp._interleave(good_out(case), out),
                 wan=esp._interleave(good_in(case), inn), summary="ttl",
                 more_policies=[IKE_POLICY,
                                policy("lan-bypass", "outbound", 10, "bypass",
                                       src=LAN_NET, dst=BYPASS_NET)],
                 more_routes=[route(BYPASS_NET, "wan", BYPASS_MAC)])


def junk_frames(eth_src, eth_dst, index):
    """Frames that are not IPv4 (-> not_ip) or whose L2/L3 header is broken
    (-> malformed), as [(frame, counter, why)]."""
    from scapy.layers.inet import IP, UDP
    from scapy.layers.inet6 import IPv6
    from scapy.layers.l2 import ARP, LLC, Dot1Q, Ether
    from scapy.packet import Raw
    eth = Ether(src=eth_src, dst=eth_dst)
    hdr = bytes(eth)[:12]
    ok = ip_frame("192.168.1.50", "192.168.2.50", index, eth_src=eth_src, eth_dst=eth_dst,
                  size=120)

    def ip_edit(fn, fix=True):
        b = bytearray(ok)
        ip = bytearray(b[14:34])
        fn(ip)
        if fix:
            esp._fix_ip_header(ip)
        b[14:34] = ip
        return bytes(b)

    def tot(n):
        return lambda ip: ip.__setitem__(slice(2, 4), struct.pack("!H", n))
    v6 = bytes(IPv6(src="2001:db8::1", dst="2001:db8::2") / UDP(sport=1, dport=2) / Raw(b"x" * 40))
    return [
        (bytes(eth / ARP(op=1, hwsrc=eth_src, psrc="192.168.1.20", pdst="192.168.1.254")),
         "not_ip", "ARP request"),
        (bytes(eth / LLC(dsap=0x42, ssap=0x42) / Raw(b"\0" * 38)), "not_ip",
         "802.3 length field, STP"),
        (bytes(eth / Dot1Q(vlan=5) / IP(ok[14:])), "not_ip", "VLAN-tagged IPv4"),
        (hdr + b"\x08\x00" + ok[14:20], "malformed", "20-byte frame"),
        (hdr + b"\x08\x00", "malformed", "Ethernet header only"),
        (ip_edit(tot(len(ok) - 14 + 100)), "malformed", "total length 100 bytes past the frame"),
        (ip_edit(tot(len(ok) - 14 + 1)), "malformed", "total length 1 byte past the frame"),
        (hdr + b"\x08\x00" + v6, "malformed", "an IPv6 packet under the IPv4 ethertype"),
        (ip_edit(lambda ip: ip.__setitem__(0, 0x65)), "malformed", "version 6, IHL 5"),
        (ip_edit(lambda ip: ip.__setitem__(0, 0x44)), "malformed", "IHL 4"),
        (ip_edit(tot(16)), "malformed", "total length 16 < IHL"),
        (ip_edit(lambda ip: (ip.__setitem__(0, 0x4f), tot(40)(ip))), "malformed",
         "IHL 15, total length 40"),
    ]


def build_junk(case):
    """Non-IP and malformed frames on both sides, between good traffic; and
    good frames with Ethernet padding, which the gateway must strip."""
    out = [junk_pkt(f, c, "lan: " + why) for f, c, why in
           junk_frames(LAN_HOST_MAC, LAN_GW_MAC, 36000)]
    inn = [junk_pkt(f, c, "wan: " + why) for f, c, why in
           junk_frames(WAN_PEER_MAC, WAN_GW_MAC, 36100)]
    # A minimum-size Ethernet frame: 36-byte IPv4 packet and 10 bytes of padding.
    small = ip_frame("192.168.1.60", "192.168.2.60", 36200, size=50)
    out.insert(5, pkt(small + bytes(10), "esp", "padded to 60 bytes"))

    def longer(f):
        b = bytearray(f)
        b[16:18] = struct.pack("!H", len(f) - 14 + 4)
        b[14:34] = esp._fix_ip_header(bytearray(b[14:34]))
        return bytes(b)
    extra = plain_in(case, N_MIX + 2)[N_MIX:]
    inn.insert(5, esp_pkt(bytes(extra[0]), "lan", "ESP + 6 bytes of Ethernet padding",
                          post=lambda f: f + bytes(6)))
    inn.insert(9, esp_pkt(bytes(extra[1]), "malformed", "ESP, total length 4 past the frame",
                          post=longer))
    return mixed(case, lan=esp._interleave(good_out(case), out),
                 wan=esp._interleave(good_in(case), inn), summary="non-IP and malformed")


SCENARIOS: Dict[str, Callable[[Case], Scenario]] = {
    "outbound": build_outbound,
    "inbound": build_inbound,
    "bidir": build_bidir,
    # hostile inbound: good packets interleaved with bad ones of one kind
    "bad-icv": hostile(esp.mix_bad_icv, "esp_auth_failed"),
    "replay": hostile(esp.mix_replay, "esp_replay"),
    "truncated": hostile(esp.mix_truncated, "esp_truncated"),
    "misaligned": hostile(esp.mix_misaligned, "esp_truncated"),
    "bad-trailer": hostile(esp.mix_bad_trailer, "esp_bad_trailer"),
    "selectors": hostile(esp.mix_outside_selectors, "esp_selector_mismatch"),
    "unknown-spi": hostile(esp.mix_unknown_spi, "esp_unknown_spi"),
    "clear-on-wan": hostile(esp.mix_plain_on_wan, "spd_protect_clear"),
    # SPD actions, routes, TTL, L2/L3 validity; their own policies and routes
    "bypass-out": build_bypass_out,
    "bypass-in": build_bypass_in,
    "discard": discard_scenario("discard"),
    "discard-swapped": discard_scenario("swapped"),
    "discard-tie": discard_scenario("tie"),
    "no-match": build_no_match,
    "no-route": build_no_route,
    "ttl": build_ttl,
    "not-ip": build_junk,
}


# ----------------------------------------------------------------- checks
class Fail:
    """Collects reasons; keeps the first few of each kind."""
    def __init__(self):
        self.reasons: List[str] = []

    def __call__(self, msg):
        self.reasons.append(msg)

    def some(self, label, msgs, limit=3):
        if msgs:
            more = " (+%d more)" % (len(msgs) - limit) if len(msgs) > limit else ""
            self("%s: %s%s" % (label, "; ".join(msgs[:limit]), more))


def read_out(path, fail, label):
    if not path.exists():
        fail("%s missing (port not started?)" % label)
        return []
    try:
        return esp.read_pcap(str(path))
    except Exception as e:  # a truncated pcap is a gateway bug, not ours
        fail("%s unreadable: %s" % (label, e))
        return []


def _index(f):
    """The packet index make_plain()/ip_frame() put in frame f, or None."""
    try:
        return esp.packet_index(f[14:])
    except Exception:      # not IPv4, too short, ...: a junk frame
        return None


def _frame_name(f, bad_idx=None):
    idx = _index(f)
    if idx is None:
        return "an unknown packet"
    if bad_idx and idx in bad_idx:
        return "input packet %d, a bad packet: %s" % (idx, bad_idx[idx])
    return "input packet %d" % idx


def _leaks(scen):
    """{frame a bad packet would be on lan_out: why}, {index: why}."""
    leaked, by_idx = {}, {}
    for b in scen.bad:
        if b.inner is None:
            continue
        try:
            leaked[lan_frame(b.inner)] = b.why
        except (ValueError, esp.EspError):    # ttl < 2 or not IPv4
            pass
        idx = _index(b"\0" * 14 + b.inner)
        if idx is not None:
            by_idx[idx] = b.why
    return leaked, by_idx


def check_frames(label, want, got, fail, leaked=None, bad_idx=None):
    """got must be exactly want, in order."""
    if got == want:
        return
    leaked = leaked or {}
    allowed = collections.Counter(want)
    seen = collections.Counter()
    msgs = []
    for k, g in enumerate(got):
        seen[g] += 1
        if g in leaked and seen[g] > allowed[g]:
            msgs.append("frame %d is a bad packet (%s)" % (k, leaked[g]))
    fail.some("%s leaked" % label, msgs)
    if len(got) != len(want):
        fail("%s has %d frames, expected %d" % (label, len(got), len(want)))
    if sorted(got) == sorted(want):
        first = next(k for k, (a, b) in enumerate(zip(got, want)) if a != b)
        fail("%s has the expected frames in another order (first at %d)" % (label, first))
        return
    diffs, missing, extra = [], [], []
    sm = difflib.SequenceMatcher(None, want, got, autojunk=False)
    for op, i1, i2, j1, j2 in sm.get_opcodes():
        if op == "equal":
            continue
        if op == "replace" and i2 - i1 == j2 - j1:
            for i, j in zip(range(i1, i2), range(j1, j2)):
                w, g = want[i], got[j]
                if g[:14] != w[:14]:
                    diffs.append("frame %d: ethernet %s, expected %s"
                                 % (j, g[:14].hex(), w[:14].hex()))
                else:
                    diffs.append("frame %d: %s" % (j, esp.describe_diff(w[14:], g[14:])))
            continue
        missing += ["expected frame %d (%s)" % (i, _frame_name(want[i])) for i in range(i1, i2)]
        extra += ["frame %d (%s)" % (j, _frame_name(got[j], bad_idx)) for j in range(j1, j2)
                  if got[j] not in leaked]
    fail.some("%s differs" % label, diffs)
    fail.some("%s lacks" % label, missing)
    fail.some("%s has unexpected" % label, extra)


def split_stream(got, stream):
    """(frames of got not in stream, frames of got in stream), order kept. A
    frame is in stream if it is one of its frames or carries the index of one."""
    frames = set(stream)
    idx = {_index(f) for f in stream} - {None}
    rest, mine = [], []
    for g in got:
        (mine if g in frames or _index(g) in idx else rest).append(g)
    return rest, mine


def check_lan_out(scen, got, fail):
    """lan_out must be exactly scen.lan_out, in order (and scen.lan_bypass,
    in order, interleaved freely with it)."""
    leaked, bad_idx = _leaks(scen)
    if not scen.lan_bypass:
        check_frames("lan_out", scen.lan_out, got, fail, leaked, bad_idx)
        return
    rest, byp = split_stream(got, scen.lan_bypass)
    check_frames("lan_out", scen.lan_out, rest, fail, leaked, bad_idx)
    check_frames("lan_out bypass", scen.lan_bypass, byp, fail, leaked, bad_idx)


def _is_esp(f):
    return len(f) >= 34 and f[12:14] == b"\x08\x00" and f[23] == esp.IPPROTO_ESP


def check_wan_out(case, scen, got, fail):
    """ESP frames of to-b (scen.wan_esp) and clear frames (scen.wan_out): each
    in order, their interleaving free."""
    out_sa, _ = sas_for(case)
    clear = [g for g in got if not _is_esp(g)]
    if clear or scen.wan_out:
        got = [g for g in got if _is_esp(g)]
        check_frames("wan_out clear", scen.wan_out, clear, fail, bad_idx=_leaks(scen)[1])
    want = scen.wan_esp
    if not want:
        if got:
            fail("wan_out has %d frames, expected none" % len(got))
        return
    if len(got) != len(want):
        fail("wan_out has %d ESP frames, expected %d" % (len(got), len(want)))
    hdr, dec = [], []
    ivs = collections.Counter()
    mac = lambda m: bytes.fromhex(m.replace(":", ""))
    for k, (g, w) in enumerate(zip(got, want)):
        if len(g) < 14 + 20 + esp.ESP_MIN_LEN:
            hdr.append("frame %d: %d bytes is too short for ESP" % (k, len(g)))
            continue
        if g[:6] != mac(WAN_PEER_MAC) or g[6:12] != mac(WAN_GW_MAC) or g[12:14] != b"\x08\x00":
            hdr.append("frame %d: ethernet %s" % (k, g[:14].hex()))
        ip = g[14:]
        tot = int.from_bytes(ip[2:4], "big")
        outer = [(ip[0] == 0x45, "version/ihl %02x" % ip[0]),
                 (tot == len(ip), "outer length %d in a %d-byte packet" % (tot, len(ip))),
                 (esp.ip_header_ok(ip), "outer checksum"),
                 (int.from_bytes(ip[6:8], "big") & 0x3fff == 0, "outer is a fragment"),
                 (ip[8] == 64, "outer ttl %d" % ip[8]),
                 (ip[9] == 50, "outer proto %d" % ip[9]),
                 (ip[12:16] == bytes(map(int, WAN_GW_IP.split("."))), "outer src"),
                 (ip[16:20] == bytes(map(int, PEER_IP.split("."))), "outer dst")]
        bad = [m for ok, m in outer if not ok]
        if bad:
            hdr.append("frame %d: %s" % (k, ", ".join(bad)))
            continue
        ivs[ip[28:36]] += 1   # RFC 4106 §3.1: an IV never repeats under a key
        try:
            (seq, spi, inner), = esp.decrypt_esp([g], out_sa.spi, out_sa.alg, out_sa.key,
                                                 out_sa.salt, first_index=k)
        except esp.EspError as e:
            dec.append(str(e))
            continue
        if seq != k + 1:
            dec.append("frame %d: seq %d, expected %d" % (k, seq, k + 1))
        why = esp.compare_inner(w, bytes(inner))
        if why:
            idx = esp.packet_index(bytes(inner))
            dec.append("frame %d (seq %d): inner %s%s" % (
                k, seq, why, "" if idx is None else " [it is input packet %d]" % idx))
    fail.some("wan_out framing", hdr)
    fail.some("wan_out ESP", dec)
    fail.some("wan_out IV reused", ["%s x%d" % (iv.hex(), n) for iv, n in ivs.items() if n > 1])


def check_stats(case, scen, path, lan_out, wan_out, fail):
    if not path.exists():
        fail("stats JSON %s not written" % path.name)
        return
    try:
        st = json.loads(path.read_text())
    except ValueError as e:
        fail("stats JSON does not parse: %s" % e)
        return
    ports = {p.get("name"): p for p in st.get("ports", [])}
    for name, rx, tx in (("lan", scen.lan_in, lan_out), ("wan", scen.wan_in, wan_out)):
        p = ports.get(name)
        if p is None:
            fail("stats: no port %r" % name)
            continue
        want = {"rx_packets": len(rx), "rx_bytes": sum(map(len, rx)),
                "tx_packets": len(tx), "tx_bytes": sum(map(len, tx)), "tx_dropped": 0}
        bad = ["%s %s != %s" % (k, p.get(k), v) for k, v in want.items() if p.get(k) != v]
        fail.some("stats port %s" % name, bad, limit=5)
    sas = {s.get("name"): s for s in st.get("sas", [])}
    out_sa, in_sa = sas_for(case)
    for name, sa, direction in (("to-b", out_sa, "outbound"), ("from-b", in_sa, "inbound")):
        s = sas.get(name)
        if s is None:
            fail("stats: no SA %r" % name)
            continue
        bad = []
        if s.get("direction") != direction:
            bad.append("direction %r" % s.get("direction"))
        if s.get("spi") != sa.spi:
            bad.append("spi %r != %d" % (s.get("spi"), sa.spi))
        pk, by = s.get("packets"), s.get("bytes")
        if pk != scen.sa_packets.get(name, 0):
            bad.append("packets %r != %d" % (pk, scen.sa_packets.get(name, 0)))
        # What "bytes" counts (inner or ESP) is not pinned down: only sanity.
        if not isinstance(by, int) or not isinstance(pk, int) or (by > 0) != (pk > 0) \
                or by < 20 * pk:
            bad.append("bytes %r with %r packets" % (by, pk))
        fail.some("stats SA %s" % name, bad)
    for name, n in sorted(scen.sa_packets.items()):
        if name in ("to-b", "from-b"):
            continue
        s = sas.get(name)
        if s is None:
            fail("stats: no SA %r" % name)
        elif s.get("packets") != n:
            fail("stats SA %s: packets %r != %d" % (name, s.get("packets"), n))
    drops = st.get("drops")
    if not isinstance(drops, dict):
        fail("stats: no drops object")
    else:
        bad = ["%s missing" % c for c in DROP_COUNTERS if c not in drops]
        for c, v in sorted(drops.items()):
            want = scen.drops.get(c, 0)
            if v != want:
                bad.append("%s %r, expected %d" % (c, v, want))
        for c, v in scen.drops.items():
            if c not in drops:
                bad.append("%s missing, expected %d" % (c, v))
        fail.some("stats drops", sorted(set(bad)), limit=6)
    pools = st.get("mempools")
    if not pools:
        fail("stats: no mempools")
    else:
        leaks = ["%s in_use %r" % (p.get("name"), p.get("in_use")) for p in pools
                 if p.get("in_use") != 0]
        fail.some("mbuf leak", leaks)


# ------------------------------------------------------------------- run
_print_lock = threading.Lock()
_scapy_lock = threading.Lock()   # build and check one case at a time
_running = {}                    # pid -> Popen, to kill on ^C


def say(*lines):
    with _print_lock:
        for ln in lines:
            print(ln, flush=True)


def tail(path, n=15):
    try:
        lines = Path(path).read_text(errors="replace").splitlines()
    except OSError:
        return []
    return lines[-n:]


def gateway_cmd(opts, case, d):
    eal = ["-l", "0-1", "-n", "1", "--in-memory", "--no-pci", "--log-level=*:notice",
           "--file-prefix", "lgtest-%d-%s" % (os.getpid(), case.name)]
    eal += shlex.split(opts.eal_extra or "")
    return [str(opts.latchgate)] + eal + ["--", "--config", str(d / "latchgate.yaml"),
                                          "--stats-json", str(d / "stats.json"),
                                          "--exit-on-idle", "300"]


def write_case(case, scen, d):
    out_sa, in_sa = sas_for(case)
    pols = DEFAULT_POLICIES if scen.policies is None else scen.policies
    routes = DEFAULT_ROUTES if scen.routes is None else scen.routes
    (d / "latchgate.yaml").write_text(CONFIG.format(
        case=case.name, d=d, lan_mac=LAN_GW_MAC, wan_mac=WAN_GW_MAC, wan_ip=WAN_GW_IP,
        peer_ip=PEER_IP, device=case.device, mode=case.mode,
        out_spi=out_sa.spi, in_spi=in_sa.spi, out_aead=out_sa.yaml_aead(),
        in_aead=in_sa.yaml_aead(), window=REPLAY_WINDOW,
        more_sas="".join(x + "\n" for x in scen.more_sas),
        policies="\n".join(list(pols) + list(scen.more_policies)),
        routes="\n".join(list(routes) + list(scen.more_routes))))
    esp.write_pcap(str(d / "lan_in.pcap"), scen.lan_in)
    esp.write_pcap(str(d / "wan_in.pcap"), scen.wan_in)
    (d / "case.txt").write_text("%s\n%s\n" % (case, scen.summary))


def run_case(opts, case, index):
    t0 = time.monotonic()
    d = Path(tempfile.mkdtemp(prefix="lgt%02d-" % index, dir=opts.tmpdir))
    fail = Fail()
    details = []
    if len(str(d / "control.sock")) >= 108:
        fail("case dir %s is too long for a unix socket path; use a shorter --tmpdir" % d)
        return finish(opts, case, d, fail, details, t0, "")
    try:
        with _scapy_lock:
            scen = SCENARIOS[case.scenario](case)
            write_case(case, scen, d)
        cmd = gateway_cmd(opts, case, d)
        (d / "cmd.txt").write_text(shlex.join(cmd) + "\n")
        with open(d / "stdout.txt", "wb") as so, open(d / "stderr.txt", "wb") as se:
            try:
                p = subprocess.Popen(cmd, stdout=so, stderr=se, stdin=subprocess.DEVNULL,
                                     cwd=d, start_new_session=True, env=opts.env)
            except OSError as e:
                fail("cannot run %s: %s" % (cmd[0], e))
                return finish(opts, case, d, fail, details, t0, "")
            _running[p.pid] = p
            try:
                rc = p.wait(timeout=opts.timeout)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)   # our own child's group
                p.wait()
                rc = None
            finally:
                _running.pop(p.pid, None)
        if rc != 0:
            fail("timeout after %d s (killed)" % opts.timeout if rc is None
                 else "exit status %d" % rc)
            details = tail(d / "stderr.txt") or tail(d / "stdout.txt")
            return finish(opts, case, d, fail, details, t0, "")
        with _scapy_lock:
            lan_out = read_out(d / "lan_out.pcap", fail, "lan_out.pcap")
            wan_out = read_out(d / "wan_out.pcap", fail, "wan_out.pcap")
            check_lan_out(scen, lan_out, fail)
            check_wan_out(case, scen, wan_out, fail)
            check_stats(case, scen, d / "stats.json", lan_out, wan_out, fail)
        if fail.reasons and opts.verbose:
            details = tail(d / "stderr.txt", 8)
        return finish(opts, case, d, fail, details, t0, scen.summary)
    except Exception as e:  # a harness bug must not look like a gateway pass
        import traceback
        fail("harness error: %s: %s" % (type(e).__name__, e))
        details = traceback.format_exc().splitlines()[-6:]
        return finish(opts, case, d, fail, details, t0, "")


def finish(opts, case, d, fail, details, t0, summary):
    dt = time.monotonic() - t0
    ok = not fail.reasons
    where = ""
    if opts.keep:
        where = "  [%s]" % d
    else:
        shutil.rmtree(d, ignore_errors=True)
    if ok:
        say("PASS %s (%.1f s): %s%s" % (case.name, dt, summary, where))
    else:
        say("FAIL %s (%.1f s): %s%s" % (case.name, dt, "; ".join(fail.reasons), where),
            *["    | " + ln for ln in details])
    return case.name, ok, fail.reasons


def select(cases, only):
    if not only:
        return cases
    pats = [p for p in only.split(",") if p]
    return [c for c in cases if any(fnmatch.fnmatchcase(c.name, p) for p in pats)]


def run_all(opts, cases):
    results = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, opts.jobs)) as ex:
        futs = [ex.submit(run_case, opts, c, k) for k, c in enumerate(cases)]
        try:
            for f in concurrent.futures.as_completed(futs):
                results.append(f.result())
        except KeyboardInterrupt:
            for f in futs:
                f.cancel()
            for pid in list(_running):
                try:
                    os.killpg(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            raise
    return results


# --------------------------------------------------------------- selftest
# Bugs injected into fake_latchgate.py (LG_FAKE_BUG) and what must catch them.
BUGS = [
    # bug                 cases (glob)                      reason substring
    ("no-ttl",            "outbound.gcm128.lookaside.aesni_gcm", "inner ttl"),
    ("no-ttl",            "inbound.gcm128.lookaside.aesni_gcm",  "ttl"),
    ("seq-from-2",        "outbound.gcm256.cpu.aesni_gcm",       "seq 2, expected 1"),
    ("bad-padding",       "outbound.gcm128.cpu.aesni_gcm",       "padding"),
    ("outer-ttl",         "outbound.gcm128.cpu.aesni_gcm",       "outer ttl"),
    ("iv-zero",           "outbound.gcm256.lookaside.aesni_mb",  "IV reused"),
    ("reorder",           "inbound.gcm256.cpu.aesni_gcm",        "another order"),
    ("replay-off",        "replay.gcm128.lookaside.aesni_gcm",   "replay of seq"),
    ("commit-before-icv", "bad-icv.gcm128.lookaside.aesni_gcm",  "esp_replay"),
    ("no-selector-check", "selectors.gcm128.lookaside.aesni_gcm", "lan_out leaked"),
    ("any-direction-sad", "unknown-spi.gcm128.lookaside.aesni_gcm", "esp_unknown_spi 4"),
    ("clear-bypass",      "clear-on-wan.gcm128.lookaside.aesni_gcm", "plaintext"),
    ("trailer-as-auth",   "bad-trailer.gcm128.lookaside.aesni_gcm", "esp_auth_failed"),
    ("mbuf-leak",         "inbound.gcm128.lookaside.aesni_gcm",  "mbuf leak"),
    ("sa-count-all",      "truncated.gcm128.lookaside.aesni_gcm", "packets"),
    ("exit-1",            "outbound.gcm128.lookaside.aesni_gcm", "exit status 1"),
    ("hang",              "outbound.gcm128.lookaside.aesni_gcm", "timeout"),
    ("no-tx-file",        "outbound.gcm128.lookaside.aesni_gcm", "lan_out.pcap missing"),
    ("bypass-keep-l2",    "bypass-out.gcm128.lookaside.aesni_gcm", "wan_out clear differs"),
    ("bypass-keep-l2",    "bypass-in.gcm128.cpu.aesni_gcm",      "lan_out bypass differs"),
    ("no-lpm",            "bypass-out.gcm128.cpu.aesni_gcm",     "ethernet"),
    ("ignore-ports",      "bypass-in.gcm128.lookaside.aesni_gcm", "is a bad packet (udp 501)"),
    ("frag-ports",        "bypass-in.gcm128.cpu.aesni_gcm",      "non-initial fragment"),
    ("no-priority",       "discard-swapped.gcm128.lookaside.aesni_gcm", "spd_discard 11, expected 2"),
    ("no-ttl-check",      "ttl.gcm128.lookaside.aesni_gcm",      "ttl_exceeded 0, expected 8"),
    ("no-ttl-check",      "ttl.gcm128.cpu.aesni_gcm",            "a bad packet: ttl 1 to 198.51.100.9"),
    ("not-ip-malformed",  "not-ip.gcm128.lookaside.aesni_gcm",   "not_ip 0, expected 6"),
]


def selftest(opts):
    failed = esp.selftest(verbose=True)
    if failed:
        say("oracle selftest failed; not running the harness selftest")
        return 1
    fake = HERE / "fake_latchgate.py"
    opts.latchgate = fake
    say("-- every case against %s (a model of the contract)" % fake.name)
    res = run_all(opts, all_cases())
    bad = [n for n, ok, _ in res if not ok]
    say("-- bug injection: each bug must make its case fail for the named reason")
    problems = ["model fails %s" % n for n in bad]
    cases = {c.name: c for c in all_cases()}
    saved_env, saved_timeout = opts.env, opts.timeout
    for bug, name, needle in BUGS:
        opts.env = dict(saved_env, LG_FAKE_BUG=bug)
        opts.timeout = 5 if bug == "hang" else saved_timeout
        with _print_lock:
            print("bug %-18s " % bug, end="")
        _, ok, reasons = run_case(opts, cases[name], 99)
        if ok or not any(needle in r for r in reasons):
            problems.append("bug %s not caught by %s as %r" % (bug, name, needle))
    opts.env, opts.timeout = saved_env, saved_timeout
    for p in problems:
        say("SELFTEST PROBLEM: " + p)
    say("harness selftest: %s" % ("ok" if not problems else "%d problems" % len(problems)))
    return 1 if problems else 0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--latchgate", type=Path, default=REPO / "build" / "latchgate",
                    help="gateway binary (default: build/latchgate in the repo)")
    ap.add_argument("--only", help="comma-separated case names or globs")
    ap.add_argument("--keep", action="store_true", help="keep each case's temp dir")
    ap.add_argument("--jobs", "-j", type=int, default=2, help="cases run at once (default 2)")
    ap.add_argument("--timeout", type=int, default=TIMEOUT, help="seconds before a run is killed")
    ap.add_argument("--eal-extra", default="", help="more EAL arguments, e.g. '--no-huge -m 512'")
    ap.add_argument("--tmpdir", default="/tmp", help="where case dirs go (keep the path short:"
                    " the control socket path is limited to 108 bytes)")
    ap.add_argument("--list", action="store_true", help="list the cases and exit")
    ap.add_argument("--selftest", action="store_true",
                    help="check the oracle and this harness (uses fake_latchgate.py)")
    ap.add_argument("-v", "--verbose", action="store_true", help="stderr tail on every failure")
    opts = ap.parse_args(argv)
    opts.env = dict(os.environ)
    if not opts.latchgate.is_absolute():
        opts.latchgate = (Path.cwd() / opts.latchgate) if opts.latchgate.exists() \
            else REPO / opts.latchgate
    if opts.selftest:
        return selftest(opts)
    cases = select(all_cases(), opts.only)
    if opts.list:
        for c in cases:
            print(c.name)
        return 0
    if not cases:
        print("no case matches %r (try --list)" % opts.only)
        return 2
    if not os.access(str(opts.latchgate), os.X_OK):
        for c in cases:
            say("FAIL %s: %s is not an executable (build it first?)" % (c.name, opts.latchgate))
        say("0 passed, %d failed" % len(cases))
        return 1
    res = run_all(opts, cases)
    npass = sum(1 for _, ok, _ in res if ok)
    say("%d passed, %d failed" % (npass, len(res) - npass))
    return 1 if npass != len(res) else 0


if __name__ == "__main__":
    sys.exit(main())
