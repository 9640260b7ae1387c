#include <centaur/slack/reply_streamer.hpp>

#include <centaur/schemas/event_types.hpp>
#include <centaur/schemas/payloads.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <unordered_map>

namespace centaur::slack {
namespace asio = boost::asio;
namespace json = boost::json;
using asio::awaitable;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

constexpr auto handoff_check = 100ms;
constexpr auto max_backoff = 8s;
constexpr auto default_retry_after = 1s;
constexpr std::size_t max_summary_chars = 200;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

std::string str(const json::object& o, std::string_view key) {
    if (const auto* v = o.if_contains(key); v && v->is_string()) return std::string(v->as_string());
    return {};
}

const json::object* obj(const json::object& o, std::string_view key) {
    const auto* v = o.if_contains(key);
    return v && v->is_object() ? &v->as_object() : nullptr;
}

std::string clip(std::string s) {
    if (s.size() > max_summary_chars) s = s.substr(0, max_summary_chars) + "…";
    for (auto& c : s)
        if (c == '\n' || c == '`') c = ' ';
    return s;
}

/// Cuts at most `limit` bytes off the front of `text`, never inside a UTF-8 sequence.
std::string take_front(std::string& text, std::size_t limit) {
    if (text.size() <= limit) return std::exchange(text, {});
    std::size_t cut = limit;
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
    std::string head = text.substr(0, cut);
    text.erase(0, cut);
    return head;
}

void log_exception(std::exception_ptr e, const char* what) {
    if (!e) return;
    try {
        std::rethrow_exception(e);
    } catch (const std::exception& ex) {
        spdlog::error("slack replies: {} failed: {}", what, ex.what());
    }
}

}  // namespace

std::string reply_text_of_line(std::string_view line, bool& saw_delta) {
    boost::system::error_code ec;
    auto v = json::parse(line, ec);
    if (ec || !v.is_object()) return {};
    const auto& o = v.as_object();
    std::string type = str(o, "type");
    const json::object* params = &o;
    if (type.empty()) {
        type = str(o, "method");
        std::replace(type.begin(), type.end(), '/', '.');
        if (const auto* p = obj(o, "params")) params = p;
    }
    if (type == "item.agentMessage.delta") {
        saw_delta = true;
        return str(*params, "delta");
    }
    if (type == "item.started" || type == "item.completed") {
        const auto* item = obj(*params, "item");
        if (!item) return {};
        const auto item_type = str(*item, "type");
        if (type == "item.completed" && item_type == "agentMessage" && !saw_delta) return str(*item, "text");
        if (type == "item.started" && item_type == "commandExecution")
            return "\n`$ " + clip(str(*item, "command")) + "`\n";
        if (type == "item.started" && (item_type == "mcpToolCall" || item_type == "dynamicToolCall")) {
            auto name = str(*item, "tool");
            if (name.empty()) name = str(*item, "name");
            return "\n_tool: " + clip(name.empty() ? item_type : name) + "_\n";
        }
        return {};
    }
    if (type == "assistant" && !saw_delta) {
        const auto* message = obj(o, "message");
        const auto* content = message ? message->if_contains("content") : nullptr;
        std::string text;
        if (content && content->is_array()) {
            for (const auto& part : content->as_array()) {
                if (!part.is_object()) continue;
                if (str(part.as_object(), "type") == "text") text += str(part.as_object(), "text");
                if (str(part.as_object(), "type") == "tool_use")
                    text += "\n_tool: " + clip(str(part.as_object(), "name")) + "_\n";
            }
        }
        return text;
    }
    return {};
}

SlackReplyProbe::SlackReplyProbe(prometheus::Registry& registry)
    : calls(prometheus::BuildCounter().Name("centaur_slack_api_calls_total").Help("Slack Web API calls").Register(registry)),
      rate_limited(prometheus::BuildCounter()
                       .Name("centaur_slack_api_rate_limited_total")
                       .Help("Slack Web API answers 429 / ratelimited")
                       .Register(registry)),
      retries(prometheus::BuildCounter()
                  .Name("centaur_slack_api_retries_total")
                  .Help("Slack Web API calls retried")
                  .Register(registry)) {}

double SlackReplyProbe::value(prometheus::Family<prometheus::Counter>& family,
                              const std::map<std::string, std::string>& labels) const {
    for (const auto& m : family.Collect()) {
        for (const auto& metric : m.metric) {
            std::map<std::string, std::string> have;
            for (const auto& l : metric.label) have[l.name] = l.value;
            if (have == labels) return metric.counter.value;
        }
    }
    return 0;
}

