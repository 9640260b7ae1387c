#include "api_client.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/json.hpp>

#include <array>
#include <cctype>

namespace centaur::cli {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
namespace ssl = asio::ssl;
using asio::use_awaitable;

std::string url_encode_component(std::string_view text) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : text) {
        const bool keep = std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '!' || c == '~' ||
                          c == '*' || c == '\'' || c == '(' || c == ')';
        if (keep) {
            out.push_back(static_cast<char>(c));
        } else {
            out.push_back('%');
            out.push_back(kHex[c >> 4]);
            out.push_back(kHex[c & 15]);
        }
    }
    return out;
}

ApiClient::ApiClient(std::string base_url, std::string token) : base_url_(base_url), token_(std::move(token)) {
    std::string_view rest(base_url);
    std::string default_port = "80";
    if (rest.rfind("https://", 0) == 0) {
        tls_ = true;
        default_port = "443";
        rest.remove_prefix(std::string_view("https://").size());
    } else {
        rest.remove_prefix(std::string_view("http://").size());
    }
    auto slash = rest.find('/');
    std::string_view authority = rest.substr(0, slash);
    if (slash != std::string_view::npos) prefix_ = std::string(rest.substr(slash));
    if (!authority.empty() && authority.front() == '[') {  // [v6]:port
        auto close = authority.find(']');
        host_ = std::string(authority.substr(1, close - 1));
        auto after = authority.substr(close + 1);
        port_ = after.size() > 1 && after.front() == ':' ? std::string(after.substr(1)) : default_port;
    } else if (auto colon = authority.rfind(':'); colon != std::string_view::npos) {
        host_ = std::string(authority.substr(0, colon));
        port_ = std::string(authority.substr(colon + 1));
    } else {
        host_ = std::string(authority);
        port_ = default_port;
    }
    if (tls_) {
        // The system CA store (OpenSSL honours SSL_CERT_FILE / SSL_CERT_DIR), peer and host name verified.
        tls_context_ = std::make_shared<ssl::context>(ssl::context::tls_client);
        tls_context_->set_default_verify_paths();
        tls_context_->set_verify_mode(ssl::verify_peer);
        tls_context_->set_verify_callback(ssl::host_name_verification(host_));
    }
}

