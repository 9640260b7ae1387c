// Remote runners end to end: centaur-api-server with SESSION_SANDBOX_BACKEND=remote over two
// `centaur-sandbox-runner serve` processes. Turns complete and spread over both runners; a runner killed -9
// mid-turn ends that turn with exactly one terminal event; later turns go to the surviving runner.

#include <centaur/test_support/test_support.hpp>

#include <boost/json.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include <signal.h>

#include <filesystem>
#include <iomanip>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

namespace centaur::e2e {
namespace {
namespace json = boost::json;
using namespace std::chrono_literals;
using test_support::ChildProcess;
using test_support::ServerProcess;
using test_support::TestDatabase;

constexpr auto start_timeout = 20s;
constexpr auto turn_timeout = 60s;
constexpr auto poll_interval = 50ms;
constexpr char token[] = "remote-e2e-runner-token";
// Mock output pacing: a turn is six lines, so about 9 s; the kill lands inside one even when the projection
// shows its first line seconds late on a loaded machine.
constexpr char mock_delay_ms[] = "1500";

struct Runner {
    std::unique_ptr<ChildProcess> process;
    std::string url;
};

Runner start_runner(const std::string& workspace_root) {
    Runner r;
    r.process = std::make_unique<ChildProcess>(
        std::vector<std::string>{test_support::bin_path("centaur-sandbox-runner"), "serve", "--listen", "127.0.0.1:0",
                                 "--workspace-root", workspace_root, "--env", "PATH=/usr/bin:/bin", "--env",
                                 std::string("CENTAUR_MOCK_DELAY_MS=") + mock_delay_ms, "--",
                                 test_support::bin_path("centaur-mock-agent")},
        std::map<std::string, std::string>{{"SESSION_SANDBOX_RUNNER_TOKEN", token}});
    if (!r.process->wait_for_stdout("\n", start_timeout))
        throw std::runtime_error("runner did not start: " + r.process->stderr_text());
    std::smatch m;
    const std::string out = r.process->stdout_text();
    if (!std::regex_search(out, m, std::regex("listening on (http://127\\.0\\.0\\.1:[0-9]+)")))
        throw std::runtime_error("runner printed no address: " + out);
    r.url = m[1];
    return r;
}

/// Sandbox ids a runner holds, from its own `GET /v1/sandboxes`.
std::set<std::string> runner_sandboxes(const Runner& runner) {
    auto r = test_support::http_request("GET", runner.url + "/v1/sandboxes", "",
                                        {{"Authorization", std::string("Bearer ") + token}});
    if (r.status != 200) throw std::runtime_error("runner list: HTTP " + std::to_string(r.status) + " " + r.body);
    std::set<std::string> ids;
    const auto listed = json::parse(r.body);
    for (const auto& s : listed.at("sandboxes").as_array())
        ids.insert(std::string(s.at("sandbox_id").as_string()));
    return ids;
}

/// Live processes with an argument under `dir` (a runner's sandboxes: bubblewrap names their workspace).
int processes_under(const std::filesystem::path& dir) {
    int n = 0;
    const std::string prefix = dir.string() + "/";
    for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
        const std::string name = entry.path().filename().string();
        if (name.find_first_not_of("0123456789") != std::string::npos) continue;
        const std::string cmdline = test_support::read_file((entry.path() / "cmdline").string());
        std::size_t start = 0;
        for (std::size_t end; (end = cmdline.find('\0', start)) != std::string::npos; start = end + 1)
            if (cmdline.compare(start, prefix.size(), prefix) == 0) {
                ++n;
                break;
            }
    }
    return n;
}

std::string thread_key(const std::string& tag, int i) {
    std::ostringstream key;
    key << "cli:" << tag << std::setw(static_cast<int>(32 - tag.size())) << std::setfill('0') << i;
    return key.str();
}

class RemoteRunners : public ::testing::Test {
protected:
    /// Creates the session (once) and starts a turn; returns the execution id.
    std::string execute(ServerProcess& server, const std::string& thread, const std::string& key) {
        const std::string url = server.url() + "/api/session/" + thread;
        auto created = test_support::http_request("POST", url, R"({"harness_type":"codex"})");
        EXPECT_EQ(created.status, 200) << created.body;
        auto r = test_support::http_request(
            "POST", url + "/execute",
            R"({"idempotency_key":")" + key + R"(","idle_timeout_ms":600000,"input_lines":["{\"type\":\"user\"}"]})");
        EXPECT_EQ(r.status, 200) << r.body;
        return r.status == 200 ? std::string(json::parse(r.body).at("execution_id").as_string()) : "";
    }

    /// Event types and payloads of one execution, in order.
    std::vector<std::pair<std::string, json::object>> execution_events(const std::string& execution_id) {
        pqxx::connection conn(db_.url());
        pqxx::work tx(conn);
        std::vector<std::pair<std::string, json::object>> out;
        for (const auto& row : tx.exec_params("select event_type, data from session_events where execution_id = $1 "
                                              "order by seq",
                                              execution_id)) {
            auto v = json::parse(row[1].c_str());
            out.emplace_back(row[0].c_str(), v.is_object() ? v.as_object() : json::object());
        }
        return out;
    }

    static bool terminal(const std::string& type) {
        return type == "session.execution_completed" || type == "session.execution_failed" ||
               type == "session.execution_cancelled";
    }

