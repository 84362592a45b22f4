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
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List

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
                 "spd_protect_clear", "spd_no_match", "spd_discard")

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
policies:
  - {{ name: lan-to-b, direction: outbound, priority: 10, src: {lan_net}, dst: {remote_net}, action: protect, sa: to-b }}
  - {{ name: b-to-lan, direction: inbound,  priority: 10, src: {remote_net}, dst: {lan_net}, action: protect, sa: from-b }}
routes:
  - {{ dst: 172.16.2.0/24,  port: wan, next_hop_mac: "{wan_nh}" }}
  - {{ dst: {lan_net}, port: lan, next_hop_mac: "{lan_nh}" }}
control: {{ socket: {d}/control.sock }}
"""


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


def lan_frame(inner):
    """What a forwarded inbound inner packet looks like on lan_out."""
    mac = lambda m: bytes.fromhex(m.replace(":", ""))
    return mac(LAN_HOST_MAC) + mac(LAN_GW_MAC) + b"\x08\x00" + esp.ttl_aside(inner)


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


def plain_out(case, n):
    return esp.make_plain(n, flows=16, src_net=LAN_NET, dst_net=REMOTE_NET,
                          eth_src=LAN_HOST_MAC, eth_dst=LAN_GW_MAC, seed=seed_of(case, "lan"))


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


def _frame_name(f):
    try:
        idx = esp.packet_index(f[14:])
    except esp.EspError:
        idx = None
    return "input packet %d" % idx if idx is not None else "an unknown packet"


def check_lan_out(scen, got, fail):
    """lan_out must be exactly scen.lan_out, in order."""
    want = scen.lan_out
    if got == want:
        return
    leaked = {lan_frame(b.inner): b.why for b in scen.bad if b.inner is not None}
    allowed = collections.Counter(want)
    seen = collections.Counter()
    msgs = []
    for k, g in enumerate(got):
        seen[g] += 1
        if g in leaked and seen[g] > allowed[g]:
            msgs.append("frame %d is a bad packet (%s)" % (k, leaked[g]))
    fail.some("lan_out leaked", msgs)
    if len(got) != len(want):
        fail("lan_out has %d frames, expected %d" % (len(got), len(want)))
    if sorted(got) == sorted(want):
        first = next(k for k, (a, b) in enumerate(zip(got, want)) if a != b)
        fail("lan_out has the expected frames in another order (first at %d)" % first)
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
        extra += ["frame %d (%s)" % (j, _frame_name(got[j])) for j in range(j1, j2)
                  if got[j] not in leaked]
    fail.some("lan_out differs", diffs)
    fail.some("lan_out lacks", missing)
    fail.some("lan_out has unexpected", extra)


def check_wan_out(case, scen, got, fail):
    out_sa, _ = sas_for(case)
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
    (d / "latchgate.yaml").write_text(CONFIG.format(
        case=case.name, d=d, lan_mac=LAN_GW_MAC, wan_mac=WAN_GW_MAC, wan_ip=WAN_GW_IP,
        peer_ip=PEER_IP, device=case.device, mode=case.mode,
        out_spi=out_sa.spi, in_spi=in_sa.spi, out_aead=out_sa.yaml_aead(),
        in_aead=in_sa.yaml_aead(), window=REPLAY_WINDOW, lan_net=LAN_NET,
        remote_net=REMOTE_NET, wan_nh=WAN_PEER_MAC, lan_nh=LAN_HOST_MAC))
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
