#include <centaur/sandbox/remote_backend.hpp>

#include "runner_protocol.hpp"
#include "wake_list.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <deque>
#include <map>
#include <optional>
#include <stdexcept>

namespace centaur::sandbox {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace json = boost::json;
namespace proto = runner_protocol;
using asio::awaitable;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int http_version = 11;
constexpr std::uint64_t max_reply_bytes = 64ULL << 20;
constexpr std::size_t stream_chunk_bytes = 64 * 1024;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr auto reconnect_pause = std::chrono::milliseconds(100);
constexpr auto reader_wait = std::chrono::milliseconds(5000);
constexpr auto stop_wait = std::chrono::milliseconds(1000);
constexpr auto load_margin = std::chrono::milliseconds(1000);
constexpr unsigned status_ok = 200;
constexpr unsigned status_not_found = 404;
constexpr unsigned status_gone = 410;

struct Endpoint {
    std::string url;
    std::string host;
    std::string port;
};

Endpoint parse_url(const std::string& url) {
    constexpr std::string_view scheme = "http://";
    if (url.rfind(scheme, 0) != 0) throw std::invalid_argument("runner URL '" + url + "' must start with http://");
    std::string authority = url.substr(scheme.size());
    while (!authority.empty() && authority.back() == '/') authority.pop_back();
    const auto colon = authority.rfind(':');
    if (colon == std::string::npos || colon == 0 || authority.find('/') != std::string::npos)
        throw std::invalid_argument("runner URL '" + url + "' must be http://host:port");
    Endpoint ep{url, authority.substr(0, colon), authority.substr(colon + 1)};
    int port = 0;
    const auto [end, ec] = std::from_chars(ep.port.data(), ep.port.data() + ep.port.size(), port);
    if (ec != std::errc() || end != ep.port.data() + ep.port.size() || port <= 0 || port > 65535)
        throw std::invalid_argument("runner URL '" + url + "' has a bad port");
    ep.url = "http://" + authority;
    return ep;
}

struct Reply {
    unsigned status = 0;
    std::string body;
};

std::string sandbox_target(const std::string& id, std::string_view action) {
    std::string t(proto::sandboxes_path);
    t += '/';
    t += id;
    if (!action.empty()) {
        t += '/';
        t += action;
    }
    return t;
}

std::string error_of(const Reply& r) {
    boost::system::error_code ec;
    auto v = json::parse(r.body, ec);
    if (!ec && v.is_object())
        if (auto* e = v.as_object().if_contains("error"); e && e->is_string()) return std::string(e->as_string());
    return "HTTP " + std::to_string(r.status);
}

std::optional<json::object> object_of(const Reply& r) {
    boost::system::error_code ec;
    auto v = json::parse(r.body, ec);
    if (ec || !v.is_object()) return std::nullopt;
    return std::move(v.as_object());
}

std::string string_at(const json::object& o, std::string_view key) {
    auto* v = o.if_contains(key);
    return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

std::uint32_t count_at(const json::object& o, std::string_view key) {
    auto* v = o.if_contains(key);
    if (!v) return 0;
    if (v->is_uint64()) return static_cast<std::uint32_t>(v->as_uint64());
    if (v->is_int64() && v->as_int64() > 0) return static_cast<std::uint32_t>(v->as_int64());
    return 0;
}

std::string create_body(const SandboxSpec& spec) {
    json::object env;
    for (const auto& [k, v] : spec.env) env[k] = v;
    return json::serialize(
        json::object{{"thread_key", spec.thread_key}, {"harness_type", spec.harness_type}, {"env", std::move(env)}});
}

std::string exec_body(const std::vector<std::string>& argv, std::chrono::milliseconds timeout) {
    json::array a;
    for (const auto& arg : argv) a.emplace_back(arg);
    return json::serialize(json::object{{"argv", std::move(a)}, {"timeout_ms", timeout.count()}});
}

RemoteSandboxInfo info_of(const json::object& s) {
    return RemoteSandboxInfo{string_at(s, "sandbox_id"), string_at(s, "thread_key"), string_at(s, "status"),
                             string_at(s, "termination_reason"), static_cast<int>(count_at(s, "attached"))};
}

ExecResult exec_result_of(const json::object& o) {
    ExecResult r;
    if (auto* v = o.if_contains("exit_code"); v && v->is_int64()) r.exit_code = static_cast<int>(v->as_int64());
    r.output = string_at(o, "output");
    r.error_output = string_at(o, "error_output");
    if (auto* v = o.if_contains("truncated"); v && v->is_bool()) r.truncated = v->as_bool();
    if (auto* v = o.if_contains("timed_out"); v && v->is_bool()) r.timed_out = v->as_bool();
    return r;
}

/// The HTTP side: one connection per call (runner calls are few per turn; loopback or LAN connects are cheap).
struct Client {
    asio::any_io_executor executor;
    RemoteBackendOptions options;

    bhttp::request<bhttp::string_body> request(const Endpoint& ep, bhttp::verb verb, const std::string& target,
                                               std::string body, std::string_view content_type) const {
        bhttp::request<bhttp::string_body> req{verb, target, http_version};
        req.set(bhttp::field::host, ep.host + ":" + ep.port);
        req.set(bhttp::field::user_agent, "centaur-remote-sandbox");
        if (!options.token.empty()) req.set(bhttp::field::authorization, "Bearer " + options.token);
        if (!content_type.empty()) req.set(bhttp::field::content_type, content_type);
        req.body() = std::move(body);
        req.prepare_payload();
        return req;
    }

    /// One request, bounded by `timeout` as a whole. A transport failure is the error; any status is a reply.
    awaitable<result<Reply>> call(Endpoint ep, bhttp::verb verb, std::string target, std::string body,
                                  std::chrono::milliseconds timeout) {
        beast::tcp_stream stream(executor);
        stream.expires_after(timeout);
        tcp::resolver resolver(executor);
        auto [resolve_ec, endpoints] = co_await resolver.async_resolve(ep.host, ep.port, use_tuple);
        if (resolve_ec) co_return result<Reply>(resolve_ec);
        auto [connect_ec, connected] = co_await stream.async_connect(endpoints, use_tuple);
        if (connect_ec) co_return result<Reply>(connect_ec);
        const std::string_view content_type = body.empty() ? "" : "application/json";
        auto req = request(ep, verb, target, std::move(body), content_type);
        auto [write_ec, written] = co_await bhttp::async_write(stream, req, use_tuple);
        if (write_ec) co_return result<Reply>(write_ec);
        beast::flat_buffer buffer;
        bhttp::response_parser<bhttp::string_body> parser;
        parser.body_limit(max_reply_bytes);
        auto [read_ec, read] = co_await bhttp::async_read(stream, buffer, parser, use_tuple);
        if (read_ec) co_return result<Reply>(read_ec);
        boost::system::error_code ignored;
        stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
        Reply reply;
        reply.status = parser.get().result_int();
        reply.body = std::move(parser.get().body());
        co_return reply;
    }
};

/// A sandbox's state, shared by its handle and its background coroutines (stdout stream, pause/resume queue).
struct RemoteState {
    std::shared_ptr<Client> client;
    Endpoint runner;
    std::string id;
    SandboxStatus status = SandboxStatus::running;
    std::string termination_reason;
    bool prewarmed = false;

    std::deque<std::string> lines;  // received, not read yet
    std::uint64_t last_seq = 0;     // sequence number of the last line received
    bool eof = false;               // stdout ended (or the runner is lost)
    bool lost = false;              // the runner stopped answering
    bool stop_requested = false;
    bool stop_done = false;
    beast::tcp_stream* stream = nullptr;  // the open stdout stream, closed by stop()
    std::deque<bool> freezes;             // pause (true) / resume (false) not sent yet
    bool freezing = false;
    WakeList readable;
    WakeList room;
    WakeList stopped;

    bool ended() const { return stop_requested || status == SandboxStatus::gone || status == SandboxStatus::stopped; }
};

enum class StreamEnd { exited, broken, unknown, lines_lost, closed };

/// Parses the runner's SSE frames (single `data:` line each, as the runner writes them).
struct SseReader {
    std::string pending;
    std::string id;
    std::string event;
    std::string data;

    /// Feeds bytes; calls `on_event(id, event, data)` per complete frame.
    template <typename OnEvent>
    void feed(std::string_view bytes, OnEvent&& on_event) {
        pending.append(bytes);
        std::size_t start = 0;
        for (;;) {
            const auto nl = pending.find('\n', start);
            if (nl == std::string::npos) break;
            std::string_view line(pending.data() + start, nl - start);
            start = nl + 1;
            if (line.empty()) {
                if (!event.empty() || !data.empty()) on_event(id, event, data);
                id.clear();
                event.clear();
                data.clear();
            } else if (line.front() == ':') {
                continue;
            } else if (line.rfind("id: ", 0) == 0) {
                id = line.substr(4);
            } else if (line.rfind("event: ", 0) == 0) {
                event = line.substr(7);
            } else if (line.rfind("data: ", 0) == 0) {
                if (!data.empty()) data += '\n';
                data += line.substr(6);
            }
        }
        pending.erase(0, start);
    }
};

void on_stream_event(RemoteState& st, const std::string& id, const std::string& event, const std::string& data,
                     bool& exited) {
    if (event == proto::line_event) {
        std::uint64_t seq = 0;
        std::from_chars(id.data(), id.data() + id.size(), seq);
        if (seq <= st.last_seq) return;  // already had it (a resumed stream)
        st.last_seq = seq;
        st.lines.push_back(proto::unescape_line(data));
    } else if (event == proto::eof_event) {
        st.eof = true;
    } else if (event == proto::exit_event) {
        exited = true;
        st.eof = true;
        boost::system::error_code ec;
        auto v = json::parse(data, ec);
        if (!ec && v.is_object()) {
            auto status = proto::status_from_string(string_at(v.as_object(), "status"));
            if (!st.stop_requested && status) st.status = *status;
            st.termination_reason = string_at(v.as_object(), "termination_reason");
        }
        if (!st.stop_requested && st.status != SandboxStatus::gone) st.status = SandboxStatus::stopped;
    }
    st.readable.notify();
}

/// One stdout stream from `after=last_seq` until it ends.
awaitable<StreamEnd> stream_once(std::shared_ptr<RemoteState> st, bool& opened) {
    auto& client = *st->client;
    beast::tcp_stream stream(client.executor);
    stream.expires_after(client.options.request_timeout);
    tcp::resolver resolver(client.executor);
    auto [resolve_ec, endpoints] = co_await resolver.async_resolve(st->runner.host, st->runner.port, use_tuple);
    if (resolve_ec) co_return StreamEnd::broken;
    std::string no_body;
    auto [connect_ec, connected] = co_await stream.async_connect(endpoints, use_tuple);
    if (connect_ec || st->stop_requested) co_return connect_ec ? StreamEnd::broken : StreamEnd::closed;
    const std::string target = sandbox_target(st->id, "stdout") + "?after=" + std::to_string(st->last_seq);
    auto req = client.request(st->runner, bhttp::verb::get, target, std::move(no_body), "");
    req.set(bhttp::field::accept, "text/event-stream");
    st->stream = &stream;
    auto [write_ec, written] = co_await bhttp::async_write(stream, req, use_tuple);
    beast::flat_buffer buffer;
    bhttp::response_parser<bhttp::buffer_body> parser;
    parser.body_limit(boost::none);
    StreamEnd end = StreamEnd::broken;
    if (!write_ec) {
        auto [header_ec, header_bytes] = co_await bhttp::async_read_header(stream, buffer, parser, use_tuple);
        if (header_ec) {
            end = StreamEnd::broken;
        } else if (parser.get().result_int() == status_not_found) {
            end = StreamEnd::unknown;
        } else if (parser.get().result_int() == status_gone) {
            end = StreamEnd::lines_lost;
        } else if (parser.get().result_int() == status_ok) {
            opened = true;
            std::vector<char> chunk(stream_chunk_bytes);
            SseReader reader;
            bool exited = false;
            asio::any_io_executor executor = client.executor;
            for (;;) {
                while (st->lines.size() >= client.options.max_buffered_lines && !st->stop_requested)
                    co_await st->room.wait(executor, reader_wait);
                if (st->stop_requested) {
                    end = StreamEnd::closed;
                    break;
                }
                parser.get().body().data = chunk.data();
                parser.get().body().size = chunk.size();
                stream.expires_after(client.options.stream_idle_timeout);
                auto [read_ec, n] = co_await bhttp::async_read_some(stream, buffer, parser, use_tuple);
                const std::size_t got = chunk.size() - parser.get().body().size;
                reader.feed(std::string_view(chunk.data(), got),
                            [&](const std::string& id, const std::string& event, const std::string& data) {
                                on_stream_event(*st, id, event, data, exited);
                            });
                if (exited) {
                    end = StreamEnd::exited;
                    break;
                }
                if (read_ec == bhttp::error::need_buffer) continue;
                if (read_ec || parser.is_done()) {
                    end = st->stop_requested ? StreamEnd::closed : StreamEnd::broken;
                    break;
                }
            }
        }
    }
    st->stream = nullptr;
    boost::system::error_code ignored;
    stream.socket().close(ignored);
    co_return end;
}

/// Keeps the stdout stream open until the process exited, the sandbox was stopped, or the runner is lost.
awaitable<void> stream_loop(std::shared_ptr<RemoteState> st) {
    auto& options = st->client->options;
    asio::steady_timer pause_timer(st->client->executor);
    std::optional<Clock::time_point> broken_since;
    for (;;) {
        bool opened = false;
        auto stream_state = st;
        const StreamEnd end = co_await stream_once(std::move(stream_state), opened);
        if (opened) broken_since.reset();
        if (end == StreamEnd::exited || end == StreamEnd::closed || st->stop_requested) break;
        if (end == StreamEnd::unknown || end == StreamEnd::lines_lost) {
            spdlog::warn("remote sandbox {} on {}: {}", st->id, st->runner.url,
                         end == StreamEnd::unknown ? "the runner no longer knows it" : "its stdout was lost");
            st->status = SandboxStatus::gone;
            st->eof = true;
            break;
        }
        if (!broken_since) broken_since = Clock::now();
        if (Clock::now() - *broken_since >= options.reconnect_window) {
            spdlog::warn("remote sandbox {}: runner {} unreachable for {} ms: sandbox lost", st->id, st->runner.url,
                         options.reconnect_window.count());
            st->lost = true;
            st->eof = true;
            st->status = SandboxStatus::gone;
            break;
        }
        pause_timer.expires_after(reconnect_pause);
        auto [ec] = co_await pause_timer.async_wait(use_tuple);
        (void)ec;
    }
    st->readable.notify();
}

/// Sends queued pause/resume calls in order.
awaitable<void> freeze_loop(std::shared_ptr<RemoteState> st) {
    while (!st->freezes.empty() && !st->stop_requested) {
        const bool pause = st->freezes.front();
        st->freezes.pop_front();
        std::string target = sandbox_target(st->id, pause ? "pause" : "resume");
        Endpoint runner = st->runner;
        std::string no_body;
        auto r = co_await st->client->call(std::move(runner), bhttp::verb::post, std::move(target), std::move(no_body),
                                           st->client->options.request_timeout);
        if (!r || r->status != status_ok)
            spdlog::warn("remote sandbox {}: {} failed: {}", st->id, pause ? "pause" : "resume",
                         r ? error_of(*r) : r.error().message());
    }
    st->freezing = false;
}

awaitable<void> stop_state(std::shared_ptr<RemoteState> st) {
    asio::any_io_executor executor = st->client->executor;
    if (st->stop_requested) {
        while (!st->stop_done) co_await st->stopped.wait(executor, stop_wait);
        co_return;
    }
    st->stop_requested = true;
    st->status = SandboxStatus::gone;
    st->lines.clear();
    if (st->stream) {
        boost::system::error_code ignored;
        st->stream->socket().cancel(ignored);
    }
    st->readable.notify();
    st->room.notify();
    if (!st->lost) {
        std::string target = sandbox_target(st->id, "stop");
        Endpoint runner = st->runner;
        std::string no_body;
        auto r = co_await st->client->call(std::move(runner), bhttp::verb::post, std::move(target), std::move(no_body),
                                           st->client->options.request_timeout);
        if (!r) spdlog::warn("remote sandbox {}: stop on {} failed: {}", st->id, st->runner.url, r.error().message());
    }
    st->stop_done = true;
    st->stopped.notify();
}

class RemoteSandbox final : public Sandbox {
public:
    explicit RemoteSandbox(std::shared_ptr<RemoteState> st) : st_(std::move(st)) {}
    ~RemoteSandbox() override {
        if (!st_->stop_requested) asio::co_spawn(st_->client->executor, stop_state(st_), asio::detached);
    }

    const std::string& id() const override { return st_->id; }
    SandboxStatus status() const override { return st_->status; }
    std::string termination_reason() const override { return st_->termination_reason; }
    bool prewarmed() const override { return st_->prewarmed; }
    const std::string& runner_url() const { return st_->runner.url; }

    awaitable<result<void>> write_line(std::string line) override {
        auto st = st_;
        if (st->ended() || st->lost) co_return errc::sandbox_gone;
        std::string target = sandbox_target(st->id, "stdin");
        Endpoint runner = st->runner;
        auto r = co_await st->client->call(std::move(runner), bhttp::verb::post, std::move(target), std::move(line),
                                           st->client->options.request_timeout);
        // sandbox_gone only when the line surely did not arrive (nobody listening, or the runner says gone);
        // a call cut after it was sent (timeout, reset) may have delivered it: sandbox_failed.
        if (!r) co_return r.error() == asio::error::connection_refused ? errc::sandbox_gone : errc::sandbox_failed;
        if (r->status == status_gone || r->status == status_not_found) co_return errc::sandbox_gone;
        if (r->status != status_ok) co_return errc::sandbox_failed;
        co_return result<void>();
    }

    awaitable<result<std::string>> read_line() override {
        auto st = st_;
        asio::any_io_executor executor = st->client->executor;
        for (;;) {
            if (st->stop_requested) co_return errc::sandbox_gone;
            if (!st->lines.empty()) {
                std::string line = std::move(st->lines.front());
                st->lines.pop_front();
                st->room.notify();
                co_return line;
            }
            if (st->eof) co_return errc::sandbox_eof;
            co_await st->readable.wait(executor, reader_wait);
        }
    }

    result<void> pause() override { return freeze(true); }
    result<void> resume() override { return freeze(false); }

    awaitable<void> stop() override { return stop_state(st_); }

    awaitable<result<ExecResult>> exec(std::vector<std::string> argv, std::chrono::milliseconds timeout) override {
        auto st = st_;
        if (st->status != SandboxStatus::running) co_return errc::sandbox_gone;
        std::string target = sandbox_target(st->id, "exec");
        std::string body = exec_body(argv, timeout);
        Endpoint runner = st->runner;
        const auto bound = timeout + st->client->options.request_timeout;
        auto r = co_await st->client->call(std::move(runner), bhttp::verb::post, std::move(target), std::move(body),
                                           bound);
        if (!r) co_return errc::sandbox_failed;
        if (r->status == status_gone || r->status == status_not_found) co_return errc::sandbox_gone;
        auto o = object_of(*r);
        if (r->status != status_ok || !o) co_return errc::sandbox_failed;
        co_return exec_result_of(*o);
    }

private:
    result<void> freeze(bool pause) {
        auto& st = *st_;
        if (st.ended() || st.lost) return errc::sandbox_gone;
        const auto target = pause ? SandboxStatus::suspended : SandboxStatus::running;
        if (st.status == target) return {};
        st.status = target;
        st.freezes.push_back(pause);
        if (!st.freezing) {
            st.freezing = true;
            asio::co_spawn(st.client->executor, freeze_loop(st_), asio::detached);
        }
        return {};
    }

    std::shared_ptr<RemoteState> st_;
};

}  // namespace

struct RemoteSandboxBackend::Impl {
    std::shared_ptr<Client> client;
    std::vector<Endpoint> runners;
    std::map<std::string, std::uint32_t> in_flight;  // creates under way per runner URL
    std::size_t rotation = 0;

