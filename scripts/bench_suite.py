#!/usr/bin/env python3
"""The benchmark suite (scripts/bench.sh --json OUT): for each kind of traffic a flood can bring,
dpdk-testpmd io forwarding and the sipshield daemon on the same net_pcap ports and the same
capture, replayed from memory (infinite_rx), in one run; with one worker and with two (the
capture split over two queues per port by a symmetric address hash, as RSS would). Prints tables
and writes JSON:

    {"testpmd_mpps": x, "tsc_ghz": g,
     "cases": [{"name", "workers", "mpps_per_core", "mpps", "testpmd_mpps", "ratio_to_testpmd",
                "cycles_per_packet", "verdicts", "stages", "perf"}...],
     "scaling": [{"name", "one_worker_mpps", "two_workers_mpps", "factor"}...],
     "cores_needed": [{"name", "link", "frame_bytes", "mpps", "cores"}...],
     "memory": {...}, "tokenizer": [{"message", "bytes", "cycles", "byte_pass_cycles",
     "ratio"}...], "kamailio": {...}}

With --stages-build (a build with -Dstage_cycles=true), each one-worker case is run once more
there and its cycles per frame are broken down by stage (telemetry/stage_cycles.hpp). With
--chart PNG, a bar chart of Mpps per core per case beside testpmd (matplotlib).

Speed is measured here, never asserted. Traffic goes only into vdevs of this process (no
network): the test hosts' addresses are in 198.18.0.0/15.

    bench_suite.py --build BUILD --json OUT [--seconds S] [--cases a,b] [--workers 1,2]
                   [--stages-build BUILD] [--chart PNG]
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
from sip_frames import (SERVER, esp_frame, ipv4_checksum, register_ok, request,  # noqa: E402
                        security_challenge, udp_frame)

EAL_BASE = ["--no-huge", "--no-pci", "--no-shconf", "-m", "1024", "--no-telemetry"]
# The main lcore mostly sleeps (10 ms a loop); each worker gets a CPU of its own where the machine
# has them. On this 2-CPU VM the second worker shares CPU 0 with the main lcore.
LCORES = {1: ["-l", "0-1"], 2: ["--lcores", "0@0,1@1,2@0"]}
EAL = EAL_BASE + LCORES[1]
KAMAILIO_REGISTERS_PER_S = 20000  # the figure for Kamailio on most of a core
LINKS = [("10GbE", 10e9), ("25GbE", 25e9), ("100GbE", 100e9)]
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
    # IMS Gm: ESP to the protected P-CSCF. Unknown SPIs from 1024 sources, and one UE's SA (learned
    # from the P-CSCF's 401 on the inside port) replayed: after the first pass every number is old.
    esp = {"esp": {"enabled": True}}
    out["esp_unknown_spi"] = ([esp_frame((host(i), 5062), (SERVER[0], 5064), 0x10000 + i, 1)
                               for i in range(1024)], [], esp)
    ue = ("198.18.5.1", 5062)
    out["esp_replayed"] = ([esp_frame(ue, (SERVER[0], 5064), 3002, seq, b"x")
                            for seq in range(1, 1025)],
                           [udp_frame(SERVER, ("198.18.5.1", 5060),
                                      security_challenge(("198.18.5.1", 5060), "u1", "c1", 3001,
                                                         3002))], esp)
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


def split_by_address_pair(frames, queues):
    """RSS as a symmetric hash spreads flows: each frame to queue hash(sorted address pair) % n, so
    both directions of a pair and every fragment of a datagram share a queue."""
    out = [[] for _ in range(queues)]
    for frame in frames:
        ethertype = struct.unpack_from("!H", frame, 12)[0]
        pair = (sorted([frame[26:30], frame[30:34]]) if ethertype == 0x0800 else
                sorted([frame[22:38], frame[38:54]]) if ethertype == 0x86DD else [b""])
        out[int.from_bytes(b"".join(pair), "big") % 1000003 % queues].append(frame)
    return out


def write_queues(work, outside_frames, inside_frames, workers):
    """One capture per queue per port: {"outside": [paths], "inside": [paths]}."""
    files = {}
    for port, frames in (("outside", outside_frames), ("inside", inside_frames)):
        files[port] = []
        parts = split_by_address_pair(frames, workers) if workers > 1 else [frames]
        for q, part in enumerate(parts):
            path = os.path.join(work, f"{port}-{workers}w-q{q}.pcap")
            write_pcap(path, part)
            files[port].append(path)
    return files


def vdev(n, files, looping):
    args = ",".join(f"rx_pcap={f}" for f in files)
    return f"net_pcap{n},{args}" + (",infinite_rx=1" if looping else "")


def testpmd_mpps(files, workers, seconds, work):
    log = os.path.join(work, "testpmd.txt")
    with open(log, "w") as f:
        subprocess.run(["timeout", "-s", "INT", str(seconds + 3), "dpdk-testpmd",
                        *EAL_BASE, *LCORES[workers],
                        f"--vdev={vdev(0, files['outside'], True)}",
                        f"--vdev={vdev(1, files['inside'], False)}", "--",
                        f"--total-num-mbufs={MBUFS}", "--forward-mode=io", "--auto-start",
                        f"--nb-cores={workers}", f"--rxq={workers}", f"--txq={workers}",
                        "--stats-period", "1"], stdout=f, stderr=subprocess.STDOUT)
    rates = [int(x) for x in re.findall(r"Rx-pps:\s+(\d+)", open(log).read())]
    return sum(rates[-2:]) / 1e6 if len(rates) >= 2 else 0.0


def perf_available():
    """perf stat needs the CPU's counters; many VMs (this one) expose none."""
    if not os.path.isdir("/sys/bus/event_source/devices/cpu"):
        return "no hardware counters in this machine (/sys/bus/event_source/devices/cpu absent)"
    if subprocess.run(["sh", "-c", "command -v perf"], capture_output=True).returncode != 0:
        return "perf is not installed (Debian: linux-perf)"
    return ""


