#pragma once
// The embedded event log: a Postgres table (`centaur_log`) used when no Kafka broker is configured.

#include <centaur/core/event_log.hpp>

#include <boost/asio/any_io_executor.hpp>

#include <chrono>
#include <memory>
#include <string>

namespace centaur::log {

struct PostgresLogOptions {
    std::string url;                                ///< libpq URL of the database holding `centaur_log`
    std::int32_t partitions = 8;                    ///< partitions of the key space (consumer splitting)
    std::size_t max_batch = 2000;                   ///< appends grouped into one transaction at most
    std::chrono::milliseconds retry_for{10'000};    ///< keep retrying a failed batch this long, then fail it
};

/// Appends go to one appender thread that groups whatever is queued into one transaction (group commit) and
/// completes each append once that transaction committed: an acknowledged event is durable. A failed batch is
/// retried (appends are idempotent by event uuid) until `retry_for` runs out, then fails with
/// errc::log_unavailable. Positions are gap-free and commit in order (see schemas/sql/0001_event_log.sql), so
/// readers never skip a late commit; `event_id` is the position.
///
/// Lifecycle: construct, `start()`, `stop()` (idempotent; flushes queued appends first). Thread-safe.
/// Append handlers run on the completion executor given at construction.
class PostgresEventLog final : public EventLog {
public:
    PostgresEventLog(PostgresLogOptions options, boost::asio::any_io_executor completions);
    ~PostgresEventLog() override;

    void start();
    void stop();

    void async_append(EventEnvelope event, AppendHandler done) override;
    std::int32_t partitions() const override;
    std::unique_ptr<LogReader> open_reader(ReaderOptions options = {}) override;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace centaur::log
