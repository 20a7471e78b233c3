#!/usr/bin/env python3
"""Helper of scripts/lab/kamailio-baseline.sh: turns Kamailio's decision log into per-frame verdicts.

  prepare  --pcap CAP.pcap --labels CAP.labels.tsv --out-pcap IN.pcap --index INDEX.tsv
      Writes the frames toward the servers (direction "in") to IN.pcap with their original
      timestamps, and INDEX.tsv: for every "in" frame its datagram (fragments reassembled here as
      the kernel will), the MD5 of the datagram's UDP payload, source address and port, and kind.
  score    --index INDEX.tsv --labels CAP.labels.tsv --log KAMAILIO.log
           --sipshield SIPSHIELD.jsonl --verdicts OUT.jsonl --summary OUT.json [--table OUT.txt]
      Matches the log's SSKRCV/SSKPASS/SSKDROP lines (see kamailio-antiflood.cfg) to datagrams
      by (payload MD5, source address, source port) as a multiset, in capture order, writes one
      verdict per capture frame and prints the side-by-side table with sipshield.

Standard library only. Only classic pcap with Ethernet frames (what sipshield-gen writes).
"""

import argparse
import collections
import hashlib
import ipaddress
import json
import struct
import sys

MIN_UDP_PACKET = 32  # Kamailio core (config.h): shorter UDP datagrams are dropped unparsed
LAB_NETS = (ipaddress.ip_network("198.18.0.0/15"), ipaddress.ip_network("2001:db8::/32"))


def endian_of(ghdr):
    return "<" if struct.unpack("<I", ghdr[:4])[0] == 0xA1B2C3D4 else ">"


def read_labels(path):
    labels = {}
    with open(path) as f:
        header = f.readline().rstrip("\n").split("\t")
        if header[:4] != ["frame", "label", "flow", "direction"]:
            sys.exit(f"{path}: unexpected header {header}")
        for line in f:
            frame, label, flow, direction = line.rstrip("\n").split("\t")[:4]
            labels[int(frame)] = (label, int(flow), direction)
    return labels


def pcap_frames(path):
    """Yields (header bytes, record header bytes, frame bytes) for a classic pcap file."""
    with open(path, "rb") as f:
        ghdr = f.read(24)
        magic = struct.unpack("<I", ghdr[:4])[0]
        if magic == 0xA1B2C3D4:
            endian = "<"
        elif magic == 0xD4C3B2A1:
            endian = ">"
        else:
            sys.exit(f"{path}: not a classic microsecond pcap (magic {magic:#x})")
        linktype = struct.unpack(endian + "I", ghdr[20:24])[0]
        if linktype != 1:
            sys.exit(f"{path}: link type {linktype}, expected Ethernet (1)")
        yield ghdr, None, None
        while True:
            rhdr = f.read(16)
            if len(rhdr) < 16:
                return
            incl = struct.unpack(endian + "I", rhdr[8:12])[0]
            yield None, rhdr, f.read(incl)


