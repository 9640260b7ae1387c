#!/usr/bin/env bash
# "Fail the n-th operation" loop over the named fault points (core/include/centaur/core/fault_point.hpp): for each
# point and each n, the fault harness runs a small load with no other fault, the point's role dies (SIGKILL) at the
# n-th pass of the point, is restarted without it, and every per-thread check must still hold (each input exactly
# once, one terminal per turn, seq 1..n, ids increasing, clients equal to the projection). The point must be
# reached exactly once per run, so a point that stopped being passed fails the loop.
# Usage: fault_points.sh <bin dir> <source dir> <work dir> [--kafka]
#   embedded log: the projector, processor, embedded-log and sandbox-runner points; --kafka: the Kafka consumer's
#   point, on a private broker (a longer bound: the broker starts within it, and the restarted member waits for the
#   group to rebalance).
set -euo pipefail
bin=$1 src=$2 work=$3
mode=${4:-}
timeout=90
if [ "$mode" = "--kafka" ]; then
  points="kafka_before_offset_store:projector"
  timeout=240
else
  points="mid_projection_txn:projector after_projection_commit_before_store:projector
          after_append_before_checkpoint:processor mid_log_append_txn:ingest after_log_commit_before_ack:ingest
          runner_after_create_before_reply:runner"
fi
rc=0
for entry in $points; do
  point=${entry%%:*} role=${entry##*:}
  for n in 1 4; do
    echo "== $role: $point@$n"
    python3 "$src/tests/fault/fault_harness.py" --bin-dir "$bin" --source-dir "$src" --work-dir "$work" $mode \
      --threads 4 --inputs 3 --kills-per-role 0 --postgres-restarts 0 --stalls 0 --client-drops 0 \
      --timeout $timeout --seed 5 --fault-point "$point@$n" --fault-role "$role" | tail -n 4 || rc=1
  done
done
exit $rc
