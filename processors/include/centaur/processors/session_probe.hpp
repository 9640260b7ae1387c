#pragma once
// Metrics of executions (turns) run by the session processor: upstream's `centaur_session_*` series plus turn
// duration, running turns and owned threads. Owns its prometheus-cpp families.

#include <centaur/core/label_cache.hpp>
#include <centaur/schemas/envelope.hpp>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <string>
#include <string_view>

namespace centaur::processors {

/// Made by the app from its registry, passed to the processor through ProcessorOptions::session_probe; outlives
/// it. The processor calls it from its io_context thread (any thread is safe: each label set is resolved once into
/// a LabelCache, lock-free after that); metrics are atomic, so tests and /metrics read any time.
/// Labels: `harness` is a known harness name or "other"; `status` completed | failed | cancelled;
/// `failure_class` the terminal event's `reason` (orphaned, sandbox_create_failed, sandbox_io, sandbox_limit,
/// harness, max_duration_exceeded, drained) or "other".
class SessionProbe {
public:
    explicit SessionProbe(prometheus::Registry& registry);

    prometheus::Family<prometheus::Counter>& executions;           ///< centaur_session_executions_total
    prometheus::Histogram& execution_duration;                     ///< centaur_session_execution_duration_seconds
    prometheus::Family<prometheus::Histogram>& first_token_latency;  ///< centaur_session_first_token_latency_seconds
    prometheus::Family<prometheus::Counter>& failures;             ///< centaur_session_failures_total
    prometheus::Family<prometheus::Histogram>& turn_duration;      ///< centaur_session_turn_duration_seconds
    prometheus::Gauge& running_executions;                         ///< centaur_session_running_executions
    prometheus::Gauge& threads;                                    ///< centaur_processor_threads

    /// One terminal event: `terminal_type` is session.execution_completed|failed|cancelled, `reason` its
    /// payload's reason (failures only). `started_seconds_ago` < 0 when the execution did not start in this
    /// process (no duration observed); `requested_seconds_ago` < 0 when unknown.
    void execution_ended(std::string_view harness, std::string_view terminal_type, std::string_view reason,
                         double started_seconds_ago, double requested_seconds_ago);
    void first_token(std::string_view harness, double seconds_since_start);

    static std::string harness_label(std::string_view harness);

private:
    LabelCache<prometheus::Counter*, 2> execution_children_;        ///< {harness, status}
    LabelCache<prometheus::Counter*, 2> failure_children_;          ///< {failure_class, harness}
    LabelCache<prometheus::Histogram*, 1> turn_duration_children_;  ///< {harness}
    LabelCache<prometheus::Histogram*, 1> first_token_children_;    ///< {harness}
};

}  // namespace centaur::processors
