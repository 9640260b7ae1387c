#include <centaur/schemas/ids.hpp>
#include <centaur/schemas/partitioner.hpp>
#include <centaur/schemas/thread_key.hpp>

#include <gtest/gtest.h>

namespace centaur {
namespace {

TEST(ThreadKey, AcceptsUpstreamFamilies) {
    for (const char* key : {"slack:C123:1712345678.000100", "cli:0123456789abcdef0123456789abcdef",
                            "github:owner/repo:42", "linear:ISS-1:c:abc", "a:b"}) {
        EXPECT_TRUE(ThreadKey::parse(key).has_value()) << key;
    }
}

TEST(ThreadKey, RejectsWhatUpstreamRejects) {
    std::string why;
    EXPECT_FALSE(ThreadKey::parse("", &why));
    EXPECT_EQ(why, "thread key must not be empty");
    EXPECT_FALSE(ThreadKey::parse("nocolon", &why));
    EXPECT_FALSE(ThreadKey::parse(":rest", &why));
    EXPECT_EQ(why, "thread key namespace must not be empty");
    EXPECT_FALSE(ThreadKey::parse("ns:", &why));
    EXPECT_FALSE(ThreadKey::parse("{\"a\":1}", &why));
    EXPECT_FALSE(ThreadKey::parse("[x:y", &why));
    EXPECT_FALSE(ThreadKey::parse("a:b\nc", &why));
    EXPECT_EQ(why, "thread key must not contain control characters");
    EXPECT_FALSE(ThreadKey::parse(std::string("a:b\x7f", 4), &why));
    EXPECT_TRUE(ThreadKey::parse("a:" + std::string(510, 'x')));
    EXPECT_FALSE(ThreadKey::parse("a:" + std::string(511, 'x'), &why));
    EXPECT_EQ(why, "thread key must be at most 512 bytes");
}

TEST(ThreadKey, NewCliKeyIsCliPlus32Hex) {
    const auto key = ThreadKey::new_cli_key();
    EXPECT_EQ(key.ns(), "cli");
    ASSERT_EQ(key.str().size(), 4u + 32u);
    EXPECT_EQ(key.str().find_first_not_of("0123456789abcdef", 4), std::string::npos);
    EXPECT_NE(key, ThreadKey::new_cli_key());
}

TEST(EventUuid, DerivedIsDeterministicAndRoundTrips) {
    const auto a = EventUuid::derived("thread/x/execute/k1");
    EXPECT_EQ(a, EventUuid::derived("thread/x/execute/k1"));
    EXPECT_NE(a, EventUuid::derived("thread/x/execute/k2"));
    EventUuid back;
    ASSERT_TRUE(EventUuid::parse(a.hex(), back));
    EXPECT_EQ(a, back);
    ASSERT_TRUE(EventUuid::parse(a.canonical(), back));
    EXPECT_EQ(a, back);
    EXPECT_FALSE(EventUuid::parse("xyz", back));
    EXPECT_FALSE(EventUuid::parse(std::string(32, 'g'), back));
    EXPECT_EQ(execution_id_from(a).rfind("exe_", 0), 0u);
}

// Vectors from Kafka's own Utils test: the Java client and we must agree on every thread's partition.
TEST(Partitioner, MatchesKafkaMurmur2) {
    EXPECT_EQ(kafka_murmur2("21"), -973932308);
    EXPECT_EQ(kafka_murmur2("foobar"), -790332482);
    EXPECT_EQ(kafka_murmur2("a-little-bit-long-string"), -985981536);
    EXPECT_EQ(kafka_murmur2("a-little-bit-longer-string"), -1486304829);
    EXPECT_EQ(kafka_murmur2("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8"), -58897971);
    EXPECT_EQ(kafka_murmur2("abc"), 479470107);
    for (int i = 0; i < 100; ++i) {
        const auto p = partition_for_key("cli:" + std::to_string(i), 7);
        EXPECT_GE(p, 0);
        EXPECT_LT(p, 7);
    }
}

}  // namespace
}  // namespace centaur