    std::shared_ptr<Sandbox> adopt(const Endpoint& runner, std::string id, SandboxStatus status, bool prewarmed) {
        auto st = std::make_shared<RemoteState>();
        st->client = client;
        st->runner = runner;
        st->id = std::move(id);
        st->status = status;
        st->prewarmed = prewarmed;
        if (status == SandboxStatus::gone) {
            st->stop_requested = st->stop_done = st->eof = true;
        } else {
            asio::co_spawn(client->executor, stream_loop(st), asio::detached);
        }
        return std::make_shared<RemoteSandbox>(std::move(st));
    }

    static awaitable<void> probe(std::shared_ptr<Impl> impl, std::size_t i, std::shared_ptr<std::vector<RunnerLoad>> out,
                                 std::shared_ptr<std::size_t> pending, std::shared_ptr<WakeList> done) {
        auto& load = (*out)[i];
        load.url = impl->runners[i].url;
        Endpoint runner = impl->runners[i];
        std::string target(proto::health_path);
        std::string no_body;
        auto r = co_await impl->client->call(std::move(runner), bhttp::verb::get, std::move(target), std::move(no_body),
                                             impl->client->options.health_timeout);
        if (!r) {
            load.error = r.error().message();
        } else if (auto o = object_of(*r); r->status != status_ok || !o) {
            load.error = error_of(*r);
        } else {
            load.healthy = !o->if_contains("can_run") || o->at("can_run") == true;
            if (!load.healthy) load.error = "cannot run sandboxes";
            load.running = count_at(*o, "running");
            load.limit = count_at(*o, "limit");
            load.queued = count_at(*o, "queued");
            load.warm = count_at(*o, "warm");
        }
        --*pending;
        done->notify();
    }

