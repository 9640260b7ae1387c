#include <centaur/core/logging.hpp>

#include <boost/json.hpp>
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <sstream>

namespace centaur::logging {
namespace {
namespace json = boost::json;

TEST(LogFilter, BareLevelAndCentaurTargetsApplyOthersAreIgnored) {
    std::string error;
    EXPECT_EQ(level_from_filter("debug", &error), Level::debug);
    EXPECT_EQ(level_from_filter("info,centaur=debug", &error), Level::debug);
    EXPECT_EQ(level_from_filter("centaur_api_server=trace,warn", &error), Level::trace);
    EXPECT_EQ(level_from_filter("tower_http=debug", &error), std::nullopt);
    EXPECT_TRUE(error.empty());
    EXPECT_EQ(level_from_filter(" WARN , sqlx=off", &error), Level::warn);
    EXPECT_EQ(level_from_filter("centaur=loud", &error), std::nullopt);
    EXPECT_NE(error.find("loud"), std::string::npos);
    EXPECT_EQ(parse_format("JSON"), Format::json);
    EXPECT_EQ(parse_format("yaml"), std::nullopt);
}

TEST(LogRedaction, TargetsLoseCredentialQueryValuesOnly) {
    EXPECT_EQ(redact_target("/api/session/cli%3Aa/events?token=v1.99.abc&after_event_id=3"),
              "/api/session/cli%3Aa/events?token=[REDACTED]&after_event_id=3");
    EXPECT_EQ(redact_target("/x?api_key=k1&Secret=s&X-Signature=q&n=1"),
              "/x?api_key=[REDACTED]&Secret=[REDACTED]&X-Signature=[REDACTED]&n=1");
    EXPECT_EQ(redact_target("/healthz"), "/healthz");
}

TEST(LogRedaction, UrlPasswordsBearerTokensAndRegisteredSecretsDisappear) {
    add_database_url_secrets("postgresql://role:pw-Secret-42@db:5432/x?sslmode=disable");
    add_secret("xoxb-registered-token");
    add_secret("short");  // too short to register
    const auto out = redact("connect postgresql://role:hunter2pass@db/x failed; Authorization: Bearer abc.def.ghi; "
                            "dsn host=db password=conninfo-pass user=u; token xoxb-registered-token; bare pw-Secret-42; "
                            "short stays");
    for (const char* gone : {"hunter2pass", "abc.def.ghi", "conninfo-pass", "xoxb-registered-token", "pw-Secret-42"})
        EXPECT_EQ(out.find(gone), std::string::npos) << gone << " in " << out;
    EXPECT_NE(out.find("postgresql://role:[REDACTED]@db/x"), std::string::npos) << out;
    EXPECT_NE(out.find("short stays"), std::string::npos) << out;
    EXPECT_EQ(redact("thread_key=cli:abc status=200"), "thread_key=cli:abc status=200");
}

TEST(JsonLines, EveryLineIsOneObjectWithUpstreamShape) {
    std::ostringstream out;
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
    auto previous = spdlog::default_logger();
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("test", sink));
    configure(Settings{Format::json, Level::debug, "svc-test"});
    add_secret("s3cr3t-value");

    spdlog::info("plain \"quoted\" line with s3cr3t-value and \x01 and bad utf8 \xff");
    Event(Level::info, "centaur::http", "http request")
        .str("method", "GET")
        .str("target", redact_target("/e?token=v1.2.3"))
        .num("status", 200)
        .real("duration_ms", 1.5)
        .boolean("stream", false)
        .null("thread_key")
        .emit();
    Event(Level::trace, "centaur::http", "not emitted").num("n", 1).emit();
    spdlog::set_default_logger(previous);

    std::istringstream lines(out.str());
    std::string line;
    std::vector<json::object> objects;
    while (std::getline(lines, line)) {
        boost::system::error_code ec;
        auto v = json::parse(line, ec);
        ASSERT_FALSE(ec) << line;
        objects.push_back(v.as_object());
    }
    ASSERT_EQ(objects.size(), 2u) << out.str();
    EXPECT_EQ(objects[0].at("level"), "INFO");
    EXPECT_EQ(objects[0].at("target"), "centaur");
    EXPECT_EQ(objects[0].at("service"), "svc-test");
    const std::string plain(objects[0].at("fields").at("message").as_string());
    EXPECT_EQ(plain.find("s3cr3t-value"), std::string::npos) << plain;
    EXPECT_NE(plain.find("\"quoted\""), std::string::npos) << plain;
    EXPECT_EQ(std::string(objects[0].at("timestamp").as_string()).size(), 27u);

    const auto& fields = objects[1].at("fields").as_object();
    EXPECT_EQ(objects[1].at("target"), "centaur::http");
    EXPECT_EQ(fields.at("message"), "http request");
    EXPECT_EQ(fields.at("method"), "GET");
    EXPECT_EQ(fields.at("target"), "/e?token=[REDACTED]");
    EXPECT_EQ(fields.at("status").as_int64(), 200);
    EXPECT_DOUBLE_EQ(fields.at("duration_ms").as_double(), 1.5);
    EXPECT_EQ(fields.at("stream"), false);
    EXPECT_TRUE(fields.at("thread_key").is_null());
}

}  // namespace
}  // namespace centaur::logging
