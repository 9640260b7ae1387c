#include <centaur/slack/web_api_client.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/json.hpp>

#include <cctype>
#include <charconv>
#include <stdexcept>

namespace centaur::slack {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace json = boost::json;
using asio::awaitable;
using tcp = asio::ip::tcp;

namespace {
constexpr int http_version = 11;
constexpr std::uint64_t max_response_bytes = 8 * 1024 * 1024;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
}  // namespace

std::optional<BaseUrl> BaseUrl::parse(const std::string& url, std::string* error) {
    BaseUrl out;
    std::string rest;
    if (url.rfind("https://", 0) == 0) {
        out.tls = true;
        rest = url.substr(8);
    } else if (url.rfind("http://", 0) == 0) {
        out.tls = false;
        rest = url.substr(7);
    } else {
        if (error) *error = "must start with http:// or https://";
        return std::nullopt;
    }
    const auto slash = rest.find('/');
    std::string authority = rest.substr(0, slash);
    out.path = slash == std::string::npos ? "/" : rest.substr(slash);
    if (out.path.back() != '/') out.path.push_back('/');
    const auto colon = authority.rfind(':');
    if (colon != std::string::npos && authority.find(']') == std::string::npos) {
        out.port = authority.substr(colon + 1);
        authority = authority.substr(0, colon);
        int port = 0;
        const auto [end, ec] = std::from_chars(out.port.data(), out.port.data() + out.port.size(), port);
        if (ec != std::errc{} || end != out.port.data() + out.port.size() || port <= 0 || port > 65535) {
            if (error) *error = "has a bad port";
            return std::nullopt;
        }
    } else {
        out.port = out.tls ? "443" : "80";
    }
    if (authority.empty()) {
        if (error) *error = "has no host";
        return std::nullopt;
    }
    out.host = authority;
    return out;
}

bool takes_form_body(std::string_view method) { return method.rfind("conversations.", 0) == 0; }

std::string form_encode(const json::object& args) {
    static constexpr char hex[] = "0123456789ABCDEF";
    auto escape = [](std::string_view in, std::string& out) {
        for (const unsigned char c : in) {
            if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
                out.push_back(static_cast<char>(c));
            } else {
                out.push_back('%');
                out.push_back(hex[c >> 4]);
                out.push_back(hex[c & 0xF]);
            }
        }
    };
    std::string out;
    for (const auto& [key, value] : args) {
        if (!out.empty()) out.push_back('&');
        escape(key, out);
        out.push_back('=');
        escape(value.is_string() ? std::string(value.as_string()) : json::serialize(value), out);
    }
    return out;
}

struct WebApiSlackClient::Impl {
    asio::any_io_executor executor;
    WebApiOptions options;
    BaseUrl base;
    asio::ssl::context tls{asio::ssl::context::tls_client};

    bhttp::request<bhttp::string_body> request(const std::string& method, const json::object& args) const {
        bhttp::request<bhttp::string_body> req{bhttp::verb::post, base.path + method, http_version};
        req.set(bhttp::field::host, base.host);
        req.set(bhttp::field::user_agent, "centaur-cpp");
        req.set(bhttp::field::authorization, "Bearer " + options.bot_token);
        if (takes_form_body(method)) {
            req.set(bhttp::field::content_type, "application/x-www-form-urlencoded");
            req.body() = form_encode(args);
        } else {
            req.set(bhttp::field::content_type, "application/json; charset=utf-8");
            req.body() = json::serialize(args);
        }
        req.prepare_payload();
        return req;
    }

    static SlackResponse to_response(const bhttp::response<bhttp::string_body>& res) {
        SlackResponse out;
        out.http_status = res.result_int();
        boost::system::error_code ec;
        auto v = json::parse(res.body(), ec);
        if (!ec && v.is_object()) out.body = std::move(v.as_object());
        if (auto it = res.find(bhttp::field::retry_after); it != res.end()) {
            long seconds = 0;
            const auto text = it->value();
            const auto [end, e] = std::from_chars(text.data(), text.data() + text.size(), seconds);
            if (e == std::errc{} && seconds >= 0) out.retry_after = std::chrono::seconds(seconds);
        }
        return out;
    }

    template <typename Stream>
    awaitable<result<SlackResponse>> exchange(Stream& stream, bhttp::request<bhttp::string_body> req) {
        auto [write_ec, written] = co_await bhttp::async_write(stream, req, use_tuple);
        if (write_ec) co_return result<SlackResponse>(write_ec);
        beast::flat_buffer buffer;
        bhttp::response_parser<bhttp::string_body> parser;
        parser.body_limit(max_response_bytes);
        auto [read_ec, read] = co_await bhttp::async_read(stream, buffer, parser, use_tuple);
        if (read_ec) co_return result<SlackResponse>(read_ec);
        co_return to_response(parser.get());
    }

    awaitable<result<SlackResponse>> call(std::string method, json::object args) {
        tcp::resolver resolver(executor);
        auto [resolve_ec, endpoints] = co_await resolver.async_resolve(base.host, base.port, use_tuple);
        if (resolve_ec) co_return result<SlackResponse>(resolve_ec);
        auto req = request(method, args);
        if (!base.tls) {
            beast::tcp_stream stream(executor);
            stream.expires_after(options.timeout);
            auto [connect_ec, ep] = co_await stream.async_connect(endpoints, use_tuple);
            if (connect_ec) co_return result<SlackResponse>(connect_ec);
            auto r = co_await exchange(stream, std::move(req));
            boost::system::error_code ignored;
            stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
            co_return r;
        }
        beast::ssl_stream<beast::tcp_stream> stream(executor, tls);
        if (!SSL_set_tlsext_host_name(stream.native_handle(), base.host.c_str()))
            co_return result<SlackResponse>(boost::system::error_code(static_cast<int>(::ERR_get_error()),
                                                                      asio::error::get_ssl_category()));
        stream.set_verify_callback(asio::ssl::host_name_verification(base.host));
        beast::get_lowest_layer(stream).expires_after(options.timeout);
        auto [connect_ec, ep] = co_await beast::get_lowest_layer(stream).async_connect(endpoints, use_tuple);
        if (connect_ec) co_return result<SlackResponse>(connect_ec);
        auto [hs_ec] = co_await stream.async_handshake(asio::ssl::stream_base::client, use_tuple);
        if (hs_ec) co_return result<SlackResponse>(hs_ec);
        auto r = co_await exchange(stream, std::move(req));
        auto [shutdown_ec] = co_await stream.async_shutdown(use_tuple);  // peers often skip close_notify
        (void)shutdown_ec;
        co_return r;
    }
};

WebApiSlackClient::WebApiSlackClient(asio::any_io_executor executor, WebApiOptions options)
    : impl_(std::make_shared<Impl>()) {
    std::string error;
    auto base = BaseUrl::parse(options.base_url, &error);
    if (!base) throw std::invalid_argument("SLACK_API_URL " + error + ": '" + options.base_url + "'");
    impl_->executor = std::move(executor);
    impl_->options = std::move(options);
    impl_->base = std::move(*base);
    impl_->tls.set_default_verify_paths();
    impl_->tls.set_verify_mode(asio::ssl::verify_peer);
}

WebApiSlackClient::~WebApiSlackClient() = default;

awaitable<result<SlackResponse>> WebApiSlackClient::call(std::string method, json::object args) {
    return impl_->call(std::move(method), std::move(args));
}

}  // namespace centaur::slack