def sipshield_run(build, files, extra, seconds, work, workers=1, perf=False):
    """Mpps over both ports, the verdict counts, the report, and perf figures (or None)."""
    rss = {"by_device": True} if workers > 1 else {"enabled": False}
    cfg = {"eal": {"args": EAL_BASE + LCORES[workers]}, "workers": workers,
           "ports": {"outside": {"device": vdev(0, files["outside"], True), "rss": rss},
                     "inside": {"device": vdev(1, files["inside"], False), "rss": rss}},
           "protected": ["198.18.0.10:5060"], "stats_interval_s": 0, "clock": "tsc",
           "mempool": {"mbufs": MBUFS}, "control": {"socket": ""}, "metrics": {"enabled": False}}
    cfg.update(extra)
    path = os.path.join(work, "sipshield.json")
    with open(path, "w") as f:
        json.dump(cfg, f)
    command = [os.path.join(build, "apps", "sipshield"), "--config", path,
               "--duration", str(seconds)]
    perf_out = os.path.join(work, "perf.csv")
    if perf:
        command = ["perf", "stat", "-x,", "-o", perf_out, "-e",
                   "instructions,cycles,cache-misses", "--"] + command
    proc = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    if proc.returncode != 0:
        raise RuntimeError(f"sipshield: {proc.stderr[-800:]}")
    report = json.loads(proc.stdout[proc.stdout.index("{"):])
    c = report["counters"]
    frames = c["ports"]["outside"]["rx"] + c["ports"]["inside"]["rx"]
    verdicts = {f"pass/{k}": v for k, v in c["passed_by_reason"].items()}
    verdicts.update({f"drop/{k}": v for k, v in c["dropped_by_reason"].items()})
    counts = None
    if perf:  # the whole process (the main lcore sleeps), per frame judged
        counts = {}
        for line in open(perf_out):
            fields = line.strip().split(",")
            if len(fields) > 2 and fields[0].replace(".", "").isdigit():
                counts[fields[2].split(":")[0] + "_per_packet"] = round(float(fields[0]) / frames, 1)
    return frames / report["uptime_s"] / 1e6, verdicts, report, counts


def stage_breakdown(report):
    """Cycles per frame judged, by stage, from a -Dstage_cycles=true build's report."""
    c = report["counters"]
    frames = max(1, c["ports"]["outside"]["rx"] + c["ports"]["inside"]["rx"])
    stages = report.get("stage_cycles") or {}
    out = {name: round(v["cycles"] / frames, 1) for name, v in stages.items()}
    inner = sum(v for k, v in out.items() if k not in ("rx", "tx", "burst"))
    if "burst" in out:  # what the burst took beyond the named stages: verdict emission, ticks
        out["other"] = round(out["burst"] - inner - out.get("tx", 0), 1)
    return out


