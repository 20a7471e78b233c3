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
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
