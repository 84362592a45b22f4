#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""ESP wire-format oracle for latchgate's interop tests.

Everything that encrypts or decrypts here goes through Debian's scapy 2.5.0
(scapy.layers.ipsec.SecurityAssociation), an ESP implementation nobody on
this project wrote. Run it with /usr/bin/python3 (the python3 on PATH may be
a pyenv build without scapy); the CLI re-executes itself under it.

Library (import esp):
  make_plain()       deterministic Ether/IPv4/{UDP,TCP,ICMP} frames
  make_esp()         tunnel-mode AES-GCM ESP frames, seq start_seq, start_seq+1, ...
  decrypt_esp()      [(seq, spi, inner IP)] -- raises IcvError on an ICV failure,
                     EspFormatError on a bad trailer (strict=True)
  ttl_aside()        what a forwarded inner IPv4 packet must look like
  compare_inner()    None or a reason string
  hostile helpers    corrupt(), truncate(), make_misaligned(), make_bad_trailer()
  mix_*()            inbound scenarios: good packets interleaved with bad ones,
                     as [Item(frame, good, inner, why)]

CLI:
  esp.py selftest                       verify the oracle itself (vectors, round trips, generators)
  esp.py plain -o lan_in.pcap [-n 200]  write plaintext frames
  esp.py esp -i plain.pcap -o wan_in.pcap --spi 0x2000 --alg aes-128-gcm --key 0x.. --salt 0x..
  esp.py decrypt -i wan_out.pcap --spi 0x1000 --alg aes-128-gcm --key 0x.. --salt 0x..

GCM keying (RFC 4106 §8.1): the SA's keying material is key || salt, the
salt is the last 4 bytes; the nonce is salt || 8-byte explicit IV and the
AAD is SPI || seq (|| seq-hi with ESN: scapy packs SPI || seq-hi || seq).
scapy's SecurityAssociation(crypt_algo='AES-GCM', crypt_key=key+salt) splits
it that way; selftest checks this against draft-mcgrew-gcm-test-01.
"""

import ipaddress
import os
import random
import struct
import sys
from dataclasses import dataclass
from typing import Optional


def _reexec_under_debian_python():
    """scapy 2.5.0 is Debian's package: only /usr/bin/python3 sees it."""
    want = "/usr/bin/python3"
    if os.path.realpath(sys.executable) != os.path.realpath(want) and \
            os.path.exists(want) and not os.environ.get("LG_NO_REEXEC"):
        os.environ["LG_NO_REEXEC"] = "1"
        os.execv(want, [want] + sys.argv)


if __name__ == "__main__":
    _reexec_under_debian_python()

import scapy  # noqa: E402
from scapy.layers.inet import ICMP, IP, TCP, UDP  # noqa: E402
from scapy.layers.ipsec import (ESP, IPSecIntegrityError,  # noqa: E402
                                SecurityAssociation, _ESPPlain)
from scapy.layers.l2 import Ether  # noqa: E402
from scapy.packet import Raw  # noqa: E402
from scapy.utils import PcapWriter, RawPcapReader  # noqa: E402

SCAPY_VERSION = "2.5.0"

# ---------------------------------------------------------------- topology
# The values of the contract; test_interop.py writes the same ones to YAML.
LAN_GW_MAC = "02:00:00:00:01:01"    # gateway, protected port
LAN_HOST_MAC = "02:00:00:00:01:0a"  # next hop on the lan
WAN_GW_MAC = "02:00:00:00:02:01"    # gateway, unprotected port
WAN_PEER_MAC = "02:00:00:00:02:0a"  # next hop on the wan (site-b)
LAN_GW_IP = "192.168.1.254"
WAN_GW_IP = "172.16.1.5"
PEER_IP = "172.16.2.5"
LAN_NET = "192.168.1.0/24"          # behind us
REMOTE_NET = "192.168.2.0/24"       # behind site-b

ALGS = {"aes-128-gcm": 16, "aes-256-gcm": 32}  # name -> key bytes
SALT_LEN = 4
IV_LEN = 8
ICV_LEN = 16
ESP_HDR_LEN = 8                      # SPI + sequence number
ESP_MIN_LEN = ESP_HDR_LEN + IV_LEN + 4 + ICV_LEN  # 4: pad length + nh, aligned
IPPROTO_ESP = 50
IPPROTO_IPIP = 4

# Frame sizes (Ethernet header included, FCS excluded). Runs of consecutive
# sizes give every inner length mod 4, hence every ESP pad length 0..3.
DEFAULT_SIZES = (64, 65, 66, 67, 100, 128, 255, 256, 257, 258, 511, 512,
                 513, 700, 1000, 1023, 1024, 1025, 1279, 1280, 1397, 1398,
                 1399, 1400)
FLOW_TTLS = (64, 128, 255, 2, 33)    # forwarded: each must leave with ttl-1
FLOW_TOS = (0x00, 0x10, 0xb8, 0x28)  # no ECN bits: the inner TOS passes as is
MARK = b"LGT1"                        # payload prefix: MARK, packet index (u32)


class EspError(Exception):
    """A frame is not the ESP the SA expects."""


class IcvError(EspError):
    """The integrity check (GCM tag) failed."""


class EspFormatError(EspError):
    """Decrypted fine, but the trailer or framing breaks RFC 4303 §2.4."""


@dataclass(frozen=True)
class Sa:
    """One direction of a tunnel-mode AES-GCM SA, as seen on the wire."""
    spi: int
    alg: str
    key: bytes
    salt: bytes
    src: str            # outer source address
    dst: str            # outer destination address

    def __post_init__(self):
        check_keying(self.alg, self.key, self.salt)

    def esp(self, inners, start_seq=1, **kw):
        return make_esp(inners, self.spi, self.alg, self.key, self.salt,
                        self.src, self.dst, start_seq=start_seq, **kw)

    def decrypt(self, frames, strict=True):
        return decrypt_esp(frames, self.spi, self.alg, self.key, self.salt,
                           strict=strict)

    def yaml_aead(self):
        return ('{ algorithm: %s, key: "0x%s", salt: "0x%s" }'
                % (self.alg, self.key.hex(), self.salt.hex()))


def check_keying(alg, key, salt):
    if alg not in ALGS:
        raise ValueError("alg %r: expected one of %s" % (alg, ", ".join(ALGS)))
    if len(key) != ALGS[alg]:
        raise ValueError("%s wants a %d-byte key, got %d"
                         % (alg, ALGS[alg], len(key)))
    if len(salt) != SALT_LEN:
        raise ValueError("salt must be %d bytes, got %d" % (SALT_LEN, len(salt)))


def scapy_sa(spi, alg, key, salt, outer_src=None, outer_dst=None, ttl=64):
    """scapy's SA: crypt_key is key || salt (scapy cuts the salt off the end)."""
    check_keying(alg, key, salt)
    tunnel = IP(src=outer_src, dst=outer_dst, ttl=ttl) if outer_src else None
    sa = SecurityAssociation(ESP, spi=spi, crypt_algo="AES-GCM",
                             crypt_key=key + salt, tunnel_header=tunnel)
    assert sa.crypt_key == key and sa.crypt_salt == salt
    return sa


def default_iv(spi, seq):
    """Unique per (SPI, seq) and deterministic, so pcaps are reproducible."""
    return struct.pack("!II", spi, seq & 0xffffffff)


# ------------------------------------------------------------------ bytes
def _as_bytes(p):
    return p if isinstance(p, (bytes, bytearray)) else bytes(p)


