#!/usr/bin/env python3
"""Helpers of the end-to-end lab (scripts/lab/run.sh, docs/lab.md).

  lab_report.py check-pcap FILE          refuse a capture with an address outside 198.18.0.0/15
                                         and 2001:db8::/32 or with other MACs than the lab's
  lab_report.py capacity DIR             the REGISTER ramp's table and capacity estimate
  lab_report.py summary DIR --levels "L ..." [--json OUT --json-level L]
                                         the table of every set-up, and the JSON object
"""
import argparse
import glob
import ipaddress
import json
import os
import re
import struct
import sys

SETUPS = ["no_flood", "bridge", "sipshield", "kamailio_only"]
V4 = ipaddress.ip_network("198.18.0.0/15")
V6 = ipaddress.ip_network("2001:db8::/32")
MACS = {bytes.fromhex("020000000001"), bytes.fromhex("020000000002")}


def check_pcap(path):
    with open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack("<I", data[:4])[0]
    if magic not in (0xA1B2C3D4, 0xA1B23C4D):
        print("not a little-endian classic pcap")
        return 1
    off = 24
    frames = datagrams = bad = 0
    first = last = None
    while off + 16 <= len(data):
        ts, tus, incl, _ = struct.unpack("<IIII", data[off:off + 16])
        fr = data[off + 16:off + 16 + incl]
        off += 16 + incl
        frames += 1
        t = ts + tus / 1e6
        first = t if first is None else first
        last = t
        if fr[0:6] not in MACS or fr[6:12] not in MACS:
            bad += 1
            continue
        et = struct.unpack(">H", fr[12:14])[0]
        if et == 0x0800:
            src, dst = ipaddress.ip_address(fr[26:30]), ipaddress.ip_address(fr[30:34])
            ok = src in V4 and dst in V4
            fragoff = struct.unpack(">H", fr[20:22])[0] & 0x1FFF
            datagrams += fragoff == 0
        elif et == 0x86DD:
            src, dst = ipaddress.ip_address(fr[22:38]), ipaddress.ip_address(fr[38:54])
            ok = src in V6 and dst in V6
            datagrams += 1
        else:
            ok = False
        bad += not ok
    span = (last - first) if frames > 1 else 0
    print(f"{frames} frames, {datagrams} datagrams over {span:.1f} s; "
          f"addresses and MACs outside the lab's: {bad}")
    return 0 if bad == 0 and frames > 0 else 1


def sipp_stat(d):
    """Last line of SIPp's -trace_stat file, as a dict."""
    fs = glob.glob(os.path.join(d, "stat.csv")) + glob.glob(os.path.join(d, "*_.csv"))
    if not fs:
        return {}
    f = fs[0]
    lines = [l.rstrip("\n;") for l in open(f, errors="replace") if l.strip()]
    if len(lines) < 2:
        return {}
    head = lines[0].split(";")
    row = lines[-1].split(";")
    return dict(zip(head, row))


def sipp_rtt(d):
    """Response times (ms) per rtd from SIPp's -trace_rtt file(s)."""
    out = {}
    for f in glob.glob(os.path.join(d, "*_rtt.csv")):
        for line in open(f, errors="replace"):
            p = line.strip().split(";")
            if len(p) < 3 or not re.match(r"^[0-9.]+$", p[1]):
                continue
            out.setdefault(p[2], []).append(float(p[1]))
    return out


def pct(xs, q):
    if not xs:
        return None
    xs = sorted(xs)
    k = min(len(xs) - 1, max(0, int(round(q / 100 * (len(xs) - 1)))))
    return round(xs[k], 1)


def num(d, k):
    try:
        return int(float(d.get(k, 0)))
    except ValueError:
        return 0


