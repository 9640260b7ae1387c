#include <centaur/slack/web_api_client.hpp>

#include <gtest/gtest.h>

namespace centaur::slack {
namespace {

TEST(SlackBaseUrl, SchemeChoosesTlsAndDefaultPort) {
    auto https = BaseUrl::parse("https://slack.com/api/", nullptr);
    ASSERT_TRUE(https);
    EXPECT_TRUE(https->tls);
    EXPECT_EQ(https->host, "slack.com");
    EXPECT_EQ(https->port, "443");
    EXPECT_EQ(https->path, "/api/");
    auto http = BaseUrl::parse("http://127.0.0.1:9999/api", nullptr);
    ASSERT_TRUE(http);
    EXPECT_FALSE(http->tls);
    EXPECT_EQ(http->port, "9999");
    EXPECT_EQ(http->path, "/api/");
    auto bare = BaseUrl::parse("http://localhost", nullptr);
    ASSERT_TRUE(bare);
    EXPECT_EQ(bare->path, "/");
    EXPECT_EQ(bare->port, "80");
}

TEST(SlackBaseUrl, RefusesOtherSchemesBadPortsAndNoHost) {
    std::string error;
    EXPECT_FALSE(BaseUrl::parse("ftp://x/", &error));
    EXPECT_NE(error.find("http"), std::string::npos);
    EXPECT_FALSE(BaseUrl::parse("http://x:0/", &error));
    EXPECT_FALSE(BaseUrl::parse("http://x:70000/", &error));
    EXPECT_FALSE(BaseUrl::parse("https:///api", &error));
}

TEST(SlackFormBody, ReadMethodsAreFormEncoded) {
    EXPECT_TRUE(takes_form_body("conversations.replies"));
    EXPECT_FALSE(takes_form_body("chat.postMessage"));
    const boost::json::object args{{"channel", "C1"}, {"ts", "1.5"}, {"include_all_metadata", true},
                                   {"limit", 1000}, {"cursor", "a b&c=d/é"}};
    EXPECT_EQ(form_encode(args),
              "channel=C1&ts=1.5&include_all_metadata=true&limit=1000&cursor=a%20b%26c%3Dd%2F%C3%A9");
}

}  // namespace
}  // namespace centaur::slack
