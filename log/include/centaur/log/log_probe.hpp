#pragma once
// Metrics of the event log: appends by event type and source, append latency, duplicates, dead letters, and the
// Kafka client's statistics. Owns its prometheus-cpp families.

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <centaur/core/label_cache.hpp>
#include <centaur/log/consumer_lag.hpp>
#include <centaur/schemas/envelope.hpp>

#include <cstdint>
#include <map>
#include <string_view>
#include <utility>
#include <vector>

namespace centaur::log {

/// Made by the app from its registry, passed by pointer to MeteredEventLog; outlives it. Tests read the metrics
/// directly. Threading: `appended` and `append_failed` from any thread at once (io threads, the Kafka poll
/// thread); each label set is resolved once into a LabelCache, after which a call takes no lock. The
/// `refresh_dead_letters` / `update_*` calls from one thread at a time (the /metrics refresh).
class LogProbe {
public:
    explicit LogProbe(prometheus::Registry& registry);

    prometheus::Family<prometheus::Counter>& events_appended;      ///< centaur_log_events_appended_total{event_type,source}
    prometheus::Family<prometheus::Histogram>& append_seconds;     ///< centaur_log_append_duration_seconds{source}
    prometheus::Family<prometheus::Counter>& append_failures;      ///< centaur_log_append_failures_total{source}
    /// centaur_ingest_request_to_durable_seconds: an ingest event's occurred_at (stamped while its request is
    /// handled) to durable on the log.
    prometheus::Histogram& ingest_to_durable;
    prometheus::Counter& duplicates_dropped;                       ///< centaur_log_duplicate_appends_total
    prometheus::Counter& dead_lettered;                            ///< centaur_log_dead_lettered_records_total
    prometheus::Family<prometheus::Gauge>& kafka_broker_rtt;       ///< centaur_kafka_broker_rtt_seconds{broker,stat}
    prometheus::Family<prometheus::Gauge>& kafka_broker_int_latency;  ///< centaur_kafka_broker_internal_latency_seconds
    prometheus::Family<prometheus::Gauge>& kafka_broker_outbuf;    ///< centaur_kafka_broker_outbuf_requests{broker}
    prometheus::Gauge& kafka_producer_queue;                       ///< centaur_kafka_producer_queue_messages
    prometheus::Family<prometheus::Gauge>& consumer_lag;           ///< centaur_log_consumer_lag_records{group,partition}

    /// One durable append: events_appended{event_type,source} and append_seconds{source}. `event_type` is an
    /// event_type_label() value (bounded).
    void appended(std::string_view event_type, EventSource source, double seconds);
    /// One failed append: append_failures{source}.
    void append_failed(EventSource source);

    /// Brings the dead-letter counter up to `dead_lettered_records()`.
    void refresh_dead_letters();
    /// Sets the Kafka gauges from one librdkafka statistics JSON (`KafkaEventLog::last_statistics()`); an empty
    /// or malformed text changes nothing. Broker names (host:port/id) are bounded by the cluster's size.
    void update_from_kafka_statistics(std::string_view json);
    /// Sets consumer_lag to `lag` (KafkaEventLog::consumer_lag() or PostgresEventLog::consumer_lag()); series of
    /// partitions no longer listed go away.
    void update_consumer_lag(const std::vector<ConsumerLag>& lag);

private:
    LabelCache<prometheus::Counter*, 2> appended_children_;      ///< {event_type, source}
    LabelCache<prometheus::Histogram*, 1> append_seconds_children_;  ///< {source}
    LabelCache<prometheus::Counter*, 1> append_failures_children_;   ///< {source}
    std::uint64_t dead_lettered_seen_ = 0;
    std::map<std::pair<std::string, std::int32_t>, prometheus::Gauge*> lag_series_;
};

/// Records that readers of this process set aside because they were not envelopes (Kafka: moved to the
/// dead-letter topic; embedded: skipped). Process-wide, thread-safe.
std::uint64_t dead_lettered_records();
void count_dead_lettered_record();

}  // namespace centaur::log
