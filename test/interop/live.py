"""A running latchgate on two tap ports, driven packet by packet.

The LAN and WAN ports are net_tap devices: the test writes frames into the
kernel side of each tap (AF_PACKET) and reads what the gateway transmits
there, so packets can be sent before and after a runtime change of the same
process. A `latchctl monitor` client runs for the whole life of the gateway
and collects every notification line it receives.
"""
import json
import os
import select
import socket
import subprocess
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("LG_BUILD_DIR", os.path.join(ROOT, "build"))
GW = os.path.join(BUILD, "latchgate")
CTL = os.path.join(BUILD, "latchctl")
ETH_P_ALL = 3
PACKET_OUTGOING = 4


class Tap:
    """The kernel side of one net_tap port."""

    def __init__(self, name):
        self.name = name
        self.s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        self.s.bind((name, 0))
        self.s.setblocking(False)

    def send(self, frames):
        for f in frames:
            self.s.send(bytes(f))

    def recv(self, quiet=0.3, limit=5.0):
        """Frames the gateway sent, until none came for `quiet` seconds."""
        out, end = [], time.time() + limit
        while time.time() < end:
            r, _, _ = select.select([self.s], [], [], quiet)
            if not r:
                break
            while True:
                try:
                    d, a = self.s.recvfrom(65536)
                except BlockingIOError:
                    break
                if a[2] != PACKET_OUTGOING:     # not the kernel's own (or ours)
                    out.append(d)
        return out

    def drain(self):
        self.recv(quiet=0.05, limit=1.0)


class Monitor(threading.Thread):
    """A real `latchctl --json monitor` process; lines are kept in order."""

    def __init__(self, sock):
        super().__init__(daemon=True)
        self.p = subprocess.Popen([CTL, "-s", sock, "--json", "monitor"], stdout=subprocess.PIPE,
                                  text=True)
        self.lines = []
        self.times = []
        self.cv = threading.Condition()
        self.start()

    def run(self):
        for line in self.p.stdout:
            t = time.monotonic()
            with self.cv:
                try:
                    self.lines.append(json.loads(line))
                except ValueError:
                    self.lines.append({"unparsed": line})
                self.times.append(t)
                self.cv.notify_all()

    def wait_for(self, pred, start=0, timeout=3.0):
        """Index of the first line at or after `start` matching pred, or -1."""
        end = time.monotonic() + timeout
        with self.cv:
            while True:
                for i in range(start, len(self.lines)):
                    if pred(self.lines[i]):
                        return i
                left = end - time.monotonic()
                if left <= 0:
                    return -1
                self.cv.wait(left)

    def stop(self):
        self.p.terminate()
        self.p.wait()


class Gateway:
    def __init__(self, conf_fmt, tag, **kw):
        self.d = tempfile.mkdtemp(prefix="lglive-")
        self.sock = os.path.join(self.d, "ctl.sock")
        self.tag = tag
        self.lan_if, self.wan_if = "lg%sl%d" % (tag, os.getpid() % 1000), "lg%sw%d" % (tag, os.getpid() % 1000)
        self.conf = os.path.join(self.d, "gw.yaml")
        with open(self.conf, "w") as f:
            f.write(conf_fmt.format(lan_if=self.lan_if, wan_if=self.wan_if, sock=self.sock, **kw))
        self.stats_path = os.path.join(self.d, "s.json")
        self.log = open(os.path.join(self.d, "out.txt"), "w")
        self.p = subprocess.Popen(
            [GW, "-l", "0-1", "-n", "1", "--in-memory", "--no-pci", "--file-prefix",
             "lglive-%s-%d" % (tag, os.getpid()), "--log-level", "*:error", "--",
             "--config", self.conf, "--stats-json", self.stats_path],
            stdout=self.log, stderr=subprocess.STDOUT)
        end = time.time() + 20
        while not os.path.exists(self.sock):
            if self.p.poll() is not None or time.time() > end:
                raise RuntimeError("latchgate did not start: " + self.output())
            time.sleep(0.05)
        for ifname in (self.lan_if, self.wan_if):
            # The kernel's own IPv6 chatter would only add dropped noise.
            subprocess.run(["sysctl", "-qw", "net.ipv6.conf.%s.disable_ipv6=1" % ifname],
                           capture_output=True)
        self.lan, self.wan = Tap(self.lan_if), Tap(self.wan_if)
        self.mon = Monitor(self.sock)
        time.sleep(0.3)
        self.lan.drain()
        self.wan.drain()

    def request(self, obj):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(5)
        s.connect(self.sock)
        s.sendall((json.dumps(obj) + "\n").encode())
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(1 << 20)
            if not chunk:
                break
            data += chunk
        s.close()
        return json.loads(data)

    def stats(self):
        return self.request({"op": "stats"})["stats"]

    def output(self):
        self.log.flush()
        with open(os.path.join(self.d, "out.txt")) as f:
            return f.read()

    def stop(self):
        self.mon.stop()
        self.p.terminate()
        rc = self.p.wait(timeout=20)
        s = json.load(open(self.stats_path)) if os.path.exists(self.stats_path) else None
        return rc, s

    def cleanup(self):
        if os.environ.get("LG_KEEP"):
            print("kept " + self.d)
            return
        subprocess.run(["rm", "-rf", self.d])