def parse_l3(frame):
    """Returns (family, src, dst, frag_key or None, frag_offset, more, l4proto, l4 bytes) or None."""
    if len(frame) < 14:
        return None
    ethertype = struct.unpack("!H", frame[12:14])[0]
    p = 14
    if ethertype == 0x8100 and len(frame) >= 18:
        ethertype = struct.unpack("!H", frame[16:18])[0]
        p = 18
    if ethertype == 0x0800:
        ip = frame[p:]
        if len(ip) < 20:
            return None
        ihl = (ip[0] & 0x0F) * 4
        total = struct.unpack("!H", ip[2:4])[0]
        ident = struct.unpack("!H", ip[4:6])[0]
        ff = struct.unpack("!H", ip[6:8])[0]
        more = bool(ff & 0x2000)
        offset = (ff & 0x1FFF) * 8
        proto = ip[9]
        src, dst = ipaddress.IPv4Address(ip[12:16]), ipaddress.IPv4Address(ip[16:20])
        data = ip[ihl:total]
        key = (4, src, dst, ident, proto) if (more or offset) else None
        return 4, src, dst, key, offset, more, proto, data
    if ethertype == 0x86DD:
        ip = frame[p:]
        if len(ip) < 40:
            return None
        plen = struct.unpack("!H", ip[4:6])[0]
        nh = ip[6]
        src, dst = ipaddress.IPv6Address(ip[8:24]), ipaddress.IPv6Address(ip[24:40])
        rest = ip[40:40 + plen]
        key, offset, more = None, 0, False
        while True:
            if nh in (0, 43, 60) and len(rest) >= 8:  # hop-by-hop, routing, destination options
                nh, rest = rest[0], rest[(rest[1] + 1) * 8:]
                continue
            if nh == 44 and len(rest) >= 8:  # fragment header
                fo = struct.unpack("!H", rest[2:4])[0]
                ident = struct.unpack("!I", rest[4:8])[0]
                offset, more = fo & 0xFFF8, bool(fo & 1)
                key = (6, src, dst, ident)
                nh, rest = rest[0], rest[8:]
                if offset:
                    break  # later fragments: the rest is raw fragment data
                continue
            break
        return 6, src, dst, key, offset, more, nh, rest
    return None


def classify(payload):
    if len(payload) < MIN_UDP_PACKET:
        return "keepalive" if payload.strip(b"\r\n") == b"" else "short"
    if payload.startswith(b"SIP/"):
        return "response"
    return "request"


