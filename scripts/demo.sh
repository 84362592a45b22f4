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

# One notification, its fields one per line (the JSON line is in the log).
show_event() {
	/usr/bin/python3 - "$1" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    e = json.loads(line)
    f = e["flow"]
    print("    event %s -> %s, reason %s, %s packet side" % (e["old_state"], e["new_state"],
                                                          e["reason"], e["direction"]))
    print("      flow   proto %d  %s:%d <-> %s:%d  (latch %d, %s)" % (
        f["proto"], f["a"], f["a_port"], f["b"], f["b_port"], e["latch_id"], e["time"]))
    for side in ("latched", "conflicting"):
        if side in e:
            x = e[side]
            print("      %-11s peer %s, SA %s%s, %s %s, %s -> %s" % (
                side, x["peer_id"], x.get("sa", "?"),
                " SPI 0x%x" % x["spi"] if "spi" in x else "", x.get("suite", "?"),
                x.get("mode", "?"), x.get("local", "?"), x.get("remote", "?")))
PY
}

# Runtime changes while traffic runs. SA files hold keys: private, removed.
umask 077
sa_file=$(mktemp "$RUN/demo-sa.XXXXXX")
trap 'kill $gw 2>/dev/null || true; rm -f "$sa_file"' EXIT
sa_json() { # NAME DIRECTION SPI PEER KEY
	local l=172.16.1.5 r=172.16.2.5
	[ "$2" = inbound ] && l=172.16.2.5 r=172.16.1.5
	printf '{"name":"%s","direction":"%s","spi":"%s","peer":"%s","local":"%s","remote":"%s",
	 "aead":{"algorithm":"aes-128-gcm","key":"%s","salt":"0x64656d6f"},"replay_window":1024}\n' \
		"$1" "$2" "$3" "$4" "$l" "$r" "$5" > "$sa_file"
}
ctl_change() { # latchctl sa-replace FILE, one line of its reply
	{ "$BUILD/latchctl" --json sa-replace "$sa_file" || true; } |
		sed 's/.*"change":\([0-9]*\).*"congruent":\([0-9]*\).*"broken":\([0-9]*\),"apply_us":\([0-9.]*\).*/change \1: congruent \2, latches broken \3, applied in \4 us/'
}
echo "demo: congruent rekey while traffic runs (new SPI 0x1001 and key; inbound first):"
sa_json from-b inbound 0x1001 site-b 0x000102030405060708090a0b0c0d0e0f
printf '    from-b: %s\n' "$(ctl_change)"
sa_json to-b outbound 0x1001 site-b 0x000102030405060708090a0b0c0d0e0f
printf '    to-b:   %s\n' "$(ctl_change)"
sleep 1
{ "$BUILD/latchctl" --json stats || true; } |
	grep -o '"name":"[a-z-]*","direction":"[a-z]*","spi":[0-9]*,[^}]*"packets":[0-9]*' |
	sed 's/"name":"\([^"]*\)".*"spi":\([0-9]*\).*"packets":\([0-9]*\)/    SA \1: SPI \2 now, \3 packets since start/' || true
echo "demo: replace to-b with an SA to another peer (site-c); latchctl monitor receives:"
"$BUILD/latchctl" --json monitor 1 > "$RUN/demo-event.json" &
mon=$!
sleep 0.3
sa_json to-b outbound 0x1002 site-c 0x0f0e0d0c0b0a09080706050403020100
printf '    to-b:   %s\n' "$(ctl_change)"
wait $mon || true
show_event "$RUN/demo-event.json"
echo "demo: $("$BUILD/latchctl" --json latches state=broken 1000 | sed 's/.*"count":\([0-9]*\).*/\1/') latches BROKEN: their packets are dropped, never sent to site-c"
sleep 1
echo "demo: revert to-b to site-b's parameters (SPI 0x1003): the latches are restored"
"$BUILD/latchctl" --json monitor 1 > "$RUN/demo-event.json" &
mon=$!
sleep 0.3
sa_json from-b inbound 0x1003 site-b 0x303132333435363738393a3b3c3d3e3f
printf '    from-b: %s\n' "$(ctl_change)"
sa_json to-b outbound 0x1003 site-b 0x303132333435363738393a3b3c3d3e3f
printf '    to-b:   %s\n' "$(ctl_change)"
wait $mon || true
show_event "$RUN/demo-event.json"
rm -f "$sa_file"

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
