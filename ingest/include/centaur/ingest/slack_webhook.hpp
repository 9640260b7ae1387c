#pragma once
// `POST /api/webhooks/slack`: the Slack Events API front door (no bearer key; Slack's request signature is the
// authentication). Verifies the signature on the raw body before parsing, answers url_verification and ssl_check,
// and turns each event callback into the same events the session API appends: a mention (or a DM) creates or
// gets the session of `slack:<channel>:<thread_ts>`, appends the message and executes it; a reply in a thread the
// bot owns is appended (the processor steers it into a running execution); "stop" or Slack's agent-stop event
// interrupts. Uuids derive from (thread, message ts), so Slack retries and the second delivery of a mention (as
// `app_mention` and as `message.channels`) are the same events. Answered 200 once the events are durable.

#include <centaur/core/event_log.hpp>
#include <centaur/core/readiness.hpp>
#include <centaur/core/session_store.hpp>
#include <centaur/ingest/slack_event.hpp>
#include <centaur/http/types.hpp>

#include <boost/json/object.hpp>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/registry.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

namespace centaur::ingest {

struct SlackWebhookOptions {
    std::string signing_secret;                      ///< SLACK_SIGNING_SECRET (required to enable the route)
    std::string bot_user_id;                         ///< SLACK_BOT_USER_ID; else taken from each event's authorizations
    std::string default_harness = "codex";           ///< SLACKBOTV2_DEFAULT_HARNESS
    std::uint64_t idle_timeout_ms = 3 * 60 * 60 * 1000;  ///< SESSION_IDLE_TIMEOUT_MS (upstream: 3 h)
    std::uint64_t max_duration_ms = 0;               ///< SESSION_MAX_DURATION_MS (0 = the server default)
    std::size_t max_body_bytes = 1024 * 1024;        ///< larger bodies get 413
    /// Seconds since the Unix epoch; injectable for tests. Default: the system clock.
    std::function<std::int64_t()> now_seconds;
};

/// Counters of the webhook (`centaur_slack_webhook_*`). Thread-safe; outlives the route.
class SlackWebhookProbe {
public:
    explicit SlackWebhookProbe(prometheus::Registry& registry);
    /// Requests by outcome: ok, url_verification, ssl_check, unauthorized, bad_request, too_large, unavailable.
    prometheus::Family<prometheus::Counter>& requests;
    /// Event callbacks by what they became: started, appended, interrupted, duplicate, ignored_<reason>.
    prometheus::Family<prometheus::Counter>& events;
    /// Deliveries carrying X-Slack-Retry-Num, by X-Slack-Retry-Reason.
    prometheus::Family<prometheus::Counter>& retries;

    double count(prometheus::Family<prometheus::Counter>& family, const std::string& label) const;
};

/// The route. `log`, `store`, `readiness` and `probe` (may be null) outlive the server.
http::Route slack_webhook_route(EventLog& log, SessionStore& store, const Readiness& readiness,
                                SlackWebhookOptions options, SlackWebhookProbe* probe);

}  // namespace centaur::ingest
