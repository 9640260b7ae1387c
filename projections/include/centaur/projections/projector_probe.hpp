#pragma once
// Metrics of the projector: events projected by type and source, append-to-projected latency, duplicates
// dropped and checkpoint age. Owns its prometheus-cpp families.

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <centaur/core/label_cache.hpp>

#include <atomic>
#include <cstdint>
#include <string_view>

namespace centaur::projections {

/// Made by the app from its registry, passed through ProjectorOptions::probe; outlives the projector. The
/// projector thread calls `projected` and `checkpoint_committed`; `refresh` (the /metrics refresh) sets the
/// checkpoint age. Thread-safe: `projected` resolves each {event_type, source} once into a LabelCache (no lock
/// after that).
class ProjectorProbe {
public:
    explicit ProjectorProbe(prometheus::Registry& registry);

    /// centaur_projector_events_projected_total{event_type,source}
    prometheus::Family<prometheus::Counter>& events_projected;
    prometheus::Counter& duplicates_dropped;                    ///< centaur_projector_duplicates_dropped_total
    prometheus::Histogram& projection_latency;                  ///< centaur_projector_projection_latency_seconds
    prometheus::Gauge& checkpoint_age;                          ///< centaur_projector_checkpoint_age_seconds

    /// One event inserted by a committed transaction; `occurred_at_us` is its envelope's (set at append).
    /// `event_type` and `source` are metric_labels.hpp values (bounded).
    void projected(std::string_view event_type, std::string_view source, std::int64_t occurred_at_us,
                   std::int64_t now_us);
    /// A transaction with its checkpoints committed at `now_us`.
    void checkpoint_committed(std::int64_t now_us) { last_commit_us_.store(now_us); }
    /// Sets checkpoint_age to the seconds since the last commit (since construction before the first).
    void refresh(std::int64_t now_us);

private:
    LabelCache<prometheus::Counter*, 2> projected_children_;  ///< {event_type, source}
    std::atomic<std::int64_t> last_commit_us_;
};

}  // namespace centaur::projections
