#include <centaur/ingest/slack_webhook.hpp>

#include "session_writes.hpp"
#include "slack_signature.hpp"

#include <centaur/schemas/thread_key.hpp>

#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <mutex>
#include <unordered_set>

namespace centaur::ingest {
namespace json = boost::json;
using boost::asio::awaitable;
using http::error_response;
using http::json_response;
using http::Response;

namespace {

constexpr std::string_view source_name = "slackbotv2";  // upstream's metadata source, kept for its consumers
constexpr std::size_t owned_threads_remembered = 10'000;
constexpr const char* started_kind = "started";
constexpr const char* appended_kind = "appended";
constexpr const char* interrupted_kind = "interrupted";
constexpr std::string_view form_content_type = "application/x-www-form-urlencoded";

std::string str(const json::object& o, std::string_view key) {
    if (const auto* v = o.if_contains(key); v && v->is_string()) return std::string(v->as_string());
    return {};
}

bool is_word_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/// The bot's user id as this delivery names it: the first bot authorization, else the first one.
std::string authorized_bot(const json::object& envelope) {
    const auto* list = envelope.if_contains("authorizations");
    if (!list || !list->is_array()) return {};
    std::string first;
    for (const auto& a : list->as_array()) {
        if (!a.is_object()) continue;
        const auto id = str(a.as_object(), "user_id");
        if (first.empty()) first = id;
        if (const auto* b = a.as_object().if_contains("is_bot"); b && b->is_bool() && b->as_bool()) return id;
    }
    return first;
}

bool mentions(std::string_view text, const std::string& user) {
    if (user.empty()) return false;
    const std::string needle = "<@" + user;
    for (auto at = text.find(needle); at != std::string_view::npos; at = text.find(needle, at + 1)) {
        const auto after = at + needle.size();
        if (after < text.size() && (text[after] == '>' || text[after] == '|')) return true;
    }
    return false;
}

/// Slack's agent-stop notification (the agent view's stop button): an `agent…stop…` event type.
bool is_agent_stop_type(std::string_view type) {
    return type.rfind("agent", 0) == 0 && type.find("stop") != std::string_view::npos;
}

std::map<std::string, std::string> parse_form(std::string_view body) {
    std::map<std::string, std::string> out;
    while (!body.empty()) {
        const auto amp = body.find('&');
        const auto pair = body.substr(0, amp);
        body = amp == std::string_view::npos ? std::string_view{} : body.substr(amp + 1);
        const auto eq = pair.find('=');
        std::string key, value;
        if (!http::percent_decode(pair.substr(0, eq), key, true)) continue;
        if (eq != std::string_view::npos && !http::percent_decode(pair.substr(eq + 1), value, true)) continue;
        out[key] = value;
    }
    return out;
}

std::int64_t system_now_seconds() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

json::object trace_metadata(const SlackAction& a, const std::string& event_id, std::string_view action) {
    json::object m{{"source", source_name},
                   {"platform", "slack"},
                   {"message_id", a.ts},
                   {"thread_id", a.thread_key()},
                   {"is_mention", a.kind == SlackAction::Kind::start},
                   {"user_id", a.user},
                   {"slack_user_id", a.user},
                   {"slack_channel_id", a.channel},
                   {"slack_thread_ts", a.thread_ts}};
    if (!a.team.empty()) m["slack_team_id"] = a.team;
    if (!event_id.empty()) m["slack_event_id"] = event_id;
    if (!action.empty()) m["action"] = action;
    return m;
}

json::array text_parts(const std::string& text) { return json::array{json::object{{"type", "text"}, {"text", text}}}; }

/// The events a started turn appends: create-or-get the session, the message, its execution.
std::vector<EventEnvelope> start_events(const ThreadKey& key, const SlackAction& a, const std::string& event_id,
                                        const SlackWebhookOptions& options) {
    json::object session_metadata{{"source", source_name}, {"platform", "slack"}, {"thread_id", key.str()},
                                  {"slack_user_id", a.user}};
    if (!a.team.empty()) session_metadata["slack_team_id"] = a.team;
    SessionCreated created{options.default_harness, std::nullopt, std::move(session_metadata), false};
    json::object line{{"type", "user"},
                      {"thread_key", key.str()},
                      {"trace_metadata", trace_metadata(a, event_id, "execute")},
                      {"message", json::object{{"role", "user"}, {"content", text_parts(a.text)}}}};
    std::vector<EventEnvelope> events;
    events.push_back(session_created_event(key, std::move(created), true));
    events.push_back(message_appended_event(key, a.ts, "user", text_parts(a.text), trace_metadata(a, event_id, "")));
    events.push_back(execution_requested_event(key, a.ts, {json::serialize(line)}, options.idle_timeout_ms,
                                               options.max_duration_ms, trace_metadata(a, event_id, "execute")));
    return events;
}

std::vector<EventEnvelope> follow_up_events(const ThreadKey& key, const SlackAction& a, const std::string& event_id) {
    std::vector<EventEnvelope> events;
    events.push_back(message_appended_event(key, a.ts, "user", text_parts(a.text), trace_metadata(a, event_id, "")));
    return events;
}

Response ok_response() { return json_response(json::object{{"ok", true}}); }

Response challenge_response(const json::object& body) {
    return json_response(json::object{{"challenge", str(body, "challenge")}});
}

/// Threads this process started: a reply there is addressed to the bot even before the projection shows the
/// session. Bounded (oldest forgotten first). Used on the io_context thread only.
class OwnedThreads {
public:
    void add(const std::string& key) {
        if (!set_.insert(key).second) return;
        order_.push_back(key);
        if (order_.size() > owned_threads_remembered) {
            set_.erase(order_.front());
            order_.pop_front();
        }
    }
    bool contains(const std::string& key) const { return set_.count(key) > 0; }

private:
    std::unordered_set<std::string> set_;
    std::deque<std::string> order_;
};

struct Webhook {
    EventLog& log;
    SessionStore& store;
    const Readiness& readiness;
    SlackWebhookOptions options;
    SlackWebhookProbe* probe;
    OwnedThreads owned;

