#include "input_editor.hpp"

#include <algorithm>

namespace centaur::cli {

namespace {

bool continuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

std::size_t columns(std::string_view s) {
    return static_cast<std::size_t>(std::count_if(s.begin(), s.end(), [](char c) { return !continuation(c); }));
}

/// Byte offset of the code point `column` code points into [from, to) (clamped to `to`).
std::size_t advance_columns(const std::string& s, std::size_t from, std::size_t to, std::size_t column) {
    std::size_t pos = from;
    while (pos < to && column > 0) {
        ++pos;
        while (pos < to && continuation(s[pos])) ++pos;
        --column;
    }
    return pos;
}

bool blank(std::string_view s) {
    return std::all_of(s.begin(), s.end(), [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; });
}

}  // namespace

void InputEditor::insert(std::string_view text) {
    text_.insert(cursor_, text);
    cursor_ += text.size();
    history_pos_ = std::nullopt;
}

void InputEditor::backspace() {
    if (cursor_ == 0) return;
    std::size_t start = cursor_ - 1;
    while (start > 0 && continuation(text_[start])) --start;
    text_.erase(start, cursor_ - start);
    cursor_ = start;
}

void InputEditor::delete_forward() {
    if (cursor_ >= text_.size()) return;
    std::size_t end = cursor_ + 1;
    while (end < text_.size() && continuation(text_[end])) ++end;
    text_.erase(cursor_, end - cursor_);
}

void InputEditor::left() {
    if (cursor_ == 0) return;
    --cursor_;
    while (cursor_ > 0 && continuation(text_[cursor_])) --cursor_;
}

void InputEditor::right() {
    if (cursor_ >= text_.size()) return;
    ++cursor_;
    while (cursor_ < text_.size() && continuation(text_[cursor_])) ++cursor_;
}

void InputEditor::home() { cursor_ = line_start(cursor_); }

void InputEditor::end() { cursor_ = line_end(cursor_); }

void InputEditor::clear() {
    text_.clear();
    cursor_ = 0;
    history_pos_ = std::nullopt;
}

void InputEditor::delete_word() {
    std::size_t start = cursor_;
    while (start > 0 && text_[start - 1] == ' ') --start;
    while (start > 0 && text_[start - 1] != ' ' && text_[start - 1] != '\n') --start;
    text_.erase(start, cursor_ - start);
    cursor_ = start;
}

std::size_t InputEditor::line_start(std::size_t pos) const {
    const auto nl = pos == 0 ? std::string::npos : text_.rfind('\n', pos - 1);
    return nl == std::string::npos ? 0 : nl + 1;
}

std::size_t InputEditor::line_end(std::size_t pos) const {
    const auto nl = text_.find('\n', pos);
    return nl == std::string::npos ? text_.size() : nl;
}

std::pair<std::size_t, std::size_t> InputEditor::cursor_line_column() const {
    const std::size_t line = static_cast<std::size_t>(std::count(text_.begin(), text_.begin() + static_cast<std::ptrdiff_t>(cursor_), '\n'));
    const std::size_t start = line_start(cursor_);
    return {line, columns(std::string_view(text_).substr(start, cursor_ - start))};
}

void InputEditor::move_vertically(int direction) {
    const std::size_t column = cursor_line_column().second;
    std::size_t target_start;
    if (direction < 0) {
        target_start = line_start(line_start(cursor_) - 1);
    } else {
        target_start = line_end(cursor_) + 1;
    }
    cursor_ = advance_columns(text_, target_start, line_end(target_start), column);
}

void InputEditor::up() {
    if (line_start(cursor_) > 0) {
        move_vertically(-1);
        return;
    }
    if (history_.empty()) return;
    if (!history_pos_) {
        draft_ = text_;
        recall(history_.size() - 1);
    } else if (*history_pos_ > 0) {
        recall(*history_pos_ - 1);
    }
}

void InputEditor::down() {
    if (line_end(cursor_) < text_.size()) {
        move_vertically(+1);
        return;
    }
    if (!history_pos_) return;
    if (*history_pos_ + 1 < history_.size()) {
        recall(*history_pos_ + 1);
        return;
    }
    text_ = std::move(draft_);
    draft_.clear();
    cursor_ = text_.size();
    history_pos_ = std::nullopt;
}

void InputEditor::recall(std::size_t index) {
    history_pos_ = index;
    text_ = history_[index];
    cursor_ = text_.size();
}

std::optional<std::string> InputEditor::submit() {
    if (blank(text_)) return std::nullopt;
    std::string_view view(text_);
    while (!view.empty() && (view.front() == ' ' || view.front() == '\n' || view.front() == '\t')) view.remove_prefix(1);
    while (!view.empty() && (view.back() == ' ' || view.back() == '\n' || view.back() == '\t')) view.remove_suffix(1);
    std::string out(view);
    if (history_.empty() || history_.back() != out) history_.push_back(out);
    if (history_.size() > kMaxHistory) history_.erase(history_.begin());
    text_.clear();
    cursor_ = 0;
    history_pos_ = std::nullopt;
    draft_.clear();
    return out;
}

}  // namespace centaur::cli
