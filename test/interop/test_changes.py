#!/usr/bin/python3
"""Runtime SA and policy changes against live latches (LATCHING.md §4 items
10, 11, 14-18, 21, 23, 24), on real packets: one gateway on two tap ports,
changed over its control socket between packets, its ESP output decrypted
by scapy, every notification received by a real `latchctl monitor`.
Prints one line per case and 'N passed, M failed'."""
import sys
import time

from scapy.all import IP, UDP, Ether, Raw, conf
from scapy.layers.ipsec import ESP, SecurityAssociation

from live import Gateway

conf.verb = 0
LAN_MAC, LAN_NH, WAN_MAC, WAN_NH = ("02:00:00:00:01:01", "02:00:00:00:01:0a",
                                    "02:00:00:00:02:01", "02:00:00:00:02:0a")
SALT = bytes([1, 2, 3, 4])
GW_A, GW_B = "172.16.1.5", "172.16.2.5"


def key(n, size=16):
    return bytes([n]) * size


CONF = """
ports:
  - {{ name: lan, role: protected, device: "net_tap0,iface={lan_if}", address: 192.168.1.254, mac: "02:00:00:00:01:01" }}
  - {{ name: wan, role: unprotected, device: "net_tap1,iface={wan_if}", address: 172.16.1.5, mac: "02:00:00:00:02:01" }}
crypto: {{ devices: [crypto_aesni_mb0], mode: lookaside }}
peers: [{{ name: site-b, id: "fqdn:gw-b.example.net" }}, {{ name: site-c, id: "fqdn:gw-c.example.net" }}]
sas:
  - {{ name: to-b, direction: outbound, spi: 0x1000, peer: site-b, local: 172.16.1.5, remote: 172.16.2.5,
      aead: {{ algorithm: aes-128-gcm, key: "0x{k1}", salt: "0x01020304" }} }}
  - {{ name: from-b, direction: inbound, spi: 0x2000, peer: site-b, local: 172.16.1.5, remote: 172.16.2.5,
      aead: {{ algorithm: aes-128-gcm, key: "0x{k1}", salt: "0x01020304" }} }}
policies:
  - {{ name: out, direction: outbound, priority: 10, src: 192.168.1.0/24, dst: 192.168.2.0/24, action: protect, sa: to-b }}
  - {{ name: in, direction: inbound, priority: 10, src: 192.168.2.0/24, dst: 192.168.1.0/24, action: protect, sa: from-b }}
routes:
  - {{ dst: 172.16.2.0/24, port: wan, next_hop_mac: "02:00:00:00:02:0a" }}
  - {{ dst: 192.168.2.0/24, port: wan, next_hop_mac: "02:00:00:00:02:0a" }}
  - {{ dst: 192.168.1.0/24, port: lan, next_hop_mac: "02:00:00:00:01:0a" }}
latch: {{ capacity: 4096 }}
control: {{ socket: {sock}, rekey_overlap: 2 }}
"""

results = []


def check(name, ok, why=""):
    results.append(bool(ok))
    print("%s %s%s" % ("PASS" if ok else "FAIL", name, "" if ok else ": " + str(why)))
    sys.stdout.flush()


def flow(i):
    return ("192.168.1.%d" % (10 + i), 2000 + i, "192.168.2.10", 53)


def out_pkt(i, tag=b""):
    s, sp, d, dp = flow(i)
    return (Ether(src=LAN_NH, dst=LAN_MAC) / IP(src=s, dst=d) / UDP(sport=sp, dport=dp) /
            Raw(b"out-%d-" % i + tag))


def inner_in(i, tag=b""):
    s, sp, d, dp = flow(i)
    return IP(src=d, dst=s) / UDP(sport=dp, dport=sp) / Raw(b"in-%d-" % i + tag)