def phones(d):
    """One SIPp instance of sipp-session.xml: registrations and calls."""
    st = sipp_stat(d)
    rtt = sipp_rtt(d)
    created = num(st, "TotalCallCreated") or num(st, "OutgoingCall(C)")
    reg = rtt.get("1", [])
    call = rtt.get("2", [])
    ok = num(st, "SuccessfulCall(C)")
    r = {
        "sessions": created,
        "registered": len(reg),
        "register_success": round(len(reg) / created, 4) if created else None,
        # registered without any retransmission: both REGISTERs answered before T1 (500 ms)
        "register_first_try": round(sum(1 for x in reg if x < 500) / created, 4) if created else None,
        "calls_attempted": len(reg),
        "calls_answered": len(call),
        "calls_completed": ok,
        "call_success": round(ok / len(reg), 4) if reg else None,
        "failed_sessions": num(st, "FailedCall(C)"),
        "retransmissions": num(st, "Retransmissions(C)"),
        "register_ms": {"p50": pct(reg, 50), "p90": pct(reg, 90), "p99": pct(reg, 99), "max": pct(reg, 100)},
        "call_setup_ms": {"p50": pct(call, 50), "p90": pct(call, 90), "p99": pct(call, 99), "max": pct(call, 100)},
    }
    return r


def kam_stats(f):
    s = {}
    if os.path.exists(f):
        for line in open(f, errors="replace"):
            m = re.match(r"\s*([\w.-]+:[\w.-]+)\s*=\s*(\d+)", line)
            if m:
                s[m.group(1)] = int(m.group(2))
    return s


def nstat(f):
    s = {}
    if os.path.exists(f):
        for line in open(f):
            p = line.split()
            if len(p) >= 2 and p[1].isdigit():
                s[p[0]] = int(p[1])
    return s


def tcpreplay(f):
    r = {}
    if os.path.exists(f):
        t = open(f, errors="replace").read()
        m = re.search(r"Actual: (\d+) packets .*? in ([\d.]+) seconds", t)
        if m:
            r["frames_sent"] = int(m.group(1))
            r["seconds"] = float(m.group(2))
        m = re.search(r"Rated: [\d.]+ Bps, [\d.]+ Mbps, ([\d.]+) pps", t)
        if m:
            r["pps"] = float(m.group(1))
        m = re.search(r"Failed packets:\s+(\d+)", t)
        if m:
            r["failed"] = int(m.group(1))
    return r


