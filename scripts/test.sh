#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds everything in release mode
# (numeric loops are far too slow in debug builds), runs the Python exporter tests, every
# tutorial in its fast mode (each checks the facts its page claims), then runs the tests.
# Arguments go to `swift test` (e.g. --filter KFAC) and skip the tutorials and the Python
# exporter tests (python/tests, pytest; skipped with a warning when torch cannot be
# installed, unless CURVATURE_PYTHON_TESTS=1).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
bash scripts/check-layers.sh
swift build -c release --build-tests
if [ $# -eq 0 ]; then
  # The exporter (python/): every example exports and its graph reproduces PyTorch. After
  # the build: test_resnet18.py runs the built Swift test (and curv) on its export.
  curvature_install_python
  if [ "$CURVATURE_PYTHON_READY" = "1" ]; then
    python3 -m pytest python/tests -q -p no:cacheprovider
  fi
  bash scripts/tutorials.sh
  # The DocC documentation (catalog and /// docs) builds without a warning.
  bash scripts/docs.sh
  bash scripts/mpi-tests.sh
  # The cockpit dashboard of every preset loads in headless Chromium with all its panels.
  bash scripts/browser-check.sh
fi
# One test at a time: the row-chunk regions set the process-wide OpenBLAS thread count,
# so tests running beside them could see other bits (see Benchmarks/README.md, Threads).
swift test -c release --skip-build --no-parallel "$@"
# The OpenBLAS worker check needs a process of its own: in the parallel suite other tests
# keep BLAS calls in flight, and a region rightly leaves the workers running then.
if [ $# -eq 0 ]; then
  CURVATURE_ALONE_BLAS_WORKERS=1 swift test -c release --skip-build --filter BLASWorkerThreadTests
fi
