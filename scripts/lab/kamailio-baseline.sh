#!/usr/bin/env bash
# Lab baseline: replays a labelled sipshield-gen capture through a real Kamailio 5.6 running the
# stock anti-flood checks (scripts/lab/kamailio-antiflood.cfg), scores what Kamailio lets through
# frame by frame, scores sipshield on the same capture, and prints both side by side.
# See docs/kamailio-baseline.md.
#
#   scripts/lab/kamailio-baseline.sh [--scenario FILE | --quick] [--out DIR] [--keep] [--timer MODE]
#
#   --scenario FILE  scenario for sipshield-gen (default drivers-config/scenarios/ten-floods.json)
#   --quick          drivers-config/scenarios/demo.json (20 s instead of 40 s)
#   --out DIR        results (default /tmp/sipshield-kamailio-baseline/<scenario name>)
#   --keep           keep the capture and the replayed pcap (otherwise deleted at the end)
#   --timer MODE     tcpreplay's timing: gtod (default; busy-waits one core for the replay) or
#                    nano (nanosleep; lighter, but fell 28 % behind the capture's pace here)
#
# Needs root (network namespaces), build/apps/sipshield-{gen,inspect,eval} (scripts/build.sh;
# this script builds nothing), and installs kamailio and tcpreplay with apt-get if missing.
#
# Safety: all traffic stays inside two network namespaces created here (ssk-inj, ssk-kam) joined
# by one veth pair; both have blackhole default routes; only 198.18.0.0/15 and 2001:db8::/32
# are used (the capture is checked before it is replayed). Nothing in the root namespace is
# changed. Everything is bounded by `timeout`; an EXIT trap stops the processes started here (by
# PID) and deletes the namespaces and the temporary files.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
LAB="$REPO/scripts/lab"
CFG="$LAB/kamailio-antiflood.cfg"
HELPER="$LAB/kamailio_verdicts.py"
BIN="$REPO/build/apps"
NS_INJ=ssk-inj
NS_KAM=ssk-kam
IF_INJ=ssk-inj0
IF_KAM=ssk-kam0
# The capture's placeholder MACs: giving the veth ends these addresses delivers every frame
# without a rewrite (sipshield-gen writes 02:00:00:00:00:01 -> 02:00:00:00:00:02, both ways).
MAC_INJ=02:00:00:00:00:01
MAC_KAM=02:00:00:00:00:02

scenario="$REPO/drivers-config/scenarios/ten-floods.json"
out=""
keep=0
timer=gtod
while (($#)); do
	case "$1" in
	--scenario) scenario=$(realpath "$2"); shift 2 ;;
	--quick) scenario="$REPO/drivers-config/scenarios/demo.json"; shift ;;
	--out) out="$2"; shift 2 ;;
	--keep) keep=1; shift ;;
	--timer) timer="$2"; shift 2 ;;
	-h | --help) sed -n '2,22p' "$0"; exit 0 ;;
	*) echo "kamailio-baseline: unknown argument $1 (see --help)" >&2; exit 2 ;;
	esac
done
[[ $timer == gtod || $timer == nano ]] || { echo "kamailio-baseline: --timer gtod|nano" >&2; exit 2; }
name=$(basename "$scenario" .json)
out=${out:-/tmp/sipshield-kamailio-baseline/$name}

