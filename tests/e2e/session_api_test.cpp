// End-to-end: the real centaur-api-server binary on a free port against a fresh database, driven by curl and
// centaur-session-cli as users drive it.

#include <centaur/test_support/test_support.hpp>

#include <boost/json.hpp>
#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include <regex>
#include <sstream>

namespace centaur::e2e {
namespace {
namespace json = boost::json;
using namespace std::chrono_literals;
using test_support::ChildProcess;
using test_support::lines_of;
using test_support::ServerProcess;
using test_support::TestDatabase;

constexpr auto turn_timeout = 60s;
const std::string pong_prompt = "Reply with exactly PONG and nothing else.";

/// Runs centaur-session-cli against `server` and waits for it (bounded). Returns the finished process.
std::unique_ptr<ChildProcess> run_cli(const ServerProcess& server, std::vector<std::string> args,
                                      std::map<std::string, std::string> env = {}) {
    args.insert(args.begin(), test_support::bin_path("centaur-session-cli"));
    env["CENTAUR_API_URL"] = server.url();
    auto cli = std::make_unique<ChildProcess>(args, env);
    auto code = cli->wait_for_exit(turn_timeout);
    EXPECT_TRUE(code.has_value()) << "session cli did not finish: " << cli->stderr_text();
    return cli;
}

std::string thread_key_from_stderr(const std::string& err) {
    std::smatch m;
    std::regex re("thread_key=(cli:[0-9a-f]{32})");
    return std::regex_search(err, m, re) ? m[1].str() : "";
}

/// `id\tdata` output lines -> (id, data).
std::vector<std::pair<long long, std::string>> output_lines(const std::string& out) {
    std::vector<std::pair<long long, std::string>> v;
    for (const auto& line : lines_of(out)) {
        auto tab = line.find('\t');
        if (tab == std::string::npos || line[0] == '{') continue;
        v.emplace_back(std::stoll(line.substr(0, tab)), line.substr(tab + 1));
    }
    return v;
}

/// `--all-events` lines -> every event id in order (output lines and JSON event lines).
std::vector<long long> all_event_ids(const std::string& out) {
    std::vector<long long> ids;
    for (const auto& line : lines_of(out)) {
        if (line[0] == '{') {
            auto v = json::parse(line);
            if (v.at("id").is_int64()) ids.push_back(v.at("id").as_int64());
        } else {
            ids.push_back(std::stoll(line.substr(0, line.find('\t'))));
        }
    }
    return ids;
}

std::vector<std::string> event_types(const std::string& out) {
    std::vector<std::string> types;
    for (const auto& line : lines_of(out)) {
        if (line[0] == '{') types.emplace_back(json::parse(line).at("sse_event").as_string());
        else types.emplace_back("session.output.line");
    }
    return types;
}

class SessionApi : public ::testing::Test {
protected:
    TestDatabase db_;
};

TEST_F(SessionApi, RunbookSmokeTurnThenAttachThenResume) {
    ServerProcess server(db_.url());
    auto turn = run_cli(server, {"--harness-type", "codex", "--message", pong_prompt, "--exit-on-terminal",
                                 "--max-duration-ms", "120000"});
    ASSERT_EQ(turn->exit_code(), 0) << turn->stderr_text() << server.logs();
    const auto key = thread_key_from_stderr(turn->stderr_text());
    ASSERT_FALSE(key.empty()) << turn->stderr_text();
    const auto printed = output_lines(turn->stdout_text());
    ASSERT_FALSE(printed.empty());
    bool pong = false;
    for (const auto& [id, data] : printed) pong |= data.find("PONG model=unknown harness=codex") != std::string::npos;
    EXPECT_TRUE(pong) << turn->stdout_text();

    // Attach replays the same thread: every output line printed above, in order, then the terminal event.
    auto attach = run_cli(server, {"--attach", "--thread-key", key, "--all-events", "--exit-on-terminal"});
    ASSERT_EQ(attach->exit_code(), 0) << attach->stderr_text();
    EXPECT_EQ(output_lines(attach->stdout_text()), printed);
    const auto types = event_types(attach->stdout_text());
    ASSERT_FALSE(types.empty());
    EXPECT_EQ(types.back(), "session.execution_completed");
    const auto ids = all_event_ids(attach->stdout_text());
    for (std::size_t i = 1; i < ids.size(); ++i) EXPECT_LT(ids[i - 1], ids[i]) << "event ids strictly increase";

    // The runbook's resume line: implicit attach after an id, only the later events, no new execution.
    const long long after = printed.front().first;
    auto resume = run_cli(server, {"--thread-key", key, "--after-event-id", std::to_string(after), "--all-events",
                                   "--exit-on-terminal"});
    ASSERT_EQ(resume->exit_code(), 0) << resume->stderr_text();
    std::vector<long long> expected;
    for (auto id : ids)
        if (id > after) expected.push_back(id);
    EXPECT_EQ(all_event_ids(resume->stdout_text()), expected);
    EXPECT_EQ(std::count(types.begin(), types.end(), "session.execution_started"), 1) << "resume started nothing new";
}

TEST_F(SessionApi, HarnessTypesIdempotentExecuteAndPongBeforeCompletion) {
    ServerProcess server(db_.url());
    const std::string base = server.url() + "/api/session/api-integration-test:";
    for (const char* harness : {"codex", "amp", "claudecode"}) {
        auto r = test_support::http_request("POST", base + harness + ":s", json::serialize(json::object{{"harness_type", harness}}));
        ASSERT_EQ(r.status, 200) << r.body;
        auto v = json::parse(r.body);
        EXPECT_EQ(v.at("status").as_string(), "idle");
        EXPECT_EQ(v.at("harness_type").as_string(), harness);
    }
    auto bad = test_support::http_request("POST", base + "x:s", R"({"harness_type":"claude-code"})");
    EXPECT_EQ(bad.status, 422);
    EXPECT_EQ(json::parse(bad.body).at("ok"), false);

    const std::string thread = base + "codex:s";
    auto appended = test_support::http_request(
        "POST", thread + "/messages",
        R"({"messages":[{"client_message_id":"m1","role":"user","parts":[{"type":"text","text":"hi"}]}]})");
    ASSERT_EQ(appended.status, 200) << appended.body;
    const std::string execute = R"({"idempotency_key":"turn-1","input_lines":["{\"type\":\"user\",\"model\":\"gpt-api-integration-test\"}"],"idle_timeout_ms":5000,"max_duration_ms":15000})";
    auto first = test_support::http_request("POST", thread + "/execute", execute);
    auto again = test_support::http_request("POST", thread + "/execute", execute);
    ASSERT_EQ(first.status, 200) << first.body;
    ASSERT_EQ(again.status, 200) << again.body;
    const auto execution_id = json::parse(first.body).at("execution_id").as_string();
    EXPECT_EQ(json::parse(again.body).at("execution_id").as_string(), execution_id);
    EXPECT_EQ(std::string(execution_id).rfind("exe_", 0), 0u);

