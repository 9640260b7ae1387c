#pragma once
// Event type names on the log and in the SSE stream. Upstream's `session.*` runtime types plus the input
// events our ingest appends (upstream wrote those straight to tables; here they are events too).

#include <string_view>

namespace centaur::event_type {

// Inputs, appended by ingest (HTTP API, Slack).
inline constexpr std::string_view session_created = "session.created";
inline constexpr std::string_view message_appended = "session.message_appended";
inline constexpr std::string_view execution_requested = "session.execution_requested";
inline constexpr std::string_view interrupt_requested = "session.interrupt_requested";

// Runtime facts, appended by the processor (upstream's names and payload keys).
inline constexpr std::string_view execution_started = "session.execution_started";
inline constexpr std::string_view sandbox_queued = "session.sandbox_queued";  ///< create waits on the running limit
inline constexpr std::string_view sandbox_ready = "session.sandbox_ready";
inline constexpr std::string_view sandbox_resumed = "session.sandbox_resumed";
inline constexpr std::string_view sandbox_resume_failed = "session.sandbox_resume_failed";
inline constexpr std::string_view sandbox_paused = "session.sandbox_paused";
inline constexpr std::string_view sandbox_pause_failed = "session.sandbox_pause_failed";
inline constexpr std::string_view sandbox_stopped = "session.sandbox_stopped";
inline constexpr std::string_view output_line = "session.output.line";
inline constexpr std::string_view first_token = "session.first_token";
inline constexpr std::string_view execution_completed = "session.execution_completed";
inline constexpr std::string_view execution_failed = "session.execution_failed";
inline constexpr std::string_view execution_cancelled = "session.execution_cancelled";
inline constexpr std::string_view steering_delivered = "session.steering_delivered";
inline constexpr std::string_view steering_failed = "session.steering_failed";
inline constexpr std::string_view interrupt_delivered = "session.interrupt_delivered";
inline constexpr std::string_view harness_switched = "session.harness_switched";
inline constexpr std::string_view stdout_eof = "session.stdout_eof";

// SSE only, never persisted.
inline constexpr std::string_view stream_error = "session.stream_error";

/// Completed, failed or cancelled: exactly one of these ends every execution.
constexpr bool is_terminal(std::string_view type) {
    return type == execution_completed || type == execution_failed || type == execution_cancelled;
}

}  // namespace centaur::event_type
