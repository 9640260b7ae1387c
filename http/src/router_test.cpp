#include "router.hpp"

#include <gtest/gtest.h>

namespace centaur::http {
namespace {

Route route(std::string method, std::string path_template) {
    return Route{std::move(method), std::move(path_template), Capability::none,
                 [](const Request&, const PathParams&) -> boost::asio::awaitable<Response> { co_return Response{}; }};
}

Router make_router() {
    return Router({route("GET", "/healthz"), route("POST", "/api/session/{thread_key}"),
                   route("GET", "/api/session/{thread_key}"), route("GET", "/api/session/{thread_key}/events"),
                   route("POST", "/api/sandboxes/drain"), route("GET", "/a/{x}"), route("GET", "/a/b")});
}

TEST(Router, MatchesLiteralPath) {
    const auto router = make_router();
    auto m = router.match("GET", "/healthz");
    ASSERT_EQ(m.outcome, Router::Outcome::matched);
    EXPECT_EQ(m.route->path_template, "/healthz");
    EXPECT_TRUE(m.params.empty());
}

TEST(Router, DecodesParameterSegment) {
    const auto router = make_router();
    auto m = router.match("GET", "/api/session/slack%3AC1%3A1.2%2Fx+y/events");
    ASSERT_EQ(m.outcome, Router::Outcome::matched);
    EXPECT_EQ(m.route->path_template, "/api/session/{thread_key}/events");
    EXPECT_EQ(m.params.at("thread_key"), "slack:C1:1.2/x+y");  // '+' is literal in paths
}

TEST(Router, PicksRouteByMethod) {
    auto router = make_router();
    EXPECT_EQ(router.match("POST", "/api/session/k").route->method, "POST");
    EXPECT_EQ(router.match("GET", "/api/session/k").route->method, "GET");
}

TEST(Router, LiteralSegmentBeatsParameter) {
    auto router = make_router();
    EXPECT_EQ(router.match("GET", "/a/b").route->path_template, "/a/b");
    auto m = router.match("GET", "/a/c");
    EXPECT_EQ(m.route->path_template, "/a/{x}");
    EXPECT_EQ(m.params.at("x"), "c");
}

TEST(Router, UnknownPathIsNotFound) {
    auto router = make_router();
    EXPECT_EQ(router.match("GET", "/nope").outcome, Router::Outcome::not_found);
    EXPECT_EQ(router.match("GET", "/healthz/").outcome, Router::Outcome::not_found);
    EXPECT_EQ(router.match("GET", "/api/session//events").outcome, Router::Outcome::not_found);  // empty param
    EXPECT_EQ(router.match("GET", "/api/session/k/events/more").outcome, Router::Outcome::not_found);
}

TEST(Router, WrongMethodListsAllowedMethods) {
    auto router = make_router();
    auto m = router.match("DELETE", "/api/session/k");
    ASSERT_EQ(m.outcome, Router::Outcome::method_not_allowed);
    EXPECT_EQ(m.allow, "POST, GET");
    EXPECT_EQ(router.match("GET", "/api/sandboxes/drain").allow, "POST");
}

TEST(Router, MalformedEscapeInParameterIsBadPath) {
    auto router = make_router();
    EXPECT_EQ(router.match("GET", "/api/session/a%zz").outcome, Router::Outcome::bad_path);
    EXPECT_EQ(router.match("GET", "/api/session/a%4").outcome, Router::Outcome::bad_path);
}

TEST(Router, DuplicateRouteAborts) {
    EXPECT_DEATH(Router({route("GET", "/x"), route("GET", "/x")}), "duplicate route");
    EXPECT_DEATH(Router({route("GET", "/x{y}")}), "whole path segment");
}

TEST(Query, DecodesPairsWithPlusAsSpace) {
    std::map<std::string, std::string> q;
    ASSERT_TRUE(parse_query("after_event_id=12&execution_id=a%3Ab+c&flag&&x=1&x=2", q));
    EXPECT_EQ(q.at("after_event_id"), "12");
    EXPECT_EQ(q.at("execution_id"), "a:b c");
    EXPECT_EQ(q.at("flag"), "");
    EXPECT_EQ(q.at("x"), "2");
    EXPECT_EQ(q.size(), 4u);
}

TEST(Query, MalformedEscapeFails) {
    std::map<std::string, std::string> q;
    EXPECT_FALSE(parse_query("a=%G1", q));
}

TEST(PercentDecode, HandlesEscapesAndRejectsTruncatedOnes) {
    std::string out;
    EXPECT_TRUE(percent_decode("a%2fb%2F%41+", out, false));
    EXPECT_EQ(out, "a/b/A+");
    EXPECT_TRUE(percent_decode("a+b", out, true));
    EXPECT_EQ(out, "a b");
    EXPECT_FALSE(percent_decode("%", out, false));
    EXPECT_FALSE(percent_decode("%4", out, false));
    EXPECT_FALSE(percent_decode("%x1", out, false));
}

TEST(Responses, ErrorAndJsonBodies) {
    auto e = error_response(404, "not found");
    EXPECT_EQ(e.status, 404u);
    EXPECT_EQ(e.body, R"({"ok":false,"error":"not found"})");
    EXPECT_EQ(e.content_type, "application/json");
    auto j = json_response(boost::json::value{{"ok", true}}, 201);
    EXPECT_EQ(j.status, 201u);
    EXPECT_EQ(j.body, R"({"ok":true})");
}

}  // namespace
}  // namespace centaur::http
