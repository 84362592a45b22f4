#!/usr/bin/env bash
# Set up a Debian 12 machine to build, run and test latchgate. Idempotent;
# run as root. Installs the Debian packages, reserves hugepages, mounts
# hugetlbfs, then configures and builds into build/ (LG_BUILD_DIR).
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=${LG_BUILD_DIR:-build}
HUGEPAGES=${LG_HUGEPAGES:-512}
PKGS=(gcc pkg-config meson ninja-build libdpdk-dev dpdk-dev dpdk libipsec-mb-dev
      libyaml-dev libcunit1-dev libpcap-dev python3-scapy tshark)

log() { printf 'setup: %s\n' "$*"; }

if [ "$(id -u)" -ne 0 ]; then
	echo "setup: run as root (packages, hugepages, hugetlbfs)" >&2
	exit 1
fi

missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	log "installing ${missing[*]}"
	apt-get update -qq
	# tshark asks whether non-root users may capture: the default (no) is fine.
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		"${missing[@]}" >/dev/null
fi

have=$(awk '/^HugePages_Total/ {print $2}' /proc/meminfo)
if [ "${have:-0}" -lt "$HUGEPAGES" ]; then
	log "reserving $HUGEPAGES 2 MiB hugepages (had ${have:-0})"
	echo "$HUGEPAGES" > /proc/sys/vm/nr_hugepages
	have=$(awk '/^HugePages_Total/ {print $2}' /proc/meminfo)
	[ "$have" -ge "$HUGEPAGES" ] || { echo "setup: only $have hugepages could be reserved" >&2; exit 1; }
fi
if ! grep -qs ' /dev/hugepages hugetlbfs ' /proc/mounts; then
	log "mounting hugetlbfs on /dev/hugepages"
	mkdir -p /dev/hugepages
	mount -t hugetlbfs nodev /dev/hugepages
fi
mkdir -p /run/latchgate
chmod 0700 /run/latchgate

if [ ! -f "$BUILD/build.ninja" ]; then
	log "configuring $BUILD"
	meson setup "$BUILD" --buildtype=release --werror >/dev/null
fi
log "building"
ninja -C "$BUILD" >/dev/null || ninja -C "$BUILD"
log "ready: $BUILD/latchgate, $BUILD/latchctl"
