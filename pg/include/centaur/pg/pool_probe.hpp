#pragma once
// Metrics of Postgres connection pools (libpqxx workers). Owns its prometheus-cpp families.

#include <centaur/pg/pool.hpp>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <map>
#include <string>

namespace centaur::pg {

/// Made by the app from its registry; `update` copies a pool's stats into the series labelled `pool` (a fixed
/// name per pool). Call `update` from one thread at a time (the /metrics refresh).
class PoolProbe {
public:
    explicit PoolProbe(prometheus::Registry& registry);
    void update(const std::string& pool, const PoolStats& stats);

    prometheus::Family<prometheus::Gauge>& size;      ///< centaur_pg_pool_connections{pool}
    prometheus::Family<prometheus::Gauge>& in_use;    ///< centaur_pg_pool_connections_in_use{pool}
    prometheus::Family<prometheus::Gauge>& queued;    ///< centaur_pg_pool_queued_jobs{pool}
    prometheus::Family<prometheus::Counter>& waits;   ///< centaur_pg_pool_waits_total{pool}

private:
    std::map<std::string, std::uint64_t> waits_seen_;
};

}  // namespace centaur::pg
