#!/usr/bin/env python3
"""Integration tests of operations: sipshield-ctl on the daemon's control socket, operators'
bans, and the state snapshot across a restart. The real daemon on net_pcap vdevs, frames of
test hosts (198.18.0.0/15) written by sip_frames.py.

    operations_test.py --build BUILD_DIR CASE     (CASE: one of the functions named test_*)
"""
import json
import os
import pty
import re
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon_test import EAL_ARGS, PROTECTED, Daemon, Env, expect, read_pcap, run_cli  # noqa: E402
from sip_frames import SERVER, request, register_ok, udp_frame, write_pcap  # noqa: E402

USER = ("198.18.5.1", 5060)      # registers: the registrar's 200 OK makes it trusted
SCANNER = ("198.18.6.6", 5070)   # a SIPVicious User-Agent: banned by the signature rule
STRANGER = ("198.18.7.7", 5060)  # neither


class Ops(Env):
    def ctl(self, *args, check=True):
        """sipshield-ctl on this test's socket: (exit code, stdout, stderr)."""
        proc = subprocess.run([os.path.join(self.build, "apps", "sipshield-ctl"),
                               "--socket", self.path("control.sock"), *args],
                              capture_output=True, text=True, timeout=30)
        if check and proc.returncode != 0:
            raise AssertionError(f"sipshield-ctl {' '.join(args)} exited {proc.returncode}: "
                                 f"{proc.stderr}")
        return proc.returncode, proc.stdout, proc.stderr

    def ctl_json(self, *args):
        return json.loads(self.ctl("--json", *args)[1])

    def ops_config(self, outside_pcap, inside_pcap, name="config.json", loop=False, extra=None):
        """Both ports on pcaps (the outside one replayed without end when `loop`), the TSC clock
        (snapshots count in wall time), this test's control socket and snapshot file."""
        cfg = {
            "eal": {"args": EAL_ARGS},
            "ports": {
                "outside": {"device": f"net_pcap0,rx_pcap={outside_pcap}"
                                      + (",infinite_rx=1" if loop else "")
                                      + f",tx_pcap={self.path('outside-tx.pcap')}"},
                "inside": {"device": f"net_pcap1,rx_pcap={inside_pcap},"
                                     f"tx_pcap={self.path('inside-tx.pcap')}"},
            },
            "protected": PROTECTED,
            "clock": "tsc",
            "stats_interval_s": 0,
            "control": {"socket": self.path("control.sock")},
            "metrics": {"enabled": False},
            "snapshot": {"file": self.path("state.json"), "interval_s": 0},
            "policy": {"probe": {"mode": "never"}},
        }
        for key, value in (extra or {}).items():
            cfg[key] = {**cfg.get(key, {}), **value} if isinstance(value, dict) else value
        path = self.path(name)
        with open(path, "w") as f:
            json.dump(cfg, f)
        return path


def learning_captures(env):
    """The registrar's 200 OK to the user (read once from the inside); the scanner's REGISTERs
    and a stranger's OPTIONS (the outside, which the daemon may replay without end: the user is
    not in it, or its own flood would get it banned)."""
    outside, inside = env.path("learn-outside.pcap"), env.path("learn-inside.pcap")
    write_pcap(outside, [udp_frame(SCANNER, SERVER, request("REGISTER", SCANNER, "100", f"s{i}",
                                                   agent="friendly-scanner"))
                for i in range(5)] +
               [udp_frame(STRANGER, SERVER, request("OPTIONS", STRANGER, "bob", "x1"))])
    write_pcap(inside, [udp_frame(SERVER, USER, register_ok(USER, "alice", "u1"))])
    return outside, inside


def wait_until(what, check, seconds=20):
    deadline = time.monotonic() + seconds
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds} s: {what}")
        time.sleep(0.2)


