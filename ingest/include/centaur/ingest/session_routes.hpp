#pragma once
// The session API (upstream's shapes and status codes): create-or-get, context, messages, execute, interrupt.
// Every write is validated first (a bad request changes nothing), appended to the event log, acknowledged only
// once durable, and answered from deterministic ids plus a bounded wait for the projection (read-your-writes).

#include <centaur/core/event_log.hpp>
#include <centaur/core/readiness.hpp>
#include <centaur/core/session_store.hpp>
#include <centaur/http/types.hpp>
#include <centaur/ingest/auth.hpp>
#include <centaur/ingest/rate_limit.hpp>

#include <chrono>
#include <vector>

namespace centaur::ingest {

struct SessionRoutesOptions {
    std::chrono::milliseconds projection_wait{10'000};  ///< read-your-writes bound
    std::uint64_t default_max_duration_ms = 0;           ///< SESSION_EXECUTION_MAX_DURATION_MS (0 = unbounded)
};

/// The session routes. `log` and `store` outlive the server that serves them.
std::vector<http::Route> session_routes(EventLog& log, SessionStore& store, SessionRoutesOptions options);

/// `GET /healthz` and `GET /readyz` (503 with the component report until every component is ready).
std::vector<http::Route> health_routes(const Readiness& readiness);

/// The guard every route passes: authentication, then readiness (protected routes answer 503 until serving()), then
/// the caller's write rate (sessions_write routes; 429 with Retry-After) when `limiter` is given. `limiter` must
/// outlive the server.
http::Guard make_guard(const Authenticator& auth, const Readiness& readiness, RateLimiter* limiter = nullptr);

}  // namespace centaur::ingest
