// The server over real sockets on 127.0.0.1 (port 0), with a raw-socket client so every byte on the wire is
// checked. The io_context runs on a background thread; every wait is bounded.

#include <centaur/http/probe.hpp>
#include <centaur/http/server.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>
#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <future>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>

namespace centaur::http {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using asio::awaitable;

constexpr auto wait_bound = 5s;

/// Minimal blocking HTTP/1.1 client over a POSIX socket. Every read has a deadline of `wait_bound`.
class Client {
public:
    struct Reply {
        int status = 0;
        std::map<std::string, std::string> headers;  ///< lower-case names
        std::string body;
    };

    explicit Client(std::uint16_t port) {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        if (fd_ < 0) throw std::runtime_error("socket failed");
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(port);
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
            throw std::runtime_error("connect failed");
    }
    ~Client() { close(); }
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    void close() {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }

    bool send(std::string_view data) {
        while (!data.empty()) {
            const auto n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
            if (n <= 0) return false;
            data.remove_prefix(static_cast<std::size_t>(n));
        }
        return true;
    }

    /// Bytes up to and including `delim`; nullopt on EOF, error or timeout.
    std::optional<std::string> read_until(std::string_view delim) {
        const auto deadline = std::chrono::steady_clock::now() + wait_bound;
        for (;;) {
            if (auto pos = buf_.find(delim); pos != std::string::npos) {
                auto out = buf_.substr(0, pos + delim.size());
                buf_.erase(0, pos + delim.size());
                return out;
            }
            if (!fill(deadline)) return std::nullopt;
        }
    }

    std::optional<std::string> read_exact(std::size_t n) {
        const auto deadline = std::chrono::steady_clock::now() + wait_bound;
        while (buf_.size() < n)
            if (!fill(deadline)) return std::nullopt;
        auto out = buf_.substr(0, n);
        buf_.erase(0, n);
        return out;
    }

    /// Status line and headers of a response.
    std::optional<Reply> read_head() {
        auto head = read_until("\r\n\r\n");
        if (!head) return std::nullopt;
        Reply reply;
        std::size_t line_end = head->find("\r\n");
        const auto status_line = head->substr(0, line_end);
        if (status_line.size() < 12 || status_line.substr(0, 5) != "HTTP/") return std::nullopt;
        reply.status = std::stoi(status_line.substr(9, 3));
        std::size_t pos = line_end + 2;
        while (pos < head->size() - 2) {
            const auto end = head->find("\r\n", pos);
            const auto line = head->substr(pos, end - pos);
            const auto colon = line.find(':');
            std::string name = line.substr(0, colon);
            for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            auto value = line.substr(colon + 1);
            while (!value.empty() && value.front() == ' ') value.erase(0, 1);
            reply.headers[name] = value;
            pos = end + 2;
        }
        return reply;
    }

    /// One whole response with a Content-Length body.
    std::optional<Reply> read_response() {
        auto reply = read_head();
        if (!reply) return std::nullopt;
        const auto length = reply->headers.find("content-length");
        if (length == reply->headers.end()) return std::nullopt;
        auto body = read_exact(std::stoul(length->second));
        if (!body) return std::nullopt;
        reply->body = std::move(*body);
        return reply;
    }

    /// The payload of one chunk of a chunked body ("" for the last chunk).
    std::optional<std::string> read_chunk() {
        auto size_line = read_until("\r\n");
        if (!size_line) return std::nullopt;
        const auto size = std::stoul(*size_line, nullptr, 16);
        auto payload = read_exact(size + 2);
        if (!payload || payload->substr(size) != "\r\n") return std::nullopt;
        payload->resize(size);
        return payload;
    }

    /// True once the server closed the connection (EOF or reset) within the bound; unread data is discarded.
    bool wait_closed() {
        const auto deadline = std::chrono::steady_clock::now() + wait_bound;
        for (;;) {
            buf_.clear();
            const auto r = poll_in(deadline);
            if (r == PollResult::timeout) return false;
            char tmp[4096];
            const auto n = ::recv(fd_, tmp, sizeof tmp, 0);
            if (n <= 0) return true;
        }
    }

private:
    enum class PollResult { ready, timeout };

    PollResult poll_in(std::chrono::steady_clock::time_point deadline) {
        for (;;) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline -
                                                                                    std::chrono::steady_clock::now());
            if (left.count() <= 0) return PollResult::timeout;
            pollfd p{fd_, POLLIN, 0};
            const int r = ::poll(&p, 1, static_cast<int>(left.count()));
            if (r > 0) return PollResult::ready;
            if (r == 0) return PollResult::timeout;
            if (errno != EINTR) return PollResult::ready;  // let recv report the error
        }
    }

    bool fill(std::chrono::steady_clock::time_point deadline) {
        if (poll_in(deadline) == PollResult::timeout) return false;
        char tmp[16384];
        const auto n = ::recv(fd_, tmp, sizeof tmp, 0);
        if (n <= 0) return false;
        buf_.append(tmp, static_cast<std::size_t>(n));
        return true;
    }

    int fd_ = -1;
    std::string buf_;
};