def test_ctl_lists_bans_bans_by_hand_and_unbans(env):
    outside, inside = learning_captures(env)
    config = env.ops_config(outside, inside, loop=True)
    daemon = Daemon(env, "--config", config)
    try:
        daemon.wait_for("the start-up line", "worker(s)")
        # The policy's ban, with the signature rule that caused it (from the ban's event).
        bans = wait_until("the scanner's ban listed", lambda: [
            b for b in env.ctl_json("bans")["sources"] if b["source"] == "198.18.6.6:5070"])
        expect(bans[0]["reason"] == "sip_signature" and bans[0]["rule"] == "sipvicious-ua",
               f"the ban names its cause: {bans}")
        code, text, _ = env.ctl("bans")
        expect("198.18.6.6:5070" in text and "sipvicious-ua" in text, f"bans table:\n{text}")
        # Trust learned from the registrar's answer, and a stranger's standing.
        trust = env.ctl_json("trust", "show", "198.18.5.1:5060")["sources"]
        expect(len(trust) == 1 and trust[0]["trusted_s"] > 3000, f"the user is trusted: {trust}")
        _, text, _ = env.ctl("trust", "show", "198.18.7.7")
        expect("198.18.7.7:5060: " in text, f"the stranger is known:\n{text}")
        _, text, _ = env.ctl("trust", "show", "198.18.8.8")
        expect("no source in the tables" in text, f"an unknown host:\n{text}")
        # An operator's ban of the stranger's /24: its frames now drop as operator_banned.
        before = env.ctl_json("stats")["counters"]["dropped_by_reason"].get("operator_banned", 0)
        expect(before == 0, f"no operator ban yet: {before}")
        answer = env.ctl_json("ban", "198.18.7.0/24", "--for", "10m", "--why", "test flood")
        expect(answer["banned"] == "198.18.7.0/24", f"ban answer: {answer}")
        wait_until("frames dropped as operator_banned", lambda: env.ctl_json("stats")["counters"]
                   ["dropped_by_reason"].get("operator_banned", 0) > 0)
        listed = env.ctl_json("bans")["operator"]
        expect([b["prefix"] for b in listed] == ["198.18.7.0/24"] and listed[0]["why"] ==
               "test flood" and 590 <= listed[0]["until"] - listed[0]["since"] <= 600,
               f"the operator's ban is listed: {listed}")
        _, text, _ = env.ctl("trust", "show", "198.18.7.7:5060")
        expect("operator ban 198.18.7.0/24: test flood" in text, f"trust show says why:\n{text}")
        # A broken config is refused with its JSON path; the ban stays through the refusal and
        # through a good reload.
        with open(config) as f:
            good = f.read()
        with open(config, "w") as f:
            json.dump({**json.loads(good), "stats_interval_s": "often"}, f)
        code, _, err = env.ctl("reload", check=False)
        expect(code == 1 and "$.stats_interval_s" in err, f"bad reload: {code} {err}")
        with open(config, "w") as f:
            f.write(good)
        reloaded = env.ctl_json("reload")
        expect(reloaded["in_force"]["operator_bans"] == 1, f"reload keeps the ban: {reloaded}")
        # Unban: the operator's ban is lifted, and the frames pass again.
        answer = env.ctl_json("unban", "198.18.7.0/24")
        expect(answer["operator_ban_lifted"] is True, f"unban answer: {answer}")
        expect(env.ctl_json("bans")["operator"] == [], "no operator ban left")
        lifted = env.ctl_json("unban", "198.18.6.6")
        expect(lifted["source_bans_lifted"] >= 1, f"the scanner's ban lifted: {lifted}")
        # An operator's allow: once its policy ban (from its looping rate) is lifted, the
        # stranger's OPTIONS skip meters and budget: all admitted, none rate-limited.
        allowed = env.ctl_json("allow", "add", "198.18.7.0/24")
        expect(allowed["operator_allows"] == ["198.18.7.0/24"], f"allow add: {allowed}")
        env.ctl_json("unban", "198.18.7.0/24")
        counters = env.ctl_json("stats")["counters"]
        time.sleep(0.5)
        later = env.ctl_json("stats")["counters"]
        admitted = later["passed_by_reason"].get("admitted", 0) - \
            counters["passed_by_reason"].get("admitted", 0)
        expect(admitted > 1000 and later["dropped_by_reason"].get("rate_limited", 0) ==
               counters["dropped_by_reason"].get("rate_limited", 0),
               f"the allowed stranger: {admitted} admitted in 0.5 s, rate_limited "
               f"{counters['dropped_by_reason'].get('rate_limited', 0)} then "
               f"{later['dropped_by_reason'].get('rate_limited', 0)}")
        _, text, _ = env.ctl("trust", "show", "198.18.7.7:5060")
        expect("operator allow 198.18.7.0/24" in text, f"trust show names the allow:\n{text}")
        expect(env.ctl_json("allow", "del", "198.18.7.0/24")["operator_allows"] == [], "allow del")
        code, _, err = env.ctl("allow", "del", "198.18.7.0/24", check=False)
        expect(code == 1 and "no operator allow of 198.18.7.0/24" in err, f"del twice: {err}")
        # Mistakes are named, with exit status 1 (daemon refused) or 2 (usage).
        code, _, err = env.ctl("ban", "198.18.300.1", "--for", "1h", "--why", "x", check=False)
        expect(code == 1 and "not an address or prefix" in err, f"bad prefix: {code} {err}")
        code, _, err = env.ctl("ban", "198.18.7.7", "--for", "soon", "--why", "x", check=False)
        expect(code == 1 and "a duration" in err, f"bad duration: {code} {err}")
        code, _, err = env.ctl("ban", "198.18.7.7", check=False)
        expect(code == 2 and "--for" in err, f"missing options: {code} {err}")
        code, _, err = env.ctl("frobnicate", check=False)
        expect(code == 2, f"unknown command: {code} {err}")
        code, _, _ = daemon.stop()
    finally:
        daemon.kill()
    expect(code == 0, f"daemon exit {code}")
    missing = subprocess.run([os.path.join(env.build, "apps", "sipshield-ctl"), "--socket",
                              env.path("control.sock"), "stats"], capture_output=True, text=True)
    expect(missing.returncode == 3 and "cannot reach the daemon" in missing.stderr,
           f"no daemon: {missing.returncode} {missing.stderr}")
    expect(not os.path.exists(env.path("control.sock")), "the socket is removed at the stop")


