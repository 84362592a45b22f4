#!/usr/bin/env bash
# testpmd-style benchmark of latchgate with its crypto and I/O ceilings
# measured in the same run (method: scripts/bench.py, results: BENCHMARKS.md).
#   scripts/bench.sh           full run: every cell, the latch microbenchmark,
#                              then BENCHMARKS.md and BENCHMARKS.png rewritten
#   scripts/bench.sh --quick   a small subset in a few minutes (prints the
#                              table; BENCHMARKS.md is left alone)
#   scripts/bench.sh --latch   the latch table microbenchmark only
# Tables and CSV/JSON go to bench-out/.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${LG_BUILD_DIR:-build}
export LG_BUILD_DIR=$BUILD

# The full run's 1,000,000-flow cell replays a capture of a million frames,
# all of it held in the mbuf pool: about 2.5 GiB of hugepages.
[ "${1:-}" = "" ] && export LG_HUGEPAGES=${LG_HUGEPAGES:-2048}
bash scripts/setup.sh
if ! command -v gnuplot >/dev/null; then
	echo "bench: installing gnuplot-nox (for the plot)"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		gnuplot-nox >/dev/null
fi
case "${1:-}" in
--quick) exec /usr/bin/python3 scripts/bench.py --quick --latch ;;
--latch)
	exec "$BUILD/test/bench/bench_latch" -l 0-1 --no-huge --no-pci -m 6144 --file-prefix lgbench-latch \
		--log-level '*:error' ;;
"") exec /usr/bin/python3 scripts/bench.py --latch --report ;;
*) echo "usage: scripts/bench.sh [--quick | --latch]" >&2; exit 2 ;;
esac
