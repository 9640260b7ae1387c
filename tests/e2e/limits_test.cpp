// End-to-end: bearer JWTs and per-caller write limits on the real centaur-api-server (fresh database, free port).
#include <centaur/ingest/auth.hpp>
#include <centaur/test_support/test_support.hpp>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include <ctime>
#include <thread>

namespace centaur::e2e {
namespace {

using test_support::ChildProcess;
using test_support::http_request;
using test_support::ServerProcess;
using test_support::TestDatabase;

const std::string admin_key = "limits-admin-key";
const std::string jwt_secret = "limits-jwt-secret";
const std::string create_body = R"({"harness_type":"codex"})";

std::string jwt(const std::string& key, const std::string& sub, const std::string& token_use) {
    const auto exp = std::to_string(std::time(nullptr) + 300);
    return ingest::sign_hs256_jwt(R"({"alg":"HS256","typ":"JWT"})",
                                  R"({"sub":")" + sub + R"(","token_use":")" + token_use +
                                      R"(","aud":"centaur-api","iss":"centaur-console","exp":)" + exp + "}",
                                  key);
}

std::string console_jwt(const std::string& key) { return jwt(key, "centaur-console", "console_service"); }

std::map<std::string, std::string> bearer(const std::string& token) { return {{"Authorization", "Bearer " + token}}; }

TEST(ApiLimits, WritesBeyondTheBurstGet429WithRetryAfterAndChangeNothing) {
    TestDatabase db;
    ServerProcess server(db.url(), {{"CENTAUR_APIRS_ADMIN_API_KEY", admin_key},
                                    {"CENTAUR_JWT_SIGNING_SECRET", jwt_secret},
                                    {"CENTAUR_RATE_LIMIT_EVENTS_PER_SEC", "0.2"},
                                    {"CENTAUR_RATE_LIMIT_BURST", "2"}});
    const auto url = server.url() + "/api/session/limits%3Aone";
    for (int i = 0; i < 2; ++i) {
        auto ok = http_request("POST", url, create_body, bearer(admin_key));
        ASSERT_EQ(ok.status, 200) << ok.body;
    }
    auto limited = http_request("POST", server.url() + "/api/session/limits%3Atwo", create_body, bearer(admin_key));
    EXPECT_EQ(limited.status, 429);
    EXPECT_EQ(limited.body, R"({"ok":false,"error":"rate limit exceeded for this caller"})");
    ASSERT_TRUE(limited.headers.count("retry-after"));
    const int retry_after = std::stoi(limited.headers["retry-after"]);
    EXPECT_GE(retry_after, 1);
    EXPECT_LE(retry_after, 5);

    // Another caller (a console JWT) has its own bucket; reads are not limited.
    auto console = http_request("POST", server.url() + "/api/session/limits%3Athree", create_body,
                                bearer(console_jwt(jwt_secret)));
    EXPECT_EQ(console.status, 200) << console.body;
    auto forged = http_request("POST", server.url() + "/api/session/limits%3Afour", create_body,
                               bearer(console_jwt("not-the-secret")));
    EXPECT_EQ(forged.status, 401);
    EXPECT_EQ(http_request("GET", url, "", bearer(admin_key)).status, 200);
    {
        pqxx::connection c(db.url());
        pqxx::work tx(c);
        EXPECT_EQ(tx.exec1("select count(*) from sessions where thread_key = 'limits:two'")[0].as<int>(), 0)
            << "the refused create changed nothing";
        EXPECT_EQ(tx.exec1("select count(*) from sessions where thread_key = 'limits:three'")[0].as<int>(), 1);
    }

    // A principal reads only the sessions it owns (iron_control_principal == sub) and writes none.
    {
        pqxx::connection c(db.url());
        pqxx::work tx(c);
        tx.exec0("update sessions set iron_control_principal = 'user-7' where thread_key = 'limits:one'");
        tx.commit();
    }
    const auto principal = bearer(jwt(jwt_secret, "user-7", "user"));
    EXPECT_EQ(http_request("GET", url, "", principal).status, 200);
    EXPECT_EQ(http_request("GET", server.url() + "/api/session/limits%3Athree", "", principal).status, 403);
    EXPECT_EQ(http_request("POST", url + "/interrupt", "{}", principal).status, 403);
    EXPECT_EQ(http_request("GET", url, "", bearer(jwt(jwt_secret, "user-8", "user"))).status, 403);

    auto metrics = http_request("GET", server.url() + "/metrics").body;
    EXPECT_NE(metrics.find(R"(centaur_api_rate_limited_total{limit="events"} 1)"), std::string::npos) << metrics;
    EXPECT_NE(metrics.find(R"(centaur_api_authentications_total{caller_class="console",outcome="allowed"} 1)"),
              std::string::npos);
    EXPECT_NE(metrics.find(R"(centaur_api_authentications_total{caller_class="unknown",outcome="unauthenticated"} 1)"),
              std::string::npos);
}

/// curl holding `GET <url>` as an SSE client; returns once the response header arrived (bounded).
std::unique_ptr<ChildProcess> attach(const std::string& url, std::chrono::seconds max_time) {
    auto curl = std::make_unique<ChildProcess>(std::vector<std::string>{
        "curl", "-sS", "-N", "-D", "-", "--max-time", std::to_string(max_time.count()), "-H",
        "Authorization: Bearer " + admin_key, url});
    EXPECT_TRUE(curl->wait_for_stdout("HTTP/1.1 ", std::chrono::seconds(10))) << curl->stderr_text();
    return curl;
}

