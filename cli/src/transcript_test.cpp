#include "transcript.hpp"

#include <gtest/gtest.h>

#include <algorithm>

namespace centaur::cli {
namespace {

using Kind = TranscriptEntry::Kind;

SseEvent ev(std::string id, std::string type, std::string data) { return SseEvent{std::move(id), std::move(type), std::move(data)}; }
SseEvent out(std::string id, std::string line) { return ev(std::move(id), "session.output.line", std::move(line)); }

std::vector<std::string> texts(const Transcript& t, const RenderOptions& o = {}) {
    std::vector<std::string> v;
    for (const auto& l : t.render(o)) v.push_back(l.text);
    return v;
}

TEST(Transcript, MockCodexTurnRendersUserAgentAndStatus) {
    Transcript t;
    t.on_event(ev("1", "session.created", R"({"harness_type":"codex"})"));
    t.on_event(ev("2", "session.message_appended",
                  R"({"message_id":"msg_1","role":"user","parts":[{"type":"text","text":"ping"}]})"));
    t.on_event(ev("3", "session.execution_requested", R"({"execution_id":"exe_abc"})"));
    EXPECT_EQ(t.status().execution, "queued");
    t.on_event(ev("4", "session.execution_started", R"({"execution_id":"exe_abc"})"));
    t.on_event(ev("5", "session.sandbox_ready", R"({"execution_id":"exe_abc","sandbox_ready_source":"cold_create","sandbox_ready_duration_ms":12})"));
    t.on_event(out("6", R"({"type":"system","subtype":"wrapper_heartbeat","phase":"startup"})"));
    t.on_event(out("7", R"({"type":"thread.started","thread_id":"t1"})"));
    t.on_event(out("8", R"({"type":"turn.started","turn_id":"mock-turn-1"})"));
    EXPECT_TRUE(t.status().turn_running);
    t.on_event(out("9", R"({"type":"item.agentMessage.delta","turnId":"mock-turn-1","delta":"PO"})"));
    t.on_event(out("10", R"({"type":"item.agentMessage.delta","turnId":"mock-turn-1","delta":"NG"})"));
    t.on_event(out("11", R"({"type":"turn.completed","turn":{"id":"mock-turn-1","status":"completed"}})"));
    t.on_event(ev("12", "session.execution_completed", R"({"execution_id":"exe_abc"})"));

    EXPECT_EQ(texts(t), (std::vector<std::string>{"you: ping", "-- execution started exe_abc",
                                                   "-- sandbox ready (cold_create, 12 ms)", "agent: PONG",
                                                   "-- turn completed", "-- execution completed"}));
    EXPECT_EQ(t.status().execution, "completed");
    EXPECT_EQ(t.status().execution_id, "exe_abc");
    EXPECT_EQ(t.status().sandbox, "ready");
    EXPECT_EQ(t.status().last_event_id, "12");
    EXPECT_FALSE(t.status().turn_running);
    EXPECT_EQ(t.raw_events().size(), 12u);
    EXPECT_EQ(t.raw_events()[8], R"(9 session.output.line {"type":"item.agentMessage.delta","turnId":"mock-turn-1","delta":"PO"})");

    // All events adds the details (heartbeat, harness thread, queue) in order.
    const auto all = texts(t, {.width = 200, .all_events = true});
    EXPECT_GT(all.size(), 6u);
    EXPECT_NE(std::find(all.begin(), all.end(), "   system wrapper_heartbeat startup"), all.end());
    EXPECT_NE(std::find(all.begin(), all.end(), "   harness thread t1"), all.end());
}

TEST(Transcript, SlackReplyBookkeepingIsADetailNeverAgentOutput) {
    Transcript t;
    t.on_event(ev("1", "session.execution_started", R"({"execution_id":"exe_s"})"));
    t.on_event(out("2", R"({"type":"item.agentMessage.delta","turnId":"t","delta":"PO"})"));
    t.on_event(ev("3", "slack.reply_intent", R"({"execution_id":"exe_s","part":0,"mode":"stream"})"));
    t.on_event(ev("4", "slack.reply_started", R"({"execution_id":"exe_s","message_ts":"S1","part":0,"mode":"stream"})"));
    t.on_event(out("5", R"({"type":"item.agentMessage.delta","turnId":"t","delta":"NG"})"));
    t.on_event(ev("6", "session.execution_completed", R"({"execution_id":"exe_s"})"));
    t.on_event(ev("7", "slack.reply_completed", R"({"execution_id":"exe_s","message_ts":"S1"})"));

    EXPECT_EQ(texts(t), (std::vector<std::string>{"-- execution started exe_s", "agent: PONG", "-- execution completed"}));
    const auto all = texts(t, {.width = 200, .all_events = true});
    EXPECT_NE(std::find(all.begin(), all.end(), "   slack reply intent"), all.end());
    EXPECT_NE(std::find(all.begin(), all.end(), "   slack reply started (message S1)"), all.end());
    EXPECT_NE(std::find(all.begin(), all.end(), "   slack reply completed (message S1)"), all.end());
    EXPECT_EQ(std::count_if(all.begin(), all.end(), [](const auto& s) { return s.rfind("agent: ", 0) == 0; }), 1);
}

TEST(Transcript, AQueuedSandboxShowsItsPlaceThenReadyAndADrainNamesItsReason) {
    Transcript t;
    t.on_event(ev("1", "session.execution_started", R"({"execution_id":"exe_q"})"));
    t.on_event(ev("2", "session.sandbox_queued", R"({"execution_id":"exe_q","position":1,"limit":1,"running":1})"));
    EXPECT_EQ(t.status().sandbox, "queued");
    t.on_event(ev("3", "session.sandbox_ready", R"({"execution_id":"exe_q","sandbox_ready_source":"cold_create"})"));
    EXPECT_EQ(t.status().sandbox, "ready");
    t.on_event(ev("4", "session.sandbox_stopped", R"({"sandbox_id":"local-1","reason":"drained"})"));
    t.on_event(ev("5", "session.sandbox_queued", R"({"execution_id":"exe_r"})"));

    EXPECT_EQ(texts(t), (std::vector<std::string>{"-- execution started exe_q", "-- sandbox queued (position 1, limit 1)",
                                                   "-- sandbox ready (cold_create)", "-- sandbox stopped (drained)",
                                                   "-- sandbox queued"}));
    EXPECT_EQ(t.status().sandbox, "queued");
}

TEST(Transcript, JsonRpcFormWithCommandExecutionFoldsOutput) {
    Transcript t;
    t.on_event(out("1", R"({"method":"item/started","params":{"item":{"type":"agentMessage","id":"msg_a","text":""}}})"));
    t.on_event(out("2", R"({"method":"item/agentMessage/delta","params":{"itemId":"msg_a","delta":"Let me "}})"));
    t.on_event(out("3", R"({"method":"item/agentMessage/delta","params":{"itemId":"msg_a","delta":"check."}})"));
    t.on_event(out("4", R"({"method":"item/completed","params":{"item":{"type":"agentMessage","id":"msg_a","text":"Let me check."}}})"));
    t.on_event(out("5", R"({"method":"item/started","params":{"item":{"type":"commandExecution","id":"call_1","command":"/bin/bash -lc 'ls'","status":"inProgress"}}})"));
    EXPECT_EQ(texts(t).back(), "$ /bin/bash -lc 'ls'  [running]");
    t.on_event(out("6", R"({"method":"item/commandExecution/outputDelta","params":{"itemId":"call_1","delta":"a\n"}})"));
    t.on_event(out("7", R"({"method":"item/completed","params":{"item":{"type":"commandExecution","id":"call_1","status":"completed","exitCode":0,"aggregatedOutput":"a\nb\n","durationMs":5}}})"));
    t.on_event(out("8", R"({"method":"item/started","params":{"item":{"type":"agentMessage","id":"msg_b"}}})"));
    t.on_event(out("9", R"({"method":"item/agentMessage/delta","params":{"itemId":"msg_b","delta":"Two files."}})"));
    t.on_event(out("10", R"({"method":"turn/completed","params":{"turn":{"id":"u","status":"completed"}}})"));

    EXPECT_EQ(texts(t), (std::vector<std::string>{"agent: Let me check.", "$ /bin/bash -lc 'ls'  [exit 0, 5 ms]",
                                                   "  [2 lines of output folded; Ctrl-O unfolds]",
                                                   "agent: Two files.", "-- turn completed"}));
    const auto expanded = texts(t, {.width = 80, .expand_output = true});
    EXPECT_EQ(expanded[2], "  | a");
    EXPECT_EQ(expanded[3], "  | b");
    ASSERT_EQ(t.entries()[1].kind, Kind::command);
    EXPECT_EQ(t.entries()[1].output, "a\nb\n");
}

TEST(Transcript, OwnMessageIsNotDuplicatedByItsReplay) {
    Transcript t;
    t.add_local_user_message("hello", "cli-1");
    t.on_event(ev("1", "session.message_appended",
                  R"({"role":"user","client_message_id":"cli-1","parts":[{"type":"text","text":"hello"}]})"));
    t.on_event(ev("2", "session.message_appended",
                  R"({"role":"user","client_message_id":"slack-9","parts":[{"type":"text","text":"from slack"}]})"));
    EXPECT_EQ(texts(t), (std::vector<std::string>{"you: hello", "you: from slack"}));
}

TEST(Transcript, FailuresInterruptsAndUnknownLines) {
    Transcript t;
    t.on_event(out("1", R"({"type":"turn.started","turn_id":"x"})"));
    t.on_event(out("2", R"({"type":"turn.completed","turn":{"id":"x","status":"interrupted"}})"));
    t.on_event(ev("3", "session.execution_cancelled", R"({"execution_id":"exe_1","reason":"turn_interrupted"})"));
    t.on_event(out("4", R"({"type":"turn.failed","error":{"message":"mock failure"}})"));
    t.on_event(ev("5", "session.execution_failed", R"({"execution_id":"exe_2","error":"boom"})"));
    t.on_event(out("6", "not json \x1b[31mred\x1b[0m"));
    t.on_event(out("7", R"({"type":"something.new","x":1})"));
    t.on_event(SseEvent{std::nullopt, "session.stream_error", R"({"error":"event stream failed"})"});
    EXPECT_EQ(texts(t), (std::vector<std::string>{"-- turn interrupted", "-- execution cancelled (turn_interrupted)",
                                                   "!! turn failed: mock failure", "!! execution failed: boom",
                                                   "-- stdout: not json [31mred[0m",
                                                   "!! stream error: event stream failed"}));
    EXPECT_EQ(t.status().execution, "failed");
    EXPECT_EQ(t.status().last_event_id, "7");  // a frame without id keeps the last one
    const auto all = texts(t, {.width = 200, .all_events = true});
    EXPECT_NE(std::find(all.begin(), all.end(), R"(   something.new {"type":"something.new","x":1})"), all.end());
}

TEST(Transcript, AnthropicStyleMessagesAndResults) {
    Transcript t;
    t.on_event(out("1", R"({"type":"assistant","message":{"content":[{"type":"text","text":"Running it."},{"type":"tool_use","id":"tu_1","name":"Bash","input":{"command":"echo hi"}}]}})"));
    t.on_event(out("2", R"({"type":"user","message":{"content":[{"type":"tool_result","tool_use_id":"tu_1","content":"hi\n"}]}})"));
    t.on_event(out("3", R"({"type":"assistant","message":{"content":[{"type":"text","text":"Done: hi"}]}})"));
    t.on_event(out("4", R"({"type":"result","subtype":"success","result":"Done: hi"})"));
    EXPECT_EQ(texts(t), (std::vector<std::string>{"agent: Running it.", R"($ Bash {"command":"echo hi"}  [completed])",
                                                   "  [1 line of output folded; Ctrl-O unfolds]", "agent: Done: hi",
                                                   "-- turn done"}));
}

TEST(Transcript, WrapsToTheWidthAndBoundsMemory) {
    Transcript t;
    t.add_local_user_message("one two three four five", "c");
    EXPECT_EQ(texts(t, {.width = 14}), (std::vector<std::string>{"you: one two", "     three", "     four five"}));
    for (std::size_t i = 0; i < Transcript::kMaxEntries + 10; ++i) t.add_system("x");
    EXPECT_EQ(t.entries().size(), Transcript::kMaxEntries);
    for (std::size_t i = 0; i < Transcript::kMaxRawEvents + 10; ++i) t.on_event(ev(std::to_string(i), "session.first_token", "{}"));
    EXPECT_EQ(t.raw_events().size(), Transcript::kMaxRawEvents);
}

TEST(WrapText, BreaksAtSpacesOrMidWordAndKeepsUtf8Whole) {
    EXPECT_EQ(wrap_text("abc def", 3), (std::vector<std::string>{"abc", "def"}));
    EXPECT_EQ(wrap_text("abcdefg", 3), (std::vector<std::string>{"abc", "def", "g"}));
    EXPECT_EQ(wrap_text("a\n\nb", 5), (std::vector<std::string>{"a", "", "b"}));
    EXPECT_EQ(wrap_text("", 5), (std::vector<std::string>{""}));
    EXPECT_EQ(wrap_text("äöüßé", 2), (std::vector<std::string>{"äö", "üß", "é"}));
    EXPECT_EQ(utf8_columns("äb"), 2u);
}

}  // namespace
}  // namespace centaur::cli
