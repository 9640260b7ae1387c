#pragma once
// Metrics of Postgres connection pools (libpqxx workers). Owns its prometheus-cpp families.

#include <centaur/pg/pool.hpp>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string>

namespace centaur::pg {

/// Made by the app from its registry; `update` copies a pool's stats into the series labelled `pool` (a fixed
/// name per pool), resolved at a pool's first update and kept in `pools_`. Call `update` from one thread at a time
/// (the /metrics refresh).
class PoolProbe {
public:
    explicit PoolProbe(prometheus::Registry& registry);
    void update(const std::string& pool, const PoolStats& stats);

    prometheus::Family<prometheus::Gauge>& size;      ///< centaur_pg_pool_connections{pool}
    prometheus::Family<prometheus::Gauge>& in_use;    ///< centaur_pg_pool_connections_in_use{pool}
    prometheus::Family<prometheus::Gauge>& queued;    ///< centaur_pg_pool_queued_jobs{pool}
    prometheus::Family<prometheus::Counter>& waits;   ///< centaur_pg_pool_waits_total{pool}

private:
    struct PoolSeries {
        prometheus::Gauge* size;
        prometheus::Gauge* in_use;
        prometheus::Gauge* queued;
        prometheus::Counter* waits;
        std::uint64_t waits_seen;
    };
    std::map<std::string, PoolSeries, std::less<>> pools_;  ///< by pool name; as many as the app has pools
};

}  // namespace centaur::pg
