#!/usr/bin/env bash
# Installs every Debian 12 package that sipshield's build, tests, demo and lab use.
# Idempotent: packages already present are left alone; apt runs only when something is missing.
set -euo pipefail

packages=(
  # build
  build-essential pkg-config meson ninja-build clang-format
  # libraries (the project's fixed choices)
  libdpdk-dev dpdk dpdk-dev libhyperscan-dev libipsec-mb-dev catch2 libfmt-dev nlohmann-json3-dev libpcap-dev
  # tests and tools: python for the integration driver, iproute2 for namespaces, tcpdump for captures
  python3 iproute2 tcpdump tshark
  # fuzzing campaigns (scripts/fuzz.sh): clang with libFuzzer
  clang libclang-rt-14-dev
  # packaging (scripts/package-test.sh), the SBOM schema test, systemd-analyze for the unit
  debhelper dpkg-dev fakeroot lintian python3-jsonschema systemd
  # a compiler cache: the fault drill in scripts/test.sh rebuilds a copy of the tree from it
  ccache
  # operations: the metrics endpoint's HTTP server; a real Prometheus and promtool, and a real
  # rsyslog, which the operations tests start on 127.0.0.1 themselves
  libcpp-httplib-dev prometheus rsyslog
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

sudo_cmd=()
if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
# prometheus and rsyslog are services: their packages would start them on the host's stock
# configs (listening on every address). The tests start their own; a policy-rc.d that refuses
# service starts (only if the host has none) keeps the packaged ones stopped.
policy=""
if [[ ! -e /usr/sbin/policy-rc.d ]]; then
  policy=/usr/sbin/policy-rc.d
  printf '#!/bin/sh\nexit 101\n' | "${sudo_cmd[@]}" tee "$policy" >/dev/null
  "${sudo_cmd[@]}" chmod 755 "$policy"
fi
apt_rc=0
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" || apt_rc=$?
[[ -z $policy ]] || "${sudo_cmd[@]}" rm -f "$policy"
if ((apt_rc != 0)); then
  echo "install-deps: apt-get install failed (status $apt_rc)" >&2
  exit "$apt_rc"
fi
if [[ -d /run/systemd/system ]]; then
  for unit in prometheus rsyslog; do
    [[ " ${missing[*]} " == *" $unit "* ]] && "${sudo_cmd[@]}" systemctl disable --now "$unit" >/dev/null 2>&1 || true
  done
fi
