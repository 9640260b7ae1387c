#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace centaur::cli {

/// The TUI's input box: a multi-line UTF-8 buffer with a cursor and a history of submitted inputs.
/// Pure (no terminal): the TUI maps keys to these calls. Owned and called by one thread.
class InputEditor {
public:
    static constexpr std::size_t kMaxHistory = 500;

    /// Inserts UTF-8 text (may contain '\n') at the cursor.
    void insert(std::string_view text);
    void newline() { insert("\n"); }
    /// Deletes the code point before / at the cursor.
    void backspace();
    void delete_forward();
    void left();
    void right();
    void home();  ///< start of the cursor's line
    void end();   ///< end of the cursor's line
    void clear();
    /// Deletes the word before the cursor (Ctrl-W).
    void delete_word();

    /// Up / Down: on the first (last) line of the buffer they walk the history, restoring the draft being
    /// typed when walking back past the newest entry; inside a multi-line buffer they move between lines.
    void up();
    void down();

    /// Returns the trimmed text and clears the buffer; an empty (all blank) buffer returns nullopt and
    /// stays as is. A non-empty text is added to the history (not twice in a row).
    std::optional<std::string> submit();

    const std::string& text() const { return text_; }
    /// Byte offset of the cursor in text().
    std::size_t cursor() const { return cursor_; }
    /// Cursor position as (line, column in code points) of text() split at '\n'.
    std::pair<std::size_t, std::size_t> cursor_line_column() const;
    const std::vector<std::string>& history() const { return history_; }

private:
    void recall(std::size_t index);
    std::size_t line_start(std::size_t pos) const;
    std::size_t line_end(std::size_t pos) const;
    void move_vertically(int direction);

    std::string text_;
    std::size_t cursor_ = 0;
    std::vector<std::string> history_;
    std::optional<std::size_t> history_pos_;  ///< index into history_ while browsing it
    std::string draft_;                       ///< the unsent text saved when browsing started
};

}  // namespace centaur::cli