def ip_bytes(p):
    """The IPv4 packet cut to its total length, from an Ether frame, an IP
    packet, or bytes (bytes are an IP packet; strip an Ethernet header first)."""
    if isinstance(p, Ether):
        b = bytes(p)[14:]
    else:
        b = _as_bytes(p)
    if len(b) < 20 or b[0] >> 4 != 4:
        raise EspError("not an IPv4 packet")
    tot = struct.unpack("!H", b[2:4])[0]
    return bytes(b[:tot])


def inet_checksum(b):
    """RFC 1071."""
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def ip_header_ok(b):
    ihl = (b[0] & 0xf) * 4
    return inet_checksum(bytes(b[:ihl])) == 0


def _fix_ip_header(b):
    """Recompute the IPv4 header checksum of bytearray b in place."""
    ihl = (b[0] & 0xf) * 4
    b[10:12] = b"\0\0"
    b[10:12] = struct.pack("!H", inet_checksum(bytes(b[:ihl])))
    return b


def ttl_aside(ip):
    """What a forwarded copy of inner packet ip must be, byte for byte: the
    gateway decrements TTL by one and fixes the header checksum, nothing else."""
    b = bytearray(ip_bytes(ip))
    if b[8] < 2:
        raise ValueError("ttl %d: a router would drop this, not forward it" % b[8])
    b[8] -= 1
    return bytes(_fix_ip_header(b))


_IP_FIELDS = (("version/ihl", 0, 1), ("tos", 1, 2), ("total length", 2, 4),
              ("id", 4, 6), ("flags/frag", 6, 8), ("ttl", 8, 9),
              ("proto", 9, 10), ("checksum", 10, 12), ("src", 12, 16),
              ("dst", 16, 20))


def describe_diff(want, got):
    """First differences between two IPv4 packets, for a FAIL reason."""
    want, got = bytes(want), bytes(got)
    if len(got) < 20:
        return "got %d bytes, not an IPv4 packet" % len(got)
    out = []
    for name, a, b in _IP_FIELDS:
        if want[a:b] != got[a:b]:
            out.append("%s %s != expected %s" % (name, got[a:b].hex(), want[a:b].hex()))
    if len(want) != len(got):
        out.append("length %d != expected %d" % (len(got), len(want)))
    n = min(len(want), len(got))
    for i in range(20, n):
        if want[i] != got[i]:
            out.append("first payload difference at byte %d" % i)
            break
    return "; ".join(out[:4]) or "identical"


def compare_inner(original, got):
    """None if got is original forwarded (TTL aside), else a reason."""
    want = ttl_aside(original)
    got = _as_bytes(got)
    return None if got == want else describe_diff(want, got)


def packet_index(ip):
    """The index make_plain() wrote into the payload, or None."""
    b = ip_bytes(ip)
    ihl = (b[0] & 0xf) * 4
    l4 = {6: 20, 17: 8, 1: 8}.get(b[9])
    if l4 is None:
        return None
    if b[9] == 6:
        l4 = (b[ihl + 12] >> 4) * 4
    p = b[ihl + l4:]
    if p[:4] != MARK:
        return None
    return struct.unpack("!I", p[4:8])[0]


# ----------------------------------------------------------------- plain
@dataclass(frozen=True)
class Flow:
    proto: str
    src: str
    dst: str
    sport: int      # ICMP: echo id
    dport: int      # ICMP: 0
    ttl: int
    tos: int
    df: bool


def make_flows(n, src_net, dst_net, protos, rng, avoid=()):
    src_hosts = [str(a) for a in ipaddress.ip_network(src_net).hosts()
                 if str(a) not in avoid]
    dst_hosts = [str(a) for a in ipaddress.ip_network(dst_net).hosts()
                 if str(a) not in avoid]
    flows, seen = [], set()
    while len(flows) < n:
        proto = protos[len(flows) % len(protos)]
        src, dst = rng.choice(src_hosts), rng.choice(dst_hosts)
        if proto == "icmp":
            sport, dport = rng.randrange(1, 65536), 0
        else:
            sport = rng.randrange(1024, 65536)
            dport = rng.choice((53, 80, 123, 443, 5001, 8080))
        key = (proto, src, dst, sport, dport)
        if key in seen:
            continue
        seen.add(key)
        flows.append(Flow(proto, src, dst, sport, dport,
                          FLOW_TTLS[len(flows) % len(FLOW_TTLS)],
                          FLOW_TOS[len(flows) % len(FLOW_TOS)],
                          len(flows) % 3 == 0))
    return flows


def _size_order(n, sizes, rng):
    """Every size once per cycle, each cycle shuffled."""
    out = []
    while len(out) < n:
        cycle = list(sizes)
        rng.shuffle(cycle)
        out.extend(cycle)
    return out[:n]


L4_HDR = {"udp": 8, "tcp": 20, "icmp": 8}


def make_plain(n, flows=16, sizes=DEFAULT_SIZES, src_net=LAN_NET,
               dst_net=REMOTE_NET, protos=("udp", "tcp", "icmp"),
               eth_src=LAN_HOST_MAC, eth_dst=LAN_GW_MAC, seed=1,
               avoid=(LAN_GW_IP, WAN_GW_IP), index_base=0):
    """n Ether/IPv4/(UDP|TCP|ICMP)/payload frames, deterministic for a seed.

    Packet i belongs to flow i % flows (flows are distinct 5-tuples; protos
    are assigned round robin, so repeat a name to weight it). Its frame is
    one of sizes (all sizes appear once every len(sizes) packets). The
    payload starts with MARK + u32 (index_base + i), then seeded bytes. The
    first TCP packet of a flow is a SYN, the others PSH|ACK.
    """
    for s in sizes:
        if not 14 + 20 + 20 + 8 <= s <= 1514:
            raise ValueError("frame size %d: expected 62..1514" % s)
    rng = random.Random(seed)
    fl = make_flows(flows, src_net, dst_net, protos, rng, avoid)
    order = _size_order(n, sizes, rng)
    tcp_seq = {f: rng.randrange(1 << 32) for f in fl}
    per_flow = {f: 0 for f in fl}
    ip_id = rng.randrange(1 << 16)
    out = []
    for i in range(n):
        f = fl[i % len(fl)]
        size = order[i]
        plen = size - 14 - 20 - L4_HDR[f.proto]
        payload = MARK + struct.pack("!I", index_base + i)
        payload += rng.randbytes(plen - len(payload))
        ip = IP(src=f.src, dst=f.dst, ttl=f.ttl, tos=f.tos,
                id=(ip_id + i) & 0xffff, flags="DF" if f.df else 0)
        if f.proto == "udp":
            l4 = UDP(sport=f.sport, dport=f.dport)
        elif f.proto == "tcp":
            first = per_flow[f] == 0
            l4 = TCP(sport=f.sport, dport=f.dport, seq=tcp_seq[f],
                     ack=0 if first else 1, flags="S" if first else "PA",
                     window=8192)
            tcp_seq[f] = (tcp_seq[f] + plen + (1 if first else 0)) & 0xffffffff
        else:
            l4 = ICMP(type=8, code=0, id=f.sport, seq=per_flow[f] & 0xffff)
        per_flow[f] += 1
        frame = Ether(dst=eth_dst, src=eth_src) / ip / l4 / Raw(payload)
        b = bytes(frame)
        assert len(b) == size, (len(b), size)
        out.append(Ether(b))
    return out


