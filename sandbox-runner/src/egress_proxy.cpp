#include "egress_proxy.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/write.hpp>
#include <openssl/err.h>

#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <optional>
#include <sstream>
#include <tuple>

namespace asio = boost::asio;
using asio::local::stream_protocol;
using tcp = asio::ip::tcp;

namespace centaur::sandbox {
namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t max_head_bytes = 64 * 1024;
constexpr std::size_t pipe_chunk = 16 * 1024;
constexpr mode_t socket_mode = 0666;

struct Target {
    std::string host;
    std::string port = "80";
    std::string path = "/";
    bool tls = false;
};

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

/// `http://host[:port][/path]` (and `https://…` when `allow_tls`) -> target; nullopt for anything else.
std::optional<Target> parse_http_url(const std::string& url, bool allow_tls = false) {
    constexpr std::string_view plain = "http://";
    constexpr std::string_view secure = "https://";
    Target t;
    std::string rest;
    if (lower(url.substr(0, plain.size())) == plain) {
        rest = url.substr(plain.size());
    } else if (allow_tls && lower(url.substr(0, secure.size())) == secure) {
        rest = url.substr(secure.size());
        t.tls = true;
        t.port = "443";
    } else {
        return std::nullopt;
    }
    const auto slash = rest.find('/');
    const std::string authority = rest.substr(0, slash);
    t.path = slash == std::string::npos ? "/" : rest.substr(slash);
    const auto colon = authority.rfind(':');
    if (colon != std::string::npos) {
        t.host = authority.substr(0, colon);
        t.port = authority.substr(colon + 1);
    } else {
        t.host = authority;
    }
    if (t.host.empty() || t.port.empty() || t.port.find_first_not_of("0123456789") != std::string::npos)
        return std::nullopt;
    t.host = lower(t.host);
    return t;
}

struct Decision {
    bool allowed = false;
    std::string why;           ///< refusal reason (logged and sent back)
    Target upstream;           ///< where to connect
    std::string head;          ///< the rewritten request head to send upstream
    bool model = false;
};

/// Decides on one request head and rewrites it. Pure: no I/O.
Decision decide(const std::string& head, const EgressOptions& options) {
    Decision d;
    std::istringstream in(head);
    std::string request_line;
    std::getline(in, request_line);
    if (!request_line.empty() && request_line.back() == '\r') request_line.pop_back();
    std::istringstream parts(request_line);
    std::string method, target, version;
    parts >> method >> target >> version;
    if (method == "CONNECT") {
        d.why = "CONNECT " + target + " refused (tunnels are never allowed)";
        return d;
    }
    auto parsed = parse_http_url(target);
    if (!parsed) {
        d.why = method + " " + target.substr(0, 200) + " refused (only absolute http:// URLs through the proxy)";
        return d;
    }
    const std::string authority = parsed->host + ":" + parsed->port;
    if (parsed->host == options.model_host && !options.model_upstream.empty()) {
        auto upstream = parse_http_url(options.model_upstream, true);
        if (!upstream) {
            d.why = "model upstream is not an http:// or https:// URL";
            return d;
        }
        d.model = true;
        d.upstream = *upstream;
        std::string base = upstream->path == "/" ? "" : upstream->path;
        if (!base.empty() && base.back() == '/') base.pop_back();
        d.upstream.path = base + parsed->path;
    } else if (std::find(options.allowed_hosts.begin(), options.allowed_hosts.end(), parsed->host) !=
                   options.allowed_hosts.end() ||
               std::find(options.allowed_hosts.begin(), options.allowed_hosts.end(), authority) !=
                   options.allowed_hosts.end()) {
        d.upstream = *parsed;
    } else {
        d.why = method + " http://" + authority + " refused (host not allowed)";
        return d;
    }
    std::string out = method + " " + d.upstream.path + " " + (version.empty() ? "HTTP/1.1" : version) + "\r\n";
    const bool default_port = d.upstream.port == (d.upstream.tls ? "443" : "80");
    out += "Host: " + d.upstream.host + (default_port ? "" : ":" + d.upstream.port) + "\r\n";
    for (std::string line; std::getline(in, line);) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.empty()) break;
        const auto colon = line.find(':');
        if (colon == std::string::npos) continue;
        const std::string name = lower(line.substr(0, colon));
        if (name == "host" || name == "connection" || name == "proxy-connection" || name == "keep-alive" ||
            name.rfind("proxy-", 0) == 0)
            continue;
        if (d.model && name == "authorization" && !options.placeholder.empty()) {
            const auto at = line.find(options.placeholder, colon);
            if (at != std::string::npos) line.replace(at, options.placeholder.size(), options.model_key);
        }
        out += line + "\r\n";
    }
    out += "Connection: close\r\n\r\n";
    d.head = std::move(out);
    d.allowed = true;
    return d;
}

