#!/usr/bin/env bash
# Checks that no source file imports a library target above its own layer (README, Layout).
# SwiftPM catches most upward imports as "no such module" on a clean build, but not
# reliably in incremental builds, where every module sits in one directory; this check
# does not depend on build order.
set -euo pipefail
cd "$(dirname "$0")/.."
declare -A allowed=(
  [CurvatureNumerics]=""
  [CurvatureLinearAlgebra]="CurvatureNumerics"
  [CurvatureToeplitz]="CurvatureNumerics CurvatureLinearAlgebra"
  [CurvatureDistributed]="CurvatureNumerics"
  [CurvatureAutodiff]="CurvatureNumerics"
  [CurvatureNN]="CurvatureNumerics CurvatureLinearAlgebra CurvatureAutodiff"
  [Curvature]="CurvatureNumerics CurvatureLinearAlgebra CurvatureToeplitz CurvatureAutodiff CurvatureNN CurvatureDistributed"
)
status=0
for target in "${!allowed[@]}"; do
  while IFS=: read -r file line module; do
    if [[ " ${allowed[$target]} " != *" $module "* ]]; then
      echo "$file:$line: $target imports $module, which is not below it" >&2
      status=1
    fi
  done < <(grep -rnoE '^\s*(@_exported |@testable |public |package |internal )?import (Curvature[A-Za-z]*)\b' \
             "Sources/$target" --include='*.swift' |
           sed -E 's/^([^:]*):([0-9]+):.*import (Curvature[A-Za-z]*)$/\1:\2:\3/')
done
exit $status