# ------------------------------------------------------------------- ESP
def make_esp(inner_ip_packets, spi, alg, key, salt, outer_src, outer_dst,
             start_seq=1, eth_src=WAN_PEER_MAC, eth_dst=WAN_GW_MAC,
             seqs=None, ivs=None, outer_ttl=64):
    """Ether/IP/ESP frames: inner packet k encrypted by scapy with seq
    start_seq + k (or seqs[k]) and IV ivs[k] (default default_iv(spi, seq)).
    Inner packets may be Ether frames, IP packets or bytes."""
    inners = [ip_bytes(p) for p in inner_ip_packets]
    if seqs is None:
        seqs = [start_seq + k for k in range(len(inners))]
    if len(seqs) != len(inners):
        raise ValueError("%d seqs for %d packets" % (len(seqs), len(inners)))
    sa = scapy_sa(spi, alg, key, salt, outer_src, outer_dst, outer_ttl)
    out = []
    for k, (inner, seq) in enumerate(zip(inners, seqs)):
        if not 0 <= seq <= 0xffffffff:
            raise ValueError("seq %d does not fit 32 bits (no ESN here)" % seq)
        iv = ivs[k] if ivs else default_iv(spi, seq)
        # scapy reads seq 0 as "unset" (seq_num or self.seq_num): set both.
        sa.seq_num = seq
        enc = sa.encrypt(IP(inner), seq_num=seq, iv=iv)
        b = bytes(Ether(dst=eth_dst, src=eth_src) / enc)
        out.append(Ether(b))
    return out


def esp_parts(frame):
    """(outer IP bytes, offset of ESP in it) for an Ether/IPv4/ESP frame."""
    ip = ip_bytes(frame if isinstance(frame, IP) else _as_bytes(frame)[14:])
    if ip[9] != IPPROTO_ESP:
        raise EspError("IP proto %d, not ESP" % ip[9])
    return ip, (ip[0] & 0xf) * 4


def esp_plaintext(frame, alg, key, salt):
    """(spi, seq, iv, plaintext) by direct AES-GCM (python-cryptography),
    used only to inspect the trailer scapy's decrypt throws away."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.exceptions import InvalidTag
    ip, off = esp_parts(frame)
    e = ip[off:]
    if len(e) < ESP_HDR_LEN + IV_LEN + ICV_LEN:
        raise EspError("ESP of %d bytes is too short" % len(e))
    spi, seq = struct.unpack("!II", e[:8])
    iv, ct = e[8:16], e[16:]
    try:
        pt = AESGCM(key).decrypt(salt + iv, ct, e[:8])
    except InvalidTag:
        raise IcvError("spi 0x%x seq %d: ICV check failed" % (spi, seq))
    return spi, seq, iv, pt


def trailer_problems(pt, expect_nh=IPPROTO_IPIP):
    """RFC 4303 §2.4-2.6 for a tunnel-mode IPv4 plaintext (IV is 8 bytes,
    so alignment of the payload is alignment of the plaintext)."""
    p = []
    if len(pt) < 2:
        return ["plaintext of %d bytes has no trailer" % len(pt)]
    padlen, nh = pt[-2], pt[-1]
    if len(pt) % 4:
        p.append("encrypted part is %d bytes, not a multiple of 4" % len(pt))
    if padlen + 2 > len(pt):
        p.append("pad length %d exceeds the payload" % padlen)
        return p
    pad = pt[len(pt) - 2 - padlen:-2]
    if pad != bytes(range(1, padlen + 1)):
        p.append("padding %s is not 01 02 03 ..." % pad.hex())
    if nh != expect_nh:
        p.append("next header %d, expected %d" % (nh, expect_nh))
    inner = pt[:len(pt) - 2 - padlen]
    if len(inner) >= 4 and inner[0] >> 4 == 4:
        tot = struct.unpack("!H", inner[2:4])[0]
        if tot != len(inner):
            p.append("inner total length %d but %d bytes before the padding"
                     " (TFC padding?)" % (tot, len(inner)))
    else:
        p.append("payload is not an IPv4 packet")
    return p


def decrypt_esp(frames, spi, alg, key, salt, strict=True, first_index=0):
    """[(seq, spi, inner IP)] for Ether/IP/ESP frames of one SA.

    scapy decrypts (the oracle). Raises IcvError if an ICV fails, EspError if
    a frame is not ESP of this SPI, and with strict, EspFormatError if the
    trailer is not what RFC 4303 §2.4 asks a sender for (default padding
    1, 2, 3..., next header 4, 4-byte alignment, no trailing bytes)."""
    sa = scapy_sa(spi, alg, key, salt, "0.0.0.0", "0.0.0.0")
    out = []
    for k, fr in enumerate(frames, first_index):
        b = _as_bytes(fr)
        try:
            ip, off = esp_parts(b)
        except EspError as e:
            raise EspError("frame %d: %s" % (k, e))
        got_spi, seq = struct.unpack("!II", ip[off:off + 8])
        if got_spi != spi:
            raise EspError("frame %d: spi 0x%x, expected 0x%x" % (k, got_spi, spi))
        pkt = IP(ip)
        try:
            inner = sa.decrypt(pkt)
        except IPSecIntegrityError as e:
            raise IcvError("frame %d (seq %d): ICV check failed%s" % (k, seq, (": %s" % e) if str(e) else ""))
        if strict:
            _, _, _, pt = esp_plaintext(b, alg, key, salt)
            probs = trailer_problems(pt)
            if probs:
                raise EspFormatError("frame %d (seq %d): %s" % (k, seq, "; ".join(probs)))
        if not isinstance(inner, IP):
            raise EspFormatError("frame %d (seq %d): inner is %s, not IPv4"
                                 % (k, seq, type(inner).__name__))
        out.append((seq, got_spi, inner))
    return out


# --------------------------------------------------------------- hostile
def _with_esp(frame, fn):
    """Apply fn to a bytearray of the ESP part, then fix IP len/checksum."""
    b = bytearray(_as_bytes(frame))
    ip, off = esp_parts(b)
    e = bytearray(ip[off:])
    e = fn(e)
    ipb = bytearray(ip[:off]) + e
    ipb[2:4] = struct.pack("!H", len(ipb))
    _fix_ip_header(ipb)
    return bytes(b[:14]) + bytes(ipb)


def corrupt(frame, where="icv", index=0, mask=0x01):
    """Flip bits in one byte of the ICV (index 0..15 from its start), the
    ciphertext (index from its start), or the IV. SPI and seq stay intact,
    so the packet reaches the SA and passes the replay pre-check."""
    def fn(e):
        if where == "icv":
            pos = len(e) - ICV_LEN + index
        elif where == "ciphertext":
            pos = ESP_HDR_LEN + IV_LEN + index
            assert pos < len(e) - ICV_LEN
        elif where == "iv":
            pos = ESP_HDR_LEN + index
            assert index < IV_LEN
        else:
            raise ValueError(where)
        e[pos] ^= mask
        return e
    return Ether(_with_esp(frame, fn))


def truncate(frame, esp_len):
    """The frame with its ESP (from the SPI on) cut to esp_len bytes; the
    outer IP total length and checksum follow, so only ESP is malformed."""
    def fn(e):
        assert esp_len < len(e)
        return e[:esp_len]
    return Ether(_with_esp(frame, fn))


def _encrypt_custom(inner, sa, seq, padding, padlen, nh, iv=None):
    """ESP with a hand-made trailer, encrypted by scapy's AES-GCM: the ICV
    is valid, only the format is wrong. Skips scapy's pad() on purpose."""
    s = scapy_sa(sa.spi, sa.alg, sa.key, sa.salt)
    body = ip_bytes(inner)
    esp = _ESPPlain(spi=sa.spi, seq=seq, iv=iv or default_iv(sa.spi, seq),
                    data=body, padding=padding, padlen=padlen, nh=nh)
    enc = s.crypt_algo.encrypt(s, esp, s.crypt_key)
    outer = IP(src=sa.src, dst=sa.dst, ttl=64) / enc
    return Ether(bytes(Ether(dst=WAN_GW_MAC, src=WAN_PEER_MAC) / IP(bytes(outer))))


