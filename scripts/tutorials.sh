#!/usr/bin/env bash
# Builds every tutorial (release) and runs each in its fast mode, which checks the facts
# its page claims: the script stops with a non-zero status at the first tutorial that
# fails to build, fails a claim, or exceeds the time limit.
#
#   bash scripts/tutorials.sh                          # all tutorials, in reading order
#   bash scripts/tutorials.sh KFACChecked Toeplitz     # a subset, by name
#   TUTORIAL_TIMEOUT=120 bash scripts/tutorials.sh     # seconds per run (default 60)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

# Reading order (Tutorials/README.md); every Tutorials/<Name>Tutorial directory must be listed.
all=(GettingStarted LossLandscape TransformerCurvature KFACChecked LaplaceApproximation InfluenceFunctions SecondOrderTraining Toeplitz ManyMachines TrainingWithCockpit)
for dir in Tutorials/*Tutorial/; do
  name=$(basename "$dir" Tutorial)
  if [[ ! " ${all[*]} " == *" $name "* ]]; then
    echo "error: $dir is not listed in scripts/tutorials.sh" >&2
    exit 1
  fi
done

selected=("$@")
[ ${#selected[@]} -eq 0 ] && selected=("${all[@]}")
limit=${TUTORIAL_TIMEOUT:-60}
runner=()
command -v timeout >/dev/null 2>&1 && runner=(timeout "$limit")

summary=()
for name in "${selected[@]}"; do
  product="${name}Tutorial"
  [ -d "Tutorials/$product" ] || { echo "error: no tutorial named $name (Tutorials/$product)" >&2; exit 1; }
  echo "=== $product: build (release)"
  swift build -c release --product "$product"
  echo "=== $product: run --fast"
  start=$(date +%s.%N)
  status=0
  "${runner[@]}" ".build/release/$product" --fast || status=$?
  seconds=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
  if [ "$status" -ne 0 ]; then
    [ "$status" -eq 124 ] && echo "error: $product --fast exceeded ${limit} s" >&2
    echo "error: $product --fast failed (status $status) after ${seconds} s" >&2
    exit "$status"
  fi
  summary+=("$(printf '%-30s %6s s' "$product" "$seconds")")
done

echo "=== All tutorials passed (--fast run times):"
printf '  %s\n' "${summary[@]}"
