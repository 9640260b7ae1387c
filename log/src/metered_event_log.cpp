#include <centaur/core/metric_labels.hpp>
#include <centaur/log/metered_event_log.hpp>

#include <algorithm>
#include <chrono>
#include <string>

namespace centaur::log {
namespace {

constexpr double micros_per_second = 1e6;

}  // namespace

void MeteredEventLog::async_append(EventEnvelope event, AppendHandler done) {
    const auto started = std::chrono::steady_clock::now();
    const EventSource source = event.source;
    const std::string type(event_type_label(event.event_type));
    const std::int64_t ingest_stamp = event.source == EventSource::ingest ? event.occurred_at_us : 0;
    inner_.async_append(std::move(event), [this, started, source, type, ingest_stamp,
                                           done = std::move(done)](result<Appended> r) {
        if (!r) {
            probe_.append_failed(source);
        } else if (r->duplicate) {
            probe_.duplicates_dropped.Increment();
        } else {
            const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - started;
            probe_.appended(type, source, elapsed.count());
            if (ingest_stamp > 0) {
                const auto micros = std::max<std::int64_t>(0, now_micros() - ingest_stamp);
                probe_.ingest_to_durable.Observe(static_cast<double>(micros) / micros_per_second);
            }
        }
        if (done) done(std::move(r));
    });
}

}  // namespace centaur::log
