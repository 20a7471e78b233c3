#!/usr/bin/env bash
# The end-to-end lab: real SIP software behind the filter. SIPp phones register (digest auth),
# re-register and call through a real Kamailio (registrar + proxy) to a SIPp UAS, while
# sipshield-gen floods replayed with tcpreplay hit the same Kamailio; four set-ups per flood level:
#   no_flood       plain Linux bridge, no flood (the reference)
#   sipshield_no_flood  the daemon inline, no flood (the reference for the filter's own delay)
#   bridge         plain Linux bridge, flood
#   sipshield      the sipshield daemon inline (net_af_packet on two veth ends), flood
#   kamailio_only  plain Linux bridge, flood, Kamailio with its stock anti-flood checks
#                  (pike + htable ban, scanner User-Agent regex; sanity and Max-Forwards are
#                  in every set-up, as in the stock REQINIT)
# See docs/lab.md.
#
#   scripts/lab/run.sh [--quick] [--json OUT] [--out DIR] [--levels "PPS ..."] [--kinds "..."]
#                      [--setups "..."] [--server-cpu F] [--no-capacity] [--chart PNG] [--keep]
#   scripts/lab/run.sh --soak MINUTES [--levels PPS] [--server-cpu F] [--out DIR]
#
#   --quick        the mixed flood at one level (default 60000 datagrams/s), 8 s: about 1.5 min
#   --json OUT     one JSON object keyed by set-up (the last mixed level's), plus every run and
#                  the criteria, see docs/lab.md
#   --out DIR      results (default /tmp/sipshield-lab)
#   --levels L     flood levels in datagrams/s (default: 5000 10000 20000 40000 60000)
#   --kinds K      flood kinds run alone at the top level, besides the mixed flood at every
#                  level (default without --quick: all six; "none" for none): register_single
#                  register_spoofed botnet_invite scanner_invite malformed fragments
#   --setups S     a subset of "no_flood sipshield_no_flood bridge sipshield kamailio_only"
#   --server-cpu F the share of one core Kamailio may use (a CPU quota in its own cgroup; default
#                  0.25, about 2000 registrations/s: a registrar with a database behind it;
#                  0 for no limit)
#   --no-capacity  skip the REGISTER ramp that measures Kamailio's capacity without flood
#   --chart PNG    draw success against flood rate per set-up (installs python3-matplotlib)
#   --soak M       the mixed flood through sipshield for M minutes (not in CI); figures per
#                  minute, the daemon's resident memory and table occupancy over time
#   --keep         keep the flood captures
#   KAM_CPUS=LIST  (environment) pin Kamailio with taskset -c LIST
#   SSLAB_POLICY=JSON  (environment) merged into the daemon's "policy" (scripts/lab/sipshield-lab.json),
#                  e.g. '{"probe": {"mode": "never"}}'; the daemon's events go to DIR/events.jsonl
#
# Ends with `check:` lines, the lab's criteria (docs/lab.md); the exit status does not depend on
# them: test/lab/quick_lab_check.py reads the JSON.
# Needs root (namespaces), build-release/apps/sipshield{,-gen} (this script builds nothing; the
# SIPSHIELD_BIN environment variable names another directory), and installs kamailio, sip-tester,
# tcpreplay and ethtool with apt-get if missing.
#
# Safety: all traffic stays inside three network namespaces created here (sslab-out, sslab-fw,
# sslab-srv) joined by two veth pairs; every namespace has blackhole default routes (v4 and v6);
# only 198.18.0.0/15 is used (the flood captures are checked before they are replayed). Nothing
# in the root namespace is changed but one cgroup (sslab-server, Kamailio's CPU quota), which
# the cleanup removes. Every process runs under `timeout` and every load is
# bounded in count (SIPp -m, tcpreplay --limit); an EXIT trap stops the processes started here
# (by PID) and deletes the namespaces (and with them the veths and the bridge).
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
LAB="$REPO/scripts/lab"
BIN=${SIPSHIELD_BIN:-$REPO/build-release/apps}
NS_OUT=sslab-out
NS_FW=sslab-fw
NS_SRV=sslab-srv
IF_OUT=sl-out0 # in sslab-out, toward the filter
IF_FWO=sl-fwo  # in sslab-fw, the filter's outside port
IF_FWI=sl-fwi  # in sslab-fw, the filter's inside port
IF_SRV=sl-srv0 # in sslab-srv, toward the filter
# sipshield-gen writes every frame 02:00:00:00:00:01 -> 02:00:00:00:00:02: giving the two end
# hosts these MACs delivers the flood captures without a rewrite.
MAC_OUT=02:00:00:00:00:01
MAC_SRV=02:00:00:00:00:02
SRV_IP=198.18.0.10
NICE="nice -n 10"

