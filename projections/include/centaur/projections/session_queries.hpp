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
    /// The thread an event id belongs to (nullopt when no such event).
    boost::asio::awaitable<result<std::optional<std::string>>> thread_of(EventId id);

private:
    pg::Pool& pool_;
    ProjectionHub& hub_;
};

}  // namespace centaur::projections
