#pragma once
// The SlackClient port: calls of the Slack Web API (`<base URL>/<method>`, JSON body, bot token), used to post
// and stream agent replies into Slack threads. Implementations: the Beast/OpenSSL Web API client in slack/
// (base URL from SLACK_API_URL, so tests point it at a fake Slack server), fakes in unit tests.

#include <centaur/core/result.hpp>

#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>

#include <chrono>
#include <optional>
#include <string>

namespace centaur {

/// Slack Web API method names the reply streamer uses.
namespace slack_method {
inline constexpr char post_message[] = "chat.postMessage";
inline constexpr char update[] = "chat.update";
inline constexpr char start_stream[] = "chat.startStream";
inline constexpr char append_stream[] = "chat.appendStream";
inline constexpr char stop_stream[] = "chat.stopStream";
inline constexpr char set_status[] = "assistant.threads.setStatus";
inline constexpr char conversations_replies[] = "conversations.replies";
}  // namespace slack_method

/// One answer of the Web API, whatever its status.
struct SlackResponse {
    unsigned http_status = 0;
    boost::json::object body;                       ///< the JSON answer ({"ok":…, "error":…, "ts":…}); empty if none
    std::optional<std::chrono::seconds> retry_after;  ///< `Retry-After` of a 429

    /// HTTP 200 with `"ok": true`.
    bool ok() const {
        const auto* v = body.if_contains("ok");
        return http_status == 200 && v && v->is_bool() && v->as_bool();
    }
    /// Slack's `error` string ("ratelimited", "unknown_method" …), or "http_<status>" when there is none.
    std::string error() const {
        if (const auto* e = body.if_contains("error"); e && e->is_string()) return std::string(e->as_string());
        return "http_" + std::to_string(http_status);
    }
};

/// Thread: calls come from one io_context; several may be in flight. Never throws.
class SlackClient {
public:
    virtual ~SlackClient() = default;
    /// POSTs `args` to `method`. A response of any status, or the transport error (connect, TLS, timeout).
    virtual boost::asio::awaitable<result<SlackResponse>> call(std::string method, boost::json::object args) = 0;
};

}  // namespace centaur