    void count_request(const char* outcome) {
        if (probe) probe->requests.Add({{"outcome", outcome}}).Increment();
    }
    void count_event(const std::string& what) {
        if (probe) probe->events.Add({{"kind", what}}).Increment();
    }

    Response refuse(unsigned status, const char* outcome, std::string_view message) {
        count_request(outcome);
        return error_response(status, message);
    }

    awaitable<Response> handle(const http::Request& req) {
        if (req.body.size() > options.max_body_bytes) co_return refuse(413, "too_large", "request body too large");
        const auto check = verify_slack_signature(options.signing_secret, req.header("x-slack-request-timestamp"),
                                                  req.header("x-slack-signature"), req.body, options.now_seconds());
        if (check != SlackSignatureCheck::ok) co_return refuse(401, "unauthorized", to_string(check));
        if (auto retry = req.header("x-slack-retry-num"); retry && probe) {
            const auto reason = req.header("x-slack-retry-reason");
            probe->retries.Add({{"reason", reason ? std::string(*reason) : "unknown"}}).Increment();
        }

        const auto content_type = req.header("content-type").value_or("");
        json::value parsed;
        boost::system::error_code ec;
        if (content_type.substr(0, form_content_type.size()) == form_content_type) {
            auto form = parse_form(req.body);
            if (form.count("ssl_check")) {
                count_request("ssl_check");
                co_return ok_response();
            }
            auto payload = form.find("payload");
            if (payload == form.end()) co_return refuse(400, "bad_request", "form body without payload");
            parsed = json::parse(payload->second, ec);
        } else {
            parsed = json::parse(req.body, ec);
        }
        if (ec) co_return refuse(400, "bad_request", "invalid JSON body: " + ec.message());
        if (!parsed.is_object()) co_return refuse(400, "bad_request", "Slack payload must be a JSON object");
        const auto& body = parsed.as_object();
        const auto type = str(body, "type");
        if (type == "url_verification") {
            count_request("url_verification");
            co_return challenge_response(body);
        }
        if (type != "event_callback") {
            // Interactivity payloads (block_actions …) and app_rate_limited: acknowledged, nothing to do.
            count_event("ignored_" + (type.empty() ? std::string("untyped") : type));
            count_request("ok");
            co_return ok_response();
        }
        if (!readiness.ready()) co_return refuse(503, "unavailable", "server is still starting");
        co_return co_await on_event(body);
    }

