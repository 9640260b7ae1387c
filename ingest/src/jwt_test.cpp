#include <centaur/ingest/auth.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>
#include <prometheus/registry.h>

namespace centaur::ingest {
namespace {

using Clock = std::chrono::system_clock;
constexpr std::int64_t now_s = 1'900'000'000;
const std::string secret = "jwt-test-secret";

std::string sign(const std::string& header, const std::string& payload, const std::string& key = secret) {
    return sign_hs256_jwt(header, payload, key);
}

/// base64url of `text` (the first segment of a token signed over it).
std::string b64url(const std::string& text) {
    const auto token = sign_hs256_jwt(text, "", "");
    return token.substr(0, token.find('.'));
}

const std::string hs256 = R"({"alg":"HS256","typ":"JWT"})";

std::string claims(const std::string& extra = "", std::int64_t exp = now_s + 300) {
    return R"({"sub":"user-1","aud":"centaur-api","iss":"centaur-console","exp":)" + std::to_string(exp) + extra + "}";
}

JwtOptions options() {
    JwtOptions o;
    o.secret = secret;
    return o;
}

std::string why_rejected(const std::string& token) {
    std::string why;
    auto c = verify_jwt(token, options(), Clock::time_point(std::chrono::seconds(now_s)), &why);
    return c ? "accepted" : why;
}

TEST(VerifyJwt, AcceptsAValidToken) {
    std::string why;
    auto c = verify_jwt(sign(hs256, claims(R"(,"capabilities":["sessions_read"])")), options(),
                        Clock::time_point(std::chrono::seconds(now_s)), &why);
    ASSERT_TRUE(c) << why;
    EXPECT_EQ(c->sub, "user-1");
    EXPECT_TRUE(c->has_capabilities);
    EXPECT_EQ(c->capabilities, std::vector<std::string>{"sessions_read"});
    EXPECT_EQ(why_rejected(sign(hs256, R"({"sub":"u","aud":["x","centaur-api"],"iss":"centaur-console","exp":)" +
                                           std::to_string(now_s + 5) + "}")),
              "accepted")
        << "aud may be an array";
}

TEST(VerifyJwt, AcceptsATokenMintedElsewhere) {
    // Minted with Python's hmac/base64 for secret "jwt-test-secret".
    const std::string token =
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1c2VyLTkiLCJhdWQiOiJjZW50YXVyLWFwaSIsImlzcyI6ImNlbnRhdXItY29uc29sZSIsImV4cCI6MTkwMDAwMDA2MH0.4aXpSBG9cRC3QQOAAsqnizbR3cp_UuLcYj9YtGoSa6U";
    std::string why;
    auto c = verify_jwt(token, options(), Clock::time_point(std::chrono::seconds(now_s)), &why);
    ASSERT_TRUE(c) << why;
    EXPECT_EQ(c->sub, "user-9");
    EXPECT_FALSE(c->has_capabilities);
    EXPECT_EQ(sign(R"({"alg":"HS256","typ":"JWT"})",
                   R"({"sub":"user-9","aud":"centaur-api","iss":"centaur-console","exp":1900000060})"),
              token);
}

TEST(VerifyJwt, RejectsWrongSignature) {
    EXPECT_EQ(why_rejected(sign(hs256, claims(), "other-secret")), "invalid token signature");
    auto token = sign(hs256, claims());
    token.back() = token.back() == 'A' ? 'B' : 'A';
    EXPECT_NE(why_rejected(token), "accepted");
}

TEST(VerifyJwt, RejectsAlgNoneAndOthers) {
    EXPECT_EQ(why_rejected(b64url(R"({"alg":"none"})") + "." + b64url(claims()) + "."), "unsupported token algorithm");
    EXPECT_EQ(why_rejected(sign(R"({"alg":"HS512"})", claims())), "unsupported token algorithm");
    EXPECT_EQ(why_rejected(sign(R"({"alg":"hs256"})", claims())), "unsupported token algorithm");
    EXPECT_EQ(why_rejected(sign(R"({"typ":"JWT"})", claims())), "unsupported token algorithm");
}

TEST(VerifyJwt, ExpiryAndNotBeforeWithLeeway) {
    EXPECT_EQ(why_rejected(sign(hs256, claims("", now_s - 61))), "token expired");
    EXPECT_EQ(why_rejected(sign(hs256, claims("", now_s - 30))), "accepted") << "within the 60 s leeway";
    EXPECT_EQ(why_rejected(sign(hs256, claims(",\"nbf\":" + std::to_string(now_s + 61)))), "token not yet valid");
    EXPECT_EQ(why_rejected(sign(hs256, claims(",\"nbf\":" + std::to_string(now_s + 30)))), "accepted");
    EXPECT_EQ(why_rejected(sign(hs256, R"({"sub":"u","aud":"centaur-api","iss":"centaur-console"})")),
              "token has no expiry");
    EXPECT_EQ(why_rejected(sign(hs256, claims(R"(,"nbf":"soon")"))), "malformed token claims");
}

TEST(VerifyJwt, RejectsWrongAudienceOrIssuer) {
    EXPECT_EQ(why_rejected(sign(hs256, R"({"sub":"u","aud":"other","iss":"centaur-console","exp":)" +
                                           std::to_string(now_s + 5) + "}")),
              "token audience mismatch");
    EXPECT_EQ(why_rejected(sign(hs256, R"({"sub":"u","iss":"centaur-console","exp":)" + std::to_string(now_s + 5) + "}")),
              "token audience mismatch");
    EXPECT_EQ(why_rejected(sign(hs256, R"({"sub":"u","aud":"centaur-api","iss":"evil","exp":)" +
                                           std::to_string(now_s + 5) + "}")),
              "token issuer mismatch");
    EXPECT_EQ(why_rejected(sign(hs256, R"({"aud":"centaur-api","iss":"centaur-console","exp":)" +
                                           std::to_string(now_s + 5) + "}")),
              "token has no subject");
}

TEST(VerifyJwt, RejectsMalformedSegments) {
    const auto good = sign(hs256, claims());
    EXPECT_EQ(why_rejected("abc"), "malformed token");
    EXPECT_EQ(why_rejected("a.b"), "malformed token");
    EXPECT_EQ(why_rejected(good + ".x"), "malformed token");
    EXPECT_EQ(why_rejected("." + good.substr(good.find('.'))), "malformed token");
    EXPECT_EQ(why_rejected(good + "="), "malformed token") << "padding is not base64url-without-padding";
    EXPECT_EQ(why_rejected("e30+." + b64url(claims()) + ".AAAA"), "malformed token");
    EXPECT_EQ(why_rejected(sign("not json", claims())), "malformed token header");
    EXPECT_EQ(why_rejected(sign(hs256, "[1]")), "malformed token claims");
    std::string why;
    EXPECT_FALSE(verify_jwt(good, JwtOptions{}, Clock::time_point(std::chrono::seconds(now_s)), &why))
        << "no secret: JWTs are off";
}

http::Request bearer(const std::string& token) {
    http::Request req;
    req.headers["authorization"] = "Bearer " + token;
    return req;
}

struct RouteCase {
    http::Capability capability;
    std::string path;
    std::string method;
};

const std::vector<RouteCase> route_cases = {
    {http::Capability::sessions_read, "/api/session/{thread_key}", "GET"},
    {http::Capability::sessions_write, "/api/session/{thread_key}", "POST"},
    {http::Capability::sandboxes_drain, "/api/sandboxes/drain", "POST"},
};

class JwtAuthenticator : public ::testing::Test {
protected:
    void SetUp() override {
        std::string error;
        auto a = Authenticator::from_keys(
            {{"CENTAUR_APIRS_ADMIN_API_KEY", "admin-secret"}, {"SLACKBOT_API_KEY", "slack-secret"}}, &error);
        ASSERT_TRUE(a) << error;
        auth.emplace(std::move(*a));
        auth->accept_jwt(options());
        auth->set_probe(&probe);
        auth->set_clock([] { return Clock::time_point(std::chrono::seconds(now_s)); });
    }