TEST(ApiLimits, StreamsBeyondTheCapGet429UntilOneDetaches) {
    TestDatabase db;
    ServerProcess server(db.url(), {{"CENTAUR_APIRS_ADMIN_API_KEY", admin_key},
                                    {"CENTAUR_MAX_STREAMS_PER_KEY", "1"},
                                    {"CENTAUR_SSE_KEEPALIVE_SECS", "1"}});
    const auto session = server.url() + "/api/session/limits%3Astream";
    ASSERT_EQ(http_request("POST", session, create_body, bearer(admin_key)).status, 200);
    auto first = attach(session + "/events", std::chrono::seconds(60));
    EXPECT_NE(first->stdout_text().find("HTTP/1.1 200"), std::string::npos) << first->stdout_text();
    auto second = http_request("GET", session + "/events", "", bearer(admin_key));
    EXPECT_EQ(second.status, 429);
    EXPECT_EQ(second.body, R"({"ok":false,"error":"too many attached streams for this caller"})");
    EXPECT_EQ(second.headers["retry-after"], "1");
    first.reset();  // the server notices at its next keep-alive write and releases the slot
    bool reattached = false;
    for (int i = 0; i < 20 && !reattached; ++i) {  // bounded: about 10 s of 429s
        auto again = attach(session + "/events", std::chrono::seconds(2));
        again->wait_for_exit(std::chrono::seconds(5));
        reattached = again->stdout_text().find("HTTP/1.1 200") != std::string::npos;
        if (!reattached) std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
    EXPECT_TRUE(reattached) << "the slot came back after the first client detached";
}

/// curl holding `GET <url>` as an SSE client with `token`; the HTTP status line once the header arrived (bounded).
std::string stream_status(const std::string& url, const std::string& token) {
    ChildProcess curl({"curl", "-sS", "-N", "-D", "-", "-o", "/dev/null", "--max-time", "20", "-H",
                       "Authorization: Bearer " + token, url});
    EXPECT_TRUE(curl.wait_for_stdout("HTTP/1.1 ", std::chrono::seconds(10))) << curl.stderr_text();
    EXPECT_TRUE(curl.wait_for_stdout("\r\n", std::chrono::seconds(10))) << curl.stdout_text();
    const auto out = curl.stdout_text();
    return out.substr(0, out.find("\r\n"));
}

TEST(ApiPrincipals, ConsoleBindsTheRequesterPrincipalWhichThenReadsOnlyItsOwnThreads) {
    TestDatabase db;
    ServerProcess server(db.url(), {{"CENTAUR_APIRS_ADMIN_API_KEY", admin_key}, {"CENTAUR_JWT_SIGNING_SECRET", jwt_secret}});
    const auto session = [&](const std::string& name) { return server.url() + "/api/session/principal%3A" + name; };
    const auto bound_to = [](const std::string& sub) {
        return R"({"harness_type":"codex","metadata":{"requester_principal_foreign_id":")" + sub + R"("}})";
    };
    const auto console = bearer(console_jwt(jwt_secret));
    auto mine = http_request("POST", session("mine"), bound_to("user-7"), console);
    ASSERT_EQ(mine.status, 200) << mine.body;
    EXPECT_NE(mine.body.find(R"("iron_control_principal":"user-7")"), std::string::npos) << mine.body;
    ASSERT_EQ(http_request("POST", session("other"), bound_to("user-8"), console).status, 200);
    // Only Console asserts a requester principal: an admin key's assertion is dropped, JSON-escaped or not.
    ASSERT_EQ(http_request("POST", session("forged"), bound_to("user-7"), bearer(admin_key)).status, 200);
    ASSERT_EQ(http_request("POST", session("escaped"),
                           R"({"harness_type":"codex","metadata":{"requester\u005fprincipal_foreign_id":"user-7"}})",
                           bearer(admin_key))
                  .status,
              200);
    // A later create by Console never moves an existing binding.
    ASSERT_EQ(http_request("POST", session("mine"), bound_to("user-8"), console).status, 200);
    {
        pqxx::connection c(db.url());
        pqxx::work tx(c);
        auto owner = [&](const char* key) {
            auto r = tx.exec_params1("select coalesce(iron_control_principal, '-') from sessions where thread_key = $1",
                                     std::string("principal:") + key);
            return r[0].as<std::string>();
        };
        EXPECT_EQ(owner("mine"), "user-7");
        EXPECT_EQ(owner("other"), "user-8");
        EXPECT_EQ(owner("forged"), "-");
        EXPECT_EQ(owner("escaped"), "-");
    }

    const auto token = jwt(jwt_secret, "user-7", "user");
    const auto principal = bearer(token);
    EXPECT_EQ(http_request("GET", session("mine"), "", principal).status, 200);
    EXPECT_EQ(stream_status(session("mine") + "/events", token), "HTTP/1.1 200 OK");
    for (const char* other : {"other", "forged", "escaped", "missing"}) {
        EXPECT_EQ(http_request("GET", session(other), "", principal).status, 403) << other;
        EXPECT_EQ(http_request("GET", session(other) + "/events", "", principal).status, 403) << other;
    }
    EXPECT_EQ(http_request("POST", session("mine") + "/execute", R"({"input_lines":["x"]})", principal).status, 403)
        << "a principal reads its sessions and writes none";
    EXPECT_EQ(http_request("POST", session("new"), bound_to("user-7"), principal).status, 403);
    const auto other_principal = bearer(jwt(jwt_secret, "user-8", "user"));
    EXPECT_EQ(http_request("GET", session("other"), "", other_principal).status, 200);
    EXPECT_EQ(http_request("GET", session("mine"), "", other_principal).status, 403);
}

}  // namespace
}  // namespace centaur::e2e
