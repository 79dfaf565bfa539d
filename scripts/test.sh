#!/usr/bin/env bash
# The whole test suite: installs what is missing, then builds and runs every test in
# release mode (numeric loops are far too slow in debug builds).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
swift build -c release --build-tests
swift test -c release --skip-build "$@"