    /// Status per route case (0 = allowed) for `req` on a slack: thread (or no thread for drain).
    std::vector<unsigned> statuses(const http::Request& req) {
        std::vector<unsigned> out;
        for (const auto& rc : route_cases) {
            http::PathParams params;
            if (rc.path.find("{thread_key}") != std::string::npos) params["thread_key"] = "slack:C1:1.2";
            auto denied = auth->check(req, http::Route{rc.method, rc.path, rc.capability, {}}, params);
            out.push_back(denied ? denied->status : 0u);
        }
        return out;
    }

    double count(const std::string& cls, const std::string& outcome) {
        return probe.authentications_total.Add({{"caller_class", cls}, {"outcome", outcome}}).Value();
    }

    prometheus::Registry registry;
    AuthProbe probe{registry};
    std::optional<Authenticator> auth;
};

TEST_F(JwtAuthenticator, EachCallerClassOnEachRouteCapability) {
    using V = std::vector<unsigned>;
    EXPECT_EQ(statuses(bearer("admin-secret")), (V{0, 0, 0})) << "admin";
    EXPECT_EQ(statuses(bearer("slack-secret")), (V{0, 0, 403})) << "ingress";
    EXPECT_EQ(statuses(bearer(sign(hs256, R"({"sub":"centaur-console","token_use":"console_service","aud":"centaur-api","iss":"centaur-console","exp":)" +
                                              std::to_string(now_s + 60) + "}"))),
              (V{0, 0, 0}))
        << "console";
    EXPECT_EQ(statuses(bearer(sign(hs256, claims(R"(,"token_use":"console_service")")))), (V{403, 403, 403}))
        << "console token_use with another sub is a principal; it owns no session";
    EXPECT_EQ(statuses(bearer(sign(hs256, claims(R"(,"capabilities":["workflows_read"])")))), (V{403, 403, 403}))
        << "principal without sessions_read";
    EXPECT_EQ(statuses(bearer("nope")), (V{401, 401, 401}));
    EXPECT_EQ(statuses(http::Request{}), (V{401, 401, 401}));
    EXPECT_EQ(count("admin", "allowed"), 3);
    EXPECT_EQ(count("ingress", "allowed"), 2);
    EXPECT_EQ(count("ingress", "forbidden"), 1);
    EXPECT_EQ(count("console", "allowed"), 3);
    EXPECT_EQ(count("principal", "forbidden"), 6);
    EXPECT_EQ(count("unknown", "unauthenticated"), 6);
}

/// Sessions by thread key with their iron_control_principal (null = none).
class OwnerStore : public SessionStore {
public:
    std::map<std::string, std::optional<std::string>> owners;