std::string get(std::string_view target, std::string_view extra_headers = "") {
    return "GET " + std::string(target) + " HTTP/1.1\r\nHost: t\r\n" + std::string(extra_headers) + "\r\n";
}

std::string post(std::string_view target, std::string_view body) {
    return "POST " + std::string(target) + " HTTP/1.1\r\nHost: t\r\nContent-Length: " + std::to_string(body.size()) +
           "\r\n\r\n" + std::string(body);
}

/// A route whose handler is a plain function.
Route route(std::string method, std::string path_template, std::function<Response(const Request&, const PathParams&)> fn,
            Capability capability = Capability::none) {
    return Route{std::move(method), std::move(path_template), capability,
                 [fn = std::move(fn)](const Request& req, const PathParams& params) -> awaitable<Response> {
                     co_return fn(req, params);
                 }};
}

/// A GET route that streams with `fn`.
Route sse_route(std::string path_template, std::function<awaitable<void>(SseStream&)> fn) {
    return Route{"GET", std::move(path_template), Capability::none,
                 [fn = std::move(fn)](const Request&, const PathParams&) -> awaitable<Response> {
                     Response res;
                     res.stream = fn;
                     co_return res;
                 }};
}

/// Suspends the calling stream function until `sse` closes.
awaitable<void> until_closed(SseStream& sse) {
    auto timer = std::make_shared<asio::steady_timer>(co_await asio::this_coro::executor,
                                                      asio::steady_timer::time_point::max());
    sse.on_close([timer] { timer->cancel(); });
    while (sse.open()) co_await timer->async_wait(asio::as_tuple(asio::use_awaitable));
}

class ServerTest : public ::testing::Test {
protected:
    void start(std::vector<Route> routes, ServerOptions options = {}, Guard guard = {}, HttpProbe* probe = nullptr) {
        options.port = 0;
        server_ = std::make_unique<Server>(io_, options, std::move(routes), std::move(guard), probe);
        auto port = server_->start();
        ASSERT_TRUE(port) << port.error().message();
        port_ = *port;
        runner_ = std::async(std::launch::async, [this] { io_.run(); });
    }

    /// Stops the server on its thread and requires the io_context to run out of work (no leaked timers or
    /// coroutines).
    void stop_and_drain() {
        if (!server_ || drained_) return;
        drained_ = true;
        asio::post(io_, [this] { server_->stop(); });
        if (runner_.wait_for(wait_bound) != std::future_status::ready) {
            io_.stop();
            runner_.wait();
            ADD_FAILURE() << "the io_context still had work " << wait_bound.count() << " s after stop()";
        }
    }

    void TearDown() override { stop_and_drain(); }

    Client connect() { return Client(port_); }

    // Declared before io_ and server_: the probe must outlive the server's last connection.
    prometheus::Registry registry_;
    HttpProbe probe_{registry_};
    asio::io_context io_;
    std::unique_ptr<Server> server_;
    std::future<void> runner_;
    std::uint16_t port_ = 0;
    bool drained_ = false;
};

const std::string not_found_body = R"({"ok":false,"error":"not found"})";
const std::string internal_error_body = R"({"ok":false,"error":"internal server error"})";

Response echo(const Request& req, const PathParams& params) {
    boost::json::object o;
    for (const auto& [k, v] : params) o["param:" + k] = v;
    for (const auto& [k, v] : req.query) o["query:" + k] = v;
    if (auto h = req.header("x-test")) o["header"] = *h;
    o["method"] = req.method;
    o["path"] = req.path;
    o["body_size"] = req.body.size();
    o["remote"] = req.remote_address;
    return json_response(o);
}

/// A string member of a JSON object body ("" when absent).
std::string field(const std::string& body, const char* key) {
    const auto parsed = boost::json::parse(body);
    const auto& o = parsed.as_object();
    auto it = o.find(key);
    return it == o.end() ? std::string() : std::string(it->value().as_string());
}