def test_restart_keeps_trust_and_bans(env):
    # First run: the user's registration is answered, the scanner banned, a prefix banned by hand;
    # the stop writes the snapshot.
    outside, inside = learning_captures(env)
    daemon = Daemon(env, "--config", env.ops_config(outside, inside, loop=True))
    try:
        daemon.wait_for("the start-up line", "worker(s)")
        wait_until("the scanner banned", lambda: env.ctl_json("bans")["sources"])
        env.ctl("ban", "198.18.9.0/24", "--for", "1h", "--why", "kept across the restart")
        code, _, err = daemon.stop()
    finally:
        daemon.kill()
    expect(code == 0 and "state snapshot written" in err, f"first run: {code} {err[-800:]}")
    with open(env.path("state.json")) as f:
        state = json.load(f)
    by_source = {f"{s['ip']}:{s['port']}": s for s in state["sources"]}
    expect(by_source.get("198.18.5.1:5060", {}).get("trusted_until_ms", 0) > 0 and
           by_source.get("198.18.6.6:5070", {}).get("banned_until_ms", 0) > 0,
           f"the snapshot holds the trust and the ban: {state['sources']}")

    # Second run, every first contact held until it answers a probe (nothing answers here): the
    # user passes at once, the scanner (now without its telltale User-Agent) is still banned,
    # the banned prefix still dropped.
    later_outside, empty = env.path("later-outside.pcap"), env.path("empty.pcap")
    write_pcap(later_outside,
               [udp_frame(USER, SERVER, request("REGISTER", USER, "alice", "u2", cseq=2))] +
               [udp_frame(SCANNER, SERVER, request("OPTIONS", SCANNER, "x", f"t{i}"))
                for i in range(3)] +
               [udp_frame(("198.18.9.9", 5060), SERVER, request("OPTIONS", ("198.18.9.9", 5060),
                                                                "y", "b1"))])
    write_pcap(empty, [])

    def second_run(name):
        config = env.ops_config(later_outside, empty, name=name,
                                extra={"policy": {"probe": {"mode": "always"}}})
        proc = subprocess.run([env.daemon, "--config", config, "--idle-exit-ms", "1500"],
                              capture_output=True, text=True, timeout=60)
        expect(proc.returncode == 0, f"{name}: exit {proc.returncode}: {proc.stderr[-800:]}")
        counters = json.loads(proc.stdout[proc.stdout.index("{"):])["counters"]
        return counters, proc.stderr

    counters, err = second_run("restarted.json")
    # (The stranger's looped OPTIONS got it banned as well in the first run.)
    expect(re.search(r"state snapshot loaded from .*: 1 trusted and [12] banned source\(s\), "
                     r"1 operator ban\(s\)", err), f"the start says what it loaded:\n{err[-800:]}")
    expect(counters["passed_by_reason"].get("admitted", 0) == 1, f"the user passes: {counters}")
    dropped = counters["dropped_by_reason"]
    expect(dropped.get("source_banned", 0) == 3 and dropped.get("operator_banned", 0) == 1 and
           dropped.get("unverified", 0) == 0, f"the scanner and the prefix stay banned: {dropped}")

    # The same run without the snapshot: the user and the scanner are both strangers again.
    os.rename(env.path("state.json"), env.path("state-moved.json"))
    counters, err = second_run("forgetful.json")
    expect("state snapshot not loaded: no snapshot" in err, f"says why not:\n{err[-800:]}")
    expect(counters["dropped_by_reason"].get("unverified", 0) == 5 and
           counters["passed_by_reason"].get("admitted", 0) == 0,
           f"without the snapshot every first contact waits: {counters}")

    # A snapshot for other protected services is not loaded, and the start says so.
    os.rename(env.path("state-moved.json"), env.path("state.json"))
    config = env.ops_config(later_outside, empty, name="other.json",
                            extra={"protected": ["198.18.0.20:5060"]})
    proc = subprocess.run([env.daemon, "--config", config, "--idle-exit-ms", "1000"],
                          capture_output=True, text=True, timeout=60)
    expect(proc.returncode == 0 and "written for other protected services" in proc.stderr,
           f"other services: {proc.returncode} {proc.stderr[-800:]}")


