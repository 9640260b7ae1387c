#pragma once
// The runner protocol (HTTP/1.1, JSON bodies, `Authorization: Bearer <SESSION_SANDBOX_RUNNER_TOKEN>`) spoken
// between RemoteSandboxBackend and `centaur-sandbox-runner serve`. The folder README documents it; both ends
// take their paths, event names and line escaping from here.

#include <centaur/core/sandbox.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace centaur::sandbox::runner_protocol {

inline constexpr std::string_view health_path = "/v1/health";
inline constexpr std::string_view sandboxes_path = "/v1/sandboxes";
/// Stops the runner's warm sandboxes (they hold no thread); answers {"sandbox_ids":[…]}.
inline constexpr std::string_view drain_idle_path = "/v1/drain_idle";

/// SSE event types of `GET /v1/sandboxes/{id}/stdout`: one `line` per stdout line (`id:` its sequence number,
/// data escaped), `eof` once stdout closed, then `exit` (data `{"status","termination_reason"}`) once the
/// process ended; the stream ends after `exit`.
inline constexpr std::string_view line_event = "line";
inline constexpr std::string_view eof_event = "eof";
inline constexpr std::string_view exit_event = "exit";

/// SSE data cannot carry '\r' (a line break there): lines travel with '\\' → "\\\\" and '\r' → "\\r".
inline std::string escape_line(std::string_view line) {
    if (line.find_first_of("\\\r") == std::string_view::npos) return std::string(line);
    std::string out;
    out.reserve(line.size() + 8);
    for (char c : line) {
        if (c == '\\') {
            out += "\\\\";
        } else if (c == '\r') {
            out += "\\r";
        } else {
            out += c;
        }
    }
    return out;
}

inline std::string unescape_line(std::string_view data) {
    if (data.find('\\') == std::string_view::npos) return std::string(data);
    std::string out;
    out.reserve(data.size());
    for (std::size_t i = 0; i < data.size(); ++i) {
        if (data[i] == '\\' && i + 1 < data.size()) {
            ++i;
            out += data[i] == 'r' ? '\r' : data[i];
        } else {
            out += data[i];
        }
    }
    return out;
}

inline std::optional<SandboxStatus> status_from_string(std::string_view s) {
    for (auto status : {SandboxStatus::created, SandboxStatus::running, SandboxStatus::suspended,
                        SandboxStatus::stopped, SandboxStatus::gone})
        if (to_string(status) == s) return status;
    return std::nullopt;
}

}  // namespace centaur::sandbox::runner_protocol
