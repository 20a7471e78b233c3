#!/usr/bin/env bash
# The main job on a fresh Debian 12 machine: install, build, and run the daemon on its embedded
# defaults with the built-in scenario (users plus every flood of
# drivers-config/scenarios/demo.json) through two net_pcap ports, then print the report. Needs
# no NIC and no hugepages.
#   scripts/demo.sh [--keep DIR]    DIR: keep the demo's captures there (default: removed)
set -euo pipefail
cd "$(dirname "$0")/.."

log=$(mktemp -t sipshield-demo-build.XXXXXX)
trap 'rm -f "$log"' EXIT
failed() {
  echo "demo: $1 failed; the end of its log:" >&2
  tail -n 40 "$log" >&2
  exit 1
}

# scripts/build.sh installs the packages, then builds; its output is kept in the log and shown
# as one line per step plus ninja's [n/N] lines.
echo "demo: installing packages (apt-get, only those missing)..."
if ! bash scripts/build.sh 2>&1 | tee "$log" | awk '
    /^install-deps:/ { print "demo: " $0; fflush() }
    /^ninja: no work to do/ { print "demo: build/ is up to date"; fflush() }
    /^\[[0-9]+\/[0-9]+\]/ {
      if (!building) print "demo: building into build/ (about 3 minutes on 2 cores)..."
      building = 1; print; fflush()
    }'; then
  failed "installing or building"
fi
rm -f "$log"
trap - EXIT
echo "demo: running the demo (a few seconds)..."
exec build/apps/sipshield --demo "$@"