quick=0
json=""
out=/tmp/sipshield-lab
levels=""
kinds=""
setups="no_flood sipshield_no_flood bridge sipshield kamailio_only"
server_cpu=0.25
capacity=1
chart=""
soak=0
keep=0
while (($#)); do
	case "$1" in
	--quick) quick=1; shift ;;
	--json) json=$(realpath -m "$2"); shift 2 ;;
	--out) out=$(realpath -m "$2"); shift 2 ;;
	--levels) levels="$2"; shift 2 ;;
	--kinds) kinds="$2"; shift 2 ;;
	--setups) setups="$2"; shift 2 ;;
	--server-cpu) server_cpu="$2"; shift 2 ;;
	--no-capacity) capacity=0; shift ;;
	--chart) chart=$(realpath -m "$2"); shift 2 ;;
	--soak) soak="$2"; shift 2 ;;
	--keep) keep=1; shift ;;
	-h | --help) sed -n '2,52p' "$0"; exit 0 ;;
	*) echo "lab: unknown argument $1 (see --help)" >&2; exit 2 ;;
	esac
done
ALL_KINDS="register_single register_spoofed botnet_invite scanner_invite malformed fragments"

# Sizes. Regular users register once before the flood (warm-up), then re-register and call
# at a steady rate while it runs; newcomers register for the first time during the flood, half
# from the regular users' /24 (a prefix sipshield has seen a 200 OK to: "familiar"), half from
# a /24 no user came from before.
USERS=100
NEWCOMERS=25 # per group
if ((quick)); then
	levels=${levels:-60000}
	kinds=${kinds:-none}
	FLOOD_S=8
	REG_RATE=20
	NEW_RATE=4
else
	levels=${levels:-"5000 10000 20000 40000 60000"}
	kinds=${kinds:-$ALL_KINDS}
	FLOOD_S=15
	REG_RATE=20
	NEW_RATE=2
