import os, sys, subprocess, json, shutil, signal, time
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
os.environ.setdefault("LG_NO_REEXEC", "1")
import esp
from esp import *
from scapy.all import Ether, IP, IPv6, UDP, TCP, ICMP, Raw, IPv6ExtHdrFragment, IPv6ExtHdrDestOpt, wrpcap, rdpcap

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
LG = os.path.join(ROOT, os.environ.get("LG_BUILD_DIR", "build"), "latchgate")

BASE = """\
ports:
  - {{ name: lan, role: protected,   device: "net_pcap0,rx_pcap={d}/lan_in.pcap,tx_pcap={d}/lan_out.pcap", address: [192.168.1.254, "2001:db8:1::fe"], mac: "02:00:00:00:01:01" }}
  - {{ name: wan, role: unprotected, device: "net_pcap1,rx_pcap={d}/wan_in.pcap,tx_pcap={d}/wan_out.pcap", address: [172.16.1.5, "2001:db8:ff::5"], mac: "02:00:00:00:02:01" }}
crypto: {{ devices: [crypto_aesni_gcm0], mode: {mode} }}
peers:
  - {{ name: site-b, id: "fqdn:gw-b.example.net", address: 172.16.2.5 }}
sas:
  - name: to-b
    direction: outbound
    spi: 0x1000
    peer: site-b
    local: 172.16.1.5
    remote: 172.16.2.5
    aead: {{ algorithm: aes-128-gcm, key: "0x{key}", salt: "0x{salt}" }}
  - name: from-b
    direction: inbound
    spi: 0x2000
    peer: site-b
    local: 172.16.1.5
    remote: 172.16.2.5
    aead: {{ algorithm: aes-128-gcm, key: "0x{key}", salt: "0x{salt}" }}
    replay_window: 1024
policies:
{policies}
routes:
{routes}
control: {{ socket: {d}/control.sock }}
"""
KEY = bytes(range(16)); SALT = b"\x01\x02\x03\x04"
IN_SA = esp.Sa(0x2000, "aes-128-gcm", KEY, SALT, "172.16.2.5", "172.16.1.5")
OUT_SA = esp.Sa(0x1000, "aes-128-gcm", KEY, SALT, "172.16.1.5", "172.16.2.5")
DEF_POL = """\
  - { name: ike-in,   direction: inbound,  priority: 1,  proto: udp, dport: [500, 4500], action: bypass }
  - { name: ike-out,  direction: outbound, priority: 1,  proto: udp, dport: [500, 4500], action: bypass }
  - { name: lan-to-b, direction: outbound, priority: 10, src: 192.168.1.0/24, dst: 192.168.2.0/24, action: protect, sa: to-b }
  - { name: b-to-lan, direction: inbound,  priority: 10, src: 192.168.2.0/24, dst: 192.168.1.0/24, action: protect, sa: from-b }"""
DEF_RT = """\
  - { dst: 172.16.2.0/24, port: wan, next_hop_mac: "02:00:00:00:02:0a" }
  - { dst: 192.168.1.0/24, port: lan, next_hop_mac: "02:00:00:00:01:0a" }
  - { dst: "2001:db8:1::/64", port: lan, next_hop_mac: "02:00:00:00:01:0a" }"""

def run(name, lan_in=(), wan_in=(), policies=DEF_POL, routes=DEF_RT, mode="lookaside", timeout=30, lcores="0-1"):
    d = os.path.join(os.environ.get("TMPDIR", "/tmp"), "lgreview-%d-%s" % (os.getpid(), name))
    shutil.rmtree(d, ignore_errors=True); os.makedirs(d)
    open(d + "/cfg.yaml", "w").write(BASE.format(d=d, mode=mode, key=KEY.hex(), salt=SALT.hex(), policies=policies, routes=routes))
    esp.write_pcap(d + "/lan_in.pcap", list(lan_in))
    esp.write_pcap(d + "/wan_in.pcap", list(wan_in))
    cmd = [LG, "-l", lcores, "-n", "1", "--in-memory", "--no-pci", "--log-level=*:notice",
           "--file-prefix", "rv-" + name, "--", "--config", d + "/cfg.yaml", "--stats-json", d + "/stats.json", "--exit-on-idle", "300"]
    t0 = time.time()
    p = subprocess.Popen(cmd, stdout=open(d+"/stdout.txt","wb"), stderr=open(d+"/stderr.txt","wb"), start_new_session=True)
    try:
        rc = p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL); p.wait(); rc = "TIMEOUT"
    dt = time.time() - t0
    res = {"rc": rc, "secs": round(dt, 1)}
    for s in ("lan_out", "wan_out"):
        # None, not []: a missing output must not read as "nothing sent"
        try: res[s] = [bytes(x) for x in rdpcap(d + "/%s.pcap" % s)]
        except Exception: res[s] = None
    try:
        st = json.load(open(d + "/stats.json"))
        res["stats"] = st
    except Exception: res["stats"] = None
    return res

def drops(res):
    st = res["stats"]
    if not st: return None
    dd = st.get("drops", st)
    if isinstance(dd, dict):
        return {k: v for k, v in dd.items() if isinstance(v, int) and v}
    return dd

def report(res):
    """The line test_review.py judges: exit code, frames out per port (None
    when the output is missing), every non-zero drop counter."""
    print("result:", json.dumps({"rc": res["rc"],
                                 "lan_out": None if res["lan_out"] is None else len(res["lan_out"]),
                                 "wan_out": None if res["wan_out"] is None else len(res["wan_out"]),
                                 "drops": drops(res)}))
