#!/usr/bin/python3
"""testpmd-style benchmark of latchgate on one worker lcore, with the crypto
and I/O ceilings measured by the same run (scripts/bench.sh runs this).

Every cell is a fresh latchgate: main lcore 0 = control, worker lcore 1;
LAN = net_pcap replaying a generated capture (infinite_rx=1), or for the
"flows" group dpdk-testpmd flowgen (lcore 0) into a memif, which needs no
capture frame per flow; WAN = a
net_pcap sink (an empty rx_pcap, no tx_pcap: it counts and frees) for
outbound cells, or a net_ring loopback for inbound ones: the gateway then
decrypts its own output with fresh sequence numbers and anti-replay on, and
inbound cycles = loop cycles - outbound cycles of the same cell. Counters
come from the gateway itself (control socket) over a fixed window after a
warm-up; each cell runs REPS times, interleaved, and reports the median
(min-max).

The gateway runs crypto.mode direct (its own ESP on Intel IPsec-MB, the
fastest software path) unless a cell says otherwise; the "lookaside" group
repeats the tax-target cells through rte_cryptodev (the hardware path) and
"cpu" through the PMD's cpu-crypto API.

References, same machine, same run:
  crypto: dpdk-test-crypto-perf throughput, one lcore, the same PMD, suite,
          direction and buffer size (the padded ESP payload: CBC needs
          16-byte blocks; IMIX: the 7:4:1 weighted mean);
  I/O:    dpdk-testpmd --forward-mode=io between the same vdev ports;
  floor:  test/bench/bench_imb, the same crypto on Intel IPsec-MB alone,
          called as crypto.mode direct calls it (no PMD): what no gateway
          on this library can go below.
IPsec tax = our cycles/packet - crypto cycles/op - I/O cycles/packet (the
issue's definition); tax over the floor = our cycles/packet - floor - I/O,
the stricter figure for the direct path, which does not pay the PMD's
per-op costs that crypto-perf includes.

Rekeys under load: test/interop/test_rekey.py's part 3. test/bench/lg_pace
(a paced source and sink on a memif LAN port, lcore 0) measures the
gateway's maximum (64 B, encrypt + decrypt through a ring loopback), then
holds 80 % of it while 10,000 congruent replaces a second are sent for 3 s,
pipelined on one control connection; every frame must come back. Replace
-> published is the time from sending a request to its reply, which the
control thread sends after the pointer store.
"""
import argparse
import csv
import json
import os
import re
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("LG_BUILD_DIR", os.path.join(ROOT, "build"))
GW = os.path.join(BUILD, "latchgate")
LAN_MAC, LAN_NH = b"\x02\x00\x00\x00\x01\x01", b"\x02\x00\x00\x00\x01\x0a"

# suite -> (config text, crypto vdev, crypto-perf arguments, ESP block, ICV, IV)
SUITES = {
    "aes128gcm": ('aead: {{ algorithm: aes-128-gcm, key: "0x{k16}", salt: "0x01020304" }}',
                  "crypto_aesni_gcm", ["--optype", "aead", "--aead-algo", "aes-gcm",
                                       "--aead-op", "encrypt", "--aead-key-sz", "16",
                                       "--aead-iv-sz", "12", "--aead-aad-sz", "8",
                                       "--digest-sz", "16"], 4, 16, 8),
    "aes256gcm": ('aead: {{ algorithm: aes-256-gcm, key: "0x{k32}", salt: "0x01020304" }}',
                  "crypto_aesni_gcm", ["--optype", "aead", "--aead-algo", "aes-gcm",
                                       "--aead-op", "encrypt", "--aead-key-sz", "32",
                                       "--aead-iv-sz", "12", "--aead-aad-sz", "8",
                                       "--digest-sz", "16"], 4, 16, 8),
    "aes128cbc-sha1": ('cipher: {{ algorithm: aes-128-cbc, key: "0x{k16}" }}, '
                       'auth: {{ algorithm: hmac-sha1-96, key: "0x{k20}" }}',
                       "crypto_aesni_mb", ["--optype", "cipher-then-auth", "--cipher-algo",
                                           "aes-cbc", "--cipher-op", "encrypt",
                                           "--cipher-key-sz", "16", "--cipher-iv-sz", "16",
                                           "--auth-algo", "sha1-hmac", "--auth-op", "generate",
                                           "--auth-key-sz", "20", "--digest-sz", "12"],
                       16, 12, 16),
    "aes128cbc-sha256": ('cipher: {{ algorithm: aes-128-cbc, key: "0x{k16}" }}, '
                         'auth: {{ algorithm: hmac-sha256-128, key: "0x{k32}" }}',
                         "crypto_aesni_mb", ["--optype", "cipher-then-auth", "--cipher-algo",
                                             "aes-cbc", "--cipher-op", "encrypt",
                                             "--cipher-key-sz", "16", "--cipher-iv-sz", "16",
                                             "--auth-algo", "sha2-256-hmac", "--auth-op",
                                             "generate", "--auth-key-sz", "32",
                                             "--digest-sz", "16"], 16, 16, 16),
}
SIZES = {"64": [64], "512": [512], "1420": [1420], "imix": [64] * 7 + [570] * 4 + [1518]}

CONF = """
ports:
  - {{ name: lan, role: protected, device: "{lan}", address: 192.168.1.254, mac: "{lan_mac}" }}
  - {{ name: wan, role: unprotected, device: "{wan}", address: [172.16.1.5, 172.16.2.5], mac: "02:00:00:00:02:01" }}
crypto: {{ devices: [{cdev}0], mode: {mode} }}
peers: [{{ name: b, id: "fqdn:gw-b.example.net" }}]
sas:
{sas}
policies:
{policies}
routes:
  - {{ dst: 172.16.2.0/24, port: wan, next_hop_mac: "02:00:00:00:02:01" }}
  - {{ dst: 10.2.0.0/15, port: lan, next_hop_mac: "02:00:00:00:01:0a" }}
latch: {{ enabled: {latch}, capacity: {cap} }}
control: {{ socket: {sock} }}
{memory}
"""