def test_reload_applies_policy_under_traffic(env):
    # The stranger's OPTIONS come as fast as the capture loops (millions a second): a meter of
    # any rate limits them; one of rate 0 (its burst, then nothing) admits none at all.
    outside, inside = learning_captures(env)
    wide = {"rate_per_s": 1000000, "burst": 1000}
    policy = {"probe": {"mode": "never"}, "demerits": {"rate_limited": 0},
              "untrusted": {"options": wide}, "per_address": {"options": wide}}
    config = env.ops_config(outside, inside, loop=True, extra={"policy": policy})
    daemon = Daemon(env, "--config", config)

    def counted(verdict, reason):
        return env.ctl_json("stats")["counters"][f"{verdict}_by_reason"].get(reason, 0)

    def steady(verdict, reason):
        """The count does not move over half a second."""
        first = counted(verdict, reason)
        time.sleep(0.5)
        return counted(verdict, reason) == first

    def rewrite(change):
        with open(config) as f:
            cfg = json.load(f)
        change(cfg)
        with open(config, "w") as f:
            json.dump(cfg, f)

    try:
        daemon.wait_for("the start-up line", "worker(s)")
        wait_until("the stranger's OPTIONS admitted", lambda: counted("passed", "admitted") > 10)
        expect(not steady("passed", "admitted"), "admissions go on before the reload")
        trust = env.ctl_json("trust", "show", "198.18.5.1:5060")["sources"][0]["trusted_s"]
        expect(trust > 3000, f"the user is trusted before the reload: {trust}")
        # The meter shut: from the reload on, the stranger's OPTIONS are rate-limited, all of
        # them, and nothing the tables knew is forgotten.
        rewrite(lambda c: c["policy"]["untrusted"].update(options={"rate_per_s": 0, "burst": 1}))
        answer = env.ctl_json("reload")
        expect(answer["reloaded"] is True, f"reload: {answer}")
        wait_until("admissions stopped by the new meter", lambda: steady("passed", "admitted"), 10)
        expect(not steady("dropped", "rate_limited"), "the stranger's OPTIONS are rate-limited")
        after = env.ctl_json("trust", "show", "198.18.5.1:5060")["sources"][0]["trusted_s"]
        expect(trust - 10 <= after <= trust, f"the user's trust kept: {trust} then {after}")
        banned = env.ctl_json("trust", "show", "198.18.6.6:5070")["sources"][0]["banned_s"]
        expect(banned > 3000, f"the scanner's ban kept: {banned}")
        # A resize is refused whole, naming the path: the shut meter stays in force.
        rewrite(lambda c: (c["policy"]["untrusted"].update(options=wide),
                           c["policy"].update(sources={"max": 1024})))
        code, _, err = env.ctl("reload", check=False)
        expect(code == 1 and "$.policy.sources.max: 65536 to 1024 resizes a table" in err,
               f"resize refused: {code} {err}")
        expect(steady("passed", "admitted"), "the refused reload changed nothing")
        # Settings that need a restart are named; the rest applies (the meter opens again).
        rewrite(lambda c: (c["policy"].pop("sources"), c.update(workers=2)))
        env.ctl("reload")
        daemon.wait_for("the restart-only settings named",
                        "reload: workers changed; applied at the next restart")
        wait_until("admissions again", lambda: not steady("passed", "admitted"), 10)
        code, out, err = daemon.stop()
    finally:
        daemon.kill()
    expect(code == 0, f"daemon exit {code}: {err[-800:]}")
    # No frame lost across the reloads: every frame received has its verdict, none failed to send.
    counters = json.loads(out[out.index("{"):])["counters"]
    received = sum(p["rx"] for p in counters["ports"].values())
    expect(received == counters["passed"] + counters["dropped"] and
           all(p["tx_failed"] == 0 for p in counters["ports"].values()),
           f"received {received}, judged {counters['passed'] + counters['dropped']}: {counters}")