TEST_F(ServerTest, RoutesToHandlerWithDecodedParamsQueryAndHeaders) {
    start({route("GET", "/api/session/{thread_key}/events", echo)});
    auto c = connect();
    ASSERT_TRUE(c.send(get("/api/session/slack%3AC1%3A1.2/events?after_event_id=7&q=a+b%20c", "X-Test: yes\r\n")));
    auto r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->headers["content-type"], "application/json");
    EXPECT_EQ(field(r->body, "param:thread_key"), "slack:C1:1.2");
    EXPECT_EQ(field(r->body, "query:after_event_id"), "7");
    EXPECT_EQ(field(r->body, "query:q"), "a b c");
    EXPECT_EQ(field(r->body, "header"), "yes");
    EXPECT_EQ(field(r->body, "path"), "/api/session/slack%3AC1%3A1.2/events");
    EXPECT_EQ(field(r->body, "remote"), "127.0.0.1");
}

TEST_F(ServerTest, UnknownPathIs404Json) {
    start({route("GET", "/healthz", echo)});
    auto c = connect();
    ASSERT_TRUE(c.send(get("/nope")));
    auto r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 404);
    EXPECT_EQ(r->headers["content-type"], "application/json");
    EXPECT_EQ(r->body, not_found_body);
}

TEST_F(ServerTest, WrongMethodIs405WithAllowHeader) {
    start({route("GET", "/api/session/{k}", echo), route("POST", "/api/session/{k}", echo)});
    auto c = connect();
    ASSERT_TRUE(c.send("DELETE /api/session/x HTTP/1.1\r\nHost: t\r\n\r\n"));
    auto r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 405);
    EXPECT_EQ(r->headers["allow"], "GET, POST");
    EXPECT_EQ(r->headers["content-type"], "application/json");
    EXPECT_EQ(r->body, R"({"ok":false,"error":"method not allowed"})");
}

TEST_F(ServerTest, MalformedEscapesAre400) {
    start({route("GET", "/items/{id}", echo)});
    auto c = connect();
    ASSERT_TRUE(c.send(get("/items/a%zz")));
    auto r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400);
    EXPECT_EQ(r->body, R"({"ok":false,"error":"malformed percent-encoding in path"})");
    ASSERT_TRUE(c.send(get("/items/a?x=%4")));
    r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400);
    EXPECT_EQ(r->body, R"({"ok":false,"error":"malformed query string"})");
}

TEST_F(ServerTest, OversizedBodyIs413BeforeTheHandlerAndCloses) {
    std::atomic<int> calls{0};
    ServerOptions options;
    options.max_body_bytes = 1024;
    start({route("POST", "/echo",
                 [&](const Request& req, const PathParams& p) {
                     ++calls;
                     return echo(req, p);
                 })},
          options);
    {
        auto c = connect();
        ASSERT_TRUE(c.send(post("/echo", std::string(1024, 'a'))));  // exactly the limit is fine
        auto r = c.read_response();
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, 200);
        EXPECT_EQ(boost::json::parse(r->body).at("body_size").to_number<std::uint64_t>(), 1024u);
    }
    {
        auto c = connect();
        ASSERT_TRUE(c.send(post("/echo", std::string(1025, 'a'))));
        auto r = c.read_response();
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, 413);
        EXPECT_EQ(r->headers["content-type"], "application/json");
        EXPECT_EQ(r->body, R"({"ok":false,"error":"request body exceeds 1024 bytes"})");
        EXPECT_TRUE(c.wait_closed());
    }
    {
        // Only the header is sent: the 413 must not wait for a body that never comes.
        auto c = connect();
        ASSERT_TRUE(c.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1000000000\r\n\r\n"));
        auto r = c.read_response();
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, 413);
        c.close();
    }
    {
        auto c = connect();
        const std::string chunk(2048, 'b');
        ASSERT_TRUE(c.send("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n800\r\n" + chunk +
                           "\r\n0\r\n\r\n"));
        auto r = c.read_response();
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, 413);
        EXPECT_EQ(r->body, R"({"ok":false,"error":"request body exceeds 1024 bytes"})");
        EXPECT_TRUE(c.wait_closed());
    }
    EXPECT_EQ(calls.load(), 1);
}

TEST_F(ServerTest, ExpectContinueGets100BeforeTheBody) {
    start({route("POST", "/echo", echo)});
    auto c = connect();
    ASSERT_TRUE(c.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n"));
    auto interim = c.read_until("\r\n\r\n");
    ASSERT_TRUE(interim);
    EXPECT_EQ(*interim, "HTTP/1.1 100 Continue\r\n\r\n");
    ASSERT_TRUE(c.send("abc"));
    auto r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(boost::json::parse(r->body).at("body_size").to_number<std::uint64_t>(), 3u);
}

TEST_F(ServerTest, OversizedHeaderIs431) {
    ServerOptions options;
    options.max_header_bytes = 1024;
    start({route("GET", "/x", echo)}, options);
    auto c = connect();
    ASSERT_TRUE(c.send(get("/x", "X-Big: " + std::string(2048, 'h') + "\r\n")));
    auto r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 431);
    EXPECT_EQ(r->headers["content-type"], "application/json");
    EXPECT_EQ(r->body, R"({"ok":false,"error":"request headers exceed 1024 bytes"})");
    EXPECT_TRUE(c.wait_closed());
}

