#include <centaur/ingest/auth.hpp>
#include <centaur/ingest/rate_limit.hpp>

#include <algorithm>
#include <cmath>

namespace centaur::ingest {
namespace {
/// Buckets kept before full, idle ones are dropped (JWT subjects are unbounded).
constexpr std::size_t max_buckets = 10'000;
constexpr auto streams_retry_after = std::chrono::seconds(1);

/// Runs `stream`, holding `lease` until it returns (parameters by value: they live in the coroutine frame).
boost::asio::awaitable<void> run_leased(std::function<boost::asio::awaitable<void>(http::SseStream&)> stream,
                                        [[maybe_unused]] RateLimiter::StreamLease lease, http::SseStream& sse) {
    co_await stream(sse);
}
}  // namespace

RateLimitProbe::RateLimitProbe(prometheus::Registry& registry)
    : rate_limited_total(prometheus::BuildCounter()
                             .Name("centaur_api_rate_limited_total")
                             .Help("API requests answered 429 by a per-caller limit")
                             .Register(registry)) {}

RateLimiter::RateLimiter(RateLimitOptions options, RateLimitProbe* probe, std::function<Clock::time_point()> clock)
    : options_(options), probe_(probe), clock_(std::move(clock)) {
    if (options_.burst < 1) options_.burst = std::max(1.0, options_.events_per_sec);
}

std::optional<std::chrono::seconds> RateLimiter::acquire(const std::string& caller) {
    if (options_.events_per_sec <= 0) return std::nullopt;
    const auto now = clock_();
    std::lock_guard lock(mutex_);
    auto it = buckets_.find(caller);
    if (it == buckets_.end()) {
        if (buckets_.size() >= max_buckets) prune(now);
        it = buckets_.emplace(caller, Bucket{options_.burst, now}).first;
    }
    auto& b = it->second;
    const double elapsed = std::chrono::duration<double>(now - b.last).count();
    b.tokens = std::min(options_.burst, b.tokens + std::max(0.0, elapsed) * options_.events_per_sec);
    b.last = now;
    if (b.tokens >= 1) {
        b.tokens -= 1;
        return std::nullopt;
    }
    if (probe_) probe_->rate_limited_total.Add({{"limit", "events"}}).Increment();
    const double wait = (1 - b.tokens) / options_.events_per_sec;
    return std::chrono::seconds(std::max<std::int64_t>(1, static_cast<std::int64_t>(std::ceil(wait))));
}

void RateLimiter::prune(Clock::time_point now) {
    for (auto it = buckets_.begin(); it != buckets_.end();) {
        const double elapsed = std::chrono::duration<double>(now - it->second.last).count();
        if (it->second.tokens + elapsed * options_.events_per_sec >= options_.burst) it = buckets_.erase(it);
        else ++it;
    }
}

RateLimiter::StreamLease RateLimiter::attach_stream(const std::string& caller) {
    std::lock_guard lock(mutex_);
    auto& n = streams_[caller];
    if (options_.max_streams_per_caller != 0 && n >= options_.max_streams_per_caller) {
        if (n == 0) streams_.erase(caller);
        if (probe_) probe_->rate_limited_total.Add({{"limit", "streams"}}).Increment();
        return nullptr;
    }
    ++n;
    return StreamLease(static_cast<void*>(this), [this, caller](void*) {
        std::lock_guard release(mutex_);
        auto it = streams_.find(caller);
        if (it != streams_.end() && --it->second == 0) streams_.erase(it);
    });
}

std::size_t RateLimiter::streams(const std::string& caller) const {
    std::lock_guard lock(mutex_);
    auto it = streams_.find(caller);
    return it == streams_.end() ? 0 : it->second;
}

http::Response too_many_requests(std::string_view message, std::chrono::seconds retry_after) {
    auto response = http::error_response(429, message);
    response.headers.emplace_back("Retry-After", std::to_string(retry_after.count()));
    return response;
}

http::Route limit_streams(http::Route route, const Authenticator& auth, RateLimiter& limiter) {
    if (limiter.options().max_streams_per_caller == 0) return route;
    auto inner = std::move(route.handler);
    route.handler = [inner = std::move(inner), &auth, &limiter](
                        const http::Request& req, const http::PathParams& params) -> boost::asio::awaitable<http::Response> {
        auto lease = limiter.attach_stream(auth.caller_id(req, params));
        if (!lease) co_return too_many_requests("too many attached streams for this caller", streams_retry_after);
        auto response = co_await inner(req, params);
        if (response.stream) {
            auto stream = std::move(response.stream);
            response.stream = [stream = std::move(stream), lease = std::move(lease)](http::SseStream& sse) {
                return run_leased(stream, lease, sse);
            };
        }
        co_return response;
    };
    return route;
}

}  // namespace centaur::ingest
