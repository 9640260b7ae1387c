#pragma once
// The HTTP/1.1 server (Boost.Beast on Asio C++20 coroutines). Owned by the app's main; runs on one io_context.

#include <centaur/core/result.hpp>
#include <centaur/http/types.hpp>

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace centaur::http {

class HttpProbe;

struct ServerOptions {
    std::string bind_address = "127.0.0.1";
    std::uint16_t port = 8080;                         ///< 0 = any free port
    std::size_t max_body_bytes = 16 * 1024 * 1024;     ///< larger bodies get 413 (CENTAUR_MAX_BODY_BYTES)
    std::size_t max_header_bytes = 16 * 1024;          ///< larger headers get 431
    /// Whole request (headers + body) must arrive in this; also bounds each response or SSE frame write.
    std::chrono::milliseconds request_timeout{std::chrono::seconds(30)};
    /// An idle keep-alive connection (no byte of a next request) is closed after this.
    std::chrono::milliseconds keep_alive_timeout{std::chrono::seconds(75)};
    /// An SSE stream with no write for this long gets a `: keep-alive` comment.
    std::chrono::milliseconds sse_keepalive{std::chrono::seconds(15)};
    /// CORS: origins whose browsers may call the API ("*" = any); empty = no CORS headers. An allowed Origin gets
    /// Access-Control-Allow-Origin on every answer, and OPTIONS preflights of existing routes get 204.
    std::vector<std::string> cors_allowed_origins;
};

/// Lifecycle: construct, `start()` once, `stop()` (idempotent) before the io_context is destroyed; the destructor
/// calls `stop()`. After `stop()` the server leaves no pending work of its own on the io_context (handlers still
/// running finish on their own; their responses are dropped).
/// Thread: every call and every handler runs on the io_context's thread (`start()` may also run before the
/// io_context runs). Routes, guard and probe are used until the last connection ends.
class Server {
public:
    Server(boost::asio::io_context& io, ServerOptions options, std::vector<Route> routes, Guard guard,
           HttpProbe* probe);
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    /// Binds and starts accepting. Returns the bound port (the same one on a repeated call), the system error
    /// (logged with the address) on failure, or errc::shutting_down after `stop()`.
    result<std::uint16_t> start();
    /// Stops accepting and closes every connection (open SSE streams see `on_close`).
    void stop();

private:
    struct Impl;
    std::shared_ptr<Impl> impl_;
};

}  // namespace centaur::http
