#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""ESP for every suite, both IP families, ESN, NAT-T and transport mode.

esp.py is the AES-GCM / IPv4 tunnel oracle of the first interop cases. This
module widens it for the protocol-coverage cases (test_interop.py, the
"suite", "natt", "transport", "outer", "vectors", "hostile" and regression
scenarios):

  SUITES      the suites of conf/README.md: AES-GCM (RFC 4106), AES-CBC
              (RFC 3602), AES-CTR (RFC 3686), NULL (RFC 2410) with
              HMAC-SHA-256-128 (RFC 4868) or HMAC-SHA1-96 (RFC 2404)
  SaSpec      one SA as the peer sees it: YAML for the gateway's config,
              encrypt() and decrypt() for the wire
  make_plain6 deterministic Ether/IPv6/{UDP,TCP,ICMPv6} frames (make_plain's
              IPv6 twin); ip_of, fwd_ip, l2, index_of work for both families

Who computes what (the point of an oracle is that we did not write it):
  * Encryption and decryption go through scapy 2.5.0's SecurityAssociation
    (tunnel_header for tunnel mode, none for transport, nat_t_header for
    RFC 3948). decrypt() also decrypts with python-cryptography on its own,
    to see the trailer scapy throws away, and the two must agree.
  * ESN with an HMAC suite: scapy 2.5.0 leaves the high-order 32 bits of the
    sequence number out of the ESP ICV (AuthAlgo.sign/verify only append
    them for AH), contrary to RFC 4303 §2.2.1 and §3.3.2.1. For those SAs
    the ICV is computed and verified here, with python's hmac module:
        ICV = HMAC(key, SPI || seq_lo || IV || ciphertext || seq_hi)
    truncated to 12 (SHA1-96) or 16 (SHA-256-128) bytes; scapy then does
    the cipher part with auth NULL. ESN with GCM is scapy's own (its AAD is
    SPI || seq_hi || seq_lo, RFC 4106 §5).
  * scapy 2.5.0 writes 8 in the UDP length of NAT-T packets (it builds the
    UDP header before appending the ESP payload); encrypt() fixes the
    length, the ESP bytes are scapy's.
