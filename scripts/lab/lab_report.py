#!/usr/bin/env python3
"""Helpers of the end-to-end lab (scripts/lab/run.sh, docs/lab.md).

  lab_report.py check-pcap FILE          refuse a capture with an address outside 198.18.0.0/15
                                         and 2001:db8::/32 or with other MACs than the lab's
  lab_report.py capacity DIR             the REGISTER ramp's table and capacity estimate
  lab_report.py summary DIR --runs "KIND-LEVEL ..." [--json OUT --json-run KIND-LEVEL]
                                         the table of every run and set-up, the criteria, the JSON
  lab_report.py soak SETUP_DIR [--json OUT]
                                         a soak's figures per minute, memory and tables over time
  lab_report.py chart RESULTS_JSON PNG   success against flood rate, per set-up (matplotlib)
"""
import argparse
import datetime
import glob
import ipaddress
import json
import os
import re
import struct
import sys

SETUPS = ["no_flood", "sipshield_no_flood", "bridge", "sipshield", "kamailio_only"]
REFERENCES = ["no_flood", "sipshield_no_flood"]  # without flood: run once, shown with every run
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
    nreg = sipp_rtt(os.path.join(d, "newcomers-familiar")).get("1", []) + \
        sipp_rtt(os.path.join(d, "newcomers-new")).get("1", [])
    n_reg = nf["registered"] + nn["registered"]
    res = {
        "kind": meta.get("kind", "mixed") if meta["flood"] else None,
        "level_pps": meta["level_pps"] if meta["flood"] else 0,
        "register_success": reg["register_success"],
        "call_success": reg["call_success"],
        "newcomer_register_success": round(n_reg / n_sess, 4) if n_sess else None,
        "newcomer_register_first_try": (round((nf["register_first_try"] * nf["sessions"] + nn["register_first_try"] * nn["sessions"]) / n_sess, 4)
                                        if n_sess and nf["register_first_try"] is not None and nn["register_first_try"] is not None else None),
        "newcomer_familiar_register_success": nf["register_success"],
        "newcomer_new_prefix_register_success": nn["register_success"],
        # newcomers' first REGISTER -> final 200 (ms), and the share registered within 2 s of it
        "newcomer_register_ms": {q: pct(nreg, n) for q, n in (("p50", 50), ("p90", 90), ("p99", 99), ("max", 100))},
        "newcomer_within_2s": round(sum(1 for x in nreg if x <= 2000) / n_sess, 4) if n_sess else None,
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
                "probes": c.get("probes"),
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


def table(results, run):
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
        ("newcomers registered within 2 s; their p90 / max (ms)",
         lambda r: f'{fmt(r["newcomer_within_2s"])}; {fmt(r["newcomer_register_ms"]["p90"], "n")} / '
                   f'{fmt(r["newcomer_register_ms"]["max"], "n")}'),
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
        ("sipshield probes sent / answered",
         lambda r: f'{r["sipshield"]["probes"]["sent"]} / '
                   f'{(r["sipshield"]["dropped_by_reason"] or {}).get("probe_answer", 0)}'
         if "sipshield" in r and r["sipshield"].get("probes") else "-"),
    ]
    w0 = max(len(r[0]) for r in rows)
    ws = [max(len(c), 22) for c in cols]
    kind, _, level = run.rpartition("-")
    lines = [f"== flood {kind} at {level} datagrams/s",
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
            out.append("check: ... and its registration success drops measurably (5 points or more): "
                       + ("yes" if br["register_success"] <= nf["register_success"] - 0.05 else "NO")
                       + f" ({fmt(br['register_success'])} against {fmt(nf['register_success'])})")
    return "\n".join(out)


SIPP_TICK_MS = 4  # SIPp's clock step here: a p99 below it reads as 0 or 4 ms


def criteria(run, res):
    """The lab's criterion through sipshield, after the SBC vendors' strongest claims: registration
    and call success at least 99 %, response-time p99 within twice the no-flood figure, and
    Kamailio below half a core. A no-flood p99 under SIPp's clock step counts as one step."""
    sh, nf = res.get("sipshield"), res.get("no_flood")
    if not sh:
        return []
    out = []

    def add(name, value, bar, ok):
        out.append({"run": run, "criterion": name, "value": value, "bar": bar, "ok": bool(ok)})

    for k, what in (("register_success", "registration success, registered users"),
                    ("call_success", "call success, registered users"),
                    ("newcomer_register_success", "registration success, newcomers")):
        v = sh.get(k)
        add(what, v, ">= 0.99", v is not None and v >= 0.99)
    # Against the reference (the bridge without flood) and, when it ran, against the
    # daemon inline without flood: what the flood itself adds, apart from the filter's path.
    for ref_name, label in (("no_flood", "no-flood"), ("sipshield_no_flood", "sipshield without flood")):
        ref_setup = res.get(ref_name)
        if ref_name != "no_flood" and not ref_setup:
            continue
        for k, what in (("register_ms", "registration p99 ms"), ("call_setup_ms", "call setup p99 ms")):
            v = sh[k]["p99"]
            ref = ref_setup[k]["p99"] if ref_setup else None
            bar = 2 * max(ref, SIPP_TICK_MS) if ref is not None else None
            add(what + ("" if ref_name == "no_flood" else ", against sipshield without flood"), v,
                f"<= {bar} (2 x {label} {ref})" if bar is not None else "no reference",
                v is not None and bar is not None and v <= bar)
    share = sh["kamailio"]["cpu_share"]
    add("Kamailio CPU, cores", share, "< 0.5", share is not None and share < 0.5)
    return out


def summary(a):
    runs = a.runs.split()
    refs = {}
    for name in REFERENCES:
        ref_dir = os.path.join(a.dir, name)
        if os.path.exists(os.path.join(ref_dir, "meta.json")):
            refs[name] = setup_result(ref_dir)
    out, crit = {}, []
    for r in runs:
        res = dict(refs)
        for s in SETUPS:
            if s in REFERENCES:
                continue
            d = os.path.join(a.dir, r, s)
            if os.path.exists(os.path.join(d, "meta.json")):
                res[s] = setup_result(d)
        out[r] = res
        print(table(res, r))
        print(checks(res))
        c = criteria(r, res)
        crit += c
        for x in c:
            print(f"criterion: {x['criterion']} {x['bar']}: {'yes' if x['ok'] else 'NO'} ({x['value']})")
        print()
    if crit:
        failed = [x for x in crit if not x["ok"]]
        print(f"criteria through sipshield: {len(crit) - len(failed)} of {len(crit)} met"
              + ("" if not failed else "; not met: " + ", ".join(f"{x['run']} {x['criterion']}" for x in failed)))
    cap = os.path.join(a.dir, "capacity", "capacity.json")
    if os.path.exists(cap):
        for line in open(os.path.join(a.dir, "capacity", "capacity.txt")):
            if line.startswith(("capacity:", "CPU bound:")):
                print("Kamailio without flood, " + line.strip())
    capacity_obj = json.load(open(cap)) if os.path.exists(cap) else None
    json.dump({"runs": out, "criteria": crit, "capacity": capacity_obj},
              open(os.path.join(a.dir, "results.json"), "w"), indent=1)
    if a.json:
        run = a.json_run if a.json_run in out else runs[-1]
        obj = dict(out[run])
        obj.update({"run": run, "capacity": capacity_obj, "criteria": crit, "runs": out})
        json.dump(obj, open(a.json, "w"), indent=1)
        print(f"JSON: {a.json} (set-ups of {run}; every run under \"runs\")")
    return 0


def sipp_periodic(d):
    """SIPp's -trace_stat lines (one a second here), as dicts."""
    f = os.path.join(d, "stat.csv")
    if not os.path.exists(f):
        return []
    lines = [l.rstrip("\n;") for l in open(f, errors="replace") if l.strip()]
    head = lines[0].split(";") if lines else []
    return [dict(zip(head, l.split(";"))) for l in lines[1:]]


def epoch(field):
    """SIPp's time fields read "date<TAB>time<TAB>epoch seconds"."""
    try:
        return float(field.split("\t")[-1])
    except (AttributeError, ValueError):
        return None


def sipp_rtt_sent(d, start):
    """(when the request was sent, in seconds since the epoch, ms, rtd) from SIPp's -trace_rtt
    files, whose Date_ms counts from the instance's start (`start`)."""
    out = []
    for f in glob.glob(os.path.join(d, "*_rtt.csv")):
        for line in open(f, errors="replace"):
            p = line.strip().split(";")
            if len(p) >= 3 and re.match(r"^[0-9.]+$", p[0]) and re.match(r"^[0-9.]+$", p[1]):
                out.append((start + (float(p[0]) - float(p[1])) / 1000, float(p[1]), p[2]))
    return out


BUDGET = re.compile(r"\| budget (\d+)% at (\d+) ms")
STATS = re.compile(r"\| sources (\d+)/(\d+) \(refused (\d+)\)"
                   r"(?:, probation (\d+)/(\d+) \(evicted (\d+)\))?, dialogs (\d+)")


def soak(a):
    """Per minute of the soak: sessions started and their registrations (by the minute the
    REGISTER was sent), sessions that ended and how many of them completed, newcomers, p99s;
    the daemon's resident memory and tables from its samples."""
    d = a.dir
    meta = json.load(open(os.path.join(d, "meta.json")))
    length = max(1, meta["flood_s"] // 60)
    groups = {g: sipp_periodic(os.path.join(d, g)) for g in ("regular", "newcomers-new")}
    if not groups["regular"]:
        print("soak: no SIPp statistics in " + d)
        return 1
    t0 = epoch(groups["regular"][0].get("StartTime"))
    minutes = {m: {} for m in range(length)}

    def bucket(t):
        m = int((t - t0) // 60)
        return minutes.get(min(m, length - 1)) if m >= 0 else None

    for g, rows in groups.items():
        prev = {}
        for row in rows:
            t = epoch(row.get("CurrentTime"))
            e = bucket(t) if t is not None else None
            for k, name in (("TotalCallCreated", "started"), ("SuccessfulCall(C)", "completed"),
                            ("FailedCall(C)", "failed")):
                v = num(row, k)
                if e is not None:
                    e[g + name] = e.get(g + name, 0) + v - prev.get(k, 0)
                prev[k] = v
        if rows:
            start = epoch(rows[0].get("StartTime"))
            for sent, ms, rtd in sipp_rtt_sent(os.path.join(d, g), start):
                e = bucket(sent)
                if e is not None:
                    e.setdefault(g + "rtt" + rtd, []).append(ms)
    samples = []
    f = os.path.join(d, "daemon-samples.tsv")
    if os.path.exists(f):
        for line in open(f):
            p = line.rstrip("\n").split("\t")
            if len(p) < 3:
                continue
            mt = STATS.search(p[2])
            mb = BUDGET.search(p[2])
            samples.append({"s": int(p[0]) - int(t0), "rss_kb": int(p[1] or 0),
                            "sources": int(mt.group(1)) if mt else None,
                            "refused": int(mt.group(3)) if mt else None,
                            "probation": int(mt.group(4)) if mt and mt.group(4) else None,
                            "evicted": int(mt.group(6)) if mt and mt.group(6) else None,
                            "dialogs": int(mt.group(7)) if mt else None,
                            "budget_percent": int(mb.group(1)) if mb else None,
                            "latency_ms": int(mb.group(2)) if mb else None})
    rows = []
    for m, e in sorted(minutes.items()):
        reg = e.get("regularrtt1", [])
        started = e.get("regularstarted", 0)
        ended = e.get("regularcompleted", 0) + e.get("regularfailed", 0)
        sm = [x for x in samples if m * 60 <= x["s"] < (m + 1) * 60 or (m == length - 1 and x["s"] >= m * 60)]
        rows.append({
            "minute": m + 1, "sessions_started": started,
            "register_success": round(min(1.0, len(reg) / started), 4) if started else None,
            "sessions_ended": ended,
            "session_success": round(e.get("regularcompleted", 0) / ended, 4) if ended else None,
            "newcomers": e.get("newcomers-newstarted", 0),
            "newcomers_registered": len(e.get("newcomers-newrtt1", [])),
            "register_p99_ms": pct(reg, 99), "call_setup_p99_ms": pct(e.get("regularrtt2", []), 99),
            "rss_kb": max((x["rss_kb"] for x in sm), default=None),
            "sources": sm[-1]["sources"] if sm else None,
            "refused": sm[-1]["refused"] if sm else None,
            "probation": sm[-1]["probation"] if sm else None,
            "evicted": sm[-1]["evicted"] if sm else None,
            "dialogs": sm[-1]["dialogs"] if sm else None,
            "budget_percent_min": min((x["budget_percent"] for x in sm
                                       if x["budget_percent"] is not None), default=None),
            "latency_ms_max": max((x["latency_ms"] for x in sm if x["latency_ms"] is not None),
                                  default=None),
        })
    print(f"soak: {meta['kind']} flood at {meta['level_pps']} datagrams/s for {length} min through "
          f"sipshield; Kamailio {meta['kamailio_cpu_s']} s of CPU over {meta['seconds']} s "
          f"({fmt(round(meta['kamailio_cpu_s'] / meta['seconds'], 3), 'n')} of a core)")
    print("minute  started  registered  ended  completed  newcomers  reg p99 ms  call p99 ms  RSS MB  sources (refused)  probation (evicted)  dialogs")
    for r in rows:
        rss = f"{r['rss_kb'] / 1024:.1f}" if r["rss_kb"] else "-"
        print(f"{r['minute']:>6} {r['sessions_started']:>8} {fmt(r['register_success']):>11} {r['sessions_ended']:>6} "
              f"{fmt(r['session_success']):>10} {r['newcomers_registered']:>5}/{r['newcomers']:<5}"
              f"{fmt(r['register_p99_ms'], 'n'):>10} {fmt(r['call_setup_p99_ms'], 'n'):>12} {rss:>7} "
              f"{fmt(r['sources'], 'n'):>8} ({fmt(r['refused'], 'n')}) "
              f"{fmt(r['probation'], 'n'):>9} ({fmt(r['evicted'], 'n')}) {fmt(r['dialogs'], 'n'):>8}")
    # Exact over the whole soak (per minute, SIPp's two clocks can put a session and its
    # registration a second apart, across a minute's edge).
    totals = {}
    for g, rows in groups.items():
        last = rows[-1] if rows else {}
        started = num(last, "TotalCallCreated")
        registered = len(sipp_rtt(os.path.join(d, g)).get("1", []))
        totals[g] = {"sessions": started, "registered": registered,
                     "completed": num(last, "SuccessfulCall(C)"), "failed": num(last, "FailedCall(C)"),
                     "register_success": round(registered / started, 4) if started else None}
        print(f"{g}: {started} sessions, {registered} registered ({fmt(totals[g]['register_success'])}), "
              f"{totals[g]['completed']} completed, {totals[g]['failed']} failed")
    grown = None
    if len(samples) >= 6:  # the last third against the middle third: a steady state stays put
        n = len(samples)
        mid = [x["rss_kb"] for x in samples[n // 3:2 * n // 3]]
        end = [x["rss_kb"] for x in samples[2 * n // 3:]]
        grown = round((max(end) - max(mid)) / 1024, 1)
        print(f"daemon RSS: {max(mid) / 1024:.1f} MB in the middle third, {max(end) / 1024:.1f} MB in the last "
              f"({grown:+} MB)")
    out = {"meta": meta, "totals": totals, "minutes": rows, "samples": samples,
           "rss_growth_mb_last_third": grown}
    if a.json:
        json.dump(out, open(a.json, "w"), indent=1)
    return 0


def chart(a):
    """Registration and call success of the registered users against the flood rate actually
    sent, one line per set-up, for the mixed flood (the no-flood reference at 0)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    res = json.load(open(a.results))
    runs = {k: v for k, v in res["runs"].items() if k.startswith("mixed-")}
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    styles = {"bridge": ("tab:red", "o"), "sipshield": ("tab:green", "s"),
              "kamailio_only": ("tab:orange", "^"), "no_flood": ("tab:gray", "D")}
    for ax, key, title in ((axes[0], "register_success", "registrations (registered users)"),
                           (axes[1], "call_success", "calls (registered users)")):
        for setup in ("bridge", "kamailio_only", "sipshield"):
            pts = []
            for r in runs.values():
                x = r.get(setup)
                if x and x.get(key) is not None:
                    pts.append(((x["flood"] or {}).get("pps", x["level_pps"]) / 1000, 100 * x[key]))
            ref = next((r["no_flood"] for r in runs.values() if r.get("no_flood")), None)
            if ref and ref.get(key) is not None:
                pts.append((0, 100 * ref[key]))
            pts.sort()
            if pts:
                c, m = styles[setup]
                ax.plot([p[0] for p in pts], [p[1] for p in pts], color=c, marker=m, label=setup)
        ref = next((r["no_flood"] for r in runs.values() if r.get("no_flood")), None)
        if ref and ref.get(key) is not None:
            c, m = styles["no_flood"]
            ax.plot([0], [100 * ref[key]], color=c, marker=m, linestyle="", markersize=9,
                    label="no_flood", zorder=5)
        ax.axhline(99, color="black", linewidth=0.6, linestyle=":")
        ax.set_title(title)
        ax.set_xlabel("flood sent, thousand datagrams/s")
        ax.grid(True, alpha=0.3)
    axes[0].set_ylabel("success, %")
    axes[0].legend(loc="lower left")
    cap = (res.get("capacity") or {}).get("registrations_per_s")
    fig.suptitle("SIPp phones through Kamailio under the mixed flood"
                 + (f" (Kamailio's capacity {cap:.0f} registrations/s)" if cap else ""))
    fig.tight_layout()
    fig.savefig(a.png, dpi=100)
    return 0


def budget_chart(a):
    """The untrusted budget and the servers' response time the daemon measured, over a run:
    from its budget-changed events (docs/events.md), one line per worker and service."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    steps = {}
    for line in open(a.events):
        e = json.loads(line)
        if e["event"]["action"] != "budget-changed":
            continue
        d = e["sipshield"]
        t = datetime.datetime.fromisoformat(e["@timestamp"].replace("Z", "+00:00")).timestamp()
        steps.setdefault((d["worker"], d["service_index"]), []).append(
            (t, d["budget_percent"], d["latency_ms"]))
    if not steps:
        print(f"budget-chart: no budget-changed events in {a.events}")
        return 1
    t0 = min(s[0][0] for s in steps.values())
    fig, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(8, 5))
    for (worker, service), s in sorted(steps.items()):
        xs = [x[0] - t0 for x in s]
        top.step(xs, [x[1] for x in s], where="post", label=f"worker {worker}, service {service}")
        bottom.plot(xs, [x[2] for x in s], marker=".", label=f"worker {worker}, service {service}")
    top.set_ylabel("untrusted budget, %")
    top.set_ylim(0, 105)
    bottom.set_ylabel("server response, ms")
    bottom.set_xlabel("seconds since the first step")
    if a.target_ms:
        bottom.axhline(a.target_ms, color="grey", linestyle="--", label="target")
    top.legend(loc="lower right")
    bottom.legend(loc="upper right")
    top.set_title(a.title or "the untrusted budget's control loop (AIMD) over a flood")
    fig.tight_layout()
    fig.savefig(a.png, dpi=100)
    for key, s in sorted(steps.items()):
        print(f"worker {key[0]} service {key[1]}: {len(s)} steps, budget {min(x[1] for x in s)}-"
              f"{max(x[1] for x in s)} %, latency {min(x[2] for x in s)}-{max(x[2] for x in s)} ms")
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
    c.add_argument("--runs", required=True)
    c.add_argument("--json")
    c.add_argument("--json-run")
    c = sp.add_parser("soak")
    c.add_argument("dir")
    c.add_argument("--json")
    c = sp.add_parser("chart")
    c.add_argument("results")
    c.add_argument("png")
    c = sp.add_parser("budget-chart")
    c.add_argument("events")
    c.add_argument("png")
    c.add_argument("--target-ms", type=int, default=250)
    c.add_argument("--title")
    a = p.parse_args()
    return {"check-pcap": lambda: check_pcap(a.pcap), "capacity": lambda: capacity(a),
            "summary": lambda: summary(a), "soak": lambda: soak(a), "chart": lambda: chart(a),
            "budget-chart": lambda: budget_chart(a)}[a.cmd]()


if __name__ == "__main__":
    sys.exit(main())