def cmd_prepare(args):
    labels = read_labels(args.labels)
    out = open(args.out_pcap, "wb")
    frames_in = []  # [frame, datagram id, capture time]
    dgrams = {}  # id -> dict(md5, src, sport, size, kind)
    pending = {}  # frag key -> dict(id, parts, total, proto)
    next_id = 0
    frame_no = 0
    ghdr_seen = False
    ghdr_bytes = b""
    ts_first = ts_last = None
    outside, first_outside, dsts = 0, None, set()
    for ghdr, rhdr, data in pcap_frames(args.pcap):
        if ghdr is not None:
            out.write(ghdr)
            ghdr_bytes = ghdr
            ghdr_seen = True
            continue
        frame_no += 1
        lab = labels.get(frame_no)
        if lab is None:
            sys.exit(f"{args.labels}: no label for frame {frame_no}")
        if lab[2] != "in":
            continue
        out.write(rhdr)
        out.write(data)
        sec, usec = struct.unpack(endian_of(ghdr_bytes) + "II", rhdr[:8])
        ts = sec + usec / 1e6
        ts_first = ts if ts_first is None else ts_first
        ts_last = ts
        l3 = parse_l3(data)
        if l3 is not None:
            for a in (l3[1], l3[2]):
                if not any(a in n for n in LAB_NETS if n.version == a.version):
                    outside += 1
                    first_outside = first_outside or f"frame {frame_no}: {a}"
            if l3[3] is None or l3[4] == 0:
                dsts.add(str(l3[2]))
        if l3 is None:
            dgrams[next_id] = dict(md5="-", src="-", sport=0, size=0, kind="not_ip")
            frames_in.append([frame_no, next_id, ts])
            next_id += 1
            continue
        fam, src, dst, key, offset, more, proto, l4 = l3
        if key is None:
            did = next_id
            next_id += 1
            udp = l4
            if proto != 17 or len(udp) < 8:
                dgrams[did] = dict(md5="-", src=str(src), sport=0, size=0, kind="not_udp")
            else:
                sport, _, ulen = struct.unpack("!HHH", udp[:6])
                payload = udp[8:ulen] if ulen >= 8 else udp[8:]
                dgrams[did] = dict(md5=hashlib.md5(payload).hexdigest(), src=str(src), sport=sport,
                                   size=len(payload), kind=classify(payload))
            frames_in.append([frame_no, did, ts])
            continue
        st = pending.get(key)
        if st is None:
            st = dict(id=next_id, parts={}, total=None, proto=None)
            pending[key] = st
            next_id += 1
            dgrams[st["id"]] = dict(md5="-", src=str(src), sport=0, size=0, kind="incomplete")
        frames_in.append([frame_no, st["id"], ts])
        st["parts"][offset] = l4
        if offset == 0:
            st["proto"] = proto
        if not more:
            st["total"] = offset + len(l4)
        if st["total"] is not None and 0 in st["parts"]:
            buf = bytearray()
            for off in sorted(st["parts"]):
                if off > len(buf):
                    break
                buf[off:off + len(st["parts"][off])] = st["parts"][off]
            if len(buf) >= st["total"]:
                del pending[key]
                udp = bytes(buf[:st["total"]])
                if st["proto"] == 17 and len(udp) >= 8:
                    sport, _, ulen = struct.unpack("!HHH", udp[:6])
                    payload = udp[8:ulen]
                    dgrams[st["id"]] = dict(md5=hashlib.md5(payload).hexdigest(), src=str(src),
                                            sport=sport, size=len(payload), kind=classify(payload))
                else:
                    dgrams[st["id"]]["kind"] = "not_udp"
    out.close()
    if not ghdr_seen:
        sys.exit(f"{args.pcap}: empty file")
    if outside:
        sys.exit(f"{args.pcap}: refusing to replay: {outside} frames toward the servers use "
                 f"addresses outside 198.18.0.0/15 and 2001:db8::/32 (first: {first_outside})")
    if args.meta:
        with open(args.meta, "w") as f:
            json.dump(dict(first_ts=ts_first, last_ts=ts_last,
                           duration_s=(ts_last - ts_first) if ts_first is not None else 0,
                           in_frames=len(frames_in), destinations=sorted(dsts)), f)
    if not frames_in:
        sys.exit(f"{args.pcap}: no frame toward the servers")
    # Check the generator's promise: the fragments of one datagram are consecutive frames of
    # one label and flow.
    by_id = collections.defaultdict(list)
    for fr, did, _ in frames_in:
        by_id[did].append(fr)
    multi = mixed = gaps = 0
    for did, frs in by_id.items():
        if len(frs) < 2:
            continue
        multi += 1
        if len({labels[f][:2] for f in frs}) != 1:
            mixed += 1
        if frs != list(range(frs[0], frs[0] + len(frs))):
            gaps += 1
    with open(args.index, "w") as f:
        f.write("frame\tdgram\tmd5\tsrc\tsport\tsize\tkind\tnfrag\tts\n")
        for fr, did, ts in frames_in:
            d = dgrams[did]
            f.write(f"{fr}\t{did}\t{d['md5']}\t{d['src']}\t{d['sport']}\t{d['size']}\t{d['kind']}"
                    f"\t{len(by_id[did])}\t{ts:.6f}\n")
    kinds = collections.Counter(dgrams[d]["kind"] for d in by_id)
    print(f"prepare: {len(frames_in)} frames toward the servers, {len(by_id)} datagrams "
          f"({dict(sorted(kinds.items()))}); {multi} fragmented datagrams, "
          f"{mixed} with fragments of different label/flow, {gaps} not in consecutive frames")


def norm_ip(s):
    s = s.strip("[]")
    try:
        return str(ipaddress.ip_address(s))
    except ValueError:
        return s


