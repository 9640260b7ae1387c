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
    std::chrono::seconds request_timeout{30};          ///< whole request (headers + body) must arrive in this
    std::chrono::seconds keep_alive_timeout{75};       ///< idle keep-alive connection is closed after this
    std::chrono::seconds sse_keepalive{15};            ///< SSE comment heartbeat when a stream is idle
};

/// Lifecycle: construct, `start()` once, `stop()` (idempotent) before the io_context is destroyed.
/// Thread: every call and every handler runs on the io_context's thread.
class Server {
public:
    Server(boost::asio::io_context& io, ServerOptions options, std::vector<Route> routes, Guard guard,
           HttpProbe* probe);
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    /// Binds and starts accepting. Returns the bound port, or an error naming the address on failure.
    result<std::uint16_t> start();
    /// Stops accepting and closes every connection (open SSE streams see `on_close`).
    void stop();

private:
    struct Impl;
    std::shared_ptr<Impl> impl_;
};

}  // namespace centaur::http
