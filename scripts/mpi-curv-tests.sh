#!/usr/bin/env bash
# curv under mpiexec (issue 18): `mpiexec -n K curv <subcommand> …` must give the
# single-process result (float64, within 1e-11 relative) for trace, eigs, dense (exact
# operators, KFAC and EKFAC), diag (exact, closed-form KFAC, Hutchinson, XDiag; Sequential
# and graph models), apply, solve (KFAC's inverse included), spectrum and laplace (every
# structure, --json and --predict compared), on data sets of 13, 11 and 7 points (shards of
# uneven sizes for 2 and 3 ranks, several batches per shard); bench must run and report
# its ranks; and faults — bad data in the last rank's shard (a NaN input for dense and
# laplace, a class index out of range), a rank killed —
# must end every rank within 10 seconds with a non-zero status, the one-line error of the
# rank that saw it, and no output file. Called by scripts/mpi-tests.sh; alone it builds
# what it runs.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
swift build -c release --product curv
curv="$PWD/.build/release/curv"
fixtures="$PWD/Tests/CurvatureTests/Fixtures/Curvature"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 scripts/mpi_curv_compare.py data "$work"
failures=0

fail() {
  echo "FAIL: $1" >&2
  [ -f "$work/log" ] && sed 's/^/    /' "$work/log" >&2
  failures=$((failures + 1))
}

model() {  # the curv arguments of a fixture network on the generated data
  local name=$1 data=$2
  echo "--model $fixtures/$name/model.json --weights $fixtures/$name/weights.safetensors" \
    "--inputs $work/${data}_X.npy --targets $work/${data}_y.npy --dtype float64 --batch-size 3"
}
mlp=$(model mlp_ce_mean mlp)
cnn=$(model cnn_ce_mean cnn)
mse=$(model mlp_mse_sum mse)
graph="--model $PWD/Tests/CurvatureTests/Fixtures/Graph/rmsnorm_elu/model.json"
graph+=" --weights $PWD/Tests/CurvatureTests/Fixtures/Graph/rmsnorm_elu/weights.safetensors"
graph+=" --inputs $work/graph_X.npy --targets $work/graph_y.npy --dtype float64 --batch-size 3"