TEST_F(ServerTest, MalformedRequestIs400AndCloses) {
    start({route("GET", "/x", echo)});
    auto c = connect();
    ASSERT_TRUE(c.send("this is not http\r\n\r\n"));
    auto r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400);
    EXPECT_EQ(r->headers["content-type"], "application/json");
    EXPECT_EQ(r->body, R"({"ok":false,"error":"malformed request"})");
    EXPECT_TRUE(c.wait_closed());
}

TEST_F(ServerTest, KeepAliveServesSequentialAndPipelinedRequests) {
    start({route("GET", "/x", echo)});
    auto c = connect();
    ASSERT_TRUE(c.send(get("/x?n=1")));
    auto r1 = c.read_response();
    ASSERT_TRUE(r1);
    EXPECT_EQ(field(r1->body, "query:n"), "1");
    ASSERT_TRUE(c.send(get("/x?n=2")));
    auto r2 = c.read_response();
    ASSERT_TRUE(r2);
    EXPECT_EQ(field(r2->body, "query:n"), "2");
    ASSERT_TRUE(c.send(get("/x?n=3") + get("/x?n=4", "Connection: close\r\n")));
    auto r3 = c.read_response();
    auto r4 = c.read_response();
    ASSERT_TRUE(r3 && r4);
    EXPECT_EQ(field(r3->body, "query:n"), "3");
    EXPECT_EQ(field(r4->body, "query:n"), "4");
    EXPECT_EQ(r4->headers["connection"], "close");
    EXPECT_TRUE(c.wait_closed());
}

TEST_F(ServerTest, IdleAndIncompleteConnectionsTimeOut) {
    ServerOptions options;
    options.keep_alive_timeout = 200ms;
    options.request_timeout = 300ms;
    start({route("GET", "/x", echo)}, options);
    auto idle = connect();
    ASSERT_TRUE(idle.send(get("/x")));
    ASSERT_TRUE(idle.read_response());
    auto partial = connect();
    ASSERT_TRUE(partial.send("GET /x HTTP/1.1\r\nHo"));
    const auto t0 = std::chrono::steady_clock::now();
    EXPECT_TRUE(idle.wait_closed());
    EXPECT_TRUE(partial.wait_closed());
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);
}

TEST_F(ServerTest, HeadGetsHeadersWithoutBody) {
    start({route("GET", "/x", echo)});
    auto c = connect();
    ASSERT_TRUE(c.send("HEAD /x HTTP/1.1\r\nHost: t\r\n\r\n"));
    auto head = c.read_head();
    ASSERT_TRUE(head);
    EXPECT_EQ(head->status, 405);
    EXPECT_NE(head->headers["content-length"], "0");
    ASSERT_TRUE(c.send(get("/x?n=1")));  // no body bytes were sent: the next response parses cleanly
    auto r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(field(r->body, "query:n"), "1");
}

TEST_F(ServerTest, GuardShortCircuitsTheHandler) {
    std::atomic<int> calls{0};
    Guard guard = [](const Request& req, const Route& r, const PathParams& params) -> std::optional<Response> {
        if (r.capability == Capability::none) return std::nullopt;
        if (!req.header("authorization")) return error_response(401, "missing bearer token");
        if (params.at("k") == "forbidden") return error_response(403, "forbidden");
        return std::nullopt;
    };
    start({route(
              "GET", "/s/{k}",
              [&](const Request& req, const PathParams& p) {
                  ++calls;
                  return echo(req, p);
              },
              Capability::sessions_read)},
          {}, guard);
    auto c = connect();
    ASSERT_TRUE(c.send(get("/s/a")));
    auto r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 401);
    EXPECT_EQ(r->body, R"({"ok":false,"error":"missing bearer token"})");
    ASSERT_TRUE(c.send(get("/s/forbidden", "Authorization: Bearer t\r\n")));
    r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 403);
    EXPECT_EQ(calls.load(), 0);
    ASSERT_TRUE(c.send(get("/s/a", "Authorization: Bearer t\r\n")));
    r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(calls.load(), 1);
}

