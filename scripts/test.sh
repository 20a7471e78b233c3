#!/usr/bin/env bash
# The whole test suite on a fresh Debian 12 machine. Installs what it needs, then:
#   - a release build (GCC, -O3, warnings as errors): unit and integration tests;
#   - a clang build with ASan + UBSan: the same tests;
#   - the end-to-end lab's reduced run (test/lab/lab_quick_test.py: real Kamailio and SIPp
#     phones behind the release build's daemon, under flood; needs root);
#   - the Debian package: built, checked by lintian, installed and started (scripts/package-test.sh);
#   - a fault drill: a tree that does not compile must fail this very script;
#   - formatting (clang-format).
# After each test run, test/tools/suite_check.py checks that every test the sources define ran and
# passed: a test not built, skipped or filtered away fails the run.
#
#   scripts/test.sh            everything
#   scripts/test.sh --quick    the release build's tests, their completeness check and formatting
#
# Every step runs and is counted, whatever failed before it; the closing line counts meson tests
# and steps, and the exit status is non-zero when anything failed or did not run.
set -uo pipefail
cd "$(dirname "$0")/.."

quick=0
case ${1:-} in
  --quick) quick=1 ;;
  "") ;;
  *)
    echo "usage: scripts/test.sh [--quick]" >&2
    exit 2
    ;;
esac

passed=0
failed=0
failures=()
fail() {  # what
  failed=$((failed + 1))
  failures+=("$1")
}
pass() { passed=$((passed + 1)); }
# Runs a step: "== name", then the command; counts it as one passed or failed check.
step() {  # name command...
  local name=$1
  shift
  echo "== $name"
  if "$@"; then pass; else fail "$name"; fi
}
finish() {
  echo
  if ((failed > 0)); then
    echo "failed:"
    printf '  %s\n' "${failures[@]}"
  fi
  echo "tests: ${passed} passed, ${failed} failed"
  ((failed == 0))
  exit $?
}

if ! bash scripts/install-deps.sh; then
  fail "install-deps"
  finish
fi

# ccache (installed above) serves the drill's copy of the tree from the release build's objects.
export CCACHE_NOHASHDIR=1

# Configures (or reconfigures) and builds one build dir; a failure is counted by the caller.
build() {  # dir [meson options...]
  local dir=$1
  shift
  if [[ -f $dir/build.ninja ]]; then
    meson configure "$dir" "$@" >/dev/null || return 1
  else
    meson setup "$dir" "$@" >/dev/null || return 1
  fi
  ninja -C "$dir" -j2
}

# Builds, runs every meson test, counts each test as passed or failed, then checks completeness.
run_suite() {  # label dir [meson options...]
  local label=$1 dir=$2
  shift 2
  echo "== $label: build ($dir)"
  if ! build "$dir" "$@"; then
    fail "$label: build"
    fail "$label: tests (not run: the build failed)"
    return
  fi
  pass
  echo "== $label: tests"
  rm -f "$dir/meson-logs/testlog.json"
  meson test -C "$dir" --print-errorlogs --num-processes 1
  local counts
  counts=$(python3 - "$dir/meson-logs/testlog.json" <<'EOF'
import json, sys
ok = bad = 0
try:
    for line in open(sys.argv[1]):
        if line.strip():
            ok, bad = (ok + 1, bad) if json.loads(line)["result"] == "OK" else (ok, bad + 1)
except FileNotFoundError:
    pass
print(ok, bad)
EOF
  )
  passed=$((passed + ${counts% *}))
  failed=$((failed + ${counts#* }))
  ((${counts#* } == 0)) || failures+=("$label: ${counts#* } meson test(s)")
  step "$label: every test ran" python3 test/tools/suite_check.py --build "$dir"
}

# A copy of the tree with one source that cannot compile: scripts/test.sh must exit non-zero and
# count the failure. Runs the copy's own script, so a regression in this file is caught too.
drill_broken_build() {
  local copy rc=0
  copy=$(mktemp -d /tmp/sipshield-drill.XXXXXX)
  drill_in "$copy" || rc=$?
  rm -rf "$copy"
  return $rc
}
drill_in() {  # scratch dir
  local copy=$1 rc=0 log
  git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t "$copy"
  echo '#error fault drill: this file does not compile' >>"$copy/lib/generator/sip_text.cpp"
  log="$copy/drill.log"
  bash "$copy/scripts/test.sh" --quick >"$log" 2>&1 || rc=$?
  if ((rc == 0)); then
    echo "drill: scripts/test.sh exited 0 on a tree that does not compile"
    tail -5 "$log"
    return 1
  fi
  if ! grep -q "fault drill" "$log" || ! grep -Eq "^tests: [0-9]+ passed, [1-9][0-9]* failed$" "$log"; then
    echo "drill: the failing run did not name the error or count the failure"
    tail -5 "$log"
    return 1
  fi
  echo "drill: a broken build ends the run with exit $rc and: $(tail -1 "$log")"
}

run_suite "release (gcc -O3)" build-release --buildtype=release -Dwerror=true
if ((quick == 0)); then
  CC=clang CXX=clang++ ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    run_suite "clang + ASan + UBSan" build-asan -Dsanitize=true -Dwerror=true
  step "end-to-end lab, reduced: Kamailio + SIPp under flood (test/lab)" \
    python3 test/lab/lab_quick_test.py --build build-release
  step "Debian package: build, lintian, install, start" bash scripts/package-test.sh --jobs 2
  step "fault drill: a broken build fails scripts/test.sh" drill_broken_build
fi
step "formatting (clang-format, .clang-format)" bash scripts/format.sh --check
finish