def test_terminal_shows_a_live_status_line(env):
    outside, inside = learning_captures(env)
    config = env.ops_config(outside, inside, loop=True, extra={"stats_interval_s": 1})
    leader, follower = pty.openpty()
    proc = subprocess.Popen([env.daemon, "--config", config, "--duration", "3.5"],
                            stdout=follower, stderr=subprocess.PIPE, text=True)
    os.close(follower)
    seen = b""
    try:
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the daemon closed the terminal
                break
            if not chunk:
                break
            seen += chunk
        err = proc.communicate(timeout=60)[1]
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(leader)
    text = seen.decode(errors="replace")
    lines = [part for part in text.split("\r\x1b[K") if part.startswith("outside in ")]
    expect(len(lines) >= 2, f"live lines on the terminal: {text[:600]!r}")
    # The scanner is banned (and the looping stranger, if its rate earned it demerits enough).
    expect(re.search(r"drops source_banned \d[\d.]*[kM]?/s", lines[-1]) and
           re.search(r"bans [12] \+ 0 by hand", lines[-1]),
           f"the line names the top drop reason and the bans: {lines[-1]!r}")
    expect("sipshield: rx outside" not in err, "no stats lines while the terminal shows the live one")


def test_top_talkers_and_a_capture_of_drops(env):
    outside, inside = learning_captures(env)
    config = env.ops_config(outside, inside, loop=True, extra={"alarms": {"top_talkers_s": 1}})
    events = env.path("events.jsonl")
    daemon = Daemon(env, "--config", config, "--events", events)
    try:
        daemon.wait_for("the start-up line", "worker(s)")
        top = wait_until("the scanner at the top", lambda: [
            t for t in env.ctl_json("top")["sources"][:2] if t["source"] == "198.18.6.6:5070"
            and t["dropped_per_s"] > 0])
        expect(top[0]["reason"] == "source_banned" and top[0]["standing"].startswith("banned for"),
               f"the scanner's line: {top[0]}")
        _, text, _ = env.ctl("top", "--count", "5")
        expect("198.18.6.6:5070" in text and "source_banned" in text, f"top table:\n{text}")
        code, text, err = env.ctl("capture", "--drops", "--seconds", "2", env.path("drops.pcap"))
        frames = read_pcap(env.path("drops.pcap"))
        with open(env.path("drops.pcap.jsonl")) as f:
            index = [json.loads(line) for line in f]
        expect(f"wrote {len(frames)} dropped frame(s)" in text and 0 < len(frames) == len(index),
               f"capture: {text} {err}, {len(frames)} frames, {len(index)} index lines")
        sources = {socket.inet_ntoa(frame[26:30]) for frame in frames}
        expect(sources <= {"198.18.6.6", "198.18.7.7"}, f"captured sources: {sources}")
        expect({line["reason"] for line in index} <= {"source_banned", "sip_signature",
                                                      "rate_limited", "untrusted_budget",
                                                      "address_rate_limited"} and
               all(line["stands_for"] >= 1 for line in index), f"index: {index[:3]}")
        code, _, err = env.ctl("capture", "--seconds", "2", env.path("x.pcap"), check=False)
        expect(code == 2 and "capture --drops" in err, f"capture without --drops: {code} {err}")
        daemon.stop()
    finally:
        daemon.kill()
    with open(events) as f:
        tops = [json.loads(line) for line in f if '"top-talkers"' in line]
    expect(tops and tops[-1]["sipshield"]["top_droppers"][0]["source"] in
           ("198.18.6.6:5070", "198.18.7.7:5060"), f"top-talker events: {tops[-1:]}")


