#include <centaur/processors/session_processor.hpp>
#include <centaur/processors/turn_tracker.hpp>

#include <boost/json.hpp>
#include <gtest/gtest.h>

namespace centaur::processors {
namespace {

TEST(TurnTracker, MockTurnCompletesWithTheAssembledAnswer) {
    TurnTracker t;
    EXPECT_FALSE(t.observe(R"({"type":"system","subtype":"wrapper_heartbeat","phase":"startup"})"));
    EXPECT_FALSE(t.observe(R"({"type":"thread.started","thread_id":"mock-codex-thread"})"));
    EXPECT_EQ(t.harness_thread_id(), "mock-codex-thread");
    EXPECT_FALSE(t.observe(R"({"type":"turn.started","turn_id":"mock-turn-1"})"));
    EXPECT_FALSE(t.saw_agent_text());
    EXPECT_FALSE(t.observe(R"({"type":"item.agentMessage.delta","turnId":"mock-turn-1","delta":"PONG"})"));
    EXPECT_TRUE(t.saw_agent_text());
    auto done = t.observe(R"({"type":"turn.completed","turn":{"id":"mock-turn-1","status":"completed"}})");
    ASSERT_TRUE(done);
    EXPECT_EQ(done->kind, TerminalKind::completed);
    EXPECT_EQ(done->reason, "turn_completed");
    EXPECT_EQ(done->result_text, "PONG");
}

TEST(TurnTracker, JsonRpcFormIsUnderstood) {
    TurnTracker t;
    EXPECT_FALSE(t.observe(R"({"method":"item/agentMessage/delta","params":{"turnId":"1","delta":"he"}})"));
    EXPECT_FALSE(t.observe(R"({"method":"item/agentMessage/delta","params":{"turnId":"1","delta":"llo"}})"));
    auto done = t.observe(R"({"method":"turn/completed","params":{"turn":{"id":"1","status":"completed"}}})");
    ASSERT_TRUE(done);
    EXPECT_EQ(done->result_text, "hello");
}

TEST(TurnTracker, FailuresAndInterruptions) {
    {
        TurnTracker t;
        auto f = t.observe(R"({"type":"turn.failed","error":{"message":"boom"}})");
        ASSERT_TRUE(f);
        EXPECT_EQ(f->kind, TerminalKind::failed);
        EXPECT_EQ(f->reason, "boom");
    }
    {
        TurnTracker t;
        auto f = t.observe(R"({"type":"error","message":"bad"})");
        ASSERT_TRUE(f);
        EXPECT_EQ(f->kind, TerminalKind::failed);
    }
    {
        TurnTracker t;
        auto c = t.observe(R"({"type":"turn.completed","turn":{"id":"1","status":"interrupted"}})");
        ASSERT_TRUE(c);
        EXPECT_EQ(c->kind, TerminalKind::cancelled);
        EXPECT_EQ(c->reason, "turn_interrupted");
    }
    {
        TurnTracker t;
        auto c = t.observe(R"({"type":"turn.completed","turn":{"id":"1","status":"weird"}})");
        ASSERT_TRUE(c);
        EXPECT_EQ(c->kind, TerminalKind::failed);
        EXPECT_EQ(c->reason, "turn completed with status weird before final answer");
    }
    {
        TurnTracker t;
        auto r = t.observe(R"({"type":"result","subtype":"error","error":"nope"})");
        ASSERT_TRUE(r);
        EXPECT_EQ(r->kind, TerminalKind::failed);
        auto ok = TurnTracker{}.observe(R"({"type":"result","result":"fine"})");
        ASSERT_TRUE(ok);
        EXPECT_EQ(ok->reason, "result");
        EXPECT_EQ(ok->result_text, "fine");
    }
}

TEST(TurnTracker, FinalAgentMessageReplacesDeltasAndGarbageIsIgnored) {
    TurnTracker t;
    EXPECT_FALSE(t.observe("not json at all"));
    EXPECT_FALSE(t.observe("[1,2]"));
    EXPECT_FALSE(t.observe(R"({"type":"item.agentMessage.delta","delta":"draft"})"));
    EXPECT_FALSE(t.observe(R"({"type":"item.completed","item":{"type":"agentMessage","phase":"final_answer","text":"final"}})"));
    auto done = t.observe(R"({"type":"turn.done"})");
    ASSERT_TRUE(done);
    EXPECT_EQ(done->reason, "turn_done");
    EXPECT_EQ(done->result_text, "final");
}

TEST(EnrichInputLine, AddsTraceKeysWithoutOverwriting) {
    auto v = boost::json::parse(enrich_input_line(R"({"type":"user","thread_key":"keep:me"})", "cli:x"));
    EXPECT_EQ(v.at("thread_key").as_string(), "keep:me");
    EXPECT_EQ(v.at("trace_id").as_string().size(), 32u);
    EXPECT_EQ(std::string(v.at("traceparent").as_string()).substr(0, 3), "00-");
    EXPECT_EQ(enrich_input_line("raw text", "cli:x"), "raw text");
}

}  // namespace
}  // namespace centaur::processors
