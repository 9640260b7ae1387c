#pragma once
// The read side of the session projections, as ingest needs it to answer requests (create-or-get, interrupt,
// read-your-writes). Implemented in projections/ over Postgres.

#include <centaur/core/result.hpp>
#include <centaur/schemas/ids.hpp>
#include <centaur/schemas/thread_key.hpp>

#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>

#include <chrono>
#include <optional>
#include <string>

namespace centaur {

/// A session as upstream returns it (`json` holds the flattened Session object).
struct SessionView {
    std::string harness_type;
    std::optional<std::string> persona_id;
    boost::json::object json;
};

struct ExecutionView {
    std::string execution_id;
    std::string status;  ///< queued | running | completed | failed | cancelled
};

/// Thread-safe; every call is a coroutine on the caller's io_context and never blocks it.
class SessionStore {
public:
    virtual ~SessionStore() = default;
    virtual boost::asio::awaitable<result<std::optional<SessionView>>> get_session(const ThreadKey& key) = 0;
    /// The execution `execution_id` of the thread, if projected.
    virtual boost::asio::awaitable<result<std::optional<ExecutionView>>> get_execution(
        const ThreadKey& key, const std::string& execution_id) = 0;
    /// The running execution of the thread, else the oldest queued one, else nullopt.
    virtual boost::asio::awaitable<result<std::optional<ExecutionView>>> active_execution(const ThreadKey& key) = 0;
    /// Waits until the projector has applied the appended event (`uuid`, appended as `id`; a duplicate of an
    /// earlier event counts as applied once the earlier one is). Returns false when `timeout` passes first.
    virtual boost::asio::awaitable<result<bool>> wait_projected(const ThreadKey& key, const EventUuid& uuid, EventId id,
                                                                std::chrono::milliseconds timeout) = 0;
};

}  // namespace centaur
