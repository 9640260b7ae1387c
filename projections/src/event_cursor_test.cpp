#include <centaur/projections/event_cursor.hpp>

#include <gtest/gtest.h>

namespace centaur::projections {
namespace {

TEST(EventCursor, ParsesOnlyNonNegativeDecimalIds) {
    EXPECT_EQ(parse_event_id("0")->value, 0);
    EXPECT_EQ(parse_event_id("9223372036854775807")->value, INT64_MAX);
    for (const char* bad : {"", "-1", "-0", "+1", " 1", "1 ", "0x10", "1e3", "9223372036854775808", "12a"})
        EXPECT_FALSE(parse_event_id(bad)) << bad;
}

TEST(EventCursor, LastEventIdWinsAndAnEmptyOneIsIgnored) {
    EXPECT_EQ(stream_cursor(std::nullopt, std::nullopt).after.value, 0);
    EXPECT_EQ(stream_cursor("5", std::nullopt).after.value, 5);
    EXPECT_EQ(stream_cursor("5", "7").after.value, 7);
    EXPECT_EQ(stream_cursor("5", "").after.value, 5);
    EXPECT_FALSE(stream_cursor("5", "").error);
}

TEST(EventCursor, AMalformedValueIsAnErrorNamingIt) {
    EXPECT_EQ(*stream_cursor("x", "7").error, "after_event_id must be a non-negative integer");
    EXPECT_EQ(*stream_cursor("5", "-7").error, "Last-Event-ID must be a non-negative integer");
    EXPECT_EQ(*stream_cursor("", std::nullopt).error, "after_event_id must be a non-negative integer");
}

}  // namespace
}  // namespace centaur::projections
