#include <centaur/processors/thread_state.hpp>
#include <centaur/schemas/event_types.hpp>
#include <centaur/schemas/payloads.hpp>

#include <gtest/gtest.h>

namespace centaur::processors {
namespace {

EventEnvelope event(std::string_view type, boost::json::value payload, std::optional<std::string> exe = {}) {
    return EventEnvelope{EventUuid::random(), *ThreadKey::parse("cli:t"), std::move(exe), std::string(type),
                         std::move(payload), 0, EventSource::ingest};
}

EventEnvelope requested(const std::string& id) {
    return event(event_type::execution_requested, to_json(ExecutionRequested{id, std::nullopt, {"x"}, 0, 0, {}}), id);
}

TEST(ThreadState, QueueStartAndTerminalFollowTheLog) {
    ThreadState s;
    EXPECT_TRUE(s.apply(event(event_type::session_created, to_json(SessionCreated{"amp", {}, {}, false}))));
    EXPECT_EQ(s.harness_type, "amp");
    EXPECT_TRUE(s.apply(requested("exe_1")));
    EXPECT_TRUE(s.apply(requested("exe_2")));
    EXPECT_FALSE(s.apply(requested("exe_1"))) << "a duplicate request is not acted on twice";
    EXPECT_EQ(s.queue.size(), 2u);
    EXPECT_TRUE(s.apply(event(event_type::execution_started, boost::json::object{}, "exe_1")));
    ASSERT_TRUE(s.active);
    EXPECT_EQ(s.active->execution_id, "exe_1");
    EXPECT_TRUE(s.apply(event(event_type::execution_completed, boost::json::object{}, "exe_1")));
    EXPECT_FALSE(s.active);
    EXPECT_FALSE(s.apply(event(event_type::execution_failed, boost::json::object{}, "exe_1")))
        << "a second terminal event changes nothing";
    EXPECT_TRUE(s.apply(event(event_type::execution_cancelled, boost::json::object{}, "exe_2")))
        << "cancelled before start leaves the queue";
    EXPECT_TRUE(s.queue.empty());
}

TEST(ThreadState, HarnessChangesOnlyOnRestart) {
    ThreadState s;
    s.apply(event(event_type::session_created, to_json(SessionCreated{"codex", {}, {}, false})));
    s.apply(event(event_type::session_created, to_json(SessionCreated{"amp", {}, {}, false})));
    EXPECT_EQ(s.harness_type, "codex");
    s.apply(event(event_type::session_created, to_json(SessionCreated{"amp", {}, {}, true})));
    EXPECT_EQ(s.harness_type, "amp");
}

TEST(ThreadState, DuplicateMessagesAreRecognised) {
    ThreadState s;
    auto m = event(event_type::message_appended, to_json(MessageAppended{"msg_1", std::string("c1"), "user", {}, {}}));
    EXPECT_TRUE(s.apply(m));
    EXPECT_FALSE(s.apply(m));
}

}  // namespace
}  // namespace centaur::processors
