#include "sse_parser.hpp"

#include <charconv>

namespace centaur::cli {

void SseParser::feed(std::string_view bytes) {
    for (char c : bytes) {
        if (skip_lf_) {
            skip_lf_ = false;
            if (c == '\n') continue;
        }
        if (c == '\r' || c == '\n') {
            skip_lf_ = c == '\r';
            line(partial_);
            partial_.clear();
        } else {
            partial_.push_back(c);
        }
    }
}

void SseParser::line(std::string_view text) {
    if (text.empty()) {
        if (has_data_) on_event_(frame_);
        frame_ = SseEvent{};
        has_data_ = false;
        return;
    }
    if (text.front() == ':') return;
    std::string_view field = text, value;
    if (auto colon = text.find(':'); colon != std::string_view::npos) {
        field = text.substr(0, colon);
        value = text.substr(colon + 1);
        if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    }
    if (field == "data") {
        if (has_data_) frame_.data.push_back('\n');
        frame_.data.append(value);
        has_data_ = true;
    } else if (field == "event") {
        frame_.event = value.empty() ? "message" : std::string(value);
    } else if (field == "id") {
        if (value.find('\0') == std::string_view::npos) frame_.id = std::string(value);
    } else if (field == "retry") {
        // WHATWG: only a value of ASCII digits sets the reconnection time (from_chars alone takes "-5").
        long ms = 0;
        auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), ms);
        if (!value.empty() && value.front() >= '0' && value.front() <= '9' && ec == std::errc{} &&
            end == value.data() + value.size())
            retry_ms_ = ms;
    }
}

}  // namespace centaur::cli