class Peer:
    """site-b's side of one SA, as scapy sees it."""

    def __init__(self, spi, k, algo="AES-GCM", remote=GW_B):
        self.sa = SecurityAssociation(ESP, spi=spi, crypt_algo=algo, crypt_key=k + SALT,
                                      tunnel_header=IP(src=remote, dst=GW_A))
        self.seq = 0

    def esp(self, inner):
        self.seq += 1
        return Ether(src=WAN_NH, dst=WAN_MAC) / self.sa.encrypt(inner, seq_num=self.seq)


def sa_obj(name, direction, spi, k, peer="site-b", algo="aes-128-gcm", **extra):
    o = {"name": name, "direction": direction, "spi": spi, "peer": peer,
         "local": GW_A, "remote": GW_B,
         "aead": {"algorithm": algo, "key": "0x" + k.hex(), "salt": "0x01020304"}}
    o.update(extra)
    return o


def decrypt(frames, keys):
    """(spi, inner IP) of each ESP frame; keys: spi -> (key, algo)."""
    out = []
    for f in frames:
        p = Ether(f)
        if IP not in p or p[IP].proto != 50:
            out.append((None, p))
            continue
        spi = p[ESP].spi
        if spi not in keys:
            out.append((spi, None))
            continue
        k, algo = keys[spi]
        sa = SecurityAssociation(ESP, spi=spi, crypt_algo=algo, crypt_key=k + SALT,
                                 tunnel_header=IP(src=GW_A, dst=GW_B))
        out.append((spi, sa.decrypt(p[IP])))
    return out


def same_flow(ev, i):
    s, sp, d, dp = flow(i)
    f = ev.get("flow", {})
    return {(f.get("a"), f.get("a_port")), (f.get("b"), f.get("b_port"))} == {(s, sp), (d, dp)}


def events(g, start, i=None, kind="latch"):
    return [e for e in g.mon.lines[start:] if e.get("event") == kind and
            (i is None or same_flow(e, i))]


def broke(e, reason):
    return (e.get("old_state") == "ESTABLISHED" and e.get("new_state") == "BROKEN" and
            e.get("reason") == reason)


def latch(g, i):
    s, sp, d, dp = flow(i)
    r = g.request({"op": "latch-show", "flow": {"proto": 17, "src": s, "sport": sp, "dst": d,
                                                "dport": dp}})
    return r.get("latch", {}) if r.get("ok") else {}


def drop(g, name):
    return g.stats()["drops"][name]


def wait_restored(g, start, flows, timeout=3.0):
    for i in flows:
        if g.mon.wait_for(lambda e: e.get("event") == "latch" and same_flow(e, i) and
                          e.get("new_state") == "ESTABLISHED", start, timeout) < 0:
            return False
    return True


def main():
    g = Gateway(CONF, "c", k1=key(1).hex())
    keys = {0x1000: (key(1), "AES-GCM")}
    flows = range(1, 7)
    try:
        run(g, keys, flows)
    finally:
        rc, s = g.stop()
        check("gateway exits 0 with no mbuf leaked after every change",
              rc == 0 and s is not None and s["mempools"][0]["in_use"] == 0,
              "rc %s, %s" % (rc, g.output()[-800:]))
        g.cleanup()
    print("%d passed, %d failed" % (results.count(True), results.count(False)))
    return 0 if all(results) else 1


