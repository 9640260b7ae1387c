#include <centaur/pg/array_literal.hpp>

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <map>
#include <ranges>
#include <vector>

namespace centaur::pg {
namespace {

TEST(IntArrayLiteral, EmptyRangeIsEmptyArray) { EXPECT_EQ(int_array_literal(std::vector<std::int32_t>{}), "{}"); }

TEST(IntArrayLiteral, ListsValuesInOrderWithoutQuoting) {
    EXPECT_EQ(int_array_literal(std::vector<std::int32_t>{7}), "{7}");
    EXPECT_EQ(int_array_literal(std::vector<std::int64_t>{3, -1, 0, std::numeric_limits<std::int64_t>::max()}),
              "{3,-1,0,9223372036854775807}");
}

TEST(IntArrayLiteral, KeysAndValuesOfOneMapLineUp) {
    const std::map<std::int32_t, std::int64_t> stored{{2, 40}, {0, 10}, {5, 7}};
    EXPECT_EQ(int_array_literal(std::views::keys(stored)), "{0,2,5}");
    EXPECT_EQ(int_array_literal(std::views::values(stored)), "{10,40,7}");
}

}  // namespace
}  // namespace centaur::pg