def setup_result(d):
    meta = json.load(open(os.path.join(d, "meta.json")))
    reg = phones(os.path.join(d, "regular"))
    nf = phones(os.path.join(d, "newcomers-familiar"))
    nn = phones(os.path.join(d, "newcomers-new"))
    warm = phones(os.path.join(d, "warmup"))
    ks0 = kam_stats(os.path.join(d, "kamstats-start.txt"))
    ks1 = kam_stats(os.path.join(d, "kamstats-end.txt"))

    def delta(k):
        return ks1.get(k, 0) - ks0.get(k, 0) if ks1 else None

    ns1 = nstat(os.path.join(d, "srv-nstat.txt"))
    ns0 = nstat(os.path.join(d, "srv-nstat-start.txt"))
    ns = {k: v - ns0.get(k, 0) for k, v in ns1.items()}
    n_sess = (nf["sessions"] or 0) + (nn["sessions"] or 0)
    n_reg = nf["registered"] + nn["registered"]
    res = {
        "level_pps": meta["level_pps"] if meta["flood"] else 0,
        "register_success": reg["register_success"],
        "call_success": reg["call_success"],
        "newcomer_register_success": round(n_reg / n_sess, 4) if n_sess else None,
        "newcomer_register_first_try": (round((nf["register_first_try"] * nf["sessions"] + nn["register_first_try"] * nn["sessions"]) / n_sess, 4)
                                        if n_sess and nf["register_first_try"] is not None and nn["register_first_try"] is not None else None),
        "newcomer_familiar_register_success": nf["register_success"],
        "newcomer_new_prefix_register_success": nn["register_success"],
        "register_ms": reg["register_ms"],
        "call_setup_ms": reg["call_setup_ms"],
        "retransmissions": reg["retransmissions"] + nf["retransmissions"] + nn["retransmissions"],
        "seconds": round(meta["seconds"], 1),
        "kamailio": {
            "cpu_s": meta["kamailio_cpu_s"],
            "cpu_share": round(meta["kamailio_cpu_s"] / meta["seconds"], 3) if meta["seconds"] else None,
            "messages": (delta("core:rcv_requests") or 0) + (delta("core:rcv_replies") or 0) if ks1 else None,
            "requests": delta("core:rcv_requests"),
            "replies": delta("core:rcv_replies"),
            "replies_sent": delta("sl:sent_replies") if ks1 else None,
            "udp_rcvbuf_errors": ns.get("UdpRcvbufErrors"),
            "udp_in_datagrams": ns.get("UdpInDatagrams"),
        },
        "phones": {"regular": reg, "newcomers_familiar": nf, "newcomers_new_prefix": nn, "warmup": warm},
        "flood": tcpreplay(os.path.join(d, "tcpreplay.txt")),
    }
    rep = os.path.join(d, "sipshield-report.json")
    if os.path.exists(rep):
        try:
            j = json.load(open(rep))
            c = j.get("counters", {})
            res["sipshield"] = {
                "cpu_s": meta.get("sipshield_cpu_s"),
                "passed": c.get("passed"),
                "dropped": c.get("dropped"),
                "ports": c.get("ports"),
                "passed_by_reason": c.get("passed_by_reason"),
                "dropped_by_reason": c.get("dropped_by_reason"),
                "state": j.get("state"),
            }
        except (ValueError, OSError) as e:
            res["sipshield"] = {"error": str(e)}
    return res


def fmt(v, kind="pct"):
    if v is None:
        return "-"
    if kind == "pct":
        return f"{100 * v:.1f} %"
    return str(v)


def table(results, level):
    cols = [s for s in SETUPS if s in results]
    rows = [
        ("flood sent (pps)", lambda r: fmt(round(r["flood"].get("pps", 0)) if r["flood"] else 0, "n")),
        ("register success, registered users", lambda r: fmt(r["register_success"])),
        ("call success, registered users", lambda r: fmt(r["call_success"])),
        ("register success, newcomers (all)", lambda r: fmt(r["newcomer_register_success"])),
        ("  newcomers from the users' /24", lambda r: fmt(r["newcomer_familiar_register_success"])),
        ("  newcomers from a new /24", lambda r: fmt(r["newcomer_new_prefix_register_success"])),
        ("registered in < 500 ms: users / newcomers",
         lambda r: f'{fmt(r["phones"]["regular"]["register_first_try"])} / {fmt(r["newcomer_register_first_try"])}'),
        ("registration p50 / p90 / p99 (ms)",
         lambda r: f'{fmt(r["register_ms"]["p50"], "n")} / {fmt(r["register_ms"]["p90"], "n")} / {fmt(r["register_ms"]["p99"], "n")}'),
        ("call setup p50 / p90 / p99 (ms)",
         lambda r: f'{fmt(r["call_setup_ms"]["p50"], "n")} / {fmt(r["call_setup_ms"]["p90"], "n")} / {fmt(r["call_setup_ms"]["p99"], "n")}'),
        ("SIPp retransmissions", lambda r: fmt(r["retransmissions"], "n")),
        ("Kamailio CPU (s of CPU / s)", lambda r: f'{r["kamailio"]["cpu_s"]} / {r["seconds"]}'),
        ("Kamailio messages received", lambda r: fmt(r["kamailio"]["messages"], "n")),
        ("servers' UDP receive-buffer drops", lambda r: fmt(r["kamailio"]["udp_rcvbuf_errors"], "n")),
        ("sipshield received from outside (frames)",
         lambda r: fmt(r["sipshield"]["ports"]["outside"]["rx"], "n") if "sipshield" in r else "-"),
        ("tcpreplay sent (frames)", lambda r: fmt(r["flood"].get("frames_sent"), "n") if r["flood"] else "-"),
        ("sipshield passed / dropped (frames)",
         lambda r: f'{r["sipshield"]["passed"]} / {r["sipshield"]["dropped"]}' if "sipshield" in r else "-"),
    ]
    w0 = max(len(r[0]) for r in rows)
    ws = [max(len(c), 22) for c in cols]
    lines = [f"== flood level {level} datagrams/s",
             "  ".join([" " * w0] + [c.rjust(w) for c, w in zip(cols, ws)])]
    for name, f in rows:
        vals = []
        for c in cols:
            try:
                vals.append(f(results[c]))
            except (KeyError, TypeError):
                vals.append("-")
        lines.append("  ".join([name.ljust(w0)] + [v.rjust(w) for v, w in zip(vals, ws)]))
    if "sipshield" in results and "sipshield" in results["sipshield"]:
        dr = results["sipshield"]["sipshield"].get("dropped_by_reason") or {}
        top = sorted(dr.items(), key=lambda kv: -kv[1])[:6]
        lines.append("sipshield drops by reason: " + ", ".join(f"{k} {v}" for k, v in top))
    return "\n".join(lines)


