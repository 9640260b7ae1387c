#include <centaur/schemas/hex.hpp>

#include <gtest/gtest.h>

#include <string>

namespace centaur::schemas {
namespace {

TEST(Hex, EncodesEveryByteAsTwoLowerCaseDigits) {
    const unsigned char bytes[] = {0x00, 0x01, 0x7f, 0x80, 0xab, 0xff};
    std::string out = "v0=";
    append_hex(out, bytes, sizeof bytes);
    EXPECT_EQ(out, "v0=00017f80abff");
    EXPECT_EQ(to_hex(std::string("\x12\x34\xCD\xEF", 4)), "1234cdef");
    EXPECT_EQ(to_hex(""), "");
}

TEST(Hex, ValueReadsBothCasesAndRefusesNonHex) {
    EXPECT_EQ(hex_value('0'), 0);
    EXPECT_EQ(hex_value('9'), 9);
    EXPECT_EQ(hex_value('a'), 10);
    EXPECT_EQ(hex_value('f'), 15);
    EXPECT_EQ(hex_value('A'), 10);
    EXPECT_EQ(hex_value('F'), 15);
    for (char c : {'g', 'G', 'x', ' ', '/', ':', '@', '`', '\0', static_cast<char>(0xff)})
        EXPECT_EQ(hex_value(c), -1) << static_cast<int>(c);
}

TEST(Hex, EveryByteRoundTrips) {
    std::string all;
    for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
    const std::string text = to_hex(all);
    ASSERT_EQ(text.size(), 2 * all.size());
    std::string back;
    for (std::size_t i = 0; i < text.size(); i += 2) {
        const int hi = hex_value(text[i]);
        const int lo = hex_value(text[i + 1]);
        ASSERT_GE(hi, 0);
        ASSERT_GE(lo, 0);
        back.push_back(static_cast<char>(hi * 16 + lo));
    }
    EXPECT_EQ(back, all);
}

}  // namespace
}  // namespace centaur::schemas