    awaitable<Response> on_event(const json::object& envelope) {
        const std::string event_id = str(envelope, "event_id");
        auto action = classify_slack_event(envelope, options.bot_user_id);
        if (action.kind == SlackAction::Kind::ignore) co_return ignored(action.reason);
        std::string why;
        auto key = ThreadKey::parse(action.thread_key(), &why);
        if (!key) co_return ignored("invalid_thread");

        if (action.kind == SlackAction::Kind::start) {
            auto events = start_events(*key, action, event_id, options);
            co_return co_await append(std::move(events), started_kind, key->str());
        }
        // Replies and stops only touch threads the bot owns (a DM thread always counts as addressed).
        if (!owned.contains(key->str())) {
            auto session = co_await store.get_session(*key);
            if (!session) co_return refuse(503, "unavailable", "session store unavailable");
            if (!*session) co_return ignored("not_owned");
            owned.add(key->str());
        }
        if (action.kind == SlackAction::Kind::follow_up) {
            auto events = follow_up_events(*key, action, event_id);
            co_return co_await append(std::move(events), appended_kind, key->str());
        }
        auto active = co_await store.active_execution(*key);
        if (!active) co_return refuse(503, "unavailable", "session store unavailable");
        if (!*active) co_return ignored("stop_without_execution");
        auto uuid = EventUuid::derived(key->str() + "/interrupt/" + action.ts);
        std::vector<EventEnvelope> events;
        events.push_back(interrupt_requested_event(*key, (*active)->execution_id,
                                                   "Interrupted from Slack by " + action.user, uuid));
        co_return co_await append(std::move(events), interrupted_kind, key->str());
    }

    Response ignored(const std::string& reason) {
        count_event("ignored_" + reason);
        count_request("ok");
        return ok_response();
    }

    awaitable<Response> append(std::vector<EventEnvelope> events, const char* kind, const std::string& key) {
        auto appended = co_await append_all(log, std::move(events));
        if (!appended) co_return refuse(503, "unavailable", "event log unavailable");
        owned.add(key);
        // The message event says whether this delivery was new: a retry or the second delivery of a mention is
        // the same message.
        const bool duplicate = std::all_of(appended->begin(), appended->end(), [](const Appended& a) {
            return a.duplicate;
        });
        count_event(duplicate ? std::string("duplicate") : std::string(kind));
        count_request("ok");
        co_return ok_response();
    }
};

}  // namespace

SlackWebhookProbe::SlackWebhookProbe(prometheus::Registry& registry)
    : requests(prometheus::BuildCounter()
                   .Name("centaur_slack_webhook_requests_total")
                   .Help("Slack webhook requests by outcome")
                   .Register(registry)),
      events(prometheus::BuildCounter()
                 .Name("centaur_slack_webhook_events_total")
                 .Help("Slack event callbacks by what they became")
                 .Register(registry)),
      retries(prometheus::BuildCounter()
                  .Name("centaur_slack_webhook_retries_total")
                  .Help("Slack deliveries marked as retries, by X-Slack-Retry-Reason")
                  .Register(registry)) {}

double SlackWebhookProbe::count(prometheus::Family<prometheus::Counter>& family, const std::string& label) const {
    for (const auto& m : family.Collect()) {
        for (const auto& metric : m.metric) {
            for (const auto& l : metric.label)
                if (l.value == label) return metric.counter.value;
        }
    }
    return 0;
}

bool is_slack_stop_command(std::string_view text) {
    std::string plain;
    for (std::size_t i = 0; i < text.size();) {
        if (text.compare(i, 2, "<@") == 0) {
            const auto close = text.find('>', i);
            if (close != std::string_view::npos) {
                plain.push_back(' ');
                i = close + 1;
                continue;
            }
        }
        plain.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(text[i]))));
        ++i;
    }
    for (auto at = plain.find("stop"); at != std::string::npos; at = plain.find("stop", at + 1)) {
        const bool left = at == 0 || !is_word_char(plain[at - 1]);
        const bool right = at + 4 >= plain.size() || !is_word_char(plain[at + 4]);
        if (left && right) return true;
    }
    return false;
}

