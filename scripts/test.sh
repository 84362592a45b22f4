#!/usr/bin/env bash
# Run every test suite: CUnit unit tests (config parser and edits, SPD,
# routes, replay window, SAs, latch table, JSON), the README's drop table,
# the default config, the scapy interop suite (ESP on the wire, hostile
# input), latching on real packets, the review regressions, the
# process/control-socket suite, runtime changes on tap ports and rekeys
# under traffic. Sets the machine up first. Prints one
# closing line "N passed, M failed" over all suites; exits non-zero on any
# failure.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${LG_BUILD_DIR:-build}
export LG_BUILD_DIR=$BUILD

bash scripts/setup.sh || { echo "test: setup failed"; exit 1; }

total_pass=0
total_fail=0
suites_failed=()

# add NAME RC OUTPUT: count the suite's own "N passed, M failed" line.
add() {
	local name=$1 rc=$2 out=$3 line p f
	line=$(printf '%s\n' "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed' | tail -1)
	if [ -n "$line" ]; then
		p=${line%% passed*}
		f=${line#*, }
		f=${f%% failed*}
	else
		p=0
		f=1
	fi
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1
	fi
	total_pass=$((total_pass + p))
	total_fail=$((total_fail + f))
	[ "$f" -eq 0 ] || suites_failed+=("$name")
	echo "test: $name: $p passed, $f failed"
}

echo "test: unit (CUnit, meson test)"
out=$(meson test -C "$BUILD" --print-errorlogs 2>&1)
rc=$?
printf '%s\n' "$out" | grep -E '^ *[0-9]+/[0-9]+ ' || true
ok=$(printf '%s\n' "$out" | awk '/^Ok:/ {print $2}')
bad=$(printf '%s\n' "$out" | awk '/^(Fail|Timeout|Unexpected Pass):/ {s += $NF} END {print s + 0}')
[ "$rc" -eq 0 ] || printf '%s\n' "$out" | tail -40
add unit "$rc" "${ok:-0} passed, ${bad:-1} failed"

echo "test: README's drop-reason table is latchgate --drop-reasons"
drops=$("$BUILD/latchgate" --drop-reasons)
# The rows of the table in the "Drop reasons" section only.
readme=$(awk '/^## /{on = ($0 == "## Drop reasons")} on' README.md |
	grep -E '^\| `[a-z0-9_]+` \|' || true)
if [ "$drops" = "$readme" ]; then
	add docs 0 "1 passed, 0 failed"
else
	diff <(printf '%s\n' "$drops") <(printf '%s\n' "$readme") | head -20
	add docs 1 "0 passed, 1 failed"
fi

echo "test: default config validates"
out=$("$BUILD/latchgate" -- --config conf/latchgate.yaml --check-config 2>&1)
rc=$?
echo "$out"
add default-config "$rc" "$([ $rc -eq 0 ] && echo '1 passed, 0 failed' || echo '0 passed, 1 failed')"

# python_suite NAME TITLE SCRIPT [ARGS]: one /usr/bin/python3 suite, its
# PASS/FAIL (and "figure:") lines shown, its closing line counted; on failure the rest of
# its output too.
python_suite() {
	local name=$1 title=$2 out rc
	shift 2
	echo "test: $title"
	# pipefail (set above): the substitution fails when python3 does;
	# PIPESTATUS would only see the subshell, not the pipeline inside it.
	out=$(/usr/bin/python3 "$@" 2>&1 | grep -v -i 'warning')
	rc=$?
	printf '%s\n' "$out" | grep -E '^(PASS|FAIL|figure:)' || true
	[ "$rc" -eq 0 ] || printf '%s\n' "$out" | grep -v '^PASS' | tail -40
	add "$name" "$rc" "$out"
}

python_suite interop "interop (scapy oracle)" test/interop/test_interop.py \
	--latchgate "$BUILD/latchgate" --jobs 2
python_suite latch "connection latching" test/interop/test_latch.py
python_suite review "review regressions" test/interop/test_review.py
python_suite control "process and control socket" test/interop/test_control.py
python_suite changes "runtime SA and policy changes (tap ports)" test/interop/test_changes.py
python_suite rekey "rekeys under traffic, notification latency" test/interop/test_rekey.py

if [ ${#suites_failed[@]} -gt 0 ]; then
	echo "test: failing suites: ${suites_failed[*]}"
fi
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