say() { printf 'kamailio-baseline: %s\n' "$*"; }
die() { printf 'kamailio-baseline: error: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- checks and installation
[[ $(id -u) -eq 0 ]] || die "needs root (network namespaces)"
[[ -f $scenario ]] || die "no scenario $scenario"
for b in sipshield-gen sipshield-inspect sipshield-eval; do
	[[ -x $BIN/$b ]] || die "$BIN/$b missing: build first with 'bash scripts/build.sh' (this script builds nothing)"
done
for t in ip timeout python3 nstat ss; do
	command -v "$t" >/dev/null || die "$t not found"
done
missing=()
for p in kamailio tcpreplay; do
	dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
	say "installing ${missing[*]} (apt-get)"
	# apt-get update only when the package lists do not know the packages yet.
	apt-cache show "${missing[@]}" >/dev/null 2>&1 || apt-get update -q >/dev/null
	# The Debian package would start a kamailio service on the stock config, listening on
	# every address of the host: the lab never wants that. A policy-rc.d that refuses service
	# starts (only if the host has none) keeps it stopped during the install; the unit is then
	# disabled when systemd runs.
	policy=""
	if [[ ! -e /usr/sbin/policy-rc.d ]]; then
		policy=/usr/sbin/policy-rc.d
		printf '#!/bin/sh
exit 101
' >"$policy"
		chmod 755 "$policy"
	fi
	apt_rc=0
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null || apt_rc=$?
	[[ -z $policy ]] || rm -f "$policy"
	((apt_rc == 0)) || die "apt-get install ${missing[*]} failed (status $apt_rc)"
	if [[ " ${missing[*]} " == *" kamailio "* ]] && [[ -d /run/systemd/system ]]; then
		systemctl disable --now kamailio >/dev/null 2>&1 || true
	fi
fi
ip netns list | grep -q -w -e "$NS_INJ" -e "$NS_KAM" &&
	die "namespace $NS_INJ or $NS_KAM already exists (another run, or a killed one: 'ip netns del $NS_INJ; ip netns del $NS_KAM')"

# ---------------------------------------------------------------- cleanup, always
kam_pid=""
replay_pid=""
# kam_pid is the `timeout` that wraps kamailio; kamailio's main process is its only child.
# TERM goes to kamailio by its own PID (it stops its children); the `timeout` KILLs it if it
# is still there 10 s later, or after the time limit.
stop_kamailio() {
	local main
	main=$(ps -o pid= --ppid "$kam_pid" 2>/dev/null | head -1 | tr -d ' ')
	if [[ -n $main ]]; then kill -TERM "$main" 2>/dev/null; else kill -TERM "$kam_pid" 2>/dev/null; fi
	wait "$kam_pid" 2>/dev/null
}
made_ns=()
tmp_files=()
cleanup() {
	local rc=$?
	set +e
	trap - EXIT INT TERM
	if [[ -n $replay_pid ]] && kill -0 "$replay_pid" 2>/dev/null; then
		kill -TERM "$replay_pid" 2>/dev/null
		wait "$replay_pid" 2>/dev/null
	fi
	if [[ -n $kam_pid ]] && kill -0 "$kam_pid" 2>/dev/null; then
		stop_kamailio
	fi
	for ns in "${made_ns[@]}"; do
		ip netns del "$ns" 2>/dev/null
	done
	if ((${#tmp_files[@]})); then rm -f "${tmp_files[@]}"; fi
	((rc == 0)) || echo "kamailio-baseline: stopped with status $rc; processes and namespaces cleaned up" >&2
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -p "$out"
rm -f "$out/kamailio.log" # appended to below; every other result file is overwritten
cap="$out/cap"
inpcap="$out/in.pcap"
((keep)) || tmp_files+=("$cap.pcap" "$inpcap")
{
	echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "scenario: $scenario"
	echo "kamailio: $(kamailio -v 2>&1 | head -1)"
	echo "kamailio package: $(dpkg-query -W -f='${Version}' kamailio)"
	echo "tcpreplay: $(tcpreplay -V 2>&1 | head -1)"
	echo "sipshield: $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?') (working tree), sipshield-inspect built $(date -u -r "$BIN/sipshield-inspect" +%Y-%m-%dT%H:%M:%SZ)"
	echo "kernel: $(uname -r)"
	echo "cpus: $(nproc)"
} >"$out/env.txt"

# ---------------------------------------------------------------- capture and sipshield
say "generating $name into $cap.pcap"
"$BIN/sipshield-gen" --scenario "$scenario" --out "$cap"
say "scoring sipshield (sipshield-inspect, sipshield-eval)"
"$BIN/sipshield-inspect" --pcap "$cap.pcap" --protect 198.18.0.10:5060 --protect '[2001:db8::10]:5060' \
	--verdicts "$out/sipshield.jsonl" --quiet
"$BIN/sipshield-eval" --labels "$cap.labels.tsv" --verdicts "$out/sipshield.jsonl" \
	--json "$out/sipshield.json" >"$out/sipshield-eval.txt"

say "writing the frames toward the servers to $inpcap"
python3 "$HELPER" prepare --pcap "$cap.pcap" --labels "$cap.labels.tsv" --out-pcap "$inpcap" \
	--index "$out/index.tsv" --meta "$out/meta.json" | tee "$out/prepare.txt"
duration=$(python3 -c 'import json,sys; print(int(json.load(open(sys.argv[1]))["duration_s"]) + 1)' "$out/meta.json")

# ---------------------------------------------------------------- namespaces
say "creating namespaces $NS_INJ and $NS_KAM"
for ns in "$NS_INJ" "$NS_KAM"; do
	ip netns add "$ns"
	made_ns+=("$ns")
	ip -n "$ns" link set lo up
	ip -n "$ns" route add blackhole default
	ip -n "$ns" -6 route add blackhole default
done
ip -n "$NS_INJ" link add "$IF_INJ" address "$MAC_INJ" type veth \
	peer name "$IF_KAM" address "$MAC_KAM" netns "$NS_KAM"
ip netns exec "$NS_INJ" sysctl -q -w "net.ipv6.conf.$IF_INJ.accept_ra=0"
ip netns exec "$NS_KAM" sysctl -q -w "net.ipv6.conf.$IF_KAM.accept_ra=0"
# Spoofed sources must be accepted (rp_filter off). Fragment limits are left at their defaults.
ip netns exec "$NS_KAM" sysctl -q -w net.ipv4.conf.all.rp_filter=0 \
	net.ipv4.conf.default.rp_filter=0 "net.ipv4.conf.$IF_KAM.rp_filter=0"
ip -n "$NS_INJ" link set "$IF_INJ" up
ip -n "$NS_KAM" link set "$IF_KAM" up
ip -n "$NS_KAM" addr add 198.18.0.10/32 dev "$IF_KAM"
ip -n "$NS_KAM" addr add 2001:db8::10/128 dev "$IF_KAM" nodad
# Kamailio's answers (sanity 400s, 483s) and the kernel's ICMP go back into the veth toward a
# fixed next hop (the injector's MAC, static: no ARP/ND per spoofed source), where nobody
# listens and forwarding is off.
ip -n "$NS_KAM" neigh add 198.18.0.1 lladdr "$MAC_INJ" dev "$IF_KAM" nud permanent
ip -n "$NS_KAM" route add 198.18.0.0/15 via 198.18.0.1 dev "$IF_KAM" onlink
ip -n "$NS_KAM" -6 neigh add fe80::1 lladdr "$MAC_INJ" dev "$IF_KAM" nud permanent
ip -n "$NS_KAM" -6 route add 2001:db8::/32 via fe80::1 dev "$IF_KAM"
ip -n "$NS_INJ" route add 198.18.0.0/15 dev "$IF_INJ"
ip -n "$NS_INJ" -6 route add 2001:db8::/32 dev "$IF_INJ"
for k in net.ipv4.ipfrag_high_thresh net.ipv4.ipfrag_low_thresh net.ipv4.ipfrag_time \
	net.ipv4.ipfrag_max_dist net.ipv6.ip6frag_high_thresh net.ipv6.ip6frag_low_thresh \
	net.ipv6.ip6frag_time net.core.rmem_default net.core.rmem_max net.core.netdev_max_backlog; do
	# read only; some are not per namespace, then the host's value applies
	ip netns exec "$NS_KAM" sysctl "$k" 2>/dev/null || echo "$k = $(sysctl -n "$k") (host, not per namespace)"
done >"$out/kam-sysctl.txt"

# ---------------------------------------------------------------- kamailio
mkdir -p "$out/run"
say "starting kamailio in $NS_KAM (log: $out/kamailio.log)"
ip netns exec "$NS_KAM" timeout --signal=TERM --kill-after=10 $((duration + 180)) \
	kamailio -f "$CFG" -DD -E -n 2 -m 256 -Y "$out/run" >>"$out/kamailio.log" 2>&1 &
kam_pid=$!
for _ in $(seq 1 100); do
	kill -0 "$kam_pid" 2>/dev/null || die "kamailio exited at start-up; see $out/kamailio.log"
	listening=$(ip netns exec "$NS_KAM" ss -H -lnu 2>/dev/null || true)
	if grep -q '198.18.0.10:5060' <<<"$listening" && grep -q '\[2001:db8::10\]:5060' <<<"$listening"; then
		break
	fi
	sleep 0.2
done
grep -q '\[2001:db8::10\]:5060' <<<"$listening" || die "kamailio does not listen after 20 s; see $out/kamailio.log"
ip netns exec "$NS_KAM" ss -lnum >"$out/kam-sockets.txt"
sleep 1

# ---------------------------------------------------------------- replay
say "replaying $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["in_frames"])' "$out/meta.json") frames at the capture's pace (~${duration} s)"
ip netns exec "$NS_INJ" timeout --signal=INT --kill-after=10 $((duration + 60)) \
	tcpreplay --intf1="$IF_INJ" --timer="$timer" --preload-pcap --no-flow-stats --stats=5 "$inpcap" \
	>"$out/tcpreplay.txt" 2>&1 &
replay_pid=$!
wait "$replay_pid" || die "tcpreplay failed (status $?); see $out/tcpreplay.txt"
replay_pid=""
kill -0 "$kam_pid" 2>/dev/null || die "kamailio died during the replay; see $out/kamailio.log"
grep -E 'Actual|Rated|Successful|Failed|Truncated|Retried' "$out/tcpreplay.txt" | sed 's/^/    /'

# Let Kamailio drain its socket queues: wait until its log stops growing (at most 60 s).
prev=-1
for _ in $(seq 1 60); do
	size=$(stat -c %s "$out/kamailio.log")
	((size == prev)) && break
	prev=$size
	sleep 1
done
ip netns exec "$NS_KAM" nstat -a -s -z >"$out/kam-nstat.txt"
ip -n "$NS_KAM" -s link show "$IF_KAM" >"$out/kam-link.txt"
grep -E '^(IpReasm|Ip6Reasm|UdpInDatagrams|UdpInErrors|UdpRcvbufErrors|UdpNoPorts|Udp6InDatagrams|Udp6InErrors|Udp6RcvbufErrors|IpInReceives|Ip6InReceives)' \
	"$out/kam-nstat.txt" | awk '{printf "    %s %s\n", $1, $2}'

say "stopping kamailio"
stop_kamailio || true
kam_pid=""

# ---------------------------------------------------------------- scoring
say "scoring Kamailio"
python3 "$HELPER" score --index "$out/index.tsv" --labels "$cap.labels.tsv" --log "$out/kamailio.log" \
	--sipshield "$out/sipshield.jsonl" --verdicts "$out/kamailio.jsonl" \
	--summary "$out/comparison.json" --table "$out/comparison.txt" >/dev/null
"$BIN/sipshield-eval" --labels "$cap.labels.tsv" --verdicts "$out/kamailio.jsonl" \
	--json "$out/kamailio.json" >"$out/kamailio-eval.txt"

echo
echo "== $name: Kamailio $(kamailio -v 2>&1 | head -1 | awk '{print $3}') (stock anti-flood) vs sipshield, same capture"
cat "$out/comparison.txt"
echo
echo "sipshield-eval of each (every frame; Kamailio's not-comparable frames counted as passed):"
echo "  $out/sipshield-eval.txt, $out/kamailio-eval.txt"
say "done: results in $out"
