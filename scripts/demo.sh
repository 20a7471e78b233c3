#!/usr/bin/env bash
# The main job on a fresh Debian 12 machine: install, build, and run the daemon on its embedded
# defaults with the built-in scenario (users plus ten floods) through two net_pcap ports, then
# print the report. Needs no NIC and no hugepages.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh >/dev/null
exec build/apps/sipshield --demo