def memory_figures(build, work):
    """Table memory measured by the daemon itself (its report's memory object): at the default
    sizes, and with one table grown at a time, giving bytes per entry (buckets included)."""
    empty = os.path.join(work, "empty.pcap")
    write_pcap(empty, [])

    def tables(extra):
        cfg = {"eal": {"args": EAL}, "ports": {"outside": {"device": "net_null0",
                                                           "rss": {"enabled": False}},
                                               "inside": {"device": "net_null1",
                                                          "rss": {"enabled": False}}},
               "protected": ["198.18.0.10:5060"], "stats_interval_s": 0,
               "control": {"socket": ""}, "metrics": {"enabled": False}}
        cfg.update(extra)
        path = os.path.join(work, "memory.json")
        with open(path, "w") as f:
            json.dump(cfg, f)
        proc = subprocess.run([os.path.join(build, "apps", "sipshield"), "--config", path,
                               "--duration", "0.5"], capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            raise RuntimeError(f"sipshield: {proc.stderr[-800:]}")
        memory = json.loads(proc.stdout[proc.stdout.index("{"):])["memory"]
        return memory["tables_heap_bytes"] + memory["tables_hugepage_bytes"], memory

    base, memory = tables({})
    out = {"tables_bytes_default": base, "resident_bytes_default": memory.get("resident_bytes")}
    grown = [("bytes_per_source", {"policy": {"sources": {"max": 1048576}}}, 1048576 - 65536),
             ("bytes_per_probation_source", {"policy": {"sources": {"probation": 1048576}}},
              1048576 - 262144),
             ("bytes_per_dialog", {"policy": {"dialogs": {"max": 1048576}}}, 1048576 - 65536),
             ("bytes_per_reassembly_slot", {"reassembly": {"max_datagrams": 65536}}, 65536 - 4096)]
    for name, extra, added in grown:
        size, _ = tables(extra)
        out[name] = round((size - base) / added, 1)
    out["table_mib_per_million_sources"] = round(
        (out["bytes_per_source"]) * 1e6 / (1 << 20), 1)
    return out


def cores_needed(rows, ghz):
    """Cores for each link at 64 B and 700 B frames (20 B of preamble and gap each), from the
    one-worker cycles per frame. The cost per frame is taken as measured on the case's own
    frames; it depends on the length only through the SIP stages."""
    out = []
    for r in rows:
        if r["workers"] != 1 or not r["cycles_per_packet"]:
            continue
        for link, bits in LINKS:
            for size in (64, 700):
                mpps = bits / ((size + 20) * 8) / 1e6
                out.append({"name": r["name"], "link": link, "frame_bytes": size,
                            "mpps": round(mpps, 2),
                            "cores": round(mpps * 1e6 * r["cycles_per_packet"] / (ghz * 1e9), 1)})
    return out


def chart(rows, png):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    one = [r for r in rows if r["workers"] == 1]
    two = {r["name"]: r for r in rows if r["workers"] == 2}
    names = [r["name"] for r in one]
    x = range(len(names))
    fig, ax = plt.subplots(figsize=(11, 4.5))
    width = 0.27
    ax.bar([i - width for i in x], [r["testpmd_mpps"] for r in one], width,
           label="dpdk-testpmd io, 1 core", color="#999999")
    ax.bar(list(x), [r["mpps_per_core"] for r in one], width, label="sipshield, 1 worker",
           color="#1f77b4")
    if two:
        ax.bar([i + width for i in x], [two[n]["mpps_per_core"] if n in two else 0
                                        for n in names], width,
               label="sipshield, 2 workers (per core)", color="#ff7f0e")
    ax.set_xticks(list(x))
    ax.set_xticklabels(names, rotation=20)
    ax.set_ylabel("Mpps per core")
    ax.set_title("sipshield per worker core beside testpmd, same capture, same run (net_pcap)")
    ax.set_ylim(0, 1.25 * max(r["testpmd_mpps"] for r in one))
    ax.legend(loc="upper center", ncol=3)
    fig.tight_layout()
    fig.savefig(png, dpi=100)


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
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--stages-build", default="")
    ap.add_argument("--chart", default="")
    args = ap.parse_args()
    ghz, tokenizer = tokenizer_rows(args.build)
    all_cases = cases()
    wanted = args.cases.split(",") if args.cases else list(all_cases)
    worker_counts = [int(w) for w in args.workers.split(",")]
    no_perf = perf_available()
    rows = []
    with tempfile.TemporaryDirectory(prefix="sipshield-bench-") as work:
        print(f"== per case, {args.seconds} s per run, TSC {ghz:.2f} GHz"
              + (f"; perf stat: {no_perf}" if no_perf else ""))
        print(f"  {'case':<18} {'workers':>7} {'testpmd Mpps':>12} {'sipshield Mpps':>15} "
              f"{'per core':>8} {'ratio':>6} {'cycles/pkt':>10}  main verdict")
        for name in wanted:
            outside_frames, inside_frames, extra = all_cases[name]
            for workers in worker_counts:
                files = write_queues(work, outside_frames, inside_frames, workers)
                t = testpmd_mpps(files, workers, args.seconds, work)
                s, verdicts, report, perf = sipshield_run(args.build, files, extra, args.seconds,
                                                          work, workers, perf=not no_perf)
                per_core = s / workers
                top = max(verdicts.items(), key=lambda kv: kv[1])[0] if verdicts else "-"
                row = {"name": name, "workers": workers, "mpps": round(s, 3),
                       "mpps_per_core": round(per_core, 3), "testpmd_mpps": round(t, 3),
                       "ratio_to_testpmd": round(s / t, 3) if t else None,
                       "cycles_per_packet": round(ghz * 1e3 / per_core) if s else None,
                       "verdicts": verdicts, "perf": perf}
                if workers == 1 and args.stages_build:
                    _, _, staged, _ = sipshield_run(args.stages_build, files, extra, args.seconds,
                                                    work)
                    row["stages"] = stage_breakdown(staged)
                rows.append(row)
                print(f"  {name:<18} {workers:>7} {t:>12.2f} {s:>15.2f} {per_core:>8.2f} "
                      f"{row['ratio_to_testpmd'] or 0:>6.2f} {row['cycles_per_packet'] or 0:>10}"
                      f"  {top}")
        memory = memory_figures(args.build, work)
    scaling = []
    for name in wanted:
        one = next((r for r in rows if r["name"] == name and r["workers"] == 1), None)
        two = next((r for r in rows if r["name"] == name and r["workers"] == 2), None)
        if one and two and one["mpps"]:
            scaling.append({"name": name, "one_worker_mpps": one["mpps"],
                            "two_workers_mpps": two["mpps"],
                            "factor": round(two["mpps"] / one["mpps"], 2),
                            "testpmd_factor": round(two["testpmd_mpps"] / one["testpmd_mpps"], 2)
                            if one["testpmd_mpps"] else None})
    if scaling:
        print("== two workers against one (the same capture over two queues)")
        for r in scaling:
            print(f"  {r['name']:<18} {r['one_worker_mpps']:>7.2f} -> {r['two_workers_mpps']:>7.2f}"
                  f" Mpps: x{r['factor']:.2f} (testpmd x{r['testpmd_factor']})")
    staged = [r for r in rows if r.get("stages")]
    if staged:
        names = [k for k in staged[0]["stages"] if k != "burst"]
        print("== cycles per frame by stage, one worker (a -Dstage_cycles=true build: each span's"
              " two TSC reads are inside its figure)")
        print("  " + f"{'case':<18}" + "".join(f"{n[:9]:>10}" for n in names))
        for r in staged:
            print("  " + f"{r['name']:<18}" + "".join(f"{r['stages'].get(n, 0):>10.0f}"
                                                      for n in names))
    cores = cores_needed(rows, ghz)
    print("== cores needed at line rate (from the one-worker cycles per frame)")
    for r in cores:
        if r["link"] in ("10GbE", "100GbE"):
            print(f"  {r['name']:<18} {r['link']:>6} {r['frame_bytes']:>4} B "
                  f"{r['mpps']:>7.2f} Mpps: {r['cores']:>6.1f} cores")
    print("== memory (the daemon's own report)")
    for k, v in memory.items():
        print(f"  {k:<34} {v}")
    legit = next((r for r in rows if r["name"] == "legit" and r["workers"] == 1), None)
    kamailio = None
    if legit:
        kamailio = {"registers_per_s": KAMAILIO_REGISTERS_PER_S,
                    "legit_messages_per_s_one_worker": round(legit["mpps"] * 1e6),
                    "factor": round(legit["mpps"] * 1e6 / KAMAILIO_REGISTERS_PER_S)}
        print(f"== against the server: one worker judges {kamailio['legit_messages_per_s_one_worker']:,}"
              f" legit messages/s, {kamailio['factor']} times Kamailio's ~20,000 REGISTER/s")
    print("== tokenizer against one table lookup per byte (sipshield-bench-sip)")
    for r in tokenizer:
        print(f"  {r['message']:<14} {r['bytes']:>5} B {r['cycles']:>7.0f} cycles, byte pass "
              f"{r['byte_pass_cycles']:>6.0f}: ratio {r['ratio']:.2f}")
    testpmd = [r["testpmd_mpps"] for r in rows if r["testpmd_mpps"] and r["workers"] == 1]
    with open(args.json, "w") as f:
        json.dump({"testpmd_mpps": round(max(testpmd), 3) if testpmd else None, "tsc_ghz": ghz,
                   "perf_stat": no_perf or "used", "cases": rows, "scaling": scaling,
                   "cores_needed": cores, "memory": memory, "kamailio": kamailio,
                   "tokenizer": tokenizer}, f, indent=1)
    print(f"written: {args.json}")
    if args.chart:
        chart(rows, args.chart)
        print(f"chart: {args.chart}")


if __name__ == "__main__":
    sys.exit(main())