TEST_F(ServerTest, HandlerExceptionIs500WithGenericBody) {
    start({route("GET", "/boom",
                 [](const Request&, const PathParams&) -> Response {
                     throw std::runtime_error("secret internal detail");
                 }),
           route("GET", "/ok", echo)});
    auto c = connect();
    ASSERT_TRUE(c.send(get("/boom")));
    auto r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 500);
    EXPECT_EQ(r->headers["content-type"], "application/json");
    EXPECT_EQ(r->body, internal_error_body);
    ASSERT_TRUE(c.send(get("/ok")));  // the connection survives
    r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
}

TEST_F(ServerTest, CustomStatusHeadersAndContentType) {
    start({route("GET", "/t", [](const Request&, const PathParams&) {
        Response res;
        res.status = 503;
        res.body = "busy";
        res.content_type = "text/plain";
        res.headers.emplace_back("Retry-After", "5");
        return res;
    })});
    auto c = connect();
    ASSERT_TRUE(c.send(get("/t")));
    auto r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 503);
    EXPECT_EQ(r->headers["content-type"], "text/plain");
    EXPECT_EQ(r->headers["retry-after"], "5");
    EXPECT_EQ(r->body, "busy");
}

std::optional<Client::Reply> open_stream(Client& c, std::string_view target) {
    if (!c.send(get(target))) return std::nullopt;
    return c.read_head();
}

TEST_F(ServerTest, SseFramesAreExact) {
    start({sse_route("/sse", [](SseStream& sse) -> awaitable<void> {
        co_await sse.send_retry(1500ms);
        co_await sse.send_event("17", "session.output.line", R"({"type":"x"})");
        co_await sse.send_event("", "session.note", "a\nb\r\nc\rd");
        co_await sse.send_comment("hello");
    })});
    auto c = connect();
    auto head = open_stream(c, "/sse");
    ASSERT_TRUE(head);
    EXPECT_EQ(head->status, 200);
    EXPECT_EQ(head->headers["content-type"], "text/event-stream");
    EXPECT_EQ(head->headers["cache-control"], "no-cache");
    EXPECT_EQ(head->headers["x-accel-buffering"], "no");
    EXPECT_EQ(head->headers["transfer-encoding"], "chunked");
    EXPECT_EQ(c.read_chunk(), "retry: 1500\n\n");
    EXPECT_EQ(c.read_chunk(), "id: 17\nevent: session.output.line\ndata: {\"type\":\"x\"}\n\n");
    EXPECT_EQ(c.read_chunk(), "event: session.note\ndata: a\ndata: b\ndata: c\ndata: d\n\n");
    EXPECT_EQ(c.read_chunk(), ": hello\n\n");
    EXPECT_EQ(c.read_chunk(), "");  // last chunk: the stream function returned
    EXPECT_TRUE(c.wait_closed());
}

TEST_F(ServerTest, SseToAnHttp10ClientIsUnchunkedAndEndsWithClose) {
    start({sse_route("/sse", [](SseStream& sse) -> awaitable<void> { co_await sse.send_event("1", "t", "x"); })});
    auto c = connect();
    ASSERT_TRUE(c.send("GET /sse HTTP/1.0\r\n\r\n"));
    auto head = c.read_head();
    ASSERT_TRUE(head);
    EXPECT_EQ(head->status, 200);
    EXPECT_EQ(head->headers.count("transfer-encoding"), 0u);
    EXPECT_EQ(c.read_exact(std::string("id: 1\nevent: t\ndata: x\n\n").size()), "id: 1\nevent: t\ndata: x\n\n");
    EXPECT_TRUE(c.wait_closed());
}

TEST_F(ServerTest, SseHeaderIsFlushedBeforeTheFirstEvent) {
    auto release = std::make_shared<asio::steady_timer>(io_, asio::steady_timer::time_point::max());
    auto released = std::make_shared<bool>(false);  // io_context thread only
    start({sse_route("/sse", [release, released](SseStream& sse) -> awaitable<void> {
        while (!*released) co_await release->async_wait(asio::as_tuple(asio::use_awaitable));
        co_await sse.send_event("1", "t", "late");
    })});
    auto c = connect();
    auto head = open_stream(c, "/sse");  // arrives while the stream function is still suspended
    ASSERT_TRUE(head);
    EXPECT_EQ(head->status, 200);
    asio::post(io_, [release, released] {
        *released = true;
        release->cancel();
    });
    EXPECT_EQ(c.read_chunk(), "id: 1\nevent: t\ndata: late\n\n");
}

TEST_F(ServerTest, SseHeartbeatWhenIdle) {
    ServerOptions options;
    options.sse_keepalive = 100ms;
    start({sse_route("/sse",
                     [](SseStream& sse) -> awaitable<void> {
                         co_await sse.send_event("1", "t", "x");
                         co_await until_closed(sse);
                     })},
          options);
    auto c = connect();
    ASSERT_TRUE(open_stream(c, "/sse"));
    EXPECT_EQ(c.read_chunk(), "id: 1\nevent: t\ndata: x\n\n");
    EXPECT_EQ(c.read_chunk(), ": keep-alive\n\n");
    EXPECT_EQ(c.read_chunk(), ": keep-alive\n\n");
}

