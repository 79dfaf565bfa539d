#!/usr/bin/env bash
# Builds the library's DocC documentation (the catalog Sources/Curvature/Curvature.docc and
# every public symbol's `///` docs) with `swift package generate-documentation`
# (swift-docc-plugin) and fails on any documentation warning: an unresolved symbol link, a
# parameter documented that does not exist, a malformed topic. scripts/test.sh runs it.
#
# `Curvature` re-exports the six lower modules (`@_exported import`), but the symbol graph
# the plugin extracts for the Curvature target holds only the symbols declared in it. So
# the whole public API is first extracted *as module Curvature* (swift-symbolgraph-extract
# with -experimental-allowed-reexported-modules) and handed to the plugin with
# --additional-symbol-graph-dir; DocC merges it with the plugin's own graph of the same
# module. The archive is .build/plugins/Swift-DocC/outputs/Curvature.doccarchive.
#
# Usage: bash scripts/docs.sh [extra generate-documentation options, e.g. --analyze]
set -euo pipefail
cd "$(dirname "$0")/.."

# The debug build the plugin uses anyway; the extraction reads its modules.
swift build --target Curvature
bin=$(swift build --show-bin-path)
triple=$(swiftc -print-target-info | sed -n 's/^ *"triple": "\(.*\)",$/\1/p' | head -n 1)

# Where the C modules' module maps and headers are: the system-library targets, the C
# kernels' public headers, the swift-numerics shims, and the system headers pkg-config
# names (MPICH's are not on the default path).
includes=()
for dir in Sources/C*/ Sources/CCurvatureKernels/include .build/checkouts/swift-numerics/Sources/_NumericsShims/include; do
  includes+=(-I "$dir")
done
for flag in $(pkg-config --cflags-only-I openblas lapacke fftw3 zlib mpich); do
  includes+=(-Xcc "$flag")
done

graphs=.build/curvature-symbol-graphs
rm -rf "$graphs"
mkdir -p "$graphs"
swift-symbolgraph-extract -module-name Curvature -target "$triple" -I "$bin/Modules" "${includes[@]}" \
  -minimum-access-level public -skip-synthesized-members \
  -experimental-allowed-reexported-modules=CurvatureNumerics,CurvatureLinearAlgebra,CurvatureToeplitz,CurvatureAutodiff,CurvatureNN,CurvatureDistributed \
  -output-dir "$graphs"

swift package generate-documentation --target Curvature --exclude-extended-types \
  --experimental-skip-synthesized-symbols \
  --additional-symbol-graph-dir "$graphs" --warnings-as-errors "$@"
