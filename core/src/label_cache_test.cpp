#include <centaur/core/label_cache.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

namespace centaur {
namespace {

TEST(LabelCache, ResolvesEachLabelSetOnce) {
    LabelCache<int, 2> cache;
    int made = 0;
    const auto make = [&] { return ++made; };
    EXPECT_EQ(cache.get({"session.created", "ingest"}, make), 1);
    EXPECT_EQ(cache.get({"session.created", "processor"}, make), 2);
    const std::string type = "session.created";  // another buffer, same value
    EXPECT_EQ(cache.get({type, "ingest"}, make), 1);
    EXPECT_EQ(cache.get({"session.created", "processor"}, make), 2);
    EXPECT_EQ(made, 2);
    EXPECT_EQ(cache.size(), 2u);
}

TEST(LabelCache, ValuesAreNotJoinedIntoOneKey) {
    LabelCache<int, 2> cache;
    int made = 0;
    const auto make = [&] { return ++made; };
    EXPECT_EQ(cache.get({"ab", "c"}, make), 1);
    EXPECT_EQ(cache.get({"a", "bc"}, make), 2);
    EXPECT_EQ(cache.get({"ab", "c"}, make), 1);
}

TEST(LabelCache, StopsCachingAtCapacityAndStillAnswers) {
    constexpr std::size_t capacity = 8;
    LabelCache<int, 1> cache(capacity);
    int made = 0;
    const auto make = [&] { return ++made; };
    for (int i = 0; i < 100; ++i) {
        const std::string value = "type-" + std::to_string(i);
        cache.get({value}, make);
    }
    EXPECT_EQ(cache.size(), capacity);
    EXPECT_EQ(made, 100);
    // Cached sets still hit; a set beyond the capacity is made on every call.
    EXPECT_EQ(cache.get({"type-0"}, make), 1);
    EXPECT_EQ(cache.get({"type-99"}, make), 101);
    EXPECT_EQ(cache.get({"type-99"}, make), 102);
    EXPECT_EQ(cache.size(), capacity);
}

TEST(LabelCache, ConcurrentGetsAgreeAndMakeEachSetOnce) {
    constexpr int threads = 8;
    constexpr int sets = 50;
    constexpr int rounds = 200;
    LabelCache<int, 2> cache;
    std::atomic<int> made{0};
    std::atomic<int> wrong{0};
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t)
        workers.emplace_back([&] {
            for (int r = 0; r < rounds; ++r)
                for (int s = 0; s < sets; ++s) {
                    const std::string value = std::to_string(s);
                    const int got = cache.get({value, "x"}, [&] {
                        made.fetch_add(1);
                        return s;
                    });
                    if (got != s) wrong.fetch_add(1);
                }
        });
    for (auto& w : workers) w.join();
    EXPECT_EQ(wrong.load(), 0);
    EXPECT_EQ(made.load(), sets);
    EXPECT_EQ(cache.size(), static_cast<std::size_t>(sets));
}

}  // namespace
}  // namespace centaur
