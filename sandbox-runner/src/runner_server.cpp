#include "runner_server.hpp"

#include "runner_protocol.hpp"
#include "wake_list.hpp"

#include <centaur/core/fault_point.hpp>
#include <centaur/http/server.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <deque>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

namespace centaur::sandbox {
namespace asio = boost::asio;
namespace json = boost::json;
namespace proto = runner_protocol;
using asio::awaitable;
using Clock = std::chrono::steady_clock;

namespace {

constexpr auto stream_idle_wait = std::chrono::milliseconds(5000);
constexpr auto exit_poll_wait = std::chrono::milliseconds(20);
constexpr auto pump_room_wait = std::chrono::milliseconds(1000);
constexpr auto sse_keepalive = std::chrono::milliseconds(2000);
constexpr auto min_sweep_interval = std::chrono::seconds(1);
constexpr int sweep_divisor = 4;
constexpr std::chrono::milliseconds max_exec_timeout{std::chrono::hours(1)};
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

using Digest = std::array<unsigned char, SHA256_DIGEST_LENGTH>;

Digest sha256(std::string_view text) {
    Digest d{};
    SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), d.data());
    return d;
}

/// One sandbox served by this runner: its stdout lines numbered from 1, kept until sent (and `replay_lines`
/// after), the streams attached to it.
struct Entry {
    std::shared_ptr<Sandbox> sandbox;
    std::string thread_key;
    std::string harness_type;
    std::deque<std::pair<std::uint64_t, std::string>> lines;  // ascending sequence numbers
    std::uint64_t next_seq = 1;
    std::uint64_t sent = 0;  // highest sequence number written to a stream
    bool eof = false;
    bool stopping = false;
    int attached = 0;
    Clock::time_point detached_since = Clock::now();
    WakeList changed;  // new lines, eof, a stream closed, stop
    WakeList drained;  // lines sent (room for the pump)
};

json::object sandbox_json(const std::string& id, const Entry& e) {
    return json::object{{"sandbox_id", id},
                        {"thread_key", e.thread_key},
                        {"harness_type", e.harness_type},
                        {"status", to_string(e.sandbox->status())},
                        {"termination_reason", e.sandbox->termination_reason()},
                        {"attached", e.attached}};
}

http::Response ok_json(json::object body) {
    body["ok"] = true;
    return http::json_response(body);
}

/// A create that waited for a slot: where it stood in the runner's queue.
struct QueuedAt {
    std::size_t position = 0;
    std::uint32_t limit = 0;
    std::uint32_t running = 0;
};

http::Response created_json(const std::string& id, bool prewarmed, const std::optional<QueuedAt>& queued) {
    json::object body{{"sandbox_id", id}, {"prewarmed", prewarmed}};
    if (queued)
        body["queued"] = json::object{{"position", queued->position}, {"limit", queued->limit}, {"running", queued->running}};
    return ok_json(std::move(body));
}

/// An on_queued callback that keeps what it was told in `queued`.
std::function<void(std::size_t, std::uint32_t, std::uint32_t)> record_queue(std::shared_ptr<std::optional<QueuedAt>> queued) {
    return [queued](std::size_t position, std::uint32_t limit, std::uint32_t running) {
        queued->emplace(QueuedAt{position, limit, running});
    };
}

http::Response drained_json(const std::vector<std::string>& ids) {
    json::array out;
    for (const auto& id : ids) out.emplace_back(id);
    return ok_json(json::object{{"sandbox_ids", std::move(out)}});
}

http::Response ok_empty() { return ok_json(json::object()); }

http::Response gone_json() { return ok_json(json::object{{"status", "gone"}}); }

http::Response health_json(const LocalSandboxBackend& backend, std::uint32_t limit, std::size_t sandboxes) {
    return ok_json(json::object{{"running", backend.live_sandboxes()},
                                {"limit", limit},
                                {"queued", backend.queued_creates()},
                                {"warm", backend.warm_sandboxes()},
                                {"sandboxes", sandboxes},
                                {"isolated", backend.isolation().isolated},
                                {"can_run", backend.can_run()}});
}

http::Response list_json(const std::map<std::string, std::shared_ptr<Entry>>& entries) {
    json::array out;
    for (const auto& [id, e] : entries) out.push_back(sandbox_json(id, *e));
    return ok_json(json::object{{"sandboxes", std::move(out)}});
}

