#!/usr/bin/env python3
"""The benchmark suite (scripts/bench.sh --json OUT): for each kind of traffic a flood can bring,
dpdk-testpmd io forwarding and the sipshield daemon (one worker) on the same net_pcap ports and
the same capture, replayed from memory (infinite_rx), in one run. Prints a table and writes JSON:

    {"testpmd_mpps": x, "tsc_ghz": g, "cases": [{"name", "workers", "mpps_per_core",
     "testpmd_mpps", "ratio_to_testpmd", "cycles_per_packet", "verdicts"}...],
     "tokenizer": [{"message", "bytes", "cycles", "byte_pass_cycles", "ratio"}...]}

Speed is measured here, never asserted. Traffic goes only into vdevs of this process (no
network): the test hosts' addresses are in 198.18.0.0/15.

    bench_suite.py --build BUILD --json OUT [--seconds S] [--cases a,b]
"""
import argparse
import json
import os
import random
import re
import socket
import struct
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test",
                                "integration"))
from sip_frames import SERVER, ipv4_checksum, register_ok, request, udp_frame  # noqa: E402

EAL = ["--no-huge", "--no-pci", "--no-shconf", "-m", "1024", "-l", "0-1", "--no-telemetry"]
MBUFS = 131071  # infinite_rx keeps the whole capture (65,536 frames at most) in mbufs
DENIED = "198.18.200.0/24"
SDP = ("v=0\r\no=- 1 1 IN IP4 {host}\r\ns=-\r\nc=IN IP4 {host}\r\nt=0 0\r\n"
       "m=audio 4000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
       "a=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n")


def host(i, base=(198, 19)):
    return f"{base[0]}.{base[1]}.{i // 250 % 250}.{i % 250 + 1}"


