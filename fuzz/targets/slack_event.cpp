// The Slack webhook's body parser and event classifier on arbitrary bodies (what a signed request may carry):
// total (no throw, no crash), and what they decide is well-formed: a refused body says why, an ignored event has
// a reason, every other action names a channel, a message ts and a thread, and its thread key is the
// `slack:<channel>:<thread_ts>` of those; the classification is a function of the body alone.
#include "fuzz_check.hpp"

#include <centaur/ingest/slack_event.hpp>
#include <centaur/schemas/thread_key.hpp>

#include <cstdint>
#include <string>
#include <string_view>

using centaur::ingest::SlackAction;
using centaur::ingest::SlackDelivery;

namespace {

void check_action(const SlackAction& a) {
    if (a.kind == SlackAction::Kind::ignore) {
        FUZZ_CHECK(!a.reason.empty());
        return;
    }
    FUZZ_CHECK(a.reason.empty());
    FUZZ_CHECK(!a.channel.empty() && !a.ts.empty() && !a.thread_ts.empty());
    FUZZ_CHECK(a.thread_key() == "slack:" + a.channel + ":" + a.thread_ts);
    if (a.kind != SlackAction::Kind::stop) FUZZ_CHECK(!a.user.empty());
    std::string why;
    if (!centaur::ThreadKey::parse(a.thread_key(), &why)) FUZZ_CHECK(!why.empty());
}

bool same(const SlackAction& a, const SlackAction& b) {
    return a.kind == b.kind && a.reason == b.reason && a.channel == b.channel && a.thread_ts == b.thread_ts &&
           a.ts == b.ts && a.user == b.user && a.team == b.team && a.text == b.text && a.direct == b.direct;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    // Layout: one byte choosing the content type (odd: form-urlencoded, even: JSON), then the body.
    if (size == 0) return 0;
    const std::string_view content_type =
        data[0] & 1 ? "application/x-www-form-urlencoded" : "application/json; charset=utf-8";
    const std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);

    const auto d = centaur::ingest::parse_slack_delivery(content_type, body);
    switch (d.kind) {
    case SlackDelivery::Kind::bad_request:
        FUZZ_CHECK(!d.error.empty());
        return 0;
    case SlackDelivery::Kind::ssl_check:
        FUZZ_CHECK(data[0] & 1);
        return 0;
    case SlackDelivery::Kind::url_verification:
        FUZZ_CHECK(d.type == "url_verification");
        return 0;
    case SlackDelivery::Kind::other:
        FUZZ_CHECK(d.type != "url_verification" && d.type != "event_callback");
        return 0;
    case SlackDelivery::Kind::event_callback:
        FUZZ_CHECK(d.type == "event_callback");
        break;
    }
    for (const std::string bot : {"", "UBOT"}) {
        const auto a = centaur::ingest::classify_slack_event(d.envelope, bot);
        check_action(a);
        FUZZ_CHECK(same(a, centaur::ingest::classify_slack_event(d.envelope, bot)));
        if (a.kind == SlackAction::Kind::start && !bot.empty()) FUZZ_CHECK(a.user != bot);
        (void)centaur::ingest::is_slack_stop_command(a.text);
    }
    return 0;
}
