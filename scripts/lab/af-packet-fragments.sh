#!/usr/bin/env bash
# Do IPv4 datagrams of every size cross the sipshield daemon on net_af_packet ports? Sends one
# UDP datagram of each size in SIZES from a client namespace through the daemon (the lab's
# scripts/lab/sipshield-lab.json) to a receiver in a server namespace, to port 9999 (not a
# protected service), and prints what arrived and the daemon's drop reasons. See docs/lab.md
# ("Fragments do not cross af_packet ports").
#
#   scripts/lab/af-packet-fragments.sh
#
# Needs root. Safety as in run.sh: three namespaces of its own (sslabf-out, sslabf-fw,
# sslabf-srv) with blackhole default routes, 198.18.0.0/15 only, everything under timeout, an
# EXIT trap that stops the daemon by PID and deletes the namespaces.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${SIPSHIELD_BIN:-$REPO/build-release/apps}
SIZES="100 1000 1472 1473 2000 3000"
out=$(mktemp -d /tmp/sslabf.XXXXXX)
[[ $(id -u) -eq 0 ]] || { echo "af-packet-fragments: needs root" >&2; exit 1; }
for ns in sslabf-out sslabf-fw sslabf-srv; do
	! ip netns list | grep -q -w "$ns" || { echo "af-packet-fragments: namespace $ns exists" >&2; exit 1; }
done
made=()
fw=""
cleanup() {
	local rc=$?
	set +e
	if [[ -n $fw ]]; then kill -INT "$fw" 2>/dev/null; wait "$fw" 2>/dev/null; fi
	for ns in "${made[@]}"; do ip netns del "$ns" 2>/dev/null; done
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
for ns in sslabf-out sslabf-fw sslabf-srv; do
	ip netns add "$ns"
	made+=("$ns")
	ip -n "$ns" link set lo up
	ip -n "$ns" route add blackhole default
	ip -n "$ns" -6 route add blackhole default
done
ip -n sslabf-out link add sl-out0 type veth peer name sl-fwo netns sslabf-fw
ip -n sslabf-srv link add sl-srv0 type veth peer name sl-fwi netns sslabf-fw
for p in sslabf-out:sl-out0 sslabf-fw:sl-fwo sslabf-fw:sl-fwi sslabf-srv:sl-srv0; do
	ip netns exec "${p%%:*}" ethtool -K "${p#*:}" tx off >/dev/null
	ip netns exec "${p%%:*}" sysctl -q -w "net.ipv6.conf.${p#*:}.disable_ipv6=1"
	ip -n "${p%%:*}" link set "${p#*:}" up
done
ip -n sslabf-out addr add 198.18.16.1/15 dev sl-out0
ip -n sslabf-srv addr add 198.18.0.10/15 dev sl-srv0
ip netns exec sslabf-fw timeout --kill-after=5 60 nice -n 10 "$BIN/sipshield" --no-huge --no-shconf -m 1024 \
	--no-pci -l 0-1 --file-prefix sslabf -- --config "$REPO/scripts/lab/sipshield-lab.json" \
	--report "$out/report.json" >"$out/sipshield.out" 2>&1 &
fw=$!
sleep 4
ip netns exec sslabf-srv timeout 10 python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("198.18.0.10", 9999))
s.settimeout(4)
try:
    while True:
        d, a = s.recvfrom(65535)
        print("arrived:", len(d), "bytes")
except OSError:
    pass' &
rcv=$!
sleep 1
ip netns exec sslabf-out timeout 10 python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("198.18.16.1", 0))
for n in map(int, sys.argv[1:]):
    print("sent:", n, "bytes", "(fragmented at MTU 1500)" if n > 1472 else "")
    s.sendto(b"x" * n, ("198.18.0.10", 9999))
    time.sleep(0.3)' $SIZES
wait "$rcv" || true
kill -INT "$fw" 2>/dev/null
wait "$fw" 2>/dev/null || true
fw=""
grep -E '^sipshield: rx|^  (passed|dropped)|^    [a-z_0-9]+ ' "$out/sipshield.out" | tail -8
echo "daemon output: $out"