SlackAction classify_slack_event(const json::object& envelope, const std::string& bot_user_id) {
    SlackAction a;
    const auto* ev = envelope.if_contains("event");
    if (!ev || !ev->is_object()) {
        a.reason = "no_event";
        return a;
    }
    const auto& e = ev->as_object();
    const std::string bot = bot_user_id.empty() ? authorized_bot(envelope) : bot_user_id;
    const auto type = str(e, "type");
    a.channel = str(e, "channel");
    a.user = str(e, "user");
    a.team = str(e, "team");
    if (a.team.empty()) a.team = str(envelope, "team_id");
    a.text = str(e, "text");
    a.ts = str(e, "ts");
    const auto parent = str(e, "thread_ts");
    const bool in_thread = !parent.empty() && parent != a.ts;
    a.thread_ts = parent.empty() ? a.ts : parent;

    if (is_agent_stop_type(type)) {
        if (a.ts.empty()) a.ts = str(e, "event_ts");
        if (a.channel.empty() || parent.empty() || a.ts.empty()) {
            a.reason = "malformed_event";
            return a;
        }
        a.kind = SlackAction::Kind::stop;
        return a;
    }
    if (type != "app_mention" && type != "message") {
        a.reason = "unhandled_" + (type.empty() ? std::string("untyped") : type);
        return a;
    }
    const auto subtype = str(e, "subtype");
    if (subtype == "bot_message" || e.contains("bot_id")) {
        a.reason = "bot_message";
        return a;
    }
    if (!subtype.empty() && subtype != "file_share" && subtype != "thread_broadcast") {
        a.reason = "subtype_" + subtype;
        return a;
    }
    if (!bot.empty() && a.user == bot) {
        a.reason = "own_message";
        return a;
    }
    if (a.channel.empty() || a.ts.empty() || a.user.empty()) {
        a.reason = "malformed_event";
        return a;
    }
    a.direct = str(e, "channel_type") == "im";
    const bool addressed = type == "app_mention" || a.direct || mentions(a.text, bot);
    const bool stop = in_thread && is_slack_stop_command(a.text);
    if (addressed) {
        a.kind = stop ? SlackAction::Kind::stop : SlackAction::Kind::start;
    } else if (in_thread) {
        a.kind = stop ? SlackAction::Kind::stop : SlackAction::Kind::follow_up;
    } else {
        a.reason = "not_addressed";
    }
    return a;
}

http::Route slack_webhook_route(EventLog& log, SessionStore& store, const Readiness& readiness,
                                SlackWebhookOptions options, SlackWebhookProbe* probe) {
    if (!options.now_seconds) options.now_seconds = system_now_seconds;
    auto hook = std::make_shared<Webhook>(Webhook{log, store, readiness, std::move(options), probe, {}});
    return {"POST", "/api/webhooks/slack", http::Capability::none,
            [hook](const http::Request& req, const http::PathParams&) -> awaitable<Response> {
                co_return co_await hook->handle(req);
            }};
}

}  // namespace centaur::ingest
