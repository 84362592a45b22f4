#!/usr/bin/python3
"""Rekeys under traffic. A gateway whose WAN port is a ring loopback (it
plays site-b, so every packet is encrypted and decrypted again) runs a
looping LAN capture at full speed while:
  1. 1,000 congruent replaces of both SAs (inbound first, make before
     break) lose no packet of any flow: every drop counter stays zero, the
     counters agree with each other, and the LAN output file holds exactly
     the decrypted packets, each one of the input packets;
  2. 1,000 replaces that change the peer identity each raise a latch-broken
     notification at a real `latchctl monitor`; the time from sending the
     request to the notification's arrival is printed (median, worst), and
     each revert restores the latches.
Prints one line per case and 'N passed, M failed'."""
import json
import os
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

from scapy.all import IP, UDP, Ether, Raw, wrpcap

from live import CTL, GW, Monitor

FLOWS = 64
CONF = """
ports:
  - {{ name: lan, role: protected, device: "net_pcap0,rx_pcap={d}/lan.pcap,tx_pcap={d}/lan_out.pcap,infinite_rx=1", address: 192.168.1.254, mac: "02:00:00:00:01:01" }}
  - {{ name: wan, role: unprotected, device: "net_ring0", address: [172.16.1.5, 172.16.2.5], mac: "02:00:00:00:02:01" }}
crypto: {{ devices: [crypto_aesni_gcm0], mode: direct }}
peers: [{{ name: site-b, id: "fqdn:gw-b.example.net" }}, {{ name: site-c, id: "fqdn:gw-c.example.net" }}]
sas:
  - {{ name: to-b, direction: outbound, spi: 0x1000, peer: site-b, local: 172.16.1.5, remote: 172.16.2.5,
      aead: {{ algorithm: aes-128-gcm, key: "0x{k}", salt: "0x01020304" }} }}
  - {{ name: from-b, direction: inbound, spi: 0x1000, peer: site-b, local: 172.16.2.5, remote: 172.16.1.5,
      aead: {{ algorithm: aes-128-gcm, key: "0x{k}", salt: "0x01020304" }} }}
policies:
  - {{ name: out, direction: outbound, priority: 10, src: 192.168.1.0/24, dst: 192.168.2.0/24, action: protect, sa: to-b }}
  - {{ name: in, direction: inbound, priority: 10, src: 192.168.1.0/24, dst: 192.168.2.0/24, action: protect, sa: from-b }}
routes:
  - {{ dst: 172.16.2.0/24, port: wan, next_hop_mac: "02:00:00:00:02:01" }}
  - {{ dst: 192.168.2.0/24, port: lan, next_hop_mac: "02:00:00:00:01:0a" }}
latch: {{ capacity: 4096 }}
control: {{ socket: {d}/ctl.sock, rekey_overlap: 1 }}
"""
results = []


def check(name, ok, why=""):
    results.append(bool(ok))
    print("%s %s%s" % ("PASS" if ok else "FAIL", name, "" if ok else ": " + str(why)))
    sys.stdout.flush()


class Ctl:
    """One persistent connection: requests back to back, as an IKE daemon would."""

    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.connect(path)
        self.f = self.s.makefile("rb")

    def __call__(self, obj):
        self.s.sendall((json.dumps(obj) + "\n").encode())
        return json.loads(self.f.readline())


def sa(name, direction, spi, k, peer="site-b"):
    a, b = ("172.16.1.5", "172.16.2.5") if direction == "outbound" else ("172.16.2.5", "172.16.1.5")
    return {"name": name, "direction": direction, "spi": spi, "peer": peer, "local": a,
            "remote": b, "aead": {"algorithm": "aes-128-gcm", "key": "0x" + k.hex(),
                                  "salt": "0x01020304"}}


def key(i):
    return struct.pack(">I", i) * 4


