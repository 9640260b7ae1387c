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

/// `: <line>\n` per line of `text`, then `\n`.
std::string format_comment(std::string_view text);

/// `retry: <milliseconds>\n\n`.
std::string format_retry(std::chrono::milliseconds delay);

}  // namespace centaur::http
