#!/usr/bin/env python3
"""The end-to-end lab's reduced run as a test (issue #11): real Kamailio and SIPp phones behind
the filter under the mixed flood. Through sipshield the phones' registrations (registered users
and newcomers) stay at 99 % or more, while the same flood through a plain bridge measurably
pushes registration success down. Needs root (network namespaces); scripts/lab/run.sh installs
Kamailio, SIPp and tcpreplay itself. Not root, or a run that did not finish, is a failure.

    test/lab/lab_quick_test.py --build BUILD_DIR
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

SOURCE = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--build", required=True)
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("lab: needs root (network namespaces, packet sockets): not run", file=sys.stderr)
        return 1
    failures = []

    def expect(ok, what):
        print(("ok:   " if ok else "FAIL: ") + what)
        if not ok:
            failures.append(what)

    with tempfile.TemporaryDirectory(prefix="sipshield-lab-") as tmp:
        result = os.path.join(tmp, "lab.json")
        run = subprocess.run(
            [os.path.join(SOURCE, "scripts", "lab", "run.sh"), "--quick", "--no-capacity",
             "--setups", "no_flood bridge sipshield", "--out", os.path.join(tmp, "out"),
             "--json", result],
            env={**os.environ, "SIPSHIELD_BIN": os.path.join(os.path.abspath(args.build), "apps")},
            timeout=900)
        if run.returncode != 0 or not os.path.exists(result):
            print(f"lab: run.sh exited {run.returncode} without its JSON", file=sys.stderr)
            return 1
        with open(result) as f:
            lab = json.load(f)
    reference, bridge, shield = lab["no_flood"], lab["bridge"], lab["sipshield"]
    level = shield["level_pps"]
    for name, setup in (("bridge", bridge), ("sipshield", shield)):
        sent = (setup["flood"] or {}).get("pps", 0)
        expect(sent >= 0.8 * level, f"{name}: the flood was sent at {sent:.0f}/s of {level}/s")
    expect(reference["register_success"] >= 0.99,
           f"no flood: registrations {reference['register_success']:.4f} >= 0.99 (the reference works)")
    expect(shield["register_success"] >= 0.99,
           f"sipshield: registered users' registrations {shield['register_success']:.4f} >= 0.99")
    expect(shield["newcomer_register_success"] >= 0.99,
           f"sipshield: newcomers' registrations {shield['newcomer_register_success']:.4f} >= 0.99")
    expect(shield["sipshield"]["dropped"] > 0.5 * shield["flood"].get("frames_sent", 0),
           f"sipshield: the daemon was inline and dropped the flood "
           f"({shield['sipshield']['dropped']} of {shield['flood'].get('frames_sent')} frames)")
    expect(bridge["register_success"] <= reference["register_success"] - 0.05,
           f"bridge: the flood pushes registrations down by 5 points or more "
           f"({bridge['register_success']:.4f} against {reference['register_success']:.4f})")
    print(f"lab: {len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