"""

import hashlib
import hmac
import ipaddress
import os
import random
import struct
import sys
from dataclasses import dataclass
from typing import Optional

if __name__ == "__main__":
    _want = "/usr/bin/python3"
    if os.path.realpath(sys.executable) != os.path.realpath(_want) and \
            os.path.exists(_want) and not os.environ.get("LG_NO_REEXEC"):
        os.environ["LG_NO_REEXEC"] = "1"
        os.execv(_want, [_want] + sys.argv)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import esp  # noqa: E402
from esp import EspError, EspFormatError, IcvError, MARK  # noqa: E402
from scapy.layers.inet import ICMP, IP, TCP, UDP  # noqa: E402
from scapy.layers.inet6 import ICMPv6EchoRequest, IPv6  # noqa: E402
from scapy.layers.ipsec import (ESP, IPSecIntegrityError,  # noqa: E402
                                SecurityAssociation, _ESPPlain)
from scapy.layers.l2 import Ether  # noqa: E402
from scapy.packet import Raw  # noqa: E402

# ---------------------------------------------------------------- topology
# IPv4 values are esp.py's. IPv6: the gateway's wan address and the peer's
# (the transport-mode hosts of the brief), the two protected /64s.
WAN_GW_IP6 = "2001:db8:f::5"
PEER_IP6 = "2001:db8:e::5"
PEER_NET6 = "2001:db8:e::/64"
LAN_GW_IP6 = "2001:db8:1::fe"
LAN_NET6 = "2001:db8:1::/64"
REMOTE_NET6 = "2001:db8:2::/64"

IPPROTO_IPV6 = 41
IPPROTO_UDP = 17
IPPROTO_ESP = 50
NH_DUMMY = 59
NATT_PORT = 4500


# ------------------------------------------------------------------ suites
@dataclass(frozen=True)
class Suite:
    name: str            # short, used in case names
    cipher: str          # YAML: aead/cipher algorithm
    auth: Optional[str]  # YAML: auth algorithm; None for AEAD
    key_len: int
    salt_len: int        # GCM salt / CTR nonce (RFC 4106 §8.1, RFC 3686 §4)
    auth_key_len: int
    iv_len: int
    icv_len: int
    align: int           # the encrypted part is a multiple of this
    scapy_crypt: str
    scapy_auth: str

    @property
    def aead(self):
        return self.auth is None

    @property
    def hmac(self):
        return self.auth not in (None, "null")

    @property
    def stats_name(self):
        """How latchgate prints the suite (conf/README.md, suites)."""
        return self.cipher if self.aead else "%s/%s" % (self.cipher, self.auth)

    def digest(self):
        return {"hmac-sha256-128": hashlib.sha256, "hmac-sha1-96": hashlib.sha1}[self.auth]


SUITES = {s.name: s for s in (
    Suite("gcm128", "aes-128-gcm", None, 16, 4, 0, 8, 16, 4, "AES-GCM", "NULL"),
    Suite("gcm256", "aes-256-gcm", None, 32, 4, 0, 8, 16, 4, "AES-GCM", "NULL"),
    Suite("cbc128-sha256", "aes-128-cbc", "hmac-sha256-128", 16, 0, 32, 16, 16, 16,
          "AES-CBC", "SHA2-256-128"),
    Suite("cbc256-sha256", "aes-256-cbc", "hmac-sha256-128", 32, 0, 32, 16, 16, 16,
          "AES-CBC", "SHA2-256-128"),
    Suite("cbc128-sha1", "aes-128-cbc", "hmac-sha1-96", 16, 0, 20, 16, 12, 16,
          "AES-CBC", "HMAC-SHA1-96"),
    Suite("ctr128-sha256", "aes-128-ctr", "hmac-sha256-128", 16, 4, 32, 8, 16, 4,
          "AES-CTR", "SHA2-256-128"),
    Suite("null-sha256", "null", "hmac-sha256-128", 0, 0, 32, 0, 16, 4, "NULL",
          "SHA2-256-128"),
    # Confidentiality only (RFC 4303 §3.2 allows it): the RFC 3602 vectors.
    Suite("cbc128-noauth", "aes-128-cbc", "null", 16, 0, 0, 16, 0, 16, "AES-CBC", "NULL"),
)}
# The seven suites, in the order of the acceptance list.
MATRIX_SUITES = ("gcm128", "gcm256", "cbc128-sha256", "cbc256-sha256", "cbc128-sha1",
                 "ctr128-sha256", "null-sha256")


# ------------------------------------------------------------- packets
def family(ip):
    return ip[0] >> 4


def ip_of(b):
    """The IPv4 or IPv6 packet at the start of b, cut to its length."""
    b = bytes(b)
    if len(b) >= 20 and family(b) == 4:
        return b[:struct.unpack("!H", b[2:4])[0]]
    if len(b) >= 40 and family(b) == 6:
        return b[:40 + struct.unpack("!H", b[4:6])[0]]
    raise EspError("not an IP packet")


def fix4(b):
    """IPv4 header checksum of bytearray b, in place."""
    return esp._fix_ip_header(b)


def fwd_ip(ip):
    """A forwarded copy: TTL / hop limit - 1 (RFC 1812 §5.3.1, RFC 8200 §3),
    IPv4 checksum recomputed, nothing else changed."""
    b = bytearray(ip_of(ip))
    if family(b) == 4:
        return esp.ttl_aside(bytes(b))
    if b[7] < 2:
        raise ValueError("hop limit %d: a router would drop this" % b[7])
    b[7] -= 1
    return bytes(b)


def ethertype(ip):
    return b"\x86\xdd" if family(ip) == 6 else b"\x08\x00"


def mac(m):
    return bytes.fromhex(m.replace(":", ""))


def l2(ip, dst, src):
    return mac(dst) + mac(src) + ethertype(ip) + bytes(ip)


def l4_of(ip):
    """(protocol, offset of the L4 header) for our packets: IPv4, or IPv6
    with at most a fragment header."""
    if family(ip) == 4:
        return ip[9], (ip[0] & 0xf) * 4
    nh, off = ip[6], 40
    if nh == 44:
        nh, off = ip[40], 48
    return nh, off


def index_of(ip):
    """The index make_plain()/make_plain6()/ip_frame() wrote, or None."""
    try:
        ip = ip_of(ip)
        proto, off = l4_of(ip)
        l4 = {6: (ip[off + 12] >> 4) * 4 if len(ip) > off + 12 else 20, 17: 8, 1: 8,
              58: 8}.get(proto)
        if l4 is None:
            return None
        p = ip[off + l4:]
        if p[:4] != MARK:
            return None
        return struct.unpack("!I", p[4:8])[0]
    except (EspError, IndexError, struct.error):
        return None


def set_tos(ip, tos):
    """IPv4 TOS / IPv6 traffic class set to tos (checksum fixed)."""
    b = bytearray(ip_of(ip))
    if family(b) == 4:
        b[1] = tos
        return bytes(fix4(b))
    v = struct.unpack("!I", b[:4])[0]
    b[:4] = struct.pack("!I", (v & ~(0xff << 20)) | tos << 20)
    return bytes(b)


def tos_of(ip):
    if family(ip) == 4:
        return ip[1]
    return (struct.unpack("!I", ip[:4])[0] >> 20) & 0xff


DEFAULT_SIZES6 = (86, 87, 88, 89, 100, 128, 255, 256, 257, 258, 511, 512, 513, 700,
                  1000, 1023, 1024, 1025, 1279, 1280, 1397, 1398, 1399, 1400)
# Traffic classes for the matrix: DSCP values and every ECN codepoint, so
# that "dscp: copy" and the ECN copy on encapsulation are seen every time.
MATRIX_TOS = (0x00, 0xb8, 0x29, 0x12, 0x03, 0x48, 0x01, 0xfe)


def make_plain6(n, flows=16, sizes=DEFAULT_SIZES6, src_net=LAN_NET6, dst_net=REMOTE_NET6,
                protos=("udp", "tcp", "icmp6"), eth_src=esp.LAN_HOST_MAC,
                eth_dst=esp.LAN_GW_MAC, seed=1, index_base=0, tos=(0,), avoid=()):
    """n Ether/IPv6/(UDP|TCP|ICMPv6 echo)/payload frames, as make_plain():
    packet i is flow i % flows, payload MARK + u32 index, hop limits from
    esp.FLOW_TTLS, traffic class from tos, a flow label per flow."""
    rng = random.Random(seed)
    s_net, d_net = ipaddress.ip_network(src_net), ipaddress.ip_network(dst_net)
    fl, seen = [], set()
    while len(fl) < flows:
        proto = protos[len(fl) % len(protos)]
        src = str(s_net[rng.randrange(1, min(s_net.num_addresses - 1, 1 << 16))])
        dst = str(d_net[rng.randrange(1, min(d_net.num_addresses - 1, 1 << 16))])
        if src in avoid or dst in avoid:
            continue
        sport = rng.randrange(1024, 65536)
        dport = 0 if proto == "icmp6" else rng.choice((53, 80, 123, 443, 5001, 8080))
        if (proto, src, dst, sport, dport) in seen:
            continue
        seen.add((proto, src, dst, sport, dport))
        fl.append((proto, src, dst, sport, dport, esp.FLOW_TTLS[len(fl) % len(esp.FLOW_TTLS)],
                   rng.randrange(1 << 20)))
    order = esp._size_order(n, sizes, rng)
    out = []
    for i in range(n):
        proto, src, dst, sport, dport, hlim, label = fl[i % len(fl)]
        l4len = {"udp": 8, "tcp": 20, "icmp6": 8}[proto]
        plen = order[i] - 14 - 40 - l4len
        payload = MARK + struct.pack("!I", index_base + i)
        payload += rng.randbytes(plen - len(payload))
        ip = IPv6(src=src, dst=dst, hlim=hlim, tc=tos[i % len(tos)], fl=label)
        if proto == "udp":
            l4 = UDP(sport=sport, dport=dport)
        elif proto == "tcp":
            l4 = TCP(sport=sport, dport=dport, seq=rng.randrange(1 << 32), flags="PA",
                     window=8192)
        else:
            l4 = ICMPv6EchoRequest(id=sport & 0xffff, seq=i & 0xffff)
        b = bytes(Ether(dst=eth_dst, src=eth_src) / ip / l4 / Raw(payload))
        assert len(b) == order[i], (len(b), order[i])
        out.append(b)
    return out


def make_plain4(n, seed, src_net=esp.LAN_NET, dst_net=esp.REMOTE_NET, tos=None, **kw):
    """esp.make_plain frames as bytes, optionally with TOS values cycled."""
    fr = [bytes(f) for f in esp.make_plain(n, src_net=src_net, dst_net=dst_net, seed=seed,
                                           **kw)]
    if tos:
        fr = [f[:14] + set_tos(f[14:], tos[k % len(tos)]) for k, f in enumerate(fr)]
    return fr


# ------------------------------------------------------------------- SAs
def _u16(b, off, v):
    b[off:off + 2] = struct.pack("!H", v)


def fix_lengths(b, natt=False):
    """Total length / payload length, the UDP length of NAT-T and the IPv4
    checksum of outer packet b (a bytearray), in place."""
    if family(b) == 4:
        ihl = (b[0] & 0xf) * 4
        _u16(b, 2, len(b))
        if natt:
            _u16(b, ihl + 4, len(b) - ihl)
        fix4(b)
    else:
        _u16(b, 4, len(b) - 40)
        if natt:
            _u16(b, 44, len(b) - 40)
    return b


def esp_offset(ip):
    """(offset of the ESP header, NAT-T?) in outer packet ip."""
    if family(ip) == 4:
        off, proto = (ip[0] & 0xf) * 4, ip[9]
    else:
        off, proto = 40, ip[6]
    if proto == IPPROTO_UDP:
        return off + 8, True
    if proto != IPPROTO_ESP:
        raise EspError("IP protocol %d is neither ESP nor UDP" % proto)
    return off, False


@dataclass(frozen=True)
class SaSpec:
    """One SA, as its sender puts it on the wire and as the YAML names it.

    src/dst are the outer addresses (transport: the two hosts), sender to
    receiver: an outbound SA is gateway -> peer, an inbound one peer ->
    gateway. inner is the tunnel's inner family (transport: the family)."""
    name: str
    direction: str               # outbound | inbound
    spi: int
    suite: Suite
    key: bytes
    salt: bytes
    auth_key: bytes
    src: str
    dst: str
    inner: int = 4
    mode: str = "tunnel"
    esn: bool = False
    natt: bool = False
    outer: tuple = ()            # (("dscp", 46), ("df", "set"), ("ttl", 17))
    replay_window: Optional[int] = 1024   # None: leave it to the config default
    peer: str = "site-b"

    @property
    def outer_af(self):
        return 6 if ":" in self.src else 4

    @property
    def outer_cfg(self):
        return dict(self.outer)

    @property
    def ttl(self):
        return self.outer_cfg.get("ttl", 64)

    @property
    def own_icv(self):
        """ICV computed here, not by scapy (see the module docstring)."""
        return self.esn and self.suite.hmac

    @property
    def next_header(self):
        return IPPROTO_IPV6 if self.inner == 6 else 4

    def yaml(self):
        s = self.suite
        local, remote = (self.src, self.dst) if self.direction == "outbound" else \
            (self.dst, self.src)
        q = lambda a: '"%s"' % a if ":" in a else a
        f = ["name: %s" % self.name, "direction: %s" % self.direction,
             "spi: 0x%x" % self.spi, "peer: %s" % self.peer]
        if self.mode != "tunnel":
            f.append("mode: %s" % self.mode)
        f += ["local: %s" % q(local), "remote: %s" % q(remote)]
        if s.aead:
            f.append('aead: { algorithm: %s, key: "0x%s", salt: "0x%s" }'
                     % (s.cipher, self.key.hex(), self.salt.hex()))
        else:
            c = ["algorithm: %s" % s.cipher]
            if s.key_len:
                c.append('key: "0x%s"' % self.key.hex())
            if s.salt_len:
                c.append('nonce: "0x%s"' % self.salt.hex())
            a = ["algorithm: %s" % s.auth]
            if s.hmac:
                a.append('key: "0x%s"' % self.auth_key.hex())
            f += ["cipher: { %s }" % ", ".join(c), "auth: { %s }" % ", ".join(a)]
        if self.direction == "inbound" and self.replay_window is not None:
            f.append("replay_window: %d" % self.replay_window)
        if self.esn:
            f.append("esn: true")
        if self.natt:
            f.append("encap: { type: udp }")
        if self.outer:
            f.append("outer: { %s }" % ", ".join("%s: %s" % kv for kv in self.outer))
        return "  - { %s }" % ", ".join(f)

    # -- scapy
    def scapy_sa(self, with_auth=True):
        s = self.suite
        hdr = None
        if self.mode == "tunnel":
            hdr = (IPv6(src=self.src, dst=self.dst, hlim=64) if self.outer_af == 6 else
                   IP(src=self.src, dst=self.dst, ttl=64))
        auth = s.scapy_auth if with_auth and not self.own_icv else "NULL"
        return SecurityAssociation(
            ESP, spi=self.spi, crypt_algo=s.scapy_crypt,
            crypt_key=(self.key + self.salt) if s.key_len else None,
            auth_algo=auth, auth_key=self.auth_key if auth != "NULL" else None,
            tunnel_header=hdr,
            nat_t_header=UDP(sport=NATT_PORT, dport=NATT_PORT) if self.natt else None,
            esn_en=self.esn, esn=0)

    def default_iv(self, seq):
        """Deterministic and unique per (SPI, seq)."""
        n = self.suite.iv_len
        return hashlib.sha256(struct.pack("!IQ", self.spi, seq) + self.key).digest()[:n]

    def icv(self, esp_bytes, seq_hi):
        """RFC 4303 §2.2.1/§3.3.2.1: the ICV covers SPI, seq, payload, trailer,
        and, with ESN, the high-order 32 bits appended (not transmitted)."""
        m = esp_bytes + (struct.pack("!I", seq_hi) if self.esn else b"")
        return hmac.new(self.auth_key, m, self.suite.digest()).digest()[:self.suite.icv_len]

    # -- wire
    def encrypt(self, inner, seq, iv=None, seq_hi=0, ttl=64, tos=0, df=False):
        """The outer IP packet (bytes) carrying IP packet inner, by scapy's
        SecurityAssociation.encrypt; ICV here for ESN + HMAC. ttl, tos and
        df shape a tunnel's outer header."""
        inner = ip_of(inner)
        if self.mode == "transport" and family(inner) != self.outer_af:
            raise ValueError("transport SA %s carries IPv%d" % (self.name, self.outer_af))
        if self.mode == "tunnel" and family(inner) != self.inner:
            raise ValueError("tunnel SA %s carries IPv%d inside" % (self.name, self.inner))
        if not 0 <= seq <= 0xffffffff:
            raise ValueError("seq %d: the low 32 bits go on the wire" % seq)
        s = self.scapy_sa()
        s.seq_num = seq          # scapy reads seq 0 as "unset"
        if s.tunnel_header is not None:
            if self.outer_af == 4:
                s.tunnel_header.ttl, s.tunnel_header.tos = ttl, tos
                s.tunnel_header.flags = "DF" if df else 0
            else:
                s.tunnel_header.hlim, s.tunnel_header.tc = ttl, tos
        pkt = IPv6(inner) if family(inner) == 6 else IP(inner)
        out = s.encrypt(pkt, seq_num=seq, iv=iv if iv is not None else self.default_iv(seq),
                        esn_en=self.esn, esn=seq_hi)
        b = bytearray(bytes(out))
        if self.own_icv:
            off, _ = esp_offset(b)
            b += self.icv(bytes(b[off:]), seq_hi)
        return bytes(fix_lengths(b, self.natt))

    def encrypt_custom(self, inner, seq, nh=None, padding=None, padlen=None, iv=None,
                       seq_hi=0, data=None):
        """ESP with a hand-made trailer (valid ICV): scapy's cipher and (for
        non-ESN HMAC) scapy's ICV, headers built here. data replaces the
        payload (dummy packets: any bytes, nh 59)."""
        inner = ip_of(inner) if inner is not None else None
        s = self.scapy_sa()
        if self.mode == "tunnel":
            payload, nxt = (data if data is not None else inner), self.next_header
            if self.outer_af == 4:
                hdr = bytes(IP(src=self.src, dst=self.dst, ttl=64,
                               proto=IPPROTO_UDP if self.natt else IPPROTO_ESP))
            else:
                hdr = bytes(IPv6(src=self.src, dst=self.dst, hlim=64,
                                 nh=IPPROTO_UDP if self.natt else IPPROTO_ESP))
        else:
            proto, off = l4_of(inner)
            hdr = bytearray(inner[:off])
            if family(inner) == 4:
                hdr[9] = IPPROTO_ESP
            else:
                assert off == 40, "no extension headers in transport mode here"
                hdr[6] = IPPROTO_ESP
            hdr, payload, nxt = bytes(hdr), (data if data is not None else inner[off:]), proto
        e = _ESPPlain(spi=self.spi, seq=seq, iv=iv if iv is not None else self.default_iv(seq),
                      data=payload, nh=nh if nh is not None else nxt)
        if padding is None:
            e = s.crypt_algo.pad(e)
        else:
            e.padding, e.padlen = padding, len(padding) if padlen is None else padlen
        enc = s.crypt_algo.encrypt(s, e, s.crypt_key, s.crypt_icv_size, esn_en=self.esn,
                                   esn=seq_hi)
        s.auth_algo.sign(enc, s.auth_key)
        body = bytes(enc)
        if self.own_icv:
            body += self.icv(body, seq_hi)
        udp = struct.pack("!HHHH", NATT_PORT, NATT_PORT, 0, 0) if self.natt else b""
        return bytes(fix_lengths(bytearray(hdr + udp + body), self.natt))

    def frames(self, inners, seqs=None, start=1, eth_src=esp.WAN_PEER_MAC,
               eth_dst=esp.WAN_GW_MAC, **kw):
        inners = list(inners)
        seqs = seqs or list(range(start, start + len(inners)))
        return [l2(self.encrypt(i, q, **kw), eth_dst, eth_src) for i, q in zip(inners, seqs)]

    def plaintext(self, ip, seq_hi=0):
        """(spi, seq, iv, plaintext incl. trailer) by python-cryptography and
        hmac, independently of scapy. Raises IcvError."""
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
        s = self.suite
        off, _ = esp_offset(ip)
        e = bytes(ip[off:])
        if len(e) < 8 + s.iv_len + s.icv_len:
            raise EspError("ESP of %d bytes is too short" % len(e))
        spi, seq = struct.unpack("!II", e[:8])
        iv = e[8:8 + s.iv_len]
        if s.aead:
            aad = e[:4] + (struct.pack("!I", seq_hi) if self.esn else b"") + e[4:8]
            try:
                pt = AESGCM(self.key).decrypt(self.salt + iv, e[8 + s.iv_len:], aad)
            except InvalidTag:
                raise IcvError("spi 0x%x seq %d: ICV check failed" % (spi, seq))
            return spi, seq, iv, pt
        body, icv = e[:len(e) - s.icv_len], e[len(e) - s.icv_len:]
        if s.hmac and not hmac.compare_digest(icv, self.icv(body, seq_hi)):
            raise IcvError("spi 0x%x seq %d: ICV check failed" % (spi, seq))
        ct = body[8 + s.iv_len:]
        if s.cipher == "null":
            return spi, seq, iv, ct
        if len(ct) % s.align:
            raise EspFormatError("ciphertext of %d bytes is not a multiple of %d"
                                 % (len(ct), s.align))
        mode = modes.CBC(iv) if "cbc" in s.cipher else \
            modes.CTR(self.salt + iv + b"\0\0\0\1")      # RFC 3686 §4 counter block
        d = Cipher(algorithms.AES(self.key), mode).decryptor()
        return spi, seq, iv, d.update(ct) + d.finalize()

    def decrypt(self, ip, seq_hi=0):
        """(seq, inner IP packet bytes, plaintext) of outer packet ip. scapy
        decrypts (the oracle); plaintext() must agree with it."""
        ip = ip_of(ip)
        off, natt = esp_offset(ip)
        if natt != self.natt:
            raise EspError("%s ESP for an SA %s NAT-T" % ("UDP-encapsulated" if natt else "bare",
                                                       "with" if self.natt else "without"))
        spi, seq = struct.unpack("!II", ip[off:off + 8])
        if spi != self.spi:
            raise EspError("spi 0x%x, expected 0x%x" % (spi, self.spi))
        _, _, _, pt = self.plaintext(ip, seq_hi)
        b = bytearray(ip)
        if self.own_icv:
            b = fix_lengths(b[:len(b) - self.suite.icv_len], natt)
        pkt = IPv6(bytes(b)) if family(b) == 6 else IP(bytes(b))
        try:
            inner = self.scapy_sa().decrypt(pkt, esn_en=self.esn, esn=seq_hi)
        except IPSecIntegrityError as e:
            raise IcvError("spi 0x%x seq %d: scapy: ICV check failed (%s)" % (spi, seq, e))
        inner = bytes(inner)
        padlen = pt[-2] if len(pt) >= 2 else 0
        data = pt[:max(0, len(pt) - 2 - padlen)]
        if self.mode == "tunnel" and data != inner:
            raise EspError("seq %d: scapy and python-cryptography decrypt differently" % seq)
        if self.mode == "transport" and not inner.endswith(data):
            raise EspError("seq %d: scapy and python-cryptography decrypt differently" % seq)
        return seq, inner, pt

    def trailer_problems(self, pt, expect_nh=None):
        """RFC 4303 §2.4-2.6: default padding 1, 2, 3, ..., pad length that
        fits, next header, and the encrypted part aligned (4 bytes, and the
        cipher's block)."""
        p = []
        if len(pt) < 2:
            return ["plaintext of %d bytes has no trailer" % len(pt)]
        align = max(4, self.suite.align)
        # With an 8- or 16-byte IV (or none) the payload's alignment is the
        # plaintext's: the ESP header is 8 bytes.
        if len(pt) % align:
            p.append("encrypted part is %d bytes, not a multiple of %d" % (len(pt), align))
        padlen, nh = pt[-2], pt[-1]
        if padlen + 2 > len(pt):
            return p + ["pad length %d exceeds the payload" % padlen]
        pad = pt[len(pt) - 2 - padlen:-2]
        if pad != bytes(range(1, padlen + 1)):
            p.append("padding %s is not 01 02 03 ..." % pad.hex())
        want = expect_nh if expect_nh is not None else self.next_header
        if nh != want:
            p.append("next header %d, expected %d" % (nh, want))
        if self.mode == "tunnel":
            data = pt[:len(pt) - 2 - padlen]
            try:
                if len(ip_of(data)) != len(data):
                    p.append("inner length %d but %d bytes before the padding (TFC padding?)"
                             % (len(ip_of(data)), len(data)))
            except EspError:
                p.append("payload is not an IP packet")
        return p


