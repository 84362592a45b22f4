#!/usr/bin/python3
"""The process and the control socket: a running gateway on virtual ports
(LAN: a looping pcap, WAN: a ring loopback) answered over its Unix socket by
a real latchctl; bad requests get error replies and change nothing; a client
of another uid is refused; SIGTERM drains and exits 0; no key material in any
output. Prints one line per case and 'N passed, M failed'."""
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("LG_BUILD_DIR", os.path.join(ROOT, "build"))
GW = os.path.join(BUILD, "latchgate")
CTL = os.path.join(BUILD, "latchctl")
KEY = "0x3f1e5a7c9b2d4e6f8a0c1b3d5e7f9a2c"
SALT = "0x5eed1234"
# An SA that carries no traffic: its keys must not show up anywhere either.
CBC_KEY = "0x8c2e4a6f0b1d3e5f7a9c2b4d6e8f0a1c3e5f7a9b1d3c5e7f9a0b2c4d6e8f0a13"
HMAC_KEY = "0x5a3c1e9f7b5d3a1c9e7f5b3d1a9c7e5f3b1d9a7c5e3f1b9d7a5c3e1f9b7d5a3c"
CTR_NONCE = "0x7e1d2c3b"

CONF = """
ports:
  - {{ name: lan, role: protected, device: "net_pcap0,rx_pcap={d}/lan.pcap,infinite_rx=1", address: 192.168.1.254, mac: "02:00:00:00:01:01" }}
  - {{ name: wan, role: unprotected, device: "net_ring0", address: [172.16.1.5, 172.16.2.5], mac: "02:00:00:00:02:01" }}
crypto: {{ devices: [crypto_aesni_mb0], mode: cpu }}
peers: [{{ name: site-b, id: "fqdn:gw-b.example.net" }}]
sas:
  - {{ name: to-b, direction: outbound, spi: 0x1000, peer: site-b, local: 172.16.1.5, remote: 172.16.2.5,
      aead: {{ algorithm: aes-128-gcm, key: "{key}", salt: "{salt}" }} }}
  - {{ name: from-b, direction: inbound, spi: 0x1000, peer: site-b, local: 172.16.2.5, remote: 172.16.1.5,
      aead: {{ algorithm: aes-128-gcm, key: "{key}", salt: "{salt}" }} }}
  - {{ name: spare, direction: outbound, spi: 0x3000, peer: site-b, local: 172.16.1.5, remote: 172.16.2.6,
      cipher: {{ algorithm: aes-256-cbc, key: "{cbc}" }}, auth: {{ algorithm: hmac-sha256-128, key: "{hmac}" }} }}
  - {{ name: spare-ctr, direction: inbound, spi: 0x3001, peer: site-b, local: 172.16.1.5, remote: 172.16.2.6,
      cipher: {{ algorithm: aes-128-ctr, key: "{key}", nonce: "{nonce}" }}, auth: {{ algorithm: hmac-sha256-128, key: "{hmac}" }} }}
policies:
  - {{ name: out, direction: outbound, priority: 10, src: 192.168.1.0/24, dst: 192.168.2.0/24, action: protect, sa: to-b }}
  - {{ name: in, direction: inbound, priority: 10, src: 192.168.1.0/24, dst: 192.168.2.0/24, action: protect, sa: from-b }}
routes:
  - {{ dst: 172.16.2.0/24, port: wan, next_hop_mac: "02:00:00:00:02:01" }}
  - {{ dst: 192.168.2.0/24, port: lan, next_hop_mac: "02:00:00:00:01:0a" }}
control: {{ socket: {d}/ctl.sock }}
"""

results = []


def check(name, ok, why=""):
    results.append(ok)
    print("%s %s%s" % ("PASS" if ok else "FAIL", name, "" if ok else ": " + why))
    sys.stdout.flush()


def request(sock_path, data, timeout=5.0):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(sock_path)
    try:
        s.sendall(data)
    except BrokenPipeError:
        pass   # refused at accept: the reply is already waiting
    buf = b""
    while not buf.endswith(b"\n"):
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
    s.close()
    return buf.decode()


