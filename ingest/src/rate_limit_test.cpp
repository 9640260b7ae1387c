#include <centaur/ingest/rate_limit.hpp>

#include <gtest/gtest.h>

namespace centaur::ingest {
namespace {

using namespace std::chrono_literals;

struct FakeClock {
    RateLimiter::Clock::time_point now{};
    std::function<RateLimiter::Clock::time_point()> fn() {
        return [this] { return now; };
    }
};

TEST(RateLimiter, BurstThenRefillAtTheRate) {
    prometheus::Registry registry;
    RateLimitProbe probe(registry);
    FakeClock clock;
    RateLimiter limiter({2, 3, 0}, &probe, clock.fn());
    for (int i = 0; i < 3; ++i) EXPECT_FALSE(limiter.acquire("k")) << "burst token " << i;
    auto retry = limiter.acquire("k");
    ASSERT_TRUE(retry);
    EXPECT_EQ(*retry, 1s);
    EXPECT_FALSE(limiter.acquire("other")) << "buckets are per caller";
    clock.now += 500ms;  // one token at 2/s
    EXPECT_FALSE(limiter.acquire("k"));
    EXPECT_TRUE(limiter.acquire("k"));
    clock.now += 10s;  // refill is capped at the burst
    for (int i = 0; i < 3; ++i) EXPECT_FALSE(limiter.acquire("k"));
    EXPECT_TRUE(limiter.acquire("k"));
    EXPECT_EQ(probe.rate_limited_total.Add({{"limit", "events"}}).Value(), 3);
}

TEST(RateLimiter, RetryAfterCoversTheWholeWait) {
    FakeClock clock;
    RateLimiter limiter({0.1, 1, 0}, nullptr, clock.fn());
    EXPECT_FALSE(limiter.acquire("k"));
    auto retry = limiter.acquire("k");
    ASSERT_TRUE(retry);
    EXPECT_EQ(*retry, 10s);
    clock.now += 9s;
    retry = limiter.acquire("k");
    ASSERT_TRUE(retry);
    EXPECT_EQ(*retry, 1s);
    clock.now += 1s;
    EXPECT_FALSE(limiter.acquire("k"));
}

TEST(RateLimiter, OffByDefault) {
    RateLimiter limiter({}, nullptr);
    for (int i = 0; i < 1000; ++i) ASSERT_FALSE(limiter.acquire("k"));
    std::vector<RateLimiter::StreamLease> leases;
    for (int i = 0; i < 100; ++i) leases.push_back(limiter.attach_stream("k"));
    for (const auto& lease : leases) ASSERT_TRUE(lease);
}

TEST(RateLimiter, StreamCapPerCallerReleasedWithTheLease) {
    prometheus::Registry registry;
    RateLimitProbe probe(registry);
    RateLimiter limiter({0, 0, 2}, &probe);
    auto a = limiter.attach_stream("k");
    auto b = limiter.attach_stream("k");
    ASSERT_TRUE(a);
    ASSERT_TRUE(b);
    EXPECT_FALSE(limiter.attach_stream("k"));
    EXPECT_TRUE(limiter.attach_stream("other"));
    EXPECT_EQ(limiter.streams("k"), 2u);
    a.reset();
    EXPECT_EQ(limiter.streams("k"), 1u);
    EXPECT_TRUE(limiter.attach_stream("k"));
    EXPECT_EQ(limiter.streams("k"), 1u) << "a lease dropped at once releases its slot";
    EXPECT_EQ(probe.rate_limited_total.Add({{"limit", "streams"}}).Value(), 1);
}

TEST(RateLimiter, TooManyRequestsCarriesRetryAfter) {
    auto r = too_many_requests("rate limit exceeded for this caller", 7s);
    EXPECT_EQ(r.status, 429u);
    EXPECT_EQ(r.body, R"({"ok":false,"error":"rate limit exceeded for this caller"})");
    ASSERT_EQ(r.headers.size(), 1u);
    EXPECT_EQ(r.headers[0], (std::pair<std::string, std::string>{"Retry-After", "7"}));
}

}  // namespace
}  // namespace centaur::ingest
