#!/usr/bin/env python3
"""Integration tests of the programs' edges: damaged captures, --help against the README, EAL
start-up failures, and the demo's counts and temporary files.

    tools_test.py --build BUILD_DIR --source SOURCE_DIR CASE
"""
import json
import os
import re
import signal
import struct
import subprocess
import sys
import tempfile

import generator_test
from daemon_test import expect, read_pcap, run_cli

PROGRAMS = ["sipshield", "sipshield-inspect", "sipshield-gen", "sipshield-eval", "sipshield-ctl"]
PROTECT = ["--protect", "198.18.0.10:5060", "--protect", "[2001:db8::10]:5060"]


class Env(generator_test.Env):
    TMP_PREFIX = "sipshield-tools-it-"

    def scenario(self, name):
        return os.path.join(self.source, "drivers-config", "scenarios", name)

    def generate(self, scenario, prefix):
        subprocess.run([self.app("sipshield-gen"), "--scenario", self.scenario(scenario),
                        "--out", prefix], check=True, capture_output=True)
        return prefix + ".pcap"

    def run(self, *args, timeout=120):
        return subprocess.run(list(args), capture_output=True, text=True, timeout=timeout)


def record_offsets(path):
    """Where each record (16-byte header, then the frame) of a classic pcap file starts."""
    with open(path, "rb") as f:
        data = f.read()
    offsets, at = [], 24
    while at < len(data):
        offsets.append(at)
        at += 16 + struct.unpack_from("<IIII", data, at)[2]
    return data, offsets


def read_lines(path):
    with open(path) as f:
        return f.read().splitlines()


def test_truncated_capture_keeps_frames_before_the_cut(env):
    capture = env.generate("scanners.json", env.path("scan"))
    data, offsets = record_offsets(capture)
    expect(len(offsets) > 1000, f"capture too small: {len(offsets)} frames")
    damaged = 1234
    # The frames before the damage, intact: what inspect must say about the damaged file.
    whole = env.path("whole.pcap")
    with open(whole, "wb") as f:
        f.write(data[:offsets[damaged - 1]])
    reference = env.run(env.app("sipshield-inspect"), "--pcap", whole, *PROTECT,
                        "--verdicts", env.path("whole.jsonl"), "--quiet")
    expect(reference.returncode == 0, f"an intact capture fails: {reference.stderr}")
    # Cut inside the frame's bytes, then inside its record header.
    for where, cut in (("frame", offsets[damaged - 1] + 16 + 20),
                       ("header", offsets[damaged - 1] + 7)):
        cut_pcap = env.path(f"cut-{where}.pcap")
        with open(cut_pcap, "wb") as f:
            f.write(data[:cut])
        out = {k: env.path(f"cut-{where}.{k}") for k in ("jsonl", "pass", "drop", "report")}
        proc = env.run(env.app("sipshield-inspect"), "--pcap", cut_pcap, *PROTECT,
                       "--verdicts", out["jsonl"], "--pass", out["pass"], "--drop", out["drop"],
                       "--report", out["report"], "--quiet")
        expect(proc.returncode == 1, f"cut in the {where}: exit {proc.returncode}")
        expected = (f"sipshield-inspect: {cut_pcap}: frame {damaged} is truncated (damaged "
                    f"capture); verdicts written for the {damaged - 1} frames before it")
        expect(expected in proc.stderr, f"cut in the {where}: stderr {proc.stderr!r}")
        verdicts = read_lines(out["jsonl"])
        expect([json.loads(v)["frame"] for v in verdicts] == list(range(1, damaged)),
               f"cut in the {where}: {len(verdicts)} verdicts for {damaged - 1} whole frames")
        expect(verdicts == read_lines(env.path("whole.jsonl")),
               f"cut in the {where}: verdicts differ from those of the intact frames")
        released = len(read_pcap(out["pass"])) + len(read_pcap(out["drop"]))
        expect(released == damaged - 1, f"cut in the {where}: {released} frames in pass + drop")
        with open(out["report"]) as f:
            expect(json.load(f)["frames"] == damaged - 1, f"cut in the {where}: report frames")