def ctl(sock, *args):
    return subprocess.run([CTL, "-s", sock] + list(args), capture_output=True, text=True, timeout=10)


def stats(sock):
    r = ctl(sock, "--json", "stats")
    return json.loads(r.stdout)["stats"]


def as_other_uid(sock_path, data=b'{"op":"stats"}\n'):
    """Connect as uid 65534 (the socket is opened up for this test only) and
    return the reply, or the error."""
    rd, wr = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(rd)
        try:
            os.setgid(65534)
            os.setuid(65534)
            out = request(sock_path, data)
        except Exception as e:  # noqa: BLE001 - report any failure to the parent
            out = "error: %s" % e
        os.write(wr, out.encode()[:4096])
        os._exit(0)
    os.close(wr)
    out = os.read(rd, 4096).decode()
    os.waitpid(pid, 0)
    return out


def main():
    from scapy.all import IP, UDP, Ether, Raw, wrpcap
    d = tempfile.mkdtemp(prefix="lgctl-")
    os.chmod(d, 0o755)   # the other-uid client must reach the socket
    wrpcap(os.path.join(d, "lan.pcap"),
           [Ether(src="02:00:00:00:01:0a", dst="02:00:00:00:01:01") /
            IP(src="192.168.1.%d" % (i + 1), dst="192.168.2.1") / UDP(sport=1000 + i, dport=9) /
            Raw(bytes(100)) for i in range(64)])
    conf = os.path.join(d, "gw.yaml")
    with open(conf, "w") as f:
        f.write(CONF.format(d=d, key=KEY, salt=SALT, cbc=CBC_KEY, hmac=HMAC_KEY, nonce=CTR_NONCE))
    sock = os.path.join(d, "ctl.sock")
    cmd = [GW, "-l", "0-1", "-n", "1", "--in-memory", "--no-pci", "--file-prefix",
           "lgctl-%d" % os.getpid(), "--log-level", "*:notice", "--",
           "--config", conf, "--stats-json", os.path.join(d, "stats.json"), "--stats-period", "1"]
    gw = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    outputs = []
    try:
        for _ in range(100):
            if os.path.exists(sock):
                break
            time.sleep(0.1)
        check("control socket exists with mode 0600", os.path.exists(sock) and
              (os.stat(sock).st_mode & 0o777) == 0o600,
              "missing or mode %o" % (os.stat(sock).st_mode & 0o777 if os.path.exists(sock) else 0))
        time.sleep(1)

        r = ctl(sock, "version")
        outputs.append(r.stdout + r.stderr)
        check("latchctl version", r.returncode == 0 and "version: 0.1.0" in r.stdout, r.stdout + r.stderr)

        r = ctl(sock, "stats")
        outputs.append(r.stdout + r.stderr)
        check("latchctl stats (human)", r.returncode == 0 and "packets:" in r.stdout and
              "to-b" in r.stdout, r.stdout[:400] + r.stderr)

        s1 = stats(sock)
        sa = {x["name"]: x for x in s1["sas"]}
        check("latchctl --json stats: traffic both ways",
              sa["to-b"]["packets"] > 0 and sa["from-b"]["packets"] > 0, str(sa))

        r = ctl(sock, "--json", "latches")
        outputs.append(r.stdout)
        try:
            lat = json.loads(r.stdout)
        except ValueError:
            lat = {}
        ls = lat.get("latches", [])
        check("latchctl latches: one ESTABLISHED latch per flow, with SA and peer",
              r.returncode == 0 and lat.get("count") == 64 and len(ls) == 64 and
              all(x["state"] == "ESTABLISHED" and x["sa"] == "to-b" and
                  x["peer_id"] == "fqdn:gw-b.example.net" for x in ls),
              "count %s, states %s, sas %s" % (lat.get("count"), sorted(set(x["state"] for x in ls)),
                                               sorted(set(x["sa"] for x in ls))))
        if len(ls) > 1:
            x = ls[1]
            r1 = ctl(sock, "--json", "latch-show", str(x["id"]))
            # by its flow, written in the reply's direction (b -> a)
            r2 = ctl(sock, "--json", "latch-show", "udp", x["b"], str(x["b_port"]), x["a"],
                     str(x["a_port"]))
            r3 = ctl(sock, "--json", "latch-show", "udp", x["b"], "1", x["a"], "2")
            outputs += [r1.stdout, r2.stdout]
            try:
                s1, s2 = json.loads(r1.stdout)["latch"], json.loads(r2.stdout)["latch"]
            except (ValueError, KeyError):
                s1, s2 = {}, {}
            check("latch-show by id and by 5-tuple (either direction) find the same latch",
                  s1.get("id") == x["id"] and s2.get("id") == x["id"] and
                  s2.get("a") == x["a"] and r3.returncode == 1 and "no latch" in r3.stdout,
                  "%r %r %r" % (r1.stdout[:150], r2.stdout[:150], r3.stdout[:150]))
        else:
            check("latch-show by id and by 5-tuple (either direction) find the same latch",
                  False, "no latches listed")
        r = ctl(sock, "latches", "2")
        outputs.append(r.stdout)
        check("latchctl latches LIMIT (human)", r.returncode == 0 and r.stdout.count("state:") == 2
              and "count: 2" in r.stdout, r.stdout[:300])
        if ls:
            mon = subprocess.Popen([CTL, "-s", sock, "--json", "monitor", "1"],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            time.sleep(0.5)   # subscribed before the close
            r = ctl(sock, "--json", "latch-close", str(ls[0]["id"]))
            outputs.append(r.stdout)
            check("item 27: latch-close closes with reason ADMIN",
                  r.returncode == 0 and '"reason":"ADMIN"' in r.stdout and
                  '"old_state":"ESTABLISHED"' in r.stdout, r.stdout + r.stderr)
            try:
                mout, merr = mon.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                mon.kill()
                mout, merr = mon.communicate()
            outputs.append(mout)
            try:
                ev = json.loads(mout.splitlines()[0])
            except (ValueError, IndexError):
                ev = {}
            check("latchctl monitor receives the close as one event line",
                  mon.returncode == 0 and ev.get("event") == "latch" and
                  ev.get("reason") == "ADMIN" and ev.get("new_state") == "CLOSED" and
                  ev.get("latch_id") == ls[0]["id"] and ev.get("latched", {}).get("sa") == "to-b",
                  "rc %s: %r %r" % (mon.returncode, mout[:300], merr[:200]))
            # The flow keeps sending (looping capture): its next packet
            # latches it anew once the closed latch is gone.
            x = ls[0]
            time.sleep(0.5)
            r = ctl(sock, "--json", "latch-show", "udp", x["a"], str(x["a_port"]), x["b"],
                    str(x["b_port"]))
            outputs.append(r.stdout)
            try:
                again = json.loads(r.stdout)["latch"]
            except (ValueError, KeyError):
                again = {}
            check("after latch-close the flow's next packet latches it anew",
                  again.get("state") == "ESTABLISHED" and
                  again.get("peer_id") == "fqdn:gw-b.example.net", r.stdout[:200])
        else:
            check("item 27: latch-close closes with reason ADMIN", False, "no latches listed")
        r = ctl(sock, "--json", "latch-close", "4000000000")
        check("latch-close of no latch is an error", r.returncode == 1 and '"ok":false' in r.stdout,
              r.stdout + r.stderr)
        r = ctl(sock, "latch-close", "x1")
        check("latch-close with a bad id is refused by latchctl", r.returncode == 2, r.stderr)

        r = subprocess.run([CTL, "--help"], capture_output=True, text=True)
        check("latchctl --help", r.returncode == 0 and "stats" in r.stdout and "version" in r.stdout, r.stderr)

        r = ctl(sock, "frobnicate")
        check("latchctl unknown command is refused", r.returncode == 2 and "unknown command" in r.stderr,
              r.stderr)

        bad = [
            ("malformed JSON", b"this is not json\n", "malformed request"),
            ("JSON without op", b'{"stats": 1}\n', "malformed request"),
            ("unknown op", b'{"op":"reboot"}\n', "unknown op"),
            ("op of the wrong type", b'{"op": 5}\n', "malformed request"),
            ("oversized request", b"{" + b"x" * 70000 + b"}\n", "request too long"),
            ("truncated JSON", b'{"op":"stats"\n', "malformed request: expected ',' or '}' at byte 13"),
            ("trailing garbage", b'{"op":"stats"} x\n', "malformed request: trailing characters"),
            ("duplicate member", b'{"op":"stats","op":"version"}\n', "duplicate member name"),
            ("unknown member", b'{"op":"stats","verbose":true}\n', "unknown member for op stats"),
            ("bad id type", b'{"op":"latch-close","id":"7"}\n', "latch-close: expected"),
        ]
        # Runtime SA and policy operations that must be refused whole.
        sa_base = {"name": "x", "direction": "outbound", "spi": 0x5000, "peer": "site-b",
                   "local": "172.16.1.5", "remote": "172.16.2.5"}
        gcm = {"algorithm": "aes-128-gcm", "key": KEY, "salt": SALT}

        def op(o):
            return (json.dumps(o) + "\n").encode()

        bad += [
            ("SA with NULL encryption and NULL integrity",
             op({"op": "sa-add", "sa": dict(sa_base, cipher={"algorithm": "null"},
                                            auth={"algorithm": "null"})}),
             "NULL encryption with NULL integrity is refused"),
            ("SA with a 15-byte AES-128 key",
             op({"op": "sa-replace", "sa": dict(sa_base, name="to-b", aead=dict(
                 gcm, key="0x" + "11" * 15))}),
             "key 'key': expected 16 bytes"),
            ("replace of an unknown SA", op({"op": "sa-replace", "sa": dict(sa_base, aead=gcm)}),
             "unknown SA 'x'"),
            ("SA for an unknown peer", op({"op": "sa-add", "sa": dict(sa_base, peer="nobody",
                                                                       aead=gcm)}),
             "unknown peer 'nobody'"),
            ("SA that is not an object", b'{"op":"sa-add","sa":5}\n',
             "missing or invalid member: sa"),
            ("delete of an SA a policy uses", op({"op": "sa-delete", "name": "to-b"}),
             "used by policy 'out'"),
            ("policy overlapping at equal priority",
             op({"op": "policy-add", "policy": {"name": "p", "direction": "outbound",
                                                "priority": 10, "src": "192.168.1.0/24",
                                                "dst": "192.168.2.0/25", "action": "discard"}}),
             "overlaps policy 'out'"),
            ("policy naming an SA of the other direction",
             op({"op": "policy-replace", "policy": {"name": "out", "direction": "outbound",
                                                    "priority": 10, "src": "192.168.1.0/24",
                                                    "dst": "192.168.2.0/24", "action": "protect",
                                                    "sa": "from-b"}}),
             "expected an outbound SA"),
        ]
        changes0 = stats(sock)["latch"]["changes"]
        sas0 = [(x["name"], x["spi"]) for x in stats(sock)["sas"]]
        for name, data, want in bad:
            rep = request(sock, data)
            outputs.append(rep)
            try:
                j = json.loads(rep)
                ok = j.get("ok") is False and want in j.get("error", "")
            except ValueError:
                ok = False
            check("bad request gets an error reply: " + name, ok, repr(rep[:200]))

        os.chmod(sock, 0o666)
        rep = as_other_uid(sock)
        rep2 = as_other_uid(sock, op({"op": "sa-replace", "sa": dict(sa_base, name="to-b",
                                                                     aead=gcm)}))
        os.chmod(sock, 0o600)
        check("client of another uid is refused", '"ok":false' in rep and "permission denied" in rep,
              repr(rep[:200]))
        outputs += [rep, rep2]
        check("an SA replace from another uid is refused", '"ok":false' in rep2 and
              "permission denied" in rep2, repr(rep2[:200]))
        s1 = stats(sock)
        check("nothing changed after the refused requests: same SAs and SPIs, no change applied",
              s1["latch"]["changes"] == changes0 and
              [(x["name"], x["spi"]) for x in s1["sas"]] == sas0 and s1["latch"]["breaks"] == 0,
              (s1["latch"], sas0))

        s2 = stats(sock)
        sa2 = {x["name"]: x for x in s2["sas"]}
        check("gateway keeps forwarding after bad requests",
              sa2["to-b"]["packets"] > sa["to-b"]["packets"] and
              sa2["from-b"]["packets"] > sa["from-b"]["packets"] and
              # the admin close above drops the few packets of that flow that
              # met the latch while it was being removed (latch_closing)
              not any(v for k, v in s2["drops"].items() if k != "latch_closing"),
              str({k: v for k, v in s2["drops"].items() if v}))
        outputs.append(json.dumps(s2))

        # reload: the file again; then with one policy more; then with a
        # port changed, which needs a restart and changes nothing.
        text = open(conf).read()
        r0 = json.loads(ctl(sock, "--json", "reload").stdout)
        with open(conf, "w") as f:
            f.write(text.replace("policies:\n", "policies:\n  - { name: no-host, direction: outbound,"
                                 " priority: 5, dst: 192.168.2.250, action: discard }\n"))
        r1 = json.loads(ctl(sock, "--json", "reload").stdout)
        with open(conf, "w") as f:
            f.write(text.replace("net_ring0", "net_ring1"))
        r2 = ctl(sock, "--json", "reload")
        with open(conf, "w") as f:
            f.write(text)
        r3 = json.loads(ctl(sock, "--json", "reload").stdout)
        outputs += [json.dumps(x) for x in (r0, r1, r3)] + [r2.stdout]
        check("reload: the running config's own file changes nothing; a policy added to it is"
              " applied; a port changed is refused (restart) and changes nothing",
              r0.get("ok") and not r0["spd_changed"] and r0["sas"] == {
                  "added": 0, "replaced": 0, "congruent": 0, "deleted": 0} and
              r1.get("ok") and r1["spd_changed"] and r1["broken"] == 0 and
              r2.returncode == 1 and "'ports' differs from the running config" in r2.stdout and
              r3.get("ok") and r3["spd_changed"] and stats(sock)["latch"]["changes"] == r3["change"],
              (r0, r1, r2.stdout, r3))
    finally:
        gw.send_signal(signal.SIGTERM)
        try:
            out, err = gw.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            gw.kill()
            out, err = gw.communicate()
    check("SIGTERM: workers drain, final stats, exit 0",
          gw.returncode == 0 and "final counters" in out, "rc %s: %s" % (gw.returncode, err[-500:]))
    try:
        fin = json.load(open(os.path.join(d, "stats.json")))
        check("no mbuf leak after the run", fin["mempools"][0]["in_use"] == 0, str(fin["mempools"]))
    except (OSError, ValueError) as e:
        check("no mbuf leak after the run", False, str(e))
    outputs += [out, err]
    blob = "\n".join(outputs).lower()
    secrets = (KEY, SALT, CBC_KEY, HMAC_KEY, CTR_NONCE)
    leaked = [k for k in secrets if k[2:] in blob or k[2:10] in blob]
    check("no key material in any output or reply", not leaked, "found %s" % leaked)
    check("control socket removed at exit", not os.path.exists(sock))
    # A config whose SPD order would be ambiguous is refused before EAL starts.
    bad = os.path.join(d, "tie.yaml")
    with open(bad, "w") as f:
        f.write(CONF.format(d=d, key=KEY, salt=SALT, cbc=CBC_KEY, hmac=HMAC_KEY, nonce=CTR_NONCE).replace(
            "  - { name: in,", "  - { name: tie, direction: outbound, priority: 10, src: 192.168.1.7,"
            " action: discard }\n  - { name: in,"))
    r = subprocess.run([GW, "--", "--config", bad, "--check-config"], capture_output=True, text=True)
    check("overlapping policies of equal priority are refused (exit 2, file:line:col)",
          r.returncode == 2 and "tie.yaml:" in r.stderr and "equal priority 10" in r.stderr,
          "rc %d: %s" % (r.returncode, r.stderr))
    subprocess.run(["rm", "-rf", d])
    failed = results.count(False)
    print("%d passed, %d failed" % (results.count(True), failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
