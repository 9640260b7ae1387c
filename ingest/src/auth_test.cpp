#include <centaur/ingest/auth.hpp>

#include <gtest/gtest.h>

namespace centaur::ingest {
namespace {

http::Route route(http::Capability c, std::string path = "/api/session/{thread_key}") {
    return http::Route{"POST", std::move(path), c, {}};
}

http::Request with_token(std::string token) {
    http::Request req;
    req.headers["authorization"] = "Bearer " + token;
    return req;
}

TEST(Authenticator, OpenWhenNoKeyIsConfigured) {
    std::string error;
    auto auth = Authenticator::from_keys({{"SLACKBOT_API_KEY", ""}}, &error);
    ASSERT_TRUE(auth);
    EXPECT_TRUE(auth->open());
    EXPECT_FALSE(auth->check(http::Request{}, route(http::Capability::sessions_write), {}));
}

TEST(Authenticator, AdminAndIngressScopes) {
    std::string error;
    auto auth = Authenticator::from_keys({{"CENTAUR_APIRS_ADMIN_API_KEY", "admin-secret"}, {"SLACKBOT_API_KEY", "slack-secret"}}, &error);
    ASSERT_TRUE(auth) << error;
    const http::PathParams slack{{"thread_key", "slack:C1:1.2"}};
    const http::PathParams cli{{"thread_key", "cli:abc"}};
    EXPECT_FALSE(auth->check(with_token("admin-secret"), route(http::Capability::sessions_write), cli));
    EXPECT_FALSE(auth->check(with_token("admin-secret"), route(http::Capability::sandboxes_drain, "/api/sandboxes/drain"), {}));
    EXPECT_FALSE(auth->check(with_token("slack-secret"), route(http::Capability::sessions_write), slack));
    auto outside = auth->check(with_token("slack-secret"), route(http::Capability::sessions_write), cli);
    ASSERT_TRUE(outside);
    EXPECT_EQ(outside->status, 403u);
    auto drain = auth->check(with_token("slack-secret"), route(http::Capability::sandboxes_drain, "/api/sandboxes/drain"), {});
    ASSERT_TRUE(drain);
    EXPECT_EQ(drain->status, 403u);
    auto wrong = auth->check(with_token("nope"), route(http::Capability::sessions_read), slack);
    ASSERT_TRUE(wrong);
    EXPECT_EQ(wrong->status, 401u);
    EXPECT_EQ(wrong->body, R"({"ok":false,"error":"invalid bearer token"})");
    auto missing = auth->check(http::Request{}, route(http::Capability::sessions_read), slack);
    ASSERT_TRUE(missing);
    EXPECT_EQ(missing->status, 401u);
    EXPECT_FALSE(auth->check(http::Request{}, route(http::Capability::none, "/healthz"), {})) << "public routes stay open";
}

TEST(Authenticator, DuplicateKeysAreAStartUpError) {
    std::string error;
    auto auth = Authenticator::from_keys({{"CENTAUR_APIRS_ADMIN_API_KEY", "same"}, {"SLACKBOT_API_KEY", "same"}}, &error);
    EXPECT_FALSE(auth);
    EXPECT_EQ(error, "CENTAUR_APIRS_ADMIN_API_KEY and SLACKBOT_API_KEY hold the same key");
}

}  // namespace
}  // namespace centaur::ingest
