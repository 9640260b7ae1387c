#pragma once
// Reads of the session projections: the SessionStore port ingest uses, and the paged event reads behind
// replay and the SSE stream.

#include <centaur/core/session_store.hpp>

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace centaur::pg {
class Pool;
}

namespace centaur::projections {

class ProjectionHub;

/// One row of `session_events` as the stream sends it.
struct StoredEvent {
    EventId event_id;
    EventSeq seq;
    std::string event_type;
    std::string data;  ///< SSE data: raw harness line for output lines, compact JSON otherwise
    std::optional<std::string> execution_id;
    std::int64_t created_us = 0;  ///< created_at (the event's occurred_at), microseconds since the epoch
};

/// A point in one thread's event sequence: the event with `seq` has id `event_id` ({0, 0} = before the first).
struct ThreadPoint {
    EventSeq seq{0};
    EventId event_id{0};
};

/// Where a stream cursor (an event id) falls in a thread.
struct CursorPosition {
    std::optional<std::string> owner;  ///< thread of the event with the cursor's id; nullopt when no such event
    ThreadPoint at_or_before;          ///< the thread's last event with id <= cursor ({0, 0} when none)
};

/// Postgres-backed reads. Thread: callers' io_context; queries run on the pool's workers. Holds references to
/// the pool and hub, which outlive it.
class SessionQueries final : public SessionStore {
public:
    SessionQueries(pg::Pool& pool, ProjectionHub& hub);

    boost::asio::awaitable<result<std::optional<SessionView>>> get_session(const ThreadKey& key) override;
    boost::asio::awaitable<result<std::optional<ExecutionView>>> get_execution(
        const ThreadKey& key, const std::string& execution_id) override;
    boost::asio::awaitable<result<std::optional<ExecutionView>>> active_execution(const ThreadKey& key) override;
    boost::asio::awaitable<result<bool>> wait_projected(const ThreadKey& key, const EventUuid& uuid, EventId id,
                                                        std::chrono::milliseconds timeout) override;

    /// Events of `key` with id > `after` (and of `execution_id` when given), in order, at most `limit`.
    boost::asio::awaitable<result<std::vector<StoredEvent>>> read_after(const ThreadKey& key, EventId after,
                                                                        std::optional<std::string> execution_id,
                                                                        std::size_t limit);
    /// The owner of event `cursor` and the last event of `key` at or before it, read in one statement.
    boost::asio::awaitable<result<CursorPosition>> cursor_position(const ThreadKey& key, EventId cursor);
    /// The last projected event of `key` ({0, 0} when it has none yet).
    boost::asio::awaitable<result<ThreadPoint>> thread_head(const ThreadKey& key);
    /// The last projected event id of each of `keys` that has events, in one statement.
    boost::asio::awaitable<result<std::vector<std::pair<std::string, EventId>>>> thread_heads(
        std::vector<std::string> keys);

private:
    pg::Pool& pool_;
    ProjectionHub& hub_;
};

}  // namespace centaur::projections
