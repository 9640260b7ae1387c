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
#include <vector>

namespace centaur {

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

/// One consumed record. `event_id` is derived deterministically from the position by the backend.
struct LogRecord {
    LogPosition position;
    EventId event_id;
    EventEnvelope envelope;
};

/// A blocking cursor over the log. Owned and called by exactly one thread, except `wake`, which any thread may
/// call. Records of one partition come in log order.
class LogReader {
public:
    virtual ~LogReader() = default;
    /// Returns up to `max_records` records after the cursor, waiting up to `max_wait` when none are there.
    /// An empty vector means nothing arrived (or `wake` was called). Undecodable records are counted and skipped.
    virtual result<std::vector<LogRecord>> poll(std::chrono::milliseconds max_wait, std::size_t max_records) = 0;
    /// Moves the cursor of `partition` so the next record returned is the first after `after`.
    virtual void seek(std::int32_t partition, LogOffset after) = 0;
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
    /// the completion executor given to the backend, once the event is durable (or the append failed with
    /// errc::log_unavailable). Never throws.
    virtual void async_append(EventEnvelope event, AppendHandler done) = 0;
    /// Number of partitions; a thread key lives in `partition_for_key(key, partitions())`.
    virtual std::int32_t partitions() const = 0;
    /// A new reader positioned before the first record of every partition.
    virtual std::unique_ptr<LogReader> open_reader() = 0;
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