/// One execution's reply. Lives on the io_context.
struct Reply {
    enum class Mode { none, stream, post };
    std::string execution_id;
    ThreadKey key;
    std::string channel, thread_ts, team, user;
    Mode mode = Mode::none;
    std::string message_ts;
    std::string shown;    ///< post mode: the text of the current message
    std::string pending;  ///< text not yet on Slack
    std::string full;     ///< every text of the reply (re-rendered after a restart)
    bool saw_delta = false;
    bool any_text = false;
    bool started = false;
    bool terminal = false;
    std::int64_t terminal_at_us = 0;
    bool status_set = false;
    bool running = false;
    Clock::time_point last_flush = Clock::now();
    std::unique_ptr<asio::steady_timer> wake;
};

struct Bucket {
    double tokens = 0;
    Clock::time_point refilled;
    Clock::time_point blocked_until;
};

struct ReplyStreamer::Impl : std::enable_shared_from_this<Impl> {
    Impl(asio::io_context& io_, EventLog& log_, SlackClient& client_, ReplyStreamerOptions options_,
         SlackReplyProbe* probe_)
        : io(io_), log(log_), client(client_), options(std::move(options_)), probe(probe_) {}

    asio::io_context& io;
    EventLog& log;
    SlackClient& client;
    ReplyStreamerOptions options;
    SlackReplyProbe* probe;

    std::unique_ptr<LogReader> reader;
    std::thread reader_thread;
    std::atomic<bool> stopping{false};

    bool recovering = true;
    std::unordered_map<std::string, std::shared_ptr<Reply>> replies;  // by execution id
    std::unordered_map<std::string, Bucket> buckets;                   // by workspace/method
    std::size_t running = 0;

    // ---- reader thread ------------------------------------------------------------------------------------

    void read_loop() {
        bool caught_up = false;
        while (!stopping) {
            auto polled = reader->poll(caught_up ? options.poll_wait : 0ms, options.max_batch);
            if (!polled) continue;
            if (polled->empty()) {
                if (!caught_up) {
                    caught_up = true;
                    asio::post(io, [self = shared_from_this()] { self->on_caught_up(); });
                }
                continue;
            }
            auto done = std::make_shared<std::pair<std::mutex, std::condition_variable>>();
            auto finished = std::make_shared<bool>(false);
            asio::post(io, [self = shared_from_this(), batch = std::move(*polled), done, finished] {
                for (const auto& r : batch) self->handle(r.envelope);
                std::lock_guard lock(done->first);
                *finished = true;
                done->second.notify_one();
            });
            std::unique_lock lock(done->first);
            while (!*finished && !stopping) done->second.wait_for(lock, handoff_check);
        }
    }

    // ---- io_context: folding ------------------------------------------------------------------------------

    void handle(const EventEnvelope& e) {
        if (e.thread_key.ns() != "slack") return;
        if (e.event_type == event_type::execution_requested) {
            auto p = execution_requested_from(e.payload);
            if (!p) return;
            const auto channel = str(p->metadata, "slack_channel_id");
            const auto thread_ts = str(p->metadata, "slack_thread_ts");
            if (channel.empty() || thread_ts.empty() || replies.count(p->execution_id)) return;
            auto r = std::make_shared<Reply>(Reply{p->execution_id, e.thread_key, channel, thread_ts,
                                                   str(p->metadata, "slack_team_id"), str(p->metadata, "slack_user_id")});
            r->wake = std::make_unique<asio::steady_timer>(io);
            replies.emplace(p->execution_id, std::move(r));
            return;
        }
        if (!e.execution_id) return;
        auto it = replies.find(*e.execution_id);
        if (it == replies.end()) return;
        auto& r = it->second;
        if (e.event_type == event_type::execution_started) {
            r->started = true;
            r->last_flush = Clock::now();
        } else if (e.event_type == event_type::output_line && e.payload.is_string()) {
            auto text = reply_text_of_line(e.payload.as_string(), r->saw_delta);
            if (text.empty()) return;
            r->any_text = true;
            r->pending += text;
            r->full += text;
        } else if (event_type::is_terminal(e.event_type)) {
            r->terminal = true;
            r->terminal_at_us = e.occurred_at_us;
            std::string tail;
            const auto& p = e.payload.is_object() ? e.payload.as_object() : json::object{};
            if (e.event_type == event_type::execution_completed) {
                if (!r->any_text) tail = str(p, "result_text");
                if (tail.empty() && !r->any_text) tail = "_(no output)_";
            } else if (e.event_type == event_type::execution_failed) {
                tail = "\n\n_Execution failed: " + clip(str(p, "error")) + "_";
            } else {
                tail = "\n\n_Stopped._";
            }
            r->pending += tail;
            r->full += tail;
        } else if (e.event_type == reply_started_event) {
            const auto& p = e.payload.is_object() ? e.payload.as_object() : json::object{};
            r->message_ts = str(p, "message_ts");
            r->mode = str(p, "mode") == "stream" ? Reply::Mode::stream : Reply::Mode::post;
            return;  // our own bookkeeping: nothing to render
        } else if (e.event_type == reply_completed_event) {
            if (recovering) replies.erase(it);
            return;
        } else {
            return;
        }
        if (!recovering) kick(r);
    }