def test_dpdk_telemetry_answers_under_sipshield(env):
    outside, inside = learning_captures(env)
    config = env.ops_config(outside, inside, loop=True,
                            extra={"policy": {"sources": {"max": 4096}}})
    daemon = Daemon(env, "--config", config)

    def telemetry(command):
        proc = subprocess.run(["dpdk-telemetry.py"], input=command + "\n", capture_output=True,
                              text=True, timeout=30)
        lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
        return json.loads(lines[-1])[command] if lines else None

    try:
        daemon.wait_for("the start-up line", "worker(s)")
        listed = wait_until("the commands listed", lambda: telemetry("/"))
        expect({f"/sipshield/{c}" for c in ("stats", "workers", "reasons", "sources", "bans",
                                            "config")} <= set(listed), f"commands: {listed}")
        stats = wait_until("stats published", lambda: (telemetry("/sipshield/stats") or {})
                           .get("ports/outside/rx"))
        live = env.ctl_json("stats")["counters"]["ports"]["outside"]["rx"]
        expect(0 < stats <= live, f"telemetry {stats} frames in, the daemon {live} later")
        reasons = telemetry("/sipshield/reasons")
        expect(reasons.get("dropped/source_banned", 0) > 0, f"reasons: {reasons}")
        expect(telemetry("/sipshield/config")["policy/sources/max"] == 4096, "the config in force")
        expect(telemetry("/sipshield/sources")["sources/capacity"] == 4096, "the table's capacity")
        expect(telemetry("/sipshield/bans")["by_policy"] >= 1, "the scanner's ban counted")
        daemon.stop()
    finally:
        daemon.kill()