fi
[[ $kinds == none ]] && kinds=""
if ((soak)); then
	[[ $soak =~ ^[0-9]+$ ]] && ((soak <= 1440)) || { echo "lab: --soak takes minutes, 1-1440" >&2; exit 2; }
	levels=${levels##* }
	kinds=""
	setups=sipshield
	capacity=0
	FLOOD_S=$((soak * 60))
fi
RECV_TIMEOUT_MS=8000 # a phone gives up a transaction after 8 s without the answer it waits for
# Phones start sessions for FLOOD_S seconds; the flood lasts until the last of them has given
# up or finished, so no session is rescued by the end of the flood.
REPLAY_S=$((FLOOD_S + RECV_TIMEOUT_MS / 1000 + 2))

say() { printf 'lab: %s\n' "$*"; }
die() { printf 'lab: error: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- checks and installation
[[ $(id -u) -eq 0 ]] || die "needs root (network namespaces, af_packet needs CAP_NET_RAW)"
for b in sipshield sipshield-gen; do
	[[ -x $BIN/$b ]] || die "$BIN/$b missing: build first (meson setup build-release --buildtype=release && ninja -C build-release)"
done
for s in $setups; do
	[[ " no_flood sipshield_no_flood bridge sipshield kamailio_only " == *" $s "* ]] || die "unknown set-up $s"
done
for k in $kinds; do
	[[ " $ALL_KINDS " == *" $k "* ]] || die "unknown flood kind $k (known: $ALL_KINDS)"
done
[[ $server_cpu =~ ^(0|0?\.[0-9]+|[0-9]+(\.[0-9]+)?)$ ]] || die "--server-cpu takes a share of a core (0.25; 0: no limit)"
for t in ip timeout python3 nstat ss tcpdump; do
	command -v "$t" >/dev/null || die "$t not found"
done
missing=()
for p in kamailio sip-tester tcpreplay ethtool; do
	dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
	say "installing ${missing[*]} (apt-get)"
	apt-cache show "${missing[@]}" >/dev/null 2>&1 || apt-get update -q >/dev/null
	# Keep the package's kamailio service from starting on the host (see kamailio-baseline.sh).
	policy=""
	if [[ ! -e /usr/sbin/policy-rc.d ]]; then
		policy=/usr/sbin/policy-rc.d
		printf '#!/bin/sh\nexit 101\n' >"$policy"
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
for ns in "$NS_OUT" "$NS_FW" "$NS_SRV"; do
	! ip netns list | grep -q -w "$ns" ||
		die "namespace $ns already exists (another run, or a killed one: 'ip netns del $ns')"
done

# ---------------------------------------------------------------- cleanup, always
# Every background process is started as `ip netns exec NS timeout ... CMD`: its PID is the
# `timeout`, which passes a TERM or INT on to its command, and KILLs it after --kill-after.
pids=()
made_ns=()
tmp_files=()
cleanup() {
	local rc=$?
	set +e
	trap - EXIT INT TERM
	for p in "${pids[@]}"; do
		kill -0 "$p" 2>/dev/null && kill -TERM "$p" 2>/dev/null
	done
	for p in "${pids[@]}"; do
		wait "$p" 2>/dev/null
	done
	for ns in "${made_ns[@]}"; do
		ip netns del "$ns" 2>/dev/null
	done
	local i
	for i in 1 2 3 4 5; do # Kamailio's children leave their cgroup last
		[[ -z $cgroup ]] || ! [[ -d $cgroup ]] || rmdir "$cgroup" 2>/dev/null || { sleep 1; continue; }
		break
	done
	if ((${#tmp_files[@]})); then rm -f "${tmp_files[@]}"; fi
	((rc == 0)) || echo "lab: stopped with status $rc; processes and namespaces cleaned up" >&2
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# bg NS SECONDS LOGFILE CMD...: start CMD in namespace NS under timeout, at nice 10, in the
# directory $bg_cwd (default the results directory); sets $bg_pid.
bg() {
	local ns=$1 secs=$2 log=$3
	shift 3
	ip netns exec "$ns" timeout --kill-after=5 "$secs" $NICE env -C "${bg_cwd:-$out}" "$@" >"$log" 2>&1 &
	bg_pid=$!
	pids+=("$bg_pid")
}
# stop PID [SIGNAL]: signal a process started with bg (its timeout passes it on) and reap it.
stop() {
	kill -"${2:-TERM}" "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}
# the process under a bg's `timeout` (through nice, which execs)
child_of() { ps -o pid= --ppid "$1" 2>/dev/null | head -1 | tr -d ' '; }

mkdir -p "$out"
# The daemon's config: the lab's, with SSLAB_POLICY merged into its policy (profile paths made
# absolute, as the merged file lives in $out).
fw_config="$LAB/sipshield-lab.json"
if [[ -n ${SSLAB_POLICY:-} ]]; then
	fw_config="$out/sipshield-lab.json"
	python3 - "$LAB/sipshield-lab.json" "$fw_config" "$SSLAB_POLICY" <<'PY' || die "SSLAB_POLICY: not a JSON object"
import json, os, sys
src, dst, extra = sys.argv[1:4]
cfg = json.load(open(src))
for port in cfg["ports"].values():
    port["profile"] = os.path.normpath(os.path.join(os.path.dirname(src), port["profile"]))
policy = json.loads(extra)
if not isinstance(policy, dict):
    sys.exit(1)
def merge(a, b):
    for k, v in b.items():
        a[k] = merge(a.get(k, {}), v) if isinstance(v, dict) and isinstance(a.get(k), dict) else v
    return a
cfg["policy"] = merge(cfg.get("policy", {}), policy)
json.dump(cfg, open(dst, "w"), indent=1)
PY
fi
{
	echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "kamailio: $(kamailio -v 2>&1 | head -1)"
	echo "sipp: $(sipp -v 2>&1 | grep -o 'SIPp v[^ ]*' | head -1)"
	echo "tcpreplay: $(tcpreplay -V 2>&1 | head -1)"
	echo "sipshield: $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?') (working tree), built $(date -u -r "$BIN/sipshield" +%Y-%m-%dT%H:%M:%SZ)"
	echo "kernel: $(uname -r)"
	echo "cpus: $(nproc) ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'))"
	echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$out/env.txt"

# ---------------------------------------------------------------- users
# One line per user: name;password;its own address (SIPp -t ui -ip_field 2);the digest keyword
# (SIPp 3.6 expands an [authentication ...] keyword injected from a field, not [fieldN] nested in it).
users_file() { # FILE FIRST_NAME COUNT PREFIX FIRST_HOST
	local f=$1 n=$2 c=$3 pfx=$4 h=$5 i
	echo SEQUENTIAL >"$f"
	for ((i = 0; i < c; i++)); do
		echo "$((n + i));pw$((n + i))x;$pfx.$((h + i));[authentication username=$((n + i)) password=pw$((n + i))x]" >>"$f"
	done
}
users_file "$out/users-regular.csv" 100001 "$USERS" 198.18.16 1
users_file "$out/users-newcomers-familiar.csv" 100201 "$NEWCOMERS" 198.18.16 201
users_file "$out/users-newcomers-new.csv" 100301 "$NEWCOMERS" 198.18.24 1
users_file "$out/users-capacity.csv" 100401 50 198.18.30 1
rm -f "$out/users-newcomers-soak.csv" # a soak's, from an earlier run
if ((soak)); then # a newcomer every 10 s: 6 a minute, 250 to a /24 from 198.18.32.0
	echo SEQUENTIAL >"$out/users-newcomers-soak.csv"
	for ((i = 0; i < soak * 6; i++)); do
		u=$((110001 + i))
		echo "$u;pw${u}x;198.18.$((32 + i / 250)).$((1 + i % 250));[authentication username=$u password=pw${u}x]"
	done >>"$out/users-newcomers-soak.csv"
fi
mkdir -p "$out/db"
cp /usr/share/kamailio/dbtext/kamailio/version "$out/db/version"
{
	echo "id(int,auto) username(string) domain(string) password(string) ha1(string,null) ha1b(string,null) "
	id=1
	for f in "$out"/users-*.csv; do
		while IFS=';' read -r u p _; do
			[[ $u == SEQUENTIAL ]] && continue
			echo "$id:$u:example.test:$p::"
			id=$((id + 1))
		done <"$f"
	done
} >"$out/db/subscriber"

# ---------------------------------------------------------------- namespaces
say "creating namespaces $NS_OUT, $NS_FW, $NS_SRV"
for ns in "$NS_OUT" "$NS_FW" "$NS_SRV"; do
	ip netns add "$ns"
	made_ns+=("$ns")
	ip -n "$ns" link set lo up
	ip -n "$ns" route add blackhole default
	ip -n "$ns" -6 route add blackhole default
	ip netns exec "$ns" sysctl -q -w net.ipv4.ip_forward=0 net.ipv6.conf.all.forwarding=0 \
		net.ipv6.conf.default.accept_ra=0 net.ipv6.conf.all.accept_ra=0
done
ip -n "$NS_OUT" link add "$IF_OUT" address "$MAC_OUT" type veth peer name "$IF_FWO" netns "$NS_FW"
ip -n "$NS_SRV" link add "$IF_SRV" address "$MAC_SRV" type veth peer name "$IF_FWI" netns "$NS_FW"
# TX checksum offload off on every veth: with it on, a UDP datagram leaves a veth with a partial
# checksum; af_packet hands it to DPDK as is, the daemon forwards it as is, and the server's
# kernel drops every datagram as a bad checksum (ping and ARP still work).
ip netns exec "$NS_OUT" ethtool -K "$IF_OUT" tx off >/dev/null
ip netns exec "$NS_FW" ethtool -K "$IF_FWO" tx off >/dev/null
ip netns exec "$NS_FW" ethtool -K "$IF_FWI" tx off >/dev/null
ip netns exec "$NS_SRV" ethtool -K "$IF_SRV" tx off >/dev/null
for i in "$NS_OUT:$IF_OUT" "$NS_FW:$IF_FWO" "$NS_FW:$IF_FWI" "$NS_SRV:$IF_SRV"; do
	ip netns exec "${i%%:*}" sysctl -q -w "net.ipv6.conf.${i#*:}.disable_ipv6=1"
	ip -n "${i%%:*}" link set "${i#*:}" up
done
# Servers: 198.18.0.10; answers to 198.18.0.0/15 go to a static neighbour (the clients' MAC):
# no ARP through the filter, and no neighbour entry per spoofed source.
ip netns exec "$NS_SRV" sysctl -q -w net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 \
	"net.ipv4.conf.$IF_SRV.rp_filter=0"
ip -n "$NS_SRV" addr add "$SRV_IP/32" dev "$IF_SRV"
ip -n "$NS_SRV" addr add 198.18.0.11/32 dev lo # the SIPp UAS, reached by Kamailio only
ip -n "$NS_SRV" neigh add 198.18.0.1 lladdr "$MAC_OUT" dev "$IF_SRV" nud permanent
ip -n "$NS_SRV" route add 198.18.0.0/15 via 198.18.0.1 dev "$IF_SRV" onlink
# Clients: one /32 per user on the veth; the server's MAC is static too. Answers to spoofed
# attacker sources arrive here and are dropped (not local, forwarding off).
ip -n "$NS_OUT" neigh add "$SRV_IP" lladdr "$MAC_SRV" dev "$IF_OUT" nud permanent
ip -n "$NS_OUT" route add 198.18.0.0/15 dev "$IF_OUT"
for f in "$out"/users-*.csv; do
	while IFS=';' read -r u _ a _; do
		[[ $u == SEQUENTIAL ]] && continue
		echo "address add $a/32 dev $IF_OUT"
	done <"$f"
done | ip -n "$NS_OUT" -batch -
ip -n "$NS_OUT" addr add 198.18.16.250/32 dev "$IF_OUT" # SIPp's control socket (-i)

fw_bridge_up() {
	ip -n "$NS_FW" link add sl-br0 type bridge stp_state 0 forward_delay 0
	ip -n "$NS_FW" link set "$IF_FWO" master sl-br0
	ip -n "$NS_FW" link set "$IF_FWI" master sl-br0
	ip -n "$NS_FW" link set sl-br0 up
}
fw_bridge_down() { ip -n "$NS_FW" link del sl-br0 2>/dev/null || true; }

# ---------------------------------------------------------------- floods
# One capture per kind and level, frames toward the servers only, addresses checked. It holds
# at most GEN_S seconds; tcpreplay loops it for longer floods (spoofed sources then repeat after
# GEN_S seconds, long after sipshield forgot them: policy.sources.stray_idle_s 2 s).
GEN_S=$((REPLAY_S < 10 ? REPLAY_S : 10))
LOOPS=$(((REPLAY_S + GEN_S - 1) / GEN_S))
# flood_entry KIND PPS: one sipshield-gen flood object (docs/generator.md).
flood_entry() {
	local c="\"start_s\": 0, \"duration_s\": $GEN_S, \"rate_pps\": $2"
	case $1 in
	register_single) echo "{ \"kind\": \"register_flood\", $c }" ;;
	register_spoofed) echo "{ \"kind\": \"register_flood\", $c, \"spoofed\": true }" ;;
	# 256 bots, each packet from a new source port: the port-rotating botnet
	botnet_invite) echo "{ \"kind\": \"invite_flood\", $c, \"spoofed\": true, \"source_prefix\": \"198.19.200.0/24\" }" ;;
	scanner_invite) echo "{ \"kind\": \"scanner\", \"style\": \"invite\", $c, \"sources\": 20 }" ;;
	malformed) echo "{ \"kind\": \"malformed\", $c }" ;;
	fragments) echo "{ \"kind\": \"first_fragment\", $c, \"spoofed\": true }" ;;
	*) die "unknown flood kind $1 (known: $ALL_KINDS)" ;;
	esac
}
# The mixed flood's shares, in percent.
MIX="register_single:30 register_spoofed:30 botnet_invite:20 scanner_invite:5 malformed:10 fragments:5"
flood_pcap() { # KIND LEVEL -> $out/flood-KIND-LEVEL.pcap
	local k=$1 l=$2 f="$out/flood-$1-$2" parts=() m
	if [[ $k == mixed ]]; then
		for m in $MIX; do parts+=("$(flood_entry "${m%%:*}" $((l * ${m#*:} / 100)))"); done
	else
		parts=("$(flood_entry "$k" "$l")")
	fi
	local floods="" sep=""
	for m in "${parts[@]}"; do floods+="$sep$m" sep=$',\n    '; done
	cat >"$f.json" <<EOF
{
  "description": "lab flood $k, $l datagrams/s for $GEN_S s",
  "seed": 21,
  "duration_s": $((GEN_S + 1)),
  "servers": ["$SRV_IP:5060"],
  "users": { "count": 0, "newcomers": 0, "ipv6_share": 0 },
  "floods": [
    $floods
  ]
}
EOF
	$NICE "$BIN/sipshield-gen" --scenario "$f.json" --out "$f.gen" >/dev/null
	tcpdump -q -r "$f.gen.pcap" -w "$f.pcap" "dst host $SRV_IP" 2>/dev/null
	rm -f "$f.gen.pcap" "$f.gen.labels.tsv"
	((keep)) || tmp_files+=("$f.pcap")
	python3 "$LAB/lab_report.py" check-pcap "$f.pcap" >"$f.check.txt" ||
		die "flood capture $f.pcap: $(cat "$f.check.txt")"
}

# ---------------------------------------------------------------- the server's CPU
# Kamailio runs in a cgroup of its own with a CPU quota (--server-cpu): the flood levels this
# machine can generate are then many times the server's capacity, as a flood against a
# registrar with a database behind it would be. A 10 ms period keeps the quota's stalls short.
cgroup=""
cgroup_make() {
	local period=10000 quota
	quota=$(awk -v f="$server_cpu" 'BEGIN { printf "%d", f * 10000 }')
	((quota > 0)) || return 0
	if [[ -f /sys/fs/cgroup/cgroup.controllers ]]; then # cgroup v2
		grep -qw cpu /sys/fs/cgroup/cgroup.subtree_control ||
			echo +cpu >/sys/fs/cgroup/cgroup.subtree_control || die "cannot enable the cgroup v2 cpu controller"
		cgroup=/sys/fs/cgroup/sslab-server
		mkdir "$cgroup" || die "cannot create $cgroup (a killed run? rmdir it)"
		echo "$quota $period" >"$cgroup/cpu.max"
	elif [[ -d /sys/fs/cgroup/cpu ]]; then # cgroup v1
		cgroup=/sys/fs/cgroup/cpu/sslab-server
		mkdir "$cgroup" || die "cannot create $cgroup (a killed run? rmdir it)"
		echo "$period" >"$cgroup/cpu.cfs_period_us"
		echo "$quota" >"$cgroup/cpu.cfs_quota_us"
	else
		die "--server-cpu needs the cgroup cpu controller (or --server-cpu 0)"
	fi
}
# ---------------------------------------------------------------- Kamailio, UAS, daemon
kam_pid=""
kam_start() { # DIR [antiflood]
	local d=$1 defs=()
	[[ ${2:-} == antiflood ]] && defs=(-A WITH_ANTIFLOOD)
	mkdir -p "$d/run"
	local in_cgroup=()
	# `ip netns exec` mounts a sysfs of its own: reach the cgroup through this script's root.
	[[ -z $cgroup ]] || in_cgroup=(bash -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "/proc/$$/root$cgroup")
	bg "$NS_SRV" $((FLOOD_S + 600)) "$d/kamailio.log" "${in_cgroup[@]}" ${KAM_CPUS:+taskset -c "$KAM_CPUS"} kamailio -f "$LAB/kamailio-lab.cfg" -DD -E -n 2 -m 256 -M 16 \
		-Y "$d/run" -A "DBURL=\"text://$out/db\"" -A "CTLSOCK=\"unix:$d/run/ctl.sock\"" "${defs[@]}"
	kam_pid=$bg_pid
	local i
	for i in $(seq 1 100); do
		kill -0 "$kam_pid" 2>/dev/null || die "kamailio exited at start-up; see $d/kamailio.log"
		ip netns exec "$NS_SRV" ss -H -lnu 2>/dev/null | grep -q "$SRV_IP:5060" && [[ -S $d/run/ctl.sock ]] && return 0
		sleep 0.2
	done
	die "kamailio does not listen after 20 s; see $d/kamailio.log"
}
# Kamailio's processes: its main process and that one's children.
kam_pids() {
	local m
	m=$(child_of "$kam_pid")
	[[ -n $m ]] && { echo "$m"; ps -o pid= --ppid "$m"; }
}
cpu_ticks() { # PIDS... -> utime+stime summed
	local p t=0 f
	for p in "$@"; do
		f=$(cut -d')' -f2 "/proc/$p/stat" 2>/dev/null) || continue
		set -- $f
		t=$((t + ${12} + ${13}))
	done
	echo "$t"
}
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
ticks_s() { awk -v a="$1" -v b="$2" -v h="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", (b - a) / h }'; }
kam_stats() { # DIR FILE
	ip netns exec "$NS_SRV" timeout 5 kamcmd -s "unix:$1/run/ctl.sock" stats.get_statistics all >"$2" 2>&1 || true
}
uas_pid=""
uas_start() {
	mkdir -p "$1/uas"
	bg_cwd="$1/uas" bg "$NS_SRV" $((FLOOD_S + 600)) "$1/uas/sipp.out" sipp -sf "$LAB/sipp-uas.xml" -i 198.18.0.11 -p 5090 -nostdin -aa -max_socket 1000 \
		-trace_err -trace_stat -stf stat.csv -fd 1
	uas_pid=$bg_pid
}
fw_pid=""
fw_start() { # DIR
	bg "$NS_FW" $((FLOOD_S + 600)) "$1/sipshield.out" "$BIN/sipshield" --no-huge --no-shconf -m 1024 --no-pci -l 0-1 \
		--file-prefix sslab --log-level 'lib.eal:error' \
		-- --config "$fw_config" --report "$1/sipshield-report.json" --events "$1/events.jsonl"
	fw_pid=$bg_pid
	local i
	for i in $(seq 1 100); do
		kill -0 "$fw_pid" 2>/dev/null || die "sipshield exited at start-up; see $1/sipshield.out"
		grep -q -i -E 'running|started|forwarding|worker' "$1/sipshield.out" 2>/dev/null && { sleep 1; return 0; }
		sleep 0.2
	done
	die "sipshield did not start in 20 s; see $1/sipshield.out"
}

# sipp_run DIR NAME USERS_FILE RATE COUNT [SIPP ARGS]: SIPp phones in the clients' namespace, in the
# background; sets $bg_pid. Each SIPp "call" is one session of sipp-session.xml.
sipp_run() {
	local d="$1/$2" inf=$3 rate=$4 count=$5
	shift 5
	mkdir -p "$d"
	bg_cwd="$d" bg "$NS_OUT" $((FLOOD_S + 120)) "$d/sipp.out" sipp "$SRV_IP:5060" -sf "$LAB/sipp-session.xml" \
		-inf "$inf" -t ui -ip_field 2 -i 198.18.16.250 -p 5060 -r "$rate" -m "$count" -l 400 "$@" \
		-aa -nd -nostdin -max_socket 1000 ${SSLAB_SIPP_TRACE:+-trace_msg} -recv_timeout "$RECV_TIMEOUT_MS" -max_non_invite_retrans 6 \
		-trace_stat -stf stat.csv -fd 1 -trace_rtt -rtt_freq 1 -trace_err
}

# ---------------------------------------------------------------- one set-up
# The daemon's resident memory and its stats line (table occupancy), every 10 s: the soak's
# evidence that nothing grows without bound. Lines: epoch seconds, VmRSS kB, stats line.
sample_daemon() { # DIR
	local p line rss
	while sleep 10; do
		p=$(child_of "$fw_pid")
		rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$p/status" 2>/dev/null || echo 0)
		line=$(grep '^sipshield: rx outside' "$1/sipshield.out" | tail -1)
		printf '%s\t%s\t%s\n' "$(date +%s)" "${rss:-0}" "$line" >>"$1/daemon-samples.tsv"
	done
}

run_setup() { # SETUP KIND LEVEL (the references without flood: no kind, no level)
	local s=$1 k=$2 l=$3 d="$out/$2-$3/$1" flood=1
	if [[ $s == no_flood || $s == sipshield_no_flood ]]; then d="$out/$s" l=0 flood=0; fi
	rm -rf "$d"
	mkdir -p "$d"
	say "[$k $l pps] $s"
	case $s in
	sipshield | sipshield_no_flood) fw_bridge_down; fw_start "$d" ;;
	*) fw_bridge_up ;;
	esac
	if [[ $s == kamailio_only ]]; then kam_start "$d" antiflood; else kam_start "$d"; fi
	uas_start "$d"
	sleep 0.5
	# warm-up: every regular user registers (and calls) once
	sipp_run "$d" warmup "$out/users-regular.csv" 50 "$USERS"
	local w=$bg_pid
	wait "$w" || true
	ip netns exec "$NS_SRV" nstat -a -s -z >"$d/srv-nstat-start.txt" 2>/dev/null || true
	kam_stats "$d" "$d/kamstats-start.txt"
	local k0 t0 f0=0 sampler=""
	k0=$(cpu_ticks $(kam_pids))
	[[ -n $fw_pid ]] && f0=$(cpu_ticks "$(child_of "$fw_pid")")
	t0=$(date +%s.%N)
	if ((soak)); then
		sample_daemon "$d" &
		sampler=$!
		pids+=("$sampler")
	fi
	# the flood, then the regular users' steady sessions, then the newcomers
	local rp=""
	if ((flood)); then
		bg "$NS_OUT" $((REPLAY_S + 30)) "$d/tcpreplay.txt" tcpreplay --intf1="$IF_OUT" --pps="$l" \
			--pps-multi=16 --timer=nano --loop="$LOOPS" --limit=$((l * REPLAY_S)) --duration=$((REPLAY_S + 5)) \
			--preload-pcap --no-flow-stats "$out/flood-$k-$l.pcap"
		rp=$bg_pid
		sleep 0.5
	fi
	sipp_run "$d" regular "$out/users-regular.csv" "$REG_RATE" $((REG_RATE * (FLOOD_S - 1)))
	local r=$bg_pid n1 n2=""
	sleep 1
	if ((soak)); then # a newcomer every 10 s for the whole soak
		sipp_run "$d" newcomers-new "$out/users-newcomers-soak.csv" 1 $((FLOOD_S / 10 - 1)) -rp 10000
		n1=$bg_pid
	else
		sipp_run "$d" newcomers-familiar "$out/users-newcomers-familiar.csv" "$NEW_RATE" "$NEWCOMERS"
		n1=$bg_pid
		sipp_run "$d" newcomers-new "$out/users-newcomers-new.csv" "$NEW_RATE" "$NEWCOMERS"
		n2=$bg_pid
	fi
	[[ -z $rp ]] || wait "$rp" || true
	wait "$r" "$n1" $n2 || true
	local t1 k1 f1=0
	t1=$(date +%s.%N)
	k1=$(cpu_ticks $(kam_pids))
	[[ -n $fw_pid ]] && f1=$(cpu_ticks "$(child_of "$fw_pid")")
	[[ -z $sampler ]] || { kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null || true; }
	kam_stats "$d" "$d/kamstats-end.txt"
	ip netns exec "$NS_SRV" nstat -a -s -z >"$d/srv-nstat.txt" 2>/dev/null || true
	ip -n "$NS_SRV" -s link show "$IF_SRV" >"$d/srv-link.txt"
	printf '{"setup": "%s", "kind": "%s", "level_pps": %s, "flood": %s, "flood_s": %s, "server_cpu": %s, "seconds": %s, "kamailio_cpu_s": %s, "sipshield_cpu_s": %s, "clk_tck": %s}\n' \
		"$s" "$k" "$l" "$( ((flood)) && echo true || echo false)" "$FLOOD_S" "$server_cpu" \
		"$(secs "$t0" "$t1")" "$(ticks_s "$k0" "$k1")" "$(ticks_s "$f0" "$f1")" "$(getconf CLK_TCK)" >"$d/meta.json"
	stop "$uas_pid"
	stop "$kam_pid"
	kam_pid=""
	if [[ -n $fw_pid ]]; then
		stop "$fw_pid" INT
		fw_pid=""
	fi
	fw_bridge_down
}