std::string refusal(const std::string& why) {
    const std::string body = "centaur egress: " + why + "\n";
    return "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: " + std::to_string(body.size()) +
           "\r\nConnection: close\r\n\r\n" + body;
}

std::string bad_gateway(const std::string& why) {
    const std::string body = "centaur egress: " + why + "\n";
    return "HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain\r\nContent-Length: " + std::to_string(body.size()) +
           "\r\nConnection: close\r\n\r\n" + body;
}

/// One proxied connection; shared by its two copy directions so neither outlives the sockets.
struct Connection {
    Connection(stream_protocol::socket c, asio::any_io_executor ex) : client(std::move(c)), upstream(std::move(ex)) {}
    stream_protocol::socket client;
    tcp::socket upstream;
    std::optional<asio::ssl::stream<tcp::socket&>> tls;  ///< over `upstream` for https upstreams
};

/// Copies one direction until EOF or an error, then half-closes the receiving side's sending half.
asio::awaitable<void> copy_direction(std::shared_ptr<Connection> conn, bool to_upstream) {
    std::array<char, pipe_chunk> buffer{};
    boost::system::error_code ignored;
    for (;;) {
        boost::system::error_code ec;
        std::size_t n = 0;
        auto space = asio::buffer(buffer);
        if (to_upstream)
            std::tie(ec, n) = co_await conn->client.async_read_some(space, use_tuple);
        else if (conn->tls)
            std::tie(ec, n) = co_await conn->tls->async_read_some(space, use_tuple);
        else
            std::tie(ec, n) = co_await conn->upstream.async_read_some(space, use_tuple);
        if (n > 0) {
            auto chunk = asio::buffer(buffer.data(), n);
            boost::system::error_code wec;
            std::size_t written = 0;
            if (to_upstream && conn->tls)
                std::tie(wec, written) = co_await asio::async_write(*conn->tls, chunk, use_tuple);
            else if (to_upstream)
                std::tie(wec, written) = co_await asio::async_write(conn->upstream, chunk, use_tuple);
            else
                std::tie(wec, written) = co_await asio::async_write(conn->client, chunk, use_tuple);
            if (wec) break;
        }
        if (ec) break;
    }
    if (to_upstream && !conn->tls)  // a TLS stream cannot half-close; the response side ends it
        conn->upstream.shutdown(tcp::socket::shutdown_send, ignored);
    else if (to_upstream)
        co_return;
    else
        conn->client.shutdown(stream_protocol::socket::shutdown_send, ignored);
}

}  // namespace

EgressProxy::EgressProxy(asio::any_io_executor executor, EgressOptions options, std::string sandbox_id)
    : executor_(executor),
      options_(std::move(options)),
      sandbox_id_(std::move(sandbox_id)),
      acceptor_(executor),
      tls_context_(asio::ssl::context::tls_client) {
    tls_context_.set_verify_mode(asio::ssl::verify_peer);
    boost::system::error_code ec;
    if (options_.upstream_ca_file.empty())
        tls_context_.set_default_verify_paths(ec);
    else
        tls_context_.load_verify_file(options_.upstream_ca_file, ec);
    if (ec) spdlog::warn("sandbox {} egress: TLS trust store: {}", sandbox_id_, ec.message());
}

result<void> EgressProxy::start(const std::filesystem::path& socket_path) {
    boost::system::error_code ec;
    std::filesystem::remove(socket_path);
    stream_protocol::endpoint endpoint(socket_path.string());
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return ec;
    ::chmod(socket_path.c_str(), socket_mode);  // the sandbox uid connects
    asio::co_spawn(executor_, accept_loop(), [](std::exception_ptr e) {
        if (e) std::rethrow_exception(e);
    });
    return {};
}