    boost::asio::awaitable<result<std::optional<SessionView>>> get_session(const ThreadKey& key) override {
        auto it = owners.find(key.str());
        if (it == owners.end()) co_return std::optional<SessionView>{};
        SessionView view;
        view.json["thread_key"] = key.str();
        if (it->second) view.json["iron_control_principal"] = *it->second;
        else view.json["iron_control_principal"] = nullptr;
        co_return std::optional<SessionView>{std::move(view)};
    }
    boost::asio::awaitable<result<std::optional<ExecutionView>>> get_execution(const ThreadKey&,
                                                                               const std::string&) override {
        co_return std::optional<ExecutionView>{};
    }
    boost::asio::awaitable<result<std::optional<ExecutionView>>> active_execution(const ThreadKey&) override {
        co_return std::optional<ExecutionView>{};
    }
    boost::asio::awaitable<result<bool>> wait_projected(const ThreadKey&, const EventUuid&, EventId,
                                                        std::chrono::milliseconds) override {
        co_return true;
    }
};

/// Runs `route` as the server does: the guard (auth.check), then the handler. Returns the status.
unsigned serve(const Authenticator& auth, const http::Route& route, const http::Request& req,
               const http::PathParams& params) {
    if (auto denied = auth.check(req, route, params)) return denied->status;
    boost::asio::io_context io;
    unsigned status = 0;
    boost::asio::co_spawn(io, route.handler(req, params), [&](std::exception_ptr e, http::Response r) {
        if (e) std::rethrow_exception(e);
        status = r.status;
    });
    io.run();
    return status;
}

TEST_F(JwtAuthenticator, PrincipalReadsOnlyOwnedSessions) {
    OwnerStore store;
    store.owners = {{"cli:mine", "user-1"}, {"cli:theirs", "user-2"}, {"cli:nobody", std::nullopt}};
    const auto token = sign(hs256, claims());  // no capabilities claim: sessions_read only
    http::Route read{"GET", "/api/session/{thread_key}", http::Capability::sessions_read,
                     [](const http::Request&, const http::PathParams&) -> boost::asio::awaitable<http::Response> {
                         co_return http::Response{};
                     }};
    auto unscoped = auth->check(bearer(token), read, {{"thread_key", "cli:mine"}});
    ASSERT_TRUE(unscoped) << "a route whose handler does not check the owner stays closed to principals";
    EXPECT_EQ(unscoped->body, R"({"ok":false,"error":"forbidden: session not owned by this principal"})");

    const auto scoped = auth->scope_principal_reads(read, store);
    EXPECT_EQ(serve(*auth, scoped, bearer(token), {{"thread_key", "cli:mine"}}), 200u);
    EXPECT_EQ(serve(*auth, scoped, bearer(token), {{"thread_key", "cli:theirs"}}), 403u);
    EXPECT_EQ(serve(*auth, scoped, bearer(token), {{"thread_key", "cli:nobody"}}), 403u);
    EXPECT_EQ(serve(*auth, scoped, bearer(token), {{"thread_key", "cli:absent"}}), 403u);
    EXPECT_EQ(serve(*auth, scoped, bearer("admin-secret"), {{"thread_key", "cli:theirs"}}), 200u)
        << "other callers pass through";
    EXPECT_EQ(auth->caller_id(bearer(token), {}), "jwt:user-1");
    EXPECT_EQ(auth->caller_id(bearer("slack-secret"), {}), "SLACKBOT_API_KEY");
    EXPECT_EQ(auth->principal_of(bearer(token)), std::optional<std::string>("user-1"));
    EXPECT_FALSE(auth->principal_of(bearer("admin-secret")));
}

TEST_F(JwtAuthenticator, RejectedJwtSaysWhy) {
    const http::Route read{"GET", "/api/session/{thread_key}", http::Capability::sessions_read, {}};
    auto denied = auth->check(bearer(sign(hs256, claims("", now_s - 3600))), read, {{"thread_key", "slack:C1:1"}});
    ASSERT_TRUE(denied);
    EXPECT_EQ(denied->status, 401u);
    EXPECT_EQ(denied->body, R"({"ok":false,"error":"invalid bearer token: token expired"})");
    EXPECT_FALSE(auth->open());
}

TEST(JwtOnly, SecretAloneClosesTheApi) {
    std::string error;
    auto auth = Authenticator::from_keys({}, &error);
    ASSERT_TRUE(auth);
    EXPECT_TRUE(auth->open());
    auth->accept_jwt(options());
    EXPECT_FALSE(auth->open());
}

}  // namespace
}  // namespace centaur::ingest
