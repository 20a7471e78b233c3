#!/usr/bin/env bash
# Installs dependencies and builds into build/ (idempotent: reconfigures only when needed).
#   scripts/build.sh [extra meson options for a fresh build/]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
[[ -f build/build.ninja ]] || meson setup build -Dwerror=true "$@" >/dev/null
ninja -C build -j2
