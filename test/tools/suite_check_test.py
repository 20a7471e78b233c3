#!/usr/bin/env python3
"""The suite check catches each way a test can go missing (a fault drill on synthetic runs)."""
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import suite_check  # noqa: E402


def tree(root: Path):
    (root / "test/unit").mkdir(parents=True)
    (root / "test/integration").mkdir(parents=True)
    (root / "test/unit/a_test.cpp").write_text('TEST_CASE("one") {}\n  TEST_CASE("two") {}\n')
    (root / "test/unit/b_test.cpp").write_text('// TEST_CASE("in a comment") does not count\n'
                                               'TEST_CASE("three") {}\n')
    (root / "test/integration/x_test.py").write_text("def test_alpha(env):\n    pass\n"
                                                     "def test_beta(env):\n    pass\n")


def complete():
    results = {name: ("OK", "") for name in suite_check.STANDALONE}
    results["unit"] = ("OK", "Passed all 3 test cases with 9 assertions.\n")
    results["alpha"] = ("OK", "")
    results["beta"] = ("OK", "")
    return results


def main():
    failures = []

    def expect(label, problems, fragment):
        if fragment is None and problems:
            failures.append(f"{label}: expected no problem, got {problems}")
        if fragment is not None and not any(fragment in p for p in problems):
            failures.append(f"{label}: expected a problem naming '{fragment}', got {problems}")

    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        tree(root)
        expect("complete run", suite_check.check(root, complete()), None)

        def without(name):
            return lambda r: r.pop(name)

        def replaced(name, value):
            return lambda r: r.__setitem__(name, value)

        drills = [
            ("integration case not run", without("beta"), "beta (x_test.py): did not run"),
            ("Catch2 case filtered away",
             replaced("unit", ("OK", "Passed all 2 test cases with 5 assertions.\n")),
             "Catch2 ran 2 test cases, test/unit defines 3"),
            ("skipped case", replaced("alpha", ("SKIP", "")), "alpha: SKIP"),
            ("test binary not built", without("fuzz_corpus_replay"),
             "fuzz_corpus_replay (meson.build): did not run"),
            ("failed unit run",
             replaced("unit", ("FAIL", "Failed 1 test case, failed 1 assertion.\n")), "unit: FAIL"),
        ]
        for label, change, fragment in drills:
            results = complete()
            change(results)
            expect(label, suite_check.check(root, results), fragment)

    for f in failures:
        print(f"FAIL {f}")
    print(f"suite check drills: {len(drills) + 1 - len(failures)} passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
