// End-to-end: a browser's EventSource attaches to a thread on a server that requires an API key — CORS
// preflight and headers, a thread-scoped `?token=` minted with the bearer key, and its refusals.

#include <centaur/test_support/test_support.hpp>

#include <boost/json.hpp>
#include <gtest/gtest.h>

namespace centaur::e2e {
namespace {
namespace json = boost::json;
using namespace std::chrono_literals;
using test_support::ChildProcess;
using test_support::http_request;
using test_support::ServerProcess;
using test_support::TestDatabase;

const std::string admin = "admin-key-for-browser-test";
const std::string origin = "https://app.example";
const std::string key = "cli:0123456789abcdef0123456789abcdef";

class BrowserAttach : public ::testing::Test {
protected:
    TestDatabase db_;
    ServerProcess server_{db_.url(),
                          {{"CENTAUR_APIRS_ADMIN_API_KEY", admin},
                           {"CENTAUR_CORS_ALLOWED_ORIGINS", "https://other.example, " + origin},
                           {"CENTAUR_STREAM_TOKEN_TTL_SECS", "120"}}};
    std::map<std::string, std::string> bearer{{"Authorization", "Bearer " + admin},
                                              {"Content-Type", "application/json"}};

    std::string thread_url() const { return server_.url() + "/api/session/" + key; }
};

TEST_F(BrowserAttach, PreflightAndCorsHeadersOnlyForAllowedOrigins) {
    auto preflight = http_request("OPTIONS", thread_url() + "/events", "",
                                  {{"Origin", origin}, {"Access-Control-Request-Method", "GET"},
                                   {"Access-Control-Request-Headers", "last-event-id"}});
    EXPECT_EQ(preflight.status, 204);
    EXPECT_EQ(preflight.headers["access-control-allow-origin"], origin);
    EXPECT_NE(preflight.headers["access-control-allow-methods"].find("GET"), std::string::npos);
    EXPECT_NE(preflight.headers["access-control-allow-headers"].find("Last-Event-ID"), std::string::npos);

    auto stranger = http_request("OPTIONS", thread_url() + "/events", "",
                                 {{"Origin", "https://evil.example"}, {"Access-Control-Request-Method", "GET"}});
    EXPECT_EQ(stranger.status, 405);
    EXPECT_FALSE(stranger.headers.contains("access-control-allow-origin"));

    auto health = http_request("GET", server_.url() + "/healthz", "", {{"Origin", origin}});
    EXPECT_EQ(health.status, 200);
    EXPECT_EQ(health.headers["access-control-allow-origin"], origin);
    EXPECT_EQ(health.headers["vary"], "Origin");
    auto no_origin = http_request("GET", server_.url() + "/healthz");
    EXPECT_FALSE(no_origin.headers.contains("access-control-allow-origin"));
}

TEST_F(BrowserAttach, TokenOpensTheStreamOfItsThreadOnly) {
    ASSERT_EQ(http_request("POST", thread_url(), R"({"harness_type":"codex"})", bearer).status, 200);
    EXPECT_EQ(http_request("POST", thread_url() + "/events/token").status, 401) << "minting needs the bearer key";
    auto minted = http_request("POST", thread_url() + "/events/token", "", bearer);
    ASSERT_EQ(minted.status, 200) << minted.body;
    const auto answer = json::parse(minted.body).as_object();
    const std::string token(answer.at("token").as_string());
    const std::string events_url(answer.at("events_url").as_string());
    EXPECT_EQ(events_url, "/api/session/cli%3A0123456789abcdef0123456789abcdef/events?token=" + token);
    EXPECT_GT(answer.at("expires_at").as_int64(), 0);

    // What an EventSource does: a GET with the Origin header and no Authorization.
    ChildProcess curl({"curl", "-sS", "-N", "-i", "--max-time", "20", "-H", "Origin: " + origin,
                       server_.url() + events_url});
    EXPECT_TRUE(curl.wait_for_stdout("event: session.created", 15s)) << curl.stdout_text() << curl.stderr_text();
    const auto head = curl.stdout_text();
    EXPECT_NE(head.find("HTTP/1.1 200"), std::string::npos) << head;
    EXPECT_NE(head.find("Access-Control-Allow-Origin: " + origin), std::string::npos) << head;
    curl.kill(SIGTERM);

    const std::string other = server_.url() + "/api/session/cli:ffffffffffffffffffffffffffffffff/events?token=" + token;
    auto foreign = http_request("GET", other);
    EXPECT_EQ(foreign.status, 401);
    EXPECT_NE(foreign.body.find("invalid or expired stream token"), std::string::npos) << foreign.body;
    auto forged = http_request("GET", thread_url() + "/events?token=" + token.substr(0, token.size() - 1) + "x");
    EXPECT_EQ(forged.status, 401);
    auto write_with_token = http_request("POST", thread_url() + "/messages?token=" + token,
                                         R"({"messages":[{"role":"user","parts":[{"type":"text","text":"x"}]}]})",
                                         {{"Content-Type", "application/json"}});
    EXPECT_EQ(write_with_token.status, 401) << "a stream token never authorises writes";
    EXPECT_EQ(http_request("GET", thread_url() + "/events").status, 401) << "no token, no header: refused";
}

}  // namespace
}  // namespace centaur::e2e
