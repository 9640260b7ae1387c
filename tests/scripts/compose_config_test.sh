#!/usr/bin/env bash
# Validates compose/docker-compose.yml with the compose CLI's own parser (`docker compose config`, else
# Debian's v1 `docker-compose config`; neither needs a Docker engine). Without a compose CLI it exits 77,
# which ctest reports as skipped (SKIP_RETURN_CODE), never as passed.
# Checks: the file renders; it refuses to render without CENTAUR_APIRS_ADMIN_API_KEY; it has Redpanda,
# Postgres 16 and one service per server role, each role built from the repository's Dockerfile, pointed at
# Redpanda, health-checked on /readyz; data sits in named volumes; Prometheus scrapes every role and Grafana gets
# the provisioned datasource and dashboard (the dashboard JSON parses; `promtool check config` when installed).
set -euo pipefail

source_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
file=$source_dir/compose/docker-compose.yml

if docker compose version >/dev/null 2>&1; then
  compose=(docker compose)
elif docker-compose version >/dev/null 2>&1; then
  compose=(docker-compose)
else
  echo "SKIPPED: no compose CLI (neither 'docker compose' nor 'docker-compose'); scripts/bootstrap installs docker-compose"
  exit 77
fi
echo "using: $("${compose[@]}" version 2>/dev/null | head -n 1)"

fail() { echo "FAIL: $*" >&2; exit 1; }
# run_compose <admin key or ""> <compose args...>: the file's variables come from the key alone.
run_compose() {
  local key=$1
  shift
  env -u CENTAUR_APIRS_ADMIN_API_KEY -u POSTGRES_PASSWORD -u CENTAUR_API_PORT -u LOG_LEVEL -u LOG_FORMAT \
    -u CENTAUR_REDPANDA_IMAGE -u CENTAUR_PROMETHEUS_IMAGE -u CENTAUR_GRAFANA_IMAGE -u CENTAUR_PROMETHEUS_PORT \
    -u CENTAUR_GRAFANA_PORT -u GRAFANA_ADMIN_PASSWORD ${key:+CENTAUR_APIRS_ADMIN_API_KEY=$key} \
    "${compose[@]}" -f "$file" "$@"
}

[ -f "$source_dir/Dockerfile" ] || fail "the Dockerfile the services build from is missing"

# Refuses without an admin key (the API binds 0.0.0.0 in its container).
if out=$(run_compose "" config 2>&1); then
  fail "compose rendered without CENTAUR_APIRS_ADMIN_API_KEY"
fi
grep -q CENTAUR_APIRS_ADMIN_API_KEY <<<"$out" || fail "the refusal does not name CENTAUR_APIRS_ADMIN_API_KEY: $out"

key=compose-test-key
rendered=$(run_compose $key config) ||
  fail "compose config failed"
services=$(run_compose $key config --services |
  sort | tr '\n' ' ')
[ "$services" = "api grafana postgres processor projector prometheus redpanda " ] || fail "services are '$services'"
volumes=$(run_compose $key config --volumes |
  sort | tr '\n' ' ')
[[ $volumes == *postgres-data* && $volumes == *redpanda-data* && $volumes == *prometheus-data* &&
   $volumes == *grafana-data* ]] || fail "volumes are '$volumes'"

# Structural checks read the rendered (normalised, two-space indented) YAML one service block at a time.
service_block() { awk -v s="  $1:" '$0 == s {on=1; next} on && /^  [^ ]/ {exit} on' <<<"$rendered"; }
grep -q 'image: postgres:16' <<<"$(service_block postgres)" || fail "postgres is not Postgres 16"
grep -q 'redpanda' <<<"$(service_block redpanda | grep 'image:')" || fail "redpanda service runs no Redpanda image"
grep -q 'test:' <<<"$(service_block redpanda)" || fail "redpanda has no health check"
grep -q 'test:' <<<"$(service_block postgres)" || fail "postgres has no health check"
for role in api processor projector; do
  block=$(service_block "$role")
  roles=$role
  [ "$role" = api ] && roles=ingest,api  # the published process serves writes and reads
  grep -q "CENTAUR_ROLES: $roles\$" <<<"$block" || fail "$role: CENTAUR_ROLES is not '$roles'"
  grep -q 'CENTAUR_KAFKA_BROKERS: redpanda:9092' <<<"$block" || fail "$role: not pointed at Redpanda"
  grep -q "CENTAUR_APIRS_ADMIN_API_KEY: $key" <<<"$block" || fail "$role: admin key not passed"
  grep -q 'dockerfile: Dockerfile' <<<"$block" || fail "$role: not built from the repository's Dockerfile"
  grep -q "context: $source_dir\$" <<<"$block" || fail "$role: build context is not the repository root"
  grep -q '/readyz' <<<"$block" || fail "$role: no /readyz health check"
  grep -q 'condition: service_healthy' <<<"$block" || fail "$role: does not wait for its dependencies' health"
done
grep -q 'RUN_MIGRATIONS: "true"' <<<"$(service_block api)" || fail "api does not run the migrations"

# Prometheus scrapes /metrics of every role (all replicas through Docker's DNS); Grafana gets both provisioning
# folders and the dashboards, mounted from compose/.
prometheus_config=$source_dir/compose/prometheus/prometheus.yml
grep -q "prometheus.yml:/etc/prometheus/prometheus.yml" <<<"$(service_block prometheus)" ||
  fail "prometheus does not mount compose/prometheus/prometheus.yml"
grep -q 'names: \[api, processor, projector\]' "$prometheus_config" || fail "prometheus does not scrape every role"
grep -q 'metrics_path: /metrics' "$prometheus_config" || fail "prometheus scrapes no /metrics"
grafana=$(service_block grafana)
grep -q '/etc/grafana/provisioning' <<<"$grafana" || fail "grafana has no provisioning mount"
grep -q '/etc/grafana/dashboards' <<<"$grafana" || fail "grafana has no dashboards mount"
grep -q 'url: http://prometheus:9090' "$source_dir/compose/grafana/provisioning/datasources/prometheus.yml" ||
  fail "grafana's datasource is not the compose Prometheus"
grep -q 'path: /etc/grafana/dashboards' "$source_dir/compose/grafana/provisioning/dashboards/centaur.yml" ||
  fail "grafana's dashboard provider does not read the mounted dashboards"
python3 - "$source_dir/compose/grafana/dashboards/centaur.json" <<'PY' || fail "dashboard JSON is invalid"
import json, sys
d = json.load(open(sys.argv[1]))
targets = [t for p in d["panels"] for t in p.get("targets", [])]
assert targets and all(t["datasource"]["uid"] == "centaur-prometheus" and t["expr"] for t in targets), "bad targets"
PY
if command -v promtool >/dev/null 2>&1; then
  promtool check config "$prometheus_config" >/dev/null || fail "promtool check config rejects $prometheus_config"
  echo "promtool check config: ok"
fi

echo "compose_config_test: $file is valid (${services% })"
