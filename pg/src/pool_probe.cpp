#include <centaur/pg/pool_probe.hpp>

namespace centaur::pg {

PoolProbe::PoolProbe(prometheus::Registry& registry)
    : size(prometheus::BuildGauge()
               .Name("centaur_pg_pool_connections")
               .Help("Connections (worker threads) of a Postgres pool")
               .Register(registry)),
      in_use(prometheus::BuildGauge()
                 .Name("centaur_pg_pool_connections_in_use")
                 .Help("Connections of a Postgres pool running a query")
                 .Register(registry)),
      queued(prometheus::BuildGauge()
                 .Name("centaur_pg_pool_queued_jobs")
                 .Help("Queries waiting for a free connection of a Postgres pool")
                 .Register(registry)),
      waits(prometheus::BuildCounter()
                .Name("centaur_pg_pool_waits_total")
                .Help("Queries that found every connection of a Postgres pool busy and waited")
                .Register(registry)) {}

void PoolProbe::update(const std::string& pool, const PoolStats& stats) {
    const std::map<std::string, std::string> labels{{"pool", pool}};
    size.Add(labels).Set(static_cast<double>(stats.size));
    in_use.Add(labels).Set(static_cast<double>(stats.in_use));
    queued.Add(labels).Set(static_cast<double>(stats.queued));
    auto& seen = waits_seen_[pool];
    auto& counter = waits.Add(labels);
    if (stats.waits > seen) counter.Increment(static_cast<double>(stats.waits - seen));
    seen = stats.waits;
}

}  // namespace centaur::pg