    void on_caught_up() {
        recovering = false;
        const auto horizon = now_micros() -
                             std::chrono::duration_cast<std::chrono::microseconds>(options.recovery_window).count();
        std::vector<std::shared_ptr<Reply>> resume;
        for (auto it = replies.begin(); it != replies.end();) {
            auto& r = it->second;
            if (r->terminal && r->terminal_at_us < horizon) {
                it = replies.erase(it);  // long over: never post late
                continue;
            }
            if (!r->message_ts.empty()) {
                // A reply already in Slack continues in its message, re-rendered whole.
                r->mode = Reply::Mode::post;
                r->shown.clear();
                r->pending = r->full;
            }
            if (r->started || r->terminal) resume.push_back(r);
            ++it;
        }
        spdlog::info("slack replies: caught up with the log ({} replies open)", replies.size());
        // Kicked after the loop: a reply may finish (and leave `replies`) before kick returns.
        for (auto& r : resume) kick(r);
    }

    void kick(std::shared_ptr<Reply> r) {
        if (r->running) {
            r->wake->cancel();
            return;
        }
        r->running = true;
        ++running;
        asio::co_spawn(io, drive(r), [self = shared_from_this(), r](std::exception_ptr e) {
            log_exception(e, "reply");
            r->running = false;
            --self->running;
        });
    }

    // ---- io_context: Slack calls ------------------------------------------------------------------------------

    const RateLimit& limit_of(const std::string& method) const {
        auto it = options.limits.find(method);
        return it == options.limits.end() ? options.default_limit : it->second;
    }

    /// Waits for a token of the (workspace, method) bucket.
    awaitable<void> acquire(const std::string& bucket_key, const RateLimit& limit) {
        const double rate = limit.per_minute / 60.0;
        auto [it, fresh] = buckets.try_emplace(bucket_key);
        if (fresh) {
            it->second.tokens = limit.burst;
            it->second.refilled = Clock::now();
        }
        asio::steady_timer timer(io);
        for (;;) {
            auto& b = buckets[bucket_key];
            const auto now = Clock::now();
            b.tokens = std::min(limit.burst,
                                b.tokens + std::chrono::duration<double>(now - b.refilled).count() * rate);
            b.refilled = now;
            if (now < b.blocked_until) {
                timer.expires_at(b.blocked_until);
            } else if (b.tokens >= 1) {
                b.tokens -= 1;
                co_return;
            } else {
                timer.expires_after(std::chrono::duration_cast<Clock::duration>(
                    std::chrono::duration<double>((1 - b.tokens) / rate)));
            }
            co_await timer.async_wait(use_tuple);
            if (stopping) co_return;
        }
    }

    void count(prometheus::Family<prometheus::Counter>* family, std::map<std::string, std::string> labels) {
        if (probe && family) family->Add(labels).Increment();
    }

