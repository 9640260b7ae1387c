#pragma once

#include "api_client.hpp"
#include "sse_parser.hpp"

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

namespace centaur::cli {

/// Where a thread's event stream starts and how long a dropped stream is retried.
struct FollowOptions {
    std::int64_t after_event_id = 0;
    std::chrono::milliseconds reconnect_timeout{30000};
};

/// Follows GET /api/session/{thread_key}/events from `options.after_event_id`, handing every SSE frame
/// to `on_event` until it returns false (then returns). A stream that drops or is refused with a 5xx is
/// reopened with `Last-Event-ID: <last id seen>` (backoff 100 ms doubling to 2 s), so each event is handed
/// over once and in order; `on_reconnect` gets a one-line reason before each retry. Throws HttpError on a
/// 4xx, and std::runtime_error("event stream lost: …") once no byte arrived for `reconnect_timeout`.
/// Runs on the caller's single-threaded io_context.
boost::asio::awaitable<void> follow_events(ApiClient& api, std::string thread_key, FollowOptions options,
                                           std::function<bool(const SseEvent&)> on_event,
                                           std::function<void(const std::string&)> on_reconnect);

/// `/api/session/<encodeURIComponent(thread_key)>`.
std::string session_path(const std::string& thread_key);

/// The three terminal execution events (upstream `is_terminal_event`).
bool is_terminal_event(std::string_view event_type);

}  // namespace centaur::cli
