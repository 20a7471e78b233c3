#!/usr/bin/env python3
"""Checks that a meson test run ran every test the project has, and that each one passed.

The sources are the truth, not meson.build: every Catch2 TEST_CASE under test/unit must have run
(Catch2's own count in the `unit` test's output), every `def test_<case>` in an integration
script under test/integration must have run as the meson test `<case>`, and the standalone tests
below must be there. A test that was skipped, not built, filtered away or dropped from
meson.build makes this fail, naming it.

    suite_check.py --build BUILD_DIR [--source SOURCE_DIR]
Exit 0 when complete; 1 with one line per missing or failed test.
"""
import argparse
import json
import re
import sys
from pathlib import Path

# meson tests that are not Catch2 cases nor integration cases, and must always run.
STANDALONE = ("unit", "fuzz_corpus_replay", "lib_folders_have_no_cycle", "suite_check_finds_gaps",
              "sbom_matches_cyclonedx_schema")

CATCH_CASE = re.compile(r"^\s*(?:TEST_CASE|SCENARIO|TEMPLATE_TEST_CASE)\s*\(", re.M)
PY_CASE = re.compile(r"^def test_(\w+)\s*\(", re.M)
CATCH_RAN = re.compile(r"(?:Passed all|All tests passed \() ?(\d+) test cases?")


def expected_catch_cases(source: Path) -> int:
    return sum(len(CATCH_CASE.findall(p.read_text())) for p in sorted((source / "test/unit").glob("*.cpp")))


def expected_integration_cases(source: Path) -> dict:
    """{case name: script} for every integration case the scripts define."""
    cases = {}
    for script in sorted((source / "test/integration").glob("*_test.py")):
        for name in PY_CASE.findall(script.read_text()):
            cases[name] = script.name
    return cases


def read_testlog(path: Path) -> dict:
    """{test name (without project and suite): (result, stdout)}."""
    results = {}
    for line in path.read_text().splitlines():
        if line.strip():
            entry = json.loads(line)
            name = entry["name"].split(" / ")[-1]
            results[name] = (entry["result"], entry.get("stdout") or "")
    return results


def check(source: Path, results: dict) -> list:
    problems = []
    for name, (result, _) in sorted(results.items()):
        if result != "OK":
            problems.append(f"{name}: {result}")
    wanted = {name: "meson.build" for name in STANDALONE}
    wanted.update(expected_integration_cases(source))
    for name, origin in sorted(wanted.items()):
        if name not in results:
            problems.append(f"{name} ({origin}): did not run")
    expected = expected_catch_cases(source)
    if "unit" in results:
        counts = CATCH_RAN.findall(results["unit"][1])
        ran = int(counts[-1]) if counts else 0
        if ran != expected:
            problems.append(f"unit: Catch2 ran {ran} test cases, test/unit defines {expected}")
    return problems


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--build", required=True, type=Path)
    parser.add_argument("--source", type=Path, default=Path(__file__).resolve().parents[2])
    args = parser.parse_args()
    log = args.build / "meson-logs/testlog.json"
    if not log.exists():
        print(f"suite-check: {log} does not exist: no test ran")
        return 1
    results = read_testlog(log)
    problems = check(args.source, results)
    for p in problems:
        print(f"suite-check: {p}")
    if problems:
        print(f"suite-check: {len(problems)} problem(s) in {args.build}")
        return 1
    print(f"suite-check: all {len(results)} meson tests ran and passed, "
          f"{expected_catch_cases(args.source)} Catch2 cases among them")
    return 0


if __name__ == "__main__":
    sys.exit(main())
