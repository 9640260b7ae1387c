#pragma once
// HTTP request/response values, routes and the SSE stream interface. Kept free of Beast so route code in
// other areas compiles fast; the Beast server lives in src/.

#include <boost/asio/awaitable.hpp>
#include <boost/json/value.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace centaur::http {

struct Request {
    std::string method;                          ///< "GET", "POST", …
    std::string target;                          ///< raw request target, e.g. /api/session/a%3Ab/events?x=1
    std::string path;                            ///< target without the query string (still percent-encoded)
    std::map<std::string, std::string> query;    ///< decoded query parameters (last value wins)
    std::map<std::string, std::string> headers;  ///< lower-cased names
    std::string body;
    std::string remote_address;

    /// Header value by lower-case name.
    std::optional<std::string_view> header(std::string_view lower_name) const;
};

class SseStream;

struct Response {
    unsigned status = 200;
    std::string body;
    std::string content_type = "application/json";
    std::vector<std::pair<std::string, std::string>> headers;
    /// When set, the server answers 200 `text/event-stream` and runs this on the connection until it returns
    /// or the peer goes away. `status`/`body` are then ignored.
    std::function<boost::asio::awaitable<void>(SseStream&)> stream;
};

/// `{"ok":false,"error":message}` with `status`.
Response error_response(unsigned status, std::string_view message);
/// `value` serialized as compact JSON with `status`.
Response json_response(const boost::json::value& value, unsigned status = 200);

/// Decoded path parameters of the matched route, e.g. {"thread_key": "slack:C1:1.2"}.
using PathParams = std::map<std::string, std::string>;

using Handler = std::function<boost::asio::awaitable<Response>(const Request&, const PathParams&)>;

/// Capability a route requires of its caller; `none` routes are public.
enum class Capability { none, sessions_read, sessions_write, sandboxes_drain, metrics };

struct Route {
    std::string method;        ///< "GET" / "POST"
    std::string path_template; ///< "/api/session/{thread_key}/events" — one {name} per whole segment
    Capability capability = Capability::none;
    Handler handler;
};

/// Runs before a matched route's handler: returns a response to short-circuit it (401, 403, 503 …).
/// Called on the io_context thread; must not block.
using Guard = std::function<std::optional<Response>(const Request&, const Route&, const PathParams&)>;

/// One event of a batch written by `SseStream::send_events`; the views must stay valid until the write completes.
struct SseFrame {
    std::string_view id;
    std::string_view type;
    std::string_view data;
};

/// A server-sent-events stream on one connection. Owned by the server; the route's stream function uses it on
/// the io_context thread only. Each frame is written whole.
/// Server stop: `on_close` callbacks run and `open()` turns false at once; when the stream function returns, the
/// body is ended cleanly (last chunk) within a short grace and the connection closes, so clients resume with
/// `Last-Event-ID` against the next server.
class SseStream {
public:
    virtual ~SseStream() = default;
    /// `id: <id>\nevent: <type>\ndata: <line>\n\n`; multi-line data is split into several `data:` lines.
    /// No `id:` line when `id` is empty. Returns false when the peer is gone.
    virtual boost::asio::awaitable<bool> send_event(std::string_view id, std::string_view type,
                                                    std::string_view data) = 0;
    /// Every frame of `frames`, formatted as `send_event` does, in one write. Returns false when the peer is gone.
    virtual boost::asio::awaitable<bool> send_events(const std::vector<SseFrame>& frames) = 0;
    /// `: <text>\n\n` (heartbeat). Returns false when the peer is gone.
    virtual boost::asio::awaitable<bool> send_comment(std::string_view text) = 0;
    /// `retry: <ms>\n\n`.
    virtual boost::asio::awaitable<bool> send_retry(std::chrono::milliseconds delay) = 0;
    /// False once the peer closed the connection, a write failed, the stream was closed or the server stops.
    virtual bool open() const = 0;
    /// Cuts the stream off at once: closes the connection without ending the body (a write in flight fails) and
    /// runs the `on_close` callbacks. For a peer that cannot keep up; it sees a dropped connection and resumes.
    virtual void close() = 0;
    /// Registers `callback`, run once on the io_context when the stream closes (peer gone, write failure or
    /// server stop). Runs at once if already closed.
    virtual void on_close(std::function<void()> callback) = 0;
};

/// Percent-decoding of a path segment or query component ('+' is a space only in queries). False on a
/// malformed escape.
bool percent_decode(std::string_view in, std::string& out, bool plus_is_space);
/// encodeURIComponent: every byte but A-Z a-z 0-9 - _ . ! ~ * ' ( ) as %XX.
std::string percent_encode_component(std::string_view in);

}  // namespace centaur::http