# ---------------------------------------------------------------- capacity
# A short REGISTER ramp (digest auth, challenge included) through the plain bridge, no flood:
# steps of 3 s at increasing rates; the capacity is the highest rate that still had >= 99 %
# success and a median registration time under 100 ms.
run_capacity() {
	local d="$out/capacity" rate
	rm -rf "$d"
	mkdir -p "$d"
	say "capacity: REGISTER ramp without flood"
	fw_bridge_up
	kam_start "$d"
	local k0 k1 t0 t1
	for rate in 500 1000 2000 4000 8000 16000; do
		mkdir -p "$d/r$rate"
		k0=$(cpu_ticks $(kam_pids))
		t0=$(date +%s.%N)
		bg_cwd="$d/r$rate" bg "$NS_OUT" 60 "$d/r$rate/sipp.out" sipp "$SRV_IP:5060" -sf "$LAB/sipp-register.xml" \
			-inf "$out/users-capacity.csv" -t ui -ip_field 2 -i 198.18.16.250 -p 5060 -r "$rate" \
			-m $((rate * 2)) -l $((rate * 2)) -nd -nostdin -max_socket 1000 -recv_timeout 4000 \
			-trace_stat -stf stat.csv -fd 1 -trace_rtt -rtt_freq 1
		wait "$bg_pid" || true
		t1=$(date +%s.%N)
		k1=$(cpu_ticks $(kam_pids))
		printf '{"rate": %s, "seconds": %s, "kamailio_cpu_s": %s}\n' "$rate" "$(secs "$t0" "$t1")" \
			"$(ticks_s "$k0" "$k1")" >"$d/r$rate/meta.json"
	done
	stop "$kam_pid"
	kam_pid=""
	fw_bridge_down
	python3 "$LAB/lab_report.py" capacity "$d" | tee "$d/capacity.txt"
}

