#pragma once

#include <boost/json/value.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace centaur::cli {

/// Request bodies of the session API as centaur-session-cli sends them; every one carries
/// `metadata.source = "centaur-session-cli"` like upstream's. Built outside coroutines (GCC 12).
boost::json::value create_session_body(const std::string& harness_type);
/// One user text message. A `client_message_id` makes the append idempotent and lets the TUI recognise
/// its own message when the thread replays it.
boost::json::value append_message_body(const std::string& text, const std::optional<std::string>& client_message_id);
/// An execution of `lines` with a fresh idempotency key and the CLI's timeouts.
boost::json::value execute_body(const std::vector<std::string>& lines, std::uint64_t idle_timeout_ms,
                                std::uint64_t max_duration_ms);
boost::json::value interrupt_body(const std::string& reason);

}  // namespace centaur::cli
