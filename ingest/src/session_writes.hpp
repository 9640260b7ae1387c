#pragma once
// The session write path shared by every ingest front door (the session API routes, the Slack webhook): how each
// input becomes an event on the log, with the idempotent uuids that make a retried input the same event.
// Pure builders plus one append helper; thread-safe.

#include <centaur/core/event_log.hpp>
#include <centaur/schemas/envelope.hpp>
#include <centaur/schemas/payloads.hpp>

#include <boost/asio/awaitable.hpp>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include <optional>
#include <string>
#include <vector>

namespace centaur::ingest {

/// `session.created`. `first_creation`: the uuid derives from (thread, harness), so concurrent first creations
/// with one harness are one event; otherwise (a harness restart) it is random.
EventEnvelope session_created_event(const ThreadKey& key, SessionCreated payload, bool first_creation);

/// `session.message_appended`; the uuid and `msg_` id derive from (thread, client_message_id) when one is given.
EventEnvelope message_appended_event(const ThreadKey& key, std::optional<std::string> client_message_id,
                                     std::string role, boost::json::array parts, boost::json::object metadata);

/// `session.execution_requested`; the uuid and `exe_` id derive from (thread, idempotency_key) when one is given.
EventEnvelope execution_requested_event(const ThreadKey& key, std::optional<std::string> idempotency_key,
                                        std::vector<std::string> input_lines, std::uint64_t idle_timeout_ms,
                                        std::uint64_t max_duration_ms, boost::json::object metadata);

/// `session.interrupt_requested` of `execution_id`; `uuid` makes it idempotent (random when absent).
EventEnvelope interrupt_requested_event(const ThreadKey& key, std::string execution_id, std::string reason,
                                        std::optional<EventUuid> uuid = std::nullopt);

/// Appends `events` in order (issued back to back, so one thread's events keep their order on the log) and
/// completes once every one is durable: their results in order, or the first failure. Not a coroutine (GCC 12).
boost::asio::awaitable<result<std::vector<Appended>>> append_all(EventLog& log, std::vector<EventEnvelope> events);

}  // namespace centaur::ingest
