#include <centaur/schemas/envelope.hpp>
#include <centaur/schemas/event_types.hpp>
#include <centaur/schemas/payloads.hpp>

#include <boost/json.hpp>
#include <gtest/gtest.h>

namespace centaur {
namespace {

TEST(Envelope, RoundTripsEveryField) {
    EventEnvelope e{EventUuid::random(), *ThreadKey::parse("cli:abc"), std::string("exe_1"),
                    std::string(event_type::output_line), boost::json::value("{\"type\":\"turn.started\"}"),
                    1'700'000'000'123'456, EventSource::processor};
    std::string why;
    auto back = decode_envelope(encode_envelope(e), &why);
    ASSERT_TRUE(back) << why;
    EXPECT_EQ(back->event_uuid, e.event_uuid);
    EXPECT_EQ(back->thread_key, e.thread_key);
    EXPECT_EQ(back->execution_id, e.execution_id);
    EXPECT_EQ(back->event_type, e.event_type);
    EXPECT_EQ(back->payload, e.payload);
    EXPECT_EQ(back->occurred_at_us, e.occurred_at_us);
    EXPECT_EQ(back->source, EventSource::processor);
}

TEST(Envelope, RejectsMalformedRecordsWithAReason) {
    std::string why;
    EXPECT_FALSE(decode_envelope("not json", &why));
    EXPECT_NE(why.find("not JSON"), std::string::npos);
    EXPECT_FALSE(decode_envelope("[]", &why));
    EXPECT_FALSE(decode_envelope(R"({"v":1,"event_uuid":"zz","thread_key":"a:b","event_type":"t","payload":{},"occurred_at_us":1})", &why));
    EXPECT_NE(why.find("event_uuid"), std::string::npos);
    EXPECT_FALSE(decode_envelope(R"({"v":2})", &why));
    EXPECT_FALSE(decode_envelope(
        R"({"v":1,"event_uuid":"0123456789abcdef0123456789abcdef","thread_key":"bad","event_type":"t","payload":{},"occurred_at_us":1})",
        &why));
    EXPECT_NE(why.find("thread_key"), std::string::npos);
}

TEST(Envelope, FormatsTimestampsAsRfc3339Micros) {
    EXPECT_EQ(format_timestamp(0), "1970-01-01T00:00:00.000000Z");
    EXPECT_EQ(format_timestamp(1'700'000'000'123'456), "2023-11-14T22:13:20.123456Z");
    EXPECT_EQ(format_timestamp(-1), "1969-12-31T23:59:59.999999Z");
    // Any int64 (a decoded envelope's occurred_at_us) formats without overflow, clamped to four-digit years.
    EXPECT_EQ(format_timestamp(INT64_MIN), "0000-01-01T00:00:00.000000Z");
    EXPECT_EQ(format_timestamp(INT64_MAX), "9999-12-31T23:59:59.999999Z");
}

TEST(Payloads, ExecutionRequestedRoundTripsAndRejectsWrongTypes) {
    ExecutionRequested p{"exe_1", std::string("k"), {"{\"type\":\"user\"}", "x"}, 1000, 60000, {{"source", "t"}}};
    auto back = execution_requested_from(to_json(p));
    ASSERT_TRUE(back);
    EXPECT_EQ(back->input_lines, p.input_lines);
    EXPECT_EQ(back->idle_timeout_ms, 1000u);
    EXPECT_EQ(back->idempotency_key, "k");
    EXPECT_FALSE(execution_requested_from(boost::json::parse(R"({"execution_id":"e","input_lines":[1]})")));
    EXPECT_TRUE(is_known_harness("codex"));
    EXPECT_FALSE(is_known_harness("claude-code"));
}

}  // namespace
}  // namespace centaur
