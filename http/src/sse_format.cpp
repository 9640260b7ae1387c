#include "sse_format.hpp"

#include <algorithm>
#include <cstring>

namespace centaur::http {
namespace {

/// The line breaks of one text in increasing order. Keeps the next position of each of '\r' and '\n' (npos when
/// there is none), so the text is scanned by one memchr per line break, not one per byte.
class LineBreaks {
public:
    explicit LineBreaks(std::string_view text) : text_(text), cr_(find('\r', 0)), lf_(find('\n', 0)) {}

    /// Position of the first '\r' or '\n' at or after `from` (never less than a previous `from`), or npos.
    std::size_t next(std::size_t from) {
        if (cr_ < from) cr_ = find('\r', from);
        if (lf_ < from) lf_ = find('\n', from);
        return std::min(cr_, lf_);
    }

private:
    std::size_t find(char c, std::size_t from) const {
        if (from >= text_.size()) return std::string_view::npos;
        const void* hit = std::memchr(text_.data() + from, c, text_.size() - from);
        return hit ? static_cast<std::size_t>(static_cast<const char*>(hit) - text_.data()) : std::string_view::npos;
    }

    std::string_view text_;
    std::size_t cr_;
    std::size_t lf_;
};

/// Calls `emit` with each line of `text`; "\r\n", "\r" and "\n" all end a line. Empty text is one empty line.
template <typename Emit>
void for_each_line(std::string_view text, Emit emit) {
    LineBreaks breaks(text);
    std::size_t start = 0;
    for (;;) {
        const auto brk = breaks.next(start);
        if (brk == std::string_view::npos) {
            emit(text.substr(start));
            return;
        }
        emit(text.substr(start, brk - start));
        start = brk + 1;
        if (text[brk] == '\r' && start < text.size() && text[start] == '\n') ++start;
    }
}

void append_field(std::string& out, std::string_view name, std::string_view value) {
    out += name;
    out += ": ";
    for_each_line(value, [&out](std::string_view part) { out += part; });
    out += '\n';
}

}  // namespace

void append_event(std::string& out, std::string_view id, std::string_view type, std::string_view data) {
    if (!id.empty()) append_field(out, "id", id);
    if (!type.empty()) append_field(out, "event", type);
    for_each_line(data, [&out](std::string_view line) {
        out += "data: ";
        out += line;
        out += '\n';
    });
    out += '\n';
}

std::string format_event(std::string_view id, std::string_view type, std::string_view data) {
    std::string out;
    out.reserve(id.size() + type.size() + data.size() + event_overhead_bytes);
    append_event(out, id, type, data);
    return out;
}

std::string format_comment(std::string_view text) {
    std::string out;
    for_each_line(text, [&out](std::string_view line) {
        out += ": ";
        out += line;
        out += '\n';
    });
    out += '\n';
    return out;
}

std::string format_retry(std::chrono::milliseconds delay) {
    return "retry: " + std::to_string(delay.count()) + "\n\n";
}

}  // namespace centaur::http