def checks(res):
    """The --quick claims: sipshield keeps >= 99 % of registrations (registered users and
    newcomers) under a flood that measurably hurts the plain bridge."""
    out = []
    sh, br, nf = res.get("sipshield"), res.get("bridge"), res.get("no_flood")
    if sh:
        for k, what in (("register_success", "registered users"), ("newcomer_register_success", "newcomers")):
            v = sh.get(k)
            out.append(f"check: sipshield register success of {what} >= 99 %: "
                       f"{'yes' if v is not None and v >= 0.99 else 'NO'} ({fmt(v)})")
    if br and nf:
        hurt = []
        for k, what in (("register_success", "registrations"), ("call_success", "calls")):
            if br.get(k) is not None and nf.get(k) is not None and br[k] < nf[k]:
                hurt.append(f"{what} {fmt(br[k])} against {fmt(nf[k])}")
        p90b, p90n = br["register_ms"]["p90"], nf["register_ms"]["p90"]
        if p90b is not None and p90n is not None and p90b > max(10 * p90n, 100):
            hurt.append(f"registration p90 {p90b} ms against {p90n} ms")
        out.append("check: the flood hurts the plain bridge: " + ("yes: " + "; ".join(hurt) if hurt else "NO"))
        if br.get("register_success") is not None and nf.get("register_success") is not None:
            out.append("check: ... and its registration success drops: "
                       + ("yes" if br["register_success"] < nf["register_success"] else "NO")
                       + f" ({fmt(br['register_success'])} against {fmt(nf['register_success'])})")
    return "\n".join(out)


def summary(a):
    levels = a.levels.split()
    out = {}
    for l in levels:
        res = {}
        for s in SETUPS:
            d = os.path.join(a.dir, f"level-{l}", s)
            if os.path.exists(os.path.join(d, "meta.json")):
                res[s] = setup_result(d)
        out[l] = res
        print(table(res, l))
        print(checks(res))
        print()
    cap = os.path.join(a.dir, "capacity", "capacity.json")
    if os.path.exists(cap):
        for line in open(os.path.join(a.dir, "capacity", "capacity.txt")):
            if line.startswith(("capacity:", "CPU bound:")):
                print("Kamailio without flood, " + line.strip())
    json.dump(out, open(os.path.join(a.dir, "results.json"), "w"), indent=1)
    if a.json:
        lvl = a.json_level or levels[-1]
        obj = dict(out[lvl])
        if os.path.exists(cap):
            obj["capacity"] = json.load(open(cap))
        json.dump(obj, open(a.json, "w"), indent=1)
        print(f"JSON: {a.json} (flood level {lvl})")
    return 0