def keyed(seed, suite):
    """(key, salt, auth key) for a suite, deterministic in seed."""
    h = lambda what, n: hashlib.sha256((seed + what).encode()).digest()[:n] if n else b""
    return (h("key", suite.key_len) if suite.key_len <= 32 else b"",
            h("salt", suite.salt_len), h("auth", suite.auth_key_len))


def make_sa(seed, name, direction, spi, suite, src, dst, **kw):
    if isinstance(suite, str):
        suite = SUITES[suite]
    k, s, a = keyed(seed + name, suite)
    return SaSpec(name, direction, spi, suite, k, s, a, src, dst, **kw)


# ---------------------------------------------------------- vectors
# RFC 3602 §4, cases 7 and 8: AES-128-CBC, no integrity, tunnel mode (next
# header 4), SPI 0x8765, key 0x0123456789abcdef0123456789abcdef. ESP from the
# SPI on, and the inner packet, as published ("Post-encryption packet with
# SPI, Sequence number and IV" / "Original packet"). Cases 5 and 6 are the
# same in transport mode (next header 1, ICMP), key 0x90d382b4...
# Checked by selftest(): python-cryptography decrypts each to inner +
# default padding + pad length + next header.
RFC3602 = [
    dict(name="RFC 3602 case 5 (transport)", key="90d382b410eeba7ad938c46cec1a82bf",
         spi=0x4321, seq=1, nh=1,
         esp="0000432100000001e96e8c08ab465763fd098d45dd3ff893"
             "f663c25d325c18c6a9453e194e120849a4870b66cc6b9965330013b4898dc856"
             "a4699e523a55db080b59ec3a8e4b7e52775b07d1db34ed9c538ab50c551b874a"
             "a269add047ad2d5913ac19b7cfbad4a6",
         payload="08000ebda70a00008e9c083db95b070008090a0b0c0d0e0f1011121314151617"
                 "18191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f3031323334353637"),
    dict(name="RFC 3602 case 6 (transport)", key="90d382b410eeba7ad938c46cec1a82bf",
         spi=0x4321, seq=8, nh=1,
         esp="000043210000000869d08df7d203329db093fc4924e5bd80"
             "f51995881ec4e0c4488987ce742e8109689bb379d2d750c0d915dca346a89f75",
         payload="0800b5e8a80a0500a69c083d0b660e00777777777777777777777777"),
    dict(name="RFC 3602 case 7 (tunnel)", key="0123456789abcdef0123456789abcdef",
         spi=0x8765, seq=2, nh=4,
         esp="0000876500000002f4e765244f6407adf13dc1380f673f37"
             "773b5241a4c449225e4f3ce5ed611b0c237ca96cf74a93013c1b0ea1a0cf70f8"
             "e4ecaec78ac53aad7a0f022b859243c647752e94a859352b8a4d4d2decd136e5"
             "c177f132ad3fbfb2201ac9904c74ee0a109e0ca1e4dfe9d5a100b842f1c22f0d",
         payload="45000054090400004001f988c0a87b03c0a87bc808009f76a90a0100b49c083d"
                 "02a2040008090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20212223"
                 "2425262728292a2b2c2d2e2f3031323334353637"),
    dict(name="RFC 3602 case 8 (tunnel)", key="0123456789abcdef0123456789abcdef",
         spi=0x8765, seq=5, nh=4,
         esp="000087650000000585d47224b5f3dd5d2101d4ea8dffab22"
             "15b92683819596a8047232cc00f7048fe45318e11f8a0f62ede3c3fc61203bb5"
             "0f980a08c9843fd3a1b06d5c07ff9639b7eb7dfb3512e5de435e7207ed971ef3"
             "d2726d9b5ef6affc6d17a0decbb13892",
         payload="45000044090c00004001f990c0a87b03c0a87bc80800d63caa0a0200c69c083d"
                 "a3de0300ffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
                 "ffffffff"),
]

