// The only Beast TU of http/: connection loop, request parsing, response and SSE writing.
// Compile cost: Beast's composed HTTP operations (http::async_read/async_write) are not used. Requests are fed to
// Beast's parser from one tcp_stream read, responses are serialized by hand and written with one asio::async_write;
// every coroutine below shares those two instantiations.

#include <centaur/core/logging.hpp>
#include <centaur/http/probe.hpp>
#include <centaur/http/server.hpp>

#include "router.hpp"
#include "sse_format.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/string_body.hpp>
#include <spdlog/spdlog.h>

#include <deque>
#include <exception>
#include <limits>
#include <set>

namespace centaur::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using asio::awaitable;
using Clock = std::chrono::steady_clock;

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

const std::string unmatched_route = "__unmatched__";
const std::string metrics_path = "/metrics";
constexpr std::string_view continue_response = "HTTP/1.1 100 Continue\r\n\r\n";
constexpr std::string_view last_chunk = "0\r\n\r\n";
/// Room a frame needs for its chunk size line and trailing CRLF ("<16 hex digits>\r\n" … "\r\n").
constexpr std::size_t chunk_framing_bytes = 20;
/// After an error response the unread rest of a request is drained, bounded, so closing does not reset the
/// connection before the client has read the response.
constexpr auto lingering_close_timeout = std::chrono::seconds(2);
constexpr std::size_t lingering_close_max_bytes = 1024 * 1024;
constexpr std::size_t read_chunk_bytes = 16 * 1024;
constexpr auto accept_retry_delay = std::chrono::milliseconds(100);
/// On server stop an SSE stream gets this long to end its body cleanly before its connection is cut.
constexpr auto sse_stop_grace = std::chrono::seconds(2);

/// co_spawn completion: a coroutine that escapes with an exception is a bug; log it, never rethrow.
auto log_failure(const char* what) {
    return [what](std::exception_ptr e) {
        if (!e) return;
        try {
            std::rethrow_exception(e);
        } catch (const std::exception& ex) {
            spdlog::error("http: {} failed: {}", what, ex.what());
        } catch (...) {
            spdlog::error("http: {} failed with a non-standard exception", what);
        }
    };
}

/// FIFO async mutex for one connection's writes. Used from the io_context thread only. A waiter resumed by
/// anything but a hand-over (cancellation of its coroutine) gets false and does not own the lock.
class WriteLock {
public:
    bool locked() const { return locked_; }

    awaitable<bool> lock() {
        if (!locked_) {
            locked_ = true;
            co_return true;
        }
        auto waiter = std::make_shared<Waiter>(co_await asio::this_coro::executor);
        waiters_.push_back(waiter);
        co_await waiter->timer.async_wait(use_tuple);
        if (waiter->granted) co_return true;
        std::erase(waiters_, waiter);
        co_return false;
    }

    /// Hands the lock to the oldest waiter, or frees it.
    void unlock() noexcept {
        if (waiters_.empty()) {
            locked_ = false;
            return;
        }
        auto next = std::move(waiters_.front());
        waiters_.pop_front();
        next->granted = true;
        next->timer.cancel();
    }

private:
    struct Waiter {
        explicit Waiter(asio::any_io_executor ex) : timer(std::move(ex), asio::steady_timer::time_point::max()) {}
        asio::steady_timer timer;
        bool granted = false;
    };
    bool locked_ = false;
    std::deque<std::shared_ptr<Waiter>> waiters_;
};

class SseWriter;
struct Connection;
awaitable<beast::error_code> write_all(Connection& conn, std::string_view bytes, std::chrono::milliseconds timeout);
awaitable<beast::error_code> read_some(Connection& conn, beast::flat_buffer& buffer);

/// One accepted socket. Shared by its serve coroutine, the server's connection set (for stop) and an SSE writer.
/// io_context thread only.
struct Connection {
    explicit Connection(tcp::socket socket) : stream(std::move(socket)) {}

