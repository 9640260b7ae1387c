#include <centaur/ingest/auth.hpp>
#include <centaur/ingest/stream_tokens.hpp>

#include <gtest/gtest.h>

namespace centaur::ingest {
namespace {

using namespace std::chrono_literals;
const auto t0 = StreamTokens::Clock::time_point(std::chrono::seconds(1'800'000'000));

TEST(StreamTokens, BoundToThreadSecretAndLifetime) {
    StreamTokens tokens("secret-a", 60s);
    const auto token = tokens.mint("slack:C1:1.2", t0);
    EXPECT_EQ(token.rfind("v1.1800000060.", 0), 0u) << token;
    EXPECT_TRUE(tokens.verify(token, "slack:C1:1.2", t0));
    EXPECT_TRUE(tokens.verify(token, "slack:C1:1.2", t0 + 59s));
    EXPECT_FALSE(tokens.verify(token, "slack:C1:1.2", t0 + 60s));
    EXPECT_FALSE(tokens.verify(token, "slack:C1:9.9", t0));
    EXPECT_FALSE(StreamTokens("secret-b", 60s).verify(token, "slack:C1:1.2", t0));
    EXPECT_TRUE(StreamTokens("secret-a", 5s).verify(token, "slack:C1:1.2", t0)) << "a shared secret verifies anywhere";
}

TEST(StreamTokens, TamperedOrMalformedTokensFail) {
    StreamTokens tokens("secret", 60s);
    auto token = tokens.mint("cli:k", t0);
    auto later = token;
    later.replace(3, 10, "1900000000");  // a forged later expiry
    EXPECT_FALSE(tokens.verify(later, "cli:k", t0));
    auto flipped = token;
    flipped.back() = flipped.back() == '0' ? '1' : '0';
    EXPECT_FALSE(tokens.verify(flipped, "cli:k", t0));
    for (const char* bad : {"", "v1.", "v1..", "v2.1800000060.00", "v1.x.00", "v1.1800000060", "v1.-5.ab"})
        EXPECT_FALSE(tokens.verify(bad, "cli:k", t0)) << bad;
    EXPECT_NE(StreamTokens("", 60s).mint("cli:k", t0), StreamTokens("", 60s).mint("cli:k", t0))
        << "an empty secret draws a random one";
}

TEST(StreamTokens, AuthenticatorAcceptsATokenOnlyOnTheEventsStream) {
    std::string error;
    auto auth = Authenticator::from_keys({{"CENTAUR_APIRS_ADMIN_API_KEY", "admin"}}, &error);
    ASSERT_TRUE(auth) << error;
    StreamTokens tokens("s", 60s);
    auth->accept_stream_tokens(&tokens);
    const http::Route events{"GET", "/api/session/{thread_key}/events", http::Capability::sessions_read, {}};
    const http::Route create{"POST", "/api/session/{thread_key}", http::Capability::sessions_write, {}};
    const http::PathParams params{{"thread_key", "cli:k"}};
    http::Request req;
    req.query["token"] = tokens.mint("cli:k", StreamTokens::Clock::now());
    EXPECT_FALSE(auth->check(req, events, params));
    auto elsewhere = auth->check(req, create, params);
    ASSERT_TRUE(elsewhere);
    EXPECT_EQ(elsewhere->status, 401u);
    auto other_thread = auth->check(req, events, {{"thread_key", "cli:other"}});
    ASSERT_TRUE(other_thread);
    EXPECT_EQ(other_thread->status, 401u);
    req.query["token"] = "v1.1.00";
    auto expired = auth->check(req, events, params);
    ASSERT_TRUE(expired);
    EXPECT_EQ(expired->status, 401u);
}

}  // namespace
}  // namespace centaur::ingest