def make_misaligned(inner, sa, seq, residue):
    """Valid ICV, but the encrypted part (after the IV) is 4k + residue
    bytes, residue 1..3 (RFC 4303 §2.4 wants 4-byte alignment)."""
    assert residue in (1, 2, 3)
    n = len(ip_bytes(inner)) + 2
    padlen = (residue - n) % 4
    return _encrypt_custom(inner, sa, seq, bytes(range(1, padlen + 1)), padlen,
                           IPPROTO_IPIP)


def make_bad_trailer(inner, sa, seq, kind):
    """Valid ICV, aligned, but the trailer is wrong:
    pad-bytes: padding is 00 00 .. instead of 01 02 .. (§2.4 default)
    pad-len: pad length larger than the encrypted payload
    next-header: next header 17 (UDP) where tunnel mode carries 4 (IPv4)
    """
    n = len(ip_bytes(inner)) + 2
    if kind == "pad-bytes":
        padlen = 4 + (-n % 4)
        return _encrypt_custom(inner, sa, seq, b"\0" * padlen, padlen, IPPROTO_IPIP)
    if kind == "pad-len":
        padlen = -n % 4
        return _encrypt_custom(inner, sa, seq, bytes(range(1, padlen + 1)), 255,
                               IPPROTO_IPIP)
    if kind == "next-header":
        padlen = -n % 4
        return _encrypt_custom(inner, sa, seq, bytes(range(1, padlen + 1)), padlen, 17)
    raise ValueError(kind)


# ------------------------------------------------------------- scenarios
@dataclass
class Item:
    """One frame of an inbound scenario. good: it must come out on lan as
    ttl_aside(inner). bad: it must not come out, and must be counted."""
    frame: bytes
    good: bool
    inner: Optional[bytes]
    why: str


def _good(frame, inner):
    return Item(bytes(frame), True, ip_bytes(inner), "good")


def _bad(frame, why, inner=None):
    return Item(bytes(frame), False, ip_bytes(inner) if inner is not None else None, why)


def _extra_inners(n, seed, src_net=REMOTE_NET, dst_net=LAN_NET, index_base=10000):
    return make_plain(n, flows=4, src_net=src_net, dst_net=dst_net, seed=seed,
                      eth_src=WAN_PEER_MAC, eth_dst=WAN_GW_MAC, index_base=index_base)


def mix_good(sa, inners):
    return [_good(f, i) for f, i in zip(sa.esp(inners), inners)]


def mix_bad_icv(sa, inners, seed=7):
    """Integrity failures (-> esp_auth_failed). Most are corrupted copies of
    a good packet sent just before it with the same seq: the good one must
    still pass (the window moves only after a valid ICV, RFC 4303 §3.4.3).
    Some carry a seq far ahead: had they moved the window, every later good
    packet would be a replay."""
    good = sa.esp(inners)
    spots = [("icv", 0), ("icv", 15), ("icv", 7), ("ciphertext", 0), ("iv", 3)]
    items, j = [], 0
    for k, (f, inner) in enumerate(zip(good, inners)):
        if k % 4 == 1:
            where, idx = spots[j % len(spots)]
            items.append(_bad(corrupt(f, where, idx), "%s[%d] flipped, seq %d"
                              % (where, idx, k + 1), inner))
            j += 1
        if k % 9 == 4:
            ahead = sa.esp([inner], seqs=[50000 + k])[0]
            items.append(_bad(corrupt(ahead, "icv", 15), "icv flipped, seq %d ahead"
                              % (50000 + k), inner))
            j += 1
        items.append(_good(f, inner))
    return items


def mix_replay(sa, inners, window=1024, seed=8):
    """Replays (-> esp_replay), all with valid ICVs: exact duplicates in the
    same burst and later, duplicates inside the window, and after a forward
    jump of 4*window packets left of the window, seen and never seen."""
    n = len(inners)
    if n < 16:
        raise ValueError("mix_replay wants at least 16 packets")
    h = n // 2
    jump = 4 * window + h          # librte_ipsec rounds windows up: margin
    seqs = list(range(1, h + 1)) + list(range(jump, jump + n - h))
    good = sa.esp(inners, seqs=seqs)
    by_seq = dict(zip(seqs, zip(good, inners)))
    fresh = _extra_inners(3, seed)
    never_seen = [h + 5, h + 6, jump - 2 * window - 100]
    nsf = sa.esp(fresh, seqs=never_seen)
    plan = {  # after good seq S, send these
        3: [("dup", 3)],
        h: [("dup", 1), ("dup", h - 1)],
        jump + 2: [("dup", jump + 2), ("dup", 2), ("new", 0)],
        jump + 5: [("dup", jump + 1), ("new", 1), ("dup", h)],
        seqs[-1]: [("dup", seqs[-1]), ("new", 2), ("dup", jump + 3)],
    }
    items = []
    for s, f, inner in zip(seqs, good, inners):
        items.append(_good(f, inner))
        for kind, v in plan.get(s, ()):
            if kind == "dup":
                df, di = by_seq[v]
                items.append(_bad(df, "replay of seq %d" % v, di))
            else:
                items.append(_bad(nsf[v], "never-seen seq %d left of the window"
                                  % never_seen[v], fresh[v]))
    return items


def mix_unknown_spi(sa, inners, others=None, seed=9):
    """Valid ESP under SPIs with no inbound SA (-> esp_unknown_spi).
    others: {spi: Sa}; the outbound SA's SPI encrypted with the outbound key
    is the sharp one: a gateway that looks up SPIs in the wrong SAD would
    decrypt and forward it."""
    if others is None:
        others = {}
    others = dict(others)
    for spi in (sa.spi + 1, 0xdeadbeef):
        others.setdefault(spi, Sa(spi, sa.alg, sa.key, sa.salt, sa.src, sa.dst))
    good = sa.esp(inners)
    fresh = _extra_inners(len(others) * 2, seed)
    bad = []
    for j, (spi, o) in enumerate(sorted(others.items())):
        o = Sa(spi, o.alg, o.key, o.salt, sa.src, sa.dst)
        for f, i in zip(o.esp(fresh[2 * j:2 * j + 2], start_seq=1 + j), fresh[2 * j:2 * j + 2]):
            bad.append(_bad(f, "spi 0x%x" % spi, i))
    return _interleave([_good(f, i) for f, i in zip(good, inners)], bad)


TRUNC_LENS = (8, 12, 16, 20, 31)   # all below ESP_MIN_LEN (36)


def mix_truncated(sa, inners):
    """ESP cut short (-> esp_truncated): header only, into the IV, IV only,
    shorter than an ICV. Each is a cut copy of a good packet sent just
    before it, so the good one must still pass."""
    good = sa.esp(inners)
    items, j = [], 0
    for k, (f, inner) in enumerate(zip(good, inners)):
        if k % 3 == 1 and j < 2 * len(TRUNC_LENS):
            ln = TRUNC_LENS[j % len(TRUNC_LENS)]
            items.append(_bad(truncate(f, ln), "ESP cut to %d bytes, seq %d"
                              % (ln, k + 1), inner))
            j += 1
        items.append(_good(f, inner))
    return items


def mix_misaligned(sa, inners, seed=10):
    """Valid ICV, payload after the IV not a multiple of 4 (-> esp_truncated
    per the brief; a malformed length either way). Own seqs."""
    n = len(inners)
    good = sa.esp(inners)
    fresh = _extra_inners(6, seed)
    bad = [_bad(make_misaligned(i, sa, n + 1 + j, 1 + j % 3),
                "payload %d mod 4, seq %d" % (1 + j % 3, n + 1 + j), i)
           for j, i in enumerate(fresh)]
    return _interleave([_good(f, i) for f, i in zip(good, inners)], bad)