    /// Closes the socket (pending operations complete with operation_aborted) and an active SSE stream.
    void close() noexcept;
    /// Server stop: an active SSE stream ends gracefully (see SseWriter::stop), anything else closes at once.
    void stop() noexcept;
    void close_socket() noexcept {
        closed = true;
        stream.close();
    }

    beast::tcp_stream stream;
    std::string remote_address;
    bool closed = false;
    std::weak_ptr<SseWriter> sse;
};

/// The SseStream of one streaming response. Created once the 200 header is flushed; owned jointly by the serve
/// coroutine (which runs the route's stream function and then `finish()`), its peer reader and its heartbeat.
/// Every write goes through `lock_`, so frames never interleave. io_context thread only.
/// Ends in one of three ways: the stream function returns (`finish()` ends the body), `close()` (peer gone, write
/// failure, cut off by the route), or `stop()` (server stop: ends like a return, bounded by sse_stop_grace).
class SseWriter final : public SseStream, public std::enable_shared_from_this<SseWriter> {
public:
    SseWriter(std::shared_ptr<Connection> conn, bool chunked, std::chrono::milliseconds keepalive,
              std::chrono::milliseconds write_timeout)
        : conn_(std::move(conn)),
          chunked_(chunked),
          keepalive_(keepalive),
          write_timeout_(write_timeout),
          heartbeat_timer_(conn_->stream.get_executor()),
          grace_timer_(conn_->stream.get_executor()),
          last_write_(Clock::now()) {}

    awaitable<bool> send_event(std::string_view id, std::string_view type, std::string_view data) override {
        return write_frame(format_event(id, type, data));
    }
    awaitable<bool> send_events(const std::vector<SseFrame>& frames) override {
        std::size_t bytes = 0;
        for (const auto& f : frames) bytes += f.id.size() + f.type.size() + f.data.size() + event_overhead_bytes;
        std::string batch;
        batch.reserve(bytes + chunk_framing_bytes);
        for (const auto& f : frames) append_event(batch, f.id, f.type, f.data);
        return write_frame(std::move(batch));
    }
    awaitable<bool> send_comment(std::string_view text) override { return write_frame(format_comment(text)); }
    awaitable<bool> send_retry(std::chrono::milliseconds delay) override {
        return write_frame(format_retry(delay));
    }
    bool open() const override { return !closed_ && !stopping_; }
    void on_close(std::function<void()> callback) override {
        if (closed_ || stopping_)
            run_callback(callback);
        else
            callbacks_.push_back(std::move(callback));
    }

    /// Starts the peer reader (detects a close at once) and the heartbeat. Call once, after the header.
    void start() {
        conn_->stream.expires_never();  // the reader never times out; each write sets its own deadline
        auto ex = conn_->stream.get_executor();
        asio::co_spawn(ex, read_until_closed(shared_from_this()), log_failure("sse peer reader"));
        asio::co_spawn(ex, heartbeat(shared_from_this()), log_failure("sse heartbeat"));
    }

    /// After the stream function returned: ends the chunked body if the peer is still there, then closes.
    awaitable<void> finish() {
        auto self = shared_from_this();
        if (!closed_ && chunked_) {
            std::string tail(last_chunk);
            co_await write_bytes(std::move(tail), true);
        }
        close();
    }

    /// Idempotent: marks the stream closed, closes the socket, stops the heartbeat, runs on_close callbacks.
    void close() noexcept override {
        if (closed_) return;
        closed_ = true;
        heartbeat_timer_.cancel();
        grace_timer_.cancel();
        conn_->close_socket();
        run_callbacks();
    }

    /// Server stop. Idempotent: `open()` turns false, the heartbeat stops, on_close callbacks run (so the stream
    /// function returns and `finish()` ends the body); `close()` follows after sse_stop_grace at the latest.
    void stop() noexcept {
        if (closed_ || stopping_) return;
        stopping_ = true;
        heartbeat_timer_.cancel();
        grace_timer_.expires_after(sse_stop_grace);
        grace_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
            if (!ec) self->close();
        });
        run_callbacks();
    }

