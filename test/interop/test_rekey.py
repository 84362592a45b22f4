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
     each revert restores the latches;
  3. 10,000 congruent replaces a second for 3 s under a steady load at 80 %
     of the gateway's maximum (lg_pace, a paced source and sink on a memif
     LAN port) lose no packet; the replace -> published latency is printed.
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
import threading
import time

from scapy.all import IP, UDP, Ether, Raw, wrpcap

from live import CTL, GW, Monitor

FLOWS = 64
CONF = """
ports:
  - {{ name: lan, role: protected, device: "{lan}", address: 192.168.1.254, mac: "02:00:00:00:01:01" }}
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
{memory}"""
LAN_PCAP = "net_pcap0,rx_pcap={d}/lan.pcap,tx_pcap={d}/lan_out.pcap,infinite_rx=1"
PACE = os.path.join(os.path.dirname(GW), "test", "bench", "lg_pace")
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


def start(d, tag, conf="gw.yaml"):
    sock = os.path.join(d, "ctl.sock")
    gw = subprocess.Popen([GW, "-l", "0-1", "-n", "1", "--in-memory", "--no-pci", "--file-prefix",
                           "lgrekey-%s-%d" % (tag, os.getpid()), "--log-level", "*:error", "--",
                           "--config", os.path.join(d, conf), "--stats-json",
                           os.path.join(d, "s.json")],
                          stdout=open(os.path.join(d, "out.txt"), "w"), stderr=subprocess.STDOUT)
    end = time.time() + 20
    while not os.path.exists(sock) and time.time() < end and gw.poll() is None:
        time.sleep(0.05)
    if not os.path.exists(sock):
        if gw.poll() is None:
            gw.kill()
        raise RuntimeError("latchgate did not start: %s" %
                           open(os.path.join(d, "out.txt")).read()[-2000:])
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
    try:
        return json.load(open(os.path.join(d, "s.json")))
    except (OSError, ValueError):
        raise RuntimeError("latchgate wrote no final counters (exit %s): %s" % (
            gw.returncode, open(os.path.join(d, "out.txt")).read()[-2000:]))


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

RATE, REPLACE_S, LOAD_PCT = 10000, 3.0, 80


def realtime():
    """The traffic source stands in for another machine: a real-time
    priority keeps the driver and the gateway's control thread, which share
    its core, from stalling it (it sleeps every ~100 us, so they still run)."""
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))
    except OSError:
        pass


