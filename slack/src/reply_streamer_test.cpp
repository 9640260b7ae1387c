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