private:
    void run_callbacks() noexcept {
        auto callbacks = std::move(callbacks_);
        callbacks_.clear();
        for (auto& callback : callbacks) run_callback(callback);
    }

    static void run_callback(const std::function<void()>& callback) noexcept {
        try {
            callback();
        } catch (const std::exception& e) {
            spdlog::error("http: sse on_close callback threw: {}", e.what());
        } catch (...) {
            spdlog::error("http: sse on_close callback threw");
        }
    }

    awaitable<bool> write_frame(std::string frame) {
        if (chunked_) {
            char size[24];
            const int n = std::snprintf(size, sizeof size, "%zx\r\n", frame.size());
            frame.insert(0, size, static_cast<std::size_t>(n));
            frame += "\r\n";
        }
        return write_bytes(std::move(frame));
    }

    /// Writes `bytes` whole under the lock. Once stopping, only the body's end (`ending`) is still written.
    awaitable<bool> write_bytes(std::string bytes, bool ending = false) {
        auto self = shared_from_this();
        if (closed_ || (stopping_ && !ending)) co_return false;
        if (!co_await lock_.lock()) co_return false;
        struct Release {
            WriteLock& lock;
            ~Release() { lock.unlock(); }
        } release{lock_};
        if (closed_ || (stopping_ && !ending)) co_return false;
        const auto ec = co_await write_all(*conn_, bytes, write_timeout_);
        if (ec) {
            close();
            co_return false;
        }
        last_write_ = Clock::now();
        co_return true;
    }

    static awaitable<void> read_until_closed(std::shared_ptr<SseWriter> self) {
        beast::flat_buffer discard;
        while (!self->closed_) {
            if (co_await read_some(*self->conn_, discard)) break;
            discard.clear();
        }
        self->close();
    }

    static awaitable<void> heartbeat(std::shared_ptr<SseWriter> self) {
        while (self->open()) {
            const auto now = Clock::now();
            auto due = self->last_write_ + self->keepalive_;
            if (self->lock_.locked()) due = std::max(due, now + self->keepalive_);  // a write in flight is not idle
            if (now < due) {
                self->heartbeat_timer_.expires_at(due);
                co_await self->heartbeat_timer_.async_wait(use_tuple);
                continue;
            }
            std::string comment = format_comment("keep-alive");
            if (!co_await self->write_frame(std::move(comment))) break;
        }
    }

    std::shared_ptr<Connection> conn_;
    const bool chunked_;
    const std::chrono::milliseconds keepalive_;
    const std::chrono::milliseconds write_timeout_;
    asio::steady_timer heartbeat_timer_;
    asio::steady_timer grace_timer_;
    Clock::time_point last_write_;
    WriteLock lock_;
    bool closed_ = false;
    bool stopping_ = false;
    std::vector<std::function<void()>> callbacks_;
};

void Connection::close() noexcept {
    if (auto s = sse.lock()) s->close();
    close_socket();
}

void Connection::stop() noexcept {
    if (auto s = sse.lock())
        s->stop();
    else
        close_socket();
}

/// The one write path. With an SSE reader pending, `expires_after` sets only the write deadline.
awaitable<beast::error_code> write_all(Connection& conn, std::string_view bytes, std::chrono::milliseconds timeout) {
    conn.stream.expires_after(timeout);
    auto [ec, n] = co_await asio::async_write(conn.stream, asio::const_buffer(bytes.data(), bytes.size()), use_tuple);
    co_return ec;
}

/// The one read path: some bytes into `buffer`.
awaitable<beast::error_code> read_some(Connection& conn, beast::flat_buffer& buffer) {
    auto [ec, n] = co_await conn.stream.async_read_some(buffer.prepare(read_chunk_bytes), use_tuple);
    buffer.commit(n);
    co_return ec;
}

