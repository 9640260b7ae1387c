#pragma once
// Server-sent-events frame encoding. Beast-free, private to http/; pure functions.

#include <chrono>
#include <string>
#include <string_view>

namespace centaur::http {

/// `id: <id>\nevent: <type>\ndata: <line>\n…\n`. No `id:` line when `id` is empty, no `event:` line when `type`
/// is empty. `data` is split on "\r\n", "\r" and "\n" into one `data:` line each; CR and LF are dropped from
/// `id` and `type` so they cannot break the framing.
std::string format_event(std::string_view id, std::string_view type, std::string_view data);

/// Appends the `format_event` frame to `out` (no allocation when `out` has room for the frame).
void append_event(std::string& out, std::string_view id, std::string_view type, std::string_view data);

/// Bytes a frame adds to its id, type and data when data is one line: "id: \nevent: \ndata: \n\n".
inline constexpr std::size_t event_overhead_bytes = 21;

/// `: <line>\n` per line of `text`, then `\n`.
std::string format_comment(std::string_view text);

/// `retry: <milliseconds>\n\n`.
std::string format_retry(std::chrono::milliseconds delay);

}  // namespace centaur::http
