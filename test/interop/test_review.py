#!/usr/bin/python3
"""Regression tests for the packet-path review findings: each script in
review/ sends the input that once hung, leaked or misrouted, and its one
"result:" line (JSON) must show the fixed behaviour. Prints 'N passed, M failed'."""
import json
import os
import subprocess
import sys

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "review")
CASES = [
    # (name, argv, what its result line must hold: exact values; for drops,
    # the listed counters exactly, {} meaning no drop at all)
    ("255 bytes of padding, inner last byte non-zero: valid, no hang", ["e1_pad255.py", "nz"],
     {"rc": 0, "lan_out": 7, "drops": {}}),
    ("255 bytes of padding, inner last byte zero: valid, no hang", ["e1_pad255.py", "zero"],
     {"rc": 0, "lan_out": 7, "drops": {}}),
    ("IPv6 non-first fragment with a fake fragment header in its payload is not bypassed",
     ["e2_frag6.py"], {"rc": 0, "lan_out": 0}),
    ("packets to the gateway are not routed back; UDP 4500 fragments to it are esp_fragment",
     ["e3_tous.py"], {"rc": 0, "wan_out": 0, "drops": {"esp_fragment": 1, "to_us": 2}}),
    ("a dummy or bad-trailer copy is not decrypted again (window moved after the ICV)",
     ["e6_dummy.py"], {"rc": 0, "drops": {"esp_replay": 4, "esp_dummy": 1,
                                          "esp_bad_trailer": 1}}),
    ("decrypted traffic routed to the WAN does not leave in the clear (hub-and-spoke)",
     ["e7_hub.py"], {"rc": 0, "wan_out": 0, "drops": {"in_to_unprotected": 1}}),
    ("an IPv6 first fragment without the L4 header does not dodge a port-specific DISCARD",
     ["e8_tiny6.py"], {"rc": 0, "lan_out": 0}),
    ("a non-initial fragment of a port-specific PROTECT flow does not leave through a BYPASS",
     ["e9_fragleak.py"], {"rc": 0, "drops": {"spd_discard": 1}}),
]


def holds(res, want):
    for k, v in want.items():
        got = res.get(k)
        if k == "drops" and v:
            if not isinstance(got, dict) or any(got.get(c) != n for c, n in v.items()):
                return False
        elif got != v:
            return False
    return True

def main():
    ok = bad = 0
    for name, argv, want in CASES:
        r = subprocess.run(["/usr/bin/python3", os.path.join(HERE, argv[0])] + argv[1:],
                           capture_output=True, text=True, timeout=120, cwd=HERE)
        lines = [x[len("result: "):] for x in r.stdout.splitlines() if x.startswith("result: ")]
        last = lines[-1] if lines else r.stdout[-300:] + r.stderr[-300:]
        try:
            res = json.loads(last)
        except ValueError:
            res = {}
        good = r.returncode == 0 and len(lines) == 1 and holds(res, want)
        ok += good
        bad += not good
        print("%s %s%s" % ("PASS" if good else "FAIL", name, "" if good else ": " + last))
    print("%d passed, %d failed" % (ok, bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