using RequestParser = bhttp::request_parser<bhttp::string_body>;

/// Feeds `parser` from `buffer`, reading more as needed, until the header (or, with `whole_message`, the whole
/// request) is parsed. Bytes past the message stay in `buffer` for the next request. Errors: the parser's
/// (header_limit, body_limit, bad_*), end_of_stream on a clean close before any byte, partial_message on a
/// close mid-request, or the stream's (timeout, operation_aborted, reset).
awaitable<beast::error_code> read_request(Connection& conn, beast::flat_buffer& buffer, RequestParser& parser,
                                          bool whole_message) {
    parser.eager(whole_message);
    for (;;) {
        if (whole_message ? parser.is_done() : parser.is_header_done()) co_return beast::error_code{};
        if (buffer.size() > 0) {
            beast::error_code ec;
            const auto used = parser.put(buffer.data(), ec);
            buffer.consume(used);
            if (!ec && used > 0) continue;
            if (ec && ec != bhttp::error::need_more) co_return ec;
        }
        const auto ec = co_await read_some(conn, buffer);
        if (ec == asio::error::eof) {
            if (!parser.got_some()) co_return beast::error_code(bhttp::error::end_of_stream);
            beast::error_code eof_ec;
            parser.put_eof(eof_ec);
            co_return eof_ec ? eof_ec : beast::error_code(bhttp::error::partial_message);
        }
        if (ec) co_return ec;
    }
}

/// Header field for a hand-serialized response; CR and LF are dropped so a value cannot inject headers.
void append_field(std::string& out, std::string_view name, std::string_view value) {
    for (char c : name)
        if (c != '\r' && c != '\n' && c != ':') out += c;
    out += ": ";
    for (char c : value)
        if (c != '\r' && c != '\n') out += c;
    out += "\r\n";
}

/// Status line and the fields common to every response.
std::string response_head(unsigned status, unsigned version, std::string_view content_type,
                          const std::vector<std::pair<std::string, std::string>>& headers) {
    std::string out = version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
    out += std::to_string(status);
    out += ' ';
    if (const auto known = bhttp::int_to_status(status); known != bhttp::status::unknown)
        out += bhttp::obsolete_reason(known);
    out += "\r\n";
    if (!content_type.empty()) append_field(out, "Content-Type", content_type);
    for (const auto& [name, value] : headers) append_field(out, name, value);
    return out;
}

/// A whole response with a Content-Length body (omitted for HEAD).
std::string serialize_response(const Response& res, unsigned version, bool keep_alive, bool head_only) {
    auto out = response_head(res.status, version, res.content_type, res.headers);
    if (res.status != 204 && res.status != 304) append_field(out, "Content-Length", std::to_string(res.body.size()));
    if (!keep_alive && version >= 11) append_field(out, "Connection", "close");
    if (keep_alive && version == 10) append_field(out, "Connection", "keep-alive");
    out += "\r\n";
    if (!head_only) out += res.body;
    return out;
}