def help_options(text):
    """The options a --help text defines: its lines that start with two spaces and --name."""
    return set(re.findall(r"^  (--[a-z][a-z-]*)", text, re.M))


def readme_options(readme, program):
    row = next((line for line in readme.splitlines()
                if line.startswith(f"| `build/apps/{program}` |")), None)
    expect(row is not None, f"README's tools table has no row for {program}")
    return set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", row))


def test_help_and_readme_name_every_option(env):
    with open(os.path.join(env.source, "README.md")) as f:
        readme = f.read()
    for program in PROGRAMS:
        app = env.app(program)
        helped = env.run(app, "--help")
        expect(helped.returncode == 0 and helped.stdout.startswith("usage:"),
               f"{program} --help: exit {helped.returncode}, {helped.stdout[:80]!r}")
        defined = help_options(helped.stdout)
        expect("--help" in defined and len(defined) >= 4, f"{program} --help defines {defined}")
        unknown = env.run(app, "--no-such-option")
        expect(unknown.returncode == 2 and "usage:" in unknown.stderr and not unknown.stdout,
               f"{program} --no-such-option: exit {unknown.returncode}, {unknown.stderr[-200:]!r}")
        named = readme_options(readme, program)
        expect(defined <= named, f"README's {program} row lacks {sorted(defined - named)}")
        mentioned = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", helped.stdout))
        expect(named <= mentioned, f"{program} --help lacks README's {sorted(named - mentioned)}")
        # What --help defines, getopt knows: each option, then an unknown one to stop there.
        for option in sorted(defined - {"--help"}):
            takes_value = re.search(rf"^  {option} [A-Z]", helped.stdout, re.M) is not None
            args = [option, "1"] if takes_value else [option]
            proc = env.run(app, *args, "--no-such-option")
            expect(proc.returncode == 2 and "--no-such-option" in proc.stderr
                   and f"'{option}'" not in proc.stderr,
                   f"{program} {' '.join(args)}: {proc.stderr[:200]!r}")


def hugepages_reserved():
    with open("/proc/meminfo") as f:
        total = re.search(r"^HugePages_Total:\s+(\d+)", f.read(), re.M)
    return total is not None and int(total.group(1)) > 0


def test_eal_failure_says_what_to_do(env):
    gen = env.app("sipshield-gen")
    # An EAL option EAL does not know: the error names rte_errno's text and the arguments.
    proc = env.run(gen, "--no-huge", "--no-such-eal-option", "--", "--live", "--device",
                   "net_null0", "--rate", "1000", timeout=60)
    expect(proc.returncode == 1 and "EAL initialisation failed: Invalid argument (EAL args: "
           "--no-huge --no-such-eal-option)" in proc.stderr, f"bad EAL option: {proc.stderr!r}")
    if hugepages_reserved():
        print("this machine has hugepages: the no-hugepage hint is not exercised here")
    else:
        # The README's old form, without EAL options: EAL wants hugepages.
        proc = env.run(gen, "--live", "--device", "net_null0", "--rate", "1000", timeout=60)
        expect(proc.returncode == 1 and "EAL initialisation failed" in proc.stderr
               and "no hugepages" in proc.stderr and "--no-huge -m 512" in proc.stderr,
               f"no hugepages: exit {proc.returncode}, {proc.stderr[-400:]!r}")
    # The README's form for a machine without hugepages works as written (a small scenario).
    with open(os.path.join(env.source, "README.md")) as f:
        readme = f.read()
    block = re.search(r"^    build/apps/sipshield-gen (--no-huge.*?)\n\n", readme, re.M | re.S)
    expect(block is not None, "README shows no sipshield-gen form without hugepages")
    words = block.group(1).replace("\\\n", " ").split()
    expect("--live" in words and "--no-huge" in words, f"README's live form: {words}")
    prefix = env.path("scan")
    env.generate("scanners.json", prefix)
    proc = subprocess.run([gen, *words, "--scenario", env.scenario("scanners.json")],
                          cwd=env.tmp, capture_output=True, text=True, timeout=60)
    expect(proc.returncode == 0,
           f"README's live form: exit {proc.returncode}: {proc.stderr[-400:]}")
    with open(prefix + ".labels.tsv") as f:
        toward = sum(line.rstrip("\n").split("\t")[3] == "in" for line in list(f)[1:])
    sent = read_pcap(os.path.join(env.tmp, "out.pcap"))
    expect(len(sent) == toward, f"README's live form sent {len(sent)} of {toward} frames")