    /// A Web API call with rate limiting and retries (transport errors, 5xx, 429). The final answer, or nullopt
    /// when every attempt failed or the streamer is stopping.
    awaitable<std::optional<SlackResponse>> call(const Reply& r, const char* method, const json::object& args) {
        const std::string name(method);
        const std::string bucket_key = (r.team.empty() ? std::string("default") : r.team) + "/" + name;
        const auto& limit = limit_of(name);
        auto backoff = options.retry_backoff;
        asio::steady_timer timer(io);
        for (int attempt = 0; attempt < options.max_attempts && !stopping; ++attempt) {
            if (attempt > 0) count(probe ? &probe->retries : nullptr, {{"method", name}});
            co_await acquire(bucket_key, limit);
            if (stopping) break;
            std::string m = name;
            json::object a = args;
            auto res = co_await client.call(std::move(m), std::move(a));
            if (res && (res->http_status == 429 || res->error() == "ratelimited")) {
                count(probe ? &probe->rate_limited : nullptr, {{"method", name}});
                buckets[bucket_key].blocked_until =
                    Clock::now() + (res->retry_after ? std::chrono::duration_cast<Clock::duration>(*res->retry_after)
                                                     : std::chrono::duration_cast<Clock::duration>(default_retry_after));
                continue;
            }
            if (res && res->http_status < 500) {
                count(probe ? &probe->calls : nullptr, {{"method", name}, {"outcome", res->ok() ? "ok" : "error"}});
                if (!res->ok())
                    spdlog::warn("slack replies: {} for {} answered {}", name, r.key.str(), res->error());
                co_return *res;
            }
            if (!res) spdlog::warn("slack replies: {} for {} failed: {}", name, r.key.str(), res.error().message());
            timer.expires_after(backoff);
            co_await timer.async_wait(use_tuple);
            backoff = std::min<std::chrono::milliseconds>(backoff * 2, max_backoff);
        }
        count(probe ? &probe->calls : nullptr, {{"method", name}, {"outcome", "failed"}});
        co_return std::nullopt;
    }

    // ---- io_context: rendering ------------------------------------------------------------------------------

    static json::object start_stream_args(const Reply& r, const std::string& text) {
        json::object a{{"channel", r.channel}, {"thread_ts", r.thread_ts}, {"markdown_text", text}};
        if (!r.user.empty()) a["recipient_user_id"] = r.user;
        if (!r.team.empty()) a["recipient_team_id"] = r.team;
        return a;
    }
    static json::object append_args(const Reply& r, const std::string& text) {
        return json::object{{"channel", r.channel}, {"ts", r.message_ts}, {"markdown_text", text}};
    }
    static json::object stop_args(const Reply& r) { return json::object{{"channel", r.channel}, {"ts", r.message_ts}}; }
    static json::object post_args(const Reply& r, const std::string& text) {
        return json::object{{"channel", r.channel}, {"thread_ts", r.thread_ts}, {"text", text}, {"mrkdwn", true}};
    }
    static json::object update_args(const Reply& r, const std::string& text) {
        return json::object{{"channel", r.channel}, {"ts", r.message_ts}, {"text", text}};
    }
    static json::object status_args(const Reply& r, const std::string& status) {
        return json::object{{"channel_id", r.channel}, {"thread_ts", r.thread_ts}, {"status", status}};
    }

    void record(const Reply& r, const char* type, json::object payload) {
        payload["execution_id"] = r.execution_id;
        payload["thread_key"] = r.key.str();
        EventEnvelope e{EventUuid::derived(r.execution_id + "/" + type), r.key, r.execution_id, type,
                        json::value(std::move(payload)), now_micros(), EventSource::processor};
        log.async_append(std::move(e), [type = std::string(type)](result<Appended> a) {
            if (!a) spdlog::error("slack replies: append of {} failed: {}", type, a.error().message());
        });
    }

    void started(Reply& r, Reply::Mode mode, std::string ts) {
        r.mode = mode;
        r.message_ts = std::move(ts);
        record(r, reply_started_event,
               json::object{{"channel", r.channel},
                            {"message_ts", r.message_ts},
                            {"mode", mode == Reply::Mode::stream ? "stream" : "post"}});
    }

    void completed(const Reply& r) {
        record(r, reply_completed_event, json::object{{"channel", r.channel}, {"message_ts", r.message_ts}});
        const std::string id = r.execution_id;
        replies.erase(id);  // destroys `r`
    }

    /// Posts `text` as a new message of the thread (fallback mode). False when Slack did not take it.
    awaitable<bool> post_new(Reply& r, std::string text) {
        auto args = post_args(r, text);
        auto res = co_await call(r, slack_method::post_message, args);
        if (!res || !res->ok()) co_return false;
        started(r, Reply::Mode::post, str(res->body, "ts"));
        r.shown = std::move(text);
        co_return true;
    }