# draft-mcgrew-gcm-test-01 §4 (RFC 4106 ESP), as published: key, salt, SPI,
# 64- or 32-bit seq, IV, plaintext (payload || padding || pad length || next
# header) and ciphertext || ICV. Every one of its plaintexts ends in next
# header 1, though the payloads are IPv4 packets: fed to a tunnel-mode SA
# they are a wrong next header (esp_bad_trailer, which proves the ICV
# verified), fed to a transport-mode SA they are an ICMP payload behind the
# outer header. Cases 2 and 3 are esp.MCGREW's; "esn" is the draft's ESN packet
# with SPI 0x100 and the 64-bit sequence number 1 (seq_hi 0, so it fits a
# window that starts at 0). selftest() decrypts each with AESGCM.
MCGREW = {
    "case2": dict(esp.MCGREW[1], seq_hi=None),
    "case3": dict(esp.MCGREW[2], seq_hi=None),
    "esn": dict(name="mcgrew ESN packet (AES-128, SPI 0x100, 64-bit seq 1)",
                  key="abbccddef00112233445566778899aab", salt="decaf888",
                  iv="cafedebaceface74", spi=0x00000100, seq_hi=0, seq=1,
                  pt="4500004933ba00007f119106c3fb1d10c2b1d326c02831ce0035dd7b800302d5"
                     "00004e20001e8c18d75b81dc91baa0476b91b924b280389d92c963bac046ec95"
                     "9b6266c04722b14923010101",
                  ct="18a6fd42f72cbf4ab2a2ea901f73d814e3e7f243d95412e1c349c1d2fbec168f"
                     "9190feebaf2cb01984e65863965d7472b79da345e0e780191f0d2f0e0f496c22"
                     "6f2127b27db35724e7845d68651f57e65f354f75ff17015769623436"),
}


