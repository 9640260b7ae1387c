// The only TU of this library that includes Beast (heavy to compile); the header stays std-only.
#include <centaur/test_support/http_client.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <cctype>
#include <stdexcept>
#include <thread>

namespace centaur::test_support {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

constexpr std::uint64_t max_response_body = 256ull * 1024 * 1024;
constexpr int http_version_11 = 11;
constexpr auto poll_interval = std::chrono::milliseconds(50);
constexpr auto max_attempt_timeout = std::chrono::seconds(2);

struct ParsedUrl {
    std::string host;
    std::string port;
    std::string target;
};

ParsedUrl parse_url(const std::string& url) {
    const std::string scheme = "http://";
    if (url.rfind(scheme, 0) != 0) throw std::runtime_error("only http:// URLs are supported");
    const auto rest = url.substr(scheme.size());
    const auto slash = rest.find_first_of("/?");
    const auto authority = rest.substr(0, slash);
    ParsedUrl out;
    out.target = slash == std::string::npos ? "/" : rest.substr(slash);
    if (out.target.front() == '?') out.target.insert(0, "/");
    std::string host_port = authority;
    if (!host_port.empty() && host_port.front() == '[') {  // [v6]:port
        const auto close = host_port.find(']');
        if (close == std::string::npos) throw std::runtime_error("bad IPv6 host");
        out.host = host_port.substr(1, close - 1);
        out.port = close + 1 < host_port.size() && host_port[close + 1] == ':' ? host_port.substr(close + 2) : "80";
    } else if (const auto colon = host_port.rfind(':'); colon != std::string::npos) {
        out.host = host_port.substr(0, colon);
        out.port = host_port.substr(colon + 1);
    } else {
        out.host = host_port;
        out.port = "80";
    }
    if (out.host.empty() || out.port.empty()) throw std::runtime_error("missing host or port");
    return out;
}

asio::awaitable<void> exchange(ParsedUrl url, http::request<http::string_body> req,
                               std::chrono::milliseconds timeout, HttpResponse& out) {
    auto executor = co_await asio::this_coro::executor;
    tcp::resolver resolver(executor);
    beast::tcp_stream stream(executor);
    stream.expires_after(timeout);  // one deadline for connect, write and read together
    const auto endpoints = co_await resolver.async_resolve(url.host, url.port, asio::use_awaitable);
    co_await stream.async_connect(endpoints, asio::use_awaitable);
    co_await http::async_write(stream, req, asio::use_awaitable);
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(max_response_body);
    co_await http::async_read(stream, buffer, parser, asio::use_awaitable);
    auto& res = parser.get();
    out.status = static_cast<int>(res.result_int());
    out.body = std::move(res.body());
    for (const auto& field : res) {
        std::string name(field.name_string());
        std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
        auto [it, inserted] = out.headers.emplace(name, std::string(field.value()));
        if (!inserted) it->second += ", " + std::string(field.value());
    }
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
}

}  // namespace

HttpResponse http_request(const std::string& method, const std::string& url, const std::string& body,
                          const std::map<std::string, std::string>& headers, std::chrono::milliseconds timeout) {
    const auto context = "http_request " + method + " " + url + ": ";
    try {
        auto parsed = parse_url(url);
        const auto verb = http::string_to_verb(method);
        if (verb == http::verb::unknown) throw std::runtime_error("unknown method");

        http::request<http::string_body> req{verb, parsed.target, http_version_11};
        req.set(http::field::host, parsed.host + ":" + parsed.port);
        req.set(http::field::user_agent, "centaur-test-support");
        req.keep_alive(false);
        bool has_content_type = false;
        for (const auto& [name, value] : headers) {
            req.set(name, value);
            if (beast::iequals(name, "content-type")) has_content_type = true;
        }
        if (!body.empty() && !has_content_type) req.set(http::field::content_type, "application/json");
        req.body() = body;
        req.prepare_payload();

        asio::io_context ioc;
        HttpResponse out;
        std::exception_ptr error;
        bool done = false;
        asio::co_spawn(ioc, exchange(std::move(parsed), std::move(req), timeout, out), [&](std::exception_ptr e) {
            error = e;
            done = true;
        });
        // The stream's deadline ends a slow exchange; this bound also covers a hanging name lookup.
        ioc.run_for(timeout + std::chrono::seconds(1));
        if (!done) throw std::runtime_error("timed out");
        if (error) std::rethrow_exception(error);
        return out;
    } catch (const beast::system_error& e) {
        if (e.code() == beast::error::timeout) throw std::runtime_error(context + "timed out");
        throw std::runtime_error(context + e.code().message());
    } catch (const std::exception& e) {
        throw std::runtime_error(context + e.what());
    }
}

bool wait_http_ok(const std::string& url, std::chrono::milliseconds timeout) {
    using clock = std::chrono::steady_clock;
    const auto deadline = clock::now() + timeout;
    while (true) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
        if (left.count() <= 0) return false;
        try {
            if (http_request("GET", url, "", {}, std::min<std::chrono::milliseconds>(left, max_attempt_timeout))
                    .status == 200)
                return true;
        } catch (const std::exception&) {
            // not up yet
        }
        std::this_thread::sleep_for(poll_interval);
    }
}

}  // namespace centaur::test_support
