#pragma once
// The EventLog port: an append-only log ordered per thread key, consumed by processors and projectors.

#include <centaur/core/result.hpp>
#include <centaur/schemas/envelope.hpp>
#include <centaur/schemas/ids.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace centaur {

/// Append failures particular to the log, beside errc::log_unavailable. Category "centaur.log".
enum class log_errc {
    possibly_persisted = 1,  ///< the broker may have written the event; the append is not confirmed
};

inline const boost::system::error_category& log_category() noexcept {
    class Category final : public boost::system::error_category {
    public:
        const char* name() const noexcept override { return "centaur.log"; }
        std::string message(int ev) const override {
            return ev == static_cast<int>(log_errc::possibly_persisted) ? "event possibly persisted, not confirmed"
                                                                        : "unknown log error";
        }
    };
    static const Category category;
    return category;
}
inline boost::system::error_code make_error_code(log_errc e) noexcept { return {static_cast<int>(e), log_category()}; }

struct LogPosition {
    std::int32_t partition = 0;
    LogOffset offset;
    auto operator<=>(const LogPosition&) const = default;
};

/// What an append produced. A re-append of an event uuid the log already holds is `duplicate` and, where the
/// backend can tell, carries the original position and id.
struct Appended {
    LogPosition position;
    EventId event_id;
    bool duplicate = false;
};

/// One consumed record. `event_id` is derived deterministically from the position by the backend. Offsets
/// are 1-based in every backend (0 means "before the first record"), so `seek(p, LogOffset(0))` is the start.
struct LogRecord {
    LogPosition position;
    EventId event_id;
    EventEnvelope envelope;
};

using PartitionList = std::vector<std::int32_t>;

/// How a reader joins the log. Callbacks run on the reader's thread, inside `poll`.
struct ReaderOptions {
    /// Consumer group. Members of one group split the partitions between them (each partition has one
    /// member at a time) and share stored offsets; empty = a standalone reader of every partition.
    std::string group;
    /// Partitions just given to this reader. It may `seek` them here; a partition it does not seek starts
    /// after the group's stored offset (or at the beginning when none is stored).
    std::function<void(const PartitionList&)> on_assigned;
    /// Partitions about to be taken away. When it returns the consumer's work on them is finished or
    /// abandoned; records of them not yet returned by `poll` are dropped.
    std::function<void(const PartitionList&)> on_revoked;
    /// The reader has returned every record `partition` held when it was assigned or last sought: the
    /// consumer has caught up with it. Reported once per assignment or seek, after those records.
    std::function<void(std::int32_t)> on_caught_up;
};

/// A blocking cursor over the log. Owned and called by exactly one thread, except `wake`, which any thread may
/// call. Records of one partition come in log order.
class LogReader {
public:
    virtual ~LogReader() = default;
    /// Returns up to `max_records` records after the cursor, waiting up to `max_wait` when none are there.
    /// An empty vector means nothing arrived (or `wake` was called). Records that are not valid envelopes are
    /// counted, logged with their position, set aside (Kafka: a dead-letter topic) and skipped.
    virtual result<std::vector<LogRecord>> poll(std::chrono::milliseconds max_wait, std::size_t max_records) = 0;
    /// Moves the cursor of `partition` so the next record returned is the first after `after`. A partition
    /// this reader is not assigned is ignored.
    virtual void seek(std::int32_t partition, LogOffset after) = 0;
    /// Records the consumer's work up to and including `position` as durable: a member of the same group that
    /// gets the partition later starts after it. Call only after the work is durable.
    virtual void store(LogPosition position) = 0;
    /// Partitions currently assigned to this reader.
    virtual PartitionList assignment() const = 0;
    /// Makes a blocked `poll` return promptly. Thread-safe.
    virtual void wake() = 0;
};

using AppendHandler = std::function<void(result<Appended>)>;

/// Append-only log, ordered per thread key. Thread-safe. Implementations: PostgresEventLog (embedded default),
/// KafkaEventLog, InMemoryEventLog (unit tests).
class EventLog {
public:
    virtual ~EventLog() = default;
    /// Enqueues `event`; appends issued by one thread land in call order for a given thread key. `done` runs on
    /// the completion executor given to the backend, once the event is durable, or with an error:
    /// errc::log_unavailable (not written), log_errc::possibly_persisted (the log may hold it: re-appending the
    /// same event uuid is safe, consumers see one event), errc::shutting_down. Never throws.
    virtual void async_append(EventEnvelope event, AppendHandler done) = 0;
    /// Number of partitions; a thread key lives in `partition_for_key(key, partitions())`.
    virtual std::int32_t partitions() const = 0;
    /// A new reader. Standalone (empty group): every partition, positioned before its first record.
    virtual std::unique_ptr<LogReader> open_reader(ReaderOptions options = {}) = 0;
};

/// Awaitable append: completes once the event is durable. Not a coroutine on purpose (GCC 12 mis-handles
/// by-value coroutine parameters passed as temporaries).
inline boost::asio::awaitable<result<Appended>> append(EventLog& log, EventEnvelope event) {
    return boost::asio::async_initiate<decltype(boost::asio::use_awaitable), void(result<Appended>)>(
        [&log](auto handler, EventEnvelope e) mutable {
            auto ex = boost::asio::prefer(boost::asio::get_associated_executor(handler),
                                          boost::asio::execution::outstanding_work.tracked);
            auto shared = std::make_shared<decltype(handler)>(std::move(handler));
            log.async_append(std::move(e), [shared, ex](result<Appended> r) {
                boost::asio::dispatch(ex, [shared, r = std::move(r)]() mutable { std::move(*shared)(std::move(r)); });
            });
        },
        boost::asio::use_awaitable, std::move(event));
}

}  // namespace centaur

template <>
struct boost::system::is_error_code_enum<centaur::log_errc> : std::true_type {};
