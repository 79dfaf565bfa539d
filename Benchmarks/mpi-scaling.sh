#!/usr/bin/env bash
# Strong and weak scaling of data-parallel curvature (issue 18): `curv bench` (gradient,
# GGN and Hessian products, KFAC builds) alone and under `mpiexec -n 2` and `-n 4` on a
# 64-256-256-10 tanh MLP (P = 85,002) with cross-entropy, float32, one BLAS thread per
# rank. Strong: N = 8192 points whatever the ranks; weak: N = 4096 points per rank. Prints
# a Markdown table (median of --repeat 5 per quantity, on rank 0, all-reduce included) for
# Benchmarks/README.md. With 2 cores here, 4 ranks are oversubscribed.
#
#   bash Benchmarks/mpi-scaling.sh
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product curv >/dev/null
curv="$PWD/.build/release/curv"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

python3 - "$work" <<'EOF'
import json, random, sys
sys.path.insert(0, "scripts")
from mpi_curv_compare import write_npy
work = sys.argv[1]
layers = [{"type": "linear", "in_features": 64, "out_features": 256, "bias": True}, {"type": "tanh"},
          {"type": "linear", "in_features": 256, "out_features": 256, "bias": True}, {"type": "tanh"},
          {"type": "linear", "in_features": 256, "out_features": 10, "bias": True}]
json.dump({"layers": layers, "loss": {"type": "cross_entropy", "reduction": "mean"}}, open(f"{work}/model.json", "w"))
rng = random.Random(18)
for n in (4096, 8192, 16384):
    write_npy(f"{work}/X{n}.npy", [n, 64], [rng.gauss(0, 1) for _ in range(n * 64)])
    write_npy(f"{work}/y{n}.npy", [n], [rng.randrange(10) for _ in range(n)], "<i8")
EOF

run() {  # ranks, points
  local ranks=$1 n=$2 launcher=()
  if [ "$ranks" -gt 1 ]; then
    launcher=(mpiexec -n "$ranks")
    [ "$ranks" -le "$(nproc)" ] && launcher+=(-bind-to core)
  fi
  "${launcher[@]}" "$curv" bench --model "$work/model.json" --inputs "$work/X$n.npy" --targets "$work/y$n.npy" \
    --batch-size 512 --threads 1 --repeat 5 --json
}

echo "| scaling | ranks | N | N per rank | gradient ms | GGN product ms | Hessian product ms | KFAC type-2 build ms | KFAC mc build ms |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
for mode in strong weak; do
  for ranks in 1 2 4; do
    n=$([ "$mode" = strong ] && echo 8192 || echo $((4096 * ranks)))
    run "$ranks" "$n" | python3 -c "
import json, sys
r = json.load(sys.stdin)
print('| $mode | $ranks | %d | %d | %.1f | %.1f | %.1f | %.1f | %.1f |' % (r['N'], r['N'] // $ranks, r['gradient_ms'],
      r['ggn_matvec_ms'], r['hessian_matvec_ms'], r['kfac_type-2_build_ms'], r['kfac_mc_build_ms']))"
  done
done