std::string lower_ascii(std::string_view s) {
    std::string out(s);
    for (auto& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

bool is_parse_error(const beast::error_code& ec) {
    static const auto& http_category = bhttp::make_error_code(bhttp::error::bad_method).category();
    return ec.category() == http_category && ec != bhttp::error::end_of_stream &&
           ec != bhttp::error::partial_message;
}

Response internal_error() { return error_response(500, "internal server error"); }

}  // namespace

struct Server::Impl : std::enable_shared_from_this<Server::Impl> {
    Impl(asio::io_context& io, ServerOptions options, std::vector<Route> routes, Guard guard, HttpProbe* probe)
        : io_(io),
          options_(std::move(options)),
          router_(std::move(routes)),
          guard_(std::move(guard)),
          probe_(probe),
          acceptor_(io),
          accept_retry_timer_(io) {}

    result<std::uint16_t> start();
    void stop();

private:
    /// Labels and timing of one request for the probe.
    struct Tally {
        std::string method;
        std::string route = unmatched_route;
        Clock::time_point started = Clock::now();
        bool counted = true;  ///< false for the /metrics route
        bool in_flight = false;
        bool stream = false;
        std::string target;      ///< as received; redacted when logged
        std::string thread_key;  ///< the {thread_key} path parameter, when the route has one
    };

    static awaitable<void> accept_loop(std::shared_ptr<Impl> self);
    /// Owns one connection from accept to close; always closes it and leaves connections_.
    static awaitable<void> serve(std::shared_ptr<Impl> self, std::shared_ptr<Connection> conn);
    /// The keep-alive request loop; returns when the connection must close.
    static awaitable<void> serve_requests(std::shared_ptr<Impl> self, std::shared_ptr<Connection> conn);
    awaitable<bool> handle(std::shared_ptr<Connection> conn, bhttp::request<bhttp::string_body> msg);
    /// The request's Origin when CORS allows it, else nullopt.
    std::optional<std::string> cors_origin(const Request& req) const {
        const auto origin = req.header("origin");
        if (!origin) return std::nullopt;
        for (const auto& allowed : options_.cors_allowed_origins)
            if (allowed == "*" || allowed == *origin) return std::string(*origin);
        return std::nullopt;
    }
    awaitable<void> stream_response(std::shared_ptr<Connection> conn, unsigned version, Response& res, Tally& tally);
    awaitable<void> reject(std::shared_ptr<Connection> conn, const beast::error_code& ec, std::string method);
    awaitable<void> lingering_close(std::shared_ptr<Connection> conn);
    void finish_tally(Tally& tally, unsigned status);
    /// One log line per request (level info; debug for health, readiness and metrics), secrets redacted.
    static void log_request(const Tally& tally, unsigned status, double seconds);

    asio::io_context& io_;
    const ServerOptions options_;
    const Router router_;
    const Guard guard_;
    HttpProbe* const probe_;
    tcp::acceptor acceptor_;
    asio::steady_timer accept_retry_timer_;
    bool started_ = false;
    bool stopped_ = false;
    std::uint16_t port_ = 0;
    std::set<std::shared_ptr<Connection>> connections_;
};

result<std::uint16_t> Server::Impl::start() {
    if (started_) return port_;
    if (stopped_) return make_error_code(errc::shutting_down);
    boost::system::error_code ec;
    auto address = asio::ip::make_address(options_.bind_address == "localhost" ? "127.0.0.1" : options_.bind_address,
                                          ec);
    if (ec) {
        // A host name: start-up only, so a blocking resolve is acceptable. Prefer IPv4 like the literal case.
        tcp::resolver resolver(io_);
        auto results = resolver.resolve(options_.bind_address, "", tcp::resolver::passive, ec);
        if (!ec && results.empty()) ec = asio::error::host_not_found;
        if (!ec) {
            address = results.begin()->endpoint().address();
            for (const auto& r : results)
                if (r.endpoint().address().is_v4()) {
                    address = r.endpoint().address();
                    break;
                }
        }
    }
    const tcp::endpoint endpoint(address, options_.port);
    if (!ec) acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (!ec) port_ = acceptor_.local_endpoint(ec).port();
    if (ec) {
        spdlog::error("http: cannot listen on {}:{}: {}", options_.bind_address, options_.port, ec.message());
        boost::system::error_code ignored;
        acceptor_.close(ignored);
        return ec;
    }
    started_ = true;
    asio::co_spawn(io_, accept_loop(shared_from_this()), log_failure("accept loop"));
    return port_;
}

void Server::Impl::stop() {
    if (stopped_) return;
    stopped_ = true;
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    accept_retry_timer_.cancel();
    const auto connections = connections_;  // stop() may end serve coroutines that erase themselves later
    for (const auto& conn : connections) conn->stop();
}

awaitable<void> Server::Impl::accept_loop(std::shared_ptr<Impl> self) {
    while (!self->stopped_) {
        auto [ec, socket] = co_await self->acceptor_.async_accept(use_tuple);
        if (self->stopped_) break;
        if (ec) {
            // Out of descriptors and the like: back off instead of spinning.
            spdlog::warn("http: accept failed: {}", ec.message());
            self->accept_retry_timer_.expires_after(accept_retry_delay);
            co_await self->accept_retry_timer_.async_wait(use_tuple);
            continue;
        }
        auto conn = std::make_shared<Connection>(std::move(socket));
        boost::system::error_code ignored;
        conn->stream.socket().set_option(tcp::no_delay(true), ignored);  // SSE frames are small and latency-bound
        auto remote = conn->stream.socket().remote_endpoint(ignored);
        if (!ignored) conn->remote_address = remote.address().to_string();
        self->connections_.insert(conn);
        asio::co_spawn(self->io_, serve(self, conn), log_failure("http connection"));
    }
}

awaitable<void> Server::Impl::serve(std::shared_ptr<Impl> self, std::shared_ptr<Connection> conn) {
    try {
        co_await serve_requests(self, conn);
    } catch (const std::exception& e) {
        spdlog::error("http: connection from {} failed: {}", conn->remote_address, e.what());
    }
    if (!conn->closed) {
        boost::system::error_code ignored;
        conn->stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
        conn->close();
    }
    self->connections_.erase(conn);
}

awaitable<void> Server::Impl::serve_requests(std::shared_ptr<Impl> self, std::shared_ptr<Connection> conn) {
    const auto& options = self->options_;
    beast::flat_buffer buffer;
    bool first = true;
    while (!conn->closed) {
        if (!first && buffer.size() == 0) {
            // Idle between requests: wait for the first byte of the next one under the keep-alive deadline.
            conn->stream.expires_after(options.keep_alive_timeout);
            if (co_await read_some(*conn, buffer)) break;
        }
        first = false;

        conn->stream.expires_after(options.request_timeout);
        RequestParser parser;
        parser.header_limit(static_cast<std::uint32_t>(
            std::min<std::size_t>(options.max_header_bytes, std::numeric_limits<std::uint32_t>::max())));
        parser.body_limit(options.max_body_bytes);
        auto ec = co_await read_request(*conn, buffer, parser, false);
        if (!ec) {
            if (auto length = parser.content_length(); length && *length > options.max_body_bytes)
                ec = bhttp::error::body_limit;
        }
        if (!ec && !parser.is_done()) {
            const auto& fields = parser.get();
            if (fields.version() >= 11 && beast::iequals(fields[bhttp::field::expect], "100-continue"))
                ec = co_await write_all(*conn, continue_response, options.request_timeout);
            if (!ec) ec = co_await read_request(*conn, buffer, parser, true);
        }
        if (ec) {
            std::string method(parser.get().method_string());
            co_await self->reject(conn, ec, std::move(method));
            break;
        }
        if (!co_await self->handle(conn, parser.release())) break;
    }
}

void Server::Impl::finish_tally(Tally& tally, unsigned status) {
    const std::chrono::duration<double> elapsed = Clock::now() - tally.started;
    log_request(tally, status, elapsed.count());
    if (!probe_ || !tally.counted) return;
    if (tally.in_flight) {
        probe_->in_flight_add(-1);
        tally.in_flight = false;
    }
    probe_->request_finished(tally.method, tally.route, status, elapsed.count());
}

void Server::Impl::log_request(const Tally& tally, unsigned status, double seconds) {
    // Probes (health, readiness, scrapes) at debug so they do not drown the request log at info.
    const bool probe_route = tally.route == metrics_path || tally.route == "/healthz" || tally.route == "/readyz";
    logging::Event line(probe_route ? logging::Level::debug : logging::Level::info, "centaur::http", "http request");
    line.str("method", tally.method).str("route", tally.route).num("status", status);
    line.real("duration_ms", seconds * 1000.0).str("target", logging::redact_target(tally.target));
    if (!tally.thread_key.empty()) line.str("thread_key", tally.thread_key);
    if (tally.stream) line.boolean("stream", true);
    line.emit();
}

awaitable<bool> Server::Impl::handle(std::shared_ptr<Connection> conn, bhttp::request<bhttp::string_body> msg) {
    Tally tally;
    Request req;
    req.method = std::string(msg.method_string());
    req.target = std::string(msg.target());
    const auto query_start = req.target.find('?');
    req.path = req.target.substr(0, query_start);
    for (const auto& field : msg) {
        auto name = lower_ascii(field.name_string());
        auto [it, inserted] = req.headers.try_emplace(std::move(name), std::string(field.value()));
        if (!inserted) (it->second += ", ") += field.value();
    }
    req.body = std::move(msg.body());
    req.remote_address = conn->remote_address;
    tally.method = req.method;
    tally.target = req.target;

    Response res;
    const Route* route = nullptr;
    PathParams params;
    if (req.path.empty() || req.path.front() != '/') {
        res = error_response(400, "malformed request target");
    } else if (query_start != std::string::npos &&
               !parse_query(std::string_view(req.target).substr(query_start + 1), req.query)) {
        res = error_response(400, "malformed query string");
    } else {
        auto match = router_.match(req.method, req.path);
        switch (match.outcome) {
            case Router::Outcome::not_found:
                res = error_response(404, "not found");
                break;
            case Router::Outcome::bad_path:
                res = error_response(400, "malformed percent-encoding in path");
                break;
            case Router::Outcome::method_not_allowed:
                tally.route = match.route->path_template;
                if (req.method == "OPTIONS" && cors_origin(req) && req.header("access-control-request-method")) {
                    res = Response{};
                    res.status = 204;
                    res.content_type.clear();
                    res.headers.emplace_back("Access-Control-Allow-Methods", match.allow);
                    res.headers.emplace_back("Access-Control-Allow-Headers", "Authorization, Content-Type, Last-Event-ID");
                    res.headers.emplace_back("Access-Control-Max-Age", "600");
                    break;
                }
                res = error_response(405, "method not allowed");
                res.headers.emplace_back("Allow", std::move(match.allow));
                break;
            case Router::Outcome::matched:
                route = match.route;
                params = std::move(match.params);
                tally.route = route->path_template;
                tally.counted = route->path_template != metrics_path;
                if (auto key = params.find("thread_key"); key != params.end()) tally.thread_key = key->second;
                break;
        }
    }
    if (probe_ && tally.counted) {
        probe_->in_flight_add(1);
        tally.in_flight = true;
    }

    if (route) {
        std::optional<Response> denied;
        bool failed = false;
        try {
            if (guard_) denied = guard_(req, *route, params);
        } catch (const std::exception& e) {
            spdlog::error("http: guard threw on {} {}: {}", route->method, route->path_template, e.what());
            failed = true;
        } catch (...) {
            spdlog::error("http: guard threw on {} {}", route->method, route->path_template);
            failed = true;
        }
        if (failed) {
            res = internal_error();
        } else if (denied) {
            res = std::move(*denied);
        } else {
            try {
                res = co_await route->handler(req, params);
            } catch (const std::exception& e) {
                spdlog::error("http: handler threw on {} {}: {}", route->method, route->path_template, e.what());
                failed = true;
            } catch (...) {
                spdlog::error("http: handler threw on {} {}", route->method, route->path_template);
                failed = true;
            }
            if (failed) res = internal_error();
        }
    }

    if (auto origin = cors_origin(req)) {
        res.headers.emplace_back("Access-Control-Allow-Origin", std::move(*origin));
        res.headers.emplace_back("Vary", "Origin");
    }
    if (res.stream) {
        co_await stream_response(conn, msg.version(), res, tally);
        co_return false;
    }
    if (res.status < 100 || res.status > 999) {
        spdlog::error("http: route {} answered with invalid status {}", tally.route, res.status);
        res = internal_error();
    }

    const bool keep_alive = msg.keep_alive() && !stopped_ && !conn->closed;
    const auto bytes = serialize_response(res, msg.version(), keep_alive, req.method == "HEAD");
    const auto ec = co_await write_all(*conn, bytes, options_.request_timeout);
    if (probe_) probe_->request_refused(res.status, res.body);
    finish_tally(tally, res.status);
    co_return !ec && keep_alive;
}

awaitable<void> Server::Impl::stream_response(std::shared_ptr<Connection> conn, unsigned version, Response& res,
                                              Tally& tally) {
    const bool chunked = version >= 11;
    auto head = response_head(200, version, "text/event-stream", res.headers);
    append_field(head, "Cache-Control", "no-cache");
    append_field(head, "X-Accel-Buffering", "no");
    if (version >= 11) append_field(head, "Connection", "close");  // the connection ends with the stream
    if (chunked) append_field(head, "Transfer-Encoding", "chunked");
    head += "\r\n";
    const auto ec = co_await write_all(*conn, head, options_.request_timeout);
    tally.stream = true;
    finish_tally(tally, 200);
    if (ec || conn->closed) {
        conn->close();
        co_return;
    }

    auto sse = std::make_shared<SseWriter>(conn, chunked, options_.sse_keepalive, options_.request_timeout);
    conn->sse = sse;
    sse->start();
    try {
        co_await res.stream(*sse);
    } catch (const std::exception& e) {
        spdlog::error("http: stream of {} threw: {}", tally.route, e.what());
    } catch (...) {
        spdlog::error("http: stream of {} threw", tally.route);
    }
    co_await sse->finish();
}

awaitable<void> Server::Impl::reject(std::shared_ptr<Connection> conn, const beast::error_code& ec,
                                     std::string method) {
    Response res;
    if (ec == bhttp::error::header_limit) {
        res = error_response(431, "request headers exceed " + std::to_string(options_.max_header_bytes) + " bytes");
    } else if (ec == bhttp::error::body_limit) {
        res = error_response(413, "request body exceeds " + std::to_string(options_.max_body_bytes) + " bytes");
    } else if (is_parse_error(ec)) {
        res = error_response(400, "malformed request");
    } else {
        co_return;  // timeout, peer gone or stop: nobody to answer
    }
    if (conn->closed) co_return;

    Tally tally;
    tally.method = std::move(method);
    const std::string bytes = serialize_response(res, 11, false, false);
    const auto write_ec = co_await write_all(*conn, bytes, options_.request_timeout);
    if (probe_) probe_->request_refused(res.status, res.body);
    finish_tally(tally, res.status);
    if (!write_ec) co_await lingering_close(conn);
}

awaitable<void> Server::Impl::lingering_close(std::shared_ptr<Connection> conn) {
    boost::system::error_code ignored;
    conn->stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
    conn->stream.expires_after(lingering_close_timeout);
    beast::flat_buffer discard;
    std::size_t drained = 0;
    while (!conn->closed && drained < lingering_close_max_bytes) {
        if (co_await read_some(*conn, discard)) break;
        drained += discard.size();
        discard.clear();
    }
    conn->close();
}

Server::Server(asio::io_context& io, ServerOptions options, std::vector<Route> routes, Guard guard,
               HttpProbe* probe)
    : impl_(std::make_shared<Impl>(io, std::move(options), std::move(routes), std::move(guard), probe)) {}

Server::~Server() { impl_->stop(); }

result<std::uint16_t> Server::start() { return impl_->start(); }

void Server::stop() { impl_->stop(); }

}  // namespace centaur::http