def mcgrew_esp(v):
    """The ESP part (SPI || seq || IV || ciphertext || ICV) of a draft vector."""
    return (struct.pack("!II", v["spi"], v["seq"]) + bytes.fromhex(v["iv"])
            + bytes.fromhex(v["ct"]))


# --------------------------------------------------------------- selftest
def selftest(verbose=False):
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    t = esp._Checks()

    # 1. RFC 3602 vectors, decrypted by python-cryptography on their own.
    for v in RFC3602:
        e = bytes.fromhex(v["esp"])
        spi, seq = struct.unpack("!II", e[:8])
        t(spi == v["spi"] and seq == v["seq"], "%s: SPI/seq" % v["name"])
        d = Cipher(algorithms.AES(bytes.fromhex(v["key"])), modes.CBC(e[8:24])).decryptor()
        pt = d.update(e[24:]) + d.finalize()
        padlen, nh = pt[-2], pt[-1]
        t(pt[:len(pt) - 2 - padlen] == bytes.fromhex(v["payload"]),
          "%s: payload differs" % v["name"])
        t(pt[len(pt) - 2 - padlen:-2] == bytes(range(1, padlen + 1)) and nh == v["nh"],
          "%s: trailer %s" % (v["name"], pt[-18:].hex()))
        if v["nh"] == 4:
            t(esp.ip_header_ok(bytes.fromhex(v["payload"])), "%s: inner checksum" % v["name"])
        # ... and by scapy, through a SaSpec with the vector's key.
        sp = SaSpec("v", "inbound", spi, SUITES["cbc128-noauth"], bytes.fromhex(v["key"]),
                    b"", b"", "172.16.2.31", "172.16.1.5",
                    mode="tunnel" if v["nh"] == 4 else "transport", replay_window=0)
        outer = bytes(fix_lengths(bytearray(bytes(IP(src=sp.src, dst=sp.dst, proto=50)) + e)))
        s, inner, _ = sp.decrypt(outer)
        want = bytes.fromhex(v["payload"]) if v["nh"] == 4 else bytes(
            IP(src=sp.src, dst=sp.dst, proto=1) / Raw(bytes.fromhex(v["payload"])))
        t(s == seq and inner == want, "%s: scapy decrypts differently" % v["name"])

    # 2. draft-mcgrew vectors: AESGCM on its own, then scapy via a SaSpec.
    for k, v in MCGREW.items():
        key, salt = bytes.fromhex(v["key"]), bytes.fromhex(v["salt"])
        esn = v["seq_hi"] is not None
        aad = struct.pack("!I", v["spi"]) + (struct.pack("!I", v["seq_hi"]) if esn else b"") \
            + struct.pack("!I", v["seq"])
        pt = AESGCM(key).decrypt(salt + bytes.fromhex(v["iv"]), bytes.fromhex(v["ct"]), aad)
        t(pt == bytes.fromhex(v["pt"]), "%s: AESGCM plaintext differs" % v["name"])
        t(pt[-1] == 1, "%s: next header %d (the draft's are all 1)" % (v["name"], pt[-1]))
        suite = SUITES["gcm128" if len(key) == 16 else "gcm256"]
        sp = SaSpec("v", "inbound", v["spi"], suite, key, salt, b"", "172.16.2.21",
                    "172.16.1.5", mode="transport", esn=esn)
        outer = bytes(fix_lengths(bytearray(bytes(IP(src=sp.src, dst=sp.dst, proto=50))
                                            + mcgrew_esp(v))))
        _, inner, _ = sp.decrypt(outer, seq_hi=v["seq_hi"] or 0)
        t(inner[20:] == pt[:len(pt) - 2 - pt[-2]] and inner[9] == 1,
          "%s: scapy transport decrypt differs" % v["name"])

    # 3. Own ICV: without ESN it must equal scapy's (same bytes covered).
    for name in ("cbc128-sha256", "cbc128-sha1", "ctr128-sha256", "null-sha256"):
        sp = make_sa("icv", "x", "inbound", 0x3000, name, "172.16.2.5", "172.16.1.5")
        inner = esp.ip_bytes(esp.make_plain(1, seed=3)[0])
        b = sp.encrypt(inner, 7)
        off, _ = esp_offset(b)
        n = sp.suite.icv_len
        t(b[-n:] == sp.icv(b[off:-n], 0), "%s: own ICV != scapy's" % name)
        esn = SaSpec(**dict(sp.__dict__, esn=True))
        be = esn.encrypt(inner, 7, seq_hi=0)
        t(be[:-n] == b[:-n] and be[-n:] != b[-n:],
          "%s: ESN ICV must differ only in the ICV (seq_hi appended)" % name)
        t(be[-n:] == hmac.new(sp.auth_key, be[off:-n] + b"\0\0\0\0", sp.suite.digest())
          .digest()[:n], "%s: ESN ICV" % name)
        try:
            sp.decrypt(be)
            t(False, "%s: a non-ESN SA accepts an ESN ICV" % name)
        except IcvError:
            t(True, "")

    # 4. Round trips: every suite x family x mode x ESN x NAT-T.
    for name, suite in SUITES.items():
        for fam in ("4in4", "6in6", "4in6", "6in4", "trs4", "trs6", "natt"):
            for esn_on in ((False,) if not (suite.hmac or suite.aead) else (False, True)):
                mode = "transport" if fam.startswith("trs") else "tunnel"
                o6 = fam in ("6in6", "4in6", "trs6")
                i6 = fam in ("6in6", "6in4", "trs6")
                src, dst = (PEER_IP6, WAN_GW_IP6) if o6 else (esp.PEER_IP, esp.WAN_GW_IP)
                sp = make_sa(name + fam, "from-b", "inbound", 0x2000, suite, src, dst,
                             inner=6 if i6 else 4, mode=mode, esn=esn_on, natt=fam == "natt",
                             replay_window=0 if not (suite.hmac or suite.aead) else 1024)
                if mode == "transport":
                    inn = [_host_packet(src, dst, k) for k in range(12)]
                else:
                    inn = [ip_of(f[14:]) for f in (make_plain6(12, seed=4) if i6 else
                                                   make_plain4(12, 4))]
                tag = "%s %s esn=%s" % (name, fam, esn_on)
                seen = set()
                for q, x in enumerate(inn, 1):
                    b = sp.encrypt(x, q, seq_hi=0)
                    try:
                        s, got, pt = sp.decrypt(b)
                    except EspError as e:
                        t(False, "%s: %s" % (tag, e))
                        continue
                    t(s == q and got == x, "%s: round trip seq %d" % (tag, q))
                    probs = sp.trailer_problems(pt, None if mode == "tunnel" else l4_of(x)[0])
                    t(not probs, "%s: trailer %s" % (tag, probs))
                    seen.add(pt[-2])
                    t(esp_offset(b)[1] == (fam == "natt"), "%s: encapsulation" % tag)
                    if fam == "natt":
                        t(struct.unpack("!H", b[24:26])[0] == len(b) - 20 and b[26:28] == b"\0\0",
                          "%s: UDP length/checksum" % tag)
                    if family(b) == 4:
                        t(esp.ip_header_ok(b), "%s: outer checksum" % tag)
                t(len(seen) > 1, "%s: only pad lengths %s" % (tag, seen))
                # wrong keys fail the ICV (where there is one)
                if suite.hmac or suite.aead:
                    other = SaSpec(**dict(sp.__dict__, key=bytes(len(sp.key)),
                                          auth_key=bytes(len(sp.auth_key))))
                    try:
                        other.decrypt(sp.encrypt(inn[0], 1))
                        t(False, "%s: wrong key decrypted" % tag)
                    except IcvError:
                        t(True, "")
                if esn_on and suite.aead:
                    # GCM with ESN: the AAD holds seq_hi; seq_hi 1 must fail.
                    try:
                        sp.decrypt(sp.encrypt(inn[0], 1, seq_hi=0), seq_hi=1)
                        t(False, "%s: seq_hi not in the AAD" % tag)
                    except IcvError:
                        t(True, "")
        # custom trailer: dummy packet (nh 59) and bad padding, valid ICV
        sp = make_sa(name + "c", "from-b", "inbound", 0x2000, suite, esp.PEER_IP, esp.WAN_GW_IP,
                     replay_window=0 if not (suite.hmac or suite.aead) else 1024)
        inner = ip_of(make_plain4(1, 9)[0][14:])
        d = sp.encrypt_custom(None, 3, nh=NH_DUMMY, data=b"\0" * 30)
        _, _, _, pt = sp.plaintext(d)
        t(pt[-1] == NH_DUMMY, "%s: dummy nh" % name)
        n = len(inner) + 2
        pad = (-n % max(4, suite.align)) + max(4, suite.align)
        bad = sp.encrypt_custom(inner, 4, padding=b"\0" * pad)
        _, _, _, pt = sp.plaintext(bad)
        t(any("padding" in p for p in sp.trailer_problems(pt)), "%s: bad padding" % name)

    # 5. make_plain6 and the helpers.
    a = make_plain6(48, seed=5)
    t(a == make_plain6(48, seed=5) and a != make_plain6(48, seed=6), "make_plain6 determinism")
    for k, f in enumerate(a):
        ip = ip_of(f[14:])
        t(f[12:14] == b"\x86\xdd" and len(ip) == len(f) - 14, "make_plain6 %d framing" % k)
        t(index_of(ip) == k, "make_plain6 %d index" % k)
        re = Ether(f)
        l4 = re[IPv6].payload
        delattr(l4, "cksum" if "cksum" in l4.fields else "chksum")
        t(bytes(Ether(bytes(re))) == f, "make_plain6 %d L4 checksum" % k)
        fw = fwd_ip(ip)
        t(fw[7] == ip[7] - 1 and fw[:7] == ip[:7] and fw[8:] == ip[8:], "fwd_ip v6")
    b4 = ip_of(make_plain4(1, 3, tos=(0x29,))[0][14:])
    t(tos_of(b4) == 0x29 and esp.ip_header_ok(b4), "set_tos v4")
    t(tos_of(set_tos(ip_of(a[0][14:]), 0xb9)) == 0xb9, "set_tos v6")
    if verbose or t.failed:
        print("suites selftest: %d checks, %d failed" % (t.n, len(t.failed)))
    return t.failed


