#include "sse_format.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>

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

/// The frame a per-byte scan produces: the reference the memchr-based splitter must match.
std::string reference_frame(std::string_view id, std::string_view type, std::string_view data) {
    auto strip = [](std::string_view v) {
        std::string out;
        for (char c : v)
            if (c != '\r' && c != '\n') out += c;
        return out;
    };
    std::string out;
    if (!id.empty()) out += "id: " + strip(id) + "\n";
    if (!type.empty()) out += "event: " + strip(type) + "\n";
    out += "data: ";
    for (std::size_t i = 0; i < data.size(); ++i) {
        if (data[i] == '\r' || data[i] == '\n') {
            if (data[i] == '\r' && i + 1 < data.size() && data[i + 1] == '\n') ++i;
            out += "\ndata: ";
        } else {
            out += data[i];
        }
    }
    out += "\n\n";
    return out;
}

TEST(SseFormat, SplitsEveryMixOfLineBreaksLikeAPerByteScan) {
    std::mt19937 rng(7);
    const char alphabet[] = {'a', 'b', '\r', '\n'};
    for (int round = 0; round < 2000; ++round) {
        std::string data(rng() % 40, 'x');
        for (auto& c : data) c = alphabet[rng() % 4];
        std::string id(rng() % 4, '1');
        for (auto& c : id) c = alphabet[rng() % 4];
        ASSERT_EQ(format_event(id, "t\r\nu", data), reference_frame(id, "t\r\nu", data)) << round;
        std::string appended = "prefix";
        append_event(appended, id, "t", data);
        ASSERT_EQ(appended, "prefix" + reference_frame(id, "t", data)) << round;
    }
}

TEST(SseFormat, LongDataWithoutBreaksIsOneDataLine) {
    const std::string data(100000, 'x');
    EXPECT_EQ(format_event("9", "t", data), "id: 9\nevent: t\ndata: " + data + "\n\n");
}

}  // namespace
}  // namespace centaur::http