def read_log(path):
    rcv, passed, dropped = collections.defaultdict(collections.deque), collections.Counter(), {}
    drop_reasons = collections.defaultdict(collections.Counter)
    bad = 0
    with open(path, errors="replace") as f:
        for line in f:
            i = line.find("SSK")
            if i < 0:
                continue
            parts = line[i:].split()
            if len(parts) < 5 or parts[0] not in ("SSKRCV", "SSKPASS", "SSKDROP"):
                bad += 1
                continue
            try:
                key = (parts[1], norm_ip(parts[2]), int(parts[3]))
            except ValueError:
                bad += 1
                continue
            if parts[0] == "SSKRCV":
                try:
                    rcv[key].append(float(parts[5]))
                except (IndexError, ValueError):
                    rcv[key].append(None)
            elif parts[0] == "SSKPASS":
                passed[key] += 1
            else:
                drop_reasons[key][parts[4]] += 1
    for key, c in drop_reasons.items():
        dropped[key] = c
    return rcv, passed, dropped, bad


# Kamailio's decision for a datagram: short column name and meaning, in table order.
REASONS = {
    "passed": ("pass", "passed every stock check (SSKPASS)"),
    "keepalive_ignored_by_core": ("ka", "CRLF keepalive, below MIN_UDP_PACKET: ignored by the core, counted passed"),
    "ban": ("ban", "source in the ipban htable (banned earlier by pike)"),
    "pike": ("pike", "pike_check_req() failed: source banned from now on"),
    "scanner_ua": ("ua", "User-Agent matches the stock scanner regex"),
    "maxfwd": ("maxfwd", "Max-Forwards exhausted (483)"),
    "sanity": ("sanity", "sanity_check(\"17895\", \"7\") failed"),
    "reply_sanity": ("rsanity", "reply: sanity_check(\"17604\", \"6\") failed"),
    "reply_no_transaction": ("rnotx", "reply matching no transaction (t_check_trans() false)"),
    "rejected_by_parser": ("parser", "received (SSKRCV) but rejected by the core parser"),
    "short_ignored_by_core": ("short", "non-keepalive datagram below MIN_UDP_PACKET (32 bytes): ignored"),
    "not_received_fragmented": ("lostfrag", "fragmented datagram Kamailio never received (kernel reassembly)"),
    "not_received": ("lost", "datagram Kamailio never received (kernel socket/queue drop)"),
    "never_complete": ("incompl", "fragments of a datagram that is never complete in the capture"),
    "not_comparable": ("n/c", "reply to a request of the servers: not comparable in a one-way replay"),
}


def replay_pace(dgram_ts, rcv_time):
    """How far behind the capture's own schedule Kamailio received each datagram."""
    pairs = sorted((dgram_ts[d], t) for d, t in rcv_time.items() if t is not None)
    if len(pairs) < 2:
        return None
    base = min(t - c for c, t in pairs)  # the least delayed datagram defines delay 0
    lags = sorted(t - c - base for c, t in pairs)
    q = lambda x: lags[min(len(lags) - 1, int(x * len(lags)))]
    cap_span = pairs[-1][0] - pairs[0][0]
    rcv_span = max(t for _, t in pairs) - min(t for _, t in pairs)
    return dict(datagrams=len(pairs), capture_span_s=cap_span, received_span_s=rcv_span,
                stretch=rcv_span / cap_span if cap_span else 0.0, lag_median_s=q(0.5),
                lag_p99_s=q(0.99), lag_max_s=lags[-1])


def pct(n, d):
    return f"{100.0 * n / d:6.2f}%" if d else "    n/c"