def _host_packet(src, dst, k, proto=None, size=None):
    """A host-to-host packet for transport mode: UDP, TCP or ICMP(v6) in
    turn, MARK + index in the payload."""
    proto = proto or ("udp", "tcp", "icmp")[k % 3]
    body = MARK + struct.pack("!I", 60000 + k) + bytes((k * 13 + j) & 0xff
                                                       for j in range((size or 40 + 37 * k) % 900))
    if ":" in src:
        ip = IPv6(src=src, dst=dst, hlim=64 - k % 3, tc=(0, 0xb8, 0x01)[k % 3])
        l4 = {"udp": UDP(sport=40000 + k, dport=5001), "tcp": TCP(sport=40000 + k, dport=22,
                                                                  flags="PA", seq=k),
              "icmp": ICMPv6EchoRequest(id=k, seq=k)}[proto]
    else:
        ip = IP(src=src, dst=dst, ttl=64 - k % 3, tos=(0, 0xb8, 0x01)[k % 3], id=0x3000 + k,
                flags="DF" if k % 2 else 0)
        l4 = {"udp": UDP(sport=40000 + k, dport=5001), "tcp": TCP(sport=40000 + k, dport=22,
                                                                  flags="PA", seq=k),
              "icmp": ICMP(type=8, id=k, seq=k)}[proto]
    return bytes(ip / l4 / Raw(body))


host_packet = _host_packet


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["selftest"]:
        return 1 if selftest(verbose=True) else 0
    print("usage: suites.py selftest")
    return 2


if __name__ == "__main__":
    sys.exit(main())
