#include <centaur/slack/reply_streamer.hpp>

#include <gtest/gtest.h>

namespace centaur::slack {
namespace {

TEST(ReplyText, DeltasInBothWireForms) {
    bool saw = false;
    EXPECT_EQ(reply_text_of_line(R"({"type":"item.agentMessage.delta","turnId":"t","delta":"PONG "})", saw), "PONG ");
    EXPECT_TRUE(saw);
    bool saw2 = false;
    EXPECT_EQ(reply_text_of_line(R"({"method":"item/agentMessage/delta","params":{"turnId":"t","delta":"hi"}})", saw2),
              "hi");
}

TEST(ReplyText, CompletedMessageOnlyWithoutDeltas) {
    bool saw = false;
    const char* done = R"({"type":"item.completed","item":{"id":"i","type":"agentMessage","text":"final"}})";
    EXPECT_EQ(reply_text_of_line(done, saw), "final");
    saw = true;
    EXPECT_EQ(reply_text_of_line(done, saw), "");
}

TEST(ReplyText, SummarisesCommandsAndTools) {
    bool saw = false;
    EXPECT_EQ(reply_text_of_line(R"({"type":"item.started","item":{"type":"commandExecution","command":"ls -la"}})",
                                 saw),
              "\n`$ ls -la`\n");
    EXPECT_EQ(reply_text_of_line(R"({"type":"item.started","item":{"type":"mcpToolCall","tool":"search"}})", saw),
              "\n_tool: search_\n");
    std::string long_command(500, 'x');
    auto summary = reply_text_of_line(
        R"({"type":"item.started","item":{"type":"commandExecution","command":")" + long_command + R"("}})", saw);
    EXPECT_LT(summary.size(), 260u);
}

TEST(ReplyText, IgnoresEverythingElse) {
    bool saw = false;
    EXPECT_EQ(reply_text_of_line(R"({"type":"turn.started","turn_id":"t"})", saw), "");
    EXPECT_EQ(reply_text_of_line(R"({"type":"system","subtype":"wrapper_heartbeat"})", saw), "");
    EXPECT_EQ(reply_text_of_line("not json", saw), "");
    EXPECT_FALSE(saw);
}

}  // namespace
}  // namespace centaur::slack

// ---- recovery, with the in-memory log and a recording Slack client ---------------------------------------

#include <centaur/log/memory_event_log.hpp>
#include <centaur/schemas/event_types.hpp>
#include <centaur/schemas/payloads.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>

#include <algorithm>

namespace centaur::slack {
namespace {
namespace json = boost::json;
using namespace std::chrono_literals;

/// Records every call; answers ok (startStream / postMessage with a ts, conversations.replies with `thread`).
class RecordingSlack final : public SlackClient {
public:
    std::vector<std::pair<std::string, json::object>> calls;
    json::array thread;  ///< messages conversations.replies answers
    boost::asio::awaitable<result<SlackResponse>> call(std::string method, json::object args) override {
        SlackResponse r;
        r.http_status = 200;
        r.body["ok"] = true;
        if (method == slack_method::start_stream || method == slack_method::post_message) r.body["ts"] = "NEW";
        if (method == slack_method::conversations_replies) r.body["messages"] = thread;
        calls.emplace_back(std::move(method), std::move(args));
        co_return r;
    }
};

class Recovery : public ::testing::Test {
protected:
    boost::asio::io_context io;
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work{io.get_executor()};
    log::InMemoryEventLog log{2, io.get_executor()};
    RecordingSlack slack;
    ThreadKey key = *ThreadKey::parse("slack:C1:1.0");
    std::string execution = "exe_00000000000000000000000000000001";

    void append(std::string_view type, json::value payload, EventSource source = EventSource::processor) {
        EventEnvelope e{EventUuid::random(), key, execution, std::string(type), std::move(payload), now_micros(),
                        source};
        bool done = false;
        log.async_append(std::move(e), [&](result<Appended> r) {
            ASSERT_TRUE(r);
            done = true;
        });
        while (!done) io.run_one_for(1s);
    }

