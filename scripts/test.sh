#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds everything in release mode
# (numeric loops are far too slow in debug builds), runs every tutorial in its fast mode
# (each checks the facts its page claims), then runs the tests. Arguments go to
# `swift test` (e.g. --filter KFAC) and skip the tutorials.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
bash scripts/check-layers.sh
swift build -c release --build-tests
if [ $# -eq 0 ]; then
  bash scripts/tutorials.sh
fi
swift test -c release --skip-build "$@"