# name | arguments (OUT stands for the output file, when the subcommand writes one)
cases=(
  "trace-ggn|trace $mlp --operator ggn"
  "trace-hessian|trace $mlp --operator hessian"
  "trace-ef-hutchpp|trace $mlp --operator ef --method hutchpp --matvecs 30 --seed 3"
  "trace-fisher-mc|trace $mlp --operator fisher-mc --mc-samples 2 --seed 5"
  "eigs-hessian|eigs $mlp --operator hessian --k 3"
  "eigs-ggn|eigs $mse --operator ggn --k 2"
  "dense-hessian|dense $mlp --operator hessian --output OUT"
  "dense-ggn|dense $cnn --operator ggn --output OUT"
  "dense-ef|dense $mlp --operator ef --output OUT"
  "dense-fisher-mc|dense $mlp --operator fisher-mc --mc-samples 3 --seed 7 --output OUT"
  "dense-kfac|dense $mlp --operator kfac --output OUT"
  "dense-kfac-mc|dense $mse --operator kfac --fisher-type mc --mc-samples 2 --output OUT"
  "dense-kfac-cnn|dense $cnn --operator kfac --output OUT"
  "dense-ekfac|dense $mlp --operator ekfac --output OUT"
  "dense-ekfac-cnn|dense $cnn --operator ekfac --output OUT"
  "diag-ggn|diag $cnn --operator ggn --output OUT"
  "solve-cg|solve $mlp --operator ggn --damping 0.1 --rhs $work/b.npy --output OUT"
  "solve-kfac-preconditioned|solve $mlp --operator ggn --damping 0.1 --preconditioner kfac --rhs $work/b.npy --output OUT"
  "spectrum|spectrum $mlp --operator ggn --lanczos-steps 12 --repeats 3 --seed 2"
  # KFAC's inverse, its factors decomposed on one rank each and broadcast.
  "solve-kfac-inverse|solve $mlp --operator kfac --damping 0.1 --preconditioner kfac --rhs $work/b.npy --output OUT"
  "solve-kfac-inverse-joint|solve $mlp --operator kfac --joint-bias --damping 0.01 --preconditioner kfac --rhs $work/b.npy --output OUT"
  "apply-ggn|apply $mlp --operator ggn --vectors $work/V.npy --output OUT"
  "apply-ekfac|apply $mlp --operator ekfac --damping 0.1 --vectors $work/V.npy --output OUT"
  "diag-hessian|diag $mlp --operator hessian --output OUT"
  "diag-ef|diag $cnn --operator ef --output OUT"
  "diag-fisher-mc|diag $mlp --operator fisher-mc --mc-samples 2 --seed 1 --output OUT"
  "diag-kfac|diag $mlp --operator kfac --output OUT"
  "diag-ggn-graph|diag $graph --operator ggn --output OUT"
  "diag-ef-graph|diag $graph --operator ef --output OUT"
  "diag-hutchinson|diag $mlp --operator ggn --method hutchinson --matvecs 20 --seed 4 --output OUT"
  "diag-xdiag|diag $mlp --operator hessian --method xdiag --matvecs 20 --seed 4 --output OUT"
  # Every structure of curv laplace (and kron's variants), the --json report compared.
  "laplace-full|laplace $mlp --structure full"
  "laplace-kron-predict|laplace $mlp --structure kron --predict $work/test_X.npy --output OUT"
  "laplace-kron-marglik|laplace $cnn --structure kron --optimize-prior marglik"
  "laplace-kron-damped|laplace $mlp --structure kron --kron-damping"
  "laplace-kron-mc|laplace $mlp --structure kron --fisher-type mc --mc-samples 2 --seed 3"
  "laplace-ekfac|laplace $cnn --structure kron --ekfac"
  "laplace-diag|laplace $cnn --structure diag --predict $work/cnn_X.npy --output OUT"
  "laplace-lowrank|laplace $mlp --structure lowrank --rank 5"
  "laplace-last-layer-kron|laplace $mse --structure last-layer-kron --sigma-noise 0.5"
  "laplace-last-layer-full|laplace $mse --structure last-layer-full --sigma-noise 0.5 --optimize-prior marglik"
)

