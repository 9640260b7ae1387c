#pragma once
// Per-caller limits on the API: a token bucket on write routes and a cap on attached SSE streams. Callers are
// named by Authenticator::caller_id (key name, "jwt:<sub>", "open"). Both answer 429 with Retry-After.

#include <centaur/http/types.hpp>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/registry.h>

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

namespace centaur::ingest {

class Authenticator;

struct RateLimitOptions {
    double events_per_sec = 0;  ///< refill rate of each caller's bucket; 0 = no write limit
    double burst = 0;           ///< bucket size; below 1 it is taken as max(1, events_per_sec)
    std::size_t max_streams_per_caller = 0;  ///< attached SSE clients per caller; 0 = unbounded
};

/// `centaur_api_rate_limited_total{limit}` (limit: "events" or "streams"): requests answered 429.
class RateLimitProbe {
public:
    explicit RateLimitProbe(prometheus::Registry& registry);
    prometheus::Family<prometheus::Counter>& rate_limited_total;
};

/// Token buckets per caller plus stream counts. Thread-safe (one mutex). Owned by the app, outlives the server.
class RateLimiter {
public:
    using Clock = std::chrono::steady_clock;

    RateLimiter(RateLimitOptions options, RateLimitProbe* probe,
                std::function<Clock::time_point()> clock = &Clock::now);

    /// Takes one token from `caller`'s bucket: nullopt when taken, else whole seconds (>= 1) until one is.
    std::optional<std::chrono::seconds> acquire(const std::string& caller);

    /// One attached stream of `caller`, released when the last copy is destroyed; empty when the cap is reached.
    using StreamLease = std::shared_ptr<void>;
    StreamLease attach_stream(const std::string& caller);
    std::size_t streams(const std::string& caller) const;

    const RateLimitOptions& options() const { return options_; }

private:
    struct Bucket {
        double tokens;
        Clock::time_point last;
    };
    void prune(Clock::time_point now);

    RateLimitOptions options_;
    RateLimitProbe* probe_;
    std::function<Clock::time_point()> clock_;
    mutable std::mutex mutex_;
    std::map<std::string, Bucket> buckets_;
    std::map<std::string, std::size_t> streams_;
};

/// 429 `{"ok":false,"error":message}` with `Retry-After: <seconds>`.
http::Response too_many_requests(std::string_view message, std::chrono::seconds retry_after);

/// Wraps the SSE route `route` so that each caller holds at most `max_streams_per_caller` attached streams
/// (429 beyond). `auth` and `limiter` must outlive the server.
http::Route limit_streams(http::Route route, const Authenticator& auth, RateLimiter& limiter);

}  // namespace centaur::ingest
