#!/usr/bin/env bash
# Checks scripts/ensure-kafka and scripts/stop-kafka on a broker of its own (a private dir under $1, the
# build tree), so the broker the other tests share is never restarted: the broker answers, a second call
# reuses it, kcat produces and consumes a keyed record, --restart keeps the record and the address,
# stop-kafka stops it, and CENTAUR_KAFKA_BROKERS short-circuits everything. Every wait is bounded.
set -euo pipefail

source_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
work_root=${1:?usage: ensure_kafka_test.sh <scratch dir>}
mkdir -p "$work_root"
dir=$(mktemp -d "$work_root/ensure-kafka-test.XXXXXX")
export CENTAUR_KAFKA_DIR=$dir
unset CENTAUR_KAFKA_BROKERS
ensure=$source_dir/scripts/ensure-kafka
stop=$source_dir/scripts/stop-kafka

cleanup() {
  "$stop" >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
# A process runs when it exists and is not a zombie waiting for its (re)parent to reap it.
running() { local st; st=$(ps -o stat= -p "$1" 2>/dev/null) && [[ $st != Z* ]]; }
step() { echo "--- $*" >&2; }

step "first call starts a broker and prints its address"
addr=$(timeout 240 "$ensure")
[[ $addr =~ ^127\.0\.0\.1:[0-9]+$ ]] || fail "unexpected address '$addr'"
port=${addr#127.0.0.1:}
[ "$(cat "$dir/port")" = "$port" ] || fail "port file does not match the printed address"
pid=$(cat "$dir/pid")
running "$pid" || fail "pid file names no live process"
timeout 20 kcat -b "$addr" -L -m 5 | grep -q "broker 1 at $addr" || fail "kcat -L does not list the broker"

step "second call reuses the running broker"
start=$SECONDS
again=$(timeout 30 "$ensure" 2>/dev/null)
[ "$again" = "$addr" ] || fail "second call printed '$again', expected '$addr'"
[ "$(cat "$dir/pid")" = "$pid" ] || fail "second call started another broker"
[ $((SECONDS - start)) -le 5 ] || fail "reusing the broker took $((SECONDS - start)) s"
[ "$(timeout 30 "$ensure" --status)" = "$addr" ] || fail "--status does not report the running broker"

step "kcat produces and consumes a keyed record"
topic=ensure-kafka-test
classpath=$(timeout 60 "$ensure" --classpath)
timeout 60 java -Xmx128m -cp "$classpath" org.apache.kafka.tools.TopicCommand --bootstrap-server "$addr" \
  --create --topic "$topic" --partitions 2 --replication-factor 1 >/dev/null
echo "first record" | timeout 30 kcat -b "$addr" -P -t "$topic" -k thread-1 \
  -X enable.idempotence=true -X partitioner=murmur2_random
consume() { timeout 30 kcat -b "$addr" -C -t "$topic" -e -q -f '%k=%s\n' -m 10 | sort; }
got=$(consume)
[ "$got" = "thread-1=first record" ] || fail "consumed '$got'"

step "--restart keeps the address and the record"
timeout 180 "$ensure" --restart >/dev/null
[ "$(cat "$dir/pid")" != "$pid" ] || fail "--restart did not start a new broker process"
running "$pid" && fail "--restart left the old broker $pid running"
[ "$(timeout 30 "$ensure" 2>/dev/null)" = "$addr" ] || fail "address changed across --restart"
got=$(consume)
[ "$got" = "thread-1=first record" ] || fail "after restart consumed '$got'"
echo "second record" | timeout 30 kcat -b "$addr" -P -t "$topic" -k thread-1 \
  -X enable.idempotence=true -X partitioner=murmur2_random
got=$(timeout 30 kcat -b "$addr" -C -t "$topic" -e -q -f '%k=%s\n' -m 10)
[ "$got" = $'thread-1=first record\nthread-1=second record' ] || fail "after restart consumed '$got' (order?)"

step "stop-kafka stops it; --status then reports nothing"
new_pid=$(cat "$dir/pid")
timeout 60 "$stop"
running "$new_pid" && fail "stop-kafka left broker $new_pid running"
if timeout 30 "$ensure" --status >/dev/null; then fail "--status reports a stopped broker"; fi
timeout 10 "$stop" || fail "stop-kafka with no broker running must succeed"

step "CENTAUR_KAFKA_BROKERS is printed unchanged and never restarted"
[ "$(CENTAUR_KAFKA_BROKERS=broker.example:9092 "$ensure")" = "broker.example:9092" ] ||
  fail "CENTAUR_KAFKA_BROKERS not printed unchanged"
set +e
CENTAUR_KAFKA_BROKERS=broker.example:9092 "$ensure" --restart 2>/dev/null
rc=$?
set -e
[ $rc -eq 2 ] || fail "--restart with CENTAUR_KAFKA_BROKERS exited $rc, expected 2"
[ ! -f "$dir/pid" ] || fail "CENTAUR_KAFKA_BROKERS started a broker"

echo "ensure_kafka_test: all checks passed" >&2
