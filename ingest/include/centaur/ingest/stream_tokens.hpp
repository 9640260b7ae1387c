#pragma once
// Short-lived, thread-scoped read tokens for clients that cannot send an Authorization header (a browser's
// EventSource): `POST /api/session/{thread_key}/events/token` (bearer auth, sessions:read) mints one, and
// `GET /api/session/{thread_key}/events?token=…` accepts it in place of the bearer header.

#include <centaur/http/types.hpp>

#include <chrono>
#include <string>
#include <string_view>

namespace centaur::ingest {

/// Token format `v1.<expiry unix seconds>.<64 hex HMAC-SHA256(secret, "v1|<expiry>|<thread key>")>`: bound to
/// one thread key, valid until its expiry, verifiable by every process that shares the secret
/// (CENTAUR_STREAM_TOKEN_SECRET; without it each process draws a random one, so tokens work only there).
/// Immutable after construction; thread-safe.
class StreamTokens {
public:
    using Clock = std::chrono::system_clock;

    /// An empty `secret` draws 32 random bytes. `ttl` is the lifetime of minted tokens.
    StreamTokens(std::string secret, std::chrono::seconds ttl);

    std::string mint(std::string_view thread_key, Clock::time_point now) const;
    /// True when `token` was minted by this secret for `thread_key` and has not expired at `now`.
    bool verify(std::string_view token, std::string_view thread_key, Clock::time_point now) const;
    std::chrono::seconds ttl() const { return ttl_; }

private:
    std::string sign(std::string_view expiry, std::string_view thread_key) const;

    std::string secret_;
    std::chrono::seconds ttl_;
};

/// `POST /api/session/{thread_key}/events/token` → `{"ok":true,"token","expires_at","events_url"}` where
/// events_url is the path (with the token) an EventSource opens. `tokens` must outlive the routes.
http::Route stream_token_route(const StreamTokens& tokens);

}  // namespace centaur::ingest