TEST_F(ServerTest, SseOnCloseFiresWhenTheClientDisconnects) {
    std::promise<void> closed;
    std::promise<bool> send_after_close;
    start({sse_route("/sse", [&](SseStream& sse) -> awaitable<void> {
        sse.on_close([&] { closed.set_value(); });
        co_await until_closed(sse);
        int late_calls = 0;
        sse.on_close([&] { ++late_calls; });  // already closed: runs at once
        EXPECT_EQ(late_calls, 1);
        // Sending to a gone peer is a false, not an exception.
        send_after_close.set_value(co_await sse.send_event("2", "t", "y"));
    })});
    auto c = connect();
    ASSERT_TRUE(open_stream(c, "/sse"));
    c.close();
    auto closed_future = closed.get_future();
    ASSERT_EQ(closed_future.wait_for(wait_bound), std::future_status::ready);
    auto sent = send_after_close.get_future();
    ASSERT_EQ(sent.wait_for(wait_bound), std::future_status::ready);
    EXPECT_FALSE(sent.get());
}

TEST_F(ServerTest, StopClosesOpenSseStreams) {
    std::atomic<int> on_close_calls{0};
    std::promise<void> returned;
    start({sse_route("/sse", [&](SseStream& sse) -> awaitable<void> {
        sse.on_close([&] { ++on_close_calls; });
        co_await sse.send_event("1", "t", "x");
        co_await until_closed(sse);
        returned.set_value();
    })});
    auto c = connect();
    ASSERT_TRUE(open_stream(c, "/sse"));
    EXPECT_EQ(c.read_chunk(), "id: 1\nevent: t\ndata: x\n\n");
    auto idle = connect();  // an idle keep-alive connection is closed too
    ASSERT_TRUE(idle.send(get("/nope")));
    ASSERT_TRUE(idle.read_response());
    stop_and_drain();
    EXPECT_TRUE(c.wait_closed());
    EXPECT_TRUE(idle.wait_closed());
    EXPECT_EQ(on_close_calls.load(), 1);
    EXPECT_EQ(returned.get_future().wait_for(0s), std::future_status::ready);
}

TEST_F(ServerTest, StopEndsAnSseBodyCleanlySoClientsResume) {
    start({sse_route("/sse", [](SseStream& sse) -> awaitable<void> {
        co_await sse.send_event("1", "t", "x");
        co_await until_closed(sse);
        // After stop the stream refuses frames; the server still ends the body.
        EXPECT_FALSE(co_await sse.send_event("2", "t", "late"));
    })});
    auto c = connect();
    ASSERT_TRUE(open_stream(c, "/sse"));
    EXPECT_EQ(c.read_chunk(), "id: 1\nevent: t\ndata: x\n\n");
    stop_and_drain();
    EXPECT_EQ(c.read_chunk(), "") << "the last chunk, not a reset";
    EXPECT_TRUE(c.wait_closed());
}

TEST_F(ServerTest, StopCutsAStreamThatDoesNotEndWithinTheGrace) {
    // The stream function ignores on_close until its own timer fires after the grace: the connection is closed
    // (without the last chunk) at the grace, and the function's later frames are refused.
    std::promise<bool> late_send;
    start({sse_route("/sse", [&](SseStream& sse) -> awaitable<void> {
        co_await sse.send_event("1", "t", "x");
        asio::steady_timer t(co_await asio::this_coro::executor, 3s);
        co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
        late_send.set_value(co_await sse.send_event("2", "t", "late"));
    })});
    auto c = connect();
    ASSERT_TRUE(open_stream(c, "/sse"));
    EXPECT_EQ(c.read_chunk(), "id: 1\nevent: t\ndata: x\n\n");
    const auto stopped_at = std::chrono::steady_clock::now();
    asio::post(io_, [this] { server_->stop(); });
    EXPECT_EQ(c.read_chunk(), std::nullopt);
    const auto cut_after = std::chrono::steady_clock::now() - stopped_at;
    EXPECT_GE(cut_after, 1500ms);
    EXPECT_LT(cut_after, 2900ms) << "cut at the grace, not when the function gave up";
    auto late = late_send.get_future();
    ASSERT_EQ(late.wait_for(wait_bound), std::future_status::ready);
    EXPECT_FALSE(late.get());
}