def pcap_records(path):
    """Record payloads of a pcap file (libpcap format), without scapy's cost."""
    out = []
    with open(path, "rb") as f:
        f.read(24)
        while True:
            h = f.read(16)
            if len(h) < 16:
                break
            n = struct.unpack("<IIII", h)[2]
            out.append(f.read(n))
    return out


def start(d, tag):
    sock = os.path.join(d, "ctl.sock")
    gw = subprocess.Popen([GW, "-l", "0-1", "-n", "1", "--in-memory", "--no-pci", "--file-prefix",
                           "lgrekey-%s-%d" % (tag, os.getpid()), "--log-level", "*:error", "--",
                           "--config", os.path.join(d, "gw.yaml"), "--stats-json",
                           os.path.join(d, "s.json")],
                          stdout=open(os.path.join(d, "out.txt"), "w"), stderr=subprocess.STDOUT)
    end = time.time() + 20
    while not os.path.exists(sock) and time.time() < end and gw.poll() is None:
        time.sleep(0.05)
    mon = Monitor(sock)
    ctl = Ctl(sock)
    time.sleep(0.3)
    return gw, mon, ctl


def stop(gw, mon, d):
    mon.stop()
    gw.send_signal(signal.SIGTERM)
    try:
        gw.wait(timeout=30)
    except subprocess.TimeoutExpired:
        gw.kill()
    return json.load(open(os.path.join(d, "s.json")))