def demo_until_header(env, *args):
    """Starts the demo, reads its header up to the flood line, and returns (process, header)."""
    proc = subprocess.Popen([env.app("sipshield"), "--demo", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    header = []
    for line in proc.stdout:
        header.append(line)
        if " floods of " in line:
            break
    return proc, "".join(header)


def stop(proc):
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    return proc.returncode, err


def test_demo_counts_floods_and_cleans_up(env):
    with open(env.scenario("demo.json")) as f:
        floods = json.load(f)["floods"]
    kinds = {flood["kind"] for flood in floods}
    # A whole run (a few seconds): the counts it prints, and nothing left in the temp dir.
    proc, header = demo_until_header(env)
    captures = os.path.join(tempfile.gettempdir(), f"sipshield-demo-{proc.pid}")
    during = os.path.isfile(os.path.join(captures, "outside-rx.pcap"))
    out, err = proc.communicate(timeout=120)
    expect(proc.returncode == 0, f"demo exit {proc.returncode}: {err[-400:]}")
    match = re.search(r"(\d+) floods of (\d+) kinds \(([a-z_, ]+)\)", header)
    expect(match is not None, f"the demo's header counts no floods: {header!r}")
    expect((int(match.group(1)), int(match.group(2))) == (len(floods), len(kinds)),
           f"demo says {match.group(0)}; demo.json has {len(floods)} floods of {len(kinds)} kinds")
    expect(set(match.group(3).split(", ")) == kinds, f"kinds named: {match.group(3)}")
    expect(during, f"no captures in {captures} while the demo ran")
    expect(not os.path.exists(captures), f"{captures} left behind after the demo")
    expect("--keep DIR" in out.splitlines()[-1], f"the report's last line: {out.splitlines()[-1]}")

    proc, header = demo_until_header(env)
    captures = os.path.join(tempfile.gettempdir(), f"sipshield-demo-{proc.pid}")
    code, err = stop(proc)
    # Ctrl-C in the middle: a clean stop, and the captures (about 50 MB) go with it.
    expect(code == 130 and "demo interrupted" in err, f"SIGINT: exit {code}, {err[-400:]!r}")
    expect(not os.path.exists(captures), f"{captures} left behind")

    # --keep DIR: the captures are written there and stay, whole.
    keep = env.path("kept")
    proc, header = demo_until_header(env, "--keep", keep)
    code, err = stop(proc)
    expect(code == 130, f"--keep, SIGINT: exit {code}, {err[-400:]!r}")
    expect(not os.path.exists(os.path.join(tempfile.gettempdir(), f"sipshield-demo-{proc.pid}")),
           "--keep still made a temporary directory")
    frames = int(re.search(r"the built-in scenario, (\d+) frames", header).group(1))
    kept = sum(len(read_pcap(os.path.join(keep, side + "-rx.pcap")))
               for side in ("outside", "inside"))
    expect(kept == frames, f"--keep: {kept} frames in {keep}, the scenario has {frames}")
    unknown = env.run(env.app("sipshield"), "--keep", keep)
    expect(unknown.returncode == 2 and "--keep goes with --demo" in unknown.stderr,
           f"--keep without --demo: {unknown.returncode} {unknown.stderr[:200]!r}")


def main():
    return run_cli(globals(),
                   lambda args: Env(os.path.abspath(args.build), os.path.abspath(args.source)),
                   with_source=True)


if __name__ == "__main__":
    sys.exit(main())