TEST_F(ServerTest, SendEventsWritesABatchAsOneChunk) {
    start({sse_route("/sse", [](SseStream& sse) -> awaitable<void> {
        std::vector<SseFrame> frames{{"1", "a", "x"}, {"2", "b", "y\nz"}, {"", "c", ""}};
        co_await sse.send_events(frames);
    })});
    auto c = connect();
    ASSERT_TRUE(open_stream(c, "/sse"));
    EXPECT_EQ(c.read_chunk(), "id: 1\nevent: a\ndata: x\n\nid: 2\nevent: b\ndata: y\ndata: z\n\nevent: c\ndata: \n\n");
    EXPECT_EQ(c.read_chunk(), "");
}

TEST_F(ServerTest, CloseCutsAStreamOffWithoutEndingTheBody) {
    std::promise<bool> open_after;
    std::atomic<int> on_close_calls{0};
    start({sse_route("/sse", [&](SseStream& sse) -> awaitable<void> {
        sse.on_close([&] { ++on_close_calls; });
        co_await sse.send_event("1", "t", "x");
        sse.close();
        open_after.set_value(sse.open());
    })});
    auto c = connect();
    ASSERT_TRUE(open_stream(c, "/sse"));
    EXPECT_EQ(c.read_chunk(), "id: 1\nevent: t\ndata: x\n\n");
    EXPECT_EQ(c.read_chunk(), std::nullopt) << "closed without the last chunk";
    auto open = open_after.get_future();
    ASSERT_EQ(open.wait_for(wait_bound), std::future_status::ready);
    EXPECT_FALSE(open.get());
    EXPECT_EQ(on_close_calls.load(), 1);
}

TEST_F(ServerTest, ConcurrentSseWritesNeverInterleave) {
    constexpr int writers = 4;
    constexpr int frames_per_writer = 20;
    const std::string payload(64 * 1024, 'p');  // large frames need several socket writes each
    ServerOptions options;
    options.sse_keepalive = 1ms;  // heartbeats race with the writers
    start({sse_route("/sse",
                     [&](SseStream& sse) -> awaitable<void> {
                         auto ex = co_await asio::this_coro::executor;
                         auto remaining = std::make_shared<int>(writers);
                         for (int w = 0; w < writers; ++w) {
                             asio::co_spawn(
                                 ex,
                                 [&sse, &payload, w, remaining]() -> awaitable<void> {
                                     for (int i = 0; i < frames_per_writer; ++i)
                                         co_await sse.send_event(std::to_string(w), "t", payload);
                                     --*remaining;
                                 },
                                 asio::detached);
                         }
                         asio::steady_timer poll(ex);
                         while (*remaining > 0) {  // the writers use `sse`: outlive them
                             poll.expires_after(1ms);
                             co_await poll.async_wait(asio::as_tuple(asio::use_awaitable));
                         }
                     })},
          options);
    auto c = connect();
    ASSERT_TRUE(open_stream(c, "/sse"));
    std::map<std::string, int> per_writer;
    int heartbeats = 0;
    for (;;) {
        auto chunk = c.read_chunk();
        ASSERT_TRUE(chunk);
        if (chunk->empty()) break;
        if (*chunk == ": keep-alive\n\n") {
            ++heartbeats;
            continue;
        }
        ASSERT_EQ(chunk->size(), std::string("id: 0\nevent: t\ndata: \n\n").size() + payload.size());
        const auto id = chunk->substr(4, 1);
        ASSERT_EQ(*chunk, "id: " + id + "\nevent: t\ndata: " + payload + "\n\n");
        ++per_writer[id];
    }
    EXPECT_EQ(per_writer.size(), static_cast<std::size_t>(writers));
    for (const auto& [id, n] : per_writer) EXPECT_EQ(n, frames_per_writer) << "writer " << id;
}

TEST_F(ServerTest, StreamFunctionExceptionEndsTheStream) {
    start({sse_route("/sse", [](SseStream& sse) -> awaitable<void> {
        co_await sse.send_event("1", "t", "x");
        throw std::runtime_error("stream broke");
    })});
    auto c = connect();
    ASSERT_TRUE(open_stream(c, "/sse"));
    EXPECT_EQ(c.read_chunk(), "id: 1\nevent: t\ndata: x\n\n");
    EXPECT_EQ(c.read_chunk(), "");
    EXPECT_TRUE(c.wait_closed());
}

