#!/usr/bin/env bash
# The main job: installs what is missing, builds `curv` in release mode, runs `curv demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
swift build -c release --product curv
exec .build/release/curv demo "$@"