def capacity(a):
    rows = []
    for d in sorted(glob.glob(os.path.join(a.dir, "r[0-9]*")), key=lambda p: int(os.path.basename(p)[1:])):
        meta = json.load(open(os.path.join(d, "meta.json")))
        st = sipp_stat(d)
        rtt = sipp_rtt(d).get("1", [])
        created = num(st, "TotalCallCreated") or num(st, "OutgoingCall(C)")
        ok = num(st, "SuccessfulCall(C)")
        secs = meta["seconds"]
        rows.append({
            "offered_per_s": meta["rate"], "registrations": created, "ok": ok,
            "success": round(ok / created, 4) if created else None,
            "achieved_per_s": round(ok / secs, 1) if secs else None,
            "p50_ms": pct(rtt, 50), "p99_ms": pct(rtt, 99),
            "retransmissions": num(st, "Retransmissions(C)"),
            "kamailio_cpu_share": round(meta["kamailio_cpu_s"] / secs, 2) if secs else None,
            "kamailio_cpu_ms_per_registration": round(1000 * meta["kamailio_cpu_s"] / ok, 3) if ok else None,
        })
    print("offered/s  registrations   ok   success  achieved/s  p50 ms  p99 ms  retrans  Kamailio CPU  CPU ms/reg")
    best = None
    for r in rows:
        print(f'{r["offered_per_s"]:>9} {r["registrations"]:>14} {r["ok"]:>5} {fmt(r["success"]):>9} '
              f'{fmt(r["achieved_per_s"], "n"):>11} {fmt(r["p50_ms"], "n"):>7} {fmt(r["p99_ms"], "n"):>7} '
              f'{r["retransmissions"]:>8} {fmt(r["kamailio_cpu_share"], "n"):>13} {fmt(r["kamailio_cpu_ms_per_registration"], "n"):>11}')
        if r["success"] is not None and r["success"] >= 0.99 and (r["p50_ms"] or 0) < 100:
            best = r
    # CPU per registration at the top step: what one core would carry if Kamailio alone had it.
    top = best
    per_core = round(1000 / top["kamailio_cpu_ms_per_registration"]) if top and top["kamailio_cpu_ms_per_registration"] else None
    cap = {"steps": rows, "registrations_per_s_per_core_cpu_bound": per_core,
           "registrations_per_s": best["achieved_per_s"] if best else None,
           "messages_per_s": round(2 * best["achieved_per_s"]) if best else None}
    json.dump(cap, open(os.path.join(a.dir, "capacity.json"), "w"), indent=1)
    if best and best is rows[-1]:
        print(f'capacity: at least {best["achieved_per_s"]} registrations/s (the top step passed: more than the ramp offers)')
    if best:
        print(f'capacity: {best["achieved_per_s"]} registrations/s ({cap["messages_per_s"]} REGISTERs/s, '
              f'challenge included) at >= 99 % success and p50 < 100 ms (offered {best["offered_per_s"]}/s)')
    else:
        print("capacity: no step reached 99 % success with p50 < 100 ms")
    if per_core:
        print(f"CPU bound: {per_core} registrations/s per core: Kamailio's CPU per registration at that step "
              "(the ramp itself is bound by SIPp's CPU above it)")
    return 0


def main():
    p = argparse.ArgumentParser()
    sp = p.add_subparsers(dest="cmd", required=True)
    c = sp.add_parser("check-pcap")
    c.add_argument("pcap")
    c = sp.add_parser("capacity")
    c.add_argument("dir")
    c = sp.add_parser("summary")
    c.add_argument("dir")
    c.add_argument("--levels", required=True)
    c.add_argument("--json")
    c.add_argument("--json-level")
    a = p.parse_args()
    if a.cmd == "check-pcap":
        return check_pcap(a.pcap)
    if a.cmd == "capacity":
        return capacity(a)
    return summary(a)


if __name__ == "__main__":
    sys.exit(main())
