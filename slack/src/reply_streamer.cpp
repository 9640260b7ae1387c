#include <centaur/slack/reply_streamer.hpp>

#include <centaur/core/fault_point.hpp>
#include <centaur/core/io_handoff.hpp>
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
#include <optional>
#include <thread>
#include <unordered_map>
#include <unordered_set>

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
                  .Register(registry)),
      recoveries(prometheus::BuildCounter()
                     .Name("centaur_slack_reply_recoveries_total")
                     .Help("Replies whose message creation was unconfirmed, looked up in the thread")
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
    std::int32_t partition = 0;
    Mode mode = Mode::none;
    std::string message_ts;
    int next_part = 0;               ///< messages of this reply Slack confirmed (post mode may open several)
    std::optional<int> intent_part;  ///< a durable intent to create message `*intent_part`, not yet confirmed
    std::string intent_mode;         ///< "stream" or "post": how that message was to be created
    bool lookup = false;             ///< find the intended message in the thread before creating it again
    bool close_stream = false;       ///< a stream left open by an earlier process: stop it, then edit the message
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
    bool abandoned = false;  ///< its partition was revoked: the next owner renders it
    Clock::time_point last_flush = Clock::now();
    std::unique_ptr<asio::steady_timer> wake;
};

struct Bucket {
    double tokens = 0;
    Clock::time_point refilled;
    Clock::time_point blocked_until;
};

