#include <centaur/core/metric_labels.hpp>
#include <centaur/log/log_probe.hpp>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <atomic>
#include <string>

namespace centaur::log {
namespace {

std::atomic<std::uint64_t> dead_letter_count{0};

constexpr double micros_per_second = 1e6;

const prometheus::Histogram::BucketBoundaries& append_buckets() {
    static const prometheus::Histogram::BucketBoundaries buckets{.0005, .001, .0025, .005, .01, .025, .05,
                                                                 .1,    .25,  .5,    1,    2.5,  5,   10};
    return buckets;
}

}  // namespace

std::uint64_t dead_lettered_records() { return dead_letter_count.load(std::memory_order_relaxed); }
void count_dead_lettered_record() { dead_letter_count.fetch_add(1, std::memory_order_relaxed); }

LogProbe::LogProbe(prometheus::Registry& registry)
    : events_appended(prometheus::BuildCounter()
                          .Name("centaur_log_events_appended_total")
                          .Help("Events made durable on the event log, by event type and the role that appended them")
                          .Register(registry)),
      append_seconds(prometheus::BuildHistogram()
                         .Name("centaur_log_append_duration_seconds")
                         .Help("Time from an append call to the event being durable on the log")
                         .Register(registry)),
      append_failures(prometheus::BuildCounter()
                          .Name("centaur_log_append_failures_total")
                          .Help("Appends that failed (log unavailable, possibly persisted, shutting down)")
                          .Register(registry)),
      ingest_to_durable(prometheus::BuildHistogram()
                            .Name("centaur_ingest_request_to_durable_seconds")
                            .Help("Time from an ingest event being stamped while its request is handled to it being "
                                  "durable on the log")
                            .Register(registry)
                            .Add({}, prometheus::Histogram::BucketBoundaries{.0005, .001, .0025, .005, .01, .025, .05,
                                                                             .1, .25, .5, 1, 2.5, 5, 10})),
      duplicates_dropped(prometheus::BuildCounter()
                             .Name("centaur_log_duplicate_appends_total")
                             .Help("Re-appends of an event uuid the log already held (idempotent; one event)")
                             .Register(registry)
                             .Add({})),
      dead_lettered(prometheus::BuildCounter()
                        .Name("centaur_log_dead_lettered_records_total")
                        .Help("Log records that were not envelopes, set aside by this process's readers")
                        .Register(registry)
                        .Add({})),
      kafka_broker_rtt(prometheus::BuildGauge()
                           .Name("centaur_kafka_broker_rtt_seconds")
                           .Help("Producer round-trip time to each broker (librdkafka statistics window)")
                           .Register(registry)),
      kafka_broker_int_latency(prometheus::BuildGauge()
                                   .Name("centaur_kafka_broker_internal_latency_seconds")
                                   .Help("Producer internal queue latency per broker (librdkafka statistics window)")
                                   .Register(registry)),
      kafka_broker_outbuf(prometheus::BuildGauge()
                              .Name("centaur_kafka_broker_outbuf_requests")
                              .Help("Producer requests waiting to be sent to each broker")
                              .Register(registry)),
      kafka_producer_queue(prometheus::BuildGauge()
                               .Name("centaur_kafka_producer_queue_messages")
                               .Help("Messages in the producer's local queue")
                               .Register(registry)
                               .Add({})),
      consumer_lag(prometheus::BuildGauge()
                       .Name("centaur_log_consumer_lag_records")
                       .Help("Records of a partition this process's consumer group member has not read yet (Kafka)")
                       .Register(registry)) {}

void LogProbe::appended(std::string_view event_type, EventSource source, double seconds) {
    const std::string_view src = source_label(source);
    const auto make_appended = [&] {
        return &events_appended.Add({{"event_type", std::string(event_type)}, {"source", std::string(src)}});
    };
    appended_children_.get({event_type, src}, make_appended)->Increment();
    append_seconds_children_
        .get({src}, [&] { return &append_seconds.Add({{"source", std::string(src)}}, append_buckets()); })
        ->Observe(seconds);
}

void LogProbe::append_failed(EventSource source) {
    const std::string_view src = source_label(source);
    append_failures_children_.get({src}, [&] { return &append_failures.Add({{"source", std::string(src)}}); })
        ->Increment();
}

void LogProbe::refresh_dead_letters() {
    const auto now = dead_lettered_records();
    if (now > dead_lettered_seen_) dead_lettered.Increment(static_cast<double>(now - dead_lettered_seen_));
    dead_lettered_seen_ = now;
}

void LogProbe::update_consumer_lag(const std::vector<ConsumerLag>& lag) {
    std::map<std::pair<std::string, std::int32_t>, prometheus::Gauge*> now;
    for (const auto& l : lag) {
        auto key = std::make_pair(l.group, l.partition);
        auto it = lag_series_.find(key);
        auto* gauge = it != lag_series_.end()
                          ? it->second
                          : &consumer_lag.Add({{"group", l.group}, {"partition", std::to_string(l.partition)}});
        gauge->Set(static_cast<double>(l.records));
        now.emplace(std::move(key), gauge);
    }
    for (const auto& [key, gauge] : lag_series_)
        if (!now.count(key)) consumer_lag.Remove(gauge);
    lag_series_ = std::move(now);
}

void LogProbe::update_from_kafka_statistics(std::string_view json) {
    if (json.empty()) return;
    boost::system::error_code ec;
    const auto stats = boost::json::parse(json, ec);
    if (ec || !stats.is_object()) return;
    const auto number = [](const boost::json::value* v) -> double {
        if (!v) return 0;
        if (v->is_int64()) return static_cast<double>(v->as_int64());
        if (v->is_uint64()) return static_cast<double>(v->as_uint64());
        if (v->is_double()) return v->as_double();
        return 0;
    };
    kafka_producer_queue.Set(number(stats.as_object().if_contains("msg_cnt")));
    const auto* brokers = stats.as_object().if_contains("brokers");
    if (!brokers || !brokers->is_object()) return;
    for (const auto& [name, broker] : brokers->as_object()) {
        if (!broker.is_object()) continue;
        const auto& b = broker.as_object();
        const std::string broker_name(name);
        if (broker_name.rfind("GroupCoordinator", 0) == 0) continue;  // a logical alias of a real broker
        const std::pair<const char*, prometheus::Family<prometheus::Gauge>*> windows[] = {
            {"rtt", &kafka_broker_rtt}, {"int_latency", &kafka_broker_int_latency}};
        for (auto [key, family] : windows) {
            const auto* window = b.if_contains(key);
            if (!window || !window->is_object()) continue;
            for (const char* stat : {"avg", "p99"})
                family->Add({{"broker", broker_name}, {"stat", stat}})
                    .Set(number(window->as_object().if_contains(stat)) / micros_per_second);
        }
        kafka_broker_outbuf.Add({{"broker", broker_name}}).Set(number(b.if_contains("outbuf_cnt")));
    }
}

}  // namespace centaur::log