def run(g, keys, flows):
    b_old = Peer(0x2000, key(1))
    # Six flows, each latched both ways to site-b.
    g.lan.send([out_pkt(i) for i in flows])
    out = decrypt(g.wan.recv(), keys)
    g.wan.send([b_old.esp(inner_in(i)) for i in flows])
    lan = g.lan.recv()
    check("setup: six flows latched both ways, every packet through",
          len(out) == 6 and all(spi == 0x1000 and p is not None and
                                p[UDP].sport in [2000 + i for i in flows]
                                for spi, p in out) and len(lan) == 6 and
          all(latch(g, i).get("state") == "ESTABLISHED" for i in flows),
          "out %d in %d" % (len(out), len(lan)))

    # Items 10 and 11: congruent rekey, inbound first (make before break).
    m = len(g.mon.lines)
    r1 = g.request({"op": "sa-replace", "sa": sa_obj("from-b", "inbound", 0x2001, key(2))})
    r2 = g.request({"op": "sa-replace", "sa": sa_obj("to-b", "outbound", 0x1001, key(2))})
    keys[0x1001] = (key(2), "AES-GCM")
    b_new = Peer(0x2001, key(2))
    g.lan.send([out_pkt(i, b"rekeyed") for i in flows])
    out = decrypt(g.wan.recv(), keys)
    check("item 10: congruent rekey: replies say congruent, nothing broken",
          r1.get("ok") and r2.get("ok") and r1["sas"]["congruent"] == 1 and
          r2["sas"]["congruent"] == 1 and r1["broken"] == 0 and r2["broken"] == 0, (r1, r2))
    check("item 10: every flow moves to the new SPI, decrypted by scapy with the new key",
          len(out) == 6 and all(spi == 0x1001 and p is not None and b"rekeyed" in bytes(p)
                                for spi, p in out), [(s, p is not None) for s, p in out])
    g.wan.send([b_old.esp(inner_in(i, b"old-spi")) for i in flows] +
               [b_new.esp(inner_in(i, b"new-spi")) for i in flows])
    lan = g.lan.recv()   # raw bytes: scapy would read port 53 as DNS
    check("item 11: during the overlap inbound is accepted on the old and the new SPI",
          sum(b"old-spi" in x for x in lan) == 6 and sum(b"new-spi" in x for x in lan) == 6,
          lan)
    same = g.request({"op": "sa-replace", "sa": sa_obj("to-b", "outbound", 0x1009, key(2))})
    check("a replace that keeps the keys is refused (sequence numbers would restart)",
          not same.get("ok") and "rekey with new keys" in same.get("error", ""), same)
    check("item 10: zero notifications, every latch still ESTABLISHED",
          not events(g, m) and all(latch(g, i).get("state") == "ESTABLISHED" for i in flows),
          events(g, m))
    time.sleep(2.5)
    unknown = drop(g, "esp_unknown_spi")
    g.wan.send([b_old.esp(inner_in(1, b"late"))])
    late = g.lan.recv()
    check("item 11: after the overlap (2 s here) the old SPI is refused",
          not late and drop(g, "esp_unknown_spi") == unknown + 1, len(late))

    # Item 14: a replace with another peer identity.
    m = len(g.mon.lines)
    lb = drop(g, "latch_broken")
    r = g.request({"op": "sa-replace", "sa": sa_obj("to-b", "outbound", 0x1002, key(3),
                                                    peer="site-c")})
    keys[0x1002] = (key(3), "AES-GCM")
    g.mon.wait_for(lambda e: e.get("event") == "summary", m)
    ev = events(g, m, 2)
    check("item 14: the change itself breaks all six latches before publishing the SA",
          r.get("ok") and r["broken"] == 6, r)
    e = ev[0] if len(ev) == 1 else {}
    check("item 14: exactly one notification per flow, with the 5-tuple, old and new"
          " peer identity and the new SPI",
          len(ev) == 1 and e["old_state"] == "ESTABLISHED" and e["new_state"] == "BROKEN" and
          e["reason"] == "SA_CONFLICT" and e["latched"]["peer_id"] == "fqdn:gw-b.example.net" and
          e["conflicting"]["peer_id"] == "fqdn:gw-c.example.net" and
          e["conflicting"]["spi"] == 0x1002 and e["conflicting"]["sa"] == "to-b" and
          e["latched"]["suite"] == "aes-128-gcm" and e["latched"]["remote"] == GW_B, ev)
    summ = events(g, m, kind="summary")
    check("item 24: one summary event for the change, counting six latches",
          len(summ) == 1 and summ[0]["latches"] == 6 and summ[0]["new_state"] == "BROKEN", summ)
    g.lan.send([out_pkt(i, b"after-break") for i in flows])
    out = g.wan.recv()
    check("item 14: zero packets of the broken flows leave, under the new SA or any",
          not out and drop(g, "latch_broken") == lb + 6, "%d left" % len(out))
    # Item 21: dropped both ways, counted per latch, never re-latched.
    nlatch = g.request({"op": "latches"})["count"]
    g.wan.send([b_new.esp(inner_in(i, b"in-broken")) for i in flows])
    lan = g.lan.recv()
    g.lan.send([out_pkt(2, b"again")])
    out = g.wan.recv()
    l2 = latch(g, 2)
    check("item 21: a BROKEN flow's packets are dropped both ways, counted on its latch,"
          " and no new latch is made for it",
          not lan and not out and l2.get("state") == "BROKEN" and l2.get("drops", 0) >= 3 and
          g.request({"op": "latches"})["count"] == nlatch, (len(lan), len(out), l2))
    g.lan.send([out_pkt(9, b"new-flow")])
    out = decrypt(g.wan.recv(), keys)
    check("item 14: a new flow latches to the new SA (scapy decrypts it under SPI 0x1002)",
          len(out) == 1 and out[0][0] == 0x1002 and out[0][1] is not None and
          latch(g, 9).get("peer_id") == "fqdn:gw-c.example.net", out)
    lst = g.request({"op": "latches", "state": "broken"})
    check("latch list filters: state=broken lists the six, peer= the new one",
          lst["count"] == 6 and
          g.request({"op": "latches", "peer": "fqdn:gw-c.example.net"})["count"] == 1, lst["count"])

    # Item 23: the conflict removed while a congruent SA comes back.
    m = len(g.mon.lines)
    r = g.request({"op": "sa-replace", "sa": sa_obj("to-b", "outbound", 0x1003, key(4))})
    keys[0x1003] = (key(4), "AES-GCM")
    ok = wait_restored(g, m, flows)
    g.lan.send([out_pkt(i, b"restored") for i in flows])
    out = decrypt(g.wan.recv(), keys)
    restored = [e for e in events(g, m) if e["new_state"] == "ESTABLISHED"]
    check("item 23: the latches return to ESTABLISHED, one RESTORED notification each",
          ok and len(restored) == 6 and all(e["reason"] == "RESTORED" and
                                            e["old_state"] == "BROKEN" for e in restored),
          restored)
    check("item 23: traffic resumes on the congruent SA only (SPI 0x1003)",
          len(out) == 6 and all(spi == 0x1003 and p is not None and b"restored" in bytes(p)
                                for spi, p in out), out)
    check("item 23: the flow latched to the other identity breaks instead",
          r.get("broken") == 1 and latch(g, 9).get("state") == "BROKEN", r)
    g.wan.send([b_new.esp(inner_in(i, b"in-again")) for i in flows])
    check("item 23: inbound resumes too", len(g.lan.recv()) == 6)

    # Item 15: another suite (and NULL encryption) outside the latched set.
    spi = 0x1004
    for name, suite, obj in (("AES-256-GCM", "aes-256-gcm",
                              sa_obj("to-b", "outbound", spi, key(5, 32), algo="aes-256-gcm")),
                             ("NULL encryption + HMAC-SHA256", "null/hmac-sha256-128",
                       {"name": "to-b", "direction": "outbound", "spi": spi + 1,
                        "peer": "site-b", "local": GW_A, "remote": GW_B,
                        "cipher": {"algorithm": "null"},
                        "auth": {"algorithm": "hmac-sha256-128", "key": "0x" + key(6, 32).hex()}})):
        m = len(g.mon.lines)
        r = g.request({"op": "sa-replace", "sa": obj})
        g.lan.send([out_pkt(3, b"suite")])
        out = g.wan.recv()
        ev = events(g, m, 3)
        check("item 15: %s offered: BROKEN, one notification naming both suites, nothing sent"
              % name, r.get("ok") and r["broken"] == 6 and len(ev) == 1 and
              broke(ev[0], "SA_CONFLICT") and ev[0]["latched"]["suite"] == "aes-128-gcm" and
              ev[0]["conflicting"]["suite"] == suite and not out, (r, ev, len(out)))
        m = len(g.mon.lines)
        spi += 2
        g.request({"op": "sa-replace", "sa": sa_obj("to-b", "outbound", spi, key(0x40 + (spi & 0x3f)))})
        keys[spi] = (key(0x40 + (spi & 0x3f)), "AES-GCM")
        spi += 1
        check("item 15/23: reverting to the latched suite restores them",
              wait_restored(g, m, flows))

    # Item 16: new outer endpoints, then a mode change.
    for name, extra in (("new tunnel endpoint", {"remote": "172.16.2.6"}),
                        ("tunnel -> transport", {"mode": "transport"})):
        m = len(g.mon.lines)
        obj = sa_obj("to-b", "outbound", spi, key(0x40 + (spi & 0x3f)))
        obj.update(extra)
        r = g.request({"op": "sa-replace", "sa": obj})
        spi += 1
        g.lan.send([out_pkt(4, b"mode")])
        out = g.wan.recv()
        ev = events(g, m, 4)
        check("item 16: %s: BROKEN, one notification, nothing sent" % name,
              r.get("ok") and r["broken"] == 6 and len(ev) == 1 and broke(ev[0], "SA_CONFLICT")
              and not out, (r, ev, len(out)))
        m = len(g.mon.lines)
        g.request({"op": "sa-replace", "sa": sa_obj("to-b", "outbound", spi, key(0x40 + (spi & 0x3f)))})
        keys[spi] = (key(0x40 + (spi & 0x3f)), "AES-GCM")
        good_spi = spi
        spi += 1
        check("item 16/23: reverting restores them", wait_restored(g, m, flows))

    # Item 17: the flows' entries turn into BYPASS, both directions.
    def policy(name, d, prio, action, sa=None, **sel):
        o = {"name": name, "direction": d, "priority": prio, "action": action}
        o.update(sel)
        if sa:
            o["sa"] = sa
        return o

    out_sel = {"src": "192.168.1.0/24", "dst": "192.168.2.0/24"}
    in_sel = {"src": "192.168.2.0/24", "dst": "192.168.1.0/24"}
    m = len(g.mon.lines)
    r1 = g.request({"op": "policy-replace", "policy": policy("out", "outbound", 10, "bypass",
                                                             **out_sel)})
    r2 = g.request({"op": "policy-replace", "policy": policy("in", "inbound", 10, "bypass",
                                                             **in_sel)})
    clear = drop(g, "latch_got_clear")
    g.lan.send([out_pkt(i, b"bypass") for i in flows])
    out = g.wan.recv()
    g.wan.send([Ether(src=WAN_NH, dst=WAN_MAC) / inner_in(i, b"clear-in") for i in flows])
    lan = g.lan.recv()
    ev = events(g, m, 5)
    check("item 17: BYPASS under a latched flow: BROKEN with one SPD_CHANGE notification",
          r1.get("ok") and r1["broken"] == 6 and r1["spd_changed"] and len(ev) == 1 and
          ev[0]["reason"] == "SPD_CHANGE", (r1, ev))
    check("item 17: zero cleartext packets of the flows egress in either direction",
          not out and not lan and r2.get("ok"), (len(out), len(lan)))
    g.lan.send([out_pkt(20, b"unlatched")])
    out = [Ether(f) for f in g.wan.recv()]
    check("item 17: the BYPASS itself works for a flow that was never latched",
          len(out) == 1 and out[0].haslayer(UDP) and out[0][IP].proto == 17, out)
    m = len(g.mon.lines)
    g.request({"op": "policy-replace", "policy": policy("out", "outbound", 10, "protect",
                                                        sa="to-b", **out_sel)})
    g.request({"op": "policy-replace", "policy": policy("in", "inbound", 10, "protect",
                                                        sa="from-b", **in_sel)})
    check("item 17/23: the policies reverted, the latches are restored",
          wait_restored(g, m, flows))

    # Item 18: an SPD change that sends one flow to DISCARD ...
    m = len(g.mon.lines)
    s, sp, d, dp = flow(5)
    r = g.request({"op": "policy-add", "policy": policy("drop-5", "outbound", 5, "discard",
                                                        src=s, dst=d, proto="udp", sport=sp)})
    g.lan.send([out_pkt(5, b"discard")])
    out = g.wan.recv()
    ev = events(g, m)
    check("item 18: a DISCARD ranked first for one flow breaks that flow only, one notification",
          r.get("ok") and r["broken"] == 1 and len(ev) == 1 and same_flow(ev[0], 5) and
          broke(ev[0], "SPD_CHANGE") and not out, (r, ev))
    m = len(g.mon.lines)
    g.request({"op": "policy-delete", "name": "drop-5"})
    check("item 18/23: deleting it restores the flow", wait_restored(g, m, [5]))
    # ... and one that makes a flow match another PROTECT entry of another peer.
    m = len(g.mon.lines)
    s, sp, d, dp = flow(6)
    ra = g.request({"op": "sa-add", "sa": sa_obj("to-c", "outbound", 0x3000, key(10),
                                                 peer="site-c")})
    rb = g.request({"op": "policy-add", "policy": policy("via-c", "outbound", 5, "protect",
                                                         sa="to-c", src=s, dst=d)})
    g.lan.send([out_pkt(6, b"via-c")])
    out = g.wan.recv()
    ev = events(g, m, 6)
    check("item 18: a PROTECT entry of another peer ranked first: BROKEN, one notification,"
          " nothing sent", ra.get("ok") and ra["broken"] == 0 and rb.get("broken") == 1 and
          len(ev) == 1 and broke(ev[0], "SA_CONFLICT") and
          ev[0]["conflicting"]["sa"] == "to-c" and
          ev[0]["conflicting"]["peer_id"] == "fqdn:gw-c.example.net" and not out, (ra, rb, ev))
    m = len(g.mon.lines)
    rc = g.request({"op": "sa-delete", "name": "to-c"})
    rd = g.request({"op": "policy-delete", "name": "via-c"})
    re = g.request({"op": "sa-delete", "name": "to-c"})
    ok = wait_restored(g, m, [6])
    g.lan.send([out_pkt(6, b"back")])
    out = decrypt(g.wan.recv(), keys)
    check("item 23: the conflicting policy and SA deleted (the SA only once no policy uses"
          " it), the flow is restored and resumes on the congruent SA",
          not rc.get("ok") and "used by policy" in rc.get("error", "") and rd.get("ok") and
          re.get("ok") and ok and len(out) == 1 and out[0][0] == good_spi and
          out[0][1] is not None, (rc, rd, re, out))

    # Review regressions: the rekey overlap is for congruent replaces only,
    # and deleting an SA ends its overlaps at once.
    unknown = drop(g, "esp_unknown_spi")
    r = g.request({"op": "sa-replace", "sa": sa_obj("from-b", "inbound", 0x2100, key(0x30),
                                                    peer="site-c")})
    g.wan.send([b_new.esp(inner_in(1, b"old-peer"))])
    late = g.lan.recv()
    check("an inbound replace by another identity keeps no overlap: the old SPI is refused"
          " at once", r.get("ok") and not late and drop(g, "esp_unknown_spi") == unknown + 1,
          (r, len(late)))
    x = Peer(0x4000, key(0x31))
    g.request({"op": "sa-add", "sa": sa_obj("from-x", "inbound", 0x4000, key(0x31))})
    g.request({"op": "sa-replace", "sa": sa_obj("from-x", "inbound", 0x4001, key(0x32))})
    rd = g.request({"op": "sa-delete", "name": "from-x"})
    unknown = drop(g, "esp_unknown_spi")
    g.wan.send([x.esp(inner_in(1, b"deleted"))])
    g.lan.recv()
    check("deleting an SA ends its rekey overlap: its old SPI is unknown at once",
          rd.get("ok") and drop(g, "esp_unknown_spi") == unknown + 1, rd)


if __name__ == "__main__":
    sys.exit(main())
