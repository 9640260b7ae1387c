#pragma once
// The embedded event log: a Postgres table (`centaur_log`) used when no Kafka broker is configured.

#include <centaur/core/event_log.hpp>
#include <centaur/log/consumer_lag.hpp>

#include <boost/asio/any_io_executor.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

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
/// Consumer lag: every group reader of this log records, after each of its reads, how many records of each
/// partition it owns lie after its position (see `consumer_lag`).
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

    /// Lag of every partition this process's group readers own, as of their last reads: the records of the
    /// partition after the reader's position (0 when its last read reached the head). A reader that read a
    /// full batch counts them in that read's statement (an index-only count, at most once a second per reader;
    /// between counts it subtracts what it returned); a partition appears after the first read that owns it and
    /// goes when the reader gives it up or closes. Standalone readers are not listed. Never blocks on I/O: it
    /// copies what the readers wrote (readers write from their poll threads, this reads from any thread).
    std::vector<ConsumerLag> consumer_lag() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace centaur::log