/// Frames for the lines after `cursor` (ids and data kept in `ids`/`data`); returns the new cursor.
std::uint64_t frames_after(const Entry& e, std::uint64_t cursor, std::vector<std::string>& ids,
                           std::vector<std::string>& data, std::vector<http::SseFrame>& frames) {
    ids.clear();
    data.clear();
    frames.clear();
    for (const auto& [seq, line] : e.lines) {
        if (seq <= cursor) continue;
        ids.push_back(std::to_string(seq));
        data.push_back(runner_protocol::escape_line(line));
        cursor = seq;
    }
    for (std::size_t i = 0; i < ids.size(); ++i)
        frames.push_back(http::SseFrame{ids[i], runner_protocol::line_event, data[i]});
    return cursor;
}

http::Response exec_json(const ExecResult& r) {
    return ok_json(json::object{{"exit_code", r.exit_code},
                                {"output", r.output},
                                {"error_output", r.error_output},
                                {"truncated", r.truncated},
                                {"timed_out", r.timed_out}});
}

std::string exit_data(const Sandbox& sandbox) {
    return json::serialize(json::object{{"status", to_string(sandbox.status())},
                                        {"termination_reason", sandbox.termination_reason()}});
}

/// The runner protocol's routes over one LocalSandboxBackend, and the sandboxes created through them. Shared by
/// serve() and its routes; every call runs on the io_context thread. Lifecycle: routes() and guard() once,
/// start_sweeper(), stop_all() at shutdown (then creates are refused).
class RunnerService : public std::enable_shared_from_this<RunnerService> {
public:
    RunnerService(asio::io_context& io, LocalSandboxBackend& backend, std::uint32_t limit, RunnerServeOptions options)
        : io_(io), backend_(backend), limit_(limit), options_(std::move(options)), token_digest_(sha256(options_.token)) {}

    std::vector<http::Route> routes() {
        auto self = shared_from_this();
        std::vector<http::Route> r;
        const std::string base(proto::sandboxes_path);
        r.push_back({"GET", std::string(proto::health_path), http::Capability::none,
                     [self](const http::Request&, const http::PathParams&) { return self->health(); }});
        r.push_back({"GET", base, http::Capability::none,
                     [self](const http::Request&, const http::PathParams&) { return self->list(); }});
        r.push_back({"POST", base, http::Capability::none,
                     [self](const http::Request& req, const http::PathParams&) { return self->create(req.body); }});
        r.push_back({"GET", base + "/{id}", http::Capability::none,
                     [self](const http::Request&, const http::PathParams& p) { return self->status(p.at("id")); }});
        r.push_back({"POST", base + "/{id}/stdin", http::Capability::none,
                     [self](const http::Request& req, const http::PathParams& p) {
                         return self->write(p.at("id"), req.body);
                     }});
        r.push_back({"GET", base + "/{id}/stdout", http::Capability::none,
                     [self](const http::Request& req, const http::PathParams& p) {
                         auto after = req.query.find("after");
                         return self->stdout_stream(p.at("id"), after == req.query.end() ? "0" : after->second);
                     }});
        r.push_back({"POST", base + "/{id}/pause", http::Capability::none,
                     [self](const http::Request&, const http::PathParams& p) { return self->freeze(p.at("id"), true); }});
        r.push_back({"POST", base + "/{id}/resume", http::Capability::none,
                     [self](const http::Request&, const http::PathParams& p) {
                         return self->freeze(p.at("id"), false);
                     }});
        r.push_back({"POST", base + "/{id}/exec", http::Capability::none,
                     [self](const http::Request& req, const http::PathParams& p) {
                         return self->exec(p.at("id"), req.body);
                     }});
        r.push_back({"POST", std::string(proto::drain_idle_path), http::Capability::none,
                     [self](const http::Request&, const http::PathParams&) { return self->drain_idle(); }});
        r.push_back({"POST", base + "/{id}/stop", http::Capability::none,
                     [self](const http::Request&, const http::PathParams& p) { return self->stop(p.at("id")); }});
        return r;
    }

