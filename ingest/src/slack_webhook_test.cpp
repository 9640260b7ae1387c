#include "slack_signature.hpp"

#include <centaur/ingest/slack_webhook.hpp>

#include <boost/json.hpp>
#include <gtest/gtest.h>

namespace centaur::ingest {
namespace {
namespace json = boost::json;

// Slack's documented example (api.slack.com/authentication/verifying-requests-from-slack).
constexpr char doc_secret[] = "8f742231b10e8888abcd99yyyzzz85a5";
constexpr char doc_timestamp[] = "1531420618";
constexpr char doc_body[] =
    "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&"
    "channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&"
    "response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&"
    "trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
constexpr char doc_signature[] = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
constexpr std::int64_t doc_now = 1531420618;

TEST(SlackSignature, MatchesSlacksDocumentedExample) {
    EXPECT_EQ(slack_signature(doc_secret, doc_timestamp, doc_body), doc_signature);
    EXPECT_EQ(verify_slack_signature(doc_secret, doc_timestamp, doc_signature, doc_body, doc_now),
              SlackSignatureCheck::ok);
}

TEST(SlackSignature, RefusesATamperedBodyWrongSecretOrMalformedSignature) {
    const std::string body = std::string(doc_body) + "x";
    EXPECT_EQ(verify_slack_signature(doc_secret, doc_timestamp, doc_signature, body, doc_now),
              SlackSignatureCheck::mismatch);
    EXPECT_EQ(verify_slack_signature("other", doc_timestamp, doc_signature, doc_body, doc_now),
              SlackSignatureCheck::mismatch);
    EXPECT_EQ(verify_slack_signature(doc_secret, doc_timestamp, "v0=abc", doc_body, doc_now),
              SlackSignatureCheck::mismatch);
    std::string v1 = doc_signature;
    v1[1] = '1';
    EXPECT_EQ(verify_slack_signature(doc_secret, doc_timestamp, v1, doc_body, doc_now), SlackSignatureCheck::mismatch);
}

TEST(SlackSignature, MissingHeadersAndBadTimestamps) {
    EXPECT_EQ(verify_slack_signature(doc_secret, std::nullopt, doc_signature, doc_body, doc_now),
              SlackSignatureCheck::missing);
    EXPECT_EQ(verify_slack_signature(doc_secret, doc_timestamp, std::nullopt, doc_body, doc_now),
              SlackSignatureCheck::missing);
    EXPECT_EQ(verify_slack_signature(doc_secret, "", doc_signature, doc_body, doc_now), SlackSignatureCheck::missing);
    EXPECT_EQ(verify_slack_signature(doc_secret, "12x", doc_signature, doc_body, doc_now),
              SlackSignatureCheck::bad_timestamp);
    EXPECT_EQ(verify_slack_signature(doc_secret, "-5", doc_signature, doc_body, doc_now),
              SlackSignatureCheck::bad_timestamp);
}

TEST(SlackSignature, TimestampWindowEdgesAreFiveMinutesEitherWay) {
    const auto check = [](std::int64_t now) {
        return verify_slack_signature(doc_secret, doc_timestamp, doc_signature, doc_body, now);
    };
    EXPECT_EQ(check(doc_now + 300), SlackSignatureCheck::ok);
    EXPECT_EQ(check(doc_now - 300), SlackSignatureCheck::ok);
    EXPECT_EQ(check(doc_now + 301), SlackSignatureCheck::stale);
    EXPECT_EQ(check(doc_now - 301), SlackSignatureCheck::stale);
}

TEST(SlackSignature, AcceptsUpperCaseHex) {
    std::string upper = doc_signature;
    for (std::size_t i = 3; i < upper.size(); ++i) upper[i] = static_cast<char>(std::toupper(upper[i]));
    EXPECT_EQ(verify_slack_signature(doc_secret, doc_timestamp, upper, doc_body, doc_now), SlackSignatureCheck::ok);
}

json::object envelope(json::object event) {
    return json::object{{"type", "event_callback"},
                        {"team_id", "T1"},
                        {"event_id", "Ev1"},
                        {"authorizations", json::array{json::object{{"user_id", "UBOT"}, {"is_bot", true}}}},
                        {"event", std::move(event)}};
}

TEST(SlackClassify, TopLevelMentionStartsTheThreadAtItsOwnTs) {
    auto a = classify_slack_event(
        envelope({{"type", "app_mention"}, {"channel", "C1"}, {"user", "U1"}, {"text", "<@UBOT> hi"}, {"ts", "1.5"}}),
        "");
    EXPECT_EQ(a.kind, SlackAction::Kind::start);
    EXPECT_EQ(a.thread_key(), "slack:C1:1.5");
    EXPECT_EQ(a.ts, "1.5");
    EXPECT_EQ(a.team, "T1");
}

TEST(SlackClassify, MentionInAThreadGoesToTheParentThread) {
    auto a = classify_slack_event(envelope({{"type", "app_mention"},
                                            {"channel", "C1"},
                                            {"user", "U1"},
                                            {"text", "<@UBOT> more"},
                                            {"ts", "2.0"},
                                            {"thread_ts", "1.5"}}),
                                  "");
    EXPECT_EQ(a.kind, SlackAction::Kind::start);
    EXPECT_EQ(a.thread_key(), "slack:C1:1.5");
    EXPECT_EQ(a.ts, "2.0");
}

TEST(SlackClassify, ChannelMessageMentioningTheBotIsTheSameStartAsTheMention) {
    auto a = classify_slack_event(envelope({{"type", "message"},
                                            {"channel_type", "channel"},
                                            {"channel", "C1"},
                                            {"user", "U1"},
                                            {"text", "hey <@UBOT|centaur> go"},
                                            {"ts", "1.5"}}),
                                  "");
    EXPECT_EQ(a.kind, SlackAction::Kind::start);
    EXPECT_EQ(a.thread_key(), "slack:C1:1.5");
}

TEST(SlackClassify, ChannelRules) {
    auto top = classify_slack_event(
        envelope({{"type", "message"}, {"channel_type", "channel"}, {"channel", "C1"}, {"user", "U1"},
                  {"text", "just chatting"}, {"ts", "1.5"}}),
        "");
    EXPECT_EQ(top.kind, SlackAction::Kind::ignore);
    EXPECT_EQ(top.reason, "not_addressed");
    auto reply = classify_slack_event(
        envelope({{"type", "message"}, {"channel_type", "channel"}, {"channel", "C1"}, {"user", "U1"},
                  {"text", "and also"}, {"ts", "2.0"}, {"thread_ts", "1.5"}}),
        "");
    EXPECT_EQ(reply.kind, SlackAction::Kind::follow_up);
    EXPECT_EQ(reply.thread_key(), "slack:C1:1.5");
    auto dm = classify_slack_event(
        envelope({{"type", "message"}, {"channel_type", "im"}, {"channel", "D1"}, {"user", "U1"},
                  {"text", "hello"}, {"ts", "3.0"}}),
        "");
    EXPECT_EQ(dm.kind, SlackAction::Kind::start);
    EXPECT_TRUE(dm.direct);
    EXPECT_EQ(dm.thread_key(), "slack:D1:3.0");
}

TEST(SlackClassify, IgnoresBotsOwnMessagesAndUnhandledSubtypes) {
    auto own = classify_slack_event(envelope({{"type", "message"}, {"channel", "C1"}, {"user", "UBOT"},
                                              {"text", "answer"}, {"ts", "2.0"}, {"thread_ts", "1.5"}}),
                                    "");
    EXPECT_EQ(own.reason, "own_message");
    auto configured = classify_slack_event(envelope({{"type", "message"}, {"channel", "C1"}, {"user", "UME"},
                                                     {"text", "answer"}, {"ts", "2.0"}, {"thread_ts", "1.5"}}),
                                           "UME");
    EXPECT_EQ(configured.reason, "own_message");
    auto bot = classify_slack_event(envelope({{"type", "message"}, {"subtype", "bot_message"}, {"channel", "C1"},
                                              {"bot_id", "B1"}, {"text", "x"}, {"ts", "2.0"}}),
                                    "");
    EXPECT_EQ(bot.reason, "bot_message");
    auto other_bot = classify_slack_event(envelope({{"type", "message"}, {"channel", "C1"}, {"user", "U9"},
                                                    {"bot_id", "B9"}, {"text", "<@UBOT>"}, {"ts", "2.0"}}),
                                          "");
    EXPECT_EQ(other_bot.reason, "bot_message");
    auto edit = classify_slack_event(envelope({{"type", "message"}, {"subtype", "message_changed"}, {"channel", "C1"},
                                               {"ts", "2.0"}}),
                                     "");
    EXPECT_EQ(edit.reason, "subtype_message_changed");
    auto reaction = classify_slack_event(envelope({{"type", "reaction_added"}, {"user", "U1"}}), "");
    EXPECT_EQ(reaction.reason, "unhandled_reaction_added");
    auto share = classify_slack_event(envelope({{"type", "message"}, {"subtype", "file_share"}, {"channel_type", "im"},
                                                {"channel", "D1"}, {"user", "U1"}, {"text", "see file"},
                                                {"ts", "4.0"}}),
                                      "");
    EXPECT_EQ(share.kind, SlackAction::Kind::start);
}

TEST(SlackClassify, StopInAThreadInterrupts) {
    auto reply = classify_slack_event(envelope({{"type", "message"}, {"channel", "C1"}, {"user", "U1"},
                                                {"text", "please STOP."}, {"ts", "2.0"}, {"thread_ts", "1.5"}}),
                                      "");
    EXPECT_EQ(reply.kind, SlackAction::Kind::stop);
    EXPECT_EQ(reply.thread_key(), "slack:C1:1.5");
    auto mention = classify_slack_event(envelope({{"type", "app_mention"}, {"channel", "C1"}, {"user", "U1"},
                                                  {"text", "<@UBOT> stop"}, {"ts", "2.0"}, {"thread_ts", "1.5"}}),
                                        "");
    EXPECT_EQ(mention.kind, SlackAction::Kind::stop);
}

TEST(SlackClassify, AgentSessionStoppedInterruptsAndLookalikesDoNot) {
    // Slack's documented example (docs.slack.dev/reference/events/agent_session_stopped).
    auto native = classify_slack_event(envelope({{"type", "agent_session_stopped"},
                                                 {"channel", "C0123ABC456"},
                                                 {"user", "U123ABC456"},
                                                 {"thread_ts", "1782234671.392669"},
                                                 {"event_ts", "1783536983.783769"},
                                                 {"streaming_message_ts", boost::json::array{"1782234987.693923"}}}),
                                       "");
    EXPECT_EQ(native.kind, SlackAction::Kind::stop);
    EXPECT_EQ(native.ts, "1783536983.783769");
    EXPECT_EQ(native.thread_key(), "slack:C0123ABC456:1782234671.392669");
    auto no_thread = classify_slack_event(
        envelope({{"type", "agent_session_stopped"}, {"channel", "C1"}, {"user", "U1"}, {"event_ts", "9.0"}}), "");
    EXPECT_NE(no_thread.kind, SlackAction::Kind::stop);
    for (const char* lookalike : {"agent_stop", "agent_stop_requested", "agent_session_stop", "agent_stopped",
                                  "agents_session_stopped", "agent_session_stopped_v2"}) {
        auto other = classify_slack_event(
            envelope({{"type", lookalike}, {"channel", "C1"}, {"user", "U1"}, {"thread_ts", "1.5"}, {"event_ts", "9.0"}}),
            "");
        EXPECT_NE(other.kind, SlackAction::Kind::stop) << lookalike;
        EXPECT_EQ(other.reason, std::string("unhandled_") + lookalike) << lookalike;
    }
}

TEST(SlackStopCommand, MatchesTheWordOnlyWithMentionsRemoved) {
    EXPECT_TRUE(is_slack_stop_command("stop"));
    EXPECT_TRUE(is_slack_stop_command("<@UBOT> Stop!"));
    EXPECT_FALSE(is_slack_stop_command("unstoppable"));
    EXPECT_FALSE(is_slack_stop_command("stopwatch"));
    EXPECT_FALSE(is_slack_stop_command("<@USTOP> hi"));
    EXPECT_FALSE(is_slack_stop_command(""));
}

}  // namespace
}  // namespace centaur::ingest
