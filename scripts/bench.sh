#!/usr/bin/env bash
# Measures, on this machine and in one run: the pipeline's cycles per frame (no PMD), what a
# return-routability probe and a verified-source lookup cost, and the
# daemon's forwarding rate on one worker core against dpdk-testpmd io forwarding on the same
# vdevs. Prints figures; asserts nothing. Each run is bounded (a few seconds).
#   scripts/bench.sh [seconds per run, default 5]
#   scripts/bench.sh --json OUT [seconds]   the suite instead: every kind of flood beside
#                                          testpmd in the same run, one and two workers, the
#                                          cycles by stage (a second build, build-stages/ with
#                                          -Dstage_cycles=true), memory, and a chart beside OUT
#                                          (OUT without .json, .png; scripts/bench_suite.py)
set -euo pipefail
cd "$(dirname "$0")/.."
json_out=""
if [[ ${1:-} == --json ]]; then
  json_out=${2:?--json needs a file}
  shift 2
fi
seconds=${1:-5}
bash scripts/build.sh >/dev/null
if [[ -n $json_out ]]; then
  [[ -f build-stages/build.ninja ]] ||
    meson setup build-stages --buildtype=debugoptimized -Dstage_cycles=true -Dtests=false >/dev/null
  ninja -C build-stages -j2 >/dev/null
  # The chart: Debian's matplotlib, for Debian's python3 (as scripts/lab/run.sh --chart)
  dpkg -s python3-matplotlib >/dev/null 2>&1 ||
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-matplotlib >/dev/null
  exec /usr/bin/python3 scripts/bench_suite.py --build build --stages-build build-stages \
    --json "$json_out" --chart "${json_out%.json}.png" --seconds "$seconds"
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
eal=(--no-huge --no-pci --no-shconf -m 1024 -l 0-1 --no-telemetry)

echo "== pipeline alone (build/apps/sipshield-bench-pipeline)"
build/apps/sipshield-bench-pipeline

echo "== return-routability probes (build/apps/sipshield-bench-probe)"
build/apps/sipshield-bench-probe

# A capture of 1024 REGISTERs from 1024 clients to the protected server, replayed endlessly.
python3 - "$work" <<'PY'
import struct, sys
work = sys.argv[1]
def csum(h):
    s = sum(struct.unpack("!%dH" % (len(h) // 2), h))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return (~s) & 0xffff
reg = (b"REGISTER sip:example.test SIP/2.0\r\nVia: SIP/2.0/UDP 198.18.16.5:5060;branch=z9hG4bKnashds7;rport\r\n"
       b"Max-Forwards: 70\r\nFrom: <sip:1005@example.test>;tag=8wj3kd\r\nTo: <sip:1005@example.test>\r\n"
       b"Call-ID: a84b4c76e66710@198.18.16.5\r\nCSeq: 1826 REGISTER\r\nContact: <sip:1005@198.18.16.5:5060>\r\n"
       b"Expires: 600\r\nUser-Agent: Linphone/5.2.5\r\nContent-Length: 0\r\n\r\n")
with open(work + "/reg.pcap", "wb") as f, open(work + "/empty.pcap", "wb") as e:
    header = struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1)
    f.write(header)
    e.write(header)
    for i in range(1024):
        udp = struct.pack("!HHHH", 5060, 5060, 8 + len(reg), 0) + reg
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0,
                         bytes([198, 18, 16 + i // 256, i % 256]), bytes([198, 18, 0, 10]))
        ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
        frame = b"\x02\0\0\0\0\x02\x02\0\0\0\0\x01\x08\x00" + ip + udp
        f.write(struct.pack("<IIII", 1000, i, len(frame), len(frame)) + frame)
PY

testpmd_mpps() {  # vdev args...: total Rx-pps over both ports, from testpmd's last stats
  timeout -s INT $((seconds + 2)) dpdk-testpmd "${eal[@]}" "$@" -- --total-num-mbufs=16384 \
    --forward-mode=io --auto-start --stats-period 1 >"$work/testpmd.txt" 2>&1 || true
  grep -E "Rx-pps" "$work/testpmd.txt" | tail -2 | awk '{s += $2} END {printf "%.2f", s / 1e6}'
}

sipshield_mpps() {  # outside device, inside device
  cat >"$work/bench.json" <<JSON
{"eal": {"args": ["--no-huge", "--no-pci", "--no-shconf", "-m", "1024", "-l", "0-1", "--no-telemetry"]},
 "ports": {"outside": {"device": "$1", "rss": {"enabled": false}},
           "inside": {"device": "$2", "rss": {"enabled": false}}},
 "protected": ["198.18.0.10:5060"], "stats_interval_s": 0, "clock": "tsc"}
JSON
  build/apps/sipshield --config "$work/bench.json" --duration "$seconds" 2>/dev/null |
    python3 -c 'import json, sys; d = json.load(sys.stdin); p = d["counters"]["ports"]
print("%.2f" % ((p["outside"]["rx"] + p["inside"]["rx"]) / d["uptime_s"] / 1e6))'
}

echo
echo "== forwarding, one worker core, ${seconds} s per run (Mpps, both directions summed)"
printf '  %-52s %10s %10s %7s\n' "traffic" "testpmd" "sipshield" "ratio"
row() {
  printf '  %-52s %10s %10s %7s\n' "$1" "$2" "$3" "$(python3 -c "print('%.2f' % ($3 / $2))")"
}
t=$(testpmd_mpps --vdev=net_null0 --vdev=net_null1)
s=$(sipshield_mpps net_null0 net_null1)
row "net_null both ways: 64 B zero frames (non-IP)" "$t" "$s"
t=$(testpmd_mpps "--vdev=net_pcap0,rx_pcap=$work/reg.pcap,infinite_rx=1" "--vdev=net_pcap1,rx_pcap=$work/empty.pcap")
s=$(sipshield_mpps "net_pcap0,rx_pcap=$work/reg.pcap,infinite_rx=1" "net_pcap1,rx_pcap=$work/empty.pcap")
row "net_pcap: 455 B REGISTERs to the protected service" "$t" "$s"
