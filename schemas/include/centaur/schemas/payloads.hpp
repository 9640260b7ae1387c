#pragma once
// Typed payloads of the input events (the ones ingest appends) and the harness types upstream accepts.

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace centaur {

/// Upstream's harness wire values: codex, amp, claudecode, nanocodex, hermes, pi, omp.
bool is_known_harness(std::string_view harness);

/// `session.created`: create-or-get of a session.
struct SessionCreated {
    std::string harness_type;
    std::optional<std::string> persona_id;
    boost::json::object metadata;
    bool restart_on_conflict = false;  ///< `on_harness_conflict: "restart"`
};

/// `session.message_appended`: one message of a thread.
struct MessageAppended {
    std::string message_id;  ///< msg_<32 hex>
    std::optional<std::string> client_message_id;
    std::string role;        ///< user | assistant | system | tool
    boost::json::array parts;
    boost::json::object metadata;
};

/// `session.execution_requested`: an execution queued on a thread.
struct ExecutionRequested {
    std::string execution_id;  ///< exe_<32 hex>
    std::optional<std::string> idempotency_key;
    std::vector<std::string> input_lines;
    std::uint64_t idle_timeout_ms = 0;  ///< pause the sandbox this long after the terminal event; 0 = never
    std::uint64_t max_duration_ms = 0;  ///< fail the execution after this long; 0 = unbounded
    boost::json::object metadata;
};

/// `session.interrupt_requested`: interrupt the given execution.
struct InterruptRequested {
    std::string execution_id;
    std::string reason;
};

boost::json::value to_json(const SessionCreated& p);
boost::json::value to_json(const MessageAppended& p);
boost::json::value to_json(const ExecutionRequested& p);
boost::json::value to_json(const InterruptRequested& p);

/// Decoders: nullopt when a required field is missing or has the wrong type. Never throw.
std::optional<SessionCreated> session_created_from(const boost::json::value& v);
std::optional<MessageAppended> message_appended_from(const boost::json::value& v);
std::optional<ExecutionRequested> execution_requested_from(const boost::json::value& v);
std::optional<InterruptRequested> interrupt_requested_from(const boost::json::value& v);

/// Small total accessors for JSON objects.
namespace json_get {
const boost::json::value* field(const boost::json::value& v, std::string_view key);
std::optional<std::string> string(const boost::json::value& v, std::string_view key);
std::optional<std::int64_t> int64(const boost::json::value& v, std::string_view key);
}  // namespace json_get

}  // namespace centaur
