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

Response challenge_response(const std::string& challenge) {
    return json_response(json::object{{"challenge", challenge}});
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

        auto delivery = parse_slack_delivery(req.header("content-type").value_or(""), req.body);
        switch (delivery.kind) {
        case SlackDelivery::Kind::bad_request:
            co_return refuse(400, "bad_request", delivery.error);
        case SlackDelivery::Kind::ssl_check:
            count_request("ssl_check");
            co_return ok_response();
        case SlackDelivery::Kind::url_verification:
            count_request("url_verification");
            co_return challenge_response(delivery.challenge);
        case SlackDelivery::Kind::other:
            // Interactivity payloads (block_actions …) and app_rate_limited: acknowledged, nothing to do.
            count_event("ignored_" + (delivery.type.empty() ? std::string("untyped") : delivery.type));
            count_request("ok");
            co_return ok_response();
        case SlackDelivery::Kind::event_callback:
            break;
        }
        if (!readiness.serving()) co_return refuse(503, "unavailable", "server is still starting");
        co_return co_await on_event(delivery.envelope, delivery.event_id);
    }

    awaitable<Response> on_event(const json::object& envelope, const std::string& event_id) {
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
