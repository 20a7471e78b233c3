#!/usr/bin/env bash
# The whole test suite on a fresh Debian 12 machine: installs what it needs, builds twice (plain,
# then ASan+UBSan), runs unit and integration tests in both, and checks formatting.
#   scripts/test.sh            everything
#   scripts/test.sh --quick    the plain build only (no sanitizer build)
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
[[ ${1:-} == --quick ]] && quick=1

bash scripts/install-deps.sh

ok=0
failed=0
run_suite() {  # build-dir [meson options...]
  local dir=$1
  shift
  if [[ ! -f $dir/build.ninja ]]; then
    meson setup "$dir" "$@" >/dev/null
  fi
  ninja -C "$dir" -j2
  local log rc=0
  log=$(mktemp)
  meson test -C "$dir" --print-errorlogs --num-processes 1 | tee "$log" || rc=$?
  ok=$((ok + $(awk '/^Ok:/ {print $2}' "$log")))
  failed=$((failed + $(awk '/^(Fail|Timeout|Unexpected Pass):/ {s += $NF} END {print s + 0}' "$log")))
  rm -f "$log"
  return $rc
}

status=0
echo "== plain build (build/)"
run_suite build || status=1
if ((quick == 0)); then
  echo "== AddressSanitizer + UndefinedBehaviorSanitizer build (build-asan/)"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
    run_suite build-asan -Dsanitize=true || status=1
fi

echo "== formatting (clang-format, .clang-format)"
if bash scripts/format.sh --check; then
  ok=$((ok + 1))
else
  failed=$((failed + 1))
  status=1
fi

echo
echo "tests: ${ok} passed, ${failed} failed"
exit $status
