#!/usr/bin/env bash
# A libFuzzer campaign on the SIP tokenizer and signature scan, under ASan+UBSan, built with
# clang into build-fuzz/. New inputs that found new coverage land in build-fuzz/corpus; copy
# the interesting ones (crashes fixed first) into test/fuzz/corpus so every test run replays them.
#   scripts/fuzz.sh [seconds, default 300] [jobs, default 1]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-300}
jobs=${2:-1}
bash scripts/install-deps.sh
if [[ ! -f build-fuzz/build.ninja ]]; then
  CXX=clang++ meson setup build-fuzz -Dfuzz=true -Dsanitize=true -Dbuildtype=debugoptimized >/dev/null
fi
ninja -C build-fuzz -j2 test/sip-fuzz
mkdir -p build-fuzz/corpus
build-fuzz/test/sip-fuzz -max_total_time="$seconds" -jobs="$jobs" -workers="$jobs" \
  -max_len=16384 -timeout=5 build-fuzz/corpus test/fuzz/corpus