def congruent_under_traffic(d, frames):
    """Part 1."""
    gw, mon, ctl = start(d, "a")
    try:
        st = ctl({"op": "stats"})["stats"]
        before = {x["name"]: x["packets"] for x in st["sas"]}
        replies, rtt, t0 = [], [], time.monotonic()
        for i in range(1, 1001):
            for name, dr in (("from-b", "inbound"), ("to-b", "outbound")):
                t = time.monotonic()
                replies.append(ctl({"op": "sa-replace", "sa": sa(name, dr, 0x1000 + i, key(i))}))
                rtt.append(time.monotonic() - t)
        took = time.monotonic() - t0
        st = ctl({"op": "stats"})["stats"]
        during = {x["name"]: x["packets"] for x in st["sas"]}
        alive = ctl({"op": "latches", "state": "established"})["count"]
        check("1,000 congruent replaces of each SA, all accepted as congruent, none broke a latch"
              " (%.2f s, %.0f replaces per second; all %d flows still ESTABLISHED)"
              % (took, 2000 / took, FLOWS),
              alive == FLOWS and
              all(r.get("ok") and r["sas"]["congruent"] == 1 and r["broken"] == 0
                  for r in replies), [r for r in replies if not r.get("ok")][:2])
        us = sorted(x * 1e6 for x in rtt)
        print("figure: congruent replace -> published (the reply is sent after the pointer"
              " store), under full load: median %.0f us, p99 %.0f us, worst %.0f us (n=%d);"
              " %.0f replaces a second" % (statistics.median(us), us[int(len(us) * 0.99) - 1],
                                           us[-1], len(us), 2000 / took))
        check("traffic flowed during the replaces (%d packets encrypted meanwhile)" %
              (during["to-b"] - before["to-b"]), during["to-b"] - before["to-b"] > 10000 and
              during["from-b"] > before["from-b"])
        time.sleep(0.2)
        check("zero latch notifications during the congruent replaces",
              not [e for e in mon.lines if e.get("event")], mon.lines[:3])
    finally:
        s = stop(gw, mon, d)
    sas = {x["name"]: x for x in s["sas"]}
    ports = {x["name"]: x for x in s["ports"]}
    drops = {k: v for k, v in s["drops"].items() if v}
    check("no packet of any flow lost: every drop counter is zero", not drops, drops)
    out = pcap_records(os.path.join(d, "lan_out.pcap"))
    check("counters and output agree: LAN TX = decrypted = WAN RX = records in the LAN output"
          " file; encrypted - decrypted = at most the ring's depth (left in it at exit)",
          ports["lan"]["tx_packets"] == sas["from-b"]["packets"] == len(out) and
          ports["wan"]["rx_packets"] == sas["from-b"]["packets"] and
          0 <= sas["to-b"]["packets"] - sas["from-b"]["packets"] <= 1024 and
          ports["lan"]["rx_packets"] == sas["to-b"]["packets"],
          (ports["lan"]["rx_packets"], ports["lan"]["tx_packets"], len(out),
           sas["from-b"]["packets"], sas["to-b"]["packets"], ports["wan"]["rx_packets"]))
    want = {bytes(f[UDP]) for f in frames}
    sample = out[:2000] + out[len(out) // 2:len(out) // 2 + 2000] + out[-2000:]
    check("the decrypted output is the input: every sampled LAN packet is one of the %d flows'"
          " packets, TTL decremented on each pass" % FLOWS,
          sample and all(bytes(Ether(p)[UDP]) in want and Ether(p)[IP].ttl == 62 for p in sample),
          len(out))
    check("no mbuf leaked", s["mempools"][0]["in_use"] == 0)


def notification_latency(d):
    """Part 2."""
    gw, mon, ctl = start(d, "b")
    lat, ok = [], True
    try:
        flows = ctl({"op": "latches"})["count"]
        for i in range(1, 1001):
            m = len(mon.lines)
            t = time.monotonic()
            r = ctl({"op": "sa-replace", "sa": sa("to-b", "outbound", 0x9000 + i, key(5000 + i),
                                                  peer="site-c")})
            j = mon.wait_for(lambda e: e.get("event") == "latch" and e["new_state"] == "BROKEN", m)
            summ = mon.wait_for(lambda e: e.get("event") == "summary" and
                                e["new_state"] == "BROKEN" and e["latches"] == flows, m)
            if j < 0 or summ < 0 or not r.get("ok") or r["broken"] != flows or flows != FLOWS:
                ok = False
                break
            lat.append(mon.times[j] - t)
            m = len(mon.lines)
            # Back to site-b: a fresh inbound SA first, then the outbound
            # one with its SPI and key; the latches heal.
            ctl({"op": "sa-replace", "sa": sa("from-b", "inbound", 0x1000 + i, key(i))})
            ctl({"op": "sa-replace", "sa": sa("to-b", "outbound", 0x1000 + i, key(i))})
            if mon.wait_for(lambda e: e.get("event") == "summary" and
                            e["new_state"] == "ESTABLISHED" and e["latches"] == flows, m) < 0:
                ok = False
                break
    finally:
        s = stop(gw, mon, d)
    check("1,000 identity-changing replaces: each breaks all %d latches before it replies (the"
          " reply's count), with notifications and a summary; each revert restores them all"
          % flows, ok and len(lat) == 1000,
          "%d done" % len(lat))
    check("no mbuf leaked", s["mempools"][0]["in_use"] == 0)
    if lat:
        us = sorted(x * 1e6 for x in lat)
        print("figure: replace -> notification at a latchctl monitor: median %.0f us, p99 %.0f us,"
              " worst %.0f us (n=%d)" % (statistics.median(us), us[int(len(us) * 0.99) - 1],
                                         us[-1], len(us)))


def main():
    d = tempfile.mkdtemp(prefix="lgrekey-")
    frames = [Ether(src="02:00:00:00:01:0a", dst="02:00:00:00:01:01") /
              IP(src="192.168.1.%d" % (i + 1), dst="192.168.2.%d" % (i % 8 + 1), ttl=64) /
              UDP(sport=10000 + i, dport=5000) / Raw(b"%06d" % i) for i in range(FLOWS)]
    wrpcap(os.path.join(d, "lan.pcap"), frames)
    with open(os.path.join(d, "gw.yaml"), "w") as f:
        f.write(CONF.format(d=d, k=key(0).hex()))
    try:
        congruent_under_traffic(d, frames)
        os.unlink(os.path.join(d, "lan_out.pcap"))
        notification_latency(d)
    finally:
        subprocess.run(["rm", "-rf", d])
    print("%d passed, %d failed" % (results.count(True), results.count(False)))
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