    /// Sends what is pending. On a failure the text goes back to `pending` for the next round.
    awaitable<void> flush(Reply& r) {
        std::string text = std::exchange(r.pending, {});
        r.last_flush = Clock::now();
        if (r.mode == Reply::Mode::none && options.streaming) {
            std::string first = take_front(text, options.max_append_chars);
            auto args = start_stream_args(r, first);
            auto res = co_await call(r, slack_method::start_stream, args);
            if (!res) {
                r.pending = first + text + r.pending;
                co_return;
            }
            if (res->ok()) {
                started(r, Reply::Mode::stream, str(res->body, "ts"));
            } else {
                text = first + text;  // streaming refused: fall back to post + update
                r.mode = Reply::Mode::post;
                r.message_ts.clear();
            }
        }
        if (r.mode == Reply::Mode::stream) {
            while (!text.empty()) {
                std::string chunk = take_front(text, options.max_append_chars);
                auto args = append_args(r, chunk);
                auto res = co_await call(r, slack_method::append_stream, args);
                if (!res) {
                    r.pending = chunk + text + r.pending;
                    co_return;
                }
                if (!res->ok()) {  // the stream is gone (expired, stopped): continue in new messages
                    r.mode = Reply::Mode::post;
                    r.message_ts.clear();
                    text = chunk + text;
                    break;
                }
            }
        }
        while (!text.empty()) {
            if (r.message_ts.empty() || r.shown.size() + text.size() > options.max_message_chars) {
                std::string chunk = take_front(text, options.max_message_chars);
                std::string copy = chunk;
                if (!co_await post_new(r, std::move(copy))) {
                    r.pending = chunk + text + r.pending;
                    co_return;
                }
                continue;
            }
            std::string whole = r.shown + text;
            auto args = update_args(r, whole);
            auto res = co_await call(r, slack_method::update, args);
            if (!res) {
                r.pending = text + r.pending;
                co_return;
            }
            if (!res->ok()) {
                r.message_ts.clear();  // the message cannot be edited: continue in a new one
                continue;
            }
            r.shown = std::move(whole);
            text.clear();
        }
    }

    bool due(const Reply& r) const {
        if (r.pending.empty()) return false;
        if (r.terminal || r.pending.size() >= options.flush_chars) return true;
        return Clock::now() >= r.last_flush + options.flush_interval;
    }

    awaitable<void> set_status(Reply& r, const std::string& status) {
        auto args = status_args(r, status);
        co_await call(r, slack_method::set_status, args);
    }

    awaitable<void> drive(std::shared_ptr<Reply> r) {
        if (!r->status_set && !r->terminal) {
            r->status_set = true;
            const std::string status = options.status_text;
            co_await set_status(*r, status);
        }
        while (!stopping) {
            if (due(*r)) {
                const auto before = r->pending.size();
                co_await flush(*r);
                if (!r->pending.empty() && r->pending.size() >= before) {
                    // Slack refused everything this round: wait an interval before the next attempt.
                    r->wake->expires_after(options.flush_interval);
                    co_await r->wake->async_wait(use_tuple);
                }
                continue;
            }
            if (r->terminal && r->pending.empty()) {
                co_await finish(*r);
                co_return;
            }
            if (r->pending.empty()) r->wake->expires_at(Clock::time_point::max());
            else r->wake->expires_at(r->last_flush + options.flush_interval);
            co_await r->wake->async_wait(use_tuple);
        }
    }

    awaitable<void> finish(Reply& r) {
        if (r.mode == Reply::Mode::stream) {
            auto args = stop_args(r);
            co_await call(r, slack_method::stop_stream, args);
        }
        if (r.status_set) {
            const std::string cleared;
            co_await set_status(r, cleared);
        }
        completed(r);
    }

    awaitable<void> shutdown() {
        stopping = true;
        if (reader) reader->wake();
        if (reader_thread.joinable()) reader_thread.join();
        for (auto& [id, r] : replies) r->wake->cancel();
        asio::steady_timer timer(io);
        while (running > 0) {
            timer.expires_after(10ms);
            co_await timer.async_wait(use_tuple);
        }
    }
};

ReplyStreamer::ReplyStreamer(asio::io_context& io, EventLog& log, SlackClient& client, ReplyStreamerOptions options,
                             SlackReplyProbe* probe)
    : impl_(std::make_shared<Impl>(io, log, client, std::move(options), probe)) {}

ReplyStreamer::~ReplyStreamer() {
    impl_->stopping = true;
    if (impl_->reader) impl_->reader->wake();
    if (impl_->reader_thread.joinable()) impl_->reader_thread.join();
}

void ReplyStreamer::start() {
    if (impl_->reader_thread.joinable()) return;
    impl_->reader = impl_->log.open_reader();
    impl_->reader_thread = std::thread([impl = impl_] { impl->read_loop(); });
}

asio::awaitable<void> ReplyStreamer::stop() { return impl_->shutdown(); }

}  // namespace centaur::slack
