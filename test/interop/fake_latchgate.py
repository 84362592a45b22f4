#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""A slow, naive model of latchgate's interop contract -- NOT the gateway.

It exists to test test_interop.py before (and besides) the real gateway:
same command line, same YAML, reads the rx_pcap files, writes tx_pcap files
(nanosecond pcap, as DPDK's net_pcap does) and the stats JSON.

ESP is done here with python-cryptography's AESGCM and hand-built headers,
not with scapy, so the harness's scapy oracle checks something it did not
produce. Inbound order: length checks -> SPI -> replay pre-check -> ICV ->
replay commit -> trailer -> selectors (RFC 4303 §3.4, RFC 4301 §5.2).

LG_FAKE_BUG=name[,name] injects a bug (see BUGS in test_interop.py).
"""

import ipaddress
import json
import os
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import esp  # noqa: E402

BUGS = set(filter(None, os.environ.get("LG_FAKE_BUG", "").split(",")))

DROPS = ("esp_unknown_spi", "esp_truncated", "esp_replay", "esp_auth_failed",
         "esp_bad_trailer", "esp_selector_mismatch", "spd_protect_clear",
         "spd_no_match", "spd_discard", "ttl_exceeded", "no_route", "malformed", "not_ip")
PROTOS = {"any": 0, "tcp": 6, "udp": 17, "icmp": 1, "icmp6": 58, "esp": 50}


csum = esp.inet_checksum   # RFC 1071; esp.py is pure Python (no scapy)


def mac(s):
    return bytes.fromhex(s.replace(":", ""))


def parse_args(argv):
    if "--" not in argv:
        sys.exit("usage: fake_latchgate EAL-ARGS -- --config F --stats-json F --exit-on-idle MS")
    eal, app = argv[:argv.index("--")], argv[argv.index("--") + 1:]
    for need in ("--in-memory", "--no-pci", "--file-prefix"):
        if need not in eal:
            sys.exit("fake: EAL argument %s missing" % need)
    opts = {}
    it = iter(app)
    for a in it:
        if a in ("--config", "--stats-json", "--exit-on-idle"):
            opts[a[2:]] = next(it)
        else:
            sys.exit("fake: unknown argument %s" % a)
    return opts


class Port:
    def __init__(self, c):
        self.name, self.role = c["name"], c["role"]
        self.mac = mac(c["mac"])
        args = dict(kv.split("=", 1) for kv in c["device"].split(",")[1:])
        self.rx, self.tx = args.get("rx_pcap"), args.get("tx_pcap")
        self.out = []
        self.st = dict(rx_packets=0, rx_bytes=0, tx_packets=0, tx_bytes=0, tx_dropped=0)


class Sa:
    def __init__(self, c):
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
        self.name, self.dir, self.spi = c["name"], c["direction"], int(c["spi"])
        self.local = ipaddress.ip_address(c["local"]).packed
        self.remote = ipaddress.ip_address(c["remote"]).packed
        a = c["aead"]
        key, self.salt = bytes.fromhex(a["key"][2:]), bytes.fromhex(a["salt"][2:])
        want = {"aes-128-gcm": 16, "aes-256-gcm": 32}[a["algorithm"]]
        if len(key) != want or len(self.salt) != 4:
            sys.exit("fake: SA %s: bad key/salt length" % self.name)
        self.gcm = AESGCM(key)
        self.seq = 1 if "seq-from-2" in BUGS else 0
        self.window = int(c.get("replay_window", 1024))
        self.top, self.bits = 0, set()
        self.packets = self.bytes = 0

    # RFC 4303 §3.4.3, naive: a set of seen seqs inside the window.
    def replay_ok(self, seq):
        if "replay-off" in BUGS:
            return True
        if seq == 0:
            return False
        if seq > self.top:
            return True
        return seq > self.top - self.window and seq not in self.bits

    def replay_commit(self, seq):
        if seq > self.top:
            self.top = seq
        self.bits = {s for s in self.bits | {seq} if s > self.top - self.window}


class Gateway:
    def __init__(self, conf):
        self.ports = [Port(p) for p in conf["ports"]]
        self.by_name = {p.name: p for p in self.ports}
        self.sas = {s["name"]: Sa(s) for s in conf["sas"]}
        # Ordered SPD: priority, then file order (a stable sort).
        self.pol = list(conf["policies"]) if "no-priority" in BUGS else \
            sorted(conf["policies"], key=lambda p: p["priority"])
        self.routes = [(ipaddress.ip_network(r["dst"]), self.by_name[r["port"]],
                        mac(r["next_hop_mac"])) for r in conf["routes"]]
        self.drops = {d: 0 for d in DROPS}

    def drop(self, why):
        self.drops[why] += 1

    def route(self, dst):
        best = None
        for net, port, nh in self.routes:
            if ipaddress.ip_address(dst) in net and (best is None or net.prefixlen > best[0].prefixlen):
                best = (net, port, nh)
                if "no-lpm" in BUGS:
                    break
        return best

    def send(self, ip, l2=None):
        r = self.route(ip[16:20])
        if r is None:
            return self.drop("no_route")
        _, port, nh = r
        port.out.append((l2 if l2 and "bypass-keep-l2" in BUGS else nh + port.mac + b"\x08\x00") + ip)

    @staticmethod
    def l4_ports(ip):
        """(sport, dport), or None when the packet does not carry them: a
        non-initial fragment, or too short (RFC 4301 §7: OPAQUE)."""
        ihl = (ip[0] & 0xf) * 4
        frag = struct.unpack("!H", ip[6:8])[0] & 0x1fff
        if ip[9] not in (6, 17) or (frag and "frag-ports" not in BUGS) or len(ip) < ihl + 4:
            return None
        return struct.unpack("!HH", ip[ihl:ihl + 4])

    @staticmethod
    def in_ports(want, port):
        if want is None or "ignore-ports" in BUGS:
            return True
        if port is None:
            return False
        for r in want if isinstance(want, list) else [want]:
            lo, hi = (map(int, r.split("-")) if isinstance(r, str) else (r, r))
            if lo <= port <= hi:
                return True
        return False

    def policy(self, direction, ip):
        s, d = ipaddress.ip_address(ip[12:16]), ipaddress.ip_address(ip[16:20])
        for p in self.pol:
            if p["direction"] != direction:
                continue
            if "src" in p and s not in ipaddress.ip_network(p["src"]):
                continue
            if "dst" in p and d not in ipaddress.ip_network(p["dst"]):
                continue
            proto = p.get("proto", "any")
            proto = PROTOS.get(proto, proto)
            if proto and int(proto) != ip[9] and "ignore-ports" not in BUGS:
                continue
            pp = self.l4_ports(ip) or (None, None)
            if not (self.in_ports(p.get("sport"), pp[0]) and self.in_ports(p.get("dport"), pp[1])):
                continue
            return p
        return None

    @staticmethod
    def forward_ttl(ip):
        b = bytearray(ip)
        if "no-ttl" not in BUGS:
            b[8] = (b[8] - 1) & 0xff
        b[10:12] = b"\0\0"
        b[10:12] = struct.pack("!H", csum(bytes(b[:(b[0] & 0xf) * 4])))
        return bytes(b)

    def outbound(self, ip, l2=None):
        p = self.policy("outbound", ip)
        if p is None:
            return self.drop("spd_no_match")
        if p["action"] == "discard":
            return self.drop("spd_discard")
        if ip[8] <= 1 and "no-ttl-check" not in BUGS:
            return self.drop("ttl_exceeded")
        inner = self.forward_ttl(ip)
        if p["action"] == "bypass":
            return self.send(inner, l2)
        sa = self.sas[p["sa"]]
        sa.seq += 1
        padlen = -(len(inner) + 2) % 4
        pad = bytes(padlen) if "bad-padding" in BUGS else bytes(range(1, padlen + 1))
        if "bad-padding" in BUGS and padlen == 0:
            pad, padlen = bytes(4), 4
        pt = inner + pad + bytes([padlen, 4])
        hdr = struct.pack("!II", sa.spi, sa.seq)
        iv = bytes(8) if "iv-zero" in BUGS else struct.pack("!Q", sa.seq ^ 0x5a5a)
        body = hdr + iv + sa.gcm.encrypt(sa.salt + iv, pt, hdr)
        outer = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(body), 0, 0x4000,
                                      63 if "outer-ttl" in BUGS else 64, 50, 0,
                                      sa.local, sa.remote))
        outer[10:12] = struct.pack("!H", csum(bytes(outer)))
        sa.packets += 1
        sa.bytes += len(ip)
        self.send(bytes(outer) + body)

    def inbound(self, ip, l2=None):
        from cryptography.exceptions import InvalidTag
        ihl = (ip[0] & 0xf) * 4
        if ip[9] != 50:
            p = self.policy("inbound", ip)
            if p is None:
                return self.drop("spd_no_match")
            if p["action"] == "protect" and "clear-bypass" not in BUGS:
                return self.drop("spd_protect_clear")
            if p["action"] == "discard":
                return self.drop("spd_discard")
            if ip[8] <= 1 and "no-ttl-check" not in BUGS:
                return self.drop("ttl_exceeded")
            return self.send(self.forward_ttl(ip), l2)
        e = ip[ihl:]
        if len(e) < 8:
            return self.drop("esp_truncated")
        spi, seq = struct.unpack("!II", e[:8])
        cands = [s for s in self.sas.values() if s.spi == spi and
                 ("any-direction-sad" in BUGS or (s.dir == "inbound" and s.local == ip[16:20]))]
        if not cands:
            return self.drop("esp_unknown_spi")
        sa = cands[0]
        if "sa-count-all" in BUGS:
            sa.packets += 1
        if len(e) < 8 + 8 + 4 + 16 or (len(e) - 32) % 4:
            return self.drop("esp_truncated")
        if not sa.replay_ok(seq):
            return self.drop("esp_replay")
        if "commit-before-icv" in BUGS:
            sa.replay_commit(seq)
        try:
            pt = sa.gcm.decrypt(sa.salt + e[8:16], e[16:], e[:8])
        except InvalidTag:
            return self.drop("esp_auth_failed")
        sa.replay_commit(seq)
        padlen, nh = pt[-2], pt[-1]
        if padlen + 2 > len(pt) or pt[len(pt) - 2 - padlen:-2] != bytes(range(1, padlen + 1)) \
                or nh != 4:
            return self.drop("esp_auth_failed" if "trailer-as-auth" in BUGS else "esp_bad_trailer")
        inner = pt[:len(pt) - 2 - padlen]
        if len(inner) < 20 or inner[0] >> 4 != 4 or struct.unpack("!H", inner[2:4])[0] != len(inner):
            return self.drop("esp_bad_trailer")
        # RFC 4301 §5.2: the ordered SPD's answer must be this SA's policy.
        p = self.policy("inbound", inner)
        if "no-selector-check" not in BUGS and (
                p is None or p["action"] != "protect" or p.get("sa") != sa.name):
            return self.drop("esp_selector_mismatch")
        if inner[8] <= 1 and "no-ttl-check" not in BUGS:
            return self.drop("ttl_exceeded")
        if "sa-count-all" not in BUGS:
            sa.packets += 1
        sa.bytes += len(inner)
        self.send(self.forward_ttl(inner))

    def run(self):
        from scapy.utils import RawPcapReader
        for port in self.ports:
            if not port.rx:
                continue
            for frame, _ in RawPcapReader(port.rx):
                frame = bytes(frame)
                port.st["rx_packets"] += 1
                port.st["rx_bytes"] += len(frame)
                if len(frame) < 34:
                    self.drop("malformed")
                    continue
                if frame[12:14] != b"\x08\x00":
                    self.drop("malformed" if "not-ip-malformed" in BUGS else "not_ip")
                    continue
                tot = struct.unpack("!H", frame[16:18])[0]
                ihl = (frame[14] & 0xf) * 4
                if frame[14] >> 4 != 4 or ihl < 20 or tot < ihl or 14 + tot > len(frame):
                    self.drop("malformed")
                    continue
                ip = frame[14:14 + tot]
                (self.outbound if port.role == "protected" else self.inbound)(ip, frame[:14])

    def flush(self):
        from scapy.utils import PcapWriter
        from scapy.layers.l2 import Ether
        for port in self.ports:
            if "reorder" in BUGS and len(port.out) > 3:
                port.out[1], port.out[2] = port.out[2], port.out[1]
            if not port.tx or ("no-tx-file" in BUGS and port.role == "protected"):
                continue
            w = PcapWriter(port.tx, linktype=1, nano=True, sync=False)
            w._write_header(None)
            for f in port.out:
                w.write(Ether(f))
                port.st["tx_packets"] += 1
                port.st["tx_bytes"] += len(f)
            w.close()

    def stats(self):
        return {
            "ports": [dict(name=p.name, **p.st) for p in self.ports],
            "sas": [dict(name=s.name, direction=s.dir, spi=s.spi, packets=s.packets,
                         bytes=s.bytes) for s in self.sas.values()],
            "drops": self.drops,
            "mempools": [dict(name="mbuf_pool_s0", size=8191,
                              in_use=1 if "mbuf-leak" in BUGS else 0),
                         dict(name="crypto_op_pool", size=4096, in_use=0)],
        }


def main():
    import yaml
    opts = parse_args(sys.argv[1:])
    if "exit-1" in BUGS:
        print("fake: injected failure", file=sys.stderr)
        return 1
    if "hang" in BUGS:
        time.sleep(3600)
    with open(opts["config"]) as f:
        conf = yaml.safe_load(f)
    gw = Gateway(conf)
    gw.run()
    gw.flush()
    with open(opts["stats-json"], "w") as f:
        json.dump(gw.stats(), f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
