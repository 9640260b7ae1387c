// End-to-end: a sandbox that prints credentials (mock agent mode `secrets`) through the real server.
// Every credential is replaced by [REDACTED_TOKEN] before it is appended to the log, so the log, the
// projection, the SSE stream, the terminal event's result_text and the server's own log never hold one.

#include <centaur/test_support/test_support.hpp>

#include <boost/json.hpp>
#include <gtest/gtest.h>
#include <pqxx/pqxx>

namespace centaur::e2e {
namespace {
namespace json = boost::json;
using namespace std::chrono_literals;
using test_support::ChildProcess;
using test_support::ServerProcess;
using test_support::TestDatabase;

/// Every fake credential the mock prints in mode `secrets` contains this.
constexpr char secret_marker[] = "mockSECRET";
constexpr char redacted[] = "[REDACTED_TOKEN]";
constexpr int credentials_printed = 6;  // sk-ant-, sk-, xoxb-, ghp_, Bearer, OPENAI_API_KEY=

std::size_t count_of(const std::string& text, const std::string& needle) {
    std::size_t n = 0;
    for (std::size_t p = 0; (p = text.find(needle, p)) != std::string::npos; p += needle.size()) ++n;
    return n;
}

class RedactionE2e : public ::testing::Test {
protected:
    TestDatabase db_;
};

TEST_F(RedactionE2e, SandboxCredentialsNeverReachTheLogProjectionStreamOrServerLog) {
    ServerProcess server(db_.url(), {{"CENTAUR_MOCK_MODE", "secrets"}, {"CENTAUR_MOCK_DELAY_MS", "5"}});
    const std::string key = "cli:redaction";
    const std::string thread = server.url() + "/api/session/" + key;
    auto created = test_support::http_request("POST", thread, R"({"harness_type":"codex"})");
    ASSERT_EQ(created.status, 200) << created.body;
    auto executed = test_support::http_request(
        "POST", thread + "/execute",
        R"({"input_lines":["{\"type\":\"user\",\"model\":\"gpt-redaction\"}"],"max_duration_ms":30000})");
    ASSERT_EQ(executed.status, 200) << executed.body;

    ChildProcess sse({"curl", "-sN", "--max-time", "30", thread + "/events?after_event_id=0"}, {});
    ASSERT_TRUE(sse.wait_for_stdout("event: session.execution_completed", 20s))
        << sse.stdout_text() << server.logs();
    const std::string stream = sse.stdout_text();
    EXPECT_EQ(stream.find(secret_marker), std::string::npos) << stream;
    EXPECT_GE(count_of(stream, redacted), static_cast<std::size_t>(credentials_printed)) << stream;
    EXPECT_NE(stream.find("Bearer [REDACTED_TOKEN]"), std::string::npos) << stream;
    EXPECT_NE(stream.find("OPENAI_API_KEY=[REDACTED_TOKEN]"), std::string::npos) << stream;

    pqxx::connection conn(db_.url());
    pqxx::nontransaction tx(conn);
    const auto rows = tx.exec_params(
        "select event_type, data from session_events where thread_key = $1 order by event_id", key);
    int output_with_redactions = 0;
    bool completed = false;
    for (const auto& row : rows) {
        const std::string type = row[0].c_str();
        const std::string data = row[1].c_str();
        EXPECT_EQ(data.find(secret_marker), std::string::npos) << type << ": " << data;
        if (type == "session.output.line" && data.find(redacted) != std::string::npos) {
            ++output_with_redactions;
            boost::system::error_code ec;
            const auto line = json::parse(data, ec);
            ASSERT_FALSE(ec) << "the redacted harness line is still JSON: " << data;
            const std::string delta(line.at("delta").as_string());
            EXPECT_EQ(count_of(delta, redacted), static_cast<std::size_t>(credentials_printed)) << delta;
        }
        if (type == "session.execution_completed") {
            completed = true;
            const auto payload = json::parse(data);
            const std::string result_text(payload.at("result_text").as_string());
            EXPECT_NE(result_text.find(redacted), std::string::npos) << data;
        }
    }
    EXPECT_EQ(output_with_redactions, 1);
    EXPECT_TRUE(completed);
    const std::string marker = secret_marker;
    const auto leaked_in_log =
        tx.exec_params("select count(*) from centaur_log where strpos(envelope, $1) > 0", marker);
    EXPECT_EQ(leaked_in_log[0][0].as<long long>(), 0) << "the event log holds a credential";
    EXPECT_GT(tx.exec("select count(*) from centaur_log")[0][0].as<long long>(), 0);

    EXPECT_EQ(server.logs().find(secret_marker), std::string::npos) << server.logs();
}

}  // namespace
}  // namespace centaur::e2e