def mix_bad_trailer(sa, inners, seed=11):
    """Valid ICV, aligned, bad trailer (-> esp_bad_trailer). Own seqs."""
    n = len(inners)
    good = sa.esp(inners)
    fresh = _extra_inners(6, seed)
    kinds = ("pad-bytes", "pad-len", "next-header")
    bad = [_bad(make_bad_trailer(i, sa, n + 1 + j, kinds[j % 3]),
                "%s, seq %d" % (kinds[j % 3], n + 1 + j), i)
           for j, i in enumerate(fresh)]
    return _interleave([_good(f, i) for f, i in zip(good, inners)], bad)


OUTSIDE = (("10.9.9.0/24", LAN_NET), (REMOTE_NET, "192.168.3.0/24"),
           ("192.168.3.0/24", LAN_NET), (LAN_NET, REMOTE_NET))


def mix_outside_selectors(sa, inners, seed=12):
    """Valid ESP on the right SA whose inner src/dst fall outside the
    policy the SA serves (-> esp_selector_mismatch, RFC 4301 §5.2). Own seqs,
    interleaved with the good ones' seqs."""
    n = len(inners)
    good = sa.esp(inners)
    bad_in = []
    for j, (s, d) in enumerate(OUTSIDE):
        bad_in += make_plain(2, flows=2, src_net=s, dst_net=d, seed=seed + j,
                             eth_src=WAN_PEER_MAC, eth_dst=WAN_GW_MAC,
                             index_base=20000 + 2 * j)
    bad = [_bad(f, "inner %s -> %s, seq %d" % (i[IP].src, i[IP].dst, n + 1 + j), i)
           for j, (f, i) in enumerate(zip(sa.esp(bad_in, start_seq=n + 1), bad_in))]
    return _interleave([_good(f, i) for f, i in zip(good, inners)], bad)


def mix_plain_on_wan(sa, inners, seed=13):
    """Plaintext 192.168.2.x -> 192.168.1.x arriving on the unprotected port:
    the inbound policy says protect, so it must not pass in clear
    (-> spd_protect_clear)."""
    good = sa.esp(inners)
    clear = _extra_inners(8, seed)
    bad = [_bad(bytes(Ether(dst=WAN_GW_MAC, src=WAN_PEER_MAC) / IP(ip_bytes(c))),
                "plaintext %s -> %s" % (c[IP].src, c[IP].dst), c) for c in clear]
    return _interleave([_good(f, i) for f, i in zip(good, inners)], bad)