for entry in "${cases[@]}"; do
  name=${entry%%|*}
  arguments=${entry#*|}
  writes=false
  [[ "$arguments" == *OUT* ]] && writes=true
  # shellcheck disable=SC2086
  if ! "$curv" ${arguments//OUT/$work/$name-1.npy} --json >"$work/$name-1.json" 2>"$work/log"; then
    fail "curv $name (1 process)"
    continue
  fi
  for ranks in 2 3; do
    out="$work/$name-$ranks.npy"
    start=$(date +%s%N)
    # shellcheck disable=SC2086
    if ! timeout 120 mpiexec -n "$ranks" "$curv" ${arguments//OUT/$out} --json >"$work/$name-$ranks.json" 2>"$work/log"; then
      fail "mpiexec -n $ranks curv $name"
      continue
    fi
    elapsed_ms=$((($(date +%s%N) - start) / 1000000))
    lines=$(wc -l <"$work/$name-$ranks.json")
    arrays=()
    $writes && arrays=("$work/$name-1.npy" "$out")
    if [ "$lines" -ne 1 ]; then
      cp "$work/$name-$ranks.json" "$work/log"
      fail "mpiexec -n $ranks curv $name: $lines lines on stdout (only rank 0 prints)"
    elif ! python3 scripts/mpi_curv_compare.py compare "$work/$name-1.json" "$work/$name-$ranks.json" "$ranks" \
        "${arrays[@]}" >"$work/log" 2>&1; then
      fail "mpiexec -n $ranks curv $name differs from 1 process"
    else
      echo "ok: mpiexec -n $ranks curv $name = 1 process (${elapsed_ms} ms)"
    fi
  done
done

# bench: it runs under mpiexec and reports the ranks (its timings are not compared).
# shellcheck disable=SC2086
if "$curv" bench $mlp --repeat 1 --json >"$work/bench-1.json" 2>"$work/log"; then
  for ranks in 2 3; do
    # shellcheck disable=SC2086
    if ! timeout 120 mpiexec -n "$ranks" "$curv" bench $mlp --repeat 1 --json >"$work/bench-$ranks.json" 2>"$work/log"; then
      fail "mpiexec -n $ranks curv bench"
    elif ! python3 scripts/mpi_curv_compare.py bench "$work/bench-1.json" "$work/bench-$ranks.json" "$ranks" >"$work/log" 2>&1; then
      fail "mpiexec -n $ranks curv bench: its report"
    else
      echo "ok: mpiexec -n $ranks curv bench reports \"ranks\": $ranks"
    fi
  done
else
  fail "curv bench (1 process)"
fi

# Faults. kind | arguments | the line the failing rank must print (RANK, K: filled in)
faults=(
  "nan-input|dense ${mlp/mlp_X/nan_X} --operator ggn --output OUT|rank RANK of K: curv dense: error: "
  "bad-class|solve ${mlp/mlp_y/bad_y} --operator ggn --damping 0.1 --rhs $work/b.npy --output OUT|rank RANK of K: curv solve: error: "
  "laplace-nan-input|laplace ${mlp/mlp_X/nan_X} --structure kron --predict $work/test_X.npy --output OUT|rank RANK of K: curv laplace: error: "
)
for ranks in 2 3; do
  last=$((ranks - 1))
  for entry in "${faults[@]}"; do
    IFS='|' read -r kind arguments expected <<<"$entry"
    expected=${expected//RANK/$last}
    expected=${expected//K:/$ranks:}
    out="$work/fault-$kind-$ranks.npy"
    start=$(date +%s%N)
    status=0
    # shellcheck disable=SC2086
    timeout 60 mpiexec -n "$ranks" "$curv" ${arguments//OUT/$out} >"$work/log" 2>&1 || status=$?
    elapsed_ms=$((($(date +%s%N) - start) / 1000000))
    if [ "$status" -eq 0 ]; then
      fail "fault $kind on $ranks ranks: exit status 0"
    elif [ "$status" -eq 124 ] || [ "$elapsed_ms" -gt 10000 ]; then
      fail "fault $kind on $ranks ranks: took ${elapsed_ms} ms (status $status)"
    elif ! grep -qF "$expected" "$work/log"; then
      fail "fault $kind on $ranks ranks: no line \"$expected…\""
    elif [ "$(grep -c ': error: ' "$work/log")" -ne 1 ]; then
      fail "fault $kind on $ranks ranks: not exactly one error line"
    elif compgen -G "$work/*fault-$kind-$ranks*" >/dev/null || compgen -G "$work/.fault-$kind-$ranks*" >/dev/null; then
      fail "fault $kind on $ranks ranks: an output file was left behind"
    else
      echo "ok: fault $kind on $ranks ranks ends every rank in ${elapsed_ms} ms (status $status): $(grep -F "$expected" "$work/log" | cut -c1-140)"
    fi
  done

  # A rank killed in the middle of a run (rank 1, by SIGKILL, after one second).
  out="$work/killed-$ranks.npy"
  start=$(date +%s%N)
  # shellcheck disable=SC2086
  timeout 60 mpiexec -n "$ranks" "$curv" trace $mlp --operator hessian --method hutchinson --matvecs 1000000 \
    >"$work/log" 2>&1 &
  launcher=$!
  sleep 1
  victim=""
  for pid in $(pgrep -f "$curv trace" || true); do
    if tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qx "PMI_RANK=1"; then victim=$pid; fi
  done
  status=0
  if [ -n "$victim" ]; then kill -KILL "$victim"; fi
  wait "$launcher" || status=$?
  elapsed_ms=$((($(date +%s%N) - start) / 1000000))
  if [ -z "$victim" ]; then
    fail "killed rank on $ranks ranks: no rank 1 found to kill"
  elif [ "$status" -eq 0 ] || [ "$status" -eq 124 ] || [ "$elapsed_ms" -gt 11000 ]; then
    fail "killed rank on $ranks ranks: status $status after ${elapsed_ms} ms"
  elif pgrep -f "$curv trace" >/dev/null; then
    fail "killed rank on $ranks ranks: a rank is still running after mpiexec returned"
  else
    echo "ok: rank 1 of $ranks killed: every rank ends, $((elapsed_ms - 1000)) ms after the kill (status $status)"
  fi
done

if [ "$failures" -ne 0 ]; then
  echo "$failures curv MPI test(s) failed" >&2
  exit 1
fi
echo "curv MPI tests passed"