    ChildProcess sse({"curl", "-sN", "--max-time", "30", thread + "/events?after_event_id=0"}, {});
    ASSERT_TRUE(sse.wait_for_stdout("event: session.execution_completed", 20s)) << sse.stdout_text();
    const auto text = sse.stdout_text();
    const auto pong = text.find("PONG model=gpt-api-integration-test harness=codex");
    ASSERT_NE(pong, std::string::npos) << text;
    EXPECT_LT(pong, text.find("event: session.execution_completed"));
    EXPECT_EQ(std::count(text.begin(), text.end(), '\n') > 0, true);
    // One execution despite two execute calls.
    std::size_t started = 0;
    for (std::size_t p = 0; (p = text.find("event: session.execution_started", p)) != std::string::npos; ++p) ++started;
    EXPECT_EQ(started, 1u);
}

TEST_F(SessionApi, BadInputGetsAPreciseErrorAndChangesNothing) {
    ServerProcess server(db_.url(), {{"CENTAUR_MAX_BODY_BYTES", "4096"}, {"CENTAUR_APIRS_ADMIN_API_KEY", "admin-key"}});
    const std::map<std::string, std::string> auth{{"Authorization", "Bearer admin-key"}};
    const std::string thread = server.url() + "/api/session/cli:bad-input";
    ASSERT_EQ(test_support::http_request("POST", thread, R"({"harness_type":"codex"})", auth).status, 200);

    pqxx::connection conn(db_.url());
    auto log_size = [&] {
        pqxx::nontransaction tx(conn);
        return tx.exec("select count(*) from centaur_log")[0][0].as<long long>();
    };
    const auto before = log_size();

    struct Case {
        std::string method, url, body;
        int status;
        std::string error_contains;
    };
    const std::vector<Case> cases = {
        {"POST", thread, "{not json", 400, "invalid JSON"},
        {"POST", server.url() + "/api/session/nocolon", R"({"harness_type":"codex"})", 400, "thread key"},
        {"POST", thread, R"({"harness_type":7})", 422, "harness_type"},
        {"POST", thread, R"({"harness_type":"gpt"})", 422, "unknown harness_type"},
        {"POST", thread + "/messages", R"({"messages":[]})", 400, "must not be empty"},
        {"POST", thread + "/messages", R"({"messages":[{"role":"robot","parts":[]}]})", 422, "role"},
        {"POST", thread + "/execute", R"({"input_lines":["a\nb"]})", 400, "newline"},
        {"POST", thread + "/execute", R"({"input_lines":["x"],"idle_timeout_ms":10,"max_duration_ms":5})", 400, "exceed"},
        {"POST", thread + "/execute", R"({"input_lines":["x"],"max_duration_ms":0})", 400, "greater than zero"},
        {"POST", server.url() + "/api/session/cli:nobody/messages",
         R"({"messages":[{"role":"user","parts":[]}]})", 404, "session not found"},
        {"POST", server.url() + "/api/session/cli:nobody/execute", R"({"input_lines":["x"]})", 404, "session not found"},
        {"GET", server.url() + "/api/nothing-here", "", 404, "not found"},
        {"POST", thread + "/messages", std::string(8000, ' '), 413, "exceeds"},
        {"GET", thread + "/events?after_event_id=abc", "", 400, "after_event_id"},
    };
    for (const auto& c : cases) {
        auto r = test_support::http_request(c.method, c.url, c.body, auth);
        EXPECT_EQ(r.status, c.status) << c.method << " " << c.url << " " << c.body.substr(0, 80) << " -> " << r.body;
        boost::system::error_code ec;
        auto v = json::parse(r.body, ec);
        ASSERT_FALSE(ec) << "error body is JSON: " << r.body;
        EXPECT_EQ(v.at("ok"), false);
        EXPECT_NE(std::string(v.at("error").as_string()).find(c.error_contains), std::string::npos) << r.body;
    }
    auto wrong = test_support::http_request("POST", thread + "/execute", R"({"input_lines":["x"]})",
                                            {{"Authorization", "Bearer wrong"}});
    EXPECT_EQ(wrong.status, 401);
    EXPECT_EQ(test_support::http_request("GET", server.url() + "/healthz", "").status, 200) << "health stays public";
    EXPECT_EQ(log_size(), before) << "no bad request appended anything";

    auto idle = test_support::http_request("POST", thread + "/interrupt", "", auth);
    ASSERT_EQ(idle.status, 200) << idle.body;
    EXPECT_EQ(json::parse(idle.body), json::parse(R"({"ok":true,"interrupted":false,"execution_id":null,"thread_key":"cli:bad-input"})"));
}