    awaitable<std::vector<RunnerLoad>> loads(std::shared_ptr<Impl> self) {
        auto out = std::make_shared<std::vector<RunnerLoad>>(runners.size());
        auto pending = std::make_shared<std::size_t>(runners.size());
        auto done = std::make_shared<WakeList>();
        for (std::size_t i = 0; i < runners.size(); ++i)
            asio::co_spawn(client->executor, probe(self, i, out, pending, done), asio::detached);
        asio::any_io_executor executor = client->executor;
        const auto bound = client->options.health_timeout + load_margin;
        while (*pending > 0) co_await done->wait(executor, bound);
        co_return *out;
    }

    /// Runner indexes to try, best first: healthy ones by running + queued + in flight, ties rotating. Unhealthy
    /// runners are logged unless `quiet` (a create retrying its placement).
    std::vector<std::size_t> placement(const std::vector<RunnerLoad>& loads, bool quiet = false) {
        std::vector<std::size_t> order;
        for (std::size_t i = 0; i < loads.size(); ++i) {
            if (loads[i].healthy) {
                order.push_back(i);
            } else if (!quiet) {
                spdlog::warn("runner {} skipped: {}", loads[i].url, loads[i].error);
            }
        }
        const std::size_t n = loads.size();
        const std::size_t start = rotation++ % std::max<std::size_t>(n, 1);
        auto weight = [&](std::size_t i) {
            return std::pair{loads[i].running + loads[i].queued + in_flight[loads[i].url], (i + n - start) % n};
        };
        std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return weight(a) < weight(b); });
        return order;
    }
};

