#include "sse_format.hpp"

namespace centaur::http {
namespace {

/// Calls `emit` with each line of `text`; "\r\n", "\r" and "\n" all end a line. Empty text is one empty line.
template <typename Emit>
void for_each_line(std::string_view text, Emit emit) {
    std::size_t start = 0;
    for (;;) {
        const auto brk = text.find_first_of("\r\n", start);
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
    for (char c : value)
        if (c != '\r' && c != '\n') out += c;
    out += '\n';
}

}  // namespace

std::string format_event(std::string_view id, std::string_view type, std::string_view data) {
    std::string out;
    out.reserve(id.size() + type.size() + data.size() + 32);
    if (!id.empty()) append_field(out, "id", id);
    if (!type.empty()) append_field(out, "event", type);
    for_each_line(data, [&out](std::string_view line) {
        out += "data: ";
        out += line;
        out += '\n';
    });
    out += '\n';
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
