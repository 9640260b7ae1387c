// End-to-end sandbox tests.
// SandboxIsolation: commands run through `centaur-sandbox-runner run`, which starts them exactly as a workload is
// started (bubblewrap namespaces, sandbox uid, cgroups, rlimits), and report what they could see and do. Each
// probe prints a verdict line per attempt; the host side checks its own state too.
// SandboxLifecycle: the real centaur-api-server; its sandbox transitions are read back as events.
// SandboxDrain: POST /api/sandboxes/drain with the API and the processor in separate processes, and its callers.

#include <centaur/ingest/auth.hpp>
#include <centaur/test_support/test_support.hpp>

#include <boost/json.hpp>
#include <gmock/gmock.h>
#include <pqxx/pqxx>
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <random>
#include <sstream>
#include <thread>

namespace centaur::e2e {
namespace {
namespace fs = std::filesystem;
using namespace std::chrono_literals;
using test_support::ChildProcess;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr auto run_timeout = 30s;
constexpr int exit_killed = 128 + SIGKILL;

struct Outcome {
    int exit_code = -1;
    std::string out;
    std::string err;
};

/// Runs `centaur-sandbox-runner run <flags> -- <argv>` to completion (bounded).
Outcome run_in_sandbox(std::vector<std::string> flags, std::vector<std::string> argv,
                       std::map<std::string, std::string> env = {}) {
    std::vector<std::string> args{test_support::bin_path("centaur-sandbox-runner"), "run"};
    args.insert(args.end(), flags.begin(), flags.end());
    args.push_back("--");
    args.insert(args.end(), argv.begin(), argv.end());
    ChildProcess runner(args, env);
    auto code = runner.wait_for_exit(run_timeout);
    EXPECT_TRUE(code.has_value()) << "runner did not finish: " << runner.stderr_text();
    return Outcome{code.value_or(-1), runner.stdout_text(), runner.stderr_text()};
}

Outcome run_shell(const std::string& script, std::vector<std::string> flags = {},
                  std::map<std::string, std::string> env = {}) {
    return run_in_sandbox(std::move(flags), {"/bin/bash", "-c", script}, std::move(env));
}

std::string unique_token() {
    std::random_device rd;
    return std::to_string(::getpid()) + "-" + std::to_string(rd());
}

class SandboxIsolation : public ::testing::Test {
protected:
    void SetUp() override {
        scratch_ = fs::temp_directory_path() / ("centaur-sandbox-e2e-" + unique_token());
        fs::create_directories(scratch_);
    }
    void TearDown() override { fs::remove_all(scratch_); }
    fs::path scratch_;
};

TEST_F(SandboxIsolation, ProbeReportsWhichLimitsAreEnforced) {
    ChildProcess probe({test_support::bin_path("centaur-sandbox-runner"), "probe"});
    ASSERT_EQ(probe.wait_for_exit(run_timeout), 0) << probe.stdout_text() << probe.stderr_text();
    const auto report = probe.stdout_text();
    EXPECT_THAT(report, HasSubstr("isolation: bubblewrap"));
    EXPECT_THAT(report, HasSubstr("enforced: namespaces: user, pid, ipc, uts, net"));
    EXPECT_THAT(report, HasSubstr("enforced: uid "));
    EXPECT_THAT(report, HasSubstr("enforced: processes: "));
    EXPECT_THAT(report, HasSubstr("enforced: memory: "));
}

TEST_F(SandboxIsolation, CannotSeeHostFilesOutsideItsBinds) {
    const fs::path host_file = scratch_ / "host-only.txt";
    std::ofstream(host_file) << "host data\n";
    std::string script;
    for (const std::string& path : {host_file.string(), scratch_.string(), std::string("/root"), std::string("/home"),
                                   std::string("/etc/shadow"), std::string("/etc/passwd"), std::string("/var"),
                                   std::string("/work"), fs::current_path().string()})
        script += "if [ -e '" + path + "' ]; then echo 'VISIBLE " + path + "'; else echo 'hidden " + path + "'; fi; ";
    script += "echo done";
    const auto r = run_shell(script);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_THAT(r.out, HasSubstr("done"));
    EXPECT_THAT(r.out, Not(HasSubstr("VISIBLE"))) << r.out;
    EXPECT_THAT(r.out, HasSubstr("hidden " + host_file.string()));
}

TEST_F(SandboxIsolation, CannotReachTheNetwork) {
    // A listener on the host's loopback: the sandbox's loopback is its own, so nothing must arrive here.
    const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    ASSERT_GE(listener, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ASSERT_EQ(::listen(listener, 8), 0);
    socklen_t len = sizeof addr;
    ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len);
    const std::string port = std::to_string(ntohs(addr.sin_port));

    const auto r = run_shell(
        "for target in 127.0.0.1/" + port + " 1.1.1.1/80 10.0.0.1/80; do "
        "  if (echo hi > /dev/tcp/$target) 2>/dev/null; then echo CONNECTED $target; else echo blocked $target; fi; "
        "done; echo interfaces $(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ')");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_THAT(r.out, Not(HasSubstr("CONNECTED"))) << r.out;
    EXPECT_THAT(r.out, HasSubstr("blocked 1.1.1.1/80"));
    EXPECT_THAT(r.out, HasSubstr("interfaces lo\n"));
    EXPECT_LT(::accept(listener, nullptr, nullptr), 0) << "a connection from the sandbox reached the host";
    ::close(listener);
}

TEST_F(SandboxIsolation, CannotSeeTheHostsEnvironmentSecrets) {
    const std::string secret = "sk-host-secret-" + unique_token();
    // The script names the secret only in two halves, so its own command line can't match.
    const auto half = secret.size() / 2;
    const auto r = run_shell("env; cat /proc/[0-9]*/environ 2>/dev/null | tr '\\0' '\\n'; a='" + secret.substr(0, half) +
                                 "'; b='" + secret.substr(half) + "'; grep -rls \"$a$b\" /etc /tmp /workspace /dev "
                                 "2>/dev/null; echo done",
                             {}, {{"OPENAI_API_KEY", secret}, {"CENTAUR_TEST_SECRET", secret}});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_THAT(r.out, HasSubstr("HOME=/workspace"));
    EXPECT_THAT(r.out, HasSubstr("done"));
    EXPECT_THAT(r.out, Not(HasSubstr(secret)));
    EXPECT_THAT(r.out, Not(HasSubstr("OPENAI_API_KEY")));
}

TEST_F(SandboxIsolation, ModelRequestsLeaveOnlyThroughTheGatewayWhichAddsTheRealKey) {
    // A stand-in model server on the host's loopback records what reaches it and answers without echoing it.
    const fs::path record = scratch_ / "received.txt";
    ChildProcess fake({"/usr/bin/python3", test_support::source_path("tests/e2e/fixtures/recording_server.py"),
                       record.string()});
    ASSERT_TRUE(fake.wait_for_stdout("\n", run_timeout)) << fake.stderr_text();
    const std::string port = fake.stdout_text().substr(0, fake.stdout_text().find('\n'));
    const std::string secret = "sk-real-" + unique_token();
    const auto half = secret.size() / 2;
    const auto r = run_shell(
        "env | sort; cat /proc/[0-9]*/environ 2>/dev/null | tr '\\0' '\\n'; a='" + secret.substr(0, half) + "'; b='" +
            secret.substr(half) +
            "'; grep -rls \"$a$b\" /etc /tmp /workspace /run /dev 2>/dev/null; "
            "curl -sS -H \"Authorization: Bearer $OPENAI_API_KEY\" -d ping http://model.internal/v1/responses; "
            "curl -sS http://other.example/; echo; curl -sS -p https://model.internal/ 2>&1 | head -1; "
            "if (echo > /dev/tcp/127.0.0.1/" + port + ") 2>/dev/null; then echo DIRECT; else echo no-direct-route; fi",
        {"--model-upstream", "http://127.0.0.1:" + port}, {{"OPENAI_API_KEY", secret}});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_THAT(r.out, Not(HasSubstr(secret))) << "the real key is visible inside the sandbox";
    EXPECT_THAT(r.out, HasSubstr("OPENAI_API_KEY=OPENAI_API_KEY\n"));
    EXPECT_THAT(r.out, HasSubstr("HTTP_PROXY=http://127.0.0.1:18999"));
    EXPECT_THAT(r.out, HasSubstr("recorded"));
    EXPECT_THAT(r.out, HasSubstr("http://other.example:80 refused (host not allowed)"));
    EXPECT_THAT(r.out, HasSubstr("CONNECT tunnel failed, response 403"));
    EXPECT_THAT(r.out, HasSubstr("no-direct-route"));
    EXPECT_EQ(test_support::read_file(record.string()), "/v1/responses Bearer " + secret + " ping\n");
}

TEST_F(SandboxIsolation, TheGatewayReachesAnHttpsUpstreamAndVerifiesItsCertificate) {
    const fs::path key = scratch_ / "key.pem";
    const fs::path cert = scratch_ / "cert.pem";
    ChildProcess openssl({"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                          "/CN=localhost", "-addext", "subjectAltName=DNS:localhost", "-keyout", key.string(), "-out",
                          cert.string()});
    ASSERT_EQ(openssl.wait_for_exit(run_timeout), 0) << openssl.stderr_text();
    const fs::path record = scratch_ / "received.txt";
    ChildProcess fake({"/usr/bin/python3", test_support::source_path("tests/e2e/fixtures/recording_server.py"),
                       record.string(), cert.string(), key.string()});
    ASSERT_TRUE(fake.wait_for_stdout("\n", run_timeout)) << fake.stderr_text();
    const std::string upstream = "https://localhost:" + fake.stdout_text().substr(0, fake.stdout_text().find('\n'));
    const std::string secret = "sk-tls-" + unique_token();
    const std::string call =
        "curl -sS -H \"Authorization: Bearer $OPENAI_API_KEY\" -d x http://model.internal/v1/responses";

    const auto trusted = run_shell(call, {"--model-upstream", upstream, "--upstream-ca-file", cert.string()},
                                   {{"OPENAI_API_KEY", secret}});
    EXPECT_EQ(trusted.exit_code, 0) << trusted.err;
    EXPECT_EQ(trusted.out, "recorded\n");
    EXPECT_EQ(test_support::read_file(record.string()), "/v1/responses Bearer " + secret + " x\n");

    // Without the CA the certificate does not verify: the gateway answers 502 and sends nothing.
    const auto untrusted = run_shell(call, {"--model-upstream", upstream}, {{"OPENAI_API_KEY", secret}});
    EXPECT_THAT(untrusted.out, HasSubstr("TLS to the upstream failed"));
    EXPECT_EQ(test_support::read_file(record.string()), "/v1/responses Bearer " + secret + " x\n");
}

TEST_F(SandboxIsolation, CannotExceedItsProcessLimit) {
    constexpr int pids_limit = 16;
    const std::string bomb =
        "import os, time\n"
        "n = 0\n"
        "try:\n"
        "    while n < 200:\n"
        "        if os.fork() == 0:\n"
        "            time.sleep(30)\n"
        "            os._exit(0)\n"
        "        n += 1\n"
        "    print('unbounded', n)\n"
        "except OSError as e:\n"
        "    print('blocked after', n, 'forks:', e.strerror)\n";
    const auto r = run_in_sandbox({"--pids-limit", std::to_string(pids_limit)}, {"/usr/bin/python3", "-c", bomb});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_THAT(r.out, HasSubstr("blocked after"));
    EXPECT_THAT(r.out, Not(HasSubstr("unbounded")));
    std::istringstream words(r.out.substr(r.out.find("blocked after") + std::string("blocked after").size()));
    int forks = -1;
    words >> forks;
    EXPECT_GE(forks, 1);
    EXPECT_LT(forks, pids_limit);
}

TEST_F(SandboxIsolation, CannotWriteOutsideItsWorkspace) {
    const fs::path workspace = scratch_ / "ws";
    fs::create_directories(workspace);
    fs::permissions(workspace, fs::perms::all);  // the sandbox uid writes here
    const std::string tmp_name = "centaur-private-tmp-" + unique_token();
    std::string script;
    for (const std::string path : {"/usr/x", "/x", "/etc/x", "/bin/x", "/proc/sys/kernel/hostname", "/proc/x"})
        script += "if (echo x > " + path + ") 2>/dev/null; then echo WROTE " + path + "; else echo refused " + path +
                  "; fi; ";
    script += "echo inside > /workspace/result.txt && echo wrote-workspace; echo t > /tmp/" + tmp_name +
              " && echo wrote-private-tmp";
    const auto r = run_shell(script, {"--workspace", workspace.string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_THAT(r.out, Not(HasSubstr("WROTE"))) << r.out;
    EXPECT_THAT(r.out, HasSubstr("refused /usr/x"));
    EXPECT_THAT(r.out, HasSubstr("wrote-workspace"));
    EXPECT_THAT(r.out, HasSubstr("wrote-private-tmp"));
    EXPECT_EQ(test_support::read_file((workspace / "result.txt").string()), "inside\n");
    EXPECT_FALSE(fs::exists(fs::path("/tmp") / tmp_name)) << "the sandbox's /tmp is the host's";
    EXPECT_FALSE(fs::exists("/x"));
}

/// Host uids (from /proc/<pid>/status) of the sandboxed processes whose command line contains `token` (the
/// runner itself, root, names it too and is left out).
std::vector<long> host_uids_of(const std::string& token) {
    std::vector<long> uids;
    for (const auto& e : fs::directory_iterator("/proc")) {
        std::ifstream f(e.path() / "cmdline");
        std::string cmd((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
        if (cmd.find(token) == std::string::npos || cmd.find("centaur-sandbox-runner") != std::string::npos) continue;
        std::ifstream status(e.path() / "status");
        for (std::string line; std::getline(status, line);) {
            if (line.rfind("Uid:", 0) != 0) continue;
            std::istringstream fields(line.substr(4));
            long real = -1, effective = -1;
            fields >> real >> effective;
            uids.push_back(real);
            uids.push_back(effective);
        }
    }
    return uids;
}

TEST_F(SandboxIsolation, RunsAsANonRootHostUid) {
    const std::string token = "1000." + std::to_string(::getpid()) + std::to_string(std::random_device{}() % 10000);
    ChildProcess runner({test_support::bin_path("centaur-sandbox-runner"), "run", "--", "/bin/sh", "-c",
                         "echo uid $(id -u); exec sleep " + token});
    ASSERT_TRUE(runner.wait_for_stdout("uid ", run_timeout)) << runner.stderr_text();
    EXPECT_THAT(runner.stdout_text(), Not(HasSubstr("uid 0\n")));
    std::vector<long> uids;
    const auto deadline = std::chrono::steady_clock::now() + run_timeout;
    while ((uids = host_uids_of(token)).empty() && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(10ms);
    ASSERT_FALSE(uids.empty());
    for (const long uid : uids) EXPECT_NE(uid, 0) << "a sandbox process runs as host root";
    if (::geteuid() == 0) {
        // The runner is root: it must have dropped to the dedicated account.
        ChildProcess id({"id", "-u", "centaur-sandbox"});
        ASSERT_EQ(id.wait_for_exit(run_timeout), 0);
        for (const long uid : uids) EXPECT_EQ(std::to_string(uid) + "\n", id.stdout_text());
    }
}

TEST_F(SandboxIsolation, MemoryHogIsKilledWithAClearReason) {
    const auto r = run_in_sandbox({"--memory-limit-bytes", std::to_string(64 << 20)},
                                  {"/usr/bin/python3", "-c", "b = bytearray(512 << 20); print('allocated')"});
    EXPECT_EQ(r.exit_code, exit_killed) << r.out << r.err;
    EXPECT_THAT(r.out, Not(HasSubstr("allocated")));
    EXPECT_THAT(r.err, HasSubstr("memory limit of 67108864 bytes exceeded"));
}

TEST_F(SandboxIsolation, WallClockLimitKillsTheTree) {
    const auto started = std::chrono::steady_clock::now();
    const auto r = run_shell("sleep 30 & sleep 30; echo survived", {"--max-lifetime-secs", "1"});
    EXPECT_EQ(r.exit_code, exit_killed) << r.out << r.err;
    EXPECT_LT(std::chrono::steady_clock::now() - started, 10s);
    EXPECT_THAT(r.out, Not(HasSubstr("survived")));
    EXPECT_THAT(r.err, HasSubstr("max lifetime of 1 s exceeded"));
}

TEST_F(SandboxIsolation, ACrashedRunnersSandboxDiesAndItsGroupsAreReaped) {
    const std::string token = "1000." + std::to_string(::getpid()) + std::to_string(std::random_device{}() % 10000);
    ChildProcess runner({test_support::bin_path("centaur-sandbox-runner"), "run", "--", "/bin/sh", "-c",
                         "sleep " + token + " & echo started; sleep " + token});
    ASSERT_TRUE(runner.wait_for_stdout("started", run_timeout)) << runner.stderr_text();
    const std::string group = "runner-" + std::to_string(runner.pid()) + "-";
    auto groups_left = [&] {
        int n = 0;
        std::error_code ec;
        for (const auto& e : fs::directory_iterator("/sys/fs/cgroup/pids/centaur", ec))
            if (e.path().filename().string().rfind(group, 0) == 0) ++n;
        return n;
    };
    auto sleepers = [&] {
        int n = 0;
        for (const auto& e : fs::directory_iterator("/proc")) {
            std::ifstream f(e.path() / "cmdline");
            std::string cmd((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
            if (cmd.find(token) != std::string::npos) ++n;
        }
        return n;
    };
    EXPECT_GE(sleepers(), 2);
    runner.kill(SIGKILL);
    ASSERT_TRUE(runner.wait_for_exit(run_timeout).has_value());
    const auto deadline = std::chrono::steady_clock::now() + run_timeout;
    while (sleepers() > 0 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(20ms);
    EXPECT_EQ(sleepers(), 0) << "sandbox processes outlived their runner";

    ChildProcess reaper({test_support::bin_path("centaur-sandbox-runner"), "reap"});
    ASSERT_EQ(reaper.wait_for_exit(run_timeout), 0) << reaper.stderr_text();
    EXPECT_THAT(reaper.stdout_text(), ::testing::MatchesRegex("reaped [0-9]+\n"));
    EXPECT_EQ(groups_left(), 0) << "the dead runner's cgroups are still there";
}

namespace json = boost::json;
using test_support::ServerProcess;
using test_support::TestDatabase;

constexpr auto event_timeout = 30s;

/// (event_type, payload) of a thread's projected events, in order.
std::vector<std::pair<std::string, json::object>> thread_events(const std::string& database_url,
                                                                const std::string& thread_key) {
    pqxx::connection conn(database_url);
    pqxx::work tx(conn);
    std::vector<std::pair<std::string, json::object>> events;
    for (const auto& row : tx.exec_params("select event_type, data from session_events "
                                          "where thread_key = $1 order by seq",
                                          thread_key)) {
        auto payload = json::parse(row[1].c_str());
        events.emplace_back(row[0].c_str(), payload.is_object() ? payload.as_object() : json::object{});
    }
    return events;
}

/// Polls until the thread has `count` events of `type` (bounded); returns the thread's events.
std::vector<std::pair<std::string, json::object>> wait_for_events(const std::string& database_url,
                                                                  const std::string& thread_key,
                                                                  const std::string& type, std::size_t count = 1) {
    const auto deadline = std::chrono::steady_clock::now() + event_timeout;
    for (;;) {
        auto events = thread_events(database_url, thread_key);
        std::size_t seen = 0;
        for (const auto& e : events) seen += e.first == type;
        if (seen >= count || std::chrono::steady_clock::now() >= deadline) return events;
        std::this_thread::sleep_for(50ms);
    }
}

std::vector<json::object> of_type(const std::vector<std::pair<std::string, json::object>>& events,
                                  const std::string& type) {
    std::vector<json::object> out;
    for (const auto& [t, payload] : events)
        if (t == type) out.push_back(payload);
    return out;
}

class SandboxLifecycle : public ::testing::Test {
protected:
    /// Creates the session and asks for one mock turn; returns the execution id.
    std::string execute(ServerProcess& server, const std::string& thread, const std::string& key,
                        const std::string& extra = "") {
        const std::string url = server.url() + "/api/session/" + thread;
        auto created = test_support::http_request("POST", url, R"({"harness_type":"codex"})");
        EXPECT_EQ(created.status, 200) << created.body;
        auto r = test_support::http_request("POST", url + "/execute",
                                            R"({"idempotency_key":")" + key +
                                                R"(","input_lines":["{\"type\":\"user\"}"])" + extra + "}");
        EXPECT_EQ(r.status, 200) << r.body;
        return r.status == 200 ? std::string(json::parse(r.body).at("execution_id").as_string()) : "";
    }
    TestDatabase db_;
};

TEST_F(SandboxLifecycle, CreatedOnFirstTurnReusedPausedThenDestroyedAfterTheHotIdleGrace) {
    ServerProcess server(db_.url(), {{"SESSION_SANDBOX_HOT_IDLE_GRACE_SECS", "1"}, {"CENTAUR_MOCK_DELAY_MS", "1"}});
    const std::string thread = "cli:" + std::string(32, 'a');
    execute(server, thread, "t1", R"(,"idle_timeout_ms":60000)");
    auto events = wait_for_events(db_.url(), thread, "session.execution_completed");
    execute(server, thread, "t2", R"(,"idle_timeout_ms":300)");
    events = wait_for_events(db_.url(), thread, "session.sandbox_stopped");

    const auto ready = of_type(events, "session.sandbox_ready");
    ASSERT_EQ(ready.size(), 2U) << server.logs();
    EXPECT_EQ(ready[0].at("sandbox_ready_source").as_string(), "cold_create");
    EXPECT_EQ(ready[1].at("sandbox_ready_source").as_string(), "reused");
    EXPECT_EQ(ready[0].at("sandbox_id"), ready[1].at("sandbox_id"));
    const auto paused = of_type(events, "session.sandbox_paused");
    ASSERT_EQ(paused.size(), 1U) << server.logs();
    const auto stopped = of_type(events, "session.sandbox_stopped");
    ASSERT_EQ(stopped.size(), 1U) << server.logs();
    EXPECT_EQ(stopped[0].at("reason").as_string(), "hot_idle_grace");
    EXPECT_EQ(stopped[0].at("sandbox_id"), ready[0].at("sandbox_id"));

    // The next turn starts a fresh sandbox.
    execute(server, thread, "t3");
    events = wait_for_events(db_.url(), thread, "session.execution_completed", 3);
    const auto ready_after = of_type(events, "session.sandbox_ready");
    ASSERT_EQ(ready_after.size(), 3U) << server.logs();
    EXPECT_EQ(ready_after[2].at("sandbox_ready_source").as_string(), "cold_create");
    EXPECT_NE(ready_after[2].at("sandbox_id"), ready[0].at("sandbox_id"));
}

TEST_F(SandboxLifecycle, ATurnWhoseKeptSandboxNoLongerTakesInputStartsOverOnceInANewSandboxAndCompletes) {
    // deaf: every sandbox answers its first request, then stops taking stdin while it lives on.
    ServerProcess server(db_.url(), {{"CENTAUR_MOCK_MODE", "deaf"}, {"CENTAUR_MOCK_DELAY_MS", "1"}});
    const std::string thread = "cli:" + std::string(32, 'd');
    const auto first = execute(server, thread, "t1", R"(,"idle_timeout_ms":60000)");
    wait_for_events(db_.url(), thread, "session.execution_completed");
    const auto second = execute(server, thread, "t2", R"(,"idle_timeout_ms":60000)");
    const auto events = wait_for_events(db_.url(), thread, "session.execution_completed", 2);

    ASSERT_EQ(of_type(events, "session.execution_completed").size(), 2U) << server.logs();
    EXPECT_TRUE(of_type(events, "session.execution_failed").empty()) << server.logs();
    const auto ready = of_type(events, "session.sandbox_ready");
    ASSERT_EQ(ready.size(), 3U) << server.logs();
    EXPECT_EQ(ready[0].at("execution_id").as_string(), first);
    EXPECT_EQ(ready[1].at("sandbox_ready_source").as_string(), "reused");
    EXPECT_EQ(ready[1].at("sandbox_id"), ready[0].at("sandbox_id"));
    EXPECT_EQ(ready[2].at("execution_id").as_string(), second);
    EXPECT_EQ(ready[2].at("sandbox_ready_source").as_string(), "cold_create");
    EXPECT_NE(ready[2].at("sandbox_id"), ready[0].at("sandbox_id"));
    const auto stopped = of_type(events, "session.sandbox_stopped");
    ASSERT_EQ(stopped.size(), 1U) << server.logs();
    EXPECT_EQ(stopped[0].at("reason").as_string(), "lost");
    EXPECT_EQ(stopped[0].at("execution_id").as_string(), second);
    EXPECT_EQ(stopped[0].at("sandbox_id"), ready[0].at("sandbox_id"));

    // The new sandbox is deaf after its answer too, and the third turn is its second chance: the chance is per
    // execution, not spent for the thread.
    execute(server, thread, "t3", R"(,"idle_timeout_ms":60000)");
    const auto later = wait_for_events(db_.url(), thread, "session.execution_completed", 3);
    EXPECT_EQ(of_type(later, "session.execution_completed").size(), 3U) << server.logs();
    EXPECT_TRUE(of_type(later, "session.execution_failed").empty()) << server.logs();
}

TEST_F(SandboxLifecycle, AWarmPoolSandboxServesTheFirstTurn) {
    ServerProcess server(db_.url(), {{"SESSION_SANDBOX_WARM_POOL_SIZE", "1"}, {"CENTAUR_MOCK_DELAY_MS", "1"}});
    const auto deadline = std::chrono::steady_clock::now() + event_timeout;
    while (server.logs().find("warm pool: 1 of 1 ready") == std::string::npos &&
           std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(20ms);
    const std::string thread = "cli:" + std::string(32, 'e');
    execute(server, thread, "t1");
    const auto events = wait_for_events(db_.url(), thread, "session.execution_completed");
    const auto ready = of_type(events, "session.sandbox_ready");
    ASSERT_EQ(ready.size(), 1U) << server.logs();
    EXPECT_EQ(ready[0].at("sandbox_ready_source").as_string(), "warm_pool");
    EXPECT_EQ(of_type(events, "session.execution_completed").size(), 1U);
}

TEST_F(SandboxLifecycle, AWallClockKilledTurnEndsWithOneTerminalEventNamingTheLimit) {
    ServerProcess server(db_.url(), {{"SESSION_SANDBOX_MAX_LIFETIME_SECS", "1"}, {"CENTAUR_MOCK_MODE", "hang"}});
    const std::string thread = "cli:" + std::string(32, 'b');
    const auto execution = execute(server, thread, "t1");
    auto events = wait_for_events(db_.url(), thread, "session.sandbox_stopped");
    const auto failed = of_type(events, "session.execution_failed");
    ASSERT_EQ(failed.size(), 1U) << server.logs();
    EXPECT_EQ(failed[0].at("execution_id").as_string(), execution);
    EXPECT_EQ(failed[0].at("reason").as_string(), "sandbox_limit");
    EXPECT_THAT(std::string(failed[0].at("error").as_string()), HasSubstr("max lifetime of 1 s exceeded"));
    EXPECT_EQ(of_type(events, "session.execution_completed").size() + of_type(events, "session.execution_cancelled").size(),
              0U);
    const auto stopped = of_type(events, "session.sandbox_stopped");
    ASSERT_EQ(stopped.size(), 1U);
    EXPECT_EQ(stopped[0].at("reason").as_string(), "limit_exceeded");
}

TEST_F(SandboxLifecycle, TwentyConcurrentThreadsUnderARunningLimitOfFourAllComplete) {
    constexpr int threads = 20;
    ServerProcess server(db_.url(), {{"SESSION_SANDBOX_RUNNING_LIMIT", "4"},
                                     {"SESSION_SANDBOX_HOT_IDLE_GRACE_SECS", "1"},
                                     {"CENTAUR_MOCK_DELAY_MS", "5"}});
    std::vector<std::string> keys;
    for (int i = 0; i < threads; ++i) {
        std::ostringstream key;
        key << "cli:" << std::setw(32) << std::setfill('0') << i;
        keys.push_back(key.str());
        // A short idle timeout pauses each sandbox soon and the grace destroys it, freeing its slot.
        execute(server, keys.back(), "t1", R"(,"idle_timeout_ms":100)");
    }
    for (const auto& key : keys) {
        auto events = wait_for_events(db_.url(), key, "session.execution_completed");
        EXPECT_EQ(of_type(events, "session.execution_completed").size(), 1U) << key << "\n" << server.logs();
        EXPECT_EQ(of_type(events, "session.execution_failed").size(), 0U) << key;
    }
    EXPECT_THAT(server.logs(), HasSubstr("queued")) << "the running limit never queued a create";
}

TEST_F(SandboxLifecycle, ASecondThreadOverARunningLimitOfOneIsQueuedBeforeItsSandboxIsReady) {
    // Turns hang until interrupted: the first thread holds the only slot until its sandbox is destroyed.
    ServerProcess server(db_.url(), {{"SESSION_SANDBOX_RUNNING_LIMIT", "1"},
                                     {"SESSION_SANDBOX_HOT_IDLE_GRACE_SECS", "1"},
                                     {"CENTAUR_MOCK_MODE", "hang"}});
    const std::string first = "cli:" + std::string(32, '5');
    const std::string second = "cli:" + std::string(32, '6');
    execute(server, first, "t1", R"(,"idle_timeout_ms":100)");
    auto first_events = wait_for_events(db_.url(), first, "session.sandbox_ready");
    ASSERT_EQ(of_type(first_events, "session.sandbox_ready").size(), 1U) << server.logs();
    const auto execution = execute(server, second, "t1");
    auto events = wait_for_events(db_.url(), second, "session.sandbox_queued");
    const auto queued = of_type(events, "session.sandbox_queued");
    ASSERT_EQ(queued.size(), 1U) << server.logs();
    EXPECT_EQ(queued[0].at("execution_id").as_string(), execution);
    EXPECT_EQ(queued[0].at("position").to_number<int>(), 1);
    EXPECT_EQ(queued[0].at("limit").to_number<int>(), 1);
    EXPECT_EQ(queued[0].at("running").to_number<int>(), 1);
    EXPECT_TRUE(of_type(events, "session.sandbox_ready").empty()) << "ready before its slot was free";

    // The first turn is interrupted; its sandbox is paused, destroyed after the grace, and the slot passes on.
    auto interrupt = test_support::http_request("POST", server.url() + "/api/session/" + first + "/interrupt", "{}");
    ASSERT_EQ(interrupt.status, 200) << interrupt.body;
    events = wait_for_events(db_.url(), second, "session.sandbox_ready");
    std::vector<std::string> order;
    for (const auto& [type, payload] : events)
        if (type == "session.execution_started" || type == "session.sandbox_queued" || type == "session.sandbox_ready")
            order.push_back(type);
    EXPECT_EQ(order, (std::vector<std::string>{"session.execution_started", "session.sandbox_queued",
                                               "session.sandbox_ready"}))
        << server.logs();
    first_events = thread_events(db_.url(), first);
    ASSERT_EQ(of_type(first_events, "session.sandbox_stopped").size(), 1U);
    EXPECT_EQ(of_type(first_events, "session.sandbox_stopped")[0].at("reason").as_string(), "hot_idle_grace");
    EXPECT_TRUE(of_type(first_events, "session.sandbox_queued").empty()) << "the first create did not wait";
}

/// Sandbox groups (pids hierarchy) of the runner process `pid`: `runner-<pid>-*/<sandbox id>`.
int sandbox_groups_of(pid_t pid) {
    int n = 0;
    std::error_code ec;
    const std::string prefix = "runner-" + std::to_string(pid) + "-";
    for (const auto& runner : fs::directory_iterator("/sys/fs/cgroup/pids/centaur", ec)) {
        if (runner.path().filename().string().rfind(prefix, 0) != 0) continue;
        for (const auto& sandbox : fs::directory_iterator(runner.path(), ec)) n += sandbox.is_directory();
    }
    return n;
}

TEST_F(SandboxLifecycle, ServerKilledMidTurnEndsTheTurnOnceAndItsOrphanIsReaped) {
    if (!fs::exists("/sys/fs/cgroup/pids/centaur")) GTEST_SKIP() << "no pids cgroup hierarchy for sandboxes here";
    ServerProcess server(db_.url(), {{"CENTAUR_MOCK_MODE", "hang"}});
    const std::string thread = "cli:" + std::string(32, 'd');
    const auto execution = execute(server, thread, "t1");
    wait_for_events(db_.url(), thread, "session.output.line", 3);
    const pid_t old_pid = server.pid();
    EXPECT_EQ(sandbox_groups_of(old_pid), 1);

    server.kill9();
    server.restart();
    auto events = wait_for_events(db_.url(), thread, "session.execution_failed");
    const auto failed = of_type(events, "session.execution_failed");
    ASSERT_EQ(failed.size(), 1U) << server.logs();
    EXPECT_EQ(failed[0].at("execution_id").as_string(), execution);
    EXPECT_EQ(failed[0].at("reason").as_string(), "orphaned");
    EXPECT_EQ(of_type(events, "session.execution_completed").size() + of_type(events, "session.execution_cancelled").size(),
              0U);
    EXPECT_EQ(sandbox_groups_of(old_pid), 0) << "the dead server's sandbox group was not reaped";
}

/// Completed, failed and cancelled events of a thread.
std::size_t terminal_count(const std::vector<std::pair<std::string, json::object>>& events) {
    return of_type(events, "session.execution_completed").size() + of_type(events, "session.execution_failed").size() +
           of_type(events, "session.execution_cancelled").size();
}

const std::string drain_admin_key = "drain-admin-key";
const std::string drain_slack_key = "drain-slack-key";
const std::string drain_jwt_secret = "drain-jwt-secret";

std::map<std::string, std::string> bearer(const std::string& token) { return {{"Authorization", "Bearer " + token}}; }

std::string jwt(const std::string& sub, const std::string& token_use) {
    const auto exp = std::to_string(std::time(nullptr) + 300);
    return ingest::sign_hs256_jwt(R"({"alg":"HS256","typ":"JWT"})",
                                  R"({"sub":")" + sub + R"(","token_use":")" + token_use +
                                      R"(","aud":"centaur-api","iss":"centaur-console","exp":)" + exp + "}",
                                  drain_jwt_secret);
}

/// POST /api/sandboxes/drain: the API process records the drain, a processor in another process (CENTAUR_ROLES)
/// applies it through Postgres.
class SandboxDrain : public SandboxLifecycle {};

TEST_F(SandboxDrain, ApiInOneProcessStopsTheRunningAndPausedSandboxesOfAProcessorInAnother) {
    // Every turn hangs until interrupted; the processor is its own process.
    ServerProcess processor(db_.url(), {{"CENTAUR_ROLES", "processor"}, {"CENTAUR_MOCK_MODE", "hang"}});
    ServerProcess api(db_.url(), {{"CENTAUR_ROLES", "ingest,api,projector"}});
    const std::string running = "cli:" + std::string(32, '1');
    const std::string paused = "cli:" + std::string(32, '2');

    const auto running_execution = execute(api, running, "t1");
    auto events = wait_for_events(db_.url(), running, "session.output.line", 3);
    ASSERT_EQ(of_type(events, "session.sandbox_ready").size(), 1U) << processor.logs();

    // The second thread's turn is interrupted; its sandbox is paused after the idle timeout and kept.
    execute(api, paused, "t1", R"(,"idle_timeout_ms":100)");
    wait_for_events(db_.url(), paused, "session.output.line", 3);
    auto interrupt = test_support::http_request("POST", api.url() + "/api/session/" + paused + "/interrupt", "{}");
    ASSERT_EQ(interrupt.status, 200) << interrupt.body;
    events = wait_for_events(db_.url(), paused, "session.sandbox_paused");
    ASSERT_EQ(of_type(events, "session.sandbox_paused").size(), 1U) << processor.logs();
    ASSERT_EQ(terminal_count(events), 1U);

    const auto drained = test_support::http_request("POST", api.url() + "/api/sandboxes/drain", "");
    ASSERT_EQ(drained.status, 200) << drained.body << processor.logs();
    const auto body = json::parse(drained.body).as_object();
    EXPECT_EQ(body.at("ok"), json::value(true));
    EXPECT_EQ(body.at("stopped_count").to_number<int>(), 2) << drained.body;
    EXPECT_EQ(body.at("processors").to_number<int>(), 1) << drained.body;
    EXPECT_TRUE(body.at("failed").as_array().empty()) << drained.body;
    std::vector<std::string> stopped;
    for (const auto& id : body.at("stopped").as_array()) stopped.emplace_back(id.as_string());
    std::sort(stopped.begin(), stopped.end());

    // The running turn ended once, naming the drain; both sandboxes were stopped with reason drained.
    auto running_events = wait_for_events(db_.url(), running, "session.sandbox_stopped");
    running_events = wait_for_events(db_.url(), running, "session.execution_failed");
    auto paused_events = wait_for_events(db_.url(), paused, "session.sandbox_stopped");
    const auto failed = of_type(running_events, "session.execution_failed");
    ASSERT_EQ(failed.size(), 1U) << processor.logs();
    EXPECT_EQ(failed[0].at("execution_id").as_string(), running_execution);
    EXPECT_EQ(failed[0].at("reason").as_string(), "drained");
    EXPECT_EQ(failed[0].at("drain_id"), body.at("drain_id"));
    EXPECT_EQ(terminal_count(running_events), 1U);
    EXPECT_EQ(terminal_count(paused_events), 1U) << "the paused thread's turn had ended already";
    std::vector<std::string> expected;
    for (const auto* events_of : {&running_events, &paused_events}) {
        const auto stops = of_type(*events_of, "session.sandbox_stopped");
        ASSERT_EQ(stops.size(), 1U);
        EXPECT_EQ(stops[0].at("reason").as_string(), "drained");
        EXPECT_EQ(stops[0].at("sandbox_id"), of_type(*events_of, "session.sandbox_ready").at(0).at("sandbox_id"));
        expected.emplace_back(stops[0].at("sandbox_id").as_string());
    }
    std::sort(expected.begin(), expected.end());
    EXPECT_EQ(stopped, expected);
    if (fs::exists("/sys/fs/cgroup/pids/centaur")) {
        EXPECT_EQ(sandbox_groups_of(processor.pid()), 0) << "a drained sandbox's cgroup is left";
    }

    // A drain with nothing left stops nothing; the thread's next turn gets a fresh sandbox.
    const auto again = test_support::http_request("POST", api.url() + "/api/sandboxes/drain", "");
    ASSERT_EQ(again.status, 200) << again.body;
    EXPECT_EQ(json::parse(again.body).at("stopped_count").to_number<int>(), 0) << again.body;
    execute(api, running, "t2");
    running_events = wait_for_events(db_.url(), running, "session.sandbox_ready", 2);
    const auto ready = of_type(running_events, "session.sandbox_ready");
    ASSERT_EQ(ready.size(), 2U) << processor.logs();
    EXPECT_EQ(ready[1].at("sandbox_ready_source").as_string(), "cold_create");
}

TEST_F(SandboxDrain, AProcessorThatDoesNotReportInTimeMakesTheDrainAccepted) {
    ServerProcess processor(db_.url(), {{"CENTAUR_ROLES", "processor"}, {"CENTAUR_MOCK_MODE", "hang"}});
    ServerProcess api(db_.url(), {{"CENTAUR_ROLES", "ingest,api,projector"}, {"CENTAUR_SANDBOX_DRAIN_WAIT_MS", "1500"}});
    const std::string thread = "cli:" + std::string(32, '3');
    execute(api, thread, "t1");
    wait_for_events(db_.url(), thread, "session.output.line", 3);
    // A stalled processor is live (its heartbeat is recent) but cannot answer within the wait.
    ASSERT_EQ(::kill(processor.pid(), SIGSTOP), 0);
    const auto drained = test_support::http_request("POST", api.url() + "/api/sandboxes/drain", "");
    ::kill(processor.pid(), SIGCONT);
    ASSERT_EQ(drained.status, 202) << drained.body;
    const auto body = json::parse(drained.body).as_object();
    EXPECT_EQ(body.at("accepted"), json::value(true));
    EXPECT_EQ(body.at("pending_processors").to_number<int>(), 1) << drained.body;
    // Once it runs again it applies the drain all the same.
    const auto events = wait_for_events(db_.url(), thread, "session.execution_failed");
    const auto failed = of_type(events, "session.execution_failed");
    ASSERT_EQ(failed.size(), 1U) << processor.logs();
    EXPECT_EQ(failed[0].at("reason").as_string(), "drained");
    EXPECT_EQ(terminal_count(events), 1U);
}

TEST_F(SandboxDrain, OnlyAdminKeysAndConsoleTokensMayDrainOthersGetJsonErrors) {
    ServerProcess server(db_.url(), {{"CENTAUR_APIRS_ADMIN_API_KEY", drain_admin_key},
                                     {"SLACKBOT_API_KEY", drain_slack_key},
                                     {"CENTAUR_JWT_SIGNING_SECRET", drain_jwt_secret}});
    const std::string url = server.url() + "/api/sandboxes/drain";
    struct Case {
        const char* caller;
        std::map<std::string, std::string> headers;
        int status;
    };
    const std::vector<Case> cases = {
        {"no credential", {}, 401},
        {"unknown key", bearer("not-a-key"), 401},
        {"ingress key", bearer(drain_slack_key), 403},
        {"principal JWT", bearer(jwt("user-7", "user")), 403},
        {"admin key", bearer(drain_admin_key), 200},
        {"console JWT", bearer(jwt("centaur-console", "console_service")), 200},
    };
    for (const auto& c : cases) {
        const auto r = test_support::http_request("POST", url, "", c.headers);
        EXPECT_EQ(r.status, c.status) << c.caller << ": " << r.body;
        const auto body = json::parse(r.body).as_object();
        if (c.status == 200) {
            EXPECT_EQ(body.at("ok"), json::value(true)) << c.caller;
            EXPECT_EQ(body.at("stopped_count").to_number<int>(), 0) << c.caller;
        } else {
            EXPECT_EQ(body.at("ok"), json::value(false)) << c.caller;
            EXPECT_TRUE(body.at("error").is_string()) << c.caller;
        }
    }
    // A refused caller recorded no drain.
    pqxx::connection conn(db_.url());
    pqxx::work tx(conn);
    EXPECT_EQ(tx.exec1("select count(*) from sandbox_drains")[0].as<int>(), 2);
}

/// The raw `data` of a thread's session.output.line events, in order.
std::vector<std::string> output_lines(const std::string& database_url, const std::string& thread_key) {
    pqxx::connection conn(database_url);
    pqxx::work tx(conn);
    std::vector<std::string> lines;
    for (const auto& row : tx.exec_params("select data from session_events where thread_key = $1 and "
                                          "event_type = 'session.output.line' order by seq",
                                          thread_key))
        lines.emplace_back(row[0].c_str());
    return lines;
}

/// The real Codex CLI (`codex app-server`) as the workload, inside bubblewrap, against a fake Responses server on
/// the host's loopback reached only through the egress gateway.
class SandboxCodex : public SandboxLifecycle {
protected:
    void SetUp() override {
        const auto codex = fs::path(test_support::bin_path("centaur-api-server")).parent_path().parent_path() /
                           "codex/node_modules/@openai/codex-linux-x64/vendor/x86_64-unknown-linux-musl/bin/codex";
        if (!fs::exists(codex)) GTEST_SKIP() << "codex is not installed (scripts/install-codex <build dir>)";
        scratch_ = fs::temp_directory_path() / ("centaur-codex-e2e-" + unique_token());
        fs::create_directories(scratch_);
        record_ = scratch_ / "requests.jsonl";
        fake_ = std::make_unique<ChildProcess>(std::vector<std::string>{
            "/usr/bin/python3", test_support::source_path("tests/e2e/fixtures/fake_responses_server.py"),
            record_.string()});
        ASSERT_TRUE(fake_->wait_for_stdout("\n", run_timeout)) << fake_->stderr_text();
        port_ = fake_->stdout_text().substr(0, fake_->stdout_text().find('\n'));
    }
    void TearDown() override {
        fake_.reset();
        if (!scratch_.empty()) fs::remove_all(scratch_);
    }
    fs::path scratch_;
    fs::path record_;
    std::string port_;
    std::unique_ptr<ChildProcess> fake_;
};

std::string user_line(const std::string& text) {
    const std::string inner = json::serialize(json::object{
        {"type", "user"}, {"message", json::object{{"content", json::array{json::object{{"type", "text"}, {"text", text}}}}}}});
    return json::serialize(json::value(inner));  // as a JSON string inside input_lines
}

TEST_F(SandboxCodex, PongTurnExecCommandAndInterruptStreamAsOutputLinesWithTheKeyOnlyAtTheGateway) {
    const std::string secret = "sk-codex-real-" + unique_token();
    ServerProcess server(db_.url(), {{"SESSION_SANDBOX_WORKLOAD", "codex-app-server"},
                                     {"CENTAUR_MODEL_UPSTREAM_URL", "http://127.0.0.1:" + port_},
                                     {"OPENAI_API_KEY", secret}});
    const std::string thread = "cli:" + std::string(32, 'c');
    const std::string url = server.url() + "/api/session/" + thread;
    ASSERT_EQ(test_support::http_request("POST", url, R"({"harness_type":"codex"})").status, 200);
    auto run_turn = [&](const std::string& key, const std::string& text) {
        auto r = test_support::http_request(
            "POST", url + "/execute",
            R"({"idempotency_key":")" + key + R"(","max_duration_ms":60000,"input_lines":[)" + user_line(text) + "]}");
        EXPECT_EQ(r.status, 200) << r.body;
    };

    run_turn("pong", "Reply with exactly PONG and nothing else.");
    auto events = wait_for_events(db_.url(), thread, "session.execution_completed");
    ASSERT_EQ(of_type(events, "session.execution_completed").size(), 1U) << server.logs();
    EXPECT_EQ(of_type(events, "session.execution_completed")[0].at("result_text").as_string(), "PONG");

    run_turn("exec", "run: echo sandboxed-$((6*7)) as $(id -u)");
    events = wait_for_events(db_.url(), thread, "session.execution_completed", 2);
    const auto completed = of_type(events, "session.execution_completed");
    ASSERT_EQ(completed.size(), 2U) << server.logs();
    EXPECT_THAT(std::string(completed[1].at("result_text").as_string()), HasSubstr("DONE: sandboxed-42 as "));
    EXPECT_THAT(std::string(completed[1].at("result_text").as_string()), Not(HasSubstr("as 0")));
    bool command_output = false;
    for (const auto& line : output_lines(db_.url(), thread))
        command_output |= line.find("\"commandExecution\"") != std::string::npos &&
                          line.find("sandboxed-42") != std::string::npos;
    EXPECT_TRUE(command_output) << "the command's output never streamed as an output line";

    run_turn("hang", "hang until interrupted");
    // Interrupt once the turn started and its model request is hanging at the model server (codex announces
    // turn/started before it sends the request: interrupting at turn/started alone may beat the request).
    const auto record_lines = [&] {
        const auto text = test_support::read_file(record_.string());
        return std::count(text.begin(), text.end(), '\n');
    };
    const auto deadline = std::chrono::steady_clock::now() + event_timeout;
    bool turn_started = false;
    while (!turn_started && std::chrono::steady_clock::now() < deadline) {
        const auto lines = output_lines(db_.url(), thread);
        int started = 0;
        for (const auto& line : lines) started += line.find("\"method\":\"turn/started\"") != std::string::npos;
        turn_started = started >= 3 && record_lines() >= 4;
        if (!turn_started) std::this_thread::sleep_for(50ms);
    }
    ASSERT_TRUE(turn_started) << "model requests recorded: " << record_lines() << "\n" << server.logs();
    EXPECT_EQ(test_support::http_request("POST", url + "/interrupt", "").status, 200);
    events = wait_for_events(db_.url(), thread, "session.execution_cancelled");
    EXPECT_EQ(of_type(events, "session.execution_cancelled").size(), 1U) << server.logs();
    EXPECT_EQ(of_type(events, "session.execution_failed").size(), 0U) << server.logs();

    // The key reached the model server on every request, and never the thread's events or the logs.
    const auto requests = test_support::read_file(record_.string());
    std::istringstream lines(requests);
    int count = 0;
    for (std::string line; std::getline(lines, line); ++count)
        EXPECT_THAT(line, HasSubstr("Bearer " + secret));
    EXPECT_GE(count, 4);
    for (const auto& line : output_lines(db_.url(), thread)) EXPECT_THAT(line, Not(HasSubstr(secret)));
    EXPECT_THAT(server.logs(), Not(HasSubstr(secret)));
}

}  // namespace
}  // namespace centaur::e2e