    /// Every call carries `Authorization: Bearer <token>` (compared as SHA-256 digests in constant time).
    http::Guard guard() const {
        if (options_.token.empty()) return {};
        return [digest = token_digest_](const http::Request& req, const http::Route&,
                                        const http::PathParams&) -> std::optional<http::Response> {
            constexpr std::string_view bearer = "Bearer ";
            auto header = req.header("authorization");
            if (!header || header->substr(0, bearer.size()) != bearer)
                return http::error_response(401, "missing runner token");
            const Digest given = sha256(header->substr(bearer.size()));
            if (CRYPTO_memcmp(given.data(), digest.data(), digest.size()) != 0)
                return http::error_response(401, "bad runner token");
            return std::nullopt;
        };
    }

    void start_sweeper() {
        asio::co_spawn(io_, sweep_loop(shared_from_this()), [](std::exception_ptr e) {
            if (e) spdlog::error("runner: orphan sweeper ended by an exception");
        });
    }

    /// Stops every sandbox (shutdown).
    awaitable<void> stop_all() {
        stopped_ = true;
        sweep_timer_.cancel();
        std::vector<std::string> ids;
        for (const auto& entry : entries_) ids.push_back(entry.first);
        for (auto& id : ids) {
            auto ignored = co_await stop(std::move(id));
            (void)ignored;
        }
    }

private:
    std::shared_ptr<Entry> find(const std::string& id) const {
        auto it = entries_.find(id);
        return it == entries_.end() ? nullptr : it->second;
    }

    awaitable<http::Response> health() { co_return health_json(backend_, limit_, entries_.size()); }

    awaitable<http::Response> list() { co_return list_json(entries_); }

    awaitable<http::Response> status(std::string id) {
        auto e = find(id);
        if (!e) co_return http::error_response(404, "no such sandbox");
        co_return ok_json(sandbox_json(id, *e));
    }

    awaitable<http::Response> create(std::string body) {
        boost::system::error_code ec;
        auto parsed = json::parse(body, ec);
        if (ec || !parsed.is_object()) co_return http::error_response(400, "body must be a JSON object");
        const auto& o = parsed.as_object();
        SandboxSpec spec;
        if (auto* v = o.if_contains("thread_key"); v && v->is_string()) spec.thread_key = v->as_string();
        if (auto* v = o.if_contains("harness_type"); v && v->is_string()) spec.harness_type = v->as_string();
        if (auto* v = o.if_contains("env"); v && v->is_object())
            for (const auto& [k, val] : v->as_object())
                if (val.is_string()) spec.env[std::string(k)] = std::string(val.as_string());
        if (stopped_) co_return http::error_response(503, "runner is shutting down");
        const std::string thread_key = spec.thread_key;
        const std::string harness = spec.harness_type;
        auto queued = std::make_shared<std::optional<QueuedAt>>();
        spec.on_queued = record_queue(queued);
        auto created = co_await backend_.create(std::move(spec));
        if (!created) co_return http::error_response(503, "sandbox create failed: " + created.error().message());
        auto e = std::make_shared<Entry>();
        e->sandbox = *created;
        e->thread_key = thread_key;
        e->harness_type = harness;
        const std::string id = e->sandbox->id();
        entries_[id] = e;
        asio::co_spawn(io_, pump(shared_from_this(), e), [](std::exception_ptr ex) {
            if (ex) spdlog::error("runner: stdout pump ended by an exception");
        });
        spdlog::info("runner: sandbox {} created for {} ({} live)", id, thread_key, entries_.size());
        fault_point("runner_after_create_before_reply");
        co_return created_json(id, e->sandbox->prewarmed(), *queued);
    }

    awaitable<http::Response> drain_idle() {
        const auto ids = co_await backend_.drain_idle();
        co_return drained_json(ids);
    }

    awaitable<http::Response> write(std::string id, std::string line) {
        auto e = find(id);
        if (!e || e->stopping) co_return http::error_response(410, "sandbox gone");
        auto r = co_await e->sandbox->write_line(std::move(line));
        if (!r) co_return http::error_response(410, r.error().message());
        co_return ok_empty();
    }

    awaitable<http::Response> freeze(std::string id, bool pause) {
        auto e = find(id);
        if (!e || e->stopping) co_return http::error_response(410, "sandbox gone");
        auto r = pause ? e->sandbox->pause() : e->sandbox->resume();
        if (!r) co_return http::error_response(r.error() == errc::sandbox_gone ? 410 : 500, r.error().message());
        co_return ok_json(sandbox_json(id, *e));
    }