def write_pcap(path, frames):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i, frame in enumerate(frames):
            f.write(struct.pack("<IIII", 1000 + i // 1000000, i % 1000000, len(frame), len(frame)))
            f.write(frame)


def first_fragment(src, dst, payload, ident):
    """The first fragment of a UDP datagram longer than it (MF set, offset 0)."""
    body = struct.pack("!HHHH", src[1], dst[1], 8 + len(payload), 0) + payload
    part = body[:504]
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(part), ident & 0xFFFF, 0x2000, 64,
                         17, 0, socket.inet_aton(src[0]), socket.inet_aton(dst[0]))
    header = header[:10] + struct.pack("!H", ipv4_checksum(header)) + header[12:]
    return bytes.fromhex("020000000002020000000001") + b"\x08\x00" + header + part


def invite(client, user, call, with_sdp=True):
    body = SDP.format(host=client[0]) if with_sdp else ""
    text = request("INVITE", client, user, call, extra="Content-Type: application/sdp\r\n")
    return text.replace("Content-Length: 0", f"Content-Length: {len(body)}") + body


def cases():
    """{name: (outside frames, inside frames, extra config)}"""
    rnd = random.Random(7)
    out = {}
    out["junk"] = ([udp_frame((host(i), 5060), SERVER, bytes(rnd.getrandbits(8) for _ in range(22)))
                    for i in range(1024)], [], {})
    out["malformed"] = ([udp_frame((host(i), 5060), SERVER,
                                   request("REGISTER", (host(i), 5060), str(i), f"m{i}")
                                   .replace("CSeq: 1 REGISTER", "CSeq: 1 INVITE"))
                         for i in range(1024)], [], {})
    # sipsak: a rule that drops without banning, so every frame is scanned.
    out["scanner"] = ([udp_frame((host(i), 5060), SERVER,
                                 request("OPTIONS", (host(i), 5060), str(i), f"s{i}",
                                         agent="sipsak 0.9.8"))
                       for i in range(1024)], [], {})
    out["denied"] = ([udp_frame((f"198.18.200.{i % 250 + 1}", 5060 + i), SERVER,
                                request("REGISTER", ("198.18.200.1", 5060), str(i), f"d{i}"))
                      for i in range(1024)], [], {"deny": [DENIED]})
    # 65,536 sources with a banned User-Agent: banned at their first frame, then dropped at the
    # source lookup.
    out["banned"] = ([udp_frame((host(i), 5060), SERVER,
                                request("OPTIONS", (host(i), 5060), "1", "b",
                                        agent="friendly-scanner"))
                      for i in range(65536)], [],
                     {"policy": {"sources": {"max": 131072}}})
    users = [(host(i, (198, 18)), 5060) for i in range(16, 16 + 256)]
    legit = []
    for n, u in enumerate(users):
        legit.append(udp_frame(u, SERVER, request("REGISTER", u, f"u{n}", f"r{n}")))
        legit.append(udp_frame(u, SERVER, invite(u, f"u{n}", f"i{n}")))
        legit.append(udp_frame(u, SERVER, "\r\n\r\n"))
    out["legit"] = (legit, [udp_frame(SERVER, u, register_ok(u, f"u{n}", f"r{n}"))
                            for n, u in enumerate(users)], {"policy": open_meters()})
    out["spoofed_register"] = ([udp_frame((host(i), 1024 + i % 60000), SERVER,
                                          request("REGISTER", (host(i), 5060), str(i % 9000),
                                                  f"p{i}"))
                                for i in range(65536)], [], {})
    out["botnet_invite"] = ([udp_frame((host(i % 512), 10000 + i), SERVER,
                                       invite((host(i % 512), 10000 + i), str(i % 900), f"v{i}"))
                             for i in range(16384)], [], {})
    out["fragments"] = ([first_fragment((host(i), 5060), SERVER,
                                        b"x" * 1400, i) for i in range(16384)], [], {})
    mix = []
    for name in ("junk", "malformed", "scanner", "denied", "spoofed_register", "botnet_invite",
                 "fragments"):
        mix.extend(out[name][0][:1024])
    rnd.shuffle(mix)
    out["worst_mix"] = (mix, [], {"deny": [DENIED]})
    return out


def open_meters():
    """Meters out of the way: legit traffic loops far faster than any phone sends."""
    wide = {"rate_per_s": 1000000, "burst": 1000}
    classes = {c: wide for c in ("register", "invite", "options", "other", "response")}
    return {"trusted": classes, "untrusted": classes, "per_address": classes,
            "untrusted_budget": {"rate_per_s": 1000000, "burst": 1000},
            "probe": {"mode": "never"}, "demerits": {"rate_limited": 0}}


def testpmd_mpps(outside, inside, seconds, work):
    log = os.path.join(work, "testpmd.txt")
    with open(log, "w") as f:
        subprocess.run(["timeout", "-s", "INT", str(seconds + 3), "dpdk-testpmd", *EAL,
                        f"--vdev=net_pcap0,rx_pcap={outside},infinite_rx=1",
                        f"--vdev=net_pcap1,rx_pcap={inside}", "--",
                        f"--total-num-mbufs={MBUFS}", "--forward-mode=io", "--auto-start",
                        "--stats-period", "1"], stdout=f, stderr=subprocess.STDOUT)
    rates = [int(x) for x in re.findall(r"Rx-pps:\s+(\d+)", open(log).read())]
    return sum(rates[-2:]) / 1e6 if len(rates) >= 2 else 0.0


def sipshield_run(build, outside, inside, extra, seconds, work):
    cfg = {"eal": {"args": EAL},
           "ports": {"outside": {"device": f"net_pcap0,rx_pcap={outside},infinite_rx=1",
                                 "rss": {"enabled": False}},
                     "inside": {"device": f"net_pcap1,rx_pcap={inside}", "rss": {"enabled": False}}},
           "protected": ["198.18.0.10:5060"], "stats_interval_s": 0, "clock": "tsc",
           "mempool": {"mbufs": MBUFS}, "control": {"socket": ""}, "metrics": {"enabled": False}}
    cfg.update(extra)
    path = os.path.join(work, "sipshield.json")
    with open(path, "w") as f:
        json.dump(cfg, f)
    proc = subprocess.run([os.path.join(build, "apps", "sipshield"), "--config", path,
                           "--duration", str(seconds)], capture_output=True, text=True,
                          timeout=seconds + 60)
    if proc.returncode != 0:
        raise RuntimeError(f"sipshield: {proc.stderr[-800:]}")
    report = json.loads(proc.stdout[proc.stdout.index("{"):])
    c = report["counters"]
    frames = c["ports"]["outside"]["rx"] + c["ports"]["inside"]["rx"]
    verdicts = {f"pass/{k}": v for k, v in c["passed_by_reason"].items()}
    verdicts.update({f"drop/{k}": v for k, v in c["dropped_by_reason"].items()})
    return frames / report["uptime_s"] / 1e6, verdicts


def tokenizer_rows(build):
    out = subprocess.run([os.path.join(build, "apps", "sipshield-bench-sip")],
                         capture_output=True, text=True, timeout=300).stdout
    ghz = float(re.search(r"TSC ([\d.]+) GHz", out).group(1))
    names = {"REGISTER with digest credentials": "register_761",
             "REGISTER without credentials": "register_580", "INVITE with SDP": "invite_sdp",
             "200 OK response": "ok_200"}
    rows = []
    for line in out.splitlines():
        for label, name in names.items():
            if line.strip().startswith(label):
                nums = line[len(label) + 2:].split()
                cycles, byte_pass = float(nums[1]), float(nums[3])
                rows.append({"message": name, "bytes": int(nums[0]), "cycles": cycles,
                             "byte_pass_cycles": byte_pass, "ratio": round(cycles / byte_pass, 2)})
    return ghz, rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--json", required=True)
    ap.add_argument("--seconds", type=int, default=4)
    ap.add_argument("--cases", default="")
    args = ap.parse_args()
    ghz, tokenizer = tokenizer_rows(args.build)
    all_cases = cases()
    wanted = args.cases.split(",") if args.cases else list(all_cases)
    rows = []
    with tempfile.TemporaryDirectory(prefix="sipshield-bench-") as work:
        print(f"== per case, one worker core, {args.seconds} s per run, TSC {ghz:.2f} GHz")
        print(f"  {'case':<18} {'testpmd Mpps':>12} {'sipshield Mpps':>15} {'ratio':>6} "
              f"{'cycles/pkt':>10}  main verdict")
        for name in wanted:
            outside_frames, inside_frames, extra = all_cases[name]
            outside, inside = os.path.join(work, "out.pcap"), os.path.join(work, "in.pcap")
            write_pcap(outside, outside_frames)
            write_pcap(inside, inside_frames)
            t = testpmd_mpps(outside, inside, args.seconds, work)
            s, verdicts = sipshield_run(args.build, outside, inside, extra, args.seconds, work)
            top = max(verdicts.items(), key=lambda kv: kv[1])[0] if verdicts else "-"
            row = {"name": name, "workers": 1, "mpps_per_core": round(s, 3),
                   "testpmd_mpps": round(t, 3), "ratio_to_testpmd": round(s / t, 3) if t else None,
                   "cycles_per_packet": round(ghz * 1e3 / s) if s else None, "verdicts": verdicts}
            rows.append(row)
            print(f"  {name:<18} {t:>12.2f} {s:>15.2f} {row['ratio_to_testpmd'] or 0:>6.2f} "
                  f"{row['cycles_per_packet'] or 0:>10}  {top}")
    print("== tokenizer against one table lookup per byte (sipshield-bench-sip)")
    for r in tokenizer:
        print(f"  {r['message']:<14} {r['bytes']:>5} B {r['cycles']:>7.0f} cycles, byte pass "
              f"{r['byte_pass_cycles']:>6.0f}: ratio {r['ratio']:.2f}")
    testpmd = [r["testpmd_mpps"] for r in rows if r["testpmd_mpps"]]
    with open(args.json, "w") as f:
        json.dump({"testpmd_mpps": round(max(testpmd), 3) if testpmd else None, "tsc_ghz": ghz,
                   "cases": rows, "tokenizer": tokenizer}, f, indent=1)
    print(f"written: {args.json}")


if __name__ == "__main__":
    sys.exit(main())
