#!/usr/bin/env bash
# "Fail the n-th operation" loop over the named fault points (core/include/centaur/core/fault_point.hpp): for each
# point and each n, the fault harness runs a small load with no other fault, the projector dies (SIGKILL) at the
# n-th pass of the point, is restarted without it, and every per-thread check must still hold. The point must be
# reached exactly once per run, so a point that stopped being passed fails the loop.
# Usage: fault_points.sh <bin dir> <source dir> <work dir>
set -euo pipefail
bin=$1 src=$2 work=$3
rc=0
for point in mid_projection_txn after_projection_commit_before_store; do
  for n in 1 4; do
    echo "== $point@$n"
    python3 "$src/tests/fault/fault_harness.py" --bin-dir "$bin" --source-dir "$src" --work-dir "$work" \
      --threads 4 --inputs 3 --kills-per-role 0 --postgres-restarts 0 --stalls 0 --client-drops 0 \
      --timeout 90 --seed 5 --fault-point "$point@$n" --fault-role projector | tail -n 4 || rc=1
  done
done
exit $rc