RemoteSandboxBackend::RemoteSandboxBackend(asio::any_io_executor executor, RemoteBackendOptions options)
    : impl_(std::make_shared<Impl>()) {
    if (options.runner_urls.empty()) throw std::invalid_argument("no runner URL given");
    for (const auto& url : options.runner_urls) impl_->runners.push_back(parse_url(url));
    impl_->client = std::make_shared<Client>(Client{std::move(executor), std::move(options)});
}

RemoteSandboxBackend::~RemoteSandboxBackend() = default;

awaitable<std::vector<RunnerLoad>> RemoteSandboxBackend::loads() {
    auto impl = impl_;
    auto self = impl;
    co_return co_await impl->loads(std::move(self));
}

awaitable<result<std::shared_ptr<Sandbox>>> RemoteSandboxBackend::create(SandboxSpec spec) {
    auto impl = impl_;
    const auto& options = impl->client->options;
    std::optional<Clock::time_point> deadline;  // set when the first round found no runner to take it
    const std::string body = create_body(spec);
    asio::steady_timer retry_timer(impl->client->executor);
    for (bool waiting = false;; waiting = true) {
        auto self = impl;
        const auto loads = co_await impl->loads(std::move(self));
        const auto order = impl->placement(loads, waiting);
        for (const auto i : order) {
            Endpoint runner = impl->runners[i];
            std::string target(proto::sandboxes_path);
            std::string request_body = body;
            ++impl->in_flight[runner.url];
            Endpoint call_runner = runner;
            auto r = co_await impl->client->call(std::move(call_runner), bhttp::verb::post, std::move(target),
                                                 std::move(request_body), options.create_timeout);
            --impl->in_flight[runner.url];
            if (!r) {
                spdlog::warn("remote sandbox create for {}: runner {} failed: {}; trying the next one",
                             spec.thread_key, runner.url, r.error().message());
                continue;
            }
            auto o = object_of(*r);
            if (r->status == status_ok && o && !string_at(*o, "sandbox_id").empty()) {
                const bool prewarmed = o->if_contains("prewarmed") && o->at("prewarmed") == true;
                const json::object* queued = o->if_contains("queued") ? o->at("queued").if_object() : nullptr;
                if (queued && spec.on_queued)
                    spec.on_queued(count_at(*queued, "position"), count_at(*queued, "limit"),
                                   count_at(*queued, "running"));
                spdlog::info("remote sandbox {} for {} on {}", string_at(*o, "sandbox_id"), spec.thread_key,
                             runner.url);
                co_return impl->adopt(runner, string_at(*o, "sandbox_id"), SandboxStatus::running, prewarmed);
            }
            spdlog::error("remote sandbox create for {} on {} failed: {}", spec.thread_key, runner.url,
                          error_of(*r));
            co_return errc::sandbox_failed;
        }
        if (!deadline) deadline = Clock::now() + options.placement_wait;
        if (Clock::now() + options.placement_retry > *deadline) {
            spdlog::error("remote sandbox create for {}: no runner took it within {} ms", spec.thread_key,
                          options.placement_wait.count());
            co_return errc::sandbox_failed;
        }
        if (!waiting)
            spdlog::warn("remote sandbox create for {}: no runner can take it; retrying for up to {} ms",
                         spec.thread_key, options.placement_wait.count());
        retry_timer.expires_after(options.placement_retry);
        co_await retry_timer.async_wait(use_tuple);
    }
}

