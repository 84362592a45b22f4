#!/usr/bin/env bash
# Run latchgate on the default config (conf/latchgate.yaml): virtual ports,
# a synthetic LAN traffic source and a loopback WAN standing in for site-b,
# so one worker encrypts and decrypts. Shows live counters, asks the running
# gateway for its stats over the control socket with latchctl, and ends by
# itself after LG_DEMO_SECONDS (default 20) with a summary.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${LG_BUILD_DIR:-build}
SECONDS_RUN=${LG_DEMO_SECONDS:-20}
RUN=/run/latchgate

bash scripts/setup.sh
/usr/bin/python3 scripts/demo-traffic.py "$RUN/demo-lan.pcap" 2>/dev/null

echo "demo: latchgate -- --config conf/latchgate.yaml --stats-period 5 --duration $SECONDS_RUN"
"$BUILD/latchgate" -- --config conf/latchgate.yaml --stats-period 5 \
	--duration "$SECONDS_RUN" --stats-json "$RUN/demo-stats.json" &
gw=$!
trap 'kill $gw 2>/dev/null || true' EXIT

sleep $((SECONDS_RUN / 2))
echo "demo: latchctl stats (over $RUN/control.sock, while traffic runs)"
"$BUILD/latchctl" stats | sed -n '1,40p' | sed 's/^/    /'

echo "demo: every flow is latched to site-b's identity; the first two latches:"
"$BUILD/latchctl" latches 2 | sed 's/^/    /'
id=$("$BUILD/latchctl" --json latches 1 | sed -n 's/.*"latches":\[{"id":\([0-9]*\).*/\1/p')
if [ -n "$id" ]; then
	echo "demo: latchctl latch-close $id, while latchctl monitor listens:"
	"$BUILD/latchctl" --json monitor 1 > "$RUN/demo-event.json" &
	mon=$!
	sleep 0.3
	"$BUILD/latchctl" latch-close "$id" | sed 's/^/    /'
	wait $mon || true
	sed 's/^/    event: /' "$RUN/demo-event.json"
fi

wait $gw
trap - EXIT
/usr/bin/python3 - "$RUN/demo-stats.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
t = s["uptime_s"]
sa = {x["name"]: x for x in s["sas"]}
drops = {k: v for k, v in s["drops"].items() if v}
enc, dec = sa["to-b"]["packets"], sa["from-b"]["packets"]
print("demo: summary after %.1f s on %d worker(s)" % (t, s["workers"]))
print("  encrypted  %12d packets on SA to-b   (%.2f Mpps, %.2f Gbit/s of IP)"
      % (enc, enc / t / 1e6, sa["to-b"]["bytes"] * 8 / t / 1e9))
print("  decrypted  %12d packets on SA from-b (%.2f Mpps)" % (dec, dec / t / 1e6))
print("  drops      %s" % (", ".join("%s=%d" % kv for kv in drops.items()) or "none"))
print("  mbufs in use at exit: %d" % s["mempools"][0]["in_use"])
ok = enc > 0 and dec > 0 and s["mempools"][0]["in_use"] == 0
sys.exit(0 if ok else 1)
PY
