#include "input_editor.hpp"

#include <gtest/gtest.h>

namespace centaur::cli {
namespace {

TEST(InputEditor, EditsAtTheCursorUtf8Aware) {
    InputEditor e;
    e.insert("héllo");
    e.left();
    e.left();
    e.left();
    e.left();
    e.backspace();  // removes 'h'
    EXPECT_EQ(e.text(), "éllo");
    e.delete_forward();  // removes 'é' (two bytes)
    EXPECT_EQ(e.text(), "llo");
    e.end();
    e.insert(" world");
    e.delete_word();
    EXPECT_EQ(e.text(), "llo ");
    e.home();
    e.insert(">");
    EXPECT_EQ(e.text(), ">llo ");
    EXPECT_EQ(e.cursor_line_column(), std::make_pair(std::size_t{0}, std::size_t{1}));
}

TEST(InputEditor, MultiLineMovesBetweenLinesAndSubmitsTrimmed) {
    InputEditor e;
    e.insert("first");
    e.newline();
    e.insert("second line");
    EXPECT_EQ(e.cursor_line_column(), std::make_pair(std::size_t{1}, std::size_t{11}));
    e.up();  // inside a multi-line buffer: moves up, column clamped to the shorter line
    EXPECT_EQ(e.cursor_line_column(), std::make_pair(std::size_t{0}, std::size_t{5}));
    e.down();
    EXPECT_EQ(e.cursor_line_column().first, 1u);
    auto sent = e.submit();
    ASSERT_TRUE(sent);
    EXPECT_EQ(*sent, "first\nsecond line");
    EXPECT_TRUE(e.text().empty());
    e.insert("  \n ");
    EXPECT_FALSE(e.submit());
    EXPECT_EQ(e.text(), "  \n ");
}

TEST(InputEditor, HistoryWalksBackAndRestoresTheDraft) {
    InputEditor e;
    for (const char* s : {"one", "two", "two", "three"}) {
        e.insert(s);
        e.submit();
    }
    EXPECT_EQ(e.history(), (std::vector<std::string>{"one", "two", "three"}));
    e.insert("draft");
    e.up();
    EXPECT_EQ(e.text(), "three");
    e.up();
    e.up();
    e.up();  // stays at the oldest
    EXPECT_EQ(e.text(), "one");
    e.down();
    EXPECT_EQ(e.text(), "two");
    e.down();
    e.down();
    EXPECT_EQ(e.text(), "draft");
    EXPECT_EQ(e.cursor(), 5u);
    e.down();  // past the newest: nothing
    EXPECT_EQ(e.text(), "draft");
}

}  // namespace
}  // namespace centaur::cli
