#pragma once
// Metrics of the events stream (`GET /api/session/{thread_key}/events`) and its live fan-out. Owns its
// prometheus-cpp families.

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <centaur/core/label_cache.hpp>

namespace centaur::projections {

/// Thread-safe: called from the server's io threads at once (prometheus-cpp metrics are atomic; the {reason}
/// series are resolved once into LabelCaches). Made by the app from its registry and passed to the events route
/// by pointer; outlives the server. Tests read the metrics directly.
class StreamProbe {
public:
    explicit StreamProbe(prometheus::Registry& registry);

    prometheus::Gauge& clients;              ///< centaur_sse_clients: attached streams
    prometheus::Gauge& live_feeds;           ///< centaur_sse_live_feeds: threads with a shared live feed
    prometheus::Counter& events_sent;        ///< centaur_sse_events_sent_total: event frames written
    prometheus::Counter& slow_disconnects;   ///< centaur_sse_slow_client_disconnects_total: clients cut off
    prometheus::Family<prometheus::Counter>& stream_errors;  ///< centaur_sse_stream_errors_total{reason}
    prometheus::Histogram& delivery_latency;  ///< centaur_sse_delivery_latency_seconds: appended -> written (live)
    prometheus::Histogram& replay_first_byte; ///< centaur_sse_replay_first_byte_seconds: request -> first event
    prometheus::Counter& resumes;             ///< centaur_sse_resumes_total: streams opened with Last-Event-ID
    prometheus::Family<prometheus::Counter>& resume_failures;  ///< centaur_sse_resume_failures_total{reason}

    /// Counts one `session.stream_error` (or cut-off) with `reason`: slow_client, gap, store_unavailable.
    void stream_error(const char* reason);
    /// Counts one resume refused: foreign_cursor (the id is another thread's), store_unavailable.
    void resume_failed(const char* reason);

private:
    LabelCache<prometheus::Counter*, 1> stream_error_children_;    ///< {reason}
    LabelCache<prometheus::Counter*, 1> resume_failure_children_;  ///< {reason}
};

}  // namespace centaur::projections
