#include <centaur/projections/event_cursor.hpp>

#include <charconv>
#include <cstdint>

namespace centaur::projections {

std::optional<EventId> parse_event_id(std::string_view text) {
    // Digits only: from_chars alone would take "-0" as 0.
    if (text.empty() || text.front() < '0' || text.front() > '9') return std::nullopt;
    std::int64_t v = 0;
    const auto* end = text.data() + text.size();
    auto [p, ec] = std::from_chars(text.data(), end, v);
    if (text.empty() || ec != std::errc() || p != end || v < 0) return std::nullopt;
    return EventId(v);
}

StreamCursor stream_cursor(std::optional<std::string_view> after_event_id,
                           std::optional<std::string_view> last_event_id) {
    StreamCursor out;
    if (after_event_id) {
        auto id = parse_event_id(*after_event_id);
        if (!id) {
            out.error = "after_event_id must be a non-negative integer";
            return out;
        }
        out.after = *id;
    }
    if (last_event_id && !last_event_id->empty()) {
        auto id = parse_event_id(*last_event_id);
        if (!id) {
            out.error = "Last-Event-ID must be a non-negative integer";
            return out;
        }
        out.after = *id;
    }
    return out;
}

}  // namespace centaur::projections