def replace_paced(sock, rate, seconds):
    """Congruent replaces of from-b and to-b in turn, `rate` a second, on
    one connection, pipelined as an IKE daemon may: a request is sent when
    it is due, whether or not earlier replies have arrived; a reader thread
    times each reply. Returns (start, latencies, replies, seconds taken)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sock)
    n = int(rate * seconds)
    sent, got = [0.0] * n, []
    # Made before the clock starts: the driver shares a core with the
    # control thread and the traffic source, and must not take it from them.
    reqs = [(json.dumps({"op": "sa-replace", "sa": sa(name, dr, 0x10000 + i // 2,
                                                      key(7000 + i // 2))}) + "\n").encode()
            for i, (name, dr) in ((i, (("from-b", "inbound"), ("to-b", "outbound"))[i % 2])
                                  for i in range(n))]

    def reader():
        # Parsed after the run, for the same reason.
        f = s.makefile("rb")
        for _ in range(n):
            line = f.readline()
            if not line:
                break
            got.append((time.monotonic(), line))

    th = threading.Thread(target=reader)
    th.start()
    t0 = time.monotonic()
    i = 0
    while i < n:
        # What is due goes in one write; then sleep ~0.5 ms (no spinning:
        # this core is the control thread's).
        now = time.monotonic()
        msg = b""
        while i < n and t0 + i / rate <= now:
            msg += reqs[i]
            sent[i] = now
            i += 1
        if msg:
            s.sendall(msg)
        time.sleep(0.0005)
    th.join(timeout=30)
    took = (got[-1][0] if got else time.monotonic()) - t0
    s.close()
    return t0, [g[0] - sent[i] for i, g in enumerate(got)], [json.loads(g[1]) for g in got], took


RING = 16384         # memif ring slots each way (memif's largest: rsize 14)


def paced_attempt(d, rate, seconds, pct, tag):
    """One run of part 3: a gateway, lg_pace and the replaces. Returns the
    figures, or None if lg_pace could not start."""
    gsock = os.path.join(d, "pace.sock")
    memif = "net_memif0,role=%%s,socket=%s,socket-abstract=no,rsize=%d" % (
        gsock, RING.bit_length() - 1)
    with open(os.path.join(d, "gw-paced.yaml"), "w") as f:
        # Each inbound replace keeps its predecessor reachable for the
        # overlap (1 s): rate x 1 s versions at once need their SPIs.
        f.write(CONF.format(d=d, k=key(0).hex(), memory="memory: { sas: %d }" % (4 * rate),
                            lan=memif % "client"))
    gen = subprocess.Popen(
        [PACE, "-l", "0", "--no-pci", "--in-memory", "--file-prefix",
         "lgpace-%s-%d" % (tag, os.getpid()), "--log-level", "*:error", "--vdev",
         memif % "server", "--", str(FLOWS), "64", "3", str(pct), str(seconds + 1.5),
         "02:00:00:00:01:01", "02:00:00:00:01:0a", "192.168.1.1", "192.168.2.1"],
        stdout=subprocess.PIPE, text=True, preexec_fn=realtime)
    gw = None
    cpus = os.sched_getaffinity(0)
    try:
        end = time.time() + 20
        while not os.path.exists(gsock) and time.time() < end and gen.poll() is None:
            time.sleep(0.05)
        gw, mon, ctl = start(d, "c" + tag, "gw-paced.yaml")
        # The driver (this thread and the reader it starts) stays off the
        # worker's core (1): sharing it would stall the worker.
        os.sched_setaffinity(0, {0})
        line = gen.stdout.readline()
        if not line.startswith("paced "):
            print("lg_pace did not start pacing: %r" % line)
            return None
        time.sleep(0.3)
        a = ctl({"op": "stats"})["stats"]
        t0, rtt, replies, took = replace_paced(os.path.join(d, "ctl.sock"), rate, seconds)
        res = json.loads(gen.stdout.readline())
        gen.wait(timeout=20)
        time.sleep(0.2)
        events = [e for e in mon.lines if e.get("event")]
    finally:
        if gen.poll() is None:
            gen.kill()
        s = stop(gw, mon, d) if gw is not None else None
        os.sched_setaffinity(0, cpus)
        os.unlink(gsock) if os.path.exists(gsock) else None
    us = sorted(x * 1e6 for x in rtt) or [0.0]
    return dict(res=res, replies=replies, events=events, leaked=s["mempools"][0]["in_use"],
                lost={k: v - a["drops"].get(k, 0) for k, v in s["drops"].items()
                      if v != a["drops"].get(k, 0)},
                rate=len(replies) / took, median_us=statistics.median(us),
                p99_us=us[int(len(us) * 0.99) - 1], worst_us=us[-1],
                held=res["behind"] < RING and res["paced_pps"] > 0.95 * res["max_pps"] * pct / 100,
                # Paused longer than its return ring lasts, the source is a
                # sink that stopped reading: what the gateway could not
                # send it then says nothing of the replaces.
                paused=res["gap_us"] * 1e-6 * res["paced_pps"] > RING)


def paced_load(d, rate=RATE, seconds=REPLACE_S, pct=LOAD_PCT, attempts=5):
    """Part 3: congruent replaces at `rate` a second for `seconds` under a
    steady load at `pct` % of the gateway's maximum (lg_pace measures the
    maximum first, in the same process, then paces: neither net_pcap nor
    testpmd can). Two shared cores carry the worker on one and the source,
    the control thread and this driver on the other: when the load was not
    held (the source fell behind by a ring: the gateway could not take 80 %
    of what it took alone) or the source was kept from running longer than
    its return ring lasts, the run says nothing and is repeated, up to
    `attempts` times. Loss in any other run fails. Returns the figures of
    the run that held, for the bench."""
    for k in range(attempts):
        f = paced_attempt(d, rate, seconds, pct, str(k))
        if f is None:
            continue
        res, n = f["res"], len(f["replies"])
        print("figure: %d congruent replaces at %.0f a second (asked %d) under %.2f Mpps = %.0f %%"
              " of the maximum %.2f Mpps (64 B, encrypt + decrypt loop); replace -> published"
              " median %.0f us, p99 %.0f us, worst %.0f us; source behind by %d frames at most,"
              " longest pause %d us%s" %
              (n, f["rate"], rate, res["paced_pps"] / 1e6, 100 * res["paced_pps"] / res["max_pps"],
               res["max_pps"] / 1e6, f["median_us"], f["p99_us"], f["worst_us"], res["behind"],
               res["gap_us"], "" if f["held"] and not f["paused"] else
               ": load NOT held, repeated"))
        if f["held"] and not f["paused"]:
            break
    else:
        check("lg_pace paced a steady load in one of %d runs" % attempts, False, f and f["res"])
        return {}
    check("all %d replaces answered, every one accepted as congruent, none broke a latch, no"
          " notification" % int(rate * seconds), n == int(rate * seconds) and not f["events"] and
          all(r.get("ok") and r["sas"]["congruent"] == 1 and r["broken"] == 0
              for r in f["replies"]),
          ([r for r in f["replies"] if not r.get("ok")][:2], f["events"][:2]))
    check("no packet lost under the replaces: all %d frames sent came back decrypted, and no drop"
          " counter moved meanwhile" % res["sent"],
          res["sent"] == res["received"] > 0 and not f["lost"], (res, f["lost"]))
    check("no mbuf leaked", f["leaked"] == 0)
    return dict(max_pps=res["max_pps"], paced_pps=res["paced_pps"], replaces=n, rate=f["rate"],
                median_us=f["median_us"], p99_us=f["p99_us"], worst_us=f["worst_us"],
                sent=res["sent"], lost=res["sent"] - res["received"] + sum(f["lost"].values()))


def main():
    d = tempfile.mkdtemp(prefix="lgrekey-")
    frames = [Ether(src="02:00:00:00:01:0a", dst="02:00:00:00:01:01") /
              IP(src="192.168.1.%d" % (i + 1), dst="192.168.2.%d" % (i % 8 + 1), ttl=64) /
              UDP(sport=10000 + i, dport=5000) / Raw(b"%06d" % i) for i in range(FLOWS)]
    wrpcap(os.path.join(d, "lan.pcap"), frames)
    with open(os.path.join(d, "gw.yaml"), "w") as f:
        f.write(CONF.format(d=d, k=key(0).hex(), lan=LAN_PCAP.format(d=d), memory=""))
    try:
        congruent_under_traffic(d, frames)
        os.unlink(os.path.join(d, "lan_out.pcap"))
        notification_latency(d)
        paced_load(d)
    finally:
        subprocess.run(["rm", "-rf", d])
    print("%d passed, %d failed" % (results.count(True), results.count(False)))
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
