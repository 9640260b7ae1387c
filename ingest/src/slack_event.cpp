#include <centaur/ingest/slack_event.hpp>

#include <centaur/http/types.hpp>

#include <boost/json.hpp>

#include <cctype>
#include <map>

namespace centaur::ingest {
namespace json = boost::json;

namespace {

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

/// Slack's agent-stop notification: `agent_session_stopped`, sent when a user clicks the native stop button of
/// an agent session that is processing (channel, thread_ts, user, event_ts, streaming_message_ts).
bool is_agent_stop_type(std::string_view type) { return type == "agent_session_stopped"; }

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

SlackDelivery bad_request(std::string why) {
    SlackDelivery d;
    d.error = std::move(why);
    return d;
}

}  // namespace

SlackDelivery parse_slack_delivery(std::string_view content_type, std::string_view body) {
    json::value parsed;
    boost::system::error_code ec;
    if (content_type.substr(0, form_content_type.size()) == form_content_type) {
        auto form = parse_form(body);
        if (form.count("ssl_check")) {
            SlackDelivery d;
            d.kind = SlackDelivery::Kind::ssl_check;
            return d;
        }
        auto payload = form.find("payload");
        if (payload == form.end()) return bad_request("form body without payload");
        parsed = json::parse(payload->second, ec);
    } else {
        parsed = json::parse(body, ec);
    }
    if (ec) return bad_request("invalid JSON body: " + ec.message());
    if (!parsed.is_object()) return bad_request("Slack payload must be a JSON object");
    SlackDelivery d;
    d.envelope = std::move(parsed.as_object());
    d.type = str(d.envelope, "type");
    if (d.type == "url_verification") {
        d.kind = SlackDelivery::Kind::url_verification;
        d.challenge = str(d.envelope, "challenge");
    } else if (d.type == "event_callback") {
        d.kind = SlackDelivery::Kind::event_callback;
        d.event_id = str(d.envelope, "event_id");
    } else {
        d.kind = SlackDelivery::Kind::other;
    }
    return d;
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

}  // namespace centaur::ingest
