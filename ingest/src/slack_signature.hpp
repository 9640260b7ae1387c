#pragma once
// Slack request signing (v0): `X-Slack-Signature: v0=<hex HMAC-SHA256(signing secret, "v0:<timestamp>:<raw body>")>`
// with `X-Slack-Request-Timestamp` at most five minutes away from now. Checked on the raw bytes, before any
// parsing. Pure functions; thread-safe.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace centaur::ingest {

/// Slack's replay window: a timestamp further than this from now (either way) is refused.
inline constexpr std::int64_t slack_timestamp_window_seconds = 5 * 60;

enum class SlackSignatureCheck {
    ok,
    missing,        ///< no signature or no timestamp header
    bad_timestamp,  ///< timestamp is not a decimal number of seconds
    stale,          ///< timestamp outside the window
    mismatch,       ///< signature malformed or not the expected one
};

/// What the check says to the caller (the 401 body), never the expected value.
std::string_view to_string(SlackSignatureCheck check);

/// `v0=` + lowercase hex HMAC-SHA256 of `v0:<timestamp>:<body>` keyed with `secret`.
std::string slack_signature(std::string_view secret, std::string_view timestamp, std::string_view body);

/// Verifies a request: headers present, timestamp within `window_seconds` of `now_seconds`, signature equal to
/// the expected one (constant-time comparison).
SlackSignatureCheck verify_slack_signature(std::string_view secret, std::optional<std::string_view> timestamp,
                                           std::optional<std::string_view> signature, std::string_view body,
                                           std::int64_t now_seconds,
                                           std::int64_t window_seconds = slack_timestamp_window_seconds);

}  // namespace centaur::ingest