awaitable<std::vector<std::string>> RemoteSandboxBackend::drain_idle() {
    auto impl = impl_;
    std::vector<std::string> ids;
    for (const auto& runner : impl->runners) {
        Endpoint call_runner = runner;
        std::string target(proto::drain_idle_path);
        std::string no_body;
        auto r = co_await impl->client->call(std::move(call_runner), bhttp::verb::post, std::move(target),
                                             std::move(no_body), impl->client->options.request_timeout);
        auto o = r ? object_of(*r) : std::nullopt;
        const json::array* drained = o && o->if_contains("sandbox_ids") ? o->at("sandbox_ids").if_array() : nullptr;
        if (!r || r->status != status_ok || !drained) {
            spdlog::warn("drain of runner {} failed: {}", runner.url, r ? error_of(*r) : r.error().message());
            continue;
        }
        for (const auto& id : *drained)
            if (id.is_string()) ids.emplace_back(id.as_string());
    }
    co_return ids;
}

awaitable<result<std::vector<RemoteSandboxInfo>>> RemoteSandboxBackend::list(std::string url) {
    auto impl = impl_;
    Endpoint runner = parse_url(url);
    std::string target(proto::sandboxes_path);
    std::string no_body;
    auto r = co_await impl->client->call(std::move(runner), bhttp::verb::get, std::move(target), std::move(no_body),
                                         impl->client->options.request_timeout);
    if (!r || r->status != status_ok) co_return errc::sandbox_failed;
    auto o = object_of(*r);
    const json::array* items = o && o->if_contains("sandboxes") ? o->at("sandboxes").if_array() : nullptr;
    if (!items) co_return errc::sandbox_failed;
    std::vector<RemoteSandboxInfo> out;
    for (const auto& item : *items) {
        if (item.is_object()) out.push_back(info_of(item.as_object()));
    }
    co_return out;
}

awaitable<std::shared_ptr<Sandbox>> RemoteSandboxBackend::attach(std::string url, std::string id) {
    auto impl = impl_;
    Endpoint runner = parse_url(url);
    Endpoint call_runner = runner;
    std::string target = sandbox_target(id, "");
    std::string no_body;
    auto r = co_await impl->client->call(std::move(call_runner), bhttp::verb::get, std::move(target), std::move(no_body),
                                         impl->client->options.request_timeout);
    SandboxStatus status = SandboxStatus::gone;
    if (r && r->status == status_ok)
        if (auto o = object_of(*r))
            status = proto::status_from_string(string_at(*o, "status")).value_or(SandboxStatus::gone);
    co_return impl->adopt(runner, std::move(id), status, false);
}

std::string RemoteSandboxBackend::runner_of(const Sandbox& sandbox) {
    const auto* remote = dynamic_cast<const RemoteSandbox*>(&sandbox);
    return remote ? remote->runner_url() : std::string();
}

}  // namespace centaur::sandbox
