#include "event_stream.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>

namespace centaur::cli {
namespace asio = boost::asio;

namespace {
constexpr std::chrono::milliseconds kFirstBackoff{100};
constexpr std::chrono::milliseconds kMaxBackoff{2000};
}  // namespace

std::string session_path(const std::string& thread_key) { return "/api/session/" + url_encode_component(thread_key); }

bool is_terminal_event(std::string_view type) {
    return type == "session.execution_completed" || type == "session.execution_failed" ||
           type == "session.execution_cancelled";
}

asio::awaitable<void> follow_events(ApiClient& api, std::string thread_key, FollowOptions options,
                                    std::function<bool(const SseEvent&)> on_event,
                                    std::function<void(const std::string&)> on_reconnect) {
    std::optional<std::string> last_id;
    bool stop = false;
    auto dispatch = [&](const SseEvent& e) {
        if (stop) return;
        if (e.id) last_id = e.id;
        if (!on_event(e)) stop = true;
    };
    const std::string base = session_path(thread_key) + "/events";
    auto give_up_at = std::chrono::steady_clock::now() + options.reconnect_timeout;
    auto backoff = kFirstBackoff;
    for (;;) {
        SseParser parser(dispatch);
        // The resume point goes in the query as well as in Last-Event-ID, so servers that read only one work.
        std::string path = base;
        if (last_id) path += "?after_event_id=" + *last_id;
        else if (options.after_event_id > 0) path += "?after_event_id=" + std::to_string(options.after_event_id);
        std::string failure;
        try {
            co_await api.stream(path, last_id, [&](std::string_view bytes) {
                give_up_at = std::chrono::steady_clock::now() + options.reconnect_timeout;
                backoff = kFirstBackoff;
                parser.feed(bytes);
                return !stop;
            });
            if (stop) co_return;
            failure = "the server closed the event stream";
        } catch (const HttpError& e) {
            if (e.status() < 500) throw;
            failure = e.what();
        } catch (const std::exception& e) {
            failure = e.what();
        }
        if (std::chrono::steady_clock::now() >= give_up_at) throw std::runtime_error("event stream lost: " + failure);
        on_reconnect(failure + "; reconnecting" + (last_id ? " after event " + *last_id : std::string()));
        asio::steady_timer timer(co_await asio::this_coro::executor, backoff);
        co_await timer.async_wait(asio::use_awaitable);
        backoff = std::min(backoff * 2, kMaxBackoff);
    }
}

}  // namespace centaur::cli