    /// Polls (bounded) until the execution has an event satisfying `want`; returns its events.
    std::vector<std::pair<std::string, json::object>> wait_execution(
        const std::string& execution_id, const std::function<bool(const std::string&)>& want) {
        const auto deadline = std::chrono::steady_clock::now() + turn_timeout;
        for (;;) {
            auto events = execution_events(execution_id);
            for (const auto& e : events)
                if (want(e.first)) return events;
            if (std::chrono::steady_clock::now() >= deadline) return events;
            std::this_thread::sleep_for(poll_interval);
        }
    }

    static std::string sandbox_of(const std::vector<std::pair<std::string, json::object>>& events) {
        for (const auto& [type, payload] : events)
            if (type == "session.sandbox_ready") return std::string(payload.at("sandbox_id").as_string());
        return "";
    }

    static int count(const std::vector<std::pair<std::string, json::object>>& events,
                     const std::function<bool(const std::string&)>& pred) {
        int n = 0;
        for (const auto& e : events) n += pred(e.first);
        return n;
    }

    TestDatabase db_;
};

TEST_F(RemoteRunners, TurnsSpreadOverTwoRunnersAndAKilledRunnerEndsItsTurnOnce) {
    constexpr int first_threads = 6;
    constexpr int later_threads = 3;
    const auto scratch = std::filesystem::temp_directory_path() / ("centaur-remote-e2e-" + std::to_string(::getpid()));
    auto a = start_runner((scratch / "a").string());
    auto b = start_runner((scratch / "b").string());
    ServerProcess server(db_.url(), {{"SESSION_SANDBOX_BACKEND", "remote"},
                                     {"SESSION_SANDBOX_RUNNER_URLS", a.url + "," + b.url},
                                     {"SESSION_SANDBOX_RUNNER_TOKEN", token}});

    // Several threads at once: every turn completes, their sandboxes spread over both runners.
    std::vector<std::string> threads, executions;
    for (int i = 0; i < first_threads; ++i) {
        threads.push_back(thread_key("r", i));
        executions.push_back(execute(server, threads.back(), "t1"));
    }
    std::map<std::string, std::string> sandbox_of_thread;
    for (int i = 0; i < first_threads; ++i) {
        auto events = wait_execution(executions[i], terminal);
        ASSERT_EQ(count(events, [](const std::string& t) { return t == "session.execution_completed"; }), 1)
            << threads[i] << "\n" << server.logs();
        sandbox_of_thread[threads[i]] = sandbox_of(events);
    }
    const auto on_a = runner_sandboxes(a);
    const auto on_b = runner_sandboxes(b);
    EXPECT_GE(on_a.size(), 2U) << "placement did not use runner a";
    EXPECT_GE(on_b.size(), 2U) << "placement did not use runner b";
    EXPECT_EQ(on_a.size() + on_b.size(), static_cast<std::size_t>(first_threads));
    for (const auto& [thread, sandbox] : sandbox_of_thread)
        EXPECT_TRUE(on_a.count(sandbox) + on_b.count(sandbox) == 1) << thread << " " << sandbox;

    // A second turn on a thread whose sandbox lives on runner a; runner a dies mid-turn.
    std::string victim;
    for (const auto& [thread, sandbox] : sandbox_of_thread)
        if (on_a.count(sandbox)) victim = thread;
    ASSERT_FALSE(victim.empty());
    const auto doomed = execute(server, victim, "t2");
    auto started = wait_execution(doomed, [](const std::string& t) { return t == "session.output.line"; });
    ASSERT_EQ(count(started, terminal), 0) << "the turn ended before the runner was killed";
    ASSERT_GT(processes_under(scratch / "a"), 0) << "no sandbox process of runner a found";
    a.process->kill(SIGKILL);
    ASSERT_TRUE(a.process->wait_for_exit(start_timeout).has_value());
    auto ended = wait_execution(doomed, terminal);
    ASSERT_EQ(count(ended, terminal), 1) << server.logs();
    EXPECT_EQ(count(ended, [](const std::string& t) { return t == "session.execution_failed"; }), 1) << server.logs();
    // The lost sandbox is dropped (its stream gave eof once the runner stayed unreachable).
    ended = wait_execution(doomed, [](const std::string& t) { return t == "session.sandbox_stopped"; });
    ASSERT_EQ(count(ended, [](const std::string& t) { return t == "session.sandbox_stopped"; }), 1) << server.logs();
    std::this_thread::sleep_for(1s);  // a second terminal event would have been appended by now
    EXPECT_EQ(count(execution_events(doomed), terminal), 1);
    const auto gone_by = std::chrono::steady_clock::now() + start_timeout;
    while (processes_under(scratch / "a") > 0 && std::chrono::steady_clock::now() < gone_by)
        std::this_thread::sleep_for(poll_interval);
    EXPECT_EQ(processes_under(scratch / "a"), 0) << "sandboxes outlived their killed runner";

    // Later turns (new threads, and the victim again) all run on the surviving runner.
    std::vector<std::string> later;
    for (int i = 0; i < later_threads; ++i) later.push_back(execute(server, thread_key("s", i), "t1"));
    later.push_back(execute(server, victim, "t3"));
    for (const auto& execution : later) {
        auto events = wait_execution(execution, terminal);
        ASSERT_EQ(count(events, [](const std::string& t) { return t == "session.execution_completed"; }), 1)
            << server.logs();
        EXPECT_EQ(runner_sandboxes(b).count(sandbox_of(events)), 1U) << "not placed on the surviving runner";
    }
    std::filesystem::remove_all(scratch);
}

}  // namespace
}  // namespace centaur::e2e