void EgressProxy::stop() {
    stopped_ = true;
    boost::system::error_code ignored;
    acceptor_.close(ignored);
}

asio::awaitable<void> EgressProxy::accept_loop() {
    auto self = shared_from_this();
    while (!stopped_) {
        auto [ec, client] = co_await acceptor_.async_accept(use_tuple);
        if (ec) co_return;
        asio::co_spawn(executor_, serve(std::move(client)), [](std::exception_ptr e) {
            if (e) std::rethrow_exception(e);
        });
    }
}

asio::awaitable<void> EgressProxy::serve(stream_protocol::socket client) {
    auto self = shared_from_this();
    std::string buffer;
    auto [ec, head_length] =
        co_await asio::async_read_until(client, asio::dynamic_buffer(buffer, max_head_bytes), "\r\n\r\n", use_tuple);
    if (ec) co_return;
    const Decision d = decide(buffer.substr(0, head_length), options_);
    const std::string rest = buffer.substr(head_length);  // body bytes already read
    if (!d.allowed) {
        ++refused_;
        spdlog::warn("sandbox {} egress: {} (refused so far: {})", sandbox_id_, d.why, refused_.load());
        const std::string answer = refusal(d.why);
        co_await asio::async_write(client, asio::buffer(answer), use_tuple);
        co_return;
    }
    tcp::resolver resolver(executor_);
    auto [rec, endpoints] = co_await resolver.async_resolve(d.upstream.host, d.upstream.port, use_tuple);
    auto conn = std::make_shared<Connection>(std::move(client), executor_);
    boost::system::error_code cec = rec;
    if (!rec) {
        auto [connect_ec, endpoint] = co_await asio::async_connect(conn->upstream, endpoints, use_tuple);
        cec = connect_ec;
    }
    if (cec) {
        spdlog::warn("sandbox {} egress: upstream {}:{} unreachable: {}", sandbox_id_, d.upstream.host,
                     d.upstream.port, cec.message());
        const std::string answer = bad_gateway("upstream unreachable");
        co_await asio::async_write(conn->client, asio::buffer(answer), use_tuple);
        co_return;
    }
    if (d.upstream.tls) {
        conn->tls.emplace(conn->upstream, tls_context_);
        if (!SSL_set_tlsext_host_name(conn->tls->native_handle(), d.upstream.host.c_str()))
            cec = boost::system::error_code(static_cast<int>(::ERR_get_error()), asio::error::get_ssl_category());
        conn->tls->set_verify_callback(asio::ssl::host_name_verification(d.upstream.host));
        if (!cec) {
            auto [handshake_ec] = co_await conn->tls->async_handshake(asio::ssl::stream_base::client, use_tuple);
            cec = handshake_ec;
        }
        if (cec) {
            spdlog::warn("sandbox {} egress: TLS to {}:{} failed: {}", sandbox_id_, d.upstream.host, d.upstream.port,
                         cec.message());
            const std::string answer = bad_gateway("TLS to the upstream failed");
            co_await asio::async_write(conn->client, asio::buffer(answer), use_tuple);
            co_return;
        }
    }
    ++allowed_;
    spdlog::info("sandbox {} egress: {} {}:{}{}", sandbox_id_, d.model ? "model gateway ->" : "allowed",
                 d.upstream.host, d.upstream.port, d.upstream.path);
    const std::string head = d.head + rest;
    boost::system::error_code wec;
    std::size_t written = 0;
    if (conn->tls)
        std::tie(wec, written) = co_await asio::async_write(*conn->tls, asio::buffer(head), use_tuple);
    else
        std::tie(wec, written) = co_await asio::async_write(conn->upstream, asio::buffer(head), use_tuple);
    if (wec) co_return;
    // Both directions until each ends; the response side decides when the client is done.
    asio::co_spawn(executor_, copy_direction(conn, true), [](std::exception_ptr) {});
    co_await copy_direction(conn, false);
    boost::system::error_code ignored;
    conn->client.close(ignored);
    conn->upstream.close(ignored);
}

}  // namespace centaur::sandbox