TEST_F(ServerTest, ForcedShutdownWithAStuckStreamFunctionIsSafe) {
    // A stream function that ignores on_close keeps the io_context busy after stop(); the app's watchdog then
    // stops the io_context and everything is destroyed with the coroutine still suspended.
    start({sse_route("/sse", [](SseStream& sse) -> awaitable<void> {
        asio::steady_timer forever(co_await asio::this_coro::executor, asio::steady_timer::time_point::max());
        co_await sse.send_event("1", "t", "x");
        co_await forever.async_wait(asio::as_tuple(asio::use_awaitable));
    })});
    auto c = connect();
    ASSERT_TRUE(open_stream(c, "/sse"));
    EXPECT_EQ(c.read_chunk(), "id: 1\nevent: t\ndata: x\n\n");
    drained_ = true;
    asio::post(io_, [this] { server_->stop(); });
    EXPECT_TRUE(c.wait_closed());
    EXPECT_EQ(runner_.wait_for(100ms), std::future_status::timeout);
    io_.stop();
    runner_.wait();
    server_.reset();
}

double counter_value(HttpProbe& probe, const std::string& method, const std::string& route, const std::string& status) {
    return probe.requests_total.Add({{"method", method}, {"route", route}, {"status", status}}).Value();
}

TEST_F(ServerTest, MetricsCountEachRequestOnceAndSkipMetricsItself) {
    auto& registry = registry_;
    auto& probe = probe_;
    start({route("GET", "/hello", echo), route("GET", "/stream/{k}",
                                               [](const Request&, const PathParams&) {
                                                   Response res;
                                                   res.stream = [](SseStream&) -> awaitable<void> { co_return; };
                                                   return res;
                                               }),
           route("GET", "/inflight",
                 [&probe](const Request&, const PathParams&) {
                     Response res;
                     res.body = std::to_string(static_cast<int>(probe.requests_in_flight.Value()));
                     return res;
                 }),
           metrics_route(registry)},
          {}, {}, &probe);
    auto c = connect();
    for (const auto& request : {get("/hello"), get("/hello"), get("/nope"), post("/hello", "x"), get("/inflight")}) {
        ASSERT_TRUE(c.send(request));
        ASSERT_TRUE(c.read_response());
    }
    {
        auto s = connect();
        ASSERT_TRUE(open_stream(s, "/stream/a"));
        EXPECT_EQ(s.read_chunk(), "");
    }
    ASSERT_TRUE(c.send("FOO /hello HTTP/1.1\r\nHost: t\r\n\r\n"));
    ASSERT_TRUE(c.read_response());
    // The /metrics response is written after every earlier request on this connection was counted.
    ASSERT_TRUE(c.send(get("/metrics")));
    auto m = c.read_response();
    ASSERT_TRUE(m);
    EXPECT_EQ(m->status, 200);
    EXPECT_EQ(m->headers["content-type"], "text/plain; version=0.0.4");
    EXPECT_NE(m->body.find(R"(http_server_requests_total{method="GET",route="/hello",status="200"} 2)"),
              std::string::npos)
        << m->body;

    EXPECT_EQ(counter_value(probe, "GET", "/hello", "200"), 2);
    EXPECT_EQ(counter_value(probe, "GET", "__unmatched__", "404"), 1);
    EXPECT_EQ(counter_value(probe, "POST", "/hello", "405"), 1);
    EXPECT_EQ(counter_value(probe, "GET", "/inflight", "200"), 1);
    EXPECT_EQ(counter_value(probe, "GET", "/stream/{k}", "200"), 1);
    EXPECT_EQ(counter_value(probe, "OTHER", "/hello", "405"), 1);
    auto histogram = probe.request_duration_seconds
                         .Add({{"method", "GET"}, {"route", "/hello"}, {"status_class", "2xx"}},
                              prometheus::Histogram::BucketBoundaries{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10})
                         .Collect();
    EXPECT_EQ(histogram.histogram.sample_count, 2u);
    EXPECT_EQ(histogram.histogram.bucket.size(), 12u);  // 11 bounds + Inf
    EXPECT_EQ(m->body.find("route=\"/metrics\""), std::string::npos);
    double total = 0;
    for (const auto& family : registry.Collect())
        if (family.name == "http_server_requests_total")
            for (const auto& metric : family.metric) total += metric.counter.value;
    EXPECT_EQ(total, 7);  // nothing else, and not /metrics
    EXPECT_EQ(probe.requests_in_flight.Value(), 0);

    ASSERT_TRUE(c.send(get("/inflight")));
    auto inflight = c.read_response();
    ASSERT_TRUE(inflight);
    EXPECT_EQ(inflight->body, "1");  // the request itself
}

TEST_F(ServerTest, StartFailsWhenThePortIsTaken) {
    start({route("GET", "/x", echo)});
    asio::io_context other;
    ServerOptions options;
    options.port = port_;
    Server second(other, options, {route("GET", "/x", echo)}, {}, nullptr);
    auto bound = second.start();
    EXPECT_FALSE(bound);
}

}  // namespace
}  // namespace centaur::http