    /// A turn whose reply recorded its intent to create the first message, and nothing after it.
    void turn_with_intent(const char* mode) {
        ExecutionRequested requested{execution, "1.0", {"{}"}, 0, 0,
                                     json::object{{"slack_channel_id", "C1"}, {"slack_thread_ts", "1.0"},
                                                  {"slack_user_id", "U1"}, {"slack_team_id", "T1"}}};
        append(event_type::execution_requested, to_json(requested), EventSource::ingest);
        append(event_type::execution_started, json::object{{"execution_id", execution}});
        append(event_type::output_line, json::value(delta("hello")));
        append(reply_intent_event, json::object{{"part", 0}, {"mode", mode}});
        append(event_type::execution_completed, json::object{{"execution_id", execution}});
    }

    std::vector<std::string> methods() const {
        std::vector<std::string> out;
        for (const auto& [method, args] : slack.calls) out.push_back(method);
        return out;
    }

    void turn_with_text(std::string_view first, std::string_view second) {
        ExecutionRequested requested{execution, "1.0", {"{}"}, 0, 0,
                                     json::object{{"slack_channel_id", "C1"}, {"slack_thread_ts", "1.0"},
                                                  {"slack_user_id", "U1"}, {"slack_team_id", "T1"}}};
        append(event_type::execution_requested, to_json(requested), EventSource::ingest);
        append(event_type::execution_started, json::object{{"execution_id", execution}});
        append(event_type::output_line, json::value(delta(first)));
        append(reply_started_event, json::object{{"message_ts", "S9"}, {"mode", "stream"}});
        append(event_type::output_line, json::value(delta(second)));
        append(event_type::execution_completed, json::object{{"execution_id", execution}});
    }

    static std::string delta(std::string_view text) {
        return json::serialize(json::object{{"type", "item.agentMessage.delta"}, {"delta", text}});
    }

    /// Runs the streamer until `done` holds (bounded), then stops it.
    void run_streamer(const std::function<bool()>& done) {
        ReplyStreamer streamer(io, log, slack, ReplyStreamerOptions{}, nullptr);
        streamer.start();
        const auto deadline = std::chrono::steady_clock::now() + 5s;
        while (!done() && std::chrono::steady_clock::now() < deadline) io.run_for(20ms);
        bool stopped = false;
        boost::asio::co_spawn(io, streamer.stop(), [&](std::exception_ptr) { stopped = true; });
        while (!stopped) io.run_one_for(1s);
    }

