#pragma once
// An EventLog decorator that records every append in a LogProbe; readers pass straight through.

#include <centaur/core/event_log.hpp>
#include <centaur/log/log_probe.hpp>

namespace centaur::log {

/// Wraps the log the app selected (any backend). Counts a durable append in
/// centaur_log_events_appended_total{event_type,source} and its latency (call to durable) in
/// centaur_log_append_duration_seconds{source}; a duplicate in centaur_log_duplicate_appends_total; a failure
/// in centaur_log_append_failures_total{source}. Thread-safe as the wrapped log; `inner` and `probe` outlive it.
class MeteredEventLog final : public EventLog {
public:
    MeteredEventLog(EventLog& inner, LogProbe& probe) : inner_(inner), probe_(probe) {}

    void async_append(EventEnvelope event, AppendHandler done) override;
    std::int32_t partitions() const override { return inner_.partitions(); }
    std::unique_ptr<LogReader> open_reader(ReaderOptions options = {}) override {
        return inner_.open_reader(std::move(options));
    }

private:
    EventLog& inner_;
    LogProbe& probe_;
};

}  // namespace centaur::log
