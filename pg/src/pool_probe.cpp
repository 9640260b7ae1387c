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
    auto it = pools_.find(pool);
    if (it == pools_.end()) {
        const std::map<std::string, std::string> labels{{"pool", pool}};
        it = pools_.emplace(pool, PoolSeries{&size.Add(labels), &in_use.Add(labels), &queued.Add(labels),
                                             &waits.Add(labels), 0})
                 .first;
    }
    auto& series = it->second;
    series.size->Set(static_cast<double>(stats.size));
    series.in_use->Set(static_cast<double>(stats.in_use));
    series.queued->Set(static_cast<double>(stats.queued));
    if (stats.waits > series.waits_seen)
        series.waits->Increment(static_cast<double>(stats.waits - series.waits_seen));
    series.waits_seen = stats.waits;
}

}  // namespace centaur::pg
