#!/usr/bin/env bash
# Per-step overhead of cockpit's presets: `curv train` against cockpit-for-pytorch on the
# benchmark MLP and CNN (Benchmarks/cockpit/overhead.py; results in Benchmarks/README.md).
#
#   bash Benchmarks/cockpit/overhead.sh                  # builds curv (release), both models
#   bash Benchmarks/cockpit/overhead.sh --models cnn --json
#
# Extra arguments go to overhead.py. CURV=path skips the build.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [[ -z "${CURV:-}" ]]; then
  swift build -c release --product curv >&2
  CURV=.build/release/curv
fi
exec python3 Benchmarks/cockpit/overhead.py --curv "$CURV" "$@"