def cksum(b):
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def frame(size, flow, nsas):
    """Ether/IPv4/UDP of `size` bytes: flow i from 10.1.x.y:sport, SA i % nsas
    by its destination (sa_dst)."""
    j = flow % nsas
    src = bytes([10, 1, (flow >> 8) & 255, flow & 255])
    dst = bytes([10, 2 + (j >> 16), (j >> 8) & 255, j & 255])
    sport = 1024 + (flow >> 16)
    ip_len = size - 14
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, ip_len, 0, 0, 64, 17, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", cksum(ip)) + ip[12:]
    udp = struct.pack("!HHHH", sport, 5000, ip_len - 20, 0)
    return LAN_MAC + LAN_NH + b"\x08\x00" + ip + udp + bytes(ip_len - 28)


def sa_dst(j):
    """The destination that selects SA j (10.2.0.0 .. 10.3.134.159 for 100,000)."""
    return "10.%d.%d.%d" % (2 + (j >> 16), (j >> 8) & 255, j & 255)


def write_pcap(path, frames):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
        for fr in frames:
            f.write(struct.pack("<IIII", 0, 0, len(fr), len(fr)))
            f.write(fr)


def esp_payload(size, suite):
    """Bytes the cipher runs over for a frame of `size` (tunnel mode)."""
    _, _, _, block, _, _ = SUITES[suite]
    inner = size - 14 + 2                 # inner IP packet + pad length + next header
    return (inner + block - 1) // block * block