    awaitable<http::Response> exec(std::string id, std::string body) {
        auto e = find(id);
        if (!e || e->stopping) co_return http::error_response(410, "sandbox gone");
        boost::system::error_code ec;
        auto parsed = json::parse(body, ec);
        const json::array* argv_json = nullptr;
        if (!ec && parsed.is_object()) argv_json = parsed.as_object().if_contains("argv") ? parsed.at("argv").if_array() : nullptr;
        if (!argv_json || argv_json->empty()) co_return http::error_response(400, "argv must be a non-empty array");
        std::vector<std::string> argv;
        for (const auto& a : *argv_json) {
            if (!a.is_string()) co_return http::error_response(400, "argv must hold strings");
            argv.emplace_back(a.as_string());
        }
        std::chrono::milliseconds timeout{std::chrono::seconds(30)};
        if (auto* t = parsed.as_object().if_contains("timeout_ms"); t && t->is_int64() && t->as_int64() > 0)
            timeout = std::min(std::chrono::milliseconds(t->as_int64()), max_exec_timeout);
        auto r = co_await e->sandbox->exec(std::move(argv), timeout);
        if (!r) co_return http::error_response(r.error() == errc::sandbox_gone ? 410 : 500, r.error().message());
        co_return exec_json(*r);
    }

    awaitable<http::Response> stop(std::string id) {
        auto e = find(id);
        if (!e) co_return gone_json();
        e->stopping = true;
        e->changed.notify();
        e->drained.notify();
        co_await e->sandbox->stop();
        if (find(id) == e) entries_.erase(id);
        spdlog::info("runner: sandbox {} stopped ({} live)", id, entries_.size());
        co_return gone_json();
    }

    awaitable<http::Response> stdout_stream(std::string id, std::string after_text) {
        auto e = find(id);
        if (!e || e->stopping) co_return http::error_response(404, "no such sandbox");
        std::uint64_t after = 0;
        const auto [end, ec] = std::from_chars(after_text.data(), after_text.data() + after_text.size(), after);
        if (ec != std::errc() || end != after_text.data() + after_text.size())
            co_return http::error_response(400, "after must be a number");
        if (after + 1 < e->next_seq && (e->lines.empty() || e->lines.front().first > after + 1))
            co_return http::error_response(410, "lines after " + after_text + " are no longer kept");
        http::Response res;
        auto self = shared_from_this();
        res.stream = [self, e, after](http::SseStream& sse) { return self->run_stream(e, after, sse); };
        co_return res;
    }

    /// Sends lines after `cursor` as they come, then `eof`, then `exit` once the process ended.
    awaitable<void> run_stream(std::shared_ptr<Entry> e, std::uint64_t cursor, http::SseStream& sse) {
        ++e->attached;
        sse.on_close([e] { e->changed.notify(); });
        bool eof_sent = false;
        std::vector<std::string> ids;
        std::vector<std::string> data;
        std::vector<http::SseFrame> frames;
        const std::string_view no_id;
        const std::string_view no_data;
        asio::any_io_executor executor = io_.get_executor();
        while (sse.open() && !e->stopping) {
            cursor = frames_after(*e, cursor, ids, data, frames);
            if (!frames.empty()) {
                if (!co_await sse.send_events(frames)) break;
                e->sent = std::max(e->sent, cursor);
                while (!e->lines.empty() && e->lines.front().first + options_.replay_lines <= e->sent)
                    e->lines.pop_front();
                e->drained.notify();
                continue;
            }
            if (e->eof) {
                if (!eof_sent) {
                    eof_sent = true;
                    if (!co_await sse.send_event(no_id, proto::eof_event, no_data)) break;
                }
                const auto status = e->sandbox->status();
                if (status == SandboxStatus::stopped || status == SandboxStatus::gone) {
                    const std::string exit = exit_data(*e->sandbox);
                    co_await sse.send_event(no_id, proto::exit_event, exit);
                    break;
                }
            }
            const auto wait = e->eof ? exit_poll_wait : stream_idle_wait;
            co_await e->changed.wait(executor, wait);
        }
        if (--e->attached == 0) e->detached_since = Clock::now();
    }