namespace {

/// Payload fields of the bookkeeping events.
json::object intent_payload(const Reply& r, int part, const char* mode) {
    return json::object{{"channel", r.channel}, {"thread_ts", r.thread_ts}, {"part", part}, {"mode", mode}};
}
json::object started_payload(const Reply& r, int part, const char* mode) {
    return json::object{{"channel", r.channel}, {"message_ts", r.message_ts}, {"part", part}, {"mode", mode}};
}
json::object completed_payload(const Reply& r) {
    return json::object{{"channel", r.channel}, {"message_ts", r.message_ts}};
}

/// The marker a posted message carries (Slack message metadata), found again by `conversations.replies`.
json::object reply_metadata(const Reply& r, int part) {
    return json::object{{"event_type", reply_metadata_type},
                        {"event_payload", json::object{{"execution_id", r.execution_id}, {"part", part}}}};
}

/// Event uuid of a bookkeeping event: part 0 keeps the uuid of the first design (`<execution>/<type>`).
EventUuid reply_event_uuid(const std::string& execution_id, std::string_view type, int part) {
    std::string name = execution_id + "/" + std::string(type);
    if (part > 0) name += "/" + std::to_string(part);
    return EventUuid::derived(name);
}

int int_of(const json::object& o, std::string_view key) {
    const auto* v = o.if_contains(key);
    return v && v->is_int64() ? static_cast<int>(v->as_int64()) : 0;
}

}  // namespace

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

    // io_context state.
    std::unordered_set<std::int32_t> live;                             ///< assigned and caught up: may call Slack
    std::unordered_map<std::string, std::shared_ptr<Reply>> replies;  // by execution id
    std::unordered_map<std::string, std::unordered_set<std::string>> claimed;  ///< thread -> message ts of replies
    std::unordered_map<std::string, Bucket> buckets;                           // by workspace/method
    std::unordered_map<std::int32_t, std::size_t> running_in;                  ///< running drives per partition
    std::size_t running = 0;

    // ---- reader thread ------------------------------------------------------------------------------------

    void read_loop() {
        while (!stopping) {
            auto polled = reader->poll(options.poll_wait, options.max_batch);
            if (!polled || polled->empty()) continue;  // on error the reader logged and backed off
            run_on_io([self = shared_from_this(), batch = std::move(*polled)] {
                for (const auto& r : batch) self->handle(r);
            });
        }
    }

    /// Runs `f` on the io_context and waits until it ran (or the streamer stops). Reader thread.
    template <typename F>
    void run_on_io(F f) {
        run_on_io_and_wait(io, stopping, std::move(f), handoff_check);
    }

    ReaderOptions reader_options() {
        ReaderOptions o;
        o.group = options.group;
        // Reader thread. What Slack shows is the fold of the thread's events: re-read an assigned partition whole.
        o.on_assigned = [this](const PartitionList& partitions) {
            for (auto p : partitions) reader->seek(p, LogOffset(0));
        };
        o.on_revoked = [this](const PartitionList& partitions) { on_revoked(partitions); };
        o.on_caught_up = [this](std::int32_t partition) {
            run_on_io([self = shared_from_this(), partition] { self->on_caught_up(partition); });
        };
        return o;
    }

    /// Reader thread. Abandons the partitions' replies, then waits (bounded) until their Slack calls in flight
    /// and bookkeeping appends are done, so the next owner folds a log that shows them.
    void on_revoked(const PartitionList& partitions) {
        run_on_io([self = shared_from_this(), partitions] {
            for (auto p : partitions) self->live.erase(p);
            for (auto it = self->replies.begin(); it != self->replies.end();) {
                auto& r = it->second;
                if (std::find(partitions.begin(), partitions.end(), r->partition) == partitions.end()) {
                    ++it;
                    continue;
                }
                r->abandoned = true;
                r->wake->cancel();
                it = self->replies.erase(it);
            }
        });
        const auto deadline = Clock::now() + options.revoke_drain;
        for (;;) {
            auto busy = std::make_shared<bool>(false);
            run_on_io([self = shared_from_this(), partitions, busy] {
                for (auto p : partitions)
                    if (auto it = self->running_in.find(p); it != self->running_in.end() && it->second > 0) *busy = true;
            });
            if (!*busy || stopping) break;
            if (Clock::now() >= deadline) {
                spdlog::warn("slack replies: partitions revoked with Slack calls still in flight");
                break;
            }
            std::this_thread::sleep_for(handoff_check / 5);
        }
        spdlog::info("slack replies: partitions revoked ({})", partitions.size());
    }

    // ---- io_context: folding ------------------------------------------------------------------------------

    void handle(const LogRecord& record) {
        const auto& e = record.envelope;
        if (e.thread_key.ns() != "slack") return;
        const bool is_live = live.count(record.position.partition) > 0;
        if (e.event_type == event_type::execution_requested) {
            auto p = execution_requested_from(e.payload);
            if (!p) return;
            const auto channel = str(p->metadata, "slack_channel_id");
            const auto thread_ts = str(p->metadata, "slack_thread_ts");
            if (channel.empty() || thread_ts.empty() || replies.count(p->execution_id)) return;
            auto r = std::make_shared<Reply>(Reply{p->execution_id, e.thread_key, channel, thread_ts,
                                                   str(p->metadata, "slack_team_id"), str(p->metadata, "slack_user_id"),
                                                   record.position.partition});
            r->wake = std::make_unique<asio::steady_timer>(io);
            replies.emplace(p->execution_id, std::move(r));
            return;
        }
        if (e.event_type == reply_started_event && e.payload.is_object()) {
            // Every message a reply ever used is claimed, also after the reply is over (recovery lookups).
            const auto ts = str(e.payload.as_object(), "message_ts");
            if (!ts.empty()) claimed[e.thread_key.str()].insert(ts);
        }
        if (!e.execution_id) return;
        auto it = replies.find(*e.execution_id);
        if (it == replies.end()) return;
        auto& r = it->second;
        static const json::object no_payload;
        const json::object& p = e.payload.is_object() ? e.payload.as_object() : no_payload;
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
        } else if (is_live) {
            return;  // the echo of our own bookkeeping: applied when it was decided
        } else if (e.event_type == reply_intent_event) {
            const int part = int_of(p, "part");
            if (part >= r->next_part) {
                r->intent_part = part;
                r->intent_mode = str(p, "mode");
            }
            return;
        } else if (e.event_type == reply_started_event) {
            const int part = int_of(p, "part");
            r->message_ts = str(p, "message_ts");
            r->mode = str(p, "mode") == "stream" ? Reply::Mode::stream : Reply::Mode::post;
            r->next_part = std::max(r->next_part, part + 1);
            if (r->intent_part && *r->intent_part < r->next_part) r->intent_part.reset();
            return;
        } else if (e.event_type == reply_completed_event) {
            replies.erase(it);
            return;
        } else {
            return;
        }
        if (is_live) kick(r);
    }

    /// `partition` is folded up to its end: finish what its previous owner left unfinished, then go live.
    void on_caught_up(std::int32_t partition) {
        if (!live.insert(partition).second) return;
        const auto horizon = now_micros() -
                             std::chrono::duration_cast<std::chrono::microseconds>(options.recovery_window).count();
        std::vector<std::shared_ptr<Reply>> resume;
        std::size_t open = 0;
        for (auto it = replies.begin(); it != replies.end();) {
            auto& r = it->second;
            if (r->partition != partition) {
                ++it;
                continue;
            }
            if (r->terminal && r->terminal_at_us < horizon) {
                it = replies.erase(it);  // long over: never post late
                continue;
            }
            ++open;
            if (r->intent_part) {
                // A message may have been created without its answer becoming durable: look for it first.
                r->lookup = true;
                r->shown.clear();
                r->pending = r->full;
            } else if (!r->message_ts.empty()) {
                // A reply already in Slack continues in its message, re-rendered whole (a stream closed first).
                r->close_stream = r->mode == Reply::Mode::stream;
                r->mode = Reply::Mode::post;
                r->shown.clear();
                r->pending = r->full;
            }
            if (r->started || r->terminal) resume.push_back(r);
            ++it;
        }
        spdlog::info("slack replies: caught up with partition {} ({} replies open)", partition, open);
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
        ++running_in[r->partition];
        asio::co_spawn(io, drive(r), [self = shared_from_this(), r](std::exception_ptr e) {
            log_exception(e, "reply");
            r->running = false;
            --self->running;
            --self->running_in[r->partition];
        });
    }

    bool gone(const Reply& r) const { return stopping || r.abandoned; }

    // ---- io_context: Slack calls ------------------------------------------------------------------------------

    const RateLimit& limit_of(const std::string& method) const {
        auto it = options.limits.find(method);
        return it == options.limits.end() ? options.default_limit : it->second;
    }

    /// Waits for a token of the (workspace, method) bucket.
    awaitable<void> acquire(const Reply& r, const std::string& bucket_key, const RateLimit& limit) {
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
            if (gone(r)) co_return;
        }
    }

    void count(prometheus::Family<prometheus::Counter>* family, std::map<std::string, std::string> labels) {
        if (probe && family) family->Add(labels).Increment();
    }

    /// A Web API call with rate limiting and retries (429 always; transport errors and 5xx only when
    /// `retry_unknown`, since Slack may have acted on a call whose answer was lost). The final answer, or nullopt
    /// when no answer came (every attempt failed, an unknown outcome, or the reply was abandoned).
    awaitable<std::optional<SlackResponse>> call(const Reply& r, const char* method, const json::object& args,
                                                 bool retry_unknown = true) {
        const std::string name(method);
        const std::string bucket_key = (r.team.empty() ? std::string("default") : r.team) + "/" + name;
        const auto& limit = limit_of(name);
        auto backoff = options.retry_backoff;
        asio::steady_timer timer(io);
        for (int attempt = 0; attempt < options.max_attempts && !gone(r); ++attempt) {
            if (attempt > 0) count(probe ? &probe->retries : nullptr, {{"method", name}});
            co_await acquire(r, bucket_key, limit);
            if (gone(r)) break;
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
            if (!retry_unknown) break;
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
    static json::object post_args(const Reply& r, const std::string& text, int part) {
        return json::object{{"channel", r.channel},
                            {"thread_ts", r.thread_ts},
                            {"text", text},
                            {"mrkdwn", true},
                            {"metadata", reply_metadata(r, part)}};
    }
    static json::object update_args(const Reply& r, const std::string& text) {
        return json::object{{"channel", r.channel}, {"ts", r.message_ts}, {"text", text}};
    }
    static json::object status_args(const Reply& r, const std::string& status) {
        return json::object{{"channel_id", r.channel}, {"thread_ts", r.thread_ts}, {"status", status}};
    }
    json::object replies_args(const Reply& r) const {
        return json::object{{"channel", r.channel},
                            {"ts", r.thread_ts},
                            {"include_all_metadata", true},
                            {"limit", options.lookup_limit}};
    }

    EventEnvelope bookkeeping(const Reply& r, const char* type, int part, json::object payload) const {
        payload["execution_id"] = r.execution_id;
        payload["thread_key"] = r.key.str();
        return EventEnvelope{reply_event_uuid(r.execution_id, type, part), r.key, r.execution_id, type,
                             json::value(std::move(payload)), now_micros(), EventSource::processor};
    }

    /// Logs a bookkeeping append that failed. True when the event is durable.
    static bool recorded(const result<Appended>& appended, const char* type) {
        if (!appended) spdlog::error("slack replies: append of {} failed: {}", type, appended.error().message());
        return appended.has_value();
    }

    /// Makes the intent to create message `part` durable before Slack is asked to create it.
    awaitable<bool> intend(Reply& r, int part, const char* mode) {
        if (r.intent_part == part) {
            r.intent_mode = mode;
            co_return true;
        }
        auto e = bookkeeping(r, reply_intent_event, part, intent_payload(r, part, mode));
        auto appended = co_await append(log, std::move(e));
        if (!recorded(appended, reply_intent_event)) co_return false;
        r.intent_part = part;
        r.intent_mode = mode;
        co_return true;
    }

    /// Slack created message `part` with ts `ts`: records it (durable before the reply goes on).
    awaitable<void> started(Reply& r, Reply::Mode mode, std::string ts, int part) {
        fault_point("slack_after_post_before_started");
        r.mode = mode;
        r.message_ts = std::move(ts);
        r.next_part = part + 1;
        r.intent_part.reset();
        claimed[r.key.str()].insert(r.message_ts);
        auto e = bookkeeping(r, reply_started_event, part,
                             started_payload(r, part, mode == Reply::Mode::stream ? "stream" : "post"));
        auto appended = co_await append(log, std::move(e));
        recorded(appended, reply_started_event);
    }

    awaitable<void> completed(Reply& r) {
        auto e = bookkeeping(r, reply_completed_event, 0, completed_payload(r));
        auto appended = co_await append(log, std::move(e));
        recorded(appended, reply_completed_event);
        const std::string id = r.execution_id;
        replies.erase(id);
    }

    /// After a restart or a lost answer: finds the message the recorded intent may have created (its metadata
    /// marker, else a bot message of the thread no reply claims). False when Slack could not be asked (retry);
    /// true with `r.message_ts` set when found, empty when Slack shows no such message.
    awaitable<bool> find_intended(Reply& r) {
        const int part = r.intent_part.value_or(r.next_part);
        auto args = replies_args(r);
        auto res = co_await call(r, slack_method::conversations_replies, args);
        if (!res) co_return false;
        r.lookup = false;
        std::string found;
        bool found_stream = false;
        if (res->ok()) {
            const auto* messages = res->body.if_contains("messages");
            const auto& mine = claimed[r.key.str()];
            std::string unclaimed;
            if (messages && messages->is_array()) {
                for (const auto& m : messages->as_array()) {
                    if (!m.is_object()) continue;
                    const auto& o = m.as_object();
                    const auto ts = str(o, "ts");
                    if (ts.empty() || ts == r.thread_ts) continue;
                    const auto* meta = obj(o, "metadata");
                    const auto* payload = meta ? obj(*meta, "event_payload") : nullptr;
                    if (payload && str(*meta, "event_type") == reply_metadata_type &&
                        str(*payload, "execution_id") == r.execution_id && int_of(*payload, "part") == part) {
                        found = ts;
                        break;
                    }
                    if (unclaimed.empty() && o.contains("bot_id") && !meta && !mine.count(ts)) unclaimed = ts;
                }
            }
            if (found.empty() && !unclaimed.empty()) {
                found = unclaimed;
                found_stream = r.intent_mode == "stream";
            }
        } else {
            spdlog::warn("slack replies: cannot look up the message of {} ({}): posting it again", r.key.str(),
                         res->error());
        }
        count(probe ? &probe->recoveries : nullptr, {{"outcome", found.empty() ? "not_found" : "found"}});
        if (found.empty()) {
            // Slack shows no such message: create it (again).
            r.message_ts.clear();
            r.mode = part == 0 ? Reply::Mode::none : Reply::Mode::post;
            co_return true;
        }
        spdlog::info("slack replies: {} continues in message {} found in the thread", r.key.str(), found);
        r.close_stream = found_stream;
        co_await started(r, Reply::Mode::post, std::move(found), part);
        co_return true;
    }

    /// Posts `text` as a new message of the thread (fallback mode). False when Slack did not take it.
    awaitable<bool> post_new(Reply& r, std::string text) {
        const int part = r.next_part;
        if (!co_await intend(r, part, "post")) co_return false;
        auto args = post_args(r, text, part);
        auto res = co_await call(r, slack_method::post_message, args, false);
        if (!res) {
            r.lookup = true;  // the outcome is unknown: look before posting again
            co_return false;
        }
        if (!res->ok()) co_return false;
        std::string ts = str(res->body, "ts");
        co_await started(r, Reply::Mode::post, std::move(ts), part);
        r.shown = std::move(text);
        co_return true;
    }

    /// Sends what is pending. On a failure the text goes back to `pending` for the next round.
    awaitable<void> flush(Reply& r) {
        std::string text = std::exchange(r.pending, {});
        r.last_flush = Clock::now();
        if (r.lookup) {
            const bool asked = co_await find_intended(r);
            if (!asked) {
                r.pending = text + r.pending;
                co_return;
            }
        }
        if (r.mode == Reply::Mode::none && options.streaming) {
            std::string first = take_front(text, options.max_append_chars);
            if (!co_await intend(r, 0, "stream")) {
                r.pending = first + text + r.pending;
                co_return;
            }
            auto args = start_stream_args(r, first);
            auto res = co_await call(r, slack_method::start_stream, args, false);
            if (!res) {
                r.lookup = true;  // the outcome is unknown: look before starting again
                r.pending = first + text + r.pending;
                co_return;
            }
            if (res->ok()) {
                std::string ts = str(res->body, "ts");
                co_await started(r, Reply::Mode::stream, std::move(ts), 0);
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
        if (r.close_stream && !r.message_ts.empty()) {
            // Whatever Slack answers (already stopped, expired), the message is edited as a plain one next.
            auto args = stop_args(r);
            auto res = co_await call(r, slack_method::stop_stream, args);
            if (!res) {
                r.pending = text + r.pending;
                co_return;
            }
            r.close_stream = false;
        }
        while (!text.empty() && !gone(r)) {
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
        while (!gone(*r)) {
            if (due(*r)) {
                const auto before = r->pending.size();
                co_await flush(*r);
                if (!r->pending.empty() && r->pending.size() >= before && !gone(*r)) {
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
        if (!gone(r)) co_await completed(r);
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
    impl_->reader = impl_->log.open_reader(impl_->reader_options());
    impl_->reader_thread = std::thread([impl = impl_] { impl->read_loop(); });
}

asio::awaitable<void> ReplyStreamer::stop() { return impl_->shutdown(); }

}  // namespace centaur::slack