namespace {

using TlsStream = ssl::stream<beast::tcp_stream>;

/// Connects within `timeout`; a failure throws one line naming the server: "cannot reach <url>: <why>".
asio::awaitable<void> connect(beast::tcp_stream& stream, const std::string& host, const std::string& port,
                              std::chrono::milliseconds timeout, const std::string& base_url) {
    asio::ip::tcp::resolver resolver(co_await asio::this_coro::executor);
    auto [resolve_error, endpoints] =
        co_await resolver.async_resolve(host, port, asio::as_tuple(use_awaitable));
    if (resolve_error) throw std::runtime_error("cannot reach " + base_url + ": " + resolve_error.message());
    stream.expires_after(timeout);
    auto [connect_error, endpoint] = co_await stream.async_connect(endpoints, asio::as_tuple(use_awaitable));
    (void)endpoint;
    if (connect_error) throw std::runtime_error("cannot reach " + base_url + ": " + connect_error.message());
}

/// TLS client handshake with SNI; a failure (bad certificate, wrong host) throws one line naming the server.
asio::awaitable<void> handshake(TlsStream& stream, const std::string& host, std::chrono::milliseconds timeout,
                                const std::string& base_url) {
    if (!SSL_set_tlsext_host_name(stream.native_handle(), host.c_str()))
        throw std::runtime_error("cannot reach " + base_url + ": cannot set the TLS server name");
    beast::get_lowest_layer(stream).expires_after(timeout);
    auto [ec] = co_await stream.async_handshake(ssl::stream_base::client, asio::as_tuple(use_awaitable));
    if (ec) throw std::runtime_error("cannot reach " + base_url + ": TLS handshake failed: " + ec.message());
}

template <class Stream>
asio::awaitable<json::value> exchange_json(Stream& stream, http::request<http::string_body>& req,
                                           std::chrono::milliseconds timeout, const std::string& path) {
    beast::get_lowest_layer(stream).expires_after(timeout);
    co_await http::async_write(stream, req, use_awaitable);
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    co_await http::async_read(stream, buffer, parser, use_awaitable);
    auto& res = parser.get();
    beast::error_code ignored;
    beast::get_lowest_layer(stream).socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    const int status = res.result_int();
    if (status < 200 || status > 299) throw HttpError(status, res.body());
    json::error_code ec;
    auto parsed = json::parse(res.body(), ec);
    if (ec) throw std::runtime_error("invalid JSON from " + path + ": " + ec.message());
    co_return parsed;
}

bool stream_ended(const beast::error_code& ec) {
    return ec == http::error::end_of_stream || ec == asio::error::eof || ec == ssl::error::stream_truncated;
}

template <class Stream>
asio::awaitable<void> read_event_stream(Stream& stream, http::request<http::empty_body>& req,
                                        std::chrono::milliseconds request_timeout,
                                        std::chrono::milliseconds idle_timeout,
                                        const std::function<bool(std::string_view)>& on_bytes) {
    beast::get_lowest_layer(stream).expires_after(request_timeout);
    co_await http::async_write(stream, req, use_awaitable);

    beast::flat_buffer buffer;
    http::response_parser<http::buffer_body> parser;
    parser.body_limit(boost::none);
    co_await http::async_read_header(stream, buffer, parser, use_awaitable);
    const int status = parser.get().result_int();
    std::array<char, 16384> chunk;
    if (status != 200) {
        std::string body;
        while (!parser.is_done() && body.size() < 65536) {
            parser.get().body().data = chunk.data();
            parser.get().body().size = chunk.size();
            auto [ec, n] = co_await http::async_read_some(stream, buffer, parser, asio::as_tuple(use_awaitable));
            (void)n;
            if (ec && ec != http::error::need_buffer) break;
            body.append(chunk.data(), chunk.size() - parser.get().body().size);
        }
        throw HttpError(status, body);
    }
    while (!parser.is_done()) {
        parser.get().body().data = chunk.data();
        parser.get().body().size = chunk.size();
        beast::get_lowest_layer(stream).expires_after(idle_timeout);
        auto [ec, n] = co_await http::async_read_some(stream, buffer, parser, asio::as_tuple(use_awaitable));
        (void)n;
        if (stream_ended(ec)) co_return;
        if (ec && ec != http::error::need_buffer) throw beast::system_error(ec);
        const std::size_t got = chunk.size() - parser.get().body().size;
        if (got > 0 && !on_bytes(std::string_view(chunk.data(), got))) co_return;
    }
}

}  // namespace

template <class Request>
void ApiClient::set_common_headers(Request& req, const char* accept) const {
    req.set(http::field::host, host_ + ":" + port_);
    req.set(http::field::accept, accept);
    req.set(http::field::user_agent, "centaur-session-cli");
    if (!token_.empty()) req.set(http::field::authorization, "Bearer " + token_);
}

asio::awaitable<json::value> ApiClient::post(std::string path, json::value body) {
    beast::tcp_stream tcp(co_await asio::this_coro::executor);
    co_await connect(tcp, host_, port_, request_timeout, base_url_);

    http::request<http::string_body> req{http::verb::post, prefix_ + path, 11};
    set_common_headers(req, "application/json");
    req.set(http::field::content_type, "application/json");
    req.body() = json::serialize(body);
    req.prepare_payload();
    if (!tls_) co_return co_await exchange_json(tcp, req, request_timeout, path);
    TlsStream tls(std::move(tcp), *tls_context_);
    co_await handshake(tls, host_, request_timeout, base_url_);
    co_return co_await exchange_json(tls, req, request_timeout, path);
}

asio::awaitable<void> ApiClient::stream(std::string path, std::optional<std::string> last_event_id,
                                        std::function<bool(std::string_view)> on_bytes) {
    beast::tcp_stream tcp(co_await asio::this_coro::executor);
    co_await connect(tcp, host_, port_, request_timeout, base_url_);

    http::request<http::empty_body> req{http::verb::get, prefix_ + path, 11};
    set_common_headers(req, "text/event-stream");
    req.set(http::field::cache_control, "no-cache");
    if (last_event_id) req.set("Last-Event-ID", *last_event_id);
    if (!tls_) {
        co_await read_event_stream(tcp, req, request_timeout, stream_idle_timeout, on_bytes);
        co_return;
    }
    TlsStream tls(std::move(tcp), *tls_context_);
    co_await handshake(tls, host_, request_timeout, base_url_);
    co_await read_event_stream(tls, req, request_timeout, stream_idle_timeout, on_bytes);
}

}  // namespace centaur::cli