# ---------------------------------------------------------------- main
start=$(date +%s)
cgroup_make
((capacity)) && run_capacity
# The runs: the mixed flood at every level, then each kind alone at the top level. The
# reference (no flood) does not depend on them: it runs once.
top=${levels##* }
runs=()
for l in $levels; do runs+=("mixed-$l"); done
for k in $kinds; do runs+=("$k-$top"); done
for s in no_flood sipshield_no_flood; do
	if [[ " $setups " == *" $s "* ]]; then run_setup "$s" none 0; fi
done
for r in "${runs[@]}"; do
	say "generating the flood capture: ${r%-*} at ${r##*-} pps"
	flood_pcap "${r%-*}" "${r##*-}"
	sed 's/^/    /' "$out/flood-$r.check.txt"
	for s in $setups; do
		[[ $s == no_flood || $s == sipshield_no_flood ]] || run_setup "$s" "${r%-*}" "${r##*-}"
	done
done
say "took $(($(date +%s) - start)) s"
if ((soak)); then
	python3 "$LAB/lab_report.py" soak "$out/mixed-$top/sipshield" ${json:+--json "$json"} | tee "$out/summary.txt"
else
	python3 "$LAB/lab_report.py" summary "$out" --runs "${runs[*]}" ${json:+--json "$json"} \
		--json-run "mixed-$top" | tee "$out/summary.txt"
fi
if [[ -n $chart ]]; then
	dpkg -s python3-matplotlib >/dev/null 2>&1 || DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-matplotlib >/dev/null ||
		die "apt-get install python3-matplotlib failed"
	# Debian's python3 has Debian's matplotlib, whichever python3 comes first on PATH
	/usr/bin/python3 "$LAB/lab_report.py" chart "$out/results.json" "$chart"
	say "chart: $chart"
fi
say "done: results in $out"