def free_port():
    """A TCP port on 127.0.0.1 nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url):
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.headers.get("Content-Type", ""), r.read().decode()


def test_prometheus_scrapes_the_metrics(env):
    metrics_port, prometheus_port = free_port(), free_port()
    outside, inside = learning_captures(env)
    config = env.ops_config(outside, inside, loop=True, extra={
        "metrics": {"enabled": True, "port": metrics_port},
        "policy": {"sources": {"max": 4096}}})
    daemon = Daemon(env, "--config", config)
    prometheus = None
    try:
        daemon.wait_for("the start-up line", "worker(s)")
        url = f"http://127.0.0.1:{metrics_port}/metrics"
        content_type, text = wait_until("the first exposition", lambda: http_get(url)[1] and
                                        http_get(url))
        expect(content_type.startswith("text/plain; version=0.0.4"), f"type {content_type}")
        checked = subprocess.run(["promtool", "check", "metrics"], input=text, text=True,
                                 capture_output=True, timeout=30)
        expect(checked.returncode == 0, f"promtool check metrics: {checked.stdout}{checked.stderr}")
        # A real Prometheus scrapes it every second; its HTTP API must give the values back.
        with open(env.path("prometheus.yml"), "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                    "scrape_configs:\n  - job_name: sipshield\n    static_configs:\n"
                    f"      - targets: ['127.0.0.1:{metrics_port}']\n")
        prometheus = subprocess.Popen(
            ["prometheus", f"--config.file={env.path('prometheus.yml')}",
             f"--storage.tsdb.path={env.path('tsdb')}",
             f"--web.listen-address=127.0.0.1:{prometheus_port}"],
            stdout=subprocess.DEVNULL, stderr=open(env.path("prometheus.log"), "w"))
        api = f"http://127.0.0.1:{prometheus_port}/api/v1/query?query="

        def query(expression):
            try:
                answer = json.loads(http_get(api + urllib.parse.quote(expression))[1])
            except OSError:
                return None  # not listening yet
            result = answer["data"]["result"] if answer.get("status") == "success" else []
            return float(result[0]["value"][1]) if result else None

        capacity = wait_until("Prometheus has scraped the source table's capacity",
                              lambda: query('sipshield_table_capacity{table="sources"}'), 60)
        expect(capacity == 4096, f"the configured capacity: {capacity}")
        banned = wait_until("source_banned drops in Prometheus", lambda: query(
            'sum(sipshield_frames_total{action="drop",reason="source_banned"})'), 30)
        hits = query('sipshield_signature_hits_total{rule="sipvicious-ua"}')
        live = env.ctl_json("stats")["counters"]["dropped_by_reason"]["source_banned"]
        expect(0 < banned <= live, f"Prometheus {banned} source_banned drops, the daemon {live} now")
        expect(hits and hits >= 1, f"signature hits: {hits}")
        by_tier = query('sum(sipshield_tier_frames_total{tier="banned",action="drop"})')
        by_service = query('sum(sipshield_service_frames_total{service="198.18.0.10:5060"})')
        expect(by_tier and by_service and by_tier <= by_service,
               f"banned drops {by_tier} within the service's {by_service}")
        spent = query('sum(sipshield_untrusted_budget_messages_total{outcome="spent"})')
        expect(spent and spent >= 1, f"the stranger's messages spent the budget: {spent}")
        expect(query('sipshield_up') is None and query('up{job="sipshield"}') == 1, "target up")
        # The port taken: a second daemon fails its start, naming the port and the setting.
        other = env.ops_config(outside, inside, name="other.json", extra={
            "metrics": {"enabled": True, "port": metrics_port},
            "control": {"socket": env.path("other.sock")}})
        proc = subprocess.run([env.daemon, "--config", other, "--duration", "1"],
                              capture_output=True, text=True, timeout=60)
        expect(proc.returncode == 1 and f"metrics: cannot listen on 127.0.0.1:{metrics_port}"
               in proc.stderr, f"port in use: {proc.returncode} {proc.stderr[-500:]}")
        code, _, _ = daemon.stop()
        expect(code == 0, f"daemon exit {code}")
    finally:
        if prometheus:
            prometheus.terminate()
            prometheus.wait(timeout=30)
        daemon.kill()


RSYSLOG_CONF = """global(workDirectory="{tmp}")
module(load="imudp")
module(load="imtcp")
input(type="imudp" address="127.0.0.1" port="{udp}")
input(type="imtcp" address="127.0.0.1" port="{tcp}")
template(name="fields" type="list") {{
  property(name="app-name") constant(value="|")
  property(name="msgid") constant(value="|")
  property(name="syslogseverity-text") constant(value="|")
  property(name="inputname") constant(value="|")
  property(name="msg") constant(value="\\n")
}}
*.* action(type="omfile" file="{tmp}/received.log" template="fields")
"""


def received(env):
    """What rsyslog parsed: (app-name, msgid, severity, input, the message's JSON) per line."""
    try:
        with open(env.path("received.log")) as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return []
    out = []
    for line in lines:
        app, msgid, severity, source, message = line.split("|", 4)
        out.append((app, msgid, severity, source, json.loads(message.strip())))
    return out


def test_events_reach_rsyslog_over_udp_and_tcp(env):
    udp_port, tcp_port = free_port(), free_port()
    with open(env.path("rsyslog.conf"), "w") as f:
        f.write(RSYSLOG_CONF.format(tmp=env.tmp, udp=udp_port, tcp=tcp_port))
    rsyslog = subprocess.Popen(["rsyslogd", "-n", "-f", env.path("rsyslog.conf"),
                                "-i", env.path("rsyslog.pid")],
                               stdout=subprocess.DEVNULL, stderr=open(env.path("rsyslog.err"), "w"))
    daemon = None
    try:
        def listening():
            with socket.socket() as s:
                return s.connect_ex(("127.0.0.1", tcp_port)) == 0
        wait_until("rsyslog listening", listening)
        outside, inside = learning_captures(env)
        for transport, port in (("udp", udp_port), ("tcp", tcp_port)):
            # No snapshot: the second run must ban the scanner anew, not load its ban.
            config = env.ops_config(outside, inside, name=f"{transport}.json", loop=True, extra={
                "syslog": {"enabled": True, "port": port, "transport": transport,
                           "app_name": "sipshield-test"},
                "snapshot": {"file": ""}})
            daemon = Daemon(env, "--config", config)
            daemon.wait_for("the start-up line", "worker(s)")
            source = "imudp" if transport == "udp" else "imtcp"
            bans = wait_until(f"the scanner's ban in rsyslog ({transport})", lambda: [
                r for r in received(env) if r[1] == "source-banned" and r[3] == source])
            app, _, severity, _, event = bans[0]
            expect(app == "sipshield-test" and severity == "warning", f"header: {bans[0][:4]}")
            expect(event["source"] == {"ip": "198.18.6.6", "port": 5070} and
                   event["rule"]["id"] == "sipvicious-ua" and
                   event["event"]["action"] == "source-banned", f"the event: {event}")
            if transport == "udp":
                # The loop drops the scanner's frames by the million a second: a major alarm.
                alarm = wait_until("a major alarm in rsyslog", lambda: [
                    r for r in received(env) if r[1] == "alarm-raised"
                    and r[4]["sipshield"]["level"] == "major"])
                expect(alarm[0][2] == "crit" and
                       alarm[0][4]["sipshield"]["drop_reason"] == "source_banned",
                       f"the alarm: {alarm[0]}")
                # An operator's ban is an event like any other.
                env.ctl("ban", "198.18.7.0/24", "--for", "5m", "--why", "seen in the SIEM")
                ban = wait_until("the operator's ban in rsyslog", lambda: [
                    r for r in received(env) if r[1] == "operator-ban"])
                expect(ban[0][4]["sipshield"]["why"] == "seen in the SIEM" and
                       ban[0][4]["source"]["address"] == "198.18.7.0/24", f"{ban[0]}")
            code, _, _ = daemon.stop()
            expect(code == 0, f"daemon exit {code}")
    finally:
        if daemon:
            daemon.kill()
        rsyslog.terminate()
        rsyslog.wait(timeout=30)


def main():
    return run_cli(globals(), lambda args: Ops(os.path.abspath(args.build)))


if __name__ == "__main__":
    sys.exit(main())