def _interleave(good, bad):
    """Spread bad items evenly between good ones (never first or last)."""
    out, step = [], max(1, len(good) // (len(bad) + 1))
    bi = iter(bad)
    for k, g in enumerate(good):
        out.append(g)
        if (k + 1) % step == 0:
            b = next(bi, None)
            if b is not None:
                out.append(b)
    out.extend(bi)
    return out


# ------------------------------------------------------------------ pcap
def write_pcap(path, frames):
    """Microsecond pcap, linktype Ethernet; zero frames = a bare 24-byte header."""
    w = PcapWriter(path, linktype=1, sync=False)
    if not frames:
        w._write_header(None)
    for f in frames:
        w.write(Ether(_as_bytes(f)))
    w.close()


def read_pcap(path):
    """Raw frames of a pcap (micro- or nanosecond, as net_pcap writes)."""
    r = RawPcapReader(path)
    try:
        if r.linktype != 1:
            raise EspError("%s: linktype %d, expected 1 (Ethernet)" % (path, r.linktype))
        return [bytes(d) for d, _ in r]
    finally:
        r.close()


# --------------------------------------------------------------- selftest
# draft-mcgrew-gcm-test-01 §3 (RFC 4106 ESP), AES-GCM primitive view:
# key, salt || IV, AAD = SPI || [seq-hi ||] seq, plaintext incl. trailer,
# ciphertext || tag. Cross-checked against several independent copies.
MCGREW = [
    dict(name="mcgrew case 1 (AES-128, ESN)",
         key="4c80cdefbb5d10da906ac73c3613a634", salt="2e443b68", iv="4956ed7e3b244cfe",
         spi=0x00004321, seq_hi=0x87654321, seq=0x00000000,
         pt="45000048699a000080114db7c0a80102c0a801010a9bf15638d3010000010000"
            "00000000045f736970045f756470037369700963796265726369747902646b00"
            "0021000101020201",
         ct="fecf537e729d5b07dc30df528dd22b768d1b98736696a6fd348509fa13ceac34"
            "cfa2436f14a3f3cf65925bf1f4a13c5d15b21e1884f5ff6247aeabb786b93bce"
            "61bc17d768fd9732459018148f6cbe722fd04796562dfdb4"),
    dict(name="mcgrew case 2 (AES-128)",
         key="feffe9928665731c6d6a8f9467308308", salt="cafebabe", iv="facedbaddecaf888",
         spi=0x0000a5f8, seq_hi=None, seq=0x0000000a,
         pt="4500003e698f000080114dccc0a80102c0a801010a980035002a2343b2d00100"
            "0001000000000000037369700963796265726369747902646b00000100010001",
         ct="deb22cd9b07c72c16e3a65beeb8df304a5a5897d33ae530f1ba76d5d114d2a5c"
            "3de81827c10e9a4f51330d0eec416642cfbb85a5b47e48a4ec3b9ba95d918bd1"
            "83b70d3aa8bc6ee4c309e9d85a41ad4a"),
    dict(name="mcgrew case 3 (AES-256)",
         key="abbccddef00112233445566778899aababbccddef00112233445566778899aab",
         salt="11223344", iv="0102030405060708",
         spi=0x4a2cbfe3, seq_hi=None, seq=0x00000002,
         pt="4500003069a6400080062690c0a801029389155e0a9e008b2dc57ee000000000"
            "7002400020bf0000020405b40101040201020201",
         ct="ff425c9b724599df7a3bcd510194e00d6a78107f1b0b1cbf06efae9d65a5d763"
            "748a637985771d347f0545659f14e99def842d8eb335f4eecfdbf831824b4c49"
            "15956c96"),
]

# DPDK app/test/test_cryptodev_security_ipsec_test_vectors.h: the same
# draft-mcgrew keys as whole tunnel-mode packets (seq 1, next header 4),
# i.e. through SecurityAssociation.encrypt with a tunnel header.
DPDK_TUNNEL = [
    dict(name="dpdk pkt_aes_128_gcm (tunnel)",
         key="feffe9928665731c6d6a8f9467308308", salt="cafebabe", iv="facedbaddecaf888",
         spi=0xa5f8, seq=1,
         inner="4500003e698f000080114dccc0a80102c0a801010a980035002a2343b2d00100"
               "0001000000000000037369700963796265726369747902646b000001 0001",
         outer="45000074698f000080324d75c0a80102c0a80101"
               "0000a5f800000001facedbaddecaf888"
               "deb22cd9b07c72c16e3a65beeb8df304a5a5897d33ae530f1ba76d5d114d2a5c"
               "3de81827c10e9a4f51330d0eec416642cfbb85a5b47e48a4ec3b9ba95d918bd4"
               "29c737579ff19e58cffc607a3bce8994"),
    dict(name="dpdk pkt_aes_256_gcm (tunnel)",
         key="abbccddef00112233445566778899aababbccddef00112233445566778899aab",
         salt="11223344", iv="0102030405060708", spi=0x4a2cbfe3, seq=1,
         inner="4500003069a6400080062690c0a801029389155e0a9e008b2dc57ee000000000"
               "7002400020bf0000020405b401010402",
         outer="45000068698f000080324d81c0a80102c0a80101"
               "4a2cbfe3000000010102030405060708"
               "ff425c9b724599df7a3bcd510194e00d6a78107f1b0b1cbf06efae9d65a5d763"
               "748a637985771d347f0545659f14e99def842d8b00144a1fec6adf0c9a927fee"
               "a6c51160"),
]


def _hx(s):
    return bytes.fromhex(s.replace(" ", ""))


class _Checks:
    def __init__(self):
        self.n = 0
        self.failed = []

    def __call__(self, ok, what):
        self.n += 1
        if not ok:
            self.failed.append(what)
            print("  FAIL", what)
        return ok


def selftest(verbose=False):
    """Check the oracle: published vectors, round trips, and that every
    hostile generator produces what it says. Returns the failure list."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    t = _Checks()
    t(scapy.__version__ == SCAPY_VERSION,
      "scapy is %s, expected %s" % (scapy.__version__, SCAPY_VERSION))

    # 1. key || salt convention and the published vectors.
    for v in MCGREW:
        key, salt, iv = _hx(v["key"]), _hx(v["salt"]), _hx(v["iv"])
        s = SecurityAssociation(ESP, spi=v["spi"], crypt_algo="AES-GCM",
                                crypt_key=key + salt)
        t(s.crypt_key == key and s.crypt_salt == salt,
          "%s: scapy splits key||salt as %s|%s" % (v["name"], s.crypt_key.hex(),
                                                   s.crypt_salt.hex()))
        pt = _hx(v["pt"])
        padlen, nh = pt[-2], pt[-1]
        data, pad = pt[:len(pt) - 2 - padlen], pt[len(pt) - 2 - padlen:-2]
        plain = _ESPPlain(spi=v["spi"], seq=v["seq"], iv=iv, data=data,
                          padding=pad, padlen=padlen, nh=nh)
        esn = v["seq_hi"] is not None
        enc = s.crypt_algo.encrypt(s, plain, s.crypt_key, esn_en=esn,
                                   esn=v["seq_hi"] or 0)
        t(enc.data == iv + _hx(v["ct"]), "%s: scapy ciphertext||ICV differs" % v["name"])
        back = s.crypt_algo.decrypt(s, ESP(spi=v["spi"], seq=v["seq"],
                                           data=iv + _hx(v["ct"])),
                                    s.crypt_key, esn_en=esn, esn=v["seq_hi"] or 0)
        t(bytes(back.data) == data and back.padlen == padlen and back.nh == nh,
          "%s: scapy decrypt differs" % v["name"])
        # The salt really is the nonce prefix: a key-only nonce must fail.
        aad = struct.pack("!I", v["spi"]) + (struct.pack("!I", v["seq_hi"]) if esn else b"") \
            + struct.pack("!I", v["seq"])
        t(AESGCM(key).encrypt(salt + iv, pt, aad) == _hx(v["ct"]),
          "%s: python-cryptography disagrees" % v["name"])
        bad = SecurityAssociation(ESP, spi=v["spi"], crypt_algo="AES-GCM",
                                  crypt_key=salt + key)
        try:
            bad.crypt_algo.decrypt(bad, ESP(spi=v["spi"], seq=v["seq"],
                                            data=iv + _hx(v["ct"])),
                                   bad.crypt_key[:len(key)], esn_en=esn,
                                   esn=v["seq_hi"] or 0)
            t(False, "%s: salt||key accepted" % v["name"])
        except (IPSecIntegrityError, ValueError):
            t(True, "")
    for v in DPDK_TUNNEL:
        key, salt, iv = _hx(v["key"]), _hx(v["salt"]), _hx(v["iv"])
        s = SecurityAssociation(ESP, spi=v["spi"], crypt_algo="AES-GCM",
                                crypt_key=key + salt,
                                tunnel_header=IP(src="192.168.1.2", dst="192.168.1.1",
                                                 id=0x698f, ttl=128))
        enc = s.encrypt(IP(_hx(v["inner"])), seq_num=v["seq"], iv=iv)
        t(bytes(enc) == _hx(v["outer"]), "%s: scapy tunnel packet differs:\n  %s\n  %s"
          % (v["name"], bytes(enc).hex(), v["outer"].replace(" ", "")))
        got = decrypt_esp([b"\x02" * 12 + b"\x08\x00" + _hx(v["outer"])], v["spi"],
                          "aes-128-gcm" if len(key) == 16 else "aes-256-gcm", key, salt)
        t(bytes(got[0][2]) == _hx(v["inner"]), "%s: decrypt_esp differs" % v["name"])

    # 2. make_plain
    a = make_plain(200, flows=16, seed=5)
    b = make_plain(200, flows=16, seed=5)
    c = make_plain(200, flows=16, seed=6)
    t([bytes(x) for x in a] == [bytes(x) for x in b], "make_plain not deterministic")
    t([bytes(x) for x in a] != [bytes(x) for x in c], "make_plain ignores its seed")
    t(len(a) == 200, "make_plain count")
    sizes = [len(bytes(x)) for x in a]
    t(set(sizes) == set(DEFAULT_SIZES), "sizes %s" % sorted(set(sizes)))
    t(min(sizes) == 64 and max(sizes) == 1400, "size range %d..%d" % (min(sizes), max(sizes)))
    flows5 = set()
    protos = set()
    lan, rem = ipaddress.ip_network(LAN_NET), ipaddress.ip_network(REMOTE_NET)
    for k, x in enumerate(a):
        ip = x[IP]
        l4 = ip.payload
        protos.add(ip.proto)
        flows5.add((ip.proto, ip.src, ip.dst, getattr(l4, "sport", getattr(l4, "id", 0)),
                    getattr(l4, "dport", 0)))
        t(x.dst == LAN_GW_MAC and x.src == LAN_HOST_MAC, "frame %d macs" % k)
        t(ipaddress.ip_address(ip.src) in lan and ipaddress.ip_address(ip.dst) in rem,
          "frame %d addresses %s -> %s" % (k, ip.src, ip.dst))
        t(ip.src != LAN_GW_IP, "frame %d uses the gateway address" % k)
        t(ip_header_ok(bytes(ip)), "frame %d IP checksum" % k)
        re = Ether(bytes(x))
        del re[IP].chksum
        del re[IP].payload.chksum
        t(bytes(Ether(bytes(re))) == bytes(x), "frame %d L4 checksum not what scapy computes" % k)
        t(packet_index(x) == k, "frame %d index mark" % k)
        t(ip.ttl >= 2, "frame %d ttl %d" % (k, ip.ttl))
    t(len(flows5) == 16, "%d distinct flows, expected 16" % len(flows5))
    t(protos == {1, 6, 17}, "protocols %s" % protos)

    # 3. ttl_aside against scapy's own checksum.
    for x in a[:30]:
        ip = IP(bytes(x[IP]))
        ip.ttl -= 1
        del ip.chksum
        t(ttl_aside(x) == bytes(IP(bytes(ip))), "ttl_aside differs from scapy")
        t(compare_inner(x, ttl_aside(x)) is None, "compare_inner rejects the right packet")
        t(compare_inner(x, ip_bytes(x)) is not None, "compare_inner accepts an undecremented TTL")

    # 4. make_esp / decrypt_esp round trip, both key sizes, both directions.
    for alg, klen in ALGS.items():
        rng = random.Random(klen)
        key, salt = rng.randbytes(klen), rng.randbytes(4)
        inn = make_plain(200, flows=16, seed=klen, src_net=REMOTE_NET, dst_net=LAN_NET,
                         eth_src=WAN_PEER_MAC, eth_dst=WAN_GW_MAC)
        sa = Sa(0x2000, alg, key, salt, PEER_IP, WAN_GW_IP)
        fr = sa.esp(inn, start_seq=1)
        got = sa.decrypt(fr)
        t([g[0] for g in got] == list(range(1, 201)), "%s: seqs" % alg)
        t(all(g[1] == 0x2000 for g in got), "%s: spi" % alg)
        t(all(bytes(g[2]) == ip_bytes(i) for g, i in zip(got, inn)),
          "%s: round trip not byte exact" % alg)
        for f in fr[:50]:
            o = Ether(bytes(f))
            t(o.dst == WAN_GW_MAC and o.src == WAN_PEER_MAC and o[IP].src == PEER_IP
              and o[IP].dst == WAN_GW_IP and o[IP].proto == 50 and o[IP].ttl == 64,
              "%s: outer header %s" % (alg, o.summary()))
            t(ip_header_ok(bytes(o[IP])), "%s: outer checksum" % alg)
            _, _, iv, pt = esp_plaintext(f, alg, key, salt)
            t(not trailer_problems(pt), "%s: scapy's own trailer: %s" % (alg, trailer_problems(pt)))
        pads = {esp_plaintext(f, alg, key, salt)[3][-2] for f in fr}
        t(pads == {0, 1, 2, 3}, "%s: pad lengths seen %s, want 0..3" % (alg, pads))
        mx = max(len(bytes(f)) for f in fr)
        t(mx <= 1514, "%s: largest ESP frame %d > 1514" % (alg, mx))
        got0 = make_esp(inn[:3], 0x2000, alg, key, salt, PEER_IP, WAN_GW_IP, start_seq=0)
        t([s for s, _, _ in decrypt_esp(got0, 0x2000, alg, key, salt)] == [0, 1, 2],
          "%s: start_seq 0 (scapy treats 0 as unset)" % alg)
        for wrong in (Sa(0x2000, alg, bytes(klen), salt, PEER_IP, WAN_GW_IP),
                      Sa(0x2000, alg, key, b"\0\0\0\0", PEER_IP, WAN_GW_IP)):
            try:
                wrong.decrypt(fr[:1])
                t(False, "%s: wrong key/salt decrypted" % alg)
            except IcvError:
                t(True, "")
        try:
            decrypt_esp(fr[:1], 0x2001, alg, key, salt)
            t(False, "%s: spi mismatch not detected" % alg)
        except IcvError:
            t(False, "%s: spi mismatch reported as ICV" % alg)
        except EspError:
            t(True, "")

        # 5. hostile generators do what they say.
        for where, idx in (("icv", 0), ("icv", 15), ("ciphertext", 0), ("iv", 7)):
            cf = corrupt(fr[5], where, idx)
            t(len(bytes(cf)) == len(bytes(fr[5])) and
              sum(x != y for x, y in zip(bytes(cf), bytes(fr[5]))) == 1,
              "%s: corrupt %s changed more than one byte" % (alg, where))
            t(bytes(cf)[14 + 20:14 + 28] == bytes(fr[5])[14 + 20:14 + 28],
              "%s: corrupt %s touched SPI/seq" % (alg, where))
            try:
                sa.decrypt([cf])
                t(False, "%s: corrupt %s[%d] still decrypts" % (alg, where, idx))
            except IcvError:
                t(True, "")
        for ln in TRUNC_LENS:
            tf = truncate(fr[7], ln)
            o = IP(bytes(tf)[14:])
            t(len(bytes(tf)) == 14 + 20 + ln and o.len == 20 + ln and ip_header_ok(bytes(o)),
              "%s: truncate %d framing" % (alg, ln))
            t(bytes(o)[20:28] == bytes(fr[7])[34:42] or ln < 8, "%s: truncate %d lost SPI/seq" % (alg, ln))
            t(ln < ESP_MIN_LEN, "truncated length %d is not below the minimum" % ln)
        for r in (1, 2, 3):
            m = make_misaligned(inn[r], sa, 900 + r, r)
            ip, off = esp_parts(m)
            t((len(ip) - off - ESP_HDR_LEN - IV_LEN - ICV_LEN) % 4 == r,
              "%s: misaligned residue %d" % (alg, r))
            spi_, seq_, _, pt = esp_plaintext(m, alg, key, salt)  # ICV valid
            t(seq_ == 900 + r and any("multiple of 4" in p for p in trailer_problems(pt)),
              "%s: misaligned not flagged" % alg)
            t(bytes(sa.decrypt([m], strict=False)[0][2]) == ip_bytes(inn[r]),
              "%s: misaligned inner lost" % alg)
        for kind, needle in (("pad-bytes", "padding"), ("pad-len", "pad length"),
                             ("next-header", "next header")):
            m = make_bad_trailer(inn[2], sa, 950, kind)
            _, _, _, pt = esp_plaintext(m, alg, key, salt)
            probs = trailer_problems(pt)
            t(len(probs) >= 1 and any(needle in p for p in probs) and
              not any("multiple of 4" in p for p in probs),
              "%s: bad trailer %s -> %s" % (alg, kind, probs))
            try:
                sa.decrypt([m])
                t(False, "%s: strict decrypt accepted %s" % (alg, kind))
            except EspFormatError:
                t(True, "")
        _selftest_mixes(t, sa, inn[:40],
                        Sa(0x1000, alg, rng.randbytes(klen), rng.randbytes(4), WAN_GW_IP, PEER_IP))

    # 6. pcaps: empty file is a valid header; nanosecond pcaps read.
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "e.pcap")
        write_pcap(p, [])
        raw = open(p, "rb").read()
        t(len(raw) == 24 and raw[:4] == b"\xd4\xc3\xb2\xa1" and raw[20:24] == b"\1\0\0\0",
          "empty pcap header %s" % raw.hex())
        t(read_pcap(p) == [], "empty pcap reads back non-empty")
        write_pcap(p, a[:5])
        t(read_pcap(p) == [bytes(x) for x in a[:5]], "pcap round trip")
        w = PcapWriter(p, linktype=1, nano=True)
        for x in a[:3]:
            w.write(x)
        w.close()
        t(read_pcap(p) == [bytes(x) for x in a[:3]], "nanosecond pcap round trip")

    _selftest_tshark(t)
    if verbose or t.failed:
        print("esp selftest: %d checks, %d failed" % (t.n, len(t.failed)))
    return t.failed


def _selftest_mixes(t, sa, inners, outbound):
    """Each scenario: goods decrypt to their inner; each bad one fails the
    way its counter says, and no bad frame equals a good one."""
    def classify(fr):
        b = bytes(fr)
        ip = ip_bytes(b[14:])
        if ip[9] != IPPROTO_ESP:
            return "clear"
        e = ip[(ip[0] & 0xf) * 4:]
        if len(e) < ESP_MIN_LEN:
            return "truncated"
        if struct.unpack("!I", e[:4])[0] != sa.spi:
            return "unknown_spi"
        if (len(e) - ESP_HDR_LEN - IV_LEN - ICV_LEN) % 4:
            return "misaligned"
        try:
            _, seq, _, pt = esp_plaintext(b, sa.alg, sa.key, sa.salt)
        except IcvError:
            return "icv"
        if trailer_problems(pt):
            return "trailer"
        inner = ip_bytes(pt[:len(pt) - 2 - pt[-2]])
        s, d = ipaddress.ip_address(inner[12:16]), ipaddress.ip_address(inner[16:20])
        if not (s in ipaddress.ip_network(REMOTE_NET) and d in ipaddress.ip_network(LAN_NET)):
            return "selector"
        return ("esp", seq)

    def replay_model(items, window=1024):
        """Naive RFC 4303 §3.4.3 receiver: which items are replays."""
        seen, top, out = set(), 0, []
        for it in items:
            c = classify(it.frame)
            if isinstance(c, tuple):
                seq = c[1]
                rep = seq in seen or (top >= window and seq <= top - window)
                out.append(rep)
                if not rep:
                    seen.add(seq)
                    top = max(top, seq)
            else:
                out.append(None)
        return out

    table = [
        ("bad_icv", mix_bad_icv(sa, inners), "icv"),
        ("replay", mix_replay(sa, inners), "replay"),
        ("unknown_spi", mix_unknown_spi(sa, inners, {outbound.spi: outbound}), "unknown_spi"),
        ("truncated", mix_truncated(sa, inners), "truncated"),
        ("misaligned", mix_misaligned(sa, inners), "misaligned"),
        ("bad_trailer", mix_bad_trailer(sa, inners), "trailer"),
        ("selectors", mix_outside_selectors(sa, inners), "selector"),
        ("plain_on_wan", mix_plain_on_wan(sa, inners), "clear"),
    ]
    for name, items, want in table:
        goods = [i for i in items if i.good]
        bads = [i for i in items if not i.good]
        t(len(goods) == len(inners) and [g.inner for g in goods] == [ip_bytes(i) for i in inners],
          "%s: good packets are not the inners in order" % name)
        t(len(bads) >= 5, "%s: only %d bad packets" % (name, len(bads)))
        t(items[0].good, "%s: first packet is bad" % name)
        t(items[-1].good or name == "replay", "%s: last packet is bad" % name)
        reps = replay_model(items)
        for k, it in enumerate(items):
            c = classify(it.frame)
            if it.good:
                t(isinstance(c, tuple) and not reps[k], "%s item %d: good packet classed %s" % (name, k, c))
                got = sa.decrypt([it.frame])[0][2]
                t(bytes(got) == it.inner, "%s item %d: good inner" % (name, k))
            elif want == "replay":
                t(isinstance(c, tuple) and reps[k], "%s item %d (%s): not a replay per model, %s"
                  % (name, k, it.why, c))
            else:
                t(c == want, "%s item %d (%s): classed %s, want %s" % (name, k, it.why, c, want))
        t(len({i.frame for i in goods}) == len(goods), "%s: duplicate good frames" % name)
        if want != "replay":
            t(not ({i.frame for i in bads} & {i.frame for i in goods}), "%s: a bad frame equals a good one" % name)
    # The outbound-SPI packets decrypt with the outbound key: sharp test.
    us = [i for i in table[2][1] if not i.good and ("0x%x" % outbound.spi) in i.why]
    t(len(us) == 2 and all(outbound.decrypt([Ether(i.frame)])[0][2] is not None for i in us),
      "unknown_spi: outbound-SPI packets are not outbound-key ESP")


def _selftest_tshark(t):
    """A third ESP implementation (Wireshark's) agrees with make_esp, when
    tshark is installed; skipped otherwise."""
    import shutil
    import subprocess
    import tempfile
    if not shutil.which("tshark"):
        print("  (tshark not found: Wireshark cross-check skipped)")
        return
    for alg, klen in ALGS.items():
        key, salt = bytes(range(1, klen + 1)), b"\xca\xfe\xba\xbe"
        inn = make_plain(12, flows=4, seed=3, src_net=REMOTE_NET, dst_net=LAN_NET)
        fr = make_esp(inn, 0x2000, alg, key, salt, PEER_IP, WAN_GW_IP, start_seq=7)
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "t.pcap")
            write_pcap(p, fr)
            sa = ('"IPv4","%s","%s","0x%08x","AES-GCM with 16 octet ICV [RFC4106]",'
                  '"0x%s","NULL",""' % (PEER_IP, WAN_GW_IP, 0x2000, (key + salt).hex()))
            cmd = ["tshark", "-n", "-r", p, "-o", "esp.enable_encryption_decode:TRUE",
                   "-o", "uat:esp_sa:" + sa, "-T", "fields", "-E", "separator=,",
                   "-E", "occurrence=l", "-e", "esp.sequence", "-e", "ip.id",
                   "-e", "ip.src", "-e", "ip.dst", "-e", "ip.len", "-e", "ip.ttl"]
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        got = [ln for ln in r.stdout.split("\n") if ln]
        want = ["%d,0x%04x,%s,%s,%d,%d" % (7 + k, x[IP].id, x[IP].src, x[IP].dst,
                                           x[IP].len, x[IP].ttl)
                for k, x in enumerate(inn)]
        t(got == want, "tshark (%s) decrypts differently:\n   got %s\n  want %s\n  %s"
          % (alg, got[:2], want[:2], r.stderr.strip()[-300:]))


# -------------------------------------------------------------------- CLI
def _hexarg(s):
    return bytes.fromhex(s[2:] if s.lower().startswith("0x") else s)


def main(argv=None):
    import argparse
    ap = argparse.ArgumentParser(prog="esp.py", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("selftest", help="verify the oracle")
    p = sub.add_parser("plain", help="write plaintext frames")
    p.add_argument("-o", required=True)
    p.add_argument("-n", type=int, default=200)
    p.add_argument("--flows", type=int, default=16)
    p.add_argument("--src-net", default=LAN_NET)
    p.add_argument("--dst-net", default=REMOTE_NET)
    p.add_argument("--eth-src", default=LAN_HOST_MAC)
    p.add_argument("--eth-dst", default=LAN_GW_MAC)
    p.add_argument("--seed", type=int, default=1)
    for name in ("esp", "decrypt"):
        p = sub.add_parser(name, help="encrypt a pcap of plaintext frames" if name == "esp"
                           else "decrypt and print an ESP pcap")
        p.add_argument("-i", required=True)
        if name == "esp":
            p.add_argument("-o", required=True)
            p.add_argument("--outer-src", default=PEER_IP)
            p.add_argument("--outer-dst", default=WAN_GW_IP)
            p.add_argument("--start-seq", type=int, default=1)
            p.add_argument("--eth-src", default=WAN_PEER_MAC)
            p.add_argument("--eth-dst", default=WAN_GW_MAC)
        p.add_argument("--spi", type=lambda s: int(s, 0), required=True)
        p.add_argument("--alg", choices=list(ALGS), default="aes-128-gcm")
        p.add_argument("--key", type=_hexarg, required=True)
        p.add_argument("--salt", type=_hexarg, required=True)
    a = ap.parse_args(argv)
    if a.cmd == "selftest":
        failed = selftest(verbose=True)
        return 1 if failed else 0
    if a.cmd == "plain":
        write_pcap(a.o, make_plain(a.n, a.flows, src_net=a.src_net, dst_net=a.dst_net,
                                   eth_src=a.eth_src, eth_dst=a.eth_dst, seed=a.seed))
        return 0
    if a.cmd == "esp":
        fr = make_esp([Ether(b) for b in read_pcap(a.i)], a.spi, a.alg, a.key, a.salt, a.outer_src,
                      a.outer_dst, a.start_seq, a.eth_src, a.eth_dst)
        write_pcap(a.o, fr)
        return 0
    rc = 0
    for k, fr in enumerate(read_pcap(a.i)):
        try:
            (seq, spi, inner), = decrypt_esp([fr], a.spi, a.alg, a.key, a.salt, first_index=k)
            print("%4d seq %-6d spi 0x%x  %s" % (k, seq, spi, inner.summary()))
        except EspError as e:
            print("%4d %s: %s" % (k, type(e).__name__, e))  # noqa
            rc = 1
    return rc


if __name__ == "__main__":
    sys.exit(main())