TEST_F(SessionApi, RestartBetweenTurnsKeepsHistoryAndIds) {
    const std::string key = "cli:0123456789abcdef0123456789abcdef";
    long long last_first_turn = 0;
    {
        ServerProcess server(db_.url());
        auto turn = run_cli(server, {"--thread-key", key, "--message", "first", "--exit-on-terminal", "--all-events"});
        ASSERT_EQ(turn->exit_code(), 0) << turn->stderr_text();
        const auto ids = all_event_ids(turn->stdout_text());
        ASSERT_FALSE(ids.empty());
        last_first_turn = ids.back();
        EXPECT_EQ(server.stop(), 0) << "SIGTERM drains and exits 0";
    }
    ServerProcess server(db_.url());
    auto second = run_cli(server, {"--thread-key", key, "--message", "second", "--exit-on-terminal", "--all-events",
                                   "--after-event-id", std::to_string(last_first_turn)});
    ASSERT_EQ(second->exit_code(), 0) << second->stderr_text();
    const auto ids = all_event_ids(second->stdout_text());
    ASSERT_FALSE(ids.empty());
    EXPECT_GT(ids.front(), last_first_turn);
    bool pong = false;
    for (const auto& [id, data] : output_lines(second->stdout_text())) pong |= data.find("PONG") != std::string::npos;
    EXPECT_TRUE(pong);

    // History intact: both turns in the projection, seq 1..n without a hole, ids strictly increasing.
    pqxx::connection conn(db_.url());
    pqxx::nontransaction tx(conn);
    const auto rows = tx.exec_params("select event_id, seq, event_type from session_events where thread_key = $1 "
                                     "order by event_id", key);
    long long completed = 0;
    for (std::size_t i = 0; i < rows.size(); ++i) {
        EXPECT_EQ(rows[i][1].as<long long>(), static_cast<long long>(i + 1));
        if (i > 0) {
            EXPECT_LT(rows[i - 1][0].as<long long>(), rows[i][0].as<long long>());
        }
        if (std::string(rows[i][2].c_str()) == "session.execution_completed") ++completed;
    }
    EXPECT_EQ(completed, 2);
}

}  // namespace
}  // namespace centaur::e2e
