#pragma once
// The start cursor of `GET /api/session/{thread_key}/events`, from the request alone (no I/O). Pure; thread-safe.

#include <centaur/schemas/ids.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace centaur::projections {

/// A non-negative decimal event id (digits only, fits in int64); nullopt on anything else.
std::optional<EventId> parse_event_id(std::string_view text);

/// The cursor a stream starts after, or the 400 message when it is malformed.
struct StreamCursor {
    EventId after{0};
    std::optional<std::string> error;
};

/// `last_event_id` (the header; an empty one is ignored) wins over `after_event_id` (the query); neither means 0.
/// A malformed value given is an error even when the other one would win.
StreamCursor stream_cursor(std::optional<std::string_view> after_event_id,
                           std::optional<std::string_view> last_event_id);

}  // namespace centaur::projections