    /// Reads the sandbox's stdout into the entry; stops reading while `max_unsent_lines` wait to be sent.
    static awaitable<void> pump(std::shared_ptr<RunnerService> self, std::shared_ptr<Entry> e) {
        asio::any_io_executor executor = self->io_.get_executor();
        for (;;) {
            while (e->next_seq - 1 - e->sent >= self->options_.max_unsent_lines && !e->stopping)
                co_await e->drained.wait(executor, pump_room_wait);
            if (e->stopping) break;
            auto line = co_await e->sandbox->read_line();
            if (!line) break;
            e->lines.emplace_back(e->next_seq++, std::move(*line));
            e->changed.notify();
        }
        e->eof = true;
        e->changed.notify();
    }

    /// Stops sandboxes that had no stream attached for `orphan_timeout` (their client is gone).
    static awaitable<void> sweep_loop(std::shared_ptr<RunnerService> self) {
        const auto interval = std::max<std::chrono::seconds>(
            min_sweep_interval, self->options_.orphan_timeout / sweep_divisor);
        while (!self->stopped_) {
            self->sweep_timer_.expires_after(interval);
            auto [ec] = co_await self->sweep_timer_.async_wait(use_tuple);
            if (ec || self->stopped_) break;
            std::vector<std::string> orphans;
            for (const auto& [id, e] : self->entries_)
                if (e->attached == 0 && !e->stopping && Clock::now() - e->detached_since >= self->options_.orphan_timeout)
                    orphans.push_back(id);
            for (auto& id : orphans) {
                spdlog::warn("runner: sandbox {} had no client for {} s: stopping it", id,
                             self->options_.orphan_timeout.count());
                auto ignored = co_await self->stop(std::move(id));
                (void)ignored;
            }
        }
    }

    asio::io_context& io_;
    LocalSandboxBackend& backend_;
    std::uint32_t limit_;
    RunnerServeOptions options_;
    Digest token_digest_;
    std::map<std::string, std::shared_ptr<Entry>> entries_;
    bool stopped_ = false;
    asio::steady_timer sweep_timer_{io_};
};

}  // namespace

int serve(LocalBackendOptions backend_options, RunnerServeOptions options) {
    asio::io_context io;
    const std::uint32_t limit = backend_options.running_limit;
    LocalSandboxBackend backend(io.get_executor(), std::move(backend_options));
    if (!backend.can_run()) {
        std::cerr << "centaur-sandbox-runner: refusing to serve: isolation unavailable: "
                  << backend.isolation().unavailable << "\n";
        return 1;
    }
    boost::system::error_code address_error;
    const auto address = asio::ip::make_address(options.listen_host, address_error);
    if (address_error) {
        std::cerr << "centaur-sandbox-runner: --listen has a bad host: " << options.listen_host << "\n";
        return 1;
    }
    if (options.token.empty()) {
        if (!address.is_loopback()) {
            std::cerr << "centaur-sandbox-runner: set SESSION_SANDBOX_RUNNER_TOKEN to listen beyond loopback\n";
            return 1;
        }
        spdlog::warn("runner: SESSION_SANDBOX_RUNNER_TOKEN is not set: every local caller may drive sandboxes");
    }
    backend.start_background();
    auto service = std::make_shared<RunnerService>(io, backend, limit, options);
    http::ServerOptions http_options;
    http_options.bind_address = options.listen_host;
    http_options.port = options.port;
    http_options.sse_keepalive = sse_keepalive;
    http::Server server(io, http_options, service->routes(), service->guard(), nullptr);
    auto bound = server.start();
    if (!bound) {
        std::cerr << "centaur-sandbox-runner: cannot listen on " << options.listen_host << ":" << options.port << ": "
                  << bound.error().message() << "\n";
        return 1;
    }
    std::cout << "listening on http://" << options.listen_host << ":" << *bound << std::endl;
    spdlog::info("runner: serving on {}:{} (running limit {})", options.listen_host, *bound, limit);
    service->start_sweeper();

    asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&](boost::system::error_code ec, int) {
        if (ec) return;
        spdlog::info("runner: stopping");
        server.stop();
        asio::co_spawn(
            io,
            [&]() -> awaitable<void> {
                co_await service->stop_all();
                co_await backend.shutdown();
            },
            [](std::exception_ptr) {});
    });
    io.run();
    return 0;
}

}  // namespace centaur::sandbox