class Gateway:
    def __init__(self, d, tag, conf):
        self.sock = os.path.join(d, "ctl.sock")
        path = os.path.join(d, "gw.yaml")
        with open(path, "w") as f:
            f.write(conf)
        if os.path.exists(self.sock):
            os.unlink(self.sock)
        self.p = subprocess.Popen(
            [GW, "-l", "0-1", "-n", "1", "--in-memory", "--no-pci", "--file-prefix",
             "lgbench-%s-%d" % (tag, os.getpid()), "--log-level", "*:error", "--",
             "--config", path], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        end = time.time() + 30
        while not os.path.exists(self.sock):
            if self.p.poll() is not None or time.time() > end:
                raise RuntimeError("latchgate did not start: %s" % self.p.stderr.read()[-500:])
            time.sleep(0.02)

    def stats(self):
        s = socket.socket(socket.AF_UNIX)
        s.connect(self.sock)
        s.sendall(b'{"op":"stats"}\n')
        d = b""
        while not d.endswith(b"\n"):
            d += s.recv(1 << 20)
        s.close()
        return json.loads(d)["stats"]

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        try:
            self.p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.p.kill()


def flowgen(d, flows, size):
    """dpdk-testpmd --forward-mode=flowgen on lcore 0 (shared with the
    gateway's control thread): UDP from 10.254.0.0 to 10.253.0.0 + i for i
    in 0..flows-1, generated per packet into a memif whose client is the
    gateway's LAN port, so a million flows need no million-frame capture
    (whose cold buffers cost more than latching does). Destination MAC:
    testpmd's default peer address. Whether it kept the gateway busy is in
    each cell's `busy`."""
    sock = os.path.join(d, "gen.sock")
    if os.path.exists(sock):
        os.unlink(sock)
    p = subprocess.Popen(
        ["dpdk-testpmd", "--lcores", "0@0,1@0", "--no-pci", "--in-memory", "--file-prefix",
         "lgbench-gen-%d" % os.getpid(), "--log-level", "*:error",
         "--vdev", "net_memif0,role=server,socket=%s,socket-abstract=no" % sock, "--",
         "--forward-mode=flowgen", "--flowgen-flows=%d" % flows,
         # One flow's packets are all alike: sending each 8 times (by
         # reference) changes nothing the gateway sees and keeps the
         # generator, on the shared core, ahead of it. More flows are
         # never cloned: runs of one flow would make their lookups cheap.
         "--flowgen-clones=%d" % (8 if flows == 1 else 0),
         "--txpkts=%d" % (size + 4),       # the length it is given includes the FCS
         # --stats-period: without it testpmd waits for Enter, and exits at EOF
         "--nb-cores=1", "--auto-start", "--stats-period=1", "--rxq=1", "--txq=1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    end = time.time() + 20
    while not os.path.exists(sock):
        if p.poll() is not None or time.time() > end:
            p.kill()
            raise RuntimeError("dpdk-testpmd flowgen did not start")
        time.sleep(0.05)
    return p, sock


GEN_MAC = "00:01:02:03:04:01"
# A ratio between cells is a target figure only when the worker's receive
# bursts were at least this full in both (else the source set the rate).
BUSY_MIN = 0.9
# Nor when a cell's repetitions differ by more than this share.
SPREAD_MAX = 0.2


def run_cell(d, cell, args):
    """One run of one cell: (packets per second, worker cycles per packet)."""
    suite, size, flows, nsas = cell["suite"], cell["size"], cell["flows"], cell["sas"]
    gen = cell.get("gen", False)
    if gen and cell["dir"] == "inbound":
        raise ValueError("flowgen cells are outbound only (inbound loops the gateway's own ESP)")
    mix = SIZES[size]
    frames = [] if gen else [frame(mix[i % len(mix)], i % flows, nsas)
                             for i in range(max(flows, len(mix)))]
    pcap = os.path.join(d, "lan-%s-%d-%d.pcap" % (size, flows, nsas))
    if not gen and not os.path.exists(pcap):
        write_pcap(pcap, frames)
    loop = cell["dir"] == "inbound"
    keys = dict(k16="11" * 16, k20="22" * 20, k32="33" * 32)
    suite_text = SUITES[suite][0].format(**keys)
    sas, pols = [], []
    for j in range(nsas):
        dst = sa_dst(j) if nsas > 1 else "10.0.0.0/7" if gen else "10.2.0.0/15"
        # Equal priorities are checked pairwise for overlaps: spread them.
        prio = 10 + (j % 60000 if nsas > 1 else 0)
        sas.append('  - { name: o%d, direction: outbound, spi: %d, peer: b, local: 172.16.1.5,'
                   ' remote: 172.16.2.5, %s }' % (j, 0x1000 + j, suite_text))
        pols.append('  - { name: po%d, direction: outbound, priority: %d, src: %s,'
                    ' dst: %s, action: protect, sa: o%d }'
                    % (j, prio, "10.254.0.0/16" if gen else "10.1.0.0/16", dst, j))
        if loop:
            sas.append('  - { name: i%d, direction: inbound, spi: %d, peer: b, local: 172.16.2.5,'
                       ' remote: 172.16.1.5, replay_window: 1024, %s }'
                       % (j, 0x1000 + j, suite_text))
            pols.append('  - { name: pi%d, direction: inbound, priority: %d, src: 10.1.0.0/16,'
                        ' dst: %s, action: protect, sa: i%d }' % (j, prio, dst, j))
    empty = os.path.join(d, "empty.pcap")
    write_pcap(empty, [])
    g = None
    if gen:
        g, gsock = flowgen(d, flows, int(size))
    conf = CONF.format(lan="net_memif0,role=client,socket=%s,socket-abstract=no" % gsock if gen else
                       "net_pcap0,rx_pcap=%s,infinite_rx=1" % pcap,
                       lan_mac=GEN_MAC if gen else "02:00:00:00:01:01", wan="net_ring0" if loop else "net_pcap1,rx_pcap=" + empty,
                       cdev=SUITES[suite][1], mode=cell["mode"], sas="\n".join(sas),
                       policies="\n".join(pols), latch="true" if cell["latch"] else "false",
                       cap=max(4096, 2 * flows), sock=os.path.join(d, "ctl.sock"),
                       # infinite_rx keeps the whole capture in the mbuf pool
                       memory="memory: { mbufs: %d, sas: %d }" % (
                           max(len(frames) + 32768, 65536), max(4096, 2 * len(sas) + 16)))
    try:
        gw = Gateway(d, "c", conf)
        try:
            # a million flows' latches are made in the first ~0.2 s
            time.sleep(args.warmup)
            a = gw.stats()
            time.sleep(args.window)
            b = gw.stats()
        finally:
            gw.stop()
    finally:
        if g is not None:
            g.send_signal(signal.SIGINT)
            try:
                g.wait(timeout=20)
            except subprocess.TimeoutExpired:
                g.kill()

    def pk(s):
        return sum(x["packets"] for x in s["sas"] if x["direction"] ==
                   ("inbound" if loop else "outbound"))

    npk = pk(b) - pk(a)
    cyc = b["lcores"][0]["busy_cycles"] - a["lcores"][0]["busy_cycles"]
    dt = b["uptime_s"] - a["uptime_s"]
    drops = {k: v for k, v in b["drops"].items() if v}
    if drops:
        print("  note: drops %s" % drops, file=sys.stderr)
    # How full the worker's receive bursts were (packets a busy poll over
    # the 32 a burst takes): well below 1, the source (flowgen on the
    # shared core) could not keep it fed, and the cycles per packet say
    # more about short bursts than about the gateway.
    rx = [p["rx_packets"] - q["rx_packets"] for p, q in zip(b["ports"], a["ports"])]
    polls = b["lcores"][0]["busy_polls"] - a["lcores"][0]["busy_polls"]
    fed = sum(1 for x in rx if x > 0)     # an inbound loop receives on both ports
    return (npk / dt, cyc / npk if npk else float("inf"), b["tsc_hz"],
            sum(rx) / polls / (32 * fed) if polls else 0.0)


def crypto_perf(dev, cargs, sizes, args):
    out = subprocess.run(
        ["dpdk-test-crypto-perf", "-l", "0,1", "--no-pci", "--in-memory", "--file-prefix",
         "lgbench-cp-%d" % os.getpid(), "--vdev", dev + "0", "--log-level", "*:error", "--",
         "--ptest", "throughput", "--devtype", dev] + cargs +
        ["--buffer-sz", ",".join(str(s) for s in sizes), "--burst-sz", "32",
         "--total-ops", str(args.crypto_ops), "--silent"],
        capture_output=True, text=True, timeout=300).stdout
    res = {}
    for line in out.splitlines():
        f = line.split()
        if len(f) == 10 and f[0].isdigit():
            res[int(f[1])] = float(f[9])                 # cycles/op
    return res


def crypto_ref(suite, sizes, args, decrypt):
    """Cycles per op of dpdk-test-crypto-perf for each buffer size, in the
    cell's direction. CBC decryption runs in parallel blocks and costs far
    less than encryption; crypto-perf verifies HMACs only against test
    vectors, so inbound CBC+HMAC is cipher-only decrypt + auth-only generate
    (the same HMAC work as verify), two runs summed: the per-op overhead is
    then counted twice, which understates the tax a little at small sizes."""
    _, dev, cargs, _, _, _ = SUITES[suite]
    if not decrypt:
        return crypto_perf(dev, cargs, sizes, args)
    if cargs[1] == "aead":
        return crypto_perf(dev, [a if a != "encrypt" else "decrypt" for a in cargs], sizes, args)
    i = cargs.index("--auth-algo")
    cipher = ["--optype", "cipher-only"] + [a if a != "encrypt" else "decrypt"
                                            for a in cargs[2:i]]
    auth = ["--optype", "auth-only"] + cargs[i:]
    c, a = crypto_perf(dev, cipher, sizes, args), crypto_perf(dev, auth, sizes, args)
    return {k: c[k] + a[k] for k in c if k in a}


def imb_ref(suite, sizes, decrypt):
    """Cycles per packet of the same crypto on Intel IPsec-MB alone
    (test/bench/bench_imb), by payload size; {} for suites it does not
    measure."""
    exe = os.path.join(BUILD, "test", "bench", "bench_imb")
    r = subprocess.run(["taskset", "-c", "1", exe, suite, "dec" if decrypt else "enc"] +
                       [str(x) for x in sizes], capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        return {}
    out = [json.loads(l[6:]) for l in r.stdout.splitlines() if l.startswith("json: ")]
    return {x["len"]: x["cycles"] for x in out}


def io_ref(d, size, loop, args):
    """testpmd io forwarding between the same vdevs: packets per second."""
    frames = [frame(sz, i, 1) for i in range(1000) for sz in [SIZES[size][i % len(SIZES[size])]]]
    pcap = os.path.join(d, "io-%s.pcap" % size)
    write_pcap(pcap, frames)
    empty = os.path.join(d, "empty.pcap")
    write_pcap(empty, [])
    p = subprocess.Popen(
        ["dpdk-testpmd", "-l", "0,1", "--no-pci", "--in-memory", "--file-prefix",
         "lgbench-tp-%d" % os.getpid(), "--log-level", "*:error",
         "--vdev", "net_pcap0,rx_pcap=%s,infinite_rx=1" % pcap,
         "--vdev", "net_pcap1,rx_pcap=%s" % empty, "--", "--forward-mode=io", "--nb-cores=1",
         "--auto-start", "--stats-period=1", "--rxq=1", "--txq=1"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    time.sleep(args.warmup + args.window + 1)
    p.send_signal(signal.SIGINT)
    out = p.communicate(timeout=30)[0]
    rx = [int(x) for x in re.findall(r"Rx-pps:\s+(\d+)", out) if int(x) > 0]
    return statistics.median(rx[-max(1, int(args.window)):]) if rx else 0.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--out", default=os.path.join(ROOT, "bench-out"))
    ap.add_argument("--latch", action="store_true", help="also the latch microbenchmark")
    ap.add_argument("--report", action="store_true", help="write BENCHMARKS.md and its plot")
    ap.add_argument("--report-from", metavar="BENCH_JSON",
                    help="rewrite BENCHMARKS.md and its plot from a saved run's bench.json")
    ap.add_argument("--ab", metavar="BUILD_A,BUILD_B",
                    help="A/B: one cell, alternating between build directories, each"
                    " optionally @MODE (a crypto.mode: build@cpu,build@direct)")
    ap.add_argument("--runs", type=int, default=5, help="with --ab: runs of each (default 5)")
    ap.add_argument("--cell", default="outbound:aes128gcm:64:1000",
                    help="with --ab: DIR:SUITE:SIZE:FLOWS[:SAS[:gen][:nolatch]] (gen: flowgen"
                    " traffic; nolatch: latching off)")
    args = ap.parse_args()
    args.warmup, args.window = (0.6, 1.0) if args.quick else (1.0, 2.0)
    if args.ab:
        return ab(args)
    if args.report_from:
        with open(args.report_from) as f:
            saved = json.load(f)
        args.quick, args.reps = saved["quick"], saved["reps"]
        args.out = os.path.dirname(os.path.abspath(args.report_from))
        date = saved.get("date") or time.strftime(
            "%Y-%m-%d %H:%M UTC", time.gmtime(os.path.getmtime(args.report_from)))
        report(saved["rows"], saved.get("latch", []), saved["tsc_hz"], args, date,
               saved.get("rekey"))
        return 0
    args.crypto_ops = 2000000 if args.quick else 10000000
    base = dict(flows=1000, sas=1, latch=True, mode="direct")
    cells = []
    suites = ["aes128gcm", "aes128cbc-sha1"] if args.quick else list(SUITES)
    sizes = ["64", "1420"] if args.quick else list(SIZES)
    for s in suites:
        for z in sizes:
            for dr in ("outbound", "inbound"):
                cells.append(dict(base, dir=dr, suite=s, size=z, group="main"))
    for s in ("aes128gcm", "aes128cbc-sha1"):
        for z in ("64", "1420"):
            for dr in ("outbound", "inbound"):
                cells.append(dict(base, dir=dr, suite=s, size=z, mode="lookaside",
                                  group="lookaside"))
    g = dict(base, suite="aes128gcm", size="64")
    for dr in ("outbound", "inbound"):
        cells.append(dict(g, dir=dr, latch=False, group="latch-off"))
        cells.append(dict(g, dir=dr, mode="cpu", group="cpu"))
    # Flow counts from a generator (flowgen into a memif), not a capture:
    # a million-frame capture costs more than latching by itself.
    big = 100000 if args.quick else 1000000
    for fl in (1, big):
        cells.append(dict(g, dir="outbound", flows=fl, gen=True, group="flows"))
    cells.append(dict(g, dir="outbound", flows=big, gen=True, latch=False, group="flows"))
    if not args.quick:
        cells.append(dict(g, dir="outbound", sas=1000, group="sas"))
        # 100,000 SAs need as many flows; the 1-SA cell of the same capture
        # is their reference (a 100,000-frame capture costs by itself).
        cells.append(dict(g, dir="outbound", flows=100000, sas=1, group="sas"))
        cells.append(dict(g, dir="outbound", flows=100000, sas=100000, group="sas"))
    os.makedirs(args.out, exist_ok=True)
    d = tempfile.mkdtemp(prefix="lgbench-")
    res = {i: [] for i in range(len(cells))}
    for rep in range(args.reps):
        for i, c in enumerate(cells):
            res[i].append(run_cell(d, c, args))
            print("  rep %d/%d cell %d/%d: %s %s %s flows %d sas %d latch %s %s: %.3f Mpps" %
                  (rep + 1, args.reps, i + 1, len(cells), c["dir"], c["suite"], c["size"],
                   c["flows"], c["sas"], c["latch"], c["mode"], res[i][-1][0] / 1e6),
                  file=sys.stderr)
    # References.
    crypto = {}
    for s in set(c["suite"] for c in cells):
        szs = sorted(set(esp_payload(x, s) for z in set(c["size"] for c in cells)
                         for x in SIZES[z]))
        for dec in (False, True):
            crypto[s, dec] = [crypto_ref(s, szs, args, dec) for _ in range(args.reps)]
    io = {z: [io_ref(d, z, False, args) for _ in range(args.reps)]
          for z in set(c["size"] for c in cells)}
    floor = {}
    for s in set(c["suite"] for c in cells):
        szs = sorted(set(esp_payload(x, s) for z in set(c["size"] for c in cells)
                         for x in SIZES[z]))
        for dec in (False, True):
            reps = [imb_ref(s, szs, dec) for _ in range(args.reps)]
            floor[s, dec] = {k: statistics.median(r[k] for r in reps) for k in reps[0]} \
                if reps[0] else {}
    subprocess.run(["rm", "-rf", d])
    tsc = res[0][0][2]
    rows = []
    for i, c in enumerate(cells):
        pps = [r[0] for r in res[i]]
        cyc = [r[1] for r in res[i]]
        row = dict(c, mpps=statistics.median(pps) / 1e6, mpps_min=min(pps) / 1e6,
                   mpps_max=max(pps) / 1e6, cycles=statistics.median(cyc),
                   busy=statistics.median(r[3] for r in res[i]))
        if c["dir"] == "inbound":
            # the same cell outbound: what the loop spent encrypting
            o = next(j for j, x in enumerate(cells) if x["dir"] == "outbound" and
                     all(x[k] == c[k] for k in ("suite", "size", "flows", "sas", "latch",
                                                "mode")))
            row["cycles"] -= statistics.median(r[1] for r in res[o])
            row["mpps"] = tsc / row["cycles"] / 1e6
            row["mpps_min"] = row["mpps_max"] = None
        weights = SIZES[c["size"]]
        ccyc = statistics.median(
            [sum(rep[esp_payload(x, c["suite"])] for x in weights) / len(weights)
             for rep in crypto[c["suite"], c["dir"] == "inbound"]])
        iopps = statistics.median(io[c["size"]])
        row["crypto_cycles"] = ccyc
        row["crypto_mpps"] = tsc / ccyc / 1e6
        row["io_mpps"] = iopps / 1e6
        row["io_cycles"] = tsc / iopps if iopps else 0
        row["tax"] = row["cycles"] - ccyc - row["io_cycles"]
        fl = floor[c["suite"], c["dir"] == "inbound"]
        row["floor_cycles"] = sum(fl[esp_payload(x, c["suite"])] for x in weights) / \
            len(weights) if fl else None
        row["tax_floor"] = row["cycles"] - row["floor_cycles"] - row["io_cycles"] \
            if fl else None
        row["vs_crypto"] = row["mpps"] / row["crypto_mpps"]
        rows.append(row)
    with open(os.path.join(args.out, "bench.json"), "w") as f:
        json.dump({"tsc_hz": tsc, "quick": args.quick, "reps": args.reps, "rows": rows,
                   "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}, f,
                  indent=1)
    keys = ["group", "dir", "suite", "size", "flows", "sas", "latch", "mode", "mpps", "mpps_min",
            "mpps_max", "busy", "cycles", "crypto_cycles", "io_cycles", "tax", "floor_cycles",
            "tax_floor", "crypto_mpps", "io_mpps", "vs_crypto"]
    with open(os.path.join(args.out, "bench.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    print_table(rows, tsc)
    latch = []
    if args.latch:
        latch = latch_bench(args)
    rekey = rekey_bench()
    with open(os.path.join(args.out, "bench.json"), "w") as f:
        json.dump({"tsc_hz": tsc, "quick": args.quick, "reps": args.reps, "rows": rows,
                   "latch": latch, "rekey": rekey,
                   "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}, f, indent=1)
    if args.report:
        report(rows, latch, tsc, args, rekey=rekey)
    return 0


def rekey_bench():
    """10,000 congruent replaces a second under a steady load at 80 % of the
    maximum: test_rekey's part 3 (lg_pace paces a memif LAN port), its
    figures and whether it lost anything."""
    sys.path.insert(0, os.path.join(ROOT, "test", "interop"))
    import test_rekey
    d = tempfile.mkdtemp(prefix="lgbench-rekey-")
    try:
        fig = test_rekey.paced_load(d)
    except Exception as e:                # the rest of the run is kept
        print("rekey: failed: %s" % e)
        return {"error": str(e)[:300]}
    finally:
        subprocess.run(["rm", "-rf", d])
    if fig:
        print("rekey: %d congruent replaces at %.0f a second under %.2f Mpps (80 %% of %.2f);"
              " lost %d of %d frames; replace -> published median %.0f us, p99 %.0f us" %
              (fig["replaces"], fig["rate"], fig["paced_pps"] / 1e6, fig["max_pps"] / 1e6,
               fig["lost"], fig["sent"], fig["median_us"], fig["p99_us"]))
    return fig


def latch_bench(args):
    """The latch table microbenchmark (test/bench/bench_latch.c)."""
    exe = os.path.join(BUILD, "test", "bench", "bench_latch")
    out = subprocess.run([exe, "-l", "0-1", "--no-huge", "--no-pci", "-m",
                          "2048" if args.quick else "6144", "--file-prefix",
                          "lgbench-latch-%d" % os.getpid(), "--log-level", "*:error", "--"] +
                         (["--quick"] if args.quick else []),
                         capture_output=True, text=True, timeout=900).stdout
    print("\n".join(l for l in out.splitlines() if not l.startswith("json: ")))
    return [json.loads(l[6:]) for l in out.splitlines() if l.startswith("json: ")]


def machine():
    def first(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True).stdout.strip()
        except OSError:
            return "?"
    cpu = re.search(r"Model name:\s*(.*)", first(["lscpu"]))
    return {"cpu": cpu.group(1) if cpu else "?", "cores": os.cpu_count(),
            "kernel": first(["uname", "-r"]),
            "dpdk": first(["pkg-config", "--modversion", "libdpdk"]),
            "ipsec_mb": first(["dpkg-query", "-W", "-f=${Version}", "libipsec-mb-dev"]),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def pick(rows, **kw):
    return [r for r in rows if all(r.get(k) == v for k, v in kw.items())]


def report(rows, latch, tsc, args, date=None, rekey=None):
    """BENCHMARKS.md and its plot, from one run's results only."""
    m = machine()
    if date:
        m["date"] = date
    png = os.path.join(ROOT, "BENCHMARKS.png")
    dat = os.path.join(args.out, "plot.dat")
    avg = {"64": 64, "512": 512, "1420": 1420, "imix": sum(SIZES["imix"]) / 12}
    main = sorted(pick(rows, group="main", dir="outbound", suite="aes128gcm"),
                  key=lambda r: avg[r["size"]])
    with open(dat, "w") as f:
        for r in main:
            f.write("%g %g %g %g %g\n" % (avg[r["size"]], r["mpps"], r["crypto_mpps"],
                                          r["io_mpps"], tsc / r["floor_cycles"] / 1e6
                                          if r.get("floor_cycles") else float("nan")))
    gp = ("set terminal pngcairo size 900,520; set output '%s';"
          "set title 'latchgate outbound AES-128-GCM, crypto.mode direct, 1 worker lcore,"
          " latching on';"
          "set xlabel 'frame size (bytes; IMIX at its mean)'; set ylabel 'Mpps';"
          "set logscale y; set grid; set key top right;"
          "plot '%s' u 1:3 w lp t 'crypto ceiling (dpdk-test-crypto-perf)',"
          " '' u 1:5 w lp t 'crypto floor (Intel IPsec-MB alone)',"
          " '' u 1:4 w lp t 'I/O ceiling (dpdk-testpmd io)', '' u 1:2 w lp lw 2 t 'latchgate'"
          % (png, dat))
    subprocess.run(["gnuplot", "-e", gp], check=False)
    L = []
    L.append("# latchgate benchmarks\n")
    L.append("Generated by `scripts/bench.sh` (%s run, %d repetitions per cell) on %s. Do not"
             " edit by hand: rerun the script.\n" % ("quick" if args.quick else "full",
                                                      args.reps, m["date"]))
    L.append("Machine: %s, %s cores (shared, noisy: every figure is compared with references"
             " measured in the same run), TSC %.2f GHz, kernel %s, DPDK %s, Intel IPsec-MB %s."
             "\n" % (m["cpu"], m["cores"], tsc / 1e9, m["kernel"], m["dpdk"], m["ipsec_mb"]))
    L.append("## Method\n")
    L.append(__doc__.split("\n\n", 1)[1].strip() + "\n")
    L.append("Columns: `Mpps` median (min-max) of the repetitions; `busy` how full the"
             " worker's receive bursts were (packets a busy poll over 32 for each port that"
             " received; below %.0f %%, the"
             " source set the rate and the cell's ratios are not target figures); `cyc` the"
             " worker's busy"
             " cycles per packet (inbound: loop minus outbound of the same cell); `crypto` the"
             " crypto-perf cycles per op at the padded ESP payload size (IMIX: weighted);"
             " `io` TSC cycles per packet of testpmd io forwarding; `tax` = cyc - crypto - io;"
             " `floor` the same crypto on Intel IPsec-MB alone (bench_imb; GCM and"
             " AES-128-CBC suites); `tax/floor` = cyc - floor - io;"
             " `x crypto` = our Mpps / the crypto ceiling's.\n" % (100 * BUSY_MIN))
    L.append("## Results\n")
    L.append("| group | dir | suite | size | flows | SAs | latch | crypto | Mpps | (min-max) |"
             " busy | cyc | crypto cyc | io cyc | tax | floor cyc | tax/floor | x crypto |"
             " io Mpps |")
    L.append("|---|---|---|---|---:|---:|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"
             "---:|")
    for r in rows:
        rng = "" if r["mpps_min"] is None else "%.2f-%.2f" % (r["mpps_min"], r["mpps_max"])
        L.append("| %s | %s | %s | %s | %d | %d | %s | %s | %.3f | %s | %.0f %% | %.0f | %.0f |"
                 " %.0f | %.0f | %s | %s | %.2f | %.1f |" % (
                     r["group"], r["dir"], r["suite"], r["size"], r["flows"], r["sas"],
                     "on" if r["latch"] else "off", r["mode"], r["mpps"], rng,
                     100 * r.get("busy", 1), r["cycles"],
                     r["crypto_cycles"], r["io_cycles"], r["tax"], fmt(r.get("floor_cycles"), 0),
                     fmt(r.get("tax_floor"), 0), r["vs_crypto"], r["io_mpps"]))
    L.append("\n![Mpps against frame size](BENCHMARKS.png)\n")
    L.append("## Targets\n")
    L.append("| target | measured | met |")
    L.append("|---|---|---|")
    for r in pick(rows, group="main") + pick(rows, group="lookaside"):
        if r["suite"] in ("aes128gcm", "aes128cbc-sha1") and r["size"] in ("64", "1420"):
            L.append("| IPsec tax <= 70 cycles, %s %s %s B, %s | %.0f cycles (over the floor:"
                     " %s) | %s |" % (
                         r["dir"], r["suite"], r["size"], r["mode"], r["tax"],
                         fmt(r.get("tax_floor"), 0), "yes" if r["tax"] <= 70 else
                         "no (%.0f over)" % (r["tax"] - 70)))

    def spread(r):
        return 0 if r["mpps_min"] is None else 1 - r["mpps_min"] / r["mpps_max"]

    def ratio(a, b, what, target):
        if a and b and max(spread(a[0]), spread(b[0])) > SPREAD_MAX:
            # The flowgen-through-memif source runs in a fast and a slow
            # mode on this machine (full bursts either way): a median of
            # three can land in either, and a ratio of two then says
            # nothing.
            L.append("| %s >= %.2f | %.3f, but the cells' repetitions span %.2f-%.2f and"
                     " %.2f-%.2f Mpps | not established |" % (
                         what, target, a[0]["mpps"] / b[0]["mpps"], a[0]["mpps_min"],
                         a[0]["mpps_max"], b[0]["mpps_min"], b[0]["mpps_max"]))
        elif a and b and min(a[0].get("busy", 1), b[0].get("busy", 1)) < BUSY_MIN:
            L.append("| %s >= %.2f | the source limited the rate (receive bursts %.0f %% and"
                     " %.0f %% full) | not measured |" % (
                         what, target, 100 * a[0]["busy"], 100 * b[0]["busy"]))
        elif a and b:
            x = a[0]["mpps"] / b[0]["mpps"]
            L.append("| %s >= %.2f | %.3f | %s |" % (what, target, x,
                                                   "yes" if x >= target else "no"))
    g = dict(suite="aes128gcm", size="64", sas=1, mode="direct")
    for dr in ("outbound", "inbound"):
        ratio(pick(rows, group="main", dir=dr, **g), pick(rows, group="latch-off", dir=dr, **g),
              "latching on / off, %s 64 B" % dr, 0.98)
    ratio(pick(rows, group="flows", latch=True,
               flows=max((r["flows"] for r in pick(rows, group="flows")), default=0), **g),
          pick(rows, group="flows", flows=1, **g),
          "most flows / 1 flow (%s flows)" % max((r["flows"] for r in pick(rows, group="flows")),
                                                 default=0), 0.90)
    big = max((r["flows"] for r in pick(rows, group="flows")), default=0)
    ratio(pick(rows, group="flows", latch=True, flows=big, **g),
          pick(rows, group="flows", latch=False, flows=big, **g),
          "latching on / off at %d flows (the same traffic)" % big, 0.90)
    ratio(pick(rows, group="sas", dir="outbound", suite="aes128gcm", size="64", sas=1000),
          pick(rows, group="main", dir="outbound", **g), "1,000 SAs / 1 SA (1,000 flows)", 0.85)
    ratio(pick(rows, group="sas", dir="outbound", suite="aes128gcm", size="64", sas=100000),
          pick(rows, group="sas", dir="outbound", suite="aes128gcm", size="64", sas=1,
               flows=100000), "100,000 SAs / 1 SA (100,000 flows)", 0.85)
    for x in latch:
        if x["test"] == "lookup" and x["entries"] == 1000000:
            L.append("| latch bulk lookups >= 1.0 x rte_hash at 1 M | %.3f | %s |" % (
                x["ratio"], "yes" if x["ratio"] >= 1.0 else "no"))
        if x["test"] == "churn":
            L.append("| reader slowdown under 100 k/s churn <= 10 %% | %.1f %% | %s |" % (
                x["slowdown_pct"], "yes" if x["slowdown_pct"] <= 10 else "no"))
    if rekey and "error" in rekey:
        L.append("| 10,000 congruent SA replaces a second under 80 %% of the maximum load lose"
                 " no packet | the run failed: %s | not measured |" % rekey["error"].replace(
                     "|", "/").replace("\n", " "))
    elif rekey:
        L.append("| 10,000 congruent SA replaces a second under 80 %% of the maximum load lose"
                 " no packet | %d replaces at %.0f a second under %.2f Mpps (%.0f %% of %.2f, 64"
                 " B, encrypt + decrypt loop): %d of %d frames lost; replace -> published"
                 " median %.0f us, p99 %.0f us | %s |" % (
                     rekey["replaces"], rekey["rate"], rekey["paced_pps"] / 1e6,
                     100 * rekey["paced_pps"] / rekey["max_pps"], rekey["max_pps"] / 1e6,
                     rekey["lost"], rekey["sent"], rekey["median_us"], rekey["p99_us"],
                     "yes" if rekey["lost"] == 0 and rekey["rate"] >= 9900 else "no"))
    elif rekey is not None:
        L.append("| 10,000 congruent SA replaces a second under 80 % of the maximum load lose"
                 " no packet | no run held the load (test_rekey part 3) | not measured |")
    L.append("\n## Reading the results\n")

    def cyc(**kw):
        r = pick(rows, **kw)
        return r[0]["cycles"] if r else None
    on = cyc(group="main", dir="outbound", **g)
    off = cyc(group="latch-off", dir="outbound", **g)
    if on and off:
        L.append("- Latching (lookup, check, flow cache) costs %.0f cycles a packet outbound at"
                 " 1,000 flows (%.0f on, %.0f off); inbound %.0f." % (
                     on - off, on, off, (cyc(group="main", dir="inbound", **g) or 0) -
                     (cyc(group="latch-off", dir="inbound", **g) or 0)))
    b_on = cyc(group="flows", latch=True, flows=big, **g)
    b_off = cyc(group="flows", latch=False, flows=big, **g)
    one = cyc(group="flows", flows=1, **g)
    if b_on and b_off and one:
        L.append("- The flows group's traffic comes from dpdk-testpmd flowgen through a memif"
                 " (lcore 0, shared with the control thread), not from a capture. At %d flows a"
                 " packet costs %.0f cycles latched and %.0f unlatched, against %.0f for one"
                 " flow: latching costs %.0f cycles there (the table no longer fits in the"
                 " caches: a tag line per candidate bucket and the entry line per lookup,"
                 " the entry written back), the rest is the flows"
                 " themselves (flow cache misses in the SPD stage, the routing of cold"
                 " headers)." % (big, b_on, b_off, one, b_on - b_off))
    sa1 = pick(rows, group="sas", dir="outbound", suite="aes128gcm", size="64", sas=1000)
    if sa1 and on:
        L.append("- 1,000 SAs (one policy each, every burst spread over all of them) cost %.0f"
                 " cycles against %.0f with one: bursts split into runs of one SA each (one"
                 " ESP call per run) and the SAs' state leaves the caches." % (
                     sa1[0]["cycles"], on))
    for dr in ("outbound", "inbound"):
        cpu = cyc(group="cpu", dir=dr, **dict(g, mode="cpu"))
        la = cyc(group="lookaside", dir=dr, **dict(g, mode="lookaside"))
        dc = cyc(group="main", dir=dr, **g)
        if cpu and la and dc:
            L.append("- AES-128-GCM 64 B %s by crypto.mode: direct %.0f, cpu (the PMD's"
                     " synchronous cpu-crypto API and librte_ipsec) %.0f, lookaside"
                     " (rte_cryptodev) %.0f cycles a packet." % (dr, dc, cpu, la))
    L.append("- Inbound figures are derived (loop minus outbound of the same cell), so their"
             " noise is that of two cells; an inbound tax near zero or below says the loop's"
             " second pass was cheaper than the references predict, not that it was free.")
    L.append("- CBC+HMAC with IMIX costs more per packet than the sizes it mixes: IPsec-MB"
             " runs CBC encryption and HMAC in parallel lanes, and a burst of mixed lengths"
             " keeps lanes waiting for its longest job; crypto-perf measures each size alone.")
    if latch:
        L.append("\n## Latch table microbenchmark\n")
        L.append("`test/bench/bench_latch`: bulk lookups of 32 random present keys, each"
                 " built in a burst buffer as a worker builds it from headers; the latch"
                 " table (our own: the entry line holds an IPv4 key, 16-bit tags filter"
                 " first; lookup + entry state) against a plain `rte_hash` with"
                 " RW_CONCURRENCY_LF (lookup_bulk_data + the record it points at).\n")
        L.append("| entries | latch M lookups/s | rte_hash M lookups/s | latch cycles |"
                 " rte_hash cycles | ratio |")
        L.append("|---:|---:|---:|---:|---:|---:|")
        for x in latch:
            if x["test"] == "lookup":
                L.append("| %d | %.2f | %.2f | %.1f | %.1f | %.3f |" % (
                    x["entries"], x["latch_mlps"], x["rte_hash_mlps"], x["latch_cycles"],
                    x["rte_hash_cycles"], x["ratio"]))
        for x in latch:
            if x["test"] == "churn":
                L.append("\nReader at %d entries: %.2f M lookups/s alone, %.2f M/s while"
                         " another lcore does %.0f inserts and as many deletes a second (%.1f %%"
                         " slower).\n" % (x["entries"], x["reader_alone_mlps"],
                                         x["reader_churn_mlps"], x["writer_ops_per_s"] / 2,
                                         x["slowdown_pct"]))
    with open(os.path.join(ROOT, "BENCHMARKS.md"), "w") as f:
        f.write("\n".join(L) + "\n")
    print("bench: wrote BENCHMARKS.md and BENCHMARKS.png")


def ab(args):
    """Before/after of one change: the same cell, builds (BUILD[@MODE[@nolatch]],
    MODE a crypto.mode, lookaside by default) alternating, --runs times each;
    medians of worker cycles per packet (inbound: the loop, both passes)."""
    global GW
    runs = args.ab.split(",")
    dr, suite, size, flows, *more = args.cell.split(":")
    cell = dict(flows=int(flows), sas=int(more[0]) if more else 1,
                latch="nolatch" not in more[1:], mode="lookaside", dir=dr, suite=suite,
                size=size, gen="gen" in more[1:])
    d = tempfile.mkdtemp(prefix="lgbench-ab-")
    res = {r: [] for r in runs}
    for _ in range(args.runs):
        for r in runs:
            b, *opt = r.split("@")
            GW = os.path.join(b, "latchgate")
            res[r].append(run_cell(d, dict(cell, mode=opt[0] if opt and opt[0] else "lookaside",
                                           latch=cell["latch"] and "nolatch" not in opt[1:]),
                                   args)[1])
    subprocess.run(["rm", "-rf", d])
    for r in runs:
        print("%-30s median %6.0f cycles/packet  (%s)" % (
            r, statistics.median(res[r]), " ".join("%.0f" % x for x in res[r])))
    return 0


def fmt(x, p=2):
    return "-" if x is None else ("%.*f" % (p, x))


def print_table(rows, tsc):
    print("latchgate, 1 worker lcore, TSC %.2f GHz; medians; cycles per packet" % (tsc / 1e9))
    print("%-9s %-8s %-16s %-5s %7s %4s %-5s %-9s %7s %-15s %4s %6s %6s %5s %6s %6s %6s %7s %7s"
          % ("group", "dir", "suite", "size", "flows", "sas", "latch", "mode", "Mpps",
             "(min-max)", "busy", "cyc", "crypto", "io", "tax", "floor", "tax/fl", "x crypto",
             "io Mpps"))
    for r in rows:
        rng = "" if r["mpps_min"] is None else "(%.2f-%.2f)" % (r["mpps_min"], r["mpps_max"])
        print("%-9s %-8s %-16s %-5s %7d %4d %-5s %-9s %7.3f %-15s %3.0f%% %6.0f %6.0f %5.0f %6.0f"
              " %6s %6s %7.2f %7.1f" % (r["group"], r["dir"], r["suite"], r["size"], r["flows"],
                                         r["sas"], "on" if r["latch"] else "off", r["mode"],
                                         r["mpps"], rng, 100 * r.get("busy", 1), r["cycles"],
                                         r["crypto_cycles"], r["io_cycles"], r["tax"],
                                         fmt(r.get("floor_cycles"), 0), fmt(r.get("tax_floor"), 0),
                                         r["vs_crypto"], r["io_mpps"]))


if __name__ == "__main__":
    sys.exit(main())
