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

namespace centaur::slack {
namespace {
namespace json = boost::json;
using namespace std::chrono_literals;

/// Records every call; answers ok (startStream / postMessage with a ts).
class RecordingSlack final : public SlackClient {
public:
    std::vector<std::pair<std::string, json::object>> calls;
    boost::asio::awaitable<result<SlackResponse>> call(std::string method, json::object args) override {
        SlackResponse r;
        r.http_status = 200;
        r.body["ok"] = true;
        if (method == slack_method::start_stream || method == slack_method::post_message) r.body["ts"] = "NEW";
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

}  // namespace
}  // namespace centaur::slack