    long count(std::string_view type) {
        auto reader = log.open_reader();
        long n = 0;
        for (;;) {
            auto batch = reader->poll(0ms, 1000);
            if (!batch || batch->empty()) break;
            for (auto& r : *batch) n += r.envelope.event_type == type;
        }
        return n;
    }
};

TEST_F(Recovery, AStartedReplyContinuesInItsOwnMessage) {
    turn_with_text("hello", " world");
    run_streamer([&] { return !slack.calls.empty() && slack.calls.back().first == slack_method::update; });
    ASSERT_EQ(count(reply_completed_event), 1);
    ASSERT_FALSE(slack.calls.empty());
    for (const auto& [method, args] : slack.calls) {
        EXPECT_NE(method, slack_method::start_stream);
        EXPECT_NE(method, slack_method::post_message);
    }
    const auto& [method, args] = slack.calls.back();
    EXPECT_EQ(method, slack_method::update);
    EXPECT_EQ(args.at("ts"), "S9");
    EXPECT_EQ(args.at("text"), "hello world");
}

TEST_F(Recovery, AFinishedReplyIsNeverRenderedAgain) {
    turn_with_text("hello", " world");
    append(reply_completed_event, json::object{{"message_ts", "S9"}});
    // No Slack call can be awaited: give the streamer time to fold everything and go live.
    const auto until = std::chrono::steady_clock::now() + 500ms;
    run_streamer([&] { return std::chrono::steady_clock::now() >= until; });
    EXPECT_TRUE(slack.calls.empty());
    EXPECT_EQ(count(reply_completed_event), 1);
}

TEST_F(Recovery, AnUnconfirmedPostIsFoundByItsMetadataNotPostedAgain) {
    turn_with_intent("post");
    slack.thread = json::array{
        json::object{{"ts", "1.0"}, {"user", "U1"}, {"text", "<@UBOT> hi"}},
        json::object{{"ts", "P7"}, {"bot_id", "B1"}, {"text", "other reply"},
                     {"metadata", json::object{{"event_type", reply_metadata_type},
                                               {"event_payload", json::object{{"execution_id", "exe_other"},
                                                                              {"part", 0}}}}}},
        json::object{{"ts", "P8"}, {"bot_id", "B1"}, {"text", "hel"},
                     {"metadata", json::object{{"event_type", reply_metadata_type},
                                               {"event_payload", json::object{{"execution_id", execution},
                                                                              {"part", 0}}}}}}};
    run_streamer([&] { return count(reply_completed_event) == 1; });
    EXPECT_EQ(methods(), (std::vector<std::string>{slack_method::conversations_replies, slack_method::update}));
    EXPECT_EQ(slack.calls.at(0).second.at("ts"), "1.0");
    EXPECT_EQ(slack.calls.at(0).second.at("include_all_metadata"), true);
    EXPECT_EQ(slack.calls.at(1).second.at("ts"), "P8");
    EXPECT_EQ(slack.calls.at(1).second.at("text"), "hello");
    EXPECT_EQ(count(reply_started_event), 1);
}

TEST_F(Recovery, AnUnconfirmedStreamIsTheUnclaimedBotMessageAndIsClosedFirst) {
    turn_with_intent("stream");
    slack.thread = json::array{json::object{{"ts", "1.0"}, {"user", "U1"}, {"text", "<@UBOT> hi"}},
                               json::object{{"ts", "S5"}, {"bot_id", "B1"}, {"text", "hel"}}};
    run_streamer([&] { return count(reply_completed_event) == 1; });
    EXPECT_EQ(methods(), (std::vector<std::string>{slack_method::conversations_replies, slack_method::stop_stream,
                                                   slack_method::update}));
    EXPECT_EQ(slack.calls.at(1).second.at("ts"), "S5");
    EXPECT_EQ(slack.calls.at(2).second.at("ts"), "S5");
}

TEST_F(Recovery, AnIntentSlackNeverActedOnIsCreatedOnce) {
    turn_with_intent("stream");
    // The thread holds the user's message and a bot message another reply already claimed.
    EventEnvelope claimed{EventUuid::random(), key, std::string("exe_00000000000000000000000000000002"),
                          reply_started_event, json::object{{"message_ts", "S1"}, {"mode", "stream"}}, now_micros(),
                          EventSource::processor};
    bool done = false;
    log.async_append(std::move(claimed), [&](result<Appended>) { done = true; });
    while (!done) io.run_one_for(1s);
    slack.thread = json::array{json::object{{"ts", "1.0"}, {"user", "U1"}, {"text", "<@UBOT> hi"}},
                               json::object{{"ts", "S1"}, {"bot_id", "B1"}, {"text", "earlier answer"}}};
    run_streamer([&] { return count(reply_completed_event) == 1; });
    const auto m = methods();
    ASSERT_GE(m.size(), 2u);
    EXPECT_EQ(m[0], slack_method::conversations_replies);
    EXPECT_EQ(std::count(m.begin(), m.end(), std::string(slack_method::start_stream)), 1);
    EXPECT_EQ(std::count(m.begin(), m.end(), std::string(slack_method::update)), 0);
    EXPECT_EQ(count(reply_intent_event), 1);  // the same intent, not a second one
}

}  // namespace
}  // namespace centaur::slack