def cmd_score(args):
    labels = read_labels(args.labels)
    index = []
    dgram_ts = {}
    with open(args.index) as f:
        f.readline()
        for line in f:
            fr, did, md5, src, sport, size, kind, nfrag, ts = line.rstrip("\n").split("\t")
            index.append((int(fr), int(did), md5, norm_ip(src), int(sport), kind, int(nfrag)))
            dgram_ts[int(did)] = float(ts)  # the last fragment completes the datagram
    rcv, passed, dropped, bad = read_log(args.log)

    # One decision per datagram, in capture order.
    decision = {}  # did -> (action, reason)
    rcv_time = {}  # did -> time Kamailio received it (SSKRCV)
    seen = set()
    for fr, did, md5, src, sport, kind, nfrag in index:
        if did in seen:
            continue
        seen.add(did)
        key = (md5, src, sport)
        if kind in ("keepalive", "short", "incomplete", "not_ip", "not_udp"):
            if kind == "keepalive":
                # Below Kamailio's MIN_UDP_PACKET: the core ignores it before any filter; the
                # keepalive has done its job if the kernel delivered it. Counted as passed.
                decision[did] = ("pass", "keepalive_ignored_by_core")
            elif kind == "short":
                decision[did] = ("drop", "short_ignored_by_core")
            elif kind == "incomplete":
                decision[did] = ("drop", "never_complete")
            else:
                decision[did] = ("drop", kind)
            continue
        got = rcv[key].popleft() if rcv.get(key) else None
        if got is not None:
            rcv_time[did] = got
        if passed[key] > 0:
            passed[key] -= 1
            decision[did] = ("pass", "passed")
            continue
        reasons = dropped.get(key)
        if reasons and sum(reasons.values()) > 0:
            reason = next(r for r, c in reasons.items() if c > 0)
            reasons[reason] -= 1
            decision[did] = ("drop", reason)
            continue
        if did in rcv_time:
            decision[did] = ("drop", "rejected_by_parser")
            continue
        decision[did] = ("drop", "not_received_fragmented" if nfrag > 1 else "not_received")
    leftover = dict(rcv=sum(len(q) for q in rcv.values()), passed=sum(passed.values()),
                    dropped=sum(sum(c.values()) for c in dropped.values()))

    by_frame = {fr: (did, kind) for fr, did, _, _, _, kind, _ in index}
    kam, comparable = {}, {}
    with open(args.verdicts, "w") as out:
        for fr in sorted(labels):
            label, flow, direction = labels[fr]
            if direction != "in":
                kam[fr], comparable[fr] = "pass", True
                out.write(json.dumps({"frame": fr, "action": "pass", "reason": "from_server"}) + "\n")
                continue
            did, kind = by_frame[fr]
            action, reason = decision[did]
            # A reply that answers a request the servers sent (pings, proxied INVITE/BYE) can
            # only pass a real Kamailio by matching the transaction of that request, which this
            # one-way replay never shows it: not comparable.
            # In the verdicts file such a frame is written "pass" (sipshield-eval cannot leave a
            # frame out), with what Kamailio did in "observed"; the comparison table skips it.
            comp = not (kind == "response" and label.startswith("legit_"))
            kam[fr], comparable[fr] = action, comp
            if comp:
                rec = {"frame": fr, "action": action, "reason": reason}
            else:
                rec = {"frame": fr, "action": "pass", "comparable": False, "observed": action,
                       "reason": reason}
            out.write(json.dumps(rec) + "\n")

    sis = {}
    with open(args.sipshield) as f:
        for line in f:
            if line.strip():
                v = json.loads(line)
                sis[int(v["frame"])] = v["action"]
    missing = [fr for fr in labels if fr not in sis]
    if missing:
        sys.exit(f"{args.sipshield}: no verdict for frame {missing[0]}")

    # Per label and group, over comparable frames toward the servers.
    def group_of(label):
        if label.startswith("atk_"):
            return "attack (all kinds)"
        if label.startswith("legit_newcomer_"):
            return "legit newcomers"
        return "legit registered"

    stats = collections.defaultdict(lambda: dict(in_frames=0, nc_frames=0, cmp_frames=0,
                                                 kam_pass=0, sis_pass=0, sis_pass_all=0,
                                                 flows=collections.defaultdict(lambda: [True, True]),
                                                 reasons=collections.Counter()))
    for fr in sorted(labels):
        label, flow, direction = labels[fr]
        if direction != "in":
            continue
        did, _ = by_frame[fr]
        for name in (label, group_of(label)):
            s = stats[name]
            s["in_frames"] += 1
            s["sis_pass_all"] += sis[fr] == "pass"
            if not comparable[fr]:
                s["nc_frames"] += 1
                s["reasons"]["not_comparable"] += 1
                continue
            s["cmp_frames"] += 1
            s["kam_pass"] += kam[fr] == "pass"
            s["sis_pass"] += sis[fr] == "pass"
            s["reasons"][decision[did][1]] += 1
            fl = s["flows"][(label, flow)]
            fl[0] &= kam[fr] == "pass"
            fl[1] &= sis[fr] == "pass"

    rows = sorted(n for n in stats if n.startswith(("atk_", "legit_")))
    groups = [g for g in ("legit registered", "legit newcomers", "attack (all kinds)") if g in stats]
    summary = {"labels": {}, "groups": {}, "unmatched_log_lines": leftover, "bad_log_lines": bad}
    lines = []
    hdr = (f"  {'label':<30} {'in':>7} {'n/c':>6} {'Kamailio':>9} {'sipshield':>9} "
           f"{'flows':>6} {'Kam ok':>8} {'sis ok':>8}  sipshield vs Kamailio")
    lines.append("  share of comparable frames toward the servers PASSED (legit) or DROPPED (atk_);")
    lines.append("  flows ok: flows whose every comparable frame passed (legit rows only)")
    lines.append(hdr)
    lines.append("  " + "-" * (len(hdr) - 2))

    def row(name):
        s = stats[name]
        attack = name.startswith("atk_") or name.startswith("attack")
        n = s["cmp_frames"]
        kp, sp = s["kam_pass"], s["sis_pass"]
        k_share = (n - kp) / n if attack and n else (kp / n if n else None)
        s_share = (n - sp) / n if attack and n else (sp / n if n else None)
        flows = list(s["flows"].values())
        nf = len(flows)
        k_ok = sum(f[0] for f in flows)
        s_ok = sum(f[1] for f in flows)
        if n == 0:
            mark = "not comparable"
        else:
            ks, ss = round(k_share * 1e4), round(s_share * 1e4)
            kf, sf = (round(k_ok * 1e4 / nf), round(s_ok * 1e4 / nf)) if nf else (0, 0)
            if attack:
                better, worse, at_best = ss > ks, ss < ks, ss == ks == 10000
            else:
                better = (ss > ks and sf >= kf) or (ss >= ks and sf > kf)
                worse = ss < ks or sf < kf
                at_best = ss == ks == 10000 and sf == kf == 10000
            if worse:
                mark = "<-- WORSE: sipshield does not beat Kamailio"
            elif better:
                mark = "better"
            elif at_best:
                mark = "tie at 100% (cannot be beaten)"
            else:
                mark = "<-- TIE: sipshield does not beat Kamailio"
        fl_k = pct(k_ok, nf) if not attack else "       "
        fl_s = pct(s_ok, nf) if not attack else "       "
        lines.append(f"  {name:<30} {s['in_frames']:>7} {s['nc_frames']:>6} "
                     f"{pct(k_share * n if n else 0, n):>9} {pct(s_share * n if n else 0, n):>9} "
                     f"{(nf if not attack else ''):>6} {fl_k:>8} {fl_s:>8}  {mark}")
        entry = dict(in_frames=s["in_frames"], not_comparable_frames=s["nc_frames"],
                     comparable_frames=n, kamailio_passed=kp, sipshield_passed=sp,
                     sipshield_passed_all_in=s["sis_pass_all"],
                     kamailio_share=k_share, sipshield_share=s_share,
                     share_is="dropped" if attack else "passed",
                     flows=nf, kamailio_flows_ok=k_ok, sipshield_flows_ok=s_ok,
                     verdict=mark, kamailio_reasons=dict(s["reasons"]))
        (summary["groups"] if name in groups else summary["labels"])[name] = entry

    for name in rows:
        row(name)
    lines.append("  " + "-" * (len(hdr) - 2))
    for name in groups:
        row(name)

    lines.append("")
    lines.append("  Kamailio's decision per frame toward the servers (frames; legend below):")
    present = {r for n in rows for r in stats[n]["reasons"]}
    reason_names = [r for r in REASONS if r in present] + sorted(present - set(REASONS))
    short = [REASONS.get(r, (r, ""))[0] for r in reason_names]
    widths = [max(len(h), 6) for h in short]
    lines.append("  " + f"{'label':<30}" + "".join(f" {h:>{w}}" for h, w in zip(short, widths)))
    for name in rows + groups:
        lines.append("  " + f"{name:<30}" + "".join(
            f" {stats[name]['reasons'].get(r, 0):>{w}}" for r, w in zip(reason_names, widths)))
    for r, h in zip(reason_names, short):
        lines.append(f"    {h:<9} {REASONS.get(r, (r, r))[1]}")
    lines.append("")
    # Fragmented datagrams (complete in the capture): did the kernel hand them to Kamailio?
    frag = collections.defaultdict(lambda: [0, 0, 0])  # (group, family) -> total, received, sis
    first_frames, sis_all = {}, collections.defaultdict(lambda: True)
    for fr, did, md5, src, sport, kind, nfrag in index:
        if nfrag > 1 and kind != "incomplete":
            first_frames.setdefault(did, (fr, ":" in src))
            sis_all[did] &= sis[fr] == "pass"
    for did, (fr, v6) in first_frames.items():
        label = labels[fr][0]
        g = frag[(group_of(label), "IPv6" if v6 else "IPv4")]
        g[0] += 1
        g[1] += decision[did][1] != "not_received_fragmented"
        g[2] += sis_all[did]
    summary["fragmented_datagrams"] = {f"{g} {fam}": dict(total=t, kamailio_received=r,
                                                          sipshield_passed=sp)
                                       for (g, fam), (t, r, sp) in sorted(frag.items())}
    if frag:
        lines.append("  fragmented datagrams toward the servers, complete in the capture: received by "
                     "Kamailio (kernel reassembly) / total:")
        for (g, fam), (t, r, sp) in sorted(frag.items()):
            lines.append(f"    {g:<20} {fam}: {r:>5} / {t:<5}  (sipshield passed every fragment of {sp})")
    lines.append(f"  log lines not matched to any frame: {leftover}; unreadable SSK lines: {bad}")
    pace = replay_pace(dgram_ts, rcv_time)
    summary["pace"] = pace
    if pace:
        lines.append(f"  replay pace, from Kamailio's receive times: {pace['datagrams']} datagrams over "
                     f"{pace['received_span_s']:.2f} s for {pace['capture_span_s']:.2f} s of capture "
                     f"(x{pace['stretch']:.3f}); delay behind the capture's schedule: median "
                     f"{pace['lag_median_s']:.3f} s, 99th percentile {pace['lag_p99_s']:.3f} s, "
                     f"max {pace['lag_max_s']:.3f} s")
    text = "\n".join(lines)
    print(text)
    if args.table:
        with open(args.table, "w") as f:
            f.write(text + "\n")
    with open(args.summary, "w") as f:
        json.dump(summary, f, indent=1)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("--pcap", required=True)
    p.add_argument("--labels", required=True)
    p.add_argument("--out-pcap", required=True)
    p.add_argument("--index", required=True)
    p.add_argument("--meta", help="write first/last timestamp, duration and destinations (JSON)")
    s = sub.add_parser("score")
    s.add_argument("--index", required=True)
    s.add_argument("--labels", required=True)
    s.add_argument("--log", required=True)
    s.add_argument("--sipshield", required=True)
    s.add_argument("--verdicts", required=True)
    s.add_argument("--summary", required=True)
    s.add_argument("--table")
    args = ap.parse_args()
    {"prepare": cmd_prepare, "score": cmd_score}[args.cmd](args)


if __name__ == "__main__":
    main()
