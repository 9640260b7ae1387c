#pragma once
// What a verified Slack webhook body asks for, decided from its bytes alone (no I/O, no clock): the body's shape
// (`parse_slack_delivery`: form or JSON; ssl_check, url_verification, event_callback, anything else) and, for an
// event callback, the action (`classify_slack_event`: start a turn, follow up, stop, or ignore with a reason).
// Pure functions, thread-safe; the webhook route (slack_webhook.hpp) calls them after the signature check, and the
// fuzz target `slack_event` (fuzz/) runs them on arbitrary bodies.

#include <boost/json/object.hpp>

#include <string>
#include <string_view>

namespace centaur::ingest {

/// A verified webhook body, parsed.
struct SlackDelivery {
    enum class Kind {
        bad_request,       ///< `error` says why (the 400 body)
        ssl_check,         ///< form body with ssl_check: acknowledge
        url_verification,  ///< answer with `challenge`
        event_callback,    ///< `envelope` holds the callback, `event_id` its event_id (may be empty)
        other,             ///< interactivity, app_rate_limited …: acknowledged, nothing to do; `type` names it
    };
    Kind kind = Kind::bad_request;
    std::string error;
    std::string type;       ///< the payload's `type` (empty when absent or not a string)
    std::string challenge;
    std::string event_id;
    boost::json::object envelope;
};

/// Parses a body as Slack sends it: `application/x-www-form-urlencoded` (`ssl_check=1`, or `payload=<JSON>` for
/// interactivity) or JSON. Never throws; anything but a JSON object is `bad_request`.
SlackDelivery parse_slack_delivery(std::string_view content_type, std::string_view body);

/// What an event callback asks for.
struct SlackAction {
    enum class Kind { ignore, start, follow_up, stop };
    Kind kind = Kind::ignore;
    std::string reason;      ///< ignore: why (bot_message, own_message, subtype_<s>, not_addressed, unhandled_<type> …)
    std::string channel;
    std::string thread_ts;   ///< the thread: the parent ts, or the message's own ts at top level
    std::string ts;          ///< the message (or stop event) ts: client_message_id and idempotency key
    std::string user;
    std::string team;
    std::string text;
    bool direct = false;     ///< a DM (channel_type im): always addressed to the bot
    std::string thread_key() const { return "slack:" + channel + ":" + thread_ts; }
};

/// Classifies the `event` of an `event_callback` envelope. `bot_user_id` (may be empty) identifies the bot's own
/// messages and mentions of it. Every kind but `ignore` has a non-empty channel, ts and thread_ts.
SlackAction classify_slack_event(const boost::json::object& envelope, const std::string& bot_user_id);

/// True for upstream's stop command: the text, mentions removed, contains the word "stop" (any case).
bool is_slack_stop_command(std::string_view text);

}  // namespace centaur::ingest
