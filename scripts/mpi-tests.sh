#!/usr/bin/env bash
# The MPI tests: CurvatureMPICheck alone (no MPI calls), then under `mpiexec -n 2` and `-n 3`
# on localhost (collectives over uneven shards, determinism, broadcast), then the fault
# cases: the last rank throws, exits (with 3 and with 0) before the others' all-reduce,
# crashes, or is killed; every case must end every rank with a non-zero status within
# 10 seconds (a hang is killed after 60 and fails); then curv under mpiexec
# (scripts/mpi-curv-tests.sh). Called by scripts/test.sh after its
# release build; alone it builds what it runs.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
swift build -c release --product CurvatureMPICheck
check=".build/release/CurvatureMPICheck"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
failures=0

fail() {
  echo "FAIL: $1" >&2
  sed 's/^/    /' "$log" >&2
  failures=$((failures + 1))
}

# Alone: the single-process communicator.
if "$check" check >"$log" 2>&1 && grep -q "SingleProcessCommunicator" "$log"; then
  echo "ok: CurvatureMPICheck check, 1 process without mpiexec"
else
  fail "CurvatureMPICheck check without mpiexec"
fi

for ranks in 2 3; do
  if timeout 300 mpiexec -n "$ranks" "$check" check >"$log" 2>&1 &&
     grep -q "ranks: $ranks, communicator: MPICommunicator" "$log"; then
    echo "ok: mpiexec -n $ranks CurvatureMPICheck check ($(grep -c '^ok:' "$log") checks)"
  else
    fail "mpiexec -n $ranks CurvatureMPICheck check"
  fi

  # kind, and a line the failing rank must print (empty: the launcher reports the signal).
  last=$((ranks - 1))
  for fault in \
      "throw|rank $last of $ranks: error: invalid data: data point 7 of shard $last is NaN" \
      "exit|rank $last of $ranks exited before DataParallel.finish(); stopping every rank" \
      "exit0|rank $last of $ranks exited before DataParallel.finish(); stopping every rank" \
      "crash|Fatal error: deliberate crash on rank $last" \
      "kill|"; do
    kind=${fault%%|*}
    expected=${fault#*|}
    start=$(date +%s%N)
    status=0
    timeout 60 mpiexec -n "$ranks" "$check" fault "$kind" >"$log" 2>&1 || status=$?
    elapsed_ms=$((($(date +%s%N) - start) / 1000000))
    if [ "$status" -eq 0 ]; then
      fail "fault $kind on $ranks ranks: exit status 0"
    elif [ "$status" -eq 124 ] || [ "$elapsed_ms" -gt 10000 ]; then
      fail "fault $kind on $ranks ranks: took ${elapsed_ms} ms (status $status)"
    elif [ -n "$expected" ] && ! grep -qF "$expected" "$log"; then
      fail "fault $kind on $ranks ranks: no line \"$expected\""
    elif grep -q "finished an all-reduce" "$log"; then
      fail "fault $kind on $ranks ranks: a rank went past the failed one"
    elif pgrep -f "$check fault" >/dev/null; then
      fail "fault $kind on $ranks ranks: a rank is still running after mpiexec returned"
    else
      echo "ok: fault $kind on $ranks ranks ends every rank in ${elapsed_ms} ms (status $status)"
    fi
  done
done

# curv under mpiexec: the single-process results, and its faults (issue 18).
bash scripts/mpi-curv-tests.sh || failures=$((failures + 1))

if [ "$failures" -ne 0 ]; then
  echo "$failures MPI test(s) failed" >&2
  exit 1
fi
echo "MPI tests passed"
