#include "sse_format.hpp"

#include <gtest/gtest.h>

namespace centaur::http {
namespace {

TEST(SseFormat, EventHasIdEventAndDataLines) {
    EXPECT_EQ(format_event("42", "session.output.line", "{\"a\":1}"),
              "id: 42\nevent: session.output.line\ndata: {\"a\":1}\n\n");
}

TEST(SseFormat, EmptyIdOmitsIdLine) { EXPECT_EQ(format_event("", "t", "x"), "event: t\ndata: x\n\n"); }

TEST(SseFormat, EveryLineBreakStartsANewDataLine) {
    EXPECT_EQ(format_event("1", "t", "a\nb\r\nc\rd"), "id: 1\nevent: t\ndata: a\ndata: b\ndata: c\ndata: d\n\n");
    EXPECT_EQ(format_event("1", "t", "a\n"), "id: 1\nevent: t\ndata: a\ndata: \n\n");
    EXPECT_EQ(format_event("1", "t", "\r\n\r"), "id: 1\nevent: t\ndata: \ndata: \ndata: \n\n");
}

TEST(SseFormat, EmptyDataIsOneEmptyDataLine) { EXPECT_EQ(format_event("1", "t", ""), "id: 1\nevent: t\ndata: \n\n"); }

TEST(SseFormat, LineBreaksInIdAndTypeCannotBreakFraming) {
    EXPECT_EQ(format_event("1\r\n2", "a\nb", "x"), "id: 12\nevent: ab\ndata: x\n\n");
}

TEST(SseFormat, CommentAndRetry) {
    EXPECT_EQ(format_comment("keep-alive"), ": keep-alive\n\n");
    EXPECT_EQ(format_comment("a\nb"), ": a\n: b\n\n");
    EXPECT_EQ(format_retry(std::chrono::milliseconds(1500)), "retry: 1500\n\n");
}

}  // namespace
}  // namespace centaur::http
